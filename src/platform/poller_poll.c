/* poller_poll.c -- usock_poll's portable backend: poll(2). The interest set
 * is an array indexed by slot; unused slots hold fd -1, which poll
 * ignores. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "platform.h"
#include "pollbits.h"

struct usock__sys_poller {
    struct pollfd *fds;
    int cap;
    int used; /* slots below this may be in use: poll's nfds */
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
    p->fds[slot] = (struct pollfd){.fd = fd, .events = usock__to_poll_bits(events)};
    if (slot >= p->used)
        p->used = slot + 1;
    return 0;
}

int usock__sys_poller_mod(usock__sys_poller *p, int fd, int slot, int events)
{
    if (slot >= p->cap || p->fds[slot].fd != fd)
        return -ENOENT;
    p->fds[slot].events = usock__to_poll_bits(events);
    return 0;
}

int usock__sys_poller_del(usock__sys_poller *p, int fd, int slot)
{
    if (slot >= p->cap || p->fds[slot].fd != fd)
        return -ENOENT;
    p->fds[slot].fd = -1;
    while (p->used > 0 && p->fds[p->used - 1].fd < 0)
        p->used--;
    return 0;
}

int usock__sys_poller_wait(usock__sys_poller *p, int timeout_ms, int *slots, int *revents,
                           int max)
{
    int r = poll(p->fds, (nfds_t)p->used, timeout_ms);
    if (r < 0)
        return -errno;
    int n = 0;
    for (int k = 0; k < p->used && r > 0; k++) {
        int i = (p->next + k) % p->used;
        if (p->fds[i].fd < 0 || !p->fds[i].revents)
            continue;
        if (n == max) {
            p->next = i;
            break;
        }
        r--;
        slots[n] = i;
        revents[n++] = usock__from_poll_bits(p->fds[i].revents);
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
