/* error.h -- usock's error codes: one table, three ranges.
 *
 * Every usock call returns >= 0 on success and a negative code on failure.
 * The codes fall in three ranges that never overlap:
 *
 *   -1 .. -2999     system errors: the platform's errno, negated
 *                   (USOCK_ETIMEDOUT == -ETIMEDOUT); USOCK_IS_ERRNO(code)
 *   -3001 .. -3099  resolver failures, USOCK_EAI_* (fixed values, the same
 *                   on every system); USOCK_IS_EAI(code)
 *   -4000 .. -4999  usock's own failures that have no errno: USOCK_EHTTP_*
 *                   (-4001 ..) of the HTTP parser, the URL layer's
 *                   (-4101 ..), the HTTP client's (-4201 ..), TLS's (-4301 ..);
 *                   USOCK_IS_OWN(code)
 *
 * USOCK_ERROR_MAP below is the only list of the codes: the USOCK_E*
 * constants, usock_strerror, usock_errname and the tests all come from it,
 * so a code is added in one place. */
#ifndef USOCK_ERROR_H
#define USOCK_ERROR_H

#include <errno.h>

#if defined(_WIN32)
#define USOCK_API __declspec(dllexport)
#elif defined(__GNUC__)
#define USOCK_API __attribute__((visibility("default")))
#else
#define USOCK_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, value, "message") for every code, in the order of the ranges.
 * NAME is the symbolic name without the USOCK_ prefix (what usock_errname
 * gives); messages are glibc's, so that usock's CLI prints what other
 * tools print. Where two names share a value on a platform (ENOTSUP and
 * EOPNOTSUPP on Linux), the first entry gives the name. */
#define USOCK_ERROR_MAP(X)                                                                  \
    /* system errors: -errno */                                                             \
    X(EPERM, -EPERM, "Operation not permitted")                                             \
    X(ENOENT, -ENOENT, "No such file or directory")                                         \
    X(ESRCH, -ESRCH, "No such process")                                                     \
    X(EINTR, -EINTR, "Interrupted system call")                                             \
    X(EIO, -EIO, "Input/output error")                                                      \
    X(ENXIO, -ENXIO, "No such device or address")                                           \
    X(E2BIG, -E2BIG, "Argument list too long")                                              \
    X(EBADF, -EBADF, "Bad file descriptor")                                                 \
    X(ECHILD, -ECHILD, "No child processes")                                                \
    X(EAGAIN, -EAGAIN, "Resource temporarily unavailable")                                  \
    X(ENOMEM, -ENOMEM, "Cannot allocate memory")                                            \
    X(EACCES, -EACCES, "Permission denied")                                                 \
    X(EFAULT, -EFAULT, "Bad address")                                                       \
    X(EBUSY, -EBUSY, "Device or resource busy")                                             \
    X(EEXIST, -EEXIST, "File exists")                                                       \
    X(EXDEV, -EXDEV, "Invalid cross-device link")                                           \
    X(ENODEV, -ENODEV, "No such device")                                                    \
    X(ENOTDIR, -ENOTDIR, "Not a directory")                                                 \
    X(EISDIR, -EISDIR, "Is a directory")                                                    \
    X(EINVAL, -EINVAL, "Invalid argument")                                                  \
    X(ENFILE, -ENFILE, "Too many open files in system")                                     \
    X(EMFILE, -EMFILE, "Too many open files")                                               \
    X(ENOTTY, -ENOTTY, "Inappropriate ioctl for device")                                    \
    X(ETXTBSY, -ETXTBSY, "Text file busy")                                                  \
    X(EFBIG, -EFBIG, "File too large")                                                      \
    X(ENOSPC, -ENOSPC, "No space left on device")                                           \
    X(ESPIPE, -ESPIPE, "Illegal seek")                                                      \
    X(EROFS, -EROFS, "Read-only file system")                                               \
    X(EMLINK, -EMLINK, "Too many links")                                                    \
    X(EPIPE, -EPIPE, "Broken pipe")                                                         \
    X(EDOM, -EDOM, "Numerical argument out of domain")                                      \
    X(ERANGE, -ERANGE, "Numerical result out of range")                                     \
    X(EDEADLK, -EDEADLK, "Resource deadlock avoided")                                       \
    X(ENAMETOOLONG, -ENAMETOOLONG, "File name too long")                                    \
    X(ENOLCK, -ENOLCK, "No locks available")                                                \
    X(ENOSYS, -ENOSYS, "Function not implemented")                                          \
    X(ENOTEMPTY, -ENOTEMPTY, "Directory not empty")                                         \
    X(ELOOP, -ELOOP, "Too many levels of symbolic links")                                   \
    X(EBADMSG, -EBADMSG, "Bad message")                                                     \
    X(EPROTO, -EPROTO, "Protocol error")                                                    \
    X(EOVERFLOW, -EOVERFLOW, "Value too large for defined data type")                       \
    X(EILSEQ, -EILSEQ, "Invalid or incomplete multibyte or wide character")                 \
    X(ENOTSOCK, -ENOTSOCK, "Socket operation on non-socket")                                \
    X(EDESTADDRREQ, -EDESTADDRREQ, "Destination address required")                          \
    X(EMSGSIZE, -EMSGSIZE, "Message too long")                                              \
    X(EPROTOTYPE, -EPROTOTYPE, "Protocol wrong type for socket")                            \
    X(ENOPROTOOPT, -ENOPROTOOPT, "Protocol not available")                                  \
    X(EPROTONOSUPPORT, -EPROTONOSUPPORT, "Protocol not supported")                          \
    X(EOPNOTSUPP, -EOPNOTSUPP, "Operation not supported")                                   \
    X(ENOTSUP, -ENOTSUP, "Operation not supported")                                         \
    X(EAFNOSUPPORT, -EAFNOSUPPORT, "Address family not supported by protocol")              \
    X(EADDRINUSE, -EADDRINUSE, "Address already in use")                                    \
    X(EADDRNOTAVAIL, -EADDRNOTAVAIL, "Cannot assign requested address")                     \
    X(ENETDOWN, -ENETDOWN, "Network is down")                                               \
    X(ENETUNREACH, -ENETUNREACH, "Network is unreachable")                                  \
    X(ECONNABORTED, -ECONNABORTED, "Software caused connection abort")                      \
    X(ECONNRESET, -ECONNRESET, "Connection reset by peer")                                  \
    X(ENOBUFS, -ENOBUFS, "No buffer space available")                                       \
    X(EISCONN, -EISCONN, "Transport endpoint is already connected")                         \
    X(ENOTCONN, -ENOTCONN, "Transport endpoint is not connected")                           \
    X(ESHUTDOWN, -ESHUTDOWN, "Cannot send after transport endpoint shutdown")               \
    X(ETIMEDOUT, -ETIMEDOUT, "Connection timed out")                                        \
    X(ECONNREFUSED, -ECONNREFUSED, "Connection refused")                                    \
    X(EHOSTDOWN, -EHOSTDOWN, "Host is down")                                                \
    X(EHOSTUNREACH, -EHOSTUNREACH, "No route to host")                                      \
    X(EALREADY, -EALREADY, "Operation already in progress")                                 \
    X(EINPROGRESS, -EINPROGRESS, "Operation now in progress")                               \
    X(EDQUOT, -EDQUOT, "Disk quota exceeded")                                               \
    X(ECANCELED, -ECANCELED, "Operation canceled")                                          \
    /* resolver failures: -3001 .. -3099, values fixed (MicroPython keeps    */             \
    /* getaddrinfo's errors apart from errno the same way)                   */             \
    X(EAI_ADDRFAMILY, -3001, "Address family for hostname not supported")                   \
    X(EAI_AGAIN, -3002, "Temporary failure in name resolution")                             \
    X(EAI_BADFLAGS, -3003, "Bad value for ai_flags")                                        \
    X(EAI_FAIL, -3004, "Non-recoverable failure in name resolution")                        \
    X(EAI_FAMILY, -3005, "ai_family not supported")                                         \
    X(EAI_MEMORY, -3006, "Memory allocation failure")                                       \
    X(EAI_NODATA, -3007, "No address associated with hostname")                             \
    X(EAI_NONAME, -3008, "Name or service not known")                                       \
    X(EAI_SERVICE, -3009, "Servname not supported for ai_socktype")                         \
    X(EAI_SOCKTYPE, -3010, "ai_socktype not supported")                                     \
    X(EAI_OVERFLOW, -3011, "Result too large for supplied buffer")                          \
    /* usock's own: -4000 .. -4999. The HTTP layer's (http.h): */                           \
    X(EHTTP_BAD_METHOD, -4001, "Invalid HTTP method")                                       \
    X(EHTTP_BAD_TARGET, -4002, "Invalid HTTP request target")                               \
    X(EHTTP_BAD_VERSION, -4003, "Invalid HTTP version")                                     \
    X(EHTTP_VERSION, -4004, "HTTP version not supported")                                   \
    X(EHTTP_BAD_STATUS, -4005, "Invalid HTTP status line")                                  \
    X(EHTTP_BAD_HEADER_NAME, -4006, "Invalid HTTP header name")                             \
    X(EHTTP_BAD_HEADER_VALUE, -4007, "Invalid character in HTTP header value")              \
    X(EHTTP_SPACE_BEFORE_COLON, -4008, "Whitespace before colon in HTTP header")            \
    X(EHTTP_OBS_FOLD, -4009, "Obsolete line folding in HTTP header")                        \
    X(EHTTP_BAD_EOL, -4010, "Bare CR or LF in HTTP message")                                \
    X(EHTTP_BAD_CONTENT_LENGTH, -4011, "Invalid HTTP Content-Length")                       \
    X(EHTTP_DUP_CONTENT_LENGTH, -4012, "Differing HTTP Content-Length headers")             \
    X(EHTTP_CL_AND_TE, -4013, "HTTP Content-Length with Transfer-Encoding")                 \
    X(EHTTP_BAD_TRANSFER_ENCODING, -4014, "HTTP Transfer-Encoding does not end in chunked") \
    X(EHTTP_UNKNOWN_CODING, -4015, "Unsupported HTTP transfer coding")                      \
    X(EHTTP_BAD_CHUNK, -4016, "Invalid HTTP chunk")                                         \
    X(EHTTP_LINE_TOO_LONG, -4017, "HTTP request or status line too long")                   \
    X(EHTTP_HEAD_TOO_LARGE, -4018, "HTTP header section too large")                         \
    X(EHTTP_TOO_MANY_HEADERS, -4019, "Too many HTTP header fields")                         \
    X(EHTTP_BODY_TOO_LARGE, -4020, "HTTP body too large")                                   \
    X(EHTTP_TRUNCATED, -4021, "HTTP message truncated")                                     \
    X(EHTTP_BAD_HOST, -4022, "Missing or repeated HTTP Host header")                        \
    /* The URL layer's (url.h): */                                                          \
    X(EURL_BAD_SCHEME, -4101, "Invalid URL scheme")                                         \
    X(EURL_BAD_HOST, -4102, "Invalid host in URL")                                          \
    X(EURL_NON_ASCII_HOST, -4103, "Non-ASCII host name in URL (IDNA is not supported)")     \
    X(EURL_BAD_IPV6, -4104, "Invalid IPv6 literal in URL")                                  \
    X(EURL_BAD_PORT, -4105, "Invalid port in URL")                                          \
    X(EURL_BAD_ESCAPE, -4106, "Invalid percent-escape in URL")                              \
    X(EURL_BAD_CHAR, -4107, "Invalid character in URL")                                     \
    X(EURL_RELATIVE, -4108, "Relative URL where an absolute URL is needed")                 \
    X(EURL_NO_HOST, -4109, "URL has no host")                                               \
    X(EURL_NO_PORT, -4110, "URL has no port and its scheme no default port")                \
    X(EURL_TOO_LONG, -4111, "URL or URL component too long")                                \
    X(EURL_BAD_BASE64, -4112, "Invalid base64 data")                                        \
    /* The HTTP client's (request.h): */                                                    \
    X(EHTTP_STATUS, -4201, "HTTP error status")                                             \
    X(EREDIRECT_LOOP, -4202, "HTTP redirect loop")                                          \
    X(ETOO_MANY_REDIRECTS, -4203, "Too many HTTP redirects")                                \
    X(EBODY_NOT_REPLAYABLE, -4204, "Request body cannot be sent again")                     \
    X(EBAD_CONTENT_ENCODING, -4205, "Invalid compressed HTTP body")                         \
    X(ECOOKIE_FILE, -4206, "Malformed cookie file")                                         \
    X(EUNSUPPORTED_SCHEME, -4207, "Unsupported URL scheme")                                 \
    X(EPROXY, -4208, "The proxy refused the tunnel")                                        \
    /* The TLS layer's (tls.h): */                                                          \
    X(ETLS, -4301, "TLS error")                                                             \
    X(ETLS_UNAVAILABLE, -4302, "TLS support not built in")                                  \
    X(ETLS_HANDSHAKE, -4303, "TLS handshake failed")                                        \
    X(ETLS_VERSION, -4304, "TLS protocol version not supported by the peer")                \
    X(ETLS_UNKNOWN_CA, -4305, "TLS certificate from an unknown authority")                  \
    X(ETLS_EXPIRED, -4306, "TLS certificate expired or not yet valid")                      \
    X(ETLS_HOSTNAME, -4307, "TLS certificate does not match the host name")                 \
    X(ETLS_CERT, -4308, "TLS certificate verification failed")                              \
    X(ETLS_FILE, -4309, "Cannot load a TLS certificate, key or CA file")

/* The constants: USOCK_EPERM == -EPERM, ..., USOCK_EAI_NONAME == -3008.
 * An enum (int) rather than macros, so that the table above stays the
 * only list; compare with == as before. */
enum usock_error_code {
#define USOCK__ERROR_ENUM(name, value, message) USOCK_##name = (value),
    USOCK_ERROR_MAP(USOCK__ERROR_ENUM)
#undef USOCK__ERROR_ENUM
};

/* The ranges, each a test for one kind of code. */
#define USOCK_IS_ERRNO(code) ((code) <= -1 && (code) >= -2999)
#define USOCK_IS_EAI(code) ((code) <= -3001 && (code) >= -3099)
#define USOCK_IS_OWN(code) ((code) <= -4000 && (code) >= -4999)

/* A constant English message for any code, never NULL: "Success" for 0,
 * "Connection refused", "Name or service not known"; a code it does not know
 * gives "Unknown error". Thread-safe. */
USOCK_API const char *usock_strerror(int code);

/* The symbolic name of a code ("ECONNREFUSED", "EAI_NONAME"), "OK" for 0,
 * or "UNKNOWN". */
USOCK_API const char *usock_errname(int code);

#ifdef __cplusplus
}
#endif
#endif
