/* test_socket_flags.c -- the socket layer: Python's recv(n, flags) and
 * send(data, flags): USOCK_MSG_PEEK (the socket's own buffer first, then
 * the kernel's), USOCK_MSG_DONTWAIT (one call that does not wait), unknown
 * bits; recvfrom of zero bytes; the byte counters of usock_iostat.
 *
 * Every peer is on loopback. Only results are asserted; the one clock read
 * is a generous upper bound that catches a call that waits when it must
 * not. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

/* A call that must return at once may take this long on a loaded machine;
 * a call that waits for its 5 s timeout takes longer. */
#define AT_ONCE_S 2.0
#define LONG_TIMEOUT 5.0

/* Two library UDP sockets on loopback: a sends to b. */
struct udp_pair {
    usock *a, *b;
    usock_addr to_a, to_b;
};

static void udp_pair_open(struct udp_pair *u, int af)
{
    int pa, pb;
    u->a = bound(af, SOCK_DGRAM, &pa);
    u->b = bound(af, SOCK_DGRAM, &pb);
    loopback(&u->to_a, af, pa);
    loopback(&u->to_b, af, pb);
}

static void udp_pair_close(struct udp_pair *u)
{
    usock_close(u->a);
    usock_close(u->b);
}

static void send_datagram(usock *s, const char *text, const usock_addr *to)
{
    assert_count(usock_sendto(s, text, strlen(text), to), (long long)strlen(text));
}

/* n bytes through recv_flags must be exactly want. */
#define expect_recv_flags(s, cap, flags, want) \
    expect_recv_flags_at((s), (cap), (flags), (want), __LINE__)
static void expect_recv_flags_at(usock *s, size_t cap, int flags, const char *want, int line)
{
    char buf[256];
    assert_true(cap <= sizeof buf);
    memset(buf, 'X', sizeof buf);
    ssize_t r = usock_recv_flags(s, buf, cap, flags);
    size_t n = strlen(want);
    if (r != (ssize_t)n || memcmp(buf, want, n) != 0)
        fail_msg("line %d: recv_flags(cap %zu, %#x) = %zd (%s) \"%.*s\", want \"%s\"", line, cap,
                 (unsigned)flags, r, r < 0 ? usock_errname((int)r) : "a count", r > 0 ? (int)r : 0,
                 buf, want);
}

/* ---- recvfrom of zero bytes ---------------------------------------------- */

/* Like recv(0): 0 at once, nothing waited for, nothing consumed. A 5 s
 * timeout turns a call that waits into ETIMEDOUT instead of a hang. */
static void tcp_recvfrom_of_zero_bytes_returns_zero_at_once(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    assert_ok(usock_settimeout(s, LONG_TIMEOUT));
    char buf[8];
    usock_addr from;
    double t0 = now_s();
    assert_count(usock_recvfrom(s, buf, 0, &from), 0);
    assert_count(usock_recv(s, buf, 0), 0);
    assert_count(usock_recvfrom(s, NULL, 0, NULL), 0);
    assert_true(now_s() - t0 < AT_ONCE_S);
    /* With bytes waiting: still 0, and the bytes are all still there. */
    raw_send_str(peer, "data");
    wait_readable(s);
    assert_count(usock_recvfrom(s, buf, 0, &from), 0);
    expect_recv(s, sizeof buf, "data");
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(tcp_recvfrom_of_zero_bytes_returns_zero_at_once)

static void udp_recvfrom_of_zero_bytes_leaves_the_datagram(int af)
{
    struct udp_pair u;
    udp_pair_open(&u, af);
    assert_ok(usock_settimeout(u.b, LONG_TIMEOUT));
    char buf[16];
    usock_addr from;
    /* Nothing there: 0 at once, not a wait. */
    double t0 = now_s();
    assert_count(usock_recvfrom(u.b, buf, 0, &from), 0);
    assert_true(now_s() - t0 < AT_ONCE_S);
    send_datagram(u.a, "dgram", &u.to_b);
    wait_readable(u.b);
    assert_count(usock_recvfrom(u.b, buf, 0, &from), 0);
    assert_count(usock_recvfrom(u.b, buf, 0, NULL), 0);
    /* The datagram was not eaten by the zero-byte calls. */
    memset(&from, 0, sizeof from);
    assert_count(usock_recvfrom(u.b, buf, sizeof buf, &from), 5);
    assert_memory_equal(buf, "dgram", 5);
    assert_int_equal(port_of(&from), port_of(&u.to_a));
    assert_true(is_loopback(&from, af));
    udp_pair_close(&u);
}
BOTH_FAMILIES(udp_recvfrom_of_zero_bytes_leaves_the_datagram)

/* ---- MSG_PEEK ----------------------------------------------------------- */

/* readline pulled "rest" into the socket's own buffer: a peek shows it,
 * again and again, and recv then returns the same bytes. */
static void peek_returns_the_socket_buffer_without_consuming_it(int af)
{
    usock *s;
    int peer;
    pair_holding(af, &s, &peer, "line\nrest");
    /* A bound instead of a hang if a peek ate the buffer. */
    assert_ok(usock_settimeout(s, LONG_TIMEOUT));
    expect_readline(s, 16, "line\n");
    assert_int_equal(usock_pending(s), 4);
    expect_recv_flags(s, 16, USOCK_MSG_PEEK, "rest");
    expect_recv_flags(s, 16, USOCK_MSG_PEEK, "rest");
    expect_recv_flags(s, 2, USOCK_MSG_PEEK, "re");
    assert_int_equal(usock_pending(s), 4);
    /* The buffer comes first: bytes in the kernel are not mixed in. */
    raw_send_str(peer, "more");
    wait_readable(s);
    expect_recv_flags(s, 16, USOCK_MSG_PEEK, "rest");
    usock_addr from;
    char buf[16];
    assert_count(usock_recvfrom_flags(s, buf, sizeof buf, &from, USOCK_MSG_PEEK), 4);
    assert_memory_equal(buf, "rest", 4);
    expect_recv(s, 16, "rest");
    expect_recv(s, 16, "more");
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(peek_returns_the_socket_buffer_without_consuming_it)

/* An empty buffer: the peek looks at the kernel's bytes. */
static void peek_with_an_empty_buffer_peeks_the_kernel(int af)
{
    usock *s;
    int peer;
    pair_holding(af, &s, &peer, "abc\ndef");
    assert_ok(usock_settimeout(s, LONG_TIMEOUT));
    expect_recv_flags(s, 16, USOCK_MSG_PEEK, "abc\ndef");
    expect_recv_flags(s, 3, USOCK_MSG_PEEK, "abc");
    expect_recv_flags(s, 16, USOCK_MSG_PEEK, "abc\ndef");
    /* Every other call still sees all of it. */
    expect_readline(s, 16, "abc\n");
    expect_recv_flags(s, 16, USOCK_MSG_PEEK, "def");
    expect_read(s, 3, "def");
    /* Nothing left: a peek that must not wait says so. */
    char buf[4];
    assert_code(usock_recv_flags(s, buf, sizeof buf, USOCK_MSG_PEEK | USOCK_MSG_DONTWAIT),
                USOCK_EAGAIN);
    /* A peek at EOF is 0, and so is the recv after it. */
    close(peer);
    wait_readable(s);
    expect_recv_flags(s, 4, USOCK_MSG_PEEK, "");
    expect_recv(s, 4, "");
    usock_close(s);
}
BOTH_FAMILIES(peek_with_an_empty_buffer_peeks_the_kernel)

/* A blocking peek waits for bytes like recv (a sender thread sends them
 * later), and leaves them. */
static void blocking_peek_waits_for_bytes(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    assert_ok(usock_settimeout(s, 10.0));
    struct sender sd = {.fd = peer, .data = "late", .n = 4, .delay_ms = 30};
    sender_start(&sd);
    char buf[8];
    ssize_t r = usock_recv_flags(s, buf, sizeof buf, USOCK_MSG_PEEK);
    sender_join(&sd);
    /* Loopback may deliver in pieces only in theory: one send of 4 bytes. */
    if (r < 1 || r > 4 || memcmp(buf, "late", (size_t)r) != 0)
        fail_msg("peek gave %zd (%s)", r, r < 0 ? usock_errname((int)r) : "a count");
    expect_read(s, 4, "late");
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(blocking_peek_waits_for_bytes)

/* UDP: a peek gives the datagram and its sender; it stays for recvfrom. */
static void udp_peek_leaves_the_datagram(int af)
{
    struct udp_pair u;
    udp_pair_open(&u, af);
    assert_ok(usock_settimeout(u.b, LONG_TIMEOUT));
    send_datagram(u.a, "first", &u.to_b);
    send_datagram(u.a, "second", &u.to_b);
    wait_readable(u.b);
    char buf[16];
    usock_addr from;
    for (int i = 0; i < 2; i++) {
        memset(&from, 0, sizeof from);
        assert_count(usock_recvfrom_flags(u.b, buf, sizeof buf, &from, USOCK_MSG_PEEK), 5);
        assert_memory_equal(buf, "first", 5);
        assert_true(is_loopback(&from, af));
        assert_int_equal(port_of(&from), port_of(&u.to_a));
    }
    expect_recv_flags(u.b, 3, USOCK_MSG_PEEK, "fir");
    memset(&from, 0, sizeof from);
    assert_count(usock_recvfrom(u.b, buf, sizeof buf, &from), 5);
    assert_memory_equal(buf, "first", 5);
    assert_int_equal(port_of(&from), port_of(&u.to_a));
    expect_recv_flags(u.b, 16, USOCK_MSG_PEEK, "second");
    expect_recv(u.b, 16, "second");
    assert_code(usock_recv_flags(u.b, buf, sizeof buf, USOCK_MSG_DONTWAIT), USOCK_EAGAIN);
    udp_pair_close(&u);
}
BOTH_FAMILIES(udp_peek_leaves_the_datagram)

/* ---- MSG_DONTWAIT ------------------------------------------------------- */

/* A blocking socket with nothing to read: EAGAIN at once (the watchdog
 * ends the program if the call blocks), and the socket stays blocking. */
static void dontwait_on_a_blocking_socket_is_eagain_at_once(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    char buf[8];
    usock_addr from;
    assert_code(usock_recv_flags(s, buf, sizeof buf, USOCK_MSG_DONTWAIT), USOCK_EAGAIN);
    assert_code(usock_recvfrom_flags(s, buf, sizeof buf, &from, USOCK_MSG_DONTWAIT), USOCK_EAGAIN);
    assert_true(usock_gettimeout(s) == -1.0);
    /* Bytes there: DONTWAIT returns them. */
    raw_send_str(peer, "now");
    wait_readable(s);
    expect_recv_flags(s, sizeof buf, USOCK_MSG_DONTWAIT, "now");
    /* Still blocking: a plain recv waits for the sender thread. */
    struct sender sd = {.fd = peer, .data = "later", .n = 5, .delay_ms = 30};
    sender_start(&sd);
    expect_read(s, 5, "later");
    sender_join(&sd);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(dontwait_on_a_blocking_socket_is_eagain_at_once)

/* A 5 s timeout: DONTWAIT does not wait for it. The bound is loose: it
 * only tells "returned at once" from "waited for the timeout". */
static void dontwait_ignores_the_timeout(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    assert_ok(usock_settimeout(s, LONG_TIMEOUT));
    char buf[8];
    double t0 = now_s();
    ssize_t r = usock_recv_flags(s, buf, sizeof buf, USOCK_MSG_DONTWAIT);
    double took = now_s() - t0;
    assert_code(r, USOCK_EAGAIN);
    if (took >= AT_ONCE_S)
        fail_msg("recv_flags(DONTWAIT) waited %.1f s on a socket with a %g s timeout", took,
                 LONG_TIMEOUT);
    /* The timeout is unchanged and still applies to the next call. */
    assert_true(usock_gettimeout(s) == LONG_TIMEOUT);
    struct sender sd = {.fd = peer, .data = "ok", .n = 2, .delay_ms = 30};
    sender_start(&sd);
    expect_read(s, 2, "ok");
    sender_join(&sd);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(dontwait_ignores_the_timeout)

/* The socket's own buffer answers a DONTWAIT call (as poll says it is
 * readable). */
static void dontwait_returns_buffered_bytes(int af)
{
    usock *s;
    int peer;
    pair_holding(af, &s, &peer, "a\nbc");
    expect_readline(s, 8, "a\n");
    expect_recv_flags(s, 8, USOCK_MSG_DONTWAIT, "bc");
    char buf[8];
    assert_code(usock_recv_flags(s, buf, sizeof buf, USOCK_MSG_DONTWAIT), USOCK_EAGAIN);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(dontwait_returns_buffered_bytes)

/* A peer that never reads: blocking sends with DONTWAIT fill the buffers
 * and then fail with EAGAIN instead of blocking. */
static void send_dontwait_on_a_full_socket_is_eagain(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer_bufs(af, &s, &peer, SMALL_BUF, SMALL_BUF);
    static char chunk[65536];
    ssize_t r = 0;
    long long sent = 0;
    for (int i = 0; i < 10000 && r >= 0; i++) {
        r = usock_send_flags(s, chunk, sizeof chunk, USOCK_MSG_DONTWAIT);
        if (r > 0)
            sent += r;
    }
    assert_code(r, USOCK_EAGAIN);
    assert_true(sent > 0);
    assert_true(usock_gettimeout(s) == -1.0);
    /* The same with a timeout set. */
    assert_ok(usock_settimeout(s, LONG_TIMEOUT));
    double t0 = now_s();
    assert_code(usock_send_flags(s, chunk, sizeof chunk, USOCK_MSG_DONTWAIT), USOCK_EAGAIN);
    assert_true(now_s() - t0 < AT_ONCE_S);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(send_dontwait_on_a_full_socket_is_eagain)

/* Flags 0 are the plain calls; sendto_flags sends a datagram. */
static void zero_flags_and_sendto_flags(int af)
{
    struct udp_pair u;
    udp_pair_open(&u, af);
    assert_count(usock_sendto_flags(u.a, "one", 3, &u.to_b, 0), 3);
    assert_count(usock_sendto_flags(u.a, "two", 3, &u.to_b, USOCK_MSG_DONTWAIT), 3);
    wait_readable(u.b);
    char buf[8];
    usock_addr from;
    assert_count(usock_recvfrom_flags(u.b, buf, sizeof buf, &from, 0), 3);
    assert_memory_equal(buf, "one", 3);
    assert_int_equal(port_of(&from), port_of(&u.to_a));
    wait_readable(u.b);
    expect_recv_flags(u.b, 8, 0, "two");
    udp_pair_close(&u);

    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    assert_count(usock_send_flags(s, "xyz", 3, 0), 3);
    char got[3];
    raw_recv_exact(peer, got, 3);
    assert_memory_equal(got, "xyz", 3);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(zero_flags_and_sendto_flags)

/* Any bit other than PEEK and DONTWAIT: EINVAL, and nothing is consumed
 * or sent. */
static void unknown_flag_bits_are_einval(void **state)
{
    (void)state;
    usock *s;
    int peer;
    pair_holding(AF_INET, &s, &peer, "keep");
    const int bad[] = {0x4,
                       0x8,
                       0x40,
                       0x100,
                       0x4000,
                       INT_MIN,
                       -1,
                       USOCK_MSG_PEEK | 0x10,
                       USOCK_MSG_DONTWAIT | 0x80};
    char buf[8];
    usock_addr from;
    loopback(&from, AF_INET, 9);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int f = bad[i];
        ssize_t r[4];
        r[0] = usock_recv_flags(s, buf, sizeof buf, f);
        r[1] = usock_recvfrom_flags(s, buf, sizeof buf, &from, f);
        r[2] = usock_send_flags(s, "x", 1, f);
        r[3] = usock_sendto_flags(s, "x", 1, &from, f);
        static const char *const names[] = {"recv_flags", "recvfrom_flags", "send_flags",
                                            "sendto_flags"};
        for (int k = 0; k < 4; k++)
            if (r[k] != USOCK_EINVAL)
                fail_msg("%s(flags %#x) = %zd (%s), want EINVAL", names[k], (unsigned)f, r[k],
                         usock_errname((int)r[k]));
    }
    expect_recv(s, sizeof buf, "keep");
    /* Nothing was sent by the failed calls. */
    struct pollfd pf = {.fd = peer, .events = POLLIN};
    assert_int_equal(poll(&pf, 1, QUIET_MS), 0);
    usock_close(s);
    close(peer);
}

static void null_arguments_with_flags_are_einval(void **state)
{
    (void)state;
    char buf[4];
    usock_addr a;
    loopback(&a, AF_INET, 9);
    assert_code(usock_recv_flags(NULL, buf, sizeof buf, 0), USOCK_EINVAL);
    assert_code(usock_recvfrom_flags(NULL, buf, sizeof buf, NULL, 0), USOCK_EINVAL);
    assert_code(usock_send_flags(NULL, "x", 1, 0), USOCK_EINVAL);
    assert_code(usock_sendto_flags(NULL, "x", 1, &a, 0), USOCK_EINVAL);
    usock *s;
    assert_ok(usock_socket(&s, AF_INET, SOCK_DGRAM, 0));
    assert_code(usock_recv_flags(s, NULL, 4, 0), USOCK_EINVAL);
    assert_code(usock_send_flags(s, NULL, 4, 0), USOCK_EINVAL);
    assert_code(usock_sendto_flags(s, "x", 1, NULL, 0), USOCK_EINVAL);
    usock_close(s);
}

/* ---- iostat ------------------------------------------------------------- */

static void iostat_counts_bytes_in_and_out(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    unsigned long long in = 99, out = 99;
    usock_iostat(s, &in, &out);
    assert_int_equal(in, 0);
    assert_int_equal(out, 0);

    assert_count(usock_send(s, "hello", 5), 5);
    assert_ok(usock_sendall(s, "0123456789", 10));
    assert_count(usock_write(s, "ab", 2), 2);
    usock_iostat(s, &in, &out);
    assert_int_equal(out, 17);
    assert_int_equal(in, 0);
    char sink[17];
    raw_recv_exact(peer, sink, sizeof sink);

    /* readline pulls the whole "x\nyz" in: 4 bytes in, though it returned
     * 2; the recv that takes the rest from the buffer adds nothing. */
    raw_send_str(peer, "x\nyz");
    wait_readable(s);
    expect_readline(s, 16, "x\n");
    usock_iostat(s, &in, &out);
    assert_int_equal(in, 4);
    expect_recv(s, 16, "yz");
    usock_iostat(s, &in, &out);
    assert_int_equal(in, 4);
    raw_send_str(peer, "12345");
    wait_readable(s);
    expect_read(s, 5, "12345");
    usock_iostat(s, &in, NULL);
    assert_int_equal(in, 9);
    usock_iostat(s, NULL, &out);
    assert_int_equal(out, 17);
    usock_iostat(s, NULL, NULL);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(iostat_counts_bytes_in_and_out)

static void iostat_counts_datagrams(int af)
{
    struct udp_pair u;
    udp_pair_open(&u, af);
    send_datagram(u.a, "abc", &u.to_b);
    send_datagram(u.a, "defgh", &u.to_b);
    wait_readable(u.b);
    char buf[16];
    assert_count(usock_recvfrom(u.b, buf, sizeof buf, NULL), 3);
    wait_readable(u.b);
    assert_count(usock_recv(u.b, buf, sizeof buf), 5);
    unsigned long long in, out;
    usock_iostat(u.a, &in, &out);
    assert_int_equal(out, 8);
    assert_int_equal(in, 0);
    usock_iostat(u.b, &in, &out);
    assert_int_equal(in, 8);
    assert_int_equal(out, 0);
    udp_pair_close(&u);
}
BOTH_FAMILIES(iostat_counts_datagrams)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(tcp_recvfrom_of_zero_bytes_returns_zero_at_once),
        BOTH(udp_recvfrom_of_zero_bytes_leaves_the_datagram),
        BOTH(peek_returns_the_socket_buffer_without_consuming_it),
        BOTH(peek_with_an_empty_buffer_peeks_the_kernel),
        BOTH(blocking_peek_waits_for_bytes),
        BOTH(udp_peek_leaves_the_datagram),
        BOTH(dontwait_on_a_blocking_socket_is_eagain_at_once),
        BOTH(dontwait_ignores_the_timeout),
        BOTH(dontwait_returns_buffered_bytes),
        BOTH(send_dontwait_on_a_full_socket_is_eagain),
        BOTH(zero_flags_and_sendto_flags),
        cmocka_unit_test(unknown_flag_bits_are_einval),
        cmocka_unit_test(null_arguments_with_flags_are_einval),
        BOTH(iostat_counts_bytes_in_and_out),
        BOTH(iostat_counts_datagrams),
    };
    start_watchdog(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
