/*
 * tun.c — the TUN driver: a Linux TUN device, an epoll loop around one
 * synack stack, a packet filter and a seeded impairment layer.
 *
 * The impairment follows sim.c's model (loss, duplication, delay, jitter,
 * reordering by an extra hold, corruption, rate) but sim.c keeps its link
 * logic static, so the few lines of it that a real-time queue needs are
 * written again here: a min-heap of held packets ordered by release time,
 * over a free list of packet buffers that grows up to a bound and is never
 * shrunk (nothing is allocated per packet after warm-up).
 */
#include "drivers/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "observe/observe.h"

#define TUN_CLONE_PATH "/dev/net/tun"

/* Packets read from the device in one turn, so that a flood cannot starve
 * the timers and the caller. */
#define TUN_READ_BATCH 64
/* Packets written to the device in one turn (then the loop turns again
 * without waiting). */
#define TUN_WRITE_BATCH 256
/* Packets the impairment may hold at once (SIM_PACKET_MAX bytes of memory
 * each, 36 MiB at most): 6 MB of 1500-byte packets in flight. More are lost
 * and counted (imp_overflow), as a router's full queue would. */
#define TUN_IMPAIR_QUEUE_MAX 4096
#define TUN_HEAP_INITIAL 64
#define EPOLL_EVENTS_MAX 4

/* Salts that give each direction its own random stream. */
#define SALT_IN 0x74756e2d696eull    /* "tun-in" */
#define SALT_OUT 0x74756e2d6f7574ull /* "tun-out" */

/* The reorder hold when the spec gives none, as sim.c: twice the path's
 * delay, at least a millisecond. */
#define REORDER_GAP_FACTOR 2
#define REORDER_GAP_MIN SYNACK_MS

/* IP and TCP layouts (RFC 791 3.1, RFC 8200 3 and 4, RFC 9293 3.1). */
#define IP_VERSION_SHIFT 4
#define IPV4_MIN_HDR 20
#define IPV4_IHL_MASK 0x0f
#define IPV4_WORD 4
#define IPV4_PROTO_OFF 9
#define IPV4_DST_OFF 16
#define IPV4_ADDR_LEN 4
#define IPV4_MCAST_FIRST 224 /* 224.0.0.0/4 multicast and above */
#define IPV6_HDR 40
#define IPV6_NEXT_OFF 6
#define IPV6_DST_OFF 24
#define IPV6_ADDR_LEN 16
#define IPV6_MCAST_FIRST 0xff /* ff00::/8 */
#define IPV6_EXT_UNIT 8	      /* hop-by-hop, routing, dest. options: (len+1) x 8 */
#define IPV6_AH_UNIT 4	      /* AH: (len+2) x 4 (RFC 4302 2.2) */
#define IPV6_AH_EXTRA 2
#define IPV6_FRAG_HDR 8
#define IPV6_EXT_MAX 8 /* extension headers walked at most */
#define TCP_MIN_HDR 20
#define TCP_DOFF_OFF 12
#define TCP_DOFF_SHIFT 4
#define TCP_CSUM_OFF 16
#define TCP_CSUM_URG_LEN 4
#define BYTE_VALUES 256

/* IP protocol numbers (IANA). */
enum {
	PROTO_HOPOPTS = 0,
	PROTO_ICMP = 1,
	PROTO_TCP = 6,
	PROTO_ROUTING = 43,
	PROTO_FRAGMENT = 44,
	PROTO_AH = 51,
	PROTO_ICMPV6 = 58,
	PROTO_DSTOPTS = 60,
};

/* ICMP errors that TCP reacts to (RFC 1122 4.2.3.9; Linux tcp_v4_err). */
enum {
	ICMP_DEST_UNREACH = 3,
	ICMP_SOURCE_QUENCH = 4,
	ICMP_TIME_EXCEEDED = 11,
	ICMP_PARAMETERPROB = 12,
};

/* ICMPv6 types (RFC 4443, RFC 4861, RFC 2710, RFC 3810). Errors are 1..4. */
enum {
	ICMPV6_ERROR_FIRST = 1,
	ICMPV6_ERROR_LAST = 4,
	ICMPV6_MLD_QUERY = 130,
	ICMPV6_MLD_REPORT = 131,
	ICMPV6_MLD_DONE = 132,
	ICMPV6_ND_FIRST = 133, /* router solicitation */
	ICMPV6_ND_LAST = 137,  /* redirect */
	ICMPV6_MLD2_REPORT = 143,
};

#define NS_PER_SEC 1000000000LL
#define NS_PER_USEC 1000
#define NS_PER_MS 1000000L
#define MS_PER_SEC 1000
#define WAIT_MS_MAX 3600000 /* epoll_wait's int: an hour at a time */

/* What the filter decided for one packet read from the device. */
enum verdict {
	V_STACK = 0,
	V_MALFORMED,
	V_ND,
	V_MLD,
	V_NOT_OURS,
	V_NOT_TCP,
};

/* A packet held by the impairment. */
struct held {
	struct held *next; /* free list */
	uint32_t len;
	uint8_t data[SIM_PACKET_MAX];
};

struct heap_entry {
	synack_time at;
	uint64_t order; /* ties are released in the order scheduled */
	struct held *p;
	tun_dir dir;
};

/* One direction of the impairment. */
struct imp_dir {
	sim_rng rng;
	synack_time busy_until;	  /* end of the serialization queue (rate) */
	synack_time last_arrival; /* FIFO: jitter alone never reorders */
};

struct tun_driver {
	tun_config cfg;
	synack_stack *stack;
	int tun_fd, epoll_fd, signal_fd;
	bool stop;
	bool no_pwait2; /* the kernel (or valgrind) has no epoll_pwait2 */
	tun_counters ctr;

	struct imp_dir imp_in, imp_out;
	struct heap_entry *heap;
	size_t heap_len, heap_cap;
	struct held *free_held;
	size_t held_count; /* allocated, in the queue or free */
	uint64_t next_order;

	obs_flows *flows;
	obs_pcap_writer *pcap;
	uint8_t buf[TUN_PACKET_MAX];
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */

static int fail(char *err, size_t errcap, int code, const char *what)
{
	if (err && errcap)
		snprintf(err, errcap, "%s: %s", what, strerror(-code));
	return code;
}

synack_time tun_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (synack_time)ts.tv_sec * (synack_time)NS_PER_SEC + (synack_time)ts.tv_nsec;
}

static int64_t wall_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * (NS_PER_SEC / NS_PER_USEC) + ts.tv_nsec / NS_PER_USEC;
}

void tun_config_default(tun_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	sim_impair_none(&cfg->imp);
}

bool tun_counter_get(const tun_counters *c, size_t i, const char **name, const char **text,
		     uint64_t *value)
{
	size_t k = 0;

#define TUN_COUNTER_CASE(field, desc)                                                              \
	if (k++ == i) {                                                                            \
		*name = #field;                                                                    \
		*text = desc;                                                                      \
		*value = c->field;                                                                 \
		return true;                                                                       \
	}
	TUN_COUNTERS(TUN_COUNTER_CASE)
#undef TUN_COUNTER_CASE
	return false;
}

const tun_counters *tun_driver_counters(const tun_driver *d)
{
	return &d->ctr;
}

void tun_driver_print_counters(const tun_driver *d, FILE *out)
{
	const synack_counters *sc = synack_stack_counters(d->stack);
	const char *name, *text;
	uint64_t v;

	for (size_t i = 0; tun_counter_get(&d->ctr, i, &name, &text, &v); i++)
		if (v)
			fprintf(out, "  tun.%-22s %10llu  %s\n", name, (unsigned long long)v, text);
	for (size_t i = 0; synack_counter_describe(i, &name, &text); i++) {
		v = synack_counter_value(sc, i);
		if (v)
			fprintf(out, "  tcp.%-22s %10llu  %s\n", name, (unsigned long long)v, text);
	}
}

/* ------------------------------------------------------------------------ */
/* The filter: is this packet for the stack?                                 */

static bool addr_is_ours(const tun_driver *d, uint8_t family, const uint8_t *ip)
{
	size_t n = family == SYNACK_AF_INET ? IPV4_ADDR_LEN : IPV6_ADDR_LEN;

	if (d->cfg.n_addrs == 0)
		return true;
	for (size_t i = 0; i < d->cfg.n_addrs; i++)
		if (d->cfg.addrs[i].family == family && !memcmp(d->cfg.addrs[i].ip, ip, n))
			return true;
	return false;
}

static enum verdict classify_v4(const tun_driver *d, const uint8_t *p, size_t len)
{
	size_t ihl = (size_t)(p[0] & IPV4_IHL_MASK) * IPV4_WORD;
	const uint8_t *dst = p + IPV4_DST_OFF;

	if (len < IPV4_MIN_HDR || ihl < IPV4_MIN_HDR || ihl > len)
		return V_MALFORMED;
	if (dst[0] >= IPV4_MCAST_FIRST || !addr_is_ours(d, SYNACK_AF_INET, dst))
		return V_NOT_OURS;
	if (p[IPV4_PROTO_OFF] == PROTO_TCP)
		return V_STACK;
	if (p[IPV4_PROTO_OFF] == PROTO_ICMP && ihl < len) {
		switch (p[ihl]) {
		case ICMP_DEST_UNREACH:
		case ICMP_SOURCE_QUENCH:
		case ICMP_TIME_EXCEEDED:
		case ICMP_PARAMETERPROB:
			return V_STACK;
		default:
			break;
		}
	}
	return V_NOT_TCP;
}

/* Walks the IPv6 extension headers (bounded) to the upper-layer protocol.
 * Returns its number and its offset in *off, or -1 when the chain is cut
 * short. A fragment header ends the walk: the stack counts fragments. */
static int v6_upper(const uint8_t *p, size_t len, size_t *off)
{
	int next = p[IPV6_NEXT_OFF];
	size_t at = IPV6_HDR;

	for (int i = 0; i < IPV6_EXT_MAX; i++) {
		size_t ext;

		switch (next) {
		case PROTO_HOPOPTS:
		case PROTO_ROUTING:
		case PROTO_DSTOPTS:
			if (at + 2 > len)
				return -1;
			ext = ((size_t)p[at + 1] + 1) * IPV6_EXT_UNIT;
			break;
		case PROTO_AH:
			if (at + 2 > len)
				return -1;
			ext = ((size_t)p[at + 1] + IPV6_AH_EXTRA) * IPV6_AH_UNIT;
			break;
		default:
			*off = at;
			return next;
		}
		if (at + ext > len)
			return -1;
		next = p[at];
		at += ext;
	}
	return -1;
}

static enum verdict classify_icmpv6(uint8_t type)
{
	if (type >= ICMPV6_ERROR_FIRST && type <= ICMPV6_ERROR_LAST)
		return V_STACK;
	if (type >= ICMPV6_ND_FIRST && type <= ICMPV6_ND_LAST)
		return V_ND;
	if (type == ICMPV6_MLD_QUERY || type == ICMPV6_MLD_REPORT || type == ICMPV6_MLD_DONE ||
	    type == ICMPV6_MLD2_REPORT)
		return V_MLD;
	return V_NOT_TCP;
}

static enum verdict classify_v6(const tun_driver *d, const uint8_t *p, size_t len)
{
	const uint8_t *dst = p + IPV6_DST_OFF;
	size_t off = 0;
	int upper;

	if (len < IPV6_HDR)
		return V_MALFORMED;
	upper = v6_upper(p, len, &off);
	if (upper < 0)
		return V_MALFORMED;
	/* Neighbour discovery and MLD first: they go to multicast and
	 * link-local addresses, and are what an idle IPv6 link carries. */
	if (upper == PROTO_ICMPV6 && off < len) {
		enum verdict v = classify_icmpv6(p[off]);

		if (v == V_ND || v == V_MLD)
			return v;
	}
	if (dst[0] == IPV6_MCAST_FIRST || !addr_is_ours(d, SYNACK_AF_INET6, dst))
		return V_NOT_OURS;
	if (upper == PROTO_TCP || upper == PROTO_FRAGMENT)
		return V_STACK;
	if (upper == PROTO_ICMPV6 && off < len)
		return classify_icmpv6(p[off]);
	return V_NOT_TCP;
}

static enum verdict classify(const tun_driver *d, const uint8_t *p, size_t len)
{
	unsigned version = len ? p[0] >> IP_VERSION_SHIFT : 0;

	if (version == SYNACK_AF_INET)
		return classify_v4(d, p, len);
	if (version == SYNACK_AF_INET6)
		return classify_v6(d, p, len);
	return V_MALFORMED;
}

static void count_ignored(tun_driver *d, enum verdict v)
{
	switch (v) {
	case V_MALFORMED:
		d->ctr.ignored_malformed++;
		break;
	case V_ND:
		d->ctr.ignored_nd++;
		break;
	case V_MLD:
		d->ctr.ignored_mld++;
		break;
	case V_NOT_OURS:
		d->ctr.ignored_not_ours++;
		break;
	case V_NOT_TCP:
		d->ctr.ignored_not_tcp++;
		break;
	case V_STACK:
		break;
	}
}

/* ------------------------------------------------------------------------ */
/* Delivery: the tap, the stack and the device                               */

static void tap(tun_driver *d, const uint8_t *p, size_t len)
{
	int64_t ts;

	if (!d->cfg.trace && !d->pcap)
		return;
	ts = wall_usec();
	if (d->pcap)
		obs_pcap_write(d->pcap, ts, p, len);
	if (d->cfg.trace) {
		char line[OBS_LINE_MAX];

		obs_tcpdump_line(d->flows, ts, p, len, line, sizeof line);
		fprintf(d->cfg.trace_out ? d->cfg.trace_out : stdout, "%s\n", line);
	}
}

static void to_stack(tun_driver *d, const uint8_t *p, size_t len, synack_time now)
{
	tap(d, p, len);
	d->ctr.rx_to_stack++;
	if (synack_input(d->stack, p, len, now) < 0)
		d->ctr.rx_rejected++;
}

static void to_device(tun_driver *d, const uint8_t *p, size_t len)
{
	if (write(d->tun_fd, p, len) == (ssize_t)len) {
		d->ctr.tx_packets++;
		d->ctr.tx_bytes += len;
	} else {
		d->ctr.tx_errors++;
	}
}

static void deliver(tun_driver *d, tun_dir dir, const uint8_t *p, size_t len, synack_time now)
{
	if (dir == TUN_IN)
		to_stack(d, p, len, now);
	else
		to_device(d, p, len);
}

/* ------------------------------------------------------------------------ */
/* The impairment queue                                                      */

static bool heap_before(const struct heap_entry *a, const struct heap_entry *b)
{
	return a->at < b->at || (a->at == b->at && a->order < b->order);
}

static void heap_swap(struct heap_entry *h, size_t i, size_t j)
{
	struct heap_entry t = h[i];

	h[i] = h[j];
	h[j] = t;
}

static int heap_push(tun_driver *d, const struct heap_entry *e)
{
	size_t i;

	if (d->heap_len == d->heap_cap) {
		size_t cap = d->heap_cap ? 2 * d->heap_cap : TUN_HEAP_INITIAL;
		struct heap_entry *h = realloc(d->heap, cap * sizeof *h);

		if (!h)
			return -ENOMEM;
		d->heap = h;
		d->heap_cap = cap;
	}
	i = d->heap_len++;
	d->heap[i] = *e;
	while (i > 0 && heap_before(&d->heap[i], &d->heap[(i - 1) / 2])) {
		heap_swap(d->heap, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	return 0;
}

static void heap_pop(tun_driver *d)
{
	size_t i = 0;

	d->heap[0] = d->heap[--d->heap_len];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < d->heap_len && heap_before(&d->heap[l], &d->heap[m]))
			m = l;
		if (r < d->heap_len && heap_before(&d->heap[r], &d->heap[m]))
			m = r;
		if (m == i)
			return;
		heap_swap(d->heap, i, m);
		i = m;
	}
}

static struct held *held_get(tun_driver *d)
{
	struct held *h = d->free_held;

	if (h) {
		d->free_held = h->next;
		return h;
	}
	if (d->held_count >= TUN_IMPAIR_QUEUE_MAX)
		return NULL;
	h = malloc(sizeof *h);
	if (h)
		d->held_count++;
	return h;
}

static void held_put(tun_driver *d, struct held *h)
{
	h->next = d->free_held;
	d->free_held = h;
}

static bool chance(sim_rng *rng, double p)
{
	return p > 0 && sim_rng_unit(rng) < p;
}

/* Flips one byte of the TCP checksum, urgent pointer or payload, as sim.c
 * does: only the TCP checksum can tell. */
static void corrupt(sim_rng *rng, uint8_t *p, size_t len)
{
	unsigned version = p[0] >> IP_VERSION_SHIFT;
	size_t ip_len =
	    version == SYNACK_AF_INET ? (size_t)(p[0] & IPV4_IHL_MASK) * IPV4_WORD : IPV6_HDR;
	size_t payload, choices, pick;
	uint8_t flip = (uint8_t)(1 + sim_rng_below(rng, BYTE_VALUES - 1));

	if (len < ip_len + TCP_MIN_HDR)
		return;
	payload = ip_len + (size_t)(p[ip_len + TCP_DOFF_OFF] >> TCP_DOFF_SHIFT) * IPV4_WORD;
	choices = TCP_CSUM_URG_LEN + (payload < len ? len - payload : 0);
	pick = (size_t)sim_rng_below(rng, choices);
	if (pick < TCP_CSUM_URG_LEN)
		p[ip_len + TCP_CSUM_OFF + pick] ^= flip;
	else
		p[payload + pick - TCP_CSUM_URG_LEN] ^= flip;
}

static synack_time reorder_gap(const sim_impair *imp)
{
	synack_time gap = imp->reorder_gap;

	if (gap)
		return gap;
	gap = REORDER_GAP_FACTOR * (imp->delay + imp->jitter);
	return gap > REORDER_GAP_MIN ? gap : REORDER_GAP_MIN;
}

/* Puts one copy in the queue with its release time. */
static void schedule(tun_driver *d, struct imp_dir *id, tun_dir dir, const uint8_t *p, size_t len,
		     synack_time depart)
{
	const sim_impair *imp = &d->cfg.imp;
	struct held *h = held_get(d);
	struct heap_entry e;
	synack_time at = depart + imp->delay;

	if (!h) {
		d->ctr.imp_overflow++;
		return;
	}
	memcpy(h->data, p, len);
	h->len = (uint32_t)len;
	if (imp->jitter)
		at += sim_rng_below(&id->rng, imp->jitter + 1);
	if (chance(&id->rng, imp->corrupt)) {
		corrupt(&id->rng, h->data, len);
		d->ctr.imp_corrupted++;
	}
	if (chance(&id->rng, imp->reorder)) {
		d->ctr.imp_reordered++;
		at += reorder_gap(imp);
	} else {
		if (at < id->last_arrival)
			at = id->last_arrival;
		id->last_arrival = at;
	}
	e = (struct heap_entry){.at = at, .order = d->next_order++, .p = h, .dir = dir};
	if (heap_push(d, &e) < 0) {
		held_put(d, h);
		d->ctr.imp_overflow++;
	}
}

/* A packet entering the impaired link in direction dir at now. */
static void impair(tun_driver *d, tun_dir dir, const uint8_t *p, size_t len, synack_time now)
{
	const sim_impair *imp = &d->cfg.imp;
	struct imp_dir *id = dir == TUN_IN ? &d->imp_in : &d->imp_out;
	synack_time depart = now;

	if (!d->cfg.impaired || len > SIM_PACKET_MAX) {
		deliver(d, dir, p, len, now);
		return;
	}
	if (chance(&id->rng, imp->loss)) {
		d->ctr.imp_lost++;
		return;
	}
	if (imp->rate) {
		if (id->busy_until < now)
			id->busy_until = now;
		id->busy_until += (synack_time)len * SYNACK_SEC / imp->rate;
		depart = id->busy_until;
	}
	if (chance(&id->rng, imp->dup)) {
		d->ctr.imp_duplicated++;
		schedule(d, id, dir, p, len, depart);
	}
	schedule(d, id, dir, p, len, depart);
}

/* Releases every held packet due at or before now. Bounded by the queue's
 * size at entry: what a release schedules waits for the next turn. */
static void release_due(tun_driver *d, synack_time now)
{
	size_t n = d->heap_len;

	while (n-- > 0 && d->heap_len && d->heap[0].at <= now) {
		struct heap_entry e = d->heap[0];

		heap_pop(d);
		deliver(d, e.dir, e.p->data, e.p->len, now);
		held_put(d, e.p);
	}
}

static synack_time queue_deadline(const tun_driver *d)
{
	return d->heap_len ? d->heap[0].at : SYNACK_TIME_NEVER;
}

/* ------------------------------------------------------------------------ */
/* Setup                                                                     */

static int open_tun(const char *name, int *fd_out, char *err, size_t errcap)
{
	struct ifreq ifr;
	int fd;

	if (!name || strlen(name) >= IFNAMSIZ)
		return fail(err, errcap, -EINVAL, "tun device name");
	fd = open(TUN_CLONE_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errcap, -errno, TUN_CLONE_PATH);
	memset(&ifr, 0, sizeof ifr);
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = -errno;

		close(fd);
		snprintf(err, errcap, "attach to TUN device %s: %s", name, strerror(-e));
		return e;
	}
	*fd_out = fd;
	return 0;
}

int tun_device_mtu(const char *name)
{
	struct ifreq ifr;
	int fd, r;

	if (!name || strlen(name) >= IFNAMSIZ)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, name, strlen(name));
	r = ioctl(fd, SIOCGIFMTU, &ifr) < 0 ? -errno : ifr.ifr_mtu;
	close(fd);
	return r;
}

static int open_signals(tun_driver *d, char *err, size_t errcap)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < d->cfg.n_signals; i++)
		sigaddset(&set, d->cfg.signals[i]);
	/* Blocked so that they arrive only through the signalfd. */
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return fail(err, errcap, -errno, "sigprocmask");
	d->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->signal_fd < 0)
		return fail(err, errcap, -errno, "signalfd");
	return 0;
}

static int epoll_watch(int epfd, int fd, char *err, size_t errcap)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return fail(err, errcap, -errno, "epoll_ctl");
	return 0;
}

static int open_tap(tun_driver *d, char *err, size_t errcap)
{
	if (d->cfg.trace) {
		tzset(); /* tcpdump prints local time: honour TZ */
		d->flows = obs_flows_new();
		if (!d->flows)
			return fail(err, errcap, -ENOMEM, "trace");
	}
	if (d->cfg.pcap_path)
		return obs_pcap_create(d->cfg.pcap_path, &d->pcap, err, errcap);
	return 0;
}

static void seed_impairment(tun_driver *d)
{
	uint64_t seed = d->cfg.imp.has_seed ? d->cfg.imp.seed : TUN_IMPAIR_SEED_DEFAULT;

	sim_rng_seed(&d->imp_in.rng, seed ^ SALT_IN);
	sim_rng_seed(&d->imp_out.rng, seed ^ SALT_OUT);
}

int tun_driver_new(const tun_config *cfg, synack_stack *stack, tun_driver **out, char *err,
		   size_t errcap)
{
	tun_driver *d = calloc(1, sizeof *d);
	int r;

	if (!d)
		return fail(err, errcap, -ENOMEM, "tun driver");
	d->cfg = *cfg;
	d->stack = stack;
	d->tun_fd = d->epoll_fd = d->signal_fd = -1;
	seed_impairment(d);
	r = open_tun(cfg->device, &d->tun_fd, err, errcap);
	if (!r)
		r = open_signals(d, err, errcap);
	if (!r) {
		d->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
		r = d->epoll_fd < 0 ? fail(err, errcap, -errno, "epoll_create1") : 0;
	}
	if (!r)
		r = epoll_watch(d->epoll_fd, d->tun_fd, err, errcap);
	if (!r)
		r = epoll_watch(d->epoll_fd, d->signal_fd, err, errcap);
	if (!r)
		r = open_tap(d, err, errcap);
	if (r) {
		tun_driver_free(d);
		return r;
	}
	*out = d;
	return 0;
}

void tun_driver_free(tun_driver *d)
{
	struct held *h;

	if (!d)
		return;
	if (d->tun_fd >= 0)
		close(d->tun_fd);
	if (d->epoll_fd >= 0)
		close(d->epoll_fd);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	obs_pcap_close(d->pcap);
	obs_flows_free(d->flows);
	for (size_t i = 0; i < d->heap_len; i++)
		free(d->heap[i].p);
	while ((h = d->free_held)) {
		d->free_held = h->next;
		free(h);
	}
	free(d->heap);
	free(d);
}

void tun_driver_stop(tun_driver *d)
{
	d->stop = true;
}

/* ------------------------------------------------------------------------ */
/* The loop                                                                  */

/* Reads up to a batch of packets. Returns 1 when the batch was full (more
 * may wait), 0 when the device is drained, or a negative errno. */
static int read_device(tun_driver *d, synack_time now)
{
	for (int i = 0; i < TUN_READ_BATCH; i++) {
		ssize_t n = read(d->tun_fd, d->buf, sizeof d->buf);
		enum verdict v;

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		d->ctr.rx_packets++;
		d->ctr.rx_bytes += (uint64_t)n;
		v = classify(d, d->buf, (size_t)n);
		if (v != V_STACK)
			count_ignored(d, v);
		else
			impair(d, TUN_IN, d->buf, (size_t)n, now);
	}
	return 1;
}

static void read_signals(tun_driver *d, synack_time now)
{
	struct signalfd_siginfo si;

	for (int i = 0; i < TUN_SIGNALS_MAX; i++) {
		if (read(d->signal_fd, &si, sizeof si) != (ssize_t)sizeof si)
			return;
		if (d->cfg.on_signal)
			d->cfg.on_signal(d->cfg.ctx, (int)si.ssi_signo, now);
	}
}

/* Takes the stack's packets. Returns true when the batch was full. */
static bool drain_stack(tun_driver *d, synack_time now)
{
	for (int i = 0; i < TUN_WRITE_BATCH; i++) {
		ssize_t n = synack_output(d->stack, d->buf, sizeof d->buf);

		if (n <= 0)
			return false;
		tap(d, d->buf, (size_t)n);
		impair(d, TUN_OUT, d->buf, (size_t)n, now);
	}
	return true;
}

static synack_time next_deadline(const tun_driver *d)
{
	synack_time t = synack_deadline(d->stack);
	synack_time q = queue_deadline(d);

	if (q < t)
		t = q;
	if (d->cfg.deadline) {
		synack_time a = d->cfg.deadline(d->cfg.ctx);

		if (a < t)
			t = a;
	}
	return t;
}

/* Everything one turn does once the waiting is over. Returns true when
 * work is left over (a full batch) and the next wait must not block. */
static bool turn(tun_driver *d, synack_time now)
{
	bool more;

	release_due(d, now);
	if (synack_deadline(d->stack) <= now)
		synack_timeout(d->stack, now);
	if (d->cfg.service)
		d->cfg.service(d->cfg.ctx, now);
	more = drain_stack(d, now);
	release_due(d, now);
	if (d->pcap || d->cfg.trace)
		fflush(d->cfg.trace_out ? d->cfg.trace_out : stdout);
	return more;
}

static void wait_time(synack_time deadline, synack_time now, bool busy, struct timespec *ts)
{
	synack_time wait = 0;

	if (!busy && deadline > now)
		wait = deadline - now;
	ts->tv_sec = (time_t)(wait / SYNACK_SEC);
	ts->tv_nsec = (long)(wait % SYNACK_SEC);
}

/* epoll_pwait2 (Linux 5.11) waits to the nanosecond; where it is missing
 * (older kernels, valgrind) epoll_wait waits whole milliseconds, rounded up
 * so that a deadline is never run early. */
static int wait_events(tun_driver *d, struct epoll_event *evs, const struct timespec *ts)
{
	int n, ms;

	if (!d->no_pwait2) {
		n = epoll_pwait2(d->epoll_fd, evs, EPOLL_EVENTS_MAX, ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		d->no_pwait2 = true;
	}
	if (!ts)
		ms = -1;
	else if (ts->tv_sec >= WAIT_MS_MAX / MS_PER_SEC)
		ms = WAIT_MS_MAX;
	else
		ms = (int)(ts->tv_sec * MS_PER_SEC + (ts->tv_nsec + NS_PER_MS - 1) / NS_PER_MS);
	return epoll_wait(d->epoll_fd, evs, EPOLL_EVENTS_MAX, ms);
}

int tun_driver_run(tun_driver *d, char *err, size_t errcap)
{
	bool busy = true;

	d->stop = false;
	while (!d->stop) {
		struct epoll_event evs[EPOLL_EVENTS_MAX];
		synack_time deadline = next_deadline(d), now = tun_now();
		bool never = deadline == SYNACK_TIME_NEVER && !busy;
		struct timespec ts;
		int n;

		wait_time(deadline, now, busy, &ts);
		n = wait_events(d, evs, never ? NULL : &ts);
		if (n < 0 && errno != EINTR)
			return fail(err, errcap, -errno, "epoll_pwait2");
		now = tun_now();
		busy = false;
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == d->signal_fd) {
				read_signals(d, now);
				continue;
			}
			int r = read_device(d, now);

			if (r == -EBADFD)
				return fail(err, errcap, r, "the TUN device was removed");
			if (r < 0)
				return fail(err, errcap, r, "reading the TUN device");
			busy |= r > 0;
		}
		busy |= turn(d, now);
	}
	return 0;
}
