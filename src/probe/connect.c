/*
 * connect.c — the TCP phase over the kernel's sockets: non-blocking
 * connect() and poll(), with SO_ERROR read once the socket reports, so that a
 * refusal (RST: ECONNREFUSED) is never taken for a timeout (poll ran out).
 * Several addresses race as RFC 8305 (Happy Eyeballs v2) describes.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "probe.h"
#include "raw.h"

/* RFC 8305 section 5: "Connection Attempt Delay", recommended default 250 ms. */
#define HE_ATTEMPT_DELAY_NS (250 * PROBE_NS_PER_MS)

enum probe_class probe_class_from_errno(int err)
{
	switch (err) {
	case 0:
		return PROBE_OK;
	case ECONNREFUSED:
		return PROBE_ERR_REFUSED;
	case ETIMEDOUT:
		return PROBE_ERR_TIMEOUT;
	case EHOSTUNREACH:
	case EHOSTDOWN:
		return PROBE_ERR_HOST_UNREACH;
	case ENETUNREACH:
	case ENETDOWN:
		return PROBE_ERR_NET_UNREACH;
	case ECONNRESET:
	case EPIPE:
		return PROBE_ERR_RESET;
	default:
		return PROBE_ERR_OTHER;
	}
}

static socklen_t addr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static void read_tcp_info(int fd, struct probe_tcp_info *ti)
{
	struct tcp_info k;
	socklen_t len = sizeof k;

	memset(ti, 0, sizeof *ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &k, &len) < 0)
		return;
	ti->valid = true;
	ti->rtt_us = k.tcpi_rtt;
	ti->rttvar_us = k.tcpi_rttvar;
	ti->rto_us = k.tcpi_rto;
	ti->snd_mss = k.tcpi_snd_mss;
	ti->rcv_mss = k.tcpi_rcv_mss;
	ti->wscale = k.tcpi_options & TCPI_OPT_WSCALE;
	ti->snd_wscale = k.tcpi_snd_wscale;
	ti->rcv_wscale = k.tcpi_rcv_wscale;
	ti->sack = k.tcpi_options & TCPI_OPT_SACK;
	ti->timestamps = k.tcpi_options & TCPI_OPT_TIMESTAMPS;
	ti->ecn = k.tcpi_options & TCPI_OPT_ECN;
}

/* Starts one try. Returns the socket (connecting or, rarely, connected) or -1 with a->class set. */
static int start_try(struct probe_addr_try *a, int64_t attempt_start)
{
	int fd = socket(a->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);

	a->started = true;
	a->start_ns = probe_now_ns() - attempt_start;
	if (fd < 0) {
		a->err = errno;
		a->class = probe_class_from_errno(errno);
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&a->addr, addr_len(&a->addr)) == 0 ||
	    errno == EINPROGRESS)
		return fd;
	/* Local failures (no route, unreachable route) come back at once. */
	a->err = errno;
	a->class = probe_class_from_errno(errno);
	a->ns = probe_now_ns() - attempt_start - a->start_ns;
	close(fd);
	return -1;
}

/* The socket reported: its fate is in SO_ERROR, not in the poll flags. */
static void finish_try(struct probe_addr_try *a, int fd, int64_t attempt_start)
{
	int err = 0;
	socklen_t len = sizeof err;

	a->ns = probe_now_ns() - attempt_start - a->start_ns;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	a->err = err;
	a->class = probe_class_from_errno(err);
}

/* Of several failures, the one that says most about the server. */
static enum probe_class worst_class(const struct probe_result *r)
{
	static const enum probe_class rank[] = {PROBE_ERR_REFUSED, PROBE_ERR_TIMEOUT,
						PROBE_ERR_HOST_UNREACH, PROBE_ERR_NET_UNREACH};

	for (size_t k = 0; k < sizeof rank / sizeof rank[0]; k++)
		for (size_t i = 0; i < r->naddrs; i++)
			if (r->addrs[i].started && r->addrs[i].class == rank[k])
				return rank[k];
	for (size_t i = 0; i < r->naddrs; i++)
		if (r->addrs[i].started && r->addrs[i].class != PROBE_OK)
			return r->addrs[i].class;
	return PROBE_ERR_OTHER;
}

struct race {
	int fd[PROBE_MAX_ADDRS];
	size_t next, active;
	int64_t next_start; /* when the next address may start (Connection Attempt Delay) */
	int64_t attempt_start;
};

static void race_start_next(struct probe_result *r, struct race *rc)
{
	/* Failures that happen at once move straight on to the next address. */
	while (rc->next < r->naddrs) {
		size_t i = rc->next++;

		rc->fd[i] = start_try(&r->addrs[i], rc->attempt_start);
		if (rc->fd[i] >= 0) {
			rc->active++;
			rc->next_start = probe_now_ns() + HE_ATTEMPT_DELAY_NS;
			return;
		}
	}
}

/* Closes every socket of the race but the winner's; those still connecting lost. */
static void race_close(struct probe_result *r, struct race *rc, int keep)
{
	int64_t now = probe_now_ns();

	for (size_t i = 0; i < r->naddrs; i++) {
		struct probe_addr_try *a = &r->addrs[i];

		if (rc->fd[i] < 0 || (int)i == keep)
			continue;
		a->cancelled = true;
		a->ns = now - rc->attempt_start - a->start_ns;
		close(rc->fd[i]);
	}
}

/* Ends the tries that ran out of time. */
static void race_expire(const struct probe_config *cfg, struct probe_result *r, struct race *rc,
			int64_t now)
{
	for (size_t i = 0; i < rc->next; i++) {
		struct probe_addr_try *a = &r->addrs[i];

		if (rc->fd[i] < 0 || rc->attempt_start + a->start_ns + cfg->timeout_ns > now)
			continue;
		a->ns = now - rc->attempt_start - a->start_ns;
		a->err = ETIMEDOUT;
		a->class = PROBE_ERR_TIMEOUT;
		close(rc->fd[i]);
		rc->fd[i] = -1;
		rc->active--;
	}
}

/* The earliest moment something is due: a try's timeout or the next start. */
static int64_t race_deadline(const struct probe_config *cfg, const struct probe_result *r,
			     const struct race *rc)
{
	int64_t d = rc->next < r->naddrs ? rc->next_start : INT64_MAX;

	for (size_t i = 0; i < rc->next; i++)
		if (rc->fd[i] >= 0) {
			int64_t end = rc->attempt_start + r->addrs[i].start_ns + cfg->timeout_ns;

			d = end < d ? end : d;
		}
	return d;
}

/* race_step's answers besides a winner's index. */
#define RACE_GO_ON (-1)
#define RACE_STOPPED (-2)
#define RACE_FAILED (-3)

/* One poll over the racing sockets: the winner's index, or one of the RACE_ answers. */
static int race_step(const struct probe_config *cfg, struct probe_result *r, struct race *rc)
{
	struct pollfd p[PROBE_MAX_ADDRS + 1];
	size_t map[PROBE_MAX_ADDRS], n = 0;
	int64_t left = race_deadline(cfg, r, rc) - probe_now_ns();
	int ms = left <= 0 ? 0 : (int)((left + PROBE_NS_PER_MS - 1) / PROBE_NS_PER_MS);

	for (size_t i = 0; i < rc->next; i++)
		if (rc->fd[i] >= 0) {
			p[n] = (struct pollfd){.fd = rc->fd[i], .events = POLLOUT};
			map[n++] = i;
		}
	p[n] = (struct pollfd){.fd = cfg->stop_fd, .events = POLLIN};
	if (poll(p, n + 1, ms) < 0 && errno != EINTR)
		return RACE_FAILED;
	if (p[n].revents)
		return RACE_STOPPED;
	for (size_t k = 0; k < n; k++) {
		size_t i = map[k];

		if (!p[k].revents)
			continue;
		finish_try(&r->addrs[i], rc->fd[i], rc->attempt_start);
		if (r->addrs[i].class == PROBE_OK)
			return (int)i;
		close(rc->fd[i]);
		rc->fd[i] = -1;
		rc->active--;
		rc->next_start = probe_now_ns(); /* RFC 8305 section 5: a failure starts the next */
	}
	race_expire(cfg, r, rc, probe_now_ns());
	if (rc->next < r->naddrs && probe_now_ns() >= rc->next_start)
		race_start_next(r, rc);
	return RACE_GO_ON;
}

static int race_run(const struct probe_config *cfg, struct probe_result *r, struct race *rc)
{
	/*
	 * Bounded: each pass either ends a try, starts one, or sleeps until the
	 * next such event; there are at most PROBE_MAX_ADDRS tries, each with a
	 * timeout.
	 */
	race_start_next(r, rc);
	while (rc->active > 0 || rc->next < r->naddrs) {
		int w = race_step(cfg, r, rc);

		if (w != RACE_GO_ON)
			return w;
		if (rc->active == 0 && rc->next < r->naddrs)
			race_start_next(r, rc);
	}
	return RACE_GO_ON; /* every address failed */
}

int probe_connect_socket(const struct probe_config *cfg, struct probe_result *r)
{
	struct race rc = {.attempt_start = probe_now_ns()};
	socklen_t len = sizeof r->local;
	int w, fd;

	for (size_t i = 0; i < PROBE_MAX_ADDRS; i++)
		rc.fd[i] = -1;
	w = race_run(cfg, r, &rc);
	race_close(r, &rc, w);
	r->phase_ns[PROBE_PHASE_TCP] = probe_now_ns() - rc.attempt_start;
	if (w == RACE_STOPPED || w == RACE_FAILED) {
		r->class = w == RACE_STOPPED ? PROBE_INTERRUPTED : PROBE_ERR_OTHER;
		snprintf(r->detail, sizeof r->detail, "%s",
			 w == RACE_STOPPED ? "stopped" : "poll failed");
		return -1;
	}
	if (w < 0) {
		r->class = worst_class(r);
		return -1;
	}
	r->winner = w;
	fd = rc.fd[w];
	/* The handshake of the winning address alone, from its connect() to writable. */
	r->phase_ns[PROBE_PHASE_TCP] = r->addrs[w].ns;
	getsockname(fd, (struct sockaddr *)&r->local, &len);
	read_tcp_info(fd, &r->tcp);
	return fd;
}

/* What each method needs before it runs; NULL: nothing. */
typedef enum probe_class (*probe_check_fn)(int *hold, char *err, size_t errlen);

/* Methods this build can use: how each connects, and what it checks first. */
static const struct {
	probe_connect_fn connect;
	probe_check_fn check;
} methods[] = {
    [PROBE_METHOD_SOCKET] = {probe_connect_socket, NULL},
    [PROBE_METHOD_RAW] = {probe_connect_raw, probe_raw_check},
};

probe_connect_fn probe_connector(enum probe_method method)
{
	if ((size_t)method >= sizeof methods / sizeof methods[0])
		return NULL;
	return methods[method].connect;
}

enum probe_class probe_method_check(enum probe_method method, int *hold, char *err, size_t errlen)
{
	*hold = -1;
	if ((size_t)method >= sizeof methods / sizeof methods[0] || !methods[method].check)
		return PROBE_OK;
	return methods[method].check(hold, err, errlen);
}
