/*
 * connect.c — `synack connect`: a userspace TCP client on a TUN device.
 *
 * The stack owns --from on the device and opens a connection to --to. Once
 * it is established the command prints the handshake time, sends --send or
 * the contents of --send-file, half-closes, and reads until the peer closes
 * (copying to stdout with --recv, counting otherwise). With nothing to send
 * and no --recv it closes right after the handshake: a handshake probe.
 *
 * Each failure has its own one-line message and exit status, so that
 * scripts can tell a closed port from a silent one from a missing route.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "drivers/sim.h"
#include "drivers/tun.h"
#include "synack/synack.h"

/* Exit statuses beyond cmd.h's, one per way a connection fails. */
#define EXIT_REFUSED 3	   /* RST answered the SYN (ECONNREFUSED) */
#define EXIT_TIMEDOUT 4	   /* no answer in time (ETIMEDOUT or --timeout) */
#define EXIT_UNREACHABLE 5 /* ICMP unreachable (EHOSTUNREACH, ENETUNREACH) */
#define EXIT_RESET 6	   /* reset once established (ECONNRESET, EPIPE) */

#define CONNECT_TIMEOUT_DEFAULT 30.0
#define CONNECT_TIMEOUT_MAX 86400.0
#define CONNECT_SYN_RETRIES_MAX 127
/* After our close: how long to wait for the FIN to be acknowledged, since
 * the process (unlike a kernel) takes its stack with it when it exits. */
#define CONNECT_LINGER (2 * SYNACK_SEC)
#define CONNECT_CHUNK 16384
#define NS_PER_MS_F 1e6
#define ERR_MAX 256
#define ADDR_MAX 64

enum phase { PH_CONNECTING, PH_DATA, PH_LINGER, PH_DONE };

struct connect_opts {
	const char *device;
	synack_addr from, to;
	const char *send_text;
	const char *send_file;
	const char *pcap;
	bool recv, trace;
	double timeout;
	int syn_retries; /* -1: the stack's default */
	bool impaired;
	sim_impair imp;
};

struct client {
	struct connect_opts o;
	synack_stack *stack;
	tun_driver *drv;
	synack_conn *c;
	enum phase phase;
	synack_time give_up, linger_until;
	int status;
	FILE *file;	     /* --send-file */
	const uint8_t *text; /* --send */
	size_t text_len, text_off;
	uint8_t buf[CONNECT_CHUNK]; /* file data not yet taken by the stack */
	size_t buf_off, buf_len;
	bool sent_all, eof;
	uint64_t received;
};

/* ------------------------------------------------------------------------ */
/* Arguments                                                                 */

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: synack connect --tun DEV --from ADDR --to ADDR:PORT\n"
	    "                      [--send TEXT | --send-file FILE] [--recv] [--timeout S]\n"
	    "                      [--syn-retries N] [--trace] [--pcap FILE] [--impair SPEC]\n"
	    "\n"
	    "A userspace TCP client: a synack stack owning ADDR on the TUN device DEV\n"
	    "connects to ADDR:PORT and prints the handshake time. Then it sends TEXT or\n"
	    "FILE, half-closes, and reads until the peer closes: to stdout with --recv.\n"
	    "\n"
	    "  --timeout S      give up after S seconds in all (default %g)\n"
	    "  --syn-retries N  SYN retransmissions before ETIMEDOUT (TCP_SYNCNT)\n"
	    "  --trace          print each packet as tcpdump -n does, and the counters\n"
	    "                   at the end (to stderr)\n"
	    "  --pcap FILE      write the stack's packets to a pcap file\n"
	    "  --impair SPEC    seeded impairments between the device and the stack\n"
	    "                   (loss=0.1,delay=50ms,jitter=10ms,reorder=0.05,dup=0.01,seed=7)\n"
	    "\n"
	    "Exit status:\n"
	    "  0  connected, data exchanged, closed\n"
	    "  1  another failure (the device, the file...)\n"
	    "  2  bad arguments\n"
	    "  %d  refused: the peer answered the SYN with a reset\n"
	    "  %d  timed out: no answer after the retries, or --timeout passed\n"
	    "  %d  unreachable: ICMP host or network unreachable\n"
	    "  %d  reset: the established connection was reset\n",
	    CONNECT_TIMEOUT_DEFAULT, EXIT_REFUSED, EXIT_TIMEDOUT, EXIT_UNREACHABLE, EXIT_RESET);
}

#define usage_error(...) cli_usage_error("connect", __VA_ARGS__)

static int parse_valued(struct connect_opts *o, const char *a, const char *v)
{
	char err[ERR_MAX], *end;

	if (!strcmp(a, "--tun")) {
		o->device = v;
	} else if (!strcmp(a, "--from")) {
		if (synack_addr_parse(v, &o->from))
			return usage_error("'%s' is not an address", v);
	} else if (!strcmp(a, "--to")) {
		if (synack_addr_parse(v, &o->to) || !o->to.port)
			return usage_error("'%s' is not ADDR:PORT", v);
	} else if (!strcmp(a, "--send")) {
		o->send_text = v;
	} else if (!strcmp(a, "--send-file")) {
		o->send_file = v;
	} else if (!strcmp(a, "--pcap")) {
		o->pcap = v;
	} else if (!strcmp(a, "--timeout")) {
		o->timeout = strtod(v, &end);
		if (!*v || *end || !(o->timeout > 0) || o->timeout > CONNECT_TIMEOUT_MAX)
			return usage_error("bad --timeout '%s' (seconds)", v);
	} else if (!strcmp(a, "--syn-retries")) {
		long n = strtol(v, &end, 10);

		if (!*v || *end || n < 1 || n > CONNECT_SYN_RETRIES_MAX)
			return usage_error("bad --syn-retries '%s'", v);
		o->syn_retries = (int)n;
	} else if (!strcmp(a, "--impair")) {
		if (sim_impair_parse(v, &o->imp, err, sizeof err))
			return usage_error("--impair: %s", err);
		o->impaired = true;
	} else {
		return usage_error("unknown option '%s'", a);
	}
	return -1;
}

static bool takes_value(const char *a)
{
	static const char *const valued[] = {"--tun",	  "--from",	   "--to",
					     "--send",	  "--send-file",   "--pcap",
					     "--timeout", "--syn-retries", "--impair"};

	for (size_t i = 0; i < sizeof valued / sizeof valued[0]; i++)
		if (!strcmp(a, valued[i]))
			return true;
	return false;
}

static int check_args(const struct connect_opts *o)
{
	if (!o->device)
		return usage_error("%s", "--tun DEV is required");
	if (!o->from.family)
		return usage_error("%s", "--from ADDR is required");
	if (!o->to.family)
		return usage_error("%s", "--to ADDR:PORT is required");
	if (o->from.family != o->to.family)
		return usage_error("%s", "--from and --to must be of the same family");
	if (o->send_text && o->send_file)
		return usage_error("%s", "--send and --send-file exclude each other");
	return -1;
}

/* Returns -1 to run, or the exit status. */
static int parse_args(int argc, char **argv, struct connect_opts *o)
{
	memset(o, 0, sizeof *o);
	o->timeout = CONNECT_TIMEOUT_DEFAULT;
	o->syn_retries = -1;
	sim_impair_none(&o->imp);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int r;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(a, "--recv")) {
			o->recv = true;
		} else if (!strcmp(a, "--trace")) {
			o->trace = true;
		} else if (takes_value(a)) {
			if (++i >= argc)
				return usage_error("%s needs a value", a);
			if ((r = parse_valued(o, a, argv[i])) >= 0)
				return r;
		} else {
			return usage_error("unknown option '%s'", a);
		}
	}
	return check_args(o);
}

/* ------------------------------------------------------------------------ */
/* Outcomes                                                                  */

static void finish(struct client *cl, int status)
{
	cl->status = status;
	cl->phase = PH_DONE;
	tun_driver_stop(cl->drv);
}

/* The one-line message and exit status for a connection error. */
static void report_error(struct client *cl, int err)
{
	char to[ADDR_MAX];
	int status = EXIT_FAIL;
	const char *what;

	synack_addr_format(&cl->o.to, true, to, sizeof to);
	switch (-err) {
	case ECONNREFUSED:
		what = "connection refused";
		status = EXIT_REFUSED;
		break;
	case ETIMEDOUT:
		what = "connection timed out";
		status = EXIT_TIMEDOUT;
		break;
	case EHOSTUNREACH:
		what = "host unreachable";
		status = EXIT_UNREACHABLE;
		break;
	case ENETUNREACH:
		what = "network unreachable";
		status = EXIT_UNREACHABLE;
		break;
	case ECONNRESET:
	case EPIPE:
		what = "connection reset by peer";
		status = EXIT_RESET;
		break;
	default:
		what = strerror(-err);
		break;
	}
	fprintf(stderr, "synack connect: %s: %s\n", to, what);
	if (cl->c) {
		synack_close(cl->c, tun_now());
		cl->c = NULL;
	}
	finish(cl, status);
}

static void report_established(struct client *cl)
{
	synack_info info;
	char from[ADDR_MAX], to[ADDR_MAX];

	synack_conn_info(cl->c, &info);
	synack_addr_format(&info.local, true, from, sizeof from);
	synack_addr_format(&info.remote, true, to, sizeof to);
	fprintf(stderr, "synack connect: connected %s -> %s, handshake %.3f ms\n", from, to,
		(double)info.handshake_ns / NS_PER_MS_F);
}

/* ------------------------------------------------------------------------ */
/* Data                                                                      */

/* Refills the buffer from --send-file. Returns 0 or -1 (reported). */
static int refill(struct client *cl)
{
	if (cl->buf_off < cl->buf_len || !cl->file)
		return 0;
	cl->buf_off = 0;
	cl->buf_len = fread(cl->buf, 1, sizeof cl->buf, cl->file);
	if (cl->buf_len == 0 && ferror(cl->file)) {
		fprintf(stderr, "synack connect: reading %s failed\n", cl->o.send_file);
		return -1;
	}
	return 0;
}

/* Gives the stack what it takes. Returns 0 or a negative errno. */
static int send_some(struct client *cl, synack_time now)
{
	while (!cl->sent_all) {
		const uint8_t *p;
		size_t *off, len;
		ssize_t n;

		if (refill(cl))
			return -EIO;
		if (cl->file) {
			p = cl->buf + cl->buf_off, len = cl->buf_len - cl->buf_off;
			off = &cl->buf_off;
		} else {
			p = cl->text + cl->text_off, len = cl->text_len - cl->text_off;
			off = &cl->text_off;
		}
		if (len == 0) {
			cl->sent_all = true;
			return synack_shutdown(cl->c, SYNACK_SHUT_WR, now);
		}
		n = synack_send(cl->c, p, len, now);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		*off += (size_t)n;
	}
	return 0;
}

/* Reads what arrived. Returns 0 or a negative errno. */
static int recv_some(struct client *cl, synack_time now)
{
	uint8_t buf[CONNECT_CHUNK];

	while (!cl->eof) {
		ssize_t n = synack_recv(cl->c, buf, sizeof buf, now);

		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		if (n == 0) {
			cl->eof = true;
			break;
		}
		cl->received += (uint64_t)n;
		if (cl->o.recv && fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return -EIO;
	}
	return 0;
}

static bool wants_data(const struct client *cl)
{
	return cl->o.recv || cl->o.send_text || cl->o.send_file;
}

/* Counts connections whose close is still under way. */
static void count_closing(void *ctx, synack_conn *c)
{
	synack_state st = synack_conn_state(c);

	if (st != SYNACK_TIME_WAIT && st != SYNACK_CLOSED && st != SYNACK_FIN_WAIT_2)
		++*(size_t *)ctx;
}

static void close_and_linger(struct client *cl, synack_time now)
{
	if (cl->o.recv)
		fflush(stdout);
	fprintf(stderr, "synack connect: closed, %llu bytes received\n",
		(unsigned long long)cl->received);
	synack_close(cl->c, now);
	cl->c = NULL;
	cl->phase = PH_LINGER;
	cl->linger_until = now + CONNECT_LINGER;
}

static void data_step(struct client *cl, synack_time now)
{
	int r = send_some(cl, now);

	if (r == 0)
		r = recv_some(cl, now);
	if (r == -EIO) {
		synack_abort(cl->c, now);
		cl->c = NULL;
		finish(cl, EXIT_FAIL);
	} else if (r < 0) {
		report_error(cl, r);
	} else if (cl->sent_all && cl->eof) {
		close_and_linger(cl, now);
	}
}

/* ------------------------------------------------------------------------ */
/* The loop's hooks                                                          */

static void service(void *ctx, synack_time now)
{
	struct client *cl = ctx;
	int err;

	if (cl->phase == PH_CONNECTING) {
		err = synack_conn_take_error(cl->c);
		if (err) {
			report_error(cl, err);
			return;
		}
		if (synack_conn_state(cl->c) == SYNACK_SYN_SENT)
			goto check_time;
		report_established(cl);
		cl->phase = PH_DATA;
		if (!wants_data(cl)) {
			close_and_linger(cl, now);
			goto check_time;
		}
	}
	if (cl->phase == PH_DATA)
		data_step(cl, now);
	if (cl->phase == PH_LINGER) {
		size_t closing = 0;

		synack_stack_each(cl->stack, NULL, count_closing, &closing);
		if (closing == 0 || now >= cl->linger_until)
			finish(cl, EXIT_OK);
	}
check_time:
	if (cl->phase != PH_DONE && cl->phase != PH_LINGER && now >= cl->give_up) {
		fprintf(stderr, "synack connect: gave up after %g s (--timeout)\n", cl->o.timeout);
		report_error(cl, -ETIMEDOUT);
	}
}

static synack_time deadline(void *ctx)
{
	struct client *cl = ctx;

	return cl->phase == PH_LINGER ? cl->linger_until : cl->give_up;
}

static void on_signal(void *ctx, int sig, synack_time now)
{
	struct client *cl = ctx;

	(void)now;
	fprintf(stderr, "synack connect: %s\n", strsignal(sig));
	if (cl->c) {
		synack_abort(cl->c, now);
		cl->c = NULL;
	}
	finish(cl, EXIT_FAIL);
}

/* ------------------------------------------------------------------------ */
/* Setup                                                                     */

static int setup_stack(struct client *cl, tun_config *tc, char *err, size_t errcap)
{
	synack_config cfg;
	int mtu = tun_device_mtu(cl->o.device);
	int r;

	synack_config_default(&cfg);
	if (mtu > 0 && mtu <= UINT16_MAX)
		cfg.mtu = (uint16_t)mtu;
	r = synack_stack_new(&cfg, &cl->stack);
	if (!r)
		r = synack_stack_add_address(cl->stack, &cl->o.from);
	if (r) {
		snprintf(err, errcap, "creating the stack: %s", strerror(-r));
		return r;
	}
	tc->addrs[tc->n_addrs++] = cl->o.from;
	return 0;
}

static int setup(struct client *cl, char *err, size_t errcap)
{
	tun_config tc;
	int r;

	tun_config_default(&tc);
	tc.device = cl->o.device;
	tc.impaired = cl->o.impaired;
	tc.imp = cl->o.imp;
	tc.trace = cl->o.trace;
	tc.trace_out = stderr;
	tc.pcap_path = cl->o.pcap;
	tc.signals[tc.n_signals++] = SIGINT;
	tc.signals[tc.n_signals++] = SIGTERM;
	tc.on_signal = on_signal;
	tc.service = service;
	tc.deadline = deadline;
	tc.ctx = cl;
	if (cl->o.send_file) {
		cl->file = fopen(cl->o.send_file, "rb");
		if (!cl->file) {
			snprintf(err, errcap, "%s: %s", cl->o.send_file, strerror(errno));
			return -errno;
		}
	}
	cl->text = (const uint8_t *)(cl->o.send_text ? cl->o.send_text : "");
	cl->text_len = strlen((const char *)cl->text);
	r = setup_stack(cl, &tc, err, errcap);
	if (!r)
		r = tun_driver_new(&tc, cl->stack, &cl->drv, err, errcap);
	return r;
}

static int start(struct client *cl, char *err, size_t errcap)
{
	synack_conn_opts opts;
	synack_addr local = cl->o.from;
	synack_time now = tun_now();
	int r;

	memset(&opts, 0, sizeof opts);
	if (cl->o.syn_retries > 0)
		opts.syn_retries = (uint8_t)cl->o.syn_retries;
	local.port = 0;
	cl->give_up = now + (synack_time)(cl->o.timeout * (double)SYNACK_SEC);
	r = synack_connect(cl->stack, &local, &cl->o.to, &opts, now, &cl->c);
	if (r)
		snprintf(err, errcap, "connect: %s", strerror(-r));
	return r;
}

int cmd_connect(int argc, char **argv)
{
	struct client *cl = calloc(1, sizeof *cl);
	char err[ERR_MAX] = "";
	int status, r;

	if (!cl)
		return EXIT_FAIL;
	status = parse_args(argc, argv, &cl->o);
	if (status >= 0) {
		free(cl);
		return status;
	}
	r = setup(cl, err, sizeof err);
	if (!r)
		r = start(cl, err, sizeof err);
	if (!r)
		r = tun_driver_run(cl->drv, err, sizeof err);
	if (r) {
		fprintf(stderr, "synack connect: %s\n", err);
		cl->status = EXIT_FAIL;
	}
	if (cl->c)
		synack_abort(cl->c, tun_now());
	if (cl->drv && cl->o.trace)
		tun_driver_print_counters(cl->drv, stderr);
	status = cl->status;
	if (cl->file)
		fclose(cl->file);
	tun_driver_free(cl->drv);
	synack_stack_free(cl->stack);
	free(cl);
	return status;
}
