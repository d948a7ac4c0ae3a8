/* echo_modes.c -- `usock echo --mode sequential|threading|forking|pool`: the
 * echo on the server layer (server.h), as Python's socketserver serves it.
 *
 * Stopping: SIGINT/SIGTERM ask the server to stop (async-signal-safe) and
 * wake a stopper thread, which shuts down the connections being served so
 * that their handlers return; then serve_forever returns and server_close
 * joins the threads (pool, threading). A forked child ends with its client,
 * or with the server process: on its own SIGINT/SIGTERM, and (Linux) when
 * the server process ends. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "cli.h"

/* A connection being served, linked from its handler's stack. */
struct active {
    usock *s;
    struct active *prev, *next;
};

struct echo_srv {
    int upper;
    pthread_mutex_t lock;
    int stopping;           /* set by the stopper: handlers serve no more */
    struct active *active;
    usock *wake;            /* wakes the stopper */
    usock_poll *poll;       /* the stopper's */
};

static usock_server *volatile the_server;
static usock *volatile stop_wake;
static pid_t server_pid;

static void on_signal(int sig)
{
    if (getpid() != server_pid)
        _exit(0); /* a forked child: it ends, and its client sees the close */
    int saved = errno;
    cli_stop_signal = sig;
    usock_server *srv = the_server;
    if (srv)
        usock_server_request_shutdown(srv);
    usock *w = stop_wake;
    if (w)
        usock_wake(w);
    errno = saved;
}

/* Adds a connection to the ones the stopper shuts down; 0 when the server
 * is stopping (the connection is then not served). Forked children keep
 * no list: the server process cannot reach them. */
static int track(struct echo_srv *e, struct active *a)
{
    if (getpid() != server_pid) {
#ifdef __linux__
        /* End when the server process does. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
        return getppid() == server_pid;
    }
    pthread_mutex_lock(&e->lock);
    int ok = !e->stopping;
    if (ok) {
        a->next = e->active;
        if (a->next)
            a->next->prev = a;
        e->active = a;
    }
    pthread_mutex_unlock(&e->lock);
    return ok;
}

static void untrack(struct echo_srv *e, struct active *a)
{
    if (getpid() != server_pid)
        return;
    pthread_mutex_lock(&e->lock);
    if (a->prev)
        a->prev->next = a->next;
    else if (e->active == a)
        e->active = a->next;
    if (a->next)
        a->next->prev = a->prev;
    pthread_mutex_unlock(&e->lock);
}

/* The stream handler: echoes until the client's end of file. */
static int echo_stream(usock_request *req)
{
    struct echo_srv *e = req->udata;
    struct active a = {.s = req->sock};
    if (!track(e, &a))
        return 0;
    /* Replies go out at once: Nagle would hold a small echo back until the
     * client acknowledges the previous one. (Not for Unix sockets.) */
    if (usock_addr_family(req->peer) != AF_UNIX) {
        int one = 1;
        usock_setsockopt(req->sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    char *buf = malloc(BUF_SIZE);
    int rc = buf ? 0 : USOCK_ENOMEM;
    while (rc == 0) {
        ssize_t n = usock_recv(req->sock, buf, BUF_SIZE);
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        if (e->upper)
            cli_upcase(buf, (size_t)n);
        rc = usock_sendall(req->sock, buf, (size_t)n);
    }
    untrack(e, &a);
    free(buf);
    if (getpid() == server_pid) {
        pthread_mutex_lock(&e->lock);
        if (e->stopping)
            rc = 0; /* its connection was shut down on purpose */
        pthread_mutex_unlock(&e->lock);
    }
    return rc;
}

/* The datagram handler: each datagram goes back to its sender. */
static int echo_dgram(usock_request *req)
{
    struct echo_srv *e = req->udata;
    const void *reply = req->data;
    char *buf = NULL;
    if (e->upper && req->len) {
        if (!(buf = malloc(req->len)))
            return USOCK_ENOMEM;
        memcpy(buf, req->data, req->len);
        cli_upcase(buf, req->len);
        reply = buf;
    }
    ssize_t n = usock_sendto(req->sock, reply, req->len, req->peer);
    free(buf);
    /* UDP may drop: a reply that would block is lost, as on the wire. */
    return (n < 0 && n != USOCK_EAGAIN) ? (int)n : 0;
}

static void on_error(usock_server *srv, const usock_addr *peer, int err, void *udata)
{
    (void)srv;
    (void)udata;
    char text[USOCK_ADDRSTRLEN];
    if (!peer || usock_addr_format(peer, text, sizeof text) < 0)
        strcpy(text, "client");
    fprintf(stderr, "usock: echo %s: %s\n", text, usock_strerror(err));
}

/* The stopper thread: waits for the signal handler's wake-up (or the end
 * of serving), then shuts down every connection being served. */
static void *stopper(void *arg)
{
    struct echo_srv *e = arg;
    usock_event ev;
    for (;;) {
        if (usock_poll_wait(e->poll, -1, &ev, 1) < 0)
            break;
        (void)usock_wake_clear(e->wake);
        pthread_mutex_lock(&e->lock);
        int go = e->stopping || cli_stop_signal;
        pthread_mutex_unlock(&e->lock);
        if (go)
            break;
    }
    pthread_mutex_lock(&e->lock);
    e->stopping = 1;
    for (struct active *a = e->active; a; a = a->next)
        (void)shutdown(usock_fileno(a->s), SHUT_RDWR);
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

/* Binds, prints "listening on", serves until a signal. Returns the exit
 * status. */
static int serve(struct echo_srv *e, struct opts *o)
{
    usock_addr a;
    char text[HOSTPORT_LEN];
    int rc = cli_listen_addr(o, &a, text, sizeof text);
    if (rc)
        return rc;
    usock_server_opts so;
    usock_server_opts_init(&so);
    so.type = o->udp ? SOCK_DGRAM : SOCK_STREAM;
    so.mode = o->mode;
    so.allow_reuse_address = 1;
    so.dualstack = usock_addr_family(&a) == AF_INET6;
    so.request_queue_size = LISTEN_BACKLOG;
    if (o->mode == USOCK_SERVER_FORKING && o->workers)
        so.max_children = o->workers;
    else
        so.workers = o->workers;
    so.max_packet_size = BUF_SIZE;
    so.handle_error = on_error;
    /* Threads are joined once the stopper has shut their connections;
     * children are not waited for: they end with their clients. */
    so.block_on_close = o->mode != USOCK_SERVER_FORKING;
    usock_server *srv;
    rc = usock_server_new(&srv, &a, o->udp ? echo_dgram : echo_stream, e, &so);
    if (rc < 0)
        return cli_fail("bind", text, rc);
    if (!o->unix_path && ((rc = usock_server_address(srv, &a)) < 0 ||
                          (rc = usock_addr_format(&a, text, sizeof text)) < 0)) {
        usock_server_close(srv);
        return cli_fail("listen", text, rc);
    }

    pthread_t tid;
    if ((rc = -pthread_create(&tid, NULL, stopper, e)) < 0) {
        usock_server_close(srv);
        cli_unlink_path(o->unix_path);
        return cli_fail("echo", "thread", rc);
    }
    server_pid = getpid();
    the_server = srv;
    stop_wake = e->wake;
    cli_on_signals(on_signal);
    fprintf(stderr, "listening on %s\n", text);

    rc = cli_stop_signal ? 0 : usock_server_serve_forever(srv, -1);
    the_server = NULL;
    pthread_mutex_lock(&e->lock);
    e->stopping = 1;
    pthread_mutex_unlock(&e->lock);
    usock_wake(e->wake);
    pthread_join(tid, NULL);
    stop_wake = NULL;
    usock_server_close(srv);
    cli_unlink_path(o->unix_path);
    return rc < 0 ? cli_fail("echo", text, rc) : 0;
}

int cli_echo_modes(struct opts *o)
{
    struct echo_srv e;
    memset(&e, 0, sizeof e);
    e.upper = o->upper;
    pthread_mutex_init(&e.lock, NULL);
    int rc = usock_poll_new(&e.poll);
    if (rc == 0)
        rc = usock_waker(&e.wake);
    if (rc == 0)
        rc = usock_poll_register(e.poll, e.wake, USOCK_POLLIN, NULL);
    rc = rc < 0 ? cli_fail("echo", "poll", rc) : serve(&e, o);
    if (e.poll && e.wake)
        usock_poll_unregister(e.poll, e.wake);
    usock_close(e.wake);
    usock_poll_free(e.poll);
    pthread_mutex_destroy(&e.lock);
    return rc;
}
