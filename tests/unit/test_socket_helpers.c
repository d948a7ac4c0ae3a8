/* test_socket_helpers.c -- the socket layer's helpers from Python's socket
 * module: usock_parse_port, usock_create_connection (socket.
 * create_connection) and usock_create_server (socket.create_server).
 *
 * Every peer is on loopback (and one dual-stack listener on "::", closed
 * at once). Only results are asserted. */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "helpers.h"

/* ---- parse_port ---------------------------------------------------------- */

static void parse_port_takes_decimal_ports(void **state)
{
    (void)state;
    assert_code(usock_parse_port("0"), 0);
    assert_code(usock_parse_port("80"), 80);
    assert_code(usock_parse_port("8080"), 8080);
    assert_code(usock_parse_port("65535"), 65535);
    assert_code(usock_parse_port("1"), 1);
}

static void parse_port_rejects_everything_else(void **state)
{
    (void)state;
    const char *bad[] = {"",           "-1",           "65536",
                         " 80",        "80 ",          "0x50",
                         "+80",        "999999999999", "99999999999999999999999",
                         "8o",         "eighty",       "80\n",
                         "4294967376", "1e2",          "80.0",
                         "-0",         "\t80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = usock_parse_port(bad[i]);
        if (r != USOCK_EINVAL)
            fail_msg("parse_port(\"%s\") = %d (%s), want EINVAL", bad[i], r, usock_errname(r));
    }
    assert_code(usock_parse_port(NULL), USOCK_EINVAL);
}

/* ---- create_connection --------------------------------------------------- */

/* c is connected to the listener l: a byte each way proves it. */
static void check_connected(usock *c, usock *l, int af, int port)
{
    usock *srv;
    usock_addr peer, name;
    assert_ok(usock_accept(l, &srv, &peer));
    assert_ok(usock_getpeername(c, &name));
    assert_int_equal(name.ss.ss_family, af);
    assert_int_equal(port_of(&name), port);
    assert_ok(usock_getsockname(c, &name));
    assert_int_equal(port_of(&name), port_of(&peer));
    assert_count(usock_send(c, "q", 1), 1);
    expect_recv(srv, 4, "q");
    assert_count(usock_send(srv, "a", 1), 1);
    expect_recv(c, 4, "a");
    usock_close(srv);
}

static void create_connection_to_numerals(int af)
{
    int port;
    usock *l = listening(af, &port);
    usock *c = NULL;
    assert_ok(usock_create_connection(&c, af == AF_INET6 ? "::1" : "127.0.0.1", port, -1, NULL));
    assert_non_null(c);
    assert_true(usock_gettimeout(c) == -1.0);
    check_connected(c, l, af, port);
    usock_close(c);
    usock_close(l);
}
BOTH_FAMILIES(create_connection_to_numerals)

/* Does "localhost" have an address of the family here? */
static int localhost_has(int af)
{
    usock_addrinfo *ai = NULL;
    int r = usock_getaddrinfo("localhost", 80, af, SOCK_STREAM, 0, 0, &ai);
    usock_freeaddrinfo(ai);
    return r == 0;
}

/* "localhost" may name ::1 and 127.0.0.1 in either order: the attempts go
 * on until one connects, so a listener on one family is enough. */
static void create_connection_to_localhost(int af)
{
    if (!localhost_has(af))
        skip();
    int port;
    usock *l = listening(af, &port);
    usock *c;
    assert_ok(usock_create_connection(&c, "localhost", port, 5.0, NULL));
    check_connected(c, l, af, port);
    usock_close(c);
    usock_close(l);
}
BOTH_FAMILIES(create_connection_to_localhost)

static void create_connection_refused_is_econnrefused(int af)
{
    usock_addr a;
    usock *b = refusing(af, &a);
    usock *c = NULL;
    const char *host = af == AF_INET6 ? "::1" : "127.0.0.1";
    assert_code(usock_create_connection(&c, host, port_of(&a), -1, NULL), USOCK_ECONNREFUSED);
    assert_code(usock_create_connection(&c, host, port_of(&a), 2.0, NULL), USOCK_ECONNREFUSED);
    usock_close(b);
}
BOTH_FAMILIES(create_connection_refused_is_econnrefused)

static void create_connection_to_an_unknown_host_is_eai(void **state)
{
    (void)state;
    usock *c = NULL;
    int r = usock_create_connection(&c, "no-such-host..invalid", 80, 2.0, NULL);
    if (!USOCK_IS_EAI(r))
        fail_msg("create_connection(no-such-host..invalid) = %d (%s), want a USOCK_EAI_*", r,
                 usock_errname(r));
    r = usock_create_connection(&c, "127.0.0.1", 70000, 2.0, NULL);
    assert_true(r < 0);
}

/* The timeout given is the socket's timeout afterwards (Python's rule). */
static void create_connection_sets_the_timeout(int af)
{
    int port;
    usock *l = listening(af, &port);
    const char *host = af == AF_INET6 ? "::1" : "127.0.0.1";
    const double timeouts[] = {2.5, 0.75, 30.0, -1.0};
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        usock *c;
        assert_ok(usock_create_connection(&c, host, port, timeouts[i], NULL));
        double got = usock_gettimeout(c);
        if (got != timeouts[i])
            fail_msg("gettimeout after create_connection(timeout %g) = %g", timeouts[i], got);
        check_connected(c, l, af, port);
        usock_close(c);
    }
    usock_close(l);
}
BOTH_FAMILIES(create_connection_sets_the_timeout)

/* A source address is bound before connecting: 127.0.0.2 is a loopback
 * address on Linux (all of 127/8 is), so the listener sees it as the peer. */
static void create_connection_binds_the_source_address(void **state)
{
    (void)state;
    usock_addr src;
    assert_ok(usock_addr_from_ip(&src, "127.0.0.2", 0));
    {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int ok = fd >= 0 && bind(fd, (struct sockaddr *)&src.ss, src.len) == 0;
        if (fd >= 0)
            close(fd);
        if (!ok)
            skip(); /* this host does not route 127.0.0.2 */
    }
    int port;
    usock *l = listening(AF_INET, &port);
    usock *c;
    assert_ok(usock_create_connection(&c, "127.0.0.1", port, 5.0, &src));
    usock_addr name, peer;
    assert_ok(usock_getsockname(c, &name));
    char text[USOCK_ADDRSTRLEN];
    assert_true(usock_addr_format(&name, text, sizeof text) > 0);
    if (strncmp(text, "127.0.0.2:", 10) != 0)
        fail_msg("getsockname = %s, want 127.0.0.2:*", text);
    usock *srv;
    assert_ok(usock_accept(l, &srv, &peer));
    assert_true(usock_addr_format(&peer, text, sizeof text) > 0);
    if (strncmp(text, "127.0.0.2:", 10) != 0)
        fail_msg("accept's peer = %s, want 127.0.0.2:*", text);
    usock_close(srv);
    usock_close(c);
    usock_close(l);
}

static void create_connection_null_out_is_einval(void **state)
{
    (void)state;
    assert_code(usock_create_connection(NULL, "127.0.0.1", 80, -1, NULL), USOCK_EINVAL);
}

/* host NULL is getaddrinfo's NULL (as Python's None): the loopback
 * address. */
static void create_connection_to_null_host_is_loopback(void **state)
{
    (void)state;
    int port;
    usock *l = listening(AF_INET, &port);
    usock *c = NULL;
    assert_ok(usock_create_connection(&c, NULL, port, 5.0, NULL));
    check_connected(c, l, AF_INET, port);
    usock_close(c);
    usock_close(l);
}

/* ---- create_server ------------------------------------------------------- */

static int int_opt(usock *s, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof v;
    assert_ok(usock_getsockopt(s, level, name, &v, &len));
    return v;
}

static usock *server_on(const char *ip, int port, int flags)
{
    usock_addr a;
    assert_ok(usock_addr_from_ip(&a, ip, port));
    usock *s = NULL;
    assert_ok(usock_create_server(&s, &a, -1, flags));
    assert_non_null(s);
    return s;
}

static int port_of_sock(usock *s)
{
    usock_addr a;
    assert_ok(usock_getsockname(s, &a));
    return port_of(&a);
}

/* SO_REUSEADDR on unless asked not to; the server listens and accepts. */
static void create_server_reuseaddr_by_default(int af)
{
    const char *ip = af == AF_INET6 ? "::1" : "127.0.0.1";
    usock *s = server_on(ip, 0, 0);
    assert_true(int_opt(s, SOL_SOCKET, SO_REUSEADDR) != 0);
    assert_int_equal(int_opt(s, SOL_SOCKET, SO_ACCEPTCONN), 1);
    assert_int_equal(int_opt(s, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
    int port = port_of_sock(s);
    assert_true(port > 0);
    usock *c = connected_to(af, port);
    check_connected(c, s, af, port);
    usock_close(c);
    usock_close(s);

    s = server_on(ip, 0, USOCK_CS_NO_REUSEADDR);
    assert_int_equal(int_opt(s, SOL_SOCKET, SO_REUSEADDR), 0);
    assert_int_equal(int_opt(s, SOL_SOCKET, SO_ACCEPTCONN), 1);
    usock_close(s);
}
BOTH_FAMILIES(create_server_reuseaddr_by_default)

/* Two listeners on one port: only with SO_REUSEPORT on both. */
static void create_server_reuseport_shares_a_port(int af)
{
    const char *ip = af == AF_INET6 ? "::1" : "127.0.0.1";
    usock *a = server_on(ip, 0, USOCK_CS_REUSEPORT);
    assert_int_equal(int_opt(a, SOL_SOCKET, SO_REUSEPORT), 1);
    int port = port_of_sock(a);
    usock *b = server_on(ip, port, USOCK_CS_REUSEPORT);
    assert_int_equal(port_of_sock(b), port);
    assert_int_equal(int_opt(b, SOL_SOCKET, SO_REUSEPORT), 1);
    /* Without the flag the port is taken. */
    usock_addr addr;
    assert_ok(usock_addr_from_ip(&addr, ip, port));
    usock *c = NULL;
    assert_code(usock_create_server(&c, &addr, -1, 0), USOCK_EADDRINUSE);
    usock *plain = server_on(ip, 0, 0);
    assert_int_equal(int_opt(plain, SOL_SOCKET, SO_REUSEPORT), 0);
    usock_close(plain);
    usock_close(b);
    usock_close(a);
}
BOTH_FAMILIES(create_server_reuseport_shares_a_port)

/* A dual-stack listener on "::" takes an IPv4 client, whose address comes
 * as ::ffff:127.0.0.1. */
static void create_server_dualstack_accepts_ipv4(void **state)
{
    (void)state;
    if (!have_ipv6())
        skip();
    usock *s = server_on("::", 0, USOCK_CS_DUALSTACK);
    assert_int_equal(int_opt(s, IPPROTO_IPV6, IPV6_V6ONLY), 0);
    int port = port_of_sock(s);
    usock *c = connected_to(AF_INET, port);
    usock *srv;
    usock_addr peer;
    assert_ok(usock_accept(s, &srv, &peer));
    assert_int_equal(usock_addr_family(&peer), AF_INET6);
    char text[USOCK_ADDRSTRLEN];
    assert_true(usock_addr_format(&peer, text, sizeof text) > 0);
    if (strncmp(text, "[::ffff:127.0.0.1]:", 19) != 0)
        fail_msg("dual-stack peer = %s, want [::ffff:127.0.0.1]:*", text);
    assert_count(usock_send(c, "4", 1), 1);
    expect_recv(srv, 2, "4");
    usock_close(srv);
    usock_close(c);
    /* And an IPv6 client too. */
    c = connected_to(AF_INET6, port);
    assert_ok(usock_accept(s, &srv, NULL));
    usock_close(srv);
    usock_close(c);
    usock_close(s);
}

static void create_server_ipv6_without_dualstack_is_v6only(void **state)
{
    (void)state;
    if (!have_ipv6())
        skip();
    usock *s = server_on("::1", 0, 0);
    assert_int_equal(int_opt(s, IPPROTO_IPV6, IPV6_V6ONLY), 1);
    usock_close(s);
}

static void create_server_dualstack_with_ipv4_is_einval(void **state)
{
    (void)state;
    usock_addr a;
    assert_ok(usock_addr_from_ip(&a, "127.0.0.1", 0));
    usock *s = NULL;
    assert_code(usock_create_server(&s, &a, -1, USOCK_CS_DUALSTACK), USOCK_EINVAL);
    assert_code(usock_create_server(NULL, &a, -1, 0), USOCK_EINVAL);
    assert_code(usock_create_server(&s, NULL, -1, 0), USOCK_EINVAL);
}

/* A bound UDP socket: it receives at once, and does not listen. */
static void create_server_dgram_is_bound_udp(int af)
{
    const char *ip = af == AF_INET6 ? "::1" : "127.0.0.1";
    usock *s = server_on(ip, 0, USOCK_CS_DGRAM);
    assert_int_equal(int_opt(s, SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
    int port = port_of_sock(s);
    assert_true(port > 0);
    int rport;
    int fd = raw_bound(af, SOCK_DGRAM, &rport);
    usock_addr to;
    loopback(&to, af, port);
    raw_sendto(fd, "datagram", &to);
    wait_readable(s);
    char buf[16];
    usock_addr from;
    assert_count(usock_recvfrom(s, buf, sizeof buf, &from), 8);
    assert_memory_equal(buf, "datagram", 8);
    assert_int_equal(port_of(&from), rport);
    close(fd);
    usock_close(s);
}
BOTH_FAMILIES(create_server_dgram_is_bound_udp)

static void create_server_on_a_unix_path(void **state)
{
    (void)state;
    char dir[64], path[128];
    temp_dir_make(dir, sizeof dir);
    path_in(path, sizeof path, dir, "server.sock");
    usock_addr a;
    assert_ok(usock_addr_from_path(&a, path));
    usock *s;
    assert_ok(usock_create_server(&s, &a, 4, 0));
    assert_int_equal(int_opt(s, SOL_SOCKET, SO_ACCEPTCONN), 1);
    usock *c;
    assert_ok(usock_socket(&c, AF_UNIX, SOCK_STREAM, 0));
    assert_ok(usock_connect(c, &a));
    usock *srv;
    assert_ok(usock_accept(s, &srv, NULL));
    assert_ok(usock_sendall(c, "unix\n", 5));
    expect_readline(srv, 16, "unix\n");
    usock_close(srv);
    usock_close(c);
    usock_close(s);

    /* A datagram server on a path. */
    path_in(path, sizeof path, dir, "dgram.sock");
    assert_ok(usock_addr_from_path(&a, path));
    assert_ok(usock_create_server(&s, &a, -1, USOCK_CS_DGRAM));
    assert_int_equal(int_opt(s, SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
    assert_ok(usock_socket(&c, AF_UNIX, SOCK_DGRAM, 0));
    assert_count(usock_sendto(c, "dg", 2, &a), 2);
    expect_recv(s, 8, "dg");
    usock_close(c);
    usock_close(s);
    temp_dir_remove(dir);
}

/* A port that is taken fails cleanly (no descriptor or memory left: ASan
 * and valgrind check). */
static void create_server_on_a_taken_port_is_eaddrinuse(int af)
{
    int port;
    usock *l = listening(af, &port);
    usock_addr a;
    loopback(&a, af, port);
    usock *s = NULL;
    assert_code(usock_create_server(&s, &a, -1, 0), USOCK_EADDRINUSE);
    usock_close(l);
}
BOTH_FAMILIES(create_server_on_a_taken_port_is_eaddrinuse)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_port_takes_decimal_ports),
        cmocka_unit_test(parse_port_rejects_everything_else),
        BOTH(create_connection_to_numerals),
        BOTH(create_connection_to_localhost),
        BOTH(create_connection_refused_is_econnrefused),
        cmocka_unit_test(create_connection_to_an_unknown_host_is_eai),
        BOTH(create_connection_sets_the_timeout),
        cmocka_unit_test(create_connection_binds_the_source_address),
        cmocka_unit_test(create_connection_null_out_is_einval),
        cmocka_unit_test(create_connection_to_null_host_is_loopback),
        BOTH(create_server_reuseaddr_by_default),
        BOTH(create_server_reuseport_shares_a_port),
        cmocka_unit_test(create_server_dualstack_accepts_ipv4),
        cmocka_unit_test(create_server_ipv6_without_dualstack_is_v6only),
        cmocka_unit_test(create_server_dualstack_with_ipv4_is_einval),
        BOTH(create_server_dgram_is_bound_udp),
        cmocka_unit_test(create_server_on_a_unix_path),
        BOTH(create_server_on_a_taken_port_is_eaddrinuse),
    };
    start_watchdog(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
