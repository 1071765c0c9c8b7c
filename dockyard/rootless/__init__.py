"""Rootless mode: the engine run by an ordinary user (docs/rootless.md).

``dockyardd`` started by a user other than root forks and re-execs itself in a
user namespace (mapped from the user's /etc/subuid and
/etc/subgid ranges), a mount namespace and a network namespace, where it is
root; the rest of the engine runs there unchanged but for the few hooks that
ask ``active()``. The process left on the host side keeps slirp4netns or pasta, the
namespace's way out (rootless/network.py), and binds the host's sockets of the
published ports for the daemon (rootless/ports.py).
"""

from __future__ import annotations

import os

# Set for the daemon started in the namespace (where euid is 0): its pid on the host.
ENV_FLAG = "DOCKYARD_ROOTLESS"
# Set for it too: the host side's socket that binds the published ports (rootless/ports.py).
PORTS_ENV = "DOCKYARD_ROOTLESS_PORTS"
PORTS_SOCKET = "ports.sock"  # in the exec root
# slirp4netns's fixed addresses in the namespace: its tap0 and the host's side.
TAP_DEVICE = "tap0"
GUEST_ADDRESS = "10.0.2.100"
MTU = 65520


def active() -> bool:
    """Whether this process is a rootless daemon (or a process it forked) in its namespace."""
    return bool(os.environ.get(ENV_FLAG))


def host_pid() -> int:
    """This daemon's pid as the host sees it (its pid file says it)."""
    return int(os.environ.get(ENV_FLAG) or os.getpid())
