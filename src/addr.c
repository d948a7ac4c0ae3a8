/* addr.c -- addresses: text <-> binary IPs and the "host:port" forms.
 *
 * Written by hand rather than calling the platform's inet_pton/inet_ntop so
 * that every port (lwIP included) accepts and prints exactly what glibc 2.36
 * does; tests/unit/test_addr.c and fuzz/fuzz_inet.c compare the two. */
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/un.h>

#include "internal.h"
#include "platform/platform.h"

/* ---- text to binary ---------------------------------------------------- */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Dotted quad in [s, end): exactly four decimal parts 0..255 and no leading
 * zeros, since a leading zero means octal to inet_aton and glibc's
 * inet_pton refuses to guess. Returns 1 when valid; out is written only
 * then, as glibc does (and as ip_to_addr relies on). */
static int pton4(const char *s, const char *end, unsigned char out[4])
{
    unsigned char tmp[4];
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (s == end || *s != '.')
                return 0;
            s++;
        }
        if (s == end || !is_digit(*s))
            return 0;
        unsigned v = 0;
        const char *start = s;
        while (s != end && is_digit(*s)) {
            if (s != start && *start == '0')
                return 0;
            v = v * 10 + (unsigned)(*s++ - '0');
            if (v > 255)
                return 0;
        }
        tmp[part] = (unsigned char)v;
    }
    if (s != end)
        return 0;
    memcpy(out, tmp, 4);
    return 1;
}

/* IPv6 text in [s, end): groups of 1-4 hex digits, at most one "::", a
 * dotted quad only as the last 32 bits. Returns 1 when valid. */
static int pton6(const char *s, const char *end, unsigned char out[16])
{
    unsigned char tmp[16] = {0};
    int n = 0;    /* bytes filled in tmp */
    int gap = -1; /* where "::" stands, as a byte offset */

    if (s != end && *s == ':') {
        /* Only "::" may open an address; its second colon is read below. */
        if (end - s < 2 || s[1] != ':')
            return 0;
        s++;
    }
    while (s != end) {
        if (*s == ':') { /* a colon right after a separator: "::" */
            if (gap >= 0)
                return 0;
            gap = n;
            s++;
            continue;
        }
        const char *group = s;
        unsigned v = 0;
        int digits = 0;
        for (; s != end && usock__hex_value((unsigned char)*s) >= 0; s++) {
            if (++digits > 4)
                return 0;
            v = v << 4 | (unsigned)usock__hex_value((unsigned char)*s);
        }
        if (s != end && *s == '.') {
            /* The IPv4 tail runs to the end of the text. */
            if (n > 12 || !pton4(group, end, tmp + n))
                return 0;
            n += 4;
            break;
        }
        if (digits == 0 || n == 16)
            return 0;
        tmp[n++] = (unsigned char)(v >> 8);
        tmp[n++] = (unsigned char)v;
        if (s != end) {
            if (*s != ':' || s + 1 == end) /* a text may not end in one ':' */
                return 0;
            s++;
        }
    }
    if (gap >= 0) {
        if (n == 16) /* "::" must stand for at least one group */
            return 0;
        memmove(tmp + 16 - (n - gap), tmp + gap, (size_t)(n - gap));
        memset(tmp + gap, 0, (size_t)(16 - n));
    } else if (n != 16) {
        return 0;
    }
    memcpy(out, tmp, 16);
    return 1;
}

int usock_inet_pton(int af, const char *src, void *dst)
{
    if (!src || !dst)
        return USOCK_EINVAL;
    const char *end = src + strlen(src);
    if (af == AF_INET)
        return pton4(src, end, dst) ? 0 : USOCK_EINVAL;
    if (af == AF_INET6)
        return pton6(src, end, dst) ? 0 : USOCK_EINVAL;
    return USOCK_EAFNOSUPPORT;
}

/* ---- binary to text ---------------------------------------------------- */

/* Writes v in decimal at p (no NUL); returns the digit count. */
static int put_dec(char *p, unsigned long v)
{
    char rev[20];
    int n = 0;
    do {
        rev[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++)
        p[i] = rev[n - 1 - i];
    return n;
}

/* Writes v in lowercase hex without leading zeros; returns the count. */
static int put_hex(char *p, unsigned v)
{
    static const char digits[] = "0123456789abcdef";
    int n = 0;
    for (int shift = 12; shift >= 0; shift -= 4)
        if ((v >> shift) != 0 || shift == 0)
            p[n++] = digits[(v >> shift) & 15];
    return n;
}

/* The following helpers write at most 16 (IPv4) or 46 bytes plus NUL. */
static int ntop4(const unsigned char *b, char *p)
{
    int n = 0;
    for (int i = 0; i < 4; i++) {
        if (i > 0)
            p[n++] = '.';
        n += put_dec(p + n, b[i]);
    }
    p[n] = '\0';
    return n;
}

static int ntop6(const unsigned char *b, char *p)
{
    unsigned w[8];
    int best = -1, best_len = 0;
    for (int i = 0; i < 8; i++)
        w[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
    /* The longest run of zero groups, the first one on a tie; RFC 5952
     * 4.2.2 leaves a single zero group alone. */
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && w[j] == 0)
            j++;
        if (j - i > best_len && j - i >= 2) {
            best = i;
            best_len = j - i;
        }
        i = j > i ? j : i + 1;
    }
    int n = 0;
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            p[n++] = ':';
            i += best_len - 1;
            if (i == 7)
                p[n++] = ':';
            continue;
        }
        if (i > 0)
            p[n++] = ':';
        /* glibc prints the last 32 bits dotted for ::ffff:0:0/96 and for
         * the old IPv4-compatible ::/96, except :: and ::x that look like
         * ordinary small addresses (::1 stays ::1; ::2:3 is ::0.2.0.3). */
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff)))
            return n + ntop4(b + 12, p + n);
        n += put_hex(p + n, w[i]);
    }
    p[n] = '\0';
    return n;
}

/* Copies the n-byte text (plus NUL) into dst when it fits. */
static int copy_out(const char *text, int n, char *dst, size_t cap)
{
    if ((size_t)n >= cap) {
        if (cap > 0)
            dst[0] = '\0';
        return USOCK_ENOSPC;
    }
    memcpy(dst, text, (size_t)n + 1);
    return n;
}

int usock_inet_ntop(int af, const void *src, char *dst, size_t cap)
{
    char tmp[INET6_ADDRSTRLEN];
    int n;
    if (!src || (!dst && cap > 0))
        return USOCK_EINVAL;
    if (af == AF_INET)
        n = ntop4(src, tmp);
    else if (af == AF_INET6)
        n = ntop6(src, tmp);
    else
        return USOCK_EAFNOSUPPORT;
    return copy_out(tmp, n, dst, cap);
}

/* ---- addresses --------------------------------------------------------- */

/* Characters an interface name may hold here: printable ASCII other than
 * what Linux refuses in names ('/', ':', space) and what would make the
 * "[addr%scope]:port" form ambiguous. */
static int is_scope_char(char c)
{
    return c > ' ' && c < 127 && !strchr("/:%[]", c);
}

/* True when usock_addr_parse would read name back as this name: not all
 * digits (that is an index) and nothing outside is_scope_char. */
static int name_reads_back(const char *name)
{
    size_t n = strnlen(name, IF_NAMESIZE);
    int digits = 0;
    if (n == 0 || n == IF_NAMESIZE)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_scope_char(name[i]))
            return 0;
        digits += is_digit(name[i]);
    }
    return (size_t)digits != n;
}

/* The scope in [s, end): an interface index in decimal, or a name. */
static int parse_scope(const char *s, const char *end, uint32_t *index)
{
    size_t n = (size_t)(end - s);
    const char *p = s;
    uint64_t v = 0;
    if (n == 0)
        return USOCK_EINVAL;
    while (p != end && is_digit(*p)) {
        v = v * 10 + (uint64_t)(*p++ - '0');
        if (v > UINT32_MAX)
            return USOCK_EINVAL;
    }
    if (p == end) {
        *index = (uint32_t)v;
        return 0;
    }
    for (p = s; p != end; p++)
        if (!is_scope_char(*p))
            return USOCK_EINVAL;
    char name[IF_NAMESIZE];
    if (n >= sizeof name)
        return USOCK_ENODEV; /* longer than any interface name */
    memcpy(name, s, n);
    name[n] = '\0';
    unsigned i = usock__sys_if_nametoindex(name);
    if (i == 0)
        return USOCK_ENODEV;
    *index = i;
    return 0;
}

/* Fills *out from the IP text in [s, end) ("" is the IPv4 any address) and
 * a port already checked. v6_only: the text stood in brackets. */
static int ip_to_addr(usock_addr *out, const char *s, const char *end, int port, int v6_only)
{
    memset(out, 0, sizeof *out);
    struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
    if (!v6_only && (s == end || pton4(s, end, (unsigned char *)&sin->sin_addr))) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        out->len = sizeof *sin;
        return 0;
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
    const char *pct = memchr(s, '%', (size_t)(end - s));
    if (!pton6(s, pct ? pct : end, sin6->sin6_addr.s6_addr))
        return USOCK_EINVAL;
    if (pct) {
        uint32_t index;
        int rc = parse_scope(pct + 1, end, &index);
        if (rc < 0)
            return rc;
        sin6->sin6_scope_id = index;
    }
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    out->len = sizeof *sin6;
    return 0;
}

int usock_addr_from_ip(usock_addr *a, const char *ip, int port)
{
    usock_addr tmp;
    if (!a || !ip || port < 0 || port > 65535)
        return USOCK_EINVAL;
    /* Built aside so that *a is untouched on failure. */
    int rc = ip_to_addr(&tmp, ip, ip + strlen(ip), port, 0);
    if (rc == 0)
        *a = tmp;
    return rc;
}

/* ---- Unix-domain addresses ---------------------------------------------- */

#define SUN_PATH_CAP sizeof(((struct sockaddr_un *)0)->sun_path)
#define SUN_PATH_OFF offsetof(struct sockaddr_un, sun_path)

/* "@name" + NUL must fit where usock_addr_format writes. */
_Static_assert(USOCK_ADDRSTRLEN >= 1 + SUN_PATH_CAP + 1, "USOCK_ADDRSTRLEN too small for AF_UNIX");

int usock_addr_from_path(usock_addr *a, const char *path)
{
    if (!a || !path || !*path)
        return USOCK_EINVAL;
    size_t n = strlen(path);
    usock_addr tmp;
    memset(&tmp, 0, sizeof tmp);
    struct sockaddr_un *sun = (struct sockaddr_un *)&tmp.ss;
    sun->sun_family = AF_UNIX;
    if (path[0] == '@') {
        /* Linux's abstract namespace: a NUL byte, then the name, whose
         * length is len's business (no NUL ends it). */
        if (n > SUN_PATH_CAP)
            return USOCK_ENAMETOOLONG;
        memcpy(sun->sun_path + 1, path + 1, n - 1);
        tmp.len = (socklen_t)(SUN_PATH_OFF + n);
    } else {
        /* A file name, NUL-ended within sun_path (portable systems want
         * the NUL; Linux would also take 108 bytes without it). */
        if (n >= SUN_PATH_CAP)
            return USOCK_ENAMETOOLONG;
        memcpy(sun->sun_path, path, n);
        tmp.len = (socklen_t)(SUN_PATH_OFF + n + 1);
    }
    *a = tmp;
    return 0;
}

/* An AF_UNIX address as text into tmp (USOCK_ADDRSTRLEN bytes): the path,
 * "@name" for an abstract name, "" for an unnamed socket. */
static int format_unix(const usock_addr *a, char *tmp)
{
    const struct sockaddr_un *sun = (const struct sockaddr_un *)&a->ss;
    size_t n = a->len > SUN_PATH_OFF ? a->len - SUN_PATH_OFF : 0;
    if (n > SUN_PATH_CAP)
        n = SUN_PATH_CAP;
    if (n > 0 && sun->sun_path[0] == '\0') {
        tmp[0] = '@';
        memcpy(tmp + 1, sun->sun_path + 1, n - 1);
        tmp[n] = '\0';
        return (int)n;
    }
    n = strnlen(sun->sun_path, n); /* the kernel may count the NUL */
    memcpy(tmp, sun->sun_path, n);
    tmp[n] = '\0';
    return (int)n;
}

/* Text usock_addr_parse takes for a Unix address: a path ("/run/x.sock",
 * "./x.sock", "dir/x.sock") or an abstract name ("@x"). No IP form holds a
 * '/' or starts with '@'; text in brackets stays an IPv6 form, so that
 * "[::1%a/b]:80" is a bad scope, not a file. */
static int looks_like_path(const char *text)
{
    return text[0] == '/' || text[0] == '@' || (text[0] != '[' && strchr(text, '/') != NULL);
}

int usock_addr_format(const usock_addr *a, char *buf, size_t cap)
{
    char tmp[USOCK_ADDRSTRLEN];
    int n = 0;
    if (!a || (!buf && cap > 0))
        return USOCK_EINVAL;
    if (a->ss.ss_family == AF_UNIX) {
        n = format_unix(a, tmp);
        return copy_out(tmp, n, buf, cap);
    }
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;
        n = ntop4((const unsigned char *)&sin->sin_addr, tmp);
        tmp[n++] = ':';
        n += put_dec(tmp + n, ntohs(sin->sin_port));
    } else if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;
        tmp[n++] = '[';
        n += ntop6(sin6->sin6_addr.s6_addr, tmp + n);
        if (sin6->sin6_scope_id != 0) {
            char name[IF_NAMESIZE];
            tmp[n++] = '%';
            /* A name is only printed when it reads back as the same scope. */
            if (usock__sys_if_indextoname(sin6->sin6_scope_id, name) == 0 &&
                name_reads_back(name)) {
                size_t len = strlen(name);
                memcpy(tmp + n, name, len);
                n += (int)len;
            } else {
                n += put_dec(tmp + n, sin6->sin6_scope_id);
            }
        }
        tmp[n++] = ']';
        tmp[n++] = ':';
        n += put_dec(tmp + n, ntohs(sin6->sin6_port));
    } else {
        if (cap > 0)
            buf[0] = '\0';
        return USOCK_EAFNOSUPPORT;
    }
    tmp[n] = '\0';
    return copy_out(tmp, n, buf, cap);
}

/* A port: 1-5 decimal digits, at most 65535 (leading zeros allowed, as in
 * "080", but never read as octal). */
int usock_parse_port(const char *text)
{
    int v = 0, n = 0;
    const char *s = text;
    if (!s)
        return USOCK_EINVAL;
    for (; is_digit(*s); s++) {
        if (++n > 5)
            return USOCK_EINVAL;
        v = v * 10 + (*s - '0');
    }
    return (n == 0 || *s != '\0' || v > 65535) ? USOCK_EINVAL : v;
}

int usock_addr_parse(usock_addr *a, const char *text)
{
    const char *host, *host_end, *port_text;
    int v6_only = 0;
    if (!a || !text)
        return USOCK_EINVAL;
    if (looks_like_path(text))
        return usock_addr_from_path(a, text);
    if (text[0] == '[') {
        /* An IPv6 literal with a port must stand in brackets (RFC 3986). */
        host = text + 1;
        host_end = strchr(host, ']');
        if (!host_end || host_end[1] != ':')
            return USOCK_EINVAL;
        port_text = host_end + 2;
        v6_only = 1;
    } else {
        /* "1.2.3.4:80", or ":80" for the any address as from_ip("") gives;
         * a second colon means an unbracketed IPv6 literal, never guessed. */
        host = text;
        host_end = strchr(text, ':');
        if (!host_end || strchr(host_end + 1, ':'))
            return USOCK_EINVAL;
        port_text = host_end + 1;
    }
    int port = usock_parse_port(port_text);
    if (port < 0)
        return USOCK_EINVAL;
    usock_addr tmp;
    int rc = ip_to_addr(&tmp, host, host_end, port, v6_only);
    if (rc == 0)
        *a = tmp;
    return rc;
}

int usock_addr_port(const usock_addr *a)
{
    if (!a)
        return USOCK_EINVAL;
    if (a->ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    if (a->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return USOCK_EAFNOSUPPORT;
}

int usock_addr_family(const usock_addr *a)
{
    return a ? a->ss.ss_family : 0;
}
