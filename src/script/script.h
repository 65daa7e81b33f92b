/*
 * script.h — packetdrill scripts for synack: the parsed form of a script and
 * the runner that plays it against one synack stack on virtual time.
 *
 *     script *s;
 *     char err[SCRIPT_ERR_MAX];
 *     if (script_parse_file("t.pkt", &s, err, sizeof err) < 0) puts(err);
 *     script_run_opts o = {0};
 *     int rc = script_run(s, &o, stdout);   // 0 passed, -1 failed
 *     script_free(s);
 *
 * Times in a parsed script are microseconds, as packetdrill keeps them.
 */
#ifndef SYNACK_SCRIPT_H
#define SYNACK_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SCRIPT_ERR_MAX 512
#define SCRIPT_NO_TIME INT64_MIN /* a syscall with no "...END" */

/* ------------------------------------------------------------------------ */
/* Expressions: the arguments and results of system calls.                   */

typedef enum script_expr_type {
	SX_INT,	     /* 42, 0x2a, -1 */
	SX_ELLIPSIS, /* ... */
	SX_WORD,     /* SOL_SOCKET, EINPROGRESS */
	SX_STRING,   /* "text" */
	SX_LIST,     /* [a, b] */
	SX_STRUCT,   /* {a, b} */
	SX_OR,	     /* a|b */
	SX_ASSIGN,   /* name=value (inside structs) */
	SX_CALL,     /* htons(80), inet_addr("...") */
} script_expr_type;

typedef struct script_expr {
	script_expr_type type;
	int64_t num;		       /* SX_INT */
	char *text;		       /* SX_WORD, SX_STRING; name for SX_ASSIGN, SX_CALL */
	struct script_expr *lhs, *rhs; /* SX_OR; rhs for SX_ASSIGN */
	struct script_expr **items;    /* SX_LIST, SX_STRUCT, SX_CALL args */
	size_t count;
} script_expr;

/* ------------------------------------------------------------------------ */
/* Events                                                                    */

typedef enum script_time_type {
	STT_ABSOLUTE,	    /* 1.5 */
	STT_RELATIVE,	    /* +0.1 */
	STT_ANY,	    /* * (outbound packets only) */
	STT_ABSOLUTE_RANGE, /* 1~2 (outbound packets only) */
	STT_RELATIVE_RANGE, /* +1~+2 (outbound packets only) */
	STT_NONE,	    /* a command line without a time (init, cleanup) */
} script_time_type;

typedef enum script_event_type {
	SE_PACKET = 1,
	SE_SYSCALL,
	SE_COMMAND, /* `shell` line: only its sysctl settings are applied */
	SE_CODE,    /* %{ python }%: skipped */
} script_event_type;

/* Outbound packets with no `win` leave the window unchecked. */
#define SCRIPT_WIN_ANY (-1)
#define SCRIPT_TCP_OPT_MAX 40

typedef struct script_packet {
	bool inbound;  /* `<`: injected; `>`: expected */
	uint8_t flags; /* WIRE_SYN | ... */
	uint32_t seq;  /* START of START:END(LEN) */
	uint32_t len;  /* LEN */
	uint32_t ack;  /* meaningful with WIRE_ACK */
	int32_t win;   /* SCRIPT_WIN_ANY or 0..65535 */
	uint16_t urg;
	bool opts_any;			 /* <...>: options unchecked */
	uint8_t opt[SCRIPT_TCP_OPT_MAX]; /* options as bytes, as written */
	uint8_t opt_len;
} script_packet;

/* One sysctl setting found in a backtick line or a shell file it runs. */
typedef struct script_sysctl {
	char *name;  /* "net.ipv4.tcp_timestamps" */
	char *value; /* "1", "4096 87380 6291456" */
	int line;    /* where it was found (in file) */
	char *file;
} script_sysctl;

typedef struct script_syscall {
	char *name;
	script_expr **args;
	size_t nargs;
	script_expr *result;
	char *errno_name; /* NULL when no errno is expected */
	int64_t end_us;	  /* "...END", or SCRIPT_NO_TIME */
} script_syscall;

typedef struct script_event {
	script_event_type type;
	int line;
	script_time_type time_type;
	int64_t time_us, time_end_us;
	union {
		script_packet packet;
		script_syscall syscall;
		struct {
			char *text;
			script_sysctl *sysctls;
			size_t nsysctls;
		} command;
		char *code;
	} u;
} script_event;

/* A `--name=value` line at the top of a script (packetdrill options). */
typedef struct script_option {
	char *name;  /* "tolerance_usecs" */
	char *value; /* NULL for a bare flag */
	int line;
} script_option;

typedef struct script {
	char *path;
	script_option *options;
	size_t noptions;
	script_event *events;
	size_t nevents;
} script;

/* Parses a script file. Backtick lines that run a shell file have that
 * file read (relative to the script's directory) for sysctl settings.
 * Returns 0, or -1 with "FILE:LINE: message" in err. */
int script_parse_file(const char *path, script **out, char *err, size_t cap);

/* Parses script text; path is used in messages and to find shell files. */
int script_parse_buffer(const char *path, const char *text, script **out, char *err, size_t cap);

void script_free(script *s);

/* Extracts `sysctl [-q] [-w] a.b.c=V ...` and `echo V > /proc/sys/a/b/c`
 * settings from a shell command; shell files it runs (WORD.sh) are read
 * relative to dir. Appends to *list. Returns 0, or -1 with a message. */
int script_extract_sysctls(const char *command, const char *dir, const char *file, int line,
			   script_sysctl **list, size_t *count, char *err, size_t cap);

/* The value of a symbolic name (SOL_SOCKET, EINPROGRESS, POLLIN, ...) as on
 * Linux. Returns false for an unknown name. */
bool script_symbol(const char *name, int64_t *value);

/* The errno value of a name like "ECONNREFUSED"; 0 when unknown. */
int script_errno_value(const char *name);
/* The name of an errno value ("ECONNREFUSED"), or NULL. */
const char *script_errno_name(int err);

/* ------------------------------------------------------------------------ */
/* Running                                                                   */

typedef struct script_run_opts {
	bool verbose;	/* print each event and packet as it happens */
	bool strict_ts; /* check TS ecr exactly and TS val progression */
	bool ipv6;	/* run the script over IPv6 */
	bool kernel;	/* against the Linux kernel (root: a network namespace, TUN) */
	int64_t tolerance_us; /* default timing tolerance; 0: packetdrill's 4 ms */
} script_run_opts;

/* Plays the script against a fresh stack. Error lines ("FILE:LINE: error:
 * ...", the expected and the actual packet) and verbose output go to out.
 * Returns 0 when the script passed, -1 when it failed. */
int script_run(const script *s, const script_run_opts *opts, FILE *out);

#endif /* SYNACK_SCRIPT_H */
