/*
 * attempt.c — one attempt: DNS, TCP, TLS, then WebSocket or HTTP, each
 * timed; a failed try is retried after an exponential backoff with jitter.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "probe.h"

void probe_config_default(struct probe_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->method = PROBE_METHOD_SOCKET;
	cfg->family = AF_UNSPEC;
	cfg->timeout_ns = 5 * PROBE_NS_PER_S;
	cfg->backoff_ns = PROBE_NS_PER_S;
	cfg->backoff_max_ns = 10 * PROBE_NS_PER_S;
	cfg->stop_fd = -1;
}

/*
 * "Equal jitter": half of the exponential delay is kept, the other half is
 * random, so that many clients retrying together spread out while each
 * still waits at least half the nominal delay.
 */
int64_t probe_backoff_ns(const struct probe_config *cfg, unsigned k, uint64_t random)
{
	int64_t d = cfg->backoff_ns, half;

	for (unsigned i = 0; i < k && d < cfg->backoff_max_ns; i++)
		d *= 2;
	if (d > cfg->backoff_max_ns)
		d = cfg->backoff_max_ns;
	half = d / 2;
	return d - half + (int64_t)(random % (uint64_t)(half + 1));
}

/* Clears r for a new try; the attempt's start times and earlier tries stay. */
static void result_reset(struct probe_result *r, int64_t start, int64_t wall_start)
{
	unsigned ntries = r->ntries;
	struct probe_try tries[PROBE_MAX_TRIES];

	memcpy(tries, r->tries, sizeof tries);
	memset(r, 0, sizeof *r);
	r->ntries = ntries;
	memcpy(r->tries, tries, sizeof tries);
	for (int p = 0; p < PROBE_PHASE_COUNT; p++)
		r->phase_ns[p] = -1;
	r->winner = -1;
	r->start_ns = start;
	r->wall_start_ns = wall_start;
}

/* The phases after TCP, over the connected socket. */
static enum probe_class upper_phases(const struct probe_config *cfg, struct probe_tls *tls,
				     const struct probe_target *t, int fd, struct probe_result *r)
{
	struct probe_stream s = {.fd = fd, .ssl = NULL, .stop_fd = cfg->stop_fd};
	enum probe_class c = PROBE_OK;

	if (cfg->tls) {
		r->failed_phase = PROBE_PHASE_TLS;
		c = probe_tls_handshake(tls, cfg, t->host, fd, &s.ssl, r);
	}
	if (c == PROBE_OK && cfg->ws_path) {
		r->failed_phase = PROBE_PHASE_WS;
		c = probe_ws_upgrade(cfg, t, &s, r);
	} else if (c == PROBE_OK && cfg->http_path) {
		r->failed_phase = PROBE_PHASE_HTTP;
		c = probe_http_get(cfg, t, &s, r);
	}
	probe_tls_close(s.ssl);
	/* A reset once TLS has begun is the TLS class: the "reset during TLS". */
	if (c == PROBE_ERR_RESET && r->failed_phase == PROBE_PHASE_TLS)
		c = PROBE_ERR_TLS_RESET;
	return c;
}

/* The system's words for the failure that gave the class, unless the connector gave its own. */
static void connect_detail(struct probe_result *r)
{
	if (r->detail[0])
		return;
	for (size_t i = 0; i < r->naddrs; i++)
		if (r->addrs[i].started && r->addrs[i].class == r->class && r->addrs[i].err) {
			snprintf(r->detail, sizeof r->detail, "%s", strerror(r->addrs[i].err));
			return;
		}
}

/* One try of every phase. */
static void one_try(const struct probe_config *cfg, struct probe_tls *tls,
		    const struct probe_target *t, struct probe_result *r)
{
	int64_t start = probe_now_ns();
	int fd;

	r->failed_phase = PROBE_PHASE_DNS;
	r->class = probe_resolve(cfg, t, r);
	if (r->class != PROBE_OK)
		goto out;
	r->failed_phase = PROBE_PHASE_TCP;
	fd = probe_connector(cfg->method)(cfg, r);
	if (fd < 0 && r->class == PROBE_OK)
		goto out; /* a method without a socket: its handshake was the whole attempt */
	if (fd < 0) {
		connect_detail(r);
		/* ECONNRESET from connect means the handshake finished and the
		 * server reset at once: with --tls, before the hello could go,
		 * which the user knows as a reset during TLS. */
		if (r->class == PROBE_ERR_RESET && cfg->tls) {
			r->class = PROBE_ERR_TLS_RESET;
			r->failed_phase = PROBE_PHASE_TLS;
		}
		goto out;
	}
	r->class = upper_phases(cfg, tls, t, fd, r);
	close(fd);
out:
	r->total_ns = probe_now_ns() - start;
}

static bool should_retry(const struct probe_config *cfg, const struct probe_result *r)
{
	if (r->class == PROBE_OK || r->class == PROBE_INTERRUPTED)
		return false;
	return r->class != PROBE_ERR_REFUSED || cfg->retry_refused;
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;

	if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
		v = (uint64_t)probe_now_ns(); /* still jitter, if poorer */
	return v;
}

void probe_attempt(const struct probe_config *cfg, struct probe_tls *tls,
		   const struct probe_target *t, struct probe_result *r)
{
	int64_t start = probe_now_ns(), wall_start = probe_wall_ns(), delay = 0;
	unsigned max = cfg->retries + 1 < PROBE_MAX_TRIES ? cfg->retries + 1 : PROBE_MAX_TRIES;

	r->ntries = 0;
	for (unsigned k = 0; k < max; k++) {
		struct probe_try *tr = &r->tries[k];

		result_reset(r, start, wall_start);
		tr->start_ns = probe_now_ns() - start;
		tr->delay_ns = delay;
		one_try(cfg, tls, t, r);
		tr->class = r->class;
		r->ntries = k + 1;
		if (k + 1 == max || !should_retry(cfg, r))
			return;
		delay = probe_backoff_ns(cfg, k, random_u64());
		if (!probe_sleep_until(probe_now_ns() + delay, cfg->stop_fd)) {
			r->class = PROBE_INTERRUPTED;
			return;
		}
	}
}
