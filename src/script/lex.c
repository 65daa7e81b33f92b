/*
 * lex.c — tokens of packetdrill scripts. Follows packetdrill's lexer: numbers
 * (decimal, hex, floats for times), words, strings, `shell`, %{ code }%,
 * --options, "..." and single punctuation characters; // and C comments.
 */
#include "lex.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define US_PER_SEC 1000000
#define US_DIGITS 6 /* a fraction of a second has at most 6 meaningful digits */
#define HEX_BASE 16
#define DEC_BASE 10

typedef struct lexer {
	const char *p;
	int line;
	lex_token *toks;
	size_t count, cap;
	char *err;
	size_t errcap;
} lexer;

static int lex_error(lexer *lx, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(lx->err, lx->errcap, "%d: ", lx->line);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < lx->errcap)
		vsnprintf(lx->err + n, lx->errcap - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static lex_token *push(lexer *lx, lex_type type, const char *start, size_t len)
{
	if (lx->count == lx->cap) {
		size_t ncap = lx->cap ? lx->cap * 2 : 256;
		lex_token *n = realloc(lx->toks, ncap * sizeof *n);

		if (!n)
			return NULL;
		lx->toks = n;
		lx->cap = ncap;
	}
	lex_token *t = &lx->toks[lx->count];
	memset(t, 0, sizeof *t);
	t->type = type;
	t->line = lx->line;
	t->text = strndup(start, len);
	if (!t->text)
		return NULL;
	lx->count++;
	return t;
}

int64_t lex_seconds_to_us(const char *text)
{
	int64_t whole = 0, frac = 0;
	int digits = 0;
	const char *p = text;

	if (!*p)
		return -1;
	while (isdigit((unsigned char)*p))
		whole = whole * DEC_BASE + (*p++ - '0');
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		for (; isdigit((unsigned char)*p); p++) {
			if (digits < US_DIGITS) {
				frac = frac * DEC_BASE + (*p - '0');
				digits++;
			}
		}
		for (; digits < US_DIGITS; digits++)
			frac *= DEC_BASE;
	}
	if (*p)
		return -1;
	return whole * US_PER_SEC + frac;
}

/* Skips blanks and comments, counting lines. */
static int skip_space(lexer *lx)
{
	for (;;) {
		const char *p = lx->p;

		if (*p == '\n') {
			lx->line++;
			lx->p++;
		} else if (isspace((unsigned char)*p)) {
			lx->p++;
		} else if (p[0] == '/' && p[1] == '/') {
			while (*lx->p && *lx->p != '\n')
				lx->p++;
		} else if (p[0] == '/' && p[1] == '*') {
			int start = lx->line;
			const char *end = strstr(p + 2, "*/");

			if (!end) {
				lx->line = start;
				return lex_error(lx, "unterminated /* comment");
			}
			for (; p < end; p++)
				lx->line += *p == '\n';
			lx->p = end + 2;
		} else {
			return 0;
		}
	}
}

static bool is_word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Text between open and close (both excluded); counts lines inside. */
static int lex_delimited(lexer *lx, lex_type type, const char *open, const char *close)
{
	const char *start = lx->p + strlen(open);
	const char *end = strstr(start, close);
	int line = lx->line;

	if (!end)
		return lex_error(lx, "unterminated %s", open);
	lex_token *t = push(lx, type, start, (size_t)(end - start));
	if (!t)
		return lex_error(lx, "out of memory");
	t->line = line;
	for (const char *p = start; p < end; p++)
		lx->line += *p == '\n';
	lx->p = end + strlen(close);
	return 0;
}

static int lex_string(lexer *lx)
{
	const char *start = lx->p + 1, *p = start;

	while (*p && *p != '"') {
		if (*p == '\\' && p[1])
			p++;
		if (*p == '\n')
			return lex_error(lx, "unterminated string");
		p++;
	}
	if (!*p)
		return lex_error(lx, "unterminated string");
	if (!push(lx, TK_STRING, start, (size_t)(p - start)))
		return lex_error(lx, "out of memory");
	lx->p = p + 1;
	return 0;
}

static int lex_option(lexer *lx)
{
	const char *start = lx->p + 2, *p = start;

	while (*p && !isspace((unsigned char)*p))
		p++;
	if (!push(lx, TK_OPTION, start, (size_t)(p - start)))
		return lex_error(lx, "out of memory");
	lx->p = p;
	return 0;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return n > 0;
}

static bool is_hex(const char *s, size_t n)
{
	if (n < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return false;
	for (size_t i = 2; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* A float "D*.D+" starting at p (digits may be empty). */
static size_t float_len(const char *p)
{
	size_t n = 0;

	while (isdigit((unsigned char)p[n]))
		n++;
	if (p[n] != '.' || !isdigit((unsigned char)p[n + 1]))
		return 0;
	n++;
	while (isdigit((unsigned char)p[n]))
		n++;
	return n;
}

/* A word, a decimal or hex integer, or a float; sign is 1 or -1. */
static int lex_number_or_word(lexer *lx, int sign)
{
	const char *start = lx->p, *p = start;
	size_t flen = float_len(p);

	while (is_word_char(*p))
		p++;
	size_t n = (size_t)(p - start);
	lex_token *t;

	if (flen > n) {
		t = push(lx, TK_FLOAT, start, flen);
		if (!t)
			return lex_error(lx, "out of memory");
		t->num = lex_seconds_to_us(t->text);
		if (sign < 0)
			t->num = -t->num;
		lx->p = start + flen;
		return 0;
	}
	if (all_digits(start, n)) {
		t = push(lx, TK_INT, start, n);
		if (!t)
			return lex_error(lx, "out of memory");
		t->num = sign * strtoll(t->text, NULL, DEC_BASE);
	} else if (is_hex(start, n)) {
		t = push(lx, TK_INT, start, n);
		if (!t)
			return lex_error(lx, "out of memory");
		t->num = sign * strtoll(t->text + 2, NULL, HEX_BASE);
	} else {
		if (sign < 0)
			return lex_error(lx, "unexpected '-' before a word");
		t = push(lx, TK_WORD, start, n);
		if (!t)
			return lex_error(lx, "out of memory");
	}
	lx->p = p;
	return 0;
}

static int lex_one(lexer *lx)
{
	const char *p = lx->p;

	if (*p == '"')
		return lex_string(lx);
	if (*p == '`')
		return lex_delimited(lx, TK_BACKQUOTE, "`", "`");
	if (p[0] == '%' && p[1] == '{')
		return lex_delimited(lx, TK_CODE, "%{", "}%");
	if (p[0] == '-' && p[1] == '-' && isalnum((unsigned char)p[2]))
		return lex_option(lx);
	if (p[0] == '.' && p[1] == '.' && p[2] == '.') {
		if (!push(lx, TK_ELLIPSIS, p, 3))
			return lex_error(lx, "out of memory");
		lx->p += 3;
		return 0;
	}
	if (p[0] == '-' && (isdigit((unsigned char)p[1]) || float_len(p + 1))) {
		lx->p++;
		return lex_number_or_word(lx, -1);
	}
	if (is_word_char(*p) || float_len(p))
		return lex_number_or_word(lx, 1);
	lex_token *t = push(lx, TK_PUNCT, p, 1);
	if (!t)
		return lex_error(lx, "out of memory");
	t->punct = *p;
	lx->p++;
	return 0;
}

int lex_tokens(const char *text, lex_token **out, size_t *count, char *err, size_t cap)
{
	lexer lx = {.p = text, .line = 1, .err = err, .errcap = cap};

	for (;;) {
		if (skip_space(&lx) < 0)
			goto fail;
		if (!*lx.p)
			break;
		if (lex_one(&lx) < 0)
			goto fail;
	}
	if (!push(&lx, TK_EOF, "", 0)) {
		lex_error(&lx, "out of memory");
		goto fail;
	}
	*out = lx.toks;
	*count = lx.count;
	return 0;
fail:
	lex_free(lx.toks, lx.count);
	return -1;
}

void lex_free(lex_token *toks, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(toks[i].text);
	free(toks);
}
