/*
 * fuzz_wire.c — libFuzzer target for the wire layer.
 *
 * 1. wire_parse with and without checksum verification; a packet accepted
 *    with verification must also be accepted without it.
 * 2. For an accepted packet: its options re-parse the same on their own, and
 *    wire_build followed by a verifying wire_parse gives back every field.
 * 3. wire_parse_opts on the raw input, and the checksum over the input in
 *    two even-split chunks equals the checksum in one.
 * 4. The input read as a segment description: build, parse, compare.
 * 5. The option writers, driven by the input, read back by the parser.
 */
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

#define FUZZ_BUF (WIRE_IPV6_HDR + 0xffff + 64) /* largest packet wire_build makes */
#define DESC_FIXED 34			       /* bytes of a segment description before options */
#define DESC_V4_ADDR 4
#define DESC_V6_ADDR 16
#define PUT_FIXED 16	/* bytes the writer test takes from the input */
#define FO_COOKIE_MIN 4 /* RFC 7413 section 4.1.1 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborting is how a libFuzzer target reports a broken invariant. */
static void check(int ok)
{
	if (!ok)
		abort();
}

static void check_opts_equal(const wire_opts *a, const wire_opts *b)
{
	check(a->present == b->present && a->mss == b->mss && a->wscale == b->wscale);
	check(a->sack_count == b->sack_count && a->fo_len == b->fo_len);
	check(a->ts_val == b->ts_val && a->ts_ecr == b->ts_ecr);
	check(!memcmp(a->sack, b->sack, sizeof(a->sack)));
	check(!memcmp(a->fo_cookie, b->fo_cookie, sizeof(a->fo_cookie)));
}

static void check_seg_equal(const wire_seg *a, const wire_seg *b)
{
	check(a->family == b->family && a->ttl == b->ttl && a->tos == b->tos);
	check(a->flags == b->flags && a->sport == b->sport && a->dport == b->dport);
	check(a->seq == b->seq && a->ack == b->ack && a->win == b->win && a->urg == b->urg);
	check(a->ip_id == b->ip_id && a->df == b->df);
	check(!memcmp(a->src, b->src, sizeof(a->src)) && !memcmp(a->dst, b->dst, sizeof(a->dst)));
	check(a->opt_len == b->opt_len && !memcmp(a->opt, b->opt, a->opt_len));
	check_opts_equal(&a->opts, &b->opts);
	check(a->payload_len == b->payload_len);
	check(!a->payload_len || !memcmp(a->payload, b->payload, a->payload_len));
}

/* Rebuilds a parsed segment and parses the result with verification. */
static void round_trip(const wire_seg *seg)
{
	static uint8_t buf[FUZZ_BUF];
	wire_seg again;
	size_t n;

	n = wire_build(buf, sizeof(buf), seg);
	/* Whatever parsed fits in the 16-bit length fields again. */
	check(n != 0 && n == wire_build_len(seg));
	check(wire_parse(buf, n, WIRE_PARSE_VERIFY_CSUM, &again) == WIRE_OK);
	check_seg_equal(seg, &again);
}

static void fuzz_packet(const uint8_t *data, size_t size)
{
	wire_seg seg, verified;
	wire_opts opts;
	wire_err err, err_v;

	err_v = wire_parse(data, size, WIRE_PARSE_VERIFY_CSUM, &verified);
	err = wire_parse(data, size, 0, &seg);
	check(err < WIRE_ERR_COUNT && err_v < WIRE_ERR_COUNT);
	check(wire_err_name(err) != NULL && wire_err_name(err_v) != NULL);
	if (err_v == WIRE_OK) {
		check(err == WIRE_OK);
		check_seg_equal(&seg, &verified);
	}
	if (err != WIRE_OK)
		return;
	check(seg.family == 4 || seg.family == 6);
	check(seg.opt >= data && seg.opt + seg.opt_len <= data + size);
	check(seg.payload >= data && seg.payload + seg.payload_len <= data + size);
	check(wire_parse_opts(seg.opt, seg.opt_len, &opts) == WIRE_OK);
	check_opts_equal(&opts, &seg.opts);
	round_trip(&seg);
}

static void fuzz_raw(const uint8_t *data, size_t size)
{
	wire_opts opts;
	size_t cut = (size / 2) & ~(size_t)1;
	uint32_t sum;

	check(wire_parse_opts(data, size, &opts) < WIRE_ERR_COUNT);
	check(opts.sack_count <= WIRE_MAX_SACK_BLOCKS && opts.fo_len <= WIRE_FO_COOKIE_MAX);
	sum = wire_csum_add(wire_csum_add(0, data, cut), data + cut, size - cut);
	check(wire_csum_fold(sum) == wire_csum_fold(wire_csum_add(0, data, size)));
}

/* The input as a segment description: fixed fields, an option count, the
 * options, then the payload. Whatever options wire_build pads, the parse
 * must either agree on every field or fail on those options. */
static void fuzz_build(const uint8_t *d, size_t size)
{
	static uint8_t buf[FUZZ_BUF];
	wire_seg seg, got;
	wire_opts opts;
	size_t n, padded;
	wire_err err;

	if (size < DESC_FIXED)
		return;
	memset(&seg, 0, sizeof(seg));
	seg.family = d[0] & 1 ? 6 : 4;
	seg.ttl = d[1];
	seg.tos = d[2];
	seg.flags = d[3];
	seg.sport = wire_get16(d + 4);
	seg.dport = wire_get16(d + 6);
	seg.seq = wire_get32(d + 8);
	seg.ack = wire_get32(d + 12);
	seg.win = wire_get16(d + 16);
	seg.urg = wire_get16(d + 18);
	if (seg.family == 4) {
		seg.ip_id = wire_get16(d + 20);
		seg.df = d[0] & 2;
		memcpy(seg.src, d + 22, DESC_V4_ADDR);
		memcpy(seg.dst, d + 26, DESC_V4_ADDR);
	} else {
		memcpy(seg.src, d + 20, DESC_V6_ADDR / 2);
		memcpy(seg.dst, d + 26, DESC_V6_ADDR / 2);
	}
	seg.opt_len = d[33] % (WIRE_TCP_MAX_OPTS + 1);
	if (size - DESC_FIXED < seg.opt_len)
		return;
	seg.opt = d + DESC_FIXED;
	seg.payload = seg.opt + seg.opt_len;
	seg.payload_len = (uint32_t)(size - DESC_FIXED - seg.opt_len);

	n = wire_build(buf, sizeof(buf), &seg);
	if (n == 0) {
		check(wire_build_len(&seg) == 0);
		return;
	}
	padded = ((size_t)seg.opt_len + 3) & ~(size_t)3;
	err = wire_parse(buf, n, WIRE_PARSE_VERIFY_CSUM, &got);
	if (err == WIRE_ERR_TCP_OPT_LEN || err == WIRE_ERR_TCP_OPT_BAD) {
		check(wire_parse_opts(buf + n - seg.payload_len - padded, padded, &opts) == err);
		return;
	}
	check(err == WIRE_OK);
	check(got.opt_len == padded && !memcmp(got.opt, seg.opt, seg.opt_len));
	seg.opt = got.opt;
	seg.opt_len = got.opt_len;
	check(wire_parse_opts(seg.opt, seg.opt_len, &seg.opts) == WIRE_OK);
	check_seg_equal(&seg, &got);
}

/* A valid cookie length from one byte: 0 (a request) or even 4..16. */
static uint8_t cookie_len(uint8_t b)
{
	uint8_t len = (uint8_t)(b % (WIRE_FO_COOKIE_MAX / 2 + 1) * 2);

	return len < FO_COOKIE_MIN ? 0 : len;
}

/* Writes MSS, WS, TS and one of SACK or Fast Open, as a SYN or an ACK would
 * carry them, and checks the parser reads back what was written. */
static void fuzz_writers(const uint8_t *d, size_t size)
{
	uint8_t opt[2 * WIRE_TCP_MAX_OPTS]; /* the parser takes any length */
	uint32_t blocks[WIRE_MAX_SACK_BLOCKS][2];
	unsigned nblocks;
	wire_opts got;
	size_t o = 0;
	uint8_t clen;
	bool exp;

	if (size < PUT_FIXED)
		return;
	nblocks = d[0] % (WIRE_MAX_SACK_BLOCKS - 1); /* 0..2: fits beside TS */
	clen = cookie_len(d[1]);
	exp = d[0] & 0x80;
	for (unsigned i = 0; i < nblocks; i++) {
		blocks[i][0] = wire_get32(d + 2) + i;
		blocks[i][1] = wire_get32(d + 6) - i;
	}
	o += wire_put_mss(opt + o, wire_get16(d + 2));
	o += wire_put_wscale(opt + o, d[4]);
	o += wire_put_ts(opt + o, wire_get32(d + 6), wire_get32(d + 10));
	if (nblocks)
		o += wire_put_sack(opt + o, (const uint32_t(*)[2])blocks, nblocks);
	else if (size - PUT_FIXED >= clen)
		o += wire_put_fastopen(opt + o, d + PUT_FIXED, clen, exp);
	o += wire_put_sackok(opt + o);
	o += wire_put_nop(opt + o);
	o += wire_put_eol(opt + o);
	check(o <= sizeof(opt));
	check(wire_parse_opts(opt, o, &got) == WIRE_OK);
	check(got.mss == wire_get16(d + 2) && got.wscale == d[4]);
	check(got.ts_val == wire_get32(d + 6) && got.ts_ecr == wire_get32(d + 10));
	check(got.sack_count == nblocks);
	check(!nblocks || !memcmp(got.sack, blocks, nblocks * sizeof(blocks[0])));
	if (!nblocks && size - PUT_FIXED >= clen) {
		check(got.present & (exp ? WIRE_HAS_FOEXP : WIRE_HAS_FO));
		check(got.fo_len == clen && !memcmp(got.fo_cookie, d + PUT_FIXED, clen));
	}
	check(got.present & WIRE_HAS_SACKOK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_packet(data, size);
	fuzz_raw(data, size);
	fuzz_build(data, size);
	fuzz_writers(data, size);
	return 0;
}
