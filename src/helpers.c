/* helpers.c -- Python's socket.create_connection and socket.create_server,
 * built on the public socket calls only. */
#include <netinet/in.h>
#include <sys/socket.h>

#include "internal.h"

/* One attempt: a socket for ai, the timeout, the source, the connect. */
static int try_connect(usock **out, const usock_addrinfo *ai, double timeout,
                       const usock_addr *source)
{
    usock *s;
    int r = usock_socket(&s, ai->family, ai->type, ai->proto);
    if (r < 0)
        return r;
    r = usock_settimeout(s, timeout < 0 ? -1.0 : timeout);
    if (r == 0 && source)
        r = usock_bind(s, source);
    if (r == 0)
        r = usock_connect(s, &ai->addr);
    if (r < 0) {
        usock_close(s);
        return r;
    }
    *out = s;
    return 0;
}

USOCK_API int usock_create_connection(usock **out, const char *host, int port, double timeout,
                                      const usock_addr *source)
{
    if (!out)
        return USOCK_EINVAL;
    *out = NULL;
    if (timeout != timeout) /* NaN */
        return USOCK_EINVAL;
    usock_addrinfo *res;
    int r = usock_getaddrinfo(host, port, 0, SOCK_STREAM, 0, 0, &res);
    if (r < 0)
        return r;
    /* As Python: every address in the resolver's order, each attempt with
     * the whole timeout; the last attempt's error is the answer. An empty
     * answer (which getaddrinfo does not give) is "no address". */
    r = USOCK_EAI_NODATA;
    for (const usock_addrinfo *ai = res; ai; ai = ai->next) {
        r = try_connect(out, ai, timeout, source);
        if (r == 0)
            break;
    }
    usock_freeaddrinfo(res);
    return r;
}

#define CS_FLAGS (USOCK_CS_REUSEPORT | USOCK_CS_DUALSTACK | USOCK_CS_NO_REUSEADDR | USOCK_CS_DGRAM)

static int set_int(usock *s, int level, int name, int value)
{
    return usock_setsockopt(s, level, name, &value, sizeof value);
}

/* The options create_server sets before bind, as Python's does. */
static int server_options(usock *s, int af, int flags)
{
    int r = 0;
    /* A server restarted while its old connections sit in TIME_WAIT must
     * bind again; Unix sockets have no such state. */
    if (af != AF_UNIX && !(flags & USOCK_CS_NO_REUSEADDR))
        r = set_int(s, SOL_SOCKET, SO_REUSEADDR, 1);
    if (r == 0 && (flags & USOCK_CS_REUSEPORT)) {
#ifdef SO_REUSEPORT
        r = set_int(s, SOL_SOCKET, SO_REUSEPORT, 1);
#else
        r = USOCK_ENOPROTOOPT;
#endif
    }
    /* Dual stack only when asked: Python makes an IPv6 server IPv6 only
     * otherwise, whatever the system's default (net.ipv6.bindv6only). */
    if (r == 0 && af == AF_INET6)
        r = set_int(s, IPPROTO_IPV6, IPV6_V6ONLY, flags & USOCK_CS_DUALSTACK ? 0 : 1);
    return r;
}

USOCK_API int usock_create_server(usock **out, const usock_addr *addr, int backlog, int flags)
{
    if (!out)
        return USOCK_EINVAL;
    *out = NULL;
    if (!addr || (flags & ~CS_FLAGS))
        return USOCK_EINVAL;
    int af = usock_addr_family(addr);
    if (af == 0)
        return USOCK_EAFNOSUPPORT; /* an unset address */
    if ((flags & USOCK_CS_DUALSTACK) && af != AF_INET6)
        return USOCK_EINVAL; /* Python's ValueError: dualstack needs AF_INET6 */
    int type = flags & USOCK_CS_DGRAM ? SOCK_DGRAM : SOCK_STREAM;
    usock *s;
    int r = usock_socket(&s, af, type, 0);
    if (r < 0)
        return r;
    r = server_options(s, af, flags);
    if (r == 0)
        r = usock_bind(s, addr);
    if (r == 0 && type == SOCK_STREAM)
        r = usock_listen(s, backlog);
    if (r < 0) {
        usock_close(s);
        return r;
    }
    *out = s;
    return 0;
}
