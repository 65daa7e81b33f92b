/* test_cc.c — the retransmit queue, its SACK scoreboard and the window
 * arithmetic of cc.c, driven directly: one connection block in a real stack,
 * ACKs handed to cc_on_ack as check_ack would, counts checked against the
 * numbers Linux's tcp_ack / tcp_cwnd_reduction give for the same sequence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine/internal.h"

#define MSS 1000
#define ISS 4294960000u /* crosses the 2^32 wrap within the test */
#define RTT_NS (100 * NS_PER_MS)

typedef struct fixture {
	synack_stack *s;
	synack_conn c;
} fixture;

static void fx_setup(fixture *f, bool sack, uint8_t recovery)
{
	synack_config cfg;
	static uint8_t data[64 * MSS];

	synack_config_default(&cfg);
	cfg.recovery = recovery;
	cfg.tail_loss_probe = false;
	assert_int_equal(synack_stack_new(&cfg, &f->s), 0);
	memset(&f->c, 0, sizeof f->c);
	synack_conn *c = &f->c;
	c->s = f->s;
	c->timer.index = TIMER_IDLE;
	c->node.t.family = SYNACK_AF_INET;
	c->state = SYNACK_ESTABLISHED;
	c->neg = sack ? NEG_SACK : 0;
	c->snd_mss = MSS;
	c->cwnd = TCP_INIT_CWND;
	c->ssthresh = UINT32_MAX;
	c->rto_ms = 300;
	c->srtt_us = c->min_rtt_us = RTT_NS / NS_PER_US;
	c->snd_una = c->snd_nxt = c->snd_max = c->snd_wl1 = ISS;
	c->snd_wnd = c->max_snd_wnd = 1 << 20;
	c->rcv_wscale = c->snd_wscale = -1;
	c->sndbuf = sizeof data;
	assert_int_equal(ring_reserve(f->s, &c->sndq, c->sndbuf), 0);
	ring_push(&c->sndq, data, sizeof data);
	f->s->now = SYNACK_SEC;
}

static void fx_free(fixture *f)
{
	timer_cancel(f->s, &f->c.timer);
	ring_release(f->s, &f->c.sndq);
	rtx_release(&f->c);
	synack_stack_free(f->s);
}

/* Drops what the stack queued for the wire; returns how many segments. */
static unsigned drain(fixture *f)
{
	uint8_t buf[2048];
	unsigned n = 0;

	while (synack_output(f->s, buf, sizeof buf) > 0)
		n++;
	return n;
}

/* An ACK of `ack` (relative to ISS) with SACK blocks [a, b) (relative). */
static void ack_with(fixture *f, uint32_t ack, unsigned nblocks, const uint32_t (*blocks)[2])
{
	synack_conn *c = &f->c;
	wire_seg seg;
	uint32_t prior_una = c->snd_una;

	memset(&seg, 0, sizeof seg);
	seg.flags = WIRE_ACK;
	seg.ack = ISS + ack;
	for (unsigned i = 0; i < nblocks; i++) {
		seg.opts.sack[i][0] = ISS + blocks[i][0];
		seg.opts.sack[i][1] = ISS + blocks[i][1];
	}
	seg.opts.sack_count = (uint8_t)nblocks;
	if (nblocks)
		seg.opts.present |= WIRE_HAS_SACK;
	/* What check_ack does before handing over. */
	if (seq_gt(seg.ack, c->snd_una)) {
		ring_pop(&c->sndq, NULL, seg.ack - c->snd_una);
		c->snd_una = seg.ack;
	}
	cc_on_ack(c, &seg, prior_una, false);
}

static void sack_upto(fixture *f, uint32_t ack, uint32_t start, uint32_t end)
{
	const uint32_t b[1][2] = {{start, end}};

	ack_with(f, ack, 1, b);
}

/* Ten segments out, the first lost, SACKs for the others one by one: RACK
 * marks the hole lost at the third (RFC 8985 with the DupThresh rule), PRR
 * (RFC 6937) then sets cwnd = in_flight + sndcnt on each ACK. */
static void test_sack_scoreboard_and_prr(void **state)
{
	fixture f;
	synack_conn *c = &f.c;

	(void)state;
	fx_setup(&f, true, SYNACK_RECOVERY_RACK);
	conn_output(c);
	assert_int_equal(drain(&f), 10);
	assert_int_equal(c->rtx.len, 10);
	assert_int_equal(cc_in_flight(c), 10);
	f.s->now += RTT_NS;

	sack_upto(&f, 0, 1 * MSS, 2 * MSS);
	assert_int_equal(c->sacked_out, 1);
	assert_int_equal(c->lost_out, 0);
	assert_int_equal(c->ca_state, SYNACK_CA_DISORDER);
	assert_int_equal(c->timer_kind, CT_REO); /* min_rtt / 4 to wait */
	sack_upto(&f, 0, 1 * MSS, 3 * MSS);
	assert_int_equal(c->ca_state, SYNACK_CA_DISORDER);
	assert_int_equal(drain(&f), 0);

	/* Third SACKed: the hole is lost; ssthresh 5; sndcnt
	 * ceil(5 * 1 / 10) = 1 over in_flight 6: the retransmission. */
	sack_upto(&f, 0, 1 * MSS, 4 * MSS);
	assert_int_equal(c->ca_state, SYNACK_CA_RECOVERY);
	assert_int_equal(c->ssthresh, 5);
	assert_int_equal(c->sacked_out, 3);
	assert_int_equal(c->lost_out, 1);
	assert_int_equal(c->retrans_out, 1);
	assert_int_equal(c->cwnd, 7);
	assert_int_equal(cc_in_flight(c), 7);
	assert_int_equal(c->prr_delivered, 1);
	assert_int_equal(c->prr_out, 1);
	assert_int_equal(drain(&f), 1);

	/* Fourth: ceil(5 * 2 / 10) - 1 = 0 over in_flight 6. */
	sack_upto(&f, 0, 1 * MSS, 5 * MSS);
	assert_int_equal(c->cwnd, 6);
	assert_int_equal(drain(&f), 0);
	/* Fifth: in_flight 5 = ssthresh: PRR-SSRB, min(delta 0, ...) = 0. */
	sack_upto(&f, 0, 1 * MSS, 6 * MSS);
	assert_int_equal(c->cwnd, 5);
	/* Sixth: in_flight 4 < ssthresh: slow-start back toward it, by at
	 * most delta = 1: new data goes out. */
	sack_upto(&f, 0, 1 * MSS, 7 * MSS);
	assert_int_equal(c->cwnd, 5);
	conn_output(c);
	assert_int_equal(drain(&f), 1);
	assert_int_equal(c->prr_out, 2);

	/* The cumulative ACK of the hole and the SACKed run: Recovery ends
	 * (high_seq reached) at cwnd = ssthresh, nothing SACKed is left. */
	ack_with(&f, 10 * MSS, 0, NULL);
	assert_int_equal(c->ca_state, SYNACK_CA_OPEN);
	assert_int_equal(c->cwnd, 5);
	assert_int_equal(c->sacked_out, 0);
	assert_int_equal(c->lost_out, 0);
	assert_int_equal(c->retrans_out, 0);
	assert_int_equal(c->rtx.len, 1);
	fx_free(&f);
}

/* tcp_recovery=0: RFC 6675 IsLost counts SACKed segments above a hole,
 * three holes at once. */
static void test_dupthresh_marks_every_hole(void **state)
{
	fixture f;
	synack_conn *c = &f.c;
	const uint32_t b[3][2] = {{7 * MSS, 10 * MSS}, {4 * MSS, 6 * MSS}, {1 * MSS, 3 * MSS}};

	(void)state;
	fx_setup(&f, true, SYNACK_RECOVERY_DUPTHRESH);
	conn_output(c);
	assert_int_equal(drain(&f), 10);
	f.s->now += RTT_NS;
	/* Holes at 0, 3 and 6 (in MSS); 7 segments SACKed. */
	ack_with(&f, 0, 3, b);
	assert_int_equal(c->sacked_out, 7);
	assert_int_equal(c->ca_state, SYNACK_CA_RECOVERY);
	assert_int_equal(c->lost_out, 3);
	/* PRR: delivered 7, in_flight 0, delta 5: cwnd 5, three resent. */
	assert_int_equal(c->retrans_out, 3);
	assert_int_equal(drain(&f), 3);
	fx_free(&f);
}

/* No SACK: duplicate ACKs stand in for SACKed segments (Linux's reno
 * emulation); the third starts recovery with the head lost. */
static void test_reno_dupacks(void **state)
{
	fixture f;
	synack_conn *c = &f.c;

	(void)state;
	fx_setup(&f, false, SYNACK_RECOVERY_RACK);
	conn_output(c);
	assert_int_equal(drain(&f), 10);
	f.s->now += RTT_NS;
	ack_with(&f, 0, 0, NULL);
	ack_with(&f, 0, 0, NULL);
	assert_int_equal(c->ca_state, SYNACK_CA_DISORDER);
	assert_int_equal(c->sacked_out, 2);
	ack_with(&f, 0, 0, NULL);
	assert_int_equal(c->ca_state, SYNACK_CA_RECOVERY);
	assert_int_equal(c->sacked_out, 3);
	assert_int_equal(c->lost_out, 1);
	assert_int_equal(c->retrans_out, 1);
	assert_int_equal(drain(&f), 1);
	/* A partial ACK (RFC 6582): the new head is marked lost at once;
	 * PRR (in_flight 5 = ssthresh) lets it go at the next ACK. */
	ack_with(&f, 3 * MSS, 0, NULL);
	assert_int_equal(c->ca_state, SYNACK_CA_RECOVERY);
	assert_int_equal(c->lost_out, 1);
	assert_int_equal(c->retrans_out, 0);
	assert_int_equal(c->cwnd, 5);
	assert_int_equal(drain(&f), 0);
	ack_with(&f, 3 * MSS, 0, NULL);
	assert_int_equal(c->retrans_out, 1);
	assert_int_equal(drain(&f), 1);
	fx_free(&f);
}

/* The RTO marks everything not SACKed lost, cwnd 1, and resends the head
 * only; SACKed segments are never resent. */
static void test_rto_spares_sacked(void **state)
{
	fixture f;
	synack_conn *c = &f.c;

	(void)state;
	fx_setup(&f, true, SYNACK_RECOVERY_DUPTHRESH);
	f.s->cfg.frto = 0; /* else new data would go first (F-RTO step 2b) */
	conn_output(c);
	assert_int_equal(drain(&f), 10);
	f.s->now += RTT_NS;
	sack_upto(&f, 0, 8 * MSS, 10 * MSS);
	assert_int_equal(c->ca_state, SYNACK_CA_DISORDER);
	f.s->now += 3 * RTT_NS;
	cc_on_rto(c);
	assert_int_equal(c->ca_state, SYNACK_CA_LOSS);
	assert_int_equal(c->ssthresh, 5);
	assert_int_equal(c->lost_out, 8);
	assert_int_equal(c->sacked_out, 2);
	assert_int_equal(c->retrans_out, 1);
	assert_int_equal(c->cwnd, 1);
	assert_int_equal(drain(&f), 1);
	/* Slow start in Loss: each ACK resends lost segments only. */
	ack_with(&f, 1 * MSS, 1, (const uint32_t[][2]){{8 * MSS, 10 * MSS}});
	assert_int_equal(c->cwnd, 2);
	assert_int_equal(drain(&f), 2);
	ack_with(&f, 3 * MSS, 1, (const uint32_t[][2]){{8 * MSS, 10 * MSS}});
	assert_int_equal(c->cwnd, 4);
	assert_int_equal(drain(&f), 4);
	ack_with(&f, 7 * MSS, 1, (const uint32_t[][2]){{8 * MSS, 10 * MSS}});
	assert_int_equal(drain(&f), 1); /* 7..8 only: 8..10 was SACKed */
	assert_int_equal(c->lost_out, 1);
	assert_int_equal(c->retrans_out, 1);
	fx_free(&f);
}

/* Congestion avoidance (tcp_cong_avoid_ai): one segment per cwnd of
 * delivered segments, and no growth when not cwnd-limited. */
static void test_congestion_avoidance(void **state)
{
	fixture f;
	synack_conn *c = &f.c;

	(void)state;
	fx_setup(&f, true, SYNACK_RECOVERY_RACK);
	c->cwnd = c->ssthresh = 4;
	conn_output(c);
	assert_int_equal(drain(&f), 4);
	f.s->now += RTT_NS;
	ack_with(&f, 2 * MSS, 0, NULL);
	assert_int_equal(c->cwnd, 4);
	assert_int_equal(c->cwnd_cnt, 2);
	ack_with(&f, 4 * MSS, 0, NULL);
	assert_int_equal(c->cwnd, 5);
	assert_int_equal(c->cwnd_cnt, 0);
	/* Application-limited: two segments out of cwnd 5, below ssthresh
	 * after raising it: slow start needs the flight at half of cwnd. */
	c->ssthresh = 100;
	ring_pop(&c->sndq, NULL, c->sndq.len - 2 * MSS);
	conn_output(c);
	assert_int_equal(drain(&f), 2);
	ack_with(&f, 6 * MSS, 0, NULL);
	assert_int_equal(c->cwnd, 5);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sack_scoreboard_and_prr),
	    cmocka_unit_test(test_dupthresh_marks_every_hole),
	    cmocka_unit_test(test_reno_dupacks),
	    cmocka_unit_test(test_rto_spares_sacked),
	    cmocka_unit_test(test_congestion_avoidance),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
