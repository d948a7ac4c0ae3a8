/* fuzz_url.c -- libFuzzer harness for the URL layer (url.h).
 *
 * The input is parsed as a URL; when it is accepted, formatting it and
 * parsing the text again must give the same fields and the same text
 * (parse -> format -> parse is stable), the client's helpers must fit
 * their documented sizes, and resolving it against a base (and a reference
 * against it) must give a URL that is stable the same way. The input is
 * also split at its first NUL into a base and a reference for
 * usock_url_join_str, whose text must parse back to itself. The encoders
 * must round-trip it: quote and quote_plus through unquote, base64 both
 * ways, parse_qs through urlencode. Any difference abort()s. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "usock.h"
#include "usock/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static int same_url(const usock_url *a, const usock_url *b)
{
    return same_str(a->scheme, b->scheme) && same_str(a->user, b->user) &&
           same_str(a->password, b->password) && same_str(a->host, b->host) &&
           a->host_is_ipv6 == b->host_is_ipv6 && a->port == b->port && same_str(a->path, b->path) &&
           same_str(a->query, b->query) && same_str(a->fragment, b->fragment);
}

static size_t len0(const char *s)
{
    return s ? strlen(s) : 0;
}

/* u formats, the text parses to the same fields and formats the same. */
static void stable(const usock_url *u)
{
    char *s = NULL, *s2 = NULL;
    usock_url *v = NULL;
    int n = usock_url_to_string(u, &s);
    if (n < 0 || (size_t)n != strlen(s))
        abort();
    if (usock_url_parse(s, &v) != 0 || !same_url(u, v))
        abort();
    if (usock_url_to_string(v, &s2) != n || strcmp(s, s2) != 0)
        abort();
    /* A buffer one byte short fails cleanly, leaving "". */
    char *b = malloc((size_t)n + 1);
    if (!b || usock_url_format(u, n ? b : NULL, (size_t)n) != USOCK_ENOSPC || (n && b[0] != '\0'))
        abort();
    free(b);
    free(s);
    free(s2);
    usock_url_free(v);
}

static void helpers(const usock_url *u)
{
    size_t need = len0(u->path) + len0(u->query) + len0(u->host) + len0(u->user) + 16;
    char *b = malloc(need), *p = malloc(len0(u->password) + 1);
    if (!b || !p)
        abort();
    int r = usock_url_target(u, b, need);
    if (r < 0 || (size_t)r != strlen(b))
        abort();
    r = usock_url_host_header(u, b, need);
    if (r < 0 && r != USOCK_EURL_NO_HOST)
        abort();
    if (u->host && u->host[0] && (r < 0 || strchr(b, '%')))
        abort(); /* no zone in a Host header */
    r = usock_url_port(u);
    if (r < 0 ? r != USOCK_EURL_NO_PORT : r > 65535)
        abort();
    r = usock_url_credentials(u, b, len0(u->user) + 1, p, len0(u->password) + 1);
    if (r != 0 && r != USOCK_ENOENT && r != USOCK_EURL_BAD_CHAR)
        abort();
    free(b);
    free(p);
}

static void joins(const usock_url *u)
{
    static const char *bases[] = {"http://b/c/d;p?q", "foo:/x/y", "https://[::1]:8/a"};
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        usock_url *base = NULL, *t = NULL;
        if (usock_url_parse(bases[i], &base) != 0)
            abort();
        if (usock_url_join(base, u, &t) == 0)
            stable(t);
        usock_url_free(t);
        t = NULL;
        if (u->scheme && usock_url_join(u, base, &t) == 0)
            stable(t);
        usock_url_free(t);
        usock_url_free(base);
    }
}

static void join_text(const char *buf, size_t len)
{
    const char *nul = memchr(buf, '\0', len);
    if (!nul)
        return;
    /* buf holds the base (NUL-ended there); the reference needs its own NUL. */
    size_t rn = len - (size_t)(nul + 1 - buf);
    char *ref = malloc(rn + 1);
    if (!ref)
        abort();
    memcpy(ref, nul + 1, rn);
    ref[rn] = '\0';
    char *out = NULL, *again = NULL;
    usock_url *t = NULL;
    int n = usock_url_join_str(buf, ref, &out);
    if (n >= 0) {
        if ((size_t)n != strlen(out) || usock_url_parse(out, &t) != 0 ||
            usock_url_to_string(t, &again) != n || strcmp(out, again) != 0)
            abort();
    }
    free(out);
    free(again);
    usock_url_free(t);
    free(ref);
}

static void encoders(const char *buf, size_t len)
{
    size_t cap = 3 * len + 1;
    char *q = malloc(cap), *back = malloc(len + 1);
    if (!q || !back)
        abort();
    for (int plus = 0; plus <= 1; plus++) {
        int n = usock_url_quote(buf, len, "", plus ? USOCK_URL_PLUS : 0, q, cap);
        if (n < 0)
            abort();
        int m = usock_url_unquote(q, (size_t)n, plus ? USOCK_URL_PLUS : 0, back, len + 1);
        if (m != (int)len || memcmp(back, buf, len) != 0)
            abort();
    }
    /* unquote never grows and never fails with room for n + 1. */
    int m = usock_url_unquote(buf, len, 0, back, len + 1);
    if (m < 0 || (size_t)m > len)
        abort();
    /* remove_dot_segments never grows either. */
    m = usock_url_remove_dot_segments(buf, len, back, len + 1);
    if (m < 0 || (size_t)m > len)
        abort();
    free(q);
    free(back);

    char *enc = malloc(USOCK_BASE64_LEN(len) + 1), *dec = malloc(len + 1);
    if (!enc || !dec)
        abort();
    int e = usock_base64_encode(buf, len, enc, USOCK_BASE64_LEN(len) + 1);
    if (e != (int)USOCK_BASE64_LEN(len) ||
        usock_base64_decode(enc, (size_t)e, dec, len + 1) != (int)len || memcmp(dec, buf, len) != 0)
        abort();
    /* What decodes is canonical: it encodes back to the same text. */
    int d = usock_base64_decode(buf, len, dec, len + 1);
    if (d >= 0) {
        char *re = malloc(USOCK_BASE64_LEN((size_t)d) + 1);
        if (!re ||
            usock_base64_encode(dec, (size_t)d, re, USOCK_BASE64_LEN((size_t)d) + 1) != (int)len ||
            memcmp(re, buf, len) != 0)
            abort();
        free(re);
    } else if (d != USOCK_EURL_BAD_BASE64) {
        abort();
    }
    free(enc);
    free(dec);
}

/* parse_qs, then urlencode, then parse_qs again: the same pairs. */
static void query(const char *buf, size_t len)
{
    usock_url_pair *p = NULL, *p2 = NULL;
    int n = usock_url_parse_qs(buf, len, USOCK_URL_KEEP_BLANK, &p);
    if (n < 0) {
        if (n != USOCK_EURL_BAD_CHAR || p)
            abort();
        return;
    }
    size_t cap = 1;
    for (int i = 0; i < n; i++)
        cap += 3 * (strlen(p[i].key) + strlen(p[i].value)) + 2;
    char *enc = malloc(cap);
    if (!enc)
        abort();
    int e = usock_url_urlencode(p, (size_t)n, enc, cap);
    if (e < 0)
        abort();
    /* Every pair comes back, an empty one too (as "="). */
    int n2 = usock_url_parse_qs(enc, (size_t)e, USOCK_URL_KEEP_BLANK, &p2);
    if (n2 != n)
        abort();
    for (int i = 0; i < n2; i++)
        if (strcmp(p[i].key, p2[i].key) != 0 || strcmp(p[i].value, p2[i].value) != 0)
            abort();
    free(enc);
    free(p);
    free(p2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so that ASan sees any read past the end. */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    usock_url *u = NULL;
    int r = usock_url_parse_n(buf, size, &u);
    if (r == 0) {
        stable(u);
        helpers(u);
        joins(u);
    } else if (!USOCK_IS_OWN(r) || u) {
        abort();
    }
    usock_url_free(u);
    join_text(buf, size);
    encoders(buf, size);
    query(buf, size);
    free(buf);
    return 0;
}
