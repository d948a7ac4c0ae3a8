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

#include <usock.h>

#include "common.h"

const char *prog = "telnet_client";

int main(int argc, char **argv)
{
    const char *host = "towel.blinkenlights.nl";
    int port = 23;
    usock *s = NULL;
    char where[USOCK_ADDRSTRLEN];
    char data[500];
    ssize_t n;
    int r, rc = 1;

    r = host_port_args(argc, argv, 2, "[host [port]]", &host, &port);
    if (r != 0)
        return r;

    /* addr = getaddrinfo(host, port)[0][-1]; s = socket(); s.connect(addr).
     * Asking for SOCK_STREAM, as the usocket reference advises, makes sure
     * [0] is an address a stream socket can connect to; the socket takes
     * its family, so an IPv6 server works too (the seed's is IPv4). */
    if (open_connection(&s, host, port, NO_TIMEOUT, where) != 0)
        return 1;

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
    return rc;
}
