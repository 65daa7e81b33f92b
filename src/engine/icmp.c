/* icmp.c — ICMP and ICMPv6 errors about our segments: RFC 1122 4.2.3.9
 * (hard and soft errors), RFC 5927 (only errors quoting a sequence number in
 * flight count), path MTU discovery (RFC 1191, RFC 8201). The errno values
 * are Linux's (icmp_err_convert, icmpv6_err_convert). */
#include "engine/internal.h"

#define V4_UNREACH_CODES 16
#define V6_UNREACH_CODES 7
#define MIN_PMTU_V4 552  /* Linux ip_rt_min_pmtu: 512 + 20 + 20 */
#define MIN_PMTU_V6 1280 /* RFC 8200 5: every IPv6 link carries 1280 */

/* ICMPv4 destination unreachable, by code (RFC 792, RFC 1812 5.2.7.1). */
static const int v4_unreach[V4_UNREACH_CODES] = {
	ENETUNREACH, EHOSTUNREACH, ENOPROTOOPT, ECONNREFUSED, EMSGSIZE, EOPNOTSUPP,
	ENETUNREACH, EHOSTDOWN,    ENONET,      ENETUNREACH,  EHOSTUNREACH, ENETUNREACH,
	EHOSTUNREACH, EHOSTUNREACH, EHOSTUNREACH, EHOSTUNREACH,
};

/* ICMPv6 destination unreachable, by code (RFC 4443 3.1). */
static const int v6_unreach[V6_UNREACH_CODES] = {
	ENETUNREACH, EACCES, EHOSTUNREACH, EHOSTUNREACH, ECONNREFUSED, EACCES, EACCES,
};

/* The error an ICMP message means, or 0; *pmtu for "packet too big". */
static int icmp_errno(const wire_icmp *ic, bool *pmtu)
{
	*pmtu = false;
	if (ic->family == SYNACK_AF_INET) {
		switch (ic->type) {
		case WIRE_ICMP_DEST_UNREACH:
			if (ic->code == WIRE_ICMP_FRAG_NEEDED) {
				*pmtu = true;
				return 0;
			}
			return ic->code < V4_UNREACH_CODES ? v4_unreach[ic->code] : 0;
		case WIRE_ICMP_TIME_EXCEEDED:
			return EHOSTUNREACH;
		case WIRE_ICMP_PARAMPROB:
			return EPROTO;
		default:
			return 0;
		}
	}
	switch (ic->type) {
	case WIRE_ICMP6_DEST_UNREACH:
		return ic->code < V6_UNREACH_CODES ? v6_unreach[ic->code] : 0;
	case WIRE_ICMP6_PKT_TOO_BIG:
		*pmtu = true;
		return 0;
	case WIRE_ICMP6_TIME_EXCEEDED:
		return EHOSTUNREACH;
	case WIRE_ICMP6_PARAMPROB:
		return EPROTO;
	default:
		return 0;
	}
}

/* Path MTU discovery: a smaller MTU lowers the MSS; segments in flight that
 * no longer fit go again at once (Linux's tcp_simple_retransmit). */
static void pmtu_reduced(synack_conn *c, uint32_t mtu)
{
	bool v6 = c->node.t.family == SYNACK_AF_INET6;
	uint32_t floor = v6 ? MIN_PMTU_V6 : MIN_PMTU_V4;
	uint32_t overhead = (v6 ? WIRE_IPV6_HDR : WIRE_IPV4_HDR) + WIRE_TCP_HDR;
	uint16_t clamp;

	if (mtu < floor)
		mtu = floor;
	if (mtu <= overhead || mtu - overhead >= c->mss_clamp)
		return;
	clamp = (uint16_t)(mtu - overhead);
	c->mss_clamp = clamp;
	c->snd_mss = (c->neg & NEG_TS) ? (uint16_t)(clamp - TCP_TS_OPT_SPACE) : clamp;
	if (c->rtx.len && c->state != SYNACK_SYN_SENT) {
		cc_simple_retransmit(c);
		conn_output(c);
	}
}

static void icmp_request(synack_stack *s, request *r, const wire_icmp *ic, int err, bool pmtu)
{
	/* Linux's tcp_req_err: only an error quoting our SYN-ACK, and only a
	 * hard one, removes the request. */
	if (ic->q_seq != r->iss || pmtu || !err) {
		s->ctr.drop_icmp_unmatched++;
		return;
	}
	s->ctr.icmp_errors++;
	request_free(s, r);
}

int icmp_input(synack_stack *s, const wire_icmp *ic)
{
	tuple t;
	tnode *n;
	synack_conn *c;
	bool pmtu;
	int err = icmp_errno(ic, &pmtu);

	memset(&t, 0, sizeof t);
	t.family = ic->family;
	t.lport = ic->q_sport;
	t.rport = ic->q_dport;
	memcpy(t.laddr, ic->q_src, sizeof t.laddr);
	memcpy(t.raddr, ic->q_dst, sizeof t.raddr);
	n = (err || pmtu) ? table_lookup(&s->conns, &t, tuple_hash(s, &t)) : NULL;
	if (!n) {
		s->ctr.drop_icmp_unmatched++;
		return -ENOENT;
	}
	if (n->kind == NODE_REQUEST) {
		icmp_request(s, container_of(n, request, node), ic, err, pmtu);
		return 0;
	}
	c = container_of(n, synack_conn, node);
	/* RFC 5927 4.1: the quoted sequence number must be in flight. */
	if (c->state == SYNACK_TIME_WAIT || !seq_between(ic->q_seq, c->snd_una, c->snd_max)) {
		s->ctr.drop_icmp_unmatched++;
		return -ENOENT;
	}
	s->ctr.icmp_errors++;
	if (pmtu) {
		pmtu_reduced(c, ic->mtu);
		return 0;
	}
	/* RFC 1122 4.2.3.9: during the handshake Linux makes every such error
	 * fatal; afterwards it is soft, reported only if the connection later
	 * times out. */
	if (c->state == SYNACK_SYN_SENT || c->state == SYNACK_SYN_RECEIVED)
		conn_done(c, -err);
	else
		c->soft_error = -err;
	return 0;
}
