/* http_get.c -- fetch a URL with a hand-written HTTP/1.0 GET and print the
 * whole response, headers included.
 *
 * Seed: MicroPython tutorial 5.2:
 *
 *     _, _, host, path = url.split('/', 3)
 *     addr = socket.getaddrinfo(host, 80)[0][-1]
 *     s = socket.socket(); s.connect(addr)
 *     s.send(bytes('GET /%s HTTP/1.0\r\nHost: %s\r\n\r\n' % (path, host), 'utf8'))
 *     while True: data = s.recv(100); ... print(str(data, 'utf8'), end='')
 *
 * usage: http_get [URL]          (default http://micropython.org/ks/test.html)
 *
 * URL is http://host[:port]/path; host may be a name, an IPv4 address or
 * an IPv6 address in brackets. As in the seed, the Host header carries the
 * host part exactly as written in the URL (with its port, if any).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usock.h>

#include "common.h"

const char *prog = "http_get";

/* Splits "http://host[:port]/path" like the seed's url.split('/', 3):
 * *hostpart is the text between "//" and the next '/', *path what follows
 * that '/' ("" when the URL ends after the host). The name to resolve and
 * the port (80 unless given) come out of the host part. Returns 0 or -1
 * for a URL it cannot use; name is malloc'd. */
static int split_url(const char *url, char **hostpart, const char **path, char **name, int *port)
{
    const char *h, *slash, *end, *colon = NULL;
    size_t hlen;

    if (strncmp(url, "http://", 7) != 0)
        return -1;
    h = url + 7;
    slash = strchr(h, '/');
    hlen = slash ? (size_t)(slash - h) : strlen(h);
    *path = slash ? slash + 1 : "";
    if (hlen == 0)
        return -1;

    end = h + hlen;
    *port = 80;
    if (h[0] == '[') { /* [v6]:port */
        const char *rb = memchr(h, ']', hlen);
        if (rb == NULL || rb == h + 1)
            return -1;
        if (rb + 1 < end) {
            if (rb[1] != ':')
                return -1;
            colon = rb + 1;
        }
        end = rb;
        h++;
    } else {
        colon = memchr(h, ':', hlen);
        if (colon != NULL)
            end = colon;
    }
    if (colon != NULL) {
        const char *p = colon + 1, *stop = slash ? slash : p + strlen(p);
        long v = 0;
        if (p == stop)
            return -1;
        for (; p < stop; p++) {
            if (*p < '0' || *p > '9' || (v = v * 10 + (*p - '0')) > 65535)
                return -1;
        }
        *port = (int)v;
    }
    if (end == h)
        return -1;

    *name = malloc((size_t)(end - h) + 1);
    *hostpart = malloc(hlen + 1);
    if (*name == NULL || *hostpart == NULL) {
        free(*name);
        free(*hostpart);
        *name = *hostpart = NULL;
        return -2;
    }
    memcpy(*name, h, (size_t)(end - h));
    (*name)[end - h] = '\0';
    memcpy(*hostpart, url + 7, hlen);
    (*hostpart)[hlen] = '\0';
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = "http://micropython.org/ks/test.html";
    const char *path;
    char *hostpart = NULL, *name = NULL, *req = NULL;
    usock *s = NULL;
    char where[USOCK_ADDRSTRLEN];
    char data[100];
    size_t reqcap;
    ssize_t n;
    int port, r, rc = 1;

    if (argc > 2)
        return usage("[http://host[:port]/path]");
    if (argc > 1)
        url = argv[1];
    r = split_url(url, &hostpart, &path, &name, &port);
    if (r == -2)
        return fail("parse", url, USOCK_ENOMEM);
    if (r < 0) {
        fprintf(stderr, "%s: bad URL (want http://host[:port]/path): %s\n", prog, url);
        return 2;
    }

    /* The seed's request, byte for byte. */
    reqcap = strlen(path) + strlen(hostpart) + sizeof "GET / HTTP/1.0\r\nHost: \r\n\r\n";
    req = malloc(reqcap);
    if (req == NULL) {
        rc = fail("request", url, USOCK_ENOMEM);
        goto out;
    }
    snprintf(req, reqcap, "GET /%s HTTP/1.0\r\nHost: %s\r\n\r\n", path, hostpart);

    /* addr = getaddrinfo(host, port)[0][-1]; s = socket(); s.connect(addr) */
    if (open_connection(&s, name, port, NO_TIMEOUT, where) != 0)
        goto out;
    /* sendall where the seed has send: send may write only part of the
     * request, and the seed would then wait for an answer that never comes. */
    r = usock_sendall(s, req, strlen(req));
    if (r < 0) {
        rc = fail("send", where, r);
        goto out;
    }

    for (;;) {
        n = usock_recv(s, data, sizeof data);
        if (n < 0) {
            rc = fail("recv", where, (int)n);
            goto out;
        }
        if (n == 0)
            break;
        if (fwrite(data, 1, (size_t)n, stdout) != (size_t)n) {
            rc = fail("write", "stdout", -errno);
            goto out;
        }
    }
    if (fflush(stdout) != 0) {
        rc = fail("write", "stdout", -errno);
        goto out;
    }
    rc = 0;
out:
    usock_close(s);
    free(req);
    free(name);
    free(hostpart);
    return rc;
}
