"""Separate hosts on one machine: network namespaces on a private bridge (root only).

Each host is a namespace with one interface, `eth0`, whose other end is plugged into a bridge
that lives in a namespace of its own, so nothing is added to the machine's own network and no
packet can leave it. Processes run in a host with `ip netns exec`; the test itself talks from a
thread that entered a client host (`Hosts.run_in`).
"""

import ctypes
import os
import secrets
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


CLONE_NEWNET = 0x40000000


def unavailable() -> str | None:
    """Why namespaces can't be built here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    probe = f"t2vprobe{secrets.token_hex(3)}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        return "`ip netns add` is not permitted here"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Hosts:
    """Hosts on 10.231.<subnet>.0/24, each reachable at `address(name)`."""

    names: list[str]
    subnet: int = field(default_factory=lambda: 1 + secrets.randbelow(250))
    tag: str = field(default_factory=lambda: f"t2v{secrets.token_hex(2)}")

    def __post_init__(self):
        self.switch = f"{self.tag}-switch"
        self.created: list[str] = []

    def namespace(self, name: str) -> str:
        return f"{self.tag}-{name}"

    def address(self, name: str) -> str:
        return f"10.231.{self.subnet}.{10 + self.names.index(name)}"

    def build(self) -> "Hosts":
        ip("netns", "add", self.switch)
        self.created.append(self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")
        for i, name in enumerate(self.names):
            ns = self.namespace(name)
            ip("netns", "add", ns)
            self.created.append(ns)
            port = f"port{i}"
            # Both ends are born inside the namespaces: nothing touches the machine's own network.
            ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", self.switch)
            ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
            ip("-n", ns, "addr", "add", f"{self.address(name)}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")
        return self

    def set_link(self, name: str, up: bool) -> None:
        """Cut or restore a host's only link (its cable pulled out of the switch)."""
        ip("-n", self.switch, "link", "set", f"port{self.names.index(name)}", "up" if up else "down")

    def popen(self, name: str, argv: list[str], **kwargs) -> subprocess.Popen:
        # `ip netns exec` execs the command: the process keeps the pid Popen reports.
        return subprocess.Popen(["ip", "netns", "exec", self.namespace(name), *argv], **kwargs)

    def run_in(self, name: str, function):
        """Call `function` on a thread inside host `name` (sockets it opens live there)."""

        def enter():
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{self.namespace(name)}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {name}")
            finally:
                os.close(fd)

        with ThreadPoolExecutor(max_workers=1, initializer=enter) as pool:
            return pool.submit(function).result()

    def remove(self) -> None:
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.created.clear()
