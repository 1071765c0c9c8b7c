"""While a slow operation runs, the daemon answers everyone else: its blocking part (a tree
walked or deleted, `ps`) runs off the event loop.

Proved by structure, not by timing: the slow part is made to wait on a gate the test
holds, and `GET /_ping` must be answered while the operation is still inside it. Were
that part on the loop, the ping could not be answered until the gate opened.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard import treesize
from dockyard.engine import volumes as engine_volumes
from dockyard.errors import SystemError as EngineSystemError
from tests.api import wire
from tests.api.conftest import Api
from tests.e2e.helpers import wait_until

# Generous: only a blocked loop would take this long to answer a ping.
PING_SECONDS = 20


class Gate:
    """Holds the callers that ``holds(*args)`` picks until the test opens it."""

    def __init__(self, holds: Callable[..., bool]) -> None:
        self.holds = holds
        self.entered = threading.Event()
        self.opened = threading.Event()

    def wrap(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def gated(*args: Any, **kwargs: Any) -> Any:
            if self.holds(*args):
                self.entered.set()
                assert self.opened.wait(60), "the test never opened the gate"
            return real(*args, **kwargs)

        return gated

    def wait_entered(self) -> None:
        assert self.entered.wait(60), "the operation never reached its slow part"

    def open(self) -> None:
        self.opened.set()


class FileGate:
    """The same for another process: it makes ``entered`` and waits for ``release``."""

    def __init__(self, directory: Path) -> None:
        self.entered, self.release = directory / "entered", directory / "release"

    def wait_entered(self) -> None:
        wait_until(self.entered.exists, 60, "the operation to reach its slow part")

    def open(self) -> None:
        self.release.touch()


@pytest.fixture
def gate_open_at_end() -> Iterator[list[Gate]]:
    """Gates the test made are opened whatever happens, so that no worker hangs."""
    gates: list[Gate] = []
    yield gates
    for gate in gates:
        gate.open()


def _while_held(
    api: Api,
    gates: list[Gate] | list[FileGate],
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
) -> wire.Reply:
    """Send the slow request; each time it is inside a gate (in order), ping, then open it."""

    def scenario() -> wire.Reply:
        replies: list[wire.Reply] = []
        slow = threading.Thread(
            target=lambda: replies.append(wire.request(api.socket, method, url, body, timeout=90))
        )
        slow.start()
        try:
            for gate in gates:
                gate.wait_entered()
                _ping(api)
                assert slow.is_alive()  # answered while the operation was held
                gate.open()
        finally:
            for gate in gates:
                gate.open()
            slow.join(90)
        assert replies, f"{method} {url} got no answer"
        return replies[0]

    return api.run(scenario)


def _ping(api: Api) -> None:
    assert wire.request(api.socket, "GET", "/_ping", timeout=PING_SECONDS).body == b"OK"


def _gate(gates: list[Gate], holds: Callable[..., bool]) -> Gate:
    gate = Gate(holds)
    gates.append(gate)
    return gate


def _under(root: Path) -> Callable[..., bool]:
    return lambda path, *_: str(path).startswith(str(root))


def _exited_container(api: Api) -> str:
    cid = api.create("sh", "-c", "echo data > /file")
    api.start(cid)
    assert api.call("POST", f"/v1.44/containers/{cid}/wait").json()["StatusCode"] == 0
    return cid


def test_rm_deletes_the_tree_off_the_loop(
    api: Api, monkeypatch: pytest.MonkeyPatch, gate_open_at_end: list[Gate]
) -> None:
    cid = _exited_container(api)
    root = api.engine.paths.containers / cid
    gate = _gate(gate_open_at_end, _under(root))
    monkeypatch.setattr(shutil, "rmtree", gate.wrap(shutil.rmtree))
    assert _while_held(api, [gate], "DELETE", f"/v1.44/containers/{cid}").status == 204
    assert not root.exists()


def test_container_prune_walks_and_deletes_off_the_loop(
    api: Api, monkeypatch: pytest.MonkeyPatch, gate_open_at_end: list[Gate]
) -> None:
    cid = _exited_container(api)
    root = api.engine.paths.containers / cid
    gate = _gate(gate_open_at_end, _under(root))
    monkeypatch.setattr(treesize, "tree_size", gate.wrap(treesize.tree_size))
    reply = _while_held(api, [gate], "POST", "/v1.44/containers/prune")
    assert reply.json()["ContainersDeleted"] == [cid]


@pytest.mark.parametrize(
    "url",
    [
        "/v1.44/containers/json?all=1&size=1",
        "/v1.44/system/df",
        "/v1.44/containers/{cid}/json?size=1",
    ],
    ids=["ps -s", "system df", "inspect -s"],
)
def test_sizes_are_walked_off_the_loop(
    api: Api, monkeypatch: pytest.MonkeyPatch, gate_open_at_end: list[Gate], url: str
) -> None:
    cid = _exited_container(api)
    gate = _gate(gate_open_at_end, _under(api.engine.paths.containers / cid))
    monkeypatch.setattr(treesize, "tree_size", gate.wrap(treesize.tree_size))
    reply = _while_held(api, [gate], "GET", url.format(cid=cid))
    assert reply.status == 200, reply.body
    assert b'"SizeRw":5' in reply.body.replace(b" ", b"")  # "data\n"


def test_volume_prune_walks_and_deletes_off_the_loop(
    api: Api, monkeypatch: pytest.MonkeyPatch, gate_open_at_end: list[Gate]
) -> None:
    name = api.call("POST", "/v1.44/volumes/create", {}).json()["Name"]
    Path(api.engine.volumes.inspect(name)["Mountpoint"], "blob").write_bytes(b"x" * 1000)
    volumes = api.engine.paths.volumes
    walk = _gate(gate_open_at_end, _under(volumes / name))
    monkeypatch.setattr(treesize, "tree_size", walk.wrap(treesize.tree_size))
    delete = _gate(gate_open_at_end, _under(volumes / f".{name}.removing"))
    monkeypatch.setattr(shutil, "rmtree", delete.wrap(shutil.rmtree))

    reply = _while_held(api, [walk, delete], "POST", "/v1.44/volumes/prune")
    assert reply.json() == {"VolumesDeleted": [name], "SpaceReclaimed": 1000}
    assert not os.path.lexists(volumes / f".{name}.removing")


def test_rm_v_deletes_anonymous_volumes_off_the_loop(
    api: Api, monkeypatch: pytest.MonkeyPatch, gate_open_at_end: list[Gate]
) -> None:
    cid = api.create("true", Volumes={"/vol": {}})
    name = api.call("GET", f"/v1.44/containers/{cid}/json").json()["Mounts"][0]["Name"]
    trash = api.engine.paths.volumes / f".{name}.removing"
    gate = _gate(gate_open_at_end, _under(trash))
    monkeypatch.setattr(shutil, "rmtree", gate.wrap(shutil.rmtree))
    assert _while_held(api, [gate], "DELETE", f"/v1.44/containers/{cid}?v=1").status == 204
    assert api.call("GET", f"/v1.44/volumes/{name}").status == 404
    assert not os.path.lexists(trash)


def test_volume_rm_deletes_off_the_loop(
    api: Api, monkeypatch: pytest.MonkeyPatch, gate_open_at_end: list[Gate]
) -> None:
    name = api.call("POST", "/v1.44/volumes/create", {"Name": "big"}).json()["Name"]
    trash = api.engine.paths.volumes / f".{name}.removing"
    gate = _gate(gate_open_at_end, _under(trash))
    monkeypatch.setattr(shutil, "rmtree", gate.wrap(shutil.rmtree))
    assert _while_held(api, [gate], "DELETE", f"/v1.44/volumes/{name}").status == 204
    assert not os.path.lexists(trash)


def test_top_runs_ps_off_the_loop(
    api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A `ps` first on PATH that waits for the test's word, then runs the real one.
    gate = FileGate(tmp_path)
    fake = tmp_path / "bin" / "ps"
    fake.parent.mkdir()
    fake.write_text(
        f"#!/bin/sh\n: > {gate.entered}\n"
        f"while [ ! -e {gate.release} ]; do sleep 0.05; done\n"
        f'exec {shutil.which("ps")} "$@"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    cid = api.create("sleep", "300")
    api.start(cid)
    reply = _while_held(api, [gate], "GET", f"/v1.44/containers/{cid}/top")
    assert reply.status == 200, reply.body
    assert any(row[-1] == "sleep 300" for row in reply.json()["Processes"])


def _committed_image(api: Api, repo: str) -> str:
    """An image of its own top layer (a container's change committed), tagged ``repo``
    (none: a dangling image)."""
    cid = _exited_container(api)
    reply = api.call("POST", f"/v1.44/commit?container={cid}&repo={repo}")
    assert reply.status == 201, reply.body
    assert api.call("DELETE", f"/v1.44/containers/{cid}").status == 204
    return str(reply.json()["Id"])


def _store_is_sound(api: Api) -> None:
    assert api.engine.loop.run_until_complete(api.engine.check.run(repair=False)) == []


@pytest.mark.parametrize(
    ("method", "url"),
    [("DELETE", "/v1.44/images/gated"), ("POST", "/v1.44/images/prune?filters={}")],
    ids=["rmi", "image prune"],
)
def test_image_removal_deletes_layers_off_the_loop(
    api: Api, monkeypatch: pytest.MonkeyPatch, gate_open_at_end: list[Gate], method: str, url: str
) -> None:
    image_id = _committed_image(api, "" if "prune" in url else "gated")
    top = api.engine.images.resolve(image_id).chain[-1]
    layers = api.engine.layers
    gate = _gate(gate_open_at_end, _under(layers.tmp / "removed-"))
    monkeypatch.setattr(shutil, "rmtree", gate.wrap(shutil.rmtree))

    reply = _while_held(api, [gate], method, url)
    assert reply.status == 200, reply.body
    assert {"Deleted": image_id} in (
        reply.json() if method == "DELETE" else reply.json()["ImagesDeleted"]
    )
    assert api.call("GET", f"/v1.44/images/{image_id}/json").status == 404
    assert not layers.exists(top) and not layers.path(top).exists()
    assert not list(layers.tmp.glob("removed-*"))
    _store_is_sound(api)


def _gate_copy_up(monkeypatch: pytest.MonkeyPatch, gates: list[Gate], fails: bool) -> Gate:
    """Hold each volume copy-up; with ``fails``, it then fails as a full disk would."""

    def failing(source: str, target: str) -> None:
        raise EngineSystemError(f"copy {source} to {target}: no space left on device")

    gate = _gate(gates, lambda *_: True)
    real = failing if fails else engine_volumes.copy_into_empty
    monkeypatch.setattr(engine_volumes, "copy_into_empty", gate.wrap(real))
    return gate


def _volume_with_a_file(api: Api, name: str) -> Path:
    api.call("POST", "/v1.44/volumes/create", {"Name": name})
    kept = Path(api.engine.volumes.inspect(name)["Mountpoint"], "kept")
    kept.write_text("mine")
    return kept


def test_create_copies_up_a_new_volume_off_the_loop(
    api: Api, monkeypatch: pytest.MonkeyPatch, gate_open_at_end: list[Gate]
) -> None:
    gate = _gate_copy_up(monkeypatch, gate_open_at_end, fails=False)
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Binds": ["etc:/etc"]}}
    reply = _while_held(api, [gate], "POST", "/v1.44/containers/create", body)
    assert reply.status == 201, reply.body
    passwd = Path(api.engine.volumes.inspect("etc")["Mountpoint"], "passwd")
    assert passwd.read_text().startswith("root:")
    _store_is_sound(api)


def test_a_start_by_name_during_the_copy_up_waits_for_it(
    api: Api, monkeypatch: pytest.MonkeyPatch, gate_open_at_end: list[Gate]
) -> None:
    """The container is listed before its new volume is filled: a start meanwhile must not
    run it over the empty volume."""
    gate = _gate_copy_up(monkeypatch, gate_open_at_end, fails=False)
    body = {
        "Image": "busybox",
        "Cmd": ["cat", "/etc/passwd"],
        "HostConfig": {"Binds": ["etc:/etc"]},
    }
    replies: dict[str, wire.Reply] = {}

    def send(key: str, method: str, url: str, payload: dict | None = None) -> threading.Thread:
        def call() -> None:
            replies[key] = wire.request(api.socket, method, url, payload, timeout=90)

        thread = threading.Thread(target=call)
        thread.start()
        return thread

    def scenario() -> None:
        create = send("create", "POST", "/v1.44/containers/create?name=early", body)
        try:
            gate.wait_entered()
            store = api.engine.containers.store
            cid = store.get("early").id
            asked: list[str] = []
            take_lock = store.lock

            def lock(ref: str) -> asyncio.Lock:
                asked.append(ref)  # the start acquires what this returns in the same step
                return take_lock(ref)

            monkeypatch.setattr(store, "lock", lock)
            start = send("start", "POST", "/v1.44/containers/early/start")
            wait_until(lambda: "start" in replies or cid in asked, 30, "the start to arrive")
        finally:
            gate.open()
            create.join(90)
        start.join(90)

    api.run(scenario)
    assert replies["create"].status == 201 and replies["start"].status == 204
    waited = api.call("POST", "/v1.44/containers/early/wait")
    assert waited.json()["StatusCode"] == 0  # it read the image's /etc/passwd in the volume
    _store_is_sound(api)


def test_a_failed_copy_up_undoes_the_create(
    api: Api, monkeypatch: pytest.MonkeyPatch, gate_open_at_end: list[Gate]
) -> None:
    kept = _volume_with_a_file(api, "kept")
    gate = _gate_copy_up(monkeypatch, gate_open_at_end, fails=True)
    binds = ["fresh:/etc", "kept:/data"]
    body = {
        "Image": "busybox",
        "Cmd": ["true"],
        "Volumes": {"/anon": {}},
        "HostConfig": {"Binds": binds},
    }
    reply = _while_held(api, [gate], "POST", "/v1.44/containers/create?name=undone", body)
    assert reply.status == 500 and b"no space left on device" in reply.body
    assert api.call("GET", "/v1.44/containers/json?all=1").json() == []
    names = [v["Name"] for v in api.call("GET", "/v1.44/volumes").json()["Volumes"]]
    assert names == ["kept"] and kept.read_text() == "mine"
    assert list(api.engine.paths.containers.iterdir()) == []
    _store_is_sound(api)
