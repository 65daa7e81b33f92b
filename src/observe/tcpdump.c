/*
 * tcpdump.c — one line per packet, exactly as `tcpdump -n` (4.99) prints a
 * raw IP packet: IPv4/IPv6, TCP with options and relative sequence numbers,
 * and the common forms of UDP, ICMP, ICMPv6, fragments and truncation.
 *
 * The behaviour (not the code) follows tcpdump's print-ip.c, print-ip6.c and
 * print-tcp.c; quirks are reproduced on purpose and marked "tcpdump quirk".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "observe/obs_internal.h"
#include "observe/observe.h"
#include "wire/wire.h"

#define IPPROTO_NUM_HOPOPTS 0
#define IPPROTO_NUM_ICMP 1
#define IPPROTO_NUM_IGMP 2
#define IPPROTO_NUM_UDP 17
#define IPPROTO_NUM_DCCP 33
#define IPPROTO_NUM_FRAGMENT 44
#define IPPROTO_NUM_ICMPV6 58
#define IPPROTO_NUM_DSTOPTS 60
#define IPPROTO_NUM_SCTP 132

#define IP4_OFFSET_MASK 0x1fff
#define UDP_HDR 8
#define ICMP_HDR 8
#define TCP_MD5_SIG_LEN 16 /* RFC 2385 */
#define HTTP_PORT 80	   /* tcpdump decodes these two as HTTP */
#define HTTP_PORT_ALT 8080
#define HTTP_TOKEN_MAX 128 /* tcpdump's longest request-method token */
#define FLOW_BUCKETS 919   /* same prime as tcpdump's table; any size works */
#define USEC_PER_SEC 1000000
#define INET_ADDR_TEXT 16 /* "255.255.255.255" */

/* ------------------------------------------------------------------------ */
/* Conversation table                                                        */

/* tcpdump keys a conversation on both addresses and ports, put in a canonical
 * order, and remembers the initial sequence numbers of the two directions. */
typedef struct flow_key {
	uint8_t family;
	uint8_t lo[16], hi[16]; /* "src" and "dst" after canonical ordering */
	uint32_t ports;
} flow_key;

typedef struct flow_entry {
	struct flow_entry *next;
	flow_key key;
	uint32_t seq, ack; /* initial numbers of the lo->hi and hi->lo directions */
} flow_entry;

struct obs_flows {
	flow_entry *bucket[FLOW_BUCKETS];
};

obs_flows *obs_flows_new(void)
{
	return calloc(1, sizeof(obs_flows));
}

void obs_flows_reset(obs_flows *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < FLOW_BUCKETS; i++) {
		flow_entry *e = f->bucket[i];

		while (e) {
			flow_entry *next = e->next;

			free(e);
			e = next;
		}
		f->bucket[i] = NULL;
	}
}

void obs_flows_free(obs_flows *f)
{
	obs_flows_reset(f);
	free(f);
}

static flow_entry *flow_find(obs_flows *f, const flow_key *k, bool *created)
{
	flow_entry **head = &f->bucket[k->ports % FLOW_BUCKETS];

	*created = false;
	for (flow_entry *e = *head; e; e = e->next)
		if (!memcmp(&e->key, k, sizeof *k))
			return e;
	flow_entry *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->key = *k;
	e->next = *head;
	*head = e;
	*created = true;
	return e;
}

/* ------------------------------------------------------------------------ */
/* Printer state for one packet                                              */

typedef struct pctx {
	obs_buf *b;
	obs_flows *flows;
	const uint8_t *pkt; /* the IP header */
	size_t snap;	    /* bytes of pkt we may read (captured, cut to the IP length) */
	int family;
	const uint8_t *src, *dst;
	bool direct; /* the transport header follows the fixed IP header */
} pctx;

static bool avail(const pctx *c, size_t off, size_t n)
{
	return off <= c->snap && n <= c->snap - off;
}

/* tcpdump's mark for a packet that ends before the printer is done. */
static void trunc_mark(pctx *c, const char *proto)
{
	obs_buf_printf(c->b, " [|%s]", proto);
}

static void print_addrs(pctx *c)
{
	obs_buf_addr(c->b, c->family, c->src);
	obs_buf_puts(c->b, " > ");
	obs_buf_addr(c->b, c->family, c->dst);
}

/* ------------------------------------------------------------------------ */
/* TCP                                                                       */

/* Fast Open option body, kind 34 or kind 254 after its magic. */
static void print_fastopen(pctx *c, size_t off, size_t datalen, bool exp)
{
	if (exp)
		obs_buf_puts(c->b, "tfo");
	if (datalen == 0) {
		obs_buf_puts(c->b, " cookiereq");
		return;
	}
	/* RFC 7413 section 4.1.1: an even cookie of 4 to 16 bytes */
	if (datalen % 2 || datalen < 4 || datalen > WIRE_FO_COOKIE_MAX) {
		obs_buf_puts(c->b, " (invalid)");
		return;
	}
	obs_buf_puts(c->b, " cookie ");
	for (size_t i = 0; i < datalen; i++)
		obs_buf_printf(c->b, "%02x", c->pkt[off + i]);
}

typedef struct tcp_rel {
	bool rev;
	uint32_t thseq, thack;
} tcp_rel;

enum opt_result { OPT_OK, OPT_BAD, OPT_TRUNC };

/* Prints the data of one option at off (datalen bytes already checked
 * present, except where noted). Returns the data length it consumed through
 * *datalen. */
static enum opt_result print_opt_data(pctx *c, unsigned kind, unsigned len, size_t off, size_t hlen,
				      const tcp_rel *rel, size_t *datalen)
{
#define NEED(n)                                                                                    \
	do {                                                                                       \
		if ((n) > hlen)                                                                    \
			return OPT_BAD;                                                            \
		if (!avail(c, off, (n)))                                                           \
			return OPT_TRUNC;                                                          \
	} while (0)
	obs_buf *b = c->b;

	*datalen = 0;
	switch (kind) {
	case WIRE_OPT_EOL:
	case WIRE_OPT_NOP:
	case WIRE_OPT_SACKOK:
		return OPT_OK;
	case WIRE_OPT_MSS:
		*datalen = 2;
		NEED(2);
		obs_buf_printf(b, " %u", wire_get16(c->pkt + off));
		return OPT_OK;
	case WIRE_OPT_WSCALE:
		*datalen = 1;
		NEED(1);
		obs_buf_printf(b, " %u", c->pkt[off]);
		return OPT_OK;
	case WIRE_OPT_SACK:
		*datalen = len - 2;
		if (*datalen % 8) {
			obs_buf_puts(b, " invalid sack");
			return OPT_OK;
		}
		obs_buf_printf(b, " %zu ", *datalen / 8);
		for (size_t i = 0; i < *datalen; i += 8) {
			NEED(i + 8);
			uint32_t base = rel->rev ? rel->thseq : rel->thack;
			obs_buf_printf(b, "{%u:%u}", wire_get32(c->pkt + off + i) - base,
				       wire_get32(c->pkt + off + i + 4) - base);
		}
		return OPT_OK;
	case 6: /* echo, echoreply (RFC 1072), cc, ccnew, ccecho (RFC 1644) */
	case 7:
	case 11:
	case 12:
	case 13:
		*datalen = 4;
		NEED(4);
		obs_buf_printf(b, " %u", wire_get32(c->pkt + off));
		return OPT_OK;
	case WIRE_OPT_TS:
		*datalen = 8;
		NEED(8);
		obs_buf_printf(b, " val %u ecr %u", wire_get32(c->pkt + off),
			       wire_get32(c->pkt + off + 4));
		return OPT_OK;
	case WIRE_OPT_MD5:
		*datalen = TCP_MD5_SIG_LEN;
		NEED(TCP_MD5_SIG_LEN);
		/* tcpdump built with OpenSSL but given no -M secret says so */
		obs_buf_puts(b, " shared secret not supplied with -M, can't check - ");
		for (size_t i = 0; i < TCP_MD5_SIG_LEN; i++)
			obs_buf_printf(b, "%02x", c->pkt[off + i]);
		return OPT_OK;
	case 20: /* SCPS capabilities */
		*datalen = 2;
		NEED(2);
		obs_buf_printf(b, " cap %02x id %u", c->pkt[off], c->pkt[off + 1]);
		return OPT_OK;
	case 28: { /* user timeout, RFC 5482: granularity bit, minutes or seconds */
		*datalen = 2;
		NEED(2);
		unsigned uto = wire_get16(c->pkt + off);
		obs_buf_printf(b, " 0x%x", uto);
		obs_buf_printf(b, " %u", (uto & 1) ? (uto >> 1) * 60 : uto >> 1);
		return OPT_OK;
	}
	case 29: /* TCP-AO, RFC 5925 section 2.2: key ids, then the MAC */
		*datalen = len - 2;
		if (*datalen < 2) {
			obs_buf_puts(b, " (invalid)");
			return OPT_OK;
		}
		NEED(2);
		obs_buf_printf(b, " keyid %u rnextkeyid %u", c->pkt[off], c->pkt[off + 1]);
		if (*datalen > 2)
			obs_buf_puts(b, " mac 0x");
		for (size_t i = 2; i < *datalen; i++) {
			NEED(i + 1);
			obs_buf_printf(b, "%02x", c->pkt[off + i]);
		}
		return OPT_OK;
	case WIRE_OPT_FASTOPEN:
		*datalen = len - 2;
		NEED(*datalen);
		obs_buf_puts(b, " ");
		print_fastopen(c, off, *datalen, false);
		return OPT_OK;
	case WIRE_OPT_EXP:
		*datalen = len - 2;
		NEED(*datalen);
		if (*datalen < 2)
			return OPT_BAD;
		obs_buf_puts(b, "-");
		if (wire_get16(c->pkt + off) == WIRE_FASTOPEN_MAGIC)
			print_fastopen(c, off + 2, *datalen - 2, true);
		else
			obs_buf_printf(b, "%04x", wire_get16(c->pkt + off));
		return OPT_OK;
	default:
		*datalen = len - 2;
		if (*datalen)
			obs_buf_puts(b, " 0x");
		for (size_t i = 0; i < *datalen; i++) {
			NEED(i + 1);
			obs_buf_printf(b, "%02x", c->pkt[off + i]);
		}
		return OPT_OK;
	}
#undef NEED
}

static const char *tcp_opt_name(unsigned kind)
{
	switch (kind) {
	case WIRE_OPT_EOL:
		return "eol";
	case WIRE_OPT_NOP:
		return "nop";
	case WIRE_OPT_MSS:
		return "mss";
	case WIRE_OPT_WSCALE:
		return "wscale";
	case WIRE_OPT_SACKOK:
		return "sackOK";
	case WIRE_OPT_SACK:
		return "sack";
	case 6:
		return "echo";
	case 7:
		return "echoreply";
	case WIRE_OPT_TS:
		return "TS";
	case 11:
		return "cc";
	case 12:
		return "ccnew";
	case 13:
		return ""; /* tcpdump quirk: ccecho has an empty name */
	case WIRE_OPT_MD5:
		return "md5";
	case 20:
		return "scps";
	case 28:
		return "uto";
	case 29:
		return "tcp-ao";
	case 30:
		return "mptcp";
	case WIRE_OPT_FASTOPEN:
		return "tfo";
	case WIRE_OPT_EXP:
		return "exp";
	default:
		return NULL;
	}
}

/* The options list; returns false when tcpdump would stop the line there. */
static bool print_tcp_options(pctx *c, size_t off, size_t hlen, const tcp_rel *rel)
{
	char sep = '\0';

	obs_buf_puts(c->b, ", options [");
	while (hlen > 0) {
		unsigned kind, len;
		size_t datalen;

		if (sep)
			obs_buf_printf(c->b, "%c", sep);
		if (!avail(c, off, 1)) {
			trunc_mark(c, "tcp");
			return false;
		}
		kind = c->pkt[off++];
		if (kind == WIRE_OPT_EOL || kind == WIRE_OPT_NOP) {
			len = 1;
		} else {
			if (!avail(c, off, 1)) {
				trunc_mark(c, "tcp");
				return false;
			}
			len = c->pkt[off++];
			if (len < 2 || len > hlen)
				goto bad;
			hlen--;
		}
		hlen--;
		const char *name = tcp_opt_name(kind);
		if (name)
			obs_buf_puts(c->b, name);
		else
			obs_buf_printf(c->b, "unknown-%u", kind);
		switch (print_opt_data(c, kind, len, off, hlen, rel, &datalen)) {
		case OPT_BAD:
			goto bad;
		case OPT_TRUNC:
			trunc_mark(c, "tcp");
			/* tcpdump quirk: a '>' follows once an option was printed */
			if (sep)
				obs_buf_puts(c->b, ">");
			return false;
		case OPT_OK:
			break;
		}
		off += datalen;
		hlen -= datalen;
		datalen += (kind == WIRE_OPT_EOL || kind == WIRE_OPT_NOP) ? 1 : 2;
		if (datalen != len)
			obs_buf_printf(c->b, "[len %u]", len);
		sep = ',';
		if (kind == WIRE_OPT_EOL)
			break;
	}
	obs_buf_puts(c->b, "]");
	return true;
bad:
	obs_buf_puts(c->b, "[bad opt]");
	if (sep)
		obs_buf_puts(c->b, "]");
	return false;
}

/* Finds or records the conversation's initial numbers and makes seq and ack
 * relative, as tcpdump does for every segment carrying ACK. */
static void tcp_relative(pctx *c, uint16_t sport, uint16_t dport, uint8_t flags, uint32_t *seq,
			 uint32_t *ack, tcp_rel *rel)
{
	size_t alen = c->family == 6 ? 16 : 4;
	flow_key k;
	bool created;

	memset(rel, 0, sizeof *rel);
	if (!c->flows || !(flags & WIRE_ACK))
		return;
	/* tcpdump orders by port first, then by address */
	rel->rev = sport > dport || (sport == dport && memcmp(c->src, c->dst, alen) > 0);
	memset(&k, 0, sizeof k);
	k.family = (uint8_t)c->family;
	memcpy(k.lo, rel->rev ? c->dst : c->src, alen);
	memcpy(k.hi, rel->rev ? c->src : c->dst, alen);
	k.ports = rel->rev ? (uint32_t)dport << 16 | sport : (uint32_t)sport << 16 | dport;
	flow_entry *e = flow_find(c->flows, &k, &created);
	if (!e)
		return; /* out of memory: print absolute numbers */
	if (created || (flags & WIRE_SYN)) {
		/* a new conversation (or a new SYN on an old one) */
		if (rel->rev) {
			e->ack = *seq;
			e->seq = *ack - 1;
		} else {
			e->seq = *seq;
			e->ack = *ack - 1;
		}
	} else if (rel->rev) {
		*seq -= e->ack;
		*ack -= e->seq;
	} else {
		*seq -= e->seq;
		*ack -= e->ack;
	}
	rel->thseq = e->seq;
	rel->thack = e->ack;
}

static const char *const http_methods[] = {
    "OPTIONS",	  "GET",	 "HEAD",       "POST",	    "PUT",	 "DELETE",
    "TRACE",	  "CONNECT",	 "PROPFIND",   "PROPPATCH", "MKCOL",	 "COPY",
    "MOVE",	  "LOCK",	 "UNLOCK",     "PATCH",	    "REPORT",	 "CHECKOUT",
    "CHECKIN",	  "MKACTIVITY",	 "MERGE",      "SEARCH",    "SUBSCRIBE", "UNSUBSCRIBE",
    "NOTIFY",	  "POLL",	 "BCOPY",      "BDELETE",   "BMOVE",	 "BPROPFIND",
    "BPROPPATCH", "MKWORKSPACE", "UNCHECKOUT", "UPDATE",    "LABEL",	 "VERSION-CONTROL",
    "ORDERPATCH", NULL,
};

static bool is_print(uint8_t ch)
{
	return ch >= 0x20 && ch <= 0x7e;
}

/* One whitespace-separated token starting at idx; returns the index after it
 * and the spaces following it, or 0 when there is none (tcpdump's rules:
 * control characters end the search). */
static size_t http_token(const pctx *c, size_t base, size_t idx, size_t len, char *tok, size_t cap)
{
	size_t n = 0;

	for (; idx < len; idx++) {
		uint8_t ch;

		if (!avail(c, base + idx, 1))
			return 0;
		ch = c->pkt[base + idx];
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
			break;
		if (!is_print(ch))
			return 0;
		if (n + 2 > cap)
			return 0;
		tok[n++] = (char)ch;
	}
	if (!n)
		return 0;
	tok[n] = '\0';
	for (; idx < len && avail(c, base + idx, 1); idx++) {
		uint8_t ch = c->pkt[base + idx];

		if (ch != ' ' && ch != '\t')
			break;
	}
	return idx;
}

static bool http_is_message(const pctx *c, size_t base, size_t len)
{
	char tok[HTTP_TOKEN_MAX + 1];
	size_t idx = http_token(c, base, 0, len, tok, sizeof tok);
	bool yes = false;

	if (!idx)
		return false;
	for (size_t i = 0; http_methods[i]; i++)
		if (!strcasecmp(tok, http_methods[i]))
			yes = true;
	/* a response: the second token is a three-digit status code */
	idx = http_token(c, base, idx, len, tok, sizeof tok);
	if (idx && tok[0] >= '0' && tok[0] <= '9' && tok[1] >= '0' && tok[1] <= '9' &&
	    tok[2] >= '0' && tok[2] <= '9' && tok[3] == '\0')
		yes = true;
	return yes;
}

/* ": HTTP" and, for a request or response, ": " and its first line. */
static void print_http(pctx *c, size_t base, size_t len)
{
	size_t i;

	obs_buf_puts(c->b, ": HTTP");
	if (!http_is_message(c, base, len))
		return;
	for (i = 0; i < len; i++) {
		uint8_t ch;

		if (!avail(c, base + i, 1)) {
			/* the line runs past the captured bytes: nothing of it shown */
			trunc_mark(c, "http");
			return;
		}
		ch = c->pkt[base + i];
		if (ch == '\n')
			goto line;
		if (ch == '\r') {
			if (i + 1 >= len)
				return;
			if (!avail(c, base + i + 1, 1)) {
				trunc_mark(c, "http");
				return;
			}
			if (c->pkt[base + i + 1] == '\n')
				goto line;
			return;
		}
		if (!is_print(ch) && ch != '\t')
			return;
	}
	/* no end of line: printed as cut short */
	obs_buf_printf(c->b, ": %.*s", (int)i, (const char *)c->pkt + base);
	trunc_mark(c, "http");
	return;
line:
	obs_buf_printf(c->b, ": %.*s", (int)i, (const char *)c->pkt + base);
}

static void print_tcp(pctx *c, size_t off, uint32_t length)
{
	obs_buf *b = c->b;
	uint16_t sport, dport;
	uint32_t seq, ack, hlen;
	uint8_t flags;
	tcp_rel rel;

	if (!avail(c, off, 4)) {
		print_addrs(c);
		obs_buf_puts(b, ":");
		trunc_mark(c, "tcp");
		return;
	}
	sport = wire_get16(c->pkt + off);
	dport = wire_get16(c->pkt + off + 2);
	if (c->direct) {
		obs_buf_addr(b, c->family, c->src);
		obs_buf_printf(b, ".%u > ", sport);
		obs_buf_addr(b, c->family, c->dst);
		obs_buf_printf(b, ".%u: ", dport);
	} else {
		obs_buf_printf(b, "%u > %u: ", sport, dport);
	}
	if (!avail(c, off, WIRE_TCP_HDR)) {
		trunc_mark(c, "tcp");
		return;
	}
	hlen = (uint32_t)(c->pkt[off + TCP_OFF_DOFF] >> 4) * 4;
	if (hlen < WIRE_TCP_HDR) {
		obs_buf_printf(b, " tcp %u [bad hdr length %u - too short, < %u]", length - hlen,
			       hlen, WIRE_TCP_HDR);
		return;
	}
	seq = wire_get32(c->pkt + off + TCP_OFF_SEQ);
	ack = wire_get32(c->pkt + off + TCP_OFF_ACK);
	flags = c->pkt[off + TCP_OFF_FLAGS];
	obs_buf_puts(b, "Flags [");
	obs_buf_tcp_flags(b, flags);
	obs_buf_puts(b, "]");
	tcp_relative(c, sport, dport, flags, &seq, &ack, &rel);
	if (hlen > length) {
		obs_buf_printf(b, " [bad hdr length %u - too long, > %u]", hlen, length);
		return;
	}
	length -= hlen;
	if (length > 0 || (flags & (WIRE_SYN | WIRE_FIN | WIRE_RST))) {
		obs_buf_printf(b, ", seq %u", seq);
		if (length > 0)
			obs_buf_printf(b, ":%u", seq + length);
	}
	if (flags & WIRE_ACK)
		obs_buf_printf(b, ", ack %u", ack);
	obs_buf_printf(b, ", win %u", wire_get16(c->pkt + off + TCP_OFF_WIN));
	if (flags & WIRE_URG)
		obs_buf_printf(b, ", urg %u", wire_get16(c->pkt + off + TCP_OFF_URG));
	if (hlen > WIRE_TCP_HDR &&
	    !print_tcp_options(c, off + WIRE_TCP_HDR, hlen - WIRE_TCP_HDR, &rel))
		return;
	obs_buf_printf(b, ", length %u", length);
	if (length == 0)
		return;
	if (!avail(c, off, hlen)) {
		obs_buf_printf(b, " [remaining caplen(%zu) < header length(%u)]", c->snap - off,
			       hlen);
		trunc_mark(c, "tcp");
		return;
	}
	if (sport == HTTP_PORT || dport == HTTP_PORT || sport == HTTP_PORT_ALT ||
	    dport == HTTP_PORT_ALT)
		print_http(c, off + hlen, length);
}

/* ------------------------------------------------------------------------ */
/* UDP, ICMP, ICMPv6                                                         */

static void print_udp(pctx *c, size_t off, uint32_t length)
{
	if (!avail(c, off, UDP_HDR)) {
		print_addrs(c);
		obs_buf_puts(c->b, ": ");
		trunc_mark(c, "udp");
		return;
	}
	uint16_t ulen = wire_get16(c->pkt + off + 4);
	if (c->direct) {
		obs_buf_addr(c->b, c->family, c->src);
		obs_buf_printf(c->b, ".%u > ", wire_get16(c->pkt + off));
		obs_buf_addr(c->b, c->family, c->dst);
		obs_buf_printf(c->b, ".%u: ", wire_get16(c->pkt + off + 2));
	} else {
		obs_buf_printf(c->b, "%u > %u: ", wire_get16(c->pkt + off),
			       wire_get16(c->pkt + off + 2));
	}
	if (ulen < UDP_HDR) {
		obs_buf_printf(c->b, "truncated-udplength %u", ulen);
		return;
	}
	if (ulen > length) {
		obs_buf_printf(c->b, "UDP, bad length %u > %u", ulen - UDP_HDR, length - UDP_HDR);
		return;
	}
	obs_buf_printf(c->b, "UDP, length %u", ulen - UDP_HDR);
}

enum {
	ICMP_ECHOREPLY = 0,
	ICMP_UNREACH = 3,
	ICMP_SOURCEQUENCH = 4,
	ICMP_REDIRECT = 5,
	ICMP_ECHO = 8,
	ICMP_ROUTERSOLICIT = 10,
	ICMP_TIMXCEED = 11,
	ICMP_PARAMPROB = 12,
	ICMP_TSTAMP = 13,
	ICMP_IREQ = 15,
	ICMP_IREQREPLY = 16,
	ICMP_MASKREQ = 17,
	ICMP_MASKREPLY = 18,
};
#define ICMP_UNREACH_PORT 3
#define ICMP_UNREACH_NEEDFRAG 4
#define ICMP_NEXTMTU_OFF 6 /* RFC 1191 */

/* tcpdump's wording of each "destination unreachable" code (RFC 792, 1812);
 * %s is the quoted packet's destination. */
static const char *const unreach_text[] = {
    "net %s unreachable",
    "host %s unreachable",
    NULL, /* protocol: its own form */
    NULL, /* port: its own form */
    "%s unreachable - need to frag",
    "%s unreachable - source route failed",
    "net %s unreachable - unknown",
    "host %s unreachable - unknown",
    "%s unreachable - source host isolated",
    "net %s unreachable - admin prohibited",
    "host %s unreachable - admin prohibited",
    "net %s unreachable - tos prohibited",
    "host %s unreachable - tos prohibited",
    "host %s unreachable - admin prohibited filter",
    "host %s unreachable - host precedence violation",
    "host %s unreachable - precedence cutoff",
};

/* The quoted packet of an ICMP error: what tcpdump names in the message. */
static void print_icmp_unreach(pctx *c, size_t off, uint8_t code)
{
	size_t in = off + ICMP_HDR;
	char dst[INET_ADDR_TEXT];
	obs_buf d;

	if (!avail(c, in, WIRE_IPV4_HDR)) {
		obs_buf_puts(c->b, "ICMP");
		trunc_mark(c, "icmp");
		return;
	}
	const uint8_t *ip = c->pkt + in;
	size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
	obs_buf_init(&d, dst, sizeof dst);
	obs_buf_addr(&d, 4, ip + IP4_OFF_DST);
	obs_buf_puts(c->b, "ICMP ");
	if (code == ICMP_UNREACH_PORT) {
		if (!avail(c, in + ihl, 4)) {
			trunc_mark(c, "icmp");
			return;
		}
		uint16_t port = wire_get16(c->pkt + in + ihl + 2);
		if (ip[IP4_OFF_PROTO] == WIRE_IPPROTO_TCP || ip[IP4_OFF_PROTO] == IPPROTO_NUM_UDP)
			obs_buf_printf(c->b, "%s %s port %u unreachable", dst,
				       ip[IP4_OFF_PROTO] == WIRE_IPPROTO_TCP ? "tcp" : "udp", port);
		else
			obs_buf_printf(c->b, "%s protocol %u port %u unreachable", dst,
				       ip[IP4_OFF_PROTO], port);
	} else if (code == 2) {
		obs_buf_printf(c->b, "%s protocol %u unreachable", dst, ip[IP4_OFF_PROTO]);
	} else if (code == ICMP_UNREACH_NEEDFRAG && wire_get16(c->pkt + off + ICMP_NEXTMTU_OFF)) {
		obs_buf_printf(c->b, "%s unreachable - need to frag (mtu %u)", dst,
			       wire_get16(c->pkt + off + ICMP_NEXTMTU_OFF));
	} else if (code < sizeof unreach_text / sizeof unreach_text[0]) {
		obs_buf_printf(c->b, unreach_text[code], dst);
	} else {
		obs_buf_printf(c->b, "%s unreachable - #%u", dst, code);
	}
}

/* "redirect <quoted destination> to net|host <gateway>" (RFC 792). */
static void print_icmp_redirect(pctx *c, size_t off, uint8_t code)
{
	static const char *const kind[] = {"redirect", "redirect", "redirect-tos", "redirect-tos"};

	if (!avail(c, off + ICMP_HDR, WIRE_IPV4_HDR) || code >= 4) {
		obs_buf_printf(c->b, "ICMP redirect");
		trunc_mark(c, "icmp");
		return;
	}
	obs_buf_printf(c->b, "ICMP %s ", kind[code]);
	obs_buf_addr(c->b, 4, c->pkt + off + ICMP_HDR + IP4_OFF_DST);
	obs_buf_printf(c->b, " to %s ", code % 2 ? "host" : "net");
	obs_buf_addr(c->b, 4, c->pkt + off + 4);
}

/* Types whose line is just a name. */
static const char *icmp_simple_name(uint8_t type)
{
	switch (type) {
	case ICMP_SOURCEQUENCH:
		return "source quench";
	case ICMP_ROUTERSOLICIT:
		return "router solicitation";
	case ICMP_IREQ:
		return "information request";
	case ICMP_IREQREPLY:
		return "information reply";
	case ICMP_MASKREQ:
		return "address mask request";
	default:
		return NULL;
	}
}

static void print_icmp(pctx *c, size_t off, uint32_t length)
{
	if (!avail(c, off, ICMP_HDR)) {
		trunc_mark(c, "icmp");
		return;
	}
	const uint8_t *h = c->pkt + off;
	uint8_t type = h[0], code = h[1];
	const char *simple = icmp_simple_name(type);
	if (simple) {
		obs_buf_printf(c->b, "ICMP %s", simple);
	} else if (type == ICMP_ECHO || type == ICMP_ECHOREPLY) {
		obs_buf_printf(c->b, "ICMP echo %s, id %u, seq %u",
			       type == ICMP_ECHO ? "request" : "reply", wire_get16(h + 4),
			       wire_get16(h + 6));
	} else if (type == ICMP_UNREACH) {
		print_icmp_unreach(c, off, code);
	} else if (type == ICMP_REDIRECT) {
		print_icmp_redirect(c, off, code);
	} else if (type == ICMP_TIMXCEED) {
		obs_buf_printf(c->b, "ICMP %s",
			       code == 0   ? "time exceeded in-transit"
			       : code == 1 ? "ip reassembly time exceeded"
					   : "time exceeded");
	} else if (type == ICMP_PARAMPROB) {
		obs_buf_printf(c->b, "ICMP parameter problem - octet %u", h[4]);
	} else if (type == ICMP_TSTAMP) {
		obs_buf_printf(c->b, "ICMP time stamp query id %u seq %u", wire_get16(h + 4),
			       wire_get16(h + 6));
	} else if (type == ICMP_MASKREPLY && avail(c, off, ICMP_HDR + 4)) {
		obs_buf_printf(c->b, "ICMP address mask is 0x%08x", wire_get32(h + 8));
	} else {
		obs_buf_printf(c->b, "ICMP type-#%u", type);
	}
	obs_buf_printf(c->b, ", length %u", length);
}

enum {
	ICMP6_UNREACH = 1,
	ICMP6_ECHO = 128,
	ICMP6_ECHOREPLY = 129,
	ICMP6_ROUTER_SOLICIT = 133,
	ICMP6_NEIGHBOR_SOLICIT = 135,
	ICMP6_NEIGHBOR_ADVERT = 136,
};
#define ICMP6_ND_TARGET 8 /* RFC 4861 section 4.3: target after 8 bytes */

#define ICMP6_UNREACH_PORT 4
#define HEX_LINE_BYTES 16

/* tcpdump's hex dump: "\n\t0x0010:  4500 0034 ...", 16 bytes a line, in
 * 2-byte groups, over what was captured of the n bytes at off. */
static void print_hex(pctx *c, size_t off, size_t n)
{
	size_t have = off < c->snap ? c->snap - off : 0;

	if (n > have)
		n = have;
	for (size_t i = 0; i < n; i++) {
		if (i % HEX_LINE_BYTES == 0)
			obs_buf_printf(c->b, "\n\t0x%04zx: ", i);
		if (i % 2 == 0)
			obs_buf_puts(c->b, " ");
		obs_buf_printf(c->b, "%02x", c->pkt[off + i]);
	}
}

/* "destination unreachable, unreachable port, fd00::2 udp port 2" when the
 * quoted packet is a plain UDP or TCP one; just the name otherwise. */
static void print_icmp6_unreach(pctx *c, size_t off)
{
	size_t in = off + ICMP_HDR;

	obs_buf_puts(c->b, "destination unreachable");
	if (c->pkt[off + 1] != ICMP6_UNREACH_PORT || !avail(c, in, WIRE_IPV6_HDR + 4))
		return;
	uint8_t nh = c->pkt[in + IP6_OFF_NEXT];
	if (nh != WIRE_IPPROTO_TCP && nh != IPPROTO_NUM_UDP)
		return;
	obs_buf_puts(c->b, ", unreachable port, ");
	obs_buf_addr(c->b, 6, c->pkt + in + IP6_OFF_DST);
	obs_buf_printf(c->b, " %s port %u", nh == WIRE_IPPROTO_TCP ? "tcp" : "udp",
		       wire_get16(c->pkt + in + WIRE_IPV6_HDR + 2));
}

static void print_icmp6(pctx *c, size_t off, uint32_t length)
{
	if (!avail(c, off, 4)) {
		obs_buf_puts(c->b, "ICMP6");
		trunc_mark(c, "icmp6");
		return;
	}
	uint8_t type = c->pkt[off];
	obs_buf_puts(c->b, "ICMP6, ");
	switch (type) {
	case ICMP6_ECHO:
	case ICMP6_ECHOREPLY:
		if (!avail(c, off, ICMP_HDR)) {
			trunc_mark(c, "icmp6");
			return;
		}
		obs_buf_printf(c->b, "echo %s, id %u, seq %u",
			       type == ICMP6_ECHO ? "request" : "reply",
			       wire_get16(c->pkt + off + 4), wire_get16(c->pkt + off + 6));
		break;
	case ICMP6_NEIGHBOR_SOLICIT:
	case ICMP6_NEIGHBOR_ADVERT:
		if (!avail(c, off + ICMP6_ND_TARGET, 16)) {
			trunc_mark(c, "icmp6");
			return;
		}
		obs_buf_puts(c->b, type == ICMP6_NEIGHBOR_SOLICIT
				       ? "neighbor solicitation, who has "
				       : "neighbor advertisement, tgt is ");
		obs_buf_addr(c->b, 6, c->pkt + off + ICMP6_ND_TARGET);
		break;
	case ICMP6_ROUTER_SOLICIT:
		obs_buf_puts(c->b, "router solicitation");
		break;
	case ICMP6_UNREACH:
		print_icmp6_unreach(c, off);
		break;
	default:
		/* tcpdump names the type and dumps the message in hex */
		obs_buf_printf(c->b, "unknown icmp6 type (%u), length %u", type, length);
		print_hex(c, off, length);
		return;
	}
	obs_buf_printf(c->b, ", length %u", length);
}

/* ------------------------------------------------------------------------ */
/* IPv4 and IPv6                                                             */

static void print_transport(pctx *c, unsigned proto, size_t off, uint32_t length)
{
	switch (proto) {
	case WIRE_IPPROTO_TCP:
		print_tcp(c, off, length);
		break;
	case IPPROTO_NUM_UDP:
		print_udp(c, off, length);
		break;
	case IPPROTO_NUM_ICMP:
		print_icmp(c, off, length);
		break;
	case IPPROTO_NUM_ICMPV6:
		if (c->family == 4)
			obs_buf_puts(c->b, "[ICMPv6 requires IPv6] (invalid)");
		else
			print_icmp6(c, off, length);
		break;
	default:
		obs_buf_printf(c->b, " ip-proto-%u %u", proto, length);
		break;
	}
}

/* Protocols whose printer writes the addresses itself (with ports). */
static bool prints_own_addrs(unsigned proto)
{
	return proto == WIRE_IPPROTO_TCP || proto == IPPROTO_NUM_UDP || proto == IPPROTO_NUM_SCTP ||
	       proto == IPPROTO_NUM_DCCP;
}

static void print_ip4(pctx *c, size_t wire_len)
{
	obs_buf *b = c->b;
	uint32_t hlen, len;
	uint16_t frag;
	uint8_t proto;

	obs_buf_puts(b, "IP ");
	if (!avail(c, 0, WIRE_IPV4_HDR)) {
		trunc_mark(c, "ip");
		return;
	}
	if (wire_len < WIRE_IPV4_HDR) {
		obs_buf_printf(b, "truncated-ip %zu", wire_len);
		return;
	}
	hlen = (uint32_t)(c->pkt[0] & 0x0f) * 4;
	if (hlen < WIRE_IPV4_HDR) {
		obs_buf_printf(b, "bad-hlen %u", hlen);
		return;
	}
	len = wire_get16(c->pkt + IP4_OFF_LEN);
	if (wire_len < len)
		obs_buf_printf(b, "truncated-ip - %zu bytes missing! ", len - wire_len);
	if (len < hlen) {
		obs_buf_printf(b, "bad-len %u", len);
		return;
	}
	if (c->snap > len)
		c->snap = len;
	len -= hlen;
	frag = wire_get16(c->pkt + IP4_OFF_FRAG);
	proto = c->pkt[IP4_OFF_PROTO];
	c->family = 4;
	c->src = c->pkt + IP4_OFF_SRC;
	c->dst = c->pkt + IP4_OFF_DST;
	c->direct = true;
	if (frag & IP4_OFFSET_MASK) {
		/* a later fragment: no transport header to show */
		print_addrs(c);
		obs_buf_printf(b, ": ip-proto-%u", proto);
		return;
	}
	if (!prints_own_addrs(proto)) {
		print_addrs(c);
		obs_buf_puts(b, ": ");
	}
	if (!avail(c, 0, hlen)) {
		obs_buf_printf(b, " [remaining caplen(%zu) < header length(%u)]", c->snap, hlen);
		trunc_mark(c, "ip");
		return;
	}
	print_transport(c, proto, hlen, len);
}

#define IP6_EXT_UNIT 8 /* RFC 8200: extension header lengths count 8 bytes */
#define IP6_FRAG_HDR 8

static void print_ip6(pctx *c, size_t wire_len)
{
	obs_buf *b = c->b;
	uint32_t len, plen;
	size_t off = WIRE_IPV6_HDR;
	unsigned nh;

	/* tcpdump quirk: unlike IPv4, a cut IPv6 header loses its "IP6" too */
	if (!avail(c, 0, WIRE_IPV6_HDR)) {
		trunc_mark(c, "ip6");
		return;
	}
	obs_buf_puts(b, "IP6 ");
	plen = wire_get16(c->pkt + IP6_OFF_PLEN);
	len = plen + WIRE_IPV6_HDR;
	if (wire_len < len)
		obs_buf_printf(b, "truncated-ip6 - %zu bytes missing!", len - wire_len);
	if (c->snap > len)
		c->snap = len;
	nh = c->pkt[IP6_OFF_NEXT];
	c->family = 6;
	c->src = c->pkt + IP6_OFF_SRC;
	c->dst = c->pkt + IP6_OFF_DST;
	c->direct = nh == WIRE_IPPROTO_TCP || nh == IPPROTO_NUM_UDP;
	if (!prints_own_addrs(nh)) {
		print_addrs(c);
		obs_buf_puts(b, ": ");
	}
	for (;;) {
		size_t ext;

		switch (nh) {
		case IPPROTO_NUM_HOPOPTS:
		case IPPROTO_NUM_DSTOPTS:
			/* tcpdump reads the whole header before naming it */
			if (!avail(c, off, 2) ||
			    !avail(c, off, (size_t)(c->pkt[off + 1] + 1) * IP6_EXT_UNIT)) {
				trunc_mark(c, nh == IPPROTO_NUM_HOPOPTS ? "hbhopt" : "dstopt");
				return;
			}
			ext = (size_t)(c->pkt[off + 1] + 1) * IP6_EXT_UNIT;
			obs_buf_puts(b, nh == IPPROTO_NUM_HOPOPTS ? "HBH " : "DSTOPT ");
			break;
		case IPPROTO_NUM_FRAGMENT: {
			if (!avail(c, off, IP6_FRAG_HDR)) {
				trunc_mark(c, "frag6");
				return;
			}
			unsigned foff = wire_get16(c->pkt + off + 2) & ~7u;
			ext = IP6_FRAG_HDR;
			obs_buf_printf(b, "frag (%u|%zu)", foff,
				       plen - (off - WIRE_IPV6_HDR) - ext);
			if (foff) /* a later fragment: nothing more to show */
				return;
			obs_buf_puts(b, " ");
			break;
		}
		case IPPROTO_NUM_ICMP:
		case IPPROTO_NUM_IGMP:
			obs_buf_printf(b, "[%s requires IPv4] (invalid)",
				       nh == IPPROTO_NUM_ICMP ? "ICMP" : "IGMP");
			return;
		default:
			print_transport(c, nh, off, plen - (uint32_t)(off - WIRE_IPV6_HDR));
			return;
		}
		nh = c->pkt[off];
		off += ext;
		if (off - WIRE_IPV6_HDR > plen) {
			trunc_mark(c, "ip6");
			return;
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Public entry points                                                       */

int obs_format_time(int64_t ts_usec, char *out, size_t cap)
{
	int64_t sec = ts_usec / USEC_PER_SEC, usec = ts_usec % USEC_PER_SEC;
	time_t t;
	struct tm tm;

	if (usec < 0) {
		usec += USEC_PER_SEC;
		sec--;
	}
	t = (time_t)sec;
	if (!localtime_r(&t, &tm))
		return snprintf(out, cap, "??:??:??.%06d", (int)usec);
	return snprintf(out, cap, "%02d:%02d:%02d.%06d", tm.tm_hour, tm.tm_min, tm.tm_sec,
			(int)usec);
}

int obs_tcpdump_capture(obs_flows *f, int64_t ts_usec, const uint8_t *pkt, size_t caplen,
			size_t wire_len, char *out, size_t cap)
{
	obs_buf b;
	pctx c = {.b = &b, .flows = f, .pkt = pkt, .snap = caplen};

	obs_buf_init(&b, out, cap);
	if (ts_usec >= 0) {
		char when[32];

		obs_format_time(ts_usec, when, sizeof when);
		obs_buf_printf(&b, "%s ", when);
	}
	if (wire_len < 1 || caplen < 1) {
		obs_buf_printf(&b, "truncated-ip %zu", wire_len);
		return obs_buf_result(&b);
	}
	switch (pkt[0] >> 4) {
	case 4:
		print_ip4(&c, wire_len);
		break;
	case 6:
		print_ip6(&c, wire_len);
		break;
	default:
		obs_buf_printf(&b, "unknown ip %u", pkt[0] >> 4);
		break;
	}
	return obs_buf_result(&b);
}

#define ETHERTYPE_ARP 0x0806
#define ARP_HDR 8 /* RFC 826: hardware, protocol, their lengths, operation */
#define ARP_ETH_IP4_LEN (ARP_HDR + 2 * (6 + 4))
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2
#define MAC_LEN 6

static void print_mac(obs_buf *b, const uint8_t *m)
{
	obs_buf_printf(b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* Ethernet/IPv4 ARP (RFC 826), the only kind a TCP test network carries. */
static void print_arp(obs_buf *b, const uint8_t *p, size_t caplen, size_t wire_len)
{
	const uint8_t *sha = p + ARP_HDR, *spa = sha + MAC_LEN;
	const uint8_t *tha = spa + 4, *tpa = tha + MAC_LEN;
	static const uint8_t zero[MAC_LEN];

	obs_buf_puts(b, "ARP, ");
	if (caplen < ARP_ETH_IP4_LEN || p[4] != MAC_LEN || p[5] != 4) {
		obs_buf_printf(b, "length %zu", wire_len);
		return;
	}
	switch (wire_get16(p + 6)) {
	case ARP_OP_REQUEST:
		obs_buf_puts(b, "Request who-has ");
		obs_buf_addr(b, 4, tpa);
		if (memcmp(tha, zero, MAC_LEN)) {
			obs_buf_puts(b, " (");
			print_mac(b, tha);
			obs_buf_puts(b, ")");
		}
		obs_buf_puts(b, " tell ");
		obs_buf_addr(b, 4, spa);
		break;
	case ARP_OP_REPLY:
		obs_buf_puts(b, "Reply ");
		obs_buf_addr(b, 4, spa);
		obs_buf_puts(b, " is-at ");
		print_mac(b, sha);
		break;
	default:
		obs_buf_printf(b, "op %u", wire_get16(p + 6));
		break;
	}
	obs_buf_printf(b, ", length %zu", wire_len);
}

int obs_tcpdump_other(uint16_t ethertype, const uint8_t *p, size_t caplen, size_t wire_len,
		      char *out, size_t cap)
{
	obs_buf b;

	obs_buf_init(&b, out, cap);
	if (ethertype == ETHERTYPE_ARP)
		print_arp(&b, p, caplen, wire_len);
	else
		obs_buf_printf(&b, "ethertype 0x%04x, length %zu", ethertype, wire_len);
	return obs_buf_result(&b);
}

int obs_tcpdump_line(obs_flows *f, int64_t ts_usec, const uint8_t *pkt, size_t len, char *out,
		     size_t cap)
{
	return obs_tcpdump_capture(f, ts_usec < 0 ? 0 : ts_usec, pkt, len, len, out, cap);
}

int obs_tcpdump_body(obs_flows *f, const uint8_t *pkt, size_t len, char *out, size_t cap)
{
	return obs_tcpdump_capture(f, -1, pkt, len, len, out, cap);
}
