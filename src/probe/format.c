/* format.c — targets in, addresses out. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

#define PORT_MAX 65535

static int port_ok(const char *p)
{
	char *end;
	long v;

	if (!*p || strspn(p, "0123456789") != strlen(p))
		return 0;
	v = strtol(p, &end, 10);
	return v > 0 && v <= PORT_MAX;
}

int probe_target_parse(const char *arg, const char *default_port, struct probe_target *t)
{
	const char *colon = strrchr(arg, ':'), *port = default_port;
	size_t hlen = strlen(arg);
	const char *host = arg;

	memset(t, 0, sizeof *t);
	if (arg[0] == '[') { /* [v6] or [v6]:port */
		const char *close = strchr(arg, ']');

		if (!close || (close[1] && close[1] != ':'))
			return -1;
		host = arg + 1;
		hlen = (size_t)(close - host);
		if (close[1] == ':')
			port = close + 2;
	} else if (colon && strchr(arg, ':') == colon) { /* one colon: host:port */
		hlen = (size_t)(colon - arg);
		port = colon + 1;
	} /* no colon, or several (a bare IPv6 address): the default port */
	if (hlen == 0 || hlen >= sizeof t->host || !port_ok(port))
		return -1;
	memcpy(t->host, host, hlen);
	snprintf(t->port, sizeof t->port, "%s", port);
	if (strchr(t->host, ':'))
		snprintf(t->label, sizeof t->label, "[%s]:%s", t->host, t->port);
	else
		snprintf(t->label, sizeof t->label, "%s:%s", t->host, t->port);
	return 0;
}

const char *probe_family_name(int family)
{
	return family == AF_INET6 ? "ipv6" : family == AF_INET ? "ipv4" : "?";
}

void probe_addr_str(const struct sockaddr_storage *ss, bool with_port, char *out, size_t len)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	socklen_t sl =
	    ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

	if (getnameinfo((const struct sockaddr *)ss, sl, host, sizeof host, serv, sizeof serv,
			NI_NUMERICHOST | NI_NUMERICSERV)) {
		snprintf(out, len, "?");
		return;
	}
	if (!with_port)
		snprintf(out, len, "%s", host);
	else if (ss->ss_family == AF_INET6)
		snprintf(out, len, "[%s]:%s", host, serv);
	else
		snprintf(out, len, "%s:%s", host, serv);
}
