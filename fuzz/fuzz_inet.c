/* fuzz_inet.c -- libFuzzer harness: usock's hand-written inet_pton and
 * inet_ntop against glibc's, plus the usock_addr_parse/format round trip.
 * Any difference abort()s, so libFuzzer keeps the input as a crash. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "usock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Both must accept or reject text alike, agree on the bytes, and leave dst
 * alone when they reject. */
static void compare_pton(int af, const char *text)
{
    unsigned char mine[16], theirs[16];
    memset(mine, 0xaa, sizeof mine);
    memset(theirs, 0xaa, sizeof theirs);
    int rc = usock_inet_pton(af, text, mine);
    int g = inet_pton(af, text, theirs);
    if ((rc == 0) != (g == 1) || (rc != 0 && rc != USOCK_EINVAL))
        abort();
    if (memcmp(mine, theirs, sizeof mine) != 0)
        abort();
}

/* Same text, and a buffer one byte short of it fails in both. */
static void compare_ntop(int af, const uint8_t *bin)
{
    char mine[64], theirs[64];
    int rc = usock_inet_ntop(af, bin, mine, sizeof mine);
    if (!inet_ntop(af, bin, theirs, sizeof theirs))
        abort();
    if (rc != (int)strlen(theirs) || strcmp(mine, theirs) != 0)
        abort();
    if (usock_inet_ntop(af, bin, mine, (size_t)rc) != USOCK_ENOSPC || mine[0] != '\0')
        abort();
    if (inet_ntop(af, bin, theirs, (socklen_t)rc) != NULL)
        abort();
}

/* What addr_parse accepts, addr_format prints back to the same address. */
static void round_trip(const char *text)
{
    usock_addr a, b;
    char out[USOCK_ADDRSTRLEN];
    if (usock_addr_parse(&a, text) != 0)
        return;
    if (a.ss.ss_family == AF_INET6 && ((struct sockaddr_in6 *)&a.ss)->sin6_flowinfo != 0)
        abort();
    int n = usock_addr_format(&a, out, sizeof out);
    if (n < 0 || usock_addr_parse(&b, out) != 0)
        abort();
    if (a.len != b.len || memcmp(&a.ss, &b.ss, a.len) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The text functions take NUL-terminated strings: a copy ends there. */
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    compare_pton(AF_INET, text);
    compare_pton(AF_INET6, text);
    round_trip(text);
    free(text);
    if (size == 4)
        compare_ntop(AF_INET, data);
    if (size == 16)
        compare_ntop(AF_INET6, data);
    return 0;
}
