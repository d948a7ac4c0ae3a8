/* test_socket.c -- the socket layer: creation, connections, the resolver,
 * timeouts, the shared read buffer, stream I/O, resets, UDP, makefile.
 *
 * Every peer is on loopback. The library's sockets are checked against raw
 * POSIX sockets (the reference) wherever the other end is not itself under
 * test. Timeouts are small and only results are asserted, never durations. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define SHORT_TIMEOUT 0.1

/* ---- fixtures ------------------------------------------------------------- */

/* A pair whose library socket has text waiting in the kernel. */
static void pair_holding(int af, usock **s, int *peer, const char *text)
{
    pair_with_raw_peer(af, s, peer);
    raw_send_str(*peer, text);
    wait_readable(*s);
}

/* A library socket whose raw peer sent text and closed: text, then EOF. */
static usock *peer_sent_then_closed(int af, const char *text)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    raw_send_str(peer, text);
    close(peer);
    return s;
}

/* A library socket whose raw peer has reset the connection, the reset
 * already arrived. */
static usock *reset_by_peer(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    raw_reset(peer);
    wait_readable(s);
    return s;
}

/* Waits (bounded) until s is writable: a non-blocking connect ended. */
static void wait_writable(usock *s)
{
    struct pollfd pf = {.fd = usock_fileno(s), .events = POLLOUT};
    assert_int_equal(poll(&pf, 1, EXPECT_MS), 1);
}

/* send, sendall and write of one byte all fail with err. */
static void expect_writes_fail(usock *s, int err)
{
    assert_code(usock_send(s, "x", 1), err);
    assert_code(usock_sendall(s, "x", 1), err);
    assert_code(usock_write(s, "x", 1), err);
}

/* ---- threads used as peers ------------------------------------------------ */

static unsigned char pattern(size_t i)
{
    return (unsigned char)((i * 7 + i / 251) & 0xff);
}

static char *pattern_buf(size_t n)
{
    char *b = malloc(n);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (char)pattern(i);
    return b;
}

/* Reads until EOF or until told to stop, checking that byte i is
 * pattern(i); pauses now and then to force the writer into short writes. */
struct reader {
    int fd;
    size_t chunk;
    int pause_ms, pause_every;
    atomic_int stop;
    size_t total;
    int in_order;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    char *buf = malloc(r->chunk);
    int reads = 0;
    r->in_order = 1;
    while (buf && !atomic_load(&r->stop)) {
        struct pollfd pf = {.fd = r->fd, .events = POLLIN};
        if (poll(&pf, 1, 20) <= 0)
            continue;
        ssize_t n = recv(r->fd, buf, r->chunk, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if ((unsigned char)buf[i] != pattern(r->total + (size_t)i))
                r->in_order = 0;
        r->total += (size_t)n;
        if (r->pause_ms && ++reads % r->pause_every == 0)
            sleep_ms(r->pause_ms);
    }
    free(buf);
    return NULL;
}

/* ======================================================================== */
/* creation                                                                  */

static void socket_zero_args_default_to_inet_stream(void **state)
{
    (void)state;
    usock *s = NULL;
    assert_ok(usock_socket(&s, 0, 0, 0));
    assert_non_null(s);
    int fd = usock_fileno(s);
    assert_true(fd >= 0);
    int v = -1;
    socklen_t len = sizeof v;
    assert_ok(usock_getsockopt(s, SOL_SOCKET, SO_DOMAIN, &v, &len));
    assert_int_equal(v, AF_INET);
    len = sizeof v;
    assert_ok(usock_getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &len));
    assert_int_equal(v, SOCK_STREAM);
    len = sizeof v;
    assert_ok(usock_getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &v, &len));
    assert_int_equal(v, IPPROTO_TCP);
    /* Starts blocking: timeout None, no O_NONBLOCK on the descriptor. */
    assert_true(usock_gettimeout(s) < 0);
    assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_ok(usock_close(s));
}

static void socket_with_bad_family_or_type_fails_with_negative_errno(void **state)
{
    (void)state;
    usock *s = (usock *)&s; /* must be overwritten */
    int r = usock_socket(&s, 12345, SOCK_STREAM, 0);
    assert_true(r < 0 && !USOCK_IS_EAI(r));
    assert_null(s);
    s = (usock *)&s;
    r = usock_socket(&s, AF_INET, 9999, 0);
    assert_true(r < 0 && !USOCK_IS_EAI(r));
    assert_null(s);
    r = usock_socket(&s, AF_INET, SOCK_DGRAM, IPPROTO_TCP);
    assert_true(r < 0);
    assert_null(s);
    assert_code(usock_socket(NULL, 0, 0, 0), USOCK_EINVAL);
}

static void socket_udp_has_datagram_type(void **state)
{
    (void)state;
    usock *s;
    assert_ok(usock_socket(&s, AF_INET, SOCK_DGRAM, 0));
    int v = -1;
    socklen_t len = sizeof v;
    assert_ok(usock_getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &len));
    assert_int_equal(v, SOCK_DGRAM);
    usock_close(s);
}

static void close_null_is_ok(void **state)
{
    (void)state;
    assert_ok(usock_close(NULL));
}

static void close_releases_the_descriptor(void **state)
{
    (void)state;
    usock *s;
    assert_ok(usock_socket(&s, 0, 0, 0));
    int fd = usock_fileno(s);
    assert_true(fcntl(fd, F_GETFD) >= 0);
    assert_ok(usock_close(s));
    errno = 0;
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    assert_int_equal(errno, EBADF);
}

static void fileno_of_null_is_negative(void **state)
{
    (void)state;
    assert_true(usock_fileno(NULL) < 0);
}

/* ======================================================================== */
/* bind, listen, accept, connect                                             */

static void tcp_connect_accept_round_trip(int af)
{
    int port;
    usock *l = listening(af, &port);
    usock *c = connected_to(af, port), *srv;
    usock_addr peer, local;
    memset(&peer, 0, sizeof peer);
    assert_ok(usock_accept(l, &srv, &peer));
    assert_non_null(srv);
    /* accept's peer address is the client's own address. */
    assert_ok(usock_getsockname(c, &local));
    assert_true(is_loopback(&peer, af));
    assert_int_equal(port_of(&peer), port_of(&local));
    assert_true(port_of(&peer) != 0);

    assert_count(usock_send(c, "ping", 4), 4);
    expect_read(srv, 4, "ping");
    assert_ok(usock_sendall(srv, "pong!", 5));
    expect_read(c, 5, "pong!");

    usock_close(c);
    usock_close(srv);
    usock_close(l);
}
BOTH_FAMILIES(tcp_connect_accept_round_trip)

static void accept_with_null_peer_is_ok(int af)
{
    int port;
    usock *l = listening(af, &port);
    usock *c, *srv = NULL;
    assert_ok(usock_socket(&c, af, 0, 0));
    usock_addr a;
    loopback(&a, af, port);
    assert_ok(usock_connect(c, &a));
    assert_ok(usock_accept(l, &srv, NULL));
    assert_non_null(srv);
    usock_close(c);
    usock_close(srv);
    usock_close(l);
}
BOTH_FAMILIES(accept_with_null_peer_is_ok)

static void bind_to_port_in_use_is_eaddrinuse(int af)
{
    int port;
    usock *l = listening(af, &port);
    usock *s;
    assert_ok(usock_socket(&s, af, SOCK_STREAM, 0));
    usock_addr a;
    loopback(&a, af, port);
    assert_code(usock_bind(s, &a), USOCK_EADDRINUSE);
    usock_close(s);
    usock_close(l);

    usock *u = bound(af, SOCK_DGRAM, &port);
    assert_ok(usock_socket(&s, af, SOCK_DGRAM, 0));
    loopback(&a, af, port);
    assert_code(usock_bind(s, &a), USOCK_EADDRINUSE);
    usock_close(s);
    usock_close(u);
}
BOTH_FAMILIES(bind_to_port_in_use_is_eaddrinuse)

/* listen(-1) must give a usable backlog, not a queue of zero. */
static void listen_negative_backlog_accepts_several_connections(int af)
{
    int port;
    usock *l = bound(af, SOCK_STREAM, &port);
    assert_ok(usock_listen(l, -1));
    usock *c[8];
    usock_addr a;
    loopback(&a, af, port);
    for (int i = 0; i < 8; i++) {
        assert_ok(usock_socket(&c[i], af, SOCK_STREAM, 0));
        /* Bounded: with a queue of 0 or 1 a later connect would hang. */
        assert_ok(usock_settimeout(c[i], 2.0));
        assert_ok(usock_connect(c[i], &a));
    }
    for (int i = 0; i < 8; i++) {
        usock *srv;
        assert_ok(usock_accept(l, &srv, NULL));
        usock_close(srv);
        usock_close(c[i]);
    }
    usock_close(l);
}
BOTH_FAMILIES(listen_negative_backlog_accepts_several_connections)

/* A bound socket that does not listen answers SYN with RST; keeping it open
 * keeps anyone else from taking the port. */
static usock *refusing(int af, usock_addr *to)
{
    int port;
    usock *b = bound(af, SOCK_STREAM, &port);
    loopback(to, af, port);
    return b;
}

static void connect_to_port_nobody_listens_on_is_econnrefused(int af)
{
    usock_addr a;
    usock *b = refusing(af, &a);
    usock *c;
    assert_ok(usock_socket(&c, af, SOCK_STREAM, 0));
    assert_code(usock_connect(c, &a), USOCK_ECONNREFUSED);
    usock_close(c);
    /* The same through the timeout path (non-blocking connect + wait). */
    assert_ok(usock_socket(&c, af, SOCK_STREAM, 0));
    assert_ok(usock_settimeout(c, 2.0));
    assert_code(usock_connect(c, &a), USOCK_ECONNREFUSED);
    usock_close(c);
    usock_close(b);
}
BOTH_FAMILIES(connect_to_port_nobody_listens_on_is_econnrefused)

static void getsockname_and_getpeername_agree_across_a_connection(int af)
{
    int port;
    usock *l = listening(af, &port);
    usock *c = connected_to(af, port), *srv;
    usock_addr cl, cp, sl, sp;
    assert_ok(usock_accept(l, &srv, NULL));
    assert_ok(usock_getsockname(c, &cl));
    assert_ok(usock_getpeername(c, &cp));
    assert_ok(usock_getsockname(srv, &sl));
    assert_ok(usock_getpeername(srv, &sp));
    assert_true(is_loopback(&cl, af) && is_loopback(&cp, af));
    assert_true(is_loopback(&sl, af) && is_loopback(&sp, af));
    assert_int_equal(port_of(&cp), port);
    assert_int_equal(port_of(&sl), port);
    assert_int_equal(port_of(&sp), port_of(&cl));
    usock_close(c);
    usock_close(srv);
    usock_close(l);
}
BOTH_FAMILIES(getsockname_and_getpeername_agree_across_a_connection)

/* ======================================================================== */
/* getaddrinfo                                                                */

static int count_entries(const usock_addrinfo *ai)
{
    int n = 0;
    for (; ai; ai = ai->next)
        n++;
    return n;
}

static void getaddrinfo_localhost_gives_loopback_with_the_port(void **state)
{
    (void)state;
    usock_addrinfo *res = NULL;
    assert_ok(usock_getaddrinfo("localhost", 8080, AF_INET, SOCK_STREAM, 0, 0, &res));
    assert_non_null(res);
    for (usock_addrinfo *ai = res; ai; ai = ai->next) {
        assert_int_equal(ai->family, AF_INET);
        assert_int_equal(ai->type, SOCK_STREAM);
        assert_true(is_loopback(&ai->addr, AF_INET));
        assert_int_equal(port_of(&ai->addr), 8080);
    }
    usock_freeaddrinfo(res);
}

/* A numeric loopback host of either family, with no family asked for. */
static void check_numeric_loopback(const char *host, int port, int af)
{
    usock_addrinfo *res = NULL;
    assert_ok(usock_getaddrinfo(host, port, 0, SOCK_STREAM, 0, 0, &res));
    assert_non_null(res);
    assert_int_equal(res->family, af);
    assert_true(is_loopback(&res->addr, af));
    assert_int_equal(port_of(&res->addr), port);
    assert_non_null(res->canonname);
    usock_freeaddrinfo(res);
}

static void getaddrinfo_numeric_ipv4(void **state)
{
    (void)state;
    check_numeric_loopback("127.0.0.1", 80, AF_INET);
}

static void getaddrinfo_numeric_ipv6(void **state)
{
    (void)state;
    check_numeric_loopback("::1", 443, AF_INET6);
}

static void getaddrinfo_filters_by_type_and_proto(void **state)
{
    (void)state;
    usock_addrinfo *all = NULL, *res = NULL;
    assert_ok(usock_getaddrinfo("127.0.0.1", 53, 0, 0, 0, 0, &all));
    /* Unfiltered, the resolver answers once per socket type. */
    assert_true(count_entries(all) >= 2);
    usock_freeaddrinfo(all);

    assert_ok(usock_getaddrinfo("127.0.0.1", 53, AF_INET, SOCK_DGRAM, 0, 0, &res));
    assert_non_null(res);
    for (usock_addrinfo *ai = res; ai; ai = ai->next) {
        assert_int_equal(ai->type, SOCK_DGRAM);
        assert_int_equal(ai->family, AF_INET);
    }
    usock_freeaddrinfo(res);

    assert_ok(usock_getaddrinfo("127.0.0.1", 53, 0, 0, IPPROTO_TCP, 0, &res));
    assert_non_null(res);
    for (usock_addrinfo *ai = res; ai; ai = ai->next) {
        assert_int_equal(ai->proto, IPPROTO_TCP);
        assert_int_equal(ai->type, SOCK_STREAM);
    }
    usock_freeaddrinfo(res);
}

static void getaddrinfo_family_that_the_address_is_not_is_eai(void **state)
{
    (void)state;
    usock_addrinfo *res = (usock_addrinfo *)&res;
    int r = usock_getaddrinfo("127.0.0.1", 80, AF_INET6, SOCK_STREAM, 0, AI_NUMERICHOST, &res);
    assert_true(USOCK_IS_EAI(r));
    assert_null(res);
    res = (usock_addrinfo *)&res;
    r = usock_getaddrinfo("::1", 80, AF_INET, SOCK_STREAM, 0, AI_NUMERICHOST, &res);
    assert_true(USOCK_IS_EAI(r));
    assert_null(res);
}

static void getaddrinfo_canonname_only_when_asked(void **state)
{
    (void)state;
    usock_addrinfo *res = NULL;
    assert_ok(usock_getaddrinfo("localhost", 80, AF_INET, SOCK_STREAM, 0, AI_CANONNAME, &res));
    assert_non_null(res);
    assert_non_null(res->canonname);
    assert_true(res->canonname[0] != '\0');
    for (usock_addrinfo *ai = res->next; ai; ai = ai->next)
        assert_non_null(ai->canonname);
    usock_freeaddrinfo(res);

    assert_ok(usock_getaddrinfo("localhost", 80, AF_INET, 0, 0, 0, &res));
    for (usock_addrinfo *ai = res; ai; ai = ai->next) {
        assert_non_null(ai->canonname);
        assert_string_equal(ai->canonname, "");
    }
    usock_freeaddrinfo(res);
}

/* The lookup fails with a USOCK_EAI_* code that has a message, and the
 * result is set to NULL. */
static void expect_eai(const char *host, int flags)
{
    usock_addrinfo *res = (usock_addrinfo *)&res;
    int r = usock_getaddrinfo(host, 80, 0, 0, 0, flags, &res);
    if (!USOCK_IS_EAI(r) || r >= -3000)
        fail_msg("%s: got %d (%s), want a USOCK_EAI_* code", host, r, usock_errname(r));
    assert_null(res);
    assert_string_not_equal(usock_strerror(r), "Unknown error");
}

static void getaddrinfo_numerichost_with_a_name_is_eai(void **state)
{
    (void)state;
    expect_eai("localhost", AI_NUMERICHOST);
}

/* An invalid name (an empty label): fails without any traffic. */
static void getaddrinfo_of_invalid_name_is_eai(void **state)
{
    (void)state;
    expect_eai("no-such-host..invalid", 0);
}

static void getaddrinfo_port_out_of_range_is_einval(void **state)
{
    (void)state;
    usock_addrinfo *res = (usock_addrinfo *)&res;
    assert_code(usock_getaddrinfo("127.0.0.1", -1, 0, 0, 0, 0, &res), USOCK_EINVAL);
    assert_null(res);
    assert_code(usock_getaddrinfo("127.0.0.1", 65536, 0, 0, 0, 0, &res), USOCK_EINVAL);
    assert_code(usock_getaddrinfo("127.0.0.1", 100000, 0, 0, 0, 0, &res), USOCK_EINVAL);
    /* The ends of the range are ports. */
    assert_ok(usock_getaddrinfo("127.0.0.1", 0, 0, SOCK_STREAM, 0, 0, &res));
    assert_int_equal(port_of(&res->addr), 0);
    usock_freeaddrinfo(res);
    assert_ok(usock_getaddrinfo("127.0.0.1", 65535, 0, SOCK_STREAM, 0, 0, &res));
    assert_int_equal(port_of(&res->addr), 65535);
    usock_freeaddrinfo(res);
}

static void getaddrinfo_null_host_is_loopback_or_any_when_passive(void **state)
{
    (void)state;
    usock_addrinfo *res = NULL;
    assert_ok(usock_getaddrinfo(NULL, 7, AF_INET, SOCK_STREAM, 0, 0, &res));
    assert_true(is_loopback(&res->addr, AF_INET));
    assert_int_equal(port_of(&res->addr), 7);
    usock_freeaddrinfo(res);

    assert_ok(usock_getaddrinfo("", 7, AF_INET, SOCK_STREAM, 0, 0, &res));
    assert_true(is_loopback(&res->addr, AF_INET));
    usock_freeaddrinfo(res);

    assert_ok(usock_getaddrinfo(NULL, 7, AF_INET, SOCK_STREAM, 0, AI_PASSIVE, &res));
    struct sockaddr_in s4;
    memcpy(&s4, &res->addr.ss, sizeof s4);
    assert_int_equal(s4.sin_family, AF_INET);
    assert_int_equal(s4.sin_addr.s_addr, htonl(INADDR_ANY));
    usock_freeaddrinfo(res);
}

static void getaddrinfo_null_result_is_einval_and_free_null_is_ok(void **state)
{
    (void)state;
    assert_code(usock_getaddrinfo("127.0.0.1", 80, 0, 0, 0, 0, NULL), USOCK_EINVAL);
    usock_freeaddrinfo(NULL);
}

/* What the resolver gives is what connect takes. */
static void getaddrinfo_answer_connects(int af)
{
    int port;
    usock *l = listening(af, &port);
    usock_addrinfo *res = NULL;
    assert_ok(usock_getaddrinfo(af == AF_INET ? "127.0.0.1" : "::1", port, af, SOCK_STREAM, 0,
                                0, &res));
    usock *c, *srv;
    assert_ok(usock_socket(&c, res->family, res->type, res->proto));
    assert_ok(usock_connect(c, &res->addr));
    assert_ok(usock_accept(l, &srv, NULL));
    usock_freeaddrinfo(res);
    usock_close(c);
    usock_close(srv);
    usock_close(l);
}
BOTH_FAMILIES(getaddrinfo_answer_connects)

/* ======================================================================== */
/* timeouts and non-blocking mode                                             */

/* A tiny timeout is still a timeout: rounded up, never turned into
 * non-blocking mode (which would say EAGAIN). */
static void tiny_positive_timeout_is_a_timeout_not_nonblocking(void **state)
{
    (void)state;
    usock *s;
    int peer;
    pair_with_raw_peer(AF_INET, &s, &peer);
    assert_ok(usock_settimeout(s, 1e-9));
    assert_true(usock_gettimeout(s) > 0);
    char buf[4];
    assert_code(usock_recv(s, buf, sizeof buf), USOCK_ETIMEDOUT);
    assert_code(usock_read(s, buf, sizeof buf), USOCK_ETIMEDOUT);
    usock_close(s);
    close(peer);
}

static void gettimeout_reports_what_was_set(void **state)
{
    (void)state;
    usock *s;
    assert_ok(usock_socket(&s, 0, 0, 0));
    assert_true(usock_gettimeout(s) < 0);
    assert_ok(usock_settimeout(s, 0.25));
    assert_true(usock_gettimeout(s) == 0.25);
    assert_true(fcntl(usock_fileno(s), F_GETFL) & O_NONBLOCK);
    assert_ok(usock_settimeout(s, 0));
    assert_true(usock_gettimeout(s) == 0.0);
    assert_ok(usock_settimeout(s, -3));
    assert_true(usock_gettimeout(s) < 0);
    assert_false(fcntl(usock_fileno(s), F_GETFL) & O_NONBLOCK);
    assert_ok(usock_setblocking(s, 0));
    assert_true(usock_gettimeout(s) == 0.0);
    assert_ok(usock_setblocking(s, 1));
    assert_true(usock_gettimeout(s) < 0);
    /* NaN is refused and changes nothing. */
    assert_ok(usock_settimeout(s, 1.5));
    assert_code(usock_settimeout(s, (double)NAN), USOCK_EINVAL);
    assert_true(usock_gettimeout(s) == 1.5);
    assert_code(usock_settimeout(NULL, 1.0), USOCK_EINVAL);
    usock_close(s);
}

/* A raw listen(0) socket whose accept queue is filled with raw
 * connections until one stays pending: the kernel then drops further
 * SYNs, so a connect to addr can end only by its timeout. */
struct full_backlog {
    int lfd, n, fillers[16];
    usock_addr addr;
};

/* Returns 1 when the queue filled, 0 when it never did. */
static int full_backlog_open(struct full_backlog *fb, int af)
{
    int port;
    fb->lfd = raw_listener(af, 0, 0, &port);
    loopback(&fb->addr, af, port);
    for (fb->n = 0; fb->n < 16;) {
        int fd = socket(af, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_true(fd >= 0);
        fb->fillers[fb->n++] = fd;
        int r = connect(fd, (struct sockaddr *)&fb->addr.ss, fb->addr.len);
        assert_true(r == 0 || errno == EINPROGRESS);
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        if (poll(&pf, 1, 100) == 0)
            return 1;
    }
    return 0;
}

/* Releases it all; skips the test when the queue never filled. */
static void full_backlog_close(struct full_backlog *fb, int filled)
{
    for (int i = 0; i < fb->n; i++)
        close(fb->fillers[i]);
    close(fb->lfd);
    if (!filled)
        skip(); /* this kernel never drops SYNs: nothing to time out on */
}

static void connect_timeout_when_backlog_is_full_is_etimedout(int af)
{
    struct full_backlog fb;
    int filled = full_backlog_open(&fb, af);
    if (filled) {
        usock *c;
        assert_ok(usock_socket(&c, af, SOCK_STREAM, 0));
        assert_ok(usock_settimeout(c, SHORT_TIMEOUT));
        assert_code(usock_connect(c, &fb.addr), USOCK_ETIMEDOUT);
        usock_close(c);
    }
    full_backlog_close(&fb, filled);
}
BOTH_FAMILIES(connect_timeout_when_backlog_is_full_is_etimedout)

static void nonblocking_connect_is_einprogress_then_completes(int af)
{
    int port;
    usock *l = listening(af, &port);
    usock *c, *srv;
    assert_ok(usock_socket(&c, af, SOCK_STREAM, 0));
    assert_ok(usock_setblocking(c, 0));
    usock_addr a;
    loopback(&a, af, port);
    int r = usock_connect(c, &a);
    /* Loopback may connect at once; otherwise it is in progress. */
    if (r != 0) {
        assert_code(r, USOCK_EINPROGRESS);
        wait_writable(c);
        assert_ok(usock_connect(c, &a));
    }
    assert_ok(usock_accept(l, &srv, NULL));
    assert_count(usock_send(c, "x", 1), 1);
    char ch;
    assert_count(usock_recv(srv, &ch, 1), 1);
    usock_close(c);
    usock_close(srv);
    usock_close(l);
}
BOTH_FAMILIES(nonblocking_connect_is_einprogress_then_completes)

/* The backlog trick makes a non-blocking connect that cannot be complete
 * at once, so EINPROGRESS is certain. */
static void nonblocking_connect_to_full_backlog_is_einprogress(int af)
{
    struct full_backlog fb;
    int filled = full_backlog_open(&fb, af);
    if (filled) {
        usock *c;
        assert_ok(usock_socket(&c, af, SOCK_STREAM, 0));
        assert_ok(usock_settimeout(c, 0));
        assert_code(usock_connect(c, &fb.addr), USOCK_EINPROGRESS);
        /* Asking again while it is still under way does not block. */
        int r = usock_connect(c, &fb.addr);
        assert_true(r == USOCK_EALREADY || r == USOCK_EINPROGRESS);
        usock_close(c);
    }
    full_backlog_close(&fb, filled);
}
BOTH_FAMILIES(nonblocking_connect_to_full_backlog_is_einprogress)

static void nonblocking_connect_refused_reports_econnrefused(int af)
{
    usock_addr a;
    usock *b = refusing(af, &a);
    usock *c;
    assert_ok(usock_socket(&c, af, SOCK_STREAM, 0));
    assert_ok(usock_setblocking(c, 0));
    int r = usock_connect(c, &a);
    if (r == USOCK_EINPROGRESS) {
        wait_writable(c);
        r = usock_connect(c, &a);
    }
    assert_code(r, USOCK_ECONNREFUSED);
    usock_close(c);
    usock_close(b);
}
BOTH_FAMILIES(nonblocking_connect_refused_reports_econnrefused)

static void accept_timeout_is_etimedout(int af)
{
    int port;
    usock *l = listening(af, &port);
    assert_ok(usock_settimeout(l, SHORT_TIMEOUT));
    usock *conn = (usock *)&conn;
    assert_code(usock_accept(l, &conn, NULL), USOCK_ETIMEDOUT);
    assert_null(conn);
    usock_close(l);
}
BOTH_FAMILIES(accept_timeout_is_etimedout)

static void nonblocking_accept_and_recv_are_eagain(int af)
{
    int port;
    usock *l = listening(af, &port);
    assert_ok(usock_setblocking(l, 0));
    usock *conn = (usock *)&conn;
    assert_code(usock_accept(l, &conn, NULL), USOCK_EAGAIN);
    assert_null(conn);
    /* With a connection waiting, a non-blocking accept takes it. */
    usock *c = connected_to(af, port);
    wait_readable(l);
    assert_ok(usock_accept(l, &conn, NULL));
    assert_non_null(conn);
    usock_close(conn);
    usock_close(c);
    usock_close(l);

    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    assert_ok(usock_setblocking(s, 0));
    char buf[8];
    assert_code(usock_recv(s, buf, sizeof buf), USOCK_EAGAIN);
    assert_code(usock_read(s, buf, sizeof buf), USOCK_EAGAIN);
    assert_code(usock_readline(s, buf, sizeof buf), USOCK_EAGAIN);
    /* Once something is there, a non-blocking read returns it. */
    raw_send_str(peer, "abc");
    wait_readable(s);
    expect_read(s, sizeof buf, "abc");
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(nonblocking_accept_and_recv_are_eagain)

/* As in CPython: whatever the listener's timeout, the accepted socket is
 * blocking. */
static void accepted_socket_is_blocking_even_when_listener_has_timeout(int af)
{
    int port;
    usock *l = listening(af, &port);
    assert_ok(usock_settimeout(l, 2.0));
    usock *c = connected_to(af, port), *srv;
    assert_ok(usock_accept(l, &srv, NULL));
    assert_true(usock_gettimeout(srv) < 0);
    assert_false(fcntl(usock_fileno(srv), F_GETFL) & O_NONBLOCK);
    usock_close(c);
    usock_close(srv);
    usock_close(l);
}
BOTH_FAMILIES(accepted_socket_is_blocking_even_when_listener_has_timeout)

static void recv_timeout_is_etimedout(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    assert_ok(usock_settimeout(s, SHORT_TIMEOUT));
    char buf[8];
    assert_code(usock_recv(s, buf, sizeof buf), USOCK_ETIMEDOUT);
    assert_code(usock_read(s, buf, sizeof buf), USOCK_ETIMEDOUT);
    assert_code(usock_readline(s, buf, sizeof buf), USOCK_ETIMEDOUT);
    assert_string_equal(buf, "");
    char *all = (char *)&all;
    assert_code(usock_readall(s, &all, NULL), USOCK_ETIMEDOUT);
    assert_null(all);
    /* The socket still works after a timeout. */
    raw_send_str(peer, "late");
    expect_recv(s, sizeof buf, "late");
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(recv_timeout_is_etimedout)

static void read_timeout_returns_bytes_that_arrived_before_it(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    assert_ok(usock_settimeout(s, SHORT_TIMEOUT));
    raw_send_str(peer, "abc");
    expect_read(s, 10, "abc");
    /* Only a call that got nothing fails. */
    char buf[16];
    assert_code(usock_read(s, buf, 10), USOCK_ETIMEDOUT);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(read_timeout_returns_bytes_that_arrived_before_it)

static void readline_timeout_returns_partial_line_and_loses_nothing(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    assert_ok(usock_settimeout(s, SHORT_TIMEOUT));
    raw_send_str(peer, "partial");
    expect_readline(s, 64, "partial");
    char buf[64];
    assert_code(usock_readline(s, buf, sizeof buf), USOCK_ETIMEDOUT);
    raw_send_str(peer, " rest\nnext\n");
    expect_readline(s, sizeof buf, " rest\n");
    expect_readline(s, sizeof buf, "next\n");
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(readline_timeout_returns_partial_line_and_loses_nothing)

/* readall's timeout returns nothing, but what arrived stays for the next
 * call. */
static void readall_timeout_keeps_the_bytes_for_the_next_call(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    assert_ok(usock_settimeout(s, SHORT_TIMEOUT));
    raw_send_str(peer, "first ");
    char *out = NULL;
    size_t len = 99;
    assert_code(usock_readall(s, &out, &len), USOCK_ETIMEDOUT);
    assert_null(out);
    raw_send_str(peer, "second");
    shutdown(peer, SHUT_WR);
    assert_ok(usock_readall(s, &out, &len));
    assert_non_null(out);
    assert_int_equal(len, 12);
    assert_string_equal(out, "first second");
    free(out);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(readall_timeout_keeps_the_bytes_for_the_next_call)

/* A peer that never reads: small buffers on both sides fill quickly. */
enum { SMALL_BUF = 4096, BIG = 8 << 20 };

static void sendall_timeout_when_peer_never_reads_is_etimedout(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer_bufs(af, &s, &peer, SMALL_BUF, SMALL_BUF);
    assert_ok(usock_settimeout(s, SHORT_TIMEOUT));
    char *big = pattern_buf(BIG);
    assert_code(usock_sendall(s, big, BIG), USOCK_ETIMEDOUT);
    free(big);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(sendall_timeout_when_peer_never_reads_is_etimedout)

static void send_timeout_when_buffers_are_full_is_etimedout(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer_bufs(af, &s, &peer, SMALL_BUF, SMALL_BUF);
    assert_ok(usock_settimeout(s, SHORT_TIMEOUT));
    static char chunk[65536];
    ssize_t r = 0;
    /* Each send either makes progress or times out; buffers are finite. */
    for (int i = 0; i < 10000 && r >= 0; i++)
        r = usock_send(s, chunk, sizeof chunk);
    assert_code(r, USOCK_ETIMEDOUT);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(send_timeout_when_buffers_are_full_is_etimedout)

/* A peer that never reads: write returns the count it got out before the
 * buffers filled (timeout 0: non-blocking). Later writes may still squeeze
 * a little in (the peer's window opens a bit); each is short, and once
 * nothing fits the error is err. What went out is the start of the data,
 * in order. */
static void check_write_count_then(int af, double timeout, int err)
{
    usock *s;
    int peer;
    pair_with_raw_peer_bufs(af, &s, &peer, SMALL_BUF, SMALL_BUF);
    if (timeout == 0)
        assert_ok(usock_setblocking(s, 0));
    else
        assert_ok(usock_settimeout(s, timeout));
    char *big = pattern_buf(BIG);
    ssize_t r = usock_write(s, big, BIG);
    if (!(r > 0 && r < BIG))
        fail_msg("write gave %zd (%s), want a short count", r, usock_errname((int)r));
    for (int i = 0; i < 1000 && r > 0; i++) {
        r = usock_write(s, big, BIG);
        assert_true(r < BIG);
    }
    assert_code(r, err);
    char head[64];
    raw_recv_exact(peer, head, sizeof head);
    assert_memory_equal(head, big, sizeof head);
    free(big);
    usock_close(s);
    close(peer);
}

static void write_timeout_returns_count_written_then_etimedout(int af)
{
    check_write_count_then(af, SHORT_TIMEOUT, USOCK_ETIMEDOUT);
}
BOTH_FAMILIES(write_timeout_returns_count_written_then_etimedout)

/* The peer drains slowly but steadily: every single send makes progress
 * well within the timeout, yet the whole transfer cannot finish in it. A
 * per-send timeout would let sendall run on; CPython's rule stops it. */
static void sendall_timeout_bounds_the_whole_call(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer_bufs(af, &s, &peer, SMALL_BUF, SMALL_BUF);
    struct reader rd = {.fd = peer, .chunk = 4096, .pause_ms = 5, .pause_every = 1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader_main, &rd), 0);
    assert_ok(usock_settimeout(s, 0.2));
    const size_t n = 4 << 20;
    char *big = pattern_buf(n);
    int r = usock_sendall(s, big, n);
    atomic_store(&rd.stop, 1);
    pthread_join(t, NULL);
    assert_code(r, USOCK_ETIMEDOUT);
    assert_true(rd.total > 0 && rd.total < n);
    assert_true(rd.in_order);
    free(big);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(sendall_timeout_bounds_the_whole_call)

static void send_may_be_short_on_a_nonblocking_socket(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer_bufs(af, &s, &peer, SMALL_BUF, SMALL_BUF);
    assert_ok(usock_setblocking(s, 0));
    char *big = pattern_buf(BIG);
    ssize_t r = usock_send(s, big, BIG);
    if (!(r > 0 && r < BIG))
        fail_msg("send gave %zd (%s), want a short count", r, usock_errname((int)r));
    /* Full now: the next one cannot proceed. */
    ssize_t r2 = 0;
    for (int i = 0; i < 1000 && r2 >= 0; i++)
        r2 = usock_send(s, big, BIG);
    assert_code(r2, USOCK_EAGAIN);
    assert_code(usock_sendall(s, big, BIG), USOCK_EAGAIN);
    /* write on a non-blocking socket: the count before it would block, or
     * EAGAIN when it could write nothing. */
    assert_code(usock_write(s, big, BIG), USOCK_EAGAIN);
    free(big);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(send_may_be_short_on_a_nonblocking_socket)

static void udp_recvfrom_timeout_and_nonblocking(int af)
{
    int port;
    usock *u = bound(af, SOCK_DGRAM, &port);
    char buf[16];
    usock_addr from;
    assert_ok(usock_settimeout(u, SHORT_TIMEOUT));
    assert_code(usock_recvfrom(u, buf, sizeof buf, &from), USOCK_ETIMEDOUT);
    assert_code(usock_recv(u, buf, sizeof buf), USOCK_ETIMEDOUT);
    assert_ok(usock_setblocking(u, 0));
    assert_code(usock_recvfrom(u, buf, sizeof buf, &from), USOCK_EAGAIN);
    assert_code(usock_recv(u, buf, sizeof buf), USOCK_EAGAIN);
    usock_close(u);
}
BOTH_FAMILIES(udp_recvfrom_timeout_and_nonblocking)

/* ======================================================================== */
/* the shared read buffer, read, readline, readall                           */

static void readline_reads_ahead_and_recv_returns_the_rest(int af)
{
    usock *s;
    int peer;
    pair_holding(af, &s, &peer, "one\ntwo\nthree\n");
    expect_readline(s, 64, "one\n");
    /* readline took the whole segment in one kernel read, not a byte at a
     * time: the rest waits in the socket's buffer. */
    assert_int_equal(usock_pending(s), 10);
    expect_recv(s, 64, "two\nthree\n");
    assert_int_equal(usock_pending(s), 0);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(readline_reads_ahead_and_recv_returns_the_rest)

static void recv_takes_from_the_buffer_in_pieces(int af)
{
    usock *s;
    int peer;
    pair_holding(af, &s, &peer, "a\nbcdefgh");
    expect_readline(s, 16, "a\n");
    expect_recv(s, 3, "bcd");
    assert_int_equal(usock_pending(s), 4);
    expect_read(s, 4, "efgh");
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(recv_takes_from_the_buffer_in_pieces)

/* read() takes buffered bytes first and then waits for the rest. */
static void read_after_readline_joins_buffer_and_kernel(int af)
{
    usock *s;
    int peer;
    pair_holding(af, &s, &peer, "hdr\nbo");
    expect_readline(s, 16, "hdr\n");
    struct sender sd = {.fd = peer, .data = "dy!", .n = 3, .delay_ms = 30};
    sender_start(&sd);
    expect_read(s, 5, "body!");
    sender_join(&sd);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(read_after_readline_joins_buffer_and_kernel)

static void readline_returns_lines_then_zero_at_eof(int af)
{
    usock *s = peer_sent_then_closed(af, "alpha\nbeta\n\ngamma\n");
    /* Each answer NUL-ended; at EOF 0 and "", again and again. */
    const char *const lines[] = {"alpha\n", "beta\n", "\n", "gamma\n", "", ""};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        expect_readline(s, 32, lines[i]);
    usock_close(s);
}
BOTH_FAMILIES(readline_returns_lines_then_zero_at_eof)

static void readline_returns_partial_line_at_eof(int af)
{
    usock *s = peer_sent_then_closed(af, "line\ntail");
    expect_readline(s, 32, "line\n");
    expect_readline(s, 32, "tail");
    expect_readline(s, 32, "");
    usock_close(s);
}
BOTH_FAMILIES(readline_returns_partial_line_at_eof)

static void readline_longer_than_cap_returns_cap_minus_one_then_the_rest(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    raw_send_str(peer, "abcdefghij\nk\n");
    expect_readline(s, 8, "abcdefg");
    expect_readline(s, 8, "hij\n");
    expect_readline(s, 8, "k\n");
    /* cap 2 is the smallest: one byte per call. */
    raw_send_str(peer, "xy\n");
    expect_readline(s, 2, "x");
    expect_readline(s, 2, "y");
    expect_readline(s, 2, "\n");
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(readline_longer_than_cap_returns_cap_minus_one_then_the_rest)

/* A line longer than the socket's own buffer still comes whole. */
static void readline_of_a_very_long_line(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    const size_t n = 100000;
    char *line = malloc(n + 1);
    memset(line, 'z', n - 1);
    line[n - 1] = '\n';
    line[n] = '\0';
    struct sender sd = {.fd = peer, .data = line, .n = n, .eof_after = 1};
    sender_start(&sd);
    char *buf = malloc(n + 10);
    assert_count(usock_readline(s, buf, n + 10), n);
    assert_string_equal(buf, line);
    assert_count(usock_readline(s, buf, n + 10), 0);
    sender_join(&sd);
    free(buf);
    free(line);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(readline_of_a_very_long_line)

static void readline_cap_below_two_is_einval(void **state)
{
    (void)state;
    usock *s;
    int peer;
    pair_with_raw_peer(AF_INET, &s, &peer);
    raw_send_str(peer, "data\n");
    char buf[4];
    assert_code(usock_readline(s, buf, 0), USOCK_EINVAL);
    assert_code(usock_readline(s, buf, 1), USOCK_EINVAL);
    assert_code(usock_readline(s, NULL, 4), USOCK_EINVAL);
    assert_code(usock_readline(NULL, buf, 4), USOCK_EINVAL);
    /* Nothing was consumed by the refused calls. */
    expect_readline(s, 8, "data\n");
    usock_close(s);
    close(peer);
}

/* read() is short only at EOF: data that comes in pieces is waited for. */
static void read_waits_for_all_bytes(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    raw_send_str(peer, "abc");
    struct sender sd = {.fd = peer, .data = "defgh", .n = 5, .delay_ms = 30};
    sender_start(&sd);
    expect_read(s, 8, "abcdefgh");
    sender_join(&sd);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(read_waits_for_all_bytes)

static void read_eof_in_the_middle_returns_short_count(int af)
{
    usock *s = peer_sent_then_closed(af, "abc");
    expect_read(s, 10, "abc");
    expect_read(s, 10, "");
    expect_recv(s, 10, "");
    expect_read(s, 0, "");
    usock_close(s);
}
BOTH_FAMILIES(read_eof_in_the_middle_returns_short_count)

static void readall_reads_until_eof(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    const size_t n = 300000;
    char *data = pattern_buf(n);
    struct sender sd = {.fd = peer, .data = data, .n = n, .eof_after = 1};
    sender_start(&sd);
    char *out = NULL;
    size_t len = 0;
    assert_ok(usock_readall(s, &out, &len));
    sender_join(&sd);
    assert_non_null(out);
    assert_int_equal(len, n);
    assert_memory_equal(out, data, n);
    assert_int_equal(out[n], '\0');
    free(out);
    /* After EOF: an empty, still NUL-ended, answer. */
    assert_ok(usock_readall(s, &out, &len));
    assert_non_null(out);
    assert_int_equal(len, 0);
    assert_int_equal(out[0], '\0');
    free(out);
    free(data);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(readall_reads_until_eof)

static void readall_starts_with_what_readline_left(int af)
{
    usock *s = peer_sent_then_closed(af, "Status: 200\n\nbody bytes");
    expect_readline(s, 32, "Status: 200\n");
    expect_readline(s, 32, "\n");
    char *out;
    size_t len;
    assert_ok(usock_readall(s, &out, &len));
    assert_int_equal(len, 10);
    assert_string_equal(out, "body bytes");
    free(out);
    /* len may be NULL: the string is NUL-ended. */
    assert_ok(usock_readall(s, &out, NULL));
    assert_string_equal(out, "");
    free(out);
    usock_close(s);
}
BOTH_FAMILIES(readall_starts_with_what_readline_left)

/* A peer that sends one byte every few milliseconds for longer than the
 * timeout: each byte would reset a per-syscall timeout, but the timeout
 * bounds the whole call, which then returns what it got. */
struct trickle {
    int fd;
    atomic_int stop;
};

static void *trickle_main(void *arg)
{
    struct trickle *t = arg;
    for (int i = 0; i < 100 && !atomic_load(&t->stop); i++) {
        send(t->fd, "z", 1, MSG_NOSIGNAL);
        sleep_ms(20);
    }
    return NULL;
}

static void read_timeout_bounds_the_whole_call(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    assert_ok(usock_settimeout(s, SHORT_TIMEOUT));
    struct trickle tr = {.fd = peer};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, trickle_main, &tr), 0);
    char buf[200];
    ssize_t r = usock_read(s, buf, sizeof buf);
    char line[200];
    ssize_t r2 = usock_readline(s, line, sizeof line);
    atomic_store(&tr.stop, 1);
    pthread_join(t, NULL);
    if (!(r > 0 && r < 100))
        fail_msg("read gave %zd (%s), want a short count", r, usock_errname((int)r));
    if (!(r2 > 0 && r2 < 100))
        fail_msg("readline gave %zd (%s), want a short count", r2, usock_errname((int)r2));
    assert_int_equal(strspn(line, "z"), (size_t)r2);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(read_timeout_bounds_the_whole_call)

static void readall_nonblocking_is_eagain_and_keeps_the_bytes(int af)
{
    usock *s;
    int peer;
    pair_holding(af, &s, &peer, "kept");
    assert_ok(usock_setblocking(s, 0));
    char *out = (char *)&out;
    assert_code(usock_readall(s, &out, NULL), USOCK_EAGAIN);
    assert_null(out);
    close(peer);
    wait_readable(s);
    size_t len;
    assert_ok(usock_readall(s, &out, &len));
    assert_int_equal(len, 4);
    assert_string_equal(out, "kept");
    free(out);
    usock_close(s);
}
BOTH_FAMILIES(readall_nonblocking_is_eagain_and_keeps_the_bytes)

static void readline_of_a_line_that_exactly_fits(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    raw_send_str(peer, "abc\nabcd\n");
    expect_readline(s, 5, "abc\n");
    /* One byte longer: the '\n' is left for the next call. */
    expect_readline(s, 5, "abcd");
    expect_readline(s, 5, "\n");
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(readline_of_a_line_that_exactly_fits)

static void recv_is_zero_at_eof(int af)
{
    usock *s = peer_sent_then_closed(af, "");
    expect_recv(s, 4, "");
    expect_recv(s, 4, "");
    usock_close(s);
}
BOTH_FAMILIES(recv_is_zero_at_eof)

/* ======================================================================== */
/* write and sendall                                                          */

static void check_delivery(int af, int use_write, double timeout)
{
    usock *s;
    int peer;
    pair_with_raw_peer_bufs(af, &s, &peer, SMALL_BUF, SMALL_BUF);
    if (timeout != 0)
        assert_ok(usock_settimeout(s, timeout));
    struct reader rd = {.fd = peer, .chunk = 32768, .pause_ms = 1, .pause_every = 16};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader_main, &rd), 0);
    const size_t n = 4 << 20;
    char *big = pattern_buf(n);
    if (use_write)
        assert_count(usock_write(s, big, n), (long long)n);
    else
        assert_ok(usock_sendall(s, big, n));
    assert_ok(usock_shutdown(s, SHUT_WR));
    pthread_join(t, NULL);
    assert_int_equal(rd.total, n);
    assert_true(rd.in_order);
    free(big);
    usock_close(s);
    close(peer);
}

/* A socket with a timeout is non-blocking underneath, so its sends are
 * short whenever the buffers fill: sendall and write must go on. */
static void sendall_with_timeout_delivers_megabytes_in_order(int af)
{
    check_delivery(af, 0, 10.0);
}
BOTH_FAMILIES(sendall_with_timeout_delivers_megabytes_in_order)

static void write_with_timeout_delivers_megabytes_in_order(int af)
{
    check_delivery(af, 1, 10.0);
}
BOTH_FAMILIES(write_with_timeout_delivers_megabytes_in_order)

static void blocking_sendall_and_write_deliver_megabytes_in_order(int af)
{
    check_delivery(af, 0, -1);
    check_delivery(af, 1, -1);
}
BOTH_FAMILIES(blocking_sendall_and_write_deliver_megabytes_in_order)

/* Signals interrupt blocking sends and receives (EINTR); the library must
 * retry them instead of failing or reporting a short count. */
static void blocking_io_survives_signals(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer_bufs(af, &s, &peer, SMALL_BUF, SMALL_BUF);
    struct reader rd = {.fd = peer, .chunk = 8192, .pause_ms = 1, .pause_every = 4};
    pthread_t tr;
    assert_int_equal(pthread_create(&tr, NULL, reader_main, &rd), 0);
    struct pester ps;
    pester_start(&ps, 1);

    const size_t n = 2 << 20;
    char *big = pattern_buf(n);
    int r1 = usock_sendall(s, big, n);
    ssize_t r2 = usock_write(s, big, 0);
    /* A blocking read that waits while signals arrive. */
    struct sender sd = {.fd = peer, .data = "slow reply\n", .n = 11, .delay_ms = 50};
    sender_start(&sd);
    char line[32];
    ssize_t r3 = usock_readline(s, line, sizeof line);

    int interrupts = pester_stop(&ps);
    sender_join(&sd);
    shutdown(usock_fileno(s), SHUT_WR);
    pthread_join(tr, NULL);

    assert_ok(r1);
    assert_count(r2, 0);
    assert_count(r3, 11);
    assert_string_equal(line, "slow reply\n");
    assert_int_equal(rd.total, n);
    assert_true(rd.in_order);
    assert_true(interrupts > 0);
    free(big);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(blocking_io_survives_signals)

static void sendall_and_write_of_nothing_succeed(void **state)
{
    (void)state;
    usock *s;
    int peer;
    pair_with_raw_peer(AF_INET, &s, &peer);
    assert_ok(usock_sendall(s, NULL, 0));
    assert_count(usock_write(s, NULL, 0), 0);
    assert_count(usock_send(s, "", 0), 0);
    usock_close(s);
    close(peer);
}

/* ======================================================================== */
/* peer reset and closed peers                                                */

static void every_call_after_peer_reset_is_econnreset(int af)
{
    usock *s = reset_by_peer(af);
    char buf[16];
    assert_code(usock_recv(s, buf, sizeof buf), USOCK_ECONNRESET);
    /* The kernel reports a reset once; the library keeps reporting it. */
    assert_code(usock_recv(s, buf, sizeof buf), USOCK_ECONNRESET);
    assert_code(usock_read(s, buf, sizeof buf), USOCK_ECONNRESET);
    assert_code(usock_readline(s, buf, sizeof buf), USOCK_ECONNRESET);
    char *out = NULL;
    assert_code(usock_readall(s, &out, NULL), USOCK_ECONNRESET);
    assert_null(out);
    expect_writes_fail(s, USOCK_ECONNRESET);
    assert_code(usock_recv(s, buf, sizeof buf), USOCK_ECONNRESET);
    usock_close(s);
}
BOTH_FAMILIES(every_call_after_peer_reset_is_econnreset)

static void send_after_peer_reset_is_econnreset_and_stays_so(int af)
{
    usock *s = reset_by_peer(af);
    assert_code(usock_send(s, "x", 1), USOCK_ECONNRESET);
    assert_code(usock_send(s, "x", 1), USOCK_ECONNRESET);
    char buf[4];
    assert_code(usock_recv(s, buf, sizeof buf), USOCK_ECONNRESET);
    usock_close(s);
}
BOTH_FAMILIES(send_after_peer_reset_is_econnreset_and_stays_so)

/* The reset is noticed by a call with a timeout (through the wait) too. */
static void timed_read_sees_the_reset(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    assert_ok(usock_settimeout(s, 2.0));
    raw_reset(peer);
    char buf[8];
    assert_code(usock_read(s, buf, sizeof buf), USOCK_ECONNRESET);
    assert_code(usock_read(s, buf, sizeof buf), USOCK_ECONNRESET);
    usock_close(s);
}
BOTH_FAMILIES(timed_read_sees_the_reset)

/* Bytes the library already holds were received: a later reset does not
 * take them back. */
static void bytes_buffered_before_a_reset_are_still_returned(int af)
{
    usock *s;
    int peer;
    pair_holding(af, &s, &peer, "a\nb\n");
    expect_readline(s, 8, "a\n");
    raw_reset(peer);
    wait_readable(s);
    expect_recv(s, 8, "b\n");
    char buf[8];
    assert_code(usock_recv(s, buf, sizeof buf), USOCK_ECONNRESET);
    usock_close(s);
}
BOTH_FAMILIES(bytes_buffered_before_a_reset_are_still_returned)

static void makefile_write_to_a_reset_peer_fails_without_sigpipe(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    FILE *f = usock_makefile(s, "wb");
    assert_non_null(f);
    raw_reset(peer);
    wait_readable(s);
    int failed = 0;
    for (int i = 0; i < 200 && !failed; i++)
        failed = fputs("line\n", f) < 0 || fflush(f) != 0;
    assert_true(failed);
    assert_true(ferror(f));
    assert_true(errno == ECONNRESET || errno == EPIPE);
    fclose(f);
    usock_close(s);
}
BOTH_FAMILIES(makefile_write_to_a_reset_peer_fails_without_sigpipe)

/* SIGPIPE keeps its default action (terminate) here on purpose: if the
 * library ever wrote without MSG_NOSIGNAL, this test program would die. */
static void writes_to_a_closed_peer_fail_without_sigpipe(int af)
{
    usock *s = peer_sent_then_closed(af, "");
    ssize_t r = 0;
    /* The first write may still be accepted; the peer answers it with RST. */
    for (int i = 0; i < 200 && r >= 0; i++) {
        r = usock_send(s, "data", 4);
        if (r >= 0)
            sleep_ms(5);
    }
    if (r != USOCK_EPIPE && r != USOCK_ECONNRESET)
        fail_msg("send gave %zd (%s), want EPIPE or ECONNRESET", r, usock_errname((int)r));
    int r2 = usock_sendall(s, "data", 4);
    assert_true(r2 == USOCK_EPIPE || r2 == USOCK_ECONNRESET);
    ssize_t r3 = usock_write(s, "data", 4);
    assert_true(r3 == USOCK_EPIPE || r3 == USOCK_ECONNRESET);
    usock_close(s);
}
BOTH_FAMILIES(writes_to_a_closed_peer_fail_without_sigpipe)

static void write_after_own_shutdown_fails_without_sigpipe(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    assert_ok(usock_shutdown(s, SHUT_WR));
    expect_writes_fail(s, USOCK_EPIPE);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(write_after_own_shutdown_fails_without_sigpipe)

/* ======================================================================== */
/* UDP                                                                        */

/* Two library UDP sockets bound to loopback, a and b; to_a and to_b are
 * their addresses. */
struct udp_two {
    usock *a, *b;
    int pa, pb;
    usock_addr to_a, to_b;
};

static void udp_two_open(struct udp_two *u, int af)
{
    u->a = bound(af, SOCK_DGRAM, &u->pa);
    u->b = bound(af, SOCK_DGRAM, &u->pb);
    loopback(&u->to_a, af, u->pa);
    loopback(&u->to_b, af, u->pb);
}

static void udp_two_close(struct udp_two *u)
{
    usock_close(u->a);
    usock_close(u->b);
}

/* sendto sends text as one whole datagram. */
static void sendto_all(usock *s, const char *text, const usock_addr *to)
{
    assert_count(usock_sendto(s, text, strlen(text), to), (long long)strlen(text));
}

static void udp_sendto_recvfrom_gives_the_sender_address(int af)
{
    struct udp_two u;
    udp_two_open(&u, af);
    sendto_all(u.a, "hello", &u.to_b);
    char buf[32];
    usock_addr from;
    memset(&from, 0, sizeof from);
    assert_count(usock_recvfrom(u.b, buf, sizeof buf, &from), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_true(is_loopback(&from, af));
    assert_int_equal(port_of(&from), u.pa);
    /* Reply to the address recvfrom gave. */
    sendto_all(u.b, "world!", &from);
    assert_count(usock_recvfrom(u.a, buf, sizeof buf, NULL), 6);
    assert_memory_equal(buf, "world!", 6);
    udp_two_close(&u);
}
BOTH_FAMILIES(udp_sendto_recvfrom_gives_the_sender_address)

static void udp_recv_keeps_datagram_boundaries(int af)
{
    struct udp_two u;
    udp_two_open(&u, af);
    const char *const dgrams[] = {"one", "three", "" /* an empty datagram */};
    for (size_t i = 0; i < sizeof dgrams / sizeof dgrams[0]; i++)
        sendto_all(u.a, dgrams[i], &u.to_b);
    for (size_t i = 0; i < sizeof dgrams / sizeof dgrams[0]; i++)
        expect_recv(u.b, 32, dgrams[i]);
    udp_two_close(&u);
}
BOTH_FAMILIES(udp_recv_keeps_datagram_boundaries)

static void udp_connected_send_and_recv(int af)
{
    struct udp_two u;
    udp_two_open(&u, af);
    assert_ok(usock_connect(u.a, &u.to_b));
    assert_ok(usock_connect(u.b, &u.to_a));
    assert_count(usock_send(u.a, "ping", 4), 4);
    expect_recv(u.b, 8, "ping");
    assert_ok(usock_sendall(u.b, "pong", 4));
    expect_recv(u.a, 8, "pong");
    udp_two_close(&u);
}
BOTH_FAMILIES(udp_connected_send_and_recv)

/* A datagram is not a stream: what does not fit is dropped, not kept for
 * the next recv (the stream buffer must not swallow datagrams). */
static void udp_recv_truncates_a_long_datagram(int af)
{
    struct udp_two u;
    udp_two_open(&u, af);
    sendto_all(u.a, "0123456789", &u.to_b);
    sendto_all(u.a, "next", &u.to_b);
    expect_recv(u.b, 3, "012");
    assert_int_equal(usock_pending(u.b), 0);
    expect_recv(u.b, 16, "next");
    udp_two_close(&u);
}
BOTH_FAMILIES(udp_recv_truncates_a_long_datagram)

/* ======================================================================== */
/* makefile                                                                   */

static void makefile_fgets_reads_lines_and_fprintf_writes(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    FILE *f = usock_makefile(s, "rwb");
    assert_non_null(f);
    raw_send_str(peer, "GET / HTTP/1.0\r\nHost: x\r\n\r\n");
    char line[64];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "GET / HTTP/1.0\r\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "Host: x\r\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "\r\n");
    assert_true(fprintf(f, "HTTP/1.0 %d OK\r\n", 200) > 0);
    assert_int_equal(fflush(f), 0);
    char got[17] = {0};
    raw_recv_exact(peer, got, 17);
    assert_memory_equal(got, "HTTP/1.0 200 OK\r\n", 17);
    /* EOF from the peer is EOF on the stream. */
    shutdown(peer, SHUT_WR);
    assert_null(fgets(line, sizeof line, f));
    assert_true(feof(f));
    assert_int_equal(fclose(f), 0);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(makefile_fgets_reads_lines_and_fprintf_writes)

static void makefile_fclose_leaves_the_socket_open(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    FILE *f = usock_makefile(s, "r");
    assert_non_null(f);
    assert_int_equal(fclose(f), 0);
    int fd = usock_fileno(s);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) >= 0);
    raw_send_str(peer, "still here");
    expect_read(s, 10, "still here");
    assert_ok(usock_sendall(s, "ok", 2));
    char buf[2];
    raw_recv_exact(peer, buf, 2);
    assert_memory_equal(buf, "ok", 2);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(makefile_fclose_leaves_the_socket_open)

/* The stream and the socket share one buffer, both ways round. */
static void makefile_shares_the_socket_read_buffer(int af)
{
    usock *s;
    int peer;
    pair_holding(af, &s, &peer, "first\nsecond\nthird\nrest");
    expect_readline(s, 32, "first\n");
    char line[32];
    FILE *f = usock_makefile(s, "rb");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "second\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "third\n");
    assert_int_equal(fclose(f), 0);
    /* Nothing stayed behind in stdio. */
    assert_int_equal(usock_pending(s), 4);
    expect_recv(s, 32, "rest");
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(makefile_shares_the_socket_read_buffer)

static void makefile_accepts_the_python_modes(void **state)
{
    (void)state;
    usock *s;
    int peer;
    pair_with_raw_peer(AF_INET, &s, &peer);
    const char *modes[] = {"r", "w", "r+", "rb", "wb", "rwb", "rw", "wr", "r+b"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        FILE *f = usock_makefile(s, modes[i]);
        if (!f)
            fail_msg("makefile(\"%s\") failed", modes[i]);
        assert_int_equal(fclose(f), 0);
    }
    FILE *w = usock_makefile(s, "w");
    assert_true(fputs("via w\n", w) >= 0);
    assert_int_equal(fflush(w), 0);
    fclose(w);
    char got[6];
    raw_recv_exact(peer, got, 6);
    assert_memory_equal(got, "via w\n", 6);
    usock_close(s);
    close(peer);
}

static void makefile_bad_mode_or_socket_is_null(void **state)
{
    (void)state;
    usock *s;
    assert_ok(usock_socket(&s, 0, 0, 0));
    const char *bad[] = {"", "x", "a", "b", "rx", "r w"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        FILE *f = usock_makefile(s, bad[i]);
        if (f) {
            fclose(f);
            fail_msg("makefile(\"%s\") gave a stream", bad[i]);
        }
        assert_int_not_equal(errno, 0);
    }
    assert_null(usock_makefile(s, NULL));
    assert_null(usock_makefile(NULL, "r"));
    usock_close(s);
}

/* ======================================================================== */
/* options, shutdown                                                          */

static void setsockopt_values_read_back(int af)
{
    usock *s;
    assert_ok(usock_socket(&s, af, SOCK_STREAM, 0));
    int one = 1, v = 0;
    socklen_t len = sizeof v;
    assert_ok(usock_setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    assert_ok(usock_getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, &len));
    assert_true(v != 0);
    assert_int_equal(len, sizeof v);
    v = 0;
    len = sizeof v;
    assert_ok(usock_setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
    assert_ok(usock_getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &len));
    assert_true(v != 0);
    int zero = 0;
    assert_ok(usock_setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &zero, sizeof zero));
    len = sizeof v;
    assert_ok(usock_getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &len));
    assert_int_equal(v, 0);
    /* An option the level does not have: the kernel's error, passed on. */
    assert_code(usock_getsockopt(s, SOL_SOCKET, 12345, &v, &len), USOCK_ENOPROTOOPT);
    usock_close(s);
}
BOTH_FAMILIES(setsockopt_values_read_back)

static void shutdown_wr_gives_the_peer_eof_and_reading_goes_on(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    assert_ok(usock_sendall(s, "last", 4));
    assert_ok(usock_shutdown(s, SHUT_WR));
    char buf[8];
    raw_recv_exact(peer, buf, 4);
    wait_fd_readable(peer);
    assert_int_equal(recv(peer, buf, sizeof buf, 0), 0);
    raw_send_str(peer, "reply");
    expect_read(s, 5, "reply");
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(shutdown_wr_gives_the_peer_eof_and_reading_goes_on)

/* ======================================================================== */
/* error paths                                                                */

static void null_arguments_are_einval(void **state)
{
    (void)state;
    usock *s, *conn;
    assert_ok(usock_socket(&s, 0, 0, 0));
    usock_addr a;
    loopback(&a, AF_INET, 0);
    char buf[8];
    socklen_t len = sizeof(int);
    int v;
    assert_code(usock_bind(NULL, &a), USOCK_EINVAL);
    assert_code(usock_bind(s, NULL), USOCK_EINVAL);
    assert_code(usock_listen(NULL, 1), USOCK_EINVAL);
    assert_code(usock_accept(NULL, &conn, NULL), USOCK_EINVAL);
    assert_code(usock_accept(s, NULL, NULL), USOCK_EINVAL);
    assert_code(usock_connect(NULL, &a), USOCK_EINVAL);
    assert_code(usock_connect(s, NULL), USOCK_EINVAL);
    assert_code(usock_send(NULL, "x", 1), USOCK_EINVAL);
    assert_code(usock_send(s, NULL, 1), USOCK_EINVAL);
    assert_code(usock_sendall(NULL, "x", 1), USOCK_EINVAL);
    assert_code(usock_sendall(s, NULL, 1), USOCK_EINVAL);
    assert_code(usock_write(NULL, "x", 1), USOCK_EINVAL);
    assert_code(usock_write(s, NULL, 1), USOCK_EINVAL);
    assert_code(usock_recv(NULL, buf, 1), USOCK_EINVAL);
    assert_code(usock_recv(s, NULL, 1), USOCK_EINVAL);
    assert_code(usock_read(NULL, buf, 1), USOCK_EINVAL);
    assert_code(usock_read(s, NULL, 1), USOCK_EINVAL);
    assert_code(usock_readall(NULL, (char **)&buf, NULL), USOCK_EINVAL);
    assert_code(usock_readall(s, NULL, NULL), USOCK_EINVAL);
    assert_code(usock_sendto(NULL, "x", 1, &a), USOCK_EINVAL);
    assert_code(usock_sendto(s, "x", 1, NULL), USOCK_EINVAL);
    assert_code(usock_recvfrom(NULL, buf, 1, &a), USOCK_EINVAL);
    assert_code(usock_recvfrom(s, NULL, 1, &a), USOCK_EINVAL);
    assert_code(usock_setsockopt(NULL, SOL_SOCKET, SO_REUSEADDR, &v, len), USOCK_EINVAL);
    assert_code(usock_getsockopt(NULL, SOL_SOCKET, SO_REUSEADDR, &v, &len), USOCK_EINVAL);
    assert_code(usock_getsockopt(s, SOL_SOCKET, SO_REUSEADDR, NULL, &len), USOCK_EINVAL);
    assert_code(usock_getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, NULL), USOCK_EINVAL);
    assert_code(usock_setblocking(NULL, 1), USOCK_EINVAL);
    assert_code(usock_shutdown(NULL, SHUT_RDWR), USOCK_EINVAL);
    assert_code(usock_getsockname(NULL, &a), USOCK_EINVAL);
    assert_code(usock_getsockname(s, NULL), USOCK_EINVAL);
    assert_code(usock_getpeername(NULL, &a), USOCK_EINVAL);
    assert_code(usock_getpeername(s, NULL), USOCK_EINVAL);
    assert_int_equal(usock_pending(NULL), 0);
    assert_true(usock_gettimeout(NULL) < 0);
    usock_close(s);
}

static void io_on_an_unconnected_socket_is_enotconn(int af)
{
    usock *s;
    assert_ok(usock_socket(&s, af, SOCK_STREAM, 0));
    char buf[8];
    usock_addr a;
    assert_code(usock_recv(s, buf, sizeof buf), USOCK_ENOTCONN);
    assert_code(usock_read(s, buf, sizeof buf), USOCK_ENOTCONN);
    assert_code(usock_readline(s, buf, sizeof buf), USOCK_ENOTCONN);
    assert_code(usock_getpeername(s, &a), USOCK_ENOTCONN);
    /* The same with a timeout: it must not wait on a socket that will never
     * be readable, nor hide the error as a timeout. */
    assert_ok(usock_settimeout(s, SHORT_TIMEOUT));
    assert_code(usock_recv(s, buf, sizeof buf), USOCK_ENOTCONN);
    /* send: Linux says EPIPE for a stream that never connected; either
     * way an error, and no SIGPIPE. */
    ssize_t r = usock_send(s, "x", 1);
    assert_true(r == USOCK_EPIPE || r == USOCK_ENOTCONN);
    /* Last: the kernel marks the socket shut down even as it refuses. */
    assert_code(usock_shutdown(s, SHUT_RDWR), USOCK_ENOTCONN);
    usock_close(s);
}
BOTH_FAMILIES(io_on_an_unconnected_socket_is_enotconn)

static void operations_on_a_listening_socket_fail(int af)
{
    int port;
    usock *l = listening(af, &port);
    char buf[8];
    assert_code(usock_recv(l, buf, sizeof buf), USOCK_ENOTCONN);
    assert_code(usock_read(l, buf, sizeof buf), USOCK_ENOTCONN);
    ssize_t r = usock_send(l, "x", 1);
    assert_true(r == USOCK_EPIPE || r == USOCK_ENOTCONN);
    usock_addr a;
    loopback(&a, af, port);
    assert_true(usock_connect(l, &a) < 0);
    assert_code(usock_getpeername(l, &a), USOCK_ENOTCONN);
    /* Still a listener afterwards. */
    usock *c = connected_to(af, port), *srv;
    assert_ok(usock_accept(l, &srv, NULL));
    usock_close(srv);
    usock_close(c);
    usock_close(l);
}
BOTH_FAMILIES(operations_on_a_listening_socket_fail)

static void accept_on_a_socket_that_does_not_listen_fails(int af)
{
    int port;
    usock *s = bound(af, SOCK_STREAM, &port);
    usock *conn = (usock *)&conn;
    assert_code(usock_accept(s, &conn, NULL), USOCK_EINVAL);
    assert_null(conn);
    usock_close(s);
    usock *u = bound(af, SOCK_DGRAM, &port);
    assert_code(usock_listen(u, 1), USOCK_EOPNOTSUPP);
    conn = (usock *)&conn;
    assert_code(usock_accept(u, &conn, NULL), USOCK_EOPNOTSUPP);
    assert_null(conn);
    usock_close(u);
}
BOTH_FAMILIES(accept_on_a_socket_that_does_not_listen_fails)

static void bind_with_address_of_the_other_family_fails(void **state)
{
    (void)state;
    if (!have_ipv6())
        skip();
    usock *s;
    assert_ok(usock_socket(&s, AF_INET, SOCK_STREAM, 0));
    usock_addr a;
    loopback(&a, AF_INET6, 0);
    int r = usock_bind(s, &a);
    assert_true(r == USOCK_EINVAL || r == USOCK_EAFNOSUPPORT);
    usock_close(s);
}

/* ======================================================================== */
/* connect's pending state, timeout range, partial counts                     */

/* The uselect sequence: EINPROGRESS, POLLOUT, connect again gives 0 and
 * ends the pending state, so that a further connect says the socket is
 * connected (as Python's connect_ex and the kernel do). */
static void nonblocking_connect_sequence_ends_in_eisconn(int af)
{
    int port;
    usock *l = listening(af, &port);
    usock *c, *srv;
    assert_ok(usock_socket(&c, af, SOCK_STREAM, 0));
    assert_ok(usock_setblocking(c, 0));
    usock_addr a;
    loopback(&a, af, port);
    int r = usock_connect(c, &a);
    if (r != 0) {
        assert_code(r, USOCK_EINPROGRESS);
        int rev = poll_pollout(c);
        assert_true(rev & USOCK_POLLOUT);
        assert_false(rev & USOCK_POLLERR);
        assert_ok(usock_connect(c, &a));
    }
    assert_code(usock_connect(c, &a), USOCK_EISCONN);
    assert_code(usock_connect(c, &a), USOCK_EISCONN);
    /* Still a good connection, in both directions. */
    assert_ok(usock_accept(l, &srv, NULL));
    assert_count(usock_send(c, "x", 1), 1);
    char ch;
    assert_count(usock_recv(srv, &ch, 1), 1);
    assert_count(usock_send(srv, "y", 1), 1);
    wait_readable(c);
    expect_recv(c, 1, "y");
    /* The same once the socket has a timeout or blocks again. */
    assert_ok(usock_settimeout(c, 2.0));
    assert_code(usock_connect(c, &a), USOCK_EISCONN);
    assert_ok(usock_setblocking(c, 1));
    assert_code(usock_connect(c, &a), USOCK_EISCONN);
    usock_close(c);
    usock_close(srv);
    usock_close(l);
}
BOTH_FAMILIES(nonblocking_connect_sequence_ends_in_eisconn)

/* A refused non-blocking connect: the second connect gives the error and
 * ends the pending state, so the socket can start a new attempt (Linux
 * allows connecting again after a failed connect) that ends as one. */
static void nonblocking_connect_refused_then_a_new_attempt(int af)
{
    usock_addr refused;
    usock *b = refusing(af, &refused);
    usock *c;
    assert_ok(usock_socket(&c, af, SOCK_STREAM, 0));
    assert_ok(usock_setblocking(c, 0));
    int r = usock_connect(c, &refused);
    if (r == USOCK_EINPROGRESS) {
        int rev = poll_pollout(c);
        assert_true(rev & (USOCK_POLLERR | USOCK_POLLHUP | USOCK_POLLOUT));
        r = usock_connect(c, &refused);
    }
    assert_code(r, USOCK_ECONNREFUSED);

    int port;
    usock *l = listening(af, &port);
    usock_addr good;
    loopback(&good, af, port);
    r = usock_connect(c, &good);
    if (r != 0) {
        assert_code(r, USOCK_EINPROGRESS);
        assert_true(poll_pollout(c) & USOCK_POLLOUT);
        assert_ok(usock_connect(c, &good));
    }
    assert_code(usock_connect(c, &good), USOCK_EISCONN);
    usock *srv;
    assert_ok(usock_accept(l, &srv, NULL));
    assert_count(usock_send(c, "z", 1), 1);
    char ch;
    assert_count(usock_recv(srv, &ch, 1), 1);
    usock_close(srv);
    usock_close(l);
    usock_close(c);
    usock_close(b);
}
BOTH_FAMILIES(nonblocking_connect_refused_then_a_new_attempt)

/* More than INT_MAX milliseconds is CPython's OverflowError: USOCK_ERANGE,
 * and neither the timeout nor the descriptor's mode changes. */
static void settimeout_out_of_range_is_erange_and_changes_nothing(void **state)
{
    (void)state;
    const double too_big[] = {1e10, (double)INFINITY, 2147484.0, 1e300};
    const double before[] = {1.5, -1.0, 0.0};
    usock *s;
    assert_ok(usock_socket(&s, 0, 0, 0));
    for (size_t i = 0; i < sizeof before / sizeof before[0]; i++) {
        assert_ok(usock_settimeout(s, before[i]));
        int flags = fcntl(usock_fileno(s), F_GETFL);
        for (size_t j = 0; j < sizeof too_big / sizeof too_big[0]; j++) {
            int r = usock_settimeout(s, too_big[j]);
            if (r != USOCK_ERANGE)
                fail_msg("settimeout(%g) = %d (%s), want ERANGE", too_big[j], r, usock_errname(r));
            assert_true(usock_gettimeout(s) == (before[i] < 0 ? -1.0 : before[i]));
            assert_int_equal(fcntl(usock_fileno(s), F_GETFL), flags);
        }
    }
    usock_close(s);
}

/* The largest timeout there is: INT_MAX milliseconds (not more) is taken,
 * and a socket with it still returns data that is there. */
static void settimeout_up_to_int_max_milliseconds_is_accepted(void **state)
{
    (void)state;
    usock *s;
    int peer;
    pair_with_raw_peer(AF_INET, &s, &peer);
    assert_ok(usock_settimeout(s, 2147483.0));
    assert_true(usock_gettimeout(s) == 2147483.0);
    raw_send_str(peer, "ok");
    expect_recv(s, 4, "ok");
    const double int_max_ms = (double)INT_MAX / 1000.0; /* 2147483.647 s */
    int r = usock_settimeout(s, int_max_ms);
    double got = usock_gettimeout(s);
    usock_close(s);
    close(peer);
    if (r != 0)
        fail_msg("settimeout(%.3f) (INT_MAX ms) = %d (%s), want 0", int_max_ms, r,
                 usock_errname(r));
    assert_true(got == int_max_ms);
}

/* A peer that reads a little, then resets the connection. */
struct resetter {
    int fd;
    ssize_t got;
};

static void *resetter_main(void *arg)
{
    struct resetter *rs = arg;
    char buf[1024];
    struct pollfd pf = {.fd = rs->fd, .events = POLLIN};
    rs->got = -1;
    if (poll(&pf, 1, 10000) == 1)
        rs->got = recv(rs->fd, buf, sizeof buf, 0);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(rs->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(rs->fd);
    return NULL;
}

/* The peer resets while write is blocked with part of the data sent:
 * write returns that count, and the error comes from the next call. */
static void check_write_count_then_error(int af, double timeout)
{
    usock *s;
    int peer;
    pair_with_raw_peer_bufs(af, &s, &peer, SMALL_BUF, SMALL_BUF);
    if (timeout != 0)
        assert_ok(usock_settimeout(s, timeout));
    struct resetter rs = {.fd = peer};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, resetter_main, &rs), 0);
    char *big = pattern_buf(BIG);
    ssize_t r = usock_write(s, big, BIG);
    pthread_join(t, NULL);
    assert_true(rs.got > 0);
    if (!(r > 0 && r < BIG))
        fail_msg("write gave %zd (%s), want the count sent before the reset", r,
                 usock_errname((int)r));
    assert_true(r >= rs.got);
    ssize_t r2 = usock_write(s, big, BIG);
    if (r2 != USOCK_ECONNRESET && r2 != USOCK_EPIPE)
        fail_msg("next write gave %zd (%s), want ECONNRESET or EPIPE", r2, usock_errname((int)r2));
    free(big);
    usock_close(s);
}

static void write_returns_count_sent_before_a_reset_then_the_error(int af)
{
    check_write_count_then_error(af, -1);   /* blocking */
    check_write_count_then_error(af, 30.0); /* timed: a bound, never reached */
}
BOTH_FAMILIES(write_returns_count_sent_before_a_reset_then_the_error)

/* Non-blocking: the count written before it would block, then EAGAIN once
 * nothing more fits. */
static void nonblocking_write_returns_count_then_eagain(int af)
{
    check_write_count_then(af, 0, USOCK_EAGAIN);
}
BOTH_FAMILIES(nonblocking_write_returns_count_then_eagain)

/* Bytes that arrived before a reset are returned as a short count by
 * read and readline (from the kernel, and from the socket's buffer); the
 * reset comes from the next call. */
static void read_and_readline_return_bytes_that_came_before_a_reset(int af)
{
    usock *s;
    int peer;
    char buf[32];

    pair_holding(af, &s, &peer, "abc");
    raw_reset(peer);
    expect_read(s, 10, "abc");
    assert_code(usock_read(s, buf, 10), USOCK_ECONNRESET);
    usock_close(s);

    pair_holding(af, &s, &peer, "no newline");
    raw_reset(peer);
    expect_readline(s, sizeof buf, "no newline");
    assert_code(usock_readline(s, buf, sizeof buf), USOCK_ECONNRESET);
    assert_string_equal(buf, "");
    usock_close(s);

    /* Part buffered by readline, part still in the kernel. */
    pair_holding(af, &s, &peer, "l\nxy");
    expect_readline(s, sizeof buf, "l\n");
    raw_send_str(peer, "z");
    raw_reset(peer);
    expect_read(s, 10, "xyz");
    assert_code(usock_read(s, buf, 10), USOCK_ECONNRESET);
    usock_close(s);
}
BOTH_FAMILIES(read_and_readline_return_bytes_that_came_before_a_reset)

/* Non-blocking read: what is there, then EAGAIN from the next call. */
static void nonblocking_read_returns_count_then_eagain(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    assert_ok(usock_setblocking(s, 0));
    raw_send_str(peer, "abcd");
    wait_readable(s);
    char buf[16];
    expect_read(s, sizeof buf, "abcd");
    assert_code(usock_read(s, buf, sizeof buf), USOCK_EAGAIN);
    raw_send_str(peer, "ef\ngh");
    wait_readable(s);
    expect_readline(s, sizeof buf, "ef\n");
    expect_readline(s, sizeof buf, "gh");
    assert_code(usock_readline(s, buf, sizeof buf), USOCK_EAGAIN);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(nonblocking_read_returns_count_then_eagain)

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* creation */
        cmocka_unit_test(socket_zero_args_default_to_inet_stream),
        cmocka_unit_test(socket_with_bad_family_or_type_fails_with_negative_errno),
        cmocka_unit_test(socket_udp_has_datagram_type),
        cmocka_unit_test(close_null_is_ok),
        cmocka_unit_test(close_releases_the_descriptor),
        cmocka_unit_test(fileno_of_null_is_negative),
        /* connections */
        BOTH(tcp_connect_accept_round_trip),
        BOTH(accept_with_null_peer_is_ok),
        BOTH(bind_to_port_in_use_is_eaddrinuse),
        BOTH(listen_negative_backlog_accepts_several_connections),
        BOTH(connect_to_port_nobody_listens_on_is_econnrefused),
        BOTH(getsockname_and_getpeername_agree_across_a_connection),
        /* resolver */
        cmocka_unit_test(getaddrinfo_localhost_gives_loopback_with_the_port),
        cmocka_unit_test(getaddrinfo_numeric_ipv4),
        cmocka_unit_test(getaddrinfo_numeric_ipv6),
        cmocka_unit_test(getaddrinfo_filters_by_type_and_proto),
        cmocka_unit_test(getaddrinfo_family_that_the_address_is_not_is_eai),
        cmocka_unit_test(getaddrinfo_canonname_only_when_asked),
        cmocka_unit_test(getaddrinfo_numerichost_with_a_name_is_eai),
        cmocka_unit_test(getaddrinfo_of_invalid_name_is_eai),
        cmocka_unit_test(getaddrinfo_port_out_of_range_is_einval),
        cmocka_unit_test(getaddrinfo_null_host_is_loopback_or_any_when_passive),
        cmocka_unit_test(getaddrinfo_null_result_is_einval_and_free_null_is_ok),
        BOTH(getaddrinfo_answer_connects),
        /* timeouts */
        cmocka_unit_test(gettimeout_reports_what_was_set),
        cmocka_unit_test(tiny_positive_timeout_is_a_timeout_not_nonblocking),
        BOTH(connect_timeout_when_backlog_is_full_is_etimedout),
        BOTH(nonblocking_connect_is_einprogress_then_completes),
        BOTH(nonblocking_connect_to_full_backlog_is_einprogress),
        BOTH(nonblocking_connect_refused_reports_econnrefused),
        BOTH(accept_timeout_is_etimedout),
        BOTH(nonblocking_accept_and_recv_are_eagain),
        BOTH(accepted_socket_is_blocking_even_when_listener_has_timeout),
        BOTH(recv_timeout_is_etimedout),
        BOTH(read_timeout_returns_bytes_that_arrived_before_it),
        BOTH(readline_timeout_returns_partial_line_and_loses_nothing),
        BOTH(readall_timeout_keeps_the_bytes_for_the_next_call),
        BOTH(sendall_timeout_when_peer_never_reads_is_etimedout),
        BOTH(send_timeout_when_buffers_are_full_is_etimedout),
        BOTH(write_timeout_returns_count_written_then_etimedout),
        BOTH(sendall_timeout_bounds_the_whole_call),
        BOTH(send_may_be_short_on_a_nonblocking_socket),
        BOTH(udp_recvfrom_timeout_and_nonblocking),
        /* shared buffer */
        BOTH(readline_reads_ahead_and_recv_returns_the_rest),
        BOTH(recv_takes_from_the_buffer_in_pieces),
        BOTH(read_after_readline_joins_buffer_and_kernel),
        BOTH(readline_returns_lines_then_zero_at_eof),
        BOTH(readline_returns_partial_line_at_eof),
        BOTH(readline_longer_than_cap_returns_cap_minus_one_then_the_rest),
        BOTH(readline_of_a_very_long_line),
        cmocka_unit_test(readline_cap_below_two_is_einval),
        BOTH(read_waits_for_all_bytes),
        BOTH(read_eof_in_the_middle_returns_short_count),
        BOTH(readall_reads_until_eof),
        BOTH(readall_starts_with_what_readline_left),
        BOTH(read_timeout_bounds_the_whole_call),
        BOTH(readall_nonblocking_is_eagain_and_keeps_the_bytes),
        BOTH(readline_of_a_line_that_exactly_fits),
        BOTH(recv_is_zero_at_eof),
        /* writes */
        BOTH(sendall_with_timeout_delivers_megabytes_in_order),
        BOTH(write_with_timeout_delivers_megabytes_in_order),
        BOTH(blocking_sendall_and_write_deliver_megabytes_in_order),
        BOTH(blocking_io_survives_signals),
        cmocka_unit_test(sendall_and_write_of_nothing_succeed),
        /* resets */
        BOTH(every_call_after_peer_reset_is_econnreset),
        BOTH(send_after_peer_reset_is_econnreset_and_stays_so),
        BOTH(timed_read_sees_the_reset),
        BOTH(bytes_buffered_before_a_reset_are_still_returned),
        BOTH(makefile_write_to_a_reset_peer_fails_without_sigpipe),
        BOTH(writes_to_a_closed_peer_fail_without_sigpipe),
        BOTH(write_after_own_shutdown_fails_without_sigpipe),
        /* UDP */
        BOTH(udp_sendto_recvfrom_gives_the_sender_address),
        BOTH(udp_recv_keeps_datagram_boundaries),
        BOTH(udp_connected_send_and_recv),
        BOTH(udp_recv_truncates_a_long_datagram),
        /* makefile */
        BOTH(makefile_fgets_reads_lines_and_fprintf_writes),
        BOTH(makefile_fclose_leaves_the_socket_open),
        BOTH(makefile_shares_the_socket_read_buffer),
        cmocka_unit_test(makefile_accepts_the_python_modes),
        cmocka_unit_test(makefile_bad_mode_or_socket_is_null),
        /* options */
        BOTH(setsockopt_values_read_back),
        BOTH(shutdown_wr_gives_the_peer_eof_and_reading_goes_on),
        /* error paths */
        cmocka_unit_test(null_arguments_are_einval),
        BOTH(io_on_an_unconnected_socket_is_enotconn),
        BOTH(operations_on_a_listening_socket_fail),
        BOTH(accept_on_a_socket_that_does_not_listen_fails),
        cmocka_unit_test(bind_with_address_of_the_other_family_fails),
        /* connect's pending state, timeout range, partial counts */
        BOTH(nonblocking_connect_sequence_ends_in_eisconn),
        BOTH(nonblocking_connect_refused_then_a_new_attempt),
        cmocka_unit_test(settimeout_out_of_range_is_erange_and_changes_nothing),
        cmocka_unit_test(settimeout_up_to_int_max_milliseconds_is_accepted),
        BOTH(write_returns_count_sent_before_a_reset_then_the_error),
        BOTH(nonblocking_write_returns_count_then_eagain),
        BOTH(read_and_readline_return_bytes_that_came_before_a_reset),
        BOTH(nonblocking_read_returns_count_then_eagain),
    };
    start_watchdog(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
