#!/usr/bin/env python3
"""fuzz/make_seeds.py - writes the seed corpora and dictionaries of the HTTP fuzz targets.

The seeds are committed; run this again after editing the lists below. Each seed is a real
message (course requests, curl and browser requests, fakeserver answers) or a known hostile
one (request-smuggling vectors). Files are named by the SHA-1 of their bytes, so rerunning
is idempotent and never clobbers inputs the fuzzer or a person added.
"""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

CURL_GET = (b"GET /foo HTTP/1.1\r\nHost: localhost:1234\r\nUser-Agent: curl/7.88.1\r\n"
            b"Accept: */*\r\n\r\n")
CURL_PUT = (b"PUT /file1 HTTP/1.1\r\nHost: localhost:1234\r\nUser-Agent: curl/7.88.1\r\n"
            b"Accept: */*\r\nContent-Length: 11\r\n\r\nhello world")
CURL_PUT_EXPECT = (b"PUT /big HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\n"
                   b"Accept: */*\r\nContent-Length: 1048576\r\nExpect: 100-continue\r\n\r\n")
FIREFOX = (b"GET /index.html HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: Mozilla/5.0 "
           b"(X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0\r\nAccept: text/html,"
           b"application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n"
           b"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
           b"Connection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document"
           b"\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-Site: none\r\nSec-Fetch-User: ?1\r\n\r\n")
CHROME = (b"GET /favicon.ico HTTP/1.1\r\nHost: localhost:8080\r\nConnection: keep-alive\r\n"
          b"sec-ch-ua: \"Chromium\";v=\"118\", \"Not=A?Brand\";v=\"99\"\r\nsec-ch-ua-mobile: ?0\r\n"
          b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          b"Chrome/118.0.0.0 Safari/537.36\r\nAccept: image/avif,image/webp,*/*\r\n"
          b"Referer: http://localhost:8080/\r\nAccept-Encoding: gzip, deflate, br\r\n"
          b"Cookie: session=abc123; theme=dark\r\n\r\n")

REQUESTS = [
    b"GET /foo HTTP/1.1\r\n\r\n",
    b"GET /healthcheck HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
    b"PUT /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    b"PUT /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    b"HEAD /file_1-A HTTP/1.1\r\n\r\n",
    b"GET /does-not-exist HTTP/1.1\r\nConnection: close\r\n\r\n",
    b"GET /foo HTTP/1.0\r\n\r\n",
    b"GET /foo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"DELETE /foo HTTP/1.1\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    b"GET http://example.com/p?q=1#f HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"POST /up HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    b"POST /up HTTP/1.1\r\nTransfer-Encoding: gzip;level=\"9\"\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET / HTTP/1.1\r\nX-Empty:\r\nX-Tab:\t v \t\r\nX-Obs: caf\xc3\xa9\r\n\r\n",
    CURL_GET, CURL_PUT, CURL_PUT_EXPECT, FIREFOX, CHROME,
    CURL_GET + CURL_GET,
]

SMUGGLING = [
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    b"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked;x=1\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\nHost: a\n\n",
    b"GET / HTTP/1.1\rHost: a\r\r",
    b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
    b"GET  / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1 \r\n\r\n",
    b"GET / HTTP/11\r\n\r\n",
    b"GET /\r\n\r\n",
]

RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world\n",
    b"HTTP/1.1 201 Created\r\nContent-Length: 8\r\n\r\nCreated\n",
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 12\r\n\r\nBad Request\n",
    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nForbidden\n",
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nNot Found\n",
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n3\n10",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the close",
    b"HTTP/1.0 200 OK\r\n\r\nold",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 99\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
    (b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 25 Nov 2026 01:00:00 GMT\r\n"
     b"Content-Type: text/html\r\nContent-Length: 5\r\nLast-Modified: Tue, 24 Nov 2026 "
     b"10:00:00 GMT\r\nConnection: keep-alive\r\nETag: \"6560-5\"\r\nAccept-Ranges: bytes"
     b"\r\n\r\nhello"),
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx",
    b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
    b"ICY 200 OK\r\n\r\n",
]

CHUNKED = [
    b"0\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    b"A\r\n0123456789\r\n0\r\n\r\n",
    b"0000000000000003\r\nabc\r\n0\r\n\r\n",
    b"3;name=value;q=\"a;b\"\r\nabc\r\n0;last\r\n\r\n",
    b"3 ;ext\r\nabc\r\n0\r\n\r\n",
    b"3\r\nabc\r\n0\r\nExpires: never\r\nX-Checksum: 1234\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    b"FFFFFFFFFFFFFFFF\r\nabc",
    b"10000000000000000\r\n",
    b"5\nhello\n0\n\n",
    b"5;a\nb\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhelloX\r\n0\r\n\r\n",
    b"0\r\nX: a\r\n folded\r\n\r\n",
    b"-1\r\n",
    b"0x5\r\nhello\r\n",
]

HEALTH = [
    b"0\n0", b"3\n10", b"3\n10\n", b"18446744073709551615\n18446744073709551615",
    b"2\n1", b"1\n", b"18446744073709551616\n1", b"1\r\n2",
    b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n3\n10",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n3\n10\n",
    b"HTTP/1.1 200 OK\r\n\r\n5\n8",
    b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n3\n10",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n3\n10\r\n0\r\n\r\n",
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nNot Found\n",
    b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n1\n2",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n2\n1",
]

PIPELINES = [
    b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
    b"PUT /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /x HTTP/1.1\r\n\r\n",
    b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nT: 1\r\n\r\n"
    b"GET /d HTTP/1.1\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\n\r\n",
    b"GET /a HTTP/1.0\r\n\r\nGET /after-close HTTP/1.1\r\n\r\n",
    CURL_PUT + CURL_GET + FIREFOX,
] + SMUGGLING[:6]

DICT_COMMON = [
    "\r\n", "\r\n\r\n", " HTTP/1.1\r\n", "HTTP/1.0", "HTTP/1.1 ", ": ", ";", ",", "=", "\"",
    "Content-Length: ", "Transfer-Encoding: ", "chunked", "gzip", "identity",
    "Connection: ", "close", "keep-alive", "Expect: ", "100-continue", "Host: ",
    "\t", " ", "\x00", "\x0b", "\n", "\r", "18446744073709551616", "0\r\n\r\n",
]
DICT_REQUEST = DICT_COMMON + ["GET ", "HEAD ", "PUT ", "POST ", "CONNECT ", "/healthcheck",
                              " / ", "*"]
DICT_RESPONSE = DICT_COMMON + ["HTTP/1.1 200 OK\r\n", "HTTP/1.1 100 Continue\r\n\r\n", " 204 ",
                               " 304 ", " 101 ", " 199 "]
DICT_CHUNKED = ["\r\n", "0\r\n\r\n", ";", "=", "\"", "ffffffffffffffff", "0000000000000000",
                "X-Trailer: v\r\n", "\t", " ", "\n"]
DICT_HEALTH = ["\n", "18446744073709551615", "18446744073709551616", "HTTP/1.1 200 OK\r\n",
               "Content-Length: ", "\r\n\r\n", "Transfer-Encoding: chunked\r\n", "0"]

CONFIG = [
    ["1234", "8080"],
    ["-N", "7", "1234", "8080", "-R", "3", "8081"],
    ["0", "8080", "8081", "8082", "8080"],
    ["-N7", "-R3", "1234", "localhost:8080", "127.0.0.1:8081", "[::1]:8082"],
    ["--policy", "p2c", "--seed=42", "--stats-port", "0", "0", "9000"],
    ["--connect-timeout=500ms", "--server-timeout", "5s", "--queue-timeout=10000", "1", "2"],
    ["--max-head", "8192", "--max-headers=50", "--max-body", "1048576", "--pool-size", "0",
     "--retries", "0", "--eject-after", "0", "--max-conns", "100", "--max-queue=5", "1", "2"],
    ["--health-interval", "3s", "--health-timeout=1s", "--header-timeout", "2s",
     "--idle-timeout=60s", "--drain-timeout", "1s", "1", "2"],
    ["--", "-1", "2"],
    ["0", "8080,weight=1", "h:8081,weight=2", "[::1]:8082,weight=256"],
    ["--policy", "rr", "0", "8080,weight=3", "8081"], ["0", "8080,weight=0"],
    ["--slow-start", "30s", "0", "8080"], ["--tunnel-timeout=3600s", "0", "8080"], ["--slow-start=500ms", "0", "8080,weight=2"],
    [], ["1234"], ["-N"], ["-N", "0", "1", "2"], ["-N", "-3", "1", "2"], ["-X", "1", "2"],
    ["1", "65536"], ["99999999999999999999", "1"], ["1", "::1:80"], ["-h"], ["--help"],
    ["1", "host name:80"], ["--policy", "random", "1", "2"], ["--stats-port", "5", "5", "6"],
]
DICT_CONFIG = ["-N", "-R", "--", "--help", "-h", "=", ":", "[::1]:", "127.0.0.1:", "localhost:",
               "65535", "65536", "0", "ms", "s", "\x00", ",weight=", "256", "257"] + [
    "--" + o for o in ("policy", "stats-port", "connect-timeout", "server-timeout",
                       "queue-timeout", "health-interval", "health-timeout", "header-timeout",
                       "idle-timeout", "drain-timeout", "max-head", "max-headers", "max-body",
                       "max-conns", "max-queue", "pool-size", "retries", "eject-after", "seed",
                       "slow-start", "tunnel-timeout")
] + ["fewest", "rr", "leastconn", "p2c"]

FAULT_NAMES = ["delay", "delay-jitter", "slow-body", "error-rate", "error-status", "hang-rate",
               "reset-rate", "reset-at", "truncate-rate", "truncate-at", "garbage-rate",
               "garbage-bytes", "crash-after", "crash-at", "crash-rate", "crash-mode",
               "crash-status", "refuse", "stall", "slow-read", "capacity", "capacity-mode",
               "health-status", "health-delay", "health-malformed", "health-errors",
               "health-total", "health-flap", "scope", "scope-method", "scope-prefix",
               "scope-header", "no-keepalive", "fault-header", "seed",
               # the fault proxy's TCP mode (faultproxy --tcp)
               "tcp-latency-up", "tcp-latency-down", "tcp-jitter-up", "tcp-jitter-down",
               "tcp-bandwidth-up", "tcp-bandwidth-down", "tcp-slicer-up", "tcp-slicer-down",
               "tcp-slicer-delay", "tcp-timeout", "tcp-reset-peer", "tcp-limit-up",
               "tcp-limit-down", "tcp-rate"]
CONTROL = [
    b'{"scope-header": "X-Chaos: yes", "tcp-latency-down": 100, "tcp-jitter-down": 20}',
    b'{"tcp-slicer-up": 10, "tcp-slicer-delay": 5, "tcp-timeout": 0, "tcp-rate": 0.5}',
    b'{"error-rate": 0.5, "error-status": 503}',
    b'{}',
    b'{"delay": 200, "delay-jitter": 50, "slow-body": 1000}',
    b'{"faults": {"refuse": true, "stall": false}, "generation": 3}',
    b'{"reset-rate": 1, "reset-at": 10, "truncate-rate": 0.25, "truncate-at": 5}',
    b'{"crash-after": 3, "crash-mode": "abort", "seed": 42}',
    b'{"health-status": 500, "health-malformed": true, "health-flap": 2}',
    b'{"scope": "health", "scope-method": "GET", "scope-prefix": "/a\\u0041"}',
    b'{"capacity": 2, "capacity-mode": "refuse", "fault-header": true}',
    b'{"delay": null}',
    b'{"error-rate": 1.5}',
    b'{"delay": -1}',
    b'{"nope": 1}',
    b'{"delay": 1,}',
    b'[1, 2]',
    b'{"delay": "1"',
    b'{"delay": 1e400}',
]
TIMELINE = [
    b"delay=200 error-rate=0.5",
    b"refuse=1",
    b"reset stall=0",
    b"reset",
    b"crash-mode=abort crash-after=3 seed=7",
    b"health-status=503 health-delay=100\thealth-flap=3",
    b"scope=others scope-prefix=/x slow-read=10",
    b"delay", b"delay=-5", b"error-rate=2", b"unknown=1", b"=1", b"delay==1",
]


ADMIN_BODIES = [  # byte 0: 0 POST body, 1 PATCH body, 2 path
    b'\x00{"server": "127.0.0.1:9004", "weight": 2}',
    b'\x00{"server":"9004"}',
    b'\x00{"server": "[::1]:9004"}',
    b'\x00{"server": "backend.example:80", "weight": 256}',
    b'\x00{"server": "9004", "weight": 0}',
    b'\x00{"server": "9004", "weight": 1.5}',
    b'\x00{"server": "9004", "server": "9005"}',
    b'\x00{"server": "9004", "state": "drain"}',
    b'\x00{"server": "a\\"b:1"}',
    b'\x00 { } ',
    b'\x00[]',
    b'\x01{"state": "drain"}',
    b'\x01{"state": "ready", "weight": 3}',
    b'\x01{"weight": 100}',
    b'\x01{"weight": -1}',
    b'\x01{"weight": 01}',
    b'\x01{"state": "up"}',
    b'\x01{"weight": 2} trailing',
    b'\x01{"weight": 2,}',
    b'\x01{}',
    b'\x02/backends/127.0.0.1:9001',
    b'\x02/backends/9001',
    b'\x02/backends/[::1]:9001',
    b'\x02/backends/',
    b'\x02/backends/x:1/y',
]
BACKENDS_FILES = [
    b"9001\n9002\n",
    b"# the pool\n127.0.0.1:9001,weight=2\n\n  9002   # second\r\n[::1]:9003\n",
    b"localhost:80,weight=256",
    b"9001\n9001\n",
    b"9001 9002\n",
    b"9001,weight=0\n",
    b"9001,weight=3,weight=4\n",
    b"\t#only a comment\n\n",
    b"",
    b"host:\n",
    b"9001\x00\n",
]


def write_corpus(target, inputs):
    d = os.path.join(HERE, target, "corpus")
    os.makedirs(d, exist_ok=True)
    for data in inputs:
        name = hashlib.sha1(data).hexdigest()[:16]
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def write_dict(target, words):
    with open(os.path.join(HERE, target, target + ".dict"), "w") as f:
        f.write("# AFL++ dictionary for fuzz/%s, written by fuzz/make_seeds.py\n" % target)
        for i, w in enumerate(words):
            esc = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "\\x%02x" % ord(c)
                          for c in w)
            f.write('w%d="%s"\n' % (i, esc))


def framing_seed(stream, sizes, kind=0):
    """Byte 0: number of read sizes, ORed with the stream's kind (0x10 answers to GET,
    0x30 answers to HEAD); then the sizes; then the stream."""
    return bytes([len(sizes) | kind]) + bytes(sizes) + stream


def main():
    write_corpus("request", REQUESTS + SMUGGLING)
    write_corpus("response", RESPONSES)
    write_corpus("chunked", CHUNKED)
    write_corpus("health", HEALTH)
    framing = []
    for i, stream in enumerate(PIPELINES):
        framing.append(framing_seed(stream, []))
        framing.append(framing_seed(stream, [1 + i, 3, 7, 2, 40][: 1 + i % 5]))
    answers = RESPONSES + [b"".join(RESPONSES[:3]), b"HTTP/1.1 100 Continue\r\n\r\n" * 3 +
                           b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 204 No"
                           b" Content\r\n\r\n"]
    for i, stream in enumerate(answers):
        framing.append(framing_seed(stream, [2 + i % 9, 5][: 1 + i % 2], 0x10))
        if i % 4 == 0:
            framing.append(framing_seed(stream, [], 0x30))
    write_corpus("framing", framing)
    write_dict("request", DICT_REQUEST)
    write_dict("response", DICT_RESPONSE)
    write_dict("chunked", DICT_CHUNKED)
    write_dict("health", DICT_HEALTH)
    write_dict("framing", DICT_REQUEST + [w for w in DICT_RESPONSE if w not in DICT_REQUEST])
    write_corpus("control", CONTROL)
    write_dict("control", ['"%s": ' % n for n in FAULT_NAMES] +
               ["{", "}", "null", "true", "false", "0.5", "1e308", "-1", "\\u0000",
                '"faults": {'])
    write_corpus("timeline", TIMELINE)
    write_dict("timeline", [n + "=" for n in FAULT_NAMES] + ["reset", " ", "\t", "1.5",
                                                             "abort", "health", "others"])
    write_corpus("config", [b"\0".join(w.encode() for w in words) for words in CONFIG])
    write_dict("config", [w.replace("\\x00", "\0") for w in DICT_CONFIG])
    write_corpus("admin_body", ADMIN_BODIES)
    write_dict("admin_body", ['"server"', '"weight"', '"state"', '"drain"', '"ready"', ":",
                              ",", "{", "}", "/backends/", "127.0.0.1:", "[::1]:", "256"])
    write_corpus("backends_file", BACKENDS_FILES)
    write_dict("backends_file", [",weight=", "#", "\n", "\r\n", "127.0.0.1:", "[::1]:",
                                 "localhost:", " ", "\t"])


if __name__ == "__main__":
    main()
