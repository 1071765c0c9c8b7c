"""Published ports of a rootless engine: slirp4netns forwards them from the host.

In the daemon's network namespace a published port is the same DNAT rule as
for root (network/ruleset.py), matched on any address: slirp4netns, on the
host side, listens on the host address and port the user asked for and
delivers each connection to the namespace's own address (10.0.2.100) on the
same port, where the rule sends it on to the container. This is rootlesskit's
"slirp4netns" port driver; the container sees connections come from
slirp4netns's gateway, 10.0.2.2, not from the client.

slirp4netns's API: one JSON request per connection on its API socket, the
answer {"return": ...} or {"error": {"desc": ...}}.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from dockyard import rootless
from dockyard.errors import Conflict, SystemError
from dockyard.network.ports import ANY_ADDRESS
from dockyard.network.ruleset import Forward

PRIVILEGED_PORTS = 1024  # the kernel's default net.ipv4.ip_unprivileged_port_start
_Key = tuple[str, str, int]  # proto, host address, host port


class HostPorts:
    """The host ports slirp4netns forwards, kept equal to the engine's published ports."""

    def __init__(self, exec_root: Path) -> None:
        self.api_socket = str(exec_root / rootless.SLIRP_API_SOCKET)
        self._forwarded: dict[_Key, int] = {}  # slirp4netns's id of each forward

    def sync(self, forwards: list[Forward]) -> list[Forward]:
        """Forward exactly ``forwards``' host ports; the rules the namespace needs for them."""
        wanted = {(f.proto, f.host_ip, f.host_port) for f in forwards}
        for key in [key for key in self._forwarded if key not in wanted]:
            self._request("remove_hostfwd", id=self._forwarded.pop(key))
        for proto, host_ip, host_port in sorted(wanted - self._forwarded.keys()):
            if proto not in ("tcp", "udp"):
                raise Conflict(f"{proto} ports cannot be published in rootless mode")
            answer = self._request(
                "add_hostfwd",
                proto=proto,
                host_addr=host_ip,
                host_port=host_port,
                guest_addr=rootless.GUEST_ADDRESS,
                guest_port=host_port,
            )
            if "error" in answer:
                raise Conflict(_refusal(proto, host_ip, host_port, answer))
            self._forwarded[(proto, host_ip, host_port)] = int(answer["return"]["id"])
        return inside(forwards)

    def _request(self, command: str, **arguments: Any) -> dict[str, Any]:
        request = json.dumps({"execute": command, "arguments": arguments}).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(self.api_socket)
                sock.sendall(request)
                sock.shutdown(socket.SHUT_WR)
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
        except OSError as exc:
            raise SystemError(f"slirp4netns API {self.api_socket}: {exc.strerror}") from None
        try:
            decoded: dict[str, Any] = json.loads(answer)
        except ValueError:
            raise SystemError(f"slirp4netns API: unexpected answer {answer[:200]!r}") from None
        return decoded


def _refusal(proto: str, host_ip: str, host_port: int, answer: dict[str, Any]) -> str:
    if host_port < PRIVILEGED_PORTS:  # a user may not bind those (as rootlesskit says it)
        reason = (
            f"cannot expose privileged port {host_port}, you can add "
            f"'net.ipv4.ip_unprivileged_port_start={host_port}' to /etc/sysctl.conf, "
            f"or choose a larger port number (>= {PRIVILEGED_PORTS})"
        )
    else:
        error = answer.get("error") or {}
        reason = str(error.get("desc") or error)
    return (
        "driver failed programming external connectivity: failed to bind host port "
        f"{host_ip}:{host_port}/{proto}: {reason}"
    )


def inside(forwards: list[Forward]) -> list[Forward]:
    """The rules the namespace needs for ``forwards``: the host side chose the address
    already, so in here they all arrive on 10.0.2.100."""
    return [
        Forward(f.proto, ANY_ADDRESS, f.host_port, f.address, f.port, f.address6) for f in forwards
    ]
