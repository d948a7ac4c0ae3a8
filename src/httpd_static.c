/* httpd_static.c -- static files for httpd (usock_httpd_route_static):
 * GET/HEAD, MIME types, ETag/Last-Modified and 304, one Range (206/416),
 * index.html or a listing for directories, no way out of the root.
 *
 * A file cache, shared by the workers, remembers what each file was when
 * last looked at (device, inode, size, mtime; ETag and Last-Modified made
 * once) and keeps small files whole: while a file is unchanged, serving it
 * costs one fstatat, and a small one no open, read or sendfile.
 *
 * Uses only the public answering API of httpd.h. OS calls: realpath, open,
 * openat, fstatat, opendir/readdir (POSIX). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shared.h"
#include "usock/httpd.h"

int usock__httpd_static(const usock_httpd_req *req, usock_httpd_res *res);
int usock__static_new(const char *root, void **out);
void usock__static_free(void *files);

static const struct {
    const char *ext, *type;
} mime[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"c", "text/plain; charset=utf-8"},
    {"h", "text/plain; charset=utf-8"},
    {"py", "text/x-python; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/vnd.microsoft.icon"},
    {"avif", "image/avif"},
    {"pdf", "application/pdf"},
    {"wasm", "application/wasm"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
};

const char *usock_httpd_mime_type(const char *name)
{
    const char *dot = name ? strrchr(name, '.') : NULL;
    const char *slash = name ? strrchr(name, '/') : NULL;
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof mime / sizeof mime[0]; i++)
            if (strcasecmp(dot + 1, mime[i].ext) == 0)
                return mime[i].type;
    return "application/octet-stream";
}

/* ---- paths -------------------------------------------------------------- */

/* The part of the path after the route's prefix, percent-decoded, its
 * segments checked: 0, or the status to answer (400 for %00 or a bad
 * escape, 403 for a ".." segment). */
static int decode_rel(const usock_httpd_req *req, char *out, size_t cap)
{
    const char *p = req->path.p + req->prefix.n;
    size_t n = req->path.n - req->prefix.n, k = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)p[i];
        if (ch == '%') {
            if (i + 2 >= n)
                return 400;
            int a = usock__hex_value((unsigned char)p[i + 1]);
            int b = usock__hex_value((unsigned char)p[i + 2]);
            if (a < 0 || b < 0)
                return 400;
            ch = a * 16 + b;
            i += 2;
        }
        if (ch == 0)
            return 400;
        if (k + 1 >= cap)
            return 414;
        out[k++] = (char)ch;
    }
    out[k] = '\0';
    /* segments: "" and "." are skipped, ".." is refused */
    for (char *s = out; *s;) {
        char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 2 && s[0] == '.' && s[1] == '.')
            return 403;
        if (len == 2 && s[0] == '.' && s[1] == '\\')
            return 403;
        s += len + (e ? 1 : 0);
    }
    if (strstr(out, "\\..") || strstr(out, "..\\"))
        return 403;
    return 0;
}

static int status_of_errno(int e)
{
    return e == ENOENT || e == ENOTDIR || e == ENAMETOOLONG || e == ELOOP ? 404
           : e == EACCES || e == EPERM                                    ? 403
                                                                          : 500;
}

/* ---- conditional requests and ranges ------------------------------------ */

static int etag_matches(const usock_http_str *inm, const char *etag)
{
    size_t n = strlen(etag);
    const char *p = inm->p, *end = inm->p + inm->n;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        if (p < end && *p == '*')
            return 1;
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
            p += 2; /* weak comparison */
        const char *q = p;
        while (q < end && *q != ',')
            q++;
        const char *t = q;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - p) == n && memcmp(p, etag, n) == 0)
            return 1;
        p = q;
    }
    return 0;
}

static int parse_http_date(const usock_http_str *v, time_t *out)
{
    char tmp[64];
    if (v->n == 0 || v->n >= sizeof tmp)
        return -1;
    memcpy(tmp, v->p, v->n);
    tmp[v->n] = '\0';
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(tmp, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end)
        return -1;
    *out = timegm(&tm);
    return 0;
}

/* One "bytes=a-b" range of a size-byte file: 1 with [*first, *last], 0 to
 * ignore the header (send it all), -1 unsatisfiable. */
static int parse_range(const usock_http_str *v, uint64_t size, uint64_t *first, uint64_t *last)
{
    char tmp[128];
    if (v->n >= sizeof tmp)
        return 0;
    memcpy(tmp, v->p, v->n);
    tmp[v->n] = '\0';
    if (strncmp(tmp, "bytes=", 6) != 0 || strchr(tmp, ','))
        return 0; /* other units, several ranges: the whole file */
    const char *s = tmp + 6;
    char *e;
    if (*s == '-') {
        if (!isdigit((unsigned char)s[1]))
            return 0;
        errno = 0;
        unsigned long long n = strtoull(s + 1, &e, 10);
        if (*e || errno)
            return 0;
        if (n == 0 || size == 0)
            return -1;
        *first = n >= size ? 0 : size - n;
        *last = size - 1;
        return 1;
    }
    if (!isdigit((unsigned char)*s))
        return 0;
    errno = 0;
    unsigned long long a = strtoull(s, &e, 10);
    if (errno || *e != '-')
        return 0;
    s = e + 1;
    unsigned long long b = UINT64_MAX;
    if (*s) {
        if (!isdigit((unsigned char)*s))
            return 0;
        b = strtoull(s, &e, 10);
        if (*e || errno || b < a)
            return 0;
    }
    if (a >= size)
        return -1;
    *first = a;
    *last = b >= size ? size - 1 : b;
    return 1;
}

/* ---- directory listings ------------------------------------------------- */

struct sbuf {
    char *p;
    size_t len, cap;
    int err;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->err)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->err = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_html(struct sbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': sb_str(b, "&amp;"); break;
        case '<': sb_str(b, "&lt;"); break;
        case '>': sb_str(b, "&gt;"); break;
        case '"': sb_str(b, "&quot;"); break;
        case '\'': sb_str(b, "&#x27;"); break;
        default: sb_add(b, s, 1);
        }
    }
}

/* Python's urllib.parse.quote (safe "/"). */
static void sb_quote(struct sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || strchr("_.-~/", c)) {
            sb_add(b, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            sb_add(b, e, 3);
        }
    }
}

static int cmp_names(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

static int listing(const usock_httpd_req *req, usock_httpd_res *res, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return usock_httpd_respond_error(res, status_of_errno(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int fail = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                fail = 1;
                break;
            }
            names = nn;
        }
        struct stat st;
        int isdir = fstatat(dirfd(d), de->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
        size_t len = strlen(de->d_name);
        char *nm = malloc(len + 2);
        if (!nm) {
            fail = 1;
            break;
        }
        memcpy(nm, de->d_name, len);
        nm[len] = isdir ? '/' : '\0';
        nm[len + 1] = '\0';
        names[n++] = nm;
    }
    closedir(d);
    int rc;
    if (fail) {
        rc = usock_httpd_respond_error(res, 500);
    } else {
        qsort(names, n, sizeof *names, cmp_names);
        char shown[PATH_MAX + 1];
        size_t pl = req->path.n < PATH_MAX ? req->path.n : PATH_MAX;
        /* the title shows the decoded path, as Python's does */
        size_t k = 0;
        for (size_t i = 0; i < pl; i++) {
            int a, b2;
            if (req->path.p[i] == '%' && i + 2 < pl &&
                (a = usock__hex_value((unsigned char)req->path.p[i + 1])) >= 0 &&
                (b2 = usock__hex_value((unsigned char)req->path.p[i + 2])) >= 0) {
                shown[k++] = (char)(a * 16 + b2);
                i += 2;
            } else {
                shown[k++] = req->path.p[i];
            }
        }
        shown[k] = '\0';
        struct sbuf b = {0};
        sb_str(&b,
               "<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<title>Directory listing for ");
        sb_html(&b, shown);
        sb_str(&b, "</title>\n</head>\n<body>\n<h1>Directory listing for ");
        sb_html(&b, shown);
        sb_str(&b, "</h1>\n<hr>\n<ul>\n");
        for (size_t i = 0; i < n; i++) {
            sb_str(&b, "<li><a href=\"");
            sb_quote(&b, names[i]);
            sb_str(&b, "\">");
            sb_html(&b, names[i]);
            sb_str(&b, "</a></li>\n");
        }
        sb_str(&b, "</ul>\n<hr>\n</body>\n</html>\n");
        rc = b.err ? usock_httpd_respond_error(res, 500)
                   : usock_httpd_respond(res, 200, "text/html; charset=utf-8", b.p, b.len);
        free(b.p);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* ---- the file cache ----------------------------------------------------- */

#define CACHE_BUCKETS 1024
#define CACHE_MAX_ENTRIES 4096
#define CACHE_MAX_BYTES (64u << 20)
#define SMALL_FILE_MAX (64u << 10) /* kept whole at most this size */

struct file_meta {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    char etag[64], lm[40];
    const char *mime;
};

struct file_entry {
    struct file_entry *next;
    uint64_t hash;
    struct file_meta m;
    char *data; /* the whole file when small, else NULL */
    char rel[];
};

struct static_files {
    char *root; /* realpath */
    size_t rootlen;
    int rootfd;
    pthread_rwlock_t lock;
    struct file_entry *bucket[CACHE_BUCKETS];
    size_t entries, bytes;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int same_file(const struct file_meta *m, const struct stat *st)
{
    return m->dev == st->st_dev && m->ino == st->st_ino && m->size == st->st_size &&
           m->mtime.tv_sec == st->st_mtim.tv_sec && m->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static void meta_of(struct file_meta *m, const struct stat *st, const char *name)
{
    m->dev = st->st_dev;
    m->ino = st->st_ino;
    m->size = st->st_size;
    m->mtime = st->st_mtim;
    snprintf(m->etag, sizeof m->etag, "\"%llx-%llx-%lx\"", (unsigned long long)st->st_mtim.tv_sec,
             (unsigned long long)st->st_size, (long)st->st_mtim.tv_nsec);
    struct tm tm;
    gmtime_r(&st->st_mtim.tv_sec, &tm);
    strftime(m->lm, sizeof m->lm, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    m->mime = usock_httpd_mime_type(name);
}

static void cache_clear(struct static_files *f)
{
    for (size_t b = 0; b < CACHE_BUCKETS; b++)
        while (f->bucket[b]) {
            struct file_entry *e = f->bucket[b];
            f->bucket[b] = e->next;
            free(e->data);
            free(e);
        }
    f->entries = f->bytes = 0;
}

/* The entry of rel, under the lock (read or write). */
static struct file_entry *cache_find(struct static_files *f, const char *rel, uint64_t h)
{
    for (struct file_entry *e = f->bucket[h % CACHE_BUCKETS]; e; e = e->next)
        if (e->hash == h && strcmp(e->rel, rel) == 0)
            return e;
    return NULL;
}

/* Remembers rel as m (and data, whose ownership it takes). Best effort: the
 * cache is emptied when full, and a failed allocation only forgets. */
static void cache_put(struct static_files *f, const char *rel, const struct file_meta *m,
                      char *data)
{
    uint64_t h = hash_str(rel);
    size_t len = strlen(rel);
    struct file_entry *n = malloc(sizeof *n + len + 1);
    if (!n) {
        free(data);
        return;
    }
    n->hash = h;
    n->m = *m;
    n->data = data;
    memcpy(n->rel, rel, len + 1);
    size_t size = data ? (size_t)m->size : 0;
    /* never blocks a worker: while others read, this one forgets */
    if (pthread_rwlock_trywrlock(&f->lock) != 0) {
        free(data);
        free(n);
        return;
    }
    struct file_entry **pp = &f->bucket[h % CACHE_BUCKETS];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && strcmp((*pp)->rel, rel) == 0) {
            struct file_entry *old = *pp;
            *pp = old->next;
            f->entries--;
            f->bytes -= old->data ? (size_t)old->m.size : 0;
            free(old->data);
            free(old);
            break;
        }
    if (f->entries >= CACHE_MAX_ENTRIES || f->bytes + size > CACHE_MAX_BYTES)
        cache_clear(f);
    n->next = f->bucket[h % CACHE_BUCKETS];
    f->bucket[h % CACHE_BUCKETS] = n;
    f->entries++;
    f->bytes += size;
    pthread_rwlock_unlock(&f->lock);
}

/* A small file's bytes, read whole, when fd still is what st says. */
static char *read_small(int fd, const struct stat *st)
{
    size_t size = (size_t)st->st_size, got = 0;
    char *data = malloc(size ? size : 1);
    while (data && got < size) {
        ssize_t n = pread(fd, data + got, size - got, (off_t)got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    struct stat now;
    if (data &&
        (got != size || fstat(fd, &now) < 0 || now.st_size != st->st_size ||
         now.st_mtim.tv_sec != st->st_mtim.tv_sec || now.st_mtim.tv_nsec != st->st_mtim.tv_nsec)) {
        free(data); /* changed while read: not kept */
        data = NULL;
    }
    return data;
}

int usock__static_new(const char *root, void **out)
{
    char real[PATH_MAX];
    if (!realpath(root, real))
        return -errno;
    struct static_files *f = calloc(1, sizeof *f);
    if (!f)
        return USOCK_ENOMEM;
    f->root = strdup(real);
    f->rootlen = strlen(real);
    f->rootfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!f->root || f->rootfd < 0) {
        int rc = f->root ? -errno : USOCK_ENOMEM;
        if (f->rootfd >= 0)
            close(f->rootfd);
        free(f->root);
        free(f);
        return rc == USOCK_ENOENT || rc == -ENOTDIR ? USOCK_ENOTDIR : rc;
    }
    pthread_rwlock_init(&f->lock, NULL);
    *out = f;
    return 0;
}

void usock__static_free(void *files)
{
    struct static_files *f = files;
    if (!f)
        return;
    cache_clear(f);
    pthread_rwlock_destroy(&f->lock);
    close(f->rootfd);
    free(f->root);
    free(f);
}

/* ---- the handler -------------------------------------------------------- */

/* Answers with a file: from memory when data, else from fd (which it
 * closes); conditional requests and a Range first. */
static int send_file(const usock_httpd_req *req, usock_httpd_res *res, const struct file_meta *m,
                     const char *data, int fd)
{
    usock_httpd_header(res, "ETag", m->etag);
    usock_httpd_header(res, "Last-Modified", m->lm);
    const usock_http_str *inm = usock_http_header_get(req->msg, "If-None-Match");
    const usock_http_str *ims = usock_http_header_get(req->msg, "If-Modified-Since");
    const usock_http_str *range = usock_http_header_get(req->msg, "Range");
    time_t since;
    int status = 200;
    uint64_t size = (uint64_t)m->size, first = 0, last = size ? size - 1 : 0;
    if ((inm && etag_matches(inm, m->etag)) ||
        (!inm && ims && parse_http_date(ims, &since) == 0 && m->mtime.tv_sec <= since)) {
        status = 304;
    } else {
        usock_httpd_header(res, "Accept-Ranges", "bytes");
        int r = range ? parse_range(range, size, &first, &last) : 0;
        char cr[96];
        if (r < 0) {
            snprintf(cr, sizeof cr, "bytes */%" PRIu64, size);
            status = 416;
        } else if (r > 0) {
            snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, size);
            status = 206;
        }
        if (r)
            usock_httpd_header(res, "Content-Range", cr);
    }
    uint64_t len = status == 206 ? last - first + 1 : size;
    if (status == 304 || status == 416) {
        if (fd >= 0)
            close(fd);
        return status == 304 ? usock_httpd_respond(res, 304, NULL, NULL, 0)
                             : usock_httpd_respond_error(res, 416);
    }
    if (data)
        return usock_httpd_respond(res, status, m->mime, data + first, (size_t)len);
    return usock_httpd_respond_fd(res, status, m->mime, fd, (off_t)first, len);
}

/* A directory: "/dir" -> "/dir/" as Python's http.server, then its
 * index.html, else a listing. */
static int send_dir(const usock_httpd_req *req, usock_httpd_res *res, const char *real)
{
    if (req->path.n == 0 || req->path.p[req->path.n - 1] != '/') {
        char loc[PATH_MAX + 2];
        if (req->path.n + 2 > sizeof loc)
            return usock_httpd_respond_error(res, 414);
        memcpy(loc, req->path.p, req->path.n);
        loc[req->path.n] = '/';
        loc[req->path.n + 1] = '\0';
        usock_httpd_header(res, "Location", loc);
        return usock_httpd_respond(res, 301, NULL, NULL, 0);
    }
    char idx[PATH_MAX + 16];
    snprintf(idx, sizeof idx, "%s/index.html", real);
    int fd = open(idx, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        struct file_meta m;
        meta_of(&m, &st, idx);
        return send_file(req, res, &m, NULL, fd);
    }
    if (fd >= 0)
        close(fd);
    return listing(req, res, real);
}

/* The slow way, for what the cache does not know: the real path must stay
 * under the root, symlinks resolved; a regular file is remembered. */
static int send_uncached(const usock_httpd_req *req, usock_httpd_res *res, struct static_files *f,
                         const char *rel)
{
    char full[PATH_MAX * 2 + 2], real[PATH_MAX];
    snprintf(full, sizeof full, "%s/%s", f->root, rel);
    if (!realpath(full, real))
        return usock_httpd_respond_error(res, status_of_errno(errno));
    size_t rl = f->rootlen;
    if (strncmp(real, f->root, rl) != 0 || (real[rl] != '/' && real[rl] != '\0' && rl > 1))
        return usock_httpd_respond_error(res, 403); /* a symlink out of the root */
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return usock_httpd_respond_error(res, status_of_errno(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return usock_httpd_respond_error(res, status_of_errno(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return send_dir(req, res, real);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return usock_httpd_respond_error(res, 403);
    }
    struct file_meta m;
    meta_of(&m, &st, real);
    char *data = (uint64_t)st.st_size <= SMALL_FILE_MAX ? read_small(fd, &st) : NULL;
    cache_put(f, rel, &m, data);
    return send_file(req, res, &m, NULL, fd);
}

int usock__httpd_static(const usock_httpd_req *req, usock_httpd_res *res)
{
    struct static_files *f = req->udata;
    int get = req->method.n == 3 && memcmp(req->method.p, "GET", 3) == 0;
    int head = req->method.n == 4 && memcmp(req->method.p, "HEAD", 4) == 0;
    if (!get && !head) {
        usock_httpd_header(res, "Allow", "GET, HEAD");
        return usock_httpd_respond_error(res, 405);
    }
    char buf[PATH_MAX];
    int bad = decode_rel(req, buf, sizeof buf);
    if (bad)
        return usock_httpd_respond_error(res, bad);
    const char *rel = buf;
    while (*rel == '/')
        rel++; /* relative to the root's descriptor */
    size_t n = strlen(rel);
    struct stat st;
    if (n == 0 || rel[n - 1] == '/' || fstatat(f->rootfd, rel, &st, 0) < 0 || !S_ISREG(st.st_mode))
        return send_uncached(req, res, f, rel);
    pthread_rwlock_rdlock(&f->lock);
    struct file_entry *e = cache_find(f, rel, hash_str(rel));
    if (!e || !same_file(&e->m, &st)) {
        pthread_rwlock_unlock(&f->lock);
        return send_uncached(req, res, f, rel);
    }
    if (e->data) { /* answered (copied) under the lock */
        int rc = send_file(req, res, &e->m, e->data, -1);
        pthread_rwlock_unlock(&f->lock);
        return rc;
    }
    struct file_meta m = e->m;
    pthread_rwlock_unlock(&f->lock);
    /* the file that was checked, not one put in its place since */
    int fd = openat(f->rootfd, rel, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) < 0 || !same_file(&m, &st)) {
        if (fd >= 0)
            close(fd);
        return send_uncached(req, res, f, rel);
    }
    return send_file(req, res, &m, NULL, fd);
}
