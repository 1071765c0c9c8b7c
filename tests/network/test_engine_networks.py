"""Networks in-process: published ports, names on user networks, connect, isolation, cleanup.

Traffic goes only to 127.0.0.1 and to the containers these tests start.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from dockyard.config import Paths
from dockyard.engine.engine import Engine
from dockyard.errors import Conflict, Forbidden, InvalidArgument, NotFound

SERVE = (
    "mkdir -p /www && echo hello from $(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"
)


def fetch_script(url: str, tries: int = 100, wait_for_dns: bool = False) -> list[str]:
    """A client that retries until the server is up; prints the page, or exits 1.

    With ``wait_for_dns`` it first waits for the embedded DNS server in its
    resolv.conf (a container connected to a user network after it started): a
    name asked before would go to the host's DNS servers, which tests never
    send traffic to. (busybox wget's -T crashes; `timeout` bounds each try.)
    """
    wait = (
        "until grep -q '^nameserver 127.0.0.11$' /etc/resolv.conf; do sleep 0.05; done; "
        if wait_for_dns
        else ""
    )
    fetch = f"timeout 2 wget -q -O- {url} && exit 0"
    return ["sh", "-c", f"{wait}for i in $(seq {tries}); do {fetch}; sleep 0.1; done; exit 1"]


def run(engine: Any, cmd: list[str], name: str | None = None, **body: Any) -> str:
    cid = engine.loop.run_until_complete(
        engine.containers.create({"Image": "busybox", "Cmd": cmd, **body}, name)
    )["Id"]
    engine.loop.run_until_complete(engine.containers.start(cid))
    return cid


def finish(engine: Any, cid: str) -> tuple[int, str]:
    """Wait for the container to end; its exit code and output."""

    async def wait_and_read() -> tuple[int, str]:
        code = (await asyncio.wait_for(engine.containers.wait(cid), 30))["StatusCode"]
        out = b"".join([data async for _, data in engine.containers.logs(cid)])
        return code, out.decode()

    return engine.loop.run_until_complete(wait_and_read())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_get(port: int, timeout: float = 10, host: str = "127.0.0.1") -> str:
    """The body of GET / on host:port, retried until it answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=2) as conn:
                conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
                reply = b""
                while chunk := conn.recv(4096):
                    reply += chunk
            return reply.split(b"\r\n\r\n", 1)[1].decode()
        except (OSError, IndexError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def publish(port: int, host_ip: str = "127.0.0.1") -> dict:
    return {
        "ExposedPorts": {"80/tcp": {}},
        "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": host_ip, "HostPort": str(port)}]}},
    }


def test_a_published_port_answers_on_the_hosts_loopback(engine: Any) -> None:
    port = free_port()
    cid = run(engine, ["sh", "-c", SERVE], "web", **publish(port))
    assert http_get(port) == f"hello from {cid[:12]}\n"
    settings = engine.containers.inspect(cid)["NetworkSettings"]
    assert settings["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    bridge = engine.networks.inspect("bridge")
    endpoint = settings["Networks"]["bridge"]
    assert endpoint["NetworkID"] == bridge["Id"]
    assert endpoint["Gateway"] == bridge["IPAM"]["Config"][0]["Gateway"]
    assert settings["IPAddress"] == endpoint["IPAddress"] != ""
    assert bridge["Containers"][cid]["IPv4Address"] == f"{endpoint['IPAddress']}/16"
    engine.loop.run_until_complete(engine.containers.stop(cid, timeout=0))
    settings = engine.containers.inspect(cid)["NetworkSettings"]
    assert settings["Ports"] == {} and settings["Networks"]["bridge"]["IPAddress"] == ""
    assert engine.networks.inspect("bridge")["Containers"] == {}
    assert refused(port)


def test_ephemeral_ports_and_publish_all(engine: Any) -> None:
    cid = run(
        engine,
        ["sh", "-c", SERVE],
        ExposedPorts={"80/tcp": {}, "81/udp": {}},
        HostConfig={"PublishAllPorts": True},
    )
    ports = engine.containers.inspect(cid)["NetworkSettings"]["Ports"]
    assert set(ports) == {"80/tcp", "81/udp"}
    v4, v6 = ports["80/tcp"]  # one host port for both families
    assert v4["HostIp"] == "0.0.0.0" and 32768 <= int(v4["HostPort"]) <= 60999
    assert v6 == {"HostIp": "::", "HostPort": v4["HostPort"]}
    assert http_get(int(v4["HostPort"])).startswith("hello from")


def test_containers_reach_published_ports_through_the_gateway_even_their_own(
    engine: Any,
) -> None:
    port = free_port()
    web = run(engine, ["sh", "-c", SERVE], "web", **publish(port, host_ip="0.0.0.0"))
    gateway = engine.containers.inspect(web)["NetworkSettings"]["Networks"]["bridge"]["Gateway"]
    url = f"http://{gateway}:{port}/"
    neighbour = run(engine, fetch_script(url))
    assert finish(engine, neighbour) == (0, f"hello from {web[:12]}\n")
    itself = run(engine, fetch_script(url), HostConfig={"NetworkMode": "container:web"})
    assert finish(engine, itself) == (0, f"hello from {web[:12]}\n")


def test_a_host_port_in_use_is_refused_with_the_reason(engine: Any) -> None:
    port = free_port()
    run(engine, ["sh", "-c", SERVE], "first", **publish(port, ""))
    second = engine.loop.run_until_complete(
        engine.containers.create({"Image": "busybox", "Cmd": ["true"], **publish(port)}, "second")
    )
    with pytest.raises(
        Conflict, match=f"Bind for 127.0.0.1:{port} failed: port is already allocated"
    ):
        engine.loop.run_until_complete(engine.containers.start(second["Id"]))
    assert not engine.containers.inspect("second")["State"]["Running"]
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        third = engine.loop.run_until_complete(
            engine.containers.create({"Image": "busybox", "Cmd": ["true"], **publish(taken)}, None)
        )
        with pytest.raises(Conflict, match="address already in use"):
            engine.loop.run_until_complete(engine.containers.start(third["Id"]))
    assert http_get(port).startswith("hello from")


def test_containers_on_a_user_network_reach_each_other_by_name_and_alias(engine: Any) -> None:
    engine.networks.create("backend")
    web = run(
        engine,
        ["sh", "-c", SERVE],
        "web",
        HostConfig={"NetworkMode": "backend"},
        NetworkingConfig={"EndpointsConfig": {"backend": {"Aliases": ["www"]}}},
    )
    for name in ("web", "www", web[:12]):
        script = fetch_script(f"http://{name}/")
        client = run(engine, script, HostConfig={"NetworkMode": "backend"})
        assert finish(engine, client) == (0, f"hello from {web[:12]}\n")
    network = engine.networks.inspect("backend")
    assert [c["Name"] for c in network["Containers"].values()] == ["web"]
    dns = engine.containers.inspect(web)["NetworkSettings"]["Networks"]["backend"]["DNSNames"]
    assert dns == ["web", "www", web[:12]]


def test_no_names_on_the_default_bridge(engine: Any) -> None:
    web = run(engine, ["sh", "-c", SERVE], "web")
    address = engine.containers.inspect(web)["NetworkSettings"]["IPAddress"]
    client = run(engine, ["cat", "/etc/hosts"])
    code, hosts = finish(engine, client)
    assert code == 0 and "web" not in hosts and address not in hosts
    assert (
        f"{engine.containers.inspect(client)['NetworkSettings']['IPAddress']}\t{client[:12]}\n"
        in hosts
    )


def test_connect_and_disconnect_a_running_container(engine: Any) -> None:
    engine.networks.create("front")
    web = run(engine, ["sh", "-c", SERVE], "web", HostConfig={"NetworkMode": "front"})
    client = run(engine, fetch_script("http://web/", wait_for_dns=True), "client")
    engine.networks.connect("front", "client", {"Aliases": ["c"]})
    assert finish(engine, client) == (0, f"hello from {web[:12]}\n")
    watcher = run(engine, ["sleep", "60"], "watcher", HostConfig={"NetworkMode": "front"})
    discovery = engine.networks.discovery
    address = engine.containers.inspect(web)["NetworkSettings"]["Networks"]["front"]["IPAddress"]
    assert discovery.addresses(watcher, "web") == [address]
    engine.networks.disconnect("front", "web")
    assert "front" not in engine.containers.inspect(web)["NetworkSettings"]["Networks"]
    assert list(engine.networks.inspect("front")["Containers"]) == [watcher]
    assert discovery.addresses(watcher, "web") is None
    with pytest.raises(Conflict, match="is not connected to network front"):
        engine.networks.disconnect("front", "web")


def test_user_networks_are_isolated_from_each_other(engine: Any) -> None:
    engine.networks.create("one")
    engine.networks.create("two")
    web = run(engine, ["sh", "-c", SERVE], "web", HostConfig={"NetworkMode": "one"})
    address = engine.containers.inspect(web)["NetworkSettings"]["Networks"]["one"]["IPAddress"]
    same = run(engine, fetch_script(f"http://{address}/"), HostConfig={"NetworkMode": "one"})
    assert finish(engine, same)[0] == 0
    other = run(
        engine, fetch_script(f"http://{address}/", tries=2), HostConfig={"NetworkMode": "two"}
    )
    assert finish(engine, other)[0] == 1


def test_a_container_can_join_another_ones_namespace(engine: Any) -> None:
    web = run(engine, ["sh", "-c", SERVE], "web")
    client = run(
        engine, fetch_script("http://127.0.0.1/"), HostConfig={"NetworkMode": "container:web"}
    )
    assert finish(engine, client) == (0, f"hello from {web[:12]}\n")


def test_network_create_inspect_list_and_remove(engine: Any) -> None:
    created = engine.networks.create(
        "custom",
        ipam_config=[{"Subnet": "10.231.0.0/24", "Gateway": "10.231.0.254"}],
        labels={"tier": "db"},
    )
    network = engine.networks.inspect("custom")
    assert network["Id"] == created["Id"] and network["Driver"] == "bridge"
    assert network["IPAM"]["Config"] == [{"Subnet": "10.231.0.0/24", "Gateway": "10.231.0.254"}]
    assert engine.networks.inspect(created["Id"][:10])["Name"] == "custom"
    names = {n["Name"] for n in engine.networks.list()}
    assert names == {"bridge", "host", "none", "custom"}
    assert [n["Name"] for n in engine.networks.list({"type": ["custom"]})] == ["custom"]
    assert [n["Name"] for n in engine.networks.list({"label": ["tier=db"]})] == ["custom"]
    cid = run(engine, ["sleep", "60"], HostConfig={"NetworkMode": "custom"})
    assert (
        engine.containers.inspect(cid)["NetworkSettings"]["Networks"]["custom"]["IPAddress"]
        == "10.231.0.1"
    )
    with pytest.raises(Conflict, match="has active endpoints"):
        engine.networks.remove("custom")
    with pytest.raises(Conflict, match="pre-defined network and cannot be removed"):
        engine.networks.remove("bridge")
    with pytest.raises(Conflict, match="already exists"):
        engine.networks.create("custom")
    with pytest.raises(Forbidden, match="Pool overlaps"):
        engine.networks.create("again", ipam_config=[{"Subnet": "10.231.0.128/25"}])
    engine.loop.run_until_complete(engine.containers.remove(cid, force=True))
    engine.networks.remove("custom")
    with pytest.raises(NotFound, match="network custom not found"):
        engine.networks.inspect("custom")


def test_prune_removes_unused_user_networks(engine: Any) -> None:
    engine.networks.create("idle")
    engine.networks.create("busy")
    run(engine, ["sleep", "60"], HostConfig={"NetworkMode": "busy"})
    assert engine.networks.prune() == {"NetworksDeleted": ["idle"]}
    assert {n["Name"] for n in engine.networks.list()} == {"bridge", "host", "none", "busy"}


def test_bad_requests_are_refused_at_create(engine: Any) -> None:
    def create(**body: Any) -> None:
        engine.loop.run_until_complete(
            engine.containers.create({"Image": "busybox", "Cmd": ["true"], **body}, None)
        )

    with pytest.raises(NotFound, match="network nowhere not found"):
        create(HostConfig={"NetworkMode": "nowhere"})
    with pytest.raises(InvalidArgument, match="supported only for containers in user defined"):
        create(NetworkingConfig={"EndpointsConfig": {"bridge": {"Aliases": ["a"]}}})
    with pytest.raises(InvalidArgument, match="invalid port specification"):
        create(HostConfig={"PortBindings": {"eighty/tcp": []}})
    with pytest.raises(InvalidArgument, match="^invalid name: name is empty$"):
        engine.networks.create("  ")


def test_published_ports_survive_the_engine_going_away(engine: Any, roots: Any) -> None:
    port = free_port()
    cid = run(engine, ["sh", "-c", SERVE], **publish(port))
    assert http_get(port).startswith("hello from")
    engine.close()  # the daemon stops; the container and its rules stay
    assert http_get(port).startswith("hello from")
    again = Engine(Paths(roots.data_root, roots.exec_root))
    try:
        engine.loop.run_until_complete(again.start())
        assert http_get(port).startswith("hello from")
        engine.loop.run_until_complete(again.containers.remove(cid, force=True))
        assert refused(port)
    finally:
        again.close()


def test_an_endpoint_a_build_step_left_behind_is_dropped_at_start(engine: Any, roots: Any) -> None:
    network = engine.networks.get("bridge")
    with engine.metadata.transaction() as tx:  # what a daemon killed during a RUN step leaves
        tx.execute(
            "INSERT INTO endpoints (network_id, container_id, address, record) VALUES (?,?,?,?)",
            (network.id, "b" * 64, str(network.gateway + 1), "{}"),
        )
    engine.close()
    again = Engine(Paths(roots.data_root, roots.exec_root))
    try:
        engine.loop.run_until_complete(again.start())
        assert again.networks.endpoint_rows() == []
    finally:
        again.close()
