/* stack.c — configuration, the stack's life, memory pools, the output queue,
 * the input dispatch and the timer entry points. */
#include <sodium.h>
#include <stdlib.h>

#include "engine/internal.h"

/* Linux's defaults (net.ipv4.tcp_* sysctls of a 6.x kernel) where synack has
 * the same knob. */
#define DEFAULT_MTU 1500
#define DEFAULT_RMEM 131072          /* tcp_rmem[1] */
#define DEFAULT_RMEM_MAX (15 << 20)  /* 15 MiB: window scale 8 */
#define DEFAULT_WMEM 16384           /* tcp_wmem[1] */
#define DEFAULT_TTL 64
#define DEFAULT_SYN_RETRIES 6
#define DEFAULT_SYNACK_RETRIES 5
#define DEFAULT_RTO_INITIAL_MS 1000  /* RFC 6298 2.1 */
#define DEFAULT_RTO_MIN_MS 200       /* TCP_RTO_MIN */
#define DEFAULT_RTO_MAX_MS 120000    /* TCP_RTO_MAX */
#define DEFAULT_TIMEWAIT_MS 60000    /* TCP_TIMEWAIT_LEN */
#define DEFAULT_FIN_TIMEOUT_MS 60000 /* tcp_fin_timeout */
#define DEFAULT_RETRIES2 15
#define DEFAULT_FRTO 2              /* tcp_frto: F-RTO on (RFC 5682) */
#define DEFAULT_KEEPALIVE_TIME_MS 7200000 /* tcp_keepalive_time: 2 hours */
#define DEFAULT_KEEPALIVE_INTVL_MS 75000
#define DEFAULT_KEEPALIVE_PROBES 9
#define DEFAULT_MAX_SYN_BACKLOG 256
#define DEFAULT_SOMAXCONN 4096
#define DEFAULT_CHALLENGE_LIMIT 1000
#define DEFAULT_INVALID_RATELIMIT_MS 500
#define DEFAULT_OUT_QUEUE 512
#define DEFAULT_EPHEMERAL_LOW 32768  /* ip_local_port_range */
#define DEFAULT_EPHEMERAL_HIGH 60999
#define MIN_MTU_V4 576               /* RFC 791 */
#define MAX_MTU 65535
#define OUT_SLOT_SLACK 64

void synack_config_default(synack_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->version = SYNACK_CONFIG_VERSION;
	cfg->mtu = DEFAULT_MTU;
	cfg->timestamps = cfg->sack = cfg->window_scaling = true;
	cfg->rmem_default = DEFAULT_RMEM;
	cfg->rmem_max = DEFAULT_RMEM_MAX;
	cfg->wmem_default = DEFAULT_WMEM;
	cfg->default_ttl = DEFAULT_TTL;
	cfg->syn_retries = DEFAULT_SYN_RETRIES;
	cfg->synack_retries = DEFAULT_SYNACK_RETRIES;
	cfg->rto_initial_ms = DEFAULT_RTO_INITIAL_MS;
	cfg->rto_min_ms = DEFAULT_RTO_MIN_MS;
	cfg->rto_max_ms = DEFAULT_RTO_MAX_MS;
	cfg->timewait_ms = DEFAULT_TIMEWAIT_MS;
	cfg->fin_timeout_ms = DEFAULT_FIN_TIMEOUT_MS;
	cfg->retries2 = DEFAULT_RETRIES2;
	cfg->tail_loss_probe = true;
	cfg->recovery = SYNACK_RECOVERY_RACK;
	cfg->frto = DEFAULT_FRTO;
	cfg->keepalive_time_ms = DEFAULT_KEEPALIVE_TIME_MS;
	cfg->keepalive_intvl_ms = DEFAULT_KEEPALIVE_INTVL_MS;
	cfg->keepalive_probes = DEFAULT_KEEPALIVE_PROBES;
	cfg->max_syn_backlog = DEFAULT_MAX_SYN_BACKLOG;
	cfg->somaxconn = DEFAULT_SOMAXCONN;
	cfg->syncookies = SYNACK_SYNCOOKIES_AUTO;
	cfg->fastopen = SYNACK_FASTOPEN_CLIENT;
	cfg->ecn = SYNACK_ECN_ACCEPT;
	cfg->challenge_ack_limit = DEFAULT_CHALLENGE_LIMIT;
	cfg->invalid_ratelimit_ms = DEFAULT_INVALID_RATELIMIT_MS;
	cfg->out_queue = DEFAULT_OUT_QUEUE;
	cfg->ephemeral_low = DEFAULT_EPHEMERAL_LOW;
	cfg->ephemeral_high = DEFAULT_EPHEMERAL_HIGH;
}

static void default_random(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	randombytes_buf(buf, len);
}

static void *default_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return malloc(size);
}

static void default_free(void *ctx, void *p)
{
	(void)ctx;
	free(p);
}

void *stack_alloc(synack_stack *s, size_t size) { return s->cfg.alloc(s->cfg.alloc_ctx, size); }

void stack_free_mem(synack_stack *s, void *p)
{
	if (p)
		s->cfg.free(s->cfg.alloc_ctx, p);
}

static int config_check(const synack_config *c)
{
	if (c->version != SYNACK_CONFIG_VERSION || c->mtu < MIN_MTU_V4 || c->rto_min_ms == 0 ||
	    c->rto_initial_ms < c->rto_min_ms || c->rto_max_ms < c->rto_initial_ms ||
	    c->out_queue == 0 || c->ephemeral_low == 0 || c->ephemeral_low > c->ephemeral_high ||
	    c->rmem_default == 0 || c->wmem_default == 0 || c->rmem_max < c->rmem_default ||
	    c->syncookies > SYNACK_SYNCOOKIES_ALWAYS || c->ecn > SYNACK_ECN_ACCEPT)
		return -EINVAL;
	return 0;
}

/* A fresh 128-bit SipHash key from the caller's randomness, expanded. */
static sip_state random_sip_key(const synack_config *c)
{
	uint8_t key[SIP_KEY_BYTES];

	c->random(c->random_ctx, key, sizeof key);
	return sip_init(key);
}

int synack_stack_new(const synack_config *cfg, synack_stack **out)
{
	synack_config c;
	synack_stack *s;

	if (!out)
		return -EINVAL;
	if (cfg)
		c = *cfg;
	else
		synack_config_default(&c);
	if (config_check(&c))
		return -EINVAL;
	if (!c.random) {
		if (sodium_init() < 0)
			return -ENOMEM;
		c.random = default_random;
	}
	if (!c.alloc || !c.free) {
		c.alloc = default_alloc;
		c.free = default_free;
	}
	s = c.alloc(c.alloc_ctx, sizeof *s);
	if (!s)
		return -ENOMEM;
	memset(s, 0, sizeof *s);
	s->cfg = c;
	s->hash_key = random_sip_key(&c);
	s->isn_key = random_sip_key(&c);
	s->port_key = random_sip_key(&c);
	c.random(c.random_ctx, s->cookie_key, sizeof s->cookie_key);
	c.random(c.random_ctx, s->tfo_key, sizeof s->tfo_key);
	s->conn_pool.block_size = sizeof(synack_conn);
	s->req_pool.block_size = sizeof(request);
	s->tw_pool.block_size = sizeof(tw_entry);
	dlist_init(&s->timewait);
	dlist_init(&s->tx_pending);
	/* A power of two, so that ring positions are a mask, not a division. */
	s->out_cap = 1;
	while (s->out_cap < c.out_queue && s->out_cap < (UINT32_MAX >> 1) + 1)
		s->out_cap <<= 1;
	s->out_slot_size = (uint32_t)c.mtu + OUT_SLOT_SLACK;
	s->out = stack_alloc(s, s->out_cap * sizeof *s->out);
	s->out_mem = stack_alloc(s, (size_t)s->out_cap * s->out_slot_size);
	s->scratch = stack_alloc(s, s->out_slot_size);
	if (!s->out || !s->out_mem || !s->scratch || table_init(s, &s->conns) ||
	    table_init(s, &s->tw_table)) {
		synack_stack_free(s);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < s->out_cap; i++)
		s->out[i].data = s->out_mem + (size_t)i * s->out_slot_size;
	*out = s;
	return 0;
}

static void pool_destroy(synack_stack *s, pool *p)
{
	for (size_t i = 0; i < p->chunk_count; i++)
		stack_free_mem(s, p->chunks[i]);
	stack_free_mem(s, p->chunks);
	memset(p, 0, sizeof *p);
}

void synack_stack_free(synack_stack *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < LISTEN_HASH_SIZE; i++) {
		synack_listener *l = s->listeners[i];
		while (l) {
			synack_listener *next = l->hash_next;
			stack_free_mem(s, l);
			l = next;
		}
	}
	/* Buffers hang off live connection blocks (free blocks have s == NULL). */
	for (size_t ci = 0; ci < s->conn_pool.chunk_count; ci++) {
		synack_conn *blk = s->conn_pool.chunks[ci];
		for (size_t j = 0; j < POOL_CHUNK; j++)
			if (blk[j].s == s) {
				ring_release(s, &blk[j].sndq);
				ring_release(s, &blk[j].rcvq);
				rtx_release(&blk[j]);
			}
	}
	table_free(s, &s->conns);
	table_free(s, &s->tw_table);
	pool_destroy(s, &s->conn_pool);
	pool_destroy(s, &s->req_pool);
	pool_destroy(s, &s->tw_pool);
	stack_free_mem(s, s->heap.v);
	stack_free_mem(s, s->out);
	stack_free_mem(s, s->out_mem);
	stack_free_mem(s, s->scratch);
	s->cfg.free(s->cfg.alloc_ctx, s);
}

int synack_stack_add_address(synack_stack *s, const synack_addr *ip)
{
	if (!ip || (ip->family != SYNACK_AF_INET && ip->family != SYNACK_AF_INET6))
		return -EINVAL;
	/* A host's own address is unicast and specified (Linux refuses a
	 * multicast IPv6 address with EINVAL too). */
	if (addr_not_unicast(ip->family, ip->ip) || ip_unspecified(ip->ip, ip->family))
		return -EINVAL;
	for (uint32_t i = 0; i < s->addr_count; i++)
		if (s->addrs[i].family == ip->family && ip_equal(s->addrs[i].ip, ip->ip, ip->family))
			return -EEXIST;
	if (s->addr_count == MAX_LOCAL_ADDRS)
		return -ENOBUFS;
	s->addrs[s->addr_count] = *ip;
	s->addrs[s->addr_count].port = 0;
	s->addr_count++;
	return 0;
}

bool stack_is_local(const synack_stack *s, const uint8_t *ip, uint8_t family)
{
	if (s->addr_count == 0)
		return true;
	for (uint32_t i = 0; i < s->addr_count; i++)
		if (s->addrs[i].family == family && ip_equal(s->addrs[i].ip, ip, family))
			return true;
	return false;
}

const synack_config *synack_stack_config(const synack_stack *s) { return &s->cfg; }
const synack_counters *synack_stack_counters(const synack_stack *s) { return &s->ctr; }
size_t synack_stack_conn_count(const synack_stack *s) { return s->conn_pool.in_use; }

size_t synack_stack_request_count(const synack_stack *s) { return s->req_pool.in_use; }
size_t synack_conn_block_size(void) { return sizeof(synack_conn); }
size_t synack_request_entry_size(void) { return sizeof(request); }

/* ---- pools ---------------------------------------------------------------- */

bool pool_grow(synack_stack *s, pool *p)
{
	uint8_t *chunk;

	if (p->chunk_count == p->chunk_cap) {
		size_t cap = p->chunk_cap ? p->chunk_cap * 2 : 16;
		void **v = stack_alloc(s, cap * sizeof *v);
		if (!v)
			return false;
		if (p->chunk_count)
			memcpy(v, p->chunks, p->chunk_count * sizeof *v);
		stack_free_mem(s, p->chunks);
		p->chunks = v;
		p->chunk_cap = cap;
	}
	chunk = stack_alloc(s, POOL_CHUNK * p->block_size);
	if (!chunk)
		return false;
	memset(chunk, 0, POOL_CHUNK * p->block_size);
	p->chunks[p->chunk_count++] = chunk;
	for (size_t i = POOL_CHUNK; i-- > 0;) {
		void **b = (void **)(chunk + i * p->block_size);
		*b = p->free_list;
		p->free_list = b;
	}
	return true;
}

/* ---- events ---------------------------------------------------------------- */

void stack_emit(synack_stack *s, synack_event_type type, synack_conn *c, synack_listener *l,
                synack_state from, synack_state to, int error)
{
	synack_event ev;

	memset(&ev, 0, sizeof ev);
	ev.type = type;
	ev.time = s->now;
	ev.conn = c;
	ev.listener = l;
	ev.old_state = from;
	ev.new_state = to;
	ev.error = error;
	s->cfg.on_event(s->cfg.event_ctx, &ev);
}

/* ---- the output queue ------------------------------------------------------- */

/* The slot the next packet goes to, or NULL when the queue is full; the
 * packet is queued when out_commit gives its length. */
out_slot *out_reserve(synack_stack *s)
{
	if (s->out_len == s->out_cap) {
		s->ctr.out_dropped++;
		return NULL;
	}
	return &s->out[(s->out_head + s->out_len) & (s->out_cap - 1)];
}

void out_commit(synack_stack *s, out_slot *slot, size_t len)
{
	slot->len = (uint16_t)len;
	s->out_len++;
}

/* Lets connections that stopped for lack of output slots send again. Out of
 * line: it is rare, and inlined it would make every synack_output call save
 * and restore registers for it. */
static __attribute__((noinline, cold)) void flush_pending(synack_stack *s)
{
	while (!dlist_empty(&s->tx_pending) && s->out_len < s->out_cap) {
		synack_conn *c = container_of(s->tx_pending.next, synack_conn, tx_link);
		dlist_del(&c->tx_link);
		c->flags &= (uint16_t)~CF_TX_PENDING;
		conn_output(c);
		if (c->flags & CF_TX_PENDING)
			break;
	}
}

/* Takes the head packet off a non-empty queue; its bytes stay in the slot
 * until a packet is queued again. An empty queue starts again at its first
 * slot, which stays in cache, instead of walking the whole ring. */
static out_slot *out_take(synack_stack *s)
{
	out_slot *slot = &s->out[s->out_head];

	s->out_head = (s->out_head + 1) & (s->out_cap - 1);
	if (--s->out_len == 0)
		s->out_head = 0;
	s->ctr.out_packets++;
	return slot;
}

const uint8_t *synack_output_next(synack_stack *s, size_t *len)
{
	out_slot *slot;

	/* The slot lent by the previous call may be written from here on. */
	if (!dlist_empty(&s->tx_pending))
		flush_pending(s);
	if (s->out_len == 0)
		return NULL;
	slot = out_take(s);
	*len = slot->len;
	return slot->data;
}

ssize_t synack_output(synack_stack *s, uint8_t *buf, size_t cap)
{
	out_slot *slot;

	if (s->out_len == 0)
		return 0;
	slot = &s->out[s->out_head];
	if (slot->len > cap)
		return -EMSGSIZE;
	memcpy(buf, slot->data, slot->len);
	out_take(s);
	if (!dlist_empty(&s->tx_pending))
		flush_pending(s);
	return slot->len;
}

/* ---- input ------------------------------------------------------------------ */

static int count_parse_error(synack_stack *s, wire_err e)
{
	uint64_t *const by_err[WIRE_ERR_COUNT] = {
		[WIRE_ERR_IP_TRUNCATED] = &s->ctr.drop_ip_truncated,
		[WIRE_ERR_IP_VERSION] = &s->ctr.drop_ip_version,
		[WIRE_ERR_IP_HEADER] = &s->ctr.drop_ip_header,
		[WIRE_ERR_IP_LENGTH] = &s->ctr.drop_ip_length,
		[WIRE_ERR_IP_CHECKSUM] = &s->ctr.drop_ip_checksum,
		[WIRE_ERR_IP_FRAGMENT] = &s->ctr.drop_ip_fragment,
		[WIRE_ERR_NOT_TCP] = &s->ctr.drop_not_tcp,
		[WIRE_ERR_TCP_TRUNCATED] = &s->ctr.drop_tcp_truncated,
		[WIRE_ERR_TCP_DOFF_SHORT] = &s->ctr.drop_tcp_doff_short,
		[WIRE_ERR_TCP_DOFF_LONG] = &s->ctr.drop_tcp_doff_long,
		[WIRE_ERR_TCP_OPT_LEN] = &s->ctr.drop_tcp_opt_len,
		[WIRE_ERR_TCP_OPT_BAD] = &s->ctr.drop_tcp_opt_bad,
		[WIRE_ERR_TCP_CHECKSUM] = &s->ctr.drop_tcp_checksum,
	};

	if ((unsigned)e < WIRE_ERR_COUNT && by_err[e])
		(*by_err[e])++;
	return -EBADMSG;
}

/* Multicast (224.0.0.0/4, ff00::/8) or the IPv4 limited broadcast: not an
 * address a TCP connection can have (RFC 1122 4.2.3.10). */
bool addr_not_unicast(uint8_t family, const uint8_t *ip)
{
	const uint8_t mcast_v4 = 0xe0, mcast_v6 = 0xff;

	if (family == SYNACK_AF_INET)
		return (ip[0] & 0xf0) == mcast_v4 || !memcmp(ip, "\xff\xff\xff\xff", 4);
	return ip[0] == mcast_v6;
}

/* Segments from or to such an address, or from or to port 0, are not for
 * TCP: dropped without an answer. */
static bool bad_address(const wire_seg *seg)
{
	return seg->sport == 0 || seg->dport == 0 || addr_not_unicast(seg->family, seg->src) ||
	       addr_not_unicast(seg->family, seg->dst);
}

/* A connection nobody holds that reached TIME-WAIT becomes a compact entry
 * (tw.c), now that the segment that took it there is processed. */
static void timewait_compact(synack_stack *s)
{
	synack_conn *c = s->tw_pending;

	s->tw_pending = NULL;
	if (c && c->state == SYNACK_TIME_WAIT && !(c->flags & CF_USER) && c->rcvq.len == 0)
		tw_from_conn(c);
}

/* Not TCP: perhaps an ICMP error about one of our segments. */
static int icmp_dispatch(synack_stack *s, const uint8_t *pkt, size_t len)
{
	wire_icmp ic;
	wire_err e = wire_parse_icmp(pkt, len, WIRE_PARSE_VERIFY_CSUM, &ic);

	if (e != WIRE_OK)
		return count_parse_error(s, e);
	if (!stack_is_local(s, ic.q_src, ic.family)) {
		s->ctr.drop_not_ours++;
		return -ENOENT;
	}
	return icmp_input(s, &ic);
}

int synack_input(synack_stack *s, const uint8_t *pkt, size_t len, synack_time now)
{
	wire_seg seg;
	wire_err e;
	tuple t;
	tnode *n;
	synack_listener *l;
	uint32_t hash;

	s->now = now;
	s->ctr.in_packets++;
	e = wire_parse(pkt, len, WIRE_PARSE_VERIFY_CSUM, &seg);
	if (e == WIRE_ERR_NOT_TCP)
		return icmp_dispatch(s, pkt, len);
	if (e != WIRE_OK)
		return count_parse_error(s, e);
	tuple_from_seg(&t, &seg);
	n = table_find(s, &t, &hash);
	if (n && n->kind == NODE_REQUEST) {
		request_input(s, container_of(n, request, node), &seg);
		return 0;
	}
	if (n && n->kind == NODE_TIMEWAIT) {
		tw_entry *tw = container_of(n, tw_entry, node);
		uint32_t isn;
		/* RFC 9293 3.10.7.4 and Linux: a new SYN above the old sequence
		 * space (or with a newer timestamp) may reuse the 4-tuple. */
		if ((l = listener_lookup(s, &t)) && tw_reusable(tw, &seg, &isn)) {
			s->ctr.timewait_reused++;
			tw_free(s, tw);
			listen_input(s, l, &seg, &t, hash, &isn);
			return 0;
		}
		tw_input(s, tw, &seg);
		return 0;
	}
	if (n) {
		synack_conn *c = container_of(n, synack_conn, node);
		if (c->state == SYNACK_SYN_SENT)
			syn_sent_input(c, &seg);
		else
			conn_input(c, &seg);
		timewait_compact(s);
		return 0;
	}
	/* A connection's local address is one of ours and its peer's is
	 * unicast: connect and the listeners admit no other. So a segment
	 * some connection claims needs neither test, and they come here, for
	 * the segments that would open one or draw a reset (Linux makes the
	 * second when a SYN arrives). */
	if (!stack_is_local(s, seg.dst, seg.family)) {
		s->ctr.drop_not_ours++;
		return -ENOENT;
	}
	if (bad_address(&seg)) {
		s->ctr.drop_bad_address++;
		return -EINVAL;
	}
	l = listener_lookup(s, &t);
	if (l) {
		listen_input(s, l, &seg, &t, hash, NULL);
		return 0;
	}
	/* RFC 9293 3.10.7.1: CLOSED. An RST is never answered. */
	if (seg.flags & WIRE_RST) {
		s->ctr.drop_no_socket_rst++;
		return -ENOENT;
	}
	send_reset_for(s, &seg, &t);
	return 0;
}

/* ---- timers ----------------------------------------------------------------- */

synack_time synack_deadline(const synack_stack *s) { return timer_next(s); }

void synack_timeout(synack_stack *s, synack_time now)
{
	timer_node *n;

	s->now = now;
	while ((n = timer_pop_due(s, now))) {
		if (n->owner == TIMER_REQUEST)
			request_timeout(s, container_of(n, request, timer));
		else
			conn_timeout(container_of(n, synack_conn, timer));
	}
	while (!dlist_empty(&s->timewait)) {
		tw_entry *tw = container_of(s->timewait.next, tw_entry, link);
		if (tw->expires > now)
			break;
		tw_free(s, tw);
	}
}

void synack_stack_each(synack_stack *s, synack_listener_fn lfn, synack_conn_fn cfn, void *ctx)
{
	for (size_t i = 0; lfn && i < LISTEN_HASH_SIZE; i++)
		for (synack_listener *l = s->listeners[i]; l; l = l->hash_next)
			lfn(ctx, l);
	if (!cfn)
		return;
	for (uint32_t i = 0; i <= s->conns.mask; i++) {
		tnode *n = s->conns.slots[i].node;
		if (n && n->kind == NODE_CONN)
			cfn(ctx, container_of(n, synack_conn, node));
	}
}
