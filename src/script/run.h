/*
 * run.h — the runner's state, shared by run.c (time, packets) and
 * syscall.c (the socket calls). Internal to src/script.
 */
#ifndef SYNACK_SCRIPT_RUN_H
#define SYNACK_SCRIPT_RUN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "script.h"
#include "synack/synack.h"

#define RUN_MAX_FDS 64
#define RUN_FIRST_FD 3 /* 0, 1 and 2 are stdin, stdout and stderr */
#define RUN_NEVER INT64_MAX
#define RUN_NS_PER_S 1000000000LL
#define RUN_WAIT_MAX_NS (600 * RUN_NS_PER_S) /* how far `*` and error lookahead wait */
#define RUN_MAX_STEPS 1000000 /* timer calls per wait before calling it a timer loop */
#define RUN_TS_MAP 256	      /* script TS val -> live TS val pairs remembered */
#define RUN_PKT_MAX 65536     /* an IP packet, and the largest read or write chunk */

typedef enum rfd_kind {
	RFD_SOCKET = 1, /* socket() done, no connect or listen yet */
	RFD_LISTENER,
	RFD_CONN,
} rfd_kind;

typedef struct rfd {
	bool used;
	rfd_kind kind;
	bool nonblock;
	bool linger_abort; /* SO_LINGER {onoff=1, linger=0}: close sends RST */
	bool connect_done; /* a non-blocking connect was confirmed by connect() */
	bool bound;
	uint16_t port; /* bound port */
	synack_conn_opts opts;
	synack_conn *conn;
	synack_listener *listener;
} rfd;

/* A system call in progress (or blocked: packetdrill runs such calls on a
 * thread while the script goes on; here the runner retries it as virtual
 * time passes and packets arrive). */
typedef struct run_call {
	const script_event *ev;
	const script_syscall *sc;
	int64_t start_ns, end_ns; /* end_ns: RUN_NEVER when the script gives none */
	int64_t wake_ns;	  /* poll timeout, or RUN_NEVER */
	bool retry;
	uint64_t done; /* bytes written so far */
	long ret;      /* result when complete */
	int err;       /* errno when ret == -1 */
} run_call;

typedef struct captured {
	uint8_t *buf;
	size_t len;
	int64_t t_ns;
} captured;

struct runner;

/* The layer under the runner: the system calls and the packets. The engine
 * backend (run.c, syscall.c) plays them on one synack stack on virtual time;
 * the kernel backend (kernel.c) on real sockets of the Linux kernel, in a
 * network namespace, through a TUN device, on real time. */
typedef struct run_backend {
	const char *name;
	/* Real time: the runner sees what happened a little after it did, so
	 * the next relative time counts from when the last packet was sent (or
	 * the last call returned), not from when the runner got to it. */
	bool real_time;
	/* After the options, before any event; NULL when there is nothing to do. */
	int (*prepare)(struct runner *r);
	/* Before the first packet or system call (may be called again). */
	int (*open)(struct runner *r, int line);
	/* A backtick line: applies its settings. */
	int (*command)(struct runner *r, const script_event *ev);
	/* Lets something happen no later than limit (script ns): a timer, a
	 * packet, a call returning. 1 something happened (r->now moved to it),
	 * 0 nothing before limit, -1 failure (reported). */
	int (*step)(struct runner *r, int64_t limit, int line);
	/* Moves time to target, running what happens meanwhile. */
	int (*advance)(struct runner *r, int64_t target, int line);
	/* Delivers a packet built by the runner to the socket's side. */
	int (*send)(struct runner *r, const uint8_t *pkt, size_t len, int line);
	int (*sys_start)(struct runner *r, const script_event *ev, int64_t t);
	/* Lets a blocked call see what just happened (returns when it did). */
	int (*sys_retry)(struct runner *r);
	/* Releases everything at the end of a run. */
	void (*close)(struct runner *r);
} run_backend;

extern const run_backend run_engine_backend;

typedef struct runner {
	const script *s;
	const run_backend *be;
	void *be_ctx; /* the backend's own state */
	script_run_opts opts;
	FILE *out;
	synack_config cfg;
	synack_stack *stack;
	uint64_t rng;
	synack_time base; /* engine time of script time 0 */
	int64_t now;	  /* virtual script time, ns */

	uint8_t family;
	synack_addr local_ip, remote_ip;
	uint16_t bind_port, connect_port, remote_port;
	int64_t tol_us;
	int64_t wait_max_ns; /* how far `*` lines and error lookahead wait */
	double tol_percent;
	bool ts_tick_check; /* --tcp_ts_tick_usecs given, or --strict-ts */
	bool cubic;         /* tcp_congestion_control=cubic: fail where it leaves reno */

	/* The connection under test: packetdrill tests one socket. */
	bool tuple_known;
	synack_addr t_local, t_remote;
	bool isn_known;
	uint32_t live_isn, script_isn;
	bool ts_known;
	uint32_t first_script_ts, first_live_ts;
	uint32_t ts_map[RUN_TS_MAP][2];
	size_t ts_map_len, ts_map_next;

	captured *q;
	size_t qhead, qlen, qcap;

	rfd fds[RUN_MAX_FDS];
	bool pending;
	run_call call;

	uint8_t pkt[RUN_PKT_MAX];     /* packets in and out */
	uint8_t zeros[RUN_PKT_MAX];   /* payloads: packetdrill writes zeros */
	uint8_t scratch[RUN_PKT_MAX]; /* what read() reads */

	int64_t last_event_ns;
	bool last_inbound;
	bool failed;
} runner;

/* "FILE:LINE: error: ..." to out; marks the run failed. Returns -1. */
int run_fail(runner *r, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void run_verbose(runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Engine time now. */
synack_time run_engine_now(const runner *r);

/* Takes every packet the stack has queued, stamped with the current time. */
int run_drain(runner *r);

/* Tolerance around script time t (ns) per packetdrill: max(tolerance_usecs,
 * tolerance_percent of the time since the previous event). */
int64_t run_tolerance(const runner *r, int64_t t);

/* The connection under test is now known (active open). */
void run_set_tuple(runner *r, const synack_addr *local, const synack_addr *remote);

/* The queue of packets the stack sent, oldest first. */
captured *run_queue_peek(runner *r);
void run_queue_drop(runner *r);
/* The next time something happens by itself (a stack deadline, a poll
 * timeout), script ns; RUN_NEVER when nothing will. */
int64_t run_next_wake(const runner *r);
/* Runs timers due now, collects their packets, retries a blocked call. */
int run_settle(runner *r, int line);
double run_secs(int64_t ns);

/* Appends a packet the socket sent to the queue, stamped with r->now. */
int run_enqueue(runner *r, const uint8_t *buf, size_t len);

/* Plays the script with the given backend: the common part of script_run. */
int run_script_with(const script *s, const script_run_opts *opts, FILE *out,
		    const run_backend *be);

/* packet.c */
int pkt_inject(runner *r, const script_event *ev);
int pkt_expect(runner *r, const script_event *ev, int64_t t, int64_t end);

/* syscall.c */
/* Starts the system call of ev (script time t) at the current time. Returns -1 on a failure
 * (reported); a call that blocks is left in r->call with r->pending set. */
int sys_start(runner *r, const script_event *ev, int64_t t);
/* Retries the blocked call; reports its result when it completes. */
int sys_retry(runner *r);
/* Releases what the fds hold (at the end of a run). */
void sys_close_all(runner *r);
/* Shared with the kernel backend: expression values and result checks. */
bool sys_eval_int(const script_expr *e, int64_t *v, const char **bad);
const script_expr *sys_field(const script_expr *st, const char *name);
bool sys_is_ellipsis(const script_expr *e);
int sys_check_result(runner *r, run_call *c);
int sys_call_fail(runner *r, run_call *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* kernel.c: runs the script against the Linux kernel in a network namespace
 * of its own (a forked child). */
int kernel_script_run(const script *s, const script_run_opts *opts, FILE *out);

/* format.c: a packet in packetdrill's notation: "S. 0:0(0) ack 1 win 5840
 * <mss 1460,nop,wscale 7>". win < 0 prints no window. */
int fmt_packet(char *buf, size_t cap, uint8_t flags, uint32_t seq, uint32_t len, uint32_t ack,
	       int32_t win, uint16_t urg, bool opts_any, const uint8_t *opt, size_t opt_len);

/* One option (the bytes at opt, len of them) as a script writes it; "(none)"
 * for len 0. */
int fmt_option(char *buf, size_t cap, const uint8_t *opt, size_t len);

#endif
