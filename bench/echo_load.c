/* echo_load.c -- the load client of bench/echo: drives a TCP echo server
 * and reports what it did, with the server's CPU time over the same window.
 *
 *   echo_load ping -a HOST -p PORT [-c CONNS] [-s SECONDS] [-m SIZE] [-P PID]
 *   echo_load bulk -a HOST -p PORT [-n BYTES] [-P PID] [-t TIMEOUT]
 *
 * ping: CONNS connections, each sends a SIZE-byte message (64) and waits
 * for all of its echo before sending the next; counts round trips for
 * SECONDS (10) after every connection has done one.
 * bulk: one connection; a thread sends BYTES (2G; K, M, G suffixes are
 * binary) while the main thread reads the echo back and checks its length
 * and checksum.
 *
 * Prints one line to stdout: "count=N seconds=S cpu=C", where N is round
 * trips or bytes and C the utime+stime the server process PID (-P) spent
 * in those S seconds (-1 without -P). Exits non-zero on any error, a wrong
 * echo, or after TIMEOUT seconds (ping: SECONDS + 30; bulk: 120). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSG 65536
#define PATTERN (1 << 20) /* bulk data: this many pseudo-random bytes, repeated */
#define CHUNK (256 << 10) /* bulk write and read size */

/* "echo_load: what: why", or "echo_load: what" when why is NULL. */
static void die(const char *what, const char *why)
{
    fprintf(stderr, "echo_load: %s%s%s\n", what, why ? ": " : "", why ? why : "");
    exit(1);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "echo_load: timed out\n";
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

/* utime + stime of every thread of process pid, in seconds; -1 when
 * unknown. Field 2 of /proc/PID/stat (comm) may hold spaces and ')', so
 * fields are counted from the last ')'. */
static double proc_cpu(int pid)
{
    char path[64], buf[1024];
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut, st;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int dial(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
        die("connect", strerror(errno));
    /* Each message is one write that must leave at once. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* ---- ping: many connections, one message in flight on each ---- */

struct conn {
    int fd;
    int warm; /* has had one echo back */
    size_t got;
    uint64_t seq;
    unsigned char out[MAX_MSG], in[MAX_MSG];
};

static void send_msg(struct conn *c, size_t size)
{
    /* A sequence number makes every message differ, so a stale or
     * misrouted echo fails the compare. */
    c->seq++;
    memcpy(c->out, &c->seq, sizeof c->seq);
    /* At most one message is in flight, so the socket buffer always has
     * room: a short write would be a broken connection. */
    ssize_t w = write(c->fd, c->out, size);
    if (w != (ssize_t)size)
        die("write", w < 0 ? strerror(errno) : "short");
}

static void ping(const struct addrinfo *ai, int nconn, double secs, size_t size, int pid)
{
    struct conn *conns = calloc((size_t)nconn, sizeof *conns);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || ep < 0)
        die("out of memory or epoll", NULL);
    for (int i = 0; i < nconn; i++) {
        struct conn *c = &conns[i];
        c->fd = dial(ai);
        for (size_t j = sizeof c->seq; j < size; j++)
            c->out[j] = (unsigned char)((size_t)i * 7 + j);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            die("epoll_ctl", strerror(errno));
    }
    for (int i = 0; i < nconn; i++)
        send_msg(&conns[i], size);

    /* The clock starts once every connection has had an echo, so a server
     * that starts a thread per connection (Python) is measured warm. */
    int warmed = 0, measuring = 0;
    long done = 0;
    double t0 = now(), end = t0 + 10, cpu0 = -1;
    struct epoll_event evs[256];
    for (;;) {
        double t = now();
        if (t >= end) {
            if (!measuring)
                die("no echo on some connection within 10 s", NULL);
            break;
        }
        int n = epoll_wait(ep, evs, 256, 100);
        if (n < 0 && errno != EINTR)
            die("epoll_wait", strerror(errno));
        for (int i = 0; i < n; i++) {
            struct conn *c = &conns[evs[i].data.u32];
            ssize_t r = read(c->fd, c->in + c->got, size - c->got);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0)
                die("read", r < 0 ? strerror(errno) : "server closed the connection");
            c->got += (size_t)r;
            if (c->got < size)
                continue;
            if (memcmp(c->in, c->out, size) != 0)
                die("echo differs from the message sent", NULL);
            c->got = 0;
            if (measuring) {
                done++;
            } else if (!c->warm) {
                c->warm = 1;
                if (++warmed == nconn) {
                    measuring = 1;
                    cpu0 = proc_cpu(pid);
                    t0 = now();
                    end = t0 + secs;
                }
            }
            send_msg(c, size);
        }
    }
    double t1 = now(), cpu1 = proc_cpu(pid);
    printf("count=%ld seconds=%.6f cpu=%.3f\n", done, t1 - t0,
           cpu0 < 0 || cpu1 < 0 ? -1.0 : cpu1 - cpu0);
    for (int i = 0; i < nconn; i++)
        close(conns[i].fd);
    free(conns);
    close(ep);
}

/* ---- bulk: one connection, written and read at the same time ---- */

/* Fletcher-style sum over little 64-bit words: two adds per 8 bytes, and
 * `b` depends on order, so lost, repeated or swapped data shows. Any
 * split of the stream into pieces gives the same sum. */
struct sum {
    uint64_t a, b;
    unsigned char part[8];
    size_t npart;
};

static void sum_word(struct sum *s, const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    s->a += w;
    s->b += s->a;
}

static void sum_update(struct sum *s, const unsigned char *p, size_t n)
{
    if (s->npart > 0) {
        size_t k = 8 - s->npart < n ? 8 - s->npart : n;
        memcpy(s->part + s->npart, p, k);
        s->npart += k;
        p += k;
        n -= k;
        if (s->npart < 8)
            return;
        sum_word(s, s->part);
        s->npart = 0;
    }
    for (; n >= 8; p += 8, n -= 8)
        sum_word(s, p);
    memcpy(s->part, p, n);
    s->npart = n;
}

static void sum_final(struct sum *s)
{
    if (s->npart > 0) {
        memset(s->part + s->npart, 0, 8 - s->npart);
        sum_word(s, s->part);
        s->npart = 0;
    }
}

static unsigned char pattern[PATTERN];

struct sender {
    int fd;
    uint64_t total;
    int err; /* errno of a failed write, else 0 */
};

/* The stream is the pattern repeated; each slice ends at the pattern's end. */
static size_t slice(uint64_t off, uint64_t left)
{
    size_t k = PATTERN - (size_t)(off % PATTERN);
    if (k > CHUNK)
        k = CHUNK;
    return left < k ? (size_t)left : k;
}

static void *send_all(void *arg)
{
    struct sender *s = arg;
    uint64_t off = 0;
    while (off < s->total) {
        ssize_t w = write(s->fd, pattern + off % PATTERN, slice(off, s->total - off));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            s->err = errno;
            break;
        }
        off += (uint64_t)w;
    }
    shutdown(s->fd, SHUT_WR); /* the server's cue to finish and close */
    return NULL;
}

static void bulk(const struct addrinfo *ai, uint64_t total, int pid)
{
    uint64_t x = 0x9e3779b97f4a7c15u; /* xorshift64: data no layer can shortcut */
    for (size_t i = 0; i < PATTERN; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(pattern + i, &x, 8);
    }
    /* The expected sum, before the clock starts. */
    struct sum want = {0}, got = {0};
    for (uint64_t off = 0; off < total;) {
        size_t k = slice(off, total - off);
        sum_update(&want, pattern + off % PATTERN, k);
        off += k;
    }
    sum_final(&want);

    static unsigned char buf[CHUNK];
    struct sender s = {.fd = dial(ai), .total = total};
    pthread_t th;
    double cpu0 = proc_cpu(pid), t0 = now(), t1 = 0, cpu1 = -1;
    if (pthread_create(&th, NULL, send_all, &s) != 0)
        die("pthread_create failed", NULL);
    uint64_t n = 0;
    for (;;) {
        ssize_t r = read(s.fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN) {
            fprintf(stderr, "echo_load: warning: no EOF from the server 5 s after the echo\n");
            break;
        }
        if (r < 0)
            die("read", strerror(errno));
        if (r == 0)
            break;
        sum_update(&got, buf, (size_t)r);
        n += (uint64_t)r;
        if (n > total)
            die("echo is longer than what was sent", NULL);
        if (n == total) {
            t1 = now();
            cpu1 = proc_cpu(pid);
            /* Done; only wait a bounded while for the server's close. */
            struct timeval tv = {.tv_sec = 5};
            setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        }
    }
    pthread_join(th, NULL);
    if (s.err)
        die("write", strerror(s.err));
    if (n != total) {
        fprintf(stderr, "echo_load: echo ended after %llu of %llu bytes\n",
                (unsigned long long)n, (unsigned long long)total);
        exit(1);
    }
    sum_final(&got);
    if (got.a != want.a || got.b != want.b)
        die("checksum of the echo differs from what was sent", NULL);
    close(s.fd);
    printf("count=%llu seconds=%.6f cpu=%.3f\n", (unsigned long long)n, t1 - t0,
           cpu0 < 0 || cpu1 < 0 ? -1.0 : cpu1 - cpu0);
}

/* "2G", "256M", "64k", "1000": a byte count, suffixes binary. */
static uint64_t parse_bytes(const char *text)
{
    char *end;
    double v = strtod(text, &end);
    switch (*end) {
    case 'k': case 'K': v *= 1024; end++; break;
    case 'm': case 'M': v *= 1024 * 1024; end++; break;
    case 'g': case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
    default: break;
    }
    if (end == text || *end != '\0' || v < 1)
        die("bad byte count", text);
    return (uint64_t)v;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port = NULL, *mode = argc > 1 ? argv[1] : "";
    int conns = 50, pid = 0, opt;
    double secs = 10, timeout = 0;
    size_t size = 64;
    uint64_t bytes = 2ull << 30;
    optind = 2;
    while ((opt = getopt(argc, argv, "a:p:c:s:m:n:P:t:")) != -1) {
        switch (opt) {
        case 'a': host = optarg; break;
        case 'p': port = optarg; break;
        case 'c': conns = atoi(optarg); break;
        case 's': secs = atof(optarg); break;
        case 'm': size = (size_t)atol(optarg); break;
        case 'n': bytes = parse_bytes(optarg); break;
        case 'P': pid = atoi(optarg); break;
        case 't': timeout = atof(optarg); break;
        default: port = NULL; mode = ""; break;
        }
    }
    int is_ping = strcmp(mode, "ping") == 0;
    if ((!is_ping && strcmp(mode, "bulk") != 0) || !port || conns < 1 || secs <= 0 ||
        size < sizeof(uint64_t) || size > MAX_MSG) {
        fprintf(stderr, "usage: echo_load ping -a HOST -p PORT [-c CONNS] [-s SECONDS] [-m SIZE] [-P PID]\n"
                        "       echo_load bulk -a HOST -p PORT [-n BYTES] [-P PID] [-t TIMEOUT]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)(timeout > 0 ? timeout : is_ping ? secs + 30 : 120));

    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0)
        die("address", gai_strerror(rc));
    if (is_ping)
        ping(ai, conns, secs, size, pid);
    else
        bulk(ai, bytes, pid);
    freeaddrinfo(ai);
    return 0;
}
