/*
 * tun_ss.c — the `ss -tan` / `ss -ti` view of a stack (see tun_ss.h).
 */
#include "drivers/tun_ss.h"

#include <string.h>

/* Column widths: ss sizes its columns to the terminal; fixed ones that fit
 * an IPv6 address with a port keep the output stable for scripts. */
#define SS_STATE_W 10
#define SS_QUEUE_W 6
#define SS_ADDR_W 46
#define SS_ADDR_MAX 64
#define SS_IP_MAX 48 /* INET6_ADDRSTRLEN (46), rounded: leaves room for [ ]:port */
#define US_PER_MS 1000.0
#define NS_PER_MS_F 1e6

struct ss_ctx {
	FILE *out;
	bool info;
	size_t count;
};

/* "198.18.0.2:80", "[fd00::2]:80", "0.0.0.0:*" as ss writes them. */
static void endpoint(const synack_addr *a, bool wild_port, char *buf, size_t cap)
{
	char ip[SS_IP_MAX];

	synack_addr_format(a, false, ip, sizeof ip);
	if (a->family == SYNACK_AF_INET6)
		snprintf(buf, cap, wild_port ? "[%s]:*" : "[%s]:%u", ip, a->port);
	else
		snprintf(buf, cap, wild_port ? "%s:*" : "%s:%u", ip, a->port);
}

static void row(struct ss_ctx *x, const char *state, unsigned long recvq, unsigned long sendq,
		const char *local, const char *peer)
{
	fprintf(x->out, "%-*s %-*lu %-*lu %-*s %s\n", SS_STATE_W, state, SS_QUEUE_W, recvq,
		SS_QUEUE_W, sendq, SS_ADDR_W, local, peer);
	x->count++;
}

static void listener_row(void *ctx, synack_listener *l)
{
	struct ss_ctx *x = ctx;
	const synack_addr *a = synack_listener_addr(l);
	synack_addr any;
	char local[SS_ADDR_MAX], peer[SS_ADDR_MAX];

	memset(&any, 0, sizeof any);
	any.family = a->family;
	endpoint(a, false, local, sizeof local);
	endpoint(&any, true, peer, sizeof peer);
	row(x, synack_state_ss_name(SYNACK_LISTEN), synack_listener_queued(l),
	    synack_listener_backlog(l), local, peer);
}

/* The second line of `ss -ti`, with the fields synack_info has. */
static void info_line(FILE *out, const synack_info *i)
{
	fprintf(out, "\t%s%s", i->timestamps ? " ts" : "", i->sack ? " sack" : "");
	if (i->snd_wscale >= 0 && i->rcv_wscale >= 0)
		fprintf(out, " wscale:%d,%d", i->snd_wscale, i->rcv_wscale);
	fprintf(out, " rto:%g rtt:%.3f/%.3f mss:%u advmss:%u cwnd:%u", i->rto_us / US_PER_MS,
		i->rtt_us / US_PER_MS, i->rttvar_us / US_PER_MS, i->snd_mss, i->rcv_mss, i->cwnd);
	fprintf(out, " bytes_sent:%llu bytes_acked:%llu bytes_received:%llu",
		(unsigned long long)i->bytes_sent, (unsigned long long)i->bytes_acked,
		(unsigned long long)i->bytes_received);
	if (i->unacked)
		fprintf(out, " unacked:%u", i->unacked);
	if (i->total_retrans || i->backoff)
		fprintf(out, " retrans:%u/%u", i->backoff, i->total_retrans);
	if (i->syn_retrans)
		fprintf(out, " syn_retrans:%u", i->syn_retrans);
	fprintf(out, " snd_wnd:%u rcv_wnd:%u", i->snd_wnd, i->rcv_wnd);
	if (i->handshake_ns)
		fprintf(out, " handshake:%.3fms", (double)i->handshake_ns / NS_PER_MS_F);
	fputc('\n', out);
}

static void conn_row(void *ctx, synack_conn *c)
{
	struct ss_ctx *x = ctx;
	char local[SS_ADDR_MAX], peer[SS_ADDR_MAX];

	endpoint(synack_conn_local(c), false, local, sizeof local);
	endpoint(synack_conn_remote(c), false, peer, sizeof peer);
	row(x, synack_state_ss_name(synack_conn_state(c)), synack_conn_recv_queued(c),
	    synack_conn_send_queued(c), local, peer);
	if (x->info) {
		synack_info i;

		synack_conn_info(c, &i);
		info_line(x->out, &i);
	}
}

/* A compact TIME-WAIT entry: ss shows it with empty queues (and, with
 * -o, the time left, which -ti does not). */
static void timewait_row(void *ctx, const synack_addr *local, const synack_addr *remote,
			 synack_time left)
{
	struct ss_ctx *x = ctx;
	char l[SS_ADDR_MAX], p[SS_ADDR_MAX];

	(void)left;
	endpoint(local, false, l, sizeof l);
	endpoint(remote, false, p, sizeof p);
	row(x, synack_state_ss_name(SYNACK_TIME_WAIT), 0, 0, l, p);
}

size_t tun_ss_print(synack_stack *s, FILE *out, bool info)
{
	struct ss_ctx x = {.out = out, .info = info};

	fprintf(out, "%-*s %-*s %-*s %-*s %s\n", SS_STATE_W, "State", SS_QUEUE_W, "Recv-Q",
		SS_QUEUE_W, "Send-Q", SS_ADDR_W, "Local Address:Port", "Peer Address:Port");
	synack_stack_each(s, listener_row, conn_row, &x);
	synack_stack_each_timewait(s, timewait_row, &x);
	fflush(out);
	return x.count;
}
