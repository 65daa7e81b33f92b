/*
 * probe.c — `synack probe HOST[:PORT]...`: times DNS, TCP, TLS and the
 * WebSocket or HTTP request against real servers over the kernel's sockets,
 * classifies failures, and sums up like ping. The work is in src/probe/.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "probe/probe.h"

#define COUNT_MAX 1000000U
#define RETRY_MAX (PROBE_MAX_TRIES - 1)
#define INTERVAL_MIN_S 0.01 /* one attempt per 10 ms per target at most: a probe, not a flood */
#define SECONDS_MAX 86400.0
#define TIMEOUT_MIN_S 0.001
#define DEFAULT_PORT "80"
#define DEFAULT_TLS_PORT "443"

enum long_only {
	OPT_TIMEOUT = 256,
	OPT_TLS,
	OPT_ALPN,
	OPT_SNI,
	OPT_CACERT,
	OPT_INSECURE,
	OPT_WS,
	OPT_HTTP,
	OPT_RETRY,
	OPT_RETRY_REFUSED,
	OPT_BACKOFF,
	OPT_BACKOFF_MAX,
	OPT_WATCH,
	OPT_JSON,
	OPT_CSV,
	OPT_NO_COLOR,
	OPT_RAW,
};

static const struct option long_opts[] = {
    {"count", required_argument, NULL, 'c'},
    {"interval", required_argument, NULL, 'i'},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"tls", no_argument, NULL, OPT_TLS},
    {"alpn", required_argument, NULL, OPT_ALPN},
    {"sni", required_argument, NULL, OPT_SNI},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"ws", required_argument, NULL, OPT_WS},
    {"http", required_argument, NULL, OPT_HTTP},
    {"retry", required_argument, NULL, OPT_RETRY},
    {"retry-refused", no_argument, NULL, OPT_RETRY_REFUSED},
    {"backoff", required_argument, NULL, OPT_BACKOFF},
    {"backoff-max", required_argument, NULL, OPT_BACKOFF_MAX},
    {"watch", no_argument, NULL, OPT_WATCH},
    {"json", no_argument, NULL, OPT_JSON},
    {"csv", no_argument, NULL, OPT_CSV},
    {"no-color", no_argument, NULL, OPT_NO_COLOR},
    {"raw", no_argument, NULL, OPT_RAW},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: synack probe [OPTIONS] HOST[:PORT]...\n"
	    "\n"
	    "Times each phase of connecting to HOST (DNS, TCP handshake, TLS handshake,\n"
	    "WebSocket upgrade or HTTP first byte) over the kernel's sockets, explains\n"
	    "failures, and sums up like ping. Several targets run in parallel and print\n"
	    "in the order given. PORT defaults to 80, or 443 with --tls.\n"
	    "\n"
	    "  -c, --count N        attempts per target (default 1; --watch: until ^C)\n"
	    "  -i, --interval S     seconds from one attempt's start to the next (default 1)\n"
	    "      --timeout S      limit for each phase (default 5)\n"
	    "  -4, -6               IPv4 or IPv6 only (default both: Happy Eyeballs, RFC 8305)\n"
	    "      --tls            TLS handshake (SNI, certificate, verification)\n"
	    "      --alpn LIST      ALPN protocols to offer, e.g. h2,http/1.1\n"
	    "      --sni NAME       server name to send and verify (default HOST)\n"
	    "      --cacert FILE    trust these CAs instead of the system store\n"
	    "      --insecure       do not fail on verification (still reported)\n"
	    "      --ws PATH        WebSocket upgrade, Sec-WebSocket-Accept checked\n"
	    "      --http PATH      HTTP GET: time to first byte and status\n"
	    "      --retry N        retry a failed attempt up to N times (at most %d)\n"
	    "      --retry-refused  retry refusals too (by default a refusal is final)\n"
	    "      --backoff S      first retry delay (default 1); doubles each retry,\n"
	    "                       with jitter: the delay is between half and all of it\n"
	    "      --backoff-max S  largest retry delay (default 10)\n"
	    "      --watch          health check: one line per state change, summary on ^C\n"
	    "      --json           one JSON object per line: each attempt, then a summary\n"
	    "      --csv            one CSV row per attempt\n"
	    "      --no-color       no colours (also when NO_COLOR is set)\n"
	    "  -v, --verbose        details for every attempt, not just the first\n"
	    "      --raw            root or CAP_NET_RAW: synack's own SYN on a raw socket;\n"
	    "                       reports the SYN-ACK as sent (RTT, TTL, window, MSS,\n"
	    "                       wscale, SACK, timestamps, Fast Open cookie), then\n"
	    "                       resets the half-open connection (like nmap -sS); a RST\n"
	    "                       is refused, silence times out. IPv4 and IPv6; the\n"
	    "                       first address only; no --tls, --ws or --http\n"
	    "\n"
	    "Exit status: 0 when every attempt succeeded; otherwise the class of the\n"
	    "last failure of the first failing target (--watch: of its current state):\n",
	    RETRY_MAX);
	probe_print_exit_table(f);
}

static int bad(const char *what, const char *arg)
{
	fprintf(stderr, "synack probe: bad %s '%s' (see synack probe --help)\n", what, arg);
	return EXIT_USAGE;
}

static bool parse_seconds(const char *s, double min, int64_t *ns)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !isfinite(v) || v < min || v > SECONDS_MAX)
		return false;
	*ns = (int64_t)(v * (double)PROBE_NS_PER_S);
	return true;
}

static bool parse_uint(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (end == s || *end || s[0] == '-' || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

struct cli {
	struct probe_run_opts run;
	bool count_set, no_color;
};

/* One option; returns -1 to go on, or an exit status. */
static int take_option(struct cli *c, int opt, const char *arg)
{
	struct probe_config *cfg = &c->run.cfg;

	switch (opt) {
	case 'c':
		c->count_set = true;
		return parse_uint(arg, COUNT_MAX, &c->run.count) && c->run.count
			   ? -1
			   : bad("count", arg);
	case 'i':
		return parse_seconds(arg, INTERVAL_MIN_S, &c->run.interval_ns)
			   ? -1
			   : bad("interval", arg);
	case OPT_TIMEOUT:
		return parse_seconds(arg, TIMEOUT_MIN_S, &cfg->timeout_ns) ? -1
									   : bad("timeout", arg);
	case '4':
		cfg->family = AF_INET;
		return -1;
	case '6':
		cfg->family = AF_INET6;
		return -1;
	case OPT_TLS:
		cfg->tls = true;
		return -1;
	case OPT_ALPN:
		cfg->alpn = arg;
		return -1;
	case OPT_SNI:
		cfg->sni = arg;
		return -1;
	case OPT_CACERT:
		cfg->cacert = arg;
		return -1;
	case OPT_INSECURE:
		cfg->insecure = true;
		return -1;
	case OPT_WS:
	case OPT_HTTP:
		if (arg[0] != '/' || strlen(arg) >= PROBE_PATH_MAX || strpbrk(arg, " \r\n"))
			return bad("path", arg);
		*(opt == OPT_WS ? &cfg->ws_path : &cfg->http_path) = arg;
		return -1;
	case OPT_RETRY:
		return parse_uint(arg, RETRY_MAX, &cfg->retries) ? -1 : bad("retry count", arg);
	case OPT_RETRY_REFUSED:
		cfg->retry_refused = true;
		return -1;
	case OPT_BACKOFF:
		return parse_seconds(arg, 0, &cfg->backoff_ns) ? -1 : bad("backoff", arg);
	case OPT_BACKOFF_MAX:
		return parse_seconds(arg, 0, &cfg->backoff_max_ns) ? -1 : bad("backoff-max", arg);
	case OPT_WATCH:
		c->run.watch = true;
		return -1;
	case OPT_JSON:
		c->run.output = PROBE_OUT_JSON;
		return -1;
	case OPT_CSV:
		c->run.output = PROBE_OUT_CSV;
		return -1;
	case OPT_NO_COLOR:
		c->no_color = true;
		return -1;
	case OPT_RAW:
		c->run.cfg.method = PROBE_METHOD_RAW; /* probe_run checks the privilege */
		return -1;
	case 'v':
		c->run.verbose = true;
		return -1;
	case 'h':
		usage(stdout);
		return EXIT_OK;
	default:
		fprintf(stderr, "synack probe: see synack probe --help\n");
		return EXIT_USAGE;
	}
}

static int check_combination(const struct cli *c)
{
	const struct probe_config *cfg = &c->run.cfg;

	if (cfg->ws_path && cfg->http_path) {
		fprintf(stderr, "synack probe: --ws and --http exclude each other\n");
		return EXIT_USAGE;
	}
	if ((cfg->alpn || cfg->sni || cfg->cacert || cfg->insecure) && !cfg->tls) {
		fprintf(stderr,
			"synack probe: --alpn, --sni, --cacert and --insecure need --tls\n");
		return EXIT_USAGE;
	}
	/* The raw handshake ends in a RST: no connection is left for the later phases. */
	if (cfg->method == PROBE_METHOD_RAW && (cfg->tls || cfg->ws_path || cfg->http_path)) {
		fprintf(stderr, "synack probe: --raw stops after the SYN-ACK: no --tls, --ws or "
				"--http\n");
		return EXIT_USAGE;
	}
	if (cfg->backoff_max_ns < cfg->backoff_ns) {
		fprintf(stderr, "synack probe: --backoff-max is smaller than --backoff\n");
		return EXIT_USAGE;
	}
	return -1;
}

static int parse_args(int argc, char **argv, struct cli *c)
{
	int opt, rc;

	memset(c, 0, sizeof *c);
	probe_config_default(&c->run.cfg);
	c->run.count = 1;
	c->run.interval_ns = PROBE_NS_PER_S;
	c->run.out = stdout;
	optind = 0; /* full reinitialisation of getopt: main() may have used it */
	opterr = 0; /* its messages take two lines with ours: one line of our own */
	while ((opt = getopt_long(argc, argv, ":c:i:46vh", long_opts, NULL)) != -1) {
		if (opt == '?' || opt == ':') {
			/* A long option is named by the argument just taken; a short
			 * one by optopt, as it may sit in a group such as -vx. An
			 * unknown long option leaves optopt 0. */
			const char *taken = argv[optind - 1];
			char shortopt[3] = {'-', (char)optopt, 0};
			bool is_long = !strncmp(taken, "--", 2) && (opt == ':' || optopt == 0);

			fprintf(stderr, "synack probe: %s '%s' (see synack probe --help)\n",
				opt == ':' ? "a value is needed after" : "unknown option",
				is_long ? taken : shortopt);
			return EXIT_USAGE;
		}
		if ((rc = take_option(c, opt, optarg)) >= 0)
			return rc;
	}
	if (optind >= argc) {
		fprintf(stderr, "synack probe: no target (see synack probe --help)\n");
		return EXIT_USAGE;
	}
	if (argc - optind > PROBE_MAX_TARGETS) {
		fprintf(stderr, "synack probe: at most %d targets\n", PROBE_MAX_TARGETS);
		return EXIT_USAGE;
	}
	if (c->run.watch && !c->count_set)
		c->run.count = 0;
	return check_combination(c);
}

int cmd_probe(int argc, char **argv)
{
	struct probe_target targets[PROBE_MAX_TARGETS];
	struct cli c;
	int rc = parse_args(argc, argv, &c);
	size_t n = 0;

	if (rc >= 0)
		return rc;
	for (int i = optind; i < argc; i++, n++)
		if (probe_target_parse(argv[i], c.run.cfg.tls ? DEFAULT_TLS_PORT : DEFAULT_PORT,
				       &targets[n]) < 0)
			return bad("target", argv[i]);
	c.run.color = isatty(STDOUT_FILENO) && !c.no_color && !getenv("NO_COLOR") &&
		      c.run.output == PROBE_OUT_TEXT;
	c.run.bar = isatty(STDOUT_FILENO) && c.run.output == PROBE_OUT_TEXT;
	return probe_run(&c.run, targets, n);
}
