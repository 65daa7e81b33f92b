/*
 * lab.c — `synack lab up|down|exec`: a network namespace to play in.
 *
 * `up` creates a namespace holding one TUN device. The kernel side of the
 * device has 198.18.0.1/24 and fd00:198:18::1/64, so the kernel routes those
 * prefixes into the device; synack, run inside the namespace with
 * `serve --tun` or `connect --tun`, owns 198.18.0.2 and fd00:198:18::2 and
 * reads what the kernel sends there. Forwarding is on inside the namespace
 * (and only there) so that the kernel answers packets for addresses it has
 * no route to with ICMP "unreachable", as a router would: `connect` to
 * 198.19.0.1 reports it. Nothing leaves the namespace: it has no other
 * interface than lo and the TUN device.
 *
 * `exec` runs a command inside the namespace (`ip netns exec`), `down`
 * removes the device and the namespace.
 *
 * The work is done by iproute2's `ip`, which every Linux with namespaces
 * has; its messages reach the user unchanged.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"

#define LAB_NAME_DEFAULT "synack-lab"
#define LAB_DEVICE "synack0"
#define LAB_KERNEL_V4 "198.18.0.1/24"
#define LAB_SYNACK_V4 "198.18.0.2"
#define LAB_KERNEL_V6 "fd00:198:18::1/64"
#define LAB_SYNACK_V6 "fd00:198:18::2"
#define LAB_NETNS_DIR "/run/netns/"
#define LAB_NAME_MAX 64
#define LAB_PATH_MAX 256
#define LAB_ARGS_MAX 16

/* Per-namespace sysctls that make the kernel side answer like a router. */
static const char *const lab_sysctls[] = {
    "/proc/sys/net/ipv4/ip_forward",
    "/proc/sys/net/ipv6/conf/all/forwarding",
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: synack lab up [--name NS] [--mtu N]\n"
		"       synack lab down [--name NS]\n"
		"       synack lab exec [--name NS] [--] COMMAND [ARGS...]\n"
		"\n"
		"up    creates the network namespace NS (default %s) with the TUN\n"
		"      device %s: the kernel side has %s and %s,\n"
		"      synack's side is %s and %s.\n"
		"      Forwarding is on inside it, so the kernel answers packets for\n"
		"      addresses it has no route to (198.19.0.1) with ICMP unreachable.\n"
		"      --mtu sets the device's MTU (default 1500; synack's MSS follows).\n"
		"down  removes the device and the namespace.\n"
		"exec  runs COMMAND inside the namespace.\n"
		"\n"
		"Then, for instance:\n"
		"  synack lab exec synack serve --tun %s --listen %s:80 --app http &\n"
		"  synack lab exec curl http://%s/\n"
		"\n"
		"Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2.\n",
		LAB_NAME_DEFAULT, LAB_DEVICE, LAB_KERNEL_V4, LAB_KERNEL_V6, LAB_SYNACK_V4,
		LAB_SYNACK_V6, LAB_DEVICE, LAB_SYNACK_V4, LAB_SYNACK_V4);
}

/* Runs argv (a NULL-terminated list) and waits. Returns its exit status,
 * or -1 when it could not run or was killed. */
static int run(char *const argv[], bool quiet)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (quiet) {
			int null = open("/dev/null", O_WRONLY);

			if (null >= 0)
				dup2(null, STDERR_FILENO);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "synack lab: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* `ip -n NS ARGS...`: one step of the setup. Returns 0 or -1. */
static int ip_in(const char *ns, const char *const args[])
{
	char *argv[LAB_ARGS_MAX] = {"ip", "-n", (char *)ns};
	size_t n = 3;

	for (size_t i = 0; args[i] && n + 1 < LAB_ARGS_MAX; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	return run(argv, false) == 0 ? 0 : -1;
}

/* Sets the namespace's sysctls from inside it: /proc/sys/net shows the
 * namespace of the task that reads it. */
static int set_sysctls(const char *ns)
{
	char path[LAB_PATH_MAX];
	int fd;

	snprintf(path, sizeof path, LAB_NETNS_DIR "%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "synack lab: entering %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	for (size_t i = 0; i < sizeof lab_sysctls / sizeof lab_sysctls[0]; i++) {
		FILE *f = fopen(lab_sysctls[i], "w");

		if (!f || fputs("1\n", f) < 0 || fclose(f)) {
			fprintf(stderr, "synack lab: writing %s: %s\n", lab_sysctls[i],
				strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int lab_configure(const char *ns, const char *mtu)
{
	const char *const set_mtu[] = {"link", "set", LAB_DEVICE, "mtu", mtu, NULL};
	static const char *const lo_up[] = {"link", "set", "lo", "up", NULL};
	static const char *const tun_add[] = {"tuntap", "add", "dev", LAB_DEVICE,
					      "mode",	"tun", NULL};
	static const char *const v4[] = {"addr", "add", LAB_KERNEL_V4, "dev", LAB_DEVICE, NULL};
	static const char *const v6[] = {"-6",	"addr",	    "add",   LAB_KERNEL_V6,
					 "dev", LAB_DEVICE, "nodad", NULL};
	static const char *const tun_up[] = {"link", "set", LAB_DEVICE, "up", NULL};

	if (ip_in(ns, lo_up) || ip_in(ns, tun_add) || (mtu && ip_in(ns, set_mtu)) ||
	    ip_in(ns, v4) || ip_in(ns, v6) || ip_in(ns, tun_up))
		return -1;
	return set_sysctls(ns);
}

static int lab_down(const char *ns, bool quiet)
{
	char *del_dev[] = {"ip", "-n", (char *)ns, "link", "del", LAB_DEVICE, NULL};
	char *del_ns[] = {"ip", "netns", "del", (char *)ns, NULL};

	/* The device first: a process still attached to it would keep the
	 * namespace alive after its name is gone. */
	run(del_dev, true);
	if (run(del_ns, quiet) != 0) {
		if (!quiet)
			fprintf(stderr, "synack lab: could not remove namespace %s\n", ns);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static int lab_up(const char *ns, const char *mtu)
{
	char *add[] = {"ip", "netns", "add", (char *)ns, NULL};
	char flag[LAB_NAME_MAX + sizeof " --name "];

	if (run(add, false) != 0) {
		fprintf(stderr,
			"synack lab: could not create namespace %s (already up? `synack lab down "
			"--name %s`)\n",
			ns, ns);
		return EXIT_FAIL;
	}
	if (lab_configure(ns, mtu)) {
		fprintf(stderr, "synack lab: setup failed, removing %s\n", ns);
		lab_down(ns, true);
		return EXIT_FAIL;
	}
	/* The commands to try next name the namespace unless it is the default. */
	snprintf(flag, sizeof flag, "%s%s", strcmp(ns, LAB_NAME_DEFAULT) ? " --name " : "",
		 strcmp(ns, LAB_NAME_DEFAULT) ? ns : "");
	printf("namespace %s: TUN device %s\n"
	       "  kernel side: %s, %s\n"
	       "  synack side: %s, %s\n"
	       "try:\n"
	       "  synack lab exec%s synack serve --tun %s --listen %s:80 --app http &\n"
	       "  synack lab exec%s curl http://%s/\n",
	       ns, LAB_DEVICE, LAB_KERNEL_V4, LAB_KERNEL_V6, LAB_SYNACK_V4, LAB_SYNACK_V6, flag,
	       LAB_DEVICE, LAB_SYNACK_V4, flag, LAB_SYNACK_V4);
	return EXIT_OK;
}

static int lab_exec(const char *ns, int argc, char **argv)
{
	char **args = calloc((size_t)argc + 5, sizeof *args);
	int n = 0;

	if (!args)
		return EXIT_FAIL;
	args[n++] = "ip";
	args[n++] = "netns";
	args[n++] = "exec";
	args[n++] = (char *)ns;
	for (int i = 0; i < argc; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	execvp(args[0], args);
	fprintf(stderr, "synack lab: ip: %s\n", strerror(errno));
	free(args);
	return EXIT_FAIL;
}

static bool verb_is(const char *verb, const char *name)
{
	return verb && !strcmp(verb, name);
}

static bool name_ok(const char *ns)
{
	size_t n = strlen(ns);

	if (n == 0 || n >= LAB_NAME_MAX || ns[0] == '.' || ns[0] == '-')
		return false;
	return strspn(ns, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

int cmd_lab(int argc, char **argv)
{
	const char *ns = LAB_NAME_DEFAULT, *verb = NULL, *mtu = NULL;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--name") && i + 1 < argc) {
			ns = argv[++i];
		} else if (!strcmp(argv[i], "--mtu") && i + 1 < argc && !verb_is(verb, "exec")) {
			mtu = argv[++i];
			if (strspn(mtu, "0123456789") != strlen(mtu) || !*mtu) {
				fprintf(stderr, "synack lab: bad --mtu '%s'\n", mtu);
				return EXIT_USAGE;
			}
		} else if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (argv[i][0] == '-' || verb) {
			if (verb && !strcmp(verb, "exec"))
				break;
			fprintf(stderr, "synack lab: unexpected '%s' (see synack lab --help)\n",
				argv[i]);
			return EXIT_USAGE;
		} else {
			verb = argv[i];
		}
	}
	if (!verb || !name_ok(ns)) {
		fprintf(stderr, "synack lab: %s (see synack lab --help)\n",
			verb ? "bad namespace name" : "up, down or exec?");
		return EXIT_USAGE;
	}
	if (!strcmp(verb, "up"))
		return i < argc ? EXIT_USAGE : lab_up(ns, mtu);
	if (!strcmp(verb, "down"))
		return i < argc ? EXIT_USAGE : lab_down(ns, false);
	if (!strcmp(verb, "exec")) {
		if (i >= argc) {
			fprintf(stderr, "synack lab: exec needs a command\n");
			return EXIT_USAGE;
		}
		return lab_exec(ns, argc - i, argv + i);
	}
	fprintf(stderr, "synack lab: unknown verb '%s' (up, down, exec)\n", verb);
	return EXIT_USAGE;
}
