/* test_socket_reset.c -- the socket layer: a peer that resets or closes: the
 * reset reported once, bytes that came before it kept, writes that fail
 * without SIGPIPE.
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
/* peer reset and closed peers                                                */

/* The rule (CPython's and MicroPython's, from the kernel): a reset is
 * reported once, as USOCK_ECONNRESET, by whichever call meets it first;
 * after that the connection is simply closed: recv, read and readline give
 * 0 (EOF), readall gives "", and writes fail with USOCK_EPIPE. Some
 * sandboxed kernels answer a write with ECONNRESET once more before EPIPE,
 * so writes after the report may give either; reads may not. */

/* send, sendall and write after the reset was reported: each fails with
 * EPIPE (or, see above, ECONNRESET), never succeeds. */
static void expect_writes_fail_after_reset(usock *s)
{
    ssize_t r[3];
    r[0] = usock_send(s, "x", 1);
    r[1] = usock_sendall(s, "x", 1);
    r[2] = usock_write(s, "x", 1);
    static const char *const names[] = {"send", "sendall", "write"};
    for (int i = 0; i < 3; i++)
        if (r[i] != USOCK_EPIPE && r[i] != USOCK_ECONNRESET)
            fail_msg("%s after the reset gave %zd (%s), want EPIPE", names[i], r[i],
                     usock_errname((int)r[i]));
}

/* Every read call after the reset was reported: EOF, and again EOF. */
static void expect_reads_at_eof(usock *s)
{
    char buf[16];
    expect_recv(s, sizeof buf, "");
    expect_recv(s, sizeof buf, "");
    expect_read(s, sizeof buf, "");
    expect_readline(s, sizeof buf, "");
    char *out = NULL;
    size_t len = 99;
    assert_ok(usock_readall(s, &out, &len));
    assert_non_null(out);
    assert_int_equal(len, 0);
    assert_string_equal(out, "");
    free(out);
    expect_recv(s, sizeof buf, "");
}

/* Where the call that reported the reset is not certain (a write that met
 * it part way), a loop of recv still ends at EOF: at most one ECONNRESET,
 * then 0. */
static void recv_loop_ends_at_eof(usock *s)
{
    char buf[16];
    int resets = 0;
    ssize_t r = -1;
    for (int i = 0; i < 3 && r != 0; i++) {
        r = usock_recv(s, buf, sizeof buf);
        if (r == USOCK_ECONNRESET)
            resets++;
        else if (r != 0)
            fail_msg("recv after a reset gave %zd (%s), want 0 or one ECONNRESET", r,
                     usock_errname((int)r));
    }
    assert_code(r, 0);
    assert_true(resets <= 1);
    expect_recv(s, sizeof buf, "");
}

static void recv_reports_the_reset_once_then_eof(int af)
{
    usock *s = reset_by_peer(af);
    char buf[16];
    assert_code(usock_recv(s, buf, sizeof buf), USOCK_ECONNRESET);
    expect_reads_at_eof(s);
    expect_writes_fail_after_reset(s);
    /* A write in between does not bring the reset back for reads. */
    expect_recv(s, sizeof buf, "");
    usock_close(s);
}
BOTH_FAMILIES(recv_reports_the_reset_once_then_eof)

/* The first call to meet the reset reports it, whichever it is. */
static void read_readline_readall_each_report_the_reset_once(int af)
{
    char buf[16];
    usock *s = reset_by_peer(af);
    assert_code(usock_read(s, buf, sizeof buf), USOCK_ECONNRESET);
    expect_reads_at_eof(s);
    usock_close(s);

    s = reset_by_peer(af);
    memset(buf, 'X', sizeof buf);
    assert_code(usock_readline(s, buf, sizeof buf), USOCK_ECONNRESET);
    assert_string_equal(buf, "");
    expect_reads_at_eof(s);
    usock_close(s);

    s = reset_by_peer(af);
    char *out = NULL;
    assert_code(usock_readall(s, &out, NULL), USOCK_ECONNRESET);
    assert_null(out);
    expect_reads_at_eof(s);
    usock_close(s);
}
BOTH_FAMILIES(read_readline_readall_each_report_the_reset_once)

/* A send meets the reset first: it reports it, later sends give EPIPE
 * (or, on some sandboxes, ECONNRESET again) and reads give EOF. */
static void send_reports_the_reset_once_then_epipe(int af)
{
    usock *s = reset_by_peer(af);
    assert_code(usock_send(s, "x", 1), USOCK_ECONNRESET);
    expect_writes_fail_after_reset(s);
    expect_writes_fail_after_reset(s);
    expect_reads_at_eof(s);
    usock_close(s);
}
BOTH_FAMILIES(send_reports_the_reset_once_then_epipe)

/* A non-blocking or timed socket sees the same: the reset once, then EOF
 * (not EAGAIN, not a timeout). */
static void nonblocking_and_timed_sockets_report_the_reset_once(int af)
{
    char buf[8];
    usock *s = reset_by_peer(af);
    assert_ok(usock_setblocking(s, 0));
    assert_code(usock_recv(s, buf, sizeof buf), USOCK_ECONNRESET);
    expect_recv(s, sizeof buf, "");
    expect_readline(s, sizeof buf, "");
    usock_close(s);

    s = reset_by_peer(af);
    assert_ok(usock_settimeout(s, 2.0));
    assert_code(usock_readline(s, buf, sizeof buf), USOCK_ECONNRESET);
    expect_readline(s, sizeof buf, "");
    expect_recv(s, sizeof buf, "");
    usock_close(s);
}
BOTH_FAMILIES(nonblocking_and_timed_sockets_report_the_reset_once)

/* recv with flags follows the same rule: a peek or a DONTWAIT call that
 * meets the reset reports it, once; then EOF. */
static void flagged_recv_reports_the_reset_once(int af)
{
    char buf[8];
    usock *s = reset_by_peer(af);
    assert_code(usock_recv_flags(s, buf, sizeof buf, USOCK_MSG_PEEK), USOCK_ECONNRESET);
    assert_count(usock_recv_flags(s, buf, sizeof buf, USOCK_MSG_PEEK), 0);
    expect_reads_at_eof(s);
    usock_close(s);

    s = reset_by_peer(af);
    assert_code(usock_recv_flags(s, buf, sizeof buf, USOCK_MSG_DONTWAIT), USOCK_ECONNRESET);
    assert_count(usock_recv_flags(s, buf, sizeof buf, USOCK_MSG_DONTWAIT), 0);
    expect_reads_at_eof(s);
    usock_close(s);
}
BOTH_FAMILIES(flagged_recv_reports_the_reset_once)

/* The reset is noticed by a call with a timeout (through the wait) too:
 * the reset arrives while read waits. */
static void timed_read_sees_the_reset(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    assert_ok(usock_settimeout(s, 2.0));
    raw_reset(peer);
    char buf[8];
    assert_code(usock_read(s, buf, sizeof buf), USOCK_ECONNRESET);
    expect_read(s, sizeof buf, "");
    expect_recv(s, sizeof buf, "");
    usock_close(s);
}
BOTH_FAMILIES(timed_read_sees_the_reset)

/* Bytes the library already holds were received: a later reset does not
 * take them back; the reset comes after them, once. */
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
    expect_recv(s, sizeof buf, "");
    usock_close(s);
}
BOTH_FAMILIES(bytes_buffered_before_a_reset_are_still_returned)

/* readall fails with the reset and, as with a timeout, keeps what came
 * before it for the next call, which then ends at EOF. */
static void readall_after_a_reset_keeps_the_bytes_for_the_next_call(int af)
{
    usock *s;
    int peer;
    pair_holding(af, &s, &peer, "l\nrest");
    expect_readline(s, 8, "l\n");
    raw_reset(peer);
    wait_readable(s);
    char *out = NULL;
    size_t len = 0;
    assert_code(usock_readall(s, &out, &len), USOCK_ECONNRESET);
    assert_null(out);
    assert_ok(usock_readall(s, &out, &len));
    assert_non_null(out);
    assert_int_equal(len, 4);
    assert_string_equal(out, "rest");
    free(out);
    expect_recv(s, 8, "");
    usock_close(s);
}
BOTH_FAMILIES(readall_after_a_reset_keeps_the_bytes_for_the_next_call)

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
    /* The peer's FIN came first, then its RST: reads end at EOF. */
    recv_loop_ends_at_eof(s);
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
 * write returns that count, and the error comes from the next call
 * (ECONNRESET once; EPIPE would mean it was reported already). Reads then
 * end at EOF. */
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
    expect_writes_fail_after_reset(s);
    recv_loop_ends_at_eof(s);
    free(big);
    usock_close(s);
}

static void write_returns_count_sent_before_a_reset_then_the_error(int af)
{
    check_write_count_then_error(af, -1);   /* blocking */
    check_write_count_then_error(af, 30.0); /* timed: a bound, never reached */
}
BOTH_FAMILIES(write_returns_count_sent_before_a_reset_then_the_error)

/* Bytes that arrived before a reset are returned as a short count by
 * read and readline (from the kernel, and from the socket's buffer); the
 * reset comes from the next call, once, whichever call it is; then EOF. */
static void read_and_readline_return_bytes_that_came_before_a_reset(int af)
{
    usock *s;
    int peer;
    char buf[32];

    pair_holding(af, &s, &peer, "abc");
    raw_reset(peer);
    expect_read(s, 10, "abc");
    assert_code(usock_read(s, buf, 10), USOCK_ECONNRESET);
    expect_read(s, 10, "");
    expect_reads_at_eof(s);
    usock_close(s);

    pair_holding(af, &s, &peer, "no newline");
    raw_reset(peer);
    expect_readline(s, sizeof buf, "no newline");
    assert_code(usock_readline(s, buf, sizeof buf), USOCK_ECONNRESET);
    assert_string_equal(buf, "");
    expect_readline(s, sizeof buf, "");
    expect_reads_at_eof(s);
    usock_close(s);

    /* Part buffered by readline, part still in the kernel. */
    pair_holding(af, &s, &peer, "l\nxy");
    expect_readline(s, sizeof buf, "l\n");
    raw_send_str(peer, "z");
    raw_reset(peer);
    expect_read(s, 10, "xyz");
    assert_code(usock_read(s, buf, 10), USOCK_ECONNRESET);
    expect_reads_at_eof(s);
    usock_close(s);
}
BOTH_FAMILIES(read_and_readline_return_bytes_that_came_before_a_reset)

/* The reset held back by a short read or readline is reported by the next
 * call of any kind: recv, or a send. */
static void reset_held_back_by_a_short_count_comes_from_any_next_call(int af)
{
    usock *s;
    int peer;
    char buf[32];

    pair_holding(af, &s, &peer, "abc");
    raw_reset(peer);
    expect_read(s, 10, "abc");
    assert_code(usock_recv(s, buf, sizeof buf), USOCK_ECONNRESET);
    expect_recv(s, sizeof buf, "");
    usock_close(s);

    pair_holding(af, &s, &peer, "part");
    raw_reset(peer);
    expect_readline(s, sizeof buf, "part");
    assert_code(usock_recv(s, buf, sizeof buf), USOCK_ECONNRESET);
    expect_readline(s, sizeof buf, "");
    usock_close(s);

    pair_holding(af, &s, &peer, "abc");
    raw_reset(peer);
    expect_read(s, 10, "abc");
    assert_code(usock_send(s, "x", 1), USOCK_ECONNRESET);
    expect_reads_at_eof(s);
    expect_writes_fail_after_reset(s);
    usock_close(s);
}
BOTH_FAMILIES(reset_held_back_by_a_short_count_comes_from_any_next_call)


int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(recv_reports_the_reset_once_then_eof),
        BOTH(read_readline_readall_each_report_the_reset_once),
        BOTH(send_reports_the_reset_once_then_epipe),
        BOTH(nonblocking_and_timed_sockets_report_the_reset_once),
        BOTH(flagged_recv_reports_the_reset_once),
        BOTH(timed_read_sees_the_reset),
        BOTH(bytes_buffered_before_a_reset_are_still_returned),
        BOTH(readall_after_a_reset_keeps_the_bytes_for_the_next_call),
        BOTH(makefile_write_to_a_reset_peer_fails_without_sigpipe),
        BOTH(writes_to_a_closed_peer_fail_without_sigpipe),
        BOTH(write_after_own_shutdown_fails_without_sigpipe),
        BOTH(write_returns_count_sent_before_a_reset_then_the_error),
        BOTH(read_and_readline_return_bytes_that_came_before_a_reset),
        BOTH(reset_held_back_by_a_short_count_comes_from_any_next_call),
    };
    start_watchdog(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
