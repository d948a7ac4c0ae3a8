/* test_opener.c -- what the HTTP client's opener (request.h) does across
 * requests, against the servers of request_fixture.h: redirects (codes,
 * methods, relative Location, limit, loops, credentials across hosts),
 * Basic auth (once, preemptive, userinfo, default realm), an HTTP error
 * that keeps its response, the pool (reuse, idle cap, idle timeout, stale
 * retries), handlers, cookies, install_opener and threads sharing an
 * opener. What one request and its response do is test_request.c's.
 * Every wait is bounded; nothing asserts how long something took. */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request_fixture.h"

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

/* ---- HTTP errors -------------------------------------------------------------------- */

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
