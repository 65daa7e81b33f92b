/*
 * json.c — one JSON object per packet, for scripts that would rather not
 * parse tcpdump lines. Numbers are absolute; unknown options keep their kind.
 */
#include <string.h>

#include "observe/obs_internal.h"
#include "observe/observe.h"
#include "wire/wire.h"

#define USEC_PER_SEC 1000000
#define TCP_OPTS_OFF 20

static void json_opt(obs_buf *b, bool *first, const char *fmt_kind)
{
	obs_buf_printf(b, "%s{\"kind\":\"%s\"", *first ? "" : ",", fmt_kind);
	*first = false;
}

/* Options as a JSON array; stops quietly at a malformed option. */
static void json_options(obs_buf *b, const uint8_t *opt, size_t len)
{
	bool first = true;
	size_t i = 0;

	obs_buf_puts(b, ",\"options\":[");
	while (i < len) {
		unsigned kind = opt[i], olen;

		if (kind == WIRE_OPT_EOL) {
			json_opt(b, &first, "eol");
			obs_buf_puts(b, "}");
			break;
		}
		if (kind == WIRE_OPT_NOP) {
			json_opt(b, &first, "nop");
			obs_buf_puts(b, "}");
			i++;
			continue;
		}
		if (i + 1 >= len || opt[i + 1] < 2 || i + opt[i + 1] > len)
			break;
		olen = opt[i + 1];
		const uint8_t *d = opt + i + 2;
		unsigned dlen = olen - 2;
		if (kind == WIRE_OPT_MSS && olen == WIRE_OPTLEN_MSS) {
			json_opt(b, &first, "mss");
			obs_buf_printf(b, ",\"value\":%u}", wire_get16(d));
		} else if (kind == WIRE_OPT_WSCALE && olen == WIRE_OPTLEN_WSCALE) {
			json_opt(b, &first, "wscale");
			obs_buf_printf(b, ",\"value\":%u}", d[0]);
		} else if (kind == WIRE_OPT_SACKOK && olen == WIRE_OPTLEN_SACKOK) {
			json_opt(b, &first, "sackOK");
			obs_buf_puts(b, "}");
		} else if (kind == WIRE_OPT_TS && olen == WIRE_OPTLEN_TS) {
			json_opt(b, &first, "TS");
			obs_buf_printf(b, ",\"val\":%u,\"ecr\":%u}", wire_get32(d),
				       wire_get32(d + 4));
		} else if (kind == WIRE_OPT_SACK && dlen % 8 == 0) {
			json_opt(b, &first, "sack");
			obs_buf_puts(b, ",\"blocks\":[");
			for (unsigned k = 0; k < dlen; k += 8)
				obs_buf_printf(b, "%s[%u,%u]", k ? "," : "", wire_get32(d + k),
					       wire_get32(d + k + 4));
			obs_buf_puts(b, "]}");
		} else if (kind == WIRE_OPT_FASTOPEN || (kind == WIRE_OPT_EXP && dlen >= 2 &&
							 wire_get16(d) == WIRE_FASTOPEN_MAGIC)) {
			if (kind == WIRE_OPT_EXP) {
				d += 2;
				dlen -= 2;
			}
			json_opt(b, &first, kind == WIRE_OPT_EXP ? "tfo-exp" : "tfo");
			obs_buf_puts(b, ",\"cookie\":\"");
			for (unsigned k = 0; k < dlen; k++)
				obs_buf_printf(b, "%02x", d[k]);
			obs_buf_puts(b, "\"}");
		} else {
			obs_buf_printf(b, "%s{\"kind\":%u,\"data\":\"", first ? "" : ",", kind);
			first = false;
			for (unsigned k = 0; k < dlen; k++)
				obs_buf_printf(b, "%02x", d[k]);
			obs_buf_puts(b, "\"}");
		}
		i += olen;
	}
	obs_buf_puts(b, "]");
}

int obs_json_packet(int64_t ts_usec, const uint8_t *pkt, size_t len, char *out, size_t cap)
{
	obs_buf b;
	obs_tcp_view v;

	obs_buf_init(&b, out, cap);
	obs_buf_printf(&b, "{\"ts\":%lld.%06lld", (long long)(ts_usec / USEC_PER_SEC),
		       (long long)(ts_usec % USEC_PER_SEC));
	if (!obs_tcp_view_parse(pkt, len, &v)) {
		obs_buf_puts(&b, ",\"error\":\"not a complete, unfragmented TCP segment\"}");
		return obs_buf_result(&b);
	}
	obs_buf_printf(&b, ",\"family\":%d,\"src\":\"", v.family);
	obs_buf_addr(&b, v.family, v.src);
	obs_buf_printf(&b, "\",\"sport\":%u,\"dst\":\"", v.sport);
	obs_buf_addr(&b, v.family, v.dst);
	obs_buf_printf(&b, "\",\"dport\":%u,\"flags\":\"", v.dport);
	obs_buf_tcp_flags(&b, v.flags);
	obs_buf_printf(&b, "\",\"seq\":%u,\"ack\":%u,\"win\":%u,\"len\":%u", v.seq, v.ack, v.win,
		       v.payload_len);
	/* the TCP header sits right before the payload */
	size_t ip_hlen = v.family == 4 ? (size_t)(pkt[0] & 0x0f) * 4 : WIRE_IPV6_HDR;
	const uint8_t *tcp = pkt + ip_hlen;
	size_t doff = (size_t)(tcp[TCP_OFF_DOFF] >> 4) * 4;
	json_options(&b, tcp + TCP_OPTS_OFF, doff - TCP_OPTS_OFF);
	obs_buf_puts(&b, "}");
	return obs_buf_result(&b);
}
