/*
 * classify.c — failure classes: a name, an exit status, what it means and
 * what to do next. One table, so that --help, the man page and the output
 * say the same thing.
 */
#include "probe.h"

struct class_info {
	const char *name;
	int exit_status;
	const char *brief; /* for the table in --help */
	const char *why;
	const char *next;
};

/* Exit 2 is the CLI's usage error (tools/cmd.h), so the classes skip it. */
static const struct class_info classes[PROBE_CLASS_COUNT] = {
    [PROBE_OK] = {"ok", 0, "every attempt succeeded", "every phase succeeded", ""},
    [PROBE_ERR_OTHER] = {"error", 1, "a local error", "a local error (see the detail)",
			 "check the detail; run with -4 or -6, or check local routes and limits"},
    [PROBE_ERR_UNSUPPORTED] = {"unsupported", 3, "not available in this build",
			       "this build cannot do what was asked", "see synack probe --help"},
    [PROBE_ERR_DNS_NONAME] =
	{"dns-noname", 4, "DNS: no such name, or no address",
	 "the name does not exist (NXDOMAIN) or has no address",
	 "check the spelling; `dig NAME A` and `dig NAME AAAA` show the records"},
    [PROBE_ERR_DNS_NOANSWER] = {"dns-noanswer", 5, "DNS: no answer from the resolver",
				"no answer from the resolver (timeout or SERVFAIL)",
				"check /etc/resolv.conf and that its servers are reachable"},
    [PROBE_ERR_REFUSED] = {"refused", 6, "TCP: refused (RST)",
			   "the host answered with a RST: nothing listens on the port, or a "
			   "firewall rejects",
			   "check the service runs and listens on this address and port (ss -ltn)"},
    [PROBE_ERR_TIMEOUT] = {"timeout", 7, "timed out (silence), in any phase",
			   "silence: a firewall drops the packets, the host is down, or the "
			   "address is wrong",
			   "check the address, then firewalls on the path; try a known-open port"},
    [PROBE_ERR_HOST_UNREACH] = {"host-unreachable", 8, "host unreachable",
				"no way to the host (ICMP host unreachable, an unreachable "
				"route, or no ARP/ND answer)",
				"check the host is up and on this network (ip route get ADDR)"},
    [PROBE_ERR_NET_UNREACH] = {"net-unreachable", 9, "network unreachable",
			       "no route to the network",
			       "check the routing table (ip route get ADDR) and the default route"},
    [PROBE_ERR_RESET] = {"reset", 10, "reset or closed during the request",
			 "the connection was reset or closed during the request",
			 "check the server's logs; a proxy or load balancer may cut it"},
    [PROBE_ERR_TLS_CERT] = {"tls-cert", 11, "TLS: the certificate did not verify",
			    "the certificate did not verify (unknown issuer, expired, self-signed)",
			    "give the issuer with --cacert, renew the certificate, or measure "
			    "with --insecure"},
    [PROBE_ERR_TLS_NAME] = {"tls-name", 12, "TLS: the certificate is for another name",
			    "the certificate is not for this name or address",
			    "connect by the name the certificate carries, or use --sni NAME"},
    [PROBE_ERR_TLS_PROTOCOL] = {"tls-protocol", 13,
				"TLS: handshake failed (alert, version, not TLS)",
				"the TLS handshake failed (alert, no common version or cipher, "
				"not TLS)",
				"check the port speaks TLS and the versions it allows "
				"(openssl s_client)"},
    [PROBE_ERR_TLS_RESET] = {"tls-reset", 14, "TLS: reset or closed during the handshake",
			     "the server reset or closed the connection during the TLS handshake",
			     "check the port speaks TLS; a server or middlebox may reject the SNI "
			     "or ALPN"},
    [PROBE_ERR_HTTP] = {"http-error", 15, "HTTP: status 400 or more, or not HTTP",
			"the server answered with an HTTP error (>= 400)",
			"check the path and the server's logs"},
    [PROBE_ERR_WS] = {"ws-error", 16, "WebSocket: upgrade refused or wrong accept key",
		      "the WebSocket upgrade was refused or its Sec-WebSocket-Accept is wrong",
		      "check the path and that the server (or proxy) passes Upgrade headers"},
    [PROBE_ERR_PERMISSION] = {"permission", 17, "--raw without root or CAP_NET_RAW",
			      "raw sockets need root or the CAP_NET_RAW capability",
			      "run as root (sudo), or give the binary CAP_NET_RAW "
			      "(setcap cap_net_raw+ep), or probe without --raw"},
    [PROBE_INTERRUPTED] = {"interrupted", 130, "interrupted before any attempt ended",
			   "stopped by a signal", ""},
};

/* Silence after the connection is up means something else than silence to a SYN. */
static const char TIMEOUT_LATER_WHY[] =
    "the connection opened but the server did not answer this phase in time";
static const char TIMEOUT_LATER_NEXT[] =
    "check the port speaks this protocol (TLS, HTTP) and the server's load; raise --timeout";

static const char *const phase_names[PROBE_PHASE_COUNT] = {
    [PROBE_PHASE_DNS] = "dns", [PROBE_PHASE_TCP] = "tcp",   [PROBE_PHASE_TLS] = "tls",
    [PROBE_PHASE_WS] = "ws",   [PROBE_PHASE_HTTP] = "http",
};

const char *probe_phase_name(enum probe_phase p)
{
	return p < PROBE_PHASE_COUNT ? phase_names[p] : "?";
}

const char *probe_class_name(enum probe_class c)
{
	return c < PROBE_CLASS_COUNT ? classes[c].name : "?";
}

int probe_class_exit(enum probe_class c)
{
	return c < PROBE_CLASS_COUNT ? classes[c].exit_status : 1;
}

const char *probe_class_why(enum probe_class c, enum probe_phase phase)
{
	if (c == PROBE_ERR_TIMEOUT && phase > PROBE_PHASE_TCP)
		return TIMEOUT_LATER_WHY;
	return c < PROBE_CLASS_COUNT ? classes[c].why : "";
}

const char *probe_class_next(enum probe_class c, enum probe_phase phase)
{
	if (c == PROBE_ERR_TIMEOUT && phase > PROBE_PHASE_TCP)
		return TIMEOUT_LATER_NEXT;
	return c < PROBE_CLASS_COUNT ? classes[c].next : "";
}

/* The CLI's own status, listed with the classes (tools/cmd.h EXIT_USAGE). */
#define USAGE_STATUS 2

void probe_print_exit_table(FILE *f)
{
	/* The table is in status order, with usage's 2 between 1 and 3. */
	for (int c = 0; c < PROBE_CLASS_COUNT; c++) {
		fprintf(f, "  %3d  %-17s %s\n", classes[c].exit_status, classes[c].name,
			classes[c].brief);
		if (classes[c].exit_status == USAGE_STATUS - 1)
			fprintf(f, "  %3d  %-17s %s\n", USAGE_STATUS, "usage", "bad arguments");
	}
}
