/*
 * syscall.c — the socket calls of a script, played on synack's API with
 * Linux's results: descriptors from 3, -1 and errno on failure, blocking
 * calls that wait (on virtual time) for the stack, O_NONBLOCK giving
 * EINPROGRESS and EAGAIN. Payloads are zeros, as packetdrill writes them.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "run.h"

#define SYS_DONE 0
#define SYS_BLOCK 1
#define NS_PER_MS 1000000LL
#define NS_PER_US 1000
#define IO_CHUNK RUN_PKT_MAX

typedef int (*sys_fn)(runner *r, run_call *c);

/* ------------------------------------------------------------------------ */
/* Arguments                                                                 */


/* An integer expression: numbers, symbols, a|b, htons(n), [n]. */
static bool eval_int(const script_expr *e, int64_t *v, const char **bad)
{
	int64_t a, b;

	switch (e->type) {
	case SX_INT:
		*v = e->num;
		return true;
	case SX_WORD:
		if (script_symbol(e->text, v))
			return true;
		*bad = e->text;
		return false;
	case SX_OR:
		if (!eval_int(e->lhs, &a, bad) || !eval_int(e->rhs, &b, bad))
			return false;
		*v = a | b;
		return true;
	case SX_CALL:
		if ((!strcmp(e->text, "htons") || !strcmp(e->text, "htonl")) && e->count == 1)
			return eval_int(e->items[0], v, bad);
		break;
	case SX_LIST:
		if (e->count == 1)
			return eval_int(e->items[0], v, bad);
		break;
	default:
		break;
	}
	*bad = "a non-integer expression";
	return false;
}

static const script_expr *arg(const run_call *c, size_t i)
{
	return i < c->sc->nargs ? c->sc->args[i] : NULL;
}

static int need_args(runner *r, run_call *c, size_t n)
{
	if (c->sc->nargs != n)
		return sys_call_fail(r, c, "expected %zu arguments but got %zu", n, c->sc->nargs);
	return 0;
}

static int arg_int(runner *r, run_call *c, size_t i, int64_t *v)
{
	const char *bad = NULL;
	const script_expr *e = arg(c, i);

	if (!e || !eval_int(e, v, &bad))
		return sys_call_fail(r, c, "argument %zu: unsupported value %s", i + 1,
				 bad ? bad : "(missing)");
	return 0;
}

static bool is_ellipsis(const script_expr *e)
{
	return e && e->type == SX_ELLIPSIS;
}

/* The value of name=... in a struct like {fd=4, events=POLLIN}. */
static const script_expr *field(const script_expr *st, const char *name)
{
	if (!st || st->type != SX_STRUCT)
		return NULL;
	for (size_t i = 0; i < st->count; i++)
		if (st->items[i]->type == SX_ASSIGN && !strcmp(st->items[i]->text, name))
			return st->items[i]->rhs;
	return NULL;
}

static void done(run_call *c, long ret)
{
	c->ret = ret;
	c->err = 0;
}

static void fail_errno(run_call *c, int err)
{
	c->ret = -1;
	c->err = err;
}

/* The descriptor of argument 0, or NULL after setting EBADF. */
static rfd *arg_fd(runner *r, run_call *c, int *rc)
{
	int64_t fd;

	*rc = SYS_DONE;
	if (arg_int(r, c, 0, &fd) < 0) {
		*rc = -1;
		return NULL;
	}
	if (fd < 0 || fd >= RUN_MAX_FDS || !r->fds[fd].used) {
		fail_errno(c, EBADF);
		return NULL;
	}
	return &r->fds[fd];
}

static int new_fd(runner *r)
{
	for (int i = RUN_FIRST_FD; i < RUN_MAX_FDS; i++)
		if (!r->fds[i].used)
			return i;
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Opening                                                                   */

static int sys_socket(runner *r, run_call *c)
{
	int64_t domain = 0, type, proto = IPPROTO_TCP;

	if (need_args(r, c, 3) < 0 || arg_int(r, c, 1, &type) < 0)
		return -1;
	if (!is_ellipsis(arg(c, 0)) && arg_int(r, c, 0, &domain) < 0)
		return -1;
	if (!is_ellipsis(arg(c, 2)) && arg_int(r, c, 2, &proto) < 0)
		return -1;
	if ((type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM ||
	    (proto != IPPROTO_TCP && proto != 0))
		return sys_call_fail(r, c, "unsupported: only SOCK_STREAM/IPPROTO_TCP sockets");
	if (domain && domain != AF_INET && domain != AF_INET6)
		return sys_call_fail(r, c, "unsupported address family %lld", (long long)domain);
	int fd = new_fd(r);
	if (fd < 0) {
		fail_errno(c, EMFILE);
		return SYS_DONE;
	}
	memset(&r->fds[fd], 0, sizeof r->fds[fd]);
	r->fds[fd].used = true;
	r->fds[fd].kind = RFD_SOCKET;
	r->fds[fd].nonblock = (type & SOCK_NONBLOCK) != 0;
	done(c, fd);
	return SYS_DONE;
}

/* The port in {sa_family=..., sin_port=htons(N), ...}, or `...`: dflt. */
static int sockaddr_port(runner *r, run_call *c, size_t i, uint16_t dflt, uint16_t *port)
{
	const script_expr *e = arg(c, i);
	const script_expr *p;
	int64_t v;
	const char *bad = NULL;

	*port = dflt;
	if (is_ellipsis(e))
		return 0;
	p = field(e, "sin_port");
	if (!p)
		p = field(e, "sin6_port");
	if (!p || !eval_int(p, &v, &bad) || v < 0 || v > UINT16_MAX)
		return sys_call_fail(
		    r, c,
		    "unsupported address argument (use ... or {..., sin_port=htons(N), ...})");
	*port = (uint16_t)v;
	return 0;
}

static int sys_bind(runner *r, run_call *c)
{
	int rc;
	rfd *f = arg_fd(r, c, &rc);
	uint16_t port;

	if (!f || need_args(r, c, 3) < 0)
		return f ? -1 : rc;
	if (sockaddr_port(r, c, 1, r->bind_port, &port) < 0)
		return -1;
	if (f->bound || f->kind != RFD_SOCKET) {
		fail_errno(c, EINVAL);
		return SYS_DONE;
	}
	f->bound = true;
	f->port = port;
	done(c, 0);
	return SYS_DONE;
}

static int sys_listen(runner *r, run_call *c)
{
	int rc;
	rfd *f = arg_fd(r, c, &rc);
	int64_t backlog;
	synack_addr local = r->local_ip;

	if (!f || need_args(r, c, 2) < 0 || arg_int(r, c, 1, &backlog) < 0)
		return f ? -1 : rc;
	if (f->kind == RFD_LISTENER) {
		done(c, 0); /* Linux lets listen() change the backlog; synack cannot */
		return SYS_DONE;
	}
	if (f->kind != RFD_SOCKET) {
		fail_errno(c, EINVAL);
		return SYS_DONE;
	}
	local.port = f->bound ? f->port : r->bind_port;
	rc = synack_listen(r->stack, &local, (int)backlog, &f->opts, &f->listener);
	if (rc < 0) {
		fail_errno(c, -rc);
		return SYS_DONE;
	}
	f->kind = RFD_LISTENER;
	f->bound = true;
	f->port = local.port;
	done(c, 0);
	return SYS_DONE;
}

static int sys_accept(runner *r, run_call *c)
{
	int rc;
	rfd *f = arg_fd(r, c, &rc);
	synack_conn *conn;

	if (!f)
		return rc;
	if (c->sc->nargs != 3 && c->sc->nargs != 4)
		return sys_call_fail(r, c, "expected 3 or 4 arguments");
	if (f->kind != RFD_LISTENER) {
		fail_errno(c, EINVAL);
		return SYS_DONE;
	}
	rc = synack_accept(f->listener, &conn);
	if (rc == -EAGAIN) {
		if (f->nonblock) {
			fail_errno(c, EAGAIN);
			return SYS_DONE;
		}
		return SYS_BLOCK;
	}
	if (rc < 0) {
		fail_errno(c, -rc);
		return SYS_DONE;
	}
	int fd = new_fd(r);
	if (fd < 0) {
		synack_abort(conn, run_engine_now(r));
		fail_errno(c, EMFILE);
		return SYS_DONE;
	}
	memset(&r->fds[fd], 0, sizeof r->fds[fd]);
	r->fds[fd].used = true;
	r->fds[fd].kind = RFD_CONN;
	r->fds[fd].conn = conn;
	r->fds[fd].opts = f->opts;
	done(c, fd);
	return SYS_DONE;
}

static bool handshaking(synack_state s)
{
	return s == SYNACK_SYN_SENT || s == SYNACK_SYN_RECEIVED;
}

/* connect() on a socket that already has a connection (Linux's
 * inet_stream_connect): EALREADY while it opens, 0 once for a non-blocking
 * connect that completed, EISCONN afterwards, the error when it failed. */
static int connect_again(runner *r, run_call *c, rfd *f)
{
	synack_state st = synack_conn_state(f->conn);
	(void)r;

	if (handshaking(st)) {
		if (f->nonblock && !c->retry) {
			fail_errno(c, EALREADY);
			return SYS_DONE;
		}
		return SYS_BLOCK;
	}
	if (st == SYNACK_CLOSED) {
		int err = synack_conn_take_error(f->conn);
		fail_errno(c, err ? -err : ECONNABORTED);
		return SYS_DONE;
	}
	if (c->retry || !f->connect_done) {
		f->connect_done = true;
		done(c, 0);
		return SYS_DONE;
	}
	fail_errno(c, EISCONN);
	return SYS_DONE;
}

static int sys_connect(runner *r, run_call *c)
{
	int rc;
	rfd *f = arg_fd(r, c, &rc);
	synack_addr local = r->local_ip, remote = r->remote_ip;

	if (!f || need_args(r, c, 3) < 0)
		return f ? -1 : rc;
	if (f->kind == RFD_CONN)
		return connect_again(r, c, f);
	if (f->kind == RFD_LISTENER) {
		fail_errno(c, EISCONN);
		return SYS_DONE;
	}
	if (sockaddr_port(r, c, 1, r->connect_port, &remote.port) < 0)
		return -1;
	local.port = f->bound ? f->port : 0;
	rc = synack_connect(r->stack, &local, &remote, &f->opts, run_engine_now(r), &f->conn);
	if (rc < 0) {
		fail_errno(c, -rc);
		return SYS_DONE;
	}
	f->kind = RFD_CONN;
	run_set_tuple(r, synack_conn_local(f->conn), synack_conn_remote(f->conn));
	if (f->nonblock) {
		fail_errno(c, EINPROGRESS);
		return SYS_DONE;
	}
	c->retry = true;
	return SYS_BLOCK;
}

/* ------------------------------------------------------------------------ */
/* Data                                                                      */

static int send_flags_ok(runner *r, run_call *c, size_t i, bool *nonblock)
{
	int64_t flags;

	if (arg_int(r, c, i, &flags) < 0)
		return -1;
	if (flags & ~(int64_t)(MSG_DONTWAIT | MSG_NOSIGNAL))
		return sys_call_fail(r, c, "unsupported flags 0x%llx", (long long)flags);
	*nonblock |= (flags & MSG_DONTWAIT) != 0;
	return 0;
}

/* Total length of [{..., N}, {..., M}] */
static int iov_len(runner *r, run_call *c, size_t i, int64_t *len)
{
	const script_expr *e = arg(c, i);

	*len = 0;
	if (!e || e->type != SX_LIST)
		return sys_call_fail(r, c, "expected an iovec list [{..., N}, ...]");
	for (size_t k = 0; k < e->count; k++) {
		const script_expr *io = e->items[k];
		int64_t n;
		const char *bad = NULL;

		if (io->type != SX_STRUCT || io->count != 2 || !eval_int(io->items[1], &n, &bad))
			return sys_call_fail(r, c, "unsupported iovec element");
		*len += n;
	}
	return 0;
}

static int do_write(runner *r, run_call *c, rfd *f, int64_t len, bool nonblock)
{
	if (f->kind != RFD_CONN) {
		fail_errno(c, EPIPE);
		return SYS_DONE;
	}
	while ((int64_t)c->done < len) {
		size_t want = (size_t)(len - (int64_t)c->done);
		ssize_t n = synack_send(f->conn, r->zeros, want < IO_CHUNK ? want : IO_CHUNK,
					run_engine_now(r));

		if (n > 0) {
			c->done += (uint64_t)n;
			continue;
		}
		if (n == -EAGAIN || n == -ENOTCONN || n == 0) {
			if (!nonblock)
				return SYS_BLOCK; /* Linux waits for the handshake or room */
			if (c->done)
				break;
			fail_errno(c, EAGAIN);
			return SYS_DONE;
		}
		if (c->done)
			break;
		fail_errno(c, (int)-n);
		return SYS_DONE;
	}
	done(c, (long)c->done);
	return SYS_DONE;
}

static bool is_fastopen(runner *r, run_call *c)
{
	int64_t flags;
	const char *bad = NULL;

	(void)r;
	return arg(c, 3) && eval_int(arg(c, 3), &flags, &bad) && (flags & MSG_FASTOPEN);
}

/* sendto(fd, buf, len, MSG_FASTOPEN, addr, addrlen) on a fresh socket: an
 * active open whose SYN carries the data when a cookie is cached (Linux
 * returns the bytes it took); otherwise a SYN asking for a cookie, and the
 * call reports EINPROGRESS (non-blocking) or waits and writes. */
static int sendto_fastopen(runner *r, run_call *c, rfd *f, int64_t len)
{
	synack_addr local = r->local_ip, remote = r->remote_ip;
	bool cached;
	ssize_t n;

	if (c->retry)
		return do_write(r, c, f, len, f->nonblock);
	if (f->kind != RFD_SOCKET) {
		fail_errno(c, f->kind == RFD_CONN ? EISCONN : EINVAL);
		return SYS_DONE;
	}
	if (sockaddr_port(r, c, 4, r->connect_port, &remote.port) < 0)
		return -1;
	local.port = f->bound ? f->port : 0;
	cached = synack_stack_fastopen_cached(r->stack, &remote);
	n = synack_connect_data(r->stack, &local, &remote, &f->opts, r->zeros,
				cached ? (size_t)len : 0, run_engine_now(r), &f->conn);
	if (n < 0) {
		fail_errno(c, (int)-n);
		return SYS_DONE;
	}
	f->kind = RFD_CONN;
	run_set_tuple(r, synack_conn_local(f->conn), synack_conn_remote(f->conn));
	if (cached) {
		done(c, (long)n);
		return SYS_DONE;
	}
	if (f->nonblock) {
		fail_errno(c, EINPROGRESS);
		return SYS_DONE;
	}
	c->retry = true;
	return do_write(r, c, f, len, false);
}

static int sys_write(runner *r, run_call *c)
{
	int rc;
	rfd *f = arg_fd(r, c, &rc);
	int64_t len;
	bool nonblock;
	const char *name = c->sc->name;

	if (!f)
		return rc;
	nonblock = f->nonblock;
	if (!strcmp(name, "writev")) {
		if (need_args(r, c, 3) < 0 || iov_len(r, c, 1, &len) < 0)
			return -1;
	} else {
		size_t want = !strcmp(name, "write") ? 3 : !strcmp(name, "send") ? 4 : 6;
		if (need_args(r, c, want) < 0 || arg_int(r, c, 2, &len) < 0)
			return -1;
		if (want == 6 && is_fastopen(r, c))
			return sendto_fastopen(r, c, f, len);
		if (want > 3 && send_flags_ok(r, c, 3, &nonblock) < 0)
			return -1;
		if (want == 6 && !is_ellipsis(arg(c, 4)))
			return sys_call_fail(r, c, "unsupported: sendto with an address without MSG_FASTOPEN");
	}
	if (len < 0)
		return sys_call_fail(r, c, "negative length");
	return do_write(r, c, f, len, nonblock);
}

static int sys_read(runner *r, run_call *c)
{
	int rc;
	rfd *f = arg_fd(r, c, &rc);
	int64_t len;
	bool nonblock;
	const char *name = c->sc->name;

	if (!f)
		return rc;
	nonblock = f->nonblock;
	size_t want = !strcmp(name, "read") ? 3 : !strcmp(name, "recv") ? 4 : 6;
	if (need_args(r, c, want) < 0 || arg_int(r, c, 2, &len) < 0)
		return -1;
	if (want > 3 && send_flags_ok(r, c, 3, &nonblock) < 0)
		return -1;
	if (f->kind != RFD_CONN) {
		fail_errno(c, ENOTCONN);
		return SYS_DONE;
	}
	int64_t got = 0;
	while (got < len) {
		size_t chunk = (size_t)(len - got) < IO_CHUNK ? (size_t)(len - got) : IO_CHUNK;
		ssize_t n = synack_recv(f->conn, r->scratch, chunk, run_engine_now(r));

		if (n > 0) {
			got += n;
			continue;
		}
		if (got)
			break;
		if (n == 0) {
			done(c, 0);
			return SYS_DONE;
		}
		if (n == -EAGAIN) {
			if (nonblock) {
				fail_errno(c, EAGAIN);
				return SYS_DONE;
			}
			return SYS_BLOCK;
		}
		fail_errno(c, (int)-n);
		return SYS_DONE;
	}
	done(c, (long)got);
	return SYS_DONE;
}

/* ------------------------------------------------------------------------ */
/* Closing                                                                   */

static void release(runner *r, rfd *f)
{
	if (f->kind == RFD_LISTENER)
		synack_listener_close(f->listener, run_engine_now(r));
	else if (f->kind == RFD_CONN && f->linger_abort)
		synack_abort(f->conn, run_engine_now(r));
	else if (f->kind == RFD_CONN)
		synack_close(f->conn, run_engine_now(r));
	memset(f, 0, sizeof *f);
}

static int sys_close(runner *r, run_call *c)
{
	int rc;
	rfd *f = arg_fd(r, c, &rc);

	if (!f || need_args(r, c, 1) < 0)
		return f ? -1 : rc;
	if (r->pending && r->call.sc != c->sc)
		return sys_call_fail(r, c, "unsupported: close while %s() from line %d is blocked",
				 r->call.sc->name, r->call.ev->line);
	release(r, f);
	done(c, 0);
	return SYS_DONE;
}

static int sys_shutdown(runner *r, run_call *c)
{
	int rc;
	rfd *f = arg_fd(r, c, &rc);
	int64_t how;

	if (!f || need_args(r, c, 2) < 0 || arg_int(r, c, 1, &how) < 0)
		return f ? -1 : rc;
	int map = how == SHUT_RD     ? SYNACK_SHUT_RD
		  : how == SHUT_WR   ? SYNACK_SHUT_WR
		  : how == SHUT_RDWR ? SYNACK_SHUT_RDWR
				     : 0;
	if (!map) {
		fail_errno(c, EINVAL);
		return SYS_DONE;
	}
	if (f->kind != RFD_CONN) {
		fail_errno(c, ENOTCONN);
		return SYS_DONE;
	}
	rc = synack_shutdown(f->conn, map, run_engine_now(r));
	if (rc < 0)
		fail_errno(c, -rc);
	else
		done(c, 0);
	return SYS_DONE;
}

/* ------------------------------------------------------------------------ */
/* Options                                                                   */

/* Keepalive settings reach an open connection at once (Linux re-arms the
 * keepalive timer on each of them). */
static void apply_keepalive(rfd *f)
{
	if (f->kind == RFD_CONN)
		synack_conn_set_keepalive(f->conn, f->opts.keepalive, f->opts.keepidle_ms,
					  f->opts.keepintvl_ms, f->opts.keepcnt);
}

static int set_tcp_opt(runner *r, run_call *c, rfd *f, int64_t name, int64_t v)
{
	bool open = f->kind != RFD_SOCKET;

	switch (name) {
	case TCP_NODELAY:
		f->opts.nodelay = v != 0;
		if (f->kind == RFD_CONN)
			synack_conn_set_nodelay(f->conn, v != 0);
		return 0;
	case TCP_MAXSEG:
		f->opts.maxseg = (uint16_t)v;
		break;
	case TCP_USER_TIMEOUT:
		f->opts.user_timeout_ms = (uint32_t)v;
		break;
	case TCP_SYNCNT:
		f->opts.syn_retries = (uint8_t)v;
		break;
	case TCP_FASTOPEN:
		f->opts.fastopen_qlen = (uint32_t)v;
		break;
	case TCP_KEEPIDLE:
	case TCP_KEEPINTVL:
	case TCP_KEEPCNT:
		/* Seconds and a count, as Linux takes them; they apply at once. */
		if (name == TCP_KEEPIDLE)
			f->opts.keepidle_ms = (uint32_t)v * 1000;
		else if (name == TCP_KEEPINTVL)
			f->opts.keepintvl_ms = (uint32_t)v * 1000;
		else
			f->opts.keepcnt = (uint8_t)v;
		apply_keepalive(f);
		return 0;
	case TCP_DEFER_ACCEPT:
		f->opts.defer_accept_ms = (uint32_t)v * 1000; /* seconds, as Linux takes it */
		break;
	default:
		return sys_call_fail(r, c, "unsupported TCP option %lld", (long long)name);
	}
	if (open && f->kind != RFD_LISTENER)
		return sys_call_fail(
		    r, c, "unsupported: this option after connect (synack takes it at the open)");
	return 0;
}

static int set_socket_opt(runner *r, run_call *c, rfd *f, int64_t name, int64_t v)
{
	const script_expr *val = arg(c, 3);

	switch (name) {
	case SO_REUSEADDR:
		f->opts.reuseaddr = v != 0;
		return 0;
	case SO_KEEPALIVE:
		f->opts.keepalive = v != 0;
		apply_keepalive(f);
		return 0;
	case SO_RCVBUF:
		f->opts.rcvbuf = (uint32_t)v;
		break;
	case SO_SNDBUF:
		f->opts.sndbuf = (uint32_t)v;
		break;
	case SO_LINGER: {
		const script_expr *on = field(val, "onoff"), *lin = field(val, "linger");
		int64_t o, l;
		const char *bad = NULL;

		if (!on || !lin || !eval_int(on, &o, &bad) || !eval_int(lin, &l, &bad))
			return sys_call_fail(r, c, "SO_LINGER needs {onoff=N, linger=N}");
		if (o && l)
			return sys_call_fail(r, c,
					 "unsupported: SO_LINGER with a timeout (only linger=0)");
		f->linger_abort = o != 0;
		return 0;
	}
	default:
		return sys_call_fail(r, c, "unsupported socket option %lld", (long long)name);
	}
	if (f->kind != RFD_SOCKET && f->kind != RFD_LISTENER)
		return sys_call_fail(r, c, "unsupported: buffer sizes after connect");
	return 0;
}

static int sys_setsockopt(runner *r, run_call *c)
{
	int rc;
	rfd *f = arg_fd(r, c, &rc);
	int64_t level, name, v = 0;

	if (!f || need_args(r, c, 5) < 0 || arg_int(r, c, 1, &level) < 0 ||
	    arg_int(r, c, 2, &name) < 0)
		return f ? -1 : rc;
	if (!(level == SOL_SOCKET && name == SO_LINGER) && arg_int(r, c, 3, &v) < 0)
		return -1;
	if (level == SOL_SOCKET)
		rc = set_socket_opt(r, c, f, name, v);
	else if (level == IPPROTO_TCP)
		rc = set_tcp_opt(r, c, f, name, v);
	else
		rc = sys_call_fail(r, c, "unsupported level %lld", (long long)level);
	if (rc < 0)
		return -1;
	done(c, 0);
	return SYS_DONE;
}

static int get_value(runner *r, run_call *c, rfd *f, int64_t level, int64_t name, int64_t *v)
{
	if (level == SOL_SOCKET && name == SO_ERROR) {
		*v = f->kind == RFD_CONN ? -synack_conn_take_error(f->conn) : 0;
	} else if (level == SOL_SOCKET && name == SO_REUSEADDR) {
		*v = f->opts.reuseaddr;
	} else if (level == IPPROTO_TCP && name == TCP_NODELAY) {
		*v = f->opts.nodelay;
	} else if (level == IPPROTO_TCP && name == TCP_MAXSEG) {
		synack_info info;

		if (f->kind == RFD_CONN) {
			synack_conn_info(f->conn, &info);
			*v = info.snd_mss;
		} else {
			*v = f->opts.maxseg ? f->opts.maxseg : TCP_MSS_DEFAULT;
		}
	} else {
		return sys_call_fail(r, c, "unsupported option level %lld name %lld", (long long)level,
				 (long long)name);
	}
	return 0;
}

static int sys_getsockopt(runner *r, run_call *c)
{
	int rc;
	rfd *f = arg_fd(r, c, &rc);
	int64_t level, name, v = 0, want;
	const script_expr *exp;

	if (!f || need_args(r, c, 5) < 0 || arg_int(r, c, 1, &level) < 0 ||
	    arg_int(r, c, 2, &name) < 0)
		return f ? -1 : rc;
	if (get_value(r, c, f, level, name, &v) < 0)
		return -1;
	exp = arg(c, 3);
	if (exp && exp->type == SX_LIST && exp->count == 1 && is_ellipsis(exp->items[0]))
		exp = NULL;
	if (exp && !is_ellipsis(exp)) {
		if (arg_int(r, c, 3, &want) < 0)
			return -1;
		if (want != v) {
			const char *en = level == SOL_SOCKET && name == SO_ERROR
					     ? script_errno_name((int)v)
					     : NULL;
			return sys_call_fail(r, c, "expected value %lld but got %lld%s%s%s",
					 (long long)want, (long long)v, en ? " (" : "",
					 en ? en : "", en ? ")" : "");
		}
	}
	done(c, 0);
	return SYS_DONE;
}

static int sys_fcntl(runner *r, run_call *c)
{
	int rc;
	rfd *f = arg_fd(r, c, &rc);
	int64_t cmd, flags;

	if (!f || arg_int(r, c, 1, &cmd) < 0)
		return f ? -1 : rc;
	if (cmd == F_GETFL && c->sc->nargs == 2) {
		done(c, O_RDWR | (f->nonblock ? O_NONBLOCK : 0));
	} else if (cmd == F_SETFL && c->sc->nargs == 3) {
		if (arg_int(r, c, 2, &flags) < 0)
			return -1;
		f->nonblock = (flags & O_NONBLOCK) != 0;
		done(c, 0);
	} else {
		return sys_call_fail(r, c, "unsupported command %lld", (long long)cmd);
	}
	return SYS_DONE;
}

static int sys_ioctl(runner *r, run_call *c)
{
	int rc;
	rfd *f = arg_fd(r, c, &rc);
	int64_t req, want, v;

	if (!f || need_args(r, c, 3) < 0 || arg_int(r, c, 1, &req) < 0)
		return f ? -1 : rc;
	if (f->kind != RFD_CONN) {
		fail_errno(c, EINVAL);
		return SYS_DONE;
	}
	if (req == SIOCINQ)
		v = synack_conn_recv_queued(f->conn);
	else if (req == SIOCOUTQ)
		v = synack_conn_send_queued(f->conn);
	else
		return sys_call_fail(r, c, "unsupported request 0x%llx", (long long)req);
	if (!is_ellipsis(arg(c, 2))) {
		if (arg_int(r, c, 2, &want) < 0)
			return -1;
		if (want != v)
			return sys_call_fail(r, c, "expected value %lld but got %lld", (long long)want,
					 (long long)v);
	}
	done(c, 0);
	return SYS_DONE;
}

/* ------------------------------------------------------------------------ */
/* poll                                                                      */

static unsigned revents_of(const runner *r, int64_t fd, unsigned events)
{
	const rfd *f = fd >= 0 && fd < RUN_MAX_FDS ? &r->fds[fd] : NULL;
	unsigned m;

	if (!f || !f->used)
		return POLLNVAL;
	if (f->kind == RFD_CONN)
		m = synack_conn_poll(f->conn);
	else if (f->kind == RFD_LISTENER)
		m = synack_listener_queued(f->listener) ? POLLIN : 0;
	else
		m = POLLOUT | POLLHUP; /* Linux's tcp_poll for a socket never connected */
	/* Linux reports the NORM twins with IN and OUT; poll keeps what was
	 * asked plus the conditions always reported. */
	if (m & POLLIN)
		m |= POLLRDNORM;
	if (m & POLLOUT)
		m |= POLLWRNORM;
	return m & (events | POLLERR | POLLHUP | POLLNVAL);
}

static int sys_poll(runner *r, run_call *c)
{
	const script_expr *list = arg(c, 0);
	int64_t nfds, timeout;
	long ready = 0;

	if (need_args(r, c, 3) < 0 || arg_int(r, c, 1, &nfds) < 0 || arg_int(r, c, 2, &timeout) < 0)
		return -1;
	if (!list || list->type != SX_LIST || (int64_t)list->count != nfds)
		return sys_call_fail(r, c, "expected a list of %lld {fd=, events=, revents=}",
				 (long long)nfds);
	for (size_t i = 0; i < list->count; i++) {
		const script_expr *fd = field(list->items[i], "fd"),
				  *ev = field(list->items[i], "events");
		int64_t fdv, evv;
		const char *bad = NULL;

		if (!fd || !ev || !eval_int(fd, &fdv, &bad) || !eval_int(ev, &evv, &bad))
			return sys_call_fail(r, c, "unsupported pollfd element");
		ready += revents_of(r, fdv, (unsigned)evv) != 0;
	}
	if (!ready && timeout != 0) {
		if (!c->retry)
			c->wake_ns = timeout < 0 ? RUN_NEVER : c->start_ns + timeout * NS_PER_MS;
		if (r->now < c->wake_ns)
			return SYS_BLOCK;
	}
	for (size_t i = 0; i < list->count; i++) {
		const script_expr *want = field(list->items[i], "revents");
		int64_t fdv, evv, wv;
		const char *bad = NULL;

		eval_int(field(list->items[i], "fd"), &fdv, &bad);
		eval_int(field(list->items[i], "events"), &evv, &bad);
		unsigned got = revents_of(r, fdv, (unsigned)evv);
		if (!want)
			want = NULL; /* packetdrill: no revents means 0 */
		if (want && is_ellipsis(want))
			continue;
		if (want && !eval_int(want, &wv, &bad))
			return sys_call_fail(r, c, "unsupported revents value %s", bad);
		if (!want)
			wv = 0;
		if ((unsigned)wv != got)
			return sys_call_fail(r, c,
					 "expected revents 0x%llx but got 0x%x for pollfd %zu",
					 (long long)wv, got, i);
	}
	done(c, ready);
	return SYS_DONE;
}

/* ------------------------------------------------------------------------ */
/* Dispatch and results                                                      */

static const struct {
	const char *name;
	sys_fn fn;
} calls[] = {
    {"socket", sys_socket},
    {"bind", sys_bind},
    {"listen", sys_listen},
    {"accept", sys_accept},
    {"accept4", sys_accept},
    {"connect", sys_connect},
    {"write", sys_write},
    {"send", sys_write},
    {"sendto", sys_write},
    {"writev", sys_write},
    {"read", sys_read},
    {"recv", sys_read},
    {"recvfrom", sys_read},
    {"close", sys_close},
    {"shutdown", sys_shutdown},
    {"setsockopt", sys_setsockopt},
    {"getsockopt", sys_getsockopt},
    {"fcntl", sys_fcntl},
    {"ioctl", sys_ioctl},
    {"poll", sys_poll},
};

static sys_fn lookup(const char *name)
{
	for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
		if (!strcmp(calls[i].name, name))
			return calls[i].fn;
	return NULL;
}

/* A blocking call must return at its "...END" time, within the tolerance
 * (packetdrill checks the return time against the end time alone). */
static int check_return_time(runner *r, run_call *c)
{
	int64_t tol;

	if (c->end_ns == RUN_NEVER)
		return 0;
	tol = run_tolerance(r, c->end_ns);
	if (r->now < c->end_ns - tol || r->now > c->end_ns + tol)
		return run_fail(r, c->ev->line,
				"timing error: expected %s() to return at %.6f sec but it returned "
				"at %.6f sec; tolerance %.6f sec",
				c->sc->name, run_secs(c->end_ns), run_secs(r->now), run_secs(tol));
	return 0;
}

static const char *errno_text(int err)
{
	const char *n = script_errno_name(err);

	return n ? n : "?";
}

static int check_result(runner *r, run_call *c)
{
	const script_syscall *sc = c->sc;
	int64_t want;
	const char *bad = NULL;

	if (check_return_time(r, c) < 0)
		return -1;
	if (is_ellipsis(sc->result))
		return 0;
	if (!eval_int(sc->result, &want, &bad))
		return sys_call_fail(r, c, "unsupported expected result %s", bad);
	if (c->ret != want && c->ret == -1)
		return sys_call_fail(r, c, "expected result %lld but got -1 with errno %d (%s: %s)",
				 (long long)want, c->err, errno_text(c->err), strerror(c->err));
	if (c->ret != want)
		return sys_call_fail(r, c, "expected result %lld but got %ld", (long long)want, c->ret);
	if (want == -1 && sc->errno_name) {
		int e = script_errno_value(sc->errno_name);

		if (!e)
			return sys_call_fail(r, c, "unknown errno %s", sc->errno_name);
		if (e != c->err)
			return sys_call_fail(r, c, "expected errno %s but got %s (%s)", sc->errno_name,
					 errno_text(c->err), strerror(c->err));
	}
	return 0;
}

static int complete(runner *r, run_call *c)
{
	run_verbose(r, "%s() from line %d returned %ld%s%s", c->sc->name, c->ev->line, c->ret,
		    c->ret == -1 ? " " : "", c->ret == -1 ? errno_text(c->err) : "");
	if (run_drain(r) < 0)
		return run_fail(r, c->ev->line, "out of memory");
	return check_result(r, c);
}

/* A call with no "...END" runs on packetdrill's main thread: when it
 * blocks, only the stack's own timers can let it return (no later line runs
 * meanwhile), so virtual time moves through deadlines until it does. */
static int run_inline(runner *r, run_call *c, sys_fn fn)
{
	int64_t limit = r->now + RUN_WAIT_MAX_NS;

	for (long steps = 0; steps < RUN_MAX_STEPS; steps++) {
		int64_t w = run_next_wake(r);

		if (c->wake_ns < w)
			w = c->wake_ns;
		if (w > limit)
			return sys_call_fail(
			    r, c,
			    "blocked, and nothing in the stack's timers lets it return "
			    "(give the line a time range like +0...0.1 if later lines "
			    "complete it)");
		if (w > r->now)
			r->now = w;
		if (run_settle(r, c->ev->line) < 0)
			return -1;
		int rc = fn(r, c);
		if (rc != SYS_BLOCK)
			return rc;
	}
	return sys_call_fail(r, c, "engine deadline does not move (timer loop)");
}

static void call_init(run_call *c, const script_event *ev, int64_t now, int64_t t)
{
	const script_syscall *sc = &ev->u.syscall;

	memset(c, 0, sizeof *c);
	c->ev = ev;
	c->sc = sc;
	c->start_ns = now;
	c->wake_ns = RUN_NEVER;
	c->end_ns = RUN_NEVER;
	if (sc->end_us != SCRIPT_NO_TIME)
		c->end_ns = (ev->time_type == STT_RELATIVE ? t - ev->time_us * NS_PER_US : 0) +
			    sc->end_us * NS_PER_US;
}

int sys_start(runner *r, const script_event *ev, int64_t t)
{
	const script_syscall *sc = &ev->u.syscall;
	bool blocking = sc->end_us != SCRIPT_NO_TIME;
	run_call local, *c = blocking ? &r->call : &local;
	sys_fn fn = lookup(sc->name);

	if (!fn)
		return run_fail(r, ev->line, "unsupported syscall %s", sc->name);
	if (blocking && r->pending)
		return run_fail(r, ev->line,
				"blocking system call while another blocking system call (line "
				"%d) is already in progress",
				r->call.ev->line);
	call_init(c, ev, r->now, t);
	int rc = fn(r, c);
	if (rc < 0)
		return -1;
	if (rc == SYS_BLOCK) {
		c->retry = true;
		if (!blocking) {
			run_verbose(r, "%s() blocks on the main thread (line %d)", sc->name,
				    ev->line);
			rc = run_inline(r, c, fn);
			if (rc < 0)
				return -1;
			return complete(r, c);
		}
		r->pending = true;
		run_verbose(r, "%s() blocks (line %d)", sc->name, ev->line);
		return run_drain(r) < 0 ? run_fail(r, ev->line, "out of memory") : 0;
	}
	return complete(r, c);
}

int sys_retry(runner *r)
{
	run_call *c = &r->call;

	if (!r->pending)
		return 0;
	int rc = lookup(c->sc->name)(r, c);
	if (rc < 0)
		return -1;
	if (rc == SYS_BLOCK)
		return 0;
	r->pending = false;
	return complete(r, c);
}

void sys_close_all(runner *r)
{
	if (!r->stack)
		return;
	for (int i = 0; i < RUN_MAX_FDS; i++)
		if (r->fds[i].used)
			release(r, &r->fds[i]);
}

/* ------------------------------------------------------------------------ */
/* Shared with the kernel backend                                            */

bool sys_eval_int(const script_expr *e, int64_t *v, const char **bad)
{
	return eval_int(e, v, bad);
}

const script_expr *sys_field(const script_expr *st, const char *name)
{
	return field(st, name);
}

bool sys_is_ellipsis(const script_expr *e)
{
	return is_ellipsis(e);
}

int sys_check_result(runner *r, run_call *c)
{
	return check_result(r, c);
}

int sys_call_fail(runner *r, run_call *c, const char *fmt, ...)
{
	char msg[SCRIPT_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return run_fail(r, c->ev->line, "%s: %s", c->sc->name, msg);
}
