/*
 * http.c — the request phases after TCP (and TLS): a WebSocket upgrade
 * (RFC 6455 section 4) with Sec-WebSocket-Accept checked, and an HTTP/1.1 GET
 * timed to its first byte.
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "probe.h"
#include "synack/synack.h"

/* RFC 6455 section 1.3: the GUID appended to the key before hashing. */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_BYTES 16	 /* RFC 6455 section 4.1: a random 16-byte value */
#define WS_KEY_B64 25	 /* base64 of 16 bytes, with its NUL */
#define WS_ACCEPT_B64 29 /* base64 of a 20-byte SHA-1, with its NUL */
#define HEAD_MAX 16384	 /* response headers we are willing to read */
#define REQUEST_MAX (PROBE_PATH_MAX + 2 * PROBE_HOST_MAX + 512)
#define HTTP_STATUS_SWITCHING 101
#define HTTP_STATUS_ERROR_MIN 400

void probe_ws_accept(const char *key, char *out, size_t outlen)
{
	unsigned char digest[SHA_DIGEST_LENGTH];
	char buf[WS_KEY_B64 + sizeof WS_GUID];
	unsigned char b64[WS_ACCEPT_B64];

	snprintf(buf, sizeof buf, "%s%s", key, WS_GUID);
	SHA1((const unsigned char *)buf, strlen(buf), digest);
	EVP_EncodeBlock(b64, digest, SHA_DIGEST_LENGTH);
	snprintf(out, outlen, "%s", (const char *)b64);
}

/* The Host header: brackets around IPv6, the port unless it is the default. */
static void host_header(const struct probe_config *cfg, const struct probe_target *t, char *out,
			size_t len)
{
	bool v6 = strchr(t->host, ':') != NULL;
	bool dflt = !strcmp(t->port, cfg->tls ? "443" : "80");

	snprintf(out, len, "%s%s%s%s%s", v6 ? "[" : "", t->host, v6 ? "]" : "", dflt ? "" : ":",
		 dflt ? "" : t->port);
}

static enum probe_class send_all(struct probe_stream *s, const char *req, int64_t deadline)
{
	size_t off = 0, len = strlen(req);

	/* Each write moves forward or fails; the deadline bounds the waits. */
	while (off < len) {
		long n = probe_stream_write(s, req + off, len - off, deadline);

		if (n <= 0)
			return n == 0 ? PROBE_ERR_RESET : (enum probe_class) - n;
		off += (size_t)n;
	}
	return PROBE_OK;
}

/*
 * Reads until the end of the headers (or until stop_at_first_line). *first_ns
 * gets the time of the first byte. Returns the class; the text is NUL-ended.
 */
static enum probe_class read_head(struct probe_stream *s, char *buf, size_t cap, int64_t deadline,
				  int64_t *first_ns, bool stop_at_first_line)
{
	size_t len = 0;

	*first_ns = -1;
	while (len + 1 < cap) {
		long n = probe_stream_read(s, buf + len, cap - 1 - len, deadline);

		if (n < 0)
			return (enum probe_class) - n;
		if (*first_ns < 0)
			*first_ns = probe_now_ns();
		if (n == 0)
			return len ? PROBE_OK : PROBE_ERR_RESET;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") || (stop_at_first_line && strstr(buf, "\r\n")))
			return PROBE_OK;
	}
	return PROBE_OK;
}

static int status_code(const char *head)
{
	int code;

	if (sscanf(head, "HTTP/%*d.%*d %d", &code) != 1 && sscanf(head, "HTTP/%*d %d", &code) != 1)
		return -1;
	return code;
}

/* The value of a header (case-insensitive name), copied without surrounding blanks. */
static bool header_value(const char *head, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2, *end;

		if (strncasecmp(line, name, nl) || line[nl] != ':')
			continue;
		line += nl + 1;
		line += strspn(line, " \t");
		end = strstr(line, "\r\n");
		if (!end)
			end = line + strlen(line);
		while (end > line && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		snprintf(out, len, "%.*s", (int)(end - line), line);
		return true;
	}
	return false;
}

static void ws_key(char *out)
{
	unsigned char raw[WS_KEY_BYTES];

	if (RAND_bytes(raw, sizeof raw) != 1)
		abort(); /* no randomness at all: nothing sensible to do */
	EVP_EncodeBlock((unsigned char *)out, raw, sizeof raw);
}

static enum probe_class ws_check(const char *head, const char *key, struct probe_result *r)
{
	char want[WS_ACCEPT_B64], got[PROBE_TEXT_MAX] = "";

	r->http_status = status_code(head);
	if (r->http_status != HTTP_STATUS_SWITCHING) {
		snprintf(r->detail, sizeof r->detail, "expected status 101, got %d",
			 r->http_status);
		return PROBE_ERR_WS;
	}
	probe_ws_accept(key, want, sizeof want);
	if (!header_value(head, "Sec-WebSocket-Accept", got, sizeof got) || strcmp(got, want)) {
		/* A real accept key is 28 characters: show at most a little more. */
		snprintf(r->detail, sizeof r->detail, "Sec-WebSocket-Accept '%.64s', expected '%s'",
			 got, want);
		return PROBE_ERR_WS;
	}
	return PROBE_OK;
}

enum probe_class probe_ws_upgrade(const struct probe_config *cfg, const struct probe_target *t,
				  struct probe_stream *s, struct probe_result *r)
{
	char key[WS_KEY_B64], host[PROBE_HOST_MAX + 16], req[REQUEST_MAX], head[HEAD_MAX];
	int64_t start = probe_now_ns(), deadline = start + cfg->timeout_ns, first;
	enum probe_class c;

	ws_key(key);
	host_header(cfg, t, host, sizeof host);
	snprintf(req, sizeof req,
		 "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
		 "User-Agent: synack-probe/" SYNACK_VERSION_STRING "\r\n\r\n",
		 cfg->ws_path, host, key);
	c = send_all(s, req, deadline);
	if (c == PROBE_OK)
		c = read_head(s, head, sizeof head, deadline, &first, false);
	r->phase_ns[PROBE_PHASE_WS] = probe_now_ns() - start;
	return c == PROBE_OK ? ws_check(head, key, r) : c;
}

enum probe_class probe_http_get(const struct probe_config *cfg, const struct probe_target *t,
				struct probe_stream *s, struct probe_result *r)
{
	char host[PROBE_HOST_MAX + 16], req[REQUEST_MAX], head[HEAD_MAX];
	int64_t start = probe_now_ns(), deadline = start + cfg->timeout_ns, first = -1;
	enum probe_class c;

	host_header(cfg, t, host, sizeof host);
	snprintf(req, sizeof req,
		 "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\nConnection: close\r\n"
		 "User-Agent: synack-probe/" SYNACK_VERSION_STRING "\r\n\r\n",
		 cfg->http_path, host);
	c = send_all(s, req, deadline);
	if (c == PROBE_OK)
		c = read_head(s, head, sizeof head, deadline, &first, true);
	/* Time to first byte, as curl's starttransfer counts it from the request. */
	r->phase_ns[PROBE_PHASE_HTTP] = (first >= 0 ? first : probe_now_ns()) - start;
	if (c != PROBE_OK)
		return c;
	r->http_status = status_code(head);
	if (r->http_status < 0) {
		snprintf(r->detail, sizeof r->detail, "not an HTTP answer");
		return PROBE_ERR_HTTP;
	}
	if (r->http_status >= HTTP_STATUS_ERROR_MIN) {
		snprintf(r->detail, sizeof r->detail, "HTTP status %d", r->http_status);
		return PROBE_ERR_HTTP;
	}
	return PROBE_OK;
}
