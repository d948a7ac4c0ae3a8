"""A browser test of `usock serve`'s live status page: headless Chromium
loads /_status, the page refreshes its chart from /_status.json every
second, and the chart must show the requests the test makes meanwhile.

Runs under ctest as `python3 -u tests/integration/test_httpd_browser.py`,
with USOCK_BIN_DIR set to the build directory; leaves a screenshot of the
page there (status.png). Drives chromedriver (Debian's chromium-driver)
directly over the W3C WebDriver HTTP API with urllib.request: no Selenium.
Skipped when /usr/bin/chromium or chromedriver is not installed.

Loopback only; every wait is bounded. The server and chromedriver are
stopped by their PIDs even when the test fails: the WebDriver session is
deleted first (chromedriver then ends its Chromium), then chromedriver is
sent SIGTERM, and last the process group it was started in (a new session
of ours: chromedriver and every Chromium process under it) gets SIGKILL.
"""

import base64
import http.client
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import Process, free_port  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("USOCK_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BIN_DIR = os.environ.get("USOCK_BIN_DIR", os.path.join(SOURCE_DIR, "build"))
USOCK = os.path.join(BIN_DIR, "tools", "usock")
SCREENSHOT = os.path.join(BIN_DIR, "status.png")

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") \
    else shutil.which("chromedriver")
MISSING = [what for what, ok in (("chromium (%s, Debian package chromium)" % CHROMIUM,
                                  os.path.exists(CHROMIUM)),
                                 ("chromedriver (Debian package chromium-driver)",
                                  CHROMEDRIVER is not None)) if not ok]

DRIVER_START = 30     # chromedriver answers /status within this
SESSION_START = 120   # Chromium starts (a loaded machine is slow) within this
COMMAND = 60          # any other WebDriver command
REFRESH_BOUND = 30    # the page shows the new figures within this
REQUESTS = 300        # requests the test makes while the page is open
NUMBER = r"-?\d+(?:\.\d+)?"

# What the page shows, read by the browser: the chart's markup, its points,
# its "max N/s" label, the table, and how many times the page has fetched
# /_status.json so far (its refreshes, from the Resource Timing entries).
SNAPSHOT = """
var line = document.getElementById('line'), chart = document.getElementById('chart');
function text(id) { var e = document.getElementById(id); return e ? e.textContent : null; }
return {
  title: document.title,
  svg: chart ? chart.outerHTML : null,
  points: line ? line.getAttribute('points') : null,
  max: text('max'), up: text('up'), open: text('open'), total: text('total'),
  req: text('req'),
  fetches: performance.getEntriesByType('resource').filter(function (e) {
    return /\\/_status\\.json$/.test(e.name); }).length
};
"""


class WebDriverError(AssertionError):
    pass


class Driver:
    """chromedriver in a process group of its own, and one session."""

    def __init__(self, test):
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.session = None
        self.profile = tempfile.mkdtemp(prefix="usock-chromium-")
        test.addCleanup(shutil.rmtree, self.profile, True)
        self.log = open(os.path.join(self.profile, "chromedriver.log"), "w+b")
        # Chromium's files (profile, caches, crash reports) under our directory:
        # its path in their command lines also names any process of ours that
        # left the group (Chromium's crashpad handlers call setsid).
        home = os.path.join(self.profile, "home")
        os.mkdir(home)
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
                   XDG_CACHE_HOME=os.path.join(home, ".cache"))
        self.p = subprocess.Popen(
            [CHROMEDRIVER, "--port=%d" % self.port, "--allowed-ips=127.0.0.1"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            env=env, start_new_session=True)
        test.addCleanup(self.stop)
        deadline = time.monotonic() + DRIVER_START
        while True:
            try:
                if self.call("GET", "/status", timeout=5).get("ready"):
                    break
            except (OSError, WebDriverError):
                pass
            if self.p.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("chromedriver did not start: %s" % self.output())
            time.sleep(0.2)

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-4000:].decode("utf-8", "replace")

    def call(self, method, path, body=None, timeout=COMMAND):
        """One WebDriver command; its "value"."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                answer = json.load(r)
        except urllib.error.HTTPError as e:
            try:
                value = json.load(e).get("value", {})
            except ValueError:
                value = {}
            raise WebDriverError("%s %s: HTTP %d %s: %s" % (
                method, path, e.code, value.get("error"), value.get("message")))
        return answer.get("value")

    def start(self):
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=900,700",
                         "--user-data-dir=" + os.path.join(self.profile, "profile"),
                         "--no-first-run", "--no-default-browser-check"]},
            "goog:loggingPrefs": {"browser": "ALL"}}}}
        value = self.call("POST", "/session", caps, timeout=SESSION_START)
        self.session = value["sessionId"]

    def cmd(self, method, what, body=None, timeout=COMMAND):
        return self.call(method, "/session/%s%s" % (self.session, what), body, timeout)

    def run(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def stop(self):
        """The session, then chromedriver, then whatever is left of its group."""
        try:
            if self.session:
                try:
                    self.cmd("DELETE", "", timeout=30)
                except Exception as e:
                    print("deleting the WebDriver session: %r" % e, file=sys.stderr)
                self.session = None
            if self.p.poll() is None:
                self.p.send_signal(signal.SIGTERM)
                # Not reaped yet: while chromedriver is a zombie its PID, the
                # group's ID, cannot be reused.
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not zombie(self.p.pid):
                    time.sleep(0.05)
            try:
                os.killpg(self.p.pid, signal.SIGKILL)  # the group start_new_session made
            except ProcessLookupError:
                pass
            self.p.wait(10)
            for pid in strays(self.profile):
                print("killing pid %d, a Chromium process that left the group" % pid,
                      file=sys.stderr)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        except Exception as e:  # cleanups report, they do not mask failures
            print("cleanup of chromedriver pid %d: %r" % (self.p.pid, e), file=sys.stderr)
        finally:
            self.log.close()


def strays(marker):
    """The PIDs of processes of this user whose command line holds marker
    (our temporary directory's path)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            if os.stat("/proc/" + name).st_uid != os.getuid():
                continue
            with open("/proc/%s/cmdline" % name, "rb") as f:
                if marker.encode() in f.read():
                    pids.append(int(name))
        except OSError:
            pass
    return pids


def zombie(pid):
    """True when pid has exited but is not reaped (or is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True




def chart(points, label):
    """The chart's (x, y) pairs, and the requests per second they stand
    for: the page draws y = 145 - v*140/max, max from its label."""
    pairs = [tuple(float(n) for n in p.split(",")) for p in points.split()]
    m = re.fullmatch(r"max (\d+)/s", label or "")
    top = int(m.group(1)) if m else None
    values = [(145 - y) * top / 140 for (x, y) in pairs] if top else None
    return pairs, top, values


@unittest.skipIf(MISSING, "not installed: %s (apt-get install chromium chromium-driver)"
                 % " and ".join(MISSING))
class StatusPageBrowserTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="usock-browser-")
        self.addCleanup(shutil.rmtree, self.root, True)
        with open(os.path.join(self.root, "a.txt"), "wb") as f:
            f.write(b"0123456789")
        self.proc = Process([USOCK, "serve", self.root, "-p", "0", "-w", "2", "-q"])
        self.addCleanup(self.proc.stop)
        self.port = int(self.proc.listening().rsplit(":", 1)[1])
        self.url = "http://127.0.0.1:%d/_status" % self.port

    def check_chart(self, snap, when):
        """The chart is whole: 60 points, x = 0, 10, ... 590, y within the
        box, a "max N/s" label."""
        self.assertIsNotNone(snap["points"], "%s: no polyline#line in %r" % (when, snap["svg"]))
        self.assertRegex(snap["points"], r"^(%s,%s)( %s,%s)*$" % ((NUMBER,) * 4),
                         "%s: points %r" % (when, snap["points"]))
        pairs, top, values = chart(snap["points"], snap["max"])
        self.assertEqual([x for x, _ in pairs], [10.0 * i for i in range(60)], when)
        for x, y in pairs:
            self.assertTrue(5 - 0.05 <= y <= 145, "%s: y %r out of the chart" % (when, y))
        self.assertIsNotNone(top, "%s: max label %r" % (when, snap["max"]))
        self.assertGreaterEqual(top, 1)
        return values, top

    def make_requests(self, n):
        """n GETs of a.txt on keep-alive connections, spread over about 2 s."""
        done = 0
        for batch in range(3):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                for _ in range(n // 3 if batch < 2 else n - 2 * (n // 3)):
                    conn.request("GET", "/a.txt")
                    r = conn.getresponse()
                    self.assertEqual((r.status, r.read()), (200, b"0123456789"))
                    done += 1
            finally:
                conn.close()
            if batch < 2:
                time.sleep(0.8)
        return done

    def test_status_page_refreshes(self):
        d = Driver(self)
        d.start()
        d.cmd("POST", "/url", {"url": self.url})
        d.run("performance.setResourceTimingBufferSize(10000); return 0;")
        before = d.run(SNAPSHOT)
        self.assertEqual(before["title"], "usock status")
        self.assertTrue(before["svg"] and before["svg"].startswith("<svg"), before["svg"])
        self.check_chart(before, "as loaded")
        req0 = int(before["req"])

        sent = self.make_requests(REQUESTS)
        t_sent = time.monotonic()

        # Two refreshes after the requests, and the chart shows them: their
        # seconds are whole seconds by then, which the chart draws.
        fetches0 = d.run(SNAPSHOT)["fetches"]
        deadline = time.monotonic() + REFRESH_BOUND
        while True:
            after = d.run(SNAPSHOT)
            values, top = self.check_chart(after, "refreshed")
            shown = sum(values)
            tolerance = 1 + 60 * 0.05 * top / 140  # the page rounds y to 0.1
            if (after["fetches"] >= fetches0 + 2 and int(after["req"]) >= req0 + sent
                    and shown >= sent - tolerance and time.monotonic() - t_sent >= 2):
                break
            if time.monotonic() > deadline:
                self.fail("within %d s the page did not show the %d requests: %d "
                          "refreshes, requests cell %r (was %d), chart sum %.1f; %r"
                          % (REFRESH_BOUND, sent, after["fetches"] - fetches0,
                             after["req"], req0, shown, after))
            time.sleep(0.25)
        print("page: %d refreshes since the requests, requests %s -> %s, chart %s, sum %.0f"
              % (after["fetches"] - fetches0, before["req"], after["req"], after["max"],
                 shown), file=sys.stderr)

        self.assertNotEqual(after["points"], before["points"])
        self.assertNotEqual(after["svg"], before["svg"])
        self.assertNotEqual(after["up"], before["up"])  # the uptime moved on too
        self.assertGreaterEqual(top, 2)  # some second had more than one request
        # whole numbers of requests per second, as the JSON has them
        for v in values:
            self.assertAlmostEqual(v, round(v), delta=0.05 * top / 140 + 1e-6)

        # nothing went wrong in the page's script
        try:
            logs = d.cmd("POST", "/se/log", {"type": "browser"})
        except WebDriverError as e:
            logs = None
            print("no browser log: %s" % e, file=sys.stderr)
        if logs is not None:
            severe = [e["message"] for e in logs if e.get("level") == "SEVERE"
                      and "favicon.ico" not in e.get("message", "")]
            self.assertEqual(severe, [], "errors in the page's console")

        png = base64.b64decode(d.cmd("GET", "/screenshot"))
        with open(SCREENSHOT, "wb") as f:
            f.write(png)
        with open(SCREENSHOT, "rb") as f:
            saved = f.read()
        self.assertGreater(len(saved), 1000)
        self.assertEqual(saved[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(saved[12:16], b"IHDR")
        width, height = struct.unpack(">II", saved[16:24])
        self.assertGreater(width, 0)
        self.assertGreater(height, 0)
        print("screenshot: %s, %d bytes, %dx%d" % (SCREENSHOT, len(saved), width, height),
              file=sys.stderr)
        self.assertIsNone(self.proc.p.poll(), "the server exited: %r" % bytes(self.proc.err))


if __name__ == "__main__":
    unittest.main(verbosity=2)
