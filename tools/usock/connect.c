/* connect.c -- the clients: `usock connect` (stdin and stdout over TCP or
 * a Unix socket), `usock send` (a file upload) and `usock udp` (one datagram
 * and its reply). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define UDP_TIMEOUT 5.0

static const char usage_connect[] =
    "usage: usock connect HOST PORT [-t SECONDS]\n"
    "       usock connect --unix PATH [-t SECONDS]\n"
    "\n"
    "Connects to HOST PORT (each address in turn) or to the Unix stream\n"
    "socket PATH ('@name': abstract), copies stdin to the socket and the\n"
    "socket to stdout until both sides have closed.\n"
    "\n"
    "  --unix PATH  a Unix-domain stream socket instead of HOST PORT\n"
    "  -t SECONDS   bound on connecting and on idle time\n";

static const char usage_send[] =
    "usage: usock send HOST PORT FILE [--chunk BYTES] [-t SECONDS]\n"
    "\n"
    "Connects to HOST PORT and uploads FILE in pieces, then closes. FILE\n"
    "must be a readable regular file; it is checked before connecting.\n"
    "\n"
    "  --chunk BYTES   size of each piece (default 2048)\n"
    "  -t SECONDS      bound on connecting and on each piece\n";

static const char usage_udp[] =
    "usage: usock udp HOST PORT MESSAGE [-t SECONDS]\n"
    "\n"
    "Sends MESSAGE as one datagram and prints the reply's bytes.\n"
    "\n"
    "  -t SECONDS   how long to wait for the reply (default 5)\n";

/* ---------------------------------------------------------------- connect */

/* stdin is not a socket, so a thread reads it and feeds one end of a
 * socket pair; the main thread polls the other end beside the peer. */
static void *stdin_pump(void *arg)
{
    usock *w = arg;
    char *buf = malloc(BUF_SIZE);
    for (;;) {
        ssize_t n = buf ? read(0, buf, BUF_SIZE) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || usock_sendall(w, buf, (size_t)n) < 0)
            break;
    }
    free(buf);
    usock_close(w); /* the main thread sees EOF */
    return NULL;
}

struct relay {
    usock_poll *poll;
    usock *peer, *in;      /* the connection; the stdin pair's read end */
    int peer_ev, in_ev;    /* what each is registered for (0: not) */
    int in_eof, peer_eof, shut;
    char up[BUF_SIZE];     /* stdin bytes not yet sent */
    size_t uoff, ulen;
    char down[BUF_SIZE];
};

/* Registers, modifies or unregisters s so that it is watched for ev. */
static int watch(usock_poll *p, usock *s, int *cur, int ev)
{
    int rc = 0;
    if (ev == *cur)
        return 0;
    if (*cur == 0)
        rc = usock_poll_register(p, s, ev, NULL);
    else if (ev == 0)
        rc = usock_poll_unregister(p, s);
    else
        rc = usock_poll_modify(p, s, ev);
    if (rc == 0)
        *cur = ev;
    return rc;
}

static int relay_watch(struct relay *r)
{
    int in = (r->ulen == 0 && !r->in_eof) ? USOCK_POLLIN : 0;
    int peer = (r->peer_eof ? 0 : USOCK_POLLIN) | (r->ulen ? USOCK_POLLOUT : 0);
    int rc = watch(r->poll, r->in, &r->in_ev, in);
    return rc < 0 ? rc : watch(r->poll, r->peer, &r->peer_ev, peer);
}

/* Sends what stdin gave; once stdin ended and all is sent, half-closes. */
static int relay_up(struct relay *r)
{
    if (r->ulen) {
        ssize_t n = usock_send(r->peer, r->up + r->uoff, r->ulen - r->uoff);
        if (n == USOCK_EAGAIN || n == USOCK_EINTR)
            return 0;
        if (n < 0)
            return (int)n;
        r->uoff += (size_t)n;
        if (r->uoff == r->ulen)
            r->uoff = r->ulen = 0;
    }
    if (r->in_eof && r->ulen == 0 && !r->shut) {
        r->shut = 1;
        int rc = usock_shutdown(r->peer, SHUT_WR);
        if (rc < 0 && rc != USOCK_ENOTCONN)
            return rc;
    }
    return 0;
}

static int relay_stdin(struct relay *r)
{
    ssize_t n = usock_recv(r->in, r->up, sizeof r->up);
    if (n == USOCK_EAGAIN || n == USOCK_EINTR)
        return 0;
    if (n <= 0)
        r->in_eof = 1; /* the pump closed its end: stdin ended */
    else
        r->ulen = (size_t)n;
    return relay_up(r);
}

/* One read from the peer to stdout. Returns 0 or a negative code; a code
 * of 1 means stdout failed (its message is printed here). */
static int relay_down(struct relay *r)
{
    ssize_t n = usock_recv(r->peer, r->down, sizeof r->down);
    if (n == USOCK_EAGAIN || n == USOCK_EINTR)
        return 0;
    if (n < 0)
        return (int)n;
    if (n == 0) {
        r->peer_eof = 1;
        return 0;
    }
    int rc = cli_write_all(1, r->down, (size_t)n);
    if (rc < 0) {
        fprintf(stderr, "usock: connect stdout: %s\n", usock_strerror(rc));
        return 1;
    }
    return 0;
}

/* Relays until both directions are closed; returns 0 or an error code
 * (1: already reported). */
static int relay_loop(struct relay *r, int idle_ms)
{
    int rc;
    while (!(r->in_eof && r->shut && r->peer_eof)) {
        if ((rc = relay_watch(r)) < 0)
            return rc;
        usock_event ev[2];
        int n = usock_poll_wait(r->poll, idle_ms, ev, 2);
        if (n < 0)
            return n;
        if (n == 0)
            return USOCK_ETIMEDOUT;
        for (int i = 0; i < n; i++) {
            /* ERR/HUP go to whichever side is watched: its call reports it. */
            int re = ev[i].revents, bad = USOCK_POLLERR | USOCK_POLLHUP;
            rc = 0;
            if (ev[i].sock == r->in) {
                if ((rc = relay_stdin(r)) != 0)
                    return rc;
                continue;
            }
            if ((r->peer_ev & USOCK_POLLOUT) && (re & (USOCK_POLLOUT | bad)))
                rc = relay_up(r);
            if (rc == 0 && (r->peer_ev & USOCK_POLLIN) && (re & (USOCK_POLLIN | bad)))
                rc = relay_down(r);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* Connects to a Unix stream socket; timeout <= 0: none. */
static int connect_unix(const char *path, double timeout, usock **out)
{
    usock_addr a;
    usock *s = NULL;
    int rc = usock_addr_from_path(&a, path);
    if (rc == 0)
        rc = usock_socket(&s, AF_UNIX, SOCK_STREAM, 0);
    if (rc == 0 && timeout > 0)
        rc = usock_settimeout(s, timeout);
    if (rc == 0)
        rc = usock_connect(s, &a);
    if (rc < 0) {
        usock_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int run_connect(struct opts *o)
{
    char target[HOSTPORT_LEN];
    int port = -1;
    if (o->unix_path) {
        if (o->npos > 0)
            return cli_usage_error(o->cmd, "unexpected argument '%s'", o->pos[0]);
        snprintf(target, sizeof target, "%s", o->unix_path);
    } else {
        if (o->npos < 2)
            return cli_usage_error(o->cmd, "%s", "missing argument");
        if ((port = cli_parse_port(o->pos[1])) < 0)
            return cli_bad_port(o->cmd, o->pos[1]);
        cli_hostport(target, sizeof target, o->pos[0], port);
    }

    struct relay *r = calloc(1, sizeof *r);
    usock *w = NULL;
    pthread_t tid;
    int rc = !r              ? USOCK_ENOMEM
             : o->unix_path ? connect_unix(o->unix_path, o->timeout, &r->peer)
                            : usock_create_connection(&r->peer, o->pos[0], port, o->timeout, NULL);
    if (rc < 0)
        goto out;
    if ((rc = usock_settimeout(r->peer, 0)) < 0 || (rc = usock_poll_new(&r->poll)) < 0 ||
        (rc = usock_socketpair(&r->in, &w, AF_UNIX, SOCK_STREAM)) < 0 ||
        (rc = usock_settimeout(r->in, 0)) < 0)
        goto out;
    if ((rc = -pthread_create(&tid, NULL, stdin_pump, w)) < 0)
        goto out;
    w = NULL; /* the pump owns it now */
    pthread_detach(tid);
    rc = relay_loop(r, o->timeout > 0 ? (int)ceil(o->timeout * 1000) : -1);
out:
    usock_close(w);
    if (r) {
        /* Closing the pair's read end also stops a pump still sending. */
        if (r->poll) {
            usock_poll_unregister(r->poll, r->in);
            usock_poll_unregister(r->poll, r->peer);
        }
        usock_close(r->in);
        usock_close(r->peer);
        usock_poll_free(r->poll);
    }
    free(r);
    if (rc == 1)
        return 1;
    return rc < 0 ? cli_fail("connect", target, rc) : 0;
}

/* ---------------------------------------------------------------- send */

/* Opens FILE for send and checks it before anything goes on the wire: it
 * exists, is readable and is a regular file. Returns the descriptor, or
 * -1 after printing the error. */
static int open_upload(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        cli_fail("send", path, -errno);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        cli_fail("send", path, -errno);
    } else if (S_ISDIR(st.st_mode)) {
        cli_fail("send", path, -EISDIR);
    } else if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, "usock: send %s: not a regular file\n", path);
    } else {
        /* Opened non-blocking so that a FIFO could not hang the open;
         * a regular file reads the same either way. */
        (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        return fd;
    }
    close(fd);
    return -1;
}

static ssize_t read_piece(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return got ? (ssize_t)got : -errno;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int run_send(struct opts *o)
{
    char target[HOSTPORT_LEN];
    int port = cli_parse_port(o->pos[1]);
    if (port < 0)
        return cli_bad_port(o->cmd, o->pos[1]);
    cli_hostport(target, sizeof target, o->pos[0], port);

    int fd = open_upload(o->pos[2]);
    if (fd < 0)
        return 1;
    char *buf = malloc((size_t)o->chunk);
    usock *s = NULL;
    int rc = buf ? usock_create_connection(&s, o->pos[0], port, o->timeout, NULL) : USOCK_ENOMEM;
    ssize_t n = 0;
    /* The seed's loop: read a piece, send it, until the file ends. */
    while (rc == 0 && (n = read_piece(fd, buf, (size_t)o->chunk)) > 0)
        rc = usock_sendall(s, buf, (size_t)n);
    int file_err = (rc == 0 && n < 0) ? (int)n : 0;
    if (file_err) {
        /* A reset, not an end of file: the peer must not take the part
         * that was sent for the whole. */
        struct linger lg = {1, 0};
        usock_setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    int close_rc = usock_close(s);
    if (rc == 0)
        rc = close_rc;
    close(fd);
    free(buf);
    if (file_err)
        return cli_fail("send", o->pos[2], file_err);
    return rc < 0 ? cli_fail("send", target, rc) : 0;
}

const struct command cmd_connect = {"connect", "thx", 0, 2, 0, usage_connect, run_connect};

const struct command cmd_send = {"send", "cth", 3, 3, 0, usage_send, run_send};

/* ---------------------------------------------------------------- udp */

static int run_udp(struct opts *o)
{
    char target[HOSTPORT_LEN];
    int port = cli_parse_port(o->pos[1]);
    if (port < 0)
        return cli_bad_port(o->cmd, o->pos[1]);
    cli_hostport(target, sizeof target, o->pos[0], port);

    usock_addrinfo *res = NULL;
    usock *s = NULL;
    char *buf = malloc(BUF_SIZE);
    ssize_t n = buf ? usock_getaddrinfo(o->pos[0], port, 0, SOCK_DGRAM, 0, 0, &res) : USOCK_ENOMEM;
    /* As the seed: the first address, sendto, then recv without connect. */
    if (n == 0)
        n = usock_socket(&s, res->family, SOCK_DGRAM, 0);
    if (n == 0)
        n = usock_settimeout(s, o->timeout > 0 ? o->timeout : UDP_TIMEOUT);
    if (n == 0)
        n = usock_sendto(s, o->pos[2], strlen(o->pos[2]), &res->addr);
    if (n >= 0)
        n = usock_recv(s, buf, BUF_SIZE);
    int rc = n < 0 ? cli_fail("udp", target, (int)n) : 0;
    if (n >= 0 && (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n || fflush(stdout) != 0))
        rc = cli_fail("udp", "stdout", -errno);
    usock_close(s);
    usock_freeaddrinfo(res);
    free(buf);
    return rc;
}

const struct command cmd_udp = {"udp", "th", 3, 3, 0, usage_udp, run_udp};
