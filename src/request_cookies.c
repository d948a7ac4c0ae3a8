/* request_cookies.c -- the HTTP client's cookie jar (http.cookiejar in C):
 * RFC 6265's parsing (s5.2), storage (s5.3) and retrieval (s5.4) rules in
 * memory, and the Netscape cookies.txt format that curl reads and writes.
 *
 * The jar is an array in insertion order, bounded (3000 cookies, 50 per
 * domain), so that plain scans are cheap enough; one mutex guards it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "usock/request.h"
#include "usock/socket.h"
#include "usock/url.h"

#define MAX_COOKIES 3000    /* RFC 6265 s6.1: at least 3000 in all */
#define MAX_PER_DOMAIN 50   /* and at least 50 per domain */
#define MAX_NAME_VALUE 4096 /* s6.1: at least 4096 bytes a cookie; curl's bound */
#define MAX_ATTR_VALUE 1024 /* RFC 6265bis: a longer attribute value is ignored */

struct cookie {
    char *name, *value, *domain, *path; /* one allocation, at name */
    int64_t expires;                    /* unix seconds, when persistent */
    uint64_t created;                   /* the jar's creation order */
    uint64_t used;                      /* the jar's order of last access */
    unsigned char persistent, host_only, secure, http_only;
};

struct usock_cookiejar {
    pthread_mutex_t mu;
    struct cookie *v; /* insertion order */
    size_t n, cap;
    uint64_t tick;     /* the counter behind created and used */
    int64_t fixed_now; /* tests: the clock stands here; 0: time() */
};

/* ---- small text helpers ------------------------------------------------- */

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_wsp(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_wsp((*s)[*n - 1]))
        (*n)--;
}

/* s[0 .. n) equals lit, ASCII case-insensitively. */
static int ieq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The control characters that RFC 6265bis refuses in a Set-Cookie
 * line: all but HTAB. */
static int has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 1;
    }
    return 0;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* ---- the request's URL ----------------------------------------------------- */

/* What the jar needs of a request's URL. */
struct origin {
    usock_url *url;
    const char *host; /* lower-case; IPv6 without brackets */
    int is_ip;
    const char *path; /* without query and fragment; "" when empty */
    int secure;       /* https */
};

static int is_ip_literal(const char *host)
{
    unsigned char addr[16];
    /* Host names never hold ':'; IPv6 literals (a zone too) always do. */
    return strchr(host, ':') != NULL || usock_inet_pton(AF_INET, host, addr) == 0;
}

static int origin_parse(struct origin *o, const char *url)
{
    int r = usock_url_parse(url, &o->url);
    if (r < 0)
        return r;
    const usock_url *u = o->url;
    if (!u->scheme)
        r = USOCK_EURL_RELATIVE;
    else if (strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0)
        r = USOCK_EUNSUPPORTED_SCHEME;
    else if (!u->host || !u->host[0])
        r = USOCK_EURL_NO_HOST;
    else if (has_ctl(u->host, strlen(u->host)) || strpbrk(u->host, " \t;"))
        r = USOCK_EURL_BAD_HOST;
    if (r < 0) {
        usock_url_free(o->url);
        return r;
    }
    o->host = u->host;
    o->is_ip = is_ip_literal(u->host);
    o->path = u->path;
    o->secure = strcmp(u->scheme, "https") == 0;
    return 0;
}

/* ---- RFC 6265 s5.1: dates, domains, paths ------------------------------------ */

/* s5.1.1's delimiter. */
static int is_date_delim(unsigned char c)
{
    return c == 0x09 || (c >= 0x20 && c <= 0x2f) || (c >= 0x3b && c <= 0x40) ||
           (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

/* min..max DIGITs at s[0 .. n), then the end or a non-digit: their value,
 * the count in *used; -1 when s does not start so. */
static int date_digits(const char *s, size_t n, size_t min, size_t max, size_t *used)
{
    size_t i = 0;
    int v = 0;
    while (i < n && i < max && is_digit(s[i]))
        v = v * 10 + (s[i++] - '0');
    if (i < min || (i < n && is_digit(s[i])))
        return -1;
    *used = i;
    return v;
}

/* time = hms-time ( non-digit *OCTET ); hms-time = 1*2DIGIT ":" 1*2DIGIT ":" 1*2DIGIT */
static int date_time(const char *t, size_t n, int hms[3])
{
    size_t off = 0, used;
    for (int k = 0; k < 3; k++) {
        hms[k] = date_digits(t + off, n - off, 1, 2, &used);
        if (hms[k] < 0)
            return 0;
        off += used;
        if (k < 2 && (off >= n || t[off++] != ':'))
            return 0;
    }
    return 1;
}

/* month = ( "jan" / ... / "dec" ) *OCTET, case-insensitive: 1..12, or 0. */
static int date_month(const char *t, size_t n)
{
    static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    if (n < 3)
        return 0;
    for (int m = 0; m < 12; m++)
        if (strncasecmp(t, names + 3 * m, 3) == 0)
            return m + 1;
    return 0;
}

static int days_in_month(int year, int month)
{
    static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return days[month - 1] + (month == 2 && leap);
}

/* Days from 1970-01-01 to year-month-day of the proleptic Gregorian
 * calendar (H. Hinnant's days_from_civil), for year >= 1. */
static int64_t days_from_civil(int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = year / 400;
    int64_t yoe = year - era * 400;
    int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* s5.1.1's cookie-date, the forms browsers meet ("Sun, 06 Nov 1994 08:49:37
 * GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", ...):
 * 1 and the unix time in *out, or 0 when s fails to parse. */
static int parse_cookie_date(const char *s, size_t n, int64_t *out)
{
    int have_time = 0, hms[3] = {0, 0, 0}, day = -1, month = 0, year = -1;
    size_t i = 0;
    while (i < n) {
        while (i < n && is_date_delim((unsigned char)s[i]))
            i++;
        const char *t = s + i;
        while (i < n && !is_date_delim((unsigned char)s[i]))
            i++;
        size_t tn = (size_t)(s + i - t), used;
        int v;
        if (tn == 0)
            break;
        if (!have_time && date_time(t, tn, hms))
            have_time = 1;
        else if (day < 0 && (v = date_digits(t, tn, 1, 2, &used)) >= 0)
            day = v;
        else if (!month && (v = date_month(t, tn)) > 0)
            month = v;
        else if (year < 0 && (v = date_digits(t, tn, 2, 4, &used)) >= 0)
            year = v;
    }
    if (year >= 70 && year <= 99)
        year += 1900;
    else if (year >= 0 && year <= 69)
        year += 2000;
    if (!have_time || day < 1 || !month || year < 1601 || hms[0] > 23 || hms[1] > 59 ||
        hms[2] > 59 || day > days_in_month(year, month))
        return 0;
    *out = days_from_civil(year, month, day) * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2];
    return 1;
}

/* s5.2.2: Max-Age's value is [-]1*DIGIT, else the attribute is ignored (0).
 * The expiry in *out: the earliest time there is for <= 0. */
static int parse_max_age(const char *v, size_t n, int64_t now, int64_t *out)
{
    size_t i = v[0] == '-';
    int64_t delta = 0;
    if (i == n)
        return 0;
    for (; i < n; i++) {
        if (!is_digit(v[i]))
            return 0;
        if (delta <= (INT64_MAX - 9) / 10)
            delta = delta * 10 + (v[i] - '0');
        else
            delta = INT64_MAX; /* saturated: later than any date */
    }
    if (v[0] == '-' || delta == 0)
        *out = INT64_MIN;
    else
        *out = delta > INT64_MAX - now ? INT64_MAX : now + delta;
    return 1;
}

/* s5.1.3: host (lower-case; is_ip when an IP literal) domain-matches d. */
static int domain_match(const char *host, int is_ip, const char *d)
{
    size_t hn = strlen(host), dn = strlen(d);
    if (hn == dn)
        return memcmp(host, d, hn) == 0;
    return !is_ip && dn > 0 && hn > dn && host[hn - dn - 1] == '.' &&
           memcmp(host + hn - dn, d, dn) == 0;
}

/* s5.1.4: the request path (rp[0 .. rn), never empty) path-matches cp. */
static int path_match(const char *rp, size_t rn, const char *cp)
{
    size_t cn = strlen(cp);
    if (cn > rn || memcmp(rp, cp, cn) != 0)
        return 0;
    return cn == rn || cp[cn - 1] == '/' || rp[cn] == '/';
}

/* s5.1.4: the default-path of a request's path, as (p, *n) into it or "/". */
static const char *default_path(const char *path, size_t *n)
{
    const char *last = path[0] == '/' ? strrchr(path, '/') : NULL;
    if (!last || last == path) {
        *n = 1;
        return "/";
    }
    *n = (size_t)(last - path);
    return path;
}

/* ---- the jar's storage ---------------------------------------------------- */

static int64_t jar_now(const usock_cookiejar *j)
{
    return j->fixed_now ? j->fixed_now : (int64_t)time(NULL);
}

static int expired(const struct cookie *c, int64_t now)
{
    return c->persistent && c->expires <= now;
}

/* A cookie whose four strings live in one allocation; NULL when out of
 * memory. The domain is lower-cased. */
static struct cookie cookie_make(const char *name, size_t nn, const char *value, size_t vn,
                                 const char *domain, size_t dn, const char *path, size_t pn)
{
    struct cookie c;
    memset(&c, 0, sizeof c);
    char *p = malloc(nn + vn + dn + pn + 4);
    if (!p)
        return c;
    c.name = memcpy(p, name, nn);
    p[nn] = '\0';
    c.value = memcpy(p + nn + 1, value, vn);
    c.value[vn] = '\0';
    c.domain = c.value + vn + 1;
    for (size_t i = 0; i < dn; i++)
        c.domain[i] = lower(domain[i]);
    c.domain[dn] = '\0';
    c.path = memcpy(c.domain + dn + 1, path, pn);
    c.path[pn] = '\0';
    return c;
}

static void jar_remove(usock_cookiejar *j, size_t i)
{
    free(j->v[i].name);
    memmove(&j->v[i], &j->v[i + 1], (j->n - i - 1) * sizeof j->v[0]);
    j->n--;
}

static void jar_purge_expired(usock_cookiejar *j, int64_t now)
{
    for (size_t i = j->n; i-- > 0;)
        if (expired(&j->v[i], now))
            jar_remove(j, i);
}

/* s5.3's eviction: the least recently used cookie of domain (or of the
 * whole jar when domain is NULL) goes. */
static void jar_evict(usock_cookiejar *j, const char *domain)
{
    size_t victim = j->n;
    for (size_t i = 0; i < j->n; i++)
        if ((!domain || strcmp(j->v[i].domain, domain) == 0) &&
            (victim == j->n || j->v[i].used < j->v[victim].used))
            victim = i;
    if (victim < j->n)
        jar_remove(j, victim);
}

/* s5.3 steps 11-12 for a new cookie c (the jar takes it): it replaces the
 * one with its name, domain and path, keeping that one's creation time; an
 * expired c only removes. Returns 1 when stored, 0 when not, or
 * USOCK_ENOMEM. */
static int jar_insert(usock_cookiejar *j, struct cookie *c, int64_t now)
{
    if (j->n == j->cap) {
        size_t cap = j->cap ? 2 * j->cap : 16;
        struct cookie *v = realloc(j->v, cap * sizeof *v);
        if (!v) {
            free(c->name);
            return USOCK_ENOMEM;
        }
        j->v = v;
        j->cap = cap;
    }
    c->created = c->used = ++j->tick;
    for (size_t i = 0; i < j->n; i++) {
        const struct cookie *old = &j->v[i];
        if (strcmp(old->name, c->name) == 0 && strcmp(old->domain, c->domain) == 0 &&
            strcmp(old->path, c->path) == 0) {
            c->created = old->created;
            jar_remove(j, i);
            break;
        }
    }
    jar_purge_expired(j, now);
    if (expired(c, now)) {
        free(c->name);
        return 0;
    }
    size_t same = 0;
    for (size_t i = 0; i < j->n; i++)
        same += strcmp(j->v[i].domain, c->domain) == 0;
    if (same >= MAX_PER_DOMAIN)
        jar_evict(j, c->domain);
    if (j->n >= MAX_COOKIES)
        jar_evict(j, NULL);
    j->v[j->n++] = *c;
    return 1;
}

/* ---- RFC 6265 s5.2: Set-Cookie ------------------------------------------- */

/* A Set-Cookie line's parts: views into it. */
struct set_cookie {
    const char *name, *value;
    size_t nn, vn;
    const char *domain; /* NULL: none; after a leading '.' went */
    size_t dn;
    const char *path; /* NULL: the default path */
    size_t pn;
    int has_expires, has_max_age, secure, http_only;
    int64_t expires, max_age;
};

/* One cookie-av (s5.2.1 steps 2-6): name an[0 .. ann), value av[0 .. avn). */
static void parse_attribute(struct set_cookie *p, const char *an, size_t ann, const char *av,
                            size_t avn, int64_t now)
{
    int64_t t;
    if (avn > MAX_ATTR_VALUE)
        return;
    if (ieq(an, ann, "expires")) {
        if (parse_cookie_date(av, avn, &t)) {
            p->expires = t;
            p->has_expires = 1;
        }
    } else if (ieq(an, ann, "max-age")) {
        if (avn > 0 && (is_digit(av[0]) || av[0] == '-') && parse_max_age(av, avn, now, &t)) {
            p->max_age = t;
            p->has_max_age = 1;
        }
    } else if (ieq(an, ann, "domain")) {
        /* s5.2.3: an empty value is ignored; a leading '.' is dropped. */
        if (avn == 0)
            return;
        if (av[0] == '.') {
            av++;
            avn--;
        }
        p->domain = av;
        p->dn = avn;
    } else if (ieq(an, ann, "path")) {
        /* s5.2.4: a value that does not start with '/' means the default. */
        if (memchr(av, '\t', avn))
            return; /* it would break the cookies.txt line */
        p->path = avn > 0 && av[0] == '/' ? av : NULL;
        p->pn = avn;
    } else if (ieq(an, ann, "secure")) {
        p->secure = 1;
    } else if (ieq(an, ann, "httponly")) {
        p->http_only = 1;
    }
}

/* s5.2: 1 when sc is a cookie (its parts in *p), 0 when it is ignored. */
static int parse_set_cookie(const char *sc, int64_t now, struct set_cookie *p)
{
    memset(p, 0, sizeof *p);
    if (has_ctl(sc, strlen(sc)))
        return 0;
    size_t nv = strcspn(sc, ";");
    const char *eq = memchr(sc, '=', nv);
    if (!eq)
        return 0;
    p->name = sc;
    p->nn = (size_t)(eq - sc);
    p->value = eq + 1;
    p->vn = (size_t)(sc + nv - p->value);
    trim(&p->name, &p->nn);
    trim(&p->value, &p->vn);
    /* An empty name is ignored (s5.2 step 5); a TAB inside would break
     * the cookies.txt line, and 4096 bytes is where curl stops too. */
    if (p->nn == 0 || p->nn + p->vn > MAX_NAME_VALUE || memchr(p->name, '\t', p->nn) ||
        memchr(p->value, '\t', p->vn))
        return 0;
    for (const char *a = sc + nv; *a == ';';) {
        a++;
        size_t an = strcspn(a, ";");
        const char *aeq = memchr(a, '=', an);
        const char *name = a, *value = aeq ? aeq + 1 : a + an;
        size_t nn = (size_t)((aeq ? aeq : a + an) - a), vn = (size_t)(a + an - value);
        trim(&name, &nn);
        trim(&value, &vn);
        parse_attribute(p, name, nn, value, vn, now);
        a += an;
    }
    return 1;
}

/* s5.3 steps 4-6: the cookie's domain (d, *dn) and host-only flag, or 0
 * when the cookie must be ignored. */
static int cookie_domain(const struct set_cookie *p, const struct origin *o, const char **d,
                         size_t *dn, int *host_only)
{
    char dom[256];
    if (!p->domain || p->dn == 0) {
        *d = o->host;
        *dn = strlen(o->host);
        *host_only = 1;
        return 1;
    }
    if (p->dn >= sizeof dom)
        return 0;
    for (size_t i = 0; i < p->dn; i++)
        dom[i] = lower(p->domain[i]);
    dom[p->dn] = '\0';
    /* Without a public suffix list, a single label ("com", "localhost")
     * stands for a public suffix: only the host itself may name it, and
     * the cookie is then host-only (step 5). An IP address only ever
     * domain-matches itself, and its cookie is host-only too. */
    int ip = is_ip_literal(dom), single = !ip && !strchr(dom, '.');
    if ((single && strcmp(dom, o->host) != 0) || !domain_match(o->host, o->is_ip, dom))
        return 0;
    /* The host ends with dom (domain_match): keep that, not the buffer. */
    *d = o->host + strlen(o->host) - p->dn;
    *dn = p->dn;
    *host_only = ip || single;
    return 1;
}

/* s5.3 for a parsed Set-Cookie: 1 when stored, 0 when ignored or only a
 * removal, USOCK_ENOMEM. */
static int store_set_cookie(usock_cookiejar *j, const struct set_cookie *p, const struct origin *o,
                            int64_t now)
{
    const char *domain, *path = p->path;
    size_t dn, pn = p->pn;
    int host_only;
    if (!cookie_domain(p, o, &domain, &dn, &host_only))
        return 0;
    /* RFC 6265bis's storage model, as curl does: only a secure origin sets a
     * Secure cookie. */
    if (p->secure && !o->secure)
        return 0;
    if (!path)
        path = default_path(o->path, &pn);
    struct cookie c = cookie_make(p->name, p->nn, p->value, p->vn, domain, dn, path, pn);
    if (!c.name)
        return USOCK_ENOMEM;
    c.persistent = p->has_max_age || p->has_expires;
    c.expires = p->has_max_age ? p->max_age : p->expires;
    c.host_only = (unsigned char)host_only;
    c.secure = (unsigned char)p->secure;
    c.http_only = (unsigned char)p->http_only;
    return jar_insert(j, &c, now);
}

/* ---- the public calls ------------------------------------------------------- */

USOCK_API int usock_cookiejar_new(usock_cookiejar **out)
{
    if (!out)
        return USOCK_EINVAL;
    *out = NULL;
    usock_cookiejar *j = calloc(1, sizeof *j);
    if (!j)
        return USOCK_ENOMEM;
    int r = pthread_mutex_init(&j->mu, NULL);
    if (r != 0) {
        free(j);
        return -r;
    }
    *out = j;
    return 0;
}

USOCK_API void usock_cookiejar_free(usock_cookiejar *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->n; i++)
        free(j->v[i].name);
    free(j->v);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

/* For tests (test_cookies.c declares it too): the jar's clock stands at
 * now (unix seconds) until set back to 0, the system's clock. */
void usock__cookiejar_set_clock(usock_cookiejar *j, int64_t now);
void usock__cookiejar_set_clock(usock_cookiejar *j, int64_t now)
{
    pthread_mutex_lock(&j->mu);
    j->fixed_now = now;
    pthread_mutex_unlock(&j->mu);
}

USOCK_API int usock_cookiejar_set(usock_cookiejar *j, const char *url, const char *set_cookie)
{
    if (!j || !url || !set_cookie)
        return USOCK_EINVAL;
    struct origin o;
    int r = origin_parse(&o, url);
    if (r < 0)
        return r;
    pthread_mutex_lock(&j->mu);
    int64_t now = jar_now(j);
    struct set_cookie p;
    if (parse_set_cookie(set_cookie, now, &p))
        r = store_set_cookie(j, &p, &o, now);
    pthread_mutex_unlock(&j->mu);
    usock_url_free(o.url);
    return r;
}

/* s5.4 step 2: longer paths first, then earlier creation. */
static int header_order(const void *a, const void *b)
{
    const struct cookie *x = *(const struct cookie *const *)a;
    const struct cookie *y = *(const struct cookie *const *)b;
    size_t xn = strlen(x->path), yn = strlen(y->path);
    if (xn != yn)
        return xn > yn ? -1 : 1;
    return x->created < y->created ? -1 : x->created > y->created;
}

/* s5.4 steps 1 and 3-4 under the jar's lock: the cookies for o, sorted, in
 * a new array *out; their count. */
static int header_cookies(usock_cookiejar *j, const struct origin *o, struct cookie ***out)
{
    const char *rp = o->path[0] == '/' ? o->path : "/";
    size_t rn = strlen(rp), k = 0;
    *out = NULL;
    if (j->n == 0)
        return 0;
    struct cookie **list = malloc(j->n * sizeof *list);
    if (!list)
        return USOCK_ENOMEM;
    for (size_t i = 0; i < j->n; i++) {
        struct cookie *c = &j->v[i];
        int dom = c->host_only ? strcmp(o->host, c->domain) == 0
                               : domain_match(o->host, o->is_ip, c->domain);
        if (dom && path_match(rp, rn, c->path) && (!c->secure || o->secure))
            list[k++] = c;
    }
    qsort(list, k, sizeof *list, header_order);
    *out = list;
    return (int)k;
}

USOCK_API int usock_cookiejar_header(usock_cookiejar *j, const char *url, char *buf, size_t cap)
{
    if (!j || !url || (!buf && cap > 0))
        return USOCK_EINVAL;
    if (cap > 0)
        buf[0] = '\0';
    struct origin o;
    int r = origin_parse(&o, url);
    if (r < 0)
        return r;
    struct cookie **list;
    pthread_mutex_lock(&j->mu);
    jar_purge_expired(j, jar_now(j));
    int k = header_cookies(j, &o, &list);
    size_t len = 0;
    for (int i = 0; i < k; i++)
        len += (i > 0 ? 2 : 0) + strlen(list[i]->name) + 1 + strlen(list[i]->value);
    if (k > 0 && len >= cap)
        r = USOCK_ENOSPC;
    else if (k < 0)
        r = k;
    for (int i = 0, off = 0; r == 0 && i < k; i++) {
        off += snprintf(buf + off, cap - (size_t)off, "%s%s=%s", i > 0 ? "; " : "", list[i]->name,
                        list[i]->value);
        list[i]->used = ++j->tick;
    }
    pthread_mutex_unlock(&j->mu);
    free(list);
    usock_url_free(o.url);
    return r < 0 ? r : (int)len;
}

USOCK_API size_t usock_cookiejar_count(usock_cookiejar *j)
{
    if (!j)
        return 0;
    pthread_mutex_lock(&j->mu);
    jar_purge_expired(j, jar_now(j));
    size_t n = j->n;
    pthread_mutex_unlock(&j->mu);
    return n;
}

/* ---- cookies.txt ------------------------------------------------------------- */

#define HTTPONLY_PREFIX "#HttpOnly_"

/* A TRUE/FALSE field: 1, 0, or -1. */
static int bool_field(const char *s)
{
    return strcasecmp(s, "TRUE") == 0 ? 1 : strcasecmp(s, "FALSE") == 0 ? 0 : -1;
}

/* Name and value are written "name=value" into a header: no controls, no
 * ';', and no '=' in the name. */
static int cookie_text_ok(const char *s, int is_name)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == ';' || (is_name && *s == '='))
            return 0;
    return 1;
}

/* One line of a cookies.txt (its '\n' gone): 1 and a cookie in *c, 0 for
 * a comment or a blank line, or USOCK_ECOOKIE_FILE, USOCK_ENOMEM. */
static int parse_line(char *line, size_t len, struct cookie *c)
{
    int http_only = 0;
    if (strlen(line) != len)
        return USOCK_ECOOKIE_FILE; /* a NUL byte */
    if (len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
    while (is_wsp(*line))
        line++;
    if (strncmp(line, HTTPONLY_PREFIX, strlen(HTTPONLY_PREFIX)) == 0) {
        http_only = 1;
        line += strlen(HTTPONLY_PREFIX);
    } else if (line[0] == '#' || line[0] == '\0') {
        return 0;
    }
    const char *f[8];
    int nf = 0;
    for (char *p = line; nf < 8; p++) {
        f[nf++] = p;
        p = strchr(p, '\t');
        if (!p)
            break;
        *p = '\0';
    }
    if (nf == 6) /* curl's reading of a line whose value is empty */
        f[nf++] = "";
    if (nf != 7)
        return USOCK_ECOOKIE_FILE;
    const char *domain = f[0] + (f[0][0] == '.');
    char *end;
    int subdomains = bool_field(f[1]), secure = bool_field(f[3]);
    errno = 0;
    long long expires = strtoll(f[4], &end, 10);
    if (!domain[0] || strlen(domain) > 255 || !cookie_text_ok(domain, 0) || strchr(domain, ' ') ||
        subdomains < 0 || f[2][0] != '/' || !cookie_text_ok(f[2], 0) || secure < 0 ||
        !is_digit(f[4][0]) || *end || errno || !f[5][0] || !cookie_text_ok(f[5], 1) ||
        !cookie_text_ok(f[6], 0) || strlen(f[5]) + strlen(f[6]) > MAX_NAME_VALUE)
        return USOCK_ECOOKIE_FILE;
    *c = cookie_make(f[5], strlen(f[5]), f[6], strlen(f[6]), domain, strlen(domain), f[2],
                     strlen(f[2]));
    if (!c->name)
        return USOCK_ENOMEM;
    /* As for Set-Cookie: an IP address or a single label ("com") covers
     * only itself. */
    c->host_only = !subdomains || is_ip_literal(c->domain) || !strchr(c->domain, '.');
    c->secure = (unsigned char)secure;
    c->http_only = (unsigned char)http_only;
    c->persistent = expires != 0;
    c->expires = expires;
    return 1;
}

/* Every cookie of the file at path, in file order, into a new array. */
static int read_file(const char *path, struct cookie **out, size_t *count)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    struct cookie *v = NULL, c;
    size_t n = 0, cap = 0, lcap = 0;
    char *line = NULL;
    ssize_t len;
    int r = 0;
    while (r >= 0 && (len = getline(&line, &lcap, f)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        r = parse_line(line, (size_t)len, &c);
        if (r == 1 && n == cap) {
            struct cookie *nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof *v);
            if (!nv) {
                free(c.name);
                r = USOCK_ENOMEM;
                break;
            }
            v = nv;
        }
        if (r == 1)
            v[n++] = c;
    }
    if (r >= 0 && ferror(f))
        r = errno > 0 ? -errno : USOCK_EIO;
    free(line);
    fclose(f);
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            free(v[i].name);
        free(v);
        return r;
    }
    *out = v;
    *count = n;
    return 0;
}

USOCK_API int usock_cookiejar_load(usock_cookiejar *j, const char *path)
{
    if (!j || !path)
        return USOCK_EINVAL;
    struct cookie *v = NULL;
    size_t n = 0, i = 0;
    int r = read_file(path, &v, &n), stored = 0;
    if (r < 0)
        return r;
    pthread_mutex_lock(&j->mu);
    int64_t now = jar_now(j);
    for (; i < n && r >= 0; i++) {
        r = jar_insert(j, &v[i], now);
        stored += r > 0;
    }
    pthread_mutex_unlock(&j->mu);
    for (; i < n; i++) /* what an ENOMEM left */
        free(v[i].name);
    free(v);
    return r < 0 ? r : stored;
}

static int created_order(const void *a, const void *b)
{
    const struct cookie *x = *(const struct cookie *const *)a;
    const struct cookie *y = *(const struct cookie *const *)b;
    return x->created < y->created ? -1 : x->created > y->created;
}

static const char file_header[] =
    "# Netscape HTTP Cookie File\n"
    "# https://curl.se/docs/http-cookies.html\n"
    "# This file was generated by usock. Edit at your own risk.\n\n";

/* The jar as cookies.txt text, cookies in creation order, into a new
 * string *out (its length in *len); the number of cookies. */
static int format_jar(usock_cookiejar *j, char **out, size_t *len)
{
    size_t size = sizeof file_header, n = j->n;
    struct cookie **list = malloc((n ? n : 1) * sizeof *list);
    if (!list)
        return USOCK_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct cookie *c = list[i] = &j->v[i];
        size += 64 + strlen(c->name) + strlen(c->value) + strlen(c->domain) + strlen(c->path);
    }
    qsort(list, n, sizeof *list, created_order);
    char *text = malloc(size);
    if (!text) {
        free(list);
        return USOCK_ENOMEM;
    }
    size_t off = (size_t)snprintf(text, size, "%s", file_header);
    for (size_t i = 0; i < n; i++) {
        const struct cookie *c = list[i];
        off += (size_t)snprintf(text + off, size - off, "%s%s%s\t%s\t%s\t%s\t%" PRId64 "\t%s\t%s\n",
                                c->http_only ? HTTPONLY_PREFIX : "", c->host_only ? "" : ".",
                                c->domain, c->host_only ? "FALSE" : "TRUE", c->path,
                                c->secure ? "TRUE" : "FALSE", c->persistent ? c->expires : 0,
                                c->name, c->value);
    }
    free(list);
    *out = text;
    *len = off;
    return (int)n;
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

/* Replaces the file at path with text at once: a temporary file beside
 * it, synced, then renamed over it, so that a reader sees the old file or
 * the new one, never a part. A path that names something other than a
 * regular file (/dev/null, a FIFO) is written in place. */
static int write_file(const char *path, const char *text, size_t len)
{
    struct stat st;
    int exists = stat(path, &st) == 0, r;
    if (exists && !S_ISREG(st.st_mode)) {
        int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        r = write_all(fd, text, len);
        if (close(fd) < 0 && r == 0)
            r = -errno;
        return r;
    }
    size_t pn = strlen(path);
    char *tmp = malloc(pn + sizeof ".XXXXXX");
    if (!tmp)
        return USOCK_ENOMEM;
    memcpy(tmp, path, pn);
    memcpy(tmp + pn, ".XXXXXX", sizeof ".XXXXXX");
    /* Created 0600 (cookies are credentials); a file replaced keeps its mode. */
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        free(tmp);
        return r;
    }
    r = exists && fchmod(fd, st.st_mode & 07777) < 0 ? -errno : 0;
    if (r == 0)
        r = write_all(fd, text, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0)
        unlink(tmp);
    free(tmp);
    return r;
}

USOCK_API int usock_cookiejar_save(usock_cookiejar *j, const char *path)
{
    if (!j || !path)
        return USOCK_EINVAL;
    char *text;
    size_t len;
    pthread_mutex_lock(&j->mu);
    jar_purge_expired(j, jar_now(j));
    int n = format_jar(j, &text, &len);
    pthread_mutex_unlock(&j->mu);
    if (n < 0)
        return n;
    int r = write_file(path, text, len);
    free(text);
    return r < 0 ? r : n;
}
