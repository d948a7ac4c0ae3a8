/* dns_stub.c -- the unit tests' stub DNS server (dns_stub.h). */
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns_stub.h"
#include "helpers.h"

enum { T_A = 1, T_AAAA = 28, C_IN = 1, RC_NOERROR = 0, RC_FORMERR = 1, RC_NXDOMAIN = 3 };


/* The question's name, dotted and lowercase, into out; the offset just
 * after the question (type and class included), or -1. */
static int parse_question(const unsigned char *m, int n, char *out, size_t cap, int *qtype)
{
    int i = 12;
    size_t o = 0;
    for (;;) {
        if (i >= n)
            return -1;
        int len = m[i++];
        if (len == 0)
            break;
        if (len > 63 || i + len > n || o + (size_t)len + 2 > cap)
            return -1; /* no compression in a query, no label too long */
        if (o)
            out[o++] = '.';
        for (int k = 0; k < len; k++) {
            char c = (char)m[i + k];
            out[o++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        }
        i += len;
    }
    out[o] = '\0';
    if (i + 4 > n)
        return -1;
    *qtype = m[i] << 8 | m[i + 1];
    int qclass = m[i + 2] << 8 | m[i + 3];
    if (qclass != C_IN)
        return -1;
    return i + 4;
}

static void put16(unsigned char *p, int v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

/* The answer to the query m (n bytes) into r; its length, or 0 for none. */
static int stub_answer(const struct stub *st, const unsigned char *m, int n, unsigned char *r,
                       int cap)
{
    if (n < 12 || (m[2] & 0x80)) /* too short, or a response */
        return 0;
    int qd = m[4] << 8 | m[5];
    char name[256];
    int qtype = 0;
    int end = qd == 1 ? parse_question(m, n, name, sizeof name, &qtype) : -1;
    memset(r, 0, 12);
    memcpy(r, m, 2);                              /* ID */
    r[2] = (unsigned char)(0x80 | (m[2] & 0x79)); /* QR, the opcode, RD */
    r[3] = 0x80;                                  /* RA */
    if (end < 0) {
        r[3] |= RC_FORMERR;
        return 12;
    }
    memcpy(r + 12, m + 12, (size_t)(end - 12)); /* the question */
    put16(r + 4, 1);
    int len = end, an = 0;
    const struct stub_name *e = NULL;
    for (size_t i = 0; i < st->nnames; i++)
        if (strcmp(name, st->names[i].name) == 0)
            e = &st->names[i];
    if (!e) {
        r[3] |= RC_NXDOMAIN;
        return len;
    }
    const char *const *list = qtype == T_A ? e->a : qtype == T_AAAA ? e->aaaa : NULL;
    for (int k = 0; list && k < 3 && list[k]; k++) {
        unsigned char addr[16];
        int af = qtype == T_A ? AF_INET : AF_INET6, alen = af == AF_INET ? 4 : 16;
        if (inet_pton(af, list[k], addr) != 1 || len + 12 + alen > cap)
            return 0;
        unsigned char *p = r + len;
        put16(p, 0xc00c); /* the name: a pointer to the question's */
        put16(p + 2, qtype);
        put16(p + 4, C_IN);
        put16(p + 6, 0);
        put16(p + 8, 60); /* TTL */
        put16(p + 10, alen);
        memcpy(p + 12, addr, (size_t)alen);
        len += 12 + alen;
        an++;
    }
    put16(r + 6, an);
    return len;
}

static void *stub_main(void *arg)
{
    struct stub *st = arg;
    while (!atomic_load(&st->stop)) {
        struct pollfd pf = {.fd = st->fd, .events = POLLIN};
        if (poll(&pf, 1, 20) <= 0)
            continue;
        unsigned char q[1500], r[1500];
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(st->fd, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
        if (n <= 0)
            continue;
        atomic_fetch_add(&st->queries, 1);
        if (atomic_load(&st->silent))
            continue;
        int len = stub_answer(st, q, (int)n, r, (int)sizeof r);
        if (len > 0)
            sendto(st->fd, r, (size_t)len, 0, (struct sockaddr *)&from, fl);
    }
    return NULL;
}

void stub_start(struct stub *st, const struct stub_name *names, size_t n, int silent)
{
    memset(st, 0, sizeof *st);
    st->names = names;
    st->nnames = n;
    st->fd = raw_bound(AF_INET, SOCK_DGRAM, &st->port);
    atomic_store(&st->silent, silent);
    assert_int_equal(pthread_create(&st->thread, NULL, stub_main, st), 0);
    st->running = 1;
}

void stub_stop(struct stub *st)
{
    if (st->running) {
        atomic_store(&st->stop, 1);
        pthread_join(st->thread, NULL);
        close(st->fd);
        st->running = 0;
    }
}
