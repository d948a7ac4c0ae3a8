/* helpers.c -- Python's socket.create_connection (with Happy Eyeballs)
 * and socket.create_server, built on the public socket and poll calls. */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

/* ---- create_connection: Happy Eyeballs (RFC 8305) ------------------------ */

#define MAX_ATTEMPTS 64

struct attempt {
    usock *s;
    const usock_addrinfo *ai;
    int64_t deadline; /* -1: none */
};

struct race {
    usock_poll *poll;
    struct attempt a[MAX_ATTEMPTS];
    int n;          /* attempts under way */
    int last_err;   /* the last attempt's failure */
    const usock_addrinfo *last_ai;
};

/* The addresses IPv6 and IPv4 in turn, the first one's family first, each
 * family in the resolver's order (RFC 8305 4). */
static int interleave(const usock_addrinfo *res, const usock_addrinfo **out)
{
    const usock_addrinfo *fam[2][MAX_ATTEMPTS];
    int n[2] = {0, 0}, total = 0;
    int first = res ? res->family : 0;
    for (const usock_addrinfo *ai = res; ai; ai = ai->next) {
        int k = ai->family != first;
        if (n[k] < MAX_ATTEMPTS)
            fam[k][n[k]++] = ai;
    }
    for (int i = 0; total < MAX_ATTEMPTS && (i < n[0] || i < n[1]); i++)
        for (int k = 0; k < 2; k++)
            if (i < n[k] && total < MAX_ATTEMPTS)
                out[total++] = fam[k][i];
    return total;
}

static void drop(struct race *r, int i, int err)
{
    r->last_err = err;
    r->last_ai = r->a[i].ai;
    usock_close(r->a[i].s); /* leaves the poll too */
    r->a[i] = r->a[--r->n];
}

/* Starts an attempt: 1 when it connected at once (*won), 0 when it is
 * under way or failed already (r->last_err). */
static int start(struct race *r, const usock_addrinfo *ai, const usock_connect_opts *o,
                 usock **won)
{
    usock *s;
    int rc = usock_socket(&s, ai->family, ai->type, ai->proto);
    if (rc == 0)
        rc = usock_settimeout(s, 0);
    if (rc == 0 && o->source)
        rc = usock_bind(s, o->source);
    if (rc == 0)
        rc = usock_connect(s, &ai->addr);
    if (rc == 0) {
        *won = s;
        return 1;
    }
    if (rc == USOCK_EINPROGRESS && usock_poll_register(r->poll, s, USOCK_POLLOUT, NULL) == 0) {
        int64_t now = usock__now_ms();
        r->a[r->n++] = (struct attempt){s, ai, o->timeout < 0 ? -1 : now + (int64_t)(o->timeout * 1000 + 0.5)};
        return 0;
    }
    r->last_err = rc == USOCK_EINPROGRESS ? USOCK_ENOMEM : rc;
    r->last_ai = ai;
    usock_close(s);
    return 0;
}

static int64_t min_deadline(int64_t a, int64_t b)
{
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* Waits for the attempts until the next start, a deadline or an outcome:
 * returns the winner or NULL. */
static usock *wait_some(struct race *r, int64_t until)
{
    int64_t now = usock__now_ms();
    int64_t t = until;
    for (int i = 0; i < r->n; i++)
        t = min_deadline(t, r->a[i].deadline);
    usock_event ev[MAX_ATTEMPTS];
    int k = usock_poll_wait(r->poll, t < 0 ? -1 : t > now ? (int)(t - now) : 0, ev, MAX_ATTEMPTS);
    for (int e = 0; e < k; e++)
        for (int i = 0; i < r->n; i++) {
            if (r->a[i].s != ev[e].sock)
                continue;
            int rc = usock_connect(r->a[i].s, &r->a[i].ai->addr); /* how it ended */
            if (rc == 0) {
                usock *s = r->a[i].s;
                usock_poll_unregister(r->poll, s);
                r->a[i] = r->a[--r->n];
                return s;
            }
            drop(r, i, rc);
            break;
        }
    now = usock__now_ms();
    for (int i = r->n - 1; i >= 0; i--)
        if (r->a[i].deadline >= 0 && now >= r->a[i].deadline)
            drop(r, i, USOCK_ETIMEDOUT);
    return NULL;
}

/* A single address needs no race: one connect, bounded by the attempt's
 * timeout or the deadline, whichever is sooner. */
static int connect_one(const usock_addrinfo *ai, usock_connect_opts *o, int64_t deadline,
                       usock **out)
{
    double t = o->timeout;
    if (deadline >= 0) {
        double left = (double)(deadline - usock__now_ms()) / 1000.0;
        left = left < 0.001 ? 0.001 : left;
        t = t < 0 || left < t ? left : t;
    }
    usock *s;
    int rc = usock_socket(&s, ai->family, ai->type, ai->proto);
    if (rc < 0)
        return rc;
    rc = usock_settimeout(s, t);
    if (rc == 0 && o->source)
        rc = usock_bind(s, o->source);
    if (rc == 0)
        rc = usock_connect(s, &ai->addr);
    if (rc < 0) {
        usock_close(s);
        if (usock_addr_format(&ai->addr, o->where, sizeof o->where) < 0)
            o->where[0] = '\0';
        return rc;
    }
    *out = s;
    return 0;
}

/* The race over the addresses; the winner in *out. */
static int race(const usock_addrinfo *res, usock_connect_opts *o, int64_t deadline, usock **out)
{
    if (res && !res->next)
        return connect_one(res, o, deadline, out);
    const usock_addrinfo *order[MAX_ATTEMPTS];
    int total = interleave(res, order), next = 0;
    struct race r = {.last_err = USOCK_EAI_NODATA};
    int rc = usock_poll_new(&r.poll);
    if (rc < 0)
        return rc;
    int64_t next_start = 0;
    int64_t delay = (int64_t)(o->attempt_delay * 1000 + 0.5);
    while (!*out && (next < total || r.n > 0)) {
        int64_t now = usock__now_ms();
        if (deadline >= 0 && now >= deadline) {
            r.last_err = USOCK_ETIMEDOUT;
            break;
        }
        if (next < total && (r.n == 0 || now >= next_start)) {
            int had = r.n;
            start(&r, order[next++], o, out);
            next_start = r.n > had ? now + delay : 0; /* failed at once: the next now */
            continue;
        }
        int had = r.n;
        *out = wait_some(&r, min_deadline(next < total ? next_start : -1, deadline));
        if (r.n < had && !*out)
            next_start = 0; /* one failed: the next starts at once (RFC 8305 5) */
    }
    while (r.n > 0)
        drop(&r, r.n - 1, r.last_err);
    usock_poll_free(r.poll);
    if (!*out && r.last_ai && usock_addr_format(&r.last_ai->addr, o->where, sizeof o->where) < 0)
        o->where[0] = '\0';
    return *out ? 0 : r.last_err;
}

USOCK_API void usock_connect_opts_init(usock_connect_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->timeout = -1;
    o->deadline = -1;
    o->attempt_delay = 0.25;
}

USOCK_API int usock_create_connection_opts(usock **out, const char *host, int port,
                                           usock_connect_opts *o)
{
    if (!out)
        return USOCK_EINVAL;
    *out = NULL;
    if (!o)
        return USOCK_EINVAL;
    o->where[0] = '\0';
    if (o->timeout != o->timeout || o->deadline != o->deadline || !(o->attempt_delay >= 0))
        return USOCK_EINVAL;
    int64_t deadline = o->deadline < 0 ? -1 : usock__now_ms() + (int64_t)(o->deadline * 1000 + 0.5);
    usock_addrinfo *res;
    int r = o->resolver ? usock_resolver_getaddrinfo(o->resolver, host, port, 0, SOCK_STREAM, 0,
                                                     o->deadline, &res)
                        : usock_getaddrinfo(host, port, 0, SOCK_STREAM, 0, 0, &res);
    if (r < 0) {
        snprintf(o->where, sizeof o->where, "resolve");
        return r;
    }
    r = race(res, o, deadline, out);
    usock_freeaddrinfo(res);
    if (r == 0 && (r = usock_settimeout(*out, o->timeout < 0 ? -1.0 : o->timeout)) < 0) {
        usock_close(*out);
        *out = NULL;
    }
    return r;
}

USOCK_API int usock_create_connection(usock **out, const char *host, int port, double timeout,
                                      const usock_addr *source)
{
    usock_connect_opts o;
    usock_connect_opts_init(&o);
    o.timeout = timeout;
    o.source = source;
    return usock_create_connection_opts(out, host, port, &o);
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
