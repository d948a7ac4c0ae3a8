/* request_fixture.h -- what test_request.c and test_opener.c share: the
 * project's httpd on loopback, so that the client meets a real server's
 * framing and keep-alive; and raw socket threads that answer scripted
 * bytes, for what httpd never sends (close-framed, truncated, malformed,
 * lenient and stale answers).
 *
 * request_fixture.c is linked into both programs (tests/CMakeLists.txt);
 * each runs its tests as one group with setup_all and teardown_all. */
#ifndef USOCK_TEST_REQUEST_FIXTURE_H
#define USOCK_TEST_REQUEST_FIXTURE_H

#include "helpers.h"

/* ---- the httpd servers --------------------------------------------------- */

/* srv's routes (srv2's are the same):
 *   /echo         method, path, body length and sum, and the request's
 *                 Authorization, Cookie, Content-Type, Accept-Encoding,
 *                 X-Hook and User-Agent, one "name=value" line each
 *   /hello        "hello\n"
 *   /headers      X-Dup twice, another field between them
 *   /z/CODING     big_text compressed: gzip, gzip2 (two members), gzipjunk
 *                 (padding after it), deflate (zlib), raw (raw deflate named
 *                 "deflate"), br (not offered), cut (gzip short of its end
 *                 but framed as whole), bad (not gzip)
 *   /drip         a short gzip text, one byte a chunk
 *   /chunked      "piece 3\npiece 2\npiece 1\n", chunked
 *   /redir/CODE?LOCATION, /loop (to itself), /chain/N (to N+1, without end)
 *   /auth...      Basic user:pass in realm "R" (/auth-token: the realm a
 *                 token, after another scheme's challenge)
 *   /status/CODE  CODE with "nope\n"
 *   /setcookie    sid=abc */
extern usock_httpd *srv;
extern usock_httpd *srv2; /* another host (127.0.0.2); NULL where it is not loopback */
extern int srv_port, srv2_port;
extern atomic_int unauthorized;  /* 401s answered by /auth */
extern atomic_int auth_requests; /* requests to /auth */

/* The text the compressed routes send: BIG_TEXT bytes of numbered lines. */
#define BIG_TEXT 100000
extern char *big_text;

/* Start and stop both servers, and make big_text. */
int setup_all(void **state);
int teardown_all(void **state);

/* http://127.0.0.1:srv_port followed by path. */
void base_url(char *buf, size_t cap, const char *path);

/* The connections h has accepted: what tells a pooled connection from a
 * new one. */
uint64_t conns_total(usock_httpd *h);

/* ---- helpers ------------------------------------------------------------- */

usock_opener *opener_with(const usock_opener_opts *o);

/* Opens url with o (NULL: the default opener) and reads the whole body
 * into *body (free it); returns the open's code, with err filled. */
int get(usock_opener *o, const char *url, char **body, usock_urlerror *err);

/* The echo's line "name=value" holds exactly value. */
void expect_field(const char *body, const char *name, const char *value);

/* Opens r with the default opener; the whole answer in *body (free it). */
void post_echo(usock_urlrequest *r, char **body);

/* Reads res to its end and closes it. */
void drain(usock_response *res);

/* ---- raw scripted servers ------------------------------------------------ */

/* One step: after reading a request, send reply (NULL: close without
 * answering), then close when close_after; a last step without it keeps
 * the connection until the client closes. */
struct step {
    const char *reply;
    int close_after;
    int head_only; /* answer before reading the request's body */
};

struct script {
    int lfd, port;
    const struct step *steps;
    int nsteps;
    atomic_int accepted, requests, closed, extra; /* extra: bytes after the last answer */
    char last[4096];                              /* the last request's head */
    pthread_t th;
};

/* A thread on a loopback port that plays steps[0..n-1] on the
 * connections it accepts, one step per request; script_stop waits for it
 * (every wait of its is bounded). */
void script_start(struct script *s, const struct step *steps, int n);
void script_stop(struct script *s);

/* http://127.0.0.1:<s's port> followed by path. */
void script_url(const struct script *s, char *buf, size_t cap, const char *path);

#endif
