/* tls_none.c -- the tls layer of a build without OpenSSL (-DUSOCK_TLS=OFF):
 * every call says so, and a socket is never TLS. */
#include "internal.h"
#include "usock/tls.h"

USOCK_API int usock_tls_ctx_new(usock_tls_ctx **out, int side)
{
    (void)side;
    if (out)
        *out = NULL;
    return USOCK_ETLS_UNAVAILABLE;
}

USOCK_API void usock_tls_ctx_free(usock_tls_ctx *c)
{
    (void)c;
}

USOCK_API int usock_tls_ctx_set_verify(usock_tls_ctx *c, int mode)
{
    (void)c, (void)mode;
    return USOCK_ETLS_UNAVAILABLE;
}

USOCK_API int usock_tls_ctx_set_check_hostname(usock_tls_ctx *c, int on)
{
    (void)c, (void)on;
    return USOCK_ETLS_UNAVAILABLE;
}

USOCK_API int usock_tls_ctx_load_verify(usock_tls_ctx *c, const char *cafile, const char *capath)
{
    (void)c, (void)cafile, (void)capath;
    return USOCK_ETLS_UNAVAILABLE;
}

USOCK_API int usock_tls_ctx_load_cert_chain(usock_tls_ctx *c, const char *certfile,
                                            const char *keyfile)
{
    (void)c, (void)certfile, (void)keyfile;
    return USOCK_ETLS_UNAVAILABLE;
}

USOCK_API int usock_tls_ctx_set_min_version(usock_tls_ctx *c, int version)
{
    (void)c, (void)version;
    return USOCK_ETLS_UNAVAILABLE;
}

USOCK_API int usock_tls_ctx_set_alpn(usock_tls_ctx *c, const char *const *protos, size_t n)
{
    (void)c, (void)protos, (void)n;
    return USOCK_ETLS_UNAVAILABLE;
}

USOCK_API int usock_tls_wrap(usock_tls_ctx *c, usock *s, const char *server_hostname, int flags)
{
    (void)c, (void)s, (void)server_hostname, (void)flags;
    return USOCK_ETLS_UNAVAILABLE;
}

USOCK_API int usock_tls_handshake(usock *s, int *want)
{
    (void)s, (void)want;
    return USOCK_ETLS_UNAVAILABLE;
}

USOCK_API const char *usock_tls_version(const usock *s)
{
    (void)s;
    return NULL;
}

USOCK_API const char *usock_tls_alpn(const usock *s)
{
    (void)s;
    return NULL;
}

USOCK_API int usock_tls_session_reused(const usock *s)
{
    (void)s;
    return 0;
}

USOCK_API const char *usock_tls_detail(const usock *s)
{
    (void)s;
    return "";
}

USOCK_API int usock_tls_active(const usock *s)
{
    (void)s;
    return 0;
}
