/*
 * report.c — what the user sees: a line per attempt (with the details and a
 * phase bar for the first), the diagnosis of each failure class once, ping's
 * summary, and the same facts as JSON lines or CSV. Only the printing thread
 * calls these.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "probe.h"

#define BAR_WIDTH 48
#define TIME_STR_MAX 40
#define ANSI_RESET "\033[0m"
#define ANSI_GREEN "\033[32m"
#define ANSI_RED "\033[31m"
#define ANSI_DIM "\033[2m"

static const double PERCENTILES[] = {50, 90, 99};
#define NPCT (sizeof PERCENTILES / sizeof PERCENTILES[0])

/* Background colour and letter of each phase in the bar. */
static const char *const bar_colour[PROBE_PHASE_COUNT] = {
    "\033[44;97m", "\033[42;30m", "\033[45;97m", "\033[43;30m", "\033[46;30m"};
static const char bar_letter[PROBE_PHASE_COUNT] = {'d', 't', 's', 'w', 'h'};

static double ms(int64_t ns)
{
	return (double)ns / (double)PROBE_NS_PER_MS;
}

static const char *col(const struct probe_run_opts *o, const char *code)
{
	return o->color ? code : "";
}

static void iso_time(int64_t wall_ns, char *out, size_t len)
{
	time_t sec = (time_t)(wall_ns / PROBE_NS_PER_S);
	struct tm tm;
	char base[TIME_STR_MAX / 2];

	gmtime_r(&sec, &tm);
	strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%03dZ", base, (int)(wall_ns % PROBE_NS_PER_S / PROBE_NS_PER_MS));
}

/* Did phase p complete? (Its time then counts in the statistics.) */
static bool phase_done(const struct probe_result *r, int p)
{
	if (r->phase_ns[p] < 0)
		return false;
	return r->class == PROBE_OK || p < (int)r->failed_phase;
}

static const struct sockaddr_storage *winner_addr(const struct probe_result *r)
{
	return r->winner >= 0 ? &r->addrs[r->winner].addr : NULL;
}

void probe_summary_add(struct probe_summary *s, const struct probe_result *r)
{
	s->sent++;
	if (r->class == PROBE_OK) {
		s->ok++;
		probe_stats_add(&s->total, ms(r->total_ns));
	} else {
		s->failed++;
		s->last_fail = r->class;
	}
	for (int p = 0; p < PROBE_PHASE_COUNT; p++)
		if (phase_done(r, p))
			probe_stats_add(&s->phase[p], ms(r->phase_ns[p]));
}

/* ---- JSON ---- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_ms(FILE *f, const char *key, int64_t ns, bool sep)
{
	fprintf(f, "%s\"%s\":", sep ? "," : "", key);
	if (ns < 0)
		fprintf(f, "null");
	else
		fprintf(f, "%.3f", ms(ns));
}

static void json_addrs(FILE *f, const struct probe_result *r)
{
	fprintf(f, ",\"addresses\":[");
	for (size_t i = 0; i < r->naddrs; i++) {
		const struct probe_addr_try *a = &r->addrs[i];
		char addr[PROBE_ADDR_STR_MAX];

		probe_addr_str(&a->addr, false, addr, sizeof addr);
		fprintf(f, "%s{\"address\":", i ? "," : "");
		json_str(f, addr);
		fprintf(f, ",\"family\":\"%s\",\"started\":%s",
			probe_family_name(a->addr.ss_family), a->started ? "true" : "false");
		if (a->started) {
			json_ms(f, "start_ms", a->start_ns, true);
			json_ms(f, "ms", a->ns, true);
			fprintf(f, ",\"class\":\"%s\"",
				a->cancelled ? "cancelled" : probe_class_name(a->class));
		}
		fputc('}', f);
	}
	fputc(']', f);
}

static void json_tries(FILE *f, const struct probe_result *r)
{
	fprintf(f, ",\"tries\":[");
	for (unsigned k = 0; k < r->ntries; k++) {
		fprintf(f, "%s{", k ? "," : "");
		json_ms(f, "start_ms", r->tries[k].start_ns, false);
		json_ms(f, "delay_ms", r->tries[k].delay_ns, true);
		fprintf(f, ",\"class\":\"%s\"}", probe_class_name(r->tries[k].class));
	}
	fputc(']', f);
}

/* curl -w's cumulative times: each phase ends at the sum of those before it. */
static void cumulative(const struct probe_result *r, int64_t out[PROBE_PHASE_COUNT])
{
	int64_t at = 0;

	for (int p = 0; p < PROBE_PHASE_COUNT; p++) {
		out[p] = r->phase_ns[p] >= 0 ? at + r->phase_ns[p] : -1;
		if (r->phase_ns[p] >= 0)
			at += r->phase_ns[p];
	}
}

static void json_phases(FILE *f, const struct probe_result *r)
{
	int64_t cum[PROBE_PHASE_COUNT], start;

	fprintf(f, ",\"phases_ms\":{");
	for (int p = 0; p < PROBE_PHASE_COUNT; p++)
		json_ms(f, probe_phase_name(p), r->phase_ns[p], p > 0);
	cumulative(r, cum);
	start = cum[PROBE_PHASE_WS] >= 0 ? cum[PROBE_PHASE_WS] : cum[PROBE_PHASE_HTTP];
	fprintf(f, "},\"cumulative_ms\":{");
	json_ms(f, "namelookup", cum[PROBE_PHASE_DNS], false);
	json_ms(f, "connect", cum[PROBE_PHASE_TCP], true);
	json_ms(f, "appconnect", cum[PROBE_PHASE_TLS], true);
	json_ms(f, "starttransfer", start, true);
	json_ms(f, "total", r->total_ns, true);
	fputc('}', f);
	json_ms(f, "total_ms", r->total_ns, true);
}

static void json_tcp(FILE *f, const struct probe_tcp_info *t)
{
	if (!t->valid)
		return;
	fprintf(f,
		",\"tcp_info\":{\"rtt_ms\":%.3f,\"rttvar_ms\":%.3f,\"rto_ms\":%.3f,"
		"\"snd_mss\":%u,\"rcv_mss\":%u,\"wscale\":%s,\"snd_wscale\":%u,\"rcv_wscale\":%u,"
		"\"sack\":%s,\"timestamps\":%s,\"ecn\":%s}",
		t->rtt_us / 1e3, t->rttvar_us / 1e3, t->rto_us / 1e3, t->snd_mss, t->rcv_mss,
		t->wscale ? "true" : "false", t->snd_wscale, t->rcv_wscale,
		t->sack ? "true" : "false", t->timestamps ? "true" : "false",
		t->ecn ? "true" : "false");
}

/* ---- the raw method's reply (shared by every format) ---- */

static const char *const reply_names[] = {[PROBE_RAW_NONE] = "none",
					  [PROBE_RAW_SYNACK] = "syn-ack",
					  [PROBE_RAW_RST] = "rst",
					  [PROBE_RAW_ICMP] = "icmp"};
static const char *const match_names[] = {
    [PROBE_MATCH_ONLY] = "only", [PROBE_MATCH_TS_ECHO] = "ts-echo", [PROBE_MATCH_LAST] = "last"};

#define FLAGS_STR_MAX 12
#define COOKIE_STR_MAX (2 * WIRE_FO_COOKIE_MAX + 1)

/* TCP flags as tcpdump writes them: "S." for a SYN-ACK, "R." for a refusal. */
static void flags_str(uint8_t flags, char out[FLAGS_STR_MAX])
{
	static const struct {
		uint8_t bit;
		char c;
	} order[] = {{WIRE_FIN, 'F'}, {WIRE_SYN, 'S'}, {WIRE_RST, 'R'}, {WIRE_PSH, 'P'},
		     {WIRE_URG, 'U'}, {WIRE_ECE, 'E'}, {WIRE_CWR, 'W'}, {WIRE_ACK, '.'}};
	size_t n = 0;

	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		if (flags & order[i].bit)
			out[n++] = order[i].c;
	out[n] = '\0';
}

static bool has_fastopen(const wire_opts *o)
{
	return o->present & (WIRE_HAS_FO | WIRE_HAS_FOEXP);
}

static void cookie_hex(const wire_opts *o, char out[COOKIE_STR_MAX])
{
	static const char hex[] = "0123456789abcdef";
	size_t n = o->fo_len < WIRE_FO_COOKIE_MAX ? o->fo_len : WIRE_FO_COOKIE_MAX;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[o->fo_cookie[i] >> 4];
		out[2 * i + 1] = hex[o->fo_cookie[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static bool reply_is_tcp(const struct probe_raw_info *ri)
{
	return ri->reply == PROBE_RAW_SYNACK || ri->reply == PROBE_RAW_RST;
}

static void json_raw_opts(FILE *f, const wire_opts *o)
{
	char cookie[COOKIE_STR_MAX];

	if (o->present & WIRE_HAS_MSS)
		fprintf(f, ",\"mss\":%u", o->mss);
	else
		fprintf(f, ",\"mss\":null");
	if (o->present & WIRE_HAS_WSCALE)
		fprintf(f, ",\"wscale\":%u", o->wscale);
	else
		fprintf(f, ",\"wscale\":null");
	fprintf(f, ",\"sack_permitted\":%s", o->present & WIRE_HAS_SACKOK ? "true" : "false");
	if (o->present & WIRE_HAS_TS)
		fprintf(f, ",\"timestamps\":{\"val\":%u,\"ecr\":%u}", o->ts_val, o->ts_ecr);
	else
		fprintf(f, ",\"timestamps\":null");
	cookie_hex(o, cookie);
	fprintf(f, ",\"fastopen_cookie\":");
	if (has_fastopen(o))
		json_str(f, cookie);
	else
		fprintf(f, "null");
}

static void json_raw_reply(FILE *f, const struct probe_raw_info *ri)
{
	char flags[FLAGS_STR_MAX], from[PROBE_ADDR_STR_MAX];

	fprintf(f, ",\"answers_syn\":%u,\"matched_by\":\"%s\",\"rtt_ms\":%.3f,\"rtt_us\":%lld",
		ri->answers, match_names[ri->match], ms(ri->rtt_ns),
		(long long)(ri->rtt_ns / PROBE_NS_PER_US));
	fprintf(f, ",\"ttl\":%u", ri->ttl);
	if (reply_is_tcp(ri)) {
		flags_str(ri->flags, flags);
		fprintf(f,
			",\"tos\":%u,\"ip_id\":%u,\"df\":%s,\"flags\":\"%s\",\"seq\":%u,\"ack\":%u,"
			"\"window\":%u",
			ri->tos, ri->ip_id, ri->df ? "true" : "false", flags, ri->seq, ri->ack,
			ri->win);
		json_raw_opts(f, &ri->opts);
	} else {
		probe_addr_str(&ri->icmp_from, false, from, sizeof from);
		fprintf(f, ",\"icmp\":{\"type\":%u,\"code\":%u,\"from\":", ri->icmp_type,
			ri->icmp_code);
		json_str(f, from);
		fputc('}', f);
	}
	fprintf(f, ",\"packet\":");
	json_str(f, ri->packet);
}

static void json_raw(FILE *f, const struct probe_result *r)
{
	const struct probe_raw_info *ri = &r->raw;
	char local[PROBE_ADDR_STR_MAX];

	if (!ri->valid)
		return;
	probe_addr_str(&r->local, true, local, sizeof local);
	fprintf(f, ",\"raw\":{\"local\":");
	json_str(f, local);
	fprintf(f, ",\"syns_sent\":%u,\"reply\":", ri->syns);
	if (ri->reply == PROBE_RAW_NONE)
		fprintf(f, "null");
	else
		fprintf(f, "\"%s\"", reply_names[ri->reply]);
	if (ri->reply != PROBE_RAW_NONE)
		json_raw_reply(f, ri);
	fprintf(f, ",\"rst_sent\":%s}", ri->rst_sent ? "true" : "false");
}

static void json_tls(FILE *f, const struct probe_result *r)
{
	const struct probe_tls_info *t = &r->tls;

	if (!t->version[0])
		return;
	fprintf(f, ",\"tls\":{\"version\":");
	json_str(f, t->version);
	fprintf(f, ",\"cipher\":");
	json_str(f, t->cipher);
	fprintf(f, ",\"alpn\":");
	json_str(f, t->alpn);
	fprintf(f, ",\"subject\":");
	json_str(f, t->subject);
	fprintf(f, ",\"issuer\":");
	json_str(f, t->issuer);
	fprintf(f, ",\"not_after\":");
	json_str(f, t->not_after);
	fprintf(f, ",\"days_left\":%d,\"verified\":%s,\"verify\":", t->days_left,
		t->verified ? "true" : "false");
	json_str(f, t->verify_text);
	fputc('}', f);
}

static void json_attempt(const struct probe_run_opts *o, const struct probe_target *t, unsigned seq,
			 const struct probe_result *r)
{
	FILE *f = o->out;
	char when[TIME_STR_MAX], addr[PROBE_ADDR_STR_MAX];

	iso_time(r->wall_start_ns, when, sizeof when);
	fprintf(f, "{\"type\":\"attempt\",\"target\":");
	json_str(f, t->label);
	fprintf(f, ",\"host\":");
	json_str(f, t->host);
	fprintf(f, ",\"port\":%s,\"seq\":%u,\"time\":\"%s\",\"ok\":%s,\"class\":\"%s\",\"exit\":%d",
		t->port, seq, when, r->class == PROBE_OK ? "true" : "false",
		probe_class_name(r->class), probe_class_exit(r->class));
	if (r->class != PROBE_OK) {
		fprintf(f,
			",\"failed_phase\":\"%s\",\"detail\":", probe_phase_name(r->failed_phase));
		json_str(f, r->detail);
		fprintf(f, ",\"why\":");
		json_str(f, probe_class_why(r->class, r->failed_phase));
		fprintf(f, ",\"next\":");
		json_str(f, probe_class_next(r->class, r->failed_phase));
	}
	json_tries(f, r);
	json_addrs(f, r);
	if (winner_addr(r)) {
		probe_addr_str(winner_addr(r), false, addr, sizeof addr);
		fprintf(f, ",\"address\":");
		json_str(f, addr);
		fprintf(f, ",\"family\":\"%s\",\"local\":",
			probe_family_name(winner_addr(r)->ss_family));
		probe_addr_str(&r->local, true, addr, sizeof addr);
		json_str(f, addr);
	}
	json_phases(f, r);
	json_tcp(f, &r->tcp);
	json_raw(f, r);
	json_tls(f, r);
	if (r->http_status > 0)
		fprintf(f, ",\"http_status\":%d", r->http_status);
	fprintf(f, "}\n");
}

static void json_stats(FILE *f, const char *name, const struct probe_stats *st, bool sep)
{
	fprintf(f, "%s\"%s\":", sep ? "," : "", name);
	if (!st->n) {
		fprintf(f, "null");
		return;
	}
	fprintf(f, "{\"n\":%llu,\"min\":%.3f,\"avg\":%.3f,\"max\":%.3f,\"mdev\":%.3f",
		(unsigned long long)st->n, st->min, probe_stats_avg(st), st->max,
		probe_stats_mdev(st));
	for (size_t k = 0; k < NPCT; k++)
		fprintf(f, ",\"p%.0f\":%.3f", PERCENTILES[k], probe_stats_pct(st, PERCENTILES[k]));
	fputc('}', f);
}

static double loss_pct(const struct probe_summary *s)
{
	return s->sent ? 100.0 * (double)s->failed / (double)s->sent : 0;
}

static void json_summary(const struct probe_run_opts *o, const struct probe_target *t,
			 const struct probe_summary *s)
{
	FILE *f = o->out;

	fprintf(f, "{\"type\":\"summary\",\"target\":");
	json_str(f, t->label);
	fprintf(f, ",\"sent\":%llu,\"succeeded\":%llu,\"failed\":%llu,\"loss_pct\":%.1f",
		(unsigned long long)s->sent, (unsigned long long)s->ok,
		(unsigned long long)s->failed, loss_pct(s));
	fprintf(f, ",\"phases_ms\":{");
	for (int p = 0; p < PROBE_PHASE_COUNT; p++)
		json_stats(f, probe_phase_name(p), &s->phase[p], p > 0);
	json_stats(f, "total", &s->total, true);
	fprintf(f, "}}\n");
}

/* ---- CSV ---- */

static void csv_field(FILE *f, const char *s, bool last)
{
	if (strpbrk(s, ",\"\r\n")) {
		fputc('"', f);
		for (; *s; s++) {
			if (*s == '"')
				fputc('"', f);
			fputc(*s, f);
		}
		fputc('"', f);
	} else {
		fputs(s, f);
	}
	fputc(last ? '\n' : ',', f);
}

static void csv_ms(FILE *f, int64_t ns)
{
	if (ns >= 0)
		fprintf(f, "%.3f", ms(ns));
	fputc(',', f);
}

/* reply,rtt_ms,ttl,window,mss,wscale,sack,timestamps,fastopen_cookie: empty without --raw */
static void csv_raw(FILE *f, const struct probe_raw_info *ri)
{
	const wire_opts *o = &ri->opts;
	char cookie[COOKIE_STR_MAX];

	if (!ri->valid || ri->reply == PROBE_RAW_NONE) {
		fprintf(f, "%s,,,,,,,,", ri->valid ? reply_names[PROBE_RAW_NONE] : "");
		return;
	}
	fprintf(f, "%s,%.3f,%u,", reply_names[ri->reply], ms(ri->rtt_ns), ri->ttl);
	if (!reply_is_tcp(ri)) {
		fprintf(f, ",,,,,,");
		return;
	}
	fprintf(f, "%u,", ri->win);
	if (o->present & WIRE_HAS_MSS)
		fprintf(f, "%u", o->mss);
	fputc(',', f);
	if (o->present & WIRE_HAS_WSCALE)
		fprintf(f, "%u", o->wscale);
	cookie_hex(o, cookie);
	fprintf(f, ",%d,%d,%s,", !!(o->present & WIRE_HAS_SACKOK), !!(o->present & WIRE_HAS_TS),
		cookie);
}

static void csv_attempt(const struct probe_run_opts *o, const struct probe_target *t, unsigned seq,
			const struct probe_result *r)
{
	FILE *f = o->out;
	char when[TIME_STR_MAX], addr[PROBE_ADDR_STR_MAX] = "";

	iso_time(r->wall_start_ns, when, sizeof when);
	if (winner_addr(r))
		probe_addr_str(winner_addr(r), false, addr, sizeof addr);
	csv_field(f, t->label, false);
	fprintf(f, "%u,%s,%s,%d,%s,", seq, when, probe_class_name(r->class),
		probe_class_exit(r->class),
		r->class == PROBE_OK ? "" : probe_phase_name(r->failed_phase));
	csv_field(f, addr, false);
	fprintf(f, "%s,%u,", winner_addr(r) ? probe_family_name(winner_addr(r)->ss_family) : "",
		r->ntries);
	for (int p = 0; p < PROBE_PHASE_COUNT; p++)
		csv_ms(f, r->phase_ns[p]);
	csv_ms(f, r->total_ns);
	if (r->http_status > 0)
		fprintf(f, "%d", r->http_status);
	fputc(',', f);
	csv_field(f, r->tls.version, false);
	csv_field(f, r->tls.cipher, false);
	csv_raw(f, &r->raw);
	csv_field(f, r->detail, true);
}

/* ---- text ---- */

static void text_bar(const struct probe_run_opts *o, const struct probe_result *r)
{
	int64_t sum = 0;
	FILE *f = o->out;

	for (int p = 0; p < PROBE_PHASE_COUNT; p++)
		sum += r->phase_ns[p] > 0 ? r->phase_ns[p] : 0;
	if (sum <= 0)
		return;
	fprintf(f, "  [");
	for (int p = 0; p < PROBE_PHASE_COUNT; p++) {
		int cells;

		if (r->phase_ns[p] < 0)
			continue;
		/* At least one cell, so that a fast phase still shows. */
		cells = (int)((double)r->phase_ns[p] / (double)sum * BAR_WIDTH + 0.5);
		cells = cells < 1 ? 1 : cells;
		fprintf(f, "%s", col(o, bar_colour[p]));
		for (int c = 0; c < cells; c++)
			fputc(o->color && c > 0 ? ' ' : bar_letter[p], f);
		fprintf(f, "%s", col(o, ANSI_RESET));
	}
	fprintf(f, "]");
	for (int p = 0; p < PROBE_PHASE_COUNT; p++)
		if (r->phase_ns[p] >= 0)
			fprintf(f, " %c=%s", bar_letter[p], probe_phase_name(p));
	fputc('\n', f);
}

static void text_line(const struct probe_run_opts *o, const struct probe_target *t, unsigned seq,
		      const struct probe_result *r)
{
	FILE *f = o->out;
	char addr[PROBE_ADDR_STR_MAX] = "";
	bool ok = r->class == PROBE_OK;

	if (winner_addr(r))
		probe_addr_str(winner_addr(r), false, addr, sizeof addr);
	fprintf(f, "%s seq=%u %s%s%s", t->label, seq, col(o, ok ? ANSI_GREEN : ANSI_RED),
		probe_class_name(r->class), col(o, ANSI_RESET));
	for (int p = 0; p < PROBE_PHASE_COUNT; p++)
		if (r->phase_ns[p] >= 0)
			fprintf(f, "  %s %.3f ms", probe_phase_name(p), ms(r->phase_ns[p]));
	fprintf(f, "  total %.3f ms", ms(r->total_ns));
	if (addr[0])
		fprintf(f, "  %s (%s)", addr, probe_family_name(winner_addr(r)->ss_family));
	if (r->http_status > 0)
		fprintf(f, "  status %d", r->http_status);
	if (r->raw.valid && r->raw.reply != PROBE_RAW_NONE)
		fprintf(f, "  %s rtt %.3f ms ttl %u", reply_names[r->raw.reply], ms(r->raw.rtt_ns),
			r->raw.ttl);
	if (r->ntries > 1)
		fprintf(f, "  (%u tries)", r->ntries);
	if (!ok)
		fprintf(f, "  at %s: %s", probe_phase_name(r->failed_phase), r->detail);
	fputc('\n', f);
}

static void text_addrs(FILE *f, const struct probe_result *r)
{
	fprintf(f, "  dns    ");
	for (size_t i = 0; i < r->naddrs; i++) {
		char a[PROBE_ADDR_STR_MAX];

		probe_addr_str(&r->addrs[i].addr, false, a, sizeof a);
		fprintf(f, "%s%s", i ? ", " : "", a);
	}
	fputc('\n', f);
	/* With both families, say how the race went (RFC 8305). */
	for (size_t i = 0; i < r->naddrs && r->naddrs > 1; i++) {
		const struct probe_addr_try *a = &r->addrs[i];
		char s[PROBE_ADDR_STR_MAX];

		if (!a->started)
			continue;
		probe_addr_str(&a->addr, false, s, sizeof s);
		fprintf(f, "         try %-28s at +%.3f ms: %s after %.3f ms%s\n", s,
			ms(a->start_ns), a->cancelled ? "cancelled" : probe_class_name(a->class),
			ms(a->ns), (int)i == r->winner ? "  <- won" : "");
	}
}

static void text_tcp(FILE *f, const struct probe_result *r)
{
	const struct probe_tcp_info *t = &r->tcp;
	char local[PROBE_ADDR_STR_MAX];

	if (!t->valid)
		return;
	probe_addr_str(&r->local, true, local, sizeof local);
	fprintf(f, "  tcp    from %s  rtt %.3f ms  rttvar %.3f ms  rto %.0f ms  mss %u (rcv %u)",
		local, t->rtt_us / 1e3, t->rttvar_us / 1e3, t->rto_us / 1e3, t->snd_mss,
		t->rcv_mss);
	if (t->wscale)
		fprintf(f, "  wscale %u/%u", t->snd_wscale, t->rcv_wscale);
	fprintf(f, "%s%s%s\n", t->sack ? "  sack" : "", t->timestamps ? "  ts" : "",
		t->ecn ? "  ecn" : "");
}

static void text_raw_opts(FILE *f, const struct probe_raw_info *ri)
{
	const wire_opts *o = &ri->opts;
	char cookie[COOKIE_STR_MAX];

	fprintf(f, "         ttl %u  win %u", ri->ttl, ri->win);
	if (o->present & WIRE_HAS_MSS)
		fprintf(f, "  mss %u", o->mss);
	if (o->present & WIRE_HAS_WSCALE)
		fprintf(f, "  wscale %u", o->wscale);
	if (o->present & WIRE_HAS_SACKOK)
		fprintf(f, "  sackOK");
	if (o->present & WIRE_HAS_TS)
		fprintf(f, "  TS val %u ecr %u", o->ts_val, o->ts_ecr);
	cookie_hex(o, cookie);
	if (has_fastopen(o))
		fprintf(f, "  tfo cookie %s", cookie[0] ? cookie : "(empty)");
	fputc('\n', f);
}

/* What the raw SYN got: who answered, how, and the reply as tcpdump prints it. */
static void text_raw(FILE *f, const struct probe_result *r)
{
	const struct probe_raw_info *ri = &r->raw;
	char local[PROBE_ADDR_STR_MAX], from[PROBE_ADDR_STR_MAX];

	if (!ri->valid)
		return;
	probe_addr_str(&r->local, true, local, sizeof local);
	fprintf(f, "  raw    from %s  %u SYN%s sent", local, ri->syns, ri->syns == 1 ? "" : "s");
	if (ri->reply == PROBE_RAW_NONE) {
		fprintf(f, ", no answer (filtered)\n");
		return;
	}
	if (ri->reply == PROBE_RAW_ICMP) {
		probe_addr_str(&ri->icmp_from, false, from, sizeof from);
		fprintf(f, ", ICMP error from %s", from);
	} else {
		fprintf(f, ", %s", ri->reply == PROBE_RAW_SYNACK ? "SYN-ACK" : "RST");
	}
	fprintf(f, " after %.3f ms", ms(ri->rtt_ns));
	if (ri->syns > 1)
		fprintf(f, " (answers SYN %u, by %s)", ri->answers,
			ri->match == PROBE_MATCH_TS_ECHO ? "its TS echo" : "assumption: the last");
	fprintf(f, "%s\n", ri->rst_sent ? "; RST sent" : "");
	if (reply_is_tcp(ri))
		text_raw_opts(f, ri);
	fprintf(f, "         %s\n", ri->packet);
}

static void text_tls(const struct probe_run_opts *o, const struct probe_result *r)
{
	const struct probe_tls_info *t = &r->tls;
	FILE *f = o->out;

	if (!t->version[0])
		return;
	fprintf(f, "  tls    %s  %s  alpn %s\n", t->version, t->cipher, t->alpn[0] ? t->alpn : "-");
	if (!t->have_cert)
		return;
	fprintf(f, "         subject  %s\n         issuer   %s\n", t->subject, t->issuer);
	fprintf(f, "         expires  %s (%d days left)\n", t->not_after, t->days_left);
	fprintf(f, "         verify   %s%s%s%s\n", col(o, t->verified ? ANSI_GREEN : ANSI_RED),
		t->verified ? "ok" : t->verify_text, col(o, ANSI_RESET),
		!t->verified && o->cfg.insecure ? " (ignored: --insecure)" : "");
}

static void text_cumulative(FILE *f, const struct probe_result *r)
{
	int64_t cum[PROBE_PHASE_COUNT];
	static const char *const curl_names[PROBE_PHASE_COUNT] = {
	    "namelookup", "connect", "appconnect", "starttransfer", "starttransfer"};

	cumulative(r, cum);
	fprintf(f, "  cumul  ");
	for (int p = 0; p < PROBE_PHASE_COUNT; p++)
		if (cum[p] >= 0)
			fprintf(f, "%s %.3f  ", curl_names[p], ms(cum[p]));
	fprintf(f, "total %.3f  (ms, cumulative as curl -w)\n", ms(r->total_ns));
}

static void text_details(const struct probe_run_opts *o, const struct probe_result *r)
{
	if (r->naddrs)
		text_addrs(o->out, r);
	text_tcp(o->out, r);
	text_raw(o->out, r);
	text_tls(o, r);
	text_cumulative(o->out, r);
	if (o->bar)
		text_bar(o, r);
}

static void text_explain(const struct probe_run_opts *o, const struct probe_result *r,
			 struct probe_summary *s)
{
	if (r->class == PROBE_OK || s->explained[r->class])
		return;
	s->explained[r->class] = true;
	fprintf(o->out, "  why:   %s\n  next:  %s\n", probe_class_why(r->class, r->failed_phase),
		probe_class_next(r->class, r->failed_phase));
}

void probe_report_start(const struct probe_run_opts *o)
{
	if (o->output == PROBE_OUT_CSV)
		fprintf(o->out, "target,seq,time,class,exit,failed_phase,address,family,tries,"
				"dns_ms,tcp_ms,tls_ms,ws_ms,http_ms,total_ms,http_status,"
				"tls_version,tls_cipher,reply,rtt_ms,ttl,window,mss,wscale,sack,"
				"timestamps,fastopen_cookie,detail\n");
}

void probe_report_attempt(const struct probe_run_opts *o, const struct probe_target *t,
			  unsigned seq, const struct probe_result *r, struct probe_summary *s)
{
	bool first = s->sent == 0;

	probe_summary_add(s, r);
	if (o->output == PROBE_OUT_JSON)
		json_attempt(o, t, seq, r);
	else if (o->output == PROBE_OUT_CSV)
		csv_attempt(o, t, seq, r);
	else {
		text_line(o, t, seq, r);
		if (first || o->verbose)
			text_details(o, r);
		text_explain(o, r, s);
	}
	fflush(o->out);
}

static void state_json(const struct probe_run_opts *o, const struct probe_target *t,
		       const struct probe_result *r, const struct probe_summary *s, double was_s)
{
	char when[TIME_STR_MAX];

	iso_time(r->wall_start_ns, when, sizeof when);
	fprintf(o->out, "{\"type\":\"state\",\"target\":");
	json_str(o->out, t->label);
	fprintf(o->out, ",\"time\":\"%s\",\"state\":\"%s\",\"class\":\"%s\"", when,
		r->class == PROBE_OK ? "up" : "down", probe_class_name(r->class));
	if (s->have_state)
		fprintf(o->out, ",\"previous\":\"%s\",\"previous_s\":%.3f", s->up ? "up" : "down",
			was_s);
	fprintf(o->out, "}\n");
}

static void state_text(const struct probe_run_opts *o, const struct probe_target *t,
		       const struct probe_result *r, const struct probe_summary *s, double was_s)
{
	char when[TIME_STR_MAX];
	bool up = r->class == PROBE_OK;

	iso_time(r->wall_start_ns, when, sizeof when);
	fprintf(o->out, "%s %s %s%s%s", when, t->label, col(o, up ? ANSI_GREEN : ANSI_RED),
		up ? "up" : "down", col(o, ANSI_RESET));
	if (up)
		fprintf(o->out, " (total %.3f ms)", ms(r->total_ns));
	else
		fprintf(o->out, " (%s at %s: %s)", probe_class_name(r->class),
			probe_phase_name(r->failed_phase), r->detail);
	if (s->have_state)
		fprintf(o->out, "; was %s for %.1f s", s->up ? "up" : "down", was_s);
	fputc('\n', o->out);
}

/* --watch: a line only when up/down (or the reason for down) changes, as a health checker. */
void probe_report_state(const struct probe_run_opts *o, const struct probe_target *t,
			const struct probe_result *r, struct probe_summary *s)
{
	bool up = r->class == PROBE_OK;
	int64_t now = r->start_ns;
	double was_s = s->have_state ? (double)(now - s->state_since_ns) / PROBE_NS_PER_S : 0;

	probe_summary_add(s, r);
	if (s->have_state && s->up == up && (up || s->state_class == r->class))
		return;
	if (o->output == PROBE_OUT_JSON)
		state_json(o, t, r, s, was_s);
	else if (o->output == PROBE_OUT_CSV)
		csv_attempt(o, t, (unsigned)s->sent, r);
	else
		state_text(o, t, r, s, was_s);
	if (o->output == PROBE_OUT_TEXT && !up)
		text_explain(o, r, s);
	s->have_state = true;
	s->up = up;
	s->state_class = r->class;
	s->state_since_ns = now;
	fflush(o->out);
}

static void text_stats_row(FILE *f, const char *name, const struct probe_stats *st)
{
	if (!st->n)
		return;
	fprintf(f, "  %-6s %9.3f %9.3f %9.3f %9.3f", name, st->min, probe_stats_avg(st), st->max,
		probe_stats_mdev(st));
	for (size_t k = 0; k < NPCT; k++)
		fprintf(f, " %9.3f", probe_stats_pct(st, PERCENTILES[k]));
	fputc('\n', f);
}

void probe_report_summary(const struct probe_run_opts *o, const struct probe_target *t,
			  const struct probe_summary *s)
{
	FILE *f = o->out;

	if (o->output == PROBE_OUT_JSON) {
		json_summary(o, t, s);
	} else if (o->output == PROBE_OUT_TEXT && (s->sent > 1 || o->watch)) {
		fprintf(f, "--- %s probe statistics ---\n", t->label);
		fprintf(f, "%llu sent, %llu succeeded, %llu failed, %.1f%% loss\n",
			(unsigned long long)s->sent, (unsigned long long)s->ok,
			(unsigned long long)s->failed, loss_pct(s));
		fprintf(f, "  %-6s %9s %9s %9s %9s %9s %9s %9s  (ms)\n", "phase", "min", "avg",
			"max", "mdev", "p50", "p90", "p99");
		for (int p = 0; p < PROBE_PHASE_COUNT; p++)
			text_stats_row(f, probe_phase_name(p), &s->phase[p]);
		text_stats_row(f, "total", &s->total);
	}
	fflush(f);
}
