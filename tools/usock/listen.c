/* listen.c -- what the servers (recv, echo) share: the address to bind,
 * binding, the "listening on" line, and SIGINT/SIGTERM waking their poll. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

volatile sig_atomic_t cli_stop_signal;

/* The poll mode's waker, for the signal handler: set while a server runs. */
static usock *volatile wake;

/* SIGINT/SIGTERM set the flag and wake the server's poll (usock_wake is
 * async-signal-safe): no polling interval, no lost signal. */
static void on_signal(int sig)
{
    int saved = errno;
    cli_stop_signal = sig;
    usock *w = wake;
    if (w)
        usock_wake(w);
    errno = saved;
}

void cli_on_signals(void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void cli_unlink_path(const char *path)
{
    if (path && path[0] != '@')
        (void)unlink(path);
}

int cli_listen_addr(const struct opts *o, usock_addr *a, char *text, size_t cap)
{
    if (o->unix_path) {
        int rc = usock_addr_from_path(a, o->unix_path);
        if (rc < 0)
            return cli_fail(o->cmd, o->unix_path, rc);
        snprintf(text, cap, "%s", o->unix_path);
        return 0;
    }
    const char *ip = o->bind ? o->bind : "0.0.0.0";
    if (usock_addr_from_ip(a, ip, o->port) < 0)
        return cli_usage_error(o->cmd, "bad address '%s' (a numeric IPv4 or IPv6 address)", ip);
    cli_hostport(text, cap, ip, o->port);
    return 0;
}

void cli_server_close(struct server *sv)
{
    /* The handler stays: a second signal during cleanup only sets the flag. */
    wake = NULL;
    usock_close(sv->wake);
    usock_close(sv->sock);
    usock_poll_free(sv->poll);
    cli_unlink_path(sv->unlink_path);
}

void cli_server_drain_wake(struct server *sv)
{
    (void)usock_wake_clear(sv->wake);
}

int cli_server_open(struct server *sv, struct opts *o, int type)
{
    usock_addr a;
    char text[HOSTPORT_LEN];
    memset(sv, 0, sizeof *sv);
    sv->cmd = o->cmd;
    int rc = cli_listen_addr(o, &a, text, sizeof text);
    if (rc)
        return rc;
    /* An IPv6 listener takes IPv4 too, as the kernel's default has it. */
    int flags = (type == SOCK_DGRAM ? USOCK_CS_DGRAM : 0) |
                (usock_addr_family(&a) == AF_INET6 ? USOCK_CS_DUALSTACK : 0);
    if ((rc = usock_create_server(&sv->sock, &a, LISTEN_BACKLOG, flags)) < 0)
        return cli_fail("bind", text, rc);
    sv->unlink_path = o->unix_path;
    if ((rc = usock_settimeout(sv->sock, 0)) < 0 || (rc = usock_poll_new(&sv->poll)) < 0 ||
        (rc = usock_poll_register(sv->poll, sv->sock, USOCK_POLLIN, NULL)) < 0 ||
        (rc = usock_waker(&sv->wake)) < 0 ||
        (rc = usock_poll_register(sv->poll, sv->wake, USOCK_POLLIN, NULL)) < 0)
        return cli_fail("listen", text, rc);
    if (!o->unix_path) {
        if ((rc = usock_getsockname(sv->sock, &a)) < 0 ||
            (rc = usock_addr_format(&a, text, sizeof text)) < 0)
            return cli_fail("listen", text, rc);
    }
    wake = sv->wake;
    cli_on_signals(on_signal);
    fprintf(stderr, "listening on %s\n", text);
    return 0;
}
