/* server.c -- Python's socketserver: TCP, UDP and Unix-domain servers served
 * sequentially, by a thread or a process per request, or by a worker pool.
 *
 * Built on the public socket and poll API only. One loop (turn) serves both
 * serve_forever and handle_request: it waits on the listener and a waker
 * (plus, in forking mode, one socket per child that hangs up when the child
 * ends), and stops watching the listener while it must not accept: during
 * an EMFILE back-off, while the pool's queue is full, while max_children
 * children run. */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "usock/server.h"

#include "shared.h"

#define STACK_SIZE (256 * 1024) /* handler threads: 100 of them cost 25 MiB of address space */
#define BACKOFF_MIN_MS 10
#define BACKOFF_MAX_MS 500
#define BATCH 32 /* requests taken per readiness of the listener */
#define MAX_EVENTS 16
#define MAX_PACKET (1u << 20)

/* Counters. In forking mode they live in a MAP_SHARED mapping, so that
 * children add to them; lock-free 64-bit atomics work across processes. */
struct stats {
    _Atomic uint64_t accepted, active, requests, errors, bytes_in, bytes_out;
};

/* A request on its way to a pool worker. */
struct job {
    usock *conn;
    usock_addr peer;
    char *data; /* datagrams: one of the pool's packet buffers */
    size_t len;
};

/* A request on its way to a thread of its own; the packet follows. */
struct tjob {
    usock_server *srv;
    struct tjob *next; /* in the list of finished threads */
    pthread_t self;
    usock *conn;
    usock_addr peer;
    size_t len;
    char data[];
};

/* A forked child and our end of a socket pair whose other end only the
 * child holds: it hangs up when the child ends, crash or not. */
struct child {
    pid_t pid;
    usock *end;
};

struct usock_server {
    usock_server_opts o;
    usock_handler handler;
    void *udata;
    usock *sock; /* listener or datagram socket */
    usock *waker;
    usock_poll *poll;
    usock_addr addr;
    struct stats *st, st_local;
    char *pkt; /* the loop's datagram buffer */

    /* The loop. busy: serve_forever or handle_request runs; serving:
     * serve_forever runs (shutdown waits for it); gen counts its runs. */
    atomic_int shutdown_req;
    pthread_mutex_t mu;
    pthread_cond_t done;
    int busy, serving;
    unsigned long gen;
    pthread_t serve_thread;
    int listening;         /* the listener is watched */
    int backoff_ms;        /* the next pause after EMFILE */
    long long backoff_end; /* monotonic ms; 0: no pause */

    pthread_mutex_t log_mu;

    /* Threading (under mu). A finished thread puts itself on the finished
     * list and returns; the loop joins the list before it starts the next
     * thread and every turn, so finished threads never pile up, and no
     * thread waits for another. The server is freed by whoever drops the
     * last reference. */
    pthread_attr_t attr;
    int attr_ok;
    int nthreads, refs;
    struct tjob *finished;

    /* Pool (under qmu). Datagram buffers: queue_size + workers, enough
     * for a full queue and one in every worker's hands. */
    pthread_mutex_t qmu;
    pthread_cond_t not_empty;
    pthread_t *workers;
    int nworkers, started;
    struct job *ring;
    int qcap, qhead, qcount;
    int blocked; /* the loop waits for room: wake it */
    int stop;
    char **freebufs;
    int nfree;
    char *bufmem;

    /* Forking (the loop's thread only). spare: the next child's socket
     * pair, made before its request is taken, so that running out of
     * descriptors leaves the request waiting instead of dropping it. */
    struct child *kids;
    int nkids;
    usock *spare[2];
};

/* ---- small helpers ------------------------------------------------------- */

/* Seconds to poll milliseconds, rounded up; < 0 is forever. */
static int to_ms(double seconds)
{
    if (seconds < 0)
        return -1;
    double ms = seconds * 1000.0;
    if (ms >= (double)INT_MAX)
        return INT_MAX;
    int r = (int)ms;
    return r + (r < ms);
}

static void add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_release);
}

static void sub(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_sub_explicit(c, n, memory_order_release);
}

__attribute__((format(printf, 2, 3))) static void say(usock_server *s, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&s->log_mu);
    if (s->o.log)
        s->o.log(line, s->udata);
    else
        fprintf(stderr, "%s\n", line);
    pthread_mutex_unlock(&s->log_mu);
}

/* A peer for messages: "1.2.3.4:80", "[::1]:80", a Unix path, "@name"
 * for an abstract one, "(unnamed)" for an unbound Unix socket. */
static void peer_text(const usock_addr *a, char *buf, size_t cap)
{
    int n = usock_addr_format(a, buf, cap);
    if (n <= 0)
        snprintf(buf, cap, "%s", n == 0 ? "(unnamed)" : "(unknown)");
}

/* Python's handle_error: the user's, or one line through the log. */
static void report_error(usock_server *s, const usock_addr *peer, int err)
{
    if (s->o.handle_error) {
        s->o.handle_error(s, peer, err, s->udata);
        return;
    }
    char who[USOCK_ADDRSTRLEN + 48];
    peer_text(peer, who, sizeof who);
    say(s, "Exception occurred during processing of request from %s: %s (%s)", who,
        usock_errname(err), usock_strerror(err));
}

/* A request the server could not hand to its handler (no thread, no
 * process): counted as an error, reported, and its connection closed. */
static void drop_request(usock_server *s, usock *conn, const usock_addr *peer, int err)
{
    add(&s->st->errors, 1);
    report_error(s, peer, err);
    sub(&s->st->active, 1);
    usock_close(conn);
}

/* Runs the handler on one request and accounts for it: counters and
 * handle_error come before the connection closes, so a client that sees
 * the end of its connection sees them done. RUN_DGRAM_OUT: count what the
 * handler sent on the shared datagram socket (forked children only; the
 * others' replies are read live from the socket by stats_get). RUN_SHUT:
 * shut the connection down before closing it, as a forked child must
 * (Python's shutdown_request), since the parent may still hold a copy. */
#define RUN_DGRAM_OUT 1
#define RUN_SHUT 2
static void run_request(usock_server *s, usock *conn, const usock_addr *peer, const void *data,
                        size_t len, int flags)
{
    int dgram_out = flags & RUN_DGRAM_OUT;
    usock_request rq = {.server = s,
                        .udata = s->udata,
                        .peer = peer,
                        .sock = conn ? conn : s->sock,
                        .data = conn ? NULL : data,
                        .len = conn ? 0 : len};
    unsigned long long in = len, out = 0, out0 = 0;
    if (dgram_out)
        usock_iostat(s->sock, NULL, &out0);
    int r = s->handler(&rq);
    if (conn)
        usock_iostat(conn, &in, &out);
    else if (dgram_out) {
        usock_iostat(s->sock, NULL, &out);
        out -= out0;
    }
    add(&s->st->bytes_in, in);
    add(&s->st->bytes_out, out);
    if (r < 0) {
        add(&s->st->errors, 1);
        report_error(s, peer, r);
    }
    add(&s->st->requests, 1);
    sub(&s->st->active, 1);
    if (conn && (flags & RUN_SHUT))
        usock_shutdown(conn, SHUT_WR);
    usock_close(conn);
}

/* ---- threading ----------------------------------------------------------- */

static void destroy(usock_server *s);

/* Joins the finished threads (each has done all but return) and frees
 * their jobs; the calling thread, if on the list, detaches itself. */
static void join_finished(usock_server *s)
{
    pthread_mutex_lock(&s->mu);
    struct tjob *j = s->finished;
    s->finished = NULL;
    pthread_mutex_unlock(&s->mu);
    while (j) {
        struct tjob *next = j->next;
        if (pthread_equal(j->self, pthread_self()))
            pthread_detach(j->self);
        else
            pthread_join(j->self, NULL);
        free(j);
        j = next;
    }
}

static void *thread_main(void *arg)
{
    struct tjob *j = arg;
    usock_server *s = j->srv;
    run_request(s, j->conn, &j->peer, j->data, j->len, 0);

    int daemon = s->o.daemon_threads;
    pthread_mutex_lock(&s->mu);
    if (!daemon) {
        j->self = pthread_self();
        j->next = s->finished;
        s->finished = j;
    }
    s->nthreads--;
    int last = --s->refs == 0;
    if (s->nthreads == 0)
        pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->mu);
    if (daemon)
        free(j);
    if (last) { /* server_close has gone: nobody else will join */
        join_finished(s);
        destroy(s);
    }
    return NULL;
}

static void spawn_thread(usock_server *s, usock *conn, const usock_addr *peer, const void *data,
                         size_t len)
{
    join_finished(s);
    struct tjob *j = malloc(sizeof *j + (conn ? 0 : len));
    if (!j) {
        drop_request(s, conn, peer, USOCK_ENOMEM);
        return;
    }
    j->srv = s;
    j->conn = conn;
    j->peer = *peer;
    j->len = conn ? 0 : len;
    if (!conn && len)
        memcpy(j->data, data, len);
    pthread_mutex_lock(&s->mu);
    s->nthreads++;
    s->refs++;
    pthread_mutex_unlock(&s->mu);
    pthread_t t;
    int r = pthread_create(&t, &s->attr, thread_main, j);
    if (r != 0) {
        pthread_mutex_lock(&s->mu);
        s->nthreads--;
        s->refs--;
        pthread_mutex_unlock(&s->mu);
        free(j);
        drop_request(s, conn, peer, -r);
    }
}

/* ---- pool ---------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    usock_server *s = arg;
    char *mine = NULL;
    pthread_mutex_lock(&s->qmu);
    for (;;) {
        if (mine) {
            s->freebufs[s->nfree++] = mine;
            mine = NULL;
        }
        while (s->qcount == 0 && !s->stop)
            pthread_cond_wait(&s->not_empty, &s->qmu);
        if (s->qcount == 0)
            break;
        struct job j = s->ring[s->qhead];
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qcount--;
        if (s->blocked) {
            s->blocked = 0;
            usock_wake(s->waker);
        }
        pthread_mutex_unlock(&s->qmu);
        run_request(s, j.conn, &j.peer, j.data, j.len, 0);
        mine = j.data;
        pthread_mutex_lock(&s->qmu);
    }
    pthread_mutex_unlock(&s->qmu);
    return NULL;
}

/* The loop checked for room before taking the request. */
static void enqueue(usock_server *s, usock *conn, const usock_addr *peer, const void *data,
                    size_t len)
{
    pthread_mutex_lock(&s->qmu);
    struct job *j = &s->ring[(s->qhead + s->qcount) % s->qcap];
    j->conn = conn;
    j->peer = *peer;
    j->len = conn ? 0 : len;
    j->data = NULL;
    if (!conn) {
        j->data = s->freebufs[--s->nfree];
        memcpy(j->data, data, len);
    }
    s->qcount++;
    pthread_cond_signal(&s->not_empty);
    pthread_mutex_unlock(&s->qmu);
}

/* ---- forking ------------------------------------------------------------- */

static void start_backoff(usock_server *s, int err);

__attribute__((noreturn)) static void child_main(usock_server *s, usock *conn,
                                                 const usock_addr *peer, const void *data,
                                                 size_t len, usock *mine, usock *end)
{
    /* Freeing the poll first drops every registration without touching
     * the kernel's epoll set, which the parent shares with us. */
    usock_poll_free(s->poll);
    s->poll = NULL;
    usock_close(mine);
    for (int i = 0; i < s->o.max_children; i++)
        usock_close(s->kids[i].end);
    usock_close(s->waker);
    if (conn) {
        usock_close(s->sock);
        s->sock = NULL;
    }
    run_request(s, conn, peer, data, len, conn ? RUN_SHUT : RUN_DGRAM_OUT);
    usock_close(end);
    _exit(0);
}

/* Closes a socket of the poll; unregistered first, so that the poll does
 * not report it closed (USOCK_POLLNVAL) on a later turn. */
static void forget(usock_server *s, usock *sock)
{
    if (s->poll && sock)
        usock_poll_unregister(s->poll, sock);
    usock_close(sock);
}

static int free_kid(usock_server *s)
{
    for (int i = 0; i < s->o.max_children; i++)
        if (!s->kids[i].end)
            return i;
    return -1;
}

/* Makes the next child's socket pair if there is none; on failure pauses
 * taking requests (as when accept fails) and returns the error. */
static int make_spare(usock_server *s)
{
    if (s->spare[0])
        return 0;
    int r = usock_socketpair(&s->spare[0], &s->spare[1], AF_UNIX, SOCK_STREAM);
    if (r < 0) {
        s->spare[0] = s->spare[1] = NULL;
        start_backoff(s, r);
    }
    return r;
}

static void fork_request(usock_server *s, usock *conn, const usock_addr *peer, const void *data,
                         size_t len)
{
    int k = free_kid(s);
    if (k < 0 || !s->spare[0]) { /* take_one checked both */
        drop_request(s, conn, peer, USOCK_EAGAIN);
        return;
    }
    usock *mine = s->spare[0], *theirs = s->spare[1];
    s->spare[0] = s->spare[1] = NULL;
    pid_t pid = fork();
    if (pid == 0)
        child_main(s, conn, peer, data, len, mine, theirs);
    int err = pid < 0 ? -errno : 0;
    usock_close(theirs);
    if (pid > 0)
        err = usock_poll_register(s->poll, mine, USOCK_POLLIN, &s->kids[k]);
    if (err < 0) {
        usock_close(mine);
        if (pid > 0) { /* cannot watch it: wait for it now */
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
            }
        }
        drop_request(s, conn, peer, err);
        return;
    }
    s->kids[k] = (struct child){.pid = pid, .end = mine};
    s->nkids++;
    usock_close(conn); /* Python's close_request: the child has its copy */
}

static void reap(usock_server *s, struct child *c)
{
    int st = 0;
    pid_t r;
    while ((r = waitpid(c->pid, &st, 0)) < 0 && errno == EINTR) {
    }
    pid_t pid = c->pid;
    forget(s, c->end);
    *c = (struct child){0};
    s->nkids--;
    if (r != pid || (WIFEXITED(st) && WEXITSTATUS(st) == 0))
        return;
    /* The child did not get to account for its request. */
    add(&s->st->errors, 1);
    sub(&s->st->active, 1);
    if (WIFSIGNALED(st))
        say(s, "child %ld killed by signal %d (%s)", (long)pid, WTERMSIG(st),
            strsignal(WTERMSIG(st)));
    else
        say(s, "child %ld exited with status %d", (long)pid, WEXITSTATUS(st));
}

/* ---- the loop ------------------------------------------------------------ */

/* Out of descriptors: stop watching the listener for a pause that doubles
 * up to BACKOFF_MAX_MS, so that the loop neither spins nor exits. */
static void start_backoff(usock_server *s, int err)
{
    if (s->backoff_ms == BACKOFF_MIN_MS)
        say(s, "accept: %s (%s); pausing", usock_errname(err), usock_strerror(err));
    s->backoff_end = usock__now_ms() + s->backoff_ms;
    if (s->backoff_ms < BACKOFF_MAX_MS)
        s->backoff_ms = s->backoff_ms * 2 < BACKOFF_MAX_MS ? s->backoff_ms * 2 : BACKOFF_MAX_MS;
}

/* May the loop take another request now? Forking: fewer than max_children
 * children; pool: room in the queue (else the next worker to take a job
 * wakes the loop). */
static int room(usock_server *s)
{
    if (s->o.mode == USOCK_SERVER_FORKING)
        return s->nkids < s->o.max_children;
    if (s->o.mode != USOCK_SERVER_POOL)
        return 1;
    pthread_mutex_lock(&s->qmu);
    int ok = s->qcount < s->qcap;
    if (!ok)
        s->blocked = 1;
    pthread_mutex_unlock(&s->qmu);
    return ok;
}

static int may_take(usock_server *s)
{
    if (s->backoff_end) {
        if (usock__now_ms() < s->backoff_end)
            return 0;
        s->backoff_end = 0;
    }
    return room(s);
}

/* Watches the listener exactly when the loop may take a request. */
static int gate(usock_server *s)
{
    int want = may_take(s);
    if (want != s->listening) {
        int r = usock_poll_modify(s->poll, s->sock, want ? USOCK_POLLIN : 0);
        if (r < 0)
            return r;
        s->listening = want;
    }
    return 0;
}

static void dispatch(usock_server *s, usock *conn, const usock_addr *peer, const void *data,
                     size_t len)
{
    add(&s->st->active, 1);
    switch (s->o.mode) {
    case USOCK_SERVER_THREADING: spawn_thread(s, conn, peer, data, len); break;
    case USOCK_SERVER_FORKING: fork_request(s, conn, peer, data, len); break;
    case USOCK_SERVER_POOL: enqueue(s, conn, peer, data, len); break;
    default: run_request(s, conn, peer, data, len, 0);
    }
}

/* Python's _handle_request_noblock: takes one connection or datagram if
 * there is one, verifies it and hands it on. Returns 1 when one was
 * taken (served or refused), 0 when there was none to take. */
static int take_one(usock_server *s)
{
    usock_addr peer;
    usock *conn = NULL;
    ssize_t n = 0;
    memset(&peer, 0, sizeof peer);
    if (s->o.mode == USOCK_SERVER_FORKING && make_spare(s) < 0)
        return 0; /* the request stays where it is */
    if (s->o.type == SOCK_STREAM) {
        int r = usock_accept(s->sock, &conn, &peer);
        if (r == USOCK_EMFILE || r == USOCK_ENFILE || r == USOCK_ENOBUFS || r == USOCK_ENOMEM)
            start_backoff(s, r);
        if (r < 0) /* EAGAIN, or an error of that connection alone */
            return 0;
        s->backoff_ms = BACKOFF_MIN_MS;
        if (s->o.conn_timeout >= 0)
            usock_settimeout(conn, s->o.conn_timeout);
    } else {
        n = usock_recvfrom_flags(s->sock, s->pkt, s->o.max_packet_size, &peer, USOCK_MSG_DONTWAIT);
        if (n < 0)
            return 0;
    }
    add(&s->st->accepted, 1);
    if (s->o.verify_request && !s->o.verify_request(s, &peer, s->udata)) {
        if (conn) {
            usock_shutdown(conn, SHUT_WR);
            usock_close(conn);
        }
        return 1;
    }
    dispatch(s, conn, &peer, s->pkt, (size_t)n);
    return 1;
}

/* One turn: waits up to ms for the listener, the waker or a child, then
 * serves what is ready (at most one request when once). Returns the count
 * taken, or a negative code when the loop cannot go on. */
static int turn(usock_server *s, int ms, int once)
{
    usock_event ev[MAX_EVENTS];
    if (s->o.mode == USOCK_SERVER_THREADING)
        join_finished(s);
    int r = gate(s);
    if (r < 0)
        return r;
    if (s->backoff_end) {
        long long left = s->backoff_end - usock__now_ms();
        left = left < 0 ? 0 : left;
        if (ms < 0 || left < ms)
            ms = (int)left;
    }
    int n = usock_poll_wait(s->poll, ms, ev, MAX_EVENTS);
    if (n < 0)
        return n;
    if (!once && atomic_load(&s->shutdown_req))
        return 0;
    int taken = 0, ready = 0;
    for (int i = 0; i < n; i++) {
        if (ev[i].udata == &s->waker)
            usock_wake_clear(s->waker);
        else if (ev[i].udata == &s->sock)
            ready = s->listening;
        else if (ev[i].udata && ev[i].sock && ((struct child *)ev[i].udata)->end == ev[i].sock)
            reap(s, ev[i].udata);
    }
    while (ready && taken < (once ? 1 : BATCH) && may_take(s)) {
        if (!take_one(s))
            break;
        taken++;
        if (atomic_load(&s->shutdown_req))
            break;
    }
    return taken;
}

static int enter(usock_server *s, int serving)
{
    pthread_mutex_lock(&s->mu);
    int busy = s->busy;
    if (!busy) {
        s->busy = 1;
        s->serving = serving;
        s->serve_thread = pthread_self();
    }
    pthread_mutex_unlock(&s->mu);
    return busy ? USOCK_EBUSY : 0;
}

static void leave(usock_server *s)
{
    pthread_mutex_lock(&s->mu);
    if (s->serving) {
        s->gen++;
        atomic_store(&s->shutdown_req, 0);
    }
    s->busy = s->serving = 0;
    pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->mu);
}

USOCK_API int usock_server_serve_forever(usock_server *s, double poll_interval)
{
    if (!s || poll_interval != poll_interval || !s->sock)
        return USOCK_EINVAL;
    int r = enter(s, 1);
    if (r < 0)
        return r;
    int ms = poll_interval < 0 ? 500 : to_ms(poll_interval);
    while (!atomic_load(&s->shutdown_req)) {
        r = turn(s, ms, 0);
        if (r < 0)
            break;
        r = 0;
        if (atomic_load(&s->shutdown_req))
            break;
        if (s->o.service_actions)
            s->o.service_actions(s, s->udata);
    }
    leave(s);
    return r;
}

USOCK_API void usock_server_request_shutdown(usock_server *s)
{
    if (!s)
        return;
    atomic_store(&s->shutdown_req, 1);
    usock_wake(s->waker);
}

USOCK_API int usock_server_shutdown(usock_server *s)
{
    if (!s)
        return USOCK_EINVAL;
    usock_server_request_shutdown(s);
    pthread_mutex_lock(&s->mu);
    int r = 0;
    if (s->serving && pthread_equal(s->serve_thread, pthread_self()))
        r = USOCK_EDEADLK;
    else if (s->serving) {
        unsigned long gen = s->gen;
        while (s->serving && s->gen == gen)
            pthread_cond_wait(&s->done, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

USOCK_API int usock_server_handle_request(usock_server *s)
{
    if (!s || !s->sock)
        return USOCK_EINVAL;
    int r = enter(s, 0);
    if (r < 0)
        return r;
    long long deadline = s->o.timeout < 0 ? 0 : usock__now_ms() + to_ms(s->o.timeout);
    for (;;) {
        int ms = -1;
        if (deadline) {
            long long left = deadline - usock__now_ms();
            ms = left > 0 ? (int)(left < INT_MAX ? left : INT_MAX) : 0;
        }
        r = turn(s, ms, 1);
        if (r != 0)
            break;
        if (deadline && usock__now_ms() >= deadline) {
            if (s->o.handle_timeout)
                s->o.handle_timeout(s, s->udata);
            r = USOCK_ETIMEDOUT;
            break;
        }
    }
    leave(s);
    return r < 0 ? r : 0;
}

/* ---- creation and the end ------------------------------------------------ */

USOCK_API void usock_server_opts_init(usock_server_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->type = SOCK_STREAM;
    o->mode = USOCK_SERVER_SEQUENTIAL;
    o->request_queue_size = 5;
    o->conn_timeout = -1.0;
    o->timeout = -1.0;
    o->block_on_close = 1;
    o->max_children = 40;
    o->max_packet_size = 8192;
}

static int check_opts(const usock_server_opts *o)
{
    if (o->type != SOCK_STREAM && o->type != SOCK_DGRAM)
        return USOCK_EINVAL;
    if (o->mode < USOCK_SERVER_SEQUENTIAL || o->mode > USOCK_SERVER_POOL)
        return USOCK_EINVAL;
    if (o->request_queue_size < 0 || o->max_children < 1 || o->workers < 0 || o->queue_size < 0)
        return USOCK_EINVAL;
    if (o->max_packet_size < 1 || o->max_packet_size > MAX_PACKET)
        return USOCK_EINVAL;
    if (o->conn_timeout != o->conn_timeout || o->timeout != o->timeout)
        return USOCK_EINVAL;
    return 0;
}

/* Frees what the server holds; the threads and children are gone. */
static void destroy(usock_server *s)
{
    usock_close(s->sock);
    usock_close(s->waker);
    usock_poll_free(s->poll);
    for (int i = 0; s->kids && i < s->o.max_children; i++)
        usock_close(s->kids[i].end);
    usock_close(s->spare[0]);
    usock_close(s->spare[1]);
    free(s->kids);
    free(s->pkt);
    free(s->workers);
    free(s->ring);
    free(s->freebufs);
    free(s->bufmem);
    if (s->st != &s->st_local)
        munmap(s->st, sizeof *s->st);
    if (s->attr_ok)
        pthread_attr_destroy(&s->attr);
    pthread_cond_destroy(&s->not_empty);
    pthread_mutex_destroy(&s->qmu);
    pthread_cond_destroy(&s->done);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->log_mu);
    free(s);
}

static void init_stats(struct stats *st)
{
    atomic_init(&st->accepted, 0);
    atomic_init(&st->active, 0);
    atomic_init(&st->requests, 0);
    atomic_init(&st->errors, 0);
    atomic_init(&st->bytes_in, 0);
    atomic_init(&st->bytes_out, 0);
}

static int init_threads(usock_server *s)
{
    size_t stack = STACK_SIZE;
#ifdef PTHREAD_STACK_MIN
    if (stack < (size_t)PTHREAD_STACK_MIN)
        stack = PTHREAD_STACK_MIN;
#endif
    int r = pthread_attr_init(&s->attr);
    if (r != 0)
        return -r;
    s->attr_ok = 1;
    pthread_attr_setstacksize(&s->attr, stack);
    if (s->o.mode == USOCK_SERVER_THREADING && s->o.daemon_threads)
        pthread_attr_setdetachstate(&s->attr, PTHREAD_CREATE_DETACHED);
    return 0;
}

static void stop_pool(usock_server *s, int serve_queued);

static int init_pool(usock_server *s)
{
    usock_server_opts *o = &s->o;
    if (o->workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o->workers = n > 0 ? (int)n : 1;
    }
    if (o->queue_size == 0)
        o->queue_size = 4 * o->workers;
    s->qcap = o->queue_size;
    s->ring = calloc((size_t)s->qcap, sizeof *s->ring);
    s->workers = calloc((size_t)o->workers, sizeof *s->workers);
    if (!s->ring || !s->workers)
        return USOCK_ENOMEM;
    if (o->type == SOCK_DGRAM) {
        size_t nb = (size_t)s->qcap + (size_t)o->workers;
        s->freebufs = calloc(nb, sizeof *s->freebufs);
        s->bufmem = malloc(nb * o->max_packet_size);
        if (!s->freebufs || !s->bufmem)
            return USOCK_ENOMEM;
        for (size_t i = 0; i < nb; i++)
            s->freebufs[s->nfree++] = s->bufmem + i * o->max_packet_size;
    }
    for (int i = 0; i < o->workers; i++) {
        int r = pthread_create(&s->workers[i], &s->attr, worker_main, s);
        if (r != 0) {
            stop_pool(s, 0);
            return -r;
        }
        s->started++;
    }
    return 0;
}

/* Stops the workers once the queue is empty; without serve_queued the
 * queued connections are closed unserved. */
static void stop_pool(usock_server *s, int serve_queued)
{
    pthread_mutex_lock(&s->qmu);
    while (!serve_queued && s->qcount > 0) {
        struct job *j = &s->ring[s->qhead];
        usock_close(j->conn);
        if (j->data)
            s->freebufs[s->nfree++] = j->data;
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qcount--;
        sub(&s->st->active, 1);
    }
    s->stop = 1;
    pthread_cond_broadcast(&s->not_empty);
    pthread_mutex_unlock(&s->qmu);
    for (int i = 0; i < s->started; i++)
        pthread_join(s->workers[i], NULL);
    s->started = 0;
}

static int open_socket(usock_server *s, const usock_addr *addr)
{
    const usock_server_opts *o = &s->o;
    int flags = 0;
    if (o->type == SOCK_DGRAM)
        flags |= USOCK_CS_DGRAM;
    if (!o->allow_reuse_address)
        flags |= USOCK_CS_NO_REUSEADDR;
    if (o->allow_reuse_port)
        flags |= USOCK_CS_REUSEPORT;
    if (o->dualstack)
        flags |= USOCK_CS_DUALSTACK;
    int r = usock_create_server(&s->sock, addr, o->request_queue_size, flags);
    if (r < 0)
        return r;
    /* The loop takes connections until EAGAIN; datagrams are read with
     * MSG_DONTWAIT instead, so that handlers reply on a blocking socket. */
    if (o->type == SOCK_STREAM && (r = usock_settimeout(s->sock, 0)) < 0)
        return r;
    if ((r = usock_getsockname(s->sock, &s->addr)) < 0)
        return r;
    if ((r = usock_waker(&s->waker)) < 0 || (r = usock_poll_new(&s->poll)) < 0)
        return r;
    if ((r = usock_poll_register(s->poll, s->sock, USOCK_POLLIN, &s->sock)) < 0 ||
        (r = usock_poll_register(s->poll, s->waker, USOCK_POLLIN, &s->waker)) < 0)
        return r;
    s->listening = 1;
    return 0;
}

static int init_server(usock_server *s, const usock_addr *addr)
{
    int r = open_socket(s, addr);
    if (r < 0)
        return r;
    s->st = &s->st_local;
    if (s->o.mode == USOCK_SERVER_FORKING) {
        void *m =
            mmap(NULL, sizeof *s->st, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return -errno;
        s->st = m;
        s->kids = calloc((size_t)s->o.max_children, sizeof *s->kids);
        if (!s->kids)
            return USOCK_ENOMEM;
    }
    init_stats(s->st);
    if (s->o.type == SOCK_DGRAM && !(s->pkt = malloc(s->o.max_packet_size)))
        return USOCK_ENOMEM;
    if ((r = init_threads(s)) < 0)
        return r;
    if (s->o.mode == USOCK_SERVER_POOL)
        return init_pool(s);
    return 0;
}

USOCK_API int usock_server_new(usock_server **out, const usock_addr *addr, usock_handler handler,
                               void *udata, const usock_server_opts *opts)
{
    if (!out)
        return USOCK_EINVAL;
    *out = NULL;
    usock_server_opts o;
    usock_server_opts_init(&o);
    if (opts)
        o = *opts;
    if (!addr || !handler || check_opts(&o) < 0)
        return USOCK_EINVAL;
    usock_server *s = calloc(1, sizeof *s);
    if (!s)
        return USOCK_ENOMEM;
    s->o = o;
    s->handler = handler;
    s->udata = udata;
    s->refs = 1;
    s->backoff_ms = BACKOFF_MIN_MS;
    atomic_init(&s->shutdown_req, 0);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->log_mu, NULL);
    pthread_mutex_init(&s->qmu, NULL);
    pthread_cond_init(&s->done, NULL);
    pthread_cond_init(&s->not_empty, NULL);
    int r = init_server(s, addr);
    if (r < 0) {
        destroy(s);
        return r;
    }
    *out = s;
    return 0;
}

/* Waits for every child (block_on_close) or lets them go. */
static void close_children(usock_server *s)
{
    for (int i = 0; i < s->o.max_children; i++) {
        if (!s->kids[i].end)
            continue;
        if (s->o.block_on_close)
            reap(s, &s->kids[i]);
        else {
            forget(s, s->kids[i].end);
            s->kids[i] = (struct child){0};
            s->nkids--;
        }
    }
}

USOCK_API void usock_server_close(usock_server *s)
{
    if (!s)
        return;
    if (usock_server_shutdown(s) == USOCK_EDEADLK)
        return; /* from a handler of serve_forever's own thread: cannot free now */
    if (s->o.mode == USOCK_SERVER_FORKING)
        close_children(s);
    if (s->o.mode == USOCK_SERVER_POOL)
        stop_pool(s, s->o.block_on_close);
    /* A stream listener goes at once; a datagram socket stays for the
     * handler threads that may still reply on it. */
    if (s->o.type == SOCK_STREAM || s->o.mode != USOCK_SERVER_THREADING) {
        forget(s, s->sock);
        s->sock = NULL;
    }
    int wait = s->o.mode == USOCK_SERVER_THREADING && s->o.block_on_close && !s->o.daemon_threads;
    pthread_mutex_lock(&s->mu);
    while (wait && s->nthreads > 0)
        pthread_cond_wait(&s->done, &s->mu);
    /* With threads still running, the last of them joins the others. */
    int join = s->nthreads == 0;
    int last = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (join)
        join_finished(s);
    if (last)
        destroy(s);
}

USOCK_API int usock_server_address(const usock_server *s, usock_addr *a)
{
    if (!s || !a)
        return USOCK_EINVAL;
    *a = s->addr;
    return 0;
}

USOCK_API usock *usock_server_socket(const usock_server *s)
{
    return s ? s->sock : NULL;
}

static uint64_t get(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_acquire);
}

USOCK_API void usock_server_stats_get(const usock_server *s, usock_server_stats *st)
{
    if (!st)
        return;
    memset(st, 0, sizeof *st);
    if (!s)
        return;
    st->accepted = get(&s->st->accepted);
    st->active = get(&s->st->active);
    st->requests = get(&s->st->requests);
    st->errors = get(&s->st->errors);
    st->bytes_in = get(&s->st->bytes_in);
    st->bytes_out = get(&s->st->bytes_out);
    if (s->o.type == SOCK_DGRAM && s->sock) {
        /* Replies went out on the shared socket: its own count is exact
         * whichever thread sent them (forked children add theirs above). */
        unsigned long long out = 0;
        usock_iostat(s->sock, NULL, &out);
        st->bytes_out += out;
    }
}
