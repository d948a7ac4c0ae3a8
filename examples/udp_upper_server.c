/* udp_upper_server.c -- a UDP server that answers each datagram with its
 * text upper-cased.
 *
 * Seed: the Python standard library's socketserver example:
 *
 *     class MyUDPHandler(socketserver.BaseRequestHandler):
 *         def handle(self):
 *             data = self.request[0].strip()
 *             socket = self.request[1]
 *             print("{} wrote:".format(self.client_address[0]))
 *             print(data)
 *             socket.sendto(data.upper(), self.client_address)
 *     socketserver.UDPServer(("localhost", 9999), MyUDPHandler).serve_forever()
 *
 * usage: udp_upper_server [host [port [count]]]   (default localhost 9999, forever)
 *
 * Written as the seed is, on the server layer: a handler and serve_forever.
 * Prints "listening on ADDR" when bound, then per datagram "ADDR wrote:"
 * (host and port, where the seed shows the host only) and the data as
 * Python prints bytes. count, when given, is how many datagrams to answer
 * before exiting (for tests): handle_request that many times.
 */
#include <stdio.h>
#include <string.h>

#include <usock.h>

#include "common.h"

const char *prog = "udp_upper_server";

/* MyUDPHandler.handle: request[0] is the packet (at most
 * UDPServer.max_packet_size bytes), request[1] the socket to answer with. */
static int handle(usock_request *req)
{
    unsigned char packet[8192], *data = packet;
    char client_address[USOCK_ADDRSTRLEN];
    size_t n = req->len < sizeof packet ? req->len : sizeof packet;
    memcpy(packet, req->data, n);
    size_t len = bytes_strip(&data, n);
    addr_text(req->peer, client_address);
    printf("%s wrote:\n", client_address);
    print_bytes_repr(data, len); /* print(data) */
    putchar('\n');
    fflush(stdout);
    bytes_upper(data, len);
    /* A reply that cannot go out is this client's problem (reported by
     * report_error), not the server's. */
    ssize_t r = usock_sendto(req->sock, data, len, req->peer);
    return r < 0 ? (int)r : 0;
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

    /* UDPServer((HOST, PORT), MyUDPHandler). */
    usock_server_opts opts;
    usock_server_opts_init(&opts);
    opts.type = SOCK_DGRAM;
    opts.handle_error = report_error;
    if (open_usock_server(&server, host, port, handle, &opts, where) != 0)
        return 1;

    return serve_requests(server, count, where);
}
