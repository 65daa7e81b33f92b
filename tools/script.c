/*
 * script.c — `synack script`: runs packetdrill scripts against the engine,
 * each on a fresh stack on virtual time, and says which passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "script/script.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: synack script [--verbose] [--strict-ts] [--ipv6] FILE.pkt...\n"
		   "\n"
		   "Runs packetdrill scripts against one synack stack each, on virtual time.\n"
		   "  --verbose    print every event, packet and skipped part as it runs\n"
		   "  --strict-ts  also check TS ecr exactly and the progression of TS val\n"
		   "  --ipv6       run over IPv6 (fd3d:fa7b:d17d::1 <-> 2001:db8::1)\n"
		   "Prints PASS or FAIL per file, then a count. Exit status: 0 all passed,\n"
		   "1 some failed, 2 bad arguments or unreadable files.\n");
}

/* Runs one file; its messages go after its PASS/FAIL line. Returns 0 for a
 * pass, 1 for a failure, 2 when the file cannot be read. */
static int run_file(const char *path, const script_run_opts *opts)
{
	char err[SCRIPT_ERR_MAX];
	char *text = NULL;
	size_t len = 0;
	script *s;
	FILE *probe = fopen(path, "r");

	if (!probe) {
		fprintf(stderr, "synack script: cannot read %s\n", path);
		return EXIT_USAGE;
	}
	fclose(probe);
	if (script_parse_file(path, &s, err, sizeof err) < 0) {
		printf("FAIL %s\n%s\n", path, err);
		return EXIT_FAIL;
	}
	FILE *mem = open_memstream(&text, &len);
	if (!mem) {
		script_free(s);
		fprintf(stderr, "synack script: out of memory\n");
		return EXIT_USAGE;
	}
	int rc = script_run(s, opts, mem);
	fclose(mem);
	printf("%s %s\n", rc == 0 ? "PASS" : "FAIL", path);
	fputs(text, stdout);
	free(text);
	script_free(s);
	return rc == 0 ? EXIT_OK : EXIT_FAIL;
}

int cmd_script(int argc, char **argv)
{
	script_run_opts opts = {0};
	int first = 1, passed = 0, failed = 0, unreadable = 0;

	for (; first < argc && argv[first][0] == '-'; first++) {
		const char *a = argv[first];

		if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
			opts.verbose = true;
		} else if (!strcmp(a, "--strict-ts")) {
			opts.strict_ts = true;
		} else if (!strcmp(a, "--ipv6")) {
			opts.ipv6 = true;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(a, "--")) {
			first++;
			break;
		} else {
			fprintf(stderr, "synack script: unknown option %s\n", a);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (first >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (int i = first; i < argc; i++) {
		int rc = run_file(argv[i], &opts);

		passed += rc == EXIT_OK;
		failed += rc == EXIT_FAIL;
		unreadable += rc == EXIT_USAGE;
		fflush(stdout);
	}
	printf("%d passed, %d failed\n", passed, failed + unreadable);
	if (unreadable)
		return EXIT_USAGE;
	return failed ? EXIT_FAIL : EXIT_OK;
}
