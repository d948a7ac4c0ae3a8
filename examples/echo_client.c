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
#include <stdlib.h>
#include <string.h>

#include <usock.h>

static const char *prog = "echo_client";

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

/* Python's repr() of a bytes object: b'...', or b"..." when the data holds
 * a ' and no ", with \t \n \r \\ and \xhh escapes. */
static void print_bytes_repr(const unsigned char *p, size_t n)
{
    int quote = memchr(p, '\'', n) && !memchr(p, '"', n) ? '"' : '\'';
    size_t i;

    printf("b%c", quote);
    for (i = 0; i < n; i++) {
        if (p[i] == quote || p[i] == '\\')
            printf("\\%c", p[i]);
        else if (p[i] == '\t')
            printf("\\t");
        else if (p[i] == '\n')
            printf("\\n");
        else if (p[i] == '\r')
            printf("\\r");
        else if (p[i] < 0x20 || p[i] >= 0x7f)
            printf("\\x%02x", p[i]);
        else
            putchar(p[i]);
    }
    putchar(quote);
}

int main(int argc, char **argv)
{
    static const char msg[] = "Hello, world";
    const char *host = "daring.cwi.nl";
    int port = 50007;
    usock_addrinfo *ai = NULL;
    usock *s = NULL;
    char where[USOCK_ADDRSTRLEN];
    unsigned char data[1024];
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

    /* connect((HOST, PORT)) resolves HOST; the first stream address is it. */
    r = usock_getaddrinfo(host, port, 0, SOCK_STREAM, 0, 0, &ai);
    if (r < 0)
        return fail("getaddrinfo", host, r);
    if (usock_addr_format(&ai->addr, where, sizeof where) < 0)
        strcpy(where, host);

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
    usock_freeaddrinfo(ai);
    return rc;
}
