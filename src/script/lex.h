/*
 * lex.h — the tokens of packetdrill's script language (free-form: an event
 * may span lines; whitespace and comments separate tokens).
 */
#ifndef SYNACK_SCRIPT_LEX_H
#define SYNACK_SCRIPT_LEX_H

#include <stddef.h>
#include <stdint.h>

typedef enum lex_type {
	TK_EOF = 0,
	TK_INT,	      /* 42, -1, 0x2a */
	TK_FLOAT,     /* 0.100, .5 (times) */
	TK_WORD,      /* [A-Za-z0-9_]+ that is not a number */
	TK_STRING,    /* "..." (text without the quotes) */
	TK_BACKQUOTE, /* `...` (text without the quotes) */
	TK_CODE,      /* %{ ... }% (text inside) */
	TK_OPTION,    /* --name or --name=value (text without the dashes) */
	TK_ELLIPSIS,  /* ... */
	TK_PUNCT,     /* any other single character */
} lex_type;

typedef struct lex_token {
	lex_type type;
	int line;
	char punct;  /* TK_PUNCT */
	int64_t num; /* TK_INT; microseconds for TK_FLOAT */
	char *text;  /* the token as written (contents for strings) */
} lex_token;

/* Splits text into tokens (ending with TK_EOF). Returns 0, or -1 with
 * "LINE: message" in err (the caller adds the file name). */
int lex_tokens(const char *text, lex_token **out, size_t *count, char *err, size_t cap);

void lex_free(lex_token *toks, size_t count);

/* Seconds written as "1", "0.125", ".5" in microseconds; -1 when malformed. */
int64_t lex_seconds_to_us(const char *text);

#endif
