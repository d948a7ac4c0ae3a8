/* request_response.c -- one HTTP exchange of the client: the request's
 * head and body on the wire (Content-Length or chunked, Expect:
 * 100-continue), the response's head (1xx skipped), and its body read on
 * demand: framing by the http parser over the response's own buffer,
 * gzip/deflate through zlib, the connection back to the pool once the
 * body has ended. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "request_priv.h"

#define BUF_START 16384  /* a response's buffer: the head, then body bytes */
#define BODY_ROOM 16384  /* at least this much after the head */
#define ZBUF_SIZE 16384  /* inflated bytes per step */
#define SEND_PIECE 65536 /* a file or reader body goes in pieces this large */
#define SMALL_BODY 16384 /* a body from memory this small goes with the head */
#define DRAIN_MAX 65536  /* a redirect's body read to keep its connection */
#define CONTINUE_WAIT 1.0

/* ---- the request on the wire ------------------------------------------------ */

static int method_is(const char *m, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(m, *list) == 0)
            return 1;
    return 0;
}

/* RFC 9110 9.2.2: the methods that may be sent twice. */
static int idempotent(const char *m)
{
    static const char *const list[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", NULL};
    return method_is(m, list);
}

/* As http.client: these announce an empty body with Content-Length: 0. */
static int expects_body(const char *m)
{
    static const char *const list[] = {"POST", "PUT", "PATCH", NULL};
    return method_is(m, list);
}

/* How the body goes: *len >= 0 with Content-Length, -1 chunked, -2 no
 * body and no header. Rewinds a file body to where it started. */
static int body_plan(usock_urlrequest *r, int64_t *len)
{
    switch (r->body) {
    case BODY_MEM: *len = (int64_t)r->len; return 0;
    case BODY_READER:
        if (r->body_used)
            return USOCK_EBODY_NOT_REPLAYABLE;
        *len = r->blen;
        return 0;
    case BODY_FILE: break;
    default: *len = expects_body(usock__request_method(r)) ? 0 : -2; return 0;
    }
    if (r->file_start >= 0) {
        if (lseek(r->fd, (off_t)r->file_start, SEEK_SET) < 0)
            return -errno;
    } else if (r->body_used) {
        return USOCK_EBODY_NOT_REPLAYABLE;
    }
    *len = r->blen;
    struct stat st;
    if (*len < 0 && r->file_start >= 0 && fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode))
        *len = st.st_size > r->file_start ? (int64_t)st.st_size - r->file_start : 0;
    return 0;
}

static int user_has(const usock_urlrequest *r, const char *name)
{
    return usock__headers_get(&r->headers, name) != NULL;
}

/* An http request through a proxy goes to the proxy, for the absolute
 * URL (an https one goes through a tunnel, as to the origin). */
static int forward(const usock_urlrequest *r, const struct usock__extra *x)
{
    return x->proxy && strcmp(r->scheme, "http") == 0;
}

/* The fields the client adds: each one unless the user set it. */
static void write_own_headers(usock_http_writer *w, const usock_urlrequest *r,
                              const struct usock__extra *x, int64_t blen)
{
    const char *host = usock__headers_get(&r->headers, "Host");
    usock_http_write_header(w, "Host", host ? host : r->host_header);
    if (x->user_agent && !user_has(r, "User-Agent") && !(r->no_builtin & NO_USER_AGENT))
        usock_http_write_header(w, "User-Agent", x->user_agent);
    if (x->accept_encoding && !user_has(r, "Accept-Encoding") &&
        !(r->no_builtin & NO_ACCEPT_ENCODING))
        usock_http_write_header(w, "Accept-Encoding", "gzip, deflate");
    if (x->authorization && !user_has(r, "Authorization"))
        usock_http_write_header(w, "Authorization", x->authorization);
    if (forward(r, x) && x->proxy->auth && !user_has(r, "Proxy-Authorization"))
        usock_http_write_header(w, "Proxy-Authorization", x->proxy->auth);
    const char *own = usock__headers_get(&r->headers, "Cookie");
    if (x->cookie && own) { /* the jar's and the request's own, as curl sends both */
        size_t n = strlen(x->cookie) + strlen(own) + 3;
        char *both = malloc(n);
        if (both)
            snprintf(both, n, "%s; %s", x->cookie, own);
        usock_http_write_header(w, "Cookie", both ? both : own);
        free(both);
    } else if (x->cookie || own) {
        usock_http_write_header(w, "Cookie", x->cookie ? x->cookie : own);
    }
    /* urllib's default for a body, as its AbstractHTTPHandler adds it. */
    if (r->body != BODY_NONE && !user_has(r, "Content-Type"))
        usock_http_write_header(w, "Content-Type", "application/x-www-form-urlencoded");
    if (blen >= 0)
        usock_http_write_content_length(w, (uint64_t)blen);
    else if (blen == -1)
        usock_http_write_header(w, "Transfer-Encoding", "chunked");
    if (r->expect_continue && r->body != BODY_NONE)
        usock_http_write_header(w, "Expect", "100-continue");
}

/* The head, malloc'ed: the request line, the client's fields, the user's
 * (but the framing ones: the client frames the body). */
static int build_head(const usock_urlrequest *r, const struct usock__extra *x, int64_t blen,
                      char **out, size_t *n)
{
    char *absolute = NULL; /* the absolute-form a proxy is asked for */
    size_t an = strlen(r->host_header) + strlen(r->target) + 8;
    if (forward(r, x) && !(absolute = malloc(an)))
        return USOCK_ENOMEM;
    if (absolute)
        snprintf(absolute, an, "http://%s%s", r->host_header, r->target);
    const char *target = absolute ? absolute : r->target;
    size_t cap = strlen(target) + strlen(r->host_header) + 512;
    cap += x->authorization ? strlen(x->authorization) : 0;
    cap += forward(r, x) && x->proxy->auth ? strlen(x->proxy->auth) : 0;
    cap += x->cookie ? strlen(x->cookie) : 0;
    cap += x->user_agent ? strlen(x->user_agent) : 0;
    for (size_t i = 0; i < r->headers.n; i++)
        cap += strlen(r->headers.v[i].name) + strlen(r->headers.v[i].value) + 4;
    cap += SMALL_BODY; /* room for a small body after it */
    char *buf = malloc(cap);
    if (!buf) {
        free(absolute);
        return USOCK_ENOMEM;
    }
    usock_http_writer w;
    usock_http_writer_init(&w, buf, cap);
    usock_http_write_request_line(&w, usock__request_method(r), target, 11);
    write_own_headers(&w, r, x, blen);
    for (size_t i = 0; i < r->headers.n; i++) {
        const struct usock__header *h = &r->headers.v[i];
        if (strcasecmp(h->name, "Host") == 0 || strcasecmp(h->name, "Content-Length") == 0 ||
            strcasecmp(h->name, "Transfer-Encoding") == 0 || strcasecmp(h->name, "Cookie") == 0)
            continue; /* the client writes these */
        usock_http_write_header(&w, h->name, h->value);
    }
    usock_http_write_end(&w);
    free(absolute);
    ssize_t len = usock_http_writer_done(&w);
    if (len < 0) {
        free(buf);
        return (int)len;
    }
    *out = buf;
    *n = (size_t)len;
    return 0;
}

/* Where a body's bytes come from, a piece at a time. */
static ssize_t body_piece(usock_urlrequest *r, char *buf, size_t cap)
{
    if (r->body == BODY_READER) {
        r->body_used = 1;
        ssize_t n = r->read(r->ctx, buf, cap);
        /* The reader's own code when it is one of ours, else EIO. */
        return n < -4999 ? USOCK_EIO : n;
    }
    if (r->file_start < 0)
        r->body_used = 1;
    for (;;) {
        ssize_t n = read(r->fd, buf, cap);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return -errno;
    }
}

/* Under a deadline (the open's max_time), each step's timeout is cut to
 * what is left before it starts, so that a peer that trickles bytes
 * cannot stretch the open: USOCK_ETIMEDOUT once it has passed. */
static int deadline_step(struct usock__conn *c, double timeout, int64_t deadline)
{
    if (deadline < 0)
        return 0;
    if (usock__expired(deadline))
        return USOCK_ETIMEDOUT;
    return c->ops->settimeout(c->s, usock__step_timeout(timeout, deadline));
}

/* Error codes a body's source returns are not the connection's: they are
 * marked so that the exchange can tell them apart. */
struct sent {
    int src_err; /* the body's source failed (its code) */
    double timeout;   /* each write's */
    int64_t deadline; /* the open's, -1 none */
};

/* A body of blen bytes (>= 0) or chunked (-1) from a file or a reader. */
static int send_stream(struct usock__conn *c, usock_urlrequest *r, int64_t blen, struct sent *st)
{
    char *buf = malloc(USOCK_HTTP_CHUNK_LINE + SEND_PIECE + 2);
    if (!buf)
        return USOCK_ENOMEM;
    char *data = buf + USOCK_HTTP_CHUNK_LINE;
    int64_t left = blen;
    int rc = 0;
    for (;;) {
        size_t want = SEND_PIECE;
        if (blen >= 0 && (int64_t)want > left)
            want = (size_t)left;
        ssize_t n = want ? body_piece(r, data, want) : 0;
        if (n < 0) {
            rc = st->src_err = (int)n;
            break;
        }
        if ((rc = deadline_step(c, st->timeout, st->deadline)) < 0)
            break;
        if (blen >= 0) {
            if (n == 0 && left > 0) {
                rc = st->src_err = USOCK_EIO; /* shorter than its length */
                break;
            }
            if (n == 0)
                break;
            left -= n;
            rc = c->ops->write(c->s, data, (size_t)n);
        } else {
            /* The size line right before the data, "\r\n" after: one write. */
            char line[USOCK_HTTP_CHUNK_LINE];
            int k = snprintf(line, sizeof line, "%zx\r\n", (size_t)n);
            memcpy(data - k, line, (size_t)k);
            memcpy(data + n, "\r\n", 2);
            if (n == 0)
                rc = c->ops->write(c->s, data - k, (size_t)k + 2); /* "0\r\n\r\n" */
            else
                rc = c->ops->write(c->s, data - k, (size_t)k + (size_t)n + 2);
            if (n == 0)
                break;
        }
        if (rc < 0)
            break;
    }
    free(buf);
    return rc;
}

static int send_body(struct usock__conn *c, usock_urlrequest *r, int64_t blen, struct sent *st)
{
    if (r->body == BODY_NONE)
        return 0;
    if (r->body == BODY_MEM)
        return c->ops->write(c->s, r->data, r->len);
    return send_stream(c, r, blen, st);
}

/* ---- the response's head ------------------------------------------------- */

/* An exchange in progress. */
struct xfer {
    struct usock__conn *c;
    usock_urlrequest *r;
    int64_t blen;
    double timeout;
    int64_t deadline; /* the open's (max_time), -1 none */
    const char *phase; /* what it is doing, for a timeout's detail */
    int waiting;   /* Expect: 100-continue sent, the body not yet */
    int skipped;   /* a final answer came before the body went */
    int got_bytes; /* any byte of a response arrived */
    struct sent st;
};

/* The body, once the server said 100 or was silent for a second. */
static int go_ahead(struct xfer *x)
{
    x->waiting = 0;
    int rc = x->c->ops->settimeout(x->c->s, usock__step_timeout(x->timeout, x->deadline));
    if (rc == 0)
        rc = send_body(x->c, x->r, x->blen, &x->st);
    return rc;
}

static int grow(usock_response *res, size_t cap)
{
    char *p = realloc(res->buf, cap);
    if (!p)
        return USOCK_ENOMEM;
    res->buf = p;
    res->cap = cap;
    return 0;
}

/* Reads until the parser has a complete head in res->buf. */
static int head_once(struct xfer *x, usock_response *res, int head_req)
{
    usock_http_parser_init(&res->parser, USOCK_HTTP_RESPONSE);
    res->parser.head_request = head_req;
    res->parser.lenient = 1; /* bare LF and obs-fold, as RFC 9112 lets a user agent */
    for (;;) {
        int n = usock_http_parse_head(&res->parser, res->buf, res->len, &res->msg, res->hdr,
                                      USOCK__MAX_HEADERS);
        if (n != 0)
            return n;
        /* The parser bounds the head (max_head), so this stays bounded. */
        if (res->len == res->cap && grow(res, res->cap * 2) < 0)
            return USOCK_ENOMEM;
        double t = x->waiting && (x->timeout < 0 || x->timeout > CONTINUE_WAIT) ? CONTINUE_WAIT
                                                                              : x->timeout;
        int late = deadline_step(x->c, t, x->deadline);
        if (late < 0)
            return late;
        ssize_t got = x->c->ops->read(x->c->s, res->buf + res->len, res->cap - res->len);
        if (got == USOCK_ETIMEDOUT && x->waiting && res->len == 0) {
            int rc = go_ahead(x); /* no answer within the wait: send it anyway */
            if (rc < 0)
                return rc;
            continue;
        }
        if (got < 0)
            return (int)got;
        if (got == 0)
            return res->len || x->got_bytes ? USOCK_EHTTP_TRUNCATED : USOCK_ECONNRESET;
        if (x->waiting &&
            x->c->ops->settimeout(x->c->s, usock__step_timeout(x->timeout, x->deadline)) < 0)
            return USOCK_EINVAL; /* an answer is coming: the whole timeout again */
        x->got_bytes = 1;
        res->len += (size_t)got;
    }
}

/* The final head: 1xx answers (but 101) are dropped, a 100 releases a
 * body that waits for it. */
static int read_head(struct xfer *x, usock_response *res, int head_req)
{
    for (;;) {
        int n = head_once(x, res, head_req);
        if (n < 0)
            return n;
        int status = res->msg.status;
        if (status >= 200 || status == 101) {
            res->head_len = (size_t)n;
            if (x->waiting)
                x->skipped = 1;
            return 0;
        }
        memmove(res->buf, res->buf + n, res->len - (size_t)n);
        res->len -= (size_t)n;
        if (status == 100 && x->waiting) {
            int rc = go_ahead(x);
            if (rc < 0)
                return rc;
        }
    }
}

/* Sends the request and reads the head. */
static int attempt(struct xfer *x, usock_response *res, const struct usock__extra *ex)
{
    usock_urlrequest *r = x->r;
    char *head = NULL;
    size_t hn = 0;
    int rc = body_plan(r, &x->blen);
    if (rc == 0)
        rc = build_head(r, ex, x->blen, &head, &hn);
    if (rc < 0) {
        x->st.src_err = rc;
        return rc;
    }
    int expect = r->expect_continue && r->body != BODY_NONE;
    double t = usock__step_timeout(x->timeout, x->deadline);
    rc = x->c->ops->settimeout(x->c->s, expect && (t < 0 || t > CONTINUE_WAIT) ? CONTINUE_WAIT : t);
    x->st.timeout = x->timeout;
    x->st.deadline = x->deadline;
    x->phase = "sending the request";
    if (rc == 0 && !expect && r->body == BODY_MEM && r->len <= SMALL_BODY) {
        memcpy(head + hn, r->data, r->len); /* build_head left the room */
        rc = x->c->ops->write(x->c->s, head, hn + r->len);
    } else if (rc == 0) {
        rc = x->c->ops->write(x->c->s, head, hn);
        if (rc == 0 && expect)
            x->waiting = 1;
        else if (rc == 0)
            rc = send_body(x->c, r, x->blen, &x->st);
    }
    free(head);
    x->phase = "waiting for the response's head";
    if (rc == 0)
        rc = read_head(x, res, strcmp(usock__request_method(r), "HEAD") == 0);
    return rc;
}

/* ---- the response's body ------------------------------------------------- */

/* The message has ended: the connection goes back to the pool when the
 * server keeps it and sent nothing after the message, else it closes. */
static void body_ended(usock_response *res)
{
    res->raw_end = 1;
    struct usock__conn *c = res->conn;
    res->conn = NULL;
    if (!c)
        return;
    c->uses++;
    if (res->keep_alive && res->pos == res->len)
        usock__pool_put(res->pool, c);
    else
        usock__conn_close(c);
}

static int fail(usock_response *res, int code)
{
    res->err = code;
    usock__conn_close(res->conn);
    res->conn = NULL;
    return code;
}

/* Room for more bytes after the head: what the parser has not seen moves
 * to the front of the body area. */
static void compact(usock_response *res)
{
    size_t keep = res->len - res->pos;
    if (res->pos > res->head_len && keep)
        memmove(res->buf + res->head_len, res->buf + res->pos, keep);
    res->pos = res->head_len;
    res->len = res->head_len + keep;
}

/* The next piece of the body as sent (de-chunked) into raw_p/raw_n.
 * Returns 1, 0 at the body's end, or an error (a timeout may be retried). */
static int raw_fill(usock_response *res)
{
    while (res->raw_n == 0) {
        if (res->raw_end)
            return 0;
        if (res->pos < res->len) {
            const char *d;
            size_t dn;
            ssize_t k = usock_http_parse_body(&res->parser, res->buf + res->pos,
                                              res->len - res->pos, &d, &dn);
            if (k < 0)
                return fail(res, (int)k);
            res->pos += (size_t)k;
            res->raw_p = d;
            res->raw_n = dn;
            if (usock_http_body_done(&res->parser))
                body_ended(res);
            if (k > 0)
                continue;
        }
        if (!res->conn)
            return fail(res, USOCK_EHTTP_TRUNCATED); /* cannot happen: ended above */
        compact(res);
        if (res->len == res->cap)
            return fail(res, USOCK_EHTTP_BAD_CHUNK); /* a framing line fills the room */
        int rc = deadline_step(res->conn, res->timeout, res->deadline);
        if (rc < 0)
            return fail(res, rc);
        ssize_t n = res->conn->ops->read(res->conn->s, res->buf + res->len, res->cap - res->len);
        if (n == USOCK_ETIMEDOUT && usock__expired(res->deadline))
            return fail(res, (int)n); /* the open's time is up: for good */
        if (n == USOCK_ETIMEDOUT || n == USOCK_EAGAIN || n == USOCK_EINTR)
            return (int)n;
        if (n < 0)
            return fail(res, (int)n);
        if (n == 0) {
            if (usock_http_parse_eof(&res->parser) < 0)
                return fail(res, USOCK_EHTTP_TRUNCATED);
            res->keep_alive = 0;
            body_ended(res);
            continue;
        }
        res->len += (size_t)n;
    }
    return 1;
}

/* zlib's header (RFC 1950), or gzip's magic: both for windowBits 15 + 32;
 * anything else under "deflate" is a raw deflate stream, as curl and the
 * browsers accept it. */
static int z_start(usock_response *res)
{
    const unsigned char *b = res->sniff;
    int wrapped = res->nsniff == 2 && ((b[0] == 0x1f && b[1] == 0x8b) ||
                                       ((b[0] & 0x0f) == 8 && (b[0] * 256 + b[1]) % 31 == 0));
    if (res->enc == ENC_GZIP)
        wrapped = 1;
    memset(&res->z, 0, sizeof res->z);
    if (inflateInit2(&res->z, wrapped ? 15 + 32 : -15) != Z_OK)
        return fail(res, USOCK_ENOMEM);
    res->z_ready = 1;
    if (!res->zbuf && !(res->zbuf = malloc(ZBUF_SIZE)))
        return fail(res, USOCK_ENOMEM);
    return 0;
}

/* One inflate step from in[0 .. n): returns the bytes it consumed, or an
 * error. Output lands in zbuf. */
static ssize_t z_step(usock_response *res, const unsigned char *in, size_t n)
{
    res->z.next_in = (unsigned char *)in;
    res->z.avail_in = (uInt)n;
    res->z.next_out = (unsigned char *)res->zbuf;
    res->z.avail_out = ZBUF_SIZE;
    int zr = inflate(&res->z, Z_NO_FLUSH);
    if (zr == Z_STREAM_END)
        res->z_end = 1;
    else if (zr != Z_OK && zr != Z_BUF_ERROR)
        return fail(res, USOCK_EBAD_CONTENT_ENCODING);
    res->zpos = 0;
    res->zlen = ZBUF_SIZE - res->z.avail_out;
    return (ssize_t)(n - res->z.avail_in);
}

/* Raw bytes after the end of a compressed stream: another gzip member
 * starts over; anything else is dropped (servers pad, curl ignores it). */
static int after_end(usock_response *res)
{
    if (res->enc == ENC_GZIP && (unsigned char)res->raw_p[0] == 0x1f) {
        inflateReset(&res->z);
        res->z_end = 0;
        return 0;
    }
    res->raw_n = 0;
    return 0;
}

/* More inflated bytes into zbuf: returns their count, 0 at the end. */
static ssize_t inflate_more(usock_response *res)
{
    for (;;) {
        if (res->z_ready && res->nsniff > 0) {
            /* The sniffed bytes go in first. */
            ssize_t k = z_step(res, res->sniff, res->nsniff);
            if (k < 0)
                return k;
            memmove(res->sniff, res->sniff + k, res->nsniff - (size_t)k);
            res->nsniff -= (size_t)k;
            if (res->zlen)
                return (ssize_t)res->zlen;
            continue;
        }
        int r = raw_fill(res);
        if (r < 0)
            return r;
        if (r == 0) {
            if (res->z_end || (!res->z_ready && res->nsniff == 0))
                return 0;
            if (!res->z_ready) {
                if (z_start(res) < 0)
                    return res->err;
                continue;
            }
            /* The message ended inside the compressed stream. */
            int code = res->msg.framing == USOCK_HTTP_BODY_CLOSE ? USOCK_EHTTP_TRUNCATED
                                                                 : USOCK_EBAD_CONTENT_ENCODING;
            return fail(res, code);
        }
        if (res->z_end) {
            after_end(res);
            continue;
        }
        if (!res->z_ready) {
            res->sniff[res->nsniff++] = (unsigned char)*res->raw_p++;
            res->raw_n--;
            if (res->nsniff == 2 && z_start(res) < 0)
                return res->err;
            continue;
        }
        ssize_t k = z_step(res, (const unsigned char *)res->raw_p, res->raw_n);
        if (k < 0)
            return k;
        res->raw_p += k;
        res->raw_n -= (size_t)k;
        if (res->zlen)
            return (ssize_t)res->zlen;
    }
}

/* The next decoded bytes at *p: their count, 0 at the end, or an error. */
static ssize_t fill(usock_response *res, const char **p)
{
    if (res->err)
        return res->err;
    if (res->enc == ENC_NONE) {
        int r = raw_fill(res);
        if (r <= 0)
            return r;
        *p = res->raw_p;
        return (ssize_t)res->raw_n;
    }
    if (res->zpos == res->zlen) {
        ssize_t r = inflate_more(res);
        if (r <= 0)
            return r;
    }
    *p = res->zbuf + res->zpos;
    return (ssize_t)(res->zlen - res->zpos);
}

static void consume(usock_response *res, size_t n)
{
    if (res->enc == ENC_NONE) {
        res->raw_p += n;
        res->raw_n -= n;
    } else {
        res->zpos += n;
    }
}

USOCK_API ssize_t usock_response_read(usock_response *res, void *buf, size_t n)
{
    if (!res || (!buf && n))
        return USOCK_EINVAL;
    size_t got = 0;
    while (got < n) {
        const char *p = NULL;
        ssize_t k = fill(res, &p);
        if (k == 0)
            break;
        if (k < 0)
            return got ? (ssize_t)got : k; /* the error comes again next call */
        size_t take = (size_t)k < n - got ? (size_t)k : n - got;
        memcpy((char *)buf + got, p, take);
        consume(res, take);
        got += take;
    }
    return (ssize_t)got;
}

USOCK_API ssize_t usock_response_readline(usock_response *res, char *buf, size_t n)
{
    if (!res || !buf || n < 2)
        return USOCK_EINVAL;
    size_t got = 0;
    buf[0] = '\0';
    while (got < n - 1) {
        const char *p = NULL;
        ssize_t k = fill(res, &p);
        if (k == 0)
            break;
        if (k < 0) {
            if (got)
                break;
            return k;
        }
        size_t take = (size_t)k < n - 1 - got ? (size_t)k : n - 1 - got;
        const char *nl = memchr(p, '\n', take);
        if (nl)
            take = (size_t)(nl - p) + 1;
        memcpy(buf + got, p, take);
        consume(res, take);
        got += take;
        if (nl)
            break;
    }
    buf[got] = '\0';
    return (ssize_t)got;
}

USOCK_API int usock_response_readall(usock_response *res, char **data, size_t *len)
{
    if (!res || !data)
        return USOCK_EINVAL;
    *data = NULL;
    if (len)
        *len = 0;
    size_t cap = res->length > 0 && res->enc == ENC_NONE && res->length < (1 << 30)
                     ? (size_t)res->length + 1
                     : 4096;
    size_t n = 0;
    char *out = malloc(cap);
    if (!out)
        return USOCK_ENOMEM;
    for (;;) {
        const char *p = NULL;
        ssize_t k = fill(res, &p);
        if (k == 0)
            break;
        if (k < 0) {
            free(out);
            return (int)k;
        }
        if (cap - n < (size_t)k + 1) {
            size_t ncap = cap * 2 > n + (size_t)k + 1 ? cap * 2 : n + (size_t)k + 1;
            char *q = realloc(out, ncap);
            if (!q) {
                free(out);
                return USOCK_ENOMEM;
            }
            out = q;
            cap = ncap;
        }
        memcpy(out + n, p, (size_t)k);
        consume(res, (size_t)k);
        n += (size_t)k;
    }
    out[n] = '\0';
    *data = out;
    if (len)
        *len = n;
    return 0;
}

/* A body whose data has all been read may still have its last framing
 * (the last chunk, trailers) in the buffer: parse it, so that the
 * connection can be kept. Never waits. */
static void finish_buffered(usock_response *res)
{
    while (res->conn && !res->err && res->raw_n == 0 && res->pos < res->len &&
           (res->enc == ENC_NONE || (res->z_end && res->zpos == res->zlen))) {
        const char *d;
        size_t dn;
        ssize_t k =
            usock_http_parse_body(&res->parser, res->buf + res->pos, res->len - res->pos, &d, &dn);
        if (k <= 0 || dn > 0)
            return;
        res->pos += (size_t)k;
        if (usock_http_body_done(&res->parser))
            body_ended(res);
    }
}

USOCK_API void usock_response_close(usock_response *res)
{
    if (!res)
        return;
    finish_buffered(res);
    usock__conn_close(res->conn); /* the body was not read to its end */
    if (res->z_ready)
        inflateEnd(&res->z);
    free(res->zbuf);
    free(res->buf);
    free(res->url);
    usock__pool_unref(res->pool);
    free(res);
}

void usock__response_discard(usock_response *res)
{
    if (!res)
        return;
    size_t dropped = 0;
    /* The raw body (not decoded): only the connection matters here. */
    while (res->conn && !res->err && dropped <= DRAIN_MAX) {
        res->raw_n = 0;
        if (raw_fill(res) <= 0)
            break;
        dropped += res->raw_n;
    }
    res->raw_n = 0;
    usock_response_close(res);
}

/* ---- the response's head, for the user --------------------------------------- */

USOCK_API int usock_response_status(const usock_response *res)
{
    return res ? res->msg.status : USOCK_EINVAL;
}

USOCK_API const char *usock_response_reason(const usock_response *res)
{
    return res ? res->reason : NULL;
}

USOCK_API int usock_response_version(const usock_response *res)
{
    return res ? res->msg.version : USOCK_EINVAL;
}

USOCK_API const char *usock_response_url(const usock_response *res)
{
    return res ? res->url : NULL;
}

USOCK_API const char *usock_response_header(const usock_response *res, const char *name)
{
    if (!res || !name)
        return NULL;
    for (size_t i = 0; i < res->msg.nheaders; i++)
        if (strcasecmp(res->hdr[i].name.p, name) == 0)
            return res->hdr[i].value.p;
    return NULL;
}

USOCK_API int usock_response_header_at(const usock_response *res, size_t i, const char **name,
                                       const char **value)
{
    if (!res || i >= res->msg.nheaders)
        return 0;
    if (name)
        *name = res->hdr[i].name.p;
    if (value)
        *value = res->hdr[i].value.p;
    return 1;
}

USOCK_API int64_t usock_response_length(const usock_response *res)
{
    if (!res)
        return USOCK_EINVAL;
    if (res->msg.framing == USOCK_HTTP_BODY_LENGTH)
        return (int64_t)res->msg.content_length;
    return res->msg.framing == USOCK_HTTP_BODY_NONE ? 0 : -1;
}

/* ---- setting up a response ---------------------------------------------------- */

/* A folded value (obs-fold, which the lenient parser lets through) gets
 * each fold and the whitespace around it replaced with one SP, in place
 * (RFC 9112 5.2): "one\r\n  two" is "one two". Returns the new length. */
static size_t unfold(char *v, size_t n)
{
    if (!memchr(v, '\n', n))
        return n;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] != '\r' && v[i] != '\n') {
            v[o++] = v[i];
            continue;
        }
        while (o > 0 && (v[o - 1] == ' ' || v[o - 1] == '\t'))
            o--;
        while (i + 1 < n && (v[i + 1] == ' ' || v[i + 1] == '\t' || v[i + 1] == '\r' ||
                             v[i + 1] == '\n'))
            i++;
        v[o++] = ' ';
    }
    return o;
}

/* The head's strings become C strings in place: each name is followed by
 * its ':', each value and the reason by SP, HTAB, CR or LF, all inside the
 * head, which stays at the buffer's start for the response's life. */
static void terminate_strings(usock_response *res)
{
    for (size_t i = 0; i < res->msg.nheaders; i++) {
        usock_http_header *h = &res->hdr[i];
        ((char *)h->name.p)[h->name.n] = '\0';
        h->value.n = unfold((char *)h->value.p, h->value.n);
        ((char *)h->value.p)[h->value.n] = '\0';
    }
    ((char *)res->msg.reason.p)[res->msg.reason.n] = '\0';
    res->reason = res->msg.reason.p;
}

/* Room for the body after the head: a head that took nearly all the
 * buffer gets a bigger one, parsed again (the strings point into it). */
static int body_room(usock_response *res, int head_req)
{
    if (res->cap - res->head_len >= BODY_ROOM)
        return 0;
    if (grow(res, res->head_len + BODY_ROOM) < 0)
        return USOCK_ENOMEM;
    usock_http_parser_init(&res->parser, USOCK_HTTP_RESPONSE);
    res->parser.head_request = head_req;
    res->parser.lenient = 1; /* bare LF and obs-fold, as RFC 9112 lets a user agent */
    int n = usock_http_parse_head(&res->parser, res->buf, res->len, &res->msg, res->hdr,
                                  USOCK__MAX_HEADERS);
    return n < 0 ? n : 0;
}

static int coding_of(const usock_response *res)
{
    const char *ce = usock_response_header(res, "Content-Encoding");
    if (!ce)
        return ENC_NONE;
    if (strcasecmp(ce, "gzip") == 0 || strcasecmp(ce, "x-gzip") == 0)
        return ENC_GZIP;
    if (strcasecmp(ce, "deflate") == 0)
        return ENC_DEFLATE;
    return ENC_NONE; /* identity, or one not offered: passed through */
}

static int setup(usock_response *res, const usock_urlrequest *r, const struct usock__extra *ex,
                 int skipped)
{
    int head_req = strcmp(usock__request_method(r), "HEAD") == 0;
    int rc = body_room(res, head_req);
    if (rc < 0)
        return rc;
    terminate_strings(res);
    res->pos = res->head_len;
    const char *conn = usock__headers_get(&r->headers, "Connection");
    res->keep_alive = res->msg.keep_alive && !skipped && !(conn && strcasecmp(conn, "close") == 0);
    res->length = usock_response_length(res);
    /* Decoded only when the client offered the codings itself. */
    if (ex->accept_encoding && !user_has(r, "Accept-Encoding") &&
        !(r->no_builtin & NO_ACCEPT_ENCODING) && res->msg.framing != USOCK_HTTP_BODY_NONE)
        res->enc = coding_of(res);
    if (usock_http_body_done(&res->parser))
        body_ended(res);
    return 0;
}

/* ---- the exchange ----------------------------------------------------------- */

/* A key too long to hold is no key: that connection is never pooled. */
static void route_of(const usock_urlrequest *r, const struct usock__proxy *proxy,
                     struct usock__route *rt)
{
    rt->scheme = r->scheme;
    rt->host = r->host;
    rt->port = r->port;
    rt->proxy = proxy;
    int n;
    if (!proxy)
        n = snprintf(rt->key, sizeof rt->key, "%s://%s:%d", r->scheme, r->host, r->port);
    else if (strcmp(r->scheme, "http") == 0) /* the proxy's, for every origin */
        n = snprintf(rt->key, sizeof rt->key, "http via %s:%d", proxy->host, proxy->port);
    else
        n = snprintf(rt->key, sizeof rt->key, "%s://%s:%d via %s:%d", r->scheme, r->host,
                     r->port, proxy->host, proxy->port);
    if (n < 0 || (size_t)n >= sizeof rt->key)
        rt->key[0] = '\0';
}

static void explain(usock_urlerror *err, const usock_urlrequest *r, int rc, const struct xfer *x)
{
    const char *m = usock__request_method(r);
    if (x->st.src_err)
        usock__err_set(err, rc, 0, "%s %s: the request's body: %s", m, r->url, usock_strerror(rc));
    else if (rc == USOCK_ECONNRESET && !x->got_bytes)
        usock__err_set(err, rc, 0, "%s %s: connection closed without a response", m, r->url);
    else if (USOCK_IS_OWN(rc) && rc > -4100)
        usock__err_set(err, rc, 0, "%s %s: malformed response: %s", m, r->url, usock_strerror(rc));
    else if (rc == USOCK_ETIMEDOUT && usock__expired(x->deadline))
        usock__err_set(err, rc, 0, "%s %s: %s (max time) %s", m, r->url, usock_strerror(rc),
                       x->phase);
    else
        usock__err_set(err, rc, 0, "%s %s: %s", m, r->url, usock_strerror(rc));
}

/* A pooled connection that the server closed as we sent: nothing came
 * back, and the failure is the connection's, not the body's source's. */
static int stale(const struct xfer *x, int rc)
{
    return x->c->uses > 0 && !x->got_bytes && !x->st.src_err &&
           (rc == USOCK_ECONNRESET || rc == USOCK_EPIPE || rc == USOCK_ECONNABORTED);
}

static usock_response *response_new(void)
{
    usock_response *res = calloc(1, sizeof *res);
    if (res && !(res->buf = malloc(BUF_START))) {
        free(res);
        return NULL;
    }
    if (res)
        res->cap = BUF_START;
    return res;
}

int usock__exchange(struct usock__pool *pool, usock_urlrequest *r, const struct usock__extra *ex,
                    double timeout, usock_response **out, usock_urlerror *err)
{
    *out = NULL;
    struct usock__route rt;
    route_of(r, ex->proxy, &rt);
    usock_response *res = response_new();
    if (!res) {
        usock__err_set(err, USOCK_ENOMEM, 0, "%s", usock_strerror(USOCK_ENOMEM));
        return USOCK_ENOMEM;
    }
    res->timeout = timeout;
    res->deadline = ex->deadline;
    struct xfer x = {.r = r, .timeout = timeout, .deadline = ex->deadline};
    int resendable = idempotent(usock__request_method(r)) && usock__request_replayable(r);
    x.c = usock__pool_get(pool, &rt, !resendable);
    int rc = x.c ? 0 : usock__connect(&rt, ex, timeout, &x.c, err);
    if (rc == 0)
        rc = attempt(&x, res, ex);
    /* Once, on a new connection, when sending twice cannot hurt. */
    if (rc < 0 && x.c && stale(&x, rc) && resendable) {
        usock__conn_close(x.c);
        x = (struct xfer){.r = r, .timeout = timeout, .deadline = ex->deadline};
        res->len = 0;
        rc = usock__connect(&rt, ex, timeout, &x.c, err);
        if (rc == 0)
            rc = attempt(&x, res, ex);
    }
    if (rc == 0) {
        res->conn = x.c;
        res->pool = pool;
        usock__pool_ref(pool);
        rc = setup(res, r, ex, x.skipped);
        x.c = NULL;
    }
    if (rc < 0) {
        if (x.c)
            explain(err, r, rc, &x);
        usock__conn_close(x.c);
        usock_response_close(res);
        return rc;
    }
    *out = res;
    return 0;
}
