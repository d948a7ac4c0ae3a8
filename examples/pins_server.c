/* pins_server.c -- a tiny HTTP server whose one page is a table of GPIO pins.
 *
 * Seed: MicroPython tutorial 5.3 (ESP8266):
 *
 *     addr = socket.getaddrinfo('0.0.0.0', 80)[0][-1]
 *     s = socket.socket(); s.bind(addr); s.listen(1)
 *     print('listening on', addr)
 *     while True:
 *         cl, addr = s.accept()
 *         print('client connected from', addr)
 *         cl_file = cl.makefile('rwb', 0)
 *         while True:
 *             line = cl_file.readline()
 *             if not line or line == b'\r\n': break
 *         ... cl.send(header); cl.send(page); cl.close()
 *
 * usage: pins_server [host [port [count]]]        (default 0.0.0.0 80, forever)
 *
 * Pin values come from /sys/class/gpio/gpioN/value where the kernel exports
 * that pin; elsewhere (a PC) a pin reads 0, so the page is the same on every
 * run. count, when given, is how many clients to serve before exiting (for
 * tests). Port 0 picks a free port; the "listening on" line shows which.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <usock.h>

#include "common.h"

const char *prog = "pins_server";

static const char header[] = "HTTP/1.0 200 OK\r\nContent-type: text/html\r\n\r\n";

/* One client: skip its request up to the empty line, answer with the page.
 * A failure here is this client's; it is reported and the server goes on. */
static void serve(usock *cl, const char *who)
{
    char line[1024];
    char page[2048];
    int at_line_start = 1;
    int r, len;
    FILE *f;

    f = usock_makefile(cl, "rwb");
    if (f == NULL) {
        fail("makefile", who, -errno);
        return;
    }
    /* Read header lines until the empty one. A line longer than the buffer
     * comes in pieces; only a piece that starts a line can be the "\r\n". */
    for (;;) {
        if (fgets(line, sizeof line, f) == NULL) {
            if (ferror(f)) {
                fail("readline", who, errno ? -errno : USOCK_EIO);
                fclose(f);
                return;
            }
            break; /* EOF: the seed's "if not line" */
        }
        if (at_line_start && (strcmp(line, "\r\n") == 0 || strcmp(line, "\n") == 0))
            break;
        at_line_start = strchr(line, '\n') != NULL;
    }
    fclose(f); /* the stream only; cl stays open */

    len = pins_page(page, sizeof page);
    if (len < 0) {
        fail("page", who, len);
        return;
    }
    /* sendall where the seed has send: send may be short. */
    r = usock_sendall(cl, header, sizeof header - 1);
    if (r == 0)
        r = usock_sendall(cl, page, (size_t)len);
    if (r < 0)
        fail("send", who, r);
}

int main(int argc, char **argv)
{
    const char *host = "0.0.0.0";
    int port = 80;
    long count = -1;
    usock *s = NULL;
    char where[USOCK_ADDRSTRLEN];
    int r, rc = 1;

    r = server_args(argc, argv, &host, &port, &count);
    if (r != 0)
        return r;

    /* addr = getaddrinfo(host, port)[0][-1]; s = socket(); s.bind(addr);
     * s.listen(1); print('listening on', addr). The address printed is the
     * one bound, so that port 0 shows the port the system picked. Not in
     * the seed: SO_REUSEADDR, so that the server can restart at once on the
     * same port while old connections sit in TIME_WAIT. */
    if (open_server(&s, host, port, 0, SOCK_STREAM, 1, where) != 0)
        return 1;

    while (count != 0) { /* count < 0: forever */
        usock *cl = NULL;
        char who[USOCK_ADDRSTRLEN];

        /* cl, addr = s.accept() */
        if (accept_client(s, where, &cl, who) != 0)
            goto out;
        printf("client connected from %s\n", who);
        fflush(stdout);
        serve(cl, who);
        usock_close(cl);
        if (count > 0)
            count--;
    }
    rc = 0;
out:
    usock_close(s);
    return rc;
}
