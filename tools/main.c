/* main.c — `synack SUBCOMMAND ...`: dispatches to one file per subcommand. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "synack/synack.h"

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand subcommands[] = {
	{"demo", cmd_demo, "a client and a server on the simulated network"},
	{"script", cmd_script, "run packetdrill scripts against the engine"},
	{"trace", cmd_trace, "print a pcap file as tcpdump does, with ladder and timings"},
	{"probe", cmd_probe, "measure and diagnose real handshakes (DNS, TCP, TLS, HTTP)"},
	{"serve", cmd_serve, "a userspace TCP server on a TUN device"},
	{"connect", cmd_connect, "a userspace TCP client on a TUN device"},
	{"lab", cmd_lab, "create or remove a network namespace with a TUN device to play in"},
	{"flood", cmd_flood, "a SYN flood on the simulated network: cookies against queues"},
};

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "synack %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see synack %s --help)\n", cmd);
	return EXIT_USAGE;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: synack COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
		fprintf(f, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(f, "\n`synack COMMAND --help` describes each one.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("synack %s\n", SYNACK_VERSION_STRING);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "synack: unknown command '%s' (see synack --help)\n", argv[1]);
	return EXIT_USAGE;
}
