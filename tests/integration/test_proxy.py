"""Integration tests of proxies in `usock get` (--proxy/-x, --noproxy, and
http_proxy, https_proxy, no_proxy from the environment), against real
peers on loopback that the tests start:

  - origins: Python's http.server (ThreadingHTTPServer speaking HTTP/1.1
    with keep-alive), plain and wrapped in ssl with a certificate of a
    test CA (made once per run with the openssl command);
  - a proxy written here with http.server: it relays GET/POST (and the
    other methods) asked in absolute form to the origin, and CONNECT
    tunnels byte for byte both ways; it logs each request line and its
    Proxy-Authorization, counts its connections, keeps connections alive,
    and one variant answers 407 to a request without the right
    Proxy-Authorization. It serves loopback origins only.

curl, when installed, is run beside `usock get` with the same flags and
environment: the two must agree on success or failure and on the body.

Runs under ctest, which sets USOCK_BIN_DIR to the build directory (the tool
is $USOCK_BIN_DIR/tools/usock); by hand:

    USOCK_BIN_DIR=build python3 -u tests/integration/test_proxy.py [-v] [Class.test]

Loopback only (127.0.0.1, ::1, localhost). The clients run with the proxy
variables of the test's environment removed, and only those a test sets.
Every wait is bounded; every server is shut down in cleanups that run when
a test fails too. Without curl, only its parts are left out; without the
openssl command, the https tests skip.

Bugs found would be kept as tests marked unittest.expectedFailure, each with a
comment naming the bug; they pass (unexpectedly) once the bug is fixed.
"""

import base64
import http.client
import json
import os
import selectors
import socket
import ssl
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import (CURL, OPENSSL, TIMEOUT, CertDir, CountingServer, Openssl,  # noqa: E402
                   QuietHandler, RecordingServer, check_fails, check_ok, curl,
                   env_without_proxies, free_port, have_ipv6, pattern, serve_in_thread,
                   usock_get)

LOOPBACK = ("127.0.0.1", "::1", "localhost")
PUSER, PPASS = "proxyuser", "pr0xy:pass"  # a ':' in the password
PROXY_AUTH = "Basic " + base64.b64encode(("%s:%s" % (PUSER, PPASS)).encode()).decode()
PCRED = "%s:%s" % (PUSER, urllib.parse.quote(PPASS, safe=""))  # as in a URL

# the clients' environment: none of the test runner's proxy settings (nor
# REQUEST_METHOD, under which HTTP_PROXY is ignored, as in a CGI script)
ENV = env_without_proxies("request_method")


def run(*args, env=None, timeout=TIMEOUT):
    """`usock get ARGS` with ENV plus env; (status, stdout, stderr)."""
    return usock_get(*args, timeout=timeout, env=dict(ENV, **(env or {})))


def run_curl(*args, env=None, timeout=TIMEOUT):
    """curl -q -s ARGS (its config files ignored) with ENV plus env."""
    return curl(*args, timeout=timeout, env=dict(ENV, **(env or {})))


def hostport(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


# --------------------------------------------------------------------------- the certificates

CERTS = CertDir()  # the certificates (setUpModule; .path None without openssl)
cert = CERTS.file


def make_certs(d):
    """Into d: ca.pem (the test CA), other-ca.pem (a CA nobody trusts),
    server.pem and server.key (localhost, 127.0.0.1, ::1, by the CA)."""
    openssl = Openssl(d)
    openssl.server_certs("usock proxy test CA")
    openssl.ca("other-ca", "usock unknown CA")
    openssl("verify", "-CAfile", "ca.pem", "server.pem")


def setUpModule():
    if OPENSSL:  # else the https tests skip
        CERTS.make(make_certs)


def tearDownModule():
    CERTS.cleanup()


# --------------------------------------------------------------------------- the origins

class Origin(RecordingServer):
    """A RecordingServer with OriginHandler on a loopback address, plain or
    TLS (context); failed handshakes and a handler's exceptions are kept in
    .errors."""
    quiet = True

    def __init__(self, host="127.0.0.1", context=None):
        super().__init__(OriginHandler, host, context=context)

    def last(self):
        with self.lock:
            if not self.requests:
                raise AssertionError("the origin got no request")
            return self.requests[-1]


class OriginHandler(QuietHandler):
    def dispatch(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        req = {"method": self.command, "path": self.path, "headers": list(self.headers.items()),
               "body": body.decode("latin-1")}
        self.server.record(req)
        if url.path == "/hello":
            self.reply(200, b"hello\n")
        elif url.path == "/echo":
            self.reply(200, json.dumps(req, sort_keys=True).encode() + b"\n",
                       ctype="application/json")
        elif url.path == "/big":
            self.reply(200, pattern(int(query.get("n", "1000000"))))
        elif url.path.startswith("/redirect"):
            self.reply(302, b"moved\n", [("Location", query["to"])])
        elif url.path.startswith("/status/"):
            code = int(url.path.split("/")[2])
            self.reply(code, b"the body of a %d\n" % code)
        else:
            self.reply(404, b"not found: %s\n" % url.path.encode())

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = dispatch


# --------------------------------------------------------------------------- the proxy

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization",
              "proxy-authenticate", "te", "trailer", "transfer-encoding", "upgrade"}


class Proxy(CountingServer):
    """An HTTP proxy on loopback: absolute-form requests relayed to their
    (loopback) origin, CONNECT tunnels when connect is true. auth: the
    Proxy-Authorization it wants (else 407); None: any. Logs each
    request line (.lines) with its Proxy-Authorization (.auths, None when
    absent); counts connections; .stopping ends the tunnels at the test's
    end; a handler's exceptions are kept in .errors."""
    quiet = True

    def __init__(self, host="127.0.0.1", auth=None, connect=True):
        self.want_auth = auth
        self.connect = connect
        self.lines = []
        self.auths = []
        super().__init__(ProxyHandler, host)

    def log(self, line, auth):
        with self.lock:
            self.lines.append(line)
            self.auths.append(auth)

    def url(self, cred=None, host=None):
        """http://[cred@]HOST:PORT"""
        return "http://%s%s" % (cred + "@" if cred else "", hostport(host or self.host, self.port))

    def reset(self):
        with self.lock:
            self.lines, self.auths, self.connections = [], [], 0

    def seen(self):
        with self.lock:
            return list(self.lines)


class ProxyHandler(QuietHandler):
    rbufsize = 0  # nothing of a tunnel is read ahead into a buffer

    def send_plain(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def authorized(self):
        """Logs the request; answers 407 when the credentials are wrong."""
        auth = self.headers.get("Proxy-Authorization")
        self.server.log(self.requestline, auth)
        if self.server.want_auth is None or auth == self.server.want_auth:
            return True
        # the body of a request that will not be relayed is read away
        n = int(self.headers.get("Content-Length") or 0)
        if n and self.command != "CONNECT":
            self.rfile.read(n)
        self.send_plain(407, b"proxy credentials, please\n",
                        [("Proxy-Authenticate", 'Basic realm="test proxy"')])
        if self.command == "CONNECT":
            self.close_connection = True
        return False

    def relay_request(self):
        if not self.authorized():
            return
        url = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        if url.scheme != "http" or url.hostname not in LOOPBACK:
            self.send_plain(502, b"loopback http origins only\n")
            return
        target = (url.path or "/") + ("?" + url.query if url.query else "")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=TIMEOUT)
        try:
            conn.request(self.command, target, body=body, headers=headers)
            res = conn.getresponse()
            data = res.read()
            out = [(k, v) for k, v in res.getheaders()
                   if k.lower() not in HOP_BY_HOP and k.lower() not in ("content-length",
                                                                       "date", "server")]
        except OSError as e:
            self.send_plain(502, b"origin: %s\n" % str(e).encode())
            return
        finally:
            conn.close()
        self.send_response(res.status, res.reason)
        for k, v in out:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = relay_request

    def do_CONNECT(self):
        if not self.server.connect:
            self.server.log(self.requestline, self.headers.get("Proxy-Authorization"))
            self.send_plain(405, b"no tunnels here\n")
            self.close_connection = True
            return
        if not self.authorized():
            return
        host, _, port = self.path.rpartition(":")
        host = host.strip("[]")
        if host not in LOOPBACK or not port.isdigit():
            self.send_plain(403, b"loopback only\n")
            self.close_connection = True
            return
        try:
            up = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        except OSError as e:
            self.send_plain(502, b"origin: %s\n" % str(e).encode())
            self.close_connection = True
            return
        with up:
            self.send_response(200, "Connection established")
            self.end_headers()
            self.relay(self.connection, up)
        self.close_connection = True

    def relay(self, a, b):
        """Bytes both ways until either side closes (or the test ends)."""
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ)
        sel.register(b, selectors.EVENT_READ)
        end = time.monotonic() + TIMEOUT
        try:
            while time.monotonic() < end and not self.server.stopping.is_set():
                for key, _ in sel.select(0.1):
                    src = key.fileobj
                    try:
                        data = src.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        finally:
            sel.close()


# --------------------------------------------------------------------------- base class

class ProxyTest(unittest.TestCase):
    """Each test gets a plain origin on 127.0.0.1 (self.origin) and a
    proxy (self.proxy) that tunnels and asks no credentials; others on
    demand."""

    def setUp(self):
        self.origin = self.serve(Origin("127.0.0.1"))
        self.proxy = self.start_proxy()

    def serve(self, srv):
        """srv serving until the test's cleanup; returns it."""
        return serve_in_thread(self, srv)

    def start_proxy(self, host="127.0.0.1", auth=None, connect=True):
        return self.serve(Proxy(host, auth, connect))

    def tls_origin(self, host="127.0.0.1"):
        if not CERTS.path:
            self.skipTest("the openssl command is not installed")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert("server.pem"), cert("server.key"))
        return self.serve(Origin(host, ctx))

    def get_ok(self, *args, env=None):
        """usock get ARGS exits 0 with an empty stderr; returns stdout."""
        return check_ok(self, args, run(*args, env=env))

    def assert_fails(self, args, status, *words, env=None):
        """usock get ARGS exits with status and one line on stderr that
        holds each of words (case-insensitive); returns the line."""
        return check_fails(self, args, run(*args, env=env), status, words)[1]

    def curl_agrees(self, args, env=None, body=None, proxy=None, lines=None):
        """curl with the same ARGS and environment: succeeds with body when
        body is given, else fails; when proxy and lines are given, the
        proxy saw those lines from it. Nothing without curl."""
        if not CURL:
            return
        if proxy:
            proxy.reset()
        rc, out, err = run_curl(*args, env=env)
        if body is None:
            self.assertNotEqual(rc, 0, ("curl succeeded", args, out))
        else:
            self.assertEqual(rc, 0, ("curl", args, err))
            self.assertEqual(out, body)
        if proxy and lines is not None:
            self.assertEqual(proxy.seen(), lines)


# --------------------------------------------------------------------------- forward proxying

class ForwardTest(ProxyTest):
    """http URLs through the proxy: the absolute-form target."""

    def test_get_through_proxy(self):
        url = self.origin.url("/hello")
        args = ["--proxy", self.proxy.url(), url]
        self.assertEqual(self.get_ok(*args), b"hello\n")
        line = "GET http://127.0.0.1:%d/hello HTTP/1.1" % self.origin.port
        self.assertEqual(self.proxy.seen(), [line])
        self.assertEqual(self.proxy.auths, [None])
        # the origin was asked by the proxy, in origin form
        self.assertEqual(self.origin.paths(), ["/hello"])
        self.curl_agrees(args, body=b"hello\n", proxy=self.proxy, lines=[line])

    def test_short_flag_and_query(self):
        url = self.origin.url("/echo?a=1&b=two%20words")
        out = self.get_ok("-x", self.proxy.url(), url)
        self.assertEqual(json.loads(out)["path"], "/echo?a=1&b=two%20words")
        self.assertEqual(self.proxy.seen(),
                         ["GET http://127.0.0.1:%d/echo?a=1&b=two%%20words HTTP/1.1"
                          % self.origin.port])

    def test_scheme_less_proxy(self):
        args = ["--proxy", "127.0.0.1:%d" % self.proxy.port, self.origin.url("/hello")]
        self.assertEqual(self.get_ok(*args), b"hello\n")
        self.assertEqual(len(self.proxy.seen()), 1)
        self.curl_agrees(args, body=b"hello\n")

    def test_host_header_and_no_proxy_auth_to_origin(self):
        out = self.get_ok("--proxy", self.proxy.url(), self.origin.url("/echo"))
        headers = dict(json.loads(out)["headers"])
        self.assertEqual(headers["Host"], "127.0.0.1:%d" % self.origin.port)
        self.assertNotIn("Proxy-Authorization", headers)

    def test_post(self):
        args = ["--proxy", self.proxy.url(), "-d", "a=1&b=2", self.origin.url("/echo")]
        req = json.loads(self.get_ok(*args))
        self.assertEqual((req["method"], req["body"]), ("POST", "a=1&b=2"))
        self.assertEqual(self.proxy.seen(),
                         ["POST http://127.0.0.1:%d/echo HTTP/1.1" % self.origin.port])
        if CURL:
            rc, out, err = run_curl(*args)
            self.assertEqual(rc, 0, err)
            self.assertEqual((json.loads(out)["method"], json.loads(out)["body"]),
                             ("POST", "a=1&b=2"))

    def test_big_body(self):
        n = 3000000
        args = ["--proxy", self.proxy.url(), self.origin.url("/big?n=%d" % n)]
        self.assertEqual(self.get_ok(*args), pattern(n))
        self.curl_agrees(args, body=pattern(n))

    def test_http_error_through_proxy(self):
        # an origin's 404 is the origin's answer: printed, exit 0 (curl)
        args = ["--proxy", self.proxy.url(), self.origin.url("/status/404")]
        self.assertEqual(self.get_ok(*args), b"the body of a 404\n")
        self.curl_agrees(args, body=b"the body of a 404\n")
        rc, out, err = run("--fail", *args)
        self.assertEqual(rc, 22, err)

    def test_redirect_through_proxy(self):
        url = self.origin.url("/redirect?to=/hello")
        args = ["-L", "--proxy", self.proxy.url(), url]
        self.assertEqual(self.get_ok(*args), b"hello\n")
        base = "http://127.0.0.1:%d" % self.origin.port
        lines = ["GET %s/redirect?to=/hello HTTP/1.1" % base, "GET %s/hello HTTP/1.1" % base]
        self.assertEqual(self.proxy.seen(), lines)
        self.curl_agrees(args, body=b"hello\n", proxy=self.proxy, lines=lines)

    def test_credentials(self):
        proxy = self.start_proxy(auth=PROXY_AUTH)
        args = ["--proxy", proxy.url(PCRED), self.origin.url("/hello")]
        self.assertEqual(self.get_ok(*args), b"hello\n")
        self.assertEqual(proxy.auths, [PROXY_AUTH])
        self.curl_agrees(args, body=b"hello\n")
        self.assertEqual(proxy.auths[-1:], [PROXY_AUTH])

    def test_credentials_and_origin_auth(self):
        # -u goes to the origin (Authorization), the proxy URL's to the proxy
        proxy = self.start_proxy(auth=PROXY_AUTH)
        out = self.get_ok("--proxy", proxy.url(PCRED), "-u", "alice:secret",
                          self.origin.url("/echo"))
        headers = dict(json.loads(out)["headers"])
        self.assertEqual(headers.get("Authorization"),
                         "Basic " + base64.b64encode(b"alice:secret").decode())
        self.assertNotIn("Proxy-Authorization", headers)
        self.assertEqual(proxy.auths, [PROXY_AUTH])

    def test_407_from_forward_proxy(self):
        # the proxy's 407 to a forwarded request is an HTTP answer: printed
        # with exit 0, exit 22 with --fail (curl does the same)
        proxy = self.start_proxy(auth=PROXY_AUTH)
        args = ["--proxy", proxy.url(), self.origin.url("/hello")]
        self.assertEqual(self.get_ok(*args), b"proxy credentials, please\n")
        self.assertEqual(proxy.auths, [None])
        self.assertEqual(self.origin.paths(), [])
        rc, out, err = run("--fail", *args)
        self.assertEqual(rc, 22, err)
        self.assertIn(b"407", err)
        self.curl_agrees(args, body=b"proxy credentials, please\n")
        # wrong credentials: the same
        args = ["--proxy", proxy.url("proxyuser:wrong"), self.origin.url("/hello")]
        self.assertEqual(self.get_ok(*args), b"proxy credentials, please\n")

    def test_keepalive_one_proxy_connection(self):
        # several URLs, two origins: one connection to the proxy carries all
        other = self.serve(Origin("127.0.0.1"))
        urls = [self.origin.url("/hello"), other.url("/hello"), self.origin.url("/echo"),
                other.url("/hello")]
        out = self.get_ok("--proxy", self.proxy.url(), *urls)
        self.assertTrue(out.startswith(b"hello\nhello\n{"), out)
        self.assertEqual(len(self.proxy.seen()), 4)
        self.assertEqual(self.proxy.connections, 1)
        self.assertEqual(len(self.origin.paths()) + len(other.paths()), 4)

    def test_proxy_on_ipv6(self):
        if not have_ipv6():
            self.skipTest("no IPv6 loopback")
        proxy = self.start_proxy("::1")
        args = ["--proxy", proxy.url(), self.origin.url("/hello")]
        self.assertEqual(self.get_ok(*args), b"hello\n")
        self.assertEqual(proxy.seen(), ["GET http://127.0.0.1:%d/hello HTTP/1.1"
                                        % self.origin.port])
        self.curl_agrees(args, body=b"hello\n")

    def test_ipv6_origin_through_proxy(self):
        if not have_ipv6():
            self.skipTest("no IPv6 loopback")
        origin = self.serve(Origin("::1"))
        args = ["--proxy", self.proxy.url(), origin.url("/hello")]
        self.assertEqual(self.get_ok(*args), b"hello\n")
        self.assertEqual(self.proxy.seen(), ["GET http://[::1]:%d/hello HTTP/1.1" % origin.port])
        self.curl_agrees(args, body=b"hello\n")


# --------------------------------------------------------------------------- CONNECT tunnels

class ConnectTest(ProxyTest):
    """https URLs through a CONNECT tunnel, TLS with the origin."""

    def setUp(self):
        super().setUp()
        self.tls = self.tls_origin()

    def test_https_through_tunnel(self):
        url = self.tls.url("/hello", host="localhost")
        args = ["--proxy", self.proxy.url(), "--cacert", cert("ca.pem"), url]
        self.assertEqual(self.get_ok(*args), b"hello\n")
        line = "CONNECT localhost:%d HTTP/1.1" % self.tls.port
        self.assertEqual(self.proxy.seen(), [line])
        self.assertEqual(self.tls.paths(), ["/hello"])
        self.assertEqual(self.tls.errors, [])
        self.curl_agrees(args, body=b"hello\n", proxy=self.proxy, lines=[line])

    def test_https_ip_origin(self):
        url = self.tls.url("/echo")
        out = self.get_ok("--proxy", self.proxy.url(), "--cacert", cert("ca.pem"), url)
        req = json.loads(out)
        self.assertEqual(dict(req["headers"])["Host"], "127.0.0.1:%d" % self.tls.port)
        self.assertEqual(self.proxy.seen(), ["CONNECT 127.0.0.1:%d HTTP/1.1" % self.tls.port])

    def test_https_ipv6_origin(self):
        if not have_ipv6():
            self.skipTest("no IPv6 loopback")
        tls6 = self.tls_origin("::1")
        args = ["--proxy", self.proxy.url(), "--cacert", cert("ca.pem"), tls6.url("/hello")]
        self.assertEqual(self.get_ok(*args), b"hello\n")
        self.assertEqual(self.proxy.seen(), ["CONNECT [::1]:%d HTTP/1.1" % tls6.port])
        self.curl_agrees(args, body=b"hello\n")

    def test_certificate_checked_through_tunnel(self):
        # the tunnel's other end is the origin: its certificate is checked
        # against --cacert and the URL's name
        url = self.tls.url("/hello", host="localhost")
        args = ["--proxy", self.proxy.url(), "--cacert", cert("other-ca.pem"), url]
        self.assert_fails(args, 1, "certificate")
        self.assertEqual(self.proxy.seen(), ["CONNECT localhost:%d HTTP/1.1" % self.tls.port])
        self.assertEqual(self.tls.paths(), [])
        self.curl_agrees(args, body=None)
        # -k: no check
        self.assertEqual(self.get_ok("-k", "--proxy", self.proxy.url(), url), b"hello\n")

    def test_post_through_tunnel(self):
        args = ["--proxy", self.proxy.url(), "--cacert", cert("ca.pem"), "-d", "x=1",
                self.tls.url("/echo", host="localhost")]
        req = json.loads(self.get_ok(*args))
        self.assertEqual((req["method"], req["body"]), ("POST", "x=1"))
        self.assertEqual(len(self.proxy.seen()), 1)

    def test_big_body_through_tunnel(self):
        n = 2000000
        args = ["--proxy", self.proxy.url(), "--cacert", cert("ca.pem"),
                self.tls.url("/big?n=%d" % n, host="localhost")]
        self.assertEqual(self.get_ok(*args), pattern(n))
        self.curl_agrees(args, body=pattern(n))

    def test_tunnel_credentials(self):
        proxy = self.start_proxy(auth=PROXY_AUTH)
        url = self.tls.url("/echo", host="localhost")
        args = ["--proxy", proxy.url(PCRED), "--cacert", cert("ca.pem"), url]
        req = json.loads(self.get_ok(*args))
        self.assertEqual(proxy.seen(), ["CONNECT localhost:%d HTTP/1.1" % self.tls.port])
        self.assertEqual(proxy.auths, [PROXY_AUTH])
        # the proxy's credentials are the proxy's: not sent to the origin
        self.assertNotIn("Proxy-Authorization", dict(req["headers"]))
        if CURL:
            rc, out, err = run_curl(*args)
            self.assertEqual(rc, 0, err)
            self.assertEqual(proxy.auths[-1], PROXY_AUTH)

    def test_tunnel_407(self):
        proxy = self.start_proxy(auth=PROXY_AUTH)
        url = self.tls.url("/hello", host="localhost")
        args = ["--proxy", proxy.url(), "--cacert", cert("ca.pem"), url]
        line = self.assert_fails(args, 1, "407", "proxy")
        self.assertIn("CONNECT localhost:%d" % self.tls.port, line)
        self.assertIn("127.0.0.1:%d" % proxy.port, line)
        self.assertEqual(proxy.seen(), ["CONNECT localhost:%d HTTP/1.1" % self.tls.port])
        self.assertEqual(self.tls.connections, 0)
        self.curl_agrees(args, body=None)
        # wrong credentials: the same
        args = ["--proxy", proxy.url("proxyuser:wrong"), "--cacert", cert("ca.pem"), url]
        self.assert_fails(args, 1, "407", "proxy")
        self.curl_agrees(args, body=None)

    def test_tunnel_refused_by_proxy_without_connect(self):
        proxy = self.start_proxy(connect=False)
        url = self.tls.url("/hello", host="localhost")
        args = ["--proxy", proxy.url(), "--cacert", cert("ca.pem"), url]
        self.assert_fails(args, 1, "405", "proxy")
        self.curl_agrees(args, body=None)

    def test_keepalive_through_tunnel(self):
        urls = [self.tls.url("/hello", host="localhost") for _ in range(3)]
        out = self.get_ok("--proxy", self.proxy.url(), "--cacert", cert("ca.pem"), *urls)
        self.assertEqual(out, b"hello\n" * 3)
        self.assertEqual(self.proxy.seen(), ["CONNECT localhost:%d HTTP/1.1" % self.tls.port])
        self.assertEqual(self.proxy.connections, 1)
        self.assertEqual(self.tls.connections, 1)

    def test_http_and_https_through_one_proxy(self):
        urls = [self.origin.url("/hello"), self.tls.url("/hello", host="localhost")]
        out = self.get_ok("--proxy", self.proxy.url(), "--cacert", cert("ca.pem"), *urls)
        self.assertEqual(out, b"hello\n" * 2)
        self.assertEqual(self.proxy.seen(),
                         ["GET http://127.0.0.1:%d/hello HTTP/1.1" % self.origin.port,
                          "CONNECT localhost:%d HTTP/1.1" % self.tls.port])


# --------------------------------------------------------------------------- the environment

class EnvironmentTest(ProxyTest):
    """http_proxy, https_proxy, HTTPS_PROXY, no_proxy; --proxy and
    --noproxy over them."""

    def test_http_proxy(self):
        env = {"http_proxy": self.proxy.url()}
        args = [self.origin.url("/hello")]
        self.assertEqual(self.get_ok(*args, env=env), b"hello\n")
        line = "GET http://127.0.0.1:%d/hello HTTP/1.1" % self.origin.port
        self.assertEqual(self.proxy.seen(), [line])
        self.curl_agrees(args, env=env, body=b"hello\n", proxy=self.proxy, lines=[line])

    def test_http_proxy_with_credentials(self):
        proxy = self.start_proxy(auth=PROXY_AUTH)
        env = {"http_proxy": proxy.url(PCRED)}
        self.assertEqual(self.get_ok(self.origin.url("/hello"), env=env), b"hello\n")
        self.assertEqual(proxy.auths, [PROXY_AUTH])

    def test_https_proxy(self):
        tls = self.tls_origin()
        for name in ("https_proxy", "HTTPS_PROXY"):
            with self.subTest(name):
                self.proxy.reset()
                env = {name: self.proxy.url()}
                args = ["--cacert", cert("ca.pem"), tls.url("/hello", host="localhost")]
                self.assertEqual(self.get_ok(*args, env=env), b"hello\n")
                line = "CONNECT localhost:%d HTTP/1.1" % tls.port
                self.assertEqual(self.proxy.seen(), [line])
                self.curl_agrees(args, env=env, body=b"hello\n", proxy=self.proxy,
                                 lines=[line])

    def test_per_scheme(self):
        # https_proxy is not for http URLs, http_proxy not for https ones
        tls = self.tls_origin()
        env = {"https_proxy": self.proxy.url()}
        self.assertEqual(self.get_ok(self.origin.url("/hello"), env=env), b"hello\n")
        self.assertEqual(self.proxy.seen(), [])
        env = {"http_proxy": self.proxy.url()}
        args = ["--cacert", cert("ca.pem"), tls.url("/hello", host="localhost")]
        self.assertEqual(self.get_ok(*args, env=env), b"hello\n")
        self.assertEqual(self.proxy.seen(), [])

    def test_lowercase_wins(self):
        other = self.start_proxy()
        tls = self.tls_origin()
        env = {"https_proxy": self.proxy.url(), "HTTPS_PROXY": other.url()}
        args = ["--cacert", cert("ca.pem"), tls.url("/hello", host="localhost")]
        self.assertEqual(self.get_ok(*args, env=env), b"hello\n")
        self.assertEqual(len(self.proxy.seen()), 1)
        self.assertEqual(other.seen(), [])
        self.curl_agrees(args, env=env, body=b"hello\n", proxy=other, lines=[])

    def test_empty_variable_means_none(self):
        env = {"http_proxy": ""}
        self.assertEqual(self.get_ok(self.origin.url("/hello"), env=env), b"hello\n")
        self.assertEqual(self.origin.connections, 1)

    def test_proxy_flag_overrides_environment(self):
        other = self.start_proxy()
        env = {"http_proxy": other.url()}
        args = ["--proxy", self.proxy.url(), self.origin.url("/hello")]
        self.assertEqual(self.get_ok(*args, env=env), b"hello\n")
        self.assertEqual(len(self.proxy.seen()), 1)
        self.assertEqual(other.seen(), [])
        self.curl_agrees(args, env=env, body=b"hello\n", proxy=other, lines=[])

    def test_empty_proxy_flag_overrides_environment(self):
        tls = self.tls_origin()
        env = {"http_proxy": self.proxy.url(), "https_proxy": self.proxy.url()}
        for url in (self.origin.url("/hello"), tls.url("/hello", host="localhost")):
            with self.subTest(url):
                args = ["--proxy", "", "--cacert", cert("ca.pem"), url]
                self.assertEqual(self.get_ok(*args, env=env), b"hello\n")
                self.assertEqual(self.proxy.seen(), [])
                self.curl_agrees(args, env=env, body=b"hello\n", proxy=self.proxy, lines=[])

    def test_no_proxy_variable(self):
        tls = self.tls_origin()
        for no_proxy in ("127.0.0.1, LocalHost", "localhost,127.0.0.1", "*",
                         "127.0.0.0/8, localhost", "example.com, .localhost, 127.0.0.1"):
            for name in ("no_proxy", "NO_PROXY"):
                with self.subTest(no_proxy=no_proxy, name=name):
                    self.proxy.reset()
                    env = {"http_proxy": self.proxy.url(), "https_proxy": self.proxy.url(),
                           name: no_proxy}
                    urls = [self.origin.url("/hello"), tls.url("/hello", host="localhost")]
                    args = ["--cacert", cert("ca.pem"), *urls]
                    self.assertEqual(self.get_ok(*args, env=env), b"hello\n" * 2)
                    self.assertEqual(self.proxy.seen(), [])
                    if "/" not in no_proxy:  # curl 7.88 has CIDR, older ones none
                        self.curl_agrees(args, env=env, body=b"hello\n" * 2,
                                         proxy=self.proxy, lines=[])

    def test_no_proxy_variable_not_matching(self):
        env = {"http_proxy": self.proxy.url(), "no_proxy": "example.com,127.0.0.2,10.0.0.0/8"}
        self.assertEqual(self.get_ok(self.origin.url("/hello"), env=env), b"hello\n")
        self.assertEqual(len(self.proxy.seen()), 1)

    def test_no_proxy_with_proxy_flag(self):
        # the environment's no_proxy holds for --proxy too (curl)
        env = {"no_proxy": "127.0.0.1"}
        args = ["--proxy", self.proxy.url(), self.origin.url("/hello")]
        self.assertEqual(self.get_ok(*args, env=env), b"hello\n")
        self.assertEqual(self.proxy.seen(), [])
        self.curl_agrees(args, env=env, body=b"hello\n", proxy=self.proxy, lines=[])

    def test_noproxy_flag(self):
        tls = self.tls_origin()
        urls = [self.origin.url("/hello"), tls.url("/hello", host="localhost")]
        for lst in ("127.0.0.1,localhost", "*", "localhost, 127.0.0.1 "):
            with self.subTest(lst):
                self.proxy.reset()
                args = ["--proxy", self.proxy.url(), "--noproxy", lst, "--cacert",
                        cert("ca.pem"), *urls]
                self.assertEqual(self.get_ok(*args), b"hello\n" * 2)
                self.assertEqual(self.proxy.seen(), [])
                self.curl_agrees(args, body=b"hello\n" * 2, proxy=self.proxy, lines=[])

    def test_noproxy_flag_overrides_variable(self):
        # --noproxy replaces no_proxy: "" sends everything through the proxy
        env = {"http_proxy": self.proxy.url(), "no_proxy": "127.0.0.1"}
        args = ["--noproxy", "", self.origin.url("/hello")]
        self.assertEqual(self.get_ok(*args, env=env), b"hello\n")
        line = "GET http://127.0.0.1:%d/hello HTTP/1.1" % self.origin.port
        self.assertEqual(self.proxy.seen(), [line])
        self.curl_agrees(args, env=env, body=b"hello\n", proxy=self.proxy, lines=[line])
        # and a list of its own
        self.proxy.reset()
        args = ["--noproxy", "example.com", self.origin.url("/hello")]
        self.assertEqual(self.get_ok(*args, env=env), b"hello\n")
        self.assertEqual(self.proxy.seen(), [line])

    def test_noproxy_domain_forms(self):
        # "localhost" and ".localhost" both cover localhost; a suffix off a
        # label boundary ("calhost") does not
        for lst, direct in (("localhost", True), (".localhost", True), ("calhost", False),
                            ("LOCALHOST", True), ("127.0.0.1", False)):
            with self.subTest(lst):
                self.proxy.reset()
                args = ["--proxy", self.proxy.url(), "--noproxy", lst,
                        self.origin.url("/hello", host="localhost")]
                self.assertEqual(self.get_ok(*args), b"hello\n")
                self.assertEqual(self.proxy.seen() == [], direct, self.proxy.seen())

    def test_uppercase_HTTP_PROXY(self):
        # urllib's rule, which the library follows: HTTP_PROXY is read,
        # but not in a CGI script (REQUEST_METHOD set; httpoxy)
        env = {"HTTP_PROXY": self.proxy.url()}
        self.assertEqual(self.get_ok(self.origin.url("/hello"), env=env), b"hello\n")
        self.assertEqual(len(self.proxy.seen()), 1)
        self.proxy.reset()
        env["REQUEST_METHOD"] = "GET"
        self.assertEqual(self.get_ok(self.origin.url("/hello"), env=env), b"hello\n")
        self.assertEqual(self.proxy.seen(), [])

    # The environment is read as urllib reads it (the issue: "http_proxy,
    # https_proxy, no_proxy from the environment, as urllib reads them"),
    # curl's flags beside it: where the two differ, urllib's rule holds.
    # The uppercase HTTP_PROXY counts (urllib) but in a CGI script
    # (REQUEST_METHOD set, httpoxy); curl never reads it.
    def test_uppercase_HTTP_PROXY_read_as_urllib(self):
        env = {"HTTP_PROXY": self.proxy.url()}
        line = "GET http://127.0.0.1:%d/hello HTTP/1.1" % self.origin.port
        self.assertEqual(self.get_ok(self.origin.url("/hello"), env=env), b"hello\n")
        self.assertEqual(self.proxy.seen(), [line])

    # all_proxy is curl's, not urllib's: no proxy for it.
    def test_all_proxy_ignored_as_urllib(self):
        env = {"all_proxy": self.proxy.url(), "ALL_PROXY": self.proxy.url()}
        self.assertEqual(self.get_ok(self.origin.url("/hello"), env=env), b"hello\n")
        self.assertEqual(self.proxy.seen(), [])

    # A proxy variable that the URL's scheme does not use leaves the URL
    # alone (as curl); the one that it uses fails it, naming the variable.
    def test_unusable_https_proxy_leaves_http_alone(self):
        env = {"https_proxy": "https://127.0.0.1:%d" % free_port()}
        args = [self.origin.url("/hello")]
        self.curl_agrees(args, env=env, body=b"hello\n")
        self.assertEqual(self.get_ok(*args, env=env), b"hello\n")
        rc, out, err = run("-k", "https://localhost:%d/" % self.origin.port, env=env)
        self.assertEqual(rc, 1, err)
        self.assertIn(b"https_proxy", err)


# --------------------------------------------------------------------------- failures

class FailureTest(ProxyTest):

    def test_proxy_not_listening(self):
        port = free_port()
        for url in (self.origin.url("/hello"), "https://localhost:%d/" % self.origin.port):
            with self.subTest(url):
                args = ["--proxy", "http://127.0.0.1:%d" % port, url]
                line = self.assert_fails(args, 1, "connect", "127.0.0.1:%d" % port)
                self.assertIn("refused", line.lower())
                self.curl_agrees(args, body=None)
        self.assertEqual(self.origin.connections, 0)

    def test_proxy_not_listening_from_environment(self):
        env = {"http_proxy": "http://127.0.0.1:%d" % free_port()}
        args = [self.origin.url("/hello")]
        self.assert_fails(args, 1, "connect", env=env)
        self.curl_agrees(args, env=env, body=None)

    def test_default_port_1080(self):
        try:
            with socket.create_connection(("127.0.0.1", 1080), timeout=2):
                self.skipTest("something listens on 127.0.0.1:1080")
        except OSError:
            pass
        args = ["--proxy", "http://127.0.0.1", self.origin.url("/hello")]
        self.assert_fails(args, 1, "connect", "127.0.0.1:1080")
        self.assert_fails(["--proxy", "127.0.0.1", self.origin.url("/hello")], 1,
                          "127.0.0.1:1080")
        self.curl_agrees(args, body=None)
        self.assertEqual(self.origin.connections, 0)

    def test_https_proxy_url_refused(self):
        # an https:// proxy is not supported: a usage error naming it,
        # nothing sent anywhere
        bad = "https://127.0.0.1:%d" % self.proxy.port
        line = self.assert_fails(["--proxy", bad, self.origin.url("/hello")], 2,
                                 "--proxy", "unsupported")
        self.assertIn(bad, line)
        self.assertEqual(self.proxy.connections, 0)
        self.assertEqual(self.origin.connections, 0)

    def test_malformed_proxy_url(self):
        for bad, why in (("http://127.0.0.1:99999", "port"), ("http://:8080", "no host"),
                         ("http://[::1:80", "ipv6")):
            with self.subTest(bad):
                line = self.assert_fails(["--proxy", bad, self.origin.url("/hello")], 2,
                                         "--proxy", why)
                self.assertIn(bad, line)
        self.assertEqual(self.origin.connections, 0)

    def test_malformed_proxy_variable(self):
        # the same in http_proxy: a failure before any request
        env = {"http_proxy": "http://127.0.0.1:99999"}
        rc, out, err = run(self.origin.url("/hello"), env=env)
        self.assertNotEqual(rc, 0, err)
        self.assertEqual(err.decode().count("\n"), 1, err)
        self.assertEqual(self.origin.connections, 0)

    def test_proxy_closes_without_answer(self):
        # a "proxy" that reads the request and closes: a failure, exit 1
        ls = socket.create_server(("127.0.0.1", 0))
        ls.settimeout(TIMEOUT)
        self.addCleanup(ls.close)
        port = ls.getsockname()[1]

        def serve():
            for _ in range(2):
                try:
                    c, _ = ls.accept()
                except OSError:
                    return
                with c:
                    c.settimeout(TIMEOUT)
                    data = b""
                    while b"\r\n\r\n" not in data:
                        more = c.recv(4096)
                        if not more:
                            break
                        data += more
        t = threading.Thread(target=serve, daemon=True)
        t.start()

        def stop():
            try:
                ls.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept
            except OSError:
                pass
            t.join(10)
        self.addCleanup(stop)
        self.assert_fails(["--proxy", "http://127.0.0.1:%d" % port, self.origin.url("/hello")],
                          1)
        line = self.assert_fails(["--proxy", "http://127.0.0.1:%d" % port,
                                  "https://localhost:%d/" % self.origin.port], 1, "proxy")
        self.assertIn("CONNECT localhost:%d" % self.origin.port, line)


if __name__ == "__main__":
    unittest.main()
