/*
 * sim.c — the simulated network: routing, link impairments, an event queue
 * and a virtual clock around any number of synack stacks.
 *
 * Packets live in a pool of fixed-size slots that grows in chunks and is
 * never shrunk, and pending deliveries in a binary min-heap ordered by
 * (arrival time, order of scheduling): after warm-up nothing is allocated
 * per packet.
 */
#include "drivers/sim.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Slots added to the packet pool at a time. */
#define SIM_POOL_CHUNK 64
/* Initial sizes of the growable arrays. */
#define SIM_HEAP_INITIAL 128
#define SIM_NODES_INITIAL 4
#define SIM_NAME_MAX 32
/* Deliveries one sim_step makes at most at one instant, so that two stacks
 * answering each other at zero delay cannot hold the caller forever. */
#define SIM_STEP_DELIVERIES_MAX (1u << 20)

/* IP header layout (RFC 791 section 3.1, RFC 8200 section 3). */
#define IP_VERSION_SHIFT 4
#define IPV4_IHL_MASK 0x0f
#define IPV4_DST_OFF 16
#define IPV6_DST_OFF 24
#define IPV4_ADDR_LEN 4
#define IPV6_ADDR_LEN 16
#define IPV4_MIN_HDR 20
#define IPV6_HDR 40
/* TCP header layout (RFC 9293 section 3.1). */
#define TCP_MIN_HDR 20
#define TCP_DOFF_OFF 12
#define TCP_DOFF_SHIFT 4
#define TCP_CSUM_OFF 16
/* The checksum and urgent-pointer fields: flipping them never changes how
 * the segment parses, so the receiver can only catch it by the checksum. */
#define TCP_CSUM_URG_LEN 4
#define BYTE_VALUES 256

/* Seed salts, so that nodes and links draw independent streams. */
#define SALT_NODE 0x6e6f6465ull /* "node" */
#define SALT_LINK 0x6c696e6bull /* "link" */
#define LINK_KEY_SHIFT 32

/* The reorder hold when the spec leaves it 0: twice the path's delay, and
 * at least a millisecond so that reordering shows on a zero-delay link. */
#define REORDER_GAP_FACTOR 2
#define REORDER_GAP_MIN SYNACK_MS

/* Longest duration and fastest rate the parser accepts. */
#define SIM_DURATION_MAX (3600 * SYNACK_SEC)
#define SIM_RATE_MAX 1e12
#define BITS_PER_BYTE 8
#define PERCENT 100.0

enum pending_flags {
	PENDING_DUP = 1,
	PENDING_CORRUPT = 2,
	PENDING_REORDER = 4,
};

struct sim_node {
	char name[SIM_NAME_MAX];
	synack_stack *stack;
	synack_addr addrs[SIM_NODE_ADDRS_MAX];
	size_t n_addrs;
	sim_rng rng; /* the stack's randomness when the caller gave none */
};

/* An impairment as set by sim_set_impair, with its wildcards. */
struct sim_rule {
	int from, to;
	sim_impair imp;
};

/* The state of one direction between two nodes. */
struct sim_link {
	sim_impair imp;
	sim_rng rng;
	synack_time busy_until;	  /* end of the serialization queue (rate) */
	synack_time last_arrival; /* a link is FIFO: jitter alone never reorders */
};

struct sim_pending {
	synack_time at;
	uint64_t order; /* breaks ties in scheduling order */
	uint64_t id;
	synack_time sent;
	uint32_t slot;
	uint32_t len;
	int from, to;
	unsigned flags;
};

struct sim_net {
	synack_time now;
	uint64_t seed;
	uint64_t next_id, next_order;

	struct sim_node **nodes;
	size_t n_nodes, nodes_cap;

	struct sim_rule *rules;
	size_t n_rules;
	struct sim_link **links; /* nodes_cap x nodes_cap, NULL until used */

	struct sim_pending *heap;
	size_t heap_len, heap_cap;

	uint8_t **chunks;
	size_t n_chunks;
	uint32_t *free_slots;
	size_t n_free;

	sim_tap_fn tap;
	void *tap_ctx;
	sim_stats stats;
};

/* ------------------------------------------------------------------------ */
/* PRNG                                                                      */

/* splitmix64 (Steele, Lea and Flood, 2014): seeds xoshiro and mixes salts. */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t mix_seed(uint64_t seed, uint64_t salt)
{
	uint64_t s = salt;

	return seed ^ splitmix64(&s);
}

void sim_rng_seed(sim_rng *r, uint64_t seed)
{
	for (size_t i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t sim_rng_next(sim_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t sim_rng_below(sim_rng *r, uint64_t n)
{
	/* Reject the top partial range so every value is equally likely. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;

	do
		x = sim_rng_next(r);
	while (x >= limit);
	return x % n;
}

double sim_rng_unit(sim_rng *r)
{
	/* The top 53 bits make a double in [0, 1) with full precision. */
	return (double)(sim_rng_next(r) >> 11) * 0x1.0p-53;
}

void sim_rng_fill(void *ctx, void *buf, size_t len)
{
	sim_rng *r = ctx;
	uint8_t *p = buf;

	while (len > 0) {
		uint64_t x = sim_rng_next(r);
		size_t n = len < sizeof x ? len : sizeof x;

		memcpy(p, &x, n);
		p += n;
		len -= n;
	}
}

static bool chance(sim_rng *r, double p)
{
	return p > 0 && sim_rng_unit(r) < p;
}

/* ------------------------------------------------------------------------ */
/* Packet pool                                                               */

static uint8_t *slot_data(const sim_net *net, uint32_t slot)
{
	return net->chunks[slot / SIM_POOL_CHUNK] +
	       (size_t)(slot % SIM_POOL_CHUNK) * SIM_PACKET_MAX;
}

static int pool_grow(sim_net *net)
{
	size_t slots = (net->n_chunks + 1) * SIM_POOL_CHUNK;
	uint8_t **chunks = realloc(net->chunks, (net->n_chunks + 1) * sizeof *chunks);
	uint32_t *free_slots;

	if (!chunks)
		return -ENOMEM;
	net->chunks = chunks;
	free_slots = realloc(net->free_slots, slots * sizeof *free_slots);
	if (!free_slots)
		return -ENOMEM;
	net->free_slots = free_slots;
	chunks[net->n_chunks] = malloc((size_t)SIM_POOL_CHUNK * SIM_PACKET_MAX);
	if (!chunks[net->n_chunks])
		return -ENOMEM;
	for (size_t i = 0; i < SIM_POOL_CHUNK; i++)
		net->free_slots[net->n_free++] = (uint32_t)(slots - 1 - i);
	net->n_chunks++;
	return 0;
}

static int pool_get(sim_net *net, uint32_t *slot)
{
	if (net->n_free == 0 && pool_grow(net) < 0)
		return -ENOMEM;
	*slot = net->free_slots[--net->n_free];
	return 0;
}

static void pool_put(sim_net *net, uint32_t slot)
{
	net->free_slots[net->n_free++] = slot;
}

/* ------------------------------------------------------------------------ */
/* Event queue: a binary min-heap                                            */

static bool pending_before(const struct sim_pending *a, const struct sim_pending *b)
{
	if (a->at != b->at)
		return a->at < b->at;
	return a->order < b->order;
}

static void heap_swap(struct sim_pending *h, size_t i, size_t j)
{
	struct sim_pending t = h[i];

	h[i] = h[j];
	h[j] = t;
}

static int heap_push(sim_net *net, const struct sim_pending *p)
{
	struct sim_pending *h;
	size_t i;

	if (net->heap_len == net->heap_cap) {
		size_t cap = net->heap_cap ? net->heap_cap * 2 : SIM_HEAP_INITIAL;

		h = realloc(net->heap, cap * sizeof *h);
		if (!h)
			return -ENOMEM;
		net->heap = h;
		net->heap_cap = cap;
	}
	h = net->heap;
	i = net->heap_len++;
	h[i] = *p;
	while (i > 0 && pending_before(&h[i], &h[(i - 1) / 2])) {
		heap_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	return 0;
}

static struct sim_pending heap_pop(sim_net *net)
{
	struct sim_pending *h = net->heap;
	struct sim_pending top = h[0];
	size_t i = 0;

	h[0] = h[--net->heap_len];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < net->heap_len && pending_before(&h[l], &h[m]))
			m = l;
		if (r < net->heap_len && pending_before(&h[r], &h[m]))
			m = r;
		if (m == i)
			break;
		heap_swap(h, i, m);
		i = m;
	}
	return top;
}

/* ------------------------------------------------------------------------ */
/* Nodes and links                                                           */

int sim_new(uint64_t seed, sim_net **out)
{
	sim_net *net = calloc(1, sizeof *net);

	if (!net)
		return -ENOMEM;
	net->seed = seed;
	*out = net;
	return 0;
}

void sim_free(sim_net *net)
{
	if (!net)
		return;
	for (size_t i = 0; i < net->n_nodes; i++) {
		synack_stack_free(net->nodes[i]->stack);
		free(net->nodes[i]);
	}
	for (size_t i = 0; i < net->nodes_cap * net->nodes_cap; i++)
		free(net->links[i]);
	for (size_t i = 0; i < net->n_chunks; i++)
		free(net->chunks[i]);
	free(net->nodes);
	free(net->links);
	free(net->rules);
	free(net->heap);
	free(net->chunks);
	free(net->free_slots);
	free(net);
}

/* Grows the node array and the link matrix to hold one more node. */
static int nodes_reserve(sim_net *net)
{
	size_t cap = net->nodes_cap ? net->nodes_cap * 2 : SIM_NODES_INITIAL;
	struct sim_node **nodes;
	struct sim_link **links;

	if (net->n_nodes < net->nodes_cap)
		return 0;
	nodes = realloc(net->nodes, cap * sizeof *nodes);
	if (!nodes)
		return -ENOMEM;
	net->nodes = nodes;
	links = calloc(cap * cap, sizeof *links);
	if (!links)
		return -ENOMEM;
	for (size_t f = 0; f < net->nodes_cap; f++)
		for (size_t t = 0; t < net->nodes_cap; t++)
			links[f * cap + t] = net->links[f * net->nodes_cap + t];
	free(net->links);
	net->links = links;
	net->nodes_cap = cap;
	return 0;
}

static bool addr_valid(const synack_addr *ip)
{
	return ip && (ip->family == SYNACK_AF_INET || ip->family == SYNACK_AF_INET6);
}

static size_t addr_len(uint8_t family)
{
	return family == SYNACK_AF_INET ? IPV4_ADDR_LEN : IPV6_ADDR_LEN;
}

static int node_find(const sim_net *net, uint8_t family, const uint8_t *ip)
{
	for (size_t n = 0; n < net->n_nodes; n++) {
		const struct sim_node *node = net->nodes[n];

		for (size_t i = 0; i < node->n_addrs; i++)
			if (node->addrs[i].family == family &&
			    !memcmp(node->addrs[i].ip, ip, addr_len(family)))
				return (int)n;
	}
	return -1;
}

int sim_node_by_addr(const sim_net *net, const synack_addr *ip)
{
	return addr_valid(ip) ? node_find(net, ip->family, ip->ip) : -1;
}

int sim_node_add_address(sim_net *net, int node, const synack_addr *ip)
{
	struct sim_node *n;
	int err;

	if (node < 0 || (size_t)node >= net->n_nodes || !addr_valid(ip) ||
	    sim_node_by_addr(net, ip) >= 0)
		return -EINVAL;
	n = net->nodes[node];
	if (n->n_addrs == SIM_NODE_ADDRS_MAX)
		return -ENOSPC;
	err = synack_stack_add_address(n->stack, ip);
	if (err < 0)
		return err;
	n->addrs[n->n_addrs] = *ip;
	n->addrs[n->n_addrs].port = 0;
	n->n_addrs++;
	return 0;
}

int sim_add_node(sim_net *net, const char *name, const synack_config *cfg, const synack_addr *ip)
{
	synack_config c = *cfg;
	struct sim_node *node;
	int idx = (int)net->n_nodes;
	int err;

	if (cfg->mtu > SIM_PACKET_MAX || !addr_valid(ip) || sim_node_by_addr(net, ip) >= 0)
		return -EINVAL;
	if (nodes_reserve(net) < 0)
		return -ENOMEM;
	node = calloc(1, sizeof *node);
	if (!node)
		return -ENOMEM;
	snprintf(node->name, sizeof node->name, "%s", name ? name : "node");
	sim_rng_seed(&node->rng, mix_seed(net->seed, SALT_NODE + (uint64_t)idx));
	if (!c.random) {
		c.random = sim_rng_fill;
		c.random_ctx = &node->rng;
	}
	err = synack_stack_new(&c, &node->stack);
	if (err < 0) {
		free(node);
		return err;
	}
	net->nodes[net->n_nodes++] = node;
	err = sim_node_add_address(net, idx, ip);
	if (err < 0) {
		net->n_nodes--;
		synack_stack_free(node->stack);
		free(node);
		return err;
	}
	return idx;
}

synack_stack *sim_stack(const sim_net *net, int node)
{
	return node >= 0 && (size_t)node < net->n_nodes ? net->nodes[node]->stack : NULL;
}

const char *sim_node_name(const sim_net *net, int node)
{
	return node >= 0 && (size_t)node < net->n_nodes ? net->nodes[node]->name : "?";
}

size_t sim_node_count(const sim_net *net)
{
	return net->n_nodes;
}

/* How well a rule fits a direction: -1 not at all; more is more specific. */
static int rule_score(const struct sim_rule *r, int from, int to)
{
	if ((r->from >= 0 && r->from != from) || (r->to >= 0 && r->to != to))
		return -1;
	return (r->from >= 0 ? 2 : 0) + (r->to >= 0 ? 1 : 0);
}

static void link_configure(const sim_net *net, struct sim_link *l, int from, int to)
{
	int best = -1;
	uint64_t key = (uint64_t)from << LINK_KEY_SHIFT | (uint64_t)(uint32_t)to;

	sim_impair_none(&l->imp);
	for (size_t i = 0; i < net->n_rules; i++) {
		int score = rule_score(&net->rules[i], from, to);

		if (score > best) {
			best = score;
			l->imp = net->rules[i].imp;
		}
	}
	sim_rng_seed(&l->rng, mix_seed(l->imp.has_seed ? l->imp.seed : net->seed, SALT_LINK + key));
}

static struct sim_link *link_get(sim_net *net, int from, int to)
{
	struct sim_link **slot = &net->links[(size_t)from * net->nodes_cap + (size_t)to];

	if (!*slot) {
		*slot = calloc(1, sizeof **slot);
		if (!*slot)
			return NULL;
		link_configure(net, *slot, from, to);
	}
	return *slot;
}

/* Written so that NaN fails too. */
static bool probability_ok(double p)
{
	return p >= 0 && p <= 1;
}

int sim_set_impair(sim_net *net, int from, int to, const sim_impair *imp)
{
	struct sim_rule *rules;
	size_t i;

	if (from < -1 || to < -1 || !probability_ok(imp->loss) || !probability_ok(imp->dup) ||
	    !probability_ok(imp->reorder) || !probability_ok(imp->corrupt))
		return -EINVAL;
	for (i = 0; i < net->n_rules; i++)
		if (net->rules[i].from == from && net->rules[i].to == to)
			break;
	if (i == net->n_rules) {
		rules = realloc(net->rules, (net->n_rules + 1) * sizeof *rules);
		if (!rules)
			return -ENOMEM;
		net->rules = rules;
		net->n_rules++;
	}
	net->rules[i] = (struct sim_rule){.from = from, .to = to, .imp = *imp};
	/* Links already in use take the new rule now. */
	for (size_t f = 0; f < net->n_nodes; f++)
		for (size_t t = 0; t < net->n_nodes; t++) {
			struct sim_link *l = net->links[f * net->nodes_cap + t];

			if (l)
				link_configure(net, l, (int)f, (int)t);
		}
	return 0;
}

void sim_set_tap(sim_net *net, sim_tap_fn fn, void *ctx)
{
	net->tap = fn;
	net->tap_ctx = ctx;
}

synack_time sim_now(const sim_net *net)
{
	return net->now;
}

size_t sim_in_flight(const sim_net *net)
{
	return net->heap_len;
}

const sim_stats *sim_get_stats(const sim_net *net)
{
	return &net->stats;
}

/* ------------------------------------------------------------------------ */
/* Sending                                                                   */

static void tap(sim_net *net, sim_tap_kind kind, const struct sim_pending *p, sim_drop drop,
		int input_result)
{
	sim_tap_event ev = {
	    .kind = kind,
	    .time = net->now,
	    .sent = p->sent,
	    .from = p->from,
	    .to = p->to,
	    .pkt = slot_data(net, p->slot),
	    .len = p->len,
	    .id = p->id,
	    .drop = drop,
	    .duplicate = p->flags & PENDING_DUP,
	    .corrupted = p->flags & PENDING_CORRUPT,
	    .reordered = p->flags & PENDING_REORDER,
	    .input_result = input_result,
	};

	if (net->tap)
		net->tap(net->tap_ctx, &ev);
}

/* The node owning the packet's destination, -1 when none does, or -2 when
 * the packet is not IPv4 or IPv6. */
static int route(const sim_net *net, const uint8_t *pkt, size_t len)
{
	unsigned version = len ? pkt[0] >> IP_VERSION_SHIFT : 0;

	if (version == SYNACK_AF_INET && len >= IPV4_MIN_HDR)
		return node_find(net, SYNACK_AF_INET, pkt + IPV4_DST_OFF);
	if (version == SYNACK_AF_INET6 && len >= IPV6_HDR)
		return node_find(net, SYNACK_AF_INET6, pkt + IPV6_DST_OFF);
	return -2;
}

/* Flips one byte of the TCP checksum, urgent pointer or payload, so that
 * only the TCP checksum can tell (never the IP header: that would be
 * another drop reason). Returns false when the packet has no TCP header. */
static bool corrupt(sim_rng *rng, uint8_t *pkt, size_t len)
{
	size_t ip_len = (pkt[0] >> IP_VERSION_SHIFT) == SYNACK_AF_INET
			    ? (size_t)(pkt[0] & IPV4_IHL_MASK) * 4
			    : IPV6_HDR;
	size_t tcp_len, payload_off, choices, pick;
	uint8_t *tcp = pkt + ip_len;

	if (len < ip_len + TCP_MIN_HDR)
		return false;
	tcp_len = (size_t)(tcp[TCP_DOFF_OFF] >> TCP_DOFF_SHIFT) * 4;
	payload_off = ip_len + tcp_len;
	choices = TCP_CSUM_URG_LEN + (payload_off < len ? len - payload_off : 0);
	pick = (size_t)sim_rng_below(rng, choices);
	if (pick < TCP_CSUM_URG_LEN)
		tcp[TCP_CSUM_OFF + pick] ^= (uint8_t)(1 + sim_rng_below(rng, BYTE_VALUES - 1));
	else
		pkt[payload_off + pick - TCP_CSUM_URG_LEN] ^=
		    (uint8_t)(1 + sim_rng_below(rng, BYTE_VALUES - 1));
	return true;
}

static synack_time sample_jitter(sim_rng *rng, synack_time jitter)
{
	return jitter ? sim_rng_below(rng, jitter + 1) : 0;
}

static synack_time reorder_gap(const sim_impair *imp)
{
	synack_time gap = imp->reorder_gap;

	if (!gap)
		gap = REORDER_GAP_FACTOR * (imp->delay + imp->jitter);
	return gap > REORDER_GAP_MIN || imp->reorder_gap ? gap : REORDER_GAP_MIN;
}

/* Puts one copy on the link: impairs it and schedules its arrival. */
static void schedule(sim_net *net, struct sim_link *l, struct sim_pending *p, synack_time depart)
{
	uint8_t *pkt = slot_data(net, p->slot);
	synack_time at = depart + l->imp.delay + sample_jitter(&l->rng, l->imp.jitter);

	if (chance(&l->rng, l->imp.corrupt) && corrupt(&l->rng, pkt, p->len)) {
		p->flags |= PENDING_CORRUPT;
		net->stats.corrupted++;
	}
	if (chance(&l->rng, l->imp.reorder)) {
		p->flags |= PENDING_REORDER;
		net->stats.reordered++;
		at += reorder_gap(&l->imp);
	} else {
		if (at < l->last_arrival)
			at = l->last_arrival;
		l->last_arrival = at;
	}
	p->at = at;
	p->order = net->next_order++;
	if (heap_push(net, p) < 0)
		pool_put(net, p->slot); /* out of memory: the network lost it */
}

/* When the packet has finished serializing onto the link. */
static synack_time depart_time(sim_net *net, struct sim_link *l, size_t len)
{
	if (!l->imp.rate)
		return net->now;
	if (l->busy_until < net->now)
		l->busy_until = net->now;
	l->busy_until += (synack_time)len * SYNACK_SEC / l->imp.rate;
	return l->busy_until;
}

static void duplicate(sim_net *net, struct sim_link *l, const struct sim_pending *p,
		      synack_time depart)
{
	struct sim_pending copy = *p;

	if (pool_get(net, &copy.slot) < 0)
		return;
	memcpy(slot_data(net, copy.slot), slot_data(net, p->slot), p->len);
	copy.flags = PENDING_DUP;
	net->stats.duplicated++;
	schedule(net, l, &copy, depart);
}

/* A packet the node's stack just handed out: route and impair it. */
static void send_packet(sim_net *net, int from, uint32_t slot, size_t len)
{
	struct sim_pending p = {
	    .id = ++net->next_id,
	    .sent = net->now,
	    .slot = slot,
	    .len = (uint32_t)len,
	    .from = from,
	};
	struct sim_link *l;
	synack_time depart;
	bool dup;

	p.to = route(net, slot_data(net, slot), len);
	net->stats.sent++;
	tap(net, SIM_TAP_SENT, &p, SIM_DROP_NONE, 0);
	if (p.to < 0) {
		bool malformed = p.to == -2;

		p.to = -1;
		malformed ? net->stats.malformed++ : net->stats.no_route++;
		tap(net, SIM_TAP_DROPPED, &p, malformed ? SIM_DROP_MALFORMED : SIM_DROP_NO_ROUTE,
		    0);
		pool_put(net, slot);
		return;
	}
	l = link_get(net, from, p.to);
	if (!l || chance(&l->rng, l->imp.loss)) {
		net->stats.lost++;
		tap(net, SIM_TAP_DROPPED, &p, SIM_DROP_LOSS, 0);
		pool_put(net, slot);
		return;
	}
	depart = depart_time(net, l, len);
	/* Decide on the copy before the original may be corrupted. */
	dup = chance(&l->rng, l->imp.dup);
	if (dup)
		duplicate(net, l, &p, depart);
	schedule(net, l, &p, depart);
}

static void drain_node(sim_net *net, int n)
{
	synack_stack *s = net->nodes[n]->stack;

	for (;;) {
		uint32_t slot;
		ssize_t len;

		if (pool_get(net, &slot) < 0)
			return; /* packets stay queued in the stack until memory returns */
		len = synack_output(s, slot_data(net, slot), SIM_PACKET_MAX);
		if (len <= 0) {
			pool_put(net, slot);
			return;
		}
		send_packet(net, n, slot, (size_t)len);
	}
}

void sim_flush(sim_net *net)
{
	for (size_t n = 0; n < net->n_nodes; n++)
		drain_node(net, (int)n);
}

/* ------------------------------------------------------------------------ */
/* Running                                                                   */

synack_time sim_next_event(const sim_net *net)
{
	synack_time t = net->heap_len ? net->heap[0].at : SYNACK_TIME_NEVER;

	for (size_t n = 0; n < net->n_nodes; n++) {
		synack_time d = synack_deadline(net->nodes[n]->stack);

		if (d < t)
			t = d;
	}
	return t;
}

static void deliver(sim_net *net)
{
	struct sim_pending p = heap_pop(net);
	int result = synack_input(net->nodes[p.to]->stack, slot_data(net, p.slot), p.len, net->now);

	net->stats.delivered++;
	if (result < 0)
		net->stats.input_rejected++;
	tap(net, SIM_TAP_DELIVERED, &p, SIM_DROP_NONE, result);
	pool_put(net, p.slot);
	drain_node(net, p.to);
}

bool sim_step(sim_net *net, synack_time limit)
{
	synack_time t;
	unsigned delivered = 0;

	sim_flush(net);
	t = sim_next_event(net);
	if (t == SYNACK_TIME_NEVER || t > limit) {
		if (limit != SYNACK_TIME_NEVER && limit > net->now)
			net->now = limit;
		return false;
	}
	if (t > net->now)
		net->now = t;
	while (net->heap_len && net->heap[0].at <= net->now &&
	       delivered++ < SIM_STEP_DELIVERIES_MAX)
		deliver(net);
	for (size_t n = 0; n < net->n_nodes; n++) {
		synack_stack *s = net->nodes[n]->stack;

		if (synack_deadline(s) <= net->now) {
			synack_timeout(s, net->now);
			drain_node(net, (int)n);
		}
	}
	return true;
}

void sim_run_until(sim_net *net, synack_time t)
{
	while (sim_step(net, t))
		;
}

/* ------------------------------------------------------------------------ */
/* Impairment specs                                                          */

static int fail(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err && cap) {
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* A finite non-negative number at the start of text; *end after it. */
static bool parse_number(const char *text, double *out, const char **end)
{
	char *e;
	double v;

	errno = 0;
	v = strtod(text, &e);
	if (e == text || errno || !isfinite(v) || v < 0 || *text == '-' || *text == '+')
		return false;
	*out = v;
	*end = e;
	return true;
}

int sim_parse_probability(const char *text, double *out, char *err, size_t errcap)
{
	const char *end;
	double v;

	if (!parse_number(text, &v, &end))
		return fail(err, errcap, "'%s' is not a probability (0..1 or 0%%..100%%)", text);
	if (!strcmp(end, "%"))
		v /= PERCENT;
	else if (*end)
		return fail(err, errcap, "'%s' is not a probability (0..1 or 0%%..100%%)", text);
	if (v > 1)
		return fail(err, errcap, "'%s' is above 1 (100%%)", text);
	*out = v;
	return 0;
}

struct unit {
	const char *name;
	double scale;
};

static const struct unit duration_units[] = {
    {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"", 1e6},
};

/* Rates in bytes per second; "bit" units are bits as tc counts them. */
static const struct unit rate_units[] = {
    {"bit", 1.0 / BITS_PER_BYTE},
    {"kbit", 1e3 / BITS_PER_BYTE},
    {"mbit", 1e6 / BITS_PER_BYTE},
    {"gbit", 1e9 / BITS_PER_BYTE},
    {"bps", 1},
    {"kbps", 1e3},
    {"mbps", 1e6},
    {"gbps", 1e9},
};

static bool find_unit(const struct unit *units, size_t n, const char *name, double *scale)
{
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(units[i].name, name)) {
			*scale = units[i].scale;
			return true;
		}
	return false;
}

int sim_parse_duration(const char *text, synack_time *out, char *err, size_t errcap)
{
	const char *end;
	double v, scale = 0;

	if (!parse_number(text, &v, &end) ||
	    !find_unit(duration_units, sizeof duration_units / sizeof duration_units[0], end,
		       &scale))
		return fail(err, errcap, "'%s' is not a duration (e.g. 50ms, 200us, 1s)", text);
	v *= scale;
	if (v > (double)SIM_DURATION_MAX)
		return fail(err, errcap, "'%s' is longer than an hour", text);
	*out = (synack_time)llround(v);
	return 0;
}

int sim_parse_rate(const char *text, uint64_t *out, char *err, size_t errcap)
{
	const char *end;
	double v, scale = 0;

	if (!parse_number(text, &v, &end))
		return fail(err, errcap, "'%s' is not a rate (e.g. 1mbit, 500kbit, 10mbps)", text);
	if (!find_unit(rate_units, sizeof rate_units / sizeof rate_units[0], end, &scale) &&
	    !(v == 0 && !*end))
		return fail(err, errcap,
			    "'%s' needs a unit: bit, kbit, mbit, gbit or bps, kbps, mbps, gbps",
			    text);
	if (v == 0) {
		*out = 0; /* unlimited */
		return 0;
	}
	v *= scale;
	if (v > SIM_RATE_MAX)
		return fail(err, errcap, "'%s' is faster than the simulator carries", text);
	if (v < 1)
		return fail(err, errcap, "'%s' is below one byte per second", text);
	*out = (uint64_t)llround(v);
	return 0;
}

static int parse_seed(const char *text, uint64_t *out, char *err, size_t errcap)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(text, &end, 0);
	if (!*text || *end || errno || *text == '-')
		return fail(err, errcap, "'%s' is not a seed (an unsigned integer)", text);
	*out = v;
	return 0;
}

/* Applies one key=value. value is NUL-terminated. */
static int apply_key(const char *key, const char *value, sim_impair *imp, char *err, size_t errcap)
{
	if (!strcmp(key, "loss"))
		return sim_parse_probability(value, &imp->loss, err, errcap);
	if (!strcmp(key, "dup"))
		return sim_parse_probability(value, &imp->dup, err, errcap);
	if (!strcmp(key, "reorder"))
		return sim_parse_probability(value, &imp->reorder, err, errcap);
	if (!strcmp(key, "corrupt"))
		return sim_parse_probability(value, &imp->corrupt, err, errcap);
	if (!strcmp(key, "delay"))
		return sim_parse_duration(value, &imp->delay, err, errcap);
	if (!strcmp(key, "jitter"))
		return sim_parse_duration(value, &imp->jitter, err, errcap);
	if (!strcmp(key, "reorder_gap"))
		return sim_parse_duration(value, &imp->reorder_gap, err, errcap);
	if (!strcmp(key, "rate"))
		return sim_parse_rate(value, &imp->rate, err, errcap);
	if (!strcmp(key, "seed")) {
		imp->has_seed = true;
		return parse_seed(value, &imp->seed, err, errcap);
	}
	return fail(err, errcap,
		    "unknown key '%s' (known: loss, delay, jitter, reorder, reorder_gap, dup, "
		    "corrupt, rate, seed)",
		    key);
}

/* Longest key=value item the parser takes. */
#define SIM_SPEC_ITEM_MAX 128

int sim_impair_parse(const char *spec, sim_impair *imp, char *err, size_t errcap)
{
	sim_impair out = *imp;
	const char *p = spec;

	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char item[SIM_SPEC_ITEM_MAX], msg[SIM_SPEC_ITEM_MAX * 2];
		char *eq;

		if (n == 0 || n >= sizeof item)
			return fail(err, errcap, n ? "item too long in '%s'" : "empty item in '%s'",
				    spec);
		memcpy(item, p, n);
		item[n] = '\0';
		eq = strchr(item, '=');
		if (!eq || eq == item || !eq[1])
			return fail(err, errcap, "expected key=value, got '%s'", item);
		*eq = '\0';
		if (apply_key(item, eq + 1, &out, msg, sizeof msg) < 0)
			return fail(err, errcap, "%s: %s", item, msg);
		p += n + (comma ? 1 : 0);
		if (comma && !*p)
			return fail(err, errcap, "trailing ',' in '%s'", spec);
	}
	*imp = out;
	return 0;
}

void sim_impair_none(sim_impair *imp)
{
	memset(imp, 0, sizeof *imp);
}

static void format_duration(char *buf, size_t cap, synack_time t)
{
	if (t % SYNACK_MS == 0)
		snprintf(buf, cap, "%llums", (unsigned long long)(t / SYNACK_MS));
	else if (t % 1000 == 0)
		snprintf(buf, cap, "%lluus", (unsigned long long)(t / 1000));
	else
		snprintf(buf, cap, "%lluns", (unsigned long long)t);
}

#define SIM_FIELD_MAX 32

int sim_impair_format(const sim_impair *imp, char *buf, size_t cap)
{
	char d[SIM_FIELD_MAX], j[SIM_FIELD_MAX], g[SIM_FIELD_MAX];
	int n;

	format_duration(d, sizeof d, imp->delay);
	format_duration(j, sizeof j, imp->jitter);
	format_duration(g, sizeof g, imp->reorder_gap);
	n = snprintf(buf, cap,
		     "loss=%g,delay=%s,jitter=%s,reorder=%g,reorder_gap=%s,dup=%g,corrupt=%g,"
		     "rate=%llubps",
		     imp->loss, d, j, imp->reorder, g, imp->dup, imp->corrupt,
		     (unsigned long long)imp->rate);
	if (imp->has_seed && n >= 0 && (size_t)n < cap)
		n +=
		    snprintf(buf + n, cap - (size_t)n, ",seed=%llu", (unsigned long long)imp->seed);
	return n;
}
