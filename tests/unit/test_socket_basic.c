/* test_socket_basic.c -- the socket layer: creating and closing sockets, bind,
 * listen, accept, connect, socket names, options and shutdown.
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

/* accept4 with USOCK_ACCEPT_NONBLOCK: the new socket has timeout 0 and its
 * descriptor O_NONBLOCK at once; flags 0 is accept; other flags fail. */
static void accept4_nonblock_gives_a_non_blocking_socket(int af)
{
    int port;
    usock *l = listening(af, &port);
    usock *c = connected_to(af, port), *srv = NULL, *srv2 = NULL;
    assert_int_equal(usock_accept4(l, &srv, NULL, 2), USOCK_EINVAL);
    assert_null(srv);
    assert_ok(usock_accept4(l, &srv, NULL, USOCK_ACCEPT_NONBLOCK));
    assert_true(usock_gettimeout(srv) == 0.0);
    assert_true(fcntl(usock_fileno(srv), F_GETFL) & O_NONBLOCK);
    char b[4];
    assert_int_equal(usock_recv(srv, b, sizeof b), USOCK_EAGAIN);
    usock *c2 = connected_to(af, port);
    assert_ok(usock_accept4(l, &srv2, NULL, 0));
    assert_true(usock_gettimeout(srv2) < 0); /* blocking, as usock_accept */
    assert_false(fcntl(usock_fileno(srv2), F_GETFL) & O_NONBLOCK);
    usock_close(c);
    usock_close(c2);
    usock_close(srv);
    usock_close(srv2);
    usock_close(l);
}
BOTH_FAMILIES(accept4_nonblock_gives_a_non_blocking_socket)

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(socket_zero_args_default_to_inet_stream),
        cmocka_unit_test(socket_with_bad_family_or_type_fails_with_negative_errno),
        cmocka_unit_test(socket_udp_has_datagram_type),
        cmocka_unit_test(close_null_is_ok),
        cmocka_unit_test(close_releases_the_descriptor),
        cmocka_unit_test(fileno_of_null_is_negative),
        BOTH(tcp_connect_accept_round_trip),
        BOTH(accept_with_null_peer_is_ok),
        BOTH(accept4_nonblock_gives_a_non_blocking_socket),
        BOTH(bind_to_port_in_use_is_eaddrinuse),
        BOTH(listen_negative_backlog_accepts_several_connections),
        BOTH(connect_to_port_nobody_listens_on_is_econnrefused),
        BOTH(getsockname_and_getpeername_agree_across_a_connection),
        BOTH(setsockopt_values_read_back),
        BOTH(shutdown_wr_gives_the_peer_eof_and_reading_goes_on),
    };
    start_watchdog(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
