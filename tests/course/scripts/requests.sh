# requests.sh - the request battery, sourced by fs_requests.sh (straight to a fakeserver:
# expected/requests.out), lb_one_server.sh and lb_three_servers.sh (through the balancer:
# expected/requests_lb.out, the same bytes but one line: the answer to the HTTP/1.0
# request says `Connection: close`, see lb_connection.sh).
#
# make_files: the files the servers serve (their working directory is this one).
# requests PORT: every request, printing what curl -si / nc print. Bodies that are binary
# or large are compared with cmp here (a line saying so is printed instead).

make_files() {
    printf 'hello, course\n' > text
    printf '%b' "$(printf '\\x%02x' $(seq 0 255) $(seq 255 -1 0))" > binary # 512 bytes
    : > empty
    head -c $((1024 * 1024 + 17)) /dev/urandom > big
    printf 'secret\n' > noread
    chmod 200 noread # the owner may write, not read: 403 even for root
    printf 'keep me\n' > nowrite
    chmod 444 nowrite
    mkdir adir
}

# raw REQUEST-BYTES PORT: the bytes (printf format) sent as they are; nc -N half-closes
# after them, so nc ends when the server closes.
raw() {
    printf "$1" | nc -N 127.0.0.1 "$2"
}

requests() {
    local url=http://127.0.0.1:$1 port=$1

    echo '== GET, HEAD text'
    curl -si "$url/text"
    curl -si -I "$url/text"
    echo '== GET, HEAD empty'
    curl -si "$url/empty"
    curl -si -I "$url/empty"
    echo '== GET, HEAD binary (the answer compared with cmp)'
    curl -si "$url/binary" > got
    { printf 'HTTP/1.1 200 OK\r\nContent-Length: 512\r\n\r\n'; cat binary; } | cmp - got &&
        echo 'binary: head and body exact'
    curl -si -I "$url/binary"
    echo '== GET, HEAD big (head exact, body compared with cmp)'
    curl -s -D - -o got "$url/big"
    cmp got big && echo 'big: body exact'
    curl -si -I "$url/big"
    echo '== three requests on one connection (nc -N)'
    raw 'GET /text HTTP/1.1\r\n\r\nHEAD /text HTTP/1.1\r\n\r\nGET /nothere HTTP/1.1\r\n\r\n' "$port"

    echo '== PUT text with curl -T (no 100 Continue: curl waits its second), GET it back'
    curl -si -T text "$url/put_text"
    curl -si "$url/put_text"
    echo '== PUT binary with nc, GET it back'
    { printf 'PUT /put_binary HTTP/1.1\r\nContent-Length: 512\r\n\r\n'; cat binary; } |
        nc -N 127.0.0.1 "$port"
    curl -s "$url/put_binary" | cmp - binary && echo 'put_binary: body exact'
    echo '== PUT empty with curl -T, GET it back'
    curl -si -T empty "$url/put_empty"
    curl -si "$url/put_empty"
    echo '== PUT big with curl -T, GET it back'
    curl -si -T big "$url/put_big"
    cmp put_big big && echo 'put_big: file exact'
    curl -s -D - -o got "$url/put_big"
    cmp got big && echo 'put_big: body exact'
    echo '== PUT over an existing file: 201, shorter content'
    raw 'PUT /put_big HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc' "$port"
    curl -si "$url/put_big"
    echo

    echo '== 404'
    curl -si "$url/nothere"
    curl -si -I "$url/nothere"
    echo '== 400: bad method'
    curl -si -X DELETE "$url/text"
    raw 'POST /text HTTP/1.1\r\nContent-Length: 0\r\n\r\n' "$port"
    echo '== 400: 28 characters (27 are fine: 404)'
    curl -si "$url/abcdefghijklmnopqrstuvwxyz01"
    curl -si "$url/abcdefghijklmnopqrstuvwxyz0"
    echo '== 400: /^, a dot, no leading slash'
    raw 'GET /^ HTTP/1.1\r\n\r\n' "$port"
    raw 'GET /text.txt HTTP/1.1\r\n\r\n' "$port"
    raw 'GET text HTTP/1.1\r\n\r\n' "$port"
    echo '== 400: wrong version'
    raw 'GET /text HTTP/1.0\r\n\r\n' "$port"
    raw 'GET /text HTTP/1.2\r\n\r\n' "$port"
    echo '== 403: no read permission (GET, HEAD), a directory'
    curl -si "$url/noread"
    curl -si -I "$url/noread"
    curl -si "$url/adir"
    echo '== 403: no write permission (PUT); the file is unchanged'
    raw 'PUT /nowrite HTTP/1.1\r\nContent-Length: 4\r\n\r\nnew!' "$port"
    cat nowrite
    echo '== end'
}
