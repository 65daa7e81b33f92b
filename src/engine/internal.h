/*
 * internal.h — the engine's own structures, shared by its modules and no one
 * else. One stack holds everything: there are no globals.
 */
#ifndef SYNACK_ENGINE_INTERNAL_H
#define SYNACK_ENGINE_INTERNAL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/seq.h"
#include "engine/siphash.h"
#include "synack/synack.h"
#include "wire/wire.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* ---- limits and constants, each with its origin ------------------------ */

#define TCP_MAX_WSCALE 14          /* RFC 7323 section 2.3 */
#define TCP_MAX_WINDOW 65535       /* unscaled window field */
#define TCP_MSS_DEFAULT_V4 536     /* RFC 9293 3.7.1: no MSS option, IPv4 */
#define TCP_MSS_DEFAULT_V6 1220    /* RFC 8200 5: 1280 - 40 - 20 */
#define TCP_MIN_MSS 88             /* Linux TCP_MIN_MSS */
#define TCP_TS_OPT_SPACE 12        /* TS option with two NOPs (RFC 7323 appendix A) */
#define TCP_INIT_CWND 10           /* RFC 6928, Linux TCP_INIT_CWND */
#define TCP_ORPHAN_RETRIES 8       /* Linux: tcp_orphan_retries 0 means 8 */
#define TCP_PAWS_24DAYS_MS (24ULL * 24 * 3600 * 1000) /* RFC 7323 5.5 */
#define TCP_RTO_MIN_PROBE_MS 200   /* floor of the persist timer, Linux */
#define TCP_TIMEOUT_MIN_MS 2       /* Linux TCP_TIMEOUT_MIN: 2 jiffies */
#define NS_PER_MS 1000000ULL
#define NS_PER_US 1000ULL
#define ISN_CLOCK_NS 4000ULL       /* RFC 6528 / RFC 793: a 4 microsecond clock */
#define STACK_HASH_MIN 1024        /* initial buckets of the 4-tuple table */
#define LISTEN_HASH_SIZE 64        /* listeners are few: hash by port */
#define POOL_CHUNK 64              /* blocks allocated at once when a pool is empty */
#define MAX_PORT_TRIES 65536       /* bound of the ephemeral port search */
#define SNDBUF_EXPAND 4            /* Linux's tcp_sndbuf_expand grows tcp_wmem[1] ~4x */

/* ---- a 4-tuple, seen from our side ------------------------------------- */

typedef struct tuple {
	uint8_t family;
	uint16_t lport, rport;
	uint8_t laddr[16], raddr[16];
} tuple;

/* A tuple as SipHash input: the addresses in whole words (both IPv4
 * addresses in one, IPv6 in four), then the two ports as a 4-byte tail, so
 * an IPv4 tuple is a 12-byte message (two blocks) and an IPv6 one 36 bytes
 * (five): the lengths keep the families apart. With the word count known
 * the compiler unrolls everything. */
static inline __attribute__((always_inline)) uint64_t
tuple_siphash(const sip_state *key, const tuple *t, unsigned c, unsigned d)
{
	uint64_t w[4];
	uint64_t ports = (uint64_t)t->lport << 16 | t->rport;
	uint32_t l, r;

	if (t->family == SYNACK_AF_INET6) {
		memcpy(w, t->laddr, 2 * sizeof *w);
		memcpy(w + 2, t->raddr, 2 * sizeof *w);
		return siphash_state_tail(key, w, 4, ports, 4, c, d);
	}
	memcpy(&l, t->laddr, sizeof l);
	memcpy(&r, t->raddr, sizeof r);
	w[0] = (uint64_t)l << 32 | r;
	return siphash_state_tail(key, w, 1, ports, 4, c, d);
}

/* Compares two addresses of a family with constant-size memcmp calls, which
 * the compiler inlines (this sits on every packet's path). */
static inline bool ip_equal(const uint8_t *a, const uint8_t *b, uint8_t family)
{
	return family == SYNACK_AF_INET6 ? !memcmp(a, b, 16) : !memcmp(a, b, 4);
}

/* The unspecified address (0.0.0.0 or ::): a wildcard listener's. */
static inline bool ip_unspecified(const uint8_t *ip, uint8_t family)
{
	static const uint8_t zero[16];

	return ip_equal(ip, zero, family);
}

/* Inline: the one-behind cache (table_find) compares a tuple per packet. */
static inline bool tuple_equal(const tuple *a, const tuple *b)
{
	if (a->family != b->family || a->lport != b->lport || a->rport != b->rport)
		return false;
	return ip_equal(a->laddr, b->laddr, a->family) && ip_equal(a->raddr, b->raddr, a->family);
}

/* ---- intrusive doubly linked list -------------------------------------- */

typedef struct dlist {
	struct dlist *prev, *next;
} dlist;

static inline void dlist_init(dlist *h) { h->prev = h->next = h; }
static inline int dlist_empty(const dlist *h) { return h->next == h; }
static inline void dlist_add_tail(dlist *h, dlist *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}
static inline void dlist_del(dlist *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

/* ---- timers: a binary heap, plus a FIFO for TIME-WAIT -------------------- */

enum timer_owner { TIMER_CONN = 1, TIMER_REQUEST };

typedef struct timer_node {
	synack_time at;
	uint32_t index; /* position in the heap, TIMER_IDLE when not armed */
	uint8_t owner;
} timer_node;
#define TIMER_IDLE UINT32_MAX

typedef struct timer_heap {
	timer_node **v;
	uint32_t len, cap;
} timer_heap;

/* ---- the 4-tuple table: connections and SYN-queue requests -------------- */

enum node_kind { NODE_CONN = 1, NODE_REQUEST, NODE_TIMEWAIT };

typedef struct tnode {
	uint32_t hash;
	uint8_t kind;
	tuple t;
} tnode;

typedef struct table_slot {
	uint32_t hash;
	tnode *node; /* NULL: empty, as the slot's tag (0) also says */
} table_slot;

typedef struct table {
	table_slot *slots;
	/* per slot, 0 when empty, else 7 bits of the entry's hash (table.c):
	 * probes read these and touch a slot only on a match, so a miss stays
	 * in one byte array that fits in L2 where the slots would not */
	uint8_t *tags;
	uint32_t mask;
	uint32_t count;
	tnode *last; /* the node last inserted or found (table_find), or NULL */
} table;

/* ---- a fixed-size block pool: no allocation per connection in steady state */

typedef struct pool {
	void *free_list;
	size_t block_size;
	size_t in_use;
	void **chunks;
	size_t chunk_count, chunk_cap;
} pool;

/* ---- byte rings for send and receive buffers (allocated on first use) ---- */

typedef struct ring {
	uint8_t *buf;
	uint32_t cap, head, len; /* bytes [head, head+len) modulo cap */
} ring;

/* ---- listener and request entries --------------------------------------- */

#define SRC_BUCKETS 64 /* per-source half-open counters (shared by hash) */

struct synack_listener {
	synack_stack *s;
	struct synack_listener *hash_next;
	synack_addr addr;
	synack_conn_opts opts;
	uint32_t backlog;   /* min(backlog, somaxconn) */
	uint32_t acceptq_len;
	uint32_t synq_len;
	dlist acceptq;      /* established conns waiting for accept */
	dlist requests;     /* request entries in the SYN queue */
	uint32_t synq_max;  /* SYN queue size */
	uint32_t tfo_pending; /* Fast Open children not yet accepted or established */
	synack_time last_overflow; /* last SYN cookie sent (Linux's tcp_synq_overflow) */
	uint16_t src_count[SRC_BUCKETS]; /* half-open requests per source hash */
};

/* Option bits negotiated for a request or a connection. */
#define NEG_SACK 0x01
#define NEG_TS 0x02
#define NEG_WSCALE 0x04
#define NEG_ECN 0x08

/* A SYN-queue entry: only what is needed to answer the SYN and to build the
 * connection when the final ACK arrives (RFC 9293 SYN-RECEIVED, Linux's
 * request_sock). */
typedef struct request {
	tnode node;
	timer_node timer;
	dlist link; /* in listener->requests */
	synack_listener *lst;
	synack_time syn_time;   /* first SYN, for the handshake duration */
	synack_time synack_time; /* last SYN-ACK sent, for the RTT sample */
	synack_time last_oow;    /* last answer to an out-of-window segment */
	uint32_t iss, irs;
	uint32_t ts_off, ts_recent;
	uint16_t peer_mss, win; /* peer's MSS option (0: none) and SYN window */
	uint8_t neg, snd_wscale, rcv_wscale, retries;
	uint8_t acked; /* final ACK seen but the accept queue was full */
	uint8_t fo;    /* first SYN-ACK carries a Fast Open cookie: FO_KIND34 or FO_EXP */
	uint16_t syn_wnd; /* the SYN-ACK's window once computed, else 0 */
} request;

#define FO_KIND34 1
#define FO_EXP 2

/* ---- the connection block ------------------------------------------------ */

/* A run of sequence space [start, end). */
typedef struct seq_range {
	uint32_t start, end;
} seq_range;

#define OOO_MAX 16   /* out-of-order runs held (each is data in the receive ring) */

/* One transmitted segment still unacknowledged (Linux: an skb in the
 * retransmit queue, one MSS at most, so pcount is 1). */
typedef struct rtx_seg {
	uint32_t start, end;  /* sequence space, a FIN included */
	synack_time sent;     /* last (re)transmission */
	uint8_t state;        /* SEG_* */
	uint8_t tcp_flags;    /* PSH and FIN as first sent, kept for resends */
} rtx_seg;

#define SEG_SACKED 0x01       /* TCPCB_SACKED_ACKED */
#define SEG_LOST 0x02         /* TCPCB_LOST */
#define SEG_RETRANS 0x04      /* TCPCB_SACKED_RETRANS: resent, counted in retrans_out */
#define SEG_EVER_RETRANS 0x08 /* TCPCB_EVER_RETRANS */

/* The segments in flight, oldest first: a ring grown by doubling. */
typedef struct rtx_queue {
	rtx_seg *v;
	uint32_t cap, head, len; /* len is Linux's packets_out */
} rtx_queue;

enum conn_timer {
	CT_NONE = 0,
	CT_RETRANS,  /* RFC 6298 retransmission (SYN, FIN or data) */
	CT_PERSIST,  /* zero-window probe (RFC 9293 3.8.6.1) */
	CT_FINWAIT2, /* orphaned FIN-WAIT-2 (Linux tcp_fin_timeout) */
	CT_TIMEWAIT, /* 2*MSL (Linux: 60 s) for a block the user still holds */
	CT_KEEPALIVE, /* idle connection probe (RFC 1122 4.2.3.6) */
	CT_TLP,       /* tail loss probe (RFC 8985 7), before the RTO */
	CT_REO,       /* RACK reordering timer (RFC 8985 6.2) */
};

/* Connection flags. */
#define CF_USER 0x0001      /* the caller holds the handle */
#define CF_PASSIVE 0x0002   /* came from a listener */
#define CF_ACCEPTQ 0x0004   /* waiting in a listener's accept queue */
#define CF_HASHED 0x0008    /* in the 4-tuple table */
#define CF_SHUT_RD 0x0010
#define CF_FIN_QUEUED 0x0020 /* shutdown(WR)/close: FIN follows the data */
#define CF_FIN_SENT 0x0040
#define CF_FIN_RCVD 0x0080
#define CF_NODELAY 0x0100
#define CF_TX_PENDING 0x0200 /* waiting for room in the output queue */
#define CF_RTT_TIMING 0x0400 /* rtt_seq / rtt_time hold a Karn-valid sample */
#define CF_RETRANSMITTED 0x0800 /* SYN retransmitted: no RTT from it (Karn) */
#define CF_ZERO_WND_ADV 0x1000  /* we advertised a zero window */
#define CF_OOO_FIN 0x2000       /* the peer's FIN arrived beyond a hole */
#define CF_KEEPALIVE 0x4000     /* SO_KEEPALIVE */

struct synack_conn {
	tnode node;
	timer_node timer;
	dlist link;    /* accept queue or TIME-WAIT FIFO */
	dlist tx_link; /* stack->tx_pending */
	synack_stack *s;
	synack_listener *lst; /* while in the accept queue */
	void *user;
	synack_addr local, remote; /* the tuple's, once the API asked (conn.c) */

	uint16_t flags;
	uint8_t state;
	uint8_t neg;           /* NEG_* options in use */
	uint8_t timer_kind;    /* enum conn_timer */
	uint8_t backoff;       /* consecutive RTO expiries */
	int8_t snd_wscale;     /* peer's shift, applied to its windows */
	int8_t rcv_wscale;     /* our shift, applied to our windows */
	int error;             /* pending error for SO_ERROR (negative errno) */
	int hard_error;        /* the connection failed: calls return it */

	/* Send sequence space (RFC 9293 3.3.1). */
	uint32_t iss, snd_una, snd_nxt, snd_max;
	uint32_t snd_wnd, snd_wl1, snd_wl2, max_snd_wnd;
	uint32_t fin_seq;      /* sequence number of our FIN, when queued */
	uint32_t snd_sml;      /* end of the last short segment sent (Minshall) */
	uint32_t cwnd, ssthresh; /* segments (RFC 5681) */

	/* Receive sequence space. */
	uint32_t irs, rcv_nxt, rcv_adv; /* rcv_adv: right edge last advertised */
	uint32_t rcv_wnd_clamp;         /* largest window we advertise */

	uint16_t mss_clamp;    /* peer's MSS (or 536/1220), capped by ours */
	uint16_t snd_mss;      /* payload per segment: mss_clamp less options */
	uint16_t adv_mss;      /* MSS we advertised */
	uint16_t user_mss;     /* TCP_MAXSEG */
	uint16_t peer_mss;     /* the peer's MSS option, 0 when it sent none */

	/* Timestamps (RFC 7323). */
	uint32_t ts_off;       /* our TS val = ms clock + ts_off (per connection) */
	uint32_t ts_recent;
	synack_time ts_recent_at;

	/* RTT (RFC 6298), microseconds. */
	uint32_t srtt_us, rttvar_us, rto_ms;
	uint32_t rtt_seq;
	synack_time rtt_time;
	synack_time retrans_start; /* when the unacknowledged head was first sent, once it timed out */

	synack_time syn_time, established_at;
	uint32_t user_timeout_ms;
	uint8_t syn_retries;

	/* Timers: one heap entry stands for the main timer (timer_kind, main_at)
	 * and the delayed-ACK timer (delack_at), armed at the earlier. */
	synack_time main_at, delack_at;

	/* Receiving (Linux's icsk_ack): delayed ACKs and out-of-order data. */
	uint32_t rcv_wup;       /* RCV.NXT when we last sent an ACK */
	uint16_t rcv_mss;       /* estimate of the peer's segment size */
	uint8_t quick;          /* ACKs still to send at once (quick-ACK mode) */
	uint8_t pingpong;       /* interactive: ACKs wait to ride on data */
	uint32_t ato_ms;        /* delayed-ACK timeout; 0 until the first data */
	synack_time last_rcv;   /* when data last arrived */
	uint32_t ooo_fin_seq;   /* a FIN seen beyond a hole (CF_OOO_FIN) */
	uint8_t ooo_count;
	seq_range ooo[OOO_MAX]; /* data held beyond RCV.NXT, most recent first */

	/* Sending: the retransmit queue and congestion control as Linux runs
	 * them (cc.c, rtx.c): reno, PRR (RFC 6937), RACK-TLP (RFC 8985),
	 * F-RTO (RFC 5682), NewReno (RFC 6582) without SACK. Counts are in
	 * segments, like Linux's packets_out / sacked_out / lost_out. */
	rtx_queue rtx;
	uint32_t sacked_out, lost_out, retrans_out;
	uint32_t lost_total;     /* segments ever marked lost (Linux's tp->lost) */
	uint32_t cwnd_cnt;       /* ACKed segments toward the next cwnd step */
	uint32_t prior_cwnd, prior_ssthresh; /* before the reduction, for undo */
	uint32_t high_seq;       /* SND.NXT when CWR, Recovery or Loss began */
	uint32_t prr_delivered, prr_out; /* RFC 6937 */
	uint32_t max_packets_out, cwnd_usage_seq; /* tcp_cwnd_validate */
	uint32_t tlp_high_seq;   /* SND.NXT when a loss probe went out, 0: none */
	uint32_t rack_end_seq, rack_rtt_us, min_rtt_us;
	synack_time rack_sent;   /* send time of the most recently sent delivered segment */
	uint8_t ca_state;        /* SYNACK_CA_* */
	uint8_t frto;            /* F-RTO in progress (RFC 5682) */
	uint8_t undo_marker;     /* a reduction that may still be undone */
	uint8_t is_cwnd_limited;
	uint8_t tlp_retrans;     /* the probe was a retransmission */
	uint8_t rack_advanced, reord_seen;

	/* Keepalive (SO_KEEPALIVE, TCP_KEEPIDLE/INTVL/CNT). */
	uint32_t ka_idle_ms, ka_intvl_ms;
	uint8_t ka_cnt, ka_probes;
	synack_time last_heard; /* last segment from the peer */
	int soft_error;         /* ICMP error kept for a later timeout (Linux sk_err_soft) */
	uint8_t ecn_flags;      /* ECN_* */
	uint8_t tfo;            /* TFO_* */
	uint16_t tfo_syn_len;   /* data bytes our SYN carried */

	ring sndq; /* bytes from snd_una on (not counting SYN/FIN) */
	ring rcvq; /* received, not yet read */
	uint32_t sndbuf, rcvbuf;
	synack_time last_challenge;

	uint32_t total_retrans, syn_retrans;
	uint64_t bytes_sent, bytes_acked, bytes_received;
};

/* TIME-WAIT once the user let go: what 2 MSL needs, nothing more. */
typedef struct tw_entry {
	tnode node;
	dlist link; /* stack->timewait, oldest first */
	synack_time expires, last_oow;
	uint32_t snd_nxt, rcv_nxt;
	uint32_t ts_recent, ts_off;
	uint16_t win_field; /* the window our ACKs carry */
	uint8_t neg;
	int8_t rcv_wscale;
} tw_entry;

/* ECN state of a connection (conn->ecn_flags), RFC 3168 6.1. */
#define ECN_ECE_PENDING 0x01 /* CE seen: ECE on our segments until a CWR */
#define ECN_CWR_PENDING 0x02 /* we reduced: CWR on our next new data */

/* send_raw: mark the IP header ECT(0) (RFC 3168 5). */
#define TX_ECT 0x100
#define IP_ECN_MASK 0x03
#define IP_ECN_ECT0 0x02
#define IP_ECN_CE 0x03

/* Fast Open state of a connection (conn->tfo). */
#define TFO_CLIENT 0x01  /* connect with data: ask for or use a cookie */
#define TFO_CLIENT_EXP 0x02 /* ... with the experimental option */
#define TFO_CHILD 0x04   /* server: accepted from a Fast Open SYN, counted in tfo_pending */
#define TFO_ANNOUNCED 0x08 /* server: ACCEPTABLE already reported at the SYN */

enum tfo_verdict { TFO_NONE = 0, TFO_REPLY, TFO_ACCEPT };

/* ---- the output queue: fixed slots, filled at build time ---------------- */

typedef struct out_slot {
	uint16_t len;
	uint8_t *data;
} out_slot;

/* ---- the stack ------------------------------------------------------------ */

#define MAX_LOCAL_ADDRS 16
#define TFO_CACHE_SIZE 64 /* servers whose Fast Open cookie the client keeps */

typedef struct tfo_entry {
	uint8_t family, len;
	uint8_t ip[16];
	uint8_t cookie[WIRE_FO_COOKIE_MAX];
	synack_time used;
} tfo_entry;

struct synack_stack {
	synack_config cfg;
	synack_time now;
	synack_counters ctr;

	/* Secret 128-bit keys, kept expanded (siphash.h). */
	sip_state hash_key;     /* 4-tuple table (keyed: hash flooding is an attack) */
	sip_state isn_key;      /* RFC 6528 secret */
	sip_state port_key;     /* RFC 6056 ephemeral port offsets */
	uint8_t cookie_key[16]; /* SYN cookie MAC */
	uint8_t tfo_key[16], tfo_key_backup[16]; /* Fast Open server keys */
	bool tfo_has_backup;
	tfo_entry tfo_cache[TFO_CACHE_SIZE];
	uint32_t port_counter;
	tuple port_dst;         /* the destination port_off was computed for (lport 0) */
	uint32_t port_off;      /* its RFC 6056 offset; port_dst.family 0: none yet */

	table conns;
	table tw_table; /* compact TIME-WAIT entries, apart: the hot table stays small */
	synack_listener *listeners[LISTEN_HASH_SIZE];
	pool conn_pool, req_pool, tw_pool;
	timer_heap heap;
	dlist timewait;         /* tw_entry, oldest first */
	synack_conn *tw_pending; /* entered TIME-WAIT during this input, unheld */
	dlist tx_pending;       /* conns with data waiting for output slots */

	out_slot *out;
	uint8_t *out_mem;
	uint32_t out_cap, out_head, out_len, out_slot_size;
	uint8_t *scratch; /* one segment's payload, gathered from a send ring */

	synack_addr addrs[MAX_LOCAL_ADDRS];
	uint32_t addr_count;

	/* Per-second challenge ACK budget (RFC 5961 section 10, Linux). */
	synack_time challenge_window;
	uint32_t challenge_count;
};

/* ---- module interfaces --------------------------------------------------- */

/* stack.c */
void *stack_alloc(synack_stack *s, size_t size);
void stack_free_mem(synack_stack *s, void *p);
void stack_emit(synack_stack *s, synack_event_type type, synack_conn *c, synack_listener *l,
                synack_state from, synack_state to, int error);

/* Events cost a test when nobody listens: the hook check is inline, the
 * event itself is built out of line. */
static inline void stack_event(synack_stack *s, synack_event_type type, synack_conn *c,
                               synack_listener *l, int error)
{
	if (s->cfg.on_event) {
		synack_state st = c ? (synack_state)c->state : SYNACK_CLOSED;
		stack_emit(s, type, c, l, st, st, error);
	}
}

/* A state change; c is NULL for a SYN-queue request (it has no block). */
static inline void stack_state_event(synack_stack *s, synack_conn *c, synack_listener *l,
                                     synack_state from, synack_state to)
{
	if (s->cfg.on_event)
		stack_emit(s, SYNACK_EV_STATE, c, l, from, to, 0);
}
out_slot *out_reserve(synack_stack *s);
void out_commit(synack_stack *s, out_slot *slot, size_t len);
bool addr_not_unicast(uint8_t family, const uint8_t *ip);
bool stack_is_local(const synack_stack *s, const uint8_t *ip, uint8_t family);

/* pool (stack.c) */
bool pool_grow(synack_stack *s, pool *p);

/* Pools hand out zeroed fixed-size blocks from a free list; inline, as a
 * block is taken and given back on every connection and request. */
static inline void *pool_get(synack_stack *s, pool *p)
{
	void **b;

	if (!p->free_list && !pool_grow(s, p))
		return NULL;
	b = p->free_list;
	p->free_list = *b;
	p->in_use++;
	memset(b, 0, p->block_size);
	return b;
}

/* No clearing here, it costs on every close: callers reset the block's
 * owner pointer (conn->s), which synack_stack_free uses to skip free blocks. */
static inline void pool_put(pool *p, void *block)
{
	void **b = block;

	*b = p->free_list;
	p->free_list = b;
	p->in_use--;
}

/* isn.c */
void isn_for(synack_stack *s, const tuple *t, uint32_t *isn, uint32_t *ts_off);
uint32_t ts_now(const synack_stack *s, uint32_t ts_off);
uint16_t ephemeral_port(synack_stack *s, const tuple *t);

/* table.c */
uint32_t tuple_hash(const synack_stack *s, const tuple *t);
uint32_t tuple_hash_keyed(const sip_state *key, const tuple *t);
int table_init(synack_stack *s, table *tb);
void table_insert(synack_stack *s, table *tb, tnode *n, uint32_t hash);
void table_remove(table *tb, tnode *n);
void table_replace(table *tb, tnode *old, tnode *n);
tnode *table_lookup(const table *tb, const tuple *t, uint32_t hash);
tnode *table_find(synack_stack *s, const tuple *t, uint32_t *hash);
void table_free(synack_stack *s, table *tb);
synack_listener *listener_lookup(const synack_stack *s, const tuple *t);

/* A listener holds this port on some address. Linux's connect() never picks
 * such a port (its bind bucket exists), and a port-0 listen skips them. */
static inline bool port_has_listener(const synack_stack *s, uint16_t port)
{
	for (const synack_listener *l = s->listeners[port % LISTEN_HASH_SIZE]; l; l = l->hash_next)
		if (l->addr.port == port)
			return true;
	return false;
}
void tuple_from_seg(tuple *t, const wire_seg *seg);
void tuple_to_addrs(const tuple *t, synack_addr *local, synack_addr *remote);

/* timer.c */
void timer_arm(synack_stack *s, timer_node *n, synack_time at);
void timer_remove(synack_stack *s, timer_node *n); /* n must be armed */

/* Inline: most cancels find the timer idle (a connection closing, a
 * request promoted), and cost a test. */
static inline void timer_cancel(synack_stack *s, timer_node *n)
{
	if (n->index != TIMER_IDLE)
		timer_remove(s, n);
}
synack_time timer_next(const synack_stack *s);
timer_node *timer_pop_due(synack_stack *s, synack_time now);

/* listen.c */
void listen_input(synack_stack *s, synack_listener *l, const wire_seg *seg, const tuple *t,
                  uint32_t hash, const uint32_t *isn);
void request_input(synack_stack *s, request *r, const wire_seg *seg);
void request_timeout(synack_stack *s, request *r);
void request_free(synack_stack *s, request *r);
void listener_drop_conn(synack_conn *c);
synack_conn *conn_from_request(synack_stack *s, const request *r, uint32_t hash, tnode *in_place_of);
void source_count(synack_listener *l, const tuple *t, int delta);
void conn_space(const synack_stack *s, const synack_conn_opts *o, uint32_t *rcvbuf,
                uint32_t *wnd_space, uint32_t *wscale_space);

/* conn.c */
synack_conn *conn_alloc(synack_stack *s, const tuple *t, uint32_t hash, tnode *in_place_of);
void conn_set_state(synack_conn *c, synack_state st);
void conn_done(synack_conn *c, int err);
void conn_maybe_free(synack_conn *c);
void conn_enter_timewait(synack_conn *c);
void conn_release(synack_conn *c);

/* tw.c */
bool tw_from_conn(synack_conn *c);
void tw_free(synack_stack *s, tw_entry *tw);
void tw_input(synack_stack *s, tw_entry *tw, const wire_seg *seg);
bool tw_reusable(const tw_entry *tw, const wire_seg *seg, uint32_t *isn);
void conn_set_mss(synack_conn *c, uint16_t peer_mss);
void conn_keepalive_opts(synack_conn *c, const synack_conn_opts *o);
uint32_t conn_rcv_window(synack_conn *c);
int ring_reserve(synack_stack *s, ring *r, uint32_t cap);
void ring_push(ring *r, const uint8_t *data, uint32_t len);
void ring_pop(ring *r, uint8_t *out, uint32_t len);
void ring_peek(const ring *r, uint32_t off, uint8_t *out, uint32_t len);
void ring_release(synack_stack *s, ring *r);

/* cookie.c */
uint32_t cookie_isn(synack_stack *s, synack_listener *l, const tuple *t, const wire_seg *seg);
uint32_t cookie_ts_val(uint32_t now_ts, uint8_t neg, uint8_t peer_wscale);
bool cookie_enabled(const synack_stack *s, const synack_listener *l);
bool cookie_check(synack_stack *s, synack_listener *l, const wire_seg *seg, const tuple *t,
                  request *r);

/* fastopen.c */
size_t tfo_option(uint8_t *p, const uint8_t *cookie, uint8_t len, bool exp);
bool tfo_server_on(const synack_stack *s, const synack_listener *l);
uint32_t tfo_qlen(const synack_stack *s, const synack_listener *l);
int tfo_server_check(synack_stack *s, synack_listener *l, const wire_seg *seg, const tuple *t);
size_t tfo_server_option(synack_stack *s, const tuple *t, bool exp, uint8_t *p);
const tfo_entry *tfo_cache_get(synack_stack *s, uint8_t family, const uint8_t *ip);
void tfo_cache_put(synack_stack *s, uint8_t family, const uint8_t *ip, const uint8_t *cookie,
                   uint8_t len);
void tfo_child_done(synack_conn *c);

/* recv.c: receive queue, out-of-order runs, delayed ACKs, SACK blocks */
enum ack_need { ACK_NONE = 0, ACK_SCHEDULE, ACK_NOW };
enum ack_need rcv_text(synack_conn *c, const wire_seg *seg, bool *reset);
void rcv_ack_check(synack_conn *c, enum ack_need need);
void rcv_ack_sent(synack_conn *c);
void rcv_delack_timeout(synack_conn *c);
void rcv_enter_quickack(synack_conn *c);
size_t rcv_sack_option(const synack_conn *c, uint8_t *opt, size_t room);
void rcv_ooo_clear(synack_conn *c);
void ring_write_at(ring *r, uint32_t off, const uint8_t *data, uint32_t len);

/* rtx.c: the retransmit queue and its SACK scoreboard */
static inline rtx_seg *rtx_at(const synack_conn *c, uint32_t i)
{
	return &c->rtx.v[(c->rtx.head + i) & (c->rtx.cap - 1)];
}
static inline uint32_t rtx_seg_data(const rtx_seg *g)
{
	return g->end - g->start - ((g->tcp_flags & WIRE_FIN) ? 1 : 0);
}
/* Linux's tcp_packets_in_flight: packets_out - left_out + retrans_out. */
static inline uint32_t cc_in_flight(const synack_conn *c)
{
	return c->rtx.len - (c->sacked_out + c->lost_out) + c->retrans_out;
}
int rtx_reserve(synack_conn *c);
void rtx_append(synack_conn *c, uint32_t seq, uint32_t seq_len, uint8_t tcp_flags);
void rtx_release(synack_conn *c);
bool rtx_resend(synack_conn *c, uint32_t i, bool joined);
void rtx_mark_lost(synack_conn *c, rtx_seg *g);
synack_time rtx_head_sent(const synack_conn *c);

/* cc.c: congestion control and loss recovery */
void cc_on_ack(synack_conn *c, const wire_seg *seg, uint32_t prior_una, bool window_changed);
void cc_on_rto(synack_conn *c);
void cc_reo_timeout(synack_conn *c);
void cc_simple_retransmit(synack_conn *c);
bool cc_in_cwnd_reduction(const synack_conn *c);
void cc_cwnd_validate(synack_conn *c, bool cwnd_limited);

/* icmp.c */
int icmp_input(synack_stack *s, const wire_icmp *ic);

/* input.c */
void conn_input(synack_conn *c, const wire_seg *seg);
void syn_sent_input(synack_conn *c, const wire_seg *seg);
void conn_rtt_sample(synack_conn *c, uint32_t rtt_us);

/* output.c */
uint16_t mss_for_mtu(const synack_stack *s, uint8_t family);
uint8_t wscale_for(uint32_t space);
uint16_t syn_window(uint32_t space, uint16_t mss);
size_t syn_options(uint8_t *p, uint8_t neg, uint16_t mss, uint8_t wscale, uint32_t ts_val,
                   uint32_t ts_ecr);
void send_raw(synack_stack *s, const tuple *t, uint32_t seq, uint32_t ack, unsigned flags,
              uint16_t win, const uint8_t *opt, size_t opt_len, const uint8_t *data, uint32_t len);
void send_reset_for(synack_stack *s, const wire_seg *seg, const tuple *t);
void conn_send_syn(synack_conn *c);
void conn_send_ack(synack_conn *c);
void conn_send_rst(synack_conn *c);
void conn_challenge_ack(synack_conn *c);
void conn_dupack(synack_conn *c, const wire_seg *seg);
void conn_output(synack_conn *c);
void conn_timeout(synack_conn *c);
void conn_arm_timer(synack_conn *c);
void conn_timer_set(synack_conn *c, uint8_t kind, synack_time at);
void conn_timer_sync(synack_conn *c);
void conn_xmit(synack_conn *c, uint32_t seq, uint8_t flags, uint32_t len);
void conn_rearm_rto(synack_conn *c);
void conn_arm_loss_timer(synack_conn *c);

/* Time in ms on the stack's clock. */
static inline uint64_t stack_ms(const synack_stack *s) { return s->now / NS_PER_MS; }

#endif /* SYNACK_ENGINE_INTERNAL_H */
