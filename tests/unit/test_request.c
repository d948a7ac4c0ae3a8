/* test_request.c -- the HTTP client (request.h) against real servers on
 * loopback started here: the project's httpd with handlers for echoes,
 * chunked and compressed bodies, redirects, Basic auth and cookies; and
 * raw socket threads that answer scripted bytes (close-framed, truncated
 * and stale connections). Covers the framings, gzip and deflate,
 * truncation, redirects (codes, methods, relative Location, limit, loops,
 * credentials across hosts), Basic auth (once, preemptive, userinfo,
 * default realm), errors (HTTPError with the body, refused, unresolvable,
 * timeouts), the pool (reuse, idle cap, idle timeout, stale retries),
 * handlers, install_opener and threads sharing an opener. Every wait is
 * bounded; nothing asserts how long something took. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#include "helpers.h"

/* ---- the httpd server and its handlers ------------------------------------- */

static usock_httpd *srv, *srv2; /* srv2: another host (127.0.0.2) */
static int srv_port, srv2_port;
static atomic_int unauthorized; /* 401s answered by /auth */
static atomic_int auth_requests;

static void base_url(char *buf, size_t cap, const char *path)
{
    snprintf(buf, cap, "http://127.0.0.1:%d%s", srv_port, path);
}

static const char *hdr(const usock_httpd_req *req, const char *name, char *buf, size_t cap)
{
    const usock_http_str *v = usock_http_header_get(req->msg, name);
    if (!v)
        return "-";
    snprintf(buf, cap, "%.*s", (int)v->n, v->p);
    return buf;
}

/* Answers what came: method, framing-free body length and sum, and the
 * fields the tests look at, one "name=value" line each. */
static int h_echo(const usock_httpd_req *req, usock_httpd_res *res)
{
    char out[4096], a[512], c[512], t[256], e[256], k[256], u[256];
    unsigned sum = 0;
    for (size_t i = 0; i < req->body_len; i++)
        sum += (unsigned char)req->body[i];
    int n = snprintf(out, sizeof out,
                     "method=%.*s\npath=%.*s\nlen=%zu\nsum=%u\nauth=%s\ncookie=%s\nctype=%s\n"
                     "ae=%s\nhook=%s\nua=%s\nbody=%.*s\n",
                     (int)req->method.n, req->method.p, (int)req->target.n, req->target.p,
                     req->body_len, sum, hdr(req, "Authorization", a, sizeof a),
                     hdr(req, "Cookie", c, sizeof c), hdr(req, "Content-Type", t, sizeof t),
                     hdr(req, "Accept-Encoding", e, sizeof e), hdr(req, "X-Hook", k, sizeof k),
                     hdr(req, "User-Agent", u, sizeof u),
                     (int)(req->body_len < 64 ? req->body_len : 64), req->body ? req->body : "");
    return usock_httpd_respond(res, 200, "text/plain", out, (size_t)n);
}

static int h_hello(const usock_httpd_req *req, usock_httpd_res *res)
{
    (void)req;
    return usock_httpd_respond(res, 200, "text/plain", "hello\n", 6);
}

static int h_headers(const usock_httpd_req *req, usock_httpd_res *res)
{
    (void)req;
    usock_httpd_header(res, "X-Dup", "1");
    usock_httpd_header(res, "x-other", "v");
    usock_httpd_header(res, "X-DUP", "2");
    return usock_httpd_respond(res, 200, "text/plain", "", 0);
}

/* The text the compressed routes send: BIG_TEXT bytes of numbered lines. */
#define BIG_TEXT 100000
static char *big_text;

static void make_big_text(void)
{
    big_text = malloc(BIG_TEXT + 1);
    assert_non_null(big_text);
    size_t n = 0;
    for (int i = 0; n < BIG_TEXT; i++) {
        char line[32];
        int k = snprintf(line, sizeof line, "line %d\n", i);
        size_t take = n + (size_t)k > BIG_TEXT ? BIG_TEXT - n : (size_t)k;
        memcpy(big_text + n, line, take);
        n += take;
    }
    big_text[BIG_TEXT] = '\0';
}

/* big_text compressed with windowBits wb (31 gzip, 15 zlib, -15 raw). */
static unsigned char *compressed(int wb, size_t *len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, wb, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, BIG_TEXT);
    unsigned char *out = malloc(cap);
    z.next_in = (unsigned char *)big_text;
    z.avail_in = BIG_TEXT;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* /z/gzip, /z/gzip2 (two members), /z/deflate (zlib), /z/raw (raw
 * deflate named "deflate"),
 * /z/cut (gzip, its last 20 bytes missing but framed as whole), /z/bad. */
static int h_compressed(const usock_httpd_req *req, usock_httpd_res *res)
{
    const char *p = req->path.p + 3;
    size_t len;
    unsigned char *z;
    const char *coding = "gzip";
    if (strncmp(p, "gzip2", 5) == 0) {
        /* Two members, one after the other (as gzip -c a b gives). */
        size_t one;
        unsigned char *m = compressed(31, &one);
        z = malloc(2 * one);
        memcpy(z, m, one);
        memcpy(z + one, m, one);
        len = 2 * one;
        free(m);
    } else if (strncmp(p, "gzipjunk", 8) == 0) {
        /* Padding after the stream, as some servers send. */
        size_t one;
        unsigned char *m = compressed(31, &one);
        z = realloc(m, one + 8);
        memcpy(z + one, "\0\0\0\0junk", 8);
        len = one + 8;
    } else if (strncmp(p, "br", 2) == 0) {
        z = (unsigned char *)strdup("not offered, not decoded");
        len = strlen((char *)z);
        coding = "br";
    } else if (strncmp(p, "gzip", 4) == 0 || strncmp(p, "cut", 3) == 0) {
        z = compressed(31, &len);
        if (p[0] == 'c')
            len -= 20;
    } else if (strncmp(p, "deflate", 7) == 0) {
        z = compressed(15, &len);
        coding = "deflate";
    } else if (strncmp(p, "raw", 3) == 0) {
        z = compressed(-15, &len);
        coding = "deflate";
    } else {
        z = (unsigned char *)strdup("this is not gzip at all, not at all");
        len = strlen((char *)z);
    }
    usock_httpd_header(res, "Content-Encoding", coding);
    int rc = usock_httpd_respond(res, 200, "text/plain", z, len);
    free(z);
    return rc;
}

/* A gzip body sent one byte per piece of a chunked stream. */
struct drip {
    unsigned char *z;
    size_t len, pos;
};

static ssize_t drip_next(void *ctx, char *buf, size_t cap)
{
    struct drip *d = ctx;
    (void)cap;
    if (d->pos == d->len)
        return 0;
    buf[0] = (char)d->z[d->pos++];
    return 1;
}

static void drip_done(void *ctx)
{
    struct drip *d = ctx;
    free(d->z);
    free(d);
}

static int h_drip(const usock_httpd_req *req, usock_httpd_res *res)
{
    (void)req;
    struct drip *d = calloc(1, sizeof *d);
    size_t len;
    /* A short text, so that one byte per chunk stays quick. */
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    d->z = malloc(256);
    z.next_in = (unsigned char *)"dripping gzip, one byte a chunk\n";
    z.avail_in = 32;
    z.next_out = d->z;
    z.avail_out = 256;
    deflate(&z, Z_FINISH);
    len = 256 - z.avail_out;
    deflateEnd(&z);
    d->len = len;
    usock_httpd_header(res, "Content-Encoding", "gzip");
    return usock_httpd_respond_stream(res, 200, "text/plain", drip_next, drip_done, d);
}

struct pieces {
    int left;
};

static ssize_t pieces_next(void *ctx, char *buf, size_t cap)
{
    struct pieces *c = ctx;
    if (c->left == 0)
        return 0;
    return snprintf(buf, cap, "piece %d\n", c->left--);
}

static int h_chunked(const usock_httpd_req *req, usock_httpd_res *res)
{
    (void)req;
    struct pieces *c = malloc(sizeof *c);
    c->left = 3;
    return usock_httpd_respond_stream(res, 200, "text/plain", pieces_next, free, c);
}

/* /redir/CODE?LOCATION answers CODE with that Location. */
static int h_redir(const usock_httpd_req *req, usock_httpd_res *res)
{
    int code = atoi(req->path.p + 7);
    char loc[512];
    snprintf(loc, sizeof loc, "%.*s", (int)req->query.n, req->query.p);
    usock_httpd_header(res, "Location", loc);
    return usock_httpd_respond(res, code, "text/plain", "moved\n", 6);
}

static int h_loop(const usock_httpd_req *req, usock_httpd_res *res)
{
    (void)req;
    usock_httpd_header(res, "Location", "/loop");
    return usock_httpd_respond(res, 302, NULL, "", 0);
}

/* /chain/N -> /chain/N+1, without end. */
static int h_chain(const usock_httpd_req *req, usock_httpd_res *res)
{
    char loc[64];
    snprintf(loc, sizeof loc, "/chain/%d", atoi(req->path.p + 7) + 1);
    usock_httpd_header(res, "Location", loc);
    return usock_httpd_respond(res, 302, NULL, "", 0);
}

/* /auth...: Basic user:pass in realm "R" (a Digest challenge first, as
 * servers that offer both send). */
static int h_auth(const usock_httpd_req *req, usock_httpd_res *res)
{
    atomic_fetch_add(&auth_requests, 1);
    const usock_http_str *a = usock_http_header_get(req->msg, "Authorization");
    const char *want = "Basic dXNlcjpwYXNz"; /* user:pass */
    if (a && a->n == strlen(want) && memcmp(a->p, want, a->n) == 0)
        return usock_httpd_respond(res, 200, "text/plain", "welcome\n", 8);
    atomic_fetch_add(&unauthorized, 1);
    if (strncmp(req->path.p, "/auth-token", 11) == 0) {
        /* One field, two challenges, the realm a token. */
        usock_httpd_header(res, "WWW-Authenticate", "Newauth realm=\"N\", type=1, basic realm=R");
    } else {
        usock_httpd_header(res, "WWW-Authenticate", "Digest realm=\"D\", nonce=\"x, y\"");
        usock_httpd_header(res, "WWW-Authenticate", "Basic realm=\"R\", charset=\"UTF-8\"");
    }
    return usock_httpd_respond(res, 401, "text/plain", "who are you?\n", 13);
}

static int h_status(const usock_httpd_req *req, usock_httpd_res *res)
{
    return usock_httpd_respond(res, atoi(req->path.p + 8), "text/plain", "nope\n", 5);
}

static int h_setcookie(const usock_httpd_req *req, usock_httpd_res *res)
{
    (void)req;
    usock_httpd_header(res, "Set-Cookie", "sid=abc; Path=/");
    return usock_httpd_respond(res, 200, "text/plain", "", 0);
}

static void routes(usock_httpd *h)
{
    assert_ok(usock_httpd_route(h, NULL, "/echo", h_echo, NULL));
    assert_ok(usock_httpd_route(h, NULL, "/hello", h_hello, NULL));
    assert_ok(usock_httpd_route(h, NULL, "/headers", h_headers, NULL));
    assert_ok(usock_httpd_route(h, NULL, "/z/", h_compressed, NULL));
    assert_ok(usock_httpd_route(h, NULL, "/drip", h_drip, NULL));
    assert_ok(usock_httpd_route(h, NULL, "/chunked", h_chunked, NULL));
    assert_ok(usock_httpd_route(h, NULL, "/redir/", h_redir, NULL));
    assert_ok(usock_httpd_route(h, NULL, "/loop", h_loop, NULL));
    assert_ok(usock_httpd_route(h, NULL, "/chain/", h_chain, NULL));
    assert_ok(usock_httpd_route(h, NULL, "/auth", h_auth, NULL));
    assert_ok(usock_httpd_route(h, NULL, "/status/", h_status, NULL));
    assert_ok(usock_httpd_route(h, NULL, "/setcookie", h_setcookie, NULL));
}

static usock_httpd *start_httpd(const char *ip, int *port)
{
    usock_addr a;
    usock_httpd *h;
    usock_httpd_opts o;
    usock_httpd_opts_init(&o);
    o.workers = 2;
    o.status_page = 0;
    assert_ok(usock_addr_from_ip(&a, ip, 0));
    if (usock_httpd_new(&h, &a, &o) < 0)
        return NULL;
    routes(h);
    assert_ok(usock_httpd_address(h, &a));
    *port = usock_addr_port(&a);
    assert_ok(usock_httpd_start(h));
    return h;
}

static uint64_t conns_total(usock_httpd *h)
{
    usock_httpd_stats st;
    usock_httpd_stats_get(h, &st);
    return st.conns_total;
}

static int setup_all(void **state)
{
    (void)state;
    make_big_text();
    srv = start_httpd("127.0.0.1", &srv_port);
    assert_non_null(srv);
    srv2 = start_httpd("127.0.0.2", &srv2_port); /* NULL where 127.0.0.2 is not loopback */
    return 0;
}

static int teardown_all(void **state)
{
    (void)state;
    usock_httpd_close(srv);
    usock_httpd_close(srv2);
    free(big_text);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------- */

static usock_opener *opener_with(const usock_opener_opts *o)
{
    usock_opener *op;
    assert_ok(usock_opener_new(&op, o));
    return op;
}

/* Opens url with o (NULL: the default opener) and reads the whole body
 * into *body (free it); returns the open's code, with err filled. */
static int get(usock_opener *o, const char *url, char **body, usock_urlerror *err)
{
    usock_urlrequest *r;
    usock_response *res;
    *body = NULL;
    assert_ok(usock_request_new(&r, url));
    int rc = o ? usock_opener_open(o, r, 5.0, &res, err) : usock_urlopen_request(r, 5.0, &res, err);
    usock_request_free(r);
    if (res) {
        size_t n;
        assert_ok(usock_response_readall(res, body, &n));
        usock_response_close(res);
    }
    return rc;
}

/* The echo's line "name=value" holds exactly value. */
static void expect_field(const char *body, const char *name, const char *value)
{
    char want[600];
    snprintf(want, sizeof want, "\n%s=%s\n", name, value);
    char *copy = malloc(strlen(body) + 2);
    copy[0] = '\n';
    strcpy(copy + 1, body);
    if (!strstr(copy, want))
        fail_msg("no \"%s=%s\" in:\n%s", name, value, body);
    free(copy);
}

static void drain(usock_response *res);

/* ---- raw scripted servers ------------------------------------------------------ */

/* One step: after reading a request, send reply (NULL: close without
 * answering), then close when close_after; a last step without it keeps
 * the connection until the client closes. */
struct step {
    const char *reply;
    int close_after;
    int head_only; /* answer before reading the request's body */
};

struct script {
    int lfd, port;
    const struct step *steps;
    int nsteps;
    atomic_int accepted, requests, closed, extra; /* extra: bytes after the last answer */
    char last[4096];                              /* the last request's head */
    pthread_t th;
};

/* One request (head, and a Content-Length body) from fd: 1, or 0 at EOF. */
static int read_request(int fd, char *head, size_t cap, int head_only)
{
    size_t n = 0;
    head[0] = '\0';
    while (!strstr(head, "\r\n\r\n")) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (n + 1 >= cap || poll(&pf, 1, EXPECT_MS) <= 0)
            return 0;
        ssize_t k = recv(fd, head + n, cap - 1 - n, 0);
        if (k <= 0)
            return 0;
        n += (size_t)k;
        head[n] = '\0';
    }
    const char *cl = strcasestr(head, "\r\nContent-Length:");
    size_t body = cl && !head_only ? strtoul(cl + 17, NULL, 10) : 0;
    size_t have = n - (size_t)(strstr(head, "\r\n\r\n") + 4 - head);
    char sink[1024];
    while (have < body) {
        ssize_t k = recv(fd, sink, sizeof sink, 0);
        if (k <= 0)
            return 0;
        have += (size_t)k;
    }
    return 1;
}

static void *script_main(void *arg)
{
    struct script *s = arg;
    int i = 0;
    while (i < s->nsteps) {
        struct pollfd pf = {.fd = s->lfd, .events = POLLIN};
        if (poll(&pf, 1, EXPECT_MS) <= 0)
            break;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            break;
        atomic_fetch_add(&s->accepted, 1);
        char head[4096];
        while (i < s->nsteps && read_request(fd, head, sizeof head, s->steps[i].head_only)) {
            atomic_fetch_add(&s->requests, 1);
            snprintf(s->last, sizeof s->last, "%s", head);
            const struct step *st = &s->steps[i++];
            if (!st->reply)
                break;
            raw_send_str(fd, st->reply);
            if (st->close_after)
                break;
            if (i == s->nsteps) {
                /* The last answer, kept open: until the client closes. */
                struct pollfd cf = {.fd = fd, .events = POLLIN};
                char sink[256];
                ssize_t k;
                while (poll(&cf, 1, EXPECT_MS) > 0 && (k = recv(fd, sink, sizeof sink, 0)) > 0)
                    atomic_fetch_add(&s->extra, (int)k);
            }
        }
        close(fd);
        atomic_fetch_add(&s->closed, 1);
    }
    return NULL;
}

static void script_start(struct script *s, const struct step *steps, int n)
{
    memset(s, 0, sizeof *s);
    s->steps = steps;
    s->nsteps = n;
    s->lfd = raw_listener(AF_INET, 16, 0, &s->port);
    assert_int_equal(pthread_create(&s->th, NULL, script_main, s), 0);
}

static void script_stop(struct script *s)
{
    pthread_join(s->th, NULL);
    close(s->lfd);
}

static void script_url(const struct script *s, char *buf, size_t cap, const char *path)
{
    snprintf(buf, cap, "http://127.0.0.1:%d%s", s->port, path);
}

/* ---- responses: head, framing, reading --------------------------------------------- */

static void test_get(void **state)
{
    (void)state;
    char url[128];
    base_url(url, sizeof url, "/hello");
    usock_response *res;
    usock_urlerror err;
    assert_ok(usock_urlopen(url, NULL, 0, 5.0, &res, &err));
    assert_int_equal(usock_response_status(res), 200);
    assert_string_equal(usock_response_reason(res), "OK");
    assert_int_equal(usock_response_version(res), 11);
    assert_string_equal(usock_response_url(res), url);
    assert_string_equal(usock_response_header(res, "content-length"), "6");
    assert_string_equal(usock_response_header(res, "Content-Type"), "text/plain");
    assert_null(usock_response_header(res, "X-Nothing"));
    assert_int_equal(usock_response_length(res), 6);
    char buf[16];
    assert_count(usock_response_read(res, buf, sizeof buf), 6);
    assert_memory_equal(buf, "hello\n", 6);
    assert_count(usock_response_read(res, buf, sizeof buf), 0);
    assert_int_equal(err.status, 200);
    usock_response_close(res);
}

static void test_headers_in_order(void **state)
{
    (void)state;
    char url[128];
    base_url(url, sizeof url, "/headers");
    usock_response *res;
    assert_ok(usock_urlopen(url, NULL, 0, 5.0, &res, NULL));
    assert_string_equal(usock_response_header(res, "x-dup"), "1");
    const char *name, *value, *dups[3];
    int ndup = 0;
    for (size_t i = 0; usock_response_header_at(res, i, &name, &value); i++)
        if (strcasecmp(name, "X-Dup") == 0 && ndup < 3)
            dups[ndup++] = value;
    assert_int_equal(ndup, 2);
    assert_string_equal(dups[0], "1");
    assert_string_equal(dups[1], "2");
    assert_int_equal(usock_response_header_at(res, 1000, &name, &value), 0);
    usock_response_close(res);
}

/* Content-Length: read in odd pieces, readline, readall of the rest. */
static void test_length_body_pieces(void **state)
{
    (void)state;
    char url[128];
    base_url(url, sizeof url, "/echo");
    usock_response *res;
    assert_ok(usock_urlopen(url, NULL, 0, 5.0, &res, NULL));
    char line[64];
    assert_count(usock_response_readline(res, line, sizeof line), 11);
    assert_string_equal(line, "method=GET\n");
    /* A line longer than the buffer comes in parts. */
    assert_count(usock_response_readline(res, line, 4), 3);
    assert_string_equal(line, "pat");
    assert_count(usock_response_readline(res, line, sizeof line), 8);
    assert_string_equal(line, "h=/echo\n");
    char three[3];
    assert_count(usock_response_read(res, three, 3), 3);
    assert_memory_equal(three, "len", 3);
    char *rest;
    size_t n;
    assert_ok(usock_response_readall(res, &rest, &n));
    assert_true(strncmp(rest, "=0\nsum=0\n", 9) == 0);
    assert_int_equal(strlen(rest), n);
    free(rest);
    assert_count(usock_response_readline(res, line, sizeof line), 0);
    assert_code(usock_response_readline(res, line, 1), USOCK_EINVAL);
    usock_response_close(res);
}

static void test_chunked_body(void **state)
{
    (void)state;
    char url[128], *body;
    base_url(url, sizeof url, "/chunked");
    usock_response *res;
    assert_ok(usock_urlopen(url, NULL, 0, 5.0, &res, NULL));
    assert_int_equal(usock_response_length(res), -1);
    assert_string_equal(usock_response_header(res, "Transfer-Encoding"), "chunked");
    size_t n;
    assert_ok(usock_response_readall(res, &body, &n));
    assert_string_equal(body, "piece 3\npiece 2\npiece 1\n");
    free(body);
    usock_response_close(res);
}

/* HTTP/1.0, no length: the body runs until the server closes. */
static void test_close_framed_body(void **state)
{
    (void)state;
    static const struct step steps[] = {
        {"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil\nthe close\n", 1, 0},
    };
    struct script s;
    script_start(&s, steps, 1);
    char url[128], *body;
    script_url(&s, url, sizeof url, "/x");
    usock_response *res;
    assert_ok(usock_urlopen(url, NULL, 0, 5.0, &res, NULL));
    assert_int_equal(usock_response_version(res), 10);
    assert_int_equal(usock_response_length(res), -1);
    size_t n;
    assert_ok(usock_response_readall(res, &body, &n));
    assert_string_equal(body, "until\nthe close\n");
    free(body);
    usock_response_close(res);
    script_stop(&s);
    assert_non_null(strstr(s.last, "GET /x HTTP/1.1\r\n"));
    assert_non_null(strstr(s.last, "\r\nHost: 127.0.0.1:"));
}

static void test_head_has_no_body(void **state)
{
    (void)state;
    char url[128];
    base_url(url, sizeof url, "/hello");
    usock_opener *o = opener_with(NULL);
    uint64_t before = conns_total(srv);
    for (int i = 0; i < 2; i++) {
        usock_urlrequest *r;
        usock_response *res;
        assert_ok(usock_request_new(&r, url));
        assert_ok(usock_request_set_method(r, "HEAD"));
        assert_ok(usock_opener_open(o, r, 5.0, &res, NULL));
        assert_string_equal(usock_response_header(res, "Content-Length"), "6");
        assert_int_equal(usock_response_length(res), 0);
        char buf[8];
        assert_count(usock_response_read(res, buf, sizeof buf), 0);
        usock_response_close(res);
        usock_request_free(r);
    }
    assert_int_equal(conns_total(srv) - before, 1); /* the connection was kept */
    usock_opener_free(o);
}

/* ---- truncated bodies ---------------------------------------------------------------- */

static void test_truncated_length(void **state)
{
    (void)state;
    static const struct step steps[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", 1, 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", 1, 0},
    };
    struct script s;
    script_start(&s, steps, 2);
    char url[128];
    script_url(&s, url, sizeof url, "/");
    usock_response *res;
    /* read: the short count, then the error; never a silent end. */
    assert_ok(usock_urlopen(url, NULL, 0, 5.0, &res, NULL));
    char buf[200];
    assert_count(usock_response_read(res, buf, sizeof buf), 9);
    assert_code(usock_response_read(res, buf, sizeof buf), USOCK_EHTTP_TRUNCATED);
    assert_code(usock_response_read(res, buf, sizeof buf), USOCK_EHTTP_TRUNCATED);
    usock_response_close(res);
    /* readall: the error, nothing returned. */
    assert_ok(usock_urlopen(url, NULL, 0, 5.0, &res, NULL));
    char *body = (char *)1;
    size_t n = 7;
    assert_code(usock_response_readall(res, &body, &n), USOCK_EHTTP_TRUNCATED);
    assert_null(body);
    assert_int_equal(n, 0);
    usock_response_close(res);
    script_stop(&s);
}

static void test_truncated_chunked(void **state)
{
    (void)state;
    static const struct step steps[] = {
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nabc", 1, 0},
    };
    struct script s;
    script_start(&s, steps, 1);
    char url[128], *body;
    script_url(&s, url, sizeof url, "/");
    usock_response *res;
    assert_ok(usock_urlopen(url, NULL, 0, 5.0, &res, NULL));
    size_t n;
    assert_code(usock_response_readall(res, &body, &n), USOCK_EHTTP_TRUNCATED);
    usock_response_close(res);
    script_stop(&s);
}

/* A head cut short, and a malformed one: URLError-like, no response. */
static void test_malformed_replies(void **state)
{
    (void)state;
    static const struct step steps[] = {
        {"HTTP/1.1 200 OK\r\nContent-Le", 1, 0},
        {"HTTP/1.1 2x0 OK\r\n\r\n", 1, 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 1, 0},
    };
    struct script s;
    script_start(&s, steps, 3);
    char url[128];
    script_url(&s, url, sizeof url, "/m");
    usock_response *res;
    usock_urlerror err;
    assert_code(usock_urlopen(url, NULL, 0, 5.0, &res, &err), USOCK_EHTTP_TRUNCATED);
    assert_null(res);
    assert_code(usock_urlopen(url, NULL, 0, 5.0, &res, &err), USOCK_EHTTP_BAD_STATUS);
    assert_null(res);
    assert_int_equal(err.code, USOCK_EHTTP_BAD_STATUS);
    assert_int_equal(err.status, 0);
    assert_non_null(strstr(err.detail, "GET http://127.0.0.1:"));
    assert_non_null(strstr(err.detail, "/m: malformed response: "));
    assert_code(usock_urlopen(url, NULL, 0, 5.0, &res, &err), USOCK_EHTTP_DUP_CONTENT_LENGTH);
    script_stop(&s);
}

/* Bare LF line ends, obs-fold and a status line without a reason are
 * taken, as curl and http.client take them (RFC 9112 2.2, 5.2). */
static void test_lenient_replies(void **state)
{
    (void)state;
    static const struct step steps[] = {
        {"HTTP/1.1 200 OK\nX-Folded: one\r\n  two \r\n\tthree\nContent-Length: 2\n\nok", 0, 0},
        {"HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\n\r\n2\nhi\n0\nT: 1\n 2\n\n", 1, 0},
    };
    struct script s;
    script_start(&s, steps, 2);
    char url[128], buf[16];
    script_url(&s, url, sizeof url, "/l");
    usock_response *res;
    assert_ok(usock_urlopen(url, NULL, 0, 5.0, &res, NULL));
    assert_string_equal(usock_response_header(res, "X-Folded"), "one two three");
    assert_string_equal(usock_response_header(res, "Content-Length"), "2");
    assert_int_equal(usock_response_read(res, buf, sizeof buf), 2);
    assert_memory_equal(buf, "ok", 2);
    usock_response_close(res);
    assert_ok(usock_urlopen(url, NULL, 0, 5.0, &res, NULL));
    assert_int_equal(usock_response_status(res), 200);
    assert_string_equal(usock_response_reason(res), "");
    assert_int_equal(usock_response_read(res, buf, sizeof buf), 2);
    assert_memory_equal(buf, "hi", 2);
    assert_int_equal(usock_response_read(res, buf, sizeof buf), 0);
    usock_response_close(res);
    script_stop(&s);
    assert_int_equal(atomic_load(&s.accepted), 1); /* kept alive after the bare-LF answer */
}

/* ---- content codings ------------------------------------------------------------- */

static void expect_decoded(const char *path, const char *coding)
{
    char url[128], *body;
    base_url(url, sizeof url, path);
    usock_response *res;
    assert_ok(usock_urlopen(url, NULL, 0, 5.0, &res, NULL));
    assert_string_equal(usock_response_header(res, "Content-Encoding"), coding);
    assert_true(usock_response_length(res) < BIG_TEXT); /* the length as sent */
    /* A line, a few bytes, then the rest: the same text. */
    char line[32];
    assert_count(usock_response_readline(res, line, sizeof line), 7);
    assert_string_equal(line, "line 0\n");
    size_t n;
    assert_ok(usock_response_readall(res, &body, &n));
    assert_int_equal(n, BIG_TEXT - 7);
    assert_memory_equal(body, big_text + 7, n);
    free(body);
    usock_response_close(res);
}

static void test_gzip(void **state)
{
    (void)state;
    expect_decoded("/z/gzip", "gzip");
}

static void test_deflate_zlib(void **state)
{
    (void)state;
    expect_decoded("/z/deflate", "deflate");
}

static void test_deflate_raw(void **state)
{
    (void)state;
    expect_decoded("/z/raw", "deflate");
}

/* Two gzip members in a row; junk after the stream; a coding not offered. */
static void test_gzip_members_junk_and_others(void **state)
{
    (void)state;
    char url[128], *body;
    base_url(url, sizeof url, "/z/gzip2");
    assert_ok(get(NULL, url, &body, NULL));
    assert_int_equal(strlen(body), 2 * BIG_TEXT);
    assert_memory_equal(body, big_text, BIG_TEXT);
    assert_memory_equal(body + BIG_TEXT, big_text, BIG_TEXT);
    free(body);
    base_url(url, sizeof url, "/z/gzipjunk");
    assert_ok(get(NULL, url, &body, NULL));
    assert_int_equal(strlen(body), BIG_TEXT);
    free(body);
    base_url(url, sizeof url, "/z/br");
    assert_ok(get(NULL, url, &body, NULL));
    assert_string_equal(body, "not offered, not decoded");
    free(body);
}

/* Offered by default; the server saw it. Chunks of one byte decode too. */
static void test_gzip_offered_and_dripped(void **state)
{
    (void)state;
    char url[128], *body;
    base_url(url, sizeof url, "/echo");
    usock_urlerror err;
    assert_ok(get(NULL, url, &body, &err));
    expect_field(body, "ae", "gzip, deflate");
    free(body);
    base_url(url, sizeof url, "/drip");
    assert_ok(get(NULL, url, &body, &err));
    assert_string_equal(body, "dripping gzip, one byte a chunk\n");
    free(body);
}

/* accept_encoding 0: nothing offered, nothing decoded. A user's own
 * Accept-Encoding is sent as it is, and the body comes undecoded. */
static void test_gzip_off(void **state)
{
    (void)state;
    usock_opener_opts oo;
    usock_opener_opts_init(&oo);
    oo.accept_encoding = 0;
    usock_opener *o = opener_with(&oo);
    char url[128], *body;
    base_url(url, sizeof url, "/echo");
    assert_ok(get(o, url, &body, NULL));
    expect_field(body, "ae", "-");
    free(body);
    base_url(url, sizeof url, "/z/gzip");
    assert_ok(get(o, url, &body, NULL));
    assert_true((unsigned char)body[0] == 0x1f && (unsigned char)body[1] == 0x8b);
    free(body);
    usock_opener_free(o);

    usock_urlrequest *r;
    usock_response *res;
    assert_ok(usock_request_new(&r, url));
    assert_ok(usock_request_set_header(r, "Accept-Encoding", "gzip"));
    assert_ok(usock_urlopen_request(r, 5.0, &res, NULL));
    unsigned char two[2];
    assert_count(usock_response_read(res, two, 2), 2);
    assert_true(two[0] == 0x1f && two[1] == 0x8b);
    usock_response_close(res);
    usock_request_free(r);
}

static void test_bad_gzip(void **state)
{
    (void)state;
    char url[128], *body;
    size_t n;
    usock_response *res;
    base_url(url, sizeof url, "/z/bad");
    assert_ok(usock_urlopen(url, NULL, 0, 5.0, &res, NULL));
    assert_code(usock_response_readall(res, &body, &n), USOCK_EBAD_CONTENT_ENCODING);
    usock_response_close(res);
    /* Framed as complete, but the gzip stream stops early. */
    base_url(url, sizeof url, "/z/cut");
    assert_ok(usock_urlopen(url, NULL, 0, 5.0, &res, NULL));
    assert_code(usock_response_readall(res, &body, &n), USOCK_EBAD_CONTENT_ENCODING);
    usock_response_close(res);
}

/* ---- request bodies ---------------------------------------------------------------- */

static void test_post_data(void **state)
{
    (void)state;
    char url[128], *body;
    base_url(url, sizeof url, "/echo");
    usock_response *res;
    assert_ok(usock_urlopen(url, "a=1&b=2", 7, 5.0, &res, NULL));
    size_t n;
    assert_ok(usock_response_readall(res, &body, &n));
    expect_field(body, "method", "POST");
    expect_field(body, "len", "7");
    expect_field(body, "body", "a=1&b=2");
    expect_field(body, "ctype", "application/x-www-form-urlencoded");
    free(body);
    usock_response_close(res);

    /* A large body from memory, another method, a content type of one's own. */
    size_t big = 300000;
    char *data = pattern_buf(big);
    unsigned sum = 0;
    for (size_t i = 0; i < big; i++)
        sum += (unsigned char)data[i];
    usock_urlrequest *r;
    assert_ok(usock_request_new(&r, url));
    assert_ok(usock_request_set_data(r, data, big));
    assert_string_equal(usock_request_method(r), "POST");
    assert_ok(usock_request_set_method(r, "PUT"));
    assert_ok(usock_request_set_header(r, "Content-Type", "application/octet-stream"));
    assert_ok(usock_urlopen_request(r, 5.0, &res, NULL));
    assert_ok(usock_response_readall(res, &body, &n));
    char want[32];
    snprintf(want, sizeof want, "%u", sum);
    expect_field(body, "method", "PUT");
    expect_field(body, "len", "300000");
    expect_field(body, "sum", want);
    expect_field(body, "ctype", "application/octet-stream");
    free(body);
    usock_response_close(res);
    usock_request_free(r);
    free(data);
}

struct counted {
    size_t left;
    int fail_at_end;
};

static ssize_t counted_read(void *ctx, char *buf, size_t cap)
{
    struct counted *c = ctx;
    if (c->left == 0)
        return c->fail_at_end ? USOCK_EIO : 0;
    size_t n = c->left < cap ? c->left : cap;
    n = n > 1000 ? 1000 : n;
    memset(buf, 'r', n);
    c->left -= n;
    return (ssize_t)n;
}

/* POSTs r's body to /echo; the echo's answer in *body. */
static void post_echo(usock_urlrequest *r, char **body)
{
    usock_response *res;
    size_t n;
    assert_ok(usock_urlopen_request(r, 5.0, &res, NULL));
    assert_ok(usock_response_readall(res, body, &n));
    usock_response_close(res);
}

static void test_body_from_file_and_reader(void **state)
{
    (void)state;
    char url[128], *body, path[] = "/tmp/usock-test-body-XXXXXX";
    base_url(url, sizeof url, "/echo");
    usock_urlrequest *r;
    assert_ok(usock_request_new(&r, url));

    /* A file from its current position to its end: Content-Length. */
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, "skip:file body", 14), 14);
    assert_int_equal(lseek(fd, 5, SEEK_SET), 5);
    assert_ok(usock_request_set_file(r, fd, -1));
    post_echo(r, &body);
    expect_field(body, "len", "9");
    expect_field(body, "body", "file body");
    free(body);
    /* Sent again (a second open): from the same start. */
    post_echo(r, &body);
    expect_field(body, "body", "file body");
    free(body);
    assert_ok(usock_request_set_file(r, fd, 100)); /* longer than the file */
    usock_response *res;
    usock_urlerror err;
    assert_code(usock_urlopen_request(r, 5.0, &res, &err), USOCK_EIO);
    assert_non_null(strstr(err.detail, "the request's body"));
    assert_ok(usock_request_set_file(r, fd, 4)); /* 4 bytes from the current position */
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    assert_ok(usock_request_set_file(r, fd, 4));
    post_echo(r, &body);
    expect_field(body, "body", "skip");
    free(body);
    close(fd);

    /* A pipe: its length unknown, sent chunked. */
    int p[2];
    assert_ok(pipe(p));
    assert_int_equal(write(p[1], "through a pipe", 14), 14);
    close(p[1]);
    assert_ok(usock_request_set_file(r, p[0], -1));
    post_echo(r, &body);
    expect_field(body, "len", "14");
    expect_field(body, "body", "through a pipe");
    free(body);
    close(p[0]);

    /* A reader of unknown length (chunked), then of a known one. */
    struct counted c = {25000, 0};
    assert_ok(usock_request_set_reader(r, counted_read, &c, -1));
    post_echo(r, &body);
    expect_field(body, "len", "25000");
    free(body);
    c.left = 3000;
    assert_ok(usock_request_set_reader(r, counted_read, &c, 3000));
    post_echo(r, &body);
    expect_field(body, "len", "3000");
    free(body);
    /* A reader that fails: the open fails with its code. */
    c.left = 10;
    c.fail_at_end = 1;
    assert_ok(usock_request_set_reader(r, counted_read, &c, -1));
    assert_code(usock_urlopen_request(r, 5.0, &res, &err), USOCK_EIO);
    assert_null(res);
    assert_non_null(strstr(err.detail, "the request's body"));
    usock_request_free(r);
}

static void test_expect_continue(void **state)
{
    (void)state;
    char url[128], *body;
    base_url(url, sizeof url, "/echo");
    usock_urlrequest *r;
    assert_ok(usock_request_new(&r, url));
    assert_ok(usock_request_set_data(r, "after the go-ahead", 18));
    assert_ok(usock_request_set_expect_continue(r, 1));
    post_echo(r, &body);
    expect_field(body, "body", "after the go-ahead");
    free(body);
    usock_request_free(r);

    /* A server that never says 100: the body goes after a second anyway. */
    static const struct step steps[] = {
        {"HTTP/1.1 204 No Content\r\n\r\n", 1, 0},
    };
    struct script s;
    script_start(&s, steps, 1);
    script_url(&s, url, sizeof url, "/quiet");
    assert_ok(usock_request_new(&r, url));
    assert_ok(usock_request_set_data(r, "12345", 5));
    assert_ok(usock_request_set_expect_continue(r, 1));
    usock_response *res;
    assert_ok(usock_urlopen_request(r, 5.0, &res, NULL));
    assert_int_equal(usock_response_status(res), 204);
    usock_response_close(res);
    usock_request_free(r);
    script_stop(&s);
    assert_non_null(strstr(s.last, "\r\nExpect: 100-continue\r\n"));

    /* A final answer instead of 100: it is the response, the body never
     * goes, and the connection is not kept. */
    static const struct step early[] = {
        {"HTTP/1.1 401 Unauthorized\r\nContent-Length: 3\r\n\r\nno\n", 0, 1},
    };
    script_start(&s, early, 1);
    script_url(&s, url, sizeof url, "/early");
    assert_ok(usock_request_new(&r, url));
    assert_ok(usock_request_set_data(r, "never sent", 10));
    assert_ok(usock_request_set_expect_continue(r, 1));
    usock_opener *o = opener_with(NULL);
    assert_code(usock_opener_open(o, r, 5.0, &res, NULL), USOCK_EHTTP_STATUS);
    drain(res);
    usock_opener_free(o);
    usock_request_free(r);
    script_stop(&s);
    assert_int_equal(atomic_load(&s.extra), 0);
}

/* ---- the Request object ---------------------------------------------------------- */

static void test_request_object(void **state)
{
    (void)state;
    usock_urlrequest *r;
    assert_code(usock_request_new(&r, "https://example.com/"), USOCK_EUNSUPPORTED_SCHEME);
    assert_null(r);
    assert_code(usock_request_new(&r, "ftp://example.com/"), USOCK_EUNSUPPORTED_SCHEME);
    assert_code(usock_request_new(&r, "/relative"), USOCK_EURL_RELATIVE);
    assert_code(usock_request_new(&r, NULL), USOCK_EINVAL);
    assert_true(usock_request_new(&r, "http://exa mple.com/") < 0);

    assert_ok(usock_request_new(&r, "http://u%40x:p%3Aw@Example.COM:8080/a/b?q=1#frag"));
    assert_string_equal(usock_request_url(r), "http://example.com:8080/a/b?q=1#frag");
    assert_string_equal(usock_request_method(r), "GET");
    assert_code(usock_request_set_header(r, "X-Bad", "a\r\nInjected: 1"), USOCK_EINVAL);
    assert_code(usock_request_set_header(r, "Bad Name", "v"), USOCK_EINVAL);
    assert_code(usock_request_set_method(r, "GE T"), USOCK_EINVAL);
    assert_ok(usock_request_set_header(r, "X-A", "1"));
    assert_ok(usock_request_set_header(r, "x-a", "2")); /* replaces */
    assert_string_equal(usock_request_header(r, "X-A"), "2");
    assert_ok(usock_request_set_header(r, "X-A", NULL));
    assert_null(usock_request_header(r, "X-A"));
    assert_ok(usock_request_set_data(r, "x", 1));
    assert_string_equal(usock_request_method(r), "POST");
    assert_ok(usock_request_set_method(r, "PATCH"));
    assert_string_equal(usock_request_method(r), "PATCH");
    assert_ok(usock_request_set_method(r, NULL));
    assert_string_equal(usock_request_method(r), "POST");
    assert_code(usock_request_set_data(r, NULL, 3), USOCK_EINVAL);
    assert_code(usock_request_set_reader(r, NULL, NULL, 0), USOCK_EINVAL);
    usock_request_free(r);
    usock_request_free(NULL);

    usock_response *res;
    usock_urlerror err;
    assert_code(usock_urlopen("https://127.0.0.1/", NULL, 0, 1.0, &res, &err),
                USOCK_EUNSUPPORTED_SCHEME);
    assert_null(res);
    assert_int_equal(err.code, USOCK_EUNSUPPORTED_SCHEME);
    assert_code(usock_opener_open(NULL, NULL, 1.0, &res, &err), USOCK_EINVAL);
}

/* ---- redirects ---------------------------------------------------------------------- */

/* method to /redir/CODE with a body of 5 bytes when body; the echo's
 * method and length at the end. */
static void expect_redirect(int code, const char *method, int body, const char *want_method,
                            const char *want_len)
{
    char url[256], *text;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/redir/%d?/echo", srv_port, code);
    usock_urlrequest *r;
    usock_response *res;
    assert_ok(usock_request_new(&r, url));
    if (body) {
        assert_ok(usock_request_set_data(r, "12345", 5));
        assert_ok(usock_request_set_header(r, "Content-Type", "text/x-mine"));
    }
    assert_ok(usock_request_set_method(r, method));
    assert_ok(usock_urlopen_request(r, 5.0, &res, NULL));
    char final[128];
    base_url(final, sizeof final, "/echo");
    assert_string_equal(usock_response_url(res), final);
    size_t n;
    assert_ok(usock_response_readall(res, &text, &n));
    if (strcmp(want_method, "HEAD") != 0) {
        expect_field(text, "method", want_method);
        expect_field(text, "len", want_len);
        if (strcmp(want_len, "0") == 0)
            expect_field(text, "ctype", "-"); /* the dropped body's fields went too */
        else
            expect_field(text, "ctype", "text/x-mine");
    }
    free(text);
    usock_response_close(res);
    usock_request_free(r);
}

static void test_redirect_methods(void **state)
{
    (void)state;
    static const int codes[] = {301, 302, 303, 307, 308};
    for (int i = 0; i < 5; i++)
        expect_redirect(codes[i], "GET", 0, "GET", "0");
    expect_redirect(301, "POST", 1, "GET", "0");
    expect_redirect(302, "POST", 1, "GET", "0");
    expect_redirect(303, "POST", 1, "GET", "0");
    expect_redirect(307, "POST", 1, "POST", "5");
    expect_redirect(308, "POST", 1, "POST", "5");
    expect_redirect(303, "PUT", 1, "GET", "0");
    expect_redirect(301, "PUT", 1, "PUT", "5");
    expect_redirect(307, "DELETE", 0, "DELETE", "0");
    expect_redirect(303, "HEAD", 0, "HEAD", "0");
}

static void test_redirect_relative_and_absolute(void **state)
{
    (void)state;
    char url[256], *body;
    usock_response *res;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/redir/302?../echo?x=1", srv_port);
    assert_ok(usock_urlopen(url, NULL, 0, 5.0, &res, NULL));
    char want[128];
    base_url(want, sizeof want, "/echo?x=1");
    assert_string_equal(usock_response_url(res), want);
    size_t n;
    assert_ok(usock_response_readall(res, &body, &n));
    expect_field(body, "path", "/echo?x=1");
    free(body);
    usock_response_close(res);
    /* Absolute, and a redirect to a redirect. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/redir/301?http://127.0.0.1:%d/redir/307?/hello",
             srv_port, srv_port);
    assert_ok(get(NULL, url, &body, NULL));
    assert_string_equal(body, "hello\n");
    free(body);
}

static void test_redirect_limit_and_loop(void **state)
{
    (void)state;
    char url[128], *body;
    usock_urlerror err;
    base_url(url, sizeof url, "/chain/0");
    assert_code(get(NULL, url, &body, &err), USOCK_ETOO_MANY_REDIRECTS);
    assert_null(body);
    assert_int_equal(err.status, 302);
    assert_non_null(strstr(err.detail, "/chain/10: 302 Found to "));
    assert_non_null(strstr(err.detail, "/chain/11: Too many HTTP redirects"));

    usock_opener_opts oo;
    usock_opener_opts_init(&oo);
    oo.max_redirects = 3;
    usock_opener *o = opener_with(&oo);
    assert_code(get(o, url, &body, &err), USOCK_ETOO_MANY_REDIRECTS);
    assert_non_null(strstr(err.detail, "/chain/3: 302 Found"));
    usock_opener_free(o);

    /* 0: a redirect is an answer. */
    oo.max_redirects = 0;
    o = opener_with(&oo);
    usock_response *res;
    usock_urlrequest *r;
    assert_ok(usock_request_new(&r, url));
    assert_ok(usock_opener_open(o, r, 5.0, &res, &err));
    assert_int_equal(usock_response_status(res), 302);
    assert_string_equal(usock_response_header(res, "Location"), "/chain/1");
    usock_response_close(res);
    usock_request_free(r);
    usock_opener_free(o);

    base_url(url, sizeof url, "/redir/302?http://[::1");
    int rc = get(NULL, url, &body, &err);
    assert_true(rc <= -4101 && rc >= -4199); /* the url layer's */
    assert_non_null(strstr(err.detail, ": redirect to http://[::1: "));

    base_url(url, sizeof url, "/loop");
    assert_code(get(NULL, url, &body, &err), USOCK_EREDIRECT_LOOP);
    assert_non_null(strstr(err.detail, "HTTP redirect loop"));
}

/* The user's Authorization and Cookie, and the URL's credentials, go to
 * the same origin after a redirect, never to another host. */
static void test_redirect_keeps_credentials_home(void **state)
{
    (void)state;
    char url[256], *body;
    usock_urlrequest *r;
    snprintf(url, sizeof url, "http://user:pass@127.0.0.1:%d/redir/302?/echo", srv_port);
    assert_ok(usock_request_new(&r, url));
    assert_ok(usock_request_set_header(r, "Cookie", "mine=1"));
    post_echo(r, &body);
    expect_field(body, "auth", "Basic dXNlcjpwYXNz");
    expect_field(body, "cookie", "mine=1");
    free(body);
    usock_request_free(r);
    if (!srv2)
        skip();
    snprintf(url, sizeof url, "http://user:pass@127.0.0.1:%d/redir/302?http://127.0.0.2:%d/echo",
             srv_port, srv2_port);
    assert_ok(usock_request_new(&r, url));
    assert_ok(usock_request_set_header(r, "Cookie", "mine=1"));
    assert_ok(usock_request_set_header(r, "Authorization", "Bearer secret"));
    assert_ok(usock_request_set_header(r, "X-Hook", "kept"));
    post_echo(r, &body);
    expect_field(body, "auth", "-");
    expect_field(body, "cookie", "-");
    expect_field(body, "hook", "kept");
    free(body);
    usock_request_free(r);
}

static ssize_t once_read(void *ctx, char *buf, size_t cap)
{
    int *left = ctx;
    if (!*left || cap < 3)
        return 0;
    *left = 0;
    memcpy(buf, "abc", 3);
    return 3;
}

static void test_redirect_body_not_replayable(void **state)
{
    (void)state;
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/redir/307?/echo", srv_port);
    usock_urlrequest *r;
    usock_response *res;
    usock_urlerror err;
    int left = 1;
    assert_ok(usock_request_new(&r, url));
    assert_ok(usock_request_set_reader(r, once_read, &left, -1));
    assert_code(usock_urlopen_request(r, 5.0, &res, &err), USOCK_EBODY_NOT_REPLAYABLE);
    assert_null(res);
    assert_int_equal(err.status, 307);
    usock_request_free(r);
}

/* ---- Basic auth -------------------------------------------------------------------- */

static usock_opener *auth_opener(usock_passwords **pw, int default_realm, int preemptive)
{
    usock_opener_opts oo;
    usock_opener_opts_init(&oo);
    assert_ok(usock_passwords_new(pw, default_realm));
    oo.passwords = *pw;
    oo.preemptive_auth = preemptive;
    return opener_with(&oo);
}

static void reset_auth_counts(void)
{
    atomic_store(&unauthorized, 0);
    atomic_store(&auth_requests, 0);
}

static void test_auth_answers_401_once(void **state)
{
    (void)state;
    char url[128], *body;
    usock_passwords *pw;
    usock_opener *o = auth_opener(&pw, 0, 0);
    base_url(url, sizeof url, "/auth/area/page");
    char uri[128];
    base_url(uri, sizeof uri, "/auth/area");
    assert_ok(usock_passwords_add(pw, "R", uri, "user", "pass"));
    reset_auth_counts();
    assert_ok(get(o, url, &body, NULL));
    assert_string_equal(body, "welcome\n");
    free(body);
    assert_int_equal(atomic_load(&unauthorized), 1);
    assert_int_equal(atomic_load(&auth_requests), 2);

    /* Wrong credentials: the second 401 is the answer, no loop. */
    usock_passwords *bad;
    usock_opener *o2 = auth_opener(&bad, 0, 0);
    assert_ok(usock_passwords_add(bad, "R", uri, "user", "wrong"));
    reset_auth_counts();
    usock_urlerror err;
    assert_code(get(o2, url, &body, &err), USOCK_EHTTP_STATUS);
    assert_string_equal(body, "who are you?\n");
    free(body);
    assert_int_equal(err.status, 401);
    assert_int_equal(atomic_load(&auth_requests), 2);

    /* The realm as a token, after another scheme's challenge. */
    base_url(url, sizeof url, "/auth-token");
    usock_passwords *tok;
    usock_opener *o4 = auth_opener(&tok, 0, 0);
    assert_ok(usock_passwords_add(tok, "R", uri, "user", "pass"));
    base_url(uri, sizeof uri, "/auth-token");
    assert_ok(usock_passwords_add(tok, "R", uri, "user", "pass"));
    assert_ok(get(o4, url, &body, NULL));
    free(body);
    usock_opener_free(o4);
    usock_passwords_free(tok);
    base_url(uri, sizeof uri, "/auth/area");

    /* Outside the URI prefix, and another realm: not answered. */
    reset_auth_counts();
    base_url(url, sizeof url, "/auth/areax");
    assert_code(get(o, url, &body, &err), USOCK_EHTTP_STATUS);
    free(body);
    assert_int_equal(atomic_load(&auth_requests), 1);
    usock_passwords *other;
    usock_opener *o3 = auth_opener(&other, 0, 0);
    assert_ok(usock_passwords_add(other, "Elsewhere", uri, "user", "pass"));
    base_url(url, sizeof url, "/auth/area/");
    assert_code(get(o3, url, &body, &err), USOCK_EHTTP_STATUS);
    free(body);
    usock_opener_free(o);
    usock_opener_free(o2);
    usock_opener_free(o3);
    usock_passwords_free(pw);
    usock_passwords_free(bad);
    usock_passwords_free(other);
}

static void test_auth_preemptive(void **state)
{
    (void)state;
    char url[128], *body;
    usock_passwords *pw;
    usock_opener *o = auth_opener(&pw, 0, 1);
    char hostport[64];
    snprintf(hostport, sizeof hostport, "127.0.0.1:%d", srv_port);
    assert_ok(usock_passwords_add(pw, "R", hostport, "user", "pass")); /* host:port form */
    base_url(url, sizeof url, "/auth");
    reset_auth_counts();
    assert_ok(get(o, url, &body, NULL));
    free(body);
    assert_int_equal(atomic_load(&unauthorized), 0);
    /* Not sent where the manager has nothing. */
    base_url(url, sizeof url, "/echo");
    assert_ok(get(o, url, &body, NULL));
    if (srv2) {
        free(body);
        snprintf(url, sizeof url, "http://127.0.0.2:%d/echo", srv2_port);
        assert_ok(get(o, url, &body, NULL));
        expect_field(body, "auth", "-");
    }
    free(body);
    usock_opener_free(o);
    usock_passwords_free(pw);
}

static void test_auth_userinfo(void **state)
{
    (void)state;
    char url[128], *body;
    snprintf(url, sizeof url, "http://user:pass@127.0.0.1:%d/auth", srv_port);
    reset_auth_counts();
    assert_ok(get(NULL, url, &body, NULL));
    assert_string_equal(body, "welcome\n");
    free(body);
    assert_int_equal(atomic_load(&unauthorized), 0);
    /* Percent-escapes in the userinfo are decoded. */
    snprintf(url, sizeof url, "http://us%%65r:p%%61ss@127.0.0.1:%d/auth", srv_port);
    assert_ok(get(NULL, url, &body, NULL));
    free(body);
}

static void test_auth_default_realm(void **state)
{
    (void)state;
    char url[128], uri[128], *body;
    base_url(uri, sizeof uri, "/");
    base_url(url, sizeof url, "/auth");
    usock_passwords *pw;
    usock_opener *o = auth_opener(&pw, 1, 0);
    assert_ok(usock_passwords_add(pw, NULL, uri, "user", "pass"));
    reset_auth_counts();
    assert_ok(get(o, url, &body, NULL));
    free(body);
    assert_int_equal(atomic_load(&unauthorized), 1);
    usock_opener_free(o);
    usock_passwords_free(pw);
    /* The plain manager does not answer realm "R" with realm NULL's. */
    o = auth_opener(&pw, 0, 0);
    assert_ok(usock_passwords_add(pw, NULL, uri, "user", "pass"));
    assert_code(get(o, url, &body, NULL), USOCK_EHTTP_STATUS);
    free(body);
    assert_code(usock_passwords_add(pw, NULL, uri, "us:er", "pass"), USOCK_EINVAL);
    assert_code(usock_passwords_add(pw, NULL, "http://", "user", "pass"), USOCK_EURL_NO_HOST);
    usock_opener_free(o);
    usock_passwords_free(pw);
}

/* ---- errors ------------------------------------------------------------------------- */

static void test_http_error_keeps_response(void **state)
{
    (void)state;
    char url[128];
    base_url(url, sizeof url, "/status/404");
    usock_response *res;
    usock_urlerror err;
    assert_code(usock_urlopen(url, NULL, 0, 5.0, &res, &err), USOCK_EHTTP_STATUS);
    assert_non_null(res);
    assert_int_equal(usock_response_status(res), 404);
    assert_int_equal(err.code, USOCK_EHTTP_STATUS);
    assert_int_equal(err.status, 404);
    char want[160];
    snprintf(want, sizeof want, "GET %s: 404 Not Found", url);
    assert_string_equal(err.detail, want);
    char buf[16];
    assert_count(usock_response_read(res, buf, sizeof buf), 5);
    assert_memory_equal(buf, "nope\n", 5);
    usock_response_close(res);
    base_url(url, sizeof url, "/status/503");
    assert_code(usock_urlopen(url, NULL, 0, 5.0, &res, &err), USOCK_EHTTP_STATUS);
    assert_int_equal(err.status, 503);
    usock_response_close(res);
    assert_string_equal(usock_strerror(USOCK_EHTTP_STATUS), "HTTP error status");
}

static void test_connect_refused(void **state)
{
    (void)state;
    usock_addr a;
    usock *hold = refusing(AF_INET, &a);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port_of(&a));
    usock_response *res;
    usock_urlerror err;
    assert_code(usock_urlopen(url, NULL, 0, 5.0, &res, &err), USOCK_ECONNREFUSED);
    assert_null(res);
    char want[128];
    snprintf(want, sizeof want, "connect 127.0.0.1:%d: Connection refused", port_of(&a));
    assert_string_equal(err.detail, want);
    assert_int_equal(err.status, 0);
    usock_close(hold);
}

static void test_unresolvable_host(void **state)
{
    (void)state;
    usock_response *res;
    usock_urlerror err;
    int rc = usock_urlopen("http://no-such-host..invalid/x", NULL, 0, 5.0, &res, &err);
    assert_true(USOCK_IS_EAI(rc));
    assert_null(res);
    assert_int_equal(err.code, rc);
    assert_true(strncmp(err.detail, "resolve no-such-host..invalid: ", 31) == 0);
}

/* A listener that never accepts: the connect completes in its backlog,
 * the request goes, the answer never comes. */
static void test_read_timeout(void **state)
{
    (void)state;
    int port;
    int lfd = raw_listener(AF_INET, 8, 0, &port);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow", port);
    usock_response *res;
    usock_urlerror err;
    double t0 = now_s();
    assert_code(usock_urlopen(url, NULL, 0, SHORT_TIMEOUT, &res, &err), USOCK_ETIMEDOUT);
    assert_true(now_s() - t0 < 4.0);
    assert_null(res);
    assert_non_null(strstr(err.detail, "/slow: Connection timed out"));
    close(lfd);

    /* A body that stops coming: read times out (the bytes before it come
     * first), and the next read may wait again. */
    static const struct step steps[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab", 0, 0},
    };
    struct script s;
    script_start(&s, steps, 1);
    script_url(&s, url, sizeof url, "/");
    assert_ok(usock_urlopen(url, NULL, 0, 0.5, &res, &err));
    char buf[16];
    assert_count(usock_response_read(res, buf, sizeof buf), 2);
    assert_code(usock_response_read(res, buf, sizeof buf), USOCK_ETIMEDOUT);
    assert_code(usock_response_read(res, buf, sizeof buf), USOCK_ETIMEDOUT);
    usock_response_close(res);
    script_stop(&s);
}

/* A raw listen(0) socket whose accept queue is full: the kernel drops
 * further SYNs, so a connect can end only by its timeout. */
static void test_connect_timeout(void **state)
{
    (void)state;
    int port, fillers[16], n = 0, filled = 0;
    int lfd = raw_listener(AF_INET, 0, 0, &port);
    usock_addr a;
    loopback(&a, AF_INET, port);
    while (n < 16 && !filled) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        fillers[n++] = fd;
        int r = connect(fd, (struct sockaddr *)&a.ss, a.len);
        assert_true(r == 0 || errno == EINPROGRESS);
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        filled = poll(&pf, 1, 100) == 0;
    }
    if (filled) {
        char url[128];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
        usock_response *res;
        usock_urlerror err;
        assert_code(usock_urlopen(url, NULL, 0, SHORT_TIMEOUT, &res, &err), USOCK_ETIMEDOUT);
        char want[128];
        snprintf(want, sizeof want, "connect 127.0.0.1:%d: Connection timed out", port);
        assert_string_equal(err.detail, want);
    }
    for (int i = 0; i < n; i++)
        close(fillers[i]);
    close(lfd);
    if (!filled)
        skip();
}

/* ---- the pool ----------------------------------------------------------------------- */

static void test_pool_reuse(void **state)
{
    (void)state;
    usock_opener *o = opener_with(NULL);
    char url[128], *body;
    uint64_t before = conns_total(srv);
    for (int i = 0; i < 5; i++) {
        base_url(url, sizeof url, i % 2 ? "/hello" : "/chunked");
        assert_ok(get(o, url, &body, NULL));
        free(body);
    }
    /* A redirect's connection serves its target; 401 and its answer too. */
    base_url(url, sizeof url, "/redir/302?/hello");
    assert_ok(get(o, url, &body, NULL));
    free(body);
    base_url(url, sizeof url, "/status/500");
    assert_code(get(o, url, &body, NULL), USOCK_EHTTP_STATUS);
    free(body);
    assert_int_equal(conns_total(srv) - before, 1);

    /* A body left unread: its connection is closed, not pooled. */
    usock_response *res;
    base_url(url, sizeof url, "/z/gzip");
    assert_code(usock_opener_open(o, NULL, 5.0, &res, NULL), USOCK_EINVAL);
    usock_urlrequest *r;
    assert_ok(usock_request_new(&r, url));
    assert_ok(usock_opener_open(o, r, 5.0, &res, NULL));
    char buf[10];
    assert_count(usock_response_read(res, buf, sizeof buf), 10);
    usock_response_close(res);
    usock_request_free(r);
    base_url(url, sizeof url, "/hello");
    assert_ok(get(o, url, &body, NULL));
    free(body);
    assert_int_equal(conns_total(srv) - before, 2);
    usock_opener_free(o);
}

static usock_response *open_url(usock_opener *o, const char *path)
{
    char url[128];
    base_url(url, sizeof url, path);
    usock_urlrequest *r;
    usock_response *res;
    assert_ok(usock_request_new(&r, url));
    assert_ok(usock_opener_open(o, r, 5.0, &res, NULL));
    usock_request_free(r);
    return res;
}

static void drain(usock_response *res)
{
    char *body;
    size_t n;
    assert_ok(usock_response_readall(res, &body, &n));
    free(body);
    usock_response_close(res);
}

/* A response may outlive its opener: it reads on, and its connection
 * closes with it. */
static void test_response_outlives_opener(void **state)
{
    (void)state;
    usock_opener *o = opener_with(NULL);
    drain(open_url(o, "/hello")); /* one idle connection in the pool */
    usock_response *res = open_url(o, "/chunked");
    usock_opener_free(o);
    char *body;
    size_t n;
    assert_ok(usock_response_readall(res, &body, &n));
    assert_string_equal(body, "piece 3\npiece 2\npiece 1\n");
    free(body);
    usock_response_close(res);
}

/* A caller that stops at the last data byte still gives the connection
 * back: the last chunk is already in the buffer. */
static void test_pool_after_last_data_byte(void **state)
{
    (void)state;
    static const struct step steps[] = {
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 0, 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1, 0},
    };
    struct script s;
    script_start(&s, steps, 2);
    usock_opener *o = opener_with(NULL);
    char url[128], buf[5], *body;
    script_url(&s, url, sizeof url, "/");
    usock_urlrequest *r;
    usock_response *res;
    assert_ok(usock_request_new(&r, url));
    assert_ok(usock_opener_open(o, r, 5.0, &res, NULL));
    assert_count(usock_response_read(res, buf, sizeof buf), 5);
    usock_response_close(res);
    usock_request_free(r);
    assert_ok(get(o, url, &body, NULL));
    assert_string_equal(body, "ok");
    free(body);
    usock_opener_free(o);
    script_stop(&s);
    assert_int_equal(atomic_load(&s.accepted), 1);
}

static void test_pool_idle_cap(void **state)
{
    (void)state;
    usock_opener_opts oo;
    usock_opener_opts_init(&oo);
    oo.max_idle = 1;
    usock_opener *o = opener_with(&oo);
    uint64_t before = conns_total(srv);
    /* Two at once need two connections; only one stays idle. */
    usock_response *a = open_url(o, "/hello"), *b = open_url(o, "/hello");
    drain(a);
    drain(b);
    assert_int_equal(conns_total(srv) - before, 2);
    a = open_url(o, "/hello");
    b = open_url(o, "/hello");
    drain(a);
    drain(b);
    assert_int_equal(conns_total(srv) - before, 3);
    usock_opener_free(o);

    /* max_idle 0: no pooling. */
    oo.max_idle = 0;
    o = opener_with(&oo);
    before = conns_total(srv);
    drain(open_url(o, "/hello"));
    drain(open_url(o, "/hello"));
    assert_int_equal(conns_total(srv) - before, 2);
    usock_opener_free(o);
}

static void test_pool_idle_timeout(void **state)
{
    (void)state;
    usock_opener_opts oo;
    usock_opener_opts_init(&oo);
    oo.idle_timeout = 0.5;
    usock_opener *o = opener_with(&oo);
    uint64_t before = conns_total(srv);
    drain(open_url(o, "/hello"));
    drain(open_url(o, "/hello"));
    assert_int_equal(conns_total(srv) - before, 1);
    sleep_ms(700);
    drain(open_url(o, "/hello"));
    assert_int_equal(conns_total(srv) - before, 2);
    usock_opener_free(o);
}

/* A server that keeps the connection after the first answer, reads the
 * second request and closes without answering: the pooled connection
 * looked alive when taken. */
static const struct step stale_steps[] = {
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst", 0, 0},
    {NULL, 0, 0},
    {"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond", 1, 0},
};

static void stale_case(const char *method, int want_rc)
{
    struct script s;
    script_start(&s, stale_steps, 3);
    usock_opener *o = opener_with(NULL);
    char url[128], *body;
    script_url(&s, url, sizeof url, "/s");
    assert_ok(get(o, url, &body, NULL));
    assert_string_equal(body, "first");
    free(body);
    usock_urlrequest *r;
    usock_response *res;
    usock_urlerror err;
    assert_ok(usock_request_new(&r, url));
    assert_ok(usock_request_set_method(r, method));
    if (strcmp(method, "POST") == 0)
        assert_ok(usock_request_set_data(r, "data", 4));
    assert_code(usock_opener_open(o, r, 5.0, &res, &err), want_rc);
    if (want_rc == 0) {
        char buf[16];
        assert_count(usock_response_read(res, buf, sizeof buf), 6);
        usock_response_close(res);
        assert_int_equal(atomic_load(&s.accepted), 2);
    } else {
        assert_null(res);
        assert_non_null(strstr(err.detail, "connection closed without a response"));
        /* The script's last step is left: a new open takes it. */
        assert_ok(get(o, url, &body, NULL));
        assert_string_equal(body, "second");
        free(body);
    }
    usock_request_free(r);
    usock_opener_free(o);
    script_stop(&s);
}

static void test_stale_retried_for_get(void **state)
{
    (void)state;
    stale_case("GET", 0);
}

static void test_stale_not_retried_for_post(void **state)
{
    (void)state;
    stale_case("POST", USOCK_ECONNRESET);
}

/* A server that closed a pooled connection while it was idle: the pool
 * notices before sending, for any method. */
static void test_pool_skips_closed_idle(void **state)
{
    (void)state;
    static const struct step steps[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1, 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK", 1, 0},
    };
    struct script s;
    script_start(&s, steps, 2);
    usock_opener *o = opener_with(NULL);
    char url[128], *body;
    script_url(&s, url, sizeof url, "/");
    assert_ok(get(o, url, &body, NULL));
    free(body);
    /* The script closed after answering; wait until the FIN is here. */
    for (int i = 0; i < 500 && atomic_load(&s.closed) < 1; i++)
        sleep_ms(10);
    sleep_ms(20);
    usock_urlrequest *r;
    usock_response *res;
    assert_ok(usock_request_new(&r, url));
    assert_ok(usock_request_set_data(r, "x", 1));
    assert_ok(usock_opener_open(o, r, 5.0, &res, NULL));
    drain(res);
    usock_request_free(r);
    usock_opener_free(o);
    script_stop(&s);
    assert_int_equal(atomic_load(&s.accepted), 2);
}

/* ---- handlers, cookies, the default opener, threads ----------------------------------- */

struct hooks {
    int requests, responses, freed;
    int statuses[8];
    char url[128];
};

static int hook_request(void *self, usock_urlrequest *r)
{
    struct hooks *h = self;
    h->requests++;
    return usock_request_set_header(r, "X-Hook", "on");
}

/* A 404 is replaced by a request for /echo. */
static int hook_response(void *self, usock_urlrequest *r, usock_response *res,
                         usock_urlrequest **next)
{
    struct hooks *h = self;
    (void)r;
    if (h->responses < 8)
        h->statuses[h->responses] = usock_response_status(res);
    h->responses++;
    if (usock_response_status(res) == 404)
        return usock_request_new(next, h->url);
    if (usock_response_status(res) == 418)
        return USOCK_EPERM;
    return 0;
}

static void hook_free(void *self)
{
    struct hooks *h = self;
    h->freed++;
}

static void test_handlers(void **state)
{
    (void)state;
    struct hooks h = {0};
    base_url(h.url, sizeof h.url, "/echo");
    usock_opener_handler hd = {"test", hook_request, hook_response, hook_free};
    usock_opener *o = opener_with(NULL);
    assert_ok(usock_opener_add_handler(o, &hd, &h));
    char url[128], *body;
    base_url(url, sizeof url, "/redir/302?/status/404");
    assert_ok(get(o, url, &body, NULL));
    expect_field(body, "hook", "on");
    free(body);
    /* Every response, the redirect's included. */
    assert_int_equal(h.responses, 3);
    assert_int_equal(h.statuses[0], 302);
    assert_int_equal(h.statuses[1], 404);
    assert_int_equal(h.statuses[2], 200);
    assert_int_equal(h.requests, 3);
    usock_urlerror err;
    base_url(url, sizeof url, "/status/418");
    assert_code(get(o, url, &body, &err), USOCK_EPERM);
    assert_null(body);
    assert_non_null(strstr(err.detail, "handler test: "));
    usock_opener_free(o);
    assert_int_equal(h.freed, 1);
}

static void test_cookies(void **state)
{
    (void)state;
    usock_cookiejar *jar;
    assert_ok(usock_cookiejar_new(&jar));
    usock_opener_opts oo;
    usock_opener_opts_init(&oo);
    oo.cookies = jar;
    usock_opener *o = opener_with(&oo);
    char url[128], *body;
    base_url(url, sizeof url, "/setcookie");
    assert_ok(get(o, url, &body, NULL));
    free(body);
    assert_int_equal(usock_cookiejar_count(jar), 1);
    base_url(url, sizeof url, "/echo");
    assert_ok(get(o, url, &body, NULL));
    expect_field(body, "cookie", "sid=abc");
    free(body);
    usock_opener_free(o);
    usock_cookiejar_free(jar);
}

static void test_install_opener(void **state)
{
    (void)state;
    struct hooks h = {0};
    base_url(h.url, sizeof h.url, "/echo");
    usock_opener_handler hd = {"installed", hook_request, NULL, NULL};
    usock_opener_opts oo;
    usock_opener_opts_init(&oo);
    oo.user_agent = "tester/1";
    usock_opener *o = opener_with(&oo);
    assert_ok(usock_opener_add_handler(o, &hd, &h));
    usock_install_opener(o);
    char url[128], *body;
    base_url(url, sizeof url, "/echo");
    assert_ok(get(NULL, url, &body, NULL));
    expect_field(body, "hook", "on");
    expect_field(body, "ua", "tester/1");
    free(body);
    usock_install_opener(NULL);
    usock_opener_free(o);
    assert_ok(get(NULL, url, &body, NULL));
    expect_field(body, "hook", "-");
    expect_field(body, "ua", "usock/" USOCK_VERSION_STRING);
    free(body);
}

#define THREADS 4
#define PER_THREAD 25

struct worker {
    usock_opener *o; /* NULL: the default opener */
    int ok;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char url[128];
    for (int i = 0; i < PER_THREAD; i++) {
        base_url(url, sizeof url, i % 3 == 0 ? "/z/gzip" : i % 3 == 1 ? "/chunked" : "/hello");
        usock_urlrequest *r;
        usock_response *res;
        if (usock_request_new(&r, url) < 0)
            continue;
        int rc = w->o ? usock_opener_open(w->o, r, 5.0, &res, NULL)
                      : usock_urlopen_request(r, 5.0, &res, NULL);
        usock_request_free(r);
        if (rc < 0)
            continue;
        char *body;
        size_t n;
        if (usock_response_readall(res, &body, &n) == 0) {
            if (i % 3 != 0 || (n == BIG_TEXT && memcmp(body, big_text, n) == 0))
                w->ok++;
            free(body);
        }
        usock_response_close(res);
    }
    return NULL;
}

static void run_workers(usock_opener *o)
{
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){o, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].ok, PER_THREAD);
    }
}

static void test_threads_share_opener(void **state)
{
    (void)state;
    usock_opener *o = opener_with(NULL);
    uint64_t before = conns_total(srv);
    run_workers(o);
    /* Connections were shared: far fewer than requests. */
    assert_true(conns_total(srv) - before <= 2 * THREADS);
    usock_opener_free(o);
    run_workers(NULL);
}

int main(void)
{
    start_watchdog(240);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_headers_in_order),
        cmocka_unit_test(test_length_body_pieces),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_close_framed_body),
        cmocka_unit_test(test_head_has_no_body),
        cmocka_unit_test(test_truncated_length),
        cmocka_unit_test(test_truncated_chunked),
        cmocka_unit_test(test_malformed_replies),
        cmocka_unit_test(test_lenient_replies),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_deflate_zlib),
        cmocka_unit_test(test_deflate_raw),
        cmocka_unit_test(test_gzip_members_junk_and_others),
        cmocka_unit_test(test_gzip_offered_and_dripped),
        cmocka_unit_test(test_gzip_off),
        cmocka_unit_test(test_bad_gzip),
        cmocka_unit_test(test_post_data),
        cmocka_unit_test(test_body_from_file_and_reader),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_request_object),
        cmocka_unit_test(test_redirect_methods),
        cmocka_unit_test(test_redirect_relative_and_absolute),
        cmocka_unit_test(test_redirect_limit_and_loop),
        cmocka_unit_test(test_redirect_keeps_credentials_home),
        cmocka_unit_test(test_redirect_body_not_replayable),
        cmocka_unit_test(test_auth_answers_401_once),
        cmocka_unit_test(test_auth_preemptive),
        cmocka_unit_test(test_auth_userinfo),
        cmocka_unit_test(test_auth_default_realm),
        cmocka_unit_test(test_http_error_keeps_response),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_unresolvable_host),
        cmocka_unit_test(test_read_timeout),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_pool_reuse),
        cmocka_unit_test(test_response_outlives_opener),
        cmocka_unit_test(test_pool_after_last_data_byte),
        cmocka_unit_test(test_pool_idle_cap),
        cmocka_unit_test(test_pool_idle_timeout),
        cmocka_unit_test(test_stale_retried_for_get),
        cmocka_unit_test(test_stale_not_retried_for_post),
        cmocka_unit_test(test_pool_skips_closed_idle),
        cmocka_unit_test(test_handlers),
        cmocka_unit_test(test_cookies),
        cmocka_unit_test(test_install_opener),
        cmocka_unit_test(test_threads_share_opener),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
