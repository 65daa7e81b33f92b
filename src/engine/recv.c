/* recv.c — the receiving half of a connection: the receive ring (in-order
 * bytes, then out-of-order runs written straight to their place in it), SACK
 * blocks (RFC 2018), and when to acknowledge (RFC 9293 3.8.6.3, RFC 5681 4.2,
 * with Linux's quick-ACK mode, ATO estimation and ping-pong detection). */
#include "engine/internal.h"

#define TCP_ATO_MIN_MS 40       /* Linux TCP_ATO_MIN (HZ/25) */
#define TCP_DELACK_MAX_MS 200   /* Linux TCP_DELACK_MAX (HZ/5) */
#define TCP_MAX_QUICKACKS 16    /* Linux TCP_MAX_QUICKACKS */
#define TCP_MIN_QUICKACKS 2
#define SACK_BLOCKS_WITH_TS 3   /* 40 option bytes: TS (12) + 2 + 3 * 8 */
#define SACK_BLOCKS_MAX 4

/* Copies data to offset off past the ring's in-order bytes, without
 * counting it as queued: the caller checked that it fits. */
void ring_write_at(ring *r, uint32_t off, const uint8_t *data, uint32_t len)
{
	uint32_t pos = (r->head + r->len + off) % r->cap;
	uint32_t first = r->cap - pos < len ? r->cap - pos : len;

	memcpy(r->buf + pos, data, first);
	memcpy(r->buf, data + first, len - first);
}

/* ---- quick ACKs, ATO and ping-pong (Linux's tcp_event_data_recv) ----------- */

static void incr_quickack(synack_conn *c, unsigned max)
{
	uint32_t wnd = c->rcv_adv - c->rcv_wup;
	unsigned quick = c->rcv_mss ? wnd / (2u * c->rcv_mss) : 0;

	if (quick == 0)
		quick = TCP_MIN_QUICKACKS;
	if (quick > max)
		quick = max;
	if (quick > c->quick)
		c->quick = (uint8_t)quick;
}

void rcv_enter_quickack(synack_conn *c)
{
	incr_quickack(c, TCP_MAX_QUICKACKS);
	c->pingpong = 0;
	c->ato_ms = TCP_ATO_MIN_MS;
}

static void data_arrived(synack_conn *c, uint32_t len)
{
	uint64_t gap_ms = (c->s->now - c->last_rcv) / NS_PER_MS;

	/* The peer's segment size, as Linux's tcp_measure_rcv_mss sees it. */
	if (len >= c->rcv_mss)
		c->rcv_mss = (uint16_t)(len < c->adv_mss ? len : c->adv_mss);
	if (!c->ato_ms) {
		/* The first data: quick ACKs while the peer's window opens. */
		incr_quickack(c, TCP_MAX_QUICKACKS);
		c->ato_ms = TCP_ATO_MIN_MS;
	} else if (gap_ms <= TCP_ATO_MIN_MS / 2) {
		c->ato_ms = c->ato_ms / 2 + TCP_ATO_MIN_MS / 2;
	} else if (gap_ms < c->ato_ms) {
		c->ato_ms = c->ato_ms / 2 + (uint32_t)gap_ms;
		if (c->ato_ms > c->rto_ms)
			c->ato_ms = c->rto_ms;
	} else if (gap_ms > c->rto_ms) {
		incr_quickack(c, TCP_MAX_QUICKACKS); /* the sender stalled: ACK fast */
	}
	c->last_rcv = c->s->now;
}

/* Called for every segment we send (they all carry an ACK). */
void rcv_ack_sent(synack_conn *c)
{
	c->rcv_wup = c->rcv_nxt;
	c->delack_at = 0;
	if (c->quick) {
		if (--c->quick == 0)
			c->ato_ms = c->ato_ms ? TCP_ATO_MIN_MS : 0;
	}
}

static bool in_quickack_mode(const synack_conn *c) { return c->quick && !c->pingpong; }

/* Linux's tcp_send_delayed_ack: wait at most ATO, bounded by 200 ms and by
 * the RTT; an earlier pending timer is kept. */
static void schedule_delack(synack_conn *c)
{
	synack_stack *s = c->s;
	uint32_t ato = c->ato_ms;
	synack_time at;

	if (ato > TCP_ATO_MIN_MS) {
		uint32_t max_ato = TCP_DELACK_MAX_MS;
		uint32_t rtt_ms = c->srtt_us / 1000;
		if (c->srtt_us) {
			if (rtt_ms < TCP_ATO_MIN_MS)
				rtt_ms = TCP_ATO_MIN_MS;
			if (rtt_ms < max_ato)
				max_ato = rtt_ms;
		}
		if (ato > max_ato)
			ato = max_ato;
	}
	if (ato > TCP_DELACK_MAX_MS)
		ato = TCP_DELACK_MAX_MS;
	at = s->now + (synack_time)ato * NS_PER_MS;
	if (c->delack_at && c->delack_at <= at)
		return;
	c->delack_at = at;
	conn_timer_sync(c);
}

/* Linux's __tcp_ack_snd_check: ACK at once when more than one full segment
 * is unacknowledged (RFC 5681 4.2: every second segment), in quick-ACK mode,
 * or when told to; otherwise let the delayed-ACK timer (or data) carry it. */
void rcv_ack_check(synack_conn *c, enum ack_need need)
{
	if (need == ACK_NONE)
		return;
	if (need == ACK_NOW || in_quickack_mode(c) || c->rcv_nxt - c->rcv_wup > c->rcv_mss) {
		conn_send_ack(c);
		return;
	}
	schedule_delack(c);
}

/* The delayed-ACK timer fired (Linux's tcp_delack_timer_handler). */
void rcv_delack_timeout(synack_conn *c)
{
	if (c->pingpong) {
		c->pingpong = 0; /* the reply did not come: stop waiting for one */
		c->ato_ms = TCP_ATO_MIN_MS;
	} else {
		uint32_t ato = c->ato_ms * 2;
		c->ato_ms = ato < c->rto_ms ? ato : c->rto_ms;
	}
	conn_send_ack(c);
}

/* ---- out-of-order runs ----------------------------------------------------------- */

void rcv_ooo_clear(synack_conn *c)
{
	c->ooo_count = 0;
	c->flags &= (uint16_t)~CF_OOO_FIN;
}

static void ooo_remove(synack_conn *c, unsigned i)
{
	memmove(&c->ooo[i], &c->ooo[i + 1], (c->ooo_count - i - 1) * sizeof c->ooo[0]);
	c->ooo_count--;
}

/* Records [start, end) as held, merged with what touches it, at the front
 * (RFC 2018 4: the first SACK block reports the most recent arrival). */
static void ooo_insert(synack_conn *c, uint32_t start, uint32_t end)
{
	seq_range r = {start, end};

	for (unsigned i = c->ooo_count; i-- > 0;) {
		seq_range *o = &c->ooo[i];
		if (seq_leq(o->start, r.end) && seq_leq(r.start, o->end)) {
			r.start = seq_min(r.start, o->start);
			r.end = seq_max(r.end, o->end);
			ooo_remove(c, i);
		}
	}
	if (c->ooo_count == OOO_MAX) {
		/* Forget the oldest run: its bytes come again (RFC 2018 8
		 * allows a receiver to discard what it has SACKed). */
		c->ooo_count--;
		c->s->ctr.drop_ooo_full++;
	}
	memmove(&c->ooo[1], &c->ooo[0], c->ooo_count * sizeof c->ooo[0]);
	c->ooo[0] = r;
	c->ooo_count++;
}

/* After RCV.NXT moved: take in every run it reached. Returns bytes added. */
static uint32_t ooo_absorb(synack_conn *c)
{
	uint32_t added = 0;
	bool again = true;

	while (again) {
		again = false;
		for (unsigned i = 0; i < c->ooo_count; i++) {
			seq_range *o = &c->ooo[i];
			if (seq_gt(o->start, c->rcv_nxt))
				continue;
			if (seq_gt(o->end, c->rcv_nxt)) {
				uint32_t n = o->end - c->rcv_nxt;
				c->rcvq.len += n;
				c->rcv_nxt = o->end;
				added += n;
			}
			ooo_remove(c, i);
			again = true;
			break;
		}
	}
	return added;
}

/* SACK blocks for an outgoing segment: nop, nop, kind 5 (Linux's layout
 * after the timestamp). Returns the bytes written. */
size_t rcv_sack_option(const synack_conn *c, uint8_t *opt, size_t room)
{
	uint32_t blocks[SACK_BLOCKS_MAX][2];
	unsigned max = (c->neg & NEG_TS) ? SACK_BLOCKS_WITH_TS : SACK_BLOCKS_MAX;
	unsigned n = c->ooo_count < max ? c->ooo_count : max;
	size_t len;

	if (!(c->neg & NEG_SACK) || n == 0)
		return 0;
	len = 2 + 2 + 8 * (size_t)n;
	while (n && len > room) {
		n--;
		len -= 8;
	}
	if (n == 0)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		blocks[i][0] = c->ooo[i].start;
		blocks[i][1] = c->ooo[i].end;
	}
	wire_put_nop(opt);
	wire_put_nop(opt + 1);
	return 2 + wire_put_sack(opt + 2, (const uint32_t(*)[2])blocks, n);
}

/* ---- text (RFC 9293 3.10.7.4, seventh step) ---------------------------------------- */

static bool can_take_text(const synack_conn *c)
{
	return c->state == SYNACK_ESTABLISHED || c->state == SYNACK_FIN_WAIT_1 ||
	       c->state == SYNACK_FIN_WAIT_2;
}

/* Bytes of [seq, seq+len) that fit: inside the window we offered and the
 * ring's free space. */
static uint32_t rcv_room(const synack_conn *c, uint32_t seq, uint32_t len)
{
	uint32_t off = seq - c->rcv_nxt;
	uint32_t edge = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	uint32_t space = c->rcvbuf - c->rcvq.len;
	uint32_t limit = edge < space ? edge : space;

	if (off >= limit)
		return 0;
	return len < limit - off ? len : limit - off;
}

/* Takes the segment's data. Returns what kind of ACK is owed; sets *reset
 * when the connection must be reset instead. */
enum ack_need rcv_text(synack_conn *c, const wire_seg *seg, bool *reset)
{
	synack_stack *s = c->s;
	const uint8_t *data = seg->payload;
	uint32_t len = seg->payload_len;
	uint32_t seq = seg->seq + ((seg->flags & WIRE_SYN) ? 1 : 0);
	uint32_t fit;
	bool had_holes = c->ooo_count != 0;

	if (len == 0 || !can_take_text(c))
		return ACK_NONE; /* after the peer's FIN, data is ignored */
	if (!seq_gt(seq + len, c->rcv_nxt)) {
		/* All old: a retransmission we already hold. Linux answers at
		 * once and re-enters quick-ACK mode. */
		rcv_enter_quickack(c);
		return ACK_NOW;
	}
	if (seq_lt(seq, c->rcv_nxt)) {
		uint32_t skip = c->rcv_nxt - seq;
		data += skip;
		len -= skip;
		seq = c->rcv_nxt;
	}
	if (!(c->flags & CF_USER) && (c->flags & CF_SHUT_RD) && !(c->flags & CF_ACCEPTQ)) {
		/* Linux (tcp_rcv_state_process): new data for a closed socket
		 * resets it, answered as a segment without a connection. */
		send_reset_for(s, seg, &c->node.t);
		*reset = true;
		return ACK_NONE;
	}
	fit = rcv_room(c, seq, len);
	if (fit < len)
		s->ctr.drop_rcvbuf_full++;
	if (fit == 0)
		return ACK_NOW;
	if (ring_reserve(s, &c->rcvq, c->rcvbuf)) {
		s->ctr.drop_no_memory++;
		return ACK_NOW;
	}
	ring_write_at(&c->rcvq, seq - c->rcv_nxt, data, fit);
	if (seq != c->rcv_nxt) {
		/* A hole before it (RFC 5681 4.2: ACK out-of-order data at once,
		 * with SACK blocks saying what we hold). */
		ooo_insert(c, seq, seq + fit);
		s->ctr.ooo_segments++;
		return ACK_NOW;
	}
	data_arrived(c, len);
	c->rcvq.len += fit;
	c->rcv_nxt += fit;
	c->bytes_received += fit + ooo_absorb(c);
	stack_event(s, SYNACK_EV_READABLE, c, c->lst, 0);
	/* RFC 5681 4.2: filling a hole is acknowledged at once. */
	return had_holes ? ACK_NOW : ACK_SCHEDULE;
}
