"""Integration tests of HTTPS in `usock serve` (--tls-cert/--tls-key: the
httpd layer over the TLS layer), with curl, Python's ssl and http.client,
`openssl s_client`, raw sockets that misbehave, and usock's own client.

The certificates are made once per run (setUpModule) with the openssl
command into a temporary directory: a test CA and a server certificate for
localhost, 127.0.0.1 and ::1 (EC P-256 keys), a second key that matches
nothing, and a file that is not PEM.

Runs under ctest as `python3 -u tests/integration/test_serve_tls.py`, with
USOCK_BIN_DIR set to the build directory; by hand:

    USOCK_BIN_DIR=build python3 -u tests/integration/test_serve_tls.py [-v] [Class.test]

Loopback and temporary directories only. Every socket operation and every
subprocess has a timeout; every server started is stopped by its PID
(SIGTERM, then SIGKILL after a bound) in cleanups that run when a test fails
too. Without curl only its tests skip; without the openssl command, or with
a usock built without TLS (`usock serve --help` does not mention
--tls-cert), the whole file skips.

Bugs found are kept as tests marked unittest.expectedFailure, each with a
comment naming the bug; they pass (unexpectedly) once the bug is fixed.
"""

import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import (CURL, OPENSSL, USOCK, CertDir, Openssl, Process,  # noqa: E402
                   env_without_proxies, have_ipv6, recv_all)

TIMEOUT = 10       # bound on a socket wait that should be immediate
LONG = 60          # bound on a subprocess, a big transfer, a thread
HANDSHAKE_TIMEOUT = 10  # usock_httpd_opts.header_timeout's default; no CLI flag

# the clients' environment: no proxy takes the loopback requests elsewhere
ENV = env_without_proxies()

CERTS = CertDir()  # the certificates (setUpModule)
cert = CERTS.file


# --------------------------------------------------------------------------- the certificates

def make_certs(d):
    """Into d (the openssl command, our own configuration only):

        ca.pem ca.key          the test CA
        server.pem server.key  DNS:localhost IP:127.0.0.1 IP:::1, by the CA
        other.key              a P-256 key that matches no certificate
        garbage.pem            not PEM at all
    """
    openssl = Openssl(d)
    openssl.server_certs("usock serve test CA")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", "other.key")
    with open(os.path.join(d, "garbage.pem"), "wb") as f:
        f.write(b"this is not a certificate\n")


def setUpModule():
    if not OPENSSL:
        raise unittest.SkipTest("the openssl command is not installed")
    p = subprocess.run([USOCK, "serve", "--help"], capture_output=True, timeout=TIMEOUT)
    if b"--tls-cert" not in p.stdout + p.stderr:
        raise unittest.SkipTest("usock serve has no TLS (built without it?)")
    CERTS.make(make_certs, prefix="usock-serve-tls-certs-")


def tearDownModule():
    CERTS.cleanup()


# --------------------------------------------------------------------------- helpers

def client_context(alpn=("http/1.1",)):
    """A client context trusting the test CA only (hostnames checked)."""
    ctx = ssl.create_default_context(cafile=cert("ca.pem"))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def start_server(test, root, *extra, host="127.0.0.1", tls=True):
    """`usock serve ROOT` on host, any free port, TLS with the test
    certificate unless tls is False; stopped at the test's (or, given a
    class, the class's) cleanup. Returns (Process, port)."""
    argv = [USOCK, "serve", root, "-b", host, "-p", "0", *extra]
    if tls:
        argv += ["--tls-cert", cert("server.pem"), "--tls-key", cert("server.key")]
    proc = Process(argv)
    if isinstance(test, type):
        test.addClassCleanup(proc.stop)
    else:
        test.addCleanup(proc.stop)
    addr = proc.listening()
    return proc, int(addr.rsplit(":", 1)[1])


def exchange(c, method, path, headers=None, body=None):
    """One request on the http.client connection c, closed after it (a
    Transfer-Encoding field given: the body chunked); (status, headers
    dict, body)."""
    try:
        c.request(method, path, body=body, headers=headers or {},
                  encode_chunked="Transfer-Encoding" in (headers or {}))
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def parse_responses(data):
    """HTTP/1.1 responses one after another (Content-Length framed, as the
    server frames them): a list of (status, headers dict, body)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError("a truncated head: %r" % data[:80])
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            headers[k.strip().lower().decode()] = v.strip().decode()
        n = int(headers.get("content-length", "0"))
        out.append((status, headers, rest[:n]))
        data = rest[n:]
    return out


def closed_by_peer(sock, timeout):
    """Reads (discarding, e.g. a TLS alert) until EOF or a reset, within
    timeout seconds; True if the peer closed, False if still open then."""
    sock.settimeout(timeout)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            if not sock.recv(4096):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def client_hello():
    """A real TLS ClientHello (the bytes Python's ssl would send first)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


# --------------------------------------------------------------------------- the server

class ServeTlsTest(unittest.TestCase):
    """One `usock serve --tls-cert --tls-key` (two workers) for the class,
    and a plain one over the same directory to compare with."""

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="usock-serve-tls-")
        cls.addClassCleanup(shutil.rmtree, cls.root, ignore_errors=True)
        cls.outside = tempfile.mkdtemp(prefix="usock-serve-tls-out-")
        cls.addClassCleanup(shutil.rmtree, cls.outside, ignore_errors=True)
        files = {"a.txt": b"0123456789", "b.txt": b"the second file\n",
                 "big.bin": os.urandom(300000)}
        for name, data in files.items():
            with open(os.path.join(cls.root, name), "wb") as f:
                f.write(data)
        cls.files = files
        cls.huge = os.path.join(cls.root, "huge.bin")  # 20 MB, random
        h = hashlib.sha256()
        with open(cls.huge, "wb") as f:
            for _ in range(20):
                chunk = os.urandom(1 << 20)
                h.update(chunk)
                f.write(chunk)
        cls.huge_sha = h.hexdigest()
        cls.log = os.path.join(cls.outside, "access.log")
        cls.proc, cls.port = start_server(cls, cls.root, "-w", "2", "--log", cls.log)
        cls.plain, cls.plain_port = start_server(cls, cls.root, "-w", "1", "-q", tls=False)

    def url(self, path, host="localhost"):
        return "https://%s:%d%s" % (host, self.port, path)

    def conn(self, timeout=TIMEOUT, ctx=None):
        return http.client.HTTPSConnection("localhost", self.port, timeout=timeout,
                                           context=ctx or client_context())

    def get(self, path, headers=None, method="GET", body=None, timeout=TIMEOUT):
        return exchange(self.conn(timeout), method, path, headers, body)

    def plain_get(self, path, headers=None, method="GET", body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.plain_port, timeout=TIMEOUT)
        return exchange(c, method, path, headers, body)

    def raw(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)

    def tls_raw(self):
        return client_context().wrap_socket(self.raw(), server_hostname="localhost")

    def assert_serving(self):
        """The server still answers a new TLS connection, at once."""
        st, _, body = self.get("/a.txt")
        self.assertEqual((st, body), (200, b"0123456789"))

    def status_json(self, c):
        c.request("GET", "/_status.json")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        return json.loads(r.read())

    def curl(self, *args, timeout=LONG):
        return subprocess.run([CURL, "-s", "--max-time", str(timeout), "--cacert",
                               cert("ca.pem"), *[str(a) for a in args]],
                              capture_output=True, timeout=timeout + 10, env=ENV,
                              stdin=subprocess.DEVNULL)

    # ------------------------------------------------------------------ curl

    @unittest.skipUnless(CURL, "curl not installed")
    def test_curl_body_and_head(self):
        r = self.curl(self.url("/a.txt"))
        self.assertEqual((r.returncode, r.stdout), (0, b"0123456789"), r.stderr)
        r = self.curl(self.url("/big.bin"))
        self.assertEqual(r.stdout, self.files["big.bin"])
        r = self.curl("-I", self.url("/big.bin"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, rb"^HTTP/1\.1 200 ")
        self.assertRegex(r.stdout, rb"(?i)\r\ncontent-length: 300000\r\n")
        self.assertTrue(r.stdout.endswith(b"\r\n\r\n"))  # the head, no body

    @unittest.skipUnless(CURL, "curl not installed")
    def test_curl_untrusted_fails(self):
        # the certificate is the test CA's: no other trust, no answer
        r = subprocess.run([CURL, "-s", "--max-time", str(LONG), "--capath", CERTS.path,
                            "--cacert", os.devnull, self.url("/a.txt")],
                           capture_output=True, timeout=LONG + 10, env=ENV)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stdout, b"")

    @unittest.skipUnless(CURL, "curl not installed")
    def test_curl_range(self):
        r = self.curl("-r", "1000-1999", "-w", "\n%{http_code}", self.url("/big.bin"))
        body, _, code = r.stdout.rpartition(b"\n")
        self.assertEqual(code, b"206")
        self.assertEqual(body, self.files["big.bin"][1000:2000])
        r = self.curl("-r", "-4", "-w", "\n%{http_code}", self.url("/a.txt"))
        self.assertEqual(r.stdout, b"6789\n206")

    @unittest.skipUnless(CURL, "curl not installed")
    def test_curl_if_none_match(self):
        r = self.curl("-I", self.url("/a.txt"))
        etag = re.search(rb"(?i)\r\netag: *([^\r\n]+)", r.stdout)
        self.assertTrue(etag, r.stdout)
        r = self.curl("-H", "If-None-Match: " + etag.group(1).decode(), "-w", "%{http_code}",
                      self.url("/a.txt"))
        self.assertEqual(r.stdout, b"304")  # no body, the code only
        r = self.curl("-H", 'If-None-Match: "other"', "-w", "\n%{http_code}",
                      self.url("/a.txt"))
        self.assertEqual(r.stdout, b"0123456789\n200")

    @unittest.skipUnless(CURL, "curl not installed")
    def test_curl_reuses_one_connection(self):
        r = self.curl("-w", "[%{num_connects}]", self.url("/a.txt"), self.url("/b.txt"),
                      self.url("/a.txt"))
        self.assertEqual(r.stdout, b"0123456789[1]the second file\n[0]0123456789[0]",
                         r.stderr)

    @unittest.skipUnless(CURL, "curl not installed")
    def test_curl_alpn(self):
        r = self.curl("--http1.1", "-v", self.url("/a.txt"))
        self.assertEqual(r.stdout, b"0123456789")
        self.assertIn(b"ALPN: server accepted http/1.1", r.stderr)
        # offered h2 as well, the server still picks http/1.1
        r = self.curl("--http2", "-v", self.url("/a.txt"))
        self.assertEqual(r.stdout, b"0123456789")
        self.assertIn(b"ALPN: server accepted http/1.1", r.stderr)
        self.assertRegex(r.stderr, rb"< HTTP/1\.1 200")

    @unittest.skipUnless(CURL, "curl not installed")
    def test_curl_20mb(self):
        out = os.path.join(self.outside, "huge.out")
        self.addCleanup(lambda: os.path.exists(out) and os.unlink(out))
        r = self.curl("-o", out, "-w", "%{http_code} %{size_download}", self.url("/huge.bin"))
        self.assertEqual(r.stdout, b"200 20971520", r.stderr)
        h = hashlib.sha256()
        with open(out, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        self.assertEqual(h.hexdigest(), self.huge_sha)

    @unittest.skipUnless(CURL, "curl not installed")
    def test_curl_tls12(self):
        r = self.curl("--tlsv1.2", "--tls-max", "1.2", "-v", self.url("/a.txt"))
        self.assertEqual((r.returncode, r.stdout), (0, b"0123456789"), r.stderr)
        self.assertIn(b"SSL connection using TLSv1.2", r.stderr)
        r = self.curl("-v", self.url("/a.txt"))
        self.assertIn(b"SSL connection using TLSv1.3", r.stderr)

    @unittest.skipUnless(CURL and have_ipv6(), "curl not installed, or no IPv6")
    def test_curl_ipv6(self):
        d = tempfile.mkdtemp(prefix="usock-serve-tls-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        with open(os.path.join(d, "six.txt"), "wb") as f:
            f.write(b"over ::1")
        _, port = start_server(self, d, "-w", "1", "-q", host="::1")
        r = self.curl("https://[::1]:%d/six.txt" % port)
        self.assertEqual((r.returncode, r.stdout), (0, b"over ::1"), r.stderr)

    # ------------------------------------------------------------------ Python's ssl

    def test_python_keepalive(self):
        c = self.conn()
        self.addCleanup(c.close)
        c.request("GET", "/a.txt")
        r = c.getresponse()
        self.assertEqual(r.read(), b"0123456789")
        sock = c.sock
        self.assertEqual(sock.selected_alpn_protocol(), "http/1.1")
        for path in ["/b.txt", "/big.bin", "/a.txt", "/_status.json", "/nope", "/a.txt"]:
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            self.assertIs(c.sock, sock)  # the same connection
            if path[1:] in self.files:
                self.assertEqual((r.status, body), (200, self.files[path[1:]]))
            else:
                self.assertEqual(r.status, 404 if path == "/nope" else 200, path)
        c.request("HEAD", "/big.bin")
        r = c.getresponse()
        self.assertEqual((r.status, r.getheader("Content-Length"), r.read()),
                         (200, "300000", b""))
        self.assertIs(c.sock, sock)

    def test_python_no_alpn(self):
        # a client that offers no ALPN is served all the same
        c = self.conn(ctx=client_context(alpn=()))
        self.addCleanup(c.close)
        c.request("GET", "/a.txt")
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (200, b"0123456789"))
        self.assertIsNone(c.sock.selected_alpn_protocol())

    def test_python_pipelining(self):
        s = self.tls_raw()
        self.addCleanup(s.close)
        req = b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"
        s.sendall(req + b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n"
                  b"GET /b.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = recv_all(s)
        got = [(st, body) for st, _, body in parse_responses(data)]
        self.assertEqual(got, [(200, b"0123456789"), (200, self.files["big.bin"]),
                               (200, b"the second file\n")])

    def test_python_pipelined_with_304_and_range(self):
        st, h, _ = self.get("/a.txt")
        s = self.tls_raw()
        self.addCleanup(s.close)
        s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: "
                  + h["ETag"].encode() + b"\r\n\r\n"
                  b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nRange: bytes=5-9\r\n\r\n"
                  b"HEAD /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = recv_all(s)
        # the 304 and the HEAD have a Content-Length but no body
        head1, _, rest = data.partition(b"\r\n\r\n")
        self.assertRegex(head1, rb"^HTTP/1\.1 304 ")
        head2, _, rest = rest.partition(b"\r\n\r\n")
        self.assertRegex(head2, rb"^HTTP/1\.1 206 ")
        self.assertEqual(rest[:5], self.files["big.bin"][5:10])
        head3, _, tail = rest[5:].partition(b"\r\n\r\n")
        self.assertRegex(head3, rb"^HTTP/1\.1 200 ")
        self.assertEqual(tail, b"")

    def test_post_as_over_plain(self):
        # the CLI's routes are static files: a POST, with a body of either
        # framing, is answered as over plain HTTP (405)
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        for chunked in (False, True):
            def req(get):
                if chunked:
                    return get("/a.txt", method="POST", headers={"Transfer-Encoding": "chunked"},
                               body=iter([b"hello ", b"world"]))
                return get("/a.txt", method="POST", headers=form, body=b"x=1&y=2")
            want = req(self.plain_get)
            self.assertEqual(want[0], 405)
            got = req(self.get)
            self.assertEqual((got[0], got[2]), (want[0], want[2]))
            self.assertEqual(got[1].get("Allow"), want[1].get("Allow"))
        # and the connection serves on after the 405
        c = self.conn()
        self.addCleanup(c.close)
        c.request("POST", "/a.txt", body=b"zzz")
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 405)
        c.request("GET", "/a.txt")
        self.assertEqual(c.getresponse().read(), b"0123456789")

    def test_status_page(self):
        st, _, body = self.get("/_status")
        self.assertEqual(st, 200)
        self.assertIn(b"/_status.json", body)
        st, _, body = self.get("/_status.json")
        self.assertEqual(st, 200)
        self.assertIn("connections_total", json.loads(body))

    # ------------------------------------------------------------------ openssl s_client

    def test_openssl_s_client(self):
        p = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % self.port,
                            "-alpn", "http/1.1", "-CAfile", cert("ca.pem"),
                            "-servername", "localhost", "-ign_eof"],
                           input=b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n"
                                 b"Connection: close\r\n\r\n",
                           capture_output=True, timeout=LONG)
        out = p.stdout
        self.assertIn(b"ALPN protocol: http/1.1", out)
        self.assertIn(b"Verify return code: 0 (ok)", out)
        self.assertRegex(out, rb"HTTP/1\.1 200 [^\r\n]*\r\n")
        self.assertIn(b"\r\n\r\n0123456789", out)

    # ------------------------------------------------------------------ handshakes

    def test_silent_clients_do_not_block(self):
        # clients that connect and send no ClientHello (or half of one) sit
        # in their handshake; on both workers, the others are served at once
        hello = client_hello()
        silent = []
        for i in range(6):
            s = self.raw()
            self.addCleanup(s.close)
            if i % 2:
                s.sendall(hello[:len(hello) // 2])
            silent.append(s)
        time.sleep(0.2)
        for _ in range(10):  # well within the 10-s handshake timeout
            st, _, body = self.get("/a.txt", timeout=5)
            self.assertEqual((st, body), (200, b"0123456789"))
        if CURL:
            r = self.curl(self.url("/a.txt"), self.url("/b.txt"), timeout=5)
            self.assertEqual(r.stdout, b"0123456789the second file\n", r.stderr)
        # and they are still waited for, not dropped
        for s in silent:
            self.assertFalse(closed_by_peer(s, 0.05))

    def test_handshake_timeout(self):
        # a silent client, and one that stops half-way through its
        # ClientHello, are closed by the server (after header_timeout, 10 s)
        hello = client_hello()
        silent = self.raw()
        self.addCleanup(silent.close)
        half = self.raw()
        self.addCleanup(half.close)
        half.sendall(hello[:len(hello) // 2])
        start = time.monotonic()
        self.assertTrue(closed_by_peer(silent, HANDSHAKE_TIMEOUT * 3))
        left = HANDSHAKE_TIMEOUT * 3 - (time.monotonic() - start)
        self.assertTrue(closed_by_peer(half, max(left, 1)))
        self.assert_serving()

    def test_garbage_instead_of_hello(self):
        for junk in [b"GARBAGE" * 100,
                     b"\x16\x03\x01\x00\x10" + b"\xff" * 16,  # a record, not a hello
                     b"\x16\x03\x01\xff\xff" + os.urandom(2000)]:  # a huge, random one
            s = self.raw()
            self.addCleanup(s.close)
            s.sendall(junk)
            self.assertTrue(closed_by_peer(s, 5), junk[:10])
            self.assert_serving()

    def test_plain_http_to_tls_port(self):
        s = self.raw()
        self.addCleanup(s.close)
        s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = b""
        try:
            while True:
                b = s.recv(4096)
                if not b:
                    break
                data += b
        except ConnectionResetError:
            pass
        # closed: nothing, a TLS alert, or a 400 -- never the file
        self.assertNotIn(b"0123456789", data)
        self.assertTrue(data == b"" or data[:1] == b"\x15" or data.startswith(b"HTTP/1.1 400"),
                        data[:40])
        if CURL:
            r = subprocess.run([CURL, "-s", "--max-time", str(TIMEOUT),
                                "http://127.0.0.1:%d/a.txt" % self.port],
                               capture_output=True, timeout=TIMEOUT + 10, env=ENV)
            self.assertNotEqual(r.returncode, 0)
            self.assertNotIn(b"0123456789", r.stdout)
        self.assert_serving()

    def test_client_closes_mid_handshake(self):
        # half a ClientHello, then a close (or a reset): the server lives on
        hello = client_hello()
        for linger in (False, True):
            s = self.raw()
            s.sendall(hello[:len(hello) // 2])
            if linger:  # close with RST
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            s.close()
        s = self.raw()
        s.sendall(hello)  # the whole hello, then gone before the server's answer is read
        s.close()
        self.assert_serving()

    def test_50_concurrent_clients(self):
        n = 50
        barrier = threading.Barrier(n, timeout=LONG)
        results = [None] * n

        def one(i):
            try:
                barrier.wait()
                path = "/big.bin" if i % 2 else "/a.txt"
                results[i] = self.get(path, timeout=LONG)
            except Exception as e:  # noqa: BLE001 -- checked below
                results[i] = e

        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(LONG)
            self.assertFalse(t.is_alive())
        for i, res in enumerate(results):
            self.assertIsInstance(res, tuple, "client %d: %r" % (i, res))
            want = self.files["big.bin"] if i % 2 else b"0123456789"
            self.assertEqual((res[0], res[2]), (200, want), "client %d" % i)

    # ------------------------------------------------------------------ usock get

    def test_usock_get_one_connection(self):
        c = self.conn()
        self.addCleanup(c.close)
        before = self.status_json(c)["connections_total"]
        p = subprocess.run([USOCK, "get", "--cacert", cert("ca.pem"), "-t", str(TIMEOUT),
                            self.url("/a.txt"), self.url("/b.txt"), self.url("/big.bin")],
                           capture_output=True, timeout=LONG, env=ENV,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, b"0123456789the second file\n" + self.files["big.bin"])
        after = self.status_json(c)["connections_total"]  # the same connection as before
        self.assertEqual(after - before, 1)  # usock get's one

    def test_usock_get_untrusted_fails(self):
        # usock get without the test CA refuses the server
        p = subprocess.run([USOCK, "get", "--capath", CERTS.path, "-t", str(TIMEOUT),
                            self.url("/a.txt")], capture_output=True, timeout=LONG, env=ENV,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, b"")

    def test_zz_access_log(self):
        self.get("/a.txt?tls=1")
        with open(self.log, "rb") as f:
            text = f.read()
        self.assertRegex(text, rb'127\.0\.0\.1 - - \[[^]]+\] "GET /a\.txt\?tls=1 HTTP/1\.1" 200 10')


# --------------------------------------------------------------------------- the command line

class ServeTlsCliTest(unittest.TestCase):
    def serve(self, *args):
        d = tempfile.mkdtemp(prefix="usock-serve-tls-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        p = Process([USOCK, "serve", d, "-p", "0", "-w", "1", *args])
        self.addCleanup(p.stop)
        rc = p.wait(LONG)  # exits before listening
        return rc, bytes(p.err)

    def test_missing_cert(self):
        missing = cert("missing.pem")
        rc, err = self.serve("--tls-cert", missing, "--tls-key", cert("server.key"))
        self.assertNotEqual(rc, 0)
        self.assertNotIn(b"listening", err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn(missing.encode(), err)

    # (Found here: the certificate was named whichever file failed.)
    def test_missing_key_names_the_key(self):
        missing = cert("missing.key")
        rc, err = self.serve("--tls-cert", cert("server.pem"), "--tls-key", missing)
        self.assertNotEqual(rc, 0)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn(missing.encode(), err)

    def test_missing_key_fails(self):
        rc, err = self.serve("--tls-cert", cert("server.pem"),
                             "--tls-key", cert("missing.key"))
        self.assertNotEqual(rc, 0)
        self.assertNotIn(b"listening", err)
        self.assertEqual(len(err.splitlines()), 1, err)

    def test_key_does_not_match(self):
        rc, err = self.serve("--tls-cert", cert("server.pem"), "--tls-key", cert("other.key"))
        self.assertNotEqual(rc, 0)
        self.assertNotIn(b"listening", err)
        self.assertEqual(len(err.splitlines()), 1, err)

    def test_not_pem(self):
        for args in (["--tls-cert", cert("garbage.pem"), "--tls-key", cert("server.key")],
                     ["--tls-cert", cert("server.pem"), "--tls-key", cert("garbage.pem")]):
            rc, err = self.serve(*args)
            self.assertNotEqual(rc, 0, args)
            self.assertNotIn(b"listening", err)
            self.assertEqual(len(err.splitlines()), 1, err)

    def test_half_of_the_pair_is_usage(self):
        for args in (["--tls-cert", cert("server.pem")], ["--tls-key", cert("server.key")],
                     ["--tls-cert"]):
            rc, err = self.serve(*args)
            self.assertEqual(rc, 2, args)
            self.assertEqual(len(err.splitlines()), 1, err)

    def test_graceful_stop_mid_download(self):
        d = tempfile.mkdtemp(prefix="usock-serve-tls-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        data = os.urandom(5000000)
        with open(os.path.join(d, "big.bin"), "wb") as f:
            f.write(data)
        p, port = start_server(self, d, "-w", "1", "-q")
        ctx = client_context()
        idle = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT),
                               server_hostname="localhost")
        self.addCleanup(idle.close)
        shaking = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)  # no hello
        self.addCleanup(shaking.close)
        busy = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT),
                               server_hostname="localhost")
        self.addCleanup(busy.close)
        busy.sendall(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        first = busy.recv(100)  # the response has begun
        self.assertTrue(first.startswith(b"HTTP/1.1 200"), first)
        os.kill(p.p.pid, signal.SIGTERM)
        busy.settimeout(LONG)
        rest = recv_all(busy)  # the in-flight response is finished
        head, _, body = (first + rest).partition(b"\r\n\r\n")
        self.assertIn(b"Content-Length: 5000000", head)
        self.assertEqual(len(body), 5000000)
        self.assertEqual(body, data)
        # the idle one and the one in its handshake are closed
        try:
            self.assertEqual(recv_all(idle), b"")
        except (ssl.SSLError, ConnectionResetError):
            pass
        self.assertTrue(closed_by_peer(shaking, TIMEOUT))
        self.assertEqual(p.wait(LONG), 0)
        self.assertEqual(p.err.decode().count("\n"), 1)  # -q: the listening line only


if __name__ == "__main__":
    unittest.main(verbosity=2)
