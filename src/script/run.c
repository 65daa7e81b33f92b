/*
 * run.c — plays a packetdrill script against one synack stack on virtual
 * time. The semantics are packetdrill's (run.c, run_packet.c there):
 * injected packets are sent at their script time; an expected packet is the
 * next one the stack sends for the connection under test, and must come
 * within the timing tolerance; the socket's own sequence numbers are shifted
 * by its real ISN, the remote side's are used as written; TS ecr values in
 * injected packets are translated back into the stack's TS val space.
 *
 * Time never comes from a clock: the runner moves virtual time forward to
 * each event, calling synack_timeout at every deadline on the way, and
 * stamps every packet the stack queues with the time it was queued.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "wire/wire.h"

#define NS_PER_US 1000
#define NS_PER_S 1000000000LL
#define DEFAULT_TOLERANCE_US 4000      /* packetdrill --tolerance_usecs */
#define DEFAULT_TOLERANCE_PERCENT 12.5 /* packetdrill --tolerance_percent */
#define PERCENT 100.0
#define DEFAULT_PORT 8080	      /* packetdrill --bind_port, --connect_port */
#define REMOTE_EPHEMERAL_PORT 48136   /* the remote side's port for passive tests */
#define BACK_TO_BACK_WAIT_NS NS_PER_S /* packetdrill await_idle_thread(): 1 s */
#define STACK_BASE_NS NS_PER_S	      /* script time 0 is 1 s into the stack's life */
#define RNG_SEED 0x5eed5eed5eedULL    /* runs are reproducible */

static const char LOCAL_V4[] = "192.168.0.1";
static const char REMOTE_V4[] = "192.0.2.1";
static const char LOCAL_V6[] = "fd3d:fa7b:d17d::1";
static const char REMOTE_V6[] = "2001:db8::1";

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */

int run_fail(runner *r, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(r->out, "%s:%d: error: ", r->s->path, line);
	va_start(ap, fmt);
	vfprintf(r->out, fmt, ap);
	va_end(ap);
	fputc('\n', r->out);
	r->failed = true;
	return -1;
}

void run_verbose(runner *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->opts.verbose)
		return;
	fprintf(r->out, "%10.6f ", (double)r->now / NS_PER_S);
	va_start(ap, fmt);
	vfprintf(r->out, fmt, ap);
	va_end(ap);
	fputc('\n', r->out);
}

synack_time run_engine_now(const runner *r)
{
	return r->base + (synack_time)r->now;
}

int64_t run_tolerance(const runner *r, int64_t t)
{
	int64_t tol = r->tol_us * NS_PER_US;
	int64_t delta = t - r->last_event_ns;
	int64_t dyn = (int64_t)((double)delta * r->tol_percent / PERCENT);

	return dyn > tol ? dyn : tol;
}

double run_secs(int64_t ns)
{
	return (double)ns / NS_PER_S;
}

/* ------------------------------------------------------------------------ */
/* Randomness: the stack's secrets and ISNs, the same on every run.          */

static void det_random(void *ctx, void *buf, size_t len)
{
	runner *r = ctx;
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++) {
		/* xorshift64* (Vigna): small and good enough for test secrets */
		r->rng ^= r->rng >> 12;
		r->rng ^= r->rng << 25;
		r->rng ^= r->rng >> 27;
		p[i] = (uint8_t)((r->rng * 0x2545F4914F6CDD1DULL) >> 56);
	}
}

/* ------------------------------------------------------------------------ */
/* Settings: sysctls and --options                                           */

typedef enum sv_kind {
	SV_BOOL,
	SV_U8,
	SV_U16,
	SV_U32,
	SV_MS_FROM_S,
	SV_MS,
	SV_RMEM,
	SV_WMEM,
	SV_PORTS,
	SV_TLP,
	SV_RECOVERY,
} sv_kind;

typedef struct sysctl_map {
	const char *name;
	sv_kind kind;
	size_t off;
} sysctl_map;

#define CFG(f) offsetof(synack_config, f)
#define LINUX_EARLY_RETRANS_TLP 3 /* tcp_early_retrans values from 3 on probe */

static const sysctl_map sysctls[] = {
    {"net.ipv4.tcp_timestamps", SV_BOOL, CFG(timestamps)},
    {"net.ipv4.tcp_sack", SV_BOOL, CFG(sack)},
    {"net.ipv4.tcp_window_scaling", SV_BOOL, CFG(window_scaling)},
    {"net.ipv4.tcp_syn_retries", SV_U8, CFG(syn_retries)},
    {"net.ipv4.tcp_synack_retries", SV_U8, CFG(synack_retries)},
    {"net.ipv4.tcp_retries2", SV_U8, CFG(retries2)},
    {"net.ipv4.tcp_orphan_retries", SV_U8, CFG(orphan_retries)},
    {"net.ipv4.tcp_max_syn_backlog", SV_U32, CFG(max_syn_backlog)},
    {"net.core.somaxconn", SV_U32, CFG(somaxconn)},
    {"net.ipv4.tcp_fin_timeout", SV_MS_FROM_S, CFG(fin_timeout_ms)},
    {"net.ipv4.tcp_challenge_ack_limit", SV_U32, CFG(challenge_ack_limit)},
    {"net.ipv4.tcp_invalid_ratelimit", SV_MS, CFG(invalid_ratelimit_ms)},
    {"net.ipv4.tcp_rfc1337", SV_BOOL, CFG(rfc1337)},
    {"net.ipv4.tcp_syncookies", SV_U8, CFG(syncookies)},
    {"net.ipv4.tcp_ecn", SV_U8, CFG(ecn)},
    {"net.ipv4.tcp_fastopen", SV_U16, CFG(fastopen)},
    {"net.ipv4.tcp_early_retrans", SV_TLP, CFG(tail_loss_probe)},
    {"net.ipv4.tcp_recovery", SV_RECOVERY, CFG(recovery)},
    {"net.ipv4.tcp_frto", SV_U8, CFG(frto)},
    {"net.ipv4.ip_default_ttl", SV_U8, CFG(default_ttl)},
    {"net.ipv4.tcp_rmem", SV_RMEM, 0},
    {"net.ipv4.tcp_wmem", SV_WMEM, 0},
    {"net.ipv4.ip_local_port_range", SV_PORTS, 0},
};

static bool parse_u32_list(const char *v, unsigned long *out, int n)
{
	char *end;

	for (int i = 0; i < n; i++) {
		out[i] = strtoul(v, &end, 0);
		if (end == v || out[i] > UINT32_MAX)
			return false;
		v = end;
	}
	while (*v == ' ' || *v == '\t')
		v++;
	return *v == '\0';
}

/* Writes the setting into cfg. Returns 1 applied, 0 not modelled, -1 bad. */
static int sysctl_to_cfg(synack_config *cfg, const char *name, const char *value)
{
	unsigned long v[3];
	uint8_t *base = (uint8_t *)cfg;

	for (size_t i = 0; i < sizeof sysctls / sizeof sysctls[0]; i++) {
		const sysctl_map *m = &sysctls[i];

		if (strcmp(m->name, name))
			continue;
		int n = m->kind == SV_RMEM || m->kind == SV_WMEM ? 3 : m->kind == SV_PORTS ? 2 : 1;
		if (!parse_u32_list(value, v, n))
			return -1;
		switch (m->kind) {
		case SV_BOOL:
			*(bool *)(base + m->off) = v[0] != 0;
			break;
		case SV_U8:
			if (v[0] > UINT8_MAX)
				return -1;
			*(uint8_t *)(base + m->off) = (uint8_t)v[0];
			break;
		case SV_U16:
			if (v[0] > UINT16_MAX)
				return -1;
			*(uint16_t *)(base + m->off) = (uint16_t)v[0];
			break;
		case SV_U32:
			*(uint32_t *)(base + m->off) = (uint32_t)v[0];
			break;
		case SV_MS_FROM_S:
			*(uint32_t *)(base + m->off) = (uint32_t)(v[0] * 1000);
			break;
		case SV_MS:
			*(uint32_t *)(base + m->off) = (uint32_t)v[0];
			break;
		case SV_RMEM:
			cfg->rmem_default = (uint32_t)v[1];
			cfg->rmem_max = (uint32_t)v[2];
			break;
		case SV_WMEM:
			cfg->wmem_default = (uint32_t)v[1];
			break;
		case SV_TLP:
			/* tcp_early_retrans: 3 (default) and 4 send loss probes. */
			*(bool *)(base + m->off) = v[0] >= LINUX_EARLY_RETRANS_TLP;
			break;
		case SV_RECOVERY:
			/* tcp_recovery bit 0: RACK loss detection; the other
			 * bits (static / no-dupthresh RACK) are not modelled. */
			if (v[0] & ~(unsigned long)SYNACK_RECOVERY_RACK)
				return 0;
			*(uint8_t *)(base + m->off) = (uint8_t)v[0];
			break;
		case SV_PORTS:
			if (v[0] > UINT16_MAX || v[1] > UINT16_MAX || v[0] > v[1])
				return -1;
			cfg->ephemeral_low = (uint16_t)v[0];
			cfg->ephemeral_high = (uint16_t)v[1];
			break;
		}
		return 1;
	}
	return 0;
}

/* Settings synack cannot model, at values whose behaviour scripts rely on:
 * failing beats passing a script that did not test what it says. */
static const struct {
	const char *name;
	unsigned long ok_mask; /* bits synack behaves like */
	unsigned long ok_value;
} unmodelled[] = {
    {"net.ipv4.tcp_abort_on_overflow", ~0UL, 0},   /* full accept queue: drop */
    {"net.ipv4.tcp_syn_linear_timeouts", ~0UL, 0}, /* classic doubling only */
    {"net.ipv4.tcp_reordering", ~0UL, 3},          /* a fixed duplicate threshold */
    {"net.ipv4.tcp_recovery", ~0UL, 1},            /* values beyond RACK's bit 0 */
};

static bool unmodelled_value(const char *name, const char *value)
{
	unsigned long v = strtoul(value, NULL, 10);

	for (size_t i = 0; i < sizeof unmodelled / sizeof unmodelled[0]; i++)
		if (!strcmp(name, unmodelled[i].name))
			return (v & unmodelled[i].ok_mask) != unmodelled[i].ok_value;
	return false;
}

static bool later_actions(const runner *r, const script_event *ev)
{
	for (const script_event *e = ev + 1; e < r->s->events + r->s->nevents; e++)
		if (e->type == SE_PACKET || e->type == SE_SYSCALL)
			return true;
	return false;
}

/* net.ipv4.tcp_congestion_control: the engine runs reno. CUBIC is taken
 * while it cannot differ from reno (check_cubic); others are refused. */
static int congestion_control(runner *r, const script_event *ev, const script_sysctl *sc)
{
	if (!strcmp(sc->value, "reno") || !strcmp(sc->value, "cubic")) {
		r->cubic = !strcmp(sc->value, "cubic");
		return 0;
	}
	return run_fail(r, ev->line,
			"unsupported: tcp_congestion_control=%s (%s:%d): synack implements reno "
			"(cubic only until it would differ)",
			sc->value, sc->file, sc->line);
}

/* CUBIC equals reno in slow start below HyStart's lowest window (16) and
 * before the first reduction (CUBIC's beta is 0.7, reno's 0.5): past
 * either, the script is not testing what synack does. */
#define CUBIC_HYSTART_LOW_WINDOW 16
static int check_cubic(runner *r, int line)
{
	if (!r->cubic)
		return 0;
	for (size_t i = 0; i < RUN_MAX_FDS; i++) {
		synack_info info;
		if (!r->fds[i].conn)
			continue;
		synack_conn_info(r->fds[i].conn, &info);
		if (info.ssthresh != UINT32_MAX)
			return run_fail(r, line,
					"unsupported: cubic: the congestion window was reduced here "
					"(ssthresh %u); synack models reno only: set "
					"net.ipv4.tcp_congestion_control=reno", info.ssthresh);
		if (info.cwnd >= CUBIC_HYSTART_LOW_WINDOW)
			return run_fail(r, line,
					"unsupported: cubic: slow start reached cwnd %u, where HyStart "
					"may differ from reno: set net.ipv4.tcp_congestion_control=reno",
					info.cwnd);
	}
	return 0;
}

static int run_command(runner *r, const script_event *ev)
{
	for (size_t i = 0; i < ev->u.command.nsysctls; i++) {
		const script_sysctl *sc = &ev->u.command.sysctls[i];
		synack_config probe = r->cfg;
		int rc;

		if (!strcmp(sc->name, "net.ipv4.tcp_congestion_control")) {
			if (congestion_control(r, ev, sc) < 0)
				return -1;
			continue;
		}
		rc = sysctl_to_cfg(&probe, sc->name, sc->value);

		if (rc < 0)
			return run_fail(r, ev->line, "bad value for sysctl %s: '%s' (%s:%d)",
					sc->name, sc->value, sc->file, sc->line);
		if (rc == 0 && unmodelled_value(sc->name, sc->value))
			return run_fail(r, ev->line, "unsupported: sysctl %s=%s (%s:%d)", sc->name,
					sc->value, sc->file, sc->line);
		if (rc == 0) {
			run_verbose(r, "sysctl %s=%s: not modelled by synack, ignored", sc->name,
				    sc->value);
			continue;
		}
		if (!memcmp(&probe, &r->cfg, sizeof probe))
			continue;
		if (r->stack && later_actions(r, ev))
			return run_fail(r, ev->line,
					"unsupported: sysctl %s=%s after the stack started "
					"(settings apply at the first socket call)",
					sc->name, sc->value);
		if (r->stack) {
			run_verbose(r, "sysctl %s=%s at the end: ignored", sc->name, sc->value);
			continue;
		}
		r->cfg = probe;
		run_verbose(r, "sysctl %s=%s", sc->name, sc->value);
	}
	if (!ev->u.command.nsysctls)
		run_verbose(r, "shell command not run: `%s`", ev->u.command.text);
	return 0;
}

static int parse_port(const char *v, uint16_t *out)
{
	char *end;
	unsigned long p = v ? strtoul(v, &end, 10) : 0;

	if (!v || *end || p == 0 || p > UINT16_MAX)
		return -1;
	*out = (uint16_t)p;
	return 0;
}

static int apply_option(runner *r, const script_option *o)
{
	const char *v = o->value;
	char *end = NULL;

	if (!strcmp(o->name, "tolerance_usecs") && v) {
		r->tol_us = strtoll(v, &end, 10);
	} else if (!strcmp(o->name, "tolerance_percent") && v) {
		r->tol_percent = strtod(v, &end);
	} else if (!strcmp(o->name, "ip_version") && v) {
		if (!strcmp(v, "ipv4"))
			r->family = SYNACK_AF_INET;
		else if (!strcmp(v, "ipv6"))
			r->family = SYNACK_AF_INET6;
		else
			return run_fail(r, o->line, "unsupported: --ip_version=%s", v);
		return 0;
	} else if (!strcmp(o->name, "bind_port")) {
		return parse_port(v, &r->bind_port) < 0 ? run_fail(r, o->line, "bad --bind_port")
							: 0;
	} else if (!strcmp(o->name, "connect_port")) {
		return parse_port(v, &r->connect_port) < 0
			   ? run_fail(r, o->line, "bad --connect_port")
			   : 0;
	} else if ((!strcmp(o->name, "local_ip") || !strcmp(o->name, "remote_ip")) && v) {
		synack_addr *a = o->name[0] == 'l' ? &r->local_ip : &r->remote_ip;
		char ip[64];

		snprintf(ip, sizeof ip, "%s", v);
		if (strchr(ip, '/'))
			*strchr(ip, '/') = '\0'; /* packetdrill allows a prefix length */
		if (synack_addr_parse(ip, a) < 0)
			return run_fail(r, o->line, "bad --%s=%s", o->name, v);
		r->family = a->family;
		return 0;
	} else if (!strcmp(o->name, "tcp_ts_tick_usecs") && v) {
		r->ts_tick_check = strtol(v, &end, 10) != 0;
	} else if (!strcmp(o->name, "mtu") && v) {
		r->cfg.mtu = (uint16_t)strtoul(v, &end, 10);
	} else if (!strcmp(o->name, "strict_segments") || !strcmp(o->name, "verbose") ||
		   !strcmp(o->name, "debug")) {
		return 0;
	} else {
		return run_fail(r, o->line, "unsupported option --%s", o->name);
	}
	if (end && *end)
		return run_fail(r, o->line, "bad value for --%s: '%s'", o->name, v);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The stack and its packets                                                 */

static int start_stack(runner *r, int line)
{
	if (r->stack)
		return 0;
	r->cfg.random = det_random;
	r->cfg.random_ctx = r;
	int rc = synack_stack_new(&r->cfg, &r->stack);
	if (rc < 0)
		return run_fail(r, line, "synack_stack_new failed: %s", strerror(-rc));
	rc = synack_stack_add_address(r->stack, &r->local_ip);
	if (rc < 0)
		return run_fail(r, line, "synack_stack_add_address failed: %s", strerror(-rc));
	return 0;
}

int run_enqueue(runner *r, const uint8_t *buf, size_t n)
{
	if (r->qhead + r->qlen == r->qcap) {
		if (r->qhead) {
			memmove(r->q, r->q + r->qhead, r->qlen * sizeof *r->q);
			r->qhead = 0;
		} else {
			size_t ncap = r->qcap ? r->qcap * 2 : 64;
			captured *nq = realloc(r->q, ncap * sizeof *nq);
			if (!nq)
				return -ENOMEM;
			r->q = nq;
			r->qcap = ncap;
		}
	}
	captured *c = &r->q[r->qhead + r->qlen];
	c->buf = malloc(n);
	if (!c->buf)
		return -ENOMEM;
	memcpy(c->buf, buf, n);
	c->len = n;
	c->t_ns = r->now;
	r->qlen++;
	return 0;
}

int run_drain(runner *r)
{
	uint8_t *buf = r->pkt;
	ssize_t n;

	if (!r->stack)
		return 0;
	while ((n = synack_output(r->stack, buf, sizeof r->pkt)) > 0)
		if (run_enqueue(r, buf, (size_t)n) < 0)
			return -ENOMEM;
	return n < 0 ? (int)n : 0;
}

captured *run_queue_peek(runner *r)
{
	return r->qlen ? &r->q[r->qhead] : NULL;
}

void run_queue_drop(runner *r)
{
	free(r->q[r->qhead].buf);
	r->qhead++;
	r->qlen--;
	if (!r->qlen)
		r->qhead = 0;
}

/* The engine backend's send: the packet goes into the stack at once. */
static int engine_send(runner *r, const uint8_t *pkt, size_t len, int line)
{
	int rc = synack_input(r->stack, pkt, len, run_engine_now(r));

	if (rc < 0)
		run_verbose(r, "  the stack dropped it: %s", strerror(-rc));
	if (run_drain(r) < 0)
		return run_fail(r, line, "out of memory");
	return 0;
}

/* The next time something happens by itself: a stack deadline or the
 * timeout of a blocked poll. */
int64_t run_next_wake(const runner *r)
{
	int64_t wake = r->pending ? r->call.wake_ns : RUN_NEVER;
	synack_time d = r->stack ? synack_deadline(r->stack) : SYNACK_TIME_NEVER;

	if (d != SYNACK_TIME_NEVER) {
		int64_t rel = d < r->base ? 0 : (int64_t)(d - r->base);
		if (rel < wake)
			wake = rel;
	}
	return wake;
}

/* Runs timers due at the current time and collects what they send. */
int run_settle(runner *r, int line)
{
	if (r->stack) {
		synack_time d = synack_deadline(r->stack);

		if (d != SYNACK_TIME_NEVER && d <= run_engine_now(r))
			synack_timeout(r->stack, run_engine_now(r));
		if (run_drain(r) < 0)
			return run_fail(r, line, "out of memory");
	}
	return r->pending ? sys_retry(r) : 0;
}

/* The engine's step: the next deadline, if it comes no later than limit. */
static int engine_step(runner *r, int64_t limit, int line)
{
	int64_t w = run_next_wake(r);

	if (w > limit)
		return 0;
	if (w > r->now)
		r->now = w;
	return run_settle(r, line) < 0 ? -1 : 1;
}

/* Moves virtual time to target (ns), through every deadline on the way. */
static int advance_to(runner *r, int64_t target, int line)
{
	for (long steps = 0;; steps++) {
		int64_t w = run_next_wake(r);

		if (steps >= RUN_MAX_STEPS)
			return run_fail(r, line,
					"engine deadline does not move past %.6f s (timer loop)",
					run_secs(w));
		if (w > target)
			break;
		if (w > r->now)
			r->now = w;
		if (run_settle(r, line) < 0)
			return -1;
	}
	if (target > r->now)
		r->now = target;
	return run_settle(r, line);
}

void run_set_tuple(runner *r, const synack_addr *local, const synack_addr *remote)
{
	r->t_local = *local;
	r->t_remote = *remote;
	r->tuple_known = true;
	r->isn_known = false;
	r->ts_known = false;
	r->ts_map_len = 0;
}

/* ------------------------------------------------------------------------ */
/* Events                                                                    */

/* The event's script time in ns: relative times count from the previous
 * event's script time when both are injected packets (so consecutive
 * packets do not drift), else from now — as packetdrill does. */
static void event_times(runner *r, const script_event *ev, int64_t *t, int64_t *end)
{
	bool inbound = ev->type == SE_PACKET && ev->u.packet.inbound;
	int64_t offset = r->last_inbound && inbound ? r->last_event_ns : r->now;

	switch (ev->time_type) {
	case STT_ABSOLUTE:
	case STT_ABSOLUTE_RANGE:
		offset = 0;
		break;
	case STT_ANY:
	case STT_NONE:
		*t = *end = r->now;
		return;
	default:
		break;
	}
	*t = offset + ev->time_us * NS_PER_US;
	*end = ev->time_type == STT_ABSOLUTE_RANGE || ev->time_type == STT_RELATIVE_RANGE
		   ? offset + ev->time_end_us * NS_PER_US
		   : *t;
}

/* Waits for a blocked call to return before a new one starts, as
 * packetdrill's single system-call thread does. */
static int finish_pending(runner *r, int64_t limit, int line)
{
	if (r->be->sys_retry(r) < 0)
		return -1;
	for (long steps = 0; r->pending && !r->failed; steps++) {
		int rc = steps < RUN_MAX_STEPS ? r->be->step(r, limit, line) : 0;

		if (rc < 0)
			return -1;
		if (rc == 0) {
			const run_call *c = &r->call;
			return run_fail(r, line,
					"%s() from line %d is still blocked (started at %.6f sec)",
					c->sc->name, c->ev->line, run_secs(c->start_ns));
		}
	}
	return r->failed ? -1 : 0;
}

static int wait_until(runner *r, const script_event *ev, int64_t t, const char *what)
{
	if (r->now > t + run_tolerance(r, t))
		return run_fail(r, ev->line,
				"timing error: expected %s at %.6f sec but happened at %.6f sec",
				what, run_secs(t), run_secs(r->now));
	return r->be->advance(r, t, ev->line);
}

static int run_event(runner *r, const script_event *ev, int64_t t, int64_t end)
{
	switch (ev->type) {
	case SE_PACKET:
		if (!ev->u.packet.inbound)
			return pkt_expect(r, ev, t, end);
		if (wait_until(r, ev, t, "inbound packet") < 0)
			return -1;
		return pkt_inject(r, ev);
	case SE_SYSCALL:
		if (wait_until(r, ev, t, "system call start") < 0)
			return -1;
		/* packetdrill's syscall thread runs one blocking call at a time: a
		 * second one waits (up to 1 s, on the stack's timers alone) */
		if (ev->u.syscall.end_us != SCRIPT_NO_TIME && r->pending &&
		    finish_pending(r, r->now + BACK_TO_BACK_WAIT_NS, ev->line) < 0)
			return -1;
		return r->be->sys_start(r, ev, t);
	case SE_COMMAND:
		if (ev->time_type != STT_NONE && r->be->advance(r, t, ev->line) < 0)
			return -1;
		return r->be->command(r, ev);
	case SE_CODE:
		run_verbose(r, "skipped python block (line %d)", ev->line);
		return 0;
	}
	return 0;
}

static int run_events(runner *r)
{
	bool first = true;

	for (size_t i = 0; i < r->s->nevents && !r->failed; i++) {
		const script_event *ev = &r->s->events[i];
		int64_t t, end;

		if (ev->type != SE_COMMAND && r->be->open(r, ev->line) < 0)
			return -1;
		event_times(r, ev, &t, &end);
		if (ev->time_type == STT_NONE) {
			if (run_event(r, ev, t, end) < 0 || r->be->sys_retry(r) < 0)
				return -1;
			continue;
		}
		if (first && t != 0)
			return run_fail(r, ev->line, "first event should be at time 0");
		if (!first && ev->time_type == STT_ABSOLUTE && t < r->last_event_ns &&
		    ev->type != SE_COMMAND)
			return run_fail(r, ev->line,
					"time goes backward in script from %.6f sec to %.6f sec",
					run_secs(r->last_event_ns), run_secs(t));
		first = false;
		if (run_event(r, ev, t, end) < 0 || r->be->sys_retry(r) < 0 ||
		    (r->be == &run_engine_backend && check_cubic(r, ev->line) < 0))
			return -1;
		r->last_event_ns = t;
		r->last_inbound = ev->type == SE_PACKET && ev->u.packet.inbound;
	}
	if (r->pending && !r->failed) {
		const run_call *c = &r->call;
		int64_t limit = c->end_ns != RUN_NEVER ? c->end_ns + run_tolerance(r, c->end_ns)
						       : r->now + r->wait_max_ns;
		return finish_pending(r, limit, c->ev->line);
	}
	return r->failed ? -1 : 0;
}

static void runner_init(runner *r, const script *s, const script_run_opts *opts, FILE *out,
			const run_backend *be)
{
	memset(r, 0, sizeof *r);
	r->s = s;
	r->be = be;
	r->opts = *opts;
	r->out = out;
	r->rng = RNG_SEED;
	r->base = STACK_BASE_NS;
	r->family = opts->ipv6 ? SYNACK_AF_INET6 : SYNACK_AF_INET;
	r->tol_us = opts->tolerance_us > 0 ? opts->tolerance_us : DEFAULT_TOLERANCE_US;
	r->tol_percent = DEFAULT_TOLERANCE_PERCENT;
	r->bind_port = DEFAULT_PORT;
	r->connect_port = DEFAULT_PORT;
	r->remote_port = REMOTE_EPHEMERAL_PORT;
	r->cubic = true; /* Linux's default congestion control */
	r->wait_max_ns = RUN_WAIT_MAX_NS;
	synack_config_default(&r->cfg);
}

static int choose_addresses(runner *r)
{
	bool v6 = r->family == SYNACK_AF_INET6;

	if (!r->local_ip.family && synack_addr_parse(v6 ? LOCAL_V6 : LOCAL_V4, &r->local_ip) < 0)
		return -1;
	if (!r->remote_ip.family &&
	    synack_addr_parse(v6 ? REMOTE_V6 : REMOTE_V4, &r->remote_ip) < 0)
		return -1;
	if (r->local_ip.family != r->remote_ip.family)
		return -1;
	r->family = r->local_ip.family;
	return 0;
}

static void engine_close(runner *r)
{
	sys_close_all(r);
	if (r->stack)
		synack_stack_free(r->stack);
	r->stack = NULL;
}

const run_backend run_engine_backend = {
    .name = "engine",
    .prepare = NULL,
    .open = start_stack,
    .command = run_command,
    .step = engine_step,
    .advance = advance_to,
    .send = engine_send,
    .sys_start = sys_start,
    .sys_retry = sys_retry,
    .close = engine_close,
};

int script_run(const script *s, const script_run_opts *opts, FILE *out)
{
	if (opts->kernel)
		return kernel_script_run(s, opts, out);
	return run_script_with(s, opts, out, &run_engine_backend);
}

int run_script_with(const script *s, const script_run_opts *opts, FILE *out,
		    const run_backend *be)
{
	runner *r = malloc(sizeof *r);
	int rc;

	if (!r) {
		fprintf(out, "%s: out of memory\n", s->path);
		return -1;
	}
	runner_init(r, s, opts, out, be);
	for (size_t i = 0; i < s->noptions && !r->failed; i++)
		apply_option(r, &s->options[i]);
	if (!r->failed && choose_addresses(r) < 0)
		run_fail(r, 1, "local and remote addresses are not of one family");
	if (!r->failed && be->prepare && be->prepare(r) < 0)
		r->failed = true;
	if (!r->failed)
		run_events(r);
	be->close(r);
	while (r->qlen)
		run_queue_drop(r);
	free(r->q);
	rc = r->failed ? -1 : 0;
	free(r);
	return rc;
}
