"""Soak test of `usock serve`: 1000 keep-alive clients and 200 slowloris
clients at once for 20 seconds, from one Python thread with selectors.

Runs under ctest as `python3 -u tests/integration/test_httpd_soak.py`, with
USOCK_BIN_DIR set to the build directory. Checks that during the soak every
keep-alive connection keeps getting correct answers (200, the file's
bytes); that the server closes every slowloris connection (a request head
that never ends) once its header timeout (10 s) has passed, with a 408 or
without a word; and that afterwards, all clients gone, the server answers a
new request promptly and holds as many descriptors as it did idle before
the soak.

Loopback only; every wait is bounded; the server is stopped by its PID
(SIGTERM, then SIGKILL after a bound), even when the test fails. The test
raises its own RLIMIT_NOFILE soft limit to the hard limit before it starts
the server, which inherits it; it is skipped when the hard limit is too low
for 1200 connections on both sides.
"""

import errno
import heapq
import os
import random
import resource
import selectors
import shutil
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import Process  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("USOCK_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BIN_DIR = os.environ.get("USOCK_BIN_DIR", os.path.join(SOURCE_DIR, "build"))
USOCK = os.path.join(BIN_DIR, "tools", "usock")

KEEPALIVE = 1000          # keep-alive connections, requesting over and over
SLOWLORIS = 200           # connections that send a request head one byte a second
SOAK = 20.0               # seconds of soak
THINK = 0.4               # a keep-alive client waits up to this long between requests
DRIP = 1.0                # a slowloris client sends a byte this often
HEADER_TIMEOUT = 10.0     # the server's default: the whole head within 10 s of its first byte
EARLIEST_CLOSE = 8.0      # a slowloris closed sooner than this was not the header timeout
CONNECT_BOUND = 10.0      # a connection not established within this is a failure
PROMPT = 5.0              # "promptly": the bound on the request after the soak
FD_BOUND = 10.0           # the bound on the descriptors' return to the idle count
NEED_FDS = 1400           # hard RLIMIT_NOFILE below this: skipped

BODY = b"soak test body\n" * 8
PATH = "/small.txt"
REQUEST = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: usock-soak\r\n\r\n"
           % PATH).encode()
# The slowloris head: this much, then "a" for ever; it never ends with a blank line.
SLOW_HEAD = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " % PATH).encode()

HARD_NOFILE = resource.getrlimit(resource.RLIMIT_NOFILE)[1]




def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Conn:
    """One client connection's state."""

    def __init__(self, kind, index):
        self.kind = kind          # "ka" or "slow"
        self.index = index
        self.sock = None
        self.connected = False
        self.started = 0.0        # when connect() was called
        self.closed = False       # by us
        self.gone = None          # why the server ended it ("eof", "reset", ...)
        self.gone_at = None
        self.inbuf = b""
        self.out = b""            # bytes waiting to be sent
        self.waiting = False      # a keep-alive request is out, its answer not in
        self.answers = 0
        self.first_byte_at = None  # slowloris: when its first byte was sent
        self.sent = 0              # slowloris: bytes of the head sent
        self.got = b""             # slowloris: what the server sent, if anything


class Soak:
    """The clients: an event loop over selectors with timers."""

    def __init__(self, port):
        self.port = port
        self.sel = selectors.DefaultSelector()
        self.timers = []          # heap of (when, seq, fn, conn)
        self.seq = 0
        self.conns = []
        self.errors = []          # keep-alive failures: bad answers, closes
        self.answered = 0
        self.answer_times = []    # (time, count) samples, to see answers all along

    # ---- plumbing

    def at(self, when, fn, conn):
        self.seq += 1
        heapq.heappush(self.timers, (when, self.seq, fn, conn))

    def watch(self, c, events):
        try:
            key = self.sel.get_key(c.sock)
        except KeyError:
            if events:
                self.sel.register(c.sock, events, c)
            return
        if not events:
            self.sel.unregister(c.sock)
        elif key.events != events:
            self.sel.modify(c.sock, events, c)

    def drop(self, c, why=None):
        """Ends c: the server's doing when why is given, else ours."""
        if c.sock is None:
            return
        self.watch(c, 0)
        c.sock.close()
        c.sock = None
        if why:
            c.gone = why
            c.gone_at = time.monotonic()
        else:
            c.closed = True

    def fail(self, c, what):
        self.errors.append("keep-alive #%d: %s" % (c.index, what))

    def open(self, kind, index):
        c = Conn(kind, index)
        c.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.sock.setblocking(False)
        c.started = time.monotonic()
        rc = c.sock.connect_ex(("127.0.0.1", self.port))
        if rc not in (0, errno.EINPROGRESS):
            raise OSError(rc, "connect %s #%d: %s" % (kind, index, os.strerror(rc)))
        self.conns.append(c)
        self.watch(c, selectors.EVENT_WRITE)
        return c

    def send(self, c, data):
        """Queues data and sends what the socket takes now."""
        c.out += data
        try:
            n = c.sock.send(c.out)
            c.out = c.out[n:]
        except BlockingIOError:
            pass
        except (ConnectionResetError, BrokenPipeError) as e:
            self.server_ended(c, "send: %s" % e.__class__.__name__)
            return
        self.watch(c, selectors.EVENT_READ | (selectors.EVENT_WRITE if c.out else 0))

    def server_ended(self, c, why):
        if c.kind == "ka":
            self.fail(c, "the server ended the connection (%s) after %d answers%s"
                      % (why, c.answers, ", a request unanswered" if c.waiting else ""))
        self.drop(c, why)

    # ---- events

    def on_connected(self, c):
        err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            what = "connect: %s" % os.strerror(err)
            if c.kind == "ka":
                self.fail(c, what)
            else:
                self.errors.append("slowloris #%d: %s" % (c.index, what))
            self.drop(c, what)
            return
        c.connected = True
        if c.kind == "ka":
            self.request(c)
        else:
            self.drip(c)

    def request(self, c):
        if c.sock is None or c.closed:
            return
        c.waiting = True
        self.send(c, REQUEST)

    def drip(self, c):
        if c.sock is None or c.closed:
            return
        i = c.sent
        byte = SLOW_HEAD[i:i + 1] if i < len(SLOW_HEAD) else b"a"
        if c.first_byte_at is None:
            c.first_byte_at = time.monotonic()
        c.sent += 1
        self.send(c, byte)
        if c.sock is not None:
            self.at(time.monotonic() + DRIP, self.drip, c)

    def on_readable(self, c):
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except ConnectionResetError:
            self.server_ended(c, "reset")
            return
        if not data:
            self.server_ended(c, "eof")
            return
        if c.kind == "slow":
            c.got += data
            return
        c.inbuf += data
        self.parse(c)

    def parse(self, c):
        """Takes the whole answers out of c.inbuf and checks them."""
        while True:
            end = c.inbuf.find(b"\r\n\r\n")
            if end < 0:
                if len(c.inbuf) > 65536:
                    self.fail(c, "a head over 64 KiB: %r" % c.inbuf[:200])
                    self.drop(c, "bad answer")
                return
            head = c.inbuf[:end].decode("latin-1").split("\r\n")
            fields = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            if "content-length" not in fields:
                self.fail(c, "an answer without Content-Length: %r" % head)
                self.drop(c, "bad answer")
                return
            n = int(fields["content-length"])
            if len(c.inbuf) < end + 4 + n:
                return
            body = c.inbuf[end + 4:end + 4 + n]
            c.inbuf = c.inbuf[end + 4 + n:]
            if not c.waiting:
                self.fail(c, "an answer to no request: %r" % head[0])
            elif not head[0].startswith("HTTP/1.1 200 "):
                self.fail(c, "status line %r" % head[0])
            elif body != BODY:
                self.fail(c, "a body of %d bytes that is not the file's" % len(body))
            else:
                c.answers += 1
                self.answered += 1
            c.waiting = False
            if c.sock is not None:
                self.at(time.monotonic() + random.uniform(0, THINK), self.request, c)

    # ---- the loop

    def run(self, until):
        """Runs the event loop until the monotonic time until."""
        sample = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= until:
                return
            if now >= sample:
                self.answer_times.append((now, self.answered))
                sample = now + 1.0
            while self.timers and self.timers[0][0] <= now:
                _, _, fn, c = heapq.heappop(self.timers)
                fn(c)
            wait = until - now
            if self.timers:
                wait = min(wait, max(0.0, self.timers[0][0] - now))
            for key, ev in self.sel.select(min(wait, 0.5)):
                c = key.data
                if c.sock is None:
                    continue
                if not c.connected:
                    if ev & selectors.EVENT_WRITE:
                        self.on_connected(c)
                    continue
                if ev & selectors.EVENT_READ:
                    self.on_readable(c)
                if c.sock is not None and ev & selectors.EVENT_WRITE:
                    self.send(c, b"")
            for c in self.conns:
                if (not c.connected and c.sock is not None
                        and time.monotonic() - c.started > CONNECT_BOUND):
                    what = "not connected within %.0f s" % CONNECT_BOUND
                    if c.kind == "ka":
                        self.fail(c, what)
                    else:
                        self.errors.append("slowloris #%d: %s" % (c.index, what))
                    self.drop(c, what)

    def close_all(self):
        for c in self.conns:
            self.drop(c)
        self.sel.close()


@unittest.skipUnless(HARD_NOFILE >= NEED_FDS,
                     "the hard RLIMIT_NOFILE is %d: the soak needs at least %d descriptors "
                     "(raise it with ulimit -Hn)" % (HARD_NOFILE, NEED_FDS))
class SoakTest(unittest.TestCase):
    def setUp(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        self.root = tempfile.mkdtemp(prefix="usock-soak-")
        self.addCleanup(shutil.rmtree, self.root, True)
        with open(os.path.join(self.root, PATH.lstrip("/")), "wb") as f:
            f.write(BODY)
        # started after the limit is raised: it inherits it
        self.proc = Process([USOCK, "serve", self.root, "-p", "0", "-w", "2", "-q"])
        self.addCleanup(self.proc.stop)
        addr = self.proc.listening()
        self.port = int(addr.rsplit(":", 1)[1])
        self.pid = self.proc.p.pid

    def alive(self, when):
        rc = self.proc.p.poll()
        if rc is not None:
            self.fail("the server exited %s with status %d; stderr %r"
                      % (when, rc, bytes(self.proc.err)))

    def get(self, timeout):
        """One GET of the file on a new connection, closed after; the
        status line and the body."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                       % PATH).encode())
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        head, _, body = data.partition(b"\r\n\r\n")
        return head.split(b"\r\n", 1)[0].decode("latin-1"), body

    def idle_fds(self):
        """The server's descriptor count once it has stayed the same for a
        second (bounded)."""
        deadline = time.monotonic() + FD_BOUND
        last, since = fd_count(self.pid), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            n = fd_count(self.pid)
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= 1.0:
                break
        return last

    def test_soak(self):
        # The idle count: after one request (the workers run), its connection closed.
        status, body = self.get(PROMPT)
        self.assertEqual((status, body), ("HTTP/1.1 200 OK", BODY))
        idle = self.idle_fds()
        print("server pid %d: %d descriptors idle" % (self.pid, idle), file=sys.stderr)

        soak = Soak(self.port)
        self.addCleanup(soak.close_all)
        t0 = time.monotonic()
        ka = [soak.open("ka", i) for i in range(KEEPALIVE)]
        slow = [soak.open("slow", i) for i in range(SLOWLORIS)]
        soak.run(t0 + SOAK)
        t_end = time.monotonic()
        self.alive("during the soak")
        print("soak: %.1f s, %d answers on %d keep-alive connections (%.0f/s), server at %d "
              "descriptors" % (t_end - t0, soak.answered, KEEPALIVE,
                               soak.answered / (t_end - t0), fd_count(self.pid)),
              file=sys.stderr)

        # the keep-alive connections: all answered, correctly, all along
        self.assertEqual(soak.errors[:20], [], "%d failures" % len(soak.errors))
        unanswered = [c.index for c in ka if c.answers == 0]
        self.assertEqual(unanswered, [], "keep-alive connections never answered")
        self.assertGreaterEqual(soak.answered, 5 * KEEPALIVE)
        # in the soak's last 5 s the answers still came
        late = [n for (t, n) in soak.answer_times if t >= t_end - 5.0]
        self.assertTrue(late and soak.answered > late[0],
                        "no answers in the soak's last 5 s: %r" % soak.answer_times[-6:])
        self.assertTrue(all(c.sock is not None for c in ka))

        # the slowloris connections: each ended by the server after its header timeout
        still_open = [c.index for c in slow if c.gone is None]
        self.assertEqual(still_open, [], "slowloris connections still open after %.0f s"
                         % SOAK)
        lives = sorted(c.gone_at - c.first_byte_at for c in slow)
        got_408 = sum(1 for c in slow if c.got)
        print("slowloris: closed %.1f s to %.1f s after the first byte, %d with a 408, "
              "%d without a word; ends: %s"
              % (lives[0], lives[-1], got_408, SLOWLORIS - got_408,
                 sorted(set(c.gone for c in slow))), file=sys.stderr)
        self.assertGreaterEqual(lives[0], EARLIEST_CLOSE,
                                "a slowloris closed before the header timeout")
        for c in slow:
            if c.got:
                self.assertTrue(c.got.startswith(b"HTTP/1.1 408 "),
                                "slowloris #%d got %r" % (c.index, c.got[:200]))

        # all clients gone: a new request is answered promptly...
        soak.close_all()
        start = time.monotonic()
        status, body = self.get(PROMPT)
        print("after the soak: answered in %.3f s" % (time.monotonic() - start),
              file=sys.stderr)
        self.assertEqual((status, body), ("HTTP/1.1 200 OK", BODY))
        # ...and the descriptors return to the idle count
        deadline = time.monotonic() + FD_BOUND
        n = fd_count(self.pid)
        while n != idle and time.monotonic() < deadline:
            time.sleep(0.1)
            n = fd_count(self.pid)
        print("after the soak: %d descriptors in %.1f s" % (n, time.monotonic() - start),
              file=sys.stderr)
        self.assertEqual(n, idle, "the server's descriptors did not return to the idle "
                         "count within %.0f s: %s" % (FD_BOUND, sorted(
                             os.readlink("/proc/%d/fd/%s" % (self.pid, f))
                             for f in os.listdir("/proc/%d/fd" % self.pid))[:40]))
        self.alive("after the soak")


if __name__ == "__main__":
    unittest.main(verbosity=2)
