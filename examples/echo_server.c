/* echo_server.c -- accept one connection and echo back what it sends.
 *
 * Seed: the Python standard library's socket example:
 *
 *     HOST = ''; PORT = 50007
 *     with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
 *         s.bind((HOST, PORT)); s.listen(1)
 *         conn, addr = s.accept()
 *         with conn:
 *             print('Connected by', addr)
 *             while True:
 *                 data = conn.recv(1024)
 *                 if not data: break
 *                 conn.sendall(data)
 *
 * usage: echo_server [host [port]]       (default "" 50007: all IPv4 interfaces)
 *
 * Prints "listening on ADDR" once it listens (not in the seed: it tells a
 * client that it can connect now, and port 0 shows the port picked), then
 * "Connected by ADDR", and exits when the client closes.
 */
#include <stdio.h>

#include <usock.h>

#include "common.h"

const char *prog = "echo_server";

int main(int argc, char **argv)
{
    const char *host = "";
    int port = 50007;
    usock *s = NULL, *conn = NULL;
    char where[USOCK_ADDRSTRLEN], who[USOCK_ADDRSTRLEN];
    char data[1024];
    ssize_t n;
    int r, rc = 1;

    r = host_port_args(argc, argv, 2, "[host [port]]", &host, &port);
    if (r != 0)
        return r;

    /* s.bind((HOST, PORT)); s.listen(1). Python's '' is the IPv4 any
     * address; the library gives it for "" with AI_PASSIVE, and AF_INET
     * keeps it IPv4 as in the seed. A name or an IPv6 address picks its own
     * family. Not in the seed: SO_REUSEADDR, so that a restart may reuse
     * the port at once even while the last connection is in TIME_WAIT. */
    if (open_server(&s, host, port, host[0] ? 0 : AF_INET, SOCK_STREAM, 1, where) != 0)
        return 1;

    /* conn, addr = s.accept() */
    if (accept_client(s, where, &conn, who) != 0)
        goto out;
    printf("Connected by %s\n", who);
    fflush(stdout);

    for (;;) {
        n = usock_recv(conn, data, sizeof data);
        if (n < 0) {
            rc = fail("recv", who, (int)n);
            goto out;
        }
        if (n == 0)
            break;
        r = usock_sendall(conn, data, (size_t)n);
        if (r < 0) {
            rc = fail("sendall", who, r);
            goto out;
        }
    }
    rc = 0;
out:
    usock_close(conn);
    usock_close(s);
    return rc;
}
