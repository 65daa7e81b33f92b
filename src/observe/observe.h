/*
 * observe.h — packets and events made visible: tcpdump lines, pcap files,
 * ladder diagrams (terminal and SVG), JSON lines and handshake timings.
 *
 * Everything here works on raw IP packets (IPv4 or IPv6, no link header), the
 * same bytes synack_input() takes and synack_output() gives. Times are
 * microseconds (int64_t): wall-clock microseconds since the Unix epoch for
 * tcpdump lines and pcap files, any origin for ladders. Engine times are
 * nanoseconds: divide by 1000.
 *
 *     obs_flows *f = obs_flows_new();
 *     char line[OBS_LINE_MAX];
 *     obs_tcpdump_line(f, now_usec, pkt, len, line, sizeof line);
 *     puts(line);
 *     obs_flows_free(f);
 *
 * Nothing here keeps globals: several printers can run in one process.
 */
#ifndef SYNACK_OBSERVE_H
#define SYNACK_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A line buffer size that holds every common line (see obs_tcpdump_line). */
#define OBS_LINE_MAX 4096

/* ------------------------------------------------------------------------ */
/* tcpdump lines                                                             */

/* What matches tcpdump 4.99 byte for byte (checked by tests/observe against
 * the real tcpdump): IPv4 and IPv6 (hop-by-hop, destination options and
 * fragment headers), IPv4 fragments, truncated and malformed headers, TCP
 * with every option but MPTCP, HTTP first lines on ports 80 and 8080, UDP
 * without port decoders, the common ICMP and ICMPv6 messages, ARP.
 * Not reproduced: tcpdump's other port decoders (DNS, FTP, SSH, BGP...),
 * other IP protocols (GRE, SCTP, OSPF...), MPTCP options. */

/* Per-conversation memory of a tcpdump-style printer. tcpdump prints absolute
 * sequence numbers for the first packet carrying ACK in a conversation (and
 * for every SYN), then numbers relative to what it saw there. One obs_flows
 * per capture; keep it across packets. */
typedef struct obs_flows obs_flows;

/* Returns a new, empty table, or NULL when out of memory. */
obs_flows *obs_flows_new(void);

/* Frees the table (NULL is fine). */
void obs_flows_free(obs_flows *f);

/* Forgets every conversation (as a fresh tcpdump would). */
void obs_flows_reset(obs_flows *f);

/* Writes to out the line `tcpdump -n` prints for one raw IP packet of len
 * bytes captured at ts_usec (local time, as tcpdump shows it: honours TZ),
 * without the trailing newline, e.g.
 *   14:01:53.962394 IP 198.18.0.1.43486 > 198.18.0.2.80: Flags [S], seq ...
 * ts_usec >= 0. f may be NULL: then every number is printed absolute (like
 * tcpdump -S). A program that changes TZ after start calls tzset() first.
 * Returns the length of the line as snprintf does; it is cut when it does not
 * fit in cap (OBS_LINE_MAX holds any line but a very long HTTP first line or
 * a hex dump of an unknown ICMPv6 message). */
int obs_tcpdump_line(obs_flows *f, int64_t ts_usec, const uint8_t *pkt, size_t len, char *out,
		     size_t cap);

/* As obs_tcpdump_line, without the timestamp and its space: "IP a.1 > b.2: ...".
 * For script runners and tests where times are not wall-clock. */
int obs_tcpdump_body(obs_flows *f, const uint8_t *pkt, size_t len, char *out, size_t cap);

/* The general form used by pcap readers: caplen bytes were captured of a
 * packet that was wire_len bytes long on the wire (tcpdump reports the bytes
 * missing from a snapped capture as "[|tcp]" and similar). ts_usec < 0 means
 * "no timestamp". */
int obs_tcpdump_capture(obs_flows *f, int64_t ts_usec, const uint8_t *pkt, size_t caplen,
			size_t wire_len, char *out, size_t cap);

/* The body tcpdump -n prints for a frame that carries no IP (obs_packet with
 * is_ip false; p is what follows the link header): ARP requests and replies
 * exactly ("ARP, Request who-has 198.18.0.2 tell 198.18.0.1, length 28"),
 * other protocols as "ethertype 0x88cc, length 24" (tcpdump decodes more).
 * No timestamp. Returns the length as snprintf does. */
int obs_tcpdump_other(uint16_t ethertype, const uint8_t *p, size_t caplen, size_t wire_len,
		      char *out, size_t cap);

/* Formats ts_usec as tcpdump does: local "HH:MM:SS.uuuuuu". Returns the
 * length as snprintf does. */
int obs_format_time(int64_t ts_usec, char *out, size_t cap);

/* ------------------------------------------------------------------------ */
/* JSON                                                                      */

/* Writes one JSON object (one line, no newline) describing the packet:
 * {"ts":1.000001,"family":4,"src":"198.18.0.1","sport":43486,...,"flags":"S",
 *  "seq":N,"ack":N,"win":N,"len":N,"options":[{"kind":"mss","value":1460},...]}
 * Non-TCP or malformed packets give {"ts":..,"error":"..."}. Numbers are
 * absolute. Returns the length as snprintf does. */
int obs_json_packet(int64_t ts_usec, const uint8_t *pkt, size_t len, char *out, size_t cap);

/* ------------------------------------------------------------------------ */
/* pcap files (through libpcap)                                              */

typedef struct obs_pcap_writer obs_pcap_writer;

/* Creates path as a pcap file of raw IP packets (DLT_RAW, snaplen 65535),
 * readable by tcpdump and tshark. "-" writes to stdout. Returns 0 or a
 * negative errno; a message goes to err (may be NULL) on failure. */
int obs_pcap_create(const char *path, obs_pcap_writer **out, char *err, size_t errcap);

/* Appends one raw IP packet. Returns 0 or a negative errno. */
int obs_pcap_write(obs_pcap_writer *w, int64_t ts_usec, const uint8_t *pkt, size_t len);

/* Flushes and closes the file (NULL is fine). Returns 0 or a negative errno. */
int obs_pcap_close(obs_pcap_writer *w);

typedef struct obs_pcap_reader obs_pcap_reader;

#define OBS_LINK_PREFIX_MAX 32

/* One packet read from a capture, link header removed. */
typedef struct obs_packet {
	int64_t ts_usec;
	const uint8_t *ip;  /* the IP header (valid until the next obs_pcap_next) */
	size_t caplen;	    /* bytes present at ip */
	size_t wire_len;    /* bytes the IP packet had on the wire */
	bool is_ip;	    /* false: the frame carries no IPv4/IPv6 (ARP...) */
	uint16_t ethertype; /* link protocol when known (0x0800, 0x86dd, ...) */
	/* What tcpdump prints between the time and "IP" for this link type:
	 * for Linux cooked v2 ("any") captures, the interface (named on this
	 * host, as tcpdump does) and the direction, e.g. "lo    In  ". */
	char link_prefix[OBS_LINK_PREFIX_MAX];
} obs_packet;

/* Opens a pcap or pcapng file. Link types accepted: DLT_RAW, DLT_IPV4,
 * DLT_IPV6, DLT_EN10MB (Ethernet, 802.1Q/QinQ tags stripped), DLT_LINUX_SLL,
 * DLT_LINUX_SLL2, DLT_NULL and DLT_LOOP. Returns 0, or -ENOENT/-EINVAL/
 * -EPROTONOSUPPORT with a one-line reason in err. */
int obs_pcap_open(const char *path, obs_pcap_reader **out, char *err, size_t errcap);

/* Reads the next packet. Returns 1 with *p filled, 0 at the end of the file,
 * or a negative errno (message in err) for a damaged file. */
int obs_pcap_next(obs_pcap_reader *r, obs_packet *p, char *err, size_t errcap);

/* Closes the reader (NULL is fine). */
void obs_pcap_reader_close(obs_pcap_reader *r);

/* ------------------------------------------------------------------------ */
/* Ladder diagrams                                                           */

/* The two ends of a ladder: the client is drawn on the left. */
typedef enum obs_side { OBS_CLIENT = 0, OBS_SERVER = 1 } obs_side;

typedef struct obs_ladder obs_ladder;

/* Returns a new, empty ladder, or NULL when out of memory. */
obs_ladder *obs_ladder_new(void);

/* Frees the ladder (NULL is fine). */
void obs_ladder_free(obs_ladder *l);

/* Records that `from` sent the raw IP packet pkt at t_usec (the packet is
 * copied). Returns the packet's index for the calls below, or -ENOMEM. The
 * labels show flags, relative seq/ack (relative to each side's first
 * sequence number), length and the time since the first event. */
int obs_ladder_packet(obs_ladder *l, int64_t t_usec, obs_side from, const uint8_t *pkt, size_t len);

/* The packet `index` reached the other side at t_usec (the SVG arrow then
 * slopes from send time to receive time). */
void obs_ladder_received(obs_ladder *l, int index, int64_t t_usec);

/* The packet `index` was lost: drawn as an arrow ending in a cross. */
void obs_ladder_dropped(obs_ladder *l, int index);

/* side entered the state `name` ("SYN-SENT", "ESTABLISHED"...) at t_usec.
 * The name is copied. Returns 0 or -ENOMEM. */
int obs_ladder_state(obs_ladder *l, int64_t t_usec, obs_side side, const char *name);

/* Names the two ends in the headings (e.g. "198.18.0.1:43486"); copied.
 * Defaults: "client" and "server". */
void obs_ladder_names(obs_ladder *l, const char *client, const char *server);

#define OBS_LADDER_ASCII 0x1 /* plain ASCII arrows: -----> <----- and x */

/* Draws the ladder for a terminal: client column on the left, server on the
 * right, one arrow per packet, state names at the ends. Returns 0 or a
 * negative errno. */
int obs_ladder_render_text(const obs_ladder *l, FILE *out, unsigned flags);

/* Writes a standalone SVG document of the ladder. Returns 0 or a negative
 * errno. */
int obs_ladder_render_svg(const obs_ladder *l, FILE *out);

/* ------------------------------------------------------------------------ */
/* Handshake timings                                                         */

/* Follows the three-way handshakes in a stream of packets: SYN -> SYN-ACK ->
 * ACK times, retransmitted SYNs, refusals (RST answers) and SYNs that got no
 * answer. */
typedef struct obs_handshakes obs_handshakes;

/* Returns a new tracker, or NULL when out of memory. */
obs_handshakes *obs_handshakes_new(void);

/* Frees the tracker (NULL is fine). */
void obs_handshakes_free(obs_handshakes *h);

/* Feeds one raw IP packet (non-TCP packets are ignored). Returns 0 or
 * -ENOMEM. */
int obs_handshakes_packet(obs_handshakes *h, int64_t ts_usec, const uint8_t *pkt, size_t len);

/* Prints one paragraph per connection attempt, in order of the first SYN:
 *   198.18.0.1.43486 > 198.18.0.2.80: established, SYN -> SYN-ACK 0.045 ms,
 *     SYN-ACK -> ACK 0.012 ms, handshake 3.011057 s          (one line)
 *     SYN retransmitted 2 times (+1.003021 s, +3.011000 s)
 *   198.18.0.1.43487 > 198.18.0.2.81: refused, RST 0.030 ms after the SYN
 *   198.18.0.1.43488 > 198.18.0.2.82: no answer to 3 SYNs over 3.011000 s
 * (also "half-open": a SYN-ACK but no ACK; "reset by the client").
 * SYN -> SYN-ACK counts from the latest SYN before the first SYN-ACK,
 * SYN-ACK -> ACK from the latest SYN-ACK, "handshake" from the first SYN.
 * Returns the number of connection attempts. */
size_t obs_handshakes_report(const obs_handshakes *h, FILE *out);

/* As obs_handshakes_report, one JSON object per line:
 *   {"client":"198.18.0.1.43486","server":"198.18.0.2.80","outcome":"established",
 *    "syn_to_synack_us":45,"synack_to_ack_us":12,"syn_retransmits_us":[1003000]}
 * (times of retransmitted SYNs are offsets from the first SYN). */
size_t obs_handshakes_report_json(const obs_handshakes *h, FILE *out);

/* Calls fn for each connection attempt seen, in order of its first SYN; the
 * ladder helpers in tools use this to pick the packets of one connection.
 * client/server are the endpoints as "addr.port" strings. */
typedef void (*obs_handshake_fn)(void *ctx, const char *client, const char *server);
void obs_handshakes_each(const obs_handshakes *h, obs_handshake_fn fn, void *ctx);

#endif /* SYNACK_OBSERVE_H */
