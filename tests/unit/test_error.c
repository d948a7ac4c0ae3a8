/* test_error.c -- usock's error codes: -errno values, the USOCK_EAI_* range,
 * usock_strerror and usock_errname. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "usock.h"

/* Every USOCK_E* macro with its own spelling, so that the name each code
 * should get is known without repeating it by hand. */
#define SYS(e) {USOCK_##e, -(e), #e}
static const struct {
    int code, neg_errno;
    const char *name;
} sys_codes[] = {
    SYS(EPERM),        SYS(ENOENT),         SYS(EINTR),           SYS(EIO),
    SYS(EBADF),        SYS(EAGAIN),         SYS(ENOMEM),          SYS(EACCES),
    SYS(EFAULT),       SYS(EBUSY),          SYS(EEXIST),          SYS(ENODEV),
    SYS(EINVAL),       SYS(ENFILE),         SYS(EMFILE),          SYS(ENOSPC),
    SYS(EPIPE),        SYS(ERANGE),         SYS(ENAMETOOLONG),    SYS(ENOSYS),
    SYS(ENOTSUP),      SYS(EBADMSG),        SYS(EPROTO),          SYS(EOVERFLOW),
    SYS(ENOTSOCK),     SYS(EDESTADDRREQ),   SYS(EMSGSIZE),        SYS(EPROTOTYPE),
    SYS(ENOPROTOOPT),  SYS(EPROTONOSUPPORT), SYS(EOPNOTSUPP),     SYS(EAFNOSUPPORT),
    SYS(EADDRINUSE),   SYS(EADDRNOTAVAIL),  SYS(ENETDOWN),        SYS(ENETUNREACH),
    SYS(ECONNABORTED), SYS(ECONNRESET),     SYS(ENOBUFS),         SYS(EISCONN),
    SYS(ENOTCONN),     SYS(ETIMEDOUT),      SYS(ECONNREFUSED),    SYS(EHOSTDOWN),
    SYS(EHOSTUNREACH), SYS(EALREADY),       SYS(EINPROGRESS),
};

#define EAI(e) {USOCK_##e, #e}
static const struct {
    int code;
    const char *name;
} eai_codes[] = {
    EAI(EAI_ADDRFAMILY), EAI(EAI_AGAIN),  EAI(EAI_BADFLAGS), EAI(EAI_FAIL),
    EAI(EAI_FAMILY),     EAI(EAI_MEMORY), EAI(EAI_NODATA),   EAI(EAI_NONAME),
    EAI(EAI_SERVICE),    EAI(EAI_SOCKTYPE), EAI(EAI_OVERFLOW),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Codes that share a value with an earlier one on this platform (ENOTSUP and
 * EOPNOTSUPP on Linux) may carry either name; all others must be exact. */
static int alias_of_earlier(size_t i)
{
    for (size_t j = 0; j < COUNT(sys_codes); j++)
        if (j != i && sys_codes[j].code == sys_codes[i].code)
            return 1;
    return 0;
}

static void strerror_of_zero_is_success(void **state)
{
    (void)state;
    assert_string_equal(usock_strerror(0), "Success");
}

static void system_codes_are_negated_errno(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(sys_codes); i++) {
        assert_true(sys_codes[i].code < 0);
        assert_int_equal(sys_codes[i].code, sys_codes[i].neg_errno);
    }
    /* The ones callers compare against most often, spelled out. */
    assert_int_equal(USOCK_ETIMEDOUT, -ETIMEDOUT);
    assert_int_equal(USOCK_EAGAIN, -EAGAIN);
    assert_int_equal(USOCK_ECONNREFUSED, -ECONNREFUSED);
    assert_int_equal(USOCK_ECONNRESET, -ECONNRESET);
    assert_int_equal(USOCK_EINPROGRESS, -EINPROGRESS);
}

static void every_system_code_has_a_message(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(sys_codes); i++) {
        const char *m = usock_strerror(sys_codes[i].code);
        assert_non_null(m);
        if (m[0] == '\0' || strcmp(m, "Unknown error") == 0)
            fail_msg("%s (%d) has no message", sys_codes[i].name, sys_codes[i].code);
    }
}

static void every_system_code_has_its_name(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(sys_codes); i++) {
        const char *n = usock_errname(sys_codes[i].code);
        assert_non_null(n);
        if (strcmp(n, sys_codes[i].name) == 0)
            continue;
        if (alias_of_earlier(i) && strcmp(n, "UNKNOWN") != 0)
            continue;
        fail_msg("usock_errname(%d) = \"%s\", want \"%s\"", sys_codes[i].code, n,
                 sys_codes[i].name);
    }
}

/* A message must tell codes apart: two different codes with one message
 * would hide which error happened. */
static void distinct_codes_have_distinct_messages(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(sys_codes); i++)
        for (size_t j = i + 1; j < COUNT(sys_codes); j++) {
            if (sys_codes[i].code == sys_codes[j].code)
                continue;
            if (strcmp(usock_strerror(sys_codes[i].code), usock_strerror(sys_codes[j].code)) == 0)
                fail_msg("%s and %s share the message \"%s\"", sys_codes[i].name,
                         sys_codes[j].name, usock_strerror(sys_codes[i].code));
        }
    for (size_t i = 0; i < COUNT(eai_codes); i++)
        for (size_t j = 0; j < COUNT(sys_codes); j++)
            if (strcmp(usock_strerror(eai_codes[i].code), usock_strerror(sys_codes[j].code)) == 0)
                fail_msg("%s and %s share a message", eai_codes[i].name, sys_codes[j].name);
}

static void well_known_messages_are_the_usual_english(void **state)
{
    (void)state;
    assert_string_equal(usock_strerror(USOCK_ECONNREFUSED), "Connection refused");
    assert_string_equal(usock_strerror(USOCK_EAI_NONAME), "Name or service not known");
    assert_string_equal(usock_strerror(USOCK_ECONNRESET), "Connection reset by peer");
    assert_string_equal(usock_strerror(USOCK_ETIMEDOUT), "Connection timed out");
    assert_string_equal(usock_errname(USOCK_ECONNREFUSED), "ECONNREFUSED");
    assert_string_equal(usock_errname(USOCK_EAI_NONAME), "EAI_NONAME");
}

static void resolver_codes_are_distinct_and_below_minus_3000(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(eai_codes); i++) {
        int c = eai_codes[i].code;
        if (!(c < -3000))
            fail_msg("%s = %d is not below -3000", eai_codes[i].name, c);
        assert_true(USOCK_IS_EAI(c));
        for (size_t j = i + 1; j < COUNT(eai_codes); j++)
            assert_int_not_equal(c, eai_codes[j].code);
        /* No resolver code may collide with a system one. */
        for (size_t j = 0; j < COUNT(sys_codes); j++)
            assert_int_not_equal(c, sys_codes[j].code);
    }
}

static void every_resolver_code_has_a_message_and_name(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(eai_codes); i++) {
        const char *m = usock_strerror(eai_codes[i].code);
        assert_non_null(m);
        if (m[0] == '\0' || strcmp(m, "Unknown error") == 0)
            fail_msg("%s has no message", eai_codes[i].name);
        assert_string_equal(usock_errname(eai_codes[i].code), eai_codes[i].name);
        for (size_t j = i + 1; j < COUNT(eai_codes); j++)
            if (strcmp(m, usock_strerror(eai_codes[j].code)) == 0)
                fail_msg("%s and %s share a message", eai_codes[i].name, eai_codes[j].name);
    }
}

static void is_eai_is_false_outside_the_resolver_range(void **state)
{
    (void)state;
    const int others[] = {0, 1, -1, 3001, -3000, -3100, INT_MIN, INT_MAX,
                          USOCK_ECONNREFUSED, USOCK_EINVAL, USOCK_EINPROGRESS};
    for (size_t i = 0; i < COUNT(others); i++)
        if (USOCK_IS_EAI(others[i]))
            fail_msg("USOCK_IS_EAI(%d) is true", others[i]);
    for (size_t i = 0; i < COUNT(sys_codes); i++)
        assert_false(USOCK_IS_EAI(sys_codes[i].code));
}

/* Anything that is not one of usock's codes, including positive errno
 * values and holes in the resolver range, is unknown rather than NULL or a
 * wrong message. */
static void unknown_codes_give_unknown_error(void **state)
{
    (void)state;
    const int unknown[] = {1, 12345, -4095, -3000, -3050, -3099, -3012, -99999, INT_MIN, INT_MAX};
    for (size_t i = 0; i < COUNT(unknown); i++) {
        const char *m = usock_strerror(unknown[i]);
        assert_non_null(m);
        if (strcmp(m, "Unknown error") != 0)
            fail_msg("usock_strerror(%d) = \"%s\"", unknown[i], m);
        assert_string_equal(usock_errname(unknown[i]), "UNKNOWN");
    }
}

static void messages_are_stable_across_calls(void **state)
{
    (void)state;
    /* Constant strings: a second call must not change what the first gave. */
    const char *a = usock_strerror(USOCK_EPIPE);
    const char *b = usock_strerror(USOCK_EAI_AGAIN);
    assert_string_equal(a, "Broken pipe");
    assert_string_equal(usock_strerror(USOCK_EPIPE), a);
    assert_string_equal(usock_strerror(USOCK_EAI_AGAIN), b);
}

/* ENOTSUP has its own entry: a message wherever it is a value of its own,
 * and where it shares EOPNOTSUPP's (Linux) the first entry keeps the name. */
static void enotsup_has_a_message_and_a_name(void **state)
{
    (void)state;
    assert_string_equal(usock_strerror(USOCK_ENOTSUP), "Operation not supported");
    const char *name = usock_errname(USOCK_ENOTSUP);
    if (USOCK_ENOTSUP == USOCK_EOPNOTSUPP)
        assert_string_equal(name, "EOPNOTSUPP");
    else
        assert_string_equal(name, "ENOTSUP");
    assert_string_equal(usock_strerror(USOCK_EOPNOTSUPP), "Operation not supported");
    assert_string_equal(usock_errname(USOCK_EOPNOTSUPP), "EOPNOTSUPP");
}

/* settimeout returns USOCK_ERANGE now: it must read as glibc's. */
static void erange_has_the_usual_message(void **state)
{
    (void)state;
    assert_string_equal(usock_strerror(USOCK_ERANGE), "Numerical result out of range");
    assert_string_equal(usock_errname(USOCK_ERANGE), "ERANGE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strerror_of_zero_is_success),
        cmocka_unit_test(system_codes_are_negated_errno),
        cmocka_unit_test(every_system_code_has_a_message),
        cmocka_unit_test(every_system_code_has_its_name),
        cmocka_unit_test(distinct_codes_have_distinct_messages),
        cmocka_unit_test(well_known_messages_are_the_usual_english),
        cmocka_unit_test(resolver_codes_are_distinct_and_below_minus_3000),
        cmocka_unit_test(every_resolver_code_has_a_message_and_name),
        cmocka_unit_test(is_eai_is_false_outside_the_resolver_range),
        cmocka_unit_test(unknown_codes_give_unknown_error),
        cmocka_unit_test(messages_are_stable_across_calls),
        cmocka_unit_test(enotsup_has_a_message_and_a_name),
        cmocka_unit_test(erange_has_the_usual_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
