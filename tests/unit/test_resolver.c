/* test_resolver.c -- usock_resolver: getaddrinfo through c-ares against a
 * stub DNS server of the test's own, bounded by a timeout.
 *
 * The stub is a thread on UDP 127.0.0.1 (a free port) that parses each
 * query (RFC 1035: the header and one question) and answers from a small
 * table, or, silent, reads queries and never answers; it counts what it
 * got, so that a test can tell a lookup that never asked it. Every lookup
 * is bounded; durations are printed, and asserted only as "not early"
 * lower bounds and generous upper bounds that catch a hang. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dns_stub.h"
#include "helpers.h"

/* The c-ares version, for the words of RES_OPTIONS (see
 * silent_server_without_timeout_ends_by_itself); the header only, the
 * test calls no c-ares function. */
#if defined(__has_include)
#if __has_include(<ares_version.h>)
#include <ares_version.h>
#endif
#endif
#if defined(ARES_VERSION) && ARES_VERSION < 0x011c00
#define FAST_RES_OPTIONS "retrans:1000 retry:2"
#else
#define FAST_RES_OPTIONS "timeout:1 attempts:2"
#endif

/* ======================================================================== */
/* the stub DNS server                                                       */

/* What the stub answers here (dns_stub.h). */
static const struct stub_name stub_names[] = {
    {"stub.test", {"127.0.0.7"}, {"::7"}},
    {"v4only.test", {"127.0.0.7"}, {NULL}},
    {"two.test", {"127.0.0.7", "127.0.0.8"}, {NULL}},
};

/* A resolver whose only server is the stub. */
static usock_resolver *stub_resolver(const struct stub *st)
{
    char servers[32];
    snprintf(servers, sizeof servers, "127.0.0.1:%d", st->port);
    usock_resolver *r = NULL;
    assert_ok(usock_resolver_new(&r, servers));
    assert_non_null(r);
    return r;
}

/* ---- the fixture: a stub and a resolver on it, undone even after a
 * failed test ---------------------------------------------------------------- */

struct world {
    struct stub dns;
    usock_resolver *r;
    usock_addrinfo *res; /* freed by the teardown */
};

static int world_up(void **state, int silent)
{
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    *state = w;
    stub_start(&w->dns, stub_names, sizeof stub_names / sizeof stub_names[0], silent);
    w->r = stub_resolver(&w->dns);
    return 0;
}
static int answering_up(void **state)
{
    return world_up(state, 0);
}
static int silent_up(void **state)
{
    return world_up(state, 1);
}

static int world_down(void **state)
{
    struct world *w = *state;
    if (w) {
        usock_freeaddrinfo(w->res);
        usock_resolver_free(w->r);
        stub_stop(&w->dns);
        free(w);
    }
    return 0;
}

static int queries(const struct world *w)
{
    return atomic_load(&((struct world *)w)->dns.queries);
}

/* ---- what an answer holds ----------------------------------------------- */

static int count_entries(const usock_addrinfo *ai)
{
    int n = 0;
    for (; ai; ai = ai->next)
        n++;
    return n;
}

/* The numeric text of an entry's address. */
static void ip_of(const usock_addrinfo *ai, char *buf, size_t cap)
{
    const void *src;
    struct sockaddr_in s4;
    struct sockaddr_in6 s6;
    if (ai->addr.ss.ss_family == AF_INET6) {
        memcpy(&s6, &ai->addr.ss, sizeof s6);
        src = &s6.sin6_addr;
    } else {
        memcpy(&s4, &ai->addr.ss, sizeof s4);
        src = &s4.sin_addr;
    }
    if (!inet_ntop(ai->addr.ss.ss_family, src, buf, (socklen_t)cap))
        snprintf(buf, cap, "?");
}

/* res holds exactly the addresses of want (NULL-ended, any order), each
 * once, each with the port, its family in the entry and in the address,
 * and the type asked for. */
#define expect_addresses(res, port, type, ...) \
    expect_addresses_at((res), (port), (type), (const char *const[]){__VA_ARGS__, NULL}, __LINE__)
static void expect_addresses_at(const usock_addrinfo *res, int port, int type,
                                const char *const *want, int line)
{
    int nwant = 0;
    while (want[nwant])
        nwant++;
    int seen[8] = {0};
    for (const usock_addrinfo *ai = res; ai; ai = ai->next) {
        char ip[INET6_ADDRSTRLEN];
        ip_of(ai, ip, sizeof ip);
        int k = 0;
        while (k < nwant && strcmp(want[k], ip) != 0)
            k++;
        if (k == nwant)
            fail_msg("line %d: unexpected address %s in the answer", line, ip);
        if (seen[k]++)
            fail_msg("line %d: %s twice in the answer", line, ip);
        if (ai->family != ai->addr.ss.ss_family)
            fail_msg("line %d: %s: family %d, address family %d", line, ip, ai->family,
                     ai->addr.ss.ss_family);
        if (ai->addr.len !=
            (ai->family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)))
            fail_msg("line %d: %s: address length %u", line, ip, (unsigned)ai->addr.len);
        if (port_of(&ai->addr) != port)
            fail_msg("line %d: %s: port %d, want %d", line, ip, port_of(&ai->addr), port);
        if (usock_addr_port(&ai->addr) != port)
            fail_msg("line %d: %s: usock_addr_port %d, want %d", line, ip,
                     usock_addr_port(&ai->addr), port);
        if (ai->type != type)
            fail_msg("line %d: %s: type %d, want %d", line, ip, ai->type, type);
        if (!ai->canonname)
            fail_msg("line %d: %s: canonname NULL (want \"\" when none)", line, ip);
    }
    for (int k = 0; k < nwant; k++)
        if (!seen[k])
            fail_msg("line %d: %s missing from the answer (%d entries)", line, want[k],
                     count_entries(res));
}

/* ======================================================================== */
/* construction and arguments                                                */

static void resolver_new_and_free(void **state)
{
    (void)state;
    usock_resolver_free(NULL);
    usock_resolver *r = NULL;
    assert_ok(usock_resolver_new(&r, NULL)); /* resolv.conf's servers */
    assert_non_null(r);
    usock_resolver_free(r);
    r = NULL;
    assert_ok(usock_resolver_new(&r, "127.0.0.1:5353,[::1]:53"));
    assert_non_null(r);
    usock_resolver_free(r);
    assert_code(usock_resolver_new(NULL, NULL), USOCK_EINVAL);
}

/* A server list that is not one: EINVAL, and nothing made. */
static void expect_bad_server_list(const char *const *bad, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        usock_resolver *r = (usock_resolver *)&r;
        int rc = usock_resolver_new(&r, bad[i]);
        if (rc != USOCK_EINVAL) {
            usock_resolver_free(rc == 0 ? r : NULL);
            fail_msg("resolver_new(\"%s\") = %d (%s), want EINVAL", bad[i], rc, usock_errname(rc));
        }
        assert_null(r);
    }
}

static void resolver_new_refuses_a_bad_server_list(void **state)
{
    (void)state;
    const char *const bad[] = {"not-an-address", "127.0.0.1:x", "localhost", ",", "[::1]"};
    expect_bad_server_list(bad, sizeof bad / sizeof bad[0]);
}

/* Found here (fixed): c-ares 1.18's list parser
 * (set_servers_csv) takes these and usock_resolver_new returns 0 where the
 * header promises USOCK_EINVAL for a bad list: an unclosed "[::1" (taken
 * as ::1 port 53), a port above 65535 ("127.0.0.1:99999", "[::1]:70000":
 * cut to 16 bits, another port than the one written), "1.2.3.4.5" (taken
 * by ares_inet_pton). */
static void resolver_new_refuses_unclosed_brackets_and_bad_ports(void **state)
{
    (void)state;
    const char *const bad[] = {"[::1", "127.0.0.1:99999", "[::1]:70000", "1.2.3.4.5"};
    expect_bad_server_list(bad, sizeof bad / sizeof bad[0]);
}

static void getaddrinfo_bad_arguments_are_einval(void **state)
{
    struct world *w = *state;
    usock_addrinfo **res = &w->res;
    assert_code(usock_resolver_getaddrinfo(w->r, "stub.test", 80, 0, SOCK_STREAM, 0, 1.0, NULL),
                USOCK_EINVAL);
    *res = (usock_addrinfo *)res;
    assert_code(usock_resolver_getaddrinfo(NULL, "stub.test", 80, 0, SOCK_STREAM, 0, 1.0, res),
                USOCK_EINVAL);
    assert_null(*res);
    assert_code(usock_resolver_getaddrinfo(w->r, NULL, 80, 0, SOCK_STREAM, 0, 1.0, res),
                USOCK_EINVAL);
    assert_code(usock_resolver_getaddrinfo(w->r, "", 80, 0, SOCK_STREAM, 0, 1.0, res),
                USOCK_EINVAL);
    assert_code(usock_resolver_getaddrinfo(w->r, "stub.test", 70000, 0, SOCK_STREAM, 0, 1.0, res),
                USOCK_EINVAL);
    assert_code(usock_resolver_getaddrinfo(w->r, "stub.test", -1, 0, SOCK_STREAM, 0, 1.0, res),
                USOCK_EINVAL);
    assert_code(usock_resolver_getaddrinfo(w->r, "127.0.0.1", 70000, 0, SOCK_STREAM, 0, 1.0, res),
                USOCK_EINVAL);
    assert_code(
        usock_resolver_getaddrinfo(w->r, "stub.test", 80, 0, SOCK_STREAM, AI_PASSIVE, 1.0, res),
        USOCK_EINVAL);
    assert_code(
        usock_resolver_getaddrinfo(w->r, "stub.test", 80, 0, SOCK_STREAM, 0, (double)NAN, res),
        USOCK_EINVAL);
    assert_null(*res);
    assert_int_equal(queries(w), 0);
}

/* ======================================================================== */
/* answers from the stub                                                      */

static void stub_name_resolves_in_each_family(void **state)
{
    struct world *w = *state;
    assert_ok(usock_resolver_getaddrinfo(w->r, "stub.test", 8080, 0, SOCK_STREAM, 0, 5.0, &w->res));
    expect_addresses(w->res, 8080, SOCK_STREAM, "127.0.0.7", "::7");
    assert_int_equal(w->res->proto, IPPROTO_TCP);
    usock_freeaddrinfo(w->res);
    w->res = NULL;
    int after_any = queries(w);
    assert_true(after_any >= 1);

    assert_ok(
        usock_resolver_getaddrinfo(w->r, "stub.test", 53, AF_INET, SOCK_DGRAM, 0, 5.0, &w->res));
    expect_addresses(w->res, 53, SOCK_DGRAM, "127.0.0.7");
    assert_int_equal(w->res->proto, IPPROTO_UDP);
    usock_freeaddrinfo(w->res);
    w->res = NULL;

    assert_ok(usock_resolver_getaddrinfo(w->r, "STUB.Test", 8443, AF_INET6, SOCK_STREAM, 0, 5.0,
                                         &w->res));
    expect_addresses(w->res, 8443, SOCK_STREAM, "::7");
    usock_freeaddrinfo(w->res);
    w->res = NULL;

    /* No timeout: the answer comes before the resolver's own retries end. */
    assert_ok(
        usock_resolver_getaddrinfo(w->r, "stub.test", 65535, AF_INET, SOCK_STREAM, 0, -1, &w->res));
    expect_addresses(w->res, 65535, SOCK_STREAM, "127.0.0.7");
    printf("# stub queries: %d for af 0, %d in all\n", after_any, queries(w));
}

static void two_addresses_of_a_name_are_both_there(void **state)
{
    struct world *w = *state;
    assert_ok(
        usock_resolver_getaddrinfo(w->r, "two.test", 443, AF_INET, SOCK_STREAM, 0, 5.0, &w->res));
    expect_addresses(w->res, 443, SOCK_STREAM, "127.0.0.7", "127.0.0.8");
    assert_int_equal(count_entries(w->res), 2);
}

static void no_address_of_the_family_is_eai_nodata(void **state)
{
    struct world *w = *state;
    w->res = (usock_addrinfo *)&w->res;
    assert_code(
        usock_resolver_getaddrinfo(w->r, "v4only.test", 80, AF_INET6, SOCK_STREAM, 0, 5.0, &w->res),
        USOCK_EAI_NODATA);
    assert_null(w->res);
    /* Either family: the one there is. */
    assert_ok(usock_resolver_getaddrinfo(w->r, "v4only.test", 80, 0, SOCK_STREAM, 0, 5.0, &w->res));
    expect_addresses(w->res, 80, SOCK_STREAM, "127.0.0.7");
}

static void nxdomain_is_eai_noname(void **state)
{
    struct world *w = *state;
    const int afs[] = {0, AF_INET, AF_INET6};
    for (size_t i = 0; i < 3; i++) {
        w->res = (usock_addrinfo *)&w->res;
        int rc = usock_resolver_getaddrinfo(w->r, "nxdomain.test", 80, afs[i], SOCK_STREAM, 0, 5.0,
                                            &w->res);
        if (rc != USOCK_EAI_NONAME)
            fail_msg("nxdomain.test af %d = %d (%s), want EAI_NONAME", afs[i], rc,
                     usock_errname(rc));
        assert_null(w->res);
    }
    assert_true(queries(w) >= 3);
}

/* AI_CANONNAME: the first entry carries the name, the others "". */
static void canonname_is_on_the_first_entry(void **state)
{
    struct world *w = *state;
    assert_ok(usock_resolver_getaddrinfo(w->r, "two.test", 80, AF_INET, SOCK_STREAM, AI_CANONNAME,
                                         5.0, &w->res));
    assert_int_equal(count_entries(w->res), 2);
    assert_non_null(w->res->canonname);
    assert_true(strcasecmp(w->res->canonname, "two.test") == 0);
    assert_string_equal(w->res->next->canonname, "");
}

/* ======================================================================== */
/* what never asks the server                                                 */

static void localhost_is_loopback_without_a_query(void **state)
{
    struct world *w = *state;
    const char *names[] = {"localhost", "LOCALHOST.", "app.localhost"};
    for (size_t i = 0; i < 3; i++) {
        assert_ok(usock_resolver_getaddrinfo(w->r, names[i], 8080, AF_INET, SOCK_STREAM, 0, 5.0,
                                             &w->res));
        assert_non_null(w->res);
        for (usock_addrinfo *ai = w->res; ai; ai = ai->next) {
            if (!is_loopback(&ai->addr, AF_INET))
                fail_msg("%s: an address that is not 127.0.0.1", names[i]);
            assert_int_equal(port_of(&ai->addr), 8080);
        }
        usock_freeaddrinfo(w->res);
        w->res = NULL;
    }
    /* Either family: loopback addresses, whichever there are. */
    assert_ok(usock_resolver_getaddrinfo(w->r, "localhost", 80, 0, SOCK_STREAM, 0, 5.0, &w->res));
    assert_non_null(w->res);
    for (usock_addrinfo *ai = w->res; ai; ai = ai->next)
        assert_true(is_loopback(&ai->addr, ai->family));
    assert_int_equal(queries(w), 0);
}

static void numeric_hosts_are_themselves_without_a_query(void **state)
{
    struct world *w = *state;
    const int flags[] = {0, AI_NUMERICHOST};
    for (size_t i = 0; i < 2; i++) {
        assert_ok(usock_resolver_getaddrinfo(w->r, "127.0.0.1", 80, AF_INET, SOCK_STREAM, flags[i],
                                             5.0, &w->res));
        expect_addresses(w->res, 80, SOCK_STREAM, "127.0.0.1");
        assert_int_equal(count_entries(w->res), 1);
        usock_freeaddrinfo(w->res);
        w->res = NULL;
        const int afs6[] = {0, AF_INET6};
        for (size_t k = 0; k < 2; k++) {
            assert_ok(usock_resolver_getaddrinfo(w->r, "::1", 443, afs6[k], SOCK_STREAM, flags[i],
                                                 5.0, &w->res));
            expect_addresses(w->res, 443, SOCK_STREAM, "::1");
            assert_int_equal(count_entries(w->res), 1);
            usock_freeaddrinfo(w->res);
            w->res = NULL;
        }
    }
    /* A number is answered even when no time is left. */
    assert_ok(
        usock_resolver_getaddrinfo(w->r, "127.0.0.1", 80, AF_INET, SOCK_STREAM, 0, 0.0, &w->res));
    expect_addresses(w->res, 80, SOCK_STREAM, "127.0.0.1");
    usock_freeaddrinfo(w->res);
    w->res = NULL;
    assert_ok(usock_resolver_getaddrinfo(w->r, "::1", 80, 0, SOCK_STREAM, 0, 0.0, &w->res));
    expect_addresses(w->res, 80, SOCK_STREAM, "::1");
    assert_int_equal(queries(w), 0);
}

/* Found here (fixed): an IPv4 number with af 0 goes to
 * the DNS. c-ares 1.18's fake_addrinfo takes "127.0.0.1" as a number
 * only for AF_INET: for AF_UNSPEC it keeps the IPv4 node but also sends A
 * and AAAA queries for the name "127.0.0.1", and the answer waits for
 * them. usock_resolver_getaddrinfo(r, "127.0.0.1", 80, 0, SOCK_STREAM, 0,
 * 5.0, &res) gives 127.0.0.1 but after 2 queries to the stub; against a
 * silent server with timeout 0.5 it is USOCK_ETIMEDOUT (and with timeout
 * 0 at once), so usock_create_connection_opts(.., "127.0.0.1", .., {resolver,
 * deadline 0.5}) fails with ETIMEDOUT at "resolve". Want: 127.0.0.1, no
 * query, whatever the server and the time left. */
static void ipv4_number_with_any_family_asks_no_server(void **state)
{
    struct world *w = *state;
    assert_ok(usock_resolver_getaddrinfo(w->r, "127.0.0.1", 80, 0, SOCK_STREAM, 0, 5.0, &w->res));
    expect_addresses(w->res, 80, SOCK_STREAM, "127.0.0.1");
    usock_freeaddrinfo(w->res);
    w->res = NULL;
    int q = queries(w);
    if (q != 0)
        fail_msg("\"127.0.0.1\" af 0 sent %d DNS queries, want 0", q);
    assert_ok(usock_resolver_getaddrinfo(w->r, "127.0.0.1", 80, 0, SOCK_STREAM, 0, 0.0, &w->res));
}

/* The same against a server that never answers: a number needs none. */
static void ipv4_number_with_any_family_needs_no_server(void **state)
{
    struct world *w = *state;
    double t0 = now_s();
    int rc = usock_resolver_getaddrinfo(w->r, "127.0.0.1", 80, 0, SOCK_STREAM, 0, 0.5, &w->res);
    printf("# silent server, \"127.0.0.1\" af 0: %s after %.3f s, %d queries\n", usock_errname(rc),
           now_s() - t0, queries(w));
    assert_ok(rc);
    expect_addresses(w->res, 80, SOCK_STREAM, "127.0.0.1");
}

/* Found here (fixed): a number of the other family. c-ares
 * 1.18 answers "127.0.0.1" asked as AF_INET6 with the IPv4 address (its
 * IPv4 node is kept while the AAAA query for the name fails), after a
 * query to the server; "::1" asked as AF_INET is EAI_NONAME after a
 * query. usock_getaddrinfo (glibc) gives EAI_ADDRFAMILY for both, asking
 * no one. Want: an error, no address of the wrong family, no query. */
static void number_of_the_other_family_is_an_error_without_a_query(void **state)
{
    struct world *w = *state;
    int rc =
        usock_resolver_getaddrinfo(w->r, "127.0.0.1", 80, AF_INET6, SOCK_STREAM, 0, 5.0, &w->res);
    if (rc == 0)
        fail_msg("\"127.0.0.1\" as AF_INET6 = OK with family %d, want an error", w->res->family);
    rc = usock_resolver_getaddrinfo(w->r, "::1", 80, AF_INET, SOCK_STREAM, 0, 5.0, &w->res);
    assert_true(rc < 0);
    assert_int_equal(queries(w), 0);
}

/* Found here (fixed): AI_NUMERICHOST is passed to c-ares
 * as ARES_AI_NUMERICHOST, which c-ares 1.18's ares_getaddrinfo never
 * reads: usock_resolver_getaddrinfo(r, "stub.test", 80, 0, SOCK_STREAM,
 * AI_NUMERICHOST, 5.0, &res) = 0 with 127.0.0.7 and ::7, after 2 queries.
 * Want: an error (usock_getaddrinfo: EAI_NONAME), no query. */
static void numerichost_with_a_name_is_an_error_without_a_query(void **state)
{
    struct world *w = *state;
    w->res = (usock_addrinfo *)&w->res;
    int rc = usock_resolver_getaddrinfo(w->r, "stub.test", 80, 0, SOCK_STREAM, AI_NUMERICHOST, 5.0,
                                        &w->res);
    printf("# AI_NUMERICHOST with a name: %s, %d queries\n", usock_errname(rc), queries(w));
    if (rc == 0)
        fail_msg("AI_NUMERICHOST \"stub.test\" = OK (%d entries), want an error",
                 count_entries(w->res));
    assert_null(w->res);
    assert_int_equal(queries(w), 0);
}

/* Found here (fixed): port 0, inside the documented
 * 0..65535, fails for every host but "localhost": the service "0" with
 * ARES_AI_NUMERICSERV is ARES_ESERVICE in c-ares 1.18, which status_code
 * turns into USOCK_EAI_AGAIN. usock_resolver_getaddrinfo(r, "stub.test",
 * 0, 0, SOCK_STREAM, 0, 5.0, &res) and the same for "127.0.0.1" =
 * USOCK_EAI_AGAIN; usock_getaddrinfo gives the addresses with port 0. */
static void port_zero_is_a_port(void **state)
{
    struct world *w = *state;
    assert_ok(
        usock_resolver_getaddrinfo(w->r, "127.0.0.1", 0, AF_INET, SOCK_STREAM, 0, 5.0, &w->res));
    expect_addresses(w->res, 0, SOCK_STREAM, "127.0.0.1");
    usock_freeaddrinfo(w->res);
    w->res = NULL;
    assert_ok(
        usock_resolver_getaddrinfo(w->r, "stub.test", 0, AF_INET6, SOCK_STREAM, 0, 5.0, &w->res));
    expect_addresses(w->res, 0, SOCK_STREAM, "::7");
}

/* Found here (fixed): without AI_CANONNAME the first
 * entry still carries a name (on_answer takes ai->name whatever the
 * flags): "stub.test" af 0 flags 0 gives canonname "stub.test", "127.0.0.1"
 * af 0 gives "127.0.0.1"; usock_getaddrinfo (and Python) give "" unless
 * AI_CANONNAME is asked for. */
static void no_canonname_unless_asked(void **state)
{
    struct world *w = *state;
    assert_ok(usock_resolver_getaddrinfo(w->r, "stub.test", 80, 0, SOCK_STREAM, 0, 5.0, &w->res));
    for (usock_addrinfo *ai = w->res; ai; ai = ai->next)
        if (strcmp(ai->canonname, "") != 0)
            fail_msg("canonname \"%s\" without AI_CANONNAME, want \"\"", ai->canonname);
}

/* A name no DNS can hold (an empty label): an error, quickly. The stub is
 * the one server the resolver knows, so nothing else is asked; how many
 * queries it saw is printed (none with c-ares 1.18, which refuses the
 * name before sending). */
static void bad_name_is_an_error(void **state)
{
    struct world *w = *state;
    w->res = (usock_addrinfo *)&w->res;
    double t0 = now_s();
    int rc = usock_resolver_getaddrinfo(w->r, "no-such-host..invalid", 80, 0, SOCK_STREAM, 0, 5.0,
                                        &w->res);
    double el = now_s() - t0;
    printf("# no-such-host..invalid: %s in %.3f s, %d stub queries\n", usock_errname(rc), el,
           queries(w));
    assert_true(USOCK_IS_EAI(rc));
    assert_null(w->res);
    assert_true(el < 5.0);
}

/* ======================================================================== */
/* a server that never answers                                                */

static void silent_server_times_out_not_early(void **state)
{
    struct world *w = *state;
    w->res = (usock_addrinfo *)&w->res;
    double t0 = now_s();
    int rc =
        usock_resolver_getaddrinfo(w->r, "stub.test", 80, AF_INET, SOCK_STREAM, 0, 0.5, &w->res);
    double el = now_s() - t0;
    printf("# silent server, timeout 0.5 s: %s after %.3f s, %d queries\n", usock_errname(rc), el,
           queries(w));
    assert_code(rc, USOCK_ETIMEDOUT);
    assert_null(w->res);
    assert_true(el >= 0.45);
    assert_true(el < 5.0);
    assert_true(queries(w) >= 1);

    /* Either family: the same. */
    t0 = now_s();
    rc = usock_resolver_getaddrinfo(w->r, "stub.test", 80, 0, SOCK_STREAM, 0, 0.5, &w->res);
    el = now_s() - t0;
    printf("# silent server, af 0, timeout 0.5 s: %s after %.3f s\n", usock_errname(rc), el);
    assert_code(rc, USOCK_ETIMEDOUT);
    assert_true(el >= 0.45 && el < 5.0);

    /* No time at all: at once. */
    assert_code(usock_resolver_getaddrinfo(w->r, "stub.test", 80, 0, SOCK_STREAM, 0, 0.0, &w->res),
                USOCK_ETIMEDOUT);
    assert_null(w->res);
}

/* timeout < 0: the lookup ends when c-ares' own tries are spent. c-ares'
 * defaults (5 s, 4 tries, the timeout doubled on each round over one
 * server) would take 75 s against a silent server, so this test's
 * resolver is made with RES_OPTIONS set to 1 s and 2 tries (1 s + 2 s):
 * c-ares reads it when the channel is made (ares_init), and each lookup's
 * channel is copied from that one. Before c-ares 1.28 the words are
 * "retrans:" in milliseconds and "retry:"; since, "timeout:" in seconds
 * and "attempts:" ("retrans:" became seconds). */
static void silent_server_without_timeout_ends_by_itself(void **state)
{
    struct world *w = *state;
    const char *old = getenv("RES_OPTIONS");
    char *saved = old ? strdup(old) : NULL;
    setenv("RES_OPTIONS", FAST_RES_OPTIONS, 1);
    usock_resolver_free(w->r); /* this test's one instead (the teardown frees it) */
    w->r = NULL;
    w->r = stub_resolver(&w->dns);
    if (saved) {
        setenv("RES_OPTIONS", saved, 1);
        free(saved);
    } else {
        unsetenv("RES_OPTIONS");
    }
    w->res = (usock_addrinfo *)&w->res;
    double t0 = now_s();
    int rc =
        usock_resolver_getaddrinfo(w->r, "stub.test", 80, AF_INET, SOCK_STREAM, 0, -1, &w->res);
    double el = now_s() - t0;
    printf("# silent server, no timeout: %s after %.3f s, %d queries\n", usock_errname(rc), el,
           queries(w));
    assert_code(rc, USOCK_EAI_AGAIN);
    assert_null(w->res);
    assert_true(el < 60.0);
    assert_true(queries(w) >= 1);
}

/* A server port where nobody listens: the ICMP refusal makes c-ares give
 * up (no server answered), long before the timeout. */
static void closed_server_port_is_eai_again(void **state)
{
    (void)state;
    int port;
    int fd = raw_bound(AF_INET, SOCK_DGRAM, &port);
    close(fd);
    char servers[32];
    snprintf(servers, sizeof servers, "127.0.0.1:%d", port);
    usock_resolver *r;
    assert_ok(usock_resolver_new(&r, servers));
    usock_addrinfo *res = (usock_addrinfo *)&res;
    double t0 = now_s();
    int rc = usock_resolver_getaddrinfo(r, "stub.test", 80, AF_INET, SOCK_STREAM, 0, 10.0, &res);
    double el = now_s() - t0;
    usock_resolver_free(r);
    printf("# closed server port: %s after %.3f s\n", usock_errname(rc), el);
    assert_code(rc, USOCK_EAI_AGAIN);
    assert_null(res);
}

/* ======================================================================== */
/* several threads on one resolver                                            */

struct lookup_thread {
    usock_resolver *r;
    int id, rounds;
    int failures;
    char first[160];
};

/* One lookup and what it must give; 1 when right. */
static int lookup_ok(struct lookup_thread *t, int k, char *why, size_t cap)
{
    static const struct {
        const char *host;
        int af, want;
        const char *a, *b; /* the addresses (b NULL: one) */
    } cases[] = {
        {"stub.test", AF_INET, 0, "127.0.0.7", NULL},
        {"stub.test", AF_INET6, 0, "::7", NULL},
        {"stub.test", 0, 0, "127.0.0.7", "::7"},
        {"nxdomain.test", AF_INET, USOCK_EAI_NONAME, NULL, NULL},
        {"two.test", AF_INET, 0, "127.0.0.7", "127.0.0.8"},
        {"v4only.test", AF_INET6, USOCK_EAI_NODATA, NULL, NULL},
        {"localhost", AF_INET, 0, "127.0.0.1", NULL},
        {"127.0.0.1", 0, 0, "127.0.0.1", NULL},
    };
    const size_t ncases = sizeof cases / sizeof cases[0];
    size_t c = (size_t)(t->id + k) % ncases;
    int port = 1000 + t->id * 100 + k % 100;
    usock_addrinfo *res = NULL;
    int rc = usock_resolver_getaddrinfo(t->r, cases[c].host, port, cases[c].af, SOCK_STREAM, 0,
                                        10.0, &res);
    int ok = rc == cases[c].want;
    if (!ok)
        snprintf(why, cap, "%s af %d: %s", cases[c].host, cases[c].af, usock_errname(rc));
    if (ok && rc == 0) {
        int n = 0, got_a = 0, got_b = 0;
        for (usock_addrinfo *ai = res; ai; ai = ai->next, n++) {
            char ip[INET6_ADDRSTRLEN];
            ip_of(ai, ip, sizeof ip);
            got_a += strcmp(ip, cases[c].a) == 0;
            got_b += cases[c].b && strcmp(ip, cases[c].b) == 0;
            if (port_of(&ai->addr) != port) {
                ok = 0;
                snprintf(why, cap, "%s: port %d, want %d", cases[c].host, port_of(&ai->addr), port);
            }
        }
        if (ok && (n != (cases[c].b ? 2 : 1) || got_a != 1 || (cases[c].b && got_b != 1))) {
            ok = 0;
            snprintf(why, cap, "%s af %d: %d entries", cases[c].host, cases[c].af, n);
        }
    }
    usock_freeaddrinfo(res);
    return ok;
}

static void *lookup_main(void *arg)
{
    struct lookup_thread *t = arg;
    for (int k = 0; k < t->rounds; k++) {
        char why[160];
        if (!lookup_ok(t, k, why, sizeof why) && t->failures++ == 0)
            snprintf(t->first, sizeof t->first, "%s", why);
    }
    return NULL;
}

static void threads_share_one_resolver(void **state)
{
    struct world *w = *state;
    enum { NT = 4 };
    struct lookup_thread t[NT];
    pthread_t th[NT];
    int started = 0;
    int rounds = getenv("USOCK_UNDER_VALGRIND") ? 20 : 50;
    double t0 = now_s();
    for (int i = 0; i < NT; i++) {
        t[i] = (struct lookup_thread){.r = w->r, .id = i, .rounds = rounds};
        if (pthread_create(&th[i], NULL, lookup_main, &t[i]) != 0)
            break;
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    printf("# %d threads x %d lookups in %.3f s, %d stub queries\n", started, rounds, now_s() - t0,
           queries(w));
    assert_int_equal(started, NT);
    for (int i = 0; i < NT; i++)
        if (t[i].failures)
            fail_msg("thread %d: %d of %d lookups wrong; first: %s", i, t[i].failures, rounds,
                     t[i].first);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resolver_new_and_free),
        cmocka_unit_test(resolver_new_refuses_a_bad_server_list),
        cmocka_unit_test_setup_teardown(getaddrinfo_bad_arguments_are_einval, answering_up,
                                        world_down),
        cmocka_unit_test_setup_teardown(stub_name_resolves_in_each_family, answering_up,
                                        world_down),
        cmocka_unit_test_setup_teardown(two_addresses_of_a_name_are_both_there, answering_up,
                                        world_down),
        cmocka_unit_test_setup_teardown(no_address_of_the_family_is_eai_nodata, answering_up,
                                        world_down),
        cmocka_unit_test_setup_teardown(nxdomain_is_eai_noname, answering_up, world_down),
        cmocka_unit_test_setup_teardown(canonname_is_on_the_first_entry, answering_up, world_down),
        cmocka_unit_test_setup_teardown(localhost_is_loopback_without_a_query, answering_up,
                                        world_down),
        cmocka_unit_test_setup_teardown(numeric_hosts_are_themselves_without_a_query, answering_up,
                                        world_down),
        cmocka_unit_test_setup_teardown(bad_name_is_an_error, answering_up, world_down),
        cmocka_unit_test_setup_teardown(silent_server_times_out_not_early, silent_up, world_down),
        cmocka_unit_test_setup_teardown(silent_server_without_timeout_ends_by_itself, silent_up,
                                        world_down),
        cmocka_unit_test(closed_server_port_is_eai_again),
        cmocka_unit_test_setup_teardown(threads_share_one_resolver, answering_up, world_down),
        cmocka_unit_test(resolver_new_refuses_unclosed_brackets_and_bad_ports),
        cmocka_unit_test_setup_teardown(ipv4_number_with_any_family_asks_no_server, answering_up,
                                        world_down),
        cmocka_unit_test_setup_teardown(ipv4_number_with_any_family_needs_no_server, silent_up,
                                        world_down),
        cmocka_unit_test_setup_teardown(number_of_the_other_family_is_an_error_without_a_query,
                                        answering_up, world_down),
        cmocka_unit_test_setup_teardown(numerichost_with_a_name_is_an_error_without_a_query,
                                        answering_up, world_down),
        cmocka_unit_test_setup_teardown(port_zero_is_a_port, answering_up, world_down),
        cmocka_unit_test_setup_teardown(no_canonname_unless_asked, answering_up, world_down),
    };
    start_watchdog(240);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
