/* tcp_upper_server.c -- a TCP server that answers each client with its
 * message upper-cased.
 *
 * Seed: the Python standard library's socketserver example:
 *
 *     class MyTCPHandler(socketserver.BaseRequestHandler):
 *         def handle(self):
 *             self.data = self.request.recv(1024).strip()
 *             print("{} wrote:".format(self.client_address[0]))
 *             print(self.data)
 *             self.request.sendall(self.data.upper())
 *     socketserver.TCPServer(("localhost", 9999), MyTCPHandler).serve_forever()
 *
 * usage: tcp_upper_server [host [port [count]]]   (default localhost 9999, forever)
 *
 * Written on the socket layer: TCPServer's sequential loop is accept, handle,
 * close. Prints "listening on ADDR" when ready, then per client
 * "ADDR wrote:" (host and port, where the seed shows the host only) and the
 * data as Python prints bytes. count, when given, is how many clients to
 * serve before exiting (for tests).
 */
#include <stdio.h>

#include <usock.h>

#include "common.h"

const char *prog = "tcp_upper_server";

/* MyTCPHandler.handle. A failure is this client's: reported, and the
 * server goes on with the next one, as socketserver does. */
static void handle(usock *request, const char *client_address)
{
    unsigned char buf[1024], *data = buf;
    ssize_t n;
    size_t len;
    int r;

    n = usock_recv(request, buf, sizeof buf);
    if (n < 0) {
        fail("recv", client_address, (int)n);
        return;
    }
    len = bytes_strip(&data, (size_t)n);
    printf("%s wrote:\n", client_address);
    print_bytes_repr(data, len); /* print(self.data) */
    putchar('\n');
    fflush(stdout);
    bytes_upper(data, len);
    r = usock_sendall(request, data, len);
    if (r < 0)
        fail("sendall", client_address, r);
}

int main(int argc, char **argv)
{
    const char *host = "localhost";
    int port = 9999;
    long count = -1;
    usock *s = NULL;
    char where[USOCK_ADDRSTRLEN];
    int r, rc = 1;

    r = server_args(argc, argv, &host, &port, &count);
    if (r != 0)
        return r;

    /* TCPServer((HOST, PORT)): bind, listen(request_queue_size = 5). With
     * SO_REUSEADDR, not TCPServer's default (allow_reuse_address = False):
     * a restarted server can take the port while old connections sit in
     * TIME_WAIT. */
    if (open_server(&s, host, port, 0, SOCK_STREAM, 5, where) != 0)
        return 1;

    while (count != 0) { /* count < 0: forever */
        usock *request = NULL;
        char client_address[USOCK_ADDRSTRLEN];

        if (accept_client(s, where, &request, client_address) != 0)
            goto out;
        handle(request, client_address);
        usock_close(request);
        if (count > 0)
            count--;
    }
    rc = 0;
out:
    usock_close(s);
    return rc;
}
