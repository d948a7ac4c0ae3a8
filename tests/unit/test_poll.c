/* test_poll.c -- uselect.poll: registration, readiness, the user-space read
 * buffer, limits, and sockets closed while registered.
 *
 * Peers are raw POSIX sockets on loopback. Waits that expect an event use a
 * generous bound (they return as soon as the event is there); waits that
 * expect nothing use a short one. Only results are asserted. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

/* ---- fixtures ------------------------------------------------------------ */

/* A new poll watching one library TCP socket (connected to a raw peer) for
 * events, with udata. */
static usock_poll *watch_pair(int af, usock **s, int *peer, int events, void *udata)
{
    usock_poll *p;
    pair_with_raw_peer(af, s, peer);
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, *s, events, udata));
    return p;
}

static void unwatch_pair(usock_poll *p, usock *s, int peer)
{
    usock_close(s);
    close(peer);
    usock_poll_free(p);
}

/* A library UDP socket bound to loopback; *to is its address. */
static usock *udp_bound(int af, usock_addr *to)
{
    int port;
    usock *u = bound(af, SOCK_DGRAM, &port);
    loopback(to, af, port);
    return u;
}

/* True when the kernel holds no bytes for s (only its user buffer might). */
static int kernel_queue_empty(usock *s)
{
    char c;
    ssize_t r = recv(usock_fileno(s), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* The peer sends two lines in one segment; readline returns the first and
 * reads the second ahead: it waits in the socket's buffer, and the kernel
 * has nothing left for s. */
static void leave_a_line_buffered(usock *s, int peer, const char *two_lines)
{
    raw_send_str(peer, two_lines);
    wait_readable(s);
    char line[16];
    size_t first = strcspn(two_lines, "\n") + 1;
    assert_int_equal(usock_readline(s, line, sizeof line), first);
    assert_memory_equal(line, two_lines, first);
    assert_true(usock_pending(s) > 0);
    assert_true(kernel_queue_empty(s));
}

/* Finds the event of s among n, or NULL; fails if s appears twice. */
static const usock_event *event_of(const usock_event *ev, int n, const usock *s)
{
    const usock_event *found = NULL;
    for (int i = 0; i < n; i++)
        if (ev[i].sock == s) {
            if (found)
                fail_msg("one socket reported twice in one wait");
            found = &ev[i];
        }
    return found;
}

/* Asserts that the wait gives exactly one event: s closed while
 * registered, reported as CPython reports a closed descriptor. */
#define expect_nval(p, timeout_ms, udata) expect_nval_at((p), (timeout_ms), (udata), __LINE__)
static void expect_nval_at(usock_poll *p, int timeout_ms, const void *udata, int line)
{
    usock_event ev[4];
    int n = usock_poll_wait(p, timeout_ms, ev, 4);
    if (n != 1 || ev[0].sock != NULL || ev[0].revents != USOCK_POLLNVAL || ev[0].udata != udata)
        fail_msg("line %d: want one POLLNVAL event, got %d (first: sock %p revents %#x)", line, n,
                 n > 0 ? (void *)ev[0].sock : NULL, n > 0 ? (unsigned)ev[0].revents : 0u);
}

/* ======================================================================== */

static void poll_new_and_free(void **state)
{
    (void)state;
    usock_poll *p = NULL;
    assert_ok(usock_poll_new(&p));
    assert_non_null(p);
    usock_poll_free(p);
    usock_poll_free(NULL);
    assert_code(usock_poll_new(NULL), USOCK_EINVAL);
}

static void empty_poll_times_out_with_zero(void **state)
{
    (void)state;
    usock_poll *p;
    assert_ok(usock_poll_new(&p));
    usock_event ev[4];
    assert_ok(usock_poll_wait(p, 0, ev, 4));
    assert_ok(usock_poll_wait(p, QUIET_MS, ev, 4));
    usock_poll_free(p);
}

static void register_twice_is_eexist(void **state)
{
    (void)state;
    usock_poll *p;
    usock *s;
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_socket(&s, 0, 0, 0));
    assert_ok(usock_poll_register(p, s, USOCK_POLLIN, NULL));
    assert_code(usock_poll_register(p, s, USOCK_POLLOUT, NULL), USOCK_EEXIST);
    assert_ok(usock_poll_modify(p, s, USOCK_POLLOUT));
    assert_code(usock_poll_register(p, s, USOCK_POLLIN, NULL), USOCK_EEXIST);
    usock_close(s);
    usock_poll_free(p);
}

static void modify_and_unregister_of_unknown_socket_are_enoent(void **state)
{
    (void)state;
    usock_poll *p;
    usock *s;
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_socket(&s, 0, 0, 0));
    assert_code(usock_poll_modify(p, s, USOCK_POLLIN), USOCK_ENOENT);
    assert_code(usock_poll_unregister(p, s), USOCK_ENOENT);
    assert_ok(usock_poll_register(p, s, USOCK_POLLIN, NULL));
    assert_ok(usock_poll_unregister(p, s));
    /* Gone means gone: a second unregister, a modify, then a fresh start. */
    assert_code(usock_poll_unregister(p, s), USOCK_ENOENT);
    assert_code(usock_poll_modify(p, s, USOCK_POLLOUT), USOCK_ENOENT);
    assert_ok(usock_poll_register(p, s, USOCK_POLLIN, NULL));
    usock_close(s);
    usock_poll_free(p);
}

/* A socket registered with one poll is unknown to another. */
static void registration_belongs_to_one_poll(void **state)
{
    (void)state;
    usock_poll *p, *q;
    usock *s;
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_new(&q));
    assert_ok(usock_socket(&s, 0, 0, 0));
    assert_ok(usock_poll_register(p, s, USOCK_POLLIN, NULL));
    assert_code(usock_poll_modify(q, s, USOCK_POLLOUT), USOCK_ENOENT);
    assert_code(usock_poll_unregister(q, s), USOCK_ENOENT);
    assert_ok(usock_poll_unregister(p, s));
    usock_close(s);
    usock_poll_free(q);
    usock_poll_free(p);
}

static void null_arguments_are_einval(void **state)
{
    (void)state;
    usock_poll *p;
    usock *s;
    usock_event ev[2];
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_socket(&s, 0, 0, 0));
    assert_code(usock_poll_register(NULL, s, USOCK_POLLIN, NULL), USOCK_EINVAL);
    assert_code(usock_poll_register(p, NULL, USOCK_POLLIN, NULL), USOCK_EINVAL);
    assert_code(usock_poll_modify(NULL, s, USOCK_POLLIN), USOCK_EINVAL);
    assert_code(usock_poll_modify(p, NULL, USOCK_POLLIN), USOCK_EINVAL);
    assert_code(usock_poll_unregister(NULL, s), USOCK_EINVAL);
    assert_code(usock_poll_unregister(p, NULL), USOCK_EINVAL);
    assert_code(usock_poll_wait(NULL, 0, ev, 2), USOCK_EINVAL);
    assert_code(usock_poll_wait(p, 0, NULL, 2), USOCK_EINVAL);
    assert_code(usock_poll_wait(p, 0, ev, 0), USOCK_EINVAL);
    assert_code(usock_poll_wait(p, 0, ev, -1), USOCK_EINVAL);
    usock_close(s);
    usock_poll_free(p);
}

static void idle_socket_times_out_with_zero(int af)
{
    usock *s;
    int peer;
    usock_poll *p = watch_pair(af, &s, &peer, USOCK_POLLIN, NULL);
    usock_event ev[4];
    assert_ok(usock_poll_wait(p, 0, ev, 4));
    assert_ok(usock_poll_wait(p, QUIET_MS, ev, 4));
    unwatch_pair(p, s, peer);
}
BOTH_FAMILIES(idle_socket_times_out_with_zero)

/* poll(2) fails with EINVAL when nfds passes RLIMIT_NOFILE: a poll must
 * hand the kernel the slots it uses, not the room it has (16 at least). */
static void wait_works_under_a_descriptor_limit_below_its_room(void **state)
{
    (void)state;
    if (getenv("USOCK_UNDER_VALGRIND"))
        skip(); /* valgrind keeps descriptors of its own above the limit */
    usock *s;
    int peer;
    usock_poll *p = watch_pair(AF_INET, &s, &peer, USOCK_POLLIN, NULL);
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 4; /* open descriptors above it stay open */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    usock_event ev[4];
    int idle = usock_poll_wait(p, 0, ev, 4);
    raw_send_str(peer, "x");
    int ready = usock_poll_wait(p, EXPECT_MS, ev, 4);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_int_equal(idle, 0);
    assert_int_equal(ready, 1);
    unwatch_pair(p, s, peer);
}

static void pollin_when_data_arrives_with_its_udata(int af)
{
    usock *s;
    int peer, marker;
    usock_poll *p = watch_pair(af, &s, &peer, USOCK_POLLIN, &marker);
    usock_event ev[4];
    assert_ok(usock_poll_wait(p, 0, ev, 4));
    raw_send_str(peer, "data");
    assert_int_equal(usock_poll_wait(p, EXPECT_MS, ev, 4), 1);
    assert_ptr_equal(ev[0].sock, s);
    assert_ptr_equal(ev[0].udata, &marker);
    assert_true(ev[0].revents & USOCK_POLLIN);
    assert_false(ev[0].revents & USOCK_POLLOUT); /* not asked for */
    /* Level-triggered: still readable until read. */
    assert_int_equal(usock_poll_wait(p, 0, ev, 4), 1);
    char buf[8];
    assert_int_equal(usock_recv(s, buf, sizeof buf), 4);
    assert_ok(usock_poll_wait(p, 0, ev, 4));
    unwatch_pair(p, s, peer);
}
BOTH_FAMILIES(pollin_when_data_arrives_with_its_udata)

static void wait_forever_returns_when_data_arrives(int af)
{
    usock *s;
    int peer;
    usock_poll *p = watch_pair(af, &s, &peer, USOCK_POLLIN, NULL);
    struct sender sd = {.fd = peer, .data = "late", .n = 4, .delay_ms = 30};
    sender_start(&sd);
    usock_event ev[2];
    int n = usock_poll_wait(p, -1, ev, 2);
    sender_join(&sd);
    assert_int_equal(n, 1);
    assert_true(ev[0].revents & USOCK_POLLIN);
    unwatch_pair(p, s, peer);
}
BOTH_FAMILIES(wait_forever_returns_when_data_arrives)

static void pollout_on_a_connected_socket(int af)
{
    usock *s;
    int peer;
    usock_poll *p = watch_pair(af, &s, &peer, USOCK_POLLOUT, NULL);
    usock_event ev[2];
    assert_int_equal(usock_poll_wait(p, EXPECT_MS, ev, 2), 1);
    assert_ptr_equal(ev[0].sock, s);
    assert_true(ev[0].revents & USOCK_POLLOUT);
    assert_false(ev[0].revents & USOCK_POLLIN);
    assert_null(ev[0].udata);
    unwatch_pair(p, s, peer);
}
BOTH_FAMILIES(pollout_on_a_connected_socket)

static void modify_changes_what_is_reported(int af)
{
    usock *s;
    int peer, tag;
    usock_poll *p = watch_pair(af, &s, &peer, USOCK_POLLIN, &tag);
    usock_event ev[2];
    assert_ok(usock_poll_wait(p, 0, ev, 2));
    assert_ok(usock_poll_modify(p, s, USOCK_POLLOUT));
    assert_int_equal(usock_poll_wait(p, EXPECT_MS, ev, 2), 1);
    assert_true(ev[0].revents & USOCK_POLLOUT);
    assert_ptr_equal(ev[0].udata, &tag); /* modify keeps the udata */
    assert_ok(usock_poll_modify(p, s, 0));
    raw_send_str(peer, "x");
    assert_ok(usock_poll_wait(p, QUIET_MS, ev, 2));
    assert_ok(usock_poll_modify(p, s, USOCK_POLLIN | USOCK_POLLOUT));
    assert_int_equal(usock_poll_wait(p, EXPECT_MS, ev, 2), 1);
    assert_int_equal(ev[0].revents & (USOCK_POLLIN | USOCK_POLLOUT), USOCK_POLLIN | USOCK_POLLOUT);
    unwatch_pair(p, s, peer);
}
BOTH_FAMILIES(modify_changes_what_is_reported)

static void pollout_not_reported_while_send_buffer_is_full(int af)
{
    usock_poll *p;
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    assert_ok(usock_setblocking(s, 0));
    static char chunk[65536];
    ssize_t r = 0;
    for (int i = 0; i < 100000 && r >= 0; i++)
        r = usock_send(s, chunk, sizeof chunk);
    assert_code(r, USOCK_EAGAIN);
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, s, USOCK_POLLOUT, NULL));
    usock_event ev[2];
    assert_ok(usock_poll_wait(p, QUIET_MS, ev, 2));
    /* The peer drains everything: writable again. */
    int n = 0;
    for (int i = 0; i < 1000 && n == 0; i++) {
        while (recv(peer, chunk, sizeof chunk, MSG_DONTWAIT) > 0) {
        }
        n = usock_poll_wait(p, 10, ev, 2);
    }
    assert_int_equal(n, 1);
    assert_true(ev[0].revents & USOCK_POLLOUT);
    unwatch_pair(p, s, peer);
}
BOTH_FAMILIES(pollout_not_reported_while_send_buffer_is_full)

static void peer_close_reports_pollin_or_pollhup(int af)
{
    usock *s;
    int peer;
    usock_poll *p = watch_pair(af, &s, &peer, USOCK_POLLIN, NULL);
    close(peer);
    usock_event ev[2];
    assert_int_equal(usock_poll_wait(p, EXPECT_MS, ev, 2), 1);
    assert_true(ev[0].revents & (USOCK_POLLIN | USOCK_POLLHUP));
    char c;
    assert_int_equal(usock_recv(s, &c, 1), 0);
    usock_close(s);
    usock_poll_free(p);
}
BOTH_FAMILIES(peer_close_reports_pollin_or_pollhup)

/* POLLERR and POLLHUP need not be asked for. */
static void peer_reset_reports_err_or_hup_even_when_not_asked(int af)
{
    usock *s;
    int peer, tag;
    usock_poll *p = watch_pair(af, &s, &peer, 0, &tag);
    usock_event ev[2];
    assert_ok(usock_poll_wait(p, 0, ev, 2));
    raw_reset(peer);
    assert_int_equal(usock_poll_wait(p, EXPECT_MS, ev, 2), 1);
    assert_ptr_equal(ev[0].sock, s);
    assert_ptr_equal(ev[0].udata, &tag);
    assert_true(ev[0].revents & (USOCK_POLLERR | USOCK_POLLHUP));
    assert_false(ev[0].revents & USOCK_POLLOUT);
    char c;
    assert_code(usock_recv(s, &c, 1), USOCK_ECONNRESET);
    usock_close(s);
    usock_poll_free(p);
}
BOTH_FAMILIES(peer_reset_reports_err_or_hup_even_when_not_asked)

/* readline pulls both lines into the socket's buffer; the kernel has
 * nothing left, yet the socket is readable. */
static void pollin_while_the_socket_buffer_holds_bytes(int af)
{
    usock_poll *p;
    usock *s;
    int peer, tag;
    pair_with_raw_peer(af, &s, &peer);
    leave_a_line_buffered(s, peer, "one\ntwo\n");

    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, s, USOCK_POLLIN, &tag));
    usock_event ev[4];
    assert_int_equal(usock_poll_wait(p, 0, ev, 4), 1);
    assert_ptr_equal(ev[0].sock, s);
    assert_ptr_equal(ev[0].udata, &tag);
    assert_true(ev[0].revents & USOCK_POLLIN);
    /* A wait without a bound must not block either. */
    assert_int_equal(usock_poll_wait(p, -1, ev, 4), 1);
    expect_readline(s, 16, "two\n");
    /* Now both are empty: quiet again. */
    assert_ok(usock_poll_wait(p, 0, ev, 4));
    unwatch_pair(p, s, peer);
}
BOTH_FAMILIES(pollin_while_the_socket_buffer_holds_bytes)

/* The same socket must come back as one event carrying both bits. */
static void buffered_pollin_and_kernel_pollout_are_one_event(int af)
{
    usock_poll *p;
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    leave_a_line_buffered(s, peer, "a\nb\n");
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, s, USOCK_POLLIN | USOCK_POLLOUT, NULL));
    usock_event ev[4];
    assert_int_equal(usock_poll_wait(p, 0, ev, 4), 1);
    assert_int_equal(ev[0].revents & (USOCK_POLLIN | USOCK_POLLOUT), USOCK_POLLIN | USOCK_POLLOUT);
    unwatch_pair(p, s, peer);
}
BOTH_FAMILIES(buffered_pollin_and_kernel_pollout_are_one_event)

/* Buffered bytes do not make a socket that was not asked about POLLIN
 * readable. */
static void buffered_bytes_not_reported_without_pollin_interest(void **state)
{
    (void)state;
    usock_poll *p;
    usock *s;
    int peer;
    pair_with_raw_peer(AF_INET, &s, &peer);
    leave_a_line_buffered(s, peer, "a\nb\n");
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, s, 0, NULL));
    usock_event ev[4];
    assert_ok(usock_poll_wait(p, 0, ev, 4));
    assert_ok(usock_poll_modify(p, s, USOCK_POLLIN));
    assert_int_equal(usock_poll_wait(p, 0, ev, 4), 1);
    unwatch_pair(p, s, peer);
}

/* One socket ready from its buffer, another from the kernel: both come in
 * one wait. */
static void buffered_and_kernel_ready_sockets_come_together(void **state)
{
    (void)state;
    usock_poll *p;
    usock *a, *b;
    int pa, pb;
    pair_with_raw_peer(AF_INET, &a, &pa);
    pair_with_raw_peer(AF_INET, &b, &pb);
    leave_a_line_buffered(a, pa, "1\n2\n");
    raw_send_str(pb, "x");
    wait_readable(b);

    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, a, USOCK_POLLIN, NULL));
    assert_ok(usock_poll_register(p, b, USOCK_POLLIN, NULL));
    usock_event ev[4];
    int n = usock_poll_wait(p, EXPECT_MS, ev, 4);
    assert_int_equal(n, 2);
    assert_non_null(event_of(ev, n, a));
    assert_non_null(event_of(ev, n, b));
    usock_close(a);
    usock_close(b);
    close(pa);
    close(pb);
    usock_poll_free(p);
}

/* max caps the events written; the others stay ready for later waits. */
static void max_smaller_than_ready_count(void **state)
{
    (void)state;
    enum { N = 5 };
    usock_poll *p;
    usock *u[N];
    usock_addr to[N];
    int tags[N];
    int raw = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(raw >= 0);
    assert_ok(usock_poll_new(&p));
    for (int i = 0; i < N; i++) {
        u[i] = udp_bound(AF_INET, &to[i]);
        tags[i] = i;
        assert_ok(usock_poll_register(p, u[i], USOCK_POLLIN, &tags[i]));
        raw_sendto(raw, "d", &to[i]);
    }
    for (int i = 0; i < N; i++)
        wait_readable(u[i]);
    int seen[N] = {0};
    int total = 0;
    for (int round = 0; round < 10 && total < N; round++) {
        usock_event ev[3];
        ev[2] = (usock_event){.sock = NULL, .revents = -1, .udata = &seen};
        int n = usock_poll_wait(p, EXPECT_MS, ev, 2);
        assert_true(n >= 1 && n <= 2);
        /* Nothing written past max. */
        assert_null(ev[2].sock);
        assert_int_equal(ev[2].revents, -1);
        for (int k = 0; k < n; k++) {
            int i = *(int *)ev[k].udata;
            assert_ptr_equal(ev[k].sock, u[i]);
            assert_false(seen[i]);
            seen[i] = 1;
            total++;
            char c;
            assert_int_equal(usock_recv(u[i], &c, 1), 1);
        }
    }
    assert_int_equal(total, N);
    for (int i = 0; i < N; i++)
        usock_close(u[i]);
    close(raw);
    usock_poll_free(p);
}

/* The same limit when every ready socket is ready from its buffer. */
static void max_smaller_than_buffered_count(void **state)
{
    (void)state;
    enum { N = 3 };
    usock_poll *p;
    usock *s[N];
    int peer[N];
    assert_ok(usock_poll_new(&p));
    for (int i = 0; i < N; i++) {
        pair_with_raw_peer(AF_INET, &s[i], &peer[i]);
        leave_a_line_buffered(s[i], peer[i], "l\nm\n");
        assert_ok(usock_poll_register(p, s[i], USOCK_POLLIN, NULL));
    }
    usock_event ev[3];
    ev[2].sock = NULL;
    int n = usock_poll_wait(p, 0, ev, 2);
    assert_int_equal(n, 2);
    assert_null(ev[2].sock);
    assert_true(ev[0].sock != ev[1].sock);
    assert_int_equal(usock_poll_wait(p, 0, ev, 3), 3);
    for (int i = 0; i < N; i++) {
        usock_close(s[i]);
        close(peer[i]);
    }
    usock_poll_free(p);
}

/* A closed socket leaves the poll: no event names it afterwards, and a new
 * socket that gets the same descriptor number starts clean. */
static void closing_a_registered_socket_unregisters_it(int af)
{
    usock_poll *p;
    usock *a, *b;
    int pa, pb;
    int tag_a, tag_b, tag_c;
    pair_with_raw_peer(af, &a, &pa);
    pair_with_raw_peer(af, &b, &pb);
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, a, USOCK_POLLIN, &tag_a));
    assert_ok(usock_poll_register(p, b, USOCK_POLLIN, &tag_b));
    raw_send_str(pa, "for a");
    wait_readable(a);
    usock_close(a);
    /* Reported once, with its udata, then forgotten. */
    expect_nval(p, QUIET_MS, &tag_a);
    usock_event ev[4];
    assert_ok(usock_poll_wait(p, QUIET_MS, ev, 4));

    /* A new socket, most likely on a's old descriptor number: whether it is
     * or not, only its own registration may count. */
    usock *c;
    int pc;
    pair_with_raw_peer(af, &c, &pc);
    assert_ok(usock_poll_register(p, c, USOCK_POLLIN, &tag_c));
    assert_ok(usock_poll_wait(p, QUIET_MS, ev, 4));
    raw_send_str(pc, "for c");
    raw_send_str(pb, "for b");
    int n = 0, got_b = 0, got_c = 0;
    for (int round = 0; round < 10 && !(got_b && got_c); round++) {
        n = usock_poll_wait(p, EXPECT_MS, ev, 4);
        assert_true(n >= 1);
        for (int k = 0; k < n; k++) {
            assert_true(ev[k].udata != &tag_a);
            assert_true(ev[k].sock == b || ev[k].sock == c);
            if (ev[k].sock == b) {
                assert_ptr_equal(ev[k].udata, &tag_b);
                got_b = 1;
            } else {
                assert_ptr_equal(ev[k].udata, &tag_c);
                got_c = 1;
            }
        }
    }
    assert_true(got_b && got_c);
    usock_close(b);
    usock_close(c);
    close(pa);
    close(pb);
    close(pc);
    usock_poll_free(p);
}
BOTH_FAMILIES(closing_a_registered_socket_unregisters_it)

/* Freeing the poll first must not leave the socket pointing at it (under
 * ASan a use after free would show here). */
static void poll_freed_before_its_sockets(void **state)
{
    (void)state;
    usock_poll *p;
    usock *s, *t;
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_socket(&s, 0, 0, 0));
    assert_ok(usock_socket(&t, 0, 0, 0));
    assert_ok(usock_poll_register(p, s, USOCK_POLLIN, NULL));
    assert_ok(usock_poll_register(p, t, USOCK_POLLIN, NULL));
    usock_poll_free(p);
    assert_ok(usock_close(s));
    /* And t can join a new poll. */
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, t, USOCK_POLLIN, NULL));
    assert_ok(usock_close(t));
    expect_nval(p, 0, NULL);
    usock_event ev[2];
    assert_ok(usock_poll_wait(p, 0, ev, 2));
    usock_poll_free(p);
}

static void unregistered_socket_is_not_reported(void **state)
{
    (void)state;
    usock *s;
    int peer;
    usock_poll *p = watch_pair(AF_INET, &s, &peer, USOCK_POLLIN, NULL);
    raw_send_str(peer, "x");
    usock_event ev[2];
    assert_int_equal(usock_poll_wait(p, EXPECT_MS, ev, 2), 1);
    assert_ok(usock_poll_unregister(p, s));
    assert_ok(usock_poll_wait(p, QUIET_MS, ev, 2));
    /* Registered again, with a new udata. */
    int tag;
    assert_ok(usock_poll_register(p, s, USOCK_POLLIN, &tag));
    assert_int_equal(usock_poll_wait(p, EXPECT_MS, ev, 2), 1);
    assert_ptr_equal(ev[0].udata, &tag);
    unwatch_pair(p, s, peer);
}

static void listening_socket_is_readable_with_a_pending_connection(int af)
{
    usock_poll *p;
    int port;
    usock *l = bound(af, SOCK_STREAM, &port), *srv;
    assert_ok(usock_listen(l, 4));
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, l, USOCK_POLLIN, NULL));
    usock_event ev[2];
    assert_ok(usock_poll_wait(p, 0, ev, 2));
    usock *c = connected_to(af, port);
    assert_int_equal(usock_poll_wait(p, EXPECT_MS, ev, 2), 1);
    assert_true(ev[0].revents & USOCK_POLLIN);
    assert_ok(usock_accept(l, &srv, NULL));
    usock_close(srv);
    usock_close(c);
    usock_close(l);
    usock_poll_free(p);
}
BOTH_FAMILIES(listening_socket_is_readable_with_a_pending_connection)

/* The uselect way to connect without blocking. */
static void nonblocking_connect_completes_with_pollout(int af)
{
    int port;
    int lfd = raw_listener(af, 4, 0, &port);
    usock_addr a;
    loopback(&a, af, port);
    usock *c;
    assert_ok(usock_socket(&c, af, SOCK_STREAM, 0));
    assert_ok(usock_setblocking(c, 0));
    int r = usock_connect(c, &a);
    assert_true(r == 0 || r == USOCK_EINPROGRESS);
    int revents = poll_pollout(c);
    assert_true(revents & USOCK_POLLOUT);
    assert_false(revents & USOCK_POLLERR);
    if (r != 0)
        assert_ok(usock_connect(c, &a));
    int peer = raw_accept(lfd);
    assert_int_equal(usock_send(c, "hi", 2), 2);
    usock_close(c);
    close(peer);
    close(lfd);
}
BOTH_FAMILIES(nonblocking_connect_completes_with_pollout)

static void nonblocking_connect_refused_reports_an_error_event(int af)
{
    /* Bound, not listening: the kernel answers with RST. */
    int port;
    int bfd = raw_bound(af, SOCK_STREAM, &port);
    usock_addr a;
    loopback(&a, af, port);
    usock *c;
    assert_ok(usock_socket(&c, af, SOCK_STREAM, 0));
    assert_ok(usock_setblocking(c, 0));
    int r = usock_connect(c, &a);
    if (r == USOCK_EINPROGRESS) {
        assert_true(poll_pollout(c) & (USOCK_POLLERR | USOCK_POLLHUP | USOCK_POLLOUT));
        r = usock_connect(c, &a);
    }
    assert_code(r, USOCK_ECONNREFUSED);
    usock_close(c);
    close(bfd);
}
BOTH_FAMILIES(nonblocking_connect_refused_reports_an_error_event)

static void udp_datagram_reports_pollin(int af)
{
    usock_poll *p;
    usock_addr to;
    usock *u = udp_bound(af, &to);
    int raw = socket(af, SOCK_DGRAM, 0);
    assert_true(raw >= 0);
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, u, USOCK_POLLIN, NULL));
    usock_event ev[2];
    assert_ok(usock_poll_wait(p, 0, ev, 2));
    raw_sendto(raw, "dgram", &to);
    assert_int_equal(usock_poll_wait(p, EXPECT_MS, ev, 2), 1);
    assert_true(ev[0].revents & USOCK_POLLIN);
    char buf[8];
    assert_int_equal(usock_recv(u, buf, sizeof buf), 5);
    usock_close(u);
    close(raw);
    usock_poll_free(p);
}
BOTH_FAMILIES(udp_datagram_reports_pollin)

/* Many sockets: each ready one reported once, with its own udata. */
static void two_hundred_sockets(void **state)
{
    (void)state;
    enum { N = 200 };
    usock_poll *p;
    usock **u = calloc(N, sizeof *u);
    usock_addr *to = calloc(N, sizeof *to);
    int *idx = calloc(N, sizeof *idx);
    usock_event *ev = calloc(N + 8, sizeof *ev);
    assert_non_null(u);
    int raw = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(raw >= 0);
    assert_ok(usock_poll_new(&p));
    for (int i = 0; i < N; i++) {
        u[i] = udp_bound(AF_INET, &to[i]);
        idx[i] = i;
        assert_ok(usock_poll_register(p, u[i], USOCK_POLLIN, &idx[i]));
    }
    /* Every third socket gets a datagram. */
    int want = 0;
    for (int i = 0; i < N; i += 3) {
        raw_sendto(raw, "x", &to[i]);
        want++;
    }
    for (int i = 0; i < N; i += 3)
        wait_readable(u[i]);
    int n = usock_poll_wait(p, EXPECT_MS, ev, N + 8);
    assert_int_equal(n, want);
    char *seen = calloc(N, 1);
    for (int k = 0; k < n; k++) {
        int i = *(int *)ev[k].udata;
        assert_int_equal(i % 3, 0);
        assert_ptr_equal(ev[k].sock, u[i]);
        assert_true(ev[k].revents & USOCK_POLLIN);
        assert_false(seen[i]);
        seen[i] = 1;
    }
    /* Close half of them while registered: each is reported once with
     * POLLNVAL, and the odd ones still ready come with them. Then the
     * rest unregister. */
    for (int i = 0; i < N; i += 2)
        usock_close(u[i]);
    int n2 = usock_poll_wait(p, 0, ev, N + 8);
    int nval = 0;
    memset(seen, 0, N);
    for (int k = 0; k < n2; k++) {
        int i = *(int *)ev[k].udata;
        assert_false(seen[i]);
        seen[i] = 1;
        if (i % 2 == 0) {
            assert_null(ev[k].sock);
            assert_int_equal(ev[k].revents, USOCK_POLLNVAL);
            nval++;
        } else {
            assert_ptr_equal(ev[k].sock, u[i]);
        }
    }
    assert_int_equal(nval, (N + 1) / 2);
    int n3 = usock_poll_wait(p, 0, ev, N + 8);
    for (int k = 0; k < n3; k++)
        assert_int_equal(*(int *)ev[k].udata % 2, 1);
    for (int i = 1; i < N; i += 2) {
        assert_ok(usock_poll_unregister(p, u[i]));
        usock_close(u[i]);
    }
    assert_ok(usock_poll_wait(p, 0, ev, N + 8));
    free(seen);
    free(u);
    free(to);
    free(idx);
    free(ev);
    close(raw);
    usock_poll_free(p);
}

/* Signals during a wait are retried, not reported. */
static void wait_survives_signals(void **state)
{
    (void)state;
    usock *s;
    int peer;
    usock_poll *p = watch_pair(AF_INET, &s, &peer, USOCK_POLLIN, NULL);
    struct pester ps;
    pester_start(&ps, 2);
    struct sender sd = {.fd = peer, .data = "after signals", .n = 13, .delay_ms = 80};
    sender_start(&sd);
    usock_event ev[2];
    int quiet = usock_poll_wait(p, 20, ev, 2); /* ends by timeout, not EINTR */
    int n = usock_poll_wait(p, -1, ev, 2);     /* ends by the data */
    int interrupts = pester_stop(&ps);
    sender_join(&sd);
    assert_code(quiet, 0);
    assert_code(n, 1);
    assert_true(ev[0].revents & USOCK_POLLIN);
    assert_true(interrupts > 0);
    unwatch_pair(p, s, peer);
}

/* ---- a socket in several polls (each socket lists its registrations) ---- */

/* Waits on p until the events seen name every socket whose flag in want is
 * set, and fails if any event carries forbidden as its udata. */
static void wait_for_all(usock_poll *p, usock *const *socks, const int *want, int n,
                         const void *forbidden)
{
    int seen[16] = {0}, missing = 1;
    assert_true(n <= 16);
    for (int round = 0; round < 10 && missing; round++) {
        usock_event ev[16];
        int got = usock_poll_wait(p, EXPECT_MS, ev, 16);
        assert_true(got >= 1);
        for (int k = 0; k < got; k++) {
            assert_true(ev[k].udata != forbidden);
            int i = 0;
            while (i < n && ev[k].sock != socks[i])
                i++;
            if (i == n)
                fail_msg("an event names a socket that is not registered");
            seen[i] = 1;
        }
        missing = 0;
        for (int i = 0; i < n; i++)
            missing |= want[i] && !seen[i];
    }
    assert_false(missing);
}

/* A socket registered in two polls, closed: it leaves both, and both go on
 * working for the sockets that remain. Under ASan a dangling slot in either
 * poll shows as a use after free in the waits below (the socket holds
 * buffered bytes, so a wait looks at the socket itself, not only at its
 * descriptor). */
static void closing_a_socket_unregisters_it_from_every_poll(int af)
{
    usock_poll *p, *q;
    usock *a, *b;
    int pa, pb;
    int tag_ap, tag_aq, tag_bp, tag_bq;
    pair_with_raw_peer(af, &a, &pa);
    pair_with_raw_peer(af, &b, &pb);
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_new(&q));
    assert_ok(usock_poll_register(p, a, USOCK_POLLIN, &tag_ap));
    assert_ok(usock_poll_register(q, a, USOCK_POLLIN, &tag_aq));
    assert_ok(usock_poll_register(p, b, USOCK_POLLIN, &tag_bp));
    assert_ok(usock_poll_register(q, b, USOCK_POLLIN, &tag_bq));
    /* Registered in p does not make it registered twice in q. */
    assert_code(usock_poll_register(q, a, USOCK_POLLIN, NULL), USOCK_EEXIST);

    /* a: one line returned, one buffered; the kernel has one more byte. */
    leave_a_line_buffered(a, pa, "1\n2\n");
    raw_send_str(pa, "3");
    wait_readable(a);
    /* Each poll reports a with its own udata. */
    usock_event ev[4];
    int n = usock_poll_wait(p, EXPECT_MS, ev, 4);
    assert_int_equal(n, 1);
    assert_ptr_equal(ev[0].sock, a);
    assert_ptr_equal(ev[0].udata, &tag_ap);
    n = usock_poll_wait(q, EXPECT_MS, ev, 4);
    assert_int_equal(n, 1);
    assert_ptr_equal(ev[0].sock, a);
    assert_ptr_equal(ev[0].udata, &tag_aq);

    assert_ok(usock_close(a));
    /* Each poll reports the close once, with its own udata. */
    expect_nval(p, 0, &tag_ap);
    expect_nval(q, QUIET_MS, &tag_aq);
    assert_ok(usock_poll_wait(p, 0, ev, 4));
    assert_ok(usock_poll_wait(q, QUIET_MS, ev, 4));
    /* Gone from both: nothing to modify or unregister. b still works. */
    raw_send_str(pb, "b");
    usock *socks[] = {b};
    const int want[] = {1};
    wait_for_all(p, socks, want, 1, &tag_ap);
    wait_for_all(q, socks, want, 1, &tag_aq);
    n = usock_poll_wait(q, 0, ev, 4);
    assert_int_equal(n, 1);
    assert_ptr_equal(ev[0].udata, &tag_bq);

    /* A new socket, most likely on a's descriptor number, joins q only. */
    usock *c;
    int pc, tag_c;
    pair_with_raw_peer(af, &c, &pc);
    assert_ok(usock_poll_register(q, c, USOCK_POLLIN, &tag_c));
    raw_send_str(pc, "c");
    wait_readable(c);
    n = usock_poll_wait(p, 0, ev, 4);
    assert_int_equal(n, 1);
    assert_ptr_equal(ev[0].sock, b);
    usock *both[] = {b, c};
    const int want_both[] = {1, 1};
    wait_for_all(q, both, want_both, 2, &tag_aq);

    usock_poll_free(p);
    usock_poll_free(q);
    assert_ok(usock_close(b));
    assert_ok(usock_close(c));
    close(pa);
    close(pb);
    close(pc);
}
BOTH_FAMILIES(closing_a_socket_unregisters_it_from_every_poll)

/* The same with three polls and the close in another order of
 * registration, and with a socket that never had buffered bytes. */
static void closing_a_socket_in_three_polls(void **state)
{
    (void)state;
    usock_poll *p[3];
    usock *s, *t;
    int ps, pt;
    pair_with_raw_peer(AF_INET, &s, &ps);
    pair_with_raw_peer(AF_INET, &t, &pt);
    for (int i = 0; i < 3; i++)
        assert_ok(usock_poll_new(&p[i]));
    /* t first in the middle poll, so that s's slots differ between polls. */
    assert_ok(usock_poll_register(p[1], t, USOCK_POLLIN, NULL));
    for (int i = 2; i >= 0; i--)
        assert_ok(usock_poll_register(p[i], s, USOCK_POLLIN | USOCK_POLLOUT, &p[i]));
    assert_ok(usock_poll_unregister(p[1], t));
    assert_ok(usock_poll_register(p[1], t, USOCK_POLLIN, NULL));
    usock_event ev[4];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(usock_poll_wait(p[i], EXPECT_MS, ev, 4), 1);
        assert_ptr_equal(ev[0].udata, &p[i]);
        assert_true(ev[0].revents & USOCK_POLLOUT);
    }
    assert_ok(usock_close(s));
    for (int i = 0; i < 3; i++) {
        expect_nval(p[i], 0, &p[i]);
        assert_ok(usock_poll_wait(p[i], 0, ev, 4));
    }
    raw_send_str(pt, "t");
    wait_readable(t);
    assert_int_equal(usock_poll_wait(p[1], EXPECT_MS, ev, 4), 1);
    assert_ptr_equal(ev[0].sock, t);
    assert_ok(usock_poll_wait(p[0], 0, ev, 4));
    assert_ok(usock_poll_wait(p[2], 0, ev, 4));
    for (int i = 0; i < 3; i++)
        usock_poll_free(p[i]);
    assert_ok(usock_close(t));
    close(ps);
    close(pt);
}

/* A poll freed while its sockets are registered there and in another
 * poll: the other keeps them, and closing them later touches only it
 * (under ASan a use after free would show here). */
static void poll_freed_while_its_sockets_are_in_another(int af)
{
    usock_poll *p, *q;
    usock *a, *b;
    int pa, pb, tag_a, tag_b;
    pair_with_raw_peer(af, &a, &pa);
    pair_with_raw_peer(af, &b, &pb);
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_new(&q));
    assert_ok(usock_poll_register(p, a, USOCK_POLLIN, NULL));
    assert_ok(usock_poll_register(p, b, USOCK_POLLIN, NULL));
    assert_ok(usock_poll_register(q, a, USOCK_POLLIN, &tag_a));
    assert_ok(usock_poll_register(q, b, USOCK_POLLIN, &tag_b));
    leave_a_line_buffered(a, pa, "x\ny\n"); /* a holds "y\n" */
    usock_poll_free(p);
    /* After p is gone, a's bytes still reach q. */
    raw_send_str(pb, "z");
    usock *socks[] = {a, b};
    const int want[] = {1, 1};
    wait_for_all(q, socks, want, 2, NULL);
    /* p's registrations are forgotten: a can join a new poll. */
    usock_poll *r;
    assert_ok(usock_poll_new(&r));
    assert_ok(usock_poll_register(r, a, USOCK_POLLIN, NULL));
    assert_code(usock_poll_register(q, a, USOCK_POLLIN, NULL), USOCK_EEXIST);
    assert_ok(usock_close(a));
    usock_event ev[4];
    expect_nval(r, 0, NULL);
    assert_ok(usock_poll_wait(r, 0, ev, 4));
    /* q: a's close first (it needs no waiting), then b, still readable. */
    int n = usock_poll_wait(q, EXPECT_MS, ev, 4);
    assert_int_equal(n, 2);
    assert_null(ev[0].sock);
    assert_int_equal(ev[0].revents, USOCK_POLLNVAL);
    assert_ptr_equal(ev[0].udata, &tag_a);
    assert_ptr_equal(ev[1].sock, b);
    assert_ptr_equal(ev[1].udata, &tag_b);
    n = usock_poll_wait(q, EXPECT_MS, ev, 4);
    assert_int_equal(n, 1);
    assert_ptr_equal(ev[0].sock, b);
    /* Both remaining polls freed before the last socket is closed. */
    usock_poll_free(q);
    usock_poll_free(r);
    assert_ok(usock_close(b));
    close(pa);
    close(pb);
}
BOTH_FAMILIES(poll_freed_while_its_sockets_are_in_another)

/* Every poll freed first, then the sockets closed. */
static void polls_freed_before_sockets_registered_in_both(void **state)
{
    (void)state;
    enum { N = 4 };
    usock_poll *p, *q;
    usock *s[N];
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_new(&q));
    for (int i = 0; i < N; i++) {
        assert_ok(usock_socket(&s[i], 0, 0, 0));
        assert_ok(usock_poll_register(i % 2 ? p : q, s[i], USOCK_POLLIN, NULL));
        assert_ok(usock_poll_register(i % 2 ? q : p, s[i], USOCK_POLLIN, NULL));
    }
    usock_poll_free(q);
    usock_poll_free(p);
    for (int i = 0; i < N; i++)
        assert_ok(usock_close(s[i]));
}

/* Unregistered from one of two polls: the other still reports it, with its
 * own udata and mask; the first no longer knows it. */
static void unregister_from_one_poll_leaves_the_other(int af)
{
    usock_poll *p, *q;
    usock *s;
    int peer, tag_p, tag_q;
    pair_with_raw_peer(af, &s, &peer);
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_new(&q));
    assert_ok(usock_poll_register(p, s, USOCK_POLLIN, &tag_p));
    assert_ok(usock_poll_register(q, s, USOCK_POLLIN, &tag_q));
    assert_ok(usock_poll_unregister(p, s));
    assert_code(usock_poll_unregister(p, s), USOCK_ENOENT);
    assert_code(usock_poll_modify(p, s, USOCK_POLLOUT), USOCK_ENOENT);
    raw_send_str(peer, "data");
    usock_event ev[4];
    assert_int_equal(usock_poll_wait(q, EXPECT_MS, ev, 4), 1);
    assert_ptr_equal(ev[0].sock, s);
    assert_ptr_equal(ev[0].udata, &tag_q);
    assert_ok(usock_poll_wait(p, QUIET_MS, ev, 4));
    /* modify in q changes q only. */
    assert_ok(usock_poll_modify(q, s, USOCK_POLLOUT));
    assert_int_equal(usock_poll_wait(q, EXPECT_MS, ev, 4), 1);
    assert_int_equal(ev[0].revents & (USOCK_POLLIN | USOCK_POLLOUT), USOCK_POLLOUT);
    /* Back in p with another mask: each poll keeps its own. */
    assert_ok(usock_poll_register(p, s, USOCK_POLLIN, &tag_p));
    assert_int_equal(usock_poll_wait(p, EXPECT_MS, ev, 4), 1);
    assert_int_equal(ev[0].revents & (USOCK_POLLIN | USOCK_POLLOUT), USOCK_POLLIN);
    assert_ptr_equal(ev[0].udata, &tag_p);
    /* Unregistered from q now, then closed: q says nothing, p reports the
     * close once and forgets it too. */
    assert_ok(usock_poll_unregister(q, s));
    assert_ok(usock_poll_wait(q, 0, ev, 4));
    assert_ok(usock_close(s));
    expect_nval(p, 0, &tag_p);
    assert_ok(usock_poll_wait(p, 0, ev, 4));
    assert_ok(usock_poll_wait(q, 0, ev, 4));
    close(peer);
    usock_poll_free(p);
    usock_poll_free(q);
}
BOTH_FAMILIES(unregister_from_one_poll_leaves_the_other)

/* Bytes that readline leaves in the socket's buffer make it readable in
 * every poll that holds it, not only in the one it joined last. The first
 * waits (nothing buffered yet) let each poll stop looking for buffers. */
static void buffered_socket_is_readable_in_every_poll(int af)
{
    usock_poll *p, *q;
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_new(&q));
    assert_ok(usock_poll_register(p, s, USOCK_POLLIN, &p));
    assert_ok(usock_poll_register(q, s, USOCK_POLLIN, &q));
    usock_event ev[4];
    assert_ok(usock_poll_wait(p, 0, ev, 4));
    assert_ok(usock_poll_wait(q, 0, ev, 4));
    leave_a_line_buffered(s, peer, "one\ntwo\n");
    assert_int_equal(usock_poll_wait(p, 0, ev, 4), 1);
    assert_ptr_equal(ev[0].udata, &p);
    assert_true(ev[0].revents & USOCK_POLLIN);
    assert_int_equal(usock_poll_wait(q, 0, ev, 4), 1);
    assert_ptr_equal(ev[0].udata, &q);
    assert_true(ev[0].revents & USOCK_POLLIN);
    expect_readline(s, 16, "two\n");
    assert_ok(usock_poll_wait(p, 0, ev, 4));
    assert_ok(usock_poll_wait(q, 0, ev, 4));
    usock_close(s);
    close(peer);
    usock_poll_free(p);
    usock_poll_free(q);
}
BOTH_FAMILIES(buffered_socket_is_readable_in_every_poll)

/* ---- fairness when max is smaller than the count of ready sockets ------- */

enum { FAIR_N = 8 };

/* Waits with max again and again, reading nothing, so that every socket
 * stays ready. Each wait must fill all max entries with distinct sockets,
 * and within the given count of waits every socket must have been
 * reported. Returns -1, or the first socket never reported (so that the
 * caller can release everything before it fails). */
static int fair_check(usock_poll *p, usock *const *s, int n, int max, int waits)
{
    int seen[FAIR_N] = {0};
    assert_true(n <= FAIR_N && max <= 8);
    for (int w = 0; w < waits; w++) {
        usock_event ev[9];
        ev[max] = (usock_event){.sock = NULL, .revents = -1};
        int got = usock_poll_wait(p, EXPECT_MS, ev, max);
        assert_int_equal(got, max);
        assert_null(ev[max].sock);
        for (int k = 0; k < got; k++) {
            int i = *(const int *)ev[k].udata;
            assert_ptr_equal(ev[k].sock, s[i]);
            assert_true(ev[k].revents & USOCK_POLLIN);
            assert_non_null(event_of(ev, got, s[i]));
            seen[i] = 1;
        }
    }
    for (int i = 0; i < n; i++)
        if (!seen[i])
            return i;
    return -1;
}

/* FAIR_N TCP pairs in one poll, each readable: from the kernel, or (for
 * bit i set in buffered) only from the socket's buffer, after readline
 * took the first of two lines. fair_check runs for each of the k maxes in
 * turn, allowing slack times ceil(FAIR_N / max) waits (1: strict
 * rotation); the first starved socket fails the test, after the fixture
 * is released. */
static void check_fairness(int buffered, const int *maxes, int k, int slack)
{
    usock_poll *p;
    usock *s[FAIR_N];
    int peer[FAIR_N], idx[FAIR_N];
    assert_ok(usock_poll_new(&p));
    for (int i = 0; i < FAIR_N; i++) {
        pair_with_raw_peer(AF_INET, &s[i], &peer[i]);
        idx[i] = i;
        if (buffered & (1 << i)) {
            leave_a_line_buffered(s[i], peer[i], "a\nb\n");
        } else {
            raw_send_str(peer[i], "a\nb\n");
            wait_readable(s[i]);
        }
        assert_ok(usock_poll_register(p, s[i], USOCK_POLLIN, &idx[i]));
    }
    int starved = -1, waits = 0, j;
    for (j = 0; j < k && starved < 0; j++) {
        waits = slack * ((FAIR_N + maxes[j] - 1) / maxes[j]);
        starved = fair_check(p, s, FAIR_N, maxes[j], waits);
    }
    for (int i = 0; i < FAIR_N; i++) {
        usock_close(s[i]);
        close(peer[i]);
    }
    usock_poll_free(p);
    if (starved >= 0)
        fail_msg("socket %d of %d never reported in %d waits with max %d", starved, FAIR_N, waits,
                 maxes[j - 1]);
}

/* Ready in the kernel: both backends must rotate (poll(2) resumes after
 * the last slot it reported). 1 twice: the second round starts from
 * wherever the first stopped. */
static void max_one_reports_every_kernel_ready_socket_in_turn(void **state)
{
    (void)state;
    const int maxes[] = {1, 1, 3, 2};
    check_fairness(0, maxes, 4, 1);
}

/* Ready only from their buffers: the scan for buffered sockets resumes
 * where the last truncated one stopped. */
static void max_one_reports_every_buffered_socket_in_turn(void **state)
{
    (void)state;
    const int maxes[] = {1, 1, 3, 2};
    check_fairness((1 << FAIR_N) - 1, maxes, 4, 1);
}

/* Half ready from their buffers (0, 2, 4, 6), half from the kernel: no
 * kind may starve the other when max is smaller than either half. How the
 * two kinds interleave is free, so twice the strict count of waits is
 * allowed. */
static void max_one_starves_neither_buffered_nor_kernel_ready_sockets(void **state)
{
    (void)state;
    const int maxes[] = {1, 3};
    check_fairness(0x55, maxes, 2, 2);
}

/* ---- sockets closed while registered: one USOCK_POLLNVAL each ----------- */

/* The close is reported at once, even by a wait without a bound, with the
 * socket's udata and no socket; then the poll has forgotten it. */
static void closed_socket_is_reported_once_with_pollnval(int af)
{
    usock *s;
    int peer, tag;
    usock_poll *p = watch_pair(af, &s, &peer, USOCK_POLLIN, &tag);
    usock_event ev[4];
    assert_ok(usock_poll_wait(p, 0, ev, 4));
    assert_ok(usock_close(s));
    expect_nval(p, -1, &tag);
    assert_ok(usock_poll_wait(p, QUIET_MS, ev, 4));
    close(peer);
    usock_poll_free(p);
}
BOTH_FAMILIES(closed_socket_is_reported_once_with_pollnval)

/* The user unregistered it first: the close is none of the poll's business. */
static void unregister_before_close_reports_nothing(void **state)
{
    (void)state;
    usock *s;
    int peer;
    usock_poll *p = watch_pair(AF_INET, &s, &peer, USOCK_POLLIN, NULL);
    assert_ok(usock_poll_unregister(p, s));
    assert_ok(usock_close(s));
    usock_event ev[4];
    assert_ok(usock_poll_wait(p, QUIET_MS, ev, 4));
    close(peer);
    usock_poll_free(p);
}

/* A poll freed with closes it never reported frees them too (ASan and
 * valgrind see a leak here otherwise). */
static void poll_freed_with_pending_pollnval(void **state)
{
    (void)state;
    usock_poll *p;
    assert_ok(usock_poll_new(&p));
    for (int i = 0; i < 3; i++) {
        usock *s;
        assert_ok(usock_socket(&s, 0, 0, 0));
        assert_ok(usock_poll_register(p, s, USOCK_POLLIN, NULL));
        assert_ok(usock_close(s));
    }
    usock_poll_free(p);
}

/* More closes than max: each wait gives what fits, none twice, none lost. */
static void pollnval_with_a_small_max(void **state)
{
    (void)state;
    enum { N = 3 };
    usock_poll *p;
    int tag[N], seen[N] = {0};
    assert_ok(usock_poll_new(&p));
    for (int i = 0; i < N; i++) {
        usock *s;
        assert_ok(usock_socket(&s, 0, 0, 0));
        assert_ok(usock_poll_register(p, s, USOCK_POLLIN, &tag[i]));
        assert_ok(usock_close(s));
    }
    usock_event ev[2];
    for (int w = 0; w < N; w++) {
        assert_int_equal(usock_poll_wait(p, 0, ev, 1), 1);
        assert_null(ev[0].sock);
        assert_int_equal(ev[0].revents, USOCK_POLLNVAL);
        int i = (int)((int *)ev[0].udata - tag);
        assert_true(i >= 0 && i < N);
        assert_false(seen[i]);
        seen[i] = 1;
    }
    assert_ok(usock_poll_wait(p, 0, ev, 2));
    usock_poll_free(p);
}

/* A socket registered after the close, most likely on the same descriptor
 * number, while the close is not yet reported: both come, each with its
 * own udata, in one wait. */
static void pollnval_and_a_new_socket_on_the_old_descriptor(int af)
{
    usock *a, *c;
    int pa, pc, tag_a, tag_c;
    usock_poll *p = watch_pair(af, &a, &pa, USOCK_POLLIN, &tag_a);
    assert_ok(usock_close(a));
    pair_with_raw_peer(af, &c, &pc);
    assert_ok(usock_poll_register(p, c, USOCK_POLLIN, &tag_c));
    raw_send_str(pc, "c");
    wait_readable(c);
    usock_event ev[4];
    assert_int_equal(usock_poll_wait(p, EXPECT_MS, ev, 4), 2);
    assert_null(ev[0].sock);
    assert_int_equal(ev[0].revents, USOCK_POLLNVAL);
    assert_ptr_equal(ev[0].udata, &tag_a);
    assert_ptr_equal(ev[1].sock, c);
    assert_ptr_equal(ev[1].udata, &tag_c);
    assert_true(ev[1].revents & USOCK_POLLIN);
    /* The reported slot is free again: a third socket can take it. */
    usock *d;
    assert_ok(usock_socket(&d, af, SOCK_DGRAM, 0)); /* quiet: no HUP as an idle TCP one */
    assert_ok(usock_poll_register(p, d, USOCK_POLLIN, NULL));
    assert_int_equal(usock_poll_wait(p, EXPECT_MS, ev, 4), 1);
    assert_ptr_equal(ev[0].sock, c);
    expect_recv(c, 4, "c");
    assert_ok(usock_close(d));
    expect_nval(p, 0, NULL);
    unwatch_pair(p, c, pc);
    close(pa);
}
BOTH_FAMILIES(pollnval_and_a_new_socket_on_the_old_descriptor)

/* ---- the waker ------------------------------------------------------------ */

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Readable after a wake, level-triggered until cleared; many wakes need
 * one clear. */
static void waker_wakes_a_wait_until_cleared(void **state)
{
    (void)state;
    usock *w;
    usock_poll *p;
    int tag;
    assert_ok(usock_waker(&w));
    assert_true(usock_fileno(w) >= 0);
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, w, USOCK_POLLIN, &tag));
    usock_event ev[4];
    assert_ok(usock_poll_wait(p, QUIET_MS, ev, 4));
    usock_wake(w);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(usock_poll_wait(p, EXPECT_MS, ev, 4), 1);
        assert_ptr_equal(ev[0].sock, w);
        assert_ptr_equal(ev[0].udata, &tag);
        assert_int_equal(ev[0].revents, USOCK_POLLIN);
    }
    assert_ok(usock_wake_clear(w));
    assert_ok(usock_poll_wait(p, 0, ev, 4));
    for (int i = 0; i < 1000; i++)
        usock_wake(w);
    assert_int_equal(usock_poll_wait(p, 0, ev, 4), 1);
    assert_ok(usock_wake_clear(w));
    assert_ok(usock_poll_wait(p, 0, ev, 4));
    assert_ok(usock_wake_clear(w)); /* nothing to clear: still 0 */
    /* Closed while registered: reported like any socket. */
    assert_ok(usock_close(w));
    expect_nval(p, 0, &tag);
    usock_poll_free(p);
}

static void *wake_later(void *arg)
{
    sleep_ms(30);
    usock_wake(arg);
    return NULL;
}

static void waker_wakes_a_wait_from_another_thread(void **state)
{
    (void)state;
    usock *w;
    usock_poll *p;
    pthread_t th;
    assert_ok(usock_waker(&w));
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, w, USOCK_POLLIN, NULL));
    assert_int_equal(pthread_create(&th, NULL, wake_later, w), 0);
    usock_event ev[2];
    int n = usock_poll_wait(p, -1, ev, 2);
    pthread_join(th, NULL);
    assert_int_equal(n, 1);
    assert_ptr_equal(ev[0].sock, w);
    usock_poll_free(p);
    assert_ok(usock_close(w));
}

/* From a signal handler: usock_wake is async-signal-safe and leaves errno
 * as the interrupted code had it. */
static usock *signal_waker;
static volatile sig_atomic_t errno_kept = -1;

static void on_usr2(int sig)
{
    (void)sig;
    int saved = errno;
    errno = EDOM;
    usock_wake(signal_waker);
    errno_kept = errno == EDOM;
    errno = saved;
}

static void *signal_later(void *arg)
{
    sleep_ms(30);
    pthread_kill(*(pthread_t *)arg, SIGUSR2);
    return NULL;
}

static void waker_wakes_a_wait_from_a_signal_handler(void **state)
{
    (void)state;
    usock_poll *p;
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_usr2;
    sigemptyset(&sa.sa_mask);
    assert_ok(usock_waker(&signal_waker));
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, signal_waker, USOCK_POLLIN, NULL));
    assert_int_equal(sigaction(SIGUSR2, &sa, &old), 0);
    pthread_t self = pthread_self(), th;
    assert_int_equal(pthread_create(&th, NULL, signal_later, &self), 0);
    usock_event ev[2];
    int n = usock_poll_wait(p, -1, ev, 2);
    pthread_join(th, NULL);
    sigaction(SIGUSR2, &old, NULL);
    assert_int_equal(n, 1);
    assert_ptr_equal(ev[0].sock, signal_waker);
    assert_int_equal(errno_kept, 1);
    usock_poll_free(p);
    assert_ok(usock_close(signal_waker));
}

/* usock_close frees the waker and every descriptor it holds (one for an
 * eventfd, two for a pipe). */
static void waker_close_releases_its_descriptors(void **state)
{
    (void)state;
    int before = open_fds();
    if (before < 0)
        skip();
    usock *w[4];
    for (int i = 0; i < 4; i++)
        assert_ok(usock_waker(&w[i]));
    int during = open_fds();
    assert_true(during >= before + 4 && during <= before + 8);
    for (int i = 0; i < 4; i++) {
        usock_wake(w[i]);
        assert_ok(usock_close(w[i]));
    }
    assert_int_equal(open_fds(), before);
}

/* Only the waker calls and poll take a waker; the others refuse it, and
 * the waker calls refuse a socket. */
static void waker_misuse_fails_cleanly(void **state)
{
    (void)state;
    usock *w, *s;
    char c = 'x';
    assert_code(usock_waker(NULL), USOCK_EINVAL);
    assert_ok(usock_waker(&w));
    usock_wake(NULL); /* nothing to do, no crash */
    assert_code(usock_wake_clear(NULL), USOCK_EINVAL);
    usock_wake(w);
    assert_true(usock_send(w, &c, 1) < 0);
    assert_true(usock_recv(w, &c, 1) < 0);
    assert_code(usock_settimeout(w, 0), USOCK_ENOTSOCK);
    /* Still awake: the failed calls consumed nothing. */
    usock_poll *p;
    usock_event ev[2];
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, w, USOCK_POLLIN, NULL));
    assert_int_equal(usock_poll_wait(p, 0, ev, 2), 1);
    usock_poll_free(p);
    assert_ok(usock_socket(&s, 0, 0, 0));
    assert_code(usock_wake_clear(s), USOCK_EINVAL);
    usock_wake(s); /* not a waker: nothing written to the socket */
    assert_ok(usock_close(s));
    assert_ok(usock_close(w));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(poll_new_and_free),
        cmocka_unit_test(wait_works_under_a_descriptor_limit_below_its_room),
        cmocka_unit_test(empty_poll_times_out_with_zero),
        cmocka_unit_test(register_twice_is_eexist),
        cmocka_unit_test(modify_and_unregister_of_unknown_socket_are_enoent),
        cmocka_unit_test(registration_belongs_to_one_poll),
        cmocka_unit_test(null_arguments_are_einval),
        BOTH(idle_socket_times_out_with_zero),
        BOTH(pollin_when_data_arrives_with_its_udata),
        BOTH(wait_forever_returns_when_data_arrives),
        BOTH(pollout_on_a_connected_socket),
        BOTH(modify_changes_what_is_reported),
        BOTH(pollout_not_reported_while_send_buffer_is_full),
        BOTH(peer_close_reports_pollin_or_pollhup),
        BOTH(peer_reset_reports_err_or_hup_even_when_not_asked),
        BOTH(pollin_while_the_socket_buffer_holds_bytes),
        BOTH(buffered_pollin_and_kernel_pollout_are_one_event),
        cmocka_unit_test(buffered_bytes_not_reported_without_pollin_interest),
        cmocka_unit_test(buffered_and_kernel_ready_sockets_come_together),
        cmocka_unit_test(max_smaller_than_ready_count),
        cmocka_unit_test(max_smaller_than_buffered_count),
        BOTH(closing_a_registered_socket_unregisters_it),
        cmocka_unit_test(poll_freed_before_its_sockets),
        cmocka_unit_test(unregistered_socket_is_not_reported),
        BOTH(listening_socket_is_readable_with_a_pending_connection),
        BOTH(nonblocking_connect_completes_with_pollout),
        BOTH(nonblocking_connect_refused_reports_an_error_event),
        BOTH(udp_datagram_reports_pollin),
        cmocka_unit_test(two_hundred_sockets),
        cmocka_unit_test(wait_survives_signals),
        /* a socket in several polls */
        BOTH(closing_a_socket_unregisters_it_from_every_poll),
        cmocka_unit_test(closing_a_socket_in_three_polls),
        BOTH(poll_freed_while_its_sockets_are_in_another),
        cmocka_unit_test(polls_freed_before_sockets_registered_in_both),
        BOTH(unregister_from_one_poll_leaves_the_other),
        BOTH(buffered_socket_is_readable_in_every_poll),
        /* fairness when max is small */
        cmocka_unit_test(max_one_reports_every_kernel_ready_socket_in_turn),
        cmocka_unit_test(max_one_reports_every_buffered_socket_in_turn),
        cmocka_unit_test(max_one_starves_neither_buffered_nor_kernel_ready_sockets),
        /* sockets closed while registered */
        BOTH(closed_socket_is_reported_once_with_pollnval),
        cmocka_unit_test(unregister_before_close_reports_nothing),
        cmocka_unit_test(poll_freed_with_pending_pollnval),
        cmocka_unit_test(pollnval_with_a_small_max),
        BOTH(pollnval_and_a_new_socket_on_the_old_descriptor),
        /* the waker */
        cmocka_unit_test(waker_wakes_a_wait_until_cleared),
        cmocka_unit_test(waker_wakes_a_wait_from_another_thread),
        cmocka_unit_test(waker_wakes_a_wait_from_a_signal_handler),
        cmocka_unit_test(waker_close_releases_its_descriptors),
        cmocka_unit_test(waker_misuse_fails_cleanly),
    };
    start_watchdog(60);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
