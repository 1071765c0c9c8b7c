"""A removed container leaves nothing of itself in the daemon's memory.

Every per-container table (locks, health monitors, execs, supervisors, port and address
reservations, log followers ...) must let go of it, or a long-lived daemon grows with
each `run --rm`. The walk below finds any such table, known today or added later.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

from tests.api.conftest import Api
from tests.e2e.helpers import wait_until

# Bounded by design: the recent events `docker events --since` replays.
_BOUNDED_HISTORY = ("engine.events._history",)


def _reachable_strings(root: Any) -> Iterator[tuple[str, str]]:
    """(path, string) for every string held by the engine's own objects and containers."""
    seen: set[int] = set()
    todo: list[tuple[Any, str]] = [(root, "engine")]
    while todo:
        obj, path = todo.pop()
        if id(obj) in seen or path.startswith(_BOUNDED_HISTORY):
            continue
        seen.add(id(obj))
        if isinstance(obj, str):
            yield path, obj
        elif isinstance(obj, dict):
            for key, value in obj.items():
                todo += [(key, f"{path}[key]"), (value, f"{path}[{key!r:.16}]")]
        elif isinstance(obj, (list, tuple, set, frozenset)):
            todo += [(value, f"{path}[{i}]") for i, value in enumerate(obj)]
        elif _is_engine_object(obj):
            todo += [(value, f"{path}.{name}") for name, value in vars(obj).items()]
            for name in getattr(type(obj), "__slots__", ()):
                if hasattr(obj, name):
                    todo.append((getattr(obj, name), f"{path}.{name}"))


def _is_engine_object(obj: Any) -> bool:
    if isinstance(obj, (type, types.ModuleType, types.FunctionType)):
        return False
    return type(obj).__module__.startswith("dockyard") and hasattr(obj, "__dict__")


def _holders(api: Api, container_id: str) -> list[str]:
    return [path for path, text in _reachable_strings(api.engine) if container_id in text]


def _exec_to_the_end(api: Api, container_id: str) -> None:
    body = {"Cmd": ["true"], "AttachStdout": False}
    exec_id = api.call("POST", f"/v1.44/containers/{container_id}/exec", body).json()["Id"]
    assert api.call("POST", f"/v1.44/exec/{exec_id}/start", {"Detach": True}).status == 200

    def ended() -> bool:
        return not api.call("GET", f"/v1.44/exec/{exec_id}/json").json()["Running"]

    wait_until(ended, 30, "the exec to end")


def test_a_removed_container_is_held_by_no_table(api: Api) -> None:
    network = api.call("POST", "/v1.44/networks/create", {"Name": "forgetnet"})
    assert network.status == 201, network.body
    container_id = api.create(
        "sleep",
        "600",
        name="forgetme",
        Healthcheck={"Test": ["CMD", "true"], "Interval": 200_000_000},
        ExposedPorts={"80/tcp": {}},
        HostConfig={"PortBindings": {"80/tcp": [{"HostPort": ""}]}, "NetworkMode": "forgetnet"},
    )
    api.start(container_id)

    def healthy() -> bool:
        state = api.call("GET", f"/v1.44/containers/{container_id}/json").json()["State"]
        return state["Health"]["Status"] == "healthy"

    wait_until(healthy, 30, "the container to be healthy")
    _exec_to_the_end(api, container_id)
    assert api.call("GET", f"/v1.44/containers/{container_id}/logs?stdout=1").status == 200
    assert api.call("POST", f"/v1.44/containers/{container_id}/stop?t=0").status == 204
    assert api.call("DELETE", f"/v1.44/containers/{container_id}").status == 204
    assert api.call("DELETE", "/v1.44/networks/forgetnet").status == 204

    assert _holders(api, container_id) == []


def test_a_container_removed_by_force_while_running_is_held_by_no_table(api: Api) -> None:
    container_id = api.create("sleep", "600", name="forceme")
    api.start(container_id)
    _exec_to_the_end(api, container_id)
    assert api.call("DELETE", f"/v1.44/containers/{container_id}?force=1").status == 204

    assert _holders(api, container_id) == []
