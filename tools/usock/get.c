/* get.c -- `usock get`: curl's everyday flags over the request layer. One
 * opener serves every URL of the command line, so several URLs to one
 * server share a kept-alive connection; redirects, basic auth and cookies
 * are the opener's handlers. Parses its own arguments: -H and the URLs
 * repeat. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "usock/request.h"

#define BIG_PIECE 4096     /* output pieces this large are written at once */
#define CURL_FAIL_EXIT 22  /* curl's exit status for --fail */
#define CURL_MAX_REDIRS 50 /* curl's default --max-redirs */

static const char usage_get[] =
    "usage: usock get URL... [-o FILE] [-O] [-i] [-I] [-u USER:PASS] [-H 'Name: value']...\n"
    "                 [-X METHOD] [-d DATA | --data-file FILE] [-L] [--max-redirs N]\n"
    "                 [-t SECONDS] [-b/--cookie FILE] [-c/--cookie-jar FILE]\n"
    "                 [--compressed | --no-compressed] [--fail] [-s] [--progress]\n"
    "                 [--cacert FILE] [--capath DIR] [-k] [--cert FILE] [--key FILE]\n"
    "                 [--proxy URL] [--noproxy LIST] [-m SECONDS] [--connect-timeout SECONDS]\n"
    "                 [--dns-servers ADDR[:PORT],...]\n"
    "\n"
    "Fetches http:// and https:// URLs as curl does, the body to stdout. Several\n"
    "URLs to one server reuse one connection.\n"
    "\n"
    "  -o FILE          write the next URL's body to FILE (one -o per URL; - stdout)\n"
    "  -O               write it to a file named as the URL's last path segment\n"
    "  -i               print the response head before the body\n"
    "  -I               HEAD request; print the head only\n"
    "  -u USER:PASS     basic auth, sent with the first request\n"
    "  -H 'Name: value' add a header ('Name:' removes it, the tool's own too)\n"
    "  -X METHOD        the request method\n"
    "  -d DATA          POST DATA (urlencoded form; @FILE reads it from FILE, @-\n"
    "                   stdin, without newlines); several -d are joined with '&'\n"
    "  --data-file FILE POST FILE's bytes as they are\n"
    "  -L               follow redirects (at most --max-redirs, default 50)\n"
    "  -t SECONDS       timeout of each step: connect, each read and write\n"
    "  -b, --cookie FILE|NAME=VALUE  send cookies from FILE (a cookies.txt) or\n"
    "                   this Cookie header\n"
    "  -c, --cookie-jar FILE  keep cookies and write them to FILE at the end\n"
    "  --compressed     ask for gzip/deflate and decode it (the default);\n"
    "  --no-compressed  do not\n"
    "  -f, --fail       an HTTP error (>= 400) prints no body and exits 22\n"
    "  -s               silent: no progress bar, no error messages\n"
    "  --progress       a progress bar on stderr even when it is not a terminal\n"
    "  --cacert FILE    https: trust the CAs of FILE (PEM) instead of the system's\n"
    "  --capath DIR     https: ... or of DIR (hashed, as c_rehash makes it)\n"
    "  -k, --insecure   https: do not check the server's certificate\n"
    "  --cert FILE      https: a client certificate (PEM; its key too, or --key)\n"
    "  --key FILE       https: the client certificate's key (PEM)\n"
    "  -x, --proxy URL  through this HTTP proxy (http://[USER:PASS@]HOST[:PORT],\n"
    "                   port 1080 by default; \"\" none); without it, http_proxy,\n"
    "                   https_proxy and no_proxy from the environment\n"
    "  --noproxy LIST   hosts reached directly: names, .domains, addresses, CIDRs, *\n"
    "  -m, --max-time SECONDS  each URL's whole transfer within this: resolving,\n"
    "                   connecting, TLS, sending and receiving\n"
    "  --connect-timeout SECONDS  resolving and connecting within this\n"
    "  --dns-servers LIST  resolve with these DNS servers (ADDR[:PORT],...)\n"
    "\n"
    "exit status: 0 success, 1 network or file error, 2 usage error, 22 HTTP\n"
    "error with --fail; with several URLs, the first failure's\n";

/* The lists hold arguments, so each has room for all of them (lists). */
struct get {
    const char **urls;
    int nurls;
    const char **outs; /* in order; "" for -O */
    int nouts;
    const char **headers;
    int nheaders;
    const char **datas;
    int ndatas;
    const char **lists;
    const char *data_file, *user, *method, *cookie, *cookie_jar;
    const char *cacert, *capath, *cert, *key, *proxy, *noproxy, *dns_servers;
    double max_time, connect_timeout;
    int insecure;
    int include, head, follow, max_redirs, fail, silent, progress, compressed;
    int tty_out, tty_err; /* stdout, stderr are terminals */
    double timeout;
    char *body; /* the -d pieces joined */
    size_t body_len;
};

static int add_item(const char **list, int *n, const char *v)
{
    list[(*n)++] = v;
    return 0;
}

static int parse_count(const char *s, int *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 6 || strspn(s, "0123456789") != n)
        return -1;
    *out = atoi(s);
    return 0;
}

/* Seconds > 0, as -t, -m and --connect-timeout take them. */
static int parse_seconds(const char *v, double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (*v == '\0' || *end || !isfinite(d) || d <= 0 || d > 1e6)
        return -1;
    *out = d;
    return 0;
}

/* Stores an option with a value; returns 0 or an exit status. */
static int option_value(struct get *g, const char *name, const char *v)
{
    if (!strcmp(name, "-o"))
        return add_item(g->outs, &g->nouts, v);
    if (!strcmp(name, "-H")) {
        if (!strchr(v, ':'))
            return cli_usage_error("get", "bad header '%s' (Name: value)", v);
        return add_item(g->headers, &g->nheaders, v);
    }
    if (!strcmp(name, "-d"))
        return add_item(g->datas, &g->ndatas, v);
    if (!strcmp(name, "-u")) {
        if (!strchr(v, ':'))
            return cli_usage_error("get", "bad -u '%s' (USER:PASS)", v);
        g->user = v;
    } else if (!strcmp(name, "-X")) {
        g->method = v;
    } else if (!strcmp(name, "--data-file")) {
        g->data_file = v;
    } else if (!strcmp(name, "--max-redirs")) {
        if (parse_count(v, &g->max_redirs) < 0)
            return cli_usage_error("get", "bad --max-redirs '%s' (a number)", v);
    } else if (!strcmp(name, "-t")) {
        if (parse_seconds(v, &g->timeout) < 0)
            return cli_usage_error("get", "bad timeout '%s' (seconds > 0)", v);
    } else if (!strcmp(name, "-m") || !strcmp(name, "--max-time")) {
        if (parse_seconds(v, &g->max_time) < 0)
            return cli_usage_error("get", "bad %s '%s' (seconds > 0)", name, v);
    } else if (!strcmp(name, "--connect-timeout")) {
        if (parse_seconds(v, &g->connect_timeout) < 0)
            return cli_usage_error("get", "bad %s '%s' (seconds > 0)", name, v);
    } else if (!strcmp(name, "--dns-servers")) {
        g->dns_servers = v;
    } else if (!strcmp(name, "-b") || !strcmp(name, "--cookie")) {
        g->cookie = v;
    } else if (!strcmp(name, "-c") || !strcmp(name, "--cookie-jar")) {
        g->cookie_jar = v;
    } else if (!strcmp(name, "--cacert")) {
        g->cacert = v;
    } else if (!strcmp(name, "--capath")) {
        g->capath = v;
    } else if (!strcmp(name, "--cert")) {
        g->cert = v;
    } else if (!strcmp(name, "--key")) {
        g->key = v;
    } else if (!strcmp(name, "--proxy") || !strcmp(name, "-x")) {
        g->proxy = v;
    } else if (!strcmp(name, "--noproxy")) {
        g->noproxy = v;
    }
    return 0;
}

/* A flag; 1 when name is one, else 0. */
static int option_flag(struct get *g, const char *name)
{
    static const char *const flags[] = {
        "-O",     "-i", "-I", "-L",         "--compressed", "--no-compressed",
        "--fail", "-f", "-s", "--progress", "-k",           "--insecure"};
    size_t i = 0;
    while (i < sizeof flags / sizeof flags[0] && strcmp(name, flags[i]))
        i++;
    switch (i) {
    case 0: return add_item(g->outs, &g->nouts, "") == 0;
    case 1: g->include = 1; return 1;
    case 2: g->head = 1; return 1;
    case 3: g->follow = 1; return 1;
    case 4: g->compressed = 1; return 1;
    case 5: g->compressed = 0; return 1;
    case 6:
    case 7: g->fail = 1; return 1;
    case 8: g->silent = 1; return 1;
    case 9: g->progress = 1; return 1;
    case 10:
    case 11: g->insecure = 1; return 1;
    default: return 0;
    }
}

/* Returns -1 to go on, or the exit status. */
static int parse(struct get *g, int argc, char **argv)
{
    /* no list can be longer than the arguments */
    g->lists = calloc(4 * (size_t)argc + 4, sizeof *g->lists);
    if (!g->lists)
        return cli_fail("get", "arguments", USOCK_ENOMEM);
    g->urls = g->lists;
    g->outs = g->urls + argc + 1;
    g->headers = g->outs + argc + 1;
    g->datas = g->headers + argc + 1;
    static const char *const with_value[] = {"-o", "-H",          "-d",           "-u",
                                             "-X", "--data-file", "--max-redirs", "-t",
                                             "-b", "--cookie",    "-c",           "--cookie-jar",
                                             "--cacert", "--capath", "--cert",    "--key",
                                             "--proxy",  "-x",       "--noproxy",
                                             "-m", "--max-time", "--connect-timeout",
                                             "--dns-servers"};
    int only_urls = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_urls || a[0] != '-' || a[1] == '\0') {
            int rc = add_item(g->urls, &g->nurls, a);
            if (rc)
                return rc;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_urls = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_get, stdout);
            return 0;
        }
        if (option_flag(g, a))
            continue;
        const char *eq = strchr(a, '=');
        size_t n = a[1] == '-' && eq ? (size_t)(eq - a) : strlen(a);
        size_t k = 0;
        while (k < sizeof with_value / sizeof with_value[0] &&
               (strlen(with_value[k]) != n || strncmp(a, with_value[k], n)))
            k++;
        if (k == sizeof with_value / sizeof with_value[0])
            return cli_usage_error("get", "unknown option '%s'", a);
        const char *v = a[1] == '-' && eq ? eq + 1 : NULL;
        if (!v && i + 1 >= argc)
            return cli_usage_error("get", "option '%s' needs an argument", a);
        int rc = option_value(g, with_value[k], v ? v : argv[++i]);
        if (rc)
            return rc;
    }
    if (g->nurls == 0)
        return cli_usage_error("get", "%s", "missing URL");
    if (g->ndatas && g->data_file)
        return cli_usage_error("get", "%s", "-d and --data-file exclude each other");
    if (g->key && !g->cert)
        return cli_usage_error("get", "%s", "--key needs --cert");
    return -1;
}

/* ---- the body to send ----------------------------------------------------- */

/* -d pieces joined with '&'; "@FILE" reads FILE without CR and LF (curl). */
static int join_data(struct get *g)
{
    size_t cap = 0;
    for (int i = 0; i < g->ndatas; i++) {
        const char *d = g->datas[i];
        char *piece = NULL;
        size_t len = strlen(d);
        if (d[0] == '@') { /* "@-": standard input, as curl */
            FILE *f = strcmp(d + 1, "-") ? fopen(d + 1, "rb") : stdin;
            if (!f)
                return cli_fail("open", d + 1, -errno);
            piece = malloc(1 << 16);
            len = 0;
            size_t room = piece ? 1 << 16 : 0;
            int c;
            while (piece && (c = getc(f)) != EOF) {
                if (c == '\r' || c == '\n')
                    continue;
                char *more = len == room ? realloc(piece, room *= 2) : piece;
                if (!more) {
                    free(piece);
                    piece = NULL;
                    break;
                }
                piece = more;
                piece[len++] = (char)c;
            }
            if (f != stdin)
                fclose(f);
            if (!piece)
                return cli_fail("read", d + 1, USOCK_ENOMEM);
            d = piece;
        }
        if (g->body_len + len + 2 > cap) {
            cap = (g->body_len + len + 2) * 2;
            char *b = realloc(g->body, cap);
            if (!b) {
                free(piece);
                return cli_fail("read", "-d", USOCK_ENOMEM);
            }
            g->body = b;
        }
        if (i)
            g->body[g->body_len++] = '&';
        memcpy(g->body + g->body_len, d, len);
        g->body_len += len;
        free(piece);
    }
    return 0;
}

/* ---- one transfer ------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void human(char *buf, size_t cap, double v)
{
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

struct progress {
    int on;
    double t0, last;
    int64_t total; /* -1: unknown */
};

/* "  1.2 MiB  45%  3.4 MiB/s  ETA 0:02" on one stderr line, redrawn. */
static void progress_show(struct progress *p, uint64_t got, int done)
{
    double t = now_s();
    if (!p->on || (!done && t - p->last < 0.1))
        return;
    p->last = t;
    double rate = got / (t - p->t0 > 1e-3 ? t - p->t0 : 1e-3);
    char g[32], r[32], line[128];
    human(g, sizeof g, (double)got);
    human(r, sizeof r, rate);
    int n = snprintf(line, sizeof line, "\r%10s", g);
    if (p->total > 0) {
        double left = rate > 0 ? ((double)p->total - (double)got) / rate : 0;
        n += snprintf(line + n, sizeof line - (size_t)n, "  %3d%%  %s/s  ETA %d:%02d",
                      (int)(got * 100 / (uint64_t)p->total), r, (int)left / 60, (int)left % 60);
    } else {
        n += snprintf(line + n, sizeof line - (size_t)n, "  %s/s", r);
    }
    fprintf(stderr, "%s    %s", line, done ? "\n" : "");
    fflush(stderr);
}

/* Output goes through one buffer, as curl's through stdio: small answers
 * to many URLs cost one write per 64 KiB, not one each. */
static struct {
    int fd;
    size_t len;
    char buf[BUF_SIZE];
} obuf = {.fd = -1};

static int out_flush(void)
{
    int rc = obuf.len ? cli_write_all(obuf.fd, obuf.buf, obuf.len) : 0;
    obuf.len = 0;
    return rc;
}

static int out_write(int fd, const char *p, size_t n)
{
    int rc = 0;
    if (fd != obuf.fd || obuf.len + n > sizeof obuf.buf || n >= BIG_PIECE)
        rc = out_flush();
    obuf.fd = fd;
    if (rc == 0 && n >= BIG_PIECE) /* a download's pieces: no copy */
        return cli_write_all(fd, p, n);
    memcpy(obuf.buf + obuf.len, p, n);
    obuf.len += n;
    return rc;
}

/* -i and -I: every head of one URL's chain as curl shows them (the
 * redirects' and the 401s' too), kept by an opener hook until the output
 * is open. */
static struct {
    char *p;
    size_t n, cap;
} heads;

static int heads_add(const char *s, size_t n)
{
    if (heads.n + n > heads.cap) {
        size_t cap = heads.cap * 2 > heads.n + n ? heads.cap * 2 : heads.n + n + 4096;
        char *p = realloc(heads.p, cap);
        if (!p)
            return USOCK_ENOMEM;
        heads.p = p;
        heads.cap = cap;
    }
    memcpy(heads.p + heads.n, s, n);
    heads.n += n;
    return 0;
}

static int keep_head(void *self, usock_urlrequest *r, usock_response *res, usock_urlrequest **next)
{
    (void)self, (void)r, (void)next;
    char line[8192];
    int n = snprintf(line, sizeof line, "HTTP/%s %d %s\r\n",
                     usock_response_version(res) == 10 ? "1.0" : "1.1", usock_response_status(res),
                     usock_response_reason(res));
    int rc = heads_add(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    const char *name, *value;
    for (size_t i = 0; rc == 0 && usock_response_header_at(res, i, &name, &value); i++) {
        n = snprintf(line, sizeof line, "%s: %s\r\n", name, value);
        rc = heads_add(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    }
    return rc ? rc : heads_add("\r\n", 2);
}

/* -O's name: the URL's last path segment, never empty or a dot name. */
static const char *remote_name(const char *url)
{
    const char *end = url + strcspn(url, "?#");
    const char *s = end;
    while (s > url && s[-1] != '/')
        s--;
    static char name[256];
    size_t n = (size_t)(end - s) < sizeof name - 1 ? (size_t)(end - s) : sizeof name - 1;
    memcpy(name, s, n);
    name[n] = '\0';
    return n && strcmp(name, ".") && strcmp(name, "..") ? name : NULL;
}

static int open_output(const struct get *g, int i, const char *url, int *fd)
{
    *fd = STDOUT_FILENO;
    if (i >= g->nouts)
        return 0;
    const char *path = g->outs[i][0] ? g->outs[i] : remote_name(url);
    if (path && strcmp(path, "-") == 0)
        return 0; /* -o -: standard output, as curl */
    if (!path)
        return cli_usage_error("get", "-O: '%s' names no file", url);
    *fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    return *fd < 0 ? cli_fail("open", path, -errno) : 0;
}

/* t0: when the URL's transfer began, for -m's message. */
static int copy_body(const struct get *g, usock_response *res, int fd, const char *url, double t0)
{
    static char buf[BUF_SIZE];
    struct progress p = {.on = !g->silent && (g->progress || g->tty_err),
                         .t0 = now_s(),
                         .total = usock_response_length(res)};
    uint64_t got = 0;
    for (;;) {
        ssize_t n = usock_response_read(res, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0) {
            progress_show(&p, got, 1);
            /* the parser's errors named as the opener names them in a head */
            int parser = n <= USOCK_EHTTP_BAD_METHOD && n > USOCK_EURL_BAD_SCHEME;
            /* the open's clock started just after t0, and runs in whole ms */
            int late = n == USOCK_ETIMEDOUT && g->max_time > 0 &&
                       now_s() - t0 >= g->max_time - 0.005;
            if (!g->silent)
                fprintf(stderr, "usock: get %s: %s%s%s\n", url,
                        parser ? "malformed response body: " : "", usock_strerror((int)n),
                        late ? " (max time) reading the body" : "");
            return 1;
        }
        int rc = out_write(fd, buf, (size_t)n);
        if (rc < 0)
            return g->silent ? 1 : cli_fail("write", fd == STDOUT_FILENO ? "stdout" : "file", rc);
        got += (uint64_t)n;
        progress_show(&p, got, 0);
    }
    progress_show(&p, got, 1);
    return 0;
}

static int build_request(const struct get *g, const char *url, usock_urlrequest **out)
{
    usock_urlrequest *r;
    int rc = usock_request_new(&r, url);
    if (rc < 0)
        return rc;
    if (g->body)
        rc = usock_request_set_data(r, g->body, g->body_len);
    if (rc == 0 && g->body)
        rc = usock_request_set_header(r, "Content-Type", "application/x-www-form-urlencoded");
    if (rc == 0 && g->data_file) {
        int fd = open(g->data_file, O_RDONLY | O_CLOEXEC);
        rc = fd < 0 ? -errno : usock_request_set_file(r, fd, -1);
        /* the request does not own fd: it is closed with the process */
    }
    if (rc == 0 && (g->method || g->head))
        rc = usock_request_set_method(r, g->method ? g->method : "HEAD");
    if (rc == 0 && g->cookie && strchr(g->cookie, '='))
        rc = usock_request_set_header(r, "Cookie", g->cookie);
    for (int i = 0; rc == 0 && i < g->nheaders; i++) {
        char name[256];
        const char *colon = strchr(g->headers[i], ':');
        size_t n = (size_t)(colon - g->headers[i]);
        const char *v = colon + 1 + strspn(colon + 1, " \t");
        if (n == 0 || n >= sizeof name) {
            rc = USOCK_EINVAL;
            break;
        }
        memcpy(name, g->headers[i], n);
        name[n] = '\0';
        rc = usock_request_set_header(r, name, *v ? v : NULL);
    }
    if (rc < 0) {
        usock_request_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* One URL; returns its exit status. */
static int fetch(const struct get *g, usock_opener *op, int i)
{
    const char *url = g->urls[i];
    usock_urlrequest *r;
    int rc = build_request(g, url, &r);
    if (rc < 0)
        return g->silent ? 1 : cli_fail("get", url, rc);
    usock_response *res = NULL;
    usock_urlerror err;
    heads.n = 0;
    double t0 = now_s();
    rc = usock_opener_open(op, r, g->timeout, &res, &err);
    usock_request_free(r);
    if (rc < 0 && !res) {
        if (!g->silent)
            fprintf(stderr, "usock: get %s: %s\n", url,
                    err.detail[0] ? err.detail : usock_strerror(rc));
        return 1;
    }
    int st = usock_response_status(res);
    if (g->follow && g->max_redirs == 0 && st >= 300 && st < 400 && st != 304 &&
        usock_response_header(res, "Location")) {
        if (!g->silent)
            fprintf(stderr, "usock: get %s: %s (--max-redirs 0)\n", url,
                    usock_strerror(USOCK_ETOO_MANY_REDIRECTS));
        usock_response_close(res);
        return 1;
    }
    if (rc == USOCK_EHTTP_STATUS && g->fail) {
        if (!g->silent)
            fprintf(stderr, "usock: get %s: the server answered %d %s\n", url,
                    usock_response_status(res), usock_response_reason(res));
        usock_response_close(res);
        return CURL_FAIL_EXIT;
    }
    int fd;
    int status = open_output(g, i, url, &fd);
    if (status == 0 && (g->include || g->head))
        status = out_write(fd, heads.p, heads.n) < 0 ? cli_fail("write", "output", USOCK_EIO) : 0;
    if (status == 0 && !g->head)
        status = copy_body(g, res, fd, url, t0);
    /* a file is done; a terminal shows each answer as it ends */
    if ((fd != STDOUT_FILENO || g->tty_out) && out_flush() < 0 && !status)
        status = cli_fail("write", "output", USOCK_EIO);
    if (fd != STDOUT_FILENO)
        close(fd);
    usock_response_close(res);
    return status;
}

/* The opener for the whole command line: redirects only with -L (curl),
 * -u's credentials sent with the first request to any realm (curl), the
 * cookie engine when -b names a file or -c is given. */
static int make_opener(const struct get *g, usock_opener **op, usock_passwords **pw,
                       usock_cookiejar **jar)
{
    usock_opener_opts o;
    usock_opener_opts_init(&o);
    o.max_redirects = !g->follow ? 0 : g->max_redirs >= 0 ? g->max_redirs : CURL_MAX_REDIRS;
    o.accept_encoding = g->compressed;
    o.cafile = g->cacert;
    o.capath = g->capath;
    o.insecure = g->insecure;
    o.cert = g->cert;
    o.key = g->key;
    o.proxy = g->proxy;
    o.no_proxy = g->noproxy;
    o.max_time = g->max_time;
    o.connect_timeout = g->connect_timeout;
    o.dns_servers = g->dns_servers;
    int rc = 0;
    if (g->user) {
        char *user = strdup(g->user);
        char *pass = user ? strchr(user, ':') : NULL;
        if (pass)
            *pass++ = '\0';
        rc = !user ? USOCK_ENOMEM : usock_passwords_new(pw, 1);
        for (int i = 0; rc == 0 && i < g->nurls; i++) {
            /* every path of the URL's host, as curl sends -u there (and
             * only there: the opener keeps them from other hosts) */
            char origin[2048];
            const char *u = g->urls[i], *sl = strstr(u, "://");
            size_t n = sl ? (size_t)(sl + 3 - u) + strcspn(sl + 3, "/?#") : strlen(u);
            snprintf(origin, sizeof origin, "%.*s/", (int)n, u);
            rc = usock_passwords_add(*pw, NULL, origin, user, pass);
        }
        free(user);
        o.passwords = *pw;
        o.preemptive_auth = 1;
    }
    int cookie_file = g->cookie && !strchr(g->cookie, '=');
    if (rc == 0 && (cookie_file || g->cookie_jar)) {
        rc = usock_cookiejar_new(jar);
        if (rc == 0 && cookie_file) {
            int lrc = usock_cookiejar_load(*jar, g->cookie);
            if (lrc < 0 && lrc != USOCK_ENOENT) /* curl starts empty without the file */
                return cli_fail("read", g->cookie, lrc);
        }
        o.cookies = *jar;
    }
    if (rc == 0)
        rc = usock_opener_new(op, &o);
    if (rc == USOCK_EINVAL && g->dns_servers)
        return cli_usage_error("get", "bad --dns-servers '%s' (ADDR[:PORT],...)", g->dns_servers);
    if (rc < 0 && rc != USOCK_ENOMEM && g->proxy)
        return cli_usage_error("get", "bad --proxy '%s': %s", g->proxy, usock_strerror(rc));
    usock_opener_handler keep = {.name = "heads", .response = keep_head};
    if (rc == 0 && (g->include || g->head))
        rc = usock_opener_add_handler(*op, &keep, NULL);
    return rc < 0 ? cli_fail("get", "setup", rc) : 0;
}

static int run_get(struct opts *o)
{
    struct get g = {.timeout = -1, .max_redirs = -1, .compressed = 1};
    int status = parse(&g, o->argc, o->argv);
    if (status >= 0) {
        free(g.lists);
        return status;
    }
    usock_passwords *pw = NULL;
    usock_cookiejar *jar = NULL;
    usock_opener *op = NULL;
    g.tty_out = isatty(STDOUT_FILENO);
    g.tty_err = isatty(STDERR_FILENO);
    status = join_data(&g);
    if (status == 0)
        status = make_opener(&g, &op, &pw, &jar);
    if (status == 0) {
        for (int i = 0; i < g.nurls; i++) {
            int st = fetch(&g, op, i);
            if (st && !status)
                status = st; /* the first failure; the others are still tried */
        }
        if (out_flush() < 0 && !status)
            status = cli_fail("write", "stdout", USOCK_EIO);
        int rc = jar && g.cookie_jar ? usock_cookiejar_save(jar, g.cookie_jar) : 0;
        if (rc < 0 && !status)
            status = cli_fail("write", g.cookie_jar, rc);
    }
    usock_opener_free(op);
    usock_cookiejar_free(jar);
    usock_passwords_free(pw);
    free(g.body);
    free(g.lists);
    free(heads.p);
    return status;
}

const struct command cmd_get = {"get", CLI_OWN_ARGS, 0, 0, 0, usage_get, run_get};
