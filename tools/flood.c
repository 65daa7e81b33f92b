/*
 * flood.c — `synack flood`: a SYN flood lab on the simulated network.
 *
 * A server (198.18.0.2:80, or [fd00::2]:80) listens. Spoofed SYNs from
 * random sources in 198.18.128.0/17 (fd80::/9, inside fd00::/8, with
 * --ipv6) and random ports are written straight into the server's stack at
 * a steady rate of virtual time; their SYN-ACKs go out onto the simulated
 * network, where no node owns those addresses, so they go nowhere. Real
 * clients (one node owning 198.18.0.1, .3, .4, ...) connect meanwhile
 * through a link with a fixed delay, close as soon as they are established,
 * and give up after FLOOD_PATIENCE. The server accepts everything and closes
 * on EOF.
 *
 * One line per interval shows what a defender watches: the legitimate
 * handshakes' success and latency, the SYN queue, cookies, dropped SYNs and
 * the memory the server holds. --json gives the same as JSON lines and
 * --svg a plot of each series over time.
 *
 * Injection is batched (FLOOD_BATCH of virtual time at once) so that a
 * million SYNs per virtual second run in about a second of wall time.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "drivers/sim.h"
#include "synack/synack.h"
#include "wire/wire.h"

#define FLOOD_PORT 80
#define FLOOD_SERVER_V4 "198.18.0.2"
#define FLOOD_SERVER_V6 "fd00::2"
#define FLOOD_CLIENT_PREFIX_V4 "198.18.0."
#define FLOOD_CLIENT_PREFIX_V6 "fd00::"
#define FLOOD_SERVER_HOST 2 /* the server's last address byte; clients skip it */
#define FLOOD_CLIENT_ADDRS SIM_NODE_ADDRS_MAX
#define FLOOD_SPOOF_V4_NET 0xc6128000u /* 198.18.128.0/17 */
#define FLOOD_SPOOF_V4_HOSTS 0x8000u
#define FLOOD_SPOOF_V6_BYTE0 0xfd
#define FLOOD_SPOOF_V6_BYTE1_MIN 0x80 /* fd80::/9: never one of the real fd00::N */
#define FLOOD_SPORT_MIN 1024
#define FLOOD_SPORT_SPAN (65536 - FLOOD_SPORT_MIN)
#define FLOOD_SPOOF_WIN 64240 /* Linux's SYN window for MSS 1460 */
#define FLOOD_SPOOF_WSCALE 7  /* Linux's usual SYN window scale */
#define FLOOD_TTL 64
#define FLOOD_SPOOF_MSS_V4 1460 /* a SYN from an Ethernet host */
#define FLOOD_SPOOF_MSS_V6 1440
#define FLOOD_TS_VAL_OFF 8 /* in <mss,sackOK,TS,...>: after 4 + 2 bytes, kind and length */

#define FLOOD_DELAY (1 * SYNACK_MS)	/* one-way delay between clients and server */
#define FLOOD_BATCH (100 * 1000ULL)	/* ns of virtual time injected at once */
#define FLOOD_FLUSH_EVERY 256		/* SYNs between flushes of the server's output */
#define FLOOD_PATIENCE (3 * SYNACK_SEC) /* a client gives up after the SYN at +1 s and +3 s */
#define FLOOD_CLIENT_TIMEWAIT_MS 1000	/* keeps client ports free; not under study */
#define FLOOD_OUT_QUEUE 8192		/* the server's output queue, packets */

#define FLOOD_RATE_DEFAULT 100000
#define FLOOD_RATE_MAX 100000000ULL
#define FLOOD_CLIENTS_DEFAULT 100
#define FLOOD_CLIENTS_MAX 10000ULL
#define FLOOD_DURATION_DEFAULT (5 * SYNACK_SEC)
#define FLOOD_DURATION_MAX (3600 * SYNACK_SEC)
#define FLOOD_INTERVAL_DEFAULT SYNACK_SEC
#define FLOOD_INTERVALS_MAX 100000
#define FLOOD_BACKLOG_DEFAULT 128
#define FLOOD_U16_MAX 65535ULL
#define FLOOD_SEED_DEFAULT 1

#define NS_PER_SEC_F 1e9
#define NS_PER_MS_F 1e6
#define PERCENT 100.0
#define P50 0.50
#define P99 0.99
#define KIB 1024.0
#define ERR_MAX 256
#define FLAG_MAX 64
#define ADDR_TEXT_MAX 64
#define VEC_FIRST_CAP 64

/* The series shown per interval, in the order of the JSON and the SVG. */
enum flood_series {
	S_TIME,	    /* end of the interval, s */
	S_SPOOFED,  /* spoofed SYNs injected */
	S_ATTEMPTS, /* legitimate connects started */
	S_OK,	    /* handshakes completed */
	S_FAILED,   /* attempts given up */
	S_WAITING,  /* attempts still in progress at the end of the interval */
	S_SUCCESS,  /* OK / (OK + FAILED), percent; NAN when none ended */
	S_P50,	    /* handshake latency, ms */
	S_P99,
	S_SYNQ,	       /* SYN-queue depth at the end of the interval */
	S_SYNQ_PEAK,   /* deepest during the interval */
	S_COOKIES,     /* cookie SYN-ACKs sent */
	S_VALIDATED,   /* cookies returned and valid */
	S_COOKIES_BAD, /* ACKs with a forged or stale cookie */
	S_DROPPED,     /* SYNs dropped: queue full, per source, accept queue, memory */
	S_CONNS,       /* connection blocks in use */
	S_REQUESTS,    /* request entries in use */
	S_MEMORY,      /* bytes: blocks and entries times their sizes */
	S_MEMORY_PEAK, /* the most during the interval */
	S_COUNT
};

static const char *const series_json[S_COUNT] = {
    "t",
    "spoofed",
    "attempts",
    "established",
    "failed",
    "waiting",
    "success_pct",
    "p50_ms",
    "p99_ms",
    "synq",
    "synq_peak",
    "cookies_sent",
    "cookies_validated",
    "cookies_failed",
    "syns_dropped",
    "conn_blocks",
    "request_entries",
    "memory_bytes",
    "memory_peak_bytes",
};

typedef struct flood_opts {
	uint64_t rate, clients_rate, seed;
	synack_time duration, interval;
	uint8_t syncookies;
	uint32_t backlog, synq;
	uint16_t per_source;
	bool ipv6, spoof_ts, json, interval_set;
	const char *svg;
} flood_opts;

typedef struct attempt {
	synack_conn *c;
	synack_time start;
} attempt;

/* A growable array of elements of one type. */
typedef struct vec {
	void *v;
	size_t len, cap, size;
} vec;

typedef struct flood {
	flood_opts o;
	sim_net *net;
	int server, client;
	synack_stack *srv, *cli;
	synack_listener *lst;
	synack_addr server_ep, client_ip[FLOOD_CLIENT_ADDRS];
	sim_rng rng;
	/* The spoofed SYN: a template whose source, port, seq and TS vary. */
	wire_seg syn;
	uint8_t syn_opt[WIRE_TCP_MAX_OPTS];
	uint64_t spoofed, clients_started, next_client_addr;
	vec attempts, accepted, latencies;
	/* Counts of the interval in progress. */
	uint64_t iv_spoofed, iv_attempts, iv_ok, iv_failed;
	uint32_t iv_synq_peak;
	uint64_t iv_memory_peak;
	synack_counters last;
	/* Totals and the samples for the summary and the plot. */
	uint64_t ok, failed, attempts_total, peak_memory, peak_requests, peak_conns;
	uint32_t peak_synq;
	vec all_latencies, samples;
	bool failure;
} flood;

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */

static void vec_init(vec *v, size_t size)
{
	memset(v, 0, sizeof *v);
	v->size = size;
}

static void *vec_push(vec *v)
{
	if (v->len == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : VEC_FIRST_CAP;
		void *p = realloc(v->v, cap * v->size);

		if (!p)
			return NULL;
		v->v = p;
		v->cap = cap;
	}
	return (char *)v->v + v->size * v->len++;
}

static void *vec_at(const vec *v, size_t i)
{
	return (char *)v->v + v->size * i;
}

/* Removes element i by moving the last one into its place. */
static void vec_swap_remove(vec *v, size_t i)
{
	if (i != v->len - 1)
		memcpy(vec_at(v, i), vec_at(v, v->len - 1), v->size);
	v->len--;
}

static void vec_free(vec *v)
{
	free(v->v);
	v->v = NULL;
	v->len = v->cap = 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the latencies (ns) in v, in ms; NAN when empty.
 * Sorts v. */
static double percentile_ms(vec *v, double p)
{
	size_t rank;

	if (!v->len)
		return NAN;
	qsort(v->v, v->len, v->size, cmp_u64);
	rank = (size_t)ceil(p * (double)v->len);
	if (rank < 1)
		rank = 1;
	return (double)*(uint64_t *)vec_at(v, rank - 1) / NS_PER_MS_F;
}

static double seconds(synack_time t)
{
	return (double)t / NS_PER_SEC_F;
}

static const char *cookie_mode_name(uint8_t mode)
{
	return mode == SYNACK_SYNCOOKIES_ALWAYS	 ? "always"
	       : mode == SYNACK_SYNCOOKIES_NEVER ? "never"
						 : "auto";
}

/* ------------------------------------------------------------------------ */
/* Setting up the network                                                    */

static void config_server(const flood *f, synack_config *cfg)
{
	synack_config_default(cfg);
	cfg->syncookies = f->o.syncookies;
	cfg->max_syn_per_source = f->o.per_source;
	/* Bursts of cookie SYN-ACKs must not push out the real clients'. */
	cfg->out_queue = FLOOD_OUT_QUEUE;
}

static int add_client_addresses(flood *f)
{
	const char *prefix = f->o.ipv6 ? FLOOD_CLIENT_PREFIX_V6 : FLOOD_CLIENT_PREFIX_V4;
	char text[ADDR_TEXT_MAX];

	for (int i = 0; i < FLOOD_CLIENT_ADDRS; i++) {
		/* .1, then .3, .4, ...: .2 is the server. */
		int host = i == 0 ? 1 : FLOOD_SERVER_HOST + i;

		snprintf(text, sizeof text, "%s%d", prefix, host);
		if (synack_addr_parse(text, &f->client_ip[i]) < 0)
			return -EINVAL;
		if (i > 0 && sim_node_add_address(f->net, f->client, &f->client_ip[i]) < 0)
			return -EINVAL;
	}
	return 0;
}

static int setup_nodes(flood *f)
{
	synack_config scfg, ccfg;
	synack_addr sip;
	sim_impair imp;

	config_server(f, &scfg);
	synack_config_default(&ccfg);
	ccfg.timewait_ms = FLOOD_CLIENT_TIMEWAIT_MS;
	if (synack_addr_parse(f->o.ipv6 ? FLOOD_SERVER_V6 : FLOOD_SERVER_V4, &sip) < 0 ||
	    synack_addr_parse(f->o.ipv6 ? FLOOD_CLIENT_PREFIX_V6 "1" : FLOOD_CLIENT_PREFIX_V4 "1",
			      &f->client_ip[0]) < 0)
		return -EINVAL;
	f->server = sim_add_node(f->net, "server", &scfg, &sip);
	f->client = sim_add_node(f->net, "clients", &ccfg, &f->client_ip[0]);
	if (f->server < 0 || f->client < 0)
		return f->server < 0 ? f->server : f->client;
	if (add_client_addresses(f) < 0)
		return -EINVAL;
	sim_impair_none(&imp);
	imp.delay = FLOOD_DELAY;
	f->srv = sim_stack(f->net, f->server);
	f->cli = sim_stack(f->net, f->client);
	f->server_ep = sip;
	f->server_ep.port = FLOOD_PORT;
	return sim_set_impair(f->net, -1, -1, &imp);
}

/* The spoofed SYN's fixed parts: a plain <mss> SYN as flood tools send, or
 * with --spoof-ts the layout of a Linux SYN <mss,sackOK,TS,nop,wscale>. */
static void setup_syn_template(flood *f)
{
	wire_seg *s = &f->syn;
	size_t o = 0;

	memset(s, 0, sizeof *s);
	s->family = f->o.ipv6 ? SYNACK_AF_INET6 : SYNACK_AF_INET;
	s->ttl = FLOOD_TTL;
	memcpy(s->dst, f->server_ep.ip, sizeof s->dst);
	s->dport = FLOOD_PORT;
	s->flags = WIRE_SYN;
	s->win = FLOOD_SPOOF_WIN;
	o += wire_put_mss(f->syn_opt, f->o.ipv6 ? FLOOD_SPOOF_MSS_V6 : FLOOD_SPOOF_MSS_V4);
	if (f->o.spoof_ts) {
		o += wire_put_sackok(f->syn_opt + o);
		o += wire_put_ts(f->syn_opt + o, 0, 0);
		o += wire_put_nop(f->syn_opt + o);
		o += wire_put_wscale(f->syn_opt + o, FLOOD_SPOOF_WSCALE);
	}
	s->opt = f->syn_opt;
	s->opt_len = (uint8_t)o;
}

static int flood_setup(flood *f)
{
	synack_conn_opts lo;
	int rc;

	sim_rng_seed(&f->rng, f->o.seed);
	vec_init(&f->attempts, sizeof(attempt));
	vec_init(&f->accepted, sizeof(synack_conn *));
	vec_init(&f->latencies, sizeof(uint64_t));
	vec_init(&f->all_latencies, sizeof(uint64_t));
	vec_init(&f->samples, sizeof(double[S_COUNT]));
	rc = sim_new(f->o.seed, &f->net);
	if (rc < 0)
		return rc;
	rc = setup_nodes(f);
	if (rc < 0)
		return rc;
	memset(&lo, 0, sizeof lo);
	lo.synq = f->o.synq;
	rc = synack_listen(f->srv, &f->server_ep, (int)f->o.backlog, &lo, &f->lst);
	if (rc < 0)
		return rc;
	setup_syn_template(f);
	return 0;
}

static void flood_free(flood *f)
{
	sim_free(f->net);
	vec_free(&f->attempts);
	vec_free(&f->accepted);
	vec_free(&f->latencies);
	vec_free(&f->all_latencies);
	vec_free(&f->samples);
}

/* ------------------------------------------------------------------------ */
/* The attack                                                                */

static void spoof_source(flood *f)
{
	uint64_t r = sim_rng_next(&f->rng);

	if (f->syn.family == SYNACK_AF_INET) {
		uint32_t a = FLOOD_SPOOF_V4_NET | (uint32_t)(r % FLOOD_SPOOF_V4_HOSTS);

		wire_set32(f->syn.src, a);
	} else {
		uint64_t r2 = sim_rng_next(&f->rng);

		memcpy(f->syn.src, &r, sizeof r);
		memcpy(f->syn.src + sizeof r, &r2, sizeof r2);
		f->syn.src[0] = FLOOD_SPOOF_V6_BYTE0;
		f->syn.src[1] |= FLOOD_SPOOF_V6_BYTE1_MIN;
	}
	f->syn.sport = (uint16_t)(FLOOD_SPORT_MIN + (r >> 32) % FLOOD_SPORT_SPAN);
}

static void inject_one(flood *f, synack_time now)
{
	uint8_t pkt[WIRE_IPV6_HDR + WIRE_TCP_HDR + WIRE_TCP_MAX_OPTS];
	size_t len;

	spoof_source(f);
	f->syn.seq = (uint32_t)sim_rng_next(&f->rng);
	if (f->o.spoof_ts)
		wire_set32(f->syn_opt + FLOOD_TS_VAL_OFF, (uint32_t)sim_rng_next(&f->rng));
	len = wire_build(pkt, sizeof pkt, &f->syn);
	synack_input(f->srv, pkt, len, now);
	f->spoofed++;
	f->iv_spoofed++;
}

/* Injects the spoofed SYNs due by now. The server's answers are flushed
 * onto the network (where they find no route) every FLOOD_FLUSH_EVERY SYNs
 * so that its output queue never overflows. */
static void inject_due(flood *f, synack_time now)
{
	uint64_t due = (uint64_t)((double)f->o.rate * seconds(now));

	while (f->spoofed < due) {
		inject_one(f, now);
		if (f->spoofed % FLOOD_FLUSH_EVERY == 0)
			sim_flush(f->net);
		if (synack_listener_pending(f->lst) > f->iv_synq_peak)
			f->iv_synq_peak = synack_listener_pending(f->lst);
	}
	sim_flush(f->net);
}

/* ------------------------------------------------------------------------ */
/* The legitimate side                                                       */

static void start_clients(flood *f, synack_time now)
{
	uint64_t due = (uint64_t)((double)f->o.clients_rate * seconds(now));

	while (f->clients_started < due) {
		synack_addr local = f->client_ip[f->next_client_addr++ % FLOOD_CLIENT_ADDRS];
		attempt *a;
		synack_conn *c;

		f->clients_started++;
		f->iv_attempts++;
		f->attempts_total++;
		local.port = 0;
		if (synack_connect(f->cli, &local, &f->server_ep, NULL, now, &c) < 0) {
			f->iv_failed++;
			f->failed++;
			continue;
		}
		a = vec_push(&f->attempts);
		if (!a) {
			synack_abort(c, now);
			f->failure = true;
			return;
		}
		a->c = c;
		a->start = now;
	}
}

static void record_ok(flood *f, const synack_conn *c)
{
	synack_info info;
	uint64_t *l1, *l2;

	synack_conn_info(c, &info);
	f->iv_ok++;
	f->ok++;
	l1 = vec_push(&f->latencies);
	l2 = vec_push(&f->all_latencies);
	if (!l1 || !l2) {
		f->failure = true;
		return;
	}
	*l1 = *l2 = info.handshake_ns;
}

/* Ends the attempts that are established (the client closes at once),
 * failed, or older than the clients' patience. */
static void resolve_attempts(flood *f, synack_time now)
{
	for (size_t i = 0; i < f->attempts.len;) {
		attempt *a = vec_at(&f->attempts, i);
		synack_state st = synack_conn_state(a->c);

		if (st == SYNACK_ESTABLISHED) {
			record_ok(f, a->c);
			synack_close(a->c, now);
		} else if (st == SYNACK_CLOSED || now - a->start >= FLOOD_PATIENCE) {
			f->iv_failed++;
			f->failed++;
			synack_abort(a->c, now);
		} else {
			i++;
			continue;
		}
		vec_swap_remove(&f->attempts, i);
	}
}

/* The server application: accept everything, close on EOF or error. */
static void serve(flood *f, synack_time now)
{
	synack_conn *c, **slot;

	while (synack_accept(f->lst, &c) == 0) {
		slot = vec_push(&f->accepted);
		if (!slot) {
			synack_abort(c, now);
			f->failure = true;
			continue;
		}
		*slot = c;
	}
	for (size_t i = 0; i < f->accepted.len;) {
		c = *(synack_conn **)vec_at(&f->accepted, i);
		if (!(synack_conn_poll(c) & (SYNACK_POLLIN | SYNACK_POLLHUP | SYNACK_POLLERR))) {
			i++;
			continue;
		}
		synack_close(c, now);
		vec_swap_remove(&f->accepted, i);
	}
}

/* ------------------------------------------------------------------------ */
/* Samples                                                                   */

static uint64_t dropped_syns(const synack_counters *c)
{
	return c->drop_synq_full + c->drop_syn_per_source + c->drop_acceptq_full +
	       c->drop_no_memory;
}

static uint64_t memory_in_use(size_t conns, size_t reqs)
{
	return conns * synack_conn_block_size() + reqs * synack_request_entry_size();
}

static void take_sample(flood *f, synack_time now, double *s)
{
	const synack_counters *c = synack_stack_counters(f->srv);
	size_t conns = synack_stack_conn_count(f->srv), reqs = synack_stack_request_count(f->srv);
	uint64_t ended = f->iv_ok + f->iv_failed;

	s[S_TIME] = seconds(now);
	s[S_SPOOFED] = (double)f->iv_spoofed;
	s[S_ATTEMPTS] = (double)f->iv_attempts;
	s[S_OK] = (double)f->iv_ok;
	s[S_FAILED] = (double)f->iv_failed;
	s[S_WAITING] = (double)f->attempts.len;
	s[S_SUCCESS] = ended ? PERCENT * (double)f->iv_ok / (double)ended : NAN;
	s[S_P50] = percentile_ms(&f->latencies, P50);
	s[S_P99] = percentile_ms(&f->latencies, P99);
	s[S_SYNQ] = synack_listener_pending(f->lst);
	s[S_SYNQ_PEAK] = f->iv_synq_peak;
	s[S_COOKIES] = (double)(c->syncookies_sent - f->last.syncookies_sent);
	s[S_VALIDATED] = (double)(c->syncookies_recv - f->last.syncookies_recv);
	s[S_COOKIES_BAD] = (double)(c->syncookies_failed - f->last.syncookies_failed);
	s[S_DROPPED] = (double)(dropped_syns(c) - dropped_syns(&f->last));
	s[S_CONNS] = (double)conns;
	s[S_REQUESTS] = (double)reqs;
	s[S_MEMORY] = (double)memory_in_use(conns, reqs);
	s[S_MEMORY_PEAK] = (double)f->iv_memory_peak;
}

/* Checked after every batch: a connection block lives only for a round
 * trip or two, and samples at interval ends would miss it. */
static void track_peaks(flood *f)
{
	size_t conns = synack_stack_conn_count(f->srv), reqs = synack_stack_request_count(f->srv);
	uint64_t mem = memory_in_use(conns, reqs);

	if (mem > f->iv_memory_peak)
		f->iv_memory_peak = mem;
	if (mem > f->peak_memory)
		f->peak_memory = mem;
	if (reqs > f->peak_requests)
		f->peak_requests = reqs;
	if (conns > f->peak_conns)
		f->peak_conns = conns;
	if (synack_listener_pending(f->lst) > f->iv_synq_peak)
		f->iv_synq_peak = synack_listener_pending(f->lst);
	if (f->iv_synq_peak > f->peak_synq)
		f->peak_synq = f->iv_synq_peak;
}

/* Starts the next interval. */
static void next_interval(flood *f)
{
	f->last = *synack_stack_counters(f->srv);
	f->iv_spoofed = f->iv_attempts = f->iv_ok = f->iv_failed = 0;
	f->iv_synq_peak = synack_listener_pending(f->lst);
	f->iv_memory_peak = 0;
	f->latencies.len = 0;
}

/* ------------------------------------------------------------------------ */
/* Printing                                                                  */

static void print_header(const flood *f)
{
	printf("synack flood: %" PRIu64 " spoofed SYN/s (%s, %s) at %s:%d for %.3g s; "
	       "clients %" PRIu64 "/s; syncookies %s, backlog %u, synq %u, per-source %u\n",
	       f->o.rate, f->o.ipv6 ? "fd80::/9" : "198.18.128.0/17",
	       f->o.spoof_ts ? "with timestamps" : "mss only",
	       f->o.ipv6 ? "[" FLOOD_SERVER_V6 "]" : FLOOD_SERVER_V4, FLOOD_PORT,
	       seconds(f->o.duration), f->o.clients_rate, cookie_mode_name(f->o.syncookies),
	       f->o.backlog, f->o.synq ? f->o.synq : f->o.backlog, f->o.per_source);
	printf("%8s %9s %7s %6s %6s %7s %8s %8s %8s %6s %9s %7s %9s %10s\n", "time s", "spoofed",
	       "clients", "ok", "failed", "waiting", "success", "p50 ms", "p99 ms", "synq",
	       "cookies", "valid", "dropped", "peak KiB");
}

static void print_number(double v, int width, const char *fmt)
{
	if (isnan(v))
		printf(" %*s", width, "-");
	else
		printf(fmt, width, v);
}

static void print_sample_text(const double *s)
{
	printf("%8.3f %9.0f %7.0f %6.0f %6.0f %7.0f", s[S_TIME], s[S_SPOOFED], s[S_ATTEMPTS],
	       s[S_OK], s[S_FAILED], s[S_WAITING]);
	if (isnan(s[S_SUCCESS]))
		printf(" %8s", "-");
	else
		printf(" %7.1f%%", s[S_SUCCESS]);
	print_number(s[S_P50], 8, " %*.2f");
	print_number(s[S_P99], 8, " %*.2f");
	printf(" %6.0f %9.0f %7.0f %9.0f %10.1f\n", s[S_SYNQ], s[S_COOKIES], s[S_VALIDATED],
	       s[S_DROPPED], s[S_MEMORY_PEAK] / KIB);
}

static void print_json_value(double v)
{
	if (isnan(v))
		fputs("null", stdout);
	else if (v == floor(v) && fabs(v) < NS_PER_SEC_F * NS_PER_SEC_F)
		printf("%.0f", v);
	else
		printf("%.6g", v);
}

static void print_sample_json(const double *s)
{
	putchar('{');
	for (int i = 0; i < S_COUNT; i++) {
		printf("%s\"%s\":", i ? "," : "", series_json[i]);
		print_json_value(s[i]);
	}
	puts("}");
}

struct summary {
	double success, p50, p99, wall;
};

static void summarize(flood *f, struct summary *sm, double wall)
{
	uint64_t ended = f->ok + f->failed;

	sm->success = ended ? PERCENT * (double)f->ok / (double)ended : NAN;
	sm->p50 = percentile_ms(&f->all_latencies, P50);
	sm->p99 = percentile_ms(&f->all_latencies, P99);
	sm->wall = wall;
}

static void print_summary_text(const flood *f, const struct summary *sm)
{
	const synack_counters *c = synack_stack_counters(f->srv);

	printf("summary: %" PRIu64 " spoofed SYNs; %" PRIu64 " legitimate attempts, %" PRIu64
	       " established, %" PRIu64 " failed",
	       f->spoofed, f->attempts_total, f->ok, f->failed);
	if (!isnan(sm->success))
		printf(" (%.1f%%)", sm->success);
	if (!isnan(sm->p50))
		printf("; handshake p50 %.2f ms, p99 %.2f ms", sm->p50, sm->p99);
	printf("\n  cookies: %" PRIu64 " sent, %" PRIu64 " validated, %" PRIu64 " failed; "
	       "SYNs dropped: %" PRIu64 " queue full, %" PRIu64 " per source, %" PRIu64
	       " accept queue, %" PRIu64 " no memory\n",
	       c->syncookies_sent, c->syncookies_recv, c->syncookies_failed, c->drop_synq_full,
	       c->drop_syn_per_source, c->drop_acceptq_full, c->drop_no_memory);
	printf("  server memory peak %.1f KiB (%" PRIu64 " connection blocks of %zu B, %" PRIu64
	       " request entries of %zu B); SYN queue peak %u; output drops %" PRIu64 "\n",
	       (double)f->peak_memory / KIB, f->peak_conns, synack_conn_block_size(),
	       f->peak_requests, synack_request_entry_size(), f->peak_synq, c->out_dropped);
	printf("  %.3g virtual s in %.2f wall s\n", seconds(f->o.duration), sm->wall);
}

static void print_summary_json(const flood *f, const struct summary *sm)
{
	const synack_counters *c = synack_stack_counters(f->srv);

	printf("{\"summary\":{\"spoofed\":%" PRIu64 ",\"attempts\":%" PRIu64
	       ",\"established\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"success_pct\":",
	       f->spoofed, f->attempts_total, f->ok, f->failed);
	print_json_value(sm->success);
	fputs(",\"p50_ms\":", stdout);
	print_json_value(sm->p50);
	fputs(",\"p99_ms\":", stdout);
	print_json_value(sm->p99);
	printf(",\"cookies_sent\":%" PRIu64 ",\"cookies_validated\":%" PRIu64
	       ",\"cookies_failed\":%" PRIu64 ",\"drop_synq_full\":%" PRIu64
	       ",\"drop_syn_per_source\":%" PRIu64 ",\"drop_acceptq_full\":%" PRIu64
	       ",\"drop_no_memory\":%" PRIu64 ",\"out_dropped\":%" PRIu64
	       ",\"peak_memory_bytes\":%" PRIu64 ",\"peak_conn_blocks\":%" PRIu64
	       ",\"peak_request_entries\":%" PRIu64 ",\"peak_synq\":%u"
	       ",\"conn_block_size\":%zu,\"request_entry_size\":%zu"
	       ",\"syncookies\":\"%s\",\"rate\":%" PRIu64 ",\"clients_rate\":%" PRIu64
	       ",\"duration_s\":%.9g,\"wall_s\":%.3f}}\n",
	       c->syncookies_sent, c->syncookies_recv, c->syncookies_failed, c->drop_synq_full,
	       c->drop_syn_per_source, c->drop_acceptq_full, c->drop_no_memory, c->out_dropped,
	       f->peak_memory, f->peak_conns, f->peak_requests, f->peak_synq,
	       synack_conn_block_size(), synack_request_entry_size(),
	       cookie_mode_name(f->o.syncookies), f->o.rate, f->o.clients_rate,
	       seconds(f->o.duration), sm->wall);
}

/* ------------------------------------------------------------------------ */
/* The SVG plot: one panel per quantity, time on every x axis                */

#define SVG_WIDTH 760
#define SVG_LEFT 80
#define SVG_RIGHT 20
#define SVG_TOP 40
#define SVG_PANEL_H 110
#define SVG_PANEL_GAP 40
#define SVG_TICKS 4
#define SI_KILO 1e3
#define SI_MEGA 1e6
#define SVG_DOT_R 2.5	   /* a sample's dot */
#define SVG_TITLE_RISE 8   /* panel titles and legends sit above the frame */
#define SVG_LABEL_GAP 6	   /* y labels stop short of the frame */
#define SVG_LABEL_DROP 4   /* centres a label's text on its grid line */
#define SVG_TIME_DROP 14   /* time labels below the frame */
#define SVG_LEGEND_STEP 90 /* between the two legend entries */
#define SVG_LABEL_MAX 32

struct panel {
	const char *title;
	enum flood_series a, b; /* b == S_COUNT: one series */
	const char *a_name, *b_name;
};

static const struct panel panels[] = {
    {"legitimate handshakes completed (%)", S_SUCCESS, S_COUNT, "success", NULL},
    {"handshake latency (ms)", S_P50, S_P99, "p50", "p99"},
    {"SYN queue depth", S_SYNQ_PEAK, S_SYNQ, "peak", "end"},
    {"cookie SYN-ACKs sent per interval", S_COOKIES, S_COUNT, "sent", NULL},
    {"cookies validated per interval", S_VALIDATED, S_COUNT, "validated", NULL},
    {"SYNs dropped per interval", S_DROPPED, S_COUNT, "dropped", NULL},
    {"server memory: connection blocks + request entries (KiB)", S_MEMORY_PEAK, S_MEMORY, "peak",
     "end"},
};

#define SVG_PANELS (sizeof panels / sizeof panels[0])

static double sample_value(const flood *f, size_t i, enum flood_series k)
{
	double v = ((const double *)vec_at(&f->samples, i))[k];

	return k == S_MEMORY || k == S_MEMORY_PEAK ? v / KIB : v;
}

/* The smallest 1, 2 or 5 times a power of ten at or above v. */
static double nice_ceil(double v)
{
	double p = 1;

	if (!(v > 0))
		return 1;
	while (p < v)
		p *= 10;
	while (p / 10 >= v)
		p /= 10;
	if (p / 5 >= v)
		return p / 5;
	if (p / 2 >= v)
		return p / 2;
	return p;
}

static double panel_max(const flood *f, const struct panel *p)
{
	double m = 0;

	for (size_t i = 0; i < f->samples.len; i++) {
		double a = sample_value(f, i, p->a);
		double b = p->b == S_COUNT ? 0 : sample_value(f, i, p->b);

		if (!isnan(a) && a > m)
			m = a;
		if (!isnan(b) && b > m)
			m = b;
	}
	return p->a == S_SUCCESS ? PERCENT : nice_ceil(m);
}

static void svg_series(FILE *out, const flood *f, enum flood_series k, double ymax, int top,
		       const char *color)
{
	double tmax = seconds(f->o.duration), plot_w = SVG_WIDTH - SVG_LEFT - SVG_RIGHT;
	bool open = false;

	for (size_t i = 0; i < f->samples.len; i++) {
		double t = sample_value(f, i, S_TIME), v = sample_value(f, i, k);
		double x = SVG_LEFT + plot_w * t / tmax, y = top + SVG_PANEL_H * (1 - v / ymax);

		if (isnan(v)) { /* a gap: no handshake ended in that interval */
			if (open)
				fputs("\"/>\n", out);
			open = false;
			continue;
		}
		if (!open)
			fprintf(
			    out,
			    "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
			    color);
		fprintf(out, "%.1f,%.1f ", x, y);
		open = true;
	}
	if (open)
		fputs("\"/>\n", out);
	/* Dots too: a lone sample between gaps draws no line. */
	for (size_t i = 0; i < f->samples.len; i++) {
		double t = sample_value(f, i, S_TIME), v = sample_value(f, i, k);

		if (!isnan(v))
			fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"/>\n",
				SVG_LEFT + plot_w * t / tmax, top + SVG_PANEL_H * (1 - v / ymax),
				SVG_DOT_R, color);
	}
}

/* "250k", "1.5M": axis labels short enough for the margin. */
static void format_si(double v, char *buf, size_t cap)
{
	if (v >= SI_MEGA)
		snprintf(buf, cap, "%.4gM", v / SI_MEGA);
	else if (v >= SI_KILO)
		snprintf(buf, cap, "%.4gk", v / SI_KILO);
	else
		snprintf(buf, cap, "%.4g", v);
}

static void svg_axes(FILE *out, const flood *f, const struct panel *p, double ymax, int top)
{
	double tmax = seconds(f->o.duration), plot_w = SVG_WIDTH - SVG_LEFT - SVG_RIGHT;

	fprintf(out, "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s</text>\n", SVG_LEFT,
		top - SVG_TITLE_RISE, p->title);
	fprintf(out,
		"<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%d\" fill=\"none\" "
		"stroke=\"#888\"/>\n",
		SVG_LEFT, top, plot_w, SVG_PANEL_H);
	for (int i = 0; i <= SVG_TICKS; i++) {
		double y = top + SVG_PANEL_H * (1 - (double)i / SVG_TICKS);
		double x = SVG_LEFT + plot_w * i / SVG_TICKS;
		char label[SVG_LABEL_MAX];

		format_si(ymax * i / SVG_TICKS, label, sizeof label);
		fprintf(out,
			"<line x1=\"%d\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#eee\"/>\n"
			"<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n"
			"<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.3g s</text>\n",
			SVG_LEFT, y, SVG_LEFT + plot_w, y, SVG_LEFT - SVG_LABEL_GAP,
			y + SVG_LABEL_DROP, label, x, top + SVG_PANEL_H + SVG_TIME_DROP,
			tmax * i / SVG_TICKS);
	}
}

static void svg_legend(FILE *out, const struct panel *p, int top)
{
	static const char *const colors[] = {"#1f77b4", "#d62728"};
	const char *names[] = {p->a_name, p->b_name};

	for (int i = 0; i < 2 && names[i]; i++)
		fprintf(out, "<text x=\"%d\" y=\"%d\" fill=\"%s\" text-anchor=\"end\">%s</text>\n",
			SVG_WIDTH - SVG_RIGHT - SVG_LEGEND_STEP * (1 - i), top - SVG_TITLE_RISE,
			colors[i], names[i]);
}

static int write_svg(const flood *f)
{
	int height = SVG_TOP + (int)SVG_PANELS * (SVG_PANEL_H + SVG_PANEL_GAP);
	FILE *out = fopen(f->o.svg, "w");

	if (!out) {
		fprintf(stderr, "synack flood: cannot write %s: %s\n", f->o.svg, strerror(errno));
		return -errno;
	}
	fprintf(
	    out,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
	    "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n"
	    "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
	    "<text x=\"%d\" y=\"20\" font-size=\"14\" font-weight=\"bold\">synack flood: %" PRIu64
	    " spoofed SYN/s, clients %" PRIu64 "/s, syncookies %s</text>\n",
	    SVG_WIDTH, height, SVG_WIDTH, height, SVG_LEFT, f->o.rate, f->o.clients_rate,
	    cookie_mode_name(f->o.syncookies));
	for (size_t i = 0; i < SVG_PANELS; i++) {
		const struct panel *p = &panels[i];
		int top = SVG_TOP + SVG_PANEL_GAP / 2 + (int)i * (SVG_PANEL_H + SVG_PANEL_GAP);
		double ymax = panel_max(f, p);

		svg_axes(out, f, p, ymax, top);
		svg_series(out, f, p->a, ymax, top, "#1f77b4");
		if (p->b != S_COUNT)
			svg_series(out, f, p->b, ymax, top, "#d62728");
		svg_legend(out, p, top);
	}
	fputs("</svg>\n", out);
	if (fclose(out)) {
		fprintf(stderr, "synack flood: writing %s failed: %s\n", f->o.svg, strerror(errno));
		return -EIO;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Running                                                                   */

/* Everything that happens at virtual time now, after the network caught up. */
static void tick(flood *f, synack_time now, bool attacking)
{
	sim_run_until(f->net, now);
	if (attacking) {
		start_clients(f, now);
		inject_due(f, now);
	}
	sim_flush(f->net);
	serve(f, now);
	resolve_attempts(f, now);
	sim_flush(f->net);
	track_peaks(f);
}

static int end_interval(flood *f, synack_time now)
{
	double *s = vec_push(&f->samples);

	if (!s)
		return -ENOMEM;
	take_sample(f, now, s);
	if (f->o.json)
		print_sample_json(s);
	else
		print_sample_text(s);
	fflush(stdout);
	next_interval(f);
	return 0;
}

static int flood_run(flood *f)
{
	synack_time now = 0, next_sample = f->o.interval;

	while (now < f->o.duration && !f->failure) {
		synack_time next = now + FLOOD_BATCH;

		if (next > next_sample)
			next = next_sample;
		if (next > f->o.duration)
			next = f->o.duration;
		now = next;
		tick(f, now, true);
		if (now == next_sample || now == f->o.duration) {
			if (end_interval(f, now) < 0)
				return -ENOMEM;
			next_sample += f->o.interval;
		}
	}
	/* The attack is over: give the attempts in progress their chance. */
	for (synack_time t = now; f->attempts.len && t < now + FLOOD_PATIENCE;) {
		t += FLOOD_BATCH;
		tick(f, t, false);
	}
	return f->failure ? -ENOMEM : 0;
}

/* ------------------------------------------------------------------------ */
/* Arguments                                                                 */

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: synack flood [OPTIONS]\n"
	    "A SYN flood on the simulated network: spoofed SYNs from random sources in\n"
	    "198.18.128.0/17 (fd80::/9 with --ipv6) and random ports hit a listener at\n"
	    "198.18.0.2:80 while real clients (198.18.0.1, .3, ...; 1 ms away) connect.\n"
	    "A client closes once established and gives up after 3 s. Prints, per\n"
	    "interval: spoofed SYNs, attempts, handshakes ok and failed, success rate,\n"
	    "latency p50/p99, SYN-queue depth, cookies sent and validated, SYNs dropped\n"
	    "and the server's memory (connection blocks + request entries).\n\n"
	    "  --rate N          spoofed SYNs per second of virtual time (default %d)\n"
	    "  --duration S      virtual seconds of attack (default 5; units ms, s...)\n"
	    "  --clients-rate N  legitimate connects per second (default %d, max %llu)\n"
	    "  --syncookies M    auto (default), always or never\n"
	    "  --backlog N       listen backlog (default %d)\n"
	    "  --synq N          SYN queue size (default: the backlog)\n"
	    "  --per-source N    half-open requests per source address (0: no limit)\n"
	    "  --spoof-ts        spoofed SYNs carry <mss,sackOK,TS,nop,wscale> (default <mss>)\n"
	    "  --ipv6            IPv6: server fd00::2, clients fd00::1, fd00::3...\n"
	    "  --interval S      seconds per line (default 1, or the duration if shorter)\n"
	    "  --seed N          seed of every random choice (default %d)\n"
	    "  --json            one JSON object per interval, then {\"summary\":...}\n"
	    "  --svg FILE        plot every series over time as SVG\n"
	    "  --help            this text\n\n"
	    "Example: synack flood --rate 1000000 --duration 2 --syncookies never\n"
	    "Exit status: 0 done, 1 the simulation failed, 2 bad arguments.\n",
	    FLOOD_RATE_DEFAULT, FLOOD_CLIENTS_DEFAULT, FLOOD_CLIENTS_MAX, FLOOD_BACKLOG_DEFAULT,
	    FLOOD_SEED_DEFAULT);
}

/* Bad input: one line; the callers' convention is -EINVAL. */
#define usage_error(...) (cli_usage_error("flood", __VA_ARGS__), -EINVAL)

static int parse_uint(const char *flag, const char *v, unsigned long long max,
		      unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(v, &end, 10);
	if (!*v || *v == '-' || *v == '+' || *end || errno || *out > max)
		return usage_error("%s: '%s' is not an integer in 0..%llu", flag, v, max);
	return 0;
}

/* Seconds: a bare number is seconds; "500ms", "2s"... as the simulator reads. */
static int parse_seconds(const char *flag, const char *v, synack_time max, synack_time *out)
{
	char err[ERR_MAX], *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (end != v && !*end && !errno && d >= 0 && d <= seconds(max)) {
		*out = (synack_time)llround(d * NS_PER_SEC_F);
	} else if (sim_parse_duration(v, out, err, sizeof err) < 0 || end == v) {
		return usage_error("%s: '%s' is not a duration in seconds", flag, v);
	}
	if (*out == 0 || *out > max)
		return usage_error("%s: '%s' is out of range (0 < S <= %.0f)", flag, v,
				   seconds(max));
	return 0;
}

static int parse_cookie_mode(const char *v, uint8_t *out)
{
	if (!strcmp(v, "auto"))
		*out = SYNACK_SYNCOOKIES_AUTO;
	else if (!strcmp(v, "always"))
		*out = SYNACK_SYNCOOKIES_ALWAYS;
	else if (!strcmp(v, "never"))
		*out = SYNACK_SYNCOOKIES_NEVER;
	else
		return usage_error("--syncookies: '%s' is not auto, always or never", v);
	return 0;
}

static unsigned long long count_max(const char *flag)
{
	if (!strcmp(flag, "--rate"))
		return FLOOD_RATE_MAX;
	if (!strcmp(flag, "--clients-rate"))
		return FLOOD_CLIENTS_MAX;
	if (!strcmp(flag, "--seed"))
		return UINT64_MAX;
	return FLOOD_U16_MAX; /* --backlog, --synq, --per-source */
}

static int parse_count(flood_opts *o, const char *flag, const char *v)
{
	unsigned long long n;

	if (parse_uint(flag, v, count_max(flag), &n) < 0)
		return -EINVAL;
	if (!strcmp(flag, "--rate"))
		o->rate = n;
	else if (!strcmp(flag, "--clients-rate"))
		o->clients_rate = n;
	else if (!strcmp(flag, "--backlog"))
		o->backlog = (uint32_t)n;
	else if (!strcmp(flag, "--synq"))
		o->synq = (uint32_t)n;
	else if (!strcmp(flag, "--per-source"))
		o->per_source = (uint16_t)n;
	else
		o->seed = n;
	return 0;
}

static int parse_value(flood_opts *o, const char *flag, const char *v)
{
	if (!strcmp(flag, "--duration"))
		return parse_seconds(flag, v, FLOOD_DURATION_MAX, &o->duration);
	if (!strcmp(flag, "--interval")) {
		o->interval_set = true;
		return parse_seconds(flag, v, FLOOD_DURATION_MAX, &o->interval);
	}
	if (!strcmp(flag, "--syncookies"))
		return parse_cookie_mode(v, &o->syncookies);
	if (!strcmp(flag, "--svg")) {
		o->svg = v;
		return 0;
	}
	return parse_count(o, flag, v);
}

static bool takes_value(const char *flag)
{
	static const char *const flags[] = {
	    "--rate", "--duration",   "--clients-rate", "--syncookies", "--backlog",
	    "--synq", "--per-source", "--seed",		"--interval",	"--svg"};

	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
		if (!strcmp(flag, flags[i]))
			return true;
	return false;
}

static int check_opts(flood_opts *o)
{
	if (o->interval > o->duration && !o->interval_set)
		o->interval = o->duration; /* the default second is too long */
	if (o->interval > o->duration)
		return usage_error("--interval is longer than --duration");
	if (o->duration / o->interval > FLOOD_INTERVALS_MAX)
		return usage_error("more than %d intervals: raise --interval", FLOOD_INTERVALS_MAX);
	return 0;
}

/* Returns 0, 1 for --help, or -EINVAL after printing the reason. */
static int parse_args(int argc, char **argv, flood_opts *o)
{
	for (int i = 1; i < argc; i++) {
		char flag[FLAG_MAX];
		const char *arg = argv[i], *eq = strchr(arg, '='), *value;

		snprintf(flag, sizeof flag, "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
		if (!strcmp(flag, "--help") || !strcmp(flag, "-h"))
			return 1;
		if (!strcmp(flag, "--json") && !eq)
			o->json = true;
		else if (!strcmp(flag, "--ipv6") && !eq)
			o->ipv6 = true;
		else if (!strcmp(flag, "--spoof-ts") && !eq)
			o->spoof_ts = true;
		else if (!takes_value(flag))
			return usage_error("unknown option '%s'", arg);
		else {
			value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
			if (!value)
				return usage_error("%s needs a value", flag);
			if (parse_value(o, flag, value) < 0)
				return -EINVAL;
		}
	}
	return check_opts(o);
}

static void default_opts(flood_opts *o)
{
	memset(o, 0, sizeof *o);
	o->rate = FLOOD_RATE_DEFAULT;
	o->clients_rate = FLOOD_CLIENTS_DEFAULT;
	o->duration = FLOOD_DURATION_DEFAULT;
	o->interval = FLOOD_INTERVAL_DEFAULT;
	o->syncookies = SYNACK_SYNCOOKIES_AUTO;
	o->backlog = FLOOD_BACKLOG_DEFAULT;
	o->seed = FLOOD_SEED_DEFAULT;
}

static double wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / NS_PER_SEC_F;
}

int cmd_flood(int argc, char **argv)
{
	flood f;
	struct summary sm;
	double t0;
	int rc;

	memset(&f, 0, sizeof f);
	default_opts(&f.o);
	rc = parse_args(argc, argv, &f.o);
	if (rc) {
		if (rc > 0)
			usage(stdout);
		return rc > 0 ? EXIT_OK : EXIT_USAGE;
	}
	t0 = wall_seconds();
	rc = flood_setup(&f);
	if (rc < 0) {
		fprintf(stderr, "synack flood: setup failed: %s\n", strerror(-rc));
		flood_free(&f);
		return EXIT_FAIL;
	}
	if (!f.o.json)
		print_header(&f);
	rc = flood_run(&f);
	summarize(&f, &sm, wall_seconds() - t0);
	if (f.o.json)
		print_summary_json(&f, &sm);
	else
		print_summary_text(&f, &sm);
	if (rc == 0 && f.o.svg && write_svg(&f) < 0)
		rc = -EIO;
	if (rc < 0 && rc != -EIO)
		fprintf(stderr, "synack flood: %s\n", strerror(-rc));
	flood_free(&f);
	return rc < 0 ? EXIT_FAIL : EXIT_OK;
}
