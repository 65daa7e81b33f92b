/*
 * script.c — `synack script`: runs packetdrill scripts against the engine,
 * each on a fresh stack on virtual time, and says which passed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "script/script.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: synack script [--verbose] [--strict-ts] [--ipv6] [--kernel]\n"
		   "                     [--tolerance-ms N] [--jobs N] FILE.pkt...\n"
		   "\n"
		   "Runs packetdrill scripts against one synack stack each, on virtual time.\n"
		   "  --verbose    print every event, packet and skipped part as it runs\n"
		   "  --strict-ts  also check TS ecr exactly and the progression of TS val\n"
		   "  --ipv6       run over IPv6 (fd3d:fa7b:d17d::1 <-> 2001:db8::1)\n"
		   "  --kernel     run against the Linux kernel instead, as packetdrill does:\n"
		   "               each script in a network namespace of its own with a TUN\n"
		   "               device (198.18.0.1 <-> 198.18.0.2, fd00::1 <-> fd00::2),\n"
		   "               on real time (needs root)\n"
		   "  --tolerance-ms N  default timing tolerance (packetdrill's is 4 ms)\n"
		   "  --jobs N     run N scripts at once (each in a process of its own)\n"
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

/* Runs the files on up to jobs processes at once; each one's output is
 * printed whole when it ends. Returns the counts as run_file's codes. */
static void run_parallel(char **files, int n, const script_run_opts *opts, int jobs, int *passed,
			 int *failed, int *unreadable)
{
	pid_t *pids = calloc((size_t)n, sizeof *pids);
	FILE **outs = calloc((size_t)n, sizeof *outs);
	int next = 0, running = 0;

	if (!pids || !outs) {
		fprintf(stderr, "synack script: out of memory\n");
		*unreadable += n;
		free(pids);
		free(outs);
		return;
	}
	while (next < n || running) {
		if (next < n && running < jobs) {
			int i = next++;
			outs[i] = tmpfile();
			fflush(stdout);
			pids[i] = outs[i] ? fork() : -1;
			if (pids[i] == 0) {
				dup2(fileno(outs[i]), STDOUT_FILENO);
				int rc = run_file(files[i], opts);
				fflush(stdout);
				_exit(rc);
			}
			if (pids[i] < 0) {
				fprintf(stderr, "synack script: cannot start %s\n", files[i]);
				(*unreadable)++;
				if (outs[i])
					fclose(outs[i]);
				outs[i] = NULL;
				continue;
			}
			running++;
			continue;
		}
		int status;
		pid_t pid = wait(&status);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (pids[i] != pid || !outs[i])
				continue;
			int rc = WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_FAIL;
			char buf[4096];
			size_t got;

			rewind(outs[i]);
			while ((got = fread(buf, 1, sizeof buf, outs[i])) > 0)
				fwrite(buf, 1, got, stdout);
			if (!WIFEXITED(status))
				printf("FAIL %s (killed by signal %d)\n", files[i], WTERMSIG(status));
			fflush(stdout);
			fclose(outs[i]);
			outs[i] = NULL;
			*passed += rc == EXIT_OK;
			*failed += rc == EXIT_FAIL;
			*unreadable += rc == EXIT_USAGE;
			running--;
		}
	}
	free(pids);
	free(outs);
}

#define usage_error(...) cli_usage_error("script", __VA_ARGS__)

int cmd_script(int argc, char **argv)
{
	script_run_opts opts = {0};
	int first = 1, passed = 0, failed = 0, unreadable = 0, jobs = 1;
	struct timespec t0, t1;

	for (; first < argc && argv[first][0] == '-'; first++) {
		const char *a = argv[first];

		if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
			opts.verbose = true;
		} else if (!strcmp(a, "--strict-ts")) {
			opts.strict_ts = true;
		} else if (!strcmp(a, "--ipv6")) {
			opts.ipv6 = true;
		} else if (!strcmp(a, "--kernel")) {
			opts.kernel = true;
		} else if (!strcmp(a, "--tolerance-ms") || !strcmp(a, "--jobs")) {
			char *end;
			long v;

			if (first + 1 >= argc)
				return usage_error("%s needs a value", a);
			v = strtol(argv[first + 1], &end, 10);
			if (!*argv[first + 1] || *end || v <= 0 || v > 100000)
				return usage_error("%s: '%s' is not an integer in 1..100000", a,
						   argv[first + 1]);
			if (a[2] == 'j')
				jobs = (int)v;
			else
				opts.tolerance_us = v * 1000;
			first++;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(a, "--")) {
			first++;
			break;
		} else {
			return usage_error("unknown option '%s'", a);
		}
	}
	if (first >= argc)
		return usage_error("no script given");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (jobs > 1) {
		run_parallel(argv + first, argc - first, &opts, jobs, &passed, &failed,
			     &unreadable);
	} else {
		for (int i = first; i < argc; i++) {
			int rc = run_file(argv[i], &opts);

			passed += rc == EXIT_OK;
			failed += rc == EXIT_FAIL;
			unreadable += rc == EXIT_USAGE;
			fflush(stdout);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%d passed, %d failed", passed, failed + unreadable);
	if (opts.kernel)
		printf(" (kernel, %.1f s)",
		       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	printf("\n");
	if (unreadable)
		return EXIT_USAGE;
	return failed ? EXIT_FAIL : EXIT_OK;
}
