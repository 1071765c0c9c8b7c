"""A container cannot reach the host's services bound to 127.0.0.1 (CVE-2020-8558).

The bridges have route_localnet (the host's loopback clients of published ports
need it), which would also let a neighbour on the bridge address the host's
127.0.0.1 with a hand-made frame (tests/network/frames.py). Each test sends,
from inside a container's namespace, a packet to the host's 127.0.0.1 (it must
be dropped), then the same packet to the bridge's gateway address: the control
that the frame is well formed and gets through (it must arrive). Packets go in
order on one path, so once the control has arrived the first would have too.

Traffic goes only to the host's own addresses, from the containers these tests start.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.network.test_engine_networks import run

FRAMES = str(Path(__file__).with_name("frames.py"))
LOOPBACK = "127.0.0.1"
ARRIVAL_TIMEOUT = 10


@pytest.fixture(params=["bridge", "user network"])
def network(request: pytest.FixtureRequest, engine: Any) -> str:
    if request.param == "bridge":
        return "bridge"
    engine.networks.create("localnet")
    return "localnet"


def neighbour(engine: Any, network: str) -> dict[str, Any]:
    """A running container on ``network``: its pid, address, and the host's side of the bridge."""
    cid = run(engine, ["sleep", "300"], HostConfig={"NetworkMode": network})
    endpoint = engine.containers.inspect(cid)["NetworkSettings"]["Networks"][network]
    bridge = engine.networks.get(network).bridge
    return {
        "pid": engine.containers.inspect(cid)["State"]["Pid"],
        "address": endpoint["IPAddress"],
        "gateway": endpoint["Gateway"],
        "host_mac": Path(f"/sys/class/net/{bridge}/address").read_text().strip(),
    }


def send_frames(box: dict[str, Any], proto: str, port: int, *destinations: str) -> str:
    """Run frames.py in the container's network namespace; what it prints."""
    sent = subprocess.run(
        ["nsenter", f"--net=/proc/{box['pid']}/ns/net", sys.executable, FRAMES, "eth0"]
        + [box["host_mac"], box["address"], proto, str(port), *destinations],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr
    return sent.stdout


@pytest.fixture
def udp_listener() -> Iterator[socket.socket]:
    """A UDP service on the host's 127.0.0.1, ready before any container runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        yield sock


@pytest.fixture
def tcp_listener() -> Iterator[socket.socket]:
    """A TCP service on the host's 127.0.0.1, ready before any container runs."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen()
        yield sock


def test_udp_to_the_hosts_loopback_is_dropped(
    engine: Any, network: str, udp_listener: socket.socket
) -> None:
    port = udp_listener.getsockname()[1]
    box = neighbour(engine, network)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
        control.bind((box["gateway"], port))
        send_frames(box, "udp", port, LOOPBACK, box["gateway"])
        control.settimeout(ARRIVAL_TIMEOUT)
        assert control.recvfrom(100)[1][0] == box["address"]
    udp_listener.setblocking(False)
    with pytest.raises(BlockingIOError):
        leaked = udp_listener.recvfrom(100)
        pytest.fail(f"the host's 127.0.0.1 got a datagram from a container: {leaked}")


def test_tcp_to_the_hosts_loopback_is_dropped(
    engine: Any, network: str, tcp_listener: socket.socket
) -> None:
    port = tcp_listener.getsockname()[1]
    box = neighbour(engine, network)
    with socket.socket() as control:
        control.bind((box["gateway"], port))
        control.listen()
        answers = send_frames(box, "tcp", port, LOOPBACK, box["gateway"])
    assert answers.split() == [box["gateway"]]


def test_a_new_bridge_routes_loopback_addresses_only_behind_the_drop(engine: Any) -> None:
    engine.networks.create("localnet")
    bridge = engine.networks.get("localnet").bridge
    assert Path(f"/proc/sys/net/ipv4/conf/{bridge}/route_localnet").read_text() == "1\n"
    table = subprocess.run(
        ["nft", "list", "chain", "ip", engine.networks.table, "loopback"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert 'iifname != "lo" ip daddr 127.0.0.0/8 drop' in table
