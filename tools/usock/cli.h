/* cli.h -- what the files of the usock command-line tool share: the parsed
 * options, the command table's entry, the usage and failure reporters, and
 * the servers' common setup (listen.c).
 *
 * The tool is the only code of the project that prints. It uses the public
 * API only; POSIX calls appear where the API has no say: stdin/stdout,
 * files, signals and threads. */
#ifndef USOCK_CLI_H
#define USOCK_CLI_H

#include <signal.h>
#include <stddef.h>

#include "usock.h"

#define BUF_SIZE 65536      /* big buffers keep bulk streaming fast */
#define HOSTPORT_LEN 1100   /* a host name (<= 1025) + brackets + ":65535" */
#define LISTEN_BACKLOG 1024 /* the servers' listen backlog: bursts of clients wait */
#define CLI_MODE_POLL (-1)  /* echo --mode poll: the one-thread event loop */

/* Every option of every command, once parsed. */
struct opts {
    const char *cmd;
    int family;        /* -4 / -6, 0 for any */
    int udp, once, upper;
    double timeout;    /* -t; < 0 when not given */
    long chunk;        /* --chunk */
    const char *bind;  /* -b */
    const char *out;   /* -o */
    const char *dir;   /* -O */
    const char *unix_path; /* --unix */
    int mode;          /* --mode: CLI_MODE_POLL or enum usock_server_mode */
    int workers;       /* --workers; 0 when not given */
    int port;          /* -p; < 0 when not given */
    int quiet;         /* -q (serve: no access log) */
    int no_status;     /* --no-status (serve) */
    const char *log;   /* --log FILE (serve) */
    const char *tls_cert, *tls_key; /* --tls-cert, --tls-key (serve) */
    char *pos[3];      /* positional arguments */
    int npos;
    int argc;          /* the arguments after the command's name, for */
    char **argv;       /* a command with CLI_OWN_ARGS */
};

/* One command: its name, the option keys it takes (see main.c's optdefs),
 * how many positional arguments, whether it needs -p, its help, its body. */
struct command {
    const char *name;
    const char *keys;
    int minpos, maxpos;
    int need_port;
    const char *usage;
    int (*run)(struct opts *o);
};

/* keys of a command that parses its own arguments (get: -H and the URLs
 * repeat): its run gets them untouched in opts.argc/argv. */
#define CLI_OWN_ARGS "*"


/* The commands, one file each (or one per family). */
extern const struct command cmd_resolve, cmd_connect, cmd_send, cmd_udp, cmd_recv, cmd_echo,
    cmd_serve, cmd_get;

/* Prints one line "usock: CMD: message (see 'usock CMD --help')" and gives
 * exit status 2. cmd NULL: the tool itself. */
__attribute__((format(printf, 2, 3))) int cli_usage_error(const char *cmd, const char *fmt,
                                                          ...);

/* Prints "usock: WHAT TARGET: message" and gives exit status 1. */
int cli_fail(const char *what, const char *target, int code);

/* A port: "0".."65535" in decimal digits. Returns it, or -1. */
int cli_parse_port(const char *text);

/* The usage error of a bad port argument (status 2). */
int cli_bad_port(const char *cmd, const char *text);

/* "host:port", or "[v6]:port" for an IPv6 literal, for messages. */
void cli_hostport(char *buf, size_t cap, const char *host, int port);

/* write(2) until all n bytes are written; 0 or a negative errno. */
int cli_write_all(int fd, const char *p, size_t n);

/* ASCII upper-casing, as Python's bytes.upper(). */
void cli_upcase(char *p, size_t n);

/* ---- servers (listen.c) ------------------------------------------------- */

/* Set by SIGINT/SIGTERM once cli_server_open ran: the servers stop. */
extern volatile sig_atomic_t cli_stop_signal;

/* The address a server binds: -b ADDR -p PORT, or --unix PATH; text gets
 * its display form for messages. Returns 0 or an exit status (printed). */
int cli_listen_addr(const struct opts *o, usock_addr *a, char *text, size_t cap);

/* Installs fn for SIGINT and SIGTERM (SA_RESTART). */
void cli_on_signals(void (*fn)(int));

/* Removes a Unix socket's file at exit (not an abstract "@name"). */
void cli_unlink_path(const char *path);

struct server {
    const char *cmd;
    usock_poll *poll;
    usock *sock;            /* the listener, or the datagram socket */
    usock *wake;            /* the signal handler wakes the poll with it */
    const char *unlink_path; /* a Unix socket's file, removed at close */
};

/* Binds (usock_create_server), registers the socket and the waker in a
 * poll, installs SIGINT/SIGTERM, prints "listening on ADDR". Returns 0 or
 * an exit status (the message printed). */
int cli_server_open(struct server *sv, struct opts *o, int type);
void cli_server_close(struct server *sv);
/* Empties the waker after the poll reported it. */
void cli_server_drain_wake(struct server *sv);

/* echo --mode sequential|threading|forking|pool (echo_modes.c). */
int cli_echo_modes(struct opts *o);

#endif
