"""Hosts: every cluster member in its own network namespace, and network faults on it.

Loopback cannot fail silently: a connect to a dead port is reset within microseconds. Real
outages drop packets. `Hosts` gives each member (balancer, fakeservers) a network namespace
of its own with one address on a private segment, so nftables drop/reject rules and link
state inside a member's namespace produce the silent failures (this kernel has no netem):

    hub namespace  LBT-hub: bridge br0
      veth  <-> test side  (LBT h, in the test's own namespace: the clients' address .1)
      veth  <-> LBT-lb     (eth0: .2)         veth <-> LBT-fs0 (eth0: .10) ...

LBT is `lbt<pid>x<seq>`: the creating process's PID makes every name unique to one test
run, and tells a later sweep whether the owner is gone. The segment is a /24 of
198.18.0.0/15 (RFC 2544's benchmarking range, not routed anywhere) that no interface of the
test's namespace uses yet, chosen under a lock file so concurrent runs never pick the same.

Cleanup: `Hosts.close()` (the fixture's teardown, whatever the test did) kills what still
runs in the namespaces and deletes them; deleting a namespace deletes its veths, the
test-side ends included, and its nft tables. An atexit hook closes what a process left
open. A run that was killed (SIGKILL, os._exit) leaves names whose PID is dead:
`sweep()` at session start removes exactly those, never a name of a live process and never
a name without our prefix.
"""
import atexit
import ctypes
import fcntl
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import threading

PREFIX = "lbt"
NAME_RE = re.compile(rf"^{PREFIX}(\d+)x\d+")
SUBNETS = ipaddress.ip_network("198.18.0.0/15")
LOCK = "/run/lock/lbtest-netns.lock"
CLONE_NEWNET = 0x40000000
FAULT_TABLE = "lbfault"

_open = []          # every Hosts not yet closed (atexit)
_seq = [0]


class NetnsUnavailable(RuntimeError):
    pass


def _run(argv, check=True, input=None):
    p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise NetnsUnavailable(f"{' '.join(argv)}: {p.stderr.strip() or p.returncode}")
    return p


_REASON = {}


def unavailable_reason():
    """None when namespaces, veths, a bridge and nft rules can be made here; else why not
    (probed once per process by building a throwaway namespace)."""
    if "r" in _REASON:
        return _REASON["r"]
    reason = None
    if os.geteuid() != 0:
        reason = "network namespaces need root (CI runs as root)"
    elif not shutil.which("ip"):
        reason = "`ip` is not installed (ci/deps.sh test installs iproute2)"
    elif not shutil.which("nft"):
        reason = "`nft` is not installed (ci/deps.sh test installs nftables)"
    else:
        probe = f"{PREFIX}{os.getpid()}x999999"
        try:
            _run(["ip", "netns", "add", probe])
            ns = ["ip", "netns", "exec", probe]
            _run(ns + ["ip", "link", "add", "name", "br0", "type", "bridge"])
            _run(ns + ["ip", "link", "add", "name", "va", "type", "veth", "peer", "name", "vb"])
            _run(ns + ["nft", "add", "table", "inet", FAULT_TABLE])
        except (NetnsUnavailable, OSError, subprocess.SubprocessError) as e:
            reason = f"cannot make network namespaces here: {e}"
        finally:
            _run(["ip", "netns", "delete", probe], check=False)
    _REASON["r"] = reason
    return reason


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_in(ns):
    """SIGKILLs every process still inside namespace `ns` (only ours live there)."""
    p = _run(["ip", "netns", "pids", ns], check=False)
    for pid in p.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def sweep():
    """Removes namespaces and test-side links that a killed run of ours left: names with
    our prefix whose owner PID is dead. Returns the names removed."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        return []
    removed = []
    out = _run(["ip", "netns", "list"], check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        m = NAME_RE.match(name)
        if m and not _pid_alive(int(m.group(1))):
            _kill_in(name)
            _run(["ip", "netns", "delete", name], check=False)
            removed.append(name)
    out = _run(["ip", "-o", "link", "show"], check=False).stdout
    for line in out.splitlines():
        parts = line.split(":")
        if len(parts) < 2:
            continue
        name = parts[1].strip().split("@")[0]
        m = NAME_RE.match(name)
        if m and name.endswith("h") and not _pid_alive(int(m.group(1))):
            _run(["ip", "link", "delete", name], check=False)
            removed.append(name)
    return removed


def in_netns(ns, fn, *args, **kw):
    """Calls fn(*args, **kw) on a thread that joined namespace `ns` (setns affects only the
    calling thread), returns its result or raises its exception. Sockets made there stay
    in that namespace: how the harness reaches a fakeserver's 127.0.0.1 control port."""
    libc = ctypes.CDLL(None, use_errno=True)
    box = {}

    def body():
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, f"setns {ns}: {os.strerror(e)}")
            finally:
                os.close(fd)
            box["v"] = fn(*args, **kw)
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box["e"] = e
    t = threading.Thread(target=body, name=f"netns-{ns}", daemon=True)
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box.get("v")


def _used_subnets():
    out = _run(["ip", "-o", "-4", "addr", "show"], check=False).stdout
    return [ipaddress.ip_interface(m.group(1)).network
            for m in re.finditer(r"inet (\S+)", out)]


class Host:
    """One member's namespace: `.ns` (its name), `.ip`, `.exec_prefix` (argv prefix that
    runs a command inside it), and the network faults of the brief."""

    def __init__(self, hosts, ns, ip, role):
        self.hosts = hosts
        self.ns = ns
        self.ip = ip
        self.role = role
        self.fault = None

    @property
    def exec_prefix(self):
        return ["ip", "netns", "exec", self.ns]

    def run(self, argv, input=None, check=True):
        return _run(self.exec_prefix + argv, input=input, check=check)

    def _rules(self, kind, body):
        self.heal()
        self.run(["nft", "-f", "-"], input=(
            f"table inet {FAULT_TABLE} {{\n"
            f"  chain input {{ type filter hook input priority 0; policy accept;\n"
            f"    {body.get('input', '')}\n  }}\n"
            f"  chain output {{ type filter hook output priority 0; policy accept;\n"
            f"    {body.get('output', '')}\n  }}\n"
            f"}}\n"))
        self.fault = kind

    def blackhole(self):
        """Drops every packet arriving on its link, SYNs included: a connect hangs, and so
        does anything sent on an open connection (the host vanished)."""
        self._rules("blackhole", {"input": 'iifname "eth0" drop'})

    def partition(self):
        """Drops both ways: established connections freeze in the middle."""
        self._rules("partition", {"input": 'iifname "eth0" drop',
                                  "output": 'oifname "eth0" drop'})

    def drop_answers(self):
        """One-way loss: requests arrive (the handshake completes: SYN-ACKs still leave),
        nothing it sends afterwards does."""
        self._rules("drop_answers", {"output": 'oifname "eth0" tcp flags & (syn | ack) '
                                               '== syn | ack accept\n'
                                               '    oifname "eth0" drop'})

    def reject(self):
        """Answers every TCP segment arriving on its link with a reset: connect refused."""
        self._rules("reject", {"input": 'iifname "eth0" meta l4proto tcp '
                                        'reject with tcp reset\n'
                                        '    iifname "eth0" drop'})

    def link_down(self):
        """Its link goes down (cable pulled): nothing leaves or arrives."""
        self.heal()
        self.run(["ip", "link", "set", "eth0", "down"])
        self.fault = "link_down"

    def heal(self):
        """Removes every rule and brings the link back up."""
        self.run(["nft", "delete", "table", "inet", FAULT_TABLE], check=False)
        self.run(["ip", "link", "set", "eth0", "up"])
        self.fault = None

    def rules(self):
        return self.run(["nft", "list", "ruleset"], check=False).stdout


class Hosts:
    """The namespaces of one cluster. `add(role)` makes a member's namespace; `close()`
    removes all of them (idempotent)."""

    def __init__(self):
        reason = unavailable_reason()
        if reason:
            raise NetnsUnavailable(reason)
        _seq[0] += 1
        self.base = f"{PREFIX}{os.getpid()}x{_seq[0]}"
        self.hub = f"{self.base}-hub"
        self.test_link = f"{self.base}h"
        self.hosts = []
        self.closed = False
        self.namespaces = []
        _open.append(self)
        try:
            self._make_hub()
        except BaseException:
            self.close()
            raise

    def _make_hub(self):
        self._netns_add(self.hub)
        hub = ["ip", "netns", "exec", self.hub]
        _run(hub + ["ip", "link", "set", "lo", "up"])
        _run(hub + ["ip", "link", "add", "name", "br0", "type", "bridge"])
        _run(hub + ["ip", "link", "set", "br0", "up"])
        os.makedirs(os.path.dirname(LOCK), exist_ok=True)
        with open(LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            used = _used_subnets()
            subnet = next((s for s in SUBNETS.subnets(new_prefix=24)
                           if not any(s.overlaps(u) for u in used)), None)
            if subnet is None:
                raise NetnsUnavailable("no free /24 left in 198.18.0.0/15")
            self.subnet = subnet
            hosts = list(subnet.hosts())
            self._free = iter(hosts[1:])
            self.client_ip = str(hosts[0])
            _run(["ip", "link", "add", "name", self.test_link, "type", "veth",
                  "peer", "name", "up0", "netns", self.hub])
            _run(["ip", "addr", "add", f"{self.client_ip}/24", "dev", self.test_link])
        _run(["ip", "link", "set", self.test_link, "up"])
        _run(hub + ["ip", "link", "set", "up0", "master", "br0"])
        _run(hub + ["ip", "link", "set", "up0", "up"])

    def _netns_add(self, name):
        _run(["ip", "netns", "add", name])
        self.namespaces.append(name)

    def add(self, role):
        """A namespace for member `role` with its own address on the segment: a Host."""
        ns = f"{self.base}-{role}"
        ip = str(next(self._free))
        self._netns_add(ns)
        port = f"p{len(self.hosts)}"
        _run(["ip", "link", "add", "name", port, "netns", self.hub, "type", "veth",
              "peer", "name", "eth0", "netns", ns])
        hub = ["ip", "netns", "exec", self.hub]
        _run(hub + ["ip", "link", "set", port, "master", "br0"])
        _run(hub + ["ip", "link", "set", port, "up"])
        host = Host(self, ns, ip, role)
        host.run(["ip", "link", "set", "lo", "up"])
        host.run(["ip", "addr", "add", f"{ip}/24", "dev", "eth0"])
        host.run(["ip", "link", "set", "eth0", "up"])
        self.hosts.append(host)
        return host

    def close(self):
        """Kills what still runs inside and deletes every namespace (their veths and nft
        tables go with them). Safe to call twice; never raises."""
        if self.closed:
            return
        self.closed = True
        for ns in reversed(self.namespaces):
            try:
                _kill_in(ns)
                _run(["ip", "netns", "delete", ns], check=False)
            except (OSError, subprocess.SubprocessError):
                pass
        # The test-side end dies with its peer in the hub; make sure.
        if _run(["ip", "link", "show", self.test_link], check=False).returncode == 0:
            _run(["ip", "link", "delete", self.test_link], check=False)
        if self in _open:
            _open.remove(self)

    def leftovers(self):
        """Names of this Hosts that still exist (empty after close())."""
        listed = _run(["ip", "netns", "list"], check=False).stdout
        names = {line.split()[0] for line in listed.splitlines() if line.split()}
        left = [ns for ns in self.namespaces if ns in names]
        if _run(["ip", "link", "show", self.test_link], check=False).returncode == 0:
            left.append(self.test_link)
        return left


@atexit.register
def _close_all():
    for h in list(_open):
        h.close()


__all__ = ["Hosts", "Host", "NetnsUnavailable", "unavailable_reason", "sweep", "in_netns"]
