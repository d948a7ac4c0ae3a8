/* tls.c -- TLS streams on OpenSSL (tls.h). A wrapped socket gets a layer
 * (internal.h) whose recv and send are SSL_read and SSL_write; OpenSSL
 * reaches the descriptor through a BIO of our own that calls the socket
 * layer's raw I/O with the flags of the call under way, so that a
 * DONTWAIT call stays one, a timeout is the socket's, and the bytes on
 * the wire are counted as on a plain socket. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "usock/tls.h"

#define SESSIONS 16 /* remembered per client context, one per server */
#define KEY_MAX 320 /* "host|address" */

struct usock_tls_ctx {
    SSL_CTX *ssl;
    int side;
    int verify;         /* enum usock_tls_verify */
    int check_hostname;
    int ca_loaded;      /* load_verify was called: no system store */
    atomic_int refs;
    pthread_mutex_t lock; /* the system store's loading, the sessions */
    int store_ready;
    unsigned char *alpn; /* the ALPN list in wire format */
    size_t alpn_len;
    struct {
        char key[KEY_MAX];
        SSL_SESSION *sess;
    } cache[SESSIONS];
    int next; /* the cache slot to take when the key is new */
};

/* A wrapped socket's layer state (s->layer_ctx). */
struct tls {
    SSL *ssl;
    usock_tls_ctx *ctx;
    int flags;     /* USOCK_MSG_DONTWAIT of the call under way, for the BIO */
    int io_err;    /* the socket error the BIO met, for the caller */
    int err;       /* a failed handshake's error, returned by every call after */
    char key[KEY_MAX]; /* the session cache's key; "" for none */
    char detail[256];
    char alpn[256];
};

static struct tls *tls_of(const usock *s);

/* ---- the BIO: OpenSSL's bytes through the socket layer -------------------- */

/* A flags value of the BIO's own: the call must not touch the descriptor
 * (a look at what OpenSSL holds already, from layer_pending). */
#define NO_IO 0x40000000

static int bio_write(BIO *b, const char *buf, size_t n, size_t *done)
{
    usock *s = BIO_get_data(b);
    struct tls *t = s->layer_ctx;
    BIO_clear_retry_flags(b);
    if (t->flags & NO_IO) {
        BIO_set_retry_write(b);
        return 0;
    }
    ssize_t r = usock__raw_send(s, buf, n, t->flags & USOCK_MSG_DONTWAIT);
    if (r >= 0) {
        *done = (size_t)r;
        return 1;
    }
    if (r == USOCK_EAGAIN || r == -EWOULDBLOCK)
        BIO_set_retry_write(b);
    else
        t->io_err = (int)r;
    return 0;
}

static int bio_read(BIO *b, char *buf, size_t n, size_t *done)
{
    usock *s = BIO_get_data(b);
    struct tls *t = s->layer_ctx;
    BIO_clear_retry_flags(b);
    if (t->flags & NO_IO) {
        BIO_set_retry_read(b);
        return 0;
    }
    ssize_t r = usock__raw_recv(s, buf, n, t->flags & USOCK_MSG_DONTWAIT);
    if (r > 0) {
        *done = (size_t)r;
        return 1;
    }
    if (r == USOCK_EAGAIN || r == -EWOULDBLOCK)
        BIO_set_retry_read(b);
    else if (r < 0)
        t->io_err = (int)r;
    return 0; /* r == 0: the peer closed */
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b, (void)num, (void)ptr;
    return cmd == BIO_CTRL_FLUSH; /* nothing is buffered here */
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void bio_init_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "usock");
    if (m && BIO_meth_set_write_ex(m, bio_write) && BIO_meth_set_read_ex(m, bio_read) &&
        BIO_meth_set_ctrl(m, bio_ctrl))
        bio_method = m;
    else
        BIO_meth_free(m);
}

static BIO *bio_new(usock *s)
{
    pthread_once(&bio_once, bio_init_method);
    BIO *b = bio_method ? BIO_new(bio_method) : NULL;
    if (b) {
        BIO_set_data(b, s);
        BIO_set_init(b, 1);
    }
    return b;
}

/* ---- errors ----------------------------------------------------------------- */

/* A failed certificate check, by its verify result. */
static int verify_code(long v)
{
    switch (v) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return USOCK_ETLS_EXPIRED;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return USOCK_ETLS_UNKNOWN_CA;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return USOCK_ETLS_HOSTNAME;
    default:
        return USOCK_ETLS_CERT;
    }
}

static int version_reason(int reason)
{
    return reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_NO_PROTOCOLS_AVAILABLE ||
           reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION || reason == SSL_R_WRONG_SSL_VERSION ||
           reason == SSL_R_UNSUPPORTED_SSL_VERSION || reason == SSL_R_VERSION_TOO_LOW;
}

/* What OpenSSL's error queue says, as a code and t->detail. */
static int ssl_failure(struct tls *t, int in_handshake)
{
    long v = SSL_get_verify_result(t->ssl);
    unsigned long e = ERR_peek_last_error();
    if (in_handshake && v != X509_V_OK) {
        snprintf(t->detail, sizeof t->detail, "%s", X509_verify_cert_error_string(v));
        ERR_clear_error();
        return verify_code(v);
    }
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    snprintf(t->detail, sizeof t->detail, "%s", why ? why : "TLS protocol error");
    ERR_clear_error();
    if (e && ERR_GET_LIB(e) == ERR_LIB_SSL && version_reason(ERR_GET_REASON(e)))
        return USOCK_ETLS_VERSION;
    return in_handshake ? USOCK_ETLS_HANDSHAKE : USOCK_ETLS;
}

/* The result of an SSL call that did not succeed (ret its return). A
 * closed stream is EOF to a read, EPIPE to a write. */
static ssize_t io_failure(struct tls *t, int ret, int writing, int *want)
{
    int in_handshake = !SSL_is_init_finished(t->ssl);
    switch (SSL_get_error(t->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        *want = USOCK_POLLIN;
        return USOCK_EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        *want = USOCK_POLLOUT;
        return USOCK_EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        /* close_notify, or a close without it (IGNORE_UNEXPECTED_EOF) */
        return writing ? USOCK_EPIPE : 0;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        if (t->io_err)
            return t->io_err;
        if (in_handshake) {
            snprintf(t->detail, sizeof t->detail, "the peer closed during the handshake");
            return USOCK_ECONNRESET;
        }
        return writing ? USOCK_EPIPE : 0;
    default: {
        int rc = ssl_failure(t, in_handshake);
        if (in_handshake)
            t->err = rc;
        return rc;
    }
    }
}

/* ---- the layer ------------------------------------------------------------------ */

/* Before an SSL call of a read or write of n bytes: 1 to go on, or 0
 * with *rc the answer (a failed handshake's error, or 0 for nothing). */
static int begin_io(struct tls *t, size_t n, int flags, ssize_t *rc)
{
    *rc = t->err;
    if (t->err || n == 0)
        return 0;
    t->flags = flags;
    t->io_err = 0;
    t->detail[0] = '\0';
    ERR_clear_error();
    return 1;
}

static ssize_t layer_recv(usock *s, void *buf, size_t n, int flags, int *want)
{
    struct tls *t = s->layer_ctx;
    ssize_t rc;
    if (!begin_io(t, n, flags, &rc))
        return rc;
    size_t got = 0;
    int ok = flags & USOCK_MSG_PEEK ? SSL_peek_ex(t->ssl, buf, n, &got)
                                    : SSL_read_ex(t->ssl, buf, n, &got);
    return ok ? (ssize_t)got : io_failure(t, 0, 0, want);
}

static ssize_t layer_send(usock *s, const void *buf, size_t n, int flags, int *want)
{
    struct tls *t = s->layer_ctx;
    ssize_t rc;
    if (!begin_io(t, n, flags, &rc))
        return rc;
    size_t done = 0;
    return SSL_write_ex(t->ssl, buf, n, &done) ? (ssize_t)done : io_failure(t, 0, 1, want);
}

/* What recv returns without reading the descriptor. OpenSSL reads ahead
 * (a record's header and body, and what follows, in one system call), so
 * whole records may wait in its buffer undecrypted: a peek that may not
 * touch the descriptor tells whether one holds data (or the peer's
 * close_notify: recv then returns 0 at once, which is readable too). */
static size_t layer_pending(const usock *s)
{
    struct tls *t = s->layer_ctx;
    int n = SSL_pending(t->ssl);
    if (n > 0 || t->err || !SSL_is_init_finished(t->ssl) || !SSL_has_pending(t->ssl))
        return n > 0 ? (size_t)n : 0;
    char c;
    size_t got = 0;
    int saved = t->flags;
    t->flags = NO_IO;
    ERR_clear_error();
    int ok = SSL_peek_ex(t->ssl, &c, 1, &got);
    int e = ok ? SSL_ERROR_NONE : SSL_get_error(t->ssl, 0);
    ERR_clear_error();
    t->flags = saved;
    if (!ok)
        return e == SSL_ERROR_ZERO_RETURN ? 1 : 0;
    n = SSL_pending(t->ssl); /* the peek decrypted a record */
    return n > 0 ? (size_t)n : 1;
}

static void ctx_unref(usock_tls_ctx *c);

/* A close_notify when it can go at once (curl sends one; a peer that
 * reads until EOF is none the worse without it), then everything. What
 * waits unread (TLS 1.3 session tickets a client never asked for) is
 * drained first: closing over unread bytes sends a reset, which would
 * destroy what the peer has not read yet of ours. */
static void layer_close(usock *s)
{
    struct tls *t = s->layer_ctx;
    if (!t->err && SSL_is_init_finished(t->ssl) && !(SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN)) {
        t->flags = USOCK_MSG_DONTWAIT;
        SSL_shutdown(t->ssl);
    }
    char sink[4096];
    for (int i = 0; i < 64 && usock__raw_recv(s, sink, sizeof sink, USOCK_MSG_DONTWAIT) > 0; i++)
        ;
    ERR_clear_error();
    SSL_free(t->ssl);
    ctx_unref(t->ctx);
    free(t);
    s->layer = NULL;
    s->layer_ctx = NULL;
}

static const struct usock__layer tls_layer = {layer_recv, layer_send, layer_pending, layer_close};

static struct tls *tls_of(const usock *s)
{
    return s && s->layer == &tls_layer ? s->layer_ctx : NULL;
}

/* ---- sessions (client) -------------------------------------------------------- */

static int ssl_index = -1; /* SSL ex_data: the struct tls */
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

static void index_init(void)
{
    ssl_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* OpenSSL hands over each new session (a TLS 1.3 ticket too): kept as the
 * one to offer next time to that server. */
static int new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct tls *t = SSL_get_ex_data(ssl, ssl_index);
    if (!t || !t->key[0])
        return 0;
    usock_tls_ctx *c = t->ctx;
    pthread_mutex_lock(&c->lock);
    int slot = -1;
    for (int i = 0; i < SESSIONS && slot < 0; i++)
        if (strcmp(c->cache[i].key, t->key) == 0)
            slot = i;
    if (slot < 0) {
        slot = c->next;
        c->next = (c->next + 1) % SESSIONS;
        snprintf(c->cache[slot].key, KEY_MAX, "%s", t->key);
    }
    SSL_SESSION_free(c->cache[slot].sess);
    c->cache[slot].sess = sess;
    pthread_mutex_unlock(&c->lock);
    return 1; /* ours now */
}

static void offer_session(struct tls *t)
{
    usock_tls_ctx *c = t->ctx;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < SESSIONS; i++)
        if (c->cache[i].sess && strcmp(c->cache[i].key, t->key) == 0)
            SSL_set_session(t->ssl, c->cache[i].sess);
    pthread_mutex_unlock(&c->lock);
}

/* ---- contexts ---------------------------------------------------------------- */

USOCK_API int usock_tls_ctx_new(usock_tls_ctx **out, int side)
{
    if (!out || (side != USOCK_TLS_CLIENT && side != USOCK_TLS_SERVER))
        return USOCK_EINVAL;
    *out = NULL;
    pthread_once(&index_once, index_init);
    usock_tls_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return USOCK_ENOMEM;
    c->ssl = SSL_CTX_new(side == USOCK_TLS_CLIENT ? TLS_client_method() : TLS_server_method());
    if (!c->ssl || ssl_index < 0) {
        SSL_CTX_free(c->ssl);
        free(c);
        return USOCK_ENOMEM;
    }
    c->side = side;
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->lock, NULL);
    SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
    SSL_CTX_set_options(c->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                 SSL_MODE_RELEASE_BUFFERS);
    /* whole flights and records in one read, as nginx reads them (the
     * poll's rule for what waits inside OpenSSL: layer_pending) */
    SSL_CTX_set_read_ahead(c->ssl, 1);
    /* a server that checks client certificates resumes sessions only
     * within a context it names */
    SSL_CTX_set_session_id_context(c->ssl, (const unsigned char *)"usock", 5);
    if (side == USOCK_TLS_CLIENT) {
        c->verify = USOCK_TLS_CERT_REQUIRED;
        c->check_hostname = 1;
        SSL_CTX_set_session_cache_mode(c->ssl,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(c->ssl, new_session);
    }
    *out = c;
    return 0;
}

static void ctx_unref(usock_tls_ctx *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    for (int i = 0; i < SESSIONS; i++)
        SSL_SESSION_free(c->cache[i].sess);
    SSL_CTX_free(c->ssl);
    pthread_mutex_destroy(&c->lock);
    free(c->alpn);
    free(c);
}

USOCK_API void usock_tls_ctx_free(usock_tls_ctx *c)
{
    ctx_unref(c);
}

USOCK_API int usock_tls_ctx_set_verify(usock_tls_ctx *c, int mode)
{
    if (!c || mode < USOCK_TLS_CERT_NONE || mode > USOCK_TLS_CERT_REQUIRED)
        return USOCK_EINVAL;
    c->verify = mode;
    return 0;
}

USOCK_API int usock_tls_ctx_set_check_hostname(usock_tls_ctx *c, int on)
{
    if (!c)
        return USOCK_EINVAL;
    c->check_hostname = on != 0;
    return 0;
}

USOCK_API int usock_tls_ctx_load_verify(usock_tls_ctx *c, const char *cafile, const char *capath)
{
    if (!c || (!cafile && !capath))
        return USOCK_EINVAL;
    ERR_clear_error();
    int ok = SSL_CTX_load_verify_locations(c->ssl, cafile, capath);
    ERR_clear_error();
    if (!ok)
        return USOCK_ETLS_FILE;
    c->ca_loaded = 1;
    return 0;
}

USOCK_API int usock_tls_ctx_load_cert_chain(usock_tls_ctx *c, const char *certfile,
                                            const char *keyfile)
{
    if (!c || !certfile)
        return USOCK_EINVAL;
    ERR_clear_error();
    int ok = SSL_CTX_use_certificate_chain_file(c->ssl, certfile) == 1 &&
             SSL_CTX_use_PrivateKey_file(c->ssl, keyfile ? keyfile : certfile, SSL_FILETYPE_PEM) ==
                 1 &&
             SSL_CTX_check_private_key(c->ssl) == 1;
    ERR_clear_error();
    return ok ? 0 : USOCK_ETLS_FILE;
}

USOCK_API int usock_tls_ctx_set_min_version(usock_tls_ctx *c, int version)
{
    if (!c || (version != USOCK_TLS_1_2 && version != USOCK_TLS_1_3))
        return USOCK_EINVAL;
    SSL_CTX_set_min_proto_version(c->ssl, version);
    return 0;
}

/* A server's choice: its first protocol that the client offers. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    (void)ssl;
    const usock_tls_ctx *c = arg;
    for (size_t i = 0; i < c->alpn_len; i += 1 + c->alpn[i])
        for (unsigned k = 0; k < inlen; k += 1u + in[k])
            if (in[k] == c->alpn[i] && k + 1u + in[k] <= inlen &&
                memcmp(in + k + 1, c->alpn + i + 1, in[k]) == 0) {
                *out = in + k + 1;
                *outlen = in[k];
                return SSL_TLSEXT_ERR_OK;
            }
    return SSL_TLSEXT_ERR_NOACK;
}

USOCK_API int usock_tls_ctx_set_alpn(usock_tls_ctx *c, const char *const *protos, size_t n)
{
    if (!c || (!protos && n))
        return USOCK_EINVAL;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = protos[i] ? strlen(protos[i]) : 0;
        if (k == 0 || k > 255)
            return USOCK_EINVAL;
        len += 1 + k;
    }
    unsigned char *w = malloc(len ? len : 1);
    if (!w)
        return USOCK_ENOMEM;
    for (size_t i = 0, at = 0; i < n; i++) {
        size_t k = strlen(protos[i]);
        w[at] = (unsigned char)k;
        memcpy(w + at + 1, protos[i], k);
        at += 1 + k;
    }
    free(c->alpn);
    c->alpn = w;
    c->alpn_len = len;
    if (c->side == USOCK_TLS_CLIENT)
        return SSL_CTX_set_alpn_protos(c->ssl, w, (unsigned)len) == 0 ? 0 : USOCK_ENOMEM;
    SSL_CTX_set_alpn_select_cb(c->ssl, select_alpn, c);
    return 0;
}

/* The system's CA store, loaded on the first wrap that needs it (it costs
 * milliseconds: a client that never meets https never pays them). */
static int ensure_store(usock_tls_ctx *c)
{
    if (c->side != USOCK_TLS_CLIENT || c->ca_loaded || c->verify == USOCK_TLS_CERT_NONE)
        return 0;
    pthread_mutex_lock(&c->lock);
    int ok = c->store_ready || SSL_CTX_set_default_verify_paths(c->ssl) == 1;
    c->store_ready = ok;
    pthread_mutex_unlock(&c->lock);
    ERR_clear_error();
    return ok ? 0 : USOCK_ETLS_FILE;
}

/* ---- wrapping ------------------------------------------------------------------- */

static int is_ip(const char *name)
{
    unsigned char a[16];
    return usock_inet_pton(AF_INET, name, a) == 0 || usock_inet_pton(AF_INET6, name, a) == 0;
}

/* SNI, the name to check and the session's key, for a client. */
static int client_setup(struct tls *t, usock *s, const char *host)
{
    usock_tls_ctx *c = t->ctx;
    int verify = c->verify != USOCK_TLS_CERT_NONE;
    SSL_set_verify(t->ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (!host)
        return 0;
    int ip = is_ip(host);
    if (!ip && SSL_set_tlsext_host_name(t->ssl, host) != 1)
        return USOCK_EINVAL;
    if (verify && c->check_hostname) {
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host)
                    : SSL_set1_host(t->ssl, host);
        if (ok != 1)
            return USOCK_EINVAL;
    }
    usock_addr peer;
    char where[USOCK_ADDRSTRLEN];
    size_t hn = strlen(host);
    if (usock_getpeername(s, &peer) == 0 && usock_addr_format(&peer, where, sizeof where) >= 0 &&
        hn + 1 + strlen(where) < KEY_MAX) {
        memcpy(t->key, host, hn);
        t->key[hn] = '|';
        memcpy(t->key + hn + 1, where, strlen(where) + 1);
        offer_session(t);
    }
    return 0;
}

static void server_setup(struct tls *t)
{
    int mode = t->ctx->verify;
    SSL_set_verify(t->ssl,
                   mode == USOCK_TLS_CERT_NONE       ? SSL_VERIFY_NONE
                   : mode == USOCK_TLS_CERT_OPTIONAL ? SSL_VERIFY_PEER
                                                     : SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                   NULL);
}

/* Handshake steps until done, waiting as the socket's timeout says. */
static int drive_handshake(usock *s, struct tls *t, int *want)
{
    int64_t deadline = usock__deadline(s);
    for (;;) {
        if (t->err)
            return t->err;
        t->flags = 0;
        t->io_err = 0;
        ERR_clear_error();
        int ret = SSL_do_handshake(t->ssl);
        if (ret == 1)
            return 0;
        int w = USOCK_POLLIN;
        ssize_t rc = io_failure(t, ret, 0, &w);
        if (rc == 0)
            rc = USOCK_ECONNRESET; /* a clean close before the handshake ended */
        if (rc != USOCK_EAGAIN) {
            t->err = (int)rc; /* sticky: the stream is unusable */
            return (int)rc;
        }
        if (want)
            *want = w;
        int r = usock__wait(s, w, deadline);
        if (r < 0)
            return r; /* USOCK_EAGAIN for a non-blocking socket: call again */
    }
}

USOCK_API int usock_tls_wrap(usock_tls_ctx *c, usock *s, const char *server_hostname, int flags)
{
    if (!c || !s || s->layer || s->type != SOCK_STREAM || usock__buffered(s) ||
        (flags & ~USOCK_TLS_DEFER_HANDSHAKE))
        return USOCK_EINVAL;
    int rc = ensure_store(c);
    if (rc < 0)
        return rc;
    struct tls *t = calloc(1, sizeof *t);
    if (!t)
        return USOCK_ENOMEM;
    t->ctx = c;
    t->ssl = SSL_new(c->ssl);
    BIO *b = t->ssl ? bio_new(s) : NULL;
    if (!b) {
        SSL_free(t->ssl);
        free(t);
        return USOCK_ENOMEM;
    }
    SSL_set_bio(t->ssl, b, b);
    SSL_set_ex_data(t->ssl, ssl_index, t);
    atomic_fetch_add(&c->refs, 1);
    s->layer = &tls_layer;
    s->layer_ctx = t;
    if (c->side == USOCK_TLS_CLIENT) {
        SSL_set_connect_state(t->ssl);
        rc = client_setup(t, s, server_hostname);
    } else {
        SSL_set_accept_state(t->ssl);
        server_setup(t);
    }
    if (rc == 0 && !(flags & USOCK_TLS_DEFER_HANDSHAKE))
        rc = drive_handshake(s, t, NULL);
    if (rc == USOCK_EINVAL)
        layer_close(s); /* nothing was sent: s is plain again */
    return rc;
}

USOCK_API int usock_tls_handshake(usock *s, int *want)
{
    struct tls *t = tls_of(s);
    if (!t)
        return USOCK_EINVAL;
    if (want)
        *want = USOCK_POLLIN;
    return SSL_is_init_finished(t->ssl) ? 0 : drive_handshake(s, t, want);
}

/* ---- after the handshake ---------------------------------------------------------- */

USOCK_API const char *usock_tls_version(const usock *s)
{
    const struct tls *t = tls_of(s);
    return t ? SSL_get_version(t->ssl) : NULL;
}

USOCK_API const char *usock_tls_alpn(const usock *s)
{
    const struct tls *t = tls_of(s);
    if (!t)
        return NULL;
    const unsigned char *p;
    unsigned n;
    SSL_get0_alpn_selected(t->ssl, &p, &n);
    char *name = ((struct tls *)t)->alpn; /* OpenSSL's copy is not NUL-ended */
    memcpy(name, p ? (const char *)p : "", n);
    name[n] = '\0';
    return name;
}

USOCK_API int usock_tls_session_reused(const usock *s)
{
    const struct tls *t = tls_of(s);
    return t ? SSL_session_reused(t->ssl) : 0;
}

USOCK_API const char *usock_tls_detail(const usock *s)
{
    const struct tls *t = tls_of(s);
    return t ? t->detail : "";
}

USOCK_API int usock_tls_active(const usock *s)
{
    return tls_of(s) != NULL;
}
