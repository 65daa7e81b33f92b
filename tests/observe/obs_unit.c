/*
 * obs_unit.c — unit tests of src/observe on hand-made packets: tcpdump lines
 * (with the relative numbers tcpdump computes), JSON, ladders, handshake
 * timings and a pcap round trip. The byte-for-byte comparison with the real
 * tcpdump lives in test_trace.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "observe/observe.h"

static int failures;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

#define CHECK_STR(got, want)                                                                       \
	do {                                                                                       \
		if (strcmp((got), (want))) {                                                       \
			fprintf(stderr, "%s:%d:\n  got  '%s'\n  want '%s'\n", __FILE__, __LINE__,  \
				(got), (want));                                                    \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

#define T0 1700000000000000LL /* 2023-11-14 22:13:20 UTC, in microseconds */

enum { F_FIN = 1, F_SYN = 2, F_RST = 4, F_PSH = 8, F_ACK = 16 };

/* A minimal IPv4/TCP packet (checksums left zero: tcpdump -n ignores them). */
static size_t make4(uint8_t *p, const char *src, const char *dst, uint16_t sport, uint16_t dport,
		    uint32_t seq, uint32_t ack, uint8_t flags, const uint8_t *opt, size_t optlen,
		    size_t paylen)
{
	size_t thl = 20 + optlen, len = 20 + thl + paylen;
	unsigned a[4], b[4];

	memset(p, 0, len);
	sscanf(src, "%u.%u.%u.%u", &a[0], &a[1], &a[2], &a[3]);
	sscanf(dst, "%u.%u.%u.%u", &b[0], &b[1], &b[2], &b[3]);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[8] = 64;
	p[9] = 6;
	for (int i = 0; i < 4; i++) {
		p[12 + i] = (uint8_t)a[i];
		p[16 + i] = (uint8_t)b[i];
	}
	uint8_t *t = p + 20;
	t[0] = (uint8_t)(sport >> 8);
	t[1] = (uint8_t)sport;
	t[2] = (uint8_t)(dport >> 8);
	t[3] = (uint8_t)dport;
	for (int i = 0; i < 4; i++) {
		t[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
		t[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	t[12] = (uint8_t)((thl / 4) << 4);
	t[13] = flags;
	t[14] = 0xfa;
	t[15] = 0xf0; /* 64240 */
	if (optlen)
		memcpy(t + 20, opt, optlen);
	memset(t + thl, 'a', paylen);
	return len;
}

static const uint8_t syn_opts[] = {2,	 4,    0x05, 0xb4, 4, 2, 8, 10, 0, 0x9a,
				   0x25, 0x12, 0,    0,	   0, 0, 1, 3,	3, 7};

static void test_lines(void)
{
	uint8_t p[256];
	char line[OBS_LINE_MAX];
	obs_flows *f = obs_flows_new();
	size_t n;

	n = make4(p, "198.18.0.1", "198.18.0.2", 43486, 80, 4160096982u, 0, F_SYN, syn_opts,
		  sizeof syn_opts, 0);
	obs_tcpdump_line(f, T0 + 962394, p, n, line, sizeof line);
	CHECK_STR(line, "22:13:20.962394 IP 198.18.0.1.43486 > 198.18.0.2.80: Flags [S], seq "
			"4160096982, win 64240, options [mss 1460,sackOK,TS val 10102034 ecr "
			"0,nop,wscale 7], length 0");
	/* the first packet with ACK is absolute; what follows is relative */
	n = make4(p, "198.18.0.2", "198.18.0.1", 80, 43486, 1000, 4160096983u, F_SYN | F_ACK, NULL,
		  0, 0);
	obs_tcpdump_body(f, p, n, line, sizeof line);
	CHECK_STR(line, "IP 198.18.0.2.80 > 198.18.0.1.43486: Flags [S.], seq 1000, ack "
			"4160096983, win 64240, length 0");
	n = make4(p, "198.18.0.1", "198.18.0.2", 43486, 80, 4160096983u, 1001, F_ACK | F_PSH, NULL,
		  0, 5);
	obs_tcpdump_body(f, p, n, line, sizeof line);
	CHECK_STR(line, "IP 198.18.0.1.43486 > 198.18.0.2.80: Flags [P.], seq 1:6, ack 1, win "
			"64240, length 5: HTTP");
	/* a RST without ACK stays absolute */
	n = make4(p, "198.18.0.1", "198.18.0.2", 43486, 80, 4160096988u, 0, F_RST, NULL, 0, 0);
	obs_tcpdump_body(f, p, n, line, sizeof line);
	CHECK_STR(line, "IP 198.18.0.1.43486 > 198.18.0.2.80: Flags [R], seq 4160096988, win "
			"64240, length 0");
	/* without a table (tcpdump -S) everything is absolute */
	n = make4(p, "198.18.0.1", "198.18.0.2", 43486, 80, 4160096983u, 1001, F_ACK, NULL, 0, 0);
	obs_tcpdump_body(NULL, p, n, line, sizeof line);
	CHECK_STR(line, "IP 198.18.0.1.43486 > 198.18.0.2.80: Flags [.], ack 1001, win 64240, "
			"length 0");
	/* a capture cut inside the TCP header */
	obs_tcpdump_capture(f, -1, p, 30, n, line, sizeof line);
	CHECK_STR(line, "IP 198.18.0.1.43486 > 198.18.0.2.80:  [|tcp]");
	/* a small buffer is cut, but the whole length is returned */
	int full = obs_tcpdump_body(NULL, p, n, line, sizeof line);
	CHECK(obs_tcpdump_body(NULL, p, n, line, 8) == full && full > 8);
	CHECK(strlen(line) == 7);
	obs_flows_free(f);
}

static void test_json(void)
{
	uint8_t p[256];
	char out[OBS_LINE_MAX];
	size_t n =
	    make4(p, "198.18.0.1", "198.18.0.2", 1, 2, 7, 0, F_SYN, syn_opts, sizeof syn_opts, 0);

	obs_json_packet(T0, p, n, out, sizeof out);
	CHECK(strstr(out, "\"flags\":\"S\"") != NULL);
	CHECK(strstr(out, "{\"kind\":\"mss\",\"value\":1460}") != NULL);
	CHECK(strstr(out, "{\"kind\":\"TS\",\"val\":10102034,\"ecr\":0}") != NULL);
	CHECK(strstr(out, "\"ts\":1700000000.000000") == out + 1);
	obs_json_packet(T0, p, 10, out, sizeof out);
	CHECK(strstr(out, "\"error\"") != NULL);
}

static char *render(const obs_ladder *l, int svg, unsigned flags)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (svg)
		CHECK(obs_ladder_render_svg(l, f) == 0);
	else
		CHECK(obs_ladder_render_text(l, f, flags) == 0);
	fclose(f);
	return buf;
}

static void test_ladder(void)
{
	uint8_t p[256];
	obs_ladder *l = obs_ladder_new();
	size_t n;
	int i;

	obs_ladder_names(l, "198.18.0.1.1000", "198.18.0.2.80");
	obs_ladder_state(l, 0, OBS_SERVER, "LISTEN");
	obs_ladder_state(l, 0, OBS_CLIENT, "SYN-SENT");
	n = make4(p, "198.18.0.1", "198.18.0.2", 1000, 80, 500, 0, F_SYN, NULL, 0, 0);
	i = obs_ladder_packet(l, 0, OBS_CLIENT, p, n);
	obs_ladder_dropped(l, i);
	i = obs_ladder_packet(l, 1000000, OBS_CLIENT, p, n);
	obs_ladder_received(l, i, 1000100);
	n = make4(p, "198.18.0.2", "198.18.0.1", 80, 1000, 9000, 501, F_SYN | F_ACK, NULL, 0, 0);
	i = obs_ladder_packet(l, 1000100, OBS_SERVER, p, n);
	obs_ladder_received(l, i, 1000200);
	obs_ladder_state(l, 1000200, OBS_CLIENT, "ESTABLISHED");

	char *text = render(l, 0, 0);
	CHECK(strstr(text, "198.18.0.1.1000") != NULL);
	CHECK(strstr(text, "\u2715") != NULL);		     /* the lost SYN */
	CHECK(strstr(text, "[S.] seq 0 ack 1 win") != NULL); /* relative to both ISNs */
	CHECK(strstr(text, "\u25c4") != NULL && strstr(text, "\u25ba") != NULL);
	CHECK(strstr(text, "ESTABLISHED") != NULL && strstr(text, "LISTEN") != NULL);
	CHECK(strstr(text, "1.000000 s") != NULL && strstr(text, "1.000100 s") != NULL);
	free(text);
	char *ascii = render(l, 0, OBS_LADDER_ASCII);
	for (const char *c = ascii; *c; c++)
		CHECK((unsigned char)*c < 0x80);
	CHECK(strstr(ascii, "-x") != NULL && strstr(ascii, "->|") != NULL &&
	      strstr(ascii, "|<-") != NULL);
	free(ascii);
	char *svg = render(l, 1, 0);
	CHECK(strncmp(svg, "<?xml", 5) == 0 && strstr(svg, "</svg>") != NULL);
	CHECK(strstr(svg, "stroke-dasharray") != NULL); /* the lost SYN */
	free(svg);
	obs_ladder_free(l);
}

static void test_handshakes(void)
{
	uint8_t p[256];
	obs_handshakes *h = obs_handshakes_new();
	char *buf = NULL;
	size_t len = 0, n;
	FILE *f;

	n = make4(p, "198.18.0.1", "198.18.0.2", 1000, 80, 500, 0, F_SYN, NULL, 0, 0);
	obs_handshakes_packet(h, T0, p, n);
	obs_handshakes_packet(h, T0 + 1000000, p, n);
	n = make4(p, "198.18.0.2", "198.18.0.1", 80, 1000, 9000, 501, F_SYN | F_ACK, NULL, 0, 0);
	obs_handshakes_packet(h, T0 + 1000045, p, n);
	n = make4(p, "198.18.0.1", "198.18.0.2", 1000, 80, 501, 9001, F_ACK, NULL, 0, 0);
	obs_handshakes_packet(h, T0 + 1000057, p, n);
	/* a refused one */
	n = make4(p, "198.18.0.1", "198.18.0.2", 1001, 81, 700, 0, F_SYN, NULL, 0, 0);
	obs_handshakes_packet(h, T0 + 2000000, p, n);
	n = make4(p, "198.18.0.2", "198.18.0.1", 81, 1001, 0, 701, F_RST | F_ACK, NULL, 0, 0);
	obs_handshakes_packet(h, T0 + 2000030, p, n);
	/* an unanswered one */
	n = make4(p, "198.18.0.1", "198.18.0.2", 1002, 82, 900, 0, F_SYN, NULL, 0, 0);
	obs_handshakes_packet(h, T0 + 3000000, p, n);

	/* the SYN-ACK lost on its way: SYN and SYN-ACK both sent twice */
	n = make4(p, "198.18.0.1", "198.18.0.2", 1003, 83, 40, 0, F_SYN, NULL, 0, 0);
	obs_handshakes_packet(h, T0 + 4000000, p, n);
	size_t n2 =
	    make4(p + 128, "198.18.0.2", "198.18.0.1", 83, 1003, 70, 41, F_SYN | F_ACK, NULL, 0, 0);
	obs_handshakes_packet(h, T0 + 4000010, p + 128, n2);
	obs_handshakes_packet(h, T0 + 5000000, p, n);
	obs_handshakes_packet(h, T0 + 5000010, p + 128, n2);
	n = make4(p, "198.18.0.1", "198.18.0.2", 1003, 83, 41, 71, F_ACK, NULL, 0, 0);
	obs_handshakes_packet(h, T0 + 5000020, p, n);

	f = open_memstream(&buf, &len);
	CHECK(obs_handshakes_report(h, f) == 4);
	fclose(f);
	CHECK(strstr(buf, "198.18.0.1.1000 > 198.18.0.2.80: established, SYN -> SYN-ACK 0.045 "
			  "ms, SYN-ACK -> ACK 0.012 ms, handshake 1.000057 s\n") != NULL);
	CHECK(strstr(buf, "  SYN retransmitted 1 time (+1.000000 s)\n") != NULL);
	CHECK(strstr(buf, "198.18.0.1.1001 > 198.18.0.2.81: refused, RST 0.030 ms after the "
			  "SYN\n") != NULL);
	CHECK(strstr(buf, "198.18.0.1.1002 > 198.18.0.2.82: no answer to 1 SYN\n") != NULL);
	CHECK(strstr(buf, "198.18.0.1.1003 > 198.18.0.2.83: established, SYN -> SYN-ACK 0.010 "
			  "ms, SYN-ACK -> ACK 0.010 ms, handshake 1.000020 s\n"
			  "  SYN retransmitted 1 time (+1.000000 s)\n"
			  "  SYN-ACK seen 2 times\n") != NULL);
	free(buf);
	obs_handshakes_free(h);
}

static void test_pcap_round_trip(void)
{
	char path[] = "/tmp/obs-unit-XXXXXX";
	int fd = mkstemp(path);
	uint8_t p[256];
	size_t n = make4(p, "198.18.0.1", "198.18.0.2", 1, 2, 3, 4, F_SYN, NULL, 0, 0);
	obs_pcap_writer *w;
	obs_pcap_reader *r;
	obs_packet pk;

	CHECK(fd >= 0);
	close(fd);
	CHECK(obs_pcap_create(path, &w, NULL, 0) == 0);
	CHECK(obs_pcap_write(w, T0 + 5, p, n) == 0);
	CHECK(obs_pcap_close(w) == 0);
	CHECK(obs_pcap_open(path, &r, NULL, 0) == 0);
	CHECK(obs_pcap_next(r, &pk, NULL, 0) == 1);
	CHECK(pk.ts_usec == T0 + 5 && pk.caplen == n && pk.is_ip && !memcmp(pk.ip, p, n));
	CHECK(obs_pcap_next(r, &pk, NULL, 0) == 0);
	obs_pcap_reader_close(r);
	unlink(path);
	char err[256];
	CHECK(obs_pcap_open("/nonexistent/x.pcap", &r, err, sizeof err) < 0 && err[0]);
}

/* Writes a three-packet handshake with obs_pcap_*, for test_trace.py to check
 * that tcpdump and tshark read our files without complaint. */
static int write_sample(const char *path)
{
	uint8_t p[256];
	char err[256] = "";
	obs_pcap_writer *w;
	size_t n;

	if (obs_pcap_create(path, &w, err, sizeof err) < 0) {
		fprintf(stderr, "obs-unit: %s\n", err);
		return 1;
	}
	n = make4(p, "198.18.0.1", "198.18.0.2", 1000, 80, 500, 0, F_SYN, syn_opts, sizeof syn_opts,
		  0);
	obs_pcap_write(w, T0, p, n);
	n = make4(p, "198.18.0.2", "198.18.0.1", 80, 1000, 9000, 501, F_SYN | F_ACK, syn_opts,
		  sizeof syn_opts, 0);
	obs_pcap_write(w, T0 + 45, p, n);
	n = make4(p, "198.18.0.1", "198.18.0.2", 1000, 80, 501, 9001, F_ACK, NULL, 0, 0);
	obs_pcap_write(w, T0 + 57, p, n);
	return obs_pcap_close(w) < 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--write"))
		return write_sample(argv[2]);
	setenv("TZ", "UTC", 1);
	tzset();
	test_lines();
	test_json();
	test_ladder();
	test_handshakes();
	test_pcap_round_trip();
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
