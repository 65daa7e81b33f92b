/* output.c — building segments: Linux's option layouts, windows, resets,
 * data cut by the MSS within the peer's window, retransmission timers
 * (RFC 6298) and zero-window probes. */
#include "engine/internal.h"

#define IPV4_TCP_OVERHEAD (WIRE_IPV4_HDR + WIRE_TCP_HDR)
#define IPV6_TCP_OVERHEAD (WIRE_IPV6_HDR + WIRE_TCP_HDR)
#define WSCALE_BASE_LOG2 15 /* Linux: wscale = ilog2(space) - 15 */
#define TLP_ONE_SEGMENT_MS 200  /* Linux adds TCP_RTO_MIN when one segment is out */
#define TLP_SLACK_MS 2          /* otherwise TCP_TIMEOUT_MIN */
#define TLP_NO_RTT_MS 1000      /* no RTT sample yet: TCP_TIMEOUT_INIT */

uint16_t mss_for_mtu(const synack_stack *s, uint8_t family)
{
	uint32_t overhead = family == SYNACK_AF_INET6 ? IPV6_TCP_OVERHEAD : IPV4_TCP_OVERHEAD;

	return (uint16_t)(s->cfg.mtu - overhead);
}

/* Linux's tcp_select_initial_window: the shift that lets a 16-bit window
 * reach the largest buffer, clamped to RFC 7323's 14. */
uint8_t wscale_for(uint32_t space)
{
	int log2 = 31 - __builtin_clz(space | 1);
	int shift = log2 - WSCALE_BASE_LOG2;

	if (shift < 0)
		return 0;
	return (uint8_t)(shift > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : shift);
}

/* The window in a SYN or SYN-ACK: the space rounded down to whole segments,
 * at most 65535 (SYN windows are never scaled, RFC 7323 2.2). */
uint16_t syn_window(uint32_t space, uint16_t mss)
{
	if (mss && space > mss)
		space -= space % mss;
	return (uint16_t)(space < TCP_MAX_WINDOW ? space : TCP_MAX_WINDOW);
}

/* Linux's tcp_options_write order: mss; sackOK,TS or nop,nop,TS; nop,nop,
 * sackOK without TS; nop,wscale. */
size_t syn_options(uint8_t *p, uint8_t neg, uint16_t mss, uint8_t wscale, uint32_t ts_val,
                   uint32_t ts_ecr)
{
	size_t n = wire_put_mss(p, mss);

	if (neg & NEG_TS) {
		if (neg & NEG_SACK) {
			n += wire_put_sackok(p + n);
		} else {
			n += wire_put_nop(p + n);
			n += wire_put_nop(p + n);
		}
		n += wire_put_ts(p + n, ts_val, ts_ecr);
	} else if (neg & NEG_SACK) {
		n += wire_put_nop(p + n);
		n += wire_put_nop(p + n);
		n += wire_put_sackok(p + n);
	}
	if (neg & NEG_WSCALE) {
		n += wire_put_nop(p + n);
		n += wire_put_wscale(p + n, wscale);
	}
	return n;
}

/* Every segment leaves through here. Marked inline: with ten arguments a
 * call costs more than the few stores that fill the header. */
inline void send_raw(synack_stack *s, const tuple *t, uint32_t seq, uint32_t ack, unsigned flags,
              uint16_t win, const uint8_t *opt, size_t opt_len, const uint8_t *data, uint32_t len)
{
	wire_seg seg; /* only the fields wire_build reads are set: no memset per packet */
	out_slot *slot = out_reserve(s);
	size_t n;

	if (!slot)
		return;
	seg.family = t->family;
	seg.ttl = s->cfg.default_ttl;
	seg.tos = (flags & TX_ECT) ? IP_ECN_ECT0 : 0;
	seg.ip_id = 0;
	seg.df = true; /* path MTU discovery, as Linux does for TCP */
	seg.urg = 0;
	memcpy(seg.src, t->laddr, sizeof seg.src);
	memcpy(seg.dst, t->raddr, sizeof seg.dst);
	seg.sport = t->lport;
	seg.dport = t->rport;
	seg.seq = seq;
	seg.ack = (flags & WIRE_ACK) ? ack : 0;
	seg.flags = (uint8_t)flags;
	seg.win = win;
	seg.opt = opt;
	seg.opt_len = (uint8_t)opt_len;
	seg.payload = data;
	seg.payload_len = len;
	n = wire_build(slot->data, s->out_slot_size, &seg);
	if (n)
		out_commit(s, slot, n);
	if (flags & WIRE_RST)
		s->ctr.rst_sent++;
}

/* RFC 9293 3.10.7.1: the reset for a segment that has no connection. */
void send_reset_for(synack_stack *s, const wire_seg *seg, const tuple *t)
{
	uint32_t len = seg->payload_len;

	if (seg->flags & WIRE_RST)
		return;
	if (seg->flags & WIRE_ACK) {
		send_raw(s, t, seg->ack, 0, WIRE_RST, 0, NULL, 0, NULL, 0);
		return;
	}
	if (seg->flags & WIRE_SYN)
		len++;
	if (seg->flags & WIRE_FIN)
		len++;
	send_raw(s, t, 0, seg->seq + len, WIRE_RST | WIRE_ACK, 0, NULL, 0, NULL, 0);
}

/* ---- connection segments ------------------------------------------------------- */

/* The window field for a segment of c, remembering the edge advertised. */
static uint16_t conn_window_field(synack_conn *c)
{
	uint32_t win = conn_rcv_window(c);
	uint32_t shift = c->rcv_wscale > 0 ? (uint32_t)c->rcv_wscale : 0;
	uint32_t field = win >> shift;

	if (field > TCP_MAX_WINDOW)
		field = TCP_MAX_WINDOW;
	c->rcv_adv = c->rcv_nxt + (field << shift);
	if (field == 0)
		c->flags |= CF_ZERO_WND_ADV;
	else
		c->flags &= (uint16_t)~CF_ZERO_WND_ADV;
	return (uint16_t)field;
}

/* Options of a segment after the handshake, in Linux's order: nop, nop, TS;
 * then nop, nop, SACK blocks while we hold out-of-order data. */
static size_t conn_options(const synack_conn *c, uint8_t *opt)
{
	size_t n = 0;

	if (c->neg & NEG_TS) {
		n += wire_put_nop(opt);
		n += wire_put_nop(opt + n);
		n += wire_put_ts(opt + n, ts_now(c->s, c->ts_off), c->ts_recent);
	}
	if (c->ooo_count)
		n += rcv_sack_option(c, opt + n, WIRE_TCP_MAX_OPTS - n);
	return n;
}

/* RFC 3168 6.1: new data goes ECT(0) (never a retransmission, 6.1.5); ECE
 * on everything while we owe the peer an echo; CWR on the first new data
 * after we reduced. */
static unsigned ecn_flags(synack_conn *c, uint32_t seq, uint32_t len, unsigned flags)
{
	if (!(c->neg & NEG_ECN))
		return flags;
	if (c->ecn_flags & ECN_ECE_PENDING)
		flags |= WIRE_ECE;
	if (len && !seq_lt(seq, c->snd_max)) {
		flags |= TX_ECT;
		if (c->ecn_flags & ECN_CWR_PENDING) {
			flags |= WIRE_CWR;
			c->ecn_flags &= (uint8_t)~ECN_CWR_PENDING;
		}
	}
	return flags;
}

/* Sends one segment of a synchronized connection: ACK always set, TS when
 * negotiated, payload taken from the send queue at seq. */
void conn_xmit(synack_conn *c, uint32_t seq, uint8_t flags, uint32_t len)
{
	synack_stack *s = c->s;
	uint8_t opt[WIRE_TCP_MAX_OPTS];
	size_t n = conn_options(c, opt);

	/* The send queue is a ring: gather the payload into one run first. */
	if (len)
		ring_peek(&c->sndq, seq - c->snd_una, s->scratch, len);
	bool had_delack = c->delack_at != 0;

	send_raw(s, &c->node.t, seq, c->rcv_nxt, ecn_flags(c, seq, len, flags) | WIRE_ACK,
	         conn_window_field(c), opt, n, len ? s->scratch : NULL, len);
	rcv_ack_sent(c); /* this segment carries the ACK a timer may have waited for */
	if (had_delack)
		conn_timer_sync(c);
}

/* A bare ACK carries the highest sequence number sent (Linux's
 * tcp_acceptable_seq): after a retransmission timeout SND.NXT is rewound to
 * resend, but the peer may already hold everything up to SND.MAX, and would
 * discard an ACK that starts below its RCV.NXT. */
void conn_send_ack(synack_conn *c) { conn_xmit(c, c->snd_max, 0, 0); }

/* An RST with our highest sequence number (Linux's tcp_send_active_reset). */
void conn_send_rst(synack_conn *c)
{
	send_raw(c->s, &c->node.t, c->snd_max, c->rcv_nxt, WIRE_RST | WIRE_ACK, 0, NULL, 0, NULL, 0);
}

/* RFC 7413 on the client's first SYN: the cached cookie and as much data as
 * fits (Linux: one MSS less the option space), or an empty option asking for
 * a cookie. Retransmitted SYNs go without either (Linux falls back). */
static size_t syn_fastopen(synack_conn *c, uint8_t *opt, size_t n, uint32_t *data_len)
{
	synack_stack *s = c->s;
	const tfo_entry *e;
	bool exp = c->tfo & TFO_CLIENT_EXP;
	uint32_t room;

	*data_len = 0;
	if (!(c->tfo & TFO_CLIENT) || c->syn_retrans)
		return n;
	e = tfo_cache_get(s, c->node.t.family, c->node.t.raddr);
	if (!e)
		return n + tfo_option(opt + n, NULL, 0, exp);
	n += tfo_option(opt + n, e->cookie, e->len, exp);
	room = c->adv_mss > WIRE_TCP_MAX_OPTS ? c->adv_mss - WIRE_TCP_MAX_OPTS : 0;
	*data_len = c->sndq.len < room ? c->sndq.len : room;
	return n;
}

/* RFC 3168 6.1.1: an ECN-setup SYN carries ECE and CWR, its SYN-ACK ECE
 * alone. Like Linux (tcp_ecn_fallback), a retransmitted SYN asks no more. */
static unsigned syn_flags(const synack_conn *c, bool synack)
{
	unsigned flags = synack ? WIRE_SYN | WIRE_ACK : WIRE_SYN;

	if ((c->neg & NEG_ECN) && synack)
		flags |= WIRE_ECE;
	else if ((c->neg & NEG_ECN) && !c->syn_retrans)
		flags |= WIRE_ECE | WIRE_CWR;
	return flags;
}

/* Our SYN, or our SYN-ACK in a simultaneous open (same ISN, RFC 9293 3.5)
 * or for a Fast Open child (acknowledging the SYN's data). */
void conn_send_syn(synack_conn *c)
{
	synack_stack *s = c->s;
	uint8_t opt[WIRE_TCP_MAX_OPTS];
	bool synack = c->state == SYNACK_SYN_RECEIVED;
	uint16_t win = (uint16_t)(c->rcv_wnd_clamp < TCP_MAX_WINDOW ? c->rcv_wnd_clamp : TCP_MAX_WINDOW);
	size_t n = syn_options(opt, c->neg, c->adv_mss, (uint8_t)(c->rcv_wscale > 0 ? c->rcv_wscale : 0),
	                       ts_now(s, c->ts_off), synack ? c->ts_recent : 0);
	uint32_t data_len = 0;

	if (!synack)
		n = syn_fastopen(c, opt, n, &data_len);
	if (data_len) {
		ring_peek(&c->sndq, 0, s->scratch, data_len);
		c->tfo_syn_len = (uint16_t)data_len;
		c->snd_nxt = c->snd_max = c->iss + 1 + data_len;
		c->bytes_sent += data_len;
		s->ctr.tfo_syn_data_sent++;
	} else if (!synack) {
		c->snd_nxt = c->iss + 1;
	}
	c->rcv_adv = c->rcv_nxt + win;
	send_raw(s, &c->node.t, c->iss, c->rcv_nxt, syn_flags(c, synack), win, opt, n,
	         data_len ? s->scratch : NULL, data_len);
}

/* RFC 5961 section 7 with Linux's limits: one answer per connection per
 * invalid_ratelimit_ms (not for data segments, which cannot loop), and a
 * budget per stack per second. Returns true when the ACK went out. */
static bool oow_limited(synack_conn *c, const wire_seg *seg)
{
	synack_stack *s = c->s;
	synack_time gap = (synack_time)s->cfg.invalid_ratelimit_ms * NS_PER_MS;

	if (seg && seg->payload_len && !(seg->flags & WIRE_SYN))
		return false;
	if (c->last_challenge && s->now - c->last_challenge < gap)
		return true;
	c->last_challenge = s->now;
	return false;
}

/* The per-stack budget of challenge ACKs: each second a fresh, random
 * allowance in [limit/2, 3*limit/2), so that an off-path attacker cannot
 * count the ACKs to learn about a connection (CVE-2016-5696; Linux's
 * tcp_send_challenge_ack). */
static bool challenge_budget(synack_stack *s)
{
	uint32_t limit = s->cfg.challenge_ack_limit;

	if (!s->challenge_window || s->now - s->challenge_window >= SYNACK_SEC) {
		uint32_t r;
		uint32_t half = (limit + 1) / 2;
		s->cfg.random(s->cfg.random_ctx, &r, sizeof r);
		s->challenge_window = s->now ? s->now : 1;
		s->challenge_count = half + r % limit; /* [half, limit + half) */
	}
	if (s->challenge_count == 0)
		return false;
	s->challenge_count--;
	return true;
}

void conn_challenge_ack(synack_conn *c)
{
	synack_stack *s = c->s;

	/* Linux's tcp_send_challenge_ack: the per-connection limit holds for
	 * every segment, data included (only duplicate ACKs exempt data). */
	if (oow_limited(c, NULL)) {
		s->ctr.challenge_acks_limited++;
		return;
	}
	if (s->cfg.challenge_ack_limit && !challenge_budget(s)) {
		s->ctr.challenge_acks_limited++;
		return;
	}
	s->ctr.challenge_acks++;
	conn_send_ack(c);
}

/* RFC 9293 3.10.7.4 first check: an unacceptable segment gets an ACK
 * (Linux's tcp_send_dupack, rate limited like a challenge ACK). */
void conn_dupack(synack_conn *c, const wire_seg *seg)
{
	if (oow_limited(c, seg))
		return;
	c->s->ctr.dupacks_sent++;
	conn_send_ack(c);
}

/* ---- timers ------------------------------------------------------------------------ */

static synack_time rto_deadline(synack_conn *c, uint32_t rto_ms)
{
	synack_stack *s = c->s;
	synack_time at = s->now + (synack_time)rto_ms * NS_PER_MS;

	/* TCP_USER_TIMEOUT (RFC 5482): never wait past the user's limit. */
	if (c->user_timeout_ms && c->retrans_start) {
		synack_time limit = c->retrans_start + (synack_time)c->user_timeout_ms * NS_PER_MS;
		if (limit < at)
			at = limit > s->now ? limit : s->now + 1;
	}
	return at;
}

/* The heap entry follows the earlier of the main timer and the delayed ACK
 * (TIME-WAIT lives in its FIFO instead). */
void conn_timer_sync(synack_conn *c)
{
	synack_time at = SYNACK_TIME_NEVER;

	if (c->timer_kind != CT_NONE)
		at = c->main_at;
	if (c->delack_at && c->delack_at < at)
		at = c->delack_at;
	if (at == SYNACK_TIME_NEVER)
		timer_cancel(c->s, &c->timer);
	else
		timer_arm(c->s, &c->timer, at);
}

void conn_timer_set(synack_conn *c, uint8_t kind, synack_time at)
{
	if (c->timer_kind == CT_TIMEWAIT && kind != CT_TIMEWAIT)
		return; /* only TIME-WAIT's end comes now */
	c->timer_kind = kind;
	c->main_at = at;
	conn_timer_sync(c);
}

void conn_rearm_rto(synack_conn *c) { conn_timer_set(c, CT_RETRANS, rto_deadline(c, c->rto_ms)); }

/* Linux's tcp_rearm_rto: the RTO from now, or, when a loss probe or the
 * reordering timer stood in its place, from the head's last transmission. */
static void rearm_rto(synack_conn *c)
{
	synack_time at;

	if (c->timer_kind != CT_TLP && c->timer_kind != CT_REO) {
		conn_rearm_rto(c);
		return;
	}
	at = rtx_head_sent(c) + (synack_time)c->rto_ms * NS_PER_MS;
	conn_timer_set(c, CT_RETRANS, at > c->s->now ? at : c->s->now + 1);
}

static bool can_send_data(const synack_conn *c)
{
	switch (c->state) {
	case SYNACK_ESTABLISHED:
	case SYNACK_CLOSE_WAIT:
	case SYNACK_FIN_WAIT_1:
	case SYNACK_CLOSING:
	case SYNACK_LAST_ACK:
		return true;
	default:
		return false;
	}
}

/* RFC 8985 7 as Linux schedules it (tcp_schedule_loss_probe): with SACK,
 * segments in flight, Open or CWR, in every state that sends data (a FIN
 * queued in FIN-WAIT-1, CLOSING or LAST-ACK included). */
static bool tlp_eligible(const synack_conn *c)
{
	return c->s->cfg.tail_loss_probe && (c->neg & NEG_SACK) && c->rtx.len &&
	       (c->ca_state == SYNACK_CA_OPEN || c->ca_state == SYNACK_CA_CWR) && can_send_data(c);
}

/* The probe timeout: 2 SRTT, plus room for a delayed ACK when only one
 * segment is out, never later than the RTO would fire: a full RTO from now
 * after an ACK (advancing_rto), else from the head's transmission. */
static synack_time tlp_deadline(const synack_conn *c, bool advancing_rto)
{
	synack_stack *s = c->s;
	uint64_t ms = TLP_NO_RTT_MS;
	synack_time at, rto_at;

	if (c->srtt_us) {
		ms = 2ULL * c->srtt_us / 1000;
		ms += c->rtx.len == 1 ? TLP_ONE_SEGMENT_MS : TLP_SLACK_MS;
	}
	at = s->now + ms * NS_PER_MS;
	rto_at = (advancing_rto ? s->now : rtx_head_sent(c)) + (synack_time)c->rto_ms * NS_PER_MS;
	if (rto_at > s->now && rto_at < at)
		at = rto_at;
	return at;
}

/* The timer for data in flight after an ACK: a loss probe when one may go,
 * else the RTO (Linux's tcp_set_xmit_timer). */
void conn_arm_loss_timer(synack_conn *c)
{
	if (tlp_eligible(c))
		conn_timer_set(c, CT_TLP, tlp_deadline(c, true));
	else
		rearm_rto(c);
}

static bool send_window_closed(const synack_conn *c)
{
	return c->snd_wnd == 0 && c->sndq.len > (c->snd_nxt - c->snd_una);
}

/* Picks the main timer the connection needs now: retransmission while
 * anything is in flight, persist while the peer's window is shut, the
 * orphan FIN-WAIT-2 limit, or keepalive when idle. */
void conn_arm_timer(synack_conn *c)
{
	synack_stack *s = c->s;

	if (c->timer_kind == CT_TIMEWAIT)
		return;
	if (c->snd_max != c->snd_una) {
		if (c->timer_kind != CT_RETRANS && c->timer_kind != CT_TLP && c->timer_kind != CT_REO)
			conn_arm_loss_timer(c);
		return;
	}
	if (send_window_closed(c)) {
		if (c->timer_kind != CT_PERSIST) {
			uint32_t ms = c->rto_ms > TCP_RTO_MIN_PROBE_MS ? c->rto_ms : TCP_RTO_MIN_PROBE_MS;
			conn_timer_set(c, CT_PERSIST, s->now + (synack_time)ms * NS_PER_MS);
		}
		return;
	}
	if (c->state == SYNACK_FIN_WAIT_2 && !(c->flags & CF_USER)) {
		if (c->timer_kind != CT_FINWAIT2)
			conn_timer_set(c, CT_FINWAIT2, s->now + (synack_time)s->cfg.fin_timeout_ms * NS_PER_MS);
		return;
	}
	if ((c->flags & CF_KEEPALIVE) && (c->state == SYNACK_ESTABLISHED || c->state == SYNACK_CLOSE_WAIT)) {
		if (c->timer_kind != CT_KEEPALIVE)
			conn_timer_set(c, CT_KEEPALIVE, c->last_heard + (synack_time)c->ka_idle_ms * NS_PER_MS);
		return;
	}
	conn_timer_set(c, CT_NONE, 0);
}

/* ---- sending data -------------------------------------------------------------------- */

/* A segment left from SND.NXT: it joins the retransmit queue (rtx_reserve
 * made room), the RTT may be timed, and the RTO starts if nothing was in
 * flight or a loss probe stood in its place (Linux's
 * tcp_event_new_data_sent). */
static void note_sent(synack_conn *c, uint32_t seq, uint32_t len, uint32_t seq_len, uint8_t flags)
{
	synack_stack *s = c->s;
	bool was_empty = c->rtx.len == 0;

	rtx_append(c, seq, seq_len, flags);
	if (cc_in_cwnd_reduction(c))
		c->prr_out++;
	if (seq_lt(seq, c->snd_max)) {
		/* Fast Open SYN data the server did not take, sent again. */
		c->total_retrans++;
		s->ctr.retransmits++;
		c->flags &= (uint16_t)~CF_RTT_TIMING; /* Karn: no sample across a retransmission */
	} else {
		/* Linux's tcp_event_data_sent: new data soon after data came in
		 * looks like a reply; ACKs then wait to ride on the next one. */
		if (len && c->ato_ms && s->now - c->last_rcv < (synack_time)c->ato_ms * NS_PER_MS)
			c->pingpong = 1;
	}
	if (!seq_lt(seq, c->snd_max) && !(c->flags & CF_RTT_TIMING)) {
		c->flags |= CF_RTT_TIMING;
		c->rtt_seq = seq;
		c->rtt_time = s->now;
	}
	c->bytes_sent += len;
	c->snd_nxt = seq + seq_len;
	if (seq_gt(c->snd_nxt, c->snd_max))
		c->snd_max = c->snd_nxt;
	if (was_empty || c->timer_kind == CT_TLP ||
	    (c->timer_kind != CT_RETRANS && c->timer_kind != CT_REO))
		rearm_rto(c);
}

static void tx_pending(synack_conn *c)
{
	if (!(c->flags & CF_TX_PENDING)) {
		c->flags |= CF_TX_PENDING;
		dlist_add_tail(&c->s->tx_pending, &c->tx_link);
	}
}

/* Linux's PSH rule (checked against Linux 6.18 with `synack script
 * --kernel`): tcp_write_xmit() sends new data in TSO/GSO packets of
 * tcp_tso_autosize() segments, and each one leaves with PSH on its last
 * segment; so does the segment that ends the data written (tcp_push()). A
 * packet of one segment cut short of that (a tail loss probe of new data)
 * has none, and a retransmission carries PSH only at the end of the data (a
 * fast retransmit of a segment that left with PSH inside a write has none).
 *
 * tcp_tso_autosize(): the bytes the pacing rate sends in 1/2^10 s
 * (sk_pacing_shift), plus gso_max_size >> (min_rtt_us >> tcp_tso_rtt_log),
 * capped at gso_max_size, in segments, at least tcp_min_tso_segs (2). The
 * pacing rate (tcp_update_pacing_rate()) is 200 % of cwnd * mss / srtt in
 * slow start (cwnd < ssthresh / 2), 120 % after; srtt stands in for min_rtt
 * here. Before any RTT sample the rate is unbounded: gso_max_size. */
#define LINUX_MIN_TSO_SEGS 2
#define LINUX_GSO_MAX_SIZE 65536
#define LINUX_PACING_SHIFT 10
#define LINUX_TSO_RTT_LOG 9
#define LINUX_PACING_SS_RATIO 200 /* tcp_pacing_ss_ratio, percent */
#define LINUX_PACING_CA_RATIO 120 /* tcp_pacing_ca_ratio, percent */
#define PERCENT 100
#define USEC_PER_SEC 1000000ULL
#define U32_BITS 32

static uint32_t linux_tso_segs(const synack_conn *c)
{
	uint64_t mss = c->snd_mss, bytes = LINUX_GSO_MAX_SIZE, segs;

	if (!mss)
		return LINUX_MIN_TSO_SEGS;
	if (c->srtt_us) {
		uint64_t ratio = c->cwnd < c->ssthresh / 2 ? LINUX_PACING_SS_RATIO
							   : LINUX_PACING_CA_RATIO;
		uint64_t per_rtt = mss * c->cwnd * ratio / PERCENT; /* bytes per srtt */
		uint64_t r = c->srtt_us >> LINUX_TSO_RTT_LOG;

		/* a rate beyond any cap keeps gso_max_size */
		if (per_rtt <= UINT64_MAX / USEC_PER_SEC)
			bytes = (per_rtt * USEC_PER_SEC / c->srtt_us) >> LINUX_PACING_SHIFT;
		if (r < U32_BITS)
			bytes += LINUX_GSO_MAX_SIZE >> r;
		if (bytes > LINUX_GSO_MAX_SIZE)
			bytes = LINUX_GSO_MAX_SIZE;
	}
	segs = bytes / mss;
	return segs > LINUX_MIN_TSO_SEGS ? (uint32_t)segs : LINUX_MIN_TSO_SEGS;
}

/* A retransmission: PSH only where the data ends (as conn_retransmit_at). */
static bool rtx_psh(const synack_conn *c, uint32_t end)
{
	return end == c->snd_una + c->sndq.len;
}

/* Sends what the window allows (RFC 9293 3.8.6.2.1 for the sender's SWS
 * rule, RFC 896 Nagle unless TCP_NODELAY), then the FIN once all data has
 * gone; PSH per Linux's rule above. cwnd counts segments in flight
 * (Linux's tcp_cwnd_test). A loss probe (RFC 8985 7.3) sends one segment
 * past cwnd and Nagle. Returns segments sent. */
static uint32_t output_data(synack_conn *c, bool probe)
{
	synack_stack *s = c->s;
	uint32_t sent = 0, tso_segs = 0, burst = 0;
	bool cwnd_limited = false;

	if (!can_send_data(c))
		return 0;
	if (c->snd_nxt == c->snd_una + c->sndq.len &&
	    !((c->flags & CF_FIN_QUEUED) && c->snd_nxt == c->fin_seq)) {
		/* Nothing to send (every ACK of a handshake): only the cwnd
		 * use is noted, as tcp_write_xmit does with an empty queue. */
		if (cc_in_flight(c) >= c->cwnd)
			cc_cwnd_validate(c, true);
		return 0;
	}
	for (;;) {
		uint32_t data_end = c->snd_una + c->sndq.len;
		uint32_t wnd_end = c->snd_una + c->snd_wnd;
		uint32_t avail, room, len;
		uint8_t flags = 0;
		bool fin_now;

		if (s->out_len == s->out_cap) {
			tx_pending(c);
			break;
		}
		if (probe && sent)
			break;
		if (cc_in_flight(c) >= c->cwnd && !probe) {
			cwnd_limited = true;
			break;
		}
		if (!seq_lt(c->snd_nxt, data_end)) {
			/* All data sent: the FIN, alone. */
			if ((c->flags & CF_FIN_QUEUED) && c->snd_nxt == c->fin_seq) {
				if (rtx_reserve(c))
					break; /* no memory for the record: send later */
				conn_xmit(c, c->fin_seq, WIRE_FIN, 0);
				c->flags |= CF_FIN_SENT;
				note_sent(c, c->fin_seq, 0, 1, WIRE_FIN);
				sent++;
			}
			break;
		}
		avail = data_end - c->snd_nxt;
		room = seq_gt(wnd_end, c->snd_nxt) ? wnd_end - c->snd_nxt : 0;
		len = avail < c->snd_mss ? avail : c->snd_mss;
		if (len > room)
			len = room;
		if (len == 0)
			break;
		fin_now = (c->flags & CF_FIN_QUEUED) && c->snd_nxt + len == c->fin_seq;
		if (len < c->snd_mss && !fin_now) {
			bool in_flight = c->snd_nxt != c->snd_una;
			bool window_cut = len < avail;
			/* Nagle as Linux applies it (Minshall's variant): hold a
			 * short segment only while an earlier short one is still
			 * unacknowledged. A FIN is never held. */
			if (!(c->flags & CF_NODELAY) && !window_cut && !probe &&
			    seq_gt(c->snd_sml, c->snd_una) && seq_leq(c->snd_sml, c->snd_nxt))
				break;
			if (window_cut && len < c->max_snd_wnd / 2 && in_flight)
				break; /* sender SWS avoidance */
		}
		if (rtx_reserve(c))
			break; /* no memory for the record: send later */
		if (seq_lt(c->snd_nxt, c->snd_max)) {
			if (rtx_psh(c, c->snd_nxt + len))
				flags |= WIRE_PSH; /* a retransmission */
		} else {
			if (!tso_segs)
				tso_segs = linux_tso_segs(c);
			if (c->snd_nxt + len == data_end || ++burst == tso_segs) {
				flags |= WIRE_PSH; /* the end of the write or of a TSO packet */
				burst = 0;
			}
		}
		if (fin_now)
			flags |= WIRE_FIN;
		conn_xmit(c, c->snd_nxt, flags, len);
		if (len < c->snd_mss)
			c->snd_sml = c->snd_nxt + len;
		if (fin_now)
			c->flags |= CF_FIN_SENT;
		note_sent(c, c->snd_nxt, len, len + (fin_now ? 1 : 0), flags);
		sent++;
		if (fin_now)
			break;
	}
	/* Linux's tcp_write_xmit ending: remember how cwnd was used, and
	 * schedule a loss probe behind new data. */
	cwnd_limited |= cc_in_flight(c) >= c->cwnd;
	if (sent || cwnd_limited)
		cc_cwnd_validate(c, cwnd_limited);
	if (sent && !probe && tlp_eligible(c))
		conn_timer_set(c, CT_TLP, tlp_deadline(c, false));
	return sent;
}

void conn_output(synack_conn *c)
{
	output_data(c, false);
	conn_arm_timer(c);
}

/* ---- timer expiry ------------------------------------------------------------------------ */

static bool retries_exhausted(const synack_conn *c, uint32_t limit)
{
	synack_stack *s = c->s;

	if (c->user_timeout_ms && c->retrans_start &&
	    s->now - c->retrans_start >= (synack_time)c->user_timeout_ms * NS_PER_MS)
		return true;
	return c->backoff >= limit;
}

static void backoff_rto(synack_conn *c)
{
	uint64_t rto = (uint64_t)c->rto_ms * 2;

	c->rto_ms = (uint32_t)(rto < c->s->cfg.rto_max_ms ? rto : c->s->cfg.rto_max_ms);
	c->backoff++;
}

static void retransmit_timeout(synack_conn *c)
{
	synack_stack *s = c->s;
	bool syn = c->state == SYNACK_SYN_SENT || c->state == SYNACK_SYN_RECEIVED;
	uint32_t limit;

	if (syn)
		limit = c->state == SYNACK_SYN_SENT ? (c->syn_retries ? c->syn_retries : s->cfg.syn_retries)
		                                    : s->cfg.synack_retries;
	else if (!(c->flags & CF_USER))
		limit = s->cfg.orphan_retries ? s->cfg.orphan_retries : TCP_ORPHAN_RETRIES;
	else
		limit = s->cfg.retries2;
	if (!c->retrans_start)
		c->retrans_start = syn ? c->syn_time : rtx_head_sent(c);
	if (retries_exhausted(c, limit)) {
		/* Linux's tcp_write_err: an ICMP error seen meanwhile explains
		 * the timeout better than ETIMEDOUT. */
		s->ctr.timeouts++;
		conn_done(c, c->soft_error ? c->soft_error : -ETIMEDOUT);
		return;
	}
	c->flags &= (uint16_t)~CF_RTT_TIMING;
	if (syn) {
		backoff_rto(c);
		c->syn_retrans++;
		c->total_retrans++;
		c->flags |= CF_RETRANSMITTED;
		if (c->state == SYNACK_SYN_SENT)
			s->ctr.syn_retransmits++;
		else
			s->ctr.synack_retransmits++;
		conn_send_syn(c);
		conn_rearm_rto(c);
		return;
	}
	/* RFC 6298 5.4-5.6 as Linux's tcp_retransmit_timer: enter Loss and
	 * resend the head (cc.c); the rest follows as ACKs open cwnd, never
	 * what the peer SACKed. Then the timer backs off. */
	if (c->rtx.len)
		cc_on_rto(c);
	else
		conn_output(c); /* nothing recorded in flight (Fast Open data) */
	backoff_rto(c);
	conn_rearm_rto(c);
}

/* RFC 1122 4.2.3.6 with Linux's knobs: after idle time, probes every
 * interval; a peer silent for `count` probes is gone. A probe is an old
 * sequence number (SND.UNA - 1) with no data, which the peer must ACK. */
static void keepalive_timeout(synack_conn *c)
{
	synack_stack *s = c->s;
	synack_time idle_until = c->last_heard + (synack_time)c->ka_idle_ms * NS_PER_MS;

	if (s->now < idle_until && c->ka_probes == 0) {
		conn_timer_set(c, CT_KEEPALIVE, idle_until); /* heard from it meanwhile */
		return;
	}
	if (c->ka_probes >= c->ka_cnt) {
		s->ctr.timeouts++;
		conn_send_rst(c); /* Linux's tcp_write_err path for keepalive: reset */
		conn_done(c, c->soft_error ? c->soft_error : -ETIMEDOUT);
		return;
	}
	conn_xmit(c, c->snd_una - 1, 0, 0);
	c->ka_probes++;
	s->ctr.keepalive_probes++;
	conn_timer_set(c, CT_KEEPALIVE, s->now + (synack_time)c->ka_intvl_ms * NS_PER_MS);
}

/* RFC 9293 3.8.6.1: probe a zero window; Linux sends an old sequence number
 * (SND.UNA - 1) with no data so that the peer must answer with an ACK. */
static void persist_timeout(synack_conn *c)
{
	synack_stack *s = c->s;
	uint32_t ms;

	if (!send_window_closed(c)) {
		c->timer_kind = CT_NONE;
		conn_output(c);
		return;
	}
	if (retries_exhausted(c, s->cfg.retries2)) {
		s->ctr.timeouts++;
		conn_done(c, -ETIMEDOUT);
		return;
	}
	conn_xmit(c, c->snd_una - 1, 0, 0);
	c->backoff++;
	ms = c->rto_ms > TCP_RTO_MIN_PROBE_MS ? c->rto_ms : TCP_RTO_MIN_PROBE_MS;
	ms = (uint32_t)((uint64_t)ms << (c->backoff < 16 ? c->backoff : 16));
	if (ms > s->cfg.rto_max_ms)
		ms = s->cfg.rto_max_ms;
	conn_timer_set(c, CT_PERSIST, s->now + (synack_time)ms * NS_PER_MS);
}

/* RFC 8985 7.3 (Linux's tcp_send_loss_probe): new data if the peer's
 * window has room for it, else the last segment again; one probe per
 * episode (tlp_high_seq). The RTO then runs from now. */
static void tlp_timeout(synack_conn *c)
{
	synack_stack *s = c->s;
	bool sent = false;

	if (c->tlp_high_seq || !c->rtx.len) {
		rearm_rto(c);
		return;
	}
	c->tlp_retrans = 0;
	if (!c->retrans_start)
		c->retrans_start = rtx_head_sent(c); /* TCP_USER_TIMEOUT counts from the original */
	if (seq_lt(c->snd_nxt, c->snd_una + c->sndq.len) && c->snd_wnd > c->snd_nxt - c->snd_una) {
		sent = output_data(c, true) > 0;
	} else if (rtx_resend(c, c->rtx.len - 1, false)) {
		c->tlp_retrans = 1;
		sent = true;
	}
	if (sent) {
		s->ctr.tail_loss_probes++;
		c->tlp_high_seq = c->snd_nxt;
		c->timer_kind = CT_NONE;
	}
	rearm_rto(c);
}

/* The connection's heap entry fell due: the delayed ACK, then the main
 * timer. The main timer's handlers may free c. */
void conn_timeout(synack_conn *c)
{
	synack_stack *s = c->s;

	if (c->delack_at && c->delack_at <= s->now) {
		c->delack_at = 0;
		rcv_delack_timeout(c);
	}
	if (c->timer_kind == CT_NONE || c->main_at > s->now) {
		conn_timer_sync(c);
		return;
	}
	switch (c->timer_kind) {
	case CT_RETRANS:
		retransmit_timeout(c);
		break;
	case CT_PERSIST:
		persist_timeout(c);
		break;
	case CT_KEEPALIVE:
		keepalive_timeout(c);
		break;
	case CT_TLP:
		tlp_timeout(c);
		break;
	case CT_REO:
		cc_reo_timeout(c);
		break;
	case CT_FINWAIT2:
	case CT_TIMEWAIT:
		conn_done(c, 0);
		break;
	default:
		conn_timer_sync(c);
		break;
	}
}
