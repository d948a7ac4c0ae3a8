/* http.c -- HTTP/1.0 and 1.1 messages (RFC 9112/9110): a strict,
 * incremental, zero-copy parser and a writer. No I/O, no allocation.
 *
 * The head is parsed in two steps. A scanner walks the bytes once, across
 * calls (p->scanned): it checks CRLF everywhere (no bare CR or LF), the
 * limits and obs-fold, and validates each line as soon as its CRLF arrives
 * (so that a server rejects "GET / HTTP/2.0" or a bad Content-Length before
 * the rest comes), keeping what the fields say about framing in p->flags
 * and p->clen. It keeps no pointer: the caller may move its buffer between
 * calls. When the empty line arrives, a second pass, which no longer
 * validates, splits the lines again and fills the caller's structs from
 * the buffer of that call. Every error is found at the same byte whether
 * the head arrives at once or a byte at a time, so both feedings give the
 * same result.
 *
 * The body is a byte-driven state machine (chunked framing) or a counter
 * (Content-Length, close); it stops after each piece of data, so it never
 * needs to remember a pointer either. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "usock/http.h"

#include "shared.h"

#define DEFAULT_MAX_LINE 8192
#define DEFAULT_MAX_HEAD 65536
#define DEFAULT_MAX_HEADERS 100
#define MAX_SIZE ((uint64_t)INT64_MAX) /* lengths past 2^63 - 1 are refused */

/* Body states (p->state). HEAD: the head is not complete yet. */
enum {
    S_HEAD = 0,
    S_LENGTH,         /* Content-Length bytes */
    S_CLOSE,          /* everything until parse_eof */
    S_SIZE,           /* chunk-size: hex digits */
    S_SIZE_BWS,       /* whitespace after the size or a value: ';' must follow */
    S_EXT_NAME_BWS,   /* after ';' */
    S_EXT_NAME,
    S_EXT_NAME_AFTER, /* whitespace after a name: '=' or ';' must follow */
    S_EXT_VAL_BWS,    /* after '=' */
    S_EXT_TOKEN,
    S_EXT_QUOTED,
    S_EXT_QUOTED_ESC,
    S_EXT_QUOTED_END,
    S_SIZE_LF,        /* CR of the chunk-size line seen */
    S_DATA,
    S_DATA_CR,        /* CRLF after the data */
    S_DATA_LF,
    S_TRAILER,        /* at the start of a trailer line */
    S_TRAILER_NAME,
    S_TRAILER_VALUE,
    S_TRAILER_LF,
    S_END_LF,         /* CR of the empty line after the trailers seen */
    S_DONE
};

/* ---- character classes (RFC 9110 5.6.2, 5.5; RFC 3986) ---------------- */

/* tchar: ALPHA, DIGIT and !#$%&'*+-.^_`|~, as a 256-bit map (a field
 * name is checked a byte at a time on every message). */
static int is_tchar(unsigned char c)
{
    static const uint32_t map[8] = {0x00000000, 0x03ff6cfa, 0xc7fffffe, 0x57ffffff};
    return (map[c >> 5] >> (c & 31)) & 1;
}

/* field-vchar, SP and HTAB: what a field value, a reason phrase or a
 * quoted string may hold (obs-text included). */
static int is_text(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* OWS, and the CR LF of an obs-fold, which only a lenient parser lets
 * into a value. */
static int is_ows(unsigned char c)
{
    return is_ws(c) || c == '\r' || c == '\n';
}

static int lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* s equals word[0 .. n), ASCII case-insensitive. */
static int str_ieq_n(usock_http_str s, const char *word, size_t n)
{
    if (s.n != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s.p[i]) != lower((unsigned char)word[i]))
            return 0;
    return 1;
}

/* s is the lowercase literal: its length known at compile time, so that
 * most names are told apart without a look at their bytes. */
#define STR_IS(s, literal) str_ieq_n((s), (literal), sizeof(literal) - 1)

static usock_http_str trim(const char *p, size_t n)
{
    while (n > 0 && is_ows((unsigned char)p[0]))
        p++, n--;
    while (n > 0 && is_ows((unsigned char)p[n - 1]))
        n--;
    usock_http_str s = {p, n};
    return s;
}

/* The next element of a comma-separated list (RFC 9110 5.6.1) at *s,
 * trimmed; empty elements come back empty (the caller skips them). Returns
 * 0 when the list is exhausted. */
static int list_next(usock_http_str *s, usock_http_str *elem)
{
    if (s->p == NULL)
        return 0;
    const char *comma = memchr(s->p, ',', s->n);
    size_t n = comma ? (size_t)(comma - s->p) : s->n;
    *elem = trim(s->p, n);
    if (comma) {
        s->n -= n + 1;
        s->p = comma + 1;
    } else {
        s->p = NULL;
        s->n = 0;
    }
    return 1;
}

/* ---- the start line ----------------------------------------------------- */

/* "HTTP/d.d": 10 or 11; USOCK_EHTTP_VERSION for another well-formed
 * version, USOCK_EHTTP_BAD_VERSION for anything else. */
static int parse_version(const char *s, size_t n)
{
    if (n != 8 || memcmp(s, "HTTP/", 5) != 0 || s[6] != '.')
        return USOCK_EHTTP_BAD_VERSION;
    if (s[5] < '0' || s[5] > '9' || s[7] < '0' || s[7] > '9')
        return USOCK_EHTTP_BAD_VERSION;
    int v = (s[5] - '0') * 10 + (s[7] - '0');
    return v == 10 || v == 11 ? v : USOCK_EHTTP_VERSION;
}

/* method SP request-target SP HTTP-version (RFC 9112 3). */
static int parse_request_line(const char *s, size_t n, usock_http_msg *m)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i == n || s[i] != ' ')
        return USOCK_EHTTP_BAD_METHOD;
    m->method.p = s;
    m->method.n = i;
    size_t t = ++i;
    /* Visible ASCII only: no CTL, SP, DEL or bytes >= 0x80 (RFC 3986). */
    while (i < n && s[i] > ' ' && s[i] < 0x7f)
        i++;
    if (i == t || i == n || s[i] != ' ')
        return USOCK_EHTTP_BAD_TARGET;
    m->target.p = s + t;
    m->target.n = i - t;
    i++;
    int v = parse_version(s + i, n - i);
    if (v < 0)
        return v;
    m->version = v;
    return 0;
}

/* HTTP-version SP 3DIGIT SP [reason-phrase] (RFC 9112 4). The second SP is
 * required even when the reason is empty: "HTTP/1.1 200" is refused, but
 * by a lenient parser. */
static int parse_status_line(const char *s, size_t n, usock_http_msg *m, int lenient)
{
    const char *sp = memchr(s, ' ', n);
    int v = parse_version(s, sp ? (size_t)(sp - s) : n);
    if (v < 0)
        return v;
    m->version = v;
    size_t i = 9;
    size_t r = i + 4; /* where the reason begins */
    if (lenient && n == i + 3)
        r = n; /* no SP: the reason is empty */
    else if (n < r || s[i + 3] != ' ')
        return USOCK_EHTTP_BAD_STATUS;
    int status = 0;
    for (size_t k = i; k < i + 3; k++) {
        if (s[k] < '0' || s[k] > '9')
            return USOCK_EHTTP_BAD_STATUS;
        status = status * 10 + (s[k] - '0');
    }
    if (status < 100)
        return USOCK_EHTTP_BAD_STATUS;
    m->status = status;
    for (size_t k = r; k < n; k++)
        if (!is_text((unsigned char)s[k]))
            return USOCK_EHTTP_BAD_STATUS;
    m->reason.p = s + r;
    m->reason.n = n - r;
    return 0;
}

static int parse_start_line(const usock_http_parser *p, const char *s, size_t n,
                            usock_http_msg *m)
{
    if (p->type == USOCK_HTTP_REQUEST)
        return parse_request_line(s, n, m);
    return parse_status_line(s, n, m, p->lenient);
}

/* ---- the scanner -------------------------------------------------------- */

static int note_field(usock_http_parser *p, const char *s, size_t n);

static size_t field_limit(const usock_http_parser *p, size_t max)
{
    return max < p->max_headers ? max : p->max_headers;
}

/* A lenient parser notes a field line only when the next line shows that
 * it does not go on (obs-fold): the one kept in fold_start .. fold_end. */
static int note_pending(usock_http_parser *p, const char *buf)
{
    if (p->fold_end == 0)
        return 0;
    int rc = note_field(p, buf + p->fold_start, p->fold_end - p->fold_start);
    p->fold_end = 0;
    return rc;
}

/* A field line whose content is buf[ls .. ce). */
static int scan_field_line(usock_http_parser *p, const char *buf, size_t ls, size_t ce,
                           size_t max)
{
    if (!p->lenient) {
        if (++p->nfields > field_limit(p, max))
            return USOCK_EHTTP_TOO_MANY_HEADERS;
        return note_field(p, buf + ls, ce - ls);
    }
    if (is_ws((unsigned char)buf[ls])) {
        p->fold_end = ce; /* it continues the pending line */
        return 0;
    }
    int rc = note_pending(p, buf);
    if (rc < 0)
        return rc;
    if (++p->nfields > field_limit(p, max))
        return USOCK_EHTTP_TOO_MANY_HEADERS;
    p->fold_start = ls;
    p->fold_end = ce;
    return 0;
}

/* A line whose content is buf[line_start .. ce) ended with the LF at
 * buf[i]: the start line, a leading empty line, a field line or the end
 * of the head. Returns 1 at the end of the head, 0 to go on, or an error. */
static int scan_line_end(usock_http_parser *p, const char *buf, size_t ce, size_t i, size_t max)
{
    size_t ls = p->line_start;
    p->line_start = i + 1;
    if (p->line_end == 0) {
        if (ce == ls && p->type == USOCK_HTTP_REQUEST) {
            p->start = i + 1; /* an empty line before the request line: RFC 9112 2.2 */
            return 0;
        }
        usock_http_msg tmp;
        int rc = parse_start_line(p, buf + ls, ce - ls, &tmp);
        if (rc < 0)
            return rc;
        p->line_end = i + 1;
        return 0;
    }
    if (ce == ls) {
        int rc = note_pending(p, buf);
        return rc < 0 ? rc : 1;
    }
    return scan_field_line(p, buf, ls, ce, max);
}

/* Walks buf from p->scanned. Returns the head's length once its empty line
 * is in, 0 for more, or an error. Stops before a final CR, whose meaning
 * depends on the next byte. */
static long long scan_head(usock_http_parser *p, const char *buf, size_t len, size_t max)
{
    size_t max_head = p->max_head < INT_MAX ? p->max_head : INT_MAX; /* returned as int */
    size_t i = p->scanned;
    for (; i < len; i++) {
        /* Inside a line only the limits apply to a byte: the run up to its
         * end is skipped at once when it passes none (else the bytes are
         * taken one by one below, to fail at the same one). */
        if (i != p->line_start) {
            size_t run = i;
            while (run < len && buf[run] != '\r' && buf[run] != '\n')
                run++;
            if (run <= max_head && (p->line_end != 0 || run - p->line_start <= p->max_line)) {
                i = run;
                if (i == len)
                    break;
            }
        }
        unsigned char c = (unsigned char)buf[i];
        /* The start line's own limit first: a long line answers 414, not 431. */
        if (p->line_end == 0 && c != '\r' && c != '\n' && i - p->line_start >= p->max_line)
            return USOCK_EHTTP_LINE_TOO_LONG;
        if (i + 1 > max_head)
            return USOCK_EHTTP_HEAD_TOO_LARGE;
        if (c == '\n' && !p->lenient)
            return USOCK_EHTTP_BAD_EOL; /* a LF after a CR is skipped below */
        if (c == '\r' || c == '\n') {
            size_t ce = i;
            if (c == '\r') {
                if (i + 1 == len)
                    break;
                if (buf[i + 1] != '\n')
                    return USOCK_EHTTP_BAD_EOL;
                if (i + 2 > max_head)
                    return USOCK_EHTTP_HEAD_TOO_LARGE;
                i++;
            }
            int rc = scan_line_end(p, buf, ce, i, max);
            if (rc != 0) {
                p->scanned = i + 1;
                return rc < 0 ? rc : (long long)(i + 1);
            }
            continue;
        }
        /* A field line that begins with whitespace continues the last one:
         * refused, or taken by a lenient parser when there is one. */
        if (i == p->line_start && p->line_end != 0 && is_ws(c) &&
            (!p->lenient || p->fold_end == 0))
            return USOCK_EHTTP_OBS_FOLD;
    }
    p->scanned = i;
    return 0;
}

/* ---- the second pass: fields and framing ------------------------------- */

/* field-name ":" OWS field-value OWS (RFC 9112 5), into h. A lenient
 * parser's value may hold the CR LF of an obs-fold, which the scanner has
 * checked (each followed by whitespace). */
static int parse_field(const char *s, size_t n, usock_http_header *h, int lenient)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i > 0 && i < n && is_ws((unsigned char)s[i])) {
        size_t k = i;
        while (k < n && is_ws((unsigned char)s[k]))
            k++;
        if (k < n && s[k] == ':')
            return USOCK_EHTTP_SPACE_BEFORE_COLON;
    }
    if (i == 0 || i == n || s[i] != ':')
        return USOCK_EHTTP_BAD_HEADER_NAME;
    for (size_t k = i + 1; k < n; k++)
        if (!is_text((unsigned char)s[k]) && !(lenient && (s[k] == '\r' || s[k] == '\n')))
            return USOCK_EHTTP_BAD_HEADER_VALUE;
    h->name.p = s;
    h->name.n = i;
    h->value = trim(s + i + 1, n - i - 1);
    return 0;
}

/* What the fields say about framing and the connection (p->flags). */
enum {
    F_CL = 1 << 0,          /* a Content-Length, its value in p->clen */
    F_TE = 1 << 1,          /* a Transfer-Encoding field */
    F_TE_CODING = 1 << 2,   /* ... that names at least one coding */
    F_TE_CHUNKED = 1 << 3,  /* the last coding so far is chunked */
    F_TE_ERR = 1 << 4,      /* a malformed coding, or chunked not last */
    F_TE_UNKNOWN = 1 << 5,  /* a coding other than chunked */
    F_HOST = 1 << 6,
    F_CLOSE = 1 << 7,       /* Connection: close */
    F_KEEP = 1 << 8,        /* Connection: keep-alive */
    F_EXPECT = 1 << 9       /* Expect: 100-continue */
};

/* Content-Length = 1*DIGIT, possibly repeated as a list "5, 5"
 * (RFC 9110 8.6): every element must be the same number. */
static int note_content_length(usock_http_parser *p, usock_http_str v)
{
    usock_http_str e;
    int any = 0;
    while (list_next(&v, &e)) {
        if (e.n == 0)
            return USOCK_EHTTP_BAD_CONTENT_LENGTH;
        uint64_t n = 0;
        for (size_t i = 0; i < e.n; i++) {
            if (e.p[i] < '0' || e.p[i] > '9')
                return USOCK_EHTTP_BAD_CONTENT_LENGTH;
            if (n > (MAX_SIZE - (uint64_t)(e.p[i] - '0')) / 10)
                return USOCK_EHTTP_BAD_CONTENT_LENGTH;
            n = n * 10 + (uint64_t)(e.p[i] - '0');
        }
        if ((p->flags & F_CL) && n != p->clen)
            return USOCK_EHTTP_DUP_CONTENT_LENGTH;
        p->flags |= F_CL;
        p->clen = n;
        any = 1;
    }
    return any ? 0 : USOCK_EHTTP_BAD_CONTENT_LENGTH;
}

/* Transfer-Encoding: a list of codings, possibly over several fields, in
 * the order they were applied; only chunked is decoded and it must come
 * last, once (RFC 9112 6.1). */
static void note_transfer_encoding(usock_http_parser *p, usock_http_str v)
{
    p->flags |= F_TE;
    usock_http_str e;
    while (list_next(&v, &e)) {
        if (e.n == 0)
            continue; /* empty list elements are ignored (RFC 9110 5.6.1) */
        size_t k = 0;
        while (k < e.n && is_tchar((unsigned char)e.p[k]))
            k++;
        usock_http_str name = {e.p, k};
        int chunked = STR_IS(name, "chunked");
        /* A token, then only parameters (";"), which chunked does not take. */
        if (k == 0 || (k < e.n && ((e.p[k] != ';' && !is_ws((unsigned char)e.p[k])) || chunked)))
            p->flags |= F_TE_ERR;
        if (p->flags & F_TE_CHUNKED)
            p->flags |= F_TE_ERR; /* chunked was not last, or came twice */
        p->flags &= ~(unsigned)F_TE_CHUNKED;
        p->flags |= F_TE_CODING | (chunked ? F_TE_CHUNKED : F_TE_UNKNOWN);
    }
}

static void note_connection(usock_http_parser *p, usock_http_str v)
{
    usock_http_str e;
    while (list_next(&v, &e)) {
        if (STR_IS(e, "close"))
            p->flags |= F_CLOSE;
        else if (STR_IS(e, "keep-alive"))
            p->flags |= F_KEEP;
    }
}

static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* port = *DIGIT (RFC 3986 3.2.3), and a port number: at most 65535. */
static int port_ok(const char *s, size_t n)
{
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (unsigned long)(s[i] - '0');
        if (v > 65535)
            return 0;
    }
    return 1;
}

/* Host = uri-host [ ":" port ] (RFC 9110 7.2): an IP literal in brackets
 * or the characters of a reg-name / IPv4 address (unreserved,
 * pct-encoded, sub-delims); may be empty (a target without authority). */
static int host_ok(usock_http_str v)
{
    size_t i = 0;
    if (v.n > 0 && v.p[0] == '[') {
        const char *close = memchr(v.p, ']', v.n);
        if (close == NULL)
            return 0;
        for (i = 1; v.p + i < close; i++)
            if (!is_alnum((unsigned char)v.p[i]) && strchr(":.-_~!$&'()*+,;=%", v.p[i]) == NULL)
                return 0;
        i++;
    } else {
        while (i < v.n && (is_alnum((unsigned char)v.p[i]) ||
                           (v.p[i] != 0 && strchr("-._~%!$&'()*+,;=", v.p[i]) != NULL)))
            i++;
    }
    if (i == v.n)
        return 1;
    return v.p[i] == ':' && port_ok(v.p + i + 1, v.n - i - 1);
}

/* One field line: its syntax, then what it says (p->flags). */
static int note_field(usock_http_parser *p, const char *s, size_t n)
{
    usock_http_header h;
    int rc = parse_field(s, n, &h, p->lenient);
    if (rc < 0)
        return rc;
    if (STR_IS(h.name, "content-length"))
        return note_content_length(p, h.value);
    if (STR_IS(h.name, "transfer-encoding"))
        note_transfer_encoding(p, h.value);
    else if (STR_IS(h.name, "connection"))
        note_connection(p, h.value);
    else if (STR_IS(h.name, "host") && p->type == USOCK_HTTP_REQUEST) {
        if ((p->flags & F_HOST) || !host_ok(h.value))
            return USOCK_EHTTP_BAD_HOST; /* RFC 9112 3.2: exactly one, valid */
        p->flags |= F_HOST;
    } else if (STR_IS(h.name, "expect")) {
        p->flags &= ~(unsigned)F_EXPECT;
        p->flags |= STR_IS(h.value, "100-continue") ? F_EXPECT : 0;
    }
    return 0;
}

/* Message body length, RFC 9112 6.3, in its order. */
static int decide_framing(usock_http_parser *p, usock_http_msg *m)
{
    unsigned f = p->flags;
    int req = p->type == USOCK_HTTP_REQUEST;
    if ((f & F_CL) && (f & F_TE))
        return USOCK_EHTTP_CL_AND_TE;
    if (f & F_TE) {
        /* HTTP/1.0 has no Transfer-Encoding: its framing is faulty (6.1). */
        if ((f & F_TE_ERR) || !(f & F_TE_CODING) || m->version == 10)
            return USOCK_EHTTP_BAD_TRANSFER_ENCODING;
        if (req && !(f & F_TE_CHUNKED))
            return USOCK_EHTTP_BAD_TRANSFER_ENCODING;
        if (req && (f & F_TE_UNKNOWN))
            return USOCK_EHTTP_UNKNOWN_CODING;
    }
    int none = !req && (p->head_request || m->status < 200 || m->status == 204 ||
                        m->status == 304);
    if (none)
        m->framing = USOCK_HTTP_BODY_NONE;
    else if (f & F_TE)
        m->framing = (f & F_TE_CHUNKED) ? USOCK_HTTP_BODY_CHUNKED : USOCK_HTTP_BODY_CLOSE;
    else if (f & F_CL)
        m->framing = p->clen ? USOCK_HTTP_BODY_LENGTH : USOCK_HTTP_BODY_NONE;
    else
        m->framing = req ? USOCK_HTTP_BODY_NONE : USOCK_HTTP_BODY_CLOSE;
    m->content_length = m->framing == USOCK_HTTP_BODY_LENGTH ? p->clen : 0;
    if (m->content_length > p->max_body)
        return USOCK_EHTTP_BODY_TOO_LARGE;
    return 0;
}

/* The checks that need the whole head, then the connection's fate. */
static int finish_head(usock_http_parser *p, usock_http_msg *m)
{
    unsigned f = p->flags;
    if (p->type == USOCK_HTTP_REQUEST) {
        if (m->version == 11 && !(f & F_HOST))
            return USOCK_EHTTP_BAD_HOST;
        /* An HTTP/1.0 client cannot handle 100 (RFC 9110 10.1.1). */
        m->expect_continue = m->version == 11 && (f & F_EXPECT);
    }
    int rc = decide_framing(p, m);
    if (rc < 0)
        return rc;
    m->keep_alive = !(f & F_CLOSE) && (m->version == 11 || (f & F_KEEP));
    if (m->framing == USOCK_HTTP_BODY_CLOSE)
        m->keep_alive = 0;
    return 0;
}

/* Where the content of the line that ends with the LF at buf[lf] ends. */
static size_t content_end(const char *buf, size_t from, size_t lf)
{
    return lf > from && buf[lf - 1] == '\r' ? lf - 1 : lf;
}

/* Fills *m from a complete, validated head at buf[0 .. end). */
static int fill_head(usock_http_parser *p, const char *buf, size_t end, usock_http_msg *m,
                     usock_http_header *headers)
{
    size_t se = content_end(buf, p->start, p->line_end - 1);
    int rc = parse_start_line(p, buf + p->start, se - p->start, m);
    if (rc < 0)
        return rc; /* cannot happen: the scanner checked it */
    for (size_t pos = p->line_end;;) {
        const char *line = buf + pos;
        size_t lf = (size_t)((const char *)memchr(line, '\n', end - pos) - buf);
        size_t ce = content_end(buf, pos, lf);
        if (ce == pos)
            break; /* the empty line */
        if (is_ws((unsigned char)*line)) { /* obs-fold: the last value goes on */
            usock_http_header *h = &headers[m->nheaders - 1];
            h->value = trim(h->value.p, (size_t)(buf + ce - h->value.p));
        } else {
            const char *colon = memchr(line, ':', ce - pos);
            usock_http_header *h = &headers[m->nheaders++];
            h->name.p = line;
            h->name.n = (size_t)(colon - line);
            h->value = trim(colon + 1, (size_t)(buf + ce - colon - 1));
        }
        pos = lf + 1;
    }
    return finish_head(p, m);
}

/* After the head: the body state machine's first state. */
static void start_body(usock_http_parser *p, const usock_http_msg *m)
{
    p->framing = m->framing;
    p->remaining = m->content_length;
    p->body_seen = 0;
    p->nfields = 0;
    p->linelen = 0;
    p->done = 0;
    switch (m->framing) {
    case USOCK_HTTP_BODY_LENGTH: p->state = S_LENGTH; break;
    case USOCK_HTTP_BODY_CHUNKED: p->state = S_SIZE; break;
    case USOCK_HTTP_BODY_CLOSE: p->state = S_CLOSE; break;
    default: p->state = S_DONE; p->done = 1; break;
    }
}

/* ---- public: the parser ------------------------------------------------- */

void usock_http_parser_init(usock_http_parser *p, int type)
{
    if (p == NULL)
        return;
    memset(p, 0, sizeof *p);
    p->max_line = DEFAULT_MAX_LINE;
    p->max_head = DEFAULT_MAX_HEAD;
    p->max_headers = DEFAULT_MAX_HEADERS;
    p->max_body = UINT64_MAX;
    p->type = type == USOCK_HTTP_RESPONSE ? USOCK_HTTP_RESPONSE : USOCK_HTTP_REQUEST;
}

int usock_http_parse_head(usock_http_parser *p, const char *buf, size_t len, usock_http_msg *m,
                          usock_http_header *headers, size_t max)
{
    if (p == NULL || m == NULL || (buf == NULL && len > 0) || (headers == NULL && max > 0))
        return USOCK_EINVAL;
    if (p->err)
        return p->err;
    if (p->state != S_HEAD)
        return USOCK_EINVAL; /* the head was parsed: init for the next message */
    long long r = scan_head(p, buf, len, max);
    if (r == 0)
        return 0;
    if (r > 0) {
        memset(m, 0, sizeof *m);
        m->headers = headers;
        int rc = fill_head(p, buf, (size_t)r, m, headers);
        if (rc == 0) {
            start_body(p, m);
            return (int)r;
        }
        r = rc;
    }
    p->err = (int)r;
    return p->err;
}

/* One byte of a chunk-size line: the size, then chunk extensions
 * *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ) (RFC 9112
 * 7.1.1). Returns 0 or an error. */
static int chunk_line_byte(usock_http_parser *p, unsigned char c)
{
    int st = p->state;
    if (c == '\n')
        return USOCK_EHTTP_BAD_EOL;
    if (++p->linelen > p->max_line)
        return USOCK_EHTTP_BAD_CHUNK;
    if (c == '\r' && (st == S_EXT_NAME || st == S_EXT_TOKEN || st == S_EXT_QUOTED_END ||
                      (st == S_SIZE && p->linelen > 1))) {
        p->state = S_SIZE_LF;
        return 0;
    }
    switch (st) {
    case S_SIZE: {
        int h = usock__hex_value(c);
        if (h >= 0) {
            if (p->remaining >> 59)
                return USOCK_EHTTP_BAD_CHUNK; /* would pass 2^63 */
            p->remaining = (p->remaining << 4) | (uint64_t)h;
            return 0;
        }
        if (p->linelen == 1)
            return USOCK_EHTTP_BAD_CHUNK;
        st = c == ';' ? S_EXT_NAME_BWS : is_ws(c) ? S_SIZE_BWS : -1;
        break;
    }
    case S_SIZE_BWS: st = is_ws(c) ? st : c == ';' ? S_EXT_NAME_BWS : -1; break;
    case S_EXT_NAME_BWS: st = is_ws(c) ? st : is_tchar(c) ? S_EXT_NAME : -1; break;
    case S_EXT_NAME:
        st = is_tchar(c) ? st : c == ';' ? S_EXT_NAME_BWS : c == '=' ? S_EXT_VAL_BWS
           : is_ws(c) ? S_EXT_NAME_AFTER : -1;
        break;
    case S_EXT_NAME_AFTER:
        st = is_ws(c) ? st : c == ';' ? S_EXT_NAME_BWS : c == '=' ? S_EXT_VAL_BWS : -1;
        break;
    case S_EXT_VAL_BWS:
        st = is_ws(c) ? st : c == '"' ? S_EXT_QUOTED : is_tchar(c) ? S_EXT_TOKEN : -1;
        break;
    case S_EXT_TOKEN:
        st = is_tchar(c) ? st : c == ';' ? S_EXT_NAME_BWS : is_ws(c) ? S_SIZE_BWS : -1;
        break;
    case S_EXT_QUOTED:
        st = c == '"' ? S_EXT_QUOTED_END : c == '\\' ? S_EXT_QUOTED_ESC : is_text(c) ? st : -1;
        break;
    case S_EXT_QUOTED_ESC: st = is_text(c) ? S_EXT_QUOTED : -1; break;
    case S_EXT_QUOTED_END:
        st = c == ';' ? S_EXT_NAME_BWS : is_ws(c) ? S_SIZE_BWS : -1;
        break;
    default: st = -1; break;
    }
    if (st < 0)
        return USOCK_EHTTP_BAD_CHUNK;
    p->state = st;
    return 0;
}

/* One byte of the trailer section: field lines like the head's, checked
 * and dropped, then the empty line. */
static int trailer_byte(usock_http_parser *p, unsigned char c)
{
    if (++p->linelen > p->max_head)
        return USOCK_EHTTP_HEAD_TOO_LARGE;
    switch (p->state) {
    case S_TRAILER:
        if (c == '\r') {
            p->state = S_END_LF;
            return 0;
        }
        if (c == '\n')
            return USOCK_EHTTP_BAD_EOL;
        if (is_ws(c) && p->lenient && p->nfields > 0) {
            p->state = S_TRAILER_VALUE; /* obs-fold: the last field goes on */
            return 0;
        }
        if (is_ws(c))
            return USOCK_EHTTP_OBS_FOLD;
        if (!is_tchar(c))
            return USOCK_EHTTP_BAD_HEADER_NAME;
        if (++p->nfields > p->max_headers)
            return USOCK_EHTTP_TOO_MANY_HEADERS;
        p->state = S_TRAILER_NAME;
        return 0;
    case S_TRAILER_NAME:
        if (c == ':')
            p->state = S_TRAILER_VALUE;
        else if (is_ws(c))
            return USOCK_EHTTP_SPACE_BEFORE_COLON;
        else if (!is_tchar(c))
            return USOCK_EHTTP_BAD_HEADER_NAME;
        return 0;
    case S_TRAILER_VALUE:
        if (c == '\r')
            p->state = S_TRAILER_LF;
        else if (c == '\n')
            return USOCK_EHTTP_BAD_EOL;
        else if (!is_text(c))
            return USOCK_EHTTP_BAD_HEADER_VALUE;
        return 0;
    case S_TRAILER_LF:
        if (c != '\n')
            return USOCK_EHTTP_BAD_EOL;
        p->state = S_TRAILER;
        return 0;
    default: /* S_END_LF */
        if (c != '\n')
            return USOCK_EHTTP_BAD_EOL;
        p->state = S_DONE;
        p->done = 1;
        return 0;
    }
}

static int is_lf_state(int state)
{
    return state == S_SIZE_LF || state == S_DATA_LF || state == S_TRAILER_LF ||
           state == S_END_LF;
}

/* One framing byte of a chunked body (anything but data). A lenient
 * parser takes a bare LF as CR LF. */
static int chunked_byte(usock_http_parser *p, unsigned char c)
{
    if (c == '\n' && p->lenient && !is_lf_state(p->state)) {
        int rc = chunked_byte(p, '\r');
        if (rc < 0 || !is_lf_state(p->state))
            return rc < 0 ? rc : USOCK_EHTTP_BAD_EOL;
    }
    switch (p->state) {
    case S_SIZE_LF:
        if (c != '\n')
            return USOCK_EHTTP_BAD_EOL;
        if (p->remaining > p->max_body - p->body_seen)
            return USOCK_EHTTP_BODY_TOO_LARGE;
        p->linelen = 0;
        p->state = p->remaining ? S_DATA : S_TRAILER;
        return 0;
    case S_DATA_CR:
        if (c != '\r')
            return USOCK_EHTTP_BAD_CHUNK;
        p->state = S_DATA_LF;
        return 0;
    case S_DATA_LF:
        if (c != '\n')
            return USOCK_EHTTP_BAD_CHUNK;
        p->state = S_SIZE;
        p->remaining = 0;
        p->linelen = 0;
        return 0;
    default:
        if (p->state >= S_TRAILER)
            return trailer_byte(p, c);
        return chunk_line_byte(p, c);
    }
}

/* Takes up to p->remaining bytes of data at buf[0 .. len). */
static size_t take_data(usock_http_parser *p, size_t len)
{
    size_t n = p->remaining < len ? (size_t)p->remaining : len;
    p->remaining -= n;
    p->body_seen += n;
    return n;
}

ssize_t usock_http_parse_body(usock_http_parser *p, const char *buf, size_t len,
                              const char **data, size_t *dlen)
{
    const char *d = NULL;
    size_t dn = 0, i = 0;
    if (p == NULL || (buf == NULL && len > 0))
        return USOCK_EINVAL;
    if (p->err)
        return p->err;
    if (p->state == S_HEAD)
        return USOCK_EINVAL;
    if (p->state == S_CLOSE) {
        if (len > p->max_body - p->body_seen)
            return p->err = USOCK_EHTTP_BODY_TOO_LARGE;
        p->body_seen += len;
        d = buf, dn = len, i = len;
    } else if (p->state == S_LENGTH) {
        d = buf, dn = i = take_data(p, len);
        if (p->remaining == 0)
            p->state = S_DONE, p->done = 1;
    }
    /* Chunked: framing bytes up to the first piece of data, which ends the call. */
    while (i < len && p->state >= S_SIZE && p->state != S_DONE) {
        if (p->state == S_DATA) {
            d = buf + i;
            dn = take_data(p, len - i);
            i += dn;
            if (p->remaining == 0)
                p->state = S_DATA_CR;
            break;
        }
        int rc = chunked_byte(p, (unsigned char)buf[i]);
        if (rc < 0)
            return p->err = rc;
        i++;
    }
    if (data)
        *data = dn ? d : NULL;
    if (dlen)
        *dlen = dn;
    return (ssize_t)i;
}

int usock_http_body_done(const usock_http_parser *p)
{
    return p != NULL && p->done;
}

int usock_http_parse_eof(usock_http_parser *p)
{
    if (p == NULL)
        return USOCK_EINVAL;
    if (p->err)
        return p->err;
    if (p->state == S_CLOSE) {
        p->state = S_DONE;
        p->done = 1;
    }
    return p->done ? 0 : USOCK_EHTTP_TRUNCATED;
}

const usock_http_str *usock_http_header_get(const usock_http_msg *m, const char *name)
{
    if (m == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < m->nheaders; i++)
        if (str_ieq_n(m->headers[i].name, name, strlen(name)))
            return &m->headers[i].value;
    return NULL;
}

const char *usock_http_reason(int status)
{
    /* RFC 9110 15, with RFC 6585's 428, 429, 431, 511 and RFC 8297's 103. */
    static const struct { short code; const char *text; } reasons[] = {
        {100, "Continue"}, {101, "Switching Protocols"}, {103, "Early Hints"},
        {200, "OK"}, {201, "Created"}, {202, "Accepted"},
        {203, "Non-Authoritative Information"}, {204, "No Content"}, {205, "Reset Content"},
        {206, "Partial Content"}, {300, "Multiple Choices"}, {301, "Moved Permanently"},
        {302, "Found"}, {303, "See Other"}, {304, "Not Modified"}, {305, "Use Proxy"},
        {307, "Temporary Redirect"}, {308, "Permanent Redirect"}, {400, "Bad Request"},
        {401, "Unauthorized"}, {402, "Payment Required"}, {403, "Forbidden"},
        {404, "Not Found"}, {405, "Method Not Allowed"}, {406, "Not Acceptable"},
        {407, "Proxy Authentication Required"}, {408, "Request Timeout"}, {409, "Conflict"},
        {410, "Gone"}, {411, "Length Required"}, {412, "Precondition Failed"},
        {413, "Content Too Large"}, {414, "URI Too Long"}, {415, "Unsupported Media Type"},
        {416, "Range Not Satisfiable"}, {417, "Expectation Failed"},
        {421, "Misdirected Request"}, {422, "Unprocessable Content"},
        {426, "Upgrade Required"}, {428, "Precondition Required"},
        {429, "Too Many Requests"}, {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"}, {501, "Not Implemented"}, {502, "Bad Gateway"},
        {503, "Service Unavailable"}, {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"}, {511, "Network Authentication Required"},
    };
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].code == status)
            return reasons[i].text;
    return "";
}

int usock_http_error_status(int err)
{
    switch (err) {
    case USOCK_EHTTP_LINE_TOO_LONG: return 414;
    case USOCK_EHTTP_HEAD_TOO_LARGE:
    case USOCK_EHTTP_TOO_MANY_HEADERS: return 431;
    case USOCK_EHTTP_BODY_TOO_LARGE: return 413;
    case USOCK_EHTTP_VERSION: return 505;
    case USOCK_EHTTP_UNKNOWN_CODING: return 501;
    default: return 400;
    }
}

/* ---- public: the writer ------------------------------------------------- */

void usock_http_writer_init(usock_http_writer *w, char *buf, size_t cap)
{
    if (w == NULL)
        return;
    w->buf = buf;
    w->cap = buf ? cap : 0;
    w->len = 0;
    w->err = 0;
}

static void put(usock_http_writer *w, const char *s, size_t n)
{
    if (w->err)
        return;
    if (n > w->cap - w->len) {
        w->err = USOCK_ENOSPC;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void put_str(usock_http_writer *w, const char *s)
{
    put(w, s, strlen(s));
}

/* A line that did not fit is taken back whole: w->len never ends inside
 * a line, so what was written before the failure is still a valid prefix. */
static void undo_partial(usock_http_writer *w, size_t at)
{
    if (w->err)
        w->len = at;
}

static int token_ok(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return 0;
    return 1;
}

/* No CTL but HTAB (so no CR, LF or NUL): what our own parser accepts. */
static int text_ok(const char *s)
{
    for (; *s; s++)
        if (!is_text((unsigned char)*s))
            return 0;
    return 1;
}

static int version_ok(int version)
{
    return version == 10 || version == 11;
}

void usock_http_write_status(usock_http_writer *w, int version, int status, const char *reason)
{
    if (w == NULL || w->err)
        return;
    if (reason == NULL)
        reason = usock_http_reason(status);
    if (!version_ok(version) || status < 100 || status > 999 || !text_ok(reason)) {
        w->err = USOCK_EINVAL;
        return;
    }
    size_t at = w->len;
    char line[32];
    int n = snprintf(line, sizeof line, "HTTP/1.%d %03d ", version % 10, status);
    put(w, line, (size_t)n);
    put_str(w, reason);
    put(w, "\r\n", 2);
    undo_partial(w, at);
}

void usock_http_write_request_line(usock_http_writer *w, const char *method, const char *target,
                                   int version)
{
    if (w == NULL || w->err)
        return;
    int ok = method && target && token_ok(method) && version_ok(version) && *target;
    for (const char *t = target; ok && *t; t++)
        ok = *t > ' ' && *t < 0x7f;
    if (!ok) {
        w->err = USOCK_EINVAL;
        return;
    }
    size_t at = w->len;
    put_str(w, method);
    put(w, " ", 1);
    put_str(w, target);
    put_str(w, version == 11 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
    undo_partial(w, at);
}

void usock_http_write_header(usock_http_writer *w, const char *name, const char *value)
{
    if (w == NULL || w->err)
        return;
    if (name == NULL || value == NULL || !token_ok(name) || !text_ok(value)) {
        w->err = USOCK_EINVAL;
        return;
    }
    size_t at = w->len;
    put_str(w, name);
    put(w, ": ", 2);
    put_str(w, value);
    put(w, "\r\n", 2);
    undo_partial(w, at);
}

void usock_http_write_content_length(usock_http_writer *w, uint64_t n)
{
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)n);
    usock_http_write_header(w, "Content-Length", num);
}

void usock_http_write_end(usock_http_writer *w)
{
    if (w != NULL)
        put(w, "\r\n", 2);
}

ssize_t usock_http_writer_done(const usock_http_writer *w)
{
    if (w == NULL)
        return USOCK_EINVAL;
    return w->err ? w->err : (ssize_t)w->len;
}

int usock_http_chunk_iov(struct iovec iov[3], char line[USOCK_HTTP_CHUNK_LINE], const void *data,
                         size_t n)
{
    if (n == 0) {
        memcpy(line, "0\r\n\r\n", 5);
        iov[0].iov_base = line;
        iov[0].iov_len = 5;
        return 1;
    }
    int k = snprintf(line, USOCK_HTTP_CHUNK_LINE, "%zx\r\n", n);
    iov[0].iov_base = line;
    iov[0].iov_len = (size_t)k;
    iov[1].iov_base = (void *)(uintptr_t)data; /* writev never writes through it */
    iov[1].iov_len = n;
    iov[2].iov_base = "\r\n";
    iov[2].iov_len = 2;
    return 3;
}
