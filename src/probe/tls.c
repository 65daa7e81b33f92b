/*
 * tls.c — the TLS phase with OpenSSL: SNI, ALPN, the certificate and its
 * verification. The handshake itself does not stop at a bad certificate (we
 * verify after it), so that a failure still shows what the server presented
 * and how long the handshake took; the verdict then decides the class.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe.h"

#define ALPN_WIRE_MAX                                                                              \
	255 /* RFC 7301: the protocol list is a vector of up to 2^16-1, we keep it short */
#define SECONDS_PER_DAY 86400

struct probe_tls {
	SSL_CTX *ctx;
	unsigned char alpn[ALPN_WIRE_MAX];
	unsigned alpn_len;
};

/* "h2,http/1.1" -> the ALPN wire format: each name preceded by its length. */
static int alpn_encode(const char *list, unsigned char *out, unsigned *len)
{
	const char *p = list;

	*len = 0;
	while (*p) {
		size_t n = strcspn(p, ",");

		if (n == 0 || n > UINT8_MAX || *len + 1 + n > ALPN_WIRE_MAX)
			return -1;
		out[(*len)++] = (unsigned char)n;
		memcpy(out + *len, p, n);
		*len += (unsigned)n;
		p += n + (p[n] == ',');
	}
	return *len ? 0 : -1;
}

static void openssl_error(char *err, size_t len, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[PROBE_TEXT_MAX];

	ERR_error_string_n(e, buf, sizeof buf);
	snprintf(err, len, "%.64s: %.160s", what, e ? buf : "unknown error");
	ERR_clear_error();
}

struct probe_tls *probe_tls_new(const struct probe_config *cfg, char *err, size_t errlen)
{
	struct probe_tls *tls = calloc(1, sizeof *tls);

	if (!tls || !(tls->ctx = SSL_CTX_new(TLS_client_method()))) {
		snprintf(err, errlen, "cannot create a TLS context");
		free(tls);
		return NULL;
	}
	if (cfg->alpn && alpn_encode(cfg->alpn, tls->alpn, &tls->alpn_len) < 0) {
		snprintf(err, errlen, "bad --alpn list '%s'", cfg->alpn);
		goto fail;
	}
	if (cfg->cacert ? !SSL_CTX_load_verify_locations(tls->ctx, cfg->cacert, NULL)
			: !SSL_CTX_set_default_verify_paths(tls->ctx)) {
		openssl_error(err, errlen, cfg->cacert ? cfg->cacert : "system certificate store");
		goto fail;
	}
	SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_NONE, NULL);
	return tls;
fail:
	SSL_CTX_free(tls->ctx);
	free(tls);
	return NULL;
}

void probe_tls_free(struct probe_tls *tls)
{
	if (!tls)
		return;
	SSL_CTX_free(tls->ctx);
	free(tls);
}

void probe_tls_close(void *ssl)
{
	SSL_free(ssl);
}

static bool is_address(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* SNI (RFC 6066: names only, never addresses) and the name or address to verify. */
static int setup_names(SSL *ssl, const struct probe_config *cfg, const char *host)
{
	const char *sni = cfg->sni ? cfg->sni : host;
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);

	if (!is_address(sni) && !SSL_set_tlsext_host_name(ssl, sni))
		return -1;
	/* An address typed without --sni is checked against the certificate's IP entries. */
	if (is_address(sni))
		return X509_VERIFY_PARAM_set1_ip_asc(vp, sni) ? 0 : -1;
	return SSL_set1_host(ssl, sni) ? 0 : -1;
}

static void name_text(X509_NAME *name, char *out, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	long n;
	char *p;

	out[0] = '\0';
	if (!b)
		return;
	X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
	n = BIO_get_mem_data(b, &p);
	snprintf(out, len, "%.*s", (int)n, p);
	BIO_free(b);
}

static void cert_info(SSL *ssl, struct probe_tls_info *ti)
{
	X509 *cert = SSL_get1_peer_certificate(ssl);
	const ASN1_TIME *na;
	struct tm tm;
	int days = 0, secs = 0;

	if (!cert)
		return;
	ti->have_cert = true;
	name_text(X509_get_subject_name(cert), ti->subject, sizeof ti->subject);
	name_text(X509_get_issuer_name(cert), ti->issuer, sizeof ti->issuer);
	na = X509_get0_notAfter(cert);
	if (ASN1_TIME_to_tm(na, &tm))
		strftime(ti->not_after, sizeof ti->not_after, "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* From now to notAfter; negative once expired. */
	if (ASN1_TIME_diff(&days, &secs, NULL, na))
		ti->days_left = days;
	X509_free(cert);
}

static void session_info(SSL *ssl, struct probe_tls_info *ti)
{
	const unsigned char *alpn = NULL;
	unsigned alpn_len = 0;

	snprintf(ti->version, sizeof ti->version, "%s", SSL_get_version(ssl));
	snprintf(ti->cipher, sizeof ti->cipher, "%s", SSL_get_cipher_name(ssl));
	SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
	snprintf(ti->alpn, sizeof ti->alpn, "%.*s", (int)alpn_len, alpn ? (const char *)alpn : "");
	cert_info(ssl, ti);
	ti->verify_code = SSL_get_verify_result(ssl);
	ti->verified = ti->verify_code == X509_V_OK;
	snprintf(ti->verify_text, sizeof ti->verify_text, "%s",
		 X509_verify_cert_error_string(ti->verify_code));
}

/* Why SSL_connect failed: the peer went away, or TLS itself (alert, version, ...). */
static enum probe_class handshake_failure(SSL *ssl, int rc, struct probe_result *r)
{
	int e = SSL_get_error(ssl, rc);
	unsigned long code = ERR_peek_error();

	if (e == SSL_ERROR_SYSCALL) {
		int err = errno;

		ERR_clear_error();
		snprintf(r->detail, sizeof r->detail, "%s",
			 err ? strerror(err) : "the server closed the connection");
		return PROBE_ERR_TLS_RESET;
	}
	if (ERR_GET_LIB(code) == ERR_LIB_SYS) {
		/* OpenSSL 3 files a failed read or write (ECONNRESET, EPIPE) as
		 * a "system library" error rather than SSL_ERROR_SYSCALL. */
		int err = ERR_GET_REASON(code);
		ERR_clear_error();
		snprintf(r->detail, sizeof r->detail, "%s", strerror(err));
		return PROBE_ERR_TLS_RESET;
	}
	if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ERR_clear_error();
		snprintf(r->detail, sizeof r->detail, "the server closed the connection");
		return PROBE_ERR_TLS_RESET;
	}
	openssl_error(r->detail, sizeof r->detail, "handshake");
	return PROBE_ERR_TLS_PROTOCOL;
}

/* SSL_connect until done; every pass waits on the socket, bounded by the deadline. */
static enum probe_class drive_handshake(SSL *ssl, int fd, int64_t deadline, int stop_fd,
					struct probe_result *r)
{
	for (;;) {
		int rc = SSL_connect(ssl), w;
		short events;

		if (rc == 1)
			return PROBE_OK;
		switch (SSL_get_error(ssl, rc)) {
		case SSL_ERROR_WANT_READ:
			events = POLLIN;
			break;
		case SSL_ERROR_WANT_WRITE:
			events = POLLOUT;
			break;
		default:
			return handshake_failure(ssl, rc, r);
		}
		w = probe_wait_fd(fd, events, deadline, stop_fd, NULL);
		if (w == 0) {
			snprintf(r->detail, sizeof r->detail, "no TLS answer");
			return PROBE_ERR_TIMEOUT;
		}
		if (w < 0)
			return PROBE_INTERRUPTED;
	}
}

static enum probe_class verdict(const struct probe_config *cfg, struct probe_result *r)
{
	long v = r->tls.verify_code;

	if (r->tls.verified || cfg->insecure)
		return PROBE_OK;
	snprintf(r->detail, sizeof r->detail, "%s", r->tls.verify_text);
	if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
		return PROBE_ERR_TLS_NAME;
	return PROBE_ERR_TLS_CERT;
}

enum probe_class probe_tls_handshake(struct probe_tls *tls, const struct probe_config *cfg,
				     const char *host, int fd, void **ssl_out,
				     struct probe_result *r)
{
	SSL *ssl = SSL_new(tls->ctx);
	int64_t start = probe_now_ns();
	enum probe_class c;

	*ssl_out = NULL;
	if (!ssl || !SSL_set_fd(ssl, fd) || setup_names(ssl, cfg, host) < 0 ||
	    (tls->alpn_len && SSL_set_alpn_protos(ssl, tls->alpn, tls->alpn_len) != 0)) {
		openssl_error(r->detail, sizeof r->detail, "TLS setup");
		SSL_free(ssl);
		return PROBE_ERR_OTHER;
	}
	c = drive_handshake(ssl, fd, start + cfg->timeout_ns, cfg->stop_fd, r);
	r->phase_ns[PROBE_PHASE_TLS] = probe_now_ns() - start;
	if (c == PROBE_OK) {
		session_info(ssl, &r->tls);
		c = verdict(cfg, r);
	}
	if (c != PROBE_OK) {
		SSL_free(ssl);
		return c;
	}
	*ssl_out = ssl;
	return PROBE_OK;
}
