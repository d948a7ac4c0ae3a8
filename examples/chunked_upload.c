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

#include <usock.h>

#include "common.h"

const char *prog = "chunked_upload";

int main(int argc, char **argv)
{
    const char *host = "192.168.0.183";
    const char *file = "Alice.bmp";
    int port = 3456;
    usock *sock = NULL;
    char where[USOCK_ADDRSTRLEN];
    char img[2048];
    size_t n, total = 0;
    FILE *f = NULL;
    int r, rc = 1;

    r = host_port_args(argc, argv, 3, "[host [port [file]]]", &host, &port);
    if (r != 0)
        return r;
    if (argc > 3)
        file = argv[3];

    f = fopen(file, "rb");
    if (f == NULL)
        return fail("open", file, -errno);

    /* sock = socket.socket(); sock.settimeout(5); sock.connect(addr) */
    if (open_connection(&sock, host, port, 5.0, where) != 0)
        goto out;

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
    return rc;
}
