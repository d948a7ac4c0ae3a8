/* test_cookies.c -- the HTTP client's cookie jar: RFC 6265's Set-Cookie
 * parsing (s5.2), dates (s5.1.1), domain and path matching (s5.1.3-4),
 * storage (s5.3) and the Cookie header (s5.4); bounds and eviction; the
 * Netscape cookies.txt format, against a file real curl wrote
 * (tests/data/cookies/); thread safety.
 *
 * The jar's clock is fixed by an internal hook so that expiry is exact. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "usock.h"
#include "usock/request.h"

/* src/request_cookies.c: the jar's clock stands at now (0: the system's). */
void usock__cookiejar_set_clock(usock_cookiejar *j, int64_t now);

#define NOW 1700000000 /* 2023-11-14 22:13:20 UTC */
#define CURL_FILE USOCK_TESTDATA "/cookies/curl-7.88.1.txt"

static usock_cookiejar *jar(void)
{
    usock_cookiejar *j;
    assert_int_equal(usock_cookiejar_new(&j), 0);
    usock__cookiejar_set_clock(j, NOW);
    return j;
}

/* The Cookie header for url (asserted to succeed), in a buffer of its own. */
static const char *hdr(usock_cookiejar *j, const char *url)
{
    static char buf[16384];
    int n = usock_cookiejar_header(j, url, buf, sizeof buf);
    assert_true(n >= 0);
    assert_int_equal((size_t)n, strlen(buf));
    return buf;
}

static int set(usock_cookiejar *j, const char *url, const char *sc)
{
    return usock_cookiejar_set(j, url, sc);
}

/* A file name in a fresh directory of its own; rm_tmp removes both. */
static char *tmp_path(const char *name)
{
    char dir[] = "/tmp/usock-cookies-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    assert_non_null(p);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static void rm_tmp(char *path)
{
    unlink(path);
    *strrchr(path, '/') = '\0';
    assert_int_equal(rmdir(path), 0); /* nothing else was left there */
    free(path);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* The whole file, malloc'd. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

/* The cookie lines of a saved file (comments and blank lines dropped). */
static char *cookie_lines(const char *path)
{
    char *all = read_text(path), *out = calloc(1, strlen(all) + 1);
    assert_non_null(out);
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n"))
        if (line[0] != '#' || strncmp(line, "#HttpOnly_", 10) == 0)
            strcat(strcat(out, line), "\n");
    free(all);
    return out;
}

/* What the jar saves as the expiry of "a=b; attrs" set at clock now: the
 * unix time, 0 for a session cookie, -1 when nothing was stored. */
static long long expiry_of(int64_t now, const char *attrs)
{
    usock_cookiejar *j = jar();
    usock__cookiejar_set_clock(j, now);
    char sc[512];
    snprintf(sc, sizeof sc, "a=b; %s", attrs);
    set(j, "http://example.com/", sc);
    char *path = tmp_path("jar.txt");
    assert_true(usock_cookiejar_save(j, path) >= 0);
    char *lines = cookie_lines(path);
    long long e = -1;
    char *f = lines;
    for (int i = 0; i < 4 && f && *f; i++)
        f = strchr(f, '\t') ? strchr(f, '\t') + 1 : NULL;
    if (f && *f)
        e = strtoll(f, NULL, 10);
    free(lines);
    rm_tmp(path);
    usock_cookiejar_free(j);
    return e;
}

static long long date_of(const char *date)
{
    char attr[256];
    snprintf(attr, sizeof attr, "Expires=%s", date);
    return expiry_of(1, attr);
}

/* ---- the jar itself ----------------------------------------------------- */

static void new_jar_is_empty_and_free_takes_null(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(usock_cookiejar_count(j), 0);
    assert_string_equal(hdr(j, "http://example.com/"), "");
    usock_cookiejar_free(j);
    usock_cookiejar_free(NULL);
    assert_int_equal(usock_cookiejar_new(NULL), USOCK_EINVAL);
}

static void null_arguments_are_einval(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    char buf[8];
    assert_int_equal(usock_cookiejar_set(NULL, "http://h/", "a=b"), USOCK_EINVAL);
    assert_int_equal(usock_cookiejar_set(j, NULL, "a=b"), USOCK_EINVAL);
    assert_int_equal(usock_cookiejar_set(j, "http://h/", NULL), USOCK_EINVAL);
    assert_int_equal(usock_cookiejar_header(NULL, "http://h/", buf, sizeof buf), USOCK_EINVAL);
    assert_int_equal(usock_cookiejar_header(j, "http://h/", NULL, 8), USOCK_EINVAL);
    assert_int_equal(usock_cookiejar_load(j, NULL), USOCK_EINVAL);
    assert_int_equal(usock_cookiejar_save(NULL, "/tmp/x"), USOCK_EINVAL);
    assert_int_equal(usock_cookiejar_count(NULL), 0);
    usock_cookiejar_free(j);
}

static void urls_must_be_absolute_http_or_https(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    char buf[64];
    assert_int_equal(set(j, "ftp://example.com/", "a=b"), USOCK_EUNSUPPORTED_SCHEME);
    assert_int_equal(usock_cookiejar_header(j, "ftp://example.com/", buf, sizeof buf),
                     USOCK_EUNSUPPORTED_SCHEME);
    assert_true(set(j, "/relative/path", "a=b") < 0);
    assert_true(set(j, "http://", "a=b") < 0);
    assert_int_equal(usock_cookiejar_count(j), 0);
    usock_cookiejar_free(j);
}

/* ---- s5.2: parsing Set-Cookie -------------------------------------------- */

static void set_stores_name_value_and_header_sends_it(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/", "sid=abc123"), 1);
    assert_int_equal(usock_cookiejar_count(j), 1);
    assert_string_equal(hdr(j, "http://example.com/"), "sid=abc123");
    assert_string_equal(hdr(j, "http://example.com/any/path?q=1"), "sid=abc123");
    usock_cookiejar_free(j);
}

static void set_without_equals_sign_is_ignored(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/", "justaname"), 0);
    assert_int_equal(set(j, "http://example.com/", "justaname; a=b"), 0);
    assert_int_equal(usock_cookiejar_count(j), 0);
    usock_cookiejar_free(j);
}

static void set_with_empty_name_is_ignored(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/", "=value"), 0);
    assert_int_equal(set(j, "http://example.com/", "  =value; Path=/"), 0);
    assert_int_equal(usock_cookiejar_count(j), 0);
    usock_cookiejar_free(j);
}

static void name_and_value_are_trimmed_and_value_may_be_empty(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/", " \tname \t=  some value\t ; Path=/"), 1);
    assert_int_equal(set(j, "http://example.com/", "empty="), 1);
    assert_int_equal(set(j, "http://example.com/", "q=\"a b\"; x"), 1);
    assert_string_equal(hdr(j, "http://example.com/"), "name=some value; empty=; q=\"a b\"");
    usock_cookiejar_free(j);
}

static void value_keeps_equals_signs_after_the_first(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/", "tok=a=b==; Path=/"), 1);
    assert_string_equal(hdr(j, "http://example.com/"), "tok=a=b==");
    usock_cookiejar_free(j);
}

static void control_characters_make_the_line_ignored(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/", "a=b\r\nInjected: yes"), 0);
    assert_int_equal(set(j, "http://example.com/", "a=b\x01"), 0);
    assert_int_equal(set(j, "http://example.com/", "a=b\x7f"), 0);
    /* A TAB inside the name or value would break a cookies.txt line. */
    assert_int_equal(set(j, "http://example.com/", "a=b\tc"), 0);
    assert_int_equal(usock_cookiejar_count(j), 0);
    usock_cookiejar_free(j);
}

static void name_and_value_over_4096_bytes_are_ignored(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    char sc[5000];
    memset(sc, 'v', sizeof sc);
    memcpy(sc, "n=", 2);
    sc[4096 + 1] = '\0'; /* "n" + 4095 bytes of value: 4096 in all */
    assert_int_equal(set(j, "http://example.com/", sc), 1);
    sc[4096 + 1] = 'v';
    sc[4096 + 2] = '\0'; /* 4097 */
    assert_int_equal(set(j, "http://example.com/", sc), 0);
    assert_int_equal(usock_cookiejar_count(j), 1);
    usock_cookiejar_free(j);
}

static void attribute_names_are_case_insensitive(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(
        set(j, "https://www.example.com/", "a=b; pAtH=/p; DOMAIN=Example.COM; sEcUrE; HTTPONLY"),
        1);
    assert_string_equal(hdr(j, "https://sub.example.com/p/x"), "a=b");
    assert_string_equal(hdr(j, "http://sub.example.com/p/x"), ""); /* secure */
    assert_string_equal(hdr(j, "https://sub.example.com/q"), "");  /* path */
    usock_cookiejar_free(j);
}

static void unknown_attributes_are_ignored(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/", "a=b; SameSite=Lax; Priority=High; ;; x=y"), 1);
    assert_string_equal(hdr(j, "http://example.com/"), "a=b");
    usock_cookiejar_free(j);
}

static void the_last_of_a_repeated_attribute_wins(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/a/b", "a=b; Path=/x; Path=/y"), 1);
    assert_string_equal(hdr(j, "http://example.com/y"), "a=b");
    assert_string_equal(hdr(j, "http://example.com/x"), "");
    /* An invalid later Path stands for the default path (s5.2.4). */
    assert_int_equal(set(j, "http://example.com/a/b", "c=d; Path=/x; Path=rel"), 1);
    assert_string_equal(hdr(j, "http://example.com/a/"), "c=d");
    usock_cookiejar_free(j);
}

/* ---- s5.1.1: dates ---------------------------------------------------- */

static void expires_parses_the_three_http_date_forms(void **state)
{
    (void)state;
    assert_int_equal(date_of("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);  /* IMF-fixdate */
    assert_int_equal(date_of("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777); /* RFC 850 */
    assert_int_equal(date_of("Sun Nov  6 08:49:37 1994"), 784111777);       /* asctime */
}

static void expires_parses_loosely_as_browsers_do(void **state)
{
    (void)state;
    assert_int_equal(date_of("sun, 6 nov 1994 8:49:37 gmt"), 784111777);
    assert_int_equal(date_of("6 NOVEMBER 1994 8:49:37"), 784111777);
    assert_int_equal(date_of("1994-Nov-06 08:49:37"), 784111777);
    assert_int_equal(date_of("08:49:37 1994 6 nov"), 784111777);
    assert_int_equal(date_of("Fri, 31 Dec 9999 23:59:59 GMT"), 253402300799LL);
    assert_int_equal(date_of("Tue, 29 Feb 2000 12:00:00 GMT"), 951825600);
}

static void expires_two_digit_years_split_at_70(void **state)
{
    (void)state;
    assert_int_equal(date_of("01 Jan 70 00:00:02"), 2);
    assert_int_equal(date_of("31 Dec 99 23:59:59"), 946684799);
    assert_int_equal(date_of("01 Jan 00 00:00:00"), 946684800);
    assert_int_equal(date_of("01 Jan 69 00:00:00"), 3124224000LL);
}

static void expires_that_fails_to_parse_is_ignored(void **state)
{
    (void)state;
    /* The attribute is ignored: a session cookie (0), not a dropped one. */
    assert_int_equal(date_of("tomorrow"), 0);
    assert_int_equal(date_of("Sun, 06 Nov 1994"), 0);       /* no time */
    assert_int_equal(date_of("Sun, Nov 1994 08:49:37"), 0); /* no day */
    assert_int_equal(date_of("Sun, 06 1994 08:49:37"), 0);  /* no month */
    assert_int_equal(date_of("Sun, 06 Nov 08:49:37"), 0);   /* no year */
    assert_int_equal(date_of("06 Nov 1994 24:00:00"), 0);   /* hour */
    assert_int_equal(date_of("06 Nov 1994 23:60:00"), 0);   /* minute */
    assert_int_equal(date_of("06 Nov 1994 23:59:60"), 0);   /* second */
    assert_int_equal(date_of("32 Jan 2030 00:00:00"), 0);   /* day */
    assert_int_equal(date_of("31 Apr 2030 00:00:00"), 0);   /* no such date */
    assert_int_equal(date_of("29 Feb 2100 00:00:00"), 0);   /* not a leap year */
    assert_int_equal(date_of("01 Jan 1600 00:00:00"), 0);   /* before 1601 */
    assert_int_equal(date_of("06 Nov 19945 08:49:37"), 0);  /* five digits */
    assert_int_equal(date_of("06 Nov 1994 008:49:37"), 0);  /* three-digit hour */
    assert_int_equal(date_of(""), 0);
}

static void expires_in_the_past_stores_nothing_and_removes(void **state)
{
    (void)state;
    assert_int_equal(date_of("01 Jan 1601 00:00:00"), -1);
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/", "a=1"), 1);
    assert_int_equal(set(j, "http://example.com/", "a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT"),
                     0);
    assert_int_equal(usock_cookiejar_count(j), 0);
    usock_cookiejar_free(j);
}

static void expires_in_the_future_makes_a_persistent_cookie(void **state)
{
    (void)state;
    assert_int_equal(expiry_of(NOW, "Expires=Wed, 01 Jan 2048 00:00:00 GMT"), 2461449600LL);
    assert_int_equal(expiry_of(NOW, "Path=/"), 0); /* no Expires: a session cookie */
}

static void cookie_expires_at_its_expiry_time(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/", "a=1; Expires=Wed, 15 Nov 2023 00:00:00 GMT"),
                     1);
    usock__cookiejar_set_clock(j, 1700006399);
    assert_string_equal(hdr(j, "http://example.com/"), "a=1");
    usock__cookiejar_set_clock(j, 1700006400);
    assert_string_equal(hdr(j, "http://example.com/"), "");
    assert_int_equal(usock_cookiejar_count(j), 0);
    usock_cookiejar_free(j);
}

/* ---- s5.2.2: Max-Age ----------------------------------------------------- */

static void max_age_sets_expiry_from_now(void **state)
{
    (void)state;
    assert_int_equal(expiry_of(NOW, "Max-Age=3600"), NOW + 3600);
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/", "a=1; Max-Age=10"), 1);
    usock__cookiejar_set_clock(j, NOW + 9);
    assert_int_equal(usock_cookiejar_count(j), 1);
    usock__cookiejar_set_clock(j, NOW + 10);
    assert_int_equal(usock_cookiejar_count(j), 0);
    usock_cookiejar_free(j);
}

static void max_age_overrides_expires_in_either_order(void **state)
{
    (void)state;
    assert_int_equal(expiry_of(NOW, "Max-Age=60; Expires=Wed, 01 Jan 2048 00:00:00 GMT"), NOW + 60);
    assert_int_equal(expiry_of(NOW, "Expires=Wed, 01 Jan 2048 00:00:00 GMT; Max-Age=60"), NOW + 60);
    /* Max-Age=0 wins over a future Expires: nothing is stored. */
    assert_int_equal(expiry_of(NOW, "Expires=Wed, 01 Jan 2048 00:00:00 GMT; Max-Age=0"), -1);
}

static void max_age_zero_or_negative_deletes(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/", "a=1"), 1);
    assert_int_equal(set(j, "http://example.com/", "b=1"), 1);
    assert_int_equal(set(j, "http://example.com/", "c=1"), 1);
    assert_int_equal(set(j, "http://example.com/", "a=x; Max-Age=0"), 0);
    assert_int_equal(set(j, "http://example.com/", "b=x; Max-Age=-1"), 0);
    assert_int_equal(set(j, "http://example.com/", "c=x; Max-Age=-0"), 0);
    assert_int_equal(usock_cookiejar_count(j), 0);
    usock_cookiejar_free(j);
}

static void max_age_that_is_not_an_integer_is_ignored(void **state)
{
    (void)state;
    assert_int_equal(expiry_of(NOW, "Max-Age=12a"), 0);
    assert_int_equal(expiry_of(NOW, "Max-Age=+12"), 0);
    assert_int_equal(expiry_of(NOW, "Max-Age=1.5"), 0);
    assert_int_equal(expiry_of(NOW, "Max-Age=-"), 0);
    assert_int_equal(expiry_of(NOW, "Max-Age="), 0);
    /* An ignored Max-Age leaves Expires in charge. */
    assert_int_equal(expiry_of(NOW, "Max-Age=x; Expires=Wed, 01 Jan 2048 00:00:00 GMT"),
                     2461449600LL);
}

static void max_age_huge_saturates(void **state)
{
    (void)state;
    assert_true(expiry_of(NOW, "Max-Age=99999999999999999999999999") == INT64_MAX);
}

/* ---- s5.2.3, s5.3 steps 4-6: Domain ------------------------------------- */

static void no_domain_makes_a_host_only_cookie(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://www.example.com/", "a=1"), 1);
    assert_string_equal(hdr(j, "http://www.example.com/"), "a=1");
    assert_string_equal(hdr(j, "http://WWW.Example.COM/"), "a=1");
    assert_string_equal(hdr(j, "http://sub.www.example.com/"), "");
    assert_string_equal(hdr(j, "http://example.com/"), "");
    usock_cookiejar_free(j);
}

static void domain_covers_the_domain_and_its_subdomains(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://www.example.com/", "a=1; Domain=example.com"), 1);
    assert_string_equal(hdr(j, "http://example.com/"), "a=1");
    assert_string_equal(hdr(j, "http://www.example.com/"), "a=1");
    assert_string_equal(hdr(j, "http://a.b.example.com/"), "a=1");
    assert_string_equal(hdr(j, "http://badexample.com/"), "");
    assert_string_equal(hdr(j, "http://example.org/"), "");
    usock_cookiejar_free(j);
}

static void domain_equal_to_the_host_covers_subdomains(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/", "a=1; Domain=example.com"), 1);
    assert_string_equal(hdr(j, "http://www.example.com/"), "a=1");
    usock_cookiejar_free(j);
}

static void domain_leading_dot_is_ignored(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://www.example.com/", "a=1; Domain=.example.com"), 1);
    assert_string_equal(hdr(j, "http://example.com/"), "a=1");
    assert_string_equal(hdr(j, "http://x.example.com/"), "a=1");
    /* The same cookie as one set with Domain=example.com: replaced. */
    assert_int_equal(set(j, "http://www.example.com/", "a=2; Domain=example.com"), 1);
    assert_int_equal(usock_cookiejar_count(j), 1);
    usock_cookiejar_free(j);
}

static void domain_is_case_insensitive(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://WWW.EXAMPLE.COM/", "a=1; Domain=eXample.Com"), 1);
    assert_string_equal(hdr(j, "http://foo.example.com/"), "a=1");
    usock_cookiejar_free(j);
}

static void domain_that_does_not_match_the_host_is_refused(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://www.example.com/", "a=1; Domain=other.com"), 0);
    assert_int_equal(set(j, "http://www.example.com/", "a=1; Domain=ample.com"), 0);
    /* A subdomain of the host is not the host's to set. */
    assert_int_equal(set(j, "http://example.com/", "a=1; Domain=www.example.com"), 0);
    assert_int_equal(usock_cookiejar_count(j), 0);
    usock_cookiejar_free(j);
}

static void domain_empty_is_ignored_and_makes_host_only(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://www.example.com/", "a=1; Domain="), 1);
    assert_int_equal(set(j, "http://www.example.com/", "b=1; Domain=."), 1);
    assert_string_equal(hdr(j, "http://www.example.com/"), "a=1; b=1");
    assert_string_equal(hdr(j, "http://x.www.example.com/"), "");
    usock_cookiejar_free(j);
}

static void domain_of_a_single_label_is_refused(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    /* No public suffix list: one label ("com") stands for one. */
    assert_int_equal(set(j, "http://www.example.com/", "a=1; Domain=com"), 0);
    assert_int_equal(set(j, "http://www.example.com/", "a=1; Domain=.com"), 0);
    assert_int_equal(usock_cookiejar_count(j), 0);
    /* ...unless it is the host itself: then the cookie is host-only. */
    assert_int_equal(set(j, "http://localhost/", "a=1; Domain=localhost"), 1);
    assert_string_equal(hdr(j, "http://localhost/"), "a=1");
    assert_string_equal(hdr(j, "http://x.localhost/"), "");
    usock_cookiejar_free(j);
}

static void domain_of_an_ip_address_only_when_exact(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://192.168.0.1/", "a=1; Domain=168.0.1"), 0);
    assert_int_equal(set(j, "http://192.168.0.1/", "a=1; Domain=0.1"), 0);
    assert_int_equal(set(j, "http://192.168.0.1/", "b=2; Domain=192.168.0.1"), 1);
    assert_int_equal(set(j, "http://192.168.0.1/", "c=3"), 1);
    assert_string_equal(hdr(j, "http://192.168.0.1/"), "b=2; c=3");
    assert_string_equal(hdr(j, "http://192.168.0.2/"), "");
    /* Host-only, saved as such (the url layer refuses a host name ending
     * in a number, such as x.192.168.0.1, before the jar would see it). */
    char *path = tmp_path("jar.txt");
    assert_int_equal(usock_cookiejar_save(j, path), 2);
    char *lines = cookie_lines(path);
    assert_string_equal(lines,
                        "192.168.0.1\tFALSE\t/\tFALSE\t0\tb\t2\n"
                        "192.168.0.1\tFALSE\t/\tFALSE\t0\tc\t3\n");
    free(lines);
    rm_tmp(path);
    usock_cookiejar_free(j);
}

static void ipv6_hosts_work_without_brackets(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://[::1]:8080/", "a=1"), 1);
    assert_int_equal(set(j, "http://[::1]:8080/", "b=2; Domain=::1"), 1);
    assert_int_equal(set(j, "http://[::1]:8080/", "c=3; Domain=1"), 0);
    assert_string_equal(hdr(j, "http://[::1]/"), "a=1; b=2");
    assert_string_equal(hdr(j, "http://[::2]/"), "");
    usock_cookiejar_free(j);
}

static void port_and_userinfo_do_not_matter(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://user:pw@example.com:8080/", "a=1"), 1);
    assert_string_equal(hdr(j, "http://example.com:9090/"), "a=1");
    assert_string_equal(hdr(j, "https://example.com/"), "a=1");
    usock_cookiejar_free(j);
}

/* ---- s5.1.4, s5.2.4: Path ---------------------------------------------------- */

static void path_defaults_to_the_request_path_directory(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://h.example/a/b/page?x=/y/z", "d=1"), 1);
    assert_string_equal(hdr(j, "http://h.example/a/b"), "d=1");
    assert_string_equal(hdr(j, "http://h.example/a/b/other"), "d=1");
    assert_string_equal(hdr(j, "http://h.example/a/"), "");
    assert_string_equal(hdr(j, "http://h.example/a/bc"), "");
    usock_cookiejar_free(j);
}

static void path_default_is_root_for_one_slash_or_none(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://h.example/page", "a=1"), 1);
    assert_int_equal(set(j, "http://h.example", "b=2"), 1);
    assert_int_equal(set(j, "http://h.example/", "c=3"), 1);
    assert_string_equal(hdr(j, "http://h.example/"), "a=1; b=2; c=3");
    assert_string_equal(hdr(j, "http://h.example/x/y"), "a=1; b=2; c=3");
    assert_int_equal(usock_cookiejar_count(j), 3);
    usock_cookiejar_free(j);
}

static void path_attribute_not_starting_with_slash_means_default(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://h.example/a/b", "a=1; Path=x/y"), 1);
    assert_int_equal(set(j, "http://h.example/a/b", "b=2; Path="), 1);
    assert_string_equal(hdr(j, "http://h.example/a"), "a=1; b=2");
    assert_string_equal(hdr(j, "http://h.example/"), "");
    usock_cookiejar_free(j);
}

static void path_matches_at_a_slash_boundary_only(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://h.example/", "a=1; Path=/docs"), 1);
    assert_string_equal(hdr(j, "http://h.example/docs"), "a=1");
    assert_string_equal(hdr(j, "http://h.example/docs/"), "a=1");
    assert_string_equal(hdr(j, "http://h.example/docs/x/y"), "a=1");
    assert_string_equal(hdr(j, "http://h.example/docsearch"), "");
    assert_string_equal(hdr(j, "http://h.example/Docs"), "");
    assert_string_equal(hdr(j, "http://h.example/"), "");
    usock_cookiejar_free(j);
}

static void path_ending_in_slash_matches_below_it_only(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://h.example/", "a=1; Path=/docs/"), 1);
    assert_string_equal(hdr(j, "http://h.example/docs/"), "a=1");
    assert_string_equal(hdr(j, "http://h.example/docs/x"), "a=1");
    assert_string_equal(hdr(j, "http://h.example/docs"), "");
    usock_cookiejar_free(j);
}

/* ---- Secure and HttpOnly -------------------------------------------------- */

static void secure_cookie_is_sent_over_https_only(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "https://example.com/", "s=1; Secure"), 1);
    assert_int_equal(set(j, "https://example.com/", "p=2"), 1);
    assert_string_equal(hdr(j, "https://example.com/"), "s=1; p=2");
    assert_string_equal(hdr(j, "http://example.com/"), "p=2");
    usock_cookiejar_free(j);
}

static void secure_cookie_from_http_is_refused(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/", "s=1; Secure"), 0);
    assert_int_equal(usock_cookiejar_count(j), 0);
    usock_cookiejar_free(j);
}

static void httponly_cookie_is_sent_and_saved_with_its_prefix(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/", "h=1; HttpOnly"), 1);
    assert_string_equal(hdr(j, "http://example.com/"), "h=1");
    char *path = tmp_path("jar.txt");
    assert_int_equal(usock_cookiejar_save(j, path), 1);
    char *lines = cookie_lines(path);
    assert_string_equal(lines, "#HttpOnly_example.com\tFALSE\t/\tFALSE\t0\th\t1\n");
    free(lines);
    rm_tmp(path);
    usock_cookiejar_free(j);
}

/* ---- s5.3: storage --------------------------------------------------------- */

static void same_name_domain_and_path_replaces_keeping_creation_order(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/", "a=1"), 1);
    assert_int_equal(set(j, "http://example.com/", "b=2"), 1);
    assert_int_equal(set(j, "http://example.com/", "a=3"), 1);
    assert_int_equal(usock_cookiejar_count(j), 2);
    assert_string_equal(hdr(j, "http://example.com/"), "a=3; b=2");
    usock_cookiejar_free(j);
}

static void a_different_path_or_domain_is_a_different_cookie(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://www.example.com/", "a=1"), 1);
    assert_int_equal(set(j, "http://www.example.com/", "a=2; Path=/x"), 1);
    assert_int_equal(set(j, "http://www.example.com/", "a=3; Domain=example.com"), 1);
    assert_int_equal(set(j, "http://www.example.com/", "A=4"), 1); /* names are case-sensitive */
    assert_int_equal(usock_cookiejar_count(j), 4);
    assert_string_equal(hdr(j, "http://www.example.com/x"), "a=2; a=1; a=3; A=4");
    usock_cookiejar_free(j);
}

static void replacing_may_change_host_only_and_flags(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    /* Domain=www.example.com from www.example.com has the host-only
     * cookie's name, domain and path: it replaces it, now for subdomains. */
    assert_int_equal(set(j, "https://www.example.com/", "a=1; Secure"), 1);
    assert_int_equal(set(j, "https://www.example.com/", "a=2; Domain=www.example.com"), 1);
    assert_int_equal(usock_cookiejar_count(j), 1);
    assert_string_equal(hdr(j, "http://x.www.example.com/"), "a=2");
    usock_cookiejar_free(j);
}

static void per_domain_bound_evicts_the_least_recently_used(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    char sc[32];
    for (int i = 0; i < 50; i++) {
        snprintf(sc, sizeof sc, "c%d=%d; Path=/p%d", i, i, i);
        assert_int_equal(set(j, "http://example.com/", sc), 1);
    }
    assert_int_equal(usock_cookiejar_count(j), 50);
    /* Sending c0 makes c1 the least recently used. */
    assert_string_equal(hdr(j, "http://example.com/p0"), "c0=0");
    assert_int_equal(set(j, "http://example.com/", "new=1"), 1);
    assert_int_equal(usock_cookiejar_count(j), 50);
    assert_string_equal(hdr(j, "http://example.com/p0"), "c0=0; new=1");
    assert_string_equal(hdr(j, "http://example.com/p1"), "new=1");
    assert_string_equal(hdr(j, "http://example.com/p2"), "c2=2; new=1");
    /* Another domain has its own 50. */
    assert_int_equal(set(j, "http://example.org/", "x=1"), 1);
    assert_int_equal(usock_cookiejar_count(j), 51);
    usock_cookiejar_free(j);
}

static void total_bound_of_3000_evicts_the_least_recently_used(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    char url[64], sc[32];
    for (int d = 0; d < 60; d++)
        for (int i = 0; i < 50; i++) {
            snprintf(url, sizeof url, "http://d%d.example/", d);
            snprintf(sc, sizeof sc, "c%d=%d", i, i);
            assert_int_equal(set(j, url, sc), 1);
        }
    assert_int_equal(usock_cookiejar_count(j), 3000);
    hdr(j, "http://d0.example/");
    assert_int_equal(set(j, "http://late.example/", "z=1"), 1);
    assert_int_equal(usock_cookiejar_count(j), 3000);
    /* d0's were just sent; the oldest untouched one, d1's c0, went. */
    assert_non_null(strstr(hdr(j, "http://d0.example/"), "c0=0; c1=1"));
    assert_int_equal(strncmp(hdr(j, "http://d1.example/"), "c1=1; ", 6), 0);
    assert_string_equal(hdr(j, "http://late.example/"), "z=1");
    usock_cookiejar_free(j);
}

/* ---- s5.4: the Cookie header ----------------------------------------------- */

static void header_orders_longer_paths_first_then_older(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/", "root1=1; Path=/"), 1);
    assert_int_equal(set(j, "http://example.com/", "deep=2; Path=/a/b"), 1);
    assert_int_equal(set(j, "http://example.com/", "mid=3; Path=/a"), 1);
    assert_int_equal(set(j, "http://example.com/", "root2=4; Path=/"), 1);
    assert_int_equal(set(j, "http://example.com/", "deep2=5; Path=/a/b"), 1);
    assert_string_equal(hdr(j, "http://example.com/a/b/c"),
                        "deep=2; deep2=5; mid=3; root1=1; root2=4");
    usock_cookiejar_free(j);
}

static void header_too_small_buffer_is_enospc(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    char buf[16];
    assert_int_equal(set(j, "http://example.com/", "abc=123"), 1);
    assert_int_equal(set(j, "http://example.com/", "d=4"), 1);
    /* "abc=123; d=4" is 12 bytes, 13 with its NUL. */
    assert_int_equal(usock_cookiejar_header(j, "http://example.com/", buf, 13), 12);
    assert_string_equal(buf, "abc=123; d=4");
    assert_int_equal(usock_cookiejar_header(j, "http://example.com/", buf, 12), USOCK_ENOSPC);
    assert_string_equal(buf, "");
    assert_int_equal(usock_cookiejar_header(j, "http://example.com/", NULL, 0), USOCK_ENOSPC);
    /* No cookie fits anywhere. */
    assert_int_equal(usock_cookiejar_header(j, "http://other.example/", NULL, 0), 0);
    usock_cookiejar_free(j);
}

/* ---- cookies.txt ------------------------------------------------------------- */

static void save_writes_curls_format(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "https://www.example.com/a/b", "host=1"), 1);
    assert_int_equal(set(j, "https://www.example.com/", "dom=2; Domain=example.com; Secure"), 1);
    assert_int_equal(
        set(j, "https://www.example.com/", "per=3; Path=/p; Expires=Wed, 01 Jan 2048 00:00:00 GMT"),
        1);
    assert_int_equal(set(j, "https://www.example.com/", "ho=4; HttpOnly; Max-Age=100"), 1);
    char *path = tmp_path("cookies.txt");
    assert_int_equal(usock_cookiejar_save(j, path), 4);
    char *text = read_text(path);
    assert_int_equal(strncmp(text, "# Netscape HTTP Cookie File\n", 28), 0);
    free(text);
    char *lines = cookie_lines(path);
    assert_string_equal(lines,
                        "www.example.com\tFALSE\t/a\tFALSE\t0\thost\t1\n"
                        ".example.com\tTRUE\t/\tTRUE\t0\tdom\t2\n"
                        "www.example.com\tFALSE\t/p\tFALSE\t2461449600\tper\t3\n"
                        "#HttpOnly_www.example.com\tFALSE\t/\tFALSE\t1700000100\tho\t4\n");
    free(lines);
    rm_tmp(path);
    usock_cookiejar_free(j);
}

static void save_then_load_round_trips(void **state)
{
    (void)state;
    usock_cookiejar *a = jar(), *b = jar();
    assert_int_equal(set(a, "https://www.example.com/a/b", "host=1"), 1);
    assert_int_equal(set(a, "https://www.example.com/", "dom=2; Domain=example.com; Secure"), 1);
    assert_int_equal(set(a, "https://www.example.com/", "per=3; Path=/a; Max-Age=500"), 1);
    assert_int_equal(set(a, "https://www.example.com/", "ho=4; HttpOnly"), 1);
    assert_int_equal(set(a, "http://10.0.0.1/", "ip=5; Domain=10.0.0.1"), 1);
    char *path = tmp_path("cookies.txt");
    assert_int_equal(usock_cookiejar_save(a, path), 5);
    assert_int_equal(usock_cookiejar_load(b, path), 5);
    const char *urls[] = {"https://www.example.com/a/b/c", "http://www.example.com/a",
                          "https://x.example.com/", "http://10.0.0.1/"};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        char *want = strdup(hdr(a, urls[i]));
        assert_string_equal(hdr(b, urls[i]), want);
        free(want);
    }
    assert_string_equal(hdr(b, "https://www.example.com/a/b/c"), "host=1; per=3; dom=2; ho=4");
    /* Saving the loaded jar gives the same lines back. */
    char *first = cookie_lines(path);
    assert_int_equal(usock_cookiejar_save(b, path), 5);
    char *second = cookie_lines(path);
    assert_string_equal(first, second);
    free(first);
    free(second);
    /* Persistent cookies keep their expiry through the file. */
    usock__cookiejar_set_clock(b, NOW + 500);
    assert_string_equal(hdr(b, "https://www.example.com/a/b/c"), "host=1; dom=2; ho=4");
    rm_tmp(path);
    usock_cookiejar_free(a);
    usock_cookiejar_free(b);
}

static void save_replaces_the_file_atomically_and_keeps_its_mode(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    char *path = tmp_path("cookies.txt");
    write_text(path, "old contents\n");
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(set(j, "http://example.com/", "a=1"), 1);
    assert_int_equal(usock_cookiejar_save(j, path), 1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    char *lines = cookie_lines(path);
    assert_string_equal(lines, "example.com\tFALSE\t/\tFALSE\t0\ta\t1\n");
    free(lines);
    /* Nothing else (no temporary file) is left beside it. */
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    DIR *d = opendir(dir);
    assert_non_null(d);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        entries += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 1);
    rm_tmp(path);
    usock_cookiejar_free(j);
}

static void save_creates_a_new_file_private(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    char *path = tmp_path("new.txt");
    assert_int_equal(usock_cookiejar_save(j, path), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *lines = cookie_lines(path);
    assert_string_equal(lines, "");
    free(lines);
    rm_tmp(path);
    usock_cookiejar_free(j);
}

static void save_into_a_missing_directory_fails(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(usock_cookiejar_save(j, "/nonexistent-usock-dir/cookies.txt"), USOCK_ENOENT);
    usock_cookiejar_free(j);
}

static void save_to_a_device_writes_in_place(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/", "a=1"), 1);
    assert_int_equal(usock_cookiejar_save(j, "/dev/null"), 1);
    usock_cookiejar_free(j);
}

static void load_of_a_missing_file_is_enoent(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(usock_cookiejar_load(j, "/nonexistent-usock-dir/cookies.txt"), USOCK_ENOENT);
    usock_cookiejar_free(j);
}

static void load_skips_comments_blank_lines_and_takes_crlf(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    char *path = tmp_path("cookies.txt");
    write_text(path,
               "# Netscape HTTP Cookie File\r\n"
               "\r\n"
               "   \n"
               "# a comment\tTRUE\t/\tFALSE\t0\tx\ty\n"
               "example.com\tFALSE\t/\tFALSE\t0\ta\t1\r\n"
               "  example.com\tFALSE\t/\tFALSE\t0\tb\t2");
    assert_int_equal(usock_cookiejar_load(j, path), 2);
    assert_string_equal(hdr(j, "http://example.com/"), "a=1; b=2");
    rm_tmp(path);
    usock_cookiejar_free(j);
}

static void load_reads_the_fields(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    char *path = tmp_path("cookies.txt");
    write_text(path,
               ".Example.com\tTRUE\t/\tFALSE\t0\tdom\t1\n"
               "host.example.com\tFALSE\t/p\tFALSE\t0\thost\t2\n"
               "example.com\tfalse\t/\ttrue\t0\tsec\t3\n"
               "#HttpOnly_example.com\tFALSE\t/\tFALSE\t1700000100\tho\t4\n");
    assert_int_equal(usock_cookiejar_load(j, path), 4);
    assert_string_equal(hdr(j, "https://example.com/"), "dom=1; sec=3; ho=4");
    assert_string_equal(hdr(j, "http://example.com/"), "dom=1; ho=4");
    assert_string_equal(hdr(j, "http://host.example.com/p"), "host=2; dom=1");
    assert_string_equal(hdr(j, "http://x.host.example.com/p"), "dom=1");
    usock__cookiejar_set_clock(j, 1700000100);
    assert_string_equal(hdr(j, "http://example.com/"), "dom=1");
    rm_tmp(path);
    usock_cookiejar_free(j);
}

static void load_makes_single_label_and_ip_domains_host_only(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    char *path = tmp_path("cookies.txt");
    write_text(path,
               ".com\tTRUE\t/\tFALSE\t0\ttld\t1\n"
               ".10.0.0.1\tTRUE\t/\tFALSE\t0\tip\t2\n");
    assert_int_equal(usock_cookiejar_load(j, path), 2);
    assert_string_equal(hdr(j, "http://example.com/"), "");
    assert_string_equal(hdr(j, "http://com/"), "tld=1");
    assert_string_equal(hdr(j, "http://10.0.0.1/"), "ip=2");
    assert_int_equal(usock_cookiejar_save(j, path), 2);
    char *lines = cookie_lines(path);
    assert_string_equal(lines,
                        "com\tFALSE\t/\tFALSE\t0\ttld\t1\n"
                        "10.0.0.1\tFALSE\t/\tFALSE\t0\tip\t2\n");
    free(lines);
    rm_tmp(path);
    usock_cookiejar_free(j);
}

static void load_takes_a_six_field_line_as_an_empty_value(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    char *path = tmp_path("cookies.txt");
    write_text(path, "example.com\tFALSE\t/\tFALSE\t0\tempty\n");
    assert_int_equal(usock_cookiejar_load(j, path), 1);
    assert_string_equal(hdr(j, "http://example.com/"), "empty=");
    rm_tmp(path);
    usock_cookiejar_free(j);
}

static void load_drops_expired_lines(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    char *path = tmp_path("cookies.txt");
    write_text(path,
               "example.com\tFALSE\t/\tFALSE\t1\told\t1\n"
               "example.com\tFALSE\t/\tFALSE\t1700000000\tnow\t2\n"
               "example.com\tFALSE\t/\tFALSE\t1700000001\tnext\t3\n");
    assert_int_equal(usock_cookiejar_load(j, path), 1);
    assert_string_equal(hdr(j, "http://example.com/"), "next=3");
    rm_tmp(path);
    usock_cookiejar_free(j);
}

static void load_merges_into_the_jar(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(set(j, "http://example.com/", "kept=1"), 1);
    assert_int_equal(set(j, "http://example.com/", "same=old"), 1);
    char *path = tmp_path("cookies.txt");
    write_text(path,
               "example.com\tFALSE\t/\tFALSE\t0\tsame\tnew\n"
               "example.com\tFALSE\t/\tFALSE\t0\tadded\t2\n");
    assert_int_equal(usock_cookiejar_load(j, path), 2);
    assert_int_equal(usock_cookiejar_count(j), 3);
    assert_string_equal(hdr(j, "http://example.com/"), "kept=1; same=new; added=2");
    rm_tmp(path);
    usock_cookiejar_free(j);
}

static void load_of_a_malformed_line_fails_and_keeps_the_jar(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "example.com\tFALSE\t/\tFALSE\t0\n",                          /* five fields */
        "example.com\tFALSE\t/\tFALSE\t0\ta\t1\textra\n",             /* eight */
        "example.com FALSE / FALSE 0 a 1\n",                          /* spaces, not TABs */
        "\tFALSE\t/\tFALSE\t0\ta\t1\n",                               /* no domain */
        ".\tFALSE\t/\tFALSE\t0\ta\t1\n",                              /* only a dot */
        "example.com\tYES\t/\tFALSE\t0\ta\t1\n",                      /* subdomains flag */
        "example.com\tFALSE\tpath\tFALSE\t0\ta\t1\n",                 /* relative path */
        "example.com\tFALSE\t/\t1\t0\ta\t1\n",                        /* secure flag */
        "example.com\tFALSE\t/\tFALSE\tsoon\ta\t1\n",                 /* expiry */
        "example.com\tFALSE\t/\tFALSE\t-5\ta\t1\n",                   /* negative expiry */
        "example.com\tFALSE\t/\tFALSE\t99999999999999999999\ta\t1\n", /* overflow */
        "example.com\tFALSE\t/\tFALSE\t0\t\t1\n",                     /* empty name */
        "example.com\tFALSE\t/\tFALSE\t0\ta=b\t1\n",                  /* '=' in name */
        "example.com\tFALSE\t/\tFALSE\t0\ta\tx;y\n",                  /* ';' in value */
        "example.com\tFALSE\t/\tFALSE\t0\ta\tx\x01y\n",               /* control */
        "Set-Cookie: a=1\n",                                          /* a header line */
    };
    char *path = tmp_path("cookies.txt");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        usock_cookiejar *j = jar();
        assert_int_equal(set(j, "http://example.com/", "mine=1"), 1);
        char text[256];
        snprintf(text, sizeof text, "example.com\tFALSE\t/\tFALSE\t0\tgood\t1\n%s", bad[i]);
        write_text(path, text);
        int r = usock_cookiejar_load(j, path);
        if (r != USOCK_ECOOKIE_FILE)
            fail_msg("line %zu (%s) gave %d", i, bad[i], r);
        /* Nothing of the file was merged, not even its good line. */
        assert_string_equal(hdr(j, "http://example.com/"), "mine=1");
        usock_cookiejar_free(j);
    }
    rm_tmp(path);
}

static void load_of_a_nul_byte_fails(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    char *path = tmp_path("cookies.txt");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    static const char line[] = "example.com\tFALSE\t/\tFALSE\t0\ta\t1\0x\n";
    fwrite(line, 1, sizeof line - 1, f);
    fclose(f);
    assert_int_equal(usock_cookiejar_load(j, path), USOCK_ECOOKIE_FILE);
    rm_tmp(path);
    usock_cookiejar_free(j);
}

/* tests/data/cookies/curl-7.88.1.txt: what curl 7.88.1 itself wrote
 * (tests/data/cookies/generate.py). */
static void load_reads_a_file_written_by_curl(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(usock_cookiejar_load(j, CURL_FILE), 8);
    /* curl writes the newest first; the file's order is the creation
     * order here. curl's default path keeps the last '/' ("/dir/"). */
    assert_string_equal(hdr(j, "https://www.example.com/dir/sub/x"),
                        "sub=3; plain=1; empty=; quoted=\"a b\"; ho=5; persist=4; dom=2; sec=9");
    assert_string_equal(hdr(j, "http://www.example.com/dir/sub/x"),
                        "sub=3; plain=1; empty=; quoted=\"a b\"; ho=5; persist=4; dom=2");
    assert_string_equal(hdr(j, "http://other.example.com/dir"), "dom=2");
    usock_cookiejar_free(j);
}

static void saving_a_curl_file_gives_its_lines_back(void **state)
{
    (void)state;
    usock_cookiejar *j = jar();
    assert_int_equal(usock_cookiejar_load(j, CURL_FILE), 8);
    char *path = tmp_path("cookies.txt");
    assert_int_equal(usock_cookiejar_save(j, path), 8);
    char *ours = cookie_lines(path), *curls = cookie_lines(CURL_FILE);
    assert_string_equal(ours, curls);
    free(ours);
    free(curls);
    rm_tmp(path);
    usock_cookiejar_free(j);
}

/* ---- threads -------------------------------------------------------------- */

static void *hammer(void *arg)
{
    usock_cookiejar *j = arg;
    char sc[64], url[64], buf[8192];
    for (int i = 0; i < 400; i++) {
        snprintf(url, sizeof url, "http://h%d.example/", i % 7);
        snprintf(sc, sizeof sc, "c%d=%d; Max-Age=%d", i % 60, i, i % 5);
        if (usock_cookiejar_set(j, url, sc) < 0 ||
            usock_cookiejar_header(j, url, buf, sizeof buf) < 0)
            return (void *)1;
        usock_cookiejar_count(j);
    }
    return NULL;
}

static void one_jar_serves_many_threads(void **state)
{
    (void)state;
    usock_cookiejar *j;
    assert_int_equal(usock_cookiejar_new(&j), 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, j), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        assert_int_equal(pthread_join(t[i], &r), 0);
        assert_null(r);
    }
    assert_true(usock_cookiejar_count(j) <= 7 * 50);
    usock_cookiejar_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_jar_is_empty_and_free_takes_null),
        cmocka_unit_test(null_arguments_are_einval),
        cmocka_unit_test(urls_must_be_absolute_http_or_https),
        cmocka_unit_test(set_stores_name_value_and_header_sends_it),
        cmocka_unit_test(set_without_equals_sign_is_ignored),
        cmocka_unit_test(set_with_empty_name_is_ignored),
        cmocka_unit_test(name_and_value_are_trimmed_and_value_may_be_empty),
        cmocka_unit_test(value_keeps_equals_signs_after_the_first),
        cmocka_unit_test(control_characters_make_the_line_ignored),
        cmocka_unit_test(name_and_value_over_4096_bytes_are_ignored),
        cmocka_unit_test(attribute_names_are_case_insensitive),
        cmocka_unit_test(unknown_attributes_are_ignored),
        cmocka_unit_test(the_last_of_a_repeated_attribute_wins),
        cmocka_unit_test(expires_parses_the_three_http_date_forms),
        cmocka_unit_test(expires_parses_loosely_as_browsers_do),
        cmocka_unit_test(expires_two_digit_years_split_at_70),
        cmocka_unit_test(expires_that_fails_to_parse_is_ignored),
        cmocka_unit_test(expires_in_the_past_stores_nothing_and_removes),
        cmocka_unit_test(expires_in_the_future_makes_a_persistent_cookie),
        cmocka_unit_test(cookie_expires_at_its_expiry_time),
        cmocka_unit_test(max_age_sets_expiry_from_now),
        cmocka_unit_test(max_age_overrides_expires_in_either_order),
        cmocka_unit_test(max_age_zero_or_negative_deletes),
        cmocka_unit_test(max_age_that_is_not_an_integer_is_ignored),
        cmocka_unit_test(max_age_huge_saturates),
        cmocka_unit_test(no_domain_makes_a_host_only_cookie),
        cmocka_unit_test(domain_covers_the_domain_and_its_subdomains),
        cmocka_unit_test(domain_equal_to_the_host_covers_subdomains),
        cmocka_unit_test(domain_leading_dot_is_ignored),
        cmocka_unit_test(domain_is_case_insensitive),
        cmocka_unit_test(domain_that_does_not_match_the_host_is_refused),
        cmocka_unit_test(domain_empty_is_ignored_and_makes_host_only),
        cmocka_unit_test(domain_of_a_single_label_is_refused),
        cmocka_unit_test(domain_of_an_ip_address_only_when_exact),
        cmocka_unit_test(ipv6_hosts_work_without_brackets),
        cmocka_unit_test(port_and_userinfo_do_not_matter),
        cmocka_unit_test(path_defaults_to_the_request_path_directory),
        cmocka_unit_test(path_default_is_root_for_one_slash_or_none),
        cmocka_unit_test(path_attribute_not_starting_with_slash_means_default),
        cmocka_unit_test(path_matches_at_a_slash_boundary_only),
        cmocka_unit_test(path_ending_in_slash_matches_below_it_only),
        cmocka_unit_test(secure_cookie_is_sent_over_https_only),
        cmocka_unit_test(secure_cookie_from_http_is_refused),
        cmocka_unit_test(httponly_cookie_is_sent_and_saved_with_its_prefix),
        cmocka_unit_test(same_name_domain_and_path_replaces_keeping_creation_order),
        cmocka_unit_test(a_different_path_or_domain_is_a_different_cookie),
        cmocka_unit_test(replacing_may_change_host_only_and_flags),
        cmocka_unit_test(per_domain_bound_evicts_the_least_recently_used),
        cmocka_unit_test(total_bound_of_3000_evicts_the_least_recently_used),
        cmocka_unit_test(header_orders_longer_paths_first_then_older),
        cmocka_unit_test(header_too_small_buffer_is_enospc),
        cmocka_unit_test(save_writes_curls_format),
        cmocka_unit_test(save_then_load_round_trips),
        cmocka_unit_test(save_replaces_the_file_atomically_and_keeps_its_mode),
        cmocka_unit_test(save_creates_a_new_file_private),
        cmocka_unit_test(save_into_a_missing_directory_fails),
        cmocka_unit_test(save_to_a_device_writes_in_place),
        cmocka_unit_test(load_of_a_missing_file_is_enoent),
        cmocka_unit_test(load_skips_comments_blank_lines_and_takes_crlf),
        cmocka_unit_test(load_reads_the_fields),
        cmocka_unit_test(load_makes_single_label_and_ip_domains_host_only),
        cmocka_unit_test(load_takes_a_six_field_line_as_an_empty_value),
        cmocka_unit_test(load_drops_expired_lines),
        cmocka_unit_test(load_merges_into_the_jar),
        cmocka_unit_test(load_of_a_malformed_line_fails_and_keeps_the_jar),
        cmocka_unit_test(load_of_a_nul_byte_fails),
        cmocka_unit_test(load_reads_a_file_written_by_curl),
        cmocka_unit_test(saving_a_curl_file_gives_its_lines_back),
        cmocka_unit_test(one_jar_serves_many_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
