/* table.c — the 4-tuple hash table (keyed SipHash, open addressing) and
 * the listener table (by port). */
#include "engine/internal.h"

uint32_t tuple_hash(const synack_stack *s, const tuple *t)
{
	return tuple_hash_keyed(&s->hash_key, t);
}

/* ---- the keyed hash --------------------------------------------------------
 * The table's hash must be keyed: with a guessable function an attacker picks
 * 4-tuples that share a bucket and turns every lookup into a list walk.
 * SipHash-1-3 is the short-input variant hash tables use (the ISN keeps
 * SipHash-2-4, as RFC 6528 asks for a strong PRF). */

uint32_t tuple_hash_keyed(const sip_state *key, const tuple *t)
{
	return (uint32_t)tuple_siphash(key, t, 1, 3);
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
 * Beside the slots (the 32-bit hash and the node) a byte array holds each
 * slot's tag: 0 when the slot is empty, else seven more bits of the entry's
 * hash. A probe walks the tags, which stay in L2 even for a table of a
 * hundred thousand TIME-WAIT entries, and reads a slot only where the tag
 * matches (one in 128 otherwise): a lookup that misses (a new SYN, a port
 * search) touches no slot and no entry at all. The load stays at most one
 * half; deletion shifts the following entries back, so there are no
 * tombstones. */

/* The tag of a hash: seven of its top bits (the index takes the low bits)
 * and a set bit, so that it is never 0. */
static inline uint8_t hash_tag(uint32_t hash) { return (uint8_t)(hash >> 24 | 1); }

static bool table_alloc(synack_stack *s, table *tb, uint32_t size)
{
	tb->slots = stack_alloc(s, size * sizeof *tb->slots);
	tb->tags = stack_alloc(s, size);
	if (!tb->slots || !tb->tags) {
		stack_free_mem(s, tb->slots);
		stack_free_mem(s, tb->tags);
		tb->slots = NULL;
		tb->tags = NULL;
		return false;
	}
	memset(tb->slots, 0, size * sizeof *tb->slots);
	memset(tb->tags, 0, size);
	tb->mask = size - 1;
	return true;
}

int table_init(synack_stack *s, table *tb)
{
	tb->count = 0;
	tb->last = NULL;
	return table_alloc(s, tb, STACK_HASH_MIN) ? 0 : -ENOMEM;
}

static void slot_put(table *tb, tnode *n, uint32_t hash)
{
	uint32_t i = hash & tb->mask;

	while (tb->tags[i])
		i = (i + 1) & tb->mask;
	tb->tags[i] = hash_tag(hash);
	tb->slots[i].hash = hash;
	tb->slots[i].node = n;
}

/* Doubles the slots; on allocation failure the table just gets fuller. */
static void table_grow(synack_stack *s, table *tb)
{
	table_slot *old = tb->slots;
	uint8_t *old_tags = tb->tags;
	uint32_t old_size = tb->mask + 1;

	if (!table_alloc(s, tb, old_size * 2)) {
		tb->slots = old;
		tb->tags = old_tags;
		return;
	}
	for (uint32_t i = 0; i < old_size; i++)
		if (old_tags[i])
			slot_put(tb, old[i].node, old[i].hash);
	stack_free_mem(s, old);
	stack_free_mem(s, old_tags);
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
	tb->last = n;
}

/* The slot holding n, or the empty slot that ends its probe run. */
static uint32_t slot_of(const table *tb, const tnode *n)
{
	uint8_t tag = hash_tag(n->hash);
	uint32_t i = n->hash & tb->mask;

	while (tb->tags[i] && !(tb->tags[i] == tag && tb->slots[i].node == n))
		i = (i + 1) & tb->mask;
	return i;
}

void table_remove(table *tb, tnode *n)
{
	uint32_t i = slot_of(tb, n);

	if (tb->last == n)
		tb->last = NULL;
	if (!tb->tags[i])
		return;
	/* Backward shift: pull later entries of the run into the hole when
	 * their home slot does not lie between the hole and them. */
	for (uint32_t j = (i + 1) & tb->mask; tb->tags[j]; j = (j + 1) & tb->mask) {
		uint32_t home = tb->slots[j].hash & tb->mask;
		if (((j - home) & tb->mask) >= ((j - i) & tb->mask)) {
			tb->tags[i] = tb->tags[j];
			tb->slots[i] = tb->slots[j];
			i = j;
		}
	}
	tb->tags[i] = 0;
	tb->slots[i].node = NULL;
	tb->count--;
}

/* n takes old's slot: they share the tuple, so the hash and the probe
 * sequence stay the same. */
void table_replace(table *tb, tnode *old, tnode *n)
{
	uint32_t i = slot_of(tb, old);

	if (!tb->tags[i])
		return;
	n->hash = old->hash;
	tb->slots[i].node = n;
	tb->last = n;
}

tnode *table_lookup(const table *tb, const tuple *t, uint32_t hash)
{
	uint8_t tag = hash_tag(hash);

	for (uint32_t i = hash & tb->mask; tb->tags[i]; i = (i + 1) & tb->mask)
		if (tb->tags[i] == tag && tb->slots[i].hash == hash &&
		    tuple_equal(&tb->slots[i].node->t, t))
			return tb->slots[i].node;
	return NULL;
}

/* The connection or request a segment belongs to, or a TIME-WAIT entry,
 * and the tuple's hash for a later insertion. Segments come in runs for one
 * connection (a handshake, a window of data), so the node last inserted or
 * found is tried first, by its full tuple, before hashing: BSD's one-behind
 * cache (tcp_last_inpcb). A miss costs a pointer test or a tuple compare;
 * the keyed hash and the table stay the only way to any other node. */
tnode *table_find(synack_stack *s, const tuple *t, uint32_t *hash)
{
	tnode *n = s->conns.last;

	if (n && tuple_equal(&n->t, t)) {
		*hash = n->hash;
		return n;
	}
	*hash = tuple_hash(s, t);
	n = table_lookup(&s->conns, t, *hash);
	if (n) {
		s->conns.last = n;
		return n;
	}
	return table_lookup(&s->tw_table, t, *hash);
}

void table_free(synack_stack *s, table *tb)
{
	stack_free_mem(s, tb->slots);
	stack_free_mem(s, tb->tags);
	tb->slots = NULL;
	tb->tags = NULL;
	tb->last = NULL;
}

/* An exact local address wins over a wildcard listener, as in Linux. */
synack_listener *listener_lookup(const synack_stack *s, const tuple *t)
{
	synack_listener *wild = NULL;

	for (synack_listener *l = s->listeners[t->lport % LISTEN_HASH_SIZE]; l; l = l->hash_next) {
		if (l->addr.port != t->lport || l->addr.family != t->family)
			continue;
		if (ip_equal(l->addr.ip, t->laddr, t->family))
			return l;
		if (ip_unspecified(l->addr.ip, t->family))
			wild = l;
	}
	return wild;
}
