/* platform.h -- the only interface between usock and the operating system.
 *
 * Every function returns >= 0 on success and a negative errno on failure,
 * retries EINTR where that is safe, and never raises SIGPIPE. posix.c is
 * the POSIX/Linux body; a port (lwIP) provides the same functions. */
#ifndef USOCK_PLATFORM_H
#define USOCK_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "usock/socket.h"

/* Descriptors. Sockets are created close-on-exec. */
int usock__sys_socket(int af, int type, int proto);
int usock__sys_close(int fd);
int usock__sys_set_nonblocking(int fd, int on);
int usock__sys_bind(int fd, const usock_addr *a);
int usock__sys_listen(int fd, int backlog);
int usock__sys_accept(int fd, usock_addr *peer, int nonblock); /* new fd, close-on-exec */
int usock__sys_connect(int fd, const usock_addr *a); /* may give -EINPROGRESS */
int usock__sys_socket_error(int fd);                 /* SO_ERROR as -errno, or 0 */
int usock__sys_socketpair(int af, int type, int proto, int fds[2]);
/* I/O with flags: USOCK_MSG_* bits, turned into the system's here and
 * nowhere else. recvfrom's *from is zeroed (len 0) when the kernel gives
 * no address (TCP, an unnamed AF_UNIX sender). */
ssize_t usock__sys_send(int fd, const void *buf, size_t n, int flags);
/* Up to n bytes of file fd from *off to socket sock, *off advanced. */
ssize_t usock__sys_sendfile(int sock, int fd, off_t *off, size_t n);
ssize_t usock__sys_recv(int fd, void *buf, size_t n, int flags);
/* Up to n bytes of file fd at off (its position unchanged). */
ssize_t usock__sys_pread(int fd, void *buf, size_t n, off_t off);
ssize_t usock__sys_sendto(int fd, const void *buf, size_t n, const usock_addr *to, int flags);
ssize_t usock__sys_recvfrom(int fd, void *buf, size_t n, usock_addr *from, int flags);
int usock__sys_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int usock__sys_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int usock__sys_shutdown(int fd, int how);
int usock__sys_getsockname(int fd, usock_addr *a);
int usock__sys_getpeername(int fd, usock_addr *a);
int usock__sys_default_backlog(void);

/* Waits until fd is ready for events (USOCK_POLL* bits) or timeout_ms
 * passes (< 0: forever). Returns the ready bits, 0 on timeout. EINTR gives
 * -EINTR so that the caller recomputes its deadline. */
int usock__sys_wait(int fd, int events, int timeout_ms);

/* The same for n descriptors at once: revents[i] gets fds[i]'s ready
 * bits. Returns how many are ready, 0 on timeout, or -EINTR. */
int usock__sys_wait_many(const int *fds, const int *events, int *revents, int n, int timeout_ms);

/* Monotonic milliseconds, for deadlines. */
int64_t usock__sys_now_ms(void);

/* The resolver: getaddrinfo, each entry of the answer handed to fn in
 * order (canonname "" when none; both pointers valid during the call
 * only), errors mapped to USOCK_EAI_* (EAI_SYSTEM to -errno). fn returns 0
 * to go on or a negative code, which stops the walk and is returned. The
 * platform allocates nothing that outlives the call: the caller builds
 * its own list. */
typedef int (*usock__sys_addrinfo_fn)(void *ctx, int family, int type, int proto,
                                      const char *canonname, const usock_addr *addr);
int usock__sys_getaddrinfo(const char *host, const char *port, int af, int type, int proto,
                           int flags, usock__sys_addrinfo_fn fn, void *ctx);

/* Interfaces for IPv6 scopes: index of a name (0 if none), name of an
 * index into buf (IF_NAMESIZE bytes), or a negative errno. */
unsigned usock__sys_if_nametoindex(const char *name);
int usock__sys_if_indextoname(unsigned index, char *buf);

/* A stdio stream whose reads and writes call these functions with cookie;
 * they return a count or -1 with errno set. */
typedef ssize_t (*usock__sys_readfn)(void *cookie, char *buf, size_t n);
typedef ssize_t (*usock__sys_writefn)(void *cookie, const char *buf, size_t n);
FILE *usock__sys_fopen_stream(void *cookie, const char *mode, usock__sys_readfn rd,
                              usock__sys_writefn wr);
void usock__sys_set_errno(int err);

/* A wake-up channel: fds[0] turns readable after usock__sys_wake(fds[1])
 * and stays so until usock__sys_wake_drain(fds[0]). An eventfd where the
 * system has one (then fds[0] == fds[1]), else a pipe; non-blocking and
 * close-on-exec. usock__sys_wake is async-signal-safe and keeps errno. */
int usock__sys_waker_open(int fds[2]);
void usock__sys_wake(int wfd);
int usock__sys_wake_drain(int rfd);

/* The readiness backend behind usock_poll, one file each, chosen by CMake
 * (USOCK_POLL_BACKEND): poller_epoll.c on Linux, poller_poll.c (poll(2))
 * elsewhere. Slots are small integers chosen by the caller; wait reports
 * (slot, revents) pairs. */
typedef struct usock__sys_poller usock__sys_poller;
int usock__sys_poller_new(usock__sys_poller **out);
int usock__sys_poller_add(usock__sys_poller *p, int fd, int slot, int events);
int usock__sys_poller_mod(usock__sys_poller *p, int fd, int slot, int events);
int usock__sys_poller_del(usock__sys_poller *p, int fd, int slot);
/* Fills up to max (slot, revents) pairs, returns their count, 0 on timeout,
 * -EINTR when interrupted. */
int usock__sys_poller_wait(usock__sys_poller *p, int timeout_ms, int *slots, int *revents,
                           int max);
void usock__sys_poller_free(usock__sys_poller *p);
const char *usock__sys_poller_name(void); /* "epoll" or "poll" */

#endif
