/* addr.c — addresses, state names and counter descriptions. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/internal.h"

static int parse_port(const char *p, uint16_t *port)
{
	char *end;
	long v;

	if (*p == '\0')
		return -EINVAL;
	errno = 0;
	v = strtol(p, &end, 10);
	if (errno || *end != '\0' || v < 0 || v > UINT16_MAX)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int synack_addr_parse(const char *text, synack_addr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port = NULL;
	size_t n;

	if (!text || !out)
		return -EINVAL;
	memset(out, 0, sizeof *out);
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || (close[1] != '\0' && close[1] != ':'))
			return -EINVAL;
		n = (size_t)(close - text - 1);
		if (close[1] == ':')
			port = close + 2;
		text++;
	} else {
		const char *colon = strchr(text, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* a bare IPv6 address */
		n = colon ? (size_t)(colon - text) : strlen(text);
		if (colon)
			port = colon + 1;
	}
	if (n == 0 || n >= sizeof host)
		return -EINVAL;
	memcpy(host, text, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, out->ip) == 1)
		out->family = SYNACK_AF_INET;
	else if (inet_pton(AF_INET6, host, out->ip) == 1)
		out->family = SYNACK_AF_INET6;
	else
		return -EINVAL;
	return port ? parse_port(port, &out->port) : 0;
}

int synack_addr_format(const synack_addr *a, bool with_port, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN];
	bool v6 = a->family == SYNACK_AF_INET6;

	if (!inet_ntop(v6 ? AF_INET6 : AF_INET, a->ip, host, sizeof host))
		return snprintf(buf, cap, "?");
	if (!with_port)
		return snprintf(buf, cap, "%s", host);
	return snprintf(buf, cap, v6 ? "[%s]:%u" : "%s:%u", host, a->port);
}

bool synack_addr_equal(const synack_addr *a, const synack_addr *b, bool ports)
{
	size_t n = a->family == SYNACK_AF_INET6 ? 16 : 4;

	return a->family == b->family && !memcmp(a->ip, b->ip, n) && (!ports || a->port == b->port);
}

bool synack_addr_is_group(const synack_addr *a)
{
	return addr_not_unicast(a->family, a->ip);
}

static const char *const rfc_names[SYNACK_STATE_COUNT] = {
	"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1",
	"FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT",
};

/* iproute2's ss spells them its own way. */
static const char *const ss_names[SYNACK_STATE_COUNT] = {
	"UNCONN", "LISTEN", "SYN-SENT", "SYN-RECV", "ESTAB", "FIN-WAIT-1",
	"FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT",
};

const char *synack_state_name(synack_state st)
{
	return (unsigned)st < SYNACK_STATE_COUNT ? rfc_names[st] : "?";
}

const char *synack_state_ss_name(synack_state st)
{
	return (unsigned)st < SYNACK_STATE_COUNT ? ss_names[st] : "?";
}

static const struct {
	const char *name, *text;
} counter_info[] = {
#define SYNACK_COUNTER_INFO(n, t) {#n, t},
	SYNACK_COUNTERS(SYNACK_COUNTER_INFO)
#undef SYNACK_COUNTER_INFO
};

bool synack_counter_describe(size_t i, const char **name, const char **text)
{
	if (i >= sizeof counter_info / sizeof counter_info[0])
		return false;
	if (name)
		*name = counter_info[i].name;
	if (text)
		*text = counter_info[i].text;
	return true;
}

uint64_t synack_counter_value(const synack_counters *c, size_t i)
{
	const uint64_t *v = (const uint64_t *)c;

	return i < sizeof *c / sizeof *v ? v[i] : 0;
}
