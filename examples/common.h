/* common.h -- what the seed programs of examples/ share.
 *
 * The programs differ in what they do with a socket, not in how they get
 * one, parse their arguments or report a failure. Those parts are here, so
 * that each program's file holds its seed's logic. Only the public API
 * (<usock.h>) is used.
 *
 * Every function that can fail reports it itself, as one stderr line
 * "PROG: WHAT ARG: reason" (see fail), and returns the program's exit
 * status for it: 1, or 2 for bad arguments. 0 is success.
 */
#ifndef EXAMPLES_COMMON_H
#define EXAMPLES_COMMON_H

#include <stddef.h>

#include <usock.h>

/* The program's name, as its messages start with it. Each program defines
 * it once, at file scope: const char *prog = "echo_client"; */
extern const char *prog;

/* For the timeout arguments below: leave the socket blocking (None). */
#define NO_TIMEOUT (-1.0)

/* ------------------------------------------------------------- reporting */

/* Prints "PROG: WHAT ARG: usock_strerror(err)" on stderr; returns 1, the
 * exit status of a failure. err is a negative USOCK_E* code (-errno for a
 * system error). */
int fail(const char *what, const char *arg, int err);

/* Prints "usage: PROG ARGS" on stderr; returns 2. */
int usage(const char *args);

/* ------------------------------------------------------------- arguments */

/* A port, 0..65535 in decimal, into *port. Returns 0, or -1 after
 * "PROG: bad port: TEXT". */
int parse_port(const char *text, int *port);

/* How many clients (or datagrams) a server serves, 1..1000000000, into
 * *count. Returns 0, or -1 after "PROG: bad count: TEXT". */
int parse_count(const char *text, long *count);

/* The positional arguments "[host [port ...]]": at most max_args of them
 * (usage ARGS otherwise), argv[1] into *host and argv[2] into *port when
 * given. The caller keeps its defaults and reads any argument after the
 * port itself. Returns 0, or 2 after the usage or bad port line. */
int host_port_args(int argc, char **argv, int max_args, const char *args, const char **host,
                   int *port);

/* The servers' arguments "[host [port [count]]]": host_port_args, and
 * argv[3] into *count (parse_count) when given. Returns 0, or 2 after the
 * usage, bad port or bad count line. */
int server_args(int argc, char **argv, const char **host, int *port, long *count);

/* The options of "[-H host] [-p port] [--] [word ...]", for the programs
 * whose plain arguments are the words of a message. *first_word is the
 * index in argv of the first word (argc when there is none). Returns 0, or
 * 2 after the usage or bad port line. */
int word_args(int argc, char **argv, const char **host, int *port, int *first_word);

/* " ".join(words) + "\n", malloc'd (the caller frees it); *len is its
 * length with the newline. NULL when memory is short. */
char *join_words(char **words, int count, size_t *len);

/* ------------------------------------------------------------- Python's bytes */

/* Python's repr() of a bytes object on stdout, no newline: b'...', or
 * b"..." when the data holds a ' and no ", with \t \n \r \\ and \xhh
 * escapes. print(data) of bytes is this and a newline. */
void print_bytes_repr(const unsigned char *p, size_t n);

/* bytes.strip(): ASCII whitespace off both ends of the n bytes at *p, in
 * place (*p moves past the leading ones); returns the new length. */
size_t bytes_strip(unsigned char **p, size_t n);

/* bytes.upper(): the ASCII letters of the n bytes at p upper-cased, in
 * place; other bytes stay. */
void bytes_upper(unsigned char *p, size_t n);

/* ------------------------------------------------------------- sockets */

/* An address as usock_addr_format writes it ("127.0.0.1:80", "[::1]:80")
 * into buf, which has USOCK_ADDRSTRLEN bytes; "?" when it has no text. */
void addr_text(const usock_addr *a, char *buf);

/* A client's socket, the seeds' addr = getaddrinfo(host, port)[0][-1];
 * s = socket(): resolves host and port asking for type (SOCK_STREAM or
 * SOCK_DGRAM), as the usocket reference advises, and creates *s of that
 * type in the family of the first address (the seeds' socket() is IPv4
 * only; this way an IPv6 host works too). A timeout >= 0 is set on it
 * (NO_TIMEOUT leaves it blocking). The address goes to *addr (NULL ok),
 * its text to where (USOCK_ADDRSTRLEN bytes), the target of any later
 * failure message. On failure, reported as "getaddrinfo HOST", "socket
 * WHERE" or "settimeout WHERE", *s is NULL. */
int open_socket(usock **s, const char *host, int port, int type, double timeout, usock_addr *addr,
                char *where);

/* socket.create_connection((host, port), timeout): usock_create_connection
 * tries every address of host (Happy Eyeballs); the timeout, if any, bounds
 * each attempt and stays on the socket. where gets the peer's address. A
 * name that does not resolve is reported as "getaddrinfo HOST", a refused
 * or unreachable server as "connect WHERE" (the last address tried). On
 * failure *s is NULL. */
int open_connection(usock **s, const char *host, int port, double timeout, char *where);

/* A server's socket: resolves host and port for type with AI_PASSIVE (af
 * 0 = the family of the host, AF_INET = Python's '' as 0.0.0.0), then
 * usock_create_server (socket.create_server): bound, and for SOCK_STREAM
 * listening with backlog and SO_REUSEADDR (not in the seeds) so that a
 * restarted server can take its port while old connections sit in
 * TIME_WAIT. Then prints
 * "listening on ADDR" on stdout, flushed, ADDR being the address bound
 * (so port 0 shows the port the system picked); where gets that text
 * (USOCK_ADDRSTRLEN bytes). A failure is reported as "getaddrinfo HOST"
 * ('' for an empty host), "bind ADDR" (anything create_server meets, as
 * Python words it) or "getsockname ADDR"; *s is then NULL. */
int open_server(usock **s, const char *host, int port, int af, int type, int backlog, char *where);

/* conn, addr = s.accept(): the connection into *conn, the peer's address
 * as text into who (USOCK_ADDRSTRLEN bytes). A failure is reported as
 * "accept WHERE", where being the listening address. */
int accept_client(usock *s, const char *where, usock **conn, char *who);

/* ------------------------------------------------------------- HTTP client */

/* The exit status of the programs on the request layer when the server
 * answers with an HTTP error (4xx, 5xx: urllib's HTTPError), as curl
 * --fail and `usock get --fail` exit: 22. Failures without an answer
 * (URLError: resolve, connect, timeout, a malformed reply) exit with 1. */
#define HTTP_ERROR_EXIT 22

/* Reports a failed open (usock_urlopen, usock_opener_open) of url, rc
 * being what it returned: "PROG: DETAIL" on stderr, err's detail line
 * ("connect 127.0.0.1:9: Connection refused", "GET http://h/x: 404 Not
 * Found"), or "PROG: urlopen URL: reason" when it has none. Closes res,
 * the response of an HTTP error (NULL ok). Returns HTTP_ERROR_EXIT for
 * USOCK_EHTTP_STATUS, else 1. */
int urlopen_fail(const char *url, int rc, const usock_urlerror *err, usock_response *res);

/* ------------------------------------------------------------- servers */

/* Python's Server((host, port), Handler) for the socketserver seeds:
 * resolves host and port for opts->type with AI_PASSIVE, makes *server
 * with usock_server_new, then prints "listening on ADDR" on stdout,
 * flushed, ADDR being the address bound; where gets that text
 * (USOCK_ADDRSTRLEN bytes). A failure is reported as "getaddrinfo HOST"
 * or "server ADDR"; *server is then NULL. */
int open_usock_server(usock_server **server, const char *host, int port, usock_handler handler,
                      const usock_server_opts *opts, char *where);

/* server.serve_forever(), or handle_request() count times when count >= 0;
 * then server_close(). Returns 0, or 1 after "PROG: serve WHERE: reason". */
int serve_requests(usock_server *server, long count, const char *where);

/* A handle_error for the servers: "PROG: handle ADDR: reason" on stderr. */
void report_error(usock_server *server, const usock_addr *peer, int err, void *udata);

/* The pins page of the MicroPython tutorial (pins_server, pins_httpd): a
 * table of the pins 0, 2, 4, 5, 12, 13, 14, 15 and their values (the
 * exported GPIO's /sys/class/gpio/gpioN/value, else 0), rows joined by
 * '\n' as the seed joins them. Returns its length, or USOCK_ENOSPC. */
int pins_page(char *page, size_t cap);

#endif
