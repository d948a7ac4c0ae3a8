/* test_addr.c -- addresses: inet_pton/inet_ntop against the vectors and
 * against glibc, and the usock_addr text forms. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "usock.h"

/* ---- a minimal JSON reader, just enough for the test vectors --------------- */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jv {
    int type;
    int boolean;
    char *str;          /* J_STR: the decoded text; J_NUM: its spelling */
    struct jv *items;   /* J_ARR, J_OBJ */
    char **keys;        /* J_OBJ */
    size_t n;
} jv;

typedef struct { const char *p; int bad; } jin;

static void jskip(jin *in)
{
    while (*in->p == ' ' || *in->p == '\n' || *in->p == '\r' || *in->p == '\t')
        in->p++;
}

static char *jstring(jin *in)
{
    size_t cap = 16, n = 0;
    char *out = malloc(cap);
    in->p++; /* the opening quote */
    while (*in->p && *in->p != '"') {
        char c = *in->p++;
        if (c == '\\') {
            c = *in->p++;
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                /* The vectors only escape ASCII this way. */
                unsigned v = 0;
                if (sscanf(in->p, "%4x", &v) != 1 || v == 0 || v > 0x7f)
                    in->bad = 1;
                in->p += 4;
                c = (char)v;
                break;
            }
            default: break; /* '"', '\\', '/' stand for themselves */
            }
        }
        if (n + 2 > cap)
            out = realloc(out, cap *= 2);
        out[n++] = c;
    }
    if (*in->p != '"')
        in->bad = 1;
    else
        in->p++;
    out[n] = '\0';
    return out;
}

static void jvalue(jin *in, jv *v);

static void jlist(jin *in, jv *v, int obj)
{
    char close = obj ? '}' : ']';
    v->type = obj ? J_OBJ : J_ARR;
    in->p++;
    jskip(in);
    while (!in->bad && *in->p && *in->p != close) {
        v->items = realloc(v->items, (v->n + 1) * sizeof *v->items);
        if (obj) {
            v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys);
            if (*in->p != '"') {
                in->bad = 1;
                return;
            }
            v->keys[v->n] = jstring(in);
            jskip(in);
            if (*in->p++ != ':')
                in->bad = 1;
        }
        jvalue(in, &v->items[v->n++]);
        jskip(in);
        if (*in->p == ',')
            in->p++;
        jskip(in);
    }
    if (*in->p == close)
        in->p++;
    else
        in->bad = 1;
}

static void jvalue(jin *in, jv *v)
{
    memset(v, 0, sizeof *v);
    jskip(in);
    if (*in->p == '{' || *in->p == '[') {
        jlist(in, v, *in->p == '{');
    } else if (*in->p == '"') {
        v->type = J_STR;
        v->str = jstring(in);
    } else if (!strncmp(in->p, "true", 4) || !strncmp(in->p, "false", 5)) {
        v->type = J_BOOL;
        v->boolean = *in->p == 't';
        in->p += v->boolean ? 4 : 5;
    } else if (!strncmp(in->p, "null", 4)) {
        v->type = J_NULL;
        in->p += 4;
    } else {
        size_t n = strspn(in->p, "+-0123456789.eE");
        if (n == 0)
            in->bad = 1;
        v->type = J_NUM;
        v->str = strndup(in->p, n);
        in->p += n;
    }
}

static void jfree(jv *v)
{
    for (size_t i = 0; i < v->n; i++) {
        jfree(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
}

/* The member key of an object, or NULL. */
static const jv *jget(const jv *obj, const char *key)
{
    if (!obj || obj->type != J_OBJ)
        return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (!strcmp(obj->keys[i], key))
            return &obj->items[i];
    return NULL;
}

static const char *jstr(const jv *obj, const char *key)
{
    const jv *v = jget(obj, key);
    return v && v->type == J_STR ? v->str : NULL;
}

static void load_json(const char *name, jv *root)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", USOCK_TESTDATA, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    text[size] = '\0';
    fclose(f);
    jin in = {text, 0};
    jvalue(&in, root);
    jskip(&in);
    assert_false(in.bad);
    assert_int_equal(*in.p, '\0');
    free(text);
}

/* ---- helpers ------------------------------------------------------------ */

/* The input with unprintable bytes escaped, for failure messages. */
static const char *show(const char *s)
{
    static char out[1024];
    size_t n = 0;
    for (; *s && n + 5 < sizeof out; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 32 && c < 127 && c != '\\')
            out[n++] = (char)c;
        else
            n += (size_t)snprintf(out + n, sizeof out - n, "\\x%02x", c);
    }
    out[n] = '\0';
    return out;
}

static const char *hex(const unsigned char *b, int n)
{
    static char out[40];
    for (int i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return out;
}

static int addr_size(int af)
{
    return af == AF_INET ? 4 : 16;
}

/* usock's and glibc's inet_pton must agree on acceptance and bytes. */
static long pton_checks, pton_accepted;

static void check_pton(int af, const char *text)
{
    unsigned char mine[16], theirs[16];
    memset(mine, 0xaa, sizeof mine);
    memset(theirs, 0xaa, sizeof theirs);
    int rc = usock_inet_pton(af, text, mine);
    int g = inet_pton(af, text, theirs);
    pton_checks++;
    /* Neither writes dst when it rejects the text. */
    if (g != 1 && memcmp(mine, theirs, sizeof mine) != 0)
        fail_msg("inet_pton(\"%s\") wrote to dst and failed", show(text));
    if ((rc == 0) != (g == 1) || (rc != 0 && rc != USOCK_EINVAL))
        fail_msg("inet_pton(%s, \"%s\"): usock %d, glibc %d", af == AF_INET ? "AF_INET" : "AF_INET6",
                 show(text), rc, g);
    pton_accepted += g == 1;
    if (g == 1 && memcmp(mine, theirs, (size_t)addr_size(af)) != 0)
        fail_msg("inet_pton(\"%s\"): usock %s, glibc %s", show(text),
                 hex(mine, addr_size(af)), hex(theirs, addr_size(af)));
}

/* usock's and glibc's inet_ntop must print the same text, and agree on
 * whether a buffer of cap bytes is enough. */
static long ntop_checks;

static void check_ntop(int af, const unsigned char *b, size_t cap)
{
    char mine[64], theirs[64];
    int rc = usock_inet_ntop(af, b, mine, sizeof mine);
    const char *g = inet_ntop(af, b, theirs, sizeof theirs);
    ntop_checks++;
    assert_non_null(g);
    if (rc != (int)strlen(theirs) || strcmp(mine, theirs) != 0)
        fail_msg("inet_ntop(%s): usock \"%s\" (%d), glibc \"%s\"", hex(b, addr_size(af)), mine, rc,
                 theirs);
    rc = usock_inet_ntop(af, b, mine, cap);
    g = inet_ntop(af, b, theirs, (socklen_t)cap);
    if ((rc >= 0) != (g != NULL) || (rc < 0 && rc != USOCK_ENOSPC))
        fail_msg("inet_ntop(%s, cap %zu): usock %d, glibc %s", hex(b, addr_size(af)), cap, rc,
                 g ? g : "NULL");
}

/* ---- the vectors -------------------------------------------------------- */

static void check_vector_list(const jv *list, int af, int *count)
{
    assert_non_null(list);
    assert_int_equal(list->type, J_ARR);
    for (size_t i = 0; i < list->n; i++) {
        const jv *v = &list->items[i];
        const char *input = jstr(v, "input");
        const jv *valid = jget(v, "valid");
        const char *canonical = jstr(v, "canonical");
        if (!canonical)
            canonical = jstr(v, "rfc5952");
        assert_non_null(input);
        int expect_ok = valid ? valid->boolean : 1;
        unsigned char bin[16];
        char text[64];
        int rc = usock_inet_pton(af, input, bin);
        if (expect_ok != (rc == 0))
            fail_msg("vector \"%s\": inet_pton gave %d", show(input), rc);
        if (expect_ok) {
            assert_non_null(canonical);
            rc = usock_inet_ntop(af, bin, text, sizeof text);
            if (rc != (int)strlen(canonical) || strcmp(text, canonical) != 0)
                fail_msg("vector \"%s\": inet_ntop \"%s\", expected \"%s\"", input, text,
                         canonical);
        }
        check_pton(af, input);
        (*count)++;
    }
}

static void check_string_list(const jv *list, int af, int expect_ok, int *count)
{
    assert_non_null(list);
    for (size_t i = 0; i < list->n; i++) {
        unsigned char bin[16];
        const char *input = list->items[i].str;
        int rc = usock_inet_pton(af, input, bin);
        if (expect_ok != (rc == 0))
            fail_msg("libuv vector \"%s\": inet_pton gave %d", show(input), rc);
        check_pton(af, input);
        (*count)++;
    }
}

static void test_ipaddr_vectors(void **state)
{
    (void)state;
    jv root;
    int count = 0;
    load_json("ipaddr_vectors.json", &root);
    check_vector_list(jget(&root, "inet_pton_v4"), AF_INET, &count);
    check_vector_list(jget(&root, "inet_pton_v6"), AF_INET6, &count);
    check_vector_list(jget(&root, "inet_ntop_v6_rfc5952"), AF_INET6, &count);
    const jv *uv6 = jget(&root, "libuv_test_ip6_addr");
    const jv *uv4 = jget(&root, "libuv_test_ip4_addr");
    check_string_list(jget(uv6, "good"), AF_INET6, 1, &count);
    check_string_list(jget(uv6, "bad"), AF_INET6, 0, &count);
    check_string_list(jget(uv4, "good"), AF_INET, 1, &count);
    check_string_list(jget(uv4, "bad"), AF_INET, 0, &count);

    /* libuv's ntop vector: 255.255.255.255 needs 16 bytes with the NUL. */
    const jv *ntop = jget(uv4, "ntop");
    assert_string_equal(jstr(ntop, "input_bytes_hex"), "ffffffff");
    const unsigned char ones[4] = {255, 255, 255, 255};
    char buf[16];
    assert_int_equal(usock_inet_ntop(AF_INET, ones, buf, 15), USOCK_ENOSPC);
    assert_string_equal(buf, "");
    assert_int_equal(usock_inet_ntop(AF_INET, ones, buf, 16), 15);
    assert_string_equal(buf, jstr(ntop, "output"));
    assert_true(count >= 120);
    jfree(&root);
}

/* ---- differential against glibc ----------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15u; /* fixed seed: failures repeat */

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)((rng >> 16) % n);
}

static const char alphabet[] = "0123456789abcdefABCDEF:.%x";

static void random_text(char *out, size_t max)
{
    size_t n = rnd((uint32_t)max);
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[rnd(sizeof alphabet - 1)];
    out[n] = '\0';
}

/* 16 bytes with many zero groups and the ::ffff: / ::a.b.c.d shapes. */
static void random_v6(unsigned char *b)
{
    int shape = (int)rnd(4);
    for (int i = 0; i < 16; i += 2) {
        int zero = rnd(2) == 0;
        unsigned w = zero ? 0 : rnd(5) == 0 ? rnd(16) : rnd(0x10000);
        b[i] = (unsigned char)(w >> 8);
        b[i + 1] = (unsigned char)w;
    }
    if (shape == 1 || shape == 2) { /* ::a.b.c.d or ::ffff:a.b.c.d */
        memset(b, 0, 12);
        if (shape == 2)
            b[10] = b[11] = 0xff;
    }
}

/* A text for b as a person might write it: any case, leading zeros, some
 * zero run (or none) compressed, perhaps a dotted tail. */
static void sloppy_v6(const unsigned char *b, char *out)
{
    unsigned w[8];
    for (int i = 0; i < 8; i++)
        w[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
    int dotted = rnd(3) == 0;
    int groups = dotted ? 6 : 8;
    int gap = -1, gap_len = 0;
    int start = (int)rnd(8);
    while (start < groups && w[start] != 0)
        start++;
    if (start < groups && rnd(4) != 0) {
        gap = start;
        while (start + gap_len < groups && w[start + gap_len] == 0 && rnd(5) != 0)
            gap_len++;
        if (gap_len == 0)
            gap_len = 1;
    }
    size_t n = 0;
    for (int i = 0; i < groups; i++) {
        if (i == gap) {
            n += (size_t)sprintf(out + n, i == 0 ? "::" : ":");
            i += gap_len - 1;
            continue;
        }
        int width = (int)rnd(5);
        if (rnd(2))
            n += (size_t)sprintf(out + n, "%0*x", width, w[i]);
        else
            n += (size_t)sprintf(out + n, "%0*X", width, w[i]);
        if (i + 1 < groups || dotted)
            out[n++] = ':';
    }
    if (dotted)
        n += (size_t)sprintf(out + n, "%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
    out[n] = '\0';
}

/* 1-3 random edits: delete, insert, replace, duplicate a piece. */
static void mutate(char *s, size_t cap)
{
    int edits = 1 + (int)rnd(3);
    for (int e = 0; e < edits; e++) {
        size_t n = strlen(s);
        size_t at = rnd((uint32_t)n + 1);
        char c = rnd(8) == 0 ? (char)(1 + rnd(255)) : alphabet[rnd(sizeof alphabet - 1)];
        switch (rnd(4)) {
        case 0:
            if (at < n)
                memmove(s + at, s + at + 1, n - at);
            break;
        case 1:
            if (n + 2 < cap) {
                memmove(s + at + 1, s + at, n - at + 1);
                s[at] = c;
            }
            break;
        case 2:
            if (at < n)
                s[at] = c;
            break;
        default: {
            size_t len = rnd(6);
            /* Shifting the tail right leaves s[at, at + len) twice. */
            if (at + len <= n && n + len + 1 < cap)
                memmove(s + at + len, s + at, n - at + 1);
            break;
        }
        }
    }
}

static void check_both_families(const char *text)
{
    check_pton(AF_INET, text);
    check_pton(AF_INET6, text);
}

static void test_glibc_vectors(void **state)
{
    (void)state;
    jv root;
    load_json("ipaddr_vectors.json", &root);
    const char *lists[] = {"inet_pton_v4", "inet_pton_v6", "inet_ntop_v6_rfc5952"};
    for (size_t l = 0; l < 3; l++) {
        const jv *list = jget(&root, lists[l]);
        for (size_t i = 0; i < list->n; i++)
            check_both_families(jstr(&list->items[i], "input"));
    }
    /* The edges of the ::/96 and ::ffff:0:0/96 printing rules. */
    const char *edges[] = {"::", "::1", "::0.0.0.2", "::2:3", "::1:0", "::ffff:0:0",
                           "::ffff:0:1", "0:0:0:0:0:ffff::", "::fffe:1.2.3.4", "1::1.2.3.4",
                           "::0:1.2.3.4", "0::ffff:0:0:0", "1:0:0:2:0:0:3:4",
                           "1:0:0:2:0:0:0:4", "0:0:0:0:1::", "::ffff:ffff:ffff"};
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++) {
        unsigned char b[16];
        check_both_families(edges[i]);
        assert_int_equal(inet_pton(AF_INET6, edges[i], b), 1);
        check_ntop(AF_INET6, b, 64);
    }
    jfree(&root);
}

static void test_glibc_random(void **state)
{
    (void)state;
    char text[128];
    unsigned char b[16];
    pton_checks = pton_accepted = ntop_checks = 0;
    for (int i = 0; i < 80000; i++) { /* strings over the alphabet */
        random_text(text, i % 2 ? 48 : 12);
        check_both_families(text);
    }
    for (int i = 0; i < 60000; i++) { /* binaries, printed and parsed */
        random_v6(b);
        check_ntop(AF_INET6, b, rnd(48));
        sloppy_v6(b, text);
        check_pton(AF_INET6, text);
        for (int j = 0; j < 4; j++)
            b[j] = rnd(3) == 0 ? 0 : (unsigned char)rnd(256);
        check_ntop(AF_INET, b, rnd(18));
        snprintf(text, sizeof text, rnd(8) ? "%u.%u.%u.%u" : "%03u.%u.%02u.%u", b[0], b[1], b[2],
                 b[3]);
        check_both_families(text);
    }
    for (int i = 0; i < 60000; i++) { /* mutations of valid texts */
        random_v6(b);
        if (rnd(3) == 0)
            snprintf(text, sizeof text, "%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
        else
            sloppy_v6(b, text);
        mutate(text, sizeof text);
        check_both_families(text);
    }
    print_message("glibc differential: %ld inet_pton (%ld accepted), %ld inet_ntop\n",
                  pton_checks, pton_accepted, ntop_checks);
    assert_true(pton_checks + ntop_checks >= 200000);
}

/* ---- inet_pton / inet_ntop argument errors ------------------------------ */

static void test_inet_errors(void **state)
{
    (void)state;
    unsigned char b[16] = {0};
    char buf[64];
    assert_int_equal(usock_inet_pton(AF_UNIX, "1.2.3.4", b), USOCK_EAFNOSUPPORT);
    assert_int_equal(usock_inet_pton(AF_INET, NULL, b), USOCK_EINVAL);
    assert_int_equal(usock_inet_pton(AF_INET, "1.2.3.4", NULL), USOCK_EINVAL);
    assert_int_equal(usock_inet_ntop(AF_UNIX, b, buf, sizeof buf), USOCK_EAFNOSUPPORT);
    assert_int_equal(usock_inet_ntop(AF_INET, NULL, buf, sizeof buf), USOCK_EINVAL);
    assert_int_equal(usock_inet_ntop(AF_INET, b, NULL, 16), USOCK_EINVAL);
    assert_int_equal(usock_inet_ntop(AF_INET, b, NULL, 0), USOCK_ENOSPC);

    /* Every cap short of the text and its NUL fails and leaves "". */
    inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", b);
    int need = usock_inet_ntop(AF_INET6, b, buf, sizeof buf);
    assert_int_equal(need, 39);
    for (int cap = 0; cap <= need; cap++) {
        memset(buf, 'X', sizeof buf);
        assert_int_equal(usock_inet_ntop(AF_INET6, b, buf, (size_t)cap), USOCK_ENOSPC);
        assert_int_equal(buf[0], cap > 0 ? '\0' : 'X');
    }
    assert_int_equal(usock_inet_ntop(AF_INET6, b, buf, (size_t)need + 1), need);
}

/* ---- usock_addr ---------------------------------------------------------- */

static const struct sockaddr_in *v4(const usock_addr *a)
{
    return (const struct sockaddr_in *)&a->ss;
}

static const struct sockaddr_in6 *v6(const usock_addr *a)
{
    return (const struct sockaddr_in6 *)&a->ss;
}

/* Formats a and checks that parsing the text gives a back. */
static void check_round_trip(const usock_addr *a, const char *expect)
{
    char text[USOCK_ADDRSTRLEN];
    usock_addr back;
    int n = usock_addr_format(a, text, sizeof text);
    if (n < 0)
        fail_msg("format failed: %d", n);
    assert_int_equal(n, (int)strlen(text));
    if (expect)
        assert_string_equal(text, expect);
    memset(&back, 0x55, sizeof back);
    int rc = usock_addr_parse(&back, text);
    if (rc != 0)
        fail_msg("parse(\"%s\") gave %d", text, rc);
    assert_int_equal(back.len, a->len);
    /* The whole sockaddr, padding and flowinfo included, comes back. */
    assert_memory_equal(&back.ss, &a->ss, a->len);
    if (usock_addr_family(a) == AF_INET6)
        assert_int_equal(v6(a)->sin6_flowinfo, 0);
    assert_int_equal(usock_addr_family(&back), usock_addr_family(a));
    assert_int_equal(usock_addr_port(&back), usock_addr_port(a));
    if (usock_addr_family(a) == AF_INET) {
        assert_memory_equal(&v4(&back)->sin_addr, &v4(a)->sin_addr, 4);
    } else {
        assert_memory_equal(&v6(&back)->sin6_addr, &v6(a)->sin6_addr, 16);
        assert_int_equal(v6(&back)->sin6_scope_id, v6(a)->sin6_scope_id);
    }
}

static int has_interface(const char *name)
{
    return if_nametoindex(name) != 0;
}

/* usock_addr_parse's answer for each hostport vector. "recommended":
 * "accept" is taken except for names (addr_parse is numeric only), and
 * "context" cases are decided as documented in docs: ":80" is the any
 * address (as usock_addr_from_ip("")), port 0 is valid (bind), and the
 * "%25" of RFC 6874 is not decoded, so "25eth0" is an interface name. */
static const char *const name_based[] = {"example.com:80"};

static int expected_parse(const jv *v)
{
    const char *input = jstr(v, "input");
    const char *rec = jstr(v, "recommended");
    for (size_t i = 0; i < sizeof name_based / sizeof *name_based; i++)
        if (!strcmp(input, name_based[i]))
            return USOCK_EINVAL;
    if (!strcmp(input, "[fe80::1%25eth0]:80"))
        return has_interface("25eth0") ? 0 : USOCK_ENODEV;
    if (strstr(input, "%eth0]"))
        return has_interface("eth0") ? 0 : USOCK_ENODEV;
    if (!strcmp(rec, "accept") || !strcmp(rec, "context"))
        return 0;
    return USOCK_EINVAL;
}

static void test_hostport_vectors(void **state)
{
    (void)state;
    jv root;
    load_json("hostport_vectors.json", &root);
    const jv *list = jget(&root, "vectors");
    assert_non_null(list);
    for (size_t i = 0; i < list->n; i++) {
        const jv *v = &list->items[i];
        const char *input = jstr(v, "input");
        usock_addr a;
        int expect = expected_parse(v);
        int rc = usock_addr_parse(&a, input);
        if (rc != expect)
            fail_msg("addr_parse(\"%s\") gave %d, expected %d", show(input), rc, expect);
        if (rc != 0)
            continue;
        /* The host and port are the ones Go's SplitHostPort finds. */
        const char *host = jstr(v, "host");
        assert_non_null(host);
        unsigned char bin[16] = {0};
        char hostpart[64];
        snprintf(hostpart, sizeof hostpart, "%s", host ? host : "");
        strtok(hostpart, "%");
        assert_int_equal(usock_addr_port(&a), atoi(jstr(v, "port")));
        if (usock_addr_family(&a) == AF_INET) {
            if (*host)
                assert_int_equal(inet_pton(AF_INET, host, bin), 1);
            assert_memory_equal(&v4(&a)->sin_addr, bin, 4);
        } else {
            assert_int_equal(inet_pton(AF_INET6, hostpart, bin), 1);
            assert_memory_equal(&v6(&a)->sin6_addr, bin, 16);
        }
        check_round_trip(&a, NULL);
    }
    jfree(&root);
}

static void test_from_ip(void **state)
{
    (void)state;
    usock_addr a;
    assert_int_equal(usock_addr_from_ip(&a, "", 80), 0);
    assert_int_equal(usock_addr_family(&a), AF_INET);
    assert_int_equal(a.len, sizeof(struct sockaddr_in));
    assert_int_equal(v4(&a)->sin_addr.s_addr, htonl(INADDR_ANY));
    check_round_trip(&a, "0.0.0.0:80");

    assert_int_equal(usock_addr_from_ip(&a, "127.0.0.1", 65535), 0);
    assert_int_equal(usock_addr_port(&a), 65535);
    check_round_trip(&a, "127.0.0.1:65535");

    assert_int_equal(usock_addr_from_ip(&a, "::1", 0), 0);
    assert_int_equal(usock_addr_family(&a), AF_INET6);
    assert_int_equal(a.len, sizeof(struct sockaddr_in6));
    assert_int_equal(v6(&a)->sin6_scope_id, 0);
    assert_int_equal(v6(&a)->sin6_flowinfo, 0);
    check_round_trip(&a, "[::1]:0");

    assert_int_equal(usock_addr_from_ip(&a, "::FFFF:C000:0201", 8080), 0);
    check_round_trip(&a, "[::ffff:192.0.2.1]:8080");

    /* Failures leave *a as it was. */
    const char *bad[] = {"example.com", "localhost", "1.2.3.4%lo", "1.2.3", "01.2.3.4",
                         "[::1]", "fe80::1%", "%lo", "::1%%lo", "fe80::1%l o", "fe80::1%lo]",
                         "fe80::1%4294967296", "fe80::1%99999999999999999999", " ::1",
                         "1.2.3.4 ", "::1/128", "fe80::1%lo:80", "1.2.3.4:80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        usock_addr before, after;
        memset(&before, 0x5a, sizeof before);
        after = before;
        int rc = usock_addr_from_ip(&after, bad[i], 80);
        if (rc != USOCK_EINVAL)
            fail_msg("from_ip(\"%s\") gave %d", bad[i], rc);
        assert_memory_equal(&before, &after, sizeof before);
    }
    assert_int_equal(usock_addr_from_ip(&a, "fe80::1%nosuchif0", 80), USOCK_ENODEV);
    assert_int_equal(usock_addr_from_ip(&a, "fe80::1%averyverylonginterfacename", 80),
                     USOCK_ENODEV);

    /* Ports outside 0..65535 and NULL arguments. */
    const int ports[] = {-1, 65536, -65536, 100000, 1 << 30, -2147483647 - 1};
    for (size_t i = 0; i < sizeof ports / sizeof *ports; i++)
        assert_int_equal(usock_addr_from_ip(&a, "1.2.3.4", ports[i]), USOCK_EINVAL);
    assert_int_equal(usock_addr_from_ip(NULL, "1.2.3.4", 80), USOCK_EINVAL);
    assert_int_equal(usock_addr_from_ip(&a, NULL, 80), USOCK_EINVAL);
}

static void test_scope(void **state)
{
    (void)state;
    usock_addr a;
    unsigned lo = if_nametoindex("lo");
    assert_true(lo != 0);
    assert_int_equal(usock_addr_from_ip(&a, "fe80::1%lo", 80), 0);
    assert_int_equal(v6(&a)->sin6_scope_id, lo);
    check_round_trip(&a, "[fe80::1%lo]:80");
    assert_int_equal(usock_addr_parse(&a, "[fe80::1%lo]:443"), 0);
    assert_int_equal(v6(&a)->sin6_scope_id, lo);
    assert_int_equal(usock_addr_port(&a), 443);

    /* A numeric scope is the index; it prints as the name when there is one. */
    char text[USOCK_ADDRSTRLEN];
    snprintf(text, sizeof text, "fe80::1%%%u", lo);
    assert_int_equal(usock_addr_from_ip(&a, text, 80), 0);
    check_round_trip(&a, "[fe80::1%lo]:80");
    assert_int_equal(usock_addr_from_ip(&a, "fe80::2%999999", 7), 0);
    assert_int_equal(v6(&a)->sin6_scope_id, 999999);
    check_round_trip(&a, "[fe80::2%999999]:7");
    assert_int_equal(usock_addr_from_ip(&a, "::1%4294967295", 7), 0);
    check_round_trip(&a, "[::1%4294967295]:7");
    assert_int_equal(usock_addr_from_ip(&a, "fe80::1%0", 1), 0);
    check_round_trip(&a, "[fe80::1]:1");

    /* The longest text fits USOCK_ADDRSTRLEN. */
    assert_int_equal(usock_addr_from_ip(&a, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%4294967295",
                                        65535), 0);
    check_round_trip(&a, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535");
    assert_int_equal(usock_addr_from_ip(&a, "::ffff:255.255.255.255%4294967295", 65535), 0);
    check_round_trip(&a, "[::ffff:255.255.255.255%4294967295]:65535");

    assert_int_equal(usock_addr_parse(&a, "[fe80::1%nosuchif0]:80"), USOCK_ENODEV);
    assert_int_equal(usock_addr_parse(&a, "[fe80::1%]:80"), USOCK_EINVAL);
    assert_int_equal(usock_addr_parse(&a, "[1.2.3.4%lo]:80"), USOCK_EINVAL);
}

static void test_round_trips(void **state)
{
    (void)state;
    usock_addr a;
    char ip[64];
    for (int i = 0; i < 20000; i++) {
        unsigned char b[16];
        int port = (int)rnd(65536);
        if (i % 2) {
            random_v6(b);
            inet_ntop(AF_INET6, b, ip, sizeof ip);
        } else {
            for (int j = 0; j < 4; j++)
                b[j] = (unsigned char)rnd(256);
            inet_ntop(AF_INET, b, ip, sizeof ip);
        }
        assert_int_equal(usock_addr_from_ip(&a, ip, port), 0);
        char expect[USOCK_ADDRSTRLEN];
        snprintf(expect, sizeof expect, i % 2 ? "[%s]:%d" : "%s:%d", ip, port);
        check_round_trip(&a, expect);
    }
}

static void test_parse_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"", ":", "[", "]", "[]", "[]:", "[]:80", "1.2.3.4", "1.2.3.4:",
                         "1.2.3.4:65536", "1.2.3.4:99999", "1.2.3.4:123456", "1.2.3.4:-0",
                         "1.2.3.4:0x10", "1.2.3.4:8 0", "1.2.3.4:80\n", "1.2.3.4::80",
                         "1.2.3.4:80:80", "1.2.3:80", "256.0.0.1:80", "01.2.3.4:80",
                         "[1.2.3.4]:80", "[::1]", "[::1]:", "[::1]:x", "[::1]:65536",
                         "[::1] :80", "[::1]: 80", " [::1]:80", "[ ::1]:80", "[::1 ]:80",
                         "[::1%lo:80", "[::1]]:80", "::1:80", "fe80::1%lo:80",
                         "[::1%lo%lo]:80", "[::1%l/o]:80", "[::g]:80", "[1::2::3]:80",
                         "localhost:80", "[localhost]:80", "1.2.3.4%lo:80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        usock_addr before, after;
        memset(&before, 0x5a, sizeof before);
        after = before;
        int rc = usock_addr_parse(&after, bad[i]);
        if (rc != USOCK_EINVAL)
            fail_msg("addr_parse(\"%s\") gave %d", show(bad[i]), rc);
        assert_memory_equal(&before, &after, sizeof before);
    }
    usock_addr a;
    assert_int_equal(usock_addr_parse(NULL, "1.2.3.4:80"), USOCK_EINVAL);
    assert_int_equal(usock_addr_parse(&a, NULL), USOCK_EINVAL);
    assert_int_equal(usock_addr_parse(&a, "1.2.3.4:00080"), 0);
    assert_int_equal(usock_addr_port(&a), 80);
    assert_int_equal(usock_addr_parse(&a, "1.2.3.4:0"), 0);
    assert_int_equal(usock_addr_port(&a), 0);
    assert_int_equal(usock_addr_parse(&a, "[::FFFF:1.2.3.4]:65535"), 0);
    check_round_trip(&a, "[::ffff:1.2.3.4]:65535");
}

static void test_format_caps(void **state)
{
    (void)state;
    const char *ips[] = {"1.2.3.4", "255.255.255.255", "::1", "fe80::1%lo",
                         "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295"};
    for (size_t i = 0; i < sizeof ips / sizeof *ips; i++) {
        usock_addr a;
        char buf[USOCK_ADDRSTRLEN + 8];
        assert_int_equal(usock_addr_from_ip(&a, ips[i], 65535), 0);
        int need = usock_addr_format(&a, buf, sizeof buf);
        assert_true(need > 0 && need < USOCK_ADDRSTRLEN);
        for (int cap = 0; cap <= need; cap++) {
            memset(buf, 'X', sizeof buf);
            assert_int_equal(usock_addr_format(&a, buf, (size_t)cap), USOCK_ENOSPC);
            assert_int_equal(buf[0], cap > 0 ? '\0' : 'X');
        }
        memset(buf, 'X', sizeof buf);
        assert_int_equal(usock_addr_format(&a, buf, (size_t)need + 1), need);
        assert_int_equal(buf[need], '\0');
        assert_int_equal(usock_addr_format(&a, NULL, 0), USOCK_ENOSPC);
    }
}

static void test_format_errors(void **state)
{
    (void)state;
    usock_addr a;
    char buf[USOCK_ADDRSTRLEN];
    memset(&a, 0, sizeof a);
    assert_int_equal(usock_addr_family(&a), 0);
    assert_int_equal(usock_addr_port(&a), USOCK_EAFNOSUPPORT);
    memset(buf, 'X', sizeof buf);
    assert_int_equal(usock_addr_format(&a, buf, sizeof buf), USOCK_EAFNOSUPPORT);
    assert_string_equal(buf, "");
    /* A family usock does not print (AF_UNIX is printed: see the Unix
     * address tests). */
    a.ss.ss_family = AF_APPLETALK;
    assert_int_equal(usock_addr_format(&a, buf, sizeof buf), USOCK_EAFNOSUPPORT);
    assert_int_equal(usock_addr_port(&a), USOCK_EAFNOSUPPORT);
    assert_int_equal(usock_addr_format(NULL, buf, sizeof buf), USOCK_EINVAL);
    assert_int_equal(usock_addr_from_ip(&a, "1.2.3.4", 80), 0);
    assert_int_equal(usock_addr_format(&a, NULL, 10), USOCK_EINVAL);
    assert_int_equal(usock_addr_port(NULL), USOCK_EINVAL);
    assert_int_equal(usock_addr_family(NULL), 0);
}

/* ---- Unix-domain addresses -------------------------------------------------- */

#define SUN_OFF offsetof(struct sockaddr_un, sun_path)
#define SUN_CAP sizeof(((struct sockaddr_un *)0)->sun_path)

static const struct sockaddr_un *sun_of(const usock_addr *a)
{
    return (const struct sockaddr_un *)&a->ss;
}

/* format gives want, and parse of want gives the same bytes back. */
static void check_unix_round_trip(const usock_addr *a, const char *want)
{
    char text[USOCK_ADDRSTRLEN];
    int n = usock_addr_format(a, text, sizeof text);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(text, want);
    if (!*want)
        return; /* unnamed: nothing to parse */
    usock_addr back;
    memset(&back, 0x5a, sizeof back);
    assert_int_equal(usock_addr_parse(&back, text), 0);
    assert_int_equal(back.len, a->len);
    assert_memory_equal(&back.ss, &a->ss, a->len);
}

static void test_unix_path(void **state)
{
    (void)state;
    usock_addr a;
    assert_int_equal(usock_addr_from_path(&a, "/tmp/x.sock"), 0);
    assert_int_equal(usock_addr_family(&a), AF_UNIX);
    assert_int_equal(a.len, SUN_OFF + strlen("/tmp/x.sock") + 1);
    assert_string_equal(sun_of(&a)->sun_path, "/tmp/x.sock");
    assert_int_equal(usock_addr_port(&a), USOCK_EAFNOSUPPORT);
    check_unix_round_trip(&a, "/tmp/x.sock");
    /* Relative paths: any text with a '/'. */
    const char *paths[] = {"./x", "dir/x.sock", "a/", "../../s"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        assert_int_equal(usock_addr_parse(&a, paths[i]), 0);
        assert_int_equal(usock_addr_family(&a), AF_UNIX);
        check_unix_round_trip(&a, paths[i]);
    }
    /* The kernel may count the NUL or not: both print the same. */
    assert_int_equal(usock_addr_from_path(&a, "/run/s"), 0);
    a.len--;
    char text[USOCK_ADDRSTRLEN];
    assert_int_equal(usock_addr_format(&a, text, sizeof text), 6);
    assert_string_equal(text, "/run/s");
}

/* "@name": Linux's abstract namespace, sun_path[0] NUL, len without a NUL
 * at the end. */
static void test_unix_abstract(void **state)
{
    (void)state;
    usock_addr a;
    assert_int_equal(usock_addr_from_path(&a, "@usock-test"), 0);
    assert_int_equal(usock_addr_family(&a), AF_UNIX);
    assert_int_equal(a.len, SUN_OFF + 1 + strlen("usock-test"));
    assert_int_equal(sun_of(&a)->sun_path[0], '\0');
    assert_memory_equal(sun_of(&a)->sun_path + 1, "usock-test", strlen("usock-test"));
    check_unix_round_trip(&a, "@usock-test");
    assert_int_equal(usock_addr_parse(&a, "@x"), 0);
    check_unix_round_trip(&a, "@x");
    /* "@" alone: the empty abstract name. */
    assert_int_equal(usock_addr_from_path(&a, "@"), 0);
    assert_int_equal(a.len, SUN_OFF + 1);
    check_unix_round_trip(&a, "@");
}

/* An unnamed socket (a socketpair end, an unbound client) has only the
 * family: it prints as "". */
static void test_unix_unnamed(void **state)
{
    (void)state;
    usock_addr a;
    char text[8];
    memset(&a, 0, sizeof a);
    a.ss.ss_family = AF_UNIX;
    a.len = sizeof(sa_family_t);
    memset(text, 'X', sizeof text);
    assert_int_equal(usock_addr_format(&a, text, sizeof text), 0);
    assert_string_equal(text, "");
    assert_int_equal(usock_addr_family(&a), AF_UNIX);
    assert_int_equal(usock_addr_port(&a), USOCK_EAFNOSUPPORT);
    /* Formatting needs room for the NUL only. */
    assert_int_equal(usock_addr_format(&a, text, 1), 0);
    assert_int_equal(usock_addr_format(&a, NULL, 0), USOCK_ENOSPC);
}

static void test_unix_limits_and_errors(void **state)
{
    (void)state;
    char path[SUN_CAP + 2];
    usock_addr a, before;
    /* The longest path keeps room for its NUL; the longest abstract name
     * fills sun_path after its NUL byte. */
    memset(path, 'p', sizeof path);
    path[0] = '/';
    path[SUN_CAP - 1] = '\0';
    assert_int_equal(usock_addr_from_path(&a, path), 0);
    assert_int_equal(a.len, SUN_OFF + SUN_CAP);
    check_unix_round_trip(&a, path);
    path[0] = '@';
    path[SUN_CAP - 1] = 'p';
    path[SUN_CAP] = '\0';
    assert_int_equal(usock_addr_from_path(&a, path), 0);
    assert_int_equal(a.len, SUN_OFF + SUN_CAP);
    check_unix_round_trip(&a, path);
    char text[USOCK_ADDRSTRLEN];
    for (size_t cap = 0; cap <= SUN_CAP; cap++)
        assert_int_equal(usock_addr_format(&a, text, cap), USOCK_ENOSPC);
    /* One byte more: too long, and *a untouched. */
    memset(&before, 0x5a, sizeof before);
    a = before;
    path[SUN_CAP] = 'p';
    path[SUN_CAP + 1] = '\0';
    assert_int_equal(usock_addr_from_path(&a, path), USOCK_ENAMETOOLONG);
    assert_int_equal(usock_addr_parse(&a, path), USOCK_ENAMETOOLONG);
    path[0] = '/';
    path[SUN_CAP] = '\0';
    assert_int_equal(usock_addr_from_path(&a, path), USOCK_ENAMETOOLONG);
    assert_memory_equal(&a, &before, sizeof a);
    assert_int_equal(usock_addr_from_path(&a, ""), USOCK_EINVAL);
    assert_int_equal(usock_addr_from_path(&a, NULL), USOCK_EINVAL);
    assert_int_equal(usock_addr_from_path(NULL, "/x"), USOCK_EINVAL);
    assert_memory_equal(&a, &before, sizeof a);
    /* Text without '/' or a leading '@' is never a path. */
    assert_int_equal(usock_addr_parse(&a, "x.sock"), USOCK_EINVAL);
    assert_int_equal(usock_addr_parse(&a, "[::1%a/b]:80"), USOCK_EINVAL);
}

/* ---- usock_parse_port ---------------------------------------------------- */

static void test_parse_port(void **state)
{
    (void)state;
    assert_int_equal(usock_parse_port("0"), 0);
    assert_int_equal(usock_parse_port("80"), 80);
    assert_int_equal(usock_parse_port("65535"), 65535);
    assert_int_equal(usock_parse_port("080"), 80); /* decimal, never octal */
    assert_int_equal(usock_parse_port("00080"), 80);
    assert_int_equal(usock_parse_port("00000"), 0);
    const char *bad[] = {"",    "65536", "99999", "000080", "123456", "-1",  "+1",
                         " 1",  "1 ",    "1\n",   "0x10",   "1e3",    "8 0", "80a",
                         "a80", ":80",   "٣"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (usock_parse_port(bad[i]) != USOCK_EINVAL)
            fail_msg("usock_parse_port(\"%s\") = %d", bad[i], usock_parse_port(bad[i]));
    assert_int_equal(usock_parse_port(NULL), USOCK_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipaddr_vectors),   cmocka_unit_test(test_glibc_vectors),
        cmocka_unit_test(test_glibc_random),     cmocka_unit_test(test_inet_errors),
        cmocka_unit_test(test_hostport_vectors), cmocka_unit_test(test_from_ip),
        cmocka_unit_test(test_scope),            cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_parse_malformed),  cmocka_unit_test(test_format_caps),
        cmocka_unit_test(test_format_errors),
        cmocka_unit_test(test_unix_path),        cmocka_unit_test(test_unix_abstract),
        cmocka_unit_test(test_unix_unnamed),     cmocka_unit_test(test_unix_limits_and_errors),
        cmocka_unit_test(test_parse_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
