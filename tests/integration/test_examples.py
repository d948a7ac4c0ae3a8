"""The seed programs of examples/ against real peers on loopback.

Each program runs as a process ($USOCK_BIN_DIR/examples/NAME) against Python
peers (threads in this process) or against its seed partner built from
examples/. Assertions are on exact output; a success must leave stderr empty
(so under ASan a leak report fails the test), a failure must exit non-zero
with exactly one stderr line. Everything is on 127.0.0.1 or ::1 and bounded
in time; every process started is killed by its PID in cleanup.
"""

import base64
import gzip
import hashlib
import http.client
import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import Peer, Process, have_ipv6, recv_all, recv_until  # noqa: E402
from peers import free_port as closed_port  # noqa: E402

BIN_DIR = os.path.join(os.environ.get("USOCK_BIN_DIR", "build"), "examples")
TIMEOUT = 20  # seconds, for any one program run, peer or wait

PINS = (0, 2, 4, 5, 12, 13, 14, 15)
PINS_HTML = """<!DOCTYPE html>
<html>
    <head> <title>ESP8266 Pins</title> </head>
    <body> <h1>ESP8266 Pins</h1>
        <table border="1"> <tr><th>Pin</th><th>Value</th></tr> %s </table>
    </body>
</html>
"""
PINS_HEADER = b"HTTP/1.0 200 OK\r\nContent-type: text/html\r\n\r\n"

HAVE_IPV6 = have_ipv6()
CURL = shutil.which("curl")


def prog(name):
    return os.path.join(BIN_DIR, name)


def run(name, *args, timeout=TIMEOUT):
    """Runs an example to its end; subprocess kills it if it outlives timeout."""
    return subprocess.run([prog(name), *map(str, args)], capture_output=True,
                          timeout=timeout)


def format_addr(addr):
    """usock_addr_format's text for a Python address tuple."""
    if len(addr) == 4:
        return "[%s]:%d" % addr[:2]
    return "%s:%d" % addr


def pins_page():
    """The page pins_server must serve: the seed's, with this machine's pins."""
    rows = []
    for pin in PINS:
        try:
            with open("/sys/class/gpio/gpio%d/value" % pin) as f:
                value = 1 if f.read(1) == "1" else 0
        except OSError:
            value = 0
        rows.append("<tr><td>Pin(%d)</td><td>%d</td></tr>" % (pin, value))
    return (PINS_HTML % "\n".join(rows)).encode()


class HttpServer:
    """Python's http.server on 127.0.0.1, serving a directory, in a thread."""

    def __init__(self, test, directory):
        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=directory, **kw)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        test.addCleanup(self.close)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class AuthServer:
    """An http.server on 127.0.0.1 whose every page needs Basic credentials
    user:password in realm (the Basic auth seed's www.example.com). It
    answers 200 with a page naming the path, or 401 with a challenge for
    realm; .seen lists (path, Authorization or None) per request."""

    PAGE = b"<p>Welcome, klem. This is %s.</p>\n"

    def __init__(self, test, realm="PDQ Application", user="klem", password="kadidd!ehopper",
                 challenge=None):
        good = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        challenge = challenge or 'Basic realm="%s"' % realm
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                got = self.headers.get("Authorization")
                seen.append((self.path, got))
                if got == good:
                    self.send_response(200)
                    body = AuthServer.PAGE % self.path.encode()
                else:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", challenge)
                    body = b"<h1>401 Unauthorized</h1>\n"
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        class Quiet(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # A client that closes a kept-alive connection with an
                # unread 401 body resets it: no traceback for that.
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        test.addCleanup(self.close)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class Server(Process):
    """One of the C servers, running until it exits or the test ends. Its
    first line on stdout ("listening on ADDR") gives .address and .port."""

    def __init__(self, test, name, *args):
        super().__init__([prog(name), *args], timeout=TIMEOUT)
        test.addCleanup(self.kill)
        self.address = self.listening("out")
        m = re.fullmatch(r"(.+):(\d+)", self.address)
        if not m:
            self.kill()
            raise AssertionError("%s did not start: %r" % (name, self.address))
        self.port = int(m.group(2))

    def readline(self, timeout=TIMEOUT):
        """The next stdout line without its newline, or None at its end."""
        line = self.line("out", timeout)
        return None if line is None else line.rstrip("\n")

    def rest(self):
        """The remaining stdout lines, once the process has ended."""
        lines = []
        while True:
            line = self.readline()
            if line is None:
                return lines
            lines.append(line)

    def stderr(self):
        self.wait()
        return bytes(self.err)

    @property
    def proc(self):
        return self.p


class ExampleTest(unittest.TestCase):
    def assertOk(self, res):
        self.assertEqual(res.stderr, b"", res.stderr)
        self.assertEqual(res.returncode, 0)

    def assertFails(self, res, stderr_regex):
        """Non-zero exit, and stderr one line matching the regex."""
        self.assertNotEqual(res.returncode, 0)
        err = res.stderr.decode("utf-8", "replace")
        self.assertEqual(err.count("\n"), 1, err)
        self.assertTrue(err.endswith("\n"), err)
        self.assertRegex(err, "^" + stderr_regex + "\n$")

    def assertRefused(self, res, name, host="127.0.0.1", port=None):
        where = "[%s]" % host if ":" in host else host
        self.assertFails(res, re.escape("%s: connect %s:%d: Connection refused" %
                                        (name, where, port)))


class TestTelnetClient(ExampleTest):
    def stream(self, host):
        chunks = [b"A long time ago\r\n", b"in a galaxy far, far away", b"...\r\n",
                  bytes(range(256)), b"x" * 70000, b"\r\nTHE END\r\n"]

        def handler(conn):
            for c in chunks:
                conn.sendall(c)
                time.sleep(0.01)

        peer = Peer(self, handler, host)
        res = run("telnet_client", host, peer.port)
        peer.join()
        self.assertOk(res)
        self.assertEqual(res.stdout, b"".join(chunks))

    def test_prints_the_stream_until_eof(self):
        self.stream("127.0.0.1")

    @unittest.skipUnless(HAVE_IPV6, "no IPv6 loopback")
    def test_ipv6(self):
        self.stream("::1")

    def test_empty_stream(self):
        peer = Peer(self, lambda conn: None)
        res = run("telnet_client", "127.0.0.1", peer.port)
        peer.join()
        self.assertOk(res)
        self.assertEqual(res.stdout, b"")

    def test_reset_by_peer(self):
        def handler(conn):
            conn.sendall(b"some data\r\n")
            time.sleep(0.2)
            # SO_LINGER 0: close sends RST instead of FIN.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")

        peer = Peer(self, handler)
        res = run("telnet_client", "127.0.0.1", peer.port)
        peer.join()
        self.assertFails(res, re.escape("telnet_client: recv 127.0.0.1:%d: " % peer.port) +
                         "Connection reset by peer")
        self.assertTrue(b"some data\r\n".startswith(res.stdout))

    def test_refused(self):
        port = closed_port()
        self.assertRefused(run("telnet_client", "127.0.0.1", port), "telnet_client", port=port)

    def test_bad_port(self):
        res = run("telnet_client", "127.0.0.1", "http")
        self.assertFails(res, "telnet_client: bad port: http")
        self.assertEqual(res.returncode, 2)


class TestHttpGet(ExampleTest):
    RESPONSE = (b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" +
                b"<html>" + b"0123456789" * 50 + b"\xe2\x9c\x93</html>\n")

    def raw_peer(self, host="127.0.0.1"):
        """Records the request, answers RESPONSE in small pieces, closes."""
        def handler(conn):
            req = recv_until(conn, b"\r\n\r\n")
            for i in range(0, len(self.RESPONSE), 37):
                conn.sendall(self.RESPONSE[i:i + 37])
            return req
        return Peer(self, handler, host)

    def test_request_is_the_seeds(self):
        peer = self.raw_peer()
        res = run("http_get", "http://127.0.0.1:%d/ks/test.html" % peer.port)
        (req,) = peer.join()
        self.assertOk(res)
        self.assertEqual(req, b"GET /ks/test.html HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n"
                         % peer.port)
        self.assertEqual(res.stdout, self.RESPONSE)

    def test_url_without_path(self):
        peer = self.raw_peer()
        res = run("http_get", "http://localhost:%d" % peer.port)
        (req,) = peer.join()
        self.assertOk(res)
        self.assertEqual(req, b"GET / HTTP/1.0\r\nHost: localhost:%d\r\n\r\n" % peer.port)

    @unittest.skipUnless(HAVE_IPV6, "no IPv6 loopback")
    def test_ipv6_literal(self):
        peer = self.raw_peer("::1")
        res = run("http_get", "http://[::1]:%d/a?b=c" % peer.port)
        (req,) = peer.join()
        self.assertOk(res)
        self.assertEqual(req, b"GET /a?b=c HTTP/1.0\r\nHost: [::1]:%d\r\n\r\n" % peer.port)
        self.assertEqual(res.stdout, self.RESPONSE)

    def test_against_http_server(self):
        with tempfile.TemporaryDirectory() as d:
            page = b"<!DOCTYPE html>\n<p>test page</p>\n" * 20
            with open(os.path.join(d, "test.html"), "wb") as f:
                f.write(page)
            srv = HttpServer(self, d)
            res = run("http_get", "http://127.0.0.1:%d/test.html" % srv.port)
        self.assertOk(res)
        head, _, body = res.stdout.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.0 200 OK\r\n"), head)
        self.assertEqual(body, page)

    def test_bad_url(self):
        for url in ("ftp://x/y", "http://", "http://h:99999/", "http://[::1/"):
            res = run("http_get", url)
            self.assertFails(res, re.escape("http_get: bad URL (want http://host[:port]/path): "
                                            + url))

    def test_refused(self):
        port = closed_port()
        res = run("http_get", "http://127.0.0.1:%d/" % port)
        self.assertRefused(res, "http_get", port=port)


# A page longer than 300 bytes, with what Python's repr of bytes escapes:
# CR LF, both quotes, a backslash, a tab, UTF-8 and control bytes.
NEWS = (b'<!DOCTYPE html>\r\n<html lang="ja">\r\n<head prefix="og: http://ogp.me/ns#">\r\n'
        b"    <meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n"
        b"<title>CNN.co.jp \xe3\x83\x8b\xe3\x83\xa5\xe3\x83\xbc\xe3\x82\xb9</title>\r\n"
        b"<meta name='title' content=\"it's C:\\usock\tnews\x00\x7f\">\r\n" +
        b"<p>filler</p>\r\n" * 40)
GOOD_AUTH = "Basic " + base64.b64encode(b"klem:kadidd!ehopper").decode()


def serve_bytes(test, head, body, count=1):
    """A Peer answering count requests, each with head (bytes, through the
    empty line) and body; returns it. Each result is the request head."""
    def handler(conn):
        req = recv_until(conn, b"\r\n\r\n")
        conn.sendall(head + body)
        return req

    return Peer(test, handler, count=count)


class TestUrlopenRead(ExampleTest):
    def test_prints_the_first_300_bytes_as_python(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "news.html"), "wb") as f:
                f.write(NEWS)
            srv = HttpServer(self, d)
            res = run("urlopen_read", "http://127.0.0.1:%d/news.html" % srv.port)
        self.assertOk(res)
        self.assertGreater(len(NEWS), 300)
        self.assertEqual(res.stdout.decode("ascii"), repr(NEWS[:300]) + "\n")

    def test_same_as_urllib(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "news.html"), "wb") as f:
                f.write(NEWS)
            srv = HttpServer(self, d)
            url = "http://127.0.0.1:%d/news.html" % srv.port
            res = run("urlopen_read", url)
            with urllib.request.urlopen(url, timeout=TIMEOUT) as f:
                want = "%s\n" % f.read(300)
        self.assertOk(res)
        self.assertEqual(res.stdout.decode("ascii"), want)

    def test_short_page_whole(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "test.html"), "wb") as f:
                f.write(b"<p>hi</p>\n")
            srv = HttpServer(self, d)
            res = run("urlopen_read", "http://127.0.0.1:%d/test.html" % srv.port)
        self.assertOk(res)
        self.assertEqual(res.stdout, b"b'<p>hi</p>\\n'\n")

    def test_empty_body(self):
        peer = serve_bytes(self, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", b"")
        res = run("urlopen_read", "http://127.0.0.1:%d/" % peer.port)
        peer.join()
        self.assertOk(res)
        self.assertEqual(res.stdout, b"b''\n")

    def test_chunked_gzip_in_small_pieces(self):
        """read(300) waits for 300 bytes of the decoded body, however the
        server cuts it."""
        packed = gzip.compress(NEWS)
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(packed[i:i + 7]), packed[i:i + 7])
                          for i in range(0, len(packed), 7)) + b"0\r\n\r\n"
        peer = serve_bytes(self, b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n", chunks)
        res = run("urlopen_read", "http://127.0.0.1:%d/news" % peer.port)
        (req,) = peer.join()
        self.assertOk(res)
        self.assertEqual(res.stdout.decode("ascii"), repr(NEWS[:300]) + "\n")
        self.assertTrue(req.startswith(b"GET /news HTTP/1.1\r\n"), req)

    def test_follows_a_redirect(self):
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "dir"))
            with open(os.path.join(d, "dir", "index.html"), "wb") as f:
                f.write(NEWS)
            srv = HttpServer(self, d)
            res = run("urlopen_read", "http://127.0.0.1:%d/dir" % srv.port)  # 301 to /dir/
        self.assertOk(res)
        self.assertEqual(res.stdout.decode("ascii"), repr(NEWS[:300]) + "\n")

    def test_http_error(self):
        with tempfile.TemporaryDirectory() as d:
            srv = HttpServer(self, d)
            url = "http://127.0.0.1:%d/missing.html" % srv.port
            res = run("urlopen_read", url)
        self.assertFails(res, re.escape("urlopen_read: GET %s: 404 File not found" % url))
        self.assertEqual(res.returncode, 22)
        self.assertEqual(res.stdout, b"")

    def test_refused(self):
        port = closed_port()
        res = run("urlopen_read", "http://127.0.0.1:%d/" % port)
        self.assertRefused(res, "urlopen_read", port=port)
        self.assertEqual(res.returncode, 1)

    def test_body_cut_short_after_some_bytes(self):
        """As Python's read(300): the bytes that came; the missing rest
        would be the error of a next read, which the seed does not do."""
        peer = serve_bytes(self, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", b"x" * 100)
        res = run("urlopen_read", "http://127.0.0.1:%d/cut" % peer.port)
        peer.join()
        self.assertOk(res)
        self.assertEqual(res.stdout, b"b'" + b"x" * 100 + b"'\n")

    def test_body_cut_short_before_any_byte(self):
        peer = serve_bytes(self, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", b"")
        url = "http://127.0.0.1:%d/cut" % peer.port
        res = run("urlopen_read", url)
        peer.join()
        self.assertFails(res, re.escape("urlopen_read: read %s: HTTP message truncated" % url))
        self.assertEqual(res.returncode, 1)
        self.assertEqual(res.stdout, b"")

    def test_scheme_not_supported(self):
        res = run("urlopen_read", "ftp://127.0.0.1/x")
        self.assertFails(res, re.escape("urlopen_read: ftp://127.0.0.1/x: Unsupported URL scheme"))
        self.assertEqual(res.returncode, 1)

    def test_usage(self):
        res = run("urlopen_read", "http://a/", "http://b/")
        self.assertFails(res, re.escape("usage: urlopen_read [URL]"))
        self.assertEqual(res.returncode, 2)


class TestBasicAuth(ExampleTest):
    def test_answers_the_challenge(self):
        srv = AuthServer(self)
        res = run("basic_auth", srv.url + "/", srv.url + "/login.html")
        self.assertOk(res)
        self.assertEqual(res.stdout, b"200 OK\n" + AuthServer.PAGE % b"/login.html")
        self.assertEqual(srv.seen, [("/login.html", None), ("/login.html", GOOD_AUTH)])

    def test_uri_as_the_seed_writes_it(self):
        """A uri naming a script covers that path only, as urllib's is_suburi."""
        srv = AuthServer(self)
        res = run("basic_auth", srv.url + "/site-updates.py", srv.url + "/site-updates.py")
        self.assertOk(res)
        self.assertEqual(res.stdout, b"200 OK\n" + AuthServer.PAGE % b"/site-updates.py")
        self.assertEqual(srv.seen, [("/site-updates.py", None), ("/site-updates.py", GOOD_AUTH)])

    def test_host_port_uri(self):
        srv = AuthServer(self)
        res = run("basic_auth", "127.0.0.1:%d" % srv.port, srv.url + "/private/a?b=1")
        self.assertOk(res)
        self.assertEqual(res.stdout, b"200 OK\n" + AuthServer.PAGE % b"/private/a?b=1")

    def test_wrong_password(self):
        srv = AuthServer(self, password="something else")
        url = srv.url + "/login.html"
        res = run("basic_auth", srv.url + "/", url)
        self.assertFails(res, re.escape("basic_auth: GET %s: 401 Unauthorized" % url))
        self.assertEqual(res.returncode, 22)
        self.assertEqual(res.stdout, b"")
        # klem's credentials went once, and were not sent again and again
        self.assertEqual(srv.seen, [("/login.html", None), ("/login.html", GOOD_AUTH)])

    def test_other_realm(self):
        srv = AuthServer(self, realm="Other Application")
        url = srv.url + "/login.html"
        res = run("basic_auth", srv.url + "/", url)
        self.assertFails(res, re.escape("basic_auth: GET %s: 401 Unauthorized" % url))
        self.assertEqual(res.returncode, 22)
        self.assertEqual(srv.seen, [("/login.html", None)])

    def test_uri_does_not_cover_the_url(self):
        """The seed's own pair: the uri names another place than the URL."""
        srv = AuthServer(self)
        url = srv.url + "/login.html"
        res = run("basic_auth", srv.url + "/site-updates.py", url)
        self.assertFails(res, re.escape("basic_auth: GET %s: 401 Unauthorized" % url))
        self.assertEqual(res.returncode, 22)
        self.assertEqual(srv.seen, [("/login.html", None)])

    def test_no_auth_needed(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "login.html"), "wb") as f:
                f.write(b"<p>open to all</p>\n")
            srv = HttpServer(self, d)
            res = run("basic_auth", "http://127.0.0.1:%d/" % srv.port,
                      "http://127.0.0.1:%d/login.html" % srv.port)
        self.assertOk(res)
        self.assertEqual(res.stdout, b"200 OK\n<p>open to all</p>\n")

    def test_refused(self):
        port = closed_port()
        res = run("basic_auth", "http://127.0.0.1:%d/" % port, "http://127.0.0.1:%d/x" % port)
        self.assertRefused(res, "basic_auth", port=port)
        self.assertEqual(res.returncode, 1)

    def test_bad_uri(self):
        res = run("basic_auth", "http://", "http://127.0.0.1:%d/" % closed_port())
        self.assertFails(res, re.escape("basic_auth: add_password http://: ") + ".+")
        self.assertEqual(res.returncode, 2)

    def test_usage(self):
        res = run("basic_auth", "a", "b", "c")
        self.assertFails(res, re.escape("usage: basic_auth [uri [URL]]"))
        self.assertEqual(res.returncode, 2)


class TestPinsServer(ExampleTest):
    def test_serves_the_pin_table(self):
        srv = Server(self, "pins_server", "127.0.0.1", 0, 2)
        self.assertEqual(srv.address, "127.0.0.1:%d" % srv.port)
        want = PINS_HEADER + pins_page()
        ports = []

        # A request in pieces, with a header line longer than any buffer.
        with socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT) as c:
            ports.append(c.getsockname()[1])
            for piece in (b"GET / HTTP/1.1\r\n", b"Host: x\r\nX-Long: " + b"a" * 5000,
                          b"\r\n", b"User-Agent: test\r\n", b"\r\n"):
                c.sendall(piece)
                time.sleep(0.02)
            self.assertEqual(recv_all(c), want)
        # A client that ends its request without the empty line (EOF).
        with socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT) as c:
            ports.append(c.getsockname()[1])
            c.sendall(b"GET / HTTP/1.0\r\n")
            c.shutdown(socket.SHUT_WR)
            self.assertEqual(recv_all(c), want)

        self.assertEqual(srv.wait(), 0)
        self.assertEqual(srv.rest(), ["client connected from 127.0.0.1:%d" % p for p in ports])
        self.assertEqual(srv.stderr(), b"")

    def test_page_has_eight_rows(self):
        page = pins_page().decode()
        self.assertEqual(len(re.findall(r"<tr><td>Pin\(\d+\)</td><td>[01]</td></tr>", page)), 8)

    @unittest.skipUnless(HAVE_IPV6, "no IPv6 loopback")
    def test_ipv6(self):
        srv = Server(self, "pins_server", "::1", 0, 1)
        with socket.create_connection(("::1", srv.port), timeout=TIMEOUT) as c:
            c.sendall(b"GET / HTTP/1.0\r\n\r\n")
            self.assertEqual(recv_all(c), PINS_HEADER + pins_page())
            port = c.getsockname()[1]
        self.assertEqual(srv.wait(), 0)
        self.assertEqual(srv.rest(), ["client connected from [::1]:%d" % port])

    def test_port_in_use(self):
        with socket.create_server(("127.0.0.1", 0)) as busy:
            port = busy.getsockname()[1]
            res = run("pins_server", "127.0.0.1", port, 1)
        self.assertFails(res, re.escape("pins_server: bind 127.0.0.1:%d: " % port) +
                         "Address already in use")

    def test_bad_count(self):
        res = run("pins_server", "127.0.0.1", 0, 0)
        self.assertFails(res, "pins_server: bad count: 0")


class TestPinsHttpd(ExampleTest):
    """pins_httpd: pins_server's page, served by the httpd layer until
    SIGINT/SIGTERM. stdout: "listening on ADDR", then an access-log line
    per request."""

    LOG = r'%s - - \[[^]]+\] "%s %s HTTP/1\.[01]" 200 %s'

    def start(self, host="127.0.0.1"):
        srv = Server(self, "pins_httpd", host, 0)
        self.addCleanup(self.stop, srv)
        return srv

    def stop(self, srv, sig=signal.SIGTERM):
        """Signals srv by its PID (if still running); its exit status."""
        if srv.proc.poll() is None:
            os.kill(srv.proc.pid, sig)
        return srv.wait()

    def assertStopsCleanly(self, srv, requests, sig=signal.SIGTERM, host="127.0.0.1"):
        """sig gives exit 0, empty stderr, and one log line per request
        ((method, target) pairs) after the listening line."""
        self.assertEqual(self.stop(srv, sig), 0)
        self.assertEqual(srv.stderr(), b"")
        lines = srv.rest()
        self.assertEqual(len(lines), len(requests), lines)
        size = str(len(pins_page()))
        for line, (method, target) in zip(sorted(lines), sorted(requests)):
            self.assertRegex(line, "^" + self.LOG % (re.escape(host), method, re.escape(target),
                                                     size if method == "GET" else r"\d+") + "$")

    def test_page_keep_alive_and_head(self):
        srv = self.start()
        self.assertEqual(srv.address, "127.0.0.1:%d" % srv.port)
        page = pins_page()
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=TIMEOUT)
        self.addCleanup(c.close)
        socks = []
        for target in ("/", "/any/path?x=1"):  # every path is the page
            c.request("GET", target)
            r = c.getresponse()
            self.assertEqual((r.status, r.reason, r.version), (200, "OK", 11))
            self.assertEqual(r.getheader("Content-Type"), "text/html")
            self.assertEqual(r.getheader("Content-Length"), str(len(page)))
            self.assertEqual(r.read(), page)
            self.assertFalse(r.will_close)
            socks.append(c.sock)
        # HEAD on the same connection: the head, no body.
        c.request("HEAD", "/")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Length"), str(len(page)))
        self.assertEqual(r.read(), b"")
        socks.append(c.sock)
        self.assertIsNotNone(socks[0])
        self.assertTrue(all(s is socks[0] for s in socks), "not one kept-alive connection")
        c.close()
        self.assertStopsCleanly(srv, [("GET", "/"), ("GET", "/any/path?x=1"), ("HEAD", "/")])

    def test_urllib_and_http10(self):
        srv = self.start()
        with urllib.request.urlopen("http://127.0.0.1:%d/" % srv.port, timeout=TIMEOUT) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["Content-Type"], "text/html")
            self.assertEqual(r.read(), pins_page())
        # The seed's own kind of client: HTTP/1.0, the server closes after.
        # No /_status page either: that path is the pins page too.
        with socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT) as c:
            c.sendall(b"GET /_status HTTP/1.0\r\n\r\n")
            head, _, body = recv_all(c).partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.0 200 OK\r\n"), head)
        self.assertIn(b"\r\nContent-Type: text/html\r\n", head + b"\r\n")
        self.assertEqual(body, pins_page())
        self.assertStopsCleanly(srv, [("GET", "/"), ("GET", "/_status")])

    @unittest.skipUnless(CURL, "curl not installed")
    def test_curl(self):
        srv = self.start()
        url = "http://127.0.0.1:%d/" % srv.port
        res = subprocess.run([CURL, "-sS", "-i", "--max-time", str(TIMEOUT), url],
                             capture_output=True, timeout=TIMEOUT * 2)
        self.assertEqual(res.returncode, 0, res.stderr)
        head, _, body = res.stdout.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"), head)
        self.assertIn(b"\r\nContent-Type: text/html\r\n", head + b"\r\n")
        self.assertEqual(body, pins_page())
        self.assertEqual(len(re.findall(rb"<tr><td>Pin\(\d+\)</td><td>[01]</td></tr>", body)), 8)
        # Two URLs in one curl: one connection, kept alive.
        res = subprocess.run([CURL, "-sS", "-v", "--max-time", str(TIMEOUT), url, url + "x"],
                             capture_output=True, timeout=TIMEOUT * 2)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout, pins_page() * 2)
        self.assertIn(b"Re-using existing connection",
                      res.stderr.replace(b"Reusing", b"Re-using"))
        self.assertStopsCleanly(srv, [("GET", "/"), ("GET", "/"), ("GET", "/x")])

    @unittest.skipUnless(HAVE_IPV6, "no IPv6 loopback")
    def test_ipv6(self):
        srv = self.start("::1")
        self.assertEqual(srv.address, "[::1]:%d" % srv.port)
        c = http.client.HTTPConnection("::1", srv.port, timeout=TIMEOUT)
        self.addCleanup(c.close)
        c.request("GET", "/")
        self.assertEqual(c.getresponse().read(), pins_page())
        c.close()
        self.assertStopsCleanly(srv, [("GET", "/")], host="::1")

    def test_stop_closes_idle_keep_alive(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            srv = self.start()
            with socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT) as c:
                c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                head = recv_until(c, b"\r\n\r\n")
                self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"), head)
                length = int(re.search(rb"\r\nContent-Length: (\d+)\r\n", head).group(1))
                body = head.partition(b"\r\n\r\n")[2]
                while len(body) < length:
                    body += c.recv(65536)
                self.assertEqual(body, pins_page())
                # The connection stays open, idle; the signal closes it.
                start = time.monotonic()
                self.assertEqual(self.stop(srv, sig), 0, sig)
                self.assertLess(time.monotonic() - start, 5)
                self.assertEqual(recv_all(c), b"")
            self.assertEqual(srv.stderr(), b"")
            self.assertEqual(len(srv.rest()), 1)

    def test_port_in_use(self):
        with socket.create_server(("127.0.0.1", 0)) as busy:
            port = busy.getsockname()[1]
            res = run("pins_httpd", "127.0.0.1", port)
        self.assertFails(res, re.escape("pins_httpd: bind 127.0.0.1:%d: " % port) +
                         "Address already in use")

    def test_bad_arguments(self):
        res = run("pins_httpd", "127.0.0.1", "http")
        self.assertFails(res, "pins_httpd: bad port: http")
        self.assertEqual(res.returncode, 2)
        res = run("pins_httpd", "127.0.0.1", 0, 1)
        self.assertFails(res, re.escape("usage: pins_httpd [host [port]]"))
        self.assertEqual(res.returncode, 2)


class TestEchoServer(ExampleTest):
    def echo(self, host):
        srv = Server(self, "echo_server", host, 0)
        big = os.urandom(1 << 20)
        got = []
        with socket.create_connection((host, srv.port), timeout=TIMEOUT) as c:
            me = c.getsockname()
            # Read while writing: the echo of 1 MiB does not fit in buffers.
            reader = threading.Thread(target=lambda: got.append(recv_all(c)), daemon=True)
            reader.start()
            c.sendall(b"Hello, world")
            c.sendall(big)
            c.shutdown(socket.SHUT_WR)
            reader.join(TIMEOUT)
        self.assertEqual(got, [b"Hello, world" + big])
        self.assertEqual(srv.wait(), 0)
        self.assertEqual(srv.rest(), ["Connected by " + format_addr(me)])
        self.assertEqual(srv.stderr(), b"")

    def test_echoes_until_eof(self):
        self.echo("127.0.0.1")

    @unittest.skipUnless(HAVE_IPV6, "no IPv6 loopback")
    def test_ipv6(self):
        self.echo("::1")

    def test_empty_host_is_ipv4_any(self):
        srv = Server(self, "echo_server", "", 0)
        self.assertEqual(srv.address, "0.0.0.0:%d" % srv.port)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT):
            pass
        self.assertEqual(srv.wait(), 0)

    def test_reset_by_client(self):
        srv = Server(self, "echo_server", "127.0.0.1", 0)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT) as c:
            c.sendall(b"x")
            c.recv(1)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        self.assertNotEqual(srv.wait(), 0)
        err = srv.stderr().decode()
        self.assertRegex(err, r"^echo_server: recv 127\.0\.0\.1:\d+: Connection reset by peer\n$")


class TestEchoClient(ExampleTest):
    def reply_with(self, answer):
        def handler(conn):
            got = recv_until(conn, b"world")
            conn.sendall(answer)
            return got
        return Peer(self, handler)

    def test_against_python_echo(self):
        peer = self.reply_with(b"Hello, world")
        res = run("echo_client", "127.0.0.1", peer.port)
        self.assertEqual(peer.join(), [b"Hello, world"])
        self.assertOk(res)
        self.assertEqual(res.stdout, b"Received b'Hello, world'\n")

    def test_prints_python_repr(self):
        for answer in (b"it's", b'say "hi"', b"both ' and \"", b"\x00\x1f\x7f\x80\xff",
                       b"tab\tnl\ncr\rbs\\", b""):
            peer = self.reply_with(answer)
            res = run("echo_client", "127.0.0.1", peer.port)
            peer.join()
            self.assertOk(res)
            self.assertEqual(res.stdout.decode(), "Received %r\n" % answer)

    def test_against_echo_server(self):
        srv = Server(self, "echo_server", "127.0.0.1", 0)
        res = run("echo_client", "127.0.0.1", srv.port)
        self.assertOk(res)
        self.assertEqual(res.stdout, b"Received b'Hello, world'\n")
        self.assertEqual(srv.wait(), 0)
        self.assertEqual(len(srv.rest()), 1)

    def test_refused(self):
        port = closed_port()
        self.assertRefused(run("echo_client", "127.0.0.1", port), "echo_client", port=port)

    @unittest.skipUnless(HAVE_IPV6, "no IPv6 loopback")
    def test_refused_ipv6(self):
        port = closed_port("::1")
        self.assertRefused(run("echo_client", "::1", port), "echo_client", "::1", port)


class TestTcpUpperServer(ExampleTest):
    def test_two_clients(self):
        srv = Server(self, "tcp_upper_server", "127.0.0.1", 0, 2)
        lines = []
        for send, want, shown in ((b"hello world\n", b"HELLO WORLD", "b'hello world'"),
                                  (b" \t it's MiXed \r\n", b"IT'S MIXED", "b\"it's MiXed\"")):
            with socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT) as c:
                c.sendall(send)
                self.assertEqual(recv_all(c), want)
                lines += ["127.0.0.1:%d wrote:" % c.getsockname()[1], shown]
        self.assertEqual(srv.wait(), 0)
        self.assertEqual(srv.rest(), lines)
        self.assertEqual(srv.stderr(), b"")

    def test_client_sends_nothing(self):
        srv = Server(self, "tcp_upper_server", "127.0.0.1", 0, 1)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT) as c:
            c.shutdown(socket.SHUT_WR)
            self.assertEqual(recv_all(c), b"")
        self.assertEqual(srv.wait(), 0)
        self.assertEqual(srv.rest()[1:], ["b''"])


class TestTcpUpperClient(ExampleTest):
    def upper_peer(self, host="127.0.0.1"):
        def handler(conn):
            data = recv_until(conn, b"\n")
            conn.sendall(data.strip().upper())
            return data
        return Peer(self, handler, host)

    def test_against_python_server(self):
        peer = self.upper_peer()
        res = run("tcp_upper_client", "-H", "127.0.0.1", "-p", peer.port, "hello", "world")
        self.assertEqual(peer.join(), [b"hello world\n"])
        self.assertOk(res)
        self.assertEqual(res.stdout, b"Sent:     hello world\nReceived: HELLO WORLD\n")

    def test_no_words(self):
        peer = self.upper_peer()
        res = run("tcp_upper_client", "-p", peer.port, "-H", "127.0.0.1")
        self.assertEqual(peer.join(), [b"\n"])
        self.assertOk(res)
        self.assertEqual(res.stdout, b"Sent:     \nReceived: \n")

    def test_dash_dash(self):
        peer = self.upper_peer()
        res = run("tcp_upper_client", "-H", "127.0.0.1", "-p", peer.port, "--", "-x", "y")
        self.assertEqual(peer.join(), [b"-x y\n"])
        self.assertOk(res)
        self.assertEqual(res.stdout, b"Sent:     -x y\nReceived: -X Y\n")

    @unittest.skipUnless(HAVE_IPV6, "no IPv6 loopback")
    def test_against_c_server_ipv6(self):
        srv = Server(self, "tcp_upper_server", "::1", 0, 1)
        res = run("tcp_upper_client", "-H", "::1", "-p", srv.port, "over", "IPv6")
        self.assertOk(res)
        self.assertEqual(res.stdout, b"Sent:     over IPv6\nReceived: OVER IPV6\n")
        self.assertEqual(srv.wait(), 0)
        self.assertEqual(srv.rest()[1], "b'over IPv6'")

    def test_refused(self):
        port = closed_port()
        res = run("tcp_upper_client", "-H", "127.0.0.1", "-p", port, "hi")
        self.assertRefused(res, "tcp_upper_client", port=port)

    def test_usage(self):
        res = run("tcp_upper_client", "-x", "hi")
        self.assertFails(res, re.escape("usage: tcp_upper_client [-H host] [-p port] "
                                        "[--] [word ...]"))
        self.assertEqual(res.returncode, 2)


class TestUdpUpperServer(ExampleTest):
    def test_answers_datagrams(self):
        srv = Server(self, "udp_upper_server", "127.0.0.1", 0, 2)
        lines = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(TIMEOUT)
            c.bind(("127.0.0.1", 0))
            for send, want, shown in ((b"hello world\n", b"HELLO WORLD", "b'hello world'"),
                                      (b"\x00bin\xff\n", b"\x00BIN\xff", "b'\\x00bin\\xff'")):
                c.sendto(send, ("127.0.0.1", srv.port))
                data, addr = c.recvfrom(2048)
                self.assertEqual(data, want)
                self.assertEqual(addr, ("127.0.0.1", srv.port))
                lines += ["127.0.0.1:%d wrote:" % c.getsockname()[1], shown]
        self.assertEqual(srv.wait(), 0)
        self.assertEqual(srv.rest(), lines)
        self.assertEqual(srv.stderr(), b"")


class TestUdpUpperClient(ExampleTest):
    def test_against_python_server(self):
        def handler(sock):
            data, addr = sock.recvfrom(2048)
            sock.sendto(data.strip().upper(), addr)
            return data
        peer = Peer(self, handler, udp=True)
        res = run("udp_upper_client", "-H", "127.0.0.1", "-p", peer.port, "hello", "world")
        self.assertEqual(peer.join(), [b"hello world\n"])
        self.assertOk(res)
        self.assertEqual(res.stdout, b"Sent:     hello world\nReceived: HELLO WORLD\n")

    def test_against_c_server(self):
        host = "::1" if HAVE_IPV6 else "127.0.0.1"
        srv = Server(self, "udp_upper_server", host, 0, 1)
        res = run("udp_upper_client", "-H", host, "-p", srv.port, "a", "b", "c")
        self.assertOk(res)
        self.assertEqual(res.stdout, b"Sent:     a b c\nReceived: A B C\n")
        self.assertEqual(srv.wait(), 0)
        self.assertEqual(srv.rest()[1], "b'a b c'")

    def test_no_server_times_out(self):
        port = closed_port()
        start = time.monotonic()
        res = run("udp_upper_client", "-H", "127.0.0.1", "-p", port, "anyone")
        took = time.monotonic() - start
        self.assertFails(res, re.escape("udp_upper_client: recv 127.0.0.1:%d: " % port) +
                         "Connection (timed out|refused)")
        self.assertLess(took, 15)


class TestImageDownload(ExampleTest):
    def test_saves_the_body(self):
        image = os.urandom(300000) + b"\r\n\r\n" + os.urandom(1234)
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "assets"))
            with open(os.path.join(d, "assets", "Alice.bmp"), "wb") as f:
                f.write(image)
            srv = HttpServer(self, d)
            out = os.path.join(d, "saved.bmp")
            res = run("image_download", "127.0.0.1", srv.port, "/assets/Alice.bmp", out)
            self.assertOk(res)
            with open(out, "rb") as f:
                self.assertEqual(f.read(), image)
        lines = res.stdout.decode().splitlines()
        self.assertEqual(lines[-3:], [str(len(image)), "save to " + out, "save ok"])
        rcv = [int(line[5:]) for line in lines[:-4]]
        self.assertTrue(all(line.startswith("rcv: ") for line in lines[:-4]))
        self.assertTrue(all(0 < n <= 4096 for n in rcv))
        self.assertEqual(sum(rcv), int(lines[-4]))
        self.assertGreater(int(lines[-4]), len(image))

    def test_request_and_http11_answer(self):
        body = b"BM" + bytes(range(256)) * 40

        def handler(conn):
            req = recv_until(conn, b"\r\n\r\n")
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % len(body) + body)
            return req

        peer = Peer(self, handler)
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "a.bmp")
            res = run("image_download", "127.0.0.1", peer.port, "/MAIX/a.bmp", out)
            (req,) = peer.join()
            self.assertOk(res)
            with open(out, "rb") as f:
                self.assertEqual(f.read(), body)
        self.assertEqual(req, b"GET /MAIX/a.bmp HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                         b"cache-control: no-cache\r\nConnection: close\r\n\r\n" % peer.port)

    def test_not_found(self):
        with tempfile.TemporaryDirectory() as d:
            srv = HttpServer(self, d)
            out = os.path.join(d, "saved.bmp")
            res = run("image_download", "127.0.0.1", srv.port, "/missing.bmp", out)
            self.assertFalse(os.path.exists(out))
        self.assertFails(res, "image_download: server answered: HTTP/1.0 404 File not found")

    def test_times_out_after_5s(self):
        release = threading.Event()

        def handler(conn):
            recv_until(conn, b"\r\n\r\n")
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
            release.wait(TIMEOUT)  # and never close

        peer = Peer(self, handler)
        self.addCleanup(release.set)
        with tempfile.TemporaryDirectory() as d:
            start = time.monotonic()
            res = run("image_download", "127.0.0.1", peer.port, "/x", os.path.join(d, "x"))
            took = time.monotonic() - start
        release.set()
        self.assertFails(res, re.escape("image_download: recv 127.0.0.1:%d: " % peer.port) +
                         "Connection timed out")
        self.assertGreater(took, 4.5)
        self.assertLess(took, 15)
        self.assertTrue(res.stdout.startswith(b"rcv: "))

    def test_refused(self):
        port = closed_port()
        with tempfile.TemporaryDirectory() as d:
            res = run("image_download", "127.0.0.1", port, "/x", os.path.join(d, "x"))
        self.assertRefused(res, "image_download", port=port)


class TestImageUrlopen(ExampleTest):
    def check_saved(self, res, out, data):
        self.assertOk(res)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), data)
        lines = res.stdout.decode().splitlines()
        pieces = [4096] * (len(data) // 4096) + ([len(data) % 4096] if len(data) % 4096 else [])
        self.assertEqual(lines, ["save to " + out] + ["rcv: %d" % n for n in pieces] +
                         [str(len(data)), "save ok"])

    def test_saves_the_body(self):
        image = os.urandom(300000) + b"\r\n\r\n" + os.urandom(1234)
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "assets"))
            with open(os.path.join(d, "assets", "Alice.bmp"), "wb") as f:
                f.write(image)
            srv = HttpServer(self, d)
            out = os.path.join(d, "saved.bmp")
            res = run("image_urlopen", "http://127.0.0.1:%d/assets/Alice.bmp" % srv.port, out)
            self.check_saved(res, out, image)

    def test_request_and_chunked_answer(self):
        body = b"BM" + bytes(range(256)) * 40
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000])
                          for i in range(0, len(body), 1000)) + b"0\r\n\r\n"
        peer = serve_bytes(self, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", chunks)
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "a.bmp")
            res = run("image_urlopen", "http://127.0.0.1:%d/MAIX/a.bmp" % peer.port, out)
            (req,) = peer.join()
            self.check_saved(res, out, body)
        head = req.decode("latin-1").split("\r\n")
        self.assertEqual(head[0], "GET /MAIX/a.bmp HTTP/1.1")
        fields = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip()
                  for line in head[1:] if line}
        self.assertEqual(fields["host"], "127.0.0.1:%d" % peer.port)
        self.assertEqual(fields["cache-control"], "no-cache")

    def test_empty_body(self):
        peer = serve_bytes(self, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", b"")
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "empty.bmp")
            res = run("image_urlopen", "http://127.0.0.1:%d/e" % peer.port, out)
            peer.join()
            self.check_saved(res, out, b"")

    def test_not_found(self):
        with tempfile.TemporaryDirectory() as d:
            srv = HttpServer(self, d)
            out = os.path.join(d, "saved.bmp")
            url = "http://127.0.0.1:%d/missing.bmp" % srv.port
            res = run("image_urlopen", url, out)
            self.assertFalse(os.path.exists(out))
        self.assertFails(res, re.escape("image_urlopen: GET %s: 404 File not found" % url))
        self.assertEqual(res.returncode, 22)
        self.assertEqual(res.stdout, b"")

    def test_times_out_after_5s(self):
        release = threading.Event()

        def handler(conn):
            recv_until(conn, b"\r\n\r\n")
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000)
            release.wait(TIMEOUT)  # and never close

        peer = Peer(self, handler)
        self.addCleanup(release.set)
        url = "http://127.0.0.1:%d/x" % peer.port
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "x")
            start = time.monotonic()
            res = run("image_urlopen", url, out)
            took = time.monotonic() - start
            self.assertFalse(os.path.exists(out))  # no partial image
        release.set()
        self.assertFails(res, re.escape("image_urlopen: read %s: Connection timed out" % url))
        self.assertEqual(res.returncode, 1)
        self.assertGreater(took, 4.5)
        self.assertLess(took, 15)
        self.assertEqual(res.stdout.decode().splitlines()[:2], ["save to " + out, "rcv: 4096"])

    def test_cut_short(self):
        peer = serve_bytes(self, b"HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n",
                           os.urandom(10000))
        url = "http://127.0.0.1:%d/cut.bmp" % peer.port
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "cut.bmp")
            res = run("image_urlopen", url, out)
            peer.join()
            self.assertFalse(os.path.exists(out))
        self.assertFails(res, re.escape("image_urlopen: read %s: HTTP message truncated" % url))
        self.assertEqual(res.returncode, 1)

    def test_unwritable_file(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "a.bmp"), "wb") as f:
                f.write(b"BM")
            srv = HttpServer(self, d)
            out = os.path.join(d, "no", "such", "dir.bmp")
            res = run("image_urlopen", "http://127.0.0.1:%d/a.bmp" % srv.port, out)
        self.assertFails(res, re.escape("image_urlopen: open %s: No such file or directory" % out))
        self.assertEqual(res.returncode, 1)

    def test_refused(self):
        port = closed_port()
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "x")
            res = run("image_urlopen", "http://127.0.0.1:%d/x" % port, out)
            self.assertFalse(os.path.exists(out))
        self.assertRefused(res, "image_urlopen", port=port)
        self.assertEqual(res.returncode, 1)

    def test_usage(self):
        res = run("image_urlopen", "http://a/", "f", "extra")
        self.assertFails(res, re.escape("usage: image_urlopen [URL [file]]"))
        self.assertEqual(res.returncode, 2)


class TestChunkedUpload(ExampleTest):
    def upload(self, data, slow=False):
        def handler(conn):
            if slow:  # let the sender fill every buffer and wait
                time.sleep(1)
            return recv_all(conn)

        peer = Peer(self, handler)
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            res = run("chunked_upload", "127.0.0.1", peer.port, f.name)
        (got,) = peer.join()
        self.assertOk(res)
        self.assertEqual(res.stdout, b"sent %d bytes\n" % len(data))
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(data).hexdigest())
        self.assertEqual(len(got), len(data))

    def test_sends_the_whole_file(self):
        self.upload(os.urandom((1 << 20) + 123))

    def test_slow_receiver_loses_nothing(self):
        self.upload(os.urandom(8 << 20), slow=True)

    def test_empty_file(self):
        self.upload(b"")

    def test_missing_file(self):
        res = run("chunked_upload", "127.0.0.1", closed_port(), "/nonexistent/Alice.bmp")
        self.assertFails(res, "chunked_upload: open /nonexistent/Alice.bmp: "
                              "No such file or directory")

    def test_refused(self):
        port = closed_port()
        with tempfile.NamedTemporaryFile() as f:
            res = run("chunked_upload", "127.0.0.1", port, f.name)
        self.assertRefused(res, "chunked_upload", port=port)


if __name__ == "__main__":
    unittest.main(verbosity=2)
