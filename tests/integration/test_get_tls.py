"""Integration tests of https in `usock get` (the TLS layer, tls.h, under
the HTTP client), against real TLS servers on loopback that the tests
start: Python's http.server wrapped in ssl (ThreadingHTTPServer speaking
HTTP/1.1 with keep-alive, counting connections and handshakes), Debian's
nginx-light with its ssl module, `openssl s_server -www`, and small Python
peers that misbehave. curl, when installed, is run beside `usock get` where
the two must agree (for failures: both fail; curl exits 60 or 77 where
usock exits 1).

The certificates are made once per run (setUpModule) with the openssl
command into a temporary directory: a test CA, a server certificate for
localhost, 127.0.0.1 and ::1, an expired one, one for wrong.example, one by
a second CA nobody trusts, one by an intermediate CA, and client
certificates. EC P-256 keys.

Runs under ctest, which sets USOCK_BIN_DIR to the build directory (the tool
is $USOCK_BIN_DIR/tools/usock); by hand:

    USOCK_BIN_DIR=build python3 -u tests/integration/test_get_tls.py [-v] [Class.test]

Loopback only. Every wait is bounded, every server stopped by its PID
(nginx: its master, then its process group) in cleanups that run when a
test fails too. Without curl or nginx (with ssl), only their parts skip.

Bugs found are kept as tests marked unittest.expectedFailure, each with a
comment naming the bug; they pass (unexpectedly) once the bug is fixed.
"""

import gzip
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import (CURL, FIXED_DATE, GOOD_AUTH, OPENSSL, PASSWORD, TIMEOUT, USER,  # noqa: E402
                   CertDir, FeatureHandler, GetChecks, Openssl, Peer, Process, RecordingServer,
                   check_fails, curl, env_without_proxies, free_port, have_ipv6, header,
                   need_nginx, pattern, serve_in_thread, settled, sha, start_nginx, stop_nginx,
                   usock_get)

CLIENT_CN = "usock test client"

CERTS = CertDir()  # the certificates (setUpModule)
cert = CERTS.file

# the clients' environment: no proxy takes the loopback requests elsewhere
ENV = env_without_proxies()


def run(*args, **kw):
    """`usock get ARGS` with ENV; returns (status, stdout bytes, stderr bytes)."""
    return usock_get(*args, env=ENV, **kw)


def run_curl(*args, **kw):
    """curl -s ARGS (curl's own config files ignored) with ENV."""
    return curl(*args, env=ENV, **kw)


CODED_TEXT = pattern(200000)


# --------------------------------------------------------------------------- the certificates

# added to peers.OPENSSL_CNF: where `openssl ca` keeps its files
OPENSSL_CNF_MORE = """[ca_default]
dir = .
database = ./index.txt
new_certs_dir = ./issued
serial = ./serial
default_md = sha256
policy = policy_any
unique_subject = no
"""


def make_certs(d):
    """Into d (the openssl command, our own configuration only):

        ca.pem ca.key          the test CA
        ca2.pem ca2.key        a second CA nobody trusts
        server.pem server.key  DNS:localhost IP:127.0.0.1 IP:::1, by the CA
        expired.pem            the same names (server.key), by the CA, 2020 to 2021
        wrong.pem              DNS:wrong.example only (server.key), by the CA
        other.pem              the same names as server.pem (server.key), by ca2
        client.pem client.key  CN "usock test client", by the CA
        client-full.pem        client.pem with its key after it
        client-other.pem       the same client (client.key), by ca2
        inter.pem inter.key    an intermediate CA, by the CA
        leaf.pem               server.pem's names (server.key), by the intermediate
        chain.pem              leaf.pem, then inter.pem (what a server sends)
        bundle.pem             ca2.pem, then ca.pem (two CAs in one --cacert)
        hashed/                ca.pem as HASH.0 (for --capath)
        empty/                 an empty directory
        garbage.pem            not PEM at all
    """
    openssl = Openssl(d, OPENSSL_CNF_MORE)
    openssl.server_certs("usock test CA")  # serial 101
    openssl.ca("ca2", "usock unknown CA")
    openssl("req", "-new", "-key", "server.key", "-out", "wrong.csr",
            "-subj", "/CN=wrong.example", "-config", "openssl.cnf")
    openssl.request("client", CLIENT_CN)
    openssl.sign("wrong.csr", "wrong.pem", "ca", "wrong_ext")
    openssl.sign("server.csr", "other.pem", "ca2", "server_ext")
    openssl.sign("client.csr", "client.pem", "ca", "client_ext")
    openssl.sign("client.csr", "client-other.pem", "ca2", "client_ext")
    openssl.request("inter", "usock intermediate CA")
    openssl.sign("inter.csr", "inter.pem", "ca", "inter_ext")
    openssl.sign("server.csr", "leaf.pem", "inter", "server_ext")
    # expired: OpenSSL 3.0's x509 -req has -days only; `openssl ca` takes dates
    os.mkdir(os.path.join(d, "issued"))
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("1000\n")
    openssl("ca", "-batch", "-config", "openssl.cnf", "-in", "server.csr", "-out", "expired.pem",
            "-cert", "ca.pem", "-keyfile", "ca.key", "-startdate", "20200101000000Z",
            "-enddate", "20210101000000Z", "-extfile", "openssl.cnf", "-extensions",
            "server_ext", "-notext", "-subj", "/CN=localhost")
    for out, names in (("client-full.pem", ("client.pem", "client.key")),
                       ("chain.pem", ("leaf.pem", "inter.pem")),
                       ("bundle.pem", ("ca2.pem", "ca.pem"))):
        with open(os.path.join(d, out), "wb") as f:
            for name in names:
                with open(os.path.join(d, name), "rb") as g:
                    f.write(g.read())
    for sub in ("hashed", "empty"):
        os.mkdir(os.path.join(d, sub))
    h = openssl("x509", "-hash", "-noout", "-in", "ca.pem").decode().strip()
    shutil.copy(os.path.join(d, "ca.pem"), os.path.join(d, "hashed", h + ".0"))
    with open(os.path.join(d, "garbage.pem"), "w") as f:
        f.write("this is not a PEM file\n")
    # what the tests rely on
    openssl("verify", "-CAfile", "ca.pem", "server.pem", "wrong.pem", "client.pem")
    openssl("verify", "-CAfile", "ca.pem", "-untrusted", "inter.pem", "leaf.pem")
    p = subprocess.run([OPENSSL, "verify", "-CAfile", "ca.pem", "expired.pem"], cwd=d,
                       env=openssl.env, capture_output=True, timeout=TIMEOUT)
    if b"expired" not in p.stdout + p.stderr:
        raise RuntimeError("expired.pem is not expired: %r" % (p.stdout + p.stderr))


def setUpModule():
    if not OPENSSL:
        raise unittest.SkipTest("the openssl command is not installed")
    CERTS.make(make_certs, mode=0o755)  # nginx's worker reads the server's key
    # built without TLS (-DUSOCK_TLS=OFF): nothing here can pass
    rc, _, err = run("-k", "https://127.0.0.1:%d/" % free_port())
    if b"not built in" in err:
        CERTS.cleanup()
        raise unittest.SkipTest("usock is built without TLS")


def tearDownModule():
    CERTS.cleanup()


def server_context(certfile="server.pem", verify=ssl.CERT_NONE, versions=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert(certfile), cert("server.key"))
    if verify != ssl.CERT_NONE:
        ctx.verify_mode = verify
        ctx.load_verify_locations(cert("ca.pem"))
    if versions:
        ctx.minimum_version, ctx.maximum_version = versions
    return ctx


# --------------------------------------------------------------------------- the Python server

class Server(RecordingServer):
    """A RecordingServer (plain or TLS: context) with Handler that also
    keeps each TLS handshake's outcome and the server name of each
    ClientHello; a handler's exception is kept in .errors."""
    quiet = True

    def __init__(self, host="127.0.0.1", context=None):
        self.handshakes = []  # dicts: reused, version, cn (the client's), or error
        self.sni = []  # the server name of each ClientHello (None: no SNI)
        if context:
            context.sni_callback = lambda sock, name, ctx: self.note(self.sni, name)
        super().__init__(Handler, host, context=context)

    def handshake_failed(self, error):
        self.note(self.handshakes, {"error": str(error)})

    def handshake_done(self, sock):
        peer = sock.getpeercert() or {}
        cn = dict(x[0] for x in peer.get("subject", ())).get("commonName")
        self.note(self.handshakes, {"reused": sock.session_reused,
                                    "version": sock.version(), "cn": cn})

    def ok_handshakes(self):
        with self.lock:
            return [h for h in self.handshakes if "error" not in h]


class Handler(FeatureHandler):
    """One handler per feature, chosen by the path's first segment."""

    def h_whoami(self, path, body, req):
        """The CN of the client's certificate (or "nobody")."""
        peer = self.connection.getpeercert() or {}
        cn = dict(x[0] for x in peer.get("subject", ())).get("commonName", "nobody")
        self.reply(200, cn.encode() + b"\n")

    def h_close(self, path, body, req):
        """Answers, then closes the connection (Connection: close)."""
        self.reply(200, b"closing\n", [("Connection", "close")])
        self.close_connection = True

    def h_gzip(self, path, body, req):
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            self.reply(200, gzip.compress(CODED_TEXT, mtime=0),
                       [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")])
        else:
            self.reply(200, CODED_TEXT)

    def h_redirect(self, path, body, req):
        """/redirect/CODE?to=LOCATION[&setcookie=SET-COOKIE]"""
        headers = [("Location", self.query["to"])]
        if "setcookie" in self.query:
            headers.append(("Set-Cookie", self.query["setcookie"] + "; Path=/"))
        self.reply(int(path.split("/")[2]), b"redirecting\n", headers)

    def h_sha(self, path, body, req):
        """The sha256 of the request's body, and its length."""
        self.reply(200, b"%s %d\n" % (sha(body).encode(), len(body)))

    def h_extra(self, path, body, req):
        """A 6-byte body, then junk, in one write (one TLS record)."""
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\nJUNK JUNK\r\n")



# --------------------------------------------------------------------------- base class

class TLSTest(GetChecks, unittest.TestCase):
    get_env = ENV

    def setUp(self):
        super().setUp()
        self.ca = cert("ca.pem")

    def start_server(self, host="127.0.0.1", context=None, tls=True):
        """A Server (TLS with server.pem unless context is given or tls is
        False), stopped at the cleanup."""
        if tls and context is None:
            context = server_context()
        return serve_in_thread(self, Server(host, context if tls else None))

    def assert_fails(self, args, status, *words, timeout=TIMEOUT):
        """usock get ARGS exits with status and one line on stderr that
        holds each of words (case-insensitive); returns (stdout, stderr)."""
        return check_fails(self, args, run(*args, timeout=timeout), status, words,
                           prefix="usock: get ")


# --------------------------------------------------------------------------- https basics

class TestHttps(TLSTest):
    def setUp(self):
        super().setUp()
        self.s = self.start_server()

    def test_body_by_host_name(self):
        out = self.get_ok("--cacert", self.ca, self.s.url("/hello", "localhost"))
        self.assertEqual(out, b"hello\n")
        self.assertEqual(header(self.s.last("/hello"), "Host"), "localhost:%d" % self.s.port)
        hs = self.s.ok_handshakes()
        self.assertEqual(len(hs), 1, self.s.handshakes)
        self.assertIn(hs[0]["version"], ("TLSv1.2", "TLSv1.3"))
        self.assertIsNone(hs[0]["cn"])  # no client certificate unasked

    def test_ip_address_san(self):
        self.assertEqual(self.get_ok("--cacert", self.ca, self.s.url("/hello")), b"hello\n")
        self.assertEqual(self.s.paths(), ["/hello"])

    def test_ipv6_address_san(self):
        if not have_ipv6():
            self.skipTest("no ::1 here")
        s6 = self.start_server("::1")
        self.assertEqual(self.get_ok("--cacert", self.ca, s6.url("/hello")), b"hello\n")
        self.assertEqual(s6.paths(), ["/hello"])

    def test_sni_host_name(self):
        self.get_ok("--cacert", self.ca, self.s.url("/hello", "localhost"),
                    self.s.url("/close", "LocalHost"), self.s.url("/hello", "localhost"))
        self.assertEqual(len(self.s.sni), 2, self.s.sni)
        self.assertEqual(self.s.sni[0], "localhost")
        self.assertEqual(self.s.sni[1].lower(), "localhost")
        self.assertEqual(self.s.paths(), ["/hello", "/close", "/hello"])

    def test_no_sni_for_an_address(self):
        """An IP literal is no SNI (RFC 6066 3; tls.h). Once failed: tls.c's
        is_ip() compared usock_inet_pton's success (0) with 1."""
        self.get_ok("--cacert", self.ca, self.s.url("/hello"))
        self.assertEqual(self.s.sni, [None])
        if have_ipv6():
            s6 = self.start_server("::1")
            self.get_ok("--cacert", self.ca, s6.url("/hello"))
            self.assertEqual(s6.sni, [None])
        if CURL:  # curl sends none either
            run_curl("--cacert", self.ca, self.s.url("/hello"))
            self.assertEqual(self.s.sni, [None, None])

    def test_capath(self):
        self.assertEqual(self.get_ok("--capath", cert("hashed"), self.s.url("/hello", "localhost")),
                         b"hello\n")
        self.assert_fails(["--capath", cert("empty"), self.s.url("/hello", "localhost")], 1,
                          "unknown authority")
        self.assertEqual(self.s.paths(), ["/hello"])

    def test_ca_bundle(self):
        """--cacert with two CAs, the test CA second."""
        self.assertEqual(self.get_ok("--cacert", cert("bundle.pem"),
                                     self.s.url("/hello", "localhost")), b"hello\n")

    def test_intermediate_ca(self):
        """The server sends its certificate and the intermediate's; the
        client trusts the root only. Without the intermediate: no path."""
        good = self.start_server(context=server_context("chain.pem"))
        self.assertEqual(self.get_ok("--cacert", self.ca, good.url("/hello", "localhost")),
                         b"hello\n")
        bad = self.start_server(context=server_context("leaf.pem"))
        self.assert_fails(["--cacert", self.ca, bad.url("/hello", "localhost")], 1,
                          "unknown authority")
        if CURL:
            self.assertEqual(run_curl("--cacert", self.ca, good.url("/hello"))[:2],
                             (0, b"hello\n"))
            self.assertNotEqual(run_curl("--cacert", self.ca, bad.url("/hello"))[0], 0)

    def test_several_urls_one_connection(self):
        urls = [self.s.url("/hello"), self.s.url("/big?n=100000"), self.s.url("/nope"),
                self.s.url("/hello")]
        out = self.get_ok("--cacert", self.ca, *urls)
        self.assertEqual(out, b"hello\n" + pattern(100000) + b"not found: /nope\nhello\n")
        self.assertEqual(self.s.paths(), ["/hello", "/big?n=100000", "/nope", "/hello"])
        self.assertEqual(self.s.connections, 1)
        self.assertEqual(len(self.s.handshakes), 1)

    def test_i_prints_the_head(self):
        out = self.get_ok("-i", "--cacert", self.ca, self.s.url("/hello"))
        self.assertEqual(out, ("HTTP/1.1 200 OK\r\nServer: testserver\r\nDate: %s\r\n"
                               "Content-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n"
                               % FIXED_DATE).encode())

    def test_I_head_twice_on_one_connection(self):
        out = self.get_ok("-I", "--cacert", self.ca, self.s.url("/hello"),
                          self.s.url("/big?n=5000"))
        self.assertEqual(out.count(b"HTTP/1.1 200 OK\r\n"), 2)
        self.assertIn(b"\r\nContent-Length: 5000\r\n", out)
        self.assertEqual([r["method"] for r in self.s.requests], ["HEAD", "HEAD"])
        self.assertEqual(self.s.connections, 1)

    def test_post(self):
        e = self.get_echo("--cacert", self.ca, "-d", "a=1", "-d", "b=two%20words",
                          self.s.url("/echo"))
        self.assertEqual((e["method"], e["body"]), ("POST", "a=1&b=two%20words"))
        self.assertEqual(header(e, "Content-Type"), "application/x-www-form-urlencoded")
        with open(self.path("data"), "wb") as f:
            f.write(bytes(range(256)) * 400)
        e = self.get_echo("--cacert", self.ca, "--data-file", self.path("data"),
                          self.s.url("/echo"))
        self.assertEqual(e["body"].encode("latin-1"), bytes(range(256)) * 400)

    def test_gzip_decoded(self):
        out = self.get_ok("--cacert", self.ca, "-i", self.s.url("/gzip"))
        head, body = out.split(b"\r\n\r\n", 1)
        self.assertIn(b"\r\nContent-Encoding: gzip", head)
        self.assertEqual(body, CODED_TEXT)
        self.assertIn("gzip", header(self.s.last("/gzip"), "Accept-Encoding"))
        out = self.get_ok("--cacert", self.ca, "--no-compressed", self.s.url("/gzip"),
                          self.s.url("/gzip"))
        self.assertEqual(out, CODED_TEXT * 2)

    def test_large_body(self):
        n = 5 * 1000 * 1000
        out = self.get_ok("--cacert", self.ca, self.s.url("/big?n=%d" % n))
        self.assertEqual((len(out), sha(out)), (n, sha(pattern(n))))
        self.get_ok("--cacert", self.ca, "-o", self.path("big"), self.s.url("/big?n=%d" % n))
        with open(self.path("big"), "rb") as f:
            self.assertEqual(sha(f.read()), sha(pattern(n)))

    def test_same_as_curl(self):
        self.need_curl()
        for args in (["-i", self.s.url("/hello", "localhost")], [self.s.url("/big?n=300000")],
                     ["--compressed", self.s.url("/gzip")], ["-d", "x=1", self.s.url("/echo")]):
            out = self.get_ok("--cacert", self.ca, *args)
            rc, cout, cerr = run_curl("--cacert", self.ca, *args)
            self.assertEqual(rc, 0, cerr)
            if "/echo" in args[-1]:  # the fields differ (User-Agent, Accept...); the body not
                self.assertEqual(json.loads(out)["body"], json.loads(cout)["body"])
            else:
                self.assertEqual(out, cout)

    def test_session_resumed_on_the_next_connection(self):
        """/close ends the connection: the next URL needs a new one, which
        resumes the first's session (the server says so)."""
        out = self.get_ok("--cacert", self.ca, self.s.url("/close"), self.s.url("/close"),
                          self.s.url("/hello"))
        self.assertEqual(out, b"closing\nclosing\nhello\n")
        self.assertEqual(self.s.connections, 3)
        self.assertEqual([h["reused"] for h in self.s.ok_handshakes()], [False, True, True])

    def test_sessions_are_per_host_name(self):
        """localhost and 127.0.0.1 are two servers to the client (host name
        and address): neither is offered the other's session."""
        out = self.get_ok("--cacert", self.ca, self.s.url("/close", "localhost"),
                          self.s.url("/close"), self.s.url("/close", "localhost"))
        self.assertEqual(out, b"closing\n" * 3)
        self.assertEqual([h["reused"] for h in self.s.ok_handshakes()], [False, False, True])

    def test_pooled_plain_connection_not_used_for_https(self):
        """http then https to one host and port: the kept-alive plain
        connection must not carry the https request (the pool's key has
        the scheme); the new connection's handshake meets a plain server."""
        p = self.start_server(tls=False)
        rc, out, err = run("-t", "10", "--cacert", self.ca, p.url("/hello"),
                           p.url("/hello").replace("http:", "https:", 1), timeout=30)
        self.assertEqual((rc, out), (1, b"hello\n"), err)
        self.assertEqual(err.count(b"\n"), 1, err)
        self.assertEqual(p.paths(), ["/hello"])
        self.assertEqual(p.connections, 2)

    def test_pooled_tls_connection_not_used_for_http(self):
        rc, out, err = run("-t", "10", "--cacert", self.ca, self.s.url("/hello"),
                           self.s.url("/hello").replace("https:", "http:", 1), timeout=30)
        self.assertEqual((rc, out), (1, b"hello\n"), err)
        self.assertEqual(err.count(b"\n"), 1, err)
        self.assertEqual(self.s.paths(), ["/hello"])
        self.assertEqual(self.s.connections, 2)

    def test_http_and_https_in_one_invocation(self):
        p = self.start_server(tls=False)
        out = self.get_ok("--cacert", self.ca, self.s.url("/hello"), p.url("/hello"),
                          self.s.url("/hello"), p.url("/hello"))
        self.assertEqual(out, b"hello\n" * 4)
        self.assertEqual((self.s.connections, p.connections), (1, 1))

    def test_failure_then_the_next_url(self):
        """A verification failure fails its URL only; the status is 1."""
        bad = self.start_server(context=server_context("wrong.pem"))
        rc, out, err = run("--cacert", self.ca, bad.url("/hello"), self.s.url("/hello"))
        self.assertEqual((rc, out), (1, b"hello\n"), err)
        self.assertEqual(err.count(b"\n"), 1, err)
        self.assertEqual(bad.paths(), [])


# --------------------------------------------------------------------------- bodies, the pool

class TestBodiesAndPool(TLSTest):
    """What test_get.py checks over plain connections, where TLS changes
    the way: framing by the close, truncation, timeouts, stale pooled
    connections (the staleness check sees a TLS socket), retries."""

    def setUp(self):
        super().setUp()
        self.s = self.start_server()

    def test_large_upload(self):
        data = os.urandom(5 * 1000 * 1000)
        with open(self.path("data"), "wb") as f:
            f.write(data)
        out = self.get_ok("--cacert", self.ca, "--data-file", self.path("data"),
                          self.s.url("/sha"), self.s.url("/hello"))
        self.assertEqual(out, b"%s %d\nhello\n" % (sha(data).encode(), len(data)))
        self.assertEqual(self.s.connections, 1)

    def test_body_until_the_close(self):
        """HTTP/1.0 framed by the close (TCP only, no close_notify)."""
        out = self.get_ok("-i", "--cacert", self.ca, self.s.url("/http10"),
                          self.s.url("/http10"))
        self.assertEqual(out.count(b"HTTP/1.0 200 OK\r\n"), 2)
        self.assertEqual(out.count(b"\r\n\r\nuntil the close\n"), 2)
        self.assertEqual(self.s.connections, 2)
        if CURL:
            rc, cout, cerr = run_curl("--cacert", self.ca, self.s.url("/http10"))
            self.assertEqual((rc, cout), (0, b"until the close\n"), cerr)

    def test_truncated(self):
        out, _ = self.assert_fails(["--cacert", self.ca, self.s.url("/truncated"),
                                    self.s.url("/hello")], 1)
        self.assertEqual(out, b"t" * 40 + b"hello\n")
        self.assertEqual(self.s.connections, 2)

    def test_read_timeout(self):
        start = time.monotonic()
        out, _ = self.assert_fails(["-t", "1", "--cacert", self.ca, self.s.url("/slow?delay=30")],
                                   1, "timed out", timeout=30)
        self.assertLess(time.monotonic() - start, 20)
        self.assertEqual(out, b"first ten\n")

    def test_trickle_within_the_timeout(self):
        out = self.get_ok("-t", "2", "--cacert", self.ca, self.s.url("/trickle?n=4&gap=0.3"))
        self.assertEqual(out, b"drop0\ndrop1\ndrop2\ndrop3\n")

    def test_stale_pooled_connection(self):
        """The server closes the idle TLS connection between two URLs (while
        the client fetches from another server): the next GET goes on a new
        connection, which resumes the session."""
        s2 = self.start_server()
        rc, out, err = run("--cacert", self.ca, self.s.url("/close-idle?after=0.1"),
                           s2.url("/trickle?n=2&gap=1.5"), self.s.url("/hello"))
        self.assertEqual((rc, err), (0, b""))
        self.assertEqual(out, b"closing soon\ndrop0\ndrop1\nhello\n")
        self.assertEqual(self.s.connections, 2)
        self.assertEqual([h["reused"] for h in self.s.ok_handshakes()], [False, True])

    def test_stale_pooled_connection_post(self):
        s2 = self.start_server()
        rc, out, err = run("--cacert", self.ca, "-d", "x=1",
                           self.s.url("/close-idle?after=0.1"), s2.url("/trickle?n=2&gap=1.5"),
                           self.s.url("/echo"))
        self.assertEqual((rc, err), (0, b""))
        self.assertEqual(json.loads(out.split(b"\n")[3])["body"], "x=1")
        self.assertEqual(self.s.paths(), ["/close-idle?after=0.1", "/echo"])
        self.assertEqual(self.s.connections, 2)

    def test_closed_as_the_request_went_get_retried(self):
        out = self.get_ok("--cacert", self.ca, self.s.url("/drop-next"), self.s.url("/hello"))
        self.assertEqual(out, b"the next one is dropped\nhello\n")
        self.assertEqual(self.s.paths(), ["/drop-next", "/hello", "/hello"])
        self.assertEqual(self.s.connections, 2)

    def test_closed_as_the_request_went_post_fails(self):
        rc, out, err = run("--cacert", self.ca, "-d", "once", self.s.url("/drop-next"),
                           self.s.url("/echo"))
        self.assertEqual((rc, out), (1, b"the next one is dropped\n"), err)
        self.assertEqual(err.count(b"\n"), 1, err)
        self.assertEqual(self.s.paths(), ["/drop-next", "/echo"])
        self.assertEqual(self.s.connections, 1)

    def test_bytes_after_the_body(self):
        """A response followed by bytes nobody asked for, in the same TLS
        record: they wait in OpenSSL's buffer, not the socket's; the pool
        must see them and not reuse the connection (as over plain http)."""
        out = self.get_ok("--cacert", self.ca, self.s.url("/extra"), self.s.url("/hello"),
                          self.s.url("/hello"))
        self.assertEqual(out, b"hello\nhello\nhello\n")
        self.assertEqual(self.s.connections, 2)
        self.assertEqual(self.s.paths(), ["/extra", "/hello", "/hello"])

    def test_many_urls_one_connection(self):
        urls = [self.s.url("/big?n=%d" % (1000 * i + 1)) for i in range(40)]
        out = self.get_ok("--cacert", self.ca, *urls)
        self.assertEqual(out, b"".join(pattern(1000 * i + 1) for i in range(40)))
        self.assertEqual(self.s.connections, 1)


# --------------------------------------------------------------------------- verification

class TestVerification(TLSTest):
    """Each failure: exit 1, one line "usock: get URL: TLS with HOST:PORT:
    MESSAGE: DETAIL", no request reached the server; -k passes it; curl
    fails (60) and passes with -k too."""

    def check(self, certfile, message, cacert=True, host="127.0.0.1"):
        s = self.start_server(context=server_context(certfile))
        url = s.url("/hello", host)
        opts = ["--cacert", self.ca] if cacert else []
        _, text = self.assert_fails(opts + [url], 1, message)
        self.assertRegex(text, r"^usock: get %s: TLS with %s:%d: TLS [^\n:]+: [^\n]+\n$"
                         % (re.escape(url), re.escape(host), s.port))
        self.assertEqual(s.paths(), [])
        self.assertEqual(self.get_ok("-k", *opts, url), b"hello\n")
        self.assertEqual(self.get_ok("--insecure", *opts, url), b"hello\n")
        self.assertEqual(s.paths(), ["/hello", "/hello"])
        if CURL:
            rc, _, cerr = run_curl(*opts, url)
            self.assertNotEqual(rc, 0, cerr)  # curl fails too (60: peer verification)
            rc, out, _ = run_curl("-k", *opts, url)
            self.assertEqual((rc, out), (0, b"hello\n"))
        return text

    def test_system_store_does_not_know_the_test_ca(self):
        self.check("server.pem", "TLS certificate from an unknown authority", cacert=False,
                   host="localhost")

    def test_expired(self):
        self.check("expired.pem", "TLS certificate expired or not yet valid", host="localhost")

    def test_expired_by_ip(self):
        self.check("expired.pem", "expired")

    def test_wrong_host_name(self):
        self.check("wrong.pem", "TLS certificate does not match the host name", host="localhost")

    def test_wrong_host_by_ip(self):
        self.check("wrong.pem", "does not match")

    def test_unknown_ca(self):
        self.check("other.pem", "TLS certificate from an unknown authority", host="localhost")

    def test_right_name_other_address_form(self):
        """server.pem names ::1 too; the test CA must then verify it there
        (a contrast to the failures above, with the same server set-up)."""
        if not have_ipv6():
            self.skipTest("no ::1 here")
        s = self.start_server("::1")
        self.assertEqual(self.get_ok("--cacert", self.ca, s.url("/hello")), b"hello\n")
        self.assert_fails([s.url("/hello")], 1, "unknown authority")

    def test_ca_file_missing(self):
        s = self.start_server()
        url = s.url("/hello")
        self.assert_fails(["--cacert", self.path("none.pem"), url], 1,
                          "Cannot load a TLS certificate, key or CA file", "none.pem")
        self.assert_fails(["--cacert", cert("garbage.pem"), url], 1, "Cannot load")
        self.assertEqual(s.paths(), [])
        if CURL:
            for ca in (self.path("none.pem"), cert("garbage.pem")):
                rc, _, _ = run_curl("--cacert", ca, url)
                self.assertNotEqual(rc, 0)  # 77 (problem with the CA cert)

    # With -k, curl (7.88.1 here) goes on when --cacert cannot be loaded
    # (nothing is verified, so nothing needs the file); so does usock get.
    def test_k_with_an_unloadable_ca_file(self):
        s = self.start_server()
        self.assertEqual(self.get_ok("-k", "--cacert", self.path("none.pem"), s.url("/hello")),
                         b"hello\n")

    def test_k_with_an_unloadable_ca_file_curl(self):
        """What curl does (the expected failure above)."""
        self.need_curl()
        s = self.start_server()
        rc, out, _ = run_curl("-k", "--cacert", self.path("none.pem"), s.url("/hello"))
        self.assertEqual((rc, out), (0, b"hello\n"))

    def test_k_with_a_missing_capath(self):
        """A directory that is not there: nothing verifies (curl alike)."""
        s = self.start_server()
        url = s.url("/hello")
        self.assertEqual(self.get_ok("-k", "--capath", self.path("none"), url), b"hello\n")
        self.assert_fails(["--capath", self.path("none"), url], 1, "unknown authority")

    def test_ca_file_missing_several_urls(self):
        """The CA file fails every https URL, one line each; http goes on."""
        s = self.start_server()
        p = self.start_server(tls=False)
        rc, out, err = run("--cacert", self.path("none.pem"), s.url("/hello"), p.url("/hello"),
                           s.url("/hello"))
        self.assertEqual((rc, out), (1, b"hello\n"), err)
        self.assertEqual(err.count(b"Cannot load"), 2, err)
        self.assertEqual(err.count(b"\n"), 2, err)

    def test_silent_failure(self):
        s = self.start_server(context=server_context("expired.pem"))
        rc, out, err = run("-s", "--cacert", self.ca, s.url("/hello"))
        self.assertEqual((rc, out, err), (1, b"", b""))


# --------------------------------------------------------------------------- client certificates

class TestClientCertificates(TLSTest):
    def setUp(self):
        super().setUp()
        self.s = self.start_server(context=server_context(verify=ssl.CERT_REQUIRED))
        self.url = self.s.url("/whoami", "localhost")

    def test_without_a_certificate(self):
        self.assert_fails(["-t", "10", "--cacert", self.ca, self.url], 1, timeout=30)
        self.assertEqual(self.s.paths(), [])
        self.assertEqual(len(self.s.ok_handshakes()), 0, self.s.handshakes)

    def test_with_cert_and_key(self):
        out = self.get_ok("--cacert", self.ca, "--cert", cert("client.pem"), "--key",
                          cert("client.key"), self.url, self.url)
        self.assertEqual(out, (CLIENT_CN + "\n").encode() * 2)
        self.assertEqual([h["cn"] for h in self.s.ok_handshakes()], [CLIENT_CN])

    def test_cert_with_its_key_in_one_file(self):
        out = self.get_ok("--cacert", self.ca, "--cert", cert("client-full.pem"), self.url)
        self.assertEqual(out, (CLIENT_CN + "\n").encode())

    def test_cert_on_a_resumed_session(self):
        """The resumed connection is the same client to the server."""
        close = self.s.url("/close", "localhost")
        out = self.get_ok("--cacert", self.ca, "--cert", cert("client.pem"), "--key",
                          cert("client.key"), close, self.url)
        self.assertEqual(out, b"closing\n" + (CLIENT_CN + "\n").encode())
        hs = self.s.ok_handshakes()
        self.assertEqual([h["reused"] for h in hs], [False, True])

    def test_cert_of_an_unknown_ca(self):
        self.assert_fails(["-t", "10", "--cacert", self.ca, "--cert", cert("client-other.pem"),
                           "--key", cert("client.key"), self.url], 1, timeout=30)
        self.assertEqual(self.s.paths(), [])

    def test_bad_cert_or_key_files(self):
        for opts in (["--cert", self.path("none.pem"), "--key", cert("client.key")],
                     ["--cert", cert("client.pem"), "--key", self.path("none.key")],
                     ["--cert", cert("garbage.pem")],
                     ["--cert", cert("client.pem")],  # no key in it, no --key
                     ["--cert", cert("client.pem"), "--key", cert("server.key")]):  # not its key
            with self.subTest(opts=opts):
                self.assert_fails(["--cacert", self.ca, *opts, self.url], 1, "Cannot load")
        self.assertEqual(self.s.connections, 0)

    def test_optional_client_certificate(self):
        s = self.start_server(context=server_context(verify=ssl.CERT_OPTIONAL))
        url = s.url("/whoami")
        self.assertEqual(self.get_ok("--cacert", self.ca, url), b"nobody\n")
        self.assertEqual(self.get_ok("--cacert", self.ca, "--cert", cert("client-full.pem"), url),
                         (CLIENT_CN + "\n").encode())

    def test_same_as_curl(self):
        self.need_curl()
        rc, out, _ = run_curl("--cacert", self.ca, "--cert", cert("client.pem"), "--key",
                              cert("client.key"), self.url)
        self.assertEqual((rc, out), (0, (CLIENT_CN + "\n").encode()))
        rc, out, _ = run_curl("--cacert", self.ca, self.url)
        self.assertNotEqual(rc, 0)
        rc, _, _ = run("--cacert", self.ca, self.url)
        self.assertEqual(rc, 1)


# --------------------------------------------------------------------------- redirects, cookies

class TestRedirects(TLSTest):
    """https on 127.0.0.1 (self.s) and http on 127.0.0.1 (self.p): one host,
    two ports, two schemes."""

    def setUp(self):
        super().setUp()
        self.s = self.start_server()
        self.p = self.start_server(tls=False)

    def redirect(self, srv, to, code=302, **query):
        q = urllib.parse.urlencode(dict(to=to, **query))
        return srv.url("/redirect/%d?%s" % (code, q))

    def test_auth_not_sent_to_http(self):
        url = self.redirect(self.s, self.p.url("/echo"))
        e = self.get_echo("-L", "-u", "%s:%s" % (USER, PASSWORD), "--cacert", self.ca, url)
        self.assertEqual(e["path"], "/echo")
        self.assertIsNone(header(e, "Authorization"))
        self.assertEqual(header(self.s.last("/redirect"), "Authorization"), GOOD_AUTH)
        if CURL:
            rc, out, _ = run_curl("-L", "-u", "%s:%s" % (USER, PASSWORD), "--cacert", self.ca, url)
            self.assertEqual(rc, 0)
            self.assertIsNone(header(json.loads(out), "Authorization"))

    def test_auth_kept_on_the_same_https_origin(self):
        e = self.get_echo("-L", "-u", "%s:%s" % (USER, PASSWORD), "--cacert", self.ca,
                          self.redirect(self.s, "/echo"))
        self.assertEqual(header(e, "Authorization"), GOOD_AUTH)

    def test_https_to_http_and_back(self):
        """The chain crosses schemes both ways: -L follows it (curl does)."""
        back = self.s.url("/echo")
        url = self.redirect(self.s, self.redirect(self.p, back))
        e = self.get_echo("-L", "--cacert", self.ca, url)
        self.assertEqual(e["path"], "/echo")
        self.assertEqual(self.p.paths()[0].split("?")[0], "/redirect/302")
        self.assertEqual(self.s.connections, 1)  # back on the pooled TLS connection

    def test_http_to_https(self):
        e = self.get_echo("-L", "--cacert", self.ca, self.redirect(self.p, self.s.url("/echo")))
        self.assertEqual(e["path"], "/echo")
        self.assertEqual(len(self.s.ok_handshakes()), 1)

    def test_redirect_target_is_verified(self):
        """The certificate of the server a redirect leads to is checked
        for its own host name."""
        bad = self.start_server(context=server_context("wrong.pem"))
        url = self.redirect(self.s, bad.url("/hello", "localhost"))
        self.assert_fails(["-L", "--cacert", self.ca, url], 1, "does not match",
                          "TLS with localhost:%d" % bad.port)
        self.assertEqual(bad.paths(), [])
        self.assertEqual(self.get_ok("-L", "-k", url), b"hello\n")
        self.assertEqual(bad.paths(), ["/hello"])

    def test_secure_cookie_not_sent_over_http(self):
        """Set with Secure over https: not sent to the http URL of the same
        host, sent to the next https one; a plain cookie goes to both."""
        sets = ["sec=1; Secure; Path=/", "plain=1; Path=/"]
        q = "&".join("c=" + urllib.parse.quote(c, safe="") for c in sets)
        jar = self.path("jar")
        out = self.get_ok("--cacert", self.ca, "-c", jar, self.s.url("/setcookie-raw?" + q),
                          self.p.url("/echo"), self.s.url("/echo"))
        lines = out.split(b"\n")
        self.assertEqual(lines[0], b"raw cookies set")
        self.assertEqual(header(json.loads(lines[1]), "Cookie"), "plain=1")
        self.assertEqual(sorted(header(json.loads(lines[2]), "Cookie").split("; ")),
                         ["plain=1", "sec=1"])
        with open(jar) as f:
            text = f.read()
        self.assertIn("127.0.0.1\tFALSE\t/\tTRUE\t0\tsec\t1\n", text)
        self.assertIn("127.0.0.1\tFALSE\t/\tFALSE\t0\tplain\t1\n", text)
        # the jar read back (-b): the same rule
        out = self.get_ok("--cacert", self.ca, "-b", jar, self.p.url("/echo"),
                          self.s.url("/echo"))
        lines = out.split(b"\n")
        self.assertEqual(header(json.loads(lines[0]), "Cookie"), "plain=1")
        self.assertEqual(sorted(header(json.loads(lines[1]), "Cookie").split("; ")),
                         ["plain=1", "sec=1"])

    def test_secure_cookie_through_redirects(self):
        """https (sets a Secure cookie) -> http -> https: the http hop
        does not get it, the last https one does."""
        back = self.s.url("/echo")
        url = self.redirect(self.s, self.redirect(self.p, back), setcookie="s=1; Secure")
        e = self.get_echo("-L", "-c", self.path("jar"), "--cacert", self.ca, url)
        self.assertEqual(e["path"], "/echo")
        self.assertEqual(header(e, "Cookie"), "s=1")
        self.assertIsNone(header(self.p.last("/redirect"), "Cookie"))

    def test_secure_cookie_over_http_is_refused(self):
        """A Secure cookie set over http is not kept (RFC 6265bis; curl)."""
        url = self.p.url("/setcookie-raw?c=" + urllib.parse.quote("s=1; Secure; Path=/", safe=""))
        out = self.get_ok("--cacert", self.ca, "-c", self.path("jar"), url, self.s.url("/echo"))
        self.assertIsNone(header(json.loads(out.split(b"\n", 1)[1]), "Cookie"))


# --------------------------------------------------------------------------- nginx

NGINX_HTTP = """http {
    log_format tls '$server_port $connection $connection_requests $ssl_session_reused '
                   '$ssl_protocol $request';
    access_log %(t)s/access.log tls;
    sendfile on;
    keepalive_requests 1000;
    types { text/plain txt; application/octet-stream bin; }
    default_type application/octet-stream;
    client_body_temp_path %(t)s/body;
    proxy_temp_path %(t)s/proxy;
    fastcgi_temp_path %(t)s/fastcgi;
    uwsgi_temp_path %(t)s/uwsgi;
    scgi_temp_path %(t)s/scgi;
    ssl_certificate %(certs)s/server.pem;
    ssl_certificate_key %(certs)s/server.key;
    server {  # TLS 1.3, a connection per request
        listen 127.0.0.1:%(close)d ssl;
        ssl_protocols TLSv1.3;
        keepalive_timeout 0;
        root %(www)s;
    }
    server {  # TLS 1.2 only, a connection per request
        listen 127.0.0.1:%(close12)d ssl;
        ssl_protocols TLSv1.2;
        keepalive_timeout 0;
        root %(www)s;
    }
    server {  # keep-alive
        listen 127.0.0.1:%(keep)d ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        keepalive_timeout 60s;
        root %(www)s;
    }
    server {  # keep-alive for 1 s
        listen 127.0.0.1:%(short)d ssl;
        keepalive_timeout 1s;
        root %(www)s;
    }
}
"""


class TestNginx(TLSTest):
    """Against nginx with ssl on 127.0.0.1: four servers (TLS 1.3 and TLS
    1.2 with a connection per request, one with keep-alive, one whose idle
    connections close after 1 s); the access
    log has the port, the connection's serial, $ssl_session_reused ("r" or
    ".") and $ssl_protocol."""

    BIG = 20 * 1000 * 1000

    @classmethod
    def setUpClass(cls):
        cls.nginx = need_nginx()
        p = subprocess.run([cls.nginx, "-V"], capture_output=True, timeout=TIMEOUT)
        if b"with-http_ssl_module" not in p.stdout + p.stderr:
            raise unittest.SkipTest("nginx is built without http_ssl_module")
        cls.tmpdir = tempfile.TemporaryDirectory()
        cls.dir = t = cls.tmpdir.name
        os.chmod(t, 0o755)
        www = os.path.join(t, "www")
        os.makedirs(www)
        cls.big = os.urandom(cls.BIG)
        with open(os.path.join(www, "big.bin"), "wb") as f:
            f.write(cls.big)
        for i in (1, 2, 3):
            with open(os.path.join(www, "f%d.txt" % i), "wb") as f:
                f.write(b"file %d\n" % i)
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # wait_nginx's, over TLS
        probe.check_hostname = False
        probe.verify_mode = ssl.CERT_NONE
        try:
            cls.proc, cls.ports = start_nginx(
                cls.nginx, t, lambda ports: NGINX_HTTP % dict(ports, t=t, www=www,
                                                              certs=CERTS.path),
                ["close", "close12", "keep", "short"], probe)
        except Exception:
            cls.tmpdir.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        stop_nginx(cls.proc)
        cls.tmpdir.cleanup()

    def url(self, server, path, host="localhost"):
        return "https://%s:%d%s" % (host, self.ports[server], path)

    def settled_len(self):
        """How many entries the log has once it stops growing (peers.settled)."""
        return settled(lambda: len(self.log()))

    def log(self, at_least=0):
        """[dict(port, conn, n, reused, protocol, request)], leaving out the
        probes of wait_listening (which may be logged late), once it has
        at_least entries: nginx logs a request after its last byte went
        (waits 10 s at most)."""
        keys = ("port", "conn", "n", "reused", "protocol", "request")
        deadline = time.monotonic() + 10
        while True:
            with open(os.path.join(self.dir, "access.log")) as f:
                log = [dict(zip(keys, line.rstrip("\n").split(" ", 5))) for line in f
                       if line.endswith("\n")]
            log = [e for e in log if e["request"] != "HEAD / HTTP/1.0"]
            if len(log) >= at_least or time.monotonic() > deadline:
                return log
            time.sleep(0.05)

    def fetch_logged(self, *urls):
        """usock get --cacert ca.pem URLS (each a fN.txt); returns their log lines."""
        before = self.settled_len()
        rc, out, err = run("--cacert", cert("ca.pem"), *urls)
        self.assertEqual((rc, err), (0, b""))
        self.assertEqual(out, b"".join(b"file %s\n" % u[-5].encode() for u in urls))
        log = self.log(before + len(urls))[before:]
        self.assertEqual(len(log), len(urls), log)
        return log

    def test_session_resumed_tls13(self):
        log = self.fetch_logged(self.url("close", "/f1.txt"), self.url("close", "/f2.txt"),
                                self.url("close", "/f3.txt"))
        self.assertEqual(len({e["conn"] for e in log}), 3, log)  # a connection each
        self.assertEqual([e["protocol"] for e in log], ["TLSv1.3"] * 3, log)
        self.assertEqual([e["reused"] for e in log], [".", "r", "r"], log)

    def test_session_resumed_tls12(self):
        log = self.fetch_logged(self.url("close12", "/f1.txt"), self.url("close12", "/f2.txt"))
        self.assertEqual(len({e["conn"] for e in log}), 2, log)
        self.assertEqual([e["protocol"] for e in log], ["TLSv1.2"] * 2, log)
        self.assertEqual([e["reused"] for e in log], [".", "r"], log)

    def test_no_session_across_invocations(self):
        """Sessions live in the opener: a new usock get starts afresh."""
        for _ in range(2):
            log = self.fetch_logged(self.url("close", "/f1.txt"))
            self.assertEqual(log[0]["reused"], ".", log)

    def test_keepalive_one_connection(self):
        log = self.fetch_logged(self.url("keep", "/f1.txt"), self.url("keep", "/f2.txt"),
                                self.url("keep", "/f3.txt"))
        self.assertEqual(len({e["conn"] for e in log}), 1, log)  # one connection
        self.assertEqual([e["n"] for e in log], ["1", "2", "3"], log)
        self.assertEqual(log[0]["reused"], ".", log)
        self.assertEqual(log[0]["protocol"], "TLSv1.3", log)  # the best both have

    def test_stale_pooled_connection(self):
        """nginx closes the idle connection after 1 s (its TLS shutdown)
        while the client fetches from another server: the next URL goes on
        a new connection, which resumes the session."""
        other = self.start_server()
        before = self.settled_len()
        rc, out, err = run("--cacert", cert("ca.pem"), self.url("short", "/f1.txt"),
                           other.url("/trickle?n=2&gap=2"), self.url("short", "/f2.txt"))
        self.assertEqual((rc, err), (0, b""))
        self.assertEqual(out, b"file 1\ndrop0\ndrop1\nfile 2\n")
        log = self.log(before + 2)[before:]
        self.assertEqual(len({e["conn"] for e in log}), 2, log)
        self.assertEqual([e["reused"] for e in log], [".", "r"], log)

    def test_large_file(self):
        out = self.path("big.out")
        rc, _, err = run("--cacert", cert("ca.pem"), "-o", out, self.url("keep", "/big.bin"))
        self.assertEqual((rc, err), (0, b""))
        with open(out, "rb") as f:
            self.assertEqual(sha(f.read()), sha(self.big))
        rc, data, err = run("--cacert", cert("ca.pem"), self.url("close", "/big.bin"))
        self.assertEqual((rc, err), (0, b""))
        self.assertEqual((len(data), sha(data)), (self.BIG, sha(self.big)))

    def test_same_as_curl(self):
        if not CURL:
            self.skipTest("curl is not installed")
        for url in (self.url("keep", "/f1.txt"), self.url("close12", "/big.bin")):
            rc, out, err = run("--cacert", cert("ca.pem"), url)
            crc, cout, cerr = run_curl("--cacert", cert("ca.pem"), url)
            self.assertEqual((rc, crc), (0, 0), (err, cerr))
            self.assertEqual(sha(out), sha(cout))


# --------------------------------------------------------------------------- openssl s_server

class TestOpensslServer(TLSTest):
    """openssl s_server -www: answers a GET with an HTTP/1.0 status page,
    its end the connection's close."""

    def s_server(self, *opts, skip_if_it_exits=False):
        """Starts it on a free port (a few tries); returns the port.
        skip_if_it_exits: a start that fails skips the test (an option
        this OpenSSL lacks)."""
        for attempt in range(3):
            port = free_port()
            # our openssl.cnf, not the system's (whose MinProtocol would
            # refuse -tls1_1); env execs openssl: one PID
            proc = Process(["env", "OPENSSL_CONF=" + cert("openssl.cnf"),
                            OPENSSL, "s_server", "-accept", "127.0.0.1:%d" % port, "-cert",
                            cert("server.pem"), "-key", cert("server.key"), "-www", *opts],
                           timeout=15)
            self.addCleanup(proc.stop, 5)
            try:
                while True:  # it says ACCEPT when it listens
                    line = proc.line("out")
                    if line is None:
                        proc.wait()
                        if skip_if_it_exits and b"in use" not in proc.err:
                            raise unittest.SkipTest("s_server %s: %r" % (" ".join(opts),
                                                                         bytes(proc.err)))
                        raise AssertionError("s_server exited: %r" % bytes(proc.err))
                    if line.startswith("ACCEPT"):
                        return port
            except unittest.SkipTest:
                raise
            except Exception:
                proc.stop(5)
                if attempt == 2:
                    raise

    def test_status_page(self):
        port = self.s_server()
        out = self.get_ok("-i", "--cacert", self.ca, "https://localhost:%d/" % port)
        self.assertTrue(out.startswith(b"HTTP/1.0 200 ok\r\n"), out[:200])
        self.assertIn(b"Ciphers supported in s_server binary", out)
        self.assertTrue(out.rstrip().endswith(b"</HTML>"), out[-200:])

    def test_tls12_server(self):
        port = self.s_server("-tls1_2")
        out = self.get_ok("--cacert", self.ca, "https://127.0.0.1:%d/" % port)
        self.assertIn(b"Protocol  : TLSv1.2", out)

    def test_tls13_server(self):
        port = self.s_server("-tls1_3")
        out = self.get_ok("--cacert", self.ca, "https://127.0.0.1:%d/" % port)
        self.assertIn(b"Protocol  : TLSv1.3", out)

    def test_old_protocol_refused(self):
        """A TLS 1.1 server: the client's minimum is TLS 1.2."""
        port = self.s_server("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", skip_if_it_exits=True)
        self.assert_fails(["--cacert", self.ca, "https://127.0.0.1:%d/" % port], 1,
                          "TLS with 127.0.0.1:%d" % port,
                          "TLS protocol version not supported by the peer")


# --------------------------------------------------------------------------- broken peers

class TestBrokenPeers(TLSTest):
    def test_server_that_never_speaks_tls(self):
        """TCP accepted, then silence: -t 1 ends the handshake's wait."""
        def silent(conn):
            try:
                while conn.recv(4096):  # until usock gives up and closes
                    pass
            except OSError:
                pass
        peer = Peer(self, silent)
        url = "https://127.0.0.1:%d/" % peer.port
        start = time.monotonic()
        self.assert_fails(["-t", "1", "--cacert", self.ca, url], 1, "timed out", timeout=30)
        self.assertLess(time.monotonic() - start, 20)
        peer.join()

    def test_plain_http_server(self):
        """An http server addressed with https://: its answer to the
        ClientHello is no TLS; a clean failure, no hang."""
        p = self.start_server(tls=False)
        url = p.url("/hello").replace("http:", "https:", 1)
        start = time.monotonic()
        self.assert_fails(["-t", "10", "--cacert", self.ca, url], 1,
                          "TLS with 127.0.0.1:%d" % p.port, timeout=30)
        self.assertLess(time.monotonic() - start, 20)
        self.assertEqual(p.paths(), [])

    def test_server_closes_at_once(self):
        peer = Peer(self, lambda conn: None)
        url = "https://127.0.0.1:%d/" % peer.port
        self.assert_fails(["-t", "10", "--cacert", self.ca, url], 1, timeout=30)
        peer.join()

    def test_server_sends_garbage(self):
        def garbage(conn):
            try:
                conn.sendall(b"\x16\x03\x03\x00\x05hello" + os.urandom(2000))
                while conn.recv(4096):
                    pass
            except OSError:
                pass
        peer = Peer(self, garbage)
        url = "https://127.0.0.1:%d/" % peer.port
        self.assert_fails(["-t", "10", "--cacert", self.ca, url], 1, timeout=30)
        peer.join()

    def tls_peer(self, handler):
        """A Peer that does the server's handshake, then handler(tls_sock);
        handler may wait on self.stop, set at the cleanup."""
        ctx = server_context()
        self.stop = threading.Event()

        def run_it(conn):
            try:
                with ctx.wrap_socket(conn, server_side=True) as t:
                    handler(t)
            except OSError:  # the client gave up first
                pass
        peer = Peer(self, run_it)
        self.addCleanup(self.stop.set)  # before the Peer's close (cleanups run reversed)
        return peer

    def test_upload_to_a_server_that_stops_reading(self):
        """The TLS writes block: -t 1 ends the wait."""
        def deaf(t):
            t.recv(100)
            self.stop.wait(TIMEOUT)
        peer = self.tls_peer(deaf)
        with open(self.path("data"), "wb") as f:
            f.write(os.urandom(30 * 1000 * 1000))
        start = time.monotonic()
        self.assert_fails(["-t", "1", "--cacert", self.ca, "--data-file", self.path("data"),
                           "https://localhost:%d/" % peer.port], 1, "timed out", timeout=40)
        self.assertLess(time.monotonic() - start, 30)

    def test_upload_to_a_server_that_closes(self):
        def closer(t):
            t.recv(100000)
        peer = self.tls_peer(closer)
        with open(self.path("data"), "wb") as f:
            f.write(os.urandom(30 * 1000 * 1000))
        start = time.monotonic()
        self.assert_fails(["-t", "10", "--cacert", self.ca, "--data-file", self.path("data"),
                           "https://localhost:%d/" % peer.port], 1, timeout=40)
        self.assertLess(time.monotonic() - start, 30)

    def test_connection_refused(self):
        url = "https://127.0.0.1:%d/" % free_port()
        self.assert_fails(["--cacert", self.ca, url], 1, "refused")


if __name__ == "__main__":
    unittest.main(verbosity=2)
