/*
 * handshake.c — follows three-way handshakes in a packet stream and reports
 * their timing: SYN -> SYN-ACK -> ACK, retransmitted SYNs, refusals, silence.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "observe/obs_internal.h"
#include "observe/observe.h"
#include "wire/wire.h"

#define HS_BUCKETS 4096	    /* power of two: the hash is masked */
#define HS_MAX_SYN_TIMES 16 /* retransmission times kept per attempt */
#define HS_NONE INT64_MIN   /* "did not happen" for times */
#define HS_ENDPOINT_MAX 64  /* "ffff:...:ffff.65535" fits */
#define USEC_PER_MSEC 1000
#define USEC_PER_SEC 1000000
#define FNV_OFFSET 2166136261u /* FNV-1a, 32 bits */
#define FNV_PRIME 16777619u

typedef struct hs_key {
	uint8_t family;
	uint8_t client[16], server[16];
	uint16_t cport, sport;
} hs_key;

typedef struct attempt {
	hs_key key;
	uint32_t isn, server_isn;
	unsigned syn_count, synack_count;
	int64_t syn_times[HS_MAX_SYN_TIMES]; /* first HS_MAX_SYN_TIMES SYNs */
	int64_t syn_last;		     /* the latest SYN before the answer */
	int64_t synack_time, synack_after;   /* the answer, and the SYN it answered */
	int64_t synack_last;		     /* the latest SYN-ACK (the ACK answers it) */
	int64_t ack_time;
	int64_t rst_time;
	bool rst_from_server;
	long next; /* index of the next attempt in this bucket, or -1 */
} attempt;

struct obs_handshakes {
	attempt *v;
	size_t n, cap;
	long bucket[HS_BUCKETS]; /* newest attempt per bucket, or -1 */
};

obs_handshakes *obs_handshakes_new(void)
{
	obs_handshakes *h = calloc(1, sizeof *h);

	if (h)
		for (size_t i = 0; i < HS_BUCKETS; i++)
			h->bucket[i] = -1;
	return h;
}

void obs_handshakes_free(obs_handshakes *h)
{
	if (!h)
		return;
	free(h->v);
	free(h);
}

static uint32_t hs_hash(const hs_key *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint32_t x = FNV_OFFSET;

	for (size_t i = 0; i < sizeof *k; i++)
		x = (x ^ p[i]) * FNV_PRIME;
	return x & (HS_BUCKETS - 1);
}

static void make_key(hs_key *k, const obs_tcp_view *v, bool from_client)
{
	size_t alen = v->family == 6 ? 16 : 4;

	memset(k, 0, sizeof *k);
	k->family = (uint8_t)v->family;
	memcpy(k->client, from_client ? v->src : v->dst, alen);
	memcpy(k->server, from_client ? v->dst : v->src, alen);
	k->cport = from_client ? v->sport : v->dport;
	k->sport = from_client ? v->dport : v->sport;
}

/* The newest attempt on this 4-tuple, or NULL. */
static attempt *find(obs_handshakes *h, const hs_key *k)
{
	for (long i = h->bucket[hs_hash(k)]; i >= 0; i = h->v[i].next)
		if (!memcmp(&h->v[i].key, k, sizeof *k))
			return &h->v[i];
	return NULL;
}

static attempt *add(obs_handshakes *h, const hs_key *k)
{
	uint32_t slot = hs_hash(k);

	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		attempt *v = realloc(h->v, cap * sizeof *v);

		if (!v)
			return NULL;
		h->v = v;
		h->cap = cap;
	}
	attempt *a = &h->v[h->n];
	memset(a, 0, sizeof *a);
	a->key = *k;
	a->synack_time = a->synack_after = a->ack_time = a->rst_time = HS_NONE;
	a->next = h->bucket[slot];
	h->bucket[slot] = (long)h->n++;
	return a;
}

static int on_syn(obs_handshakes *h, int64_t ts, const obs_tcp_view *v)
{
	hs_key k;
	attempt *a;

	make_key(&k, v, true);
	a = find(h, &k);
	/* the same ISN is a retransmission (also after a SYN-ACK the client may
	 * not have received) until the handshake ends; else a new try */
	if (!a || a->isn != v->seq || a->ack_time != HS_NONE || a->rst_time != HS_NONE) {
		a = add(h, &k);
		if (!a)
			return -ENOMEM;
		a->isn = v->seq;
	}
	if (a->syn_count < HS_MAX_SYN_TIMES)
		a->syn_times[a->syn_count] = ts;
	a->syn_count++;
	a->syn_last = ts;
	return 0;
}

static void on_synack(obs_handshakes *h, int64_t ts, const obs_tcp_view *v)
{
	hs_key k;
	attempt *a;

	make_key(&k, v, false);
	a = find(h, &k);
	if (!a || v->ack != a->isn + 1)
		return;
	if (!a->synack_count) {
		a->synack_time = ts;
		a->synack_after = a->syn_last;
		a->server_isn = v->seq;
	}
	a->synack_last = ts;
	a->synack_count++;
}

static void on_rst(obs_handshakes *h, int64_t ts, const obs_tcp_view *v)
{
	hs_key k;
	attempt *a;
	bool from_server = true;

	make_key(&k, v, false);
	a = find(h, &k);
	if (!a) {
		from_server = false;
		make_key(&k, v, true);
		a = find(h, &k);
	}
	if (!a || a->rst_time != HS_NONE)
		return;
	a->rst_time = ts;
	a->rst_from_server = from_server;
}

static void on_ack(obs_handshakes *h, int64_t ts, const obs_tcp_view *v)
{
	hs_key k;
	attempt *a;

	make_key(&k, v, true);
	a = find(h, &k);
	if (a && a->synack_count && a->ack_time == HS_NONE && v->ack == a->server_isn + 1)
		a->ack_time = ts;
}

int obs_handshakes_packet(obs_handshakes *h, int64_t ts_usec, const uint8_t *pkt, size_t len)
{
	obs_tcp_view v;

	if (!obs_tcp_view_parse(pkt, len, &v))
		return 0;
	if (v.flags & WIRE_RST)
		on_rst(h, ts_usec, &v);
	else if ((v.flags & (WIRE_SYN | WIRE_ACK)) == WIRE_SYN)
		return on_syn(h, ts_usec, &v);
	else if ((v.flags & (WIRE_SYN | WIRE_ACK)) == (WIRE_SYN | WIRE_ACK))
		on_synack(h, ts_usec, &v);
	else if (v.flags & WIRE_ACK)
		on_ack(h, ts_usec, &v);
	return 0;
}

static void endpoint(char *out, size_t cap, int family, const uint8_t *addr, uint16_t port)
{
	obs_buf b;

	obs_buf_init(&b, out, cap);
	obs_buf_addr(&b, family, addr);
	obs_buf_printf(&b, ".%u", port);
}

/* "0.045 ms", "12.345 ms" or "1.003021 s": microseconds either way. */
static void fprint_dur(FILE *out, int64_t usec)
{
	if (usec < USEC_PER_SEC)
		fprintf(out, "%" PRId64 ".%03" PRId64 " ms", usec / USEC_PER_MSEC,
			usec % USEC_PER_MSEC);
	else
		fprintf(out, "%" PRId64 ".%06" PRId64 " s", usec / USEC_PER_SEC,
			usec % USEC_PER_SEC);
}

static void report_retransmits(const attempt *a, FILE *out)
{
	unsigned shown = a->syn_count < HS_MAX_SYN_TIMES ? a->syn_count : HS_MAX_SYN_TIMES;

	if (a->syn_count > 1) {
		fprintf(out, "  SYN retransmitted %u time%s (", a->syn_count - 1,
			a->syn_count == 2 ? "" : "s");
		for (unsigned i = 1; i < shown; i++) {
			fprintf(out, "%s+", i > 1 ? ", " : "");
			fprint_dur(out, a->syn_times[i] - a->syn_times[0]);
		}
		fprintf(out, "%s)\n", a->syn_count > HS_MAX_SYN_TIMES ? ", ..." : "");
	}
	if (a->synack_count > 1)
		fprintf(out, "  SYN-ACK seen %u times\n", a->synack_count);
}

static const char *outcome(const attempt *a)
{
	if (a->ack_time != HS_NONE)
		return "established";
	if (a->rst_time != HS_NONE && a->rst_from_server && !a->synack_count)
		return "refused";
	if (a->rst_time != HS_NONE)
		return "reset";
	if (a->synack_count)
		return "half-open";
	return "no-answer";
}

static void report_one(const attempt *a, FILE *out)
{
	char c[HS_ENDPOINT_MAX], s[HS_ENDPOINT_MAX];
	const char *what = outcome(a);

	endpoint(c, sizeof c, a->key.family, a->key.client, a->key.cport);
	endpoint(s, sizeof s, a->key.family, a->key.server, a->key.sport);
	fprintf(out, "%s > %s: ", c, s);
	if (a->synack_count) {
		fprintf(out, "%s, SYN -> SYN-ACK ", what);
		fprint_dur(out, a->synack_time - a->synack_after);
		if (a->ack_time != HS_NONE) {
			fprintf(out, ", SYN-ACK -> ACK ");
			fprint_dur(out, a->ack_time - a->synack_last);
			fprintf(out, ", handshake ");
			fprint_dur(out, a->ack_time - a->syn_times[0]);
		} else {
			fprintf(out, ", no ACK seen");
		}
		fprintf(out, "\n");
	} else if (!strcmp(what, "refused")) {
		fprintf(out, "refused, RST ");
		fprint_dur(out, a->rst_time - a->syn_last);
		fprintf(out, " after the SYN\n");
	} else if (a->rst_time != HS_NONE) {
		fprintf(out, "reset by the client before an answer\n");
	} else {
		fprintf(out, "no answer to %u SYN%s", a->syn_count, a->syn_count == 1 ? "" : "s");
		if (a->syn_count > 1) {
			fprintf(out, " over ");
			fprint_dur(out, a->syn_last - a->syn_times[0]);
		}
		fprintf(out, "\n");
	}
	report_retransmits(a, out);
}

size_t obs_handshakes_report(const obs_handshakes *h, FILE *out)
{
	for (size_t i = 0; i < h->n; i++)
		report_one(&h->v[i], out);
	return h->n;
}

static void json_one(const attempt *a, FILE *out)
{
	char c[HS_ENDPOINT_MAX], s[HS_ENDPOINT_MAX];
	unsigned shown = a->syn_count < HS_MAX_SYN_TIMES ? a->syn_count : HS_MAX_SYN_TIMES;

	endpoint(c, sizeof c, a->key.family, a->key.client, a->key.cport);
	endpoint(s, sizeof s, a->key.family, a->key.server, a->key.sport);
	fprintf(out, "{\"client\":\"%s\",\"server\":\"%s\",\"outcome\":\"%s\",\"syns\":%u", c, s,
		outcome(a), a->syn_count);
	if (a->synack_count)
		fprintf(out, ",\"syn_to_synack_us\":%" PRId64, a->synack_time - a->synack_after);
	if (a->ack_time != HS_NONE)
		fprintf(out, ",\"synack_to_ack_us\":%" PRId64, a->ack_time - a->synack_last);
	if (a->rst_time != HS_NONE)
		fprintf(out, ",\"rst_after_us\":%" PRId64, a->rst_time - a->syn_times[0]);
	fprintf(out, ",\"syn_retransmits_us\":[");
	for (unsigned i = 1; i < shown; i++)
		fprintf(out, "%s%" PRId64, i > 1 ? "," : "", a->syn_times[i] - a->syn_times[0]);
	fprintf(out, "]}\n");
}

size_t obs_handshakes_report_json(const obs_handshakes *h, FILE *out)
{
	for (size_t i = 0; i < h->n; i++)
		json_one(&h->v[i], out);
	return h->n;
}

void obs_handshakes_each(const obs_handshakes *h, obs_handshake_fn fn, void *ctx)
{
	char c[HS_ENDPOINT_MAX], s[HS_ENDPOINT_MAX];

	for (size_t i = 0; i < h->n; i++) {
		const attempt *a = &h->v[i];

		endpoint(c, sizeof c, a->key.family, a->key.client, a->key.cport);
		endpoint(s, sizeof s, a->key.family, a->key.server, a->key.sport);
		fn(ctx, c, s);
	}
}
