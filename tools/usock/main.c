/* main.c -- the usock command-line tool: dispatch, the main usage, the
 * option parser every command shares, and the helpers of cli.h.
 *
 * A command is one file (or one file per family of commands) that defines
 * a struct command; it is listed in commands[] below. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define DEFAULT_CHUNK 2048  /* the seed's f.read(2048) */
#define MAX_CHUNK (64L << 20)

static const struct command *const commands[] = {
    &cmd_resolve, &cmd_connect, &cmd_send, &cmd_recv, &cmd_echo, &cmd_udp, &cmd_serve, &cmd_get,
};

static const char usage_main[] =
    "usage: usock COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "commands:\n"
    "  resolve HOST [PORT] [-4|-6] [--udp]        print the getaddrinfo answer\n"
    "  connect HOST PORT | --unix PATH [-t SECONDS]\n"
    "                                        relay stdin and stdout over a stream\n"
    "  send HOST PORT FILE [--chunk BYTES] [-t SECONDS]\n"
    "                                        upload a file\n"
    "  recv [-b ADDR] -p PORT [-o FILE | -O DIR] [-t SECONDS] [--once]\n"
    "                                        receive TCP uploads\n"
    "  echo [-b ADDR] -p PORT | --unix PATH [--udp] [--upper]\n"
    "       [--mode poll|sequential|threading|forking|pool] [--workers N]\n"
    "                                        TCP, UDP or Unix echo server\n"
    "  udp HOST PORT MESSAGE [-t SECONDS]    send a datagram, print the reply\n"
    "  serve [DIR] [-b ADDR] [-p PORT] [-w WORKERS] [-q] [--no-status] [--log FILE]\n"
    "        [--tls-cert FILE --tls-key FILE]\n"
    "                                        HTTP/1.1 server of the files in DIR\n"
    "  get URL... [-o FILE] [-O] [-i] [-I] [-u USER:PASS] [-H 'Name: value']... [-L] ...\n"
    "                                        fetch URLs as curl does\n"
    "\n"
    "  usock --version          print the version\n"
    "  usock COMMAND --help     help on one command\n"
    "\n"
    "exit status: 0 success, 1 network or file error, 2 usage error\n";

/* ---------------------------------------------------------------- options */

struct optdef {
    const char *name;
    char key;
    int has_arg;
};

static const struct optdef optdefs[] = {
    {"-4", '4', 0},      {"-6", '6', 0},     {"--udp", 'u', 0}, {"-t", 't', 1},
    {"--chunk", 'c', 1}, {"-b", 'b', 1},     {"-p", 'p', 1},    {"-o", 'o', 1},
    {"--once", 'O', 0},  {"--upper", 'U', 0}, {"-h", 'h', 0},   {"--help", 'h', 0},
    {"-O", 'D', 1},      {"--mode", 'm', 1}, {"--workers", 'w', 1}, {"--unix", 'x', 1},
    {"-w", 'W', 1},      {"-q", 'q', 0},     {"--no-status", 'S', 0}, {"--log", 'L', 1},
    {"--tls-cert", 'C', 1}, {"--tls-key", 'K', 1},
};

static const struct {
    const char *name;
    int mode;
} modes[] = {
    {"poll", CLI_MODE_POLL},
    {"sequential", USOCK_SERVER_SEQUENTIAL},
    {"threading", USOCK_SERVER_THREADING},
    {"forking", USOCK_SERVER_FORKING},
    {"pool", USOCK_SERVER_POOL},
};

#define MAX_WORKERS 1024

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "usock: %s%s", cmd ? cmd : "", cmd ? ": " : "");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'usock %s%s--help')\n", cmd ? cmd : "", cmd ? " " : "");
    va_end(ap);
    return 2;
}

int cli_parse_port(const char *s)
{
    int port = usock_parse_port(s);
    return port >= 0 ? port : -1;
}

int cli_bad_port(const char *cmd, const char *text)
{
    return cli_usage_error(cmd, "bad port '%s' (a number from 0 to 65535)", text);
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
        if ((o->port = cli_parse_port(val)) < 0)
            return cli_bad_port(o->cmd, val);
        break;
    case 't':
        if (parse_seconds(val, &o->timeout) < 0)
            return cli_usage_error(o->cmd, "bad timeout '%s' (seconds > 0)", val);
        break;
    case 'D': o->dir = val; break;
    case 'q': o->quiet = 1; break;
    case 'S': o->no_status = 1; break;
    case 'L': o->log = val; break;
    case 'C': o->tls_cert = val; break;
    case 'K': o->tls_key = val; break;
    case 'x':
        if (*val == '\0')
            return cli_usage_error(o->cmd, "%s", "empty --unix PATH");
        o->unix_path = val;
        break;
    case 'm':
        for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
            if (strcmp(val, modes[i].name) == 0) {
                o->mode = modes[i].mode;
                return 0;
            }
        return cli_usage_error(o->cmd,
                               "bad mode '%s' (poll, sequential, threading, forking or pool)",
                               val);
    case 'w': /* echo's --workers */
    case 'W': { /* serve's -w */
        size_t n = strlen(val);
        long v = (n > 0 && n <= 4 && strspn(val, "0123456789") == n) ? strtol(val, NULL, 10) : 0;
        if (v < 1 || v > MAX_WORKERS)
            return cli_usage_error(o->cmd, "bad workers '%s' (a number from 1 to %d)", val,
                                   MAX_WORKERS);
        o->workers = (int)v;
        break;
    }
    case 'c':
        if (parse_chunk(val, &o->chunk) < 0)
            return cli_usage_error(o->cmd, "bad chunk size '%s' (1 to 67108864 bytes)", val);
        break;
    default:
        return cli_usage_error(o->cmd, "unknown option '%s'", name);
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
                return cli_usage_error(c->name, "unknown option '%s'", arg);
            if (d->key == 'h') {
                fputs(c->usage, stdout);
                return 0;
            }
            if (d->has_arg && !val) {
                if (i + 1 >= argc)
                    return cli_usage_error(c->name, "option '%s' needs an argument", arg);
                val = argv[++i];
            }
            int rc = apply_option(o, d->key, arg, val);
            if (rc)
                return rc;
        } else if (o->npos < c->maxpos) {
            o->pos[o->npos++] = arg;
        } else {
            return cli_usage_error(c->name, "unexpected argument '%s'", arg);
        }
    }
    if (o->npos < c->minpos)
        return cli_usage_error(c->name, "%s", "missing argument");
    if (o->unix_path && (o->port >= 0 || o->bind))
        return cli_usage_error(c->name, "%s", "--unix PATH and -b/-p exclude each other");
    if (c->need_port && o->port < 0 && !o->unix_path)
        return cli_usage_error(c->name, "%s", "missing -p PORT");
    return -1;
}

/* ---------------------------------------------------------------- helpers */

int cli_fail(const char *what, const char *target, int code)
{
    fprintf(stderr, "usock: %s %s: %s\n", what, target, usock_strerror(code));
    return 1;
}

void cli_hostport(char *buf, size_t cap, const char *host, int port)
{
    snprintf(buf, cap, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

int cli_write_all(int fd, const char *p, size_t n)
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

void cli_upcase(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)(p[i] - 'a') < 26)
            p[i] = (char)(p[i] - 32);
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    /* Writes to a closed stdout or socket become errors, not deaths. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2)
        return cli_usage_error(NULL, "%s", "missing command");
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
        const struct command *c = commands[i];
        if (strcmp(name, c->name) != 0)
            continue;
        struct opts o = {.cmd = c->name, .timeout = -1, .chunk = DEFAULT_CHUNK, .port = -1,
                         .mode = CLI_MODE_POLL, .argc = argc - 2, .argv = argv + 2};
        if (strcmp(c->keys, CLI_OWN_ARGS) == 0)
            return c->run(&o);
        int rc = parse_args(c, &o, argc - 2, argv + 2);
        return rc >= 0 ? rc : c->run(&o);
    }
    return cli_usage_error(NULL, "unknown command '%s'", name);
}
