/*
 * serve.c — `synack serve`: a userspace TCP server on a TUN device.
 *
 * One synack stack owns the --listen addresses on the device; the kernel on
 * the other side of the device (curl, Python, anything) talks to it as to
 * any host. The applications are small on purpose: echo, discard and a
 * minimal HTTP/1.1 server (GET and HEAD of one page, keep-alive and
 * Connection: close honoured).
 *
 * The stack reports what happened through events; the handler only marks
 * connections dirty (the engine is not re-entered from its own callback),
 * and the driver's service hook, run after each turn, accepts, reads,
 * writes and closes. Each connection keeps a bounded output buffer: when it
 * is full the connection stops reading, so a peer that does not read its
 * echo sees the receive window close instead of memory growing.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd.h"
#include "drivers/sim.h"
#include "drivers/tun.h"
#include "drivers/tun_ss.h"
#include "synack/synack.h"

#define SERVE_LISTEN_MAX 4
#define SERVE_BACKLOG_DEFAULT 128
#define SERVE_OUT_CAP (64 * 1024) /* per connection: echo data or HTTP replies */
#define SERVE_REQ_CAP 8192	  /* the largest HTTP request head accepted */
#define SERVE_IO_CHUNK 16384
/* Rounds of read-process-write per connection before the others get a
 * turn. */
#define SERVE_ROUNDS_MAX 16
/* After SIGINT/SIGTERM: how long closing connections may take before the
 * process exits anyway (a second signal exits at once). */
#define SERVE_STOP_GRACE (2 * SYNACK_SEC)
#define SERVE_STATS_MAX 86400
#define SERVE_DEFER_MAX_S 3600 /* a defer-accept longer than an hour is a typo */
#define MS_PER_S 1000
#define ERR_MAX 256
#define ADDR_MAX 64

enum app { APP_ECHO, APP_DISCARD, APP_HTTP };

static const char *const app_names[] = {"echo", "discard", "http"};

struct serve_opts {
	const char *device;
	synack_addr listen[SERVE_LISTEN_MAX];
	size_t n_listen;
	enum app app;
	int backlog;
	const char *pcap;
	bool trace, info;
	unsigned stats_sec;
	bool impaired;
	sim_impair imp;
	int syncookies;            /* SYNACK_SYNCOOKIES_* */
	synack_conn_opts lopts;    /* --synq, --fastopen, --defer-accept */
};

struct serve;

struct client {
	struct serve *srv;
	synack_conn *c;
	struct client *prev, *next; /* every open client */
	struct client *dirty_next;
	bool dirty;
	bool eof;	  /* the peer sent its FIN */
	bool close_after; /* HTTP: close once the reply is out */
	uint8_t *out;	  /* bytes waiting for room in the send buffer */
	size_t out_off, out_len;
	char *req; /* HTTP request head being gathered */
	size_t req_len;
};

struct serve {
	struct serve_opts o;
	synack_stack *stack;
	tun_driver *drv;
	synack_listener *listeners[SERVE_LISTEN_MAX];
	struct client *clients;
	struct client *dirty, *dirty_tail; /* FIFO of clients to service */
	bool accept_pending;
	bool stopping;
	synack_time stop_by;
	synack_time next_stats;
	uint64_t accepted, served_requests;
	uint8_t io[SERVE_IO_CHUNK];
};

/* ------------------------------------------------------------------------ */
/* Arguments                                                                 */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: synack serve --tun DEV --listen ADDR:PORT [--listen ADDR:PORT...]\n"
		"                    [--app echo|discard|http] [--backlog N] [--pcap FILE]\n"
		"                    [--trace] [--stats SECONDS] [--info] [--impair SPEC]\n"
		"                    [--syncookies auto|always|never] [--synq N] [--fastopen N]\n"
		"                    [--defer-accept SECONDS]\n"
		"\n"
		"A userspace TCP server: a synack stack attached to the TUN device DEV\n"
		"(which must exist: see `synack lab up`), owning the --listen addresses.\n"
		"\n"
		"  --tun DEV        the TUN device (IFF_TUN | IFF_NO_PI)\n"
		"  --listen A:P     address and port to listen on (up to %d, v4 or v6)\n"
		"  --app APP        echo (default): send back what arrives; discard: read\n"
		"                   and drop; http: answer GET and HEAD with a small page\n"
		"  --backlog N      accept queue length (default %d)\n"
		"  --pcap FILE      write the stack's packets to a pcap file\n"
		"  --trace          print each packet as tcpdump -n does\n"
		"  --stats SECONDS  print the connection table (as ss -tan) this often\n"
		"  --info           with the table, the ss -ti fields of each connection\n"
		"  --impair SPEC    seeded impairments between the device and the stack,\n"
		"                   both ways: loss=0.1,delay=50ms,jitter=10ms,reorder=0.05,\n"
		"                   dup=0.01,corrupt=0,rate=10mbit,seed=7\n"
		"  --syncookies M   SYN cookies: auto (default: when the SYN queue is full),\n"
		"                   always, never (as tcp_syncookies 1, 2, 0)\n"
		"  --synq N         SYN queue size (default: the backlog, as Linux)\n"
		"  --fastopen N     TCP Fast Open server, at most N pending (TCP_FASTOPEN)\n"
		"  --defer-accept S connections reach accept only with data, or are\n"
		"                   dropped after S seconds (TCP_DEFER_ACCEPT)\n"
		"\n"
		"SIGUSR1 prints the table; SIGINT and SIGTERM close every connection and\n"
		"exit 0. Exit status 1 when the device fails, 2 for bad arguments.\n",
		SERVE_LISTEN_MAX, SERVE_BACKLOG_DEFAULT);
}

#define usage_error(...) cli_usage_error("serve", __VA_ARGS__)

static int parse_app(const char *v, enum app *out)
{
	for (size_t i = 0; i < sizeof app_names / sizeof app_names[0]; i++)
		if (!strcmp(v, app_names[i])) {
			*out = (enum app)i;
			return 0;
		}
	return -EINVAL;
}

static int parse_uint(const char *v, long min, long max, long *out)
{
	char *end;
	long n = strtol(v, &end, 10);

	if (!*v || *end || n < min || n > max)
		return -EINVAL;
	*out = n;
	return 0;
}

/* One option with a value. Returns -1 to go on, or an exit status. */
static int parse_valued(struct serve_opts *o, const char *a, const char *v)
{
	char err[ERR_MAX];
	long n;

	if (!strcmp(a, "--tun")) {
		o->device = v;
	} else if (!strcmp(a, "--listen")) {
		if (o->n_listen == SERVE_LISTEN_MAX)
			return usage_error("too many --listen (%s)", v);
		if (synack_addr_parse(v, &o->listen[o->n_listen]) || !o->listen[o->n_listen].port)
			return usage_error("'%s' is not ADDR:PORT", v);
		if (synack_addr_is_group(&o->listen[o->n_listen]))
			return usage_error("'%s' is not a unicast address", v);
		o->n_listen++;
	} else if (!strcmp(a, "--app")) {
		if (parse_app(v, &o->app))
			return usage_error("unknown app '%s' (echo, discard, http)", v);
	} else if (!strcmp(a, "--backlog")) {
		if (parse_uint(v, 1, INT32_MAX, &n))
			return usage_error("bad --backlog '%s'", v);
		o->backlog = (int)n;
	} else if (!strcmp(a, "--pcap")) {
		o->pcap = v;
	} else if (!strcmp(a, "--stats")) {
		if (parse_uint(v, 1, SERVE_STATS_MAX, &n))
			return usage_error("bad --stats '%s' (seconds)", v);
		o->stats_sec = (unsigned)n;
	} else if (!strcmp(a, "--syncookies")) {
		static const char *const modes[] = {"never", "auto", "always"};
		o->syncookies = -1;
		for (int m = 0; m < (int)(sizeof modes / sizeof modes[0]); m++)
			if (!strcmp(v, modes[m]))
				o->syncookies = m; /* SYNACK_SYNCOOKIES_NEVER, _AUTO, _ALWAYS */
		if (o->syncookies < 0)
			return usage_error("bad --syncookies '%s' (auto, always, never)", v);
	} else if (!strcmp(a, "--synq")) {
		if (parse_uint(v, 1, INT32_MAX, &n))
			return usage_error("bad --synq '%s'", v);
		o->lopts.synq = (uint32_t)n;
	} else if (!strcmp(a, "--fastopen")) {
		if (parse_uint(v, 1, INT32_MAX, &n))
			return usage_error("bad --fastopen '%s' (pending connections)", v);
		o->lopts.fastopen_qlen = (uint32_t)n;
	} else if (!strcmp(a, "--defer-accept")) {
		if (parse_uint(v, 1, SERVE_DEFER_MAX_S, &n))
			return usage_error("bad --defer-accept '%s' (seconds)", v);
		o->lopts.defer_accept_ms = (uint32_t)n * MS_PER_S;
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
	static const char *const valued[] = {"--tun",	  "--listen",	 "--app",   "--backlog",
					     "--pcap",	  "--stats",	 "--impair", "--syncookies",
					     "--synq",	  "--fastopen", "--defer-accept"};

	for (size_t i = 0; i < sizeof valued / sizeof valued[0]; i++)
		if (!strcmp(a, valued[i]))
			return true;
	return false;
}

/* Returns -1 to run, or the exit status. */
static int parse_args(int argc, char **argv, struct serve_opts *o)
{
	memset(o, 0, sizeof *o);
	o->backlog = SERVE_BACKLOG_DEFAULT;
	o->syncookies = SYNACK_SYNCOOKIES_AUTO;
	sim_impair_none(&o->imp);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int r;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(a, "--trace")) {
			o->trace = true;
		} else if (!strcmp(a, "--info")) {
			o->info = true;
		} else if (takes_value(a)) {
			if (++i >= argc)
				return usage_error("%s needs a value", a);
			if ((r = parse_valued(o, a, argv[i])) >= 0)
				return r;
		} else {
			return usage_error("unknown option '%s'", a);
		}
	}
	if (!o->device)
		return usage_error("%s", "--tun DEV is required");
	if (!o->n_listen)
		return usage_error("%s", "--listen ADDR:PORT is required");
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Clients                                                                   */

static void mark_dirty(struct client *cl)
{
	if (cl->dirty)
		return;
	cl->dirty = true;
	cl->dirty_next = NULL;
	if (cl->srv->dirty)
		cl->srv->dirty_tail->dirty_next = cl;
	else
		cl->srv->dirty = cl;
	cl->srv->dirty_tail = cl;
}

static struct client *client_new(struct serve *srv, synack_conn *c)
{
	struct client *cl = calloc(1, sizeof *cl);

	if (!cl)
		return NULL;
	cl->out = malloc(SERVE_OUT_CAP);
	if (srv->o.app == APP_HTTP)
		cl->req = malloc(SERVE_REQ_CAP);
	if (!cl->out || (srv->o.app == APP_HTTP && !cl->req)) {
		free(cl->out);
		free(cl);
		return NULL;
	}
	cl->srv = srv;
	cl->c = c;
	cl->next = srv->clients;
	if (srv->clients)
		srv->clients->prev = cl;
	srv->clients = cl;
	synack_conn_set_user(c, cl);
	return cl;
}

/* Takes cl out of the dirty FIFO (a walk, but closing is rare next to
 * servicing). */
static void dirty_remove(struct client *cl)
{
	struct serve *srv = cl->srv;
	struct client **pp = &srv->dirty, *prev = NULL;

	if (!cl->dirty)
		return;
	while (*pp && *pp != cl) {
		prev = *pp;
		pp = &(*pp)->dirty_next;
	}
	if (*pp)
		*pp = cl->dirty_next;
	if (srv->dirty_tail == cl)
		srv->dirty_tail = prev;
	cl->dirty = false;
}

/* Gives the handle back to the stack (a FIN after the queued data, or an
 * RST when data was left unread, as close(2)) and forgets the client. */
static void client_close(struct client *cl, synack_time now)
{
	struct serve *srv = cl->srv;

	dirty_remove(cl);
	synack_conn_set_user(cl->c, NULL);
	synack_close(cl->c, now);
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		srv->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	free(cl->out);
	free(cl->req);
	free(cl);
}

static bool out_append(struct client *cl, const void *p, size_t len)
{
	if (cl->out_off && cl->out_len + len > SERVE_OUT_CAP) {
		memmove(cl->out, cl->out + cl->out_off, cl->out_len - cl->out_off);
		cl->out_len -= cl->out_off;
		cl->out_off = 0;
	}
	if (cl->out_len + len > SERVE_OUT_CAP)
		return false;
	memcpy(cl->out + cl->out_len, p, len);
	cl->out_len += len;
	return true;
}

static size_t out_pending(const struct client *cl)
{
	return cl->out_len - cl->out_off;
}

static size_t out_room(const struct client *cl)
{
	return SERVE_OUT_CAP - out_pending(cl);
}

/* Moves buffered output into the stack. Returns 0, or the connection's
 * error (negative errno). */
static int flush_out(struct client *cl, synack_time now)
{
	while (out_pending(cl)) {
		ssize_t n = synack_send(cl->c, cl->out + cl->out_off, out_pending(cl), now);

		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		cl->out_off += (size_t)n;
	}
	cl->out_off = cl->out_len = 0;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* HTTP                                                                      */

#define HTTP_BODY                                                                                  \
	"<!DOCTYPE html>\n<html><head><title>synack</title></head>\n"                              \
	"<body><h1>Hello from synack</h1>\n"                                                       \
	"<p>This page came over a userspace TCP stack on a TUN device.</p></body></html>\n"
#define HTTP_HEAD_MAX 512  /* our reply's head */
#define HTTP_LINE_MAX 1024 /* the longest request line read */
#define HTTP_TOKEN_MAX 15  /* method and version */
#define HTTP_TARGET_MAX 1023
#define HTTP_VERSION_1 "HTTP/1."
#define STR_(x) #x
#define STR(x) STR_(x)

static bool header_is(const char *line, size_t len, const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);
	const char *p = line + n, *end = line + len;

	if (len <= n || strncasecmp(line, name, n) || line[n] != ':')
		return false;
	for (p++; p < end && (*p == ' ' || *p == '\t'); p++)
		;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	return (size_t)(end - p) == v && !strncasecmp(p, value, v);
}

struct http_req {
	bool head, get, http10, conn_close, conn_keep, has_body, bad;
};

/* Parses the request head req[0..len) (its blank line included). */
static void http_parse(const char *req, size_t len, struct http_req *r)
{
	const char *p = req, *end = req + len, *eol = memchr(p, '\n', len);
	char method[HTTP_TOKEN_MAX + 1], target[HTTP_TARGET_MAX + 1], version[HTTP_TOKEN_MAX + 1];
	char line[HTTP_LINE_MAX];
	size_t n = eol ? (size_t)(eol - p) : 0;

	memset(r, 0, sizeof *r);
	if (!eol || n >= sizeof line) {
		r->bad = true;
		return;
	}
	memcpy(line, p, n);
	line[n] = 0;
	if (sscanf(line,
		   "%" STR(HTTP_TOKEN_MAX) "s %" STR(HTTP_TARGET_MAX) "s %" STR(HTTP_TOKEN_MAX) "s",
		   method, target, version) != 3 ||
	    strncmp(version, HTTP_VERSION_1, strlen(HTTP_VERSION_1))) {
		r->bad = true;
		return;
	}
	r->get = !strcmp(method, "GET");
	r->head = !strcmp(method, "HEAD");
	r->http10 = !strcmp(version, "HTTP/1.0");
	for (p = eol + 1; p < end && (eol = memchr(p, '\n', (size_t)(end - p))); p = eol + 1) {
		n = (size_t)(eol - p);
		r->conn_close |= header_is(p, n, "Connection", "close");
		r->conn_keep |= header_is(p, n, "Connection", "keep-alive");
		r->has_body |= header_is(p, n, "Transfer-Encoding", "chunked") ||
			       (n > strlen("Content-Length:") &&
				!strncasecmp(p, "Content-Length:", strlen("Content-Length:")) &&
				!header_is(p, n, "Content-Length", "0"));
	}
}

static void http_reply(struct client *cl, const struct http_req *r)
{
	const char *status = "200 OK";
	bool keep = r->http10 ? r->conn_keep && !r->conn_close : !r->conn_close;
	bool body = true;
	char head[HTTP_HEAD_MAX];
	int n;

	if (r->bad) {
		status = "400 Bad Request";
		keep = false;
	} else if (!r->get && !r->head) {
		status = "501 Not Implemented";
		keep = false;
	} else if (r->has_body) {
		status = "413 Content Too Large"; /* this server reads no bodies */
		keep = false;
	}
	body = !r->head;
	n = snprintf(head, sizeof head,
		     "HTTP/1.1 %s\r\nServer: synack/%s\r\nContent-Type: text/html\r\n"
		     "Content-Length: %zu\r\nConnection: %s\r\n\r\n",
		     status, SYNACK_VERSION_STRING, strlen(HTTP_BODY),
		     keep ? "keep-alive" : "close");
	out_append(cl, head, (size_t)n);
	if (body)
		out_append(cl, HTTP_BODY, strlen(HTTP_BODY));
	cl->close_after = !keep;
	cl->srv->served_requests++;
}

/* The end of the request head in req, or 0 while incomplete. */
static size_t http_head_end(const char *req, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (req[i] == '\n' && req[i + 1] == '\n')
			return i + 2;
		if (i + 3 < len && !memcmp(req + i, "\r\n\r\n", 4))
			return i + 4;
	}
	return 0;
}

/* Answers every complete request while the reply fits (pipelining). */
static void http_serve(struct client *cl)
{
	size_t end;

	while (!cl->close_after && out_room(cl) >= HTTP_HEAD_MAX + strlen(HTTP_BODY) &&
	       (end = http_head_end(cl->req, cl->req_len))) {
		struct http_req r;

		http_parse(cl->req, end, &r);
		http_reply(cl, &r);
		memmove(cl->req, cl->req + end, cl->req_len - end);
		cl->req_len -= end;
	}
	if (!cl->close_after && cl->req_len == SERVE_REQ_CAP) {
		static const struct http_req too_big = {.bad = true};

		http_reply(cl, &too_big);
	}
}

/* ------------------------------------------------------------------------ */
/* Applications                                                              */

/* How much the application can take now. */
static size_t app_room(const struct client *cl)
{
	switch (cl->srv->o.app) {
	case APP_ECHO:
		return out_room(cl);
	case APP_HTTP:
		return cl->close_after ? 0 : SERVE_REQ_CAP - cl->req_len;
	case APP_DISCARD:
		break;
	}
	return SERVE_IO_CHUNK;
}

static void app_take(struct client *cl, const uint8_t *p, size_t len)
{
	switch (cl->srv->o.app) {
	case APP_ECHO:
		out_append(cl, p, len);
		break;
	case APP_HTTP:
		memcpy(cl->req + cl->req_len, p, len);
		cl->req_len += len;
		http_serve(cl);
		break;
	case APP_DISCARD:
		break;
	}
}

/* Reads what the application has room for. Returns 1 when it made
 * progress, 0 when not, or the connection's error. */
static int read_some(struct client *cl, synack_time now)
{
	size_t room = app_room(cl);
	ssize_t n;

	if (cl->eof || room == 0)
		return 0;
	if (room > SERVE_IO_CHUNK)
		room = SERVE_IO_CHUNK;
	n = synack_recv(cl->c, cl->srv->io, room, now);
	if (n == -EAGAIN)
		return 0;
	if (n < 0)
		return (int)n;
	if (n == 0) {
		cl->eof = true;
		return 1;
	}
	app_take(cl, cl->srv->io, (size_t)n);
	return 1;
}

/* True when the conversation is over and the connection can be closed. */
static bool client_done(const struct client *cl)
{
	if (out_pending(cl))
		return false;
	return cl->eof || cl->close_after;
}

/* Reads, answers and writes until nothing moves (or, after a number of
 * rounds, queues itself behind the other clients). Returns false when the
 * client was closed (and freed). */
static bool client_service(struct client *cl, synack_time now)
{
	for (int round = 0; round < SERVE_ROUNDS_MAX; round++) {
		int r = flush_out(cl, now);
		size_t before = out_pending(cl);

		/* Requests that waited for room in the output buffer. */
		if (r == 0 && cl->srv->o.app == APP_HTTP)
			http_serve(cl);
		if (r == 0)
			r = read_some(cl, now);
		if (r < 0 || client_done(cl)) {
			client_close(cl, now);
			return false;
		}
		if (r == 0 && out_pending(cl) == before)
			return true;
	}
	mark_dirty(cl); /* more to do: after the others */
	return true;
}

/* ------------------------------------------------------------------------ */
/* The server                                                                */

static void on_event(void *ctx, const synack_event *ev)
{
	struct serve *srv = ctx;
	struct client *cl;

	if (ev->type == SYNACK_EV_ACCEPTABLE) {
		srv->accept_pending = true;
		return;
	}
	if (!ev->conn || ev->type == SYNACK_EV_FREED)
		return;
	cl = synack_conn_user(ev->conn);
	if (cl)
		mark_dirty(cl);
}

static void accept_all(struct serve *srv)
{
	srv->accept_pending = false;
	for (size_t i = 0; i < srv->o.n_listen; i++) {
		synack_conn *c;

		/* Bounded by the accept queue, which accept empties. */
		while (srv->listeners[i] && synack_accept(srv->listeners[i], &c) == 0) {
			struct client *cl = client_new(srv, c);

			if (!cl) {
				synack_abort(c, tun_now());
				continue;
			}
			srv->accepted++;
			mark_dirty(cl);
		}
	}
}

/* Counts connections still closing (neither done nor in TIME-WAIT). */
static void count_closing(void *ctx, synack_conn *c)
{
	synack_state st = synack_conn_state(c);

	if (st != SYNACK_TIME_WAIT && st != SYNACK_CLOSED && st != SYNACK_FIN_WAIT_2)
		++*(size_t *)ctx;
}

static void stop_begin(struct serve *srv, synack_time now)
{
	srv->stopping = true;
	srv->stop_by = now + SERVE_STOP_GRACE;
	for (size_t i = 0; i < srv->o.n_listen; i++) {
		if (srv->listeners[i])
			synack_listener_close(srv->listeners[i], now);
		srv->listeners[i] = NULL;
	}
	while (srv->clients) {
		flush_out(srv->clients, now);
		client_close(srv->clients, now);
	}
}

static void stop_check(struct serve *srv, synack_time now)
{
	size_t closing = 0;

	synack_stack_each(srv->stack, NULL, count_closing, &closing);
	if (closing == 0 || now >= srv->stop_by)
		tun_driver_stop(srv->drv);
}

static void service(void *ctx, synack_time now)
{
	struct serve *srv = ctx;

	if (srv->accept_pending && !srv->stopping)
		accept_all(srv);
	while (srv->dirty) {
		struct client *cl = srv->dirty;

		srv->dirty = cl->dirty_next;
		cl->dirty = false;
		client_service(cl, now);
	}
	if (srv->o.stats_sec && now >= srv->next_stats) {
		tun_ss_print(srv->stack, stdout, srv->o.info);
		srv->next_stats = now + srv->o.stats_sec * SYNACK_SEC;
	}
	if (srv->stopping)
		stop_check(srv, now);
}

static synack_time deadline(void *ctx)
{
	struct serve *srv = ctx;
	synack_time t = srv->o.stats_sec ? srv->next_stats : SYNACK_TIME_NEVER;

	if (srv->stopping && srv->stop_by < t)
		t = srv->stop_by;
	return t;
}

static void on_signal(void *ctx, int sig, synack_time now)
{
	struct serve *srv = ctx;

	if (sig == SIGUSR1) {
		tun_ss_print(srv->stack, stdout, srv->o.info);
		return;
	}
	if (srv->stopping) {
		tun_driver_stop(srv->drv); /* second signal: leave now */
		return;
	}
	fprintf(stderr, "synack serve: %s, closing %s\n", strsignal(sig),
		srv->clients ? "connections" : "listeners");
	stop_begin(srv, now);
}

/* ------------------------------------------------------------------------ */
/* Setup                                                                     */

static int make_stack(struct serve *srv, char *err, size_t errcap)
{
	synack_config cfg;
	int mtu = tun_device_mtu(srv->o.device);
	int r;

	synack_config_default(&cfg);
	if (mtu > 0 && mtu <= UINT16_MAX)
		cfg.mtu = (uint16_t)mtu;
	cfg.syncookies = (uint8_t)srv->o.syncookies;
	if (srv->o.lopts.fastopen_qlen)
		cfg.fastopen |= SYNACK_FASTOPEN_SERVER;
	cfg.on_event = on_event;
	cfg.event_ctx = srv;
	r = synack_stack_new(&cfg, &srv->stack);
	if (r) {
		snprintf(err, errcap, "creating the stack: %s", strerror(-r));
		return r;
	}
	return 0;
}

static bool addr_unspecified(const synack_addr *a)
{
	static const uint8_t zero[16];

	return !memcmp(a->ip, zero, a->family == SYNACK_AF_INET ? 4 : 16);
}

static int open_listeners(struct serve *srv, tun_config *tc, char *err, size_t errcap)
{
	bool filter = true;

	/* An unspecified address listens on every destination: then neither
	 * the stack nor the TUN driver filters by address (a stack with any
	 * address would drop segments to the others). */
	for (size_t i = 0; i < srv->o.n_listen; i++)
		if (addr_unspecified(&srv->o.listen[i]))
			filter = false;
	for (size_t i = 0; i < srv->o.n_listen; i++) {
		const synack_addr *a = &srv->o.listen[i];
		char text[ADDR_MAX];
		int r;

		synack_addr_format(a, true, text, sizeof text);
		if (filter) {
			/* -EEXIST: another port on an address already added */
			r = synack_stack_add_address(srv->stack, a);
			if (r && r != -EEXIST) {
				snprintf(err, errcap, "listen on %s: %s", text,
					 r == -EINVAL ? "not a unicast address" : strerror(-r));
				return r;
			}
			if (!r && tc->n_addrs < TUN_ADDRS_MAX)
				tc->addrs[tc->n_addrs++] = *a;
		}
		r = synack_listen(srv->stack, a, srv->o.backlog, &srv->o.lopts, &srv->listeners[i]);
		if (r) {
			snprintf(err, errcap, "listen on %s: %s", text, strerror(-r));
			return r;
		}
	}
	return 0;
}

static void announce(const struct serve *srv)
{
	for (size_t i = 0; i < srv->o.n_listen; i++) {
		char text[ADDR_MAX];

		synack_addr_format(&srv->o.listen[i], true, text, sizeof text);
		printf("synack serve: listening on %s (%s) on %s\n", text, app_names[srv->o.app],
		       srv->o.device);
	}
	fflush(stdout);
}

static void summary(const struct serve *srv)
{
	fprintf(stderr, "synack serve: %llu connections accepted",
		(unsigned long long)srv->accepted);
	if (srv->o.app == APP_HTTP)
		fprintf(stderr, ", %llu HTTP requests answered",
			(unsigned long long)srv->served_requests);
	fputc('\n', stderr);
	tun_driver_print_counters(srv->drv, stderr);
}

static void serve_free(struct serve *srv)
{
	while (srv->clients)
		client_close(srv->clients, tun_now());
	tun_driver_free(srv->drv);
	synack_stack_free(srv->stack);
	free(srv);
}

static int serve_setup(struct serve *srv, char *err, size_t errcap)
{
	tun_config tc;
	int r;

	tun_config_default(&tc);
	tc.device = srv->o.device;
	tc.impaired = srv->o.impaired;
	tc.imp = srv->o.imp;
	tc.trace = srv->o.trace;
	tc.pcap_path = srv->o.pcap;
	tc.signals[tc.n_signals++] = SIGINT;
	tc.signals[tc.n_signals++] = SIGTERM;
	tc.signals[tc.n_signals++] = SIGUSR1;
	tc.on_signal = on_signal;
	tc.service = service;
	tc.deadline = deadline;
	tc.ctx = srv;
	r = make_stack(srv, err, errcap);
	if (!r)
		r = open_listeners(srv, &tc, err, errcap);
	if (!r)
		r = tun_driver_new(&tc, srv->stack, &srv->drv, err, errcap);
	return r;
}

int cmd_serve(int argc, char **argv)
{
	struct serve *srv = calloc(1, sizeof *srv);
	char err[ERR_MAX] = "";
	int status, r;

	if (!srv)
		return EXIT_FAIL;
	status = parse_args(argc, argv, &srv->o);
	if (status >= 0) {
		free(srv);
		return status;
	}
	r = serve_setup(srv, err, sizeof err);
	if (r) {
		fprintf(stderr, "synack serve: %s\n", err);
		serve_free(srv);
		return EXIT_FAIL;
	}
	srv->next_stats = tun_now() + srv->o.stats_sec * SYNACK_SEC;
	announce(srv);
	r = tun_driver_run(srv->drv, err, sizeof err);
	if (r)
		fprintf(stderr, "synack serve: %s\n", err);
	summary(srv);
	serve_free(srv);
	return r ? EXIT_FAIL : EXIT_OK;
}
