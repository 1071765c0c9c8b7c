"""Supervision: the shims of running containers, their exits, and the restart policies.

A started container is run by its shim (dockyard/runtime/shim.py), a process
of its own that outlives the daemon. The engine watches each shim with a
pidfd: when the shim exits, the container has ended and ``exit.json`` says
how. A restarted engine finds running containers again from ``shim.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal as signals
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from dockyard.engine.container import Container, now_rfc3339
from dockyard.engine.containers.store import ContainerStore
from dockyard.engine.events import EventBus
from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.runtime import cgroups, shim

log = logging.getLogger(__name__)
WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


class EndpointRelease(Protocol):
    """The network service as an exit needs it (engine/networks.py)."""

    def release(self, c: Container) -> None: ...


class VolumeDeactivation(Protocol):
    """The volume service as an exit needs it (engine/volumes.py)."""

    def deactivate(self, c: Container) -> None: ...


class Supervisor:
    """Watches the shims; records each exit and tells who waits for it."""

    def __init__(
        self,
        store: ContainerStore,
        events: EventBus,
        networks: EndpointRelease,
        volumes: VolumeDeactivation,
    ) -> None:
        self.store = store
        self.events = events
        self.networks = networks
        self.volumes = volumes
        self._watched: dict[str, int] = {}  # container id → pidfd of its shim
        self._exited: dict[str, asyncio.Event] = {}
        self._waiters: dict[str, list[tuple[str, asyncio.Future[dict]]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the shims are watched on
        # Told of each start (started=True), exit, pause and unpause: the health monitor.
        self.on_state_change: list[Callable[[Container, bool], None]] = []
        # Told of each exit once it is recorded: the restart policies.
        self.on_exit: list[Callable[[Container], None]] = []

    def watch(self, cid: str, shim_pid: int) -> None:
        try:
            pidfd = os.pidfd_open(shim_pid)
        except ProcessLookupError:
            asyncio.get_running_loop().call_soon(self._on_exit, cid)
            return
        self._watched[cid] = pidfd
        self._exited[cid] = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(pidfd, self._on_exit, cid)

    def exit_event(self, cid: str) -> asyncio.Event | None:
        """Set when the watched container exits (None: it is not watched)."""
        return self._exited.get(cid)

    def _on_exit(self, cid: str) -> None:
        pidfd = self._watched.pop(cid, None)
        if pidfd is not None:
            asyncio.get_running_loop().remove_reader(pidfd)
            os.close(pidfd)
        try:
            c = self.store.get(cid)
        except NotFound:
            return
        result = _read_exit(c.root)
        c.state.update(
            Status="exited",
            Running=False,
            Paused=False,
            Pid=0,
            ExitCode=result["ExitCode"],
            FinishedAt=result["FinishedAt"],
            OOMKilled=result.get("OOMKilled", False),
        )
        try:
            self.networks.release(c)
            self.store.save(c)
            self.volumes.deactivate(c)
        except (DockyardError, OSError) as e:
            # A full disk: the record still says running, which the next check or start
            # settles; whoever waits for the exit is told now all the same.
            log.error("recording the exit of container %s: %s", cid[:12], e)
        self.state_changed(c)
        event = self._exited.pop(cid, None)
        if event is not None:
            event.set()
        attributes = self.store.event_attributes(c.record)
        if c.state["OOMKilled"]:
            self.events.publish("container", "oom", cid, attributes)
        self.events.publish(
            "container", "die", cid, {**attributes, "exitCode": str(result["ExitCode"])}
        )
        self._resolve_waiters(cid, ("not-running", "next-exit"), result["ExitCode"])
        for hook in self.on_exit:
            hook(c)

    async def recover(self) -> None:
        """After a daemon (re)start: watch the shims still running, settle those that ended."""
        for c in self.store.all():
            if not c.running:
                continue
            shim_pid = live_shim(c.root)
            if shim_pid:
                self.watch(c.id, shim_pid)
                self.state_changed(c)
            else:
                self._on_exit(c.id)

    def settle(self, cid: str) -> None:
        """Record the end of a container whose shim is gone unseen."""
        self._on_exit(cid)

    def state_changed(self, c: Container, started: bool = False) -> None:
        for hook in self.on_state_change:
            hook(c, started)

    def close(self) -> None:
        """Stop watching (the daemon is going away); the containers go on running."""
        for pidfd in self._watched.values():
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(pidfd)
            os.close(pidfd)
        self._watched.clear()

    # ------------------------------------------------------------------ wait
    def wait_begin(self, ref: str, condition: str = "not-running") -> asyncio.Future[dict]:
        condition = condition or "not-running"
        if condition not in WAIT_CONDITIONS:
            raise InvalidArgument(f"invalid condition: {condition!r}")
        c = self.store.get(ref)
        future: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        if condition == "not-running" and not c.running:
            future.set_result(_wait_result(c.state["ExitCode"]))
        else:
            self._waiters.setdefault(c.id, []).append((condition, future))
        return future

    async def wait(self, ref: str, condition: str = "not-running") -> dict:
        return await self.wait_begin(ref, condition)

    def removed(self, c: Container) -> None:
        """The container is gone: every wait for it ends."""
        self._resolve_waiters(c.id, WAIT_CONDITIONS, c.state["ExitCode"])

    def _resolve_waiters(self, cid: str, conditions: tuple[str, ...], code: int) -> None:
        keep = []
        for condition, future in self._waiters.pop(cid, []):
            if condition in conditions:
                if not future.done():
                    future.set_result(_wait_result(code))
            else:
                keep.append((condition, future))
        if keep:
            self._waiters[cid] = keep


class Restarts(Protocol):
    """The lifecycle as the restart policies use it (containers/lifecycle.py)."""

    async def start(self, ref: str) -> None: ...
    async def start_locked(self, c: Container) -> None: ...
    async def remove(
        self, ref: str, force: bool = False, volumes: bool = False, link: bool = False
    ) -> None: ...


class RestartPolicies:
    """--restart and --rm: what happens to a container after it exited on its own."""

    def __init__(self, store: ContainerStore, supervisor: Supervisor, lifecycle: Restarts) -> None:
        self.store = store
        self.lifecycle = lifecycle
        supervisor.on_exit.append(self._after_exit)

    def _after_exit(self, c: Container) -> None:
        if self._should_restart(c):
            asyncio.get_running_loop().create_task(self._restart_later(c))
        elif c.host_config.get("AutoRemove"):
            asyncio.get_running_loop().create_task(self._auto_remove(c.id))

    def _should_restart(self, c: Container) -> bool:
        if self.store.stopped_on_purpose(c.id) or c.host_config.get("AutoRemove"):
            return False
        policy = c.host_config.get("RestartPolicy") or {}
        name = policy.get("Name") or "no"
        if name in ("always", "unless-stopped"):
            return True
        if name == "on-failure" and c.state["ExitCode"] != 0:
            limit = policy.get("MaximumRetryCount") or 0
            return not limit or c.record["RestartCount"] < limit
        return False

    async def _restart_later(self, c: Container) -> None:
        delay = min(0.1 * 2 ** c.record["RestartCount"], 60)
        c.state.update(Restarting=True, Status="restarting")
        c.record["RestartCount"] += 1
        self.store.save(c)
        await asyncio.sleep(delay)
        async with self.store.lock(c.id):
            try:
                current = self.store.get(c.id)
            except NotFound:
                return
            if self.store.stopped_on_purpose(current.id) or current.running:
                return
            try:
                await self.lifecycle.start_locked(current)
            except DockyardError as e:
                current = self.store.get(c.id)
                current.state.update(Restarting=False, Status="exited", Error=e.message)
                self.store.save(current)

    async def _auto_remove(self, cid: str) -> None:
        with contextlib.suppress(NotFound, Conflict):
            await self.lifecycle.remove(cid, force=False, volumes=True)

    async def restart_always(self) -> None:
        """After a daemon (re)start and its check: the containers whose policy is "always"."""
        for c in self.store.all():
            policy = (c.host_config.get("RestartPolicy") or {}).get("Name")
            if policy == "always" and not c.running and c.state["Status"] == "exited":
                with contextlib.suppress(DockyardError):
                    await self.lifecycle.start(c.id)


def _wait_result(code: int) -> dict:
    return {"StatusCode": code, "Error": None}


def _read_exit(root: Path) -> dict:
    try:
        return json.loads((root / "exit.json").read_text())  # type: ignore[no-any-return]
    except (FileNotFoundError, ValueError):
        # The shim died without recording an exit (killed): Docker reports 255 then.
        return {"ExitCode": 255, "FinishedAt": now_rfc3339(), "OOMKilled": False}


def live_shim(root: Path) -> int:
    """The pid of this container's shim if that very process is still alive, else 0."""
    try:
        info = json.loads((root / "shim.json").read_text())
        if shim.process_running(info["shim_pid"], info["shim_start"]):
            return int(info["shim_pid"])
    except (FileNotFoundError, ValueError, KeyError, ProcessLookupError, OSError):
        pass
    return 0


async def stop_shim(root: Path) -> bool:
    """End the container a live shim of ``root`` runs, and wait for the shim to clean up
    and exit (killed, should it not). Whether there was one."""
    shim_pid = live_shim(root)
    if not shim_pid:
        return False
    try:
        spec = json.loads((root / "config.json").read_text())
        cgroup = cgroups.open_cgroup(spec["linux"]["cgroupsPath"])
        if cgroup.exists():
            await asyncio.to_thread(cgroup.kill_all)
    except (OSError, ValueError, KeyError) as e:
        log.warning("stopping the container of %s: %s", root.name[:12], e)
    await process_exit(shim_pid)
    if live_shim(root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(shim_pid, signals.SIGKILL)
        await process_exit(shim_pid)
    return True


async def process_exit(pid: int, timeout: float = 10) -> None:
    """Wait until a process that is not our child has exited."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()

    def exited() -> None:
        if not gone.done():
            gone.set_result(None)

    loop.add_reader(pidfd, exited)
    try:
        await asyncio.wait_for(gone, timeout)
    except TimeoutError:
        pass
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
