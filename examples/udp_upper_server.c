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
 * Written on the socket layer: UDPServer's loop is recvfrom, handle.
 * Prints "listening on ADDR" when bound, then per datagram "ADDR wrote:"
 * (host and port, where the seed shows the host only) and the data as
 * Python prints bytes. count, when given, is how many datagrams to answer
 * before exiting (for tests).
 */
#include <stdio.h>

#include <usock.h>

#include "common.h"

const char *prog = "udp_upper_server";

int main(int argc, char **argv)
{
    const char *host = "localhost";
    int port = 9999;
    long count = -1;
    usock *s = NULL;
    char where[USOCK_ADDRSTRLEN];
    /* UDPServer.max_packet_size: a larger datagram is cut to this. */
    unsigned char packet[8192];
    int r, rc = 1;

    r = server_args(argc, argv, &host, &port, &count);
    if (r != 0)
        return r;

    /* UDPServer((HOST, PORT)): a datagram socket, bound. */
    if (open_server(&s, host, port, 0, SOCK_DGRAM, 0, where) != 0)
        return 1;

    while (count != 0) { /* count < 0: forever */
        usock_addr client;
        char client_address[USOCK_ADDRSTRLEN];
        unsigned char *data = packet;
        size_t len;
        ssize_t n;

        n = usock_recvfrom(s, packet, sizeof packet, &client);
        if (n < 0) {
            rc = fail("recvfrom", where, (int)n);
            goto out;
        }
        addr_text(&client, client_address);
        len = bytes_strip(&data, (size_t)n);
        printf("%s wrote:\n", client_address);
        print_bytes_repr(data, len); /* print(data) */
        putchar('\n');
        fflush(stdout);
        bytes_upper(data, len);
        /* A reply that cannot go out is this client's problem (socketserver
         * reports it and serves on), not the server's. */
        n = usock_sendto(s, data, len, &client);
        if (n < 0)
            fail("sendto", client_address, (int)n);
        if (count > 0)
            count--;
    }
    rc = 0;
out:
    usock_close(s);
    return rc;
}
