/* urlopen_read.c -- open a URL and print the first 300 bytes of its body
 * as Python prints bytes.
 *
 * Seed: the Python standard library's urllib.request example:
 *
 *     >>> import urllib.request
 *     >>> with urllib.request.urlopen('https://www.cnn.co.jp') as f:
 *     ...     print(f.read(300))
 *     ...
 *     b'<!DOCTYPE html>\r\n<html lang="ja">\r\n<head prefix=...'
 *
 * usage: urlopen_read [URL]          (default https://www.cnn.co.jp)
 *
 * On the request layer: usock_urlopen (the default opener: redirects
 * followed, gzip and chunked bodies decoded), one usock_response_read of
 * 300 bytes (which waits for 300 bytes or the end of the body, as Python's
 * read(300)), the bytes printed as print() prints a bytes object
 * (b'...' with \r, \n, \xhh escapes), usock_response_close.
 *
 * http: and https: URLs, as the seed's. An https server's certificate is
 * checked against the system's CAs and the URL's host name, as urllib
 * checks it; OpenSSL's SSL_CERT_FILE names another CA file (the demo
 * trusts its own CA so, for its local stand-in). A failed check is one
 * line, "urlopen_read: TLS with HOST:PORT: TLS certificate from an unknown
 * authority: ...", and status 1 (urllib's URLError).
 *
 * Differences from the seed, where Python would end in a traceback: an
 * HTTP error answer (4xx, 5xx: HTTPError) is one stderr line, "urlopen_read:
 * GET URL: 404 Not Found", and exit status 22 (HTTP_ERROR_EXIT, as curl
 * --fail); no answer at all (URLError: resolve, connect, timeout) is
 * "urlopen_read: connect 127.0.0.1:80: Connection refused" and status 1.
 * As in the seed there is no timeout.
 */
#include <errno.h>
#include <stdio.h>

#include <usock.h>

#include "common.h"

const char *prog = "urlopen_read";

int main(int argc, char **argv)
{
    const char *url = "https://www.cnn.co.jp";
    usock_response *f = NULL;
    usock_urlerror err;
    unsigned char data[300];
    ssize_t n;
    int r;

    if (argc > 2)
        return usage("[URL]");
    if (argc > 1)
        url = argv[1];

    /* with urllib.request.urlopen(url) as f: */
    r = usock_urlopen(url, NULL, 0, NO_TIMEOUT, &f, &err);
    if (r < 0)
        return urlopen_fail(url, r, &err, f);

    /* print(f.read(300)) */
    n = usock_response_read(f, data, sizeof data);
    if (n < 0) {
        r = fail("read", usock_response_url(f), (int)n);
        usock_response_close(f);
        return r;
    }
    print_bytes_repr(data, (size_t)n);
    putchar('\n');
    usock_response_close(f);
    if (fflush(stdout) != 0)
        return fail("write", "stdout", -errno);
    return 0;
}
