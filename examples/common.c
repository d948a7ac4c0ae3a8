/* common.c -- what the seed programs of examples/ share (see common.h). */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fail(const char *what, const char *arg, int err)
{
    fprintf(stderr, "%s: %s %s: %s\n", prog, what, arg, usock_strerror(err));
    return 1;
}

int usage(const char *args)
{
    fprintf(stderr, "usage: %s %s\n", prog, args);
    return 2;
}

/* A decimal number lo..hi into *out; -1 after "PROG: bad WHAT: TEXT". */
static int parse_number(const char *text, long lo, long hi, const char *what, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "%s: bad %s: %s\n", prog, what, text);
        return -1;
    }
    *out = v;
    return 0;
}

int parse_port(const char *text, int *port)
{
    int v = usock_parse_port(text);

    if (v < 0) {
        fprintf(stderr, "%s: bad port: %s\n", prog, text);
        return -1;
    }
    *port = v;
    return 0;
}

int parse_count(const char *text, long *count)
{
    return parse_number(text, 1, 1000000000L, "count", count);
}

int host_port_args(int argc, char **argv, int max_args, const char *args, const char **host,
                   int *port)
{
    if (argc - 1 > max_args)
        return usage(args);
    if (argc > 1)
        *host = argv[1];
    if (argc > 2 && parse_port(argv[2], port) < 0)
        return 2;
    return 0;
}

int server_args(int argc, char **argv, const char **host, int *port, long *count)
{
    int r;

    r = host_port_args(argc, argv, 3, "[host [port [count]]]", host, port);
    if (r != 0)
        return r;
    if (argc > 3 && parse_count(argv[3], count) < 0)
        return 2;
    return 0;
}

int word_args(int argc, char **argv, const char **host, int *port, int *first_word)
{
    static const char args[] = "[-H host] [-p port] [--] [word ...]";
    int i;

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (i + 1 >= argc)
            return usage(args);
        if (strcmp(argv[i], "-H") == 0)
            *host = argv[++i];
        else if (strcmp(argv[i], "-p") == 0) {
            if (parse_port(argv[++i], port) < 0)
                return 2;
        } else
            return usage(args);
    }
    *first_word = i;
    return 0;
}

char *join_words(char **words, int count, size_t *len)
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

void print_bytes_repr(const unsigned char *p, size_t n)
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

size_t bytes_strip(unsigned char **p, size_t n)
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

void bytes_upper(unsigned char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (p[i] >= 'a' && p[i] <= 'z')
            p[i] = (unsigned char)(p[i] - 'a' + 'A');
}

void addr_text(const usock_addr *a, char *buf)
{
    if (usock_addr_format(a, buf, USOCK_ADDRSTRLEN) < 0)
        strcpy(buf, "?");
}

int open_socket(usock **s, const char *host, int port, int type, double timeout, usock_addr *addr,
                char *where)
{
    usock_addrinfo *ai = NULL;
    const char *what = "socket";
    int r;

    *s = NULL;
    r = usock_getaddrinfo(host, port, 0, type, 0, 0, &ai);
    if (r < 0)
        return fail("getaddrinfo", host, r);
    addr_text(&ai->addr, where);
    if (addr != NULL)
        *addr = ai->addr;
    r = usock_socket(s, usock_addr_family(&ai->addr), type, 0);
    if (r == 0 && timeout >= 0) {
        what = "settimeout";
        r = usock_settimeout(*s, timeout);
    }
    usock_freeaddrinfo(ai);
    if (r < 0) {
        usock_close(*s);
        *s = NULL;
        return fail(what, where, r);
    }
    return 0;
}

int open_connection(usock **s, const char *host, int port, double timeout, char *where)
{
    usock_connect_opts o;
    usock_addr peer;
    int r;

    usock_connect_opts_init(&o);
    o.timeout = timeout;
    r = usock_create_connection_opts(s, host, port, &o);
    if (r < 0) {
        if (strcmp(o.where, "resolve") == 0)
            return fail("getaddrinfo", host, r);
        strcpy(where, o.where);
        return fail("connect", where, r);
    }
    if (usock_getpeername(*s, &peer) == 0)
        addr_text(&peer, where);
    else
        strcpy(where, o.where);
    return 0;
}

int open_server(usock **s, const char *host, int port, int af, int type, int backlog, char *where)
{
    usock_addrinfo *ai = NULL;
    usock_addr local;
    int r;

    *s = NULL;
    r = usock_getaddrinfo(host, port, af, type, 0, AI_PASSIVE, &ai);
    if (r < 0)
        return fail("getaddrinfo", host[0] ? host : "''", r);
    addr_text(&ai->addr, where);
    r = usock_create_server(s, &ai->addr, backlog, type == SOCK_DGRAM ? USOCK_CS_DGRAM : 0);
    usock_freeaddrinfo(ai);
    if (r < 0)
        return fail("bind", where, r); /* as Python's create_server words it */
    r = usock_getsockname(*s, &local);
    if (r < 0) {
        usock_close(*s);
        *s = NULL;
        return fail("getsockname", where, r);
    }
    addr_text(&local, where);
    printf("listening on %s\n", where);
    fflush(stdout);
    return 0;
}

int accept_client(usock *s, const char *where, usock **conn, char *who)
{
    usock_addr peer;
    int r;

    r = usock_accept(s, conn, &peer);
    if (r < 0)
        return fail("accept", where, r);
    addr_text(&peer, who);
    return 0;
}

void report_error(usock_server *server, const usock_addr *peer, int err, void *udata)
{
    char who[USOCK_ADDRSTRLEN];

    (void)server;
    (void)udata;
    addr_text(peer, who);
    fail("handle", who, err);
}

int open_usock_server(usock_server **server, const char *host, int port, usock_handler handler,
                      const usock_server_opts *opts, char *where)
{
    usock_addrinfo *ai = NULL;
    usock_addr local;
    const char *what = "server";
    int r;

    *server = NULL;
    r = usock_getaddrinfo(host, port, 0, opts->type, 0, AI_PASSIVE, &ai);
    if (r < 0)
        return fail("getaddrinfo", host[0] ? host : "''", r);
    addr_text(&ai->addr, where);
    r = usock_server_new(server, &ai->addr, handler, NULL, opts);
    usock_freeaddrinfo(ai);
    if (r == 0) {
        what = "getsockname";
        r = usock_server_address(*server, &local);
    }
    if (r < 0) {
        usock_server_close(*server);
        *server = NULL;
        return fail(what, where, r);
    }
    addr_text(&local, where);
    printf("listening on %s\n", where);
    fflush(stdout);
    return 0;
}

int serve_requests(usock_server *server, long count, const char *where)
{
    int r = 0;

    if (count < 0)
        r = usock_server_serve_forever(server, -1);
    for (; count > 0 && r == 0; count--)
        r = usock_server_handle_request(server);
    usock_server_close(server);
    return r < 0 ? fail("serve", where, r) : 0;
}

int urlopen_fail(const char *url, int rc, const usock_urlerror *err, usock_response *res)
{
    usock_response_close(res);
    if (err != NULL && err->detail[0] != '\0')
        fprintf(stderr, "%s: %s\n", prog, err->detail);
    else
        fail("urlopen", url, rc);
    return rc == USOCK_EHTTP_STATUS ? HTTP_ERROR_EXIT : 1;
}

/* ---- the pins page ------------------------------------------------------ */

static const int pins[] = {0, 2, 4, 5, 12, 13, 14, 15};

/* The seed's page; %s is the rows. */
static const char pins_html[] =
    "<!DOCTYPE html>\n"
    "<html>\n"
    "    <head> <title>ESP8266 Pins</title> </head>\n"
    "    <body> <h1>ESP8266 Pins</h1>\n"
    "        <table border=\"1\"> <tr><th>Pin</th><th>Value</th></tr> %s </table>\n"
    "    </body>\n"
    "</html>\n";

/* Pin(n).value(): the exported GPIO's value file, else the simulated 0. */
static int pin_value(int pin)
{
    char path[64];
    FILE *f;
    int c;

    snprintf(path, sizeof path, "/sys/class/gpio/gpio%d/value", pin);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    c = fgetc(f);
    fclose(f);
    return c == '1';
}

int pins_page(char *page, size_t cap)
{
    char rows[512];
    size_t used = 0;
    size_t i;
    int n;

    rows[0] = '\0';
    for (i = 0; i < sizeof pins / sizeof pins[0]; i++) {
        n = snprintf(rows + used, sizeof rows - used, "%s<tr><td>Pin(%d)</td><td>%d</td></tr>",
                     i ? "\n" : "", pins[i], pin_value(pins[i]));
        if (n < 0 || (size_t)n >= sizeof rows - used)
            return USOCK_ENOSPC;
        used += (size_t)n;
    }
    n = snprintf(page, cap, pins_html, rows);
    if (n < 0 || (size_t)n >= cap)
        return USOCK_ENOSPC;
    return n;
}
