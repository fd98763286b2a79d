"""hop: what the balancer's default connection handling does to the bytes of an answer.

Connection, Keep-Alive and Proxy-Connection are hop-by-hop (RFC 9110 section 7.6.1): the
balancer removes them from a final answer's head and says what the client's own connection
does, `Connection: close` when it ends after this answer (the client asked for the close,
an HTTP/1.0 client did not ask for keep-alive, the body ends with the close) and
`Connection: keep-alive` to an HTTP/1.0 client that asked for it. Interim (1xx) heads and
every body byte pass unchanged. lb/README.md ("Connections") is the rule; this is its model
for tests that compare what a backend sent with what a client got.
"""
import re

CONNECTION_FIELDS = (b"connection", b"keep-alive", b"proxy-connection")
_STATUS = re.compile(rb"HTTP/\d\.\d (\d\d\d)")


def hop_by_hop(data, close=False, keep_alive=False):
    """data: bytes as a backend sent them. Returns what the client receives in the default
    mode: the first final head edited (close: add `Connection: close`; keep_alive: add
    `Connection: keep-alive`), the rest as it is. Bytes without a whole final head come back
    unchanged (the balancer relays no byte of a head it has not parsed)."""
    pos = 0
    while True:
        end = data.find(b"\r\n\r\n", pos)
        m = _STATUS.match(data, pos)
        if end < 0 or not m:
            return data
        status = int(m.group(1))
        if 100 <= status < 200 and status != 101:
            pos = end + 4  # an interim answer: relayed as it is
            continue
        if status == 101:
            return data
        lines = data[pos:end].split(b"\r\n")
        kept = [lines[0]] + [line for line in lines[1:]
                             if line.split(b":", 1)[0].lower() not in CONNECTION_FIELDS]
        if close:
            kept.append(b"Connection: close")
        elif keep_alive:
            kept.append(b"Connection: keep-alive")
        return type(data)(data[:pos] + b"\r\n".join(kept) + b"\r\n\r\n" + data[end + 4:])
