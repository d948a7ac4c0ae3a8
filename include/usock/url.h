/* url.h -- URLs (RFC 3986): parse, serialize, resolve a reference against a
 * base, percent-encoding (quote, unquote, urlencode, parse_qs) and base64.
 * No I/O. Python's urllib.parse semantics where RFC 3986 is silent. */
#ifndef USOCK_URL_H
#define USOCK_URL_H

#include <stddef.h>

#include "usock/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The longest text usock_url_parse takes (else USOCK_EURL_TOO_LONG). */
#define USOCK_URL_MAX (1 << 20)

/* A parsed URL or relative reference: one allocation (this struct and its
 * strings), freed by usock_url_free. Strings are NUL-ended and live as long
 * as the struct. usock_url_format also takes a struct filled by hand. */
typedef struct usock_url {
    const char *scheme;   /* lowercased: "http"; NULL for a relative reference */
    const char *user;     /* as written (percent-escapes kept); NULL without userinfo */
    const char *password; /* as written; NULL when the userinfo has no ':' */
    const char *host;     /* NULL without an authority ("//"); reg-names lowercased and
                           * percent-decoded; an IPv6 literal without brackets, its zone
                           * after '%' ("fe80::1%eth0", what usock_addr_from_ip takes) */
    int host_is_ipv6;     /* host is an IPv6 literal: written in brackets */
    int port;             /* 0..65535, or -1 when absent */
    const char *path;     /* as written; never NULL, "" when empty */
    const char *query;    /* after '?'; NULL without '?', "" for a bare '?' */
    const char *fragment; /* after '#'; NULL without '#', "" for a bare '#' */
} usock_url;

/* Parses text (a URL or a relative reference, RFC 3986 s4.1) into a new
 * *out. Strict: see docs/url.md for what is accepted. http and https URLs
 * need a non-empty host. Errors: USOCK_EURL_* (USOCK_EURL_BAD_SCHEME,
 * _BAD_HOST, _NON_ASCII_HOST, _BAD_IPV6, _BAD_PORT, _BAD_ESCAPE, _BAD_CHAR,
 * _NO_HOST, _TOO_LONG), USOCK_EINVAL (NULL), USOCK_ENOMEM. */
USOCK_API int usock_url_parse(const char *text, usock_url **out);

/* The same for text[0 .. n), which need not be NUL-ended (a header value);
 * a NUL byte inside is USOCK_EURL_BAD_CHAR. */
USOCK_API int usock_url_parse_n(const char *text, size_t n, usock_url **out);

/* Frees a URL of usock_url_parse or usock_url_join. NULL is fine. */
USOCK_API void usock_url_free(usock_url *u);

/* Writes u as text into buf (NUL-ended) and returns its length. Errors:
 * USOCK_ENOSPC (cap too small; buf then holds "" if cap > 0), USOCK_EINVAL
 * (a struct no text can give back: a path not starting with '/' after a
 * host, "//" at the start of a path without a host, user without host, a
 * ':' in the first segment of a relative path), USOCK_EURL_TOO_LONG. */
USOCK_API int usock_url_format(const usock_url *u, char *buf, size_t cap);

/* The same text in a new malloc'd string *out, freed with free(); returns
 * its length. Errors: those of usock_url_format but USOCK_ENOSPC,
 * USOCK_ENOMEM. */
USOCK_API int usock_url_to_string(const usock_url *u, char **out);

/* Resolves ref against base (RFC 3986 s5.2, urljoin) into a new *out:
 * dot segments removed, the fragment of ref. base must have a scheme (else
 * USOCK_EURL_RELATIVE). A ref with base's scheme and no authority is read
 * as relative ("http:g" -> "http://a/b/c/g"), the backward-compatible
 * choice of s5.2.2 that Python and browsers make. Errors:
 * USOCK_EURL_RELATIVE, USOCK_EURL_NO_HOST (an http result without host),
 * USOCK_EINVAL, USOCK_ENOMEM. */
USOCK_API int usock_url_join(const usock_url *base, const usock_url *ref, usock_url **out);

/* urljoin on text: parses both (ref may be any reference), resolves, and
 * puts the result in a new malloc'd string *out (free()). Returns its
 * length. Errors: those of usock_url_parse and usock_url_join. */
USOCK_API int usock_url_join_str(const char *base, const char *ref, char **out);

/* remove_dot_segments of RFC 3986 s5.2.4 on path[0 .. n) into buf
 * (NUL-ended; n + 1 bytes always suffice). Returns the length, or
 * USOCK_ENOSPC ("" in buf when cap > 0), USOCK_EINVAL. */
USOCK_API int usock_url_remove_dot_segments(const char *path, size_t n, char *buf, size_t cap);

/* ---- what an HTTP client needs ------------------------------------------ */

/* The port to connect to: u->port, else the scheme's default (http 80,
 * https 443, ws 80, wss 443, ftp 21). Errors: USOCK_EURL_NO_PORT,
 * USOCK_EINVAL. */
USOCK_API int usock_url_port(const usock_url *u);

/* The request target (origin-form, RFC 9112 s3.2.1): path, then '?' and
 * the query when there is one; "/" for an empty path; never the fragment.
 * Written into buf; returns its length. Errors: USOCK_ENOSPC ("" in buf),
 * USOCK_EINVAL. */
USOCK_API int usock_url_target(const usock_url *u, char *buf, size_t cap);

/* The Host header's value (RFC 9110 s7.2): the host, in brackets for IPv6
 * (without the zone, which means nothing to the server), then ':' and the
 * port when one is given and is not the scheme's default. Errors:
 * USOCK_EURL_NO_HOST (no or empty host), USOCK_ENOSPC ("" in buf),
 * USOCK_EINVAL. */
USOCK_API int usock_url_host_header(const usock_url *u, char *buf, size_t cap);

/* The userinfo percent-decoded, for Basic authentication: user into
 * user[ucap], password into pass[pcap], each NUL-ended ("" for an absent
 * password); either buffer may be NULL to skip it. Returns 0. Errors:
 * USOCK_ENOENT (no userinfo), USOCK_ENOSPC, USOCK_EURL_BAD_CHAR (a decoded
 * NUL, or ':' in the user: RFC 7617 forbids it), USOCK_EINVAL. */
USOCK_API int usock_url_credentials(const usock_url *u, char *user, size_t ucap, char *pass,
                                    size_t pcap);

/* ---- percent-encoding ----------------------------------------------------- */

/* Flags. USOCK_URL_PLUS: a space is '+' (quote_plus, unquote_plus).
 * USOCK_URL_KEEP_BLANK: parse_qs keeps empty values (keep_blank_values). */
#define USOCK_URL_PLUS 1
#define USOCK_URL_KEEP_BLANK 2

/* Python's quote(s, safe) on s[0 .. n) (bytes): every byte but ASCII
 * letters, digits, "_.-~" and the ASCII bytes of safe becomes %XX
 * (upper-case hex). safe NULL is Python's default: "/" for quote, "" with
 * USOCK_URL_PLUS (quote_plus, where a space becomes '+'). Writes into buf,
 * NUL-ended (3 * n + 1 bytes always suffice); returns the length. Errors:
 * USOCK_ENOSPC ("" in buf), USOCK_EURL_TOO_LONG (n > INT_MAX / 3),
 * USOCK_EINVAL. */
USOCK_API int usock_url_quote(const char *s, size_t n, const char *safe, int flags, char *buf,
                              size_t cap);

/* Python's unquote_to_bytes on s[0 .. n): each %XX becomes its byte, an
 * invalid escape stays as it is; USOCK_URL_PLUS turns '+' into a space
 * first (unquote_plus). Writes into buf with a NUL after (n + 1 bytes
 * always suffice); returns the length, which counts any decoded NULs.
 * Errors: USOCK_ENOSPC ("" in buf), USOCK_EURL_TOO_LONG, USOCK_EINVAL. */
USOCK_API int usock_url_unquote(const char *s, size_t n, int flags, char *buf, size_t cap);

/* One key=value pair of a query string. */
typedef struct usock_url_pair {
    const char *key, *value;
} usock_url_pair;

/* Python's urlencode of n pairs: quote_plus(key) "=" quote_plus(value),
 * joined by '&', into buf (NUL-ended; 3 bytes for each byte of the keys
 * and values, plus 2 for each pair, always suffice). Returns the length.
 * Errors: USOCK_ENOSPC ("" in buf), USOCK_EURL_TOO_LONG, USOCK_EINVAL (a
 * NULL key or value). */
USOCK_API int usock_url_urlencode(const usock_url_pair *pairs, size_t n, char *buf, size_t cap);

/* Python's parse_qsl on qs[0 .. n): fields split at '&', each at its first
 * '=', both sides unquote_plus'd; in order, repeats kept. A field without
 * '=' or with an empty value is dropped unless flags has
 * USOCK_URL_KEEP_BLANK; empty fields are always dropped. *out gets one
 * malloc'd block (the array and its strings; free() it), NULL when there
 * are no pairs. Returns the number of pairs. Errors: USOCK_EURL_BAD_CHAR
 * (a key or value that decodes to a NUL byte: the pairs are C strings),
 * USOCK_EURL_TOO_LONG, USOCK_EINVAL, USOCK_ENOMEM. */
USOCK_API int usock_url_parse_qs(const char *qs, size_t n, int flags, usock_url_pair **out);

/* ---- base64 (RFC 4648 s4: standard alphabet, with padding) --------------- */

/* The length of the base64 text of n bytes (without the NUL). */
#define USOCK_BASE64_LEN(n) (((n) + 2) / 3 * 4)

/* Encodes data[0 .. n) into buf, NUL-ended (USOCK_BASE64_LEN(n) + 1
 * bytes). Returns the length. Errors: USOCK_ENOSPC ("" in buf),
 * USOCK_EURL_TOO_LONG, USOCK_EINVAL. */
USOCK_API int usock_base64_encode(const void *data, size_t n, char *buf, size_t cap);

/* Decodes s[0 .. n) into buf with a NUL after the bytes (n / 4 * 3 + 1
 * bytes always suffice) and returns their count. Strict (RFC 4648 s3.3,
 * s3.5): a length that is a multiple of 4, '=' only as the last one or two
 * characters, no other byte outside the alphabet (no whitespace), zero
 * bits after the last byte. Errors: USOCK_EURL_BAD_BASE64, USOCK_ENOSPC
 * ("" in buf), USOCK_EURL_TOO_LONG, USOCK_EINVAL. */
USOCK_API int usock_base64_decode(const char *s, size_t n, void *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
