/* posix.c -- the platform layer on POSIX systems, with epoll on Linux. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef USOCK_POLL_BACKEND_POLL
#include <sys/epoll.h>
#endif

#include "platform.h"
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
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return fail();
    int want = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
    if (want != flags && fcntl(fd, F_SETFL, want) < 0)
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

int usock__sys_accept(int fd, usock_addr *peer)
{
    for (;;) {
        usock_addr tmp;
        tmp.len = sizeof tmp.ss;
        int c = accept4(fd, (struct sockaddr *)&tmp.ss, &tmp.len, SOCK_CLOEXEC);
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

ssize_t usock__sys_send(int fd, const void *buf, size_t n)
{
    for (;;) {
        ssize_t r = send(fd, buf, n, MSG_NOSIGNAL);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return fail();
    }
}

ssize_t usock__sys_recv(int fd, void *buf, size_t n)
{
    for (;;) {
        ssize_t r = recv(fd, buf, n, 0);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return fail();
    }
}

ssize_t usock__sys_sendto(int fd, const void *buf, size_t n, const usock_addr *to)
{
    for (;;) {
        ssize_t r = sendto(fd, buf, n, MSG_NOSIGNAL, (const struct sockaddr *)&to->ss, to->len);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return fail();
    }
}

ssize_t usock__sys_recvfrom(int fd, void *buf, size_t n, usock_addr *from)
{
    for (;;) {
        usock_addr tmp;
        tmp.len = sizeof tmp.ss;
        ssize_t r = recvfrom(fd, buf, n, 0, (struct sockaddr *)&tmp.ss, &tmp.len);
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

static short to_poll_bits(int events)
{
    return (short)((events & USOCK_POLLIN ? POLLIN : 0) | (events & USOCK_POLLOUT ? POLLOUT : 0));
}

static int from_poll_bits(int revents)
{
    /* POLLNVAL means the descriptor is not open: an error to report. */
    return (revents & (POLLIN | POLLPRI) ? USOCK_POLLIN : 0) |
           (revents & POLLOUT ? USOCK_POLLOUT : 0) |
           (revents & (POLLERR | POLLNVAL) ? USOCK_POLLERR : 0) |
           (revents & POLLHUP ? USOCK_POLLHUP : 0);
}

int usock__sys_wait(int fd, int events, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = to_poll_bits(events)};
    int r = poll(&p, 1, timeout_ms);
    if (r < 0)
        return fail();
    return r == 0 ? 0 : from_poll_bits(p.revents);
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

/* One allocation per entry: the struct, then its canonical name. */
static usock_addrinfo *copy_entry(const struct addrinfo *ai)
{
    const char *name = ai->ai_canonname ? ai->ai_canonname : "";
    size_t nlen = strlen(name) + 1;
    if (ai->ai_addrlen > sizeof(struct sockaddr_storage))
        return NULL;
    usock_addrinfo *e = calloc(1, sizeof *e + nlen);
    if (!e)
        return NULL;
    e->family = ai->ai_family;
    e->type = ai->ai_socktype;
    e->proto = ai->ai_protocol;
    memcpy(&e->addr.ss, ai->ai_addr, ai->ai_addrlen);
    e->addr.len = ai->ai_addrlen;
    char *copy = (char *)(e + 1);
    memcpy(copy, name, nlen);
    e->canonname = copy;
    return e;
}

int usock__sys_getaddrinfo(const char *host, const char *port, int af, int type, int proto,
                           int flags, usock_addrinfo **res)
{
    struct addrinfo hints = {.ai_family = af, .ai_socktype = type, .ai_protocol = proto,
                             .ai_flags = flags};
    struct addrinfo *list = NULL;
    errno = 0;
    int r = getaddrinfo(host, port, &hints, &list);
    if (r != 0)
        return eai_code(r);
    usock_addrinfo *head = NULL, **tail = &head;
    for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        usock_addrinfo *e = copy_entry(ai);
        if (!e) {
            freeaddrinfo(list);
            usock_freeaddrinfo(head);
            return USOCK_ENOMEM;
        }
        *tail = e;
        tail = &e->next;
    }
    freeaddrinfo(list);
    *res = head;
    return 0;
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

#ifndef USOCK_POLL_BACKEND_POLL

/* epoll: the kernel keeps the interest set; slots travel in the event data. */
struct usock__sys_poller {
    int epfd;
    struct epoll_event *buf;
    int cap;
};

const char *usock__sys_poller_name(void)
{
    return "epoll";
}

int usock__sys_poller_new(usock__sys_poller **out)
{
    usock__sys_poller *p = calloc(1, sizeof *p);
    if (!p)
        return USOCK_ENOMEM;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        int err = fail();
        free(p);
        return err;
    }
    *out = p;
    return 0;
}

static int epoll_op(usock__sys_poller *p, int op, int fd, int slot, int events)
{
    struct epoll_event ev = {.events = (events & USOCK_POLLIN ? EPOLLIN : 0u) |
                                       (events & USOCK_POLLOUT ? EPOLLOUT : 0u),
                             .data.u64 = (uint64_t)slot};
    return epoll_ctl(p->epfd, op, fd, &ev) < 0 ? fail() : 0;
}

int usock__sys_poller_add(usock__sys_poller *p, int fd, int slot, int events)
{
    return epoll_op(p, EPOLL_CTL_ADD, fd, slot, events);
}

int usock__sys_poller_mod(usock__sys_poller *p, int fd, int slot, int events)
{
    return epoll_op(p, EPOLL_CTL_MOD, fd, slot, events);
}

int usock__sys_poller_del(usock__sys_poller *p, int fd, int slot)
{
    (void)slot;
    return epoll_op(p, EPOLL_CTL_DEL, fd, 0, 0);
}

int usock__sys_poller_wait(usock__sys_poller *p, int timeout_ms, int *slots, int *revents,
                           int max)
{
    if (max > p->cap) {
        struct epoll_event *b = realloc(p->buf, (size_t)max * sizeof *b);
        if (!b)
            return USOCK_ENOMEM;
        p->buf = b;
        p->cap = max;
    }
    int n = epoll_wait(p->epfd, p->buf, max, timeout_ms);
    if (n < 0)
        return fail();
    for (int i = 0; i < n; i++) {
        uint32_t e = p->buf[i].events;
        slots[i] = (int)p->buf[i].data.u64;
        revents[i] = (e & (EPOLLIN | EPOLLPRI | EPOLLRDHUP) ? USOCK_POLLIN : 0) |
                     (e & EPOLLOUT ? USOCK_POLLOUT : 0) | (e & EPOLLERR ? USOCK_POLLERR : 0) |
                     (e & EPOLLHUP ? USOCK_POLLHUP : 0);
    }
    return n;
}

void usock__sys_poller_free(usock__sys_poller *p)
{
    if (!p)
        return;
    close(p->epfd);
    free(p->buf);
    free(p);
}

#else

/* poll(2): the interest set is an array indexed by slot; unused slots hold
 * fd -1, which poll ignores. */
struct usock__sys_poller {
    struct pollfd *fds;
    int cap;
    int next; /* where reporting starts, so a small max starves no slot */
};

const char *usock__sys_poller_name(void)
{
    return "poll";
}

int usock__sys_poller_new(usock__sys_poller **out)
{
    usock__sys_poller *p = calloc(1, sizeof *p);
    if (!p)
        return USOCK_ENOMEM;
    *out = p;
    return 0;
}

int usock__sys_poller_add(usock__sys_poller *p, int fd, int slot, int events)
{
    if (slot >= p->cap) {
        int cap = p->cap ? p->cap : 16;
        while (cap <= slot)
            cap *= 2;
        struct pollfd *f = realloc(p->fds, (size_t)cap * sizeof *f);
        if (!f)
            return USOCK_ENOMEM;
        for (int i = p->cap; i < cap; i++)
            f[i] = (struct pollfd){.fd = -1};
        p->fds = f;
        p->cap = cap;
    }
    p->fds[slot] = (struct pollfd){.fd = fd, .events = to_poll_bits(events)};
    return 0;
}

int usock__sys_poller_mod(usock__sys_poller *p, int fd, int slot, int events)
{
    if (slot >= p->cap || p->fds[slot].fd != fd)
        return -ENOENT;
    p->fds[slot].events = to_poll_bits(events);
    return 0;
}

int usock__sys_poller_del(usock__sys_poller *p, int fd, int slot)
{
    if (slot >= p->cap || p->fds[slot].fd != fd)
        return -ENOENT;
    p->fds[slot].fd = -1;
    return 0;
}

int usock__sys_poller_wait(usock__sys_poller *p, int timeout_ms, int *slots, int *revents,
                           int max)
{
    int r = poll(p->fds, (nfds_t)p->cap, timeout_ms);
    if (r < 0)
        return fail();
    int n = 0;
    for (int k = 0; k < p->cap && r > 0; k++) {
        int i = (p->next + k) % p->cap;
        if (p->fds[i].fd < 0 || !p->fds[i].revents)
            continue;
        if (n == max) {
            p->next = i;
            break;
        }
        r--;
        slots[n] = i;
        revents[n++] = from_poll_bits(p->fds[i].revents);
    }
    return n;
}

void usock__sys_poller_free(usock__sys_poller *p)
{
    if (!p)
        return;
    free(p->fds);
    free(p);
}

#endif
