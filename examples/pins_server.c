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
#include <stdlib.h>
#include <string.h>

#include <usock.h>

static const char *prog = "pins_server";

static const int pins[] = {0, 2, 4, 5, 12, 13, 14, 15};

/* The seed's page; %s is the rows. */
static const char html[] = "<!DOCTYPE html>\n"
                           "<html>\n"
                           "    <head> <title>ESP8266 Pins</title> </head>\n"
                           "    <body> <h1>ESP8266 Pins</h1>\n"
                           "        <table border=\"1\"> <tr><th>Pin</th><th>Value</th></tr> %s </table>\n"
                           "    </body>\n"
                           "</html>\n";

static const char header[] = "HTTP/1.0 200 OK\r\nContent-type: text/html\r\n\r\n";

static int fail(const char *what, const char *arg, int err)
{
    fprintf(stderr, "%s: %s %s: %s\n", prog, what, arg, usock_strerror(err));
    return 1;
}

static int parse_int(const char *text, long lo, long hi, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Pin(n).value(): the exported GPIO's value file, else the simulated 0. */
static int pin_value(int pin)
{
    char path[64];
    FILE *f;
    int c;

    snprintf(path, sizeof path, "/sys/class/gpio/gpio%d/value", pin);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    c = fgetc(f);
    fclose(f);
    return c == '1';
}

/* The page as the seed builds it: one row per pin, joined by '\n'. */
static int build_page(char *page, size_t cap)
{
    char rows[512];
    size_t used = 0;
    size_t i;
    int n;

    rows[0] = '\0';
    for (i = 0; i < sizeof pins / sizeof pins[0]; i++) {
        n = snprintf(rows + used, sizeof rows - used, "%s<tr><td>Pin(%d)</td><td>%d</td></tr>",
                     i ? "\n" : "", pins[i], pin_value(pins[i]));
        if (n < 0 || (size_t)n >= sizeof rows - used)
            return USOCK_ENOSPC;
        used += (size_t)n;
    }
    n = snprintf(page, cap, html, rows);
    if (n < 0 || (size_t)n >= cap)
        return USOCK_ENOSPC;
    return n;
}

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

    len = build_page(page, sizeof page);
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
    long port = 80, count = -1;
    usock_addrinfo *ai = NULL;
    usock *s = NULL;
    usock_addr local;
    char where[USOCK_ADDRSTRLEN];
    int one = 1;
    int r, rc = 1;

    if (argc > 4) {
        fprintf(stderr, "usage: %s [host [port [count]]]\n", prog);
        return 2;
    }
    if (argc > 1)
        host = argv[1];
    if (argc > 2 && parse_int(argv[2], 0, 65535, &port) < 0) {
        fprintf(stderr, "%s: bad port: %s\n", prog, argv[2]);
        return 2;
    }
    if (argc > 3 && parse_int(argv[3], 1, 1000000000L, &count) < 0) {
        fprintf(stderr, "%s: bad count: %s\n", prog, argv[3]);
        return 2;
    }

    r = usock_getaddrinfo(host, (int)port, 0, SOCK_STREAM, 0, AI_PASSIVE, &ai);
    if (r < 0)
        return fail("getaddrinfo", host, r);
    if (usock_addr_format(&ai->addr, where, sizeof where) < 0)
        strcpy(where, host);

    r = usock_socket(&s, usock_addr_family(&ai->addr), SOCK_STREAM, 0);
    if (r < 0) {
        rc = fail("socket", where, r);
        goto out;
    }
    /* Not in the seed: lets the server restart at once on the same port
     * instead of failing while old connections sit in TIME_WAIT. */
    r = usock_setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (r < 0) {
        rc = fail("setsockopt", where, r);
        goto out;
    }
    r = usock_bind(s, &ai->addr);
    if (r < 0) {
        rc = fail("bind", where, r);
        goto out;
    }
    r = usock_listen(s, 1);
    if (r < 0) {
        rc = fail("listen", where, r);
        goto out;
    }
    /* The bound address rather than the requested one, so that port 0
     * shows the port the system picked. */
    r = usock_getsockname(s, &local);
    if (r < 0) {
        rc = fail("getsockname", where, r);
        goto out;
    }
    if (usock_addr_format(&local, where, sizeof where) < 0)
        strcpy(where, "?");
    printf("listening on %s\n", where);
    fflush(stdout);

    while (count != 0) { /* count < 0: forever */
        usock *cl = NULL;
        usock_addr peer;
        char who[USOCK_ADDRSTRLEN];

        r = usock_accept(s, &cl, &peer);
        if (r < 0) {
            rc = fail("accept", where, r);
            goto out;
        }
        if (usock_addr_format(&peer, who, sizeof who) < 0)
            strcpy(who, "?");
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
    usock_freeaddrinfo(ai);
    return rc;
}
