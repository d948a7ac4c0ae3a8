/* test_error.c -- usock's error codes: the one table of usock/error.h, its
 * three ranges, usock_strerror and usock_errname.
 *
 * The table is read through the same X-macro that makes the constants, so
 * a code added there is tested here without being listed again. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "usock.h"

#define ROW(name, value, message) {value, #name, message},
static const struct {
    int code;
    const char *name, *message;
} codes[] = {USOCK_ERROR_MAP(ROW)};
#undef ROW

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* True when an earlier row has the same value (ENOTSUP after EOPNOTSUPP on
 * Linux): that row's name is the one usock_errname gives. */
static int alias_of_earlier(size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (codes[j].code == codes[i].code)
            return 1;
    return 0;
}

static int ranges_holding(int code)
{
    return !!USOCK_IS_ERRNO(code) + !!USOCK_IS_EAI(code) + !!USOCK_IS_OWN(code);
}

static void strerror_of_zero_is_success(void **state)
{
    (void)state;
    assert_string_equal(usock_strerror(0), "Success");
    assert_string_equal(usock_errname(0), "OK");
}

static void every_code_lies_in_exactly_one_range(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(codes); i++)
        if (ranges_holding(codes[i].code) != 1)
            fail_msg("%s = %d lies in %d ranges", codes[i].name, codes[i].code,
                     ranges_holding(codes[i].code));
}

static void system_codes_are_negated_errno(void **state)
{
    (void)state;
    /* The ones callers compare against most often, spelled out. */
    assert_int_equal(USOCK_ETIMEDOUT, -ETIMEDOUT);
    assert_int_equal(USOCK_EAGAIN, -EAGAIN);
    assert_int_equal(USOCK_ECONNREFUSED, -ECONNREFUSED);
    assert_int_equal(USOCK_ECONNRESET, -ECONNRESET);
    assert_int_equal(USOCK_EINPROGRESS, -EINPROGRESS);
    /* And those added for the CLI's files, children and pipes. */
    assert_int_equal(USOCK_EISDIR, -EISDIR);
    assert_int_equal(USOCK_ENOTDIR, -ENOTDIR);
    assert_int_equal(USOCK_EROFS, -EROFS);
    assert_int_equal(USOCK_EFBIG, -EFBIG);
    assert_int_equal(USOCK_EXDEV, -EXDEV);
    assert_int_equal(USOCK_ELOOP, -ELOOP);
    assert_int_equal(USOCK_ENOTEMPTY, -ENOTEMPTY);
    assert_int_equal(USOCK_ETXTBSY, -ETXTBSY);
    assert_int_equal(USOCK_EDEADLK, -EDEADLK);
    assert_int_equal(USOCK_ECHILD, -ECHILD);
    assert_int_equal(USOCK_ESRCH, -ESRCH);
    assert_int_equal(USOCK_EDQUOT, -EDQUOT);
    assert_int_equal(USOCK_ENXIO, -ENXIO);
    assert_int_equal(USOCK_E2BIG, -E2BIG);
    assert_int_equal(USOCK_ESPIPE, -ESPIPE);
    assert_int_equal(USOCK_ECANCELED, -ECANCELED);
    assert_int_equal(USOCK_ESHUTDOWN, -ESHUTDOWN);
}

/* The messages are glibc's: on glibc, strerror of the errno gives the same
 * text, which also proves that each value is that errno. */
static void system_messages_are_glibcs(void **state)
{
    (void)state;
#ifdef __GLIBC__
    for (size_t i = 0; i < COUNT(codes); i++) {
        if (!USOCK_IS_ERRNO(codes[i].code))
            continue;
        const char *want = strerror(-codes[i].code);
        if (strcmp(codes[i].message, want) != 0)
            fail_msg("%s: \"%s\", glibc says \"%s\"", codes[i].name, codes[i].message, want);
    }
#else
    skip();
#endif
}

static void every_code_has_its_message(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(codes); i++) {
        const char *m = usock_strerror(codes[i].code);
        assert_non_null(m);
        if (m[0] == '\0' || strcmp(m, "Unknown error") == 0)
            fail_msg("%s (%d) has no message", codes[i].name, codes[i].code);
        if (!alias_of_earlier(i))
            assert_string_equal(m, codes[i].message);
    }
}

static void every_code_has_its_name(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(codes); i++) {
        const char *n = usock_errname(codes[i].code);
        assert_non_null(n);
        if (strcmp(n, codes[i].name) == 0)
            continue;
        if (alias_of_earlier(i) && strcmp(n, "UNKNOWN") != 0)
            continue;
        fail_msg("usock_errname(%d) = \"%s\", want \"%s\"", codes[i].code, n, codes[i].name);
    }
}

/* A message must tell codes apart: two different codes with one message
 * would hide which error happened. */
static void distinct_codes_have_distinct_messages(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(codes); i++)
        for (size_t j = i + 1; j < COUNT(codes); j++) {
            if (codes[i].code == codes[j].code)
                continue;
            if (strcmp(usock_strerror(codes[i].code), usock_strerror(codes[j].code)) == 0)
                fail_msg("%s and %s share the message \"%s\"", codes[i].name, codes[j].name,
                         usock_strerror(codes[i].code));
        }
}

/* Only system errors may share a value (platform aliases); names never
 * repeat. */
static void names_are_unique_and_only_errnos_alias(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(codes); i++)
        for (size_t j = i + 1; j < COUNT(codes); j++) {
            assert_string_not_equal(codes[i].name, codes[j].name);
            if (codes[i].code == codes[j].code && !USOCK_IS_ERRNO(codes[i].code))
                fail_msg("%s and %s share the value %d", codes[i].name, codes[j].name,
                         codes[i].code);
        }
}

static void well_known_messages_are_the_usual_english(void **state)
{
    (void)state;
    assert_string_equal(usock_strerror(USOCK_ECONNREFUSED), "Connection refused");
    assert_string_equal(usock_strerror(USOCK_EAI_NONAME), "Name or service not known");
    assert_string_equal(usock_strerror(USOCK_ECONNRESET), "Connection reset by peer");
    assert_string_equal(usock_strerror(USOCK_ETIMEDOUT), "Connection timed out");
    assert_string_equal(usock_strerror(USOCK_EISDIR), "Is a directory");
    assert_string_equal(usock_strerror(USOCK_ESHUTDOWN),
                        "Cannot send after transport endpoint shutdown");
    assert_string_equal(usock_errname(USOCK_ECONNREFUSED), "ECONNREFUSED");
    assert_string_equal(usock_errname(USOCK_EAI_NONAME), "EAI_NONAME");
    assert_string_equal(usock_errname(USOCK_E2BIG), "E2BIG");
}

/* The resolver's values are usock's own and must not move: callers and
 * other languages' bindings may have them written down. */
static void resolver_codes_keep_their_values(void **state)
{
    (void)state;
    assert_int_equal(USOCK_EAI_ADDRFAMILY, -3001);
    assert_int_equal(USOCK_EAI_AGAIN, -3002);
    assert_int_equal(USOCK_EAI_BADFLAGS, -3003);
    assert_int_equal(USOCK_EAI_FAIL, -3004);
    assert_int_equal(USOCK_EAI_FAMILY, -3005);
    assert_int_equal(USOCK_EAI_MEMORY, -3006);
    assert_int_equal(USOCK_EAI_NODATA, -3007);
    assert_int_equal(USOCK_EAI_NONAME, -3008);
    assert_int_equal(USOCK_EAI_SERVICE, -3009);
    assert_int_equal(USOCK_EAI_SOCKTYPE, -3010);
    assert_int_equal(USOCK_EAI_OVERFLOW, -3011);
    for (size_t i = 0; i < COUNT(codes); i++)
        if (strncmp(codes[i].name, "EAI_", 4) == 0)
            assert_true(USOCK_IS_EAI(codes[i].code));
        else
            assert_false(USOCK_IS_EAI(codes[i].code));
}

static void range_tests_are_false_outside_their_range(void **state)
{
    (void)state;
    const int none[] = {0, 1, 3001, -3000, -3100, -3999, -5000, INT_MIN, INT_MAX};
    for (size_t i = 0; i < COUNT(none); i++)
        if (ranges_holding(none[i]) != 0)
            fail_msg("%d lies in a range", none[i]);
    assert_true(USOCK_IS_ERRNO(-1));
    assert_true(USOCK_IS_ERRNO(-2999));
    assert_true(USOCK_IS_EAI(-3001));
    assert_true(USOCK_IS_EAI(-3099));
    assert_true(USOCK_IS_OWN(-4000));
    assert_true(USOCK_IS_OWN(-4999));
    assert_false(USOCK_IS_EAI(USOCK_ECONNREFUSED));
    assert_false(USOCK_IS_OWN(USOCK_EAI_NONAME));
    assert_false(USOCK_IS_ERRNO(USOCK_EAI_NONAME));
}

/* Anything that is not one of usock's codes, including positive errno
 * values and holes in the ranges, is unknown rather than NULL or a wrong
 * message. */
static void unknown_codes_give_unknown_error(void **state)
{
    (void)state;
    const int unknown[] = {1,     12345, -2999, -3000, -3050, -3099, -3012,
                           -4000, -4999, -99999, INT_MIN, INT_MAX};
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

/* settimeout returns USOCK_ERANGE: it must read as glibc's. */
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
        cmocka_unit_test(every_code_lies_in_exactly_one_range),
        cmocka_unit_test(system_codes_are_negated_errno),
        cmocka_unit_test(system_messages_are_glibcs),
        cmocka_unit_test(every_code_has_its_message),
        cmocka_unit_test(every_code_has_its_name),
        cmocka_unit_test(distinct_codes_have_distinct_messages),
        cmocka_unit_test(names_are_unique_and_only_errnos_alias),
        cmocka_unit_test(well_known_messages_are_the_usual_english),
        cmocka_unit_test(resolver_codes_keep_their_values),
        cmocka_unit_test(range_tests_are_false_outside_their_range),
        cmocka_unit_test(unknown_codes_give_unknown_error),
        cmocka_unit_test(messages_are_stable_across_calls),
        cmocka_unit_test(enotsup_has_a_message_and_a_name),
        cmocka_unit_test(erange_has_the_usual_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
