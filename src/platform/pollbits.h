/* pollbits.h -- USOCK_POLL* bits to and from poll(2)'s, for posix.c's
 * single-descriptor wait and the poll(2) backend. */
#ifndef USOCK_PLATFORM_POLLBITS_H
#define USOCK_PLATFORM_POLLBITS_H

#include <poll.h>

#include "usock/poll.h"

static inline short usock__to_poll_bits(int events)
{
    return (short)((events & USOCK_POLLIN ? POLLIN : 0) | (events & USOCK_POLLOUT ? POLLOUT : 0));
}

static inline int usock__from_poll_bits(int revents)
{
    /* POLLNVAL means the descriptor is not open: an error to report (the
     * poll layer reports a socket closed while registered by itself). */
    return (revents & (POLLIN | POLLPRI) ? USOCK_POLLIN : 0) |
           (revents & POLLOUT ? USOCK_POLLOUT : 0) |
           (revents & (POLLERR | POLLNVAL) ? USOCK_POLLERR : 0) |
           (revents & POLLHUP ? USOCK_POLLHUP : 0);
}

#endif
