/* http.h -- HTTP/1.0 and 1.1 messages (RFC 9112/9110): an incremental,
 * zero-copy, strict parser for requests and responses, and a writer. No I/O,
 * no allocation: the server (httpd) and the client (request) feed it bytes. */
#ifndef USOCK_HTTP_H
#define USOCK_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "usock/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A slice of the caller's buffer: not NUL-ended. */
typedef struct usock_http_str {
    const char *p;
    size_t n;
} usock_http_str;

typedef struct usock_http_header {
    usock_http_str name, value; /* value without leading/trailing SP/HTAB */
} usock_http_header;

/* How the body that follows the head is framed. */
enum usock_http_framing {
    USOCK_HTTP_BODY_NONE = 0, /* no body (or Content-Length: 0; HEAD, 1xx, 204, 304) */
    USOCK_HTTP_BODY_LENGTH,   /* Content-Length bytes */
    USOCK_HTTP_BODY_CHUNKED,  /* Transfer-Encoding: ..., chunked */
    USOCK_HTTP_BODY_CLOSE     /* a response read until the connection closes */
};

/* A parsed head. Every usock_http_str points into the buffer given to
 * usock_http_parse_head, and lives as long as that buffer is unchanged. */
typedef struct usock_http_msg {
    usock_http_str method;   /* requests: "GET" */
    usock_http_str target;   /* requests: "/index.html?q=1" */
    int status;              /* responses: 100..999 */
    usock_http_str reason;   /* responses: may be empty */
    int version;             /* 10 or 11 (HTTP/1.0, HTTP/1.1) */
    usock_http_header *headers; /* the caller's array, given to the parser */
    size_t nheaders;
    int framing;             /* enum usock_http_framing */
    uint64_t content_length; /* when framing is USOCK_HTTP_BODY_LENGTH */
    int keep_alive;          /* the connection persists after this message */
    int expect_continue;     /* requests: "Expect: 100-continue" */
} usock_http_msg;

enum usock_http_type { USOCK_HTTP_REQUEST = 0, USOCK_HTTP_RESPONSE = 1 };

/* Parser state: a small struct, no allocation. Fields below "limits" may be
 * changed after usock_http_parser_init; the rest is private. */
typedef struct usock_http_parser {
    /* limits (settable) */
    size_t max_line;    /* request or status line; default 8192 (else USOCK_EHTTP_LINE_TOO_LONG) */
    size_t max_head;    /* the whole head; default 65536 (else USOCK_EHTTP_HEAD_TOO_LARGE) */
    size_t max_headers; /* header fields; default 100 (else USOCK_EHTTP_TOO_MANY_HEADERS) */
    uint64_t max_body;  /* body bytes; default UINT64_MAX (else USOCK_EHTTP_BODY_TOO_LARGE) */
    /* responses: the request was HEAD (no body whatever the headers) */
    int head_request;
    /* Accept, as RFC 9112 lets a recipient, a bare LF as a line end (2.2;
     * a CR before it is ignored), in the head and in chunked framing;
     * obs-fold, a field line that begins with whitespace and continues the
     * one before (5.2), in the head and trailers; and a status line with
     * no SP before an empty reason ("HTTP/1.1 200"). A folded value keeps
     * the fold's CR LF and whitespace: a user agent replaces each run with
     * one SP. Off by default (a server stays strict); the client sets it. */
    int lenient;
    /* private */
    int type;
    size_t scanned;     /* how far the head has been checked for its end */
    int state;          /* body state machine */
    int framing;
    uint64_t remaining; /* bytes left in the body or current chunk */
    uint64_t body_seen;
    int done;           /* the message (body and trailers) is complete */
    int err;            /* the first error, returned again by later calls */
    size_t start;       /* where the start line begins (after empty lines) */
    size_t line_start;  /* where the line being scanned begins */
    size_t line_end;    /* just past the start line's CRLF; 0 until seen */
    size_t nfields;     /* field lines seen (head, then trailers) */
    size_t fold_start;  /* lenient: the field line not noted yet (it may go on) */
    size_t fold_end;    /* ... and where its content ends; 0 when none */
    size_t linelen;     /* chunk-size line or trailer section bytes so far */
    unsigned flags;     /* what the fields seen so far say (framing, Host...) */
    uint64_t clen;      /* the Content-Length seen so far */
} usock_http_parser;

/* Prepares p for one message of type (USOCK_HTTP_REQUEST or
 * USOCK_HTTP_RESPONSE) with the default limits. Call again for the next
 * message on the same connection. */
USOCK_API void usock_http_parser_init(usock_http_parser *p, int type);

/* Parses the head (start line and header fields, through the empty line)
 * at buf[0 .. len). Fill headers[0 .. max) and *m. Returns:
 *   > 0   the head is complete: that many bytes of buf are consumed; the
 *         body (if any) starts at buf + the return value;
 *   0     need more: call again with the same bytes and more after them
 *         (the parser remembers how far it looked, so this is cheap);
 *   < 0   an error, USOCK_EHTTP_* (see error.h), that names what is wrong
 *         so that a server can answer 400/413/414/431/501/505.
 * Strict (unless p->lenient): rejects bare CR or LF where CRLF is required, obs-fold, whitespace
 * before the colon, NUL/CTL in names or values, invalid tokens in methods
 * and header names, versions other than HTTP/1.0 and HTTP/1.1,
 * Content-Length with Transfer-Encoding, differing Content-Lengths, a
 * Transfer-Encoding whose last coding is not chunked, more than max headers
 * (or max_headers). */
USOCK_API int usock_http_parse_head(usock_http_parser *p, const char *buf, size_t len,
                                    usock_http_msg *m, usock_http_header *headers, size_t max);

/* Parses body bytes (what follows the head) at buf[0 .. len): returns how
 * many bytes it consumed (>= 0) or USOCK_EHTTP_*; *data and *dlen (may be
 * NULL) get the first piece of body data within the consumed bytes (a
 * slice of buf; chunk framing is skipped, never copied; *dlen 0 when the
 * consumed bytes held only framing). Call in a loop until it consumes
 * nothing more or usock_http_body_done. A response framed by close ends
 * with usock_http_parse_eof. */
USOCK_API ssize_t usock_http_parse_body(usock_http_parser *p, const char *buf, size_t len,
                                        const char **data, size_t *dlen);

/* The body (and chunked trailers) is complete. */
USOCK_API int usock_http_body_done(const usock_http_parser *p);

/* The peer closed: 0 when that completes the message (a close-framed
 * response), USOCK_EHTTP_TRUNCATED when the body was cut short. */
USOCK_API int usock_http_parse_eof(usock_http_parser *p);

/* A header's value by name, case-insensitive; the first match, or NULL. */
USOCK_API const usock_http_str *usock_http_header_get(const usock_http_msg *m, const char *name);

/* The standard reason phrase of a status ("Not Found"), "" when unknown. */
USOCK_API const char *usock_http_reason(int status);

/* The HTTP status a server answers an error of parse_head or parse_body
 * with: 400, 413, 414, 431, 501 or 505. */
USOCK_API int usock_http_error_status(int err);

/* ---- the writer ----------------------------------------------------------
 * Appends to w->buf; on overflow w->err becomes USOCK_ENOSPC and later
 * calls do nothing, so a caller checks once at the end. */
typedef struct usock_http_writer {
    char *buf;
    size_t cap, len;
    int err;
} usock_http_writer;

USOCK_API void usock_http_writer_init(usock_http_writer *w, char *buf, size_t cap);
/* "HTTP/1.1 200 OK\r\n"; reason NULL: usock_http_reason(status). */
USOCK_API void usock_http_write_status(usock_http_writer *w, int version, int status,
                                       const char *reason);
/* "GET /path HTTP/1.1\r\n". */
USOCK_API void usock_http_write_request_line(usock_http_writer *w, const char *method,
                                             const char *target, int version);
/* "Name: value\r\n"; USOCK_EINVAL in w->err for CR, LF or NUL in either. */
USOCK_API void usock_http_write_header(usock_http_writer *w, const char *name, const char *value);
USOCK_API void usock_http_write_content_length(usock_http_writer *w, uint64_t n);
/* The empty line that ends the head. */
USOCK_API void usock_http_write_end(usock_http_writer *w);
/* Returns w->len, or w->err when something did not fit. */
USOCK_API ssize_t usock_http_writer_done(const usock_http_writer *w);

/* Chunked framing for n bytes at data, as iovecs (no copy): iov[0] the
 * size line (written into line, USOCK_HTTP_CHUNK_LINE bytes), iov[1] the
 * data, iov[2] "\r\n". n == 0 gives the last chunk "0\r\n\r\n" in iov[0]
 * alone. Returns the number of iovecs used. */
#define USOCK_HTTP_CHUNK_LINE 20
USOCK_API int usock_http_chunk_iov(struct iovec iov[3], char line[USOCK_HTTP_CHUNK_LINE],
                                   const void *data, size_t n);

#ifdef __cplusplus
}
#endif
#endif
