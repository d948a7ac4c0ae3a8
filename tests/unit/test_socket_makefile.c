/* test_socket_makefile.c -- the socket layer: usock_makefile: stdio streams
 * over a socket that share its read buffer; modes; fclose leaves the socket
 * open.
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
/* makefile                                                                   */

static void makefile_fgets_reads_lines_and_fprintf_writes(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    FILE *f = usock_makefile(s, "rwb");
    assert_non_null(f);
    raw_send_str(peer, "GET / HTTP/1.0\r\nHost: x\r\n\r\n");
    char line[64];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "GET / HTTP/1.0\r\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "Host: x\r\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "\r\n");
    assert_true(fprintf(f, "HTTP/1.0 %d OK\r\n", 200) > 0);
    assert_int_equal(fflush(f), 0);
    char got[17] = {0};
    raw_recv_exact(peer, got, 17);
    assert_memory_equal(got, "HTTP/1.0 200 OK\r\n", 17);
    /* EOF from the peer is EOF on the stream. */
    shutdown(peer, SHUT_WR);
    assert_null(fgets(line, sizeof line, f));
    assert_true(feof(f));
    assert_int_equal(fclose(f), 0);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(makefile_fgets_reads_lines_and_fprintf_writes)

static void makefile_fclose_leaves_the_socket_open(int af)
{
    usock *s;
    int peer;
    pair_with_raw_peer(af, &s, &peer);
    FILE *f = usock_makefile(s, "r");
    assert_non_null(f);
    assert_int_equal(fclose(f), 0);
    int fd = usock_fileno(s);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) >= 0);
    raw_send_str(peer, "still here");
    expect_read(s, 10, "still here");
    assert_ok(usock_sendall(s, "ok", 2));
    char buf[2];
    raw_recv_exact(peer, buf, 2);
    assert_memory_equal(buf, "ok", 2);
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(makefile_fclose_leaves_the_socket_open)

/* The stream and the socket share one buffer, both ways round. */
static void makefile_shares_the_socket_read_buffer(int af)
{
    usock *s;
    int peer;
    pair_holding(af, &s, &peer, "first\nsecond\nthird\nrest");
    expect_readline(s, 32, "first\n");
    char line[32];
    FILE *f = usock_makefile(s, "rb");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "second\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "third\n");
    assert_int_equal(fclose(f), 0);
    /* Nothing stayed behind in stdio. */
    assert_int_equal(usock_pending(s), 4);
    expect_recv(s, 32, "rest");
    usock_close(s);
    close(peer);
}
BOTH_FAMILIES(makefile_shares_the_socket_read_buffer)

static void makefile_accepts_the_python_modes(void **state)
{
    (void)state;
    usock *s;
    int peer;
    pair_with_raw_peer(AF_INET, &s, &peer);
    const char *modes[] = {"r", "w", "r+", "rb", "wb", "rwb", "rw", "wr", "r+b"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        FILE *f = usock_makefile(s, modes[i]);
        if (!f)
            fail_msg("makefile(\"%s\") failed", modes[i]);
        assert_int_equal(fclose(f), 0);
    }
    FILE *w = usock_makefile(s, "w");
    assert_true(fputs("via w\n", w) >= 0);
    assert_int_equal(fflush(w), 0);
    fclose(w);
    char got[6];
    raw_recv_exact(peer, got, 6);
    assert_memory_equal(got, "via w\n", 6);
    usock_close(s);
    close(peer);
}

static void makefile_bad_mode_or_socket_is_null(void **state)
{
    (void)state;
    usock *s;
    assert_ok(usock_socket(&s, 0, 0, 0));
    const char *bad[] = {"", "x", "a", "b", "rx", "r w"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        FILE *f = usock_makefile(s, bad[i]);
        if (f) {
            fclose(f);
            fail_msg("makefile(\"%s\") gave a stream", bad[i]);
        }
        assert_int_not_equal(errno, 0);
    }
    assert_null(usock_makefile(s, NULL));
    assert_null(usock_makefile(NULL, "r"));
    usock_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(makefile_fgets_reads_lines_and_fprintf_writes),
        BOTH(makefile_fclose_leaves_the_socket_open),
        BOTH(makefile_shares_the_socket_read_buffer),
        cmocka_unit_test(makefile_accepts_the_python_modes),
        cmocka_unit_test(makefile_bad_mode_or_socket_is_null),
    };
    start_watchdog(120);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
