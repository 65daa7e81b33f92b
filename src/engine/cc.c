/* cc.c — what the sender makes of each ACK, as Linux 6.x does with reno:
 * the SACK scoreboard (RFC 2018), loss detection by RACK (RFC 8985) or by
 * the duplicate-ACK threshold (RFC 6675 IsLost, tcp_recovery=0), the
 * congestion-avoidance states Open / Disorder / CWR / Recovery / Loss
 * (Linux's tcp_fastretrans_alert), Proportional Rate Reduction (RFC 6937,
 * tcp_cwnd_reduction), NewReno (RFC 6582) when the peer has no SACK, F-RTO
 * (RFC 5682) after a timeout, and slow start / congestion avoidance
 * (RFC 5681 with Linux's byte counting in cwnd_cnt). Comments name the
 * Linux function each rule follows. */
#include "engine/internal.h"

#define TCP_REORDERING 3    /* tcp_reordering: the duplicate threshold (RFC 5681 3.2) */
#define MIN_SSTHRESH 2      /* tcp_reno_ssthresh: never below two segments */
#define RACK_REO_WND_DIV 4  /* RFC 8985 6.2: reordering window min_rtt / 4 */
#define REO_TIMER_SLACK_MS 2 /* Linux adds TCP_TIMEOUT_MIN to the reordering timer */
#define SSTHRESH_INFINITE UINT32_MAX

/* What one ACK did (Linux's FLAG_* of tcp_ack). */
#define FLAG_DATA 0x001            /* the segment carried data */
#define FLAG_WIN_UPDATE 0x002      /* it changed the send window */
#define FLAG_DATA_ACKED 0x004      /* it acknowledged segments */
#define FLAG_RETRANS_DATA_ACKED 0x008
#define FLAG_DATA_SACKED 0x010     /* it SACKed segments newly */
#define FLAG_ECE 0x020             /* ECN-Echo */
#define FLAG_SND_UNA_ADVANCED 0x040
#define FLAG_ORIG_SACK_ACKED 0x080 /* never-resent data below high_seq delivered */
#define FLAG_LOST_RETRANS 0x100    /* a retransmission was found lost */
#define FLAG_SET_XMIT_TIMER 0x200  /* rearm the TLP / RTO timer */
#define FLAG_NOT_DUP (FLAG_DATA | FLAG_WIN_UPDATE | FLAG_DATA_ACKED)
#define FLAG_CA_ALERT (FLAG_DATA_SACKED | FLAG_ECE)

enum rexmit { REXMIT_NONE, REXMIT_LOST, REXMIT_NEW };

static bool is_sack(const synack_conn *c) { return c->neg & NEG_SACK; }

static bool is_rack(const synack_conn *c)
{
	return c->s->cfg.recovery & SYNACK_RECOVERY_RACK;
}

bool cc_in_cwnd_reduction(const synack_conn *c)
{
	return c->ca_state == SYNACK_CA_CWR || c->ca_state == SYNACK_CA_RECOVERY;
}

static uint32_t umax(uint32_t a, uint32_t b) { return a > b ? a : b; }
static uint32_t umin(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* The end of the highest SACKed segment, or `una` when none is (Linux's
 * tcp_highest_sack_seq, the "fack"). */
static uint32_t highest_sack(const synack_conn *c, uint32_t una)
{
	if (!c->sacked_out || !is_sack(c))
		return una;
	for (uint32_t i = c->rtx.len; i-- > 0;)
		if (rtx_at(c, i)->state & SEG_SACKED)
			return rtx_at(c, i)->end;
	return una;
}

/* ---- RACK (RFC 8985) ---------------------------------------------------- */

/* Linux's tcp_skb_sent_after: later in time, or at once but higher. */
static bool sent_after(synack_time t1, synack_time t2, uint32_t seq1, uint32_t seq2)
{
	return t1 > t2 || (t1 == t2 && seq_gt(seq1, seq2));
}

/* RFC 8985 6.1 (Linux's tcp_rack_advance): remember the most recently sent
 * segment that was delivered, and its RTT. A resent segment delivered
 * sooner than min_rtt is ambiguous: the original may have arrived. */
static void rack_advance(synack_conn *c, const rtx_seg *g)
{
	uint32_t rtt_us = (uint32_t)((c->s->now - g->sent) / NS_PER_US);

	if (rtt_us < c->min_rtt_us && (g->state & (SEG_RETRANS | SEG_EVER_RETRANS)))
		return;
	c->rack_advanced = 1;
	c->rack_rtt_us = rtt_us;
	if (sent_after(g->sent, c->rack_sent, g->end, c->rack_end_seq)) {
		c->rack_sent = g->sent;
		c->rack_end_seq = g->end;
	}
}

/* RFC 8985 6.2 (Linux's tcp_rack_reo_wnd): no reordering window while
 * recovering or once the duplicate threshold is met, unless reordering was
 * seen; else a quarter of min_rtt, at most SRTT. */
static uint32_t rack_reo_wnd_us(const synack_conn *c)
{
	if (!c->reord_seen) {
		if (c->ca_state >= SYNACK_CA_RECOVERY)
			return 0;
		if (c->sacked_out >= TCP_REORDERING)
			return 0;
	}
	return umin(c->min_rtt_us / RACK_REO_WND_DIV, c->srtt_us);
}

/* RFC 8985 6.2 (Linux's tcp_rack_detect_loss): a segment sent before the
 * last delivered one is lost once RACK.rtt plus the reordering window has
 * passed since it went out. Returns the longest wait left, in us (0: none). */
static uint32_t rack_detect_loss(synack_conn *c)
{
	uint32_t reo_wnd = rack_reo_wnd_us(c), wait = 0;

	for (uint32_t i = 0; i < c->rtx.len; i++) {
		rtx_seg *g = rtx_at(c, i);
		int64_t remaining;

		if (g->state & SEG_SACKED)
			continue;
		if ((g->state & SEG_LOST) && !(g->state & SEG_RETRANS))
			continue; /* lost, not yet resent */
		if (!sent_after(c->rack_sent, g->sent, c->rack_end_seq, g->end))
			continue;
		remaining = (int64_t)c->rack_rtt_us + reo_wnd -
		            (int64_t)((c->s->now - g->sent) / NS_PER_US);
		if (remaining <= 0)
			rtx_mark_lost(c, g);
		else if ((uint64_t)remaining > wait)
			wait = (uint32_t)remaining;
	}
	return wait;
}

/* Linux's tcp_rack_mark_lost: scan after new deliveries; arm the
 * reordering timer for segments not yet overdue. True when armed. */
static bool rack_mark_lost(synack_conn *c)
{
	uint32_t wait_us;
	synack_time at, rto_at;

	if (!c->rack_advanced)
		return false;
	c->rack_advanced = 0;
	wait_us = rack_detect_loss(c);
	if (!wait_us)
		return false;
	at = c->s->now + ((wait_us + 999) / 1000 + REO_TIMER_SLACK_MS) * NS_PER_MS;
	rto_at = c->s->now + (synack_time)c->rto_ms * NS_PER_MS;
	conn_timer_set(c, CT_REO, at < rto_at ? at : rto_at);
	return true;
}

/* ---- the reno emulation of SACK without SACK (Linux's tcp_*_reno_sack) ---- */

/* sacked_out + max(lost_out, 1) never exceeds packets_out. */
static void reno_limit_sacked(synack_conn *c)
{
	uint32_t holes = umin(umax(c->lost_out, 1), c->rtx.len);

	if (c->sacked_out + holes > c->rtx.len)
		c->sacked_out = c->rtx.len - holes;
}

/* Each duplicate ACK stands for one segment that left the network. */
static uint32_t reno_add_sack(synack_conn *c, uint32_t num_dupack)
{
	uint32_t prior = c->sacked_out;

	if (!num_dupack)
		return 0;
	c->sacked_out += num_dupack;
	reno_limit_sacked(c);
	return c->sacked_out - prior;
}

/* A cumulative ACK of `acked` segments: one filled the hole, the others
 * had been counted by duplicate ACKs already. Returns segments delivered. */
static uint32_t reno_remove_sacks(synack_conn *c, uint32_t acked)
{
	uint32_t delivered = acked > c->sacked_out + 1 ? acked - c->sacked_out : 1;

	c->sacked_out = acked - 1 >= c->sacked_out ? 0 : c->sacked_out - (acked - 1);
	reno_limit_sacked(c);
	return delivered;
}

/* ---- the scoreboard: SACK blocks and cumulative ACKs -------------------- */

/* The first record ending after seq (records are sorted and disjoint). */
static uint32_t rtx_find(const synack_conn *c, uint32_t seq)
{
	uint32_t lo = 0, hi = c->rtx.len;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (seq_gt(rtx_at(c, mid)->end, seq))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Linux's tcp_sacktag_one for a segment the block covers entirely. */
static uint32_t sacktag_one(synack_conn *c, rtx_seg *g, uint32_t prior_fack, uint32_t *flag)
{
	if (g->state & SEG_SACKED)
		return 0;
	rack_advance(c, g);
	if (g->state & SEG_RETRANS) {
		/* Not lost any more: the resend (or the original) arrived. */
		if (g->state & SEG_LOST) {
			g->state &= (uint8_t)~(SEG_LOST | SEG_RETRANS);
			c->lost_out--;
			c->retrans_out--;
		}
	} else {
		if (!(g->state & SEG_EVER_RETRANS)) {
			if (seq_lt(g->start, prior_fack))
				c->reord_seen = 1; /* a hole filled by the original */
			if (!seq_gt(g->end, c->high_seq))
				*flag |= FLAG_ORIG_SACK_ACKED;
		}
		if (g->state & SEG_LOST) {
			g->state &= (uint8_t)~SEG_LOST;
			c->lost_out--;
		}
	}
	g->state |= SEG_SACKED;
	c->sacked_out++;
	*flag |= FLAG_DATA_SACKED;
	return 1;
}

/* Marks what the SACK blocks report (RFC 2018). D-SACKs (RFC 2883) and
 * blocks outside the flight are ignored. Returns segments newly SACKed. */
static uint32_t sacktag(synack_conn *c, const wire_seg *seg, uint32_t prior_fack, uint32_t *flag)
{
	const wire_opts *o = &seg->opts;
	uint32_t delivered = 0;

	if (!is_sack(c) || !(o->present & WIRE_HAS_SACK))
		return 0;
	for (unsigned b = 0; b < o->sack_count; b++) {
		uint32_t start = o->sack[b][0], end = o->sack[b][1];
		if (!seq_lt(start, end) || !seq_gt(start, c->snd_una) || seq_gt(end, c->snd_nxt))
			continue;
		for (uint32_t i = rtx_find(c, start); i < c->rtx.len; i++) {
			rtx_seg *g = rtx_at(c, i);
			if (seq_gt(g->end, end))
				break;
			if (!seq_lt(g->start, start))
				delivered += sacktag_one(c, g, prior_fack, flag);
		}
	}
	return delivered;
}

/* The peer dropped data it had SACKed (Linux's tcp_check_sack_reneging at a
 * timeout): forget every SACK mark. */
static void sack_reneged(synack_conn *c)
{
	for (uint32_t i = 0; i < c->rtx.len; i++)
		rtx_at(c, i)->state &= (uint8_t)~SEG_SACKED;
	c->sacked_out = 0;
}

/* Linux's tcp_clean_rtx_queue: drops the records SND.UNA passed. Returns
 * segments delivered by this ACK that no SACK had reported. */
static uint32_t clean_rtx_queue(synack_conn *c, uint32_t prior_fack, uint32_t *flag)
{
	uint32_t acked = 0, delivered = 0;

	while (c->rtx.len) {
		rtx_seg *g = rtx_at(c, 0);
		if (seq_gt(g->end, c->snd_una)) {
			if (seq_gt(c->snd_una, g->start))
				g->start = c->snd_una; /* partly acknowledged */
			break;
		}
		if (g->state & SEG_RETRANS)
			c->retrans_out--;
		if (g->state & (SEG_RETRANS | SEG_EVER_RETRANS)) {
			*flag |= FLAG_RETRANS_DATA_ACKED;
		} else if (!(g->state & SEG_SACKED)) {
			if (seq_lt(g->start, prior_fack))
				c->reord_seen = 1;
			if (!seq_gt(g->end, c->high_seq))
				*flag |= FLAG_ORIG_SACK_ACKED;
		}
		if (g->state & SEG_SACKED) {
			c->sacked_out--;
		} else if (is_sack(c)) {
			delivered++;
			rack_advance(c, g);
		}
		if (g->state & SEG_LOST)
			c->lost_out--;
		c->rtx.head = (c->rtx.head + 1) & (c->rtx.cap - 1);
		c->rtx.len--;
		acked++;
	}
	if (!acked)
		return 0;
	*flag |= FLAG_DATA_ACKED | FLAG_SET_XMIT_TIMER;
	if (!is_sack(c))
		delivered = reno_remove_sacks(c, acked);
	return delivered;
}

/* ---- window reductions ----------------------------------------------------- */

/* tcp_reno_ssthresh. */
static uint32_t reno_ssthresh(const synack_conn *c)
{
	return umax(c->cwnd / 2, MIN_SSTHRESH);
}

/* Linux's tcp_current_ssthresh: what ssthresh would be if we stopped now. */
static uint32_t current_ssthresh(const synack_conn *c)
{
	if (cc_in_cwnd_reduction(c))
		return c->ssthresh;
	return umax(c->ssthresh, (c->cwnd >> 1) + (c->cwnd >> 2));
}

static void set_ca_state(synack_conn *c, uint8_t state) { c->ca_state = state; }

/* Linux's tcp_init_cwnd_reduction: the start of CWR or Recovery. */
static void init_cwnd_reduction(synack_conn *c)
{
	c->high_seq = c->snd_nxt;
	c->tlp_high_seq = 0;
	c->cwnd_cnt = 0;
	c->prior_cwnd = c->cwnd;
	c->prr_delivered = 0;
	c->prr_out = 0;
	c->ssthresh = reno_ssthresh(c);
	if (c->neg & NEG_ECN)
		c->ecn_flags |= ECN_CWR_PENDING; /* RFC 3168 6.1.2 */
}

/* RFC 6937 as Linux's tcp_cwnd_reduction: while the flight exceeds
 * ssthresh, send in proportion to what was delivered (ssthresh/prior_cwnd);
 * below it, slow-start back up to ssthresh (PRR-SSRB). cwnd becomes
 * in_flight + sndcnt. */
static void cwnd_reduction(synack_conn *c, uint32_t delivered, uint32_t newly_lost, uint32_t flag)
{
	int64_t delta = (int64_t)c->ssthresh - cc_in_flight(c);
	int64_t sndcnt;

	if (!delivered || !c->prior_cwnd)
		return;
	c->prr_delivered += delivered;
	if (delta < 0) {
		uint64_t dividend = (uint64_t)c->ssthresh * c->prr_delivered + c->prior_cwnd - 1;
		sndcnt = (int64_t)(dividend / c->prior_cwnd) - c->prr_out;
	} else {
		sndcnt = (int64_t)c->prr_delivered - c->prr_out;
		if (sndcnt < delivered)
			sndcnt = delivered;
		if ((flag & FLAG_SND_UNA_ADVANCED) && !newly_lost)
			sndcnt++;
		if (sndcnt > delta)
			sndcnt = delta;
	}
	/* The fast retransmit itself always goes. */
	if (sndcnt < (c->prr_out ? 0 : 1))
		sndcnt = c->prr_out ? 0 : 1;
	c->cwnd = (uint32_t)(cc_in_flight(c) + sndcnt);
}

/* Linux's tcp_end_cwnd_reduction: leave CWR or Recovery at ssthresh. */
static void end_cwnd_reduction(synack_conn *c)
{
	if (c->ssthresh < SSTHRESH_INFINITE &&
	    (c->ca_state == SYNACK_CA_CWR || c->undo_marker))
		c->cwnd = c->ssthresh;
}

/* Linux's tcp_enter_cwr: ECN-Echo reduces the window once per flight. */
static void enter_cwr(synack_conn *c)
{
	c->prior_ssthresh = 0;
	if (c->ca_state < SYNACK_CA_CWR) {
		c->undo_marker = 0;
		init_cwnd_reduction(c);
		set_ca_state(c, SYNACK_CA_CWR);
		c->s->ctr.ecn_reductions++;
	}
}

/* Linux's tcp_enter_recovery. */
static void enter_recovery(synack_conn *c, bool ece)
{
	c->prior_ssthresh = 0;
	c->undo_marker = 1;
	if (!cc_in_cwnd_reduction(c)) {
		if (!ece)
			c->prior_ssthresh = current_ssthresh(c);
		init_cwnd_reduction(c);
	}
	set_ca_state(c, SYNACK_CA_RECOVERY);
	c->s->ctr.fast_retransmits++;
}

/* Linux's tcp_any_retrans_done. */
static bool any_retrans_done(const synack_conn *c)
{
	return c->retrans_out || (c->rtx.len && (rtx_at(c, 0)->state & SEG_EVER_RETRANS));
}

/* Linux's tcp_try_keep_open: Disorder while anything is SACKed, lost or
 * resent, else Open. */
static void try_keep_open(synack_conn *c)
{
	uint8_t state = SYNACK_CA_OPEN;

	if (c->sacked_out + c->lost_out || any_retrans_done(c))
		state = SYNACK_CA_DISORDER;
	if (c->ca_state != state) {
		set_ca_state(c, state);
		c->high_seq = c->snd_nxt;
	}
}

/* Linux's tcp_try_to_open. */
static void try_to_open(synack_conn *c, uint32_t flag)
{
	if (flag & FLAG_ECE)
		enter_cwr(c);
	if (c->ca_state != SYNACK_CA_CWR)
		try_keep_open(c);
}

/* Linux's tcp_undo_cwnd_reduction (reno's undo_cwnd): the reduction was
 * not needed; give the window back and forget the loss marks. */
static void undo_cwnd_reduction(synack_conn *c)
{
	for (uint32_t i = 0; i < c->rtx.len; i++)
		rtx_at(c, i)->state &= (uint8_t)~SEG_LOST;
	c->lost_out = 0;
	if (c->prior_ssthresh) {
		c->cwnd = umax(c->cwnd, c->prior_cwnd);
		c->ssthresh = umax(c->ssthresh, c->prior_ssthresh);
	}
	c->undo_marker = 0;
	c->rack_advanced = 1;
}

/* ---- loss marking ------------------------------------------------------------ */

/* Linux's tcp_newreno_mark_lost: without SACK only the head can be known
 * lost: after the third duplicate ACK, or at a partial ACK in Recovery
 * (RFC 6582 3.2 step 5). */
static void newreno_mark_lost(synack_conn *c, bool una_advanced)
{
	rtx_seg *g = rtx_at(c, 0);

	if ((c->ca_state < SYNACK_CA_RECOVERY && c->sacked_out >= TCP_REORDERING) ||
	    (c->ca_state == SYNACK_CA_RECOVERY && una_advanced)) {
		if (!(g->state & SEG_LOST))
			rtx_mark_lost(c, g);
	}
}

/* Linux's tcp_mark_head_lost (RFC 6675 IsLost in segments): from the head,
 * mark unSACKed segments lost until more than `packets` SACKed ones have
 * been passed; only the head when mark_head. */
static void mark_head_lost(synack_conn *c, uint32_t packets, bool mark_head)
{
	uint32_t cnt = 0;

	for (uint32_t i = 0; i < c->rtx.len; i++) {
		rtx_seg *g = rtx_at(c, i);
		if (seq_gt(g->end, c->snd_nxt))
			break;
		if (g->state & SEG_SACKED)
			cnt++;
		if (cnt > packets)
			break;
		if (!(g->state & SEG_LOST))
			rtx_mark_lost(c, g);
		if (mark_head)
			break;
	}
}

/* Linux's tcp_update_scoreboard, for tcp_recovery=0 with SACK: a segment
 * with DupThresh SACKed segments above it is lost. */
static void update_scoreboard(synack_conn *c, bool fast_rexmit)
{
	if (!is_sack(c))
		return;
	if (c->sacked_out >= TCP_REORDERING)
		mark_head_lost(c, c->sacked_out - TCP_REORDERING, false);
	else if (fast_rexmit)
		mark_head_lost(c, 1, true);
}

/* Linux's tcp_identify_packet_loss. */
static void identify_packet_loss(synack_conn *c, uint32_t *flag)
{
	uint32_t prior_retrans = c->retrans_out;

	if (!c->rtx.len)
		return;
	if (!is_sack(c)) {
		newreno_mark_lost(c, *flag & FLAG_SND_UNA_ADVANCED);
	} else if (is_rack(c)) {
		if (rack_mark_lost(c))
			*flag &= ~(uint32_t)FLAG_SET_XMIT_TIMER;
		if (prior_retrans > c->retrans_out)
			*flag |= FLAG_LOST_RETRANS;
	}
}

/* Linux's tcp_time_to_recover: a loss is known, or (classic rule without
 * RACK) more than DupThresh segments were reported beyond SND.UNA. */
static bool time_to_recover(const synack_conn *c)
{
	if (c->lost_out)
		return true;
	return !is_rack(c) && c->sacked_out + 1 > TCP_REORDERING;
}

/* Linux's tcp_force_fast_retransmit: SACKs reach beyond DupThresh segments. */
static bool force_fast_retransmit(const synack_conn *c)
{
	return seq_gt(highest_sack(c, c->snd_una), c->snd_una + TCP_REORDERING * (uint32_t)c->snd_mss);
}

/* ---- the state machine (Linux's tcp_fastretrans_alert) --------------------- */

/* Linux's tcp_try_undo_recovery, without the timestamp / D-SACK undo:
 * NewReno holds Recovery until data above high_seq is acknowledged (RFC
 * 6582 avoids a false fast retransmit); otherwise back to Open. */
static bool hold_recovery(synack_conn *c)
{
	if (!is_sack(c) && c->snd_una == c->high_seq)
		return true;
	set_ca_state(c, SYNACK_CA_OPEN);
	return false;
}

/* Linux's tcp_try_undo_loss for F-RTO: the timeout was spurious. */
static void frto_undo(synack_conn *c)
{
	undo_cwnd_reduction(c);
	set_ca_state(c, SYNACK_CA_OPEN);
	c->frto = 0;
}

/* Linux's tcp_process_loss: the Loss state after a timeout, with F-RTO
 * (RFC 5682 3.1, SACK-enhanced). */
static void process_loss(synack_conn *c, uint32_t flag, uint32_t num_dupack, enum rexmit *rexmit)
{
	bool recovered = !seq_lt(c->snd_una, c->high_seq);

	if (c->frto) {
		/* Step 3.b: never-resent data delivered: the timeout was spurious. */
		if (flag & FLAG_ORIG_SACK_ACKED) {
			frto_undo(c);
			return;
		}
		if (seq_gt(c->snd_nxt, c->high_seq)) {
			if ((flag & FLAG_DATA_SACKED) || num_dupack)
				c->frto = 0; /* step 3.a: the loss was real */
		} else if ((flag & FLAG_SND_UNA_ADVANCED) && !recovered) {
			/* Step 2.b: send new data, once cwnd has grown. */
			c->high_seq = c->snd_nxt;
			if (seq_lt(c->snd_nxt, c->snd_una + c->sndq.len) &&
			    seq_gt(c->snd_una + c->snd_wnd, c->snd_nxt)) {
				*rexmit = REXMIT_NEW;
				return;
			}
			c->frto = 0;
		}
	}
	if (recovered) {
		hold_recovery(c); /* step 2.a */
		return;
	}
	if (!is_sack(c)) {
		/* A duplicate ACK means new data sent under F-RTO arrived. */
		if (seq_gt(c->snd_nxt, c->high_seq) && num_dupack)
			reno_add_sack(c, num_dupack);
		else if (flag & FLAG_SND_UNA_ADVANCED)
			c->sacked_out = 0;
	}
	*rexmit = REXMIT_LOST;
}

/* Linux's tcp_fastretrans_alert: the ACK is dubious (a duplicate, new SACK
 * information, ECN-Echo, or we are not Open). Returns segments a NewReno
 * duplicate ACK delivered. */
static uint32_t fastretrans_alert(synack_conn *c, uint32_t num_dupack, uint32_t *flag,
                                  enum rexmit *rexmit)
{
	bool ece = *flag & FLAG_ECE;
	bool do_lost = num_dupack || ((*flag & FLAG_DATA_SACKED) && force_fast_retransmit(c));
	bool fast_rexmit = false;
	uint32_t delivered = 0;

	if (!c->rtx.len && c->sacked_out)
		c->sacked_out = 0;
	if (ece)
		c->prior_ssthresh = 0;
	/* D: leave a state once high_seq is acknowledged. */
	if (c->ca_state != SYNACK_CA_OPEN && !seq_lt(c->snd_una, c->high_seq)) {
		if (c->ca_state == SYNACK_CA_CWR && c->snd_una != c->high_seq) {
			end_cwnd_reduction(c);
			set_ca_state(c, SYNACK_CA_OPEN);
		} else if (c->ca_state == SYNACK_CA_RECOVERY) {
			if (!is_sack(c))
				c->sacked_out = 0;
			if (hold_recovery(c))
				return 0;
			end_cwnd_reduction(c);
		}
	}
	/* E: process the state. */
	switch (c->ca_state) {
	case SYNACK_CA_RECOVERY:
		if (!(*flag & FLAG_SND_UNA_ADVANCED) && !is_sack(c))
			delivered = reno_add_sack(c, num_dupack);
		identify_packet_loss(c, flag);
		break;
	case SYNACK_CA_LOSS:
		process_loss(c, *flag, num_dupack, rexmit);
		identify_packet_loss(c, flag);
		/* Undone, or retransmissions lost again: go on as below. */
		if (c->ca_state != SYNACK_CA_OPEN && !(*flag & FLAG_LOST_RETRANS))
			return 0;
		/* fall through */
	default:
		if (!is_sack(c)) {
			if (*flag & FLAG_SND_UNA_ADVANCED)
				c->sacked_out = 0;
			delivered = reno_add_sack(c, num_dupack);
		}
		identify_packet_loss(c, flag);
		if (!time_to_recover(c)) {
			try_to_open(c, *flag);
			return delivered;
		}
		enter_recovery(c, ece);
		fast_rexmit = true;
	}
	if (!is_rack(c) && do_lost)
		update_scoreboard(c, fast_rexmit);
	*rexmit = REXMIT_LOST;
	return delivered;
}

/* Linux's tcp_process_tlp_ack (RFC 8985 7.4): did the probe repair a loss? */
static void process_tlp_ack(synack_conn *c, uint32_t ack, uint32_t flag)
{
	if (seq_lt(ack, c->tlp_high_seq))
		return;
	if (!c->tlp_retrans) {
		c->tlp_high_seq = 0; /* a probe of new data was acknowledged */
	} else if (seq_gt(ack, c->tlp_high_seq)) {
		/* The probe repaired a loss: reduce once, as for ECN. */
		init_cwnd_reduction(c);
		set_ca_state(c, SYNACK_CA_CWR);
		end_cwnd_reduction(c);
		try_keep_open(c);
	} else if (!(flag & (FLAG_SND_UNA_ADVANCED | FLAG_NOT_DUP | FLAG_DATA_SACKED))) {
		c->tlp_high_seq = 0; /* both the original and the probe arrived */
	}
}

/* ---- growth: slow start and congestion avoidance ------------------------------- */

/* Linux's tcp_is_cwnd_limited: the window was used up in the last flight,
 * or in slow start the flight reached half of cwnd. */
static bool is_cwnd_limited(const synack_conn *c)
{
	if (c->is_cwnd_limited)
		return true;
	if (c->cwnd < c->ssthresh)
		return c->cwnd < 2 * c->max_packets_out;
	return false;
}

/* Linux's tcp_cwnd_validate (without the idle restart): remember whether
 * this flight was limited by cwnd, and its largest size. */
void cc_cwnd_validate(synack_conn *c, bool cwnd_limited)
{
	if (!seq_lt(c->snd_una, c->cwnd_usage_seq) || cwnd_limited ||
	    (!c->is_cwnd_limited && c->rtx.len > c->max_packets_out)) {
		c->is_cwnd_limited = cwnd_limited;
		c->max_packets_out = c->rtx.len;
		c->cwnd_usage_seq = c->snd_nxt;
	}
}

/* tcp_reno_cong_avoid: slow start up to ssthresh (RFC 5681 3.1), then one
 * segment per window's worth of delivered segments (tcp_cong_avoid_ai). */
static void reno_cong_avoid(synack_conn *c, uint32_t acked)
{
	if (!is_cwnd_limited(c))
		return;
	if (c->cwnd < c->ssthresh) {
		uint32_t cwnd = umin(c->cwnd + acked, c->ssthresh);
		acked -= cwnd - c->cwnd;
		c->cwnd = cwnd;
		if (!acked)
			return;
	}
	if (c->cwnd_cnt >= c->cwnd) {
		c->cwnd_cnt = 0;
		c->cwnd++;
	}
	c->cwnd_cnt += acked;
	if (c->cwnd_cnt >= c->cwnd) {
		uint32_t delta = c->cwnd_cnt / c->cwnd;
		c->cwnd_cnt -= delta * c->cwnd;
		c->cwnd += delta;
	}
}

/* Linux's tcp_cong_control for reno: reduce while in CWR / Recovery, grow
 * on in-order delivery otherwise. */
static void cong_control(synack_conn *c, uint32_t delivered, uint32_t newly_lost, uint32_t flag)
{
	if (cc_in_cwnd_reduction(c))
		cwnd_reduction(c, delivered, newly_lost, flag);
	else if (flag & FLAG_DATA_ACKED)
		reno_cong_avoid(c, delivered);
}

/* ---- sending what recovery asks for ---------------------------------------------- */

/* Linux's tcp_xmit_retransmit_queue: lost segments, oldest first, while
 * cwnd allows; a resent head restarts the RTO. */
static void xmit_lost(synack_conn *c)
{
	bool rearm = false;
	uint32_t prev = 0;
	bool resent = false; /* record prev was resent just before */

	for (uint32_t i = 0; i < c->rtx.len; i++) {
		rtx_seg *g = rtx_at(c, i);
		bool joined;
		if (cc_in_flight(c) >= c->cwnd || c->retrans_out >= c->lost_out)
			break;
		if (!(g->state & SEG_LOST) || (g->state & (SEG_SACKED | SEG_RETRANS)))
			continue;
		/* Resent in one packet with the previous record when both
		 * left in the same packet the first time. */
		joined = resent && prev + 1 == i && !(rtx_at(c, prev)->tcp_flags & WIRE_PSH);
		if (!rtx_resend(c, i, joined))
			break;
		prev = i;
		resent = true;
		g = rtx_at(c, i);
		g->state |= SEG_RETRANS;
		c->retrans_out++;
		if (i == 0 && c->timer_kind != CT_REO)
			rearm = true;
	}
	if (rearm)
		conn_rearm_rto(c);
}

/* Linux's tcp_xmit_recovery. */
static void xmit_recovery(synack_conn *c, enum rexmit rexmit)
{
	if (rexmit == REXMIT_NONE)
		return;
	if (rexmit == REXMIT_NEW) {
		conn_output(c);
		if (seq_gt(c->snd_nxt, c->high_seq))
			return;
		c->frto = 0;
	}
	xmit_lost(c);
}

/* Linux's tcp_set_xmit_timer after an ACK: a loss probe when allowed,
 * else the RTO; nothing when nothing is in flight. */
static void set_xmit_timer(synack_conn *c)
{
	if (!c->rtx.len && c->snd_una == c->snd_max)
		conn_timer_set(c, CT_NONE, 0);
	else
		conn_arm_loss_timer(c);
}

/* Linux's tcp_ack from the scoreboard on: called once SND.UNA and the send
 * queue have taken the ACK (prior_una is SND.UNA before it). */
void cc_on_ack(synack_conn *c, const wire_seg *seg, uint32_t prior_una, bool window_changed)
{
	uint32_t flag = 0, delivered, num_dupack = 0;
	uint32_t prior_fack, prior_lost = c->lost_total;
	enum rexmit rexmit = REXMIT_NONE;

	/* Nothing in flight (the ACK of a SYN, of a pure ACK stream): no SACK
	 * block can tag anything and no loss state can move. */
	if (c->rtx.len == 0)
		return;
	prior_fack = highest_sack(c, prior_una);
	if (seg->payload_len)
		flag |= FLAG_DATA;
	if (window_changed)
		flag |= FLAG_WIN_UPDATE;
	if (c->snd_una != prior_una)
		flag |= FLAG_SND_UNA_ADVANCED;
	if ((c->neg & NEG_ECN) && (seg->flags & WIRE_ECE) && !(seg->flags & WIRE_SYN))
		flag |= FLAG_ECE;
	delivered = sacktag(c, seg, prior_fack, &flag);
	if (seq_lt(seg->ack, prior_una)) {
		/* An old ACK: only its SACK blocks count (Linux's old_ack). */
		if (flag & FLAG_DATA_SACKED) {
			fastretrans_alert(c, 0, &flag, &rexmit);
			xmit_recovery(c, rexmit);
		}
		return;
	}
	delivered += clean_rtx_queue(c, prior_fack, &flag);
	if (c->tlp_high_seq)
		process_tlp_ack(c, seg->ack, flag);
	if (!(flag & FLAG_NOT_DUP) || (flag & FLAG_CA_ALERT) || c->ca_state != SYNACK_CA_OPEN) {
		if (!(flag & (FLAG_SND_UNA_ADVANCED | FLAG_NOT_DUP)))
			num_dupack = 1;
		delivered += fastretrans_alert(c, num_dupack, &flag, &rexmit);
	}
	if (flag & FLAG_SET_XMIT_TIMER)
		set_xmit_timer(c);
	cong_control(c, delivered, c->lost_total - prior_lost, flag);
	xmit_recovery(c, rexmit);
}

/* Linux's tcp_timeout_mark_lost: everything unSACKed is lost, except what
 * went out within the last RACK RTT (it may still arrive). */
static void timeout_mark_lost(synack_conn *c)
{
	if (c->rtx.len && (rtx_at(c, 0)->state & SEG_SACKED))
		sack_reneged(c);
	else if (!is_sack(c))
		c->sacked_out = 0;
	for (uint32_t i = 0; i < c->rtx.len; i++) {
		rtx_seg *g = rtx_at(c, i);
		uint64_t age_us = (c->s->now - g->sent) / NS_PER_US;
		if (i && c->rack_rtt_us > age_us)
			continue;
		rtx_mark_lost(c, g);
	}
}

/* Linux's tcp_enter_loss at a retransmission timeout (RFC 5681 3.1 (4),
 * RFC 6298 5.5): all lost, cwnd one segment, ssthresh halved once per
 * episode; F-RTO (RFC 5682 3.1 step 1) when no recovery was underway.
 * Then the head goes again. Call before the RTO backs off. */
void cc_on_rto(synack_conn *c)
{
	bool new_recovery = c->ca_state < SYNACK_CA_RECOVERY;

	timeout_mark_lost(c);
	if (c->ca_state <= SYNACK_CA_DISORDER || !seq_gt(c->high_seq, c->snd_una) ||
	    (c->ca_state == SYNACK_CA_LOSS && !c->backoff)) {
		c->prior_ssthresh = current_ssthresh(c);
		c->prior_cwnd = c->cwnd;
		c->ssthresh = reno_ssthresh(c);
		c->undo_marker = 1;
	}
	c->cwnd = cc_in_flight(c) + 1;
	c->cwnd_cnt = 0;
	set_ca_state(c, SYNACK_CA_LOSS);
	c->high_seq = c->snd_nxt;
	c->tlp_high_seq = 0;
	if (c->neg & NEG_ECN)
		c->ecn_flags |= ECN_CWR_PENDING;
	c->frto = c->s->cfg.frto && (new_recovery || c->backoff);
	if (c->rtx.len && rtx_resend(c, 0, false)) {
		rtx_seg *g = rtx_at(c, 0);
		if (!(g->state & SEG_RETRANS) && (g->state & SEG_LOST)) {
			g->state |= SEG_RETRANS;
			c->retrans_out++;
		}
	}
}

/* RFC 8985 6.3 (Linux's tcp_rack_reo_timeout): the reordering window ran
 * out; what is overdue is lost, and recovery starts if it had not. */
void cc_reo_timeout(synack_conn *c)
{
	uint32_t prior_inflight = cc_in_flight(c), prior_lost = c->lost_total;

	c->timer_kind = CT_NONE;
	rack_detect_loss(c);
	if (prior_inflight != cc_in_flight(c)) {
		if (c->ca_state != SYNACK_CA_RECOVERY) {
			enter_recovery(c, false);
			cwnd_reduction(c, 1, c->lost_total - prior_lost, 0);
		}
		xmit_lost(c);
	}
	if (c->timer_kind != CT_RETRANS) {
		synack_time at = rtx_head_sent(c) + (synack_time)c->rto_ms * NS_PER_MS;
		conn_timer_set(c, CT_RETRANS, at > c->s->now ? at : c->s->now + 1);
	}
}

/* Linux's tcp_simple_retransmit: the path MTU shrank; segments that no
 * longer fit are lost, resent at once without a congestion response. */
void cc_simple_retransmit(synack_conn *c)
{
	for (uint32_t i = 0; i < c->rtx.len; i++) {
		rtx_seg *g = rtx_at(c, i);
		if (rtx_seg_data(g) > c->snd_mss)
			rtx_mark_lost(c, g);
	}
	if (!c->lost_out)
		return;
	if (!is_sack(c))
		reno_limit_sacked(c);
	if (c->ca_state != SYNACK_CA_LOSS) {
		c->high_seq = c->snd_nxt;
		c->ssthresh = current_ssthresh(c);
		c->prior_ssthresh = 0;
		c->undo_marker = 0;
		set_ca_state(c, SYNACK_CA_LOSS);
	}
	xmit_lost(c);
}
