/*
 * sim_net_test.c — the simulated network itself: the impairment parser,
 * reproducibility by seed, and what each impairment does to real traffic
 * (shares of loss, duplication, reordering and corruption; delay, jitter
 * and FIFO order; rate; routing).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/sim.h"
#include "synack/synack.h"

#define SERVER_PORT 80
#define BACKLOG 8
#define RECV_CHUNK 16384
#define RUN_LIMIT (3600 * SYNACK_SEC)
#define STEPS_MAX 5000000L
/* FNV-1a, 64 bits: a digest of everything the tap saw. */
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static unsigned passed, failed;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (cond) {                                                                        \
			passed++;                                                                  \
		} else {                                                                           \
			failed++;                                                                  \
			printf("FAIL %s:%d: %s: ", __func__, __LINE__, #cond);                     \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
		}                                                                                  \
	} while (0)

/* ------------------------------------------------------------------------ */
/* Parser                                                                    */

static void test_parse_ok(void)
{
	sim_impair imp, back;
	char err[256], text[256];

	sim_impair_none(&imp);
	CHECK(sim_impair_parse("loss=0.1,delay=50ms,jitter=10ms,reorder=0.05,dup=0.01,"
			       "corrupt=0.01,rate=1mbit,seed=7",
			       &imp, err, sizeof err) == 0,
	      "%s", err);
	CHECK(imp.loss == 0.1 && imp.reorder == 0.05 && imp.dup == 0.01 && imp.corrupt == 0.01,
	      "probabilities %g %g %g %g", imp.loss, imp.reorder, imp.dup, imp.corrupt);
	CHECK(imp.delay == 50 * SYNACK_MS && imp.jitter == 10 * SYNACK_MS, "durations");
	CHECK(imp.rate == 125000, "1mbit is 125000 bytes/s, got %" PRIu64, imp.rate);
	CHECK(imp.has_seed && imp.seed == 7, "seed");

	sim_impair_format(&imp, text, sizeof text);
	sim_impair_none(&back);
	CHECK(sim_impair_parse(text, &back, err, sizeof err) == 0, "%s: %s", text, err);
	CHECK(!memcmp(&imp, &back, sizeof imp), "format/parse round trip: %s", text);

	sim_impair_none(&imp);
	CHECK(sim_impair_parse("loss=10%,delay=1.5ms,jitter=20,rate=10mbps", &imp, err,
			       sizeof err) == 0,
	      "%s", err);
	CHECK(imp.loss == 0.1 && imp.delay == 1500000 && imp.jitter == 20 * SYNACK_MS &&
		  imp.rate == 10000000,
	      "percent, fractions, bare ms, bytes: %g %" PRIu64 " %" PRIu64 " %" PRIu64, imp.loss,
	      imp.delay, imp.jitter, imp.rate);
	CHECK(sim_impair_parse("rate=0", &imp, err, sizeof err) == 0 && imp.rate == 0,
	      "rate=0 is unlimited");
	CHECK(sim_impair_parse("", &imp, err, sizeof err) == 0, "an empty spec changes nothing");
}

static void test_parse_errors(void)
{
	static const char *const bad[] = {
	    "loss=1.5",		 "loss=abc",  "loss=-0.1", "delay=5xs",
	    "bogus=1",		 "loss",      "=1",	   "loss=",
	    "loss=0.1,",	 ",loss=0.1", "rate=5",	   "rate=-1mbit",
	    "seed=-3",		 "seed=x",    "delay=2h",  "delay=7200s",
	    "loss=0.1,,dup=0.1", "dup=200%",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		sim_impair imp, before;
		char err[256] = "";

		sim_impair_none(&imp);
		imp.loss = 0.25;
		before = imp;
		CHECK(sim_impair_parse(bad[i], &imp, err, sizeof err) == -EINVAL && err[0],
		      "'%s' must be refused with a reason", bad[i]);
		CHECK(!memcmp(&imp, &before, sizeof imp), "'%s' changed the impairment", bad[i]);
	}
}

/* ------------------------------------------------------------------------ */
/* A transfer on the network, watched through the tap                        */

#define MAX_OBS 200000

struct obs {
	synack_time time, sent;
	uint64_t id;
	int from, kind;
	size_t len;
	bool dup, reordered, corrupted;
};

struct xfer {
	sim_net *net;
	uint64_t digest;
	struct obs *obs;
	size_t n_obs;
	bool complete;
	uint64_t checksum_drops;
};

static void tap(void *ctx, const sim_tap_event *ev)
{
	struct xfer *x = ctx;
	const uint64_t fields[] = {ev->kind,	       ev->time,	 ev->id,
				   (uint64_t)ev->from, (uint64_t)ev->to, ev->len};

	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		x->digest = (x->digest ^ fields[i]) * FNV_PRIME;
	for (size_t i = 0; i < ev->len; i++)
		x->digest = (x->digest ^ ev->pkt[i]) * FNV_PRIME;
	if (x->n_obs < MAX_OBS)
		x->obs[x->n_obs++] = (struct obs){.time = ev->time,
						  .sent = ev->sent,
						  .id = ev->id,
						  .from = ev->from,
						  .kind = ev->kind,
						  .len = ev->len,
						  .dup = ev->duplicate,
						  .reordered = ev->reordered,
						  .corrupted = ev->corrupted};
}

static void addr4(synack_addr *a, uint8_t host, uint16_t port)
{
	memset(a, 0, sizeof *a);
	a->family = SYNACK_AF_INET;
	a->ip[0] = 198;
	a->ip[1] = 18;
	a->ip[3] = host;
	a->port = port;
}

/* Sends `bytes` from the client to the server through imp (both ways);
 * leaves x->net open for the caller to inspect. */
static void transfer(struct xfer *x, uint64_t seed, const sim_impair *imp, size_t bytes)
{
	synack_config cfg;
	synack_addr c, s;
	synack_listener *l;
	synack_conn *cc = NULL, *sc = NULL;
	uint8_t *data = calloc(1, bytes + 1), buf[RECV_CHUNK];
	size_t sent = 0, got = 0;
	long steps = 0;

	memset(x, 0, sizeof *x);
	x->digest = FNV_OFFSET;
	x->obs = calloc(MAX_OBS, sizeof *x->obs);
	synack_config_default(&cfg);
	addr4(&c, 1, 0);
	addr4(&s, 2, SERVER_PORT);
	if (!data || !x->obs || sim_new(seed, &x->net) < 0 ||
	    sim_add_node(x->net, "client", &cfg, &c) != 0 ||
	    sim_add_node(x->net, "server", &cfg, &s) != 1 ||
	    sim_set_impair(x->net, -1, -1, imp) < 0 ||
	    synack_listen(sim_stack(x->net, 1), &s, BACKLOG, NULL, &l) < 0 ||
	    synack_connect(sim_stack(x->net, 0), NULL, &s, NULL, 0, &cc) < 0) {
		printf("transfer setup failed\n");
		free(data);
		return;
	}
	sim_set_tap(x->net, tap, x);
	while (got < bytes && steps++ < STEPS_MAX && sim_step(x->net, RUN_LIMIT)) {
		ssize_t n;

		if (!sc)
			synack_accept(l, &sc);
		while (sent < bytes &&
		       (n = synack_send(cc, data + sent, bytes - sent, sim_now(x->net))) > 0)
			sent += (size_t)n;
		while (sc && (n = synack_recv(sc, buf, sizeof buf, sim_now(x->net))) > 0)
			got += (size_t)n;
	}
	x->complete = got == bytes;
	/* Let what is in flight land, so that every copy has a fate. */
	while (sim_in_flight(x->net) && steps++ < STEPS_MAX && sim_step(x->net, RUN_LIMIT))
		;
	for (int i = 0; i < 2; i++)
		x->checksum_drops += synack_stack_counters(sim_stack(x->net, i))->drop_tcp_checksum;
	free(data);
}

static void xfer_free(struct xfer *x)
{
	sim_free(x->net);
	free(x->obs);
}

static void test_determinism(void)
{
	sim_impair imp;
	struct xfer a, b, c;
	char err[128];

	sim_impair_none(&imp);
	sim_impair_parse("loss=0.05,delay=10ms,jitter=5ms,reorder=0.05,dup=0.02,corrupt=0.01", &imp,
			 err, sizeof err);
	transfer(&a, 42, &imp, 50000);
	transfer(&b, 42, &imp, 50000);
	transfer(&c, 43, &imp, 50000);
	CHECK(a.complete && b.complete && c.complete, "transfers completed");
	CHECK(a.digest == b.digest && a.n_obs == b.n_obs,
	      "the same seed must replay the same packets at the same times");
	CHECK(a.digest != c.digest, "another seed must make another run");
	xfer_free(&a);
	xfer_free(&b);
	xfer_free(&c);
}

static double share(uint64_t part, uint64_t whole)
{
	return whole ? (double)part / (double)whole : 0;
}

/* Each share lands near its probability: with over 1,500 packets the
 * standard deviation of a 10% share is under 0.8 points. */
static void test_shares(void)
{
	sim_impair imp;
	struct xfer x;
	const sim_stats *st;
	const double tolerance = 0.035;

	sim_impair_none(&imp);
	imp.loss = 0.1;
	imp.dup = 0.1;
	imp.reorder = 0.1;
	imp.corrupt = 0.05;
	imp.delay = 5 * SYNACK_MS;
	transfer(&x, 7, &imp, 1000000);
	st = sim_get_stats(x.net);
	CHECK(x.complete, "transfer completed");
	CHECK(st->sent > 1500, "%" PRIu64 " packets", st->sent);
	CHECK(fabs(share(st->lost, st->sent) - imp.loss) < tolerance, "loss share %.3f",
	      share(st->lost, st->sent));
	CHECK(fabs(share(st->duplicated, st->sent - st->lost) - imp.dup) < tolerance,
	      "dup share %.3f", share(st->duplicated, st->sent - st->lost));
	CHECK(fabs(share(st->reordered, st->sent - st->lost + st->duplicated) - imp.reorder) <
		  tolerance,
	      "reorder share %.3f", share(st->reordered, st->sent - st->lost + st->duplicated));
	CHECK(fabs(share(st->corrupted, st->sent - st->lost + st->duplicated) - imp.corrupt) <
		  tolerance,
	      "corrupt share %.3f", share(st->corrupted, st->sent - st->lost + st->duplicated));
	CHECK(x.checksum_drops == st->corrupted,
	      "every corrupted packet is a TCP checksum drop: %" PRIu64 " vs %" PRIu64,
	      x.checksum_drops, st->corrupted);
	CHECK(st->delivered == st->sent - st->lost + st->duplicated,
	      "delivered = sent - lost + duplicated");
	xfer_free(&x);
}

/* Delay plus jitter bounds every trip; jitter alone never reorders. */
static void test_delay_fifo(void)
{
	sim_impair imp;
	struct xfer x;
	const synack_time delay = 30 * SYNACK_MS, jitter = 10 * SYNACK_MS;
	uint64_t last_id[2] = {0, 0};
	bool in_bounds = true, fifo = true, jittered = false;

	sim_impair_none(&imp);
	imp.delay = delay;
	imp.jitter = jitter;
	transfer(&x, 11, &imp, 200000);
	CHECK(x.complete, "transfer completed");
	for (size_t i = 0; i < x.n_obs; i++) {
		const struct obs *o = &x.obs[i];
		synack_time trip = o->time - o->sent;

		if (o->kind != SIM_TAP_DELIVERED)
			continue;
		in_bounds &= trip >= delay && trip <= delay + jitter;
		jittered |= trip > delay;
		fifo &= o->id > last_id[o->from];
		last_id[o->from] = o->id;
	}
	CHECK(in_bounds, "one-way trips within [delay, delay + jitter]");
	CHECK(jittered, "jitter changed some trips");
	CHECK(fifo, "packets of one direction arrive in the order sent");
	xfer_free(&x);
}

/* At 1 mbit a 1500-byte packet takes 12 ms on the wire: deliveries of one
 * direction are spaced by at least that. */
static void test_rate(void)
{
	sim_impair imp;
	struct xfer x;
	char err[128];
	synack_time prev = 0;
	bool spaced = true;
	const size_t bytes = 100000;

	sim_impair_none(&imp);
	CHECK(sim_impair_parse("rate=1mbit,delay=1ms", &imp, err, sizeof err) == 0, "%s", err);
	transfer(&x, 5, &imp, bytes);
	CHECK(x.complete, "transfer completed");
	CHECK(sim_now(x.net) >= bytes * SYNACK_SEC / imp.rate,
	      "%zu bytes at %" PRIu64 " B/s took only %.3f s", bytes, imp.rate,
	      (double)sim_now(x.net) / 1e9);
	for (size_t i = 0; i < x.n_obs; i++) {
		const struct obs *o = &x.obs[i];

		if (o->kind != SIM_TAP_DELIVERED || o->from != 0)
			continue;
		if (prev && o->time - prev < o->len * SYNACK_SEC / imp.rate)
			spaced = false;
		prev = o->time;
	}
	CHECK(spaced, "deliveries spaced by their serialization time");
	xfer_free(&x);
}

struct route_seen {
	uint64_t no_route;
};

static void route_tap(void *ctx, const sim_tap_event *ev)
{
	struct route_seen *r = ctx;

	if (ev->kind == SIM_TAP_DROPPED && ev->drop == SIM_DROP_NO_ROUTE && ev->to == -1)
		r->no_route++;
}

/* Three nodes: two clients reach one server; a packet to an address no
 * node owns is dropped as unroutable; addresses cannot be owned twice. */
static void test_routing(void)
{
	synack_config cfg;
	synack_addr a, b, s, nowhere;
	synack_listener *l;
	synack_conn *ca, *cb, *accepted;
	sim_net *net;
	struct route_seen seen = {0};
	int n_accepted = 0;

	synack_config_default(&cfg);
	addr4(&a, 1, 0);
	addr4(&b, 3, 0);
	addr4(&s, 2, SERVER_PORT);
	addr4(&nowhere, 9, SERVER_PORT);
	sim_new(1, &net);
	sim_set_tap(net, route_tap, &seen);
	CHECK(sim_add_node(net, "a", &cfg, &a) == 0 && sim_add_node(net, "s", &cfg, &s) == 1 &&
		  sim_add_node(net, "b", &cfg, &b) == 2,
	      "three nodes");
	CHECK(sim_add_node(net, "dup", &cfg, &a) == -EINVAL, "an address belongs to one node");
	CHECK(sim_node_by_addr(net, &s) == 1 && sim_node_by_addr(net, &nowhere) == -1,
	      "lookup by address");
	synack_listen(sim_stack(net, 1), &s, BACKLOG, NULL, &l);
	synack_connect(sim_stack(net, 0), NULL, &s, NULL, 0, &ca);
	synack_connect(sim_stack(net, 2), NULL, &s, NULL, 0, &cb);
	synack_connect(sim_stack(net, 2), NULL, &nowhere, NULL, 0, &cb);
	sim_run_until(net, SYNACK_SEC / 2);
	while (synack_accept(l, &accepted) == 0)
		n_accepted++;
	CHECK(n_accepted == 2, "both clients accepted, got %d", n_accepted);
	CHECK(seen.no_route == 1 && sim_get_stats(net)->no_route == 1,
	      "the SYN to nowhere is unroutable (%" PRIu64 ")", seen.no_route);
	sim_free(net);
}

int main(void)
{
	test_parse_ok();
	test_parse_errors();
	test_determinism();
	test_shares();
	test_delay_fifo();
	test_rate();
	test_routing();
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
