/* listen.c — passive open: listeners, the SYN queue of small request entries,
 * SYN-ACK retransmission, the accept queue (RFC 9293 3.10.7.2, Linux's
 * tcp_conn_request / tcp_check_req / reqsk_timer_handler). */
#include "engine/internal.h"

/* Linux doubles SO_RCVBUF to leave room for its bookkeeping; the usable
 * window is half the buffer (tcp_win_from_space with a 50% ratio). The
 * window scale comes from the largest buffer the connection may grow to
 * (tcp_rmem[2]) unless SO_RCVBUF locked it (tcp_select_initial_window). */
void conn_space(const synack_stack *s, const synack_conn_opts *o, uint32_t *rcvbuf,
                uint32_t *wnd_space, uint32_t *wscale_space)
{
	bool locked = o && o->rcvbuf;
	uint32_t buf = locked ? 2 * o->rcvbuf : s->cfg.rmem_default;

	*rcvbuf = buf;
	*wnd_space = buf / 2;
	*wscale_space = locked ? buf / 2 : (buf / 2 > s->cfg.rmem_max ? buf / 2 : s->cfg.rmem_max);
}

/* ---- the listener API ------------------------------------------------------ */

/* Linux's listen() on a socket bound to port 0 (inet_autobind): an
 * ephemeral port no listener holds, from a random start; EAGAIN when every
 * one is taken, as Linux returns. */
static int listen_autobind(synack_stack *s, synack_addr *a)
{
	uint32_t range = (uint32_t)s->cfg.ephemeral_high - s->cfg.ephemeral_low + 1, start;

	s->cfg.random(s->cfg.random_ctx, &start, sizeof start);
	for (uint32_t i = 0; i < range; i++) {
		uint16_t port = (uint16_t)(s->cfg.ephemeral_low + (start + i) % range);

		if (!port_has_listener(s, port)) {
			a->port = port;
			return 0;
		}
	}
	return -EAGAIN;
}

int synack_listen(synack_stack *s, const synack_addr *local, int backlog,
                  const synack_conn_opts *opts, synack_listener **out)
{
	synack_addr addr;
	synack_listener *l;
	uint32_t slot;
	int err;

	if (!s || !local || !out || (local->family != SYNACK_AF_INET && local->family != SYNACK_AF_INET6))
		return -EINVAL;
	addr = *local; /* from here on, with the port the listener gets */
	local = &addr;
	if (addr.port == 0 && (err = listen_autobind(s, &addr)))
		return err;
	/* Linux's bind(): EADDRNOTAVAIL for a multicast or broadcast address,
	 * or one the host does not have (without IP_FREEBIND); the unspecified
	 * address takes every destination. */
	if (addr_not_unicast(local->family, local->ip) ||
	    (!ip_unspecified(local->ip, local->family) &&
	     !stack_is_local(s, local->ip, local->family)))
		return -EADDRNOTAVAIL;
	slot = local->port % LISTEN_HASH_SIZE;
	for (l = s->listeners[slot]; l; l = l->hash_next)
		if (synack_addr_equal(&l->addr, local, true))
			return -EADDRINUSE;
	l = stack_alloc(s, sizeof *l);
	if (!l)
		return -ENOBUFS;
	memset(l, 0, sizeof *l);
	l->s = s;
	l->addr = *local;
	if (opts)
		l->opts = *opts;
	/* Linux: listen(fd, n) caps n at somaxconn; a negative backlog is 0. */
	l->backlog = backlog < 0 ? 0 : (uint32_t)backlog;
	if (l->backlog > s->cfg.somaxconn)
		l->backlog = s->cfg.somaxconn;
	l->synq_max = l->opts.synq ? l->opts.synq : l->backlog;
	dlist_init(&l->acceptq);
	dlist_init(&l->requests);
	l->hash_next = s->listeners[slot];
	s->listeners[slot] = l;
	*out = l;
	return 0;
}

int synack_accept(synack_listener *l, synack_conn **out)
{
	synack_conn *c;

	if (dlist_empty(&l->acceptq))
		return -EAGAIN;
	c = container_of(l->acceptq.next, synack_conn, link);
	dlist_del(&c->link);
	l->acceptq_len--;
	tfo_child_done(c);
	c->flags = (uint16_t)((c->flags & ~CF_ACCEPTQ) | CF_USER);
	c->lst = NULL;
	*out = c;
	return 0;
}

uint32_t synack_listener_queued(const synack_listener *l) { return l->acceptq_len; }
uint32_t synack_listener_backlog(const synack_listener *l) { return l->backlog; }
uint32_t synack_listener_pending(const synack_listener *l) { return l->synq_len; }
const synack_addr *synack_listener_addr(const synack_listener *l) { return &l->addr; }

/* A connection in the accept queue that dies (reset, timeout) stays there
 * in CLOSED, as in Linux: accept() returns it and reads give the error. */
void listener_drop_conn(synack_conn *c)
{
	synack_listener *l = c->lst;

	if (!l)
		return;
	tfo_child_done(c);
	dlist_del(&c->link);
	l->acceptq_len--;
	c->lst = NULL;
	c->flags &= (uint16_t)~CF_ACCEPTQ;
}

void synack_listener_close(synack_listener *l, synack_time now)
{
	synack_stack *s = l->s;
	synack_listener **pp = &s->listeners[l->addr.port % LISTEN_HASH_SIZE];

	s->now = now;
	while (!dlist_empty(&l->requests))
		request_free(s, container_of(l->requests.next, request, link));
	/* Linux's inet_csk_listen_stop: children never accepted are reset. */
	while (!dlist_empty(&l->acceptq)) {
		synack_conn *c = container_of(l->acceptq.next, synack_conn, link);
		listener_drop_conn(c);
		if (c->state != SYNACK_CLOSED)
			conn_send_rst(c);
		conn_done(c, -ECONNRESET);
	}
	while (*pp && *pp != l)
		pp = &(*pp)->hash_next;
	if (*pp)
		*pp = l->hash_next;
	stack_free_mem(s, l);
}

/* ---- request entries --------------------------------------------------------- */

void request_free(synack_stack *s, request *r)
{
	timer_cancel(s, &r->timer);
	table_remove(&s->conns, &r->node);
	dlist_del(&r->link);
	r->lst->synq_len--;
	source_count(r->lst, &r->node.t, -1);
	pool_put(&s->req_pool, r);
}

/* Half-open requests per source address, counted in shared buckets: a
 * collision can only make the limit stricter. NULL when there is no limit. */
static uint16_t *source_bucket(synack_listener *l, const tuple *t)
{
	synack_stack *s = l->s;
	tuple src;

	if (!s->cfg.max_syn_per_source)
		return NULL;
	memset(&src, 0, sizeof src);
	src.family = t->family;
	memcpy(src.raddr, t->raddr, sizeof src.raddr);
	return &l->src_count[tuple_hash(s, &src) % SRC_BUCKETS];
}

void source_count(synack_listener *l, const tuple *t, int delta)
{
	uint16_t *count = source_bucket(l, t);

	if (count)
		*count = (uint16_t)(*count + delta);
}

static bool source_over_limit(synack_listener *l, const tuple *t)
{
	uint16_t *count = source_bucket(l, t);

	return count && *count >= l->s->cfg.max_syn_per_source;
}

static uint16_t listener_mss(const synack_stack *s, const synack_listener *l, uint8_t family)
{
	uint16_t mss = mss_for_mtu(s, family);

	if (l->opts.maxseg && l->opts.maxseg < mss)
		mss = l->opts.maxseg;
	return mss;
}

/* The window a request's SYN-ACK offers (Linux's rsk_rcv_wnd): the space
 * in whole segments of our MSS less the timestamp option when it is on.
 * It depends only on the listener and the negotiated options, so the first
 * SYN-ACK keeps it (syn_wnd) for the ACK check and the connection; a
 * request that never sent one (cookie, Fast Open) computes it. */
static uint16_t request_syn_window(const synack_stack *s, const request *r)
{
	uint32_t rcvbuf, wnd_space, wscale_space;
	uint16_t mss;

	if (r->syn_wnd)
		return r->syn_wnd;
	mss = listener_mss(s, r->lst, r->node.t.family);
	conn_space(s, &r->lst->opts, &rcvbuf, &wnd_space, &wscale_space);
	return syn_window(wnd_space, (r->neg & NEG_TS) ? (uint16_t)(mss - TCP_TS_OPT_SPACE) : mss);
}

static void send_synack_ts(synack_stack *s, request *r, uint32_t ts_val)
{
	uint8_t opt[WIRE_TCP_MAX_OPTS];
	uint16_t mss = listener_mss(s, r->lst, r->node.t.family);
	size_t n;

	n = syn_options(opt, r->neg, mss, r->rcv_wscale, ts_val, r->ts_recent);
	if (r->fo) {
		/* Only the first SYN-ACK hands out the cookie, as in Linux. */
		n += tfo_server_option(s, &r->node.t, r->fo == FO_EXP, opt + n);
		r->fo = 0;
	}
	r->synack_time = s->now;
	r->syn_wnd = request_syn_window(s, r);
	send_raw(s, &r->node.t, r->iss, r->irs + 1,
	         WIRE_SYN | WIRE_ACK | ((r->neg & NEG_ECN) ? WIRE_ECE : 0),
	         r->syn_wnd, opt, n, NULL, 0);
}

static void send_synack(synack_stack *s, request *r)
{
	send_synack_ts(s, r, ts_now(s, r->ts_off));
}

/* Linux's reqsk timer: 1 s, doubling, capped at TCP_RTO_MAX. */
static synack_time request_rto(const synack_stack *s, uint8_t retries)
{
	uint64_t ms = (uint64_t)s->cfg.rto_initial_ms << (retries < 30 ? retries : 30);

	if (ms > s->cfg.rto_max_ms)
		ms = s->cfg.rto_max_ms;
	return s->now + ms * NS_PER_MS;
}

/* Which options both sides want (RFC 7323, RFC 2018): the SYN-ACK answers
 * only what the SYN offered. */
static uint8_t negotiate(const synack_stack *s, const wire_opts *o)
{
	uint8_t neg = 0;

	if (s->cfg.sack && (o->present & WIRE_HAS_SACKOK))
		neg |= NEG_SACK;
	if (s->cfg.timestamps && (o->present & WIRE_HAS_TS))
		neg |= NEG_TS;
	if (s->cfg.window_scaling && (o->present & WIRE_HAS_WSCALE))
		neg |= NEG_WSCALE;
	return neg;
}

/* Fills the parts of a request that come from the SYN. */
static void request_from_syn(synack_stack *s, synack_listener *l, request *r, const wire_seg *seg,
                             const tuple *t)
{
	uint32_t rcvbuf, wnd_space, wscale_space;

	r->node.kind = NODE_REQUEST;
	r->node.t = *t;
	r->timer.owner = TIMER_REQUEST;
	r->timer.index = TIMER_IDLE;
	r->lst = l;
	r->syn_time = s->now;
	r->irs = seg->seq;
	isn_for(s, t, &r->iss, &r->ts_off);
	r->neg = negotiate(s, &seg->opts);
	/* RFC 3168 6.1.1: an ECN-setup SYN has both ECE and CWR. */
	if (s->cfg.ecn != SYNACK_ECN_OFF && (seg->flags & (WIRE_ECE | WIRE_CWR)) == (WIRE_ECE | WIRE_CWR))
		r->neg |= NEG_ECN;
	r->peer_mss = (seg->opts.present & WIRE_HAS_MSS) ? seg->opts.mss : 0;
	r->win = seg->win;
	r->ts_recent = seg->opts.ts_val;
	if (r->neg & NEG_WSCALE) {
		conn_space(s, &l->opts, &rcvbuf, &wnd_space, &wscale_space);
		r->snd_wscale = seg->opts.wscale > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : seg->opts.wscale;
		r->rcv_wscale = wscale_for(wscale_space);
	}
}

/* Answers a SYN with a cookie: nothing is kept. Without timestamps there is
 * nowhere to keep window scale and SACK, so the SYN-ACK offers neither. */
static void cookie_synack(synack_stack *s, synack_listener *l, const wire_seg *seg, const tuple *t)
{
	request r;

	memset(&r, 0, sizeof r);
	request_from_syn(s, l, &r, seg, t);
	if (!(r.neg & NEG_TS))
		r.neg = 0;
	r.iss = cookie_isn(s, l, t, seg);
	send_synack_ts(s, &r, cookie_ts_val(ts_now(s, r.ts_off), r.neg, r.snd_wscale));
}

/* A bare ACK that may return a cookie: build the connection it stands for
 * and let it take the ACK (and any data on it). */
static bool cookie_ack(synack_stack *s, synack_listener *l, const wire_seg *seg, const tuple *t,
                       uint32_t hash)
{
	request r;
	synack_conn *c;

	if (!cookie_check(s, l, seg, t, &r))
		return false;
	if (l->acceptq_len > l->backlog) {
		s->ctr.drop_acceptq_full++;
		return true; /* Linux drops it; the peer's retransmission may fit */
	}
	c = conn_from_request(s, &r, hash, NULL);
	if (!c) {
		s->ctr.drop_no_memory++;
		return true;
	}
	conn_input(c, seg);
	return true;
}

/* A Fast Open child leaves the pending count once accepted or established. */
void tfo_child_done(synack_conn *c)
{
	if (!(c->tfo & TFO_CHILD))
		return;
	c->tfo &= (uint8_t)~TFO_CHILD;
	if (c->lst)
		c->lst->tfo_pending--;
}

/* RFC 7413 4.2.2: a SYN with a valid cookie makes the connection at once;
 * its data is delivered and acknowledged by the SYN-ACK, and accept()
 * returns it before the third packet of the handshake. */
static void tfo_child(synack_stack *s, synack_listener *l, const wire_seg *seg, const tuple *t,
                      uint32_t hash)
{
	request r;
	synack_conn *c;
	uint32_t len = seg->payload_len;

	memset(&r, 0, sizeof r);
	request_from_syn(s, l, &r, seg, t);
	r.synack_time = s->now;
	c = conn_from_request(s, &r, hash, NULL);
	if (!c) {
		s->ctr.drop_no_memory++;
		return;
	}
	s->ctr.tfo_accepted++;
	c->tfo = TFO_CHILD | TFO_ANNOUNCED;
	l->tfo_pending++;
	if (len > c->rcvbuf)
		len = c->rcvbuf;
	if (len && !ring_reserve(s, &c->rcvq, c->rcvbuf)) {
		ring_push(&c->rcvq, seg->payload, len);
		c->rcv_nxt += len;
		c->rcv_adv += len;
		c->bytes_received += len;
	}
	c->rcv_wup = c->rcv_nxt;
	conn_send_syn(c);
	conn_rearm_rto(c);
	stack_event(s, SYNACK_EV_ACCEPTABLE, c, l, 0);
	if (len)
		stack_event(s, SYNACK_EV_READABLE, c, l, 0);
}

/* RFC 9293 3.10.7.2, LISTEN. */
void listen_input(synack_stack *s, synack_listener *l, const wire_seg *seg, const tuple *t,
                  uint32_t hash, const uint32_t *isn)
{
	request *r;
	int tfo;

	if (seg->flags & WIRE_RST) { /* first: an RST is ignored */
		s->ctr.drop_listen_rst++;
		return;
	}
	if (seg->flags & WIRE_ACK) {
		/* Second: any ACK is bad -> RST seq=SEG.ACK, unless it returns a
		 * SYN cookie of ours. */
		if (!(seg->flags & WIRE_SYN) && cookie_enabled(s, l) && cookie_ack(s, l, seg, t, hash))
			return;
		send_reset_for(s, seg, t);
		return;
	}
	if (!(seg->flags & WIRE_SYN)) {
		s->ctr.drop_listen_other++;
		return;
	}
	if (seg->flags & WIRE_FIN) { /* Linux drops SYN+FIN in LISTEN */
		s->ctr.drop_listen_synfin++;
		return;
	}
	/* Linux (tcp_conn_request): a full accept queue drops new SYNs, even
	 * with cookies. A full SYN queue (or a source over its share) means a
	 * cookie, or a drop when cookies are off. */
	if (l->acceptq_len > l->backlog) {
		s->ctr.drop_acceptq_full++;
		return;
	}
	if (s->cfg.syncookies == SYNACK_SYNCOOKIES_ALWAYS || l->synq_len >= l->synq_max ||
	    source_over_limit(l, t)) {
		if (s->cfg.syncookies == SYNACK_SYNCOOKIES_NEVER) {
			if (l->synq_len >= l->synq_max)
				s->ctr.drop_synq_full++;
			else
				s->ctr.drop_syn_per_source++;
			return;
		}
		cookie_synack(s, l, seg, t);
		return;
	}
	tfo = tfo_server_check(s, l, seg, t);
	if (tfo == TFO_ACCEPT) {
		if (l->tfo_pending < tfo_qlen(s, l) && !isn) {
			tfo_child(s, l, seg, t, hash);
			return;
		}
		s->ctr.tfo_queue_full++; /* Linux: an ordinary handshake, no cookie */
		tfo = TFO_NONE;
	}
	r = pool_get(s, &s->req_pool);
	if (!r) {
		s->ctr.drop_no_memory++;
		return;
	}
	request_from_syn(s, l, r, seg, t);
	if (tfo == TFO_REPLY)
		r->fo = (seg->opts.present & WIRE_HAS_FOEXP) ? FO_EXP : FO_KIND34;
	if (isn)
		r->iss = *isn;
	table_insert(s, &s->conns, &r->node, hash);
	dlist_add_tail(&l->requests, &r->link);
	l->synq_len++;
	source_count(l, t, 1);
	/* No block yet: observers see the listener pass a SYN-RECEIVED entry. */
	stack_state_event(s, NULL, l, SYNACK_LISTEN, SYNACK_SYN_RECEIVED);
	/* Data on a SYN without Fast Open is not acknowledged: ack = IRS + 1. */
	send_synack(s, r);
	timer_arm(s, &r->timer, request_rto(s, 0));
}

/* RFC 7323 5.3 (PAWS) for a request: a timestamp older than TS.Recent. */
static bool request_paws_reject(const request *r, const wire_seg *seg)
{
	return (r->neg & NEG_TS) && (seg->opts.present & WIRE_HAS_TS) && !(seg->flags & WIRE_RST) &&
	       seq_lt(seg->opts.ts_val, r->ts_recent);
}

/* Linux's tcp_oow_rate_limited: one answer per invalid_ratelimit_ms. */
static bool request_oow_limited(synack_stack *s, request *r)
{
	synack_time gap = (synack_time)s->cfg.invalid_ratelimit_ms * NS_PER_MS;

	if (r->last_oow && s->now - r->last_oow < gap)
		return true;
	r->last_oow = s->now;
	return false;
}

/* The window a request advertises: its SYN-ACK's, scaled once the
 * handshake is over (Linux's tcp_v4_reqsk_send_ack). */
static uint16_t request_window(const synack_stack *s, const request *r)
{
	uint16_t wnd = request_syn_window(s, r);

	return (uint16_t)((r->neg & NEG_WSCALE) ? wnd >> r->rcv_wscale : wnd);
}

static void request_ack(synack_stack *s, request *r)
{
	uint8_t opt[WIRE_TCP_MAX_OPTS];
	size_t n = 0;

	if (r->neg & NEG_TS) {
		n += wire_put_nop(opt);
		n += wire_put_nop(opt + n);
		n += wire_put_ts(opt + n, ts_now(s, r->ts_off), r->ts_recent);
	}
	send_raw(s, &r->node.t, r->iss + 1, r->irs + 1, WIRE_ACK, request_window(s, r), opt, n,
	         NULL, 0);
}

static synack_conn *request_to_conn(synack_stack *s, request *r);

/* A segment for a request in SYN-RECEIVED, in Linux's tcp_check_req order. */
void request_input(synack_stack *s, request *r, const wire_seg *seg)
{
	uint32_t rcv_nxt = r->irs + 1;
	uint32_t wnd;
	bool paws = request_paws_reject(r, seg);
	synack_conn *c;

	/* A retransmitted SYN: send the SYN-ACK again (rate limited). */
	if (seg->seq == r->irs && (seg->flags & (WIRE_SYN | WIRE_ACK | WIRE_RST | WIRE_FIN)) == WIRE_SYN &&
	    !paws) {
		if (!request_oow_limited(s, r)) {
			send_synack(s, r);
			s->ctr.synack_retransmits++;
			timer_arm(s, &r->timer, request_rto(s, r->retries));
		}
		return;
	}
	/* RFC 9293 3.10.7.4 for SYN-RECEIVED: an unacceptable ACK draws
	 * <SEQ=SEG.ACK><CTL=RST>. */
	if ((seg->flags & WIRE_ACK) && seg->ack != r->iss + 1) {
		if (!(seg->flags & WIRE_RST))
			send_reset_for(s, seg, &r->node.t);
		else
			s->ctr.drop_ack_unacceptable++;
		return;
	}
	/* In window against what our SYN-ACK offered (Linux: rsk_rcv_wnd). */
	wnd = request_syn_window(s, r);
	if (paws || !seq_between(seg->seq, rcv_nxt, rcv_nxt + wnd)) {
		s->ctr.drop_out_of_window++;
		if (!(seg->flags & WIRE_RST) && !request_oow_limited(s, r))
			request_ack(s, r);
		return;
	}
	if (seg->flags & WIRE_RST) {
		s->ctr.requests_reset++;
		request_free(s, r);
		return;
	}
	if ((seg->flags & WIRE_SYN) && seg->seq != r->irs) {
		/* A new SYN inside the window: Linux resets the embryonic connection. */
		send_reset_for(s, seg, &r->node.t);
		request_free(s, r);
		return;
	}
	if (!(seg->flags & WIRE_ACK))
		return;
	if (r->lst->opts.defer_accept_ms && seg->payload_len == 0 && !(seg->flags & WIRE_FIN)) {
		/* TCP_DEFER_ACCEPT: a bare ACK does not make the connection;
		 * data will, or the request ends when the time is up. */
		s->ctr.defer_accept_drops++;
		r->acked = 1;
		return;
	}
	if (r->lst->acceptq_len > r->lst->backlog) {
		/* Linux: the ACK is dropped; the SYN-ACK timer tries again. */
		s->ctr.drop_acceptq_full++;
		r->acked = 1;
		return;
	}
	c = request_to_conn(s, r);
	if (c)
		conn_input(c, seg);
}

/* Builds the full connection a request (or a valid cookie) describes and
 * puts it in the accept queue, in SYN-RECEIVED: the ACK that completes the
 * handshake is processed next by conn_input. */
synack_conn *conn_from_request(synack_stack *s, const request *r, uint32_t hash, tnode *in_place_of)
{
	synack_listener *l = r->lst;
	uint32_t rcvbuf, wnd_space, wscale_space;
	synack_conn *c;

	if (s->cfg.max_connections && s->conn_pool.in_use >= s->cfg.max_connections)
		return NULL;
	c = conn_alloc(s, &r->node.t, hash, in_place_of);
	if (!c)
		return NULL;
	c->flags |= CF_PASSIVE | CF_ACCEPTQ;
	if (l->opts.nodelay)
		c->flags |= CF_NODELAY;
	c->neg = r->neg;
	c->iss = r->iss;
	c->snd_una = c->iss; /* the ACK processing moves it to ISS+1 */
	c->snd_nxt = c->snd_max = c->iss + 1;
	c->irs = r->irs;
	c->rcv_nxt = r->irs + 1;
	c->ts_off = r->ts_off;
	c->ts_recent = r->ts_recent;
	c->ts_recent_at = s->now;
	c->snd_wscale = (r->neg & NEG_WSCALE) ? (int8_t)r->snd_wscale : -1;
	c->rcv_wscale = (r->neg & NEG_WSCALE) ? (int8_t)r->rcv_wscale : -1;
	c->user_mss = l->opts.maxseg;
	c->user_timeout_ms = l->opts.user_timeout_ms;
	conn_keepalive_opts(c, &l->opts);
	conn_space(s, &l->opts, &rcvbuf, &wnd_space, &wscale_space);
	c->rcvbuf = rcvbuf;
	c->sndbuf = l->opts.sndbuf ? 2 * l->opts.sndbuf : s->cfg.wmem_default * SNDBUF_EXPAND;
	conn_set_mss(c, r->peer_mss);
	c->rcv_wnd_clamp = request_syn_window(s, r); /* what the SYN-ACK offered */
	c->rcv_adv = c->rcv_nxt + c->rcv_wnd_clamp;
	c->snd_wnd = (uint32_t)r->win; /* SYN windows are never scaled */
	c->snd_wl1 = r->irs;
	c->snd_wl2 = c->iss;
	c->syn_time = r->syn_time;
	c->syn_retrans = r->retries;
	/* Karn (RFC 6298 3): an RTT sample from the SYN-ACK only if it was
	 * never retransmitted; with timestamps the echo gives one anyway. */
	if (r->retries == 0 && r->synack_time) {
		c->flags |= CF_RTT_TIMING;
		c->rtt_seq = c->iss;
		c->rtt_time = r->synack_time;
	}
	c->lst = l;
	c->state = SYNACK_SYN_RECEIVED;
	dlist_add_tail(&l->acceptq, &c->link);
	l->acceptq_len++;
	s->ctr.passive_opens++;
	return c;
}

/* The final ACK: the request entry becomes a connection. */
static synack_conn *request_to_conn(synack_stack *s, request *r)
{
	synack_listener *l = r->lst;
	uint32_t hash = r->node.hash;
	synack_conn *c;

	/* The connection takes the request's slot in the table: same tuple,
	 * same hash, no removal and insertion. */
	c = conn_from_request(s, r, hash, &r->node);
	if (!c) {
		timer_arm(s, &r->timer, request_rto(s, r->retries));
		s->ctr.drop_no_memory++;
		return NULL;
	}
	timer_cancel(s, &r->timer);
	dlist_del(&r->link);
	l->synq_len--;
	source_count(l, &r->node.t, -1);
	pool_put(&s->req_pool, r);
	return c;
}

void request_timeout(synack_stack *s, request *r)
{
	uint32_t defer = r->lst->opts.defer_accept_ms;

	if (r->retries >= s->cfg.synack_retries ||
	    (r->acked && defer && s->now - r->syn_time >= (synack_time)defer * NS_PER_MS)) {
		s->ctr.requests_expired++;
		request_free(s, r);
		return;
	}
	r->retries++;
	s->ctr.synack_retransmits++;
	send_synack(s, r);
	timer_arm(s, &r->timer, request_rto(s, r->retries));
}
