/* request_proxy.c -- the opener's proxies (urllib's ProxyHandler, curl's
 * --proxy and --noproxy): which proxy, if any, a request goes through. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "request_priv.h"

#define PROXY_PORT 1080 /* a proxy URL without a port: curl's default */

/* "http://[user:pass@]host[:port][/]" or "host[:port]" into *out.
 * Errors: the url layer's, USOCK_EUNSUPPORTED_SCHEME (not http),
 * USOCK_ENOMEM. */
static int parse_proxy(const char *text, struct usock__proxy *out)
{
    char *with_scheme = NULL;
    if (!strstr(text, "://")) {
        size_t n = strlen(text) + 8;
        if (!(with_scheme = malloc(n)))
            return USOCK_ENOMEM;
        snprintf(with_scheme, n, "http://%s", text);
    }
    usock_url *u;
    int rc = usock_url_parse(with_scheme ? with_scheme : text, &u);
    free(with_scheme);
    if (rc < 0)
        return rc;
    if (strcmp(u->scheme, "http") != 0)
        rc = USOCK_EUNSUPPORTED_SCHEME;
    else if (!u->host || !u->host[0])
        rc = USOCK_EURL_NO_HOST;
    out->port = u->port >= 0 ? u->port : PROXY_PORT;
    if (rc == 0 && !(out->host = strdup(u->host)))
        rc = USOCK_ENOMEM;
    if (rc == 0 && u->user) {
        size_t cap = strlen(u->user) + (u->password ? strlen(u->password) : 0) + 2;
        char *user = malloc(cap), *pass = malloc(cap);
        rc = user && pass ? usock_url_credentials(u, user, cap, pass, cap) : USOCK_ENOMEM;
        if (rc >= 0 && !(out->auth = usock__basic_value(user, pass)))
            rc = USOCK_ENOMEM;
        free(user);
        free(pass);
    }
    usock_url_free(u);
    return rc < 0 ? rc : 0;
}

/* An environment variable as urllib reads it: the lowercase name first;
 * the uppercase one but for HTTP_PROXY in a CGI script (httpoxy). */
static const char *env(const char *lower, const char *upper)
{
    const char *v = getenv(lower);
    if (!v && !(strcmp(upper, "HTTP_PROXY") == 0 && getenv("REQUEST_METHOD")))
        v = getenv(upper);
    return v;
}

/* A proxy of the environment that cannot be used fails the requests
 * that would go through it, not the opener (nor the other scheme's). */
static int env_proxy(const char *text, struct usock__proxy *out, int *err)
{
    if (!text || !text[0])
        return 0;
    int rc = parse_proxy(text, out);
    if (rc == USOCK_ENOMEM)
        return rc;
    *err = rc;
    return 0;
}

int usock__proxies_init(struct usock__proxies *p, const char *proxy, const char *no_proxy)
{
    memset(p, 0, sizeof *p);
    int rc = 0;
    if (proxy && proxy[0]) {
        rc = parse_proxy(proxy, &p->http);
        if (rc == 0)
            rc = parse_proxy(proxy, &p->https);
    } else if (!proxy) {
        rc = env_proxy(env("http_proxy", "HTTP_PROXY"), &p->http, &p->http_err);
        if (rc == 0)
            rc = env_proxy(env("https_proxy", "HTTPS_PROXY"), &p->https, &p->https_err);
    }
    if (!no_proxy)
        no_proxy = env("no_proxy", "NO_PROXY");
    if (rc == 0 && no_proxy && !(p->no_proxy = strdup(no_proxy)))
        rc = USOCK_ENOMEM;
    if (rc < 0)
        usock__proxies_free(p);
    return rc;
}

void usock__proxies_free(struct usock__proxies *p)
{
    free(p->http.host);
    free(p->http.auth);
    free(p->https.host);
    free(p->https.auth);
    free(p->no_proxy);
    memset(p, 0, sizeof *p);
}

/* "10.0.0.0/8" holds host (an IPv4 or IPv6 address); "10.0.0.1/" is
 * that address alone, as curl reads it. */
static int in_cidr(const char *entry, size_t n, const char *host)
{
    char net[64];
    const char *slash = memchr(entry, '/', n);
    if (!slash || (size_t)(slash - entry) >= sizeof net)
        return 0;
    memcpy(net, entry, (size_t)(slash - entry));
    net[slash - entry] = '\0';
    unsigned char a[16], b[16];
    int af = strchr(net, ':') ? AF_INET6 : AF_INET;
    size_t len = af == AF_INET ? 4 : 16;
    char *end;
    long bits = slash + 1 == entry + n ? (long)len * 8 : strtol(slash + 1, &end, 10);
    if (slash + 1 == entry + n)
        end = (char *)entry + n;
    if (end != entry + n || bits < 0 || (size_t)bits > len * 8 ||
        usock_inet_pton(af, net, a) != 0 || usock_inet_pton(af, host, b) != 0)
        return 0;
    for (size_t i = 0; i < len && bits > 0; i++, bits -= 8) {
        unsigned mask = bits >= 8 ? 0xffu : (0xffu << (8 - bits)) & 0xffu;
        if ((a[i] & mask) != (b[i] & mask))
            return 0;
    }
    return 1;
}

/* One no_proxy entry: "*", a host or IP address, a domain (".example.com"
 * or "example.com": the name and every name under it), a CIDR block. */
static int entry_matches(const char *e, size_t n, const char *host)
{
    if (n == 1 && e[0] == '*')
        return 1;
    if (memchr(e, '/', n))
        return in_cidr(e, n, host);
    if (n > 0 && e[0] == '.')
        e++, n--;
    if (n > 2 && e[0] == '[' && e[n - 1] == ']') /* "[::1]" */
        e++, n -= 2;
    unsigned char a[16], b[16];
    char addr[64];
    if (n < sizeof addr && usock_inet_pton(AF_INET6, host, a) == 0) {
        memcpy(addr, e, n); /* the same address however it is spelled */
        addr[n] = '\0';
        return usock_inet_pton(AF_INET6, addr, b) == 0 && memcmp(a, b, 16) == 0;
    }
    size_t h = strlen(host);
    if (n == 0 || n > h || strncasecmp(host + h - n, e, n) != 0)
        return 0;
    /* an address matches itself only, never as a suffix */
    return n == h || (usock_inet_pton(AF_INET, host, a) != 0 && host[h - n - 1] == '.');
}

/* host goes direct: it matches an entry of the comma-separated list. */
static int bypass(const char *list, const char *host)
{
    for (const char *p = list; p && *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",");
        size_t k = n;
        while (k > 0 && (p[k - 1] == ' ' || p[k - 1] == '\t'))
            k--;
        if (k > 0 && entry_matches(p, k, host))
            return 1;
        p += n;
    }
    return 0;
}

const struct usock__proxy *usock__proxy_for(const struct usock__proxies *p,
                                            const usock_urlrequest *r, int *err)
{
    int https = strcmp(r->scheme, "https") == 0;
    const struct usock__proxy *x = https ? &p->https : &p->http;
    *err = 0;
    if (bypass(p->no_proxy, r->host))
        return NULL;
    *err = https ? p->https_err : p->http_err;
    return x->host ? x : NULL;
}
