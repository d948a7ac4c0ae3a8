/* http_floor.c -- the floor of bench/http: a minimal one-thread epoll
 * HTTP responder that parses nothing, so that no real server can beat it.
 *
 *   http_floor [-b IPV4] [-p PORT] [-f FILE] [-c]
 *
 * Every request gets the same fixed answer: "hello\n", or with -f the
 * bytes of FILE (read once into memory at start), behind a minimal
 * HTTP/1.1 200 header. A request is whatever ends at a blank line
 * ("\r\n\r\n"): the only thing the floor looks for in what it reads, so a
 * request with a body would be miscounted (the benchmark sends none).
 * Keep-alive: the connection stays open, and all the answers owed for one
 * read go out in one writev of as many references to the one answer
 * buffer (pipelined requests cost one read and one write). With -c every
 * answer says "Connection: close" and the connection is closed once the
 * first answer is written (for the benchmark's Connection: close load,
 * since the floor does not read headers).
 *
 * Prints "listening on ADDR:PORT" to stderr, then serves until killed.
 * Level-triggered; while answers are pending the connection waits for
 * EPOLLOUT only, which pushes back on a client that does not read. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define READ_SIZE 65536
#define MAX_IOV 1024

struct conn {
    int fd;
    unsigned match;   /* how much of "\r\n\r\n" the bytes so far end with */
    uint64_t pending; /* whole answers still to write */
    size_t off;       /* bytes of the first pending answer already written */
};

static int ep;
static char *answer;
static size_t answer_len;
static int close_mode;
static char rbuf[READ_SIZE];

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void watch(struct conn *c, unsigned events, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(ep, op, c->fd, &ev) < 0)
        die("epoll_ctl");
}

static void drop(struct conn *c)
{
    close(c->fd);
    free(c);
}

/* Writes the pending answers: 1 when all are out, 0 when the socket is
 * full, -1 on error. */
static int flush(struct conn *c)
{
    struct iovec iov[MAX_IOV];
    while (c->pending > 0) {
        int n = 0;
        uint64_t k = c->pending;
        iov[n].iov_base = answer + c->off;
        iov[n].iov_len = answer_len - c->off;
        n++;
        for (; n < MAX_IOV && (uint64_t)n < k; n++) {
            iov[n].iov_base = answer;
            iov[n].iov_len = answer_len;
        }
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        uint64_t total = c->off + (uint64_t)w; /* never more than owed */
        c->pending -= total / answer_len;
        c->off = (size_t)(total % answer_len);
        if (c->off != 0)
            return 0; /* a short write: the socket is full */
    }
    return 1;
}

/* Counts the blank lines in buf, carrying the partial match over reads. */
static uint64_t count_requests(struct conn *c, const char *buf, size_t len)
{
    static const char end[4] = {'\r', '\n', '\r', '\n'};
    uint64_t n = 0;
    unsigned m = c->match;
    for (size_t i = 0; i < len; i++) {
        char ch = buf[i];
        if (ch == end[m]) {
            if (++m == 4) {
                n++;
                m = 0;
            }
        } else {
            m = ch == '\r' ? 1 : 0;
        }
    }
    c->match = m;
    return n;
}

static void on_readable(struct conn *c)
{
    ssize_t r = read(c->fd, rbuf, sizeof rbuf);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (r <= 0) {
        drop(c);
        return;
    }
    uint64_t n = count_requests(c, rbuf, (size_t)r);
    if (n == 0)
        return;
    if (close_mode)
        n = 1;
    c->pending = n;
    c->off = 0;
    int f = flush(c);
    if (f < 0 || (f > 0 && close_mode)) {
        drop(c);
        return;
    }
    if (f == 0)
        watch(c, EPOLLOUT, EPOLL_CTL_MOD);
}

static void on_writable(struct conn *c)
{
    int f = flush(c);
    if (f < 0 || (f > 0 && close_mode)) {
        drop(c);
        return;
    }
    if (f > 0)
        watch(c, EPOLLIN, EPOLL_CTL_MOD);
}

static void load_answer(const char *file)
{
    char *body = "hello\n";
    size_t body_len = 6;
    if (file) {
        int fd = open(file, O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
            die(file);
        body_len = (size_t)st.st_size;
        body = malloc(body_len ? body_len : 1);
        if (!body)
            die("malloc");
        size_t got = 0;
        while (got < body_len) {
            ssize_t r = read(fd, body + got, body_len - got);
            if (r <= 0)
                die(file);
            got += (size_t)r;
        }
        close(fd);
    }
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                      "Content-Length: %zu\r\n%s\r\n",
                      body_len, close_mode ? "Connection: close\r\n" : "");
    answer_len = (size_t)hl + body_len;
    answer = malloc(answer_len);
    if (!answer)
        die("malloc");
    memcpy(answer, head, (size_t)hl);
    memcpy(answer + hl, body, body_len);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *file = NULL;
    int port = 0, opt;
    while ((opt = getopt(argc, argv, "b:p:f:c")) != -1) {
        switch (opt) {
        case 'b': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'f': file = optarg; break;
        case 'c': close_mode = 1; break;
        default:
            fprintf(stderr, "usage: http_floor [-b IPV4] [-p PORT] [-f FILE] [-c]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    load_answer(file);

    /* Room for the idle-connection test's 10 000 connections. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ls < 0)
        die("socket");
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "http_floor: bad IPv4 address '%s'\n", host);
        return 2;
    }
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("bind");
    if (listen(ls, SOMAXCONN) < 0)
        die("listen");
    socklen_t sl = sizeof sa;
    if (getsockname(ls, (struct sockaddr *)&sa, &sl) < 0)
        die("getsockname");
    char name[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, name, sizeof name);
    fprintf(stderr, "listening on %s:%d\n", name, ntohs(sa.sin_port));

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    struct conn listener = {.fd = ls};
    watch(&listener, EPOLLIN, EPOLL_CTL_ADD);

    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c == &listener) {
                for (;;) {
                    int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break; /* EAGAIN, or out of descriptors: retried on the next wake */
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *nc = calloc(1, sizeof *nc);
                    if (!nc) {
                        close(fd);
                        continue;
                    }
                    nc->fd = fd;
                    watch(nc, EPOLLIN, EPOLL_CTL_ADD);
                }
            } else if (c->pending > 0) {
                on_writable(c); /* EPOLLOUT, or an error it will find */
            } else {
                on_readable(c);
            }
        }
    }
}
