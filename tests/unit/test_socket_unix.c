/* test_socket_unix.c -- the socket layer on Unix-domain sockets: addresses
 * from paths and "@abstract" names, their text form, stream and datagram
 * sockets on files and abstract names, and usock_socketpair.
 *
 * Socket files live in a private directory under /tmp made by each test;
 * abstract names carry the process id. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "helpers.h"

/* The name an AF_UNIX address holds, in the text form: the path, or "@"
 * and the abstract name (exactly the bytes that len covers). */
static void unix_name(const usock_addr *a, char *out, size_t cap)
{
    struct sockaddr_un un;
    assert_int_equal(a->ss.ss_family, AF_UNIX);
    memset(&un, 0, sizeof un);
    memcpy(&un, &a->ss, a->len < sizeof un ? a->len : sizeof un);
    size_t off = offsetof(struct sockaddr_un, sun_path);
    assert_true(a->len >= off);
    size_t n = a->len - off;
    if (n > 0 && un.sun_path[0] == '\0')
        snprintf(out, cap, "@%.*s", (int)(n - 1), un.sun_path + 1);
    else
        snprintf(out, cap, "%.*s", (int)strnlen(un.sun_path, n), un.sun_path);
}

#define assert_unix_name(a, want)                                                      \
    do {                                                                               \
        char got_[128];                                                                \
        unix_name((a), got_, sizeof got_);                                             \
        if (strcmp(got_, (want)) != 0)                                                 \
            fail_msg("address names \"%s\", want \"%s\"", got_, (const char *)(want)); \
    } while (0)

static usock_addr unix_addr(const char *name)
{
    usock_addr a;
    assert_ok(usock_addr_from_path(&a, name));
    return a;
}

/* ---- addresses ---------------------------------------------------------- */

static void addr_from_path_of_a_file(void **state)
{
    (void)state;
    usock_addr a;
    memset(&a, 0xAB, sizeof a);
    assert_ok(usock_addr_from_path(&a, "/tmp/some dir/s.sock"));
    assert_int_equal(a.ss.ss_family, AF_UNIX);
    assert_int_equal(usock_addr_family(&a), AF_UNIX);
    assert_unix_name(&a, "/tmp/some dir/s.sock");
    struct sockaddr_un un;
    memcpy(&un, &a.ss, sizeof un);
    assert_string_equal(un.sun_path, "/tmp/some dir/s.sock");
    assert_true(a.len >= offsetof(struct sockaddr_un, sun_path) + strlen(un.sun_path));
    assert_true(a.len <= sizeof(struct sockaddr_un));
    /* A relative path is a path too. */
    assert_ok(usock_addr_from_path(&a, "rel.sock"));
    assert_unix_name(&a, "rel.sock");
    /* An AF_UNIX address has no port. */
    assert_code(usock_addr_port(&a), USOCK_EAFNOSUPPORT);
}

/* "@name": the '@' becomes the NUL byte, and the length covers exactly
 * the name (an abstract name is all the bytes of its length). */
static void addr_from_path_of_an_abstract_name(void **state)
{
    (void)state;
    usock_addr a;
    assert_ok(usock_addr_from_path(&a, "@usock-abstract"));
    assert_int_equal(usock_addr_family(&a), AF_UNIX);
    struct sockaddr_un un;
    memcpy(&un, &a.ss, sizeof un);
    assert_int_equal(un.sun_path[0], '\0');
    assert_memory_equal(un.sun_path + 1, "usock-abstract", 14);
    assert_int_equal(a.len, offsetof(struct sockaddr_un, sun_path) + 1 + 14);
    assert_unix_name(&a, "@usock-abstract");
}

static void addr_from_path_length_limits(void **state)
{
    (void)state;
    usock_addr a;
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path); /* 108 on Linux */
    char path[512];
    /* max - 1 characters and the NUL fit. */
    memset(path, 'p', sizeof path);
    path[0] = '/';
    path[max - 1] = '\0';
    assert_ok(usock_addr_from_path(&a, path));
    assert_unix_name(&a, path);
    /* max characters do not (no room for the NUL), nor anything longer. */
    memset(path, 'p', sizeof path);
    path[0] = '/';
    path[max] = '\0';
    assert_code(usock_addr_from_path(&a, path), USOCK_ENAMETOOLONG);
    path[sizeof path - 1] = '\0';
    assert_code(usock_addr_from_path(&a, path), USOCK_ENAMETOOLONG);
    /* An abstract name longer than sun_path. */
    memset(path, 'q', sizeof path);
    path[0] = '@';
    path[max + 1] = '\0';
    assert_code(usock_addr_from_path(&a, path), USOCK_ENAMETOOLONG);
}

static void addr_from_path_bad_arguments_are_einval(void **state)
{
    (void)state;
    usock_addr a;
    assert_code(usock_addr_from_path(&a, ""), USOCK_EINVAL);
    assert_code(usock_addr_from_path(&a, NULL), USOCK_EINVAL);
    assert_code(usock_addr_from_path(NULL, "/tmp/x"), USOCK_EINVAL);
}

/* format gives the path or "@name"; parse takes it back to the same
 * address. */
static void check_text_round_trip(const char *name)
{
    usock_addr a = unix_addr(name), b;
    char text[USOCK_ADDRSTRLEN + 128];
    int n = usock_addr_format(&a, text, sizeof text);
    assert_int_equal(n, (int)strlen(name));
    assert_string_equal(text, name);
    memset(&b, 0x5A, sizeof b);
    assert_ok(usock_addr_parse(&b, text));
    assert_int_equal(usock_addr_family(&b), AF_UNIX);
    assert_int_equal(b.len, a.len);
    assert_memory_equal(&b.ss, &a.ss, a.len);
    assert_unix_name(&b, name);
}

static void addr_format_and_parse_round_trip(void **state)
{
    (void)state;
    check_text_round_trip("/tmp/usock-round/trip.sock");
    check_text_round_trip("/s");
    check_text_round_trip("@usock-name");
    check_text_round_trip("@a");
    /* Too small a buffer: ENOSPC and "". */
    usock_addr a = unix_addr("/tmp/usock-round/trip.sock");
    char small[8];
    assert_code(usock_addr_format(&a, small, sizeof small), USOCK_ENOSPC);
    assert_string_equal(small, "");
}

/* The longest names there are fit USOCK_ADDRSTRLEN, both ways. */
static void longest_names_fit_addrstrlen(void **state)
{
    (void)state;
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
    char name[256];
    for (int abstract = 0; abstract < 2; abstract++) {
        memset(name, 'n', sizeof name);
        name[0] = abstract ? '@' : '/';
        name[abstract ? max : max - 1] = '\0';
        usock_addr a, b;
        int r = usock_addr_from_path(&a, name);
        if (r != 0)
            fail_msg("from_path of a %zu-byte %s = %d (%s)", strlen(name),
                     abstract ? "abstract name" : "path", r, usock_errname(r));
        char text[USOCK_ADDRSTRLEN];
        assert_int_equal(usock_addr_format(&a, text, sizeof text), (int)strlen(name));
        assert_string_equal(text, name);
        assert_ok(usock_addr_parse(&b, text));
        assert_int_equal(b.len, a.len);
        assert_memory_equal(&b.ss, &a.ss, a.len);
    }
    /* The longest abstract name binds, and getsockname gives it back. */
    char an[256];
    abstract_name(an, sizeof an, "");
    size_t k = strlen(an);
    memset(an + k, 'z', max - k);
    an[max] = '\0';
    usock_addr a = unix_addr(an), got;
    usock *s;
    assert_ok(usock_socket(&s, AF_UNIX, SOCK_STREAM, 0));
    assert_ok(usock_bind(s, &a));
    assert_ok(usock_getsockname(s, &got));
    char text[USOCK_ADDRSTRLEN];
    assert_int_equal(usock_addr_format(&got, text, sizeof text), (int)max);
    assert_string_equal(text, an);
    usock_close(s);
}

/* A datagram from an unbound socket: recvfrom reports the sender as ""
 * with family AF_UNIX (Python's ''). */
static void dgram_from_an_unnamed_sender(void **state)
{
    (void)state;
    char name[96];
    abstract_name(name, sizeof name, "unnamed");
    usock_addr to = unix_addr(name), from;
    usock *srv, *c;
    assert_ok(usock_socket(&srv, AF_UNIX, SOCK_DGRAM, 0));
    assert_ok(usock_bind(srv, &to));
    assert_ok(usock_socket(&c, AF_UNIX, SOCK_DGRAM, 0));
    assert_count(usock_sendto(c, "anon", 4, &to), 4);
    char buf[8];
    memset(&from, 0x33, sizeof from);
    assert_count(usock_recvfrom(srv, buf, sizeof buf, &from), 4);
    assert_memory_equal(buf, "anon", 4);
    assert_int_equal(usock_addr_family(&from), AF_UNIX);
    char text[USOCK_ADDRSTRLEN];
    assert_int_equal(usock_addr_format(&from, text, sizeof text), 0);
    assert_string_equal(text, "");
    usock_close(c);
    usock_close(srv);
}

/* ---- stream sockets ------------------------------------------------------ */

/* bind, listen, accept, connect; an echo both ways; readline; names. */
static void check_stream(const usock_addr *addr, const char *name)
{
    usock *l, *c, *srv;
    assert_ok(usock_socket(&l, AF_UNIX, SOCK_STREAM, 0));
    assert_ok(usock_bind(l, addr));
    assert_ok(usock_listen(l, -1));
    usock_addr got;
    assert_ok(usock_getsockname(l, &got));
    assert_unix_name(&got, name);
    char text[USOCK_ADDRSTRLEN + 128];
    assert_int_equal(usock_addr_format(&got, text, sizeof text), (int)strlen(name));
    assert_string_equal(text, name);

    assert_ok(usock_socket(&c, AF_UNIX, SOCK_STREAM, 0));
    assert_ok(usock_connect(c, addr));
    usock_addr peer;
    memset(&peer, 0x77, sizeof peer);
    assert_ok(usock_accept(l, &srv, &peer));
    /* An unnamed client: "" (Python's ''), family AF_UNIX. */
    assert_int_equal(usock_addr_family(&peer), AF_UNIX);
    assert_int_equal(usock_addr_format(&peer, text, sizeof text), 0);
    assert_string_equal(text, "");
    assert_ok(usock_getpeername(c, &got));
    assert_unix_name(&got, name);

    assert_ok(usock_sendall(c, "hello\nworld\npart", 16));
    expect_readline(srv, 32, "hello\n");
    expect_readline(srv, 32, "world\n");
    assert_ok(usock_sendall(srv, "echo\n", 5));
    expect_readline(c, 32, "echo\n");
    assert_ok(usock_shutdown(c, SHUT_WR));
    expect_readline(srv, 32, "part");
    expect_readline(srv, 32, "");
    usock_close(srv);
    expect_recv(c, 8, "");
    usock_close(c);
    usock_close(l);
}

static void stream_on_a_file(void **state)
{
    (void)state;
    char dir[64], path[128];
    temp_dir_make(dir, sizeof dir);
    path_in(path, sizeof path, dir, "stream.sock");
    usock_addr a = unix_addr(path);
    check_stream(&a, path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    /* The file stays after close: binding it again is EADDRINUSE. */
    usock *s;
    assert_ok(usock_socket(&s, AF_UNIX, SOCK_STREAM, 0));
    assert_code(usock_bind(s, &a), USOCK_EADDRINUSE);
    usock_close(s);
    temp_dir_remove(dir);
}

static void stream_on_an_abstract_name(void **state)
{
    (void)state;
    char name[96];
    abstract_name(name, sizeof name, "stream");
    usock_addr a = unix_addr(name);
    check_stream(&a, name);
    /* No file, and the name is free again once closed. */
    usock *s;
    assert_ok(usock_socket(&s, AF_UNIX, SOCK_STREAM, 0));
    assert_ok(usock_bind(s, &a));
    usock_close(s);
}

static void connect_to_a_missing_path_fails(void **state)
{
    (void)state;
    char dir[64], path[128];
    temp_dir_make(dir, sizeof dir);
    path_in(path, sizeof path, dir, "nobody.sock");
    usock_addr a = unix_addr(path);
    usock *c;
    assert_ok(usock_socket(&c, AF_UNIX, SOCK_STREAM, 0));
    assert_code(usock_connect(c, &a), USOCK_ENOENT);
    usock_close(c);
    temp_dir_remove(dir);
}

/* ---- datagram sockets --------------------------------------------------- */

static void check_dgram(const char *name_a, const char *name_b)
{
    usock_addr to_a = unix_addr(name_a), to_b = unix_addr(name_b), from;
    usock *a, *b;
    assert_ok(usock_socket(&a, AF_UNIX, SOCK_DGRAM, 0));
    assert_ok(usock_socket(&b, AF_UNIX, SOCK_DGRAM, 0));
    assert_ok(usock_bind(a, &to_a));
    assert_ok(usock_bind(b, &to_b));
    assert_count(usock_sendto(a, "ping", 4, &to_b), 4);
    assert_count(usock_sendto(a, "second", 6, &to_b), 6);
    char buf[16];
    memset(&from, 0, sizeof from);
    assert_count(usock_recvfrom(b, buf, sizeof buf, &from), 4);
    assert_memory_equal(buf, "ping", 4);
    assert_unix_name(&from, name_a);
    char text[USOCK_ADDRSTRLEN + 128];
    assert_int_equal(usock_addr_format(&from, text, sizeof text), (int)strlen(name_a));
    assert_string_equal(text, name_a);
    /* Boundaries kept. */
    assert_count(usock_recvfrom(b, buf, sizeof buf, NULL), 6);
    assert_memory_equal(buf, "second", 6);
    /* Reply to the address recvfrom gave. */
    assert_count(usock_sendto(b, "pong", 4, &from), 4);
    memset(&from, 0, sizeof from);
    assert_count(usock_recvfrom(a, buf, sizeof buf, &from), 4);
    assert_memory_equal(buf, "pong", 4);
    assert_unix_name(&from, name_b);
    usock_close(a);
    usock_close(b);
}

static void dgram_on_files(void **state)
{
    (void)state;
    char dir[64], pa[128], pb[128];
    temp_dir_make(dir, sizeof dir);
    path_in(pa, sizeof pa, dir, "a.sock");
    path_in(pb, sizeof pb, dir, "b.sock");
    check_dgram(pa, pb);
    temp_dir_remove(dir);
}

static void dgram_on_abstract_names(void **state)
{
    (void)state;
    char na[96], nb[96];
    abstract_name(na, sizeof na, "dgram-a");
    abstract_name(nb, sizeof nb, "dgram-b");
    check_dgram(na, nb);
}

/* ---- socketpair --------------------------------------------------------- */

static int sock_type(usock *s)
{
    int t = -1;
    socklen_t len = sizeof t;
    assert_ok(usock_getsockopt(s, SOL_SOCKET, SO_TYPE, &t, &len));
    return t;
}

static void socketpair_stream(void **state)
{
    (void)state;
    usock *a = NULL, *b = NULL;
    assert_ok(usock_socketpair(&a, &b, 0, 0));
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(sock_type(a), SOCK_STREAM);
    assert_int_equal(sock_type(b), SOCK_STREAM);
    assert_true(usock_gettimeout(a) == -1.0);
    assert_true(usock_gettimeout(b) == -1.0);
    usock_addr n;
    assert_ok(usock_getsockname(a, &n));
    assert_int_equal(usock_addr_family(&n), AF_UNIX);
    assert_ok(usock_sendall(a, "one\ntwo\n", 8));
    expect_readline(b, 16, "one\n");
    expect_readline(b, 16, "two\n");
    assert_ok(usock_sendall(b, "back", 4));
    expect_read(a, 4, "back");
    usock_close(a);
    expect_recv(b, 8, "");
    usock_close(b);

    assert_ok(usock_socketpair(&a, &b, AF_UNIX, SOCK_STREAM));
    assert_count(usock_send(b, "x", 1), 1);
    expect_recv(a, 4, "x");
    usock_close(a);
    usock_close(b);
}

static void socketpair_dgram(void **state)
{
    (void)state;
    usock *a, *b;
    assert_ok(usock_socketpair(&a, &b, AF_UNIX, SOCK_DGRAM));
    assert_int_equal(sock_type(a), SOCK_DGRAM);
    assert_int_equal(sock_type(b), SOCK_DGRAM);
    assert_true(usock_gettimeout(a) == -1.0);
    assert_count(usock_send(a, "first", 5), 5);
    assert_count(usock_send(a, "2nd", 3), 3);
    expect_recv(b, 16, "first");
    expect_recv(b, 16, "2nd");
    assert_count(usock_send(b, "reply", 5), 5);
    expect_recv(a, 16, "reply");
    /* Nothing more: a timed recv times out rather than blocking. */
    assert_ok(usock_settimeout(b, SHORT_TIMEOUT));
    char buf[4];
    assert_code(usock_recv(b, buf, sizeof buf), USOCK_ETIMEDOUT);
    usock_close(a);
    usock_close(b);
}

static void socketpair_bad_arguments_fail_and_leak_nothing(void **state)
{
    (void)state;
    usock *a = NULL, *b = NULL;
    assert_code(usock_socketpair(NULL, &b, 0, 0), USOCK_EINVAL);
    assert_code(usock_socketpair(&a, NULL, 0, 0), USOCK_EINVAL);
    /* A type the kernel does not have: an error, and nothing to free. */
    int r = usock_socketpair(&a, &b, AF_UNIX, 12345);
    assert_true(r < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addr_from_path_of_a_file),
        cmocka_unit_test(addr_from_path_of_an_abstract_name),
        cmocka_unit_test(addr_from_path_length_limits),
        cmocka_unit_test(addr_from_path_bad_arguments_are_einval),
        cmocka_unit_test(addr_format_and_parse_round_trip),
        cmocka_unit_test(longest_names_fit_addrstrlen),
        cmocka_unit_test(stream_on_a_file),
        cmocka_unit_test(stream_on_an_abstract_name),
        cmocka_unit_test(connect_to_a_missing_path_fails),
        cmocka_unit_test(dgram_on_files),
        cmocka_unit_test(dgram_on_abstract_names),
        cmocka_unit_test(dgram_from_an_unnamed_sender),
        cmocka_unit_test(socketpair_stream),
        cmocka_unit_test(socketpair_dgram),
        cmocka_unit_test(socketpair_bad_arguments_fail_and_leak_nothing),
    };
    start_watchdog(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
