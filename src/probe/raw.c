/*
 * raw.c — the --raw method: a synack stack of its own makes the SYN, and
 * this small driver moves its packets over raw sockets, so that the answer
 * is seen exactly as it came (like nmap -sS or hping3):
 *
 *   out: socket(AF_INET, SOCK_RAW, IPPROTO_RAW): the engine's packets carry
 *        their IP header and go out as they are;
 *   in:  socket(AF_INET, SOCK_RAW, IPPROTO_TCP) and IPPROTO_ICMP: copies of
 *        every TCP segment and ICMP message the host receives; only those of
 *        our 4-tuple go to synack_input.
 *
 * IPv6 raw sockets give no IP header on receive, so one is rebuilt from the
 * source address, IPV6_PKTINFO, the hop limit and the traffic class.
 *
 * The RTT is the kernel's: the SYN's transmit stamp (SO_TIMESTAMPING, taken
 * where tcpdump sees the packet) to the reply's receive stamp
 * (SO_TIMESTAMPNS), so neither sendto() nor poll()'s wake-up counts.
 *
 * After a SYN-ACK the engine's ACK is thrown away (the handshake is left
 * half-open) and synack_abort's RST goes out. The kernel has no socket for
 * our port either, so it also answers the SYN-ACK with a RST: expected, as
 * with nmap.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <linux/filter.h>
#include <linux/net_tstamp.h>
#include <netinet/icmp6.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <synack/synack.h>

#include "observe/observe.h"
#include "raw.h"

/* The largest IP packet, and room for a rebuilt IPv6 header. */
#define RAW_IN_MAX (65535 + WIRE_IPV6_HDR)
#define RAW_OUT_MAX 2048   /* the engine's SYN and RST, with room to spare */
#define RAW_CMSG_SPACE 256 /* timestamp, packet info, hop limit, traffic class */
#define RAW_RX_BATCH 64	   /* packets read per wake-up before the clocks are read */
#define TIMESTAMP_SETTLE_NS (2 * PROBE_NS_PER_MS) /* see hold_timestamps */
#define RAW_MAX_SYNS 16				  /* Linux's 6 syn_retries make 7 SYNs */
#define IPV6_VERSION 6
#define IPV4_TTL_OFFSET 8  /* RFC 791 section 3.1 */
#define IPV6_HOPS_OFFSET 7 /* RFC 8200 section 3 */
#define IPV6_NEXT_OFFSET 6
#define IPV6_PLEN_OFFSET 4
#define IPV6_SRC_OFFSET 8
#define IPV6_DST_OFFSET 24
#define IPV6_ADDR_LEN 16
#define IPV4_ADDR_LEN 4
#define TCP_SPORT_OFFSET 0 /* RFC 9293 section 3.1 */
#define TCP_DPORT_OFFSET 2
#define TCP_CHECKSUM_OFFSET 16

struct syn_sent {
	uint32_t send_id; /* which send on the raw socket (SOF_TIMESTAMPING_OPT_ID) */
	int64_t at;
	bool has_ts;
	uint32_t ts_val;
};

struct raw_probe {
	const struct probe_config *cfg;
	struct probe_result *r;
	int family;
	int tx, rx, icmp, hold;	     /* -1 when not open */
	struct sockaddr_storage dst; /* sendto's address: the target, port 0 */
	synack_addr local, remote;
	synack_stack *stack;
	synack_conn *conn;
	int64_t start;	     /* when the probe began */
	int64_t real_offset; /* CLOCK_REALTIME - CLOCK_MONOTONIC, for the kernel's stamps */
	int64_t end;	     /* the first SYN plus --timeout */
	uint32_t sends;	     /* packets sent on tx: the next one's timestamp ID */
	struct syn_sent syns[RAW_MAX_SYNS];
	bool done;
	enum probe_class class;
	uint8_t in[RAW_IN_MAX];
};

static socklen_t sockaddr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static size_t ip_len(int family)
{
	return family == AF_INET6 ? IPV6_ADDR_LEN : IPV4_ADDR_LEN;
}

static void to_synack_addr(const struct sockaddr_storage *ss, synack_addr *a)
{
	memset(a, 0, sizeof *a);
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		a->family = SYNACK_AF_INET6;
		memcpy(a->ip, &s6->sin6_addr, IPV6_ADDR_LEN);
		a->port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		a->family = SYNACK_AF_INET;
		memcpy(a->ip, &s4->sin_addr, IPV4_ADDR_LEN);
		a->port = ntohs(s4->sin_port);
	}
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

/* Ends the probe with a class, and with the system's words unless detail is NULL. */
static void finish(struct raw_probe *p, enum probe_class c, const char *what, int err)
{
	p->done = true;
	p->class = c;
	if (what)
		snprintf(p->r->detail, sizeof p->r->detail, "%s: %s", what, strerror(err));
}

static enum probe_class class_of_socket_error(int err)
{
	return err == EPERM || err == EACCES ? PROBE_ERR_PERMISSION : PROBE_ERR_OTHER;
}

/* ---- setting up ---- */

/* The kernel's choice of source address: a connected UDP socket sends nothing. */
static void pick_source(struct raw_probe *p, struct sockaddr_storage *src)
{
	int fd = socket(p->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	socklen_t len = sizeof *src;
	const struct sockaddr_storage *dst = &p->r->addrs[0].addr;

	if (fd < 0) {
		finish(p, PROBE_ERR_OTHER, "udp socket", errno);
		return;
	}
	if (connect(fd, (const struct sockaddr *)dst, sockaddr_len(dst)) < 0 ||
	    getsockname(fd, (struct sockaddr *)src, &len) < 0) {
		/* No route: the class the kernel's connect() would give (unreachable). */
		p->r->addrs[0].err = errno;
		finish(p, probe_class_from_errno(errno), "source address", errno);
	}
	close(fd);
}

/*
 * A kernel TCP socket bound to the source address (never listening) holds an
 * ephemeral port for the engine: the kernel cannot give that port to a
 * connection of its own during the probe, whose 4-tuple our SYN and RST would
 * disturb, and having no listener there it still answers our SYN-ACK with a
 * RST, as for any unused port.
 */
static void hold_port(struct raw_probe *p, struct sockaddr_storage *src)
{
	socklen_t len = sizeof *src;

	set_port(src, 0);
	p->hold = socket(p->family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (p->hold < 0 || bind(p->hold, (const struct sockaddr *)src, sockaddr_len(src)) < 0 ||
	    getsockname(p->hold, (struct sockaddr *)src, &len) < 0)
		finish(p, PROBE_ERR_OTHER, "port for the raw SYN", errno);
}

static int setopt(int fd, int level, int name, const void *v, socklen_t len)
{
	return setsockopt(fd, level, name, v, len);
}

/* Receive timestamps always; for IPv6 also what the missing header held. */
static int receive_options(int fd, int family)
{
	static const int on = 1;

	if (setopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) < 0)
		return -1;
	if (family != AF_INET6)
		return 0;
	if (setopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on) < 0 ||
	    setopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &on, sizeof on) < 0 ||
	    setopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &on, sizeof on) < 0)
		return -1;
	return 0;
}

/* ICMPv6 carries neighbour discovery too: take only the errors (RFC 4443 section 2.1). */
static int icmp6_errors_only(int fd)
{
	struct icmp6_filter f;

	ICMP6_FILTER_SETBLOCKALL(&f);
	ICMP6_FILTER_SETPASS(ICMP6_DST_UNREACH, &f);
	ICMP6_FILTER_SETPASS(ICMP6_PACKET_TOO_BIG, &f);
	ICMP6_FILTER_SETPASS(ICMP6_TIME_EXCEEDED, &f);
	ICMP6_FILTER_SETPASS(ICMP6_PARAM_PROB, &f);
	return setopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof f);
}

/*
 * Software transmit stamps (the kernel's timestamping.rst): taken as the
 * packet goes to the device, where tcpdump sees it, so the RTT leaves out our
 * own sendto(). Each stamp carries the number of its send (OPT_ID); without
 * them the clock read before sendto() stays.
 */
static void want_tx_stamps(int fd)
{
	static const int flags = SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE |
				 SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY;

	setopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags);
}

static int icmp_proto(int family)
{
	return family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
}

static void open_sockets(struct raw_probe *p)
{
	p->tx = socket(p->family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	p->rx = socket(p->family, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
	p->icmp = socket(p->family, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, icmp_proto(p->family));
	if (p->tx < 0 || p->rx < 0 || p->icmp < 0) {
		finish(p, class_of_socket_error(errno), "raw socket", errno);
		return;
	}
	want_tx_stamps(p->tx);
	if (receive_options(p->rx, p->family) < 0 || receive_options(p->icmp, p->family) < 0 ||
	    (p->family == AF_INET6 && icmp6_errors_only(p->icmp) < 0))
		finish(p, PROBE_ERR_OTHER, "raw socket options", errno);
}

/*
 * The TCP raw socket gets a copy of every segment the host receives: a
 * classic BPF filter keeps only those from the target's port to ours, so that
 * a busy host does not wake the probe for each of its own segments. The
 * filter only saves work; tcp_is_ours() still decides, and without the filter
 * (an old kernel) nothing changes but the load. IPv4 raw sockets see the IP
 * header first, IPv6 ones the TCP header.
 */
static void filter_ports(struct raw_probe *p)
{
	struct sock_filter code[] = {
	    p->family == AF_INET6 ? (struct sock_filter)BPF_STMT(BPF_LDX | BPF_IMM, 0)
				  : (struct sock_filter)BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
	    BPF_STMT(BPF_LD | BPF_H | BPF_IND, TCP_SPORT_OFFSET),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, p->remote.port, 0, 2),
	    BPF_STMT(BPF_LD | BPF_H | BPF_IND, TCP_DPORT_OFFSET),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, p->local.port, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, 0),
	    BPF_STMT(BPF_RET | BPF_K, UINT32_MAX),
	};
	struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};

	setopt(p->rx, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
}

/*
 * Linux's defaults, and a Fast Open cookie request in the first SYN (an empty
 * option, RFC 7413 section 4.1.1, as curl --tcp-fastopen's first connection
 * sends): a server with Fast Open on then shows its cookie in the SYN-ACK.
 * The engine leaves the request out of retransmissions, as Linux does, in
 * case a middlebox drops SYNs with options it does not know.
 */
static void start_engine(struct raw_probe *p)
{
	synack_config cfg;
	int err;

	synack_config_default(&cfg);
	if ((err = synack_stack_new(&cfg, &p->stack)) == 0 &&
	    (err = synack_stack_add_address(p->stack, &p->local)) == 0)
		err = (int)synack_connect_data(p->stack, &p->local, &p->remote, NULL, NULL, 0,
					       (synack_time)probe_now_ns(), &p->conn);
	if (err)
		finish(p, PROBE_ERR_OTHER, "synack engine", -err);
}

static void setup(struct raw_probe *p)
{
	struct sockaddr_storage src;

	p->start = probe_now_ns();
	p->real_offset = probe_wall_ns() - p->start;
	p->dst = p->r->addrs[0].addr;
	set_port(&p->dst, 0); /* raw sockets take the protocol, not a port, there */
	to_synack_addr(&p->r->addrs[0].addr, &p->remote);
	pick_source(p, &src);
	if (!p->done)
		open_sockets(p);
	if (!p->done)
		hold_port(p, &src);
	if (p->done)
		return;
	p->r->local = src;
	to_synack_addr(&src, &p->local);
	filter_ports(p);
	start_engine(p);
}

/* ---- sending ---- */

static bool to_target(const struct raw_probe *p, const wire_seg *seg)
{
	return seg->dport == p->remote.port && !memcmp(seg->dst, p->remote.ip, ip_len(p->family));
}

static void note_sent(struct raw_probe *p, const wire_seg *seg, int64_t at)
{
	struct probe_raw_info *ri = &p->r->raw;

	if (seg->flags & WIRE_RST)
		ri->rst_sent = true;
	if (!(seg->flags & WIRE_SYN))
		return;
	ri->valid = true;
	if (ri->syns < RAW_MAX_SYNS)
		p->syns[ri->syns] = (struct syn_sent){.send_id = p->sends - 1,
						      .at = at,
						      .has_ts = seg->opts.present & WIRE_HAS_TS,
						      .ts_val = seg->opts.ts_val};
	if (ri->syns == 0)
		p->end = at + p->cfg->timeout_ns;
	ri->syns++;
}

/* Sends what the engine queued; with discard, drops it instead (the ACK of a SYN-ACK). */
static void flush_output(struct raw_probe *p, bool discard)
{
	uint8_t out[RAW_OUT_MAX];
	ssize_t n;

	while ((n = synack_output(p->stack, out, sizeof out)) > 0) {
		wire_seg seg;
		int64_t at;

		/* A guard: only packets for the target leave, whatever the engine made. */
		if (discard || wire_parse(out, (size_t)n, 0, &seg) != WIRE_OK ||
		    !to_target(p, &seg))
			continue;
		/* Stamped before sendto: on loopback the answer may arrive inside the call. */
		at = probe_now_ns();
		if (sendto(p->tx, out, (size_t)n, 0, (const struct sockaddr *)&p->dst,
			   sockaddr_len(&p->dst)) < 0) {
			p->r->addrs[0].err = errno;
			finish(p, probe_class_from_errno(errno), "raw send", errno);
			return;
		}
		p->sends++;
		note_sent(p, &seg, at);
	}
	if (n < 0)
		finish(p, PROBE_ERR_OTHER, "synack engine output", (int)-n);
}

/* ---- receiving ---- */

struct rx_meta {
	struct timespec ts;
	bool has_ts;
	struct in6_addr dst;
	int hops, tclass;
};

static void read_cmsgs(struct msghdr *m, struct rx_meta *meta)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
			memcpy(&meta->ts, CMSG_DATA(c), sizeof meta->ts);
			meta->has_ts = true;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof pi);
			meta->dst = pi.ipi6_addr;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) {
			memcpy(&meta->hops, CMSG_DATA(c), sizeof meta->hops);
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
			memcpy(&meta->tclass, CMSG_DATA(c), sizeof meta->tclass);
		}
	}
}

/*
 * The kernel stamps packets on CLOCK_REALTIME; the probe's times are
 * CLOCK_MONOTONIC. The offset between the two, read once, converts a stamp;
 * a result outside the probe's lifetime means the wall clock was stepped
 * meanwhile, and the fallback (our own reading) stands.
 */
static int64_t mono_from_real(const struct raw_probe *p, const struct timespec *ts,
			      int64_t fallback)
{
	int64_t v = (int64_t)ts->tv_sec * PROBE_NS_PER_S + ts->tv_nsec - p->real_offset;

	return v >= p->start && v <= probe_now_ns() ? v : fallback;
}

/* The reply's arrival, not the moment poll() woke us. */
static int64_t arrival_time(const struct raw_probe *p, const struct rx_meta *meta)
{
	int64_t now = probe_now_ns();

	return meta->has_ts ? mono_from_real(p, &meta->ts, now) : now;
}

/* RFC 8200 section 3, from what the IPv6 raw socket gave beside the payload. */
static void ipv6_header(uint8_t *h, const struct sockaddr_in6 *from, const struct rx_meta *meta,
			int proto, size_t payload)
{
	uint8_t tclass = (uint8_t)meta->tclass;

	h[0] = (uint8_t)(IPV6_VERSION << 4 | tclass >> 4);
	h[1] = (uint8_t)(tclass << 4);
	h[2] = h[3] = 0; /* the flow label is not given to raw sockets */
	wire_set16(h + IPV6_PLEN_OFFSET, (uint16_t)payload);
	h[IPV6_NEXT_OFFSET] = (uint8_t)proto;
	h[IPV6_HOPS_OFFSET] = (uint8_t)meta->hops;
	memcpy(h + IPV6_SRC_OFFSET, &from->sin6_addr, IPV6_ADDR_LEN);
	memcpy(h + IPV6_DST_OFFSET, &meta->dst, IPV6_ADDR_LEN);
}

/* One packet from fd into p->in, IP header first: its length, 0 if none waits, -1 on error. */
static ssize_t receive(struct raw_probe *p, int fd, int proto, int64_t *at)
{
	size_t off = p->family == AF_INET6 ? WIRE_IPV6_HDR : 0;
	struct sockaddr_in6 from;
	union {
		char buf[RAW_CMSG_SPACE];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = p->in + off, .iov_len = sizeof p->in - off};
	struct msghdr m = {.msg_name = &from,
			   .msg_namelen = sizeof from,
			   .msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = ctl.buf,
			   .msg_controllen = sizeof ctl.buf};
	struct rx_meta meta = {.has_ts = false};
	ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT);

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	read_cmsgs(&m, &meta);
	*at = arrival_time(p, &meta);
	if (off)
		ipv6_header(p->in, &from, &meta, proto, (size_t)n);
	return n + (ssize_t)off;
}

static void apply_tx_stamp(struct raw_probe *p, uint32_t id, const struct timespec *ts)
{
	unsigned n = p->r->raw.syns < RAW_MAX_SYNS ? p->r->raw.syns : RAW_MAX_SYNS;

	for (unsigned i = 0; i < n; i++)
		if (p->syns[i].send_id == id)
			p->syns[i].at = mono_from_real(p, ts, p->syns[i].at);
}

/* One stamp from the error queue: false when none waits. */
static bool read_tx_stamp(struct raw_probe *p)
{
	union {
		char buf[RAW_CMSG_SPACE];
		struct cmsghdr align;
	} ctl;
	struct msghdr m = {.msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
	struct scm_timestamping stamp;
	struct sock_extended_err ee;
	bool have_stamp = false, have_id = false;

	if (recvmsg(p->tx, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
		return false;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPING) {
			memcpy(&stamp, CMSG_DATA(c), sizeof stamp);
			have_stamp = true;
		} else if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
			   (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
			memcpy(&ee, CMSG_DATA(c), sizeof ee);
			have_id =
			    ee.ee_errno == ENOMSG && ee.ee_origin == SO_EE_ORIGIN_TIMESTAMPING;
		}
	}
	if (have_stamp && have_id)
		apply_tx_stamp(p, ee.ee_data, &stamp.ts[0]);
	return true;
}

static void read_tx_stamps(struct raw_probe *p)
{
	for (int i = 0; i < RAW_RX_BATCH && read_tx_stamp(p); i++)
		;
}

/* ---- the reply ---- */

static bool tcp_is_ours(const struct raw_probe *p, const wire_seg *seg)
{
	size_t len = ip_len(p->family);

	return seg->sport == p->remote.port && seg->dport == p->local.port &&
	       !memcmp(seg->src, p->remote.ip, len) && !memcmp(seg->dst, p->local.ip, len);
}

static bool icmp_is_ours(const struct raw_probe *p, const wire_icmp *ic)
{
	size_t len = ip_len(p->family);

	return ic->q_sport == p->local.port && ic->q_dport == p->remote.port &&
	       !memcmp(ic->q_src, p->local.ip, len) && !memcmp(ic->q_dst, p->remote.ip, len);
}

/* Which SYN the reply answers: the one whose TSval it echoes, else the newest. */
static unsigned answered_syn(const struct raw_probe *p, const wire_opts *o,
			     enum probe_raw_match *how)
{
	unsigned n = p->r->raw.syns < RAW_MAX_SYNS ? p->r->raw.syns : RAW_MAX_SYNS;

	*how = n == 1 ? PROBE_MATCH_ONLY : PROBE_MATCH_LAST;
	if (n <= 1 || !o || !(o->present & WIRE_HAS_TS))
		return n ? n - 1 : 0;
	for (unsigned i = 0; i < n; i++)
		if (p->syns[i].has_ts && p->syns[i].ts_val == o->ts_ecr) {
			*how = PROBE_MATCH_TS_ECHO;
			return i;
		}
	return n - 1;
}

/* Keeps what the reply says; seg is its TCP header (NULL for ICMP). */
static void record_reply(struct raw_probe *p, enum probe_raw_reply kind, size_t len, int64_t at,
			 const wire_seg *seg)
{
	struct probe_raw_info *ri = &p->r->raw;
	const uint8_t *pkt = p->in;
	unsigned k;

	read_tx_stamps(p); /* each was queued as its SYN left, so before this reply came */
	k = answered_syn(p, seg ? &seg->opts : NULL, &ri->match);

	ri->reply = kind;
	ri->answers = k + 1;
	ri->rtt_ns = at - p->syns[k].at;
	ri->ttl = pkt[p->family == AF_INET6 ? IPV6_HOPS_OFFSET : IPV4_TTL_OFFSET];
	if (seg) {
		ri->tos = seg->tos;
		ri->ip_id = seg->ip_id;
		ri->df = seg->df;
		ri->flags = seg->flags;
		ri->seq = seg->seq;
		ri->ack = seg->ack;
		ri->win = seg->win;
		ri->opts = seg->opts;
	}
	/* No flows: absolute sequence numbers, as tcpdump -S prints them. */
	obs_tcpdump_body(NULL, pkt, len, ri->packet, sizeof ri->packet);
	p->r->phase_ns[PROBE_PHASE_TCP] = at - p->syns[0].at;
}

/* After a packet went to the engine: did the handshake end, and how? */
static bool handshake_over(struct raw_probe *p)
{
	int err;

	if (synack_conn_state(p->conn) == SYNACK_ESTABLISHED) {
		p->done = true;
		p->class = PROBE_OK;
		return true;
	}
	err = synack_conn_take_error(p->conn);
	if (!err)
		return false;
	p->r->addrs[0].err = -err;
	finish(p, probe_class_from_errno(-err), NULL, 0);
	return true;
}

/*
 * A segment made by this host's own TCP (the target is local, over lo or a
 * veth) reaches raw sockets before its checksum is filled in: with checksum
 * offload the field holds only the pseudo-header sum, folded and not
 * complemented (Linux's CHECKSUM_PARTIAL). Such a segment never crossed a
 * wire, so complete it; any other bad checksum stays for the engine to drop.
 */
static void complete_local_checksum(const struct raw_probe *p, const wire_seg *seg)
{
	uint8_t *tcp = (uint8_t *)seg->opt - WIRE_TCP_HDR;
	size_t tcp_len = (size_t)(seg->payload + seg->payload_len - tcp);
	size_t alen = ip_len(p->family);
	uint32_t sum = 0;
	uint16_t partial;

	sum = wire_csum_add(sum, seg->src, alen);
	sum = wire_csum_add(sum, seg->dst, alen);
	sum += WIRE_IPPROTO_TCP + (uint32_t)tcp_len;
	partial = (uint16_t)~wire_csum_fold(sum);
	if (wire_get16(tcp + TCP_CHECKSUM_OFFSET) != partial)
		return;
	wire_set16(tcp + TCP_CHECKSUM_OFFSET, 0);
	wire_set16(tcp + TCP_CHECKSUM_OFFSET,
		   wire_tcp_csum(seg->family, seg->src, seg->dst, tcp, tcp_len));
}

static void on_tcp(struct raw_probe *p, size_t len, int64_t at)
{
	wire_seg seg;

	if (wire_parse(p->in, len, 0, &seg) != WIRE_OK || !tcp_is_ours(p, &seg))
		return;
	complete_local_checksum(p, &seg);
	synack_input(p->stack, p->in, len, (synack_time)probe_now_ns());
	if (!handshake_over(p))
		return;
	record_reply(p, p->class == PROBE_OK ? PROBE_RAW_SYNACK : PROBE_RAW_RST, len, at, &seg);
}

static void on_icmp(struct raw_probe *p, size_t len, int64_t at)
{
	struct probe_raw_info *ri = &p->r->raw;
	wire_icmp ic;

	if (wire_parse_icmp(p->in, len, 0, &ic) != WIRE_OK || !icmp_is_ours(p, &ic))
		return;
	synack_input(p->stack, p->in, len, (synack_time)probe_now_ns());
	if (!handshake_over(p))
		return; /* an error the engine does not count (RFC 5927), or path MTU */
	record_reply(p, PROBE_RAW_ICMP, len, at, NULL);
	ri->icmp_type = ic.type;
	ri->icmp_code = ic.code;
	ri->icmp_from = p->r->addrs[0].addr;
	if (p->family == AF_INET6)
		memcpy(&((struct sockaddr_in6 *)&ri->icmp_from)->sin6_addr, ic.src, IPV6_ADDR_LEN);
	else
		memcpy(&((struct sockaddr_in *)&ri->icmp_from)->sin_addr, ic.src, IPV4_ADDR_LEN);
}

/* Reads what waits on fd, a bounded batch at a time so the clocks are looked at. */
static void drain(struct raw_probe *p, int fd, bool icmp)
{
	for (int i = 0; i < RAW_RX_BATCH && !p->done; i++) {
		int64_t at;
		ssize_t n = receive(p, fd, icmp ? icmp_proto(p->family) : IPPROTO_TCP, &at);

		if (n == 0)
			return;
		if (n < 0) {
			finish(p, PROBE_ERR_OTHER, "raw receive", errno);
			return;
		}
		if (icmp)
			on_icmp(p, (size_t)n, at);
		else
			on_tcp(p, (size_t)n, at);
	}
}

/* ---- the exchange ---- */

static int64_t engine_deadline(const struct raw_probe *p)
{
	synack_time d = synack_deadline(p->stack);

	return d > (synack_time)INT64_MAX ? INT64_MAX : (int64_t)d;
}

static int poll_ms(int64_t left_ns)
{
	int64_t ms = (left_ns + PROBE_NS_PER_MS - 1) / PROBE_NS_PER_MS;

	return ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* One wait: for a packet, the engine's next timer (a SYN retransmission), the end or a stop. */
static void step(struct raw_probe *p)
{
	struct pollfd pf[] = {{.fd = p->rx, .events = POLLIN},
			      {.fd = p->icmp, .events = POLLIN},
			      {.fd = p->cfg->stop_fd, .events = POLLIN}};
	int64_t now = probe_now_ns(), timer = engine_deadline(p);
	int64_t due = timer < p->end ? timer : p->end;

	if (poll(pf, sizeof pf / sizeof pf[0], poll_ms(due - now)) < 0 && errno != EINTR) {
		finish(p, PROBE_ERR_OTHER, "poll", errno);
		return;
	}
	if (pf[2].revents) {
		finish(p, PROBE_INTERRUPTED, NULL, 0);
		snprintf(p->r->detail, sizeof p->r->detail, "stopped");
		return;
	}
	if (pf[0].revents)
		drain(p, p->rx, false);
	if (pf[1].revents && !p->done)
		drain(p, p->icmp, true);
	now = probe_now_ns();
	if (!p->done && now >= timer) {
		synack_timeout(p->stack, (synack_time)now);
		handshake_over(p); /* the engine gave up: its own SYN retries ran out */
	}
	if (!p->done && now >= p->end) {
		p->r->addrs[0].err = ETIMEDOUT;
		finish(p, PROBE_ERR_TIMEOUT, NULL, 0);
	}
}

/* The SYN-ACK came: leave the handshake half-open and reset it (synack_abort's RST). */
static void reset_half_open(struct raw_probe *p)
{
	flush_output(p, true);
	synack_abort(p->conn, (synack_time)probe_now_ns());
	p->conn = NULL;
	flush_output(p, false);
	p->class = PROBE_OK; /* whether or not our RST could go, the probe saw its answer */
}

static void exchange(struct raw_probe *p)
{
	/*
	 * Bounded: every pass sends, then sleeps until a packet arrives, an
	 * engine timer is due or p->end; other traffic on the host may wake it
	 * often, but never keeps it past p->end.
	 */
	while (!p->done) {
		flush_output(p, false);
		if (!p->done)
			step(p);
	}
	if (p->class == PROBE_OK && p->r->raw.reply == PROBE_RAW_SYNACK)
		reset_half_open(p);
}

static void release(struct raw_probe *p)
{
	int fds[] = {p->tx, p->rx, p->icmp, p->hold};

	/* In SYN-SENT, or closed by a RST or ICMP error, an abort sends nothing. */
	if (p->conn)
		synack_abort(p->conn, (synack_time)probe_now_ns());
	if (p->stack)
		synack_stack_free(p->stack);
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int probe_connect_raw(const struct probe_config *cfg, struct probe_result *r)
{
	struct probe_addr_try *a = &r->addrs[0];
	int64_t start = probe_now_ns();
	struct raw_probe *p;

	/* Resolution gave at least one address; the raw method probes the first. */
	a->started = true;
	p = calloc(1, sizeof *p);
	if (!p) {
		r->class = PROBE_ERR_OTHER;
		snprintf(r->detail, sizeof r->detail, "out of memory");
		return -1;
	}
	*p = (struct raw_probe){.cfg = cfg,
				.r = r,
				.family = a->addr.ss_family,
				.tx = -1,
				.rx = -1,
				.icmp = -1,
				.hold = -1};
	setup(p);
	if (!p->done)
		exchange(p);
	release(p);
	a->class = r->class = p->class;
	a->ns = probe_now_ns() - start;
	if (r->phase_ns[PROBE_PHASE_TCP] < 0)
		r->phase_ns[PROBE_PHASE_TCP] = a->ns;
	if (p->class == PROBE_OK)
		r->winner = 0;
	free(p);
	return -1;
}

/*
 * The kernel stamps arriving packets only while some socket wants stamps, and
 * switches that on in deferred work, after the setsockopt has returned: a
 * probe whose own socket were the first would see its SYN-ACK stamped only
 * when read, after poll's wake-up (hundreds of microseconds later). A socket
 * that wants stamps for the whole run keeps the switch on; it receives
 * nothing (a UDP socket never bound). The wait gives the deferred work its
 * turn before the first SYN.
 */
static int hold_timestamps(void)
{
	static const int on = 1;
	struct timespec settle = {.tv_sec = 0, .tv_nsec = TIMESTAMP_SETTLE_NS};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && setopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) < 0) {
		close(fd);
		return -1;
	}
	nanosleep(&settle, NULL);
	return fd;
}

enum probe_class probe_raw_check(int *hold, char *err, size_t errlen)
{
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);

	*hold = -1;
	if (fd >= 0) {
		close(fd);
		*hold = hold_timestamps();
		return PROBE_OK;
	}
	if (class_of_socket_error(errno) != PROBE_ERR_PERMISSION)
		return PROBE_OK; /* another failure: each attempt reports it */
	snprintf(err, errlen, "--raw needs root or CAP_NET_RAW (raw socket: %s)", strerror(errno));
	return PROBE_ERR_PERMISSION;
}
