"""What the integration tests share: the programs under test as background
processes, free ports, and Python peers (TCP and UDP servers) on loopback.

Imported by test_cli.py and test_examples.py, which ctest runs as
`python3 -u tests/integration/test_x.py`: the script's own directory is on
sys.path, so `import peers` finds this file. Named without the test_ prefix
so that tests/CMakeLists.txt's test_*.py glob leaves it out.

Everything is on loopback (127.0.0.1, ::1) or on Unix sockets in a temporary
directory; every blocking call is bounded by TIMEOUT; every process started
is killed by its PID.
"""

import os
import queue
import re
import signal
import socket
import socketserver
import subprocess
import sys
import threading

TIMEOUT = 60  # bound on any one wait of the helpers below


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

    srv = Server((host, 0), Handler)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    test.addCleanup(srv.server_close)
    test.addCleanup(srv.shutdown)
    return srv.server_address[1]


def udp_upper_server(test, host="127.0.0.1"):
    """The seeds' UDP server (Python's UDPServer): replies to each datagram
    with it upper-cased. Returns the port; closed at the test's cleanup."""
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            sock.sendto(data.upper(), self.client_address)

    class Server(socketserver.UDPServer):
        address_family = family_of(host)

    srv = Server((host, 0), Handler)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    test.addCleanup(srv.server_close)
    test.addCleanup(srv.shutdown)
    return srv.server_address[1]
