/* request_priv.h -- what the HTTP client's files share: the bodies of its
 * opaque structs and its usock__ internals.
 *
 *   request.c           Request, the opener's loop (redirects, auth, cookies,
 *                       handlers, errors), the default opener, urlopen
 *   request_auth.c      the password manager and Basic credentials
 *   request_conn.c      the connection path: streams, connect, the pool
 *   request_proxy.c     which proxy a request goes through
 *   request_response.c  one exchange: the request on the wire, the
 *                       response's head, its body (framing, gzip/deflate)
 */
#ifndef USOCK_REQUEST_PRIV_H
#define USOCK_REQUEST_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <zlib.h>

#include "usock.h"
#include "shared.h"

/* ---- the connection path ---------------------------------------------------
 * An exchange talks to a stream, never to a socket: plain TCP now; a TLS
 * stream (next issue) wraps the socket and keeps these operations. */
struct usock__stream_ops {
    ssize_t (*read)(void *s, void *buf, size_t n);    /* up to n, 0 at EOF */
    int (*write)(void *s, const void *buf, size_t n); /* all n, or an error */
    int (*settimeout)(void *s, double seconds);       /* each step; < 0 none */
    int (*usable)(void *s); /* an idle connection may carry a request: 1 or 0 */
    void (*close)(void *s);
};

/* An HTTP proxy: where it is, and its Basic credentials. */
struct usock__proxy {
    char *host; /* without brackets */
    int port;
    char *auth; /* "Basic ..." for Proxy-Authorization, or NULL */
};

/* The opener's proxies: for http and https URLs (host NULL: none), and
 * the hosts that go direct. */
struct usock__proxies {
    struct usock__proxy http, https;
    int http_err, https_err; /* the environment's proxy is unusable: why */
    char *no_proxy;
};

/* From proxy (one for both schemes; "" none) and no_proxy, or where they
 * are NULL from the environment, as urllib reads it. Errors: proxy's
 * (the url layer's, USOCK_EUNSUPPORTED_SCHEME), USOCK_ENOMEM; an
 * environment's proxy that is unusable fails only the requests it would
 * carry (usock__proxy_for). */
int usock__proxies_init(struct usock__proxies *p, const char *proxy, const char *no_proxy);
void usock__proxies_free(struct usock__proxies *p);
/* The proxy r goes through, or NULL: direct, or (*err < 0) the
 * environment's proxy for r is unusable. */
const struct usock__proxy *usock__proxy_for(const struct usock__proxies *p,
                                            const usock_urlrequest *r, int *err);

/* Where a connection goes and what it is good for. Through a proxy, an
 * http connection goes to the proxy (one for every origin); an https one
 * to the origin through a CONNECT tunnel. */
struct usock__route {
    const char *scheme; /* "http" or "https" */
    const char *host;   /* as in the URL, without brackets */
    int port;
    const struct usock__proxy *proxy; /* NULL: direct */
    char key[600]; /* the pool's: "http://host:port", "... via proxy:port" */
};

struct usock__conn {
    const struct usock__stream_ops *ops;
    void *s;
    char key[600];
    long long idle_since; /* monotonic ms, while in the pool */
    unsigned uses;        /* responses it carried */
    struct usock__conn *next;
};

/* Idle keep-alive connections of one opener. Counted: the opener holds a
 * reference, and so does each response until it is closed, so that a
 * response may outlive its opener (its connection is then closed). */
struct usock__pool {
    pthread_mutex_t mu;
    struct usock__conn *idle; /* most recently used first */
    int max_idle;             /* per key */
    long long idle_ms;
    int closed; /* the opener is gone: nothing is kept */
    atomic_int refs;
};

/* A new pool with one reference (the opener's); NULL when out of memory. */
struct usock__pool *usock__pool_new(int max_idle, double idle_timeout);
void usock__pool_ref(struct usock__pool *p);
void usock__pool_unref(struct usock__pool *p); /* NULL ok */
/* The opener lets go: idle connections close, no more are kept. */
void usock__pool_shut(struct usock__pool *p);
/* An idle connection for route that is still usable (removed from the
 * pool), or NULL. */
/* An idle connection of the route, or NULL. check: make sure the server
 * has not closed it (a system call); a request that may be sent again on
 * a new connection when it was (idempotent, replayable) need not. */
struct usock__conn *usock__pool_get(struct usock__pool *p, const struct usock__route *rt,
                                    int check);
/* Gives c back to the pool (or closes it when the pool holds enough). */
void usock__pool_put(struct usock__pool *p, struct usock__conn *c);
/* Closes every idle connection. */
void usock__pool_clear(struct usock__pool *p);
/* A new connection for route: resolve, connect (each address in turn,
 * each attempt bounded by timeout), and for https the TLS handshake with
 * tls (NULL: USOCK_ETLS_UNAVAILABLE). err's detail names the step. */
struct usock__extra;
int usock__connect(const struct usock__route *rt, const struct usock__extra *ex, double timeout,
                   struct usock__conn **out, usock_urlerror *err);
void usock__conn_close(struct usock__conn *c); /* NULL ok */

/* ---- Request ------------------------------------------------------------- */

struct usock__header {
    char *name, *value;
};

struct usock__headers {
    struct usock__header *v;
    size_t n, cap;
};

int usock__headers_set(struct usock__headers *h, const char *name, const char *value);
const char *usock__headers_get(const struct usock__headers *h, const char *name);
void usock__headers_free(struct usock__headers *h);

enum { BODY_NONE, BODY_MEM, BODY_FILE, BODY_READER };

struct usock_urlrequest {
    char *url;    /* absolute, without userinfo */
    char *method; /* NULL: GET, or POST with a body */
    struct usock__headers headers;
    char *user, *password; /* from the URL's userinfo (decoded), or NULL */
    /* The URL's parts, for the exchange. */
    char *scheme, *host, *target, *host_header;
    int port;
    /* The body. */
    int body;
    const void *data;
    size_t len;
    int fd;
    int64_t file_start; /* fd's position when set, -1 when not seekable */
    int64_t blen;       /* file or reader length, -1 unknown */
    usock_read_fn read;
    void *ctx;
    int body_used; /* a reader's body has been (partly) consumed */
    int expect_continue;
    unsigned no_builtin; /* NO_USER_AGENT, NO_ACCEPT_ENCODING: removed by the user */
};
#define NO_USER_AGENT 1u
#define NO_ACCEPT_ENCODING 2u

/* Parses url into r's URL fields (and userinfo when take_userinfo).
 * Errors: USOCK_EINVAL, USOCK_EUNSUPPORTED_SCHEME, USOCK_ENOMEM. */
int usock__request_set_url(usock_urlrequest *r, const char *url, int take_userinfo);
/* The method the request goes with. */
const char *usock__request_method(const usock_urlrequest *r);
/* The body can be sent (again) from its start. */
int usock__request_replayable(const usock_urlrequest *r);

/* ---- Response ------------------------------------------------------------ */

#define USOCK__MAX_HEADERS 100

enum { ENC_NONE, ENC_GZIP, ENC_DEFLATE };

struct usock_response {
    struct usock__conn *conn; /* until the body ends (then pooled) or close */
    struct usock__pool *pool; /* where conn goes back */
    char *buf;                /* the head, then body bytes after it */
    size_t cap, len;          /* buf's size, and bytes in it */
    size_t head_len;          /* the head's bytes at buf's start */
    size_t pos;               /* the next body byte the parser has not seen */
    usock_http_parser parser;
    usock_http_msg msg;
    usock_http_header hdr[USOCK__MAX_HEADERS];
    const char *reason;
    char *url;
    int64_t length;
    int keep_alive;
    double timeout;    /* each read's */
    int64_t deadline;  /* the open's (max_time), monotonic ms; -1 none */
    int raw_end;       /* the message's body has ended */
    int err;           /* a sticky error of the body */
    const char *raw_p; /* body data consumed by the parser, not yet used */
    size_t raw_n;
    /* Content decoding. */
    int enc;
    int z_ready, z_end;
    z_stream z;
    unsigned char sniff[2];
    size_t nsniff;
    char *zbuf; /* inflated bytes not yet returned */
    size_t zpos, zlen;
};

/* What one exchange sends besides the request's own headers: the
 * built-in handlers' per-hop headers (Authorization, Cookie), which never
 * travel to a redirect's target unless recomputed for it. */
struct usock__extra {
    const char *authorization; /* "Basic ..." or NULL */
    const char *cookie;        /* or NULL */
    const char *user_agent;
    int accept_encoding;
    usock_tls_ctx *tls;                /* for https */
    const struct usock__proxy *proxy; /* NULL: direct */
    usock_resolver *resolver;         /* NULL: getaddrinfo */
    int64_t deadline;                 /* the open's, monotonic ms; -1 none */
    double connect_timeout;           /* seconds; <= 0 none */
};

/* A step's timeout: the step's own (< 0 none), cut to what the deadline
 * (monotonic ms, -1 none) leaves, and never 0 (non-blocking) but 1 ms. */
double usock__step_timeout(double timeout, int64_t deadline);
/* The deadline has passed. */
int usock__expired(int64_t deadline);

/* Sends r on a pooled or new connection and reads the response's head
 * (stale pooled connections retried once for idempotent methods). */
int usock__exchange(struct usock__pool *pool, usock_urlrequest *r, const struct usock__extra *x,
                    double timeout, usock_response **out, usock_urlerror *err);

/* Reads and drops what is left of a small body, so that the connection can
 * be reused, then frees the response. */
void usock__response_discard(usock_response *res);

/* ---- Basic auth ------------------------------------------------------------ */

/* The credentials for realm and url, as "Basic base64(user:password)" in
 * a malloc'ed *out. any_realm: a preemptive lookup, before any challenge
 * (the default realm's credentials first, then any realm's). Returns 1
 * when found, 0 when none, < 0 on error. */
int usock__passwords_basic(usock_passwords *p, const char *realm, int any_realm, const char *url,
                           char **out);
/* "Basic base64(user:password)", malloc'ed; NULL when out of memory. */
char *usock__basic_value(const char *user, const char *password);
/* The realm of the response's Basic challenge (WWW-Authenticate): 1 and
 * the realm ("" when it names none), or 0 when there is none. */
int usock__basic_realm(const usock_response *res, char *realm, size_t cap);

/* ---- the detail strings ---------------------------------------------------- */

void usock__err_set(usock_urlerror *e, int code, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
