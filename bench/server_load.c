/* server_load.c -- the load client of bench/server: drives a TCP echo
 * server with many short connections or with long ping-pong connections,
 * checks every reply, and reports what it did with the CPU time the server
 * spent doing it, its threads and child processes included.
 *
 *   server_load short -a HOST -p PORT [-n COUNT] [-c CONCURRENT] [-m SIZE] [-P PID] [-t TIMEOUT]
 *   server_load ping  -a HOST -p PORT [-c CONNS] [-s SECONDS] [-m SIZE] [-P PID] [-t TIMEOUT]
 *
 * short: COUNT (5000) connections, at most CONCURRENT (50) open at once;
 * each connects, sends one SIZE-byte (64) request, reads the whole reply,
 * compares it with the request and closes. The clock runs from the first
 * connect to the last reply.
 * ping: CONNS (50) connections, each sends a SIZE-byte message and waits
 * for all of its echo before sending the next; counts round trips for
 * SECONDS (10) after every connection has had one echo (so that a server
 * that starts a thread or a process per connection is measured warm).
 *
 * Prints one line to stdout: "count=N seconds=S cpu=C", where N is
 * connections or round trips and C the CPU seconds the server PID (-P)
 * spent over the run (-1 without -P). C is read from /proc: utime + stime
 * of the server (all its threads) plus cutime + cstime (the children it
 * reaped), plus the same four figures of each child not yet reaped, alive
 * or zombie, found through /proc/PID/task/TID/children or, where the kernel
 * has no such file, by scanning /proc for the parent pid; recursively. The
 * figures are clock ticks (sysconf(_SC_CLK_TCK), usually 10 ms each).
 * short reads the baseline before its first connect and the end once the
 * server's CPU time has stopped growing after the last reply (at most 2 s),
 * so that closing the last connections is counted; ping reads both while
 * all of its connections are open, then takes in the last echoes and
 * closes.
 *
 * Exits non-zero on any error: a refused or reset connection, a reply that
 * differs from the request by a single byte, a connection closed early, a
 * connection with no reply within 10 s (ping: or with none in the timed
 * window), or the whole run passing TIMEOUT
 * seconds (short: 120; ping: SECONDS + 30). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSG 65536
#define STALL 10.0 /* seconds a connection may wait for its reply */

static void die(const char *what, const char *why)
{
    fprintf(stderr, "server_load: %s%s%s\n", what, why ? ": " : "", why ? why : "");
    exit(1);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "server_load: timed out\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(double secs)
{
    struct timespec ts = {.tv_sec = (time_t)secs, .tv_nsec = (long)((secs - (double)(time_t)secs) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---- the server's CPU time, children included ---- */

/* Reads /proc/PID/stat: *ticks = utime + stime + cutime + cstime, *ppid.
 * Field 2 (comm) may hold spaces and ')', so fields are counted from the
 * last ')'. Returns 0, or -1 when the process is gone. */
static int read_stat(int pid, unsigned long long *ticks, int *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    int pp;
    unsigned long long ut, st;
    long long cut, cst;
    if (!p || sscanf(p + 1, " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
                     &pp, &ut, &st, &cut, &cst) != 5)
        return -1;
    *ticks = ut + st + (unsigned long long)(cut > 0 ? cut : 0) + (unsigned long long)(cst > 0 ? cst : 0);
    if (ppid)
        *ppid = pp;
    return 0;
}

struct pids {
    int *v;
    size_t n, cap;
};

static void pids_add(struct pids *p, int pid)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->v = realloc(p->v, p->cap * sizeof *p->v);
        if (!p->v)
            die("out of memory", NULL);
    }
    p->v[p->n++] = pid;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int is_number(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* 1 when this kernel has /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN). */
static int have_children_file(void)
{
    static int known = -1;
    if (known < 0) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
        known = access(path, R_OK) == 0;
    }
    return known;
}

/* The children of pid (any of its threads'), alive or zombie, sorted.
 * Returns 0, or -1 when pid is gone. */
static int list_children(int pid, struct pids *out)
{
    out->n = 0;
    char path[96];
    if (have_children_file()) {
        snprintf(path, sizeof path, "/proc/%d/task", pid);
        DIR *d = opendir(path);
        if (!d)
            return -1;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!is_number(e->d_name))
                continue;
            snprintf(path, sizeof path, "/proc/%d/task/%.20s/children", pid, e->d_name);
            FILE *f = fopen(path, "r");
            if (!f)
                continue; /* a thread that just ended; its children went to another */
            int child;
            while (fscanf(f, "%d", &child) == 1)
                pids_add(out, child);
            fclose(f);
        }
        closedir(d);
    } else {
        DIR *d = opendir("/proc");
        if (!d)
            return -1;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!is_number(e->d_name))
                continue;
            unsigned long long t;
            int pp;
            if (read_stat(atoi(e->d_name), &t, &pp) == 0 && pp == pid)
                pids_add(out, atoi(e->d_name));
        }
        closedir(d);
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, cmp_int);
    return 0;
}

/* Ticks of pid and of its unreaped descendants, as one consistent
 * snapshot: the children are listed before and after the reads, so that a
 * child reaped in between (its time moving into the parent's cutime) or
 * forked in between shows, and the caller tries again. Returns -1 then,
 * or when pid is gone. */
static long long tree_ticks(int pid, int depth)
{
    struct pids before = {0}, after = {0};
    long long sum = -1;
    unsigned long long own;
    if (list_children(pid, &before) < 0)
        goto out;
    long long kids = 0;
    for (size_t i = 0; i < before.n && depth < 8; i++) {
        long long t = tree_ticks(before.v[i], depth + 1);
        if (t < 0)
            goto out;
        kids += t;
    }
    if (read_stat(pid, &own, NULL) < 0 || list_children(pid, &after) < 0)
        goto out;
    if (after.n != before.n || (before.n && memcmp(after.v, before.v, before.n * sizeof *before.v)))
        goto out;
    sum = (long long)own + kids;
out:
    free(before.v);
    free(after.v);
    return sum;
}

/* The server's CPU seconds, children included; -1 when unknown. */
static double server_cpu(int pid)
{
    if (pid <= 0)
        return -1;
    for (int attempt = 0; attempt < 50; attempt++) {
        long long t = tree_ticks(pid, 0);
        if (t >= 0)
            return (double)t / (double)sysconf(_SC_CLK_TCK);
        if (kill(pid, 0) < 0 && errno == ESRCH)
            break;
        nap(0.002);
    }
    return -1;
}

/* ---- connections ---- */

static int new_socket(const struct addrinfo *ai, int nonblock)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0)
        die("socket", strerror(errno));
    /* Each message is one write that must leave at once. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* A request: a sequence number that makes every one differ (so a stale or
 * misrouted reply fails the compare), then bytes that depend on the slot. */
static void fill(unsigned char *out, size_t size, uint64_t seq, size_t slot)
{
    memcpy(out, &seq, sizeof seq);
    for (size_t j = sizeof seq; j < size; j++)
        out[j] = (unsigned char)(slot * 7 + j * 13 + seq);
}

/* One write of the whole request: with at most one request in flight the
 * socket buffer always has room, so a short write means a broken socket. */
static void send_req(int fd, const unsigned char *out, size_t size)
{
    ssize_t w = write(fd, out, size);
    if (w != (ssize_t)size)
        die("write", w < 0 ? strerror(errno) : "short");
}

/* Reads what there is of a reply: 1 once all size bytes are in and equal
 * to the request, 0 for more to come; dies on anything else. */
static int recv_reply(int fd, unsigned char *in, size_t *got, const unsigned char *out, size_t size)
{
    ssize_t r = read(fd, in + *got, size - *got);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (r < 0)
        die("read", strerror(errno));
    if (r == 0)
        die("read", "the server closed the connection before the whole reply");
    *got += (size_t)r;
    if (*got < size)
        return 0;
    if (memcmp(in, out, size) != 0)
        die("reply differs from the request", NULL);
    *got = 0;
    return 1;
}

/* ---- short: many connections, one request each ---- */

struct slot {
    int fd;         /* -1 when free */
    int connecting; /* waiting for connect to finish */
    size_t got;
    double since;   /* when the connection was opened */
    unsigned char out[MAX_MSG], in[MAX_MSG];
};

static void short_open(int ep, const struct addrinfo *ai, struct slot *s, size_t slot, uint64_t seq,
                       size_t size)
{
    s->fd = new_socket(ai, 1);
    s->got = 0;
    s->since = now();
    fill(s->out, size, seq, slot);
    struct epoll_event ev = {.data.u64 = slot};
    if (connect(s->fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        s->connecting = 0;
        send_req(s->fd, s->out, size);
        ev.events = EPOLLIN;
    } else if (errno == EINPROGRESS) {
        s->connecting = 1;
        ev.events = EPOLLOUT;
    } else {
        die("connect", strerror(errno));
    }
    if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) < 0)
        die("epoll_ctl", strerror(errno));
}

static void run_short(const struct addrinfo *ai, long count, int conc, size_t size, int pid)
{
    if (conc > count)
        conc = (int)count;
    struct slot *slots = calloc((size_t)conc, sizeof *slots);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!slots || ep < 0)
        die("out of memory or epoll", NULL);
    long opened = 0, done = 0;
    double cpu0 = server_cpu(pid), t0 = now(), last_sweep = t0;
    for (int i = 0; i < conc; i++)
        short_open(ep, ai, &slots[i], (size_t)i, (uint64_t)++opened, size);

    struct epoll_event evs[256];
    while (done < count) {
        int n = epoll_wait(ep, evs, 256, 100);
        if (n < 0 && errno != EINTR)
            die("epoll_wait", strerror(errno));
        for (int i = 0; i < n; i++) {
            size_t k = (size_t)evs[i].data.u64;
            struct slot *s = &slots[k];
            if (s->connecting) {
                int err = 0;
                socklen_t len = sizeof err;
                if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                    err = errno;
                if (err == 0 && !(evs[i].events & EPOLLOUT))
                    continue;
                if (err != 0)
                    die("connect", strerror(err));
                s->connecting = 0;
                send_req(s->fd, s->out, size);
                struct epoll_event ev = {.events = EPOLLIN, .data.u64 = k};
                if (epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev) < 0)
                    die("epoll_ctl", strerror(errno));
                continue;
            }
            if (!recv_reply(s->fd, s->in, &s->got, s->out, size))
                continue;
            close(s->fd); /* also leaves the epoll set */
            s->fd = -1;
            done++;
            if (opened < count)
                short_open(ep, ai, s, k, (uint64_t)++opened, size);
        }
        double t = now();
        if (t - last_sweep >= 0.1) {
            last_sweep = t;
            for (int i = 0; i < conc; i++)
                if (slots[i].fd >= 0 && t - slots[i].since > STALL) {
                    fprintf(stderr, "server_load: no reply within %.0f s (%ld of %ld connections done)\n",
                            STALL, done, count);
                    exit(1);
                }
        }
    }
    double t1 = now();
    /* The server may still be reading the last EOFs, closing, ending
     * threads or children: wait until its CPU time stops growing (three
     * equal readings 50 ms apart; 2 s at most). */
    double cpu1 = server_cpu(pid);
    for (int same = 0; same < 3 && now() - t1 < 2.0;) {
        nap(0.05);
        double c = server_cpu(pid);
        same = c == cpu1 ? same + 1 : 0;
        cpu1 = c;
    }
    printf("count=%ld seconds=%.6f cpu=%.3f\n", done, t1 - t0,
           cpu0 < 0 || cpu1 < 0 ? -1.0 : cpu1 - cpu0);
    free(slots);
    close(ep);
}

/* ---- ping: long connections, one message in flight on each ---- */

struct conn {
    int fd;
    int warm;        /* has had one echo back */
    int busy;        /* a message is in flight */
    long done;       /* round trips in the timed window */
    double last;     /* when it last sent */
    size_t got;
    uint64_t seq;
    unsigned char out[MAX_MSG], in[MAX_MSG];
};

static void ping_send(struct conn *c, size_t slot, size_t size)
{
    fill(c->out, size, ++c->seq, slot);
    c->last = now();
    c->busy = 1;
    send_req(c->fd, c->out, size);
}

static void run_ping(const struct addrinfo *ai, int nconn, double secs, size_t size, int pid)
{
    struct conn *conns = calloc((size_t)nconn, sizeof *conns);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || ep < 0)
        die("out of memory or epoll", NULL);
    for (int i = 0; i < nconn; i++) {
        struct conn *c = &conns[i];
        c->fd = new_socket(ai, 0);
        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0)
            die("connect", strerror(errno));
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            die("epoll_ctl", strerror(errno));
    }
    for (int i = 0; i < nconn; i++)
        ping_send(&conns[i], (size_t)i, size);

    int warmed = 0, measuring = 0;
    long done = 0;
    double t0 = now(), end = t0 + STALL, cpu0 = -1, last_sweep = t0;
    struct epoll_event evs[256];
    for (;;) {
        double t = now();
        if (t >= end) {
            if (!measuring) {
                fprintf(stderr, "server_load: only %d of %d connections had an echo within %.0f s\n",
                        warmed, nconn, STALL);
                exit(1);
            }
            break;
        }
        if (t - last_sweep >= 0.1) {
            last_sweep = t;
            for (int i = 0; i < nconn; i++)
                if (t - conns[i].last > STALL)
                    die("a connection had no echo within 10 s", NULL);
        }
        int n = epoll_wait(ep, evs, 256, 100);
        if (n < 0 && errno != EINTR)
            die("epoll_wait", strerror(errno));
        for (int i = 0; i < n; i++) {
            size_t k = evs[i].data.u32;
            struct conn *c = &conns[k];
            if (!recv_reply(c->fd, c->in, &c->got, c->out, size))
                continue;
            c->busy = 0;
            if (measuring) {
                done++;
                c->done++;
            } else if (!c->warm) {
                c->warm = 1;
                if (++warmed == nconn) {
                    measuring = 1;
                    cpu0 = server_cpu(pid);
                    t0 = now();
                    end = t0 + secs;
                }
            }
            ping_send(c, k, size);
        }
    }
    double t1 = now(), cpu1 = server_cpu(pid); /* with every connection still open */
    for (int i = 0; i < nconn; i++)
        if (conns[i].done == 0)
            die("a connection had no echo in the timed window", NULL);
    /* Take in the last echoes (checked too) before closing, so that no
     * connection is closed with data unread (a reset, not a FIN). */
    int busy = 0;
    for (int i = 0; i < nconn; i++)
        busy += conns[i].busy;
    while (busy > 0) {
        if (now() - t1 > STALL)
            die("a connection had no echo within 10 s", NULL);
        int n = epoll_wait(ep, evs, 256, 100);
        if (n < 0 && errno != EINTR)
            die("epoll_wait", strerror(errno));
        for (int i = 0; i < n; i++) {
            struct conn *c = &conns[evs[i].data.u32];
            if (recv_reply(c->fd, c->in, &c->got, c->out, size)) {
                if (!c->busy)
                    die("an echo of nothing sent", NULL);
                c->busy = 0;
                busy--;
            }
        }
    }
    printf("count=%ld seconds=%.6f cpu=%.3f\n", done, t1 - t0,
           cpu0 < 0 || cpu1 < 0 ? -1.0 : cpu1 - cpu0);
    for (int i = 0; i < nconn; i++)
        close(conns[i].fd);
    free(conns);
    close(ep);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port = NULL, *mode = argc > 1 ? argv[1] : "";
    int conns = 50, pid = 0, opt;
    long count = 5000;
    double secs = 10, timeout = 0;
    size_t size = 64;
    optind = 2;
    while ((opt = getopt(argc, argv, "a:p:n:c:s:m:P:t:")) != -1) {
        switch (opt) {
        case 'a': host = optarg; break;
        case 'p': port = optarg; break;
        case 'n': count = atol(optarg); break;
        case 'c': conns = atoi(optarg); break;
        case 's': secs = atof(optarg); break;
        case 'm': size = (size_t)atol(optarg); break;
        case 'P': pid = atoi(optarg); break;
        case 't': timeout = atof(optarg); break;
        default: port = NULL; mode = ""; break;
        }
    }
    int is_short = strcmp(mode, "short") == 0;
    if ((!is_short && strcmp(mode, "ping") != 0) || !port || conns < 1 || count < 1 || secs <= 0 ||
        size < sizeof(uint64_t) || size > MAX_MSG) {
        fprintf(stderr,
                "usage: server_load short -a HOST -p PORT [-n COUNT] [-c CONCURRENT] [-m SIZE] [-P PID] [-t TIMEOUT]\n"
                "       server_load ping  -a HOST -p PORT [-c CONNS] [-s SECONDS] [-m SIZE] [-P PID] [-t TIMEOUT]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)(timeout > 0 ? timeout : is_short ? 120 : secs + 30));

    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0)
        die("address", gai_strerror(rc));
    if (is_short)
        run_short(ai, count, conns, size, pid);
    else
        run_ping(ai, conns, secs, size, pid);
    freeaddrinfo(ai);
    return 0;
}
