/* test_table.c — the 4-tuple hash table (src/engine/table.c) against a
 * plain array: seeded runs of inserts, removals and replacements, with
 * every entry looked up after each step of a run. One run uses the real
 * keyed hash; the others give all entries a few home slots and one tag, so
 * that probe runs grow long and removal has to shift entries back across
 * them, and across the end of the slot array. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/internal.h"

#define ENTRIES 3000
#define STEPS 20000
#define CHECK_EVERY 97

static uint64_t next_random(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

enum hashing { REAL_HASH, FEW_HOMES, FEW_HOMES_AT_END };

struct model {
	synack_stack *s;
	table tb;
	tnode nodes[ENTRIES], spare[ENTRIES];
	tnode *live[ENTRIES]; /* the node holding entry i, or NULL */
	uint32_t hashes[ENTRIES];
	uint32_t count;
};

static uint32_t entry_hash(struct model *m, unsigned i, enum hashing how)
{
	/* Eight homes, one tag: every probe compares the tuple. */
	uint32_t home = (uint32_t)(i % 8) * 5;

	switch (how) {
	case FEW_HOMES:
		return 0xab000000u | home;
	case FEW_HOMES_AT_END:
		return 0xab000000u | (0x3ffu - home); /* near the end of 1,024 slots */
	default:
		return tuple_hash(m->s, &m->nodes[i].t);
	}
}

static void check_all(struct model *m)
{
	assert_int_equal(m->tb.count, m->count);
	for (unsigned i = 0; i < ENTRIES; i++) {
		tnode *n = table_lookup(&m->tb, &m->nodes[i].t, m->hashes[i]);
		assert_ptr_equal(n, m->live[i]);
	}
}

static void run(enum hashing how, uint64_t seed, unsigned max_live)
{
	struct model *m = calloc(1, sizeof *m);
	uint64_t x = seed;

	assert_non_null(m);
	assert_int_equal(synack_stack_new(NULL, &m->s), 0);
	assert_int_equal(table_init(m->s, &m->tb), 0);
	for (unsigned i = 0; i < ENTRIES; i++) {
		tuple *t = &m->nodes[i].t;

		t->family = SYNACK_AF_INET;
		t->lport = (uint16_t)(1024 + i);
		t->rport = 80;
		t->laddr[0] = 198, t->laddr[1] = 18, t->laddr[3] = 1;
		t->raddr[0] = 198, t->raddr[1] = 18, t->raddr[2] = (uint8_t)(i >> 8),
		t->raddr[3] = (uint8_t)i;
		m->spare[i].t = *t;
		m->hashes[i] = entry_hash(m, i, how);
	}
	for (unsigned step = 0; step < STEPS; step++) {
		unsigned i = (unsigned)(next_random(&x) % max_live);
		unsigned op = (unsigned)(next_random(&x) % 8);

		if (!m->live[i]) {
			table_insert(m->s, &m->tb, &m->nodes[i], m->hashes[i]);
			m->live[i] = &m->nodes[i];
			m->count++;
			assert_ptr_equal(m->tb.last, &m->nodes[i]);
		} else if (op == 0) {
			/* A request promoted to a connection takes its slot. */
			tnode *other = m->live[i] == &m->nodes[i] ? &m->spare[i] : &m->nodes[i];

			table_replace(&m->tb, m->live[i], other);
			assert_int_equal(other->hash, m->hashes[i]);
			m->live[i] = other;
		} else {
			table_remove(&m->tb, m->live[i]);
			m->live[i] = NULL;
			m->count--;
		}
		if (step % CHECK_EVERY == 0)
			check_all(m);
	}
	check_all(m);
	table_free(m->s, &m->tb);
	synack_stack_free(m->s);
	free(m);
}

static void test_real_hash(void **state)
{
	(void)state;
	run(REAL_HASH, 0x9e3779b97f4a7c15ULL, ENTRIES); /* grows past 1,024 slots */
	run(REAL_HASH, 12345, 200);
}

static void test_long_runs(void **state)
{
	(void)state;
	run(FEW_HOMES, 1, 300);
	run(FEW_HOMES, 2, 40);
}

static void test_runs_wrapping_the_end(void **state)
{
	(void)state;
	run(FEW_HOMES_AT_END, 3, 300);
	run(FEW_HOMES_AT_END, 4, 40);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_hash),
		cmocka_unit_test(test_long_runs),
		cmocka_unit_test(test_runs_wrapping_the_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
