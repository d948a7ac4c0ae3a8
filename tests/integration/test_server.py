"""Integration tests of the server layer through `usock echo --mode MODE`,
with Python standard-library clients as the peers.

Every mode (sequential, threading, forking, pool on the server layer; poll,
the tool's own event loop) is driven over TCP on IPv4, IPv6 and dual stack,
over UDP, and over Unix stream, datagram and abstract sockets: many clients
at once, a big transfer, upper-casing, a thousand datagrams, and a stop by
SIGTERM while clients are mid-echo.

Runs under ctest as `python3 -u tests/integration/test_server.py`, with
USOCK_BIN_DIR set to the build directory (the tool is
$USOCK_BIN_DIR/tools/usock). Loopback and a temporary directory only; every
socket operation has a timeout, every thread is joined with a bound, and
every server started is stopped by its PID at cleanup (SIGTERM, then SIGKILL
after a bound), even when a test fails.
"""

import hashlib
import os
import random
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
from peers import Process, have_ipv6, recv_all  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("USOCK_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BIN_DIR = os.environ.get("USOCK_BIN_DIR", os.path.join(SOURCE_DIR, "build"))
USOCK = os.path.join(BIN_DIR, "tools", "usock")

TIMEOUT = 10        # bound on one socket operation, a server's start or stop
QUEUED_TIMEOUT = 30 # bound on one operation of a client that waits its turn
JOIN_TIMEOUT = 60   # bound on joining a test's client threads (all at once)

MODES = ["sequential", "threading", "forking", "pool", "poll"]
POOL_WORKERS = 8
# forking keeps its default max_children (40), so that clients beyond it wait.
MODE_ARGS = {"pool": ["--workers", str(POOL_WORKERS)]}
# How many clients a mode serves at once (the others wait their turn).
AT_ONCE = {"sequential": 1, "forking": 40, "pool": POOL_WORKERS}
UNIX_MODES = ["threading", "pool", "forking"]

MB10 = 10 * 1000 * 1000


# --------------------------------------------------------------------------- helpers

def stop_process(proc):
    """Stops a server by its PID: SIGTERM, then SIGKILL if it is still there
    after TIMEOUT; closes its pipes. For cleanups: never raises."""
    try:
        if proc.p.poll() is None:
            try:
                os.kill(proc.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.p.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        proc.kill()
    except Exception as e:  # a cleanup reports, it does not mask the test's failure
        print("cleanup of pid %d: %r" % (proc.p.pid, e), file=sys.stderr)


def join_all(threads, timeout=JOIN_TIMEOUT):
    """Joins threads within one overall bound; returns those still alive."""
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return [t for t in threads if t.is_alive()]


def payload(i, size):
    """A payload of size bytes that no other i shares (its index leads)."""
    head = b"<client %05d>" % i
    return head + os.urandom(max(0, size - len(head)))


def exchange_in_pieces(sock, data, seed):
    """Sends data in pieces of random sizes from a thread, then half-closes
    (SHUT_WR); meanwhile reads the echo until EOF. Returns what came back."""
    errors = []

    def sender():
        try:
            rng = random.Random(seed)
            view = memoryview(data)
            off = 0
            while off < len(data):
                n = rng.randint(1, 8192)
                sock.sendall(view[off:off + n])
                off += n
            sock.shutdown(socket.SHUT_WR)
        except Exception as e:  # reported by the reader
            errors.append(e)
    t = threading.Thread(target=sender, daemon=True)
    t.start()
    try:
        got = recv_all(sock)
    finally:
        t.join(TIMEOUT)
    if errors:
        raise errors[0]
    if t.is_alive():
        raise AssertionError("sender did not finish")
    return got


def stream_sha(sock, data, piece=65536):
    """One thread sends data (then SHUT_WR) while this one reads to EOF;
    returns (sent_sha256, received_sha256, received_length)."""
    sent = hashlib.sha256()
    errors = []

    def sender():
        try:
            view = memoryview(data)
            for off in range(0, len(data), piece):
                chunk = view[off:off + piece]
                sent.update(chunk)
                sock.sendall(chunk)
            sock.shutdown(socket.SHUT_WR)
        except Exception as e:
            errors.append(e)
    t = threading.Thread(target=sender, daemon=True)
    t.start()
    got = hashlib.sha256()
    length = 0
    try:
        while True:
            b = sock.recv(262144)
            if not b:
                break
            got.update(b)
            length += len(b)
    finally:
        t.join(TIMEOUT)
    if errors:
        raise errors[0]
    if t.is_alive():
        raise AssertionError("sender did not finish")
    return sent.hexdigest(), got.hexdigest(), length


def tcp_client(host, port, timeout=TIMEOUT):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def unix_address(path):
    """Python's address for a --unix PATH: '@name' is abstract ('\\0name')."""
    return "\0" + path[1:] if path.startswith("@") else path


def unix_client(path, kind=socket.SOCK_STREAM, timeout=TIMEOUT):
    s = socket.socket(socket.AF_UNIX, kind)
    s.settimeout(timeout)
    try:
        if kind == socket.SOCK_STREAM:
            s.connect(unix_address(path))
    except BaseException:
        s.close()
        raise
    return s


def closed_by_peer(sock):
    """How a client saw its server go: 'eof', 'reset', or what else."""
    try:
        while True:
            b = sock.recv(65536)
            if not b:
                return "eof"
    except (ConnectionResetError, BrokenPipeError):
        return "reset"
    except socket.timeout:
        return "timeout"


def udp_round_trips(test, sock, dest, datagrams, attempt_timeout=1.0, max_tries=20):
    """Sends each datagram, waits for its reply, resends on a timeout (UDP may
    drop). A late reply to an earlier datagram (after a resend) is skipped;
    any other reply fails the test. Returns (replies, retries, duplicates)."""
    answered = set()
    replies = []
    retries = duplicates = 0
    sock.settimeout(attempt_timeout)
    for d in datagrams:
        for attempt in range(max_tries):
            if attempt:
                retries += 1
            sock.sendto(d, dest)
            try:
                while True:
                    r = sock.recv(65536)
                    if r == d:
                        break
                    if r in answered:
                        duplicates += 1
                        continue
                    test.fail("a reply that is no datagram sent: %r..." % r[:40])
                break
            except socket.timeout:
                continue
        else:
            test.fail("no reply to datagram %r... after %d tries" % (d[:14], max_tries))
        answered.add(d)
        replies.append(r)
    return replies, retries, duplicates


def udp_datagrams(n, big_every=250):
    """n distinct datagrams of varied sizes (a few near the 64 KiB limit)."""
    grams = []
    for i in range(n):
        size = 65000 if i % big_every == big_every - 1 else 16 + (i * 37) % 1500
        grams.append(payload(i, size))
    return grams


# --------------------------------------------------------------------------- the base

class ServerTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="usock-srv-")
        self.addCleanup(self.tmp.cleanup)  # runs last: the servers stop first

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def start(self, mode, *args):
        """Starts `usock echo --mode MODE ARGS`; stopped at cleanup by PID."""
        p = Process([USOCK, "echo", "--mode", mode, *MODE_ARGS.get(mode, []), *args],
                    timeout=TIMEOUT)
        self.addCleanup(stop_process, p)
        return p

    def tcp_server(self, mode, *args, bind="127.0.0.1"):
        """Starts a TCP (or with --udp, UDP) echo; returns (proc, port) after
        its "listening on ADDR:PORT" line."""
        p = self.start(mode, "-b", bind, "-p", "0", *args)
        addr = p.listening()
        want = "[%s]" % bind if ":" in bind else bind
        m = re.fullmatch(r"(.+):(\d+)", addr)
        self.assertIsNotNone(m, addr)
        self.assertEqual(m.group(1), want, addr)
        port = int(m.group(2))
        self.assertGreater(port, 0)
        return p, port

    def unix_server(self, mode, path, *args):
        p = self.start(mode, "--unix", path, *args)
        self.assertEqual(p.listening(), path)
        return p

    def stop(self, p):
        """SIGTERM: the server must exit 0 within TIMEOUT, and have written
        nothing to stderr but its "listening on" line (no handler error, no
        sanitizer report). Returns its stderr."""
        os.kill(p.p.pid, signal.SIGTERM)
        try:
            rc = p.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail("server pid %d still running %d s after SIGTERM; stderr %r"
                      % (p.p.pid, TIMEOUT, bytes(p.err)))
        err = bytes(p.err)
        self.assertEqual(rc, 0, err)
        lines = err.decode("utf-8", "replace").splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("listening on "), err)
        return err

    def assert_alive(self, p):
        self.assertIsNone(p.p.poll(), "server exited: %r" % bytes(p.err))


# --------------------------------------------------------------------------- TCP

class TestTcp(ServerTest):
    def concurrent_clients(self, open_sock, n, size):
        """n clients in threads connect, all wait until every one is
        connected, then each sends its own payload in pieces, half-closes and
        reads its echo to EOF. Returns {i: outcome}: True for an exact echo."""
        barrier = threading.Barrier(n, timeout=QUEUED_TIMEOUT)
        results = {}

        def client(i):
            try:
                data = payload(i, size + 61 * i)
                with open_sock() as s:
                    barrier.wait()
                    got = exchange_in_pieces(s, data, seed=i)
                    results[i] = True if got == data else (
                        "echo of %d bytes differs from the %d sent" % (len(got), len(data)))
            except Exception as e:
                barrier.abort()
                results[i] = repr(e)
        threads = [threading.Thread(target=client, args=(i,), daemon=True)
                   for i in range(n)]
        for t in threads:
            t.start()
        alive = join_all(threads)
        self.assertEqual(alive, [], "client threads still running")
        return results

    def test_hundred_concurrent_clients(self):
        # Sequential serves one at a time, forking 40 and the pool 8 at once:
        # the others wait in the backlog (1024), and every one is served.
        n = 100
        for mode in MODES:
            with self.subTest(mode=mode):
                p, port = self.tcp_server(mode)
                results = self.concurrent_clients(
                    lambda: tcp_client("127.0.0.1", port, QUEUED_TIMEOUT), n, 64 * 1024)
                self.assertEqual({i: r for i, r in results.items() if r is not True}, {})
                self.assertEqual(len(results), n)
                self.assert_alive(p)
                self.stop(p)

    def test_ten_megabytes(self):
        data = os.urandom(MB10)
        for mode in MODES:
            with self.subTest(mode=mode):
                p, port = self.tcp_server(mode)
                with tcp_client("127.0.0.1", port) as s:
                    sent, got, length = stream_sha(s, data)
                self.assertEqual(length, MB10)
                self.assertEqual(got, sent)
                self.assertEqual(sent, hashlib.sha256(data).hexdigest())
                self.stop(p)

    def test_upper(self):
        # ASCII letters only: the other bytes (UTF-8, Latin-1, controls,
        # '`{|}[@') go back as they came, as with Python's bytes.upper().
        data = (b"Hello, World! abc\xc3\xa9\xe9xyz \x00\x7f{|}`@[az AZ\n"
                + bytes(range(256))) * 500
        want = data.upper()
        self.assertNotEqual(want, data)
        for mode in MODES:
            with self.subTest(mode=mode):
                p, port = self.tcp_server(mode, "--upper")
                with tcp_client("127.0.0.1", port) as s:
                    self.assertEqual(exchange_in_pieces(s, data, seed=1), want)
                self.stop(p)

    def test_ipv6(self):
        if not have_ipv6():
            self.skipTest("no IPv6 loopback")
        for mode in MODES:
            with self.subTest(mode=mode):
                p, port = self.tcp_server(mode, bind="::1")
                data = payload(6, 100000)
                with tcp_client("::1", port) as s:
                    self.assertEqual(s.getpeername()[:2], ("::1", port))
                    self.assertEqual(exchange_in_pieces(s, data, seed=6), data)
                self.stop(p)

    def test_dual_stack(self):
        # "-b ::" takes IPv4 clients too (as ::ffff:127.0.0.1).
        if not have_ipv6():
            self.skipTest("no IPv6 loopback")
        for mode in MODES:
            with self.subTest(mode=mode):
                p, port = self.tcp_server(mode, bind="::")
                for host in ("127.0.0.1", "::1"):
                    data = payload(4 if host == "127.0.0.1" else 6, 50000)
                    with tcp_client(host, port) as s:
                        self.assertEqual(exchange_in_pieces(s, data, seed=len(host)), data,
                                         host)
                self.stop(p)

    def test_sigterm_mid_echo(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                p, port = self.tcp_server(mode)
                stop_mid_echo(self, p, lambda: tcp_client("127.0.0.1", port), mode)


def stop_mid_echo(test, p, open_sock, mode, n=20):
    """n clients connect and keep echoing (send a piece, read it back) until
    the server goes; once every one the mode serves at once has had an echo,
    the server gets SIGTERM. It must exit 0 within TIMEOUT (test.stop), and
    every client must see its connection closed (EOF or reset), none left
    hanging or given wrong bytes."""
    clients = []
    for _ in range(n):
        clients.append(open_sock())
        test.addCleanup(clients[-1].close)
    echoed = [threading.Event() for _ in range(n)]
    outcome = [None] * n

    def client(i):
        s = clients[i]
        piece = (b"%02d" % i) * 2048
        try:
            while True:
                s.sendall(piece)
                got = b""
                while len(got) < len(piece):
                    b = s.recv(len(piece) - len(got))
                    if not b:
                        outcome[i] = "eof"
                        return
                    got += b
                if got != piece:
                    outcome[i] = "wrong echo"
                    return
                echoed[i].set()
                time.sleep(0.005)  # keeps the load moderate
        except (ConnectionResetError, BrokenPipeError):
            outcome[i] = "reset"
        except socket.timeout:
            outcome[i] = "timeout"
        except OSError as e:
            outcome[i] = repr(e)
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    served = min(n, AT_ONCE.get(mode, n))
    deadline = time.monotonic() + QUEUED_TIMEOUT
    while sum(e.is_set() for e in echoed) < served and time.monotonic() < deadline:
        time.sleep(0.01)
    test.assertGreaterEqual(sum(e.is_set() for e in echoed), served,
                            "clients echoed before the stop: %s" % outcome)
    test.assertEqual([o for o in outcome if o is not None], [],
                     "clients ended before the stop")
    test.stop(p)
    alive = join_all(threads, TIMEOUT + 5)
    test.assertEqual(alive, [], "clients still connected after the server exited")
    test.assertEqual([o for o in outcome if o not in ("eof", "reset")], [], outcome)


# --------------------------------------------------------------------------- UDP

class TestUdp(ServerTest):
    def test_thousand_datagrams(self):
        # Every mode takes UDP (forking: a process per datagram).
        grams = udp_datagrams(1000)
        self.assertEqual(len(set(grams)), 1000)
        for mode in MODES:
            with self.subTest(mode=mode):
                p, port = self.tcp_server(mode, "--udp")
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    replies, retries, dups = udp_round_trips(self, s, ("127.0.0.1", port),
                                                             grams)
                self.assertEqual(replies, grams)
                self.assertEqual(len(set(replies)), 1000)
                if retries:
                    print("\n  udp %s: %d resends, %d late duplicates"
                          % (mode, retries, dups), file=sys.stderr)
                self.stop(p)

    def test_upper(self):
        grams = [b"the seed's UDP server", b"MiXeD 123 \xff\xe9 az{}", b""]
        for mode in MODES:
            with self.subTest(mode=mode):
                p, port = self.tcp_server(mode, "--udp", "--upper")
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.settimeout(TIMEOUT)
                    for g in grams:
                        s.sendto(g, ("127.0.0.1", port))
                        self.assertEqual(s.recv(65536), g.upper())
                self.stop(p)

    def test_ipv6_and_dual_stack(self):
        if not have_ipv6():
            self.skipTest("no IPv6 loopback")
        for mode in MODES:
            with self.subTest(mode=mode):
                p6, port6 = self.tcp_server(mode, "--udp", bind="::1")
                pd, portd = self.tcp_server(mode, "--udp", bind="::")
                cases = [(socket.AF_INET6, "::1", port6), (socket.AF_INET6, "::1", portd),
                         (socket.AF_INET, "127.0.0.1", portd)]
                for i, (fam, host, port) in enumerate(cases):
                    with socket.socket(fam, socket.SOCK_DGRAM) as s:
                        s.settimeout(TIMEOUT)
                        g = payload(i, 3000)
                        s.sendto(g, (host, port))
                        data, frm = s.recvfrom(65536)
                        self.assertEqual(data, g, (host, port))
                        self.assertEqual(frm[:2], (host, port))  # from where it went
                self.stop(p6)
                self.stop(pd)


# --------------------------------------------------------------------------- Unix

class TestUnix(ServerTest):
    def abstract_name(self, what):
        return "@usock-test-%s-%d-%d" % (what, os.getpid(), time.monotonic_ns())

    def stream_clients(self, path, n=10, size=40000):
        results = {}

        def client(i):
            try:
                data = payload(i, size + 101 * i)
                with unix_client(path) as s:
                    got = exchange_in_pieces(s, data, seed=i)
                results[i] = got == data
            except Exception as e:
                results[i] = repr(e)
        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        self.assertEqual(join_all(threads), [])
        self.assertEqual(results, {i: True for i in range(n)})

    def test_stream(self):
        for mode in UNIX_MODES:
            with self.subTest(mode=mode):
                path = self.path("stream-" + mode)
                p = self.unix_server(mode, path)
                self.assertTrue(os.path.exists(path))
                self.stream_clients(path)
                with unix_client(path) as s:
                    sent, got, length = stream_sha(s, os.urandom(2 * 1000 * 1000))
                self.assertEqual((got, length), (sent, 2 * 1000 * 1000))
                self.stop(p)
                self.assertFalse(os.path.exists(path), "socket file left behind")

    def test_stream_upper(self):
        for mode in UNIX_MODES:
            with self.subTest(mode=mode):
                path = self.path("upper-" + mode)
                p = self.unix_server(mode, path, "--upper")
                with unix_client(path) as s:
                    self.assertEqual(exchange_in_pieces(s, b"unix hello \xe9" * 3000, 3),
                                     b"UNIX HELLO \xe9" * 3000)
                self.stop(p)

    def datagrams(self, server_addr, client_addr, n=100):
        """From a client socket bound to client_addr (a datagram client needs
        a name to get replies): n datagrams, each answered with itself, from
        the server's address."""
        with unix_client(None, socket.SOCK_DGRAM) as c:
            c.bind(client_addr)
            c.settimeout(TIMEOUT)
            for i in range(n):
                g = payload(i, 30000 if i % 25 == 0 else 10 + 13 * i)
                c.sendto(g, server_addr)
                data, frm = c.recvfrom(65536)
                self.assertEqual(data, g)
                self.assertEqual(frm, server_addr if isinstance(frm, str)
                                 else server_addr.encode())
            c.sendto(b"", server_addr)  # an empty datagram is one too
            self.assertEqual(c.recv(100), b"")

    def test_datagram(self):
        for mode in UNIX_MODES:
            with self.subTest(mode=mode):
                path = self.path("dgram-" + mode)
                p = self.unix_server(mode, path, "--udp")
                self.datagrams(path, self.path("client-" + mode))
                self.stop(p)
                self.assertFalse(os.path.exists(path), "socket file left behind")

    def test_abstract_stream(self):
        for mode in UNIX_MODES:
            with self.subTest(mode=mode):
                name = self.abstract_name("s-" + mode)
                p = self.unix_server(mode, name)
                self.stream_clients(name, n=5, size=20000)
                self.stop(p)
                with self.assertRaises((ConnectionRefusedError, FileNotFoundError)):
                    unix_client(name).close()  # the name went with the server

    def test_abstract_datagram(self):
        for mode in UNIX_MODES:
            with self.subTest(mode=mode):
                name = self.abstract_name("d-" + mode)
                p = self.unix_server(mode, name, "--udp")
                self.datagrams(unix_address(name),
                               unix_address(self.abstract_name("c-" + mode)), n=30)
                self.stop(p)

    def test_sigterm_mid_echo(self):
        for mode in UNIX_MODES + ["sequential", "poll"]:
            with self.subTest(mode=mode):
                path = self.path("stop-" + mode)
                p = self.unix_server(mode, path)
                stop_mid_echo(self, p, lambda: unix_client(path), mode)
                self.assertFalse(os.path.exists(path), "socket file left behind")


if __name__ == "__main__":
    if not os.access(USOCK, os.X_OK):
        print("usock not built: %s (set USOCK_BIN_DIR)" % USOCK, file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=2)
