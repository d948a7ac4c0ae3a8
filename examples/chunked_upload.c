/* chunked_upload.c -- send a file over TCP in 2048-byte pieces.
 *
 * Seed: the usocket reference's example 2 (MaixPy), which sends a BMP to a
 * PC listening on port 3456:
 *
 *     addr = ("192.168.0.183", 3456)
 *     sock = socket.socket(); sock.connect(addr); sock.settimeout(5)
 *     f = open("/sd/Alice.bmp","rb")
 *     while True:
 *         img = f.read(2048)
 *         if not img or (len(img) == 0): break
 *         sock.send(img)
 *     f.close(); sock.close()
 *
 * usage: chunked_upload [host [port [file]]]   (default 192.168.0.183 3456 Alice.bmp)
 *
 * Differences, each for a reason:
 * - Each piece goes out with usock_sendall, not send: send may take only
 *   part of a piece when the socket buffer is full, and the seed drops the
 *   rest without a word. sendall retries until the whole piece is sent.
 * - The file is opened first, so a missing file costs no connection, and
 *   the 5 s timeout is set before connect, so connecting is bounded too.
 * - It prints "sent N bytes" at the end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usock.h>

static const char *prog = "chunked_upload";

static int fail(const char *what, const char *arg, int err)
{
    fprintf(stderr, "%s: %s %s: %s\n", prog, what, arg, usock_strerror(err));
    return 1;
}

static int parse_port(const char *text, int *port)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 0 || v > 65535) {
        fprintf(stderr, "%s: bad port: %s\n", prog, text);
        return -1;
    }
    *port = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    const char *host = "192.168.0.183";
    const char *file = "Alice.bmp";
    int port = 3456;
    usock_addrinfo *ai = NULL;
    usock *sock = NULL;
    char where[USOCK_ADDRSTRLEN];
    char img[2048];
    size_t n, total = 0;
    FILE *f = NULL;
    int r, rc = 1;

    if (argc > 4) {
        fprintf(stderr, "usage: %s [host [port [file]]]\n", prog);
        return 2;
    }
    if (argc > 1)
        host = argv[1];
    if (argc > 2 && parse_port(argv[2], &port) < 0)
        return 2;
    if (argc > 3)
        file = argv[3];

    f = fopen(file, "rb");
    if (f == NULL)
        return fail("open", file, -errno);

    r = usock_getaddrinfo(host, port, 0, SOCK_STREAM, 0, 0, &ai);
    if (r < 0) {
        rc = fail("getaddrinfo", host, r);
        goto out;
    }
    if (usock_addr_format(&ai->addr, where, sizeof where) < 0)
        strcpy(where, host);
    r = usock_socket(&sock, usock_addr_family(&ai->addr), SOCK_STREAM, 0);
    if (r < 0) {
        rc = fail("socket", where, r);
        goto out;
    }
    r = usock_settimeout(sock, 5.0);
    if (r < 0) {
        rc = fail("settimeout", where, r);
        goto out;
    }
    r = usock_connect(sock, &ai->addr);
    if (r < 0) {
        rc = fail("connect", where, r);
        goto out;
    }

    for (;;) {
        n = fread(img, 1, sizeof img, f);
        if (n == 0) {
            if (ferror(f)) {
                rc = fail("read", file, -EIO);
                goto out;
            }
            break;
        }
        r = usock_sendall(sock, img, n);
        if (r < 0) {
            rc = fail("send", where, r);
            goto out;
        }
        total += n;
    }
    /* The close is checked too: on a socket it is where a late error of
     * the connection can still show. */
    r = usock_close(sock);
    sock = NULL;
    if (r < 0) {
        rc = fail("close", where, r);
        goto out;
    }
    printf("sent %zu bytes\n", total);
    if (fflush(stdout) != 0) {
        rc = fail("write", "stdout", -errno);
        goto out;
    }
    rc = 0;
out:
    if (f != NULL)
        fclose(f);
    usock_close(sock);
    usock_freeaddrinfo(ai);
    return rc;
}
