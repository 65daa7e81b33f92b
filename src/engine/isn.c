/* isn.c — initial sequence numbers (RFC 6528), timestamp offsets and
 * ephemeral ports (RFC 6056), all from keyed SipHash-2-4. */
#include <sodium.h>

#include "engine/internal.h"

/* Packs a tuple into bytes for hashing: family, ports, then addresses. */
static size_t tuple_pack(const tuple *t, uint8_t *out)
{
	size_t alen = t->family == SYNACK_AF_INET6 ? 16 : 4;

	out[0] = t->family;
	wire_set16(out + 1, t->lport);
	wire_set16(out + 3, t->rport);
	memcpy(out + 5, t->laddr, alen);
	memcpy(out + 5 + alen, t->raddr, alen);
	return 5 + 2 * alen;
}

/* RFC 6528 section 3: ISN = M + F(localip, localport, remoteip, remoteport,
 * secretkey), M a 4 microsecond timer. The hash's other half gives the
 * connection's timestamp offset, as Linux derives tsoffset from the tuple. */
void isn_for(synack_stack *s, const tuple *t, uint32_t *isn, uint32_t *ts_off)
{
	uint8_t in[5 + 32], out[crypto_shorthash_siphash24_BYTES];
	size_t n = tuple_pack(t, in);

	crypto_shorthash_siphash24(out, in, n, s->isn_key);
	*isn = wire_get32(out) + (uint32_t)(s->now / ISN_CLOCK_NS);
	*ts_off = wire_get32(out + 4);
}

/* RFC 7323 section 5.4: a clock of about 1 ms, offset per connection. */
uint32_t ts_now(const synack_stack *s, uint32_t ts_off)
{
	return (uint32_t)stack_ms(s) + ts_off;
}

/* RFC 6056 algorithm 3: a keyed offset per destination, plus a counter. */
uint16_t ephemeral_port(synack_stack *s, const tuple *t)
{
	tuple dst = *t;

	dst.lport = 0;
	return (uint16_t)(tuple_hash_keyed(s->port_key, &dst) + s->port_counter++);
}
