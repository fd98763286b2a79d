#!/usr/bin/env bash
# fs_healthcheck.sh - GET /healthcheck: the body ERRORS\nTOTAL (no trailing newline) counts
# the requests before it, good and failed; HEAD and PUT on it are a 403 and create no
# file; -e/-t preset the counts; without -l or -L it is a 404.
. "$(dirname "$0")/lib.sh"

printf 'hello, course\n' > text
printf 'secret\n' > noread
chmod 200 noread
url=http://127.0.0.1:$P

fakeserver $P -l log &
pid=$!
wait_port $P $pid
echo '== fresh'
curl -si $url/healthcheck
echo
echo '== after 3 good and 4 failed requests'
curl -s -o /dev/null $url/text                                     # 200
curl -s -o /dev/null -I $url/text                                  # 200
printf 'PUT /new HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi' | nc -N 127.0.0.1 $P > /dev/null  # 201
curl -s -o /dev/null $url/nothere                                  # 404
curl -s -o /dev/null -X DELETE $url/text                           # 400
curl -s -o /dev/null $url/noread                                   # 403
printf 'GET text HTTP/1.1\r\n\r\n' | nc -N 127.0.0.1 $P > /dev/null # 400
curl -si $url/healthcheck
echo
echo '== HEAD and PUT on /healthcheck: 403, no file'
curl -si -I $url/healthcheck
printf 'PUT /healthcheck HTTP/1.1\r\nContent-Length: 3\r\n\r\n9\n9' | nc -N 127.0.0.1 $P
[ -e healthcheck ] && echo 'a file named healthcheck exists'
echo '== and they count as failed'
curl -si $url/healthcheck
echo
stop $pid

echo '== -e 2 -t 5 preset the counts (-L counts without a log)'
fakeserver -e 2 $P -t 5 -L &
pid=$!
wait_port $P $pid
curl -si $url/healthcheck
echo
curl -s -o /dev/null $url/nothere
curl -si $url/healthcheck
echo
stop $pid

echo '== without -l or -L: 404'
fakeserver $P &
pid=$!
wait_port $P $pid
curl -si $url/healthcheck
stop $pid
