/*
 * pcap.c — pcap files through libpcap: raw IP out, many link types in.
 */
#include <errno.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "observe/observe.h"
#include "wire/wire.h"

#define PCAP_SNAPLEN 65535
#define USEC_PER_SEC 1000000

/* Link-layer framing (tcpdump.org "Link-layer header types"). */
#define ETH_HDR 14
#define ETH_TYPE_OFF 12
#define VLAN_TAG 4
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8
#define ETHERTYPE_QINQ_OLD 0x9100
#define SLL_HDR 16
#define SLL_PROTO_OFF 14
#define SLL2_HDR 20
#define SLL2_PROTO_OFF 0
#define SLL2_IFINDEX_OFF 4
#define SLL2_PKTTYPE_OFF 10
#define NULL_HDR 4
#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif

struct obs_pcap_writer {
	pcap_t *pcap;
	pcap_dumper_t *dump;
};

struct obs_pcap_reader {
	pcap_t *pcap;
	int dlt;
};

static void set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (!err || !cap)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

int obs_pcap_create(const char *path, obs_pcap_writer **out, char *err, size_t errcap)
{
	obs_pcap_writer *w = calloc(1, sizeof *w);

	*out = NULL;
	if (!w)
		return -ENOMEM;
	w->pcap = pcap_open_dead(DLT_RAW, PCAP_SNAPLEN);
	if (!w->pcap) {
		free(w);
		return -ENOMEM;
	}
	w->dump = pcap_dump_open(w->pcap, path);
	if (!w->dump) {
		set_err(err, errcap, "%s", pcap_geterr(w->pcap));
		pcap_close(w->pcap);
		free(w);
		return -EIO;
	}
	*out = w;
	return 0;
}

int obs_pcap_write(obs_pcap_writer *w, int64_t ts_usec, const uint8_t *pkt, size_t len)
{
	struct pcap_pkthdr h;

	if (len > PCAP_SNAPLEN)
		return -EMSGSIZE;
	memset(&h, 0, sizeof h);
	h.ts.tv_sec = (time_t)(ts_usec / USEC_PER_SEC);
	h.ts.tv_usec = (suseconds_t)(ts_usec % USEC_PER_SEC);
	h.caplen = (bpf_u_int32)len;
	h.len = (bpf_u_int32)len;
	pcap_dump((u_char *)w->dump, &h, pkt);
	return 0;
}

int obs_pcap_close(obs_pcap_writer *w)
{
	int rc = 0;

	if (!w)
		return 0;
	if (pcap_dump_flush(w->dump) != 0)
		rc = -EIO;
	pcap_dump_close(w->dump);
	pcap_close(w->pcap);
	free(w);
	return rc;
}

static bool dlt_supported(int dlt)
{
	switch (dlt) {
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
	case DLT_EN10MB:
	case DLT_LINUX_SLL:
	case DLT_LINUX_SLL2:
	case DLT_NULL:
	case DLT_LOOP:
		return true;
	default:
		return false;
	}
}

int obs_pcap_open(const char *path, obs_pcap_reader **out, char *err, size_t errcap)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	struct stat st;
	obs_pcap_reader *r;

	*out = NULL;
	if (stat(path, &st) != 0) {
		set_err(err, errcap, "%s: %s", path, strerror(errno));
		return -ENOENT;
	}
	r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	r->pcap = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
	if (!r->pcap) {
		set_err(err, errcap, "%s: not a pcap file (%s)", path, ebuf);
		free(r);
		return -EINVAL;
	}
	r->dlt = pcap_datalink(r->pcap);
	if (!dlt_supported(r->dlt)) {
		const char *name = pcap_datalink_val_to_name(r->dlt);

		set_err(err, errcap, "%s: unsupported link type %s (%d)", path,
			name ? name : "unknown", r->dlt);
		pcap_close(r->pcap);
		free(r);
		return -EPROTONOSUPPORT;
	}
	*out = r;
	return 0;
}

/* The IP version in the first byte decides for link types without a protocol
 * field (and for DLT_NULL, whose family value depends on the capturing OS). */
static uint16_t guess_ethertype(const uint8_t *ip, size_t caplen)
{
	if (caplen < 1)
		return 0;
	if (ip[0] >> 4 == 4)
		return ETHERTYPE_IPV4;
	if (ip[0] >> 4 == 6)
		return ETHERTYPE_IPV6;
	return 0;
}

/* tcpdump's names for the Linux packet types (PACKET_HOST...). */
static const char *const sll_pkttype[] = {"In", "B", "M", "P", "Out"};

/* "lo    In  ": the interface named by this host, then the direction. */
static void sll2_prefix(const uint8_t *hdr, char *out, size_t cap)
{
	char name[IF_NAMESIZE];
	unsigned type = hdr[SLL2_PKTTYPE_OFF];

	if (!if_indextoname(wire_get32(hdr + SLL2_IFINDEX_OFF), name))
		snprintf(name, sizeof name, "?");
	snprintf(out, cap, "%-5s %-3s ", name,
		 type < sizeof sll_pkttype / sizeof sll_pkttype[0] ? sll_pkttype[type] : "?");
}

/* Returns the link header length, or -1 when the frame is too short. */
static long link_header(int dlt, const uint8_t *data, size_t caplen, uint16_t *ethertype)
{
	size_t off;

	switch (dlt) {
	case DLT_EN10MB:
		if (caplen < ETH_HDR)
			return -1;
		off = ETH_TYPE_OFF;
		*ethertype = wire_get16(data + off);
		while (*ethertype == ETHERTYPE_VLAN || *ethertype == ETHERTYPE_QINQ ||
		       *ethertype == ETHERTYPE_QINQ_OLD) {
			off += VLAN_TAG;
			if (caplen < off + 2)
				return -1;
			*ethertype = wire_get16(data + off);
		}
		return (long)off + 2;
	case DLT_LINUX_SLL:
		if (caplen < SLL_HDR)
			return -1;
		*ethertype = wire_get16(data + SLL_PROTO_OFF);
		return SLL_HDR;
	case DLT_LINUX_SLL2:
		if (caplen < SLL2_HDR)
			return -1;
		*ethertype = wire_get16(data + SLL2_PROTO_OFF);
		return SLL2_HDR;
	case DLT_NULL:
	case DLT_LOOP:
		if (caplen < NULL_HDR)
			return -1;
		*ethertype = guess_ethertype(data + NULL_HDR, caplen - NULL_HDR);
		return NULL_HDR;
	default: /* DLT_RAW, DLT_IPV4, DLT_IPV6 */
		*ethertype = guess_ethertype(data, caplen);
		return 0;
	}
}

int obs_pcap_next(obs_pcap_reader *r, obs_packet *p, char *err, size_t errcap)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	long hdr;
	int rc;

	memset(p, 0, sizeof *p);
	rc = pcap_next_ex(r->pcap, &h, &data);
	if (rc == PCAP_ERROR_BREAK)
		return 0;
	if (rc != 1) {
		set_err(err, errcap, "damaged capture: %s", pcap_geterr(r->pcap));
		return -EIO;
	}
	p->ts_usec = (int64_t)h->ts.tv_sec * USEC_PER_SEC + h->ts.tv_usec;
	hdr = link_header(r->dlt, data, h->caplen, &p->ethertype);
	if (hdr < 0) {
		p->ip = data;
		p->caplen = 0;
		p->wire_len = 0;
		return 1;
	}
	if (r->dlt == DLT_LINUX_SLL2)
		sll2_prefix(data, p->link_prefix, sizeof p->link_prefix);
	p->ip = data + hdr;
	p->caplen = h->caplen - (size_t)hdr;
	p->wire_len = h->len >= (bpf_u_int32)hdr ? h->len - (size_t)hdr : 0;
	/* raw IP link types carry nothing else: tcpdump prints even a bad version */
	p->is_ip = p->ethertype == ETHERTYPE_IPV4 || p->ethertype == ETHERTYPE_IPV6 ||
		   r->dlt == DLT_RAW || r->dlt == DLT_IPV4 || r->dlt == DLT_IPV6;
	return 1;
}

void obs_pcap_reader_close(obs_pcap_reader *r)
{
	if (!r)
		return;
	pcap_close(r->pcap);
	free(r);
}
