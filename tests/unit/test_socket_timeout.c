/* test_socket_timeout.c -- the socket layer: timeouts and non-blocking mode:
 * connect, accept, recv, read, readline, readall, send, sendall and write
 * bounded by the timeout; the non-blocking connect sequence; the range
 * settimeout takes.
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
     * EAGAIN when it could write nothing. The peer's window may still open
     * a little (seen under valgrind), so a few short counts may come
     * first; never all of it. */
    ssize_t w = 0;
    for (int i = 0; i < 1000 && w >= 0; i++) {
        w = usock_write(s, big, BIG);
        assert_true(w < BIG);
    }
    assert_code(w, USOCK_EAGAIN);
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

/* Non-blocking: the count written before it would block, then EAGAIN once
 * nothing more fits. */
static void nonblocking_write_returns_count_then_eagain(int af)
{
    check_write_count_then(af, 0, USOCK_EAGAIN);
}
BOTH_FAMILIES(nonblocking_write_returns_count_then_eagain)

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
        BOTH(nonblocking_connect_sequence_ends_in_eisconn),
        BOTH(nonblocking_connect_refused_then_a_new_attempt),
        cmocka_unit_test(settimeout_out_of_range_is_erange_and_changes_nothing),
        cmocka_unit_test(settimeout_up_to_int_max_milliseconds_is_accepted),
        BOTH(nonblocking_write_returns_count_then_eagain),
        BOTH(nonblocking_read_returns_count_then_eagain),
    };
    start_watchdog(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
