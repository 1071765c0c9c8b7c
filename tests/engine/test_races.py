"""Verbs on one container at once: the container's lock is held from the check to the act,
so each pair ends in a state one of them would give alone. Each pair runs in both orders
and with the second call let in at different points of the first (``yields``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from dockyard.engine import specgen
from dockyard.errors import Conflict, NotFound
from dockyard.runtime import cgroups

ROUNDS = 20


def _run(engine: Any, coro: Awaitable[Any]) -> Any:
    return engine.loop.run_until_complete(coro)


async def _later(yields: int, call: Awaitable[Any]) -> Any:
    for _ in range(yields):
        await asyncio.sleep(0)
    return await call


def _both(engine: Any, first: Awaitable[Any], second: Awaitable[Any], yields: int) -> list[Any]:
    """Both calls at once, the second let in after ``yields`` turns of the loop."""
    together = asyncio.gather(first, _later(yields, second), return_exceptions=True)
    return list(_run(engine, together))


def _mounts_under(path: str) -> list[str]:
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(path)]


def _processes(cgroup_path: str) -> list[int]:
    group = cgroups.open_cgroup(cgroup_path)
    return list(group.pids()) if group.exists() else []


def _endpoints(engine: Any, cid: str) -> list[Any]:
    return list(engine.metadata.query("SELECT * FROM endpoints WHERE container_id = ?", cid))


def _sleeper(engine: Any) -> Any:
    cid = engine.loop.run_until_complete(
        engine.containers.create({"Image": "busybox", "Cmd": ["sleep", "600"]}, None)
    )["Id"]
    return engine.containers.get(cid)


def _assert_gone(engine: Any, c: Any, cgroup_path: str) -> None:
    assert c.id not in {s["Id"] for s in engine.containers.list(all=True)}
    assert _processes(cgroup_path) == []
    assert _mounts_under(str(c.root)) == []
    assert not c.root.exists()
    assert _endpoints(engine, c.id) == []


def _assert_running_intact(engine: Any, c: Any, cgroup_path: str) -> None:
    current = engine.containers.get(c.id)
    assert current.running
    assert _processes(cgroup_path) == [current.state["Pid"]]  # one container, one init
    assert _mounts_under(str(c.root / "rootfs")) == [str(c.root / "rootfs")]
    assert len(_endpoints(engine, c.id)) == 1


def test_rm_force_during_start_leaves_nothing_running(engine: Any) -> None:
    for round_ in range(ROUNDS):
        c = _sleeper(engine)
        cgroup_path = specgen.container_cgroup_path(c)
        start, remove = engine.containers.start(c.id), engine.containers.remove(c.id, force=True)
        pair = (start, remove) if round_ % 2 == 0 else (remove, start)
        results = _both(engine, *pair, yields=round_ // 2)
        started, removed = results if round_ % 2 == 0 else results[::-1]
        assert removed is None, removed
        assert started is None or isinstance(started, NotFound), started
        _assert_gone(engine, c, cgroup_path)


def test_rm_during_start_is_refused_or_comes_first(engine: Any) -> None:
    for round_ in range(ROUNDS):
        c = _sleeper(engine)
        cgroup_path = specgen.container_cgroup_path(c)
        start, remove = engine.containers.start(c.id), engine.containers.remove(c.id)
        pair = (start, remove) if round_ % 2 == 0 else (remove, start)
        results = _both(engine, *pair, yields=round_ // 2)
        started, removed = results if round_ % 2 == 0 else results[::-1]
        if removed is None:  # it came first: the start found no container
            assert isinstance(started, NotFound), started
            _assert_gone(engine, c, cgroup_path)
        else:
            assert isinstance(removed, Conflict), removed
            assert started is None, started
            _assert_running_intact(engine, c, cgroup_path)
            _run(engine, engine.containers.remove(c.id, force=True))
            _assert_gone(engine, c, cgroup_path)


def test_concurrent_restarts_leave_one_container_running(engine: Any) -> None:
    c = _sleeper(engine)
    cgroup_path = specgen.container_cgroup_path(c)
    _run(engine, engine.containers.start(c.id))
    for round_ in range(ROUNDS):
        first, second = (engine.containers.restart(c.id, timeout=0) for _ in range(2))
        assert _both(engine, first, second, yields=round_) == [None, None]
        _assert_running_intact(engine, c, cgroup_path)
    _run(engine, engine.containers.remove(c.id, force=True))
    _assert_gone(engine, c, cgroup_path)
