"""A rootless engine's way out (slirp4netns or pasta) and its published ports (docs/rootless.md).

Whichever network driver, a published port is a socket of the host the host
side binds (rootlesskit's builtin port driver): on any address of the host,
at any time the engine runs.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from tests.rootless.conftest import User, running_engine
from tests.rootless.helpers import WEB, free_port, host_address, page, refused

NET = "DOCKERD_ROOTLESS_ROOTLESSKIT_NET"
HOST_LOOPBACK = "DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK"
DRIVERS = ("slirp4netns", "pasta")


def _ways_out(user: User) -> set[str]:
    """The network drivers among the user's processes (pasta's comm is its binary's: passt)."""
    found = set()
    for pid in user.processes():
        try:
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except FileNotFoundError:
            continue
        if os.path.basename(argv0) in DRIVERS:
            found.add(os.path.basename(argv0))
    return found


class _LoopbackListener:
    """A listener of the test on the host's 127.0.0.1: what one client sends it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(60)
        self.port = int(self.sock.getsockname()[1])
        self.received = b""
        self._thread = threading.Thread(target=self._serve)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            while chunk := conn.recv(4096):  # until the client's half-close
                self.received += chunk

    def close(self) -> bytes:
        self._thread.join(timeout=70)
        self.sock.close()
        return self.received


def test_pasta_forwards_the_ports_published_while_it_runs(user: User, busybox_tar: Path) -> None:
    with running_engine(user, busybox_tar, **{NET: "pasta"}):
        assert _ways_out(user) == {"pasta"}
        # A port published once the engine runs: forwarded at once, on every address.
        port = free_port()
        run = user.dockyard("run", "-d", "--name", "web", "-p", f"{port}:8000", "busybox", *WEB)
        assert run.returncode == 0, run.stderr
        assert page("127.0.0.1", port) == "hello\n"
        assert page(host_address(), port) == "hello\n"
        ps = user.dockyard("ps", "--format", "{{.Names}} {{.Ports}}")
        assert ps.stdout == f"web 0.0.0.0:{port}->8000/tcp\n", ps.stderr
        # Given back with the container: nothing listens there any more.
        assert user.dockyard("rm", "-f", "web").returncode == 0
        assert refused("127.0.0.1", port)
    assert _ways_out(user) == set()  # pasta ended with the engine


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_container_reaches_the_hosts_loopback_when_allowed(
    user: User, busybox_tar: Path, driver: str
) -> None:
    """Outbound traffic of a container on a bridge: masqueraded to the namespace's
    10.0.2.100, then carried by the driver. The host's loopback is the namespace's
    10.0.2.2 when asked (rootlesskit's --disable-host-loopback=false): the only
    host address this test may send to."""
    with running_engine(user, busybox_tar, **{NET: driver, HOST_LOOPBACK: "false"}):
        assert _ways_out(user) == {driver}
        listener = _LoopbackListener()
        try:
            sent = user.dockyard(
                "run", "--rm", "busybox", "sh", "-c",
                f"echo from-the-container | nc 10.0.2.2 {listener.port}",
            )  # fmt: skip
        finally:
            received = listener.close()
        assert sent.returncode == 0, sent.stderr
        assert received == b"from-the-container\n"


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_port_published_on_one_address_of_the_host(
    user: User, busybox_tar: Path, driver: str
) -> None:
    address = host_address()
    with running_engine(user, busybox_tar, **{NET: driver}):
        assert _ways_out(user) == {driver}
        port = free_port()
        run = user.dockyard(
            "run", "-d", "--name", "web", "-p", f"{address}:{port}:8000", "busybox", *WEB
        )
        assert run.returncode == 0, run.stderr
        assert page(address, port) == "hello\n"
        assert refused("127.0.0.1", port)  # on that address only
        shown = user.dockyard("port", "web")
        assert shown.stdout == f"8000/tcp -> {address}:{port}\n", shown.stderr
        # An address the host does not have is refused, as root's engine refuses it.
        missing = user.dockyard("run", "--rm", "-p", f"192.0.2.254:{port}:80", "busybox", "true")
        assert missing.returncode == 125
        assert "host address 192.0.2.254 is not an address of this host" in missing.stderr
        assert user.dockyard("rm", "-f", "web").returncode == 0
        assert refused(address, port)


def test_an_unknown_network_driver_is_refused_at_start(user: User) -> None:
    user.env = {NET: "vpnkit"}
    try:
        refused_start = user.dockyard("ps")
    finally:
        user.env = {}
    assert refused_start.returncode != 0
    assert (
        f"dockyardd: {NET}=vpnkit: unsupported network driver (slirp4netns or pasta)"
        in refused_start.stderr
    )
    assert user.processes() == []
    assert not os.path.exists(user.exec_root / "dockyardd.pid")
