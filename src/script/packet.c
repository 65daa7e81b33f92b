/*
 * packet.c — the packets of a script: injected ones built from the script
 * with the socket's numbers shifted by its real ISN and TS ecr values
 * translated into the stack's TS val space; expected ones taken from what the
 * stack sent, mapped into script space and compared field by field, option by
 * option, and in time (packetdrill's run_packet.c semantics).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "wire/wire.h"

#define TS_TICK_SLACK 4 /* TS val ticks (ms) allowed off in strict mode */
#define DEFAULT_TTL 64	/* Linux net.ipv4.ip_default_ttl */

static uint32_t local_offset(const runner *r)
{
	return r->isn_known ? r->live_isn - r->script_isn : 0;
}

/* Passive tests: the first injected packet defines the connection. */
static void passive_tuple(runner *r)
{
	synack_addr l = r->local_ip, rem = r->remote_ip;
	uint16_t port = r->bind_port;

	for (int i = 0; i < RUN_MAX_FDS; i++)
		if (r->fds[i].used && r->fds[i].kind == RFD_LISTENER && r->fds[i].bound)
			port = r->fds[i].port;
	l.port = port;
	rem.port = r->remote_port;
	run_set_tuple(r, &l, &rem);
}

/* ------------------------------------------------------------------------ */
/* TCP options as bytes                                                      */

typedef struct opt_iter {
	const uint8_t *p;
	size_t len, off;
} opt_iter;

/* The next option's offset and length; false at the end (or at EOL). */
static bool opt_next(opt_iter *it, size_t *off, size_t *len)
{
	if (it->off >= it->len || it->p[it->off] == WIRE_OPT_EOL)
		return false;
	*off = it->off;
	if (it->p[it->off] == WIRE_OPT_NOP) {
		*len = 1;
	} else if (it->off + 1 >= it->len || it->p[it->off + 1] < 2 ||
		   it->off + it->p[it->off + 1] > it->len) {
		*len = it->len - it->off; /* malformed: the rest */
	} else {
		*len = it->p[it->off + 1];
	}
	it->off += *len;
	return true;
}

static const uint8_t *find_ts(const uint8_t *opt, size_t len)
{
	opt_iter it = {opt, len, 0};
	size_t off, olen;

	while (opt_next(&it, &off, &olen))
		if (opt[off] == WIRE_OPT_TS && olen == WIRE_OPTLEN_TS)
			return opt + off;
	return NULL;
}

static void ts_remember(runner *r, uint32_t script_val, uint32_t live_val)
{
	for (size_t i = 0; i < r->ts_map_len; i++) {
		if (r->ts_map[i][0] == script_val) {
			r->ts_map[i][1] = live_val;
			return;
		}
	}
	size_t slot = r->ts_map_len < RUN_TS_MAP ? r->ts_map_len++ : r->ts_map_next++ % RUN_TS_MAP;
	r->ts_map[slot][0] = script_val;
	r->ts_map[slot][1] = live_val;
}

/* A script TS ecr in the stack's TS val space: the live value of the
 * outbound TS val the script called so, else by the first pair's offset. */
static uint32_t ts_ecr_to_live(const runner *r, uint32_t script_ecr)
{
	for (size_t i = 0; i < r->ts_map_len; i++)
		if (r->ts_map[i][0] == script_ecr)
			return r->ts_map[i][1];
	if (r->ts_known)
		return script_ecr - r->first_script_ts + r->first_live_ts;
	return script_ecr;
}

/* ------------------------------------------------------------------------ */
/* Injected packets                                                          */

static void map_inbound_options(runner *r, const script_packet *pk, uint8_t *opt)
{
	opt_iter it = {opt, pk->opt_len, 0};
	size_t off, len;
	uint32_t shift = local_offset(r);

	while (opt_next(&it, &off, &len)) {
		uint8_t *o = opt + off;

		if (o[0] == WIRE_OPT_SACK) {
			/* both edges of every block, the right one too (the loop
			 * used to stop 4 bytes early and leave the last right
			 * edge in script space) */
			for (size_t i = 2; i + 4 <= len; i += 4)
				wire_set32(o + i, wire_get32(o + i) + shift);
		} else if (o[0] == WIRE_OPT_TS && len == WIRE_OPTLEN_TS && (pk->flags & WIRE_ACK)) {
			wire_set32(o + 6, ts_ecr_to_live(r, wire_get32(o + 6)));
		}
	}
}

int pkt_inject(runner *r, const script_event *ev)
{
	const script_packet *pk = &ev->u.packet;
	uint8_t *pkt = r->pkt;
	uint8_t opt[SCRIPT_TCP_OPT_MAX];
	wire_seg seg;

	if (!r->tuple_known)
		passive_tuple(r);
	if (find_ts(pk->opt, pk->opt_len) == NULL && memchr(pk->opt, WIRE_OPT_MD5, pk->opt_len)) {
		opt_iter it = {pk->opt, pk->opt_len, 0};
		size_t off, len;
		while (opt_next(&it, &off, &len))
			if (pk->opt[off] == WIRE_OPT_MD5)
				return run_fail(r, ev->line, "unsupported: md5 option (RFC 2385)");
	}
	memcpy(opt, pk->opt, pk->opt_len);
	map_inbound_options(r, pk, opt);
	memset(&seg, 0, sizeof seg);
	seg.family = r->t_local.family;
	seg.ttl = DEFAULT_TTL;
	seg.df = true;
	memcpy(seg.src, r->t_remote.ip, sizeof seg.src);
	memcpy(seg.dst, r->t_local.ip, sizeof seg.dst);
	seg.sport = r->t_remote.port;
	seg.dport = r->t_local.port;
	seg.seq = pk->seq;
	seg.ack = pk->flags & WIRE_ACK ? pk->ack + local_offset(r) : 0;
	seg.flags = pk->flags;
	seg.win = (uint16_t)pk->win;
	seg.urg = pk->urg;
	seg.opt = opt;
	seg.opt_len = pk->opt_len;
	seg.payload = r->zeros;
	seg.payload_len = pk->len;
	size_t n = wire_build(pkt, sizeof r->pkt, &seg);
	if (!n)
		return run_fail(r, ev->line, "cannot build the packet (wire_build)");
	if (r->opts.verbose) {
		char line[SCRIPT_ERR_MAX];
		fmt_packet(line, sizeof line, seg.flags, seg.seq, seg.payload_len, seg.ack, pk->win,
			   seg.urg, false, opt, pk->opt_len);
		run_verbose(r, "< %s (line %d, live numbers)", line, ev->line);
	}
	return r->be->send(r, pkt, n, ev->line);
}

/* ------------------------------------------------------------------------ */
/* Expected packets                                                          */

/* An outbound packet mapped into script space. */
typedef struct actual {
	int64_t t_ns;
	uint8_t flags;
	uint32_t seq, len, ack;
	uint16_t win, urg;
	uint8_t opt[SCRIPT_TCP_OPT_MAX];
	uint8_t opt_len;
	bool nonzero_payload;
} actual;

static bool for_tuple(const runner *r, const wire_seg *seg)
{
	if (!r->tuple_known)
		return true;
	return seg->sport == r->t_local.port && seg->dport == r->t_remote.port &&
	       !memcmp(seg->src, r->t_local.ip, sizeof seg->src) &&
	       !memcmp(seg->dst, r->t_remote.ip, sizeof seg->dst);
}

/* Takes the next packet for the connection under test, waiting no later than
 * limit. 1 found (parsed into seg, bytes in *c), 0 none, -1 failure. */
static int next_outbound(runner *r, int64_t limit, int line, captured *out, wire_seg *seg)
{
	for (long steps = 0; steps < RUN_MAX_STEPS; steps++) {
		captured *c;

		while ((c = run_queue_peek(r))) {
			wire_err e = wire_parse(c->buf, c->len, WIRE_PARSE_VERIFY_CSUM, seg);

			if (e != WIRE_OK) {
				run_fail(r, line, "the stack sent a malformed packet: %s",
					 wire_err_name(e));
				run_queue_drop(r);
				return -1;
			}
			if (for_tuple(r, seg)) {
				/* seg points into out->buf, which the caller frees */
				*out = *c;
				c->buf = NULL;
				run_queue_drop(r);
				return 1;
			}
			run_verbose(r, "ignoring a packet for another connection");
			run_queue_drop(r);
		}
		int rc = r->be->step(r, limit, line);
		if (rc <= 0)
			return rc;
	}
	return run_fail(r, line, "engine deadline does not move (timer loop)");
}

static void to_script_space(runner *r, const script_packet *exp, const wire_seg *seg, actual *a)
{
	if ((seg->flags & WIRE_SYN) && (exp->flags & WIRE_SYN) && !r->isn_known) {
		r->live_isn = seg->seq;
		r->script_isn = exp->seq;
		r->isn_known = true;
	}
	a->flags = seg->flags;
	a->seq = seg->seq - local_offset(r);
	a->len = seg->payload_len;
	a->ack = seg->ack;
	a->win = seg->win;
	a->urg = seg->urg;
	a->opt_len = seg->opt_len <= SCRIPT_TCP_OPT_MAX ? seg->opt_len : SCRIPT_TCP_OPT_MAX;
	memcpy(a->opt, seg->opt, a->opt_len);
	for (uint32_t i = 0; i < seg->payload_len; i++)
		a->nonzero_payload |= seg->payload[i] != 0;

	const uint8_t *ets = find_ts(exp->opt, exp->opt_len);
	uint8_t *ats = (uint8_t *)find_ts(a->opt, a->opt_len);
	if (!ets || !ats || exp->opts_any)
		return;
	uint32_t sval = wire_get32(ets + 2), lval = wire_get32(ats + 2);
	ts_remember(r, sval, lval);
	if (!r->ts_known) {
		r->ts_known = true;
		r->first_script_ts = sval;
		r->first_live_ts = lval;
	}
	wire_set32(ats + 2, r->first_script_ts + (lval - r->first_live_ts));
}

static int check_field(char *msg, size_t cap, const char *name, uint32_t exp, uint32_t act)
{
	if (exp == act)
		return 0;
	snprintf(msg, cap, "live packet field %s: expected: %u (0x%x) vs actual: %u (0x%x)", name,
		 exp, exp, act, act);
	return -1;
}

static int check_ts(const runner *r, const uint8_t *e, const uint8_t *a, char *msg, size_t cap)
{
	if (!r->opts.strict_ts && !r->ts_tick_check)
		return 0;
	int32_t diff = (int32_t)(wire_get32(a + 2) - wire_get32(e + 2));
	if (diff > TS_TICK_SLACK || diff < -TS_TICK_SLACK) {
		snprintf(
		    msg, cap,
		    "bad outbound TCP timestamp value: expected %u vs actual %u (script space)",
		    wire_get32(e + 2), wire_get32(a + 2));
		return -1;
	}
	if (r->opts.strict_ts)
		return check_field(msg, cap, "TS ecr", wire_get32(e + 6), wire_get32(a + 6));
	return 0;
}

static int check_options(const runner *r, const script_packet *exp, const actual *a, char *msg,
			 size_t cap)
{
	opt_iter ei = {exp->opt, exp->opt_len, 0}, ai = {a->opt, a->opt_len, 0};
	size_t eo = 0, el = 0, ao = 0, al = 0;

	if (exp->opts_any)
		return 0;
	for (int n = 1;; n++) {
		bool he = opt_next(&ei, &eo, &el), ha = opt_next(&ai, &ao, &al);

		if (!he && !ha)
			return 0;
		bool same = he && ha && exp->opt[eo] == a->opt[ao] && el == al;

		if (same && exp->opt[eo] == WIRE_OPT_TS) {
			if (check_ts(r, exp->opt + eo, a->opt + ao, msg, cap) < 0)
				return -1;
			continue;
		}
		if (!same || memcmp(exp->opt + eo, a->opt + ao, el)) {
			char e[SCRIPT_ERR_MAX / 4], g[SCRIPT_ERR_MAX / 4];

			fmt_option(e, sizeof e, exp->opt + eo, he ? el : 0);
			fmt_option(g, sizeof g, a->opt + ao, ha ? al : 0);
			snprintf(msg, cap,
				 "bad outbound TCP options: option %d: expected %s vs actual %s", n,
				 e, g);
			return -1;
		}
	}
}

static void flag_text(uint8_t flags, char *buf, size_t cap)
{
	char tmp[SCRIPT_ERR_MAX];

	fmt_packet(tmp, sizeof tmp, flags, 0, 0, 0, SCRIPT_WIN_ANY, 0, false, NULL, 0);
	snprintf(buf, cap, "%.*s", (int)strcspn(tmp, " "), tmp);
}

static int compare_packet(const runner *r, const script_packet *exp, const actual *a, char *msg,
			  size_t cap)
{
	if (exp->flags != a->flags) {
		char e[16], g[16];

		flag_text(exp->flags, e, sizeof e);
		flag_text(a->flags, g, sizeof g);
		snprintf(msg, cap, "live packet field tcp flags: expected: %s vs actual: %s", e, g);
		return -1;
	}
	if (check_field(msg, cap, "tcp_seq", exp->seq, a->seq) < 0 ||
	    check_field(msg, cap, "payload length", exp->len, a->len) < 0)
		return -1;
	if ((exp->flags & WIRE_ACK) && check_field(msg, cap, "tcp_ack_seq", exp->ack, a->ack) < 0)
		return -1;
	if (exp->win != SCRIPT_WIN_ANY &&
	    check_field(msg, cap, "tcp_window", (uint32_t)exp->win, a->win) < 0)
		return -1;
	if (check_field(msg, cap, "tcp_urg_ptr", exp->urg, a->urg) < 0)
		return -1;
	if (check_options(r, exp, a, msg, cap) < 0)
		return -1;
	if (a->nonzero_payload) {
		snprintf(msg, cap, "incorrect outbound data payload (the script wrote zeros)");
		return -1;
	}
	return 0;
}

static void print_pair(runner *r, const script_packet *exp, int64_t t, const actual *a)
{
	char line[SCRIPT_ERR_MAX];

	fmt_packet(line, sizeof line, exp->flags, exp->seq, exp->len, exp->ack, exp->win, exp->urg,
		   exp->opts_any, exp->opt, exp->opt_len);
	fprintf(r->out, "  expected: %.6f > %s\n", run_secs(t), line);
	if (!a)
		return;
	fmt_packet(line, sizeof line, a->flags, a->seq, a->len, a->ack, a->win, a->urg, false,
		   a->opt, a->opt_len);
	fprintf(r->out, "  actual:   %.6f > %s\n", run_secs(a->t_ns), line);
}

/* Later segments of one write, as a kernel with segmentation offload would
 * have sent them in one: packetdrill merges them the same way. */
static int aggregate(runner *r, const script_packet *exp, actual *a, int64_t limit, int line)
{
	while (a->len < exp->len) {
		captured c;
		wire_seg seg;
		int rc = next_outbound(r, limit, line, &c, &seg);

		if (rc <= 0)
			return rc;
		bool contiguous = seg.seq - local_offset(r) == a->seq + a->len &&
				  !(seg.flags & (WIRE_SYN | WIRE_RST)) && seg.ack == a->ack;
		if (contiguous) {
			a->len += seg.payload_len;
			a->flags |= seg.flags;
			a->win = seg.win;
			for (uint32_t i = 0; i < seg.payload_len; i++)
				a->nonzero_payload |= seg.payload[i] != 0;
		}
		free(c.buf);
		if (!contiguous)
			return run_fail(r, line, "segment after a partial match is not contiguous");
	}
	return 0;
}

static int check_time(runner *r, int line, const char *what, int64_t t, int64_t end, int64_t at)
{
	int64_t tol = run_tolerance(r, t);

	if (at >= t - tol && at <= end + tol)
		return 0;
	if (end != t)
		return run_fail(r, line,
				"timing error: expected %s in time range %.6f~%.6f sec but "
				"happened at %.6f sec",
				what, run_secs(t), run_secs(end), run_secs(at));
	return run_fail(
	    r, line,
	    "timing error: expected %s at %.6f sec but happened at %.6f sec; tolerance %.6f sec",
	    what, run_secs(t), run_secs(at), run_secs(tol));
}

int pkt_expect(runner *r, const script_event *ev, int64_t t, int64_t end)
{
	const script_packet *exp = &ev->u.packet;
	bool any = ev->time_type == STT_ANY;
	int64_t limit = any ? r->now + RUN_WAIT_MAX_NS : end + run_tolerance(r, t);
	captured c;
	wire_seg seg;
	actual a = {0};
	char msg[SCRIPT_ERR_MAX];

	int rc = next_outbound(r, limit, ev->line, &c, &seg);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		/* Look further, only to show what came instead. */
		rc = next_outbound(r, r->now + r->wait_max_ns, ev->line, &c, &seg);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			run_fail(r, ev->line,
				 "expected packet was not sent (the stack sent nothing more for "
				 "this connection until %.6f sec)",
				 run_secs(r->now + r->wait_max_ns));
			print_pair(r, exp, t, NULL);
			return -1;
		}
	}
	a.t_ns = c.t_ns;
	to_script_space(r, exp, &seg, &a);
	free(c.buf);
	if (a.len < exp->len && aggregate(r, exp, &a, limit, ev->line) < 0)
		return -1;
	if (a.len < exp->len && a.len > 0) {
		/* packetdrill's wording when the merged segments fall short */
		snprintf(msg, sizeof msg,
			 "live packet payload: expected %u bytes vs actual %u bytes", exp->len,
			 a.len);
		run_fail(r, ev->line, "%s", msg);
		print_pair(r, exp, t, &a);
		return -1;
	}
	if (compare_packet(r, exp, &a, msg, sizeof msg) < 0) {
		run_fail(r, ev->line, "%s", msg);
		print_pair(r, exp, t, &a);
		return -1;
	}
	if (!any && check_time(r, ev->line, "outbound packet", t, end, a.t_ns) < 0) {
		print_pair(r, exp, t, &a);
		return -1;
	}
	if (r->be->real_time && a.t_ns < r->now)
		r->now = a.t_ns;
	if (r->opts.verbose) {
		char line[SCRIPT_ERR_MAX];
		fmt_packet(line, sizeof line, a.flags, a.seq, a.len, a.ack, a.win, a.urg, false,
			   a.opt, a.opt_len);
		fprintf(r->out, "%10.6f > %s (line %d, sent at %.6f)\n", run_secs(r->now), line,
			ev->line, run_secs(a.t_ns));
	}
	return 0;
}
