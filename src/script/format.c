/*
 * format.c — packets in packetdrill's own notation, for error messages:
 * the expected and the actual packet side by side in script space.
 */
#include <stdio.h>
#include <string.h>

#include "run.h"
#include "wire/wire.h"

typedef struct fbuf {
	char *p;
	size_t cap, len;
} fbuf;

static void put(fbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(fbuf *b, const char *fmt, ...)
{
	va_list ap;

	if (b->len >= b->cap)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n;
	if (b->len >= b->cap)
		b->len = b->cap - 1;
}

static void put_flags(fbuf *b, uint8_t flags)
{
	static const struct {
		uint8_t bit;
		char c;
	} order[] = {{WIRE_FIN, 'F'}, {WIRE_SYN, 'S'}, {WIRE_RST, 'R'}, {WIRE_PSH, 'P'},
		     {WIRE_URG, 'U'}, {WIRE_ECE, 'E'}, {WIRE_CWR, 'W'}, {WIRE_ACK, '.'}};

	if (!flags) {
		put(b, "-");
		return;
	}
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		if (flags & order[i].bit)
			put(b, "%c", order[i].c);
}

static void put_hex(fbuf *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put(b, "%02x", p[i]);
}

/* One option at o (len bytes available); returns its length. */
static size_t put_option(fbuf *b, const uint8_t *o, size_t avail)
{
	uint8_t kind = o[0];

	if (kind == WIRE_OPT_EOL) {
		put(b, "eol"); /* the rest is padding */
		return avail;
	}
	if (kind == WIRE_OPT_NOP) {
		put(b, "nop");
		return 1;
	}
	if (avail < 2 || o[1] < 2 || o[1] > avail) {
		put(b, "bad-option kind %u", kind);
		return avail;
	}
	size_t len = o[1];
	switch (kind) {
	case WIRE_OPT_MSS:
		if (len == WIRE_OPTLEN_MSS) {
			put(b, "mss %u", wire_get16(o + 2));
			return len;
		}
		break;
	case WIRE_OPT_WSCALE:
		if (len == WIRE_OPTLEN_WSCALE) {
			put(b, "wscale %u", o[2]);
			return len;
		}
		break;
	case WIRE_OPT_SACKOK:
		put(b, "sackOK");
		return len;
	case WIRE_OPT_TS:
		if (len == WIRE_OPTLEN_TS) {
			put(b, "TS val %u ecr %u", wire_get32(o + 2), wire_get32(o + 6));
			return len;
		}
		break;
	case WIRE_OPT_SACK:
		put(b, "sack");
		for (size_t i = 2; i + 8 <= len; i += 8)
			put(b, " %u:%u", wire_get32(o + i), wire_get32(o + i + 4));
		return len;
	case WIRE_OPT_FASTOPEN:
		put(b, "FO");
		if (len > 2) {
			put(b, " ");
			put_hex(b, o + 2, len - 2);
		}
		return len;
	case WIRE_OPT_EXP:
		if (len >= 4 && wire_get16(o + 2) == WIRE_FASTOPEN_MAGIC) {
			put(b, "FOEXP");
			if (len > 4) {
				put(b, " ");
				put_hex(b, o + 4, len - 4);
			}
			return len;
		}
		break;
	case WIRE_OPT_MD5:
		put(b, "md5 ");
		put_hex(b, o + 2, len - 2);
		return len;
	default:
		break;
	}
	put(b, "option kind %u len %zu", kind, len);
	return len;
}

int fmt_packet(char *buf, size_t cap, uint8_t flags, uint32_t seq, uint32_t len, uint32_t ack,
	       int32_t win, uint16_t urg, bool opts_any, const uint8_t *opt, size_t opt_len)
{
	fbuf b = {.p = buf, .cap = cap};

	if (!cap)
		return 0;
	buf[0] = '\0';
	put_flags(&b, flags);
	put(&b, " %u:%u(%u)", seq, seq + len, len);
	if (flags & WIRE_ACK)
		put(&b, " ack %u", ack);
	if (win >= 0)
		put(&b, " win %d", win);
	if (urg)
		put(&b, " urg %u", urg);
	if (opts_any) {
		put(&b, " <...>");
	} else if (opt_len) {
		put(&b, " <");
		for (size_t i = 0; i < opt_len;) {
			if (i)
				put(&b, ",");
			i += put_option(&b, opt + i, opt_len - i);
		}
		put(&b, ">");
	}
	return (int)b.len;
}

int fmt_option(char *buf, size_t cap, const uint8_t *opt, size_t len)
{
	fbuf b = {.p = buf, .cap = cap};

	if (!cap)
		return 0;
	buf[0] = '\0';
	if (!len)
		put(&b, "(none)");
	else
		put_option(&b, opt, len);
	return (int)b.len;
}
