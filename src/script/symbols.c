/*
 * symbols.c — the symbolic names scripts use in system calls, with their
 * Linux values (taken from the system headers, which are Linux's here).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "script.h"

typedef struct symbol {
	const char *name;
	int64_t value;
} symbol;

#define SYM(x)                                                                                     \
	{                                                                                          \
#x, x                                                                              \
	}

static const symbol symbols[] = {
    SYM(AF_INET),
    SYM(AF_INET6),
    SYM(AF_UNSPEC),
    SYM(PF_INET),
    SYM(PF_INET6),
    SYM(SOCK_STREAM),
    SYM(SOCK_DGRAM),
    SYM(SOCK_NONBLOCK),
    SYM(SOCK_CLOEXEC),
    SYM(IPPROTO_IP),
    SYM(IPPROTO_TCP),
    SYM(IPPROTO_IPV6),
    SYM(SOL_SOCKET),
    SYM(SOL_TCP),
    SYM(SOL_IP),
    SYM(SOL_IPV6),
    SYM(SO_REUSEADDR),
    SYM(SO_REUSEPORT),
    SYM(SO_ERROR),
    SYM(SO_SNDBUF),
    SYM(SO_RCVBUF),
    SYM(SO_KEEPALIVE),
    SYM(SO_LINGER),
    SYM(SO_SNDLOWAT),
    SYM(SO_RCVLOWAT),
    SYM(SO_RCVTIMEO),
    SYM(SO_SNDTIMEO),
    SYM(SO_OOBINLINE),
    SYM(SO_DEBUG),
    SYM(TCP_NODELAY),
    SYM(TCP_MAXSEG),
    SYM(TCP_CORK),
    SYM(TCP_KEEPIDLE),
    SYM(TCP_KEEPINTVL),
    SYM(TCP_KEEPCNT),
    SYM(TCP_SYNCNT),
    SYM(TCP_LINGER2),
    SYM(TCP_DEFER_ACCEPT),
    SYM(TCP_WINDOW_CLAMP),
    SYM(TCP_INFO),
    SYM(TCP_QUICKACK),
    SYM(TCP_CONGESTION),
    SYM(TCP_MD5SIG),
    SYM(TCP_USER_TIMEOUT),
    SYM(TCP_FASTOPEN),
    SYM(TCP_FASTOPEN_CONNECT),
    SYM(TCP_NOTSENT_LOWAT),
    SYM(F_GETFL),
    SYM(F_SETFL),
    SYM(F_GETFD),
    SYM(F_SETFD),
    SYM(O_RDWR),
    SYM(O_RDONLY),
    SYM(O_WRONLY),
    SYM(O_NONBLOCK),
    SYM(O_NDELAY),
    SYM(SHUT_RD),
    SYM(SHUT_WR),
    SYM(SHUT_RDWR),
    SYM(POLLIN),
    SYM(POLLPRI),
    SYM(POLLOUT),
    SYM(POLLERR),
    SYM(POLLHUP),
    SYM(POLLNVAL),
    SYM(POLLRDNORM),
    SYM(POLLRDBAND),
    SYM(POLLWRNORM),
    SYM(POLLWRBAND),
    SYM(POLLRDHUP),
    SYM(MSG_DONTWAIT),
    SYM(MSG_NOSIGNAL),
    SYM(MSG_PEEK),
    SYM(MSG_OOB),
    SYM(MSG_WAITALL),
    SYM(MSG_MORE),
    SYM(MSG_FASTOPEN),
    SYM(MSG_TRUNC),
    SYM(MSG_ZEROCOPY),
    SYM(FIONREAD),
    SYM(FIONBIO),
    SYM(SIOCINQ),
    SYM(SIOCOUTQ),
    SYM(SIOCOUTQNSD),
    SYM(TIOCOUTQ),
};

#define ERR(x)                                                                                     \
	{                                                                                          \
#x, x                                                                              \
	}

static const symbol errnos[] = {
    ERR(EPERM),	       ERR(ENOENT),
    ERR(EINTR),	       ERR(EIO),
    ERR(EBADF),	       ERR(EAGAIN),
    ERR(ENOMEM),       ERR(EACCES),
    ERR(EFAULT),       ERR(EBUSY),
    ERR(EEXIST),       ERR(EINVAL),
    ERR(ENFILE),       ERR(EMFILE),
    ERR(ENOSPC),       ERR(EPIPE),
    ERR(ENOTSOCK),     ERR(EDESTADDRREQ),
    ERR(EMSGSIZE),     ERR(EPROTOTYPE),
    ERR(ENOPROTOOPT),  ERR(EPROTONOSUPPORT),
    ERR(EOPNOTSUPP),   ERR(EAFNOSUPPORT),
    ERR(EADDRINUSE),   ERR(EADDRNOTAVAIL),
    ERR(ENETDOWN),     ERR(ENETUNREACH),
    ERR(ENETRESET),    ERR(ECONNABORTED),
    ERR(ECONNRESET),   ERR(ENOBUFS),
    ERR(EISCONN),      ERR(ENOTCONN),
    ERR(ESHUTDOWN),    ERR(ETIMEDOUT),
    ERR(ECONNREFUSED), ERR(EHOSTDOWN),
    ERR(EHOSTUNREACH), ERR(EALREADY),
    ERR(EINPROGRESS),  ERR(EPROTO),
    ERR(ENOTSUP),      ERR(ENODATA),
    ERR(ERANGE),       {"EWOULDBLOCK", EWOULDBLOCK}, /* after EAGAIN: the same value */
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

bool script_symbol(const char *name, int64_t *value)
{
	for (size_t i = 0; i < COUNT(symbols); i++) {
		if (!strcmp(symbols[i].name, name)) {
			*value = symbols[i].value;
			return true;
		}
	}
	int e = script_errno_value(name);
	if (e) {
		*value = e;
		return true;
	}
	return false;
}

int script_errno_value(const char *name)
{
	for (size_t i = 0; i < COUNT(errnos); i++)
		if (!strcmp(errnos[i].name, name))
			return (int)errnos[i].value;
	return 0;
}

const char *script_errno_name(int err)
{
	for (size_t i = 0; i < COUNT(errnos); i++)
		if (errnos[i].value == err)
			return errnos[i].name;
	return NULL;
}
