/* request.h -- urllib.request in C: urlopen, Request, the response,
 * openers with handler chains (redirects, basic auth, cookies, error
 * processing), install_opener, and a keep-alive connection pool per
 * opener. http: and https: URLs. Built on the socket, tls, url and http
 * layers. */
#ifndef USOCK_REQUEST_H
#define USOCK_REQUEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "usock/socket.h"
#include "usock/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

/* urllib.request.Request (usock_request is socketserver's, server.h). */
typedef struct usock_urlrequest usock_urlrequest;
typedef struct usock_response usock_response;   /* http.client.HTTPResponse */
typedef struct usock_opener usock_opener;       /* OpenerDirector */
typedef struct usock_passwords usock_passwords; /* HTTPPasswordMgr */
typedef struct usock_cookiejar usock_cookiejar; /* http.cookiejar.CookieJar */

/* What went wrong, for a message: URLError's reason, HTTPError's code.
 * code is the value the call returned; status the HTTP status when a
 * response came (else 0); detail one line ("connect 127.0.0.1:9:
 * Connection refused", "GET http://h/x: 404 Not Found"). */
typedef struct usock_urlerror {
    int code;
    int status;
    char detail[256];
} usock_urlerror;

/* ---- Request ---------------------------------------------------------- */

/* A request for url (an absolute http: or https: URL; userinfo becomes
 * Basic credentials). Errors: USOCK_EINVAL, USOCK_ENOMEM,
 * USOCK_EUNSUPPORTED_SCHEME (another scheme), the url layer's
 * (USOCK_EURL_*). */
USOCK_API int usock_request_new(usock_urlrequest **out, const char *url);
USOCK_API void usock_request_free(usock_urlrequest *r); /* NULL ok */

/* GET, or POST once data is set, unless set here (any token). */
USOCK_API int usock_request_set_method(usock_urlrequest *r, const char *method);

/* Sets a header, replacing one of the same name (case-insensitive), as
 * Request.add_header. value NULL removes it, and keeps the client from
 * adding its own User-Agent or Accept-Encoding (curl's -H 'Name:'). Errors: USOCK_EINVAL (not a
 * token, CR/LF in value), USOCK_ENOMEM. */
USOCK_API int usock_request_set_header(usock_urlrequest *r, const char *name, const char *value);

/* The body, three ways; each replaces the others. From memory: data is
 * not copied and must live until the request is done. From a file: len
 * bytes of fd from its current position (len < 0: to its end, sent
 * chunked when its size is unknown); the request does not close fd. From a
 * callback: read(ctx, buf, cap) returns bytes, 0 at the end, < 0 to abort;
 * len < 0: unknown, sent chunked. A body that must be sent again (a 307,
 * a 401) can be only from memory or a seekable file. */
USOCK_API int usock_request_set_data(usock_urlrequest *r, const void *data, size_t len);
USOCK_API int usock_request_set_file(usock_urlrequest *r, int fd, int64_t len);
typedef ssize_t (*usock_read_fn)(void *ctx, char *buf, size_t cap);
USOCK_API int usock_request_set_reader(usock_urlrequest *r, usock_read_fn read, void *ctx,
                                       int64_t len);

/* Sends Expect: 100-continue and waits (a second at most) for the go-ahead
 * before the body. Off by default. */
USOCK_API int usock_request_set_expect_continue(usock_urlrequest *r, int on);

USOCK_API const char *usock_request_method(const usock_urlrequest *r);
USOCK_API const char *usock_request_url(const usock_urlrequest *r); /* without userinfo */
USOCK_API const char *usock_request_header(const usock_urlrequest *r, const char *name);

/* ---- Response --------------------------------------------------------- */

USOCK_API int usock_response_status(const usock_response *res);
USOCK_API const char *usock_response_reason(const usock_response *res);
USOCK_API int usock_response_version(const usock_response *res);     /* 10 or 11 */
USOCK_API const char *usock_response_url(const usock_response *res); /* after redirects */

/* The first header of that name (case-insensitive), NULL when none. */
USOCK_API const char *usock_response_header(const usock_response *res, const char *name);
/* Every header, in order, repeated ones kept: i from 0; returns 1, or 0
 * past the last. */
USOCK_API int usock_response_header_at(const usock_response *res, size_t i, const char **name,
                                       const char **value);

/* The body's length when known (Content-Length, not decoded), else -1. */
USOCK_API int64_t usock_response_length(const usock_response *res);

/* Reads up to n bytes of the body (de-chunked, gzip/deflate decoded).
 * Returns the count, 0 at its end. A body that ends before its
 * Content-Length is USOCK_EHTTP_TRUNCATED, never a silent short read. */
USOCK_API ssize_t usock_response_read(usock_response *res, void *buf, size_t n);
/* Up to and including '\n', at most n - 1 bytes, NUL-ended; 0 at the end. */
USOCK_API ssize_t usock_response_readline(usock_response *res, char *buf, size_t n);
/* The whole (rest of the) body, malloc'ed and NUL-ended; free it. */
USOCK_API int usock_response_readall(usock_response *res, char **data, size_t *len);

/* Frees the response. Its connection goes back to the opener's pool when
 * the body was read to its end and the server keeps it alive, else it is
 * closed. NULL ok. */
USOCK_API void usock_response_close(usock_response *res);

/* ---- Openers ---------------------------------------------------------- */

/* A handler of one's own (BaseHandler): hooks around every request the
 * opener sends, redirects and retries included, after the built-in ones.
 * request() may change the request (headers...); the built-in fields
 * (Authorization, Cookie, User-Agent, Accept-Encoding) are added on the
 * wire unless it sets its own. response() sees the response head (after
 * cookies are stored, before redirects, auth and error processing) and
 * may ask for another request instead: set *next (a new request, which
 * the opener frees) and return 0. A negative return from either ends the
 * open with that code. free(self) when the opener is freed. Any member
 * may be NULL. Hooks of an opener shared by threads run in those threads
 * at once. */
typedef struct usock_opener_handler {
    const char *name;
    int (*request)(void *self, usock_urlrequest *r);
    int (*response)(void *self, usock_urlrequest *r, usock_response *res, usock_urlrequest **next);
    void (*free)(void *self);
} usock_opener_handler;

typedef struct usock_opener_opts {
    int max_redirects;          /* 10; 0: redirects are answers, not followed */
    int accept_encoding;        /* 1: offer gzip, deflate, and decode them */
    usock_passwords *passwords; /* basic auth (the opener does not own it); NULL: none */
    int preemptive_auth;        /* send credentials before any 401 */
    usock_cookiejar *cookies;   /* NULL: none (the opener does not own it) */
    int max_idle;               /* idle pooled connections per (scheme, host, port); 4 */
    double idle_timeout;        /* a pooled connection is dropped after; 30 s */
    const char *user_agent;     /* "usock/VERSION" */
    /* https (tls.h). tls: a client context of one's own (the opener does
     * not own it), or NULL: the opener makes one at its first https
     * request, from what follows. It checks the server's certificate
     * against the system's CAs (or cafile/capath) and its host name, and
     * resumes TLS sessions across its connections to a server. */
    usock_tls_ctx *tls;
    const char *cafile, *capath; /* trust these CAs instead of the system's */
    int insecure;                /* no certificate check at all (curl -k) */
    const char *cert, *key;      /* a client certificate and its key (PEM) */
    /* Proxies (urllib's ProxyHandler, curl's --proxy and --noproxy).
     * proxy: "http://[user:pass@]host[:port]" (port 1080 when absent, as
     * curl) for http and https URLs alike; "" none; NULL: http_proxy and
     * https_proxy from the environment, as urllib reads them. An http URL
     * is asked of the proxy; an https one goes through a CONNECT tunnel
     * (the TLS handshake is with the origin). The proxy URL's credentials
     * go as Proxy-Authorization. no_proxy: the hosts that go direct, a
     * comma-separated list of "*", names, domains (".example.com" or
     * "example.com": it and the names under it), IP addresses and CIDR
     * blocks ("10.0.0.0/8"); NULL: the environment's no_proxy. */
    const char *proxy;
    const char *no_proxy;
    /* One deadline for a whole open (curl's --max-time), seconds; 0 none:
     * resolution, each connect attempt, the TLS handshake, sending, the
     * head and, later, every read of the body stop when it passes, with
     * USOCK_ETIMEDOUT and a detail naming the step it hit. The timeout
     * of usock_opener_open keeps urllib's meaning beside it (each step). */
    double max_time;
    /* Resolution, connecting, a proxy's CONNECT and the TLS handshake
     * together within this (curl's --connect-timeout), seconds; 0 none. */
    double connect_timeout;
    /* DNS servers "ADDR[:PORT],..." (curl's --dns-servers); NULL:
     * resolv.conf's. With it, max_time or connect_timeout, names are
     * resolved by c-ares (usock_resolver), which a deadline bounds;
     * without, by getaddrinfo. */
    const char *dns_servers;
} usock_opener_opts;

USOCK_API void usock_opener_opts_init(usock_opener_opts *o);

/* build_opener: the default chain (HTTP, redirects, basic auth when
 * passwords, cookies when a jar, error processing). Thread-safe: one
 * opener may serve many threads at once. */
USOCK_API int usock_opener_new(usock_opener **out, const usock_opener_opts *o);
/* Adds a handler of one's own (copied; self is passed to its hooks), in
 * order; before the opener is used. */
USOCK_API int usock_opener_add_handler(usock_opener *o, const usock_opener_handler *h, void *self);
USOCK_API void usock_opener_free(usock_opener *o); /* NULL ok; not while in use */

/* Opens r: its response in *out, or NULL. Returns 0; on a 4xx/5xx
 * answer, USOCK_EHTTP_STATUS with *out set and readable (HTTPError); any
 * other failure before a response (resolve, connect, timeout, a malformed
 * reply) a negative code with *out NULL (URLError), as is a redirect not
 * followed (USOCK_ETOO_MANY_REDIRECTS, USOCK_EREDIRECT_LOOP,
 * USOCK_EBODY_NOT_REPLAYABLE; err->status the 3xx). err (NULL ok) gets
 * the details. timeout bounds each blocking step (connect, each read and
 * write, the response's reads later), < 0: none. */
USOCK_API int usock_opener_open(usock_opener *o, usock_urlrequest *r, double timeout,
                                usock_response **out, usock_urlerror *err);

/* The process-wide default opener (install_opener; NULL puts back the
 * built-in one). The installed opener must outlive its use. */
USOCK_API void usock_install_opener(usock_opener *o);

/* urlopen(url, data, timeout) with the default opener: GET, or POST of
 * data (len bytes) when data is not NULL. */
USOCK_API int usock_urlopen(const char *url, const void *data, size_t len, double timeout,
                            usock_response **out, usock_urlerror *err);
/* urlopen(Request) with the default opener. */
USOCK_API int usock_urlopen_request(usock_urlrequest *r, double timeout, usock_response **out,
                                    usock_urlerror *err);

/* ---- Basic auth --------------------------------------------------------- */

/* HTTPPasswordMgr (default_realm 0) or HTTPPasswordMgrWithDefaultRealm
 * (1: credentials added with realm NULL answer any realm). Thread-safe. */
USOCK_API int usock_passwords_new(usock_passwords **out, int default_realm);
/* add_password(realm, uri, user, passwd): uri is a URL or host[:port]
 * whose path is a prefix of the paths it covers. Errors: USOCK_EINVAL
 * (a ':' in user), the url layer's, USOCK_ENOMEM. */
USOCK_API int usock_passwords_add(usock_passwords *p, const char *realm, const char *uri,
                                  const char *user, const char *password);
USOCK_API void usock_passwords_free(usock_passwords *p); /* NULL ok */

/* ---- Cookies ------------------------------------------------------------ */

/* An in-memory jar with RFC 6265's rules (domain, path, Secure, HttpOnly,
 * Expires, Max-Age). Thread-safe. */
USOCK_API int usock_cookiejar_new(usock_cookiejar **out);
USOCK_API void usock_cookiejar_free(usock_cookiejar *j); /* NULL ok */
/* The Netscape cookies.txt format that curl reads and writes. */
USOCK_API int usock_cookiejar_load(usock_cookiejar *j, const char *path);
USOCK_API int usock_cookiejar_save(usock_cookiejar *j, const char *path);
/* What a response's Set-Cookie header sets, for url; and the Cookie
 * header for a request to url (written into buf; returns its length, 0
 * when no cookie applies). The opener uses these. */
USOCK_API int usock_cookiejar_set(usock_cookiejar *j, const char *url, const char *set_cookie);
USOCK_API int usock_cookiejar_header(usock_cookiejar *j, const char *url, char *buf, size_t cap);
USOCK_API size_t usock_cookiejar_count(usock_cookiejar *j);

#ifdef __cplusplus
}
#endif
#endif
