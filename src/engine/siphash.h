/* siphash.h — SipHash (Aumasson and Bernstein) over whole 64-bit words and
 * a short tail.
 *
 * Everything the engine hashes is a 4-tuple, which packs into one word of
 * addresses and a 4-byte tail of ports (IPv4: 12 bytes) or four words and
 * the tail (IPv6: 36 bytes), so the byte-oriented loop of the general
 * function is not needed: siphash_tail is exactly SipHash of the 8n bytes
 * the words hold in little-endian order followed by the tail's bytes.
 * Inlined, it costs about half of a general byte-string call, and the ISN
 * and the table run it on every connection (RFC 6528 asks for a strong
 * PRF: SipHash-2-4 there; SipHash-1-3 for the table, where only hash
 * flooding is the threat). */
#ifndef SYNACK_ENGINE_SIPHASH_H
#define SYNACK_ENGINE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t sip_rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

/* Key bytes as SipHash reads them: little-endian 64-bit halves. */
static inline uint64_t sip_load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

#define SIP_ROUND(v0, v1, v2, v3)                                                              \
	do {                                                                                   \
		v0 += v1; v1 = sip_rotl(v1, 13); v1 ^= v0; v0 = sip_rotl(v0, 32);             \
		v2 += v3; v3 = sip_rotl(v3, 16); v3 ^= v2;                                     \
		v0 += v3; v3 = sip_rotl(v3, 21); v3 ^= v0;                                     \
		v2 += v1; v1 = sip_rotl(v1, 17); v1 ^= v2; v2 = sip_rotl(v2, 32);              \
	} while (0)

/* SipHash-c-d under a 16-byte key; c and d are 1 and 3 or 2 and 4, spelled
 * out so the rounds unroll at any optimisation level. */
#define SIP_ROUNDS(c, v0, v1, v2, v3)                                                          \
	do {                                                                                   \
		SIP_ROUND(v0, v1, v2, v3);                                                     \
		if ((c) > 1)                                                                   \
			SIP_ROUND(v0, v1, v2, v3);                                             \
		if ((c) > 2)                                                                   \
			SIP_ROUND(v0, v1, v2, v3);                                             \
		if ((c) > 3)                                                                   \
			SIP_ROUND(v0, v1, v2, v3);                                             \
	} while (0)

#define SIP_KEY_BYTES 16

/* A key as SipHash first expands it: the four state words each message
 * starts from. A key used for every connection keeps this form, which
 * spares each hash the key's loads and the four constants. */
typedef struct sip_state {
	uint64_t v0, v1, v2, v3;
} sip_state;

static inline sip_state sip_init(const uint8_t key[SIP_KEY_BYTES])
{
	const uint64_t k0 = sip_load_le64(key), k1 = sip_load_le64(key + 8);
	sip_state st = {k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
			k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL};

	return st;
}

/* SipHash-c-d, from a key's initial state, of a message of n whole words
 * followed by tail_len (0..7) bytes, held little-endian in the low bytes of
 * tail: SipHash's last block is those bytes with the message length in its
 * top byte. A tuple that fills its last word only partly costs one
 * compression less than one padded to whole words. */
static inline __attribute__((always_inline)) uint64_t
siphash_state_tail(const sip_state *init, const uint64_t *w, size_t n, uint64_t tail,
		   unsigned tail_len, unsigned c, unsigned d)
{
	uint64_t v0 = init->v0, v1 = init->v1, v2 = init->v2, v3 = init->v3;
	const uint64_t last = (uint64_t)(n * sizeof *w + tail_len) << 56 | tail;

	for (size_t i = 0; i < n; i++) {
		v3 ^= w[i];
		SIP_ROUNDS(c, v0, v1, v2, v3);
		v0 ^= w[i];
	}
	v3 ^= last;
	SIP_ROUNDS(c, v0, v1, v2, v3);
	v0 ^= last;
	v2 ^= 0xff;
	SIP_ROUNDS(d, v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/* The same under a 16-byte key. */
static inline __attribute__((always_inline)) uint64_t
siphash_tail(const uint8_t key[16], const uint64_t *w, size_t n, uint64_t tail, unsigned tail_len,
	     unsigned c, unsigned d)
{
	const sip_state init = sip_init(key);

	return siphash_state_tail(&init, w, n, tail, tail_len, c, d);
}

/* SipHash-c-d of n whole words (8n bytes). */
static inline __attribute__((always_inline)) uint64_t
siphash_words(const uint8_t key[16], const uint64_t *w, size_t n, unsigned c, unsigned d)
{
	return siphash_tail(key, w, n, 0, 0, c, d);
}

#endif /* SYNACK_ENGINE_SIPHASH_H */
