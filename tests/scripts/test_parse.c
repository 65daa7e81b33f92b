/*
 * test_parse.c — the packetdrill script parser: times, packets, options,
 * system calls, comments, shell lines and their sysctls, error messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "script/script.h"
#include "wire/wire.h"

#define US 1000000

static script *parse_ok(const char *text)
{
	char err[SCRIPT_ERR_MAX] = "";
	script *s = NULL;

	if (script_parse_buffer("/tmp/t.pkt", text, &s, err, sizeof err) < 0)
		fail_msg("unexpected parse error: %s", err);
	return s;
}

static void parse_err(const char *text, const char *want)
{
	char err[SCRIPT_ERR_MAX] = "";
	script *s = NULL;

	assert_int_equal(script_parse_buffer("/tmp/t.pkt", text, &s, err, sizeof err), -1);
	if (!strstr(err, want))
		fail_msg("error '%s' does not contain '%s'", err, want);
}

static void test_times(void **state)
{
	(void)state;
	script *s = parse_ok("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
			     "1.5 close(3) = 0\n"
			     "+0 close(3) = 0\n"
			     "+.1 close(3) = 0\n"
			     "* > S 0:0(0)\n"
			     "0.1~0.3 > S 0:0(0)\n"
			     "+0~+0.2 > S 0:0(0)\n"
			     "+0...0.200 accept(3, ..., ...) = 4\n"
			     "2...2.5 read(4, ..., 10) = 10\n");

	assert_int_equal(s->nevents, 9);
	assert_int_equal(s->events[0].time_type, STT_ABSOLUTE);
	assert_int_equal(s->events[0].time_us, 0);
	assert_int_equal(s->events[1].time_us, 1500000);
	assert_int_equal(s->events[2].time_type, STT_RELATIVE);
	assert_int_equal(s->events[3].time_us, 100000);
	assert_int_equal(s->events[4].time_type, STT_ANY);
	assert_int_equal(s->events[5].time_type, STT_ABSOLUTE_RANGE);
	assert_int_equal(s->events[5].time_us, 100000);
	assert_int_equal(s->events[5].time_end_us, 300000);
	assert_int_equal(s->events[6].time_type, STT_RELATIVE_RANGE);
	assert_int_equal(s->events[6].time_end_us, 200000);
	assert_int_equal(s->events[7].u.syscall.end_us, 200000);
	assert_int_equal(s->events[7].time_type, STT_RELATIVE);
	assert_int_equal(s->events[8].u.syscall.end_us, 2500000);
	assert_int_equal(s->events[1].u.syscall.end_us, SCRIPT_NO_TIME);
	assert_int_equal(s->events[8].line, 9);
	script_free(s);
}

static void test_time_errors(void **state)
{
	(void)state;
	parse_err("0 close(3) = 0\n* close(3) = 0\n", "/tmp/t.pkt:2: event time <star>");
	parse_err("0.1~0.3 < S 0:0(0) win 1\n", "/tmp/t.pkt:1: event time range");
	parse_err("0.3~0.1 > S 0:0(0)\n", "backwards");
	parse_err("x close(3) = 0\n", "/tmp/t.pkt:1: syntax error");
}

static void test_comments_and_lines(void **state)
{
	(void)state;
	script *s = parse_ok("// a comment\n"
			     "/* a block\n   comment */ 0 close(3) = 0 // trailing\n"
			     "\n"
			     "+0 > S 0:0(0) /* inline */ <mss 1460,nop,nop,sackOK>\n");

	assert_int_equal(s->nevents, 2);
	assert_int_equal(s->events[0].line, 3);
	assert_int_equal(s->events[1].line, 5);
	script_free(s);
}

static void test_packet_fields(void **state)
{
	(void)state;
	script *s = parse_ok("0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>\n"
			     "+0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>\n"
			     "+0 < P. 1:1001(1000) ack 1 win 257 urg 3\n"
			     "+0 > F. 1:1(0) ack 1001\n"
			     "+0 < R 1001:1001(0) win 0\n"
			     "+0 > - 1:1(0) <...>\n"
			     "+0 < SEW 0:0(0) win 10\n"
			     "+0 > . 1:1(0) ack 1001 win 255\n");
	const script_packet *p = &s->events[0].u.packet;

	assert_true(p->inbound);
	assert_int_equal(p->flags, WIRE_SYN);
	assert_int_equal(p->win, 32792);
	assert_int_equal(p->opt_len, 12);
	assert_int_equal(p->opt[0], WIRE_OPT_MSS);
	assert_int_equal(wire_get16(p->opt + 2), 1000);
	assert_int_equal(p->opt[11 - 2], WIRE_OPT_WSCALE);

	p = &s->events[1].u.packet;
	assert_false(p->inbound);
	assert_int_equal(p->flags, WIRE_SYN | WIRE_ACK);
	assert_int_equal(p->ack, 1);
	assert_int_equal(p->win, SCRIPT_WIN_ANY);

	p = &s->events[2].u.packet;
	assert_int_equal(p->flags, WIRE_PSH | WIRE_ACK);
	assert_int_equal(p->seq, 1);
	assert_int_equal(p->len, 1000);
	assert_int_equal(p->urg, 3);

	assert_int_equal(s->events[3].u.packet.flags, WIRE_FIN | WIRE_ACK);
	assert_int_equal(s->events[4].u.packet.flags, WIRE_RST);
	assert_int_equal(s->events[5].u.packet.flags, 0);
	assert_true(s->events[5].u.packet.opts_any);
	assert_int_equal(s->events[6].u.packet.flags, WIRE_SYN | WIRE_ECE | WIRE_CWR);
	assert_int_equal(s->events[7].u.packet.flags, WIRE_ACK);
	assert_int_equal(s->events[7].u.packet.win, 255);
	script_free(s);
}

static void test_packet_options(void **state)
{
	(void)state;
	script *s = parse_ok("0 > S 0:0(0) <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 8>\n"
			     "+0 < . 1:1(0) ack 1 win 257 <nop,nop,sack 1001:2001 3001:4001>\n"
			     "+0 < S 0:0(0) win 1 <FO abcd1234,nop,nop>\n"
			     "+0 < S 0:0(0) win 1 <FOEXP,nop,nop,eol,eol,eol,eol,eol,eol>\n");
	const script_packet *p = &s->events[0].u.packet;
	uint8_t want[] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 100, 0, 0, 0, 0, 1, 3, 3, 8};

	assert_int_equal(p->opt_len, sizeof want);
	assert_memory_equal(p->opt, want, sizeof want);

	p = &s->events[1].u.packet;
	assert_int_equal(p->opt_len, 2 + 2 + 16);
	assert_int_equal(p->opt[2], WIRE_OPT_SACK);
	assert_int_equal(p->opt[3], 18);
	assert_int_equal(wire_get32(p->opt + 4), 1001);
	assert_int_equal(wire_get32(p->opt + 16), 4001);

	p = &s->events[2].u.packet;
	assert_int_equal(p->opt[0], WIRE_OPT_FASTOPEN);
	assert_int_equal(p->opt[1], 6);
	assert_int_equal(p->opt[2], 0xab);
	assert_int_equal(p->opt[5], 0x34);

	p = &s->events[3].u.packet;
	assert_int_equal(p->opt[0], WIRE_OPT_EXP);
	assert_int_equal(p->opt[1], 4);
	assert_int_equal(wire_get16(p->opt + 2), WIRE_FASTOPEN_MAGIC);
	script_free(s);
}

static void test_packet_errors(void **state)
{
	(void)state;
	parse_err("0 < S 0:0(0)\n", "/tmp/t.pkt:1: window must be specified for inbound packets");
	parse_err("0 < S 0:0(0) win 1 <...>\n", "only be used with outbound packets");
	parse_err("0 > S 0:0(0) <mss 1460,wscale 7>\n", "not padded correctly");
	parse_err("0 > S 0:10(5)\n", "inconsistent TCP sequence numbers");
	parse_err("0 > SX 0:0(0)\n", "unsupported TCP flag 'X'");
	parse_err("0 > S 0:0(0) <bogus 1>\n", "unsupported TCP option 'bogus'");
	parse_err("0 > S 0:0(0) win 70000\n", "out of range");
	parse_err("\n\n0 < udp (10)\n", "/tmp/t.pkt:3: unsupported: udp packets");
}

static void test_syscalls(void **state)
{
	(void)state;
	script *s =
	    parse_ok("0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n"
		     "+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n"
		     "+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n"
		     "+0 poll([{fd=3, events=POLLOUT, revents=POLLOUT}], 1, 0) = 1\n"
		     "+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0\n"
		     "+0 writev(4, [{..., 10}, {..., 20}], 2) = 30\n"
		     "+0 bind(3, {sa_family=AF_INET, sin_port=htons(8080), "
		     "sin_addr=inet_addr(\"1.2.3.4\")}, 16) = 0\n"
		     "+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0\n"
		     "+0 write(4, ..., 10) = ...\n");
	const script_syscall *c = &s->events[0].u.syscall;

	assert_string_equal(c->name, "setsockopt");
	assert_int_equal(c->nargs, 5);
	assert_int_equal(c->args[1]->type, SX_WORD);
	assert_int_equal(c->args[3]->type, SX_LIST);
	assert_int_equal(c->args[3]->items[0]->num, 1);
	assert_int_equal(c->result->num, 0);
	assert_null(c->errno_name);

	c = &s->events[1].u.syscall;
	assert_int_equal(c->args[2]->type, SX_OR);

	c = &s->events[2].u.syscall;
	assert_int_equal(c->result->num, -1);
	assert_string_equal(c->errno_name, "EINPROGRESS");
	assert_int_equal(c->args[1]->type, SX_ELLIPSIS);

	c = &s->events[3].u.syscall;
	const script_expr *pfd = c->args[0]->items[0];
	assert_int_equal(pfd->type, SX_STRUCT);
	assert_int_equal(pfd->count, 3);
	assert_int_equal(pfd->items[2]->type, SX_ASSIGN);
	assert_string_equal(pfd->items[2]->text, "revents");

	c = &s->events[5].u.syscall;
	assert_int_equal(c->args[1]->count, 2);
	assert_int_equal(c->args[1]->items[1]->items[1]->num, 20);

	c = &s->events[6].u.syscall;
	assert_int_equal(c->args[1]->items[1]->rhs->type, SX_CALL);

	assert_int_equal(s->events[8].u.syscall.result->type, SX_ELLIPSIS);
	script_free(s);
}

static void test_symbols(void **state)
{
	int64_t v;

	(void)state;
	assert_true(script_symbol("SOL_SOCKET", &v));
	assert_true(script_symbol("EINPROGRESS", &v));
	assert_int_equal(v, script_errno_value("EINPROGRESS"));
	assert_true(script_symbol("POLLRDHUP", &v));
	assert_false(script_symbol("NOT_A_SYMBOL", &v));
	assert_string_equal(script_errno_name(script_errno_value("ECONNRESET")), "ECONNRESET");
}

static void test_commands_and_code(void **state)
{
	(void)state;
	script *s = parse_ok("--tolerance_usecs=10000\n"
			     "`sysctl -q net.ipv4.tcp_timestamps=0; sysctl -w net.ipv4.tcp_sack=0 "
			     "net.ipv4.tcp_rmem=\"4096 87380 6291456\"`\n"
			     "0 `echo 0 > /proc/sys/net/ipv4/tcp_window_scaling`\n"
			     "+0 %{ assert tcpi_rto == 1000000 }%\n"
			     "`tc qdisc del dev tun0 root`\n");

	assert_int_equal(s->noptions, 1);
	assert_string_equal(s->options[0].name, "tolerance_usecs");
	assert_string_equal(s->options[0].value, "10000");
	assert_int_equal(s->nevents, 4);
	assert_int_equal(s->events[0].time_type, STT_NONE);
	assert_int_equal(s->events[0].u.command.nsysctls, 3);
	assert_string_equal(s->events[0].u.command.sysctls[0].name, "net.ipv4.tcp_timestamps");
	assert_string_equal(s->events[0].u.command.sysctls[0].value, "0");
	assert_string_equal(s->events[0].u.command.sysctls[2].value, "4096 87380 6291456");
	assert_string_equal(s->events[1].u.command.sysctls[0].name, "net.ipv4.tcp_window_scaling");
	assert_string_equal(s->events[1].u.command.sysctls[0].value, "0");
	assert_int_equal(s->events[2].type, SE_CODE);
	assert_int_equal(s->events[3].u.command.nsysctls, 0);
	script_free(s);
}

static void test_shell_file(void **state)
{
	char dir[] = "/tmp/synack-parse-XXXXXX";
	char path[512], sub[128], sh[512], err[SCRIPT_ERR_MAX];
	script *s;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof sub, "%s/sub", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(sh, sizeof sh, "%s/defaults.sh", dir);
	FILE *f = fopen(sh, "w");
	assert_non_null(f);
	fputs("#!/bin/bash\n# comment sysctl -q net.ipv4.tcp_sack=9\n"
	      "sysctl -q net.ipv4.tcp_sack=0 > /dev/null 2>&1\n"
	      "ip tcp_metrics flush all\n"
	      "sysctl -q net.ipv4.tcp_wmem=\"4096 16384 4194304\"\n",
	      f);
	fclose(f);
	snprintf(path, sizeof path, "%s/t.pkt", sub);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("`../defaults.sh`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n", f);
	fclose(f);

	assert_int_equal(script_parse_file(path, &s, err, sizeof err), 0);
	assert_int_equal(s->events[0].u.command.nsysctls, 2);
	assert_string_equal(s->events[0].u.command.sysctls[0].name, "net.ipv4.tcp_sack");
	assert_string_equal(s->events[0].u.command.sysctls[0].value, "0");
	assert_string_equal(s->events[0].u.command.sysctls[1].value, "4096 16384 4194304");
	script_free(s);

	f = fopen(path, "w");
	fputs("`../missing.sh`\n", f);
	fclose(f);
	assert_int_equal(script_parse_file(path, &s, err, sizeof err), -1);
	assert_non_null(strstr(err, "t.pkt:1: cannot read shell file"));

	unlink(path);
	unlink(sh);
	rmdir(sub);
	rmdir(dir);
}

static void test_suite_parses(void **state)
{
	char cmd[512], line[1024], err[SCRIPT_ERR_MAX];
	FILE *p;
	int n = 0;

	(void)state;
	/* Every script in the suite parses (running them is the scripts suite). */
	snprintf(cmd, sizeof cmd, "find '%s' -name '*.pkt'", TEST_SCRIPTS_DIR);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof line, p)) {
		script *s;

		line[strcspn(line, "\n")] = '\0';
		if (script_parse_file(line, &s, err, sizeof err) < 0)
			fail_msg("%s", err);
		script_free(s);
		n++;
	}
	pclose(p);
	assert_true(n > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_times),
	    cmocka_unit_test(test_time_errors),
	    cmocka_unit_test(test_comments_and_lines),
	    cmocka_unit_test(test_packet_fields),
	    cmocka_unit_test(test_packet_options),
	    cmocka_unit_test(test_packet_errors),
	    cmocka_unit_test(test_syscalls),
	    cmocka_unit_test(test_symbols),
	    cmocka_unit_test(test_commands_and_code),
	    cmocka_unit_test(test_shell_file),
	    cmocka_unit_test(test_suite_parses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
