/* cmd.h — the synack CLI's subcommands, one file each. */
#ifndef SYNACK_TOOLS_CMD_H
#define SYNACK_TOOLS_CMD_H

/* Exit statuses shared by every subcommand. */
#define EXIT_OK 0
#define EXIT_FAIL 1  /* the command ran and found a failure (a script failed...) */
#define EXIT_USAGE 2 /* bad arguments or unreadable input: one line on stderr */

/* Bad input: "synack CMD: MESSAGE (see synack CMD --help)", one line on
 * stderr. Returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

int cmd_demo(int argc, char **argv);
int cmd_script(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_connect(int argc, char **argv);
int cmd_lab(int argc, char **argv);
int cmd_flood(int argc, char **argv);

#endif
