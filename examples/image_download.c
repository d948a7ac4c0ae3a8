/* image_download.c -- download a file over HTTP/1.1 and save its body.
 *
 * Seed: the usocket reference's example 1 (MaixPy), which fetches a BMP
 * and shows it on the LCD:
 *
 *     sock = socket.socket()
 *     addr = socket.getaddrinfo("dl.sipeed.com", 80)[0][-1]
 *     sock.connect(addr)
 *     sock.send('''GET /MAIX/MaixPy/assets/Alice.bmp HTTP/1.1
 *     Host: dl.sipeed.com
 *     cache-control: no-cache
 *
 *     ''')
 *     img = b""
 *     sock.settimeout(5)
 *     while True:
 *         data = sock.recv(4096)
 *         if len(data) == 0: break
 *         print("rcv:", len(data)); img = img + data
 *     print(len(img))
 *     img = img[img.find(b"\r\n\r\n")+4:]
 *     print(len(img)); print("save to /sd/Alice.bmp")
 *     ... f.write(img) ...; print("save ok")
 *
 * usage: image_download [host [port [path [file]]]]
 *        (default dl.sipeed.com 80 /MAIX/MaixPy/assets/Alice.bmp Alice.bmp)
 *
 * Differences, each for a reason:
 * - "Connection: close" is sent too. The seed reads until the server
 *   closes, but an HTTP/1.1 server keeps the connection open by default;
 *   without it the loop would end only by the 5 s timeout, as an error.
 * - Lines end in "\r\n" as HTTP requires; the seed's triple-quoted string
 *   has bare "\n", which strict servers reject.
 * - The timeout is set before connect, so connecting is bounded too.
 * - A status other than 200 is an error instead of a saved error page.
 * - There is no LCD: the program ends once the file is saved.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usock.h>

#include "common.h"

const char *prog = "image_download";

/* The first "\r\n\r\n" of n bytes, or NULL. */
static const char *find_header_end(const char *p, size_t n)
{
    size_t i;

    for (i = 0; i + 4 <= n; i++)
        if (memcmp(p + i, "\r\n\r\n", 4) == 0)
            return p + i;
    return NULL;
}

int main(int argc, char **argv)
{
    const char *host = "dl.sipeed.com";
    const char *path = "/MAIX/MaixPy/assets/Alice.bmp";
    const char *file = "Alice.bmp";
    int port = 80;
    usock *sock = NULL;
    char where[USOCK_ADDRSTRLEN];
    char *req = NULL, *img = NULL;
    const char *end, *body;
    size_t reqcap, len = 0, cap = 0, body_len;
    FILE *f = NULL;
    ssize_t n;
    int r, rc = 1;

    r = host_port_args(argc, argv, 4, "[host [port [path [file]]]]", &host, &port);
    if (r != 0)
        return r;
    if (argc > 3)
        path = argv[3];
    if (argc > 4)
        file = argv[4];

    /* Host: the name, in brackets if it is an IPv6 address, with the port
     * unless it is HTTP's 80. */
    reqcap = strlen(path) + strlen(host) + 128;
    req = malloc(reqcap);
    if (req == NULL) {
        rc = fail("request", path, USOCK_ENOMEM);
        goto out;
    }
    {
        const char *lb = strchr(host, ':') ? "[" : "", *rb = *lb ? "]" : "";
        char portpart[8] = "";

        if (port != 80)
            snprintf(portpart, sizeof portpart, ":%d", port);
        snprintf(req, reqcap,
                 "GET %s HTTP/1.1\r\n"
                 "Host: %s%s%s%s\r\n"
                 "cache-control: no-cache\r\n"
                 "Connection: close\r\n"
                 "\r\n",
                 path, lb, host, rb, portpart);
    }

    /* sock = socket.socket(); addr = getaddrinfo(host, 80)[0][-1];
     * sock.connect(addr), with the seed's sock.settimeout(5) moved before
     * the connect. */
    if (open_connection(&sock, host, port, 5.0, where) != 0)
        goto out;
    /* sendall where the seed has send: a short send would lose the end of
     * the request. */
    r = usock_sendall(sock, req, strlen(req));
    if (r < 0) {
        rc = fail("send", where, r);
        goto out;
    }

    for (;;) {
        /* Room for one more recv(4096). The buffer doubles where the seed's
         * img + data copies everything on every piece. */
        if (cap - len < 4096) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *grown = realloc(img, ncap);
            if (grown == NULL) {
                rc = fail("recv", where, USOCK_ENOMEM);
                goto out;
            }
            img = grown;
            cap = ncap;
        }
        n = usock_recv(sock, img + len, 4096);
        if (n < 0) {
            rc = fail("recv", where, (int)n);
            goto out;
        }
        if (n == 0)
            break;
        printf("rcv: %zd\n", n);
        len += (size_t)n;
    }
    printf("%zu\n", len);

    end = find_header_end(img, len);
    if (end == NULL) {
        fprintf(stderr, "%s: no end of headers in %zu bytes from %s\n", prog, len, where);
        goto out;
    }
    /* "HTTP/1.1 200 OK": anything else would save the server's error page. */
    if (end - img < 12 || memcmp(img, "HTTP/1.", 7) != 0 || memcmp(img + 8, " 200", 4) != 0) {
        const char *eol = memchr(img, '\r', (size_t)(end - img) + 1);
        fprintf(stderr, "%s: server answered: %.*s\n", prog, (int)(eol - img), img);
        goto out;
    }
    body = end + 4;
    body_len = len - (size_t)(body - img);
    printf("%zu\n", body_len);
    printf("save to %s\n", file);
    fflush(stdout);

    f = fopen(file, "wb");
    if (f == NULL) {
        rc = fail("open", file, -errno);
        goto out;
    }
    if (fwrite(body, 1, body_len, f) != body_len) {
        rc = fail("write", file, -errno);
        goto out;
    }
    r = fclose(f);
    f = NULL;
    if (r != 0) {
        rc = fail("write", file, -errno);
        goto out;
    }
    printf("save ok\n");
    if (fflush(stdout) != 0) {
        rc = fail("write", "stdout", -errno);
        goto out;
    }
    rc = 0;
out:
    if (f != NULL)
        fclose(f);
    usock_close(sock);
    free(img);
    free(req);
    return rc;
}
