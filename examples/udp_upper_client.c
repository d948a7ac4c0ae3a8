/* udp_upper_client.c -- send the command line to the upper-casing UDP
 * server and print what comes back.
 *
 * Seed: the UDP client of the Python standard library's socketserver example:
 *
 *     HOST, PORT = "localhost", 9999
 *     data = " ".join(sys.argv[1:])
 *     sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
 *     sock.sendto(bytes(data + "\n", "utf-8"), (HOST, PORT))
 *     received = str(sock.recv(1024), "utf-8")
 *     print("Sent:     {}".format(data))
 *     print("Received: {}".format(received))
 *
 * usage: udp_upper_client [-H host] [-p port] [--] [word ...]
 *        (default localhost 9999)
 *
 * Not in the seed: the answer is awaited 5 seconds at most. UDP has no
 * connection, so a lost datagram or a server that is not there would
 * otherwise leave recv waiting forever.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <usock.h>

#include "common.h"

const char *prog = "udp_upper_client";

int main(int argc, char **argv)
{
    const char *host = "localhost";
    int port = 9999;
    usock *sock = NULL;
    usock_addr addr;
    char where[USOCK_ADDRSTRLEN];
    char received[1024];
    char *data = NULL;
    size_t len;
    ssize_t n;
    int i, r, rc = 1;

    r = word_args(argc, argv, &host, &port, &i);
    if (r != 0)
        return r;
    data = join_words(argv + i, argc - i, &len); /* " ".join(sys.argv[1:]) + "\n" */
    if (data == NULL)
        return fail("join", "argv", USOCK_ENOMEM);

    /* sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), with the
     * 5 s timeout that is not in the seed; addr is (HOST, PORT) resolved. */
    if (open_socket(&sock, host, port, SOCK_DGRAM, 5.0, &addr, where) != 0)
        goto out;
    n = usock_sendto(sock, data, len, &addr);
    if (n < 0) {
        rc = fail("sendto", where, (int)n);
        goto out;
    }
    n = usock_recv(sock, received, sizeof received);
    if (n < 0) {
        rc = fail("recv", where, (int)n);
        goto out;
    }

    data[len - 1] = '\0'; /* print the message without the newline sent */
    printf("Sent:     %s\n", data);
    printf("Received: ");
    fwrite(received, 1, (size_t)n, stdout); /* as bytes: it may hold a NUL */
    putchar('\n');
    if (ferror(stdout) || fflush(stdout) != 0) {
        rc = fail("write", "stdout", -errno);
        goto out;
    }
    rc = 0;
out:
    usock_close(sock);
    free(data);
    return rc;
}
