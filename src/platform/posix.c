/* posix.c -- the platform layer on POSIX systems. The readiness backends
 * behind usock_poll are apart, in poller_epoll.c and poller_poll.c. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Linux has eventfd (since 2.6.22) for the wake-up channel; elsewhere
 * it is a pipe. */
#ifdef __linux__
#define USOCK_HAVE_EVENTFD 1
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#endif

#include "platform.h"
#include "pollbits.h"
#include "usock/poll.h"

/* Linux has MSG_NOSIGNAL; elsewhere SO_NOSIGPIPE is set on the socket. */
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

static int fail(void)
{
    return -errno;
}

int usock__sys_socket(int af, int type, int proto)
{
    int fd = socket(af, type | SOCK_CLOEXEC, proto);
    if (fd < 0)
        return fail();
#ifdef SO_NOSIGPIPE
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
    return fd;
}

int usock__sys_close(int fd)
{
    /* A close interrupted by a signal has still released the descriptor on
     * Linux: retrying could close someone else's, so EINTR is success. */
    if (close(fd) < 0 && errno != EINTR)
        return fail();
    return 0;
}

int usock__sys_set_nonblocking(int fd, int on)
{
    /* one call, where fcntl needs F_GETFL and F_SETFL: once per accepted
     * connection in a server */
    if (ioctl(fd, FIONBIO, &on) < 0)
        return fail();
    return 0;
}

int usock__sys_bind(int fd, const usock_addr *a)
{
    return bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 ? fail() : 0;
}

int usock__sys_listen(int fd, int backlog)
{
    return listen(fd, backlog) < 0 ? fail() : 0;
}

int usock__sys_default_backlog(void)
{
    return SOMAXCONN;
}

int usock__sys_accept(int fd, usock_addr *peer, int nonblock)
{
    int flags = SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0);
    for (;;) {
        usock_addr tmp;
        tmp.len = sizeof tmp.ss;
        int c = accept4(fd, (struct sockaddr *)&tmp.ss, &tmp.len, flags);
        if (c >= 0) {
            if (peer)
                *peer = tmp;
            return c;
        }
        if (errno != EINTR)
            return fail();
    }
}

int usock__sys_connect(int fd, const usock_addr *a)
{
    if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
        return 0;
    /* An interrupted connect goes on in the background, like EINPROGRESS;
     * the caller waits for writability and reads SO_ERROR. */
    return errno == EINTR ? -EINPROGRESS : fail();
}

int usock__sys_socket_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return fail();
    return -err;
}

int usock__sys_socketpair(int af, int type, int proto, int fds[2])
{
    return socketpair(af, type | SOCK_CLOEXEC, proto, fds) < 0 ? fail() : 0;
}

/* The one place where USOCK_MSG_* become the system's flags. */
static int os_flags(int flags)
{
    return (flags & USOCK_MSG_PEEK ? MSG_PEEK : 0) | (flags & USOCK_MSG_DONTWAIT ? MSG_DONTWAIT : 0);
}

ssize_t usock__sys_send(int fd, const void *buf, size_t n, int flags)
{
    for (;;) {
        ssize_t r = send(fd, buf, n, os_flags(flags) | MSG_NOSIGNAL);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return fail();
    }
}

ssize_t usock__sys_sendfile(int sock, int fd, off_t *off, size_t n)
{
    for (;;) {
#ifdef __linux__
        ssize_t r = sendfile(sock, fd, off, n);
#else /* read and send: the same bytes, one copy more */
        char buf[16384];
        ssize_t r = pread(fd, buf, n < sizeof buf ? n : sizeof buf, *off);
        if (r > 0) {
            r = send(sock, buf, (size_t)r, MSG_NOSIGNAL);
            if (r > 0)
                *off += r;
        }
#endif
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return fail();
    }
}

ssize_t usock__sys_recv(int fd, void *buf, size_t n, int flags)
{
    for (;;) {
        ssize_t r = recv(fd, buf, n, os_flags(flags));
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return fail();
    }
}

ssize_t usock__sys_pread(int fd, void *buf, size_t n, off_t off)
{
    for (;;) {
        ssize_t r = pread(fd, buf, n, off);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return fail();
    }
}

ssize_t usock__sys_sendto(int fd, const void *buf, size_t n, const usock_addr *to, int flags)
{
    for (;;) {
        ssize_t r = sendto(fd, buf, n, os_flags(flags) | MSG_NOSIGNAL,
                           (const struct sockaddr *)&to->ss, to->len);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return fail();
    }
}

ssize_t usock__sys_recvfrom(int fd, void *buf, size_t n, usock_addr *from, int flags)
{
    for (;;) {
        usock_addr tmp;
        /* Zeroed: the kernel writes no address at all for a TCP socket or
         * an unnamed AF_UNIX sender, and leaves len 0. */
        memset(&tmp, 0, sizeof tmp);
        tmp.len = sizeof tmp.ss;
        ssize_t r = recvfrom(fd, buf, n, os_flags(flags), (struct sockaddr *)&tmp.ss, &tmp.len);
        if (r >= 0) {
            if (from)
                *from = tmp;
            return r;
        }
        if (errno != EINTR)
            return fail();
    }
}

int usock__sys_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    return setsockopt(fd, level, name, val, len) < 0 ? fail() : 0;
}

int usock__sys_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    return getsockopt(fd, level, name, val, len) < 0 ? fail() : 0;
}

int usock__sys_shutdown(int fd, int how)
{
    return shutdown(fd, how) < 0 ? fail() : 0;
}

int usock__sys_getsockname(int fd, usock_addr *a)
{
    a->len = sizeof a->ss;
    return getsockname(fd, (struct sockaddr *)&a->ss, &a->len) < 0 ? fail() : 0;
}

int usock__sys_getpeername(int fd, usock_addr *a)
{
    a->len = sizeof a->ss;
    return getpeername(fd, (struct sockaddr *)&a->ss, &a->len) < 0 ? fail() : 0;
}

int usock__sys_wait(int fd, int events, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = usock__to_poll_bits(events)};
    int r = poll(&p, 1, timeout_ms);
    if (r < 0)
        return fail();
    return r == 0 ? 0 : usock__from_poll_bits(p.revents);
}

int usock__sys_wait_many(const int *fds, const int *events, int *revents, int n, int timeout_ms)
{
    struct pollfd p[16];
    if (n < 0 || n > 16)
        return -EINVAL;
    for (int i = 0; i < n; i++)
        p[i] = (struct pollfd){.fd = fds[i], .events = usock__to_poll_bits(events[i])};
    int r = poll(p, (nfds_t)n, timeout_ms);
    if (r < 0)
        return fail();
    for (int i = 0; i < n; i++)
        revents[i] = usock__from_poll_bits(p[i].revents);
    return r;
}

int64_t usock__sys_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int eai_code(int eai)
{
    switch (eai) {
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY: return USOCK_EAI_ADDRFAMILY;
#endif
    case EAI_AGAIN: return USOCK_EAI_AGAIN;
    case EAI_BADFLAGS: return USOCK_EAI_BADFLAGS;
    case EAI_FAIL: return USOCK_EAI_FAIL;
    case EAI_FAMILY: return USOCK_EAI_FAMILY;
    case EAI_MEMORY: return USOCK_EAI_MEMORY;
#ifdef EAI_NODATA
    case EAI_NODATA: return USOCK_EAI_NODATA;
#endif
    case EAI_NONAME: return USOCK_EAI_NONAME;
    case EAI_SERVICE: return USOCK_EAI_SERVICE;
    case EAI_SOCKTYPE: return USOCK_EAI_SOCKTYPE;
    case EAI_OVERFLOW: return USOCK_EAI_OVERFLOW;
    case EAI_SYSTEM: return errno ? -errno : USOCK_EAI_FAIL;
    default: return USOCK_EAI_FAIL;
    }
}

int usock__sys_getaddrinfo(const char *host, const char *port, int af, int type, int proto,
                           int flags, usock__sys_addrinfo_fn fn, void *ctx)
{
    struct addrinfo hints = {.ai_family = af, .ai_socktype = type, .ai_protocol = proto,
                             .ai_flags = flags};
    struct addrinfo *list = NULL;
    errno = 0;
    int r = getaddrinfo(host, port, &hints, &list);
    if (r != 0)
        return eai_code(r);
    for (struct addrinfo *ai = list; ai && r == 0; ai = ai->ai_next) {
        usock_addr a;
        if (ai->ai_addrlen > sizeof a.ss)
            continue; /* cannot happen; never copied past the storage */
        memset(&a, 0, sizeof a);
        memcpy(&a.ss, ai->ai_addr, ai->ai_addrlen);
        a.len = ai->ai_addrlen;
        r = fn(ctx, ai->ai_family, ai->ai_socktype, ai->ai_protocol,
               ai->ai_canonname ? ai->ai_canonname : "", &a);
    }
    freeaddrinfo(list);
    return r;
}

unsigned usock__sys_if_nametoindex(const char *name)
{
    return if_nametoindex(name);
}

int usock__sys_if_indextoname(unsigned index, char *buf)
{
    return if_indextoname(index, buf) ? 0 : fail();
}

FILE *usock__sys_fopen_stream(void *cookie, const char *mode, usock__sys_readfn rd,
                              usock__sys_writefn wr)
{
    cookie_io_functions_t io = {.read = rd, .write = wr};
    FILE *f = fopencookie(cookie, mode, io);
    /* Unbuffered: the socket's own read buffer is the only one, so bytes
     * never hide in stdio where usock_recv cannot see them. */
    if (f)
        setvbuf(f, NULL, _IONBF, 0);
    return f;
}

void usock__sys_set_errno(int err)
{
    errno = err;
}

/* ---- the wake-up channel ------------------------------------------------ */

/* Both ends of a pipe, non-blocking so that a wake never blocks (a full
 * pipe is readable already) and a drain stops when it is empty. */
static int open_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return fail();
    return 0;
}

int usock__sys_waker_open(int fds[2])
{
#ifdef USOCK_HAVE_EVENTFD
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd >= 0) {
        fds[0] = fds[1] = fd;
        return 0;
    }
    /* A kernel or sandbox without eventfd still has pipes. */
    if (errno != ENOSYS && errno != EINVAL)
        return fail();
#endif
    return open_pipe(fds);
}

void usock__sys_wake(int wfd)
{
    /* write(2) is async-signal-safe, and errno belongs to the code the
     * signal interrupted. An eventfd adds the 8-byte count to its own; a
     * pipe takes the 8 bytes whole (fewer than PIPE_BUF). EAGAIN (a counter
     * about to overflow, a full pipe) means it is readable already, which
     * is all a wake asks. */
    int saved = errno;
    uint64_t one = 1;
    ssize_t r;
    do {
        r = write(wfd, &one, sizeof one);
    } while (r < 0 && errno == EINTR);
    errno = saved;
}

int usock__sys_wake_drain(int rfd)
{
    char buf[64];
    for (;;) {
        ssize_t r = read(rfd, buf, sizeof buf);
        if (r > 0)
            continue; /* a pipe may hold more */
        if (r == 0)
            return 0;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno != EINTR)
            return fail();
    }
}
