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
};

/* A new socket object around an open descriptor (blocking, timeout None);
 * NULL when out of memory (fd is left open). */
usock *usock__wrap(int fd, int af, int type, int proto);

/* Tells every poll that holds s that it is being closed: each reports it
 * once with USOCK_POLLNVAL, then forgets it (usock_close). */
void usock__poll_forget(usock *s);

/* Tells the polls that hold s that s now holds buffered bytes. */
void usock__poll_note_buffered(usock *s);

#endif
