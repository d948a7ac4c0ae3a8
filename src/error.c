/* error.c -- names and messages for usock's error codes, from the one table
 * in usock/error.h. */
#include "internal.h"

struct entry {
    int code;
    const char *name, *message;
};

#define ENTRY(name, value, message) {value, #name, message},
static const struct entry entries[] = {
    {0, "OK", "Success"},
    USOCK_ERROR_MAP(ENTRY)
};
#undef ENTRY

static const struct entry *find(int code)
{
    /* Where two names share a value (ENOTSUP and EOPNOTSUPP on Linux), the
     * first entry wins. */
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++)
        if (entries[i].code == code)
            return &entries[i];
    return NULL;
}

USOCK_API const char *usock_strerror(int code)
{
    const struct entry *e = find(code);
    return e ? e->message : "Unknown error";
}

USOCK_API const char *usock_errname(int code)
{
    const struct entry *e = find(code);
    return e ? e->name : "UNKNOWN";
}
