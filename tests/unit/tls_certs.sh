#!/bin/sh
# tls_certs.sh DIR -- the certificates of test_tls.c, made with the openssl
# command into DIR (an empty directory the test made for this run). EC
# P-256 keys throughout, for speed. Every file is flat in DIR but the
# capath directory (the test removes both).
#
#   ca.pem ca.key             the test CA ("usock test CA")
#   server.pem server.key     for DNS localhost, IP 127.0.0.1 and ::1, by the CA
#   server-full.pem           server.pem with its key after it (certfile only)
#   expired.pem               the same names and key, by the CA, expired in 2021
#   wrong.pem                 for DNS wrong.example only (CN too) (key server.key), by the CA
#   ca2.pem ca2.key           a second CA nobody trusts
#   other.pem                 for localhost and 127.0.0.1 (key server.key), by ca2
#   selfsigned.pem            for localhost and 127.0.0.1 (key server.key), by itself
#   client.pem client.key     a client certificate ("usock test client"), by the CA
#   client-other.pem          the same client (key client.key), by ca2
#   garbage.pem               not PEM at all
#   capath/HASH.0             ca.pem in a hashed directory (load_verify's capath)
#
# Exits non-zero, saying what failed, when a step fails.
set -eu
dir=${1:?usage: $0 DIR}
here=$(cd "$(dirname "$0")" && pwd)
cd "$dir"

# Our own configuration (tests/openssl.cnf and where `openssl ca` keeps its
# files): nothing from the system's openssl.cnf is used.
cat "$here/../openssl.cnf" - >openssl.cnf <<'EOF'
[ca_default]
dir = .
database = ./index.txt
new_certs_dir = .
serial = ./ca.srl
default_md = sha256
policy = policy_any
unique_subject = no
EOF
OPENSSL_CONF=$dir/openssl.cnf
export OPENSSL_CONF
cnf=openssl.cnf

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
csr() { openssl req -new -config $cnf -key "$1" -subj "/CN=$2" -out "$3"; }
# sign CSR OUT CA EXT: valid from now for 30 days
sign() {
    openssl x509 -req -in "$1" -out "$2" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial \
        -CAserial "$3.srl" -days 30 -sha256 -extfile $cnf -extensions "$4" 2>/dev/null
}
ca() {
    key "$1.key"
    openssl req -x509 -new -config $cnf -key "$1.key" -subj "/CN=$2" -days 30 -sha256 \
        -extensions ca_ext -out "$1.pem"
}

ca ca "usock test CA"
ca ca2 "usock unknown CA"

key server.key
csr server.key localhost server.csr
sign server.csr server.pem ca server_ext
cat server.pem server.key >server-full.pem

# Expired: openssl ca takes explicit dates (x509 -req has only -days in 3.0).
: >index.txt
echo 1000 >ca.srl.ca
openssl ca -batch -config $cnf -in server.csr -out expired.pem -cert ca.pem -keyfile ca.key \
    -startdate 20200101000000Z -enddate 20210101000000Z -extfile $cnf -extensions server_ext \
    -notext -subj /CN=localhost -create_serial 2>/dev/null

csr server.key wrong.example wrong.csr
sign wrong.csr wrong.pem ca wrong_ext
sign server.csr other.pem ca2 server_ext
openssl req -x509 -new -config $cnf -key server.key -subj /CN=localhost -days 30 -sha256 \
    -extensions self_ext -out selfsigned.pem

key client.key
csr client.key "usock test client" client.csr
sign client.csr client.pem ca client_ext
sign client.csr client-other.pem ca2 client_ext

echo "this is not a PEM file" >garbage.pem

# A hashed CA directory (what c_rehash makes) holding the test CA only.
mkdir capath
cp ca.pem "capath/$(openssl x509 -hash -noout -in ca.pem).0"

rm -f ./*.csr index.txt* ca.srl* ca2.srl* ./*.old [0-9A-F]*.pem openssl.cnf
for f in ca.pem ca.key ca2.pem server.pem server.key server-full.pem expired.pem wrong.pem \
    other.pem selfsigned.pem client.pem client.key client-other.pem garbage.pem; do
    [ -s "$f" ] || { echo "tls_certs.sh: $f was not made" >&2; exit 1; }
done
