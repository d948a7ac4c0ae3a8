/* usock.c -- the usock command-line tool: resolve, connect, send, recv, echo, udp.
 *
 * The only code of the project that prints. It uses the public API only;
 * POSIX calls appear where the API has no say: stdin/stdout, files,
 * signals and the stdin thread of `connect`. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "usock.h"

#define BUF_SIZE 65536      /* big buffers keep bulk streaming fast */
#define DEFAULT_CHUNK 2048  /* the seed's f.read(2048) */
#define MAX_CHUNK (64L << 20)
#define UDP_TIMEOUT 5.0
#define MAX_EVENTS 256
#define HOSTPORT_LEN 1100   /* a host name (<= 1025) + brackets + ":65535" */

/* ---------------------------------------------------------------- usage */

static const char usage_main[] =
    "usage: usock COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "commands:\n"
    "  resolve HOST [PORT] [-4|-6] [--udp]        print the getaddrinfo answer\n"
    "  connect HOST PORT [-t SECONDS]             relay stdin and stdout over TCP\n"
    "  send HOST PORT FILE [--chunk BYTES] [-t SECONDS]  upload a file\n"
    "  recv [-b ADDR] -p PORT [-o FILE] [--once]  receive TCP uploads\n"
    "  echo [-b ADDR] -p PORT [--udp] [--upper]   TCP or UDP echo server\n"
    "  udp HOST PORT MESSAGE [-t SECONDS]         send a datagram, print the reply\n"
    "\n"
    "  usock --version          print the version\n"
    "  usock COMMAND --help     help on one command\n"
    "\n"
    "exit status: 0 success, 1 network or file error, 2 usage error\n";

static const char usage_resolve[] =
    "usage: usock resolve HOST [PORT] [-4|-6] [--udp]\n"
    "\n"
    "Resolves HOST (and PORT, default 0) with getaddrinfo and prints one line\n"
    "per entry: FAMILY TYPE PROTO CANONNAME-or-- ADDR:PORT\n"
    "\n"
    "  -4        IPv4 entries only\n"
    "  -6        IPv6 entries only\n"
    "  --udp     SOCK_DGRAM entries only\n";

static const char usage_connect[] =
    "usage: usock connect HOST PORT [-t SECONDS]\n"
    "\n"
    "Connects to HOST PORT (each address in turn), copies stdin to the\n"
    "socket and the socket to stdout until both sides have closed.\n"
    "\n"
    "  -t SECONDS   bound on connecting and on idle time\n";

static const char usage_send[] =
    "usage: usock send HOST PORT FILE [--chunk BYTES] [-t SECONDS]\n"
    "\n"
    "Connects to HOST PORT and uploads FILE in pieces, then closes.\n"
    "\n"
    "  --chunk BYTES   size of each piece (default 2048)\n"
    "  -t SECONDS      bound on connecting and on each piece\n";

static const char usage_recv[] =
    "usage: usock recv [-b ADDR] -p PORT [-o FILE] [--once]\n"
    "\n"
    "Accepts TCP connections one after another and writes what arrives\n"
    "to FILE (or stdout). Prints 'listening on ADDR:PORT' to stderr first.\n"
    "\n"
    "  -b ADDR   numeric IPv4 or IPv6 address to bind (default 0.0.0.0)\n"
    "  -p PORT   port to listen on (0: any free port)\n"
    "  -o FILE   write to FILE instead of stdout\n"
    "  --once    exit after the first connection ends\n";

static const char usage_echo[] =
    "usage: usock echo [-b ADDR] -p PORT [--udp] [--upper]\n"
    "\n"
    "Echo server: sends back every byte (TCP) or datagram (UDP) it gets.\n"
    "Prints 'listening on ADDR:PORT' to stderr first; stops on SIGINT/SIGTERM.\n"
    "\n"
    "  -b ADDR   numeric IPv4 or IPv6 address to bind (default 0.0.0.0)\n"
    "  -p PORT   port to listen on (0: any free port)\n"
    "  --udp     UDP instead of TCP\n"
    "  --upper   reply upper-cased (ASCII)\n";

static const char usage_udp[] =
    "usage: usock udp HOST PORT MESSAGE [-t SECONDS]\n"
    "\n"
    "Sends MESSAGE as one datagram and prints the reply's bytes.\n"
    "\n"
    "  -t SECONDS   how long to wait for the reply (default 5)\n";

/* ---------------------------------------------------------------- options */

struct opts {
    const char *cmd;
    int family;        /* -4 / -6, 0 for any */
    int udp, once, upper;
    double timeout;    /* -t; < 0 when not given */
    long chunk;        /* --chunk */
    const char *bind;  /* -b */
    const char *out;   /* -o */
    int port;          /* -p; < 0 when not given */
    char *pos[3];      /* positional arguments */
    int npos;
};

struct optdef {
    const char *name;
    char key;
    int has_arg;
};

static const struct optdef optdefs[] = {
    {"-4", '4', 0},      {"-6", '6', 0},     {"--udp", 'u', 0}, {"-t", 't', 1},
    {"--chunk", 'c', 1}, {"-b", 'b', 1},     {"-p", 'p', 1},    {"-o", 'o', 1},
    {"--once", 'O', 0},  {"--upper", 'U', 0}, {"-h", 'h', 0},   {"--help", 'h', 0},
};

struct command {
    const char *name;
    const char *keys;  /* the option keys it takes */
    int minpos, maxpos;
    int need_port;     /* servers need -p */
    const char *usage;
    int (*run)(struct opts *o);
};

/* Prints one line for a usage error and gives exit status 2. */
__attribute__((format(printf, 2, 3))) static int usage_error(const char *cmd,
                                                             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "usock: %s%s", cmd ? cmd : "", cmd ? ": " : "");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'usock %s%s--help')\n", cmd ? cmd : "", cmd ? " " : "");
    va_end(ap);
    return 2;
}

/* A port: 1 to 5 decimal digits, 0..65535. Returns it or -1. */
static int parse_port(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5 || strspn(s, "0123456789") != n)
        return -1;
    long v = strtol(s, NULL, 10);
    return v <= 65535 ? (int)v : -1;
}

static int parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || errno || !isfinite(v) || v <= 0 || v > 1e6)
        return -1;
    *out = v;
    return 0;
}

static int parse_chunk(const char *s, long *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 9 || strspn(s, "0123456789") != n)
        return -1;
    long v = strtol(s, NULL, 10);
    if (v < 1 || v > MAX_CHUNK)
        return -1;
    *out = v;
    return 0;
}

/* Stores one option's value; returns 0 or an exit status. */
static int apply_option(struct opts *o, char key, const char *name, const char *val)
{
    switch (key) {
    case '4': o->family = AF_INET; break;
    case '6': o->family = AF_INET6; break;
    case 'u': o->udp = 1; break;
    case 'O': o->once = 1; break;
    case 'U': o->upper = 1; break;
    case 'b': o->bind = val; break;
    case 'o': o->out = val; break;
    case 'p':
        if ((o->port = parse_port(val)) < 0)
            return usage_error(o->cmd, "bad port '%s' (a number from 0 to 65535)", val);
        break;
    case 't':
        if (parse_seconds(val, &o->timeout) < 0)
            return usage_error(o->cmd, "bad timeout '%s' (seconds > 0)", val);
        break;
    case 'c':
        if (parse_chunk(val, &o->chunk) < 0)
            return usage_error(o->cmd, "bad chunk size '%s' (1 to 67108864 bytes)", val);
        break;
    default:
        return usage_error(o->cmd, "unknown option '%s'", name);
    }
    return 0;
}

/* Finds an option of the command: "-p", "--chunk" or "--chunk=VALUE". */
static const struct optdef *find_option(const struct command *c, const char *arg,
                                        const char **inline_val)
{
    *inline_val = NULL;
    for (size_t i = 0; i < sizeof optdefs / sizeof optdefs[0]; i++) {
        const struct optdef *d = &optdefs[i];
        size_t n = strlen(d->name);
        if (strncmp(arg, d->name, n) != 0 || !strchr(c->keys, d->key))
            continue;
        if (arg[n] == '\0')
            return d;
        if (arg[n] == '=' && d->has_arg && d->name[1] == '-') {
            *inline_val = arg + n + 1;
            return d;
        }
    }
    return NULL;
}

/* Parses argv (after the command's name). Returns -1 to go on, or the exit
 * status: 0 after printing help, 2 after a usage error. */
static int parse_args(const struct command *c, struct opts *o, int argc, char **argv)
{
    int only_pos = 0;
    for (int i = 0; i < argc; i++) {
        char *arg = argv[i];
        if (!only_pos && strcmp(arg, "--") == 0) {
            only_pos = 1;
        } else if (!only_pos && arg[0] == '-' && arg[1] != '\0') {
            const char *val;
            const struct optdef *d = find_option(c, arg, &val);
            if (!d)
                return usage_error(c->name, "unknown option '%s'", arg);
            if (d->key == 'h') {
                fputs(c->usage, stdout);
                return 0;
            }
            if (d->has_arg && !val) {
                if (i + 1 >= argc)
                    return usage_error(c->name, "option '%s' needs an argument", arg);
                val = argv[++i];
            }
            int rc = apply_option(o, d->key, arg, val);
            if (rc)
                return rc;
        } else if (o->npos < c->maxpos) {
            o->pos[o->npos++] = arg;
        } else {
            return usage_error(c->name, "unexpected argument '%s'", arg);
        }
    }
    if (o->npos < c->minpos)
        return usage_error(c->name, "%s", "missing argument");
    if (c->need_port && o->port < 0)
        return usage_error(c->name, "%s", "missing -p PORT");
    return -1;
}

/* ---------------------------------------------------------------- helpers */

/* Prints "usock: WHAT TARGET: message" and gives exit status 1. */
static int fail(const char *what, const char *target, int code)
{
    fprintf(stderr, "usock: %s %s: %s\n", what, target, usock_strerror(code));
    return 1;
}

/* "host:port", or "[v6]:port" for an IPv6 literal, for messages. */
static void hostport(char *buf, size_t cap, const char *host, int port)
{
    snprintf(buf, cap, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ASCII upper-casing, as Python's bytes.upper(). */
static void upcase(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)(p[i] - 'a') < 26)
            p[i] = (char)(p[i] - 32);
}

/* Python's socket.create_connection: tries each address in turn, returns
 * the first that connects or the last error. timeout < 0: none. */
static int create_connection(const char *host, int port, double timeout, usock **out)
{
    usock_addrinfo *res;
    int rc = usock_getaddrinfo(host, port, 0, SOCK_STREAM, 0, 0, &res);
    if (rc < 0)
        return rc;
    rc = USOCK_EADDRNOTAVAIL;
    for (usock_addrinfo *ai = res; ai; ai = ai->next) {
        usock *s;
        rc = usock_socket(&s, ai->family, ai->type, ai->proto);
        if (rc < 0)
            continue;
        if (timeout > 0)
            usock_settimeout(s, timeout);
        rc = usock_connect(s, &ai->addr);
        if (rc == 0) {
            *out = s;
            break;
        }
        usock_close(s);
    }
    usock_freeaddrinfo(res);
    return rc;
}

/* A connected TCP pair on 127.0.0.1: a stand-in for pipe() that
 * usock_poll can watch. */
static int loopback_pair(usock **a, usock **b)
{
    usock *l = NULL, *x = NULL, *y = NULL;
    usock_addr addr, peer, local;
    int rc;
    if ((rc = usock_socket(&l, AF_INET, SOCK_STREAM, 0)) < 0)
        return rc;
    if ((rc = usock_addr_from_ip(&addr, "127.0.0.1", 0)) < 0 ||
        (rc = usock_bind(l, &addr)) < 0 || (rc = usock_listen(l, 1)) < 0 ||
        (rc = usock_getsockname(l, &addr)) < 0 ||
        (rc = usock_socket(&y, AF_INET, SOCK_STREAM, 0)) < 0 ||
        (rc = usock_connect(y, &addr)) < 0 || (rc = usock_accept(l, &x, &peer)) < 0 ||
        (rc = usock_getsockname(y, &local)) < 0)
        goto out;
    /* Another local process could have connected first. */
    if (usock_addr_port(&peer) != usock_addr_port(&local)) {
        rc = USOCK_ECONNABORTED;
        goto out;
    }
    *a = x;
    *b = y;
    x = y = NULL;
out:
    usock_close(x);
    usock_close(y);
    usock_close(l);
    return rc;
}

/* ---------------------------------------------------------------- resolve */

static const char *family_name(int af, char *num)
{
    if (af == AF_INET)
        return "AF_INET";
    if (af == AF_INET6)
        return "AF_INET6";
    sprintf(num, "%d", af);
    return num;
}

static const char *type_name(int type, char *num)
{
    if (type == SOCK_STREAM)
        return "SOCK_STREAM";
    if (type == SOCK_DGRAM)
        return "SOCK_DGRAM";
    if (type == SOCK_RAW)
        return "SOCK_RAW";
    sprintf(num, "%d", type);
    return num;
}

static const char *proto_name(int proto, char *num)
{
    if (proto == IPPROTO_TCP)
        return "IPPROTO_TCP";
    if (proto == IPPROTO_UDP)
        return "IPPROTO_UDP";
    sprintf(num, "%d", proto);
    return num;
}

static int run_resolve(struct opts *o)
{
    const char *host = o->pos[0];
    int port = 0;
    if (o->npos > 1 && (port = parse_port(o->pos[1])) < 0)
        return usage_error(o->cmd, "bad port '%s' (a number from 0 to 65535)", o->pos[1]);
    usock_addrinfo *res;
    int rc = usock_getaddrinfo(host, port, o->family, o->udp ? SOCK_DGRAM : 0, 0,
                               AI_CANONNAME, &res);
    if (rc < 0)
        return fail("resolve", host, rc);
    for (usock_addrinfo *ai = res; ai; ai = ai->next) {
        char addr[USOCK_ADDRSTRLEN], n1[16], n2[16], n3[16];
        if (usock_addr_format(&ai->addr, addr, sizeof addr) < 0)
            strcpy(addr, "?");
        printf("%s %s %s %s %s\n", family_name(ai->family, n1), type_name(ai->type, n2),
               proto_name(ai->proto, n3), ai->canonname[0] ? ai->canonname : "--", addr);
    }
    usock_freeaddrinfo(res);
    return fflush(stdout) == 0 ? 0 : fail("resolve", "stdout", -errno);
}

/* ---------------------------------------------------------------- connect */

/* stdin is not a socket, so a thread reads it and feeds one end of a
 * loopback pair; the main thread polls the other end beside the peer. */
static void *stdin_pump(void *arg)
{
    usock *w = arg;
    char *buf = malloc(BUF_SIZE);
    for (;;) {
        ssize_t n = buf ? read(0, buf, BUF_SIZE) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || usock_sendall(w, buf, (size_t)n) < 0)
            break;
    }
    free(buf);
    usock_close(w); /* the main thread sees EOF */
    return NULL;
}

struct relay {
    usock_poll *poll;
    usock *peer, *in;      /* the connection; the stdin pair's read end */
    int peer_ev, in_ev;    /* what each is registered for (0: not) */
    int in_eof, peer_eof, shut;
    char up[BUF_SIZE];     /* stdin bytes not yet sent */
    size_t uoff, ulen;
    char down[BUF_SIZE];
};

/* Registers, modifies or unregisters s so that it is watched for ev. */
static int watch(usock_poll *p, usock *s, int *cur, int ev)
{
    int rc = 0;
    if (ev == *cur)
        return 0;
    if (*cur == 0)
        rc = usock_poll_register(p, s, ev, NULL);
    else if (ev == 0)
        rc = usock_poll_unregister(p, s);
    else
        rc = usock_poll_modify(p, s, ev);
    if (rc == 0)
        *cur = ev;
    return rc;
}

static int relay_watch(struct relay *r)
{
    int in = (r->ulen == 0 && !r->in_eof) ? USOCK_POLLIN : 0;
    int peer = (r->peer_eof ? 0 : USOCK_POLLIN) | (r->ulen ? USOCK_POLLOUT : 0);
    int rc = watch(r->poll, r->in, &r->in_ev, in);
    return rc < 0 ? rc : watch(r->poll, r->peer, &r->peer_ev, peer);
}

/* Sends what stdin gave; once stdin ended and all is sent, half-closes. */
static int relay_up(struct relay *r)
{
    if (r->ulen) {
        ssize_t n = usock_send(r->peer, r->up + r->uoff, r->ulen - r->uoff);
        if (n == USOCK_EAGAIN || n == USOCK_EINTR)
            return 0;
        if (n < 0)
            return (int)n;
        r->uoff += (size_t)n;
        if (r->uoff == r->ulen)
            r->uoff = r->ulen = 0;
    }
    if (r->in_eof && r->ulen == 0 && !r->shut) {
        r->shut = 1;
        int rc = usock_shutdown(r->peer, SHUT_WR);
        if (rc < 0 && rc != USOCK_ENOTCONN)
            return rc;
    }
    return 0;
}

static int relay_stdin(struct relay *r)
{
    ssize_t n = usock_recv(r->in, r->up, sizeof r->up);
    if (n == USOCK_EAGAIN || n == USOCK_EINTR)
        return 0;
    if (n <= 0)
        r->in_eof = 1; /* the pump closed its end: stdin ended */
    else
        r->ulen = (size_t)n;
    return relay_up(r);
}

/* One read from the peer to stdout. Returns 0 or a negative code; a code
 * of 1 means stdout failed (its message is printed here). */
static int relay_down(struct relay *r)
{
    ssize_t n = usock_recv(r->peer, r->down, sizeof r->down);
    if (n == USOCK_EAGAIN || n == USOCK_EINTR)
        return 0;
    if (n < 0)
        return (int)n;
    if (n == 0) {
        r->peer_eof = 1;
        return 0;
    }
    int rc = write_all(1, r->down, (size_t)n);
    if (rc < 0) {
        fprintf(stderr, "usock: connect stdout: %s\n", usock_strerror(rc));
        return 1;
    }
    return 0;
}

/* Relays until both directions are closed; returns 0 or an error code
 * (1: already reported). */
static int relay_loop(struct relay *r, int idle_ms)
{
    int rc;
    while (!(r->in_eof && r->shut && r->peer_eof)) {
        if ((rc = relay_watch(r)) < 0)
            return rc;
        usock_event ev[2];
        int n = usock_poll_wait(r->poll, idle_ms, ev, 2);
        if (n < 0)
            return n;
        if (n == 0)
            return USOCK_ETIMEDOUT;
        for (int i = 0; i < n; i++) {
            /* ERR/HUP go to whichever side is watched: its call reports it. */
            int re = ev[i].revents, bad = USOCK_POLLERR | USOCK_POLLHUP;
            rc = 0;
            if (ev[i].sock == r->in) {
                if ((rc = relay_stdin(r)) != 0)
                    return rc;
                continue;
            }
            if ((r->peer_ev & USOCK_POLLOUT) && (re & (USOCK_POLLOUT | bad)))
                rc = relay_up(r);
            if (rc == 0 && (r->peer_ev & USOCK_POLLIN) && (re & (USOCK_POLLIN | bad)))
                rc = relay_down(r);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int run_connect(struct opts *o)
{
    char target[HOSTPORT_LEN];
    int port = parse_port(o->pos[1]);
    if (port < 0)
        return usage_error(o->cmd, "bad port '%s' (a number from 0 to 65535)", o->pos[1]);
    hostport(target, sizeof target, o->pos[0], port);

    struct relay *r = calloc(1, sizeof *r);
    usock *w = NULL;
    pthread_t tid;
    int rc = r ? create_connection(o->pos[0], port, o->timeout, &r->peer) : USOCK_ENOMEM;
    if (rc < 0)
        goto out;
    if ((rc = usock_settimeout(r->peer, 0)) < 0 || (rc = usock_poll_new(&r->poll)) < 0 ||
        (rc = loopback_pair(&r->in, &w)) < 0 || (rc = usock_settimeout(r->in, 0)) < 0)
        goto out;
    if ((rc = -pthread_create(&tid, NULL, stdin_pump, w)) < 0)
        goto out;
    w = NULL; /* the pump owns it now */
    pthread_detach(tid);
    rc = relay_loop(r, o->timeout > 0 ? (int)ceil(o->timeout * 1000) : -1);
out:
    usock_close(w);
    if (r) {
        /* Closing the pair's read end also stops a pump still sending. */
        usock_close(r->in);
        usock_close(r->peer);
        usock_poll_free(r->poll);
    }
    free(r);
    if (rc == 1)
        return 1;
    return rc < 0 ? fail("connect", target, rc) : 0;
}

/* ---------------------------------------------------------------- send */

static int run_send(struct opts *o)
{
    char target[HOSTPORT_LEN];
    int port = parse_port(o->pos[1]);
    if (port < 0)
        return usage_error(o->cmd, "bad port '%s' (a number from 0 to 65535)", o->pos[1]);
    hostport(target, sizeof target, o->pos[0], port);

    FILE *f = fopen(o->pos[2], "rb");
    if (!f)
        return fail("send", o->pos[2], -errno);
    char *buf = malloc((size_t)o->chunk);
    usock *s = NULL;
    int rc = buf ? create_connection(o->pos[0], port, o->timeout, &s) : USOCK_ENOMEM;
    size_t n;
    /* The seed's loop: read a piece, send it, until the file ends. */
    while (rc == 0 && (n = fread(buf, 1, (size_t)o->chunk, f)) > 0)
        rc = usock_sendall(s, buf, n);
    int file_err = (rc == 0 && ferror(f)) ? -errno : 0;
    int close_rc = usock_close(s);
    if (rc == 0)
        rc = close_rc;
    fclose(f);
    free(buf);
    if (file_err)
        return fail("send", o->pos[2], file_err);
    return rc < 0 ? fail("send", target, rc) : 0;
}

/* ---------------------------------------------------------------- servers */

/* SIGINT/SIGTERM set the flag and write a byte into the wake pair, which
 * the server's poll watches: no polling interval, no lost signal. */
static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t wake_fd = -1;

static void on_signal(int sig)
{
    int saved = errno;
    stop_signal = sig;
    if (wake_fd >= 0)
        (void)send(wake_fd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    errno = saved;
}

struct server {
    const char *cmd;
    usock_poll *poll;
    usock *sock;            /* the listener, or the UDP socket */
    usock *wake_r, *wake_w; /* the self-pipe */
};

static void server_close(struct server *sv)
{
    /* The handler stays: a second signal during cleanup only sets the flag. */
    wake_fd = -1;
    usock_close(sv->wake_r);
    usock_close(sv->wake_w);
    usock_close(sv->sock);
    usock_poll_free(sv->poll);
}

static int install_signals(struct server *sv)
{
    int rc = loopback_pair(&sv->wake_r, &sv->wake_w);
    if (rc < 0 || (rc = usock_settimeout(sv->wake_r, 0)) < 0 ||
        (rc = usock_poll_register(sv->poll, sv->wake_r, USOCK_POLLIN, NULL)) < 0)
        return rc;
    wake_fd = usock_fileno(sv->wake_w);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return 0;
}

static void drain_wake(struct server *sv)
{
    char buf[64];
    (void)usock_recv(sv->wake_r, buf, sizeof buf);
}

/* Binds, listens (TCP), registers and prints "listening on ADDR:PORT".
 * Returns 0 or an exit status (the message printed). */
static int server_open(struct server *sv, struct opts *o, int type)
{
    const char *ip = o->bind ? o->bind : "0.0.0.0";
    usock_addr a;
    char text[USOCK_ADDRSTRLEN];
    memset(sv, 0, sizeof *sv);
    sv->cmd = o->cmd;
    if (usock_addr_from_ip(&a, ip, o->port) < 0)
        return usage_error(o->cmd, "bad address '%s' (a numeric IPv4 or IPv6 address)", ip);
    hostport(text, sizeof text, ip, o->port);
    int one = 1, rc = usock_socket(&sv->sock, usock_addr_family(&a), type, 0);
    if (rc < 0)
        return fail("socket", text, rc);
    if (type == SOCK_STREAM)
        usock_setsockopt(sv->sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if ((rc = usock_bind(sv->sock, &a)) < 0)
        return fail("bind", text, rc);
    if ((type == SOCK_STREAM && (rc = usock_listen(sv->sock, -1)) < 0) ||
        (rc = usock_settimeout(sv->sock, 0)) < 0 || (rc = usock_poll_new(&sv->poll)) < 0 ||
        (rc = usock_poll_register(sv->poll, sv->sock, USOCK_POLLIN, NULL)) < 0 ||
        (rc = install_signals(sv)) < 0 || (rc = usock_getsockname(sv->sock, &a)) < 0 ||
        (rc = usock_addr_format(&a, text, sizeof text)) < 0)
        return fail("listen", text, rc);
    fprintf(stderr, "listening on %s\n", text);
    return 0;
}

/* ---------------------------------------------------------------- recv */

struct receiver {
    struct server sv;
    FILE *out;
    const char *out_name;
    usock *conn;       /* the connection being received, or NULL */
    int once, done;
    char buf[BUF_SIZE];
};

/* Takes one connection and stops watching the listener meanwhile: the
 * connections are written one after another. */
static int recv_accept(struct receiver *rv)
{
    int rc = usock_accept(rv->sv.sock, &rv->conn, NULL);
    if (rc < 0)
        return 0; /* EAGAIN, or a connection that went away: wait again */
    if ((rc = usock_settimeout(rv->conn, 0)) < 0 ||
        (rc = usock_poll_unregister(rv->sv.poll, rv->sv.sock)) < 0 ||
        (rc = usock_poll_register(rv->sv.poll, rv->conn, USOCK_POLLIN, NULL)) < 0)
        return fail("recv", "accept", rc);
    return 0;
}

static int recv_end(struct receiver *rv)
{
    usock_close(rv->conn);
    rv->conn = NULL;
    if (fflush(rv->out) != 0)
        return fail("recv", rv->out_name, -errno);
    if (rv->once) {
        rv->done = 1;
        return 0;
    }
    int rc = usock_poll_register(rv->sv.poll, rv->sv.sock, USOCK_POLLIN, NULL);
    return rc < 0 ? fail("recv", "listen", rc) : 0;
}

static int recv_data(struct receiver *rv)
{
    ssize_t n = usock_recv(rv->conn, rv->buf, sizeof rv->buf);
    if (n == USOCK_EAGAIN || n == USOCK_EINTR)
        return 0;
    if (n < 0) {
        /* A reset ends this upload, not the server. */
        fprintf(stderr, "usock: recv: %s\n", usock_strerror((int)n));
        return recv_end(rv);
    }
    if (n == 0)
        return recv_end(rv);
    if (fwrite(rv->buf, 1, (size_t)n, rv->out) != (size_t)n ||
        (rv->out == stdout && fflush(stdout) != 0))
        return fail("recv", rv->out_name, -errno);
    return 0;
}

static int recv_loop(struct receiver *rv)
{
    int rc = 0;
    while (rc == 0 && !rv->done && !stop_signal) {
        usock_event ev[4];
        int n = usock_poll_wait(rv->sv.poll, -1, ev, 4);
        if (n < 0)
            return fail("recv", "poll", n);
        for (int i = 0; i < n && rc == 0; i++) {
            if (ev[i].sock == rv->sv.wake_r)
                drain_wake(&rv->sv);
            else if (ev[i].sock == rv->sv.sock)
                rc = recv_accept(rv);
            else if (ev[i].sock == rv->conn)
                rc = recv_data(rv);
        }
    }
    return rc;
}

static int run_recv(struct opts *o)
{
    struct receiver *rv = calloc(1, sizeof *rv);
    if (!rv)
        return fail("recv", "memory", USOCK_ENOMEM);
    rv->once = o->once;
    rv->out = stdout;
    rv->out_name = o->out ? o->out : "stdout";
    int rc = 0;
    if (o->out && !(rv->out = fopen(o->out, "wb")))
        rc = fail("recv", o->out, -errno);
    if (rc == 0 && (rc = server_open(&rv->sv, o, SOCK_STREAM)) == 0)
        rc = recv_loop(rv);
    usock_close(rv->conn);
    server_close(&rv->sv);
    if (rv->out && rv->out != stdout && fclose(rv->out) != 0 && rc == 0)
        rc = fail("recv", rv->out_name, -errno);
    free(rv);
    return rc;
}

/* ---------------------------------------------------------------- echo */

/* One client of the TCP echo server. Bytes it sent that could not be sent
 * back yet wait in pend; meanwhile the client is not read, so that a fast
 * sender cannot grow them: pend never holds more than one read. */
struct client {
    usock *s;
    char *pend;          /* BUF_SIZE bytes, allocated at the first short send */
    size_t off, len;     /* pending bytes are pend[off .. len) */
    struct client *prev, *next;
};

struct echo {
    struct server sv;
    struct client *clients;
    int upper;
    int paused;          /* out of descriptors: not accepting for now */
    char buf[BUF_SIZE];  /* one read buffer for every client */
};

static void client_close(struct echo *e, struct client *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        e->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    usock_close(c->s); /* also unregisters it */
    free(c->pend);
    free(c);
    if (e->paused && usock_poll_register(e->sv.poll, e->sv.sock, USOCK_POLLIN, NULL) == 0)
        e->paused = 0;
}

static void client_add(struct echo *e, usock *s)
{
    /* Replies go out at once: Nagle would hold a small echo back until
     * the client acknowledges the previous one. */
    int one = 1;
    usock_setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct client *c = calloc(1, sizeof *c);
    if (!c || usock_settimeout(s, 0) < 0 ||
        usock_poll_register(e->sv.poll, s, USOCK_POLLIN, c) < 0) {
        free(c);
        usock_close(s);
        return;
    }
    c->s = s;
    c->next = e->clients;
    if (c->next)
        c->next->prev = c;
    e->clients = c;
}

static void echo_accept(struct echo *e)
{
    for (int i = 0; i < 64; i++) {
        usock *s;
        int rc = usock_accept(e->sv.sock, &s, NULL);
        if (rc == USOCK_EAGAIN)
            return;
        if (rc == USOCK_EMFILE || rc == USOCK_ENFILE || rc == USOCK_ENOBUFS ||
            rc == USOCK_ENOMEM) {
            /* The listener would stay readable: rest it until a client leaves. */
            if (usock_poll_unregister(e->sv.poll, e->sv.sock) == 0)
                e->paused = 1;
            return;
        }
        if (rc == 0)
            client_add(e, s);
    }
}

/* Sends back n bytes of data; what does not fit now waits in pend while
 * the client is watched for POLLOUT only. */
static void echo_send(struct echo *e, struct client *c, const char *data, size_t n)
{
    ssize_t w = usock_send(c->s, data, n);
    if (w == USOCK_EAGAIN || w == USOCK_EINTR)
        w = 0;
    if (w < 0) {
        client_close(e, c);
        return;
    }
    if ((size_t)w == n)
        return;
    if (!c->pend && !(c->pend = malloc(BUF_SIZE))) {
        client_close(e, c);
        return;
    }
    memcpy(c->pend, data + w, n - (size_t)w);
    c->off = 0;
    c->len = n - (size_t)w;
    if (usock_poll_modify(e->sv.poll, c->s, USOCK_POLLOUT) < 0)
        client_close(e, c);
}

static void echo_flush(struct echo *e, struct client *c)
{
    ssize_t w = usock_send(c->s, c->pend + c->off, c->len - c->off);
    if (w == USOCK_EAGAIN || w == USOCK_EINTR)
        return;
    if (w < 0) {
        client_close(e, c);
        return;
    }
    c->off += (size_t)w;
    if (c->off < c->len)
        return;
    c->off = c->len = 0;
    if (usock_poll_modify(e->sv.poll, c->s, USOCK_POLLIN) < 0)
        client_close(e, c);
}

/* Per message: one recv and one send. A client closes only once all it
 * sent went back, as it is not read while bytes are pending. */
static void echo_read(struct echo *e, struct client *c)
{
    ssize_t n = usock_recv(c->s, e->buf, sizeof e->buf);
    if (n == USOCK_EAGAIN || n == USOCK_EINTR)
        return;
    if (n <= 0) {
        client_close(e, c);
        return;
    }
    if (e->upper)
        upcase(e->buf, (size_t)n);
    echo_send(e, c, e->buf, (size_t)n);
}

static void echo_udp(struct echo *e)
{
    usock_addr from;
    ssize_t n = usock_recvfrom(e->sv.sock, e->buf, sizeof e->buf, &from);
    if (n < 0)
        return;
    if (e->upper)
        upcase(e->buf, (size_t)n);
    /* UDP may drop: a reply that would block is lost, as on the wire. */
    (void)usock_sendto(e->sv.sock, e->buf, (size_t)n, &from);
}

static int echo_loop(struct echo *e, int udp)
{
    usock_event ev[MAX_EVENTS];
    while (!stop_signal) {
        int n = usock_poll_wait(e->sv.poll, -1, ev, MAX_EVENTS);
        if (n < 0)
            return fail("echo", "poll", n);
        for (int i = 0; i < n; i++) {
            struct client *c = ev[i].udata;
            if (ev[i].sock == e->sv.wake_r)
                drain_wake(&e->sv);
            else if (ev[i].sock == e->sv.sock && udp)
                echo_udp(e);
            else if (ev[i].sock == e->sv.sock)
                echo_accept(e);
            else if (c->len)
                echo_flush(e, c);
            else
                echo_read(e, c);
        }
    }
    return 0;
}

static int run_echo(struct opts *o)
{
    struct echo *e = calloc(1, sizeof *e);
    if (!e)
        return fail("echo", "memory", USOCK_ENOMEM);
    e->upper = o->upper;
    int rc = server_open(&e->sv, o, o->udp ? SOCK_DGRAM : SOCK_STREAM);
    if (rc == 0)
        rc = echo_loop(e, o->udp);
    while (e->clients)
        client_close(e, e->clients);
    server_close(&e->sv);
    free(e);
    return rc;
}

/* ---------------------------------------------------------------- udp */

static int run_udp(struct opts *o)
{
    char target[HOSTPORT_LEN];
    int port = parse_port(o->pos[1]);
    if (port < 0)
        return usage_error(o->cmd, "bad port '%s' (a number from 0 to 65535)", o->pos[1]);
    hostport(target, sizeof target, o->pos[0], port);

    usock_addrinfo *res = NULL;
    usock *s = NULL;
    char *buf = malloc(BUF_SIZE);
    ssize_t n = buf ? usock_getaddrinfo(o->pos[0], port, 0, SOCK_DGRAM, 0, 0, &res) : USOCK_ENOMEM;
    /* As the seed: the first address, sendto, then recv without connect. */
    if (n == 0)
        n = usock_socket(&s, res->family, SOCK_DGRAM, 0);
    if (n == 0)
        n = usock_settimeout(s, o->timeout > 0 ? o->timeout : UDP_TIMEOUT);
    if (n == 0)
        n = usock_sendto(s, o->pos[2], strlen(o->pos[2]), &res->addr);
    if (n >= 0)
        n = usock_recv(s, buf, BUF_SIZE);
    int rc = n < 0 ? fail("udp", target, (int)n) : 0;
    if (n >= 0 && (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n || fflush(stdout) != 0))
        rc = fail("udp", "stdout", -errno);
    usock_close(s);
    usock_freeaddrinfo(res);
    free(buf);
    return rc;
}

/* ---------------------------------------------------------------- main */

static const struct command commands[] = {
    {"resolve", "46uh", 1, 2, 0, usage_resolve, run_resolve},
    {"connect", "th", 2, 2, 0, usage_connect, run_connect},
    {"send", "cth", 3, 3, 0, usage_send, run_send},
    {"recv", "bpoOh", 0, 0, 1, usage_recv, run_recv},
    {"echo", "bpuUh", 0, 0, 1, usage_echo, run_echo},
    {"udp", "th", 3, 3, 0, usage_udp, run_udp},
};

int main(int argc, char **argv)
{
    /* Writes to a closed stdout or socket become errors, not deaths. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2)
        return usage_error(NULL, "%s", "missing command");
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0) {
        printf("usock %s\n", USOCK_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const struct command *c = &commands[i];
        if (strcmp(name, c->name) != 0)
            continue;
        struct opts o = {.cmd = c->name, .timeout = -1, .chunk = DEFAULT_CHUNK, .port = -1};
        int rc = parse_args(c, &o, argc - 2, argv + 2);
        return rc >= 0 ? rc : c->run(&o);
    }
    return usage_error(NULL, "unknown command '%s'", name);
}
