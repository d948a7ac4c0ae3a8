/* basic_auth.c -- open a URL through an opener that answers Basic auth
 * challenges, installed as the default opener, and print the answer.
 *
 * Seed: the Python standard library's urllib.request example:
 *
 *     import urllib.request
 *     #   HTTP ベーシック認証を使う
 *     auth_handler = urllib.request.HTTPBasicAuthHandler()
 *     auth_handler.add_password(realm='PDQ Application',
 *                               uri='https://mahler:8092/site-updates.py',
 *                               user='klem',
 *                               passwd='kadidd!ehopper')
 *     opener = urllib.request.build_opener(auth_handler)
 *     # openerを大域的に使う
 *     urllib.request.install_opener(opener)
 *     urllib.request.urlopen('http://www.example.com/login.html')
 *
 * usage: basic_auth [uri [URL]]
 *        (default https://mahler:8092/site-updates.py
 *                 http://www.example.com/login.html)
 *
 * On the request layer, step for step: the password manager
 * (usock_passwords_new, usock_passwords_add with the seed's realm, user
 * and password, the uri from the command line), an opener with it
 * (usock_opener_new: build_opener's default chain, Basic auth included),
 * usock_install_opener, then usock_urlopen of the URL through the
 * installed opener. A 401 whose WWW-Authenticate is Basic with realm "PDQ
 * Application", for a URL the uri covers (same host and port, its path
 * under the uri's), is answered once with klem's credentials.
 *
 * Not in the seed, which drops the response: the status and reason are
 * printed on a line ("200 OK", as print(f.status, f.reason)), then the
 * body as it came. The uri and the URL are arguments so that they can
 * name a local server (the demo's stand-in asks for realm 'PDQ
 * Application'): the seed's own pair could never meet, its uri naming
 * another host than its URL. Both may be https (the demo's stand-in
 * speaks HTTPS, its certificate from a CA the demo makes and names in
 * SSL_CERT_FILE, as urlopen_read.c tells).
 *
 * An HTTP error answer (4xx, 5xx: urllib's HTTPError), a wrong password's
 * second 401 among them, is one stderr line, "basic_auth: GET URL: 401
 * Unauthorized", and exit status 22 (HTTP_ERROR_EXIT, as curl --fail); no
 * answer at all (URLError) is status 1; a uri that does not parse, 2. As
 * in the seed there is no timeout.
 */
#include <errno.h>
#include <stdio.h>

#include <usock.h>

#include "common.h"

const char *prog = "basic_auth";

int main(int argc, char **argv)
{
    const char *uri = "https://mahler:8092/site-updates.py";
    const char *url = "http://www.example.com/login.html";
    usock_passwords *auth = NULL;
    usock_opener *opener = NULL;
    usock_opener_opts opts;
    usock_response *f = NULL;
    usock_urlerror err;
    char body[16384];
    ssize_t n;
    int r, rc = 1;

    if (argc > 3)
        return usage("[uri [URL]]");
    if (argc > 1)
        uri = argv[1];
    if (argc > 2)
        url = argv[2];

    /* auth_handler = HTTPBasicAuthHandler(); auth_handler.add_password(...) */
    r = usock_passwords_new(&auth, 0);
    if (r < 0)
        return fail("passwords", uri, r);
    r = usock_passwords_add(auth, "PDQ Application", uri, "klem", "kadidd!ehopper");
    if (r < 0) {
        fprintf(stderr, "%s: add_password %s: %s\n", prog, uri, usock_strerror(r));
        rc = r == USOCK_ENOMEM ? 1 : 2;
        goto out;
    }

    /* opener = build_opener(auth_handler) */
    usock_opener_opts_init(&opts);
    opts.passwords = auth;
    r = usock_opener_new(&opener, &opts);
    if (r < 0) {
        rc = fail("build_opener", url, r);
        goto out;
    }

    /* install_opener(opener); urlopen(url) */
    usock_install_opener(opener);
    r = usock_urlopen(url, NULL, 0, NO_TIMEOUT, &f, &err);
    if (r < 0) {
        rc = urlopen_fail(url, r, &err, f); /* closes f */
        f = NULL;
        goto out;
    }

    printf("%d %s\n", usock_response_status(f), usock_response_reason(f));
    while ((n = usock_response_read(f, body, sizeof body)) > 0) {
        if (fwrite(body, 1, (size_t)n, stdout) != (size_t)n) {
            rc = fail("write", "stdout", -errno);
            goto out;
        }
    }
    if (n < 0) {
        rc = fail("read", usock_response_url(f), (int)n);
        goto out;
    }
    if (fflush(stdout) != 0) {
        rc = fail("write", "stdout", -errno);
        goto out;
    }
    rc = 0;
out:
    usock_response_close(f);
    usock_install_opener(NULL); /* the default opener again, before ours goes */
    usock_opener_free(opener);
    usock_passwords_free(auth);
    return rc;
}
