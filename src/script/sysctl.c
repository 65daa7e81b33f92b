/*
 * sysctl.c — the kernel settings a script's shell lines would make. Shell is
 * never run: `sysctl -q net.ipv4.tcp_sack=0`, `sysctl -w a=b c=d` and
 * `echo V > /proc/sys/net/ipv4/X` are read as settings, and a shell file the
 * line runs (../common/defaults.sh) is read the same way, relative to the
 * script's directory.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "script.h"

#define MAX_WORDS 64
#define MAX_WORD 512
#define MAX_SHELL_DEPTH 4 /* files running files: enough for defaults.sh */
#define PROC_SYS "/proc/sys/"

typedef struct extract_ctx {
	const char *dir;
	script_sysctl **list;
	size_t *count;
	char *err;
	size_t cap;
	int depth;
} extract_ctx;

static int add_setting(extract_ctx *x, const char *name, const char *value, const char *file,
		       int line)
{
	script_sysctl *n = realloc(*x->list, (*x->count + 1) * sizeof *n);

	if (!n)
		goto oom;
	*x->list = n;
	script_sysctl *s = &n[*x->count];
	s->name = strdup(name);
	s->value = strdup(value);
	s->file = strdup(file);
	s->line = line;
	if (!s->name || !s->value || !s->file) {
		free(s->name);
		free(s->value);
		free(s->file);
		goto oom;
	}
	/* sysctl accepts a/b/c as well as a.b.c */
	for (char *c = s->name; *c; c++)
		if (*c == '/')
			*c = '.';
	(*x->count)++;
	return 0;
oom:
	snprintf(x->err, x->cap, "%s:%d: out of memory", file, line);
	return -1;
}

/* Splits one simple command into words, honouring '...' and "..." quotes.
 * Returns the word count; *rest points after the command's separator. */
static int split_words(const char *p, char words[][MAX_WORD], const char **rest)
{
	int n = 0;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '\n' || *p == ';' || *p == '|' || *p == '&')
			break;
		size_t len = 0;
		while (*p && !isspace((unsigned char)*p) && *p != ';' && *p != '|' && *p != '&') {
			if (*p == '\'' || *p == '"') {
				char q = *p++;
				while (*p && *p != q) {
					if (len + 1 < MAX_WORD && n < MAX_WORDS)
						words[n][len++] = *p;
					p++;
				}
				if (*p)
					p++;
			} else {
				if (len + 1 < MAX_WORD && n < MAX_WORDS)
					words[n][len++] = *p;
				p++;
			}
		}
		if (n < MAX_WORDS)
			words[n++][len] = '\0';
	}
	while (*p == ';' || *p == '|' || *p == '&' || *p == '\n')
		p++;
	*rest = p;
	return n;
}

static int extract_text(extract_ctx *x, const char *text, const char *file, int line);

static int run_shell_file(extract_ctx *x, const char *word, const char *file, int line)
{
	char path[MAX_WORD * 2];
	FILE *f;

	if (x->depth >= MAX_SHELL_DEPTH) {
		snprintf(x->err, x->cap, "%s:%d: shell files nest too deep at %s", file, line,
			 word);
		return -1;
	}
	if (word[0] == '/')
		snprintf(path, sizeof path, "%s", word);
	else
		snprintf(path, sizeof path, "%s/%s", x->dir, word);
	f = fopen(path, "r");
	if (!f) {
		snprintf(x->err, x->cap, "%s:%d: cannot read shell file %s: %s", file, line, path,
			 strerror(errno));
		return -1;
	}
	char buf[MAX_WORD * 4];
	int rc = 0, n = 0;

	x->depth++;
	while (rc == 0 && fgets(buf, sizeof buf, f)) {
		char *hash = strchr(buf, '#');

		n++;
		if (hash)
			*hash = '\0';
		rc = extract_text(x, buf, path, n);
	}
	x->depth--;
	fclose(f);
	return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

static int do_sysctl(extract_ctx *x, char words[][MAX_WORD], int n, const char *file, int line)
{
	for (int i = 1; i < n; i++) {
		char *eq = strchr(words[i], '=');

		if (words[i][0] == '-' || !eq)
			continue; /* options (-q, -w) and reads */
		*eq = '\0';
		if (add_setting(x, words[i], eq + 1, file, line) < 0)
			return -1;
	}
	return 0;
}

/* echo V > /proc/sys/net/ipv4/X */
static int do_echo(extract_ctx *x, char words[][MAX_WORD], int n, const char *file, int line)
{
	char value[MAX_WORD] = "";

	for (int i = 1; i < n; i++) {
		const char *target = NULL;

		if (!strcmp(words[i], ">") && i + 1 < n)
			target = words[i + 1];
		else if (words[i][0] == '>')
			target = words[i] + 1;
		if (target) {
			if (!strncmp(target, PROC_SYS, strlen(PROC_SYS)))
				return add_setting(x, target + strlen(PROC_SYS), value, file, line);
			return 0;
		}
		if (words[i][0] == '-')
			continue;
		if (value[0])
			strncat(value, " ", sizeof value - strlen(value) - 1);
		strncat(value, words[i], sizeof value - strlen(value) - 1);
	}
	return 0;
}

static int do_command(extract_ctx *x, char words[][MAX_WORD], int n, const char *file, int line)
{
	const char *cmd = words[0];
	const char *base = strrchr(cmd, '/') ? strrchr(cmd, '/') + 1 : cmd;

	if (!strcmp(base, "sysctl"))
		return do_sysctl(x, words, n, file, line);
	if (!strcmp(base, "echo"))
		return do_echo(x, words, n, file, line);
	if (ends_with(cmd, ".sh"))
		return run_shell_file(x, cmd, file, line);
	if ((!strcmp(base, "sh") || !strcmp(base, "bash") || !strcmp(cmd, "source") ||
	     !strcmp(cmd, ".")) &&
	    n > 1 && ends_with(words[1], ".sh"))
		return run_shell_file(x, words[1], file, line);
	return 0; /* other commands (tc, ip, ethtool...) are not modelled */
}

static int extract_text(extract_ctx *x, const char *text, const char *file, int line)
{
	char(*words)[MAX_WORD] = malloc(MAX_WORDS * sizeof *words);
	const char *p = text;
	int rc = 0;

	if (!words) {
		snprintf(x->err, x->cap, "%s:%d: out of memory", file, line);
		return -1;
	}
	while (*p) {
		int n = split_words(p, words, &p);

		/* Leading VAR=value assignments are not commands. */
		int first = 0;
		while (first < n && strchr(words[first], '=') && words[first][0] != '-')
			first++;
		if (first < n && do_command(x, words + first, n - first, file, line) < 0) {
			rc = -1;
			break;
		}
	}
	free(words);
	return rc;
}

int script_extract_sysctls(const char *command, const char *dir, const char *file, int line,
			   script_sysctl **list, size_t *count, char *err, size_t cap)
{
	extract_ctx x = {.dir = dir, .list = list, .count = count, .err = err, .cap = cap};

	return extract_text(&x, command, file, line);
}
