/* helpers.h -- what the socket and poll unit tests share: assertions that
 * print error names, loopback addresses, raw POSIX peers, peer threads,
 * signals and the watchdog.
 *
 * helpers.c is linked into every unit test (tests/CMakeLists.txt). Every
 * helper asserts with cmocka, so a fixture that cannot be built fails the
 * test that asked for it. */
#ifndef USOCK_TEST_HELPERS_H
#define USOCK_TEST_HELPERS_H

#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cmocka.h>

#include "usock.h"

/* ---- assertions that print error names ---------------------------------- */

#define assert_code(expr, want)                                                             \
    do {                                                                                    \
        long long got_ = (long long)(expr);                                                 \
        long long want_ = (long long)(want);                                                \
        if (got_ != want_)                                                                  \
            fail_msg("%s = %lld (%s), want %lld (%s)", #expr, got_, usock_errname((int)got_), \
                     want_, usock_errname((int)want_));                                     \
    } while (0)

#define assert_ok(expr) assert_code(expr, 0)

/* For calls whose success value is a count. */
#define assert_count(expr, want) assert_code(expr, want)

/* One read of s into a buffer of exactly cap bytes must give exactly the
 * bytes of want; "" means 0 (EOF). readline's answer must also be
 * NUL-ended (the buffer is filled with 'X' first). A failure names the
 * caller's line. */
#define expect_recv(s, cap, want) expect_read_at(CALL_RECV, (s), (cap), (want), __FILE__, __LINE__)
#define expect_read(s, cap, want) expect_read_at(CALL_READ, (s), (cap), (want), __FILE__, __LINE__)
#define expect_readline(s, cap, want) \
    expect_read_at(CALL_READLINE, (s), (cap), (want), __FILE__, __LINE__)

enum read_call { CALL_RECV, CALL_READ, CALL_READLINE };
void expect_read_at(enum read_call call, usock *s, size_t cap, const char *want, const char *file,
                    int line);

/* Bounds for waits: one that should see an event, one that should not. */
#define EXPECT_MS 5000
#define QUIET_MS 50

/* ---- addresses (built by hand: these tests do not depend on addr.c) ----- */

void loopback(usock_addr *a, int af, int port);
int port_of(const usock_addr *a);
int is_loopback(const usock_addr *a, int af);
int have_ipv6(void);

/* Each family-dependent test runs once per family, as name_v4 and name_v6
 * (skipped where the host has no IPv6 loopback). */
#define BOTH_FAMILIES(name)                                                                 \
    static void name##_v4(void **state)                                                     \
    {                                                                                       \
        (void)state;                                                                        \
        name(AF_INET);                                                                      \
    }                                                                                       \
    static void name##_v6(void **state)                                                     \
    {                                                                                       \
        (void)state;                                                                        \
        if (!have_ipv6())                                                                   \
            skip();                                                                         \
        name(AF_INET6);                                                                     \
    }
#define BOTH(name) cmocka_unit_test(name##_v4), cmocka_unit_test(name##_v6)

/* ---- raw POSIX peers ----------------------------------------------------- */

/* A raw socket of the type bound to loopback on a free port. */
int raw_bound(int af, int type, int *port);
/* A raw listening socket on loopback; rcvbuf > 0 shrinks the receive buffer
 * of the connections it accepts. */
int raw_listener(int af, int backlog, int rcvbuf, int *port);
int raw_accept(int lfd);
/* Sends all of buf (no SIGPIPE). */
void raw_send(int fd, const void *buf, size_t n);
void raw_send_str(int fd, const char *s);
/* One datagram with the bytes of s, sent whole. */
void raw_sendto(int fd, const char *s, const usock_addr *to);
/* Reads exactly n bytes (a test of what the library sent), bounded. */
void raw_recv_exact(int fd, void *buf, size_t n);
/* Closes with SO_LINGER {1, 0}: the kernel sends RST instead of FIN. */
void raw_reset(int fd);

/* Waits (bounded by EXPECT_MS) until fd, or the library socket's
 * descriptor, has something to report: data, EOF, an error. Used so that
 * tests need no sleeps. */
void wait_fd_readable(int fd);
void wait_readable(usock *s);

/* A library TCP socket connected to a raw peer: the usual fixture. sndbuf
 * > 0 shrinks the library socket's send buffer, rcvbuf > 0 the peer's
 * receive buffer, so that tests that fill buffers stay small. */
void pair_with_raw_peer_bufs(int af, usock **mine, int *peer, int sndbuf, int rcvbuf);
void pair_with_raw_peer(int af, usock **mine, int *peer);

/* Waits (bounded) with a new usock poll until s is writable or has failed,
 * as uselect does after a non-blocking connect; asserts one event and
 * returns its revents. */
int poll_pollout(usock *s);

/* ---- library-only fixtures ----------------------------------------------- */

/* A library socket of the type bound to loopback on a free port. */
usock *bound(int af, int type, int *port);
/* The same, listening with the default backlog. */
usock *listening(int af, int *port);
/* A library TCP socket connected (blocking) to loopback:port. */
usock *connected_to(int af, int port);

/* ---- fixtures of the socket tests (test_socket_*.c) ----------------------- */

/* A timeout short enough to keep tests fast, long enough to be one. */
#define SHORT_TIMEOUT 0.1

/* A peer that never reads: small buffers on both sides fill quickly; BIG
 * bytes never fit in them. */
enum { SMALL_BUF = 4096, BIG = 8 << 20 };

/* A pair whose library socket has text waiting in the kernel. */
void pair_holding(int af, usock **s, int *peer, const char *text);
/* A library socket whose raw peer sent text and closed: text, then EOF. */
usock *peer_sent_then_closed(int af, const char *text);
/* A library socket whose raw peer has reset the connection (SO_LINGER
 * {1, 0} close), the reset already arrived. */
usock *reset_by_peer(int af);
/* Waits (bounded) until s is writable: a non-blocking connect ended. */
void wait_writable(usock *s);
/* send, sendall and write of one byte all fail with err. */
void expect_writes_fail(usock *s, int err);
/* A bound socket that does not listen answers SYN with RST; keeping it
 * open keeps anyone else from taking the port. *to is its address. */
usock *refusing(int af, usock_addr *to);

/* n bytes of a pattern in which byte i is pattern(i) (malloc'd). */
unsigned char pattern(size_t i);
char *pattern_buf(size_t n);

/* A thread that reads until EOF or until told to stop, checking that byte
 * i is pattern(i); pauses now and then to force the writer into short
 * writes. Start it with pthread_create(..., reader_main, &r). */
struct reader {
    int fd;
    size_t chunk;
    int pause_ms, pause_every;
    atomic_int stop;
    size_t total;
    int in_order;
};
void *reader_main(void *arg);

/* ---- Unix-domain paths, clocks ------------------------------------------ */

/* A new private directory under /tmp (mkdtemp) into dir (cap >= 64), for
 * socket files; temp_dir_remove unlinks what is in it and removes it. */
void temp_dir_make(char *dir, size_t cap);
void temp_dir_remove(const char *dir);
/* dir + "/" + name into out, asserting it fits. */
void path_in(char *out, size_t cap, const char *dir, const char *name);
/* "@usock-test-<pid>-<n>-<tag>": an abstract name nobody else uses. */
void abstract_name(char *out, size_t cap, const char *tag);

/* Seconds on the monotonic clock: only for upper bounds that catch a
 * hang, never for asserting how long something took. */
double now_s(void);

/* ---- threads used as peers, signals, the watchdog ------------------------ */

void sleep_ms(int ms);

/* A thread that sends n bytes of data after a delay and then, optionally,
 * shuts down writing: sender_start starts it, sender_join waits for it. */
struct sender {
    int fd;
    const char *data;
    size_t n;
    int delay_ms;
    int eof_after;
    pthread_t thread;
};
void sender_start(struct sender *sd);
void sender_join(struct sender *sd);

/* Interrupts the calling thread with SIGUSR1 every interval_ms until
 * stopped, so that its blocking calls see EINTR. pester_start installs a
 * counting handler without SA_RESTART and starts the pestering thread;
 * pester_stop joins it, restores the old handler and returns how many
 * signals arrived. */
struct pester {
    pthread_t target, thread;
    int interval_ms;
    atomic_int stop;
    struct sigaction old;
};
void pester_start(struct pester *ps, int interval_ms);
int pester_stop(struct pester *ps);

/* A whole file (a test's data), NUL-ended, malloc'ed; its length in *n
 * (NULL ok). A file that cannot be read fails the test. */
char *read_data_file(const char *path, size_t *n);

/* Hex digits ("-" for none) into a new NUL-ended buffer; its length in
 * *n (NULL ok). A bad digit fails the test. For the data files. */
char *unhex_data(const char *hex, size_t *n);

/* Splits line at spaces, in place, into at most max words; their count. */
int split_words(char *line, char **w, int max);

/* A library call that hangs (a lost wakeup, a timeout that never fires)
 * ends the program after this many seconds instead of the ctest budget. */
void start_watchdog(unsigned seconds);

#endif
