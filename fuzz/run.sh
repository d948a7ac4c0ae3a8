#!/bin/sh
# fuzz/run.sh [seconds [harness...]] -- builds the libFuzzer harnesses
# (fuzz_inet, fuzz_http, fuzz_url by default) with clang, ASan and UBSan in
# their own build directory and runs each for that many seconds (default
# 600), then prints each one's execution count. One worker and one job per
# harness; USOCK_FUZZ_PARALLEL harnesses at once (default 1: the machine is
# shared; make check, which has it to itself, runs as many as it has cores).
# USOCK_FUZZ_BUILD overrides the build directory (build-fuzz).
set -eu

secs=${1:-600}
[ $# -gt 0 ] && shift
harnesses=${*:-fuzz_inet fuzz_http fuzz_url}
each=$secs # per harness
root=$(cd "$(dirname "$0")/.." && pwd)
build=${USOCK_FUZZ_BUILD:-$root/build-fuzz}
data=$root/tests/data

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DUSOCK_FUZZ=ON -DUSOCK_TESTS=OFF >/dev/null
for h in $harnesses; do
    cmake --build "$build" --target "$h" -j2
done

# fuzz_inet's seeds: every address text of the test vectors, and a few
# binaries for the inet_ntop comparison (which runs on 4- and 16-byte inputs).
seed_inet() {
    mkdir -p "$1/corpus"
    python3 - "$data" "$1/corpus" <<'PY'
import json, os, sys
data, out = sys.argv[1], sys.argv[2]
seeds = set()
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k in ("input", "host") and isinstance(x, str):
                seeds.add(x.encode())
            walk(x)
    elif isinstance(v, list):
        for x in v:
            if isinstance(x, str):
                seeds.add(x.encode())
            walk(x)
for name in ("ipaddr_vectors.json", "hostport_vectors.json"):
    with open(os.path.join(data, name)) as f:
        walk(json.load(f))
seeds |= {bytes(4), bytes([255] * 4), bytes(16), bytes(15) + b"\1",
          bytes(10) + b"\xff\xff\xc0\0\2\1", bytes(12) + b"\1\2\3\4"}
for i, s in enumerate(sorted(seeds)):
    with open(os.path.join(out, "seed%03d" % i), "wb") as f:
        f.write(s)
PY
    cat >"$1/fuzz.dict" <<'DICT'
"::"
"::ffff:"
":0:"
"0000"
"ffff"
"255."
".0"
"%"
"%lo"
"["
"]:"
":65535"
DICT
}

# fuzz_http's seeds: h2o's HTTP/1 corpus (requests: first byte 0) and every
# input of the test vectors, each as a request (0), a response (1) and a
# response to HEAD (3); the dictionaries of h2o, nginx's OSS-Fuzz target and
# curl-fuzzer, merged (tests/data/http, with their licences).
seed_http() {
    mkdir -p "$1/corpus" "$1/h2o"
    tar -xzf "$data/http/h2o-http1-corpus.tar.gz" -C "$1/h2o"
    python3 - "$data/http" "$1" <<'PY'
import os, sys
src, work = sys.argv[1], sys.argv[2]
out = os.path.join(work, "corpus")
n = 0
def put(prefix, b):
    global n
    with open(os.path.join(out, "s%05d" % n), "wb") as f:
        f.write(bytes([prefix]) + b)
    n += 1
for root, _, files in os.walk(os.path.join(work, "h2o")):
    for name in sorted(files):
        with open(os.path.join(root, name), "rb") as f:
            put(0, f.read()[:8192])
for name in ("llhttp_cases.txt", "json_vectors.txt"):
    for line in open(os.path.join(src, name)):
        w = line.split()
        hexs = w[1] if w and w[0] == "I" else (w[5] if w and w[0] == "V" else None)
        if not hexs or hexs == "-" or len(hexs) > 16384:
            continue
        b = bytes.fromhex(hexs)
        for p in (0, 1, 3):
            put(p, b)
seen, lines = set(), []
for d in ("h2o-http.dict", "nginx-ossfuzz-http_request_fuzzer.dict", "curl-fuzzer-http.dict"):
    for l in open(os.path.join(src, d), encoding="latin-1"):
        l = l.strip()
        if not l or l.startswith("#") or '"' not in l:
            continue
        v = l[l.index('"'):]
        if v not in seen:
            seen.add(v)
            lines.append("k%d=%s" % (len(lines), v))
with open(os.path.join(work, "fuzz.dict"), "w", encoding="latin-1") as f:
    f.write("\n".join(lines) + "\n")
PY
}

# fuzz_url's seeds: h2o's URL corpus (fuzz/url, with its licence), every
# input of WPT's URL cases and of the RFC 3986 examples, alone and as
# "base NUL reference" (the harness joins those); its dictionary.
seed_url() {
    mkdir -p "$1/corpus" "$1/h2o"
    tar -xzf "$root/fuzz/url/h2o-url-corpus.tar.gz" -C "$1/h2o"
    find "$1/h2o" -type f -exec cp {} "$1/corpus/" \;
    python3 - "$data/url" "$1/corpus" <<'PY'
import os, sys
src, out = sys.argv[1], sys.argv[2]
seeds = set()
for name in ("wpt_cases.txt", "rfc3986_cases.txt"):
    for line in open(os.path.join(src, name)):
        w = line.split()
        if not w or line.startswith("#"):
            continue
        if name == "wpt_cases.txt":
            inp, base = w[1], w[2]
        else:
            base, inp = w[1], w[2]
        b = bytes.fromhex(inp) if inp != "-" else b""
        seeds.add(b)
        if base not in ("N", "-"):
            seeds.add(bytes.fromhex(base) + b"\0" + b)
for i, s in enumerate(sorted(seeds)):
    with open(os.path.join(out, "seed%04d" % i), "wb") as f:
        f.write(s)
PY
    cp "$root/fuzz/url/url.dict" "$1/fuzz.dict"
}

# run_one HARNESS: seeds and runs it in its own working directory; prints
# its line; exits with its status.
run_one() {
    h=$1
    work=$build/fuzz/${h#fuzz_}
    mkdir -p "$work"
    case $h in
    fuzz_inet) seed_inet "$work" ;;
    fuzz_http) seed_http "$work" ;;
    fuzz_url) seed_url "$work" ;;
    esac
    # With -jobs the run's output goes to fuzz-0.log in the working
    # directory; libFuzzer copies it to stderr when the job ends.
    cd "$work"
    rm -f fuzz-0.log
    st=0
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$build/fuzz/$h" -workers=1 -jobs=1 -max_total_time="$each" -print_final_stats=1 \
        -dict="$work/fuzz.dict" -artifact_prefix="$work/" "$work/corpus" || st=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz-0.log | tail -n 1)
    echo "$h: ${execs:-?} executions in ${each} s, exit status $st"
    return "$st"
}

parallel=${USOCK_FUZZ_PARALLEL:-1}
status=0
pids=""
for h in $harnesses; do
    (run_one "$h") &
    pids="$pids $!"
    if [ "$(echo $pids | wc -w)" -ge "$parallel" ]; then
        for p in $pids; do wait "$p" || status=1; done
        pids=""
    fi
done
for p in $pids; do wait "$p" || status=1; done
exit "$status"
