/* resolve.c -- getaddrinfo through c-ares, bounded by a timeout, with
 * DNS servers of one's choice (socket.h, usock_resolver). Each lookup runs
 * on a channel of its own, copied from the resolver's (ares_dup: the
 * configuration is read once), so that threads never share one; it waits
 * on the channel's sockets itself until the answer or the deadline. */
#include <ares.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <netinet/in.h>

#include "internal.h"
#include "platform/platform.h"

struct usock_resolver {
    ares_channel channel; /* the template: read by ares_dup under mu */
    pthread_mutex_t mu;
};

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_status = ARES_ENOTINITIALIZED;

static void library_init(void)
{
    library_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* "ADDR[:PORT],..." as usock's addresses read them ("127.0.0.1",
 * "127.0.0.1:5353", "::1", "[::1]:53"): c-ares takes some lists it
 * should not ("1.2.3.4.5", a port past 65535), so each is checked here. */
static int servers_ok(const char *list)
{
    if (!list[0])
        return 0;
    for (const char *p = list;;) {
        size_t n = strcspn(p, ",");
        char one[USOCK_ADDRSTRLEN];
        usock_addr a;
        if (n == 0 || n >= sizeof one)
            return 0;
        memcpy(one, p, n);
        one[n] = '\0';
        if (usock_addr_from_ip(&a, one, 53) < 0 &&
            (usock_addr_parse(&a, one) < 0 || usock_addr_family(&a) == AF_UNIX))
            return 0;
        if (p[n] == '\0')
            return 1;
        p += n + 1;
    }
}

USOCK_API int usock_resolver_new(usock_resolver **out, const char *servers)
{
    if (!out)
        return USOCK_EINVAL;
    *out = NULL;
    if (servers && !servers_ok(servers))
        return USOCK_EINVAL;
    pthread_once(&library_once, library_init);
    if (library_status != ARES_SUCCESS)
        return USOCK_ENOMEM;
    usock_resolver *r = calloc(1, sizeof *r);
    if (!r)
        return USOCK_ENOMEM;
    /* 5 s a try, 2 tries a server, as glibc's resolver (c-ares' own add up
     * to 75 s), unless RES_OPTIONS says otherwise */
    struct ares_options opt = {.timeout = 5000, .tries = 2};
    int mask = getenv("RES_OPTIONS") ? 0 : ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    if (ares_init_options(&r->channel, &opt, mask) != ARES_SUCCESS) {
        free(r);
        return USOCK_ENOMEM;
    }
    if (servers && ares_set_servers_ports_csv(r->channel, servers) != ARES_SUCCESS) {
        ares_destroy(r->channel);
        free(r);
        return USOCK_EINVAL;
    }
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    return 0;
}

USOCK_API void usock_resolver_free(usock_resolver *r)
{
    if (!r)
        return;
    ares_destroy(r->channel);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* One lookup's result, filled by the callback. */
struct lookup {
    int done, status;
    int type, proto;
    int canon; /* AI_CANONNAME: the first entry carries the name */
    struct gai_list list;
};

static int status_code(int status)
{
    switch (status) {
    case ARES_SUCCESS: return 0;
    case ARES_ENODATA: return USOCK_EAI_NODATA;
    case ARES_ENOTFOUND:
    case ARES_EBADNAME:
    case ARES_ENONAME: return USOCK_EAI_NONAME;
    case ARES_EBADFAMILY: return USOCK_EAI_FAMILY;
    case ARES_EBADFLAGS: return USOCK_EAI_BADFLAGS;
    case ARES_ENOMEM: return USOCK_ENOMEM;
    default: return USOCK_EAI_AGAIN; /* no server answered, or none well */
    }
}

static void on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
    (void)timeouts;
    struct lookup *l = arg;
    l->done = 1;
    l->status = status_code(status);
    const char *canon = !l->canon                           ? ""
                        : ai && ai->cnames && ai->cnames->name ? ai->cnames->name
                        : ai && ai->name                     ? ai->name
                                                             : "";
    for (struct ares_addrinfo_node *n = ai ? ai->nodes : NULL; n && l->status == 0;
         n = n->ai_next) {
        usock_addr a = {.len = (socklen_t)n->ai_addrlen};
        if (n->ai_addrlen > sizeof a.ss)
            continue;
        memcpy(&a.ss, n->ai_addr, n->ai_addrlen);
        l->status = usock__addrinfo_add(&l->list, n->ai_family, l->type, l->proto, canon, &a);
        canon = ""; /* as getaddrinfo: the first entry carries it */
    }
    ares_freeaddrinfo(ai);
}

/* Drives the channel until the lookup is answered or the deadline (-1:
 * none) passes. */
static int run(ares_channel ch, struct lookup *l, int64_t deadline)
{
    while (!l->done) {
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        /* the bits read as unsigned: c-ares' own macros shift 1 into the
         * sign bit of an int for the last socket */
        unsigned bits = (unsigned)ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
        int fds[ARES_GETSOCK_MAXNUM], ev[ARES_GETSOCK_MAXNUM], rev[ARES_GETSOCK_MAXNUM], n = 0;
        for (int i = 0; i < ARES_GETSOCK_MAXNUM && n < 16; i++) {
            int e = ((bits >> i) & 1u ? USOCK_POLLIN : 0) |
                    ((bits >> (i + ARES_GETSOCK_MAXNUM)) & 1u ? USOCK_POLLOUT : 0);
            if (e) {
                fds[n] = socks[i];
                ev[n++] = e;
            }
        }
        struct timeval tv, *t = ares_timeout(ch, NULL, &tv);
        int64_t ms = t ? (int64_t)t->tv_sec * 1000 + t->tv_usec / 1000 + 1 : 1000;
        if (deadline >= 0) {
            int64_t left = deadline - usock__sys_now_ms();
            if (left <= 0) {
                ares_cancel(ch); /* the callback runs: done */
                return USOCK_ETIMEDOUT;
            }
            ms = left < ms ? left : ms;
        }
        int r = usock__sys_wait_many(fds, ev, rev, n, (int)ms);
        if (r < 0 && r != USOCK_EINTR)
            return r;
        if (r <= 0) {
            ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts, retries */
            continue;
        }
        for (int i = 0; i < n; i++)
            if (rev[i])
                ares_process_fd(ch, rev[i] & (USOCK_POLLIN | USOCK_POLLHUP | USOCK_POLLERR)
                                        ? fds[i] : ARES_SOCKET_BAD,
                                rev[i] & USOCK_POLLOUT ? fds[i] : ARES_SOCKET_BAD);
    }
    return 0;
}

/* RFC 6761: localhost is the loopback, wherever /etc/hosts forgot it. */
static int is_localhost(const char *host)
{
    size_t n = strlen(host);
    if (n && host[n - 1] == '.')
        n--;
    return (n == 9 && strncasecmp(host, "localhost", 9) == 0) ||
           (n > 10 && strncasecmp(host + n - 10, ".localhost", 10) == 0);
}

USOCK_API int usock_resolver_getaddrinfo(usock_resolver *r, const char *host, int port, int af,
                                         int type, int flags, double timeout,
                                         usock_addrinfo **res)
{
    if (!res)
        return USOCK_EINVAL;
    *res = NULL;
    if (!r || !host || !host[0] || port < 0 || port > 65535 || timeout != timeout ||
        (flags & ~(AI_CANONNAME | AI_NUMERICHOST)))
        return USOCK_EINVAL;
    if (is_localhost(host) && !(flags & AI_NUMERICHOST))
        return usock_getaddrinfo("localhost", port, af, type ? type : SOCK_STREAM, 0,
                                 flags & AI_CANONNAME, res);
    /* An address needs no server (nor may a name with AI_NUMERICHOST
     * ask one): getaddrinfo answers it, its errors as usock_getaddrinfo's. */
    unsigned char bin[16];
    if ((flags & AI_NUMERICHOST) || usock_inet_pton(AF_INET, host, bin) == 0 ||
        usock_inet_pton(AF_INET6, host, bin) == 0)
        return usock_getaddrinfo(host, port, af, type, 0, flags | AI_NUMERICHOST, res);
    int64_t deadline = timeout < 0 ? -1 : usock__sys_now_ms() + (int64_t)(timeout * 1000.0 + 0.5);
    ares_channel ch;
    pthread_mutex_lock(&r->mu);
    int st = ares_dup(&ch, r->channel);
    pthread_mutex_unlock(&r->mu);
    if (st != ARES_SUCCESS)
        return USOCK_ENOMEM;
    struct lookup l = {.type = type ? type : SOCK_STREAM, .canon = (flags & AI_CANONNAME) != 0};
    l.proto = l.type == SOCK_DGRAM ? IPPROTO_UDP : l.type == SOCK_STREAM ? IPPROTO_TCP : 0;
    l.list.tail = &l.list.head;
    struct ares_addrinfo_hints hints = {
        .ai_flags = (flags & AI_CANONNAME ? ARES_AI_CANONNAME : 0) |
                    ARES_AI_NUMERICSERV,
        .ai_family = af,
        .ai_socktype = type};
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    /* c-ares refuses service "0": no service leaves the port 0 */
    ares_getaddrinfo(ch, host, port ? service : NULL, &hints, on_answer, &l);
    int rc = run(ch, &l, deadline);
    ares_destroy(ch);
    if (rc == 0)
        rc = l.status;
    if (rc == 0 && !l.list.head)
        rc = USOCK_EAI_NODATA;
    if (rc < 0) {
        usock_freeaddrinfo(l.list.head);
        return rc;
    }
    *res = l.list.head;
    return 0;
}
