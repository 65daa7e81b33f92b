/* table.c — the 4-tuple hash table (keyed SipHash, chained, doubling) and
 * the listener table (by port). */
#include "engine/internal.h"

bool tuple_equal(const tuple *a, const tuple *b)
{
	size_t alen = a->family == SYNACK_AF_INET6 ? 16 : 4;

	return a->family == b->family && a->lport == b->lport && a->rport == b->rport &&
	       !memcmp(a->laddr, b->laddr, alen) && !memcmp(a->raddr, b->raddr, alen);
}

void tuple_from_seg(tuple *t, const wire_seg *seg)
{
	size_t alen = seg->family == SYNACK_AF_INET6 ? 16 : 4;

	memset(t, 0, sizeof *t);
	t->family = seg->family;
	t->lport = seg->dport;
	t->rport = seg->sport;
	memcpy(t->laddr, seg->dst, alen);
	memcpy(t->raddr, seg->src, alen);
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

int table_init(synack_stack *s, table *tb)
{
	tb->buckets = stack_alloc(s, STACK_HASH_MIN * sizeof *tb->buckets);
	if (!tb->buckets)
		return -ENOMEM;
	memset(tb->buckets, 0, STACK_HASH_MIN * sizeof *tb->buckets);
	tb->mask = STACK_HASH_MIN - 1;
	tb->count = 0;
	return 0;
}

/* Doubles the bucket array when the load passes 1; on allocation failure
 * the table just stays longer-chained. */
static void table_grow(synack_stack *s, table *tb)
{
	uint32_t size = (tb->mask + 1) * 2;
	tnode **nb = stack_alloc(s, size * sizeof *nb);

	if (!nb)
		return;
	memset(nb, 0, size * sizeof *nb);
	for (uint32_t i = 0; i <= tb->mask; i++) {
		tnode *n = tb->buckets[i];
		while (n) {
			tnode *next = n->next;
			n->next = nb[n->hash & (size - 1)];
			nb[n->hash & (size - 1)] = n;
			n = next;
		}
	}
	stack_free_mem(s, tb->buckets);
	tb->buckets = nb;
	tb->mask = size - 1;
}

void table_insert(synack_stack *s, table *tb, tnode *n)
{
	if (tb->count > tb->mask)
		table_grow(s, tb);
	n->hash = tuple_hash(s, &n->t);
	n->next = tb->buckets[n->hash & tb->mask];
	tb->buckets[n->hash & tb->mask] = n;
	tb->count++;
}

void table_remove(table *tb, tnode *n)
{
	tnode **pp = &tb->buckets[n->hash & tb->mask];

	while (*pp && *pp != n)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = n->next;
		tb->count--;
	}
	n->next = NULL;
}

tnode *table_lookup(const table *tb, const tuple *t, uint32_t hash)
{
	for (tnode *n = tb->buckets[hash & tb->mask]; n; n = n->next)
		if (n->hash == hash && tuple_equal(&n->t, t))
			return n;
	return NULL;
}

void table_free(synack_stack *s, table *tb)
{
	stack_free_mem(s, tb->buckets);
	tb->buckets = NULL;
}

/* An exact local address wins over a wildcard listener, as in Linux. */
synack_listener *listener_lookup(const synack_stack *s, const tuple *t)
{
	synack_listener *wild = NULL;
	size_t alen = t->family == SYNACK_AF_INET6 ? 16 : 4;
	static const uint8_t any[16];

	for (synack_listener *l = s->listeners[t->lport % LISTEN_HASH_SIZE]; l; l = l->hash_next) {
		if (l->addr.port != t->lport || l->addr.family != t->family)
			continue;
		if (!memcmp(l->addr.ip, t->laddr, alen))
			return l;
		if (!memcmp(l->addr.ip, any, alen))
			wild = l;
	}
	return wild;
}
