/* test_tls.c -- the TLS layer (tls.h): contexts and their setters; a
 * usock client against openssl s_server; each certificate failure with its
 * own code; minimum versions; usock client and server in one process
 * (echo, 1 MiB each way, ALPN, client certificates); timeouts; deferred and
 * non-blocking handshakes driven by poll, and poll's rule for bytes
 * buffered inside OpenSSL; Python's ssl module as a peer both ways; EOF
 * without close_notify; close frees everything.
 *
 * Certificates are made per run by tls_certs.sh (openssl command) in a
 * fresh temporary directory. Every peer is on loopback: in-process threads,
 * or child processes (openssl s_server, python3) started with posix_spawn
 * under coreutils' timeout, killed by their PID in each test's teardown
 * (and by the watchdog) even when a test fails. Every wait is bounded;
 * durations are never asserted, only upper bounds that catch a hang. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "helpers.h"
#include "usock/tls.h"

extern char **environ;

/* ======================================================================== */
/* fixtures: certificates, child processes, peers                            */

static char certdir[128];

/* The path of a file of the run's certificate directory (a ring of
 * buffers: a few may be used in one call). */
static const char *cert(const char *name)
{
    static char ring[8][256];
    static int next;
    char *p = ring[next++ % 8];
    path_in(p, 256, certdir, name);
    return p;
}

static int is_tls_code(long long r)
{
    return r <= USOCK_ETLS && r >= USOCK_ETLS_FILE;
}

/* ---- child processes ---------------------------------------------------- */

#define MAX_CHILDREN 8
static volatile pid_t children[MAX_CHILDREN];

static void children_add(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == 0) {
            children[i] = pid;
            return;
        }
    fail_msg("too many child processes");
}

static void children_forget(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == pid)
            children[i] = 0;
}

/* Waits (bounded by ms) for pid to end; its wait status, or -1 when it is
 * still running. */
static int child_reap(pid_t pid, int ms)
{
    double end = now_s() + ms / 1000.0;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0)
            return 0; /* not ours any more */
        if (now_s() > end)
            return -1;
        sleep_ms(5);
    }
}

/* Ends one child we started: SIGTERM (coreutils' timeout passes it on to
 * the program it runs), SIGKILL if it lingers. */
static void child_kill(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    if (child_reap(pid, 3000) == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    children_forget(pid);
}

static void children_kill_all(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] > 0)
            child_kill(children[i]);
}

/* The watchdog (SIGALRM) ends the program: take the children with it. */
static void on_alarm(int sig)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] > 0) {
            kill(-children[i], SIGKILL); /* timeout made itself a group leader */
            kill(children[i], SIGKILL);
        }
    static const char msg[] = "test_tls: watchdog fired\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Starts argv under `timeout 120` (so that nothing outlives a killed test
 * program for long), stdin from /dev/null, stdout into out_fd and stderr
 * into err_fd (-1: /dev/null). Returns its PID, registered for teardown. */
static pid_t spawn(const char *const *argv, int out_fd, int err_fd)
{
    const char *full[32] = {"timeout", "120"};
    int n = 2;
    for (int i = 0; argv[i]; i++) {
        assert_true(n < 31);
        full[n++] = argv[i];
    }
    full[n] = NULL;
    posix_spawn_file_actions_t fa;
    assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    else
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (err_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    else
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    /* The child starts with default signal handling and nothing blocked. */
    posix_spawnattr_t at;
    assert_int_equal(posix_spawnattr_init(&at), 0);
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGALRM);
    sigaddset(&def, SIGTERM);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int r = posix_spawnp(&pid, full[0], &fa, &at, (char *const *)full, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (r != 0)
        fail_msg("posix_spawnp %s: %s", argv[0], strerror(r));
    children_add(pid);
    return pid;
}

/* Reads from fd into buf (NUL-ended) until EOF or cap - 1 bytes, bounded
 * by ms in all; returns the length. */
static size_t read_until_eof(int fd, char *buf, size_t cap, int ms)
{
    size_t n = 0;
    double end = now_s() + ms / 1000.0;
    while (n + 1 < cap) {
        int left = (int)((end - now_s()) * 1000);
        if (left <= 0)
            break;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, left) <= 0)
            continue;
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

/* One line from fd (through '\n', which is dropped), bounded by ms. */
static int read_line_fd(int fd, char *buf, size_t cap, int ms)
{
    size_t n = 0;
    double end = now_s() + ms / 1000.0;
    while (n + 1 < cap) {
        int left = (int)((end - now_s()) * 1000);
        if (left <= 0)
            break;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, left) <= 0)
            continue;
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (ch == '\n') {
            buf[n] = '\0';
            return 0;
        }
        buf[n++] = ch;
    }
    buf[n] = '\0';
    return -1;
}

/* A whole (small) file as text, for messages; "" when unreadable. */
static const char *log_text(const char *path)
{
    static char buf[2048];
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r = read(fd, buf, sizeof buf - 1);
        buf[r > 0 ? r : 0] = '\0';
        close(fd);
    }
    return buf;
}

/* ---- addresses ----------------------------------------------------------- */

static void addr_of(usock_addr *a, const char *ip, int port)
{
    assert_ok(usock_addr_from_ip(a, ip, port));
}

/* A port nobody listens on now, on ip (bound, read, closed). */
static int free_port(const char *ip)
{
    usock_addr a;
    addr_of(&a, ip, 0);
    int fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a.ss, a.len), 0);
    a.len = sizeof a.ss;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a.ss, &a.len), 0);
    close(fd);
    return port_of(&a);
}

/* 1 when a socket can be bound to ip here (127.0.0.2 on Linux, ::1 where
 * there is IPv6). */
static int can_bind(const char *ip)
{
    usock_addr a;
    if (usock_addr_from_ip(&a, ip, 0) != 0)
        return 0;
    int fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int ok = bind(fd, (struct sockaddr *)&a.ss, a.len) == 0;
    close(fd);
    return ok;
}

/* 1 when something accepts a TCP connection at ip:port. */
static int accepts(const char *ip, int port)
{
    usock_addr a;
    addr_of(&a, ip, port);
    int fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int ok = connect(fd, (struct sockaddr *)&a.ss, a.len) == 0;
    close(fd);
    return ok;
}

/* ---- openssl s_server ---------------------------------------------------- */

struct sserver {
    pid_t pid;
    int port;
    char ip[64];
    char log[256];
};

/* Starts `openssl s_server -www -accept IP:PORT ARGS...` on a free port
 * and waits (bounded) until it accepts. args: its -cert/-key and options,
 * NULL-ended. -www answers "GET /" with "HTTP/1.0 200 ok" and a status
 * page, then closes. */
static void sserver_start(struct sserver *sv, const char *ip, const char *const *args)
{
    static int serial;
    memset(sv, 0, sizeof *sv);
    snprintf(sv->ip, sizeof sv->ip, "%s", ip);
    snprintf(sv->log, sizeof sv->log, "%s/s_server-%d.log", certdir, serial++);
    for (int attempt = 0; attempt < 3; attempt++) {
        sv->port = free_port(ip);
        char accept_arg[96];
        if (strchr(ip, ':'))
            snprintf(accept_arg, sizeof accept_arg, "[%s]:%d", ip, sv->port);
        else
            snprintf(accept_arg, sizeof accept_arg, "%s:%d", ip, sv->port);
        const char *argv[32] = {"openssl", "s_server", "-www", "-accept", accept_arg};
        int n = 5;
        for (int i = 0; args[i]; i++) {
            assert_true(n < 31);
            argv[n++] = args[i];
        }
        argv[n] = NULL;
        int logfd = open(sv->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(logfd >= 0);
        sv->pid = spawn(argv, logfd, logfd);
        close(logfd);
        double end = now_s() + EXPECT_MS / 1000.0;
        while (now_s() < end) {
            if (accepts(ip, sv->port))
                return;
            if (child_reap(sv->pid, 0) != -1) { /* it ended: the port was taken? */
                children_forget(sv->pid);
                sv->pid = 0;
                break;
            }
            sleep_ms(10);
        }
        if (sv->pid) {
            child_kill(sv->pid);
            sv->pid = 0;
        }
    }
    fail_msg("openssl s_server did not start: %s", log_text(sv->log));
}

static void sserver_stop(struct sserver *sv)
{
    child_kill(sv->pid);
    sv->pid = 0;
}

/* s_server with a certificate (and server.key) and more options. */
#define SSERVER(sv, ip, certname, ...)                                                            \
    do {                                                                                          \
        const char *args_[] = {"-cert", cert(certname), "-key", cert("server.key"), __VA_ARGS__}; \
        sserver_start((sv), (ip), args_);                                                         \
    } while (0)

/* ---- contexts and connections -------------------------------------------- */

/* A client context that trusts the test CA (cafile NULL: the system's). */
static usock_tls_ctx *client_ctx(const char *cafile)
{
    usock_tls_ctx *c;
    assert_ok(usock_tls_ctx_new(&c, USOCK_TLS_CLIENT));
    if (cafile)
        assert_ok(usock_tls_ctx_load_verify(c, cafile, NULL));
    return c;
}

/* A server context with server.pem and its key. */
static usock_tls_ctx *server_ctx(void)
{
    usock_tls_ctx *c;
    assert_ok(usock_tls_ctx_new(&c, USOCK_TLS_SERVER));
    assert_ok(usock_tls_ctx_load_cert_chain(c, cert("server.pem"), cert("server.key")));
    return c;
}

/* Connects to ip:port (5 s timeout) and wraps; returns what wrap gave, the
 * socket in *out either way (the caller closes it). */
static int connect_tls(usock_tls_ctx *c, const char *ip, int port, const char *hostname, int flags,
                       usock **out)
{
    assert_ok(usock_create_connection(out, ip, port, 5.0, NULL));
    return usock_tls_wrap(c, *out, hostname, flags);
}

/* Accepts on l (bounded), 5 s timeout, wraps on the server side. */
static int accept_tls(usock *l, usock_tls_ctx *c, int flags, usock **out)
{
    assert_ok(usock_settimeout(l, 5.0));
    assert_ok(usock_accept(l, out, NULL));
    assert_ok(usock_settimeout(*out, 5.0));
    return usock_tls_wrap(c, *out, NULL, flags);
}

/* Exactly n bytes from s (recv in a loop), asserting each recv moves. */
static void recv_exact(usock *s, void *buf, size_t n)
{
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = usock_recv(s, p + got, n - got);
        if (r <= 0)
            fail_msg("recv after %zu of %zu bytes = %zd (%s)", got, n, r,
                     r < 0 ? usock_errname((int)r) : "EOF");
        got += (size_t)r;
    }
}

/* Sends a GET to an s_server -www through s and reads the answer to EOF:
 * asserts its status line. */
static void expect_status_page(usock *s)
{
    static const char get[] = "GET / HTTP/1.0\r\n\r\n";
    assert_ok(usock_sendall(s, get, sizeof get - 1));
    char *body = NULL;
    size_t len = 0;
    assert_ok(usock_readall(s, &body, &len));
    assert_non_null(body);
    if (len < 15 || memcmp(body, "HTTP/1.0 200 ok", 15) != 0)
        fail_msg("s_server answered %zu bytes: \"%.60s\"", len, body);
    free(body);
}

/* A client of ctx to the server sv gets the status page. */
static void expect_page_from(struct sserver *sv, usock_tls_ctx *c, const char *hostname)
{
    usock *s;
    assert_ok(connect_tls(c, sv->ip, sv->port, hostname, 0, &s));
    expect_status_page(s);
    assert_ok(usock_close(s));
}

/* A client of ctx to sv fails its handshake with want; the detail says
 * something (and holds needle, case aside, when not NULL); every later call
 * on the socket fails with the same code. */
static void expect_handshake_error(struct sserver *sv, usock_tls_ctx *c, const char *hostname,
                                   int want, const char *needle)
{
    usock *s;
    assert_code(connect_tls(c, sv->ip, sv->port, hostname, 0, &s), want);
    const char *d = usock_tls_detail(s);
    assert_non_null(d);
    if (d[0] == '\0')
        fail_msg("usock_tls_detail is empty after %s", usock_errname(want));
    if (needle && !strcasestr(d, needle))
        fail_msg("usock_tls_detail is \"%s\", want it to mention \"%s\"", d, needle);
    assert_int_equal(usock_tls_active(s), 1);
    char buf[16];
    assert_code(usock_recv(s, buf, sizeof buf), want);
    assert_code(usock_send(s, "x", 1), want);
    assert_code(usock_sendall(s, "x", 1), want);
    assert_ok(usock_close(s));
}

/* ---- in-process peers (threads) -------------------------------------------- */

/* A peer thread: a server (accepts on listener) or a client (connects to
 * loopback af:port), wraps with ctx, then runs body. It never asserts (cmocka
 * is not for threads): it writes its first failure into err, which
 * peer_join turns into the test's failure. Heap-allocated, so that a test
 * that fails before joining leaves it nothing dangling to write to. */
struct peer;
typedef int (*peer_body)(struct peer *p, usock *s);
struct peer {
    pthread_t thread;
    usock_tls_ctx *ctx;
    usock *listener;
    int af, port;
    const char *hostname;
    int flags;
    double timeout;
    peer_body before; /* on the plain socket, before the wrap (STARTTLS) */
    peer_body body;
    size_t n;
    int go[2];
    int wrap_rc, reused;
    char version[16], alpn[64], detail[256];
    char err[512];
};

__attribute__((format(printf, 3, 4))) static void peer_fail(struct peer *p, int line,
                                                            const char *fmt, ...)
{
    if (p->err[0])
        return;
    int k = snprintf(p->err, sizeof p->err, "line %d: ", line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + k, sizeof p->err - (size_t)k, fmt, ap);
    va_end(ap);
}

#define PFAIL(p, ...)                          \
    do {                                       \
        peer_fail((p), __LINE__, __VA_ARGS__); \
        return -1;                             \
    } while (0)
#define PCHECK(p, cond)            \
    do {                           \
        if (!(cond))               \
            PFAIL(p, "%s", #cond); \
    } while (0)
#define PCODE(p, expr, want)                                                                  \
    do {                                                                                      \
        long long g_ = (long long)(expr), w_ = (long long)(want);                             \
        if (g_ != w_)                                                                         \
            PFAIL(p, "%s = %lld (%s), want %lld (%s)", #expr, g_, usock_errname((int)g_), w_, \
                  usock_errname((int)w_));                                                    \
    } while (0)

/* The test lets the peer go on (peer_go); the peer waits for it, bounded. */
static void peer_go(struct peer *p)
{
    assert_int_equal(write(p->go[1], "g", 1), 1);
}

static int peer_wait(struct peer *p)
{
    struct pollfd pf = {.fd = p->go[0], .events = POLLIN};
    char ch;
    if (poll(&pf, 1, 2 * EXPECT_MS) != 1 || read(p->go[0], &ch, 1) != 1) {
        peer_fail(p, __LINE__, "the test never said go");
        return -1;
    }
    return 0;
}

static void *peer_main(void *arg)
{
    struct peer *p = arg;
    usock *s = NULL;
    int r;
    if (p->listener) {
        r = usock_accept(p->listener, &s, NULL);
        if (r < 0) {
            peer_fail(p, __LINE__, "accept: %s", usock_errname(r));
            return NULL;
        }
    } else {
        usock_addr a;
        loopback(&a, p->af, p->port);
        r = usock_socket(&s, p->af, SOCK_STREAM, 0);
        if (r == 0)
            r = usock_settimeout(s, p->timeout);
        if (r == 0)
            r = usock_connect(s, &a);
        if (r < 0) {
            peer_fail(p, __LINE__, "connect: %s", usock_errname(r));
            usock_close(s);
            return NULL;
        }
    }
    usock_settimeout(s, p->timeout);
    if (p->before && p->before(p, s) != 0) {
        usock_close(s);
        return NULL;
    }
    p->wrap_rc = usock_tls_wrap(p->ctx, s, p->hostname, p->flags);
    snprintf(p->detail, sizeof p->detail, "%s",
             usock_tls_detail(s) ? usock_tls_detail(s) : "(NULL)");
    if (p->wrap_rc == 0 && !(p->flags & USOCK_TLS_DEFER_HANDSHAKE)) {
        const char *v = usock_tls_version(s), *al = usock_tls_alpn(s);
        snprintf(p->version, sizeof p->version, "%s", v ? v : "(NULL)");
        snprintf(p->alpn, sizeof p->alpn, "%s", al ? al : "(NULL)");
        p->reused = usock_tls_session_reused(s);
    }
    if (p->body)
        p->body(p, s);
    usock_close(s);
    return NULL;
}

static struct peer *peer_new(usock_tls_ctx *ctx, peer_body body)
{
    struct peer *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->ctx = ctx;
    p->body = body;
    p->af = AF_INET;
    p->timeout = 5.0;
    assert_int_equal(pipe2(p->go, O_CLOEXEC), 0);
    return p;
}

/* A server peer on a new listener; *port is where to connect. */
static struct peer *server_peer(usock_tls_ctx *ctx, peer_body body, usock **listener, int *port)
{
    struct peer *p = peer_new(ctx, body);
    *listener = listening(AF_INET, port);
    assert_ok(usock_settimeout(*listener, 5.0));
    p->listener = *listener;
    assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
    return p;
}

/* A client peer to loopback:port checking "localhost". */
static struct peer *client_peer(usock_tls_ctx *ctx, peer_body body, int port)
{
    struct peer *p = peer_new(ctx, body);
    p->port = port;
    p->hostname = "localhost";
    assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
    return p;
}

/* Joins the peer; its failure becomes the test's. */
static void peer_join(struct peer *p)
{
    pthread_join(p->thread, NULL);
    if (p->err[0])
        fail_msg("peer: %s", p->err);
}

static void peer_free(struct peer *p)
{
    close(p->go[0]);
    close(p->go[1]);
    free(p);
}

/* Peer bodies: exactly n bytes from s. */
static int precv_exact(struct peer *p, usock *s, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = usock_recv(s, buf + got, n - got);
        if (r <= 0)
            PFAIL(p, "recv after %zu of %zu = %zd (%s)", got, n, r,
                  r < 0 ? usock_errname((int)r) : "EOF");
        got += (size_t)r;
    }
    return 0;
}

/* Echoes everything until EOF. */
static int echo_body(struct peer *p, usock *s)
{
    if (p->wrap_rc != 0)
        PFAIL(p, "wrap = %s (%s)", usock_errname(p->wrap_rc), p->detail);
    char buf[16384];
    for (;;) {
        ssize_t r = usock_recv(s, buf, sizeof buf);
        if (r == 0)
            return 0;
        if (r < 0)
            PFAIL(p, "echo recv: %s", usock_errname((int)r));
        PCODE(p, usock_sendall(s, buf, (size_t)r), 0);
    }
}

/* ---- fixtures of the group and of each test -------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    temp_dir_make(certdir, sizeof certdir);
    const char *argv[] = {"sh", USOCK_SOURCE_DIR "/tests/unit/tls_certs.sh", certdir, NULL};
    char logpath[256];
    path_in(logpath, sizeof logpath, certdir, "tls_certs.log");
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(logfd >= 0);
    pid_t pid = spawn(argv, logfd, logfd);
    close(logfd);
    int st = child_reap(pid, 30000);
    children_forget(pid);
    if (st == -1) {
        child_kill(pid);
        fail_msg("tls_certs.sh did not finish");
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("tls_certs.sh failed (status %d): %s", st, log_text(logpath));
    unlink(logpath);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    children_kill_all();
    char capath[256];
    path_in(capath, sizeof capath, certdir, "capath");
    temp_dir_remove(capath);
    temp_dir_remove(certdir);
    return 0;
}

static int test_setup(void **state)
{
    (void)state;
    start_watchdog(120);
    return 0;
}

/* Runs even when the test failed: no child outlives its test. */
static int test_teardown(void **state)
{
    (void)state;
    children_kill_all();
    return 0;
}

#define T(name) cmocka_unit_test_setup_teardown(name, test_setup, test_teardown)

/* ======================================================================== */
/* 1. contexts and arguments                                                  */

static void ctx_new_checks_its_arguments(void **state)
{
    (void)state;
    usock_tls_ctx *c = NULL;
    assert_code(usock_tls_ctx_new(NULL, USOCK_TLS_CLIENT), USOCK_EINVAL);
    assert_code(usock_tls_ctx_new(&c, 2), USOCK_EINVAL);
    assert_code(usock_tls_ctx_new(&c, -1), USOCK_EINVAL);
    assert_ok(usock_tls_ctx_new(&c, USOCK_TLS_CLIENT));
    assert_non_null(c);
    usock_tls_ctx_free(c);
    c = NULL;
    assert_ok(usock_tls_ctx_new(&c, USOCK_TLS_SERVER));
    assert_non_null(c);
    usock_tls_ctx_free(c);
    usock_tls_ctx_free(NULL);
}

static void setters_refuse_bad_arguments(void **state)
{
    (void)state;
    usock_tls_ctx *c;
    assert_ok(usock_tls_ctx_new(&c, USOCK_TLS_CLIENT));
    /* verify_mode */
    assert_code(usock_tls_ctx_set_verify(NULL, USOCK_TLS_CERT_REQUIRED), USOCK_EINVAL);
    assert_code(usock_tls_ctx_set_verify(c, 3), USOCK_EINVAL);
    assert_code(usock_tls_ctx_set_verify(c, -1), USOCK_EINVAL);
    assert_ok(usock_tls_ctx_set_verify(c, USOCK_TLS_CERT_NONE));
    assert_ok(usock_tls_ctx_set_verify(c, USOCK_TLS_CERT_REQUIRED));
    /* check_hostname */
    assert_code(usock_tls_ctx_set_check_hostname(NULL, 1), USOCK_EINVAL);
    assert_ok(usock_tls_ctx_set_check_hostname(c, 0));
    assert_ok(usock_tls_ctx_set_check_hostname(c, 1));
    /* load_verify: no context; neither a file nor a directory (Python's
     * TypeError) */
    assert_code(usock_tls_ctx_load_verify(NULL, cert("ca.pem"), NULL), USOCK_EINVAL);
    assert_code(usock_tls_ctx_load_verify(c, NULL, NULL), USOCK_EINVAL);
    /* load_cert_chain: no context, no certificate file */
    assert_code(usock_tls_ctx_load_cert_chain(NULL, cert("server.pem"), cert("server.key")),
                USOCK_EINVAL);
    assert_code(usock_tls_ctx_load_cert_chain(c, NULL, cert("server.key")), USOCK_EINVAL);
    /* minimum_version: only 1.2 and 1.3 */
    assert_code(usock_tls_ctx_set_min_version(NULL, USOCK_TLS_1_2), USOCK_EINVAL);
    assert_code(usock_tls_ctx_set_min_version(c, 0x0301), USOCK_EINVAL);
    assert_code(usock_tls_ctx_set_min_version(c, 0x0302), USOCK_EINVAL);
    assert_code(usock_tls_ctx_set_min_version(c, 0x0305), USOCK_EINVAL);
    assert_code(usock_tls_ctx_set_min_version(c, 0), USOCK_EINVAL);
    assert_ok(usock_tls_ctx_set_min_version(c, USOCK_TLS_1_3));
    assert_ok(usock_tls_ctx_set_min_version(c, USOCK_TLS_1_2));
    /* ALPN: names of 1..255 bytes */
    const char *good[] = {"h2", "http/1.1"};
    const char *empty[] = {""};
    const char *null_name[] = {"h2", NULL};
    char long_name[300];
    memset(long_name, 'a', 256);
    long_name[256] = '\0';
    const char *too_long[] = {long_name};
    assert_code(usock_tls_ctx_set_alpn(NULL, good, 2), USOCK_EINVAL);
    assert_code(usock_tls_ctx_set_alpn(c, NULL, 2), USOCK_EINVAL);
    assert_code(usock_tls_ctx_set_alpn(c, empty, 1), USOCK_EINVAL);
    assert_code(usock_tls_ctx_set_alpn(c, null_name, 2), USOCK_EINVAL);
    assert_code(usock_tls_ctx_set_alpn(c, too_long, 1), USOCK_EINVAL);
    long_name[255] = '\0';
    assert_ok(usock_tls_ctx_set_alpn(c, too_long, 1));
    assert_ok(usock_tls_ctx_set_alpn(c, good, 2));
    usock_tls_ctx_free(c);
}

static void load_verify_of_a_missing_or_bad_file_is_etls_file(void **state)
{
    (void)state;
    usock_tls_ctx *c;
    assert_ok(usock_tls_ctx_new(&c, USOCK_TLS_CLIENT));
    char missing[256];
    path_in(missing, sizeof missing, certdir, "no-such-file.pem");
    assert_code(usock_tls_ctx_load_verify(c, missing, NULL), USOCK_ETLS_FILE);
    assert_code(usock_tls_ctx_load_verify(c, cert("garbage.pem"), NULL), USOCK_ETLS_FILE);
    /* PEM, but a key, not certificates */
    assert_code(usock_tls_ctx_load_verify(c, cert("ca.key"), NULL), USOCK_ETLS_FILE);
    /* a directory given as the file */
    assert_code(usock_tls_ctx_load_verify(c, certdir, NULL), USOCK_ETLS_FILE);
    /* and the context is still usable */
    assert_ok(usock_tls_ctx_load_verify(c, cert("ca.pem"), NULL));
    assert_ok(usock_tls_ctx_load_verify(c, cert("ca2.pem"), NULL));
    usock_tls_ctx_free(c);
}

static void load_cert_chain_of_a_missing_file_or_a_wrong_key_is_etls_file(void **state)
{
    (void)state;
    usock_tls_ctx *c;
    assert_ok(usock_tls_ctx_new(&c, USOCK_TLS_SERVER));
    char missing[256];
    path_in(missing, sizeof missing, certdir, "no-such-file.pem");
    assert_code(usock_tls_ctx_load_cert_chain(c, missing, cert("server.key")), USOCK_ETLS_FILE);
    assert_code(usock_tls_ctx_load_cert_chain(c, cert("server.pem"), missing), USOCK_ETLS_FILE);
    assert_code(usock_tls_ctx_load_cert_chain(c, cert("garbage.pem"), cert("server.key")),
                USOCK_ETLS_FILE);
    assert_code(usock_tls_ctx_load_cert_chain(c, cert("server.pem"), cert("garbage.pem")),
                USOCK_ETLS_FILE);
    /* a key that is not the certificate's */
    assert_code(usock_tls_ctx_load_cert_chain(c, cert("server.pem"), cert("client.key")),
                USOCK_ETLS_FILE);
    assert_code(usock_tls_ctx_load_cert_chain(c, cert("client.pem"), cert("server.key")),
                USOCK_ETLS_FILE);
    /* keyfile NULL: the key must be in certfile */
    assert_code(usock_tls_ctx_load_cert_chain(c, cert("server.pem"), NULL), USOCK_ETLS_FILE);
    assert_ok(usock_tls_ctx_load_cert_chain(c, cert("server-full.pem"), NULL));
    assert_ok(usock_tls_ctx_load_cert_chain(c, cert("server.pem"), cert("server.key")));
    usock_tls_ctx_free(c);
}

static void wrap_checks_its_arguments(void **state)
{
    (void)state;
    usock_tls_ctx *c = client_ctx(cert("ca.pem"));
    usock *s;
    int peer;
    pair_with_raw_peer(AF_INET, &s, &peer);
    assert_code(usock_tls_wrap(NULL, s, "localhost", 0), USOCK_EINVAL);
    assert_code(usock_tls_wrap(c, NULL, "localhost", 0), USOCK_EINVAL);
    assert_int_equal(usock_tls_active(s), 0);
    /* a datagram socket */
    int port;
    usock *u = bound(AF_INET, SOCK_DGRAM, &port);
    assert_code(usock_tls_wrap(c, u, "localhost", USOCK_TLS_DEFER_HANDSHAKE), USOCK_EINVAL);
    assert_int_equal(usock_tls_active(u), 0);
    usock_close(u);
    /* flags other than USOCK_TLS_DEFER_HANDSHAKE */
    assert_code(usock_tls_wrap(c, s, "localhost", 2), USOCK_EINVAL);
    assert_int_equal(usock_tls_active(s), 0);
    /* deferred: no I/O yet, so the raw peer's silence does not matter */
    assert_ok(usock_tls_wrap(c, s, "localhost", USOCK_TLS_DEFER_HANDSHAKE));
    assert_int_equal(usock_tls_active(s), 1);
    assert_non_null(usock_tls_detail(s));
    assert_string_equal(usock_tls_detail(s), "");
    /* already wrapped */
    assert_code(usock_tls_wrap(c, s, "localhost", 0), USOCK_EINVAL);
    assert_code(usock_tls_wrap(c, s, "localhost", USOCK_TLS_DEFER_HANDSHAKE), USOCK_EINVAL);
    int want = 0;
    assert_code(usock_tls_handshake(NULL, &want), USOCK_EINVAL);
    usock_tls_ctx_free(c);
    assert_ok(usock_close(s));
    close(peer);
}

static void getters_of_a_plain_socket_say_not_tls(void **state)
{
    (void)state;
    usock *s;
    assert_ok(usock_socket(&s, 0, 0, 0));
    assert_null(usock_tls_version(s));
    assert_null(usock_tls_alpn(s));
    assert_int_equal(usock_tls_session_reused(s), 0);
    assert_int_equal(usock_tls_active(s), 0);
    assert_ok(usock_close(s));
    /* and NULL, the getters' "none" as everywhere in usock */
    assert_null(usock_tls_version(NULL));
    assert_null(usock_tls_alpn(NULL));
    assert_int_equal(usock_tls_session_reused(NULL), 0);
    assert_int_equal(usock_tls_active(NULL), 0);
}

/* ======================================================================== */
/* 2. a usock client against openssl s_server                                 */

static void client_gets_the_status_page_of_openssl_s_server(void **state)
{
    (void)state;
    struct sserver sv;
    SSERVER(&sv, "127.0.0.1", "server.pem", NULL);
    usock_tls_ctx *c = client_ctx(cert("ca.pem"));
    usock *s;
    assert_ok(connect_tls(c, sv.ip, sv.port, "localhost", 0, &s));
    assert_int_equal(usock_tls_active(s), 1);
    assert_non_null(usock_tls_version(s));
    assert_string_equal(usock_tls_version(s), "TLSv1.3");
    assert_non_null(usock_tls_alpn(s));
    assert_string_equal(usock_tls_alpn(s), ""); /* none asked for */
    assert_int_equal(usock_tls_session_reused(s), 0);
    assert_string_equal(usock_tls_detail(s), "");
    expect_status_page(s);
    /* After EOF, EOF again. */
    char buf[8];
    assert_count(usock_recv(s, buf, sizeof buf), 0);
    assert_ok(usock_close(s));
    usock_tls_ctx_free(c);
    sserver_stop(&sv);
}

static void readline_and_makefile_work_over_tls(void **state)
{
    (void)state;
    struct sserver sv;
    SSERVER(&sv, "127.0.0.1", "server.pem", NULL);
    usock_tls_ctx *c = client_ctx(cert("ca.pem"));
    usock *s;
    /* readline, then recv: they share the read buffer */
    assert_ok(connect_tls(c, sv.ip, sv.port, "localhost", 0, &s));
    assert_ok(usock_sendall(s, "GET / HTTP/1.0\r\n\r\n", 18));
    expect_readline(s, 128, "HTTP/1.0 200 ok\r\n");
    char buf[64];
    recv_exact(s, buf, 14);
    assert_memory_equal(buf, "Content-type: ", 14);
    expect_readline(s, 128, "text/html\r\n");
    expect_readline(s, 128, "\r\n");
    char *rest = NULL;
    size_t len;
    assert_ok(usock_readall(s, &rest, &len));
    assert_true(len > 0);
    free(rest);
    assert_ok(usock_close(s));
    /* a stdio stream */
    assert_ok(connect_tls(c, sv.ip, sv.port, "localhost", 0, &s));
    FILE *f = usock_makefile(s, "rwb");
    assert_non_null(f);
    assert_true(fprintf(f, "GET / HTTP/1.0\r\n\r\n") > 0);
    assert_int_equal(fflush(f), 0);
    char line[128];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "HTTP/1.0 200 ok\r\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "Content-type: text/html\r\n");
    while (fgets(line, sizeof line, f))
        ;
    assert_true(feof(f));
    assert_int_equal(fclose(f), 0);
    assert_ok(usock_close(s));
    usock_tls_ctx_free(c);
    sserver_stop(&sv);
}

static void second_connection_resumes_the_session(void **state)
{
    (void)state;
    struct sserver sv;
    SSERVER(&sv, "127.0.0.1", "server.pem", NULL);
    usock_tls_ctx *c = client_ctx(cert("ca.pem"));
    usock *s;
    /* the first connection reads to EOF: TLS 1.3 tickets come after the
     * handshake */
    assert_ok(connect_tls(c, sv.ip, sv.port, "localhost", 0, &s));
    assert_int_equal(usock_tls_session_reused(s), 0);
    expect_status_page(s);
    assert_ok(usock_close(s));
    assert_ok(connect_tls(c, sv.ip, sv.port, "localhost", 0, &s));
    assert_int_equal(usock_tls_session_reused(s), 1);
    expect_status_page(s);
    assert_ok(usock_close(s));
    /* another context knows no session */
    usock_tls_ctx *c2 = client_ctx(cert("ca.pem"));
    assert_ok(connect_tls(c2, sv.ip, sv.port, "localhost", 0, &s));
    assert_int_equal(usock_tls_session_reused(s), 0);
    expect_status_page(s);
    assert_ok(usock_close(s));
    usock_tls_ctx_free(c2);
    usock_tls_ctx_free(c);
    sserver_stop(&sv);
}

static void client_over_ipv6_checks_the_ipv6_san(void **state)
{
    (void)state;
    if (!have_ipv6())
        skip();
    struct sserver sv;
    SSERVER(&sv, "::1", "server.pem", NULL);
    usock_tls_ctx *c = client_ctx(cert("ca.pem"));
    expect_page_from(&sv, c, "::1");
    expect_page_from(&sv, c, "localhost");
    usock_tls_ctx_free(c);
    sserver_stop(&sv);
    /* a certificate without ::1 */
    SSERVER(&sv, "::1", "selfsigned.pem", NULL);
    c = client_ctx(cert("selfsigned.pem"));
    expect_handshake_error(&sv, c, "::1", USOCK_ETLS_HOSTNAME, "mismatch");
    usock_tls_ctx_free(c);
    sserver_stop(&sv);
}

/* ======================================================================== */
/* 3. certificate verification: one code per failure                           */

static void system_store_does_not_know_the_test_ca(void **state)
{
    (void)state;
    struct sserver sv;
    SSERVER(&sv, "127.0.0.1", "server.pem", NULL);
    usock_tls_ctx *c = client_ctx(NULL);
    expect_handshake_error(&sv, c, "localhost", USOCK_ETLS_UNKNOWN_CA, NULL);
    usock_tls_ctx_free(c);
    sserver_stop(&sv);
}

static void certificate_of_another_ca_is_etls_unknown_ca(void **state)
{
    (void)state;
    struct sserver sv;
    SSERVER(&sv, "127.0.0.1", "other.pem", NULL);
    usock_tls_ctx *c = client_ctx(cert("ca.pem"));
    expect_handshake_error(&sv, c, "localhost", USOCK_ETLS_UNKNOWN_CA, NULL);
    usock_tls_ctx_free(c);
    sserver_stop(&sv);
}

static void self_signed_certificate_is_etls_unknown_ca(void **state)
{
    (void)state;
    struct sserver sv;
    SSERVER(&sv, "127.0.0.1", "selfsigned.pem", NULL);
    usock_tls_ctx *c = client_ctx(cert("ca.pem"));
    expect_handshake_error(&sv, c, "localhost", USOCK_ETLS_UNKNOWN_CA, NULL);
    usock_tls_ctx_free(c);
    /* trusted as its own CA, it passes */
    c = client_ctx(cert("selfsigned.pem"));
    expect_page_from(&sv, c, "localhost");
    usock_tls_ctx_free(c);
    sserver_stop(&sv);
}

static void expired_certificate_is_etls_expired(void **state)
{
    (void)state;
    struct sserver sv;
    SSERVER(&sv, "127.0.0.1", "expired.pem", NULL);
    usock_tls_ctx *c = client_ctx(cert("ca.pem"));
    expect_handshake_error(&sv, c, "localhost", USOCK_ETLS_EXPIRED, "expired");
    /* NULL server_hostname skips the name, not the dates */
    expect_handshake_error(&sv, c, NULL, USOCK_ETLS_EXPIRED, "expired");
    usock_tls_ctx_free(c);
    sserver_stop(&sv);
}

static void wrong_host_name_is_etls_hostname(void **state)
{
    (void)state;
    struct sserver sv;
    SSERVER(&sv, "127.0.0.1", "wrong.pem", NULL);
    usock_tls_ctx *c = client_ctx(cert("ca.pem"));
    expect_handshake_error(&sv, c, "localhost", USOCK_ETLS_HOSTNAME, "mismatch");
    expect_handshake_error(&sv, c, "127.0.0.1", USOCK_ETLS_HOSTNAME, "mismatch");
    /* the name it has passes */
    expect_page_from(&sv, c, "wrong.example");
    expect_page_from(&sv, c, "WRONG.Example"); /* names compare without case */
    /* NULL: no name check, the chain is still checked */
    expect_page_from(&sv, c, NULL);
    usock_tls_ctx_free(c);
    sserver_stop(&sv);
}

static void ip_address_is_checked_against_the_ip_san(void **state)
{
    (void)state;
    struct sserver sv;
    SSERVER(&sv, "127.0.0.1", "server.pem", NULL);
    usock_tls_ctx *c = client_ctx(cert("ca.pem"));
    expect_page_from(&sv, c, "127.0.0.1");
    usock_tls_ctx_free(c);
    sserver_stop(&sv);
    /* 127.0.0.2 is loopback too, but not in the certificate */
    if (!can_bind("127.0.0.2"))
        skip();
    SSERVER(&sv, "127.0.0.2", "server.pem", NULL);
    c = client_ctx(cert("ca.pem"));
    expect_handshake_error(&sv, c, "127.0.0.2", USOCK_ETLS_HOSTNAME, "mismatch");
    expect_page_from(&sv, c, "localhost");
    usock_tls_ctx_free(c);
    sserver_stop(&sv);
}

/* SNI: s_server switches to server.pem only when the client names
 * "localhost"; otherwise it shows wrong.pem. */
static void host_name_is_sent_as_sni(void **state)
{
    (void)state;
    struct sserver sv;
    SSERVER(&sv, "127.0.0.1", "wrong.pem", "-servername", "localhost", "-cert2", cert("server.pem"),
            "-key2", cert("server.key"), NULL);
    usock_tls_ctx *c = client_ctx(cert("ca.pem"));
    expect_page_from(&sv, c, "localhost");
    usock_tls_ctx_free(c);
    sserver_stop(&sv);
}

/* SNI carries no address: a server that would switch to server.pem for
 * SNI "127.0.0.1" never sees it, shows wrong.pem, and the name check fails. */
static void ip_address_is_not_sent_as_sni(void **state)
{
    (void)state;
    struct sserver sv;
    SSERVER(&sv, "127.0.0.1", "wrong.pem", "-servername", "127.0.0.1", "-cert2", cert("server.pem"),
            "-key2", cert("server.key"), NULL);
    usock_tls_ctx *c = client_ctx(cert("ca.pem"));
    expect_handshake_error(&sv, c, "127.0.0.1", USOCK_ETLS_HOSTNAME, "mismatch");
    usock_tls_ctx_free(c);
    sserver_stop(&sv);
}

static void cert_none_accepts_any_certificate(void **state)
{
    (void)state;
    usock_tls_ctx *c;
    assert_ok(usock_tls_ctx_new(&c, USOCK_TLS_CLIENT));
    assert_ok(usock_tls_ctx_set_verify(c, USOCK_TLS_CERT_NONE));
    static const char *const certs[] = {"expired.pem", "other.pem", "selfsigned.pem", "wrong.pem"};
    for (size_t i = 0; i < sizeof certs / sizeof *certs; i++) {
        struct sserver sv;
        SSERVER(&sv, "127.0.0.1", certs[i], NULL);
        expect_page_from(&sv, c, "localhost");
        sserver_stop(&sv);
    }
    usock_tls_ctx_free(c);
}

static void check_hostname_off_still_checks_the_chain(void **state)
{
    (void)state;
    usock_tls_ctx *c = client_ctx(cert("ca.pem"));
    assert_ok(usock_tls_ctx_set_check_hostname(c, 0));
    struct sserver sv;
    SSERVER(&sv, "127.0.0.1", "wrong.pem", NULL);
    expect_page_from(&sv, c, "localhost");
    sserver_stop(&sv);
    SSERVER(&sv, "127.0.0.1", "other.pem", NULL);
    expect_handshake_error(&sv, c, "localhost", USOCK_ETLS_UNKNOWN_CA, NULL);
    sserver_stop(&sv);
    SSERVER(&sv, "127.0.0.1", "expired.pem", NULL);
    expect_handshake_error(&sv, c, "localhost", USOCK_ETLS_EXPIRED, "expired");
    sserver_stop(&sv);
    usock_tls_ctx_free(c);
}

/* ======================================================================== */
/* 4. protocol versions                                                        */

static void default_client_speaks_tls12_to_a_tls12_server(void **state)
{
    (void)state;
    struct sserver sv;
    SSERVER(&sv, "127.0.0.1", "server.pem", "-tls1_2", NULL);
    usock_tls_ctx *c = client_ctx(cert("ca.pem"));
    usock *s;
    assert_ok(connect_tls(c, sv.ip, sv.port, "localhost", 0, &s));
    assert_string_equal(usock_tls_version(s), "TLSv1.2");
    expect_status_page(s);
    assert_ok(usock_close(s));
    /* TLS 1.2 resumes too */
    assert_ok(connect_tls(c, sv.ip, sv.port, "localhost", 0, &s));
    assert_int_equal(usock_tls_session_reused(s), 1);
    expect_status_page(s);
    assert_ok(usock_close(s));
    usock_tls_ctx_free(c);
    sserver_stop(&sv);
}

static void min_version_13_against_a_tls12_server_is_etls_version(void **state)
{
    (void)state;
    struct sserver sv;
    SSERVER(&sv, "127.0.0.1", "server.pem", "-tls1_2", NULL);
    usock_tls_ctx *c = client_ctx(cert("ca.pem"));
    assert_ok(usock_tls_ctx_set_min_version(c, USOCK_TLS_1_3));
    expect_handshake_error(&sv, c, "localhost", USOCK_ETLS_VERSION, NULL);
    usock_tls_ctx_free(c);
    sserver_stop(&sv);
}

/* ======================================================================== */
/* 5. usock client and usock server in one process                              */

static const char hello[] = "hello over TLS\n";

/* The client peer's body: sends hello, expects it back, closes. */
static int hello_client_body(struct peer *p, usock *s)
{
    if (p->wrap_rc != 0)
        PFAIL(p, "client wrap = %s (%s)", usock_errname(p->wrap_rc), p->detail);
    PCODE(p, usock_sendall(s, hello, sizeof hello - 1), 0);
    char buf[sizeof hello];
    if (precv_exact(p, s, buf, sizeof hello - 1))
        return -1;
    PCHECK(p, memcmp(buf, hello, sizeof hello - 1) == 0);
    return 0;
}

static void echo_between_usock_client_and_server(void **state)
{
    (void)state;
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    usock *l, *s;
    int port;
    struct peer *p = server_peer(sc, echo_body, &l, &port);
    assert_ok(connect_tls(cc, "127.0.0.1", port, "localhost", 0, &s));
    /* each socket holds its context: the caller's references can go now */
    usock_tls_ctx_free(cc);
    usock_tls_ctx_free(sc);
    assert_string_equal(usock_tls_version(s), "TLSv1.3");
    assert_ok(usock_sendall(s, hello, sizeof hello - 1));
    expect_read(s, sizeof hello - 1, hello);
    assert_ok(usock_sendall(s, "a\nbc\n", 5));
    expect_readline(s, 16, "a\n");
    expect_readline(s, 16, "bc\n");
    assert_ok(usock_close(s)); /* close_notify: the echo ends at EOF */
    peer_join(p);
    assert_int_equal(p->wrap_rc, 0);
    assert_string_equal(p->version, "TLSv1.3");
    assert_string_equal(p->alpn, "");
    peer_free(p);
    usock_close(l);
}

static int mib_server_body(struct peer *p, usock *s)
{
    if (p->wrap_rc != 0)
        PFAIL(p, "server wrap = %s (%s)", usock_errname(p->wrap_rc), p->detail);
    char *buf = malloc(p->n);
    PCHECK(p, buf != NULL);
    size_t got = 0;
    while (got < p->n) {
        ssize_t r = usock_recv(s, buf + got, p->n - got);
        if (r <= 0) {
            free(buf);
            PFAIL(p, "recv after %zu = %zd (%s)", got, r, usock_errname((int)r));
        }
        got += (size_t)r;
    }
    for (size_t i = 0; i < p->n; i++)
        if ((unsigned char)buf[i] != pattern(i)) {
            free(buf);
            PFAIL(p, "byte %zu differs", i);
        }
    int r = usock_sendall(s, buf, p->n);
    free(buf);
    PCODE(p, r, 0);
    char ch;
    PCODE(p, usock_recv(s, &ch, 1), 0); /* the client's close_notify */
    return 0;
}

static void one_mib_each_way_with_sendall_and_recv(void **state)
{
    (void)state;
    enum { MIB = 1 << 20 };
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    usock *l, *s;
    int port;
    struct peer *p = peer_new(sc, mib_server_body);
    p->n = MIB;
    l = listening(AF_INET, &port);
    assert_ok(usock_settimeout(l, 5.0));
    p->listener = l;
    p->timeout = 30.0;
    assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
    assert_ok(connect_tls(cc, "127.0.0.1", port, "localhost", 0, &s));
    assert_ok(usock_settimeout(s, 30.0));
    char *out = pattern_buf(MIB);
    assert_ok(usock_sendall(s, out, MIB));
    char *in = malloc(MIB);
    assert_non_null(in);
    size_t got = 0;
    while (got < MIB) {
        ssize_t r = usock_recv(s, in + got, MIB - got);
        if (r <= 0)
            fail_msg("recv after %zu = %zd (%s)", got, r, usock_errname((int)r));
        got += (size_t)r;
    }
    assert_memory_equal(in, out, MIB);
    assert_ok(usock_close(s));
    peer_join(p);
    peer_free(p);
    free(in);
    free(out);
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

/* ALPN: client offer, server list, what both sides see. */
static void expect_alpn(const char *const *offer, size_t n_offer, const char *const *have,
                        size_t n_have, const char *want)
{
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    if (n_have)
        assert_ok(usock_tls_ctx_set_alpn(sc, have, n_have));
    if (n_offer)
        assert_ok(usock_tls_ctx_set_alpn(cc, offer, n_offer));
    usock *l, *s;
    int port;
    struct peer *p = server_peer(sc, echo_body, &l, &port);
    assert_ok(connect_tls(cc, "127.0.0.1", port, "localhost", 0, &s));
    assert_non_null(usock_tls_alpn(s));
    if (strcmp(usock_tls_alpn(s), want) != 0)
        fail_msg("ALPN, client offers %s%s, server has %s%s: the client sees \"%s\", want \"%s\"",
                 n_offer ? offer[0] : "nothing", n_offer > 1 ? ",..." : "",
                 n_have ? have[0] : "nothing", n_have > 1 ? ",..." : "", usock_tls_alpn(s), want);
    assert_ok(usock_sendall(s, "x", 1));
    expect_recv(s, 1, "x");
    assert_ok(usock_close(s));
    peer_join(p);
    if (strcmp(p->alpn, want) != 0)
        fail_msg("ALPN: the server sees \"%s\", want \"%s\"", p->alpn, want);
    peer_free(p);
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

static void alpn_picks_the_common_protocol(void **state)
{
    (void)state;
    const char *http11[] = {"http/1.1"};
    const char *both[] = {"h2", "http/1.1"};
    const char *h2[] = {"h2"};
    expect_alpn(http11, 1, http11, 1, "http/1.1");
    expect_alpn(both, 2, http11, 1, "http/1.1");
    /* the server picks the first of its own list that the client offers
     * (tls.h; as OpenSSL's, Python's and nginx's servers) */
    const char *reversed[] = {"http/1.1", "h2"};
    expect_alpn(both, 2, both, 2, "h2");
    expect_alpn(reversed, 2, both, 2, "h2");
    expect_alpn(both, 2, reversed, 2, "http/1.1");
    /* nothing in common, or nothing offered: on without ALPN */
    expect_alpn(h2, 1, http11, 1, "");
    expect_alpn(NULL, 0, http11, 1, "");
    expect_alpn(http11, 1, NULL, 0, "");
}

/* Deferred on a blocking socket: the first send does the handshake. */
static void deferred_handshake_happens_at_the_first_send(void **state)
{
    (void)state;
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    usock *l, *s;
    int port;
    struct peer *p = server_peer(sc, echo_body, &l, &port);
    assert_ok(connect_tls(cc, "127.0.0.1", port, "localhost", USOCK_TLS_DEFER_HANDSHAKE, &s));
    assert_int_equal(usock_tls_active(s), 1);
    assert_ok(usock_sendall(s, hello, sizeof hello - 1));
    assert_string_equal(usock_tls_version(s), "TLSv1.3");
    expect_read(s, sizeof hello - 1, hello);
    int want = -1;
    assert_ok(usock_tls_handshake(s, &want)); /* done already */
    assert_ok(usock_close(s));
    peer_join(p);
    peer_free(p);
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

/* ======================================================================== */
/* 6. client certificates                                                       */

/* The client's view of a refusal: the handshake or the first recv fails
 * (TLS 1.3 ends the client's handshake before the server has checked). */
static int refused_client_body(struct peer *p, usock *s)
{
    if (p->wrap_rc != 0) {
        PCHECK(p, p->wrap_rc < 0);
        return 0;
    }
    (void)usock_send(s, "x", 1);
    char buf[8];
    ssize_t r = usock_recv(s, buf, sizeof buf);
    if (r >= 0)
        PFAIL(p, "a refused client's recv = %zd, want an error", r);
    return 0;
}

static usock_tls_ctx *server_ctx_verifying(int mode)
{
    usock_tls_ctx *sc = server_ctx();
    assert_ok(usock_tls_ctx_set_verify(sc, mode));
    assert_ok(usock_tls_ctx_load_verify(sc, cert("ca.pem"), NULL));
    return sc;
}

static void required_client_certificate_missing_fails(void **state)
{
    (void)state;
    usock_tls_ctx *sc = server_ctx_verifying(USOCK_TLS_CERT_REQUIRED);
    usock_tls_ctx *cc = client_ctx(cert("ca.pem"));
    usock *l, *s;
    int port;
    l = listening(AF_INET, &port);
    struct peer *p = client_peer(cc, refused_client_body, port);
    int r = accept_tls(l, sc, 0, &s);
    if (!is_tls_code(r))
        fail_msg("server wrap = %d (%s), want a USOCK_ETLS_* code", r, usock_errname(r));
    assert_true(usock_tls_detail(s)[0] != '\0');
    assert_ok(usock_close(s));
    peer_join(p);
    peer_free(p);
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

static void required_client_certificate_present_succeeds(void **state)
{
    (void)state;
    usock_tls_ctx *sc = server_ctx_verifying(USOCK_TLS_CERT_REQUIRED);
    usock_tls_ctx *cc = client_ctx(cert("ca.pem"));
    assert_ok(usock_tls_ctx_load_cert_chain(cc, cert("client.pem"), cert("client.key")));
    usock *l, *s;
    int port;
    l = listening(AF_INET, &port);
    struct peer *p = client_peer(cc, hello_client_body, port);
    int r = accept_tls(l, sc, 0, &s);
    if (r != 0)
        fail_msg("server wrap = %s (%s)", usock_errname(r), usock_tls_detail(s));
    char buf[sizeof hello];
    recv_exact(s, buf, sizeof hello - 1);
    assert_ok(usock_sendall(s, buf, sizeof hello - 1));
    peer_join(p);
    assert_ok(usock_close(s));
    peer_free(p);
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

static void client_certificate_of_an_unknown_ca_is_refused(void **state)
{
    (void)state;
    usock_tls_ctx *sc = server_ctx_verifying(USOCK_TLS_CERT_REQUIRED);
    usock_tls_ctx *cc = client_ctx(cert("ca.pem"));
    assert_ok(usock_tls_ctx_load_cert_chain(cc, cert("client-other.pem"), cert("client.key")));
    usock *l, *s;
    int port;
    l = listening(AF_INET, &port);
    struct peer *p = client_peer(cc, refused_client_body, port);
    int r = accept_tls(l, sc, 0, &s);
    assert_code(r, USOCK_ETLS_UNKNOWN_CA);
    assert_true(usock_tls_detail(s)[0] != '\0');
    assert_ok(usock_close(s));
    peer_join(p);
    peer_free(p);
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

static void optional_client_certificate_may_be_absent(void **state)
{
    (void)state;
    usock_tls_ctx *sc = server_ctx_verifying(USOCK_TLS_CERT_OPTIONAL);
    for (int with_cert = 0; with_cert < 2; with_cert++) {
        usock_tls_ctx *cc = client_ctx(cert("ca.pem"));
        if (with_cert)
            assert_ok(usock_tls_ctx_load_cert_chain(cc, cert("client.pem"), cert("client.key")));
        usock *l, *s;
        int port;
        l = listening(AF_INET, &port);
        struct peer *p = client_peer(cc, hello_client_body, port);
        int r = accept_tls(l, sc, 0, &s);
        if (r != 0)
            fail_msg("server wrap (client %s a certificate) = %s (%s)",
                     with_cert ? "with" : "without", usock_errname(r), usock_tls_detail(s));
        char buf[sizeof hello];
        recv_exact(s, buf, sizeof hello - 1);
        assert_ok(usock_sendall(s, buf, sizeof hello - 1));
        peer_join(p);
        assert_ok(usock_close(s));
        peer_free(p);
        usock_close(l);
        usock_tls_ctx_free(cc);
    }
    usock_tls_ctx_free(sc);
}

/* ======================================================================== */
/* 7. timeouts                                                                  */

static void client_wrap_times_out_against_a_silent_server(void **state)
{
    (void)state;
    int port;
    int lfd = raw_listener(AF_INET, 4, 0, &port); /* the kernel accepts; nobody speaks */
    usock_tls_ctx *c = client_ctx(cert("ca.pem"));
    usock *s = connected_to(AF_INET, port);
    assert_ok(usock_settimeout(s, 0.3));
    double t0 = now_s();
    assert_code(usock_tls_wrap(c, s, "localhost", 0), USOCK_ETIMEDOUT);
    assert_true(now_s() - t0 < 5.0);
    assert_ok(usock_close(s));
    usock_tls_ctx_free(c);
    close(lfd);
}

static void server_wrap_times_out_against_a_silent_client(void **state)
{
    (void)state;
    int port;
    usock *l = listening(AF_INET, &port);
    usock_addr a;
    loopback(&a, AF_INET, port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a.ss, a.len), 0);
    usock_tls_ctx *sc = server_ctx();
    usock *s;
    assert_ok(usock_settimeout(l, 5.0));
    assert_ok(usock_accept(l, &s, NULL));
    assert_ok(usock_settimeout(s, 0.3));
    double t0 = now_s();
    assert_code(usock_tls_wrap(sc, s, NULL, 0), USOCK_ETIMEDOUT);
    assert_true(now_s() - t0 < 5.0);
    assert_ok(usock_close(s));
    close(fd);
    usock_close(l);
    usock_tls_ctx_free(sc);
}

/* Sends "late" when told, then waits to be told to end. */
static int late_body(struct peer *p, usock *s)
{
    if (p->wrap_rc != 0)
        PFAIL(p, "server wrap = %s (%s)", usock_errname(p->wrap_rc), p->detail);
    if (peer_wait(p))
        return -1;
    PCODE(p, usock_sendall(s, "late", 4), 0);
    return peer_wait(p);
}

static void recv_timeout_after_the_handshake_loses_nothing(void **state)
{
    (void)state;
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    usock *l, *s;
    int port;
    struct peer *p = server_peer(sc, late_body, &l, &port);
    assert_ok(connect_tls(cc, "127.0.0.1", port, "localhost", 0, &s));
    assert_ok(usock_settimeout(s, 0.2));
    char buf[8];
    double t0 = now_s();
    assert_code(usock_recv(s, buf, sizeof buf), USOCK_ETIMEDOUT);
    assert_true(now_s() - t0 < 5.0);
    assert_code(usock_readline(s, buf, sizeof buf), USOCK_ETIMEDOUT);
    peer_go(p);
    assert_ok(usock_settimeout(s, 5.0));
    expect_read(s, 4, "late");
    peer_go(p);
    peer_join(p);
    assert_ok(usock_close(s));
    peer_free(p);
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

/* ======================================================================== */
/* 8. non-blocking handshakes, poll, bytes buffered inside OpenSSL               */

static int valid_want(int want)
{
    return want == USOCK_POLLIN || want == USOCK_POLLOUT;
}

/* Both sides non-blocking in one thread, each handshake stepped when poll
 * says its socket is ready for what it wants. */
static void nonblocking_handshakes_driven_by_poll(void **state)
{
    (void)state;
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    int port;
    usock *l = listening(AF_INET, &port);
    usock *c = connected_to(AF_INET, port), *sv;
    assert_ok(usock_settimeout(l, 5.0));
    assert_ok(usock_accept4(l, &sv, NULL, USOCK_ACCEPT_NONBLOCK));
    assert_ok(usock_settimeout(c, 0));
    assert_ok(usock_tls_wrap(cc, c, "localhost", USOCK_TLS_DEFER_HANDSHAKE));
    assert_ok(usock_tls_wrap(sc, sv, NULL, USOCK_TLS_DEFER_HANDSHAKE));
    int cwant = 0, swant = 0;
    /* the server has heard nothing yet */
    assert_code(usock_tls_handshake(sv, &swant), USOCK_EAGAIN);
    assert_int_equal(swant, USOCK_POLLIN);
    /* the client sends its hello, then waits for the server's */
    assert_code(usock_tls_handshake(c, &cwant), USOCK_EAGAIN);
    assert_int_equal(cwant, USOCK_POLLIN);
    usock_poll *p;
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, c, cwant, "client"));
    assert_ok(usock_poll_register(p, sv, swant, "server"));
    int cdone = 0, sdone = 0, rounds = 0;
    while (!(cdone && sdone)) {
        assert_true(++rounds < 100);
        usock_event ev[2];
        int n = usock_poll_wait(p, EXPECT_MS, ev, 2);
        assert_true(n >= 1);
        for (int i = 0; i < n; i++) {
            usock *x = ev[i].sock;
            int *want = x == c ? &cwant : &swant, *done = x == c ? &cdone : &sdone;
            assert_false(ev[i].revents & (USOCK_POLLERR | USOCK_POLLHUP | USOCK_POLLNVAL));
            int r = usock_tls_handshake(x, want);
            if (r == 0) {
                *done = 1;
                assert_ok(usock_poll_unregister(p, x));
            } else {
                assert_code(r, USOCK_EAGAIN);
                if (!valid_want(*want))
                    fail_msg("%s: want = %d", (char *)ev[i].udata, *want);
                assert_ok(usock_poll_modify(p, x, *want));
            }
        }
    }
    /* done stays done */
    assert_ok(usock_tls_handshake(c, &cwant));
    assert_ok(usock_tls_handshake(sv, &swant));
    assert_string_equal(usock_tls_version(c), "TLSv1.3");
    assert_string_equal(usock_tls_version(sv), "TLSv1.3");
    /* non-blocking I/O: nothing to read is EAGAIN (after any tickets) */
    char buf[16];
    assert_code(usock_recv(c, buf, sizeof buf), USOCK_EAGAIN);
    assert_code(usock_recv(c, buf, sizeof buf), USOCK_EAGAIN);
    assert_count(usock_send(c, "ping", 4), 4);
    assert_ok(usock_poll_register(p, sv, USOCK_POLLIN, NULL));
    usock_event ev[2];
    ssize_t r = USOCK_EAGAIN;
    for (int i = 0; i < 10 && r == USOCK_EAGAIN; i++) {
        assert_int_equal(usock_poll_wait(p, EXPECT_MS, ev, 2), 1);
        r = usock_recv(sv, buf, sizeof buf);
    }
    assert_count(r, 4);
    assert_memory_equal(buf, "ping", 4);
    usock_poll_free(p);
    assert_ok(usock_close(c));
    assert_ok(usock_close(sv));
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

/* A deferred client on a non-blocking socket against a blocking server
 * thread: the event loop's usual shape. */
static void nonblocking_client_handshake_against_a_thread(void **state)
{
    (void)state;
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    usock *l, *s;
    int port;
    struct peer *p = server_peer(sc, echo_body, &l, &port);
    s = connected_to(AF_INET, port);
    assert_ok(usock_settimeout(s, 0));
    assert_ok(usock_tls_wrap(cc, s, "localhost", USOCK_TLS_DEFER_HANDSHAKE));
    usock_poll *pl;
    assert_ok(usock_poll_new(&pl));
    int want = 0, r, registered = 0, rounds = 0;
    while ((r = usock_tls_handshake(s, &want)) != 0) {
        assert_code(r, USOCK_EAGAIN);
        assert_true(valid_want(want));
        assert_true(++rounds < 100);
        if (registered)
            assert_ok(usock_poll_modify(pl, s, want));
        else
            assert_ok(usock_poll_register(pl, s, want, NULL));
        registered = 1;
        usock_event ev[1];
        assert_int_equal(usock_poll_wait(pl, EXPECT_MS, ev, 1), 1);
    }
    usock_poll_free(pl);
    assert_ok(usock_settimeout(s, 5.0));
    assert_ok(usock_sendall(s, hello, sizeof hello - 1));
    expect_read(s, sizeof hello - 1, hello);
    assert_ok(usock_close(s));
    peer_join(p);
    peer_free(p);
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

/* One usock_poll_wait with timeout 0 for POLLIN on s: its revents, or 0. */
static int poll_now(usock *s)
{
    usock_poll *p;
    usock_event ev[1];
    assert_ok(usock_poll_new(&p));
    assert_ok(usock_poll_register(p, s, USOCK_POLLIN, NULL));
    int n = usock_poll_wait(p, 0, ev, 1);
    usock_poll_free(p);
    assert_true(n == 0 || n == 1);
    return n ? ev[0].revents : 0;
}

/* Waits (bounded) until the kernel holds at least n bytes for s. */
static void wait_kernel_bytes(usock *s, int n)
{
    double end = now_s() + EXPECT_MS / 1000.0;
    for (;;) {
        int have = 0;
        assert_int_equal(ioctl(usock_fileno(s), FIONREAD, &have), 0);
        if (have >= n)
            return;
        if (now_s() > end)
            fail_msg("the kernel holds %d bytes, want %d", have, n);
        sleep_ms(5);
    }
}

/* One record of 100 'a', then (told to) two records of 100 'b' and 'c'. */
static int records_body(struct peer *p, usock *s)
{
    if (p->wrap_rc != 0)
        PFAIL(p, "server wrap = %s (%s)", usock_errname(p->wrap_rc), p->detail);
    char rec[100];
    memset(rec, 'a', sizeof rec);
    PCODE(p, usock_sendall(s, rec, sizeof rec), 0);
    if (peer_wait(p))
        return -1;
    memset(rec, 'b', sizeof rec);
    PCODE(p, usock_sendall(s, rec, sizeof rec), 0);
    memset(rec, 'c', sizeof rec);
    PCODE(p, usock_sendall(s, rec, sizeof rec), 0);
    return peer_wait(p);
}

static void poll_reports_bytes_buffered_inside_openssl(void **state)
{
    (void)state;
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    usock *l, *s;
    int port;
    struct peer *p = server_peer(sc, records_body, &l, &port);
    assert_ok(connect_tls(cc, "127.0.0.1", port, "localhost", 0, &s));
    char buf[256], want[256];
    /* One record: 10 of its 100 bytes read, the kernel holds nothing more,
     * the other 90 are decrypted inside OpenSSL (or in usock's buffer). */
    memset(want, 'a', 100);
    expect_recv(s, 10, "aaaaaaaaaa");
    int have = -1;
    assert_int_equal(ioctl(usock_fileno(s), FIONREAD, &have), 0);
    assert_int_equal(have, 0);
    if (!(poll_now(s) & USOCK_POLLIN))
        fail_msg(
            "90 bytes of a record wait inside the TLS layer, the kernel holds none: "
            "usock_poll_wait(timeout 0) reports nothing, want USOCK_POLLIN");
    recv_exact(s, buf, 90);
    assert_memory_equal(buf, want, 90);
    assert_int_equal(poll_now(s), 0);
    /* Two records, both in the kernel before the first read; whatever the
     * layer pulls in at once, poll says POLLIN until all 200 bytes are read. */
    peer_go(p);
    wait_kernel_bytes(s, 2 * (100 + 5));
    memset(want, 'b', 100);
    memset(want + 100, 'c', 100);
    expect_recv(s, 10, "bbbbbbbbbb");
    size_t got = 10;
    while (got < 200) {
        if (!(poll_now(s) & USOCK_POLLIN))
            fail_msg(
                "after %zu of 200 bytes read, usock_poll_wait(timeout 0) reports "
                "nothing, want USOCK_POLLIN",
                got);
        ssize_t r = usock_recv(s, buf + got, 200 - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    assert_memory_equal(buf + 10, want + 10, 190);
    assert_int_equal(poll_now(s), 0);
    peer_go(p);
    peer_join(p);
    assert_ok(usock_close(s));
    peer_free(p);
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

/* "a\nb\n" in one record; readline takes "a\n": the rest is readable. */
static int two_lines_body(struct peer *p, usock *s)
{
    if (p->wrap_rc != 0)
        PFAIL(p, "server wrap = %s (%s)", usock_errname(p->wrap_rc), p->detail);
    PCODE(p, usock_sendall(s, "a\nb\n", 4), 0);
    return peer_wait(p);
}

static void poll_reports_a_line_left_by_readline(void **state)
{
    (void)state;
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    usock *l, *s;
    int port;
    struct peer *p = server_peer(sc, two_lines_body, &l, &port);
    assert_ok(connect_tls(cc, "127.0.0.1", port, "localhost", 0, &s));
    expect_readline(s, 16, "a\n");
    assert_true(poll_now(s) & USOCK_POLLIN);
    expect_readline(s, 16, "b\n");
    assert_int_equal(poll_now(s), 0);
    peer_go(p);
    peer_join(p);
    assert_ok(usock_close(s));
    peer_free(p);
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

/* ======================================================================== */
/* 9. Python's ssl module as a peer                                              */

static const char py_echo_server[] =
    "import socket, ssl, sys\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n"
    "ls = socket.socket()\n"
    "ls.bind(('127.0.0.1', 0))\n"
    "ls.listen(1)\n"
    "ls.settimeout(20)\n"
    "print(ls.getsockname()[1], flush=True)\n"
    "c, _ = ls.accept()\n"
    "c.settimeout(20)\n"
    "t = ctx.wrap_socket(c, server_side=True)\n"
    "n = 0\n"
    "while True:\n"
    "    d = t.recv(65536)\n"
    "    if not d:\n"
    "        break\n"
    "    t.sendall(d)\n"
    "    n += len(d)\n"
    "print('done', t.version(), n, flush=True)\n"
    "t.close()\n";

static void usock_client_and_python_server(void **state)
{
    (void)state;
    int out[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    char logpath[256];
    path_in(logpath, sizeof logpath, certdir, "py-server.log");
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(logfd >= 0);
    const char *argv[] = {"python3",          "-c", py_echo_server, cert("server.pem"),
                          cert("server.key"), NULL};
    pid_t pid = spawn(argv, out[1], logfd);
    close(out[1]);
    close(logfd);
    char line[256];
    if (read_line_fd(out[0], line, sizeof line, 2 * EXPECT_MS) != 0)
        fail_msg("the Python server said no port: %s", log_text(logpath));
    int port = atoi(line);
    assert_true(port > 0);
    usock_tls_ctx *cc = client_ctx(cert("ca.pem"));
    usock *s;
    int r = connect_tls(cc, "127.0.0.1", port, "localhost", 0, &s);
    if (r != 0)
        fail_msg("wrap = %s (%s)", usock_errname(r), usock_tls_detail(s));
    assert_string_equal(usock_tls_version(s), "TLSv1.3");
    assert_ok(usock_sendall(s, hello, sizeof hello - 1));
    expect_read(s, sizeof hello - 1, hello);
    enum { N = 64 * 1024 };
    char *data = pattern_buf(N), *back = malloc(N);
    assert_non_null(back);
    assert_ok(usock_sendall(s, data, N));
    recv_exact(s, back, N);
    assert_memory_equal(back, data, N);
    free(data);
    free(back);
    assert_ok(usock_close(s));
    char said[256];
    read_until_eof(out[0], said, sizeof said, 2 * EXPECT_MS);
    close(out[0]);
    char want[64];
    snprintf(want, sizeof want, "done TLSv1.3 %d\n", (int)(sizeof hello - 1) + N);
    if (strcmp(said, want) != 0)
        fail_msg("the Python server said \"%s\", want \"%s\"; its stderr: %s", said, want,
                 log_text(logpath));
    int st = child_reap(pid, EXPECT_MS);
    children_forget(pid);
    assert_true(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    usock_tls_ctx_free(cc);
}

static const char py_client[] =
    "import socket, ssl, sys\n"
    "ctx = ssl.create_default_context(cafile=sys.argv[1])\n"
    "if sys.argv[3] == '1.2':\n"
    "    ctx.maximum_version = ssl.TLSVersion.TLSv1_2\n"
    "ctx.set_alpn_protocols(['h2', 'http/1.1'])\n"
    "s = socket.create_connection(('127.0.0.1', int(sys.argv[2])), timeout=20)\n"
    "try:\n"
    "    t = ctx.wrap_socket(s, server_hostname='localhost')\n"
    "    t.sendall(b'ping from python\\n')\n"
    "    data = b''\n"
    "    while True:\n"
    "        d = t.recv(65536)\n"
    "        if not d:\n"
    "            break\n"
    "        data += d\n"
    "    sys.stdout.write('%s %s %s' % (t.version(), t.selected_alpn_protocol(), "
    "data.decode()))\n"
    "except ssl.SSLError as e:\n"
    "    print('SSLError', e.reason)\n"
    "    sys.exit(3)\n";

/* A usock server (ctx) answers one Python client ("1.2": limited to TLS
 * 1.2); returns the server's wrap result, the client's stdout in said. */
static int serve_python_client(usock_tls_ctx *sc, const char *maxver, char *said, size_t cap,
                               int *status, char *version, size_t vcap)
{
    int port;
    usock *l = listening(AF_INET, &port), *s;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int out[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    char logpath[256];
    path_in(logpath, sizeof logpath, certdir, "py-client.log");
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(logfd >= 0);
    const char *argv[] = {"python3", "-c", py_client, cert("ca.pem"), portstr, maxver, NULL};
    pid_t pid = spawn(argv, out[1], logfd);
    close(out[1]);
    close(logfd);
    assert_ok(usock_settimeout(l, 2.0 * EXPECT_MS / 1000));
    assert_ok(usock_accept(l, &s, NULL));
    assert_ok(usock_settimeout(s, 5.0));
    int r = usock_tls_wrap(sc, s, NULL, 0);
    if (r == 0) {
        snprintf(version, vcap, "%s", usock_tls_version(s));
        assert_string_equal(usock_tls_alpn(s), "http/1.1");
        char line[64];
        ssize_t n = usock_readline(s, line, sizeof line);
        assert_int_equal(n, 17);
        assert_string_equal(line, "ping from python\n");
        char reply[80];
        snprintf(reply, sizeof reply, "pong: %s", line);
        assert_ok(usock_sendall(s, reply, strlen(reply)));
    }
    assert_ok(usock_close(s));
    usock_close(l);
    read_until_eof(out[0], said, cap, 2 * EXPECT_MS);
    close(out[0]);
    *status = child_reap(pid, EXPECT_MS);
    children_forget(pid);
    if (*status == -1)
        fail_msg("the Python client did not end: %s", log_text(logpath));
    return r;
}

static void python_client_and_usock_server(void **state)
{
    (void)state;
    usock_tls_ctx *sc = server_ctx();
    const char *alpn[] = {"http/1.1"};
    assert_ok(usock_tls_ctx_set_alpn(sc, alpn, 1));
    char said[256], version[16];
    int st;
    assert_ok(serve_python_client(sc, "any", said, sizeof said, &st, version, sizeof version));
    assert_string_equal(version, "TLSv1.3");
    assert_string_equal(said, "TLSv1.3 http/1.1 pong: ping from python\n");
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* Python limited to TLS 1.2 */
    assert_ok(serve_python_client(sc, "1.2", said, sizeof said, &st, version, sizeof version));
    assert_string_equal(version, "TLSv1.2");
    assert_string_equal(said, "TLSv1.2 http/1.1 pong: ping from python\n");
    usock_tls_ctx_free(sc);
}

static void server_min_13_refuses_a_tls12_python_client(void **state)
{
    (void)state;
    usock_tls_ctx *sc = server_ctx();
    const char *alpn[] = {"http/1.1"};
    assert_ok(usock_tls_ctx_set_alpn(sc, alpn, 1));
    assert_ok(usock_tls_ctx_set_min_version(sc, USOCK_TLS_1_3));
    char said[256], version[16];
    int st;
    int r = serve_python_client(sc, "1.2", said, sizeof said, &st, version, sizeof version);
    assert_code(r, USOCK_ETLS_VERSION);
    if (strncmp(said, "SSLError", 8) != 0)
        fail_msg("the Python client said \"%s\", want an SSLError", said);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 3);
    usock_tls_ctx_free(sc);
}

/* ======================================================================== */
/* 10. end of stream                                                              */

/* Sends "bye", then FIN on the raw descriptor: no close_notify. */
static int ragged_body(struct peer *p, usock *s)
{
    if (p->wrap_rc != 0)
        PFAIL(p, "server wrap = %s (%s)", usock_errname(p->wrap_rc), p->detail);
    PCODE(p, usock_sendall(s, "bye", 3), 0);
    PCHECK(p, shutdown(usock_fileno(s), SHUT_WR) == 0);
    return peer_wait(p);
}

static void peer_gone_without_close_notify_is_eof(void **state)
{
    (void)state;
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    usock *l, *s;
    int port;
    struct peer *p = server_peer(sc, ragged_body, &l, &port);
    assert_ok(connect_tls(cc, "127.0.0.1", port, "localhost", 0, &s));
    expect_read(s, 3, "bye");
    expect_recv(s, 16, "");
    expect_recv(s, 16, "");
    expect_readline(s, 16, "");
    peer_go(p);
    peer_join(p);
    assert_ok(usock_close(s));
    peer_free(p);
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

/* Sends "bye" and closes (close_notify). */
static int bye_body(struct peer *p, usock *s)
{
    if (p->wrap_rc != 0)
        PFAIL(p, "server wrap = %s (%s)", usock_errname(p->wrap_rc), p->detail);
    PCODE(p, usock_sendall(s, "bye", 3), 0);
    return 0;
}

static void peer_close_notify_is_eof_and_later_sends_fail_without_sigpipe(void **state)
{
    (void)state;
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    usock *l, *s;
    int port;
    struct peer *p = server_peer(sc, bye_body, &l, &port);
    assert_ok(connect_tls(cc, "127.0.0.1", port, "localhost", 0, &s));
    expect_read(s, 3, "bye");
    expect_recv(s, 16, "");
    peer_join(p); /* its socket is closed now */
    /* Writing on: the first bytes may still go out; then the reset. Never
     * SIGPIPE (which would end this program), never a send of 0 bytes.
     * send first: a layer that answers 0 would make sendall spin. */
    ssize_t r = 4;
    for (int i = 0; i < 200 && r == 4; i++) {
        r = usock_send(s, "more", 4);
        if (r == 4)
            sleep_ms(5);
    }
    if (r != USOCK_EPIPE && r != USOCK_ECONNRESET)
        fail_msg("send to a closed peer = %zd (%s), want USOCK_EPIPE or USOCK_ECONNRESET", r,
                 r < 0 ? usock_errname((int)r) : "a count");
    int e = usock_sendall(s, "more", 4);
    if (e != USOCK_EPIPE && e != USOCK_ECONNRESET)
        fail_msg("sendall to a closed peer = %d (%s), want USOCK_EPIPE or USOCK_ECONNRESET", e,
                 usock_errname(e));
    assert_ok(usock_close(s));
    peer_free(p);
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

/* ======================================================================== */
/* 12. the rest of the socket API over TLS; sharing; resumption in-process     */

/* STARTTLS: plain lines first, then TLS on the same connection. */
static int starttls_server_before(struct peer *p, usock *s)
{
    PCODE(p, usock_sendall(s, "220 ready\r\n", 11), 0);
    char line[64];
    PCODE(p, usock_readline(s, line, sizeof line), 10);
    PCHECK(p, strcmp(line, "STARTTLS\r\n") == 0);
    PCODE(p, usock_sendall(s, "220 go\r\n", 8), 0);
    return 0;
}

static void starttls_after_plain_lines(void **state)
{
    (void)state;
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    usock *l, *s;
    int port;
    struct peer *p = peer_new(sc, echo_body);
    p->before = starttls_server_before;
    l = listening(AF_INET, &port);
    assert_ok(usock_settimeout(l, 5.0));
    p->listener = l;
    assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
    s = connected_to(AF_INET, port);
    assert_ok(usock_settimeout(s, 5.0));
    expect_readline(s, 64, "220 ready\r\n");
    assert_ok(usock_sendall(s, "STARTTLS\r\n", 10));
    expect_readline(s, 64, "220 go\r\n");
    assert_ok(usock_tls_wrap(cc, s, "localhost", 0));
    assert_ok(usock_sendall(s, hello, sizeof hello - 1));
    expect_readline(s, 64, hello);
    assert_ok(usock_close(s));
    peer_join(p);
    peer_free(p);
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

/* Plain bytes already in the read buffer cannot become TLS: wrap refuses. */
static void wrap_refuses_a_socket_holding_plain_bytes(void **state)
{
    (void)state;
    usock_tls_ctx *cc = client_ctx(cert("ca.pem"));
    usock *s;
    int peer;
    pair_holding(AF_INET, &s, &peer, "220 go\r\n\x16\x03\x01");
    expect_readline(s, 64, "220 go\r\n"); /* the 3 bytes after stay buffered */
    assert_code(usock_tls_wrap(cc, s, "localhost", USOCK_TLS_DEFER_HANDSHAKE), USOCK_EINVAL);
    assert_int_equal(usock_tls_active(s), 0);
    expect_recv(s, 3, "\x16\x03\x01"); /* still a plain socket, nothing lost */
    assert_ok(usock_close(s));
    close(peer);
    usock_tls_ctx_free(cc);
}

/* "peekaboo" once, then wait. */
static int peekaboo_body(struct peer *p, usock *s)
{
    if (p->wrap_rc != 0)
        PFAIL(p, "server wrap = %s (%s)", usock_errname(p->wrap_rc), p->detail);
    PCODE(p, usock_sendall(s, "peekaboo", 8), 0);
    return peer_wait(p);
}

static void recv_flags_peek_and_dontwait_over_tls(void **state)
{
    (void)state;
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    usock *l, *s;
    int port;
    struct peer *p = server_peer(sc, peekaboo_body, &l, &port);
    assert_ok(connect_tls(cc, "127.0.0.1", port, "localhost", 0, &s));
    char buf[16];
    ssize_t r = usock_recv_flags(s, buf, 4, USOCK_MSG_PEEK);
    assert_count(r, 4);
    assert_memory_equal(buf, "peek", 4);
    assert_true(poll_now(s) & USOCK_POLLIN); /* peeked bytes are still there */
    expect_read(s, 8, "peekaboo");
    double t0 = now_s();
    assert_code(usock_recv_flags(s, buf, sizeof buf, USOCK_MSG_DONTWAIT), USOCK_EAGAIN);
    assert_true(now_s() - t0 < 4.0); /* did not wait for the 5 s timeout */
    peer_go(p);
    peer_join(p);
    assert_ok(usock_close(s));
    peer_free(p);
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

/* Reads p->n bytes of the pattern, then waits. */
static int pattern_reader_body(struct peer *p, usock *s)
{
    if (p->wrap_rc != 0)
        PFAIL(p, "server wrap = %s (%s)", usock_errname(p->wrap_rc), p->detail);
    char buf[8192];
    size_t got = 0;
    while (got < p->n) {
        size_t want = p->n - got < sizeof buf ? p->n - got : sizeof buf;
        ssize_t r = usock_recv(s, buf, want);
        if (r <= 0)
            PFAIL(p, "recv after %zu of %zu = %zd (%s)", got, p->n, r,
                  r < 0 ? usock_errname((int)r) : "EOF");
        for (ssize_t i = 0; i < r; i++)
            if ((unsigned char)buf[i] != pattern(got + (size_t)i))
                PFAIL(p, "byte %zu differs", got + (size_t)i);
        got += (size_t)r;
    }
    PCODE(p, usock_sendall(s, "ok", 2), 0);
    char ch;
    PCODE(p, usock_recv(s, &ch, 1), 0);
    return 0;
}

static void sendfile_over_tls_sends_the_file(void **state)
{
    (void)state;
    enum { N = 300 * 1000 };
    char path[256];
    path_in(path, sizeof path, certdir, "sendfile.bin");
    char *data = pattern_buf(N);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, N), N);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    free(data);
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    usock *l, *s;
    int port;
    struct peer *p = peer_new(sc, pattern_reader_body);
    p->n = N;
    l = listening(AF_INET, &port);
    assert_ok(usock_settimeout(l, 5.0));
    p->listener = l;
    assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
    assert_ok(connect_tls(cc, "127.0.0.1", port, "localhost", 0, &s));
    off_t off = 0;
    int calls = 0;
    for (;;) {
        ssize_t r = usock_sendfile(s, fd, &off, N);
        assert_true(r >= 0);
        if (r == 0)
            break;
        assert_true(++calls < 100000);
    }
    assert_int_equal(off, N);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 0); /* the file's own position is untouched */
    expect_read(s, 2, "ok"); /* all N arrived (and the session tickets are read) */
    assert_ok(usock_close(s));
    peer_join(p);
    peer_free(p);
    close(fd);
    unlink(path);
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

static void load_verify_takes_a_hashed_directory(void **state)
{
    (void)state;
    char capath[256];
    path_in(capath, sizeof capath, certdir, "capath");
    usock_tls_ctx *c;
    assert_ok(usock_tls_ctx_new(&c, USOCK_TLS_CLIENT));
    assert_ok(usock_tls_ctx_load_verify(c, NULL, capath));
    struct sserver sv;
    SSERVER(&sv, "127.0.0.1", "server.pem", NULL);
    expect_page_from(&sv, c, "localhost");
    sserver_stop(&sv);
    SSERVER(&sv, "127.0.0.1", "other.pem", NULL);
    expect_handshake_error(&sv, c, "localhost", USOCK_ETLS_UNKNOWN_CA, NULL);
    sserver_stop(&sv);
    usock_tls_ctx_free(c);
}

/* Two connections of one client context to one server context: the second
 * is resumed on both sides; with client certificates too. */
static void resume_in_process(int client_cert)
{
    usock_tls_ctx *sc = client_cert ? server_ctx_verifying(USOCK_TLS_CERT_REQUIRED) : server_ctx();
    usock_tls_ctx *cc = client_ctx(cert("ca.pem"));
    if (client_cert)
        assert_ok(usock_tls_ctx_load_cert_chain(cc, cert("client.pem"), cert("client.key")));
    usock *l;
    int port;
    l = listening(AF_INET, &port);
    assert_ok(usock_settimeout(l, 5.0));
    for (int round = 0; round < 2; round++) {
        struct peer *p = peer_new(sc, echo_body);
        p->listener = l;
        assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
        usock *s;
        int r = connect_tls(cc, "127.0.0.1", port, "localhost", 0, &s);
        if (r != 0) {
            char cdetail[256];
            snprintf(cdetail, sizeof cdetail, "%s", usock_tls_detail(s));
            usock_close(s);
            pthread_join(p->thread, NULL);
            fail_msg("connection %d: client wrap = %s (%s); server wrap = %s (%s)", round + 1,
                     usock_errname(r), cdetail, usock_errname(p->wrap_rc), p->detail);
        }
        assert_ok(usock_sendall(s, hello, sizeof hello - 1));
        expect_read(s, sizeof hello - 1, hello); /* the tickets came before */
        int reused = usock_tls_session_reused(s);
        assert_ok(usock_close(s));
        peer_join(p);
        if (p->wrap_rc != 0)
            fail_msg("connection %d: server wrap = %s (%s)", round + 1, usock_errname(p->wrap_rc),
                     p->detail);
        if (reused != round || p->reused != round)
            fail_msg("connection %d: session_reused client %d, server %d; want %d", round + 1,
                     reused, p->reused, round);
        peer_free(p);
    }
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

static void usock_server_resumes_a_usock_client_session(void **state)
{
    (void)state;
    resume_in_process(0);
}

static void session_with_a_client_certificate_resumes(void **state)
{
    (void)state;
    resume_in_process(1);
}

/* Threads sharing one client and one server context, each over its own
 * AF_UNIX socketpair (a connected stream socket too). */
struct wrap_job {
    usock_tls_ctx *ctx;
    usock *s;
    int rc;
    pthread_t thread;
};

static void *server_wrap_main(void *arg)
{
    struct wrap_job *j = arg;
    j->rc = usock_tls_wrap(j->ctx, j->s, NULL, 0);
    if (j->rc == 0) {
        char buf[sizeof hello];
        size_t got = 0;
        while (got < sizeof hello - 1) {
            ssize_t r = usock_recv(j->s, buf + got, sizeof hello - 1 - got);
            if (r <= 0) {
                j->rc = r < 0 ? (int)r : USOCK_ECONNRESET;
                return NULL;
            }
            got += (size_t)r;
        }
        j->rc = usock_sendall(j->s, buf, got);
    }
    return NULL;
}

struct worker {
    usock_tls_ctx *cc, *sc;
    int rounds;
    char err[256];
    pthread_t thread;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->rounds && !w->err[0]; i++) {
        usock *a, *b;
        int r = usock_socketpair(&a, &b, 0, 0);
        if (r < 0) {
            snprintf(w->err, sizeof w->err, "socketpair: %s", usock_errname(r));
            break;
        }
        usock_settimeout(a, 10.0);
        usock_settimeout(b, 10.0);
        struct wrap_job j = {.ctx = w->sc, .s = b};
        pthread_create(&j.thread, NULL, server_wrap_main, &j);
        r = usock_tls_wrap(w->cc, a, "localhost", 0);
        char buf[sizeof hello];
        if (r == 0)
            r = usock_sendall(a, hello, sizeof hello - 1);
        if (r == 0) {
            ssize_t n = usock_read(a, buf, sizeof hello - 1);
            r = n == (ssize_t)(sizeof hello - 1) && memcmp(buf, hello, (size_t)n) == 0
                    ? 0
                    : (n < 0 ? (int)n : USOCK_EPROTO);
        }
        pthread_join(j.thread, NULL);
        if (r != 0 || j.rc != 0)
            snprintf(w->err, sizeof w->err, "round %d: client %s (%s), server %s", i,
                     usock_errname(r), usock_tls_detail(a), usock_errname(j.rc));
        usock_close(a);
        usock_close(b);
    }
    return NULL;
}

static void threads_share_contexts(void **state)
{
    (void)state;
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    enum { THREADS = 4 };
    struct worker w[THREADS];
    int rounds = getenv("USOCK_UNDER_VALGRIND") ? 3 : 10;
    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].cc = cc;
        w[i].sc = sc;
        w[i].rounds = rounds;
        assert_int_equal(pthread_create(&w[i].thread, NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(w[i].thread, NULL);
    for (int i = 0; i < THREADS; i++)
        if (w[i].err[0])
            fail_msg("thread %d: %s", i, w[i].err);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

/* Waits, reading nothing, until told to end. */
static int idle_body(struct peer *p, usock *s)
{
    (void)s;
    if (p->wrap_rc != 0)
        PFAIL(p, "server wrap = %s (%s)", usock_errname(p->wrap_rc), p->detail);
    return peer_wait(p);
}

static void sendall_to_a_peer_that_does_not_read_times_out(void **state)
{
    (void)state;
    enum { BIGGER = 16 << 20 };
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    usock *l, *s;
    int port;
    struct peer *p = server_peer(sc, idle_body, &l, &port);
    assert_ok(connect_tls(cc, "127.0.0.1", port, "localhost", 0, &s));
    char *big = pattern_buf(BIGGER);
    assert_ok(usock_settimeout(s, 0.3));
    double t0 = now_s();
    assert_code(usock_sendall(s, big, BIGGER), USOCK_ETIMEDOUT);
    assert_true(now_s() - t0 < 5.0);
    free(big);
    peer_go(p);
    peer_join(p);
    assert_ok(usock_close(s));
    peer_free(p);
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

/* Non-blocking sends of 4 MiB to a reader thread: each EAGAIN is followed,
 * after poll says POLLOUT, by a send of the same remaining bytes (OpenSSL's
 * rule); the reader gets the pattern whole and in order. */
static void nonblocking_sends_with_poll_arrive_whole(void **state)
{
    (void)state;
    enum { N = 4 << 20 };
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    usock *l, *s;
    int port;
    struct peer *p = peer_new(sc, pattern_reader_body);
    p->n = N;
    p->timeout = 30.0;
    l = listening(AF_INET, &port);
    assert_ok(usock_settimeout(l, 5.0));
    p->listener = l;
    assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
    assert_ok(connect_tls(cc, "127.0.0.1", port, "localhost", 0, &s));
    assert_ok(usock_settimeout(s, 0));
    char *data = pattern_buf(N);
    usock_poll *pl;
    assert_ok(usock_poll_new(&pl));
    assert_ok(usock_poll_register(pl, s, USOCK_POLLOUT, NULL));
    size_t off = 0;
    int eagains = 0;
    while (off < N) {
        ssize_t r = usock_send(s, data + off, N - off);
        if (r == USOCK_EAGAIN) {
            eagains++;
            usock_event ev[1];
            assert_int_equal(usock_poll_wait(pl, EXPECT_MS, ev, 1), 1);
            continue;
        }
        if (r <= 0)
            fail_msg("send at %zu = %zd (%s)", off, r, r < 0 ? usock_errname((int)r) : "0");
        off += (size_t)r;
    }
    usock_poll_free(pl);
    free(data);
    assert_ok(usock_settimeout(s, 30.0));
    expect_read(s, 2, "ok");
    assert_ok(usock_close(s));
    peer_join(p);
    peer_free(p);
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

/* Waits for go, then reads p->n bytes of the pattern and expects EOF. */
static int late_reader_body(struct peer *p, usock *s)
{
    if (p->wrap_rc != 0)
        PFAIL(p, "server wrap = %s (%s)", usock_errname(p->wrap_rc), p->detail);
    if (peer_wait(p))
        return -1;
    char buf[8192];
    size_t got = 0;
    while (got < p->n) {
        ssize_t r = usock_recv(s, buf, sizeof buf);
        if (r <= 0)
            PFAIL(p, "recv after %zu of %zu = %zd (%s)", got, p->n, r,
                  r < 0 ? usock_errname((int)r) : "EOF");
        got += (size_t)r;
    }
    char ch;
    PCODE(p, usock_recv(s, &ch, 1), 0);
    return 0;
}

/* A client that sends and closes without reading: as with a plain socket
 * whose peer sent nothing, everything it sent must arrive, then EOF. The
 * server's TLS 1.3 session tickets sit unread in the client's receive
 * queue; a close that leaves them there makes the kernel reset the
 * connection and drop what is still queued to send. A small receive
 * buffer at the server and a large send buffer at the client keep most of
 * the 100 KB queued at the client when it closes. */
static void close_after_sendall_without_reading_delivers_everything(void **state)
{
    (void)state;
    enum { N = 100 * 1000 };
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    int port;
    usock *l;
    assert_ok(usock_socket(&l, AF_INET, SOCK_STREAM, 0));
    int small = 4096, large = 1 << 20;
    assert_ok(usock_setsockopt(l, SOL_SOCKET, SO_RCVBUF, &small, sizeof small));
    usock_addr a;
    loopback(&a, AF_INET, 0);
    assert_ok(usock_bind(l, &a));
    assert_ok(usock_listen(l, 4));
    assert_ok(usock_getsockname(l, &a));
    port = port_of(&a);
    assert_ok(usock_settimeout(l, 5.0));
    struct peer *p = peer_new(sc, late_reader_body);
    p->n = N;
    p->listener = l;
    assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
    usock *s;
    assert_ok(usock_socket(&s, AF_INET, SOCK_STREAM, 0));
    assert_ok(usock_setsockopt(s, SOL_SOCKET, SO_SNDBUF, &large, sizeof large));
    assert_ok(usock_settimeout(s, 5.0));
    loopback(&a, AF_INET, port);
    assert_ok(usock_connect(s, &a));
    assert_ok(usock_tls_wrap(cc, s, "localhost", 0));
    char *data = pattern_buf(N);
    assert_ok(usock_sendall(s, data, N));
    free(data);
    sleep_ms(50); /* the tickets are in (they came right after the handshake) */
    assert_ok(usock_close(s));
    peer_go(p);
    peer_join(p);
    peer_free(p);
    usock_close(l);
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
}

/* ======================================================================== */
/* 11. close frees everything                                                   */

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void close_releases_every_kind_of_tls_socket(void **state)
{
    (void)state;
    int before = count_fds();
    usock_tls_ctx *sc = server_ctx(), *cc = client_ctx(cert("ca.pem"));
    usock *l, *s;
    int port;
    /* established, the context freed first */
    struct peer *p = server_peer(sc, echo_body, &l, &port);
    assert_ok(connect_tls(cc, "127.0.0.1", port, "localhost", 0, &s));
    assert_ok(usock_sendall(s, "x", 1));
    expect_recv(s, 1, "x");
    assert_ok(usock_close(s));
    peer_join(p);
    peer_free(p);
    usock_close(l);
    /* deferred, never shaken */
    int peer;
    pair_with_raw_peer(AF_INET, &s, &peer);
    assert_ok(usock_tls_wrap(cc, s, "localhost", USOCK_TLS_DEFER_HANDSHAKE));
    assert_ok(usock_close(s));
    close(peer);
    /* a failed handshake: the peer answers the hello with garbage */
    pair_with_raw_peer(AF_INET, &s, &peer);
    assert_ok(usock_settimeout(s, 5.0));
    raw_send_str(peer, "HTTP/1.0 400 Bad Request\r\n\r\n");
    int r = usock_tls_wrap(cc, s, "localhost", 0);
    if (!is_tls_code(r) && r != USOCK_ECONNRESET)
        fail_msg("wrap against a plain-text peer = %d (%s), want a USOCK_ETLS_* code", r,
                 usock_errname(r));
    assert_ok(usock_close(s));
    close(peer);
    /* a TLS socket closed while registered in a poll: POLLNVAL, once */
    pair_with_raw_peer(AF_INET, &s, &peer);
    assert_ok(usock_tls_wrap(cc, s, "localhost", USOCK_TLS_DEFER_HANDSHAKE));
    usock_poll *pl;
    assert_ok(usock_poll_new(&pl));
    int tag;
    assert_ok(usock_poll_register(pl, s, USOCK_POLLIN, &tag));
    assert_ok(usock_close(s));
    usock_event ev[2];
    assert_int_equal(usock_poll_wait(pl, 0, ev, 2), 1);
    assert_int_equal(ev[0].revents, USOCK_POLLNVAL);
    assert_ptr_equal(ev[0].udata, &tag);
    assert_int_equal(usock_poll_wait(pl, 0, ev, 2), 0);
    usock_poll_free(pl);
    close(peer);
    /* twenty connections through one context pair */
    for (int i = 0; i < 20; i++) {
        p = server_peer(sc, echo_body, &l, &port);
        assert_ok(connect_tls(cc, "127.0.0.1", port, "localhost", 0, &s));
        assert_ok(usock_close(s));
        peer_join(p);
        peer_free(p);
        usock_close(l);
    }
    usock_tls_ctx_free(sc);
    usock_tls_ctx_free(cc);
    /* no more descriptors than before (fewer when a failed test's peer
     * thread closed its socket meanwhile) */
    int after = count_fds();
    if (after > before)
        fail_msg("%d descriptors open after, %d before", after, before);
}

/* ======================================================================== */

/* ======================================================================== */
/* a build without OpenSSL (-DUSOCK_TLS=OFF)                                    */

static void every_call_says_tls_unavailable(void **state)
{
    (void)state;
    usock_tls_ctx *c = (usock_tls_ctx *)&c;
    assert_code(usock_tls_ctx_new(&c, USOCK_TLS_CLIENT), USOCK_ETLS_UNAVAILABLE);
    assert_null(c);
    usock_tls_ctx_free(NULL);
    usock *s;
    int peer;
    pair_with_raw_peer(AF_INET, &s, &peer);
    assert_code(usock_tls_wrap(NULL, s, "localhost", 0), USOCK_ETLS_UNAVAILABLE);
    int want;
    assert_code(usock_tls_handshake(s, &want), USOCK_ETLS_UNAVAILABLE);
    assert_int_equal(usock_tls_active(s), 0);
    assert_null(usock_tls_version(s));
    assert_null(usock_tls_alpn(s));
    assert_int_equal(usock_tls_session_reused(s), 0);
    /* still a plain socket */
    raw_send_str(peer, "plain\n");
    expect_readline(s, 16, "plain\n");
    usock_close(s);
    close(peer);
}

int main(void)
{
    usock_tls_ctx *probe = NULL;
    if (usock_tls_ctx_new(&probe, USOCK_TLS_CLIENT) == USOCK_ETLS_UNAVAILABLE) {
        const struct CMUnitTest none[] = {cmocka_unit_test(every_call_says_tls_unavailable)};
        return cmocka_run_group_tests(none, NULL, NULL);
    }
    usock_tls_ctx_free(probe);
    const struct CMUnitTest tests[] = {
        /* 1. contexts and arguments */
        T(ctx_new_checks_its_arguments),
        T(setters_refuse_bad_arguments),
        T(load_verify_of_a_missing_or_bad_file_is_etls_file),
        T(load_cert_chain_of_a_missing_file_or_a_wrong_key_is_etls_file),
        T(wrap_checks_its_arguments),
        T(getters_of_a_plain_socket_say_not_tls),
        /* 2. against openssl s_server */
        T(client_gets_the_status_page_of_openssl_s_server),
        T(readline_and_makefile_work_over_tls),
        T(second_connection_resumes_the_session),
        T(client_over_ipv6_checks_the_ipv6_san),
        /* 3. verification */
        T(system_store_does_not_know_the_test_ca),
        T(certificate_of_another_ca_is_etls_unknown_ca),
        T(self_signed_certificate_is_etls_unknown_ca),
        T(expired_certificate_is_etls_expired),
        T(wrong_host_name_is_etls_hostname),
        T(ip_address_is_checked_against_the_ip_san),
        T(host_name_is_sent_as_sni),
        T(ip_address_is_not_sent_as_sni),
        T(cert_none_accepts_any_certificate),
        T(check_hostname_off_still_checks_the_chain),
        /* 4. versions */
        T(default_client_speaks_tls12_to_a_tls12_server),
        T(min_version_13_against_a_tls12_server_is_etls_version),
        /* 5. in-process client and server */
        T(echo_between_usock_client_and_server),
        T(one_mib_each_way_with_sendall_and_recv),
        T(alpn_picks_the_common_protocol),
        T(deferred_handshake_happens_at_the_first_send),
        /* 6. client certificates */
        T(required_client_certificate_missing_fails),
        T(required_client_certificate_present_succeeds),
        T(client_certificate_of_an_unknown_ca_is_refused),
        T(optional_client_certificate_may_be_absent),
        /* 7. timeouts */
        T(client_wrap_times_out_against_a_silent_server),
        T(server_wrap_times_out_against_a_silent_client),
        T(recv_timeout_after_the_handshake_loses_nothing),
        /* 8. non-blocking, poll */
        T(nonblocking_handshakes_driven_by_poll),
        T(nonblocking_client_handshake_against_a_thread),
        T(poll_reports_bytes_buffered_inside_openssl),
        T(poll_reports_a_line_left_by_readline),
        /* 9. Python's ssl */
        T(usock_client_and_python_server),
        T(python_client_and_usock_server),
        T(server_min_13_refuses_a_tls12_python_client),
        /* 10. end of stream */
        T(peer_gone_without_close_notify_is_eof),
        T(peer_close_notify_is_eof_and_later_sends_fail_without_sigpipe),
        /* 12. the rest of the socket API, sharing, resumption */
        T(starttls_after_plain_lines),
        T(wrap_refuses_a_socket_holding_plain_bytes),
        T(recv_flags_peek_and_dontwait_over_tls),
        T(sendfile_over_tls_sends_the_file),
        T(load_verify_takes_a_hashed_directory),
        T(usock_server_resumes_a_usock_client_session),
        T(session_with_a_client_certificate_resumes),
        T(threads_share_contexts),
        T(sendall_to_a_peer_that_does_not_read_times_out),
        T(nonblocking_sends_with_poll_arrive_whole),
        T(close_after_sendall_without_reading_delivers_everything),
        /* 11. close */
        T(close_releases_every_kind_of_tls_socket),
    };
    if (getenv("USOCK_TEST_FILTER"))
        cmocka_set_test_filter(getenv("USOCK_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
