/* input.c — segment arrival, in the order of RFC 9293 section 3.10.7:
 * SYN-SENT (3.10.7.3), then for the other states (3.10.7.4): check sequence,
 * check RST, check SYN, check ACK, process text, check FIN. Where Linux goes
 * beyond the RFC (RFC 5961 challenge ACKs, its sequence test, CLOSE-WAIT
 * resets reported as EPIPE) the comment says so. */
#include "engine/internal.h"

#define RTO_FALLBACK_MS 3000 /* RFC 6298 5.7, Linux TCP_TIMEOUT_FALLBACK */
/* Linux's tcp_tsval_replay: RTO (ms) * 1024 / 1000 timestamp ticks. */
#define TS_REPLAY_NUM 1024
#define TS_REPLAY_DEN 1000

static uint32_t seg_len(const wire_seg *seg)
{
	return seg->payload_len + ((seg->flags & WIRE_SYN) ? 1 : 0) + ((seg->flags & WIRE_FIN) ? 1 : 0);
}

/* RFC 6298 section 2 with Linux's floor: RTO = SRTT + max(4 RTTVAR, RTO_min). */
void conn_rtt_sample(synack_conn *c, uint32_t rtt_us)
{
	const synack_config *cfg = &c->s->cfg;
	uint64_t var4, rto_us;

	if (rtt_us == 0)
		rtt_us = 1;
	if (c->srtt_us == 0) {
		c->srtt_us = rtt_us;
		c->rttvar_us = rtt_us / 2;
	} else {
		uint32_t delta = c->srtt_us > rtt_us ? c->srtt_us - rtt_us : rtt_us - c->srtt_us;
		c->rttvar_us = (3 * c->rttvar_us + delta) / 4; /* beta = 1/4 */
		c->srtt_us = (7 * c->srtt_us + rtt_us) / 8;     /* alpha = 1/8 */
	}
	var4 = 4ULL * c->rttvar_us;
	if (var4 < (uint64_t)cfg->rto_min_ms * 1000)
		var4 = (uint64_t)cfg->rto_min_ms * 1000;
	/* RACK (RFC 8985) reads the path's minimum RTT. */
	if (!c->min_rtt_us || rtt_us < c->min_rtt_us)
		c->min_rtt_us = rtt_us;
	rto_us = c->srtt_us + var4;
	c->rto_ms = (uint32_t)((rto_us + 999) / 1000);
	if (c->rto_ms > cfg->rto_max_ms)
		c->rto_ms = cfg->rto_max_ms;
}

/* Karn's rule (RFC 6298 3): a timed segment gives a sample only if it was
 * never retransmitted; otherwise the timestamp echo does (RFC 7323 4). */
static void rtt_from_ack(synack_conn *c, const wire_seg *seg)
{
	synack_stack *s = c->s;

	if ((c->flags & CF_RTT_TIMING) && seq_gt(seg->ack, c->rtt_seq)) {
		c->flags &= (uint16_t)~CF_RTT_TIMING;
		conn_rtt_sample(c, (uint32_t)((s->now - c->rtt_time) / NS_PER_US));
		return;
	}
	if ((c->neg & NEG_TS) && (seg->opts.present & WIRE_HAS_TS) && seg->opts.ts_ecr) {
		uint32_t ms = ts_now(s, c->ts_off) - seg->opts.ts_ecr;
		if (ms < (uint32_t)s->cfg.rto_max_ms)
			conn_rtt_sample(c, ms * 1000u);
	}
}

static void take_peer_options(synack_conn *c, const wire_seg *seg)
{
	const wire_opts *o = &seg->opts;
	uint8_t ecn = seg->flags & (WIRE_ECE | WIRE_CWR);

	/* RFC 3168 6.1.1: a SYN-ACK agrees with ECE alone; a crossing SYN
	 * (simultaneous open) with both. */
	if (ecn != ((seg->flags & WIRE_ACK) ? WIRE_ECE : (WIRE_ECE | WIRE_CWR)))
		c->neg &= (uint8_t)~NEG_ECN;

	if (!(o->present & WIRE_HAS_SACKOK))
		c->neg &= (uint8_t)~NEG_SACK;
	if (!(o->present & WIRE_HAS_TS))
		c->neg &= (uint8_t)~NEG_TS;
	if ((c->neg & NEG_WSCALE) && (o->present & WIRE_HAS_WSCALE)) {
		c->snd_wscale = (int8_t)(o->wscale > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : o->wscale);
	} else {
		c->neg &= (uint8_t)~NEG_WSCALE;
		c->snd_wscale = c->rcv_wscale = -1;
	}
	if (c->neg & NEG_TS) {
		c->ts_recent = o->ts_val;
		c->ts_recent_at = c->s->now;
	}
	conn_set_mss(c, (o->present & WIRE_HAS_MSS) ? o->mss : 0);
}

static void handshake_done(synack_conn *c)
{
	/* With no RTT sample (a retransmitted SYN without timestamps) the RTO
	 * starts at 3 s, and it drops the SYN's backoff either way. */
	if (!c->srtt_us)
		c->rto_ms = c->rto_ms > RTO_FALLBACK_MS ? c->rto_ms : RTO_FALLBACK_MS;
	c->backoff = 0;
	c->retrans_start = 0;
	c->flags &= (uint16_t)~CF_RETRANSMITTED;
	c->high_seq = c->snd_una;
	tfo_child_done(c);
	c->rcv_wup = c->rcv_nxt;
	c->last_heard = c->s->now;
	/* Linux's tcp_initialize_rcv_mss: a cautious first guess at the
	 * peer's segment size, refined as data arrives. */
	c->rcv_mss = c->adv_mss < c->snd_mss ? c->adv_mss : c->snd_mss;
	if (c->rcv_mss > TCP_MSS_DEFAULT_V4)
		c->rcv_mss = TCP_MSS_DEFAULT_V4;
	conn_set_state(c, SYNACK_ESTABLISHED);
}

static void take_acked(synack_conn *c, uint32_t ack);

/* RFC 7413 4.2.1: keep the cookie a SYN-ACK hands out; count SYN data the
 * server acknowledged. */
static void syn_sent_fastopen(synack_conn *c, const wire_seg *seg)
{
	synack_stack *s = c->s;
	const wire_opts *o = &seg->opts;

	if (!(c->tfo & TFO_CLIENT))
		return;
	if ((o->present & (WIRE_HAS_FO | WIRE_HAS_FOEXP)) && o->fo_len)
		tfo_cache_put(s, c->node.t.family, c->node.t.raddr, o->fo_cookie, o->fo_len);
	if (c->tfo_syn_len && seg->ack == c->iss + 1 + c->tfo_syn_len)
		s->ctr.tfo_syn_data_acked++;
}

/* RFC 9293 3.10.7.3, SYN-SENT. */
void syn_sent_input(synack_conn *c, const wire_seg *seg)
{
	synack_stack *s = c->s;
	bool has_ack = seg->flags & WIRE_ACK;

	/* First, the ACK: it must acknowledge our SYN and nothing beyond. */
	if (has_ack && (seq_leq(seg->ack, c->iss) || seq_gt(seg->ack, c->snd_max))) {
		/* Linux: an earlier RST or FIN of ours may have been lost; resend
		 * the SYN almost at once (TCP_TIMEOUT_MIN) if not yet retried. */
		if (c->backoff == 0)
			conn_timer_set(c, CT_RETRANS, s->now + TCP_TIMEOUT_MIN_MS * NS_PER_MS);
		if (seg->flags & WIRE_RST)
			s->ctr.drop_ack_unacceptable++;
		else
			send_reset_for(s, seg, &c->node.t);
		return;
	}
	/* Second, RST: refused if it acknowledges our SYN, else ignored. */
	if (seg->flags & WIRE_RST) {
		if (!has_ack) {
			s->ctr.drop_syn_sent_other++;
			return;
		}
		s->ctr.resets_received++;
		conn_done(c, -ECONNREFUSED);
		return;
	}
	if (!(seg->flags & WIRE_SYN)) {
		s->ctr.drop_syn_sent_other++;
		return;
	}
	/* Fourth, SYN. */
	c->irs = seg->seq;
	c->rcv_nxt = seg->seq + 1;
	/* Our SYN offered its window before RCV.NXT was known: anchor it now. */
	c->rcv_adv = c->rcv_nxt + (c->rcv_wnd_clamp < TCP_MAX_WINDOW ? c->rcv_wnd_clamp : TCP_MAX_WINDOW);
	take_peer_options(c, seg);
	c->snd_wnd = seg->win; /* never scaled in a SYN (RFC 7323 2.2) */
	c->max_snd_wnd = c->snd_wnd;
	c->snd_wl1 = seg->seq;
	c->snd_wl2 = seg->ack;
	if (has_ack) {
		rtt_from_ack(c, seg);
		syn_sent_fastopen(c, seg);
		take_acked(c, seg->ack);
		/* SYN data the server did not take goes again, now (RFC 7413 3). */
		c->snd_nxt = c->snd_una;
		handshake_done(c);
		conn_timer_set(c, CT_NONE, 0);
		/* SYN data to resend carries the ACK itself (Linux's
		 * tcp_rcv_fastopen_synack); otherwise the third packet. */
		if (c->snd_una == c->snd_max)
			conn_send_ack(c);
		conn_output(c);
		return;
	}
	/* Simultaneous open (RFC 9293 3.5, figure 8): SYN-ACK with our ISN. */
	c->flags &= (uint16_t)~CF_RTT_TIMING;
	conn_set_state(c, SYNACK_SYN_RECEIVED);
	conn_send_syn(c);
	conn_rearm_rto(c);
}

/* ---- the synchronized states ---------------------------------------------- */

static uint32_t seg_window(const synack_conn *c, const wire_seg *seg)
{
	return (uint32_t)seg->win << (c->snd_wscale > 0 ? c->snd_wscale : 0);
}

/* Linux's tcp_may_update_window (RFC 9293 3.10.7.4, fifth step): a newer
 * segment, or an ACK that moves SND.UNA — judged against SND.UNA before
 * this segment (prior_una), so a new ACK may also shrink or close the
 * window. */
static bool may_update_window(const synack_conn *c, const wire_seg *seg, uint32_t prior_una)
{
	return seq_gt(seg->ack, prior_una) || seq_gt(seg->seq, c->snd_wl1) ||
	       (seg->seq == c->snd_wl1 && seg_window(c, seg) > c->snd_wnd);
}

/* Linux's tcp_disordered_ack: a late duplicate ACK (pure, at RCV.NXT,
 * acknowledging SND.UNA, leaving the window alone) whose timestamp is older
 * by less than about one RTO was merely reordered behind a newer segment;
 * PAWS lets it through (RFC 7323 5.3 protects data, not such ACKs). */
static bool disordered_ack(const synack_conn *c, const wire_seg *seg)
{
	uint32_t replay = (uint32_t)((uint64_t)c->rto_ms * TS_REPLAY_NUM / TS_REPLAY_DEN);

	return (seg->flags & WIRE_ACK) && seg_len(seg) == 0 && seg->seq == c->rcv_nxt &&
	       seg->ack == c->snd_una && !may_update_window(c, seg, c->snd_una) &&
	       (int32_t)(c->ts_recent - seg->opts.ts_val) <= (int32_t)replay;
}

/* RFC 7323 5.3 (PAWS): a timestamp older than TS.Recent, unless TS.Recent
 * is more than 24 days old or the segment is a disordered ACK. */
static bool paws_reject(const synack_conn *c, const wire_seg *seg)
{
	if (!(c->neg & NEG_TS) || !(seg->opts.present & WIRE_HAS_TS))
		return false;
	if (!seq_lt(seg->opts.ts_val, c->ts_recent))
		return false;
	if (c->s->now - c->ts_recent_at >= TCP_PAWS_24DAYS_MS * NS_PER_MS)
		return false;
	return !disordered_ack(c, seg);
}

/* Linux's tcp_sequence: the segment must end at or after RCV.NXT and start
 * no later than the window's right edge (RFC 9293's four cases, with the
 * zero-window cases made lenient). */
static bool seq_acceptable(const synack_conn *c, const wire_seg *seg)
{
	uint32_t end = seg->seq + seg_len(seg);
	uint32_t right = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv : c->rcv_nxt;

	return !seq_lt(end, c->rcv_nxt) && !seq_gt(seg->seq, right);
}

/* Linux's tcp_reset: the error each state reports. */
static int reset_error(const synack_conn *c)
{
	switch (c->state) {
	case SYNACK_SYN_SENT:
	case SYNACK_SYN_RECEIVED:
		return (c->flags & CF_PASSIVE) ? -ECONNRESET : -ECONNREFUSED;
	case SYNACK_CLOSE_WAIT:
		return -EPIPE;
	default:
		return -ECONNRESET;
	}
}

/* Linux's tcp_reset_check: once the peer's FIN is in, an RST may carry
 * the FIN's own sequence number (RCV.NXT - 1). */
static bool rst_after_fin(const synack_conn *c, const wire_seg *seg)
{
	return seg->seq == c->rcv_nxt - 1 &&
	       (c->state == SYNACK_CLOSE_WAIT || c->state == SYNACK_LAST_ACK || c->state == SYNACK_CLOSING);
}

static bool check_rst(synack_conn *c, const wire_seg *seg)
{
	synack_stack *s = c->s;

	if (!(seg->flags & WIRE_RST))
		return false;
	/* RFC 5961 section 3.2: reset only when SEG.SEQ == RCV.NXT; any other
	 * in-window RST draws a challenge ACK. */
	if (seg->seq != c->rcv_nxt && !rst_after_fin(c, seg)) {
		conn_challenge_ack(c);
		return true;
	}
	if (c->state == SYNACK_TIME_WAIT) {
		/* RFC 1337 (TIME-WAIT assassination): Linux kills TIME-WAIT on
		 * an RST unless tcp_rfc1337 is set. */
		if (s->cfg.rfc1337) {
			s->ctr.drop_rst_timewait++;
			return true;
		}
		s->ctr.resets_received++;
		conn_done(c, 0);
		return true;
	}
	s->ctr.resets_received++;
	conn_done(c, reset_error(c));
	return true;
}

/* Bytes, SYN and FIN covered by an ACK that advanced SND.UNA. */
static void take_acked(synack_conn *c, uint32_t ack)
{
	synack_stack *s = c->s;
	uint32_t acked = ack - c->snd_una;
	uint32_t data;

	if (c->snd_una == c->iss)
		acked--; /* our SYN */
	if ((c->flags & CF_FIN_SENT) && ack == c->fin_seq + 1)
		acked--; /* our FIN */
	data = acked < c->sndq.len ? acked : c->sndq.len;
	if (data) {
		ring_pop(&c->sndq, NULL, data);
		c->bytes_acked += data;
	}
	c->snd_una = ack;
	if (seq_lt(c->snd_nxt, ack))
		c->snd_nxt = ack;
	c->backoff = 0;
	c->retrans_start = 0;
	if (data && (c->flags & CF_USER))
		stack_event(s, SYNACK_EV_WRITABLE, c, NULL, 0);
}

/* Takes the segment's window when it may; true when the window changed. */
static bool update_window(synack_conn *c, const wire_seg *seg, uint32_t prior_una)
{
	uint32_t wnd = seg_window(c, seg);
	bool changed = false;

	if (may_update_window(c, seg, prior_una)) {
		changed = wnd != c->snd_wnd;
		c->snd_wnd = wnd;
		c->snd_wl1 = seg->seq;
		c->snd_wl2 = seg->ack;
		if (wnd > c->max_snd_wnd)
			c->max_snd_wnd = wnd;
	}
	return changed;
}

static bool fin_acked(const synack_conn *c)
{
	return (c->flags & CF_FIN_SENT) && c->snd_una == c->fin_seq + 1;
}

static uint32_t old_ack_window(const synack_conn *c)
{
	return (uint64_t)c->max_snd_wnd < c->bytes_acked ? c->max_snd_wnd : (uint32_t)c->bytes_acked;
}

/* Fifth: the ACK field. Returns false when the segment is finished with. */
static bool check_ack(synack_conn *c, const wire_seg *seg)
{
	synack_stack *s = c->s;
	uint32_t prior_una;
	bool window_changed;

	if (!(seg->flags & WIRE_ACK))
		return false;
	if (c->state == SYNACK_SYN_RECEIVED) {
		if (!seq_gt(seg->ack, c->snd_una) || seq_gt(seg->ack, c->snd_max)) {
			send_reset_for(s, seg, &c->node.t); /* <SEQ=SEG.ACK><CTL=RST> */
			return false;
		}
		c->snd_wnd = (uint32_t)seg->win << (c->snd_wscale > 0 ? c->snd_wscale : 0);
		c->max_snd_wnd = c->snd_wnd;
		c->snd_wl1 = seg->seq;
		c->snd_wl2 = seg->ack;
		rtt_from_ack(c, seg);
		take_acked(c, seg->ack);
		handshake_done(c);
	}
	/* RFC 5961 section 5.2: acceptable only within
	 * [SND.UNA - MAX.SND.WND, SND.NXT]; outside it, a challenge ACK. Linux
	 * (6.18) bounds MAX.SND.WND by the bytes acknowledged so far. */
	if (seq_gt(seg->ack, c->snd_max)) {
		s->ctr.drop_ack_unacceptable++;
		conn_challenge_ack(c);
		return false;
	}
	if (seq_lt(seg->ack, c->snd_una - old_ack_window(c))) {
		s->ctr.drop_ack_old++;
		conn_challenge_ack(c);
		return false;
	}
	prior_una = c->snd_una;
	if (seq_gt(seg->ack, c->snd_una)) {
		rtt_from_ack(c, seg);
		take_acked(c, seg->ack);
		if (c->snd_una == c->snd_max)
			conn_timer_set(c, CT_NONE, 0);
	}
	window_changed = update_window(c, seg, prior_una);
	/* Recovery, the congestion window and the loss timers (cc.c). */
	cc_on_ack(c, seg, prior_una, window_changed);
	switch (c->state) {
	case SYNACK_FIN_WAIT_1:
		if (fin_acked(c)) {
			conn_set_state(c, SYNACK_FIN_WAIT_2);
			conn_timer_set(c, CT_NONE, 0);
		}
		break;
	case SYNACK_CLOSING:
		if (fin_acked(c)) {
			conn_enter_timewait(c);
			return false;
		}
		break;
	case SYNACK_LAST_ACK:
		if (fin_acked(c)) {
			conn_done(c, 0);
			return false;
		}
		break;
	default:
		break;
	}
	return true;
}

/* The peer's FIN is in sequence: RFC 9293 3.10.7.4, eighth step. Linux
 * (tcp_fin) ACKs it at once except in ESTABLISHED, where the ACK may wait
 * for a reply (CLOSE-WAIT turns on ping-pong mode). */
static enum ack_need fin_arrived(synack_conn *c)
{
	synack_stack *s = c->s;
	enum ack_need need = ACK_NOW;

	c->rcv_nxt++;
	c->flags |= CF_FIN_RCVD;
	c->flags &= (uint16_t)~CF_OOO_FIN;
	switch (c->state) {
	case SYNACK_SYN_RECEIVED:
	case SYNACK_ESTABLISHED:
		conn_set_state(c, SYNACK_CLOSE_WAIT);
		c->pingpong = 1;
		need = ACK_SCHEDULE;
		break;
	case SYNACK_FIN_WAIT_1:
		if (fin_acked(c))
			conn_enter_timewait(c);
		else
			conn_set_state(c, SYNACK_CLOSING);
		break;
	case SYNACK_FIN_WAIT_2:
		conn_enter_timewait(c);
		break;
	default:
		break;
	}
	stack_event(s, SYNACK_EV_READABLE, c, c->lst, 0);
	return need;
}

/* Eighth: FIN, taken once every byte before it has arrived; a FIN beyond a
 * hole is remembered until the hole fills. */
static enum ack_need take_fin(synack_conn *c, const wire_seg *seg)
{
	uint32_t fin_seq = seg->seq + seg_len(seg) - 1;

	if ((c->flags & CF_OOO_FIN) && c->ooo_fin_seq == c->rcv_nxt)
		return fin_arrived(c);
	if (!(seg->flags & WIRE_FIN))
		return ACK_NONE;
	if (c->flags & CF_FIN_RCVD) {
		if (fin_seq != c->rcv_nxt - 1)
			return ACK_NONE;
		/* The peer did not hear our ACK of its FIN: ACK it again; in
		 * TIME-WAIT this restarts the 2 MSL wait. */
		if (c->state == SYNACK_TIME_WAIT)
			conn_enter_timewait(c);
		return ACK_NOW;
	}
	if (fin_seq != c->rcv_nxt) {
		if (seq_gt(fin_seq, c->rcv_nxt) && (c->state == SYNACK_ESTABLISHED ||
		    c->state == SYNACK_FIN_WAIT_1 || c->state == SYNACK_FIN_WAIT_2)) {
			c->flags |= CF_OOO_FIN;
			c->ooo_fin_seq = fin_seq;
		}
		return ACK_NONE; /* bytes before the FIN are missing */
	}
	return fin_arrived(c);
}

/* In SYN-RECEIVED after crossing SYNs, the peer's SYN-ACK repeats its SYN
 * and acknowledges ours (Linux's tcp_validate_incoming). */
static bool simultaneous_synack(const synack_conn *c, const wire_seg *seg)
{
	return c->state == SYNACK_SYN_RECEIVED && (seg->flags & WIRE_ACK) && seg_len(seg) == 1 &&
	       seg->seq + 1 == c->rcv_nxt && seg->ack == c->snd_nxt;
}

static void store_ts_recent(synack_conn *c, const wire_seg *seg)
{
	/* RFC 7323 4.3: remember the newest timestamp of an in-order segment. */
	if ((c->neg & NEG_TS) && (seg->opts.present & WIRE_HAS_TS) && seq_leq(seg->seq, c->rcv_nxt) &&
	    !seq_lt(seg->opts.ts_val, c->ts_recent)) {
		c->ts_recent = seg->opts.ts_val;
		c->ts_recent_at = c->s->now;
	}
}

/* RFC 3168 6.1.3: a CE mark on data means ECE on our segments until the
 * peer's CWR says it reacted. Returns true for a new CE mark. */
static bool ecn_input(synack_conn *c, const wire_seg *seg)
{
	if (!(c->neg & NEG_ECN))
		return false;
	if (seg->flags & WIRE_CWR)
		c->ecn_flags &= (uint8_t)~ECN_ECE_PENDING;
	if (seg->payload_len && (seg->tos & IP_ECN_MASK) == IP_ECN_CE) {
		c->s->ctr.ecn_ce_received++;
		c->ecn_flags |= ECN_ECE_PENDING;
		return true;
	}
	return false;
}

/* RFC 9293 3.10.7.4 for SYN-RECEIVED and the synchronized states. */
void conn_input(synack_conn *c, const wire_seg *seg)
{
	synack_stack *s = c->s;
	uint64_t sent_before;
	enum ack_need need, fin_need;
	bool reset = false, ce;

	/* RFC 7323 5.3: PAWS, before the sequence check. A reset passes. */
	if (!(seg->flags & WIRE_RST) && paws_reject(c, seg)) {
		s->ctr.drop_paws++;
		if (seg->flags & WIRE_SYN)
			conn_challenge_ack(c);
		else
			conn_dupack(c, seg);
		return;
	}
	/* First: the sequence number. */
	if (!seq_acceptable(c, seg)) {
		if (seg->flags & WIRE_RST) {
			if (rst_after_fin(c, seg)) {
				check_rst(c, seg);
				return;
			}
			s->ctr.drop_rst_out_of_window++;
			return;
		}
		s->ctr.drop_out_of_window++;
		if (seg->flags & WIRE_SYN)
			conn_challenge_ack(c);
		else
			conn_dupack(c, seg);
		return;
	}
	/* Second: RST. */
	if (check_rst(c, seg))
		return;
	c->last_heard = s->now; /* keepalive counts silence from here */
	c->ka_probes = 0;
	/* Fourth: SYN in a synchronized state (RFC 5961 section 4), except the
	 * peer's SYN-ACK in a simultaneous open, which Linux lets pass. */
	if ((seg->flags & WIRE_SYN) && !simultaneous_synack(c, seg)) {
		conn_challenge_ack(c);
		return;
	}
	store_ts_recent(c, seg);
	ce = ecn_input(c, seg);
	/* Fifth: ACK. */
	if (!check_ack(c, seg))
		return;
	/* Seventh and eighth: text and FIN. */
	need = rcv_text(c, seg, &reset);
	if (reset) {
		conn_done(c, -ECONNRESET);
		return;
	}
	fin_need = take_fin(c, seg);
	if (fin_need > need)
		need = fin_need;
	if (ce && need)
		need = ACK_NOW; /* Linux ACKs a CE mark at once */
	/* Data we send carries the ACK; otherwise the ACK policy decides. */
	sent_before = s->ctr.out_packets + s->out_len;
	conn_output(c);
	if (s->ctr.out_packets + s->out_len == sent_before)
		rcv_ack_check(c, need);
	else
		conn_timer_sync(c);
}
