/* request.c -- urllib.request in C: the Request, the opener and its loop
 * (cookies, Basic auth, the user's handlers, redirects, error processing),
 * the process-wide default opener, urlopen. One exchange on the wire is
 * request_response.c's; connections and the pool are request_conn.c's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "request_priv.h"

#define MAX_REPEATS 4    /* urllib: the same URL this often is a loop */
#define MAX_REPLACED 50  /* requests a user's handler may put in place of another */
#define COOKIE_MAX 16384 /* the Cookie header the jar may write */

/* ---- header lists ------------------------------------------------------- */

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_token(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return 0;
    return 1;
}

/* A field value: visible ASCII, SP, HTAB and obs-text; no CR, LF, NUL, CTL. */
static int is_value(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

const char *usock__headers_get(const struct usock__headers *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->v[i].name, name) == 0)
            return h->v[i].value;
    return NULL;
}

static void header_remove(struct usock__headers *h, size_t i)
{
    free(h->v[i].name);
    free(h->v[i].value);
    memmove(&h->v[i], &h->v[i + 1], (h->n - i - 1) * sizeof h->v[0]);
    h->n--;
}

int usock__headers_set(struct usock__headers *h, const char *name, const char *value)
{
    size_t i = 0;
    while (i < h->n && strcasecmp(h->v[i].name, name) != 0)
        i++;
    if (!value) {
        if (i < h->n)
            header_remove(h, i);
        return 0;
    }
    char *v = strdup(value);
    if (!v)
        return USOCK_ENOMEM;
    if (i < h->n) {
        free(h->v[i].value);
        h->v[i].value = v;
        return 0;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        struct usock__header *nv = realloc(h->v, cap * sizeof *nv);
        if (!nv) {
            free(v);
            return USOCK_ENOMEM;
        }
        h->v = nv;
        h->cap = cap;
    }
    char *n = strdup(name);
    if (!n) {
        free(v);
        return USOCK_ENOMEM;
    }
    h->v[h->n].name = n;
    h->v[h->n].value = v;
    h->n++;
    return 0;
}

void usock__headers_free(struct usock__headers *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].name);
        free(h->v[i].value);
    }
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

/* ---- Request -------------------------------------------------------------- */

/* The URL's parts in new strings; NULL members on failure. */
struct parts {
    char *url, *scheme, *host, *target, *host_header, *user, *password;
    int port;
};

static void parts_free(struct parts *p)
{
    free(p->url);
    free(p->scheme);
    free(p->host);
    free(p->target);
    free(p->host_header);
    free(p->user);
    free(p->password);
}

static int parts_of(const usock_url *u, int take_userinfo, struct parts *p)
{
    if (!u->scheme)
        return USOCK_EURL_RELATIVE;
    if (strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0)
        return USOCK_EUNSUPPORTED_SCHEME;
    if (!u->host || !u->host[0])
        return USOCK_EURL_NO_HOST;
    int rc = p->port = usock_url_port(u);
    if (rc < 0)
        return rc;
    size_t tcap = strlen(u->path) + (u->query ? strlen(u->query) : 0) + 3;
    size_t hcap = strlen(u->host) + 16;
    p->target = malloc(tcap);
    p->host_header = malloc(hcap);
    p->scheme = strdup(u->scheme);
    p->host = strdup(u->host);
    if (!p->target || !p->host_header || !p->scheme || !p->host)
        return USOCK_ENOMEM;
    if ((rc = usock_url_target(u, p->target, tcap)) < 0 ||
        (rc = usock_url_host_header(u, p->host_header, hcap)) < 0)
        return rc;
    if (take_userinfo && u->user) {
        size_t cap = strlen(u->user) + (u->password ? strlen(u->password) : 0) + 2;
        p->user = malloc(cap);
        p->password = malloc(cap);
        if (!p->user || !p->password)
            return USOCK_ENOMEM;
        if ((rc = usock_url_credentials(u, p->user, cap, p->password, cap)) < 0)
            return rc;
    }
    /* The request's URL never shows the password: it goes into details,
     * logs and the response's URL. */
    usock_url plain = *u;
    plain.user = plain.password = NULL;
    rc = usock_url_to_string(&plain, &p->url);
    return rc < 0 ? rc : 0;
}

int usock__request_set_url(usock_urlrequest *r, const char *url, int take_userinfo)
{
    usock_url *u;
    int rc = usock_url_parse(url, &u);
    if (rc < 0)
        return rc;
    struct parts p = {0};
    rc = parts_of(u, take_userinfo, &p);
    usock_url_free(u);
    if (rc < 0) {
        parts_free(&p);
        return rc;
    }
    free(r->url);
    free(r->scheme);
    free(r->host);
    free(r->target);
    free(r->host_header);
    if (take_userinfo) {
        free(r->user);
        free(r->password);
    }
    r->url = p.url;
    r->scheme = p.scheme;
    r->host = p.host;
    r->target = p.target;
    r->host_header = p.host_header;
    r->port = p.port;
    if (take_userinfo) {
        r->user = p.user;
        r->password = p.password;
    }
    return 0;
}

USOCK_API int usock_request_new(usock_urlrequest **out, const char *url)
{
    if (!out)
        return USOCK_EINVAL;
    *out = NULL;
    if (!url)
        return USOCK_EINVAL;
    usock_urlrequest *r = calloc(1, sizeof *r);
    if (!r)
        return USOCK_ENOMEM;
    r->fd = -1;
    r->file_start = -1;
    r->blen = -1;
    int rc = usock__request_set_url(r, url, 1);
    if (rc < 0) {
        usock_request_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

USOCK_API void usock_request_free(usock_urlrequest *r)
{
    if (!r)
        return;
    free(r->url);
    free(r->scheme);
    free(r->host);
    free(r->target);
    free(r->host_header);
    free(r->user);
    free(r->password);
    free(r->method);
    usock__headers_free(&r->headers);
    free(r);
}

USOCK_API int usock_request_set_method(usock_urlrequest *r, const char *method)
{
    if (!r || (method && !is_token(method)))
        return USOCK_EINVAL;
    char *m = NULL;
    if (method && !(m = strdup(method)))
        return USOCK_ENOMEM;
    free(r->method);
    r->method = m;
    return 0;
}

USOCK_API int usock_request_set_header(usock_urlrequest *r, const char *name, const char *value)
{
    if (!r || !is_token(name) || (value && !is_value(value)))
        return USOCK_EINVAL;
    /* removing one of the fields the client adds by itself keeps it out
     * (curl's -H 'Name:') */
    unsigned bit = strcasecmp(name, "User-Agent") == 0        ? NO_USER_AGENT
                   : strcasecmp(name, "Accept-Encoding") == 0 ? NO_ACCEPT_ENCODING
                                                              : 0;
    r->no_builtin = value ? r->no_builtin & ~bit : r->no_builtin | bit;
    return usock__headers_set(&r->headers, name, value);
}

static void body_reset(usock_urlrequest *r)
{
    r->body = BODY_NONE;
    r->data = NULL;
    r->len = 0;
    r->fd = -1;
    r->file_start = -1;
    r->blen = -1;
    r->read = NULL;
    r->ctx = NULL;
    r->body_used = 0;
}

USOCK_API int usock_request_set_data(usock_urlrequest *r, const void *data, size_t len)
{
    if (!r || (!data && len))
        return USOCK_EINVAL;
    body_reset(r);
    r->body = BODY_MEM;
    r->data = data ? data : "";
    r->len = len;
    return 0;
}

USOCK_API int usock_request_set_file(usock_urlrequest *r, int fd, int64_t len)
{
    if (!r || fd < 0)
        return USOCK_EINVAL;
    body_reset(r);
    r->body = BODY_FILE;
    r->fd = fd;
    off_t pos = lseek(fd, 0, SEEK_CUR);
    r->file_start = pos < 0 ? -1 : (int64_t)pos; /* a pipe cannot be sent twice */
    r->blen = len < 0 ? -1 : len;
    return 0;
}

USOCK_API int usock_request_set_reader(usock_urlrequest *r, usock_read_fn read, void *ctx,
                                       int64_t len)
{
    if (!r || !read)
        return USOCK_EINVAL;
    body_reset(r);
    r->body = BODY_READER;
    r->read = read;
    r->ctx = ctx;
    r->blen = len < 0 ? -1 : len;
    return 0;
}

USOCK_API int usock_request_set_expect_continue(usock_urlrequest *r, int on)
{
    if (!r)
        return USOCK_EINVAL;
    r->expect_continue = on != 0;
    return 0;
}

const char *usock__request_method(const usock_urlrequest *r)
{
    if (r->method)
        return r->method;
    return r->body != BODY_NONE ? "POST" : "GET";
}

USOCK_API const char *usock_request_method(const usock_urlrequest *r)
{
    return r ? usock__request_method(r) : NULL;
}

USOCK_API const char *usock_request_url(const usock_urlrequest *r)
{
    return r ? r->url : NULL;
}

USOCK_API const char *usock_request_header(const usock_urlrequest *r, const char *name)
{
    return r && name ? usock__headers_get(&r->headers, name) : NULL;
}

int usock__request_replayable(const usock_urlrequest *r)
{
    if (r->body == BODY_READER)
        return !r->body_used;
    if (r->body == BODY_FILE)
        return r->file_start >= 0 || !r->body_used;
    return 1;
}

/* ---- the opener --------------------------------------------------------------- */

struct handler {
    usock_opener_handler h;
    void *self;
};

struct usock_opener {
    usock_opener_opts o;
    char *user_agent;
    struct handler *handlers;
    size_t nhandlers;
    struct usock__pool *pool;
    pthread_mutex_t tls_mu;
    usock_tls_ctx *own_tls; /* made at the first https request */
    struct usock__proxies proxies;
    usock_resolver *resolver; /* c-ares, for dns_servers and deadlines */
};

USOCK_API void usock_opener_opts_init(usock_opener_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->max_redirects = 10;
    o->accept_encoding = 1;
    o->max_idle = 4;
    o->idle_timeout = 30.0;
}

/* The TLS options' strings, copied: the context is made later. */
static int make_tls_opts(usock_opener *o, const usock_opener_opts *opts)
{
    const char *from[] = {opts->cafile, opts->capath, opts->cert, opts->key};
    const char **to[] = {&o->o.cafile, &o->o.capath, &o->o.cert, &o->o.key};
    for (int i = 0; i < 4; i++)
        if (from[i] && !(*to[i] = strdup(from[i])))
            return USOCK_ENOMEM;
    return 0;
}

/* The opener's TLS context: the user's, or its own, made once from the
 * options (at the first https request: an http-only client never pays
 * for OpenSSL's setup). */
static int opener_tls(usock_opener *o, usock_tls_ctx **out, usock_urlerror *err)
{
    *out = o->o.tls;
    if (*out)
        return 0;
    pthread_mutex_lock(&o->tls_mu);
    int rc = 0;
    const char *what = "setup";
    if (!o->own_tls) {
        usock_tls_ctx *c;
        rc = usock_tls_ctx_new(&c, USOCK_TLS_CLIENT);
        if (rc == 0 && o->o.insecure)
            rc = usock_tls_ctx_set_verify(c, USOCK_TLS_CERT_NONE);
        /* -k trusts anything: a CA file it would not read is no error (curl) */
        if (rc == 0 && !o->o.insecure && (o->o.cafile || o->o.capath)) {
            what = o->o.cafile ? o->o.cafile : o->o.capath;
            rc = usock_tls_ctx_load_verify(c, o->o.cafile, o->o.capath);
        }
        if (rc == 0 && o->o.cert) {
            what = o->o.cert;
            rc = usock_tls_ctx_load_cert_chain(c, o->o.cert, o->o.key);
        }
        if (rc == 0)
            o->own_tls = c;
        else if (rc != USOCK_ETLS_UNAVAILABLE)
            usock_tls_ctx_free(c);
    }
    *out = o->own_tls;
    pthread_mutex_unlock(&o->tls_mu);
    if (rc < 0)
        usock__err_set(err, rc, 0, "TLS %s: %s", what, usock_strerror(rc));
    return rc;
}

USOCK_API int usock_opener_new(usock_opener **out, const usock_opener_opts *opts)
{
    if (!out)
        return USOCK_EINVAL;
    *out = NULL;
    usock_opener_opts def;
    usock_opener_opts_init(&def);
    if (!opts)
        opts = &def;
    if (opts->max_redirects < 0 || opts->max_idle < 0 || !(opts->idle_timeout >= 0) ||
        !(opts->max_time >= 0) || !(opts->connect_timeout >= 0))
        return USOCK_EINVAL;
    usock_opener *o = calloc(1, sizeof *o);
    if (!o)
        return USOCK_ENOMEM;
    o->o = *opts;
    const char *ua = opts->user_agent ? opts->user_agent : "usock/" USOCK_VERSION_STRING;
    if (!is_value(ua) || !(o->user_agent = strdup(ua))) {
        free(o);
        return is_value(ua) ? USOCK_ENOMEM : USOCK_EINVAL;
    }
    o->o.user_agent = o->user_agent;
    if (!(o->pool = usock__pool_new(opts->max_idle, opts->idle_timeout))) {
        free(o->user_agent);
        free(o);
        return USOCK_ENOMEM;
    }
    pthread_mutex_init(&o->tls_mu, NULL);
    o->o.cafile = o->o.capath = o->o.cert = o->o.key = NULL;
    o->o.proxy = o->o.no_proxy = o->o.dns_servers = NULL; /* read below */
    int rc = make_tls_opts(o, opts);
    if (rc == 0)
        rc = usock__proxies_init(&o->proxies, opts->proxy, opts->no_proxy);
    if (rc == 0 && (opts->dns_servers || opts->max_time > 0 || opts->connect_timeout > 0))
        rc = usock_resolver_new(&o->resolver, opts->dns_servers);
    if (rc < 0) {
        usock_opener_free(o);
        return rc;
    }
    *out = o;
    return 0;
}

USOCK_API int usock_opener_add_handler(usock_opener *o, const usock_opener_handler *h, void *self)
{
    if (!o || !h)
        return USOCK_EINVAL;
    struct handler *v = realloc(o->handlers, (o->nhandlers + 1) * sizeof *v);
    if (!v)
        return USOCK_ENOMEM;
    o->handlers = v;
    v[o->nhandlers].h = *h;
    v[o->nhandlers].self = self;
    o->nhandlers++;
    return 0;
}

USOCK_API void usock_opener_free(usock_opener *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->nhandlers; i++)
        if (o->handlers[i].h.free)
            o->handlers[i].h.free(o->handlers[i].self);
    free(o->handlers);
    usock__pool_shut(o->pool);
    usock_tls_ctx_free(o->own_tls);
    usock__proxies_free(&o->proxies);
    usock_resolver_free(o->resolver);
    pthread_mutex_destroy(&o->tls_mu);
    free(o->user_agent);
    free((char *)o->o.cafile);
    free((char *)o->o.capath);
    free((char *)o->o.cert);
    free((char *)o->o.key);
    free(o);
}

/* ---- one open: its state across redirects and retries ----------------------- */

struct visit {
    char *url;
    int n;
};

struct open_state {
    usock_opener *o;
    usock_urlrequest *cur;   /* the request on its way */
    usock_urlrequest *owned; /* cur when the opener made it (a redirect's) */
    char *answer;            /* Authorization answering a 401, for the retry */
    char *sent_auth;         /* the Authorization the last hop carried */
    char *answered;          /* the origin whose 401 was answered */
    struct visit *visits;
    size_t nvisits;
    int redirects, replaced;
    double timeout;
    int64_t deadline; /* max_time's, monotonic ms; -1 none */
    usock_urlerror *err;
};

static void state_free(struct open_state *st)
{
    usock_request_free(st->owned);
    free(st->answer);
    free(st->answered);
    free(st->sent_auth);
    for (size_t i = 0; i < st->nvisits; i++)
        free(st->visits[i].url);
    free(st->visits);
}

static void replace_cur(struct open_state *st, usock_urlrequest *next)
{
    if (st->owned != next)
        usock_request_free(st->owned);
    st->owned = st->cur = next;
    free(st->answer);
    st->answer = NULL;
}

static int fail(struct open_state *st, int code, int status, const char *what)
{
    usock__err_set(st->err, code, status, "%s %s: %s%s%s", usock__request_method(st->cur),
                   st->cur->url, what ? what : "", what ? ": " : "", usock_strerror(code));
    return code;
}

/* "http://host:port": what decides whether credentials may go along. */
static void origin_of(const usock_urlrequest *r, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s://%s:%d", r->scheme, r->host, r->port);
}

/* The per-hop headers of the built-in handlers: Authorization (a 401's
 * answer, the URL's userinfo, or preemptive credentials) and Cookie. */
static int hop_headers(struct open_state *st, struct usock__extra *x, char **auth, char *cookie)
{
    usock_opener *o = st->o;
    usock_urlrequest *r = st->cur;
    *auth = NULL;
    x->user_agent = o->user_agent;
    x->accept_encoding = o->o.accept_encoding;
    x->tls = NULL;
    int perr;
    x->proxy = usock__proxy_for(&o->proxies, r, &perr);
    if (perr < 0) {
        usock__err_set(st->err, perr, 0, "%s %s: the %s_proxy of the environment: %s",
                       usock__request_method(r), r->url, r->scheme, usock_strerror(perr));
        return perr;
    }
    x->resolver = o->resolver;
    x->deadline = st->deadline;
    x->connect_timeout = o->o.connect_timeout;
    x->authorization = st->answer;
    x->cookie = NULL;
    if (!x->authorization && r->user) {
        if (!(*auth = usock__basic_value(r->user, r->password)))
            return USOCK_ENOMEM;
    } else if (!x->authorization && o->o.passwords && o->o.preemptive_auth) {
        int rc = usock__passwords_basic(o->o.passwords, NULL, 1, r->url, auth);
        if (rc < 0)
            return rc;
    }
    if (*auth)
        x->authorization = *auth;
    if (o->o.cookies && usock_cookiejar_header(o->o.cookies, r->url, cookie, COOKIE_MAX) > 0)
        x->cookie = cookie;
    return 0;
}

static void store_cookies(usock_opener *o, usock_response *res)
{
    const char *name, *value;
    if (!o->o.cookies)
        return;
    for (size_t i = 0; usock_response_header_at(res, i, &name, &value); i++)
        if (strcasecmp(name, "Set-Cookie") == 0)
            usock_cookiejar_set(o->o.cookies, res->url, value); /* a bad one is dropped */
}

static int run_request_hooks(struct open_state *st)
{
    for (size_t i = 0; i < st->o->nhandlers; i++) {
        const struct handler *h = &st->o->handlers[i];
        int rc = h->h.request ? h->h.request(h->self, st->cur) : 0;
        if (rc < 0) {
            usock__err_set(st->err, rc, 0, "%s %s: handler %s: %s", usock__request_method(st->cur),
                           st->cur->url, h->h.name ? h->h.name : "?", usock_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* 1 when a handler put another request in cur's place, 0, or an error. */
static int run_response_hooks(struct open_state *st, usock_response *res)
{
    for (size_t i = 0; i < st->o->nhandlers; i++) {
        const struct handler *h = &st->o->handlers[i];
        usock_urlrequest *next = NULL;
        int rc = h->h.response ? h->h.response(h->self, st->cur, res, &next) : 0;
        if (rc < 0) {
            usock_request_free(next);
            usock__err_set(st->err, rc, res->msg.status, "%s %s: handler %s: %s",
                           usock__request_method(st->cur), st->cur->url,
                           h->h.name ? h->h.name : "?", usock_strerror(rc));
            return rc;
        }
        if (next) {
            if (++st->replaced > MAX_REPLACED) {
                usock_request_free(next);
                return fail(st, USOCK_ETOO_MANY_REDIRECTS, res->msg.status, "handler");
            }
            replace_cur(st, next);
            return 1;
        }
    }
    return 0;
}

/* ---- redirects ------------------------------------------------------------------ */

static int is_redirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* urllib's loop detection: the same URL a fifth time is a loop. */
static int visit(struct open_state *st, const char *url)
{
    for (size_t i = 0; i < st->nvisits; i++)
        if (strcmp(st->visits[i].url, url) == 0)
            return ++st->visits[i].n > MAX_REPEATS ? USOCK_EREDIRECT_LOOP : 0;
    struct visit *v = realloc(st->visits, (st->nvisits + 1) * sizeof *v);
    if (!v)
        return USOCK_ENOMEM;
    st->visits = v;
    if (!(v[st->nvisits].url = strdup(url)))
        return USOCK_ENOMEM;
    v[st->nvisits++].n = 1;
    return 0;
}

/* What a redirected request keeps: the method and body, unless the status
 * turns it into a GET (303; 301 and 302 for POST, as browsers and urllib
 * do); headers, but those of a dropped body, and the credentials and
 * cookies the user set when the new URL is another origin. */
static int redirected(const usock_urlrequest *cur, int status, usock_urlrequest *next)
{
    const char *m = usock__request_method(cur);
    int to_get = (status == 303 && strcmp(m, "HEAD") != 0) ||
                 ((status == 301 || status == 302) && strcmp(m, "POST") == 0);
    char a[400], b[400];
    origin_of(cur, a, sizeof a);
    origin_of(next, b, sizeof b);
    int same = strcmp(a, b) == 0;
    for (size_t i = 0; i < cur->headers.n; i++) {
        const char *n = cur->headers.v[i].name;
        if (to_get && (strcasecmp(n, "Content-Type") == 0 || strcasecmp(n, "Content-Length") == 0 ||
                       strcasecmp(n, "Transfer-Encoding") == 0 || strcasecmp(n, "Expect") == 0))
            continue;
        if (!same && (strcasecmp(n, "Authorization") == 0 || strcasecmp(n, "Cookie") == 0 ||
                      strcasecmp(n, "Host") == 0))
            continue;
        if (usock__headers_set(&next->headers, n, cur->headers.v[i].value) < 0)
            return USOCK_ENOMEM;
    }
    next->no_builtin = cur->no_builtin;
    if (same && !next->user && cur->user &&
        (!(next->user = strdup(cur->user)) || !(next->password = strdup(cur->password))))
        return USOCK_ENOMEM;
    if (!to_get) {
        if (cur->method && !(next->method = strdup(cur->method)))
            return USOCK_ENOMEM;
        next->body = cur->body;
        next->data = cur->data;
        next->len = cur->len;
        next->fd = cur->fd;
        next->file_start = cur->file_start;
        next->blen = cur->blen;
        next->read = cur->read;
        next->ctx = cur->ctx;
        next->body_used = cur->body_used;
        next->expect_continue = cur->expect_continue;
    } else if (strcmp(m, "HEAD") == 0 && !(next->method = strdup("HEAD"))) {
        return USOCK_ENOMEM;
    }
    return 0;
}

/* The request that follows res's Location, in *next. */
/* A Location as urllib takes it: spaces, controls and bytes >= 0x80
 * percent-encoded (quote(newurl, safe=string.punctuation)). */
static char *location_of(const char *loc)
{
    size_t n = strlen(loc), k = 0;
    char *out = malloc(3 * n + 1);
    for (size_t i = 0; out && i < n; i++) {
        unsigned char c = (unsigned char)loc[i];
        if (c > ' ' && c < 0x7f) {
            out[k++] = (char)c;
        } else {
            out[k++] = '%';
            out[k++] = "0123456789ABCDEF"[c >> 4];
            out[k++] = "0123456789ABCDEF"[c & 15];
        }
    }
    if (out)
        out[k] = '\0';
    return out;
}

static int follow(struct open_state *st, usock_response *res, usock_urlrequest **next)
{
    int status = res->msg.status;
    char *loc = location_of(usock_response_header(res, "Location"));
    if (!loc)
        return fail(st, USOCK_ENOMEM, status, NULL);
    char *url = NULL;
    int rc = usock_url_join_str(st->cur->url, loc, &url);
    usock_urlrequest *r = NULL;
    if (rc >= 0)
        rc = usock_request_new(&r, url);
    if (rc < 0) {
        usock__err_set(st->err, rc, status, "%s %s: redirect to %.80s: %s",
                       usock__request_method(st->cur), st->cur->url, loc, usock_strerror(rc));
        free(url);
        free(loc);
        return rc;
    }
    free(url);
    free(loc);
    rc = visit(st, r->url);
    if (rc == 0 && st->redirects >= st->o->o.max_redirects)
        rc = USOCK_ETOO_MANY_REDIRECTS;
    if (rc == 0)
        rc = redirected(st->cur, status, r);
    if (rc == 0 && !usock__request_replayable(r))
        rc = USOCK_EBODY_NOT_REPLAYABLE;
    if (rc < 0) {
        usock__err_set(st->err, rc, status, "%s %s: %d %s to %s: %s",
                       usock__request_method(st->cur), st->cur->url, status, res->reason, r->url,
                       usock_strerror(rc));
        usock_request_free(r);
        return rc;
    }
    st->redirects++;
    *next = r;
    return 0;
}

/* ---- Basic auth's answer to a 401 ------------------------------------------------ */

/* 1 when the 401 is to be answered (st->answer set), 0 when it is the
 * answer, < 0 on error. Once per origin: a second 401 after credentials
 * went is the server's last word (urllib loops; we do not). */
static int answer_401(struct open_state *st, usock_response *res)
{
    char realm[256], origin[400];
    usock_passwords *pw = st->o->o.passwords;
    if (!pw || !usock__basic_realm(res, realm, sizeof realm))
        return 0;
    origin_of(st->cur, origin, sizeof origin);
    if (st->answered && strcmp(st->answered, origin) == 0)
        return 0;
    char *auth;
    int rc = usock__passwords_basic(pw, realm, 0, st->cur->url, &auth);
    if (rc <= 0)
        return rc;
    if (st->sent_auth && strcmp(auth, st->sent_auth) == 0) {
        free(auth); /* refused already (sent before any challenge): the 401 is the answer */
        return 0;
    }
    if (!usock__request_replayable(st->cur)) {
        free(auth);
        return fail(st, USOCK_EBODY_NOT_REPLAYABLE, 401, "401 Unauthorized");
    }
    free(st->answered);
    st->answered = strdup(origin);
    free(st->answer);
    st->answer = auth;
    return st->answered ? 1 : USOCK_ENOMEM;
}

/* ---- the loop ---------------------------------------------------------------------- */

/* One request on the wire, with the built-in per-hop headers and the
 * user's request hooks. */
static int send_one(struct open_state *st, usock_response **res, char *cookie)
{
    struct usock__extra x;
    char *auth;
    int rc = hop_headers(st, &x, &auth, cookie);
    if (rc < 0 && st->err && st->err->code == rc)
        return rc; /* its detail is said already */
    if (rc < 0)
        return fail(st, rc, 0, NULL);
    rc = run_request_hooks(st);
    free(st->sent_auth);
    st->sent_auth = x.authorization ? strdup(x.authorization) : NULL;
    if (rc == 0 && strcmp(st->cur->scheme, "https") == 0)
        rc = opener_tls(st->o, &x.tls, st->err);
    if (rc == 0)
        rc = usock__exchange(st->o->pool, st->cur, &x, st->timeout, res, st->err);
    free(auth);
    if (rc == 0 && !((*res)->url = strdup(st->cur->url))) {
        usock_response_close(*res);
        *res = NULL;
        return fail(st, USOCK_ENOMEM, 0, NULL);
    }
    return rc;
}

/* What the response means: 1 another request follows (cur replaced or
 * retried), 0 it is the answer, < 0 an error. */
static int process(struct open_state *st, usock_response *res)
{
    store_cookies(st->o, res);
    int rc = run_response_hooks(st, res);
    if (rc != 0)
        return rc;
    int status = res->msg.status;
    const char *loc = usock_response_header(res, "Location");
    if (is_redirect(status) && st->o->o.max_redirects > 0 && loc && *loc) {
        /* an empty Location is no way on: the 3xx is the answer (curl) */
        usock_urlrequest *next = NULL;
        rc = follow(st, res, &next);
        if (rc < 0)
            return rc;
        replace_cur(st, next);
        return 1;
    }
    if (status == 401)
        return answer_401(st, res);
    return 0;
}

static int open_loop(struct open_state *st, usock_response **out)
{
    char *cookie = st->o->o.cookies ? malloc(COOKIE_MAX) : NULL;
    if (st->o->o.cookies && !cookie)
        return fail(st, USOCK_ENOMEM, 0, NULL);
    int rc;
    for (;;) {
        usock_response *res = NULL;
        rc = send_one(st, &res, cookie);
        if (rc < 0)
            break;
        rc = process(st, res);
        if (rc <= 0) {
            if (rc == 0)
                *out = res;
            else
                usock_response_close(res);
            break;
        }
        usock__response_discard(res); /* its connection may serve the next */
    }
    free(cookie);
    return rc;
}

USOCK_API int usock_opener_open(usock_opener *o, usock_urlrequest *r, double timeout,
                                usock_response **out, usock_urlerror *err)
{
    if (out)
        *out = NULL;
    if (err)
        memset(err, 0, sizeof *err);
    if (!o || !r || !out || timeout != timeout) {
        usock__err_set(err, USOCK_EINVAL, 0, "%s", usock_strerror(USOCK_EINVAL));
        return USOCK_EINVAL;
    }
    struct open_state st = {.o = o, .cur = r, .timeout = timeout, .err = err, .deadline = -1};
    if (o->o.max_time > 0)
        st.deadline = usock__now_ms() + (int64_t)(o->o.max_time * 1000.0 + 0.5);
    int rc = open_loop(&st, out);
    if (rc == 0 && (*out)->msg.status >= 400) {
        usock__err_set(err, USOCK_EHTTP_STATUS, (*out)->msg.status, "%s %s: %d %s",
                       usock__request_method(st.cur), st.cur->url, (*out)->msg.status,
                       (*out)->reason);
        rc = USOCK_EHTTP_STATUS;
    } else if (rc == 0 && err) {
        err->status = (*out)->msg.status;
    }
    state_free(&st);
    return rc;
}

/* ---- the default opener ------------------------------------------------------------
 * Made once, on first use; install_opener puts another in its place. The
 * only global state of the library. */

static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;
static usock_opener *builtin;
static _Atomic(usock_opener *) installed;

static int builtin_err; /* why there is none */

static void builtin_make(void)
{
    builtin_err = usock_opener_new(&builtin, NULL);
    if (builtin_err < 0)
        builtin = NULL;
}

/* At exit, the built-in opener's idle connections are closed: a program
 * checked for open descriptors (valgrind --track-fds) sees none. */
__attribute__((destructor)) static void builtin_idle_close(void)
{
    if (builtin)
        usock__pool_clear(builtin->pool);
}

static usock_opener *default_opener(void)
{
    usock_opener *o = atomic_load(&installed);
    if (o)
        return o;
    pthread_once(&builtin_once, builtin_make);
    return builtin;
}

USOCK_API void usock_install_opener(usock_opener *o)
{
    atomic_store(&installed, o);
}

USOCK_API int usock_urlopen_request(usock_urlrequest *r, double timeout, usock_response **out,
                                    usock_urlerror *err)
{
    usock_opener *o = default_opener();
    if (!o) {
        if (out)
            *out = NULL;
        usock__err_set(err, builtin_err, 0, "the default opener: %s", usock_strerror(builtin_err));
        return builtin_err;
    }
    return usock_opener_open(o, r, timeout, out, err);
}

USOCK_API int usock_urlopen(const char *url, const void *data, size_t len, double timeout,
                            usock_response **out, usock_urlerror *err)
{
    if (out)
        *out = NULL;
    if (err)
        memset(err, 0, sizeof *err);
    usock_urlrequest *r;
    int rc = usock_request_new(&r, url);
    if (rc == 0 && data)
        rc = usock_request_set_data(r, data, len);
    if (rc < 0) {
        usock__err_set(err, rc, 0, "%.200s: %s", url ? url : "(null)", usock_strerror(rc));
        usock_request_free(r);
        return rc;
    }
    rc = usock_urlopen_request(r, timeout, out, err);
    usock_request_free(r);
    return rc;
}
