/*
 * parse.c — packetdrill scripts into events. The grammar is packetdrill's
 * (parser.y): `TIME ACTION` where ACTION is a packet (`<` injected, `>`
 * expected), a system call `name(args) = result [ERRNO (text)]`, a `shell`
 * command or a %{ python }% block; `--option=value` lines may come first and
 * a backtick command may stand without a time at the start and the end.
 */
#include "script.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lex.h"
#include "wire/wire.h"

#define U16_MAX 0xffff
#define U32_MAX 0xffffffffLL
#define MD5_DIGEST_LEN 16
#define MD5_OPT_LEN (2 + MD5_DIGEST_LEN) /* RFC 2385: kind, length, digest */
#define OPT_ALIGN 4			 /* TCP header length unit */

typedef struct parser {
	const char *path;
	char *dir; /* the script's directory, for shell files */
	lex_token *toks;
	size_t ntoks, pos;
	script *s;
	char *err;
	size_t errcap;
} parser;

static int perr(parser *p, int line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(p->err, p->errcap, "%s:%d: ", p->path, line);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < p->errcap)
		vsnprintf(p->err + n, p->errcap - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static lex_token *peek(parser *p)
{
	return &p->toks[p->pos];
}
static lex_token *peek2(parser *p)
{
	return p->pos + 1 < p->ntoks ? &p->toks[p->pos + 1] : &p->toks[p->ntoks - 1];
}
static lex_token *next(parser *p)
{
	lex_token *t = &p->toks[p->pos];

	if (t->type != TK_EOF)
		p->pos++;
	return t;
}

static bool is_punct(const lex_token *t, char c)
{
	return t->type == TK_PUNCT && t->punct == c;
}
static bool is_word(const lex_token *t, const char *w)
{
	return t->type == TK_WORD && !strcmp(t->text, w);
}

static const char *tok_desc(const lex_token *t)
{
	return t->type == TK_EOF ? "end of file" : t->text;
}

static int expect_punct(parser *p, char c)
{
	lex_token *t = next(p);

	if (!is_punct(t, c))
		return perr(p, t->line, "syntax error: expected '%c' but found '%s'", c,
			    tok_desc(t));
	return 0;
}

static int expect_int(parser *p, const char *what, int64_t lo, int64_t hi, int64_t *v)
{
	lex_token *t = next(p);

	if (t->type != TK_INT)
		return perr(p, t->line, "syntax error: expected %s but found '%s'", what,
			    tok_desc(t));
	if (t->num < lo || t->num > hi)
		return perr(p, t->line, "%s out of range: %s", what, t->text);
	*v = t->num;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Expressions                                                               */

static void expr_free(script_expr *e)
{
	if (!e)
		return;
	free(e->text);
	expr_free(e->lhs);
	expr_free(e->rhs);
	for (size_t i = 0; i < e->count; i++)
		expr_free(e->items[i]);
	free(e->items);
	free(e);
}

static script_expr *expr_new(script_expr_type type)
{
	script_expr *e = calloc(1, sizeof *e);

	if (e)
		e->type = type;
	return e;
}

static int parse_expr(parser *p, script_expr **out);

static int expr_append(script_expr *list, script_expr *item)
{
	script_expr **n = realloc(list->items, (list->count + 1) * sizeof *n);

	if (!n)
		return -1;
	list->items = n;
	list->items[list->count++] = item;
	return 0;
}

/* a, b, c up to the closing character (consumed). */
static int parse_expr_list(parser *p, script_expr *list, char close)
{
	if (is_punct(peek(p), close)) {
		next(p);
		return 0;
	}
	for (;;) {
		script_expr *item = NULL;

		if (parse_expr(p, &item) < 0)
			return -1;
		if (expr_append(list, item) < 0) {
			expr_free(item);
			return perr(p, peek(p)->line, "out of memory");
		}
		lex_token *t = next(p);
		if (is_punct(t, close))
			return 0;
		if (!is_punct(t, ','))
			return perr(p, t->line, "syntax error: expected ',' or '%c' but found '%s'",
				    close, tok_desc(t));
	}
}

static int parse_string_expr(parser *p, script_expr *e)
{
	size_t len = 0;

	/* Adjacent strings concatenate, as in C; "text"... is a prefix. */
	while (peek(p)->type == TK_STRING) {
		lex_token *t = next(p);
		size_t add = strlen(t->text);
		char *n = realloc(e->text, len + add + 1);

		if (!n)
			return perr(p, t->line, "out of memory");
		memcpy(n + len, t->text, add + 1);
		e->text = n;
		len += add;
	}
	if (peek(p)->type == TK_ELLIPSIS)
		next(p);
	return 0;
}

static int parse_primary(parser *p, script_expr **out)
{
	lex_token *t = peek(p);
	script_expr *e = NULL;
	int rc = 0;

	if (t->type == TK_ELLIPSIS) {
		next(p);
		e = expr_new(SX_ELLIPSIS);
	} else if (t->type == TK_INT) {
		next(p);
		e = expr_new(SX_INT);
		if (e)
			e->num = t->num;
	} else if (t->type == TK_STRING) {
		e = expr_new(SX_STRING);
		if (e)
			rc = parse_string_expr(p, e);
	} else if (is_punct(t, '[') || is_punct(t, '{')) {
		next(p);
		e = expr_new(t->punct == '[' ? SX_LIST : SX_STRUCT);
		if (e)
			rc = parse_expr_list(p, e, t->punct == '[' ? ']' : '}');
	} else if (t->type == TK_WORD) {
		next(p);
		bool call = is_punct(peek(p), '(');
		e = expr_new(call ? SX_CALL : SX_WORD);
		if (e) {
			e->text = strdup(t->text);
			if (call) {
				next(p);
				rc = parse_expr_list(p, e, ')');
			}
		}
	} else {
		return perr(p, t->line, "syntax error: unexpected '%s' in an expression",
			    tok_desc(t));
	}
	if (!e)
		return perr(p, t->line, "out of memory");
	if (rc < 0) {
		expr_free(e);
		return -1;
	}
	*out = e;
	return 0;
}

/* primary ['=' expr] ('|' primary)* */
static int parse_expr(parser *p, script_expr **out)
{
	script_expr *e;

	if (parse_primary(p, &e) < 0)
		return -1;
	if (is_punct(peek(p), '=') && (e->type == SX_WORD || e->type == SX_CALL)) {
		script_expr *a = expr_new(SX_ASSIGN);

		next(p);
		if (!a) {
			expr_free(e);
			return perr(p, peek(p)->line, "out of memory");
		}
		a->text = e->text;
		e->text = NULL;
		a->lhs = e;
		if (parse_expr(p, &a->rhs) < 0) {
			expr_free(a);
			return -1;
		}
		*out = a;
		return 0;
	}
	while (is_punct(peek(p), '|')) {
		script_expr *o = expr_new(SX_OR), *r;

		next(p);
		if (!o) {
			expr_free(e);
			return perr(p, peek(p)->line, "out of memory");
		}
		o->lhs = e;
		e = o;
		if (parse_primary(p, &r) < 0) {
			expr_free(e);
			return -1;
		}
		o->rhs = r;
	}
	*out = e;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Packets                                                                   */

/* packetdrill's flag letters; digits (AccECN ACE) and A (AE) are not
 * modelled by synack. */
static int parse_flags(parser *p, script_packet *pk)
{
	lex_token *t = next(p);
	const char *s;

	if (is_punct(t, '.')) {
		pk->flags = WIRE_ACK;
		return 0;
	}
	if (is_punct(t, '-'))
		return 0;
	if (t->type != TK_WORD)
		return perr(p, t->line, "syntax error: expected TCP flags but found '%s'",
			    tok_desc(t));
	if (!strcmp(t->text, "udp") || !strcmp(t->text, "icmp") || !strcmp(t->text, "gre") ||
	    !strcmp(t->text, "mpls") || !strcmp(t->text, "ipv4") || !strcmp(t->text, "ipv6"))
		return perr(p, t->line, "unsupported: %s packets (synack runs TCP only)", t->text);
	for (s = t->text; *s; s++) {
		switch (*s) {
		case 'F':
			pk->flags |= WIRE_FIN;
			break;
		case 'S':
			pk->flags |= WIRE_SYN;
			break;
		case 'R':
			pk->flags |= WIRE_RST;
			break;
		case 'P':
			pk->flags |= WIRE_PSH;
			break;
		case 'U':
			pk->flags |= WIRE_URG;
			break;
		case 'E':
			pk->flags |= WIRE_ECE;
			break;
		case 'W':
			pk->flags |= WIRE_CWR;
			break;
		default:
			return perr(p, t->line, "unsupported TCP flag '%c' in '%s'", *s, t->text);
		}
	}
	if (is_punct(peek(p), '.')) {
		next(p);
		pk->flags |= WIRE_ACK;
	}
	return 0;
}

static int parse_seq(parser *p, script_packet *pk)
{
	int64_t start = 0, end = 0, len = 0;
	int line = peek(p)->line;

	if (expect_int(p, "TCP start sequence number", 0, U32_MAX, &start) < 0 ||
	    expect_punct(p, ':') < 0 ||
	    expect_int(p, "TCP end sequence number", 0, U32_MAX, &end) < 0 ||
	    expect_punct(p, '(') < 0 || expect_int(p, "TCP payload size", 0, U16_MAX, &len) < 0 ||
	    expect_punct(p, ')') < 0)
		return -1;
	if (end != start + len)
		return perr(p, line, "inconsistent TCP sequence numbers and payload size");
	pk->seq = (uint32_t)start;
	pk->len = (uint32_t)len;
	return 0;
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A hex blob like abcd1234 into bytes; returns the length or -1. */
static int parse_hex_blob(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s);

	if (n % 2 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_nibble(s[2 * i]), lo = hex_nibble(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(n / 2);
}

static bool opt_room(script_packet *pk, size_t need)
{
	return pk->opt_len + need <= SCRIPT_TCP_OPT_MAX;
}

static int parse_opt_sack(parser *p, script_packet *pk, int line)
{
	uint32_t blocks[WIRE_MAX_SACK_BLOCKS][2];
	unsigned n = 0;

	while (peek(p)->type == TK_INT) {
		int64_t l = 0, r = 0;

		if (n == WIRE_MAX_SACK_BLOCKS)
			return perr(p, line, "too many SACK blocks");
		if (expect_int(p, "SACK left edge", 0, U32_MAX, &l) < 0 ||
		    expect_punct(p, ':') < 0 ||
		    expect_int(p, "SACK right edge", 0, U32_MAX, &r) < 0)
			return -1;
		blocks[n][0] = (uint32_t)l;
		blocks[n][1] = (uint32_t)r;
		n++;
	}
	if (!n)
		return perr(p, line, "syntax error: sack needs at least one block A:B");
	if (!opt_room(pk, 2 + 8 * n))
		return perr(p, line, "TCP option list too long");
	pk->opt_len += (uint8_t)wire_put_sack(pk->opt + pk->opt_len, blocks, n);
	return 0;
}

static int parse_opt_fo(parser *p, script_packet *pk, int line, bool experimental)
{
	uint8_t cookie[WIRE_FO_COOKIE_MAX];
	int n = 0;
	lex_token *t = peek(p);

	if (t->type == TK_WORD || t->type == TK_INT) {
		next(p);
		n = parse_hex_blob(t->text, cookie, sizeof cookie);
		if (n < 0)
			return perr(p, line, "bad TCP Fast Open cookie '%s'", t->text);
	}
	if (!opt_room(pk, (size_t)n + (experimental ? 4 : 2)))
		return perr(p, line, "TCP option list too long");
	pk->opt_len +=
	    (uint8_t)wire_put_fastopen(pk->opt + pk->opt_len, cookie, (uint8_t)n, experimental);
	return 0;
}

static int parse_opt_md5(parser *p, script_packet *pk, int line)
{
	lex_token *t = next(p);
	uint8_t digest[MD5_DIGEST_LEN] = {0};

	if ((t->type != TK_WORD && t->type != TK_INT) ||
	    parse_hex_blob(t->text, digest, sizeof digest) < 0)
		return perr(p, line, "bad md5 digest '%s'", tok_desc(t));
	if (!opt_room(pk, MD5_OPT_LEN))
		return perr(p, line, "TCP option list too long");
	pk->opt[pk->opt_len] = WIRE_OPT_MD5;
	pk->opt[pk->opt_len + 1] = MD5_OPT_LEN;
	memcpy(pk->opt + pk->opt_len + 2, digest, MD5_DIGEST_LEN);
	pk->opt_len += MD5_OPT_LEN;
	return 0;
}

static int parse_opt_ts(parser *p, script_packet *pk, int line)
{
	int64_t val = 0, ecr = 0;

	if (!is_word(next(p), "val"))
		return perr(p, line, "syntax error: expected 'TS val N ecr N'");
	if (expect_int(p, "ts val", 0, U32_MAX, &val) < 0)
		return -1;
	if (!is_word(next(p), "ecr"))
		return perr(p, line, "syntax error: expected 'TS val N ecr N'");
	if (expect_int(p, "ecr val", 0, U32_MAX, &ecr) < 0)
		return -1;
	if (!opt_room(pk, WIRE_OPTLEN_TS))
		return perr(p, line, "TCP option list too long");
	pk->opt_len += (uint8_t)wire_put_ts(pk->opt + pk->opt_len, (uint32_t)val, (uint32_t)ecr);
	return 0;
}

static int parse_one_option(parser *p, script_packet *pk)
{
	lex_token *t = next(p);
	int64_t v = 0;
	const char *w = t->type == TK_WORD ? t->text : "";

	if (!strcmp(w, "nop") || !strcmp(w, "eol")) {
		if (!opt_room(pk, 1))
			return perr(p, t->line, "TCP option list too long");
		pk->opt[pk->opt_len++] = !strcmp(w, "nop") ? WIRE_OPT_NOP : WIRE_OPT_EOL;
	} else if (!strcmp(w, "mss")) {
		if (expect_int(p, "mss value", 0, U16_MAX, &v) < 0)
			return -1;
		if (!opt_room(pk, WIRE_OPTLEN_MSS))
			return perr(p, t->line, "TCP option list too long");
		pk->opt_len += (uint8_t)wire_put_mss(pk->opt + pk->opt_len, (uint16_t)v);
	} else if (!strcmp(w, "wscale")) {
		if (expect_int(p, "window scale shift count", 0, UINT8_MAX, &v) < 0)
			return -1;
		if (!opt_room(pk, WIRE_OPTLEN_WSCALE))
			return perr(p, t->line, "TCP option list too long");
		pk->opt_len += (uint8_t)wire_put_wscale(pk->opt + pk->opt_len, (uint8_t)v);
	} else if (!strcmp(w, "sackOK")) {
		if (!opt_room(pk, WIRE_OPTLEN_SACKOK))
			return perr(p, t->line, "TCP option list too long");
		pk->opt_len += (uint8_t)wire_put_sackok(pk->opt + pk->opt_len);
	} else if (!strcmp(w, "sack")) {
		return parse_opt_sack(p, pk, t->line);
	} else if (!strcmp(w, "TS")) {
		return parse_opt_ts(p, pk, t->line);
	} else if (!strcmp(w, "FO") || !strcmp(w, "FOEXP")) {
		return parse_opt_fo(p, pk, t->line, !strcmp(w, "FOEXP"));
	} else if (!strcmp(w, "md5")) {
		return parse_opt_md5(p, pk, t->line);
	} else {
		return perr(p, t->line, "unsupported TCP option '%s'", tok_desc(t));
	}
	return 0;
}

static int parse_options(parser *p, script_packet *pk)
{
	int line = peek(p)->line;

	next(p); /* '<' */
	if (peek(p)->type == TK_ELLIPSIS) {
		next(p);
		if (pk->inbound)
			return perr(p, line,
				    "<...> for TCP options can only be used with outbound packets");
		pk->opts_any = true;
		return expect_punct(p, '>');
	}
	for (;;) {
		if (parse_one_option(p, pk) < 0)
			return -1;
		lex_token *t = next(p);
		if (is_punct(t, '>'))
			break;
		if (!is_punct(t, ','))
			return perr(
			    p, t->line,
			    "syntax error: expected ',' or '>' in TCP options but found '%s'",
			    tok_desc(t));
	}
	if (pk->opt_len % OPT_ALIGN)
		return perr(p, line,
			    "TCP options are not padded correctly to ensure TCP header is a "
			    "multiple of 4 bytes: %d excess bytes",
			    pk->opt_len % OPT_ALIGN);
	return 0;
}

/* The optional parts after the sequence range, in packetdrill's order. */
static int parse_packet_tail(parser *p, script_packet *pk, int line)
{
	int64_t v = 0;

	if (is_word(peek(p), "ack")) {
		next(p);
		if (expect_int(p, "TCP ack sequence number", 0, U32_MAX, &v) < 0)
			return -1;
		pk->ack = (uint32_t)v;
	}
	if (is_word(peek(p), "win")) {
		next(p);
		if (expect_int(p, "TCP window value", 0, U16_MAX, &v) < 0)
			return -1;
		pk->win = (int32_t)v;
	} else if (pk->inbound) {
		return perr(p, line, "window must be specified for inbound packets");
	}
	if (is_word(peek(p), "urg")) {
		next(p);
		if (expect_int(p, "urg_ptr value", 0, U16_MAX, &v) < 0)
			return -1;
		pk->urg = (uint16_t)v;
	}
	if (is_punct(peek(p), '<'))
		return parse_options(p, pk);
	return 0;
}

static int parse_packet(parser *p, script_event *ev)
{
	script_packet *pk = &ev->u.packet;
	lex_token *t = next(p);

	ev->type = SE_PACKET;
	pk->inbound = t->punct == '<';
	pk->win = SCRIPT_WIN_ANY;
	t = peek(p);
	if (is_punct(t, '(') || is_punct(t, '['))
		return perr(p, t->line, "unsupported: IP header fields (tos, ecn, ttl, flowlabel)");
	if (t->type == TK_INT && is_punct(peek2(p), '>'))
		return perr(p, t->line, "unsupported: explicit ports in packets");
	if (parse_flags(p, pk) < 0 || parse_seq(p, pk) < 0 ||
	    parse_packet_tail(p, pk, ev->line) < 0)
		return -1;
	if (is_punct(peek(p), '{'))
		return perr(p, peek(p)->line, "unsupported: packet fuzzing {...}");
	return 0;
}

/* ------------------------------------------------------------------------ */
/* System calls                                                              */

/* (Operation now in progress): words up to the closing parenthesis. */
static int skip_note(parser *p)
{
	int line = peek(p)->line;

	next(p);
	while (!is_punct(peek(p), ')')) {
		if (peek(p)->type == TK_EOF)
			return perr(p, line, "syntax error: unterminated note '('");
		next(p);
	}
	next(p);
	return 0;
}

static int parse_syscall(parser *p, script_event *ev)
{
	script_syscall *sc = &ev->u.syscall;
	lex_token *t;
	script_expr args = {0};

	ev->type = SE_SYSCALL;
	sc->end_us = SCRIPT_NO_TIME;
	if (peek(p)->type == TK_ELLIPSIS) {
		next(p);
		t = next(p);
		if ((t->type != TK_INT && t->type != TK_FLOAT) || t->num < 0)
			return perr(p, t->line, "syntax error: expected an end time after '...'");
		sc->end_us = t->type == TK_INT ? t->num * 1000000 : t->num;
	}
	t = next(p);
	if (t->type != TK_WORD || !is_punct(peek(p), '('))
		return perr(
		    p, t->line,
		    "syntax error: expected a packet, a system call or a command but found '%s'",
		    tok_desc(t));
	sc->name = strdup(t->text);
	next(p);
	if (!sc->name || parse_expr_list(p, &args, ')') < 0) {
		for (size_t i = 0; i < args.count; i++)
			expr_free(args.items[i]);
		free(args.items);
		return sc->name ? -1 : perr(p, t->line, "out of memory");
	}
	sc->args = args.items;
	sc->nargs = args.count;
	if (expect_punct(p, '=') < 0 || parse_expr(p, &sc->result) < 0)
		return -1;
	if (peek(p)->type == TK_WORD) {
		sc->errno_name = strdup(next(p)->text);
		if (!sc->errno_name)
			return perr(p, ev->line, "out of memory");
	}
	if (is_punct(peek(p), '('))
		return skip_note(p);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Events                                                                    */

static int time_of(parser *p, int64_t *us)
{
	lex_token *t = next(p);

	if (t->type == TK_INT && t->num >= 0)
		*us = t->num * 1000000;
	else if (t->type == TK_FLOAT && t->num >= 0)
		*us = t->num;
	else
		return perr(p, t->line, "syntax error: expected a time but found '%s'",
			    tok_desc(t));
	return 0;
}

static int parse_time(parser *p, script_event *ev)
{
	lex_token *t = peek(p);
	bool rel = false;

	ev->line = t->line;
	if (is_punct(t, '*')) {
		next(p);
		ev->time_type = STT_ANY;
		return 0;
	}
	if (is_punct(t, '+')) {
		next(p);
		rel = true;
	}
	if (time_of(p, &ev->time_us) < 0)
		return -1;
	ev->time_type = rel ? STT_RELATIVE : STT_ABSOLUTE;
	if (!is_punct(peek(p), '~'))
		return 0;
	next(p);
	if (rel != is_punct(peek(p), '+'))
		return perr(p, ev->line,
			    "syntax error: a time range is both absolute or both relative");
	if (rel)
		next(p);
	if (time_of(p, &ev->time_end_us) < 0)
		return -1;
	if (ev->time_end_us < ev->time_us)
		return perr(p, ev->line, "time range is backwards");
	ev->time_type = rel ? STT_RELATIVE_RANGE : STT_ABSOLUTE_RANGE;
	return 0;
}

static int parse_command(parser *p, script_event *ev)
{
	lex_token *t = next(p);

	ev->type = SE_COMMAND;
	ev->u.command.text = strdup(t->text);
	if (!ev->u.command.text)
		return perr(p, t->line, "out of memory");
	return script_extract_sysctls(t->text, p->dir, p->path, t->line, &ev->u.command.sysctls,
				      &ev->u.command.nsysctls, p->err, p->errcap);
}

static int parse_action(parser *p, script_event *ev)
{
	lex_token *t = peek(p);

	if (t->type == TK_BACKQUOTE)
		return parse_command(p, ev);
	if (t->type == TK_CODE) {
		next(p);
		ev->type = SE_CODE;
		ev->u.code = strdup(t->text);
		return ev->u.code ? 0 : perr(p, t->line, "out of memory");
	}
	if (is_punct(t, '<') || is_punct(t, '>'))
		return parse_packet(p, ev);
	return parse_syscall(p, ev);
}

static int check_event(parser *p, const script_event *ev)
{
	bool outbound = ev->type == SE_PACKET && !ev->u.packet.inbound;

	if (ev->time_type == STT_ANY && !outbound)
		return perr(p, ev->line,
			    "event time <star> can only be used with outbound packets");
	if ((ev->time_type == STT_ABSOLUTE_RANGE || ev->time_type == STT_RELATIVE_RANGE) &&
	    !outbound)
		return perr(p, ev->line, "event time range can only be used with outbound packets");
	if (ev->type == SE_SYSCALL && ev->u.syscall.end_us != SCRIPT_NO_TIME &&
	    ev->time_type == STT_ABSOLUTE && ev->u.syscall.end_us < ev->time_us)
		return perr(p, ev->line, "system call end time is before its start time");
	return 0;
}

static void event_free(script_event *ev)
{
	switch (ev->type) {
	case SE_SYSCALL:
		free(ev->u.syscall.name);
		for (size_t i = 0; i < ev->u.syscall.nargs; i++)
			expr_free(ev->u.syscall.args[i]);
		free(ev->u.syscall.args);
		expr_free(ev->u.syscall.result);
		free(ev->u.syscall.errno_name);
		break;
	case SE_COMMAND:
		free(ev->u.command.text);
		for (size_t i = 0; i < ev->u.command.nsysctls; i++) {
			free(ev->u.command.sysctls[i].name);
			free(ev->u.command.sysctls[i].value);
			free(ev->u.command.sysctls[i].file);
		}
		free(ev->u.command.sysctls);
		break;
	case SE_CODE:
		free(ev->u.code);
		break;
	case SE_PACKET:
		break;
	}
}

static int parse_event(parser *p)
{
	script *s = p->s;
	script_event *n = realloc(s->events, (s->nevents + 1) * sizeof *n);

	if (!n)
		return perr(p, peek(p)->line, "out of memory");
	s->events = n;
	script_event *ev = &s->events[s->nevents];
	memset(ev, 0, sizeof *ev);
	ev->type = SE_CODE; /* freeable while half-parsed */
	s->nevents++;
	if (peek(p)->type == TK_BACKQUOTE) {
		ev->line = peek(p)->line;
		ev->time_type = STT_NONE;
		return parse_command(p, ev);
	}
	if (parse_time(p, ev) < 0)
		return -1;
	if (peek(p)->type == TK_ELLIPSIS && ev->time_type != STT_ABSOLUTE &&
	    ev->time_type != STT_RELATIVE)
		return perr(p, ev->line, "syntax error: '...END' after a time range");
	if (parse_action(p, ev) < 0)
		return -1;
	return check_event(p, ev);
}

static int parse_option(parser *p)
{
	lex_token *t = next(p);
	script *s = p->s;
	script_option *n = realloc(s->options, (s->noptions + 1) * sizeof *n);

	if (!n)
		return perr(p, t->line, "out of memory");
	s->options = n;
	script_option *o = &s->options[s->noptions++];
	char *eq = strchr(t->text, '=');

	o->line = t->line;
	o->name = eq ? strndup(t->text, (size_t)(eq - t->text)) : strdup(t->text);
	o->value = eq ? strdup(eq + 1) : NULL;
	if (!o->name || (eq && !o->value))
		return perr(p, t->line, "out of memory");
	return 0;
}

static int parse_all(parser *p)
{
	while (peek(p)->type == TK_OPTION)
		if (parse_option(p) < 0)
			return -1;
	while (peek(p)->type != TK_EOF) {
		if (peek(p)->type == TK_OPTION)
			return perr(p, peek(p)->line,
				    "options (--%s) must come before the first event",
				    peek(p)->text);
		if (parse_event(p) < 0)
			return -1;
	}
	return 0;
}

int script_parse_buffer(const char *path, const char *text, script **out, char *err, size_t cap)
{
	parser p = {.path = path, .err = err, .errcap = cap};
	char *copy = strdup(path);
	int rc = -1;

	p.s = calloc(1, sizeof *p.s);
	if (!p.s || !copy)
		goto out;
	p.dir = strdup(dirname(copy));
	p.s->path = strdup(path);
	if (!p.dir || !p.s->path)
		goto out;
	if (lex_tokens(text, &p.toks, &p.ntoks, err, cap) < 0) {
		/* lex_tokens wrote "LINE: msg"; prefix the file. */
		char tmp[SCRIPT_ERR_MAX];

		snprintf(tmp, sizeof tmp, "%s", err);
		snprintf(err, cap, "%s:%s", path, tmp);
		goto out;
	}
	rc = parse_all(&p);
out:
	if (rc < 0 && !p.s)
		snprintf(err, cap, "%s: out of memory", path);
	lex_free(p.toks, p.ntoks);
	free(p.dir);
	free(copy);
	if (rc < 0) {
		script_free(p.s);
		return -1;
	}
	*out = p.s;
	return 0;
}

int script_parse_file(const char *path, script **out, char *err, size_t cap)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	size_t len = 0;

	if (!f) {
		snprintf(err, cap, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	FILE *mem = open_memstream(&text, &len);
	char buf[BUFSIZ];
	size_t n;
	int rc = -1;

	if (mem) {
		while ((n = fread(buf, 1, sizeof buf, f)) > 0)
			fwrite(buf, 1, n, mem);
		fclose(mem);
	}
	if (ferror(f) || !text) {
		snprintf(err, cap, "%s: cannot read: %s", path, strerror(errno));
	} else if (memchr(text, '\0', len)) {
		snprintf(err, cap, "%s: not a text file", path);
	} else {
		rc = script_parse_buffer(path, text, out, err, cap);
	}
	fclose(f);
	free(text);
	return rc;
}

void script_free(script *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nevents; i++)
		event_free(&s->events[i]);
	free(s->events);
	for (size_t i = 0; i < s->noptions; i++) {
		free(s->options[i].name);
		free(s->options[i].value);
	}
	free(s->options);
	free(s->path);
	free(s);
}
