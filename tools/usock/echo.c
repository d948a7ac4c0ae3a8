/* echo.c -- `usock echo`: a TCP, UDP or Unix-domain echo server. This file
 * has its usage, the dispatch on --mode and the poll mode (the default);
 * echo_modes.c runs the other modes on the server layer. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_EVENTS 256

static const char usage_echo[] =
    "usage: usock echo [-b ADDR] -p PORT [--udp] [--upper] [--mode MODE] [--workers N]\n"
    "       usock echo --unix PATH [--udp] [--upper] [--mode MODE] [--workers N]\n"
    "\n"
    "Echo server: sends back every byte (stream) or datagram (--udp) it gets.\n"
    "Prints 'listening on ADDR:PORT' (or PATH) to stderr first; stops on\n"
    "SIGINT/SIGTERM.\n"
    "\n"
    "  -b ADDR       numeric IPv4 or IPv6 address to bind (default 0.0.0.0)\n"
    "  -p PORT       port to listen on (0: any free port)\n"
    "  --unix PATH   a Unix-domain socket instead ('@name': abstract)\n"
    "  --udp         datagrams (UDP, or SOCK_DGRAM with --unix)\n"
    "  --upper       reply upper-cased (ASCII)\n"
    "  --mode MODE   poll (default): one thread, every client at once;\n"
    "                sequential, threading, forking, pool: the server layer\n"
    "                (one at a time, a thread or a process per client, or\n"
    "                a pool of worker threads)\n"
    "  --workers N   the pool's worker threads (default: the number of cores),\n"
    "                or forking's most children at once (default 40)\n";

/* One client of the TCP echo server. Bytes it sent that could not be sent
 * back yet wait in pend; meanwhile the client is not read, so that a fast
 * sender cannot grow them: pend never holds more than one read. */
struct client {
    usock *s;
    char *pend;          /* BUF_SIZE bytes, allocated at the first short send */
    size_t off, len;     /* pending bytes are pend[off .. len) */
    struct client *prev, *next;
};

struct echo {
    struct server sv;
    struct client *clients;
    int upper;
    int paused;          /* out of descriptors: not accepting for now */
    char buf[BUF_SIZE];  /* one read buffer for every client */
};

static void client_close(struct echo *e, struct client *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        e->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    usock_poll_unregister(e->sv.poll, c->s);
    usock_close(c->s);
    free(c->pend);
    free(c);
    if (e->paused && usock_poll_register(e->sv.poll, e->sv.sock, USOCK_POLLIN, NULL) == 0)
        e->paused = 0;
}

static void client_add(struct echo *e, usock *s)
{
    /* Replies go out at once: Nagle would hold a small echo back until
     * the client acknowledges the previous one. */
    int one = 1;
    usock_setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct client *c = calloc(1, sizeof *c);
    if (!c || usock_settimeout(s, 0) < 0 ||
        usock_poll_register(e->sv.poll, s, USOCK_POLLIN, c) < 0) {
        free(c);
        usock_close(s);
        return;
    }
    c->s = s;
    c->next = e->clients;
    if (c->next)
        c->next->prev = c;
    e->clients = c;
}

static void echo_accept(struct echo *e)
{
    for (int i = 0; i < 64; i++) {
        usock *s;
        int rc = usock_accept(e->sv.sock, &s, NULL);
        if (rc == USOCK_EAGAIN)
            return;
        if (rc == USOCK_EMFILE || rc == USOCK_ENFILE || rc == USOCK_ENOBUFS ||
            rc == USOCK_ENOMEM) {
            /* The listener would stay readable: rest it until a client leaves. */
            if (usock_poll_unregister(e->sv.poll, e->sv.sock) == 0)
                e->paused = 1;
            return;
        }
        if (rc == 0)
            client_add(e, s);
    }
}

/* Sends back n bytes of data; what does not fit now waits in pend while
 * the client is watched for POLLOUT only. */
static void echo_send(struct echo *e, struct client *c, const char *data, size_t n)
{
    ssize_t w = usock_send(c->s, data, n);
    if (w == USOCK_EAGAIN || w == USOCK_EINTR)
        w = 0;
    if (w < 0) {
        client_close(e, c);
        return;
    }
    if ((size_t)w == n)
        return;
    if (!c->pend && !(c->pend = malloc(BUF_SIZE))) {
        client_close(e, c);
        return;
    }
    memcpy(c->pend, data + w, n - (size_t)w);
    c->off = 0;
    c->len = n - (size_t)w;
    if (usock_poll_modify(e->sv.poll, c->s, USOCK_POLLOUT) < 0)
        client_close(e, c);
}

static void echo_flush(struct echo *e, struct client *c)
{
    ssize_t w = usock_send(c->s, c->pend + c->off, c->len - c->off);
    if (w == USOCK_EAGAIN || w == USOCK_EINTR)
        return;
    if (w < 0) {
        client_close(e, c);
        return;
    }
    c->off += (size_t)w;
    if (c->off < c->len)
        return;
    c->off = c->len = 0;
    if (usock_poll_modify(e->sv.poll, c->s, USOCK_POLLIN) < 0)
        client_close(e, c);
}

/* Per message: one recv and one send. A client closes only once all it
 * sent went back, as it is not read while bytes are pending. */
static void echo_read(struct echo *e, struct client *c)
{
    ssize_t n = usock_recv(c->s, e->buf, sizeof e->buf);
    if (n == USOCK_EAGAIN || n == USOCK_EINTR)
        return;
    if (n <= 0) {
        client_close(e, c);
        return;
    }
    if (e->upper)
        cli_upcase(e->buf, (size_t)n);
    echo_send(e, c, e->buf, (size_t)n);
}

static void echo_udp(struct echo *e)
{
    usock_addr from;
    ssize_t n = usock_recvfrom(e->sv.sock, e->buf, sizeof e->buf, &from);
    if (n < 0)
        return;
    if (e->upper)
        cli_upcase(e->buf, (size_t)n);
    /* UDP may drop: a reply that would block is lost, as on the wire. */
    (void)usock_sendto(e->sv.sock, e->buf, (size_t)n, &from);
}

static int echo_loop(struct echo *e, int udp)
{
    usock_event ev[MAX_EVENTS];
    while (!cli_stop_signal) {
        int n = usock_poll_wait(e->sv.poll, -1, ev, MAX_EVENTS);
        if (n < 0)
            return cli_fail("echo", "poll", n);
        for (int i = 0; i < n; i++) {
            struct client *c = ev[i].udata;
            if (!ev[i].sock)
                continue; /* POLLNVAL of a closed socket: never ours, all are unregistered */
            if (ev[i].sock == e->sv.wake)
                cli_server_drain_wake(&e->sv);
            else if (ev[i].sock == e->sv.sock && udp)
                echo_udp(e);
            else if (ev[i].sock == e->sv.sock)
                echo_accept(e);
            else if (c->len)
                echo_flush(e, c);
            else
                echo_read(e, c);
        }
    }
    return 0;
}

static int run_echo(struct opts *o)
{
    if (o->workers && o->mode != USOCK_SERVER_POOL && o->mode != USOCK_SERVER_FORKING)
        return cli_usage_error(o->cmd, "%s", "--workers N needs --mode pool or forking");
    if (o->mode != CLI_MODE_POLL)
        return cli_echo_modes(o);
    struct echo *e = calloc(1, sizeof *e);
    if (!e)
        return cli_fail("echo", "memory", USOCK_ENOMEM);
    e->upper = o->upper;
    int rc = cli_server_open(&e->sv, o, o->udp ? SOCK_DGRAM : SOCK_STREAM);
    if (rc == 0)
        rc = echo_loop(e, o->udp);
    while (e->clients)
        client_close(e, e->clients);
    cli_server_close(&e->sv);
    free(e);
    return rc;
}

const struct command cmd_echo = {"echo", "bpuUmwxh", 0, 0, 1, usage_echo, run_echo};
