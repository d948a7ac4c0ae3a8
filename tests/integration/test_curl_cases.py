"""curl's own HTTP test cases, run data-driven against `usock get` (issue 7).

Each case file of the project's shared test data (shared/testdata/curl/tests/
testNNNN, curl's tests/data format: curl/FILEFORMAT.md) that applies to
HTTP/1.1 GET/POST/HEAD, redirects with -L, -u auth, cookies, -i/-I, --fail
and -d is run the way curl's runtests.pl runs it, with `usock get` in place
of curl:

- a small server on 127.0.0.1 (this file's CaseServer, after curl's sws)
  reads each request and answers it with the case's <reply><data> verbatim
  (its macros and crlf="headers" applied as runtests does), <dataN> chosen
  by the number at the end of the request's path as sws chooses it
  (/want/110002 -> test 11, part 2), `swsbounce`, `swsclose`, <postcmd>
  wait and <servercmd> writedelay/skip honoured;
- the case's <command> has its curl flags mapped to usock get's; a case
  with a flag usock get lacks is skipped, and why is recorded;
- the outcome is compared: the exit status's class (0, 22 with --fail, or 1
  for each of curl's network and protocol errors, whose kind is checked in
  the one-line message: a timeout, too many redirects, a truncated body, a
  malformed answer...), the body bytes where curl's test checks its output
  (<datacheck>, <data> or <stdout>, with the heads that runtests'
  --include adds taken out), and from <protocol> each request's method and
  target and its Authorization and Cookie fields (credentials and cookies
  across redirects).

It prints "curl cases: N applicable, P pass, ..." with every failure and
skip and its reason, and fails unless every applicable case passes, but
those in tests/data/curl/deviations.txt (each with its reason).

Runs under ctest with USOCK_BIN_DIR set; by hand:

    USOCK_BIN_DIR=build python3 -u tests/integration/test_curl_cases.py [-v] [--case 11 ...]

--case runs the cases named (and prints each one's command line and
outcome); --with-curl runs the installed curl in usock get's place, which
checks this harness (the server, the expectations) against the client the
cases were written for: curl 7.88.1 passes all but the error messages'
wording and the cases whose outcome changed in later curl versions.

The case files are found in $USOCK_CURL_TESTDATA, else in tests/data/curl
(copied verbatim from the shared test data, see tests/data/README.md), else
in ../shared/testdata/curl; the test is skipped when they are absent.
"""

import base64
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("USOCK_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BIN_DIR = os.environ.get("USOCK_BIN_DIR", os.path.join(SOURCE_DIR, "build"))
USOCK = os.path.join(BIN_DIR, "tools", "usock")
DEVIATIONS = os.path.join(SOURCE_DIR, "tests", "data", "curl", "deviations.txt")


def curl_dir():
    for d in (os.environ.get("USOCK_CURL_TESTDATA"),
              os.path.join(SOURCE_DIR, "tests", "data", "curl"),
              os.path.join(SOURCE_DIR, "..", "shared", "testdata", "curl")):
        if d and os.path.isdir(os.path.join(d, "tests")):
            return os.path.abspath(d)
    return None


TIMEOUT = 30        # bound on one case's usock get (the slowest case waits 10 s)
IO_TIMEOUT = 15     # the server's bound on any one socket wait
MAX_WAIT = 10       # <postcmd> wait N: at most this many seconds
VERSION = "8.0.0"   # %VERSION: what curl would put in its User-Agent (never compared)

# ---------------------------------------------------------------------------- the mapping

# curl flags usock get has, with the same meaning: curl's spelling -> usock's.
FLAGS = {"-L": "-L", "--location": "-L", "-i": "-i", "--include": "-i",
         "-I": "-I", "--head": "-I", "-f": "--fail", "--fail": "--fail",
         "-s": "-s", "--silent": "-s", "--compressed": "--compressed"}
VALUE_FLAGS = {"-u": "-u", "--user": "-u", "-H": "-H", "--header": "-H", "-X": "-X",
               "--request": "-X", "-d": "-d", "--data": "-d", "--data-ascii": "-d",
               "--max-redirs": "--max-redirs", "-b": "-b", "--cookie": "-b",
               "-c": "-c", "--cookie-jar": "-c", "-o": "-o", "--output": "-o",
               # total time vs usock's per-step timeout: the same outcome for a
               # server that stalls (the only use in these cases)
               "-m": "-t", "--max-time": "-t"}
# curl flags that change nothing of the transfer or of what is compared:
# dropped (the reason is noted with the case).
DROPPED = {"-S": "-S only shows errors with -s", "--show-error": "",
           "--http1.1": "usock get speaks HTTP/1.1 only",
           "--no-http0.9": "usock get never takes HTTP/0.9 answers (curl's default too)",
           "-v": "verbose output is not compared", "--verbose": ""}
DROPPED_VALUE = {"-D": "the dumped head's file is not compared",
                 "--dump-header": "the dumped head's file is not compared"}
# features a case may require (curl's <features>) that usock get has
FEATURES = {"cookies", "HTTP-auth", "libz", "http"}
# sws commands understood here
SERVERCMDS = {"writedelay", "skip", "swsclose"}

# curl's exit status -> what usock get's one-line message must say (a
# regex, case-insensitive) for the error to be of the same kind; usock
# exits 1 for all of them.
ERROR_KINDS = {
    1: r"malformed response|unsupported",          # unsupported protocol (HTTP/0.9...)
    3: r"url",                                     # URL malformed
    7: r"refused|connect",                         # could not connect
    8: r"malformed response|invalid http",         # weird server reply
    18: r"truncated",                              # partial file
    28: r"timed out",                              # operation timed out
    47: r"too many http redirects|redirect loop",  # too many redirects
    52: r"without a response",                     # empty reply from server
    56: r"chunk|truncated|reset",                  # failure receiving network data
    61: r"transfer.encoding|transfer coding",      # bad content or transfer encoding
    100: r"too large|too long|too many|malformed",  # a header too large
}

# ---------------------------------------------------------------------------- the case files


def preprocess(text, num, port, logdir):
    """runtests' preprocessing: variables, %b64[]b64%, %hex[]hex%,
    %repeat[]%, then the whitespace and XML macros."""
    variables = {"TESTNUMBER": str(num), "HOSTIP": "127.0.0.1", "HTTPPORT": str(port),
                 "VERSION": VERSION, "LOGDIR": logdir, "PWD": logdir, "FILE_PWD": logdir,
                 "SRCDIR": logdir, "USER": "user", "DEV_NULL": os.devnull,
                 "CLIENTIP": "127.0.0.1", "HOST6IP": "[::1]", "CLIENT6IP": "[::1]",
                 "NOLISTENPORT": "47", "HTTPSPORT": "1", "PROXYPORT": "1", "FTPPORT": "1",
                 "HTTP6PORT": "1", "DATE": time.strftime("%Y-%m-%d")}
    names = sorted(variables, key=len, reverse=True)
    text = re.sub("%(" + "|".join(names) + ")", lambda m: variables[m.group(1)], text)

    def unhex(s):
        return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), s)
    text = re.sub(r"%b64\[(.*?)\]b64%",
                  lambda m: base64.b64encode(unhex(m.group(1)).encode("latin-1"))
                  .decode("ascii"), text, flags=re.S)
    text = re.sub(r"%hex\[(.*?)\]hex%", lambda m: unhex(m.group(1)), text, flags=re.S)
    text = re.sub(r"%repeat\[(\d+) x (.*?)\]%", lambda m: unhex(m.group(2)) * int(m.group(1)),
                  text, flags=re.S)
    for macro, value in (("%CR", "\r"), ("%SP", " "), ("%TAB", "\t"), ("%AMP", "&"),
                         ("%GT", ">"), ("%LT", "<")):
        text = text.replace(macro, value)
    return text


def section(text, name, inside=None):
    """(content, attributes) of <name ...>...</name> (in <inside> when
    given), or (None, {}). The content is its lines, each with its newline,
    as runtests' getpart gives them."""
    if inside:
        text = section(text, inside)[0] or ""
    m = re.search(r"^[ \t]*<%s(\s[^>]*)?>[ \t]*\n(.*?)^[ \t]*</%s>" % (name, name), text,
                  re.S | re.M)
    if not m:
        return None, {}
    return m.group(2), dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))


def sections(text, prefix, inside):
    """{name: (content, attrs)} of every <prefixN> section in <inside>."""
    block = section(text, inside)[0] or ""
    out = {}
    for m in re.finditer(r"^[ \t]*<(%s\d*)(\s[^>]*)?>[ \t]*\n" % prefix, block, re.M):
        out[m.group(1)] = section(block, m.group(1))
    return out


def newlines(content, attrs):
    """crlf="yes"/"headers" and nonewline="yes", as runtests applies them."""
    crlf = attrs.get("crlf")
    if crlf:
        lines = content.splitlines(keepends=True)
        prev = False
        for i, line in enumerate(lines):
            if crlf == "yes":
                lines[i] = re.sub(r"\r*\n$", "\r\n", line)
                continue
            # runtests' subnewlines: what looks like a head line gets CRLF,
            # and the empty line after one
            if (re.match(r"^HTTP/(1\.1|1\.0|2|3) [1-5][^\r]*\n?$", line) or
                    re.match(r"^(GET|POST|PUT|DELETE) \S+ HTTP/\d+(\.\d+)?", line) or
                    (re.match(r"^[a-z0-9_-]+: [^\r]*\n?$", line, re.I) and
                     not re.match(r"^curl: \(\d+\) ", line))):
                lines[i] = re.sub(r"\r*\n$", "\r\n", line)
                prev = True
            else:
                if line == "\n" and prev:
                    lines[i] = "\r\n"
                prev = False
        content = "".join(lines)
    if attrs.get("nonewline") == "yes" and content.endswith("\n"):
        content = content[:-1]
    return content.encode("latin-1")


class Case:
    """One case file, preprocessed for a port and a log directory."""

    def __init__(self, path):
        self.path = path
        self.num = int(re.sub(r"\D", "", os.path.basename(path)))
        with open(path, encoding="latin-1") as f:
            self.raw = f.read()
        self.name = (section(self.raw, "name", "client")[0] or "").strip()

    def prepare(self, port, logdir):
        t = self.text = preprocess(self.raw, self.num, port, logdir)
        self.parts = {name: newlines(c, a) for name, (c, a) in
                      sections(t, "data", "reply").items() if not name.startswith("datacheck")}
        servercmd = section(t, "servercmd", "reply")[0] or ""
        self.servercmd = {}
        for line in servercmd.splitlines():
            word, _, rest = line.strip().partition(" ")
            if word:
                self.servercmd[word.rstrip(":")] = rest.strip()
        postcmd = section(t, "postcmd", "reply")[0] or ""
        m = re.search(r"^wait (\d+)", postcmd, re.M)
        self.postwait = min(int(m.group(1)), MAX_WAIT) if m else 0
        cmd, self.cmd_attrs = section(t, "command", "client")
        self.command = " ".join(line.strip() for line in (cmd or "").splitlines())
        self.files = []
        for m in re.finditer(r"^[ \t]*<(file\d?)\s[^>]*>", section(t, "client")[0] or "", re.M):
            content, attrs = section(section(t, "client")[0], m.group(1))
            if "name" in attrs:
                self.files.append((attrs["name"], newlines(content, attrs)))
        err = (section(t, "errorcode", "verify")[0] or "0").strip()
        self.errorcodes = [int(x) for x in err.split(",") if x.strip()] or [0]
        self.expected_output = self.output_check()
        proto, attrs = section(t, "protocol", "verify")
        self.protocol = newlines(proto, attrs) if proto is not None else None
        strip = section(t, "strip", "verify")[0] or ""
        self.strip = [re.compile(s.encode("latin-1")) for s in strip.splitlines() if s.strip()]

    def output_check(self):
        """(where, bytes): what runtests compares the output with, as curl
        wrote it ("stdout" or the --output file "out"), or None."""
        t = self.text
        stdout, attrs = section(t, "stdout", "verify")
        if stdout is not None:
            return "stdout", newlines(stdout, attrs) if stdout.strip() != "%EMPTY" else b""
        checks = sections(t, "datacheck", "reply")
        if checks:
            return "out", b"".join(newlines(*checks[n]) for n in sorted(checks))
        data, attrs = section(t, "data", "reply")
        if data is not None and attrs.get("nocheck") != "yes":
            return "out", newlines(data, attrs)
        return None

    # ---- applicability

    def not_applicable(self):
        """Why the case does not apply to `usock get`, or None."""
        t = self.raw
        servers = (section(t, "server", "client")[0] or "").split()
        if servers != ["http"]:
            return "needs the servers %s" % (" ".join(servers) or "none")
        if section(t, "tool", "client")[0] is not None:
            return "runs a libcurl program (<tool>), not the curl tool"
        feats = (section(t, "features", "client")[0] or "").split()
        missing = [f for f in feats if not f.startswith("!") and f not in FEATURES]
        if missing:
            return "needs curl features %s" % " ".join(missing)
        if section(t, "command", "client")[1].get("type"):
            return "a %s script, not a command line" % section(t, "command", "client")[1]["type"]
        return None


def map_command(case):
    """(usock get's arguments, notes) or raises ValueError(why not)."""
    try:
        words = shlex.split(case.command)
    except ValueError as e:
        raise ValueError("the command does not parse: %s" % e)
    args, notes, i = [], [], 0
    while i < len(words):
        w = words[i]
        if w in FLAGS:
            args.append(FLAGS[w])
        elif w in VALUE_FLAGS:
            if i + 1 >= len(words):
                raise ValueError("%s without its value" % w)
            args += [VALUE_FLAGS[w], words[i + 1]]
            if w in ("-m", "--max-time"):
                notes.append("-m as -t (each step's bound)")
            i += 1
        elif w in ("--data-binary",):
            v = words[i + 1]
            args += ["--data-file", v[1:]] if v.startswith("@") else ["-d", v]
            i += 1
        elif w in DROPPED:
            notes.append("%s dropped" % w)
        elif w in DROPPED_VALUE:
            notes.append("%s %s dropped: %s" % (w, words[i + 1], DROPPED_VALUE[w]))
            i += 1
        elif w.startswith("-") and len(w) > 1:
            raise ValueError("usock get has no %s" % w)
        else:
            args.append(w)
        i += 1
    servercmd = set(case.servercmd) - SERVERCMDS - {"Testnum"}
    if servercmd:
        raise ValueError("the server commands %s" % " ".join(sorted(servercmd)))
    return args, notes


# ---------------------------------------------------------------------------- the server

class CaseServer:
    """curl's sws for one case: reads each request and answers it with a
    <dataN> section as it is. Every request is kept (.requests: head bytes
    and body); every wait is bounded; stop() closes everything."""

    def __init__(self):
        self.ls = socket.create_server(("127.0.0.1", 0))
        self.ls.settimeout(0.2)
        self.port = self.ls.getsockname()[1]
        self.requests = []
        self.connections = 0
        self.errors = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.conns = []
        self.threads = []
        self.prev = None  # (test, part) of the last answer that said swsbounce

    def start(self, case):
        self.case = case
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)

    def stop(self):
        self.stopping.set()
        self.ls.close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        for t in self.threads:
            t.join(IO_TIMEOUT)

    def _accept(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(IO_TIMEOUT)
            with self.lock:
                self.connections += 1
                self.conns.append(c)
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, c):
        buf = b""
        try:
            while not self.stopping.is_set():
                while b"\r\n\r\n" not in buf:
                    more = c.recv(65536)
                    if not more:
                        return
                    buf += more
                head, buf = buf.split(b"\r\n\r\n", 1)
                body, buf = self._read_body(c, head, buf)
                with self.lock:
                    self.requests.append((head, body))
                if not self._answer(c, head):
                    return
        except (OSError, ValueError) as e:
            if not self.stopping.is_set() and not isinstance(e, (ConnectionError, socket.timeout)):
                self.errors.append(repr(e))
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _read_body(self, c, head, buf):
        m = re.search(rb"\r\ncontent-length:[ \t]*(\d+)", head, re.I)
        if m:
            n = int(m.group(1)) - int(self.case.servercmd.get("skip", "0") or 0)
            while len(buf) < n:
                more = c.recv(65536)
                if not more:
                    break
                buf += more
            return buf[:max(n, 0)], buf[max(n, 0):]
        if re.search(rb"\r\ntransfer-encoding:[^\r]*chunked", head, re.I):
            while not re.search(rb"(^|\r\n)0\r\n(.*?\r\n)?\r\n", buf, re.S):
                more = c.recv(65536)
                if not more:
                    break
                buf += more
            m = re.search(rb"(^|\r\n)0\r\n(.*?\r\n)?\r\n", buf, re.S)
            end = m.end() if m else len(buf)
            return buf[:end], buf[end:]
        return b"", buf

    def part_for(self, target):
        """sws's choice: the number after the last '/' of the target
        (non-digits skipped); above 10000 it is test * 10000 + part."""
        doc = target.decode("latin-1")
        tail = doc[doc.rfind("/") + 1:] if "/" in doc else doc
        m = re.search(r"\d+", tail)
        testno, part = (int(m.group()), 0) if m else (self.case.num, 0)
        if testno > 10000:
            testno, part = testno // 10000, testno % 10000
        if self.prev and self.prev[0] == testno:
            part = self.prev[1] + 1  # swsbounce
        return testno, part

    def _answer(self, c, head):
        """Sends the answer; False when the connection is to be closed."""
        line = head.split(b"\r\n", 1)[0].split(b" ")
        testno, part = self.part_for(line[1] if len(line) > 1 else b"/")
        data = self.case.parts.get("data%s" % (part or "")) if testno == self.case.num else None
        if data is None:
            data = b"HTTP/1.1 404 No such part\r\nContent-Length: 0\r\n\r\n"
            self.errors.append("no data for test %d part %d" % (testno, part))
        self.prev = (testno, part) if b"swsbounce" in data else None
        delay = self.case.servercmd.get("writedelay")
        if delay and data:
            for i in range(0, len(data), 32):  # in pieces, a little apart
                c.sendall(data[i:i + 32])
                time.sleep(0.002)
        elif data:
            c.sendall(data)
        if self.case.postwait:
            self.stopping.wait(self.case.postwait)
        return bool(data) and b"swsclose" not in data and "swsclose" not in self.case.servercmd


def short(b, n=160):
    """b (bytes or text) cut to n characters for a message."""
    if isinstance(b, bytes):
        b = b.decode("latin-1")
    return b if len(b) <= n else b[:n] + "...(%d more)" % (len(b) - n)


# ---------------------------------------------------------------------------- running a case

# --with-curl: curl itself in usock get's place, to check this harness
# against the client the cases were written for (report only; curl's
# version decides some outcomes: the cases come from a newer curl).
REFERENCE_CURL = False


def client_argv(args):
    """The command line that runs the case: usock get, or curl (--with-curl)."""
    if not REFERENCE_CURL:
        return [USOCK, "get"] + args
    out, i = [shutil.which("curl") or "curl", "-q", "-s", "-S"], 0
    while i < len(args):
        if args[i] == "-t":
            out += ["-m", args[i + 1]]
            i += 2
        elif args[i] == "--data-file":
            out += ["--data-binary", "@" + args[i + 1]]
            i += 2
        else:
            out.append(args[i])
            i += 1
    return out


def strip_heads(out, chunked_trailers=True):
    """What remains of curl --include's output without the heads (and the
    trailers it writes after a chunked body): the bodies, in order.
    Returns (bodies joined, [heads])."""
    heads, bodies = [], []
    pos = 0
    status = re.compile(rb"HTTP/\d(\.\d+)? \d")
    while pos < len(out):
        if status.match(out, pos):
            m = re.compile(rb"\r?\n\r?\n").search(out, pos)
            end = m.end() if m else len(out)
            heads.append(out[pos:end])
            pos = end
            continue
        m = re.compile(rb"\nHTTP/\d(\.\d+)? \d").search(out, pos)
        end = m.start() + 1 if m else len(out)
        body = out[pos:end]
        if chunked_trailers and heads and re.search(rb"\ntransfer-encoding:[^\n]*chunked",
                                                    heads[-1], re.I):
            body = re.sub(rb"(?:[A-Za-z0-9-]+: [^\n]*\r\n)+\Z", b"", body)
        bodies.append(body)
        pos = end
    return b"".join(bodies), heads


def normal_head(head):
    """A head as (status line's code and reason, [(name, value)]), spaces
    trimmed, for comparing curl's raw head with usock's rebuilt one."""
    lines = re.split(rb"\r?\n", head.strip())
    status = lines[0].split(b" ", 1)[1].strip() if b" " in lines[0] else b""
    fields = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        fields.append((name.strip().lower(), b" ".join(value.split())))
    return status, fields


def split_requests(protocol):
    """<protocol> as [(request line, {field name lowercased: value})]."""
    reqs = []
    for m in re.finditer(rb"^([A-Z]+ \S+ HTTP/[\d.]+)\r?\n(.*?)\r?\n\r?\n", protocol, re.S | re.M):
        fields = {}
        for line in re.split(rb"\r?\n", m.group(2)):
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        reqs.append((m.group(1), fields))
    return reqs


class Result:
    def __init__(self, case):
        self.case = case
        self.status = None     # "pass", "fail", "skip"
        self.reasons = []
        self.notes = []


def run_case(case, verbose=False):
    r = Result(case)
    why = case.not_applicable()
    if why:
        r.status, r.reasons = "skip", [why]
        return r
    with tempfile.TemporaryDirectory() as logdir:
        srv = CaseServer()
        try:
            case.prepare(srv.port, logdir)
            try:
                args, r.notes = map_command(case)
            except ValueError as e:
                r.status, r.reasons = "skip", [str(e)]
                return r
            for name, content in case.files:
                os.makedirs(os.path.dirname(name) or ".", exist_ok=True)
                with open(name, "wb") as f:
                    f.write(content)
            out_file = os.path.join(logdir, "curl%d.out" % case.num)
            check = case.expected_output
            opt = case.cmd_attrs.get("option", "")
            if ("no-output" not in opt and (not check or check[0] != "stdout" or
                                            "force-output" in opt)):
                args = ["-o", out_file] + args  # runtests' --output: the first URL's body
            srv.start(case)
            t0 = time.monotonic()
            try:
                p = subprocess.run(client_argv(args), stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=TIMEOUT, cwd=logdir)
                rc, stdout, stderr = p.returncode, p.stdout, p.stderr
                if REFERENCE_CURL:  # curl's status as usock's class, its message as ours
                    stderr = b"usock: curl %d: %s" % (rc, b" ".join(stderr.split()))
                    rc = rc if rc in (0, 22) else 1
            except subprocess.TimeoutExpired:
                rc, stdout, stderr = None, b"", b""
            r.elapsed = time.monotonic() - t0
        finally:
            srv.stop()
        output = stdout
        if check and check[0] == "out":
            try:
                with open(out_file, "rb") as f:
                    output = f.read()
            except OSError:
                output = b""
        r.rc, r.stderr = rc, stderr
        judge(r, case, args, rc, stderr, output, srv)
    if verbose:
        print("test%d %s: %s %s" % (case.num, r.status,
                                      [short(a, 60) for a in args], r.reasons), file=sys.stderr)
    return r


def judge(r, case, args, rc, stderr, output, srv):
    msg = stderr.decode("utf-8", "replace").strip()
    want = case.errorcodes
    if rc is None:
        r.reasons.append("usock get did not end within %d s" % TIMEOUT)
    elif 0 in want or 22 in want:
        expect = 0 if 0 in want else 22
        if rc != expect:
            r.reasons.append("exit %s, curl's test wants %s (usock: %s); stderr: %s"
                             % (rc, want, expect, short(msg, 300) or "(empty)"))
    elif rc != 1:
        r.reasons.append("exit %s, curl's test wants the error %s (usock: 1)" % (rc, want))
    else:
        kinds = [ERROR_KINDS[w] for w in want if w in ERROR_KINDS]
        if REFERENCE_CURL:
            kinds = [r"curl %d:" % w for w in want]
        if kinds and not any(re.search(k, msg, re.I) for k in kinds):
            r.reasons.append("error %r is not of the kind of curl's %s" % (short(msg, 300), want))
        if msg.count("\n") != 0 or not msg.startswith("usock: "):
            r.reasons.append("not one message line: %r" % msg)
    # the body, where curl's test checks it (and the last head with -i/-I)
    # (curl's test checks the first URL's output; when a later one fails,
    # what curl wrote is not what a transfer that ended well writes)
    several = len([a for a in args if "://" in a]) > 1
    if (case.expected_output and rc is not None and not r.reasons and
            (0 in want or 22 in want or not several)):
        expected_body, expected_heads = strip_heads(case.expected_output[1])
        shows_heads = "-i" in args or "-I" in args
        got_body, got_heads = strip_heads(output) if shows_heads else (output, [])
        if got_body != expected_body:
            r.reasons.append("body %r, curl's test wants %r" % (short(got_body),
                                                               short(expected_body)))
        if shows_heads and expected_heads and (
                not got_heads or normal_head(got_heads[-1]) != normal_head(expected_heads[-1])):
            r.reasons.append("head %r, curl's test wants %r" % (
                got_heads[-1:] and got_heads[-1][:300], expected_heads[-1][:300]))
    # the requests: method and target, Authorization and Cookie
    if case.protocol is not None and rc is not None:
        expected = split_requests(case.protocol)
        got = []
        for head, body in srv.requests:
            lines = head.split(b"\r\n")
            fields = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                fields[name.strip().lower()] = value.strip()
            got.append((lines[0], fields))
        if [g[0] for g in got] != [e[0] for e in expected]:
            r.reasons.append("requests %r, curl's test wants %r"
                             % ([short(g[0], 100) for g in got],
                                [short(e[0], 100) for e in expected]))
        else:
            for (line, gf), (_, ef) in zip(got, expected):
                for name in (b"authorization", b"cookie"):
                    if any(s.search(name + b":") for s in case.strip):
                        continue
                    if gf.get(name) != ef.get(name):
                        r.reasons.append("%s: %s %r, curl's test wants %r" % (
                            line.decode("latin-1")[:80], name.decode(), gf.get(name),
                            ef.get(name)))
    if srv.errors:
        r.notes.append("server: " + "; ".join(srv.errors[:3]))
    r.status = "fail" if r.reasons else "pass"


# ---------------------------------------------------------------------------- the test

def load_deviations():
    """{"testN": reason} from tests/data/curl/deviations.txt."""
    out = {}
    with open(DEVIATIONS) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, _, reason = line.partition(" ")
            if not re.fullmatch(r"test\d+", name) or not reason.strip():
                raise AssertionError("%s: bad line %r (testN reason)" % (DEVIATIONS, line))
            out[name] = reason.strip()
    return out


def all_cases(only=None):
    d = curl_dir()
    files = sorted((f for f in os.listdir(os.path.join(d, "tests"))
                    if re.fullmatch(r"test\d+", f)), key=lambda f: int(f[4:]))
    cases = [Case(os.path.join(d, "tests", f)) for f in files]
    return [c for c in cases if not only or c.num in only]


def key(r):
    return "test%d" % r.case.num


def report(results, deviations):
    applicable = [r for r in results if r.status != "skip"]
    passed = [r for r in applicable if r.status == "pass"]
    failed = [r for r in applicable if r.status == "fail"]
    unexpected = [r for r in failed if key(r) not in deviations]
    lines = ["curl cases: %d case files, %d applicable, %d pass, %d fail (%d listed as "
             "deviations in %s), %d not applicable"
             % (len(results), len(applicable), len(passed), len(applicable) - len(passed),
                len([r for r in applicable if r.status == "fail" and key(r) in deviations]),
                os.path.basename(DEVIATIONS), len(results) - len(applicable))]
    for r in failed:
        tag = "deviation" if key(r) in deviations else "FAIL"
        lines.append("  %s %s (%s): %s" % (tag, key(r), r.case.name, " | ".join(r.reasons)))
        if key(r) in deviations:
            lines.append("      listed: %s" % deviations[key(r)])
    for r in applicable:
        if r.status == "pass" and key(r) in deviations:
            lines.append("  now passes, listed as a deviation: %s" % key(r))
    lines.append("  pass: " + " ".join(key(r) for r in passed))
    for r in results:
        if r.status == "skip":
            lines.append("  not applicable test%d (%s): %s" % (r.case.num, r.case.name,
                                                              r.reasons[0]))
    for r in applicable:
        if r.notes:
            lines.append("  note %s: %s" % (key(r), "; ".join(r.notes)))
    return "\n".join(lines), unexpected


class TestCurlCases(unittest.TestCase):
    only = None
    verbose = False

    def test_curl_cases(self):
        if not curl_dir():
            self.skipTest("curl's test cases (shared/testdata/curl) are not here; "
                          "set USOCK_CURL_TESTDATA")
        deviations = load_deviations()
        t0 = time.monotonic()
        results = [run_case(c, self.verbose) for c in all_cases(self.only)]
        text, unexpected = report(results, deviations)
        print("\n" + text + "\n  (%.1f s)" % (time.monotonic() - t0), file=sys.stderr)
        self.assertEqual([], ["%s: %s" % (key(r), " | ".join(r.reasons)) for r in unexpected])
        known = {"test%d" % c.num for c in all_cases()}
        self.assertEqual([], [k for k in deviations if k not in known],
                         "deviations that name no case file")


if __name__ == "__main__":
    if "--with-curl" in sys.argv:
        sys.argv.remove("--with-curl")
        REFERENCE_CURL = True
    if "--case" in sys.argv:
        i = sys.argv.index("--case")
        nums = []
        while i + 1 < len(sys.argv) and sys.argv[i + 1].isdigit():
            nums.append(int(sys.argv.pop(i + 1)))
        sys.argv.pop(i)
        TestCurlCases.only = set(nums)
        TestCurlCases.verbose = True
    unittest.main(verbosity=2)
