/*
 * cookie.c — what SYN cookies cost one core.
 *
 * Measured, each against a listener whose stack answers every SYN with a
 * cookie (SYNACK_SYNCOOKIES_ALWAYS, Linux's tcp_syncookies=2):
 *   (a) cookie SYN-ACKs per second: a SYN in through synack_input, the
 *       cookie SYN-ACK out through synack_output. The SYNs come from a pool
 *       of distinct spoofed sources, checksums and all, built beforehand;
 *       with --no-ts they carry <mss> alone, otherwise a Linux SYN's
 *       <mss,sackOK,TS,nop,wscale> (the cookie then also goes in the TS val);
 *   (b) cookie ACKs validated per second: the ACK that returns a cookie
 *       builds a connection; each is accepted and aborted (its RST taken
 *       from the output) so that memory stays flat;
 *   (c) the SipHash-2-4 floor: libsodium's crypto_shorthash_siphash24 over a
 *       4-tuple-sized input (12 bytes), the MAC every cookie costs at least
 *       once;
 *   (d) the ratios (a)/(c) and (b)/(c): how many SipHash calls' worth of time
 *       one cookie SYN-ACK and one validation take.
 * A benchmark, not a test: it reports, it does not judge. Each measurement
 * runs --repeat rounds, interleaved, and keeps its best.
 *
 * --only synack|ack|siphash runs one measurement alone, for profiles:
 *     valgrind --tool=callgrind cookie --only synack --seconds 0.2 --repeat 1
 *
 *     cookie [--seconds S] [--repeat N] [--no-ts] [--only WHAT] [--json]
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "synack/synack.h"
#include "wire/wire.h"

#define SECONDS_DEFAULT 1.0
#define REPEAT_DEFAULT 3
#define REPEAT_MAX 100
#define POOL 4096		    /* distinct spoofed SYNs (a power of two) */
#define CLOCK_CHECK 4096	    /* iterations between looks at the clock */
#define STEP_NS 100		    /* virtual time per SYN: 10 M/s of arrivals */
#define START_NS (1000 * SYNACK_MS) /* the stack's clock at the start */
#define PACKET_MAX 128
#define SERVER "198.18.0.2:80"
#define SPOOF_NET 0xc6128000u /* 198.18.128.0/17 */
#define SPORT_MIN 1024
#define SYN_WIN 64240
#define SYN_WSCALE 7
#define MSS 1460
#define TTL 64
#define TUPLE_BYTES 12 /* IPv4 4-tuple: two addresses, two ports */
#define NS_PER_SEC 1e9
#define MILLION 1e6

enum only { ONLY_ALL, ONLY_SYNACK, ONLY_ACK, ONLY_SIPHASH };

struct opts {
	double seconds;
	unsigned repeat;
	enum only only;
	bool ts, json;
};

struct packet {
	uint8_t b[PACKET_MAX];
	size_t len;
};

struct bench {
	struct opts o;
	synack_stack *s;
	synack_listener *l;
	synack_addr server;
	synack_time now;
	struct packet syn[POOL], ack[POOL];
};

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / NS_PER_SEC;
}

/* ------------------------------------------------------------------------ */
/* Setup                                                                     */

static int make_stack(struct bench *b)
{
	synack_config cfg;

	synack_config_default(&cfg);
	cfg.syncookies = SYNACK_SYNCOOKIES_ALWAYS;
	if (synack_stack_new(&cfg, &b->s) < 0 || synack_addr_parse(SERVER, &b->server) < 0 ||
	    synack_stack_add_address(b->s, &b->server) < 0 ||
	    synack_listen(b->s, &b->server, (int)cfg.somaxconn, NULL, &b->l) < 0)
		return -1;
	b->now = START_NS;
	return 0;
}

static void build_syn(struct bench *b, uint32_t i, struct packet *p)
{
	uint8_t opt[WIRE_TCP_MAX_OPTS];
	wire_seg seg;
	size_t o = 0;

	memset(&seg, 0, sizeof seg);
	seg.family = SYNACK_AF_INET;
	seg.ttl = TTL;
	wire_set32(seg.src, SPOOF_NET | i);
	memcpy(seg.dst, b->server.ip, 4);
	seg.sport = (uint16_t)(SPORT_MIN + i);
	seg.dport = b->server.port;
	seg.seq = randombytes_random();
	seg.flags = WIRE_SYN;
	seg.win = SYN_WIN;
	o += wire_put_mss(opt, MSS);
	if (b->o.ts) {
		o += wire_put_sackok(opt + o);
		o += wire_put_ts(opt + o, randombytes_random(), 0);
		o += wire_put_nop(opt + o);
		o += wire_put_wscale(opt + o, SYN_WSCALE);
	}
	seg.opt = opt;
	seg.opt_len = (uint8_t)o;
	p->len = wire_build(p->b, sizeof p->b, &seg);
}

/* The ACK a real client would send for the cookie SYN-ACK synack. */
static int build_ack(const struct packet *syn, const uint8_t *synack, size_t len, struct packet *p)
{
	wire_seg in, sa, seg;
	uint8_t opt[WIRE_TCP_MAX_OPTS];
	size_t o = 0;

	if (wire_parse(syn->b, syn->len, 0, &in) != WIRE_OK ||
	    wire_parse(synack, len, 0, &sa) != WIRE_OK || sa.flags != (WIRE_SYN | WIRE_ACK))
		return -1;
	memset(&seg, 0, sizeof seg);
	seg.family = SYNACK_AF_INET;
	seg.ttl = TTL;
	memcpy(seg.src, in.src, 4);
	memcpy(seg.dst, in.dst, 4);
	seg.sport = in.sport;
	seg.dport = in.dport;
	seg.seq = in.seq + 1;
	seg.ack = sa.seq + 1;
	seg.flags = WIRE_ACK;
	seg.win = SYN_WIN >> SYN_WSCALE;
	if (sa.opts.present & WIRE_HAS_TS) {
		o += wire_put_nop(opt);
		o += wire_put_nop(opt + o);
		o += wire_put_ts(opt + o, in.opts.ts_val + 1, sa.opts.ts_val);
	}
	seg.opt = opt;
	seg.opt_len = (uint8_t)o;
	p->len = wire_build(p->b, sizeof p->b, &seg);
	return p->len ? 0 : -1;
}

/* The SYNs, and for each the ACK that returns its cookie. */
static int make_packets(struct bench *b)
{
	uint8_t out[PACKET_MAX];

	for (uint32_t i = 0; i < POOL; i++) {
		ssize_t n;

		build_syn(b, i, &b->syn[i]);
		if (synack_input(b->s, b->syn[i].b, b->syn[i].len, b->now) < 0)
			return -1;
		n = synack_output(b->s, out, sizeof out);
		if (n <= 0 || build_ack(&b->syn[i], out, (size_t)n, &b->ack[i]) < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Measurements                                                              */

struct result {
	uint64_t n;
	double seconds, rate;
};

static void keep_best(struct result *best, uint64_t n, double seconds)
{
	double rate = (double)n / seconds;

	if (rate > best->rate) {
		best->n = n;
		best->seconds = seconds;
		best->rate = rate;
	}
}

/* (a) SYN in, cookie SYN-ACK out. */
static int run_synacks(struct bench *b, struct result *best)
{
	uint8_t out[PACKET_MAX];
	uint64_t n = 0, sent0 = synack_stack_counters(b->s)->syncookies_sent;
	double t0 = wall(), t;

	do {
		for (unsigned k = 0; k < CLOCK_CHECK; k++, n++) {
			const struct packet *p = &b->syn[n & (POOL - 1)];

			b->now += STEP_NS;
			synack_input(b->s, p->b, p->len, b->now);
			if (synack_output(b->s, out, sizeof out) <= 0)
				return -1;
		}
		t = wall() - t0;
	} while (t < b->o.seconds);
	if (synack_stack_counters(b->s)->syncookies_sent - sent0 != n)
		return -1; /* every SYN must have had a cookie */
	keep_best(best, n, t);
	return 0;
}

/* (b) a cookie ACK builds a connection; accept and abort it. */
static int run_acks(struct bench *b, struct result *best)
{
	uint8_t out[PACKET_MAX];
	uint64_t n = 0, recv0 = synack_stack_counters(b->s)->syncookies_recv;
	double t0 = wall(), t;
	synack_conn *c;

	do {
		for (unsigned k = 0; k < CLOCK_CHECK; k++, n++) {
			const struct packet *p = &b->ack[n & (POOL - 1)];

			synack_input(b->s, p->b, p->len, b->now);
			if (synack_accept(b->l, &c) < 0)
				return -1;
			synack_abort(c, b->now);
			while (synack_output(b->s, out, sizeof out) > 0)
				; /* the RST */
		}
		t = wall() - t0;
	} while (t < b->o.seconds);
	if (synack_stack_counters(b->s)->syncookies_recv - recv0 != n ||
	    synack_stack_conn_count(b->s) != 0)
		return -1;
	keep_best(best, n, t);
	return 0;
}

/* (c) SipHash-2-4 of a 4-tuple, each input different. */
static void run_siphash(struct bench *b, struct result *best)
{
	uint8_t key[crypto_shorthash_siphash24_KEYBYTES], in[TUPLE_BYTES] = {0};
	uint8_t out[crypto_shorthash_siphash24_BYTES];
	volatile uint8_t sink = 0;
	uint64_t n = 0;
	double t0 = wall(), t;

	randombytes_buf(key, sizeof key);
	do {
		for (unsigned k = 0; k < CLOCK_CHECK; k++, n++) {
			wire_set32(in, (uint32_t)n);
			crypto_shorthash_siphash24(out, in, sizeof in, key);
			sink ^= out[0];
		}
		t = wall() - t0;
	} while (t < b->o.seconds);
	(void)sink;
	keep_best(best, n, t);
}

/* ------------------------------------------------------------------------ */

static void print_text(const struct bench *b, const struct result *syn, const struct result *ack,
		       const struct result *sip)
{
	printf("SYN cookies on one core (%s SYNs, best of %u rounds of %.2g s)\n",
	       b->o.ts ? "<mss,sackOK,TS,nop,wscale>" : "<mss>", b->o.repeat, b->o.seconds);
	printf("  (a) cookie SYN-ACKs          %8.2f M/s  %6.0f ns each\n", syn->rate / MILLION,
	       NS_PER_SEC / syn->rate);
	printf(
	    "  (b) cookie ACKs validated    %8.2f M/s  %6.0f ns each (accept + abort included)\n",
	    ack->rate / MILLION, NS_PER_SEC / ack->rate);
	printf("  (c) SipHash-2-4, 12 bytes    %8.2f M/s  %6.0f ns each\n", sip->rate / MILLION,
	       NS_PER_SEC / sip->rate);
	printf("  (d) a cookie SYN-ACK costs %.1f SipHash calls, a validation %.1f\n",
	       sip->rate / syn->rate, sip->rate / ack->rate);
	printf("  blocks: connection %zu B, request entry %zu B (a cookie keeps neither)\n",
	       synack_conn_block_size(), synack_request_entry_size());
}

static void print_json(const struct bench *b, const struct result *syn, const struct result *ack,
		       const struct result *sip)
{
	printf(
	    "{\"timestamps\":%s,\"repeat\":%u,\"synack_per_s\":%.0f,\"ack_validated_per_s\":%.0f,"
	    "\"siphash_per_s\":%.0f,\"synack_siphash_ratio\":%.3f,"
	    "\"ack_siphash_ratio\":%.3f}\n",
	    b->o.ts ? "true" : "false", b->o.repeat, syn->rate, ack->rate, sip->rate,
	    syn->rate / sip->rate, ack->rate / sip->rate);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	o->seconds = SECONDS_DEFAULT;
	o->repeat = REPEAT_DEFAULT;
	o->ts = true;
	for (int i = 1; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			o->seconds = strtod(argv[++i], &end);
			if (*end || !(o->seconds > 0))
				return -1;
		} else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
			o->repeat = (unsigned)strtoul(argv[++i], &end, 10);
			if (*end || o->repeat < 1 || o->repeat > REPEAT_MAX)
				return -1;
		} else if (!strcmp(argv[i], "--no-ts")) {
			o->ts = false;
		} else if (!strcmp(argv[i], "--json")) {
			o->json = true;
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "synack"))
				o->only = ONLY_SYNACK;
			else if (!strcmp(argv[i], "ack"))
				o->only = ONLY_ACK;
			else if (!strcmp(argv[i], "siphash"))
				o->only = ONLY_SIPHASH;
			else
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct bench b;
	struct result syn = {0}, ack = {0}, sip = {0};

	if (parse_args(argc, argv, &b.o) < 0) {
		fprintf(stderr, "usage: cookie [--seconds S] [--repeat N] [--no-ts] "
				"[--only synack|ack|siphash] [--json]\n");
		return 2;
	}
	if (sodium_init() < 0 || make_stack(&b) < 0 || make_packets(&b) < 0) {
		fprintf(stderr, "cookie: setup failed\n");
		return 1;
	}
	for (unsigned r = 0; r < b.o.repeat; r++) {
		if (((b.o.only == ONLY_ALL || b.o.only == ONLY_SYNACK) &&
		     run_synacks(&b, &syn) < 0) ||
		    ((b.o.only == ONLY_ALL || b.o.only == ONLY_ACK) && run_acks(&b, &ack) < 0)) {
			fprintf(stderr, "cookie: a SYN got no cookie or an ACK no connection\n");
			return 1;
		}
		if (b.o.only == ONLY_ALL || b.o.only == ONLY_SIPHASH)
			run_siphash(&b, &sip);
	}
	if (b.o.only != ONLY_ALL) {
		const struct result *r = b.o.only == ONLY_SYNACK ? &syn
					 : b.o.only == ONLY_ACK	 ? &ack
								 : &sip;

		printf("%" PRIu64 " in %.3f s: %.2f M/s\n", r->n, r->seconds, r->rate / MILLION);
		synack_stack_free(b.s);
		return 0;
	}
	if (b.o.json)
		print_json(&b, &syn, &ack, &sip);
	else
		print_text(&b, &syn, &ack, &sip);
	synack_stack_free(b.s);
	return 0;
}
