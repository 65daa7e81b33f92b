/*
 * wire.h — bytes <-> structs for IPv4, IPv6 and TCP (RFC 791, 8200, 9293).
 * No state, no allocation: parsers point into the caller's packet.
 */
#ifndef SYNACK_WIRE_H
#define SYNACK_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define WIRE_IPV4_HDR 20
#define WIRE_IPV6_HDR 40
#define WIRE_TCP_HDR 20
#define WIRE_TCP_MAX_OPTS 40
#define WIRE_IPPROTO_TCP 6

/* TCP flags (RFC 9293 section 3.1, RFC 3168 for ECE/CWR). */
#define WIRE_FIN 0x01
#define WIRE_SYN 0x02
#define WIRE_RST 0x04
#define WIRE_PSH 0x08
#define WIRE_ACK 0x10
#define WIRE_URG 0x20
#define WIRE_ECE 0x40
#define WIRE_CWR 0x80

/* Option kinds (IANA "TCP Option Kind Numbers"). */
#define WIRE_OPT_EOL 0
#define WIRE_OPT_NOP 1
#define WIRE_OPT_MSS 2
#define WIRE_OPT_WSCALE 3
#define WIRE_OPT_SACKOK 4
#define WIRE_OPT_SACK 5
#define WIRE_OPT_TS 8
#define WIRE_OPT_MD5 19
#define WIRE_OPT_FASTOPEN 34
#define WIRE_OPT_EXP 254
#define WIRE_FASTOPEN_MAGIC 0xF989 /* RFC 7413 section 4.1.1, kind 254 */

#define WIRE_OPTLEN_MSS 4
#define WIRE_OPTLEN_WSCALE 3
#define WIRE_OPTLEN_SACKOK 2
#define WIRE_OPTLEN_TS 10
#define WIRE_MAX_SACK_BLOCKS 4
#define WIRE_FO_COOKIE_MAX 16 /* RFC 7413 section 4.1.1: 4..16 bytes */

/* Which options a parsed segment carried (bits of wire_opts.present). */
#define WIRE_HAS_MSS 0x01
#define WIRE_HAS_WSCALE 0x02
#define WIRE_HAS_SACKOK 0x04
#define WIRE_HAS_TS 0x08
#define WIRE_HAS_SACK 0x10
#define WIRE_HAS_FO 0x20    /* kind 34 */
#define WIRE_HAS_FOEXP 0x40 /* kind 254, magic 0xF989 */
#define WIRE_HAS_MD5 0x80

typedef struct wire_opts {
	uint16_t present;
	uint16_t mss;
	uint8_t wscale; /* as sent; the engine caps it at 14 */
	uint8_t sack_count;
	uint8_t fo_len; /* 0 for a cookie request */
	uint32_t ts_val, ts_ecr;
	uint32_t sack[WIRE_MAX_SACK_BLOCKS][2]; /* left, right edges */
	uint8_t fo_cookie[WIRE_FO_COOKIE_MAX];
} wire_opts;

/* A parsed segment. Pointers refer into the packet given to wire_parse. */
typedef struct wire_seg {
	uint8_t family; /* 4 or 6 */
	uint8_t ttl;    /* TTL or hop limit */
	uint8_t tos;    /* TOS or traffic class */
	uint8_t flags;  /* WIRE_SYN | ... */
	uint8_t src[16], dst[16];
	uint16_t sport, dport; /* host order */
	uint32_t seq, ack;
	uint16_t win, urg;
	uint16_t ip_id;
	bool df;
	const uint8_t *opt;  /* raw option bytes, in order */
	uint8_t opt_len;
	wire_opts opts;
	const uint8_t *payload;
	uint32_t payload_len;
} wire_seg;

/* Why a packet was refused; each maps to one counter of synack_counters. */
typedef enum wire_err {
	WIRE_OK = 0,
	WIRE_ERR_IP_TRUNCATED,
	WIRE_ERR_IP_VERSION,
	WIRE_ERR_IP_HEADER,   /* IHL < 5 or past the packet */
	WIRE_ERR_IP_LENGTH,   /* total/payload length disagrees with the packet */
	WIRE_ERR_IP_CHECKSUM,
	WIRE_ERR_IP_FRAGMENT, /* MF set or offset != 0, or an IPv6 fragment header */
	WIRE_ERR_NOT_TCP,
	WIRE_ERR_TCP_TRUNCATED,
	WIRE_ERR_TCP_DOFF_SHORT,
	WIRE_ERR_TCP_DOFF_LONG,
	WIRE_ERR_TCP_OPT_LEN, /* length 0 or 1, or past the header */
	WIRE_ERR_TCP_OPT_BAD, /* known kind with a wrong fixed length */
	WIRE_ERR_TCP_CHECKSUM,
	WIRE_ERR_COUNT
} wire_err;

const char *wire_err_name(wire_err e);

#define WIRE_PARSE_VERIFY_CSUM 0x1 /* check IPv4 header and TCP checksums */

/* Parses an IPv4 or IPv6 packet carrying TCP. IPv6 extension headers
 * (hop-by-hop, routing, destination options) are skipped; a fragment header
 * is WIRE_ERR_IP_FRAGMENT. Never reads outside pkt[0..len). Bytes past the
 * IP length (link padding) are ignored. For IPv6, ip_id is 0 and df false
 * (no such fields). On error, seg's contents are unspecified. */
wire_err wire_parse(const uint8_t *pkt, size_t len, unsigned flags, wire_seg *seg);

/* Parses TCP options alone (used by wire_parse and the fuzzers). */
wire_err wire_parse_opts(const uint8_t *opt, size_t len, wire_opts *out);

/* An ICMP or ICMPv6 error that quotes one of our TCP segments (RFC 792,
 * RFC 4443; RFC 1122 3.2.2 and RFC 4443 2.4: the quote holds the IP header
 * and at least the first 8 bytes of TCP: ports and sequence number). */
#define WIRE_IPPROTO_ICMP 1
#define WIRE_IPPROTO_ICMPV6 58
#define WIRE_ICMP_DEST_UNREACH 3   /* ICMPv4 */
#define WIRE_ICMP_TIME_EXCEEDED 11
#define WIRE_ICMP_PARAMPROB 12
#define WIRE_ICMP_FRAG_NEEDED 4    /* code of DEST_UNREACH */
#define WIRE_ICMP6_DEST_UNREACH 1
#define WIRE_ICMP6_PKT_TOO_BIG 2
#define WIRE_ICMP6_TIME_EXCEEDED 3
#define WIRE_ICMP6_PARAMPROB 4

typedef struct wire_icmp {
	uint8_t family; /* 4 or 6 */
	uint8_t type, code;
	uint32_t mtu;   /* next-hop MTU (v4 fragmentation needed) or v6 Packet Too Big */
	uint8_t src[16]; /* who reported it */
	/* The quoted segment, as we sent it. */
	uint8_t q_src[16], q_dst[16];
	uint16_t q_sport, q_dport;
	uint32_t q_seq;
} wire_icmp;

/* Parses an ICMP/ICMPv6 error message quoting a TCP segment. Returns
 * WIRE_OK, WIRE_ERR_NOT_TCP when it is no such message (echo, or a quote of
 * something else), or the same IP errors as wire_parse (a bad ICMP checksum
 * is WIRE_ERR_IP_CHECKSUM when flags ask for verification). */
wire_err wire_parse_icmp(const uint8_t *pkt, size_t len, unsigned flags, wire_icmp *out);

/* Internet checksum helpers (RFC 1071). wire_csum_add adds len bytes (any
 * alignment) to a partial sum of big-endian 16-bit words, so host-order
 * integers may be added to it too. When summing in chunks, every chunk but
 * the last must have an even length. wire_csum_fold folds and complements:
 * it gives the value to store (wire_set16), and 0 over data that already
 * carries a correct checksum. */
uint32_t wire_csum_add(uint32_t sum, const void *data, size_t len);
uint16_t wire_csum_fold(uint32_t sum);
/* TCP checksum over the pseudo-header (RFC 9293 3.1 / RFC 8200 8.1): the
 * value for the checksum field when that field is zero in tcp, or 0 when tcp
 * carries a correct checksum. */
uint16_t wire_tcp_csum(uint8_t family, const uint8_t *src, const uint8_t *dst,
                       const uint8_t *tcp, size_t tcp_len);

/* Option writers: each writes at p and returns the bytes written. */
size_t wire_put_nop(uint8_t *p);
size_t wire_put_eol(uint8_t *p);
size_t wire_put_mss(uint8_t *p, uint16_t mss);
size_t wire_put_wscale(uint8_t *p, uint8_t shift);
size_t wire_put_sackok(uint8_t *p);
size_t wire_put_ts(uint8_t *p, uint32_t val, uint32_t ecr);
size_t wire_put_sack(uint8_t *p, const uint32_t (*blocks)[2], unsigned n);
size_t wire_put_fastopen(uint8_t *p, const uint8_t *cookie, uint8_t len, bool experimental);

/* Builds a whole IP packet from seg: family, ttl, tos, ip_id, df, src, dst,
 * ports, seq, ack, flags, win, urg, opt/opt_len (raw bytes; padded here with
 * zero (EOL) bytes to a multiple of 4 when needed) and payload/payload_len. Computes both checksums. Returns the packet's
 * length, or 0 when cap is too small or the options exceed 40 bytes. */
size_t wire_build(uint8_t *buf, size_t cap, const wire_seg *seg);

/* Length of the packet wire_build would make for seg, or 0 when it cannot
 * (options over 40 bytes, family not 4 or 6, length fields overflow). */
size_t wire_build_len(const wire_seg *seg);

/* Byte order helpers: one load or store and a byte swap each (the byte by
 * byte forms are not always merged by the compiler, and every header field
 * of every packet goes through these). */
static inline uint16_t wire_get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return v;
#else
	return __builtin_bswap16(v);
#endif
}

static inline uint32_t wire_get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return v;
#else
	return __builtin_bswap32(v);
#endif
}

static inline void wire_set16(uint8_t *p, uint16_t v)
{
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
	v = __builtin_bswap16(v);
#endif
	memcpy(p, &v, sizeof v);
}

static inline void wire_set32(uint8_t *p, uint32_t v)
{
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
	v = __builtin_bswap32(v);
#endif
	memcpy(p, &v, sizeof v);
}

#endif /* SYNACK_WIRE_H */
