/* test_engine.c — two stacks wired back to back: handshakes, data, every
 * close path, checked through the public API only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "synack/synack.h"
#include "wire/wire.h"

#define STEP_NS (100 * 1000ULL) /* 100 us one-way delay */
#define MAX_PKT 2048

typedef struct pair {
	synack_stack *cli, *srv;
	synack_listener *lst;
	synack_addr cli_ip, srv_ep;
	synack_time now;
	unsigned drop_next_to_srv, drop_next_to_cli; /* how many to lose */
	unsigned packets;
	bool zero_copy; /* pump through synack_output_next instead of synack_output */
} pair;

static void pair_setup(pair *p, const synack_config *cfg)
{
	memset(p, 0, sizeof *p);
	assert_int_equal(synack_stack_new(cfg, &p->cli), 0);
	assert_int_equal(synack_stack_new(cfg, &p->srv), 0);
	assert_int_equal(synack_addr_parse("198.18.0.1", &p->cli_ip), 0);
	assert_int_equal(synack_addr_parse("198.18.0.2:80", &p->srv_ep), 0);
	assert_int_equal(synack_stack_add_address(p->cli, &p->cli_ip), 0);
	assert_int_equal(synack_stack_add_address(p->srv, &p->srv_ep), 0);
	assert_int_equal(synack_listen(p->srv, &p->srv_ep, 16, NULL, &p->lst), 0);
	p->now = 1000 * SYNACK_MS;
}

static void pair_free(pair *p)
{
	synack_stack_free(p->cli);
	synack_stack_free(p->srv);
}

/* The next packet from `from`: copied into buf, or lent by the stack when
 * the pair runs zero-copy. NULL when nothing is queued. */
static const uint8_t *next_packet(pair *p, synack_stack *from, uint8_t *buf, size_t *len)
{
	ssize_t n;

	if (p->zero_copy)
		return synack_output_next(from, len);
	n = synack_output(from, buf, MAX_PKT);
	if (n <= 0)
		return NULL;
	*len = (size_t)n;
	return buf;
}

/* Moves packets both ways until both are quiet; returns packets moved. */
static unsigned pump(pair *p)
{
	uint8_t buf[MAX_PKT];
	const uint8_t *pkt;
	unsigned moved = 0;
	size_t n;

	for (int round = 0; round < 10000; round++) {
		bool any = false;
		while ((pkt = next_packet(p, p->cli, buf, &n))) {
			p->now += STEP_NS;
			any = true;
			moved++;
			if (p->drop_next_to_srv) {
				p->drop_next_to_srv--;
				continue;
			}
			synack_input(p->srv, pkt, n, p->now);
		}
		while ((pkt = next_packet(p, p->srv, buf, &n))) {
			p->now += STEP_NS;
			any = true;
			moved++;
			if (p->drop_next_to_cli) {
				p->drop_next_to_cli--;
				continue;
			}
			synack_input(p->cli, pkt, n, p->now);
		}
		if (!any)
			break;
	}
	p->packets += moved;
	return moved;
}

/* Runs timers until `until`, pumping packets in between. */
static void run_until(pair *p, synack_time until)
{
	for (int i = 0; i < 100000; i++) {
		synack_time a = synack_deadline(p->cli), b = synack_deadline(p->srv);
		synack_time next = a < b ? a : b;
		pump(p);
		if (next > until)
			break;
		if (next > p->now)
			p->now = next;
		synack_timeout(p->cli, p->now);
		synack_timeout(p->srv, p->now);
	}
	if (p->now < until)
		p->now = until;
	pump(p);
}

static synack_conn *connect_accept(pair *p, synack_conn **server)
{
	synack_conn *c;

	assert_int_equal(synack_connect(p->cli, NULL, &p->srv_ep, NULL, p->now, &c), 0);
	assert_int_equal(synack_conn_state(c), SYNACK_SYN_SENT);
	pump(p);
	assert_int_equal(synack_conn_state(c), SYNACK_ESTABLISHED);
	assert_int_equal(synack_accept(p->lst, server), 0);
	assert_int_equal(synack_conn_state(*server), SYNACK_ESTABLISHED);
	return c;
}

static void test_handshake_options(void **state)
{
	pair p;
	synack_conn *c, *sc;
	synack_info ci, si;

	(void)state;
	pair_setup(&p, NULL);
	c = connect_accept(&p, &sc);
	synack_conn_info(c, &ci);
	synack_conn_info(sc, &si);
	assert_int_equal(ci.isn_local, si.isn_remote);
	assert_int_equal(ci.isn_remote, si.isn_local);
	assert_true(ci.sack && ci.timestamps && si.sack && si.timestamps);
	assert_int_equal(ci.snd_wscale, 8);
	assert_int_equal(si.snd_wscale, 8);
	assert_int_equal(ci.snd_mss, 1448);
	assert_int_equal(si.snd_mss, 1448);
	assert_int_equal(p.packets, 3);
	assert_true(ci.handshake_ns > 0);
	assert_true(ci.rtt_us > 0);
	/* The endpoints, through synack_conn_info and the accessors alike. */
	assert_memory_equal(ci.local.ip, p.cli_ip.ip, 4);
	assert_true(ci.local.port != 0);
	assert_memory_equal(&ci.remote, &si.local, sizeof ci.remote);
	assert_memory_equal(&si.remote, &ci.local, sizeof si.remote);
	assert_memory_equal(ci.remote.ip, p.srv_ep.ip, 4);
	assert_int_equal(ci.remote.port, p.srv_ep.port);
	assert_memory_equal(synack_conn_local(c), &ci.local, sizeof ci.local);
	assert_memory_equal(synack_conn_remote(c), &ci.remote, sizeof ci.remote);
	assert_memory_equal(synack_conn_local(sc), &si.local, sizeof si.local);
	assert_memory_equal(synack_conn_remote(sc), &si.remote, sizeof si.remote);
	pair_free(&p);
}

/* Sends 100,000 bytes from c to sc and checks they arrive unchanged. */
static void transfer(pair *p, synack_conn *c, synack_conn *sc)
{
	static uint8_t out[100000], in[100000];
	size_t sent = 0, got = 0;

	for (size_t i = 0; i < sizeof out; i++)
		out[i] = (uint8_t)(i * 7 + (i >> 8));
	for (int i = 0; i < 10000 && got < sizeof out; i++) {
		ssize_t n;
		if (sent < sizeof out) {
			n = synack_send(c, out + sent, sizeof out - sent, p->now);
			if (n > 0)
				sent += (size_t)n;
		}
		pump(p);
		n = synack_recv(sc, in + got, sizeof in - got, p->now);
		if (n > 0)
			got += (size_t)n;
		pump(p);
	}
	assert_int_equal(got, sizeof out);
	assert_memory_equal(in, out, sizeof out);
}

/* synack_output_next lends the queue's slots: with a two-slot queue every
 * window of data waits for slots (tx_pending), so a lent slot is refilled
 * by the very next call, and the data must still arrive byte-exact. */
static void test_zero_copy_output(void **state)
{
	synack_config cfg;
	pair p;
	synack_conn *c, *sc;

	(void)state;
	synack_config_default(&cfg);
	cfg.out_queue = 2;
	pair_setup(&p, &cfg);
	p.zero_copy = true;
	c = connect_accept(&p, &sc);
	transfer(&p, c, sc);
	/* A slot overwritten while lent would hand over a later segment in
	 * place of an earlier one: data out of order, then resent. */
	assert_int_equal(synack_stack_counters(p.cli)->out_dropped, 0);
	assert_int_equal(synack_stack_counters(p.srv)->ooo_segments, 0);
	assert_int_equal(synack_stack_counters(p.cli)->retransmits, 0);
	synack_abort(c, p.now);
	pump(&p);
	assert_int_equal(synack_conn_state(sc), SYNACK_CLOSED);
	synack_close(sc, p.now);
	pair_free(&p);
}

static void test_data_and_close(void **state)
{
	pair p;
	synack_conn *c, *sc;
	uint8_t in[1];

	(void)state;
	pair_setup(&p, NULL);
	c = connect_accept(&p, &sc);
	transfer(&p, c, sc);
	/* Client closes first: FIN-WAIT-1, FIN-WAIT-2, then TIME-WAIT. */
	synack_close(c, p.now);
	pump(&p);
	assert_int_equal(synack_conn_state(sc), SYNACK_CLOSE_WAIT);
	assert_int_equal(synack_recv(sc, in, 1, p.now), 0);
	synack_close(sc, p.now);
	pump(&p);
	assert_int_equal(synack_stack_conn_count(p.srv), 0);
	/* The client's block became a compact TIME-WAIT entry. */
	assert_int_equal(synack_stack_conn_count(p.cli), 0);
	assert_int_equal(synack_stack_timewait_count(p.cli), 1);
	run_until(&p, p.now + 61 * SYNACK_SEC);
	assert_int_equal(synack_stack_timewait_count(p.cli), 0);
	pair_free(&p);
}

static void test_refused(void **state)
{
	pair p;
	synack_conn *c;
	synack_addr closed = {0};

	(void)state;
	pair_setup(&p, NULL);
	closed = p.srv_ep;
	closed.port = 81;
	assert_int_equal(synack_connect(p.cli, NULL, &closed, NULL, p.now, &c), 0);
	pump(&p);
	assert_int_equal(synack_conn_state(c), SYNACK_CLOSED);
	assert_int_equal(synack_conn_take_error(c), -ECONNREFUSED);
	assert_true(synack_conn_poll(c) & SYNACK_POLLHUP);
	synack_close(c, p.now);
	assert_int_equal(synack_stack_conn_count(p.cli), 0);
	pair_free(&p);
}

static void test_syn_timeout(void **state)
{
	pair p;
	synack_conn *c;
	synack_time start;

	(void)state;
	pair_setup(&p, NULL);
	start = p.now;
	assert_int_equal(synack_connect(p.cli, NULL, &p.srv_ep, NULL, p.now, &c), 0);
	p.drop_next_to_srv = 100;
	run_until(&p, start + 126 * SYNACK_SEC);
	assert_int_equal(synack_conn_state(c), SYNACK_SYN_SENT);
	run_until(&p, start + 128 * SYNACK_SEC);
	assert_int_equal(synack_conn_state(c), SYNACK_CLOSED);
	assert_int_equal(synack_conn_take_error(c), -ETIMEDOUT);
	assert_int_equal(synack_stack_counters(p.cli)->syn_retransmits, 6);
	synack_close(c, p.now);
	pair_free(&p);
}

static void test_lost_synack_recovers(void **state)
{
	pair p;
	synack_conn *c, *sc;
	synack_info ci;

	(void)state;
	pair_setup(&p, NULL);
	assert_int_equal(synack_connect(p.cli, NULL, &p.srv_ep, NULL, p.now, &c), 0);
	p.drop_next_to_cli = 1;
	run_until(&p, p.now + 5 * SYNACK_SEC);
	assert_int_equal(synack_conn_state(c), SYNACK_ESTABLISHED);
	assert_int_equal(synack_accept(p.lst, &sc), 0);
	synack_conn_info(c, &ci);
	assert_int_equal(ci.syn_retrans, 1);
	pair_free(&p);
}

static void test_abort_resets_peer(void **state)
{
	pair p;
	synack_conn *c, *sc;

	(void)state;
	pair_setup(&p, NULL);
	c = connect_accept(&p, &sc);
	synack_abort(c, p.now);
	pump(&p);
	assert_int_equal(synack_conn_state(sc), SYNACK_CLOSED);
	assert_int_equal(synack_recv(sc, NULL, 0, p.now), -ECONNRESET);
	synack_close(sc, p.now);
	assert_int_equal(synack_stack_conn_count(p.cli), 0);
	assert_int_equal(synack_stack_conn_count(p.srv), 0);
	pair_free(&p);
}

static void test_simultaneous_close(void **state)
{
	pair p;
	synack_conn *c, *sc;

	(void)state;
	pair_setup(&p, NULL);
	c = connect_accept(&p, &sc);
	synack_close(c, p.now);
	synack_close(sc, p.now);
	pump(&p);
	/* Both sent FIN before seeing the other's: both pass CLOSING and sit
	 * in TIME-WAIT. */
	assert_int_equal(synack_stack_timewait_count(p.cli), 1);
	assert_int_equal(synack_stack_timewait_count(p.srv), 1);
	assert_int_equal(synack_stack_counters(p.cli)->timewait_entered, 1);
	assert_int_equal(synack_stack_counters(p.srv)->timewait_entered, 1);
	pair_free(&p);
}

static void test_timewait_reacks_fin(void **state)
{
	pair p;
	synack_conn *c, *sc;

	(void)state;
	pair_setup(&p, NULL);
	c = connect_accept(&p, &sc);
	synack_close(c, p.now);
	pump(&p);
	assert_int_equal(synack_conn_state(sc), SYNACK_CLOSE_WAIT);
	/* The client's last ACK is lost: the server's FIN comes again and the
	 * client, in TIME-WAIT, must ACK it again. */
	p.drop_next_to_srv = 1;
	synack_close(sc, p.now);
	pump(&p);
	assert_int_equal(synack_stack_conn_count(p.srv), 1); /* LAST-ACK */
	run_until(&p, p.now + 5 * SYNACK_SEC);
	assert_int_equal(synack_stack_conn_count(p.srv), 0);
	assert_int_equal(synack_stack_timewait_count(p.cli), 1);
	assert_int_equal(synack_stack_counters(p.srv)->retransmits, 1);
	pair_free(&p);
}

static void test_simultaneous_open(void **state)
{
	pair p;
	synack_conn *a, *b;
	synack_addr a_ep, b_ep;
	synack_info ai, bi;

	(void)state;
	pair_setup(&p, NULL);
	a_ep = p.cli_ip;
	a_ep.port = 1000;
	b_ep = p.srv_ep;
	b_ep.port = 2000;
	assert_int_equal(synack_connect(p.cli, &a_ep, &b_ep, NULL, p.now, &a), 0);
	assert_int_equal(synack_connect(p.srv, &b_ep, &a_ep, NULL, p.now, &b), 0);
	pump(&p);
	assert_int_equal(synack_conn_state(a), SYNACK_ESTABLISHED);
	assert_int_equal(synack_conn_state(b), SYNACK_ESTABLISHED);
	synack_conn_info(a, &ai);
	synack_conn_info(b, &bi);
	assert_int_equal(ai.isn_local, bi.isn_remote);
	assert_int_equal(bi.isn_local, ai.isn_remote);
	/* Two SYNs crossing, two SYN-ACKs with the same ISNs: four packets. */
	assert_int_equal(p.packets, 4);
	pair_free(&p);
}

static void test_ipv6_handshake(void **state)
{
	pair p;
	synack_conn *c, *sc;
	synack_addr cli6, srv6;
	synack_info ci;
	synack_listener *l6;

	(void)state;
	pair_setup(&p, NULL);
	assert_int_equal(synack_addr_parse("fd00::1", &cli6), 0);
	assert_int_equal(synack_addr_parse("[fd00::2]:443", &srv6), 0);
	assert_int_equal(synack_stack_add_address(p.cli, &cli6), 0);
	assert_int_equal(synack_stack_add_address(p.srv, &srv6), 0);
	assert_int_equal(synack_listen(p.srv, &srv6, 4, NULL, &l6), 0);
	assert_int_equal(synack_connect(p.cli, NULL, &srv6, NULL, p.now, &c), 0);
	pump(&p);
	assert_int_equal(synack_accept(l6, &sc), 0);
	synack_conn_info(c, &ci);
	assert_int_equal(ci.snd_mss, 1440 - 12); /* 1500 - 40 - 20, less TS */
	assert_int_equal(synack_conn_local(c)->family, SYNACK_AF_INET6);
	pair_free(&p);
}

static void test_zero_window_probe(void **state)
{
	pair p;
	synack_conn *c, *sc;
	synack_conn_opts small = {.rcvbuf = 4096};
	static uint8_t buf[65536], sink[65536];
	size_t got = 0;
	ssize_t n;

	(void)state;
	pair_setup(&p, NULL);
	synack_listener_close(p.lst, p.now);
	assert_int_equal(synack_listen(p.srv, &p.srv_ep, 4, &small, &p.lst), 0);
	c = connect_accept(&p, &sc);
	/* The server reads nothing: its 8 KiB buffer fills, the window closes,
	 * and the client must probe rather than give up or spin. */
	n = synack_send(c, buf, sizeof buf, p.now);
	assert_true(n > 0);
	pump(&p);
	assert_true(synack_conn_send_queued(c) > 0);
	run_until(&p, p.now + 10 * SYNACK_SEC);
	assert_int_equal(synack_conn_state(c), SYNACK_ESTABLISHED);
	/* Reading opens the window again and the data flows on. */
	for (int i = 0; i < 1000 && got < (size_t)n; i++) {
		ssize_t r = synack_recv(sc, sink, sizeof sink, p.now);
		if (r > 0)
			got += (size_t)r;
		run_until(&p, p.now + SYNACK_SEC);
	}
	assert_int_equal(got, (size_t)n);
	pair_free(&p);
}

static void test_user_timeout(void **state)
{
	pair p;
	synack_conn *c, *sc;
	synack_conn_opts opts = {.user_timeout_ms = 3000};
	synack_time start;

	(void)state;
	pair_setup(&p, NULL);
	assert_int_equal(synack_connect(p.cli, NULL, &p.srv_ep, &opts, p.now, &c), 0);
	pump(&p);
	assert_int_equal(synack_accept(p.lst, &sc), 0);
	/* The server vanishes: the client's data is never acknowledged. */
	synack_stack_free(p.srv);
	assert_int_equal(synack_stack_new(NULL, &p.srv), 0);
	assert_int_equal(synack_stack_add_address(p.srv, &p.srv_ep), 0);
	p.drop_next_to_srv = 1000;
	start = p.now;
	assert_int_equal(synack_send(c, "x", 1, p.now), 1);
	run_until(&p, start + 2900 * SYNACK_MS);
	assert_int_equal(synack_conn_state(c), SYNACK_ESTABLISHED);
	run_until(&p, start + 3100 * SYNACK_MS);
	assert_int_equal(synack_conn_state(c), SYNACK_CLOSED);
	assert_int_equal(synack_conn_take_error(c), -ETIMEDOUT);
	pair_free(&p);
}

/* An ICMPv4 error from 198.18.0.254 quoting the first 28 bytes of pkt. */
static size_t make_icmp4(uint8_t *out, const uint8_t *pkt, uint8_t type, uint8_t code,
                         uint16_t mtu)
{
	const size_t quote = 28, icmp_len = 8 + quote, total = 20 + icmp_len;

	memset(out, 0, total);
	out[0] = 0x45;
	wire_set16(out + 2, (uint16_t)total);
	out[8] = 64;
	out[9] = WIRE_IPPROTO_ICMP;
	memcpy(out + 12, "\xc6\x12\x00\xfe", 4);
	memcpy(out + 16, pkt + 12, 4); /* back to the quoted packet's source */
	wire_set16(out + 10, wire_csum_fold(wire_csum_add(0, out, 20)));
	out[20] = type;
	out[21] = code;
	wire_set16(out + 26, mtu);
	memcpy(out + 28, pkt, quote);
	wire_set16(out + 22, wire_csum_fold(wire_csum_add(0, out + 20, icmp_len)));
	return total;
}

static void test_icmp_unreachable_in_syn_sent(void **state)
{
	pair p;
	synack_conn *c;
	uint8_t syn[MAX_PKT], icmp[MAX_PKT];
	ssize_t n;
	size_t len;

	(void)state;
	pair_setup(&p, NULL);
	assert_int_equal(synack_connect(p.cli, NULL, &p.srv_ep, NULL, p.now, &c), 0);
	n = synack_output(p.cli, syn, sizeof syn);
	assert_true(n > 0);
	/* A quote whose sequence number is not in flight is ignored (RFC 5927). */
	syn[25] ^= 0x40;
	len = make_icmp4(icmp, syn, WIRE_ICMP_DEST_UNREACH, 1, 0);
	assert_int_equal(synack_input(p.cli, icmp, len, p.now), -ENOENT);
	assert_int_equal(synack_conn_state(c), SYNACK_SYN_SENT);
	syn[25] ^= 0x40;
	len = make_icmp4(icmp, syn, WIRE_ICMP_DEST_UNREACH, 1, 0);
	assert_int_equal(synack_input(p.cli, icmp, len, p.now), 0);
	assert_int_equal(synack_conn_state(c), SYNACK_CLOSED);
	assert_int_equal(synack_conn_take_error(c), -EHOSTUNREACH);
	synack_close(c, p.now);
	/* Port unreachable means refused. */
	assert_int_equal(synack_connect(p.cli, NULL, &p.srv_ep, NULL, p.now, &c), 0);
	n = synack_output(p.cli, syn, sizeof syn);
	len = make_icmp4(icmp, syn, WIRE_ICMP_DEST_UNREACH, 3, 0);
	assert_int_equal(synack_input(p.cli, icmp, len, p.now), 0);
	assert_int_equal(synack_conn_take_error(c), -ECONNREFUSED);
	synack_close(c, p.now);
	pair_free(&p);
}

static void test_icmp_soft_error_and_pmtu(void **state)
{
	pair p;
	synack_conn *c, *sc;
	uint8_t seg[MAX_PKT], icmp[MAX_PKT];
	static uint8_t data[4000];
	synack_info ci;
	ssize_t n;
	size_t len;

	(void)state;
	pair_setup(&p, NULL);
	c = connect_accept(&p, &sc);
	assert_int_equal(synack_send(c, data, sizeof data, p.now), (ssize_t)sizeof data);
	n = synack_output(p.cli, seg, sizeof seg);
	assert_true(n > 1400);
	while (synack_output(p.cli, icmp, sizeof icmp) > 0)
		; /* the rest of the write is on the wire (and lost) */
	/* Fragmentation needed, next-hop MTU 1000: the MSS drops and the
	 * segment goes again, smaller. */
	len = make_icmp4(icmp, seg, WIRE_ICMP_DEST_UNREACH, WIRE_ICMP_FRAG_NEEDED, 1000);
	assert_int_equal(synack_input(p.cli, icmp, len, p.now), 0);
	synack_conn_info(c, &ci);
	assert_int_equal(ci.snd_mss, 1000 - 40 - 12);
	n = synack_output(p.cli, seg, sizeof seg);
	assert_true(n > 0 && n <= 1000);
	while ((n = synack_output(p.cli, icmp, sizeof icmp)) > 0)
		assert_true(n <= 1000);
	/* Host unreachable on an established connection is only remembered
	 * (seg still quotes the oldest segment in flight). */
	len = make_icmp4(icmp, seg, WIRE_ICMP_DEST_UNREACH, 1, 0);
	assert_int_equal(synack_input(p.cli, icmp, len, p.now), 0);
	assert_int_equal(synack_conn_state(c), SYNACK_ESTABLISHED);
	assert_int_equal(synack_conn_take_error(c), 0);
	pair_free(&p);
}

static void test_syncookies_always(void **state)
{
	pair p;
	synack_config cfg;
	synack_conn *c, *sc;
	synack_info ci, si;
	uint8_t buf[16];

	(void)state;
	synack_config_default(&cfg);
	cfg.syncookies = SYNACK_SYNCOOKIES_ALWAYS;
	pair_setup(&p, &cfg);
	assert_int_equal(synack_connect(p.cli, NULL, &p.srv_ep, NULL, p.now, &c), 0);
	pump(&p);
	/* The server kept nothing between its SYN-ACK and the ACK. */
	assert_int_equal(synack_stack_request_count(p.srv), 0);
	assert_int_equal(synack_stack_counters(p.srv)->syncookies_sent, 1);
	assert_int_equal(synack_stack_counters(p.srv)->syncookies_recv, 1);
	assert_int_equal(synack_accept(p.lst, &sc), 0);
	synack_conn_info(c, &ci);
	synack_conn_info(sc, &si);
	/* Timestamps carried window scale and SACK-permitted through. */
	assert_true(si.sack && si.timestamps);
	assert_int_equal(si.snd_wscale, 8);
	assert_int_equal(ci.snd_wscale, 8);
	assert_int_equal(si.isn_local, ci.isn_remote);
	assert_int_equal(synack_send(c, "ping", 4, p.now), 4);
	pump(&p);
	assert_int_equal(synack_recv(sc, buf, sizeof buf, p.now), 4);
	pair_free(&p);
}

static void test_syncookies_without_timestamps(void **state)
{
	pair p;
	synack_config cfg;
	synack_conn *c, *sc;
	synack_info si;

	(void)state;
	synack_config_default(&cfg);
	cfg.syncookies = SYNACK_SYNCOOKIES_ALWAYS;
	pair_setup(&p, &cfg);
	/* A client without timestamps: the cookie cannot hold wscale/SACK. */
	synack_stack_free(p.cli);
	cfg.timestamps = false;
	assert_int_equal(synack_stack_new(&cfg, &p.cli), 0);
	assert_int_equal(synack_stack_add_address(p.cli, &p.cli_ip), 0);
	assert_int_equal(synack_connect(p.cli, NULL, &p.srv_ep, NULL, p.now, &c), 0);
	pump(&p);
	assert_int_equal(synack_accept(p.lst, &sc), 0);
	synack_conn_info(sc, &si);
	assert_false(si.sack || si.timestamps);
	assert_int_equal(si.snd_wscale, -1);
	assert_int_equal(si.snd_mss, 1460); /* from the cookie's MSS table */
	pair_free(&p);
}

/* A SYN from a spoofed source, straight into the server. */
static void spoofed_syn(pair *p, uint32_t n)
{
	uint8_t buf[MAX_PKT], opt[WIRE_TCP_MAX_OPTS];
	wire_seg seg;
	size_t len, o = 0;

	memset(&seg, 0, sizeof seg);
	seg.family = SYNACK_AF_INET;
	seg.ttl = 64;
	seg.src[0] = 198;
	seg.src[1] = 19;
	seg.src[2] = (uint8_t)(n >> 8);
	seg.src[3] = (uint8_t)n;
	memcpy(seg.dst, p->srv_ep.ip, 4);
	seg.sport = (uint16_t)(1024 + n % 60000);
	seg.dport = p->srv_ep.port;
	seg.seq = n * 2654435761u;
	seg.flags = WIRE_SYN;
	seg.win = 65535;
	o += wire_put_mss(opt, 1460);
	seg.opt = opt;
	seg.opt_len = (uint8_t)o;
	len = wire_build(buf, sizeof buf, &seg);
	synack_input(p->srv, buf, len, p->now);
	while (synack_output(p->srv, buf, sizeof buf) > 0)
		; /* SYN-ACKs to nowhere */
}

static void test_syn_flood_cookies_keep_service(void **state)
{
	pair p;
	synack_conn *c, *sc;

	(void)state;
	pair_setup(&p, NULL);
	for (uint32_t i = 0; i < 20000; i++)
		spoofed_syn(&p, i);
	/* The SYN queue filled at the backlog (16); the rest got cookies. */
	assert_int_equal(synack_stack_request_count(p.srv), 16);
	assert_true(synack_stack_counters(p.srv)->syncookies_sent >= 20000 - 16);
	assert_int_equal(synack_connect(p.cli, NULL, &p.srv_ep, NULL, p.now, &c), 0);
	pump(&p);
	assert_int_equal(synack_conn_state(c), SYNACK_ESTABLISHED);
	assert_int_equal(synack_accept(p.lst, &sc), 0);
	assert_int_equal(synack_stack_counters(p.srv)->syncookies_recv, 1);
	pair_free(&p);
}

static void test_syn_flood_without_cookies_starves(void **state)
{
	pair p;
	synack_config cfg;
	synack_conn *c;

	(void)state;
	synack_config_default(&cfg);
	cfg.syncookies = SYNACK_SYNCOOKIES_NEVER;
	pair_setup(&p, &cfg);
	for (uint32_t i = 0; i < 100; i++)
		spoofed_syn(&p, i);
	assert_int_equal(synack_connect(p.cli, NULL, &p.srv_ep, NULL, p.now, &c), 0);
	pump(&p);
	assert_int_equal(synack_conn_state(c), SYNACK_SYN_SENT); /* its SYN was dropped */
	assert_true(synack_stack_counters(p.srv)->drop_synq_full > 0);
	pair_free(&p);
}

static void test_forged_and_stale_cookies(void **state)
{
	pair p;
	synack_config cfg;
	synack_conn *c;
	uint8_t syn[MAX_PKT], synack[MAX_PKT], ack[MAX_PKT];
	ssize_t n_syn, n_synack, n_ack;

	(void)state;
	synack_config_default(&cfg);
	cfg.syncookies = SYNACK_SYNCOOKIES_ALWAYS;
	pair_setup(&p, &cfg);
	assert_int_equal(synack_connect(p.cli, NULL, &p.srv_ep, NULL, p.now, &c), 0);
	n_syn = synack_output(p.cli, syn, sizeof syn);
	synack_input(p.srv, syn, (size_t)n_syn, p.now);
	n_synack = synack_output(p.srv, synack, sizeof synack);
	assert_true(n_synack > 0);
	synack_input(p.cli, synack, (size_t)n_synack, p.now);
	n_ack = synack_output(p.cli, ack, sizeof ack);
	assert_true(n_ack > 0);
	/* Forged: one bit of the cookie changed -> RST, no connection. */
	ack[28 + 3] ^= 0x08; /* TCP ack field, 20-byte IP header */
	wire_set16(ack + 36, 0);
	wire_set16(ack + 36, wire_tcp_csum(4, ack + 12, ack + 16, ack + 20, (size_t)n_ack - 20));
	synack_input(p.srv, ack, (size_t)n_ack, p.now);
	assert_int_equal(synack_stack_conn_count(p.srv), 0);
	assert_int_equal(synack_stack_counters(p.srv)->syncookies_failed, 1);
	assert_int_equal(synack_stack_counters(p.srv)->rst_sent, 1);
	/* Stale: the real ACK three minutes later. */
	ack[28 + 3] ^= 0x08;
	wire_set16(ack + 36, 0);
	wire_set16(ack + 36, wire_tcp_csum(4, ack + 12, ack + 16, ack + 20, (size_t)n_ack - 20));
	synack_input(p.srv, ack, (size_t)n_ack, p.now + 180 * SYNACK_SEC);
	assert_int_equal(synack_stack_conn_count(p.srv), 0);
	/* And in time, it works. */
	synack_input(p.srv, ack, (size_t)n_ack, p.now + SYNACK_SEC);
	assert_int_equal(synack_stack_conn_count(p.srv), 1);
	pair_free(&p);
}

static void test_fastopen(void **state)
{
	pair p;
	synack_config cfg;
	synack_conn_opts lopts = {.fastopen_qlen = 8};
	synack_conn *c, *sc;
	uint8_t buf[64], pkt[MAX_PKT];
	wire_seg seg;
	ssize_t n;

	(void)state;
	synack_config_default(&cfg);
	cfg.fastopen = SYNACK_FASTOPEN_CLIENT | SYNACK_FASTOPEN_SERVER;
	pair_setup(&p, &cfg);
	synack_listener_close(p.lst, p.now);
	assert_int_equal(synack_listen(p.srv, &p.srv_ep, 4, &lopts, &p.lst), 0);

	/* First contact: the SYN asks for a cookie, the data waits. */
	assert_int_equal(synack_connect_data(p.cli, NULL, &p.srv_ep, NULL, "hello", 5, p.now, &c), 5);
	n = synack_output(p.cli, pkt, sizeof pkt);
	assert_int_equal(wire_parse(pkt, (size_t)n, 0, &seg), WIRE_OK);
	assert_true(seg.opts.present & WIRE_HAS_FO);
	assert_int_equal(seg.opts.fo_len, 0);
	assert_int_equal(seg.payload_len, 0);
	synack_input(p.srv, pkt, (size_t)n, p.now);
	pump(&p);
	assert_int_equal(synack_accept(p.lst, &sc), 0);
	assert_int_equal(synack_recv(sc, buf, sizeof buf, p.now), 5);
	assert_int_equal(synack_stack_counters(p.srv)->tfo_cookie_requests, 1);
	synack_abort(c, p.now);
	pump(&p);
	synack_close(sc, p.now);

	/* Second: cookie and data in the SYN; the server accepts and reads
	 * before the third packet, and its SYN-ACK acknowledges the data. */
	assert_int_equal(synack_connect_data(p.cli, NULL, &p.srv_ep, NULL, "again", 5, p.now, &c), 5);
	n = synack_output(p.cli, pkt, sizeof pkt);
	assert_int_equal(wire_parse(pkt, (size_t)n, 0, &seg), WIRE_OK);
	assert_int_equal(seg.opts.fo_len, 8);
	assert_int_equal(seg.payload_len, 5);
	synack_input(p.srv, pkt, (size_t)n, p.now);
	assert_int_equal(synack_accept(p.lst, &sc), 0);
	assert_int_equal(synack_conn_state(sc), SYNACK_SYN_RECEIVED);
	assert_int_equal(synack_recv(sc, buf, sizeof buf, p.now), 5);
	assert_memory_equal(buf, "again", 5);
	pump(&p);
	assert_int_equal(synack_conn_state(c), SYNACK_ESTABLISHED);
	assert_int_equal(synack_conn_state(sc), SYNACK_ESTABLISHED);
	assert_int_equal(synack_conn_send_queued(c), 0);
	assert_int_equal(synack_stack_counters(p.cli)->tfo_syn_data_acked, 1);
	assert_int_equal(synack_stack_counters(p.srv)->tfo_accepted, 1);

	/* The experimental option (kind 254, magic 0xF989) is answered in kind. */
	synack_conn_opts exp = {.fastopen_exp = true};
	assert_int_equal(synack_connect_data(p.cli, NULL, &p.srv_ep, &exp, "x", 1, p.now, &c), 1);
	n = synack_output(p.cli, pkt, sizeof pkt);
	assert_int_equal(wire_parse(pkt, (size_t)n, 0, &seg), WIRE_OK);
	assert_true(seg.opts.present & WIRE_HAS_FOEXP);
	assert_int_equal(seg.opts.fo_len, 8); /* the same server cookie */
	assert_int_equal(seg.payload_len, 1);
	synack_input(p.srv, pkt, (size_t)n, p.now);
	assert_int_equal(synack_stack_counters(p.srv)->tfo_accepted, 2);
	pair_free(&p);
}

static void test_fastopen_bad_cookie_falls_back(void **state)
{
	pair p;
	synack_config cfg;
	synack_conn_opts lopts = {.fastopen_qlen = 8};
	synack_conn *c, *sc;
	uint8_t buf[64], key[16] = {1}, key2[16] = {0};

	(void)state;
	synack_config_default(&cfg);
	cfg.fastopen = SYNACK_FASTOPEN_CLIENT | SYNACK_FASTOPEN_SERVER;
	pair_setup(&p, &cfg);
	synack_listener_close(p.lst, p.now);
	assert_int_equal(synack_listen(p.srv, &p.srv_ep, 4, &lopts, &p.lst), 0);
	assert_int_equal(synack_connect_data(p.cli, NULL, &p.srv_ep, NULL, "x", 1, p.now, &c), 1);
	pump(&p);
	synack_abort(c, p.now);
	pump(&p);
	assert_int_equal(synack_accept(p.lst, &sc), 0);
	synack_close(sc, p.now);
	/* The server's key changes: the cached cookie is now wrong. The data
	 * is not taken with the SYN; the client sends it again after. */
	synack_stack_set_fastopen_keys(p.srv, key, NULL);
	assert_int_equal(synack_connect_data(p.cli, NULL, &p.srv_ep, NULL, "late", 4, p.now, &c), 4);
	pump(&p);
	assert_int_equal(synack_stack_counters(p.srv)->tfo_failed, 1);
	assert_int_equal(synack_accept(p.lst, &sc), 0);
	assert_int_equal(synack_recv(sc, buf, sizeof buf, p.now), 4);
	assert_memory_equal(buf, "late", 4);
	synack_abort(c, p.now);
	pump(&p);
	synack_close(sc, p.now);
	/* A rotation: the old key as backup keeps the cached cookie good. */
	key2[0] = 2;
	synack_stack_set_fastopen_keys(p.srv, key2, key);
	assert_int_equal(synack_connect_data(p.cli, NULL, &p.srv_ep, NULL, "rot", 3, p.now, &c), 3);
	pump(&p);
	assert_int_equal(synack_stack_counters(p.srv)->tfo_accepted, 1);
	pair_free(&p);
}

static void test_fastopen_syn_data_lost_falls_back(void **state)
{
	pair p;
	synack_config cfg;
	synack_conn_opts lopts = {.fastopen_qlen = 8};
	synack_conn *c, *sc;
	uint8_t buf[64], pkt[MAX_PKT];
	wire_seg seg;
	ssize_t n;

	(void)state;
	synack_config_default(&cfg);
	cfg.fastopen = SYNACK_FASTOPEN_CLIENT | SYNACK_FASTOPEN_SERVER;
	pair_setup(&p, &cfg);
	synack_listener_close(p.lst, p.now);
	assert_int_equal(synack_listen(p.srv, &p.srv_ep, 4, &lopts, &p.lst), 0);
	assert_int_equal(synack_connect_data(p.cli, NULL, &p.srv_ep, NULL, "a", 1, p.now, &c), 1);
	pump(&p); /* the cookie is cached */
	synack_abort(c, p.now);
	pump(&p);
	assert_int_equal(synack_accept(p.lst, &sc), 0);
	synack_close(sc, p.now);

	/* RFC 7413 4.1.3: the SYN with data is lost; the retransmitted SYN goes
	 * plain (no data, no cookie), and the data follows the handshake. */
	assert_int_equal(synack_connect_data(p.cli, NULL, &p.srv_ep, NULL, "lost", 4, p.now, &c), 4);
	n = synack_output(p.cli, pkt, sizeof pkt);
	assert_int_equal(wire_parse(pkt, (size_t)n, 0, &seg), WIRE_OK);
	assert_int_equal(seg.payload_len, 4); /* dropped on the floor */
	p.now = synack_deadline(p.cli);
	synack_timeout(p.cli, p.now);
	n = synack_output(p.cli, pkt, sizeof pkt);
	assert_int_equal(wire_parse(pkt, (size_t)n, 0, &seg), WIRE_OK);
	assert_int_equal(seg.flags, WIRE_SYN);
	assert_int_equal(seg.payload_len, 0);
	assert_false(seg.opts.present & (WIRE_HAS_FO | WIRE_HAS_FOEXP));
	synack_input(p.srv, pkt, (size_t)n, p.now);
	pump(&p);
	assert_int_equal(synack_conn_state(c), SYNACK_ESTABLISHED);
	assert_int_equal(synack_accept(p.lst, &sc), 0);
	assert_int_equal(synack_recv(sc, buf, sizeof buf, p.now), 4);
	assert_memory_equal(buf, "lost", 4);
	pair_free(&p);
}

static void test_sack_recovery_resends_every_hole(void **state)
{
	pair p;
	synack_conn *c, *sc;
	static uint8_t data[10 * 1448], sink[sizeof data];
	uint8_t pkt[MAX_PKT];
	uint32_t holes[2] = {0, 0}, resent = 0;
	ssize_t n;
	wire_seg seg;
	synack_info ci;

	(void)state;
	pair_setup(&p, NULL);
	c = connect_accept(&p, &sc);
	synack_conn_info(c, &ci);
	assert_int_equal(synack_send(c, data, sizeof data, p.now), (ssize_t)sizeof data);
	/* Ten segments; the second and the fifth are lost. */
	for (int i = 0; (n = synack_output(p.cli, pkt, sizeof pkt)) > 0; i++) {
		assert_int_equal(wire_parse(pkt, (size_t)n, 0, &seg), WIRE_OK);
		if (i == 1 || i == 4) {
			holes[i == 4] = seg.seq;
			continue;
		}
		synack_input(p.srv, pkt, (size_t)n, p.now);
	}
	/* The server's duplicate ACKs carry SACK blocks; with no time passing
	 * (no RTO), the client must resend both holes (RFC 6675), not one per
	 * round trip as NewReno would. */
	while ((n = synack_output(p.srv, pkt, sizeof pkt)) > 0)
		synack_input(p.cli, pkt, (size_t)n, p.now);
	while ((n = synack_output(p.cli, pkt, sizeof pkt)) > 0) {
		assert_int_equal(wire_parse(pkt, (size_t)n, 0, &seg), WIRE_OK);
		if (seg.payload_len && (seg.seq == holes[0] || seg.seq == holes[1]))
			resent |= seg.seq == holes[0] ? 1 : 2;
		synack_input(p.srv, pkt, (size_t)n, p.now);
	}
	assert_int_equal(resent, 3);
	pump(&p);
	assert_int_equal(synack_recv(sc, sink, sizeof sink, p.now), (ssize_t)sizeof sink);
	assert_memory_equal(sink, data, sizeof data);
	assert_int_equal(synack_stack_counters(p.cli)->fast_retransmits, 1);
	pair_free(&p);
}

/* Marks an IPv4 packet Congestion Experienced, as a router would. */
static void mark_ce(uint8_t *pkt)
{
	pkt[1] |= 0x03;
	wire_set16(pkt + 10, 0);
	wire_set16(pkt + 10, wire_csum_fold(wire_csum_add(0, pkt, 20)));
}

static void test_ecn_echo_and_cwr(void **state)
{
	pair p;
	synack_config cfg;
	synack_conn *c, *sc;
	static uint8_t data[4 * 1448], sink[sizeof data];
	uint8_t pkt[MAX_PKT];
	wire_seg seg;
	synack_info ci, si;
	ssize_t n;
	bool marked = false, saw_ece = false, saw_cwr = false;

	(void)state;
	synack_config_default(&cfg);
	cfg.ecn = SYNACK_ECN_ON;
	pair_setup(&p, &cfg);
	c = connect_accept(&p, &sc);
	synack_conn_info(c, &ci);
	synack_conn_info(sc, &si);
	assert_true(ci.ecn && si.ecn);
	/* New data goes ECT(0); a router marks the first segment CE. */
	assert_int_equal(synack_send(c, data, sizeof data, p.now), (ssize_t)sizeof data);
	while ((n = synack_output(p.cli, pkt, sizeof pkt)) > 0) {
		assert_int_equal(pkt[1] & 0x03, 0x02);
		if (!marked) {
			mark_ce(pkt);
			marked = true;
		}
		synack_input(p.srv, pkt, (size_t)n, p.now);
	}
	/* The receiver echoes ECE until it sees CWR. */
	while ((n = synack_output(p.srv, pkt, sizeof pkt)) > 0) {
		assert_int_equal(wire_parse(pkt, (size_t)n, 0, &seg), WIRE_OK);
		saw_ece |= (seg.flags & WIRE_ECE) != 0;
		synack_input(p.cli, pkt, (size_t)n, p.now);
	}
	assert_true(saw_ece);
	assert_int_equal(synack_stack_counters(p.cli)->ecn_reductions, 1);
	/* The sender halved its window and says CWR on its next new data. */
	assert_int_equal(synack_send(c, "more", 4, p.now), 4);
	while ((n = synack_output(p.cli, pkt, sizeof pkt)) > 0) {
		assert_int_equal(wire_parse(pkt, (size_t)n, 0, &seg), WIRE_OK);
		saw_cwr |= (seg.flags & WIRE_CWR) != 0;
		synack_input(p.srv, pkt, (size_t)n, p.now);
	}
	assert_true(saw_cwr);
	while ((n = synack_output(p.srv, pkt, sizeof pkt)) > 0) {
		assert_int_equal(wire_parse(pkt, (size_t)n, 0, &seg), WIRE_OK);
		assert_false(seg.flags & WIRE_ECE);
		synack_input(p.cli, pkt, (size_t)n, p.now);
	}
	pump(&p);
	assert_int_equal(synack_recv(sc, sink, sizeof sink, p.now), (ssize_t)sizeof sink);
	pair_free(&p);
}

static void test_ecn_through_a_syn_cookie(void **state)
{
	pair p;
	synack_config cfg;
	synack_conn *c, *sc;
	synack_info si;

	(void)state;
	synack_config_default(&cfg);
	cfg.ecn = SYNACK_ECN_ON;
	cfg.syncookies = SYNACK_SYNCOOKIES_ALWAYS;
	pair_setup(&p, &cfg);
	assert_int_equal(synack_connect(p.cli, NULL, &p.srv_ep, NULL, p.now, &c), 0);
	pump(&p);
	assert_int_equal(synack_accept(p.lst, &sc), 0);
	synack_conn_info(sc, &si);
	assert_true(si.ecn && si.sack && si.timestamps);
	assert_int_equal(synack_stack_counters(p.srv)->syncookies_recv, 1);
	pair_free(&p);
}

static void test_defer_accept(void **state)
{
	pair p;
	synack_conn_opts lopts = {.defer_accept_ms = 5000};
	synack_conn *c, *sc;
	uint8_t buf[8];

	(void)state;
	pair_setup(&p, NULL);
	synack_listener_close(p.lst, p.now);
	assert_int_equal(synack_listen(p.srv, &p.srv_ep, 4, &lopts, &p.lst), 0);
	assert_int_equal(synack_connect(p.cli, NULL, &p.srv_ep, NULL, p.now, &c), 0);
	pump(&p);
	/* The handshake is over for the client, not for accept(). */
	assert_int_equal(synack_conn_state(c), SYNACK_ESTABLISHED);
	assert_int_equal(synack_accept(p.lst, &sc), -EAGAIN);
	assert_int_equal(synack_stack_counters(p.srv)->defer_accept_drops, 1);
	assert_int_equal(synack_send(c, "GET", 3, p.now), 3);
	pump(&p);
	assert_int_equal(synack_accept(p.lst, &sc), 0);
	assert_int_equal(synack_recv(sc, buf, sizeof buf, p.now), 3);
	/* A client that never speaks is dropped after the defer time. */
	assert_int_equal(synack_connect(p.cli, NULL, &p.srv_ep, NULL, p.now, &c), 0);
	pump(&p);
	assert_int_equal(synack_stack_request_count(p.srv), 1);
	run_until(&p, p.now + 8 * SYNACK_SEC);
	assert_int_equal(synack_stack_request_count(p.srv), 0);
	assert_int_equal(synack_accept(p.lst, &sc), -EAGAIN);
	pair_free(&p);
}

static void fixed_random(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	memset(buf, 0x5a, len);
}

static void test_per_source_limit(void **state)
{
	pair p;
	synack_config cfg;

	(void)state;
	synack_config_default(&cfg);
	cfg.max_syn_per_source = 2;
	cfg.syncookies = SYNACK_SYNCOOKIES_NEVER;
	/* Fixed secrets: sources share counters by hash, and with these keys
	 * 198.19.0.1 and 198.19.0.2 do not. */
	cfg.random = fixed_random;
	pair_setup(&p, &cfg);
	/* spoofed_syn(n) sends from 198.19.(n>>8).(n&255): 256 apart is the
	 * same source with another port. */
	spoofed_syn(&p, 1);
	spoofed_syn(&p, 1 + 65536);
	spoofed_syn(&p, 1 + 2 * 65536);
	assert_int_equal(synack_stack_request_count(p.srv), 2);
	assert_int_equal(synack_stack_counters(p.srv)->drop_syn_per_source, 1);
	spoofed_syn(&p, 2); /* another source still gets in */
	assert_int_equal(synack_stack_request_count(p.srv), 3);
	pair_free(&p);
}

/* A segment from src (IPv4, four bytes) to the server's listener. */
static void segment_from(pair *p, const uint8_t src[4], uint16_t sport, uint8_t flags)
{
	uint8_t buf[MAX_PKT];
	wire_seg seg;
	size_t len;

	memset(&seg, 0, sizeof seg);
	seg.family = SYNACK_AF_INET;
	seg.ttl = 64;
	memcpy(seg.src, src, 4);
	memcpy(seg.dst, p->srv_ep.ip, 4);
	seg.sport = sport;
	seg.dport = p->srv_ep.port;
	seg.seq = 1000;
	seg.ack = (flags & WIRE_ACK) ? 2000 : 0;
	seg.flags = flags;
	seg.win = 65535;
	len = wire_build(buf, sizeof buf, &seg);
	assert_true(len > 0);
	synack_input(p->srv, buf, len, p->now);
}

/* RFC 1122 4.2.3.10: nothing from a multicast or broadcast source, or from
 * port 0, opens a request or draws an answer; connect refuses such
 * destinations with ENETUNREACH, as Linux does. */
static void test_non_unicast_addresses(void **state)
{
	static const uint8_t mcast[4] = {224, 0, 0, 1}, bcast[4] = {255, 255, 255, 255},
			     mcast_high[4] = {239, 255, 0, 9}, ok[4] = {198, 18, 0, 9};
	uint8_t buf[MAX_PKT];
	synack_listener *l;
	synack_stack *bare;
	synack_addr dst;
	synack_conn *c;
	pair p;

	(void)state;
	pair_setup(&p, NULL);
	segment_from(&p, mcast, 4000, WIRE_SYN);
	segment_from(&p, bcast, 4000, WIRE_SYN);
	segment_from(&p, mcast_high, 4000, WIRE_SYN);
	segment_from(&p, ok, 0, WIRE_SYN);
	segment_from(&p, mcast, 4000, WIRE_ACK); /* would draw an RST from unicast */
	assert_int_equal(synack_stack_counters(p.srv)->drop_bad_address, 5);
	assert_int_equal(synack_stack_request_count(p.srv), 0);
	assert_true(synack_output(p.srv, buf, sizeof buf) <= 0);
	/* The same from a unicast source is answered: a SYN-ACK, an RST. */
	segment_from(&p, ok, 4000, WIRE_SYN);
	assert_int_equal(synack_stack_request_count(p.srv), 1);
	segment_from(&p, ok, 4001, WIRE_ACK);
	assert_int_equal(synack_stack_counters(p.srv)->drop_bad_address, 5);
	assert_true(synack_output(p.srv, buf, sizeof buf) > 0);
	assert_true(synack_output(p.srv, buf, sizeof buf) > 0);

	assert_int_equal(synack_addr_parse("224.0.0.1:80", &dst), 0);
	assert_int_equal(synack_connect(p.cli, NULL, &dst, NULL, p.now, &c), -ENETUNREACH);
	assert_int_equal(synack_addr_parse("255.255.255.255:80", &dst), 0);
	assert_int_equal(synack_connect(p.cli, NULL, &dst, NULL, p.now, &c), -ENETUNREACH);
	assert_int_equal(synack_stack_conn_count(p.cli), 0);
	assert_true(synack_output(p.cli, buf, sizeof buf) <= 0);

	/* Nor are they a host's own address, nor one to listen on. */
	assert_int_equal(synack_addr_parse("224.0.0.1:80", &dst), 0);
	assert_true(synack_addr_is_group(&dst));
	assert_int_equal(synack_stack_add_address(p.srv, &dst), -EINVAL);
	assert_int_equal(synack_listen(p.srv, &dst, 4, NULL, &l), -EADDRNOTAVAIL);
	assert_int_equal(synack_addr_parse("[ff02::1]:80", &dst), 0);
	assert_int_equal(synack_stack_add_address(p.srv, &dst), -EINVAL);
	assert_int_equal(synack_listen(p.srv, &dst, 4, NULL, &l), -EADDRNOTAVAIL);
	assert_int_equal(synack_addr_parse("255.255.255.255:80", &dst), 0);
	assert_int_equal(synack_stack_add_address(p.srv, &dst), -EINVAL);
	assert_int_equal(synack_listen(p.srv, &dst, 4, NULL, &l), -EADDRNOTAVAIL);
	/* A stack without addresses takes every destination, yet not those. */
	assert_int_equal(synack_stack_new(NULL, &bare), 0);
	assert_int_equal(synack_listen(bare, &dst, 4, NULL, &l), -EADDRNOTAVAIL);
	assert_int_equal(synack_addr_parse("239.1.2.3:80", &dst), 0);
	assert_int_equal(synack_listen(bare, &dst, 4, NULL, &l), -EADDRNOTAVAIL);
	assert_int_equal(synack_addr_parse("198.18.0.77:80", &dst), 0);
	assert_int_equal(synack_listen(bare, &dst, 4, NULL, &l), 0);
	synack_stack_free(bare);
	assert_int_equal(synack_addr_parse("0.0.0.0", &dst), 0);
	assert_false(synack_addr_is_group(&dst));
	assert_false(synack_addr_is_group(&p.srv_ep));
	assert_int_equal(synack_stack_add_address(p.srv, &dst), -EINVAL);
	assert_int_equal(synack_addr_parse("[::]:0", &dst), 0);
	assert_int_equal(synack_stack_add_address(p.srv, &dst), -EINVAL);
	pair_free(&p);
}

/* A stack with addresses takes only segments to them, and connects only
 * from them (Linux: EADDRNOTAVAIL from bind without IP_FREEBIND). */
static void test_foreign_addresses(void **state)
{
	static const uint8_t ok[4] = {198, 18, 0, 9};
	uint8_t buf[MAX_PKT];
	synack_addr foreign, own, any;
	synack_listener *l;
	synack_conn *c;
	pair p;

	(void)state;
	pair_setup(&p, NULL);
	/* The listener is on 198.18.0.2 only; the stack has no 198.18.0.3. */
	assert_int_equal(synack_addr_parse("198.18.0.3:80", &p.srv_ep), 0);
	segment_from(&p, ok, 4000, WIRE_SYN);
	segment_from(&p, ok, 4000, WIRE_ACK);
	assert_int_equal(synack_stack_counters(p.srv)->drop_not_ours, 2);
	assert_int_equal(synack_stack_request_count(p.srv), 0);
	assert_true(synack_output(p.srv, buf, sizeof buf) <= 0);

	assert_int_equal(synack_addr_parse("198.18.0.7:5000", &foreign), 0);
	assert_int_equal(synack_connect(p.cli, &foreign, &p.srv_ep, NULL, p.now, &c), -EADDRNOTAVAIL);
	assert_int_equal(synack_stack_conn_count(p.cli), 0);
	assert_true(synack_output(p.cli, buf, sizeof buf) <= 0);

	/* Listening likewise: on an address the stack has, or on all of them. */
	assert_int_equal(synack_listen(p.srv, &p.srv_ep, 4, NULL, &l), -EADDRNOTAVAIL);
	assert_int_equal(synack_listen(p.srv, &foreign, 4, NULL, &l), -EADDRNOTAVAIL);
	assert_int_equal(synack_addr_parse("198.18.0.2:81", &own), 0);
	assert_int_equal(synack_listen(p.srv, &own, 4, NULL, &l), 0);
	assert_int_equal(synack_addr_parse("0.0.0.0:5000", &any), 0);
	assert_int_equal(synack_listen(p.srv, &any, 4, NULL, &l), 0);
	/* Each address once; another port of it needs nothing more. */
	assert_int_equal(synack_stack_add_address(p.srv, &own), -EEXIST);
	assert_int_equal(synack_stack_add_address(p.srv, &foreign), 0);
	assert_int_equal(synack_listen(p.srv, &foreign, 4, NULL, &l), 0);
	pair_free(&p);
}

/* A pair whose stacks have three ephemeral ports, 40000..40002. */
static void pair_setup_three_ports(pair *p)
{
	synack_config cfg;

	synack_config_default(&cfg);
	cfg.ephemeral_low = 40000;
	cfg.ephemeral_high = 40002;
	pair_setup(p, &cfg);
}

/* Listens on text ("ADDR:PORT") with backlog 4; returns the result. */
static int listen_at(synack_stack *s, const char *text, synack_listener **l)
{
	synack_addr a;

	assert_int_equal(synack_addr_parse(text, &a), 0);
	return synack_listen(s, &a, 4, NULL, l);
}

/* Port 0: an ephemeral port no listener holds, like listen() on an unbound
 * socket, and a SYN to it is answered; with every port held, EAGAIN. */
static void test_listen_port_zero(void **state)
{
	synack_listener *a, *b, *c;
	synack_conn *conn;
	pair p;

	(void)state;
	pair_setup_three_ports(&p);
	assert_int_equal(listen_at(p.srv, "0.0.0.0:40001", &a), 0);
	assert_int_equal(listen_at(p.srv, "0.0.0.0:0", &b), 0);
	assert_int_equal(listen_at(p.srv, "0.0.0.0:0", &c), 0);
	assert_true(synack_listener_addr(b)->port == 40000 || synack_listener_addr(b)->port == 40002);
	assert_true(synack_listener_addr(c)->port == 40000 || synack_listener_addr(c)->port == 40002);
	assert_int_not_equal(synack_listener_addr(b)->port, synack_listener_addr(c)->port);
	assert_int_equal(listen_at(p.srv, "0.0.0.0:0", &a), -EAGAIN);

	p.srv_ep.port = synack_listener_addr(c)->port;
	assert_int_equal(synack_connect(p.cli, NULL, &p.srv_ep, NULL, p.now, &conn), 0);
	pump(&p);
	assert_int_equal(synack_conn_state(conn), SYNACK_ESTABLISHED);
	assert_int_equal(synack_listener_queued(c), 1);
	pair_free(&p);
}

/* connect's ephemeral port is never one a listener holds, on any address
 * (Linux skips ports with a bind bucket); none left: EADDRNOTAVAIL. */
static void test_connect_skips_listener_ports(void **state)
{
	synack_listener *l;
	synack_conn *c;
	pair p;

	(void)state;
	pair_setup_three_ports(&p);
	assert_int_equal(listen_at(p.cli, "0.0.0.0:40000", &l), 0);
	assert_int_equal(listen_at(p.cli, "198.18.0.1:40002", &l), 0);
	for (int i = 0; i < 20; i++) { /* the start is random: try it often */
		assert_int_equal(synack_connect(p.cli, NULL, &p.srv_ep, NULL, p.now, &c), 0);
		assert_int_equal(synack_conn_local(c)->port, 40001);
		synack_abort(c, p.now); /* frees the port for the next round */
	}
	assert_int_equal(listen_at(p.cli, "198.18.0.1:40001", &l), 0);
	assert_int_equal(synack_connect(p.cli, NULL, &p.srv_ep, NULL, p.now, &c), -EADDRNOTAVAIL);
	pair_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_options),
		cmocka_unit_test(test_data_and_close),
		cmocka_unit_test(test_zero_copy_output),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_syn_timeout),
		cmocka_unit_test(test_lost_synack_recovers),
		cmocka_unit_test(test_abort_resets_peer),
		cmocka_unit_test(test_simultaneous_close),
		cmocka_unit_test(test_timewait_reacks_fin),
		cmocka_unit_test(test_simultaneous_open),
		cmocka_unit_test(test_ipv6_handshake),
		cmocka_unit_test(test_zero_window_probe),
		cmocka_unit_test(test_user_timeout),
		cmocka_unit_test(test_icmp_unreachable_in_syn_sent),
		cmocka_unit_test(test_icmp_soft_error_and_pmtu),
		cmocka_unit_test(test_syncookies_always),
		cmocka_unit_test(test_syncookies_without_timestamps),
		cmocka_unit_test(test_syn_flood_cookies_keep_service),
		cmocka_unit_test(test_syn_flood_without_cookies_starves),
		cmocka_unit_test(test_forged_and_stale_cookies),
		cmocka_unit_test(test_fastopen),
		cmocka_unit_test(test_fastopen_bad_cookie_falls_back),
		cmocka_unit_test(test_fastopen_syn_data_lost_falls_back),
		cmocka_unit_test(test_sack_recovery_resends_every_hole),
		cmocka_unit_test(test_ecn_echo_and_cwr),
		cmocka_unit_test(test_ecn_through_a_syn_cookie),
		cmocka_unit_test(test_defer_accept),
		cmocka_unit_test(test_per_source_limit),
		cmocka_unit_test(test_non_unicast_addresses),
		cmocka_unit_test(test_foreign_addresses),
		cmocka_unit_test(test_listen_port_zero),
		cmocka_unit_test(test_connect_skips_listener_ports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
