/*
 * sim.h — a simulated network: synack stacks (nodes) on an in-memory
 * network with a virtual clock in nanoseconds.
 *
 * A packet a node's stack hands out through synack_output is routed by its
 * destination address (IPv4 or IPv6) to the node that owns that address,
 * through the impairments of the link in that direction (loss, delay,
 * jitter, duplication, reordering, corruption, rate), then given to the
 * receiver's synack_input when the virtual clock reaches its arrival time.
 * Every random choice comes from a PRNG seeded from the network's seed, so
 * a run is reproduced exactly by its seed.
 *
 *     sim_net *net;
 *     sim_new(seed, &net);
 *     int a = sim_add_node(net, "client", &cfg, &client_ip);
 *     int b = sim_add_node(net, "server", &cfg, &server_ip);
 *     sim_set_impair(net, -1, -1, &imp);       // every direction
 *     synack_connect(sim_stack(net, a), ...);
 *     while (!done && sim_step(net, limit))
 *         react_to_events();
 */
#ifndef SYNACK_DRIVERS_SIM_H
#define SYNACK_DRIVERS_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synack/synack.h"

/* Largest packet the network carries (a jumbo frame); nodes whose MTU is
 * larger are refused by sim_add_node. */
#define SIM_PACKET_MAX 9216

/* Addresses one node may own. */
#define SIM_NODE_ADDRS_MAX 8

/* ------------------------------------------------------------------------ */
/* Impairments                                                               */

/* What a link does to the packets crossing it in one direction. All zero
 * (sim_impair_none) is a perfect wire with no delay. */
typedef struct sim_impair {
	double loss;		 /* probability a packet is dropped, 0..1 */
	double dup;		 /* probability a packet is delivered twice */
	double reorder;		 /* probability a packet is held back by reorder_gap */
	double corrupt;		 /* probability one byte of the TCP segment is flipped */
	synack_time delay;	 /* one-way propagation delay */
	synack_time jitter;	 /* extra delay, uniform in [0, jitter] */
	synack_time reorder_gap; /* extra hold of a reordered packet; 0: 2 x (delay + jitter), at
				    least 1 ms */
	uint64_t rate;		 /* bytes per second of serialization; 0: unlimited */
	uint64_t seed;		 /* this link's own seed, when has_seed */
	bool has_seed;
} sim_impair;

/* Fills imp with a perfect link. */
void sim_impair_none(sim_impair *imp);

/* Parses "loss=0.1,delay=50ms,jitter=10ms,reorder=0.05,dup=0.01,
 * corrupt=0.01,rate=1mbit,seed=7" into imp (keys absent from the text keep
 * the value imp already had). Probabilities are in [0, 1] or given as a
 * percentage ("10%"); durations take ns, us, ms or s (a bare number is ms);
 * rates take bit, kbit, mbit, gbit (bits per second) or bps, kbps, mbps,
 * gbps (bytes per second, as tc spells them); reorder_gap is a duration.
 * Returns 0, or -EINVAL with a one-line reason in err. */
int sim_impair_parse(const char *spec, sim_impair *imp, char *err, size_t errcap);

/* Parses one value of the kinds above, for command-line flags. Each returns
 * 0 or -EINVAL with a reason in err. */
int sim_parse_probability(const char *text, double *out, char *err, size_t errcap);
int sim_parse_duration(const char *text, synack_time *out, char *err, size_t errcap);
int sim_parse_rate(const char *text, uint64_t *out, char *err, size_t errcap);

/* Writes imp back as a spec that sim_impair_parse reads. */
int sim_impair_format(const sim_impair *imp, char *buf, size_t cap);

/* ------------------------------------------------------------------------ */
/* The network                                                               */

typedef struct sim_net sim_net;

/* Creates an empty network at virtual time 0. Returns 0 or -ENOMEM. */
int sim_new(uint64_t seed, sim_net **out);

/* Frees the network, its stacks and every packet in flight. */
void sim_free(sim_net *net);

/* Creates a node: a stack made from cfg (copied; when cfg->random is NULL
 * the node gets a PRNG seeded from the network's seed so that ISNs and
 * secrets are reproducible) owning the address ip. Returns the node's index
 * (0, 1, ...) or -EINVAL (bad config, MTU above SIM_PACKET_MAX, address
 * already owned) or -ENOMEM. */
int sim_add_node(sim_net *net, const char *name, const synack_config *cfg, const synack_addr *ip);

/* Gives a node one more address. Returns 0, -EINVAL or -ENOSPC. */
int sim_node_add_address(sim_net *net, int node, const synack_addr *ip);

/* The node's stack (owned by the network) and its name. */
synack_stack *sim_stack(const sim_net *net, int node);
const char *sim_node_name(const sim_net *net, int node);
size_t sim_node_count(const sim_net *net);

/* The node owning ip, or -1. */
int sim_node_by_addr(const sim_net *net, const synack_addr *ip);

/* Sets the impairments of the direction from -> to; -1 for either means
 * every node (sim_set_impair(net, -1, -1, imp) sets the network's default,
 * used by directions never set on their own). Returns 0, -EINVAL or
 * -ENOMEM. */
int sim_set_impair(sim_net *net, int from, int to, const sim_impair *imp);

/* ------------------------------------------------------------------------ */
/* Observing packets                                                         */

typedef enum sim_tap_kind {
	SIM_TAP_SENT = 1,  /* the sender's stack handed the packet out */
	SIM_TAP_DELIVERED, /* the receiver's stack was given it */
	SIM_TAP_DROPPED,   /* the network lost it (see drop) */
} sim_tap_kind;

typedef enum sim_drop {
	SIM_DROP_NONE = 0,
	SIM_DROP_LOSS,	   /* the link's loss */
	SIM_DROP_NO_ROUTE, /* no node owns the destination */
	SIM_DROP_MALFORMED /* not an IPv4 or IPv6 packet the router can read */
} sim_drop;

typedef struct sim_tap_event {
	sim_tap_kind kind;
	synack_time time;   /* virtual time of this event */
	synack_time sent;   /* when the packet left its sender */
	int from, to;	    /* node indexes; to is -1 when unroutable */
	const uint8_t *pkt; /* the packet as on the wire at this point */
	size_t len;
	uint64_t id;	  /* one per packet sent; a duplicate keeps its original's id */
	sim_drop drop;	  /* for SIM_TAP_DROPPED */
	bool duplicate;	  /* the link's extra copy */
	bool corrupted;	  /* a byte was flipped on the way */
	bool reordered;	  /* held back by reorder_gap */
	int input_result; /* for SIM_TAP_DELIVERED: what synack_input returned */
} sim_tap_event;

typedef void (*sim_tap_fn)(void *ctx, const sim_tap_event *ev);

/* Calls fn for every packet sent, delivered or dropped (NULL: none). */
void sim_set_tap(sim_net *net, sim_tap_fn fn, void *ctx);

/* ------------------------------------------------------------------------ */
/* Running                                                                   */

/* The virtual clock. */
synack_time sim_now(const sim_net *net);

/* Takes every packet the stacks have queued (after the caller called
 * synack_connect, synack_send, ...) and puts it on the network at the
 * current time. sim_step does this first too. */
void sim_flush(sim_net *net);

/* Advances to the next moment something happens, if it is no later than
 * limit: delivers the packets due then, runs the timers of stacks whose
 * synack_deadline has come and sends what they answer. Returns true when
 * it did something; false when nothing is due by limit (the clock is then
 * moved to limit, unless limit is SYNACK_TIME_NEVER). */
bool sim_step(sim_net *net, synack_time limit);

/* Steps until nothing is due by t, and leaves the clock at t. */
void sim_run_until(sim_net *net, synack_time t);

/* The time of the next delivery or stack deadline (SYNACK_TIME_NEVER when
 * the network is idle). */
synack_time sim_next_event(const sim_net *net);

/* Packets in flight (scheduled for delivery). */
size_t sim_in_flight(const sim_net *net);

/* What the network did, summed over every link. */
typedef struct sim_stats {
	uint64_t sent, delivered, lost, no_route, malformed;
	uint64_t duplicated, reordered, corrupted;
	uint64_t input_rejected; /* deliveries synack_input returned an error for */
} sim_stats;

const sim_stats *sim_get_stats(const sim_net *net);

/* ------------------------------------------------------------------------ */
/* Seeded randomness, shared by tests and tools                              */

/* xoshiro256** (Blackman and Vigna, 2018) seeded through splitmix64. */
typedef struct sim_rng {
	uint64_t s[4];
} sim_rng;

void sim_rng_seed(sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(sim_rng *r);
/* Uniform in [0, n) (n > 0), without modulo bias. */
uint64_t sim_rng_below(sim_rng *r, uint64_t n);
/* Uniform in [0, 1). */
double sim_rng_unit(sim_rng *r);
/* Fills buf; fits synack_config.random (ctx is a sim_rng). */
void sim_rng_fill(void *ctx, void *buf, size_t len);

#endif /* SYNACK_DRIVERS_SIM_H */
