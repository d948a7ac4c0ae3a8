/* pins_httpd.c -- the page of pins_server.c, served by the httpd layer.
 *
 * Seed: MicroPython tutorial 5.3 (ESP8266), as in pins_server.c. There the
 * program accepts, reads the request and writes the answer itself; here
 * usock_httpd does all the HTTP (keep-alive, HTTP/1.0 and 1.1, HEAD,
 * timeouts, worker threads) and the program is one handler: one
 * usock_httpd_route, one usock_httpd_respond.
 *
 * usage: pins_httpd [host [port]]        (default 0.0.0.0 80)
 *
 * Every path gets the page (pin values as in pins_server.c: the exported
 * GPIO's value file, else 0). On stdout: "listening on ADDR" once bound
 * (port 0 picks a free port), then one access-log line per request where
 * the seed prints "client connected from". SIGINT or SIGTERM stops it
 * gracefully (responses under way finish) with exit status 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>

#include <usock.h>

#include "common.h"

const char *prog = "pins_httpd";

static usock_httpd *volatile server; /* for the signal handler */

/* The one handler: every request gets the page. */
static int answer(const usock_httpd_req *req, usock_httpd_res *res)
{
    char page[2048];
    int n = pins_page(page, sizeof page);

    (void)req;
    if (n < 0)
        return n; /* answered 500 */
    return usock_httpd_respond(res, 200, "text/html", page, (size_t)n);
}

/* The access log, one Common Log Format line per request. */
static void log_line(const char *line, void *udata)
{
    (void)udata;
    printf("%s\n", line);
    fflush(stdout);
}

static void on_signal(int sig)
{
    int saved = errno;

    (void)sig;
    usock_httpd_stop(server); /* async-signal-safe; NULL ok */
    errno = saved;
}

int main(int argc, char **argv)
{
    const char *host = "0.0.0.0";
    int port = 80;
    usock_addrinfo *ai = NULL;
    usock_httpd_opts opts;
    usock_httpd *h = NULL;
    usock_addr bound;
    struct sigaction sa;
    char where[USOCK_ADDRSTRLEN];
    int r;

    r = host_port_args(argc, argv, 2, "[host [port]]", &host, &port);
    if (r != 0)
        return r;
    r = usock_getaddrinfo(host, port, 0, SOCK_STREAM, 0, AI_PASSIVE, &ai);
    if (r < 0)
        return fail("getaddrinfo", host[0] ? host : "''", r);
    addr_text(&ai->addr, where);

    usock_httpd_opts_init(&opts);
    opts.status_page = 0; /* no /_status: every path is the page, as in the seed */
    opts.log = log_line;
    r = usock_httpd_new(&h, &ai->addr, &opts);
    usock_freeaddrinfo(ai);
    if (r < 0)
        return fail("bind", where, r);
    r = usock_httpd_route(h, NULL, "/", answer, NULL); /* any method, any path */
    if (r == 0)
        r = usock_httpd_address(h, &bound);
    if (r < 0) {
        usock_httpd_close(h);
        return fail("server", where, r);
    }
    addr_text(&bound, where);

    server = h;
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* Bound already: clients that come now wait in the backlog. */
    printf("listening on %s\n", where);
    fflush(stdout);
    r = usock_httpd_start(h); /* a signal before this makes the workers end at once */
    if (r == 0)
        usock_httpd_wait(h); /* until on_signal stops it */
    server = NULL;           /* only this thread is left: no handler sees h freed */
    usock_httpd_close(h);
    return r < 0 ? fail("start", where, r) : 0;
}
