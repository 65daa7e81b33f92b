/* timer.c — a binary min-heap of deadlines for retransmission, persist,
 * FIN-WAIT-2 and SYN-ACK timers; TIME-WAIT, whose length is the same for
 * every connection, is a FIFO (stack->timewait) and never touches the heap,
 * so 100,000 connections in TIME-WAIT cost nothing to the others. */
#include "engine/internal.h"

static void heap_set(timer_heap *h, uint32_t i, timer_node *n)
{
	h->v[i] = n;
	n->index = i;
}

static void sift_up(timer_heap *h, uint32_t i)
{
	timer_node *n = h->v[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (h->v[parent]->at <= n->at)
			break;
		heap_set(h, i, h->v[parent]);
		i = parent;
	}
	heap_set(h, i, n);
}

static void sift_down(timer_heap *h, uint32_t i)
{
	timer_node *n = h->v[i];

	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= h->len)
			break;
		if (c + 1 < h->len && h->v[c + 1]->at < h->v[c]->at)
			c++;
		if (n->at <= h->v[c]->at)
			break;
		heap_set(h, i, h->v[c]);
		i = c;
	}
	heap_set(h, i, n);
}

static bool heap_reserve(synack_stack *s, timer_heap *h)
{
	uint32_t cap;
	timer_node **v;

	if (h->len < h->cap)
		return true;
	cap = h->cap ? h->cap * 2 : 256;
	v = stack_alloc(s, cap * sizeof *v);
	if (!v)
		return false;
	if (h->len)
		memcpy(v, h->v, h->len * sizeof *v);
	stack_free_mem(s, h->v);
	h->v = v;
	h->cap = cap;
	return true;
}

void timer_arm(synack_stack *s, timer_node *n, synack_time at)
{
	timer_heap *h = &s->heap;

	if (n->index != TIMER_IDLE) {
		synack_time old = n->at;
		n->at = at;
		if (at < old)
			sift_up(h, n->index);
		else
			sift_down(h, n->index);
		return;
	}
	if (!heap_reserve(s, h))
		return; /* out of memory: the timer is lost, as an skb would be */
	n->at = at;
	h->v[h->len] = n;
	n->index = h->len++;
	sift_up(h, n->index);
}

void timer_remove(synack_stack *s, timer_node *n)
{
	timer_heap *h = &s->heap;
	uint32_t i = n->index;

	n->index = TIMER_IDLE;
	if (--h->len == i)
		return;
	heap_set(h, i, h->v[h->len]);
	sift_down(h, i);
	sift_up(h, h->v[i]->index);
}

synack_time timer_next(const synack_stack *s)
{
	synack_time at = s->heap.len ? s->heap.v[0]->at : SYNACK_TIME_NEVER;

	if (!dlist_empty(&s->timewait)) {
		const tw_entry *tw = container_of(s->timewait.next, tw_entry, link);
		if (tw->expires < at)
			at = tw->expires;
	}
	return at;
}

/* Removes and returns one heap timer due at `now`, or NULL. */
timer_node *timer_pop_due(synack_stack *s, synack_time now)
{
	timer_node *n;

	if (!s->heap.len || s->heap.v[0]->at > now)
		return NULL;
	n = s->heap.v[0];
	timer_cancel(s, n);
	return n;
}
