/* test_request.c -- the HTTP client (request.h) on one request and its
 * response, against the servers of request_fixture.h: the head, the
 * framings and reading them (a truncated body is an error, never a silent
 * end), gzip and deflate, request bodies from memory, files, pipes and
 * readers, Expect: 100-continue, the Request object, lenient replies, and
 * the errors that come before any response (refused, unresolvable,
 * timeouts). What the opener does across requests is test_opener.c's.
 * Every wait is bounded; nothing asserts how long something took. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "request_fixture.h"

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
    assert_ok(usock_request_new(&r, "https://example.com/"));
    usock_request_free(r);
    assert_code(usock_request_new(&r, "ftp://example.com/"), USOCK_EUNSUPPORTED_SCHEME);
    assert_null(r);
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
    assert_code(usock_urlopen("ftp://127.0.0.1/", NULL, 0, 1.0, &res, &err),
                USOCK_EUNSUPPORTED_SCHEME);
    assert_null(res);
    assert_int_equal(err.code, USOCK_EUNSUPPORTED_SCHEME);
    assert_code(usock_opener_open(NULL, NULL, 1.0, &res, &err), USOCK_EINVAL);
}

/* ---- errors before a response -------------------------------------------------------- */

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
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_unresolvable_host),
        cmocka_unit_test(test_read_timeout),
        cmocka_unit_test(test_connect_timeout),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
