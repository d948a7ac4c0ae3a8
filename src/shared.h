/* shared.h -- small usock__ helpers that every layer may use: no struct
 * bodies here, so that a layer that includes it still sees the ones below
 * it only through their public headers. */
#ifndef USOCK_SHARED_H
#define USOCK_SHARED_H

/* Monotonic milliseconds (the platform's clock), for deadlines. */
long long usock__now_ms(void);

/* The value of one hex digit, or -1. */
static inline int usock__hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
