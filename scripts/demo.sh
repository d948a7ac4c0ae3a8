#!/usr/bin/env bash
# demo.sh BUILD_DIR -- run every seed program end to end on loopback.
#
# The seeds talk to hosts on the Internet (towel.blinkenlights.nl,
# micropython.org, dl.sipeed.com, www.cnn.co.jp, www.example.com, a PC on
# the LAN). Here local stand-ins take their place on 127.0.0.1 (and ::1 when
# the machine has it), each on a port the system picks: a Python streaming
# server, Python's http.server, an http.server that demands Basic auth
# (realm "PDQ Application"), a Python upload receiver, and the seeds' own
# servers built from examples/. Every client's output is checked, not only shown. The last
# lines say "ok   NAME" or "FAILED NAME" per program; the exit status is
# non-zero if any failed. Needs bash, python3, curl and coreutils.
set -u

BUILD=${1:-build}
EX=$BUILD/examples
PROGRAMS=(telnet_client http_get urlopen_read basic_auth pins_server pins_httpd
          echo_server echo_client tcp_upper_server tcp_upper_client
          udp_upper_server udp_upper_client image_download image_urlopen chunked_upload)
declare -A RESULT
PIDS=()

TMP=$(mktemp -d "${TMPDIR:-/tmp}/usock-demo.XXXXXX") || exit 1

# Every process started here is stopped here, by its PID.
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n== %s\n' "$*"; }
pass() { RESULT[$1]=ok; }
flunk() {
    RESULT[$1]=FAILED
    echo "!! $1: $2"
}

# Starts "$@" in the background under a time limit, output to $TMP/NAME.out
# and .err; its PID goes to $LAST_PID and to the cleanup list.
start() {
    local name=$1
    shift
    timeout 60 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# Waits (10 s at most) until the server last started, NAME, prints its
# "listening on ADDR" line, and sets $PORT to the port in it.
wait_port() {
    local name=$1 i line
    for ((i = 0; i < 100; i++)); do
        line=$(grep -h -m1 '^listening on ' "$TMP/$name.out" "$TMP/$name.err" 2>/dev/null)
        if [ -n "$line" ]; then
            PORT=${line##*:}
            return 0
        fi
        kill -0 "$LAST_PID" 2>/dev/null || break # it died: no use waiting
        sleep 0.1
    done
    echo "!! $name did not start listening; its stderr:"
    cat "$TMP/$name.err"
    return 1
}

# Waits (10 s at most) for background PID to end; returns its status, or
# 124 after stopping it.
wait_exit() {
    local pid=$1 i
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            return
        fi
        sleep 0.1
    done
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 124
}

# Runs a client (20 s at most), shows the command and what it printed;
# output in $TMP/NAME.out and .err, status in $RC.
run() {
    local name=$1
    shift
    echo "\$ ${*/#$BUILD\//}"
    timeout 20 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    RC=$?
    head -c 4000 "$TMP/$name.out"
    cat "$TMP/$name.err"
    [ "$RC" -eq 0 ] || echo "(exit status $RC)"
}

# run, trusting the demo's CA as Python's urllib would: OpenSSL's
# SSL_CERT_FILE names the CA file in place of the system's store (the
# programs verify the certificate and its host name; nothing is skipped).
run_tls() {
    echo "\$ export SSL_CERT_FILE=${TMP}/tls/ca.pem"
    SSL_CERT_FILE=$TMP/tls/ca.pem run "$@"
}

# The demo's own CA and a certificate it signs for localhost and
# 127.0.0.1: the HTTPS stand-ins' (never -k: the clients check it).
make_ca() {
    local d=$TMP/tls
    mkdir -p "$d"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$d/san"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj '/CN=usock demo CA' -keyout "$d/ca.key" -out "$d/ca.pem" 2>"$d/log" &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=localhost' \
        -keyout "$d/server.key" -out "$d/server.csr" 2>>"$d/log" &&
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -days 2 -extfile "$d/san" -out "$d/server.pem" 2>>"$d/log"
}

show_server() {
    echo "-- $1 printed:"
    cat "$TMP/$1.out" "$TMP/$1.err"
}

# ---------------------------------------------------------------- stand-ins

WWW=$TMP/www
mkdir -p "$WWW"

cat >"$TMP/stream_server.py" <<'PY'
# The towel.blinkenlights.nl stand-in: streams a file line by line to one
# client, then closes.
import socket, sys, time
lines = open(sys.argv[1], 'rb').read().splitlines(keepends=True)
srv = socket.create_server((sys.argv[2], 0), family=socket.AF_INET6 if ':' in sys.argv[2] else socket.AF_INET)
print('listening on %s:%d' % (sys.argv[2], srv.getsockname()[1]), flush=True)
srv.settimeout(20)
conn, _ = srv.accept()
with conn:
    for line in lines:
        conn.sendall(line)
        time.sleep(0.02)
PY

cat >"$TMP/upload_receiver.py" <<'PY'
# The PC of the upload seed: receives one connection to its end, then prints
# the byte count and SHA-256 of what came.
import hashlib, socket, sys
srv = socket.create_server(('127.0.0.1', 0))
print('listening on 127.0.0.1:%d' % srv.getsockname()[1], flush=True)
srv.settimeout(20)
conn, _ = srv.accept()
conn.settimeout(20)
h, n = hashlib.sha256(), 0
with conn:
    while True:
        data = conn.recv(65536)
        if not data:
            break
        h.update(data)
        n += len(data)
print(n, h.hexdigest(), flush=True)
PY

cat >"$TMP/auth_server.py" <<'PY'
# The www.example.com of the Basic auth seed: an http.server whose pages
# need klem's password in realm "PDQ Application". Each request is logged
# on stdout: "GET PATH 401 (no credentials)" or "GET PATH 200 (Basic klem)".
# With CERT and KEY as arguments it speaks HTTPS, as the seed's mahler:8092.
import base64, http.server, ssl, sys
GOOD = 'Basic ' + base64.b64encode(b'klem:kadidd!ehopper').decode()
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        got = self.headers.get('Authorization')
        if got == GOOD:
            status, body = 200, b'<p>Welcome, klem. Here are the site updates.</p>\n'
        else:
            status, body = 401, b'<h1>401 Unauthorized</h1>\n'
        print('GET %s %d (%s)' % (self.path, status, 'Basic klem' if got == GOOD
                                  else got or 'no credentials'), flush=True)
        self.send_response(status)
        if status == 401:
            self.send_header('WWW-Authenticate', 'Basic realm="PDQ Application"')
        self.send_header('Content-Type', 'text/html')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
srv = Server(('127.0.0.1', 0), Handler)
if len(sys.argv) == 3:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print('listening on 127.0.0.1:%d' % srv.server_address[1], flush=True)
srv.serve_forever()
PY

cat >"$TMP/make_files.py" <<'PY'
# The served files: a small page, a page longer than 300 bytes with CRLF
# lines (as the urlopen seed's www.cnn.co.jp), and a 160x120 24-bit BMP
# (57654 bytes, so the download takes many recv(4096) calls).
import struct, sys
www = sys.argv[1]
with open(www + '/test.html', 'w') as f:
    f.write('<!DOCTYPE html>\n<html><head><title>Test</title></head>\n'
            '<body><p>It works! This page came over usock.</p></body></html>\n')
with open(www + '/news.html', 'wb') as f:
    f.write(b'<!DOCTYPE html>\r\n<html lang="ja">\r\n<head>\r\n'
            b'    <meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n'
            b'<title>usock news</title>\r\n<meta name="title" content="usock news">\r\n'
            b'<meta name="description" content="A local stand-in for the seed\'s page, '
            b'served by http.server on 127.0.0.1 for the urlopen example.">\r\n'
            b'</head>\r\n<body>\r\n'
            b'<p>\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf</p>\r\n'
            b'</body>\r\n</html>\r\n')
w, h = 160, 120
rows = b''.join(bytes((x * 255 // w, y * 255 // h, (x ^ y) & 255)) * 1
                for y in range(h) for x in range(w))
pixels = len(rows)
header = struct.pack('<2sIHHI', b'BM', 54 + pixels, 0, 0, 54)
info = struct.pack('<IiiHHIIiiII', 40, w, h, 1, 24, 0, pixels, 2835, 2835, 0, 0)
with open(www + '/alice.bmp', 'wb') as f:
    f.write(header + info + rows)
PY

cat >"$TMP/frames.txt" <<'TXT'
                 .      .        *        .         .
        .   A long time ago, in a galaxy far, far away....
   *          .            .                 .          *
        ____  _____  _    ____     __        ___    ____  ____
       / ___||_   _|/ \  |  _ \    \ \      / / \  |  _ \/ ___|
       \___ \  | | / _ \ | |_) |    \ \ /\ / / _ \ | |_) \___ \
        ___) | | |/ ___ \|  _ <      \ V  V / ___ \|  _ < ___) |
       |____/  |_/_/   \_\_| \_\      \_/\_/_/   \_\_| \_\____/
   .            *          (streamed by a local stand-in)      .
TXT

python3 "$TMP/make_files.py" "$WWW" || exit 1
head -c 1048699 /dev/urandom >"$TMP/upload.bin" || exit 1

HAVE_V6=0
python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null && HAVE_V6=1

for p in "${PROGRAMS[@]}"; do
    [ -x "$EX/$p" ] || flunk "$p" "$EX/$p is not built (run: cmake --build $BUILD)"
done

# ---------------------------------------------------------------- the seeds

demo_telnet() {
    say "telnet_client (MicroPython tutorial 5.1: the Star Wars stream)"
    start stream python3 -u "$TMP/stream_server.py" "$TMP/frames.txt" 127.0.0.1
    wait_port stream || { flunk telnet_client "stand-in did not start"; return; }
    run telnet_client "$EX/telnet_client" 127.0.0.1 "$PORT"
    if [ "$RC" -ne 0 ]; then
        flunk telnet_client "exit status $RC"
    elif ! cmp -s "$TMP/telnet_client.out" "$TMP/frames.txt"; then
        flunk telnet_client "output differs from what the server sent"
    else
        pass telnet_client
    fi
}

demo_http() {
    say "http_get (MicroPython tutorial 5.2), urlopen_read (urllib.request)," \
        "image_download and image_urlopen (usocket example 1)"
    start httpd python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$WWW"
    local pid=$LAST_PID i line p
    PORT=
    for ((i = 0; i < 100; i++)); do
        line=$(grep -m1 -o 'port [0-9]*' "$TMP/httpd.out" 2>/dev/null)
        [ -n "$line" ] && { PORT=${line#port }; break; }
        sleep 0.1
    done
    if [ -z "$PORT" ]; then
        for p in http_get urlopen_read image_download image_urlopen; do
            flunk "$p" "http.server did not start"
        done
        cat "$TMP/httpd.err"
        return
    fi

    run http_get "$EX/http_get" "http://127.0.0.1:$PORT/test.html"
    if [ "$RC" -ne 0 ]; then
        flunk http_get "exit status $RC"
    elif ! python3 - "$TMP/http_get.out" "$WWW/test.html" <<'PY'; then
import sys
resp = open(sys.argv[1], 'rb').read()
head, sep, body = resp.partition(b'\r\n\r\n')
sys.exit(not (head.startswith(b'HTTP/1.0 200 ') and sep and body == open(sys.argv[2], 'rb').read()))
PY
        flunk http_get "not a 200 response carrying test.html"
    else
        pass http_get
    fi

    echo
    run image_download "$EX/image_download" 127.0.0.1 "$PORT" /alice.bmp "$TMP/saved.bmp"
    if [ "$RC" -ne 0 ]; then
        flunk image_download "exit status $RC"
    elif ! cmp -s "$TMP/saved.bmp" "$WWW/alice.bmp"; then
        flunk image_download "saved file differs from the served image"
    elif [ "$(tail -n1 "$TMP/image_download.out")" != "save ok" ]; then
        flunk image_download "no 'save ok'"
    else
        echo "(saved $(stat -c %s "$TMP/saved.bmp") bytes, identical to the served alice.bmp)"
        pass image_download
    fi

    echo
    run urlopen_read "$EX/urlopen_read" "http://127.0.0.1:$PORT/news.html"
    check_urlopen_read "" && demo_urlopen_https

    echo
    run image_urlopen "$EX/image_urlopen" "http://127.0.0.1:$PORT/alice.bmp" "$TMP/saved2.bmp"
    if [ "$RC" -ne 0 ]; then
        flunk image_urlopen "exit status $RC"
    elif ! cmp -s "$TMP/saved2.bmp" "$WWW/alice.bmp"; then
        flunk image_urlopen "saved file differs from the served image"
    elif [ "$(tail -n1 "$TMP/image_urlopen.out")" != "save ok" ]; then
        flunk image_urlopen "no 'save ok'"
    else
        echo "(saved $(stat -c %s "$TMP/saved2.bmp") bytes, identical to the served alice.bmp)"
        pass image_urlopen
    fi

    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

# The seed's URL is https: the same over TLS, from usock serve with the
# demo CA's certificate.
demo_urlopen_https() {
    echo
    start tls_serve "$BUILD/tools/usock" serve "$WWW" -p 0 -q \
        --tls-cert "$TMP/tls/server.pem" --tls-key "$TMP/tls/server.key"
    local pid=$LAST_PID PORT # its own: the caller's server goes on
    wait_port tls_serve || { flunk urlopen_read "usock serve --tls-cert did not start"; return; }
    run_tls urlopen_read "$EX/urlopen_read" "https://localhost:$PORT/news.html"
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    check_urlopen_read "https: " && pass urlopen_read
}

# The last urlopen_read run printed what print(f.read(300)) prints of
# news.html; flunks it (with PREFIX in the reason) and fails otherwise.
check_urlopen_read() {
    if [ "$RC" -ne 0 ]; then
        flunk urlopen_read "${1}exit status $RC"
        return 1
    fi
    python3 - "$TMP/urlopen_read.out" "$WWW/news.html" <<'PY' && return 0
import sys
want = repr(open(sys.argv[2], 'rb').read(300)) + '\n'
sys.exit(open(sys.argv[1]).read() != want)
PY
    flunk urlopen_read "${1}output is not print(f.read(300)) of news.html"
    return 1
}

demo_basic_auth() {
    say "basic_auth (urllib.request HTTPBasicAuthHandler), to an HTTPS server asking" \
        "for realm \"PDQ Application\" (its certificate from the demo's CA)"
    start auth_server python3 -u "$TMP/auth_server.py" "$TMP/tls/server.pem" "$TMP/tls/server.key"
    local pid=$LAST_PID want
    wait_port auth_server || { flunk basic_auth "stand-in did not start"; return; }
    run_tls basic_auth "$EX/basic_auth" "https://localhost:$PORT/" "https://localhost:$PORT/login.html"
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    show_server auth_server
    want=$'200 OK\n<p>Welcome, klem. Here are the site updates.</p>'
    if [ "$RC" -ne 0 ]; then
        flunk basic_auth "exit status $RC"
    elif [ "$(cat "$TMP/basic_auth.out")" != "$want" ]; then
        flunk basic_auth "want '200 OK' and the login page"
    elif [ "$(grep -c '^GET ' "$TMP/auth_server.out")" -ne 2 ] ||
         ! grep -qx 'GET /login.html 401 (no credentials)' "$TMP/auth_server.out" ||
         ! grep -qx 'GET /login.html 200 (Basic klem)' "$TMP/auth_server.out"; then
        flunk basic_auth "the server did not see a 401, then klem's credentials"
    else
        pass basic_auth
    fi
}

demo_pins() {
    say "pins_server (MicroPython tutorial 5.3), checked with curl"
    start pins_server "$EX/pins_server" 127.0.0.1 0 1
    local pid=$LAST_PID rows
    wait_port pins_server || { flunk pins_server "did not start"; return; }
    echo "\$ curl -sS -i http://127.0.0.1:$PORT/"
    curl -sS -i --max-time 10 "http://127.0.0.1:$PORT/" >"$TMP/pins.html" 2>"$TMP/curl.err"
    RC=$?
    cat "$TMP/pins.html" "$TMP/curl.err"
    rows=$(grep -o '<tr><td>Pin([0-9]*)</td><td>[01]</td></tr>' "$TMP/pins.html" | wc -l)
    wait_exit "$pid"
    local src=$?
    show_server pins_server
    if [ "$RC" -ne 0 ]; then
        flunk pins_server "curl failed ($RC)"
    elif ! grep -q $'^Content-type: text/html\r$' "$TMP/pins.html"; then
        flunk pins_server "no Content-type: text/html"
    elif [ "$rows" -ne 8 ]; then
        flunk pins_server "$rows pin rows, want 8"
    elif [ "$src" -ne 0 ]; then
        flunk pins_server "server exit status $src"
    elif ! grep -q '^client connected from 127\.0\.0\.1:[0-9]*$' "$TMP/pins_server.out"; then
        flunk pins_server "no 'client connected from' line"
    else
        pass pins_server
    fi
}

demo_pins_httpd() {
    say "pins_httpd (the same page on the httpd layer), checked with curl, stopped by SIGTERM"
    start pins_httpd "$EX/pins_httpd" 127.0.0.1 0
    local pid=$LAST_PID rows src
    wait_port pins_httpd || { flunk pins_httpd "did not start"; return; }
    echo "\$ curl -sS -i http://127.0.0.1:$PORT/"
    curl -sS -i --max-time 10 "http://127.0.0.1:$PORT/" >"$TMP/pins_httpd.html" 2>"$TMP/curl.err"
    RC=$?
    cat "$TMP/pins_httpd.html" "$TMP/curl.err"
    rows=$(grep -o '<tr><td>Pin([0-9]*)</td><td>[01]</td></tr>' "$TMP/pins_httpd.html" | wc -l)
    echo "\$ kill -TERM $pid"
    kill -TERM "$pid"
    wait_exit "$pid"
    src=$?
    show_server pins_httpd
    if [ "$RC" -ne 0 ]; then
        flunk pins_httpd "curl failed ($RC)"
    elif ! head -n1 "$TMP/pins_httpd.html" | grep -q $'^HTTP/1\.1 200 OK\r$'; then
        flunk pins_httpd "status is not 200"
    elif ! grep -qi $'^Content-type: text/html\r$' "$TMP/pins_httpd.html"; then
        flunk pins_httpd "no Content-Type: text/html"
    elif [ "$rows" -ne 8 ]; then
        flunk pins_httpd "$rows pin rows, want 8"
    elif [ "$src" -ne 0 ]; then
        flunk pins_httpd "exit status $src after SIGTERM"
    elif ! grep -q '^127\.0\.0\.1 - - \[.*\] "GET / HTTP/1\.1" 200 [0-9]*$' "$TMP/pins_httpd.out"; then
        flunk pins_httpd "no access-log line for the request"
    else
        pass pins_httpd
    fi
}

demo_echo() {
    say "echo_server + echo_client (Python socket example, port 50007 -> a free one)"
    start echo_server "$EX/echo_server" 127.0.0.1 0
    local pid=$LAST_PID
    wait_port echo_server || { flunk echo_server "did not start"; flunk echo_client "no server"; return; }
    run echo_client "$EX/echo_client" 127.0.0.1 "$PORT"
    if [ "$RC" -eq 0 ] && [ "$(cat "$TMP/echo_client.out")" = "Received b'Hello, world'" ]; then
        pass echo_client
    else
        flunk echo_client "want exactly: Received b'Hello, world'"
    fi
    wait_exit "$pid"
    local src=$?
    show_server echo_server
    if [ "$src" -ne 0 ]; then
        flunk echo_server "exit status $src"
    elif ! grep -q '^Connected by 127\.0\.0\.1:[0-9]*$' "$TMP/echo_server.out"; then
        flunk echo_server "no 'Connected by' line"
    else
        [ "${RESULT[echo_client]:-}" = ok ] && pass echo_server || flunk echo_server "echo not seen by the client"
    fi
}

# upper_pair tcp|udp HOST: the socketserver seed's server and client.
upper_pair() {
    local kind=$1 host=$2 srv=${1}_upper_server cli=${1}_upper_client pid src
    local pattern
    say "$srv + $cli (Python socketserver example, on $host)"
    start "$srv" "$EX/$srv" "$host" 0 1
    pid=$LAST_PID
    wait_port "$srv" || { flunk "$srv" "did not start"; flunk "$cli" "no server"; return; }
    run "$cli" "$EX/$cli" -H "$host" -p "$PORT" hello world from usock
    if [ "$RC" -eq 0 ] && [ "$(cat "$TMP/$cli.out")" = $'Sent:     hello world from usock\nReceived: HELLO WORLD FROM USOCK' ]; then
        pass "$cli"
    else
        flunk "$cli" "want 'Sent:     hello world from usock' / 'Received: HELLO WORLD FROM USOCK'"
    fi
    wait_exit "$pid"
    src=$?
    show_server "$srv"
    if [ "$host" = ::1 ]; then pattern='^\[::1\]:[0-9]* wrote:$'; else pattern='^127\.0\.0\.1:[0-9]* wrote:$'; fi
    if [ "$src" -ne 0 ]; then
        flunk "$srv" "exit status $src"
    elif ! grep -q "$pattern" "$TMP/$srv.out" || ! grep -qx "b'hello world from usock'" "$TMP/$srv.out"; then
        flunk "$srv" "want 'ADDR wrote:' and b'hello world from usock'"
    else
        pass "$srv"
    fi
}

demo_upload() {
    say "chunked_upload (usocket example 2), to a Python receiver that hashes what it gets"
    start receiver python3 -u "$TMP/upload_receiver.py"
    local pid=$LAST_PID want got
    wait_port receiver || { flunk chunked_upload "receiver did not start"; return; }
    run chunked_upload "$EX/chunked_upload" 127.0.0.1 "$PORT" "$TMP/upload.bin"
    [ "$RC" -eq 0 ] || kill "$pid" 2>/dev/null # no upload is coming
    wait_exit "$pid"
    want="$(stat -c %s "$TMP/upload.bin") $(sha256sum "$TMP/upload.bin" | cut -d' ' -f1)"
    got=$(tail -n1 "$TMP/receiver.out")
    echo "-- receiver got: $got"
    echo "-- file is:      $want"
    if [ "$RC" -ne 0 ]; then
        flunk chunked_upload "exit status $RC"
    elif [ "$got" != "$want" ]; then
        flunk chunked_upload "received bytes differ from the file"
    else
        pass chunked_upload
    fi
}

demo_telnet
make_ca || { echo "!! openssl could not make the demo's CA:"; cat "$TMP/tls/log"; }
demo_http
demo_basic_auth
demo_pins
demo_pins_httpd
demo_echo
upper_pair tcp 127.0.0.1
if [ "$HAVE_V6" = 1 ]; then upper_pair udp ::1; else upper_pair udp 127.0.0.1; fi
demo_upload

echo
failed=0
for p in "${PROGRAMS[@]}"; do
    if [ "${RESULT[$p]:-FAILED}" = ok ]; then
        echo "ok   $p"
    else
        echo "FAILED $p"
        failed=1
    fi
done
exit $failed
