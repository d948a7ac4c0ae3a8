/* test_httpd.c -- the HTTP/1.1 server (httpd.h): a server on 127.0.0.1:0
 * in this process, with handlers, and raw-socket clients in the test's own
 * thread: keep-alive, pipelining, HTTP/1.0, 100-continue, chunked bodies,
 * the error statuses of bad requests, routes, streams, static files
 * (304, Range, 416, HEAD, listings, traversal attempts), limits, timeouts,
 * and a shutdown that leaves no descriptor behind. Every wait is bounded;
 * nothing asserts how long something took. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

/* ---- the server ----------------------------------------------------------- */

static usock_httpd *srv;
static int srv_port;
static char root[64];

static int h_hello(const usock_httpd_req *req, usock_httpd_res *res)
{
    (void)req;
    return usock_httpd_respond(res, 200, "text/plain", "hello\n", 6);
}

/* Answers with the path and the body's length: "PATH LEN\n". */
static int h_echo(const usock_httpd_req *req, usock_httpd_res *res)
{
    char out[512];
    int n = snprintf(out, sizeof out, "%.*s %zu\n", (int)req->path.n, req->path.p, req->body_len);
    return usock_httpd_respond(res, 200, "text/plain", out, (size_t)n);
}

/* Answers with the body itself. */
static int h_body(const usock_httpd_req *req, usock_httpd_res *res)
{
    usock_httpd_header(res, "X-Query", "");
    return usock_httpd_respond(res, 200, "application/octet-stream", req->body, req->body_len);
}

static int h_fail(const usock_httpd_req *req, usock_httpd_res *res)
{
    (void)req;
    (void)res;
    return USOCK_EIO;
}

struct counter {
    int left;
};

static ssize_t next_piece(void *ctx, char *buf, size_t cap)
{
    struct counter *c = ctx;
    if (c->left == 0)
        return 0;
    int n = snprintf(buf, cap, "piece %d\n", c->left--);
    return n;
}

static void done_piece(void *ctx)
{
    free(ctx);
}

static int h_stream(const usock_httpd_req *req, usock_httpd_res *res)
{
    (void)req;
    struct counter *c = malloc(sizeof *c);
    if (!c)
        return USOCK_ENOMEM;
    c->left = 3;
    return usock_httpd_respond_stream(res, 200, "text/plain", next_piece, done_piece, c);
}

static void start_server(const usock_httpd_opts *o)
{
    usock_addr a;
    assert_ok(usock_addr_from_ip(&a, "127.0.0.1", 0));
    usock_httpd_opts def;
    usock_httpd_opts_init(&def);
    def.workers = 2;
    assert_ok(usock_httpd_new(&srv, &a, o ? o : &def));
    assert_ok(usock_httpd_route(srv, NULL, "/hello", h_hello, NULL));
    assert_ok(usock_httpd_route(srv, NULL, "/echo", h_echo, NULL));
    assert_ok(usock_httpd_route(srv, "POST", "/body", h_body, NULL));
    assert_ok(usock_httpd_route(srv, "PUT", "/body", h_body, NULL));
    assert_ok(usock_httpd_route(srv, NULL, "/fail", h_fail, NULL));
    assert_ok(usock_httpd_route(srv, "GET", "/stream", h_stream, NULL));
    if (root[0])
        assert_ok(usock_httpd_route_static(srv, "/static/", root));
    assert_ok(usock_httpd_address(srv, &a));
    srv_port = usock_addr_port(&a);
    assert_ok(usock_httpd_start(srv));
}

static void stop_server(void)
{
    usock_httpd_close(srv);
    srv = NULL;
}

/* ---- raw clients ------------------------------------------------------------ */

static int client(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv_port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    return fd;
}

/* One response read from fd (bounded): status, head text, body. */
struct resp {
    int status;
    int version;
    char head[4096];
    char body[512 * 1024];
    size_t body_len;
    int eof; /* the server closed after it */
};

static char inbuf[512 * 1024];
static size_t inlen;

static int fill(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, EXPECT_MS) != 1)
        return -1;
    ssize_t n = recv(fd, inbuf + inlen, sizeof inbuf - inlen, 0);
    if (n <= 0)
        return 0;
    inlen += (size_t)n;
    return 1;
}

/* Reads one response (the buffer keeps what follows it). head_req: the
 * request was HEAD. Returns 0, or -1 on EOF or timeout before it. */
static int read_resp(int fd, struct resp *r, int head_req)
{
    memset(r, 0, offsetof(struct resp, body));
    r->body_len = 0;
    usock_http_parser p;
    usock_http_msg m;
    usock_http_header hs[64];
    usock_http_parser_init(&p, USOCK_HTTP_RESPONSE);
    p.head_request = head_req;
    int n;
    while ((n = usock_http_parse_head(&p, inbuf, inlen, &m, hs, 64)) == 0)
        if (fill(fd) <= 0)
            return -1;
    assert_true(n > 0);
    r->status = m.status;
    r->version = m.version;
    snprintf(r->head, sizeof r->head, "%.*s", n, inbuf);
    size_t at = (size_t)n;
    while (!usock_http_body_done(&p)) {
        if (at == inlen) {
            int f = fill(fd);
            if (f < 0)
                return -1;
            if (f == 0) {
                assert_int_equal(usock_http_parse_eof(&p), 0);
                r->eof = 1;
                break;
            }
        }
        const char *d;
        size_t dl = 0;
        ssize_t used = usock_http_parse_body(&p, inbuf + at, inlen - at, &d, &dl);
        assert_true(used >= 0);
        assert_true(r->body_len + dl <= sizeof r->body);
        if (dl)
            memcpy(r->body + r->body_len, d, dl);
        r->body_len += dl;
        at += (size_t)used;
    }
    memmove(inbuf, inbuf + at, inlen - at);
    inlen -= at;
    return 0;
}

/* After the responses: the server closes the connection (EOF, bounded). */
static void expect_closed(int fd)
{
    while (inlen == 0 || 1) {
        inlen = 0;
        int f = fill(fd);
        assert_true(f >= 0); /* not a timeout */
        if (f == 0)
            return;
    }
}

static void expect_open(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, QUIET_MS), 0);
}

/* One request, one response on a fresh connection. */
static void roundtrip(const char *req, struct resp *r)
{
    int fd = client();
    inlen = 0;
    raw_send_str(fd, req);
    assert_int_equal(read_resp(fd, r, strncmp(req, "HEAD ", 5) == 0), 0);
    close(fd);
}

static int has_header(const struct resp *r, const char *line)
{
    return strstr(r->head, line) != NULL;
}

static struct resp R;

/* ---- the core ---------------------------------------------------------------- */

static void test_keepalive(void **state)
{
    (void)state;
    start_server(NULL);
    int fd = client();
    inlen = 0;
    for (int i = 0; i < 3; i++) {
        raw_send_str(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_int_equal(read_resp(fd, &R, 0), 0);
        assert_int_equal(R.status, 200);
        assert_int_equal(R.body_len, 6);
        assert_memory_equal(R.body, "hello\n", 6);
        assert_true(has_header(&R, "Server: usock/"));
        assert_true(has_header(&R, "Date: "));
        assert_false(has_header(&R, "Connection: close"));
    }
    expect_open(fd);
    close(fd);
    stop_server();
}

static void test_pipelining(void **state)
{
    (void)state;
    start_server(NULL);
    int fd = client();
    inlen = 0;
    raw_send_str(fd, "GET /echo/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                     "POST /echo/2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde"
                     "GET /echo/3 HTTP/1.1\r\nHost: x\r\n\r\n");
    const char *want[] = {"/echo/1 0\n", "/echo/2 5\n", "/echo/3 0\n"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(read_resp(fd, &R, 0), 0);
        assert_int_equal(R.status, 200);
        R.body[R.body_len] = '\0';
        assert_string_equal(R.body, want[i]);
    }
    /* and the connection goes on */
    raw_send_str(fd, "GET /echo/4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_int_equal(read_resp(fd, &R, 0), 0);
    assert_true(has_header(&R, "Connection: close"));
    expect_closed(fd);
    close(fd);
    stop_server();
}

static void test_http10(void **state)
{
    (void)state;
    start_server(NULL);
    int fd = client();
    inlen = 0;
    raw_send_str(fd, "GET /hello HTTP/1.0\r\n\r\n");
    assert_int_equal(read_resp(fd, &R, 0), 0);
    assert_int_equal(R.version, 10);
    assert_int_equal(R.status, 200);
    expect_closed(fd);
    close(fd);
    /* 1.0 with keep-alive asked for stays open */
    fd = client();
    inlen = 0;
    raw_send_str(fd, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_int_equal(read_resp(fd, &R, 0), 0);
    assert_true(has_header(&R, "Connection: keep-alive"));
    raw_send_str(fd, "GET /hello HTTP/1.0\r\n\r\n");
    assert_int_equal(read_resp(fd, &R, 0), 0);
    assert_int_equal(R.status, 200);
    expect_closed(fd);
    close(fd);
    stop_server();
}

static void test_continue(void **state)
{
    (void)state;
    start_server(NULL);
    int fd = client();
    inlen = 0;
    raw_send_str(fd, "PUT /body HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                     "Expect: 100-continue\r\n\r\n");
    assert_int_equal(read_resp(fd, &R, 0), 0);
    assert_int_equal(R.status, 100);
    raw_send_str(fd, "data");
    assert_int_equal(read_resp(fd, &R, 0), 0);
    assert_int_equal(R.status, 200);
    assert_int_equal(R.body_len, 4);
    assert_memory_equal(R.body, "data", 4);
    close(fd);
    stop_server();
}

static void test_chunked_body(void **state)
{
    (void)state;
    start_server(NULL);
    int fd = client();
    inlen = 0;
    raw_send_str(fd, "POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n");
    raw_send_str(fd, "6\r\n world\r\n0\r\n\r\n");
    assert_int_equal(read_resp(fd, &R, 0), 0);
    assert_int_equal(R.status, 200);
    assert_int_equal(R.body_len, 11);
    assert_memory_equal(R.body, "hello world", 11);
    /* a body bigger than the input buffer, in many pieces */
    size_t big = 300 * 1000;
    char *data = pattern_buf(big);
    char headbuf[128];
    snprintf(headbuf, sizeof headbuf, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", big);
    raw_send_str(fd, headbuf);
    struct sender sd = {.fd = fd, .data = data, .n = big};
    sender_start(&sd);
    assert_int_equal(read_resp(fd, &R, 0), 0);
    sender_join(&sd);
    assert_int_equal(R.status, 200);
    assert_int_equal(R.body_len, big);
    assert_memory_equal(R.body, data, big);
    free(data);
    close(fd);
    stop_server();
}

static void test_bad_requests(void **state)
{
    (void)state;
    usock_httpd_opts o;
    usock_httpd_opts_init(&o);
    o.workers = 1;
    o.max_body = 1000;
    start_server(&o);
    static char longline[10000], manyhdr[80000];
    memcpy(longline, "GET /", 5);
    memset(longline + 5, 'a', 9000);
    strcpy(longline + 9005, " HTTP/1.1\r\nHost: x\r\n\r\n");
    strcpy(manyhdr, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 200; i++)
        sprintf(manyhdr + strlen(manyhdr), "X-H%d: v\r\n", i);
    strcat(manyhdr, "\r\n");
    struct {
        const char *req;
        int status;
    } cases[] = {
        {"GET /hello HTTP/1.1\r\n\r\n", 400},                        /* no Host */
        {"GET /hello HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n", 400},
        {"GET /hello HTTP/1.1\nHost: x\n\n", 400},                   /* bare LF */
        {"GET /hello HTTP/3.0\r\nHost: x\r\n\r\n", 505},
        {"GET /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
        {"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413},
        {"POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n", 413},
        {longline, 414},
        {manyhdr, 431},
        {"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", 404},
        {"GET /body HTTP/1.1\r\nHost: x\r\n\r\n", 405},
        {"GET /fail HTTP/1.1\r\nHost: x\r\n\r\n", 500},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int fd = client();
        inlen = 0;
        raw_send_str(fd, cases[i].req);
        if (read_resp(fd, &R, 0) != 0)
            fail_msg("case %zu: no response (%zu bytes: %.*s) errno %d", i, inlen, (int)inlen, inbuf, errno);
        if (R.status != cases[i].status)
            fail_msg("case %zu: status %d, want %d", i, R.status, cases[i].status);
        if (cases[i].status >= 400 && cases[i].status != 404 && cases[i].status != 405 &&
            cases[i].status != 500) {
            assert_true(has_header(&R, "Connection: close"));
            expect_closed(fd);
        }
        close(fd);
    }
    stop_server();
}

static void test_routes_and_stream(void **state)
{
    (void)state;
    start_server(NULL);
    roundtrip("GET /echo/a/b?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", &R);
    R.body[R.body_len] = '\0';
    assert_string_equal(R.body, "/echo/a/b 0\n");
    roundtrip("GET http://x/echo/abs?q HTTP/1.1\r\nHost: x\r\n\r\n", &R);
    R.body[R.body_len] = '\0';
    assert_string_equal(R.body, "/echo/abs 0\n");
    roundtrip("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n", &R);
    assert_int_equal(R.status, 200);
    assert_true(has_header(&R, "Content-Length: 6"));
    assert_int_equal(R.body_len, 0);
    roundtrip("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n", &R);
    assert_int_equal(R.status, 200);
    assert_true(has_header(&R, "Transfer-Encoding: chunked"));
    R.body[R.body_len] = '\0';
    assert_string_equal(R.body, "piece 3\npiece 2\npiece 1\n");
    roundtrip("GET /stream HTTP/1.0\r\n\r\n", &R);
    assert_true(R.eof);
    R.body[R.body_len] = '\0';
    assert_string_equal(R.body, "piece 3\npiece 2\npiece 1\n");
    roundtrip("GET /_status.json HTTP/1.1\r\nHost: x\r\n\r\n", &R);
    assert_int_equal(R.status, 200);
    R.body[R.body_len] = '\0';
    assert_non_null(strstr(R.body, "\"connections_total\""));
    roundtrip("GET /_status HTTP/1.1\r\nHost: x\r\n\r\n", &R);
    assert_int_equal(R.status, 200);
    R.body[R.body_len] = '\0';
    assert_non_null(strstr(R.body, "<svg"));
    stop_server();
}

/* ---- static files --------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const char *data, size_t n)
{
    char p[512];
    path_in(p, sizeof p, dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static char outside[64];

static void make_root(void)
{
    temp_dir_make(root, sizeof root);
    temp_dir_make(outside, sizeof outside);
    write_file(root, "a.txt", "0123456789", 10);
    write_file(outside, "secret.txt", "secret", 6);
    char p[512], q[512];
    path_in(p, sizeof p, root, "sub");
    assert_int_equal(mkdir(p, 0755), 0);
    write_file(p, "x <&>\".txt", "x", 1);
    path_in(p, sizeof p, root, "withindex");
    assert_int_equal(mkdir(p, 0755), 0);
    write_file(p, "index.html", "<p>index</p>", 12);
    char *big = pattern_buf(200000);
    write_file(root, "big.bin", big, 200000);
    free(big);
    path_in(p, sizeof p, root, "escape");
    path_in(q, sizeof q, outside, "secret.txt");
    assert_int_equal(symlink(q, p), 0);
    path_in(p, sizeof p, root, "escapedir");
    assert_int_equal(symlink(outside, p), 0);
}

static void remove_root(void)
{
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    nftw(outside, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    root[0] = '\0';
}

static void test_static(void **state)
{
    (void)state;
    make_root();
    start_server(NULL);
    roundtrip("GET /static/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", &R);
    assert_int_equal(R.status, 200);
    assert_int_equal(R.body_len, 10);
    assert_true(has_header(&R, "Content-Type: text/plain"));
    char *etag = strstr(R.head, "ETag: ");
    assert_non_null(etag);
    char tag[80];
    sscanf(etag + 6, "%79[^\r]", tag);
    char *lm = strstr(R.head, "Last-Modified: ");
    assert_non_null(lm);
    char date[64];
    sscanf(lm + 15, "%63[^\r]", date);
    char req[512];
    snprintf(req, sizeof req, "GET /static/a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n\r\n", tag);
    roundtrip(req, &R);
    assert_int_equal(R.status, 304);
    assert_int_equal(R.body_len, 0);
    snprintf(req, sizeof req, "GET /static/a.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: %s\r\n\r\n", date);
    roundtrip(req, &R);
    assert_int_equal(R.status, 304);
    roundtrip("GET /static/a.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n", &R);
    assert_int_equal(R.status, 200);
    roundtrip("GET /static/a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=2-4\r\n\r\n", &R);
    assert_int_equal(R.status, 206);
    assert_true(has_header(&R, "Content-Range: bytes 2-4/10"));
    assert_int_equal(R.body_len, 3);
    assert_memory_equal(R.body, "234", 3);
    roundtrip("GET /static/a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=-3\r\n\r\n", &R);
    assert_int_equal(R.status, 206);
    assert_memory_equal(R.body, "789", 3);
    roundtrip("GET /static/a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=10-\r\n\r\n", &R);
    assert_int_equal(R.status, 416);
    assert_true(has_header(&R, "Content-Range: bytes */10"));
    roundtrip("HEAD /static/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", &R);
    assert_int_equal(R.status, 200);
    assert_true(has_header(&R, "Content-Length: 10"));
    assert_int_equal(R.body_len, 0);
    roundtrip("GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n", &R);
    assert_int_equal(R.status, 200);
    assert_int_equal(R.body_len, 200000);
    char *big = pattern_buf(200000);
    assert_memory_equal(R.body, big, 200000);
    roundtrip("GET /static/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100000-149999\r\n\r\n", &R);
    assert_int_equal(R.status, 206);
    assert_int_equal(R.body_len, 50000);
    assert_memory_equal(R.body, big + 100000, 50000);
    /* pipelined behind a file sent by sendfile: still in order */
    int fd = client();
    inlen = 0;
    raw_send_str(fd, "GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                     "GET /static/a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                     "HEAD /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                     "GET /static/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=5-9\r\n\r\n");
    assert_int_equal(read_resp(fd, &R, 0), 0);
    assert_int_equal(R.body_len, 200000);
    assert_memory_equal(R.body, big, 200000);
    assert_int_equal(read_resp(fd, &R, 0), 0);
    assert_int_equal(R.body_len, 10);
    assert_memory_equal(R.body, "0123456789", 10);
    assert_int_equal(read_resp(fd, &R, 1), 0);
    assert_true(has_header(&R, "Content-Length: 200000"));
    assert_int_equal(read_resp(fd, &R, 0), 0);
    assert_int_equal(R.status, 206);
    assert_memory_equal(R.body, big + 5, 5);
    close(fd);
    free(big);
    roundtrip("GET /static/sub/ HTTP/1.1\r\nHost: x\r\n\r\n", &R);
    assert_int_equal(R.status, 200);
    R.body[R.body_len] = '\0';
    assert_non_null(strstr(R.body, "href=\"x%20%3C%26%3E%22.txt\""));
    assert_non_null(strstr(R.body, ">x &lt;&amp;&gt;&quot;.txt</a>"));
    roundtrip("GET /static/sub HTTP/1.1\r\nHost: x\r\n\r\n", &R);
    assert_int_equal(R.status, 301);
    assert_true(has_header(&R, "Location: /static/sub/"));
    roundtrip("GET /static/withindex/ HTTP/1.1\r\nHost: x\r\n\r\n", &R);
    assert_int_equal(R.status, 200);
    assert_int_equal(R.body_len, 12);
    const char *attempts[] = {
        "GET /static/../static/a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /static/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /static/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /static/sub/..%2f..%2fx HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /static/escape HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /static/escapedir/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
        roundtrip(attempts[i], &R);
        if (R.status != 403 && R.status != 404 && R.status != 400)
            fail_msg("attempt %zu: status %d", i, R.status);
        R.body[R.body_len] = '\0';
        assert_null(strstr(R.body, "secret"));
    }
    roundtrip("GET /static/%00 HTTP/1.1\r\nHost: x\r\n\r\n", &R);
    assert_int_equal(R.status, 400);
    roundtrip("GET /static/nope.txt HTTP/1.1\r\nHost: x\r\n\r\n", &R);
    assert_int_equal(R.status, 404);
    roundtrip("POST /static/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &R);
    assert_int_equal(R.status, 405);
    assert_true(has_header(&R, "Allow: GET, HEAD"));
    stop_server();
    remove_root();
}

static void test_mime(void **state)
{
    (void)state;
    assert_string_equal(usock_httpd_mime_type("a/b.HTML"), "text/html; charset=utf-8");
    assert_string_equal(usock_httpd_mime_type("x.png"), "image/png");
    assert_string_equal(usock_httpd_mime_type("x.d/noext"), "application/octet-stream");
    assert_string_equal(usock_httpd_mime_type("x"), "application/octet-stream");
}

/* ---- protection -------------------------------------------------------------- */

static void test_header_timeout(void **state)
{
    (void)state;
    usock_httpd_opts o;
    usock_httpd_opts_init(&o);
    o.workers = 1;
    o.header_timeout = 0.3;
    o.keepalive_timeout = 0.3;
    start_server(&o);
    /* a slow head: closed (408) even though bytes keep coming */
    int fd = client();
    inlen = 0;
    raw_send_str(fd, "GET /hello HTTP/1.1\r\n");
    int closed = 0;
    for (int i = 0; i < 100 && !closed; i++) {
        if (send(fd, "X", 1, MSG_NOSIGNAL) < 0)
            closed = 1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) == 1)
            closed = 1;
    }
    assert_true(closed);
    close(fd);
    /* an idle keep-alive connection is closed */
    fd = client();
    inlen = 0;
    raw_send_str(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(fd, &R, 0), 0);
    expect_closed(fd);
    close(fd);
    stop_server();
}

static void test_max_conns(void **state)
{
    (void)state;
    usock_httpd_opts o;
    usock_httpd_opts_init(&o);
    o.workers = 1;
    o.max_conns = 2;
    start_server(&o);
    int a = client(), b = client();
    inlen = 0;
    raw_send_str(a, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(a, &R, 0), 0);
    raw_send_str(b, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(b, &R, 0), 0);
    int c = client(); /* waits in the backlog */
    raw_send_str(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_open(c);
    close(a);
    assert_int_equal(read_resp(c, &R, 0), 0);
    assert_int_equal(R.status, 200);
    close(b);
    close(c);
    stop_server();
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void test_shutdown(void **state)
{
    (void)state;
    int before = count_fds();
    start_server(NULL);
    int idle = client();
    inlen = 0;
    raw_send_str(idle, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_resp(idle, &R, 0), 0);
    int partial = client();
    raw_send_str(partial, "GET /hel");
    usock_httpd_stop(srv);
    usock_httpd_wait(srv);
    expect_closed(idle);
    expect_closed(partial);
    close(idle);
    close(partial);
    stop_server();
    if (before >= 0)
        assert_int_equal(count_fds(), before);
}

/* Out of descriptors: accept backs off, nobody crashes, and the clients
 * that waited are served once descriptors are free again. */
static void test_emfile(void **state)
{
    (void)state;
    if (getenv("USOCK_UNDER_VALGRIND"))
        skip(); /* valgrind keeps descriptors of its own above the limit */
    usock_httpd_opts o;
    usock_httpd_opts_init(&o);
    o.workers = 1;
    start_server(&o);
    enum { N = 4 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
    }
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    int maxfd = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            maxfd = fd;
    low = old;
    low.rlim_cur = (rlim_t)maxfd + 1;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    /* fill the holes below the limit: no new descriptor at all */
    int fill_fds[256], nfill = 0;
    while (nfill < 256 && (fill_fds[nfill] = dup(0)) >= 0)
        nfill++;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv_port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(connect(fds[i], (struct sockaddr *)&sin, sizeof sin), 0);
        raw_send_str(fds[i], "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    expect_open(fds[0]); /* nobody served, the server alive */
    for (int i = 0; i < nfill; i++)
        close(fill_fds[i]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    for (int i = 0; i < N; i++) {
        inlen = 0;
        assert_int_equal(read_resp(fds[i], &R, 0), 0);
        assert_int_equal(R.status, 200);
        close(fds[i]);
    }
    stop_server();
}

static void test_peer_vanishes(void **state)
{
    (void)state;
    make_root();
    start_server(NULL);
    for (int i = 0; i < 20; i++) {
        int fd = client();
        raw_send_str(fd, "GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
        raw_reset(fd);
    }
    roundtrip("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &R);
    assert_int_equal(R.status, 200);
    stop_server();
    remove_root();
}

int main(void)
{
    start_watchdog(240);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keepalive),     cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_http10),        cmocka_unit_test(test_continue),
        cmocka_unit_test(test_chunked_body),  cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_routes_and_stream), cmocka_unit_test(test_static),
        cmocka_unit_test(test_mime),          cmocka_unit_test(test_header_timeout),
        cmocka_unit_test(test_max_conns),     cmocka_unit_test(test_shutdown),
        cmocka_unit_test(test_emfile),        cmocka_unit_test(test_peer_vanishes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
