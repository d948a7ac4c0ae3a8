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

/* sendfile: pieces of a file from an offset, the offset advanced, the
 * file's own position untouched, 0 at its end, counted by iostat; with a
 * timeout, the pieces of a file larger than the buffers still all go. */
static void sendfile_sends_pieces_of_a_file(int af)
{
    char path[] = "/tmp/usock-sendfile-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    const size_t n = 3 << 20;
    char *big = pattern_buf(n);
    assert_int_equal(write(fd, big, n), (ssize_t)n);
    assert_int_equal(lseek(fd, 7, SEEK_SET), 7);
    usock *s;
    int peer;
    pair_with_raw_peer_bufs(af, &s, &peer, SMALL_BUF, SMALL_BUF);
    off_t off = 0;
    assert_count(usock_sendfile(s, fd, &off, 5), 5);
    assert_int_equal(off, 5);
    char head[5];
    assert_int_equal(recv(peer, head, 5, MSG_WAITALL), 5);
    assert_memory_equal(head, big, 5);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 7);
    /* the rest, bounded by a timeout, read by a thread */
    off = 0;
    assert_ok(usock_settimeout(s, 10.0));
    struct reader rd = {.fd = peer, .chunk = 32768, .pause_ms = 1, .pause_every = 16};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader_main, &rd), 0);
    while ((size_t)off < n) {
        ssize_t k = usock_sendfile(s, fd, &off, n - (size_t)off);
        assert_true(k > 0);
    }
    assert_count(usock_sendfile(s, fd, &off, 100), 0); /* the end */
    assert_ok(usock_shutdown(s, SHUT_WR));
    pthread_join(t, NULL);
    assert_int_equal(rd.total, n);
    assert_true(rd.in_order);
    unsigned long long in = 0, out = 0;
    usock_iostat(s, &in, &out);
    assert_int_equal(out, n + 5);
    off = 0;
    assert_int_equal(usock_sendfile(NULL, fd, &off, 1), USOCK_EINVAL);
    assert_int_equal(usock_sendfile(s, -1, &off, 1), USOCK_EINVAL);
    assert_int_equal(usock_sendfile(s, fd, NULL, 1), USOCK_EINVAL);
    free(big);
    close(fd);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(sendfile_sends_pieces_of_a_file)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(sendall_with_timeout_delivers_megabytes_in_order),
        BOTH(write_with_timeout_delivers_megabytes_in_order),
        BOTH(blocking_sendall_and_write_deliver_megabytes_in_order),
        BOTH(blocking_io_survives_signals),
        cmocka_unit_test(sendall_and_write_of_nothing_succeed),
        BOTH(sendfile_sends_pieces_of_a_file),
    };
    start_watchdog(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
