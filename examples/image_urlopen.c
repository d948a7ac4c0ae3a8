/* image_urlopen.c -- download a file over HTTP with urlopen and save its
 * body, reading it in 4096-byte pieces.
 *
 * Seed: the usocket reference's example 1 (MaixPy), the same download as
 * image_download.c, which stays as the seed writes it, on raw sockets:
 *
 *     sock.send('''GET /MAIX/MaixPy/assets/Alice.bmp HTTP/1.1
 *     Host: dl.sipeed.com
 *     cache-control: no-cache
 *     ...''')
 *     sock.settimeout(5)
 *     while True:
 *         data = sock.recv(4096)
 *         if len(data) == 0: break
 *         print("rcv:", len(data)); img = img + data
 *     print(len(img)); img = img[img.find(b"\r\n\r\n")+4:] ...
 *     print("save to /sd/Alice.bmp"); f.write(img); print("save ok")
 *
 * Here it is written on the request layer, as one would in Python with
 * urllib.request:
 *
 *     req = urllib.request.Request(url, headers={'Cache-Control': 'no-cache'})
 *     with urllib.request.urlopen(req, timeout=5) as r, open(file, 'wb') as f:
 *         while data := r.read(4096):
 *             print("rcv:", len(data)); f.write(data)
 *
 * usage: image_urlopen [URL [file]]
 *        (default http://dl.sipeed.com/MAIX/MaixPy/assets/Alice.bmp Alice.bmp)
 *
 * What the layer does that the seed does by hand or not at all: the
 * request (Host, HTTP/1.1 framing), the head parsed and cut off (no
 * find("\r\n\r\n")), the body framed by Content-Length or chunked and
 * checked complete (a body cut short is an error, never a short image),
 * redirects followed, gzip decoded. The timeout, the seed's 5 s, bounds
 * the connect and each read. The body goes to the file piece by piece
 * instead of growing in memory.
 *
 * Output: "save to FILE" once the answer is a success, "rcv: N" per piece
 * (4096 bytes but the last: a read waits for 4096 or the end), the body's
 * length, "save ok". An HTTP error answer (4xx, 5xx) creates no file and
 * is one stderr line, "image_urlopen: GET URL: 404 File not found", exit
 * status 22 (HTTP_ERROR_EXIT, as curl --fail); no answer (resolve,
 * connect, timeout) is status 1; a failure while reading removes the
 * partial file, status 1. http: and https: URLs (the server's
 * certificate checked against the system's CAs, or SSL_CERT_FILE's).
 */
#include <errno.h>
#include <stdio.h>

#include <usock.h>

#include "common.h"

const char *prog = "image_urlopen";

int main(int argc, char **argv)
{
    const char *url = "http://dl.sipeed.com/MAIX/MaixPy/assets/Alice.bmp";
    const char *file = "Alice.bmp";
    usock_urlrequest *req = NULL;
    usock_response *res = NULL;
    usock_urlerror err;
    char data[4096];
    size_t len = 0;
    FILE *f = NULL;
    ssize_t n;
    int r, rc = 1;

    if (argc > 3)
        return usage("[URL [file]]");
    if (argc > 1)
        url = argv[1];
    if (argc > 2)
        file = argv[2];

    /* req = Request(url, headers={'Cache-Control': 'no-cache'}) */
    r = usock_request_new(&req, url);
    if (r == 0)
        r = usock_request_set_header(req, "Cache-Control", "no-cache");
    if (r < 0) {
        usock_request_free(req);
        fprintf(stderr, "%s: %s: %s\n", prog, url, usock_strerror(r));
        return 1;
    }

    /* urlopen(req, timeout=5), with the seed's 5 s */
    r = usock_urlopen_request(req, 5.0, &res, &err);
    usock_request_free(req);
    if (r < 0)
        return urlopen_fail(url, r, &err, res);

    printf("save to %s\n", file);
    fflush(stdout);
    f = fopen(file, "wb");
    if (f == NULL) {
        rc = fail("open", file, -errno);
        goto out;
    }
    for (;;) {
        n = usock_response_read(res, data, sizeof data);
        if (n < 0) {
            rc = fail("read", usock_response_url(res), (int)n);
            goto out;
        }
        if (n == 0)
            break;
        printf("rcv: %zd\n", n);
        if (fwrite(data, 1, (size_t)n, f) != (size_t)n) {
            rc = fail("write", file, -errno);
            goto out;
        }
        len += (size_t)n;
    }
    r = fclose(f);
    f = NULL;
    if (r != 0) {
        rc = fail("write", file, -errno);
        remove(file);
        goto out;
    }
    printf("%zu\n", len);
    printf("save ok\n");
    if (fflush(stdout) != 0) {
        rc = fail("write", "stdout", -errno);
        goto out;
    }
    rc = 0;
out:
    if (f != NULL) { /* a failure while saving: no partial image stays */
        fclose(f);
        remove(file);
    }
    usock_response_close(res);
    return rc;
}
