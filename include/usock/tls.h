/* tls.h -- TLS streams on usock sockets (OpenSSL): Python's ssl.SSLContext
 * and SSLContext.wrap_socket, MicroPython's ssl.wrap_socket. A wrapped
 * socket is still a usock socket: recv, send, sendall, readline, makefile,
 * settimeout and poll behave on it as on a plain one, and close closes
 * both. TLS 1.2 and 1.3 only. Built without OpenSSL (-DUSOCK_TLS=OFF),
 * every call fails with USOCK_ETLS_UNAVAILABLE. */
#ifndef USOCK_TLS_H
#define USOCK_TLS_H

#include <stddef.h>

#include "usock/error.h"
#include "usock/socket.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct usock_tls_ctx usock_tls_ctx;

enum usock_tls_side { USOCK_TLS_CLIENT = 0, USOCK_TLS_SERVER = 1 };

/* verify_mode: ssl.CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED. */
enum usock_tls_verify {
    USOCK_TLS_CERT_NONE = 0,     /* client: no check at all (curl -k) */
    USOCK_TLS_CERT_OPTIONAL = 1, /* server: ask for a client certificate, check it if sent */
    USOCK_TLS_CERT_REQUIRED = 2  /* client: the default; server: a client certificate is needed */
};

/* Protocol versions, as on the wire. */
enum usock_tls_version { USOCK_TLS_1_2 = 0x0303, USOCK_TLS_1_3 = 0x0304 };

/* SSLContext(PROTOCOL_TLS_CLIENT or PROTOCOL_TLS_SERVER). A client context
 * verifies the server's certificate against the system's CA store and
 * checks the host name (CERT_REQUIRED, check_hostname on), and remembers
 * one session per server (host name and address) to resume it on the next
 * connection there. A server context asks for no client certificate
 * (CERT_NONE) and needs a certificate (usock_tls_ctx_load_cert_chain).
 * Set it up, then share it: wrapping is thread-safe. The context is
 * reference-counted: usock_tls_ctx_free drops the caller's reference and
 * each wrapped socket holds one until it is closed.
 * Errors: USOCK_ETLS_UNAVAILABLE, USOCK_EINVAL, USOCK_ENOMEM. */
USOCK_API int usock_tls_ctx_new(usock_tls_ctx **out, int side);
USOCK_API void usock_tls_ctx_free(usock_tls_ctx *c); /* NULL ok */

/* verify_mode (enum usock_tls_verify). CERT_NONE on a client also turns
 * off the host name check. */
USOCK_API int usock_tls_ctx_set_verify(usock_tls_ctx *c, int mode);
/* check_hostname (client): on by default. */
USOCK_API int usock_tls_ctx_set_check_hostname(usock_tls_ctx *c, int on);
/* load_verify_locations: trust the CAs of a PEM file and/or a hashed
 * directory (c_rehash) instead of the system store. Either may be NULL.
 * Errors: USOCK_ETLS_FILE (unreadable or not PEM certificates). */
USOCK_API int usock_tls_ctx_load_verify(usock_tls_ctx *c, const char *cafile, const char *capath);
/* load_cert_chain: this side's certificate (PEM, with its chain after it)
 * and its private key (PEM; NULL: in certfile too). A server needs one; a
 * client sends it when the server asks. Errors: USOCK_ETLS_FILE
 * (unreadable, not PEM, or the key does not match the certificate). */
USOCK_API int usock_tls_ctx_load_cert_chain(usock_tls_ctx *c, const char *certfile,
                                            const char *keyfile);
/* minimum_version: USOCK_TLS_1_2 (the default) or USOCK_TLS_1_3. */
USOCK_API int usock_tls_ctx_set_min_version(usock_tls_ctx *c, int version);
/* set_alpn_protocols: n names in preference order ("http/1.1"). A server
 * picks the first of its own list that the client offers; a client whose
 * offer the server does not share goes on without ALPN. */
USOCK_API int usock_tls_ctx_set_alpn(usock_tls_ctx *c, const char *const *protos, size_t n);

/* wrap_socket: s, a connected stream socket, speaks TLS from now on, on
 * the side of the context. server_hostname (client): sent as SNI (but an
 * IP address, which SNI does not carry) and checked against the
 * certificate (its DNS names, or its IP addresses for an address); NULL:
 * neither. The handshake is done now, within s's timeout, unless flags
 * has USOCK_TLS_DEFER_HANDSHAKE (do_handshake_on_connect=False): then it
 * happens with the first recv or send, or usock_tls_handshake. When the
 * handshake fails, s stays a TLS socket that fails every call with that
 * error: the caller closes it. Errors:
 * USOCK_ETLS_* (usock_tls_detail says more), a socket error
 * (USOCK_ETIMEDOUT, USOCK_ECONNRESET...), USOCK_EINVAL (not a stream
 * socket, or already wrapped). */
#define USOCK_TLS_DEFER_HANDSHAKE 1
USOCK_API int usock_tls_wrap(usock_tls_ctx *c, usock *s, const char *server_hostname, int flags);

/* do_handshake, for an event loop: 0 when the handshake is done (or was);
 * on a non-blocking socket USOCK_EAGAIN with *want set to USOCK_POLLIN or
 * USOCK_POLLOUT, the readiness to wait for before calling again; or an
 * error as usock_tls_wrap's. */
USOCK_API int usock_tls_handshake(usock *s, int *want);

/* After the handshake: "TLSv1.2" or "TLSv1.3"; the ALPN protocol chosen
 * ("" when none); 1 when a session was resumed. NULL, NULL, 0 for a socket
 * that is not TLS. */
USOCK_API const char *usock_tls_version(const usock *s);
USOCK_API const char *usock_tls_alpn(const usock *s);
USOCK_API int usock_tls_session_reused(const usock *s);

/* What the last TLS error on s was about, in words: the certificate
 * check's message ("certificate has expired", "Hostname mismatch") or
 * OpenSSL's reason; "" when there was none. Lives until the next call
 * on s. */
USOCK_API const char *usock_tls_detail(const usock *s);

/* 1 when s is a TLS socket. */
USOCK_API int usock_tls_active(const usock *s);

#ifdef __cplusplus
}
#endif
#endif
