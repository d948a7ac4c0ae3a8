/* echo_client.c -- send "Hello, world" to an echo server, print the answer.
 *
 * Seed: the Python standard library's socket example:
 *
 *     HOST = 'daring.cwi.nl'; PORT = 50007
 *     with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
 *         s.connect((HOST, PORT))
 *         s.sendall(b'Hello, world')
 *         data = s.recv(1024)
 *     print('Received', repr(data))
 *
 * usage: echo_client [host [port]]       (default daring.cwi.nl 50007)
 *
 * Prints "Received b'Hello, world'": the answer as Python's repr of bytes.
 * As in the seed, one recv(1024) is the answer, whatever part of the echo
 * it holds.
 */
#include <errno.h>
#include <stdio.h>

#include <usock.h>

#include "common.h"

const char *prog = "echo_client";

int main(int argc, char **argv)
{
    static const char msg[] = "Hello, world";
    const char *host = "daring.cwi.nl";
    int port = 50007;
    usock *s = NULL;
    char where[USOCK_ADDRSTRLEN];
    unsigned char data[1024];
    ssize_t n;
    int r, rc = 1;

    r = host_port_args(argc, argv, 2, "[host [port]]", &host, &port);
    if (r != 0)
        return r;

    /* connect((HOST, PORT)) resolves HOST; the first stream address is it. */
    if (open_connection(&s, host, port, NO_TIMEOUT, where) != 0)
        return 1;
    r = usock_sendall(s, msg, sizeof msg - 1);
    if (r < 0) {
        rc = fail("sendall", where, r);
        goto out;
    }
    n = usock_recv(s, data, sizeof data);
    if (n < 0) {
        rc = fail("recv", where, (int)n);
        goto out;
    }
    printf("Received ");
    print_bytes_repr(data, (size_t)n);
    printf("\n");
    if (fflush(stdout) != 0) {
        rc = fail("write", "stdout", -errno);
        goto out;
    }
    rc = 0;
out:
    usock_close(s);
    return rc;
}
