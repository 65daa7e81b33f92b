/* cc.c — the sending half's reaction to ACKs: congestion control (RFC 5681:
 * slow start, congestion avoidance), fast retransmit, and loss recovery:
 * RFC 6675's pipe with a SACK scoreboard (RFC 2018) when SACK is on, NewReno
 * (RFC 6582) when it is not. */
#include "engine/internal.h"

#define DUPACK_THRESHOLD 3 /* RFC 5681 3.2 */
#define MIN_SSTHRESH 2     /* RFC 5681 (4): at least two segments */

static uint32_t to_segs(const synack_conn *c, uint32_t bytes)
{
	uint32_t mss = c->snd_mss ? c->snd_mss : 1;

	return (bytes + mss - 1) / mss;
}

/* ---- the SACK scoreboard ---------------------------------------------------- */

static void sacked_remove(synack_conn *c, unsigned i)
{
	memmove(&c->sacked[i], &c->sacked[i + 1], (c->sacked_count - i - 1) * sizeof c->sacked[0]);
	c->sacked_count--;
}

/* Drops what SND.UNA has passed. */
static void sack_trim(synack_conn *c)
{
	while (c->sacked_count && !seq_gt(c->sacked[0].end, c->snd_una))
		sacked_remove(c, 0);
	if (c->sacked_count && seq_lt(c->sacked[0].start, c->snd_una))
		c->sacked[0].start = c->snd_una;
}

/* Inserts [start, end) keeping the runs sorted and disjoint. */
static void sack_insert(synack_conn *c, uint32_t start, uint32_t end)
{
	unsigned i = 0;

	while (i < c->sacked_count && seq_lt(c->sacked[i].end, start))
		i++;
	/* Merge every run that touches [start, end). */
	while (i < c->sacked_count && seq_leq(c->sacked[i].start, end)) {
		start = seq_min(start, c->sacked[i].start);
		end = seq_max(end, c->sacked[i].end);
		sacked_remove(c, i);
	}
	if (c->sacked_count == SACKED_MAX)
		return; /* full: recovery just resends a little more */
	memmove(&c->sacked[i + 1], &c->sacked[i], (c->sacked_count - i) * sizeof c->sacked[0]);
	c->sacked[i].start = start;
	c->sacked[i].end = end;
	c->sacked_count++;
}

void cc_sack_update(synack_conn *c, const wire_seg *seg)
{
	const wire_opts *o = &seg->opts;

	if (!(c->neg & NEG_SACK) || !(o->present & WIRE_HAS_SACK))
		return;
	for (unsigned i = 0; i < o->sack_count; i++) {
		uint32_t start = o->sack[i][0], end = o->sack[i][1];
		/* Only blocks about data in flight; D-SACKs (RFC 2883) and
		 * forged blocks are ignored. */
		if (!seq_lt(start, end) || !seq_gt(end, c->snd_una) || seq_gt(end, c->snd_max))
			continue;
		sack_insert(c, seq_max(start, c->snd_una), end);
	}
}

/* When seq lies in a run the peer holds, the run's end; else seq. */
uint32_t cc_sacked_end(const synack_conn *c, uint32_t seq)
{
	for (unsigned i = 0; i < c->sacked_count; i++)
		if (seq_in(seq, c->sacked[i].start, c->sacked[i].end))
			return c->sacked[i].end;
	return seq;
}

/* The first byte at or after `from` the peer has not reported. */
static uint32_t next_hole(const synack_conn *c, uint32_t from)
{
	uint32_t seq = from, prev;

	do {
		prev = seq;
		seq = cc_sacked_end(c, seq);
	} while (seq != prev);
	return seq;
}

/* The first SACKed byte after seq, or SND.MAX. */
static uint32_t next_sacked(const synack_conn *c, uint32_t seq)
{
	for (unsigned i = 0; i < c->sacked_count; i++)
		if (seq_gt(c->sacked[i].start, seq))
			return c->sacked[i].start;
	return c->snd_max;
}

/* Resends one segment at seq without moving SND.NXT (fast retransmit and
 * recovery), stopping short of data the peer already holds. */
void conn_retransmit_at(synack_conn *c, uint32_t seq)
{
	synack_stack *s = c->s;
	uint32_t data_end = c->snd_una + c->sndq.len;
	uint32_t limit = next_sacked(c, seq);
	uint32_t len;
	uint8_t flags = 0;

	if (!seq_lt(seq, c->snd_max))
		return;
	if ((c->flags & CF_FIN_SENT) && seq == c->fin_seq) {
		conn_xmit(c, seq, WIRE_FIN, 0);
	} else {
		len = data_end - seq;
		if (len > c->snd_mss)
			len = c->snd_mss;
		if (seq_lt(limit, seq + len))
			len = limit - seq;
		if (len == 0)
			return;
		if (seq + len == data_end)
			flags |= WIRE_PSH;
		if ((c->flags & CF_FIN_SENT) && seq + len == c->fin_seq)
			flags |= WIRE_FIN;
		conn_xmit(c, seq, flags, len);
		c->bytes_sent += len;
	}
	c->total_retrans++;
	s->ctr.retransmits++;
	c->flags &= (uint16_t)~CF_RTT_TIMING; /* Karn */
}

/* ---- congestion control --------------------------------------------------------- */

/* RFC 5681 3.1: slow start below ssthresh, then one segment per window. */
static void grow(synack_conn *c, uint32_t acked_segs)
{
	if (c->cwnd < c->ssthresh) {
		c->cwnd += acked_segs;
		return;
	}
	c->cwnd_cnt += acked_segs;
	if (c->cwnd_cnt >= c->cwnd) {
		c->cwnd_cnt -= c->cwnd;
		c->cwnd++;
	}
}

/* ---- RFC 6675: loss recovery with SACK -------------------------------------- */

/* SACKed bytes above seq. */
static uint32_t sacked_above(const synack_conn *c, uint32_t seq)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < c->sacked_count; i++)
		if (seq_gt(c->sacked[i].end, seq))
			n += c->sacked[i].end - seq_max(c->sacked[i].start, seq);
	return n;
}

/* RFC 6675 IsLost: more than (DupThresh - 1) * SMSS bytes above it SACKed. */
static bool is_lost(const synack_conn *c, uint32_t seq)
{
	return sacked_above(c, seq) > (DUPACK_THRESHOLD - 1) * (uint32_t)c->snd_mss;
}

/* RFC 6675 SetPipe, by runs: every hole (unSACKed bytes below the highest
 * SACKed byte) counts once unless lost, once more if retransmitted; the
 * unSACKed tail counts once. */
static uint32_t pipe_bytes(const synack_conn *c)
{
	uint32_t pipe = 0, seq = c->snd_una;

	for (unsigned i = 0; i <= c->sacked_count; i++) {
		uint32_t end = i < c->sacked_count ? c->sacked[i].start : c->snd_max;
		bool lost = i < c->sacked_count && is_lost(c, seq);
		if (seq_lt(seq, end)) {
			uint32_t rxt_end = seq_min(end, c->high_rxt);
			if (!lost)
				pipe += end - seq;
			if (seq_lt(seq, rxt_end))
				pipe += rxt_end - seq;
		}
		if (i < c->sacked_count)
			seq = seq_max(seq, c->sacked[i].end);
	}
	return pipe;
}

/* RFC 6675 NextSeg rule (1): the first lost hole at or above HighRxt. */
static bool next_lost_hole(const synack_conn *c, uint32_t *seq)
{
	uint32_t s = next_hole(c, seq_max(c->high_rxt, c->snd_una));

	if (!c->sacked_count || !seq_lt(s, c->sacked[c->sacked_count - 1].end) || !is_lost(c, s))
		return false;
	*seq = s;
	return true;
}

/* Sends one segment of new data when the peer's window has room (rule 2). */
static bool send_new_segment(synack_conn *c)
{
	uint32_t before = c->snd_nxt, cwnd = c->cwnd;

	if (!seq_lt(c->snd_nxt, c->snd_una + c->sndq.len))
		return false;
	c->cwnd = to_segs(c, c->snd_nxt - c->snd_una) + 1; /* exactly one more */
	conn_output(c);
	c->cwnd = cwnd;
	return c->snd_nxt != before;
}

/* RFC 6675 5 (step C): send while the window exceeds the pipe. */
static void sack_recovery_send(synack_conn *c)
{
	uint32_t window = c->cwnd * (uint32_t)c->snd_mss;

	for (unsigned guard = 0; guard < c->cwnd + 1; guard++) {
		uint32_t seq;
		if (pipe_bytes(c) + c->snd_mss > window)
			break;
		if (next_lost_hole(c, &seq)) {
			uint32_t end = next_sacked(c, seq);
			conn_retransmit_at(c, seq);
			c->high_rxt = seq_min(end, seq + c->snd_mss);
		} else if (!send_new_segment(c)) {
			break;
		}
	}
}

static void enter_recovery(synack_conn *c)
{
	uint32_t flight = to_segs(c, c->snd_max - c->snd_una);

	/* RFC 6582 3.2 (step 2) and RFC 6675 5: one reduction per window. */
	c->ssthresh = flight / 2 > MIN_SSTHRESH ? flight / 2 : MIN_SSTHRESH;
	c->recover = c->snd_max;
	c->in_recovery = 1;
	c->s->ctr.fast_retransmits++;
	conn_retransmit_at(c, next_hole(c, c->snd_una));
	if (c->neg & NEG_SACK) {
		/* RFC 6675 5 (steps 4.2-4.4): cwnd = ssthresh, the first hole
		 * resent; the pipe decides what follows. */
		c->cwnd = c->ssthresh;
		c->high_rxt = seq_min(next_sacked(c, c->snd_una), c->snd_una + c->snd_mss);
		sack_recovery_send(c);
	} else {
		c->cwnd = c->ssthresh + DUPACK_THRESHOLD; /* NewReno's inflation */
	}
	conn_rearm_rto(c);
}

/* An ACK that moves nothing, carries nothing and leaves the window alone
 * (RFC 5681 2, "DUPLICATE ACKNOWLEDGMENT"), or brings new SACK news. */
static bool is_dupack(const synack_conn *c, const wire_seg *seg, uint32_t prior_una,
                      bool window_changed, uint8_t prior_sacked)
{
	if (seg->ack != prior_una || c->snd_max == c->snd_una || seg->payload_len ||
	    (seg->flags & (WIRE_SYN | WIRE_FIN)))
		return false;
	return !window_changed || c->sacked_count != prior_sacked;
}

void cc_on_ack(synack_conn *c, const wire_seg *seg, uint32_t prior_una, uint32_t acked_bytes,
               bool window_changed)
{
	uint8_t prior_sacked = c->sacked_count;

	cc_sack_update(c, seg);
	if (acked_bytes) {
		uint32_t acked_segs = to_segs(c, acked_bytes);
		sack_trim(c);
		if (!c->in_recovery) {
			c->dupacks = 0;
			grow(c, acked_segs);
		} else if (seq_geq(c->snd_una, c->recover)) {
			/* RFC 6582 3.2 (step 6), RFC 6675 5: a full acknowledgment. */
			uint32_t flight = to_segs(c, c->snd_max - c->snd_una) + 1;
			c->cwnd = c->ssthresh < flight ? c->ssthresh : flight;
			c->in_recovery = 0;
			c->dupacks = 0;
		} else if (c->neg & NEG_SACK) {
			sack_recovery_send(c); /* RFC 6675 5 (step C) */
		} else {
			/* Step 5: a partial acknowledgment; resend the next hole
			 * and deflate by what left the network. */
			conn_retransmit_at(c, next_hole(c, c->snd_una));
			c->cwnd = c->cwnd > acked_segs ? c->cwnd - acked_segs + 1 : 1;
		}
		return;
	}
	if (!is_dupack(c, seg, prior_una, window_changed, prior_sacked))
		return;
	c->dupacks++;
	if (c->in_recovery && (c->neg & NEG_SACK))
		sack_recovery_send(c);
	else if (c->in_recovery)
		c->cwnd++; /* step 4: each duplicate means a segment left */
	else if (c->dupacks == DUPACK_THRESHOLD && seq_geq(c->snd_una, c->recover))
		enter_recovery(c);
}

/* RFC 5681 3.1 (4) and RFC 6298 5.5: after a timeout, one segment. */
void cc_on_rto(synack_conn *c)
{
	uint32_t flight = to_segs(c, c->snd_max - c->snd_una);

	c->ssthresh = flight / 2 > MIN_SSTHRESH ? flight / 2 : MIN_SSTHRESH;
	c->cwnd = 1;
	c->cwnd_cnt = 0;
	c->in_recovery = 0;
	c->dupacks = 0;
	c->recover = c->snd_max;
}

/* RFC 3168 6.1.2: an ECN-Echo halves the window as a loss would, once per
 * window of data, and our next new segment says CWR. */
void cc_on_ecn_echo(synack_conn *c, const wire_seg *seg)
{
	/* Linux holds its CWR state until data above the reduction point is
	 * acknowledged: only then has our CWR surely reached the receiver. */
	if ((c->ecn_flags & ECN_IN_CWR) && seq_gt(c->snd_una, c->ecn_cwr_seq))
		c->ecn_flags &= (uint8_t)~ECN_IN_CWR;
	if (!(c->neg & NEG_ECN) || !(seg->flags & WIRE_ECE) || (seg->flags & WIRE_SYN) ||
	    c->in_recovery || (c->ecn_flags & ECN_IN_CWR))
		return;
	c->ssthresh = c->cwnd / 2 > MIN_SSTHRESH ? c->cwnd / 2 : MIN_SSTHRESH;
	c->cwnd = c->ssthresh;
	c->cwnd_cnt = 0;
	c->ecn_cwr_seq = c->snd_max;
	c->ecn_flags |= ECN_CWR_PENDING | ECN_IN_CWR;
	c->s->ctr.ecn_reductions++;
}
