/* test_socket_errors.c -- the socket layer: error paths: NULL arguments, I/O
 * on unconnected and listening sockets, addresses of the other family.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(null_arguments_are_einval),
        BOTH(io_on_an_unconnected_socket_is_enotconn),
        BOTH(operations_on_a_listening_socket_fail),
        BOTH(accept_on_a_socket_that_does_not_listen_fails),
        cmocka_unit_test(bind_with_address_of_the_other_family_fails),
    };
    start_watchdog(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
