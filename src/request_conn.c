/* request_conn.c -- the HTTP client's connection path: a stream interface
 * over a TCP socket (TLS slots in as another set of operations), connect
 * with a detail string per step, and the opener's keep-alive pool. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request_priv.h"

/* ---- plain TCP ------------------------------------------------------------- */

static ssize_t tcp_read(void *s, void *buf, size_t n)
{
    return usock_recv(s, buf, n);
}

static int tcp_write(void *s, const void *buf, size_t n)
{
    return usock_sendall(s, buf, n);
}

static int tcp_settimeout(void *s, double seconds)
{
    return usock_settimeout(s, seconds < 0 ? -1.0 : seconds);
}

/* An idle connection is usable while the server has neither closed it nor
 * sent anything: a byte or an EOF waiting means it is done with us. */
static int tcp_usable(void *s)
{
    char c;
    if (usock_pending(s) > 0)
        return 0;
    ssize_t r = usock_recv_flags(s, &c, 1, USOCK_MSG_PEEK | USOCK_MSG_DONTWAIT);
    return r == USOCK_EAGAIN;
}

static void tcp_close(void *s)
{
    usock_close(s);
}

static const struct usock__stream_ops tcp_ops = {
    tcp_read, tcp_write, tcp_settimeout, tcp_usable, tcp_close,
};

void usock__conn_close(struct usock__conn *c)
{
    if (!c)
        return;
    c->ops->close(c->s);
    free(c);
}

/* ---- detail strings -------------------------------------------------------- */

void usock__err_set(usock_urlerror *e, int code, int status, const char *fmt, ...)
{
    if (!e)
        return;
    e->code = code;
    e->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof e->detail, fmt, ap);
    va_end(ap);
}

/* ---- connect --------------------------------------------------------------- */

double usock__step_timeout(double timeout, int64_t deadline)
{
    if (deadline < 0)
        return timeout;
    double left = (double)(deadline - usock__now_ms()) / 1000.0;
    if (left < 0.001)
        left = 0.001;
    return timeout < 0 || left < timeout ? left : timeout;
}

int usock__expired(int64_t deadline)
{
    return deadline >= 0 && usock__now_ms() >= deadline;
}

/* The deadline of connecting (resolution, connect, a proxy's tunnel and
 * the TLS handshake, as curl's --connect-timeout): the open's, or
 * connect_timeout's if sooner; *which names it for a message. */
static int64_t connect_deadline(const struct usock__extra *ex, const char **which)
{
    *which = " (max time)";
    if (ex->connect_timeout <= 0)
        return ex->deadline;
    int64_t d = usock__now_ms() + (int64_t)(ex->connect_timeout * 1000.0 + 0.5);
    if (ex->deadline >= 0 && ex->deadline <= d)
        return ex->deadline;
    *which = " (connect timeout)";
    return d;
}

/* Happy Eyeballs to where the route says (the proxy or the origin),
 * within the deadline. */
static int dial(const char *host, int port, const struct usock__extra *ex, double timeout,
                int64_t deadline, const char *which, usock **s, usock_urlerror *err)
{
    usock_connect_opts o;
    usock_connect_opts_init(&o);
    o.timeout = usock__step_timeout(timeout, deadline);
    o.deadline = deadline < 0 ? -1 : usock__step_timeout(-1, deadline);
    o.resolver = ex->resolver;
    int r = usock_create_connection_opts(s, host, port, &o);
    if (r < 0) {
        int resolving = strcmp(o.where, "resolve") == 0;
        const char *why = r == USOCK_ETIMEDOUT && usock__expired(deadline) ? which : "";
        usock__err_set(err, r, 0, "%s %s: %s%s", resolving ? "resolve" : "connect",
                       resolving || !o.where[0] ? host : o.where, usock_strerror(r), why);
        return r;
    }
    /* The head and a body may go in two writes: without this, Nagle holds
     * the second until the server's delayed ACK. */
    int one = 1;
    usock_setsockopt(*s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return usock_settimeout(*s, usock__step_timeout(timeout, deadline));
}

/* The handshake on a connected socket; the error's detail says what
 * the certificate check or OpenSSL said. */
static int start_tls(const struct usock__route *rt, usock_tls_ctx *tls, usock *s,
                     const char *which, usock_urlerror *err)
{
    int r = tls ? usock_tls_wrap(tls, s, rt->host, 0) : USOCK_ETLS_UNAVAILABLE;
    if (r < 0) {
        char late[64];
        snprintf(late, sizeof late, "in the handshake%s", which);
        const char *d = r == USOCK_ETIMEDOUT ? late : usock_tls_detail(s);
        usock__err_set(err, r, 0, "TLS with %s:%d: %s%s%s", rt->host, rt->port, usock_strerror(r),
                       d[0] ? ": " : "", d);
    }
    return r;
}

/* CONNECT host:port through the proxy s is connected to (RFC 9110
 * 9.3.6): a 2xx answer makes s a tunnel to the origin. The answer's head
 * is read a byte at a time, so that nothing of the tunnel is taken. */
static int tunnel(const struct usock__route *rt, usock *s, usock_urlerror *err)
{
    char buf[4096];
    char hostport[300];
    snprintf(hostport, sizeof hostport, strchr(rt->host, ':') ? "[%s]:%d" : "%s:%d", rt->host,
             rt->port);
    usock_http_writer w;
    usock_http_writer_init(&w, buf, sizeof buf);
    usock_http_write_request_line(&w, "CONNECT", hostport, 11);
    usock_http_write_header(&w, "Host", hostport);
    if (rt->proxy->auth)
        usock_http_write_header(&w, "Proxy-Authorization", rt->proxy->auth);
    usock_http_write_end(&w);
    ssize_t n = usock_http_writer_done(&w);
    int r = n < 0 ? (int)n : usock_sendall(s, buf, (size_t)n);
    usock_http_parser p;
    usock_http_parser_init(&p, USOCK_HTTP_RESPONSE);
    p.lenient = 1;
    p.head_request = 1; /* a CONNECT's answer has no body to read here */
    usock_http_msg m;
    usock_http_header h[32];
    size_t len = 0;
    while (r == 0 && len < sizeof buf) {
        ssize_t k = usock_recv(s, buf + len, 1);
        r = k == 0 ? USOCK_ECONNRESET : k < 0 ? (int)k : 0;
        len += k > 0 ? 1 : 0;
        int done = r == 0 ? usock_http_parse_head(&p, buf, len, &m, h, 32) : 0;
        if (done < 0)
            r = done;
        if (done > 0)
            break;
    }
    if (r == 0 && len == sizeof buf)
        r = USOCK_EHTTP_HEAD_TOO_LARGE;
    if (r == 0 && (m.status < 200 || m.status > 299)) {
        usock__err_set(err, USOCK_EPROXY, m.status, "proxy %s:%d: CONNECT %s: %d %.*s",
                       rt->proxy->host, rt->proxy->port, hostport, m.status, (int)m.reason.n,
                       m.reason.p);
        return USOCK_EPROXY;
    }
    if (r < 0)
        usock__err_set(err, r, 0, "proxy %s:%d: CONNECT %s: %s", rt->proxy->host,
                       rt->proxy->port, hostport, usock_strerror(r));
    return r;
}

int usock__connect(const struct usock__route *rt, const struct usock__extra *ex, double timeout,
                   struct usock__conn **out, usock_urlerror *err)
{
    *out = NULL;
    usock *s;
    const char *host = rt->proxy ? rt->proxy->host : rt->host, *which;
    int64_t deadline = connect_deadline(ex, &which);
    int r = dial(host, rt->proxy ? rt->proxy->port : rt->port, ex, timeout, deadline, which, &s,
                 err);
    if (r < 0)
        return r;
    int https = strcmp(rt->scheme, "https") == 0;
    if ((https && rt->proxy && (r = tunnel(rt, s, err)) < 0) ||
        (https && (r = start_tls(rt, ex->tls, s, which, err)) < 0) ||
        (r = usock_settimeout(s, usock__step_timeout(timeout, ex->deadline))) < 0) {
        usock_close(s);
        return r;
    }
    struct usock__conn *c = calloc(1, sizeof *c);
    if (!c) {
        usock_close(s);
        usock__err_set(err, USOCK_ENOMEM, 0, "connect %s: %s", rt->host,
                       usock_strerror(USOCK_ENOMEM));
        return USOCK_ENOMEM;
    }
    c->ops = &tcp_ops;
    c->s = s;
    snprintf(c->key, sizeof c->key, "%s", rt->key);
    *out = c;
    return 0;
}

/* ---- the pool ---------------------------------------------------------------
 * One mutex; connections are checked and closed outside it, so that a slow
 * close never holds up another thread's request. */

struct usock__pool *usock__pool_new(int max_idle, double idle_timeout)
{
    struct usock__pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    p->max_idle = max_idle < 0 ? 0 : max_idle;
    p->idle_ms = idle_timeout < 0 ? 0 : (long long)(idle_timeout * 1000.0);
    atomic_init(&p->refs, 1);
    return p;
}

void usock__pool_ref(struct usock__pool *p)
{
    atomic_fetch_add(&p->refs, 1);
}

static void close_list(struct usock__conn *c)
{
    while (c) {
        struct usock__conn *next = c->next;
        usock__conn_close(c);
        c = next;
    }
}

/* Moves the expired connections onto *dead. Under the mutex. */
static void take_expired(struct usock__pool *p, long long now, struct usock__conn **dead)
{
    for (struct usock__conn **pp = &p->idle; *pp;) {
        struct usock__conn *c = *pp;
        if (now - c->idle_since >= p->idle_ms) {
            *pp = c->next;
            c->next = *dead;
            *dead = c;
        } else {
            pp = &c->next;
        }
    }
}

/* The most recently used idle connection for key, taken out. Under the mutex. */
static struct usock__conn *take_key(struct usock__pool *p, const char *key)
{
    for (struct usock__conn **pp = &p->idle; *pp; pp = &(*pp)->next) {
        struct usock__conn *c = *pp;
        if (strcmp(c->key, key) == 0) {
            *pp = c->next;
            c->next = NULL;
            return c;
        }
    }
    return NULL;
}

struct usock__conn *usock__pool_get(struct usock__pool *p, const struct usock__route *rt,
                                    int check)
{
    if (!rt->key[0])
        return NULL;
    for (;;) {
        struct usock__conn *dead = NULL;
        pthread_mutex_lock(&p->mu);
        take_expired(p, usock__now_ms(), &dead);
        struct usock__conn *c = take_key(p, rt->key);
        pthread_mutex_unlock(&p->mu);
        close_list(dead);
        if (!c)
            return NULL;
        if (!check || c->ops->usable(c->s))
            return c;
        usock__conn_close(c); /* the server closed it while idle: the next one */
    }
}

void usock__pool_put(struct usock__pool *p, struct usock__conn *c)
{
    if (p->max_idle == 0 || p->idle_ms == 0 || !c->key[0]) {
        usock__conn_close(c);
        return;
    }
    struct usock__conn *dead = NULL;
    long long now = usock__now_ms();
    c->idle_since = now;
    pthread_mutex_lock(&p->mu);
    if (p->closed) {
        pthread_mutex_unlock(&p->mu);
        usock__conn_close(c);
        return;
    }
    take_expired(p, now, &dead);
    c->next = p->idle;
    p->idle = c;
    /* Over the cap for this key: the least recently used go. */
    int same = 0;
    for (struct usock__conn **pp = &p->idle; *pp;) {
        struct usock__conn *x = *pp;
        if (strcmp(x->key, c->key) == 0 && ++same > p->max_idle) {
            *pp = x->next;
            x->next = dead;
            dead = x;
        } else {
            pp = &x->next;
        }
    }
    pthread_mutex_unlock(&p->mu);
    close_list(dead);
}

void usock__pool_clear(struct usock__pool *p)
{
    pthread_mutex_lock(&p->mu);
    struct usock__conn *all = p->idle;
    p->idle = NULL;
    pthread_mutex_unlock(&p->mu);
    close_list(all);
}

void usock__pool_unref(struct usock__pool *p)
{
    if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    usock__pool_clear(p);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void usock__pool_shut(struct usock__pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->closed = 1;
    pthread_mutex_unlock(&p->mu);
    usock__pool_clear(p);
    usock__pool_unref(p);
}
