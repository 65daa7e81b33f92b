/* cookie.c — SYN cookies: the SYN-ACK's ISN carries what the SYN queue would
 * have held, so that a flood of spoofed SYNs costs no memory (RFC 4987
 * section 3.6; Linux's syncookies.c for the parts the wire shows).
 *
 * ISN = t << 24 | MAC(4-tuple, client ISN, t, mss index)[22 bits] << 2 | mss index
 *
 * t counts minutes; a cookie is good for two. The MAC is keyed SipHash-2-4
 * (libsodium) under the stack's secret, with t in its input, which gives each
 * minute its own key. When the SYN carries timestamps, the options SYN
 * cookies cannot hold (window scale, SACK-permitted, ECN) ride in the low six bits
 * of our TS val and come back in the ACK's TS ecr, as Linux does. */
#include <sodium.h>

#include "engine/internal.h"

#define COOKIE_MINUTE_NS (60ULL * SYNACK_SEC)
#define COOKIE_T_SHIFT 24
#define COOKIE_T_MASK 0xffu
#define COOKIE_MAC_MASK 0x3fffffu /* 22 bits */
#define COOKIE_MSS_BITS 2
#define COOKIE_MAX_AGE 2          /* minutes: Linux MAX_SYNCOOKIE_AGE */
#define COOKIE_VALID_NS (2ULL * COOKIE_MINUTE_NS) /* Linux TCP_SYNCOOKIE_VALID */
#define TS_OPT_BITS 6             /* Linux TSBITS */
#define TS_OPT_MASK ((1u << TS_OPT_BITS) - 1)
#define TS_OPT_WSCALE_MASK 0xfu   /* 0xf: no window scaling */
#define TS_OPT_SACK 0x10u
#define TS_OPT_ECN 0x20u

/* MSS values a cookie can stand for (Linux's msstab and msstab6). */
static const uint16_t msstab_v4[] = {536, 1300, 1440, 1460};
static const uint16_t msstab_v6[] = {1220, 1420, 1440, 8940};

static const uint16_t *msstab(uint8_t family)
{
	return family == SYNACK_AF_INET6 ? msstab_v6 : msstab_v4;
}

static uint32_t cookie_minute(const synack_stack *s) { return (uint32_t)(s->now / COOKIE_MINUTE_NS); }

static uint32_t cookie_mac(const synack_stack *s, const tuple *t, uint32_t irs, uint32_t minute,
                           unsigned mssind)
{
	uint8_t in[5 + 32 + 6], out[crypto_shorthash_siphash24_BYTES];
	size_t alen = t->family == SYNACK_AF_INET6 ? 16 : 4;
	size_t n = 0;

	in[n++] = t->family;
	wire_set16(in + n, t->lport);
	wire_set16(in + n + 2, t->rport);
	n += 4;
	memcpy(in + n, t->laddr, alen);
	memcpy(in + n + alen, t->raddr, alen);
	n += 2 * alen;
	wire_set32(in + n, irs);
	in[n + 4] = (uint8_t)minute;
	in[n + 5] = (uint8_t)mssind;
	n += 6;
	crypto_shorthash_siphash24(out, in, n, s->cookie_key);
	return wire_get32(out) & COOKIE_MAC_MASK;
}

/* The largest MSS of the table the peer's MSS allows. */
static unsigned mss_index(uint8_t family, uint16_t peer_mss)
{
	const uint16_t *tab = msstab(family);

	for (unsigned i = (1u << COOKIE_MSS_BITS); i-- > 1;)
		if (peer_mss >= tab[i])
			return i;
	return 0;
}

uint32_t cookie_isn(synack_stack *s, synack_listener *l, const tuple *t, const wire_seg *seg)
{
	uint16_t peer_mss = (seg->opts.present & WIRE_HAS_MSS) ? seg->opts.mss
	                    : (t->family == SYNACK_AF_INET6 ? TCP_MSS_DEFAULT_V6 : TCP_MSS_DEFAULT_V4);
	unsigned mssind = mss_index(t->family, peer_mss);
	uint32_t minute = cookie_minute(s);

	l->last_overflow = s->now ? s->now : 1; /* Linux's tcp_synq_overflow */
	s->ctr.syncookies_sent++;
	return (minute & COOKIE_T_MASK) << COOKIE_T_SHIFT |
	       cookie_mac(s, t, seg->seq, minute & COOKIE_T_MASK, mssind) << COOKIE_MSS_BITS | mssind;
}

/* Our TS val for a cookie SYN-ACK: the options in its low bits, never ahead
 * of the clock (Linux's cookie_init_timestamp). */
uint32_t cookie_ts_val(uint32_t now_ts, uint8_t neg, uint8_t peer_wscale)
{
	uint32_t opts = (neg & NEG_WSCALE) ? peer_wscale : TS_OPT_WSCALE_MASK;
	uint32_t ts;

	if (neg & NEG_SACK)
		opts |= TS_OPT_SACK;
	if (neg & NEG_ECN)
		opts |= TS_OPT_ECN;
	ts = (now_ts & ~TS_OPT_MASK) | opts;
	if (seq_gt(ts, now_ts))
		ts -= 1u << TS_OPT_BITS;
	return ts;
}

/* Cookies are honoured only after one was sent recently (Linux's
 * tcp_synq_no_recent_overflow): otherwise a blind ACK never finds a way in. */
bool cookie_enabled(const synack_stack *s, const synack_listener *l)
{
	return s->cfg.syncookies != SYNACK_SYNCOOKIES_NEVER && l->last_overflow &&
	       s->now - l->last_overflow <= COOKIE_VALID_NS;
}

/* Checks the ACK that should answer a cookie; on success fills r (not
 * hashed, not queued) as the SYN queue would have. */
bool cookie_check(synack_stack *s, synack_listener *l, const wire_seg *seg, const tuple *t,
                  request *r)
{
	uint32_t cookie = seg->ack - 1, irs = seg->seq - 1;
	uint32_t minute = cookie_minute(s);
	uint32_t t_cookie = cookie >> COOKIE_T_SHIFT;
	unsigned mssind = cookie & ((1u << COOKIE_MSS_BITS) - 1);
	uint32_t rcvbuf, wnd_space, wscale_space;

	if (((minute - t_cookie) & COOKIE_T_MASK) >= COOKIE_MAX_AGE ||
	    ((cookie >> COOKIE_MSS_BITS) & COOKIE_MAC_MASK) != cookie_mac(s, t, irs, t_cookie, mssind)) {
		s->ctr.syncookies_failed++;
		return false;
	}
	memset(r, 0, sizeof *r);
	r->node.kind = NODE_REQUEST;
	r->node.t = *t;
	r->lst = l;
	r->syn_time = s->now;
	r->iss = cookie;
	r->irs = irs;
	r->peer_mss = msstab(t->family)[mssind];
	r->win = seg->win;
	isn_for(s, t, &r->iss, &r->ts_off);
	r->iss = cookie;
	if (s->cfg.timestamps && (seg->opts.present & WIRE_HAS_TS)) {
		/* Linux's cookie_timestamp_decode. */
		uint32_t opts = seg->opts.ts_ecr & TS_OPT_MASK;
		r->neg = NEG_TS;
		r->ts_recent = seg->opts.ts_val;
		if ((opts & TS_OPT_SACK) && s->cfg.sack)
			r->neg |= NEG_SACK;
		if ((opts & TS_OPT_ECN) && s->cfg.ecn != SYNACK_ECN_OFF)
			r->neg |= NEG_ECN;
		if ((opts & TS_OPT_WSCALE_MASK) != TS_OPT_WSCALE_MASK && s->cfg.window_scaling) {
			r->neg |= NEG_WSCALE;
			r->snd_wscale = (uint8_t)(opts & TS_OPT_WSCALE_MASK);
			conn_space(s, &l->opts, &rcvbuf, &wnd_space, &wscale_space);
			r->rcv_wscale = wscale_for(wscale_space);
		}
	}
	s->ctr.syncookies_recv++;
	return true;
}
