/* test_socket_waker.c -- usock_waker (poll.h): a socket-like object that a
 * poll watches for USOCK_POLLIN, made readable by usock_wake from another
 * thread or a signal handler, and unreadable again by usock_wake_clear.
 *
 * Waits that must see the wake are bounded by EXPECT_MS; waits that must
 * see nothing use 0 ms. No durations are asserted. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

/* A poll watching a new waker for POLLIN, its udata &tag. */
struct watched {
    usock *w;
    usock_poll *p;
    int tag;
};

static void watched_open(struct watched *ww)
{
    ww->w = NULL;
    assert_ok(usock_waker(&ww->w));
    assert_non_null(ww->w);
    assert_ok(usock_poll_new(&ww->p));
    assert_ok(usock_poll_register(ww->p, ww->w, USOCK_POLLIN, &ww->tag));
}

static void watched_close(struct watched *ww)
{
    usock_poll_free(ww->p);
    assert_ok(usock_close(ww->w));
}

/* The waker is reported readable (one event, its sock and udata). */
static void expect_woken(struct watched *ww, int timeout_ms)
{
    usock_event ev[4];
    int n = usock_poll_wait(ww->p, timeout_ms, ev, 4);
    if (n != 1)
        fail_msg("poll_wait = %d (%s), want the waker's one event", n,
                 n < 0 ? usock_errname(n) : "a count");
    assert_ptr_equal(ev[0].sock, ww->w);
    assert_ptr_equal(ev[0].udata, &ww->tag);
    assert_true(ev[0].revents & USOCK_POLLIN);
}

/* Nothing to report, right now. */
static void expect_quiet(struct watched *ww)
{
    usock_event ev[4];
    int n = usock_poll_wait(ww->p, 0, ev, 4);
    if (n != 0)
        fail_msg("poll_wait(0) = %d (%s), want 0: the waker is still readable", n,
                 n < 0 ? usock_errname(n) : "a count");
}

static void new_waker_is_not_readable(void **state)
{
    (void)state;
    struct watched ww;
    watched_open(&ww);
    expect_quiet(&ww);
    /* Clearing a waker nobody woke returns at once and changes nothing. */
    assert_ok(usock_wake_clear(ww.w));
    expect_quiet(&ww);
    assert_true(usock_fileno(ww.w) >= 0);
    watched_close(&ww);
}

static void wake_then_clear(void **state)
{
    (void)state;
    struct watched ww;
    watched_open(&ww);
    usock_wake(ww.w);
    expect_woken(&ww, 0);
    /* Level-triggered: still readable until cleared. */
    expect_woken(&ww, 0);
    assert_ok(usock_wake_clear(ww.w));
    expect_quiet(&ww);
    /* And it works again. */
    usock_wake(ww.w);
    expect_woken(&ww, EXPECT_MS);
    assert_ok(usock_wake_clear(ww.w));
    expect_quiet(&ww);
    watched_close(&ww);
}

/* Wakes are not counted: however many, one clear makes it unreadable. */
static void many_wakes_one_clear(void **state)
{
    (void)state;
    struct watched ww;
    watched_open(&ww);
    usock_wake(ww.w);
    usock_wake(ww.w);
    expect_woken(&ww, 0);
    assert_ok(usock_wake_clear(ww.w));
    expect_quiet(&ww);
    /* Enough wakes to fill a pipe, were one used underneath. */
    for (int i = 0; i < 100000; i++)
        usock_wake(ww.w);
    expect_woken(&ww, 0);
    assert_ok(usock_wake_clear(ww.w));
    expect_quiet(&ww);
    watched_close(&ww);
}

/* ---- from another thread ------------------------------------------------- */

struct waking_thread {
    usock *w;
    int delay_ms, times;
    pthread_t thread;
};

static void *waking_main(void *arg)
{
    struct waking_thread *t = arg;
    sleep_ms(t->delay_ms);
    for (int i = 0; i < t->times; i++)
        usock_wake(t->w);
    return NULL;
}

/* A poll that waits forever is woken by another thread. */
static void wake_from_another_thread_ends_a_wait(void **state)
{
    (void)state;
    struct watched ww;
    watched_open(&ww);
    for (int round = 0; round < 3; round++) {
        struct waking_thread t = {.w = ww.w, .delay_ms = 30, .times = 1 + round};
        assert_int_equal(pthread_create(&t.thread, NULL, waking_main, &t), 0);
        /* -1: forever; the watchdog ends the program if the wake is lost. */
        expect_woken(&ww, round == 0 ? -1 : EXPECT_MS);
        pthread_join(t.thread, NULL);
        assert_ok(usock_wake_clear(ww.w));
        expect_quiet(&ww);
    }
    watched_close(&ww);
}

/* A waker and a socket in one poll: a wake is reported beside the
 * socket's data, each with its own udata. */
static void waker_beside_a_socket(void **state)
{
    (void)state;
    struct watched ww;
    watched_open(&ww);
    usock *s;
    int peer, stag;
    pair_with_raw_peer(AF_INET, &s, &peer);
    assert_ok(usock_poll_register(ww.p, s, USOCK_POLLIN, &stag));
    expect_quiet(&ww);
    raw_send_str(peer, "x");
    usock_wake(ww.w);
    usock_event ev[4];
    int seen_w = 0, seen_s = 0;
    for (int i = 0; i < 2 && !(seen_w && seen_s); i++) {
        int n = usock_poll_wait(ww.p, EXPECT_MS, ev, 4);
        assert_true(n >= 1);
        for (int k = 0; k < n; k++) {
            if (ev[k].sock == ww.w && ev[k].udata == &ww.tag)
                seen_w = 1;
            else if (ev[k].sock == s && ev[k].udata == &stag)
                seen_s = 1;
            else
                fail_msg("an event for neither the waker nor the socket");
        }
    }
    assert_true(seen_w && seen_s);
    expect_recv(s, 4, "x");
    assert_ok(usock_wake_clear(ww.w));
    expect_quiet(&ww);
    assert_ok(usock_poll_unregister(ww.p, s));
    usock_close(s);
    close(peer);
    watched_close(&ww);
}

/* ---- from a signal handler ----------------------------------------------- */

static usock *signal_waker;

static void on_signal_wake(int sig)
{
    (void)sig;
    int saved = errno;
    usock_wake(signal_waker);
    errno = saved;
}

struct signal_sender {
    pthread_t target, thread;
    int delay_ms;
};

static void *signal_main(void *arg)
{
    struct signal_sender *ss = arg;
    sleep_ms(ss->delay_ms);
    pthread_kill(ss->target, SIGUSR1);
    return NULL;
}

static void wake_from_a_signal_handler(void **state)
{
    (void)state;
    struct watched ww;
    watched_open(&ww);
    signal_waker = ww.w;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal_wake;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the wait sees EINTR and retries */
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);

    /* raise: the handler runs before raise returns. */
    assert_int_equal(raise(SIGUSR1), 0);
    expect_woken(&ww, EXPECT_MS);
    assert_ok(usock_wake_clear(ww.w));
    expect_quiet(&ww);

    /* A signal that arrives while the poll waits (forever) ends the wait
     * through the wake, not through EINTR. */
    struct signal_sender ss = {.target = pthread_self(), .delay_ms = 30};
    assert_int_equal(pthread_create(&ss.thread, NULL, signal_main, &ss), 0);
    expect_woken(&ww, -1);
    pthread_join(ss.thread, NULL);
    assert_ok(usock_wake_clear(ww.w));
    expect_quiet(&ww);

    sigaction(SIGUSR1, &old, NULL);
    signal_waker = NULL;
    watched_close(&ww);
}

/* ---- what a waker is not ------------------------------------------------ */

static void socket_io_on_a_waker_fails(void **state)
{
    (void)state;
    usock *w;
    assert_ok(usock_waker(&w));
    usock_wake(w);
    char buf[16];
    assert_true(usock_recv(w, buf, sizeof buf) < 0);
    assert_true(usock_send(w, "x", 1) < 0);
    assert_true(usock_readline(w, buf, sizeof buf) < 0);
    usock_addr a;
    loopback(&a, AF_INET, 9);
    assert_true(usock_connect(w, &a) < 0);
    /* Still a working waker: the failed calls did not clear it. */
    usock_poll *p;
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, w, USOCK_POLLIN, NULL));
    usock_event ev[2];
    assert_int_equal(usock_poll_wait(p, 0, ev, 2), 1);
    usock_poll_free(p);
    usock_close(w);
}

static void waker_null_arguments(void **state)
{
    (void)state;
    assert_code(usock_waker(NULL), USOCK_EINVAL);
    assert_code(usock_wake_clear(NULL), USOCK_EINVAL);
    usock_wake(NULL); /* nothing happens */
}

/* A waker closed while registered is reported as a closed socket is. */
static void closing_a_registered_waker(void **state)
{
    (void)state;
    usock *w;
    usock_poll *p;
    int tag;
    assert_ok(usock_waker(&w));
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, w, USOCK_POLLIN, &tag));
    usock_wake(w);
    assert_ok(usock_close(w));
    usock_event ev[2];
    /* DESIGN.md: reported once, as POLLNVAL, sock NULL, its udata. */
    assert_int_equal(usock_poll_wait(p, 0, ev, 2), 1);
    assert_null(ev[0].sock);
    assert_ptr_equal(ev[0].udata, &tag);
    assert_true(ev[0].revents & USOCK_POLLNVAL);
    assert_int_equal(usock_poll_wait(p, 0, ev, 2), 0);
    usock_poll_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_waker_is_not_readable),
        cmocka_unit_test(wake_then_clear),
        cmocka_unit_test(many_wakes_one_clear),
        cmocka_unit_test(wake_from_another_thread_ends_a_wait),
        cmocka_unit_test(waker_beside_a_socket),
        cmocka_unit_test(wake_from_a_signal_handler),
        cmocka_unit_test(socket_io_on_a_waker_fails),
        cmocka_unit_test(waker_null_arguments),
        cmocka_unit_test(closing_a_registered_waker),
    };
    start_watchdog(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
