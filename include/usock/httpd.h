/* httpd.h -- an event-driven HTTP/1.1 server: N worker threads, each with
 * its own SO_REUSEPORT listener and event loop (usock_poll); keep-alive,
 * pipelining, request bodies, handlers routed by method and path prefix,
 * static files, a live status page. Built on the socket, poll and http
 * layers. */
#ifndef USOCK_HTTPD_H
#define USOCK_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "usock/http.h"
#include "usock/poll.h"
#include "usock/socket.h"
#include "usock/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct usock_httpd usock_httpd;         /* opaque */
typedef struct usock_httpd_res usock_httpd_res; /* the response being made; opaque */

/* A parsed request, valid until the handler returns. Strings are slices
 * (not NUL-ended) of the connection's buffer. */
typedef struct usock_httpd_req {
    usock_http_str method;   /* "GET" */
    usock_http_str target;   /* "/a%20b?x=1" as sent */
    usock_http_str path;     /* "/a%20b": the target before '?', still percent-encoded */
    usock_http_str query;    /* "x=1": after '?', empty when none */
    int version;             /* 10 or 11 */
    const usock_http_header *headers;
    size_t nheaders;
    const usock_http_msg *msg; /* the whole head (usock_http_header_get) */
    const char *body;        /* the whole body (de-chunked), NULL when none */
    size_t body_len;
    const usock_addr *peer;
    usock_http_str prefix;   /* the route's prefix that matched */
    void *udata;             /* the route's user pointer */
} usock_httpd_req;

/* A handler answers with one of the usock_httpd_respond* calls (once).
 * A negative return, or a return without an answer, is answered 500. */
typedef int (*usock_httpd_handler)(const usock_httpd_req *req, usock_httpd_res *res);

typedef struct usock_httpd_opts {
    int workers;              /* worker threads, each with a listener; 0: the number of cores */
    int backlog;              /* listen backlog of each; default 1024 */
    int max_conns;            /* open connections at most (accept pauses); default 10000 */
    double keepalive_timeout; /* idle keep-alive connection closed after; default 5 s */
    double header_timeout;    /* the whole head within this of its first byte; default 10 s */
    double body_timeout;      /* between two reads of a body; default 30 s */
    double send_timeout;      /* between two writes of a response; default 30 s */
    double drain_timeout;     /* graceful stop: in-flight responses get this long; default 10 s */
    uint64_t max_body;        /* request body bytes (else 413); default 16 MiB */
    int status_page;          /* serve /_status and /_status.json; default 1 */
    const char *server_name;  /* the Server header; default "usock/VERSION" */
    /* The access log: one Common Log Format line each, no newline, from
     * any worker, serialized by the server. NULL: no log. */
    void (*log)(const char *line, void *udata);
    void *log_udata;
    /* HTTPS: a server context (tls.h) with its certificate, shared by the
     * workers (the server does not own it; it must outlive the server).
     * Each connection's handshake runs on its worker's event loop and must
     * end within header_timeout. ALPN "http/1.1" when the context sets it.
     * NULL: plain HTTP. */
    usock_tls_ctx *tls;
} usock_httpd_opts;

/* Fills *o with the defaults above. */
USOCK_API void usock_httpd_opts_init(usock_httpd_opts *o);

/* Binds one listener per worker to addr (IPv4 or IPv6; port 0 picks one
 * port for all), but starts no thread. opts NULL: the defaults.
 * Errors: USOCK_EINVAL, USOCK_ENOMEM, those of usock_create_server. */
USOCK_API int usock_httpd_new(usock_httpd **out, const usock_addr *addr,
                              const usock_httpd_opts *opts);

/* Routes requests whose path starts with prefix (and, when method is not
 * NULL, whose method is method) to fn; the longest prefix wins. A path
 * that matches only routes of other methods gets 405. Before start.
 * Errors: USOCK_EINVAL, USOCK_EBUSY (started), USOCK_ENOMEM. */
USOCK_API int usock_httpd_route(usock_httpd *h, const char *method, const char *prefix,
                                usock_httpd_handler fn, void *udata);

/* Serves the files under root at prefix: GET and HEAD, ETag and
 * Last-Modified with 304, a single Range (206, 416), index.html or a
 * listing for directories, no way out of root. Errors: those of
 * usock_httpd_route, and of realpath(root) (USOCK_ENOENT...). */
USOCK_API int usock_httpd_route_static(usock_httpd *h, const char *prefix, const char *root);

/* Starts the workers. Errors: USOCK_EBUSY, thread creation errors. */
USOCK_API int usock_httpd_start(usock_httpd *h);

/* Asks for a graceful stop: listeners close, idle connections close,
 * in-flight responses finish (bounded by drain_timeout). Returns at once;
 * async-signal-safe, any thread. */
USOCK_API void usock_httpd_stop(usock_httpd *h);

/* Waits until every worker has ended (after usock_httpd_stop). */
USOCK_API int usock_httpd_wait(usock_httpd *h);

/* Stops, waits and frees; NULL ok. */
USOCK_API void usock_httpd_close(usock_httpd *h);

/* The bound address (with the real port). */
USOCK_API int usock_httpd_address(const usock_httpd *h, usock_addr *a);

typedef struct usock_httpd_stats {
    uint64_t conns_open, conns_total, requests;
    uint64_t bytes_in, bytes_out;
    uint64_t bytes_held;  /* read buffers and request structs held by connections (an idle one holds none) */
    double uptime;        /* seconds */
    int workers;
    uint32_t rps[60];     /* requests in each of the last 60 whole seconds, oldest first */
} usock_httpd_stats;

/* Counters, from any thread. */
USOCK_API void usock_httpd_stats_get(const usock_httpd *h, usock_httpd_stats *st);

/* ---- answering ------------------------------------------------------------ */

/* Adds a header to the response about to be made ("Name", "value"); before
 * a respond call. Errors: USOCK_EINVAL (CR/LF), USOCK_ENOSPC (more than
 * 4 KiB of them). */
USOCK_API int usock_httpd_header(usock_httpd_res *res, const char *name, const char *value);

/* Answers status with len bytes of body (copied), content_type NULL for
 * none. Server, Date, Content-Length and Connection are added. HEAD
 * requests get the head only. */
USOCK_API int usock_httpd_respond(usock_httpd_res *res, int status, const char *content_type,
                                  const void *body, size_t len);

/* Answers with len bytes of the open file fd from offset (sendfile); the
 * server owns fd from here on (closes it, even on error). */
USOCK_API int usock_httpd_respond_fd(usock_httpd_res *res, int status, const char *content_type,
                                     int fd, off_t offset, uint64_t len);

/* A body made piece by piece: next(ctx, buf, cap) writes up to cap bytes
 * and returns their count, 0 at the end, < 0 to abort (the connection is
 * closed). Sent chunked to HTTP/1.1, until close to HTTP/1.0. done(ctx)
 * (NULL ok) is called once the stream ends either way. */
typedef ssize_t (*usock_httpd_next)(void *ctx, char *buf, size_t cap);
USOCK_API int usock_httpd_respond_stream(usock_httpd_res *res, int status,
                                         const char *content_type, usock_httpd_next next,
                                         void (*done)(void *ctx), void *ctx);

/* A small HTML page "404 Not Found" for status. */
USOCK_API int usock_httpd_respond_error(usock_httpd_res *res, int status);

/* The MIME type of a file name by its extension ("text/html; charset=utf-8",
 * "application/octet-stream" when unknown). */
USOCK_API const char *usock_httpd_mime_type(const char *name);

#ifdef __cplusplus
}
#endif
#endif
