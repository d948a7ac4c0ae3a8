/* echo_ref.c -- the reference TCP echo server for bench/echo: plain C on
 * epoll, close to the least work an echo can do per message.
 *
 *   echo_ref [-p PORT] [-b IPV4]     (defaults: port 0, 127.0.0.1)
 *
 * Prints "listening on ADDR:PORT" to stderr, as `usock echo` does, then
 * serves until killed. Single-threaded and level-triggered: one read per
 * readiness and no read that ends in EAGAIN, so a ping-pong message costs
 * one read, one write and a share of one epoll_wait. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 65536

/* A connection echoes what it read before it reads again: while `len`
 * bytes are pending it waits for EPOLLOUT only, which is what bounds its
 * memory and pushes back on a client that sends faster than it reads. */
struct conn {
    int fd;
    size_t off, len;
    char buf[BUF_SIZE];
};

static int ep;

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
    close(c->fd); /* also removes it from the epoll set */
    free(c);
}

/* Writes the pending bytes; 0 when done or the socket is full, -1 on error. */
static int flush(struct conn *c)
{
    while (c->len > 0) {
        ssize_t w = write(c->fd, c->buf + c->off, c->len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -1;
        }
        c->off += (size_t)w;
        c->len -= (size_t)w;
    }
    return 0;
}

static void accept_all(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN)
                perror("accept4"); /* e.g. EMFILE: keep serving the others */
            return;
        }
        /* An echo writes whatever it has at once; Nagle could hold a
         * partial echo back until the client's delayed ACK. */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = malloc(sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->off = c->len = 0;
        watch(c, EPOLLIN, EPOLL_CTL_ADD);
    }
}

static void serve(struct conn *c)
{
    if (c->len > 0) { /* EPOLLOUT: the rest of a short write */
        if (flush(c) < 0)
            drop(c);
        else if (c->len == 0)
            watch(c, EPOLLIN, EPOLL_CTL_MOD);
        return;
    }
    ssize_t r = read(c->fd, c->buf, sizeof c->buf);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) { /* EOF or error: the peer is done */
        drop(c);
        return;
    }
    c->off = 0;
    c->len = (size_t)r;
    if (flush(c) < 0)
        drop(c);
    else if (c->len > 0)
        watch(c, EPOLLOUT, EPOLL_CTL_MOD);
}

int main(int argc, char **argv)
{
    const char *ip = "127.0.0.1";
    int port = 0, opt;
    while ((opt = getopt(argc, argv, "p:b:")) != -1) {
        if (opt == 'p')
            port = atoi(optarg);
        else if (opt == 'b')
            ip = optarg;
        else {
            fprintf(stderr, "usage: echo_ref [-p PORT] [-b IPV4]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN); /* a vanished peer is EPIPE, not death */

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
        fprintf(stderr, "echo_ref: not an IPv4 address: %s\n", ip);
        return 2;
    }
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (lfd < 0)
        die("socket");
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("bind");
    if (listen(lfd, 1024) < 0)
        die("listen");
    socklen_t len = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &len); /* the port when 0 was asked */
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, text, sizeof text);
    fprintf(stderr, "listening on %s:%d\n", text, ntohs(sa.sin_port));

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0)
        die("epoll_ctl");

    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL)
                accept_all(lfd);
            else
                serve(evs[i].data.ptr);
        }
    }
}
