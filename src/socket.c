/* socket.c -- the socket object: timeouts, the shared read buffer, stream I/O. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "platform/platform.h"

/* Deadlines: -1 waits forever, 0 never waits (non-blocking), otherwise the
 * monotonic millisecond at which the call gives up. One deadline is taken
 * per public call, so a timeout bounds the whole call, not each syscall. */
static int64_t deadline_of(const usock *s)
{
    if (s->timeout_ms <= 0)
        return s->timeout_ms;
    return usock__sys_now_ms() + s->timeout_ms;
}

/* Waits until the socket is ready for events or the deadline passes. */
static int wait_ready(usock *s, int events, int64_t deadline)
{
    for (;;) {
        int ms = -1;
        if (deadline == 0)
            return USOCK_EAGAIN;
        if (deadline > 0) {
            int64_t left = deadline - usock__sys_now_ms();
            if (left <= 0)
                return USOCK_ETIMEDOUT;
            ms = left > INT_MAX ? INT_MAX : (int)left;
        }
        int r = usock__sys_wait(s->fd, events, ms);
        if (r == USOCK_EINTR)
            continue;
        if (r < 0)
            return r;
        if (r == 0)
            return USOCK_ETIMEDOUT;
        return 0;
    }
}

/* A flags call with USOCK_MSG_DONTWAIT never waits, whatever the timeout. */
static int64_t deadline_for(const usock *s, int flags)
{
    return flags & USOCK_MSG_DONTWAIT ? 0 : deadline_of(s);
}

#define RECV_FLAGS (USOCK_MSG_PEEK | USOCK_MSG_DONTWAIT)
#define SEND_FLAGS USOCK_MSG_DONTWAIT /* peeking means nothing to a send */

/* The kernel reports a reset (and any connection error) once, then EOF or
 * EPIPE, as CPython and MicroPython show it. A call that got some bytes
 * before the error returns their count, so the error is kept here and the
 * next call reports it instead: reported once, never lost. A timeout or
 * would-block is not kept: the next call meets it again by itself. */
static void keep(usock *s, ssize_t err)
{
    if (err != USOCK_EAGAIN && err != USOCK_ETIMEDOUT)
        s->err = (int)err;
}

/* What a call that moved got bytes before err returns. */
static ssize_t short_or_error(usock *s, size_t got, ssize_t err)
{
    if (!got)
        return err;
    keep(s, err);
    return (ssize_t)got;
}

/* The kept error, once. */
static int take_error(usock *s)
{
    int e = s->err;
    s->err = 0;
    return e;
}

/* Kernel I/O that waits on EAGAIN when the socket has a timeout. A blocking
 * socket only sees EAGAIN from a user-set SO_RCVTIMEO/SO_SNDTIMEO, which is
 * passed through. */
static int should_wait(const usock *s, ssize_t r)
{
    return (r == USOCK_EAGAIN || r == -EWOULDBLOCK) && s->timeout_ms >= 0;
}

/* Counts what came from the kernel; a peek took nothing from it. */
static ssize_t count_in(usock *s, ssize_t r, int flags)
{
    if (r > 0 && !(flags & USOCK_MSG_PEEK))
        atomic_fetch_add_explicit(&s->bytes_in, (unsigned long long)r, memory_order_relaxed);
    return r;
}

static ssize_t count_out(usock *s, ssize_t r)
{
    if (r > 0)
        atomic_fetch_add_explicit(&s->bytes_out, (unsigned long long)r, memory_order_relaxed);
    return r;
}

int64_t usock__deadline(const usock *s)
{
    return deadline_of(s);
}

int usock__wait(usock *s, int events, int64_t deadline)
{
    return wait_ready(s, events, deadline);
}

ssize_t usock__raw_recv(usock *s, void *buf, size_t n, int flags)
{
    return count_in(s, usock__sys_recv(s->fd, buf, n, flags), flags);
}

ssize_t usock__raw_send(usock *s, const void *buf, size_t n, int flags)
{
    return count_out(s, usock__sys_send(s->fd, buf, n, flags));
}

/* Through the layer when there is one (which counts the wire's bytes). */
static ssize_t io_recv(usock *s, void *buf, size_t n, int flags, int64_t deadline)
{
    for (;;) {
        int want = USOCK_POLLIN;
        ssize_t r = s->layer ? s->layer->recv(s, buf, n, flags, &want)
                             : usock__raw_recv(s, buf, n, flags);
        if (!should_wait(s, r)) {
            if (r > 0 && s->layer && s->layer->pending(s))
                usock__poll_note_buffered(s); /* more is in, decrypted or not */
            return r;
        }
        int w = wait_ready(s, want, deadline);
        if (w < 0)
            return w;
    }
}

static ssize_t io_send(usock *s, const void *buf, size_t n, int flags, int64_t deadline)
{
    for (;;) {
        int want = USOCK_POLLOUT;
        ssize_t r = s->layer ? s->layer->send(s, buf, n, flags, &want)
                             : usock__raw_send(s, buf, n, flags);
        if (!should_wait(s, r))
            return r;
        int w = wait_ready(s, want, deadline);
        if (w < 0)
            return w;
    }
}

static size_t pending(const usock *s)
{
    return s->rlen - s->rpos;
}

/* Moves up to n buffered bytes to buf. */
static size_t take(usock *s, void *buf, size_t n)
{
    size_t k = pending(s) < n ? pending(s) : n;
    if (k == 0) /* rbuf may still be NULL */
        return 0;
    memcpy(buf, s->rbuf + s->rpos, k);
    s->rpos += k;
    return k;
}

/* Copies up to n buffered bytes to buf, leaving them buffered. */
static size_t peek(const usock *s, void *buf, size_t n)
{
    size_t k = pending(s) < n ? pending(s) : n;
    if (k)
        memcpy(buf, s->rbuf + s->rpos, k);
    return k;
}

/* Reads once from the kernel into the buffer's free tail; the buffer grows
 * to at least min_cap. Returns the count, 0 at EOF, or an error. */
static ssize_t fill(usock *s, size_t min_cap, int64_t deadline)
{
    if (s->rpos == s->rlen)
        s->rpos = s->rlen = 0;
    if (s->rcap < min_cap) {
        char *b = realloc(s->rbuf, min_cap);
        if (!b)
            return USOCK_ENOMEM;
        s->rbuf = b;
        s->rcap = min_cap;
    }
    if (s->rlen == s->rcap && s->rpos > 0) {
        memmove(s->rbuf, s->rbuf + s->rpos, pending(s));
        s->rlen -= s->rpos;
        s->rpos = 0;
    }
    ssize_t r = io_recv(s, s->rbuf + s->rlen, s->rcap - s->rlen, 0, deadline);
    if (r > 0) {
        s->rlen += (size_t)r;
        usock__poll_note_buffered(s);
    }
    return r;
}

usock *usock__wrap(int fd, int af, int type, int proto)
{
    usock *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->fd = fd;
    s->wfd = -1;
    s->family = af;
    s->type = type;
    s->proto = proto;
    s->timeout_ms = -1;
    s->timeout = -1.0;
    return s;
}

USOCK_API int usock_socket(usock **out, int af, int type, int proto)
{
    if (!out)
        return USOCK_EINVAL;
    *out = NULL;
    af = af ? af : AF_INET;
    type = type ? type : SOCK_STREAM;
    int fd = usock__sys_socket(af, type, proto);
    if (fd < 0)
        return fd;
    usock *s = usock__wrap(fd, af, type, proto);
    if (!s) {
        usock__sys_close(fd);
        return USOCK_ENOMEM;
    }
    *out = s;
    return 0;
}

USOCK_API int usock_socketpair(usock **a, usock **b, int af, int type)
{
    if (!a || !b)
        return USOCK_EINVAL;
    *a = *b = NULL;
    af = af ? af : AF_UNIX;
    type = type ? type : SOCK_STREAM;
    int fds[2];
    int r = usock__sys_socketpair(af, type, 0, fds);
    if (r < 0)
        return r;
    usock *x = usock__wrap(fds[0], af, type, 0);
    usock *y = usock__wrap(fds[1], af, type, 0);
    if (!x || !y) {
        free(x);
        free(y);
        usock__sys_close(fds[0]);
        usock__sys_close(fds[1]);
        return USOCK_ENOMEM;
    }
    *a = x;
    *b = y;
    return 0;
}

USOCK_API int usock_close(usock *s)
{
    if (!s)
        return 0;
    usock__poll_forget(s);
    if (s->layer)
        s->layer->close(s);
    int r = usock__sys_close(s->fd);
    if (s->wfd >= 0 && s->wfd != s->fd)
        usock__sys_close(s->wfd); /* a pipe waker's other end */
    free(s->rbuf);
    free(s);
    return r;
}

USOCK_API int usock_fileno(const usock *s)
{
    return s ? s->fd : USOCK_EBADF;
}

USOCK_API int usock_bind(usock *s, const usock_addr *a)
{
    if (!s || !a)
        return USOCK_EINVAL;
    return usock__sys_bind(s->fd, a);
}

USOCK_API int usock_listen(usock *s, int backlog)
{
    if (!s)
        return USOCK_EINVAL;
    return usock__sys_listen(s->fd, backlog < 0 ? usock__sys_default_backlog() : backlog);
}

USOCK_API int usock_accept(usock *s, usock **conn, usock_addr *peer)
{
    return usock_accept4(s, conn, peer, 0);
}

USOCK_API int usock_accept4(usock *s, usock **conn, usock_addr *peer, int flags)
{
    if (!s || !conn || (flags & ~USOCK_ACCEPT_NONBLOCK))
        return USOCK_EINVAL;
    *conn = NULL;
    int nonblock = flags & USOCK_ACCEPT_NONBLOCK;
    int64_t deadline = deadline_of(s);
    int fd;
    for (;;) {
        fd = usock__sys_accept(s->fd, peer, nonblock);
        if (!should_wait(s, fd))
            break;
        int w = wait_ready(s, USOCK_POLLIN, deadline);
        if (w < 0)
            return w;
    }
    if (fd < 0)
        return fd;
    /* As in CPython: the new socket is blocking whatever the listener's
     * timeout, and accept4 gave it no O_NONBLOCK. */
    usock *c = usock__wrap(fd, s->family, s->type, s->proto);
    if (!c) {
        usock__sys_close(fd);
        return USOCK_ENOMEM;
    }
    if (nonblock) {
        c->timeout_ms = 0;
        c->timeout = 0.0;
    }
    *conn = c;
    return 0;
}

USOCK_API int usock_connect(usock *s, const usock_addr *a)
{
    if (!s || !a)
        return USOCK_EINVAL;
    int r = usock__sys_connect(s->fd, a);
    if (s->connecting && r != USOCK_EALREADY) {
        /* A second connect on a non-blocking socket tells how the first
         * one ended: EISCONN means it succeeded. */
        s->connecting = 0;
        return r == USOCK_EISCONN ? 0 : r;
    }
    if (r != USOCK_EINPROGRESS)
        return r;
    if (s->timeout_ms == 0) {
        s->connecting = 1;
        return r;
    }
    int w = wait_ready(s, USOCK_POLLOUT, deadline_of(s));
    if (w < 0)
        return w;
    return usock__sys_socket_error(s->fd);
}

USOCK_API ssize_t usock_send_flags(usock *s, const void *buf, size_t n, int flags)
{
    if (!s || (!buf && n) || (flags & ~SEND_FLAGS))
        return USOCK_EINVAL;
    if (s->err)
        return take_error(s);
    return io_send(s, buf, n, flags, deadline_for(s, flags));
}

USOCK_API ssize_t usock_send(usock *s, const void *buf, size_t n)
{
    return usock_send_flags(s, buf, n, 0);
}

/* sendfile under a layer (TLS): the file's bytes pass through here, a
 * piece per call, as sendfile may send less than asked. A retry after
 * EAGAIN reads the same bytes again, as TLS wants them. */
static ssize_t send_file_copy(usock *s, int fd, off_t *offset, size_t n, int64_t deadline)
{
    char buf[16384];
    ssize_t r = usock__sys_pread(fd, buf, n < sizeof buf ? n : sizeof buf, *offset);
    if (r <= 0)
        return r;
    r = io_send(s, buf, (size_t)r, 0, deadline);
    if (r > 0)
        *offset += r;
    return r;
}

USOCK_API ssize_t usock_sendfile(usock *s, int fd, off_t *offset, size_t n)
{
    if (!s || fd < 0 || !offset || *offset < 0)
        return USOCK_EINVAL;
    if (s->err)
        return take_error(s);
    int64_t deadline = deadline_of(s);
    if (s->layer)
        return send_file_copy(s, fd, offset, n, deadline);
    for (;;) {
        ssize_t r = usock__sys_sendfile(s->fd, fd, offset, n);
        if (!should_wait(s, r))
            return count_out(s, r);
        int w = wait_ready(s, USOCK_POLLOUT, deadline);
        if (w < 0)
            return w;
    }
}

/* Sends until done, the deadline passes or an error; returns the count
 * sent and leaves the error (if any) in *err. */
static size_t send_loop(usock *s, const char *p, size_t n, int *err)
{
    int64_t deadline = deadline_of(s);
    size_t done = 0;
    *err = 0;
    while (done < n) {
        ssize_t r = io_send(s, p + done, n - done, 0, deadline);
        if (r < 0) {
            *err = (int)r;
            break;
        }
        done += (size_t)r;
    }
    return done;
}

USOCK_API int usock_sendall(usock *s, const void *buf, size_t n)
{
    if (!s || (!buf && n))
        return USOCK_EINVAL;
    if (s->err)
        return take_error(s);
    int err;
    send_loop(s, buf, n, &err);
    return err;
}

USOCK_API ssize_t usock_write(usock *s, const void *buf, size_t n)
{
    if (!s || (!buf && n))
        return USOCK_EINVAL;
    if (s->err)
        return take_error(s);
    int err;
    size_t done = send_loop(s, buf, n, &err);
    /* What went out counts; the error comes from the next call. */
    return short_or_error(s, done, err);
}

USOCK_API ssize_t usock_recv_flags(usock *s, void *buf, size_t n, int flags)
{
    if (!s || (!buf && n) || (flags & ~RECV_FLAGS))
        return USOCK_EINVAL;
    if (n == 0)
        return 0;
    /* Buffered bytes came before anything the kernel holds: a peek sees
     * them first, and asks the kernel only when there are none. */
    if (pending(s))
        return (ssize_t)(flags & USOCK_MSG_PEEK ? peek(s, buf, n) : take(s, buf, n));
    if (s->err)
        return take_error(s);
    return io_recv(s, buf, n, flags, deadline_for(s, flags));
}

USOCK_API ssize_t usock_recv(usock *s, void *buf, size_t n)
{
    return usock_recv_flags(s, buf, n, 0);
}

USOCK_API ssize_t usock_read(usock *s, void *buf, size_t n)
{
    if (!s || (!buf && n))
        return USOCK_EINVAL;
    char *p = buf;
    size_t got = take(s, p, n);
    int64_t deadline = deadline_of(s);
    while (got < n) {
        ssize_t r = s->err ? take_error(s) : io_recv(s, p + got, n - got, 0, deadline);
        if (r == 0)
            break;
        if (r < 0)
            return short_or_error(s, got, r);
        got += (size_t)r;
    }
    return (ssize_t)got;
}

USOCK_API int usock_readall(usock *s, char **out, size_t *len)
{
    if (!s || !out)
        return USOCK_EINVAL;
    *out = NULL;
    if (len)
        *len = 0;
    /* Everything accumulates in the socket's own buffer, so that a timeout
     * or an error leaves the bytes there for the next call: none is lost. */
    int64_t deadline = deadline_of(s);
    for (;;) {
        size_t want = pending(s) + USOCK__RBUF_SIZE;
        size_t cap = s->rcap >= want ? s->rcap : s->rcap * 2 > want ? s->rcap * 2 : want;
        ssize_t r = s->err ? take_error(s) : fill(s, cap, deadline);
        if (r == 0)
            break;
        if (r < 0)
            return (int)r;
    }
    size_t n = pending(s);
    if (s->rpos) {
        memmove(s->rbuf, s->rbuf + s->rpos, n);
        s->rpos = 0;
        s->rlen = n;
    }
    if (n + 1 > s->rcap) {
        char *b = realloc(s->rbuf, n + 1);
        if (!b)
            return USOCK_ENOMEM;
        s->rbuf = b;
        s->rcap = n + 1;
    }
    s->rbuf[n] = '\0';
    *out = s->rbuf;
    if (len)
        *len = n;
    s->rbuf = NULL;
    s->rcap = s->rpos = s->rlen = 0;
    return 0;
}

USOCK_API ssize_t usock_readline(usock *s, char *buf, size_t cap)
{
    if (!s || !buf)
        return USOCK_EINVAL;
    if (cap < 2)
        return USOCK_EINVAL;
    int64_t deadline = deadline_of(s);
    size_t got = 0;
    while (got < cap - 1) {
        if (!pending(s)) {
            ssize_t r = s->err ? take_error(s) : fill(s, USOCK__RBUF_SIZE, deadline);
            if (r == 0)
                break;
            if (r < 0) {
                if (got) {
                    keep(s, r);
                    break;
                }
                buf[0] = '\0';
                return r;
            }
        }
        size_t want = pending(s) < cap - 1 - got ? pending(s) : cap - 1 - got;
        const char *nl = memchr(s->rbuf + s->rpos, '\n', want);
        size_t k = take(s, buf + got, nl ? (size_t)(nl - (s->rbuf + s->rpos)) + 1 : want);
        got += k;
        if (nl)
            break;
    }
    buf[got] = '\0';
    return (ssize_t)got;
}

USOCK_API ssize_t usock_sendto_flags(usock *s, const void *buf, size_t n, const usock_addr *to,
                                     int flags)
{
    if (!s || !to || (!buf && n) || (flags & ~SEND_FLAGS))
        return USOCK_EINVAL;
    if (s->err)
        return take_error(s);
    if (s->layer)
        return USOCK_EISCONN; /* a stream under a layer has its peer */
    int64_t deadline = deadline_for(s, flags);
    for (;;) {
        ssize_t r = usock__sys_sendto(s->fd, buf, n, to, flags);
        if (!should_wait(s, r))
            return count_out(s, r);
        int w = wait_ready(s, USOCK_POLLOUT, deadline);
        if (w < 0)
            return w;
    }
}

USOCK_API ssize_t usock_sendto(usock *s, const void *buf, size_t n, const usock_addr *to)
{
    return usock_sendto_flags(s, buf, n, to, 0);
}

/* The sender of what recvfrom returned. The kernel gives no address for an
 * unnamed AF_UNIX peer; Python shows it as '' and so does usock: family
 * AF_UNIX, no path. */
static void fix_from(const usock *s, usock_addr *from)
{
    if (from && from->len == 0 && s->family == AF_UNIX) {
        from->ss.ss_family = AF_UNIX;
        from->len = sizeof(sa_family_t);
    }
}

USOCK_API ssize_t usock_recvfrom_flags(usock *s, void *buf, size_t n, usock_addr *from,
                                       int flags)
{
    if (!s || (!buf && n) || (flags & ~RECV_FLAGS))
        return USOCK_EINVAL;
    if (n == 0) {
        /* As recv: at once, consuming no datagram, so no sender either. */
        if (from)
            memset(from, 0, sizeof *from);
        return 0;
    }
    if (pending(s)) {
        if (from && usock__sys_getpeername(s->fd, from) < 0)
            memset(from, 0, sizeof *from);
        return (ssize_t)(flags & USOCK_MSG_PEEK ? peek(s, buf, n) : take(s, buf, n));
    }
    if (s->err)
        return take_error(s);
    int64_t deadline = deadline_for(s, flags);
    if (s->layer) { /* a stream: its bytes, from its peer */
        ssize_t r = io_recv(s, buf, n, flags, deadline);
        if (r >= 0 && from && usock__sys_getpeername(s->fd, from) < 0)
            memset(from, 0, sizeof *from);
        return r;
    }
    for (;;) {
        ssize_t r = usock__sys_recvfrom(s->fd, buf, n, from, flags);
        if (!should_wait(s, r)) {
            if (r >= 0)
                fix_from(s, from);
            return count_in(s, r, flags);
        }
        int w = wait_ready(s, USOCK_POLLIN, deadline);
        if (w < 0)
            return w;
    }
}

USOCK_API ssize_t usock_recvfrom(usock *s, void *buf, size_t n, usock_addr *from)
{
    return usock_recvfrom_flags(s, buf, n, from, 0);
}

USOCK_API int usock_setsockopt(usock *s, int level, int name, const void *val, socklen_t len)
{
    if (!s || !val)
        return USOCK_EINVAL;
    return usock__sys_setsockopt(s->fd, level, name, val, len);
}

USOCK_API int usock_getsockopt(usock *s, int level, int name, void *val, socklen_t *len)
{
    if (!s || !val || !len)
        return USOCK_EINVAL;
    return usock__sys_getsockopt(s->fd, level, name, val, len);
}

USOCK_API int usock_settimeout(usock *s, double seconds)
{
    if (!s || seconds != seconds) /* NaN */
        return USOCK_EINVAL;
    if (s->wfd >= 0)
        return USOCK_ENOTSOCK; /* a waker stays non-blocking: its drain relies on it */
    int ms;
    if (seconds < 0)
        ms = -1;
    else if (seconds == 0)
        ms = 0;
    else if (seconds * 1000.0 > (double)INT_MAX)
        return USOCK_ERANGE; /* as CPython's OverflowError */
    else {
        /* Rounded up: a tiny timeout still waits 1 ms. */
        ms = (int)(seconds * 1000.0);
        ms += ms < seconds * 1000.0;
    }
    /* the descriptor's mode changes only between blocking (None) and the
     * rest: a client that sets its timeout before every request makes no
     * system call for it */
    int r = (ms >= 0) == (s->timeout_ms >= 0) ? 0 : usock__sys_set_nonblocking(s->fd, ms >= 0);
    if (r < 0)
        return r;
    s->timeout_ms = ms;
    s->timeout = seconds < 0 ? -1.0 : seconds;
    return 0;
}

USOCK_API double usock_gettimeout(const usock *s)
{
    return s ? s->timeout : -1.0;
}

USOCK_API int usock_setblocking(usock *s, int flag)
{
    return usock_settimeout(s, flag ? -1.0 : 0.0);
}

USOCK_API int usock_shutdown(usock *s, int how)
{
    if (!s)
        return USOCK_EINVAL;
    return usock__sys_shutdown(s->fd, how);
}

USOCK_API int usock_getsockname(usock *s, usock_addr *a)
{
    if (!s || !a)
        return USOCK_EINVAL;
    return usock__sys_getsockname(s->fd, a);
}

USOCK_API int usock_getpeername(usock *s, usock_addr *a)
{
    if (!s || !a)
        return USOCK_EINVAL;
    return usock__sys_getpeername(s->fd, a);
}

USOCK_API size_t usock_pending(const usock *s)
{
    return s ? pending(s) : 0;
}

USOCK_API void usock_iostat(const usock *s, unsigned long long *in, unsigned long long *out)
{
    if (in)
        *in = s ? atomic_load_explicit(&s->bytes_in, memory_order_relaxed) : 0;
    if (out)
        *out = s ? atomic_load_explicit(&s->bytes_out, memory_order_relaxed) : 0;
}

/* makefile: stdio calls these with the socket as cookie. Reads go through
 * the socket's buffer, so an unbuffered stream's one-byte reads never
 * become one-byte reads from the kernel. */
static ssize_t stream_read(void *cookie, char *buf, size_t n)
{
    usock *s = cookie;
    if (!pending(s)) {
        ssize_t r = s->err ? take_error(s) : fill(s, USOCK__RBUF_SIZE, deadline_of(s));
        if (r < 0) {
            usock__sys_set_errno((int)-r);
            return -1;
        }
    }
    return (ssize_t)take(s, buf, n);
}

static ssize_t stream_write(void *cookie, const char *buf, size_t n)
{
    ssize_t r = usock_write(cookie, buf, n);
    if (r < 0) {
        usock__sys_set_errno((int)-r);
        return -1;
    }
    return r;
}

USOCK_API FILE *usock_makefile(usock *s, const char *mode)
{
    int rd = 0, wr = 0;
    for (const char *m = mode; m && *m; m++) {
        if (*m == 'r')
            rd = 1;
        else if (*m == 'w')
            wr = 1;
        else if (*m == '+')
            rd = wr = 1;
        else if (*m != 'b') {
            rd = wr = 0;
            break;
        }
    }
    if (!s || (!rd && !wr)) {
        usock__sys_set_errno(EINVAL);
        return NULL;
    }
    return usock__sys_fopen_stream(s, rd && wr ? "r+" : rd ? "r" : "w", stream_read,
                                   stream_write);
}

/* The resolver lives here because it produces usock_addr values; the
 * platform does the lookup and hands each entry over, and the list is
 * built (and freed) here. */
/* One allocation per entry: the struct, then its canonical name. */
int usock__addrinfo_add(void *ctx, int family, int type, int proto, const char *canonname,
                        const usock_addr *addr)
{
    struct gai_list *l = ctx;
    size_t nlen = strlen(canonname) + 1;
    usock_addrinfo *e = calloc(1, sizeof *e + nlen);
    if (!e)
        return USOCK_ENOMEM;
    e->family = family;
    e->type = type;
    e->proto = proto;
    e->addr = *addr;
    char *copy = (char *)(e + 1);
    memcpy(copy, canonname, nlen);
    e->canonname = copy;
    *l->tail = e;
    l->tail = &e->next;
    return 0;
}

USOCK_API int usock_getaddrinfo(const char *host, int port, int af, int type, int proto,
                                int flags, usock_addrinfo **res)
{
    if (!res)
        return USOCK_EINVAL;
    *res = NULL;
    if (port < 0 || port > 65535)
        return USOCK_EINVAL;
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct gai_list l = {.head = NULL};
    l.tail = &l.head;
    int r = usock__sys_getaddrinfo(host && *host ? host : NULL, service, af, type, proto, flags,
                                   usock__addrinfo_add, &l);
    if (r < 0) {
        usock_freeaddrinfo(l.head);
        return r;
    }
    *res = l.head;
    return 0;
}

USOCK_API void usock_freeaddrinfo(usock_addrinfo *res)
{
    while (res) {
        usock_addrinfo *next = res->next;
        free(res);
        res = next;
    }
}

long long usock__now_ms(void)
{
    return usock__sys_now_ms();
}
