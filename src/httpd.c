/* httpd.c -- the event-driven HTTP/1.1 server (httpd.h).
 *
 * N workers, each a thread with its own SO_REUSEPORT listener, waker and
 * poll. A connection lives in one worker. Reading: bytes go into the
 * connection's input buffer (taken when the first byte of a request comes,
 * given back when the connection goes idle), usock_http_parse_head and
 * parse_body cut requests out of it, the handler runs at once, and its
 * answer is appended to the output buffer; all complete requests of one
 * read are answered before one write of the gathered output (pipelining).
 * A file answer larger than SMALL_FILE, or a stream, becomes the
 * connection's tail: requests after it wait until it is sent.
 *
 * OS calls beyond the socket layer: open/fstat/pread for files answered
 * with usock_httpd_respond_fd, pthreads, signal masks, nanosleep. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#endif

#include "usock.h"
#include "usock/httpd.h"

#include "shared.h"

#define MAX_HEADERS 100
#define IN_START 4096
#define SPARES 64 /* kept by each worker, of each kind */
#define IN_MAX (64 * 1024 + 16 * 1024) /* the parser's max_head and a read more */
#define OUT_HIGH (256 * 1024)           /* stop taking requests while this much waits */
#define SMALL_FILE (32 * 1024)          /* files this small are answered from memory */
#define STREAM_PIECE 16384
#define EXTRA_HDRS 4096
#define MAX_EVENTS 64
#define BACKOFF_MIN_MS 10
#define BACKOFF_MAX_MS 500
#define SWEEP_MS 100 /* timeouts are looked at this often (and at every wake) */

/* C_LINGER: answered and shut down for writing; what the peer still sends
 * is read and dropped for a while, so that the close does not reset the
 * connection (and destroy the answer) while its bytes are unread. */
enum cstate { C_TLS, C_IDLE, C_HEAD, C_BODY, C_CLOSING, C_LINGER }; /* C_TLS: handshaking */
#define LINGER_MS 2000

struct route {
    char *method; /* NULL: any */
    char *prefix;
    size_t plen;
    usock_httpd_handler fn;
    void *udata;
    void (*free_udata)(void *); /* static routes own theirs */
};

struct buf {
    char *p;
    size_t len, off, cap;
};

/* What reading a request needs, given back when the connection idles. */
struct request {
    usock_http_parser parser;
    usock_http_msg msg;
    usock_http_header headers[MAX_HEADERS];
};

struct conn {
    struct worker *w;
    struct conn *lprev, *lnext; /* the worker's list */
    usock *sock;
    union { /* the peer's address: httpd listens on IP only; 28 bytes, not 136 */
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } peer;
    socklen_t peer_len;
    int state;
    int events;          /* registered poll events */
    long long deadline;  /* monotonic ms */
    char *in;
    size_t in_len, in_cap, pos; /* pos: where the current request starts */
    size_t head_len;     /* the current request's head, once parsed */
    struct request *rq; /* while a request is read: taken with the input buffer */
    struct buf body;
    struct buf out;
    int close_after;     /* close once out (and the tail) is sent */
    int peer_done;       /* the last request said the client sends no more */
    int nodelay;         /* TCP_NODELAY set */
    int sent_continue;
    /* the tail: a file or a stream after out */
    int fd;
    off_t foff;
    uint64_t fleft;
    usock_httpd_next next;
    void (*done)(void *ctx);
    void *ctx;
    int chunked_tail;
};

struct usock_httpd_res {
    struct conn *c;
    const usock_httpd_req *req;
    int responded, head_only;
    int status;
    uint64_t bytes;
    int err;
    size_t elen;
    char extra[EXTRA_HDRS]; /* last: the memsets stop before it */
};

struct rps_slot {
    _Atomic long long sec;
    _Atomic uint32_t n;
};

struct worker {
    usock_httpd *h;
    int index;
    pthread_t thread;
    int started;
    usock *listener;
    usock *waker;
    usock_poll *poll;
    int listening;
    int backoff_ms;
    long long backoff_end;
    struct conn *conns; /* list */
    int nconns, max_conns;
    char common[128]; /* the Server and Date headers */
    time_t date_sec;
    /* read buffers (IN_START bytes) and request structs given back by
     * connections that went idle, for the next requests: malloc and free
     * twice a request cost more than the parsing */
    void *spare_in[SPARES], *spare_rq[SPARES];
    int nspare_in, nspare_rq;
    /* the clocks, read once a turn of the loop, not once a request */
    long long now; /* monotonic ms */
    time_t wall;
    struct rps_slot rps[60];
    _Atomic uint64_t in_held; /* bytes of read buffers held (written by this worker only) */
};

struct usock_httpd {
    usock_httpd_opts o;
    usock_addr addr;
    struct route *routes;
    int nroutes;
    struct worker *workers;
    int nworkers;
    atomic_int stopping;
    int started, joined;
    long long t0;
    pthread_mutex_t log_mu;
    char server_name[64];
    _Atomic uint64_t conns_open, conns_total, requests, bytes_in, bytes_out;
};

/* httpd_static.c */
int usock__httpd_static(const usock_httpd_req *req, usock_httpd_res *res);
int usock__static_new(const char *root, void **out);
void usock__static_free(void *files);
/* httpd_status.c */
int usock__httpd_status(const usock_httpd_req *req, usock_httpd_res *res);
int usock__httpd_status_json(const usock_httpd_req *req, usock_httpd_res *res);

/* ---- small helpers ------------------------------------------------------- */

static long long secs_ms(double s)
{
    return s <= 0 ? 0 : (long long)(s * 1000.0);
}

static int buf_reserve(struct buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return USOCK_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_add(struct buf *b, const void *data, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

static int buf_str(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static int str_eq(usock_http_str s, const char *z)
{
    size_t n = strlen(z);
    return s.n == n && memcmp(s.p, z, n) == 0;
}

static void http_date(char *out, size_t cap, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* The Date header's value, computed once a second per worker. */
/* "Server: ...\r\nDate: ...\r\n", made again once a second. */
static const char *worker_common(struct worker *w)
{
    time_t t = w->wall;
    if (t != w->date_sec) {
        char date[40];
        w->date_sec = t;
        http_date(date, sizeof date, t);
        snprintf(w->common, sizeof w->common, "Server: %s\r\nDate: %s\r\n", w->h->server_name,
                 date);
    }
    return w->common;
}

static char *put(char *p, const void *s, size_t n)
{
    if (n) /* memcpy from NULL is undefined even for 0 bytes */
        memcpy(p, s, n);
    return p + n;
}

static char *put_uint(char *p, unsigned long long v)
{
    char t[20];
    int k = 0;
    do
        t[k++] = (char)('0' + v % 10);
    while (v /= 10);
    while (k)
        *p++ = t[--k];
    return p;
}

static void count_request(struct worker *w)
{
    long long s = w->now / 1000;
    struct rps_slot *sl = &w->rps[s % 60];
    if (atomic_load_explicit(&sl->sec, memory_order_relaxed) != s) {
        atomic_store_explicit(&sl->n, 0, memory_order_relaxed);
        atomic_store_explicit(&sl->sec, s, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&sl->n, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->h->requests, 1, memory_order_relaxed);
}

/* ---- options, creation, routes -------------------------------------------- */

void usock_httpd_opts_init(usock_httpd_opts *o)
{
    memset(o, 0, sizeof *o);
    o->backlog = 1024;
    o->max_conns = 10000;
    o->keepalive_timeout = 5;
    o->header_timeout = 10;
    o->body_timeout = 30;
    o->send_timeout = 30;
    o->drain_timeout = 10;
    o->max_body = 16u << 20;
    o->status_page = 1;
}

/* Adds a route; on failure, frees udata with free_udata (when given). */
static int add_route(usock_httpd *h, const char *method, const char *prefix,
                     usock_httpd_handler fn, void *udata, void (*free_udata)(void *))
{
    int rc = 0;
    struct route *r = NULL;
    if (!h || !prefix || prefix[0] != '/' || !fn)
        rc = USOCK_EINVAL;
    else if (h->started)
        rc = USOCK_EBUSY;
    else if (!(r = realloc(h->routes, sizeof *r * (size_t)(h->nroutes + 1))))
        rc = USOCK_ENOMEM;
    if (rc == 0) {
        h->routes = r;
        r = &h->routes[h->nroutes];
        memset(r, 0, sizeof *r);
        r->method = method ? strdup(method) : NULL;
        r->prefix = strdup(prefix);
        if ((method && !r->method) || !r->prefix) {
            free(r->method);
            free(r->prefix);
            rc = USOCK_ENOMEM;
        }
    }
    if (rc < 0) {
        if (free_udata)
            free_udata(udata);
        return rc;
    }
    r->plen = strlen(prefix);
    r->fn = fn;
    r->udata = udata;
    r->free_udata = free_udata;
    h->nroutes++;
    return 0;
}

int usock_httpd_route(usock_httpd *h, const char *method, const char *prefix,
                      usock_httpd_handler fn, void *udata)
{
    return add_route(h, method, prefix, fn, udata, NULL);
}

int usock_httpd_route_static(usock_httpd *h, const char *prefix, const char *root)
{
    if (!h || !prefix || !root)
        return USOCK_EINVAL;
    void *files;
    int rc = usock__static_new(root, &files);
    if (rc < 0)
        return rc;
    return add_route(h, NULL, prefix, usock__httpd_static, files, usock__static_free);
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

static void free_httpd(usock_httpd *h)
{
    for (int i = 0; i < h->nworkers; i++) {
        struct worker *w = &h->workers[i];
        usock_close(w->listener);
        usock_close(w->waker);
        usock_poll_free(w->poll);
    }
    free(h->workers);
    for (int i = 0; i < h->nroutes; i++) {
        free(h->routes[i].method);
        free(h->routes[i].prefix);
        if (h->routes[i].free_udata)
            h->routes[i].free_udata(h->routes[i].udata);
    }
    free(h->routes);
    pthread_mutex_destroy(&h->log_mu);
    free(h);
}

int usock_httpd_new(usock_httpd **out, const usock_addr *addr, const usock_httpd_opts *opts)
{
    if (!out || !addr)
        return USOCK_EINVAL;
    *out = NULL;
    int fam = usock_addr_family(addr);
    if (fam != AF_INET && fam != AF_INET6)
        return USOCK_EINVAL;
    usock_httpd *h = calloc(1, sizeof *h);
    if (!h)
        return USOCK_ENOMEM;
    if (opts)
        h->o = *opts;
    else
        usock_httpd_opts_init(&h->o);
    pthread_mutex_init(&h->log_mu, NULL);
    snprintf(h->server_name, sizeof h->server_name, "%s",
             h->o.server_name ? h->o.server_name : "usock/" USOCK_VERSION_STRING);
    h->nworkers = h->o.workers > 0 ? h->o.workers : online_cpus();
    if (h->o.max_conns <= 0)
        h->o.max_conns = 10000;
    h->workers = calloc((size_t)h->nworkers, sizeof *h->workers);
    if (!h->workers) {
        free_httpd(h);
        return USOCK_ENOMEM;
    }
    h->addr = *addr;
    int per = (h->o.max_conns + h->nworkers - 1) / h->nworkers;
    int rc = 0;
    if (usock_addr_port(addr) > 0) {
        /* SO_REUSEPORT would let a second server share the port silently:
         * a plain bind first, which fails if anyone holds it */
        usock *probe = NULL;
        rc = usock_create_server(&probe, addr, 1, fam == AF_INET6 ? USOCK_CS_DUALSTACK : 0);
        usock_close(probe);
        if (rc < 0) {
            free_httpd(h);
            return rc;
        }
    }
    for (int i = 0; i < h->nworkers && rc >= 0; i++) {
        struct worker *w = &h->workers[i];
        w->h = h;
        w->index = i;
        w->max_conns = per < 1 ? 1 : per;
        w->backoff_ms = BACKOFF_MIN_MS;
        int flags = USOCK_CS_REUSEPORT | (fam == AF_INET6 ? USOCK_CS_DUALSTACK : 0);
        if ((rc = usock_create_server(&w->listener, &h->addr, h->o.backlog > 0 ? h->o.backlog : 1024,
                                      flags)) < 0)
            break;
        if (i == 0 && (rc = usock_getsockname(w->listener, &h->addr)) < 0)
            break;
        if ((rc = usock_settimeout(w->listener, 0)) < 0 || (rc = usock_waker(&w->waker)) < 0 ||
            (rc = usock_poll_new(&w->poll)) < 0 ||
            (rc = usock_poll_register(w->poll, w->waker, USOCK_POLLIN, NULL)) < 0 ||
            (rc = usock_poll_register(w->poll, w->listener, USOCK_POLLIN, w)) < 0)
            break;
        w->listening = 1;
    }
    if (rc < 0) {
        free_httpd(h);
        return rc;
    }
    if (h->o.status_page) {
        if ((rc = usock_httpd_route(h, NULL, "/_status.json", usock__httpd_status_json, h)) < 0 ||
            (rc = usock_httpd_route(h, NULL, "/_status", usock__httpd_status, h)) < 0) {
            free_httpd(h);
            return rc;
        }
    }
    h->t0 = usock__now_ms();
    *out = h;
    return 0;
}

int usock_httpd_address(const usock_httpd *h, usock_addr *a)
{
    if (!h || !a)
        return USOCK_EINVAL;
    *a = h->addr;
    return 0;
}

void usock_httpd_stats_get(const usock_httpd *h, usock_httpd_stats *st)
{
    memset(st, 0, sizeof *st);
    usock_httpd *m = (usock_httpd *)h;
    st->conns_open = atomic_load(&m->conns_open);
    st->conns_total = atomic_load(&m->conns_total);
    st->requests = atomic_load(&m->requests);
    st->bytes_in = atomic_load(&m->bytes_in);
    st->bytes_out = atomic_load(&m->bytes_out);
    st->workers = h->nworkers;
    for (int i = 0; i < h->nworkers; i++)
        st->bytes_held += atomic_load_explicit(&m->workers[i].in_held, memory_order_relaxed);
    long long now = usock__now_ms();
    st->uptime = (double)(now - h->t0) / 1000.0;
    long long cur = now / 1000;
    for (int k = 0; k < 60; k++) {
        long long s = cur - 60 + k; /* the last 60 whole seconds */
        uint32_t n = 0;
        for (int i = 0; i < h->nworkers; i++) {
            struct rps_slot *sl = &m->workers[i].rps[s % 60];
            if (atomic_load_explicit(&sl->sec, memory_order_relaxed) == s)
                n += atomic_load_explicit(&sl->n, memory_order_relaxed);
        }
        st->rps[k] = n;
    }
}

/* ---- connections ---------------------------------------------------------- */

/* Counts what connections hold, so that the stats can show idle ones
 * hold nothing; one writer per counter, hence no read-modify-write. */
static void in_held_add(struct worker *w, long long delta)
{
    uint64_t v = atomic_load_explicit(&w->in_held, memory_order_relaxed);
    atomic_store_explicit(&w->in_held, v + (uint64_t)delta, memory_order_relaxed);
}

/* Nagle's algorithm would hold back the end of an answer written in
 * pieces (a head then a file, a send that did not fit, the next answer on
 * a kept-alive connection) until the client's delayed ACK. An answer sent
 * whole on a connection that then closes needs no setsockopt. */
static void no_delay(struct conn *c)
{
    int one = 1;
    if (!c->nodelay && usock_setsockopt(c->sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0)
        c->nodelay = 1;
}

static void *spare_get(void **stack, int *n, size_t size)
{
    return *n ? stack[--*n] : malloc(size);
}

static void spare_put(void **stack, int *n, void *p)
{
    if (p && *n < SPARES)
        stack[(*n)++] = p;
    else
        free(p);
}

static void release_in(struct conn *c)
{
    in_held_add(c->w, -(long long)c->in_cap);
    if (c->in_cap == IN_START)
        spare_put(c->w->spare_in, &c->w->nspare_in, c->in);
    else
        free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = c->pos = 0;
}

static void release_request(struct conn *c)
{
    if (c->rq)
        in_held_add(c->w, -(long long)sizeof *c->rq);
    spare_put(c->w->spare_rq, &c->w->nspare_rq, c->rq);
    c->rq = NULL;
}

static void set_events(struct conn *c, int ev)
{
    if (ev != c->events && usock_poll_modify(c->w->poll, c->sock, ev) == 0)
        c->events = ev;
}

static void end_tail(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->fleft = 0;
    if (c->next && c->done)
        c->done(c->ctx);
    c->next = NULL;
    c->done = NULL;
}

static void conn_close(struct conn *c)
{
    struct worker *w = c->w;
    end_tail(c);
    unsigned long long in = 0, out = 0;
    usock_iostat(c->sock, &in, &out);
    atomic_fetch_add(&w->h->bytes_in, in);
    atomic_fetch_add(&w->h->bytes_out, out);
    usock_close(c->sock);
    release_in(c);
    release_request(c);
    buf_free(&c->body);
    buf_free(&c->out);
    if (c->lprev)
        c->lprev->lnext = c->lnext;
    else
        w->conns = c->lnext;
    if (c->lnext)
        c->lnext->lprev = c->lprev;
    free(c);
    w->nconns--;
    atomic_fetch_sub(&w->h->conns_open, 1);
}

static void go_idle(struct conn *c)
{
    c->state = C_IDLE;
    c->deadline = c->w->now + secs_ms(c->w->h->o.keepalive_timeout);
    no_delay(c);
    /* An idle connection holds no read buffer. */
    release_in(c);
    release_request(c);
    /* nor output or body buffers: an idle connection costs its struct */
    if (c->out.off >= c->out.len)
        buf_free(&c->out);
    buf_free(&c->body);
}

static void start_request(struct conn *c)
{
    if (!c->rq) {
        if (!(c->rq = spare_get(c->w->spare_rq, &c->w->nspare_rq, sizeof *c->rq))) {
            c->state = C_CLOSING; /* no memory: the connection ends */
            c->close_after = 1;
            return;
        }
        in_held_add(c->w, (long long)sizeof *c->rq);
    }
    usock_http_parser_init(&c->rq->parser, USOCK_HTTP_REQUEST);
    c->rq->parser.max_body = c->w->h->o.max_body;
    c->head_len = 0;
    c->sent_continue = 0;
    c->body.len = 0;
    c->state = C_HEAD;
    c->deadline = c->w->now + secs_ms(c->w->h->o.header_timeout);
}

/* ---- the response --------------------------------------------------------- */

int usock_httpd_header(usock_httpd_res *res, const char *name, const char *value)
{
    if (!res || !name || !value || res->responded)
        return USOCK_EINVAL;
    usock_http_writer wr;
    usock_http_writer_init(&wr, res->extra + res->elen, sizeof res->extra - res->elen);
    usock_http_write_header(&wr, name, value);
    ssize_t n = usock_http_writer_done(&wr);
    if (n < 0)
        return (int)n;
    res->elen += (size_t)n;
    return 0;
}

/* Appends the head to the output: status line, Server, Date, the extra
 * headers, Content-Type, framing and Connection. clen < 0: no length. */
static int write_head(usock_httpd_res *res, int status, const char *ctype, long long clen,
                      int chunked)
{
    struct conn *c = res->c;
    const usock_httpd_req *q = res->req;
    if (res->responded)
        return USOCK_EALREADY;
    if (status < 100 || status > 999)
        return USOCK_EINVAL;
    res->responded = 1;
    res->status = status;
    int version = q ? q->version : 11;
    int keep = !c->close_after && c->rq && c->rq->msg.keep_alive &&
               !atomic_load(&c->w->h->stopping);
    if (clen == -1 && !chunked)
        keep = 0; /* a body framed by the close */
    if (!keep)
        c->close_after = 1;
    /* written by hand, not with printf: this is every response's cost */
    const char *reason = usock_http_reason(status);
    const char *common = worker_common(c->w); /* Server and Date */
    size_t rlen = strlen(reason), clen_s = strlen(common), tlen = ctype ? strlen(ctype) : 0;
    int rc = buf_reserve(&c->out, 160 + rlen + clen_s + res->elen + tlen);
    if (rc < 0)
        return rc;
    char *p = c->out.p + c->out.len;
    p = put(p, version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ", 9);
    *p++ = (char)('0' + status / 100);
    *p++ = (char)('0' + status / 10 % 10);
    *p++ = (char)('0' + status % 10);
    *p++ = ' ';
    p = put(p, reason, rlen);
    p = put(p, "\r\n", 2);
    p = put(p, common, clen_s);
    p = put(p, res->extra, res->elen);
    if (ctype) {
        p = put(p, "Content-Type: ", 14);
        p = put(p, ctype, tlen);
        p = put(p, "\r\n", 2);
    }
    if (clen >= 0) {
        p = put(p, "Content-Length: ", 16);
        p = put_uint(p, (unsigned long long)clen);
        p = put(p, "\r\n", 2);
    }
    if (chunked)
        p = put(p, "Transfer-Encoding: chunked\r\n", 28);
    if (!keep)
        p = put(p, "Connection: close\r\n", 19);
    else if (version == 10)
        p = put(p, "Connection: keep-alive\r\n", 24);
    p = put(p, "\r\n", 2);
    c->out.len = (size_t)(p - c->out.p);
    return 0;
}

static int no_body_status(int status)
{
    return status == 204 || status == 304 || (status >= 100 && status < 200);
}

int usock_httpd_respond(usock_httpd_res *res, int status, const char *ctype, const void *body,
                        size_t len)
{
    if (!res || status < 100 || status > 999 || (len && !body))
        return USOCK_EINVAL;
    int nobody = no_body_status(status);
    /* 1xx, 204, 304: no body and no Content-Length (-2), kept alive */
    int rc = write_head(res, status, nobody ? NULL : ctype, nobody ? -2 : (long long)len, 0);
    if (rc == 0 && !res->head_only && !nobody)
        rc = buf_add(&res->c->out, body, len);
    res->bytes = nobody || res->head_only ? 0 : len;
    if (rc < 0)
        res->err = rc;
    return rc;
}

int usock_httpd_respond_fd(usock_httpd_res *res, int status, const char *ctype, int fd,
                           off_t offset, uint64_t len)
{
    if (!res || fd < 0 || res->responded) {
        if (fd >= 0)
            close(fd);
        return USOCK_EINVAL;
    }
    struct conn *c = res->c;
    if (res->head_only || len <= SMALL_FILE) {
        char small[SMALL_FILE];
        size_t got = 0;
        while (!res->head_only && got < len) {
            ssize_t r = pread(fd, small + got, (size_t)len - got, offset + (off_t)got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                int e = r < 0 ? -errno : USOCK_EIO;
                close(fd);
                res->err = e;
                return e;
            }
            got += (size_t)r;
        }
        close(fd);
        int rc = write_head(res, status, ctype, (long long)len, 0);
        if (rc == 0 && !res->head_only)
            rc = buf_add(&c->out, small, got);
        res->bytes = res->head_only ? 0 : len;
        return rc;
    }
    int rc = write_head(res, status, ctype, (long long)len, 0);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    c->fd = fd;
    no_delay(c);
    c->foff = offset;
    c->fleft = len;
    res->bytes = len;
    return 0;
}

int usock_httpd_respond_stream(usock_httpd_res *res, int status, const char *ctype,
                               usock_httpd_next next, void (*done)(void *ctx), void *ctx)
{
    if (!res || !next || res->responded) {
        if (done)
            done(ctx);
        return USOCK_EINVAL;
    }
    struct conn *c = res->c;
    int chunked = res->req && res->req->version == 11;
    int rc = write_head(res, status, ctype, -1, chunked);
    if (rc < 0 || res->head_only) {
        if (done)
            done(ctx);
        return rc;
    }
    c->next = next;
    no_delay(c);
    c->done = done;
    c->ctx = ctx;
    c->chunked_tail = chunked;
    return 0;
}

int usock_httpd_respond_error(usock_httpd_res *res, int status)
{
    char page[256];
    const char *reason = usock_http_reason(status);
    int n = snprintf(page, sizeof page,
                     "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>"
                     "<body><h1>%d %s</h1></body></html>\n",
                     status, reason, status, reason);
    return usock_httpd_respond(res, status, "text/html; charset=utf-8", page, (size_t)n);
}

/* ---- the access log -------------------------------------------------------- */

static void peer_addr(const struct conn *c, usock_addr *a)
{
    memcpy(&a->ss, &c->peer, c->peer_len);
    a->len = c->peer_len;
}

static void access_log(struct conn *c, const usock_httpd_req *q, int status, uint64_t bytes)
{
    usock_httpd *h = c->w->h;
    if (!h->o.log)
        return;
    char host[USOCK_ADDRSTRLEN] = "-";
    usock_addr peer;
    peer_addr(c, &peer);
    if (usock_addr_format(&peer, host, sizeof host) > 0) {
        /* the host alone: "1.2.3.4:5" -> "1.2.3.4", "[::1]:5" -> "::1" */
        char *colon = strrchr(host, ':');
        if (colon)
            *colon = '\0';
        if (host[0] == '[') {
            size_t n = strlen(host);
            memmove(host, host + 1, n);
            if (n >= 2 && host[n - 2] == ']')
                host[n - 2] = '\0';
        }
    }
    char when[64];
    time_t t = c->w->wall;
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S %z", &tm);
    char line[1200];
    char req[1024];
    if (q) {
        /* the request line, control bytes and quotes escaped */
        size_t k = 0;
        char raw[900];
        int n = snprintf(raw, sizeof raw, "%.*s %.*s HTTP/1.%d", (int)q->method.n, q->method.p,
                         (int)(q->target.n > 800 ? 800 : q->target.n), q->target.p,
                         q->version == 10 ? 0 : 1);
        for (int i = 0; i < n && k + 5 < sizeof req; i++) {
            unsigned char ch = (unsigned char)raw[i];
            if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
                k += (size_t)snprintf(req + k, sizeof req - k, "\\x%02x", ch);
            else
                req[k++] = (char)ch;
        }
        req[k] = '\0';
    } else {
        snprintf(req, sizeof req, "-");
    }
    snprintf(line, sizeof line, "%s - - [%s] \"%s\" %d %llu", host, when, req, status,
             (unsigned long long)bytes);
    pthread_mutex_lock(&h->log_mu);
    h->o.log(line, h->o.log_udata);
    pthread_mutex_unlock(&h->log_mu);
}

/* ---- dispatch ---------------------------------------------------------------- */

static void split_target(usock_httpd_req *q)
{
    q->path = q->target;
    q->query.p = q->target.p + q->target.n;
    q->query.n = 0;
    const char *qm = memchr(q->target.p, '?', q->target.n);
    if (qm) {
        q->path.n = (size_t)(qm - q->target.p);
        q->query.p = qm + 1;
        q->query.n = q->target.n - q->path.n - 1;
    }
    /* absolute-form ("GET http://host/path HTTP/1.1", RFC 9112 3.2.2):
     * the path is what follows the authority */
    size_t skip = 0;
    if (q->path.n >= 7 && strncasecmp(q->path.p, "http://", 7) == 0)
        skip = 7;
    else if (q->path.n >= 8 && strncasecmp(q->path.p, "https://", 8) == 0)
        skip = 8;
    if (skip) {
        const char *slash = memchr(q->path.p + skip, '/', q->path.n - skip);
        if (slash) {
            q->path.n -= (size_t)(slash - q->path.p);
            q->path.p = slash;
        } else {
            q->path.p = "/";
            q->path.n = 1;
        }
    }
    /* "#fragment" never comes, but drop it if it does */
    const char *hash = memchr(q->path.p, '#', q->path.n);
    if (hash)
        q->path.n = (size_t)(hash - q->path.p);
}

static void dispatch(struct conn *c)
{
    usock_httpd *h = c->w->h;
    usock_httpd_req q;
    memset(&q, 0, sizeof q);
    q.method = c->rq->msg.method;
    q.target = c->rq->msg.target;
    q.version = c->rq->msg.version;
    q.headers = c->rq->msg.headers;
    q.nheaders = c->rq->msg.nheaders;
    q.msg = &c->rq->msg;
    q.body = c->body.len ? c->body.p : NULL;
    q.body_len = c->body.len;
    usock_addr peer;
    peer_addr(c, &peer);
    q.peer = &peer;
    split_target(&q);

    usock_httpd_res res_s, *res = &res_s;
    memset(res, 0, offsetof(usock_httpd_res, extra));
    res->elen = 0;
    res->c = c;
    res->req = &q;
    res->head_only = str_eq(q.method, "HEAD");

    const struct route *best = NULL;
    int other_method = 0;
    for (int i = 0; i < h->nroutes; i++) {
        const struct route *r = &h->routes[i];
        if (q.path.n < r->plen || memcmp(q.path.p, r->prefix, r->plen) != 0)
            continue;
        if (r->method && !str_eq(q.method, r->method) &&
            !(res->head_only && strcmp(r->method, "GET") == 0)) {
            other_method = 1;
            continue;
        }
        if (!best || r->plen > best->plen)
            best = r;
    }
    int rc = 0;
    if (q.target.n == 1 && q.target.p[0] == '*') {
        rc = usock_httpd_respond(res, 200, NULL, NULL, 0); /* OPTIONS * */
    } else if (!best) {
        rc = usock_httpd_respond_error(res, other_method ? 405 : 404);
    } else {
        q.prefix.p = best->prefix;
        q.prefix.n = best->plen;
        q.udata = best->udata;
        rc = best->fn(&q, res);
    }
    if (!res->responded) {
        (void)rc; /* a failure before answering, or no answer: 500 */
        res->elen = 0;
        usock_httpd_respond_error(res, 500);
    }
    if (res->err < 0)
        c->close_after = 1;
    count_request(c->w);
    access_log(c, &q, res->status, res->bytes);
}

/* Answers a parse error (or a timeout) and closes after. */
static void answer_error(struct conn *c, int status)
{
    usock_httpd_res res;
    memset(&res, 0, offsetof(usock_httpd_res, extra));
    res.c = c;
    c->close_after = 1;
    usock_httpd_respond_error(&res, status);
    count_request(c->w);
    access_log(c, NULL, status, res.bytes);
    c->state = C_CLOSING;
}

/* Moves the current request's head (if parsed) with the buffer. */
static void rebase(struct conn *c, const char *old, char *neu)
{
    if (!c->head_len || !c->rq || old == neu)
        return;
#define MOVE(s) ((s).p = (s).p ? neu + ((s).p - old) : NULL)
    MOVE(c->rq->msg.method);
    MOVE(c->rq->msg.target);
    MOVE(c->rq->msg.reason);
    for (size_t i = 0; i < c->rq->msg.nheaders; i++) {
        MOVE(c->rq->headers[i].name);
        MOVE(c->rq->headers[i].value);
    }
#undef MOVE
}

/* Cuts requests out of the input and answers them. Stops at an
 * incomplete one, at a tail, at a close, or when too much output waits. */
static void process(struct conn *c)
{
    usock_httpd *h = c->w->h;
    while (c->state != C_CLOSING && c->fd < 0 && !c->next && !c->close_after &&
           c->out.len - c->out.off < OUT_HIGH) {
        if (c->state == C_IDLE) {
            if (c->pos >= c->in_len)
                return;
            start_request(c);
        }
        if (c->state == C_HEAD) {
            int n = usock_http_parse_head(&c->rq->parser, c->in + c->pos, c->in_len - c->pos, &c->rq->msg,
                                          c->rq->headers, MAX_HEADERS);
            if (n < 0) {
                answer_error(c, usock_http_error_status(n));
                return;
            }
            if (n == 0)
                return;
            c->head_len = (size_t)n;
            c->state = C_BODY;
            c->deadline = c->w->now + secs_ms(h->o.body_timeout);
            if (c->rq->msg.framing == USOCK_HTTP_BODY_LENGTH && c->rq->msg.content_length > h->o.max_body) {
                answer_error(c, 413);
                return;
            }
        }
        if (c->state == C_BODY) {
            size_t at = c->pos + c->head_len;
            if (c->rq->msg.framing != USOCK_HTTP_BODY_NONE) {
                while (at < c->in_len && !usock_http_body_done(&c->rq->parser)) {
                    const char *d;
                    size_t dl = 0;
                    ssize_t used = usock_http_parse_body(&c->rq->parser, c->in + at, c->in_len - at, &d, &dl);
                    if (used < 0) {
                        answer_error(c, usock_http_error_status((int)used));
                        return;
                    }
                    if (dl && buf_add(&c->body, d, dl) < 0) {
                        answer_error(c, 500);
                        return;
                    }
                    if (used == 0)
                        break;
                    at += (size_t)used;
                }
                /* the body bytes are copied: drop them, keep the head */
                size_t keep_at = c->pos + c->head_len;
                memmove(c->in + keep_at, c->in + at, c->in_len - at);
                c->in_len -= at - keep_at;
                if (!usock_http_body_done(&c->rq->parser)) {
                    if (c->rq->msg.expect_continue && !c->sent_continue && c->rq->msg.version == 11) {
                        c->sent_continue = 1;
                        buf_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
                    }
                    return;
                }
            }
            /* complete: answer it */
            c->state = C_IDLE;
            c->peer_done = !c->rq->msg.keep_alive;
            dispatch(c);
            c->pos += c->head_len;
            c->head_len = 0;
            if (c->pos >= c->in_len)
                c->pos = c->in_len = 0;
            if (atomic_load(&h->stopping))
                c->close_after = 1;
        }
    }
}

/* Writes what waits: output, then the tail. Returns < 0 when the
 * connection is done for (closed by the caller). */
static int flush(struct conn *c)
{
    for (;;) {
        if (c->out.off < c->out.len) {
            ssize_t n = usock_send(c->sock, c->out.p + c->out.off, c->out.len - c->out.off);
            if (n == USOCK_EAGAIN)
                return 0;
            if (n < 0)
                return (int)n;
            c->out.off += (size_t)n;
            c->deadline = c->w->now + secs_ms(c->w->h->o.send_timeout);
            if (c->out.off < c->out.len)
                continue;
            c->out.off = c->out.len = 0;
        }
        if (c->fd >= 0 && c->fleft > 0) {
            size_t want = c->fleft > (1u << 20) ? (1u << 20) : (size_t)c->fleft;
            ssize_t n = usock_sendfile(c->sock, c->fd, &c->foff, want);
            if (n == USOCK_EAGAIN)
                return 0;
            if (n <= 0)
                return n < 0 ? (int)n : USOCK_EIO; /* the file shrank */
            c->fleft -= (uint64_t)n;
            c->deadline = c->w->now + secs_ms(c->w->h->o.send_timeout);
            continue;
        }
        if (c->fd >= 0) {
            end_tail(c);
            continue;
        }
        if (c->next) {
            if (buf_reserve(&c->out, STREAM_PIECE + 32) < 0)
                return USOCK_ENOMEM;
            char *p = c->out.p;
            size_t head = c->chunked_tail ? 12 : 0;
            ssize_t n = c->next(c->ctx, p + head, STREAM_PIECE);
            if (n < 0) {
                end_tail(c);
                return (int)n;
            }
            if (n == 0) {
                end_tail(c);
                if (c->chunked_tail)
                    buf_str(&c->out, "0\r\n\r\n");
                continue;
            }
            if (c->chunked_tail) {
                char line[13];
                int k = snprintf(line, sizeof line, "%zx\r\n", (size_t)n);
                memmove(p + k, p + head, (size_t)n);
                memcpy(p, line, (size_t)k);
                memcpy(p + k + n, "\r\n", 2);
                c->out.len = (size_t)k + (size_t)n + 2;
            } else {
                c->out.len = (size_t)n;
            }
            continue;
        }
        return 1; /* all sent */
    }
}

/* After reading or writing: answer, write, and choose what to wait for. */
static void advance(struct conn *c)
{
    for (;;) {
        process(c);
        int rc = flush(c);
        if (rc < 0) {
            conn_close(c);
            return;
        }
        if (rc == 0) { /* output waits for room */
            no_delay(c);
            if (c->state == C_IDLE && c->pos >= c->in_len) {
                /* a slow reader of a long answer holds no request buffers */
                release_in(c);
                release_request(c);
                buf_free(&c->body);
            }
            if (c->events != USOCK_POLLOUT)
                c->deadline = c->w->now + secs_ms(c->w->h->o.send_timeout);
            set_events(c, USOCK_POLLOUT);
            return;
        }
        if (c->close_after && c->state != C_CLOSING && c->peer_done && c->pos >= c->in_len) {
            /* the client asked for the close and sent nothing more: no
             * lingering needed to keep an RST from destroying the answer */
            conn_close(c);
            return;
        }
        if (c->close_after || c->state == C_CLOSING) {
            usock_shutdown(c->sock, SHUT_WR);
            c->state = C_LINGER;
            c->deadline = c->w->now + LINGER_MS;
            release_in(c);
            buf_free(&c->out);
            buf_free(&c->body);
            set_events(c, USOCK_POLLIN);
            return;
        }
        /* everything sent: more requests already in the buffer? */
        if (c->state == C_IDLE && c->pos < c->in_len)
            continue;
        break;
    }
    if (c->state == C_IDLE)
        go_idle(c);
    set_events(c, USOCK_POLLIN);
}

static void on_readable(struct conn *c)
{
    usock_httpd *h = c->w->h;
    if (c->state == C_LINGER) {
        char drop[4096];
        for (int i = 0; i < 16; i++) {
            ssize_t n = usock_recv(c->sock, drop, sizeof drop);
            if (n == USOCK_EAGAIN)
                return;
            if (n <= 0) {
                conn_close(c); /* EOF or an error: done */
                return;
            }
        }
        return; /* more next turn, until LINGER_MS */
    }
    for (int reads = 0; reads < 4; reads++) {
        if (c->in_cap - c->in_len < 1024) {
            size_t cap = c->in_cap ? c->in_cap * 2 : IN_START;
            if (cap > IN_MAX)
                cap = IN_MAX;
            if (cap <= c->in_cap) {
                if (c->state == C_HEAD && c->pos > 0) {
                    /* make room: the start of the request goes to the front */
                    memmove(c->in, c->in + c->pos, c->in_len - c->pos);
                    c->in_len -= c->pos;
                    c->pos = 0;
                } else if (c->in_len == c->in_cap) {
                    break; /* full: process() must take some first */
                }
            } else {
                char *p = c->in ? realloc(c->in, cap)
                                : spare_get(c->w->spare_in, &c->w->nspare_in, cap);
                if (!p) {
                    conn_close(c);
                    return;
                }
                rebase(c, c->in, p);
                in_held_add(c->w, (long long)(cap - c->in_cap));
                c->in = p;
                c->in_cap = cap;
            }
        }
        if (c->in_len == c->in_cap)
            break;
        ssize_t n = usock_recv(c->sock, c->in + c->in_len, c->in_cap - c->in_len);
        if (n == USOCK_EAGAIN)
            break;
        if (n <= 0) {
            /* EOF or reset: a partial request is dropped; pending output
             * of complete ones is still tried */
            if (c->out.len > c->out.off && n == 0) {
                c->close_after = 1;
                break;
            }
            conn_close(c);
            return;
        }
        if (c->state == C_IDLE && c->pos >= c->in_len) {
            /* the first byte of a request: the head's clock starts */
            c->pos = 0;
            start_request(c);
        } else if (c->state == C_BODY) {
            c->deadline = c->w->now + secs_ms(h->o.body_timeout);
        }
        c->in_len += (size_t)n;
        if ((size_t)n < 1024)
            break;
    }
    advance(c);
}

/* ---- the worker ------------------------------------------------------------- */

static void pause_listener(struct worker *w)
{
    if (w->listening && w->listener) {
        usock_poll_unregister(w->poll, w->listener);
        w->listening = 0;
    }
}

static void resume_listener(struct worker *w)
{
    if (!w->listening && w->listener && !atomic_load(&w->h->stopping) &&
        w->nconns < w->max_conns && w->now >= w->backoff_end &&
        usock_poll_register(w->poll, w->listener, USOCK_POLLIN, w) == 0)
        w->listening = 1;
}

/* Accepts what waits, 64 at most; returns 1 when more may wait. */
static int accept_some(struct worker *w)
{
    for (int i = 0; i < 64; i++) {
        if (w->nconns >= w->max_conns) {
            pause_listener(w);
            return 0;
        }
        usock *s;
        usock_addr peer;
        int rc = usock_accept4(w->listener, &s, &peer, USOCK_ACCEPT_NONBLOCK);
        if (rc == USOCK_EAGAIN || rc == USOCK_ECONNABORTED || rc == USOCK_EINTR)
            return 0;
        if (rc == USOCK_EMFILE || rc == USOCK_ENFILE || rc == USOCK_ENOBUFS || rc == USOCK_ENOMEM) {
            /* out of descriptors: stop accepting for a while */
            pause_listener(w);
            w->backoff_end = w->now + w->backoff_ms;
            w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
            return 0;
        }
        if (rc < 0)
            return 0;
        w->backoff_ms = BACKOFF_MIN_MS;
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
            usock_close(s);
            continue;
        }
        c->w = w;
        c->sock = s;
        c->peer_len = peer.len < sizeof c->peer ? peer.len : (socklen_t)sizeof c->peer;
        memcpy(&c->peer, &peer.ss, c->peer_len);
        c->fd = -1;
        if (usock_poll_register(w->poll, s, USOCK_POLLIN, c) < 0) {
            usock_close(s);
            free(c);
            continue;
        }
        c->events = USOCK_POLLIN;
        c->lnext = w->conns;
        if (w->conns)
            w->conns->lprev = c;
        w->conns = c;
        w->nconns++;
        atomic_fetch_add(&w->h->conns_open, 1);
        atomic_fetch_add(&w->h->conns_total, 1);
        if (!w->h->o.tls) {
            go_idle(c);
        } else if (usock_tls_wrap(w->h->o.tls, s, NULL, USOCK_TLS_DEFER_HANDSHAKE) == 0) {
            c->state = C_TLS; /* the handshake waits for the client's hello */
            c->deadline = w->now + secs_ms(w->h->o.header_timeout);
        } else {
            conn_close(c);
        }
    }
    return 1;
}

/* The TLS handshake, a step at each readiness; then the connection is
 * idle, and what the client sent after it is read at once. */
static void on_handshake(struct conn *c)
{
    int want;
    int rc = usock_tls_handshake(c->sock, &want);
    if (rc == USOCK_EAGAIN) {
        set_events(c, want);
        return;
    }
    if (rc < 0) {
        conn_close(c);
        return;
    }
    go_idle(c);
    set_events(c, USOCK_POLLIN);
    on_readable(c);
}

/* Once a turn: timeouts, and a graceful stop's progress. */
static void sweep(struct worker *w, long long now, int stopping)
{
    struct conn *c = w->conns;
    while (c) {
        struct conn *nx = c->lnext;
        int busy = c->out.len > c->out.off || c->fd >= 0 || c->next;
        if (stopping && !busy &&
            (c->state == C_TLS || c->state == C_IDLE || c->state == C_HEAD ||
             c->state == C_LINGER)) {
            conn_close(c); /* idle, or a request not yet whole */
        } else if (c->deadline && now >= c->deadline) {
            if ((c->state == C_BODY || (c->state == C_HEAD && c->in_len > c->pos)) && !busy) {
                /* the head or the body did not come in time: 408, best effort */
                answer_error(c, 408);
                (void)usock_send(c->sock, c->out.p, c->out.len);
            }
            conn_close(c);
        }
        c = nx;
    }
}

static void tick(struct worker *w)
{
    w->now = usock__now_ms();
    w->wall = time(NULL);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    usock_httpd *h = w->h;
    usock_event ev[MAX_EVENTS];
    long long drain_end = 0, last_sweep = 0;
    /* sendfile has no MSG_NOSIGNAL: a peer gone mid-file would raise
     * SIGPIPE and kill the process. Blocked in the workers (threads of our
     * own), it stays pending on the thread, harmless, and sendfile fails
     * with EPIPE as send does. */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    tick(w);
    for (;;) {
        int stopping = atomic_load(&h->stopping);
        long long now = w->now;
        if (stopping) {
            if (!drain_end) {
                drain_end = now + secs_ms(h->o.drain_timeout);
                /* what waits in the backlog is taken and closed as idle
                 * (a FIN), not reset with the listener */
                for (int k = 0; k < 16 && w->listener && accept_some(w); k++)
                    ;
                pause_listener(w);
                usock_close(w->listener);
                w->listener = NULL;
            }
            sweep(w, now, 1);
            if (!w->conns || now >= drain_end)
                break;
        }
        if (!w->listening)
            resume_listener(w);
        int timeout = w->conns ? SWEEP_MS * 2 : 1000;
        if (!w->listening && w->backoff_end > now && w->backoff_end - now < timeout)
            timeout = (int)(w->backoff_end - now);
        if (stopping)
            timeout = 100;
        int n = usock_poll_wait(w->poll, timeout, ev, MAX_EVENTS);
        if (n < 0) {
            /* never a silent end: a worker gone would leave its listener
             * in the SO_REUSEPORT group, taking connections none accepts */
            struct timespec pause = {0, 10 * 1000 * 1000};
            nanosleep(&pause, NULL);
            tick(w);
            continue;
        }
        tick(w);
        for (int i = 0; i < n; i++) {
            if (ev[i].sock == w->waker) {
                (void)usock_wake_clear(w->waker);
            } else if (ev[i].udata == w) {
                accept_some(w);
            } else if (ev[i].udata && ev[i].sock) {
                struct conn *c = ev[i].udata;
                if (c->state == C_TLS)
                    on_handshake(c);
                else if (ev[i].revents & USOCK_POLLOUT)
                    advance(c);
                else
                    on_readable(c);
            }
        }
        if (w->now - last_sweep >= SWEEP_MS) {
            last_sweep = w->now;
            sweep(w, w->now, 0);
        }
    }
    while (w->conns)
        conn_close(w->conns);
    while (w->nspare_in)
        free(w->spare_in[--w->nspare_in]);
    while (w->nspare_rq)
        free(w->spare_rq[--w->nspare_rq]);
    return NULL;
}

int usock_httpd_start(usock_httpd *h)
{
    if (!h)
        return USOCK_EINVAL;
    if (h->started)
        return USOCK_EBUSY;
    h->started = 1;
    for (int i = 0; i < h->nworkers; i++) {
        int rc = pthread_create(&h->workers[i].thread, NULL, worker_main, &h->workers[i]);
        if (rc != 0) {
            usock_httpd_stop(h);
            usock_httpd_wait(h);
            return -rc;
        }
        h->workers[i].started = 1;
    }
    return 0;
}

void usock_httpd_stop(usock_httpd *h)
{
    if (!h)
        return;
    atomic_store(&h->stopping, 1);
    for (int i = 0; i < h->nworkers; i++)
        if (h->workers[i].waker)
            usock_wake(h->workers[i].waker);
}

int usock_httpd_wait(usock_httpd *h)
{
    if (!h)
        return USOCK_EINVAL;
    for (int i = 0; i < h->nworkers; i++) {
        if (h->workers[i].started) {
            pthread_join(h->workers[i].thread, NULL);
            h->workers[i].started = 0;
        }
    }
    return 0;
}

void usock_httpd_close(usock_httpd *h)
{
    if (!h)
        return;
    usock_httpd_stop(h);
    usock_httpd_wait(h);
    free_httpd(h);
}
