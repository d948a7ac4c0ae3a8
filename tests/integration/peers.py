"""What the integration tests share: the programs under test (paths, the
environment without proxies, `usock get` and curl run to their end),
background processes, free ports, Python peers (TCP and UDP servers, HTTP
servers plain or TLS, with or without the test handlers) on loopback,
certificates made with the openssl command, and nginx.

Imported by the test_*.py beside it, which ctest runs as
`python3 -u tests/integration/test_x.py`: the script's own directory is on
sys.path, so `import peers` finds this file. Named without the test_ prefix
so that tests/CMakeLists.txt's test_*.py glob leaves it out.

Everything is on loopback (127.0.0.1, ::1) or on Unix sockets in a temporary
directory; every blocking call is bounded by TIMEOUT; every process started
is killed by its PID.
"""

import base64
import hashlib
import http.server
import json
import os
import queue
import re
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

TIMEOUT = 60  # bound on any one wait of the helpers below

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("USOCK_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BIN_DIR = os.environ.get("USOCK_BIN_DIR", os.path.join(SOURCE_DIR, "build"))
USOCK = os.path.join(BIN_DIR, "tools", "usock")  # ctest sets USOCK_BIN_DIR
CURL = shutil.which("curl")  # None: the parts beside curl skip
OPENSSL = shutil.which("openssl")  # None: the certificates cannot be made

# the proxy variables the clients must not see: they would take the loopback
# requests elsewhere (curl and usock read each in either case)
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def have_ipv6():
    """True when ::1 can be bound here."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host="127.0.0.1", kind=socket.SOCK_STREAM):
    """A port on host that nothing listens on (bound, then released), so a
    connection to it is refused."""
    with socket.socket(family_of(host), kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def recv_all(sock):
    """Everything until EOF."""
    chunks = []
    while True:
        b = sock.recv(65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def recv_until(sock, marker):
    """Reads until marker has arrived (or EOF); returns all that was read."""
    data = b""
    while marker not in data:
        more = sock.recv(4096)
        if not more:
            break
        data += more
    return data


def env_without_proxies(*more):
    """This process's environment without PROXY_VARS and the (lower-case)
    names in more, in any case: for clients that must reach the loopback
    peers directly."""
    drop = set(PROXY_VARS) | set(more)
    return {k: v for k, v in os.environ.items() if k.lower() not in drop}


def sha(data):
    return hashlib.sha256(data).hexdigest()


def pattern(n):
    """n bytes of a deterministic, compressible text."""
    text = b"".join(b"%07d the quick brown fox jumps over the lazy dog\n" % i
                    for i in range(n // 52 + 1))  # 52-byte lines
    assert len(text) >= n
    return text[:n]


# --------------------------------------------------------------- programs run to their end

def capture(argv, timeout=TIMEOUT, cwd=None, env=None, stdin=subprocess.DEVNULL):
    """argv (each item str()ed) run to its end with its output captured:
    (status, stdout bytes, stderr bytes). env is the whole environment
    (None: this process's). Still running after timeout seconds, it is
    killed (subprocess does, by its PID) and TimeoutExpired raised."""
    p = subprocess.run([str(a) for a in argv], stdin=stdin, capture_output=True,
                       timeout=timeout, cwd=cwd, env=env)
    return p.returncode, p.stdout, p.stderr


def usock_get(*args, **kw):
    """`usock get ARGS` (capture's keywords); (status, stdout, stderr)."""
    return capture([USOCK, "get", *args], **kw)


def curl(*args, **kw):
    """curl -s ARGS, curl's own config files ignored (-q; capture's
    keywords); (status, stdout, stderr)."""
    return capture([CURL, "-q", "-s", *args], **kw)


def check_ok(test, args, result):
    """result, (status, stdout, stderr) of `usock get ARGS`: status 0 and an
    empty stderr. Returns stdout."""
    rc, out, err = result
    test.assertEqual((rc, err.decode()), (0, ""), args)
    return out


def check_fails(test, args, result, status, words, prefix="usock: "):
    """result, (status, stdout, stderr) of `usock ARGS`: it exited with
    status, and stderr is one line, starting with prefix, that holds each of
    words (case-insensitive). Returns (stdout, that line)."""
    rc, out, err = result
    text = err.decode()
    test.assertEqual(rc, status, (args, text))
    test.assertEqual(text.count("\n"), 1, text)
    test.assertTrue(text.startswith(prefix), text)
    for w in words:
        test.assertIn(w.lower(), text.lower())
    return out, text


class GetChecks:
    """A mixin for the unittest.TestCases of `usock get`: a temporary
    directory for each test (.tmp; path(name) in it), and get_ok and
    get_echo, which run `usock get` with the class's get_env as its
    environment (None: this process's)."""
    get_env = None

    def setUp(self):
        super().setUp()
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name

    def path(self, name):
        return os.path.join(self.tmp, name)

    def get_ok(self, *args, **kw):
        """usock get ARGS must exit 0 with an empty stderr; returns stdout."""
        return check_ok(self, args, usock_get(*args, env=self.get_env, **kw))

    def get_echo(self, *args):
        """usock get ARGS whose (final) answer is /echo's JSON."""
        return json.loads(self.get_ok(*args))

    def need_curl(self):
        if not CURL:
            self.skipTest("curl is not installed")


# --------------------------------------------------------------------------- processes

class Process:
    """A program running in the background (a server, a client fed through
    stdin). Threads drain stdout and stderr so that it never blocks on a full
    pipe; each stream's bytes are kept (.out, .err) and its lines queued, so a
    test can wait for a line ("listening on ...") or for a size of output.
    .p is the subprocess.Popen."""

    def __init__(self, argv, stdin=subprocess.DEVNULL, timeout=TIMEOUT):
        self.timeout = timeout
        self.p = subprocess.Popen([str(a) for a in argv], stdin=stdin,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = bytearray()
        self.err = bytearray()
        self.grew = threading.Condition()
        self.queues = {"out": queue.Queue(), "err": queue.Queue()}
        self.threads = [
            threading.Thread(target=self._drain, args=(self.p.stdout, self.out, "out"),
                             daemon=True),
            threading.Thread(target=self._drain, args=(self.p.stderr, self.err, "err"),
                             daemon=True)]
        for t in self.threads:
            t.start()

    def _drain(self, f, buf, name):
        lines = self.queues[name]
        pending = bytearray()  # the line being read
        while True:
            b = f.read1(65536)
            if not b:
                break
            with self.grew:
                buf += b
                self.grew.notify_all()
            pending += b
            if b"\n" in b:
                *whole, rest = pending.split(b"\n")
                for line in whole:
                    lines.put(bytes(line) + b"\n")
                pending = bytearray(rest)
        if pending:
            lines.put(bytes(pending))
        lines.put(None)

    def line(self, stream="err", timeout=None):
        """The next line of stream ("out" or "err") as text, "\\n" kept, or
        None at its end. Raises queue.Empty after the timeout."""
        b = self.queues[stream].get(timeout=timeout or self.timeout)
        if b is None:
            self.queues[stream].put(None)  # the end stays the end
            return None
        return b.decode("utf-8", "replace")

    def first_line(self):
        """The next stderr line (the servers' "listening on ...")."""
        return self.line("err")

    def listening(self, stream="err"):
        """Waits for the "listening on ADDR" line; returns ADDR (text)."""
        line = self.line(stream)
        m = re.fullmatch(r"listening on (.+)\n?", line or "")
        if not m:
            self.kill()
            raise AssertionError("%s did not start: %r, stderr %r"
                                 % (self.p.args[0], line, bytes(self.err)))
        return m.group(1)

    def wait_out(self, size):
        """Waits until stdout holds size bytes."""
        with self.grew:
            ok = self.grew.wait_for(lambda: len(self.out) >= size, self.timeout)
        if not ok:
            raise AssertionError("stdout has %d bytes, expected %d" % (len(self.out), size))

    def wait_err(self, pattern):
        """Waits until stderr matches the regex pattern; returns the match."""
        regex = re.compile(pattern)
        with self.grew:
            ok = self.grew.wait_for(lambda: regex.search(self.err.decode("utf-8", "replace")),
                                    self.timeout)
        if not ok:
            raise AssertionError("stderr %r never matched %r" % (bytes(self.err), pattern))
        return ok

    def wait(self, timeout=None):
        """Waits for the exit (and the end of both streams); the status."""
        rc = self.p.wait(timeout or self.timeout)
        for t in self.threads:
            t.join(self.timeout)
        return rc

    def kill(self):
        """SIGKILL by PID if still running; closes the pipes."""
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait(self.timeout)
        for t in self.threads:
            t.join(5)
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            if f:
                f.close()

    def stop(self, timeout=10):
        """SIGTERM by PID, SIGKILL after timeout seconds; for cleanups:
        reports a failure instead of raising, so it masks no test's."""
        try:
            if self.p.poll() is None:
                os.kill(self.p.pid, signal.SIGTERM)
                try:
                    self.p.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
            self.kill()
        except Exception as e:
            print("cleanup of pid %d: %r" % (self.p.pid, e), file=sys.stderr)


# --------------------------------------------------------------------------- Python peers

class Peer:
    """A Python TCP or UDP server on loopback, in a thread. For TCP,
    handler(conn) runs for each of count connections, one after another; for
    UDP, handler(sock) runs once. What the handlers return is in .results; an
    exception in one is raised by join(). Closed at the test's cleanup."""

    def __init__(self, test, handler, host="127.0.0.1", count=1, udp=False):
        fam = family_of(host)
        if udp:
            self.sock = socket.socket(fam, socket.SOCK_DGRAM)
            self.sock.bind((host, 0))
        else:
            self.sock = socket.create_server((host, 0), family=fam)
        self.sock.settimeout(TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.results = []
        self.errors = []
        self.thread = threading.Thread(target=self._run, args=(handler, count, udp),
                                       daemon=True)
        self.thread.start()
        test.addCleanup(self.close)

    def _run(self, handler, count, udp):
        try:
            if udp:
                self.results.append(handler(self.sock))
                return
            for _ in range(count):
                conn, _ = self.sock.accept()
                with conn:
                    conn.settimeout(TIMEOUT)
                    self.results.append(handler(conn))
        except Exception as e:  # reported by join()
            self.errors.append(e)

    def join(self, timeout=TIMEOUT):
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError("peer did not finish")
        if self.errors:
            raise self.errors[0]
        return self.results

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


def serve_in_thread(test, srv):
    """srv (a socketserver server) serving in a thread until the test's
    cleanup, which sets its .stopping event if it has one (waking the
    handlers that wait on it), shuts it down and closes it. Returns srv."""
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True)
    t.start()

    def stop():
        getattr(srv, "stopping", threading.Event()).set()
        srv.shutdown()
        srv.server_close()
        t.join(10)
    test.addCleanup(stop)
    return srv


def threading_tcp_server(test, handler_fn, host="127.0.0.1"):
    """Python's ThreadingTCPServer on loopback: handler_fn(sock) runs in a
    thread per connection, any number at once. Returns the port; shut down
    and closed at the test's cleanup."""
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.settimeout(TIMEOUT)
            handler_fn(self.request)

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True
        address_family = family_of(host)

    return serve_in_thread(test, Server((host, 0), Handler)).server_address[1]


def udp_upper_server(test, host="127.0.0.1"):
    """The seeds' UDP server (Python's UDPServer): replies to each datagram
    with it upper-cased. Returns the port; closed at the test's cleanup."""
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            sock.sendto(data.upper(), self.client_address)

    class Server(socketserver.UDPServer):
        address_family = family_of(host)

    return serve_in_thread(test, Server((host, 0), Handler)).server_address[1]


# --------------------------------------------------------------------------- HTTP servers

class CountingServer(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer with handler on a loopback address (IPv4 or IPv6,
    by host; port 0: any free one), plain or TLS (context, an
    ssl.SSLContext), that counts the connections it accepts (.connections,
    under .lock). The TLS handshake is done in the connection's thread,
    bounded by TIMEOUT: a failed one goes to handshake_failed (by default
    into .errors), a good one to handshake_done. .stopping is set at the
    end (serve_in_thread) to wake handlers that wait. With quiet, a
    handler's exception is kept in .errors instead of printed with its
    traceback."""
    daemon_threads = True
    allow_reuse_address = True
    quiet = False

    def __init__(self, handler, host="127.0.0.1", port=0, context=None):
        self.address_family = family_of(host)
        self.context = context
        self.lock = threading.Lock()
        self.connections = 0
        self.errors = []
        self.stopping = threading.Event()
        super().__init__((host, port), handler)
        self.host, self.port = self.server_address[:2]

    def get_request(self):
        sock, addr = super().get_request()
        with self.lock:
            self.connections += 1
        if self.context:  # the handshake in the connection's thread (finish_request)
            sock = self.context.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request, client_address):
        if self.context:
            request.settimeout(TIMEOUT)
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError) as e:
                self.handshake_failed(e)
                return
            self.handshake_done(request)
        super().finish_request(request, client_address)

    def handshake_failed(self, error):
        self.note(self.errors, str(error))

    def handshake_done(self, sock):
        pass

    def handle_error(self, request, client_address):
        if not self.quiet:
            return super().handle_error(request, client_address)
        self.note(self.errors, repr(sys.exc_info()[1]))  # no traceback on stderr

    def note(self, where, what):
        """Appends what to the list where, under the lock."""
        with self.lock:
            where.append(what)


class RecordingServer(CountingServer):
    """A CountingServer that keeps every request its handler records
    (.requests; FeatureHandler records dicts: method, path, headers as a
    list of pairs, body)."""

    def __init__(self, handler, host="127.0.0.1", port=0, context=None):
        self.requests = []
        super().__init__(handler, host, port, context)

    def record(self, req):
        self.note(self.requests, req)

    def url(self, path, host=None):
        """http(s)://HOST:PORT/path, host (by default the server's) in
        brackets when it is an IPv6 address."""
        host = host or self.host
        if ":" in host:
            host = "[%s]" % host
        return "%s://%s:%d%s" % ("https" if self.context else "http", host, self.port, path)

    def paths(self):
        with self.lock:
            return [r["path"] for r in self.requests]

    def last(self, path_prefix="/"):
        """The last request whose path starts with path_prefix."""
        with self.lock:
            for r in reversed(self.requests):
                if r["path"].startswith(path_prefix):
                    return r
        raise AssertionError("no request for %s; got %r" % (path_prefix, self.paths()))


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A handler speaking HTTP/1.1 (keep-alive) that logs nothing; the
    timeout on the connection's socket ends an idle client's thread."""
    protocol_version = "HTTP/1.1"
    timeout = TIMEOUT
    no_body = ()  # the statuses answered without a body (and Content-Length)

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=(), ctype="text/plain"):
        """A whole answer: Content-Type, headers, Content-Length, the body
        (not to a HEAD; none with the statuses in no_body)."""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for name, value in headers:
            self.send_header(name, value)
        if status in self.no_body:
            body = b""
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


FIXED_DATE = "Tue, 09 Nov 2010 14:49:00 GMT"  # FeatureHandler's Date field
# the tests' Basic credentials (a ':' in the password, as curl splits at the first)
USER, PASSWORD = "alice", "s3cr:et"
GOOD_AUTH = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()


class FeatureHandler(QuietHandler):
    """The handler of `usock get`'s tests (test_get.py, test_get_tls.py):
    one method per feature, h_<the path's first segment, - as _>(path,
    body, req), chosen by dispatch (h_not_found when there is none), which
    records each request on the server (RecordingServer.record) first. The
    Server and Date fields are fixed, so that two clients' -i output can be
    compared. Subclasses add the features of their file."""

    def version_string(self):
        return "testserver"

    def date_time_string(self, timestamp=None):
        return FIXED_DATE

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def dispatch(self):
        body = self.read_body()
        url = urllib.parse.urlsplit(self.path)
        self.query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        req = {"method": self.command, "path": self.path, "headers": list(self.headers.items()),
               "body": body.decode("latin-1")}
        self.server.record(req)
        if getattr(self, "drop_next", False):  # armed by /drop-next: no answer
            self.close_connection = True
            return
        name = url.path.split("/")[1]
        getattr(self, "h_" + name.replace("-", "_"), self.h_not_found)(url.path, body, req)

    do_GET = do_POST = do_PUT = do_HEAD = dispatch

    # ---- the handlers: h_<first path segment>(path, body, req)

    def h_not_found(self, path, body, req):
        self.reply(404, b"not found: %s\n" % path.encode())

    def h_hello(self, path, body, req):
        self.reply(200, b"hello\n")

    def h_echo(self, path, body, req):
        """What the request was, as JSON."""
        self.reply(200, json.dumps(req, sort_keys=True).encode() + b"\n",
                   ctype="application/json")

    def h_big(self, path, body, req):
        self.reply(200, pattern(int(self.query.get("n", "1000000"))))

    def h_setcookie_raw(self, path, body, req):
        """/setcookie-raw?c=SET-COOKIE-VALUE&c=...: each as it is."""
        values = [v for k, v in urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query)
                  if k == "c"]
        self.reply(200, b"raw cookies set\n", [("Set-Cookie", v) for v in values])

    def h_http10(self, path, body, req):
        """An HTTP/1.0 answer without a length: the body ends with the close
        (over TLS, a TCP close without close_notify: Python's server sends
        none)."""
        self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                         b"until the close\n")
        self.close_connection = True

    def h_truncated(self, path, body, req):
        """Promises 100 bytes (/truncated/chunked: chunks), sends 40, closes."""
        self.send_response(200)
        if path == "/truncated/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"28\r\n" + b"t" * 40 + b"\r\n" + b"10\r\nonly")
        else:
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"t" * 40)
        self.close_connection = True

    def h_slow(self, path, body, req):
        """The head and the first ten bytes of twenty, then silence for
        ?delay= seconds (or until the server stops), then the rest."""
        self.send_response(200)
        self.send_header("Content-Length", "20")
        self.end_headers()
        self.wfile.write(b"first ten\n")
        self.server.stopping.wait(float(self.query.get("delay", "30")))
        try:
            self.wfile.write(b"then ten.\n")
        except OSError:
            pass
        self.close_connection = True

    def h_trickle(self, path, body, req):
        """?n= pieces ?gap= seconds apart, each within any -t above the gap."""
        n, gap = int(self.query.get("n", "3")), float(self.query.get("gap", "0.3"))
        self.send_response(200)
        self.send_header("Content-Length", str(6 * n))
        self.end_headers()
        for i in range(n):
            if i:
                self.server.stopping.wait(gap)
            self.wfile.write(b"drop%d\n" % (i % 10))

    def h_close_idle(self, path, body, req):
        """Answers as keep-alive, then closes the connection ?after= seconds
        later without a word: the client's pooled connection goes stale."""
        self.reply(200, b"closing soon\n")
        self.server.stopping.wait(float(self.query.get("after", "0.1")))
        self.close_connection = True

    def h_drop_next(self, path, body, req):
        """Answers; the next request on this connection is read and met with
        a close (the server's keep-alive timeout racing the client)."""
        self.reply(200, b"the next one is dropped\n")
        self.drop_next = True


def header(req, name):
    """The request's field `name` (case-insensitive), or None."""
    for n, v in req["headers"]:
        if n.lower() == name.lower():
            return v
    return None


# --------------------------------------------------------------------------- certificates

# the configuration of the openssl command (no system file is read): the
# extensions of CAs, servers and clients, shared with tests/unit/tls_certs.sh
with open(os.path.join(SOURCE_DIR, "tests", "openssl.cnf")) as f:
    OPENSSL_CNF = f.read()


class Openssl:
    """The openssl command in directory d, for test certificates: with our
    own configuration only (OPENSSL_CNF and the sections in extra, written
    to d/openssl.cnf, OPENSSL_CONF naming it: .env), so that the system's
    cannot change what is made. EC P-256 keys, 30 days, SHA-256; the
    certificates signed get the serials 101, 102, ... in turn."""

    NEWKEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

    def __init__(self, d, extra=""):
        self.d = d
        with open(os.path.join(d, "openssl.cnf"), "w") as f:
            f.write(OPENSSL_CNF + extra)
        self.env = dict(os.environ, OPENSSL_CONF=os.path.join(d, "openssl.cnf"))
        self.serial = 100

    def __call__(self, *args):
        """openssl ARGS in d; returns its stdout, raises RuntimeError (with
        its stderr) when it fails."""
        p = subprocess.run([OPENSSL, *args], cwd=self.d, env=self.env, capture_output=True,
                           timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise RuntimeError("openssl %s: %s" % (" ".join(args), p.stderr.decode()))
        return p.stdout

    def ca(self, name, cn):
        """NAME.pem and NAME.key: a self-signed CA, CN cn."""
        self("req", "-x509", "-new", *self.NEWKEY, "-keyout", name + ".key",
             "-out", name + ".pem", "-subj", "/CN=" + cn, "-days", "30", "-sha256",
             "-config", "openssl.cnf", "-extensions", "ca_ext")

    def request(self, name, cn):
        """NAME.key, a new key, and NAME.csr, its request for CN cn."""
        self("req", "-new", *self.NEWKEY, "-keyout", name + ".key", "-out", name + ".csr",
             "-subj", "/CN=" + cn, "-config", "openssl.cnf")

    def sign(self, csr, out, ca="ca", ext="server_ext"):
        """out: the request csr signed by the CA ca (ca.pem, ca.key), with
        the extensions of section ext."""
        self.serial += 1
        self("x509", "-req", "-in", csr, "-out", out, "-CA", ca + ".pem",
             "-CAkey", ca + ".key", "-set_serial", str(self.serial), "-days", "30",
             "-sha256", "-extfile", "openssl.cnf", "-extensions", ext)

    def server_certs(self, ca_cn):
        """ca.pem ca.key, the test CA (CN ca_cn), and server.pem server.key,
        DNS:localhost IP:127.0.0.1 IP:::1 (CN localhost), by the CA (serial
        101 when first)."""
        self.ca("ca", ca_cn)
        self.request("server", "localhost")
        self.sign("server.csr", "server.pem")


class CertDir:
    """A test module's certificates: a temporary directory that make()
    fills once (from setUpModule) and cleanup() removes (tearDownModule).
    .path is None until it is made; file(name) is a file in it."""

    def __init__(self):
        self.path = None
        self._tmp = None

    def make(self, fill, prefix=None, mode=None):
        """A new temporary directory (mode given: chmod'ed so first),
        filled by fill(its path); removed again, and the error raised, when
        fill fails."""
        tmp = tempfile.TemporaryDirectory(prefix=prefix)
        try:
            if mode is not None:
                os.chmod(tmp.name, mode)
            fill(tmp.name)
        except Exception:
            tmp.cleanup()
            raise
        self._tmp, self.path = tmp, tmp.name

    def file(self, name):
        return os.path.join(self.path, name)

    def cleanup(self):
        if self._tmp:
            self._tmp.cleanup()


# --------------------------------------------------------------------------- nginx

def find_nginx():
    """nginx's path, installing Debian's nginx-light when missing (as
    bench/http does); None when that fails."""
    def found():
        return shutil.which("nginx") or (os.access("/usr/sbin/nginx", os.X_OK) and
                                         "/usr/sbin/nginx") or None
    if found() or os.environ.get("USOCK_NO_INSTALL") or not shutil.which("apt-get"):
        return found()
    sudo = [] if os.getuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "install", "-y", "-q", "nginx-light"],
                ["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "nginx-light"]):
        try:
            subprocess.run(sudo + cmd, capture_output=True, timeout=300, env=env)
        except (subprocess.TimeoutExpired, OSError):
            return None
        if found():
            break
    return found()


def need_nginx():
    """find_nginx()'s path; raises unittest.SkipTest when it finds none."""
    nginx = find_nginx()
    if not nginx:
        raise unittest.SkipTest("nginx is not installed and apt-get could not install "
                                "nginx-light")
    return nginx


def nginx_error_log(d):
    """The end of d/error.log (why nginx failed), or ""."""
    try:
        with open(os.path.join(d, "error.log")) as f:
            return f.read()[-2000:]
    except OSError:
        return ""


def settled(count):
    """count() once it stops changing (0.2 s without a change, 3 s at
    most): nginx logs a request after its last byte went, so an earlier
    test's last line may still be on its way to its log."""
    n, deadline = -1, time.monotonic() + 3
    while time.monotonic() < deadline:
        m = count()
        if m == n:
            break
        n = m
        time.sleep(0.2)
    return n


def stop_nginx(proc):
    """SIGTERM to nginx's master (proc; it stops its worker), SIGKILL after
    5 s; then SIGKILL to the group it leads (setsid), should a worker stay."""
    pid = proc.p.pid
    proc.stop(timeout=5)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except OSError as e:
        print("cleanup of nginx's group %d: %r" % (pid, e), file=sys.stderr)


def wait_nginx(proc, d, port, context=None):
    """Waits (15 s at most) until nginx (proc, its files in d) answers a
    HEAD on 127.0.0.1:port, over TLS with context: its answer, with its
    Server field, not another program's that took the port."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.p.poll() is not None:
            raise AssertionError("nginx exited: %r %r" % (bytes(proc.err), nginx_error_log(d)))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
                with (context.wrap_socket(c) if context else c) as s:
                    s.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
                    head = s.recv(4096)
            if b"\r\nServer: nginx" in head:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("nginx does not listen on %d: %r" % (port, nginx_error_log(d)))


# the main context of start_nginx's configuration: in the foreground, a
# master and one worker, the pid file and error log in the directory (and,
# run as root, the worker as root: it reads the test's files)
NGINX_MAIN = """
%(user)s
daemon off;
master_process on;
worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections 256; }
"""


def start_nginx(nginx, d, http, names, context=None):
    """nginx (the binary) with its files in directory d, master and worker
    in a process group of their own (setsid): ports is a dict of a free
    port for each of names, and d/nginx.conf NGINX_MAIN followed by
    http(ports), the http block. Returns (Process, ports) once each port
    answers (wait_nginx). Three tries, as a free port may be taken before
    nginx binds it; an nginx that did not start is stopped, and the error
    raised after the third try or when it is not that. d is the caller's."""
    user = "user root;" if os.getuid() == 0 else ""
    for attempt in range(3):
        ports = {name: free_port() for name in names}
        path = os.path.join(d, "nginx.conf")
        with open(path, "w") as f:
            f.write(NGINX_MAIN % {"user": user, "d": d} + http(ports))
        proc = Process(["setsid", nginx, "-e", os.path.join(d, "error.log"),
                        "-p", d + "/", "-c", path])
        try:
            for port in ports.values():
                wait_nginx(proc, d, port, context)
            return proc, ports
        except Exception:
            stop_nginx(proc)
            if attempt == 2 or "Address already in use" not in nginx_error_log(d):
                raise
