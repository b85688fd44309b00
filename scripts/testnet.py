"""Test hosts on one machine: each "host" is a network namespace with its own address on a
bridge that the test creates, so processes on different hosts talk over a real (virtual) link
that can be cut (`cut`) and restored (`restore`) without touching any other host.

Addresses come from 198.18.0.0/15, the block reserved for network benchmark tests (RFC 2544):
nothing outside this machine is ever addressed. The root namespace is on the bridge as
`198.18.<net>.1`, so a process there (a proxy, the test itself) reaches every host.

Needs root and `ip` (iproute2). Every name carries a tag, so two test runs at once do not meet.

    net = HostNet("t1", net=7)
    net.create(["db1", "db2", "app1"])
    net.popen("app1", ["python", "-m", "apps.cli", "api"])   # runs inside app1's namespace
    net.cut("app1"); ...; net.restore("app1")
    net.destroy()
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

PREFIX = "198.18"


def ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", *(("netns", "exec", netns, "ip") if netns else ()), *args]
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


@dataclass
class HostNet:
    tag: str  # short (names are at most 15 characters): a-z0-9, at most 5
    net: int  # the third octet of 198.18.<net>.0/24 (0-255)
    hosts: dict[str, str] = field(default_factory=dict)  # name -> address

    @property
    def bridge(self) -> str:
        return f"ob{self.tag}"

    @property
    def gateway(self) -> str:
        """The root namespace's address on the bridge."""
        return f"{PREFIX}.{self.net}.1"

    def netns(self, name: str) -> str:
        return f"oms-{self.tag}-{name}"

    def veth(self, name: str) -> str:
        return f"v{self.tag}{name}"[:15]

    def create(self, names: Sequence[str]) -> None:
        self.destroy()  # leftovers of a run that died
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for number, name in enumerate(names, start=10):
            ns, veth, address = self.netns(name), self.veth(name), f"{PREFIX}.{self.net}.{number}"
            ip("netns", "add", ns)
            ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            ip("link", "set", veth, "master", self.bridge)
            ip("link", "set", veth, "up")
            ip("addr", "add", f"{address}/24", "dev", "eth0", netns=ns)
            ip("link", "set", "eth0", "up", netns=ns)
            ip("link", "set", "lo", "up", netns=ns)
            self.hosts[name] = address

    def address(self, name: str) -> str:
        return self.hosts[name]

    def command(self, name: str, argv: Sequence[str]) -> list[str]:
        """`argv` run inside host `name`'s namespace."""
        return ["ip", "netns", "exec", self.netns(name), *argv]

    def popen(self, name: str, argv: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        return subprocess.Popen(self.command(name, argv), **kw)

    def cut(self, name: str) -> None:
        """Host `name` loses its link: nothing goes in or out (its processes keep running)."""
        ip("link", "set", self.veth(name), "down")

    def restore(self, name: str) -> None:
        ip("link", "set", self.veth(name), "up")

    def destroy(self) -> None:
        listed = ip("netns", "list", check=False).stdout.split()
        for ns in listed:
            if ns.startswith(f"oms-{self.tag}-"):
                ip("netns", "del", ns, check=False)  # its eth0 goes, and so the veth's peer
        ip("link", "del", self.bridge, check=False)
        self.hosts.clear()
