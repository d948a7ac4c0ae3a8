/* client_floor.c -- the floor of bench/client: a minimal HTTP/1.1 client
 * that parses only what it must, so that no real client can beat it.
 *
 *   client_floor PORT PATH [N]
 *
 * Connects to 127.0.0.1:PORT and sends N (default 1) GETs of PATH, one at
 * a time, on one keep-alive connection; each answer is read into one
 * 128 KiB buffer and thrown away. The only parsing: the head ends at the
 * first blank line, and its Content-Length (which the benchmark's server,
 * nginx, always sends) says how much body follows. Exits 0 when every
 * answer was 200 and complete, else 1 with a message. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF (128 * 1024)

static char buf[BUF];

static int fail(const char *what)
{
    fprintf(stderr, "client_floor: %s\n", what);
    return 1;
}

/* Reads one answer; what was read past it stays at buf[0 .. *have). */
static int read_answer(int fd, size_t *have)
{
    char *end;
    for (;;) {
        buf[*have] = '\0';
        if ((end = strstr(buf, "\r\n\r\n")))
            break;
        if (*have >= BUF - 1)
            return fail("head too large");
        ssize_t n = read(fd, buf + *have, BUF - 1 - *have);
        if (n <= 0)
            return fail("connection closed in a head");
        *have += (size_t)n;
    }
    if (strncmp(buf, "HTTP/1.1 200", 12) != 0)
        return fail("not a 200");
    char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (!cl || cl > end)
        return fail("no Content-Length");
    unsigned long long left = strtoull(cl + 17, NULL, 10);
    size_t head = (size_t)(end + 4 - buf), in_buf = *have - head;
    if (in_buf >= left) { /* the whole body came with the head */
        memmove(buf, buf + head + left, in_buf - left);
        *have = in_buf - left;
        return 0;
    }
    left -= in_buf;
    while (left > 0) {
        ssize_t n = read(fd, buf, left < BUF ? left : BUF);
        if (n <= 0)
            return fail("connection closed in a body");
        left -= (unsigned long long)n;
    }
    *have = 0;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return fail("usage: client_floor PORT PATH [N]");
    long count = argc > 3 ? atol(argv[3]) : 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        return fail("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char req[1024];
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", argv[2]);
    size_t have = 0;
    for (long i = 0; i < count; i++) {
        if (write(fd, req, (size_t)len) != len)
            return fail("write");
        if (read_answer(fd, &have))
            return 1;
    }
    close(fd);
    return 0;
}
