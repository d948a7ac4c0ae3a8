/* helpers.c -- fixtures shared by the unit tests; see helpers.h. */
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- assertions ---------------------------------------------------------- */

void expect_read_at(enum read_call call, usock *s, size_t cap, const char *want, const char *file,
                    int line)
{
    static const char *const names[] = {"recv", "read", "readline"};
    size_t n = strlen(want);
    if (n > cap || (call == CALL_READLINE && n >= cap))
        fail_msg("%s:%d: expect_%s with cap %zu cannot give \"%s\"", file, line, names[call], cap,
                 want);
    /* Exactly cap bytes, so that a write past them shows under ASan and
     * valgrind as it would with the caller's own buffer. */
    char *buf = malloc(cap ? cap : 1);
    assert_non_null(buf);
    memset(buf, 'X', cap ? cap : 1);
    ssize_t got;
    if (call == CALL_RECV)
        got = usock_recv(s, buf, cap);
    else if (call == CALL_READ)
        got = usock_read(s, buf, cap);
    else
        got = usock_readline(s, buf, cap);
    int same = got == (ssize_t)n && memcmp(buf, want, n) == 0;
    int ended = call != CALL_READLINE || buf[n] == '\0';
    char shown[80];
    snprintf(shown, sizeof shown, "%.*s", got > 0 && (size_t)got <= cap ? (int)got : 0, buf);
    free(buf);
    if (got != (ssize_t)n)
        fail_msg("%s:%d: %s(cap %zu) = %zd (%s), want %zu (\"%s\")", file, line, names[call], cap,
                 got, got < 0 ? usock_errname((int)got) : "a count", n, want);
    if (!same)
        fail_msg("%s:%d: %s gave \"%s\", want \"%s\"", file, line, names[call], shown, want);
    if (!ended)
        fail_msg("%s:%d: readline's \"%s\" is not NUL-ended", file, line, want);
}

/* ---- addresses ----------------------------------------------------------- */

void loopback(usock_addr *a, int af, int port)
{
    memset(a, 0, sizeof *a);
    if (af == AF_INET6) {
        struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
        s6.sin6_addr = in6addr_loopback;
        memcpy(&a->ss, &s6, sizeof s6);
        a->len = sizeof s6;
    } else {
        struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        memcpy(&a->ss, &s4, sizeof s4);
        a->len = sizeof s4;
    }
}

int port_of(const usock_addr *a)
{
    if (a->ss.ss_family == AF_INET6) {
        struct sockaddr_in6 s6;
        memcpy(&s6, &a->ss, sizeof s6);
        return ntohs(s6.sin6_port);
    }
    struct sockaddr_in s4;
    memcpy(&s4, &a->ss, sizeof s4);
    return ntohs(s4.sin_port);
}

int is_loopback(const usock_addr *a, int af)
{
    if (a->ss.ss_family != af)
        return 0;
    if (af == AF_INET6) {
        struct sockaddr_in6 s6;
        memcpy(&s6, &a->ss, sizeof s6);
        return a->len == sizeof s6 && IN6_IS_ADDR_LOOPBACK(&s6.sin6_addr);
    }
    struct sockaddr_in s4;
    memcpy(&s4, &a->ss, sizeof s4);
    return a->len == sizeof s4 && s4.sin_addr.s_addr == htonl(INADDR_LOOPBACK);
}

int have_ipv6(void)
{
    static int known = -1;
    if (known < 0) {
        int fd = socket(AF_INET6, SOCK_STREAM, 0);
        usock_addr a;
        loopback(&a, AF_INET6, 0);
        known = fd >= 0 && bind(fd, (struct sockaddr *)&a.ss, a.len) == 0;
        if (fd >= 0)
            close(fd);
    }
    return known;
}

/* ---- raw POSIX peers ----------------------------------------------------- */

int raw_bound(int af, int type, int *port)
{
    int fd = socket(af, type, 0);
    assert_true(fd >= 0);
    usock_addr a;
    loopback(&a, af, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a.ss, a.len), 0);
    a.len = sizeof a.ss;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a.ss, &a.len), 0);
    *port = port_of(&a);
    return fd;
}

int raw_listener(int af, int backlog, int rcvbuf, int *port)
{
    int fd = raw_bound(af, SOCK_STREAM, port);
    /* Before listen: accepted connections inherit it. */
    if (rcvbuf > 0)
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    assert_int_equal(listen(fd, backlog), 0);
    return fd;
}

int raw_accept(int lfd)
{
    int fd = accept(lfd, NULL, NULL);
    assert_true(fd >= 0);
    return fd;
}

void raw_send(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        assert_true(r > 0);
        p += r;
        n -= (size_t)r;
    }
}

void raw_send_str(int fd, const char *s)
{
    raw_send(fd, s, strlen(s));
}

void raw_sendto(int fd, const char *s, const usock_addr *to)
{
    ssize_t r = sendto(fd, s, strlen(s), 0, (const struct sockaddr *)&to->ss, to->len);
    assert_int_equal(r, (ssize_t)strlen(s));
}

void raw_recv_exact(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        wait_fd_readable(fd);
        ssize_t r = recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        assert_true(r > 0);
        p += r;
        n -= (size_t)r;
    }
}

void raw_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(fd);
}

void wait_fd_readable(int fd)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&pf, 1, EXPECT_MS), 1);
}

void wait_readable(usock *s)
{
    wait_fd_readable(usock_fileno(s));
}

void pair_with_raw_peer_bufs(int af, usock **mine, int *peer, int sndbuf, int rcvbuf)
{
    int port;
    int lfd = raw_listener(af, 4, rcvbuf, &port);
    assert_ok(usock_socket(mine, af, SOCK_STREAM, 0));
    if (sndbuf > 0)
        assert_ok(usock_setsockopt(*mine, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf));
    usock_addr a;
    loopback(&a, af, port);
    assert_ok(usock_connect(*mine, &a));
    *peer = raw_accept(lfd);
    close(lfd);
}

void pair_with_raw_peer(int af, usock **mine, int *peer)
{
    pair_with_raw_peer_bufs(af, mine, peer, 0, 0);
}

int poll_pollout(usock *s)
{
    usock_poll *p;
    usock_event ev[2];
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, s, USOCK_POLLOUT, NULL));
    int n = usock_poll_wait(p, EXPECT_MS, ev, 2);
    usock_poll_free(p);
    assert_int_equal(n, 1);
    return ev[0].revents;
}

/* ---- library-only fixtures ----------------------------------------------- */

usock *bound(int af, int type, int *port)
{
    usock *s;
    assert_ok(usock_socket(&s, af, type, 0));
    usock_addr a;
    loopback(&a, af, 0);
    assert_ok(usock_bind(s, &a));
    assert_ok(usock_getsockname(s, &a));
    *port = port_of(&a);
    return s;
}

usock *listening(int af, int *port)
{
    usock *s = bound(af, SOCK_STREAM, port);
    assert_ok(usock_listen(s, -1));
    return s;
}

usock *connected_to(int af, int port)
{
    usock *c;
    assert_ok(usock_socket(&c, af, SOCK_STREAM, 0));
    usock_addr a;
    loopback(&a, af, port);
    assert_ok(usock_connect(c, &a));
    return c;
}

/* ---- fixtures of the socket tests --------------------------------------- */

/* A pair whose library socket has text waiting in the kernel. */
void pair_holding(int af, usock **s, int *peer, const char *text)
{
    pair_with_raw_peer(af, s, peer);
    raw_send_str(*peer, text);
    wait_readable(*s);
}

/* A library socket whose raw peer sent text and closed: text, then EOF. */
usock *peer_sent_then_closed(int af, const char *text)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    raw_send_str(peer, text);
    close(peer);
    return s;
}

/* A library socket whose raw peer has reset the connection, the reset
 * already arrived. */
usock *reset_by_peer(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    raw_reset(peer);
    wait_readable(s);
    return s;
}

/* Waits (bounded) until s is writable: a non-blocking connect ended. */
void wait_writable(usock *s)
{
    struct pollfd pf = {.fd = usock_fileno(s), .events = POLLOUT};
    assert_int_equal(poll(&pf, 1, EXPECT_MS), 1);
}

/* send, sendall and write of one byte all fail with err. */
void expect_writes_fail(usock *s, int err)
{
    assert_code(usock_send(s, "x", 1), err);
    assert_code(usock_sendall(s, "x", 1), err);
    assert_code(usock_write(s, "x", 1), err);
}

unsigned char pattern(size_t i)
{
    return (unsigned char)((i * 7 + i / 251) & 0xff);
}

char *pattern_buf(size_t n)
{
    char *b = malloc(n);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (char)pattern(i);
    return b;
}

/* See struct reader in helpers.h. */
void *reader_main(void *arg)
{
    struct reader *r = arg;
    char *buf = malloc(r->chunk);
    int reads = 0;
    r->in_order = 1;
    while (buf && !atomic_load(&r->stop)) {
        struct pollfd pf = {.fd = r->fd, .events = POLLIN};
        if (poll(&pf, 1, 20) <= 0)
            continue;
        ssize_t n = recv(r->fd, buf, r->chunk, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if ((unsigned char)buf[i] != pattern(r->total + (size_t)i))
                r->in_order = 0;
        r->total += (size_t)n;
        if (r->pause_ms && ++reads % r->pause_every == 0)
            sleep_ms(r->pause_ms);
    }
    free(buf);
    return NULL;
}

/* A bound socket that does not listen answers SYN with RST; keeping it open
 * keeps anyone else from taking the port. */
usock *refusing(int af, usock_addr *to)
{
    int port;
    usock *b = bound(af, SOCK_STREAM, &port);
    loopback(to, af, port);
    return b;
}

/* ---- Unix-domain paths, clocks ------------------------------------------ */

void temp_dir_make(char *dir, size_t cap)
{
    assert_true(cap >= 64);
    snprintf(dir, cap, "/tmp/usock-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

void temp_dir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

void path_in(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < cap);
}

void abstract_name(char *out, size_t cap, const char *tag)
{
    static atomic_int counter;
    int n = snprintf(out, cap, "@usock-test-%ld-%d-%s", (long)getpid(),
                     atomic_fetch_add(&counter, 1), tag);
    assert_true(n > 0 && (size_t)n < cap);
}

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- threads, signals, the watchdog --------------------------------------- */

void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    sleep_ms(s->delay_ms);
    const char *p = s->data;
    size_t left = s->n;
    while (left) {
        ssize_t r = send(s->fd, p, left, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        p += r;
        left -= (size_t)r;
    }
    if (s->eof_after)
        shutdown(s->fd, SHUT_WR);
    return NULL;
}

void sender_start(struct sender *sd)
{
    assert_int_equal(pthread_create(&sd->thread, NULL, sender_main, sd), 0);
}

void sender_join(struct sender *sd)
{
    pthread_join(sd->thread, NULL);
}

static atomic_int interrupts;

static void on_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add(&interrupts, 1);
}

static void *pester_main(void *arg)
{
    struct pester *ps = arg;
    while (!atomic_load(&ps->stop)) {
        pthread_kill(ps->target, SIGUSR1);
        sleep_ms(ps->interval_ms);
    }
    return NULL;
}

void pester_start(struct pester *ps, int interval_ms)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the kernel returns EINTR */
    assert_int_equal(sigaction(SIGUSR1, &sa, &ps->old), 0);
    atomic_store(&interrupts, 0);
    ps->target = pthread_self();
    ps->interval_ms = interval_ms;
    atomic_store(&ps->stop, 0);
    assert_int_equal(pthread_create(&ps->thread, NULL, pester_main, ps), 0);
}

int pester_stop(struct pester *ps)
{
    atomic_store(&ps->stop, 1);
    pthread_join(ps->thread, NULL);
    sigaction(SIGUSR1, &ps->old, NULL);
    return atomic_load(&interrupts);
}

void start_watchdog(unsigned seconds)
{
    alarm(seconds);
}

char *read_data_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)sz, f), (size_t)sz);
    b[sz] = '\0';
    fclose(f);
    if (n)
        *n = (size_t)sz;
    return b;
}

char *unhex_data(const char *hex, size_t *n)
{
    size_t hn = strcmp(hex, "-") == 0 ? 0 : strlen(hex), k = 0;
    char *b = malloc(hn / 2 + 1);
    assert_non_null(b);
    for (size_t i = 0; i + 1 < hn; i += 2) {
        unsigned v;
        char two[3] = {hex[i], hex[i + 1], 0};
        assert_int_equal(sscanf(two, "%2x", &v), 1);
        b[k++] = (char)v;
    }
    b[k] = '\0';
    if (n)
        *n = k;
    return b;
}

int split_words(char *line, char **w, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " ", &save); t && n < max; t = strtok_r(NULL, " ", &save))
        w[n++] = t;
    return n;
}
