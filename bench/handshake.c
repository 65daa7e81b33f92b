/*
 * handshake.c — how many full handshake cycles one core does.
 *
 * One cycle: connect, SYN, SYN-ACK, ACK, accept, then the client resets
 * (synack_abort, like SO_LINGER {1, 0}) and the server takes the RST and
 * closes its handle. Both ends' work is counted, with real checksums and
 * RFC 6528 ISNs (the stacks' default randomness). Measured:
 *   (a) synack, packets moved directly between two stacks with
 *       synack_output/synack_input and a virtual clock that advances a few
 *       microseconds per cycle (no simulator queue in the way);
 *   (b) the same cycle through the kernel's sockets on 127.0.0.1;
 *   (c) their ratio;
 *   (d) (a) again with 100,000 connections parked in TIME-WAIT on the
 *       client, made by as many normal closes, and its ratio to (a);
 *   (e) the bytes of a connection block and of a SYN-queue request entry.
 * A benchmark, not a test: it reports, it does not judge.
 *
 * Instructions per cycle (callgrind, x86-64, release build): about 6,000
 * (6,600 at -O2), down from 7,600. Of them, four parses with both checksums
 * verified are about 800 and four builds about 600; two SipHash-2-4 ISNs
 * about 330 and two SipHash-1-3 table hashes about 200 (12-byte messages,
 * two blocks). The SYN-ACK, the ACK and the RST find their connection
 * through the table's one-behind cache and hash nothing, the port offset
 * of a repeated destination is not rehashed, and the connection takes
 * over its request's table slot.
 *
 * Each measurement runs in rounds (--repeat, interleaved with the others)
 * and keeps its best round: on a shared machine the best is the least
 * disturbed, the closest to what the code itself costs.
 *
 *     handshake [--cycles N | --seconds S] [--repeat N] [--timewait N]
 *               [--only synack|kernel|timewait] [--json]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "synack/synack.h"

#define SECONDS_DEFAULT 1.0
/* Rounds of each measurement, interleaved so that a burst of other work on
 * the machine spoils one round of each and not one measurement whole. */
#define REPEAT_DEFAULT 3
#define REPEAT_MAX 1000
#define TIMEWAIT_DEFAULT 100000
/* Virtual time per cycle: a few microseconds, as on a busy host. */
#define CYCLE_NS 2000
/* How often the time-bounded loops look at the clock. */
#define CLOCK_CHECK_CYCLES 1024
#define SERVER_PORT 80
#define BACKLOG 4096
/* SYN, SYN-ACK, ACK and RST. */
#define PACKETS_PER_CYCLE 4
/* TIME-WAIT connections come from their own client addresses with ports
 * chosen here, so they never compete with the measured cycles' ports. */
#define PARK_PORT_LOW 1024
#define PARK_PORTS_PER_ADDR 60000
#define PARK_ADDR_NET 1 /* 198.18.1.x */
/* Long enough that nothing parked expires while we measure. */
#define PARK_TIMEWAIT_MS (3600u * 1000u)
#define NS_PER_SEC 1e9

enum only { ONLY_ALL, ONLY_SYNACK, ONLY_KERNEL, ONLY_TIMEWAIT };

struct opts {
	uint64_t cycles; /* 0: run for `seconds` */
	double seconds;
	uint64_t timewait;
	enum only only;
	unsigned repeat; /* rounds of each measurement; the best is kept */
	bool json;
};

struct result {
	bool done;
	uint64_t cycles;
	double seconds;
	double rate;
	double packets_per_cycle;
	char error[160];
};

/* Two stacks joined back to back, the client at 198.18.0.1 and a listener
 * at 198.18.0.2:80. */
struct pair {
	synack_stack *client, *server;
	synack_listener *listener;
	synack_addr local, remote;
	synack_time now;
	uint64_t packets;
};

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / NS_PER_SEC;
}

static void set_error(struct result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->error, sizeof r->error, fmt, ap);
	va_end(ap);
}

static void addr_v4(synack_addr *a, uint8_t net, uint8_t host, uint16_t port)
{
	static const uint8_t prefix[] = {198, 18};

	memset(a, 0, sizeof *a);
	a->family = SYNACK_AF_INET;
	memcpy(a->ip, prefix, sizeof prefix);
	a->ip[2] = net;
	a->ip[3] = host;
	a->port = port;
}

/* ------------------------------------------------------------------------ */
/* synack in memory                                                          */

static int pair_open(struct pair *p, uint32_t timewait_ms)
{
	synack_config cfg;
	int err;

	memset(p, 0, sizeof *p);
	synack_config_default(&cfg);
	if (timewait_ms)
		cfg.timewait_ms = timewait_ms;
	addr_v4(&p->local, 0, 1, 0);
	addr_v4(&p->remote, 0, 2, SERVER_PORT);
	err = synack_stack_new(&cfg, &p->client);
	if (!err)
		err = synack_stack_new(&cfg, &p->server);
	if (!err)
		err = synack_stack_add_address(p->client, &p->local);
	if (!err)
		err = synack_stack_add_address(p->server, &p->remote);
	if (!err)
		err = synack_listen(p->server, &p->remote, BACKLOG, NULL, &p->listener);
	return err;
}

static void pair_close(struct pair *p)
{
	if (p->client)
		synack_stack_free(p->client);
	if (p->server)
		synack_stack_free(p->server);
}

/* Moves every packet `from` has queued into `to`. */
static void move(struct pair *p, synack_stack *from, synack_stack *to)
{
	const uint8_t *pkt;
	size_t n;

	while ((pkt = synack_output_next(from, &n))) {
		synack_input(to, pkt, n, p->now);
		p->packets++;
	}
}

static void run_timers(struct pair *p)
{
	if (synack_deadline(p->client) <= p->now)
		synack_timeout(p->client, p->now);
	if (synack_deadline(p->server) <= p->now)
		synack_timeout(p->server, p->now);
}

/* One cycle; 0 or a negative errno. */
static inline int synack_cycle(struct pair *p, const synack_addr *local)
{
	synack_conn *c, *s;
	int err;

	p->now += CYCLE_NS;
	err = synack_connect(p->client, local, &p->remote, NULL, p->now, &c);
	if (err)
		return err;
	move(p, p->client, p->server); /* SYN */
	move(p, p->server, p->client); /* SYN-ACK */
	move(p, p->client, p->server); /* ACK */
	err = synack_accept(p->listener, &s);
	if (err) {
		synack_abort(c, p->now);
		return err;
	}
	synack_abort(c, p->now);
	move(p, p->client, p->server); /* RST */
	synack_close(s, p->now);
	move(p, p->server, p->client); /* nothing, unless the RST was refused */
	run_timers(p);
	return 0;
}

/* The measured loop; named so that callgrind can count only it:
 * valgrind --tool=callgrind --toggle-collect=run_synack_cycles ... */
__attribute__((noinline)) int run_synack_cycles(struct pair *p, const synack_addr *local,
						uint64_t cycles, double seconds, uint64_t *done);

int run_synack_cycles(struct pair *p, const synack_addr *local, uint64_t cycles, double seconds,
		      uint64_t *done)
{
	double deadline = cycles ? 0 : now_seconds() + seconds;
	uint64_t i;
	int err = 0;

	for (i = 0; cycles ? i < cycles : true; i++) {
		if (!cycles && i % CLOCK_CHECK_CYCLES == 0 && now_seconds() >= deadline)
			break;
		err = synack_cycle(p, local);
		if (err)
			break;
	}
	*done = i;
	return err;
}

/* One round; r keeps the best round so far (the least disturbed by
 * whatever else the machine runs). */
static void measure_pair(struct pair *p, const struct opts *o, struct result *r)
{
	uint64_t packets0 = p->packets, done;
	double t0 = now_seconds();
	int err = run_synack_cycles(p, &p->local, o->cycles, o->seconds, &done);
	double seconds = now_seconds() - t0;

	if (err) {
		set_error(r, "cycle %" PRIu64 " failed: %s", done, strerror(-err));
		r->done = false;
		return;
	}
	if (r->done && (double)done / seconds <= r->rate)
		return;
	r->seconds = seconds;
	r->cycles = done;
	r->rate = (double)done / seconds;
	r->packets_per_cycle = done ? (double)(p->packets - packets0) / (double)done : 0;
	r->done = true;
}

/* A few cycles checked step by step, so that a broken engine is reported
 * instead of measured. */
static int sanity_check(struct pair *p, struct result *r)
{
	uint64_t packets0 = p->packets;
	size_t parked = synack_stack_conn_count(p->client) + synack_stack_timewait_count(p->client);

	for (int i = 0; i < 2; i++) {
		int err = synack_cycle(p, &p->local);

		if (err) {
			set_error(r, "handshake cycle failed: %s", strerror(-err));
			return -1;
		}
	}
	if (p->packets - packets0 != 2 * PACKETS_PER_CYCLE ||
	    synack_stack_conn_count(p->client) + synack_stack_timewait_count(p->client) != parked ||
	    synack_stack_conn_count(p->server)) {
		set_error(r,
			  "a cycle moved %.1f packets (expected %d) and left %zu+%zu connections",
			  (double)(p->packets - packets0) / 2, PACKETS_PER_CYCLE,
			  synack_stack_conn_count(p->client) + synack_stack_timewait_count(p->client) - parked,
			  synack_stack_conn_count(p->server));
		return -1;
	}
	return 0;
}

static int setup_synack(struct pair *p, struct result *r)
{
	int err = pair_open(p, 0);

	if (err) {
		set_error(r, "stack setup failed: %s", strerror(-err));
		return err;
	}
	return sanity_check(p, r);
}

/* ------------------------------------------------------------------------ */
/* TIME-WAIT                                                                 */

/* Moves packets both ways until both stacks are quiet. */
static void shuttle(struct pair *p)
{
	uint64_t before;

	do {
		before = p->packets;
		move(p, p->client, p->server);
		move(p, p->server, p->client);
	} while (p->packets != before);
}

/* One normal connection, closed by the client first: it stays in
 * TIME-WAIT on the client. */
static int park_one(struct pair *p, uint64_t i)
{
	synack_addr local;
	synack_conn *c, *s;
	int err;

	addr_v4(&local, PARK_ADDR_NET, (uint8_t)(1 + i / PARK_PORTS_PER_ADDR),
		(uint16_t)(PARK_PORT_LOW + i % PARK_PORTS_PER_ADDR));
	if (i % PARK_PORTS_PER_ADDR == 0) {
		synack_addr ip = local;

		ip.port = 0;
		err = synack_stack_add_address(p->client, &ip);
		if (err)
			return err;
	}
	p->now += CYCLE_NS;
	err = synack_connect(p->client, &local, &p->remote, NULL, p->now, &c);
	if (err)
		return err;
	shuttle(p);
	err = synack_accept(p->listener, &s);
	if (err)
		return err;
	synack_close(c, p->now);
	shuttle(p);
	synack_close(s, p->now);
	shuttle(p);
	return 0;
}

static int setup_timewait(struct pair *p, const struct opts *o, struct result *r,
			  double *park_seconds)
{
	int err = pair_open(p, PARK_TIMEWAIT_MS);
	double t0 = now_seconds();
	uint64_t i;

	for (i = 0; !err && i < o->timewait; i++)
		err = park_one(p, i);
	*park_seconds = now_seconds() - t0;
	if (err) {
		set_error(r, "parking connection %" PRIu64 " failed: %s", i, strerror(-err));
		return -1;
	}
	if (synack_stack_timewait_count(p->client) != o->timewait ||
	    synack_stack_conn_count(p->client) || synack_stack_conn_count(p->server)) {
		set_error(r, "%" PRIu64 " full closes left %zu client TIME-WAIT entries, %zu client and %zu server blocks",
			  o->timewait, synack_stack_timewait_count(p->client),
			  synack_stack_conn_count(p->client), synack_stack_conn_count(p->server));
		return -1;
	}
	return sanity_check(p, r);
}

/* ------------------------------------------------------------------------ */
/* The kernel on loopback                                                    */

static int kernel_listener(struct sockaddr_in *sa)
{
	socklen_t len = sizeof *sa;
	int one = 1;
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0)
		return -1;
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(l, (struct sockaddr *)sa, sizeof *sa) < 0 || listen(l, BACKLOG) < 0 ||
	    getsockname(l, (struct sockaddr *)sa, &len) < 0) {
		close(l);
		return -1;
	}
	return l;
}

static int kernel_cycle(int l, const struct sockaddr_in *sa)
{
	static const struct linger reset = {.l_onoff = 1, .l_linger = 0};
	int c = socket(AF_INET, SOCK_STREAM, 0);
	int s;

	if (c < 0)
		return -errno;
	if (connect(c, (const struct sockaddr *)sa, sizeof *sa) < 0) {
		int err = -errno;

		close(c);
		return err;
	}
	s = accept(l, NULL, NULL);
	if (s < 0) {
		int err = -errno;

		close(c);
		return err;
	}
	setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
	close(c); /* RST */
	close(s);
	return 0;
}

static void bench_kernel(const struct opts *o, struct result *best)
{
	struct result round = {0}, *r = &round;
	struct sockaddr_in sa;
	int l = kernel_listener(&sa);
	double t0, deadline;
	uint64_t i;
	int err = 0;

	if (l < 0) {
		set_error(best, "no loopback listener: %s", strerror(errno));
		return;
	}
	t0 = now_seconds();
	deadline = t0 + o->seconds;
	for (i = 0; o->cycles ? i < o->cycles : true; i++) {
		if (!o->cycles && i % CLOCK_CHECK_CYCLES == 0 && now_seconds() >= deadline)
			break;
		err = kernel_cycle(l, &sa);
		if (err)
			break;
	}
	r->seconds = now_seconds() - t0;
	r->cycles = i;
	close(l);
	if (err) {
		set_error(best, "cycle %" PRIu64 " failed: %s", i, strerror(-err));
		best->done = false;
		return;
	}
	r->rate = (double)i / r->seconds;
	r->done = true;
	if (!best->done || r->rate > best->rate)
		*best = round;
}

/* ------------------------------------------------------------------------ */
/* Report                                                                    */

static const char *const callgrind_hint =
    "valgrind --tool=callgrind --toggle-collect=run_synack_cycles "
    "bench/handshake --cycles 100000 --only synack; then instructions per cycle = "
    "the Ir total (callgrind_annotate callgrind.out.PID | head) / 100000";

static void print_rate(const char *label, const struct result *r)
{
	if (r->done)
		printf("%-40s %12.0f cycles/s  (%" PRIu64 " cycles in %.3f s)\n", label, r->rate,
		       r->cycles, r->seconds);
	else if (r->error[0])
		printf("%-40s failed: %s\n", label, r->error);
}

static void print_text(const struct opts *o, const struct result *a, const struct result *k,
		       const struct result *t, uint64_t parked, double park_seconds)
{
	printf("synack %s handshake cycles, one core: connect, SYN, SYN-ACK, ACK, accept, RST, "
	       "close (best of %u rounds)\n",
	       SYNACK_VERSION_STRING, o->repeat);
	print_rate("(a) synack, in memory", a);
	if (a->done)
		printf("%-40s %12.2f\n", "    packets per cycle", a->packets_per_cycle);
	print_rate("(b) kernel, 127.0.0.1", k);
	if (a->done && k->done)
		printf("%-40s %12.1fx\n", "(c) synack / kernel", a->rate / k->rate);
	if (t->done || t->error[0]) {
		char label[64];

		snprintf(label, sizeof label, "(d) synack, %" PRIu64 " in TIME-WAIT", parked);
		print_rate(label, t);
		if (t->done)
			printf("%-40s %12.1f s\n", "    time to park them", park_seconds);
	}
	if (a->done && t->done)
		printf("%-40s %12.1f%%\n", "    (d) / (a)", 100.0 * t->rate / a->rate);
	printf("(e) connection block %zu bytes, request entry %zu bytes, TIME-WAIT entry %zu bytes\n",
	       synack_conn_block_size(), synack_request_entry_size(), synack_timewait_entry_size());
	printf("instructions per cycle: %s\n", callgrind_hint);
}

static void json_result(const char *name, const struct result *r, bool comma)
{
	printf("\"%s\":{\"ok\":%s,\"cycles\":%" PRIu64 ",\"seconds\":%.6f,\"cycles_per_sec\":%.1f",
	       name, r->done ? "true" : "false", r->cycles, r->seconds, r->rate);
	if (r->error[0])
		printf(",\"error\":\"%s\"", r->error);
	printf("}%s", comma ? "," : "");
}

static void print_json(const struct result *a, const struct result *k, const struct result *t,
		       uint64_t parked)
{
	printf("{\"version\":\"%s\",", SYNACK_VERSION_STRING);
	json_result("synack", a, true);
	json_result("kernel", k, true);
	json_result("timewait", t, true);
	printf("\"timewait_parked\":%" PRIu64 ",", parked);
	if (a->done && k->done)
		printf("\"ratio_kernel\":%.3f,", a->rate / k->rate);
	if (a->done && t->done)
		printf("\"ratio_timewait\":%.4f,", t->rate / a->rate);
	printf("\"conn_block_bytes\":%zu,\"request_entry_bytes\":%zu,\"timewait_entry_bytes\":%zu}\n",
	       synack_conn_block_size(), synack_request_entry_size(), synack_timewait_entry_size());
}

/* ------------------------------------------------------------------------ */
/* Options                                                                   */

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: handshake [--cycles N | --seconds S] [--repeat N] [--timewait N] "
	    "[--only synack|kernel|timewait] [--json]\n"
	    "  --cycles N    run exactly N cycles per round (for callgrind)\n"
	    "  --seconds S   run each round for S seconds (default %.0f)\n"
	    "  --repeat N    rounds of each measurement, best kept (default %d; 1 with --cycles)\n"
	    "  --timewait N  connections parked in TIME-WAIT for (d) (default %d)\n"
	    "  --only WHAT   run one measurement\n"
	    "  --json        one JSON object\n"
	    "instructions per cycle: %s\n",
	    SECONDS_DEFAULT, REPEAT_DEFAULT, TIMEWAIT_DEFAULT, callgrind_hint);
}

static int bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "handshake: ");
	fprintf(stderr, fmt, arg ? arg : "(missing)");
	fprintf(stderr, " (see --help)\n");
	return -1;
}

static int parse_count(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return *end || errno || !*out ? -1 : 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;

		if (!strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--json")) {
			o->json = true;
		} else if (!strcmp(a, "--cycles")) {
			if (parse_count(v, &o->cycles))
				return bad("--cycles needs a positive count, not '%s'", v);
			i++;
		} else if (!strcmp(a, "--repeat")) {
			uint64_t n;

			if (parse_count(v, &n) || n > REPEAT_MAX)
				return bad("--repeat needs a count from 1 to 1000, not '%s'", v);
			o->repeat = (unsigned)n;
			i++;
		} else if (!strcmp(a, "--timewait")) {
			if (parse_count(v, &o->timewait))
				return bad("--timewait needs a positive count, not '%s'", v);
			i++;
		} else if (!strcmp(a, "--seconds")) {
			o->seconds = v ? strtod(v, &end) : 0;
			if (!v || *end || !(o->seconds > 0))
				return bad("--seconds needs a positive number, not '%s'", v);
			i++;
		} else if (!strcmp(a, "--only")) {
			if (v && !strcmp(v, "synack"))
				o->only = ONLY_SYNACK;
			else if (v && !strcmp(v, "kernel"))
				o->only = ONLY_KERNEL;
			else if (v && !strcmp(v, "timewait"))
				o->only = ONLY_TIMEWAIT;
			else
				return bad("--only takes synack, kernel or timewait, not '%s'", v);
			i++;
		} else {
			return bad("unknown option '%s'", a);
		}
	}
	return 0;
}

/* One core, so that "per core" means what it says. */
static void pin_to_one_cpu(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof set, &set);
}

static bool wants(const struct opts *o, enum only what)
{
	return o->only == ONLY_ALL || o->only == what;
}

static void run_rounds(const struct opts *o, struct result *a, struct result *k, struct result *t,
		       uint64_t *parked, double *park_seconds)
{
	struct pair ap, tp;
	bool a_ok = wants(o, ONLY_SYNACK) && setup_synack(&ap, a) == 0;
	bool t_ok = wants(o, ONLY_TIMEWAIT) && setup_timewait(&tp, o, t, park_seconds) == 0;

	for (unsigned round = 0; round < o->repeat; round++) {
		if (a_ok)
			measure_pair(&ap, o, a);
		if (wants(o, ONLY_KERNEL) && !k->error[0])
			bench_kernel(o, k);
		if (t_ok)
			measure_pair(&tp, o, t);
	}
	if (wants(o, ONLY_SYNACK))
		pair_close(&ap);
	if (wants(o, ONLY_TIMEWAIT)) {
		*parked = synack_stack_timewait_count(tp.client);
		if (t->done && *parked != o->timewait)
			set_error(t, "TIME-WAIT count changed during the run: %" PRIu64, *parked);
		pair_close(&tp);
	}
}

int main(int argc, char **argv)
{
	struct opts o = {.seconds = SECONDS_DEFAULT, .timewait = TIMEWAIT_DEFAULT};
	struct result a = {0}, k = {0}, t = {0};
	uint64_t parked = 0;
	double park_seconds = 0;

	if (parse_args(argc, argv, &o))
		return 2;
	if (!o.repeat)
		o.repeat = o.cycles ? 1 : REPEAT_DEFAULT;
	pin_to_one_cpu();
	run_rounds(&o, &a, &k, &t, &parked, &park_seconds);
	if (o.json)
		print_json(&a, &k, &t, parked);
	else
		print_text(&o, &a, &k, &t, parked, park_seconds);
	return a.error[0] || k.error[0] || t.error[0] ? 1 : 0;
}
