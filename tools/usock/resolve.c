/* resolve.c -- `usock resolve`: the getaddrinfo answer, one line per entry. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage_resolve[] =
    "usage: usock resolve HOST [PORT] [-4|-6] [--udp]\n"
    "\n"
    "Resolves HOST (and PORT, default 0) with getaddrinfo and prints one line\n"
    "per entry: FAMILY TYPE PROTO CANONNAME-or-- ADDR:PORT\n"
    "\n"
    "  -4        IPv4 entries only\n"
    "  -6        IPv6 entries only\n"
    "  --udp     SOCK_DGRAM entries only\n";

static const char *family_name(int af, char *num)
{
    if (af == AF_INET)
        return "AF_INET";
    if (af == AF_INET6)
        return "AF_INET6";
    sprintf(num, "%d", af);
    return num;
}

static const char *type_name(int type, char *num)
{
    if (type == SOCK_STREAM)
        return "SOCK_STREAM";
    if (type == SOCK_DGRAM)
        return "SOCK_DGRAM";
    if (type == SOCK_RAW)
        return "SOCK_RAW";
    sprintf(num, "%d", type);
    return num;
}

static const char *proto_name(int proto, char *num)
{
    if (proto == IPPROTO_TCP)
        return "IPPROTO_TCP";
    if (proto == IPPROTO_UDP)
        return "IPPROTO_UDP";
    sprintf(num, "%d", proto);
    return num;
}

static int run_resolve(struct opts *o)
{
    const char *host = o->pos[0];
    int port = 0;
    if (o->npos > 1 && (port = cli_parse_port(o->pos[1])) < 0)
        return cli_bad_port(o->cmd, o->pos[1]);
    usock_addrinfo *res;
    int rc = usock_getaddrinfo(host, port, o->family, o->udp ? SOCK_DGRAM : 0, 0,
                               AI_CANONNAME, &res);
    if (rc < 0)
        return cli_fail("resolve", host, rc);
    for (usock_addrinfo *ai = res; ai; ai = ai->next) {
        char addr[USOCK_ADDRSTRLEN], n1[16], n2[16], n3[16];
        if (usock_addr_format(&ai->addr, addr, sizeof addr) < 0)
            strcpy(addr, "?");
        printf("%s %s %s %s %s\n", family_name(ai->family, n1), type_name(ai->type, n2),
               proto_name(ai->proto, n3), ai->canonname[0] ? ai->canonname : "--", addr);
    }
    usock_freeaddrinfo(res);
    return fflush(stdout) == 0 ? 0 : cli_fail("resolve", "stdout", -errno);
}

const struct command cmd_resolve = {"resolve", "46uh", 1, 2, 0, usage_resolve, run_resolve};
