/* stream.c — bytes over plain TCP or TLS, each call bounded by a deadline. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probe.h"

/* "Try again once the socket is ready": distinct from every -probe_class. */
#define WOULD_BLOCK (-(long)PROBE_CLASS_COUNT - 1)

/* Waits for fd; returns 0 when ready or a negative probe_class. */
static long wait_io(struct probe_stream *s, short events, int64_t deadline)
{
	int rc = probe_wait_fd(s->fd, events, deadline, s->stop_fd, NULL);

	if (rc == 1)
		return 0;
	return rc == 0 ? -PROBE_ERR_TIMEOUT : -PROBE_INTERRUPTED;
}

static long errno_result(int err)
{
	enum probe_class c = probe_class_from_errno(err);

	return -(long)(c == PROBE_OK ? PROBE_ERR_OTHER : c);
}

/* One SSL_read or SSL_write result: >= 0 done, WOULD_BLOCK (events set), else -class. */
static long ssl_result(SSL *ssl, int n, short *events)
{
	switch (SSL_get_error(ssl, n)) {
	case SSL_ERROR_NONE:
		return n;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_WANT_READ:
		*events = POLLIN;
		return WOULD_BLOCK;
	case SSL_ERROR_WANT_WRITE:
		*events = POLLOUT;
		return WOULD_BLOCK;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		return errno ? errno_result(errno) : -PROBE_ERR_RESET;
	default:
		/* A server that closes without close_notify still ended the stream. */
		if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			return 0;
		}
		ERR_clear_error();
		return -PROBE_ERR_TLS_PROTOCOL;
	}
}

/*
 * Every pass makes progress or waits until the deadline, after which
 * wait_io fails: the loops below end by the deadline at the latest.
 */
long probe_stream_write(struct probe_stream *s, const void *buf, size_t len, int64_t deadline)
{
	for (;;) {
		short events = POLLOUT;
		long rc;

		if (s->ssl) {
			rc = ssl_result(s->ssl, SSL_write(s->ssl, buf, (int)len), &events);
		} else {
			rc = send(s->fd, buf, len, MSG_NOSIGNAL);
			if (rc < 0)
				rc = errno == EAGAIN || errno == EINTR ? WOULD_BLOCK
								       : errno_result(errno);
		}
		if (rc != WOULD_BLOCK)
			return rc;
		rc = wait_io(s, events, deadline);
		if (rc < 0)
			return rc;
	}
}

long probe_stream_read(struct probe_stream *s, void *buf, size_t len, int64_t deadline)
{
	for (;;) {
		short events = POLLIN;
		long rc;

		if (s->ssl) {
			rc = ssl_result(s->ssl, SSL_read(s->ssl, buf, (int)len), &events);
		} else {
			rc = read(s->fd, buf, len);
			if (rc < 0)
				rc = errno == EAGAIN || errno == EINTR ? WOULD_BLOCK
								       : errno_result(errno);
		}
		if (rc != WOULD_BLOCK)
			return rc;
		rc = wait_io(s, events, deadline);
		if (rc < 0)
			return rc;
	}
}
