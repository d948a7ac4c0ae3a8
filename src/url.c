/* url.c -- URLs (RFC 3986): parse, format, join, remove_dot_segments, the
 * HTTP client's helpers, quote/unquote/urlencode/parse_qs and base64. No
 * I/O.
 *
 * Parsing is one pass over the text that checks every byte and records
 * where each component lies; the components are then copied into one
 * block behind the struct, and the host is decoded and lowercased there
 * (which only ever shortens it). Joining works on parsed URLs and builds
 * a new block the same way, so both give URLs that usock_url_format
 * writes back into text that parses to the same fields. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "usock/url.h"
#include "usock/socket.h"

#include "shared.h"

/* ---- character classes (RFC 3986 s2) -------------------------------------- */

static int is_alpha(unsigned char c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_unreserved(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int is_sub_delim(unsigned char c)
{
    return c != 0 && strchr("!$&'()*+,;=", c) != NULL;
}

/* Printable ASCII that RFC 3986 leaves out but Python and curl pass through
 * in paths, queries and fragments ("a[]=1", "{id}", "x|y"); the HTTP layer
 * carries them in a request target. */
static int is_lenient(unsigned char c)
{
    return c != 0 && strchr("\"<>[]^`{|}", c) != NULL;
}

/* Path bytes other than '%': pchar, '/', and the lenient ones. */
static int is_path_char(unsigned char c)
{
    return is_unreserved(c) || is_sub_delim(c) || c == ':' || c == '@' || c == '/' || is_lenient(c);
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* An escape "%HH" at p (p[0] == '%') within end: 1 when valid. */
static int escape_ok(const char *p, const char *end)
{
    return end - p >= 3 && usock__hex_value((unsigned char)p[1]) >= 0 &&
           usock__hex_value((unsigned char)p[2]) >= 0;
}

static unsigned char escape_value(const char *p)
{
    return (unsigned char)(usock__hex_value((unsigned char)p[1]) * 16 +
                           usock__hex_value((unsigned char)p[2]));
}

/* ---- building a URL: one block --------------------------------------------- */

struct slice {
    const char *p; /* NULL: absent */
    size_t n;
};

struct parts {
    struct slice scheme, user, password, host, path, query, fragment;
    int ipv6, port;
};

static struct slice sl(const char *p, size_t n)
{
    struct slice s = {p, n};
    return s;
}

static struct slice sl_str(const char *s)
{
    return sl(s, s ? strlen(s) : 0);
}

static const char *put(char **w, struct slice s)
{
    if (!s.p)
        return NULL;
    char *at = *w;
    memcpy(at, s.p, s.n);
    at[s.n] = '\0';
    *w += s.n + 1;
    return at;
}

static size_t room(struct slice s)
{
    return s.p ? s.n + 1 : 0;
}

/* Copies the parts into a new block. The path is never NULL. */
static int build(const struct parts *pt, usock_url **out)
{
    struct slice path = pt->path.p ? pt->path : sl("", 0);
    size_t total = sizeof(usock_url) + room(pt->scheme) + room(pt->user) + room(pt->password) +
                   room(pt->host) + room(path) + room(pt->query) + room(pt->fragment);
    usock_url *u = malloc(total);
    if (!u)
        return USOCK_ENOMEM;
    char *w = (char *)(u + 1);
    u->scheme = put(&w, pt->scheme);
    u->user = put(&w, pt->user);
    u->password = put(&w, pt->password);
    u->host = put(&w, pt->host);
    u->host_is_ipv6 = pt->ipv6;
    u->port = pt->port;
    u->path = put(&w, path);
    u->query = put(&w, pt->query);
    u->fragment = put(&w, pt->fragment);
    *out = u;
    return 0;
}

void usock_url_free(usock_url *u)
{
    free(u);
}

/* ---- schemes ---------------------------------------------------------------- */

static int scheme_is(const char *scheme, const char *name)
{
    if (!scheme)
        return 0;
    for (; *scheme && *name; scheme++, name++)
        if (lower(*scheme) != *name)
            return 0;
    return *scheme == '\0' && *name == '\0';
}

/* http and https URLs must have a non-empty host (RFC 9110 s4.2.1, s4.2.2). */
static int needs_host(const char *scheme)
{
    return scheme_is(scheme, "http") || scheme_is(scheme, "https");
}

static int default_port(const char *scheme)
{
    if (scheme_is(scheme, "http") || scheme_is(scheme, "ws"))
        return 80;
    if (scheme_is(scheme, "https") || scheme_is(scheme, "wss"))
        return 443;
    if (scheme_is(scheme, "ftp"))
        return 21;
    return -1;
}

/* ---- parsing ------------------------------------------------------------------ */

static int scan_userinfo(const char *p, const char *end)
{
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '%') {
            if (!escape_ok(p, end))
                return USOCK_EURL_BAD_ESCAPE;
            p += 2;
        } else if (!is_unreserved(c) && !is_sub_delim(c) && c != ':' && c != '@') {
            return USOCK_EURL_BAD_CHAR;
        }
    }
    return 0;
}

/* An IPv6 literal between the brackets: the address, then optionally a
 * zone, "%25" + zone (RFC 6874) or, as curl and Python take it, '%' + zone
 * when what follows is not "25" and more. IPvFuture ("v1.x") is refused:
 * no address family goes with it. */
static int scan_ipv6(const char *p, const char *end)
{
    const char *pct = memchr(p, '%', (size_t)(end - p));
    const char *addr_end = pct ? pct : end;
    char text[48];
    unsigned char bin[16];
    if (addr_end - p < 2 || addr_end - p > 45)
        return USOCK_EURL_BAD_IPV6;
    memcpy(text, p, (size_t)(addr_end - p));
    text[addr_end - p] = '\0';
    if (usock_inet_pton(AF_INET6, text, bin) != 0)
        return USOCK_EURL_BAD_IPV6;
    if (!pct)
        return 0;
    const char *z = pct + 1;
    if (end - z >= 2 && z[0] == '2' && z[1] == '5')
        z += 2;
    if (z == end)
        return USOCK_EURL_BAD_IPV6;
    for (; z < end; z++)
        if (!is_unreserved((unsigned char)*z))
            return USOCK_EURL_BAD_IPV6;
    return 0;
}

/* A reg-name or IPv4 address: unreserved, sub-delims and escapes of them.
 * Bytes >= 0x80, raw or escaped, are a non-ASCII name (IDNA). */
static int scan_reg_name(const char *p, const char *end)
{
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '%') {
            if (!escape_ok(p, end))
                return USOCK_EURL_BAD_ESCAPE;
            c = escape_value(p);
            p += 2;
            if (c >= 0x80)
                return USOCK_EURL_NON_ASCII_HOST;
            if (!is_unreserved(c) && !is_sub_delim(c))
                return USOCK_EURL_BAD_HOST;
        } else if (c >= 0x80) {
            return USOCK_EURL_NON_ASCII_HOST;
        } else if (!is_unreserved(c) && !is_sub_delim(c)) {
            return c <= ' ' || c == 0x7f || c == '\\' ? USOCK_EURL_BAD_CHAR : USOCK_EURL_BAD_HOST;
        }
    }
    return 0;
}

static int scan_port(const char *p, const char *end, int *port)
{
    if (p == end) {
        *port = -1; /* "host:" is a host without a port (RFC 3986 s3.2.3) */
        return 0;
    }
    long v = 0;
    for (; p < end; p++) {
        if (!is_digit((unsigned char)*p))
            return USOCK_EURL_BAD_PORT;
        v = v * 10 + (*p - '0');
        if (v > 65535)
            return USOCK_EURL_BAD_PORT;
    }
    *port = (int)v;
    return 0;
}

/* authority = [ userinfo "@" ] host [ ":" port ], in [p, end). The
 * userinfo ends at the last '@', as Python and browsers read
 * "user@example.com:pw@host". */
static int scan_authority(const char *p, const char *end, struct parts *pt)
{
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        int r = scan_userinfo(p, at);
        if (r < 0)
            return r;
        const char *colon = memchr(p, ':', (size_t)(at - p));
        pt->user = sl(p, (size_t)((colon ? colon : at) - p));
        if (colon)
            pt->password = sl(colon + 1, (size_t)(at - colon - 1));
        p = at + 1;
    }
    const char *q;
    if (p < end && *p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb)
            return USOCK_EURL_BAD_IPV6;
        int r = scan_ipv6(p + 1, rb);
        if (r < 0)
            return r;
        pt->host = sl(p + 1, (size_t)(rb - p - 1));
        pt->ipv6 = 1;
        q = rb + 1;
        if (q < end && *q != ':')
            return USOCK_EURL_BAD_HOST;
    } else {
        q = memchr(p, ':', (size_t)(end - p));
        if (!q)
            q = end;
        int r = scan_reg_name(p, q);
        if (r < 0)
            return r;
        pt->host = sl(p, (size_t)(q - p));
    }
    pt->port = -1;
    return q < end ? scan_port(q + 1, end, &pt->port) : 0;
}

/* Path, query or fragment bytes in [p, end); extra: what else is allowed. */
static int scan_chars(const char *p, const char *end, const char *extra)
{
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '%') {
            if (!escape_ok(p, end))
                return USOCK_EURL_BAD_ESCAPE;
            p += 2;
        } else if (!is_path_char(c) && (c == 0 || !strchr(extra, c))) {
            return USOCK_EURL_BAD_CHAR;
        }
    }
    return 0;
}

/* A host whose last label is a number (digits, or "0x" and hex digits) is
 * an IPv4 address to a resolver (inet_aton reads "0x7f.1" and "010.1" as
 * 127.0.0.1 and 8.0.0.1) and to browsers: anything but a plain dotted quad
 * is refused rather than left to the resolver's guess. */
static int ends_in_number(const char *h, size_t n)
{
    if (n > 0 && h[n - 1] == '.')
        n--;
    const char *l = h + n;
    while (l > h && l[-1] != '.')
        l--;
    size_t ln = (size_t)(h + n - l);
    if (ln == 0)
        return 0;
    size_t i = 0;
    if (ln >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X')) {
        for (i = 2; i < ln; i++)
            if (usock__hex_value((unsigned char)l[i]) < 0)
                return 0;
        return 1;
    }
    for (i = 0; i < ln; i++)
        if (!is_digit((unsigned char)l[i]))
            return 0;
    return 1;
}

/* The host as copied into the block: lowercased; a reg-name decoded; an
 * IPv6 zone written "%zone" (what the socket layer reads). */
static int finish_host(char *h, int ipv6)
{
    char *w = h;
    if (ipv6) {
        for (; *h && *h != '%'; h++)
            *h = lower(*h);
        if (*h == '%' && h[1] == '2' && h[2] == '5' && h[3])
            memmove(h + 1, h + 3, strlen(h + 3) + 1);
        return 0;
    }
    const char *start = h;
    for (const char *r = h; *r; r++) {
        if (*r == '%') {
            *w++ = lower((char)escape_value(r));
            r += 2;
        } else {
            *w++ = lower(*r);
        }
    }
    *w = '\0';
    unsigned char bin[4];
    if (ends_in_number(start, (size_t)(w - start)) && usock_inet_pton(AF_INET, start, bin) != 0)
        return USOCK_EURL_BAD_HOST;
    return 0;
}

/* The scheme, when the text starts with one; *p moves past its ':'. A
 * relative reference's first segment cannot hold ':' (s4.2): it would read
 * as a scheme, so it is a malformed one. */
static int scan_scheme(const char **p, const char *end, struct parts *pt)
{
    const char *s = *p;
    if (s < end && is_alpha((unsigned char)*s)) {
        while (s < end && (is_alpha((unsigned char)*s) || is_digit((unsigned char)*s) ||
                           *s == '+' || *s == '-' || *s == '.'))
            s++;
        if (s < end && *s == ':') {
            pt->scheme = sl(*p, (size_t)(s - *p));
            *p = s + 1;
            return 0;
        }
    }
    for (s = *p; s < end && *s != '/' && *s != '?' && *s != '#'; s++)
        if (*s == ':')
            return USOCK_EURL_BAD_SCHEME;
    return 0;
}

/* Path, query and fragment: what follows the authority. */
static int scan_tail(const char *p, const char *end, struct parts *pt)
{
    const char *q = p;
    while (q < end && *q != '?' && *q != '#')
        q++;
    int r = scan_chars(p, q, "");
    if (r < 0)
        return r;
    pt->path = sl(p, (size_t)(q - p));
    if (q < end && *q == '?') {
        p = q + 1;
        for (q = p; q < end && *q != '#';)
            q++;
        if ((r = scan_chars(p, q, "?\\")) < 0)
            return r;
        pt->query = sl(p, (size_t)(q - p));
    }
    if (q < end) { /* '#' */
        p = q + 1;
        /* '#' inside a fragment: RFC 3986 has none, Python and browsers keep it. */
        if ((r = scan_chars(p, end, "?\\#")) < 0)
            return r;
        pt->fragment = sl(p, (size_t)(end - p));
    }
    return 0;
}

/* RFC 3986 s3 in one pass, then the block. strict: the scheme rules (http
 * needs a host); join_str reads its reference without them, for "http:g". */
static int parse(const char *text, size_t n, int strict, usock_url **out)
{
    if ((!text && n) || !out)
        return USOCK_EINVAL;
    *out = NULL;
    if (n > USOCK_URL_MAX)
        return USOCK_EURL_TOO_LONG;
    const char *p = text ? text : "", *end = p + n;
    struct parts pt;
    memset(&pt, 0, sizeof pt);
    pt.port = -1;
    int r = scan_scheme(&p, end, &pt);
    if (r == 0 && end - p >= 2 && p[0] == '/' && p[1] == '/') {
        const char *a = p + 2;
        for (p = a; p < end && *p != '/' && *p != '?' && *p != '#';)
            p++;
        r = scan_authority(a, p, &pt);
    }
    if (r == 0)
        r = scan_tail(p, end, &pt);
    usock_url *u;
    if (r < 0 || (r = build(&pt, &u)) < 0)
        return r;
    /* The block is ours to adjust: the scheme lowercased, the host decoded. */
    for (char *c = (char *)u->scheme; c && *c; c++)
        *c = lower(*c);
    if (u->host && (r = finish_host((char *)u->host, u->host_is_ipv6)) < 0) {
        free(u);
        return r;
    }
    if (strict && needs_host(u->scheme) && (!u->host || !u->host[0])) {
        free(u);
        return USOCK_EURL_NO_HOST;
    }
    *out = u;
    return 0;
}

int usock_url_parse_n(const char *text, size_t n, usock_url **out)
{
    return parse(text, n, 1, out);
}

int usock_url_parse(const char *text, usock_url **out)
{
    if (!text) {
        if (out)
            *out = NULL;
        return USOCK_EINVAL;
    }
    return parse(text, strlen(text), 1, out);
}

/* ---- formatting ---------------------------------------------------------------- */

/* Appends to a caller's buffer, counting what does not fit. */
struct out {
    char *buf;
    size_t cap, len;
};

static void emit(struct out *o, const char *s, size_t n)
{
    if (o->len < o->cap && n <= o->cap - o->len)
        memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void emit_str(struct out *o, const char *s)
{
    emit(o, s, strlen(s));
}

static void emit_port(struct out *o, int port)
{
    char d[8];
    int i = (int)sizeof d;
    do {
        d[--i] = (char)('0' + port % 10);
        port /= 10;
    } while (port > 0);
    emit(o, ":", 1);
    emit(o, d + i, sizeof d - (size_t)i);
}

/* NUL-ends the text: its length, or USOCK_ENOSPC with "" in the buffer. */
static int finish(struct out *o)
{
    if (o->len > INT_MAX - 1)
        return o->cap ? (o->buf[0] = '\0', USOCK_EURL_TOO_LONG) : USOCK_EURL_TOO_LONG;
    if (o->len >= o->cap) {
        if (o->cap)
            o->buf[0] = '\0';
        return USOCK_ENOSPC;
    }
    o->buf[o->len] = '\0';
    return (int)o->len;
}

/* A host: an IPv6 literal in brackets, its zone written "%25zone". */
static void emit_host(struct out *o, const usock_url *u, int zone)
{
    if (!u->host_is_ipv6) {
        emit_str(o, u->host);
        return;
    }
    const char *pct = strchr(u->host, '%');
    emit(o, "[", 1);
    emit(o, u->host, pct ? (size_t)(pct - u->host) : strlen(u->host));
    if (pct && zone) {
        emit(o, "%25", 3);
        emit_str(o, pct + 1);
    }
    emit(o, "]", 1);
}

/* Whether a struct can be written as text that reads back the same. */
static int representable(const usock_url *u)
{
    if (!u->path || u->port < -1 || u->port > 65535)
        return 0;
    if (!u->host)
        return !u->user && !u->password && strncmp(u->path, "//", 2) != 0 &&
               (u->scheme || strcspn(u->path, "/:") == strcspn(u->path, "/"));
    if (u->password && !u->user)
        return 0;
    if (u->host_is_ipv6 && !u->host[0])
        return 0;
    return u->path[0] == '\0' || u->path[0] == '/';
}

static int format_into(const usock_url *u, struct out *o)
{
    if (!u || (!o->buf && o->cap) || !representable(u))
        return USOCK_EINVAL;
    if (u->scheme) {
        emit_str(o, u->scheme);
        emit(o, ":", 1);
    }
    if (u->host) {
        emit(o, "//", 2);
        if (u->user) {
            emit_str(o, u->user);
            if (u->password) {
                emit(o, ":", 1);
                emit_str(o, u->password);
            }
            emit(o, "@", 1);
        }
        emit_host(o, u, 1);
        if (u->port >= 0)
            emit_port(o, u->port);
    }
    emit_str(o, u->path);
    if (u->query) {
        emit(o, "?", 1);
        emit_str(o, u->query);
    }
    if (u->fragment) {
        emit(o, "#", 1);
        emit_str(o, u->fragment);
    }
    return finish(o);
}

int usock_url_format(const usock_url *u, char *buf, size_t cap)
{
    struct out o = {buf, cap, 0};
    return format_into(u, &o);
}

int usock_url_to_string(const usock_url *u, char **out)
{
    if (!out)
        return USOCK_EINVAL;
    *out = NULL;
    struct out o = {NULL, 0, 0};
    int r = format_into(u, &o);
    if (r != USOCK_ENOSPC)
        return r < 0 ? r : USOCK_EINVAL;
    char *s = malloc(o.len + 1);
    if (!s)
        return USOCK_ENOMEM;
    struct out o2 = {s, o.len + 1, 0};
    r = format_into(u, &o2);
    if (r < 0) {
        free(s);
        return r;
    }
    *out = s;
    return r;
}

/* ---- resolution (RFC 3986 s5.2) -------------------------------------------------- */

/* remove_dot_segments (s5.2.4) of in[0 .. n) into out; out may be in (the
 * output never overtakes the input). Returns the length. */
static size_t remove_dots(const char *in, size_t n, char *out)
{
    const char *p = in, *end = in + n;
    size_t o = 0;
    while (p < end) {
        size_t left = (size_t)(end - p);
        if (left >= 3 && memcmp(p, "../", 3) == 0) {
            p += 3; /* A */
        } else if (left >= 2 && memcmp(p, "./", 2) == 0) {
            p += 2; /* A */
        } else if (left >= 3 && memcmp(p, "/./", 3) == 0) {
            p += 2; /* B: "/./" becomes "/" */
        } else if (left == 2 && memcmp(p, "/.", 2) == 0) {
            p = "/"; /* B: a final "/." becomes "/" */
            end = p + 1;
        } else if ((left >= 4 && memcmp(p, "/../", 4) == 0) ||
                   (left == 3 && memcmp(p, "/..", 3) == 0)) {
            if (left == 3) { /* C: a final "/.." becomes "/" */
                p = "/";
                end = p + 1;
            } else {
                p += 3;
            }
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* the last segment and the '/' before it */
        } else if ((left == 1 && p[0] == '.') || (left == 2 && memcmp(p, "..", 2) == 0)) {
            p = end; /* D */
        } else {
            const char *q = p + (*p == '/'); /* E: the first segment moves */
            while (q < end && *q != '/')
                q++;
            memmove(out + o, p, (size_t)(q - p));
            o += (size_t)(q - p);
            p = q;
        }
    }
    return o;
}

int usock_url_remove_dot_segments(const char *path, size_t n, char *buf, size_t cap)
{
    if ((!path && n) || (!buf && cap))
        return USOCK_EINVAL;
    if (n > INT_MAX - 1)
        return USOCK_EURL_TOO_LONG;
    if (cap > n) {
        size_t len = remove_dots(path ? path : "", n, buf);
        buf[len] = '\0';
        return (int)len;
    }
    char *tmp = malloc(n + 1);
    if (!tmp)
        return USOCK_ENOMEM;
    size_t len = remove_dots(path, n, tmp);
    struct out o = {buf, cap, 0};
    emit(&o, tmp, len);
    free(tmp);
    return finish(&o);
}

/* The target's path (s5.2.2 and s5.2.3) into a new string: ref's path
 * merged with base's when relative, dots removed. A path without authority
 * that starts with "//" gets "/." in front, so that its text does not read
 * as an authority (what the WHATWG serializer does). */
static char *target_path(const usock_url *base, const usock_url *ref, int merge, int has_host)
{
    size_t bn = 0, rn = strlen(ref->path);
    if (merge) {
        const char *slash = strrchr(base->path, '/');
        bn = base->host && !base->path[0] ? 0 : slash ? (size_t)(slash - base->path + 1) : 0;
    }
    char *t = malloc(bn + rn + 4);
    if (!t)
        return NULL;
    size_t n = 0;
    if (merge && base->host && !base->path[0])
        t[n++] = '/';
    memcpy(t + n, base->path, bn);
    memcpy(t + n + bn, ref->path, rn);
    n = remove_dots(t, n + bn + rn, t);
    if (!has_host && n >= 2 && t[0] == '/' && t[1] == '/') {
        memmove(t + 2, t, n);
        t[0] = '/';
        t[1] = '.';
        n += 2;
    }
    t[n] = '\0';
    return t;
}

static void take_authority(struct parts *t, const usock_url *from)
{
    t->user = sl_str(from->user);
    t->password = sl_str(from->password);
    t->host = sl_str(from->host);
    t->ipv6 = from->host ? from->host_is_ipv6 : 0;
    t->port = from->host ? from->port : -1;
}

static int same_scheme(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (lower(*a) != lower(*b))
            return 0;
    return *a == *b;
}

int usock_url_join(const usock_url *base, const usock_url *ref, usock_url **out)
{
    if (!out)
        return USOCK_EINVAL;
    *out = NULL;
    if (!base || !ref || !base->path || !ref->path)
        return USOCK_EINVAL;
    if (!base->scheme)
        return USOCK_EURL_RELATIVE;
    struct parts t;
    memset(&t, 0, sizeof t);
    t.port = -1;
    /* s5.2.2, with the backward-compatible reading of "http:g". */
    int ref_scheme = ref->scheme && !(!ref->host && same_scheme(ref->scheme, base->scheme));
    const usock_url *auth = ref_scheme || ref->host ? ref : base;
    char *path = NULL;
    int merge = 0;
    t.scheme = sl_str(ref_scheme ? ref->scheme : base->scheme);
    t.query = sl_str(ref->query);
    if (auth == base && !ref->path[0]) {
        t.path = sl_str(base->path);
        if (!ref->query)
            t.query = sl_str(base->query);
    } else {
        merge = auth == base && ref->path[0] != '/';
        if (!(path = target_path(base, ref, merge, auth->host != NULL)))
            return USOCK_ENOMEM;
        t.path = sl_str(path);
    }
    take_authority(&t, auth);
    t.fragment = sl_str(ref->fragment);
    usock_url *u;
    int r = build(&t, &u);
    free(path);
    if (r < 0)
        return r;
    for (char *c = (char *)u->scheme; *c; c++)
        *c = lower(*c);
    if (needs_host(u->scheme) && (!u->host || !u->host[0])) {
        free(u);
        return USOCK_EURL_NO_HOST;
    }
    *out = u;
    return 0;
}

int usock_url_join_str(const char *base, const char *ref, char **out)
{
    if (!out)
        return USOCK_EINVAL;
    *out = NULL;
    if (!base || !ref)
        return USOCK_EINVAL;
    usock_url *b = NULL, *r = NULL, *t = NULL;
    int rc = usock_url_parse(base, &b);
    if (rc == 0)
        rc = b->scheme ? parse(ref, strlen(ref), 0, &r) : USOCK_EURL_RELATIVE;
    if (rc == 0)
        rc = usock_url_join(b, r, &t);
    if (rc == 0)
        rc = usock_url_to_string(t, out);
    usock_url_free(b);
    usock_url_free(r);
    usock_url_free(t);
    return rc;
}

/* ---- the HTTP client's helpers ------------------------------------------------------ */

int usock_url_port(const usock_url *u)
{
    if (!u)
        return USOCK_EINVAL;
    if (u->port >= 0)
        return u->port;
    int d = default_port(u->scheme);
    return d >= 0 ? d : USOCK_EURL_NO_PORT;
}

int usock_url_target(const usock_url *u, char *buf, size_t cap)
{
    if (!u || !u->path || (!buf && cap))
        return USOCK_EINVAL;
    struct out o = {buf, cap, 0};
    emit_str(&o, u->path[0] ? u->path : "/");
    if (u->query) {
        emit(&o, "?", 1);
        emit_str(&o, u->query);
    }
    return finish(&o);
}

int usock_url_host_header(const usock_url *u, char *buf, size_t cap)
{
    if (!u || (!buf && cap))
        return USOCK_EINVAL;
    if (!u->host || !u->host[0])
        return cap ? (buf[0] = '\0', USOCK_EURL_NO_HOST) : USOCK_EURL_NO_HOST;
    struct out o = {buf, cap, 0};
    emit_host(&o, u, 0);
    if (u->port >= 0 && u->port != default_port(u->scheme))
        emit_port(&o, u->port);
    return finish(&o);
}

/* One part of the userinfo decoded into buf; bad: bytes it must not hold. */
static int decode_part(const char *s, const char *bad, char *buf, size_t cap)
{
    if (!buf)
        return 0;
    int n = usock_url_unquote(s ? s : "", s ? strlen(s) : 0, 0, buf, cap);
    if (n < 0)
        return n;
    if (strlen(buf) != (size_t)n || strpbrk(buf, bad)) {
        buf[0] = '\0';
        return USOCK_EURL_BAD_CHAR;
    }
    return 0;
}

int usock_url_credentials(const usock_url *u, char *user, size_t ucap, char *pass, size_t pcap)
{
    if (!u || (!user && ucap) || (!pass && pcap))
        return USOCK_EINVAL;
    if (!u->user)
        return USOCK_ENOENT;
    int r = decode_part(u->user, ":", user, ucap);
    if (r == 0)
        r = decode_part(u->password, "", pass, pcap);
    return r;
}

/* ---- percent-encoding ---------------------------------------------------------------- */

static const char HEX[] = "0123456789ABCDEF";

static int quote_into(struct out *o, const char *s, size_t n, const char *safe, int plus)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (plus && c == ' ') {
            emit(o, "+", 1);
        } else if ((c < 0x80 && is_unreserved(c)) ||
                   (c != 0 && c < 0x80 && safe && strchr(safe, c))) {
            emit(o, (const char *)&s[i], 1);
        } else {
            char e[3] = {'%', HEX[c >> 4], HEX[c & 15]};
            emit(o, e, 3);
        }
    }
    return 0;
}

int usock_url_quote(const char *s, size_t n, const char *safe, int flags, char *buf, size_t cap)
{
    if ((!s && n) || (!buf && cap))
        return USOCK_EINVAL;
    if (n > INT_MAX / 3)
        return USOCK_EURL_TOO_LONG;
    int plus = (flags & USOCK_URL_PLUS) != 0;
    struct out o = {buf, cap, 0};
    quote_into(&o, s, n, safe ? safe : plus ? "" : "/", plus);
    return finish(&o);
}

int usock_url_unquote(const char *s, size_t n, int flags, char *buf, size_t cap)
{
    if ((!s && n) || (!buf && cap))
        return USOCK_EINVAL;
    if (n > INT_MAX - 1)
        return USOCK_EURL_TOO_LONG;
    if (cap <= n) {
        /* The decoded text may still fit: count it first. */
        size_t len = 0;
        for (size_t i = 0; i < n; i++, len++)
            if (s[i] == '%' && escape_ok(s + i, s + n))
                i += 2;
        if (len >= cap) {
            if (cap)
                buf[0] = '\0';
            return USOCK_ENOSPC;
        }
    }
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && escape_ok(s + i, s + n)) {
            buf[w++] = (char)escape_value(s + i);
            i += 2;
        } else {
            buf[w++] = (flags & USOCK_URL_PLUS) && s[i] == '+' ? ' ' : s[i];
        }
    }
    buf[w] = '\0';
    return (int)w;
}

int usock_url_urlencode(const usock_url_pair *pairs, size_t n, char *buf, size_t cap)
{
    if ((!pairs && n) || (!buf && cap))
        return USOCK_EINVAL;
    struct out o = {buf, cap, 0};
    for (size_t i = 0; i < n; i++) {
        if (!pairs[i].key || !pairs[i].value) {
            if (cap)
                buf[0] = '\0';
            return USOCK_EINVAL;
        }
        if (i > 0)
            emit(&o, "&", 1);
        size_t kn = strlen(pairs[i].key), vn = strlen(pairs[i].value);
        if (kn > INT_MAX / 3 || vn > INT_MAX / 3 || o.len > INT_MAX) {
            if (cap)
                buf[0] = '\0';
            return USOCK_EURL_TOO_LONG;
        }
        quote_into(&o, pairs[i].key, kn, "", 1);
        emit(&o, "=", 1);
        quote_into(&o, pairs[i].value, vn, "", 1);
    }
    return finish(&o);
}

/* The next field of a query string at *p: its key and value (value.p NULL
 * without '='); 0 when the string is used up. Empty fields are skipped. */
static int next_field(const char **p, const char *end, struct slice *key, struct slice *value)
{
    while (*p < end && **p == '&')
        (*p)++;
    if (*p >= end)
        return 0;
    const char *f = *p, *fe = memchr(f, '&', (size_t)(end - f));
    if (!fe)
        fe = end;
    const char *eq = memchr(f, '=', (size_t)(fe - f));
    *key = sl(f, (size_t)((eq ? eq : fe) - f));
    *value = eq ? sl(eq + 1, (size_t)(fe - eq - 1)) : sl(NULL, 0);
    *p = fe;
    return 1;
}

/* Decodes one key or value into w (unquote_plus); refuses a NUL. */
static int decode_qs(struct slice s, char **w, const char **out)
{
    int n = usock_url_unquote(s.p ? s.p : "", s.n, USOCK_URL_PLUS, *w, s.n + 1);
    if (n < 0)
        return n;
    if (memchr(*w, '\0', (size_t)n))
        return USOCK_EURL_BAD_CHAR;
    *out = *w;
    *w += n + 1;
    return 0;
}

int usock_url_parse_qs(const char *qs, size_t n, int flags, usock_url_pair **out)
{
    if ((!qs && n) || !out)
        return USOCK_EINVAL;
    *out = NULL;
    if (n > INT_MAX / 2)
        return USOCK_EURL_TOO_LONG;
    int keep = (flags & USOCK_URL_KEEP_BLANK) != 0;
    const char *end = (qs ? qs : "") + n;
    struct slice k, v;
    size_t count = 0;
    for (const char *p = qs; p && next_field(&p, end, &k, &v);)
        count += keep || v.n > 0;
    if (count == 0)
        return 0;
    /* Decoded text is never longer than the field; +2 for the NULs. */
    usock_url_pair *pairs = malloc(count * sizeof *pairs + n + 2 * count);
    if (!pairs)
        return USOCK_ENOMEM;
    char *w = (char *)(pairs + count);
    size_t i = 0;
    for (const char *p = qs; next_field(&p, end, &k, &v);) {
        if (!keep && v.n == 0)
            continue;
        int r = decode_qs(k, &w, &pairs[i].key);
        if (r == 0)
            r = decode_qs(v, &w, &pairs[i].value);
        if (r < 0) {
            free(pairs);
            return r;
        }
        i++;
    }
    *out = pairs;
    return (int)count;
}

/* ---- base64 -------------------------------------------------------------------------- */

/* Written here rather than taken from OpenSSL (EVP_EncodeBlock): the
 * library does not link OpenSSL (only the TLS layer will, and builds
 * without TLS must keep Basic authentication), and EVP_DecodeBlock is
 * lenient (it skips whitespace and keeps the padding's zero bytes in its
 * count) where decoding here is strict. */
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int usock_base64_encode(const void *data, size_t n, char *buf, size_t cap)
{
    if ((!data && n) || (!buf && cap))
        return USOCK_EINVAL;
    if (n > (size_t)INT_MAX / 4 * 3 - 3)
        return USOCK_EURL_TOO_LONG;
    size_t len = USOCK_BASE64_LEN(n);
    if (len >= cap) {
        if (cap)
            buf[0] = '\0';
        return USOCK_ENOSPC;
    }
    const unsigned char *b = data;
    char *w = buf;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)b[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)b[i + 1] << 8;
        if (i + 2 < n)
            v |= b[i + 2];
        *w++ = B64[v >> 18];
        *w++ = B64[(v >> 12) & 63];
        *w++ = i + 1 < n ? B64[(v >> 6) & 63] : '=';
        *w++ = i + 2 < n ? B64[v & 63] : '=';
    }
    *w = '\0';
    return (int)len;
}

int usock_base64_decode(const char *s, size_t n, void *buf, size_t cap)
{
    if ((!s && n) || (!buf && cap))
        return USOCK_EINVAL;
    if (n > INT_MAX)
        return USOCK_EURL_TOO_LONG;
    char *out = buf;
    if (cap)
        out[0] = '\0';
    if (n % 4 != 0)
        return USOCK_EURL_BAD_BASE64;
    size_t pad = n == 0 || s[n - 1] != '=' ? 0 : s[n - 2] == '=' ? 2 : 1;
    size_t len = n / 4 * 3 - pad;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0 && !(s[i] == '=' && i >= n - pad))
            return USOCK_EURL_BAD_BASE64;
    }
    /* The bits after the last byte must be zero (s3.5: one text per data). */
    if ((pad == 1 && (b64_value((unsigned char)s[n - 2]) & 3)) ||
        (pad == 2 && (b64_value((unsigned char)s[n - 3]) & 15)))
        return USOCK_EURL_BAD_BASE64;
    if (len >= cap)
        return USOCK_ENOSPC;
    size_t w = 0;
    for (size_t i = 0; i < n; i += 4) {
        unsigned v = 0;
        for (int j = 0; j < 4; j++) {
            int d = b64_value((unsigned char)s[i + (size_t)j]);
            v = v << 6 | (unsigned)(d < 0 ? 0 : d);
        }
        unsigned char three[3] = {(unsigned char)(v >> 16), (unsigned char)(v >> 8),
                                  (unsigned char)v};
        for (int j = 0; j < 3 && w < len; j++)
            out[w++] = (char)three[j];
    }
    out[w] = '\0';
    return (int)len;
}
