"""Course-script style checks, each a bash script as an autograder would write it."""
import os
import re
import time

import pytest

from harness import ERROR_500


def hexdump_entry(method, name, data):
    lines = [f"{method} /{name} length {len(data)}"]
    for off in range(0, len(data), 20):
        lines.append(f"{off:08d}" + "".join(f" {b:02x}" for b in data[off:off + 20]))
    return "\n".join(lines + ["========"]) + "\n"


def small_files(course):
    course.file("small", b"hello, course\n")
    course.file("binary", bytes(range(256)) * 300 + b"\x00\r\n")
    course.file("big", os.urandom(3 * 1024 * 1024 + 7))
    course.file("empty", b"")


def test_curl_get_and_diff(course):
    small_files(course)
    course.server("-N", "2")
    course.server("-N", "2")
    course.balancer("0", "{S1}", "{S2}")
    course.sh("""
for f in small binary big empty small big; do
  code=$(curl -s -o "got_$f" -w '%{http_code}' "http://127.0.0.1:$LB/$f")
  [ "$code" = 200 ] || { echo "GET $f -> $code"; exit 1; }
  diff -q "got_$f" "$f.orig"
done
code=$(curl -s -o missing -w '%{http_code}' "http://127.0.0.1:$LB/nothere")
[ "$code" = 404 ]
code=$(curl -s -o bad -w '%{http_code}' "http://127.0.0.1:$LB/bad.name")
[ "$code" = 400 ]
""")


def test_put_then_get_through_the_balancer(course):
    small_files(course)
    course.server()
    course.server()
    course.balancer("0", "{S1}", "{S2}", "-R", "2")
    course.sh("""
head -c 200000 /dev/urandom > up1
printf 'short body\\n' > up2
: > up3
for f in up1 up2 up3 up1; do
  code=$(curl -s -o put_out -w '%{http_code}' -T "$f" "http://127.0.0.1:$LB/$f")
  [ "$code" = 201 ] || { echo "PUT $f -> $code"; exit 1; }
  [ ! -s put_out ]
  code=$(curl -s -o "back_$f" -w '%{http_code}' "http://127.0.0.1:$LB/$f")
  [ "$code" = 200 ] || { echo "GET $f -> $code"; exit 1; }
  diff -q "back_$f" "$f"
  diff -q "www/$f" "$f"
done
""")


def test_nc_raw_requests_exact_bytes(course):
    data = course.file("f", b"0123456789abcdef\n")
    course.server()
    course.balancer("0", "{S1}")
    r = course.sh("""
printf 'GET /f HTTP/1.1\\r\\n\\r\\n' | nc -N 127.0.0.1 $LB > one
printf 'GET /f HTTP/1.1\\r\\n\\r\\nHEAD /f HTTP/1.1\\r\\n\\r\\nGET /nope HTTP/1.1\\r\\n\\r\\n' \\
  | nc -N 127.0.0.1 $LB > three
printf 'PUT /g HTTP/1.1\\r\\nContent-Length: 5\\r\\n\\r\\nabcde' | nc -N 127.0.0.1 $LB > put
printf 'GET /g HTTP/1.1\\r\\n\\r\\n' | nc -N 127.0.0.1 $LB > getg
""", timeout=30)
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n"
    assert (course.tmp / "one").read_bytes() == ok + data
    assert (course.tmp / "three").read_bytes() == ok + data + ok + \
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    assert (course.tmp / "put").read_bytes() == b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    assert (course.tmp / "getg").read_bytes() == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde"


def test_log_entry_whole_right_after_the_answer(course):
    data = course.file("f", bytes(range(97)))
    course.server("-N", "3")
    course.server("-N", "3")
    course.balancer("0", "{S1}", "{S2}")
    # Each answer is followed at once by a snapshot of both logs, as a script that kills
    # the server right after the answer would see them.
    course.sh("""
for i in 1 2 3 4 5 6; do
  code=$(curl -s -o got -w '%{http_code}' "http://127.0.0.1:$LB/f")
  cat "$LOG1" "$LOG2" > "snap$i"
  [ "$code" = 200 ]
done
""")
    entry = hexdump_entry("GET", "f", data)
    for i in range(1, 7):
        snap = (course.tmp / f"snap{i}").read_text()
        assert snap.count(entry) == i, f"snapshot {i}: {snap.count(entry)} whole entries"
        assert snap.endswith("========\n"), "a log ends inside an entry"
        for block in snap.split("========\n")[:-1]:
            assert re.fullmatch(r"(GET /(f|healthcheck) length \d+\n(\d{8}( [0-9a-f]{2})+\n)*)",
                                block), f"torn entry: {block!r}"


def test_kill_a_backend_then_all(course):
    course.file("f", b"still here\n")
    for _ in range(3):
        course.server()
    course.balancer("0", "{S1}", "{S2}", "{S3}")
    r = course.sh("""
code=$(curl -s -o a -w '%{http_code}' "http://127.0.0.1:$LB/f"); [ "$code" = 200 ]
kill -9 $PID1
code=$(curl -s -o b -w '%{http_code}' "http://127.0.0.1:$LB/f"); [ "$code" = 200 ]
diff -q b f.orig
kill -9 $PID2
code=$(curl -s -o c -w '%{http_code}' "http://127.0.0.1:$LB/f"); [ "$code" = 200 ]
kill -9 $PID3
code=$(curl -s -o d -w '%{http_code}' "http://127.0.0.1:$LB/f"); echo "$code"
[ ! -s d ]
printf 'GET /f HTTP/1.1\\r\\n\\r\\n' | nc -N 127.0.0.1 $LB > raw500
""", timeout=30)
    for i in (1, 2, 3):
        course.killed(i)
    assert r.stdout.decode().strip() == "500"
    assert (course.tmp / "raw500").read_bytes() == ERROR_500
    assert course.lb.alive()


@pytest.mark.parametrize("shape", [
    ["-N", "3", "-R", "2", "0", "{S1}", "{S2}"],
    ["0", "{S1}", "{S2}", "-N", "3", "-R", "2"],
    ["-N", "3", "0", "{S1}", "-R", "2", "{S2}"],
    ["0", "-R", "2", "{S1}", "-N", "3", "{S2}"],
    ["-R", "2", "0", "-N", "3", "{S1}", "{S2}"],
], ids=["before", "after", "between-1", "between-2", "mixed"])
def test_N_and_R_anywhere(course, shape):
    course.file("f", b"x\n")
    course.server()
    course.server()
    course.balancer(*shape, "--stats-port", "0")
    r = course.sh("""
for i in 1 2 3 4 5 6; do
  code=$(curl -s -o out -w '%{http_code}' "http://127.0.0.1:$LB/f"); [ "$code" = 200 ]
done
curl -s "http://127.0.0.1:$STATS/stats"
""")
    import json
    st = json.loads(r.stdout)
    # -R 2 took effect: a round at start plus one per two forwarded requests.
    assert st["health_rounds_started"] >= 1 + 6 // 2, st
    assert [b["address"].rsplit(":", 1)[1] for b in st["backends"]] == \
        [course.servers[0].ready["port"], course.servers[1].ready["port"]]
    # the fewest rule spread 6 requests over both backends
    assert all(b["forwarded"] >= 2 for b in st["backends"]), st


@pytest.mark.parametrize("n", [1, 4, 7])
def test_fakeserver_threads_N_plus_1(course, n):
    course.server("-N", str(n))
    r = course.sh("ls /proc/$PID1/task | wc -l")
    assert int(r.stdout) == n + 1


def test_plain_nc_without_N_waits_on_keep_alive(course):
    """Documented in README.md: plain `nc` (no -N, no -q) sends its request and then waits
    for the server to close; a keep-alive HTTP/1.1 connection is only closed by the
    balancer after --idle-timeout. The answer itself arrives at once."""
    data = course.file("f", b"abc\n")
    course.server()
    course.balancer("0", "{S1}", "--idle-timeout", "1500ms")
    t0 = time.monotonic()
    course.sh("""
printf 'GET /f HTTP/1.1\\r\\n\\r\\n' | timeout 10 nc 127.0.0.1 $LB > plain
""")
    waited = time.monotonic() - t0
    assert (course.tmp / "plain").read_bytes() == \
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n" + data
    assert waited >= 1.4, f"closed after {waited:.2f}s: before the idle timeout?"
    t0 = time.monotonic()
    course.sh("""
printf 'GET /f HTTP/1.1\\r\\nConnection: close\\r\\n\\r\\n' | timeout 10 nc 127.0.0.1 $LB > closed
""")
    assert time.monotonic() - t0 < 1.4
    # The same answer, saying that the connection ends with it (connection fields are
    # hop-by-hop, as in HAProxy and nginx; --verbatim-connection relays the backend's).
    assert (course.tmp / "closed").read_bytes() == \
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\n" + data
