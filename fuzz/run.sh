#!/bin/sh
# fuzz/run.sh [seconds] -- builds fuzz_inet with clang, libFuzzer, ASan and
# UBSan in its own build directory and runs it for that long (default 600),
# then prints the execution count. One worker, one job: the machine is
# shared. USOCK_FUZZ_BUILD overrides the build directory (build-fuzz).
set -eu

secs=${1:-600}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${USOCK_FUZZ_BUILD:-$root/build-fuzz}

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DUSOCK_FUZZ=ON -DUSOCK_TESTS=OFF >/dev/null
cmake --build "$build" --target fuzz_inet -j2

# Seeds: every address text of the test vectors, and a few binaries for the
# inet_ntop comparison (which runs on 4- and 16-byte inputs).
work=$build/fuzz/inet
mkdir -p "$work/corpus"
python3 - "$root/tests/data" "$work/corpus" <<'PY'
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
cat >"$work/inet.dict" <<'DICT'
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

# With -jobs the run's output goes to fuzz-0.log in the working directory;
# libFuzzer copies it to stderr when the job ends.
cd "$work"
rm -f fuzz-0.log
status=0
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/fuzz/fuzz_inet" -workers=1 -jobs=1 -max_total_time="$secs" -print_final_stats=1 \
    -dict="$work/inet.dict" -artifact_prefix="$work/" "$work/corpus" || status=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz-0.log | tail -n 1)
echo "fuzz_inet: ${execs:-?} executions in ${secs} s, exit status $status"
exit "$status"
