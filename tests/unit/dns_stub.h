/* dns_stub.h -- a stub DNS server for the unit tests of the resolver and
 * of Happy Eyeballs (test_resolver.c, test_connect.c): a thread on UDP
 * 127.0.0.1 that answers A and AAAA queries from a table, or reads them
 * and never answers (silent), counting what it gets. */
#ifndef USOCK_DNS_STUB_H
#define USOCK_DNS_STUB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

/* What the stub knows: a name with no address of a type is NODATA
 * (NOERROR, no answer); a name not here is NXDOMAIN. */
struct stub_name {
    const char *name;
    const char *a[3], *aaaa[3];
};

struct stub {
    const struct stub_name *names; /* what it answers */
    size_t nnames;
    int fd, port;
    atomic_int stop;
    atomic_int silent;  /* read queries, never answer */
    atomic_int queries; /* datagrams received */
    pthread_t thread;
    int running;
};

/* Starts the stub on a free port (st->port) answering from names[0 .. n). */
void stub_start(struct stub *st, const struct stub_name *names, size_t n, int silent);
/* Stops it, if it runs; then st may start again. */
void stub_stop(struct stub *st);

#endif
