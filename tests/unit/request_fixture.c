/* request_fixture.c -- the servers test_request and test_opener run
 * against; see request_fixture.h. */
#define _XOPEN_SOURCE 700
#include "request_fixture.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* ---- the httpd server and its handlers ------------------------------------- */

usock_httpd *srv, *srv2;
int srv_port, srv2_port;
atomic_int unauthorized, auth_requests;

void base_url(char *buf, size_t cap, const char *path)
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

char *big_text;

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

uint64_t conns_total(usock_httpd *h)
{
    usock_httpd_stats st;
    usock_httpd_stats_get(h, &st);
    return st.conns_total;
}

int setup_all(void **state)
{
    (void)state;
    make_big_text();
    srv = start_httpd("127.0.0.1", &srv_port);
    assert_non_null(srv);
    srv2 = start_httpd("127.0.0.2", &srv2_port); /* NULL where 127.0.0.2 is not loopback */
    return 0;
}

int teardown_all(void **state)
{
    (void)state;
    usock_httpd_close(srv);
    usock_httpd_close(srv2);
    free(big_text);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------- */

usock_opener *opener_with(const usock_opener_opts *o)
{
    usock_opener *op;
    assert_ok(usock_opener_new(&op, o));
    return op;
}

int get(usock_opener *o, const char *url, char **body, usock_urlerror *err)
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

void expect_field(const char *body, const char *name, const char *value)
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

void post_echo(usock_urlrequest *r, char **body)
{
    usock_response *res;
    size_t n;
    assert_ok(usock_urlopen_request(r, 5.0, &res, NULL));
    assert_ok(usock_response_readall(res, body, &n));
    usock_response_close(res);
}

void drain(usock_response *res)
{
    char *body;
    size_t n;
    assert_ok(usock_response_readall(res, &body, &n));
    free(body);
    usock_response_close(res);
}

/* ---- raw scripted servers ------------------------------------------------------ */

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

void script_start(struct script *s, const struct step *steps, int n)
{
    memset(s, 0, sizeof *s);
    s->steps = steps;
    s->nsteps = n;
    s->lfd = raw_listener(AF_INET, 16, 0, &s->port);
    assert_int_equal(pthread_create(&s->th, NULL, script_main, s), 0);
}

void script_stop(struct script *s)
{
    pthread_join(s->th, NULL);
    close(s->lfd);
}

void script_url(const struct script *s, char *buf, size_t cap, const char *path)
{
    snprintf(buf, cap, "http://127.0.0.1:%d%s", s->port, path);
}
