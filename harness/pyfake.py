"""pyfake: a small Python stand-in for the fakeserver, used to test the harness itself.

    python3 harness/pyfake.py PORT [-N n] [-l LOG] [-L] [-e E] [-t T] [--control-port P]
                              [--delay MS] [--error-rate P] [--crash-after N] [--hang]
                              [--reset-after BYTES] [--health-status CODE]

Course subset: GET/HEAD/PUT on files in the working directory, /healthcheck with
`ERRORS\\nTOTAL`, keep-alive, `READY port=P control=C pid=PID`. The control port speaks the
harness's control dialect (GET/PUT/PATCH/DELETE /faults, GET /counters) with the same
names as the options. Not a fault injector of record: it exists so the harness's own tests
run without the C binaries, and it is deliberately simple (a thread per connection).
"""
import json
import os
import random
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time

NAME = re.compile(r"^[A-Za-z0-9_-]{1,27}$")
REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 403: "Forbidden",
           404: "Not Found", 500: "Internal Server Error"}
DEFAULT_FAULTS = {"delay": 0, "error-rate": 0.0, "crash-after": 0, "hang": False,
                  "reset-after": -1, "health-status": 200}


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.errors, self.total = args["e"], args["t"]
        self.faults = dict(DEFAULT_FAULTS)
        for key in DEFAULT_FAULTS:
            if key in args:
                self.faults[key] = args[key]
        self.generation = 1
        self.log_path = args.get("l")
        self.logging = bool(self.log_path) or args.get("L", False)
        self.served = 0
        self.responses = {}
        self.rng = random.Random(args.get("seed", 0))
        if self.log_path:
            open(self.log_path, "w").close()

    def log(self, text):
        if self.log_path:
            with self.lock, open(self.log_path, "a") as f:
                f.write(text)


def read_head(rfile):
    lines = []
    while True:
        line = rfile.readline(65536)
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            return lines
        lines.append(line.decode("latin-1").rstrip("\r\n"))


def hexdump(body):
    out = []
    for off in range(0, len(body), 20):
        out.append(f"{off:08d}" + "".join(f" {b:02x}" for b in body[off:off + 20]) + "\n")
    return "".join(out)


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        st = self.server.state
        while True:
            head = read_head(self.rfile)
            if not head:
                return
            method, _, rest = head[0].partition(" ")
            target, _, version = rest.partition(" ")
            headers = {h.split(":", 1)[0].strip().lower(): h.split(":", 1)[1].strip()
                       for h in head[1:] if ":" in h}
            length = int(headers.get("content-length", "0") or 0)
            body = self.rfile.read(length) if length else b""
            if not self.answer(st, method, target, version, body):
                return

    def send(self, st, code, body=b"", length=None, faultable=True):
        length = len(body) if length is None else length
        data = f"HTTP/1.1 {code} {REASONS[code]}\r\nContent-Length: {length}\r\n\r\n".encode()
        data += body
        with st.lock:
            st.responses[str(code)] = st.responses.get(str(code), 0) + 1
            reset_at = st.faults["reset-after"] if faultable else -1
        if reset_at < 0 or reset_at >= len(data):
            self.wfile.write(data)
            return True
        self.wfile.write(data[:reset_at])
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False

    def answer(self, st, method, target, version, body):
        name = target[1:] if target.startswith("/") else ""
        if name == "healthcheck" and method == "GET":
            if not st.logging:
                return self.send(st, 404, faultable=False)
            with st.lock:
                text = f"{st.errors}\n{st.total}".encode()
                st.total += 1
                status = st.faults["health-status"]
            st.log(f"GET /healthcheck length {len(text)}\n{hexdump(text)}========\n")
            return self.send(st, status, text if status == 200 else b"", faultable=False)
        with st.lock:
            faults = dict(st.faults)
            st.served += 1
            served = st.served
            st.total += 1
            fail = faults["error-rate"] > 0 and st.rng.random() < faults["error-rate"]
        if faults["hang"]:
            time.sleep(3600)
        if faults["delay"]:
            time.sleep(faults["delay"] / 1000.0)
        if faults["crash-after"] and served > faults["crash-after"]:
            os._exit(3)
        code, data, length = self.course(method, name, version, body)
        if fail:
            code, data, length = 500, b"", 0
        if code >= 400:
            with st.lock:
                st.errors += 1
            st.log(f"FAIL: {method} {target} {version} --- response {code}\n========\n")
        elif method == "HEAD":
            st.log(f"HEAD /{name} length {length}\n========\n")
        else:
            shown = data if method == "GET" else body
            st.log(f"{method} /{name} length {len(shown)}\n{hexdump(shown)}========\n")
        return self.send(st, code, data, length)

    @staticmethod
    def course(method, name, version, body):
        if version != "HTTP/1.1" or method not in ("GET", "HEAD", "PUT") or not NAME.match(name):
            return 400, b"", 0
        if method == "PUT":
            tmp = f".{name}.{threading.get_ident()}"
            with open(tmp, "wb") as f:
                f.write(body)
            os.replace(tmp, name)
            return 201, b"", 0
        try:
            with open(name, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return 404, b"", 0
        if method == "HEAD":
            return 200, b"", len(data)
        return 200, data, len(data)


class Control(socketserver.StreamRequestHandler):
    def handle(self):
        st = self.server.state
        head = read_head(self.rfile)
        if not head:
            return
        method, path = head[0].split(" ")[:2]
        headers = {h.split(":", 1)[0].strip().lower(): h.split(":", 1)[1].strip()
                   for h in head[1:] if ":" in h}
        body = self.rfile.read(int(headers.get("content-length", "0") or 0))
        code, obj = 200, None
        with st.lock:
            if path == "/faults" and method in ("PUT", "PATCH", "POST"):
                try:
                    change = json.loads(body or b"{}")
                    unknown = [k for k in change if k not in DEFAULT_FAULTS]
                    if unknown:
                        raise ValueError(f"unknown fault {unknown}")
                except ValueError as exc:
                    code, obj = 400, {"error": str(exc)}
                else:
                    if method == "PUT":
                        st.faults = dict(DEFAULT_FAULTS)
                    st.faults.update(change)
                    st.generation += 1
            elif path == "/faults" and method == "DELETE":
                st.faults = dict(DEFAULT_FAULTS)
                st.generation += 1
            elif path == "/counters" and method == "GET":
                obj = {"requests": st.served, "responses": dict(st.responses)}
            elif not (path == "/faults" and method == "GET"):
                code, obj = 404, {"error": "no such endpoint"}
            if obj is None:
                obj = {"generation": st.generation, "faults": dict(st.faults)}
        data = json.dumps(obj).encode()
        self.wfile.write(f"HTTP/1.1 {code} {'OK' if code == 200 else 'Error'}\r\n"
                         f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                         f"Connection: close\r\n\r\n".encode() + data)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def parse(argv):
    args = {"e": 0, "t": 0}
    flags = {"-N": int, "-l": str, "-e": int, "-t": int, "--control-port": int,
             "--delay": int, "--error-rate": float, "--crash-after": int, "--seed": int,
             "--reset-after": int, "--health-status": int}
    it = iter(argv)
    positional = []
    for arg in it:
        if arg in flags:
            args[arg.lstrip("-")] = flags[arg](next(it))
        elif arg == "-L":
            args["L"] = True
        elif arg == "--hang":
            args["hang"] = True
        elif arg.startswith("-"):
            sys.exit(f"pyfake: unknown option {arg}")
        else:
            positional.append(arg)
    if len(positional) != 1:
        sys.exit("usage: pyfake.py PORT [options]")
    args["port"] = int(positional[0])
    return args


def main():
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    args = parse(sys.argv[1:])
    state = State(args)
    srv = Server(("127.0.0.1", args["port"]), Handler)
    srv.state = state
    ready = f"READY port={srv.server_address[1]}"
    if "control-port" in args:
        ctl = Server(("127.0.0.1", args["control-port"]), Control)
        ctl.state = state
        threading.Thread(target=ctl.serve_forever, daemon=True).start()
        ready += f" control={ctl.server_address[1]}"
    print(f"{ready} pid={os.getpid()}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
