"""`docker run -p`, `docker port` and `docker network` with the real docker CLI, and our own CLI.

Traffic goes only to 127.0.0.1 and to the containers these tests start.
"""

from __future__ import annotations

import re
import socket
from typing import Any

import docker
import pytest

from tests.e2e.helpers import Docker, hostport, wait_running
from tests.network.test_engine_networks import SERVE, fetch_script, free_port, http_get


def run_detached(docker: Docker, *args: str) -> str:
    result = docker("run", "-d", *args)
    assert result.returncode == 0, result.stderr
    return str(result.stdout.strip())


def test_the_getting_started_workflow_publishes_a_port(docker_cli: Docker) -> None:
    port = free_port()
    cid = run_detached(
        docker_cli, "-p", f"{port}:80", "--name", "web", "busybox", "sh", "-c", SERVE
    )
    assert http_get(port) == f"hello from {cid[:12]}\n"
    v6 = hostport(docker_cli, "::", port)  # tests/network/test_ipv6_ports.py
    assert docker_cli("port", "web").stdout == f"80/tcp -> 0.0.0.0:{port}\n80/tcp -> {v6}\n"
    ps = docker_cli("ps", "--format", "{{.Ports}}").stdout
    assert ps == f"0.0.0.0:{port}->80/tcp, {v6}->80/tcp\n"
    fmt = "{{.NetworkSettings.Networks.bridge.IPAddress}} {{.NetworkSettings.Networks.bridge.Gateway}}"
    address, gateway = docker_cli("inspect", "-f", fmt, "web").stdout.split()
    subnet = docker_cli(
        "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "bridge"
    ).stdout.strip()
    assert address.rsplit(".", 1)[0] == gateway.rsplit(".", 1)[0] and subnet.endswith("/16")


def test_a_taken_host_port_and_a_bad_port_spec_are_refused(docker_cli: Docker) -> None:
    port = free_port()
    run_detached(docker_cli, "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c", SERVE)
    taken = docker_cli("run", "-d", "-p", f"127.0.0.1:{port}:80", "busybox", "true")
    assert taken.returncode == 125
    assert f"Bind for 127.0.0.1:{port} failed: port is already allocated" in taken.stderr
    bad = docker_cli("run", "-p", "80:eighty", "busybox", "true")
    wording = docker_cli.expects("invalid", v20_10="Invalid")
    assert bad.returncode == 125 and f"{wording} containerPort: eighty" in bad.stderr


def test_user_networks_with_the_docker_cli(docker_cli: Docker) -> None:
    created = docker_cli("network", "create", "--subnet", "10.231.7.0/24", "appnet")
    assert created.returncode == 0, created.stderr
    assert re.fullmatch(r"[0-9a-f]{64}\n", created.stdout)
    listed = docker_cli("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}").stdout
    assert listed.splitlines() == [
        "appnet bridge local",
        "bridge bridge local",
        "host host local",
        "none null local",
    ]
    assert docker_cli("network", "inspect", "-f", "{{json .IPAM.Config}}", "appnet").stdout == (
        '[{"Subnet":"10.231.7.0/24","Gateway":"10.231.7.1"}]\n'
    )
    web = run_detached(
        docker_cli,
        "--network",
        "appnet",
        "--network-alias",
        "db",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        SERVE,
    )
    client = docker_cli(
        "run",
        "--rm",
        "--network",
        "appnet",
        "busybox",
        *fetch_script("http://db/"),
    )
    assert (client.returncode, client.stdout) == (0, f"hello from {web[:12]}\n")
    address = docker_cli("inspect", "-f", "{{.NetworkSettings.Networks.appnet.IPAddress}}", "web")
    assert address.stdout == "10.231.7.2\n"
    refused = docker_cli("network", "rm", "appnet")
    assert refused.returncode == 1 and "has active endpoints" in refused.stderr
    assert docker_cli("rm", "-f", "web").returncode == 0
    assert docker_cli("network", "rm", "appnet").stdout == "appnet\n"
    missing = docker_cli("network", "inspect", "appnet")
    assert missing.returncode == 1
    assert (
        docker_cli.expects("network appnet not found", v20_10="Error: No such network: appnet")
        in missing.stderr
    )


def test_connect_disconnect_and_prune_with_the_docker_cli(docker_cli: Docker) -> None:
    assert docker_cli("network", "create", "side").returncode == 0
    assert docker_cli("network", "create", "unused").returncode == 0
    run_detached(docker_cli, "--name", "box", "busybox", "sleep", "300")
    wait_running(docker_cli, "box")
    assert docker_cli("network", "connect", "--alias", "b", "side", "box").returncode == 0
    networks = docker_cli(
        "inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", "box"
    )
    assert networks.stdout.split() == ["bridge", "side"]
    interfaces = docker_cli("exec", "box", "ip", "-o", "-4", "addr", "show").stdout
    assert " eth0 " in interfaces and " eth1 " in interfaces
    pruned = docker_cli("network", "prune", "-f")
    assert pruned.stdout == "Deleted Networks:\nunused\n\n"
    assert docker_cli("network", "disconnect", "side", "box").returncode == 0
    assert " eth1 " not in docker_cli("exec", "box", "ip", "-o", "-4", "addr", "show").stdout
    assert docker_cli("network", "rm", "side").returncode == 0


def test_network_commands_of_our_own_cli(daemon: Any) -> None:
    assert daemon.cli("network", "create", "--subnet", "10.231.8.0/24", "mine").returncode == 0
    table = daemon.cli("network", "ls").stdout.splitlines()
    assert table[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert [line.split()[1:] for line in table[1:]] == [
        ["bridge", "bridge", "local"],
        ["host", "host", "local"],
        ["mine", "bridge", "local"],
        ["none", "null", "local"],
    ]
    fmt = "{{range .IPAM.Config}}{{.Gateway}}{{end}}"
    assert daemon.cli("network", "inspect", "-f", fmt, "mine").stdout == "10.231.8.1\n"
    port = free_port()
    started = daemon.cli(
        "run", "-d", "--network", "mine", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c", SERVE
    )
    assert started.returncode == 0, started.stderr
    assert http_get(port).startswith("hello from")
    assert daemon.cli("port", started.stdout.strip()).stdout == f"80/tcp -> 127.0.0.1:{port}\n"
    bad = daemon.cli("run", "-p", "1.2.3:80:80", "busybox", "true")
    assert bad.returncode == 125 and "invalid IP address: 1.2.3" in bad.stderr
    in_use = daemon.cli("network", "rm", "mine")
    assert in_use.returncode == 1 and "has active endpoints" in in_use.stderr
    assert daemon.cli("rm", "-f", started.stdout.strip()).returncode == 0
    assert daemon.cli("network", "rm", "mine").stdout == "mine\n"


def test_network_create_answers_as_docker(docker_cli: Docker, docker_sdk: Any) -> None:
    # moby takes any name but a blank one (a name with a space is fine)
    spaced = docker_cli("network", "create", "my net")
    assert spaced.returncode == 0, spaced.stderr
    joined = docker_cli("run", "--rm", "--network", "my net", "busybox", "ip", "-4", "-o", "addr")
    assert " eth0 " in joined.stdout
    blank = docker_cli("network", "create", " ")
    assert (blank.returncode, blank.stderr) == (
        1,
        "Error response from daemon: invalid name: name is empty\n",
    )
    for flag in ("-d", "--ipam-driver"):
        unknown = docker_cli("network", "create", flag, "weave", "elsewhere")
        assert unknown.stderr == 'Error response from daemon: plugin "weave" not found\n'
    # Options as given, IPAM's too; null where the request had none, as the daemon's own
    made = docker_cli(
        "network", "create", "-o", "com.example.k=v", "--ipam-opt", "pool=x", "--label", "a=b",
        "opts",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    shown = "{{json .Options}} {{json .IPAM.Options}} {{json .Labels}}"
    assert docker_cli("network", "inspect", "-f", shown, "opts").stdout == (
        '{"com.example.k":"v"} {"pool":"x"} {"a":"b"}\n'
    )
    assert docker_cli("network", "inspect", "-f", shown, "my net").stdout == "{} {} {}\n"
    assert docker_cli("network", "inspect", "-f", "{{json .IPAM.Options}}", "bridge").stdout == (
        "null\n"
    )
    bare = docker_sdk.networks.create("bare")  # no IPAM, no options: the SDK sends nulls
    assert (bare.attrs["Options"], bare.attrs["Labels"], bare.attrs["IPAM"]["Options"]) == (
        {},
        {},
        None,
    )
    subnet = bare.attrs["IPAM"]["Config"][0]["Subnet"]
    with pytest.raises(docker.errors.APIError) as overlap:
        docker_sdk.networks.create("again", ipam=docker.types.IPAMConfig(
            pool_configs=[docker.types.IPAMPool(subnet=subnet)]
        ))  # fmt: skip
    assert (overlap.value.status_code, overlap.value.explanation) == (
        403,
        "invalid pool request: Pool overlaps with other one on this address space",
    )
    for name in ("my net", "opts", "bare"):
        assert docker_cli("network", "rm", name).returncode == 0


def test_bridge_mtu_and_icc_options_are_applied(docker_cli: Docker) -> None:
    created = docker_cli(
        "network",
        "create",
        "--subnet",
        "10.231.9.0/24",
        "-o",
        "com.docker.network.driver.mtu=1400",
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        "quiet",
    )
    assert created.returncode == 0, created.stderr
    bridge = f"br-{created.stdout.strip()[:12]}"
    web = run_detached(
        docker_cli, "--network", "quiet", "--name", "web", "busybox", "sh", "-c", SERVE
    )
    # The host reaches it (no forwarding involved): it serves.
    assert http_get(80, host="10.231.9.2") == f"hello from {web[:12]}\n"
    with open(f"/sys/class/net/{bridge}/mtu") as f:
        assert f.read() == "1400\n"
    inside = docker_cli("exec", "web", "cat", "/sys/class/net/eth0/mtu")
    assert inside.stdout == "1400\n"
    # Another container of the network does not.
    client = docker_cli(
        "run", "--rm", "--network", "quiet", "busybox", *fetch_script("http://10.231.9.2/", tries=2)
    )  # fmt: skip
    assert (client.returncode, client.stdout) == (1, "")
    assert docker_cli("rm", "-f", "web").returncode == 0
    assert docker_cli("network", "rm", "quiet").returncode == 0


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "com.docker.network.driver.mtu=big",
            "failed to parse com.docker.network.driver.mtu value: big "
            '(strconv.Atoi: parsing "big": invalid syntax)',
        ),
        ("com.docker.network.driver.mtu=20", "invalid MTU number: 20"),
        (
            "com.docker.network.bridge.enable_icc=maybe",
            "failed to parse com.docker.network.bridge.enable_icc value: maybe "
            '(strconv.ParseBool: parsing "maybe": invalid syntax)',
        ),
    ],
)
def test_bad_bridge_options_are_refused(docker_cli: Docker, option: str, message: str) -> None:
    refused = docker_cli("network", "create", "-o", option, "badopts")
    assert refused.returncode == 1
    assert message in refused.stderr
    assert docker_cli("network", "inspect", "badopts").returncode == 1


def _ask_v6(port: int, data: bytes) -> bytes:
    """``data`` to [::1]:port over TCP, then a half-close; all that comes back."""
    with socket.create_connection(("::1", port), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
        return reply


def test_published_ports_answer_on_ipv6_loopback(docker_cli: Docker) -> None:
    """As with docker-proxy on [::]:port (the UDP relay: tests/network/test_proxy.py)."""
    port = free_port()
    cid = run_detached(
        docker_cli, "-p", f"{port}:80", "--name", "web", "busybox", "sh", "-c", SERVE
    )
    assert http_get(port) == f"hello from {cid[:12]}\n"  # IPv4 (DNAT): it serves
    page = _ask_v6(port, b"GET / HTTP/1.0\r\n\r\n")
    assert page.endswith(f"\r\n\r\nhello from {cid[:12]}\n".encode())
    # Stopped with the container.
    assert docker_cli("stop", "-t", "1", "web").returncode == 0
    with pytest.raises(ConnectionRefusedError):
        _ask_v6(port, b"")
