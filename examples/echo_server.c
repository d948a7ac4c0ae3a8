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
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usock.h>

static const char *prog = "echo_server";

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
    const char *host = "";
    int port = 50007;
    usock_addrinfo *ai = NULL;
    usock *s = NULL, *conn = NULL;
    usock_addr local, addr;
    char where[USOCK_ADDRSTRLEN], who[USOCK_ADDRSTRLEN];
    char data[1024];
    int one = 1;
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

    /* Python's '' is the IPv4 any address; the library gives it for ""
     * with AI_PASSIVE, and AF_INET keeps it IPv4 as in the seed. A name or
     * an IPv6 address picks its own family. */
    r = usock_getaddrinfo(host, port, host[0] ? 0 : AF_INET, SOCK_STREAM, 0, AI_PASSIVE, &ai);
    if (r < 0)
        return fail("getaddrinfo", host[0] ? host : "''", r);
    if (usock_addr_format(&ai->addr, where, sizeof where) < 0)
        strcpy(where, "?");

    r = usock_socket(&s, usock_addr_family(&ai->addr), SOCK_STREAM, 0);
    if (r < 0) {
        rc = fail("socket", where, r);
        goto out;
    }
    /* Not in the seed: a restart may reuse the port at once even while the
     * last connection is in TIME_WAIT. */
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
    r = usock_getsockname(s, &local);
    if (r < 0) {
        rc = fail("getsockname", where, r);
        goto out;
    }
    if (usock_addr_format(&local, where, sizeof where) < 0)
        strcpy(where, "?");
    printf("listening on %s\n", where);
    fflush(stdout);

    r = usock_accept(s, &conn, &addr);
    if (r < 0) {
        rc = fail("accept", where, r);
        goto out;
    }
    if (usock_addr_format(&addr, who, sizeof who) < 0)
        strcpy(who, "?");
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
    usock_freeaddrinfo(ai);
    return rc;
}
