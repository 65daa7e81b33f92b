/*
 * kernel.c — the kernel backend of the script runner: the same scripts,
 * played against the Linux kernel as packetdrill does, so that the suite
 * itself can be checked against Linux.
 *
 * Each script runs in a forked child that owns a network namespace of its
 * own (unshare(CLONE_NEWNET): it disappears with the child, nothing is
 * named or left behind). In it: lo up, a TUN device tun0 (IFF_TUN |
 * IFF_NO_PI, no offloads) with the local address 198.18.0.1 and the
 * script's remote side at 198.18.0.2 (IPv6: fd00::1 and fd00::2), the
 * script's sysctls written to the namespace's /proc/sys. System calls run on
 * real sockets, each on a thread of its own (packetdrill runs them on a
 * system-call thread) while the main thread writes the injected packets to
 * the TUN device and reads what the kernel sends, stamped with the time they
 * were read, for the runner's matcher. Time is real: CLOCK_MONOTONIC from
 * the start of the script.
 *
 * Safety: traffic only inside the child's namespace, only 198.18.0.0/15 and
 * fd00::/8; every wait is bounded; the child is killed when it overruns and
 * dies with its parent (PR_SET_PDEATHSIG).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run.h"
#include "wire/wire.h"

#define K_TUN_NAME "tun0"
#define K_TUN_PATH "/dev/net/tun"
#define K_LOCAL_V4 "198.18.0.1"
#define K_REMOTE_V4 "198.18.0.2"
#define K_PLEN_V4 "15" /* 198.18.0.0/15, RFC 2544 benchmarking */
#define K_LOCAL_V6 "fd00::1"
#define K_REMOTE_V6 "fd00::2"
#define K_PLEN_V6 "64"
#define K_NS_PER_MS 1000000LL
#define K_NS_PER_US 1000LL
/* A blocking call with no time range must return within this (the longest
 * legitimate one, a SYN given up after 6 retries, takes 127 s). */
#define K_INLINE_MAX_NS (200 * RUN_NS_PER_S)
/* How long to look for a packet that did not come, to show what came instead. */
#define K_LOOKAHEAD_NS (2 * RUN_NS_PER_S)
/* The child of one script is killed after this. */
#define K_CHILD_MAX_NS (600 * RUN_NS_PER_S)
#define K_BACK_TO_BACK_NS RUN_NS_PER_S /* packetdrill await_idle_thread() */
#define K_POLL_SLICE_NS RUN_NS_PER_S /* ppoll waits at most this at once */
#define K_POLL_MAX 16		     /* pollfds in one poll() call of a script */
#define K_CMD_MAX 256
#define K_PATH_MAX 256
#define K_VALUE_MAX 256
#define IP_VERSION_SHIFT 4
#define IPV4_PROTO_OFF 9
#define IPV6_NEXT_OFF 6
#define IPV6_HDR_LEN 40
#define IPV4_MIN_LEN 20
#define PROTO_TCP 6

typedef enum kop {
	K_FIXED, /* the result is known without a system call (EBADF) */
	K_SOCKET,
	K_BIND,
	K_LISTEN,
	K_ACCEPT,
	K_CONNECT,
	K_SEND,
	K_SENDTO,
	K_RECV,
	K_CLOSE,
	K_SHUTDOWN,
	K_SETSOCKOPT,
	K_GETSOCKOPT,
	K_FCNTL,
	K_IOCTL,
	K_POLL,
} kop;

typedef struct kcall {
	run_call c; /* ev, sc, times; ret and err when done */
	kop op;
	int fd, sfd; /* real and script descriptors of argument 0 */
	int64_t a[3];
	void *buf;
	size_t len;
	struct sockaddr_storage sa;
	socklen_t salen;
	struct linger lg;
	bool linger;
	int value; /* getsockopt and ioctl results */
	struct pollfd pfd[K_POLL_MAX];
	nfds_t npfd;
	int64_t done_ns;
	int done_fd; /* where the thread reports */
	pthread_t th;
} kcall;

typedef struct kstate {
	int tun;
	int done_pipe[2];
	int64_t t0;		  /* CLOCK_MONOTONIC ns of script time 0 */
	int kfd[RUN_MAX_FDS];	  /* script fd -> real fd, -1 */
	bool opened;		  /* the first packet or call came */
	bool await_tuple;	  /* an active open: the next SYN names the tuple */
	kcall *inline_call;	  /* the call the main thread waits for */
	bool inline_done;
	kcall *pending;		  /* the blocking call with a time range */
	uint8_t buf[RUN_PKT_MAX]; /* packets read from the TUN device */
} kstate;

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * RUN_NS_PER_S + ts.tv_nsec;
}

static void k_clock(runner *r)
{
	kstate *k = r->be_ctx;
	int64_t t = mono_ns() - k->t0;

	if (t > r->now)
		r->now = t;
}

/* ------------------------------------------------------------------------ */
/* The namespace                                                             */

/* Runs a fixed command line (ip, inside the child's namespace). */
static int k_shell(runner *r, const char *cmd)
{
	char line[K_CMD_MAX + 32];

	snprintf(line, sizeof line, "%s >/dev/null 2>&1", cmd);
	int rc = system(line);
	run_verbose(r, "kernel: `%s` -> %d", cmd, rc);
	return rc == 0 ? 0 : -1;
}

static int write_proc(const char *name, const char *value)
{
	char path[K_PATH_MAX];
	int n = snprintf(path, sizeof path, "/proc/sys/%s", name);

	if (n < 0 || (size_t)n >= sizeof path)
		return -ENAMETOOLONG;
	for (char *c = path + strlen("/proc/sys/"); *c; c++)
		if (*c == '.')
			*c = '/';
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t w = write(fd, value, strlen(value));
	int err = w < 0 ? errno : 0;
	close(fd);
	return w < 0 ? -err : 0;
}

static int read_proc(const char *name, char *out, size_t cap)
{
	char path[K_PATH_MAX];

	snprintf(path, sizeof path, "/proc/sys/%s", name);
	for (char *c = path + strlen("/proc/sys/"); *c; c++)
		if (*c == '.')
			*c = '/';
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(out, (int)cap, f))
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

static int k_prepare(runner *r)
{
	kstate *k = calloc(1, sizeof *k);
	bool v6 = r->family == SYNACK_AF_INET6;
	struct ifreq ifr;
	char cmd[K_CMD_MAX];

	if (!k)
		return run_fail(r, 1, "out of memory");
	r->be_ctx = k;
	k->tun = -1;
	k->done_pipe[0] = k->done_pipe[1] = -1;
	for (int i = 0; i < RUN_MAX_FDS; i++)
		k->kfd[i] = -1;
	/* The kernel side gets the benchmarking addresses, whatever the script
	 * says: real traffic stays in 198.18.0.0/15 and fd00::/8. */
	if (synack_addr_parse(v6 ? K_LOCAL_V6 : K_LOCAL_V4, &r->local_ip) < 0 ||
	    synack_addr_parse(v6 ? K_REMOTE_V6 : K_REMOTE_V4, &r->remote_ip) < 0)
		return run_fail(r, 1, "kernel: bad built-in address");
	if (pipe2(k->done_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return run_fail(r, 1, "kernel: pipe: %s", strerror(errno));
	if (k_shell(r, "ip link set lo up") < 0)
		return run_fail(r, 1, "kernel: cannot bring up lo (is iproute2 installed?)");
	k->tun = open(K_TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (k->tun < 0)
		return run_fail(r, 1, "kernel: %s: %s", K_TUN_PATH, strerror(errno));
	memset(&ifr, 0, sizeof ifr);
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", K_TUN_NAME);
	if (ioctl(k->tun, TUNSETIFF, &ifr) < 0)
		return run_fail(r, 1, "kernel: TUNSETIFF: %s", strerror(errno));
	if (!v6)
		write_proc("net.ipv6.conf." K_TUN_NAME ".disable_ipv6", "1");
	if (v6)
		snprintf(cmd, sizeof cmd, "ip -6 addr add %s/%s dev %s nodad", K_LOCAL_V6,
			 K_PLEN_V6, K_TUN_NAME);
	else
		snprintf(cmd, sizeof cmd, "ip addr add %s/%s dev %s", K_LOCAL_V4, K_PLEN_V4,
			 K_TUN_NAME);
	if (k_shell(r, cmd) < 0 || k_shell(r, "ip link set " K_TUN_NAME " up") < 0)
		return run_fail(r, 1, "kernel: cannot configure %s", K_TUN_NAME);
	r->wait_max_ns = K_LOOKAHEAD_NS;
	k->t0 = mono_ns();
	r->now = 0;
	return 0;
}

/* Script time 0 is when the first packet or system call is due: settings
 * made before it (a congestion control set through `ip route`) take a few
 * milliseconds that would otherwise count against the script's timing. */
static int k_open(runner *r, int line)
{
	kstate *k = r->be_ctx;

	(void)line;
	if (!k->opened) {
		k->t0 = mono_ns();
		r->now = 0;
	}
	k->opened = true;
	return 0;
}

/* Per-namespace settings may be written; the rest belong to the host. */
static bool netns_sysctl(const char *name)
{
	static const char *const host_wide[] = {
	    "net.ipv4.tcp_mem",
	    "net.ipv4.tcp_allowed_congestion_control",
	    "net.ipv4.tcp_available_congestion_control",
	    "net.ipv4.udp_mem",
	};

	for (size_t i = 0; i < sizeof host_wide / sizeof host_wide[0]; i++)
		if (!strcmp(name, host_wide[i]))
			return false;
	return !strncmp(name, "net.ipv4.tcp_", strlen("net.ipv4.tcp_")) ||
	       !strncmp(name, "net.ipv4.ip_", strlen("net.ipv4.ip_")) ||
	       !strncmp(name, "net.ipv6.", strlen("net.ipv6.")) ||
	       !strcmp(name, "net.core.somaxconn");
}

/* A namespace may only pick the congestion controls the host allows
 * (net.ipv4.tcp_allowed_congestion_control); the route's congctl attribute
 * is not restricted. */
static int set_congctl(runner *r, const char *algo)
{
	char cmd[K_CMD_MAX];
	bool v6 = r->family == SYNACK_AF_INET6;

	for (const char *c = algo; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
			return -1;
	snprintf(cmd, sizeof cmd, "ip %s route replace %s/%s dev %s congctl %s", v6 ? "-6" : "",
		 v6 ? K_REMOTE_V6 : K_REMOTE_V4, v6 ? "128" : "32", K_TUN_NAME, algo);
	return k_shell(r, cmd);
}

static int k_command(runner *r, const script_event *ev)
{
	for (size_t i = 0; i < ev->u.command.nsysctls; i++) {
		const script_sysctl *sc = &ev->u.command.sysctls[i];
		char cur[K_VALUE_MAX];

		if (!netns_sysctl(sc->name)) {
			if (read_proc(sc->name, cur, sizeof cur) == 0 && !strcmp(cur, sc->value))
				continue;
			return run_fail(r, ev->line,
					"unsupported: sysctl %s=%s is not per network namespace "
					"(%s:%d)",
					sc->name, sc->value, sc->file, sc->line);
		}
		int rc;
		/* Always through the route: its congctl overrides the sysctl,
		 * so once set it must carry every later choice too. */
		if (!strcmp(sc->name, "net.ipv4.tcp_congestion_control"))
			rc = set_congctl(r, sc->value) < 0 ? -EPERM : 0;
		else
			rc = write_proc(sc->name, sc->value);
		if (rc == -ENOENT) {
			run_verbose(r, "sysctl %s: not in this kernel, ignored", sc->name);
			continue;
		}
		if (rc < 0)
			return run_fail(r, ev->line, "sysctl %s=%s failed: %s (%s:%d)", sc->name,
					sc->value, strerror(-rc), sc->file, sc->line);
		run_verbose(r, "sysctl %s=%s", sc->name, sc->value);
	}
	if (!ev->u.command.nsysctls)
		run_verbose(r, "shell command not run: `%s`", ev->u.command.text);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Packets                                                                   */

static int k_send(runner *r, const uint8_t *pkt, size_t len, int line)
{
	kstate *k = r->be_ctx;
	ssize_t n = write(k->tun, pkt, len);

	if (n != (ssize_t)len)
		return run_fail(r, line, "kernel: write to %s: %s", K_TUN_NAME,
				n < 0 ? strerror(errno) : "short write");
	return 0;
}

static bool is_tcp(const uint8_t *p, size_t n)
{
	if (n >= IPV4_MIN_LEN && p[0] >> IP_VERSION_SHIFT == SYNACK_AF_INET)
		return p[IPV4_PROTO_OFF] == PROTO_TCP;
	if (n >= IPV6_HDR_LEN && p[0] >> IP_VERSION_SHIFT == SYNACK_AF_INET6)
		return p[IPV6_NEXT_OFF] == PROTO_TCP;
	return false;
}

/* An active open: its SYN names the connection under test. */
static void learn_tuple(runner *r, const uint8_t *p, size_t n)
{
	kstate *k = r->be_ctx;
	wire_seg seg;
	synack_addr l, rem;

	if (!k->await_tuple || wire_parse(p, n, 0, &seg) != WIRE_OK)
		return;
	if (!(seg.flags & WIRE_SYN) || (seg.flags & WIRE_ACK))
		return;
	memset(&l, 0, sizeof l);
	memset(&rem, 0, sizeof rem);
	l.family = rem.family = seg.family;
	memcpy(l.ip, seg.src, sizeof l.ip);
	memcpy(rem.ip, seg.dst, sizeof rem.ip);
	l.port = seg.sport;
	rem.port = seg.dport;
	run_set_tuple(r, &l, &rem);
	k->await_tuple = false;
}

/* Verbose: every packet the kernel sends, as it is read, in script space
 * when the ISN is known. */
static void show_packet(runner *r, const uint8_t *p, size_t n)
{
	wire_seg seg;
	char line[SCRIPT_ERR_MAX];
	uint32_t off = r->isn_known ? r->live_isn - r->script_isn : 0;

	if (wire_parse(p, n, 0, &seg) != WIRE_OK)
		return;
	fmt_packet(line, sizeof line, seg.flags, seg.seq - off, seg.payload_len, seg.ack, seg.win,
		   seg.urg, false, seg.opt, seg.opt_len);
	run_verbose(r, "kernel sent: %s", line);
}

static int read_tun(runner *r, int line)
{
	kstate *k = r->be_ctx;
	int got = 0;

	for (;;) {
		ssize_t n = read(k->tun, k->buf, sizeof k->buf);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return got;
		if (n < 0)
			return run_fail(r, line, "kernel: read from %s: %s", K_TUN_NAME,
					strerror(errno));
		if (!is_tcp(k->buf, (size_t)n))
			continue;
		k_clock(r);
		learn_tuple(r, k->buf, (size_t)n);
		if (r->opts.verbose)
			show_packet(r, k->buf, (size_t)n);
		if (run_enqueue(r, k->buf, (size_t)n) < 0)
			return run_fail(r, line, "out of memory");
		got++;
	}
}

/* ------------------------------------------------------------------------ */
/* System calls: the thread                                                  */

static void *k_worker(void *arg)
{
	kcall *kc = arg;
	long ret = 0;
	socklen_t olen = sizeof kc->value;

	errno = 0;
	switch (kc->op) {
	case K_FIXED:
		ret = kc->c.ret;
		errno = kc->c.err;
		break;
	case K_SOCKET:
		ret = socket((int)kc->a[0], (int)kc->a[1], (int)kc->a[2]);
		break;
	case K_BIND:
		ret = bind(kc->fd, (struct sockaddr *)&kc->sa, kc->salen);
		break;
	case K_LISTEN:
		ret = listen(kc->fd, (int)kc->a[0]);
		break;
	case K_ACCEPT:
		ret = accept4(kc->fd, NULL, NULL, (int)kc->a[0]);
		break;
	case K_CONNECT:
		ret = connect(kc->fd, (struct sockaddr *)&kc->sa, kc->salen);
		break;
	case K_SEND:
		ret = send(kc->fd, kc->buf, kc->len, (int)kc->a[0]);
		break;
	case K_SENDTO:
		ret = sendto(kc->fd, kc->buf, kc->len, (int)kc->a[0], (struct sockaddr *)&kc->sa,
			     kc->salen);
		break;
	case K_RECV:
		ret = recv(kc->fd, kc->buf, kc->len, (int)kc->a[0]);
		break;
	case K_CLOSE:
		ret = close(kc->fd);
		break;
	case K_SHUTDOWN:
		ret = shutdown(kc->fd, (int)kc->a[0]);
		break;
	case K_SETSOCKOPT:
		if (kc->linger)
			ret = setsockopt(kc->fd, (int)kc->a[0], (int)kc->a[1], &kc->lg,
					 sizeof kc->lg);
		else
			ret = setsockopt(kc->fd, (int)kc->a[0], (int)kc->a[1], &kc->value,
					 sizeof kc->value);
		break;
	case K_GETSOCKOPT:
		ret = getsockopt(kc->fd, (int)kc->a[0], (int)kc->a[1], &kc->value, &olen);
		break;
	case K_FCNTL:
		ret = fcntl(kc->fd, (int)kc->a[0], (int)kc->a[1]);
		break;
	case K_IOCTL:
		ret = ioctl(kc->fd, (unsigned long)kc->a[0], &kc->value);
		break;
	case K_POLL:
		ret = poll(kc->pfd, kc->npfd, (int)kc->a[0]);
		break;
	}
	kc->c.err = ret < 0 ? errno : 0;
	kc->c.ret = ret < 0 ? -1 : ret;
	kc->done_ns = mono_ns();
	if (write(kc->done_fd, &kc, sizeof kc) != sizeof kc)
		abort(); /* a pipe write of a pointer is atomic; this cannot happen */
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* System calls: arguments                                                   */

static const script_expr *karg(const kcall *kc, size_t i)
{
	return i < kc->c.sc->nargs ? kc->c.sc->args[i] : NULL;
}

static int kint(runner *r, kcall *kc, size_t i, int64_t *v)
{
	const char *bad = NULL;
	const script_expr *e = karg(kc, i);

	if (!e || !sys_eval_int(e, v, &bad))
		return sys_call_fail(r, &kc->c, "argument %zu: unsupported value %s", i + 1,
				     bad ? bad : "(missing)");
	return 0;
}

static int knargs(runner *r, kcall *kc, size_t lo, size_t hi)
{
	if (kc->c.sc->nargs < lo || kc->c.sc->nargs > hi)
		return sys_call_fail(r, &kc->c, "expected %zu arguments but got %zu", lo,
				     kc->c.sc->nargs);
	return 0;
}

static int free_sfd(const kstate *k)
{
	for (int i = RUN_FIRST_FD; i < RUN_MAX_FDS; i++)
		if (k->kfd[i] < 0)
			return i;
	return -1;
}

/* Argument 0 as a script descriptor: 1 when it names one, 0 when the call
 * is EBADF (no system call), -1 failure. */
static int kfd_arg(runner *r, kcall *kc)
{
	kstate *k = r->be_ctx;
	int64_t v;

	if (kint(r, kc, 0, &v) < 0)
		return -1;
	if (v < 0 || v >= RUN_MAX_FDS || k->kfd[v] < 0) {
		kc->op = K_FIXED;
		kc->c.ret = -1;
		kc->c.err = EBADF;
		return 0;
	}
	kc->sfd = (int)v;
	kc->fd = k->kfd[v];
	return 1;
}

/* The address of argument i: the kernel's own addresses, the port from
 * {..., sin_port=htons(N)} or dflt for `...`. */
static int ksockaddr(runner *r, kcall *kc, size_t i, const synack_addr *ip, uint16_t dflt)
{
	const script_expr *e = karg(kc, i), *p;
	int64_t port = dflt;
	const char *bad = NULL;

	if (e && !sys_is_ellipsis(e)) {
		p = sys_field(e, "sin_port");
		if (!p)
			p = sys_field(e, "sin6_port");
		if (!p || !sys_eval_int(p, &port, &bad) || port < 0 || port > UINT16_MAX)
			return sys_call_fail(r, &kc->c,
					     "unsupported address argument (use ... or {..., "
					     "sin_port=htons(N), ...})");
	}
	memset(&kc->sa, 0, sizeof kc->sa);
	if (ip->family == SYNACK_AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&kc->sa;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		memcpy(&s6->sin6_addr, ip->ip, sizeof s6->sin6_addr);
		kc->salen = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&kc->sa;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		memcpy(&s4->sin_addr, ip->ip, sizeof s4->sin_addr);
		kc->salen = sizeof *s4;
	}
	return 0;
}

static int kbuf(runner *r, kcall *kc, int64_t len)
{
	if (len < 0)
		return sys_call_fail(r, &kc->c, "negative length");
	kc->len = (size_t)len;
	kc->buf = calloc(1, kc->len ? kc->len : 1); /* packetdrill writes zeros */
	if (!kc->buf)
		return sys_call_fail(r, &kc->c, "out of memory");
	return 0;
}

/* Total length of [{..., N}, {..., M}] */
static int kiov_len(runner *r, kcall *kc, size_t i, int64_t *len)
{
	const script_expr *e = karg(kc, i);

	*len = 0;
	if (!e || e->type != SX_LIST)
		return sys_call_fail(r, &kc->c, "expected an iovec list [{..., N}, ...]");
	for (size_t j = 0; j < e->count; j++) {
		const script_expr *io = e->items[j];
		int64_t n;
		const char *bad = NULL;

		if (io->type != SX_STRUCT || io->count != 2 || !sys_eval_int(io->items[1], &n, &bad))
			return sys_call_fail(r, &kc->c, "unsupported iovec element");
		*len += n;
	}
	return 0;
}

/* An active open: the tuple and the ISN come from the SYN it sends. */
static void expect_active_open(runner *r)
{
	kstate *k = r->be_ctx;

	r->tuple_known = false;
	r->isn_known = false;
	r->ts_known = false;
	r->ts_map_len = 0;
	k->await_tuple = true;
}

static int prep_io(runner *r, kcall *kc, const char *name)
{
	int64_t len = 0, flags = 0;
	bool is_read = !strcmp(name, "read") || !strcmp(name, "recv") || !strcmp(name, "recvfrom");

	if (!strcmp(name, "writev")) {
		if (knargs(r, kc, 3, 3) < 0 || kiov_len(r, kc, 1, &len) < 0)
			return -1;
	} else {
		size_t want = !strcmp(name, "write") || !strcmp(name, "read")	 ? 3
			      : !strcmp(name, "send") || !strcmp(name, "recv") ? 4
										 : 6;
		if (knargs(r, kc, want, want) < 0 || kint(r, kc, 2, &len) < 0)
			return -1;
		if (want > 3 && kint(r, kc, 3, &flags) < 0)
			return -1;
		if (want == 6 && !is_read && (flags & MSG_FASTOPEN)) {
			if (ksockaddr(r, kc, 4, &r->remote_ip, r->connect_port) < 0)
				return -1;
			expect_active_open(r);
			kc->op = K_SENDTO;
		} else if (want == 6 && !is_read && !sys_is_ellipsis(karg(kc, 4))) {
			return sys_call_fail(
			    r, &kc->c, "unsupported: sendto with an address without MSG_FASTOPEN");
		}
	}
	if (kbuf(r, kc, len) < 0)
		return -1;
	kc->a[0] = flags;
	if (kc->op != K_SENDTO)
		kc->op = is_read ? K_RECV : K_SEND;
	return 0;
}

static int prep_setsockopt(runner *r, kcall *kc)
{
	int64_t v = 0;

	if (knargs(r, kc, 5, 5) < 0 || kint(r, kc, 1, &kc->a[0]) < 0 ||
	    kint(r, kc, 2, &kc->a[1]) < 0)
		return -1;
	if (kc->a[0] == SOL_SOCKET && kc->a[1] == SO_LINGER) {
		const script_expr *val = karg(kc, 3);
		const script_expr *on = sys_field(val, "onoff"), *lin = sys_field(val, "linger");
		int64_t o, l;
		const char *bad = NULL;

		if (!on || !lin || !sys_eval_int(on, &o, &bad) || !sys_eval_int(lin, &l, &bad))
			return sys_call_fail(r, &kc->c, "SO_LINGER needs {onoff=N, linger=N}");
		kc->linger = true;
		kc->lg.l_onoff = (int)o;
		kc->lg.l_linger = (int)l;
	} else {
		if (kint(r, kc, 3, &v) < 0)
			return -1;
		kc->value = (int)v;
	}
	kc->op = K_SETSOCKOPT;
	return 0;
}

static int prep_poll(runner *r, kcall *kc)
{
	kstate *k = r->be_ctx;
	const script_expr *list = karg(kc, 0);
	int64_t nfds;

	if (knargs(r, kc, 3, 3) < 0 || kint(r, kc, 1, &nfds) < 0 || kint(r, kc, 2, &kc->a[0]) < 0)
		return -1;
	if (!list || list->type != SX_LIST || (int64_t)list->count != nfds ||
	    list->count > K_POLL_MAX)
		return sys_call_fail(r, &kc->c, "expected a list of %lld {fd=, events=, revents=}",
				     (long long)nfds);
	for (size_t i = 0; i < list->count; i++) {
		const script_expr *fd = sys_field(list->items[i], "fd"),
				  *ev = sys_field(list->items[i], "events");
		int64_t fdv, evv;
		const char *bad = NULL;

		if (!fd || !ev || !sys_eval_int(fd, &fdv, &bad) || !sys_eval_int(ev, &evv, &bad))
			return sys_call_fail(r, &kc->c, "unsupported pollfd element");
		/* An unknown script fd gets a descriptor number that is closed:
		 * poll says POLLNVAL as it would for the script's number. */
		kc->pfd[i].fd = fdv >= 0 && fdv < RUN_MAX_FDS && k->kfd[fdv] >= 0
				    ? k->kfd[fdv]
				    : (int)(INT16_MAX + fdv);
		kc->pfd[i].events = (short)evv;
	}
	kc->npfd = list->count;
	kc->op = K_POLL;
	return 0;
}

/* Fills kc from the script's arguments. -1 failure (reported). */
static int k_prep(runner *r, kcall *kc)
{
	const char *name = kc->c.sc->name;
	int rc;

	if (!strcmp(name, "poll"))
		return prep_poll(r, kc);
	if (!strcmp(name, "socket")) {
		int64_t type, proto = IPPROTO_TCP;

		if (knargs(r, kc, 3, 3) < 0 || kint(r, kc, 1, &type) < 0)
			return -1;
		if (!sys_is_ellipsis(karg(kc, 2)) && kint(r, kc, 2, &proto) < 0)
			return -1;
		/* The script's family follows the run (packetdrill maps AF_INET
		 * to AF_INET6 for --ip_version=ipv6). */
		kc->a[0] = r->family == SYNACK_AF_INET6 ? AF_INET6 : AF_INET;
		kc->a[1] = type;
		kc->a[2] = proto;
		kc->op = K_SOCKET;
		return 0;
	}
	rc = kfd_arg(r, kc);
	if (rc <= 0)
		return rc;
	if (!strcmp(name, "bind")) {
		kc->op = K_BIND;
		return knargs(r, kc, 3, 3) < 0 ? -1
						: ksockaddr(r, kc, 1, &r->local_ip, r->bind_port);
	}
	if (!strcmp(name, "listen")) {
		kc->op = K_LISTEN;
		return knargs(r, kc, 2, 2) < 0 ? -1 : kint(r, kc, 1, &kc->a[0]);
	}
	if (!strcmp(name, "accept") || !strcmp(name, "accept4")) {
		kc->op = K_ACCEPT;
		if (knargs(r, kc, 3, 4) < 0)
			return -1;
		return kc->c.sc->nargs == 4 ? kint(r, kc, 3, &kc->a[0]) : 0;
	}
	if (!strcmp(name, "connect")) {
		kc->op = K_CONNECT;
		if (knargs(r, kc, 3, 3) < 0 ||
		    ksockaddr(r, kc, 1, &r->remote_ip, r->connect_port) < 0)
			return -1;
		if (r->fds[kc->sfd].kind == RFD_SOCKET) {
			/* the first connect() opens; later ones only ask */
			expect_active_open(r);
			r->fds[kc->sfd].kind = RFD_CONN;
		}
		return 0;
	}
	if (!strcmp(name, "write") || !strcmp(name, "send") || !strcmp(name, "sendto") ||
	    !strcmp(name, "writev") || !strcmp(name, "read") || !strcmp(name, "recv") ||
	    !strcmp(name, "recvfrom"))
		return prep_io(r, kc, name);
	if (!strcmp(name, "close")) {
		kc->op = K_CLOSE;
		return knargs(r, kc, 1, 1);
	}
	if (!strcmp(name, "shutdown")) {
		kc->op = K_SHUTDOWN;
		return knargs(r, kc, 2, 2) < 0 ? -1 : kint(r, kc, 1, &kc->a[0]);
	}
	if (!strcmp(name, "setsockopt"))
		return prep_setsockopt(r, kc);
	if (!strcmp(name, "getsockopt")) {
		kc->op = K_GETSOCKOPT;
		if (knargs(r, kc, 5, 5) < 0 || kint(r, kc, 1, &kc->a[0]) < 0)
			return -1;
		return kint(r, kc, 2, &kc->a[1]);
	}
	if (!strcmp(name, "fcntl")) {
		kc->op = K_FCNTL;
		if (knargs(r, kc, 2, 3) < 0 || kint(r, kc, 1, &kc->a[0]) < 0)
			return -1;
		return kc->c.sc->nargs == 3 ? kint(r, kc, 2, &kc->a[1]) : 0;
	}
	if (!strcmp(name, "ioctl")) {
		kc->op = K_IOCTL;
		return knargs(r, kc, 3, 3) < 0 ? -1 : kint(r, kc, 1, &kc->a[0]);
	}
	return run_fail(r, kc->c.ev->line, "unsupported syscall %s", name);
}

/* ------------------------------------------------------------------------ */
/* System calls: results                                                     */

static int check_value(runner *r, kcall *kc, size_t i)
{
	const script_expr *exp = karg(kc, i);
	int64_t want;

	if (kc->c.ret < 0 || !exp || sys_is_ellipsis(exp))
		return 0;
	if (exp->type == SX_LIST && exp->count == 1 && sys_is_ellipsis(exp->items[0]))
		return 0;
	if (kint(r, kc, i, &want) < 0)
		return -1;
	if (want != kc->value) {
		bool so_error = kc->op == K_GETSOCKOPT && kc->a[0] == SOL_SOCKET &&
				kc->a[1] == SO_ERROR;
		const char *en = so_error ? script_errno_name(kc->value) : NULL;
		return sys_call_fail(r, &kc->c, "expected value %lld but got %d%s%s%s",
				     (long long)want, kc->value, en ? " (" : "", en ? en : "",
				     en ? ")" : "");
	}
	return 0;
}

static int check_revents(runner *r, kcall *kc)
{
	const script_expr *list = karg(kc, 0);

	if (kc->c.ret < 0)
		return 0;
	for (size_t i = 0; i < kc->npfd; i++) {
		const script_expr *want = sys_field(list->items[i], "revents");
		int64_t wv = 0;
		const char *bad = NULL;

		if (want && sys_is_ellipsis(want))
			continue;
		if (want && !sys_eval_int(want, &wv, &bad))
			return sys_call_fail(r, &kc->c, "unsupported revents value %s", bad);
		if ((unsigned)wv != (unsigned short)kc->pfd[i].revents)
			return sys_call_fail(r, &kc->c,
					     "expected revents 0x%llx but got 0x%x for pollfd %zu",
					     (long long)wv, (unsigned short)kc->pfd[i].revents, i);
	}
	return 0;
}

static void k_map_fd(runner *r, kcall *kc)
{
	kstate *k = r->be_ctx;

	if ((kc->op == K_SOCKET || kc->op == K_ACCEPT) && kc->c.ret >= 0) {
		int sfd = free_sfd(k);
		if (sfd < 0) {
			close((int)kc->c.ret);
			kc->c.ret = -1;
			kc->c.err = EMFILE;
			return;
		}
		k->kfd[sfd] = (int)kc->c.ret;
		memset(&r->fds[sfd], 0, sizeof r->fds[sfd]);
		r->fds[sfd].used = true;
		r->fds[sfd].kind = kc->op == K_SOCKET ? RFD_SOCKET : RFD_CONN;
		kc->c.ret = sfd;
	} else if (kc->op == K_CLOSE) {
		k->kfd[kc->sfd] = -1;
		memset(&r->fds[kc->sfd], 0, sizeof r->fds[kc->sfd]);
	} else if (kc->op == K_BIND && kc->c.ret == 0) {
		r->fds[kc->sfd].bound = true;
		r->fds[kc->sfd].port = ntohs(kc->sa.ss_family == AF_INET6
						 ? ((struct sockaddr_in6 *)&kc->sa)->sin6_port
						 : ((struct sockaddr_in *)&kc->sa)->sin_port);
	} else if (kc->op == K_LISTEN && kc->c.ret == 0) {
		r->fds[kc->sfd].kind = RFD_LISTENER;
	}
}

static int k_complete(runner *r, kcall *kc)
{
	kstate *k = r->be_ctx;
	int rc = 0;
	int64_t now = r->now;

	pthread_join(kc->th, NULL);
	k_map_fd(r, kc);
	if (kc->op == K_GETSOCKOPT || kc->op == K_IOCTL)
		rc = check_value(r, kc, kc->op == K_IOCTL ? 2 : 3);
	else if (kc->op == K_POLL)
		rc = check_revents(r, kc);
	run_verbose(r, "%s() from line %d returned %ld%s%s", kc->c.sc->name, kc->c.ev->line,
		    kc->c.ret, kc->c.ret == -1 ? " " : "",
		    kc->c.ret == -1 ? strerror(kc->c.err) : "");
	if (rc == 0) {
		/* the return time is when the call returned, not when it was seen */
		r->now = kc->done_ns - k->t0;
		rc = sys_check_result(r, &kc->c);
		/* the main thread waited for this call: what follows counts
		 * from its return (see run_backend.real_time) */
		if (kc != k->inline_call)
			r->now = now > r->now ? now : r->now;
	}
	if (kc == k->pending) {
		k->pending = NULL;
		r->pending = false;
	}
	if (kc == k->inline_call) {
		k->inline_call = NULL;
		k->inline_done = true;
	}
	free(kc->buf);
	free(kc);
	return rc;
}

static int read_done(runner *r)
{
	kstate *k = r->be_ctx;
	kcall *kc;
	int got = 0;

	while (read(k->done_pipe[0], &kc, sizeof kc) == sizeof kc) {
		got++;
		if (k_complete(r, kc) < 0)
			return -1;
	}
	return got;
}

/* ------------------------------------------------------------------------ */
/* Time                                                                      */

static int k_step(runner *r, int64_t limit, int line)
{
	kstate *k = r->be_ctx;

	for (;;) {
		k_clock(r);
		int a = read_tun(r, line);
		int b = a < 0 ? -1 : read_done(r);
		if (a < 0 || b < 0)
			return -1;
		if (a + b > 0)
			return 1;
		if (r->now >= limit)
			return 0;
		int64_t wait = limit - r->now;
		if (wait > K_POLL_SLICE_NS)
			wait = K_POLL_SLICE_NS;
		struct timespec ts = {.tv_sec = wait / RUN_NS_PER_S, .tv_nsec = wait % RUN_NS_PER_S};
		struct pollfd pf[2] = {{.fd = k->tun, .events = POLLIN},
				       {.fd = k->done_pipe[0], .events = POLLIN}};
		if (ppoll(pf, 2, &ts, NULL) < 0 && errno != EINTR)
			return run_fail(r, line, "kernel: ppoll: %s", strerror(errno));
	}
}

static int k_advance(runner *r, int64_t target, int line)
{
	int rc;

	while ((rc = k_step(r, target, line)) > 0)
		;
	return rc < 0 ? -1 : 0;
}

static int k_sys_start(runner *r, const script_event *ev, int64_t t)
{
	kstate *k = r->be_ctx;
	const script_syscall *sc = &ev->u.syscall;
	bool ranged = sc->end_us != SCRIPT_NO_TIME;
	kcall *kc;

	if (ranged && r->pending)
		return run_fail(r, ev->line,
				"blocking system call while another blocking system call (line "
				"%d) is already in progress",
				r->call.ev->line);
	/* packetdrill has one system-call thread: a call waits for the blocked
	 * one before it (an ioctl(SIOCINQ) after a read() woken by data must
	 * see the read done), for a second at most, as the engine backend. */
	int64_t idle_limit = r->now + K_BACK_TO_BACK_NS;
	while (r->pending) {
		int rc = k_step(r, idle_limit, ev->line);
		if (rc < 0)
			return -1;
		if (rc == 0)
			break;
	}
	kc = calloc(1, sizeof *kc);
	if (!kc)
		return run_fail(r, ev->line, "out of memory");
	kc->c.ev = ev;
	kc->c.sc = sc;
	kc->c.start_ns = r->now;
	kc->c.wake_ns = RUN_NEVER;
	kc->c.end_ns = RUN_NEVER;
	if (ranged)
		kc->c.end_ns = (ev->time_type == STT_RELATIVE ? t - ev->time_us * K_NS_PER_US : 0) +
			       sc->end_us * K_NS_PER_US;
	kc->done_fd = k->done_pipe[1];
	if (k_prep(r, kc) < 0) {
		free(kc->buf);
		free(kc);
		return -1;
	}
	run_verbose(r, "%s() (line %d) starts", sc->name, ev->line);
	if (pthread_create(&kc->th, NULL, k_worker, kc) != 0) {
		free(kc->buf);
		free(kc);
		return run_fail(r, ev->line, "kernel: cannot start a thread");
	}
	if (ranged) {
		k->pending = kc;
		r->pending = true;
		r->call = kc->c;
		return 0;
	}
	/* packetdrill's main thread waits for a call without a time range */
	k->inline_call = kc;
	k->inline_done = false;
	int64_t limit = r->now + K_INLINE_MAX_NS;
	while (!k->inline_done) {
		int rc = k_step(r, limit, ev->line);
		if (rc < 0)
			return -1;
		if (rc == 0)
			return run_fail(r, ev->line,
					"%s: blocked for %.0f s (give the line a time range like "
					"+0...0.1 if later lines complete it)",
					sc->name, run_secs(K_INLINE_MAX_NS));
	}
	return r->failed ? -1 : 0;
}

/* Collects what happened meanwhile without waiting. */
static int k_sys_retry(runner *r)
{
	kstate *k = r->be_ctx;

	if (!k)
		return 0;
	k_clock(r);
	return read_tun(r, 0) < 0 || read_done(r) < 0 ? -1 : 0;
}

static void k_close(runner *r)
{
	kstate *k = r->be_ctx;

	/* The child exits right after: threads still blocked die with it, and
	 * so do the sockets, the TUN device and the namespace. */
	if (!k)
		return;
	for (int i = 0; i < RUN_MAX_FDS; i++)
		if (k->kfd[i] >= 0 && !k->pending && !k->inline_call)
			close(k->kfd[i]);
}

static const run_backend kernel_backend = {
    .name = "kernel",
    .real_time = true,
    .prepare = k_prepare,
    .open = k_open,
    .command = k_command,
    .step = k_step,
    .advance = k_advance,
    .send = k_send,
    .sys_start = k_sys_start,
    .sys_retry = k_sys_retry,
    .close = k_close,
};

/* ------------------------------------------------------------------------ */
/* The child                                                                 */

static void child(const script *s, const script_run_opts *opts, int fd)
{
	FILE *o = fdopen(fd, "w");

	if (!o)
		_exit(2);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN); /* EPIPE from write(), as packetdrill sees it */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(o, "%s:1: error: kernel: unshare(CLONE_NEWNET): %s\n", s->path,
			strerror(errno));
		fclose(o);
		_exit(2);
	}
	int rc = run_script_with(s, opts, o, &kernel_backend);
	fflush(o);
	_exit(rc == 0 ? 0 : 1);
}

int kernel_script_run(const script *s, const script_run_opts *opts, FILE *out)
{
	int p[2];
	char buf[4096];
	int64_t deadline = mono_ns() + K_CHILD_MAX_NS;
	bool killed = false;
	int status = 0;

	if (geteuid() != 0) {
		fprintf(out, "%s: error: --kernel needs root (network namespaces, TUN)\n", s->path);
		return -1;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		fprintf(out, "%s: error: pipe: %s\n", s->path, strerror(errno));
		return -1;
	}
	fflush(out);
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(out, "%s: error: fork: %s\n", s->path, strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		child(s, opts, p[1]);
	}
	close(p[1]);
	for (;;) {
		int64_t left = deadline - mono_ns();
		struct pollfd pf = {.fd = p[0], .events = POLLIN};

		if (left <= 0 && !killed) {
			kill(pid, SIGKILL);
			killed = true;
			fprintf(out, "%s: error: kernel run killed after %.0f s\n", s->path,
				run_secs(K_CHILD_MAX_NS));
		}
		int n = poll(&pf, 1, killed ? 1000 : (int)(left / K_NS_PER_MS + 1));
		if (n == 0)
			continue;
		ssize_t got = read(p[0], buf, sizeof buf);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		fwrite(buf, 1, (size_t)got, out);
	}
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status) && !killed)
		fprintf(out, "%s: error: kernel run died of signal %d\n", s->path,
			WTERMSIG(status));
	return !killed && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}
