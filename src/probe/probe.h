/*
 * probe.h — the library behind `synack probe`: one timed attempt against a
 * real server over the kernel's sockets (DNS, TCP, TLS, WebSocket, HTTP),
 * failure classes with explanations, statistics, retries and the runner that
 * probes several targets in parallel.
 *
 * Times are nanoseconds on CLOCK_MONOTONIC. Every wait polls a "stop" file
 * descriptor as well, so an interrupt ends a run promptly.
 */
#ifndef SYNACK_PROBE_H
#define SYNACK_PROBE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "wire/wire.h"

#define PROBE_NS_PER_US 1000LL
#define PROBE_NS_PER_MS 1000000LL
#define PROBE_NS_PER_S 1000000000LL

#define PROBE_MAX_TARGETS 64
#define PROBE_MAX_ADDRS 16 /* addresses kept from one resolution */
#define PROBE_MAX_TRIES 33 /* 1 + the largest --retry */
#define PROBE_HOST_MAX 256 /* RFC 1035: a name fits in 255 octets */
#define PROBE_PATH_MAX 1024
#define PROBE_ADDR_STR_MAX 64 /* "[v6%scope]:port" */
#define PROBE_TEXT_MAX 256    /* certificate names, error text */
#define PROBE_ALPN_MAX 128

/* What went wrong, one exit status each (see probe_class_exit). */
enum probe_class {
	PROBE_OK,
	PROBE_ERR_OTHER,
	PROBE_ERR_UNSUPPORTED,
	PROBE_ERR_DNS_NONAME,
	PROBE_ERR_DNS_NOANSWER,
	PROBE_ERR_REFUSED,
	PROBE_ERR_TIMEOUT,
	PROBE_ERR_HOST_UNREACH,
	PROBE_ERR_NET_UNREACH,
	PROBE_ERR_RESET,
	PROBE_ERR_TLS_CERT,
	PROBE_ERR_TLS_NAME,
	PROBE_ERR_TLS_PROTOCOL,
	PROBE_ERR_TLS_RESET,
	PROBE_ERR_HTTP,
	PROBE_ERR_WS,
	PROBE_ERR_PERMISSION, /* --raw without root or CAP_NET_RAW */
	PROBE_INTERRUPTED,    /* stopped by a signal: not counted */
	PROBE_CLASS_COUNT
};

/* The phases of an attempt, in order. */
enum probe_phase {
	PROBE_PHASE_DNS,
	PROBE_PHASE_TCP,
	PROBE_PHASE_TLS,
	PROBE_PHASE_WS,	  /* upgrade request -> 101 headers complete */
	PROBE_PHASE_HTTP, /* request -> first byte of the answer (server processing) */
	PROBE_PHASE_COUNT
};

/*
 * How the TCP handshake is made: the kernel's sockets, or the synack engine
 * sending its own SYN on a raw socket (raw.c: SYN, SYN-ACK, then RST).
 */
enum probe_method {
	PROBE_METHOD_SOCKET,
	PROBE_METHOD_RAW,
};

struct probe_config {
	enum probe_method method;
	int family;	    /* AF_UNSPEC (Happy Eyeballs), AF_INET or AF_INET6 */
	int64_t timeout_ns; /* each phase */
	bool tls, insecure;
	const char *cacert; /* NULL: the system store */
	const char *alpn;   /* "h2,http/1.1" or NULL */
	const char *sni;    /* NULL: the host name (not sent for an address) */
	const char *ws_path, *http_path;
	unsigned retries;
	bool retry_refused;
	int64_t backoff_ns, backoff_max_ns;
	int stop_fd; /* readable once the run must stop; -1 for none */
};

void probe_config_default(struct probe_config *cfg);

struct probe_target {
	char host[PROBE_HOST_MAX]; /* without brackets */
	char port[8];
	char label[PROBE_HOST_MAX + 16]; /* as typed, with the port */
};

/* Splits "host", "host:port", "[v6]:port" or a bare IPv6 address. */
int probe_target_parse(const char *arg, const char *default_port, struct probe_target *t);

struct probe_tcp_info {
	bool valid;
	uint32_t rtt_us, rttvar_us, rto_us, snd_mss, rcv_mss;
	uint8_t snd_wscale, rcv_wscale;
	bool wscale, sack, timestamps, ecn;
};

/* What answered the raw method's SYN. */
enum probe_raw_reply {
	PROBE_RAW_NONE,	  /* silence */
	PROBE_RAW_SYNACK, /* the port is open */
	PROBE_RAW_RST,	  /* closed (or a firewall rejecting with a RST) */
	PROBE_RAW_ICMP,	  /* an ICMP error quoting our SYN */
};

/* Which of our SYNs the reply answers (RTT needs it: RFC 6298 Karn). */
enum probe_raw_match {
	PROBE_MATCH_ONLY,    /* a single SYN was sent */
	PROBE_MATCH_TS_ECHO, /* the reply's TSecr is that SYN's TSval (RFC 7323 4) */
	PROBE_MATCH_LAST,    /* retransmitted, no echo: assumed the newest */
};

#define PROBE_PACKET_STR_MAX 384 /* a SYN-ACK or ICMP error as tcpdump -n -S prints it */

/* The raw method's view of the wire: the reply exactly as it came. */
struct probe_raw_info {
	bool valid; /* the raw method sent a SYN */
	enum probe_raw_reply reply;
	unsigned syns;	  /* SYNs sent: the first and the engine's retransmissions */
	unsigned answers; /* 1-based index of the SYN the reply answers; 0: none */
	enum probe_raw_match match;
	int64_t rtt_ns; /* that SYN sent -> reply received (kernel receive time) */
	bool rst_sent;	/* our RST closed the half-open connection */
	/* IP and TCP header of the reply (TCP fields for SYNACK and RST). */
	uint8_t ttl, tos, flags;
	uint16_t ip_id;
	bool df;
	uint32_t seq, ack;
	uint16_t win;
	wire_opts opts;
	/* ICMP: type, code and who sent it. */
	uint8_t icmp_type, icmp_code;
	struct sockaddr_storage icmp_from;
	char packet[PROBE_PACKET_STR_MAX];
};

struct probe_tls_info {
	char version[32], cipher[PROBE_TEXT_MAX / 2], alpn[64];
	char subject[PROBE_TEXT_MAX], issuer[PROBE_TEXT_MAX], not_after[32];
	int days_left;
	bool have_cert, verified;
	long verify_code;
	char verify_text[PROBE_TEXT_MAX];
};

/* One connect try to one address (Happy Eyeballs may run several). */
struct probe_addr_try {
	struct sockaddr_storage addr;
	int64_t start_ns, ns; /* ns: how long until it ended */
	enum probe_class class;
	int err; /* errno, or 0 */
	bool started;
	bool cancelled; /* still connecting when another address won */
};

/* One full try: DNS, TCP, TLS, WS/HTTP. */
struct probe_try {
	int64_t start_ns; /* since the attempt began */
	int64_t delay_ns; /* backoff slept before it */
	enum probe_class class;
};

struct probe_result {
	enum probe_class class;
	enum probe_phase failed_phase;
	char detail[PROBE_TEXT_MAX];	     /* system or library error text */
	int64_t phase_ns[PROBE_PHASE_COUNT]; /* -1: not reached */
	int64_t total_ns;
	int64_t start_ns;      /* CLOCK_MONOTONIC at the start, for durations */
	int64_t wall_start_ns; /* CLOCK_REALTIME at the start, for logs */
	size_t naddrs;
	struct probe_addr_try addrs[PROBE_MAX_ADDRS];
	int winner; /* index in addrs, -1 if none */
	struct sockaddr_storage local;
	struct probe_tcp_info tcp;
	struct probe_raw_info raw;
	struct probe_tls_info tls;
	int http_status;
	unsigned ntries;
	struct probe_try tries[PROBE_MAX_TRIES];
};

/* clock.c */
int64_t probe_now_ns(void);
int64_t probe_wall_ns(void);
/* Waits for events on fd (or only the deadline if fd < 0). 1: ready, 0: deadline, -1: stop. */
int probe_wait_fd(int fd, short events, int64_t deadline_ns, int stop_fd, short *revents);
/* Sleeps until deadline; false if stopped first. */
bool probe_sleep_until(int64_t deadline_ns, int stop_fd);

/* resolve.c: getaddrinfo into r->addrs in RFC 8305 order (families interleaved). */
enum probe_class probe_resolve(const struct probe_config *cfg, const struct probe_target *t,
			       struct probe_result *r);

/*
 * The TCP phase, one function per method. It fills r (addrs, winner, phase
 * time, tcp info, class) and returns a connected socket for the later phases,
 * or -1. A method whose handshake leaves no socket (raw: SYN, SYN-ACK, then
 * RST) returns -1 with r->class PROBE_OK, and the attempt ends after TCP.
 */
typedef int (*probe_connect_fn)(const struct probe_config *cfg, struct probe_result *r);

/* The connector for a method, or NULL if this build has none. */
probe_connect_fn probe_connector(enum probe_method method);

/*
 * Whether the method can run here (raw sockets need root or CAP_NET_RAW):
 * PROBE_OK, or a class with one line for the user in err. *hold is a
 * descriptor the run keeps open until it ends (-1: none).
 */
enum probe_class probe_method_check(enum probe_method method, int *hold, char *err, size_t errlen);

/* connect.c: the kernel's sockets, Happy Eyeballs over r->addrs. */
int probe_connect_socket(const struct probe_config *cfg, struct probe_result *r);
enum probe_class probe_class_from_errno(int err);

/* tls.c */
struct probe_tls;
struct probe_tls *probe_tls_new(const struct probe_config *cfg, char *err, size_t errlen);
void probe_tls_free(struct probe_tls *tls);
/* Handshake on fd; on success *ssl_out is the session for the later phases. */
enum probe_class probe_tls_handshake(struct probe_tls *tls, const struct probe_config *cfg,
				     const char *host, int fd, void **ssl_out,
				     struct probe_result *r);
void probe_tls_close(void *ssl);

/* stream.c: reads and writes over TCP or TLS with a deadline. */
struct probe_stream {
	int fd;
	void *ssl; /* SSL *, or NULL */
	int stop_fd;
};
/* Returns bytes, 0 at end of stream, or a negative probe_class. */
long probe_stream_write(struct probe_stream *s, const void *buf, size_t len, int64_t deadline);
long probe_stream_read(struct probe_stream *s, void *buf, size_t len, int64_t deadline);

/* http.c */
enum probe_class probe_ws_upgrade(const struct probe_config *cfg, const struct probe_target *t,
				  struct probe_stream *s, struct probe_result *r);
enum probe_class probe_http_get(const struct probe_config *cfg, const struct probe_target *t,
				struct probe_stream *s, struct probe_result *r);
/* Sec-WebSocket-Accept for a key (RFC 6455 section 4.2.2). */
void probe_ws_accept(const char *key, char *out, size_t outlen);

/* attempt.c: one attempt with its retries. */
void probe_attempt(const struct probe_config *cfg, struct probe_tls *tls,
		   const struct probe_target *t, struct probe_result *r);
/* Backoff before retry number k (0-based): min(cap, base * 2^k), less up to half at random. */
int64_t probe_backoff_ns(const struct probe_config *cfg, unsigned k, uint64_t random);

/* classify.c */
const char *probe_class_name(enum probe_class c);
int probe_class_exit(enum probe_class c);
const char *probe_class_why(enum probe_class c, enum probe_phase phase);
const char *probe_class_next(enum probe_class c, enum probe_phase phase);
const char *probe_phase_name(enum probe_phase p);
/* Prints the table of exit statuses (for --help). */
void probe_print_exit_table(FILE *f);

/* stats.c: running min/avg/max/mdev, and percentiles over the newest samples. */
#define PROBE_STATS_KEEP 65536
struct probe_stats {
	uint64_t n;
	double min, max, sum, sumsq; /* milliseconds */
	double *keep;		     /* ring of the newest PROBE_STATS_KEEP samples */
};
void probe_stats_add(struct probe_stats *st, double v);
void probe_stats_free(struct probe_stats *st);
double probe_stats_avg(const struct probe_stats *st);
double probe_stats_mdev(const struct probe_stats *st);
/* Nearest-rank percentile (0 < pct <= 100) of the kept samples. */
double probe_stats_pct(const struct probe_stats *st, double pct);

/* format.c */
void probe_addr_str(const struct sockaddr_storage *ss, bool with_port, char *out, size_t len);
const char *probe_family_name(int family);

/* run.c and report.c: many targets, attempts, output. */
enum probe_output { PROBE_OUT_TEXT, PROBE_OUT_JSON, PROBE_OUT_CSV };

struct probe_run_opts {
	struct probe_config cfg;
	unsigned count;	     /* attempts per target; 0: until interrupted (--watch only) */
	int64_t interval_ns; /* start to start, as ping */
	bool watch, verbose, color, bar;
	enum probe_output output;
	FILE *out;
};

/* Per-target totals, kept by the printing thread. */
struct probe_summary {
	uint64_t sent, ok, failed;
	struct probe_stats phase[PROBE_PHASE_COUNT], total;
	enum probe_class last_fail;
	/* --watch */
	bool have_state, up;
	int64_t state_since_ns;
	enum probe_class state_class;
	bool explained[PROBE_CLASS_COUNT];
};

/* Why probe_connector(method) is NULL, in one line. */
const char *probe_method_missing(enum probe_method method);

/*
 * Probes every target in parallel; prints in input order. Returns the exit
 * status; PROBE_ERR_UNSUPPORTED's, with one line on stderr, for a method this
 * build lacks.
 */
int probe_run(const struct probe_run_opts *o, const struct probe_target *targets, size_t n);

void probe_report_start(const struct probe_run_opts *o);
void probe_report_attempt(const struct probe_run_opts *o, const struct probe_target *t,
			  unsigned seq, const struct probe_result *r, struct probe_summary *s);
void probe_report_state(const struct probe_run_opts *o, const struct probe_target *t,
			const struct probe_result *r, struct probe_summary *s);
void probe_report_summary(const struct probe_run_opts *o, const struct probe_target *t,
			  const struct probe_summary *s);
/* Adds an attempt to the summary (every output format shares it). */
void probe_summary_add(struct probe_summary *s, const struct probe_result *r);

#endif
