/* fastopen.c — TCP Fast Open (RFC 7413): server cookies (keyed SipHash of
 * the client's address, a primary and a backup key), the client's cookie
 * cache, and the option in Linux's layout (kind 34, or the experimental 254
 * with magic 0xF989; padded with two NOPs when its length is 2 mod 4). */
#include <sodium.h>

#include "engine/internal.h"

#define TFO_COOKIE_LEN 8 /* Linux TCP_FASTOPEN_COOKIE_SIZE */
#define TFO_PAD_REM 2    /* lengths of 2 mod 4 get two NOPs */
#define WORD 4

void synack_stack_set_fastopen_keys(synack_stack *s, const uint8_t primary[16],
                                    const uint8_t *backup)
{
	memcpy(s->tfo_key, primary, sizeof s->tfo_key);
	s->tfo_has_backup = backup != NULL;
	if (backup)
		memcpy(s->tfo_key_backup, backup, sizeof s->tfo_key_backup);
}

/* RFC 7413 4.1.2: a MAC of the client's IP address under the server key. */
static void tfo_cookie(const uint8_t key[16], uint8_t family, const uint8_t *ip, uint8_t *out)
{
	uint8_t in[1 + 16];
	size_t alen = family == SYNACK_AF_INET6 ? 16 : 4;

	in[0] = family;
	memcpy(in + 1, ip, alen);
	crypto_shorthash_siphash24(out, in, 1 + alen, key);
}

size_t tfo_option(uint8_t *p, const uint8_t *cookie, uint8_t len, bool exp)
{
	size_t n = wire_put_fastopen(p, cookie, len, exp);

	if (n % WORD == TFO_PAD_REM) {
		n += wire_put_nop(p + n);
		n += wire_put_nop(p + n);
	}
	return n;
}

/* Pending Fast Open children a listener allows: its TCP_FASTOPEN value, or
 * the backlog for every listener (Linux's TFO_SERVER_WO_SOCKOPT1). */
uint32_t tfo_qlen(const synack_stack *s, const synack_listener *l)
{
	if (!(s->cfg.fastopen & SYNACK_FASTOPEN_SERVER))
		return 0;
	if (l->opts.fastopen_qlen)
		return l->opts.fastopen_qlen;
	return (s->cfg.fastopen & SYNACK_FASTOPEN_ANY_LISTENER) ? l->backlog : 0;
}

bool tfo_server_on(const synack_stack *s, const synack_listener *l) { return tfo_qlen(s, l) != 0; }

/* What a listener makes of a SYN's Fast Open option: TFO_NONE (no option or
 * server off), TFO_REPLY (answer with a cookie), TFO_ACCEPT (valid cookie). */
int tfo_server_check(synack_stack *s, synack_listener *l, const wire_seg *seg, const tuple *t)
{
	const wire_opts *o = &seg->opts;
	uint8_t good[TFO_COOKIE_LEN];

	if (!tfo_server_on(s, l))
		return TFO_NONE;
	/* Linux's TFO_SERVER_COOKIE_NOT_REQD: data on a SYN is enough. */
	if ((s->cfg.fastopen & SYNACK_FASTOPEN_NO_COOKIE) && seg->payload_len)
		return TFO_ACCEPT;
	if (!(o->present & (WIRE_HAS_FO | WIRE_HAS_FOEXP)))
		return TFO_NONE;
	if (o->fo_len == 0) {
		s->ctr.tfo_cookie_requests++;
		return TFO_REPLY;
	}
	tfo_cookie(s->tfo_key, t->family, t->raddr, good);
	if (o->fo_len == TFO_COOKIE_LEN && !memcmp(o->fo_cookie, good, TFO_COOKIE_LEN))
		return TFO_ACCEPT;
	if (s->tfo_has_backup) {
		tfo_cookie(s->tfo_key_backup, t->family, t->raddr, good);
		if (o->fo_len == TFO_COOKIE_LEN && !memcmp(o->fo_cookie, good, TFO_COOKIE_LEN))
			return TFO_ACCEPT;
	}
	s->ctr.tfo_failed++;
	return TFO_REPLY;
}

/* The cookie option a SYN-ACK carries for this client. */
size_t tfo_server_option(synack_stack *s, const tuple *t, bool exp, uint8_t *p)
{
	uint8_t cookie[TFO_COOKIE_LEN];

	tfo_cookie(s->tfo_key, t->family, t->raddr, cookie);
	return tfo_option(p, cookie, TFO_COOKIE_LEN, exp);
}

/* ---- the client's cookie cache ------------------------------------------------ */

static tfo_entry *cache_find(synack_stack *s, uint8_t family, const uint8_t *ip)
{
	for (unsigned i = 0; i < TFO_CACHE_SIZE; i++)
		if (s->tfo_cache[i].family == family && ip_equal(s->tfo_cache[i].ip, ip, family))
			return &s->tfo_cache[i];
	return NULL;
}

/* The cached cookie for a server, or NULL. */
const tfo_entry *tfo_cache_get(synack_stack *s, uint8_t family, const uint8_t *ip)
{
	tfo_entry *e = cache_find(s, family, ip);

	if (e)
		e->used = s->now;
	return e;
}

bool synack_stack_fastopen_cached(synack_stack *s, const synack_addr *remote)
{
	return cache_find(s, remote->family, remote->ip) != NULL;
}

/* Remembers a server's cookie, evicting the least recently used entry. */
void tfo_cache_put(synack_stack *s, uint8_t family, const uint8_t *ip, const uint8_t *cookie,
                   uint8_t len)
{
	tfo_entry *e = cache_find(s, family, ip);

	if (!e) {
		e = &s->tfo_cache[0];
		for (unsigned i = 1; i < TFO_CACHE_SIZE; i++)
			if (s->tfo_cache[i].used < e->used)
				e = &s->tfo_cache[i];
		memset(e, 0, sizeof *e);
		e->family = family;
		memcpy(e->ip, ip, family == SYNACK_AF_INET6 ? 16 : 4);
	}
	e->len = len > WIRE_FO_COOKIE_MAX ? WIRE_FO_COOKIE_MAX : len;
	memcpy(e->cookie, cookie, e->len);
	e->used = s->now ? s->now : 1;
}
