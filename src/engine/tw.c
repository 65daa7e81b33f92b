/* tw.c — TIME-WAIT in a compact entry. Once the user has let go of a
 * connection that reaches TIME-WAIT, all 2 MSL needs is the 4-tuple, the
 * two sequence numbers and the timestamp state: the connection block goes
 * back to its pool and a small entry (like Linux's inet_timewait_sock) takes
 * its place in the 4-tuple table and in the TIME-WAIT FIFO. Segments for it
 * follow Linux's tcp_timewait_state_process. */
#include "engine/internal.h"

#define TW_ISN_GAP (TCP_MAX_WINDOW + 2) /* Linux: new ISN = tw_snd_nxt + 65535 + 2 */

static synack_time tw_deadline(const synack_stack *s)
{
	return s->now + (synack_time)s->cfg.timewait_ms * NS_PER_MS;
}

/* A TIME-WAIT FIFO keeps its order because every entry waits as long. */
static void tw_schedule(synack_stack *s, tw_entry *tw)
{
	dlist_del(&tw->link);
	tw->expires = tw_deadline(s);
	dlist_add_tail(&s->timewait, &tw->link);
}

/* Replaces c (orphaned, in TIME-WAIT) by a compact entry. False when no
 * entry could be had: c then stays, timed by the heap. */
bool tw_from_conn(synack_conn *c)
{
	synack_stack *s = c->s;
	tw_entry *tw = pool_get(s, &s->tw_pool);

	if (!tw)
		return false;
	tw->node.kind = NODE_TIMEWAIT;
	tw->node.t = c->node.t;
	dlist_init(&tw->link);
	tw->snd_nxt = c->snd_max;
	tw->rcv_nxt = c->rcv_nxt;
	tw->ts_recent = c->ts_recent;
	tw->ts_off = c->ts_off;
	tw->neg = c->neg;
	tw->rcv_wscale = c->rcv_wscale;
	tw->win_field = (uint16_t)((c->rcv_adv - c->rcv_nxt) >> (c->rcv_wscale > 0 ? c->rcv_wscale : 0));
	table_remove(&s->conns, &c->node);
	c->flags &= (uint16_t)~CF_HASHED;
	table_insert(s, &s->tw_table, &tw->node, c->node.hash);
	tw_schedule(s, tw);
	conn_release(c);
	return true;
}

void tw_free(synack_stack *s, tw_entry *tw)
{
	dlist_del(&tw->link);
	table_remove(&s->tw_table, &tw->node);
	pool_put(&s->tw_pool, tw);
}

/* Linux's tcp_v4_timewait_ack: our last sequence numbers and timestamp,
 * at most once per invalid_ratelimit_ms except for data segments. */
static void tw_ack(synack_stack *s, tw_entry *tw, const wire_seg *seg)
{
	uint8_t opt[WIRE_TCP_MAX_OPTS];
	size_t n = 0;
	synack_time gap = (synack_time)s->cfg.invalid_ratelimit_ms * NS_PER_MS;

	if (!(seg->payload_len && !(seg->flags & WIRE_SYN)) && tw->last_oow &&
	    s->now - tw->last_oow < gap) {
		s->ctr.challenge_acks_limited++;
		return;
	}
	tw->last_oow = s->now;
	if (tw->neg & NEG_TS) {
		n += wire_put_nop(opt);
		n += wire_put_nop(opt + n);
		n += wire_put_ts(opt + n, ts_now(s, tw->ts_off), tw->ts_recent);
	}
	send_raw(s, &tw->node.t, tw->snd_nxt, tw->rcv_nxt, WIRE_ACK, tw->win_field, opt, n, NULL, 0);
}

static bool tw_paws_reject(const tw_entry *tw, const wire_seg *seg)
{
	return (tw->neg & NEG_TS) && (seg->opts.present & WIRE_HAS_TS) &&
	       seq_lt(seg->opts.ts_val, tw->ts_recent);
}

/* A new SYN may reuse the 4-tuple when it starts above the old connection's
 * sequence space or carries a newer timestamp; *isn is then where our new
 * ISN must start. */
bool tw_reusable(const tw_entry *tw, const wire_seg *seg, uint32_t *isn)
{
	bool newer_ts = (tw->neg & NEG_TS) && (seg->opts.present & WIRE_HAS_TS) &&
	                seq_gt(seg->opts.ts_val, tw->ts_recent);

	if ((seg->flags & (WIRE_SYN | WIRE_ACK | WIRE_RST)) != WIRE_SYN || tw_paws_reject(tw, seg))
		return false;
	if (!seq_gt(seg->seq, tw->rcv_nxt) && !newer_ts)
		return false;
	*isn = tw->snd_nxt + TW_ISN_GAP;
	return true;
}

void tw_input(synack_stack *s, tw_entry *tw, const wire_seg *seg)
{
	bool paws = tw_paws_reject(tw, seg);
	uint32_t len = seg->payload_len + ((seg->flags & WIRE_SYN) ? 1 : 0) +
	               ((seg->flags & WIRE_FIN) ? 1 : 0);

	if (!paws && seg->seq == tw->rcv_nxt && (len == 0 || (seg->flags & WIRE_RST))) {
		/* In window: only a reset or a bare ACK. */
		if (seg->flags & WIRE_RST) {
			/* RFC 1337: Linux lets an RST end TIME-WAIT unless
			 * tcp_rfc1337 is set. */
			if (s->cfg.rfc1337) {
				s->ctr.drop_rst_timewait++;
				return;
			}
			s->ctr.resets_received++;
			tw_free(s, tw);
			return;
		}
		tw_schedule(s, tw);
		if (seg->opts.present & WIRE_HAS_TS)
			tw->ts_recent = seg->opts.ts_val;
		return;
	}
	if (paws)
		s->ctr.drop_paws++;
	if (seg->flags & WIRE_RST) {
		s->ctr.drop_rst_out_of_window++;
		return;
	}
	/* Anything else (a retransmitted FIN, old data, an old SYN) is
	 * acknowledged; an ACK (or a PAWS reject) restarts the 2 MSL wait. */
	if (paws || (seg->flags & WIRE_ACK))
		tw_schedule(s, tw);
	tw_ack(s, tw, seg);
}

size_t synack_stack_timewait_count(const synack_stack *s) { return s->tw_pool.in_use; }
size_t synack_timewait_entry_size(void) { return sizeof(tw_entry); }

void synack_stack_each_timewait(synack_stack *s, synack_timewait_fn fn, void *ctx)
{
	for (dlist *d = s->timewait.next; d != &s->timewait; d = d->next) {
		const tw_entry *tw = container_of(d, tw_entry, link);
		synack_addr local, remote;
		tuple_to_addrs(&tw->node.t, &local, &remote);
		fn(ctx, &local, &remote, tw->expires > s->now ? tw->expires - s->now : 0);
	}
}
