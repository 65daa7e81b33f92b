/* isn.c — initial sequence numbers (RFC 6528), timestamp offsets and
 * ephemeral ports (RFC 6056), all from keyed SipHash (siphash.h). */
#include "engine/internal.h"

/* RFC 6528 section 3: ISN = M + F(localip, localport, remoteip, remoteport,
 * secretkey), M a 4 microsecond timer, F SipHash-2-4. The hash's other half
 * gives the connection's timestamp offset, as Linux derives tsoffset from
 * the tuple. */
void isn_for(synack_stack *s, const tuple *t, uint32_t *isn, uint32_t *ts_off)
{
	uint64_t h = tuple_siphash(&s->isn_key, t, 2, 4);

	*isn = (uint32_t)h + (uint32_t)(s->now / ISN_CLOCK_NS);
	*ts_off = (uint32_t)(h >> 32);
}

/* RFC 7323 section 5.4: a clock of about 1 ms, offset per connection. */
uint32_t ts_now(const synack_stack *s, uint32_t ts_off)
{
	return (uint32_t)stack_ms(s) + ts_off;
}

/* RFC 6056 algorithm 3: a keyed offset per destination, plus a counter.
 * A client tends to connect to one server again and again, so the offset
 * of the last destination is kept: the same keyed hash, not recomputed. */
uint16_t ephemeral_port(synack_stack *s, const tuple *t)
{
	tuple dst = *t;

	dst.lport = 0;
	if (!tuple_equal(&dst, &s->port_dst)) {
		s->port_off = tuple_hash_keyed(&s->port_key, &dst);
		s->port_dst = dst;
	}
	return (uint16_t)(s->port_off + s->port_counter++);
}
