/* test_socket_udp.c -- the socket layer: UDP: sendto/recvfrom with the sender
 * address, datagram boundaries, connected UDP, truncation.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(udp_sendto_recvfrom_gives_the_sender_address),
        BOTH(udp_recv_keeps_datagram_boundaries),
        BOTH(udp_connected_send_and_recv),
        BOTH(udp_recv_truncates_a_long_datagram),
    };
    start_watchdog(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
