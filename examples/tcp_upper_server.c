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
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usock.h>

static const char *prog = "tcp_upper_server";

static int fail(const char *what, const char *arg, int err)
{
    fprintf(stderr, "%s: %s %s: %s\n", prog, what, arg, usock_strerror(err));
    return 1;
}

static int parse_int(const char *text, long lo, long hi, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* bytes.strip(): ASCII whitespace off both ends, in place; the new length. */
static size_t strip(unsigned char **p, size_t n)
{
    static const char ws[] = " \t\n\r\v\f";

    while (n > 0 && memchr(ws, (*p)[0], sizeof ws - 1)) {
        (*p)++;
        n--;
    }
    while (n > 0 && memchr(ws, (*p)[n - 1], sizeof ws - 1))
        n--;
    return n;
}

/* Python's print() of a bytes object: its repr, b'...' or b"...". */
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
    printf("%c\n", quote);
}

/* MyTCPHandler.handle. A failure is this client's: reported, and the
 * server goes on with the next one, as socketserver does. */
static void handle(usock *request, const char *client_address)
{
    unsigned char buf[1024], *data = buf;
    ssize_t n;
    size_t len, i;
    int r;

    n = usock_recv(request, buf, sizeof buf);
    if (n < 0) {
        fail("recv", client_address, (int)n);
        return;
    }
    len = strip(&data, (size_t)n);
    printf("%s wrote:\n", client_address);
    print_bytes_repr(data, len);
    fflush(stdout);
    for (i = 0; i < len; i++) /* bytes.upper(): ASCII letters only */
        if (data[i] >= 'a' && data[i] <= 'z')
            data[i] = (unsigned char)(data[i] - 'a' + 'A');
    r = usock_sendall(request, data, len);
    if (r < 0)
        fail("sendall", client_address, r);
}

int main(int argc, char **argv)
{
    const char *host = "localhost";
    long port = 9999, count = -1;
    usock_addrinfo *ai = NULL;
    usock *s = NULL;
    usock_addr local;
    char where[USOCK_ADDRSTRLEN];
    int one = 1;
    int r, rc = 1;

    if (argc > 4) {
        fprintf(stderr, "usage: %s [host [port [count]]]\n", prog);
        return 2;
    }
    if (argc > 1)
        host = argv[1];
    if (argc > 2 && parse_int(argv[2], 0, 65535, &port) < 0) {
        fprintf(stderr, "%s: bad port: %s\n", prog, argv[2]);
        return 2;
    }
    if (argc > 3 && parse_int(argv[3], 1, 1000000000L, &count) < 0) {
        fprintf(stderr, "%s: bad count: %s\n", prog, argv[3]);
        return 2;
    }

    r = usock_getaddrinfo(host, (int)port, 0, SOCK_STREAM, 0, AI_PASSIVE, &ai);
    if (r < 0)
        return fail("getaddrinfo", host, r);
    if (usock_addr_format(&ai->addr, where, sizeof where) < 0)
        strcpy(where, host);

    r = usock_socket(&s, usock_addr_family(&ai->addr), SOCK_STREAM, 0);
    if (r < 0) {
        rc = fail("socket", where, r);
        goto out;
    }
    /* Not TCPServer's default (allow_reuse_address = False): lets a
     * restarted server take the port while old connections sit in
     * TIME_WAIT. */
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
    r = usock_listen(s, 5); /* TCPServer.request_queue_size */
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

    while (count != 0) { /* count < 0: forever */
        usock *request = NULL;
        usock_addr peer;
        char client_address[USOCK_ADDRSTRLEN];

        r = usock_accept(s, &request, &peer);
        if (r < 0) {
            rc = fail("accept", where, r);
            goto out;
        }
        if (usock_addr_format(&peer, client_address, sizeof client_address) < 0)
            strcpy(client_address, "?");
        handle(request, client_address);
        usock_close(request);
        if (count > 0)
            count--;
    }
    rc = 0;
out:
    usock_close(s);
    usock_freeaddrinfo(ai);
    return rc;
}
