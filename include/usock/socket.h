/* socket.h -- the usocket module: addresses, resolver, sockets, stream I/O. */
#ifndef USOCK_SOCKET_H
#define USOCK_SOCKET_H

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <netdb.h>

#include "usock/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An address: the tuple forms ("1.2.3.4", 80) and ("::1", 80, flowinfo,
 * scopeid) of Python, or an AF_UNIX path, held as the sockaddr the kernel
 * takes. */
typedef struct usock_addr {
    struct sockaddr_storage ss;
    socklen_t len;
} usock_addr;

/* Longest text usock_addr_format can produce, NUL included: an AF_UNIX
 * "@" + abstract name (sun_path, 108 bytes on Linux, less one) + NUL, more
 * than an IP's "[" + 45 (v6 with v4 tail) + "%" + interface (15) + "]:" +
 * 5 + NUL (72). */
#define USOCK_ADDRSTRLEN 110

/* Fills *a from a numeric IP and a port 0..65535. "1.2.3.4", "::1" and
 * "fe80::1%eth0" (scope by interface name or number) are taken; "" is the
 * IPv4 any address (Python's ''). Names are not resolved: use
 * usock_getaddrinfo. Errors: USOCK_EINVAL (not numeric, bad port),
 * USOCK_ENODEV (unknown interface). */
USOCK_API int usock_addr_from_ip(usock_addr *a, const char *ip, int port);

/* Writes "1.2.3.4:80" or "[::1]:80" ("[fe80::1%eth0]:80" with a scope) into
 * buf and returns its length; an AF_UNIX address is its path, "@name" for
 * an abstract one, "" for an unnamed one. Errors: USOCK_ENOSPC (cap too
 * small; buf then holds ""), USOCK_EAFNOSUPPORT, USOCK_EINVAL. */
USOCK_API int usock_addr_format(const usock_addr *a, char *buf, size_t cap);

/* The inverse of usock_addr_format: "1.2.3.4:80", "[::1]:80",
 * "[fe80::1%eth0]:80". Numeric only; port 0..65535 in decimal digits.
 * Text that starts with '/' or '@' or holds a '/' is an AF_UNIX address
 * (usock_addr_from_path). Errors: USOCK_EINVAL, USOCK_ENODEV (unknown
 * interface), USOCK_ENAMETOOLONG (a path longer than sun_path). */
USOCK_API int usock_addr_parse(usock_addr *a, const char *text);

/* The port of an address (host order), USOCK_EAFNOSUPPORT (AF_UNIX, an
 * unset address), or USOCK_EINVAL for NULL. */
USOCK_API int usock_addr_port(const usock_addr *a);

/* The family of an address: AF_INET, AF_INET6, AF_UNIX, or 0 when unset. */
USOCK_API int usock_addr_family(const usock_addr *a);

/* One entry of a getaddrinfo answer: Python's (family, type, proto,
 * canonname, sockaddr) tuple. */
typedef struct usock_addrinfo {
    int family, type, proto;
    const char *canonname; /* "" when none */
    usock_addr addr;
    struct usock_addrinfo *next;
} usock_addrinfo;

/* Resolves host and port into a list that *res owns (free it with
 * usock_freeaddrinfo). af, type, proto filter the answer (0 = any); flags
 * are AI_* (AI_CANONNAME, AI_PASSIVE, AI_NUMERICHOST, ...). host NULL or ""
 * means the loopback address, or the any address with AI_PASSIVE.
 * Errors: USOCK_EAI_* for resolver failures, USOCK_EINVAL for a port
 * outside 0..65535, other negative errno for system errors. */
USOCK_API int usock_getaddrinfo(const char *host, int port, int af, int type, int proto,
                                int flags, usock_addrinfo **res);
USOCK_API void usock_freeaddrinfo(usock_addrinfo *res); /* NULL ok */

/* Text to binary for AF_INET (4 bytes into dst) and AF_INET6 (16 bytes):
 * accepts exactly what glibc's inet_pton accepts (no scope, no leading
 * zeros in IPv4). Returns 0, or USOCK_EINVAL for text it rejects,
 * USOCK_EAFNOSUPPORT for another family. */
USOCK_API int usock_inet_pton(int af, const char *src, void *dst);

/* Binary to text as glibc prints it (RFC 5952 for IPv6). Returns the
 * length. Errors: USOCK_ENOSPC (cap too small), USOCK_EAFNOSUPPORT. */
USOCK_API int usock_inet_ntop(int af, const void *src, char *dst, size_t cap);

/* The socket object. Opaque; one thread uses it at a time. */
typedef struct usock usock;

/* Creates a socket; af, type, proto all 0 mean AF_INET, SOCK_STREAM, TCP.
 * The socket starts blocking (timeout None). */
USOCK_API int usock_socket(usock **out, int af, int type, int proto);

/* Closes the descriptor and frees the object; NULL ok. Returns 0 or the
 * close error (the object is freed either way). */
USOCK_API int usock_close(usock *s);

USOCK_API int usock_bind(usock *s, const usock_addr *a);
USOCK_API int usock_listen(usock *s, int backlog); /* backlog < 0: a sane default */

/* Accepts a connection into *conn (blocking, timeout None, as in Python)
 * and the peer's address into *peer (NULL ok). Bounded by s's timeout. */
USOCK_API int usock_accept(usock *s, usock **conn, usock_addr *peer);

/* usock_accept with flags: USOCK_ACCEPT_NONBLOCK makes the new socket
 * non-blocking (timeout 0) from the start, as Linux's accept4 does -- one
 * system call fewer per connection for an event loop. */
#define USOCK_ACCEPT_NONBLOCK 1
USOCK_API int usock_accept4(usock *s, usock **conn, usock_addr *peer, int flags);

/* Connects, bounded by the timeout. A non-blocking socket fails with
 * USOCK_EINPROGRESS (as Python and MicroPython do); poll for POLLOUT, then
 * usock_connect again gives 0 or the connection's error. */
USOCK_API int usock_connect(usock *s, const usock_addr *a);

/* One send: may be short. Never raises SIGPIPE. */
USOCK_API ssize_t usock_send(usock *s, const void *buf, size_t n);

/* One send of up to n bytes of the open file fd from *offset, which is
 * advanced by what went (sendfile(2) where there is one; the file's own
 * position is untouched): one piece of Python's socket.sendfile. May be
 * short; 0 at the end of the file; bounded by the timeout as usock_send.
 * sendfile(2) has no MSG_NOSIGNAL: to a peer gone it may raise SIGPIPE,
 * so block or ignore SIGPIPE in the calling thread. */
USOCK_API ssize_t usock_sendfile(usock *s, int fd, off_t *offset, size_t n);

/* Sends all n bytes, retrying short writes; the timeout bounds the whole
 * call (CPython's rule). Returns 0. */
USOCK_API int usock_sendall(usock *s, const void *buf, size_t n);

/* Up to n bytes: from the socket's buffer if it holds any, else one read
 * from the kernel. 0 at EOF. */
USOCK_API ssize_t usock_recv(usock *s, void *buf, size_t n);

/* One datagram to `to`. The one call that several threads may make on one
 * socket at once (a datagram server's handlers answering through it, as
 * Python's ThreadingUDPServer does), while another receives. */
USOCK_API ssize_t usock_sendto(usock *s, const void *buf, size_t n, const usock_addr *to);
USOCK_API ssize_t usock_recvfrom(usock *s, void *buf, size_t n, usock_addr *from);

USOCK_API int usock_setsockopt(usock *s, int level, int name, const void *val, socklen_t len);
USOCK_API int usock_getsockopt(usock *s, int level, int name, void *val, socklen_t *len);

/* seconds < 0: blocking (None); 0: non-blocking; > 0: every blocking call
 * fails with USOCK_ETIMEDOUT after that long. NaN: USOCK_EINVAL; more than
 * INT_MAX milliseconds (about 24.8 days): USOCK_ERANGE. */
USOCK_API int usock_settimeout(usock *s, double seconds);
USOCK_API double usock_gettimeout(const usock *s); /* -1.0 for None */
USOCK_API int usock_setblocking(usock *s, int flag); /* flag ? None : 0 */

/* readinto: n bytes unless EOF, the timeout, would-block or an error comes
 * first; then the short count of what arrived before it (the error comes
 * again from the next call), or the error when nothing at all arrived. */
USOCK_API ssize_t usock_read(usock *s, void *buf, size_t n);

/* read(): everything until EOF into a malloc'd *out (NUL-ended, *len
 * without it). On error nothing is returned and nothing leaks. */
USOCK_API int usock_readall(usock *s, char **out, size_t *len);

/* One line through '\n' (or cap - 1 bytes of a longer one, or what came
 * before EOF, the timeout, would-block or an error), NUL-ended; returns its
 * length, 0 at EOF. USOCK_EINVAL if cap < 2. */
USOCK_API ssize_t usock_readline(usock *s, char *buf, size_t cap);

/* All n bytes when blocking; otherwise the count written before it would
 * block, timed out or failed (the error comes again from the next call),
 * or the error when nothing was written. */
USOCK_API ssize_t usock_write(usock *s, const void *buf, size_t n);

/* A stdio stream over the socket (unbuffered, so it shares the socket's
 * read buffer): "r", "w", "r+", "rb", "wb", "rwb", "rw". fclose() releases
 * the stream, not the socket. NULL with errno set on failure. */
USOCK_API FILE *usock_makefile(usock *s, const char *mode);

USOCK_API int usock_fileno(const usock *s);

/* Shuts down reading (SHUT_RD), writing (SHUT_WR) or both (SHUT_RDWR). */
USOCK_API int usock_shutdown(usock *s, int how);

/* The local and remote addresses (Python's getsockname, getpeername). */
USOCK_API int usock_getsockname(usock *s, usock_addr *a);
USOCK_API int usock_getpeername(usock *s, usock_addr *a);

/* Bytes already in the socket's read buffer (returned by the next recv). */
USOCK_API size_t usock_pending(const usock *s);

/* ---- flags on receive and send (Python's recv(n, flags)) --------------- */

/* USOCK_MSG_PEEK: return bytes without consuming them; bytes in the
 * socket's own read buffer first, the kernel's only when it is empty.
 * USOCK_MSG_DONTWAIT: this one call does not wait, whatever the timeout
 * (USOCK_EAGAIN when it would). Other bits give USOCK_EINVAL. */
#define USOCK_MSG_PEEK 0x1
#define USOCK_MSG_DONTWAIT 0x2
USOCK_API ssize_t usock_recv_flags(usock *s, void *buf, size_t n, int flags);
USOCK_API ssize_t usock_recvfrom_flags(usock *s, void *buf, size_t n, usock_addr *from,
                                       int flags);
USOCK_API ssize_t usock_send_flags(usock *s, const void *buf, size_t n, int flags);
USOCK_API ssize_t usock_sendto_flags(usock *s, const void *buf, size_t n, const usock_addr *to,
                                     int flags);

/* Bytes this socket has received from and sent to the kernel since it was
 * made (either pointer may be NULL). For servers' counters. */
USOCK_API void usock_iostat(const usock *s, unsigned long long *in, unsigned long long *out);

/* ---- Unix-domain sockets ------------------------------------------------ */

/* Fills *a with an AF_UNIX address. A leading '@' names a Linux abstract
 * socket ("@name": no file; the '@' becomes the NUL byte). Errors:
 * USOCK_EINVAL (NULL, ""), USOCK_ENAMETOOLONG (longer than sun_path). */
USOCK_API int usock_addr_from_path(usock_addr *a, const char *path);

/* A connected pair (Python's socket.socketpair): af 0 means AF_UNIX, type 0
 * SOCK_STREAM. Both blocking. */
USOCK_API int usock_socketpair(usock **a, usock **b, int af, int type);

/* ---- a resolver that a timeout bounds (c-ares) --------------------------- */

/* getaddrinfo's answers through c-ares: /etc/hosts first, then the DNS
 * servers of /etc/resolv.conf, as glibc, or the servers given; and a
 * lookup stops when its time is up, which glibc's cannot. One resolver
 * may serve several threads at once. */
typedef struct usock_resolver usock_resolver;

/* servers: "ADDR[:PORT],..." ("127.0.0.1:5353,[::1]:53"), or NULL for
 * resolv.conf's. Errors: USOCK_EINVAL (a bad list), USOCK_ENOMEM. */
USOCK_API int usock_resolver_new(usock_resolver **out, const char *servers);
USOCK_API void usock_resolver_free(usock_resolver *r); /* NULL ok */

/* usock_getaddrinfo through r (flags: 0, AI_CANONNAME, AI_NUMERICHOST),
 * giving up after timeout seconds (< 0: when the resolver's own retries
 * are spent) with USOCK_ETIMEDOUT. "localhost" and names under
 * ".localhost" are the loopback addresses (RFC 6761). Other errors:
 * USOCK_EAI_NONAME (no such name), USOCK_EAI_NODATA (no address of that
 * family), USOCK_EAI_AGAIN (no server answered), USOCK_EINVAL. */
USOCK_API int usock_resolver_getaddrinfo(usock_resolver *r, const char *host, int port, int af,
                                         int type, int flags, double timeout,
                                         usock_addrinfo **res);

/* ---- helpers of Python's socket module ----------------------------------- */

/* A port in decimal, "0".."65535", no sign, no spaces: returns it, or
 * USOCK_EINVAL. */
USOCK_API int usock_parse_port(const char *text);

/* Python's socket.create_connection, with Happy Eyeballs (RFC 8305):
 * resolves host (name or number), orders the addresses IPv6 and IPv4 in
 * turn (the resolver's first family first), and starts a connection
 * attempt to each, the next one 250 ms after the last without waiting
 * for it to fail (at once when it does); the first to connect wins and
 * the others are closed. Each attempt is bounded by timeout (< 0: none);
 * the winner has that timeout set. Returns the last attempt's error when
 * none connects. source (NULL ok) is bound first. */
USOCK_API int usock_create_connection(usock **out, const char *host, int port, double timeout,
                                      const usock_addr *source);

/* The same with everything settable. */
typedef struct usock_connect_opts {
    double timeout;           /* each attempt, and the socket's after; < 0 none (the default) */
    double deadline;          /* the whole call, resolution included, in seconds; < 0 none */
    const usock_addr *source; /* bound first; NULL none */
    usock_resolver *resolver; /* NULL: usock_getaddrinfo (which no deadline bounds) */
    double attempt_delay;     /* between two attempts' starts; 0.25 s */
    /* out: what the error was met at: "resolve", or the address of the
     * last attempt ("[::1]:80"). */
    char where[USOCK_ADDRSTRLEN];
} usock_connect_opts;

USOCK_API void usock_connect_opts_init(usock_connect_opts *o);
/* Errors: usock_create_connection's, and USOCK_ETIMEDOUT when the
 * deadline passes (o->where says where: resolving or connecting). */
USOCK_API int usock_create_connection_opts(usock **out, const char *host, int port,
                                           usock_connect_opts *o);

/* Python's socket.create_server: a socket bound to addr and listening with
 * backlog (< 0: a sane default). SO_REUSEADDR is on (not for AF_UNIX)
 * unless USOCK_CS_NO_REUSEADDR; USOCK_CS_REUSEPORT sets SO_REUSEPORT;
 * USOCK_CS_DUALSTACK makes an IPv6 listener take IPv4 too (IPV6_V6ONLY
 * off; USOCK_EINVAL for an IPv4 address); without it an IPv6 listener is
 * IPv6 only. USOCK_CS_DGRAM binds a datagram socket (no listen). */
#define USOCK_CS_REUSEPORT 0x1
#define USOCK_CS_DUALSTACK 0x2
#define USOCK_CS_NO_REUSEADDR 0x4
#define USOCK_CS_DGRAM 0x8
USOCK_API int usock_create_server(usock **out, const usock_addr *addr, int backlog, int flags);

#ifdef __cplusplus
}
#endif
#endif
