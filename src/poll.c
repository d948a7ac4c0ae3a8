/* poll.c -- uselect.poll on the platform's readiness backend.
 *
 * Registered sockets live in slots; the backend reports slots. A socket
 * whose user-space read buffer holds bytes is readable whatever the kernel
 * says, so wait reports it at once. Each socket lists the polls that hold
 * it, so that closing it reaches every one: there its slot stays, without
 * a socket, until the next wait has reported it once with USOCK_POLLNVAL
 * (as CPython and MicroPython report a closed descriptor). */
#include <stdlib.h>

#include "internal.h"
#include "platform/platform.h"

struct slot {
    usock *sock;      /* NULL when free or closed */
    int closed;       /* the socket was closed: report USOCK_POLLNVAL once */
    int events;
    void *udata;
    int next_free;    /* free-list link, -1 ends it */
    unsigned mark;    /* the wait that last reported it */
};

struct usock_poll {
    usock__sys_poller *sys;
    struct slot *slot;
    int cap, free_head;
    unsigned gen;
    /* Set when a registered socket may hold buffered bytes, so that wait
     * scans the slots only then, not on every call. */
    int maybe_buffered;
    int scan_from;          /* where the buffered scan starts, for fairness */
    int nclosed;            /* slots waiting to report USOCK_POLLNVAL */
    int *kslots, *krevents; /* the backend's answer, sized for max */
    int kcap;
};

USOCK_API int usock_poll_new(usock_poll **out)
{
    if (!out)
        return USOCK_EINVAL;
    usock_poll *p = calloc(1, sizeof *p);
    if (!p)
        return USOCK_ENOMEM;
    int r = usock__sys_poller_new(&p->sys);
    if (r < 0) {
        free(p);
        return r;
    }
    p->free_head = -1;
    *out = p;
    return 0;
}

/* The socket's own record of its registrations. */
static int reg_find(const usock *s, const usock_poll *p)
{
    for (int i = 0; i < s->nregs; i++)
        if (s->regs[i].poll == p)
            return i;
    return -1;
}

/* A socket is nearly always in one poll at most: that registration lives
 * in the socket itself (reg0), more in an array. */
static int reg_add(usock *s, usock_poll *p, int slot)
{
    struct usock__reg *r = &s->reg0;
    if (s->nregs > 0) {
        size_t size = (size_t)(s->nregs + 1) * sizeof *r;
        r = s->regs == &s->reg0 ? malloc(size) : realloc(s->regs, size);
        if (!r)
            return USOCK_ENOMEM;
        if (s->regs == &s->reg0)
            r[0] = s->reg0;
    }
    r[s->nregs++] = (struct usock__reg){.poll = p, .slot = slot};
    s->regs = r;
    return 0;
}

static void regs_free(usock *s)
{
    if (s->regs != &s->reg0)
        free(s->regs);
    s->regs = NULL;
    s->nregs = 0;
}

static void reg_remove(usock *s, int i)
{
    s->regs[i] = s->regs[--s->nregs];
    if (s->nregs == 0)
        regs_free(s);
}

USOCK_API void usock_poll_free(usock_poll *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->cap; i++)
        if (p->slot[i].sock)
            reg_remove(p->slot[i].sock, reg_find(p->slot[i].sock, p));
    usock__sys_poller_free(p->sys);
    free(p->slot);
    free(p->kslots);
    free(p->krevents);
    free(p);
}

static int alloc_slot(usock_poll *p)
{
    if (p->free_head < 0) {
        int cap = p->cap ? p->cap * 2 : 16;
        struct slot *n = realloc(p->slot, (size_t)cap * sizeof *n);
        if (!n)
            return USOCK_ENOMEM;
        for (int i = cap - 1; i >= p->cap; i--)
            n[i] = (struct slot){.next_free = i == cap - 1 ? p->free_head : i + 1};
        p->free_head = p->cap;
        p->slot = n;
        p->cap = cap;
    }
    int i = p->free_head;
    p->free_head = p->slot[i].next_free;
    return i;
}

static void free_slot(usock_poll *p, int i)
{
    p->slot[i] = (struct slot){.next_free = p->free_head};
    p->free_head = i;
}

USOCK_API int usock_poll_register(usock_poll *p, usock *s, int events, void *udata)
{
    if (!p || !s)
        return USOCK_EINVAL;
    if (reg_find(s, p) >= 0)
        return USOCK_EEXIST;
    int i = alloc_slot(p);
    if (i < 0)
        return i;
    int r = reg_add(s, p, i);
    if (r == 0) {
        r = usock__sys_poller_add(p->sys, s->fd, i, events);
        if (r < 0)
            reg_remove(s, s->nregs - 1);
    }
    if (r < 0) {
        free_slot(p, i);
        return r;
    }
    p->slot[i] = (struct slot){.sock = s, .events = events, .udata = udata};
    p->maybe_buffered = 1;
    return 0;
}

USOCK_API int usock_poll_modify(usock_poll *p, usock *s, int events)
{
    if (!p || !s)
        return USOCK_EINVAL;
    int k = reg_find(s, p);
    if (k < 0)
        return USOCK_ENOENT;
    int i = s->regs[k].slot;
    int r = usock__sys_poller_mod(p->sys, s->fd, i, events);
    if (r == 0) {
        p->slot[i].events = events;
        p->maybe_buffered = 1;
    }
    return r;
}

USOCK_API int usock_poll_unregister(usock_poll *p, usock *s)
{
    if (!p || !s)
        return USOCK_EINVAL;
    int k = reg_find(s, p);
    if (k < 0)
        return USOCK_ENOENT;
    int i = s->regs[k].slot;
    int r = usock__sys_poller_del(p->sys, s->fd, i);
    free_slot(p, i);
    reg_remove(s, k);
    return r;
}

void usock__poll_forget(usock *s)
{
    for (int k = 0; k < s->nregs; k++) {
        usock_poll *p = s->regs[k].poll;
        struct slot *e = &p->slot[s->regs[k].slot];
        /* Out of the backend now, while the descriptor is still open; the
         * slot keeps its udata for the one USOCK_POLLNVAL event. */
        usock__sys_poller_del(p->sys, s->fd, s->regs[k].slot);
        e->sock = NULL;
        e->closed = 1;
        p->nclosed++;
    }
    regs_free(s);
}

void usock__poll_note_buffered(usock *s)
{
    for (int i = 0; i < s->nregs; i++)
        s->regs[i].poll->maybe_buffered = 1;
}

/* Reports closed sockets, up to max, and frees their slots: each once. */
static int report_closed(usock_poll *p, usock_event *ev, int max)
{
    int out = 0;
    for (int i = 0; i < p->cap && out < max && p->nclosed > 0; i++) {
        if (!p->slot[i].closed)
            continue;
        ev[out++] = (usock_event){.sock = NULL, .revents = USOCK_POLLNVAL,
                                  .udata = p->slot[i].udata};
        free_slot(p, i);
        p->nclosed--;
    }
    return out;
}

static int buffered(const struct slot *e)
{
    return e->sock && (e->events & USOCK_POLLIN) && usock__buffered(e->sock) > 0;
}

/* Asks the backend, retrying EINTR within what is left of the timeout. */
static int kernel_wait(usock_poll *p, int timeout_ms, int max)
{
    if (max > p->kcap) {
        int *a = realloc(p->kslots, (size_t)max * sizeof *a);
        if (a)
            p->kslots = a;
        int *b = realloc(p->krevents, (size_t)max * sizeof *b);
        if (b)
            p->krevents = b;
        if (!a || !b)
            return USOCK_ENOMEM;
        p->kcap = max;
    }
    int64_t deadline = timeout_ms > 0 ? usock__sys_now_ms() + timeout_ms : 0;
    for (;;) {
        int n = usock__sys_poller_wait(p->sys, timeout_ms, p->kslots, p->krevents, max);
        if (n != USOCK_EINTR)
            return n;
        if (timeout_ms > 0) {
            int64_t left = deadline - usock__sys_now_ms();
            timeout_ms = left > 0 ? (int)left : 0;
        }
    }
}

/* Adds the buffered sockets that the kernel did not report, starting where
 * the last truncated scan stopped so that none waits forever. */
static int add_buffered(usock_poll *p, usock_event *ev, int out, int max)
{
    for (int n = 0; n < p->cap; n++) {
        int i = (p->scan_from + n) % p->cap;
        struct slot *e = &p->slot[i];
        if (!buffered(e) || e->mark == p->gen)
            continue;
        if (out == max) {
            p->scan_from = i;
            break;
        }
        ev[out++] = (usock_event){.sock = e->sock, .revents = USOCK_POLLIN, .udata = e->udata};
    }
    return out;
}

/* The sockets' own events: from their buffers and from the kernel. */
static int wait_sockets(usock_poll *p, int timeout_ms, usock_event *ev, int max)
{
    int nbuf = 0;
    if (p->maybe_buffered)
        for (int i = 0; i < p->cap; i++)
            nbuf += buffered(&p->slot[i]);
    p->maybe_buffered = nbuf > 0;
    int out = 0;
    p->gen++;
    /* Buffered sockets never wait for the kernel; when they alone fill max,
     * they and the kernel take turns, so that neither kind starves. */
    int kmax = nbuf < max ? max - nbuf : (p->gen & 1) ? max : 0;
    if (kmax > 0) {
        int n = kernel_wait(p, nbuf ? 0 : timeout_ms, kmax);
        if (n < 0)
            return n;
        for (int k = 0; k < n; k++) {
            struct slot *e = &p->slot[p->kslots[k]];
            if (!e->sock)
                continue; /* closed: left the backend before its close */
            int rev = p->krevents[k] | (buffered(e) ? USOCK_POLLIN : 0);
            e->mark = p->gen;
            ev[out++] = (usock_event){.sock = e->sock, .revents = rev, .udata = e->udata};
        }
    }
    return nbuf ? add_buffered(p, ev, out, max) : out;
}

USOCK_API int usock_poll_wait(usock_poll *p, int timeout_ms, usock_event *ev, int max)
{
    if (!p || !ev || max <= 0)
        return USOCK_EINVAL;
    /* Closed sockets come first and need no waiting; what room is left
     * takes whatever else is ready now. */
    int out = p->nclosed ? report_closed(p, ev, max) : 0;
    if (out == max)
        return out;
    int n = wait_sockets(p, out ? 0 : timeout_ms, ev + out, max - out);
    if (n < 0)
        return out ? out : n;
    return out + n;
}

/* ---- the waker ----------------------------------------------------------- */

USOCK_API int usock_waker(usock **out)
{
    if (!out)
        return USOCK_EINVAL;
    *out = NULL;
    int fds[2];
    int r = usock__sys_waker_open(fds);
    if (r < 0)
        return r;
    usock *w = usock__wrap(fds[0], AF_UNSPEC, 0, 0);
    if (!w) {
        usock__sys_close(fds[0]);
        if (fds[1] != fds[0])
            usock__sys_close(fds[1]);
        return USOCK_ENOMEM;
    }
    w->wfd = fds[1];
    *out = w;
    return 0;
}

USOCK_API void usock_wake(usock *w)
{
    /* Reads only wfd, which never changes while w lives: safe from any
     * thread and from a signal handler. */
    if (w && w->wfd >= 0)
        usock__sys_wake(w->wfd);
}

USOCK_API int usock_wake_clear(usock *w)
{
    if (!w || w->wfd < 0)
        return USOCK_EINVAL;
    return usock__sys_wake_drain(w->fd);
}
