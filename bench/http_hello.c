/* http_hello.c -- bench/http's case (a) for usock: the httpd layer with one
 * handler answering "hello\n" (nginx's `return 200 "hello\n"`), nothing else
 * routed, no access log, no status page.
 *
 * usage: http_hello [-b ADDR] [-p PORT] [-w WORKERS]
 * Prints "listening on ADDR:PORT" to stderr; SIGINT/SIGTERM stop it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "usock/httpd.h"

static usock_httpd *volatile running;

static void on_signal(int sig)
{
    (void)sig;
    if (running)
        usock_httpd_stop(running); /* async-signal-safe */
}

static int hello(const usock_httpd_req *req, usock_httpd_res *res)
{
    (void)req;
    return usock_httpd_respond(res, 200, "text/plain", "hello\n", 6);
}

int main(int argc, char **argv)
{
    const char *ip = "127.0.0.1";
    int port = 0, c;
    usock_httpd_opts o;
    usock_httpd_opts_init(&o);
    o.status_page = 0;
    while ((c = getopt(argc, argv, "b:p:w:")) != -1) {
        if (c == 'b')
            ip = optarg;
        else if (c == 'p')
            port = atoi(optarg);
        else if (c == 'w')
            o.workers = atoi(optarg);
        else
            return 2;
    }
    usock_addr a;
    usock_httpd *h;
    int rc = usock_addr_from_ip(&a, ip, port);
    if (rc == 0)
        rc = usock_httpd_new(&h, &a, &o);
    if (rc < 0) {
        fprintf(stderr, "http_hello: %s\n", usock_strerror(rc));
        return 1;
    }
    if ((rc = usock_httpd_route(h, NULL, "/", hello, NULL)) < 0 ||
        (rc = usock_httpd_address(h, &a)) < 0) {
        fprintf(stderr, "http_hello: %s\n", usock_strerror(rc));
        usock_httpd_close(h);
        return 1;
    }
    char text[USOCK_ADDRSTRLEN];
    usock_addr_format(&a, text, sizeof text);
    running = h;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "listening on %s\n", text);
    if ((rc = usock_httpd_start(h)) < 0)
        fprintf(stderr, "http_hello: %s\n", usock_strerror(rc));
    else
        usock_httpd_wait(h);
    running = NULL;
    usock_httpd_close(h);
    return rc < 0;
}
