/* internal.h -- bodies of the opaque structs and usock__ internals. */
#ifndef USOCK_INTERNAL_H
#define USOCK_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "usock.h"
#include "shared.h"

/* Size of a socket's read buffer, allocated on first buffered read. */
#define USOCK__RBUF_SIZE 16384

/* A socket's registration in a poll: which one, and its slot there. */
struct usock__reg {
    usock_poll *poll;
    int slot;
};

/* A layer over a stream socket's bytes (TLS, tls.c): when a socket has
 * one, its I/O goes through it. recv and send return a count (recv: 0 at
 * EOF) or a negative code; USOCK_EAGAIN with *want set to USOCK_POLLIN or
 * USOCK_POLLOUT when the descriptor is not ready for what the layer needs
 * (a read may need to write, and the other way round). flags: USOCK_MSG_*
 * (PEEK for recv, DONTWAIT for both). They reach the descriptor through
 * usock__raw_recv and usock__raw_send. pending: bytes recv returns
 * without reading the descriptor. close: before the descriptor closes. */
struct usock__layer {
    ssize_t (*recv)(usock *s, void *buf, size_t n, int flags, int *want);
    ssize_t (*send)(usock *s, const void *buf, size_t n, int flags, int *want);
    size_t (*pending)(const usock *s);
    void (*close)(usock *s);
};

struct usock {
    int fd;
    int wfd;           /* a waker's write end (== fd for an eventfd); -1 otherwise */
    int family, type, proto;
    int timeout_ms;    /* -1 blocking (None), 0 non-blocking, > 0 a bound */
    double timeout;    /* what settimeout was given, for gettimeout */
    int err;           /* an error met after a short count, for the next call */
    int connecting;    /* a non-blocking connect is under way */
    char *rbuf;        /* bytes read from the kernel, not yet returned */
    size_t rpos, rlen; /* unread bytes are rbuf[rpos .. rlen) */
    size_t rcap;       /* size of rbuf */
    /* To and from the kernel, for iostat. Atomic: a datagram server's
     * handlers answer through one socket from several threads at once. */
    _Atomic unsigned long long bytes_in, bytes_out;
    struct usock__reg *regs; /* the polls that hold it, for close: &reg0 or an array */
    struct usock__reg reg0;
    int nregs;
    const struct usock__layer *layer; /* NULL: the descriptor's bytes as they are */
    void *layer_ctx;
};

/* The deadline of one call under s's timeout (-1 forever, 0 never
 * wait), and a wait until s is ready for events (USOCK_POLLIN/OUT) or it
 * passes: 0, USOCK_EAGAIN (deadline 0) or USOCK_ETIMEDOUT. */
int64_t usock__deadline(const usock *s);
int usock__wait(usock *s, int events, int64_t deadline);

/* A usock_addrinfo list under construction: usock__addrinfo_add appends
 * one entry (a usock__sys_addrinfo_fn), which usock_freeaddrinfo frees. */
struct gai_list {
    usock_addrinfo *head, **tail;
};
int usock__addrinfo_add(void *ctx, int family, int type, int proto, const char *canonname,
                        const usock_addr *addr);

/* One system call on the descriptor, under any layer; bytes counted. */
ssize_t usock__raw_recv(usock *s, void *buf, size_t n, int flags);
ssize_t usock__raw_send(usock *s, const void *buf, size_t n, int flags);

/* Bytes a recv on s returns without reading the descriptor: its read
 * buffer's and its layer's. */
static inline size_t usock__buffered(const usock *s)
{
    return s->rlen - s->rpos + (s->layer ? s->layer->pending(s) : 0);
}

/* A new socket object around an open descriptor (blocking, timeout None);
 * NULL when out of memory (fd is left open). */
usock *usock__wrap(int fd, int af, int type, int proto);

/* Tells every poll that holds s that it is being closed: each reports it
 * once with USOCK_POLLNVAL, then forgets it (usock_close). */
void usock__poll_forget(usock *s);

/* Tells the polls that hold s that s now holds buffered bytes. */
void usock__poll_note_buffered(usock *s);

#endif
