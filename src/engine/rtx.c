/* rtx.c — the retransmit queue: one record per segment sent and not yet
 * acknowledged, oldest first, with what the scoreboard knows of it (SACKed,
 * lost, retransmitted) and when it last went out. Linux keeps the same facts
 * on the skbs of its retransmit queue; RACK (RFC 8985) needs the send times,
 * RFC 6675 the SACK marks. */
#include "engine/internal.h"

#define RTX_INITIAL_CAP 16 /* records; the ring doubles when full */

/* Room for one more record: grows the ring by doubling (a power of two, so
 * that indexes wrap with a mask). No allocation while the window is steady. */
int rtx_reserve(synack_conn *c)
{
	rtx_queue *q = &c->rtx;
	uint32_t cap = q->cap ? q->cap * 2 : RTX_INITIAL_CAP;
	rtx_seg *v;

	if (q->len < q->cap)
		return 0;
	v = stack_alloc(c->s, (size_t)cap * sizeof *v);
	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->len; i++)
		v[i] = *rtx_at(c, i);
	stack_free_mem(c->s, q->v);
	q->v = v;
	q->cap = cap;
	q->head = 0;
	return 0;
}

/* Records a segment just sent for the first time (rtx_reserve made room). */
void rtx_append(synack_conn *c, uint32_t seq, uint32_t seq_len, uint8_t tcp_flags)
{
	rtx_queue *q = &c->rtx;
	rtx_seg *g;

	q->len++;
	g = rtx_at(c, q->len - 1);
	g->start = seq;
	g->end = seq + seq_len;
	g->sent = c->s->now;
	g->state = 0;
	g->tcp_flags = tcp_flags;
}

void rtx_release(synack_conn *c)
{
	stack_free_mem(c->s, c->rtx.v);
	memset(&c->rtx, 0, sizeof c->rtx);
	c->sacked_out = c->lost_out = c->retrans_out = 0;
}

/* When the oldest unacknowledged segment last went out (Linux's
 * tcp_skb_timestamp of the retransmit queue's head); now when none is. */
synack_time rtx_head_sent(const synack_conn *c)
{
	return c->rtx.len ? rtx_at(c, 0)->sent : c->s->now;
}

/* Linux's tcp_mark_skb_lost: a SACKed segment is never lost; a resent one
 * found lost again stops counting as retransmitted. */
void rtx_mark_lost(synack_conn *c, rtx_seg *g)
{
	if (g->state & SEG_SACKED)
		return;
	if (g->state & SEG_LOST) {
		if (g->state & SEG_RETRANS) {
			g->state &= (uint8_t)~SEG_RETRANS;
			c->retrans_out--;
			c->lost_total++;
		}
		return;
	}
	g->state |= SEG_LOST;
	c->lost_out++;
	c->lost_total++;
}

/* Cuts record i after len bytes of data (the MSS shrank since it was sent:
 * Linux's tcp_fragment). The tail inherits the marks, the FIN and the PSH. */
static int rtx_split(synack_conn *c, uint32_t i, uint32_t len)
{
	rtx_seg *g;
	rtx_seg tail;

	if (rtx_reserve(c))
		return -ENOMEM;
	g = rtx_at(c, i);
	tail = *g;
	tail.start = g->start + len;
	g->end = tail.start;
	g->tcp_flags &= (uint8_t)~(WIRE_FIN | WIRE_PSH);
	/* Both halves keep the marks; each counts as a segment. */
	if (g->state & SEG_SACKED)
		c->sacked_out++;
	if (g->state & SEG_LOST)
		c->lost_out++;
	if (g->state & SEG_RETRANS)
		c->retrans_out++;
	c->rtx.len++;
	for (uint32_t k = c->rtx.len - 1; k > i + 1; k--)
		*rtx_at(c, k) = *rtx_at(c, k - 1);
	*rtx_at(c, i + 1) = tail;
	return 0;
}

/* Sends record i again, its data cut to the current MSS (Linux's
 * __tcp_retransmit_skb). Does not mark it as a counted retransmission:
 * recovery does that, a loss probe does not. False when nothing went out.
 *
 * PSH as Linux 6.18 resends (seen with `synack script --kernel`): on the
 * segment that ends the data written, and on the last segment of a packet
 * resent whole with more than one segment (joined: the previous record went
 * out just before and belonged to the same first packet). A lone segment
 * that closed a packet inside a write goes without it. */
bool rtx_resend(synack_conn *c, uint32_t i, bool joined)
{
	synack_stack *s = c->s;
	rtx_seg *g = rtx_at(c, i);
	uint32_t len;
	uint8_t flags;

	if (s->out_len == s->out_cap)
		return false;
	if (rtx_seg_data(g) > c->snd_mss && rtx_split(c, i, c->snd_mss))
		return false;
	g = rtx_at(c, i);
	len = rtx_seg_data(g);
	flags = g->tcp_flags;
	if (!joined && len && g->start + len != c->snd_una + c->sndq.len)
		flags &= (uint8_t)~WIRE_PSH;
	conn_xmit(c, g->start, flags, len);
	g->sent = s->now;
	g->state |= SEG_EVER_RETRANS;
	c->bytes_sent += len;
	c->total_retrans++;
	s->ctr.retransmits++;
	c->flags &= (uint16_t)~CF_RTT_TIMING; /* Karn */
	if (cc_in_cwnd_reduction(c))
		c->prr_out++;
	return true;
}
