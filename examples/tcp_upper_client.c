/* tcp_upper_client.c -- send the command line to the upper-casing TCP
 * server and print what comes back.
 *
 * Seed: the client of the Python standard library's socketserver example:
 *
 *     HOST, PORT = "localhost", 9999
 *     data = " ".join(sys.argv[1:])
 *     with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
 *         sock.connect((HOST, PORT))
 *         sock.sendall(bytes(data + "\n", "utf-8"))
 *         received = str(sock.recv(1024), "utf-8")
 *     print("Sent:     {}".format(data))
 *     print("Received: {}".format(received))
 *
 * usage: tcp_upper_client [-H host] [-p port] [--] [word ...]
 *        (default localhost 9999)
 *
 * The words are the message, as in the seed, so host and port are options.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usock.h>

static const char *prog = "tcp_upper_client";

static int fail(const char *what, const char *arg, int err)
{
    fprintf(stderr, "%s: %s %s: %s\n", prog, what, arg, usock_strerror(err));
    return 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: %s [-H host] [-p port] [--] [word ...]\n", prog);
    return 2;
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

/* " ".join(words) + "\n", malloc'd; *len is its length with the newline. */
static char *join_words(char **words, int count, size_t *len)
{
    size_t n = 1, at = 0;
    char *text;
    int i;

    for (i = 0; i < count; i++)
        n += strlen(words[i]) + 1;
    text = malloc(n + 1);
    if (text == NULL)
        return NULL;
    for (i = 0; i < count; i++) {
        size_t w = strlen(words[i]);
        if (i > 0)
            text[at++] = ' ';
        memcpy(text + at, words[i], w);
        at += w;
    }
    text[at++] = '\n';
    text[at] = '\0';
    *len = at;
    return text;
}

int main(int argc, char **argv)
{
    const char *host = "localhost";
    int port = 9999;
    usock_addrinfo *ai = NULL;
    usock *sock = NULL;
    char where[USOCK_ADDRSTRLEN];
    char received[1024];
    char *data = NULL;
    size_t len;
    ssize_t n;
    int i, r, rc = 1;

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (i + 1 >= argc)
            return usage();
        if (strcmp(argv[i], "-H") == 0)
            host = argv[++i];
        else if (strcmp(argv[i], "-p") == 0) {
            if (parse_port(argv[++i], &port) < 0)
                return 2;
        } else
            return usage();
    }
    data = join_words(argv + i, argc - i, &len);
    if (data == NULL)
        return fail("join", "argv", USOCK_ENOMEM);

    r = usock_getaddrinfo(host, port, 0, SOCK_STREAM, 0, 0, &ai);
    if (r < 0) {
        rc = fail("getaddrinfo", host, r);
        goto out;
    }
    if (usock_addr_format(&ai->addr, where, sizeof where) < 0)
        strcpy(where, host);
    r = usock_socket(&sock, usock_addr_family(&ai->addr), SOCK_STREAM, 0);
    if (r < 0) {
        rc = fail("socket", where, r);
        goto out;
    }
    r = usock_connect(sock, &ai->addr);
    if (r < 0) {
        rc = fail("connect", where, r);
        goto out;
    }
    r = usock_sendall(sock, data, len);
    if (r < 0) {
        rc = fail("sendall", where, r);
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
    usock_freeaddrinfo(ai);
    free(data);
    return rc;
}
