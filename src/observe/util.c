/*
 * util.c — small helpers shared by the observers: a bounded printf sink,
 * address formatting and a lenient TCP header view.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "observe/obs_internal.h"
#include "wire/wire.h"

#define IP4_FRAG_MASK 0x3fff /* MF and the fragment offset */

void obs_buf_init(obs_buf *b, char *p, size_t cap)
{
	b->p = p;
	b->cap = cap;
	b->len = 0;
	if (cap)
		p[0] = '\0';
}

static void obs_buf_vprintf(obs_buf *b, const char *fmt, va_list ap)
{
	size_t room = b->len < b->cap ? b->cap - b->len : 0;
	int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);

	if (n > 0)
		b->len += (size_t)n;
}

void obs_buf_printf(obs_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	obs_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void obs_buf_puts(obs_buf *b, const char *s)
{
	obs_buf_printf(b, "%s", s);
}

int obs_buf_result(const obs_buf *b)
{
	return b->len > INT_MAX ? INT_MAX : (int)b->len;
}

void obs_buf_addr(obs_buf *b, int family, const uint8_t *addr)
{
	char text[INET6_ADDRSTRLEN];

	if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, addr, text, sizeof text))
		text[0] = '\0';
	obs_buf_puts(b, text);
}

/* tcpdump's letters for the flag bits, in the order it prints them. */
static const struct {
	uint8_t bit;
	char letter;
} tcp_flag_letters[] = {
    {WIRE_FIN, 'F'}, {WIRE_SYN, 'S'}, {WIRE_RST, 'R'}, {WIRE_PSH, 'P'},
    {WIRE_ACK, '.'}, {WIRE_URG, 'U'}, {WIRE_ECE, 'E'}, {WIRE_CWR, 'W'},
};

void obs_buf_tcp_flags(obs_buf *b, uint8_t flags)
{
	if (!flags) {
		obs_buf_puts(b, "none");
		return;
	}
	for (size_t i = 0; i < sizeof tcp_flag_letters / sizeof tcp_flag_letters[0]; i++)
		if (flags & tcp_flag_letters[i].bit)
			obs_buf_printf(b, "%c", tcp_flag_letters[i].letter);
}

/* Finds the TCP header of pkt; only plain headers (no IPv6 extension
 * headers, no fragments): what both ends of our own connections send. */
static const uint8_t *tcp_header(const uint8_t *pkt, size_t len, obs_tcp_view *v, size_t *tcp_len)
{
	size_t ip_len, hlen;

	if (len < 1)
		return NULL;
	if (pkt[0] >> 4 == 4) {
		if (len < WIRE_IPV4_HDR)
			return NULL;
		hlen = (size_t)(pkt[0] & 0x0f) * 4;
		ip_len = wire_get16(pkt + IP4_OFF_LEN);
		if (hlen < WIRE_IPV4_HDR || ip_len < hlen ||
		    pkt[IP4_OFF_PROTO] != WIRE_IPPROTO_TCP ||
		    (wire_get16(pkt + IP4_OFF_FRAG) & IP4_FRAG_MASK))
			return NULL;
		v->family = 4;
		v->src = pkt + IP4_OFF_SRC;
		v->dst = pkt + IP4_OFF_DST;
	} else if (pkt[0] >> 4 == 6) {
		if (len < WIRE_IPV6_HDR || pkt[IP6_OFF_NEXT] != WIRE_IPPROTO_TCP)
			return NULL;
		hlen = WIRE_IPV6_HDR;
		ip_len = WIRE_IPV6_HDR + (size_t)wire_get16(pkt + IP6_OFF_PLEN);
		v->family = 6;
		v->src = pkt + IP6_OFF_SRC;
		v->dst = pkt + IP6_OFF_DST;
	} else {
		return NULL;
	}
	if (ip_len > len)
		ip_len = len;
	if (ip_len < hlen + WIRE_TCP_HDR)
		return NULL;
	*tcp_len = ip_len - hlen;
	return pkt + hlen;
}

bool obs_tcp_view_parse(const uint8_t *pkt, size_t len, obs_tcp_view *v)
{
	size_t tcp_len, doff;
	const uint8_t *tcp = tcp_header(pkt, len, v, &tcp_len);

	if (!tcp)
		return false;
	doff = (size_t)(tcp[TCP_OFF_DOFF] >> 4) * 4;
	if (doff < WIRE_TCP_HDR || doff > tcp_len)
		return false;
	v->sport = wire_get16(tcp);
	v->dport = wire_get16(tcp + 2);
	v->seq = wire_get32(tcp + TCP_OFF_SEQ);
	v->ack = wire_get32(tcp + TCP_OFF_ACK);
	v->flags = tcp[TCP_OFF_FLAGS];
	v->win = wire_get16(tcp + TCP_OFF_WIN);
	v->payload_len = (uint32_t)(tcp_len - doff);
	return true;
}
