/*
 * test_wire.c — the wire layer: checksums against RFC 1071 and captured
 * packets, parse/build round trips in IPv4 and IPv6, option writers, and
 * every malformed input mapped to its own wire_err.
 *
 * Reference packets were made with scapy (tests/fuzz/gen_wire_corpus.py shows
 * how); their checksums are scapy's, not ours.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire/wire.h"

#define IPV4_OFF_TOTLEN 2
#define IPV4_OFF_FRAG 6
#define IPV4_OFF_TTL 8
#define IPV4_OFF_PROTO 9
#define IPV4_OFF_CSUM 10
#define IPV4_OFF_SRC 12
#define IPV4_FLAG_MF 0x2000
#define IPV6_OFF_PLEN 4
#define IPV6_OFF_NEXT 6
#define TCP_OFF_DOFF 12
#define TCP_OFF_CSUM 16
#define IPPROTO_UDP_NUM 17     /* RFC 768 */
#define IPV6_NH_HOPOPTS 0      /* RFC 8200 section 4.3 */
#define IPV6_NH_ROUTING 43     /* RFC 8200 section 4.4 */
#define IPV6_NH_FRAGMENT 44    /* RFC 8200 section 4.5 */
#define IPV6_NH_NONE 59	       /* RFC 8200 section 4.7 */
#define IPV6_NH_DSTOPTS 60     /* RFC 8200 section 4.6 */
#define OPT_KIND_UNKNOWN 99    /* unassigned kind */
#define EXP_MAGIC_OTHER 0x1234 /* some other RFC 6994 experiment */
#define MAX_PKT 2048

/* IP 198.18.0.1:40000 > 198.18.0.2:80 SYN, DF, id 0x1234, ttl 64,
 * MSS 1460, SACK_PERM, TS 0x11223344/0, NOP, WS 7 (Linux's order). */
/* clang-format off */
static const uint8_t ref_v4_syn[] = {
	0x45, 0x00, 0x00, 0x3c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, /* IPv4 */
	0x9c, 0x60, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02,
	0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, /* TCP */
	0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0xdb, 0xea, 0x00, 0x00,
	0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x11, 0x22, /* options */
	0x33, 0x44, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
};
/* clang-format on */
#define REF_V4_SYN_IP_CSUM 0x9c60
#define REF_V4_SYN_TCP_CSUM 0xdbea

/* IPv6 fd00::1:80 > fd00::2:40000 SYN-ACK, hlim 64, seq 0xfffffff0,
 * ack 0x01020305, MSS 1440, SACK_PERM, TS 0x55667788/0x11223344, NOP, WS 9. */
/* clang-format off */
static const uint8_t ref_v6_synack[] = {
	0x60, 0x00, 0x00, 0x00, 0x00, 0x28, 0x06, 0x40,	/* IPv6 */
	0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x00, 0x50, 0x9c, 0x40, 0xff, 0xff, 0xff, 0xf0, 0x01, 0x02, /* TCP */
	0x03, 0x05, 0xa0, 0x12, 0xfe, 0x88, 0x9d, 0x97, 0x00, 0x00,
	0x02, 0x04, 0x05, 0xa0, 0x04, 0x02, 0x08, 0x0a, 0x55, 0x66, /* options */
	0x77, 0x88, 0x11, 0x22, 0x33, 0x44, 0x01, 0x03, 0x03, 0x09,
};
/* clang-format on */
#define REF_V6_SYNACK_TCP_CSUM 0x9d97

/* IP 198.18.0.2:80 > 198.18.0.1:40000 PSH-ACK "hello" (odd length), tos 2,
 * id 0xbeef, ttl 63, NOP, NOP, TS 0x55667799/0x11223344. */
/* clang-format off */
static const uint8_t ref_v4_data[] = {
	0x45, 0x02, 0x00, 0x39, 0xbe, 0xef, 0x40, 0x00, 0x3f, 0x06, /* IPv4 */
	0xf0, 0xa5, 0xc6, 0x12, 0x00, 0x02, 0xc6, 0x12, 0x00, 0x01,
	0x00, 0x50, 0x9c, 0x40, 0xff, 0xff, 0xff, 0xf1, 0x01, 0x02, /* TCP */
	0x03, 0x05, 0x80, 0x18, 0x01, 0xf6, 0xf2, 0xd0, 0x00, 0x00,
	0x01, 0x01, 0x08, 0x0a, 0x55, 0x66, 0x77, 0x99, 0x11, 0x22, 0x33, 0x44, /* options */
	0x68, 0x65, 0x6c, 0x6c, 0x6f,	/* payload */
};
/* clang-format on */
#define REF_V4_DATA_IP_CSUM 0xf0a5
#define REF_V4_DATA_TCP_CSUM 0xf2d0

/* IPv6 fd00::1:1234 > fd00::2:80 ACK "xyz", traffic class 0xb8, through
 * hop-by-hop (8 bytes), destination options (8) and routing (8) headers. */
/* clang-format off */
static const uint8_t ref_v6_ext[] = {
	0x6b, 0x80, 0x00, 0x00, 0x00, 0x2f, 0x00, 0x40,	/* IPv6 */
	0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x3c, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00,	/* hop-by-hop */
	0x2b, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00,	/* destination options */
	0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* routing */
	0x04, 0xd2, 0x00, 0x50, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, /* TCP */
	0x00, 0x09, 0x50, 0x10, 0x03, 0xe8, 0xba, 0x39, 0x00, 0x00,
	0x78, 0x79, 0x7a,	/* payload */
};
/* clang-format on */
#define REF_V6_EXT_TCP_OFF 64
#define REF_V6_EXT_TCP_CSUM 0xba39

static const uint8_t v4_a[4] = {198, 18, 0, 1};
static const uint8_t v4_b[4] = {198, 18, 0, 2};
static const uint8_t v6_a[16] = {0xfd, [15] = 1};
static const uint8_t v6_b[16] = {0xfd, [15] = 2};

/* ------------------------------------------------------------------------
 * Helpers
 */

/* RFC 1071 done the slow, obvious way: big-endian words, byte by byte. */
static uint16_t ref_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < len; i += 2)
		sum += (uint32_t)p[i] << 8 | (i + 1 < len ? p[i + 1] : 0);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Parses a private, exactly sized heap copy so that a read past the end is
 * seen by valgrind or ASan. */
static wire_err parse_exact(const uint8_t *p, size_t len, unsigned flags)
{
	uint8_t *copy = malloc(len ? len : 1);
	wire_seg seg;
	wire_err err;

	assert_non_null(copy);
	memcpy(copy, p, len);
	err = wire_parse(copy, len, flags, &seg);
	free(copy);
	return err;
}

static wire_err parse_opts_exact(const uint8_t *p, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	wire_opts opts;
	wire_err err;

	assert_non_null(copy);
	memcpy(copy, p, len);
	err = wire_parse_opts(copy, len, &opts);
	free(copy);
	return err;
}

static void fix_ipv4_csum(uint8_t *p)
{
	size_t ihl = (size_t)(p[0] & 0x0f) * 4;

	wire_set16(p + IPV4_OFF_CSUM, 0);
	wire_set16(p + IPV4_OFF_CSUM, wire_csum_fold(wire_csum_add(0, p, ihl)));
}

/* Recomputes the TCP checksum of a packet whose TCP header is at tcp_off. */
static void fix_tcp_csum(uint8_t *p, size_t tcp_off, size_t end)
{
	uint8_t family = p[0] >> 4;
	const uint8_t *src = family == 4 ? p + IPV4_OFF_SRC : p + 8;
	const uint8_t *dst = family == 4 ? p + IPV4_OFF_SRC + 4 : p + 24;

	wire_set16(p + tcp_off + TCP_OFF_CSUM, 0);
	wire_set16(p + tcp_off + TCP_OFF_CSUM,
		   wire_tcp_csum(family, src, dst, p + tcp_off, end - tcp_off));
}

static wire_seg base_seg(uint8_t family)
{
	wire_seg s;

	memset(&s, 0, sizeof(s));
	s.family = family;
	s.ttl = 64;
	if (family == 4) {
		memcpy(s.src, v4_a, sizeof(v4_a));
		memcpy(s.dst, v4_b, sizeof(v4_b));
	} else {
		memcpy(s.src, v6_a, sizeof(v6_a));
		memcpy(s.dst, v6_b, sizeof(v6_b));
	}
	return s;
}

/* Builds seg with a list of raw options and returns the packet length. */
static size_t build(uint8_t *buf, wire_seg *seg, const uint8_t *opt, uint8_t opt_len)
{
	size_t n;

	seg->opt = opt;
	seg->opt_len = opt_len;
	n = wire_build(buf, MAX_PKT, seg);
	assert_int_not_equal(n, 0);
	assert_int_equal(n, wire_build_len(seg));
	return n;
}

static void assert_opts_equal(const wire_opts *a, const wire_opts *b)
{
	assert_int_equal(a->present, b->present);
	assert_int_equal(a->mss, b->mss);
	assert_int_equal(a->wscale, b->wscale);
	assert_int_equal(a->sack_count, b->sack_count);
	assert_int_equal(a->fo_len, b->fo_len);
	assert_int_equal(a->ts_val, b->ts_val);
	assert_int_equal(a->ts_ecr, b->ts_ecr);
	assert_memory_equal(a->sack, b->sack, sizeof(a->sack));
	assert_memory_equal(a->fo_cookie, b->fo_cookie, sizeof(a->fo_cookie));
}

/* Every field wire_build reads must come back from wire_parse. */
static void assert_seg_equal(const wire_seg *a, const wire_seg *b)
{
	assert_int_equal(a->family, b->family);
	assert_int_equal(a->ttl, b->ttl);
	assert_int_equal(a->tos, b->tos);
	assert_int_equal(a->flags, b->flags);
	assert_memory_equal(a->src, b->src, sizeof(a->src));
	assert_memory_equal(a->dst, b->dst, sizeof(a->dst));
	assert_int_equal(a->sport, b->sport);
	assert_int_equal(a->dport, b->dport);
	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->ack, b->ack);
	assert_int_equal(a->win, b->win);
	assert_int_equal(a->urg, b->urg);
	assert_int_equal(a->ip_id, b->ip_id);
	assert_int_equal(a->df, b->df);
	assert_int_equal(a->payload_len, b->payload_len);
	if (a->payload_len)
		assert_memory_equal(a->payload, b->payload, a->payload_len);
}

/* Parses buf (verifying) and checks it against what was built from want. */
static void assert_round_trip(const uint8_t *buf, size_t len, const wire_seg *want, wire_seg *got)
{
	size_t padded = ((size_t)want->opt_len + 3) & ~(size_t)3;
	wire_opts opts;

	assert_int_equal(wire_parse(buf, len, WIRE_PARSE_VERIFY_CSUM, got), WIRE_OK);
	assert_seg_equal(want, got);
	/* Padding adds nothing: the options read the same as the raw list. */
	assert_int_equal(wire_parse_opts(want->opt, want->opt_len, &opts), WIRE_OK);
	assert_opts_equal(&opts, &got->opts);
	assert_int_equal(got->opt_len, padded);
	if (want->opt_len)
		assert_memory_equal(got->opt, want->opt, want->opt_len);
	for (size_t i = want->opt_len; i < padded; i++)
		assert_int_equal(got->opt[i], WIRE_OPT_EOL);
}

/* ------------------------------------------------------------------------
 * Checksums
 */

static void test_csum_rfc1071_example(void **state)
{
	/* RFC 1071 section 3: these bytes sum to ddf2 (one's complement). */
	static const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	uint32_t sum;

	(void)state;
	sum = wire_csum_add(0, data, sizeof(data));
	assert_int_equal(wire_csum_fold(sum), (uint16_t)~0xddf2);
	/* Chunks of even length add up to the same sum. */
	sum = wire_csum_add(wire_csum_add(0, data, 2), data + 2, 6);
	assert_int_equal(wire_csum_fold(sum), (uint16_t)~0xddf2);
}

static void test_csum_small_known(void **state)
{
	static const uint8_t one[] = {0xab};
	static const uint8_t three[] = {0x12, 0x34, 0x56};
	static const uint8_t ones[] = {0xff, 0xff, 0xff, 0xff};

	(void)state;
	assert_int_equal(wire_csum_fold(wire_csum_add(0, one, 0)), 0xffff);
	/* An odd last byte is the high half of a zero-padded word. */
	assert_int_equal(wire_csum_fold(wire_csum_add(0, one, 1)), (uint16_t)~0xab00);
	assert_int_equal(wire_csum_fold(wire_csum_add(0, three, 3)), (uint16_t) ~(0x1234 + 0x5600));
	assert_int_equal(wire_csum_fold(wire_csum_add(0, ones, 4)), 0);
	/* Host-order integers can be added to a partial sum directly. */
	assert_int_equal(wire_csum_fold(wire_csum_add(0x1111, three, 2)), (uint16_t)~0x2345);
}

/* Every length and alignment, whole or split at an even point, against the
 * byte-by-byte reference. */
static void test_csum_matches_reference(void **state)
{
	uint8_t data[300], buf[320];

	(void)state;
	srand(1071);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)rand();
	for (size_t len = 0; len <= sizeof(data); len++) {
		uint16_t want = (uint16_t)~ref_csum(data, len);

		for (size_t align = 0; align < 8; align++) {
			memcpy(buf + align, data, len);
			assert_int_equal(wire_csum_fold(wire_csum_add(0, buf + align, len)), want);
		}
		for (size_t cut = 0; cut <= len; cut += 2) {
			uint32_t sum = wire_csum_add(0, data, cut);

			sum = wire_csum_add(sum, data + cut, len - cut);
			assert_int_equal(wire_csum_fold(sum), want);
		}
	}
}

static void test_csum_large_buffer(void **state)
{
	static uint8_t big[65536];

	(void)state;
	memset(big, 0xff, sizeof(big));
	assert_int_equal(wire_csum_fold(wire_csum_add(0, big, sizeof(big))), 0);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(wire_csum_fold(wire_csum_add(0, big, sizeof(big))),
			 (uint16_t)~ref_csum(big, sizeof(big)));
	assert_int_equal(wire_csum_fold(wire_csum_add(0, big + 1, sizeof(big) - 1)),
			 (uint16_t)~ref_csum(big + 1, sizeof(big) - 1));
}

static void test_csum_captured_ipv4(void **state)
{
	uint8_t p[sizeof(ref_v4_syn)];

	(void)state;
	/* Over a header that carries its checksum, the result is zero. */
	assert_int_equal(wire_csum_fold(wire_csum_add(0, ref_v4_syn, 20)), 0);
	memcpy(p, ref_v4_syn, sizeof(p));
	wire_set16(p + IPV4_OFF_CSUM, 0);
	assert_int_equal(wire_csum_fold(wire_csum_add(0, p, 20)), REF_V4_SYN_IP_CSUM);
	assert_int_equal(wire_tcp_csum(4, ref_v4_syn + 12, ref_v4_syn + 16, ref_v4_syn + 20, 40),
			 0);
	wire_set16(p + 20 + TCP_OFF_CSUM, 0);
	assert_int_equal(wire_tcp_csum(4, p + 12, p + 16, p + 20, 40), REF_V4_SYN_TCP_CSUM);
}

static void test_csum_captured_odd_payload(void **state)
{
	uint8_t p[sizeof(ref_v4_data)];

	(void)state;
	memcpy(p, ref_v4_data, sizeof(p));
	wire_set16(p + IPV4_OFF_CSUM, 0);
	wire_set16(p + 20 + TCP_OFF_CSUM, 0);
	assert_int_equal(wire_csum_fold(wire_csum_add(0, p, 20)), REF_V4_DATA_IP_CSUM);
	assert_int_equal(wire_tcp_csum(4, p + 12, p + 16, p + 20, sizeof(p) - 20),
			 REF_V4_DATA_TCP_CSUM);
}

static void test_csum_captured_ipv6(void **state)
{
	uint8_t p[sizeof(ref_v6_ext)];
	uint8_t q[sizeof(ref_v6_synack)];

	(void)state;
	memcpy(q, ref_v6_synack, sizeof(q));
	wire_set16(q + 40 + TCP_OFF_CSUM, 0);
	assert_int_equal(wire_tcp_csum(6, q + 8, q + 24, q + 40, sizeof(q) - 40),
			 REF_V6_SYNACK_TCP_CSUM);
	memcpy(p, ref_v6_ext, sizeof(p));
	wire_set16(p + REF_V6_EXT_TCP_OFF + TCP_OFF_CSUM, 0);
	assert_int_equal(
	    wire_tcp_csum(6, p + 8, p + 24, p + REF_V6_EXT_TCP_OFF, sizeof(p) - REF_V6_EXT_TCP_OFF),
	    REF_V6_EXT_TCP_CSUM);
}

/* ------------------------------------------------------------------------
 * Parsing captured packets
 */

static void test_parse_ref_v4_syn(void **state)
{
	wire_seg s;

	(void)state;
	assert_int_equal(wire_parse(ref_v4_syn, sizeof(ref_v4_syn), WIRE_PARSE_VERIFY_CSUM, &s),
			 WIRE_OK);
	assert_int_equal(s.family, 4);
	assert_int_equal(s.ttl, 64);
	assert_int_equal(s.tos, 0);
	assert_int_equal(s.ip_id, 0x1234);
	assert_true(s.df);
	assert_memory_equal(s.src, v4_a, 4);
	assert_memory_equal(s.dst, v4_b, 4);
	for (int i = 4; i < 16; i++) {
		assert_int_equal(s.src[i], 0);
		assert_int_equal(s.dst[i], 0);
	}
	assert_int_equal(s.sport, 40000);
	assert_int_equal(s.dport, 80);
	assert_int_equal(s.seq, 0x01020304);
	assert_int_equal(s.ack, 0);
	assert_int_equal(s.flags, WIRE_SYN);
	assert_int_equal(s.win, 64240);
	assert_int_equal(s.urg, 0);
	assert_ptr_equal(s.opt, ref_v4_syn + 40);
	assert_int_equal(s.opt_len, 20);
	assert_int_equal(s.opts.present,
			 WIRE_HAS_MSS | WIRE_HAS_SACKOK | WIRE_HAS_TS | WIRE_HAS_WSCALE);
	assert_int_equal(s.opts.mss, 1460);
	assert_int_equal(s.opts.wscale, 7);
	assert_int_equal(s.opts.ts_val, 0x11223344);
	assert_int_equal(s.opts.ts_ecr, 0);
	assert_int_equal(s.payload_len, 0);
	assert_ptr_equal(s.payload, ref_v4_syn + sizeof(ref_v4_syn));
}

static void test_parse_ref_v6_synack(void **state)
{
	wire_seg s;

	(void)state;
	assert_int_equal(
	    wire_parse(ref_v6_synack, sizeof(ref_v6_synack), WIRE_PARSE_VERIFY_CSUM, &s), WIRE_OK);
	assert_int_equal(s.family, 6);
	assert_int_equal(s.ttl, 64);
	assert_int_equal(s.tos, 0);
	assert_int_equal(s.ip_id, 0);
	assert_false(s.df);
	assert_memory_equal(s.src, v6_a, 16);
	assert_memory_equal(s.dst, v6_b, 16);
	assert_int_equal(s.sport, 80);
	assert_int_equal(s.dport, 40000);
	assert_int_equal(s.seq, 0xfffffff0u);
	assert_int_equal(s.ack, 0x01020305);
	assert_int_equal(s.flags, WIRE_SYN | WIRE_ACK);
	assert_int_equal(s.win, 65160);
	assert_int_equal(s.opt_len, 20);
	assert_int_equal(s.opts.present,
			 WIRE_HAS_MSS | WIRE_HAS_SACKOK | WIRE_HAS_TS | WIRE_HAS_WSCALE);
	assert_int_equal(s.opts.mss, 1440);
	assert_int_equal(s.opts.wscale, 9);
	assert_int_equal(s.opts.ts_val, 0x55667788);
	assert_int_equal(s.opts.ts_ecr, 0x11223344);
	assert_int_equal(s.payload_len, 0);
}

static void test_parse_ref_v4_data(void **state)
{
	wire_seg s;

	(void)state;
	assert_int_equal(wire_parse(ref_v4_data, sizeof(ref_v4_data), WIRE_PARSE_VERIFY_CSUM, &s),
			 WIRE_OK);
	assert_int_equal(s.tos, 2);
	assert_int_equal(s.ttl, 63);
	assert_int_equal(s.ip_id, 0xbeef);
	assert_int_equal(s.flags, WIRE_PSH | WIRE_ACK);
	assert_int_equal(s.seq, 0xfffffff1u);
	assert_int_equal(s.win, 502);
	assert_int_equal(s.opts.present, WIRE_HAS_TS);
	assert_int_equal(s.opts.ts_val, 0x55667799);
	assert_int_equal(s.opts.ts_ecr, 0x11223344);
	assert_int_equal(s.payload_len, 5);
	assert_memory_equal(s.payload, "hello", 5);
}

static void test_parse_ipv6_ext_headers(void **state)
{
	wire_seg s;

	(void)state;
	assert_int_equal(wire_parse(ref_v6_ext, sizeof(ref_v6_ext), WIRE_PARSE_VERIFY_CSUM, &s),
			 WIRE_OK);
	assert_int_equal(s.family, 6);
	assert_int_equal(s.tos, 0xb8);
	assert_int_equal(s.sport, 1234);
	assert_int_equal(s.dport, 80);
	assert_int_equal(s.seq, 7);
	assert_int_equal(s.ack, 9);
	assert_int_equal(s.flags, WIRE_ACK);
	assert_int_equal(s.win, 1000);
	assert_ptr_equal(s.opt, ref_v6_ext + REF_V6_EXT_TCP_OFF + 20);
	assert_int_equal(s.payload_len, 3);
	assert_memory_equal(s.payload, "xyz", 3);
}

/* A longer destination-options header (hdr ext len 2: 24 bytes) in front of
 * a built segment. */
static void test_parse_ipv6_long_ext(void **state)
{
	uint8_t plain[MAX_PKT], p[MAX_PKT];
	const size_t ext = 24;
	wire_seg want = base_seg(6), got;
	size_t n;

	(void)state;
	want.flags = WIRE_ACK;
	want.payload = (const uint8_t *)"abcd";
	want.payload_len = 4;
	n = build(plain, &want, NULL, 0);
	memcpy(p, plain, 40);
	memcpy(p + 40 + ext, plain + 40, n - 40);
	memset(p + 40, 0, ext);
	p[IPV6_OFF_NEXT] = IPV6_NH_DSTOPTS;
	p[40] = WIRE_IPPROTO_TCP;
	p[41] = (uint8_t)(ext / 8 - 1);
	wire_set16(p + IPV6_OFF_PLEN, (uint16_t)(n - 40 + ext));
	assert_int_equal(wire_parse(p, n + ext, WIRE_PARSE_VERIFY_CSUM, &got), WIRE_OK);
	assert_seg_equal(&want, &got);
	assert_ptr_equal(got.payload, p + n + ext - 4);
}

/* Ethernet pads short frames; bytes past the total length are not data. */
static void test_parse_link_padding(void **state)
{
	uint8_t p[sizeof(ref_v4_syn) + 6] = {0};
	uint8_t q[sizeof(ref_v6_synack) + 3] = {0};
	wire_seg s;

	(void)state;
	memcpy(p, ref_v4_syn, sizeof(ref_v4_syn));
	memset(p + sizeof(ref_v4_syn), 0xee, 6);
	assert_int_equal(wire_parse(p, sizeof(p), WIRE_PARSE_VERIFY_CSUM, &s), WIRE_OK);
	assert_int_equal(s.payload_len, 0);
	memcpy(q, ref_v6_synack, sizeof(ref_v6_synack));
	assert_int_equal(wire_parse(q, sizeof(q), WIRE_PARSE_VERIFY_CSUM, &s), WIRE_OK);
	assert_int_equal(s.payload_len, 0);
}

/* Without the flag, a bad checksum goes unnoticed (the engine relies on
 * drivers that already checked, e.g. the simulator). */
static void test_parse_without_verify(void **state)
{
	uint8_t p[sizeof(ref_v4_data)];
	wire_seg s;

	(void)state;
	memcpy(p, ref_v4_data, sizeof(p));
	p[IPV4_OFF_TTL] ^= 1;
	p[sizeof(p) - 1] ^= 1;
	assert_int_equal(wire_parse(p, sizeof(p), 0, &s), WIRE_OK);
	assert_int_equal(s.ttl, 62);
}

/* ------------------------------------------------------------------------
 * Building
 */

/* The builder and option writers reproduce scapy's bytes exactly. */
static void test_build_matches_ref_v4_syn(void **state)
{
	uint8_t opt[WIRE_TCP_MAX_OPTS], buf[MAX_PKT];
	wire_seg s = base_seg(4);
	size_t o = 0;

	(void)state;
	o += wire_put_mss(opt + o, 1460);
	o += wire_put_sackok(opt + o);
	o += wire_put_ts(opt + o, 0x11223344, 0);
	o += wire_put_nop(opt + o);
	o += wire_put_wscale(opt + o, 7);
	s.ip_id = 0x1234;
	s.df = true;
	s.sport = 40000;
	s.dport = 80;
	s.seq = 0x01020304;
	s.flags = WIRE_SYN;
	s.win = 64240;
	assert_int_equal(build(buf, &s, opt, (uint8_t)o), sizeof(ref_v4_syn));
	assert_memory_equal(buf, ref_v4_syn, sizeof(ref_v4_syn));
}

static void test_build_matches_ref_v6_synack(void **state)
{
	uint8_t opt[WIRE_TCP_MAX_OPTS], buf[MAX_PKT];
	wire_seg s = base_seg(6);
	size_t o = 0;

	(void)state;
	o += wire_put_mss(opt + o, 1440);
	o += wire_put_sackok(opt + o);
	o += wire_put_ts(opt + o, 0x55667788, 0x11223344);
	o += wire_put_nop(opt + o);
	o += wire_put_wscale(opt + o, 9);
	s.sport = 80;
	s.dport = 40000;
	s.seq = 0xfffffff0u;
	s.ack = 0x01020305;
	s.flags = WIRE_SYN | WIRE_ACK;
	s.win = 65160;
	assert_int_equal(build(buf, &s, opt, (uint8_t)o), sizeof(ref_v6_synack));
	assert_memory_equal(buf, ref_v6_synack, sizeof(ref_v6_synack));
}

static void test_build_matches_ref_v4_data(void **state)
{
	uint8_t opt[WIRE_TCP_MAX_OPTS], buf[MAX_PKT];
	wire_seg s = base_seg(4);
	size_t o = 0;

	(void)state;
	o += wire_put_nop(opt + o);
	o += wire_put_nop(opt + o);
	o += wire_put_ts(opt + o, 0x55667799, 0x11223344);
	memcpy(s.src, v4_b, 4);
	memcpy(s.dst, v4_a, 4);
	s.ttl = 63;
	s.tos = 2;
	s.ip_id = 0xbeef;
	s.df = true;
	s.sport = 80;
	s.dport = 40000;
	s.seq = 0xfffffff1u;
	s.ack = 0x01020305;
	s.flags = WIRE_PSH | WIRE_ACK;
	s.win = 502;
	s.payload = (const uint8_t *)"hello";
	s.payload_len = 5;
	assert_int_equal(build(buf, &s, opt, (uint8_t)o), sizeof(ref_v4_data));
	assert_memory_equal(buf, ref_v4_data, sizeof(ref_v4_data));
}

/* SYN, SYN-ACK and data, both families, every option the parser knows. */
static void round_trip_family(uint8_t family)
{
	static const uint8_t cookie[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	static const uint8_t payload[1000] = {[0] = 'G', [999] = '!'};
	uint8_t opt[WIRE_TCP_MAX_OPTS], buf[MAX_PKT];
	wire_seg want = base_seg(family), got;
	size_t o = 0, n;

	/* SYN with a Fast Open cookie and data (RFC 7413). */
	o += wire_put_mss(opt + o, 1460);
	o += wire_put_sackok(opt + o);
	o += wire_put_ts(opt + o, 0xfffffffe, 0);
	o += wire_put_nop(opt + o);
	o += wire_put_wscale(opt + o, 14);
	o += wire_put_fastopen(opt + o, cookie, sizeof(cookie), false);
	assert_int_equal(o, 30);
	want.tos = 0xfe;
	want.ttl = 1;
	want.ip_id = family == 4 ? 0xffff : 0;
	want.df = family == 4;
	want.sport = 65535;
	want.dport = 1;
	want.seq = 0xffffffffu;
	want.flags = WIRE_SYN | WIRE_ECE | WIRE_CWR;
	want.win = 65535;
	want.payload = payload;
	want.payload_len = 100;
	n = build(buf, &want, opt, (uint8_t)o);
	assert_round_trip(buf, n, &want, &got);
	assert_int_equal(got.opts.present, WIRE_HAS_MSS | WIRE_HAS_SACKOK | WIRE_HAS_TS |
					       WIRE_HAS_WSCALE | WIRE_HAS_FO);
	assert_int_equal(got.opts.mss, 1460);
	assert_int_equal(got.opts.wscale, 14);
	assert_int_equal(got.opts.ts_val, 0xfffffffe);
	assert_int_equal(got.opts.fo_len, sizeof(cookie));
	assert_memory_equal(got.opts.fo_cookie, cookie, sizeof(cookie));

	/* SYN-ACK: MSS, WS (7 bytes, padded to 8), experimental cookie. */
	o = 0;
	o += wire_put_mss(opt + o, 536);
	o += wire_put_wscale(opt + o, 0);
	o += wire_put_fastopen(opt + o, cookie, 4, true);
	assert_int_equal(o, 15);
	want.flags = WIRE_SYN | WIRE_ACK;
	want.ack = 0;
	want.payload_len = 0;
	n = build(buf, &want, opt, (uint8_t)o);
	assert_round_trip(buf, n, &want, &got);
	assert_int_equal(got.opt_len, 16);
	assert_int_equal(got.opts.present, WIRE_HAS_MSS | WIRE_HAS_WSCALE | WIRE_HAS_FOEXP);
	assert_int_equal(got.opts.mss, 536);
	assert_int_equal(got.opts.fo_len, 4);
	assert_memory_equal(got.opts.fo_cookie, cookie, 4);

	/* Data with four SACK blocks and URG, odd payload length. */
	{
		const uint32_t blocks[4][2] = {
		    {0xfffffff0u, 0x10}, {100, 200}, {300, 400}, {0x7fffffff, 0x80000001u}};

		o = 0;
		o += wire_put_nop(opt + o);
		o += wire_put_nop(opt + o);
		o += wire_put_sack(opt + o, blocks, 4);
		assert_int_equal(o, 36);
		want.flags = WIRE_ACK | WIRE_PSH | WIRE_URG | WIRE_FIN;
		want.seq = 0x80000000u;
		want.ack = 0x7fffffff;
		want.urg = 3;
		want.payload_len = sizeof(payload) - 1;
		n = build(buf, &want, opt, (uint8_t)o);
		assert_round_trip(buf, n, &want, &got);
		assert_int_equal(got.opts.present, WIRE_HAS_SACK);
		assert_int_equal(got.opts.sack_count, 4);
		assert_memory_equal(got.opts.sack, blocks, sizeof(blocks));
	}

	/* A bare RST with no options. */
	want.flags = WIRE_RST;
	want.payload_len = 0;
	n = build(buf, &want, NULL, 0);
	assert_round_trip(buf, n, &want, &got);
	assert_int_equal(got.opts.present, 0);
	assert_int_equal(got.opt_len, 0);
}

static void test_round_trip_v4(void **state)
{
	(void)state;
	round_trip_family(4);
}

static void test_round_trip_v6(void **state)
{
	(void)state;
	round_trip_family(6);
}

static void test_round_trip_md5_and_requests(void **state)
{
	uint8_t opt[WIRE_TCP_MAX_OPTS], buf[MAX_PKT];
	wire_seg want = base_seg(4), got;
	size_t o = 0, n;

	(void)state;
	opt[o++] = WIRE_OPT_MD5;
	opt[o++] = 18;
	memset(opt + o, 0xaa, 16);
	o += 16;
	o += wire_put_fastopen(opt + o, NULL, 0, false);
	o += wire_put_fastopen(opt + o, NULL, 0, true);
	assert_int_equal(o, 24);
	want.flags = WIRE_SYN;
	n = build(buf, &want, opt, (uint8_t)o);
	assert_round_trip(buf, n, &want, &got);
	assert_int_equal(got.opts.present, WIRE_HAS_MD5 | WIRE_HAS_FO | WIRE_HAS_FOEXP);
	assert_int_equal(got.opts.fo_len, 0);
}

static void test_build_limits(void **state)
{
	uint8_t opt[WIRE_TCP_MAX_OPTS + 1] = {0}, buf[MAX_PKT];
	static uint8_t big[65536];
	wire_seg s = base_seg(4);
	size_t n;

	(void)state;
	n = build(buf, &s, opt, WIRE_TCP_MAX_OPTS);
	assert_int_equal(n, 80);
	/* Every capacity short of the packet is refused. */
	for (size_t cap = 0; cap < n; cap++)
		assert_int_equal(wire_build(buf, cap, &s), 0);
	assert_int_equal(wire_build(buf, n, &s), n);
	s.opt_len = WIRE_TCP_MAX_OPTS + 1;
	assert_int_equal(wire_build_len(&s), 0);
	assert_int_equal(wire_build(buf, sizeof(buf), &s), 0);
	s.opt_len = 0;
	s.family = 5;
	assert_int_equal(wire_build_len(&s), 0);
	assert_int_equal(wire_build(buf, sizeof(buf), &s), 0);
	/* Length fields are 16 bits: IPv4 counts its header, IPv6 does not. */
	s.family = 4;
	s.payload = big;
	s.payload_len = 65535 - 40;
	assert_int_equal(wire_build_len(&s), 65535);
	s.payload_len++;
	assert_int_equal(wire_build_len(&s), 0);
	s.family = 6;
	s.payload_len = 65535 - 20;
	assert_int_equal(wire_build_len(&s), 65535 + 40);
	s.payload_len++;
	assert_int_equal(wire_build_len(&s), 0);
}

/* ------------------------------------------------------------------------
 * Option writers
 */

static void test_put_fixed_options(void **state)
{
	static const uint8_t mss[] = {2, 4, 0x05, 0xb4};
	static const uint8_t ws[] = {3, 3, 14};
	static const uint8_t sackok[] = {4, 2};
	static const uint8_t ts[] = {8, 10, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x01};
	uint8_t p[WIRE_TCP_MAX_OPTS];

	(void)state;
	assert_int_equal(wire_put_nop(p), 1);
	assert_int_equal(p[0], 1);
	assert_int_equal(wire_put_eol(p), 1);
	assert_int_equal(p[0], 0);
	assert_int_equal(wire_put_mss(p, 1460), sizeof(mss));
	assert_memory_equal(p, mss, sizeof(mss));
	assert_int_equal(wire_put_wscale(p, 14), sizeof(ws));
	assert_memory_equal(p, ws, sizeof(ws));
	assert_int_equal(wire_put_sackok(p), sizeof(sackok));
	assert_memory_equal(p, sackok, sizeof(sackok));
	assert_int_equal(wire_put_ts(p, 0xdeadbeef, 1), sizeof(ts));
	assert_memory_equal(p, ts, sizeof(ts));
}

static void test_put_sack(void **state)
{
	static const uint32_t blocks[5][2] = {
	    {0x01020304, 0x05060708}, {1, 2}, {3, 4}, {5, 6}, {7, 8}};
	static const uint8_t one[] = {5, 10, 1, 2, 3, 4, 5, 6, 7, 8};
	uint8_t p[64];
	wire_opts o;

	(void)state;
	assert_int_equal(wire_put_sack(p, blocks, 1), sizeof(one));
	assert_memory_equal(p, one, sizeof(one));
	for (unsigned n = 1; n <= 4; n++) {
		assert_int_equal(wire_put_sack(p, blocks, n), 2 + 8 * n);
		assert_int_equal(p[1], 2 + 8 * n);
		assert_int_equal(wire_parse_opts(p, 2 + 8 * n, &o), WIRE_OK);
		assert_int_equal(o.sack_count, n);
		assert_memory_equal(o.sack, blocks, 8 * n);
	}
	/* A fifth block cannot fit in 40 bytes: the writer stops at four. */
	assert_int_equal(wire_put_sack(p, blocks, 5), 34);
}

static void test_put_fastopen(void **state)
{
	static const uint8_t cookie[16] = {0xc0, 0x0c, 0x1e, 0x01, 5,  6,  7,  8,
					   9,	 10,   11,   12,   13, 14, 15, 16};
	static const uint8_t fo[] = {34, 6, 0xc0, 0x0c, 0x1e, 0x01};
	static const uint8_t fo_req[] = {34, 2};
	static const uint8_t exp[] = {254, 8, 0xf9, 0x89, 0xc0, 0x0c, 0x1e, 0x01};
	static const uint8_t exp_req[] = {254, 4, 0xf9, 0x89};
	uint8_t p[WIRE_TCP_MAX_OPTS];

	(void)state;
	assert_int_equal(wire_put_fastopen(p, cookie, 4, false), sizeof(fo));
	assert_memory_equal(p, fo, sizeof(fo));
	assert_int_equal(wire_put_fastopen(p, NULL, 0, false), sizeof(fo_req));
	assert_memory_equal(p, fo_req, sizeof(fo_req));
	assert_int_equal(wire_put_fastopen(p, cookie, 4, true), sizeof(exp));
	assert_memory_equal(p, exp, sizeof(exp));
	assert_int_equal(wire_put_fastopen(p, NULL, 0, true), sizeof(exp_req));
	assert_memory_equal(p, exp_req, sizeof(exp_req));
	assert_int_equal(wire_put_fastopen(p, cookie, 16, false), 18);
	assert_memory_equal(p + 2, cookie, 16);
	assert_int_equal(wire_put_fastopen(p, cookie, 16, true), 20);
	assert_memory_equal(p + 4, cookie, 16);
}

/* ------------------------------------------------------------------------
 * Options: skipping and errors
 */

static void test_opts_skip_and_eol(void **state)
{
	/* Unknown kind, kind 254 of another experiment, kind 254 too short
	 * to carry an ExID, then MSS; after EOL only garbage. */
	static const uint8_t o[] = {OPT_KIND_UNKNOWN,
				    6,
				    0xff,
				    0xff,
				    0xff,
				    0xff,
				    254,
				    6,
				    0x12,
				    0x34,
				    0xf9,
				    0x89,
				    254,
				    2,
				    1,
				    2,
				    4,
				    0x02,
				    0x18,
				    0,
				    2,
				    0,
				    99,
				    1};
	wire_opts out;

	(void)state;
	assert_int_equal(wire_parse_opts(o, sizeof(o), &out), WIRE_OK);
	assert_int_equal(out.present, WIRE_HAS_MSS);
	assert_int_equal(out.mss, 536);
	assert_int_equal(wire_parse_opts(o, 0, &out), WIRE_OK);
	assert_int_equal(out.present, 0);
}

static void test_opts_len_errors(void **state)
{
	static const uint8_t zero[] = {2, 0, 1, 1};
	static const uint8_t one[] = {OPT_KIND_UNKNOWN, 1, 1, 1};
	static const uint8_t past[] = {1, 8, 10, 1, 2, 3, 4};
	static const uint8_t no_len[] = {1, 1, 1, 3};
	static const uint8_t mss_cut[] = {2, 4, 0x05};
	static const uint8_t mss_late[] = {1, 1, 1, 2, 4, 0x05};

	(void)state;
	assert_int_equal(parse_opts_exact(zero, sizeof(zero)), WIRE_ERR_TCP_OPT_LEN);
	assert_int_equal(parse_opts_exact(one, sizeof(one)), WIRE_ERR_TCP_OPT_LEN);
	assert_int_equal(parse_opts_exact(past, sizeof(past)), WIRE_ERR_TCP_OPT_LEN);
	assert_int_equal(parse_opts_exact(no_len, sizeof(no_len)), WIRE_ERR_TCP_OPT_LEN);
	assert_int_equal(parse_opts_exact(mss_cut, sizeof(mss_cut)), WIRE_ERR_TCP_OPT_LEN);
	assert_int_equal(parse_opts_exact(mss_late, sizeof(mss_late)), WIRE_ERR_TCP_OPT_LEN);
}

/* One option of kind with total length len, padded out with NOPs. */
static wire_err one_opt(uint8_t kind, uint8_t len)
{
	uint8_t o[64];

	memset(o, WIRE_OPT_NOP, sizeof(o));
	o[0] = kind;
	o[1] = len;
	if (kind == WIRE_OPT_EXP && len >= 4)
		wire_set16(o + 2, WIRE_FASTOPEN_MAGIC);
	return parse_opts_exact(o, len);
}

static void test_opts_bad_lengths(void **state)
{
	/* The NOP, NOP, TS layout with a wrong TS length is still refused. */
	static const uint8_t nop_nop_ts9[] = {1, 1, WIRE_OPT_TS, 9, 0, 0, 0, 0, 0, 0, 0, 0};

	(void)state;
	assert_int_equal(parse_opts_exact(nop_nop_ts9, sizeof(nop_nop_ts9)), WIRE_ERR_TCP_OPT_BAD);
	assert_int_equal(one_opt(WIRE_OPT_MSS, 4), WIRE_OK);
	assert_int_equal(one_opt(WIRE_OPT_MSS, 3), WIRE_ERR_TCP_OPT_BAD);
	assert_int_equal(one_opt(WIRE_OPT_MSS, 5), WIRE_ERR_TCP_OPT_BAD);
	assert_int_equal(one_opt(WIRE_OPT_WSCALE, 2), WIRE_ERR_TCP_OPT_BAD);
	assert_int_equal(one_opt(WIRE_OPT_WSCALE, 4), WIRE_ERR_TCP_OPT_BAD);
	assert_int_equal(one_opt(WIRE_OPT_SACKOK, 3), WIRE_ERR_TCP_OPT_BAD);
	assert_int_equal(one_opt(WIRE_OPT_TS, 8), WIRE_ERR_TCP_OPT_BAD);
	assert_int_equal(one_opt(WIRE_OPT_TS, 12), WIRE_ERR_TCP_OPT_BAD);
	assert_int_equal(one_opt(WIRE_OPT_MD5, 18), WIRE_OK);
	assert_int_equal(one_opt(WIRE_OPT_MD5, 10), WIRE_ERR_TCP_OPT_BAD);
	assert_int_equal(one_opt(OPT_KIND_UNKNOWN, 2), WIRE_OK);
	assert_int_equal(one_opt(OPT_KIND_UNKNOWN, 40), WIRE_OK);
}

static void test_opts_sack_lengths(void **state)
{
	(void)state;
	for (unsigned len = 2; len <= 60; len++) {
		bool ok = len >= 10 && (len - 2) % 8 == 0 && (len - 2) / 8 <= 4;

		assert_int_equal(one_opt(WIRE_OPT_SACK, (uint8_t)len),
				 ok ? WIRE_OK : WIRE_ERR_TCP_OPT_BAD);
	}
}

/* Kind 254 too short to hold an ExID is another experiment's business; its
 * missing magic must not be read (parse_opts_exact lets valgrind see it). */
static void test_opts_exp_too_short(void **state)
{
	static const uint8_t two[] = {1, 1, WIRE_OPT_EXP, 2};
	static const uint8_t three[] = {1, WIRE_OPT_EXP, 3, 0xf9};
	wire_opts out;

	(void)state;
	assert_int_equal(parse_opts_exact(two, sizeof(two)), WIRE_OK);
	assert_int_equal(parse_opts_exact(three, sizeof(three)), WIRE_OK);
	assert_int_equal(wire_parse_opts(three, sizeof(three), &out), WIRE_OK);
	assert_int_equal(out.present, 0);
}

/* Cookies are 4..16 bytes of even length, or absent (a request). */
static void test_opts_fastopen_lengths(void **state)
{
	wire_opts out;
	uint8_t o[24];

	(void)state;
	for (unsigned len = 2; len <= 22; len++) {
		unsigned c = len - 2;
		bool ok = c == 0 || (c >= 4 && c <= 16 && c % 2 == 0);

		assert_int_equal(one_opt(WIRE_OPT_FASTOPEN, (uint8_t)len),
				 ok ? WIRE_OK : WIRE_ERR_TCP_OPT_BAD);
	}
	for (unsigned len = 4; len <= 24; len++) {
		unsigned c = len - 4;
		bool ok = c == 0 || (c >= 4 && c <= 16 && c % 2 == 0);

		assert_int_equal(one_opt(WIRE_OPT_EXP, (uint8_t)len),
				 ok ? WIRE_OK : WIRE_ERR_TCP_OPT_BAD);
	}
	/* Another experiment's bytes never are a bad Fast Open option. */
	o[0] = WIRE_OPT_EXP;
	o[1] = 5;
	wire_set16(o + 2, EXP_MAGIC_OTHER);
	o[4] = 0;
	assert_int_equal(wire_parse_opts(o, 5, &out), WIRE_OK);
	assert_int_equal(out.present, 0);
}

/* An option error inside a packet comes out of wire_parse. */
static void test_parse_propagates_opt_errors(void **state)
{
	uint8_t buf[MAX_PKT];
	uint8_t opt[8] = {WIRE_OPT_MSS, 3, 0, 1, 1, 1, 1, 1};
	wire_seg s = base_seg(4), got;
	size_t n;

	(void)state;
	n = build(buf, &s, opt, sizeof(opt));
	assert_int_equal(wire_parse(buf, n, WIRE_PARSE_VERIFY_CSUM, &got), WIRE_ERR_TCP_OPT_BAD);
	opt[1] = 1;
	n = build(buf, &s, opt, sizeof(opt));
	assert_int_equal(wire_parse(buf, n, WIRE_PARSE_VERIFY_CSUM, &got), WIRE_ERR_TCP_OPT_LEN);
	/* A length running into the padding is past the option area. */
	opt[0] = OPT_KIND_UNKNOWN;
	opt[1] = 9;
	n = build(buf, &s, opt, sizeof(opt));
	assert_int_equal(wire_parse(buf, n, WIRE_PARSE_VERIFY_CSUM, &got), WIRE_ERR_TCP_OPT_LEN);
}

/* ------------------------------------------------------------------------
 * Hostile IP and TCP headers
 */

static void test_bad_ip_truncated_and_version(void **state)
{
	uint8_t p[sizeof(ref_v4_syn)];

	(void)state;
	assert_int_equal(parse_exact(ref_v4_syn, 0, 0), WIRE_ERR_IP_TRUNCATED);
	assert_int_equal(parse_exact(ref_v4_syn, 19, 0), WIRE_ERR_IP_TRUNCATED);
	assert_int_equal(parse_exact(ref_v6_synack, 39, 0), WIRE_ERR_IP_TRUNCATED);
	memcpy(p, ref_v4_syn, sizeof(p));
	for (unsigned v = 0; v < 16; v++) {
		if (v == 4 || v == 6)
			continue;
		p[0] = (uint8_t)(v << 4 | 5);
		assert_int_equal(parse_exact(p, sizeof(p), 0), WIRE_ERR_IP_VERSION);
	}
}

static void test_bad_ipv4_header_and_length(void **state)
{
	uint8_t p[sizeof(ref_v4_syn)];

	(void)state;
	memcpy(p, ref_v4_syn, sizeof(p));
	p[0] = 0x44; /* IHL 4 */
	assert_int_equal(parse_exact(p, sizeof(p), 0), WIRE_ERR_IP_HEADER);
	p[0] = 0x40;
	assert_int_equal(parse_exact(p, sizeof(p), 0), WIRE_ERR_IP_HEADER);
	p[0] = 0x4f; /* 60-byte header in a 40-byte packet */
	assert_int_equal(parse_exact(p, 40, 0), WIRE_ERR_IP_HEADER);

	memcpy(p, ref_v4_syn, sizeof(p));
	wire_set16(p + IPV4_OFF_TOTLEN, sizeof(p) + 1);
	fix_ipv4_csum(p);
	assert_int_equal(parse_exact(p, sizeof(p), WIRE_PARSE_VERIFY_CSUM), WIRE_ERR_IP_LENGTH);
	wire_set16(p + IPV4_OFF_TOTLEN, 19);
	fix_ipv4_csum(p);
	assert_int_equal(parse_exact(p, sizeof(p), WIRE_PARSE_VERIFY_CSUM), WIRE_ERR_IP_LENGTH);
	/* A total length that stops inside the TCP header. */
	wire_set16(p + IPV4_OFF_TOTLEN, 39);
	fix_ipv4_csum(p);
	assert_int_equal(parse_exact(p, sizeof(p), 0), WIRE_ERR_TCP_TRUNCATED);
}

static void test_bad_ipv4_checksum(void **state)
{
	uint8_t p[sizeof(ref_v4_syn)];

	(void)state;
	for (size_t i = 0; i < 20; i++) {
		if (i == 0)
			continue; /* the version/IHL byte fails earlier */
		memcpy(p, ref_v4_syn, sizeof(p));
		p[i] ^= 0x10;
		assert_int_equal(parse_exact(p, sizeof(p), WIRE_PARSE_VERIFY_CSUM),
				 WIRE_ERR_IP_CHECKSUM);
	}
}

static void test_bad_ipv4_fragment_and_proto(void **state)
{
	uint8_t p[sizeof(ref_v4_syn)];

	(void)state;
	memcpy(p, ref_v4_syn, sizeof(p));
	wire_set16(p + IPV4_OFF_FRAG, IPV4_FLAG_MF);
	fix_ipv4_csum(p);
	assert_int_equal(parse_exact(p, sizeof(p), WIRE_PARSE_VERIFY_CSUM), WIRE_ERR_IP_FRAGMENT);
	wire_set16(p + IPV4_OFF_FRAG, 1);
	fix_ipv4_csum(p);
	assert_int_equal(parse_exact(p, sizeof(p), WIRE_PARSE_VERIFY_CSUM), WIRE_ERR_IP_FRAGMENT);
	wire_set16(p + IPV4_OFF_FRAG, 0x1fff);
	fix_ipv4_csum(p);
	assert_int_equal(parse_exact(p, sizeof(p), WIRE_PARSE_VERIFY_CSUM), WIRE_ERR_IP_FRAGMENT);
	/* Without DF, a whole datagram is fine. */
	wire_set16(p + IPV4_OFF_FRAG, 0);
	fix_ipv4_csum(p);
	assert_int_equal(parse_exact(p, sizeof(p), WIRE_PARSE_VERIFY_CSUM), WIRE_OK);

	memcpy(p, ref_v4_syn, sizeof(p));
	p[IPV4_OFF_PROTO] = IPPROTO_UDP_NUM;
	fix_ipv4_csum(p);
	assert_int_equal(parse_exact(p, sizeof(p), WIRE_PARSE_VERIFY_CSUM), WIRE_ERR_NOT_TCP);
}

/* Options in the IPv4 header (IHL 6) are skipped to reach TCP. */
static void test_ipv4_options_skipped(void **state)
{
	uint8_t p[sizeof(ref_v4_syn) + 4];
	wire_seg s;

	(void)state;
	memcpy(p, ref_v4_syn, 20);
	memcpy(p + 24, ref_v4_syn + 20, sizeof(ref_v4_syn) - 20);
	memset(p + 20, 1, 4); /* IP NOP options, RFC 791 */
	p[0] = 0x46;
	wire_set16(p + IPV4_OFF_TOTLEN, sizeof(p));
	fix_ipv4_csum(p);
	assert_int_equal(wire_parse(p, sizeof(p), WIRE_PARSE_VERIFY_CSUM, &s), WIRE_OK);
	assert_int_equal(s.opts.mss, 1460);
	assert_ptr_equal(s.opt, p + 44);
}

static void test_bad_ipv6(void **state)
{
	uint8_t p[sizeof(ref_v6_ext)];

	(void)state;
	memcpy(p, ref_v6_synack, sizeof(ref_v6_synack));
	wire_set16(p + IPV6_OFF_PLEN, sizeof(ref_v6_synack) - 40 + 1);
	assert_int_equal(parse_exact(p, sizeof(ref_v6_synack), 0), WIRE_ERR_IP_LENGTH);
	memcpy(p, ref_v6_synack, sizeof(ref_v6_synack));
	p[IPV6_OFF_NEXT] = IPPROTO_UDP_NUM;
	assert_int_equal(parse_exact(p, sizeof(ref_v6_synack), 0), WIRE_ERR_NOT_TCP);
	p[IPV6_OFF_NEXT] = IPV6_NH_FRAGMENT;
	assert_int_equal(parse_exact(p, sizeof(ref_v6_synack), 0), WIRE_ERR_IP_FRAGMENT);
	p[IPV6_OFF_NEXT] = IPV6_NH_NONE;
	assert_int_equal(parse_exact(p, sizeof(ref_v6_synack), 0), WIRE_ERR_NOT_TCP);
	/* An empty payload where TCP should be. */
	memcpy(p, ref_v6_synack, sizeof(ref_v6_synack));
	wire_set16(p + IPV6_OFF_PLEN, 0);
	assert_int_equal(parse_exact(p, sizeof(ref_v6_synack), 0), WIRE_ERR_TCP_TRUNCATED);
}

static void test_bad_ipv6_ext_chain(void **state)
{
	uint8_t p[sizeof(ref_v6_ext)];

	(void)state;
	/* The routing header's next header becomes a fragment header. */
	memcpy(p, ref_v6_ext, sizeof(p));
	p[56] = IPV6_NH_FRAGMENT;
	assert_int_equal(parse_exact(p, sizeof(p), 0), WIRE_ERR_IP_FRAGMENT);
	p[56] = IPV6_NH_NONE;
	assert_int_equal(parse_exact(p, sizeof(p), 0), WIRE_ERR_NOT_TCP);
	/* Hop-by-hop anywhere but first (RFC 8200 section 4.1), even when
	 * well formed: the routing header read as one would lead to TCP. */
	memcpy(p, ref_v6_ext, sizeof(p));
	p[48] = IPV6_NH_HOPOPTS;
	assert_int_equal(parse_exact(p, sizeof(p), 0), WIRE_ERR_IP_HEADER);
	p[48] = IPV6_NH_DSTOPTS;
	assert_int_equal(parse_exact(p, sizeof(p), 0), WIRE_OK);
	/* A header length running past the payload, though not past the
	 * packet's bytes. */
	memcpy(p, ref_v6_ext, sizeof(p));
	p[57] = 5;
	assert_int_equal(parse_exact(p, sizeof(p), 0), WIRE_ERR_IP_HEADER);
	memcpy(p, ref_v6_ext, sizeof(p));
	wire_set16(p + IPV6_OFF_PLEN, 23); /* ends inside the routing header */
	assert_int_equal(parse_exact(p, sizeof(p), 0), WIRE_ERR_IP_HEADER);
	wire_set16(p + IPV6_OFF_PLEN, 17); /* no room for its first two bytes */
	assert_int_equal(parse_exact(p, sizeof(p), 0), WIRE_ERR_IP_HEADER);
	/* A routing header claiming another follows: the TCP bytes read as
	 * one have a length (0xd2) running past the payload. */
	memcpy(p, ref_v6_ext, sizeof(p));
	p[56] = IPV6_NH_ROUTING;
	assert_int_equal(parse_exact(p, sizeof(p), 0), WIRE_ERR_IP_HEADER);
}

static void test_bad_tcp_header(void **state)
{
	uint8_t p[sizeof(ref_v4_data)];

	(void)state;
	memcpy(p, ref_v4_data, sizeof(p));
	for (unsigned doff = 0; doff < 5; doff++) {
		p[20 + TCP_OFF_DOFF] = (uint8_t)(doff << 4);
		assert_int_equal(parse_exact(p, sizeof(p), WIRE_PARSE_VERIFY_CSUM),
				 WIRE_ERR_TCP_DOFF_SHORT);
	}
	/* 37 TCP bytes: data offsets of 40 to 60 bytes run past them. */
	for (unsigned doff = 10; doff < 16; doff++) {
		p[20 + TCP_OFF_DOFF] = (uint8_t)(doff << 4);
		assert_int_equal(parse_exact(p, sizeof(p), WIRE_PARSE_VERIFY_CSUM),
				 WIRE_ERR_TCP_DOFF_LONG);
	}
	/* Data offset 9 leaves one payload byte and reads "hell" as options:
	 * 'h' (104) claims 101 bytes. */
	p[20 + TCP_OFF_DOFF] = 9 << 4;
	fix_tcp_csum(p, 20, sizeof(p));
	assert_int_equal(parse_exact(p, sizeof(p), WIRE_PARSE_VERIFY_CSUM), WIRE_ERR_TCP_OPT_LEN);
}

static void test_bad_tcp_checksum(void **state)
{
	uint8_t p[sizeof(ref_v6_ext)];

	(void)state;
	/* Any bit 0 of a TCP byte, including the odd last one (in the data
	 * offset byte it is a reserved bit). */
	for (size_t i = 20; i < sizeof(ref_v4_data); i++) {
		memcpy(p, ref_v4_data, sizeof(ref_v4_data));
		p[i] ^= 0x01;
		assert_int_equal(parse_exact(p, sizeof(ref_v4_data), WIRE_PARSE_VERIFY_CSUM),
				 WIRE_ERR_TCP_CHECKSUM);
	}
	/* The pseudo-header covers the addresses. */
	memcpy(p, ref_v4_data, sizeof(ref_v4_data));
	p[IPV4_OFF_SRC + 3] ^= 0x40;
	fix_ipv4_csum(p);
	assert_int_equal(parse_exact(p, sizeof(ref_v4_data), WIRE_PARSE_VERIFY_CSUM),
			 WIRE_ERR_TCP_CHECKSUM);
	memcpy(p, ref_v6_ext, sizeof(p));
	p[39] ^= 0x02;
	assert_int_equal(parse_exact(p, sizeof(p), WIRE_PARSE_VERIFY_CSUM), WIRE_ERR_TCP_CHECKSUM);
	memcpy(p, ref_v6_ext, sizeof(p));
	p[sizeof(p) - 1] ^= 0x80;
	assert_int_equal(parse_exact(p, sizeof(p), WIRE_PARSE_VERIFY_CSUM), WIRE_ERR_TCP_CHECKSUM);
}

/* Every prefix of a valid packet is refused, with or without checksums. */
static void truncate_all(const uint8_t *p, size_t len)
{
	for (size_t n = 0; n < len; n++) {
		assert_int_not_equal(parse_exact(p, n, 0), WIRE_OK);
		assert_int_not_equal(parse_exact(p, n, WIRE_PARSE_VERIFY_CSUM), WIRE_OK);
	}
	assert_int_equal(parse_exact(p, len, WIRE_PARSE_VERIFY_CSUM), WIRE_OK);
}

static void test_truncated_everywhere(void **state)
{
	uint8_t opt[WIRE_TCP_MAX_OPTS], buf[MAX_PKT];
	static const uint32_t blocks[4][2] = {{1, 2}, {3, 4}, {5, 6}, {7, 8}};
	wire_seg s = base_seg(6);
	size_t o = 0, n;

	(void)state;
	truncate_all(ref_v4_syn, sizeof(ref_v4_syn));
	truncate_all(ref_v4_data, sizeof(ref_v4_data));
	truncate_all(ref_v6_synack, sizeof(ref_v6_synack));
	truncate_all(ref_v6_ext, sizeof(ref_v6_ext));
	o += wire_put_nop(opt + o);
	o += wire_put_nop(opt + o);
	o += wire_put_sack(opt + o, blocks, 4);
	s.payload = (const uint8_t *)"0123456789";
	s.payload_len = 10;
	n = build(buf, &s, opt, (uint8_t)o);
	truncate_all(buf, n);
}

static void test_err_names(void **state)
{
	(void)state;
	for (int i = 0; i < WIRE_ERR_COUNT; i++) {
		const char *a = wire_err_name((wire_err)i);

		assert_non_null(a);
		assert_true(strlen(a) > 0);
		assert_string_not_equal(a, "unknown");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(a, wire_err_name((wire_err)j));
	}
	assert_string_equal(wire_err_name(WIRE_OK), "ok");
	assert_string_equal(wire_err_name(WIRE_ERR_TCP_CHECKSUM), "tcp_checksum");
	assert_string_equal(wire_err_name(WIRE_ERR_COUNT), "unknown");
	assert_string_equal(wire_err_name((wire_err)-1), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_csum_rfc1071_example),
	    cmocka_unit_test(test_csum_small_known),
	    cmocka_unit_test(test_csum_matches_reference),
	    cmocka_unit_test(test_csum_large_buffer),
	    cmocka_unit_test(test_csum_captured_ipv4),
	    cmocka_unit_test(test_csum_captured_odd_payload),
	    cmocka_unit_test(test_csum_captured_ipv6),
	    cmocka_unit_test(test_parse_ref_v4_syn),
	    cmocka_unit_test(test_parse_ref_v6_synack),
	    cmocka_unit_test(test_parse_ref_v4_data),
	    cmocka_unit_test(test_parse_ipv6_ext_headers),
	    cmocka_unit_test(test_parse_ipv6_long_ext),
	    cmocka_unit_test(test_parse_link_padding),
	    cmocka_unit_test(test_parse_without_verify),
	    cmocka_unit_test(test_build_matches_ref_v4_syn),
	    cmocka_unit_test(test_build_matches_ref_v6_synack),
	    cmocka_unit_test(test_build_matches_ref_v4_data),
	    cmocka_unit_test(test_round_trip_v4),
	    cmocka_unit_test(test_round_trip_v6),
	    cmocka_unit_test(test_round_trip_md5_and_requests),
	    cmocka_unit_test(test_build_limits),
	    cmocka_unit_test(test_put_fixed_options),
	    cmocka_unit_test(test_put_sack),
	    cmocka_unit_test(test_put_fastopen),
	    cmocka_unit_test(test_opts_skip_and_eol),
	    cmocka_unit_test(test_opts_len_errors),
	    cmocka_unit_test(test_opts_bad_lengths),
	    cmocka_unit_test(test_opts_sack_lengths),
	    cmocka_unit_test(test_opts_exp_too_short),
	    cmocka_unit_test(test_opts_fastopen_lengths),
	    cmocka_unit_test(test_parse_propagates_opt_errors),
	    cmocka_unit_test(test_bad_ip_truncated_and_version),
	    cmocka_unit_test(test_bad_ipv4_header_and_length),
	    cmocka_unit_test(test_bad_ipv4_checksum),
	    cmocka_unit_test(test_bad_ipv4_fragment_and_proto),
	    cmocka_unit_test(test_ipv4_options_skipped),
	    cmocka_unit_test(test_bad_ipv6),
	    cmocka_unit_test(test_bad_ipv6_ext_chain),
	    cmocka_unit_test(test_bad_tcp_header),
	    cmocka_unit_test(test_bad_tcp_checksum),
	    cmocka_unit_test(test_truncated_everywhere),
	    cmocka_unit_test(test_err_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
