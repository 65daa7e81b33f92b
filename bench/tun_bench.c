/*
 * tun_bench.c — the connection-rate client of bench/tun_bench.py: keeps
 * CONCURRENCY non-blocking connects in flight to HOST:PORT for SECONDS,
 * closing each one as soon as its handshake completes, and prints the
 * number completed per second. One thread, epoll: unlike a Python loop it
 * does not bound the rate the servers can take.
 *
 *     tun_bench HOST PORT SECONDS CONCURRENCY SRC [SRC...]
 *     tun_bench --server HOST PORT
 *
 * The server mode is the kernel's counterpart of `synack serve` for this
 * figure: one thread accepting in an epoll loop and closing each
 * connection at once, so that both sides have one userspace thread and the
 * comparison is between the TCP stacks.
 *
 * Connections are spread over the source addresses SRC (bound with
 * IP_BIND_ADDRESS_NO_PORT, so that each has its own ephemeral ports): the
 * client closes first and its ports wait in TIME-WAIT.
 *
 * Built and run by tun_bench.py (cc -O2); prints "CPS <rate> <failed>".
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define EVENTS_MAX 256
#define CONCURRENCY_MAX 4096
#define SOURCES_MAX 16
#define WAIT_MS 10
#define BACKLOG 4096
#define NS_PER_SEC 1000000000.0

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* Linux 4.2 */
#endif

struct bench {
	int ep;
	struct sockaddr_in dst;
	struct sockaddr_in src[SOURCES_MAX];
	int n_src, next_src;
	long done, failed;
};

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / NS_PER_SEC;
}

/* Starts one non-blocking connect. Returns 0 or -1. */
static int start_one(struct bench *b)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct epoll_event ev = {.events = EPOLLOUT};
	const struct sockaddr_in *src = &b->src[b->next_src++ % b->n_src];

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)src, sizeof *src) < 0 ||
	    (connect(fd, (const struct sockaddr *)&b->dst, sizeof b->dst) < 0 &&
	     errno != EINPROGRESS)) {
		close(fd);
		b->failed++;
		return -1;
	}
	ev.data.fd = fd;
	if (epoll_ctl(b->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		return -1;
	}
	return 0;
}

/* A connect finished: count it, close it, start the next. Returns the
 * change in connects in flight. */
static int finish_one(struct bench *b, int fd, int more)
{
	int err = 0;
	socklen_t len = sizeof err;

	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err)
		b->failed++;
	else
		b->done++;
	close(fd);
	return more && start_one(b) == 0 ? 0 : -1;
}

static int parse_addr(const char *text, int port, struct sockaddr_in *out)
{
	memset(out, 0, sizeof *out);
	out->sin_family = AF_INET;
	out->sin_port = htons((unsigned short)port);
	return inet_pton(AF_INET, text, &out->sin_addr) == 1 ? 0 : -1;
}

/* Accepts and closes until killed. */
static int serve(const char *host, int port)
{
	struct sockaddr_in a;
	struct epoll_event ev = {.events = EPOLLIN}, evs[1];
	int one = 1, ep, fd;

	if (parse_addr(host, port, &a))
		return 2;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, BACKLOG) < 0) {
		perror("tun_bench: listen");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	printf("LISTENING\n");
	fflush(stdout);
	for (;;) {
		int c;

		if (epoll_wait(ep, evs, 1, -1) < 0 && errno != EINTR)
			return 1;
		/* Drain the accept queue: bounded by its length. */
		while ((c = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
			close(c);
	}
}

int main(int argc, char **argv)
{
	struct bench b = {0};
	struct epoll_event evs[EVENTS_MAX];
	double seconds, start, end;
	int conc, in_flight = 0;

	if (argc == 4 && !strcmp(argv[1], "--server"))
		return serve(argv[2], atoi(argv[3]));
	if (argc < 6) {
		fprintf(stderr, "usage: tun_bench HOST PORT SECONDS CONCURRENCY SRC [SRC...]\n");
		return 2;
	}
	seconds = atof(argv[3]);
	conc = atoi(argv[4]);
	if (parse_addr(argv[1], atoi(argv[2]), &b.dst) || seconds <= 0 || conc < 1 ||
	    conc > CONCURRENCY_MAX)
		return 2;
	for (int i = 5; i < argc && b.n_src < SOURCES_MAX; i++)
		if (parse_addr(argv[i], 0, &b.src[b.n_src++]))
			return 2;
	b.ep = epoll_create1(EPOLL_CLOEXEC);
	start = now_sec();
	end = start + seconds;
	for (int i = 0; i < conc; i++)
		in_flight += start_one(&b) == 0;
	/* Bounded by the clock; the in-flight connects drain after it. */
	while (in_flight > 0) {
		int more = now_sec() < end;
		int n = epoll_wait(b.ep, evs, EVENTS_MAX, WAIT_MS);

		for (int i = 0; i < n; i++)
			in_flight += finish_one(&b, evs[i].data.fd, more);
		if (now_sec() > end + seconds) /* stragglers: give up on them */
			break;
	}
	printf("CPS %.0f %ld\n", (double)b.done / (now_sec() - start), b.failed);
	return 0;
}
