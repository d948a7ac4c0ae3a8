/* poller_epoll.c -- usock_poll's backend on Linux: epoll. The kernel keeps
 * the interest set; slots travel in the event data. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "platform.h"
#include "usock/poll.h"

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
        int err = -errno;
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
    return epoll_ctl(p->epfd, op, fd, &ev) < 0 ? -errno : 0;
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

static int from_epoll_bits(uint32_t e)
{
    return (e & (EPOLLIN | EPOLLPRI | EPOLLRDHUP) ? USOCK_POLLIN : 0) |
           (e & EPOLLOUT ? USOCK_POLLOUT : 0) | (e & EPOLLERR ? USOCK_POLLERR : 0) |
           (e & EPOLLHUP ? USOCK_POLLHUP : 0);
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
        return -errno;
    for (int i = 0; i < n; i++) {
        slots[i] = (int)p->buf[i].data.u64;
        revents[i] = from_epoll_bits(p->buf[i].events);
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
