/* telnet_client.c -- stream a telnet service to the terminal.
 *
 * Seed: MicroPython tutorial 5.1, the Star Wars animation that
 * towel.blinkenlights.nl streams on port 23 to whoever connects:
 *
 *     addr = socket.getaddrinfo("towel.blinkenlights.nl", 23)[0][-1]
 *     s = socket.socket(); s.connect(addr)
 *     while True: data = s.recv(500); print(str(data, 'utf8'), end='')
 *
 * usage: telnet_client [host [port]]     (default towel.blinkenlights.nl 23)
 *
 * Unlike the seed's endless loop it stops when the server closes (recv
 * returns 0 bytes at EOF), so it also ends against a finite server.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usock.h>

static const char *prog = "telnet_client";

/* The one stderr line of a failure, "telnet_client: connect ADDR: reason";
 * returns the exit status. */
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
    const char *host = "towel.blinkenlights.nl";
    int port = 23;
    usock_addrinfo *ai = NULL;
    usock *s = NULL;
    char where[USOCK_ADDRSTRLEN];
    char data[500];
    ssize_t n;
    int r, rc = 1;

    if (argc > 3) {
        fprintf(stderr, "usage: %s [host [port]]\n", prog);
        return 2;
    }
    if (argc > 1)
        host = argv[1];
    if (argc > 2 && parse_port(argv[2], &port) < 0)
        return 2;

    /* getaddrinfo(host, port)[0][-1]. Asking for SOCK_STREAM, as the
     * usocket reference advises, makes sure [0] is an address a stream
     * socket can connect to. */
    r = usock_getaddrinfo(host, port, 0, SOCK_STREAM, 0, 0, &ai);
    if (r < 0)
        return fail("getaddrinfo", host, r);
    if (usock_addr_format(&ai->addr, where, sizeof where) < 0)
        strcpy(where, host);

    /* The seed's socket() is IPv4; taking the family of the address lets
     * the same program reach an IPv6 server too. */
    r = usock_socket(&s, usock_addr_family(&ai->addr), SOCK_STREAM, 0);
    if (r < 0) {
        rc = fail("socket", where, r);
        goto out;
    }
    r = usock_connect(s, &ai->addr);
    if (r < 0) {
        rc = fail("connect", where, r);
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
        /* Flushed at once: the service is an animation, drawn as it comes. */
        if (fwrite(data, 1, (size_t)n, stdout) != (size_t)n || fflush(stdout) != 0) {
            rc = fail("write", "stdout", -errno);
            goto out;
        }
    }
    rc = 0;
out:
    usock_close(s);
    usock_freeaddrinfo(ai);
    return rc;
}
