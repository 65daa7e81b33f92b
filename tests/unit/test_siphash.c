/* test_siphash.c — the engine's word-wise SipHash (src/engine/siphash.h)
 * against libsodium's byte-wise SipHash-2-4: for messages of whole 64-bit
 * words the two must agree bit for bit, under many keys and lengths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "engine/siphash.h"

#define WORDS_MAX 8
#define KEYS 64

/* The words as SipHash reads a message: little-endian 8-byte groups. */
static void words_to_bytes(const uint64_t *w, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 8; b++)
			out[8 * i + (size_t)b] = (uint8_t)(w[i] >> (8 * b));
}

static void test_matches_libsodium(void **state)
{
	(void)state;
	for (unsigned k = 0; k < KEYS; k++) {
		uint8_t key[crypto_shorthash_siphash24_KEYBYTES];
		uint64_t w[WORDS_MAX];
		uint8_t msg[8 * WORDS_MAX], out[crypto_shorthash_siphash24_BYTES];

		randombytes_buf(key, sizeof key);
		randombytes_buf(w, sizeof w);
		for (size_t n = 0; n <= WORDS_MAX; n++) {
			uint64_t ref = 0;

			words_to_bytes(w, n, msg);
			crypto_shorthash_siphash24(out, msg, 8 * n, key);
			for (int b = 7; b >= 0; b--)
				ref = ref << 8 | out[b];
			assert_true(siphash_words(key, w, n, 2, 4) == ref);
		}
	}
}

/* Messages that end in a partial word: n words and a tail of 0..7 bytes. */
static void test_tail_matches_libsodium(void **state)
{
	(void)state;
	for (unsigned k = 0; k < KEYS; k++) {
		uint8_t key[crypto_shorthash_siphash24_KEYBYTES];
		uint64_t w[WORDS_MAX + 1];
		uint8_t msg[8 * (WORDS_MAX + 1)], out[crypto_shorthash_siphash24_BYTES];

		randombytes_buf(key, sizeof key);
		randombytes_buf(w, sizeof w);
		for (size_t n = 0; n <= WORDS_MAX; n++) {
			for (unsigned t = 0; t < 8; t++) {
				uint64_t tail = t ? w[n] & (~0ULL >> (64 - 8 * t)) : 0;
				uint64_t ref = 0;
				size_t len = 8 * n + t;

				/* The message: n words, then the tail's low t bytes. */
				for (size_t i = 0; i < len; i++)
					msg[i] = (uint8_t)(w[i / 8] >> (8 * (i % 8)));
				crypto_shorthash_siphash24(out, msg, len, key);
				for (int b = 7; b >= 0; b--)
					ref = ref << 8 | out[b];
				assert_true(siphash_tail(key, w, n, tail, t, 2, 4) == ref);
			}
		}
	}
}

/* SipHash-1-3 has no libsodium counterpart; it must at least depend on the
 * key and on every word. */
static void test_13_depends_on_key_and_words(void **state)
{
	uint8_t key[16] = {0};
	uint64_t w[5] = {1, 2, 3, 4, 5};
	uint64_t h = siphash_words(key, w, 5, 1, 3);

	(void)state;
	for (size_t i = 0; i < 5; i++) {
		w[i] ^= 1;
		assert_true(siphash_words(key, w, 5, 1, 3) != h);
		w[i] ^= 1;
	}
	key[15] ^= 0x80;
	assert_true(siphash_words(key, w, 5, 1, 3) != h);
	assert_true(siphash_words(key, w, 5, 2, 4) != siphash_words(key, w, 5, 1, 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_matches_libsodium),
	    cmocka_unit_test(test_tail_matches_libsodium),
	    cmocka_unit_test(test_13_depends_on_key_and_words),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
