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
 * Written as the seed is, on the server layer: a handler and serve_forever.
 * Prints "listening on ADDR" when ready, then per client "ADDR wrote:"
 * (host and port, where the seed shows the host only) and the data as
 * Python prints bytes. count, when given, is how many clients to serve
 * before exiting (for tests): handle_request that many times.
 */
#include <stdio.h>

#include <usock.h>

#include "common.h"

const char *prog = "tcp_upper_server";

/* MyTCPHandler.handle. A failure is this client's: the server reports it
 * (report_error below) and goes on with the next one, as socketserver does. */
static int handle(usock_request *req)
{
    unsigned char buf[1024], *data = buf;
    char client_address[USOCK_ADDRSTRLEN];
    ssize_t n = usock_recv(req->sock, buf, sizeof buf);
    if (n < 0)
        return (int)n;
    size_t len = bytes_strip(&data, (size_t)n);
    addr_text(req->peer, client_address);
    printf("%s wrote:\n", client_address);
    print_bytes_repr(data, len); /* print(self.data) */
    putchar('\n');
    fflush(stdout);
    bytes_upper(data, len);
    return usock_sendall(req->sock, data, len);
}

int main(int argc, char **argv)
{
    const char *host = "localhost";
    int port = 9999;
    long count = -1;
    usock_server *server = NULL;
    char where[USOCK_ADDRSTRLEN];
    int r = server_args(argc, argv, &host, &port, &count);
    if (r != 0)
        return r;

    /* TCPServer((HOST, PORT), MyTCPHandler), with allow_reuse_address (not
     * TCPServer's default): a restarted server can take the port while old
     * connections sit in TIME_WAIT. */
    usock_server_opts opts;
    usock_server_opts_init(&opts);
    opts.allow_reuse_address = 1;
    opts.handle_error = report_error;
    if (open_usock_server(&server, host, port, handle, &opts, where) != 0)
        return 1;

    return serve_requests(server, count, where);
}
