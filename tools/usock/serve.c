/* serve.c -- `usock serve`: the HTTP/1.1 server of the httpd layer over a
 * directory's files, with the access log and the /_status page. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const char usage_serve[] =
    "usage: usock serve [DIR] [-b ADDR] [-p PORT] [-w WORKERS] [-q] [--no-status]\n"
    "                   [--log FILE]\n"
    "\n"
    "HTTP/1.1 server of the files under DIR (default: the current directory):\n"
    "keep-alive, pipelining, ranges, 304s, directory listings, and a live\n"
    "status page at /_status. Prints 'listening on ADDR:PORT' to stderr\n"
    "first; SIGINT/SIGTERM stop it gracefully (in-flight responses finish).\n"
    "\n"
    "  -b ADDR       numeric IPv4 or IPv6 address to bind (default 127.0.0.1)\n"
    "  -p PORT       port to listen on (default 8000; 0: any free port)\n"
    "  -w WORKERS    worker threads, each with its own listener and event loop\n"
    "                (default: the number of cores)\n"
    "  -q            no access log\n"
    "  --no-status   no /_status page\n"
    "  --log FILE    the access log (Common Log Format) to FILE, appended,\n"
    "                instead of stderr\n";

static usock_httpd *volatile running;

static void on_signal(int sig)
{
    int saved = errno;
    cli_stop_signal = sig;
    usock_httpd *h = running;
    if (h)
        usock_httpd_stop(h); /* async-signal-safe */
    errno = saved;
}

static void log_line(const char *line, void *udata)
{
    FILE *f = udata;
    fprintf(f, "%s\n", line);
}

static int run_serve(struct opts *o)
{
    const char *dir = o->npos > 0 ? o->pos[0] : ".";
    const char *ip = o->bind ? o->bind : "127.0.0.1";
    int port = o->port >= 0 ? o->port : 8000;
    usock_addr a;
    if (usock_addr_from_ip(&a, ip, port) < 0)
        return cli_usage_error(o->cmd, "bad address '%s' (a numeric IPv4 or IPv6 address)", ip);
    char text[HOSTPORT_LEN];
    cli_hostport(text, sizeof text, ip, port);
    struct stat st;
    if (stat(dir, &st) < 0)
        return cli_fail("serve", dir, -errno);
    if (!S_ISDIR(st.st_mode))
        return cli_fail("serve", dir, USOCK_ENOTDIR);

    FILE *logf = NULL;
    if (o->log && !o->quiet) {
        logf = fopen(o->log, "a");
        if (!logf)
            return cli_fail("open", o->log, -errno);
        setvbuf(logf, NULL, _IOLBF, 0);
    }
    usock_httpd_opts ho;
    usock_httpd_opts_init(&ho);
    ho.workers = o->workers;
    ho.status_page = !o->no_status;
    if (!o->quiet) {
        ho.log = log_line;
        ho.log_udata = logf ? logf : stderr;
    }
    usock_httpd *h;
    int rc = usock_httpd_new(&h, &a, &ho);
    if (rc < 0) {
        if (logf)
            fclose(logf);
        return cli_fail("bind", text, rc);
    }
    if ((rc = usock_httpd_route_static(h, "/", dir)) < 0) {
        usock_httpd_close(h);
        if (logf)
            fclose(logf);
        return cli_fail("serve", dir, rc);
    }
    if (usock_httpd_address(h, &a) == 0)
        (void)usock_addr_format(&a, text, sizeof text);
    running = h;
    cli_on_signals(on_signal);
    /* bound already: connections that come now wait in the backlog */
    fprintf(stderr, "listening on %s\n", text);
    if ((rc = usock_httpd_start(h)) < 0) {
        running = NULL;
        usock_httpd_close(h);
        if (logf)
            fclose(logf);
        return cli_fail("serve", text, rc);
    }
    if (cli_stop_signal)
        usock_httpd_stop(h);
    usock_httpd_wait(h);
    running = NULL;
    usock_httpd_close(h);
    if (logf)
        fclose(logf);
    return 0;
}

const struct command cmd_serve = {"serve", "bpwqSLh", 0, 1, 0, usage_serve, run_serve};
