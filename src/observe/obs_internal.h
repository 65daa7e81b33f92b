/*
 * obs_internal.h — helpers shared by the files of src/observe (not public).
 */
#ifndef SYNACK_OBS_INTERNAL_H
#define SYNACK_OBS_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Field offsets in the fixed headers (RFC 791, RFC 8200, RFC 9293 3.1). */
#define IP4_OFF_LEN 2
#define IP4_OFF_FRAG 6
#define IP4_OFF_PROTO 9
#define IP4_OFF_SRC 12
#define IP4_OFF_DST 16
#define IP6_OFF_PLEN 4
#define IP6_OFF_NEXT 6
#define IP6_OFF_SRC 8
#define IP6_OFF_DST 24
#define TCP_OFF_SEQ 4
#define TCP_OFF_ACK 8
#define TCP_OFF_DOFF 12 /* data offset, in the high nibble, in 32-bit words */
#define TCP_OFF_FLAGS 13
#define TCP_OFF_WIN 14
#define TCP_OFF_URG 18

/* An snprintf-like sink: writes what fits, counts everything. */
typedef struct obs_buf {
	char *p;
	size_t cap;
	size_t len; /* bytes that would have been written */
} obs_buf;

void obs_buf_init(obs_buf *b, char *p, size_t cap);
void obs_buf_printf(obs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void obs_buf_puts(obs_buf *b, const char *s);
/* The snprintf-style result (length, saturated at INT32_MAX). */
int obs_buf_result(const obs_buf *b);

/* Writes an IPv4 or IPv6 address as tcpdump -n does (inet_ntop). */
void obs_buf_addr(obs_buf *b, int family, const uint8_t *addr);

/* The fields of a TCP segment that the ladder and the handshake tracker need,
 * read without judging the packet (no checksum, no option validation). */
typedef struct obs_tcp_view {
	int family; /* 4 or 6 */
	const uint8_t *src, *dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	uint32_t payload_len;
} obs_tcp_view;

/* Fills v for an unfragmented TCP packet whose fixed header is complete.
 * Returns false for anything else. */
bool obs_tcp_view_parse(const uint8_t *pkt, size_t len, obs_tcp_view *v);

/* Writes the TCP flags as tcpdump spells them inside "Flags [...]". */
void obs_buf_tcp_flags(obs_buf *b, uint8_t flags);

#endif /* SYNACK_OBS_INTERNAL_H */
