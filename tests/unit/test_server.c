/* test_server.c -- the server layer (socketserver): every mode, stream and
 * datagram, IPv4/IPv6/dual stack/Unix, shutdown, errors, counters, limits,
 * descriptor exhaustion and flat memory. Clients are threads on raw POSIX
 * sockets, so that a failure is the server's; client threads never assert
 * (cmocka's longjmp belongs to the main thread) but report a status. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

#ifndef __has_feature
#define __has_feature(x) 0
#endif

/* ---- environment --------------------------------------------------------- */

static int under_asan(void)
{
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
    return 1;
#else
    return 0;
#endif
}

static int under_tsan(void)
{
#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
    return 1;
#else
    return 0;
#endif
}

static int under_valgrind(void)
{
    static int known = -1;
    if (known < 0) {
        known = getenv("USOCK_UNDER_VALGRIND") != NULL;
        FILE *f = fopen("/proc/self/maps", "r");
        char line[512];
        while (!known && f && fgets(line, sizeof line, f))
            known = strstr(line, "vgpreload") != NULL;
        if (f)
            fclose(f);
    }
    return known;
}

/* Sanitizers and valgrind distort RSS and time: smaller loads there. */
static int instrumented(void)
{
    return under_asan() || under_tsan() || under_valgrind();
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Forking mode is tested in the normal and ASan builds only. Under
 * valgrind a forked child's exit status is valgrind's verdict on the child
 * (the memory of the parent's other threads counts as lost there), which
 * the server rightly counts as a failed child. Under ThreadSanitizer a
 * child forked while the client threads run now and then hangs in the
 * sanitizer's runtime. */
static int skip_forking(int mode)
{
    return mode == USOCK_SERVER_FORKING && (under_valgrind() || under_tsan());
}

static int count_fds(void);

static const int modes[] = {USOCK_SERVER_SEQUENTIAL, USOCK_SERVER_THREADING, USOCK_SERVER_FORKING,
                            USOCK_SERVER_POOL};

/* ---- shared test state ----------------------------------------------------
 * Handlers of forked children write here too, so it is a MAP_SHARED
 * mapping with atomics, made once per test. */
struct shared {
    atomic_int handled;     /* handler calls */
    atomic_int errors_seen; /* handle_error calls */
    atomic_int last_error;
    atomic_int timeouts; /* handle_timeout calls */
    atomic_int actions;  /* service_actions calls */
    atomic_int refuse;   /* verify_request says no */
    atomic_int peer_family;
    atomic_int deadlk;
    atomic_int pid;    /* the process of h_echo's or h_hold's last call */
    atomic_ullong sum; /* checksum of what a handler received */
    atomic_ullong got; /* its length */
    pthread_mutex_t log_mu;
    char log[4096];
};

static struct shared *shared_new(void)
{
    struct shared *sh =
        mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(sh != MAP_FAILED);
    memset(sh, 0, sizeof *sh);
    pthread_mutex_init(&sh->log_mu, NULL);
    return sh;
}

static void shared_free(struct shared *sh)
{
    pthread_mutex_destroy(&sh->log_mu);
    munmap(sh, sizeof *sh);
}

static void on_log(const char *line, void *udata)
{
    struct shared *sh = udata;
    pthread_mutex_lock(&sh->log_mu);
    size_t n = strlen(sh->log);
    snprintf(sh->log + n, sizeof sh->log - n, "%s\n", line);
    pthread_mutex_unlock(&sh->log_mu);
}

static int log_has(struct shared *sh, const char *what)
{
    pthread_mutex_lock(&sh->log_mu);
    int r = strstr(sh->log, what) != NULL;
    pthread_mutex_unlock(&sh->log_mu);
    return r;
}

static void on_error(usock_server *srv, const usock_addr *peer, int err, void *udata)
{
    struct shared *sh = udata;
    (void)srv;
    atomic_store(&sh->last_error, err);
    atomic_store(&sh->peer_family, peer->ss.ss_family);
    atomic_fetch_add(&sh->errors_seen, 1);
}

static void on_timeout(usock_server *srv, void *udata)
{
    (void)srv;
    atomic_fetch_add(&((struct shared *)udata)->timeouts, 1);
}

static void on_actions(usock_server *srv, void *udata)
{
    (void)srv;
    atomic_fetch_add(&((struct shared *)udata)->actions, 1);
}

static int on_verify(usock_server *srv, const usock_addr *peer, void *udata)
{
    (void)srv;
    (void)peer;
    return !atomic_load(&((struct shared *)udata)->refuse);
}

/* FNV-1a, 64 bits: a strong enough check that 10 MB came through intact
 * and in order. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}
#define FNV0 14695981039346656037ull

/* ---- handlers ------------------------------------------------------------ */

/* Echoes until EOF, checksumming what it got. */
static int h_echo(usock_request *rq)
{
    struct shared *sh = rq->udata;
    char *buf = malloc(16384);
    if (!buf)
        return USOCK_ENOMEM;
    uint64_t h = FNV0, total = 0;
    ssize_t n;
    int r = 0;
    if (sh) {
        atomic_fetch_add(&sh->handled, 1);
        atomic_store(&sh->peer_family, rq->peer->ss.ss_family);
        atomic_store(&sh->pid, (int)getpid());
    }
    while ((n = usock_recv(rq->sock, buf, 16384)) > 0) {
        h = fnv(h, buf, (size_t)n);
        total += (uint64_t)n;
        if ((r = usock_sendall(rq->sock, buf, (size_t)n)) < 0)
            break;
    }
    free(buf);
    if (sh) {
        atomic_store(&sh->sum, h);
        atomic_store(&sh->got, total);
    }
    return n < 0 ? (int)n : r;
}

/* The seed's MyTCPHandler: up to 1024 bytes, stripped, upper-cased. */
static int h_upper(usock_request *rq)
{
    char buf[1024];
    ssize_t n = usock_recv(rq->sock, buf, sizeof buf);
    if (n < 0)
        return (int)n;
    size_t a = 0, b = (size_t)n;
    while (a < b && (buf[a] == ' ' || buf[a] == '\n' || buf[a] == '\r' || buf[a] == '\t'))
        a++;
    while (b > a &&
           (buf[b - 1] == ' ' || buf[b - 1] == '\n' || buf[b - 1] == '\r' || buf[b - 1] == '\t'))
        b--;
    for (size_t i = a; i < b; i++)
        if (buf[i] >= 'a' && buf[i] <= 'z')
            buf[i] = (char)(buf[i] - 'a' + 'A');
    return usock_sendall(rq->sock, buf + a, b - a);
}

/* Echoes one byte, then holds the connection until the client closes:
 * the client decides how long the handler runs, in every mode. A first
 * byte 'F' fails the request, 'C' crashes (forked children), 'S' asks
 * serve_forever to stop from its own thread. */
static int h_hold(usock_request *rq)
{
    struct shared *sh = rq->udata;
    char c;
    atomic_fetch_add(&sh->handled, 1);
    atomic_store(&sh->pid, (int)getpid());
    ssize_t n = usock_recv(rq->sock, &c, 1);
    if (n <= 0)
        return n < 0 ? (int)n : 0;
    if (c == 'F')
        return USOCK_EPROTO;
    if (c == 'C')
        abort();
    if (c == 'S')
        atomic_store(&sh->deadlk, usock_server_shutdown(rq->server));
    int r = usock_sendall(rq->sock, &c, 1);
    while (r == 0 && (n = usock_recv(rq->sock, &c, 1)) > 0) {
    }
    return r;
}

/* Datagrams: the packet back, upper-cased, to its sender. */
static int h_dgram(usock_request *rq)
{
    struct shared *sh = rq->udata;
    char buf[2048];
    size_t n = rq->len < sizeof buf ? rq->len : sizeof buf;
    memcpy(buf, rq->data, n);
    for (size_t i = 0; i < n; i++)
        if (buf[i] >= 'a' && buf[i] <= 'z')
            buf[i] = (char)(buf[i] - 'a' + 'A');
    atomic_fetch_add(&sh->handled, 1);
    atomic_store(&sh->peer_family, rq->peer->ss.ss_family);
    ssize_t r = usock_sendto(rq->sock, buf, n, rq->peer);
    return r < 0 ? (int)r : 0;
}

/* ---- a server running in a thread ---------------------------------------- */

struct running {
    usock_server *srv;
    pthread_t thread;
    double poll_interval;
    int rc;
    usock_addr addr;
};

static void *serve_main(void *arg)
{
    struct running *r = arg;
    r->rc = usock_server_serve_forever(r->srv, r->poll_interval);
    return NULL;
}

static void opts_for(usock_server_opts *o, struct shared *sh, int mode, int type)
{
    usock_server_opts_init(o);
    o->mode = mode;
    o->type = type;
    o->request_queue_size = 128;
    o->log = on_log;
    o->workers = 4;
    /* Bounds a forked child left holding a connection when a test fails
     * (each child inherits this process's client sockets). */
    o->conn_timeout = 30.0;
    (void)sh;
}

/* serve_forever(poll_interval) in a new thread. */
static void start_polling(struct running *r, const usock_addr *a, usock_handler h,
                          struct shared *sh, const usock_server_opts *o, double poll_interval)
{
    memset(r, 0, sizeof *r);
    r->poll_interval = poll_interval;
    r->rc = 12345;
    assert_ok(usock_server_new(&r->srv, a, h, sh, o));
    assert_ok(usock_server_address(r->srv, &r->addr));
    assert_int_equal(pthread_create(&r->thread, NULL, serve_main, r), 0);
}

static void start_at(struct running *r, const usock_addr *a, usock_handler h, struct shared *sh,
                     const usock_server_opts *o)
{
    start_polling(r, a, h, sh, o, 0.05);
}

static void start(struct running *r, int af, usock_handler h, struct shared *sh,
                  const usock_server_opts *o)
{
    usock_addr a;
    loopback(&a, af, 0);
    start_at(r, &a, h, sh, o);
}

static void stop(struct running *r)
{
    assert_ok(usock_server_shutdown(r->srv));
    pthread_join(r->thread, NULL);
    assert_int_equal(r->rc, 0);
    usock_server_close(r->srv);
    r->srv = NULL;
}

/* usock_server_shutdown or usock_server_close in a thread of its own, so
 * that a test can see whether it returns while a handler still runs. */
struct bg_call {
    usock_server *srv;
    int close; /* 0: shutdown */
    int rc;
    long long returned_ms; /* mono_ms() when it returned */
    atomic_int done;
    pthread_t thread;
};

static void *bg_main(void *arg)
{
    struct bg_call *b = arg;
    if (b->close)
        usock_server_close(b->srv);
    else
        b->rc = usock_server_shutdown(b->srv);
    b->returned_ms = mono_ms();
    atomic_store(&b->done, 1);
    return NULL;
}

static void bg_start(struct bg_call *b, usock_server *srv, int close)
{
    memset(b, 0, sizeof *b);
    b->srv = srv;
    b->close = close;
    b->rc = 12345;
    assert_int_equal(pthread_create(&b->thread, NULL, bg_main, b), 0);
}

/* Whether the call returned within ms. */
static int bg_returned_within(struct bg_call *b, int ms)
{
    long long end = mono_ms() + ms;
    while (!atomic_load(&b->done) && mono_ms() < end)
        sleep_ms(1);
    return atomic_load(&b->done);
}

/* Asserts that it returns (bounded), and joins it. */
static void bg_join(struct bg_call *b)
{
    assert_true(bg_returned_within(b, 4 * EXPECT_MS));
    pthread_join(b->thread, NULL);
}

static usock_server_stats stats(usock_server *s)
{
    usock_server_stats st;
    usock_server_stats_get(s, &st);
    return st;
}

/* Waits (bounded) until the server has finished n requests. */
static void wait_requests(usock_server *s, uint64_t n)
{
    long long end = mono_ms() + 20000;
    while (stats(s).requests < n && mono_ms() < end)
        sleep_ms(1);
    assert_int_equal(stats(s).requests, n);
}

static void wait_accepted(usock_server *s, uint64_t n)
{
    long long end = mono_ms() + 10000;
    while (stats(s).accepted < n && mono_ms() < end)
        sleep_ms(1);
    assert_int_equal(stats(s).accepted, n);
}

/* ---- raw clients ---------------------------------------------------------- */

static int client_fd(const usock_addr *a, int type)
{
    int fd = socket(a->ss.ss_family, type, 0);
    if (fd < 0)
        return -errno;
    if (type == SOCK_STREAM) {
        while (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0) {
            if (errno != EINTR) {
                int e = -errno;
                close(fd);
                return e;
            }
        }
    }
    return fd;
}

/* All n bytes, bounded by EXPECT_MS per wait; 0 or a negative errno. */
static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t r = send(fd, c, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -errno;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* One recv after a bounded wait: the count, 0 at EOF, -ETIMEDOUT. */
static ssize_t recv_wait(int fd, void *buf, size_t n, int ms)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int r;
    while ((r = poll(&pf, 1, ms)) < 0 && errno == EINTR) {
    }
    if (r == 0)
        return -ETIMEDOUT;
    ssize_t k;
    while ((k = recv(fd, buf, n, 0)) < 0 && errno == EINTR) {
    }
    return k < 0 ? -errno : k;
}

/* Reads until EOF (or the buffer is full); the count or a negative errno. */
static ssize_t recv_to_eof(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t r = recv_wait(fd, buf + got, cap - got, 6 * EXPECT_MS); /* sequential, sanitized */
        if (r < 0)
            return r;
        if (r == 0)
            return (ssize_t)got;
        got += (size_t)r;
        if (got == cap)
            return (ssize_t)got;
    }
}

/* Connects, sends the byte, expects it back; the fd stays open. */
static int hold_client(const usock_addr *a, char c)
{
    int fd = client_fd(a, SOCK_STREAM);
    assert_true(fd >= 0);
    assert_ok(send_all(fd, &c, 1));
    return fd;
}

static void expect_byte(int fd, char c)
{
    char got = 0;
    assert_int_equal(recv_wait(fd, &got, 1, EXPECT_MS), 1);
    assert_int_equal(got, c);
}

static void expect_silence(int fd)
{
    char got;
    assert_int_equal(recv_wait(fd, &got, 1, QUIET_MS * 4), -ETIMEDOUT);
}

/* A close that resets (no TIME_WAIT), for the many-connection tests. */
static void close_rst(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* Closes a client so that the server sees the end at once: forked
 * children of the server inherit a copy of every client socket of this
 * process, so close() alone would not send the FIN. */
static void bye(int fd)
{
    shutdown(fd, SHUT_RDWR);
    close(fd);
}

/* An echo client: its own pattern of n bytes, all back, compared. */
struct echo_client {
    const usock_addr *addr;
    int id;
    size_t n;
    pthread_barrier_t *go;
    int status; /* 0 ok, else what went wrong */
    pthread_t thread;
};

static void *echo_client_main(void *arg)
{
    struct echo_client *c = arg;
    char *out = malloc(c->n), *in = malloc(c->n + 1);
    if (!out || !in) {
        c->status = -ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < c->n; i++)
        out[i] = (char)('a' + (c->id + i) % 26);
    pthread_barrier_wait(c->go);
    int fd = client_fd(c->addr, SOCK_STREAM);
    if (fd < 0) {
        c->status = fd;
        goto done;
    }
    c->status = send_all(fd, out, c->n);
    shutdown(fd, SHUT_WR);
    ssize_t got = recv_to_eof(fd, in, c->n + 1);
    if (c->status == 0)
        c->status = got < 0                 ? (int)got
                    : got != (ssize_t)c->n  ? 1000
                    : memcmp(in, out, c->n) ? 1001
                                            : 0;
    bye(fd);
done:
    free(out);
    free(in);
    return NULL;
}

/* nclients concurrent echo clients of n bytes each; all must succeed. */
static void echo_clients(const usock_addr *a, int nclients, size_t n)
{
    struct echo_client *c = calloc((size_t)nclients, sizeof *c);
    pthread_barrier_t go;
    pthread_attr_t attr;
    assert_non_null(c);
    pthread_barrier_init(&go, NULL, (unsigned)nclients);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 128 * 1024);
    for (int i = 0; i < nclients; i++) {
        c[i] = (struct echo_client){.addr = a, .id = i, .n = n, .go = &go, .status = -1};
        assert_int_equal(pthread_create(&c[i].thread, &attr, echo_client_main, &c[i]), 0);
    }
    int bad = 0, first = 0;
    for (int i = 0; i < nclients; i++) {
        pthread_join(c[i].thread, NULL);
        if (c[i].status != 0 && !bad++)
            first = c[i].status;
    }
    pthread_attr_destroy(&attr);
    pthread_barrier_destroy(&go);
    free(c);
    if (bad)
        fail_msg("%d of %d clients failed, the first with %d (%s)", bad, nclients, first,
                 first > 0 ? "short or wrong echo" : strerror(-first));
}

/* ---- options and creation ------------------------------------------------ */

static void opts_defaults_are_pythons(void **state)
{
    (void)state;
    usock_server_opts o;
    memset(&o, 0x5a, sizeof o);
    usock_server_opts_init(&o);
    assert_int_equal(o.type, SOCK_STREAM);
    assert_int_equal(o.mode, USOCK_SERVER_SEQUENTIAL);
    assert_int_equal(o.allow_reuse_address, 0);
    assert_int_equal(o.request_queue_size, 5);
    assert_true(o.conn_timeout < 0 && o.timeout < 0);
    assert_int_equal(o.block_on_close, 1);
    assert_int_equal(o.daemon_threads, 0);
    assert_int_equal(o.max_children, 40);
    assert_int_equal(o.max_packet_size, 8192);
    assert_null(o.verify_request);
    assert_null(o.handle_error);
    assert_null(o.log);
}

static void new_rejects_bad_arguments(void **state)
{
    (void)state;
    usock_server *s = (usock_server *)&s;
    usock_addr a;
    usock_server_opts o;
    loopback(&a, AF_INET, 0);
    assert_code(usock_server_new(NULL, &a, h_echo, NULL, NULL), USOCK_EINVAL);
    assert_code(usock_server_new(&s, NULL, h_echo, NULL, NULL), USOCK_EINVAL);
    assert_null(s);
    assert_code(usock_server_new(&s, &a, NULL, NULL, NULL), USOCK_EINVAL);
    usock_server_opts_init(&o);
    o.type = SOCK_RAW;
    assert_code(usock_server_new(&s, &a, h_echo, NULL, &o), USOCK_EINVAL);
    usock_server_opts_init(&o);
    o.mode = 7;
    assert_code(usock_server_new(&s, &a, h_echo, NULL, &o), USOCK_EINVAL);
    usock_server_opts_init(&o);
    o.max_children = 0;
    assert_code(usock_server_new(&s, &a, h_echo, NULL, &o), USOCK_EINVAL);
    assert_null(s);
    usock_server_close(NULL);
    assert_code(usock_server_serve_forever(NULL, 0.1), USOCK_EINVAL);
    assert_null(usock_server_socket(NULL));
}

static void new_reports_address_in_use(void **state)
{
    (void)state;
    usock_server *s1, *s2 = NULL;
    usock_addr a;
    loopback(&a, AF_INET, 0);
    assert_ok(usock_server_new(&s1, &a, h_echo, NULL, NULL));
    assert_ok(usock_server_address(s1, &a));
    assert_true(port_of(&a) > 0);
    assert_int_equal(usock_fileno(usock_server_socket(s1)) >= 0, 1);
    assert_code(usock_server_new(&s2, &a, h_echo, NULL, NULL), USOCK_EADDRINUSE);
    assert_null(s2);
    usock_server_close(s1);
}

/* Python's allow_reuse_address: SO_REUSEADDR on the server's socket, and
 * only when asked, for stream and datagram servers. */
static void allow_reuse_address_sets_so_reuseaddr(void **state)
{
    (void)state;
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM};
    for (int t = 0; t < 2; t++) {
        for (int on = 0; on <= 1; on++) {
            usock_server *s;
            usock_server_opts o;
            usock_addr a;
            usock_server_opts_init(&o);
            o.type = types[t];
            o.allow_reuse_address = on;
            loopback(&a, AF_INET, 0);
            assert_ok(usock_server_new(&s, &a, h_echo, NULL, &o));
            int v = -1;
            socklen_t len = sizeof v;
            assert_ok(usock_getsockopt(usock_server_socket(s), SOL_SOCKET, SO_REUSEADDR, &v, &len));
            if ((v != 0) != on)
                fail_msg("type %d, allow_reuse_address %d: SO_REUSEADDR is %d", types[t], on, v);
            v = -1;
            len = sizeof v;
            assert_int_equal(getsockopt(usock_fileno(usock_server_socket(s)), SOL_SOCKET,
                                        SO_REUSEADDR, &v, &len),
                             0);
            assert_int_equal(v != 0, on);
            usock_server_close(s);
        }
    }
}

/* How many connections to a, which nobody accepts, complete their
 * handshake: connected one at a time until one does not within
 * HANDSHAKE_MS (its SYN dropped: the accept queue is full) or max did.
 * Loopback handshakes take microseconds; the margin is for a loaded
 * machine. */
#define HANDSHAKE_MS 500

static int handshakes_completed(const usock_addr *a, int max)
{
    int fds[16], done = 0;
    assert_true(max <= 16);
    for (; done < max; done++) {
        int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_true(fd >= 0);
        fds[done] = fd;
        int r = connect(fd, (const struct sockaddr *)&a->ss, a->len);
        assert_true(r == 0 || errno == EINPROGRESS);
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int err = -1;
        socklen_t len = sizeof err;
        if (r != 0 && poll(&pf, 1, HANDSHAKE_MS) != 1)
            break;
        assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
        assert_int_equal(err, 0);
    }
    for (int i = 0; i < done + (done < max); i++)
        close_rst(fds[i]);
    return done;
}

/* Python's request_queue_size is listen()'s backlog. The kernel's accept
 * queue, measured with raw listeners of two backlogs, must be the
 * server's with the same request_queue_size (Linux holds backlog + 1). */
static void request_queue_size_is_the_listen_backlog(void **state)
{
    (void)state;
    static const int backlogs[] = {1, 3};
    int raw[2], srv[2];
    for (int i = 0; i < 2; i++) {
        int port, lfd = raw_listener(AF_INET, backlogs[i], 0, &port);
        usock_addr a;
        loopback(&a, AF_INET, port);
        raw[i] = handshakes_completed(&a, 12);
        close(lfd);
        usock_server *s; /* created, never serving: nobody accepts */
        usock_server_opts o;
        usock_server_opts_init(&o);
        o.request_queue_size = backlogs[i];
        loopback(&a, AF_INET, 0);
        assert_ok(usock_server_new(&s, &a, h_echo, NULL, &o));
        assert_ok(usock_server_address(s, &a));
        srv[i] = handshakes_completed(&a, 12);
        usock_server_close(s);
    }
    if (raw[0] == raw[1] || raw[1] == 12) {
        print_message("the kernel's accept queue does not show the backlog (%d and %d)\n", raw[0],
                      raw[1]);
        skip();
    }
    for (int i = 0; i < 2; i++)
        if (srv[i] != raw[i])
            fail_msg("request_queue_size %d: %d connections queued, listen(%d) queues %d",
                     backlogs[i], srv[i], backlogs[i], raw[i]);
}

/* ---- the seed ------------------------------------------------------------ */

static void upper_example_answers_upper_cased(void **state)
{
    (void)state;
    struct running r;
    usock_server_opts o;
    opts_for(&o, NULL, USOCK_SERVER_SEQUENTIAL, SOCK_STREAM);
    start(&r, AF_INET, h_upper, NULL, &o);
    int fd = client_fd(&r.addr, SOCK_STREAM);
    assert_true(fd >= 0);
    assert_ok(send_all(fd, "hello world\n", 12));
    char buf[64];
    ssize_t n = recv_to_eof(fd, buf, sizeof buf);
    assert_int_equal(n, 11);
    assert_memory_equal(buf, "HELLO WORLD", 11);
    bye(fd);
    stop(&r);
}

/* ---- every mode ---------------------------------------------------------- */

static void each_mode_serves_100_concurrent_clients(void **state)
{
    (void)state;
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        if (skip_forking(modes[m]))
            continue;
        struct shared *sh = shared_new();
        struct running r;
        usock_server_opts o;
        opts_for(&o, sh, modes[m], SOCK_STREAM);
        start(&r, AF_INET, h_echo, sh, &o);
        int n = under_valgrind() ? 20 : 100;
        echo_clients(&r.addr, n, 4000);
        wait_requests(r.srv, (uint64_t)n);
        usock_server_stats st = stats(r.srv);
        assert_int_equal(st.accepted, n);
        assert_int_equal(st.errors, 0);
        assert_int_equal(st.active, 0);
        assert_int_equal(atomic_load(&sh->handled), n);
        stop(&r);
        shared_free(sh);
    }
}

struct bulk {
    int fd;
    const char *data;
    size_t n;
    pthread_t thread;
};

static void *bulk_sender(void *arg)
{
    struct bulk *b = arg;
    send_all(b->fd, b->data, b->n);
    shutdown(b->fd, SHUT_WR);
    return NULL;
}

static void each_mode_moves_10_mb_intact(void **state)
{
    (void)state;
    const size_t n = 10u << 20;
    char *data = malloc(n), *buf = malloc(65536);
    assert_non_null(data);
    assert_non_null(buf);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (char)(x >> 23);
    }
    uint64_t want = fnv(FNV0, data, n);
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        if (skip_forking(modes[m]))
            continue;
        struct shared *sh = shared_new();
        struct running r;
        usock_server_opts o;
        opts_for(&o, sh, modes[m], SOCK_STREAM);
        start(&r, AF_INET, h_echo, sh, &o);
        struct bulk b = {.fd = client_fd(&r.addr, SOCK_STREAM), .data = data, .n = n};
        assert_true(b.fd >= 0);
        assert_int_equal(pthread_create(&b.thread, NULL, bulk_sender, &b), 0);
        uint64_t h = FNV0, total = 0;
        ssize_t k;
        while ((k = recv_wait(b.fd, buf, 65536, EXPECT_MS)) > 0) {
            h = fnv(h, buf, (size_t)k);
            total += (uint64_t)k;
        }
        pthread_join(b.thread, NULL);
        bye(b.fd);
        assert_int_equal(k, 0);
        assert_int_equal(total, n);
        assert_true(h == want); /* what came back */
        wait_requests(r.srv, 1);
        assert_int_equal(atomic_load(&sh->got), n);
        assert_true(atomic_load(&sh->sum) == want); /* what the handler got */
        usock_server_stats st = stats(r.srv);
        assert_int_equal(st.bytes_in, n);
        assert_int_equal(st.bytes_out, n);
        stop(&r);
        shared_free(sh);
    }
    free(data);
    free(buf);
}

static void each_mode_counts_exactly(void **state)
{
    (void)state;
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        if (skip_forking(modes[m]))
            continue;
        struct shared *sh = shared_new();
        struct running r;
        usock_server_opts o;
        opts_for(&o, sh, modes[m], SOCK_STREAM);
        start(&r, AF_INET, h_echo, sh, &o);
        usock_server_stats st = stats(r.srv);
        assert_int_equal(st.accepted + st.requests + st.bytes_in + st.bytes_out, 0);
        for (int i = 0; i < 3; i++) {
            char msg[100], back[200];
            memset(msg, 'a' + i, sizeof msg);
            int fd = client_fd(&r.addr, SOCK_STREAM);
            assert_true(fd >= 0);
            assert_ok(send_all(fd, msg, 100 - (size_t)i));
            shutdown(fd, SHUT_WR);
            assert_int_equal(recv_to_eof(fd, back, sizeof back), 100 - i);
            bye(fd);
        }
        wait_requests(r.srv, 3);
        st = stats(r.srv);
        assert_int_equal(st.accepted, 3);
        assert_int_equal(st.requests, 3);
        assert_int_equal(st.active, 0);
        assert_int_equal(st.errors, 0);
        assert_int_equal(st.bytes_in, 297);
        assert_int_equal(st.bytes_out, 297);
        stop(&r);
        shared_free(sh);
    }
}

/* ---- datagrams ----------------------------------------------------------- */

/* n datagrams, one at a time, each answered upper-cased. */
static void datagrams_answered(const usock_addr *server, int client, int n, uint64_t *bytes)
{
    char msg[64], want[64], got[128];
    *bytes = 0;
    for (int i = 0; i < n; i++) {
        int len = snprintf(msg, sizeof msg, "datagram number %d", i);
        for (int k = 0; k <= len; k++)
            want[k] = msg[k] >= 'a' && msg[k] <= 'z' ? (char)(msg[k] - 'a' + 'A') : msg[k];
        assert_int_equal(
            sendto(client, msg, (size_t)len, 0, (const struct sockaddr *)&server->ss, server->len),
            len);
        ssize_t k = recv_wait(client, got, sizeof got, EXPECT_MS);
        if (k != len || memcmp(got, want, (size_t)len) != 0)
            fail_msg("datagram %d: got %zd bytes", i, k);
        *bytes += (uint64_t)len;
    }
}

static void each_mode_answers_1000_datagrams(void **state)
{
    (void)state;
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        if (skip_forking(modes[m]))
            continue;
        struct shared *sh = shared_new();
        struct running r;
        usock_server_opts o;
        opts_for(&o, sh, modes[m], SOCK_DGRAM);
        start(&r, AF_INET, h_dgram, sh, &o);
        int port, fd = raw_bound(AF_INET, SOCK_DGRAM, &port);
        int n = under_valgrind()                                     ? 100
                : modes[m] == USOCK_SERVER_FORKING && instrumented() ? 200
                                                                     : 1000;
        uint64_t bytes;
        datagrams_answered(&r.addr, fd, n, &bytes);
        bye(fd);
        wait_requests(r.srv, (uint64_t)n);
        usock_server_stats st = stats(r.srv);
        assert_int_equal(st.accepted, n);
        assert_int_equal(st.errors, 0);
        assert_int_equal(st.bytes_in, bytes);
        assert_int_equal(st.bytes_out, bytes);
        assert_int_equal(atomic_load(&sh->handled), n);
        stop(&r);
        shared_free(sh);
    }
}

/* ---- families ------------------------------------------------------------ */

static void ipv6_server_echoes(void **state)
{
    (void)state;
    if (!have_ipv6())
        skip();
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    opts_for(&o, sh, USOCK_SERVER_THREADING, SOCK_STREAM);
    start(&r, AF_INET6, h_echo, sh, &o);
    assert_int_equal(r.addr.ss.ss_family, AF_INET6);
    echo_clients(&r.addr, 4, 1000);
    assert_int_equal(atomic_load(&sh->peer_family), AF_INET6);
    stop(&r);
    shared_free(sh);
}

static void dualstack_server_takes_ipv4(void **state)
{
    (void)state;
    if (!have_ipv6())
        skip();
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    usock_addr any, v4;
    opts_for(&o, sh, USOCK_SERVER_SEQUENTIAL, SOCK_STREAM);
    o.dualstack = 1;
    assert_ok(usock_addr_from_ip(&any, "::", 0));
    start_at(&r, &any, h_echo, sh, &o);
    loopback(&v4, AF_INET, port_of(&r.addr));
    echo_clients(&v4, 2, 500);
    assert_int_equal(atomic_load(&sh->peer_family), AF_INET6); /* ::ffff:127.0.0.1 */
    stop(&r);
    shared_free(sh);
}

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/usock-server-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
}

static void unix_stream_server_echoes(void **state)
{
    (void)state;
    char path[128];
    make_tmpdir();
    snprintf(path, sizeof path, "%s/stream.sock", tmpdir);
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    usock_addr a;
    assert_ok(usock_addr_from_path(&a, path));
    opts_for(&o, sh, USOCK_SERVER_POOL, SOCK_STREAM);
    start_at(&r, &a, h_echo, sh, &o);
    assert_int_equal(r.addr.ss.ss_family, AF_UNIX);
    echo_clients(&a, 8, 3000);
    assert_int_equal(atomic_load(&sh->peer_family), AF_UNIX);
    stop(&r);
    shared_free(sh);
    unlink(path);
    rmdir(tmpdir);
}

static void unix_datagram_server_answers(void **state)
{
    (void)state;
    char path[128], cpath[128];
    make_tmpdir();
    snprintf(path, sizeof path, "%s/dgram.sock", tmpdir);
    snprintf(cpath, sizeof cpath, "%s/client.sock", tmpdir);
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    usock_addr a, ca;
    assert_ok(usock_addr_from_path(&a, path));
    assert_ok(usock_addr_from_path(&ca, cpath));
    opts_for(&o, sh, USOCK_SERVER_THREADING, SOCK_DGRAM);
    start_at(&r, &a, h_dgram, sh, &o);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&ca.ss, ca.len), 0);
    uint64_t bytes;
    datagrams_answered(&a, fd, 50, &bytes);
    bye(fd);
    wait_requests(r.srv, 50);
    assert_int_equal(stats(r.srv).bytes_out, bytes);
    stop(&r);
    shared_free(sh);
    unlink(path);
    unlink(cpath);
    rmdir(tmpdir);
}

static void unix_abstract_server_echoes(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof name, "@usock-test-server-%ld", (long)getpid());
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    usock_addr a;
    assert_ok(usock_addr_from_path(&a, name));
    opts_for(&o, sh, USOCK_SERVER_SEQUENTIAL, SOCK_STREAM);
    start_at(&r, &a, h_echo, sh, &o);
    echo_clients(&a, 3, 100);
    assert_int_equal(atomic_load(&sh->handled), 3);
    stop(&r);
    shared_free(sh);
}

/* ---- shutdown ------------------------------------------------------------ */

/* A poll interval far longer than any bound below: a shutdown that waited
 * for the end of the turn would show. */
#define LONG_POLL 5.0
#define WELL_UNDER_LONG_POLL_MS 2500

/* Python's shutdown() with serve_forever in its poll wait: the waker ends
 * the wait at once, whatever the poll interval. Handlers in threads,
 * workers and children go on (their connections stay open), and
 * server_close (block_on_close) waits for them. A sequential handler runs
 * in serve_forever's own turn, which ends with it: then serve_forever
 * returns as soon as the handler does. */
static void shutdown_from_another_thread_while_handlers_run(void **state)
{
    (void)state;
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        if (skip_forking(modes[m]))
            continue;
        struct shared *sh = shared_new();
        struct running r;
        usock_server_opts o;
        opts_for(&o, sh, modes[m], SOCK_STREAM);
        usock_addr a;
        loopback(&a, AF_INET, 0);
        start_polling(&r, &a, h_hold, sh, &o, LONG_POLL);
        int n = modes[m] == USOCK_SERVER_SEQUENTIAL ? 1 : 3, fds[3];
        for (int i = 0; i < n; i++) {
            fds[i] = hold_client(&r.addr, 'h');
            expect_byte(fds[i], 'h'); /* its handler now blocks in a read */
        }
        assert_int_equal(stats(r.srv).active, n);
        struct bg_call sd;
        long long t0 = mono_ms();
        bg_start(&sd, r.srv, 0);
        if (modes[m] == USOCK_SERVER_SEQUENTIAL) {
            /* The turn under way is the handler's: shutdown waits for it,
             * and the handler is not interrupted. */
            assert_false(bg_returned_within(&sd, QUIET_MS * 4));
            expect_silence(fds[0]);
            t0 = mono_ms();
            bye(fds[0]);
        }
        bg_join(&sd);
        assert_ok(sd.rc);
        if (sd.returned_ms - t0 >= WELL_UNDER_LONG_POLL_MS)
            fail_msg("mode %d: shutdown took %lld ms with a %.0f s poll interval", modes[m],
                     sd.returned_ms - t0, LONG_POLL);
        pthread_join(r.thread, NULL);
        assert_int_equal(r.rc, 0);
        assert_ok(usock_server_shutdown(r.srv)); /* not serving: at once */
        if (modes[m] != USOCK_SERVER_SEQUENTIAL) {
            /* The handlers still run, their connections open. */
            assert_int_equal(stats(r.srv).active, n);
            for (int i = 0; i < n; i++)
                expect_silence(fds[i]);
            struct bg_call cl;
            bg_start(&cl, r.srv, 1);
            assert_false(bg_returned_within(&cl, QUIET_MS * 4)); /* block_on_close */
            for (int i = 0; i < n; i++)
                bye(fds[i]);
            bg_join(&cl);
        } else {
            assert_int_equal(stats(r.srv).requests, 1);
            usock_server_close(r.srv);
        }
        assert_int_equal(atomic_load(&sh->handled), n);
        shared_free(sh);
    }
}

static void shutdown_from_own_thread_is_edeadlk(void **state)
{
    (void)state;
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    opts_for(&o, sh, USOCK_SERVER_SEQUENTIAL, SOCK_STREAM);
    start(&r, AF_INET, h_hold, sh, &o);
    int fd = hold_client(&r.addr, 'S');
    expect_byte(fd, 'S');
    bye(fd);
    pthread_join(r.thread, NULL); /* the request stands: it returns */
    assert_int_equal(r.rc, 0);
    assert_code(atomic_load(&sh->deadlk), USOCK_EDEADLK);
    usock_server_close(r.srv);
    shared_free(sh);
}

static usock_server *volatile sig_server;

static void on_sigusr1(int sig)
{
    (void)sig;
    usock_server_request_shutdown(sig_server);
}

struct kicker {
    pthread_t target, thread;
    usock_addr addr;
    int status;
};

static void *kicker_main(void *arg)
{
    struct kicker *k = arg;
    int fd = client_fd(&k->addr, SOCK_STREAM);
    char c = 'k';
    k->status = fd < 0 ? fd : send_all(fd, &c, 1);
    if (k->status == 0)
        k->status = recv_wait(fd, &c, 1, EXPECT_MS) == 1 ? 0 : -EIO;
    if (fd >= 0)
        bye(fd);
    pthread_kill(k->target, SIGUSR1);
    return NULL;
}

static void request_shutdown_from_a_signal_handler(void **state)
{
    (void)state;
    struct shared *sh = shared_new();
    usock_server *s;
    usock_server_opts o;
    usock_addr a;
    struct sigaction sa = {0}, old;
    opts_for(&o, sh, USOCK_SERVER_SEQUENTIAL, SOCK_STREAM);
    loopback(&a, AF_INET, 0);
    assert_ok(usock_server_new(&s, &a, h_hold, sh, &o));
    sig_server = s;
    sa.sa_handler = on_sigusr1;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    struct kicker k = {.target = pthread_self(), .status = -1};
    assert_ok(usock_server_address(s, &k.addr));
    assert_int_equal(pthread_create(&k.thread, NULL, kicker_main, &k), 0);
    assert_ok(usock_server_serve_forever(s, 60.0)); /* only the signal ends it */
    pthread_join(k.thread, NULL);
    sigaction(SIGUSR1, &old, NULL);
    assert_int_equal(k.status, 0);
    assert_int_equal(stats(s).requests, 1);
    usock_server_close(s);
    shared_free(sh);
}

static void serve_forever_twice_at_once_is_ebusy(void **state)
{
    (void)state;
    struct running r;
    usock_server_opts o;
    opts_for(&o, NULL, USOCK_SERVER_SEQUENTIAL, SOCK_STREAM);
    start(&r, AF_INET, h_echo, NULL, &o);
    echo_clients(&r.addr, 1, 10); /* serving now */
    assert_code(usock_server_serve_forever(r.srv, 0.1), USOCK_EBUSY);
    assert_code(usock_server_handle_request(r.srv), USOCK_EBUSY);
    stop(&r);
}

/* ---- errors and hooks ---------------------------------------------------- */

static void failing_handler_goes_to_handle_error(void **state)
{
    (void)state;
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    opts_for(&o, sh, USOCK_SERVER_SEQUENTIAL, SOCK_STREAM);
    o.handle_error = on_error;
    start(&r, AF_INET, h_hold, sh, &o);
    int fd = hold_client(&r.addr, 'F');
    char c;
    assert_int_equal(recv_wait(fd, &c, 1, EXPECT_MS), 0); /* closed */
    bye(fd);
    fd = hold_client(&r.addr, 'n'); /* the next one is served */
    expect_byte(fd, 'n');
    bye(fd);
    wait_requests(r.srv, 2);
    assert_int_equal(atomic_load(&sh->errors_seen), 1);
    assert_code(atomic_load(&sh->last_error), USOCK_EPROTO);
    assert_int_equal(atomic_load(&sh->peer_family), AF_INET);
    assert_int_equal(stats(r.srv).errors, 1);
    assert_false(log_has(sh, "Exception")); /* the user's handle_error only */
    stop(&r);
    shared_free(sh);
}

static void default_handle_error_writes_one_log_line(void **state)
{
    (void)state;
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    opts_for(&o, sh, USOCK_SERVER_THREADING, SOCK_STREAM);
    start(&r, AF_INET, h_hold, sh, &o);
    int fd = hold_client(&r.addr, 'F');
    char c;
    assert_int_equal(recv_wait(fd, &c, 1, EXPECT_MS), 0);
    bye(fd);
    wait_requests(r.srv, 1);
    assert_true(log_has(sh, "Exception occurred during processing of request from 127.0.0.1:"));
    assert_true(log_has(sh, "EPROTO"));
    pthread_mutex_lock(&sh->log_mu);
    char *nl = strchr(sh->log, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0'); /* one line */
    pthread_mutex_unlock(&sh->log_mu);
    stop(&r);
    shared_free(sh);
}

/* The whole of a temporary file, NUL-ended, into buf. */
static void file_text(FILE *f, char *buf, size_t cap)
{
    fflush(f);
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
}

/* Without a log callback the server's line goes to standard error, and
 * nothing to standard output. Descriptors 1 and 2 are files meanwhile, so
 * nothing in between asserts. */
static void default_log_goes_to_stderr_not_stdout(void **state)
{
    (void)state;
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    opts_for(&o, sh, USOCK_SERVER_THREADING, SOCK_STREAM);
    o.log = NULL;
    start(&r, AF_INET, h_hold, sh, &o);
    FILE *out = tmpfile(), *err = tmpfile();
    assert_non_null(out);
    assert_non_null(err);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    assert_true(saved_out >= 0 && saved_err >= 0);
    assert_true(dup2(fileno(out), 1) == 1 && dup2(fileno(err), 2) == 2);
    int fd = client_fd(&r.addr, SOCK_STREAM), closed = 0;
    char c = 'F';
    if (fd >= 0 && send_all(fd, &c, 1) == 0)
        closed = recv_wait(fd, &c, 1, EXPECT_MS) == 0; /* failed */
    if (fd >= 0)
        bye(fd);
    long long end = mono_ms() + EXPECT_MS;
    while (stats(r.srv).requests < 1 && mono_ms() < end)
        sleep_ms(1);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    assert_true(fd >= 0);
    assert_true(closed);
    wait_requests(r.srv, 1);
    char got_out[256], got_err[1024];
    file_text(out, got_out, sizeof got_out);
    file_text(err, got_err, sizeof got_err);
    fclose(out);
    fclose(err);
    stop(&r);
    shared_free(sh);
    if (got_out[0])
        fail_msg("standard output got \"%s\"", got_out);
    const char *want = "Exception occurred during processing of request from 127.0.0.1:";
    if (strncmp(got_err, want, strlen(want)) != 0 || !strstr(got_err, ": EPROTO (") ||
        strchr(got_err, '\n') != got_err + strlen(got_err) - 1)
        fail_msg("standard error got \"%s\", want one line \"%s...: EPROTO (...)\"", got_err, want);
}

static void conn_timeout_bounds_a_silent_client(void **state)
{
    (void)state;
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    opts_for(&o, sh, USOCK_SERVER_POOL, SOCK_STREAM);
    o.conn_timeout = 0.1;
    o.handle_error = on_error;
    start(&r, AF_INET, h_hold, sh, &o);
    int fd = client_fd(&r.addr, SOCK_STREAM); /* says nothing */
    assert_true(fd >= 0);
    char c;
    assert_int_equal(recv_wait(fd, &c, 1, EXPECT_MS), 0); /* the server gave up */
    bye(fd);
    wait_requests(r.srv, 1);
    assert_code(atomic_load(&sh->last_error), USOCK_ETIMEDOUT);
    assert_int_equal(stats(r.srv).errors, 1);
    stop(&r);
    shared_free(sh);
}

static void verify_request_refuses_a_peer(void **state)
{
    (void)state;
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    opts_for(&o, sh, USOCK_SERVER_THREADING, SOCK_STREAM);
    o.verify_request = on_verify;
    start(&r, AF_INET, h_hold, sh, &o);
    atomic_store(&sh->refuse, 1);
    int fd = client_fd(&r.addr, SOCK_STREAM);
    assert_true(fd >= 0);
    char c;
    assert_int_equal(recv_wait(fd, &c, 1, EXPECT_MS), 0); /* closed unserved */
    bye(fd);
    wait_accepted(r.srv, 1);
    atomic_store(&sh->refuse, 0);
    fd = hold_client(&r.addr, 'y');
    expect_byte(fd, 'y');
    bye(fd);
    wait_requests(r.srv, 1);
    assert_int_equal(atomic_load(&sh->handled), 1);
    assert_int_equal(stats(r.srv).accepted, 2);
    stop(&r);
    shared_free(sh);
}

static void handle_request_times_out_then_serves_one(void **state)
{
    (void)state;
    struct shared *sh = shared_new();
    usock_server *s;
    usock_server_opts o;
    usock_addr a;
    opts_for(&o, sh, USOCK_SERVER_SEQUENTIAL, SOCK_STREAM);
    o.timeout = 0.1;
    o.handle_timeout = on_timeout;
    loopback(&a, AF_INET, 0);
    assert_ok(usock_server_new(&s, &a, h_upper, sh, &o));
    assert_ok(usock_server_address(s, &a));
    long long t0 = mono_ms();
    assert_code(usock_server_handle_request(s), USOCK_ETIMEDOUT);
    assert_true(mono_ms() - t0 >= 90);
    assert_int_equal(atomic_load(&sh->timeouts), 1);
    int fd1 = client_fd(&a, SOCK_STREAM), fd2 = client_fd(&a, SOCK_STREAM);
    assert_ok(send_all(fd1, "one", 3));
    assert_ok(send_all(fd2, "two", 3));
    assert_ok(usock_server_handle_request(s)); /* exactly one */
    char buf[8];
    assert_int_equal(recv_to_eof(fd1, buf, sizeof buf), 3);
    assert_memory_equal(buf, "ONE", 3);
    usock_server_stats st = stats(s);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.requests, 1);
    expect_silence(fd2);
    assert_ok(usock_server_handle_request(s));
    assert_int_equal(recv_to_eof(fd2, buf, sizeof buf), 3);
    assert_memory_equal(buf, "TWO", 3);
    assert_int_equal(atomic_load(&sh->timeouts), 1);
    bye(fd1);
    bye(fd2);
    usock_server_close(s);
    shared_free(sh);
}

/* handle_request in threading, pool and forking mode: takes exactly one
 * request, hands it on and returns; the next stays in the backlog. With
 * nothing to take it calls handle_timeout after opts.timeout. */
static void handle_request_hands_on_one_in_each_mode(void **state)
{
    (void)state;
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        if (modes[m] == USOCK_SERVER_SEQUENTIAL || skip_forking(modes[m]))
            continue;
        struct shared *sh = shared_new();
        usock_server *s;
        usock_server_opts o;
        usock_addr a;
        opts_for(&o, sh, modes[m], SOCK_STREAM);
        o.timeout = 0.1;
        o.handle_timeout = on_timeout;
        loopback(&a, AF_INET, 0);
        assert_ok(usock_server_new(&s, &a, h_upper, sh, &o));
        assert_ok(usock_server_address(s, &a));
        long long t0 = mono_ms();
        assert_code(usock_server_handle_request(s), USOCK_ETIMEDOUT);
        assert_true(mono_ms() - t0 >= 90);
        assert_int_equal(atomic_load(&sh->timeouts), 1);
        int fd1 = client_fd(&a, SOCK_STREAM), fd2 = client_fd(&a, SOCK_STREAM);
        assert_true(fd1 >= 0 && fd2 >= 0);
        assert_ok(send_all(fd1, "one", 3));
        assert_ok(send_all(fd2, "two", 3));
        assert_ok(usock_server_handle_request(s)); /* exactly one, handed on */
        assert_int_equal(stats(s).accepted, 1);
        char buf[8];
        assert_int_equal(recv_to_eof(fd1, buf, sizeof buf), 3);
        assert_memory_equal(buf, "ONE", 3);
        expect_silence(fd2);
        assert_int_equal(stats(s).accepted, 1);
        assert_ok(usock_server_handle_request(s));
        assert_int_equal(recv_to_eof(fd2, buf, sizeof buf), 3);
        assert_memory_equal(buf, "TWO", 3);
        wait_requests(s, 2);
        assert_code(usock_server_handle_request(s), USOCK_ETIMEDOUT); /* and again */
        assert_int_equal(atomic_load(&sh->timeouts), 2);
        usock_server_stats st = stats(s);
        assert_int_equal(st.accepted, 2);
        assert_int_equal(st.errors, 0);
        bye(fd1);
        bye(fd2);
        usock_server_close(s);
        shared_free(sh);
    }
}

static void service_actions_runs_every_turn(void **state)
{
    (void)state;
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    opts_for(&o, sh, USOCK_SERVER_SEQUENTIAL, SOCK_STREAM);
    o.service_actions = on_actions;
    start(&r, AF_INET, h_echo, sh, &o);
    long long end = mono_ms() + 10000;
    while (atomic_load(&sh->actions) < 5 && mono_ms() < end)
        sleep_ms(5);
    assert_true(atomic_load(&sh->actions) >= 5); /* 50 ms turns, no client */
    echo_clients(&r.addr, 1, 10);
    stop(&r);
    shared_free(sh);
}

/* ---- forking ------------------------------------------------------------- */

static void forking_child_crash_is_logged_and_counted(void **state)
{
    (void)state;
    if (skip_forking(USOCK_SERVER_FORKING))
        skip();
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    opts_for(&o, sh, USOCK_SERVER_FORKING, SOCK_STREAM);
    start(&r, AF_INET, h_hold, sh, &o);
    int fd = hold_client(&r.addr, 'C');
    char c;
    ssize_t k = recv_wait(fd, &c, 1, EXPECT_MS);
    assert_true(k == 0 || k == -ECONNRESET);
    bye(fd);
    long long end = mono_ms() + 10000;
    while (stats(r.srv).errors < 1 && mono_ms() < end)
        sleep_ms(2);
    assert_int_equal(stats(r.srv).errors, 1);
    fd = hold_client(&r.addr, 'n');
    expect_byte(fd, 'n');
    bye(fd);
    wait_requests(r.srv, 1); /* the crashed one never returned */
    usock_server_stats st = stats(r.srv);
    assert_int_equal(st.accepted, 2);
    assert_int_equal(st.errors, 1);
    stop(&r);
    assert_true(log_has(sh, "killed by signal") || log_has(sh, "exited with status"));
    shared_free(sh);
}

static void forking_honours_max_children(void **state)
{
    (void)state;
    if (skip_forking(USOCK_SERVER_FORKING))
        skip();
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    opts_for(&o, sh, USOCK_SERVER_FORKING, SOCK_STREAM);
    o.max_children = 2;
    start(&r, AF_INET, h_hold, sh, &o);
    int a = hold_client(&r.addr, 'a');
    int b = hold_client(&r.addr, 'b');
    expect_byte(a, 'a');
    expect_byte(b, 'b');
    int c = hold_client(&r.addr, 'c');
    expect_silence(c); /* two children run: the third waits */
    assert_int_equal(stats(r.srv).accepted, 2);
    assert_int_equal(stats(r.srv).active, 2);
    bye(a);
    expect_byte(c, 'c'); /* one ended: the third is served */
    bye(b);
    bye(c);
    wait_requests(r.srv, 3);
    assert_int_equal(stats(r.srv).errors, 0);
    stop(&r);
    shared_free(sh);
}

/* ---- pool ---------------------------------------------------------------- */

static void pool_with_full_queue_makes_accept_wait(void **state)
{
    (void)state;
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    opts_for(&o, sh, USOCK_SERVER_POOL, SOCK_STREAM);
    o.workers = 1;
    o.queue_size = 2;
    start(&r, AF_INET, h_hold, sh, &o);
    int fd[6];
    for (int i = 0; i < 6; i++)
        fd[i] = hold_client(&r.addr, (char)('0' + i));
    expect_byte(fd[0], '0');
    wait_accepted(r.srv, 3); /* one in the worker's hands, two queued */
    expect_silence(fd[1]);
    assert_int_equal(stats(r.srv).accepted, 3); /* the rest wait in the backlog */
    for (int i = 0; i < 6; i++) {               /* nobody dropped: each served in turn */
        if (i > 0)
            expect_byte(fd[i], (char)('0' + i));
        bye(fd[i]);
    }
    wait_requests(r.srv, 6);
    assert_int_equal(stats(r.srv).accepted, 6);
    assert_int_equal(stats(r.srv).errors, 0);
    stop(&r);
    shared_free(sh);
}

static void threading_close_without_blocking_leaves_handlers_running(void **state)
{
    (void)state;
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    opts_for(&o, sh, USOCK_SERVER_THREADING, SOCK_STREAM);
    o.block_on_close = 0;
    start(&r, AF_INET, h_hold, sh, &o);
    int fd = hold_client(&r.addr, 'q');
    expect_byte(fd, 'q');
    assert_ok(usock_server_shutdown(r.srv));
    pthread_join(r.thread, NULL);
    usock_server_close(r.srv);                    /* returns with the handler still running */
    assert_int_equal(send_all(fd, "more", 4), 0); /* it still reads */
    bye(fd);                                      /* it ends, and frees the server */
    sleep_ms(QUIET_MS);
    shared_free(sh);
}

/* block_on_close without daemon_threads: server_close waits until the
 * last handler has returned. */
static void threading_close_blocks_until_handlers_end(void **state)
{
    (void)state;
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    opts_for(&o, sh, USOCK_SERVER_THREADING, SOCK_STREAM);
    assert_int_equal(o.block_on_close, 1);
    assert_int_equal(o.daemon_threads, 0);
    start(&r, AF_INET, h_hold, sh, &o);
    int fd = hold_client(&r.addr, 'w');
    expect_byte(fd, 'w');
    struct bg_call cl;
    bg_start(&cl, r.srv, 1); /* shuts serve_forever down, then waits */
    assert_false(bg_returned_within(&cl, QUIET_MS * 4));
    expect_silence(fd); /* the handler is not interrupted */
    bye(fd);            /* it returns: so does server_close */
    bg_join(&cl);
    pthread_join(r.thread, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(atomic_load(&sh->handled), 1);
    shared_free(sh);
}

/* daemon_threads: handler threads are detached, never waited for, even
 * with block_on_close. server_close returns at once with a handler still
 * running, closing the listener; the handler goes on serving its client,
 * and being the last to end, frees the server (its descriptors go). */
static void threading_daemon_threads_close_returns_at_once(void **state)
{
    (void)state;
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    int before = count_fds();
    opts_for(&o, sh, USOCK_SERVER_THREADING, SOCK_STREAM);
    o.daemon_threads = 1;
    assert_int_equal(o.block_on_close, 1);
    start(&r, AF_INET, h_echo, sh, &o);
    int fd = client_fd(&r.addr, SOCK_STREAM);
    assert_true(fd >= 0);
    assert_ok(send_all(fd, "d", 1));
    expect_byte(fd, 'd'); /* the handler now blocks in a read */
    struct bg_call cl;
    bg_start(&cl, r.srv, 1);
    if (!bg_returned_within(&cl, EXPECT_MS)) {
        bye(fd);
        fail_msg("server_close waited for a daemon thread");
    }
    pthread_join(cl.thread, NULL);
    pthread_join(r.thread, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(client_fd(&r.addr, SOCK_STREAM), -ECONNREFUSED); /* no listener */
    char buf[4];
    assert_ok(send_all(fd, "more", 4)); /* the handler still serves */
    raw_recv_exact(fd, buf, 4);
    assert_memory_equal(buf, "more", 4);
    assert_true(count_fds() > before); /* the server's waker and poll */
    bye(fd);
    long long end = mono_ms() + EXPECT_MS;
    while (count_fds() != before && mono_ms() < end)
        sleep_ms(1);
    assert_int_equal(count_fds(), before); /* freed by the handler's thread */
    assert_int_equal(atomic_load(&sh->got), 5);
    assert_int_equal(atomic_load(&sh->handled), 1);
    shared_free(sh);
}

/* Pool without block_on_close: server_close closes the queued connections
 * unserved; it still joins the workers, so it waits for the handlers they
 * run (docs/server.md, Pool). */
static void pool_close_without_blocking_drops_the_queue(void **state)
{
    (void)state;
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    opts_for(&o, sh, USOCK_SERVER_POOL, SOCK_STREAM);
    o.workers = 1;
    o.queue_size = 2;
    o.block_on_close = 0;
    start(&r, AF_INET, h_hold, sh, &o);
    int a = hold_client(&r.addr, 'a');
    expect_byte(a, 'a'); /* in the worker's hands */
    int q[2] = {hold_client(&r.addr, 'b'), hold_client(&r.addr, 'c')};
    wait_accepted(r.srv, 3); /* both queued */
    struct bg_call cl;
    bg_start(&cl, r.srv, 1);
    for (int i = 0; i < 2; i++) {
        char c;
        ssize_t k = recv_wait(q[i], &c, 1, EXPECT_MS);
        if (k != 0 && k != -ECONNRESET)
            fail_msg("a queued client got %zd, want its connection closed unserved", k);
    }
    assert_false(bg_returned_within(&cl, QUIET_MS * 4)); /* the worker is joined */
    expect_silence(a);
    bye(a);
    bg_join(&cl);
    pthread_join(r.thread, NULL);
    assert_int_equal(r.rc, 0);
    bye(q[0]);
    bye(q[1]);
    assert_int_equal(atomic_load(&sh->handled), 1);
    shared_free(sh);
}

/* Forking without block_on_close: server_close returns with a child still
 * running; the child goes on serving its client and exits by itself, and
 * the server, gone, does not reap it: the process does. */
static void forking_close_without_blocking_leaves_children_running(void **state)
{
    (void)state;
    if (skip_forking(USOCK_SERVER_FORKING))
        skip();
    struct shared *sh = shared_new();
    struct running r;
    usock_server_opts o;
    opts_for(&o, sh, USOCK_SERVER_FORKING, SOCK_STREAM);
    o.block_on_close = 0;
    start(&r, AF_INET, h_echo, sh, &o);
    int fd = client_fd(&r.addr, SOCK_STREAM);
    assert_true(fd >= 0);
    assert_ok(send_all(fd, "f", 1));
    expect_byte(fd, 'f');
    pid_t pid = (pid_t)atomic_load(&sh->pid);
    assert_true(pid > 0 && pid != getpid());
    struct bg_call cl;
    bg_start(&cl, r.srv, 1);
    if (!bg_returned_within(&cl, EXPECT_MS)) {
        bye(fd);
        fail_msg("server_close waited for a child");
    }
    pthread_join(cl.thread, NULL);
    pthread_join(r.thread, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(waitpid(pid, NULL, WNOHANG), 0); /* running, not reaped */
    char buf[4];
    assert_ok(send_all(fd, "more", 4)); /* and still serving */
    raw_recv_exact(fd, buf, 4);
    assert_memory_equal(buf, "more", 4);
    bye(fd);
    int st = -1;
    pid_t w;
    while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
    }
    assert_int_equal(w, pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(atomic_load(&sh->got), 5); /* its request, to the end */
    shared_free(sh);
}

/* ---- memory stays flat ------------------------------------------------------ */

static long rss_kib(void)
{
    long size = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &res) != 2)
        res = -1;
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

struct shorty {
    const usock_addr *addr;
    int count, status;
    pthread_t thread;
};

static void *shorty_main(void *arg)
{
    struct shorty *c = arg;
    for (int i = 0; i < c->count && c->status == 0; i++) {
        int fd = client_fd(c->addr, SOCK_STREAM);
        if (fd < 0) {
            c->status = fd;
            break;
        }
        char ch = 'x';
        if (send_all(fd, &ch, 1) < 0 || recv_wait(fd, &ch, 1, EXPECT_MS) != 1 || ch != 'X')
            c->status = -EIO;
        close_rst(fd);
    }
    return NULL;
}

static void short_connections(const usock_addr *a, int n)
{
    struct shorty c[4];
    for (int i = 0; i < 4; i++) {
        c[i] = (struct shorty){.addr = a, .count = n / 4};
        assert_int_equal(pthread_create(&c[i].thread, NULL, shorty_main, &c[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(c[i].thread, NULL);
        assert_int_equal(c[i].status, 0);
    }
}

/* One byte in, one byte out, upper-cased. */
static int h_one(usock_request *rq)
{
    char c;
    ssize_t n = usock_recv(rq->sock, &c, 1);
    if (n <= 0)
        return (int)n;
    c = (char)(c - 'a' + 'A');
    return usock_sendall(rq->sock, &c, 1);
}

static void memory_stays_flat(int mode)
{
    struct running r;
    usock_server_opts o;
    opts_for(&o, NULL, mode, SOCK_STREAM);
    start(&r, AF_INET, h_one, NULL, &o);
    int total = instrumented() ? 2000 : 100000;
    short_connections(&r.addr, 1000);
    long before = rss_kib();
    short_connections(&r.addr, total - 1000);
    long after = rss_kib();
    wait_requests(r.srv, (uint64_t)total);
    assert_int_equal(stats(r.srv).errors, 0);
    stop(&r);
    if (instrumented())
        return;
    assert_true(before > 0);
    if (after - before > 1024)
        fail_msg("RSS grew from %ld KiB to %ld KiB over %d connections", before, after, total);
}

static void threading_memory_stays_flat(void **state)
{
    (void)state;
    memory_stays_flat(USOCK_SERVER_THREADING);
}

static void pool_memory_stays_flat(void **state)
{
    (void)state;
    memory_stays_flat(USOCK_SERVER_POOL);
}

/* ---- out of descriptors -------------------------------------------------- */

struct emfile_shared {
    struct shared base; /* h_hold's */
    atomic_int port;
    atomic_int logged;
    atomic_int stop;
    atomic_int expect;
    atomic_int result; /* the child's verdict: 0 ok; its exit status is valgrind's under valgrind */
    atomic_int mode;
};

static void emfile_log(const char *line, void *udata)
{
    struct emfile_shared *es = udata;
    if (strstr(line, "EMFILE"))
        atomic_store(&es->logged, 1);
}

/* The child: a server (threading, pool or forking) under a descriptor
 * limit a few above what it has open, serving until told to stop. Exits 0
 * when it served on to the end and counted every connection. */
static int emfile_child(struct emfile_shared *es)
{
    alarm(120);
    int open_fds = 0;
    for (int fd = 0; fd < 4096; fd++)
        open_fds += fcntl(fd, F_GETFD) != -1;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = (rlim_t)open_fds + 24;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 10;
    struct running r = {.poll_interval = 0.05};
    usock_server_opts o;
    usock_addr a;
    usock_server_opts_init(&o);
    o.mode = atomic_load(&es->mode);
    o.request_queue_size = 128;
    o.log = emfile_log;
    /* A pool whose queue outgrows the descriptors: it runs out before the
     * queue fills. A forked child costs the server one descriptor. */
    o.workers = 4;
    o.queue_size = 64;
    loopback(&a, AF_INET, 0);
    if (usock_server_new(&r.srv, &a, h_hold, es, &o) < 0 || usock_server_address(r.srv, &a) < 0)
        return 11;
    if (pthread_create(&r.thread, NULL, serve_main, &r) != 0)
        return 12;
    atomic_store(&es->port, port_of(&a));
    while (!atomic_load(&es->stop))
        sleep_ms(5);
    usock_server_shutdown(r.srv);
    pthread_join(r.thread, NULL);
    usock_server_stats st;
    usock_server_stats_get(r.srv, &st);
    usock_server_close(r.srv);
    if (r.rc != 0)
        return 13;
    /* valgrind emulates the limit by closing a descriptor the kernel gave
     * above it: those connections are lost, and not counted. */
    if (atomic_load(&es->expect) >= 0 && st.accepted != (uint64_t)atomic_load(&es->expect))
        return 1000 + (int)st.accepted;
    if (st.errors != 0)
        return 15;
    return 0;
}

/* CPU seconds (user + system) a process has used, from /proc. */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    assert_non_null(p);
    unsigned long ut = 0, st = 0;
    /* After the name: state, then fields 4..13, then utime and stime. */
    assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st),
                     2);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void emfile_backs_off_and_recovers_in(int mode)
{
    struct emfile_shared *es =
        mmap(NULL, sizeof *es, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(es != MAP_FAILED);
    memset(es, 0, sizeof *es);
    atomic_store(&es->result, -1);
    atomic_store(&es->mode, mode);
    enum { N = 40 };
    atomic_store(&es->expect, under_valgrind() ? -1 : N + 1);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        atomic_store(&es->result, emfile_child(es));
        _exit(0);
    }
    long long end = mono_ms() + 20000;
    while (!atomic_load(&es->port) && mono_ms() < end)
        sleep_ms(5);
    assert_true(atomic_load(&es->port) > 0);
    usock_addr a;
    loopback(&a, AF_INET, atomic_load(&es->port));
    int fd[N];
    for (int i = 0; i < N; i++)
        fd[i] = hold_client(&a, 'e');
    expect_byte(fd[0], 'e');
    while (!atomic_load(&es->logged) && mono_ms() < end)
        sleep_ms(5);
    assert_true(atomic_load(&es->logged)); /* it ran out, and said so */
    double c0 = cpu_seconds(pid);
    long long t0 = mono_ms();
    sleep_ms(1000);
    double used = cpu_seconds(pid) - c0, wall = (double)(mono_ms() - t0) / 1000.0;
    if (!under_valgrind() && used > 0.5 * wall)
        fail_msg("the server used %.2f s of CPU in %.2f s while out of descriptors", used, wall);
    assert_int_equal(waitpid(pid, NULL, WNOHANG), 0); /* still running */
    for (int i = 0; i < N; i++)
        bye(fd[i]);
    int z = hold_client(&a, 'z'); /* served again once descriptors are free */
    expect_byte(z, 'z');
    bye(z);
    atomic_store(&es->stop, 1);
    int status = -1;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    int result = atomic_load(&es->result);
    munmap(es, sizeof *es);
    assert_true(WIFEXITED(status));
    assert_int_equal(result, 0);
}

static void emfile_backs_off_and_recovers(void **state)
{
    (void)state;
    emfile_backs_off_and_recovers_in(USOCK_SERVER_THREADING);
}

static void pool_emfile_backs_off_and_recovers(void **state)
{
    (void)state;
    emfile_backs_off_and_recovers_in(USOCK_SERVER_POOL);
}

static void forking_emfile_backs_off_and_recovers(void **state)
{
    (void)state;
    if (skip_forking(USOCK_SERVER_FORKING))
        skip();
    emfile_backs_off_and_recovers_in(USOCK_SERVER_FORKING);
}

/* ---- every test leaves no descriptor behind ------------------------------ */

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        n += fcntl(fd, F_GETFD) != -1;
    return n;
}

static int fds_before;

static int fd_setup(void **state)
{
    (void)state;
    fds_before = count_fds();
    return 0;
}

static int fd_teardown(void **state)
{
    (void)state;
    long long end = mono_ms() + 3000; /* a detached handler may still be ending */
    while (count_fds() != fds_before && mono_ms() < end)
        sleep_ms(5);
    if (count_fds() != fds_before) {
        fprintf(stderr, "descriptors: %d before the test, %d after\n", fds_before, count_fds());
        return -1;
    }
    return 0;
}

#define T(name) cmocka_unit_test_setup_teardown(name, fd_setup, fd_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(opts_defaults_are_pythons),
        T(new_rejects_bad_arguments),
        T(new_reports_address_in_use),
        T(allow_reuse_address_sets_so_reuseaddr),
        T(request_queue_size_is_the_listen_backlog),
        T(upper_example_answers_upper_cased),
        T(each_mode_serves_100_concurrent_clients),
        T(each_mode_moves_10_mb_intact),
        T(each_mode_counts_exactly),
        T(each_mode_answers_1000_datagrams),
        T(ipv6_server_echoes),
        T(dualstack_server_takes_ipv4),
        T(unix_stream_server_echoes),
        T(unix_datagram_server_answers),
        T(unix_abstract_server_echoes),
        T(shutdown_from_another_thread_while_handlers_run),
        T(shutdown_from_own_thread_is_edeadlk),
        T(request_shutdown_from_a_signal_handler),
        T(serve_forever_twice_at_once_is_ebusy),
        T(failing_handler_goes_to_handle_error),
        T(default_handle_error_writes_one_log_line),
        T(default_log_goes_to_stderr_not_stdout),
        T(conn_timeout_bounds_a_silent_client),
        T(verify_request_refuses_a_peer),
        T(handle_request_times_out_then_serves_one),
        T(handle_request_hands_on_one_in_each_mode),
        T(service_actions_runs_every_turn),
        T(forking_child_crash_is_logged_and_counted),
        T(forking_honours_max_children),
        T(pool_with_full_queue_makes_accept_wait),
        T(threading_close_without_blocking_leaves_handlers_running),
        T(threading_close_blocks_until_handlers_end),
        T(threading_daemon_threads_close_returns_at_once),
        T(pool_close_without_blocking_drops_the_queue),
        T(forking_close_without_blocking_leaves_children_running),
        T(threading_memory_stays_flat),
        T(pool_memory_stays_flat),
        T(emfile_backs_off_and_recovers),
        T(pool_emfile_backs_off_and_recovers),
        T(forking_emfile_backs_off_and_recovers),
    };
    start_watchdog(240);
    if (getenv("USOCK_TEST_FILTER"))
        cmocka_set_test_filter(getenv("USOCK_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
