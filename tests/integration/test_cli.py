"""Integration tests of the usock command-line tool, with Python as the peer.

Runs under ctest, which sets USOCK_BIN_DIR to the build directory; the tool
is $USOCK_BIN_DIR/tools/usock. Loopback only; every subprocess and socket
has a timeout and every server is killed by PID at teardown.
"""

import hashlib
import os
import queue
import re
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("USOCK_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BIN_DIR = os.environ.get("USOCK_BIN_DIR", os.path.join(SOURCE_DIR, "build"))
USOCK = os.path.join(BIN_DIR, "tools", "usock")

TIMEOUT = 60          # bound on any one subprocess or socket operation
MB10 = 10 * 1000 * 1000


def run(*args, input=b"", timeout=TIMEOUT):
    """Runs usock to completion; returns (status, stdout, stderr)."""
    p = subprocess.run([USOCK, *args], input=input, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def free_port(kind=socket.SOCK_STREAM):
    """A port on 127.0.0.1 that nothing listens on (refuses connections)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def have_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def sha(data):
    return hashlib.sha256(data).hexdigest()


def recv_all(sock):
    """Everything until EOF."""
    chunks = []
    while True:
        b = sock.recv(65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def exchange(sock, data):
    """Sends data from a thread while reading all that comes back until EOF
    (after our half-close), so that neither side can block the other."""
    def sender():
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=sender, daemon=True)
    t.start()
    got = recv_all(sock)
    t.join(TIMEOUT)
    return got


def connect(port, host="127.0.0.1", family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect((host, port))
    return s


def closed_by_peer(sock):
    """True when the peer has closed: EOF or a reset."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


class Proc:
    """A usock process running in the background (the servers, connect).

    Threads drain stdout and stderr so that the process never blocks on a
    full pipe; stderr lines are also queued to wait for 'listening on'."""

    def __init__(self, *args, stdin=subprocess.DEVNULL):
        self.p = subprocess.Popen([USOCK, *args], stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.out = bytearray()
        self.err = bytearray()
        self.lines = queue.Queue()
        self.grew = threading.Condition()
        self.threads = [threading.Thread(target=self._drain_out, daemon=True),
                        threading.Thread(target=self._drain_err, daemon=True)]
        for t in self.threads:
            t.start()

    def _drain_out(self):
        while True:
            b = self.p.stdout.read1(65536)
            if not b:
                break
            with self.grew:
                self.out += b
                self.grew.notify_all()

    def _drain_err(self):
        for line in self.p.stderr:
            self.err += line
            self.lines.put(line)

    def first_line(self):
        return self.lines.get(timeout=TIMEOUT).decode()

    def wait_out(self, size):
        """Waits until stdout holds size bytes."""
        with self.grew:
            ok = self.grew.wait_for(lambda: len(self.out) >= size, TIMEOUT)
        if not ok:
            raise AssertionError("stdout has %d bytes, expected %d" % (len(self.out), size))

    def wait(self):
        rc = self.p.wait(TIMEOUT)
        for t in self.threads:
            t.join(TIMEOUT)
        return rc

    def kill(self):
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait(TIMEOUT)
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            if f:
                f.close()


class CliTest(unittest.TestCase):
    def setUp(self):
        self.procs = []
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        for p in self.procs:
            p.kill()
        self.tmp.cleanup()

    def start(self, *args, stdin=subprocess.DEVNULL):
        p = Proc(*args, stdin=stdin)
        self.procs.append(p)
        return p

    def server(self, *args):
        """Starts a usock server; returns (proc, port) after its first line."""
        p = self.start(*args)
        line = p.first_line()
        m = re.fullmatch(r"listening on (\S+):(\d+)\n", line)
        self.assertIsNotNone(m, line)
        port = int(m.group(2))
        self.assertGreater(port, 0)
        return p, port

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def assert_usage_error(self, *args):
        rc, out, err = run(*args)
        self.assertEqual(rc, 2, (args, err))
        self.assertEqual(out, b"")
        self.assertEqual(err.count(b"\n"), 1, err)
        self.assertTrue(err.startswith(b"usock: "), err)

    def assert_net_error(self, args, message, input=b""):
        rc, out, err = run(*args, input=input)
        self.assertEqual(rc, 1, err)
        self.assertEqual(err.decode(), message + "\n")


def python_tcp_server(handler_fn):
    """A threading Python TCP server on 127.0.0.1; handler_fn(sock)."""
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.settimeout(TIMEOUT)
            handler_fn(self.request)

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    return srv


class ServerMixin:
    def tcp_server(self, handler_fn):
        srv = python_tcp_server(handler_fn)
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return srv.server_address[1]


# --------------------------------------------------------------------------- resolve

def expected_resolve(host, port, family=0, type=0):
    """What `usock resolve` must print, from Python's own getaddrinfo."""
    protos = {socket.IPPROTO_TCP: "IPPROTO_TCP", socket.IPPROTO_UDP: "IPPROTO_UDP"}
    lines = []
    for af, kind, proto, canon, sa in socket.getaddrinfo(host, port, family, type, 0,
                                                          socket.AI_CANONNAME):
        addr = "%s:%d" % sa[:2] if af == socket.AF_INET else "[%s]:%d" % sa[:2]
        lines.append("%s %s %s %s %s" % (af.name, kind.name, protos.get(proto, str(proto)),
                                         canon or "--", addr))
    return "".join(line + "\n" for line in lines)


class TestResolve(CliTest):
    def check(self, host, port=None, *flags, family=0, type=0):
        args = ["resolve", host] + ([str(port)] if port is not None else []) + list(flags)
        rc, out, err = run(*args)
        self.assertEqual((rc, err), (0, b""))
        self.assertEqual(out.decode(), expected_resolve(host, port or 0, family, type))
        return out.decode().splitlines()

    def test_ipv4_literal(self):
        lines = self.check("127.0.0.1", 80)
        self.assertIn("AF_INET SOCK_STREAM IPPROTO_TCP", lines[0])
        self.assertTrue(all(line.endswith(" 127.0.0.1:80") for line in lines))

    def test_localhost(self):
        self.check("localhost", 8080)

    def test_ipv6_literal(self):
        lines = self.check("::1", 443)
        self.assertTrue(all(line.startswith("AF_INET6 ") for line in lines))
        self.assertTrue(all(line.endswith(" [::1]:443") for line in lines))

    def test_port_defaults_to_zero(self):
        lines = self.check("127.0.0.1")
        self.assertTrue(lines[0].endswith(" 127.0.0.1:0"))

    def test_filter_ipv4(self):
        lines = self.check("localhost", 1, "-4", family=socket.AF_INET)
        self.assertTrue(lines and all(line.startswith("AF_INET ") for line in lines))

    def test_filter_ipv6(self):
        lines = self.check("::1", 1, "-6", family=socket.AF_INET6)
        self.assertTrue(lines and all(line.startswith("AF_INET6 ") for line in lines))

    def test_filter_udp(self):
        lines = self.check("127.0.0.1", 53, "--udp", type=socket.SOCK_DGRAM)
        self.assertTrue(lines)
        for line in lines:
            self.assertEqual(line.split()[1:3], ["SOCK_DGRAM", "IPPROTO_UDP"])

    def test_family_mismatch_fails(self):
        rc, out, err = run("resolve", "127.0.0.1", "-6")
        self.assertEqual((rc, out), (1, b""))
        self.assertTrue(err.startswith(b"usock: resolve 127.0.0.1: "), err)
        self.assertEqual(err.count(b"\n"), 1)

    def test_unknown_host(self):
        self.assert_net_error(["resolve", "no-such-host..invalid"],
                              "usock: resolve no-such-host..invalid: Name or service not known")


# --------------------------------------------------------------------------- connect

class TestConnect(CliTest, ServerMixin):
    def echo_handler(self, sock):
        while True:
            b = sock.recv(65536)
            if not b:
                break
            sock.sendall(b)

    def test_echo_round_trip(self):
        port = self.tcp_server(self.echo_handler)
        data = b"hello from stdin\n" * 100
        rc, out, err = run("connect", "127.0.0.1", str(port), input=data)
        self.assertEqual((rc, err), (0, b""))
        self.assertEqual(out, data)

    def test_large_both_ways(self):
        # Bigger than the socket buffers: the relay must read while it sends.
        port = self.tcp_server(self.echo_handler)
        data = os.urandom(4 * 1000 * 1000)
        rc, out, err = run("connect", "127.0.0.1", str(port), input=data)
        self.assertEqual((rc, err), (0, b""))
        self.assertEqual(sha(out), sha(data))

    def test_until_both_sides_close(self):
        # The server greets, reads to EOF (our stdin's end), answers, closes.
        def handler(sock):
            sock.sendall(b"hello\n")
            got = recv_all(sock)
            sock.sendall(b"got %d bytes %s\n" % (len(got), sha(got).encode()))
        port = self.tcp_server(handler)
        data = os.urandom(300000)
        rc, out, err = run("connect", "localhost", str(port), "-t", "30", input=data)
        self.assertEqual((rc, err), (0, b""))
        self.assertEqual(out, b"hello\ngot %d bytes %s\n" % (len(data), sha(data).encode()))

    def test_peer_closes_first(self):
        # The peer ends its side first; stdin keeps flowing until it ends.
        received = queue.Queue()

        def handler(sock):
            sock.sendall(b"bye\n")
            sock.shutdown(socket.SHUT_WR)
            received.put(recv_all(sock))
        port = self.tcp_server(handler)
        p = self.start("connect", "127.0.0.1", str(port), stdin=subprocess.PIPE)
        p.wait_out(4)
        p.p.stdin.write(b"late data")
        p.p.stdin.close()
        self.assertEqual(p.wait(), 0, p.err)
        self.assertEqual(bytes(p.out), b"bye\n")
        self.assertEqual(received.get(timeout=TIMEOUT), b"late data")

    def test_ipv6(self):
        if not have_ipv6():
            self.skipTest("no IPv6 loopback")
        with socket.socket(socket.AF_INET6) as ls:
            ls.settimeout(TIMEOUT)
            ls.bind(("::1", 0))
            ls.listen()
            port = ls.getsockname()[1]
            p = self.start("connect", "::1", str(port), stdin=subprocess.PIPE)
            conn, _ = ls.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                conn.sendall(b"six\n")
                p.p.stdin.write(b"four")
                p.p.stdin.close()
                self.assertEqual(recv_all(conn), b"four")
        self.assertEqual(p.wait(), 0)
        self.assertEqual(bytes(p.out), b"six\n")

    def test_refused(self):
        port = free_port()
        self.assert_net_error(["connect", "127.0.0.1", str(port)],
                              "usock: connect 127.0.0.1:%d: Connection refused" % port)

    def test_unknown_host(self):
        self.assert_net_error(["connect", "no-such-host..invalid", "80"],
                              "usock: connect no-such-host..invalid:80: "
                              "Name or service not known")

    def test_idle_timeout(self):
        # A server that never speaks nor closes; stdin stays open.
        with socket.socket() as ls:
            ls.bind(("127.0.0.1", 0))
            ls.listen()
            port = ls.getsockname()[1]
            p = self.start("connect", "127.0.0.1", str(port), "-t", "0.3",
                           stdin=subprocess.PIPE)
            self.assertEqual(p.wait(), 1)
            self.assertEqual(p.err.decode(),
                             "usock: connect 127.0.0.1:%d: Connection timed out\n" % port)

    def test_connect_timeout(self):
        # A listener whose backlog is full: the kernel drops further SYNs,
        # so a connect hangs until -t ends it.
        with socket.socket() as ls:
            ls.bind(("127.0.0.1", 0))
            ls.listen(0)
            port = ls.getsockname()[1]
            fillers = []
            try:
                for _ in range(16):
                    c = socket.socket()
                    fillers.append(c)
                    c.setblocking(False)
                    c.connect_ex(("127.0.0.1", port))
                    probe = socket.socket()
                    fillers.append(probe)
                    probe.settimeout(0.2)
                    try:
                        probe.connect(("127.0.0.1", port))
                    except socket.timeout:
                        break
                else:
                    self.skipTest("this kernel never drops SYNs on a full backlog")
                p = self.start("connect", "127.0.0.1", str(port), "-t", "0.3",
                               stdin=subprocess.PIPE)
                self.assertEqual(p.wait(), 1)
                self.assertEqual(p.err.decode(),
                                 "usock: connect 127.0.0.1:%d: Connection timed out\n" % port)
            finally:
                for c in fillers:
                    c.close()

# --------------------------------------------------------------------------- send

class TestSend(CliTest, ServerMixin):
    def receiver(self):
        got = queue.Queue()
        port = self.tcp_server(lambda sock: got.put(recv_all(sock)))
        return port, got

    def write_file(self, name, data):
        path = self.path(name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_upload_10mb(self):
        port, got = self.receiver()
        data = os.urandom(MB10)
        path = self.write_file("big", data)
        rc, out, err = run("send", "127.0.0.1", str(port), path)
        self.assertEqual((rc, out, err), (0, b"", b""))
        self.assertEqual(sha(got.get(timeout=TIMEOUT)), sha(data))

    def test_custom_chunks(self):
        for chunk in ("1", "7", "4096", "1000000"):
            port, got = self.receiver()
            data = os.urandom(20000)
            path = self.write_file("f" + chunk, data)
            rc, out, err = run("send", "127.0.0.1", str(port), path, "--chunk", chunk)
            self.assertEqual((rc, err), (0, b""), chunk)
            self.assertEqual(got.get(timeout=TIMEOUT), data, chunk)

    def test_chunk_equals_form_and_timeout(self):
        port, got = self.receiver()
        path = self.write_file("f", b"x" * 5000)
        rc, out, err = run("send", "localhost", str(port), path, "--chunk=512", "-t", "20")
        self.assertEqual((rc, err), (0, b""))
        self.assertEqual(got.get(timeout=TIMEOUT), b"x" * 5000)

    def test_empty_file(self):
        port, got = self.receiver()
        path = self.write_file("empty", b"")
        self.assertEqual(run("send", "127.0.0.1", str(port), path)[0], 0)
        self.assertEqual(got.get(timeout=TIMEOUT), b"")

    def test_missing_file(self):
        port, got = self.receiver()
        path = self.path("missing")
        self.assert_net_error(["send", "127.0.0.1", str(port), path],
                              "usock: send %s: No such file or directory" % path)

    def test_refused(self):
        port = free_port()
        path = self.write_file("f", b"data")
        self.assert_net_error(["send", "127.0.0.1", str(port), path],
                              "usock: send 127.0.0.1:%d: Connection refused" % port)

    def test_bad_chunk(self):
        path = self.write_file("f", b"data")
        for chunk in ("0", "abc", "-5", "1.5", ""):
            self.assert_usage_error("send", "127.0.0.1", "9", path, "--chunk", chunk)


# --------------------------------------------------------------------------- recv

class TestRecv(CliTest):
    def test_once_to_file_10mb(self):
        path = self.path("out")
        p, port = self.server("recv", "-b", "127.0.0.1", "-p", "0", "-o", path, "--once")
        data = os.urandom(MB10)
        with connect(port) as s:
            s.sendall(data)
        self.assertEqual(p.wait(), 0, p.err)
        with open(path, "rb") as f:
            self.assertEqual(sha(f.read()), sha(data))
        self.assertEqual(bytes(p.out), b"")

    def test_once_to_stdout(self):
        p, port = self.server("recv", "-p", "0", "--once")
        data = os.urandom(1000000)
        with connect(port) as s:
            s.sendall(data)
        self.assertEqual(p.wait(), 0, p.err)
        self.assertEqual(sha(bytes(p.out)), sha(data))

    def test_connections_one_after_another(self):
        p, port = self.server("recv", "-b", "127.0.0.1", "-p", "0")
        a, b, c = os.urandom(100000), os.urandom(200000), b"third\n"
        first = connect(port)
        first.sendall(a[:1000])
        with connect(port) as second:   # waits its turn, whole
            second.sendall(b)
        first.sendall(a[1000:])
        first.close()
        p.wait_out(len(a) + len(b))
        with connect(port) as third:
            third.sendall(c)
        p.wait_out(len(a) + len(b) + len(c))
        p.p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(), 0, p.err)
        self.assertEqual(bytes(p.out), a + b + c)

    def test_appends_to_file(self):
        path = self.path("out")
        p, port = self.server("recv", "-p", "0", "-o", path)
        for part in (b"one ", b"two ", b"three"):
            with connect(port) as s:
                s.sendall(part)
        # The file is flushed as each connection ends: wait for all three.
        deadline = time.monotonic() + TIMEOUT
        while os.path.getsize(path) < 13 and time.monotonic() < deadline:
            time.sleep(0.02)
        p.p.send_signal(signal.SIGINT)
        self.assertEqual(p.wait(), 0, p.err)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"one two three")

    def test_sigint_closes_connection(self):
        p, port = self.server("recv", "-p", "0")
        with connect(port) as s:
            s.sendall(b"partial")
            p.wait_out(7)
            p.p.send_signal(signal.SIGINT)
            self.assertEqual(p.wait(), 0, p.err)
            self.assertTrue(closed_by_peer(s))

    def test_unwritable_file(self):
        path = self.path("no/such/dir")
        self.assert_net_error(["recv", "-p", "0", "-o", path],
                              "usock: recv %s: No such file or directory" % path)


# --------------------------------------------------------------------------- echo

class TestEcho(CliTest):
    def test_listening_line_default_any(self):
        p, port = self.server("echo", "-p", "0")
        self.assertTrue(p.err.decode().startswith("listening on 0.0.0.0:%d\n" % port))
        with connect(port) as s:
            self.assertEqual(exchange(s, b"ping"), b"ping")

    def test_fifty_concurrent_clients(self):
        p, port = self.server("echo", "-b", "127.0.0.1", "-p", "0")
        results = {}

        def client(i):
            data = (b"client %03d|" % i) + os.urandom(20000 + 997 * i)
            with connect(port) as s:
                results[i] = exchange(s, data) == data
        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        self.assertEqual(results, {i: True for i in range(50)})

    def test_10mb_one_connection(self):
        p, port = self.server("echo", "-b", "127.0.0.1", "-p", "0")
        data = os.urandom(MB10)
        with connect(port) as s:
            self.assertEqual(sha(exchange(s, data)), sha(data))

    def test_upper(self):
        p, port = self.server("echo", "-b", "127.0.0.1", "-p", "0", "--upper")
        data = b"Hello, World! abc\xe9xyz \x00{|}`az AZ\n" * 1000
        with connect(port) as s:
            self.assertEqual(exchange(s, data), data.upper())

    def test_ipv6(self):
        if not have_ipv6():
            self.skipTest("no IPv6 loopback")
        p, port = self.server("echo", "-b", "::1", "-p", "0")
        self.assertTrue(p.err.decode().startswith("listening on [::1]:%d\n" % port))
        with connect(port, "::1", socket.AF_INET6) as s:
            self.assertEqual(exchange(s, b"over six"), b"over six")

    def udp_exchange(self, port, datagrams, host="127.0.0.1", family=socket.AF_INET):
        replies = []
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.settimeout(TIMEOUT)
            for d in datagrams:
                s.sendto(d, (host, port))
                replies.append(s.recv(65536))
        return replies

    def test_udp(self):
        p, port = self.server("echo", "-b", "127.0.0.1", "-p", "0", "--udp")
        grams = [b"one", b"Two two", b"", os.urandom(60000)]
        self.assertEqual(self.udp_exchange(port, grams), grams)

    def test_udp_upper(self):
        p, port = self.server("echo", "-p", "0", "--udp", "--upper")
        grams = [b"the seed's UDP server", b"MiXeD 123 \xff"]
        self.assertEqual(self.udp_exchange(port, grams), [g.upper() for g in grams])

    def test_udp_ipv6(self):
        if not have_ipv6():
            self.skipTest("no IPv6 loopback")
        p, port = self.server("echo", "-b", "::1", "-p", "0", "--udp")
        self.assertEqual(self.udp_exchange(port, [b"v6"], "::1", socket.AF_INET6), [b"v6"])

    def stop_with(self, sig):
        p, port = self.server("echo", "-b", "127.0.0.1", "-p", "0")
        clients = [connect(port) for _ in range(3)]
        try:
            for i, s in enumerate(clients):
                s.sendall(b"hi %d" % i)
                self.assertEqual(s.recv(100), b"hi %d" % i)
            p.p.send_signal(sig)
            self.assertEqual(p.wait(), 0, p.err)
            for s in clients:
                self.assertTrue(closed_by_peer(s))
        finally:
            for s in clients:
                s.close()

    def test_sigint(self):
        self.stop_with(signal.SIGINT)

    def test_sigterm(self):
        self.stop_with(signal.SIGTERM)

    def test_udp_sigterm(self):
        p, port = self.server("echo", "-p", "0", "--udp")
        p.p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(), 0)

    def test_address_in_use(self):
        with socket.socket() as ls:
            ls.bind(("127.0.0.1", 0))
            ls.listen()
            port = ls.getsockname()[1]
            self.assert_net_error(["echo", "-b", "127.0.0.1", "-p", str(port)],
                                  "usock: bind 127.0.0.1:%d: Address already in use" % port)

    def test_bad_bind_address(self):
        for addr in ("localhost", "1.2.3", "::g", "[::1]"):
            self.assert_usage_error("echo", "-b", addr, "-p", "0")


# --------------------------------------------------------------------------- udp

class TestUdp(CliTest):
    def upper_server(self):
        """The seed's UDP server: replies with the datagram upper-cased."""
        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                data, sock = self.request
                sock.sendto(data.upper(), self.client_address)
        srv = socketserver.UDPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return srv.server_address[1]

    def test_reply_printed_exactly(self):
        port = self.upper_server()
        rc, out, err = run("udp", "127.0.0.1", str(port), "hello udp")
        self.assertEqual((rc, out, err), (0, b"HELLO UDP", b""))

    def test_timeout_option(self):
        port = self.upper_server()
        rc, out, err = run("udp", "127.0.0.1", str(port), "x y z", "-t", "10")
        self.assertEqual((rc, out, err), (0, b"X Y Z", b""))

    def test_against_usock_echo(self):
        p, port = self.server("echo", "-b", "127.0.0.1", "-p", "0", "--udp", "--upper")
        rc, out, err = run("udp", "127.0.0.1", str(port), "round trip")
        self.assertEqual((rc, out), (0, b"ROUND TRIP"))

    def test_timeout(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
            silent.settimeout(TIMEOUT)
            silent.bind(("127.0.0.1", 0))
            port = silent.getsockname()[1]
            self.assert_net_error(["udp", "127.0.0.1", str(port), "anyone?", "-t", "0.2"],
                                  "usock: udp 127.0.0.1:%d: Connection timed out" % port)
            self.assertEqual(silent.recv(100), b"anyone?")

    def test_closed_port_times_out(self):
        port = free_port(socket.SOCK_DGRAM)
        self.assert_net_error(["udp", "127.0.0.1", str(port), "m", "-t", "0.2"],
                              "usock: udp 127.0.0.1:%d: Connection timed out" % port)


# --------------------------------------------------------------------------- usage

COMMANDS = ["resolve", "connect", "send", "recv", "echo", "udp"]


class TestUsage(CliTest):
    def test_help(self):
        rc, out, err = run("--help")
        self.assertEqual((rc, err), (0, b""))
        for cmd in COMMANDS:
            self.assertIn(cmd.encode(), out)

    def test_command_help(self):
        for cmd in COMMANDS:
            for flag in ("--help", "-h"):
                rc, out, err = run(cmd, flag)
                self.assertEqual((rc, err), (0, b""), cmd)
                self.assertTrue(out.startswith(b"usage: usock " + cmd.encode()), out)

    def test_version(self):
        with open(os.path.join(SOURCE_DIR, "include", "usock.h")) as f:
            version = re.search(r'USOCK_VERSION_STRING "([^"]+)"', f.read()).group(1)
        rc, out, err = run("--version")
        self.assertEqual((rc, err), (0, b""))
        self.assertEqual(out.decode(), "usock %s\n" % version)

    def test_bad_ports(self):
        for port in ("70000", "65536", "abc", "-1", "", "1e3", " 80", "0x50", "123456"):
            self.assert_usage_error("echo", "-p", port)
            self.assert_usage_error("connect", "127.0.0.1", port)
            self.assert_usage_error("udp", "127.0.0.1", port, "m")
            self.assert_usage_error("resolve", "127.0.0.1", port)
            self.assert_usage_error("send", "127.0.0.1", port, "/dev/null")

    def test_unknown_option(self):
        self.assert_usage_error("connect", "127.0.0.1", "80", "--bogus")
        self.assert_usage_error("echo", "-p", "0", "-x")
        self.assert_usage_error("resolve", "localhost", "--once")
        self.assert_usage_error("recv", "-p", "0", "--upper")

    def test_unknown_command(self):
        self.assert_usage_error("frobnicate")
        self.assert_usage_error("--bogus")

    def test_missing_arguments(self):
        self.assert_usage_error()
        self.assert_usage_error("connect", "127.0.0.1")
        self.assert_usage_error("send", "127.0.0.1", "9")
        self.assert_usage_error("udp", "127.0.0.1", "9")
        self.assert_usage_error("resolve")
        self.assert_usage_error("echo")
        self.assert_usage_error("recv", "-o", "/dev/null")
        self.assert_usage_error("echo", "-p")
        self.assert_usage_error("connect", "127.0.0.1", "80", "-t")

    def test_too_many_arguments(self):
        self.assert_usage_error("connect", "127.0.0.1", "80", "extra")
        self.assert_usage_error("echo", "-p", "0", "extra")

    def test_bad_timeouts(self):
        for t in ("abc", "0", "-1", "nan", "inf", ""):
            self.assert_usage_error("udp", "127.0.0.1", "9", "m", "-t", t)
            self.assert_usage_error("connect", "127.0.0.1", "9", "-t", t)

    def test_odd_input_never_crashes(self):
        # Any status but a death by signal, always with at most one line.
        # Host names end in ".." so that the resolver fails without asking DNS.
        odd = ["[", "]", "::::", "%", "a" * 5000, "\x01\x7f", "1.2.3.4.5", "[::1]:80",
               "fe80::1%nosuchif", "-", "--", "\xff\xfe"]
        for arg in odd:
            host = arg + ".."
            for args in (["resolve", host], ["connect", host, "1"],
                         ["udp", host, "1", arg, "-t", "0.1"], ["send", host, "1", arg],
                         ["echo", "-b", arg, "-p", "1"], ["recv", "-b", arg, "-p", "1"]):
                rc, out, err = run(*args)
                self.assertIn(rc, (0, 1, 2), args)
                self.assertLessEqual(err.count(b"\n"), 1, (args, err))


if __name__ == "__main__":
    unittest.main(verbosity=2)
