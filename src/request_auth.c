/* request_auth.c -- Basic authentication for the HTTP client: the password
 * manager (urllib's HTTPPasswordMgr and HTTPPasswordMgrWithDefaultRealm:
 * credentials keyed by realm and URI prefix), the Basic header value, and
 * the realm of a WWW-Authenticate challenge. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "request_priv.h"

struct entry {
    char *realm; /* NULL: the default realm */
    char *host;  /* lowercased by the url layer */
    int port;    /* -1: the default port of the request's scheme */
    char *path;  /* a prefix of the paths covered; "/" at least */
    char *user, *password;
};

struct usock_passwords {
    pthread_mutex_t mu;
    int default_realm;
    struct entry *v;
    size_t n, cap;
};

USOCK_API int usock_passwords_new(usock_passwords **out, int default_realm)
{
    if (!out)
        return USOCK_EINVAL;
    usock_passwords *p = calloc(1, sizeof *p);
    if (!p)
        return USOCK_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    p->default_realm = default_realm != 0;
    *out = p;
    return 0;
}

static void entry_free(struct entry *e)
{
    free(e->realm);
    free(e->host);
    free(e->path);
    free(e->user);
    free(e->password);
}

USOCK_API void usock_passwords_free(usock_passwords *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        entry_free(&p->v[i]);
    free(p->v);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* urllib's reduce_uri: a URL gives its host, port (the scheme's default
 * when absent) and path; "host[:port][/path]" without a scheme gives its
 * host and port (-1 when absent: any scheme's default). */
static int reduce(const char *uri, char **host, int *port, char **path)
{
    usock_url *u = NULL;
    int rc;
    if (strstr(uri, "://")) {
        rc = usock_url_parse(uri, &u);
        if (rc == 0 && (!u->host || !u->host[0]))
            rc = USOCK_EURL_NO_HOST;
        if (rc == 0)
            rc = *port = usock_url_port(u);
    } else {
        size_t n = strlen(uri);
        char *t = malloc(n + 3);
        if (!t)
            return USOCK_ENOMEM;
        memcpy(t, "//", 2);
        memcpy(t + 2, uri, n + 1);
        rc = usock_url_parse(t, &u);
        free(t);
        if (rc == 0 && (!u->host || !u->host[0]))
            rc = USOCK_EURL_NO_HOST;
        if (rc == 0)
            *port = u->port;
    }
    if (rc >= 0) {
        *host = strdup(u->host);
        *path = strdup(u->path[0] ? u->path : "/");
        rc = *host && *path ? 0 : USOCK_ENOMEM;
        if (rc < 0) {
            free(*host);
            free(*path);
        }
    }
    usock_url_free(u);
    return rc;
}

static char *dup_or_null(const char *s, int *fail)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *fail = 1;
    return d;
}

USOCK_API int usock_passwords_add(usock_passwords *p, const char *realm, const char *uri,
                                  const char *user, const char *password)
{
    if (!p || !uri || !user || !password || strchr(user, ':'))
        return USOCK_EINVAL;
    struct entry e = {0};
    int rc = reduce(uri, &e.host, &e.port, &e.path);
    if (rc < 0)
        return rc;
    int fail = 0;
    e.realm = dup_or_null(realm, &fail);
    e.user = dup_or_null(user, &fail);
    e.password = dup_or_null(password, &fail);
    pthread_mutex_lock(&p->mu);
    if (!fail && p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        struct entry *v = realloc(p->v, cap * sizeof *v);
        if (v) {
            p->v = v;
            p->cap = cap;
        } else {
            fail = 1;
        }
    }
    if (!fail)
        p->v[p->n++] = e;
    pthread_mutex_unlock(&p->mu);
    if (fail) {
        entry_free(&e);
        return USOCK_ENOMEM;
    }
    return 0;
}

/* What a request URL is matched with. */
struct target {
    usock_url *u;
    int port, default_port;
    const char *path;
};

/* urllib's is_suburi: the same path, or one under base's path as a
 * directory ("/a" covers "/a" and "/a/b", not "/ab"). */
static int covers(const struct entry *e, const struct target *t)
{
    if (strcmp(e->host, t->u->host) != 0)
        return 0;
    if (e->port != t->port && !(e->port == -1 && t->port == t->default_port))
        return 0;
    size_t n = strlen(e->path);
    if (strcmp(e->path, t->path) == 0)
        return 1;
    if (strncmp(e->path, t->path, n) != 0)
        return 0;
    return e->path[n - 1] == '/' || t->path[n] == '/';
}

static int realm_is(const struct entry *e, const char *realm)
{
    if (!realm)
        return e->realm == NULL;
    return e->realm && strcmp(e->realm, realm) == 0;
}

/* The matching entry: for realm; then the default realm's (the default
 * realm manager, or a preemptive lookup, any_realm); then, preemptively,
 * any realm's. Under the mutex. */
static const struct entry *find(const usock_passwords *p, const char *realm, int any_realm,
                                const struct target *t)
{
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 0 && any_realm)
            continue;
        if (pass == 1 && !(p->default_realm || any_realm))
            continue;
        if (pass == 2 && !any_realm)
            continue;
        for (size_t i = 0; i < p->n; i++) {
            const struct entry *e = &p->v[i];
            int rm = pass == 0 ? realm_is(e, realm) : pass == 1 ? e->realm == NULL : 1;
            if (rm && covers(e, t))
                return e;
        }
    }
    return NULL;
}

char *usock__basic_value(const char *user, const char *password)
{
    size_t un = strlen(user), pn = strlen(password);
    char *plain = malloc(un + pn + 2);
    if (!plain)
        return NULL;
    memcpy(plain, user, un);
    plain[un] = ':';
    memcpy(plain + un + 1, password, pn + 1);
    size_t cap = 6 + USOCK_BASE64_LEN(un + pn + 1) + 1;
    char *out = malloc(cap);
    if (out) {
        memcpy(out, "Basic ", 6);
        if (usock_base64_encode(plain, un + pn + 1, out + 6, cap - 6) < 0) {
            free(out);
            out = NULL;
        }
    }
    free(plain);
    return out;
}

int usock__passwords_basic(usock_passwords *p, const char *realm, int any_realm, const char *url,
                           char **out)
{
    *out = NULL;
    struct target t = {0};
    int rc = usock_url_parse(url, &t.u);
    if (rc < 0)
        return rc;
    if (!t.u->scheme || !t.u->host) {
        usock_url_free(t.u);
        return 0;
    }
    t.port = usock_url_port(t.u);
    usock_url tmp = *t.u;
    tmp.port = -1;
    t.default_port = usock_url_port(&tmp);
    t.path = t.u->path[0] ? t.u->path : "/";
    pthread_mutex_lock(&p->mu);
    const struct entry *e = find(p, realm, any_realm, &t);
    if (e)
        *out = usock__basic_value(e->user, e->password);
    pthread_mutex_unlock(&p->mu);
    usock_url_free(t.u);
    if (!e)
        return 0;
    return *out ? 1 : USOCK_ENOMEM;
}

/* ---- WWW-Authenticate ------------------------------------------------------
 * As urllib's AbstractBasicAuthHandler: a challenge "Basic" followed by
 * parameters, one of which is realm (quoted or a token). */

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* A token or quoted-string value at *s into out; *s moves past it. */
static void param_value(const char **s, char *out, size_t cap)
{
    const char *p = *s;
    size_t n = 0;
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1])
                p++;
            if (n + 1 < cap)
                out[n++] = *p;
        }
        if (*p == '"')
            p++;
    } else {
        for (; *p && *p != ',' && *p != ' ' && *p != '\t'; p++)
            if (n + 1 < cap)
                out[n++] = *p;
    }
    out[n] = '\0';
    *s = p;
}

/* Looks for a Basic challenge in one header value: 1 and its realm ("" when
 * it names none), or 0. */
static int basic_in(const char *v, char *realm, size_t cap)
{
    const char *s = v;
    while (*s) {
        s = skip_ws(s);
        const char *tok = s;
        while (*s && *s != ' ' && *s != '\t' && *s != ',' && *s != '=')
            s++;
        size_t tn = (size_t)(s - tok);
        const char *after = skip_ws(s);
        if (tn == 5 && strncasecmp(tok, "Basic", 5) == 0 && *after != '=') {
            realm[0] = '\0';
            s = after;
            /* Its parameters, up to the next challenge. */
            while (*s) {
                const char *name = s;
                while (*s && *s != '=' && *s != ',' && *s != ' ' && *s != '\t')
                    s++;
                size_t nn = (size_t)(s - name);
                s = skip_ws(s);
                if (*s != '=')
                    break; /* the next challenge's scheme */
                s = skip_ws(s + 1);
                char val[256];
                param_value(&s, val, sizeof val);
                if (nn == 5 && strncasecmp(name, "realm", 5) == 0)
                    snprintf(realm, cap, "%s", val);
                s = skip_ws(s);
                while (*s == ',')
                    s = skip_ws(s + 1);
            }
            return 1;
        }
        /* Past this element (a scheme, a parameter, a token68). */
        if (*after == '=') {
            s = skip_ws(after + 1);
            char val[8];
            param_value(&s, val, sizeof val);
        }
        while (*s && *s != ',' && *s != ' ' && *s != '\t')
            s++;
        while (*s == ',' || *s == ' ' || *s == '\t')
            s++;
    }
    return 0;
}

int usock__basic_realm(const usock_response *res, char *realm, size_t cap)
{
    const char *name, *value;
    for (size_t i = 0; usock_response_header_at(res, i, &name, &value); i++)
        if (strcasecmp(name, "WWW-Authenticate") == 0 && basic_in(value, realm, cap))
            return 1;
    return 0;
}
