/* test_socket_buffer.c -- the socket layer: the shared per-socket read buffer:
 * recv, read, readline and readall taking from it in any order; EOF.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
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
    };
    start_watchdog(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
