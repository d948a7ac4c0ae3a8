/* test_proxy.c -- the HTTP client's proxies (request_proxy.c, and the
 * opener's use of them in request_conn.c and request_response.c): the
 * proxy URL's parsing (scheme-less host:port, the default port 1080,
 * credentials into Basic, the schemes and malformed URLs refused), the
 * environment as urllib reads it (lowercase first, HTTP_PROXY ignored in
 * a CGI script, "" for none, explicit options over the environment), every
 * form of a no_proxy entry, and an opener that talks to a small proxy
 * thread of this file: the absolute-form target and Proxy-Authorization
 * of a forwarded request, the pool kept per proxy, no_proxy sending a
 * request direct, a refused CONNECT (USOCK_EPROXY and its detail).
 *
 * The internals (usock__proxies_init, usock__proxy_for) are called
 * directly: unit tests have src/ on their include path. Each test starts
 * and ends with the proxy variables out of the environment. Every wait is
 * bounded; nothing asserts how long something took.
 *
 * Bugs found are kept as tests left out of main()'s list, each with a
 * comment naming the bug. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "request_priv.h"

/* ---- the environment --------------------------------------------------------------- */

static const char *const proxy_vars[] = {
    "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",    "no_proxy",
    "NO_PROXY",   "all_proxy",  "ALL_PROXY",   "REQUEST_METHOD",
};

/* Setup and teardown of every test: none of the variables is set. */
static int clean_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof proxy_vars / sizeof proxy_vars[0]; i++)
        unsetenv(proxy_vars[i]);
    return 0;
}

static void set(const char *name, const char *value)
{
    assert_int_equal(setenv(name, value, 1), 0);
}

/* ---- helpers ----------------------------------------------------------------------- */

/* usock__proxies_init must succeed. */
static void init_ok(struct usock__proxies *p, const char *proxy, const char *no_proxy)
{
    assert_ok(usock__proxies_init(p, proxy, no_proxy));
}

/* The proxy for url, or NULL (direct). */
static const struct usock__proxy *proxy_for(const struct usock__proxies *p, const char *url)
{
    usock_urlrequest *r;
    assert_ok(usock_request_new(&r, url));
    int err;
    const struct usock__proxy *x = usock__proxy_for(p, r, &err);
    usock_request_free(r);
    assert_int_equal(err, 0);
    return x;
}

/* One proxy: host, port and auth (NULL: none) as wanted. */
static void expect_proxy(const struct usock__proxy *x, const char *host, int port, const char *auth)
{
    assert_non_null(x);
    assert_non_null(x->host);
    assert_string_equal(x->host, host);
    assert_int_equal(x->port, port);
    if (auth) {
        assert_non_null(x->auth);
        assert_string_equal(x->auth, auth);
    } else {
        assert_null(x->auth);
    }
}

/* Both schemes' proxies are the one parsed from text. */
static void expect_parsed(const char *text, const char *host, int port, const char *auth)
{
    struct usock__proxies p;
    init_ok(&p, text, "");
    expect_proxy(&p.http, host, port, auth);
    expect_proxy(&p.https, host, port, auth);
    usock__proxies_free(&p);
}

/* text is refused as a proxy URL with code. */
static void expect_refused(const char *text, int code)
{
    struct usock__proxies p;
    memset(&p, 0x5a, sizeof p); /* whatever was there */
    int rc = usock__proxies_init(&p, text, "");
    if (rc != code)
        fail_msg("proxy \"%s\": %d (%s), want %d (%s)", text, rc, usock_errname(rc), code,
                 usock_errname(code));
    /* left empty, and freeing it again is harmless */
    assert_null(p.http.host);
    assert_null(p.https.host);
    assert_null(p.no_proxy);
    usock__proxies_free(&p);
}

/* text is refused as a proxy URL with some negative code. */
static void expect_malformed(const char *text)
{
    struct usock__proxies p;
    int rc = usock__proxies_init(&p, text, "");
    if (rc >= 0) {
        usock__proxies_free(&p);
        fail_msg("proxy \"%s\" was accepted", text);
    }
}

/* With a proxy for both schemes and no_proxy list: url goes direct (1)
 * or through the proxy (0). */
static int bypassed(const char *list, const char *url)
{
    struct usock__proxies p;
    init_ok(&p, "http://proxy.test:3128", list);
    const struct usock__proxy *x = proxy_for(&p, url);
    usock__proxies_free(&p);
    return x == NULL;
}

static void expect_direct(const char *list, const char *url)
{
    if (!bypassed(list, url))
        fail_msg("no_proxy \"%s\": %s went through the proxy, want direct",
                 list ? list : "(none)", url);
}

static void expect_proxied(const char *list, const char *url)
{
    if (bypassed(list, url))
        fail_msg("no_proxy \"%s\": %s went direct, want the proxy", list ? list : "(none)", url);
}

/* ---- parsing the proxy URL ---------------------------------------------------------- */

static void test_parse_full_url(void **state)
{
    (void)state;
    expect_parsed("http://proxy.example:3128", "proxy.example", 3128, NULL);
    expect_parsed("http://proxy.example:3128/", "proxy.example", 3128, NULL);
    expect_parsed("http://127.0.0.1:8080", "127.0.0.1", 8080, NULL);
    /* an IPv6 proxy: its host without the brackets */
    expect_parsed("http://[::1]:8080", "::1", 8080, NULL);
    /* names are case-insensitive: lowercased, as the url layer does */
    expect_parsed("http://Proxy.EXAMPLE:1", "proxy.example", 1, NULL);
}

static void test_parse_scheme_less(void **state)
{
    (void)state;
    expect_parsed("proxy.example:3128", "proxy.example", 3128, NULL);
    expect_parsed("127.0.0.1:8080", "127.0.0.1", 8080, NULL);
    expect_parsed("[::1]:8080", "::1", 8080, NULL);
    expect_parsed("user:pass@proxy.example:3128", "proxy.example", 3128, "Basic dXNlcjpwYXNz");
}

static void test_parse_default_port(void **state)
{
    (void)state;
    /* 1080 without a port, as curl; never http's 80 */
    expect_parsed("http://proxy.example", "proxy.example", 1080, NULL);
    expect_parsed("http://proxy.example/", "proxy.example", 1080, NULL);
    expect_parsed("proxy.example", "proxy.example", 1080, NULL);
    expect_parsed("http://[::1]", "::1", 1080, NULL);
    expect_parsed("http://u:p@10.0.0.1", "10.0.0.1", 1080, "Basic dTpw");
}

static void test_parse_credentials(void **state)
{
    (void)state;
    expect_parsed("http://user:pass@proxy.example:3128", "proxy.example", 3128,
                  "Basic dXNlcjpwYXNz");
    /* a ':' in the password stays in it; the user ends at the first ':' */
    expect_parsed("http://alice:s3cr:et@p:1", "p", 1, "Basic YWxpY2U6czNjcjpldA==");
    /* percent-escapes are decoded before the encoding */
    expect_parsed("http://us%40er:p%3Ass@p:1", "p", 1, "Basic dXNAZXI6cDpzcw==");
    /* a user without a password: "user:" */
    expect_parsed("http://user@p:1", "p", 1, "Basic dXNlcjo=");
    /* RFC 7617's example */
    expect_parsed("http://Aladdin:open%20sesame@p:1", "p", 1, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

static void test_parse_refused(void **state)
{
    (void)state;
    /* only http:// proxies */
    expect_refused("https://proxy.example:3128", USOCK_EUNSUPPORTED_SCHEME);
    expect_refused("socks5://proxy.example:1080", USOCK_EUNSUPPORTED_SCHEME);
    expect_refused("ftp://proxy.example", USOCK_EUNSUPPORTED_SCHEME);
    /* no host */
    expect_refused("http://", USOCK_EURL_NO_HOST);
    expect_refused("http://:3128", USOCK_EURL_NO_HOST);
    /* malformed: some error, the url layer's */
    expect_malformed("http://proxy.example:99999");
    expect_malformed("http://proxy.example:12ab");
    expect_malformed("http://[::1:3128");
    expect_malformed("http://pro xy:1");
    expect_malformed("proxy.example:port");
    /* an error in the https proxy leaves nothing behind either: the
     * opener refuses it */
    usock_opener_opts o;
    usock_opener_opts_init(&o);
    o.proxy = "https://proxy.example:3128";
    usock_opener *op = (usock_opener *)1;
    assert_code(usock_opener_new(&op, &o), USOCK_EUNSUPPORTED_SCHEME);
    o.proxy = "http://proxy.example:99999";
    int rc = usock_opener_new(&op, &o);
    assert_true(rc < 0);
}

/* ---- the environment ----------------------------------------------------------------- */

static void test_env_none(void **state)
{
    (void)state;
    struct usock__proxies p;
    init_ok(&p, NULL, NULL);
    assert_null(p.http.host);
    assert_null(p.https.host);
    assert_null(p.no_proxy);
    assert_null(proxy_for(&p, "http://example.com/"));
    assert_null(proxy_for(&p, "https://example.com/"));
    usock__proxies_free(&p);
}

static void test_env_per_scheme(void **state)
{
    (void)state;
    set("http_proxy", "http://hp:1");
    set("https_proxy", "http://sp:2");
    struct usock__proxies p;
    init_ok(&p, NULL, NULL);
    expect_proxy(proxy_for(&p, "http://example.com/"), "hp", 1, NULL);
    expect_proxy(proxy_for(&p, "https://example.com/"), "sp", 2, NULL);
    usock__proxies_free(&p);
    /* only one of them: the other scheme goes direct */
    unsetenv("https_proxy");
    init_ok(&p, NULL, NULL);
    expect_proxy(proxy_for(&p, "http://example.com/"), "hp", 1, NULL);
    assert_null(proxy_for(&p, "https://example.com/"));
    usock__proxies_free(&p);
    unsetenv("http_proxy");
    set("https_proxy", "sp:2");
    init_ok(&p, NULL, NULL);
    assert_null(proxy_for(&p, "http://example.com/"));
    expect_proxy(proxy_for(&p, "https://example.com/"), "sp", 2, NULL);
    usock__proxies_free(&p);
}

static void test_env_lowercase_wins(void **state)
{
    (void)state;
    set("http_proxy", "http://lower:1");
    set("HTTP_PROXY", "http://upper:2");
    set("https_proxy", "http://lower-s:3");
    set("HTTPS_PROXY", "http://upper-s:4");
    struct usock__proxies p;
    init_ok(&p, NULL, NULL);
    expect_proxy(&p.http, "lower", 1, NULL);
    expect_proxy(&p.https, "lower-s", 3, NULL);
    usock__proxies_free(&p);
    /* the uppercase ones alone are read */
    unsetenv("http_proxy");
    unsetenv("https_proxy");
    init_ok(&p, NULL, NULL);
    expect_proxy(&p.http, "upper", 2, NULL);
    expect_proxy(&p.https, "upper-s", 4, NULL);
    usock__proxies_free(&p);
}

static void test_env_empty_means_none(void **state)
{
    (void)state;
    /* "" set in lowercase: no proxy, the uppercase one not consulted */
    set("http_proxy", "");
    set("HTTP_PROXY", "http://upper:2");
    set("https_proxy", "");
    set("HTTPS_PROXY", "http://upper-s:4");
    struct usock__proxies p;
    init_ok(&p, NULL, NULL);
    assert_null(p.http.host);
    assert_null(p.https.host);
    usock__proxies_free(&p);
    /* "" alone */
    unsetenv("HTTP_PROXY");
    unsetenv("HTTPS_PROXY");
    init_ok(&p, NULL, NULL);
    assert_null(p.http.host);
    assert_null(p.https.host);
    usock__proxies_free(&p);
}

/* httpoxy: in a CGI script the client's HTTP_PROXY may be the request's
 * Proxy: header; urllib ignores it there, and so does the client. */
static void test_env_cgi_ignores_HTTP_PROXY(void **state)
{
    (void)state;
    set("REQUEST_METHOD", "GET");
    set("HTTP_PROXY", "http://evil:666");
    struct usock__proxies p;
    init_ok(&p, NULL, NULL);
    assert_null(p.http.host);
    assert_null(proxy_for(&p, "http://example.com/"));
    usock__proxies_free(&p);
    /* the lowercase one still counts */
    set("http_proxy", "http://good:1");
    init_ok(&p, NULL, NULL);
    expect_proxy(&p.http, "good", 1, NULL);
    usock__proxies_free(&p);
    /* HTTPS_PROXY is not a CGI header's name: honoured */
    unsetenv("http_proxy");
    set("HTTPS_PROXY", "http://secure:2");
    init_ok(&p, NULL, NULL);
    assert_null(p.http.host);
    expect_proxy(&p.https, "secure", 2, NULL);
    usock__proxies_free(&p);
    /* without REQUEST_METHOD, HTTP_PROXY is read */
    unsetenv("REQUEST_METHOD");
    init_ok(&p, NULL, NULL);
    expect_proxy(&p.http, "evil", 666, NULL);
    usock__proxies_free(&p);
}

static void test_env_credentials(void **state)
{
    (void)state;
    set("https_proxy", "http://user:pass@sp:2");
    struct usock__proxies p;
    init_ok(&p, NULL, NULL);
    expect_proxy(&p.https, "sp", 2, "Basic dXNlcjpwYXNz");
    usock__proxies_free(&p);
}

static void test_env_bad_proxy(void **state)
{
    (void)state;
    struct usock__proxies p;
    /* an unusable proxy of the environment fails the requests it would
     * carry, and only those */
    set("http_proxy", "https://sp:2");
    init_ok(&p, NULL, NULL);
    assert_int_equal(p.http_err, USOCK_EUNSUPPORTED_SCHEME);
    assert_int_equal(p.https_err, 0);
    usock_urlrequest *r;
    int err;
    assert_ok(usock_request_new(&r, "http://h/"));
    assert_null(usock__proxy_for(&p, r, &err));
    assert_int_equal(err, USOCK_EUNSUPPORTED_SCHEME);
    usock_request_free(r);
    usock__proxies_free(&p);
    unsetenv("http_proxy");
    set("HTTPS_PROXY", "http://:3128");
    init_ok(&p, NULL, NULL);
    assert_int_equal(p.https_err, USOCK_EURL_NO_HOST);
    assert_ok(usock_request_new(&r, "https://h/"));
    assert_null(usock__proxy_for(&p, r, &err));
    assert_int_equal(err, USOCK_EURL_NO_HOST);
    usock_request_free(r);
    usock__proxies_free(&p);
    /* an explicit proxy does not read the bad variable */
    init_ok(&p, "http://ok:1", NULL);
    expect_proxy(&p.https, "ok", 1, NULL);
    usock__proxies_free(&p);
    init_ok(&p, "", NULL);
    usock__proxies_free(&p);
}

static void test_env_no_proxy(void **state)
{
    (void)state;
    struct usock__proxies p;
    set("NO_PROXY", "upper.example");
    init_ok(&p, NULL, NULL);
    assert_string_equal(p.no_proxy, "upper.example");
    usock__proxies_free(&p);
    set("no_proxy", "lower.example");
    init_ok(&p, NULL, NULL);
    assert_string_equal(p.no_proxy, "lower.example");
    usock__proxies_free(&p);
    /* read with an explicit proxy too (as curl and urllib do) */
    init_ok(&p, "http://p:1", NULL);
    assert_string_equal(p.no_proxy, "lower.example");
    assert_null(proxy_for(&p, "http://www.lower.example/"));
    expect_proxy(proxy_for(&p, "http://upper.example/"), "p", 1, NULL);
    usock__proxies_free(&p);
    /* an explicit list replaces it, "" too */
    init_ok(&p, "http://p:1", "other.example");
    assert_string_equal(p.no_proxy, "other.example");
    expect_proxy(proxy_for(&p, "http://lower.example/"), "p", 1, NULL);
    usock__proxies_free(&p);
    init_ok(&p, "http://p:1", "");
    expect_proxy(proxy_for(&p, "http://lower.example/"), "p", 1, NULL);
    usock__proxies_free(&p);
}

static void test_explicit_overrides_env(void **state)
{
    (void)state;
    set("http_proxy", "http://env:1");
    set("https_proxy", "http://env-s:2");
    struct usock__proxies p;
    /* one proxy for both schemes */
    init_ok(&p, "http://mine:3", NULL);
    expect_proxy(proxy_for(&p, "http://example.com/"), "mine", 3, NULL);
    expect_proxy(proxy_for(&p, "https://example.com/"), "mine", 3, NULL);
    usock__proxies_free(&p);
    /* "": none at all, the environment's neither */
    init_ok(&p, "", NULL);
    assert_null(p.http.host);
    assert_null(p.https.host);
    assert_null(proxy_for(&p, "http://example.com/"));
    assert_null(proxy_for(&p, "https://example.com/"));
    usock__proxies_free(&p);
}

/* ---- no_proxy --------------------------------------------------------------------------- */

static void test_no_proxy_star(void **state)
{
    (void)state;
    expect_direct("*", "http://example.com/");
    expect_direct("*", "https://127.0.0.1:8443/");
    expect_direct("*", "http://[::1]:8080/");
    expect_direct("other.example, *", "http://example.com/");
    expect_direct(" * ", "http://example.com/");
    /* no list, an empty one, separators only: everything proxied */
    expect_proxied(NULL, "http://example.com/");
    expect_proxied("", "http://example.com/");
    expect_proxied(" , ,", "http://example.com/");
    /* "*" inside an entry is no wildcard */
    expect_proxied("*.example.com", "http://www.example.com/");
}

static void test_no_proxy_names(void **state)
{
    (void)state;
    expect_direct("localhost", "http://localhost/");
    expect_direct("localhost", "http://localhost:8080/x");
    expect_direct("example.com", "http://example.com/");
    expect_proxied("example.com", "http://example.org/");
    expect_proxied("example.com", "http://example.com.evil.test/");
    /* https as http */
    expect_direct("example.com", "https://example.com/");
    /* the port is no part of the match */
    expect_direct("example.com", "http://example.com:8443/");
}

static void test_no_proxy_domains(void **state)
{
    (void)state;
    /* with a dot: the domain and the names under it */
    expect_direct(".example.com", "http://www.example.com/");
    expect_direct(".example.com", "http://a.b.example.com/");
    expect_direct(".example.com", "http://example.com/");
    /* without: the same */
    expect_direct("example.com", "http://www.example.com/");
    expect_direct("example.com", "http://a.b.example.com/");
    /* a suffix that is not at a label boundary does not match */
    expect_proxied("ample.com", "http://example.com/");
    expect_proxied(".ample.com", "http://example.com/");
    expect_proxied("ample.com", "http://www.example.com/");
    expect_proxied("com", "http://example.org/");
    /* nor a longer name */
    expect_proxied("www.example.com", "http://example.com/");
}

static void test_no_proxy_case(void **state)
{
    (void)state;
    expect_direct("EXAMPLE.COM", "http://example.com/");
    expect_direct(".Example.Com", "http://WWW.EXAMPLE.COM/");
    expect_direct("LocalHost", "http://localhost/");
    expect_direct("::A", "http://[::a]/");
}

static void test_no_proxy_list_and_spaces(void **state)
{
    (void)state;
    const char *list = "a.test, b.test ,\tc.test\t,,  .d.test  ";
    expect_direct(list, "http://a.test/");
    expect_direct(list, "http://b.test/");
    expect_direct(list, "http://c.test/");
    expect_direct(list, "http://x.d.test/");
    expect_proxied(list, "http://e.test/");
    expect_direct("first.test,example.com", "http://example.com/");
    expect_direct("example.com,last.test", "http://example.com/");
    /* spaces are no part of a name */
    expect_proxied("exa mple.com", "http://example.com/");
}

static void test_no_proxy_ipv4(void **state)
{
    (void)state;
    expect_direct("127.0.0.1", "http://127.0.0.1:8080/");
    expect_direct("10.0.0.1", "https://10.0.0.1/");
    expect_proxied("127.0.0.1", "http://127.0.0.2/");
    expect_direct("192.168.1.1, 127.0.0.1", "http://127.0.0.1/");
    /* an address is never matched as a suffix */
    expect_proxied("0.0.1", "http://10.0.0.1/");
    expect_proxied(".0.0.1", "http://10.0.0.1/");
    expect_proxied("1", "http://10.0.0.1/");
    expect_proxied("0.1", "http://127.0.0.1/");
    /* a name is not the address it resolves to */
    expect_proxied("127.0.0.1", "http://localhost/");
    expect_proxied("localhost", "http://127.0.0.1/");
}

static void test_no_proxy_ipv6(void **state)
{
    (void)state;
    expect_direct("::1", "http://[::1]:8080/");
    expect_direct("2001:db8::1", "https://[2001:db8::1]/");
    expect_proxied("::1", "http://[::2]/");
    expect_proxied("::1", "http://127.0.0.1/");
    /* brackets, as in a URL */
    expect_direct("[::1]", "http://[::1]:8080/");
    expect_direct("a.test, [2001:db8::1] ", "http://[2001:db8::1]/");
    expect_proxied("[::1]", "http://[::2]/");
    /* never as a suffix */
    expect_proxied("1", "http://[::1]/");
    expect_proxied(":1", "http://[::1]/");
    expect_proxied("db8::1", "http://[2001:db8::1]/");
}

/* An IPv6 address written another way is the same address: curl compares
 * them as addresses. BUG: entries are compared as text, so "0:0:0:0:0:0:0:1"
 * does not match the host ::1 (nor "2001:0db8::1" the host 2001:db8::1).
 * Left out of main()'s list. */
static void test_no_proxy_ipv6_other_spelling(void **state)
{
    (void)state;
    expect_direct("0:0:0:0:0:0:0:1", "http://[::1]/");
    expect_direct("2001:0db8:0:0::1", "http://[2001:db8::1]/");
}

static void test_no_proxy_cidr4(void **state)
{
    (void)state;
    expect_direct("127.0.0.0/8", "http://127.0.0.1/");
    expect_direct("127.0.0.0/8", "http://127.255.255.254:81/");
    expect_proxied("127.0.0.0/8", "http://128.0.0.1/");
    expect_direct("10.0.0.0/8", "https://10.20.30.40/");
    expect_direct("192.168.1.0/24", "http://192.168.1.200/");
    expect_proxied("192.168.1.0/24", "http://192.168.2.1/");
    /* /32: that address only */
    expect_direct("10.1.2.3/32", "http://10.1.2.3/");
    expect_proxied("10.1.2.3/32", "http://10.1.2.4/");
    /* /0: every address, but not a name */
    expect_direct("0.0.0.0/0", "http://10.1.2.3/");
    expect_direct("0.0.0.0/0", "http://255.255.255.255/");
    expect_proxied("0.0.0.0/0", "http://example.com/");
    /* not on a byte: /12 holds 172.16.0.0 to 172.31.255.255 */
    expect_direct("172.16.0.0/12", "http://172.16.0.1/");
    expect_direct("172.16.0.0/12", "http://172.31.255.255/");
    expect_proxied("172.16.0.0/12", "http://172.32.0.0/");
    expect_proxied("172.16.0.0/12", "http://172.15.255.255/");
    /* /20, /31, /1 */
    expect_direct("10.0.16.0/20", "http://10.0.31.1/");
    expect_proxied("10.0.16.0/20", "http://10.0.32.1/");
    expect_direct("10.0.0.2/31", "http://10.0.0.3/");
    expect_proxied("10.0.0.2/31", "http://10.0.0.4/");
    expect_direct("128.0.0.0/1", "http://200.1.1.1/");
    expect_proxied("128.0.0.0/1", "http://127.1.1.1/");
    /* an IPv4 block holds no IPv6 address, nor names */
    expect_proxied("127.0.0.0/8", "http://[::1]/");
    expect_proxied("127.0.0.0/8", "http://localhost/");
    /* in a list, with spaces */
    expect_direct("a.test, 10.0.0.0/8 ,b.test", "http://10.9.9.9/");
    /* malformed blocks match nothing */
    expect_proxied("10.0.0.0/33", "http://10.0.0.1/");
    expect_proxied("10.0.0.0/x", "http://10.0.0.1/");
    expect_proxied("10.0.0/8", "http://10.0.0.1/");
    expect_proxied("10.0.0.0/8x", "http://10.0.0.1/");
}

/* A block without its prefix length ("10.0.0.0/") is malformed: it must
 * match nothing (curl reads it as the address itself). BUG: in_cidr's
 * strtol takes the empty length as 0, so "10.0.0.0/" is 0.0.0.0/0 and
 * sends every IPv4 address direct (the same for "::/" and IPv6). Left out
 * of main()'s list. */
static void test_no_proxy_cidr_empty_length(void **state)
{
    (void)state;
    expect_proxied("10.0.0.0/", "http://192.168.1.1/");
    expect_proxied("2001:db8::/", "http://[fe80::1]/");
}

static void test_no_proxy_cidr6(void **state)
{
    (void)state;
    expect_direct("::1/128", "http://[::1]/");
    expect_proxied("::1/128", "http://[::2]/");
    expect_direct("2001:db8::/32", "http://[2001:db8:1234::5]/");
    expect_proxied("2001:db8::/32", "http://[2001:db9::5]/");
    expect_direct("fe80::/10", "http://[fe80::1]/");
    expect_direct("fe80::/10", "http://[febf:ffff::1]/");
    expect_proxied("fe80::/10", "http://[fec0::1]/");
    /* /0: every IPv6 address, no IPv4 one */
    expect_direct("::/0", "http://[2001:db8::1]/");
    expect_direct("::/0", "http://[::1]/");
    expect_proxied("::/0", "http://127.0.0.1/");
    expect_proxied("::/0", "http://example.com/");
    /* an odd length */
    expect_direct("2001:db8:8000::/33", "http://[2001:db8:ffff::1]/");
    expect_proxied("2001:db8:8000::/33", "http://[2001:db8:7fff::1]/");
    /* an IPv6 block holds no IPv4 address */
    expect_proxied("::/0", "http://10.0.0.1/");
    expect_proxied("::ffff:0:0/96", "http://10.0.0.1/");
    /* malformed */
    expect_proxied("::1/129", "http://[::1]/");
}

/* ---- a proxy (and an origin) of this file -----------------------------------------------
 * A thread on a loopback port that answers every request head it reads
 * (a body is not expected) with reply, keeping the connection (NULL:
 * closes it instead), and records the heads. Connections are polled
 * together, so that one the client keeps in its pool never holds up
 * another. tiny_stop ends it; every wait of its is bounded. */

#define TINY_CONNS 8
#define TINY_HEADS 8

struct tiny {
    int lfd, port;
    const char *reply;
    atomic_int stop, accepted, requests;
    char heads[TINY_HEADS][2048]; /* the first requests' heads */
    pthread_t th;
};

static void send_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return;
        s += k;
        n -= (size_t)k;
    }
}

static void *tiny_main(void *arg)
{
    struct tiny *t = arg;
    struct conn {
        int fd;
        size_t n;
        char buf[4096];
    } *c = calloc(TINY_CONNS, sizeof *c);
    int nc = 0;
    double end = now_s() + 4 * EXPECT_MS / 1000.0;
    while (c && !atomic_load(&t->stop) && now_s() < end) {
        struct pollfd pf[TINY_CONNS + 1];
        pf[0] = (struct pollfd){.fd = t->lfd, .events = POLLIN};
        for (int i = 0; i < nc; i++)
            pf[i + 1] = (struct pollfd){.fd = c[i].fd, .events = POLLIN};
        int polled = nc; /* one accepted below is read at the next poll */
        if (poll(pf, (nfds_t)nc + 1, 20) <= 0)
            continue;
        if ((pf[0].revents & POLLIN) && nc < TINY_CONNS) {
            int fd = accept(t->lfd, NULL, NULL);
            if (fd >= 0) {
                c[nc].fd = fd;
                c[nc++].n = 0;
                atomic_fetch_add(&t->accepted, 1);
            }
        }
        for (int i = 0; i < polled; i++) {
            if (c[i].fd < 0 || !(pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t k = recv(c[i].fd, c[i].buf + c[i].n, sizeof c[i].buf - 1 - c[i].n, 0);
            if (k <= 0) {
                close(c[i].fd);
                c[i].fd = -1;
                continue;
            }
            c[i].n += (size_t)k;
            c[i].buf[c[i].n] = '\0';
            char *e;
            while (c[i].fd >= 0 && (e = strstr(c[i].buf, "\r\n\r\n"))) {
                size_t len = (size_t)(e + 4 - c[i].buf);
                int r = atomic_load(&t->requests);
                if (r < TINY_HEADS)
                    snprintf(t->heads[r], sizeof t->heads[r], "%.*s", (int)len, c[i].buf);
                atomic_fetch_add(&t->requests, 1);
                memmove(c[i].buf, c[i].buf + len, c[i].n - len + 1);
                c[i].n -= len;
                if (t->reply) {
                    send_all(c[i].fd, t->reply);
                } else {
                    close(c[i].fd);
                    c[i].fd = -1;
                }
            }
            if (c[i].fd >= 0 && c[i].n == sizeof c[i].buf - 1) { /* no head in it: drop */
                close(c[i].fd);
                c[i].fd = -1;
            }
        }
    }
    for (int i = 0; c && i < nc; i++)
        if (c[i].fd >= 0)
            close(c[i].fd);
    free(c);
    return NULL;
}

static const char OK_REPLY[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/* The listening socket, then the thread (apart, so that a test can fork
 * in between, while the process has one thread). */
static void tiny_listen(struct tiny *t, const char *reply)
{
    memset(t, 0, sizeof *t);
    t->reply = reply;
    t->lfd = raw_listener(AF_INET, 16, 0, &t->port);
}

static void tiny_run(struct tiny *t)
{
    assert_int_equal(pthread_create(&t->th, NULL, tiny_main, t), 0);
}

static void tiny_start(struct tiny *t, const char *reply)
{
    tiny_listen(t, reply);
    tiny_run(t);
}

static void tiny_stop(struct tiny *t)
{
    atomic_store(&t->stop, 1);
    pthread_join(t->th, NULL);
    close(t->lfd);
}

/* head's first line is line (without its CRLF). */
static void expect_request_line(const char *head, const char *line)
{
    size_t n = strcspn(head, "\r");
    if (n != strlen(line) || strncmp(head, line, n) != 0)
        fail_msg("request line \"%.*s\", want \"%s\"", (int)n, head, line);
}

/* head has the field "Name: value" (as sent, case kept). */
static void expect_field_line(const char *head, const char *name, const char *value)
{
    char want[512];
    snprintf(want, sizeof want, "\r\n%s: %s\r\n", name, value);
    if (!strstr(head, want))
        fail_msg("no \"%s: %s\" in:\n%s", name, value, head);
}

static void expect_no_field(const char *head, const char *name)
{
    char want[128];
    snprintf(want, sizeof want, "\r\n%s:", name);
    if (strcasestr(head, want))
        fail_msg("\"%s\" sent in:\n%s", name, head);
}

static usock_opener *proxied_opener(const char *proxy, const char *no_proxy)
{
    usock_opener_opts o;
    usock_opener_opts_init(&o);
    o.proxy = proxy;
    o.no_proxy = no_proxy;
    usock_opener *op;
    assert_ok(usock_opener_new(&op, &o));
    return op;
}

/* GET url with op: the code; the body in body (cap bytes, NUL-ended). */
static int open_get(usock_opener *op, const char *url, char *body, size_t cap, usock_urlerror *err)
{
    usock_urlrequest *r;
    usock_response *res = NULL;
    assert_ok(usock_request_new(&r, url));
    memset(err, 0, sizeof *err);
    int rc = usock_opener_open(op, r, 5.0, &res, err);
    usock_request_free(r);
    body[0] = '\0';
    if (res) {
        char *all;
        size_t n;
        assert_ok(usock_response_readall(res, &all, &n));
        snprintf(body, cap, "%s", all);
        free(all);
        usock_response_close(res);
    }
    return rc;
}

/* ---- the opener through the proxy ---------------------------------------------------------- */

/* An http URL goes to the proxy with the absolute-form target and the
 * proxy URL's credentials; the origin never hears of it. */
static void test_opener_forward(void **state)
{
    (void)state;
    struct tiny proxy, origin;
    tiny_start(&proxy, OK_REPLY);
    tiny_start(&origin, OK_REPLY);
    char purl[128], url[128], body[64];
    snprintf(purl, sizeof purl, "http://user:pass@127.0.0.1:%d", proxy.port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/path/x?q=1&r=2", origin.port);
    usock_opener *op = proxied_opener(purl, "");
    usock_urlerror err;
    assert_ok(open_get(op, url, body, sizeof body, &err));
    assert_string_equal(body, "ok");
    usock_opener_free(op);
    tiny_stop(&proxy);
    tiny_stop(&origin);
    assert_int_equal(proxy.requests, 1);
    assert_int_equal(origin.accepted, 0);
    char line[256], host[64];
    snprintf(line, sizeof line, "GET http://127.0.0.1:%d/path/x?q=1&r=2 HTTP/1.1", origin.port);
    snprintf(host, sizeof host, "127.0.0.1:%d", origin.port);
    expect_request_line(proxy.heads[0], line);
    expect_field_line(proxy.heads[0], "Host", host);
    expect_field_line(proxy.heads[0], "Proxy-Authorization", "Basic dXNlcjpwYXNz");
}

/* Without credentials, no Proxy-Authorization; the default port is left
 * out of the target as out of Host. */
static void test_opener_forward_no_credentials(void **state)
{
    (void)state;
    struct tiny proxy;
    tiny_start(&proxy, OK_REPLY);
    char purl[128], body[64];
    snprintf(purl, sizeof purl, "127.0.0.1:%d", proxy.port); /* scheme-less */
    usock_opener *op = proxied_opener(purl, "");
    usock_urlerror err;
    /* not resolved: the proxy is asked for it */
    assert_ok(open_get(op, "http://origin.example/", body, sizeof body, &err));
    assert_string_equal(body, "ok");
    usock_opener_free(op);
    tiny_stop(&proxy);
    assert_int_equal(proxy.requests, 1);
    expect_request_line(proxy.heads[0], "GET http://origin.example/ HTTP/1.1");
    expect_field_line(proxy.heads[0], "Host", "origin.example");
    expect_no_field(proxy.heads[0], "Proxy-Authorization");
}

/* One proxy connection serves every origin: the pool is per proxy. */
static void test_opener_forward_pooled(void **state)
{
    (void)state;
    struct tiny proxy;
    tiny_start(&proxy, OK_REPLY);
    char purl[128], body[64];
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", proxy.port);
    usock_opener *op = proxied_opener(purl, "");
    usock_urlerror err;
    const char *urls[] = {"http://a.example/1", "http://b.example:8080/2", "http://a.example/3"};
    for (int i = 0; i < 3; i++) {
        assert_ok(open_get(op, urls[i], body, sizeof body, &err));
        assert_string_equal(body, "ok");
    }
    usock_opener_free(op);
    tiny_stop(&proxy);
    assert_int_equal(proxy.requests, 3);
    assert_int_equal(proxy.accepted, 1);
    expect_request_line(proxy.heads[0], "GET http://a.example/1 HTTP/1.1");
    expect_request_line(proxy.heads[1], "GET http://b.example:8080/2 HTTP/1.1");
    expect_field_line(proxy.heads[1], "Host", "b.example:8080");
    expect_request_line(proxy.heads[2], "GET http://a.example/3 HTTP/1.1");
}

/* A host of no_proxy is asked directly, without the proxy's credentials;
 * the others still go through it. */
static void test_opener_no_proxy_direct(void **state)
{
    (void)state;
    struct tiny proxy, origin;
    tiny_start(&proxy, OK_REPLY);
    tiny_start(&origin, OK_REPLY);
    char purl[128], url[128], body[64];
    snprintf(purl, sizeof purl, "http://user:pass@127.0.0.1:%d", proxy.port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/direct?x=1", origin.port);
    usock_opener *op = proxied_opener(purl, "other.example, 127.0.0.0/8");
    usock_urlerror err;
    assert_ok(open_get(op, url, body, sizeof body, &err));
    assert_string_equal(body, "ok");
    assert_ok(open_get(op, "http://via.example/p", body, sizeof body, &err));
    assert_string_equal(body, "ok");
    usock_opener_free(op);
    tiny_stop(&proxy);
    tiny_stop(&origin);
    assert_int_equal(origin.requests, 1);
    expect_request_line(origin.heads[0], "GET /direct?x=1 HTTP/1.1");
    expect_no_field(origin.heads[0], "Proxy-Authorization");
    assert_int_equal(proxy.requests, 1);
    expect_request_line(proxy.heads[0], "GET http://via.example/p HTTP/1.1");
}

/* The environment, read when the opener is made (proxy and no_proxy
 * NULL). */
static void test_opener_env(void **state)
{
    (void)state;
    struct tiny proxy, origin;
    tiny_start(&proxy, OK_REPLY);
    tiny_start(&origin, OK_REPLY);
    char purl[128], url[128], body[64];
    snprintf(purl, sizeof purl, "http://u:p@127.0.0.1:%d", proxy.port);
    set("http_proxy", purl);
    set("no_proxy", "localhost");
    usock_opener *op = proxied_opener(NULL, NULL);
    usock_urlerror err;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/env", origin.port);
    assert_ok(open_get(op, url, body, sizeof body, &err));
    snprintf(url, sizeof url, "http://localhost:%d/near", origin.port);
    assert_ok(open_get(op, url, body, sizeof body, &err));
    usock_opener_free(op);
    /* an explicit "" goes direct whatever the environment says */
    op = proxied_opener("", NULL);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/none", origin.port);
    assert_ok(open_get(op, url, body, sizeof body, &err));
    usock_opener_free(op);
    tiny_stop(&proxy);
    tiny_stop(&origin);
    assert_int_equal(proxy.requests, 1);
    char line[128];
    snprintf(line, sizeof line, "GET http://127.0.0.1:%d/env HTTP/1.1", origin.port);
    expect_request_line(proxy.heads[0], line);
    expect_field_line(proxy.heads[0], "Proxy-Authorization", "Basic dTpw");
    assert_int_equal(origin.requests, 2);
    expect_request_line(origin.heads[0], "GET /near HTTP/1.1");
    expect_request_line(origin.heads[1], "GET /none HTTP/1.1");
}

/* A proxy that is not there: the connect's error, naming the proxy. */
static void test_opener_proxy_refused(void **state)
{
    (void)state;
    int port;
    close(raw_listener(AF_INET, 1, 0, &port)); /* nothing listens there now */
    char purl[128], body[64], want[128];
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", port);
    usock_opener *op = proxied_opener(purl, "");
    usock_urlerror err;
    assert_code(open_get(op, "http://origin.example/", body, sizeof body, &err),
                USOCK_ECONNREFUSED);
    snprintf(want, sizeof want, "connect 127.0.0.1:%d: Connection refused", port);
    assert_string_equal(err.detail, want);
    assert_code(open_get(op, "https://origin.example/", body, sizeof body, &err),
                USOCK_ECONNREFUSED);
    assert_string_equal(err.detail, want);
    usock_opener_free(op);
}

/* An https URL: CONNECT host:port with Host and Proxy-Authorization; a
 * 407 fails the request with USOCK_EPROXY, the proxy's status and a
 * detail that names both. */
static void test_opener_connect_refused(void **state)
{
    (void)state;
    struct tiny proxy;
    tiny_start(&proxy,
               "HTTP/1.1 407 Proxy Authentication Required\r\n"
               "Proxy-Authenticate: Basic realm=\"proxy\"\r\nContent-Length: 0\r\n\r\n");
    char purl[128], body[64], want[256];
    snprintf(purl, sizeof purl, "http://user:pass@127.0.0.1:%d", proxy.port);
    usock_opener *op = proxied_opener(purl, "");
    usock_urlerror err;
    assert_code(open_get(op, "https://localhost/secret", body, sizeof body, &err), USOCK_EPROXY);
    assert_int_equal(USOCK_EPROXY, -4208);
    assert_string_equal(usock_strerror(USOCK_EPROXY), "The proxy refused the tunnel");
    assert_int_equal(err.code, USOCK_EPROXY);
    assert_int_equal(err.status, 407);
    snprintf(want, sizeof want,
             "proxy 127.0.0.1:%d: CONNECT localhost:443: 407 Proxy Authentication Required",
             proxy.port);
    assert_string_equal(err.detail, want);
    /* a port of its own, and an IPv6 origin in brackets */
    assert_code(open_get(op, "https://[::1]:8443/", body, sizeof body, &err), USOCK_EPROXY);
    snprintf(want, sizeof want,
             "proxy 127.0.0.1:%d: CONNECT [::1]:8443: 407 Proxy Authentication Required",
             proxy.port);
    assert_string_equal(err.detail, want);
    usock_opener_free(op);
    tiny_stop(&proxy);
    assert_int_equal(proxy.requests, 2);
    expect_request_line(proxy.heads[0], "CONNECT localhost:443 HTTP/1.1");
    expect_field_line(proxy.heads[0], "Host", "localhost:443");
    expect_field_line(proxy.heads[0], "Proxy-Authorization", "Basic dXNlcjpwYXNz");
    /* the request itself never went to the proxy in clear */
    assert_null(strstr(proxy.heads[0], "/secret"));
    expect_request_line(proxy.heads[1], "CONNECT [::1]:8443 HTTP/1.1");
    expect_field_line(proxy.heads[1], "Host", "[::1]:8443");
}

/* Other refusals: a 502, and a proxy that closes without an answer. */
static void test_opener_connect_other_failures(void **state)
{
    (void)state;
    struct tiny proxy;
    tiny_start(&proxy, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 5\r\n\r\nnope\n");
    char purl[128], body[64], want[256];
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", proxy.port);
    usock_opener *op = proxied_opener(purl, "");
    usock_urlerror err;
    assert_code(open_get(op, "https://origin.example:9443/", body, sizeof body, &err),
                USOCK_EPROXY);
    assert_int_equal(err.status, 502);
    snprintf(want, sizeof want, "proxy 127.0.0.1:%d: CONNECT origin.example:9443: 502 Bad Gateway",
             proxy.port);
    assert_string_equal(err.detail, want);
    usock_opener_free(op);
    tiny_stop(&proxy);
    expect_no_field(proxy.heads[0], "Proxy-Authorization");

    tiny_start(&proxy, NULL); /* reads the CONNECT, closes */
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", proxy.port);
    op = proxied_opener(purl, "");
    int rc = open_get(op, "https://origin.example/", body, sizeof body, &err);
    assert_true(rc < 0);
    assert_true(rc != USOCK_EPROXY);
    assert_int_equal(err.status, 0);
    snprintf(want, sizeof want, "proxy 127.0.0.1:%d: CONNECT origin.example:443: ", proxy.port);
    if (strncmp(err.detail, want, strlen(want)) != 0)
        fail_msg("detail \"%s\", want it to start with \"%s\"", err.detail, want);
    usock_opener_free(op);
    tiny_stop(&proxy);
    assert_int_equal(proxy.requests, 1);
}

/* An https URL of no_proxy is not tunnelled: it goes to the origin
 * (here a refused port, so nothing is spoken). */
static void test_opener_https_no_proxy(void **state)
{
    (void)state;
    struct tiny proxy;
    tiny_start(&proxy, OK_REPLY);
    int port;
    close(raw_listener(AF_INET, 1, 0, &port));
    char purl[128], url[128], body[64], want[128];
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", proxy.port);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", port);
    usock_opener *op = proxied_opener(purl, "127.0.0.1");
    usock_urlerror err;
    assert_code(open_get(op, url, body, sizeof body, &err), USOCK_ECONNREFUSED);
    snprintf(want, sizeof want, "connect 127.0.0.1:%d: Connection refused", port);
    assert_string_equal(err.detail, want);
    usock_opener_free(op);
    tiny_stop(&proxy);
    assert_int_equal(proxy.accepted, 0);
}

/* ---- the default opener ------------------------------------------------------------------
 * usock_urlopen's opener is made once per process, at its first use, from
 * the environment of that moment: each test runs it in a child process.
 * The child uses no cmocka call; it writes "rc body" into a pipe. */

struct child {
    pid_t pid;
    int fd; /* the pipe's reading end */
};

static void child_urlopen(struct child *c, const char *http_proxy, const char *url)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        close(p[0]);
        clean_env(NULL);
        if (http_proxy)
            setenv("http_proxy", http_proxy, 1);
        usock_response *res;
        usock_urlerror err;
        char out[512], *body = NULL;
        size_t n = 0;
        int rc = usock_urlopen(url, NULL, 0, 5.0, &res, &err);
        if (res && usock_response_readall(res, &body, &n) < 0)
            body = NULL;
        int k = snprintf(out, sizeof out, "%d %s", rc, body ? body : "");
        int wrote = write(p[1], out, (size_t)k) >= 0;
        usock_response_close(res);
        free(body);
        closefrom(3); /* the parent's listeners, the pipe, the pooled connection */
        _exit(wrote ? 0 : 2);
    }
    close(p[1]);
    c->fd = p[0];
}

/* The child's answer (bounded), and its end (killed when late). */
static int child_result(struct child *c, char *body, size_t cap)
{
    char buf[512];
    size_t n = 0;
    struct pollfd pf = {.fd = c->fd, .events = POLLIN};
    while (n < sizeof buf - 1 && poll(&pf, 1, 4 * EXPECT_MS) > 0) {
        ssize_t k = read(c->fd, buf + n, sizeof buf - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    buf[n] = '\0';
    close(c->fd);
    int status = 0;
    for (int i = 0; i < 200 && waitpid(c->pid, &status, WNOHANG) == 0; i++)
        sleep_ms(20);
    if (waitpid(c->pid, &status, WNOHANG) == 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, &status, 0);
    }
    if (n == 0)
        fail_msg("the child process gave no answer");
    char *sp = strchr(buf, ' ');
    snprintf(body, cap, "%s", sp ? sp + 1 : "");
    return atoi(buf);
}

static void test_default_opener_env(void **state)
{
    (void)state;
    struct tiny proxy;
    tiny_listen(&proxy, OK_REPLY);
    char purl[128], body[64];
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", proxy.port);
    struct child c;
    child_urlopen(&c, purl, "http://origin.example/default");
    tiny_run(&proxy);
    int rc = child_result(&c, body, sizeof body);
    tiny_stop(&proxy);
    assert_code(rc, 0);
    assert_string_equal(body, "ok");
    assert_int_equal(proxy.requests, 1);
    expect_request_line(proxy.heads[0], "GET http://origin.example/default HTTP/1.1");
}

/* http_proxy holds a proxy URL the client refuses (an https:// proxy, as
 * many set it) when urlopen makes its opener. BUG: builtin_make() drops
 * usock_opener_new's code and usock_urlopen_request reports a NULL
 * default opener as USOCK_ENOMEM ("Cannot allocate memory"), for this and
 * every later call of the process (pthread_once: unsetting the variable
 * does not help). Wanted: the proxy's error (USOCK_EUNSUPPORTED_SCHEME),
 * or the request made without the unusable proxy; never ENOMEM. Left out
 * of main()'s list. */
static void test_default_opener_bad_env(void **state)
{
    (void)state;
    int port;
    close(raw_listener(AF_INET, 1, 0, &port)); /* nothing listens there now */
    char url[128], body[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    struct child c;
    child_urlopen(&c, "https://proxy.test:3128", url);
    int rc = child_result(&c, body, sizeof body);
    if (rc == USOCK_ENOMEM)
        fail_msg("usock_urlopen = ENOMEM with http_proxy=https://proxy.test:3128");
    assert_true(rc == USOCK_EUNSUPPORTED_SCHEME || rc == USOCK_ECONNREFUSED);
}

int main(void)
{
    start_watchdog(240);
#define T(name) cmocka_unit_test_setup_teardown(name, clean_env, clean_env)
    const struct CMUnitTest tests[] = {
        T(test_parse_full_url), T(test_parse_scheme_less), T(test_parse_default_port),
        T(test_parse_credentials), T(test_parse_refused), T(test_env_none), T(test_env_per_scheme),
        T(test_env_lowercase_wins), T(test_env_empty_means_none),
        T(test_env_cgi_ignores_HTTP_PROXY), T(test_env_credentials), T(test_env_bad_proxy),
        T(test_env_no_proxy), T(test_explicit_overrides_env), T(test_no_proxy_star),
        T(test_no_proxy_names), T(test_no_proxy_domains), T(test_no_proxy_case),
        T(test_no_proxy_list_and_spaces), T(test_no_proxy_ipv4), T(test_no_proxy_ipv6),
        T(test_no_proxy_ipv6_other_spelling), T(test_no_proxy_cidr4),
        T(test_no_proxy_cidr_empty_length), T(test_no_proxy_cidr6), T(test_opener_forward), T(test_opener_forward_no_credentials),
        T(test_opener_forward_pooled), T(test_opener_no_proxy_direct), T(test_opener_env),
        T(test_opener_proxy_refused), T(test_opener_connect_refused),
        T(test_opener_connect_other_failures), T(test_opener_https_no_proxy),
        T(test_default_opener_env), T(test_default_opener_bad_env),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
