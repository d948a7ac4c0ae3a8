#!/usr/bin/env python3
"""Makes curl-<version>.txt: the cookies.txt that real curl writes.

A tiny http.server on 127.0.0.1 answers GET /dir/page with the Set-Cookie
lines below; curl fetches it as www.example.com (--resolve), starting from
seed.txt (-b: a secure session cookie written by hand, which curl only
keeps from a file, and an expired one it drops), and saves its jar (-c).
test_cookies.c loads the result and saves it back line for line.

usage: python3 tests/data/cookies/generate.py   (needs curl on PATH)
"""
import http.server
import os
import subprocess
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))

SET_COOKIES = [
    "plain=1",                                           # host-only, default path /dir
    "dom=2; Domain=example.com; Path=/",                 # for subdomains
    "sub=3; Path=/dir/sub",
    "persist=4; Path=/; Expires=Fri, 01 Jan 2100 00:00:00 GMT",
    "ho=5; Path=/; HttpOnly",
    'quoted="a b"; Path=/',
    "empty=; Path=/",
    "gone=7; Path=/; Max-Age=0",                         # deleted at once
    "foreign=8; Domain=example.org",                     # refused: not the host's
]

SEED = ("www.example.com\tFALSE\t/\tTRUE\t0\tsec\t9\n"
        "www.example.com\tFALSE\t/\tFALSE\t1\texpired\t10\n")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        for c in SET_COOKIES:
            self.send_header("Set-Cookie", c)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    version = subprocess.run(["curl", "--version"], capture_output=True, text=True,
                             check=True).stdout.split()[1]
    with tempfile.TemporaryDirectory() as tmp:
        seed = os.path.join(tmp, "seed.txt")
        with open(seed, "w") as f:
            f.write(SEED)
        out = os.path.join(HERE, "curl-%s.txt" % version)
        subprocess.run(["curl", "-sS", "-o", "/dev/null", "-b", seed, "-c", out,
                        "--resolve", "www.example.com:%d:127.0.0.1" % port,
                        "http://www.example.com:%d/dir/page" % port], check=True)
    server.shutdown()
    print(out)


if __name__ == "__main__":
    main()
