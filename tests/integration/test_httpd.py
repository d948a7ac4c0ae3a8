"""Integration tests of `usock serve` (the httpd layer) with Python's
http.client and urllib, raw sockets, and curl when it is installed.

Runs under ctest as `python3 -u tests/integration/test_httpd.py`, with
USOCK_BIN_DIR set to the build directory. Loopback and a temporary
directory only; every socket operation has a timeout; every server started
is stopped by its PID (SIGTERM, then SIGKILL after a bound), even when a
test fails.
"""

import email.utils
import re
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import Process, recv_all  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("USOCK_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BIN_DIR = os.environ.get("USOCK_BIN_DIR", os.path.join(SOURCE_DIR, "build"))
USOCK = os.path.join(BIN_DIR, "tools", "usock")
TIMEOUT = 10
CURL = shutil.which("curl")




class ServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="usock-httpd-")
        cls.outside = tempfile.mkdtemp(prefix="usock-httpd-out-")
        with open(os.path.join(cls.root, "a.txt"), "wb") as f:
            f.write(b"0123456789")
        cls.big = os.urandom(300000)
        with open(os.path.join(cls.root, "big.bin"), "wb") as f:
            f.write(cls.big)
        os.mkdir(os.path.join(cls.root, "sub"))
        with open(os.path.join(cls.root, "sub", "x <&>.txt"), "wb") as f:
            f.write(b"x")
        with open(os.path.join(cls.outside, "secret.txt"), "wb") as f:
            f.write(b"secret")
        os.symlink(os.path.join(cls.outside, "secret.txt"), os.path.join(cls.root, "escape"))
        cls.log = os.path.join(cls.outside, "access.log")
        cls.proc = Process([USOCK, "serve", cls.root, "-p", "0", "-w", "2", "--log", cls.log])
        addr = cls.proc.listening()
        cls.host, port = addr.rsplit(":", 1)
        cls.port = int(port)

    @classmethod
    def tearDownClass(cls):
        cls.proc.stop()
        shutil.rmtree(cls.root, ignore_errors=True)
        shutil.rmtree(cls.outside, ignore_errors=True)

    def conn(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)

    def raw(self):
        return socket.create_connection((self.host, self.port), timeout=TIMEOUT)

    def get(self, path, headers=None, method="GET"):
        c = self.conn()
        try:
            c.request(method, path, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def test_keepalive_reuse(self):
        c = self.conn()
        c.request("GET", "/a.txt")
        r = c.getresponse()
        self.assertEqual(r.read(), b"0123456789")
        sock = c.sock
        for _ in range(5):
            c.request("GET", "/a.txt")
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.read(), b"0123456789")
            self.assertIs(c.sock, sock)  # the same connection
        c.close()

    def test_pipelining(self):
        s = self.raw()
        req = b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
        s.sendall(req * 2 + b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = recv_all(s)
        s.close()
        statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
        self.assertEqual(statuses, [b"200", b"200", b"404"])

    def test_static_and_head(self):
        st, h, body = self.get("/big.bin")
        self.assertEqual(st, 200)
        self.assertEqual(body, self.big)
        st, h, body = self.get("/big.bin", method="HEAD")
        self.assertEqual(st, 200)
        self.assertEqual(h["Content-Length"], str(len(self.big)))
        self.assertEqual(body, b"")
        with urllib.request.urlopen("http://%s:%d/a.txt" % (self.host, self.port),
                                    timeout=TIMEOUT) as r:
            self.assertEqual(r.read(), b"0123456789")
            self.assertTrue(r.headers["Content-Type"].startswith("text/plain"))

    def test_range(self):
        st, h, body = self.get("/big.bin", {"Range": "bytes=1000-1999"})
        self.assertEqual(st, 206)
        self.assertEqual(body, self.big[1000:2000])
        self.assertEqual(h["Content-Range"], "bytes 1000-1999/%d" % len(self.big))
        st, h, body = self.get("/a.txt", {"Range": "bytes=-4"})
        self.assertEqual((st, body), (206, b"6789"))
        st, h, body = self.get("/a.txt", {"Range": "bytes=50-"})
        self.assertEqual(st, 416)
        self.assertEqual(h["Content-Range"], "bytes */10")

    def test_conditional(self):
        st, h, _ = self.get("/a.txt")
        st2, _, body = self.get("/a.txt", {"If-None-Match": h["ETag"]})
        self.assertEqual((st2, body), (304, b""))
        st3, _, _ = self.get("/a.txt", {"If-Modified-Since": h["Last-Modified"]})
        self.assertEqual(st3, 304)
        old = email.utils.formatdate(0, usegmt=True)
        st4, _, body = self.get("/a.txt", {"If-Modified-Since": old})
        self.assertEqual((st4, body), (200, b"0123456789"))

    def test_file_cache_follows_changes(self):
        """The file cache never serves what a file no longer is: each
        request sees the file's current bytes, size and ETag."""
        path = os.path.join(self.root, "changing.txt")
        outside = os.path.join(self.outside, "secret.txt")
        with open(path, "wb") as f:
            f.write(b"first")
        seen = set()
        for body in (b"first", b"FIRST", b"a longer second", b"3" * 70000, b"x"):
            if body != b"first":
                with open(path, "wb") as f:
                    f.write(body)
            for _ in range(2):  # the second from the cache
                st, h, got = self.get("/changing.txt")
                self.assertEqual((st, got), (200, body))
                self.assertEqual(h["Content-Length"], str(len(body)))
            seen.add(h["ETag"])
            st, _, got = self.get("/changing.txt", {"Range": "bytes=-1"})
            self.assertEqual((st, got), (206, body[-1:]))
        self.assertEqual(len(seen), 5)  # a new ETag for each version
        # replaced by a symlink out of the root: refused, not served
        os.unlink(path)
        os.symlink(outside, path)
        self.assertEqual(self.get("/changing.txt")[0], 403)
        os.unlink(path)
        self.assertEqual(self.get("/changing.txt")[0], 404)
        # renamed over (a new inode, same size and, maybe, same mtime)
        with open(path, "wb") as f:
            f.write(b"one")
        self.assertEqual(self.get("/changing.txt")[2], b"one")
        tmp = path + ".new"
        with open(tmp, "wb") as f:
            f.write(b"two")
        st = os.stat(path)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.rename(tmp, path)
        self.assertEqual(self.get("/changing.txt")[2], b"two")
        os.unlink(path)

    def test_listing(self):
        st, h, body = self.get("/sub/")
        self.assertEqual(st, 200)
        self.assertIn(b'href="x%20%3C%26%3E.txt"', body)
        self.assertIn(b"x &lt;&amp;&gt;.txt", body)
        st, h, _ = self.get("/sub")
        self.assertEqual((st, h["Location"]), (301, "/sub/"))

    def test_errors(self):
        for req, want in [
                (b"GET / HTTP/1.1\r\n\r\n", b"400"),
                (b"GET / HTTP/2.5\r\nHost: x\r\n\r\n", b"505"),
                (b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"414"),
                (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                 b"501"),
                (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 200 + b"\r\n", b"431"),
                (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
                 b"413")]:
            s = self.raw()
            s.sendall(req)
            data = recv_all(s)  # answered, then closed
            s.close()
            self.assertTrue(data.startswith(b"HTTP/1.1 " + want), (want, data[:60]))
        st, _, _ = self.get("/nope")
        self.assertEqual(st, 404)
        st, h, _ = self.get("/a.txt", method="DELETE")
        self.assertEqual(st, 405)

    def test_413_while_sending(self):
        # The answer comes while the client still sends its body, and is
        # not lost to a reset when the server closes.
        s = self.raw()
        s.sendall(b"PUT /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000\r\n\r\n")
        try:
            s.sendall(b"z" * 300000)
        except OSError:
            pass
        data = recv_all(s)
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 413 "), data[:40])

    def test_traversal(self):
        for path in ["/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                     "/sub/..%2f..%2fetc%2fpasswd", "/escape", "/%2E%2E/"]:
            s = self.raw()
            s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
            data = recv_all(s)
            s.close()
            status = data.split(b" ")[1]
            self.assertIn(status, (b"400", b"403", b"404"), path)
            self.assertNotIn(b"secret", data)
            self.assertNotIn(b"root:", data)

    def test_chunked_upload(self):
        # The CLI's routes are static files: an upload is read whole, then
        # refused with 405, and the connection serves on.
        c = self.conn()
        c.request("POST", "/a.txt", body=iter([b"hello ", b"world"]),
                  encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 405)
        c.request("GET", "/a.txt")
        self.assertEqual(c.getresponse().read(), b"0123456789")
        c.close()

    def test_status_page(self):
        st, h, body = self.get("/_status")
        self.assertEqual(st, 200)
        self.assertIn(b"<svg", body)
        self.assertIn(b"/_status.json", body)
        st, h, body = self.get("/_status.json")
        self.assertEqual(st, 200)
        self.assertIn(b'"rps"', body)

    @unittest.skipUnless(CURL, "curl not installed")
    def test_curl(self):
        base = "http://%s:%d" % (self.host, self.port)

        def curl(*args):
            return subprocess.run([CURL, "-s", "--http1.1", "--max-time", str(TIMEOUT)]
                                  + list(args), capture_output=True, timeout=TIMEOUT * 2)
        self.assertEqual(curl(base + "/a.txt").stdout, b"0123456789")
        self.assertEqual(curl("-r", "2-5", base + "/a.txt").stdout, b"2345")
        r = curl("-o", "/dev/null", "-w", "%{http_code}", "-z", "Tue, 01 Jan 2999 00:00:00 GMT",
                 base + "/a.txt")
        self.assertEqual(r.stdout, b"304")
        r = curl("-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "@" +
                 os.path.join(self.root, "a.txt"), base + "/a.txt")
        self.assertEqual(r.stdout, b"405")
        # two URLs: one connection, kept alive
        r = curl("-v", base + "/a.txt", base + "/a.txt")
        self.assertIn(b"Re-using existing connection", r.stderr.replace(b"Reusing", b"Re-using"))

    def test_zz_access_log(self):
        self.get("/a.txt?x=1")
        with open(self.log, "rb") as f:
            text = f.read()
        self.assertRegex(text, rb'127\.0\.0\.1 - - \[[^]]+\] "GET /a\.txt\?x=1 HTTP/1\.1" 200 10')


class ServeCliTest(unittest.TestCase):
    def test_usage_errors(self):
        for args in (["-p", "x"], ["-w", "0"], ["--bogus"], ["a", "b"], ["-b", "nohost", "-p", "0"]):
            r = subprocess.run([USOCK, "serve"] + args, capture_output=True, timeout=TIMEOUT)
            self.assertEqual(r.returncode, 2, args)
            self.assertEqual(len(r.stderr.splitlines()), 1)

    def test_missing_dir(self):
        r = subprocess.run([USOCK, "serve", "/nonexistent/dir", "-p", "0"],
                           capture_output=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.splitlines()), 1)

    def test_port_in_use(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            r = subprocess.run([USOCK, "serve", "-p", str(port)], capture_output=True,
                               timeout=TIMEOUT)
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"Address already in use", r.stderr)
            self.assertEqual(len(r.stderr.splitlines()), 1)

    def test_graceful_stop(self):
        d = tempfile.mkdtemp(prefix="usock-httpd-")
        try:
            with open(os.path.join(d, "big.bin"), "wb") as f:
                f.write(b"z" * 5000000)
            p = Process([USOCK, "serve", d, "-p", "0", "-q", "--no-status"])
            try:
                host, port = p.listening().rsplit(":", 1)
                idle = socket.create_connection((host, int(port)), timeout=TIMEOUT)
                busy = socket.create_connection((host, int(port)), timeout=TIMEOUT)
                busy.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                first = busy.recv(100)  # the response has begun
                self.assertTrue(first.startswith(b"HTTP/1.1 200"))
                c = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
                c.request("GET", "/_status")
                self.assertEqual(c.getresponse().status, 404)  # --no-status
                c.close()
                os.kill(p.p.pid, signal.SIGTERM)
                rest = recv_all(busy)  # the in-flight response is finished
                head, _, body = (first + rest).partition(b"\r\n\r\n")
                self.assertIn(b"Content-Length: 5000000", head)
                self.assertEqual(len(body), 5000000)
                self.assertEqual(recv_all(idle), b"")  # the idle one is closed
                self.assertEqual(p.wait(), 0)
                self.assertEqual(p.err.decode().count("\n"), 1)  # -q: no log
                idle.close()
                busy.close()
            finally:
                p.stop()
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
