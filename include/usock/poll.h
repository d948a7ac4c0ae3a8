/* poll.h -- uselect.poll: wait for readiness on many sockets at once. */
#ifndef USOCK_POLL_H
#define USOCK_POLL_H

#include "usock/socket.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Event bits, the values of POSIX poll(2) (and of MicroPython's uselect). */
#define USOCK_POLLIN 0x001
#define USOCK_POLLOUT 0x004
#define USOCK_POLLERR 0x008 /* always reported, need not be asked for */
#define USOCK_POLLHUP 0x010 /* always reported, need not be asked for */
#define USOCK_POLLNVAL 0x020 /* a registered socket was closed: sock NULL, its udata */

typedef struct usock_poll usock_poll; /* opaque; one thread uses it at a time */

typedef struct usock_event {
    usock *sock;
    int revents;
    void *udata;
} usock_event;

USOCK_API int usock_poll_new(usock_poll **out);

/* Watches s for events (USOCK_POLLIN | USOCK_POLLOUT); udata comes back in
 * its events. USOCK_EEXIST if s is already registered in p. A socket may be
 * in several polls; usock_close() unregisters it from all of them. */
USOCK_API int usock_poll_register(usock_poll *p, usock *s, int events, void *udata);
USOCK_API int usock_poll_modify(usock_poll *p, usock *s, int events); /* USOCK_ENOENT */
USOCK_API int usock_poll_unregister(usock_poll *p, usock *s);        /* USOCK_ENOENT */

/* Waits up to timeout_ms (< 0: forever) and fills up to max events;
 * returns their count, 0 on timeout. A socket whose read buffer holds
 * bytes is reported USOCK_POLLIN at once. EINTR is retried. */
USOCK_API int usock_poll_wait(usock_poll *p, int timeout_ms, usock_event *ev, int max);

USOCK_API void usock_poll_free(usock_poll *p); /* NULL ok */

/* A wake-up socket (eventfd, or a pipe where there is none): register it
 * in a poll for USOCK_POLLIN; usock_wake makes it readable from any thread
 * or from a signal handler (async-signal-safe); usock_wake_clear makes it
 * unreadable again. Free it with usock_close. Only these calls and the
 * poll functions take it; socket I/O on it fails. */
USOCK_API int usock_waker(usock **out);
USOCK_API void usock_wake(usock *w);
USOCK_API int usock_wake_clear(usock *w);

#ifdef __cplusplus
}
#endif
#endif
