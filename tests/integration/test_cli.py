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
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import (Process, free_port, have_ipv6, recv_all,  # noqa: E402
                   threading_tcp_server, udp_upper_server)

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


def sha(data):
    return hashlib.sha256(data).hexdigest()


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


class CliTest(unittest.TestCase):
    def setUp(self):
        self.procs = []
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        for p in self.procs:
            p.kill()
        self.tmp.cleanup()

    def start(self, *args, stdin=subprocess.DEVNULL):
        p = Process([USOCK, *args], stdin=stdin, timeout=TIMEOUT)
        self.procs.append(p)
        return p

    def server(self, *args):
        """Starts a usock server; returns (proc, port) after its first line."""
        p = self.start(*args)
        addr = p.listening()
        m = re.fullmatch(r"(\S+):(\d+)", addr)
        self.assertIsNotNone(m, addr)
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

    def tcp_server(self, handler_fn):
        """A threading Python TCP server on 127.0.0.1; handler_fn(sock)."""
        return threading_tcp_server(self, handler_fn)

    def unix_server(self, *args):
        """Starts a usock server on a Unix socket; returns the proc after its
        "listening on PATH" line (the PATH given with --unix)."""
        p = self.start(*args)
        self.assertEqual(p.listening(), args[args.index("--unix") + 1])
        return p

    def silent_listener(self):
        """A listening socket that never accepts: what connects stays in its
        backlog, where accept_nowait finds it."""
        ls = socket.socket()
        self.addCleanup(ls.close)
        ls.bind(("127.0.0.1", 0))
        ls.listen(8)
        ls.setblocking(False)
        return ls, ls.getsockname()[1]

    def assert_never_connected(self, ls):
        with self.assertRaises(BlockingIOError):
            conn, _ = ls.accept()
            conn.close()


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

class TestConnect(CliTest):
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

class TestSend(CliTest):
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

    def test_missing_file_never_connects(self):
        ls, port = self.silent_listener()
        path = self.path("missing")
        self.assert_net_error(["send", "127.0.0.1", str(port), path],
                              "usock: send %s: No such file or directory" % path)
        self.assert_never_connected(ls)

    def test_directory_never_connects(self):
        ls, port = self.silent_listener()
        self.assert_net_error(["send", "127.0.0.1", str(port), self.tmp.name],
                              "usock: send %s: Is a directory" % self.tmp.name)
        self.assert_never_connected(ls)

    def test_fifo_is_not_a_regular_file(self):
        ls, port = self.silent_listener()
        path = self.path("fifo")
        os.mkfifo(path)
        self.assert_net_error(["send", "127.0.0.1", str(port), path],
                              "usock: send %s: not a regular file" % path)
        self.assert_never_connected(ls)

    @unittest.skipIf(os.geteuid() == 0, "root reads any file")
    def test_unreadable_file_never_connects(self):
        ls, port = self.silent_listener()
        path = self.write_file("secret", b"data")
        os.chmod(path, 0)
        self.assert_net_error(["send", "127.0.0.1", str(port), path],
                              "usock: send %s: Permission denied" % path)
        self.assert_never_connected(ls)

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

    def test_output_is_a_directory(self):
        self.assert_net_error(["recv", "-p", "0", "-o", self.tmp.name],
                              "usock: recv %s: Is a directory" % self.tmp.name)

    def test_outdir_must_be_a_directory(self):
        path = self.path("file")
        open(path, "wb").close()
        self.assert_net_error(["recv", "-p", "0", "-O", path],
                              "usock: recv %s: Not a directory" % path)
        missing = self.path("missing")
        self.assert_net_error(["recv", "-p", "0", "-O", missing],
                              "usock: recv %s: No such file or directory" % missing)

    def test_silent_client_is_dropped(self):
        # A client that connects first and never sends holds the output
        # only for the idle time; the upload behind it arrives whole.
        path = self.path("out")
        p, port = self.server("recv", "-b", "127.0.0.1", "-p", "0", "-o", path, "-t", "0.5")
        silent = connect(port)
        self.addCleanup(silent.close)
        data = os.urandom(300000)
        with connect(port) as second:
            second.sendall(data)
        m = p.wait_err(r"usock: recv 127\.0\.0\.1:(\d+): nothing received for 0\.5 s "
                       r"\(upload truncated: 0 bytes\)\n")
        self.assertEqual(int(m.group(1)), silent.getsockname()[1])
        self.assertTrue(closed_by_peer(silent))
        deadline = time.monotonic() + TIMEOUT
        while os.path.getsize(path) < len(data) and time.monotonic() < deadline:
            time.sleep(0.02)
        p.p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(), 0, p.err)
        with open(path, "rb") as f:
            self.assertEqual(sha(f.read()), sha(data))
        self.assertEqual(p.err.count(b"\n"), 2, p.err)  # listening, the drop

    def test_idle_timeout_keeps_what_came(self):
        p, port = self.server("recv", "-b", "127.0.0.1", "-p", "0", "-t", "0.3")
        with connect(port) as s:
            s.sendall(b"half of it")
            p.wait_err(r"nothing received for 0\.3 s \(upload truncated: 10 bytes\)\n")
            self.assertTrue(closed_by_peer(s))
        with connect(port) as s:   # it serves on
            s.sendall(b"+ next")
        p.wait_out(16)
        p.p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(), 0, p.err)
        self.assertEqual(bytes(p.out), b"half of it+ next")

    def test_once_reset_exits_1(self):
        path = self.path("out")
        p, port = self.server("recv", "-b", "127.0.0.1", "-p", "0", "-o", path, "--once")
        s = connect(port)
        s.sendall(b"x" * 5000)
        time.sleep(0.2)  # let it arrive before the reset (as an upload cut mid-way)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        s.close()
        self.assertEqual(p.wait(), 1, p.err)
        lines = p.err.decode().splitlines()
        self.assertEqual(len(lines), 2, lines)
        self.assertRegex(lines[1], r"^usock: recv 127\.0\.0\.1:\d+: Connection reset by peer "
                                   r"\(upload truncated: \d+ bytes\)$")

    def test_once_idle_exits_1(self):
        p, port = self.server("recv", "-b", "127.0.0.1", "-p", "0", "--once", "-t", "0.3")
        with connect(port) as s:
            s.sendall(b"abc")
            self.assertEqual(p.wait(), 1, p.err)
        self.assertEqual(bytes(p.out), b"abc")
        self.assertRegex(p.err.decode(), r"nothing received for 0\.3 s "
                                         r"\(upload truncated: 3 bytes\)\n$")

    def test_once_clean_eof_exits_0(self):
        p, port = self.server("recv", "-b", "127.0.0.1", "-p", "0", "--once", "-t", "5")
        with connect(port) as s:
            s.sendall(b"all of it")
        self.assertEqual(p.wait(), 0, p.err)
        self.assertEqual(bytes(p.out), b"all of it")
        self.assertEqual(p.err.count(b"\n"), 1, p.err)

    def uploads_in(self, d):
        return sorted(n for n in os.listdir(d) if n.endswith(".bin"))

    def test_outdir_concurrent_uploads(self):
        d = self.path("in")
        os.mkdir(d)
        p, port = self.server("recv", "-b", "127.0.0.1", "-p", "0", "-O", d)
        n = 6
        socks = [connect(port) for _ in range(n)]
        datas = [os.urandom(100000 + 1000 * i) for i in range(n)]
        # Interleaved: every upload is in progress at once.
        for part in range(4):
            for s, data in zip(socks, datas):
                q = len(data) // 4
                s.sendall(data[part * q:(part + 1) * q if part < 3 else None])
        by_port = {}
        for s, data in zip(socks, datas):
            by_port[s.getsockname()[1]] = data
            s.close()
        deadline = time.monotonic() + TIMEOUT
        while len(self.uploads_in(d)) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        names = self.uploads_in(d)
        self.assertEqual(len(names), n, names)
        numbers = set()
        for name in names:
            m = re.fullmatch(r"upload-(\d+)-127\.0\.0\.1_(\d+)\.bin", name)
            self.assertIsNotNone(m, name)
            numbers.add(int(m.group(1)))
            with open(os.path.join(d, name), "rb") as f:
                self.assertEqual(sha(f.read()), sha(by_port.pop(int(m.group(2)))), name)
        self.assertEqual(numbers, set(range(1, n + 1)))
        self.assertEqual(by_port, {})
        p.p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(), 0, p.err)
        self.assertEqual(bytes(p.out), b"")

    def test_outdir_silent_client_blocks_nobody(self):
        d = self.path("in")
        os.mkdir(d)
        p, port = self.server("recv", "-b", "127.0.0.1", "-p", "0", "-O", d, "-t", "30")
        silent = connect(port)
        self.addCleanup(silent.close)
        with connect(port) as s:
            s.sendall(b"while the other waits")
        deadline = time.monotonic() + TIMEOUT
        while not self.uploads_in(d) and time.monotonic() < deadline:
            time.sleep(0.02)
        (name,) = self.uploads_in(d)
        with open(os.path.join(d, name), "rb") as f:
            self.assertEqual(f.read(), b"while the other waits")
        # The silent one is still in progress: its file has the .part name.
        self.assertEqual(len([n for n in os.listdir(d) if n.endswith(".bin.part")]), 1)

    def test_outdir_never_overwrites(self):
        d = self.path("in")
        os.mkdir(d)
        p, port = self.server("recv", "-b", "127.0.0.1", "-p", "0", "-O", d, "--once")
        with connect(port) as s:
            s.sendall(b"new")
            me = s.getsockname()[1]
            with open(os.path.join(d, "upload-1-127.0.0.1_%d.bin" % me), "wb") as f:
                f.write(b"old")
        self.assertEqual(p.wait(), 0, p.err)
        with open(os.path.join(d, "upload-1-127.0.0.1_%d.bin" % me), "rb") as f:
            self.assertEqual(f.read(), b"old")
        with open(os.path.join(d, "upload-2-127.0.0.1_%d.bin" % me), "rb") as f:
            self.assertEqual(f.read(), b"new")
        self.assertEqual(len(os.listdir(d)), 2)

    def test_outdir_once_reset_keeps_part(self):
        d = self.path("in")
        os.mkdir(d)
        p, port = self.server("recv", "-b", "127.0.0.1", "-p", "0", "-O", d, "--once")
        s = connect(port)
        s.sendall(b"y" * 1000)
        time.sleep(0.2)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        s.close()
        self.assertEqual(p.wait(), 1, p.err)
        self.assertEqual(self.uploads_in(d), [])
        parts = os.listdir(d)
        self.assertEqual(len(parts), 1, parts)
        self.assertTrue(parts[0].endswith(".bin.part"))
        self.assertIn(b"Connection reset by peer (upload truncated: ", p.err)

    def test_usage_errors(self):
        self.assert_usage_error("recv", "-p", "0", "-o", self.path("f"), "-O", self.tmp.name)
        for t in ("0", "-1", "abc"):
            self.assert_usage_error("recv", "-p", "0", "-t", t)


# --------------------------------------------------------------------------- echo

def assert_serves_n_at_once(self, mode, n):
    """For TestEcho and TestEchoModes: self is the test case."""
    # --workers N: N clients are served at the same time (each gets its
    # echo while all stay connected); one more waits until one ends.
    p, port = self.server("echo", "-b", "127.0.0.1", "-p", "0", "--mode", mode,
                          "--workers", str(n))
    clients = [connect(port) for _ in range(n)]
    try:
        for i, s in enumerate(clients):
            s.sendall(b"w%d" % i)
            self.assertEqual(s.recv(100), b"w%d" % i)
        with connect(port) as extra:
            extra.sendall(b"later")
            extra.settimeout(0.3)
            with self.assertRaises(socket.timeout):
                extra.recv(100)
            clients[0].close()    # one is free: the extra client is served
            extra.settimeout(TIMEOUT)
            self.assertEqual(extra.recv(100), b"later")
    finally:
        for s in clients:
            s.close()


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

    def test_forking_workers_is_max_children(self):
        assert_serves_n_at_once(self, "forking", 2)

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


MODES = ["sequential", "threading", "forking", "pool"]


def concurrent_exchanges(open_sock, n, size=20000, upper=False):
    """n clients at once, each sending its own data and reading the echo to
    EOF; returns {i: True} for each whose echo was exact (upper-cased with
    upper)."""
    results = {}

    def client(i):
        data = (b"client %03d|" % i) + os.urandom(size + 997 * i)
        with open_sock() as s:
            results[i] = exchange(s, data) == (data.upper() if upper else data)
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    return results


def unix_stream(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect("\0" + path[1:] if path.startswith("@") else path)
    return s


class TestEchoModes(CliTest):
    def mode_server(self, mode, *args):
        extra = ["--workers", "4"] if mode == "pool" else []
        return self.server("echo", "-b", "127.0.0.1", "-p", "0", "--mode", mode, *extra, *args)

    def test_tcp_concurrent_clients(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                p, port = self.mode_server(mode)
                self.assertEqual(concurrent_exchanges(lambda: connect(port), 8),
                                 {i: True for i in range(8)})

    def test_upper(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                p, port = self.mode_server(mode, "--upper")
                data = b"Hello, World! abc\xe9xyz \x00{|}`az AZ\n" * 1000
                with connect(port) as s:
                    self.assertEqual(exchange(s, data), data.upper())

    def test_udp(self):
        grams = [b"one", b"Two two", b"", os.urandom(60000)]
        for mode in MODES:
            with self.subTest(mode=mode):
                p, port = self.mode_server(mode, "--udp")
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.settimeout(TIMEOUT)
                    replies = []
                    for d in grams:
                        s.sendto(d, ("127.0.0.1", port))
                        replies.append(s.recv(65536))
                self.assertEqual(replies, grams)

    def test_udp_upper(self):
        p, port = self.mode_server("threading", "--udp", "--upper")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(TIMEOUT)
            s.sendto(b"MiXeD 123 \xff", ("127.0.0.1", port))
            self.assertEqual(s.recv(100), b"MIXED 123 \xff")

    def test_sigterm_closes_clients(self):
        # Sequential serves one at a time: one client; the others, several.
        for mode in MODES:
            with self.subTest(mode=mode):
                p, port = self.mode_server(mode)
                clients = [connect(port) for _ in range(1 if mode == "sequential" else 3)]
                try:
                    for i, s in enumerate(clients):
                        s.sendall(b"hi %d" % i)
                        self.assertEqual(s.recv(100), b"hi %d" % i)
                    p.p.send_signal(signal.SIGTERM)
                    self.assertEqual(p.wait(), 0, p.err)
                    for s in clients:
                        self.assertTrue(closed_by_peer(s))
                finally:
                    for s in clients:
                        s.close()

    def test_sigint_idle(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                p, port = self.mode_server(mode)
                p.p.send_signal(signal.SIGINT)
                self.assertEqual(p.wait(), 0, p.err)
                self.assertEqual(p.err.count(b"\n"), 1, p.err)

    def test_pool_workers_serve_at_once(self):
        assert_serves_n_at_once(self, "pool", 3)

    def test_address_in_use(self):
        with socket.socket() as ls:
            ls.bind(("127.0.0.1", 0))
            ls.listen()
            port = ls.getsockname()[1]
            self.assert_net_error(["echo", "-b", "127.0.0.1", "-p", str(port),
                                   "--mode", "threading"],
                                  "usock: bind 127.0.0.1:%d: Address already in use" % port)

    def test_usage_errors(self):
        for mode in ("", "Poll", "fork", "threads", "pool2"):
            self.assert_usage_error("echo", "-p", "0", "--mode", mode)
        for workers in ("0", "-1", "abc", "1.5", "", "100000", " 2"):
            self.assert_usage_error("echo", "-p", "0", "--mode", "pool", "--workers", workers)
        self.assert_usage_error("echo", "-p", "0", "--workers", "2")            # not pool
        self.assert_usage_error("echo", "-p", "0", "--mode", "threading", "--workers", "2")
        self.assert_usage_error("echo", "-p", "0", "--mode")
        self.assert_usage_error("recv", "-p", "0", "--mode", "pool")


class TestUnix(CliTest):
    def sock_path(self, name="s"):
        return self.path(name)

    def test_echo_stream_every_mode(self):
        for mode in ["poll"] + MODES:
            with self.subTest(mode=mode):
                path = self.sock_path("echo-" + mode)
                extra = ["--workers", "4"] if mode == "pool" else []
                p = self.unix_server("echo", "--unix", path, "--mode", mode, "--upper", *extra)
                self.assertEqual(concurrent_exchanges(lambda: unix_stream(path), 5, 5000, True),
                                 {i: True for i in range(5)})
                with unix_stream(path) as s:
                    self.assertEqual(exchange(s, b"unix hello"), b"UNIX HELLO")
                p.p.send_signal(signal.SIGTERM)
                self.assertEqual(p.wait(), 0, p.err)
                self.assertFalse(os.path.exists(path))  # removed at exit

    def test_echo_datagram_every_mode(self):
        for mode in ["poll"] + MODES:
            with self.subTest(mode=mode):
                path = self.sock_path("dg-" + mode)
                p = self.unix_server("echo", "--unix", path, "--udp", "--mode", mode)
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as c:
                    c.settimeout(TIMEOUT)
                    c.bind(self.sock_path("client-" + mode))  # a named sender gets replies
                    for d in (b"gram", b"", os.urandom(30000)):
                        c.sendto(d, path)
                        self.assertEqual(c.recv(65536), d)
                p.p.send_signal(signal.SIGTERM)
                self.assertEqual(p.wait(), 0, p.err)

    def test_echo_abstract(self):
        name = "@usock-test-%d-%d" % (os.getpid(), time.monotonic_ns())
        p = self.unix_server("echo", "--unix", name)
        with unix_stream(name) as s:
            self.assertEqual(exchange(s, b"abstract"), b"abstract")

    def test_echo_path_in_use(self):
        path = self.sock_path()
        with socket.socket(socket.AF_UNIX) as ls:
            ls.bind(path)
            ls.listen()
            self.assert_net_error(["echo", "--unix", path],
                                  "usock: bind %s: Address already in use" % path)
            self.assert_net_error(["echo", "--unix", path, "--mode", "threading"],
                                  "usock: bind %s: Address already in use" % path)
        self.assertTrue(os.path.exists(path))  # someone else's: left alone

    def test_connect_to_python_server(self):
        path = self.sock_path()
        got = queue.Queue()
        with socket.socket(socket.AF_UNIX) as ls:
            ls.settimeout(TIMEOUT)
            ls.bind(path)
            ls.listen()
            p = self.start("connect", "--unix", path, stdin=subprocess.PIPE)
            conn, _ = ls.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                conn.sendall(b"from python\n")
                p.p.stdin.write(b"from usock")
                p.p.stdin.close()
                got.put(recv_all(conn))
        self.assertEqual(p.wait(), 0, p.err)
        self.assertEqual(bytes(p.out), b"from python\n")
        self.assertEqual(got.get(timeout=TIMEOUT), b"from usock")

    def test_connect_to_usock_echo(self):
        path = self.sock_path()
        self.unix_server("echo", "--unix", path, "--mode", "threading")
        data = os.urandom(2 * 1000 * 1000)
        rc, out, err = run("connect", "--unix", path, input=data)
        self.assertEqual((rc, err), (0, b""))
        self.assertEqual(sha(out), sha(data))

    def test_connect_missing_path(self):
        path = self.sock_path("none")
        self.assert_net_error(["connect", "--unix", path],
                              "usock: connect %s: No such file or directory" % path)

    def test_usage_errors(self):
        self.assert_usage_error("connect", "--unix", self.sock_path(), "127.0.0.1", "80")
        self.assert_usage_error("connect", "--unix")
        self.assert_usage_error("connect", "--unix", "")
        self.assert_usage_error("echo", "--unix", self.sock_path(), "-p", "0")
        self.assert_usage_error("echo", "--unix", self.sock_path(), "-b", "127.0.0.1")


# --------------------------------------------------------------------------- udp

class TestUdp(CliTest):
    def test_reply_printed_exactly(self):
        port = udp_upper_server(self)
        rc, out, err = run("udp", "127.0.0.1", str(port), "hello udp")
        self.assertEqual((rc, out, err), (0, b"HELLO UDP", b""))

    def test_timeout_option(self):
        port = udp_upper_server(self)
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
        port = free_port(kind=socket.SOCK_DGRAM)
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
        # The one version: project(usock VERSION X.Y.Z) in CMakeLists.txt.
        with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
            version = re.search(r"project\(usock VERSION ([\d.]+)", f.read()).group(1)
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
        self.assert_usage_error("send", "127.0.0.1", "80", "f", "--unix", "/x")
        self.assert_usage_error("udp", "127.0.0.1", "80", "m", "--mode", "pool")

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
