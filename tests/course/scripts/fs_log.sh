#!/usr/bin/env bash
# fs_log.sh - the -l log, read right after each answer: GET with its body in hex lines
# (8-digit decimal offset, 20 bytes a line), HEAD with no hex lines, FAIL: lines with the
# request line and the status, PUT with its body, PUT of an empty file, the health check;
# the last entry is whole when the server is killed right after the answer.
. "$(dirname "$0")/lib.sh"

printf 'hello, course\n' > text
printf '%b' "$(printf '\\x%02x' $(seq 0 44))" > bytes45
printf 'secret\n' > noread
chmod 200 noread
: > empty
url=http://127.0.0.1:$P

fakeserver $P -l log -N 2 &
pid=$!
wait_port $P $pid

# newlog: the lines the log gained since the last call
seen=0
newlog() {
    tail -n +$((seen + 1)) log
    seen=$(wc -l < log)
}

echo '== GET text'; curl -s -o /dev/null $url/text; newlog
echo '== GET 45 bytes'; curl -s -o /dev/null $url/bytes45; newlog
echo '== HEAD'; curl -s -o /dev/null -I $url/bytes45; newlog
echo '== GET empty'; curl -s -o /dev/null $url/empty; newlog
echo '== 404'; curl -s -o /dev/null $url/nothere; newlog
echo '== 403'; curl -s -o /dev/null $url/noread; newlog
echo '== 400, bad method'; curl -s -o /dev/null -X DELETE $url/text; newlog
echo '== 400, no leading slash'; printf 'GET text HTTP/1.1\r\n\r\n' | nc -N 127.0.0.1 $P > /dev/null; newlog
echo '== PUT 25 bytes'
printf 'PUT /up HTTP/1.1\r\nContent-Length: 25\r\n\r\n0123456789abcdefghijklmno' | nc -N 127.0.0.1 $P > /dev/null
newlog
echo '== PUT of an empty file'; curl -s -o /dev/null -T empty $url/up; newlog
echo '== health check'; curl -s -o /dev/null $url/healthcheck; newlog
echo '== GET, then the server is killed at once'
curl -s -o /dev/null $url/text
stop $pid
newlog
