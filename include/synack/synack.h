/*
 * synack.h — the public interface of libsynack, a sans-IO TCP engine.
 *
 * A stack is one host's TCP. It never reads a clock, sleeps, allocates per
 * segment or does I/O: the caller feeds it IP packets with the current
 * monotonic time in nanoseconds, pulls the packets it wants sent, asks for its
 * next deadline and calls synack_timeout() when that deadline passes.
 * Randomness and memory come from caller hooks (libsodium and malloc by
 * default). Many stacks can live in one process. There are no locks: a stack
 * and everything in it (listeners, connections, even the read-only
 * accessors, which may fill caches) belong to one thread at a time, while
 * different stacks share nothing and may run on different threads.
 *
 *     synack_config cfg;
 *     synack_config_default(&cfg);
 *     synack_stack *s;
 *     synack_stack_new(&cfg, &s);
 *     synack_connect(s, NULL, &remote, NULL, now, &c);
 *     for (;;) {
 *         while ((n = synack_output(s, buf, sizeof buf)) > 0) send_to_wire(buf, n);
 *         wait_for_packet_or(synack_deadline(s));
 *         if (got_packet) synack_input(s, pkt, len, now);
 *         if (now >= synack_deadline(s)) synack_timeout(s, now);
 *     }
 *
 * Errors are negative errno values (-ECONNREFUSED, -ETIMEDOUT, ...), the
 * names socket users already know.
 */
#ifndef SYNACK_SYNACK_H
#define SYNACK_SYNACK_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden symbols: only what this header declares
 * is exported, and calls inside the library bind directly (no PLT, and the
 * compiler may inline them). */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define SYNACK_VERSION_STRING "0.1.0"

/* Time in nanoseconds on the caller's monotonic clock. */
typedef uint64_t synack_time;
#define SYNACK_TIME_NEVER UINT64_MAX
#define SYNACK_MS ((synack_time)1000000)
#define SYNACK_SEC ((synack_time)1000000000)

typedef struct synack_stack synack_stack;
typedef struct synack_conn synack_conn;
typedef struct synack_listener synack_listener;

/* ------------------------------------------------------------------------ */
/* Addresses                                                                 */

#define SYNACK_AF_INET 4
#define SYNACK_AF_INET6 6

/* An IP address and a TCP port (host byte order). */
typedef struct synack_addr {
	uint8_t family; /* SYNACK_AF_INET or SYNACK_AF_INET6 */
	uint8_t ip[16]; /* IPv4 uses the first 4 bytes, network order */
	uint16_t port;
} synack_addr;

/* Parses "198.18.0.1:80", "198.18.0.1", "[fd00::1]:80" or "fd00::1".
 * A missing port leaves port 0. Returns 0 or -EINVAL. */
int synack_addr_parse(const char *text, synack_addr *out);

/* Writes "198.18.0.1:80" or "[fd00::1]:80" (just the address when
 * with_port is false). Returns the length written, as snprintf does. */
int synack_addr_format(const synack_addr *a, bool with_port, char *buf, size_t cap);

/* True when the addresses (and ports, when ports is true) are equal. */
bool synack_addr_equal(const synack_addr *a, const synack_addr *b, bool ports);

/* True for a multicast address or IPv4's limited broadcast: a group of
 * hosts, never a TCP endpoint (connect and listen refuse them). */
bool synack_addr_is_group(const synack_addr *a);

/* ------------------------------------------------------------------------ */
/* States and events                                                         */

/* RFC 9293 section 3.3.2, in Linux's numbering order where it has one. */
typedef enum synack_state {
	SYNACK_CLOSED = 0,
	SYNACK_LISTEN,
	SYNACK_SYN_SENT,
	SYNACK_SYN_RECEIVED,
	SYNACK_ESTABLISHED,
	SYNACK_FIN_WAIT_1,
	SYNACK_FIN_WAIT_2,
	SYNACK_CLOSE_WAIT,
	SYNACK_CLOSING,
	SYNACK_LAST_ACK,
	SYNACK_TIME_WAIT,
	SYNACK_STATE_COUNT
} synack_state;

/* "SYN-SENT", "ESTABLISHED", ... as RFC 9293 spells them. */
const char *synack_state_name(synack_state s);
/* "SYN-SENT", "ESTAB", "TIME-WAIT", ... as `ss -tan` spells them. */
const char *synack_state_ss_name(synack_state s);

typedef enum synack_event_type {
	SYNACK_EV_STATE = 1,  /* conn moved from old_state to new_state */
	SYNACK_EV_ACCEPTABLE, /* listener has a connection to accept */
	SYNACK_EV_READABLE,   /* conn has data or EOF to read */
	SYNACK_EV_WRITABLE,   /* conn has room in its send buffer again */
	SYNACK_EV_ERROR,      /* conn failed with error (negative errno) */
	SYNACK_EV_FREED,      /* conn's block went back to the pool */
} synack_event_type;

typedef struct synack_event {
	synack_event_type type;
	synack_time time;
	synack_conn *conn;         /* NULL for listener events */
	synack_listener *listener; /* set for ACCEPTABLE and for accepted conns */
	synack_state old_state, new_state;
	int error; /* negative errno for SYNACK_EV_ERROR */
} synack_event;

typedef void (*synack_event_fn)(void *ctx, const synack_event *ev);

/* ------------------------------------------------------------------------ */
/* Counters: every drop has its own reason.                                  */

#define SYNACK_COUNTERS(X)                                                     \
	X(in_packets, "packets given to synack_input")                         \
	X(out_packets, "packets taken by synack_output")                       \
	X(out_dropped, "packets lost because the output queue was full")      \
	X(drop_ip_truncated, "IP header truncated")                            \
	X(drop_ip_version, "not IPv4 or IPv6")                                 \
	X(drop_ip_header, "bad IPv4 header length")                            \
	X(drop_ip_length, "IP length disagrees with the packet")              \
	X(drop_ip_checksum, "bad IPv4 header checksum")                        \
	X(drop_ip_fragment, "IP fragment")                                     \
	X(drop_not_tcp, "not TCP")                                             \
	X(drop_not_ours, "destination is not one of our addresses")           \
	X(drop_tcp_truncated, "TCP header truncated")                          \
	X(drop_tcp_doff_short, "TCP data offset below 5")                      \
	X(drop_tcp_doff_long, "TCP data offset past the packet")              \
	X(drop_tcp_opt_len, "TCP option length 0, 1 or overrunning")          \
	X(drop_tcp_opt_bad, "TCP option with a wrong fixed length")           \
	X(drop_tcp_checksum, "bad TCP checksum")                               \
	X(drop_bad_address, "broadcast, multicast or port-0 segment")         \
	X(drop_no_socket_rst, "RST for no connection (never answered)")       \
	X(drop_listen_rst, "RST to a listener")                                \
	X(drop_listen_synfin, "SYN+FIN to a listener")                         \
	X(drop_listen_other, "segment without SYN or ACK to a listener")      \
	X(drop_synq_full, "SYN dropped: SYN queue full")                       \
	X(drop_syn_per_source, "SYN over the per-source half-open limit")     \
	X(syncookies_sent, "SYN-ACKs carrying a SYN cookie")                   \
	X(syncookies_recv, "valid SYN cookies returned: connections built")  \
	X(syncookies_failed, "ACKs with a forged or stale SYN cookie")       \
	X(tfo_cookie_requests, "Fast Open cookie requests answered")          \
	X(tfo_accepted, "Fast Open SYNs with a valid cookie accepted")        \
	X(tfo_failed, "Fast Open SYNs with an invalid cookie")                \
	X(tfo_queue_full, "Fast Open SYNs refused: pending queue full")       \
	X(tfo_syn_data_sent, "SYNs sent with data")                            \
	X(tfo_syn_data_acked, "SYN data acknowledged by the SYN-ACK")         \
	X(defer_accept_drops, "bare final ACKs held back by defer-accept")    \
	X(drop_acceptq_full, "final ACK dropped: accept queue full")           \
	X(drop_out_of_window, "segment outside the receive window")           \
	X(drop_paws, "segment rejected by PAWS (RFC 7323)")                   \
	X(drop_rst_out_of_window, "RST outside the window (RFC 5961)")        \
	X(drop_rst_timewait, "RST ignored in TIME-WAIT (RFC 1337)")           \
	X(drop_ack_unacceptable, "ACK for data not yet sent")                  \
	X(drop_ack_old, "ACK below the acceptable range (RFC 5961)")          \
	X(drop_syn_sent_other, "segment without SYN or RST in SYN-SENT")      \
	X(drop_rcvbuf_full, "data beyond the receive buffer")                 \
	X(drop_ooo_full, "out-of-order run forgotten: too many holes")        \
	X(ooo_segments, "segments queued out of order")                        \
	X(fast_retransmits, "segments resent on duplicate ACKs (RFC 5681 3.2)") \
	X(icmp_errors, "ICMP errors applied to a connection")                  \
	X(drop_icmp_unmatched, "ICMP quoting no segment in flight (RFC 5927)") \
	X(keepalive_probes, "keepalive probes sent")                           \
	X(tail_loss_probes, "tail loss probes sent (RFC 8985 7)")             \
	X(ecn_ce_received, "data segments marked CE (RFC 3168)")               \
	X(ecn_reductions, "window reductions for ECN-Echo")                   \
	X(drop_no_memory, "no connection or request block available")         \
	X(rst_sent, "RST segments sent")                                       \
	X(challenge_acks, "challenge ACKs sent (RFC 5961)")                    \
	X(challenge_acks_limited, "challenge ACKs suppressed by the limit")   \
	X(dupacks_sent, "duplicate ACKs sent for out-of-window segments")     \
	X(retransmits, "data and FIN segments retransmitted (not SYNs)")      \
	X(syn_retransmits, "SYN retransmissions")                              \
	X(synack_retransmits, "SYN-ACK retransmissions")                       \
	X(requests_expired, "requests dropped after synack_retries")           \
	X(requests_reset, "requests removed by RST")                           \
	X(active_opens, "connections opened by connect")                       \
	X(passive_opens, "connections accepted from a listener")               \
	X(resets_received, "connections reset by the peer")                    \
	X(timeouts, "connections that timed out")                              \
	X(timewait_entered, "connections that entered TIME-WAIT")              \
	X(timewait_reused, "TIME-WAIT connections recycled by a new SYN")

typedef struct synack_counters {
#define SYNACK_COUNTER_FIELD(name, text) uint64_t name;
	SYNACK_COUNTERS(SYNACK_COUNTER_FIELD)
#undef SYNACK_COUNTER_FIELD
} synack_counters;

/* The i-th counter's name and description; false past the last. */
bool synack_counter_describe(size_t i, const char **name, const char **text);
/* The i-th counter's value in c, in the order of SYNACK_COUNTERS. */
uint64_t synack_counter_value(const synack_counters *c, size_t i);

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */

#define SYNACK_CONFIG_VERSION 1

typedef struct synack_config {
	uint32_t version; /* SYNACK_CONFIG_VERSION, set by synack_config_default */

	/* Link and options. */
	uint16_t mtu;            /* 1500: MSS 1460 for IPv4, 1440 for IPv6 */
	bool timestamps;         /* RFC 7323 timestamps (net.ipv4.tcp_timestamps=1) */
	bool sack;               /* RFC 2018 SACK-permitted (tcp_sack=1) */
	bool window_scaling;     /* RFC 7323 window scale (tcp_window_scaling=1) */
	uint32_t rmem_default;   /* receive buffer per connection: 131072 (tcp_rmem[1]) */
	uint32_t rmem_max;       /* largest receive buffer: 15 MiB, wscale 8 (tcp_rmem[2]) */
	uint32_t wmem_default;   /* send buffer per connection: 16384 (tcp_wmem[1]) */
	uint8_t default_ttl;     /* 64 (net.ipv4.ip_default_ttl) */

	/* Handshake and timers (Linux defaults). */
	uint8_t syn_retries;       /* 6 (tcp_syn_retries) */
	uint8_t synack_retries;    /* 5 (tcp_synack_retries) */
	uint32_t rto_initial_ms;   /* 1000 (RFC 6298 section 2.1) */
	uint32_t rto_min_ms;       /* 200 (Linux TCP_RTO_MIN) */
	uint32_t rto_max_ms;       /* 120000 (Linux TCP_RTO_MAX) */
	uint32_t timewait_ms;      /* 60000 (Linux TCP_TIMEWAIT_LEN) */
	uint32_t fin_timeout_ms;   /* 60000 (tcp_fin_timeout), orphaned FIN-WAIT-2 */
	uint32_t user_timeout_ms;  /* 0: none (TCP_USER_TIMEOUT) */
	uint8_t retries2;          /* 15 (tcp_retries2): data retransmissions */
	uint32_t keepalive_time_ms;  /* 7200000 (tcp_keepalive_time): idle before probes */
	uint32_t keepalive_intvl_ms; /* 75000 (tcp_keepalive_intvl) */
	uint8_t keepalive_probes;    /* 9 (tcp_keepalive_probes) */
	uint8_t orphan_retries;    /* 0 means 8, as in Linux (tcp_orphan_retries) */
	bool tail_loss_probe;      /* RFC 8985 7 probes with SACK: on (tcp_early_retrans=3) */
	/* Loss detection, as Linux's tcp_recovery: SYNACK_RECOVERY_RACK (1, the
	 * default: RFC 8985 time-based detection with a reordering window) or
	 * SYNACK_RECOVERY_DUPTHRESH (0: RFC 6675 IsLost, three duplicate ACKs
	 * or three segments SACKed above a hole). */
	uint8_t recovery;
	/* F-RTO (RFC 5682), as Linux's tcp_frto: 2 (on; 1 behaves the same),
	 * 0 off. After a timeout, new data tells a spurious timeout from a
	 * real loss, and a spurious one gives the window back. */
	uint8_t frto;

	/* Listening. */
	uint32_t max_syn_backlog;  /* SYN queue per listener: 256 (tcp_max_syn_backlog) */
	uint32_t somaxconn;        /* backlog cap: 4096 (net.core.somaxconn) */
	uint8_t syncookies;        /* SYNACK_SYNCOOKIES_AUTO (tcp_syncookies=1) */
	uint16_t max_syn_per_source; /* half-open requests per source address; 0: no limit */
	uint16_t fastopen;         /* SYNACK_FASTOPEN_* bits, as tcp_fastopen: 1 (client) */
	uint8_t ecn;               /* SYNACK_ECN_*, as tcp_ecn: 2 (accept when asked) */

	/* RFC 5961 limits. */
	uint32_t challenge_ack_limit;  /* per stack per second, randomised in [L/2, 3L/2): 1000 */
	uint32_t invalid_ratelimit_ms; /* per connection: 500 (tcp_invalid_ratelimit) */
	bool rfc1337;                  /* TIME-WAIT ignores RSTs: off, as Linux (tcp_rfc1337) */

	/* Resources. */
	uint32_t max_connections; /* 0: no limit besides memory */
	uint32_t out_queue;       /* packets waiting for synack_output: 512 (rounded up to a power of two) */
	uint16_t ephemeral_low, ephemeral_high; /* 32768..60999 (ip_local_port_range) */

	/* Caller hooks. NULL means the default: libsodium's randombytes_buf,
	 * malloc/free, no events. */
	void (*random)(void *ctx, void *buf, size_t len);
	void *random_ctx;
	void *(*alloc)(void *ctx, size_t size);
	void (*free)(void *ctx, void *ptr);
	void *alloc_ctx;
	synack_event_fn on_event;
	void *event_ctx;
} synack_config;

/* synack_config.recovery: Linux's tcp_recovery values. */
#define SYNACK_RECOVERY_DUPTHRESH 0
#define SYNACK_RECOVERY_RACK 1

/* SYN cookies (RFC 4987 3.6), as Linux's tcp_syncookies 0, 1 and 2. */
#define SYNACK_SYNCOOKIES_NEVER 0
#define SYNACK_SYNCOOKIES_AUTO 1   /* only when a SYN queue is full */
#define SYNACK_SYNCOOKIES_ALWAYS 2

/* Explicit Congestion Notification (RFC 3168), as Linux's tcp_ecn. */
#define SYNACK_ECN_OFF 0
#define SYNACK_ECN_ON 1     /* ask for it in our SYNs, accept it in others' */
#define SYNACK_ECN_ACCEPT 2 /* accept it when a SYN asks (Linux's default) */

/* TCP Fast Open (RFC 7413), Linux's tcp_fastopen bits. A listener also
 * needs synack_conn_opts.fastopen_qlen (the TCP_FASTOPEN socket option). */
#define SYNACK_FASTOPEN_CLIENT 0x1
#define SYNACK_FASTOPEN_SERVER 0x2
#define SYNACK_FASTOPEN_NO_COOKIE 0x200 /* server takes SYN data without a cookie */
#define SYNACK_FASTOPEN_ANY_LISTENER 0x400 /* every listener, queue = backlog */

/* Fills cfg with Linux's defaults (above). Always call it first. */
void synack_config_default(synack_config *cfg);

/* Per-connection options, like the socket options set before connect or
 * listen. Zero means "the stack's default". */
typedef struct synack_conn_opts {
	uint32_t rcvbuf;          /* SO_RCVBUF as the user gave it */
	uint32_t sndbuf;          /* SO_SNDBUF */
	uint16_t maxseg;          /* TCP_MAXSEG: clamp our MSS */
	bool nodelay;             /* TCP_NODELAY */
	uint32_t user_timeout_ms; /* TCP_USER_TIMEOUT */
	uint8_t syn_retries;      /* TCP_SYNCNT */
	bool reuseaddr;           /* SO_REUSEADDR */
	bool keepalive;           /* SO_KEEPALIVE */
	uint32_t keepidle_ms;     /* TCP_KEEPIDLE */
	uint32_t keepintvl_ms;    /* TCP_KEEPINTVL */
	uint8_t keepcnt;          /* TCP_KEEPCNT */
	uint32_t synq;            /* listener: SYN queue size (0: the backlog, as Linux) */
	uint32_t fastopen_qlen;   /* listener: TCP_FASTOPEN, pending Fast Open connections */
	bool fastopen_exp;        /* client: use the experimental option (kind 254) */
	uint32_t defer_accept_ms; /* listener: TCP_DEFER_ACCEPT */
} synack_conn_opts;

/* ------------------------------------------------------------------------ */
/* The stack                                                                 */

/* Creates a stack. Returns 0, -EINVAL for a bad config or -ENOMEM. */
int synack_stack_new(const synack_config *cfg, synack_stack **out);

/* Frees the stack and every connection and listener in it. */
void synack_stack_free(synack_stack *s);

/* Adds a local address: segments to other addresses are dropped and
 * counted. With no address added the stack takes every destination.
 * Returns 0, -EINVAL for a multicast, broadcast or unspecified address,
 * -EEXIST when the stack has it already, -ENOBUFS past 16 addresses. */
int synack_stack_add_address(synack_stack *s, const synack_addr *ip);

/* The stack's configuration (read-only; set at synack_stack_new). */
const synack_config *synack_stack_config(const synack_stack *s);

/* Feeds one IP packet (IPv4 or IPv6, no link header) received at `now`.
 * Returns 0 when the packet was taken by a connection, a listener or
 * answered with a reset, or a negative errno when it was dropped (the drop's
 * reason is counted). The packet is not kept after the call. */
int synack_input(synack_stack *s, const uint8_t *pkt, size_t len, synack_time now);

/* Copies the next packet to send into buf. Returns its length, 0 when
 * nothing is queued, or -EMSGSIZE when buf is too small (the packet stays). */
ssize_t synack_output(synack_stack *s, uint8_t *buf, size_t cap);

/* Takes the next packet to send without copying it: returns a pointer to
 * it and sets *len, or returns NULL when nothing is queued. The bytes stay
 * valid until the next call of any synack_* function on this stack
 * (including synack_output_next itself), so use or copy them before. */
const uint8_t *synack_output_next(synack_stack *s, size_t *len);

/* The earliest time at which synack_timeout must be called, or
 * SYNACK_TIME_NEVER. */
synack_time synack_deadline(const synack_stack *s);

/* Runs every timer due at or before `now`. */
void synack_timeout(synack_stack *s, synack_time now);

/* Drop reasons and events since the stack was created. */
const synack_counters *synack_stack_counters(const synack_stack *s);

/* Connection blocks, SYN-queue request entries and compact TIME-WAIT
 * entries in use. A connection the user closed becomes a TIME-WAIT entry
 * when it reaches TIME-WAIT; one still held stays a block. */
size_t synack_stack_conn_count(const synack_stack *s);
size_t synack_stack_request_count(const synack_stack *s);
size_t synack_stack_timewait_count(const synack_stack *s);

/* Sizes in bytes of one connection block, one request entry and one
 * TIME-WAIT entry. */
size_t synack_conn_block_size(void);
size_t synack_request_entry_size(void);
size_t synack_timewait_entry_size(void);

/* Calls fn for each compact TIME-WAIT entry, oldest first, with the time
 * left (for `ss`). */
typedef void (*synack_timewait_fn)(void *ctx, const synack_addr *local, const synack_addr *remote,
                                   synack_time left);
void synack_stack_each_timewait(synack_stack *s, synack_timewait_fn fn, void *ctx);

/* Calls fn for each connection and listener in the stack (for `ss`). */
typedef void (*synack_conn_fn)(void *ctx, synack_conn *c);
typedef void (*synack_listener_fn)(void *ctx, synack_listener *l);
void synack_stack_each(synack_stack *s, synack_listener_fn lfn, synack_conn_fn cfn, void *ctx);

/* ------------------------------------------------------------------------ */
/* Opening connections                                                       */

/* Starts an active open (RFC 9293 section 3.10.1): sends a SYN and returns
 * the new connection in *out, in SYN-SENT. local may be NULL, or have an
 * unspecified address or port 0: the stack picks them. Returns 0, -EINVAL,
 * -EADDRINUSE (the 4-tuple is taken), -EADDRNOTAVAIL (no free port, or a
 * local address that is not one of the stack's),
 * -ENETUNREACH (a multicast or broadcast address, as Linux answers) or
 * -ENOBUFS. The outcome arrives as events or through synack_conn_poll. */
int synack_connect(synack_stack *s, const synack_addr *local, const synack_addr *remote,
                   const synack_conn_opts *opts, synack_time now, synack_conn **out);

/* Active open with data, like sendto(MSG_FASTOPEN) (RFC 7413): when a Fast
 * Open cookie for the server is cached (and the stack's fastopen has the
 * client bit) the SYN carries the cookie and the first segment of data;
 * otherwise it asks for a cookie and the data follows the handshake.
 * Returns the bytes queued (at most the send buffer), or the errors of
 * synack_connect. */
ssize_t synack_connect_data(synack_stack *s, const synack_addr *local, const synack_addr *remote,
                            const synack_conn_opts *opts, const void *data, size_t len,
                            synack_time now, synack_conn **out);

/* True when a Fast Open cookie for remote's address is cached. */
bool synack_stack_fastopen_cached(synack_stack *s, const synack_addr *remote);

/* Sets the Fast Open server key (16 bytes) and an optional backup key for
 * rotation: cookies made with either are accepted, new ones use the
 * primary. A stack starts with a random primary key. */
void synack_stack_set_fastopen_keys(synack_stack *s, const uint8_t primary[16],
                                    const uint8_t *backup);

/* Opens a listener on local (an unspecified address listens on all).
 * Port 0 takes an ephemeral port no other listener holds, as listen() on an
 * unbound socket does; synack_listener_addr() tells which (-EAGAIN when none
 * is free). backlog bounds the accept queue (capped by somaxconn; Linux
 * allows backlog+1 entries). Returns 0, -EADDRINUSE, -ENOBUFS, or
 * -EADDRNOTAVAIL for a multicast or broadcast address or one the stack does
 * not have (when it has any: synack_stack_add_address). */
int synack_listen(synack_stack *s, const synack_addr *local, int backlog,
                  const synack_conn_opts *opts, synack_listener **out);

/* Takes the oldest established connection from the accept queue.
 * Returns 0, or -EAGAIN when none is ready. */
int synack_accept(synack_listener *l, synack_conn **out);

/* Closes a listener: pending requests are dropped and connections never
 * accepted are reset, as Linux does. The handle is invalid afterwards. */
void synack_listener_close(synack_listener *l, synack_time now);

/* Connections waiting in the accept queue and the backlog (for ss). */
uint32_t synack_listener_queued(const synack_listener *l);
uint32_t synack_listener_backlog(const synack_listener *l);
uint32_t synack_listener_pending(const synack_listener *l); /* SYN queue */
const synack_addr *synack_listener_addr(const synack_listener *l);

/* ------------------------------------------------------------------------ */
/* Data and closing                                                          */

/* Queues up to len bytes. Returns the count taken, -EAGAIN when the send
 * buffer is full or the handshake has not finished (as a non-blocking
 * socket does; call again after WRITABLE), -EPIPE after shutdown(WR) or once
 * closed, or the connection's pending error (then cleared). Buffers are
 * allocated on first use and kept for the connection's life. */
ssize_t synack_send(synack_conn *c, const void *buf, size_t len, synack_time now);

/* Reads up to len bytes. Returns the count, 0 at end of stream, -EAGAIN
 * when nothing is there yet, or the connection's error. */
ssize_t synack_recv(synack_conn *c, void *buf, size_t len, synack_time now);

#define SYNACK_SHUT_RD 1
#define SYNACK_SHUT_WR 2
#define SYNACK_SHUT_RDWR 3

/* Half-close (RFC 9293 section 3.6): SHUT_WR sends a FIN after queued data;
 * SHUT_RD discards further data. Returns 0 or -ENOTCONN. */
int synack_shutdown(synack_conn *c, int how, synack_time now);

/* Releases the handle and closes like close(2): a FIN after the queued
 * data, or an RST when received data was left unread (as Linux does). In
 * SYN-SENT nothing is sent. The stack keeps the block through FIN-WAIT and
 * TIME-WAIT and frees it itself. */
void synack_close(synack_conn *c, synack_time now);

/* Releases the handle and resets the connection (SO_LINGER 0). */
void synack_abort(synack_conn *c, synack_time now);

#define SYNACK_POLLIN 0x001
#define SYNACK_POLLOUT 0x004
#define SYNACK_POLLERR 0x008
#define SYNACK_POLLHUP 0x010
#define SYNACK_POLLRDHUP 0x2000

/* Readiness as poll(2) would report it for a socket. */
unsigned synack_conn_poll(const synack_conn *c);

/* The pending error (negative errno) or 0, and clears it, like SO_ERROR. */
int synack_conn_take_error(synack_conn *c);

/* The connection's RFC 9293 state (synack_state_name() spells it). */
synack_state synack_conn_state(const synack_conn *c);

/* The connection's local and remote address and port, like getsockname()
 * and getpeername(). The pointers stay valid while the connection does. */
const synack_addr *synack_conn_local(const synack_conn *c);
const synack_addr *synack_conn_remote(const synack_conn *c);

/* Bytes received and not yet read; bytes queued and not yet acknowledged. */
uint32_t synack_conn_recv_queued(const synack_conn *c);
uint32_t synack_conn_send_queued(const synack_conn *c);

/* A pointer of the caller's, kept with the connection. */
void synack_conn_set_user(synack_conn *c, void *user);
void *synack_conn_user(const synack_conn *c);

/* TCP_NODELAY on an open connection: queued small segments go at once. */
void synack_conn_set_nodelay(synack_conn *c, bool on);

/* SO_KEEPALIVE with TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT (zero means
 * the stack's default): after idle_ms without a segment from the peer,
 * probes every intvl_ms; after count unanswered probes the connection is
 * reset and fails with -ETIMEDOUT (RFC 1122 4.2.3.6). */
void synack_conn_set_keepalive(synack_conn *c, bool on, uint32_t idle_ms, uint32_t intvl_ms,
                               uint8_t count);

/* What Linux's tcp_info reports, for one connection. */
typedef struct synack_info {
	synack_state state;
	synack_addr local, remote;
	uint32_t isn_local, isn_remote;
	uint16_t snd_mss;    /* effective MSS we send with (TS accounted) */
	uint16_t rcv_mss;    /* MSS we advertised */
	uint16_t peer_mss;   /* MSS the peer advertised (0: none) */
	int8_t snd_wscale;   /* peer's shift, -1 when scaling is off */
	int8_t rcv_wscale;   /* our shift, -1 when scaling is off */
	bool sack;
	bool timestamps;
	bool ecn;            /* RFC 3168 negotiated */
	bool passive;        /* accepted from a listener */
	uint32_t rtt_us, rttvar_us, rto_us;
	uint32_t backoff;        /* current consecutive retransmissions */
	uint32_t total_retrans;  /* segments retransmitted in all */
	uint32_t syn_retrans;    /* SYN or SYN-ACK retransmissions */
	synack_time handshake_ns; /* first SYN to ESTABLISHED, 0 until then */
	uint64_t bytes_sent;     /* payload bytes sent, retransmissions included */
	uint64_t bytes_acked;
	uint64_t bytes_received;
	uint32_t snd_una, snd_nxt, rcv_nxt; /* absolute sequence numbers */
	uint32_t snd_wnd, rcv_wnd;          /* unscaled, bytes */
	uint32_t unacked;                   /* bytes in flight */
	uint32_t cwnd;                      /* segments */
	/* Slow-start threshold in segments (Linux's tcpi_snd_ssthresh);
	 * UINT32_MAX until the first reduction. */
	uint32_t ssthresh;
	/* Congestion-avoidance state (Linux's tcpi_ca_state): SYNACK_CA_*. */
	uint8_t ca_state;
	uint32_t send_queued, recv_queued;
	int error;
} synack_info;

/* synack_info.ca_state, with Linux's numbers (enum tcp_ca_state). */
#define SYNACK_CA_OPEN 0     /* no loss suspected */
#define SYNACK_CA_DISORDER 1 /* SACKs or duplicate ACKs seen, no loss yet */
#define SYNACK_CA_CWR 2      /* window reduced for ECN or a loss probe */
#define SYNACK_CA_RECOVERY 3 /* fast recovery (RFC 6675 / RFC 6582, PRR) */
#define SYNACK_CA_LOSS 4     /* after a retransmission timeout */

/* Fills info with the connection's present figures, like getsockopt
 * TCP_INFO. */
void synack_conn_info(const synack_conn *c, synack_info *info);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* SYNACK_SYNACK_H */
