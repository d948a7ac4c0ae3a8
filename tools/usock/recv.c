/* recv.c -- `usock recv`: a TCP server that receives uploads.
 *
 * One thread, one usock_poll. Into one output (-o FILE or stdout) the
 * uploads are written one after another: the listener is not watched while
 * one is in progress. With -O DIR every upload has its own file, so they
 * are received at once. Either way a connection that sends nothing for the
 * idle time (-t) is dropped, so that one silent client cannot block the
 * others. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define DEFAULT_IDLE 30.0 /* seconds */
#define MAX_EVENTS 64

static const char usage_recv[] =
    "usage: usock recv [-b ADDR] -p PORT [-o FILE | -O DIR] [-t SECONDS] [--once]\n"
    "\n"
    "Accepts TCP connections and writes what arrives on each. Prints\n"
    "'listening on ADDR:PORT' to stderr first; stops on SIGINT/SIGTERM.\n"
    "\n"
    "  -b ADDR      numeric IPv4 or IPv6 address to bind (default 0.0.0.0)\n"
    "  -p PORT      port to listen on (0: any free port)\n"
    "  -o FILE      write the uploads to FILE, one after another (default stdout)\n"
    "  -O DIR       write each upload to its own file in DIR, all at once:\n"
    "               DIR/upload-N-PEER.bin (DIR/upload-N-PEER.bin.part until it ends)\n"
    "  -t SECONDS   drop a connection that sends nothing for this long (default 30)\n"
    "  --once       exit after the first upload: 0 if it ended cleanly, 1 if it\n"
    "               was cut short (reset, idle time)\n";

/* One connection being received. */
struct upload {
    usock *s;
    char peer[USOCK_ADDRSTRLEN];
    int fd;              /* -O: its file; -1 otherwise */
    char *part, *final;  /* -O: DIR/upload-N-PEER.bin.part and .bin */
    unsigned long long bytes;
    double deadline;     /* monotonic seconds: dropped when nothing came by then */
    struct upload *prev, *next;
};

struct receiver {
    struct server sv;
    FILE *out;           /* -o FILE or stdout; NULL with -O */
    const char *out_name;
    const char *dir;     /* -O */
    double idle;
    int once;
    int done;            /* --once: the upload ended */
    int status;          /* --once: the exit status it gives */
    int watching;        /* the listener is registered */
    int paused;          /* out of descriptors: not accepting until one ends */
    unsigned long accepted;
    unsigned long seq;   /* the last N of a file name */
    struct upload *ups;
    int nups;
    char buf[BUF_SIZE];
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Watches the listener when one more connection may come: always with -O
 * (unless paused), else only between uploads; with --once until one came. */
static int update_listener(struct receiver *rv)
{
    int want = !rv->paused && !(rv->once && rv->accepted > 0) && (rv->dir || rv->nups == 0);
    int rc = 0;
    if (want && !rv->watching)
        rc = usock_poll_register(rv->sv.poll, rv->sv.sock, USOCK_POLLIN, NULL);
    else if (!want && rv->watching)
        rc = usock_poll_unregister(rv->sv.poll, rv->sv.sock);
    if (rc < 0)
        return cli_fail("recv", "listen", rc);
    rv->watching = want;
    return 0;
}

/* The peer's address as a file name's part: "127.0.0.1_40000", "__1_40000". */
static void peer_for_name(const char *peer, char *out, size_t cap)
{
    size_t j = 0;
    for (const char *p = peer; *p && j + 1 < cap; p++) {
        if (*p == '[' || *p == ']')
            continue;
        out[j++] = (*p == ':' || *p == '%' || *p == '/') ? '_' : *p;
    }
    out[j] = '\0';
}

/* -O: creates DIR/upload-N-PEER.bin.part, N the next number whose names
 * are both free (nothing in DIR is ever overwritten). 0 or a negative
 * code; *name gets the failing path for the message. */
static int open_upload_file(struct receiver *rv, struct upload *u, const char **name)
{
    char peer[USOCK_ADDRSTRLEN];
    peer_for_name(u->peer, peer, sizeof peer);
    size_t cap = strlen(rv->dir) + strlen(peer) + 64;
    if (!(u->part = malloc(cap)) || !(u->final = malloc(cap)))
        return USOCK_ENOMEM;
    for (int tries = 0; tries < 10000; tries++) {
        unsigned long n = ++rv->seq;
        snprintf(u->final, cap, "%s/upload-%lu-%s.bin", rv->dir, n, peer);
        snprintf(u->part, cap, "%s/upload-%lu-%s.bin.part", rv->dir, n, peer);
        struct stat st;
        if (lstat(u->final, &st) == 0)
            continue;
        u->fd = open(u->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (u->fd >= 0)
            return 0;
        if (errno != EEXIST) {
            *name = u->part;
            return -errno;
        }
    }
    *name = rv->dir;
    return USOCK_EEXIST;
}

/* Gives a finished upload its .bin name without replacing anything: a
 * name taken meanwhile moves it to the next free N. 0 or a negative code. */
static int publish(struct receiver *rv, struct upload *u)
{
    char peer[USOCK_ADDRSTRLEN];
    peer_for_name(u->peer, peer, sizeof peer);
    size_t cap = strlen(rv->dir) + strlen(peer) + 64;
    for (int tries = 0; tries < 10000; tries++) {
        if (link(u->part, u->final) == 0)
            return unlink(u->part) < 0 ? -errno : 0;
        if (errno == EPERM || errno == ENOSYS || errno == EOPNOTSUPP)
            return rename(u->part, u->final) < 0 ? -errno : 0; /* no hard links here */
        if (errno != EEXIST)
            return -errno;
        snprintf(u->final, cap, "%s/upload-%lu-%s.bin", rv->dir, ++rv->seq, peer);
    }
    return USOCK_EEXIST;
}

static void upload_free(struct receiver *rv, struct upload *u)
{
    if (u->prev)
        u->prev->next = u->next;
    else if (rv->ups == u)
        rv->ups = u->next;
    if (u->next)
        u->next->prev = u->prev;
    if (u->s) {
        usock_poll_unregister(rv->sv.poll, u->s);
        usock_close(u->s);
    }
    if (u->fd >= 0)
        close(u->fd);
    free(u->part);
    free(u->final);
    free(u);
    rv->nups--;
}

/* Ends an upload: err 0 is a clean end of file; otherwise it was cut short
 * (why: the message of err, or reason when given) and says so on stderr.
 * Returns 0, or an exit status when the server cannot go on. */
static int upload_end(struct receiver *rv, struct upload *u, int err, const char *reason)
{
    int rc = 0;
    if (rv->dir) {
        int fd = u->fd;
        u->fd = -1;
        if (close(fd) < 0 && err == 0) {
            err = -errno;
            reason = NULL;
            fprintf(stderr, "usock: recv %s: %s\n", u->part, usock_strerror(err));
        }
        if (err == 0 && (err = publish(rv, u)) < 0)
            fprintf(stderr, "usock: recv %s: %s\n", u->final, usock_strerror(err));
    } else if (fflush(rv->out) != 0) {
        rc = cli_fail("recv", rv->out_name, -errno);
    }
    if (err) {
        if (rv->dir)
            fprintf(stderr, "usock: recv %s: %s (upload truncated: %llu bytes in %s)\n",
                    u->peer, reason ? reason : usock_strerror(err), u->bytes, u->part);
        else
            fprintf(stderr, "usock: recv %s: %s (upload truncated: %llu bytes)\n", u->peer,
                    reason ? reason : usock_strerror(err), u->bytes);
    }
    upload_free(rv, u);
    if (rv->once) {
        rv->done = 1;
        rv->status = (rc || err) ? 1 : 0;
        return rc;
    }
    rv->paused = 0;
    return rc ? rc : update_listener(rv);
}

static void upload_add(struct receiver *rv, usock *s, const usock_addr *peer)
{
    struct upload *u = calloc(1, sizeof *u);
    if (!u) {
        usock_close(s);
        fprintf(stderr, "usock: recv: %s\n", usock_strerror(USOCK_ENOMEM));
        return;
    }
    u->s = s;
    u->fd = -1;
    if (usock_addr_format(peer, u->peer, sizeof u->peer) < 0)
        strcpy(u->peer, "?");
    u->deadline = now() + rv->idle;
    u->next = rv->ups;
    if (u->next)
        u->next->prev = u;
    rv->ups = u;
    rv->nups++;
    rv->accepted++;
    const char *name = NULL;
    int rc = usock_settimeout(s, 0);
    if (rc == 0 && rv->dir)
        rc = open_upload_file(rv, u, &name);
    if (rc == 0)
        rc = usock_poll_register(rv->sv.poll, s, USOCK_POLLIN, u);
    if (rc < 0) {
        fprintf(stderr, "usock: recv %s: %s (connection from %s dropped)\n",
                name ? name : "accept", usock_strerror(rc), u->peer);
        if (rv->once) {
            rv->done = 1;
            rv->status = 1;
        }
        upload_free(rv, u);
    }
}

static int recv_accept(struct receiver *rv)
{
    for (int i = 0; i < 64 && rv->watching; i++) {
        usock *s;
        usock_addr peer;
        int rc = usock_accept(rv->sv.sock, &s, &peer);
        if (rc == USOCK_EAGAIN || rc == USOCK_EINTR)
            break;
        if (rc == USOCK_EMFILE || rc == USOCK_ENFILE || rc == USOCK_ENOBUFS ||
            rc == USOCK_ENOMEM) {
            /* The listener would stay readable: rest it until an upload ends. */
            if (rv->nups == 0)
                return cli_fail("recv", "accept", rc);
            rv->paused = 1;
            break;
        }
        if (rc < 0)
            continue; /* a connection that went away before it was taken */
        upload_add(rv, s, &peer);
        if ((rc = update_listener(rv)) != 0)
            return rc;
    }
    return update_listener(rv);
}

static int recv_data(struct receiver *rv, struct upload *u)
{
    ssize_t n = usock_recv(u->s, rv->buf, sizeof rv->buf);
    if (n == USOCK_EAGAIN || n == USOCK_EINTR)
        return 0;
    if (n <= 0)
        return upload_end(rv, u, (int)n, NULL); /* EOF, or a reset: this upload only */
    u->deadline = now() + rv->idle;
    if (rv->dir) {
        int rc = cli_write_all(u->fd, rv->buf, (size_t)n);
        if (rc < 0)
            return upload_end(rv, u, rc, NULL);
    } else if (fwrite(rv->buf, 1, (size_t)n, rv->out) != (size_t)n ||
               (rv->out == stdout && fflush(stdout) != 0)) {
        return cli_fail("recv", rv->out_name, -errno);
    }
    u->bytes += (unsigned long long)n;
    return 0;
}

/* Drops the connections whose idle time ran out; returns the wait until
 * the next deadline in milliseconds (-1: none). */
static int recv_expire(struct receiver *rv, int *rc)
{
    double t = now(), next = -1;
    struct upload *u = rv->ups;
    while (u && *rc == 0 && !rv->done) {
        struct upload *after = u->next;
        if (u->deadline <= t) {
            char reason[64];
            snprintf(reason, sizeof reason, "nothing received for %g s", rv->idle);
            *rc = upload_end(rv, u, USOCK_ETIMEDOUT, reason);
        } else if (next < 0 || u->deadline < next) {
            next = u->deadline;
        }
        u = after;
    }
    if (next < 0)
        return -1;
    double ms = ceil((next - t) * 1000);
    return ms > 1e9 ? 1000000000 : (int)ms;
}

static int recv_loop(struct receiver *rv)
{
    int rc = update_listener(rv);
    while (rc == 0 && !rv->done && !cli_stop_signal) {
        int wait_ms = recv_expire(rv, &rc);
        if (rc || rv->done)
            break;
        usock_event ev[MAX_EVENTS];
        int n = usock_poll_wait(rv->sv.poll, wait_ms, ev, MAX_EVENTS);
        if (n < 0)
            return cli_fail("recv", "poll", n);
        for (int i = 0; i < n && rc == 0 && !rv->done; i++) {
            if (!ev[i].sock)
                continue; /* POLLNVAL of a closed socket: never ours, all are unregistered */
            if (ev[i].sock == rv->sv.wake)
                cli_server_drain_wake(&rv->sv);
            else if (ev[i].sock == rv->sv.sock)
                rc = recv_accept(rv);
            else
                rc = recv_data(rv, ev[i].udata);
        }
    }
    return rc;
}

static int run_recv(struct opts *o)
{
    if (o->out && o->dir)
        return cli_usage_error(o->cmd, "%s", "-o FILE and -O DIR exclude each other");
    struct receiver *rv = calloc(1, sizeof *rv);
    if (!rv)
        return cli_fail("recv", "memory", USOCK_ENOMEM);
    rv->once = o->once;
    rv->idle = o->timeout > 0 ? o->timeout : DEFAULT_IDLE;
    rv->dir = o->dir;
    rv->out_name = o->out ? o->out : "stdout";
    int rc = 0;
    struct stat st;
    if (o->dir) {
        if (stat(o->dir, &st) < 0)
            rc = cli_fail("recv", o->dir, -errno);
        else if (!S_ISDIR(st.st_mode))
            rc = cli_fail("recv", o->dir, -ENOTDIR);
    } else if (!o->out) {
        rv->out = stdout;
    } else if (stat(o->out, &st) == 0 && S_ISDIR(st.st_mode)) {
        rc = cli_fail("recv", o->out, -EISDIR);
    } else if (!(rv->out = fopen(o->out, "wb"))) {
        rc = cli_fail("recv", o->out, -errno);
    }
    if (rc == 0 && (rc = cli_server_open(&rv->sv, o, SOCK_STREAM)) == 0) {
        rv->watching = 1; /* cli_server_open registered the listener */
        rc = recv_loop(rv);
        if (rc == 0 && rv->once && rv->done)
            rc = rv->status;
    }
    while (rv->ups)
        upload_free(rv, rv->ups);
    cli_server_close(&rv->sv);
    if (rv->out && rv->out != stdout && fclose(rv->out) != 0 && rc == 0)
        rc = cli_fail("recv", rv->out_name, -errno);
    free(rv);
    return rc;
}

const struct command cmd_recv = {"recv", "bpoODth", 0, 0, 1, usage_recv, run_recv};
