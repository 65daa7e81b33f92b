/* table.c — the 4-tuple hash table (keyed SipHash, open addressing) and
 * the listener table (by port). */
#include "engine/internal.h"

uint32_t tuple_hash(const synack_stack *s, const tuple *t)
{
	return tuple_hash_keyed(s->hash_key, t);
}

bool tuple_equal(const tuple *a, const tuple *b)
{
	if (a->family != b->family || a->lport != b->lport || a->rport != b->rport)
		return false;
	return ip_equal(a->laddr, b->laddr, a->family) && ip_equal(a->raddr, b->raddr, a->family);
}

/* ---- SipHash-1-3 (Aumasson and Bernstein), keyed per stack ----------------
 * The table's hash must be keyed: with a guessable function an attacker picks
 * 4-tuples that share a bucket and turns every lookup into a list walk.
 * SipHash-1-3 is the short-input variant hash tables use (the ISN keeps
 * SipHash-2-4, as RFC 6528 asks for a strong PRF). */

static inline uint64_t rotl64(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

#define SIP_ROUND(v0, v1, v2, v3)                                                              \
	do {                                                                                   \
		v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0; v0 = rotl64(v0, 32);                 \
		v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2;                                       \
		v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0;                                       \
		v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2; v2 = rotl64(v2, 32);                  \
	} while (0)

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof v);
	return v;
}

/* Hashes n 64-bit words (the tuple's addresses, then its ports). */
static uint64_t siphash13_words(const uint8_t key[16], const uint64_t *w, size_t n)
{
	const uint64_t k0 = load64(key), k1 = load64(key + 8);
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
	const uint64_t last = (uint64_t)(n * sizeof *w) << 56;

	for (size_t i = 0; i < n; i++) {
		v3 ^= w[i];
		SIP_ROUND(v0, v1, v2, v3);
		v0 ^= w[i];
	}
	v3 ^= last;
	SIP_ROUND(v0, v1, v2, v3);
	v0 ^= last;
	v2 ^= 0xff;
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

uint32_t tuple_hash_keyed(const uint8_t key[16], const tuple *t)
{
	uint64_t w[5];
	uint64_t ports = (uint64_t)t->family << 32 | (uint64_t)t->lport << 16 | t->rport;

	if (t->family == SYNACK_AF_INET6) {
		w[0] = load64(t->laddr);
		w[1] = load64(t->laddr + 8);
		w[2] = load64(t->raddr);
		w[3] = load64(t->raddr + 8);
		w[4] = ports;
		return (uint32_t)siphash13_words(key, w, 5);
	}
	uint32_t l, r;
	memcpy(&l, t->laddr, sizeof l);
	memcpy(&r, t->raddr, sizeof r);
	w[0] = (uint64_t)l << 32 | r;
	w[1] = ports;
	return (uint32_t)siphash13_words(key, w, 2);
}

/* wire_parse leaves an IPv4 address zero-padded to 16 bytes, so fixed-size
 * copies fill the whole tuple without a memset on every packet. */
void tuple_from_seg(tuple *t, const wire_seg *seg)
{
	t->family = seg->family;
	t->lport = seg->dport;
	t->rport = seg->sport;
	memcpy(t->laddr, seg->dst, sizeof t->laddr);
	memcpy(t->raddr, seg->src, sizeof t->raddr);
}

void tuple_to_addrs(const tuple *t, synack_addr *local, synack_addr *remote)
{
	memset(local, 0, sizeof *local);
	memset(remote, 0, sizeof *remote);
	local->family = remote->family = t->family;
	local->port = t->lport;
	remote->port = t->rport;
	memcpy(local->ip, t->laddr, sizeof t->laddr);
	memcpy(remote->ip, t->raddr, sizeof t->raddr);
}

/* ---- the table: open addressing with linear probing ---------------------
 * Each slot holds the 32-bit hash beside the node pointer, so a probe
 * compares hashes within one cache line and touches a node only when its
 * hash matches: a lookup that misses (a new SYN, a port search) reads no
 * connection or TIME-WAIT entry at all, however many there are. The load
 * stays at most one half; deletion shifts the following entries back, so
 * there are no tombstones. */

static bool table_alloc(synack_stack *s, table *tb, uint32_t size)
{
	tb->slots = stack_alloc(s, size * sizeof *tb->slots);
	if (!tb->slots)
		return false;
	memset(tb->slots, 0, size * sizeof *tb->slots);
	tb->mask = size - 1;
	return true;
}

int table_init(synack_stack *s, table *tb)
{
	tb->count = 0;
	return table_alloc(s, tb, STACK_HASH_MIN) ? 0 : -ENOMEM;
}

static void slot_put(table *tb, tnode *n, uint32_t hash)
{
	uint32_t i = hash & tb->mask;

	while (tb->slots[i].node)
		i = (i + 1) & tb->mask;
	tb->slots[i].hash = hash;
	tb->slots[i].node = n;
}

/* Doubles the slots; on allocation failure the table just gets fuller. */
static void table_grow(synack_stack *s, table *tb)
{
	table_slot *old = tb->slots;
	uint32_t old_size = tb->mask + 1;

	if (!table_alloc(s, tb, old_size * 2)) {
		tb->slots = old;
		return;
	}
	for (uint32_t i = 0; i < old_size; i++)
		if (old[i].node)
			slot_put(tb, old[i].node, old[i].hash);
	stack_free_mem(s, old);
}

void table_insert(synack_stack *s, table *tb, tnode *n, uint32_t hash)
{
	if (2 * (tb->count + 1) > tb->mask + 1)
		table_grow(s, tb);
	if (tb->count + 1 > tb->mask)
		return; /* cannot happen unless growth failed at a full table */
	n->hash = hash;
	slot_put(tb, n, hash);
	tb->count++;
}

void table_remove(table *tb, tnode *n)
{
	uint32_t i = n->hash & tb->mask;

	while (tb->slots[i].node && tb->slots[i].node != n)
		i = (i + 1) & tb->mask;
	if (!tb->slots[i].node)
		return;
	/* Backward shift: pull later entries of the run into the hole when
	 * their home slot does not lie between the hole and them. */
	for (uint32_t j = (i + 1) & tb->mask; tb->slots[j].node; j = (j + 1) & tb->mask) {
		uint32_t home = tb->slots[j].hash & tb->mask;
		if (((j - home) & tb->mask) >= ((j - i) & tb->mask)) {
			tb->slots[i] = tb->slots[j];
			i = j;
		}
	}
	tb->slots[i].node = NULL;
	tb->count--;
}

tnode *table_lookup(const table *tb, const tuple *t, uint32_t hash)
{
	for (uint32_t i = hash & tb->mask; tb->slots[i].node; i = (i + 1) & tb->mask)
		if (tb->slots[i].hash == hash && tuple_equal(&tb->slots[i].node->t, t))
			return tb->slots[i].node;
	return NULL;
}

void table_free(synack_stack *s, table *tb)
{
	stack_free_mem(s, tb->slots);
	tb->slots = NULL;
}

/* An exact local address wins over a wildcard listener, as in Linux. */
synack_listener *listener_lookup(const synack_stack *s, const tuple *t)
{
	synack_listener *wild = NULL;
	static const uint8_t any[16];

	for (synack_listener *l = s->listeners[t->lport % LISTEN_HASH_SIZE]; l; l = l->hash_next) {
		if (l->addr.port != t->lport || l->addr.family != t->family)
			continue;
		if (ip_equal(l->addr.ip, t->laddr, t->family))
			return l;
		if (ip_equal(l->addr.ip, any, t->family))
			wild = l;
	}
	return wild;
}
