/* error.h -- usock's error codes: -errno for system errors, USOCK_EAI_* for the resolver. */
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

/* System errors are the negated errno of the platform, so a caller can
 * compare with USOCK_ETIMEDOUT or with -ETIMEDOUT alike. */
#define USOCK_EPERM (-EPERM)
#define USOCK_ENOENT (-ENOENT)
#define USOCK_EINTR (-EINTR)
#define USOCK_EIO (-EIO)
#define USOCK_EBADF (-EBADF)
#define USOCK_EAGAIN (-EAGAIN)
#define USOCK_ENOMEM (-ENOMEM)
#define USOCK_EACCES (-EACCES)
#define USOCK_EFAULT (-EFAULT)
#define USOCK_EBUSY (-EBUSY)
#define USOCK_EEXIST (-EEXIST)
#define USOCK_ENODEV (-ENODEV)
#define USOCK_EINVAL (-EINVAL)
#define USOCK_ENFILE (-ENFILE)
#define USOCK_EMFILE (-EMFILE)
#define USOCK_ENOSPC (-ENOSPC)
#define USOCK_EPIPE (-EPIPE)
#define USOCK_ERANGE (-ERANGE)
#define USOCK_ENAMETOOLONG (-ENAMETOOLONG)
#define USOCK_ENOSYS (-ENOSYS)
#define USOCK_ENOTSUP (-ENOTSUP)
#define USOCK_EBADMSG (-EBADMSG)
#define USOCK_EPROTO (-EPROTO)
#define USOCK_EOVERFLOW (-EOVERFLOW)
#define USOCK_ENOTSOCK (-ENOTSOCK)
#define USOCK_EDESTADDRREQ (-EDESTADDRREQ)
#define USOCK_EMSGSIZE (-EMSGSIZE)
#define USOCK_EPROTOTYPE (-EPROTOTYPE)
#define USOCK_ENOPROTOOPT (-ENOPROTOOPT)
#define USOCK_EPROTONOSUPPORT (-EPROTONOSUPPORT)
#define USOCK_EOPNOTSUPP (-EOPNOTSUPP)
#define USOCK_EAFNOSUPPORT (-EAFNOSUPPORT)
#define USOCK_EADDRINUSE (-EADDRINUSE)
#define USOCK_EADDRNOTAVAIL (-EADDRNOTAVAIL)
#define USOCK_ENETDOWN (-ENETDOWN)
#define USOCK_ENETUNREACH (-ENETUNREACH)
#define USOCK_ECONNABORTED (-ECONNABORTED)
#define USOCK_ECONNRESET (-ECONNRESET)
#define USOCK_ENOBUFS (-ENOBUFS)
#define USOCK_EISCONN (-EISCONN)
#define USOCK_ENOTCONN (-ENOTCONN)
#define USOCK_ETIMEDOUT (-ETIMEDOUT)
#define USOCK_ECONNREFUSED (-ECONNREFUSED)
#define USOCK_EHOSTDOWN (-EHOSTDOWN)
#define USOCK_EHOSTUNREACH (-EHOSTUNREACH)
#define USOCK_EALREADY (-EALREADY)
#define USOCK_EINPROGRESS (-EINPROGRESS)

/* Resolver failures: a range of their own, below -3000, as MicroPython keeps
 * getaddrinfo's errors apart from errno. */
#define USOCK_EAI_ADDRFAMILY (-3001) /* host has no address in the family */
#define USOCK_EAI_AGAIN (-3002)      /* temporary failure in name resolution */
#define USOCK_EAI_BADFLAGS (-3003)   /* bad value for flags */
#define USOCK_EAI_FAIL (-3004)       /* non-recoverable failure */
#define USOCK_EAI_FAMILY (-3005)     /* family not supported */
#define USOCK_EAI_MEMORY (-3006)     /* out of memory */
#define USOCK_EAI_NODATA (-3007)     /* no address associated with the name */
#define USOCK_EAI_NONAME (-3008)     /* name or service not known */
#define USOCK_EAI_SERVICE (-3009)    /* service not supported for the socket type */
#define USOCK_EAI_SOCKTYPE (-3010)   /* socket type not supported */
#define USOCK_EAI_OVERFLOW (-3011)   /* argument buffer overflow */

/* True when code is one of the USOCK_EAI_* resolver codes. */
#define USOCK_IS_EAI(code) ((code) <= -3001 && (code) >= -3099)

/* A constant English message for any code, never NULL: "Success" for 0,
 * "Connection refused", "Name or service not known"; a code it does not know
 * gives "Unknown error". Thread-safe. */
USOCK_API const char *usock_strerror(int code);

/* The symbolic name of a code ("ECONNREFUSED", "EAI_NONAME"), or "UNKNOWN". */
USOCK_API const char *usock_errname(int code);

#ifdef __cplusplus
}
#endif
#endif
