#!/usr/bin/env python3
"""convert.py -- turns the HTTP vectors copied here into line files that
tests/unit/test_http.c reads (no JSON or Markdown parser in C). Run it by hand
after changing the copies; its output is committed:

  llhttp_cases.txt   every llhttp case (request/*.md, response/*.md)
  json_vectors.txt   picohttpparser, nginx-tests and hostile-input vectors

llhttp_cases.txt, one case per block:
  C <id> <title>          id = request/sample.md#3 (3rd case of that file)
  T <meta type>           request, response, request-lenient-..., ...
  F <flags>               comma list: noscan, pause, skipbody, finish, or -
  I <hex>                 the input bytes
  M <method-hex|-> <url-hex|-> <status> <complete 0/1> <body-hex|->
                          one line per message the log begins (in order)
  E <code> <off>          the log ends with an error (llhttp code, offset)
  .
json_vectors.txt, one vector per line:
  V <id> <kind> <expect> <statuses> <hex> <body-hex|->
    kind: req, res, reshead (response to HEAD), chunked (a chunked body)
    expect: ok, err, more (a proper prefix: need more), skip:<reason>
    statuses: comma list of acceptable usock_http_error_status values, or -
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def hx(b):
    return b.hex() if b else "-"


def md_input(lines):
    text = "\n".join(lines)
    text = re.sub(r"\\\n", "", text)  # a backslash at end of line joins lines
    text = text.replace("\n", "\r\n")
    out = []  # llhttp's md-test builds a string and sends it UTF-8 encoded
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            simple = {"r": 13, "n": 10, "t": 9, "f": 12}
            if n in simple:
                out.append(chr(simple[n]))
                i += 2
                continue
            m = re.match(r"x([0-9a-fA-F]{2})", text[i + 1:])
            if m:
                out.append(chr(int(m.group(1), 16)))
                i += 2 + len(m.group(0)) - 1
                continue
            m = re.match(r"[0-7]{1,3}", text[i + 1:])
            if m:
                out.append(chr(int(m.group(0), 8) & 0xFF))
                i += 1 + len(m.group(0))
                continue
        out.append(c)
        i += 1
    return "".join(out).encode("utf-8")


SPAN = re.compile(r'^off=(\d+) len=(\d+) span\[(\w+)\]=')


def parse_log(lines, data, cid):
    msgs, err = [], None
    cur = None
    for ln in lines:
        m = SPAN.match(ln)
        if m:
            off, n, kind = int(m.group(1)), int(m.group(2)), m.group(3)
            piece = data[off:off + n]
            q = ln[m.end():]
            if q.startswith('"') and q.endswith('"') and "\\" not in q and q[1:-1].encode("utf-8") != piece:
                sys.exit("%s: span %r does not match input %r" % (cid, q, piece))
            if cur is None:
                continue
            if kind in ("method", "url", "body", "status", "version"):
                cur[kind] += piece
            if kind == "header_field" and piece.lower() == b"host":
                cur["host"] = 1
            continue
        m = re.match(r"^off=(\d+|NULL) (.*)$", ln)
        if not m:
            continue
        off, what = int(m.group(1)) if m.group(1) != "NULL" else -1, m.group(2)
        if what == "message begin":
            cur = {"method": b"", "url": b"", "body": b"", "status": b"", "version": b"",
                   "code": 0, "complete": 0, "host": 0, "vc": None}
            msgs.append(cur)
        elif what == "version complete" and cur is not None:
            cur["vc"] = off
        elif what.startswith("headers complete"):
            s = re.search(r"status=(\d+)", what)
            if s and cur is not None:
                cur["code"] = int(s.group(1))
        elif what == "message complete" and cur is not None:
            cur["complete"] = 1
        elif what.startswith("error code="):
            c = re.match(r"error code=(\d+)", what)
            err = (int(c.group(1)), off)
        elif what == "finish=1" and msgs and msgs[-1]["code"] and not err:
            msgs[-1]["complete"] = 1  # finish ends a close-framed response
    return msgs, err


def add_host(data, msgs):
    """usock rejects an HTTP/1.1 request without Host (RFC 9112 s3.2),
    which llhttp's cases seldom have: insert "Host: h" after each such
    request line. Spans were already taken from the original input."""
    added = 0
    for m in reversed(msgs):
        vc = m["vc"]
        if m["version"] == b"1.1" and not m["host"] and vc is not None and data[vc:vc + 2] == b"\r\n":
            data = data[:vc + 2] + b"Host: h\r\n" + data[vc + 2:]
            added = 1
    return data, added


def convert_md(out):
    n = 0
    for kind in ("request", "response"):
        d = os.path.join(HERE, "llhttp", kind)
        for name in sorted(os.listdir(d)):
            if not name.endswith(".md"):
                continue
            lines = open(os.path.join(d, name), encoding="utf-8").read().split("\n")
            title, meta, idx, i = "", None, 0, 0
            while i < len(lines):
                ln = lines[i]
                if ln.startswith("#"):
                    title = ln.lstrip("#").strip()
                elif ln.startswith("<!-- meta="):
                    meta = json.loads(ln[len("<!-- meta="):ln.rindex("-->")].strip())
                elif ln.startswith("```http") and meta is not None:
                    j = i + 1
                    while not lines[j].startswith("```"):
                        j += 1
                    data = md_input(lines[i + 1:j])
                    k = j + 1
                    while not lines[k].startswith("```log"):
                        k += 1
                    e = k + 1
                    while not lines[e].startswith("```"):
                        e += 1
                    idx += 1
                    cid = "%s/%s#%d" % (kind, name, idx)
                    msgs, err = parse_log(lines[k + 1:e], data, cid)
                    flags = []
                    if kind == "request":
                        data, added = add_host(data, msgs)
                        if added:
                            flags.append("host")
                    if meta.get("noScan"):
                        flags.append("noscan")
                    if meta.get("pause"):
                        flags.append("pause")
                    if meta.get("skipBody"):
                        flags.append("skipbody")
                    out.write("C %s %s\n" % (cid, title))
                    out.write("T %s\n" % meta["type"])
                    out.write("F %s\n" % (",".join(flags) or "-"))
                    out.write("I %s\n" % hx(data))
                    for m in msgs:
                        out.write("M %s %s %d %d %s\n" % (hx(m["method"]), hx(m["url"]), m["code"],
                                                          m["complete"], hx(m["body"])))
                    if err:
                        out.write("E %d %d\n" % err)
                    out.write(".\n")
                    n += 1
                    meta = None
                    i = e
                i += 1
    return n


def gen(v):
    if isinstance(v, dict) and "generate" in v:
        g = v["generate"]
        rep = g.get("repeat", "")
        body = "".join(rep.replace("{i}", str(i)) for i in range(g.get("times", 0)))
        v = g.get("prefix", "") + body + g.get("suffix", "")
    return v.encode("latin-1")


def status_expect(st):
    """A hostile vector's expected status -> (expect, statuses)."""
    if isinstance(st, int):
        return ("ok", "-") if st < 400 else ("err", str(st))
    s = str(st)
    if s.startswith("accept"):
        return "ok", "-"
    codes = re.findall(r"\b([45]\d\d)\b", s)
    if codes and not re.search(r"\baccept\b|treat as", s):
        return "err", ",".join(dict.fromkeys(codes))
    return "skip:judgement_(%s)" % s[:40].replace(" ", "_"), "-"


def convert_json(out):
    n = 0
    p = json.load(open(os.path.join(HERE, "derived", "picohttpparser_vectors.json")))
    for i, v in enumerate(p["vectors"], 1):
        api, exp = v["api"], v["expect"]
        data = bytes.fromhex(v["input_hex"])
        e = {"complete": "ok", "error": "err", "incomplete": "more"}[exp]
        body = "-"
        if api == "phr_parse_request":
            kind = "req"
        elif api == "phr_parse_response":
            kind = "res"
        elif api == "phr_decode_chunked":
            kind = "chunked"
            if exp == "complete":
                body = hx(v.get("decoded", "").encode("latin-1"))
            if exp == "complete" and not v.get("consume_trailer"):
                # picohttpparser stops before the trailer section; a message
                # parser must read through it: treat as a prefix.
                e = "skip:pico_stops_before_trailers_(consume_trailer=0)"
        else:
            kind, e = "req", "skip:phr_parse_headers_parses_a_header_block_alone"
        out.write("V pico#%d %s %s - %s %s\n" % (i, kind, e, hx(data), body))
        n += 1
    g = json.load(open(os.path.join(HERE, "derived", "nginx_tests_vectors.json")))
    for group in ("host", "transfer_encoding", "method", "max_headers", "expect"):
        for i, v in enumerate(g[group], 1):
            x = v["expect"]
            st = x.get("status", x.get("interim_status"))
            e, sts = status_expect(st)
            out.write("V nginx.%s#%d req %s %s %s -\n" % (group, i, e, sts, hx(gen(v["request"]))))
            n += 1
    h = json.load(open(os.path.join(HERE, "derived", "http_hostile_inputs.json")))
    for v in h["server_request_vectors"]:
        x = v["expect"]
        if "status" in x:
            e, sts = status_expect(x["status"])
        else:
            e, sts = "skip:server_behaviour_(%s)" % ",".join(sorted(x)), "-"
        body = hx(x["body"].encode()) if e == "ok" and "body" in x else "-"
        out.write("V hostile.%s req %s %s %s %s\n" % (v["id"], e, sts, hx(gen(v["input"])), body))
        n += 1
    for v in h["client_response_vectors"]:
        x = v["expect"]
        ctx = v.get("request_context", "GET")
        kind = "reshead" if ctx == "HEAD" else "res"
        body = "-"
        if "error" in x:
            e = "err"
        elif "body" in x and isinstance(x["body"], str) and not x["body"].startswith("read until"):
            e, body = "ok", hx(x["body"].encode())
        elif "body" in x:
            e = "ok"
        else:
            e = "skip:client_behaviour_(%s)" % ",".join(sorted(x))
        out.write("V hostile.%s %s %s - %s %s\n" % (v["id"], kind, e, hx(gen(v["response"])), body))
        n += 1
    return n


def main():
    with open(os.path.join(HERE, "llhttp_cases.txt"), "w") as out:
        out.write("# Generated by convert.py from llhttp/*/*.md; do not edit.\n")
        a = convert_md(out)
    with open(os.path.join(HERE, "json_vectors.txt"), "w") as out:
        out.write("# Generated by convert.py from derived/*.json; do not edit.\n")
        b = convert_json(out)
    print("llhttp cases: %d, json vectors: %d" % (a, b))


if __name__ == "__main__":
    main()
