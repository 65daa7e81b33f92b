/*
 * trace.c — `synack trace FILE.pcap`: prints each packet as `tcpdump -n -r`
 * does, then the timing of every TCP handshake in the capture, and on request
 * a ladder diagram of each connection (terminal or SVG) or JSON lines.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "observe/obs_internal.h"
#include "observe/observe.h"

#define ERR_MAX 512
#define ENDPOINT_MAX 64

typedef struct trace_opts {
	const char *path;
	const char *svg_path;
	bool ladder, lines, json, ascii;
} trace_opts;

/* An IP packet kept in memory for the ladders. */
typedef struct held {
	int64_t ts;
	size_t caplen;
	uint8_t *data;
} held;

typedef struct capture {
	held *v;
	size_t n, cap;
} capture;

static void usage(FILE *f)
{
	fprintf(f, "usage: synack trace FILE.pcap [--ladder] [--svg FILE] [--no-lines] [--json]\n"
		   "                    [--no-unicode] [--help]\n"
		   "\n"
		   "Prints each packet as `tcpdump -n -r FILE` does, then the timing of each\n"
		   "TCP handshake: SYN -> SYN-ACK, SYN-ACK -> ACK, retransmitted SYNs,\n"
		   "refusals (RST answers) and SYNs left unanswered.\n"
		   "\n"
		   "  --ladder      draw a ladder diagram of each connection\n"
		   "  --svg FILE    write the ladder of the first connection as SVG\n"
		   "  --no-lines    do not print the packet lines\n"
		   "  --json        JSON lines: one per packet, then one per handshake\n"
		   "  --no-unicode  ASCII arrows in the ladder\n"
		   "\n"
		   "Reads pcap and pcapng: raw IP, Ethernet (VLAN tags too), Linux cooked\n"
		   "(SLL, SLL2) and BSD loopback captures. Exit status 2 for unreadable input.\n");
}

/* Returns -1 to run, or the exit status. */
static int parse_args(int argc, char **argv, trace_opts *o)
{
	memset(o, 0, sizeof *o);
	o->lines = true;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(a, "--ladder")) {
			o->ladder = true;
		} else if (!strcmp(a, "--no-lines")) {
			o->lines = false;
		} else if (!strcmp(a, "--json")) {
			o->json = true;
		} else if (!strcmp(a, "--no-unicode")) {
			o->ascii = true;
		} else if (!strcmp(a, "--svg")) {
			if (++i >= argc) {
				fprintf(stderr, "synack trace: --svg needs a file name\n");
				return EXIT_USAGE;
			}
			o->svg_path = argv[i];
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr,
				"synack trace: unknown option '%s' (see synack trace --help)\n", a);
			return EXIT_USAGE;
		} else if (o->path) {
			fprintf(stderr, "synack trace: one capture file at a time\n");
			return EXIT_USAGE;
		} else {
			o->path = a;
		}
	}
	if (!o->path) {
		fprintf(stderr, "synack trace: no capture file given (see synack trace --help)\n");
		return EXIT_USAGE;
	}
	return -1;
}

static int hold(capture *c, const obs_packet *p)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		held *v = realloc(c->v, cap * sizeof *v);

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	held *h = &c->v[c->n];
	h->data = malloc(p->caplen ? p->caplen : 1);
	if (!h->data)
		return -ENOMEM;
	memcpy(h->data, p->ip, p->caplen);
	h->ts = p->ts_usec;
	h->caplen = p->caplen;
	c->n++;
	return 0;
}

static void release(capture *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].data);
	free(c->v);
}

/* One run over a capture: packets are printed and followed as they are read;
 * they are kept in memory only when a ladder is wanted. */
typedef struct trace_run {
	const trace_opts *o;
	obs_flows *flows;
	obs_handshakes *hs;
	capture kept;
} trace_run;

static void print_packet(trace_run *t, const obs_packet *p)
{
	char line[OBS_LINE_MAX], when[32];

	if (t->o->json) {
		obs_json_packet(p->ts_usec, p->ip, p->caplen, line, sizeof line);
		puts(line);
		return;
	}
	obs_format_time(p->ts_usec, when, sizeof when);
	if (p->is_ip)
		obs_tcpdump_capture(t->flows, -1, p->ip, p->caplen, p->wire_len, line, sizeof line);
	else /* ARP as tcpdump prints it, other protocols briefly */
		obs_tcpdump_other(p->ethertype, p->ip, p->caplen, p->wire_len, line, sizeof line);
	printf("%s %s%s\n", when, p->link_prefix, line);
}

/* Reads the whole capture. Returns 0, or EXIT_USAGE after one line on stderr
 * (a damaged file: the packets before the damage have been printed, as
 * tcpdump does), or EXIT_FAIL when out of memory. */
static int run_capture(trace_run *t, const char *path)
{
	char err[ERR_MAX] = "";
	obs_pcap_reader *r;
	obs_packet p;
	int rc = obs_pcap_open(path, &r, err, sizeof err);

	if (rc < 0) {
		fprintf(stderr, "synack trace: %s\n", err[0] ? err : strerror(-rc));
		return EXIT_USAGE;
	}
	while ((rc = obs_pcap_next(r, &p, err, sizeof err)) > 0) {
		if (t->o->lines)
			print_packet(t, &p);
		if (p.is_ip && obs_handshakes_packet(t->hs, p.ts_usec, p.ip, p.caplen) < 0)
			break;
		if ((t->o->ladder || t->o->svg_path) && p.is_ip && hold(&t->kept, &p) < 0)
			break;
	}
	obs_pcap_reader_close(r);
	if (rc < 0) {
		fflush(stdout);
		fprintf(stderr, "synack trace: %s: %s\n", path, err);
		return EXIT_USAGE;
	}
	if (rc > 0) {
		fprintf(stderr, "synack trace: out of memory\n");
		return EXIT_FAIL;
	}
	return 0;
}

/* "addr.port" of a packet's source and destination, as handshakes names them. */
static bool endpoints(const held *h, char *src, char *dst)
{
	obs_tcp_view v;
	obs_buf b;

	if (!obs_tcp_view_parse(h->data, h->caplen, &v))
		return false;
	obs_buf_init(&b, src, ENDPOINT_MAX);
	obs_buf_addr(&b, v.family, v.src);
	obs_buf_printf(&b, ".%u", v.sport);
	obs_buf_init(&b, dst, ENDPOINT_MAX);
	obs_buf_addr(&b, v.family, v.dst);
	obs_buf_printf(&b, ".%u", v.dport);
	return true;
}

typedef struct ladder_job {
	const trace_opts *o;
	const capture *c;
	size_t index; /* which connection attempt this is */
	int rc;
} ladder_job;

/* Builds the ladder of the packets between client and server. */
static obs_ladder *build_ladder(const capture *c, const char *client, const char *server)
{
	char src[ENDPOINT_MAX], dst[ENDPOINT_MAX];
	obs_ladder *l = obs_ladder_new();

	if (!l)
		return NULL;
	obs_ladder_names(l, client, server);
	for (size_t i = 0; i < c->n; i++) {
		const held *h = &c->v[i];

		if (!endpoints(h, src, dst))
			continue;
		if (!strcmp(src, client) && !strcmp(dst, server))
			obs_ladder_packet(l, h->ts, OBS_CLIENT, h->data, h->caplen);
		else if (!strcmp(src, server) && !strcmp(dst, client))
			obs_ladder_packet(l, h->ts, OBS_SERVER, h->data, h->caplen);
	}
	return l;
}

static void write_svg(ladder_job *job, obs_ladder *l)
{
	FILE *f = fopen(job->o->svg_path, "w");

	if (!f || obs_ladder_render_svg(l, f) < 0) {
		fprintf(stderr, "synack trace: %s: %s\n", job->o->svg_path, strerror(errno));
		job->rc = EXIT_FAIL;
	}
	if (f && fclose(f) != 0 && !job->rc) {
		fprintf(stderr, "synack trace: %s: %s\n", job->o->svg_path, strerror(errno));
		job->rc = EXIT_FAIL;
	}
}

static void ladder_one(void *ctx, const char *client, const char *server)
{
	ladder_job *job = ctx;
	obs_ladder *l;

	if (!job->o->ladder && !(job->o->svg_path && job->index == 0)) {
		job->index++;
		return;
	}
	l = build_ladder(job->c, client, server);
	if (!l) {
		job->rc = EXIT_FAIL;
		return;
	}
	if (job->o->ladder) {
		printf("\n");
		obs_ladder_render_text(l, stdout, job->o->ascii ? OBS_LADDER_ASCII : 0);
	}
	if (job->o->svg_path && job->index == 0)
		write_svg(job, l);
	obs_ladder_free(l);
	job->index++;
}

static int report(trace_run *t)
{
	const trace_opts *o = t->o;
	ladder_job job = {.o = o, .c = &t->kept};

	if (o->json) {
		obs_handshakes_report_json(t->hs, stdout);
	} else {
		if (o->lines)
			printf("\n");
		if (!obs_handshakes_report(t->hs, stdout))
			printf("no TCP handshake in the capture\n");
	}
	obs_handshakes_each(t->hs, ladder_one, &job);
	if (o->svg_path && job.index == 0) {
		fprintf(stderr, "synack trace: no connection to draw in %s\n", o->svg_path);
		job.rc = EXIT_FAIL;
	}
	return job.rc;
}

int cmd_trace(int argc, char **argv)
{
	trace_opts o;
	trace_run t = {.o = &o};
	int rc = parse_args(argc, argv, &o);

	if (rc >= 0)
		return rc;
	tzset(); /* tcpdump prints local time: honour TZ */
	t.flows = obs_flows_new();
	t.hs = obs_handshakes_new();
	if (!t.flows || !t.hs)
		rc = EXIT_FAIL;
	else
		rc = run_capture(&t, o.path);
	if (!rc)
		rc = report(&t);
	release(&t.kept);
	obs_handshakes_free(t.hs);
	obs_flows_free(t.flows);
	if (fflush(stdout) != 0 && !rc)
		rc = EXIT_FAIL;
	return rc;
}
