/* error.c -- names and messages for usock's error codes. */
#include "internal.h"

/* One list gives both the names and the messages; messages are glibc's, so
 * that usock's CLI prints what other tools print. */
#define USOCK_ERRORS(X)                                                      \
    X(0, "OK", "Success")                                                     \
    X(USOCK_EPERM, "EPERM", "Operation not permitted")                        \
    X(USOCK_ENOENT, "ENOENT", "No such file or directory")                    \
    X(USOCK_EINTR, "EINTR", "Interrupted system call")                        \
    X(USOCK_EIO, "EIO", "Input/output error")                                 \
    X(USOCK_EBADF, "EBADF", "Bad file descriptor")                            \
    X(USOCK_EAGAIN, "EAGAIN", "Resource temporarily unavailable")             \
    X(USOCK_ENOMEM, "ENOMEM", "Cannot allocate memory")                       \
    X(USOCK_EACCES, "EACCES", "Permission denied")                            \
    X(USOCK_EFAULT, "EFAULT", "Bad address")                                  \
    X(USOCK_EBUSY, "EBUSY", "Device or resource busy")                        \
    X(USOCK_EEXIST, "EEXIST", "File exists")                                  \
    X(USOCK_ENODEV, "ENODEV", "No such device")                               \
    X(USOCK_EINVAL, "EINVAL", "Invalid argument")                             \
    X(USOCK_ENFILE, "ENFILE", "Too many open files in system")                \
    X(USOCK_EMFILE, "EMFILE", "Too many open files")                          \
    X(USOCK_ENOSPC, "ENOSPC", "No space left on device")                      \
    X(USOCK_EPIPE, "EPIPE", "Broken pipe")                                    \
    X(USOCK_ERANGE, "ERANGE", "Numerical result out of range")                \
    X(USOCK_ENAMETOOLONG, "ENAMETOOLONG", "File name too long")               \
    X(USOCK_ENOSYS, "ENOSYS", "Function not implemented")                     \
    X(USOCK_EBADMSG, "EBADMSG", "Bad message")                                \
    X(USOCK_EPROTO, "EPROTO", "Protocol error")                               \
    X(USOCK_EOVERFLOW, "EOVERFLOW", "Value too large for defined data type")  \
    X(USOCK_ENOTSOCK, "ENOTSOCK", "Socket operation on non-socket")           \
    X(USOCK_EDESTADDRREQ, "EDESTADDRREQ", "Destination address required")     \
    X(USOCK_EMSGSIZE, "EMSGSIZE", "Message too long")                         \
    X(USOCK_EPROTOTYPE, "EPROTOTYPE", "Protocol wrong type for socket")       \
    X(USOCK_ENOPROTOOPT, "ENOPROTOOPT", "Protocol not available")             \
    X(USOCK_EPROTONOSUPPORT, "EPROTONOSUPPORT", "Protocol not supported")     \
    X(USOCK_EOPNOTSUPP, "EOPNOTSUPP", "Operation not supported")              \
    X(USOCK_ENOTSUP, "ENOTSUP", "Operation not supported")                    \
    X(USOCK_EAFNOSUPPORT, "EAFNOSUPPORT", "Address family not supported by protocol") \
    X(USOCK_EADDRINUSE, "EADDRINUSE", "Address already in use")               \
    X(USOCK_EADDRNOTAVAIL, "EADDRNOTAVAIL", "Cannot assign requested address") \
    X(USOCK_ENETDOWN, "ENETDOWN", "Network is down")                          \
    X(USOCK_ENETUNREACH, "ENETUNREACH", "Network is unreachable")             \
    X(USOCK_ECONNABORTED, "ECONNABORTED", "Software caused connection abort") \
    X(USOCK_ECONNRESET, "ECONNRESET", "Connection reset by peer")             \
    X(USOCK_ENOBUFS, "ENOBUFS", "No buffer space available")                  \
    X(USOCK_EISCONN, "EISCONN", "Transport endpoint is already connected")    \
    X(USOCK_ENOTCONN, "ENOTCONN", "Transport endpoint is not connected")      \
    X(USOCK_ETIMEDOUT, "ETIMEDOUT", "Connection timed out")                   \
    X(USOCK_ECONNREFUSED, "ECONNREFUSED", "Connection refused")               \
    X(USOCK_EHOSTDOWN, "EHOSTDOWN", "Host is down")                           \
    X(USOCK_EHOSTUNREACH, "EHOSTUNREACH", "No route to host")                 \
    X(USOCK_EALREADY, "EALREADY", "Operation already in progress")            \
    X(USOCK_EINPROGRESS, "EINPROGRESS", "Operation now in progress")          \
    X(USOCK_EAI_ADDRFAMILY, "EAI_ADDRFAMILY", "Address family for hostname not supported") \
    X(USOCK_EAI_AGAIN, "EAI_AGAIN", "Temporary failure in name resolution")   \
    X(USOCK_EAI_BADFLAGS, "EAI_BADFLAGS", "Bad value for ai_flags")           \
    X(USOCK_EAI_FAIL, "EAI_FAIL", "Non-recoverable failure in name resolution") \
    X(USOCK_EAI_FAMILY, "EAI_FAMILY", "ai_family not supported")              \
    X(USOCK_EAI_MEMORY, "EAI_MEMORY", "Memory allocation failure")            \
    X(USOCK_EAI_NODATA, "EAI_NODATA", "No address associated with hostname")  \
    X(USOCK_EAI_NONAME, "EAI_NONAME", "Name or service not known")            \
    X(USOCK_EAI_SERVICE, "EAI_SERVICE", "Servname not supported for ai_socktype") \
    X(USOCK_EAI_SOCKTYPE, "EAI_SOCKTYPE", "ai_socktype not supported")        \
    X(USOCK_EAI_OVERFLOW, "EAI_OVERFLOW", "Result too large for supplied buffer")

struct entry {
    int code;
    const char *name, *message;
};

#define ENTRY(code, name, message) {code, name, message},
static const struct entry entries[] = {USOCK_ERRORS(ENTRY)};

static const struct entry *find(int code)
{
    /* Where two names share a value (ENOTSUP and EOPNOTSUPP on Linux), the
     * first entry wins. */
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++)
        if (entries[i].code == code)
            return &entries[i];
    return NULL;
}

USOCK_API const char *usock_strerror(int code)
{
    const struct entry *e = find(code);
    return e ? e->message : "Unknown error";
}

USOCK_API const char *usock_errname(int code)
{
    const struct entry *e = find(code);
    return e ? e->name : "UNKNOWN";
}
