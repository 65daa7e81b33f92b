/*
 * resolve.c — the DNS phase: getaddrinfo, timed, with the addresses put in
 * the order RFC 8305 section 4 asks for (families interleaved, starting with
 * the family getaddrinfo's RFC 6724 sort put first).
 */
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "probe.h"

static enum probe_class class_from_gai(int rc)
{
	switch (rc) {
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY:
#endif
		return PROBE_ERR_DNS_NONAME;
	case EAI_AGAIN:
	case EAI_FAIL:
		return PROBE_ERR_DNS_NOANSWER;
	default:
		return PROBE_ERR_OTHER;
	}
}

/* RFC 8305 section 4: alternate families so that one broken family costs one attempt delay. */
static void interleave(struct probe_result *r, const struct addrinfo *list)
{
	const struct addrinfo *first = list, *ai;
	const struct addrinfo *fam[2][PROBE_MAX_ADDRS];
	size_t nf[2] = {0, 0}, i;

	for (ai = list; ai; ai = ai->ai_next) {
		int k = ai->ai_family == first->ai_family ? 0 : 1;

		if (ai->ai_addrlen <= sizeof r->addrs[0].addr && nf[k] < PROBE_MAX_ADDRS)
			fam[k][nf[k]++] = ai;
	}
	r->naddrs = 0;
	for (i = 0; r->naddrs < PROBE_MAX_ADDRS && (i < nf[0] || i < nf[1]); i++)
		for (int k = 0; k < 2; k++)
			if (i < nf[k] && r->naddrs < PROBE_MAX_ADDRS) {
				struct probe_addr_try *a = &r->addrs[r->naddrs++];

				memset(a, 0, sizeof *a);
				memcpy(&a->addr, fam[k][i]->ai_addr, fam[k][i]->ai_addrlen);
			}
}

enum probe_class probe_resolve(const struct probe_config *cfg, const struct probe_target *t,
			       struct probe_result *r)
{
	struct addrinfo hints = {
	    .ai_family = cfg->family, .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
	struct addrinfo *list = NULL;
	int64_t start = probe_now_ns();
	int rc = getaddrinfo(t->host, t->port, &hints, &list);

	r->phase_ns[PROBE_PHASE_DNS] = probe_now_ns() - start;
	if (rc != 0) {
		snprintf(r->detail, sizeof r->detail, "%s", gai_strerror(rc));
		return class_from_gai(rc);
	}
	interleave(r, list);
	freeaddrinfo(list);
	return r->naddrs ? PROBE_OK : PROBE_ERR_DNS_NONAME;
}
