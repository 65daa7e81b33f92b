/*
 * demo.c — `synack demo`: a client and a server on the simulated network.
 *
 * The client (198.18.0.1, or fd00::1 with --ipv6) connects to the server
 * (198.18.0.2:80 or [fd00::2]:80) through links with the impairments the
 * flags ask for. With --data N the client sends N bytes and the server
 * echoes every byte back (so both directions carry data and the client can
 * check the echo byte for byte); with --close the client closes first, the
 * server closes on EOF, and the run goes on until the client's TIME-WAIT
 * expires. Printed: every packet as tcpdump shows it (as captured at the
 * sender, lost ones marked), the ladder diagram, both ends' state
 * transitions with their times, and a summary from synack_conn_info.
 *
 * Exit status: 0 when every step completed, 1 when one failed (the
 * handshake timed out, the echo came back wrong...), 2 for bad arguments.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "drivers/sim.h"
#include "observe/observe.h"
#include "synack/synack.h"

#define DEMO_PORT 80
#define DEMO_BACKLOG 16
#define DEMO_DELAY_DEFAULT (10 * SYNACK_MS)
#define DEMO_SEED_DEFAULT 1
#define DEMO_DATA_MAX (64u * 1024 * 1024)
#define DEMO_RECV_CHUNK 16384
#define KIB 1024u
/* How long each phase may take in virtual time: longer than a SYN's six
 * retransmissions (127 s) or a TIME-WAIT (60 s) with their backoff. */
#define DEMO_PHASE_LIMIT (600 * SYNACK_SEC)
#define DEMO_STEPS_MAX 10000000L
#define NS_PER_US 1000
#define NS_PER_SEC_F 1e9
#define NS_PER_MS_F 1e6
#define ERR_MAX 256

enum { CLIENT = 0, SERVER = 1, SIDES = 2 };

struct demo_opts {
	sim_impair imp;
	uint64_t seed;
	size_t data;
	bool close;
	bool ipv6;
	bool json;
	const char *pcap;
	const char *svg;
};

/* One packet as printed: a tcpdump line and what became of it. */
struct demo_packet {
	synack_time sent;
	int from;
	uint64_t id;
	synack_time arrived;
	char *line;
	char *json;
	uint8_t *pkt; /* a copy, for the ladder drawn at the end */
	size_t len;
	bool lost, duplicate, corrupted, reordered, delivered;
	int input_result;
};

struct demo_state {
	synack_time time;
	int side;
	synack_state from, to;
};

struct demo;

struct demo_side {
	struct demo *d;
	int side;
	synack_conn *c;
	bool accepted, closed, freed, established;
	int error;
	synack_info info; /* the last one read while the handle was open */
	size_t sent, received;
	bool eof;
	synack_time timewait_at, freed_at;
};

struct demo {
	struct demo_opts o;
	sim_net *net;
	synack_listener *listener;
	struct demo_side sides[SIDES];
	uint8_t *tx;   /* what the client sends and must get back */
	uint8_t *echo; /* what the server has read and not yet echoed */
	size_t echo_len, echo_cap;

	obs_flows *flows;
	obs_ladder *ladder;
	obs_pcap_writer *pcap;
	FILE *svg; /* opened before the run: a bad path is a bad argument */

	struct demo_packet *pkts;
	size_t n_pkts, pkts_cap;
	size_t *by_id; /* packet id - 1 -> index in pkts of the original */
	size_t by_id_cap;
	struct demo_state *states;
	size_t n_states, states_cap;

	char failure[ERR_MAX];
	int failure_errno;
};

static const char *const side_names[SIDES] = {"client", "server"};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static bool grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return true;
	while (n < need)
		n *= 2;
	p = realloc(*arr, n * elem);
	if (!p)
		return false;
	*arr = p;
	*cap = n;
	return true;
}

static const char *errno_name(int err)
{
	switch (err < 0 ? -err : err) {
	case ETIMEDOUT:
		return "ETIMEDOUT";
	case ECONNREFUSED:
		return "ECONNREFUSED";
	case ECONNRESET:
		return "ECONNRESET";
	case EPIPE:
		return "EPIPE";
	case ENOTCONN:
		return "ENOTCONN";
	case ENOMEM:
		return "ENOMEM";
	case ENOBUFS:
		return "ENOBUFS";
	case EADDRINUSE:
		return "EADDRINUSE";
	case EINVAL:
		return "EINVAL";
	default:
		return "error";
	}
}

static void fail(struct demo *d, int err, const char *fmt, ...)
{
	va_list ap;

	if (d->failure[0])
		return;
	va_start(ap, fmt);
	vsnprintf(d->failure, sizeof d->failure, fmt, ap);
	va_end(ap);
	d->failure_errno = err;
}

static double secs(synack_time t)
{
	return (double)t / NS_PER_SEC_F;
}

/* "20.000 ms" below a second, "3.020 s" above. */
static const char *duration(synack_time t, char *buf, size_t cap)
{
	if (t < SYNACK_SEC)
		snprintf(buf, cap, "%.3f ms", (double)t / NS_PER_MS_F);
	else
		snprintf(buf, cap, "%.3f s", secs(t));
	return buf;
}

static int64_t usec(synack_time t)
{
	return (int64_t)(t / NS_PER_US);
}

/* ------------------------------------------------------------------------ */
/* What the network and the stacks tell us                                   */

static struct demo_packet *packet_new(struct demo *d)
{
	struct demo_packet *p;

	if (!grow((void **)&d->pkts, &d->pkts_cap, d->n_pkts + 1, sizeof *d->pkts))
		return NULL;
	p = &d->pkts[d->n_pkts++];
	memset(p, 0, sizeof *p);
	return p;
}

static void describe_packet(struct demo *d, struct demo_packet *p, const sim_tap_event *ev)
{
	char line[OBS_LINE_MAX];

	obs_tcpdump_body(d->flows, ev->pkt, ev->len, line, sizeof line);
	p->line = strdup(line);
	if (d->o.json) {
		obs_json_packet(usec(ev->sent), ev->pkt, ev->len, line, sizeof line);
		p->json = strdup(line);
	}
	p->pkt = malloc(ev->len);
	if (p->pkt) {
		memcpy(p->pkt, ev->pkt, ev->len);
		p->len = ev->len;
	}
}

static void on_sent(struct demo *d, const sim_tap_event *ev)
{
	struct demo_packet *p = packet_new(d);

	if (!p || !grow((void **)&d->by_id, &d->by_id_cap, ev->id, sizeof *d->by_id))
		return;
	d->by_id[ev->id - 1] = d->n_pkts - 1;
	p->sent = ev->sent;
	p->from = ev->from;
	p->id = ev->id;
	describe_packet(d, p, ev);
	if (d->pcap)
		obs_pcap_write(d->pcap, usec(ev->sent), ev->pkt, ev->len);
}

static void on_delivered(struct demo *d, const sim_tap_event *ev)
{
	struct demo_packet *p;

	if (ev->duplicate) {
		/* The link's extra copy gets its own line and arrow. */
		p = packet_new(d);
		if (!p)
			return;
		p->sent = ev->sent;
		p->from = ev->from;
		p->id = ev->id;
		p->duplicate = true;
		describe_packet(d, p, ev);
	} else {
		if (ev->id > d->by_id_cap)
			return;
		p = &d->pkts[d->by_id[ev->id - 1]];
	}
	p->delivered = true;
	p->arrived = ev->time;
	p->corrupted = ev->corrupted;
	p->reordered = ev->reordered;
	p->input_result = ev->input_result;
}

static void demo_tap(void *ctx, const sim_tap_event *ev)
{
	struct demo *d = ctx;

	if (ev->kind == SIM_TAP_SENT) {
		on_sent(d, ev);
	} else if (ev->kind == SIM_TAP_DELIVERED) {
		on_delivered(d, ev);
	} else if (ev->kind == SIM_TAP_DROPPED && ev->id <= d->by_id_cap) {
		d->pkts[d->by_id[ev->id - 1]].lost = true;
	}
}

static void on_event(void *ctx, const synack_event *ev)
{
	struct demo_side *s = ctx;
	struct demo *d = s->d;

	/* A listener's SYN-queue request reports LISTEN -> SYN-RECEIVED without
	 * a connection block: it is the server's first step all the same. */
	if (ev->type == SYNACK_EV_STATE && (ev->conn || ev->listener)) {
		if (grow((void **)&d->states, &d->states_cap, d->n_states + 1, sizeof *d->states))
			d->states[d->n_states++] = (struct demo_state){.time = ev->time,
								       .side = s->side,
								       .from = ev->old_state,
								       .to = ev->new_state};
		if (ev->new_state == SYNACK_TIME_WAIT)
			s->timewait_at = ev->time;
	} else if (ev->type == SYNACK_EV_ERROR && ev->conn && !s->error) {
		s->error = ev->error;
	} else if (ev->type == SYNACK_EV_FREED && ev->conn) {
		s->freed = true;
		s->freed_at = ev->time;
	}
}

/* ------------------------------------------------------------------------ */
/* The network                                                               */

static void demo_addr(synack_addr *a, bool v6, uint8_t host, uint16_t port)
{
	static const uint8_t v4_net[] = {198, 18, 0};
	static const uint8_t v6_net[] = {0xfd, 0x00};

	memset(a, 0, sizeof *a);
	if (v6) {
		a->family = SYNACK_AF_INET6;
		memcpy(a->ip, v6_net, sizeof v6_net);
		a->ip[15] = host;
	} else {
		a->family = SYNACK_AF_INET;
		memcpy(a->ip, v4_net, sizeof v4_net);
		a->ip[3] = host;
	}
	a->port = port;
}

static int demo_setup(struct demo *d)
{
	synack_addr caddr, saddr;
	synack_config cfg;
	char err[ERR_MAX];
	int rc;

	d->flows = obs_flows_new();
	d->ladder = obs_ladder_new();
	if (!d->flows || !d->ladder || sim_new(d->o.seed, &d->net) < 0)
		return -ENOMEM;
	if (d->o.pcap && obs_pcap_create(d->o.pcap, &d->pcap, err, sizeof err) < 0) {
		fprintf(stderr, "synack demo: %s\n", err);
		return -EIO; /* reported: a bad argument */
	}
	if (d->o.svg && !(d->svg = fopen(d->o.svg, "w"))) {
		fprintf(stderr, "synack demo: %s: %s\n", d->o.svg, strerror(errno));
		return -EIO;
	}
	sim_set_tap(d->net, demo_tap, d);
	demo_addr(&caddr, d->o.ipv6, 1, 0);
	demo_addr(&saddr, d->o.ipv6, 2, DEMO_PORT);
	for (int i = 0; i < SIDES; i++) {
		d->sides[i].d = d;
		d->sides[i].side = i;
		synack_config_default(&cfg);
		cfg.on_event = on_event;
		cfg.event_ctx = &d->sides[i];
		rc = sim_add_node(d->net, side_names[i], &cfg, i == CLIENT ? &caddr : &saddr);
		if (rc < 0)
			return rc;
	}
	rc = sim_set_impair(d->net, -1, -1, &d->o.imp);
	if (rc == 0)
		rc = synack_listen(sim_stack(d->net, SERVER), &saddr, DEMO_BACKLOG, NULL,
				   &d->listener);
	if (rc == 0)
		rc = synack_connect(sim_stack(d->net, CLIENT), NULL, &saddr, NULL, 0,
				    &d->sides[CLIENT].c);
	if (rc == 0) {
		char a[64], b[64];

		synack_addr_format(synack_conn_local(d->sides[CLIENT].c), true, a, sizeof a);
		synack_addr_format(&saddr, true, b, sizeof b);
		obs_ladder_names(d->ladder, a, b);
	}
	return rc;
}

static void demo_free(struct demo *d)
{
	for (size_t i = 0; i < d->n_pkts; i++) {
		free(d->pkts[i].line);
		free(d->pkts[i].json);
		free(d->pkts[i].pkt);
	}
	free(d->pkts);
	free(d->by_id);
	free(d->states);
	free(d->tx);
	free(d->echo);
	sim_free(d->net);
	obs_flows_free(d->flows);
	obs_ladder_free(d->ladder);
	obs_pcap_close(d->pcap);
	if (d->svg)
		fclose(d->svg);
}

/* ------------------------------------------------------------------------ */
/* The two applications                                                      */

static synack_time now(const struct demo *d)
{
	return sim_now(d->net);
}

/* Keeps the handle's last info and notices the connection failing. */
static void watch(struct demo_side *s)
{
	int err;

	if (!s->c)
		return;
	synack_conn_info(s->c, &s->info);
	if (s->info.state >= SYNACK_ESTABLISHED)
		s->established = true;
	err = synack_conn_take_error(s->c);
	if (err && !s->error)
		s->error = err;
}

static void client_io(struct demo *d)
{
	struct demo_side *c = &d->sides[CLIENT];
	uint8_t buf[DEMO_RECV_CHUNK];
	ssize_t n;

	while (c->sent < d->o.data &&
	       (n = synack_send(c->c, d->tx + c->sent, d->o.data - c->sent, now(d))) > 0)
		c->sent += (size_t)n;
	while (c->received < d->o.data && (n = synack_recv(c->c, buf, sizeof buf, now(d))) > 0) {
		if ((size_t)n > d->o.data - c->received ||
		    memcmp(buf, d->tx + c->received, (size_t)n)) {
			fail(d, 0, "the echo differs from what the client sent (at byte %zu)",
			     c->received);
			return;
		}
		c->received += (size_t)n;
	}
}

/* The server echoes: whatever it reads it sends back, keeping what its
 * send buffer cannot take yet. */
static void server_io(struct demo *d)
{
	struct demo_side *s = &d->sides[SERVER];
	ssize_t n;

	for (;;) {
		if (d->echo_len > 0) {
			n = synack_send(s->c, d->echo, d->echo_len, now(d));
			if (n <= 0)
				return;
			memmove(d->echo, d->echo + n, d->echo_len - (size_t)n);
			d->echo_len -= (size_t)n;
			continue;
		}
		if (!grow((void **)&d->echo, &d->echo_cap, DEMO_RECV_CHUNK, 1))
			return;
		n = synack_recv(s->c, d->echo, DEMO_RECV_CHUNK, now(d));
		if (n == 0)
			s->eof = true;
		if (n <= 0)
			return;
		s->received += (size_t)n;
		d->echo_len = (size_t)n;
	}
}

static void close_side(struct demo *d, struct demo_side *s)
{
	watch(s);
	synack_close(s->c, now(d));
	s->c = NULL;
	s->closed = true;
}

/* One round of both applications after the network moved. */
static void apps_poll(struct demo *d)
{
	struct demo_side *c = &d->sides[CLIENT], *s = &d->sides[SERVER];

	if (!s->accepted && synack_accept(d->listener, &s->c) == 0)
		s->accepted = true;
	watch(c);
	watch(s);
	if (c->c && c->established && !c->error)
		client_io(d);
	if (s->c && !s->error)
		server_io(d);
	if (!d->o.close)
		return;
	if (c->c && c->established && c->received == d->o.data && s->accepted)
		close_side(d, c);
	if (s->c && s->eof && d->echo_len == 0)
		close_side(d, s);
}

typedef bool (*demo_goal)(const struct demo *d);

static bool handshake_done(const struct demo *d)
{
	return d->sides[CLIENT].error ||
	       (d->sides[CLIENT].established && d->sides[SERVER].accepted);
}

static bool echo_done(const struct demo *d)
{
	return d->sides[CLIENT].error || d->sides[SERVER].error ||
	       d->sides[CLIENT].received == d->o.data;
}

static bool close_done(const struct demo *d)
{
	return d->sides[CLIENT].error || d->sides[SERVER].error ||
	       (d->sides[CLIENT].freed && d->sides[SERVER].freed);
}

/* Runs the network and the applications until goal holds, the phase's
 * virtual time runs out or nothing is left to happen. */
static bool run_until(struct demo *d, demo_goal goal)
{
	synack_time limit = now(d) + DEMO_PHASE_LIMIT;
	long steps = 0;

	apps_poll(d);
	while (!goal(d) && !d->failure[0] && steps++ < DEMO_STEPS_MAX && sim_step(d->net, limit))
		apps_poll(d);
	return goal(d) && !d->failure[0];
}

static void make_data(struct demo *d)
{
	sim_rng rng;

	sim_rng_seed(&rng, d->o.seed);
	sim_rng_fill(&rng, d->tx, d->o.data);
}

static int side_error(const struct demo *d)
{
	return d->sides[CLIENT].error ? d->sides[CLIENT].error : d->sides[SERVER].error;
}

static void demo_run(struct demo *d)
{
	struct demo_side *c = &d->sides[CLIENT];
	int err;

	if (!run_until(d, handshake_done) || c->error) {
		if (c->error)
			fail(d, c->error, "connect: %s (%s) after %" PRIu64 " SYN retransmissions",
			     strerror(-c->error), errno_name(c->error),
			     synack_stack_counters(sim_stack(d->net, CLIENT))->syn_retransmits);
		else if (c->established)
			fail(d, 0, "the server never completed the handshake");
		else if (!d->failure[0])
			fail(d, ETIMEDOUT, "the handshake did not complete");
		return;
	}
	if (d->o.data && (!run_until(d, echo_done) || side_error(d))) {
		err = side_error(d);
		fail(d, err, "echo: %zu of %zu bytes came back%s%s", c->received, d->o.data,
		     err ? ": " : "", err ? strerror(-err) : "");
		return;
	}
	if (d->o.close && (!run_until(d, close_done) || side_error(d))) {
		err = side_error(d);
		fail(d, err, "close: the connections were not freed%s%s", err ? ": " : "",
		     err ? strerror(-err) : "");
		return;
	}
	/* Let the packets still in flight land, so that every one has a fate. */
	while (!d->o.close && sim_in_flight(d->net) && sim_step(d->net, SYNACK_TIME_NEVER - 1))
		apps_poll(d);
}

/* ------------------------------------------------------------------------ */
/* Printing                                                                  */

/* Packets in the order they left their sender; a duplicate right after
 * its original (it is added when it arrives). */
static int packet_order(const void *a, const void *b)
{
	const struct demo_packet *p = a, *q = b;

	if (p->sent != q->sent)
		return p->sent < q->sent ? -1 : 1;
	if (p->id != q->id)
		return p->id < q->id ? -1 : 1;
	return (int)p->duplicate - (int)q->duplicate;
}

static void ladder_add_packet(struct demo *d, const struct demo_packet *p)
{
	int idx;

	if (!p->pkt)
		return;
	idx = obs_ladder_packet(d->ladder, usec(p->sent),
				p->from == CLIENT ? OBS_CLIENT : OBS_SERVER, p->pkt, p->len);
	if (idx < 0)
		return;
	if (p->lost || (p->delivered && p->corrupted))
		obs_ladder_dropped(d->ladder, idx);
	else if (p->delivered)
		obs_ladder_received(d->ladder, idx, usec(p->arrived));
}

/* Draws the ladder once the run is over: packets and state changes merged
 * by time, a state change first when both happen at once (it is what the
 * arriving packet caused, and the packet sent then is its answer). */
static void build_ladder(struct demo *d)
{
	size_t i = 0, k = 0;

	qsort(d->pkts, d->n_pkts, sizeof *d->pkts, packet_order);
	/* A listener is not a connection: no event says so, the ladder does. */
	obs_ladder_state(d->ladder, 0, OBS_SERVER, synack_state_name(SYNACK_LISTEN));
	while (i < d->n_pkts || k < d->n_states) {
		if (k < d->n_states && (i == d->n_pkts || d->states[k].time <= d->pkts[i].sent)) {
			const struct demo_state *st = &d->states[k++];

			obs_ladder_state(d->ladder, usec(st->time),
					 st->side == CLIENT ? OBS_CLIENT : OBS_SERVER,
					 synack_state_name(st->to));
		} else {
			ladder_add_packet(d, &d->pkts[i++]);
		}
	}
}

static const char *packet_fate(const struct demo_packet *p, char *buf, size_t cap)
{
	if (p->lost)
		return "  [lost]";
	if (!p->delivered)
		return "  [in flight]";
	if (p->corrupted)
		snprintf(buf, cap, "  [%scorrupted: dropped by the TCP checksum]",
			 p->duplicate ? "duplicate, " : "");
	else if (p->input_result < 0)
		snprintf(buf, cap, "  [%sdropped by the receiver: %s]",
			 p->duplicate ? "duplicate, " : "", strerror(-p->input_result));
	else
		snprintf(buf, cap, "%s%s", p->duplicate ? "  [duplicate]" : "",
			 p->reordered ? "  [reordered]" : "");
	return buf;
}

static void print_packets(const struct demo *d)
{
	char fate[ERR_MAX];

	printf("packets (tcpdump -n, as sent; time in seconds):\n");
	for (size_t i = 0; i < d->n_pkts; i++) {
		const struct demo_packet *p = &d->pkts[i];

		printf("%11.6f %s%s\n", secs(p->sent), p->line ? p->line : "?",
		       packet_fate(p, fate, sizeof fate));
	}
}

static void print_states(const struct demo *d)
{
	printf("\nstate transitions:\n");
	for (size_t i = 0; i < d->n_states; i++) {
		const struct demo_state *st = &d->states[i];

		printf("%11.6f %s %s -> %s\n", secs(st->time), side_names[st->side],
		       synack_state_name(st->from), synack_state_name(st->to));
	}
}

static void print_wscale(const char *who, int8_t w)
{
	if (w < 0)
		printf("%s off", who);
	else
		printf("%s %d", who, w);
}

static void print_summary(const struct demo *d)
{
	const struct demo_side *c = &d->sides[CLIENT], *s = &d->sides[SERVER];
	const synack_info *ci = &c->info, *si = &s->info;
	const sim_stats *st = sim_get_stats(d->net);
	const synack_counters *cc = synack_stack_counters(sim_stack(d->net, CLIENT));
	const synack_counters *sc = synack_stack_counters(sim_stack(d->net, SERVER));
	char t1[ERR_MAX / 4], t2[ERR_MAX / 4], t3[ERR_MAX / 4];

	printf("\nsummary:\n");
	if (c->established) {
		printf("  handshake     %s (client: first SYN to ESTABLISHED)\n",
		       duration(ci->handshake_ns, t1, sizeof t1));
		printf("  RTT           %s (rttvar %s, RTO %s)\n",
		       duration((synack_time)ci->rtt_us * NS_PER_US, t1, sizeof t1),
		       duration((synack_time)ci->rttvar_us * NS_PER_US, t2, sizeof t2),
		       duration((synack_time)ci->rto_us * NS_PER_US, t3, sizeof t3));
		printf("  options       MSS client %u, server %u (client sends %u-byte segments); ",
		       ci->rcv_mss, ci->peer_mss, ci->snd_mss);
		print_wscale("wscale client", ci->rcv_wscale);
		print_wscale(", server", ci->snd_wscale);
		printf("; SACK %s; timestamps %s\n", ci->sack ? "yes" : "no",
		       ci->timestamps ? "yes" : "no");
	}
	printf("  retransmits   SYN %" PRIu64 ", SYN-ACK %" PRIu64
	       ", other segments: client %" PRIu64 ", server %" PRIu64 "\n",
	       cc->syn_retransmits, sc->synack_retransmits, cc->retransmits, sc->retransmits);
	printf("  network       %" PRIu64 " packets sent, %" PRIu64 " lost, %" PRIu64
	       " duplicated, %" PRIu64 " reordered, %" PRIu64 " corrupted\n",
	       st->sent, st->lost, st->duplicated, st->reordered, st->corrupted);
	if (d->o.data)
		printf("  data          %zu of %zu bytes echoed back%s\n", c->received, d->o.data,
		       c->received == d->o.data ? ", byte-exact" : "");
	if (d->o.close && c->timewait_at)
		printf(
		    "  close         client in TIME-WAIT %.3f s; blocks left: client %zu, server "
		    "%zu\n",
		    c->freed ? secs(c->freed_at - c->timewait_at) : secs(now(d) - c->timewait_at),
		    synack_stack_conn_count(sim_stack(d->net, CLIENT)),
		    synack_stack_conn_count(sim_stack(d->net, SERVER)));
	if (c->established)
		printf("  ISNs          client %u, server %u%s\n", ci->isn_local, ci->isn_remote,
		       s->accepted && si->isn_remote != ci->isn_local ? " (THE SERVER DISAGREES)"
								      : "");
	if (d->failure[0])
		printf("  error         %s\n", d->failure);
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static const char *json_fate(const struct demo_packet *p)
{
	if (p->lost)
		return "lost";
	if (!p->delivered)
		return "in_flight";
	if (p->corrupted)
		return "corrupted";
	return p->input_result < 0 ? "rejected" : "delivered";
}

static void print_json_info(const char *name, const struct demo_side *s, bool comma)
{
	const synack_info *i = &s->info;

	if (!s->established && !s->accepted) {
		printf("\"%s\":null%s", name, comma ? "," : "");
		return;
	}
	printf("\"%s\":{\"state\":\"%s\",\"isn_local\":%u,\"isn_remote\":%u,\"snd_mss\":%u,"
	       "\"rcv_mss\":%u,\"peer_mss\":%u,\"snd_wscale\":%d,\"rcv_wscale\":%d,\"sack\":%s,"
	       "\"timestamps\":%s,\"rtt_us\":%u,\"rto_us\":%u,\"syn_retrans\":%u,"
	       "\"total_retrans\":%u,\"handshake_ns\":%" PRIu64 "}%s",
	       name, synack_state_name(i->state), i->isn_local, i->isn_remote, i->snd_mss,
	       i->rcv_mss, i->peer_mss, i->snd_wscale, i->rcv_wscale, i->sack ? "true" : "false",
	       i->timestamps ? "true" : "false", i->rtt_us, i->rto_us, i->syn_retrans,
	       i->total_retrans, (uint64_t)i->handshake_ns, comma ? "," : "");
}

static void print_json(const struct demo *d)
{
	const sim_stats *st = sim_get_stats(d->net);
	char spec[ERR_MAX];

	sim_impair_format(&d->o.imp, spec, sizeof spec);
	printf("{\"seed\":%" PRIu64 ",\"impair\":", d->o.seed);
	json_string(spec);
	printf(",\"packets\":[");
	for (size_t i = 0; i < d->n_pkts; i++) {
		const struct demo_packet *p = &d->pkts[i];

		printf("%s{\"t\":%.6f,\"from\":\"%s\",\"fate\":\"%s\",\"duplicate\":%s,\"line\":",
		       i ? "," : "", secs(p->sent), side_names[p->from], json_fate(p),
		       p->duplicate ? "true" : "false");
		json_string(p->line ? p->line : "");
		printf(",\"packet\":%s}", p->json ? p->json : "null");
	}
	printf("],\"states\":[");
	for (size_t i = 0; i < d->n_states; i++)
		printf("%s{\"t\":%.6f,\"side\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"}", i ? "," : "",
		       secs(d->states[i].time), side_names[d->states[i].side],
		       synack_state_name(d->states[i].from), synack_state_name(d->states[i].to));
	printf("],");
	print_json_info("client", &d->sides[CLIENT], true);
	print_json_info("server", &d->sides[SERVER], true);
	printf("\"network\":{\"sent\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"duplicated\":%" PRIu64
	       ",\"reordered\":%" PRIu64 ",\"corrupted\":%" PRIu64 "},",
	       st->sent, st->lost, st->duplicated, st->reordered, st->corrupted);
	printf("\"data\":{\"sent\":%zu,\"echoed\":%zu},\"ok\":%s", d->o.data,
	       d->sides[CLIENT].received, d->failure[0] ? "false" : "true");
	if (d->failure[0]) {
		printf(",\"error\":");
		json_string(d->failure);
		if (d->failure_errno)
			printf(",\"errno\":\"%s\"", errno_name(d->failure_errno));
	}
	printf("}\n");
}

static void print_text(const struct demo *d)
{
	char spec[ERR_MAX];

	sim_impair_format(&d->o.imp, spec, sizeof spec);
	printf("synack demo: client %s -> server %s port %d, seed %" PRIu64 "\nlinks: %s\n\n",
	       d->o.ipv6 ? "fd00::1" : "198.18.0.1", d->o.ipv6 ? "fd00::2" : "198.18.0.2",
	       DEMO_PORT, d->o.seed, spec);
	print_packets(d);
	printf("\nladder:\n");
	fflush(stdout);
	obs_ladder_render_text(d->ladder, stdout, 0);
	print_states(d);
	print_summary(d);
}

static int write_svg(struct demo *d)
{
	int rc = obs_ladder_render_svg(d->ladder, d->svg);

	if (fclose(d->svg) != 0 && rc == 0)
		rc = -errno;
	d->svg = NULL;
	if (rc < 0)
		fail(d, -rc, "writing %s failed: %s", d->o.svg, strerror(-rc));
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Arguments                                                                 */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: synack demo [OPTIONS]\n"
		"A client (198.18.0.1) connects to a server (198.18.0.2:80) on the simulated\n"
		"network; prints every packet, the ladder, both ends' states and a summary.\n\n"
		"  --loss P       share of packets lost, each direction (0..1 or 30%%)\n"
		"  --delay D      one-way delay (default 10ms; units ns, us, ms, s)\n"
		"  --jitter D     extra delay, uniform in [0, D]\n"
		"  --dup P        share of packets delivered twice\n"
		"  --reorder P    share of packets held back (reordered)\n"
		"  --corrupt P    share of packets with a flipped byte (the checksum drops them)\n"
		"  --rate R       link rate (e.g. 1mbit, 100kbps; default unlimited)\n"
		"  --seed N       seed of every random choice (default 1)\n"
		"  --data BYTES   the client sends BYTES (k and m suffixes: KiB, MiB); the server\n"
		"                 echoes them back and the client checks the echo\n"
		"  --close        then a four-way close, client first, through TIME-WAIT\n"
		"  --ipv6         use fd00::1 and fd00::2\n"
		"  --pcap FILE    write the packets (as sent) to a pcap file\n"
		"  --svg FILE     write the ladder as SVG\n"
		"  --json         one JSON object instead of text\n"
		"  --help         this text\n\n"
		"Example: synack demo --loss 0.3 --seed 3 --data 4k --close\n"
		"Exit status: 0 done, 1 a step failed (e.g. ETIMEDOUT), 2 bad arguments.\n");
}

/* Bad input: one line; the callers' convention is -EINVAL. */
#define usage_error(...) (cli_usage_error("demo", __VA_ARGS__), -EINVAL)

static int parse_size(const char *text, size_t *out)
{
	char *end;
	unsigned long long v;
	unsigned long long scale = 1;

	if (!*text || *text == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (end == text || errno)
		return -EINVAL;
	if (!strcmp(end, "k") || !strcmp(end, "K"))
		scale = KIB;
	else if (!strcmp(end, "m") || !strcmp(end, "M"))
		scale = KIB * KIB;
	else if (*end)
		return -EINVAL;
	if (v > DEMO_DATA_MAX / scale)
		return -ERANGE;
	*out = (size_t)(v * scale);
	return 0;
}

/* Parses one flag that takes a value. */
static int parse_value(struct demo_opts *o, const char *flag, const char *v)
{
	char err[ERR_MAX];
	int rc = 0;

	if (!strcmp(flag, "--loss"))
		rc = sim_parse_probability(v, &o->imp.loss, err, sizeof err);
	else if (!strcmp(flag, "--dup"))
		rc = sim_parse_probability(v, &o->imp.dup, err, sizeof err);
	else if (!strcmp(flag, "--reorder"))
		rc = sim_parse_probability(v, &o->imp.reorder, err, sizeof err);
	else if (!strcmp(flag, "--corrupt"))
		rc = sim_parse_probability(v, &o->imp.corrupt, err, sizeof err);
	else if (!strcmp(flag, "--delay"))
		rc = sim_parse_duration(v, &o->imp.delay, err, sizeof err);
	else if (!strcmp(flag, "--jitter"))
		rc = sim_parse_duration(v, &o->imp.jitter, err, sizeof err);
	else if (!strcmp(flag, "--rate"))
		rc = sim_parse_rate(v, &o->imp.rate, err, sizeof err);
	else if (!strcmp(flag, "--pcap"))
		o->pcap = v;
	else if (!strcmp(flag, "--svg"))
		o->svg = v;
	else if (!strcmp(flag, "--seed")) {
		char *end;

		errno = 0;
		o->seed = strtoull(v, &end, 0);
		if (!*v || *end || errno || *v == '-')
			return usage_error("--seed: '%s' is not an unsigned integer", v);
	} else if (!strcmp(flag, "--data")) {
		if (parse_size(v, &o->data) < 0)
			return usage_error("--data: '%s' is not a byte count up to 64m", v);
	} else
		return usage_error("unknown option '%s'", flag);
	if (rc < 0)
		return usage_error("%s: %s", flag, err);
	return 0;
}

static bool takes_value(const char *flag)
{
	static const char *const flags[] = {"--loss",	 "--delay",   "--jitter", "--dup",
					    "--reorder", "--corrupt", "--rate",	  "--seed",
					    "--data",	 "--pcap",    "--svg"};

	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
		if (!strcmp(flag, flags[i]))
			return true;
	return false;
}

/* Returns 0, 1 for --help, or -EINVAL after printing the reason. */
static int parse_args(int argc, char **argv, struct demo_opts *o)
{
	for (int i = 1; i < argc; i++) {
		char flag[64];
		const char *arg = argv[i], *eq = strchr(arg, '='), *value;

		snprintf(flag, sizeof flag, "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
		if (!strcmp(flag, "--help") || !strcmp(flag, "-h"))
			return 1;
		if (!strcmp(flag, "--close") && !eq)
			o->close = true;
		else if (!strcmp(flag, "--ipv6") && !eq)
			o->ipv6 = true;
		else if (!strcmp(flag, "--json") && !eq)
			o->json = true;
		else if (!takes_value(flag))
			return usage_error("unknown option '%s'", arg);
		else {
			value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
			if (!value)
				return usage_error("%s needs a value", flag);
			if (parse_value(o, flag, value) < 0)
				return -EINVAL;
		}
	}
	return 0;
}

int cmd_demo(int argc, char **argv)
{
	struct demo d;
	int rc;

	memset(&d, 0, sizeof d);
	sim_impair_none(&d.o.imp);
	d.o.imp.delay = DEMO_DELAY_DEFAULT;
	d.o.seed = DEMO_SEED_DEFAULT;
	rc = parse_args(argc, argv, &d.o);
	if (rc) {
		if (rc > 0)
			usage(stdout);
		return rc > 0 ? EXIT_OK : EXIT_USAGE;
	}
	if (d.o.data && !(d.tx = malloc(d.o.data))) {
		fprintf(stderr, "synack demo: out of memory for %zu bytes\n", d.o.data);
		return EXIT_FAIL;
	}
	make_data(&d);
	rc = demo_setup(&d);
	if (rc < 0) {
		if (rc != -EIO)
			fprintf(stderr, "synack demo: setup failed: %s\n", strerror(-rc));
		demo_free(&d);
		return rc == -EIO ? EXIT_USAGE : EXIT_FAIL;
	}
	demo_run(&d);
	build_ladder(&d);
	if (d.o.json)
		print_json(&d);
	else
		print_text(&d);
	if (d.o.svg)
		write_svg(&d);
	if (d.failure[0])
		fprintf(stderr, "synack demo: %s\n", d.failure);
	demo_free(&d);
	return d.failure[0] ? EXIT_FAIL : EXIT_OK;
}
