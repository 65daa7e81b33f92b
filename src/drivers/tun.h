/*
 * tun.h — the TUN driver: one synack stack attached to an existing Linux TUN
 * device (IFF_TUN | IFF_NO_PI: raw IPv4 and IPv6 packets, no link header),
 * with an event loop and an optional seeded impairment layer.
 *
 * The loop waits in epoll on the device, on a signalfd for the signals the
 * caller names, and on the earliest of the stack's deadline, the impairment
 * queue's next release and the caller's own deadline (all CLOCK_MONOTONIC
 * nanoseconds). Each turn it reads a bounded batch of packets, feeds the ones
 * meant for the stack to synack_input (through the inbound impairment),
 * runs the stack's timers, lets the caller act on what happened (accept,
 * read, write, close), then drains synack_output to the device (through the
 * outbound impairment).
 *
 * Packets that are not for the stack are ignored and counted: IPv6
 * neighbour discovery and MLD (the kernel sends them on every IPv6 link),
 * destinations that are not the stack's addresses, protocols other than TCP
 * and the ICMP errors that TCP reacts to.
 *
 *     tun_config tc;
 *     tun_config_default(&tc);
 *     tc.device = "synack0";
 *     tc.service = my_app;       // called after each turn with the time
 *     tun_driver *d;
 *     tun_driver_new(&tc, stack, &d, err, sizeof err);
 *     tun_driver_run(d);         // until tun_driver_stop()
 *     tun_driver_free(d);
 */
#ifndef SYNACK_DRIVERS_TUN_H
#define SYNACK_DRIVERS_TUN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "drivers/sim.h"
#include "synack/synack.h"

/* Largest packet the driver reads or writes: the largest IPv4 or IPv6
 * (non-jumbogram) packet. The impairment queue keeps packets of up to
 * SIM_PACKET_MAX bytes; larger ones bypass it (a TUN device's MTU is 1500
 * unless changed). */
#define TUN_PACKET_MAX 65535

/* Addresses the driver filters on, at most. */
#define TUN_ADDRS_MAX 8

/* Signals the loop can report, at most. */
#define TUN_SIGNALS_MAX 8

/* What the driver saw and did, since tun_driver_new. */
#define TUN_COUNTERS(X)                                                                            \
	X(rx_packets, "packets read from the device")                                              \
	X(rx_bytes, "bytes read from the device")                                                  \
	X(rx_to_stack, "packets given to the stack")                                               \
	X(rx_rejected, "packets the stack dropped (see its counters)")                             \
	X(ignored_malformed, "ignored: not a readable IPv4 or IPv6 packet")                        \
	X(ignored_nd, "ignored: IPv6 neighbour discovery (router/neighbour sol/adv, redirect)")    \
	X(ignored_mld, "ignored: IPv6 multicast listener discovery")                               \
	X(ignored_not_ours, "ignored: destination is not one of the stack's addresses")            \
	X(ignored_not_tcp, "ignored: neither TCP nor an ICMP error")                               \
	X(tx_packets, "packets written to the device")                                             \
	X(tx_bytes, "bytes written to the device")                                                 \
	X(tx_errors, "writes the device refused")                                                  \
	X(imp_lost, "packets the impairment dropped")                                              \
	X(imp_duplicated, "packets the impairment duplicated")                                     \
	X(imp_reordered, "packets the impairment held back")                                       \
	X(imp_corrupted, "packets the impairment corrupted")                                       \
	X(imp_overflow, "packets lost because the impairment queue was full")

typedef struct tun_counters {
#define TUN_COUNTER_FIELD(name, text) uint64_t name;
	TUN_COUNTERS(TUN_COUNTER_FIELD)
#undef TUN_COUNTER_FIELD
} tun_counters;

/* The i-th counter's name, description and value; false past the last. */
bool tun_counter_get(const tun_counters *c, size_t i, const char **name, const char **text,
		     uint64_t *value);

/* Which way a packet goes, for the caller's tap. */
typedef enum tun_dir {
	TUN_IN = 1, /* device -> stack: given to synack_input */
	TUN_OUT,    /* stack -> device: taken from synack_output */
} tun_dir;

typedef struct tun_driver tun_driver;

typedef struct tun_config {
	const char *device; /* name of an existing TUN device (required) */

	/* The stack's addresses: packets to others are ignored and counted.
	 * None: every unicast destination is the stack's. */
	synack_addr addrs[TUN_ADDRS_MAX];
	size_t n_addrs;

	/* Impairments, applied in each direction with its own seeded stream
	 * (imp.seed when imp.has_seed, else TUN_IMPAIR_SEED_DEFAULT). */
	bool impaired;
	sim_impair imp;

	/* Observing: --trace prints a tcpdump line per packet the stack takes
	 * or gives (to trace_out, stdout when NULL); pcap_path writes the same
	 * packets to a pcap file. Both see the stack's side of the impairment,
	 * as tcpdump on a host sees what the host sends and receives. */
	bool trace;
	FILE *trace_out;
	const char *pcap_path;

	/* Signals to take through a signalfd (blocked in the caller's thread
	 * by tun_driver_new); on_signal gets each one. */
	int signals[TUN_SIGNALS_MAX];
	size_t n_signals;
	void (*on_signal)(void *ctx, int sig, synack_time now);

	/* Called after every turn of the loop, once the stack has taken the
	 * turn's packets and run its timers: the caller accepts, reads,
	 * writes and closes here. The driver drains synack_output after it. */
	void (*service)(void *ctx, synack_time now);
	/* The caller's own next deadline (SYNACK_TIME_NEVER: none), asked
	 * before each wait; service runs when it passes. May be NULL. */
	synack_time (*deadline)(void *ctx);
	void *ctx;
} tun_config;

/* Seed of the impairment streams when the spec gives none. */
#define TUN_IMPAIR_SEED_DEFAULT 1

/* Fills cfg with no device, no impairment, no tap and no hooks. */
void tun_config_default(tun_config *cfg);

/* Opens /dev/net/tun, attaches to cfg->device (which must exist in the
 * calling thread's network namespace), sets up epoll and the signalfd, and
 * ties the stack to them (the stack stays the caller's). Returns 0, or a
 * negative errno with a one-line reason in err. */
int tun_driver_new(const tun_config *cfg, synack_stack *stack, tun_driver **out, char *err,
		   size_t errcap);

/* Runs the loop until tun_driver_stop is called (from a hook) or the device
 * fails. Returns 0 after a stop, or a negative errno (reason in err). */
int tun_driver_run(tun_driver *d, char *err, size_t errcap);

/* Makes tun_driver_run return after the current turn. */
void tun_driver_stop(tun_driver *d);

/* Flushes the pcap file, closes the descriptors and frees the driver (NULL
 * is fine). The signals stay blocked. */
void tun_driver_free(tun_driver *d);

/* The driver's counters. */
const tun_counters *tun_driver_counters(const tun_driver *d);

/* Prints every non-zero driver counter and stack counter, one per line. */
void tun_driver_print_counters(const tun_driver *d, FILE *out);

/* The MTU of the network device `name` in the calling thread's namespace,
 * or a negative errno (the stack's MSS follows from it). */
int tun_device_mtu(const char *name);

/* CLOCK_MONOTONIC in nanoseconds: the clock the driver gives the stack. */
synack_time tun_now(void);

#endif /* SYNACK_DRIVERS_TUN_H */
