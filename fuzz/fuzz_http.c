/* fuzz_http.c -- libFuzzer harness for the HTTP/1.x parser (http.h).
 *
 * The first byte picks the message type (bit 0: response) and, for
 * responses, whether the request was HEAD (bit 1); bit 2 makes the parser
 * lenient (bare LF, obs-fold: what the client accepts). The rest is a stream of
 * messages, parsed twice: one-shot (the whole head at once, the body in one
 * piece) and byte by byte (the head given prefixes of growing length, the
 * body one more byte at a time). Both must give the same error or the same
 * messages: head fields (as offsets into the input), framing, body bytes,
 * done state; and the same answer to parse_eof at the end. Any difference,
 * or a slice outside the input, abort()s. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "usock.h"
#include "usock/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXMSG 8
#define MAXHDR 128

struct slice {
    size_t off, n;
};

struct rec {
    int nmsg, err, eof;
    struct {
        struct slice method, target, reason, hname[MAXHDR], hvalue[MAXHDR];
        int status, version, framing, keep_alive, expect_continue, done;
        size_t nheaders;
        uint64_t content_length;
        size_t body_off, body_len;
    } m[MAXMSG];
    unsigned char *body;
    size_t blen;
};

static const char *base;
static size_t base_len;
static int lenient;

static struct slice sl(usock_http_str s)
{
    struct slice r = {0, s.n};
    if (s.n == 0)
        return r;
    if (!s.p || s.p < base || s.p + s.n > base + base_len)
        abort(); /* a slice outside the input */
    r.off = (size_t)(s.p - base);
    return r;
}

static void body_data(struct rec *r, const char *d, size_t dn, const char *from, size_t n)
{
    if (dn == 0)
        return;
    if (!d || d < from || d + dn > from + n)
        abort(); /* body data outside the consumed bytes */
    memcpy(r->body + r->blen, d, dn);
    r->blen += dn;
}

static void run(const char *buf, size_t len, int type, int headreq, int bytewise, struct rec *r)
{
    usock_http_header hdr[MAXHDR];
    size_t pos = 0;
    usock_http_parser p;
    r->nmsg = r->err = r->eof = 0;
    r->blen = 0;
    while (pos < len && r->nmsg < MAXMSG) {
        usock_http_msg m;
        usock_http_parser_init(&p, type);
        p.head_request = headreq;
        p.lenient = lenient;
        int h = 0;
        if (bytewise) {
            for (size_t k = 1; k <= len - pos; k++) {
                h = usock_http_parse_head(&p, buf + pos, k, &m, hdr, MAXHDR);
                if (h != 0)
                    break;
            }
        } else {
            h = usock_http_parse_head(&p, buf + pos, len - pos, &m, hdr, MAXHDR);
        }
        if (h < 0) {
            r->err = h;
            return;
        }
        if (h == 0)
            break; /* need more */
        if ((size_t)h > len - pos)
            abort();
        int i = r->nmsg++;
        r->m[i].method = sl(m.method);
        r->m[i].target = sl(m.target);
        r->m[i].reason = sl(m.reason);
        r->m[i].status = m.status;
        r->m[i].version = m.version;
        r->m[i].framing = m.framing;
        r->m[i].keep_alive = m.keep_alive;
        r->m[i].expect_continue = m.expect_continue;
        r->m[i].content_length = m.framing == USOCK_HTTP_BODY_LENGTH ? m.content_length : 0;
        if (m.nheaders > MAXHDR || m.headers != hdr)
            abort();
        r->m[i].nheaders = m.nheaders;
        for (size_t j = 0; j < m.nheaders; j++) {
            r->m[i].hname[j] = sl(hdr[j].name);
            r->m[i].hvalue[j] = sl(hdr[j].value);
        }
        r->m[i].body_off = r->blen;
        pos += (size_t)h;
        if (bytewise) {
            size_t have = 0;
            while (!usock_http_body_done(&p) && pos + have < len) {
                have++;
                const char *d = NULL;
                size_t dn = 0;
                ssize_t n = usock_http_parse_body(&p, buf + pos, have, &d, &dn);
                if (n < 0) {
                    r->err = (int)n;
                    return;
                }
                if ((size_t)n > have)
                    abort();
                body_data(r, d, dn, buf + pos, (size_t)n);
                pos += (size_t)n;
                have -= (size_t)n;
            }
            /* Whatever was held back is given once more in full. */
            while (!usock_http_body_done(&p) && have) {
                const char *d = NULL;
                size_t dn = 0;
                ssize_t n = usock_http_parse_body(&p, buf + pos, have, &d, &dn);
                if (n < 0) {
                    r->err = (int)n;
                    return;
                }
                if (n == 0)
                    break;
                body_data(r, d, dn, buf + pos, (size_t)n);
                pos += (size_t)n;
                have -= (size_t)n;
            }
        } else {
            while (!usock_http_body_done(&p)) {
                const char *d = NULL;
                size_t dn = 0;
                ssize_t n = usock_http_parse_body(&p, buf + pos, len - pos, &d, &dn);
                if (n < 0) {
                    r->err = (int)n;
                    return;
                }
                if ((size_t)n > len - pos)
                    abort();
                body_data(r, d, dn, buf + pos, (size_t)n);
                pos += (size_t)n;
                if (n == 0)
                    break;
            }
        }
        r->m[i].body_len = r->blen - r->m[i].body_off;
        r->m[i].done = usock_http_body_done(&p);
        if (!r->m[i].done || !m.keep_alive)
            break;
    }
    /* The connection closes here. */
    r->eof = r->nmsg && r->m[r->nmsg - 1].done ? 1 : usock_http_parse_eof(&p);
}

static int same_slice(struct slice a, struct slice b)
{
    return a.n == b.n && (a.n == 0 || a.off == b.off);
}

static void compare(const struct rec *a, const struct rec *b)
{
    if (a->err != b->err || a->nmsg != b->nmsg || a->eof != b->eof || a->blen != b->blen ||
        memcmp(a->body, b->body, a->blen) != 0)
        abort();
    for (int i = 0; i < a->nmsg; i++) {
        if (!same_slice(a->m[i].method, b->m[i].method) ||
            !same_slice(a->m[i].target, b->m[i].target) ||
            !same_slice(a->m[i].reason, b->m[i].reason) || a->m[i].status != b->m[i].status ||
            a->m[i].version != b->m[i].version || a->m[i].framing != b->m[i].framing ||
            a->m[i].keep_alive != b->m[i].keep_alive ||
            a->m[i].expect_continue != b->m[i].expect_continue ||
            a->m[i].content_length != b->m[i].content_length || a->m[i].done != b->m[i].done ||
            a->m[i].nheaders != b->m[i].nheaders || a->m[i].body_off != b->m[i].body_off ||
            a->m[i].body_len != b->m[i].body_len)
            abort();
        for (size_t j = 0; j < a->m[i].nheaders; j++)
            if (!same_slice(a->m[i].hname[j], b->m[i].hname[j]) ||
                !same_slice(a->m[i].hvalue[j], b->m[i].hvalue[j]))
                abort();
    }
    /* An error is one of the parser's, with a status for a server. */
    if (a->err) {
        if (a->err > USOCK_EHTTP_BAD_METHOD || a->err < USOCK_EHTTP_BAD_HOST)
            abort();
        int st = usock_http_error_status(a->err);
        if (st != 400 && st != 413 && st != 414 && st != 431 && st != 501 && st != 505)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int type = data[0] & 1 ? USOCK_HTTP_RESPONSE : USOCK_HTTP_REQUEST;
    int headreq = type == USOCK_HTTP_RESPONSE && (data[0] & 2);
    lenient = (data[0] & 4) != 0;
    /* An exact-size copy, so that ASan sees any read past the end. */
    size_t len = size - 1;
    char *buf = malloc(len ? len : 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, len);
    base = buf;
    base_len = len;
    static struct rec a, b;
    a.body = malloc(len + 1);
    b.body = malloc(len + 1);
    if (a.body && b.body) {
        run(buf, len, type, headreq, 0, &a);
        run(buf, len, type, headreq, 1, &b);
        compare(&a, &b);
    }
    free(a.body);
    free(b.body);
    free(buf);
    return 0;
}
