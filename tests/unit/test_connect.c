/* test_connect.c -- usock_create_connection and usock_create_connection_opts:
 * Happy Eyeballs (RFC 8305): the next attempt 250 ms after the last, or at
 * once when it fails; the first to connect wins and the others are
 * closed; the deadline; what o.where names.
 *
 * The addresses come from a stub DNS server of the test's own (a thread
 * on UDP 127.0.0.1, as in test_resolver.c) through usock_resolver: the
 * name "he.test" is ::1 and 127.0.0.1, so that one port number on both
 * loopbacks gives two attempts whose fate the test chooses: accepted, refused
 * (a bound socket that does not listen), or hanging (a listener whose
 * accept queue is full: the kernel drops the SYN, and the connect can end
 * only by its timeout; a probe checks it, and the test is skipped where the
 * kernel never drops one). Everything is on loopback; every wait is
 * bounded; durations are printed and asserted only as "not early" lower
 * bounds and generous upper bounds. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns_stub.h"
#include "helpers.h"

/* ======================================================================== */
/* the stub DNS server (the few lines of test_resolver.c's that are needed) */

static const struct stub_name stub_names[] = {
    {"he.test", {"127.0.0.1"}, {"::1"}},
    {"v4.test", {"127.0.0.1"}, {NULL}},
};

/* ======================================================================== */
/* the fixture: the stub, a resolver on it, and every descriptor and socket
 * a test makes, all undone by the teardown even after a failure            */

struct world {
    struct stub dns;
    usock_resolver *r;
    int fds[64], nfds;
    usock *s; /* what the call under test gave */
};

static int world_up(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    *state = w;
    stub_start(&w->dns, stub_names, sizeof stub_names / sizeof stub_names[0], 0);
    char servers[32];
    snprintf(servers, sizeof servers, "127.0.0.1:%d", w->dns.port);
    assert_ok(usock_resolver_new(&w->r, servers));
    return 0;
}

static void close_all(struct world *w)
{
    for (int i = 0; i < w->nfds; i++)
        close(w->fds[i]);
    w->nfds = 0;
    usock_close(w->s);
    w->s = NULL;
}

static int world_down(void **state)
{
    struct world *w = *state;
    if (w) {
        close_all(w);
        usock_resolver_free(w->r);
        stub_stop(&w->dns);
        free(w);
    }
    return 0;
}

static int keep(struct world *w, int fd)
{
    assert_true(fd >= 0);
    assert_true(w->nfds < (int)(sizeof w->fds / sizeof w->fds[0]));
    w->fds[w->nfds++] = fd;
    return fd;
}

/* Closes fd now (it was kept). */
static void let_go(struct world *w, int fd)
{
    for (int i = 0; i < w->nfds; i++)
        if (w->fds[i] == fd) {
            close(fd);
            w->fds[i] = w->fds[--w->nfds];
            return;
        }
}

static int other_af(int af)
{
    return af == AF_INET6 ? AF_INET : AF_INET6;
}

/* "127.0.0.1:P" or "[::1]:P", as usock_addr_format writes it. */
static void addr_text(int af, int port, char *buf, size_t cap)
{
    usock_addr a;
    loopback(&a, af, port);
    assert_true(usock_addr_format(&a, buf, cap) > 0);
}

/* Open descriptors of the process. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* ---- the fate of an attempt at af's loopback, port -------------------- */

enum role { ACCEPTS, REFUSES, HANGS };

/* A raw TCP socket bound to af's loopback at port (0: a free one; *port
 * then says which), listening with backlog unless backlog < 0. -1 when
 * the port is taken. */
static int bound_at(int af, int *port, int backlog)
{
    int fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int one = 1;
    if (af == AF_INET6)
        assert_int_equal(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one), 0);
    usock_addr a;
    loopback(&a, af, *port);
    if (bind(fd, (struct sockaddr *)&a.ss, a.len) < 0) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE)
            return -1;
        fail_msg("bind: %s", strerror(e));
    }
    a.len = sizeof a.ss;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a.ss, &a.len), 0);
    *port = port_of(&a);
    if (backlog >= 0)
        assert_int_equal(listen(fd, backlog), 0);
    return fd;
}

/* Fills the accept queue of the listen(0) socket at af, port with raw
 * connections it never accepts (kept), until one stays pending: its SYN
 * was dropped. Closes that one (it would show as SYN_SENT to the port);
 * then a probe connect with a 0.3 s timeout must time out. 1 when
 * the port hangs so. */
static int fill_backlog(struct world *w, int af, int port)
{
    usock_addr a;
    loopback(&a, af, port);
    int filled = 0;
    for (int i = 0; i < 16 && !filled; i++) {
        int fd = socket(af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        int r = connect(fd, (struct sockaddr *)&a.ss, a.len);
        assert_true(r == 0 || errno == EINPROGRESS);
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        if (poll(&pf, 1, 100) == 0) {
            close(fd);
            filled = 1;
        } else {
            keep(w, fd);
        }
    }
    if (!filled)
        return 0;
    usock *probe;
    assert_ok(usock_socket(&probe, af, SOCK_STREAM, 0));
    assert_ok(usock_settimeout(probe, 0.3));
    int r = usock_connect(probe, &a);
    usock_close(probe);
    return r == USOCK_ETIMEDOUT;
}

/* Sets up first (at first_af) and second (at the other family) on one
 * port number, returned; their sockets in lfd[0] and lfd[1]. Skips the test where ::1 is missing or a port
 * cannot be made to hang. */
static int two_fates(struct world *w, int first_af, enum role first, enum role second, int lfd[2])
{
    if (!have_ipv6())
        skip();
    const int afs[2] = {first_af, other_af(first_af)};
    const enum role roles[2] = {first, second};
    for (int tries = 0; tries < 20; tries++) {
        int port = 0, fds[2] = {-1, -1}, k;
        for (k = 0; k < 2; k++) {
            int backlog = roles[k] == ACCEPTS ? 16 : roles[k] == HANGS ? 0 : -1;
            fds[k] = bound_at(afs[k], &port, backlog);
            if (fds[k] < 0)
                break;
            keep(w, fds[k]);
        }
        if (k < 2) { /* the port was taken in the other family: again */
            if (fds[0] >= 0)
                let_go(w, fds[0]);
            continue;
        }
        for (k = 0; k < 2; k++)
            if (roles[k] == HANGS && !fill_backlog(w, afs[k], port)) {
                printf("# a full accept queue does not hang a connect here: skipped\n");
                skip();
            }
        lfd[0] = fds[0];
        lfd[1] = fds[1];
        return port;
    }
    fail_msg("no port free in both families in 20 tries");
    return -1;
}

/* The family of the first address the resolver gives for he.test (the
 * race starts with it). */
static int first_family(struct world *w)
{
    if (!have_ipv6())
        skip();
    usock_addrinfo *res = NULL;
    assert_ok(usock_resolver_getaddrinfo(w->r, "he.test", 80, 0, SOCK_STREAM, 0, 5.0, &res));
    int n = 0, af = res->family;
    for (usock_addrinfo *ai = res; ai; ai = ai->next)
        n++;
    usock_freeaddrinfo(res);
    assert_int_equal(n, 2);
    return af;
}

/* Accepts (bounded) the one connection waiting on the raw listener lfd
 * and checks that c is connected to it: a byte each way. */
static void check_accepted(struct world *w, usock *c, int lfd)
{
    wait_fd_readable(lfd);
    int srv = keep(w, raw_accept(lfd));
    assert_count(usock_send(c, "q", 1), 1);
    char ch = 0;
    raw_recv_exact(srv, &ch, 1);
    assert_int_equal(ch, 'q');
    raw_send_str(srv, "a");
    expect_recv(c, 4, "a");
    let_go(w, srv);
}

/* ---- watching the attempts: SYN_SENT sockets to a port ------------------ */

/* Samples /proc/net/tcp and tcp6 every 2 ms: how many sockets are in
 * SYN_SENT towards port (the attempts under way at a hanging port), the
 * most at once, and when one and two were first seen. */
struct watcher {
    int port;
    double t0;
    atomic_int stop;
    int readable, most;
    double seen1, seen2;
    pthread_t thread;
    int running;
};

static int syn_sent_in(const char *file, int port, int *readable)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return 0;
    char line[512];
    int n = 0;
    if (fgets(line, sizeof line, f)) /* the header */
        *readable = 1;
    while (fgets(line, sizeof line, f)) {
        unsigned rport, st;
        if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%*x %*[0-9A-Fa-f]:%x %x", &rport, &st) == 2 &&
            (int)rport == port && st == 2)
            n++;
    }
    fclose(f);
    return n;
}

static void *watcher_main(void *arg)
{
    struct watcher *wt = arg;
    while (!atomic_load(&wt->stop)) {
        int readable = 0;
        int n = syn_sent_in("/proc/net/tcp", wt->port, &readable) +
                syn_sent_in("/proc/net/tcp6", wt->port, &readable);
        double t = now_s() - wt->t0;
        wt->readable |= readable;
        if (n > wt->most)
            wt->most = n;
        if (n >= 1 && wt->seen1 < 0)
            wt->seen1 = t;
        if (n >= 2 && wt->seen2 < 0)
            wt->seen2 = t;
        sleep_ms(2);
    }
    return NULL;
}

static void watcher_start(struct watcher *wt, int port)
{
    memset(wt, 0, sizeof *wt);
    wt->port = port;
    wt->seen1 = wt->seen2 = -1;
    wt->t0 = now_s();
    assert_int_equal(pthread_create(&wt->thread, NULL, watcher_main, wt), 0);
    wt->running = 1;
}

static void watcher_stop(struct watcher *wt)
{
    if (wt->running) {
        atomic_store(&wt->stop, 1);
        pthread_join(wt->thread, NULL);
        wt->running = 0;
    }
}

/* ======================================================================== */
/* options                                                                    */

static void opts_init_and_bad_arguments(void **state)
{
    struct world *w = *state;
    usock_connect_opts o;
    memset(&o, 0x5a, sizeof o);
    usock_connect_opts_init(&o);
    assert_true(o.timeout < 0);
    assert_true(o.deadline < 0);
    assert_null(o.source);
    assert_null(o.resolver);
    assert_true(o.attempt_delay == 0.25);
    assert_string_equal(o.where, "");
    usock_connect_opts_init(NULL);

    assert_code(usock_create_connection_opts(NULL, "127.0.0.1", 80, &o), USOCK_EINVAL);
    assert_code(usock_create_connection_opts(&w->s, "127.0.0.1", 80, NULL), USOCK_EINVAL);
    assert_null(w->s);
    const double bad_delay[] = {-0.1, (double)NAN};
    for (int i = 0; i < 2; i++) {
        usock_connect_opts_init(&o);
        w->s = (usock *)&w->s; /* set to NULL on every failure */
        o.attempt_delay = bad_delay[i];
        assert_code(usock_create_connection_opts(&w->s, "127.0.0.1", 80, &o), USOCK_EINVAL);
        assert_null(w->s);
    }
    usock_connect_opts_init(&o);
    o.timeout = (double)NAN;
    w->s = (usock *)&w->s;
    assert_code(usock_create_connection_opts(&w->s, "127.0.0.1", 80, &o), USOCK_EINVAL);
    assert_null(w->s);
    usock_connect_opts_init(&o);
    o.deadline = (double)NAN;
    assert_code(usock_create_connection_opts(&w->s, "127.0.0.1", 80, &o), USOCK_EINVAL);
    usock_connect_opts_init(&o);
    assert_true(usock_create_connection_opts(&w->s, "127.0.0.1", 70000, &o) < 0);
    assert_null(w->s);
}

/* Found here (fixed): usock_create_connection_opts(&s,
 * host, port, NULL) returns USOCK_EINVAL before it sets s to NULL, so s
 * keeps whatever it held; every other failure of the call, and
 * usock_resolver_new and usock_create_server on their bad arguments,
 * clear *out first. Want: s NULL. */
static void opts_null_clears_out(void **state)
{
    (void)state;
    usock *s = (usock *)&s;
    assert_code(usock_create_connection_opts(&s, "127.0.0.1", 80, NULL), USOCK_EINVAL);
    if (s != NULL)
        fail_msg("*out left at %p after EINVAL for o NULL, want NULL", (void *)s);
}

/* A resolver's failure is met at "resolve". */
static void resolver_error_is_met_at_resolve(void **state)
{
    struct world *w = *state;
    usock_connect_opts o;
    usock_connect_opts_init(&o);
    o.resolver = w->r;
    assert_code(usock_create_connection_opts(&w->s, "nxdomain.test", 80, &o), USOCK_EAI_NONAME);
    assert_null(w->s);
    assert_string_equal(o.where, "resolve");
}

/* ======================================================================== */
/* the race                                                                   */

/* The first address hangs, the second accepts: the second starts after
 * attempt_delay without waiting for the first to fail, and wins long
 * before the first's timeout (10 s); the first's socket is closed. */
static void hanging_first_address_loses_to_the_second(void **state)
{
    struct world *w = *state;
    int af1 = first_family(w), af2 = other_af(af1);
    int lfd[2];
    int port = two_fates(w, af1, HANGS, ACCEPTS, lfd);
    usock_connect_opts o;
    usock_connect_opts_init(&o);
    o.resolver = w->r;
    o.timeout = 10.0;
    int fds_before = count_fds();
    double t0 = now_s();
    int rc = usock_create_connection_opts(&w->s, "he.test", port, &o);
    double el = now_s() - t0;
    printf("# first (%s) hangs, second accepts: %s after %.3f s\n",
           af1 == AF_INET6 ? "::1" : "127.0.0.1", usock_errname(rc), el);
    assert_ok(rc);
    assert_non_null(w->s);
    assert_true(el >= 0.2); /* not before attempt_delay (0.25 s) */
    assert_true(el < 5.0);  /* far below the first attempt's 10 s */
    usock_addr peer;
    assert_ok(usock_getpeername(w->s, &peer));
    assert_true(is_loopback(&peer, af2));
    assert_int_equal(port_of(&peer), port);
    assert_true(usock_gettimeout(w->s) == 10.0);
    /* The winner is the one descriptor more: the loser was closed. */
    assert_int_equal(count_fds(), fds_before + 1);
    check_accepted(w, w->s, lfd[1]);
    usock_close(w->s);
    w->s = NULL;
    assert_int_equal(count_fds(), fds_before);
}

/* Both hang, each attempt bounded by 1 s: both are under way at once (the
 * second started while the first still waits) and the call ends when the
 * second's own second is up. where names the second, the last to fail
 * (either is taken: a stall of the process past both timeouts would let
 * the two end in one pass, in slot order). */
static void both_hanging_both_attempts_run_then_etimedout(void **state)
{
    struct world *w = *state;
    int af1 = first_family(w), af2 = other_af(af1);
    int lfd[2];
    int port = two_fates(w, af1, HANGS, HANGS, lfd);
    usock_connect_opts o;
    usock_connect_opts_init(&o);
    o.resolver = w->r;
    o.timeout = 1.0;
    int fds_before = count_fds();
    struct watcher wt;
    watcher_start(&wt, port);
    double t0 = now_s();
    int rc = usock_create_connection_opts(&w->s, "he.test", port, &o);
    double el = now_s() - t0;
    watcher_stop(&wt);
    printf("# both hang, timeout 1 s: %s after %.3f s, where %s\n", usock_errname(rc), el, o.where);
    if (wt.readable)
        printf("# SYN_SENT to the port: at most %d at once; one from %.3f s, two from %.3f s\n",
               wt.most, wt.seen1, wt.seen2);
    assert_code(rc, USOCK_ETIMEDOUT);
    assert_null(w->s);
    char a1[USOCK_ADDRSTRLEN], a2[USOCK_ADDRSTRLEN];
    addr_text(af1, port, a1, sizeof a1);
    addr_text(af2, port, a2, sizeof a2);
    if (strcmp(o.where, a2) != 0 && strcmp(o.where, a1) != 0)
        fail_msg("where \"%s\", want %s (or %s)", o.where, a2, a1);
    /* The second started no earlier than attempt_delay after the first
     * and had its whole timeout. */
    assert_true(el >= 1.2);
    assert_true(el < 5.0);
    /* both attempts were under way at once (a probe's SYN may still be
     * counted by the kernel beside them: at least two, not exactly) */
    if (wt.readable)
        assert_true(wt.most >= 2);
    assert_int_equal(count_fds(), fds_before);
}

/* The first is refused: the second starts at once, not after
 * attempt_delay (10 s here, so that waiting for it could not pass). */
static void refused_first_address_starts_the_second_at_once(void **state)
{
    struct world *w = *state;
    int af1 = first_family(w), af2 = other_af(af1);
    int lfd[2];
    int port = two_fates(w, af1, REFUSES, ACCEPTS, lfd);
    usock_connect_opts o;
    usock_connect_opts_init(&o);
    o.resolver = w->r;
    o.timeout = 10.0;
    o.attempt_delay = 10.0;
    int fds_before = count_fds();
    double t0 = now_s();
    int rc = usock_create_connection_opts(&w->s, "he.test", port, &o);
    double el = now_s() - t0;
    printf("# first refused, second accepts, attempt_delay 10 s: %s after %.3f s\n",
           usock_errname(rc), el);
    assert_ok(rc);
    assert_true(el < 5.0);
    usock_addr peer;
    assert_ok(usock_getpeername(w->s, &peer));
    assert_true(is_loopback(&peer, af2));
    assert_int_equal(port_of(&peer), port);
    assert_int_equal(count_fds(), fds_before + 1);
    check_accepted(w, w->s, lfd[1]);
}

/* Every address refused: ECONNREFUSED, where names the last one tried,
 * nothing left open. */
static void all_refused_is_econnrefused_at_the_last_address(void **state)
{
    struct world *w = *state;
    int af1 = first_family(w), af2 = other_af(af1);
    int lfd[2];
    int port = two_fates(w, af1, REFUSES, REFUSES, lfd);
    usock_connect_opts o;
    usock_connect_opts_init(&o);
    o.resolver = w->r;
    o.timeout = 5.0;
    int fds_before = count_fds();
    double t0 = now_s();
    int rc = usock_create_connection_opts(&w->s, "he.test", port, &o);
    printf("# both refused: %s after %.3f s, where %s\n", usock_errname(rc), now_s() - t0, o.where);
    assert_code(rc, USOCK_ECONNREFUSED);
    assert_null(w->s);
    char want[USOCK_ADDRSTRLEN];
    addr_text(af2, port, want, sizeof want);
    assert_string_equal(o.where, want);
    assert_int_equal(count_fds(), fds_before);
}

/* One address, no resolver: the same. */
static void one_refused_address_is_econnrefused_there(void **state)
{
    struct world *w = *state;
    int port = 0;
    keep(w, bound_at(AF_INET, &port, -1));
    usock_connect_opts o;
    usock_connect_opts_init(&o);
    int fds_before = count_fds();
    assert_code(usock_create_connection_opts(&w->s, "127.0.0.1", port, &o), USOCK_ECONNREFUSED);
    assert_null(w->s);
    char want[USOCK_ADDRSTRLEN];
    addr_text(AF_INET, port, want, sizeof want);
    assert_string_equal(o.where, want);
    assert_int_equal(count_fds(), fds_before);
}

/* ======================================================================== */
/* the deadline                                                               */

/* One hanging address, no per-attempt timeout, deadline 0.5 s: ETIMEDOUT,
 * not before the deadline, at that address. */
static void deadline_ends_a_hanging_attempt_not_early(void **state)
{
    struct world *w = *state;
    int port = 0;
    keep(w, bound_at(AF_INET, &port, 0));
    if (!fill_backlog(w, AF_INET, port)) {
        printf("# a full accept queue does not hang a connect here: skipped\n");
        skip();
    }
    const double timeouts[] = {-1.0, 10.0};
    for (int i = 0; i < 2; i++) {
        usock_connect_opts o;
        usock_connect_opts_init(&o);
        o.deadline = 0.5;
        o.timeout = timeouts[i];
        int fds_before = count_fds();
        double t0 = now_s();
        int rc = usock_create_connection_opts(&w->s, "127.0.0.1", port, &o);
        double el = now_s() - t0;
        printf("# one hanging address, deadline 0.5 s, timeout %g: %s after %.3f s, where %s\n",
               timeouts[i], usock_errname(rc), el, o.where);
        assert_code(rc, USOCK_ETIMEDOUT);
        assert_null(w->s);
        assert_true(el >= 0.45);
        assert_true(el < 5.0);
        char want[USOCK_ADDRSTRLEN];
        addr_text(AF_INET, port, want, sizeof want);
        assert_string_equal(o.where, want);
        assert_int_equal(count_fds(), fds_before);
    }
}

/* Both hang: the deadline ends both attempts. */
static void deadline_ends_two_hanging_attempts_not_early(void **state)
{
    struct world *w = *state;
    int af1 = first_family(w), af2 = other_af(af1);
    int lfd[2];
    int port = two_fates(w, af1, HANGS, HANGS, lfd);
    usock_connect_opts o;
    usock_connect_opts_init(&o);
    o.resolver = w->r;
    o.deadline = 0.5;
    int fds_before = count_fds();
    double t0 = now_s();
    int rc = usock_create_connection_opts(&w->s, "he.test", port, &o);
    double el = now_s() - t0;
    printf("# both hang, deadline 0.5 s: %s after %.3f s, where %s\n", usock_errname(rc), el,
           o.where);
    assert_code(rc, USOCK_ETIMEDOUT);
    assert_null(w->s);
    assert_true(el >= 0.45);
    assert_true(el < 5.0);
    char a1[USOCK_ADDRSTRLEN], a2[USOCK_ADDRSTRLEN];
    addr_text(af1, port, a1, sizeof a1);
    addr_text(af2, port, a2, sizeof a2);
    if (strcmp(o.where, a1) != 0 && strcmp(o.where, a2) != 0)
        fail_msg("where \"%s\", want %s or %s", o.where, a1, a2);
    assert_int_equal(count_fds(), fds_before);
}

/* A server that never answers: the deadline ends the resolution. */
static void deadline_ends_the_resolution_not_early(void **state)
{
    struct world *w = *state;
    atomic_store(&w->dns.silent, 1);
    usock_connect_opts o;
    usock_connect_opts_init(&o);
    o.resolver = w->r;
    o.deadline = 0.5;
    double t0 = now_s();
    int rc = usock_create_connection_opts(&w->s, "he.test", 80, &o);
    double el = now_s() - t0;
    printf("# silent DNS, deadline 0.5 s: %s after %.3f s, where %s\n", usock_errname(rc), el,
           o.where);
    assert_code(rc, USOCK_ETIMEDOUT);
    assert_null(w->s);
    assert_string_equal(o.where, "resolve");
    assert_true(el >= 0.45);
    assert_true(el < 5.0);
    assert_true(atomic_load(&w->dns.queries) >= 1);
}

/* Found here (fixed): a numeric host given with a
 * resolver still waits on the DNS (c-ares 1.18 sends A and AAAA queries
 * for "127.0.0.1" asked with af 0, which usock_create_connection_opts
 * always uses; see test_resolver.c): against a silent server,
 * usock_create_connection_opts(&s, "127.0.0.1", port, {resolver, deadline
 * 2}) = USOCK_ETIMEDOUT with where "resolve", where a listener is waiting
 * at 127.0.0.1:port. Want: connected, no query. */
static void numeric_host_with_a_resolver_needs_no_dns(void **state)
{
    struct world *w = *state;
    atomic_store(&w->dns.silent, 1);
    int port = 0;
    int lfd = keep(w, bound_at(AF_INET, &port, 16));
    usock_connect_opts o;
    usock_connect_opts_init(&o);
    o.resolver = w->r;
    o.deadline = 2.0;
    int rc = usock_create_connection_opts(&w->s, "127.0.0.1", port, &o);
    if (rc != 0)
        fail_msg(
            "create_connection_opts(\"127.0.0.1\", resolver, deadline 2) = %s at \"%s\", "
            "%d DNS queries",
            usock_errname(rc), o.where, atomic_load(&w->dns.queries));
    check_accepted(w, w->s, lfd);
    assert_int_equal(atomic_load(&w->dns.queries), 0);
}

/* ======================================================================== */
/* usock_create_connection, the plain one                                     */

static void plain_create_connection_still_connects_with_its_timeout(void **state)
{
    struct world *w = *state;
    int port = 0;
    int lfd = keep(w, bound_at(AF_INET, &port, 16));
    const double timeouts[] = {2.5, -1.0};
    const char *hosts[] = {"127.0.0.1", "localhost"};
    for (int i = 0; i < 2; i++) {
        assert_ok(usock_create_connection(&w->s, hosts[i], port, timeouts[i], NULL));
        assert_non_null(w->s);
        double got = usock_gettimeout(w->s);
        if (got != timeouts[i])
            fail_msg("gettimeout after create_connection(%s, timeout %g) = %g", hosts[i],
                     timeouts[i], got);
        usock_addr peer;
        assert_ok(usock_getpeername(w->s, &peer));
        assert_true(is_loopback(&peer, AF_INET));
        assert_int_equal(port_of(&peer), port);
        check_accepted(w, w->s, lfd);
        usock_close(w->s);
        w->s = NULL;
    }
    /* A refused one is ECONNREFUSED, as before. */
    int closed = 0;
    keep(w, bound_at(AF_INET, &closed, -1));
    w->s = (usock *)&w->s;
    assert_code(usock_create_connection(&w->s, "127.0.0.1", closed, 2.0, NULL), USOCK_ECONNREFUSED);
    assert_null(w->s);
}

/* A source of the one family: the attempt at the other fails at once (it
 * cannot bind), and the next starts without waiting. */
static void source_address_picks_its_family(void **state)
{
    struct world *w = *state;
    int af1 = first_family(w), af2 = other_af(af1);
    int lfd[2];
    int port = two_fates(w, af1, ACCEPTS, ACCEPTS, lfd);
    usock_addr src;
    loopback(&src, af2, 0);
    usock_connect_opts o;
    usock_connect_opts_init(&o);
    o.resolver = w->r;
    o.source = &src;
    o.attempt_delay = 10.0;
    double t0 = now_s();
    int rc = usock_create_connection_opts(&w->s, "he.test", port, &o);
    double el = now_s() - t0;
    printf("# source of the second family: %s after %.3f s\n", usock_errname(rc), el);
    assert_ok(rc);
    assert_true(el < 5.0);
    usock_addr peer;
    assert_ok(usock_getpeername(w->s, &peer));
    assert_true(is_loopback(&peer, af2));
    check_accepted(w, w->s, lfd[1]);
}

#define WORLD_TEST(f) cmocka_unit_test_setup_teardown(f, world_up, world_down)

int main(void)
{
    const struct CMUnitTest tests[] = {
        WORLD_TEST(opts_init_and_bad_arguments),
        WORLD_TEST(resolver_error_is_met_at_resolve),
        WORLD_TEST(hanging_first_address_loses_to_the_second),
        WORLD_TEST(both_hanging_both_attempts_run_then_etimedout),
        WORLD_TEST(refused_first_address_starts_the_second_at_once),
        WORLD_TEST(all_refused_is_econnrefused_at_the_last_address),
        WORLD_TEST(one_refused_address_is_econnrefused_there),
        WORLD_TEST(deadline_ends_a_hanging_attempt_not_early),
        WORLD_TEST(deadline_ends_two_hanging_attempts_not_early),
        WORLD_TEST(deadline_ends_the_resolution_not_early),
        WORLD_TEST(plain_create_connection_still_connects_with_its_timeout),
        WORLD_TEST(source_address_picks_its_family),
        WORLD_TEST(numeric_host_with_a_resolver_needs_no_dns),
        cmocka_unit_test(opts_null_clears_out),
    };
    start_watchdog(240);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
