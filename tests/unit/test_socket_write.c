/* test_socket_write.c -- the socket layer: write and sendall: megabytes
 * delivered in order through short writes and signals; empty writes.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(sendall_with_timeout_delivers_megabytes_in_order),
        BOTH(write_with_timeout_delivers_megabytes_in_order),
        BOTH(blocking_sendall_and_write_deliver_megabytes_in_order),
        BOTH(blocking_io_survives_signals),
        cmocka_unit_test(sendall_and_write_of_nothing_succeed),
    };
    start_watchdog(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
