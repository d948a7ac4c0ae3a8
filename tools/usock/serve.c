/* serve.c -- `usock serve`: the HTTP/1.1 server of the httpd layer over a
 * directory's files, with the access log and the /_status page. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char usage_serve[] =
    "usage: usock serve [DIR] [-b ADDR] [-p PORT] [-w WORKERS] [-q] [--no-status]\n"
    "                   [--log FILE] [--tls-cert FILE --tls-key FILE]\n"
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
    "                instead of stderr\n"
    "  --tls-cert FILE  serve HTTPS with this certificate (PEM, its chain after\n"
    "                it); ALPN http/1.1\n"
    "  --tls-key FILE   the certificate's private key (PEM)\n";

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

/* The server's TLS context: its certificate, ALPN http/1.1. */
static int make_tls(const struct opts *o, usock_tls_ctx **out)
{
    static const char *const alpn[] = {"http/1.1"};
    int rc = usock_tls_ctx_new(out, USOCK_TLS_SERVER);
    if (rc == 0 && (rc = usock_tls_ctx_load_cert_chain(*out, o->tls_cert, o->tls_key)) < 0) {
        usock_tls_ctx_free(*out);
        /* the file that cannot be read, else both (one is no PEM, or the
         * key is not the certificate's) */
        char both[2 * PATH_MAX + 8];
        snprintf(both, sizeof both, "%s, %s", o->tls_cert, o->tls_key);
        const char *which = access(o->tls_cert, R_OK) != 0   ? o->tls_cert
                            : access(o->tls_key, R_OK) != 0 ? o->tls_key
                                                            : both;
        return cli_fail("serve", which, rc);
    }
    if (rc == 0)
        rc = usock_tls_ctx_set_alpn(*out, alpn, 1);
    if (rc < 0) {
        usock_tls_ctx_free(*out);
        return cli_fail("serve", "TLS", rc);
    }
    return 0;
}

/* Serves until a signal stops it (gracefully). */
static int serve_until_stopped(usock_httpd *h, usock_addr *a, char *text)
{
    if (usock_httpd_address(h, a) == 0)
        (void)usock_addr_format(a, text, HOSTPORT_LEN);
    running = h;
    cli_on_signals(on_signal);
    /* bound already: connections that come now wait in the backlog */
    fprintf(stderr, "listening on %s\n", text);
    int rc = usock_httpd_start(h);
    if (rc == 0 && cli_stop_signal)
        usock_httpd_stop(h);
    usock_httpd_wait(h);
    running = NULL;
    return rc < 0 ? cli_fail("serve", text, rc) : 0;
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

    if (!o->tls_cert != !o->tls_key)
        return cli_usage_error(o->cmd, "%s", "--tls-cert and --tls-key go together");
    usock_tls_ctx *tls = NULL;
    int rc = o->tls_cert ? make_tls(o, &tls) : 0;
    if (rc != 0)
        return rc;
    FILE *logf = NULL;
    if (o->log && !o->quiet) {
        logf = fopen(o->log, "a");
        if (!logf) {
            usock_tls_ctx_free(tls);
            return cli_fail("open", o->log, -errno);
        }
        setvbuf(logf, NULL, _IOLBF, 0);
    }
    usock_httpd_opts ho;
    usock_httpd_opts_init(&ho);
    ho.tls = tls;
    ho.workers = o->workers;
    ho.status_page = !o->no_status;
    if (!o->quiet) {
        ho.log = log_line;
        ho.log_udata = logf ? logf : stderr;
    }
    usock_httpd *h = NULL;
    int status;
    if ((rc = usock_httpd_new(&h, &a, &ho)) < 0)
        status = cli_fail("bind", text, rc);
    else if ((rc = usock_httpd_route_static(h, "/", dir)) < 0)
        status = cli_fail("serve", dir, rc);
    else
        status = serve_until_stopped(h, &a, text);
    usock_httpd_close(h);
    usock_tls_ctx_free(tls);
    if (logf)
        fclose(logf);
    return status;
}

const struct command cmd_serve = {"serve", "bpWqSLCKh", 0, 1, 0, usage_serve, run_serve};
