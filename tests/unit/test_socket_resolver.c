/* test_socket_resolver.c -- the socket layer: usock_getaddrinfo: numeric and
 * named hosts, filters, canonical names, errors, and answers that connect.
 *
 * Every peer is on loopback. The library's sockets are checked against raw
 * POSIX sockets (the reference) wherever the other end is not itself under
 * test. Timeouts are small and only results are asserted, never durations. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

/* ======================================================================== */
/* getaddrinfo                                                                */

static int count_entries(const usock_addrinfo *ai)
{
    int n = 0;
    for (; ai; ai = ai->next)
        n++;
    return n;
}

static void getaddrinfo_localhost_gives_loopback_with_the_port(void **state)
{
    (void)state;
    usock_addrinfo *res = NULL;
    assert_ok(usock_getaddrinfo("localhost", 8080, AF_INET, SOCK_STREAM, 0, 0, &res));
    assert_non_null(res);
    for (usock_addrinfo *ai = res; ai; ai = ai->next) {
        assert_int_equal(ai->family, AF_INET);
        assert_int_equal(ai->type, SOCK_STREAM);
        assert_true(is_loopback(&ai->addr, AF_INET));
        assert_int_equal(port_of(&ai->addr), 8080);
    }
    usock_freeaddrinfo(res);
}

/* A numeric loopback host of either family, with no family asked for. */
static void check_numeric_loopback(const char *host, int port, int af)
{
    usock_addrinfo *res = NULL;
    assert_ok(usock_getaddrinfo(host, port, 0, SOCK_STREAM, 0, 0, &res));
    assert_non_null(res);
    assert_int_equal(res->family, af);
    assert_true(is_loopback(&res->addr, af));
    assert_int_equal(port_of(&res->addr), port);
    assert_non_null(res->canonname);
    usock_freeaddrinfo(res);
}

static void getaddrinfo_numeric_ipv4(void **state)
{
    (void)state;
    check_numeric_loopback("127.0.0.1", 80, AF_INET);
}

static void getaddrinfo_numeric_ipv6(void **state)
{
    (void)state;
    check_numeric_loopback("::1", 443, AF_INET6);
}

static void getaddrinfo_filters_by_type_and_proto(void **state)
{
    (void)state;
    usock_addrinfo *all = NULL, *res = NULL;
    assert_ok(usock_getaddrinfo("127.0.0.1", 53, 0, 0, 0, 0, &all));
    /* Unfiltered, the resolver answers once per socket type. */
    assert_true(count_entries(all) >= 2);
    usock_freeaddrinfo(all);

    assert_ok(usock_getaddrinfo("127.0.0.1", 53, AF_INET, SOCK_DGRAM, 0, 0, &res));
    assert_non_null(res);
    for (usock_addrinfo *ai = res; ai; ai = ai->next) {
        assert_int_equal(ai->type, SOCK_DGRAM);
        assert_int_equal(ai->family, AF_INET);
    }
    usock_freeaddrinfo(res);

    assert_ok(usock_getaddrinfo("127.0.0.1", 53, 0, 0, IPPROTO_TCP, 0, &res));
    assert_non_null(res);
    for (usock_addrinfo *ai = res; ai; ai = ai->next) {
        assert_int_equal(ai->proto, IPPROTO_TCP);
        assert_int_equal(ai->type, SOCK_STREAM);
    }
    usock_freeaddrinfo(res);
}

static void getaddrinfo_family_that_the_address_is_not_is_eai(void **state)
{
    (void)state;
    usock_addrinfo *res = (usock_addrinfo *)&res;
    int r = usock_getaddrinfo("127.0.0.1", 80, AF_INET6, SOCK_STREAM, 0, AI_NUMERICHOST, &res);
    assert_true(USOCK_IS_EAI(r));
    assert_null(res);
    res = (usock_addrinfo *)&res;
    r = usock_getaddrinfo("::1", 80, AF_INET, SOCK_STREAM, 0, AI_NUMERICHOST, &res);
    assert_true(USOCK_IS_EAI(r));
    assert_null(res);
}

static void getaddrinfo_canonname_only_when_asked(void **state)
{
    (void)state;
    usock_addrinfo *res = NULL;
    assert_ok(usock_getaddrinfo("localhost", 80, AF_INET, SOCK_STREAM, 0, AI_CANONNAME, &res));
    assert_non_null(res);
    assert_non_null(res->canonname);
    assert_true(res->canonname[0] != '\0');
    for (usock_addrinfo *ai = res->next; ai; ai = ai->next)
        assert_non_null(ai->canonname);
    usock_freeaddrinfo(res);

    assert_ok(usock_getaddrinfo("localhost", 80, AF_INET, 0, 0, 0, &res));
    for (usock_addrinfo *ai = res; ai; ai = ai->next) {
        assert_non_null(ai->canonname);
        assert_string_equal(ai->canonname, "");
    }
    usock_freeaddrinfo(res);
}

/* The lookup fails with a USOCK_EAI_* code that has a message, and the
 * result is set to NULL. */
static void expect_eai(const char *host, int flags)
{
    usock_addrinfo *res = (usock_addrinfo *)&res;
    int r = usock_getaddrinfo(host, 80, 0, 0, 0, flags, &res);
    if (!USOCK_IS_EAI(r) || r >= -3000)
        fail_msg("%s: got %d (%s), want a USOCK_EAI_* code", host, r, usock_errname(r));
    assert_null(res);
    assert_string_not_equal(usock_strerror(r), "Unknown error");
}

static void getaddrinfo_numerichost_with_a_name_is_eai(void **state)
{
    (void)state;
    expect_eai("localhost", AI_NUMERICHOST);
}

/* An invalid name (an empty label): fails without any traffic. */
static void getaddrinfo_of_invalid_name_is_eai(void **state)
{
    (void)state;
    expect_eai("no-such-host..invalid", 0);
}

static void getaddrinfo_port_out_of_range_is_einval(void **state)
{
    (void)state;
    usock_addrinfo *res = (usock_addrinfo *)&res;
    assert_code(usock_getaddrinfo("127.0.0.1", -1, 0, 0, 0, 0, &res), USOCK_EINVAL);
    assert_null(res);
    assert_code(usock_getaddrinfo("127.0.0.1", 65536, 0, 0, 0, 0, &res), USOCK_EINVAL);
    assert_code(usock_getaddrinfo("127.0.0.1", 100000, 0, 0, 0, 0, &res), USOCK_EINVAL);
    /* The ends of the range are ports. */
    assert_ok(usock_getaddrinfo("127.0.0.1", 0, 0, SOCK_STREAM, 0, 0, &res));
    assert_int_equal(port_of(&res->addr), 0);
    usock_freeaddrinfo(res);
    assert_ok(usock_getaddrinfo("127.0.0.1", 65535, 0, SOCK_STREAM, 0, 0, &res));
    assert_int_equal(port_of(&res->addr), 65535);
    usock_freeaddrinfo(res);
}

static void getaddrinfo_null_host_is_loopback_or_any_when_passive(void **state)
{
    (void)state;
    usock_addrinfo *res = NULL;
    assert_ok(usock_getaddrinfo(NULL, 7, AF_INET, SOCK_STREAM, 0, 0, &res));
    assert_true(is_loopback(&res->addr, AF_INET));
    assert_int_equal(port_of(&res->addr), 7);
    usock_freeaddrinfo(res);

    assert_ok(usock_getaddrinfo("", 7, AF_INET, SOCK_STREAM, 0, 0, &res));
    assert_true(is_loopback(&res->addr, AF_INET));
    usock_freeaddrinfo(res);

    assert_ok(usock_getaddrinfo(NULL, 7, AF_INET, SOCK_STREAM, 0, AI_PASSIVE, &res));
    struct sockaddr_in s4;
    memcpy(&s4, &res->addr.ss, sizeof s4);
    assert_int_equal(s4.sin_family, AF_INET);
    assert_int_equal(s4.sin_addr.s_addr, htonl(INADDR_ANY));
    usock_freeaddrinfo(res);
}

static void getaddrinfo_null_result_is_einval_and_free_null_is_ok(void **state)
{
    (void)state;
    assert_code(usock_getaddrinfo("127.0.0.1", 80, 0, 0, 0, 0, NULL), USOCK_EINVAL);
    usock_freeaddrinfo(NULL);
}

/* What the resolver gives is what connect takes. */
static void getaddrinfo_answer_connects(int af)
{
    int port;
    usock *l = listening(af, &port);
    usock_addrinfo *res = NULL;
    assert_ok(usock_getaddrinfo(af == AF_INET ? "127.0.0.1" : "::1", port, af, SOCK_STREAM, 0,
                                0, &res));
    usock *c, *srv;
    assert_ok(usock_socket(&c, res->family, res->type, res->proto));
    assert_ok(usock_connect(c, &res->addr));
    assert_ok(usock_accept(l, &srv, NULL));
    usock_freeaddrinfo(res);
    usock_close(c);
    usock_close(srv);
    usock_close(l);
}
BOTH_FAMILIES(getaddrinfo_answer_connects)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(getaddrinfo_localhost_gives_loopback_with_the_port),
        cmocka_unit_test(getaddrinfo_numeric_ipv4),
        cmocka_unit_test(getaddrinfo_numeric_ipv6),
        cmocka_unit_test(getaddrinfo_filters_by_type_and_proto),
        cmocka_unit_test(getaddrinfo_family_that_the_address_is_not_is_eai),
        cmocka_unit_test(getaddrinfo_canonname_only_when_asked),
        cmocka_unit_test(getaddrinfo_numerichost_with_a_name_is_eai),
        cmocka_unit_test(getaddrinfo_of_invalid_name_is_eai),
        cmocka_unit_test(getaddrinfo_port_out_of_range_is_einval),
        cmocka_unit_test(getaddrinfo_null_host_is_loopback_or_any_when_passive),
        cmocka_unit_test(getaddrinfo_null_result_is_einval_and_free_null_is_ok),
        BOTH(getaddrinfo_answer_connects),
    };
    start_watchdog(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
