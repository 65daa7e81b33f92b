/*
 * fuzz_engine.c — libFuzzer target: arbitrary packets and calls against a
 * stack that has a listener and an open connection.
 *
 * The input is a mode byte (see setup), then a program of one-byte opcodes:
 *   RAW     len16 bytes...   an arbitrary packet to the server stack
 *   SEGMENT fields...        a segment on the open connection's 4-tuple whose
 *                            flags, sequence offsets, window, options and
 *                            payload come from the input (checksums right, so
 *                            the fuzzer reaches the state machine)
 *   SYN     fields...        a SYN from a new client port to the listener
 *   TIME    n                advance the clock n*10 ms and run the timers
 *   APP     n                a call on the server's connection (send, recv,
 *                            shutdown, close, abort)
 * Afterwards the stacks must be consistent enough to be freed, and nothing
 * may read or write out of bounds (ASan/UBSan).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "synack/synack.h"
#include "wire/wire.h"

enum op { OP_RAW, OP_SEGMENT, OP_SYN, OP_TIME, OP_APP, OP_COUNT };

#define PKT_MAX 2048
#define TIME_UNIT_NS (10 * SYNACK_MS)
#define MAX_OPS 256

typedef struct world {
	synack_stack *cli, *srv;
	synack_listener *lst;
	synack_conn *cc, *sc; /* client side and accepted server side; NULL once closed */
	synack_addr cli_ip, srv_ep;
	synack_time now;
} world;

typedef struct reader {
	const uint8_t *p;
	size_t left;
} reader;

static uint8_t take(reader *r)
{
	if (!r->left)
		return 0;
	r->left--;
	return *r->p++;
}

static uint32_t take32(reader *r)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | take(r);
	return v;
}

/* Deterministic secrets: the same input always takes the same path. */
static void fixed_random(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	memset(buf, 0x5a, len);
}

/* Delivers everything the client sends to the server and back. */
static void pump(world *w)
{
	uint8_t buf[PKT_MAX];
	ssize_t n;

	for (int round = 0; round < 64; round++) {
		bool any = false;
		while ((n = synack_output(w->cli, buf, sizeof buf)) > 0) {
			synack_input(w->srv, buf, (size_t)n, w->now);
			any = true;
		}
		while ((n = synack_output(w->srv, buf, sizeof buf)) > 0) {
			synack_input(w->cli, buf, (size_t)n, w->now);
			any = true;
		}
		if (!any)
			break;
	}
}

/* The input's first byte picks the stack's modes: SYN cookies (never,
 * auto, always), Fast Open server, RFC 1337, per-source limit, ECN. */
#define MODE_FASTOPEN 0x04
#define MODE_RFC1337 0x08
#define MODE_PER_SOURCE 0x10
#define MODE_ECN 0x20
#define COOKIE_MODES 3

static bool setup(world *w, uint8_t mode)
{
	synack_config cfg;
	synack_conn_opts lopts = {.fastopen_qlen = 4};

	memset(w, 0, sizeof *w);
	synack_config_default(&cfg);
	cfg.random = fixed_random;
	cfg.syncookies = mode % COOKIE_MODES;
	if (mode & MODE_FASTOPEN)
		cfg.fastopen = SYNACK_FASTOPEN_CLIENT | SYNACK_FASTOPEN_SERVER | SYNACK_FASTOPEN_NO_COOKIE;
	cfg.rfc1337 = (mode & MODE_RFC1337) != 0;
	cfg.max_syn_per_source = (mode & MODE_PER_SOURCE) ? 2 : 0;
	cfg.ecn = (mode & MODE_ECN) ? SYNACK_ECN_ON : SYNACK_ECN_ACCEPT;
	w->now = SYNACK_SEC;
	if (synack_stack_new(&cfg, &w->cli) || synack_stack_new(&cfg, &w->srv))
		return false;
	synack_addr_parse("198.18.0.1", &w->cli_ip);
	synack_addr_parse("198.18.0.2:80", &w->srv_ep);
	synack_stack_add_address(w->cli, &w->cli_ip);
	synack_stack_add_address(w->srv, &w->srv_ep);
	if (synack_listen(w->srv, &w->srv_ep, 4, &lopts, &w->lst))
		return false;
	if (synack_connect(w->cli, NULL, &w->srv_ep, NULL, w->now, &w->cc))
		return false;
	pump(w);
	if (synack_accept(w->lst, &w->sc))
		return false;
	synack_send(w->cc, "hello", 5, w->now);
	pump(w);
	return true;
}

/* A segment from the client's address and port to the server, with fields
 * drawn from the input around the connection's real sequence numbers. */
static void segment(world *w, reader *r, bool new_port)
{
	uint8_t buf[PKT_MAX], opt[WIRE_TCP_MAX_OPTS], payload[256];
	const synack_addr *cl = synack_conn_local(w->cc);
	synack_info ci;
	wire_seg seg;
	size_t n;

	synack_conn_info(w->cc, &ci);
	memset(&seg, 0, sizeof seg);
	seg.family = SYNACK_AF_INET;
	seg.ttl = 64;
	memcpy(seg.src, cl->ip, 4);
	memcpy(seg.dst, w->srv_ep.ip, 4);
	seg.sport = new_port ? (uint16_t)(40000 + take(r)) : cl->port;
	seg.dport = w->srv_ep.port;
	seg.flags = new_port ? (uint8_t)(WIRE_SYN | (take(r) & ~WIRE_SYN & 0xff)) : take(r);
	seg.seq = ci.snd_nxt + (uint32_t)(int32_t)(int16_t)(take(r) << 8 | take(r));
	seg.ack = ci.rcv_nxt + (uint32_t)(int32_t)(int16_t)(take(r) << 8 | take(r));
	if (take(r) & 1)
		seg.seq = take32(r); /* anywhere in the sequence space */
	seg.win = (uint16_t)(take(r) << 8 | take(r));
	seg.opt_len = take(r) % (WIRE_TCP_MAX_OPTS + 1);
	for (unsigned i = 0; i < seg.opt_len; i++)
		opt[i] = take(r);
	seg.opt = opt;
	seg.payload_len = take(r);
	for (unsigned i = 0; i < seg.payload_len; i++)
		payload[i] = take(r);
	seg.payload = payload;
	n = wire_build(buf, sizeof buf, &seg);
	if (n)
		synack_input(w->srv, buf, n, w->now);
}

static void app(world *w, uint8_t what)
{
	uint8_t buf[4096];

	if (!w->sc)
		return;
	switch (what % 6) {
	case 0:
		memset(buf, 'x', sizeof buf);
		synack_send(w->sc, buf, sizeof buf, w->now);
		break;
	case 1:
		synack_recv(w->sc, buf, sizeof buf, w->now);
		break;
	case 2:
		synack_shutdown(w->sc, SYNACK_SHUT_WR, w->now);
		break;
	case 3:
		synack_close(w->sc, w->now);
		w->sc = NULL;
		break;
	case 4:
		synack_abort(w->sc, w->now);
		w->sc = NULL;
		break;
	default:
		(void)synack_conn_poll(w->sc);
		(void)synack_conn_take_error(w->sc);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	reader r = {data, size};
	world w;

	if (!setup(&w, take(&r)))
		return 0;
	for (int ops = 0; r.left && ops < MAX_OPS; ops++) {
		switch (take(&r) % OP_COUNT) {
		case OP_RAW: {
			size_t len = (size_t)(take(&r) << 8 | take(&r)) % PKT_MAX;
			if (len > r.left)
				len = r.left;
			synack_input(w.srv, r.p, len, w.now);
			r.p += len;
			r.left -= len;
			break;
		}
		case OP_SEGMENT:
			segment(&w, &r, false);
			break;
		case OP_SYN:
			segment(&w, &r, true);
			break;
		case OP_TIME:
			w.now += (synack_time)take(&r) * TIME_UNIT_NS;
			synack_timeout(w.cli, w.now);
			synack_timeout(w.srv, w.now);
			break;
		default:
			app(&w, take(&r));
			break;
		}
		pump(&w);
	}
	synack_stack_free(w.cli);
	synack_stack_free(w.srv);
	return 0;
}
