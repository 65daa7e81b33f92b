/*
 * ladder.c — ladder (sequence) diagrams of one connection: the client's
 * timeline on the left, the server's on the right, one arrow per packet and
 * the state names each side went through. Drawn for a terminal (UTF-8 or
 * ASCII) or as a standalone SVG document.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "observe/obs_internal.h"
#include "observe/observe.h"
#include "wire/wire.h"

#define LADDER_NAME_MAX 64
#define LADDER_STATE_MAX 24
#define LADDER_LABEL_MAX 96
#define LADDER_NONE INT64_MIN
#define USEC_PER_MSEC 1000
#define USEC_PER_SEC 1000000

/* Terminal layout: time column, state column, the rungs between the bars. */
#define TXT_TIME_W 12
#define TXT_STATE_W 13
#define TXT_MIN_ARROW 36
#define TXT_ARROW_PAD 8 /* dashes around the label and the head */

/* SVG layout, in pixels. */
#define SVG_WIDTH 860
#define SVG_LEFT_X 260
#define SVG_RIGHT_X 700
#define SVG_TOP 70
#define SVG_ROW 34	 /* between two distinct instants */
#define SVG_FLAT_DROP 10 /* slope of an arrow whose arrival is unknown */
#define SVG_BOTTOM 40
#define SVG_FONT 13
#define SVG_LABEL_LIFT 5 /* gap between an arrow and its label */
#define DEG_PER_RAD (180.0 / 3.14159265358979323846)
#define SVG_TIME_X 96 /* right edge of the time column */

typedef enum ev_kind { EV_PACKET, EV_STATE } ev_kind;

typedef struct ladder_ev {
	ev_kind kind;
	obs_side side;
	int64_t t, t_recv; /* t_recv: LADDER_NONE when unknown */
	bool dropped;
	char state[LADDER_STATE_MAX];
	obs_tcp_view tcp; /* pointers cleared: only numbers are kept */
	bool is_tcp;
} ladder_ev;

struct obs_ladder {
	ladder_ev *ev;
	size_t n, cap;
	char names[2][LADDER_NAME_MAX];
};

obs_ladder *obs_ladder_new(void)
{
	obs_ladder *l = calloc(1, sizeof *l);

	if (l)
		obs_ladder_names(l, "client", "server");
	return l;
}

void obs_ladder_free(obs_ladder *l)
{
	if (!l)
		return;
	free(l->ev);
	free(l);
}

void obs_ladder_names(obs_ladder *l, const char *client, const char *server)
{
	snprintf(l->names[OBS_CLIENT], LADDER_NAME_MAX, "%s", client);
	snprintf(l->names[OBS_SERVER], LADDER_NAME_MAX, "%s", server);
}

static ladder_ev *push(obs_ladder *l)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		ladder_ev *v = realloc(l->ev, cap * sizeof *v);

		if (!v)
			return NULL;
		l->ev = v;
		l->cap = cap;
	}
	ladder_ev *e = &l->ev[l->n++];
	memset(e, 0, sizeof *e);
	e->t_recv = LADDER_NONE;
	return e;
}

int obs_ladder_packet(obs_ladder *l, int64_t t_usec, obs_side from, const uint8_t *pkt, size_t len)
{
	ladder_ev *e = push(l);

	if (!e)
		return -ENOMEM;
	e->kind = EV_PACKET;
	e->side = from;
	e->t = t_usec;
	e->is_tcp = obs_tcp_view_parse(pkt, len, &e->tcp);
	e->tcp.src = e->tcp.dst = NULL; /* they pointed into the caller's packet */
	return (int)(l->n - 1);
}

void obs_ladder_received(obs_ladder *l, int index, int64_t t_usec)
{
	if (index >= 0 && (size_t)index < l->n)
		l->ev[index].t_recv = t_usec;
}

void obs_ladder_dropped(obs_ladder *l, int index)
{
	if (index >= 0 && (size_t)index < l->n)
		l->ev[index].dropped = true;
}

int obs_ladder_state(obs_ladder *l, int64_t t_usec, obs_side side, const char *name)
{
	ladder_ev *e = push(l);

	if (!e)
		return -ENOMEM;
	e->kind = EV_STATE;
	e->side = side;
	e->t = t_usec;
	snprintf(e->state, sizeof e->state, "%s", name);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Labels                                                                    */

/* Each side's first sequence number, so that labels can be relative. */
typedef struct isns {
	bool known[2];
	uint32_t isn[2];
} isns;

static void find_isns(const obs_ladder *l, isns *s)
{
	memset(s, 0, sizeof *s);
	for (size_t i = 0; i < l->n; i++) {
		const ladder_ev *e = &l->ev[i];

		if (e->kind == EV_PACKET && e->is_tcp && !s->known[e->side]) {
			s->known[e->side] = true;
			s->isn[e->side] = e->tcp.seq;
		}
	}
}

/* "[S.] seq 0 ack 1 win 65160", "[P.] seq 1:101 ack 1 len 100". */
static void packet_label(const ladder_ev *e, const isns *s, char *out, size_t cap)
{
	obs_buf b;
	obs_side peer = e->side == OBS_CLIENT ? OBS_SERVER : OBS_CLIENT;
	const obs_tcp_view *v = &e->tcp;

	obs_buf_init(&b, out, cap);
	if (!e->is_tcp) {
		obs_buf_puts(&b, "(not TCP)");
		return;
	}
	uint32_t seq = v->seq - (s->known[e->side] ? s->isn[e->side] : 0);
	obs_buf_puts(&b, "[");
	obs_buf_tcp_flags(&b, v->flags);
	obs_buf_printf(&b, "] seq %u", seq);
	if (v->payload_len)
		obs_buf_printf(&b, ":%u", seq + v->payload_len);
	if (v->flags & WIRE_ACK)
		obs_buf_printf(&b, " ack %u", v->ack - (s->known[peer] ? s->isn[peer] : 0));
	if (v->payload_len)
		obs_buf_printf(&b, " len %u", v->payload_len);
	else
		obs_buf_printf(&b, " win %u", v->win);
}

/* "0.045 ms", "1.003021 s": microseconds either way */
static void time_label(int64_t usec, char *out, size_t cap)
{
	if (usec < USEC_PER_SEC)
		snprintf(out, cap, "%" PRId64 ".%03" PRId64 " ms", usec / USEC_PER_MSEC,
			 usec % USEC_PER_MSEC);
	else
		snprintf(out, cap, "%" PRId64 ".%06" PRId64 " s", usec / USEC_PER_SEC,
			 usec % USEC_PER_SEC);
}

/* Events in time order; equal times keep the order they were recorded in. */
static int cmp_ev(const void *a, const void *b)
{
	const ladder_ev *x = *(const ladder_ev *const *)a, *y = *(const ladder_ev *const *)b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x < y ? -1 : x > y;
}

static const ladder_ev **sorted(const obs_ladder *l)
{
	const ladder_ev **v = malloc((l->n ? l->n : 1) * sizeof *v);

	if (!v)
		return NULL;
	for (size_t i = 0; i < l->n; i++)
		v[i] = &l->ev[i];
	qsort(v, l->n, sizeof *v, cmp_ev);
	return v;
}

static int64_t first_time(const ladder_ev **v, size_t n)
{
	return n ? v[0]->t : 0;
}

/* ------------------------------------------------------------------------ */
/* Terminal                                                                  */

typedef struct glyphs {
	const char *bar, *dash, *head_r, *head_l, *lost;
} glyphs;

static const glyphs utf8_glyphs = {"\u2502", "\u2500", "\u25ba", "\u25c4", "\u2715"};
static const glyphs ascii_glyphs = {"|", "-", ">", "<", "x"};

static void repeat(FILE *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fputs(s, out);
}

/* One rung: width cells between the bars, the label inside. */
static void draw_arrow(FILE *out, const glyphs *g, const ladder_ev *e, const char *label,
		       size_t width)
{
	size_t lab = strlen(label);
	bool right = e->side == OBS_CLIENT;
	size_t lead = 2;
	size_t body = width - 1; /* all but the head */

	if (e->dropped) {
		/* the arrow stops two thirds of the way, ending in a cross */
		size_t len = width * 2 / 3;
		size_t tail = len > lab + lead + 2 ? len - lab - lead - 2 : 1;

		if (right) {
			repeat(out, g->dash, lead);
			fprintf(out, " %s ", label);
			repeat(out, g->dash, tail);
			fputs(g->lost, out);
			repeat(out, " ", width - (lead + lab + 2 + tail + 1));
		} else {
			repeat(out, " ", width - (lead + lab + 2 + tail + 1));
			fputs(g->lost, out);
			repeat(out, g->dash, tail);
			fprintf(out, " %s ", label);
			repeat(out, g->dash, lead);
		}
		return;
	}
	if (right) {
		repeat(out, g->dash, lead);
		fprintf(out, " %s ", label);
		repeat(out, g->dash, body - lead - lab - 2);
		fputs(g->head_r, out);
	} else {
		fputs(g->head_l, out);
		repeat(out, g->dash, lead);
		fprintf(out, " %s ", label);
		repeat(out, g->dash, body - lead - lab - 2);
	}
}

static size_t arrow_width(const obs_ladder *l, const isns *s)
{
	size_t w = TXT_MIN_ARROW;
	char label[LADDER_LABEL_MAX];

	for (size_t i = 0; i < l->n; i++) {
		if (l->ev[i].kind != EV_PACKET)
			continue;
		packet_label(&l->ev[i], s, label, sizeof label);
		if (strlen(label) + TXT_ARROW_PAD > w)
			w = strlen(label) + TXT_ARROW_PAD;
	}
	return w;
}

/* Each name centred over its bar (the client's may not start before the
 * line does). */
static void print_headings(const obs_ladder *l, FILE *out, size_t width)
{
	size_t left_bar = TXT_TIME_W + TXT_STATE_W, right_bar = left_bar + 1 + width;
	size_t cl = strlen(l->names[OBS_CLIENT]), sl = strlen(l->names[OBS_SERVER]);
	size_t cstart = left_bar > cl / 2 ? left_bar - cl / 2 : 0;
	size_t sstart = right_bar - sl / 2;

	if (sstart < cstart + cl + 2)
		sstart = cstart + cl + 2;
	fprintf(out, "%*s%s%*s%s\n", (int)cstart, "", l->names[OBS_CLIENT],
		(int)(sstart - cstart - cl), "", l->names[OBS_SERVER]);
}

int obs_ladder_render_text(const obs_ladder *l, FILE *out, unsigned flags)
{
	const glyphs *g = (flags & OBS_LADDER_ASCII) ? &ascii_glyphs : &utf8_glyphs;
	const ladder_ev **v = sorted(l);
	char label[LADDER_LABEL_MAX], when[32];
	isns s;

	if (!v)
		return -ENOMEM;
	find_isns(l, &s);
	size_t width = arrow_width(l, &s);
	int64_t t0 = first_time(v, l->n);

	print_headings(l, out, width);
	for (size_t i = 0; i < l->n; i++) {
		const ladder_ev *e = v[i];

		time_label(e->t - t0, when, sizeof when);
		fprintf(out, "%*s ", TXT_TIME_W - 1, when);
		if (e->kind == EV_STATE) {
			fprintf(out, "%*s %s", TXT_STATE_W - 1,
				e->side == OBS_CLIENT ? e->state : "", g->bar);
			repeat(out, " ", width);
			fprintf(out, "%s%s%s\n", g->bar, e->side == OBS_SERVER ? " " : "",
				e->side == OBS_SERVER ? e->state : "");
			continue;
		}
		packet_label(e, &s, label, sizeof label);
		fprintf(out, "%*s %s", TXT_STATE_W - 1, "", g->bar);
		draw_arrow(out, g, e, label, width);
		fprintf(out, "%s\n", g->bar);
	}
	free(v);
	return ferror(out) ? -EIO : 0;
}

/* ------------------------------------------------------------------------ */
/* SVG                                                                       */

static void xml_text(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '&':
			fputs("&amp;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		default:
			fputc(*s, out);
			break;
		}
	}
}

/* Instants get rows in time order, so that slopes show order without a long
 * wait (a 1 s retransmission timeout) crushing the millisecond exchanges. */
typedef struct rows {
	int64_t *t;
	size_t n;
} rows;

static int cmp_time(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int make_rows(const obs_ladder *l, rows *r)
{
	r->t = malloc((2 * l->n + 1) * sizeof *r->t);
	r->n = 0;
	if (!r->t)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++) {
		r->t[r->n++] = l->ev[i].t;
		if (l->ev[i].t_recv != LADDER_NONE)
			r->t[r->n++] = l->ev[i].t_recv;
	}
	qsort(r->t, r->n, sizeof *r->t, cmp_time);
	size_t k = 0;
	for (size_t i = 0; i < r->n; i++)
		if (!k || r->t[k - 1] != r->t[i])
			r->t[k++] = r->t[i];
	r->n = k;
	return 0;
}

static int row_y(const rows *r, int64_t t)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (r->t[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SVG_TOP + SVG_ROW * (int)lo + SVG_ROW;
}

static void svg_header(const obs_ladder *l, FILE *out, int height)
{
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(out,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" font-family=\"monospace\" font-size=\"%d\">\n",
		SVG_WIDTH, height, SVG_WIDTH, height, SVG_FONT);
	fprintf(out, "<defs>\n"
		     "<marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
		     "markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\">"
		     "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"#1f4e79\"/></marker>\n"
		     "</defs>\n");
	fprintf(out, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	for (int side = 0; side < 2; side++) {
		int x = side == OBS_CLIENT ? SVG_LEFT_X : SVG_RIGHT_X;

		fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-weight=\"bold\">",
			x, SVG_TOP - 30);
		xml_text(out, l->names[side]);
		fprintf(out,
			"</text>\n<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
			"stroke=\"#555\" stroke-width=\"2\"/>\n",
			x, SVG_TOP - 15, x, height - SVG_BOTTOM / 2);
	}
}

static void svg_packet(FILE *out, const ladder_ev *e, const rows *r, const isns *s, int64_t t0)
{
	char label[LADDER_LABEL_MAX], when[32];
	int x1 = e->side == OBS_CLIENT ? SVG_LEFT_X : SVG_RIGHT_X;
	int x2 = e->side == OBS_CLIENT ? SVG_RIGHT_X : SVG_LEFT_X;
	int y1 = row_y(r, e->t);
	int y2 = e->t_recv != LADDER_NONE ? row_y(r, e->t_recv) : y1 + SVG_FLAT_DROP;

	packet_label(e, s, label, sizeof label);
	time_label(e->t - t0, when, sizeof when);
	fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" fill=\"#777\">%s</text>\n",
		SVG_TIME_X, y1 + 4, when);
	if (e->dropped) {
		/* lost: a dashed arrow stopping two thirds of the way, and a cross */
		int xe = x1 + (x2 - x1) * 2 / 3, ye = y1 + (y2 - y1) * 2 / 3;

		fprintf(out,
			"<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#b00\" "
			"stroke-width=\"1.5\" stroke-dasharray=\"6,4\"/>\n",
			x1, y1, xe, ye);
		fprintf(out,
			"<path d=\"M%d,%d l12,12 M%d,%d l12,-12\" stroke=\"#b00\" "
			"stroke-width=\"2.5\"/>\n",
			xe - 6, ye - 6, xe - 6, ye + 6);
	} else {
		fprintf(out,
			"<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#1f4e79\" "
			"stroke-width=\"1.5\" marker-end=\"url(#head)\"/>\n",
			x1, y1, x2, y2);
	}
	/* the label runs along its arrow, just above it, read left to right */
	int xl = x1 < x2 ? x1 : x2, yl = x1 < x2 ? y1 : y2;
	int xr = x1 < x2 ? x2 : x1, yr = x1 < x2 ? y2 : y1;
	double angle = atan2((double)(yr - yl), (double)(xr - xl)) * DEG_PER_RAD;
	fprintf(out,
		"<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
		"transform=\"rotate(%.2f %d %d)\"%s>",
		(x1 + x2) / 2, (y1 + y2) / 2 - SVG_LABEL_LIFT, angle, (x1 + x2) / 2, (y1 + y2) / 2,
		e->dropped ? " fill=\"#b00\"" : "");
	xml_text(out, label);
	fprintf(out, "</text>\n");
}

static void svg_state(FILE *out, const ladder_ev *e, const rows *r)
{
	bool left = e->side == OBS_CLIENT;
	int x = left ? SVG_LEFT_X - 8 : SVG_RIGHT_X + 8;
	int y = row_y(r, e->t);

	fprintf(out, "<circle cx=\"%d\" cy=\"%d\" r=\"3\" fill=\"#2e7d32\"/>\n",
		left ? SVG_LEFT_X : SVG_RIGHT_X, y);
	fprintf(out,
		"<text x=\"%d\" y=\"%d\" text-anchor=\"%s\" fill=\"#2e7d32\" "
		"font-weight=\"bold\">",
		x, y + 4, left ? "end" : "start");
	xml_text(out, e->state);
	fprintf(out, "</text>\n");
}

int obs_ladder_render_svg(const obs_ladder *l, FILE *out)
{
	const ladder_ev **v = sorted(l);
	rows r;
	isns s;

	if (!v)
		return -ENOMEM;
	if (make_rows(l, &r) < 0) {
		free(v);
		return -ENOMEM;
	}
	find_isns(l, &s);
	int height = SVG_TOP + SVG_ROW * ((int)r.n + 1) + SVG_FLAT_DROP + SVG_BOTTOM;
	int64_t t0 = first_time(v, l->n);

	svg_header(l, out, height);
	for (size_t i = 0; i < l->n; i++) {
		if (v[i]->kind == EV_PACKET)
			svg_packet(out, v[i], &r, &s, t0);
		else
			svg_state(out, v[i], &r);
	}
	fprintf(out, "</svg>\n");
	free(r.t);
	free(v);
	return ferror(out) ? -EIO : 0;
}
