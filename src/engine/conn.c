/* conn.c — the connection block's life and the user-facing calls: connect,
 * send, recv, shutdown, close, abort, poll, info (RFC 9293 3.10.1-3.10.6). */
#include "engine/internal.h"

#define TCP_MIN_SND_MSS 48   /* Linux TCP_MIN_SND_MSS */
#define CF_DONE_MASK (CF_SHUT_RD | CF_FIN_QUEUED)

/* ---- byte rings ---------------------------------------------------------- */

int ring_reserve(synack_stack *s, ring *r, uint32_t cap)
{
	if (r->buf)
		return 0;
	r->buf = stack_alloc(s, cap);
	if (!r->buf)
		return -ENOBUFS;
	r->cap = cap;
	r->head = r->len = 0;
	return 0;
}

void ring_push(ring *r, const uint8_t *data, uint32_t len)
{
	uint32_t tail = (r->head + r->len) % r->cap;
	uint32_t first = r->cap - tail < len ? r->cap - tail : len;

	memcpy(r->buf + tail, data, first);
	memcpy(r->buf, data + first, len - first);
	r->len += len;
}

void ring_peek(const ring *r, uint32_t off, uint8_t *out, uint32_t len)
{
	uint32_t pos = (r->head + off) % r->cap;
	uint32_t first = r->cap - pos < len ? r->cap - pos : len;

	memcpy(out, r->buf + pos, first);
	memcpy(out + first, r->buf, len - first);
}

/* Removes len bytes from the front, copying them to out when out is set. */
void ring_pop(ring *r, uint8_t *out, uint32_t len)
{
	if (out)
		ring_peek(r, 0, out, len);
	/* The head is not reset when the ring empties: out-of-order data may
	 * sit past it, placed relative to head + len. */
	r->head = (r->head + len) % r->cap;
	r->len -= len;
}

void ring_release(synack_stack *s, ring *r)
{
	stack_free_mem(s, r->buf);
	memset(r, 0, sizeof *r);
}

/* ---- the block's life -------------------------------------------------------- */

/* A new block, hashed under t; in_place_of, when set, is the node of the
 * same tuple (a request) whose table slot it takes. */
synack_conn *conn_alloc(synack_stack *s, const tuple *t, uint32_t hash, tnode *in_place_of)
{
	synack_conn *c = pool_get(s, &s->conn_pool);

	if (!c)
		return NULL;
	c->s = s;
	c->node.kind = NODE_CONN;
	c->node.t = *t;
	c->timer.owner = TIMER_CONN;
	c->timer.index = TIMER_IDLE;
	dlist_init(&c->link);
	dlist_init(&c->tx_link);
	/* The block is zeroed (pool_get): only the set fields are written. */
	c->snd_wscale = c->rcv_wscale = -1;
	c->rto_ms = s->cfg.rto_initial_ms;
	c->cwnd = TCP_INIT_CWND;
	c->ssthresh = UINT32_MAX;
	c->state = SYNACK_CLOSED;
	if (in_place_of)
		table_replace(&s->conns, in_place_of, &c->node);
	else
		table_insert(s, &s->conns, &c->node, hash);
	c->flags |= CF_HASHED;
	return c;
}

void conn_set_state(synack_conn *c, synack_state st)
{
	synack_stack *s = c->s;
	synack_state from = (synack_state)c->state;

	if (from == st)
		return;
	c->state = (uint8_t)st;
	stack_state_event(s, c, c->lst, from, st);
	if (st == SYNACK_ESTABLISHED) {
		c->established_at = s->now;
		if ((c->flags & CF_ACCEPTQ) && !(c->tfo & TFO_ANNOUNCED))
			stack_event(s, SYNACK_EV_ACCEPTABLE, c, c->lst, 0);
		else
			stack_event(s, SYNACK_EV_WRITABLE, c, NULL, 0);
	}
}

static void conn_unlink(synack_conn *c)
{
	synack_stack *s = c->s;

	timer_cancel(s, &c->timer);
	c->timer_kind = CT_NONE;
	c->delack_at = 0;
	if (c->flags & CF_TX_PENDING) {
		dlist_del(&c->tx_link);
		c->flags &= (uint16_t)~CF_TX_PENDING;
	}
	if (c->flags & CF_HASHED) {
		table_remove(&s->conns, &c->node);
		c->flags &= (uint16_t)~CF_HASHED;
	}
}

/* Frees the block once neither the user nor a listener holds it. */
void conn_maybe_free(synack_conn *c)
{
	if (c->state != SYNACK_CLOSED || (c->flags & (CF_USER | CF_ACCEPTQ)))
		return;
	conn_release(c);
}

/* Gives the block back to its pool (its tuple may live on elsewhere, as a
 * TIME-WAIT entry). */
void conn_release(synack_conn *c)
{
	synack_stack *s = c->s;

	if (s->tw_pending == c)
		s->tw_pending = NULL;
	conn_unlink(c);
	stack_event(s, SYNACK_EV_FREED, c, NULL, 0);
	/* The buffers only: the block is zeroed when it is next taken. */
	stack_free_mem(s, c->sndq.buf);
	stack_free_mem(s, c->rcvq.buf);
	stack_free_mem(s, c->rtx.v);
	c->s = NULL;
	pool_put(&s->conn_pool, c);
}

/* The connection reached CLOSED (Linux's tcp_done). err, when set, is what
 * the user's calls will report. May free c: do not touch it afterwards. */
void conn_done(synack_conn *c, int err)
{
	synack_stack *s = c->s;

	conn_unlink(c);
	c->flags |= CF_DONE_MASK;
	if (err) {
		c->error = c->hard_error = err;
		stack_event(s, SYNACK_EV_ERROR, c, c->lst, err);
	}
	conn_set_state(c, SYNACK_CLOSED);
	if (c->flags & CF_USER)
		stack_event(s, SYNACK_EV_READABLE, c, NULL, 0);
	conn_maybe_free(c);
}

/* RFC 9293 3.10.7.4: TIME-WAIT lasts 2 MSL (Linux: 60 s); a retransmitted
 * FIN restarts it. A block nobody holds becomes a compact entry (tw.c). */
void conn_enter_timewait(synack_conn *c)
{
	synack_stack *s = c->s;

	c->delack_at = 0;
	rcv_ooo_clear(c);
	if (c->state != SYNACK_TIME_WAIT) {
		s->ctr.timewait_entered++;
		conn_set_state(c, SYNACK_TIME_WAIT);
	}
	/* Nothing is left to send; keep what the user has not read yet. */
	ring_release(s, &c->sndq);
	rtx_release(c);
	c->timer_kind = CT_NONE;
	conn_timer_set(c, CT_TIMEWAIT, s->now + (synack_time)s->cfg.timewait_ms * NS_PER_MS);
	/* The block is still in use by the caller: synack_input makes it a
	 * compact entry once the segment is done with. */
	if (!(c->flags & CF_USER))
		s->tw_pending = c;
}

/* RFC 9293 3.7.1 and RFC 6691: send with min(peer's MSS, our MSS), less the
 * timestamp option's 12 bytes when it is on every segment. */
void conn_set_mss(synack_conn *c, uint16_t peer_mss)
{
	synack_stack *s = c->s;
	uint16_t ours = mss_for_mtu(s, c->node.t.family);
	uint16_t dflt = c->node.t.family == SYNACK_AF_INET6 ? TCP_MSS_DEFAULT_V6 : TCP_MSS_DEFAULT_V4;
	uint16_t clamp = peer_mss ? peer_mss : dflt;

	c->peer_mss = peer_mss;

	if (c->user_mss && c->user_mss < ours)
		ours = c->user_mss;
	c->adv_mss = ours;
	if (clamp > ours)
		clamp = ours;
	c->mss_clamp = clamp;
	c->snd_mss = (c->neg & NEG_TS) ? (uint16_t)(clamp - TCP_TS_OPT_SPACE) : clamp;
	if (c->snd_mss < TCP_MIN_SND_MSS)
		c->snd_mss = TCP_MIN_SND_MSS;
}

/* The receive window to offer, in bytes (RFC 9293 3.8.6.2.2 and Linux's
 * __tcp_select_window): half the free buffer, at most the clamp, no silly
 * small windows, never moving the right edge back. */
uint32_t conn_rcv_window(synack_conn *c)
{
	uint32_t free_space = c->rcvbuf > c->rcvq.len ? (c->rcvbuf - c->rcvq.len) / 2 : 0;
	uint32_t win = free_space < c->rcv_wnd_clamp ? free_space : c->rcv_wnd_clamp;
	uint32_t edge = c->rcv_adv - c->rcv_nxt;
	uint32_t max_field = TCP_MAX_WINDOW;

	if (win < c->adv_mss && win < c->rcv_wnd_clamp)
		win = 0; /* receiver-side SWS avoidance */
	if (c->rcv_wscale > 0) {
		uint32_t unit = 1u << c->rcv_wscale;
		win = (win + unit - 1) & ~(unit - 1); /* Linux rounds up to the scale unit */
		max_field <<= c->rcv_wscale;
	}
	if (seq_gt(c->rcv_adv, c->rcv_nxt) && win < edge)
		win = edge;
	return win < max_field ? win : max_field;
}

/* SO_KEEPALIVE with TCP_KEEPIDLE/INTVL/CNT, or the stack's defaults. */
void conn_keepalive_opts(synack_conn *c, const synack_conn_opts *o)
{
	const synack_config *cfg = &c->s->cfg;

	if (o && o->keepalive)
		c->flags |= CF_KEEPALIVE;
	c->ka_idle_ms = o && o->keepidle_ms ? o->keepidle_ms : cfg->keepalive_time_ms;
	c->ka_intvl_ms = o && o->keepintvl_ms ? o->keepintvl_ms : cfg->keepalive_intvl_ms;
	c->ka_cnt = o && o->keepcnt ? o->keepcnt : cfg->keepalive_probes;
}

void synack_conn_set_keepalive(synack_conn *c, bool on, uint32_t idle_ms, uint32_t intvl_ms,
                               uint8_t count)
{
	synack_conn_opts o = {.keepalive = on, .keepidle_ms = idle_ms, .keepintvl_ms = intvl_ms,
	                      .keepcnt = count};

	c->flags &= (uint16_t)~CF_KEEPALIVE;
	conn_keepalive_opts(c, &o);
	if (c->timer_kind == CT_KEEPALIVE || c->timer_kind == CT_NONE) {
		c->timer_kind = CT_NONE;
		conn_arm_timer(c);
	}
}

/* ---- connect ------------------------------------------------------------------ */

static int pick_local(synack_stack *s, const synack_addr *local, const synack_addr *remote,
                      synack_addr *out)
{
	if (local && local->family && local->family != remote->family)
		return -EINVAL;
	if (local && local->family && !ip_unspecified(local->ip, remote->family)) {
		if (!stack_is_local(s, local->ip, local->family))
			return -EADDRNOTAVAIL; /* Linux's bind() without IP_FREEBIND */
		*out = *local;
		return 0;
	}
	for (uint32_t i = 0; i < s->addr_count; i++)
		if (s->addrs[i].family == remote->family) {
			*out = s->addrs[i];
			out->port = local ? local->port : 0;
			return 0;
		}
	return -EADDRNOTAVAIL;
}

static int pick_port(synack_stack *s, tuple *t, uint32_t *hash)
{
	uint32_t range = (uint32_t)s->cfg.ephemeral_high - s->cfg.ephemeral_low + 1;
	uint16_t offset = ephemeral_port(s, t);

	for (uint32_t i = 0; i < range && i < MAX_PORT_TRIES; i++) {
		t->lport = (uint16_t)(s->cfg.ephemeral_low + (offset + i) % range);
		if (port_has_listener(s, t->lport))
			continue;
		*hash = tuple_hash(s, t);
		if (!table_lookup(&s->conns, t, *hash) && !table_lookup(&s->tw_table, t, *hash))
			return 0;
	}
	return -EADDRNOTAVAIL;
}

static void conn_apply_opts(synack_conn *c, const synack_conn_opts *o)
{
	synack_stack *s = c->s;
	uint32_t wnd_space, wscale_space;

	conn_space(s, o, &c->rcvbuf, &wnd_space, &wscale_space);
	c->sndbuf = (o && o->sndbuf) ? 2 * o->sndbuf : s->cfg.wmem_default * SNDBUF_EXPAND;
	if (o) {
		c->user_mss = o->maxseg;
		c->user_timeout_ms = o->user_timeout_ms;
		c->syn_retries = o->syn_retries;
		if (o->nodelay)
			c->flags |= CF_NODELAY;
	}
	conn_keepalive_opts(c, o);
	if (!c->user_timeout_ms)
		c->user_timeout_ms = s->cfg.user_timeout_ms;
	if (s->cfg.window_scaling)
		c->rcv_wscale = (int8_t)wscale_for(wscale_space);
	conn_set_mss(c, 0);
	/* Our SYN's window rounds by our MSS: no timestamps are known yet. */
	c->rcv_wnd_clamp = syn_window(wnd_space, c->adv_mss);
}

static int conn_open(synack_stack *s, const synack_addr *local, const synack_addr *remote,
                     const synack_conn_opts *opts, synack_time now, synack_conn **out)
{
	synack_addr src;
	tuple t;
	synack_conn *c;
	uint32_t hash;
	int err;

	if (!s || !remote || !out || remote->port == 0 ||
	    (remote->family != SYNACK_AF_INET && remote->family != SYNACK_AF_INET6))
		return -EINVAL;
	s->now = now;
	if ((err = pick_local(s, local, remote, &src)))
		return err;
	/* Linux's tcp_v4_connect and tcp_v6_connect: no route for TCP there. */
	if (addr_not_unicast(remote->family, remote->ip) || addr_not_unicast(src.family, src.ip))
		return -ENETUNREACH;
	memset(&t, 0, sizeof t);
	t.family = remote->family;
	t.lport = src.port;
	t.rport = remote->port;
	memcpy(t.laddr, src.ip, sizeof t.laddr);
	memcpy(t.raddr, remote->ip, sizeof t.raddr);
	if (t.lport == 0) {
		if ((err = pick_port(s, &t, &hash)))
			return err;
	} else {
		hash = tuple_hash(s, &t);
		if (table_lookup(&s->conns, &t, hash) || table_lookup(&s->tw_table, &t, hash))
			return -EADDRINUSE;
	}
	if (s->cfg.max_connections && s->conn_pool.in_use >= s->cfg.max_connections)
		return -ENOBUFS;
	c = conn_alloc(s, &t, hash, NULL);
	if (!c)
		return -ENOBUFS;
	c->flags |= CF_USER;
	c->neg = (uint8_t)((s->cfg.sack ? NEG_SACK : 0) | (s->cfg.timestamps ? NEG_TS : 0) |
	                   (s->cfg.window_scaling ? NEG_WSCALE : 0) |
	                   (s->cfg.ecn == SYNACK_ECN_ON ? NEG_ECN : 0));
	conn_apply_opts(c, opts);
	isn_for(s, &t, &c->iss, &c->ts_off);
	c->snd_una = c->iss;
	c->snd_nxt = c->snd_max = c->iss + 1;
	c->syn_time = now;
	c->flags |= CF_RTT_TIMING;
	c->rtt_seq = c->iss;
	c->rtt_time = now;
	conn_set_state(c, SYNACK_SYN_SENT);
	s->ctr.active_opens++;
	*out = c;
	return 0;
}

int synack_connect(synack_stack *s, const synack_addr *local, const synack_addr *remote,
                   const synack_conn_opts *opts, synack_time now, synack_conn **out)
{
	int err = conn_open(s, local, remote, opts, now, out);

	if (err)
		return err;
	conn_send_syn(*out);
	conn_rearm_rto(*out);
	return 0;
}

ssize_t synack_connect_data(synack_stack *s, const synack_addr *local, const synack_addr *remote,
                            const synack_conn_opts *opts, const void *data, size_t len,
                            synack_time now, synack_conn **out)
{
	synack_conn *c;
	uint32_t n = 0;
	int err = conn_open(s, local, remote, opts, now, &c);

	if (err)
		return err;
	if (len) {
		if (ring_reserve(s, &c->sndq, c->sndbuf)) {
			conn_done(c, 0);
			return -ENOBUFS;
		}
		n = len < c->sndq.cap ? (uint32_t)len : c->sndq.cap;
		ring_push(&c->sndq, data, n);
	}
	if (s->cfg.fastopen & SYNACK_FASTOPEN_CLIENT)
		c->tfo = (uint8_t)(TFO_CLIENT | (opts && opts->fastopen_exp ? TFO_CLIENT_EXP : 0));
	conn_send_syn(c);
	conn_rearm_rto(c);
	*out = c;
	return n;
}

/* ---- data ---------------------------------------------------------------------- */

static int take_error(synack_conn *c)
{
	int err = c->error;

	c->error = 0;
	return err;
}

ssize_t synack_send(synack_conn *c, const void *buf, size_t len, synack_time now)
{
	uint32_t room, n;

	c->s->now = now;
	if (c->error)
		return take_error(c);
	if (c->state == SYNACK_SYN_SENT || c->state == SYNACK_SYN_RECEIVED)
		return -EAGAIN;
	if ((c->state != SYNACK_ESTABLISHED && c->state != SYNACK_CLOSE_WAIT) ||
	    (c->flags & CF_FIN_QUEUED))
		return -EPIPE;
	if (len == 0)
		return 0;
	if (ring_reserve(c->s, &c->sndq, c->sndbuf))
		return -ENOBUFS;
	room = c->sndq.cap - c->sndq.len;
	if (room == 0)
		return -EAGAIN;
	n = len < room ? (uint32_t)len : room;
	ring_push(&c->sndq, buf, n);
	conn_output(c);
	return n;
}

ssize_t synack_recv(synack_conn *c, void *buf, size_t len, synack_time now)
{
	uint32_t n, before, after;

	c->s->now = now;
	if (c->rcvq.len) {
		n = len < c->rcvq.len ? (uint32_t)len : c->rcvq.len;
		before = c->rcv_adv - c->rcv_nxt;
		ring_pop(&c->rcvq, buf, n);
		/* Linux's tcp_cleanup_rbuf: announce a window that at least
		 * doubled, once it had fallen to half the clamp or below. */
		after = conn_rcv_window(c);
		if (c->state != SYNACK_CLOSED && !(c->flags & CF_FIN_RCVD) &&
		    2 * before <= c->rcv_wnd_clamp && after >= 2 * before && after > 0)
			conn_send_ack(c);
		return n;
	}
	if (c->error)
		return take_error(c);
	if (c->flags & (CF_FIN_RCVD | CF_SHUT_RD) || c->state == SYNACK_CLOSED)
		return 0;
	return -EAGAIN;
}

int synack_shutdown(synack_conn *c, int how, synack_time now)
{
	c->s->now = now;
	if (how < SYNACK_SHUT_RD || how > SYNACK_SHUT_RDWR)
		return -EINVAL;
	if (c->state == SYNACK_CLOSED || c->state == SYNACK_LISTEN)
		return -ENOTCONN;
	if (how & SYNACK_SHUT_RD)
		c->flags |= CF_SHUT_RD;
	if (!(how & SYNACK_SHUT_WR) || (c->flags & CF_FIN_QUEUED))
		return 0;
	switch (c->state) {
	case SYNACK_SYN_SENT:
		/* Linux's tcp_close_state: SYN-SENT goes straight to CLOSE. */
		conn_done(c, 0);
		return 0;
	case SYNACK_ESTABLISHED:
	case SYNACK_SYN_RECEIVED:
		conn_set_state(c, SYNACK_FIN_WAIT_1);
		break;
	case SYNACK_CLOSE_WAIT:
		conn_set_state(c, SYNACK_LAST_ACK);
		break;
	default:
		return 0;
	}
	c->flags |= CF_FIN_QUEUED;
	c->fin_seq = c->snd_una + c->sndq.len;
	conn_output(c);
	return 0;
}

void synack_close(synack_conn *c, synack_time now)
{
	synack_stack *s = c->s;

	s->now = now;
	c->flags &= (uint16_t)~CF_USER;
	switch (c->state) {
	case SYNACK_CLOSED:
		conn_maybe_free(c);
		return;
	case SYNACK_SYN_SENT:
		conn_done(c, 0); /* nothing is sent; a late SYN-ACK gets an RST */
		return;
	case SYNACK_TIME_WAIT:
		ring_release(s, &c->rcvq);
		tw_from_conn(c);
		return;
	default:
		break;
	}
	if (c->rcvq.len) {
		/* Linux (tcp_close): unread data means the peer must learn that
		 * it was lost: RST instead of FIN (RFC 2525 2.17). */
		conn_send_rst(c);
		conn_done(c, 0);
		return;
	}
	c->flags |= CF_SHUT_RD;
	ring_release(s, &c->rcvq); /* empty, and no reader any more */
	(void)synack_shutdown(c, SYNACK_SHUT_WR, now);
	if (c->state == SYNACK_FIN_WAIT_2 && c->timer_kind == CT_NONE)
		conn_arm_timer(c);
}

void synack_abort(synack_conn *c, synack_time now)
{
	c->s->now = now;
	c->flags &= (uint16_t)~CF_USER;
	switch (c->state) {
	case SYNACK_ESTABLISHED:
	case SYNACK_CLOSE_WAIT:
	case SYNACK_FIN_WAIT_1:
	case SYNACK_FIN_WAIT_2:
	case SYNACK_SYN_RECEIVED:
		conn_send_rst(c); /* Linux's tcp_need_reset states */
		break;
	default:
		break;
	}
	if (c->state == SYNACK_CLOSED)
		conn_maybe_free(c);
	else
		conn_done(c, 0);
}

/* ---- queries ---------------------------------------------------------------------- */

/* As Linux's tcp_poll reports a TCP socket. */
unsigned synack_conn_poll(const synack_conn *c)
{
	bool closed = c->state == SYNACK_CLOSED;
	bool rcv_shut = closed || (c->flags & (CF_FIN_RCVD | CF_SHUT_RD));
	bool snd_shut = closed || (c->flags & CF_FIN_QUEUED);
	unsigned mask = 0;

	if (closed || (rcv_shut && snd_shut))
		mask |= SYNACK_POLLHUP;
	if (rcv_shut)
		mask |= SYNACK_POLLIN | SYNACK_POLLRDHUP;
	if (c->state != SYNACK_SYN_SENT && c->state != SYNACK_SYN_RECEIVED) {
		if (c->rcvq.len)
			mask |= SYNACK_POLLIN;
		if (snd_shut)
			mask |= SYNACK_POLLOUT;
		else if (c->sndq.len == 0 || c->sndbuf - c->sndq.len >= c->sndq.len / 2)
			mask |= SYNACK_POLLOUT;
	}
	if (c->error)
		mask |= SYNACK_POLLERR;
	return mask;
}

int synack_conn_take_error(synack_conn *c) { return take_error(c); }
synack_state synack_conn_state(const synack_conn *c) { return (synack_state)c->state; }
/* The endpoints as the API hands them out, written from the tuple when
 * first asked for (most connections never are). The block belongs to the
 * stack and is never a const object: the cast only fills a cache. */
static const synack_addr *conn_addrs(const synack_conn *c, bool remote)
{
	synack_conn *m = (synack_conn *)c;

	if (!m->local.family)
		tuple_to_addrs(&c->node.t, &m->local, &m->remote);
	return remote ? &m->remote : &m->local;
}

const synack_addr *synack_conn_local(const synack_conn *c) { return conn_addrs(c, false); }
const synack_addr *synack_conn_remote(const synack_conn *c) { return conn_addrs(c, true); }
uint32_t synack_conn_recv_queued(const synack_conn *c) { return c->rcvq.len; }
uint32_t synack_conn_send_queued(const synack_conn *c) { return c->sndq.len; }
void synack_conn_set_user(synack_conn *c, void *user) { c->user = user; }
void *synack_conn_user(const synack_conn *c) { return c->user; }

void synack_conn_set_nodelay(synack_conn *c, bool on)
{
	if (on) {
		c->flags |= CF_NODELAY;
		conn_output(c);
	} else {
		c->flags &= (uint16_t)~CF_NODELAY;
	}
}

void synack_conn_info(const synack_conn *c, synack_info *info)
{
	memset(info, 0, sizeof *info);
	info->state = (synack_state)c->state;
	tuple_to_addrs(&c->node.t, &info->local, &info->remote);
	info->isn_local = c->iss;
	info->isn_remote = c->irs;
	info->snd_mss = c->snd_mss;
	info->rcv_mss = c->adv_mss;
	info->peer_mss = c->peer_mss;
	info->snd_wscale = c->snd_wscale;
	info->rcv_wscale = c->rcv_wscale;
	info->sack = c->neg & NEG_SACK;
	info->timestamps = c->neg & NEG_TS;
	info->ecn = c->neg & NEG_ECN;
	info->passive = c->flags & CF_PASSIVE;
	info->rtt_us = c->srtt_us;
	info->rttvar_us = c->rttvar_us;
	info->rto_us = c->rto_ms * 1000u;
	info->backoff = c->backoff;
	info->total_retrans = c->total_retrans;
	info->syn_retrans = c->syn_retrans;
	if (c->established_at)
		info->handshake_ns = c->established_at - c->syn_time;
	info->bytes_sent = c->bytes_sent;
	info->bytes_acked = c->bytes_acked;
	info->bytes_received = c->bytes_received;
	info->snd_una = c->snd_una;
	info->snd_nxt = c->snd_nxt;
	info->rcv_nxt = c->rcv_nxt;
	info->snd_wnd = c->snd_wnd;
	info->rcv_wnd = c->rcv_adv - c->rcv_nxt;
	info->unacked = c->snd_max - c->snd_una;
	info->cwnd = c->cwnd;
	info->ssthresh = c->ssthresh;
	info->ca_state = c->ca_state;
	info->send_queued = c->sndq.len;
	info->recv_queued = c->rcvq.len;
	info->error = c->hard_error;
}
