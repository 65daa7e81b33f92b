/*
 * wire.c — bytes <-> structs for IPv4 (RFC 791), IPv6 (RFC 8200) and TCP
 * (RFC 9293), with the Internet checksum (RFC 1071).
 *
 * Everything here is stateless and allocation-free: the parser only points
 * into the caller's packet, the builder only writes into the caller's buffer.
 */
#include "wire/wire.h"

#include <stddef.h>
#include <string.h>

/* IPv4 header fields (RFC 791 section 3.1). */
#define IPV4_VERSION 4
#define IPV4_IHL_MIN 5 /* in 32-bit words */
#define IPV4_OFF_TOS 1
#define IPV4_OFF_TOTLEN 2
#define IPV4_OFF_ID 4
#define IPV4_OFF_FRAG 6
#define IPV4_OFF_TTL 8
#define IPV4_OFF_PROTO 9
#define IPV4_OFF_CSUM 10
#define IPV4_OFF_SRC 12
#define IPV4_OFF_DST 16
#define IPV4_ADDR_LEN 4
#define IPV4_FLAG_DF 0x4000	  /* Don't Fragment */
#define IPV4_FLAG_MF 0x2000	  /* More Fragments */
#define IPV4_FRAG_OFF_MASK 0x1fff /* fragment offset, in 8-byte units */
#define IPV4_MAX_TOTLEN 0xffff

/* IPv6 header fields (RFC 8200 section 3). */
#define IPV6_VERSION 6
#define IPV6_OFF_PLEN 4
#define IPV6_OFF_NEXT 6
#define IPV6_OFF_HOPS 7
#define IPV6_OFF_SRC 8
#define IPV6_OFF_DST 24
#define IPV6_ADDR_LEN 16
#define IPV6_MAX_PLEN 0xffff

/* IPv6 next-header values (RFC 8200 section 4). */
#define IPV6_NH_HOPOPTS 0
#define IPV6_NH_ROUTING 43
#define IPV6_NH_FRAGMENT 44
#define IPV6_NH_DSTOPTS 60
/* Hop-by-hop, routing and destination options share one layout: next
 * header, then the length in 8-octet units not counting the first 8. */
#define IPV6_EXT_MIN 2
#define IPV6_EXT_UNIT 8

/* TCP header fields (RFC 9293 section 3.1). */
#define TCP_OFF_SPORT 0
#define TCP_OFF_DPORT 2
#define TCP_OFF_SEQ 4
#define TCP_OFF_ACK 8
#define TCP_OFF_DOFF 12
#define TCP_OFF_FLAGS 13
#define TCP_OFF_WIN 14
#define TCP_OFF_CSUM 16
#define TCP_OFF_URG 18
#define TCP_DOFF_MIN 5 /* in 32-bit words */
#define TCP_DOFF_SHIFT 4
#define TCP_WORD 4

/* Option layouts. */
#define OPT_HDR 2			/* kind, length */
#define OPTLEN_SACK_BLOCK 8		/* RFC 2018 section 3: two 32-bit edges */
#define OPTLEN_MD5 18			/* RFC 2385 section 3.0 */
#define OPTLEN_EXP_HDR 4		/* RFC 6994: kind, length, 16-bit ExID */
#define FO_COOKIE_MIN 4			/* RFC 7413 section 4.1.1 */
#define OPTLEN_FO_REQ OPT_HDR		/* kind 34 with no cookie */
#define OPTLEN_FOEXP_REQ OPTLEN_EXP_HDR /* kind 254 + magic, no cookie */
#define OPT_TS_VAL OPT_HDR		/* RFC 7323 section 3.2: TSval, then TSecr */
#define OPT_TS_ECR (OPT_HDR + 4)
#define SACK_RIGHT_EDGE 4 /* RFC 2018 section 3: right edge after left */
#define NOP_NOP 2	  /* two NOPs before TS, RFC 7323 Appendix A */
#define OPTLEN_NOP_NOP_TS (NOP_NOP + WIRE_OPTLEN_TS)
/* Linux's SYN and SYN-ACK options (tcp_options_write): MSS, sackOK, TS, NOP,
 * wscale. */
#define SYN_LAYOUT_LEN 20
#define SYN_LAYOUT_MSS 2
#define SYN_LAYOUT_TS 6
#define SYN_LAYOUT_TAIL 16 /* NOP, wscale */
#define SYN_LAYOUT_WSCALE (SYN_LAYOUT_TAIL + 3)

/* Internet checksum (RFC 1071). */
#define CSUM_FOLD_BITS 16
#define CSUM_MASK 0xffff

const char *wire_err_name(wire_err e)
{
	static const char *const names[WIRE_ERR_COUNT] = {
	    [WIRE_OK] = "ok",
	    [WIRE_ERR_IP_TRUNCATED] = "ip_truncated",
	    [WIRE_ERR_IP_VERSION] = "ip_version",
	    [WIRE_ERR_IP_HEADER] = "ip_header",
	    [WIRE_ERR_IP_LENGTH] = "ip_length",
	    [WIRE_ERR_IP_CHECKSUM] = "ip_checksum",
	    [WIRE_ERR_IP_FRAGMENT] = "ip_fragment",
	    [WIRE_ERR_NOT_TCP] = "not_tcp",
	    [WIRE_ERR_TCP_TRUNCATED] = "tcp_truncated",
	    [WIRE_ERR_TCP_DOFF_SHORT] = "tcp_doff_short",
	    [WIRE_ERR_TCP_DOFF_LONG] = "tcp_doff_long",
	    [WIRE_ERR_TCP_OPT_LEN] = "tcp_opt_len",
	    [WIRE_ERR_TCP_OPT_BAD] = "tcp_opt_bad",
	    [WIRE_ERR_TCP_CHECKSUM] = "tcp_checksum",
	};

	if ((unsigned)e >= WIRE_ERR_COUNT)
		return "unknown";
	return names[e];
}

/* ---------------------------------------------------------------------------
 * Field pairs
 *
 * The TCP header's ports and its sequence and acknowledgment numbers are
 * pairs of adjacent big-endian fields, and wire_seg holds each pair side by
 * side too. A pair moves in one load and one store: on a little-endian host
 * a byte swap of the whole word reverses each field's bytes but also
 * exchanges the two fields, which a rotate by half the word undoes. The
 * same operation goes either way (header to wire_seg and back).
 */

_Static_assert(offsetof(wire_seg, dport) == offsetof(wire_seg, sport) + sizeof(uint16_t),
	       "sport and dport must be adjacent");
_Static_assert(offsetof(wire_seg, ack) == offsetof(wire_seg, seq) + sizeof(uint32_t),
	       "seq and ack must be adjacent");

/* Two 16-bit fields at src to two at dst, each byte-swapped. */
static inline void pair16_swap(void *dst, const void *src)
{
	uint32_t v;

	memcpy(&v, src, sizeof v);
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
	v = __builtin_bswap32(v);
	v = v >> 16 | v << 16;
#endif
	memcpy(dst, &v, sizeof v);
}

/* Two 32-bit fields at src to two at dst, each byte-swapped. */
static inline void pair32_swap(void *dst, const void *src)
{
	uint64_t v;

	memcpy(&v, src, sizeof v);
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
	v = __builtin_bswap64(v);
	v = v >> 32 | v << 32;
#endif
	memcpy(dst, &v, sizeof v);
}

/* ---------------------------------------------------------------------------
 * Checksums
 *
 * The one's-complement sum does not depend on byte order (RFC 1071 section
 * 2(B)), so the data is summed as native 32-bit words (fast, no byte
 * shuffling) into a 64-bit accumulator, folded to 16 bits, and only then
 * brought to network order. The value passed in and returned is a partial
 * sum of big-endian 16-bit words, so callers may add host-order integers
 * (protocol, length) to it directly.
 */

static uint16_t csum_fold16(uint64_t acc)
{
	/* 64 to 32 bits with the end-around carry, then the halves of the
	 * 32-bit sum added by a rotate (RFC 1071 section 2(C)): the high half
	 * of x + ror(x, 16) is the folded sum, carry included. Gives 0 only for
	 * acc == 0, 0xffff for any other multiple of 0xffff. */
	uint32_t lo = (uint32_t)acc, hi = (uint32_t)(acc >> 32);
	uint32_t x = lo + hi;

	x += x < hi;
	x += x >> CSUM_FOLD_BITS | x << CSUM_FOLD_BITS;
	return (uint16_t)(x >> CSUM_FOLD_BITS);
}

static uint16_t csum_native_to_be(uint16_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return v;
#else
	return (uint16_t)(v << 8 | v >> 8);
#endif
}

/* The native integer whose bytes are v in network order: adding it to a
 * native accumulator adds v's two big-endian 16-bit words. */
static uint32_t csum_be32(uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return v;
#else
	return __builtin_bswap32(v);
#endif
}

static uint64_t csum_load64(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w)); /* any alignment */
	return w;
}

static uint64_t csum_load32(const uint8_t *p)
{
	uint32_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

/* One's-complement addition of 64-bit words: a carry out of the top bit
 * comes back in at the bottom. Since 2^16 = 1 modulo 0xffff, a sum of 64-bit
 * words kept this way folds to the same 16-bit sum as the words' four
 * 16-bit lanes would (RFC 1071 section 2(C)). The compiler turns it into an
 * add and an add-with-carry. */
static inline uint64_t csum_add64(uint64_t acc, uint64_t w)
{
	acc += w;
	return acc + (acc < w); /* cannot overflow again: acc < w <= 2^64 - 1 */
}

/* Lengths below this csum_short takes without a loop: any TCP or IPv4
 * header (at most 60 bytes), and the two IPv6 addresses (32). */
#define CSUM_SHORT 64

/* acc += w as a plain 64-bit sum, with the carry out of the top bit counted
 * in carries (each is worth 2^64, which is 1 modulo 0xffff, so adding the
 * count back in at the end gives the one's-complement sum). Unlike
 * csum_add64 no word waits for the previous word's carry to be folded in:
 * the compiler makes one add and one adc $0 of each word. */
#define CSUM_ADD_COUNT(acc, carries, w)                                                            \
	do {                                                                                       \
		uint64_t w_ = (w);                                                                 \
		(acc) += w_;                                                                       \
		(carries) += (acc) < w_;                                                           \
	} while (0)

/*
 * Adds len < CSUM_SHORT bytes to a native-order accumulator; callers fold
 * once at the end. An odd last byte is padded with a zero byte after it.
 *
 * Every load starts at an even offset from p, so each big-endian 16-bit word
 * of the data lands whole in one 16-bit lane of a native word; the lanes'
 * places do not matter (2^16 is 1 modulo 0xffff). There is no loop: one
 * test per bit of len, each adding a straight run of that many bytes, down
 * to a 1..3 byte tail that headers never have. Inlined where headers are
 * summed.
 */
__attribute__((always_inline)) static inline uint64_t csum_short(uint64_t acc, const uint8_t *p,
								 size_t len)
{
	uint64_t carries = 0;

	if (len & 32) {
		CSUM_ADD_COUNT(acc, carries, csum_load64(p));
		CSUM_ADD_COUNT(acc, carries, csum_load64(p + 8));
		CSUM_ADD_COUNT(acc, carries, csum_load64(p + 16));
		CSUM_ADD_COUNT(acc, carries, csum_load64(p + 24));
		p += 32;
	}
	if (len & 16) {
		CSUM_ADD_COUNT(acc, carries, csum_load64(p));
		CSUM_ADD_COUNT(acc, carries, csum_load64(p + 8));
		p += 16;
	}
	if (len & 8) {
		CSUM_ADD_COUNT(acc, carries, csum_load64(p));
		p += 8;
	}
	if (len & 4) {
		CSUM_ADD_COUNT(acc, carries, csum_load32(p));
		p += 4;
	}
	/* A 16-bit word and/or a last byte, zero-padded to a native 32-bit
	 * word. */
	if (len & 3) {
		uint8_t tail[4] = {p[0], 0, 0, 0};

		if (len & 2) {
			tail[1] = p[1];
			if (len & 1)
				tail[2] = p[2];
		}
		CSUM_ADD_COUNT(acc, carries, csum_load32(tail));
	}
	return csum_add64(acc, carries);
}

/* Adds len bytes, any length: 32 bytes a turn until csum_short can take
 * the rest. */
static uint64_t csum_acc(uint64_t acc, const uint8_t *p, size_t len)
{
	uint64_t carries = 0;

	for (; len >= CSUM_SHORT; p += 32, len -= 32) {
		CSUM_ADD_COUNT(acc, carries, csum_load64(p));
		CSUM_ADD_COUNT(acc, carries, csum_load64(p + 8));
		CSUM_ADD_COUNT(acc, carries, csum_load64(p + 16));
		CSUM_ADD_COUNT(acc, carries, csum_load64(p + 24));
	}
	return csum_short(csum_add64(acc, carries), p, len);
}

/* The value for a checksum field, given the native accumulator of the
 * data with that field zero: the folded sum's complement, in network
 * order. */
static inline uint16_t csum_field(uint64_t acc)
{
	return csum_native_to_be((uint16_t)~csum_fold16(acc));
}

/* Adds a native accumulator to a network-order partial sum. */
static uint32_t csum_merge(uint32_t sum, uint64_t acc)
{
	uint64_t s = (uint64_t)sum + csum_native_to_be(csum_fold16(acc));

	/* At most one carry out of 32 bits, and then the low half is small. */
	return (uint32_t)(s & 0xffffffffu) + (uint32_t)(s >> 32);
}

/*
 * Adds len bytes at data to the partial sum. Data may be at any alignment.
 * When a sum is built from several chunks, every chunk except the last must
 * have an even length: an odd final byte is padded with a zero byte as the
 * low half of a 16-bit word, which is only right at the very end.
 */
uint32_t wire_csum_add(uint32_t sum, const void *data, size_t len)
{
	return csum_merge(sum, csum_acc(0, data, len));
}

/* Folds a partial sum to 16 bits and complements it: the value to store in a
 * checksum field. Over data that already includes a correct checksum it gives 0. */
uint16_t wire_csum_fold(uint32_t sum)
{
	return (uint16_t)~csum_fold16(sum);
}

/* The pseudo-header's addresses (RFC 9293 3.1 / RFC 8200 8.1) as a native
 * accumulator; both IPv4 addresses fit one 64-bit word. */
static inline uint64_t csum_addrs(uint8_t family, const uint8_t *src, const uint8_t *dst)
{
	if (family == IPV6_VERSION)
		return csum_acc(csum_acc(0, src, IPV6_ADDR_LEN), dst, IPV6_ADDR_LEN);
	return csum_load32(src) << 32 | csum_load32(dst);
}

/* The TCP checksum's sum given the addresses' accumulator: the rest of the
 * pseudo-header (zero, protocol, and the length, which IPv6 makes 32 bits:
 * summed as 16-bit words both layouts give the same terms) goes in as two
 * big-endian 32-bit words, so there is one fold at the end. Never 0: the
 * protocol term is not, and the sum of a nonzero term and anything else
 * is not either (a carry out comes back in as 1). */
__attribute__((always_inline)) static inline uint64_t tcp_sum(uint64_t addrs, const uint8_t *tcp,
							      size_t tcp_len)
{
	uint64_t acc = csum_add64(addrs, (uint64_t)csum_be32(WIRE_IPPROTO_TCP) +
						 csum_be32((uint32_t)tcp_len));

	/* Headers without payload, the bulk of packets, inline. */
	return tcp_len < CSUM_SHORT ? csum_short(acc, tcp, tcp_len) : csum_acc(acc, tcp, tcp_len);
}

/* tcp_sum for a header-only segment of any length, with a straight run of
 * adds (no tests of the length's bits) for the three lengths nearly every
 * one has: a bare header (RST), NOP NOP TS (ACK) and the SYN layout. */
#define TCP_LEN_BARE WIRE_TCP_HDR
#define TCP_LEN_NOP_NOP_TS (WIRE_TCP_HDR + OPTLEN_NOP_NOP_TS)
#define TCP_LEN_SYN_LAYOUT (WIRE_TCP_HDR + SYN_LAYOUT_LEN)

__attribute__((always_inline)) static inline uint64_t tcp_sum_hdr(uint64_t addrs,
								  const uint8_t *tcp,
								  size_t tcp_len)
{
	switch (tcp_len) {
	case TCP_LEN_BARE:
		return tcp_sum(addrs, tcp, TCP_LEN_BARE);
	case TCP_LEN_NOP_NOP_TS:
		return tcp_sum(addrs, tcp, TCP_LEN_NOP_NOP_TS);
	case TCP_LEN_SYN_LAYOUT:
		return tcp_sum(addrs, tcp, TCP_LEN_SYN_LAYOUT);
	default:
		return tcp_sum(addrs, tcp, tcp_len);
	}
}

/* The value for the checksum field when that field is zero in tcp. */
__attribute__((always_inline)) static inline uint16_t tcp_csum_from(uint64_t addrs,
								    const uint8_t *tcp, size_t tcp_len)
{
	return csum_field(tcp_sum(addrs, tcp, tcp_len));
}

/* Whether a nonzero accumulator over data that carries its checksum is
 * right: its fold is 0xffff exactly when it is a multiple of 0xffff (2^16
 * is 1 modulo 0xffff, so folding keeps the value modulo 0xffff, and the
 * fold of a nonzero sum is never 0). The compiler tests divisibility by a
 * constant with one multiplication, cheaper than folding. */
static inline bool csum_verifies(uint64_t acc)
{
	return acc % CSUM_MASK == 0;
}

uint16_t wire_tcp_csum(uint8_t family, const uint8_t *src, const uint8_t *dst, const uint8_t *tcp,
		       size_t tcp_len)
{
	return tcp_csum_from(csum_addrs(family, src, dst), tcp, tcp_len);
}

/* ---------------------------------------------------------------------------
 * TCP options
 */

static wire_err opt_sack(const uint8_t *p, uint8_t olen, wire_opts *out)
{
	unsigned n = (unsigned)(olen - OPT_HDR) / OPTLEN_SACK_BLOCK;

	/* RFC 2018 section 3: 2 + 8n bytes, and at most 4 blocks fit. */
	if (olen < OPT_HDR + OPTLEN_SACK_BLOCK || (olen - OPT_HDR) % OPTLEN_SACK_BLOCK ||
	    n > WIRE_MAX_SACK_BLOCKS)
		return WIRE_ERR_TCP_OPT_BAD;
	p += OPT_HDR;
	for (unsigned i = 0; i < n; i++, p += OPTLEN_SACK_BLOCK) {
		out->sack[i][0] = wire_get32(p);
		out->sack[i][1] = wire_get32(p + SACK_RIGHT_EDGE);
	}
	out->sack_count = (uint8_t)n;
	out->present |= WIRE_HAS_SACK;
	return WIRE_OK;
}

/* A Fast Open cookie of clen bytes at c; clen 0 is a cookie request. Cookies
 * are 4..16 bytes and, as Linux insists, of even length (RFC 7413 4.1.1). */
static wire_err opt_fo_cookie(const uint8_t *c, unsigned clen, uint16_t bit, wire_opts *out)
{
	if (clen && (clen < FO_COOKIE_MIN || clen > WIRE_FO_COOKIE_MAX || clen % 2))
		return WIRE_ERR_TCP_OPT_BAD;
	memcpy(out->fo_cookie, c, clen);
	out->fo_len = (uint8_t)clen;
	out->present |= bit;
	return WIRE_OK;
}

/* Kind 254 is shared by experiments (RFC 6994); only the Fast Open one is
 * ours, the others are skipped like unknown kinds. */
static wire_err opt_exp(const uint8_t *p, uint8_t olen, wire_opts *out)
{
	if (olen < OPTLEN_EXP_HDR || wire_get16(p + OPT_HDR) != WIRE_FASTOPEN_MAGIC)
		return WIRE_OK;
	return opt_fo_cookie(p + OPTLEN_EXP_HDR, olen - OPTLEN_EXP_HDR, WIRE_HAS_FOEXP, out);
}

/* One option of known total length olen (>= 2, within the area) at p. */
static wire_err opt_one(const uint8_t *p, uint8_t olen, wire_opts *out)
{
	switch (p[0]) {
	case WIRE_OPT_MSS:
		if (olen != WIRE_OPTLEN_MSS)
			return WIRE_ERR_TCP_OPT_BAD;
		out->mss = wire_get16(p + OPT_HDR);
		out->present |= WIRE_HAS_MSS;
		return WIRE_OK;
	case WIRE_OPT_WSCALE:
		if (olen != WIRE_OPTLEN_WSCALE)
			return WIRE_ERR_TCP_OPT_BAD;
		out->wscale = p[OPT_HDR];
		out->present |= WIRE_HAS_WSCALE;
		return WIRE_OK;
	case WIRE_OPT_SACKOK:
		if (olen != WIRE_OPTLEN_SACKOK)
			return WIRE_ERR_TCP_OPT_BAD;
		out->present |= WIRE_HAS_SACKOK;
		return WIRE_OK;
	case WIRE_OPT_TS:
		if (olen != WIRE_OPTLEN_TS)
			return WIRE_ERR_TCP_OPT_BAD;
		out->ts_val = wire_get32(p + OPT_TS_VAL);
		out->ts_ecr = wire_get32(p + OPT_TS_ECR);
		out->present |= WIRE_HAS_TS;
		return WIRE_OK;
	case WIRE_OPT_SACK:
		return opt_sack(p, olen, out);
	case WIRE_OPT_MD5:
		if (olen != OPTLEN_MD5)
			return WIRE_ERR_TCP_OPT_BAD;
		out->present |= WIRE_HAS_MD5;
		return WIRE_OK;
	case WIRE_OPT_FASTOPEN:
		return opt_fo_cookie(p + OPT_HDR, olen - OPT_HDR, WIRE_HAS_FO, out);
	case WIRE_OPT_EXP:
		return opt_exp(p, olen, out);
	default:
		return WIRE_OK; /* unknown kinds are skipped by their length */
	}
}

/* RFC 7323 Appendix A recommends NOP, NOP, TS for every segment after the
 * SYN; most segments of a connection carry exactly that. Its four kind and
 * length bytes are compared as one word. */
static bool opt_is_nop_nop_ts(const uint8_t *opt, size_t len)
{
	static const uint8_t want[TCP_WORD] = {WIRE_OPT_NOP, WIRE_OPT_NOP, WIRE_OPT_TS,
					       WIRE_OPTLEN_TS};

	return len == OPTLEN_NOP_NOP_TS && csum_load32(opt) == csum_load32(want);
}

/* Linux's SYN and SYN-ACK layout (SYN_LAYOUT_* above), 20 bytes. The kinds
 * and lengths are compared word by word under a mask that hides the
 * values. */
static bool opt_is_syn_layout(const uint8_t *opt, size_t len)
{
	static const uint8_t want[SYN_LAYOUT_LEN] = {
	    WIRE_OPT_MSS, WIRE_OPTLEN_MSS, 0, 0, WIRE_OPT_SACKOK, WIRE_OPTLEN_SACKOK,
	    WIRE_OPT_TS, WIRE_OPTLEN_TS, 0, 0, 0, 0, 0, 0, 0, 0,
	    WIRE_OPT_NOP, WIRE_OPT_WSCALE, WIRE_OPTLEN_WSCALE, 0};
	static const uint8_t mask[SYN_LAYOUT_LEN] = {
	    0xff, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0};

	return len == SYN_LAYOUT_LEN &&
	       (csum_load64(opt) & csum_load64(mask)) == csum_load64(want) &&
	       (csum_load32(opt + SYN_LAYOUT_TAIL) & csum_load32(mask + SYN_LAYOUT_TAIL)) ==
		   csum_load32(want + SYN_LAYOUT_TAIL);
}

/* The general walk over an option list into a zeroed out. */
static wire_err opt_walk(const uint8_t *opt, size_t len, wire_opts *out)
{
	size_t i = 0;

	while (i < len) {
		uint8_t olen;
		wire_err err;

		if (opt[i] == WIRE_OPT_EOL)
			break;
		if (opt[i] == WIRE_OPT_NOP) {
			i++;
			continue;
		}
		/* RFC 9293 section 3.1: length covers kind and length bytes. */
		if (len - i < OPT_HDR)
			return WIRE_ERR_TCP_OPT_LEN;
		olen = opt[i + 1];
		if (olen < OPT_HDR || olen > len - i)
			return WIRE_ERR_TCP_OPT_LEN;
		err = opt_one(opt + i, olen, out);
		if (err != WIRE_OK)
			return err;
		i += olen;
	}
	return WIRE_OK;
}

/* wire_parse_opts, inlined into the parser: no options (RST, a bare ACK)
 * and the two layouts nearly every other segment carries are read without
 * the walk; each fills out exactly as the walk would. */
__attribute__((always_inline)) static inline wire_err opts_parse(const uint8_t *opt, size_t len,
								 wire_opts *out)
{
	memset(out, 0, sizeof(*out));
	if (len == 0)
		return WIRE_OK;
	if (opt_is_nop_nop_ts(opt, len)) {
		out->ts_val = wire_get32(opt + NOP_NOP + OPT_TS_VAL);
		out->ts_ecr = wire_get32(opt + NOP_NOP + OPT_TS_ECR);
		out->present = WIRE_HAS_TS;
		return WIRE_OK;
	}
	if (opt_is_syn_layout(opt, len)) {
		out->mss = wire_get16(opt + SYN_LAYOUT_MSS);
		out->ts_val = wire_get32(opt + SYN_LAYOUT_TS + OPT_TS_VAL);
		out->ts_ecr = wire_get32(opt + SYN_LAYOUT_TS + OPT_TS_ECR);
		out->wscale = opt[SYN_LAYOUT_WSCALE];
		out->present = WIRE_HAS_MSS | WIRE_HAS_SACKOK | WIRE_HAS_TS | WIRE_HAS_WSCALE;
		return WIRE_OK;
	}
	return opt_walk(opt, len, out);
}

wire_err wire_parse_opts(const uint8_t *opt, size_t len, wire_opts *out)
{
	return opts_parse(opt, len, out);
}

/* ---------------------------------------------------------------------------
 * Parsing: IP, then TCP. Each IP version's parser ends in parse_tcp, inlined,
 * so that the offsets and the checksum accumulator stay in registers.
 */

/* TCP (RFC 9293 section 3.1) in [tcp, tcp + tcp_len); addrs is the
 * pseudo-header's addresses as a checksum accumulator. */
__attribute__((always_inline)) static inline wire_err
parse_tcp(const uint8_t *tcp, size_t tcp_len, unsigned flags, uint64_t addrs, wire_seg *seg)
{
	size_t doff;

	if (tcp_len < WIRE_TCP_HDR)
		return WIRE_ERR_TCP_TRUNCATED;
	doff = (size_t)(tcp[TCP_OFF_DOFF] >> TCP_DOFF_SHIFT) * TCP_WORD;
	if (doff < TCP_DOFF_MIN * TCP_WORD)
		return WIRE_ERR_TCP_DOFF_SHORT;
	if (doff > tcp_len)
		return WIRE_ERR_TCP_DOFF_LONG;
	if ((flags & WIRE_PARSE_VERIFY_CSUM) && !csum_verifies(tcp_sum_hdr(addrs, tcp, tcp_len)))
		return WIRE_ERR_TCP_CHECKSUM;

	pair16_swap((uint8_t *)seg + offsetof(wire_seg, sport), tcp + TCP_OFF_SPORT);
	pair32_swap((uint8_t *)seg + offsetof(wire_seg, seq), tcp + TCP_OFF_SEQ);
	seg->flags = tcp[TCP_OFF_FLAGS];
	seg->win = wire_get16(tcp + TCP_OFF_WIN);
	seg->urg = wire_get16(tcp + TCP_OFF_URG);
	seg->opt = tcp + WIRE_TCP_HDR;
	seg->opt_len = (uint8_t)(doff - WIRE_TCP_HDR);
	seg->payload = tcp + doff;
	seg->payload_len = (uint32_t)(tcp_len - doff);
	return opts_parse(tcp + WIRE_TCP_HDR, doff - WIRE_TCP_HDR, &seg->opts);
}

/* ihl is the header length from pkt[0], passed in so that it is a constant
 * in the common case (see wire_parse). */
__attribute__((always_inline)) static inline wire_err
parse_ipv4(const uint8_t *pkt, size_t len, unsigned flags, wire_seg *seg, size_t ihl)
{
	size_t tot;
	uint16_t frag;
	uint64_t addrs;
	uint32_t src, dst;

	if (len < WIRE_IPV4_HDR)
		return WIRE_ERR_IP_TRUNCATED;
	if (ihl < IPV4_IHL_MIN * TCP_WORD || ihl > len)
		return WIRE_ERR_IP_HEADER;
	/* The addresses are summed once, for the header checksum and for the
	 * TCP pseudo-header. A header that carries its correct checksum sums
	 * to 0xffff in either byte order (never to 0: the version nibble is
	 * not zero). */
	addrs = csum_load64(pkt + IPV4_OFF_SRC);
	if (flags & WIRE_PARSE_VERIFY_CSUM) {
		uint64_t acc = csum_add64(csum_add64(addrs, csum_load64(pkt)),
					  csum_load32(pkt + IPV4_OFF_TTL));

		if (ihl > WIRE_IPV4_HDR)
			acc = csum_acc(acc, pkt + WIRE_IPV4_HDR, ihl - WIRE_IPV4_HDR);
		if (!csum_verifies(acc))
			return WIRE_ERR_IP_CHECKSUM;
	}
	/* Bytes past the total length are link-layer padding (e.g. Ethernet's
	 * 60-byte minimum) and are ignored. */
	tot = wire_get16(pkt + IPV4_OFF_TOTLEN);
	if (tot > len || tot < ihl)
		return WIRE_ERR_IP_LENGTH;
	frag = wire_get16(pkt + IPV4_OFF_FRAG);
	if (frag & (IPV4_FLAG_MF | IPV4_FRAG_OFF_MASK))
		return WIRE_ERR_IP_FRAGMENT;
	if (pkt[IPV4_OFF_PROTO] != WIRE_IPPROTO_TCP)
		return WIRE_ERR_NOT_TCP;

	seg->family = IPV4_VERSION;
	seg->ttl = pkt[IPV4_OFF_TTL];
	seg->tos = pkt[IPV4_OFF_TOS];
	seg->ip_id = wire_get16(pkt + IPV4_OFF_ID);
	seg->df = (frag & IPV4_FLAG_DF) != 0;
	/* Each address zero-padded to 16 bytes, in two 8-byte stores. */
	memcpy(&src, pkt + IPV4_OFF_SRC, IPV4_ADDR_LEN);
	memcpy(&dst, pkt + IPV4_OFF_DST, IPV4_ADDR_LEN);
	{
		const uint64_t zero = 0, s64 = src, d64 = dst;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		const uint64_t sw = s64 << 32, dw = d64 << 32;
#else
		const uint64_t sw = s64, dw = d64;
#endif
		memcpy(seg->src, &sw, sizeof sw);
		memcpy(seg->src + 8, &zero, sizeof zero);
		memcpy(seg->dst, &dw, sizeof dw);
		memcpy(seg->dst + 8, &zero, sizeof zero);
	}
	return parse_tcp(pkt + ihl, tot - ihl, flags, addrs, seg);
}

/* Walks the extension headers from *off; leaves *off at the upper layer and
 * returns its protocol number through *nh. */
static wire_err skip_ipv6_ext(const uint8_t *pkt, size_t *off, size_t end, uint8_t *nh)
{
	while (*nh == IPV6_NH_HOPOPTS || *nh == IPV6_NH_ROUTING || *nh == IPV6_NH_DSTOPTS) {
		const uint8_t *h = pkt + *off;
		size_t hlen;

		/* RFC 8200 section 4.3: hop-by-hop must come first. */
		if (*nh == IPV6_NH_HOPOPTS && *off != WIRE_IPV6_HDR)
			return WIRE_ERR_IP_HEADER;
		if (end - *off < IPV6_EXT_MIN)
			return WIRE_ERR_IP_HEADER;
		hlen = ((size_t)h[1] + 1) * IPV6_EXT_UNIT;
		if (hlen > end - *off)
			return WIRE_ERR_IP_HEADER;
		*nh = h[0];
		*off += hlen;
	}
	if (*nh == IPV6_NH_FRAGMENT)
		return WIRE_ERR_IP_FRAGMENT;
	if (*nh != WIRE_IPPROTO_TCP)
		return WIRE_ERR_NOT_TCP;
	return WIRE_OK;
}

/* Kept out of line: its extension-header walk takes the offset by address,
 * which would otherwise push the IPv4 path's offsets to the stack too. */
__attribute__((noinline)) static wire_err parse_ipv6(const uint8_t *pkt, size_t len,
						     unsigned flags, wire_seg *seg)
{
	size_t off = WIRE_IPV6_HDR, end;
	uint8_t nh;
	wire_err err;

	if (len < WIRE_IPV6_HDR)
		return WIRE_ERR_IP_TRUNCATED;
	end = WIRE_IPV6_HDR + (size_t)wire_get16(pkt + IPV6_OFF_PLEN);
	if (end > len)
		return WIRE_ERR_IP_LENGTH;
	nh = pkt[IPV6_OFF_NEXT];
	err = skip_ipv6_ext(pkt, &off, end, &nh);
	if (err != WIRE_OK)
		return err;

	seg->family = IPV6_VERSION;
	seg->ttl = pkt[IPV6_OFF_HOPS];
	/* Traffic class straddles bytes 0 and 1 (RFC 8200 section 3). */
	seg->tos = (uint8_t)((pkt[0] & 0x0f) << 4 | pkt[1] >> 4);
	/* IPv6 has no identification or DF in its fixed header. */
	seg->ip_id = 0;
	seg->df = false;
	memcpy(seg->src, pkt + IPV6_OFF_SRC, IPV6_ADDR_LEN);
	memcpy(seg->dst, pkt + IPV6_OFF_DST, IPV6_ADDR_LEN);
	return parse_tcp(pkt + off, end - off, flags,
			 csum_short(0, pkt + IPV6_OFF_SRC, 2 * IPV6_ADDR_LEN), seg);
}

/* IPv4 with any header and TCP length; out of line so that its calls (the
 * checksum loop) do not make wire_parse's common path set up a frame. */
__attribute__((noinline)) static wire_err parse_ipv4_any(const uint8_t *pkt, size_t len,
							 unsigned flags, wire_seg *seg)
{
	return parse_ipv4(pkt, len, flags, seg, (size_t)(pkt[0] & 0x0f) * TCP_WORD);
}

wire_err wire_parse(const uint8_t *pkt, size_t len, unsigned flags, wire_seg *seg)
{
	if (len < 1)
		return WIRE_ERR_IP_TRUNCATED;
	/* Version 4 with a 20-byte header and no more than a few bytes of
	 * payload, as nearly every IPv4 packet but bulk data: with the header
	 * length a constant its checks and the header checksum's sum of
	 * options fold away, and with the TCP length below CSUM_SHORT
	 * (tot <= len) the TCP checksum needs no loop. That path calls nothing
	 * (but the tail call of an uncommon option walk), so the compiler
	 * keeps it in scratch registers with no frame to set up. */
	if (pkt[0] == (IPV4_VERSION << 4 | IPV4_IHL_MIN) && len < WIRE_IPV4_HDR + CSUM_SHORT)
		return parse_ipv4(pkt, len, flags, seg, WIRE_IPV4_HDR);
	switch (pkt[0] >> 4) {
	case IPV4_VERSION:
		return parse_ipv4_any(pkt, len, flags, seg);
	case IPV6_VERSION:
		return parse_ipv6(pkt, len, flags, seg);
	default:
		return WIRE_ERR_IP_VERSION;
	}
}

/* ---------------------------------------------------------------------------
 * Option writers
 */

size_t wire_put_nop(uint8_t *p)
{
	p[0] = WIRE_OPT_NOP;
	return 1;
}

size_t wire_put_eol(uint8_t *p)
{
	p[0] = WIRE_OPT_EOL;
	return 1;
}

size_t wire_put_mss(uint8_t *p, uint16_t mss)
{
	p[0] = WIRE_OPT_MSS;
	p[1] = WIRE_OPTLEN_MSS;
	wire_set16(p + OPT_HDR, mss);
	return WIRE_OPTLEN_MSS;
}

size_t wire_put_wscale(uint8_t *p, uint8_t shift)
{
	p[0] = WIRE_OPT_WSCALE;
	p[1] = WIRE_OPTLEN_WSCALE;
	p[OPT_HDR] = shift;
	return WIRE_OPTLEN_WSCALE;
}

size_t wire_put_sackok(uint8_t *p)
{
	p[0] = WIRE_OPT_SACKOK;
	p[1] = WIRE_OPTLEN_SACKOK;
	return WIRE_OPTLEN_SACKOK;
}

size_t wire_put_ts(uint8_t *p, uint32_t val, uint32_t ecr)
{
	p[0] = WIRE_OPT_TS;
	p[1] = WIRE_OPTLEN_TS;
	wire_set32(p + OPT_TS_VAL, val);
	wire_set32(p + OPT_TS_ECR, ecr);
	return WIRE_OPTLEN_TS;
}

/* Writes at most WIRE_MAX_SACK_BLOCKS blocks; more would not fit. */
size_t wire_put_sack(uint8_t *p, const uint32_t (*blocks)[2], unsigned n)
{
	size_t len;

	if (n > WIRE_MAX_SACK_BLOCKS)
		n = WIRE_MAX_SACK_BLOCKS;
	len = OPT_HDR + (size_t)n * OPTLEN_SACK_BLOCK;
	p[0] = WIRE_OPT_SACK;
	p[1] = (uint8_t)len;
	for (unsigned i = 0; i < n; i++) {
		wire_set32(p + OPT_HDR + i * OPTLEN_SACK_BLOCK, blocks[i][0]);
		wire_set32(p + OPT_HDR + i * OPTLEN_SACK_BLOCK + SACK_RIGHT_EDGE, blocks[i][1]);
	}
	return len;
}

/* len 0 writes a cookie request. A cookie longer than WIRE_FO_COOKIE_MAX is
 * cut to that size. */
size_t wire_put_fastopen(uint8_t *p, const uint8_t *cookie, uint8_t len, bool experimental)
{
	size_t hdr = experimental ? OPTLEN_FOEXP_REQ : OPTLEN_FO_REQ;

	if (len > WIRE_FO_COOKIE_MAX)
		len = WIRE_FO_COOKIE_MAX;
	p[0] = experimental ? WIRE_OPT_EXP : WIRE_OPT_FASTOPEN;
	p[1] = (uint8_t)(hdr + len);
	if (experimental)
		wire_set16(p + OPT_HDR, WIRE_FASTOPEN_MAGIC);
	if (len)
		memcpy(p + hdr, cookie, len);
	return hdr + len;
}

/* ---------------------------------------------------------------------------
 * Building
 */

static size_t opt_padded(const wire_seg *seg)
{
	return ((size_t)seg->opt_len + TCP_WORD - 1) & ~(size_t)(TCP_WORD - 1);
}

size_t wire_build_len(const wire_seg *seg)
{
	size_t ip, tcp;

	if (seg->opt_len > WIRE_TCP_MAX_OPTS)
		return 0;
	if (seg->family == IPV4_VERSION)
		ip = WIRE_IPV4_HDR;
	else if (seg->family == IPV6_VERSION)
		ip = WIRE_IPV6_HDR;
	else
		return 0;
	tcp = WIRE_TCP_HDR + opt_padded(seg) + seg->payload_len;
	/* Both length fields are 16 bits: IPv4 counts its own header, the IPv6
	 * payload length does not. */
	if (seg->family == IPV4_VERSION ? ip + tcp > IPV4_MAX_TOTLEN : tcp > IPV6_MAX_PLEN)
		return 0;
	return ip + tcp;
}

/* Writes the IPv4 header and returns its addresses as a checksum
 * accumulator, which the TCP pseudo-header shares: the header checksum sums
 * only its first 12 bytes besides. */
__attribute__((always_inline)) static inline uint64_t build_ipv4(uint8_t *h, const wire_seg *seg,
								   size_t total)
{
	uint64_t addrs;

	h[0] = IPV4_VERSION << 4 | IPV4_IHL_MIN;
	h[IPV4_OFF_TOS] = seg->tos;
	wire_set16(h + IPV4_OFF_TOTLEN, (uint16_t)total);
	wire_set16(h + IPV4_OFF_ID, seg->ip_id);
	wire_set16(h + IPV4_OFF_FRAG, seg->df ? IPV4_FLAG_DF : 0);
	h[IPV4_OFF_TTL] = seg->ttl;
	h[IPV4_OFF_PROTO] = WIRE_IPPROTO_TCP;
	wire_set16(h + IPV4_OFF_CSUM, 0);
	memcpy(h + IPV4_OFF_SRC, seg->src, IPV4_ADDR_LEN);
	memcpy(h + IPV4_OFF_DST, seg->dst, IPV4_ADDR_LEN);
	addrs = csum_load64(h + IPV4_OFF_SRC);
	wire_set16(h + IPV4_OFF_CSUM,
		   csum_field(csum_add64(csum_add64(addrs, csum_load64(h)),
					 csum_load32(h + IPV4_OFF_TTL))));
	return addrs;
}

static uint64_t build_ipv6(uint8_t *h, const wire_seg *seg, size_t total)
{
	/* Version, traffic class, and a zero flow label (RFC 8200 section 3). */
	h[0] = (uint8_t)(IPV6_VERSION << 4 | seg->tos >> 4);
	h[1] = (uint8_t)(seg->tos << 4);
	h[2] = 0;
	h[3] = 0;
	wire_set16(h + IPV6_OFF_PLEN, (uint16_t)(total - WIRE_IPV6_HDR));
	h[IPV6_OFF_NEXT] = WIRE_IPPROTO_TCP;
	h[IPV6_OFF_HOPS] = seg->ttl;
	memcpy(h + IPV6_OFF_SRC, seg->src, IPV6_ADDR_LEN);
	memcpy(h + IPV6_OFF_DST, seg->dst, IPV6_ADDR_LEN);
	return csum_acc(0, h + IPV6_OFF_SRC, 2 * IPV6_ADDR_LEN);
}

/* The fixed 20 bytes of the TCP header, with a zero checksum field. */
static inline void build_tcp_fixed(uint8_t *t, const wire_seg *seg, size_t olen)
{
	pair16_swap(t + TCP_OFF_SPORT, (const uint8_t *)seg + offsetof(wire_seg, sport));
	pair32_swap(t + TCP_OFF_SEQ, (const uint8_t *)seg + offsetof(wire_seg, seq));
	/* The data offset in words, in the high nibble: olen is a multiple
	 * of 4, so (bytes / 4) << 4 is bytes << 2. */
	t[TCP_OFF_DOFF] = (uint8_t)((WIRE_TCP_HDR + olen) << (TCP_DOFF_SHIFT - 2));
	t[TCP_OFF_FLAGS] = seg->flags;
	/* The window, then the zero checksum field. */
	wire_set32(t + TCP_OFF_WIN, (uint32_t)seg->win << 16);
	wire_set16(t + TCP_OFF_URG, seg->urg);
}

static void build_tcp(uint8_t *t, const wire_seg *seg, size_t olen, size_t tcp_len, uint64_t addrs)
{
	build_tcp_fixed(t, seg, olen);
	if (olen) {
		/* Padding with EOL bytes keeps the header a whole number of
		 * words: zero the last word, then copy the options over it. */
		static const uint8_t eol_word[TCP_WORD] = {WIRE_OPT_EOL, WIRE_OPT_EOL, WIRE_OPT_EOL,
							   WIRE_OPT_EOL};

		memcpy(t + WIRE_TCP_HDR + olen - TCP_WORD, eol_word, TCP_WORD);
		memcpy(t + WIRE_TCP_HDR, seg->opt, seg->opt_len);
	}
	if (seg->payload_len)
		memcpy(t + WIRE_TCP_HDR + olen, seg->payload, seg->payload_len);
	wire_set16(t + TCP_OFF_CSUM, tcp_csum_from(addrs, t, tcp_len));
}

/* Any segment wire_build takes. The checks are wire_build_len's. */
__attribute__((noinline)) static size_t build_any(uint8_t *buf, size_t cap, const wire_seg *seg)
{
	size_t olen, tcp_len, total;
	uint64_t addrs;
	uint8_t *t;

	if (seg->opt_len > WIRE_TCP_MAX_OPTS)
		return 0;
	olen = opt_padded(seg);
	tcp_len = WIRE_TCP_HDR + olen + seg->payload_len;
	if (seg->family == IPV4_VERSION) {
		total = WIRE_IPV4_HDR + tcp_len;
		if (total > IPV4_MAX_TOTLEN || total > cap)
			return 0;
		addrs = build_ipv4(buf, seg, total);
		t = buf + WIRE_IPV4_HDR;
	} else if (seg->family == IPV6_VERSION) {
		total = WIRE_IPV6_HDR + tcp_len;
		if (tcp_len > IPV6_MAX_PLEN || total > cap)
			return 0;
		addrs = build_ipv6(buf, seg, total);
		t = buf + WIRE_IPV6_HDR;
	} else {
		return 0;
	}
	build_tcp(t, seg, olen, tcp_len, addrs);
	return total;
}

/*
 * buf must not overlap the memory seg->opt and seg->payload point to.
 *
 * Most segments are IPv4 without payload (handshake, bare ACKs, resets) and
 * carry no options or one of the two layouts the parser also knows (NOP,
 * NOP, TS and the SYN's): whole words, so no padding, copied at a fixed size,
 * and a header short enough for csum_short. That path calls nothing, which
 * lets the compiler keep it in scratch registers with no frame to set up.
 * Everything else goes to build_any, which gives the same bytes for these
 * too. The lengths cannot overflow here (at most 80 bytes).
 */
size_t wire_build(uint8_t *buf, size_t cap, const wire_seg *seg)
{
	size_t opt_len = seg->opt_len, tcp_len, total;
	uint64_t addrs;
	uint8_t *t = buf + WIRE_IPV4_HDR;

	if (seg->family != IPV4_VERSION || seg->payload_len != 0 ||
	    (opt_len != 0 && opt_len != OPTLEN_NOP_NOP_TS && opt_len != SYN_LAYOUT_LEN))
		return build_any(buf, cap, seg);
	tcp_len = WIRE_TCP_HDR + opt_len;
	total = WIRE_IPV4_HDR + tcp_len;
	if (total > cap)
		return 0;
	addrs = build_ipv4(buf, seg, total);
	build_tcp_fixed(t, seg, opt_len);
	if (opt_len == OPTLEN_NOP_NOP_TS)
		memcpy(t + WIRE_TCP_HDR, seg->opt, OPTLEN_NOP_NOP_TS);
	else if (opt_len == SYN_LAYOUT_LEN)
		memcpy(t + WIRE_TCP_HDR, seg->opt, SYN_LAYOUT_LEN);
	wire_set16(t + TCP_OFF_CSUM,
		   csum_field(tcp_sum_hdr(addrs, t, tcp_len)));
	return total;
}

/* ---------------------------------------------------------------------------
 * ICMP errors about our segments
 */

#define ICMP_HDR 8      /* type, code, checksum, 4 more bytes (RFC 792) */
#define ICMP_OFF_MTU4 6 /* next-hop MTU in fragmentation needed (RFC 1191) */
#define ICMP_OFF_MTU6 4 /* MTU in Packet Too Big (RFC 4443 3.2) */
#define QUOTE_TCP_MIN 8 /* ports and sequence number */

static bool icmp_is_error(uint8_t family, uint8_t type)
{
	if (family == IPV4_VERSION)
		return type == WIRE_ICMP_DEST_UNREACH || type == WIRE_ICMP_TIME_EXCEEDED ||
		       type == WIRE_ICMP_PARAMPROB;
	return type == WIRE_ICMP6_DEST_UNREACH || type == WIRE_ICMP6_PKT_TOO_BIG ||
	       type == WIRE_ICMP6_TIME_EXCEEDED || type == WIRE_ICMP6_PARAMPROB;
}

/* The quoted packet: an IP header of ours with TCP inside, cut short. */
static wire_err icmp_quote(const uint8_t *q, size_t qlen, uint8_t family, wire_icmp *out)
{
	size_t ihl;

	if (family == IPV4_VERSION) {
		if (qlen < WIRE_IPV4_HDR || q[0] >> 4 != IPV4_VERSION)
			return WIRE_ERR_NOT_TCP;
		ihl = (size_t)(q[0] & 0x0f) * TCP_WORD;
		if (ihl < IPV4_IHL_MIN * TCP_WORD || qlen < ihl + QUOTE_TCP_MIN ||
		    q[IPV4_OFF_PROTO] != WIRE_IPPROTO_TCP)
			return WIRE_ERR_NOT_TCP;
		memcpy(out->q_src, q + IPV4_OFF_SRC, IPV4_ADDR_LEN);
		memcpy(out->q_dst, q + IPV4_OFF_DST, IPV4_ADDR_LEN);
	} else {
		ihl = WIRE_IPV6_HDR;
		if (qlen < ihl + QUOTE_TCP_MIN || q[0] >> 4 != IPV6_VERSION ||
		    q[IPV6_OFF_NEXT] != WIRE_IPPROTO_TCP)
			return WIRE_ERR_NOT_TCP;
		memcpy(out->q_src, q + IPV6_OFF_SRC, IPV6_ADDR_LEN);
		memcpy(out->q_dst, q + IPV6_OFF_DST, IPV6_ADDR_LEN);
	}
	out->q_sport = wire_get16(q + ihl + TCP_OFF_SPORT);
	out->q_dport = wire_get16(q + ihl + TCP_OFF_DPORT);
	out->q_seq = wire_get32(q + ihl + TCP_OFF_SEQ);
	return WIRE_OK;
}

/* ICMPv6's checksum covers a pseudo-header (RFC 4443 2.3); ICMPv4's only
 * the message. Both sum to 0xffff over a correct message. */
static bool icmp_csum_ok(uint8_t family, const uint8_t *ip, const uint8_t *icmp, size_t len)
{
	uint64_t acc;
	uint32_t sum;

	if (family == IPV4_VERSION)
		return csum_fold16(csum_acc(0, icmp, len)) == CSUM_MASK;
	acc = csum_acc(0, ip + IPV6_OFF_SRC, IPV6_ADDR_LEN);
	acc = csum_acc(acc, ip + IPV6_OFF_DST, IPV6_ADDR_LEN);
	acc = csum_acc(acc, icmp, len);
	sum = WIRE_IPPROTO_ICMPV6 + (uint32_t)(len >> CSUM_FOLD_BITS) + (uint32_t)(len & CSUM_MASK);
	return wire_csum_fold(csum_merge(sum, acc)) == 0;
}

/* Finds the ICMP message in an IPv4 or IPv6 packet: [*off, *end). */
static wire_err icmp_locate(const uint8_t *pkt, size_t len, wire_icmp *out, size_t *off,
			    size_t *end)
{
	uint8_t proto;

	if (pkt[0] >> 4 == IPV4_VERSION) {
		if (len < WIRE_IPV4_HDR)
			return WIRE_ERR_IP_TRUNCATED;
		*off = (size_t)(pkt[0] & 0x0f) * TCP_WORD;
		*end = wire_get16(pkt + IPV4_OFF_TOTLEN);
		if (*off < IPV4_IHL_MIN * TCP_WORD || *off > len)
			return WIRE_ERR_IP_HEADER;
		if (*end > len || *end < *off)
			return WIRE_ERR_IP_LENGTH;
		if (wire_get16(pkt + IPV4_OFF_FRAG) & (IPV4_FLAG_MF | IPV4_FRAG_OFF_MASK))
			return WIRE_ERR_IP_FRAGMENT;
		memcpy(out->src, pkt + IPV4_OFF_SRC, IPV4_ADDR_LEN);
		out->family = IPV4_VERSION;
		return pkt[IPV4_OFF_PROTO] == WIRE_IPPROTO_ICMP ? WIRE_OK : WIRE_ERR_NOT_TCP;
	}
	if (pkt[0] >> 4 != IPV6_VERSION)
		return WIRE_ERR_IP_VERSION;
	if (len < WIRE_IPV6_HDR)
		return WIRE_ERR_IP_TRUNCATED;
	*end = WIRE_IPV6_HDR + (size_t)wire_get16(pkt + IPV6_OFF_PLEN);
	if (*end > len)
		return WIRE_ERR_IP_LENGTH;
	*off = WIRE_IPV6_HDR;
	proto = pkt[IPV6_OFF_NEXT];
	/* skip_ipv6_ext calls anything but TCP "not TCP": here that is fine. */
	wire_err err = skip_ipv6_ext(pkt, off, *end, &proto);
	if (err != WIRE_OK && err != WIRE_ERR_NOT_TCP)
		return err;
	memcpy(out->src, pkt + IPV6_OFF_SRC, IPV6_ADDR_LEN);
	out->family = IPV6_VERSION;
	return proto == WIRE_IPPROTO_ICMPV6 ? WIRE_OK : WIRE_ERR_NOT_TCP;
}

wire_err wire_parse_icmp(const uint8_t *pkt, size_t len, unsigned flags, wire_icmp *out)
{
	size_t off = 0, end = 0;
	const uint8_t *icmp;
	wire_err err;

	memset(out, 0, sizeof(*out));
	if (len < 1)
		return WIRE_ERR_IP_TRUNCATED;
	if ((err = icmp_locate(pkt, len, out, &off, &end)) != WIRE_OK)
		return err;
	if (end - off < ICMP_HDR)
		return WIRE_ERR_NOT_TCP;
	icmp = pkt + off;
	if ((flags & WIRE_PARSE_VERIFY_CSUM) && !icmp_csum_ok(out->family, pkt, icmp, end - off))
		return WIRE_ERR_IP_CHECKSUM;
	out->type = icmp[0];
	out->code = icmp[1];
	if (!icmp_is_error(out->family, out->type))
		return WIRE_ERR_NOT_TCP;
	out->mtu = out->family == IPV4_VERSION ? wire_get16(icmp + ICMP_OFF_MTU4)
					       : wire_get32(icmp + ICMP_OFF_MTU6);
	return icmp_quote(icmp + ICMP_HDR, end - off - ICMP_HDR, out->family, out);
}
