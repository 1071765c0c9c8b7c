"""Containers: create, start, stop, remove, and everything `docker ps` and `inspect` show.

A started container is run by its shim (dockyard/runtime/shim.py), a process
of its own that outlives the daemon. The engine watches each shim with a
pidfd: when the shim exits, the container has ended and ``exit.json`` says
how. A restarted engine finds running containers again from ``shim.json``.
"""

from __future__ import annotations

import asyncio
import builtins  # the list() method shadows the type in annotations
import contextlib
import copy
import json
import logging
import os
import shlex
import shutil
import signal as signals
import socket
from collections.abc import AsyncGenerator, Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from dockyard import platforms, stdcopy, treesize
from dockyard.build import imageconfig
from dockyard.config import PRIVATE_DIR_MODE, Paths
from dockyard.engine import archive, hostconfig, listing, logdrivers, processes, specgen
from dockyard.engine import update as container_update
from dockyard.engine.commit import commit_changes
from dockyard.engine.container import (
    ZERO_TIME,
    Container,
    build_config,
    build_host_config,
    new_state,
    now_rfc3339,
)
from dockyard.engine.events import EventBus
from dockyard.engine.filters import Filters
from dockyard.engine.logs import LogReader
from dockyard.engine.names import new_id, random_name, validate_name
from dockyard.engine.streams import AttachStream
from dockyard.engine.volumes import VolumeService, mounts_volume, oci_mounts
from dockyard.errors import (
    CommandError,
    Conflict,
    DockyardError,
    InvalidArgument,
    NotFound,
    NotModified,
    NotSupported,
    with_context,
)
from dockyard.errors import SystemError as EngineSystemError
from dockyard.rootless import limits
from dockyard.runtime import capabilities, cgroups, shim
from dockyard.runtime.overlay import unmount_all
from dockyard.store.layers import Layer
from dockyard.store.metadata import Metadata
from dockyard.store.reference import repo_tag
from dockyard.tarfs.root import Root
from dockyard.timefmt import parse_rfc3339

log = logging.getLogger(__name__)
WAIT_CONDITIONS = ("not-running", "next-exit", "removed")
# The filters of `docker ps` (moby's acceptedPsFilterTags); `isolation` is Windows' only.
PS_FILTERS = (
    "ancestor", "before", "exited", "id", "isolation", "label", "name", "status", "health",
    "since", "volume", "network", "is-task", "publish", "expose",
)  # fmt: skip
CONTAINER_STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")
HEALTH_STATES = ("none", "starting", "healthy", "unhealthy")
# --runtime names (docs/compatibility.md). The default is called "runc", as in Docker:
# it is the built-in runtime, which does what runc does (tests/runtime/test_runc_parity.py);
# "dockyard" names it too. The runc and crun binaries go by other names (engine.py).
DEFAULT_RUNTIME = "runc"
BUILTIN_RUNTIMES = ("runc", "dockyard")
DEFAULT_STOP_TIMEOUT = 10
# How long `kill` waits for the exit after its SIGKILL, then after a second one (moby's).
KILL_WAITS = (10.0, 2.0)


def parse_signal(value: str | int | None, default: str = "SIGKILL") -> int:
    """A signal by number, name or SIG-name, as `docker kill -s` takes it (moby's ParseSignal),
    limited to the signals this kernel has."""
    text = str(value if value not in (None, "") else default)
    try:
        number = imageconfig.parse_signal(text)
    except InvalidArgument:
        raise InvalidArgument(f"Invalid signal: {value}") from None
    if number >= signals.NSIG:
        raise InvalidArgument(f"Invalid signal: {value}")
    return number


class ContainerService:
    def __init__(
        self,
        paths: Paths,
        metadata: Metadata,
        images: Any,
        events: EventBus,
        runtimes: dict[str, str],
        volumes: VolumeService,
    ) -> None:
        self.paths = paths
        self.db = metadata
        self.images = images
        self.events = events
        self.runtimes = runtimes
        self.volumes = volumes
        # How a shim is forked: straight from this process, or by the daemon's zygote.
        self.spawn_shim: Callable[[shim.ShimConfig], tuple[int, socket.socket]] = shim.spawn
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiters: dict[str, list[tuple[str, asyncio.Future[dict]]]] = {}
        self._pending_attach: dict[str, list[AttachStream]] = {}
        self._stopping: set[str] = set()
        self._creating: set[str] = set()  # ids whose directory exists before their record
        self._watched: dict[str, int] = {}  # container id → pidfd of its shim
        self._exited: dict[str, asyncio.Event] = {}
        self._copy_roots = archive.CopyRoots()  # what docker cp sees of each container
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the shims are watched on
        self.on_removed: list[Callable[[Container], None]] = []
        # Told of each start (started=True), exit, pause and unpause: the health monitor.
        self.on_state_change: list[Callable[..., None]] = []
        self.networks: Any = None  # the NetworkService, set by the Engine
        # The daemon's log-driver and log-opts: what a container naming none gets.
        self.log_defaults: tuple[str, dict[str, str]] = ("json-file", {})

    # ------------------------------------------------------------------ records
    def _load(self, row: Any) -> Container:
        return Container(json.loads(row["record"]), self.paths.containers / row["id"])

    def get(self, ref: str) -> Container:
        """By full id, by name, then by unique id prefix — Docker's order."""
        name = ref.lstrip("/")
        rows = self.db.query(
            "SELECT id, record FROM containers WHERE id = ? OR name = ?", ref, name
        )
        if not rows and ref:
            rows = self.db.query(
                "SELECT id, record FROM containers WHERE id LIKE ? || '%'", ref.lower()
            )
            if len(rows) > 1:
                raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        if not rows:
            raise NotFound(f"No such container: {ref}")
        by_id = [r for r in rows if r["id"] == ref]
        return self._load((by_id or rows)[0])

    def all(self) -> list[Container]:
        rows = self.db.query("SELECT id, record FROM containers ORDER BY created DESC")
        return [self._load(r) for r in rows]

    def save(self, c: Container) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE containers SET record = ?, name = ? WHERE id = ?",
                (json.dumps(c.record), c.name, c.id),
            )

    def users_of_image(self, image_id: str) -> list[tuple[str, bool]]:
        """The containers made from the image: (id, whether it is running)."""
        rows = self.db.query(
            "SELECT id, json_extract(record, '$.State.Running') AS running FROM containers"
            " WHERE image_id = ?",
            image_id,
        )
        return [(r["id"], bool(r["running"])) for r in rows]

    def held_layers(self, cid: str) -> builtins.list[str]:
        """The chain IDs of the layers the container holds, base first (none for a container
        an older engine created: it holds no reference of its own)."""
        rows = self.db.query("SELECT chain_id FROM container_layers WHERE container_id = ?", cid)
        return self.images.layers.stack(rows[0]["chain_id"]) if rows else []

    def _lock(self, cid: str) -> asyncio.Lock:
        return self._locks.setdefault(cid, asyncio.Lock())

    def copying(self, cid: str) -> bool:
        """Whether copies (`docker cp`) have the stopped container's root mounted now."""
        return self._copy_roots.in_use(cid)

    def creating(self) -> bool:
        """Whether a container is being created now."""
        return bool(self._creating)

    def busy(self, cid: str) -> bool:
        """Whether an operation is changing the container now (create, start, rm, ...):
        what its record and its files say may disagree until it is done."""
        lock = self._locks.get(cid)
        return cid in self._creating or (lock is not None and lock.locked())

    # ------------------------------------------------------------------ create
    async def create(
        self, body: dict[str, Any], name: str | None, platform: platforms.Platform | None = None
    ) -> dict:
        """``platform``: the one the image must be for (--platform), NotFound otherwise."""
        host_config = build_host_config(body.get("HostConfig") or {}, *self.log_defaults)
        image_name = body.get("Image") or ""
        if not image_name:
            raise InvalidArgument("config cannot be empty in order to create a container")
        image = self.images.resolve(image_name)
        if platform is not None:
            built_for = platforms.of_image(image.config)
            if not platforms.matches(platform, built_for):
                raise NotFound(
                    f"image with reference {image_name} was found but its platform "
                    f"({built_for}) does not match the specified platform ({platform})"
                )
        config = build_config(body, image.config.get("config") or {}, image_name)
        command = (config["Entrypoint"] or []) + (config["Cmd"] or [])
        if not command:
            raise InvalidArgument("No command specified")
        warnings = hostconfig.verify(host_config, config, self)
        logdrivers.check(host_config["LogConfig"])
        self._runtime(host_config.get("Runtime") or "")
        capabilities.validate(host_config.get("CapAdd") or [], host_config.get("CapDrop") or [])
        mounts = self.volumes.plan(host_config, config, image.config.get("config") or {}, self.get)
        cid = new_id()
        log_driver = host_config["LogConfig"]["Type"]
        name = validate_name(name) if name else self._unused_name()
        root = self.paths.containers / cid
        record = {
            "Id": cid,
            "Created": now_rfc3339(),
            "Path": command[0],
            "Args": command[1:],
            "State": new_state(),
            "Image": image.id,
            "ResolvConfPath": str(root / "resolv.conf"),
            "HostnamePath": str(root / "hostname"),
            "HostsPath": str(root / "hosts"),
            # Only json-file's path is shown: local's files are internal, as in moby.
            "LogPath": str(root / f"{cid}-json.log") if log_driver == "json-file" else "",
            "Name": "/" + name,
            "RestartCount": 0,
            "Driver": "overlay2",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": None,
            "HostConfig": host_config,
            "GraphDriver": {
                "Name": "overlay2",
                "Data": {
                    "LowerDir": ":".join(str(p) for p in image.lowerdirs),
                    "UpperDir": str(root / "upper"),
                    "WorkDir": str(root / "work"),
                    "MergedDir": str(root / "rootfs"),
                },
            },
            "Mounts": [point.inspect_view() for point in mounts],
            "Config": config,
            "NetworkSettings": self.networks.settings_for_create(
                host_config, body.get("NetworkingConfig"), config.get("ExposedPorts") or {}
            ),
        }
        if host_config["NetworkMode"] not in ("host", "none"):
            for endpoint in record["NetworkSettings"]["Networks"].values():  # the one created on
                if endpoint["MacAddress"]:  # the MAC asked for, as moby's inspect shows it
                    config["MacAddress"] = endpoint["MacAddress"]
        if not config["Hostname"]:
            config["Hostname"] = specgen.default_hostname(cid, host_config)
        self._creating.add(cid)  # its directory comes before its record: not an orphan
        try:
            root.mkdir(mode=PRIVATE_DIR_MODE)
            # The container's own layer: overlayfs gives its mode to the container's /.
            (root / "upper").mkdir(mode=0o755)
            with self.db.transaction() as tx:
                existing = tx.execute(
                    "SELECT id FROM containers WHERE name = ?", (name,)
                ).fetchone()
                if existing:
                    raise _name_conflict(name, existing["id"])
                tx.execute(
                    "INSERT INTO containers (id, name, image_id, created, record) VALUES (?,?,?,?,?)",
                    (cid, name, image.id, record["Created"], json.dumps(record)),
                )
                if image.chain:
                    # The container's own hold on its layers: it outlives `rmi -f` of its image.
                    self.images.layers.retain(image.chain)
                    tx.execute(
                        "INSERT INTO container_layers (container_id, chain_id) VALUES (?, ?)",
                        (cid, image.chain[-1]),
                    )
                self.networks.legacy_links.register(tx, cid, host_config)
                new_volumes = self.volumes.attach(mounts)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        finally:
            self._creating.discard(cid)
        await self.volumes.copy_up(
            mounts,
            Container(record, root),
            image.lowerdirs,
            new_volumes,
            lambda: self.remove(cid, True, True),
        )
        self.events.publish("container", "create", cid, self.event_attributes(record))
        return {"Id": cid, "Warnings": warnings}

    def _unused_name(self) -> str:
        while True:
            name = random_name()
            if not self.db.query("SELECT 1 FROM containers WHERE name = ?", name):
                return name

    @staticmethod
    def event_attributes(record: dict) -> dict[str, str]:
        labels = record["Config"].get("Labels") or {}
        return {**labels, "image": record["Config"]["Image"], "name": record["Name"].lstrip("/")}

    # ------------------------------------------------------------------ start
    async def start(self, ref: str) -> None:
        c = self.get(ref)
        async with self._lock(c.id):
            c = self.get(c.id)
            if c.running:
                raise NotModified("container already started")
            if c.state["Status"] in ("removing", "dead"):
                raise Conflict(f"container {c.id} is marked for removal and cannot be started")
            try:
                await self._start(c)
                return
            except DockyardError as e:
                if not c.host_config.get("AutoRemove"):
                    raise
                error = e
        # Like Docker, a --rm container that cannot start is removed at once.
        await self.remove(c.id, volumes=True)
        raise error

    async def _start(self, c: Container) -> None:
        runtime = self._runtime(c.host_config.get("Runtime") or "")
        cfg = specgen.shim_config(c, self.paths, runtime, self, self._log_writer(c))
        await asyncio.to_thread(self.volumes.activate, c)
        try:
            await self._run_shim(c, cfg)
        except BaseException:
            self.volumes.deactivate(c)
            raise

    async def _run_shim(self, c: Container, cfg: shim.ShimConfig) -> None:
        self._stopping.discard(c.id)
        shim_pid, sock = self.spawn_shim(cfg)
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        try:
            created = await _read_message(reader)
            if "error" in created:
                raise self._start_failed(c, created)
            self.networks.attach(c, created["created"])
            for stream in self._pending_attach.pop(c.id, []):
                await stream.connect(str(cfg.exec_dir / "attach.sock"))
            writer.write(b'{"start": true}\n')
            await writer.drain()
            started = await _read_message(reader)
            if "error" in started:
                raise self._start_failed(c, started)
        except BaseException:
            writer.close()
            # The shim undoes what it made (cgroup, mounts) once it sees us go: let it
            # finish before the caller may remove the container's files under it.
            await _process_exit(shim_pid)
            raise
        writer.close()
        state = c.state
        state.update(
            Status="running",
            Running=True,
            Paused=False,
            Restarting=False,
            OOMKilled=False,
            Dead=False,
            Pid=started["started"],
            ExitCode=0,
            Error="",
            StartedAt=now_rfc3339(),
        )
        self.save(c)
        self._watch(c.id, shim_pid)
        self.events.publish("container", "start", c.id, self.event_attributes(c.record))
        self._state_changed(c, started=True)

    def _runtime(self, name: str) -> str:
        """ "builtin", or the path of the OCI runtime binary named (default: ours)."""
        if (name or DEFAULT_RUNTIME) in BUILTIN_RUNTIMES:
            return "builtin"
        try:
            return self.runtimes[name]
        except KeyError:
            raise InvalidArgument(f"unknown or invalid runtime name: {name}") from None

    def _log_writer(self, c: Container) -> logdrivers.WriterSettings:
        """What keeps the output; bad log options fail the start as moby's logger does."""
        try:
            settings = logdrivers.writer_settings(c.record, c.root)
        except InvalidArgument as e:
            text = f"failed to create task for container: failed to initialize logging driver: {e.message}"
            raise self._start_failed(c, {"error": text, "task": True}) from None
        if settings.path is not None:
            settings.path.parent.mkdir(mode=0o700, exist_ok=True)
        return settings

    def _start_failed(self, c: Container, message: dict) -> DockyardError:
        """Record a start that failed like Docker does: still "created", with the error."""
        code = int(message.get("code") or 0)
        text = str(message["error"])
        c.state.update(Error=text, ExitCode=code or 128)
        self.networks.release(c)
        self.save(c)
        for stream in self._pending_attach.pop(c.id, []):
            stream.abandon()
        if code:
            return CommandError(
                "failed to create task for container: failed to create shim task: "
                f"OCI runtime create failed: {text}: unknown",
                code,
            )
        return EngineSystemError(text)

    # ------------------------------------------------------------------ supervision
    def _watch(self, cid: str, shim_pid: int) -> None:
        try:
            pidfd = os.pidfd_open(shim_pid)
        except ProcessLookupError:
            asyncio.get_running_loop().call_soon(self._on_exit, cid)
            return
        self._watched[cid] = pidfd
        self._exited[cid] = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(pidfd, self._on_exit, cid)

    def _on_exit(self, cid: str) -> None:
        pidfd = self._watched.pop(cid, None)
        if pidfd is not None:
            asyncio.get_running_loop().remove_reader(pidfd)
            os.close(pidfd)
        try:
            c = self.get(cid)
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
            self.save(c)
            self.volumes.deactivate(c)
        except (DockyardError, OSError) as e:
            # A full disk: the record still says running, which the next check or start
            # settles; whoever waits for the exit is told now all the same.
            log.error("recording the exit of container %s: %s", cid[:12], e)
        self._state_changed(c)
        event = self._exited.pop(cid, None)
        if event is not None:
            event.set()
        if c.state["OOMKilled"]:
            self.events.publish("container", "oom", cid, self.event_attributes(c.record))
        self.events.publish(
            "container",
            "die",
            cid,
            {**self.event_attributes(c.record), "exitCode": str(result["ExitCode"])},
        )
        self._resolve_waiters(cid, ("not-running", "next-exit"), result["ExitCode"])
        if self._should_restart(c):
            asyncio.get_running_loop().create_task(self._restart_later(c))
        elif c.host_config.get("AutoRemove"):
            asyncio.get_running_loop().create_task(self._auto_remove(cid))

    def _should_restart(self, c: Container) -> bool:
        if c.id in self._stopping or c.host_config.get("AutoRemove"):
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
        self.save(c)
        await asyncio.sleep(delay)
        async with self._lock(c.id):
            try:
                current = self.get(c.id)
            except NotFound:
                return
            if current.id in self._stopping or current.running:
                return
            try:
                await self._start(current)
            except DockyardError as e:
                current = self.get(c.id)
                current.state.update(Restarting=False, Status="exited", Error=e.message)
                self.save(current)

    async def _auto_remove(self, cid: str) -> None:
        with contextlib.suppress(NotFound, Conflict):
            await self.remove(cid, force=False, volumes=True)

    async def recover(self) -> None:
        """After a daemon (re)start: watch the shims still running, settle those that ended."""
        for c in self.all():
            if not c.running:
                continue
            shim_pid = live_shim(c.root)
            if shim_pid:
                self._watch(c.id, shim_pid)
                self._state_changed(c)
            else:
                self._on_exit(c.id)

    def settle(self, cid: str) -> None:
        """Record the end of a container whose shim is gone unseen."""
        self._on_exit(cid)

    async def restart_always(self) -> None:
        """After a daemon (re)start and its check: the containers whose policy is "always"."""
        for c in self.all():
            policy = (c.host_config.get("RestartPolicy") or {}).get("Name")
            if policy == "always" and not c.running and c.state["Status"] == "exited":
                with contextlib.suppress(DockyardError):
                    await self.start(c.id)

    def _state_changed(self, c: Container, started: bool = False) -> None:
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
        c = self.get(ref)
        future: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        if condition == "not-running" and not c.running:
            future.set_result(_wait_result(c.state["ExitCode"]))
        else:
            self._waiters.setdefault(c.id, []).append((condition, future))
        return future

    async def wait(self, ref: str, condition: str = "not-running") -> dict:
        return await self.wait_begin(ref, condition)

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

    # ------------------------------------------------------------------ stop / kill
    async def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        c = self.get(ref)
        if not c.running:
            raise NotModified("container already stopped")
        self._stopping.add(c.id)
        sig = parse_signal(signal or c.config.get("StopSignal"), "SIGTERM")
        if timeout is None:
            timeout = c.config.get("StopTimeout", DEFAULT_STOP_TIMEOUT)
        if timeout is None or timeout < 0:
            timeout = None if timeout is not None else DEFAULT_STOP_TIMEOUT
        await self._signal_and_wait(c, sig, timeout)
        self.events.publish("container", "stop", c.id, self.event_attributes(c.record))

    async def _signal_and_wait(self, c: Container, sig: int, timeout: float | None) -> None:
        exited = self._exited.get(c.id)
        self._send(c, sig)
        if exited is None:
            return
        try:
            await asyncio.wait_for(exited.wait(), timeout)
            return
        except TimeoutError:
            pass
        self._send(c, signals.SIGKILL)
        await exited.wait()

    def _send(self, c: Container, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(c.state["Pid"], sig)
        if c.state["Paused"]:
            cgroups.open_cgroup(specgen.container_cgroup_path(c)).thaw()

    async def kill(self, ref: str, signal: str | int | None = "KILL") -> None:
        """`docker kill`. With SIGKILL it returns once the container has exited, as moby
        does, so that its exit status is recorded and `rm` may follow at once."""
        try:
            await self._kill(ref, parse_signal(signal))
        except DockyardError as e:
            raise with_context(e, f"cannot kill container: {ref}") from None

    async def _kill(self, ref: str, sig: int) -> None:
        c = self.get(ref)
        if not c.running:
            raise Conflict(f"container {c.id} is not running")
        self._stopping.add(c.id)  # like moby: a killed container is not restarted by its policy
        exited = self._exited.get(c.id)
        self._send(c, sig)
        self.events.publish(
            "container", "kill", c.id, {**self.event_attributes(c.record), "signal": str(sig)}
        )
        if sig != signals.SIGKILL or exited is None:
            return
        for timeout in KILL_WAITS:
            try:
                await asyncio.wait_for(exited.wait(), timeout)
                return
            except TimeoutError:
                self._send(c, signals.SIGKILL)
        raise EngineSystemError("tried to kill container, but did not receive an exit event")

    async def restart(self, ref: str, timeout: int | None = None) -> None:
        c = self.get(ref)
        # Stop and start under the lock: a concurrent restart or start waits its turn,
        # so there is never a second shim on the same root.
        async with self._lock(c.id):
            if self.get(c.id).running:
                with contextlib.suppress(NotModified):  # it ended meanwhile
                    await self.stop(c.id, timeout)
            await self._start(self.get(c.id))
        self.events.publish("container", "restart", c.id, self.event_attributes(c.record))

    # ------------------------------------------------------------------ remove
    async def remove(
        self, ref: str, force: bool = False, volumes: bool = False, link: bool = False
    ) -> None:
        if link:
            self._remove_link(ref)
            return
        c = self.get(ref)
        # The check and the removal under the lock: a start in progress ends first, and
        # its container is then seen running (refused, or killed with force).
        async with self._lock(c.id):
            c = self.get(c.id)
            if c.running and not force:
                reason = (
                    "container is paused and must be unpaused first"
                    if c.state["Paused"]
                    else f"container is {_status(c)}: stop the container before removing or force remove"
                )
                raise Conflict(f'cannot remove container "{ref}": {reason}')
            self._stopping.add(c.id)
            if c.running:
                await self._signal_and_wait(c, signals.SIGKILL, None)
            # A start the daemon did not see to its end (it was killed) may have left a shim.
            await stop_shim(c.root)
            with self.db.transaction() as tx:
                tx.execute("DELETE FROM containers WHERE id = ?", (c.id,))
                released = self.images.layers.release(self.held_layers(c.id))
                tx.execute("DELETE FROM container_layers WHERE container_id = ?", (c.id,))
                self.networks.legacy_links.forget(c)
            self._copy_roots.detach(c)
            await asyncio.to_thread(self._delete_files, c, released)
        if volumes:
            await self.volumes.release(c)
        self._locks.pop(c.id, None)
        self._stopping.discard(c.id)
        for stream in self._pending_attach.pop(c.id, []):
            stream.abandon()
        for hook in self.on_removed:
            hook(c)
        self.events.publish("container", "destroy", c.id, self.event_attributes(c.record))
        self._resolve_waiters(c.id, WAIT_CONDITIONS, c.state["ExitCode"])

    def _delete_files(self, c: Container, released: builtins.list[Layer]) -> None:
        """A removed container's trees and the layers only it held (blocking: a worker's)."""
        unmount_all(c.root)
        shutil.rmtree(c.root, ignore_errors=True)
        shutil.rmtree(self.paths.exec_root / c.id, ignore_errors=True)
        self.images.layers.purge(released)

    def _remove_link(self, name: str) -> None:
        """`docker rm --link /parent/alias`: the parent's /etc/hosts loses the entry now,
        its environment at its next start."""
        parent = self.networks.legacy_links.unlink(name)
        if parent.running:
            self.networks.discovery.refresh_hosts(parent)

    async def prune(self, filters: dict[str, list[str]] | None = None) -> dict:
        wanted = Filters(filters or {}, allowed=("until", "label", "label!"))
        deleted, reclaimed = [], 0
        for c in self.all():
            if c.running or not wanted.match_labels(c.config.get("Labels") or {}):
                continue
            if not wanted.match_until(c.record["Created"]):
                continue
            reclaimed += await asyncio.to_thread(treesize.tree_size, c.root / "upper")
            await self.remove(c.id)
            deleted.append(c.id)
        self.events.publish("container", "prune", "", {"reclaimed": str(reclaimed)})
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    # ------------------------------------------------------------------ queries
    def inspect(self, ref: str, size: bool = False) -> dict:
        c = self.get(ref)
        record = dict(c.record)
        record["HostConfig"] = {**c.host_config, "Links": self.networks.legacy_links.view(c)}
        if size:
            record["SizeRw"] = treesize.tree_size(c.root / "upper")
            record["SizeRootFs"] = record["SizeRw"] + self._image_size(c)
        return record

    def _image_size(self, c: Container) -> int:
        try:
            return int(self.images.resolve(c.record["Image"]).size)
        except NotFound:
            return 0

    def list(
        self,
        all: bool = False,
        limit: int = -1,
        size: bool = False,
        filters: dict[str, list[str]] | None = None,
    ) -> list[dict]:
        """`docker ps`: newest first, filtered as moby's daemon/list.go does."""
        wanted = Filters(filters or {}, allowed=PS_FILTERS)
        query = _ListQuery(wanted, self._ids_by_prefix(wanted.get("id")))
        if "status" in wanted:
            all = True
        ancestors = self._ancestor_images(wanted.get("ancestor"))
        containers = self._apply_position_filters(
            listing.listed_containers(self.db, self.paths.containers), wanted
        )
        images = listing.ImageNames(self.images)
        link_names = self.networks.legacy_links.names_by_container()
        result = []
        for c in containers:
            # moby: with a limit (-n, -l), containers in every state count.
            if not all and limit <= 0 and not c.running:
                continue
            if ancestors is not None and c.record["Image"] not in ancestors:
                continue
            if not query.matches(c):
                continue
            result.append(self._summary(c, size, images, link_names.get(c.id, [])))
            if 0 < limit <= len(result):
                break
        return result

    def _ids_by_prefix(self, prefixes: builtins.list[str]) -> set[str]:
        """The containers an `id` filter names: each value is a unique id prefix (truncindex)."""
        found = set()
        for prefix in prefixes:
            rows = self.db.query("SELECT id FROM containers WHERE id LIKE ? || '%'", prefix)
            if prefix and len(rows) == 1:
                found.add(rows[0]["id"])
        return found

    def _ancestor_images(self, refs: builtins.list[str]) -> set[str] | None:
        """The images an `ancestor` filter names and all their descendants (None: no filter)."""
        if not refs:
            return None
        images: set[str] = set()
        for ref in refs:
            try:
                images |= self.images.descendants(self.images.resolve(ref).id)
            except (NotFound, InvalidArgument):
                continue  # moby: an image that cannot be found is skipped
        return images

    def _apply_position_filters(
        self, containers: builtins.list[Container], wanted: Filters
    ) -> builtins.list[Container]:
        """`before` and `since` cut the (newest first) list at a container."""
        for key, keep_after in (("before", True), ("since", False)):
            for ref in wanted.get(key):
                anchor = self.get(ref)
                index = next(i for i, c in enumerate(containers) if c.id == anchor.id)
                containers = containers[index + 1 :] if keep_after else containers[:index]
        return containers

    def _summary(
        self,
        c: Container,
        size: bool,
        images: listing.ImageNames,
        link_names: builtins.list[str],
    ) -> dict:
        summary = {
            "Id": c.id,
            # With its legacy links' names, sorted as moby's name index returns them.
            "Names": sorted(["/" + c.name, *link_names]),
            "Image": images.shown(c),
            "ImageID": c.record["Image"],
            "Command": " ".join(shlex.quote(a) if " " in a else a for a in c.command),
            "Created": int(parse_rfc3339(c.record["Created"])),
            "Ports": specgen.port_list(c),
            "Labels": c.config.get("Labels") or {},
            "State": _status(c),
            "Status": c.status_text(),
            "HostConfig": {"NetworkMode": c.host_config.get("NetworkMode", "bridge")},
            "NetworkSettings": {"Networks": c.record["NetworkSettings"].get("Networks", {})},
            "Mounts": c.record.get("Mounts") or [],
        }
        if size:
            summary["SizeRw"] = treesize.tree_size(c.root / "upper")
            summary["SizeRootFs"] = summary["SizeRw"] + self._image_size(c)
        return summary

    # ------------------------------------------------------------------ logs and attach
    async def logs(
        self,
        ref: str,
        *,
        stdout: bool = True,
        stderr: bool = True,
        follow: bool = False,
        since: float = 0.0,
        until: float = 0.0,
        timestamps: bool = False,
        tail: int | None = None,
        details: bool = False,
    ) -> AsyncGenerator[tuple[int, bytes], None]:
        c = self.get(ref)
        reader = LogReader(self._log_path(c), stdout, stderr, since, until, timestamps, details)
        running = (lambda: self._exists(c.id) and self.get(c.id).running) if follow else None
        async with contextlib.aclosing(reader.read(tail, running)) as items:
            async for item in items:
                yield item

    @staticmethod
    def _log_path(c: Container) -> Path:
        driver = c.host_config["LogConfig"]["Type"]
        if driver not in logdrivers.READABLE:
            raise NotSupported("configured logging driver does not support reading")
        if driver == "json-file":
            return Path(c.record["LogPath"])
        return logdrivers.local_log_path(c.root)

    def _exists(self, cid: str) -> bool:
        return bool(self.db.query("SELECT 1 FROM containers WHERE id = ?", cid))

    async def attach(
        self,
        ref: str,
        *,
        stdin: bool = False,
        stdout: bool = True,
        stderr: bool = True,
        logs: bool = False,
        stream: bool = True,
    ) -> AttachStream:
        c = self.get(ref)
        history = None
        if logs:  # read as the client takes it, never whole
            past = LogReader(self._log_path(c), stdout, stderr).read(None, None)
            history = (data if c.tty else stdcopy.frame(n, data) async for n, data in past)
        attach = AttachStream(
            tty=c.tty,
            stdin=stdin and bool(c.config.get("OpenStdin")),
            stdout=stdout,
            stderr=stderr,
            history=history,
        )
        if not stream:
            attach.abandon()
        elif c.running:
            await attach.connect(str(self.paths.exec_root / c.id / "attach.sock"))
        else:
            self._pending_attach.setdefault(c.id, []).append(attach)
        self.events.publish("container", "attach", c.id, self.event_attributes(c.record))
        return attach

    def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        if c.tty:
            shim.request(self.paths.exec_root / c.id / "control.sock", {"resize": [height, width]})

    # ------------------------------------------------------------------ other verbs
    def rename(self, ref: str, new_name: str) -> None:
        if not ref or not new_name:
            raise InvalidArgument("Neither old nor new names may be empty")
        c = self.get(ref)
        name = new_name.removeprefix("/")
        if name == c.name:
            raise InvalidArgument("Renaming a container with the same name as its current name")
        try:
            validate_name("/" + name)
        except DockyardError as e:
            raise with_context(e, "Error when allocating new name") from None
        with self.db.transaction() as tx:
            other = tx.execute("SELECT id FROM containers WHERE name = ?", (name,)).fetchone()
            if other:
                raise with_context(
                    _name_conflict(name, other["id"]), "Error when allocating new name"
                )
            old = c.name
            c.record["Name"] = "/" + name
            self.networks.renamed(c)
            self.save(c)
        self.events.publish(
            "container", "rename", c.id, {**self.event_attributes(c.record), "oldName": "/" + old}
        )

    async def update(self, ref: str, changes: dict[str, Any]) -> dict:
        """``docker update``: UpdateResponse, with the warnings of the checks (or null)."""
        warnings = hostconfig.verify_update(changes)
        c = self.get(ref)
        async with self._lock(c.id):
            c = self.get(c.id)
            if c.state["Status"] in ("removing", "dead"):
                raise Conflict(
                    f"Cannot update container {c.id}: container is marked for removal "
                    'and cannot be "update"'
                )
            hc = copy.deepcopy(c.host_config)
            try:
                container_update.merge(hc, changes)
            except Conflict as e:
                raise Conflict(f"Cannot update container {c.id}: {e.message}") from None
            if c.running and not c.state["Restarting"]:
                await self._update_cgroup(c, hc, changes)
            c.record["HostConfig"] = hc
            self.save(c)
        self.events.publish("container", "update", c.id, self.event_attributes(c.record))
        return {"Warnings": warnings or None}

    async def _update_cgroup(self, c: Container, hc: dict, changes: dict[str, Any]) -> None:
        resources = {**specgen.cgroup_resources(hc), **container_update.lifted_limits(changes)}
        cgroup = cgroups.open_cgroup(specgen.container_cgroup_path(c))
        try:
            await asyncio.to_thread(cgroup.update, resources)
        except OSError as e:
            raise EngineSystemError(f"Cannot update container {c.id}: {e}") from None

    def pause(self, ref: str) -> None:
        limits.check_cgroup_command("pause")
        c = self._running(ref)
        if c.state["Paused"]:
            raise Conflict(f"Container {c.id} is already paused")
        cgroups.open_cgroup(specgen.container_cgroup_path(c)).freeze()
        c.state.update(Paused=True, Status="paused")
        self.save(c)
        self._state_changed(c)
        self.events.publish("container", "pause", c.id, self.event_attributes(c.record))

    def unpause(self, ref: str) -> None:
        limits.check_cgroup_command("unpause")
        c = self._running(ref)
        if not c.state["Paused"]:
            raise Conflict(f"Container {c.id} is not paused")
        cgroups.open_cgroup(specgen.container_cgroup_path(c)).thaw()
        c.state.update(Paused=False, Status="running")
        self.save(c)
        self._state_changed(c)
        self.events.publish("container", "unpause", c.id, self.event_attributes(c.record))

    async def top(self, ref: str, ps_args: str = "-ef") -> dict:
        limits.check_cgroup_command("top")
        c = self._running(ref)
        return await processes.top(cgroups.open_cgroup(specgen.container_cgroup_path(c)), ps_args)

    def stats(self, ref: str, previous: dict | None = None) -> dict:
        limits.check_cgroup_command("stats")
        c = self.get(ref)
        if not c.running:
            return processes.empty_stats(c.name, c.id)
        own_network = c.host_config.get("NetworkMode") != "host"
        return processes.stats(
            cgroups.open_cgroup(specgen.container_cgroup_path(c)),
            c.name,
            c.id,
            previous,
            net_pid=c.state["Pid"] if own_network else 0,
        )

    def commit(
        self,
        ref: str,
        reference: str | None = None,
        *,
        comment: str = "",
        author: str = "",
        changes: builtins.list[str] | None = None,
        pause: bool = True,
        config: dict[str, Any] | None = None,
    ) -> str:
        """`docker commit` (engine/commit.py); the new image's id."""
        c = self.get(ref)
        with self.images.leases.hold():  # its layer is stored before its image holds it
            image_id = commit_changes(
                c,
                self.images,
                self.held_layers(c.id),
                reference,
                comment=comment,
                author=author,
                changes=changes or [],
                pause=pause,
                config=config or {},
            )
        attributes = {"comment": comment, "imageID": image_id, "imageRef": ""}
        if reference:
            attributes["imageRef"] = str(repo_tag(reference))
        self.events.publish(
            "container", "commit", c.id, {**self.event_attributes(c.record), **attributes}
        )
        return image_id

    def changes(self, ref: str) -> builtins.list[dict]:
        c = self.get(ref)
        return archive.changes(c.root / "upper", c.lowerdirs)

    def archive_stat(self, ref: str, path: str) -> dict:
        c = self.get(ref)
        with self._copy_root(c, ref) as root:
            return archive.stat_path(root, path)

    def archive_get(self, ref: str, path: str) -> tuple[BinaryIO, dict]:
        """The tar of ``path`` as a stream to read (and close), and the path's stat."""
        c = self.get(ref)
        return archive.get(self._copy_root(c, ref), path)

    def export(self, ref: str) -> BinaryIO:
        """`docker export`: the container's file system as a tar stream to read (and close)."""
        c = self.get(ref)
        status = c.state["Status"]
        if status in ("dead", "removing"):
            why = "is Dead" if status == "dead" else "is being removed"
            raise Conflict(f"You cannot export container {c.id} which {why}")
        layers = [
            c.root / "upper",
            specgen.make_init_layer(c.root),
            *self.images.resolve(c.record["Image"]).lowerdirs,
        ]
        attributes = self.event_attributes(c.record)
        try:
            return archive.export(
                archive.export_root(c, layers),
                lambda: self.events.publish("container", "export", c.id, attributes),
            )
        except OSError as e:
            raise EngineSystemError(f"Error exporting container {ref}: {e.strerror or e}") from e

    def archive_put(
        self, ref: str, path: str, tar: BinaryIO, no_overwrite_dir_non_dir: bool = False
    ) -> None:
        c = self.get(ref)
        if c.host_config.get("ReadonlyRootfs") and c.running:
            raise Conflict("container rootfs is marked read-only")
        with self._copy_root(c, ref) as root:
            archive.put(root, path, tar, no_overwrite_dir_non_dir)

    @contextlib.contextmanager
    def _copy_root(self, c: Container, ref: str) -> Iterator[Root]:
        """The container's root for a copy; a missing path is named with the container, as Docker does."""
        try:
            mounts = [] if c.running else oci_mounts(c)
            with self._copy_roots.open(c, c.lowerdirs, mounts) as root:
                yield root
        except NotFound as e:
            if e.message.endswith(" in container"):
                raise NotFound(f"{e.message} {ref}") from None
            raise

    def _running(self, ref: str) -> Container:
        c = self.get(ref)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        return c


class _ListQuery:
    """The per-container filters of `docker ps`, their values checked up front as moby does."""

    def __init__(self, wanted: Filters, ids: set[str]) -> None:
        self.wanted = wanted
        self.ids = ids
        self.exited = [_exit_code_filter(v) for v in wanted.get("exited")]
        for value in wanted.get("status"):
            _check_state("status", "state", value, CONTAINER_STATES)
        self.is_task = wanted.boolean("is-task", False) if "is-task" in wanted else None
        for value in wanted.get("health"):
            _check_state("health", "health", value, HEALTH_STATES)
        self.publish = _port_filter(wanted, "publish")
        self.expose = _port_filter(wanted, "expose")

    def matches(self, c: Container) -> bool:
        wanted = self.wanted
        return (
            wanted.match_pattern("name", c.name, "/" + c.name)
            and ("id" not in wanted or (c.id in self.ids and wanted.match_pattern("id", c.id)))
            and self.is_task in (None, False)  # no container here is a swarm task
            and wanted.match_labels(c.config.get("Labels") or {})
            and (not self.exited or self._exited_with_a_wanted_code(c))
            and wanted.match_any("status", lambda v: _status(c) == v)
            and wanted.match_any("health", lambda v: _health_status(c) == v)
            and wanted.match_any("volume", lambda v: mounts_volume(c.record, v))
            and wanted.match_any("network", lambda v: _on_network(c, v))
            and self._ports_match(c)
        )

    def _exited_with_a_wanted_code(self, c: Container) -> bool:
        started = c.state["StartedAt"] != ZERO_TIME
        return started and not c.running and c.state["ExitCode"] in self.exited

    def _ports_match(self, c: Container) -> bool:
        if not self.publish and not self.expose:
            return True
        for port in specgen.port_list(c):
            if (port.get("PublicPort", 0), port["Type"]) in self.publish:
                return True
            if (port["PrivatePort"], port["Type"]) in self.expose:
                return True
        return False


def _exit_code_filter(value: str) -> int:
    try:
        return int(value, 10)
    except ValueError:
        raise InvalidArgument(
            f"invalid filter 'exited={value}': strconv.Atoi: parsing \"{value}\": invalid syntax"
        ) from None


def _check_state(key: str, kind: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise InvalidArgument(
            f"invalid filter '{key}={value}': invalid value for {kind} ({value}): "
            f"must be one of {', '.join(valid)}"
        )


def _port_filter(wanted: Filters, key: str) -> set[tuple[int, str]]:
    """The ports a `publish` or `expose` filter names: ``80``, ``53/udp``, ``8000-8010/tcp``."""
    ports: set[tuple[int, str]] = set()
    for value in wanted.get(key):
        if ":" in value:
            raise InvalidArgument(f"filter for '{key}' should not contain ':': {value}")
        port, _, proto = value.partition("/")
        try:
            first, _, last = port.partition("-")
            start, end = int(first), int(last or first)
            if not 0 <= start <= end <= 65535:
                raise ValueError
        except ValueError:
            raise InvalidArgument(
                f"error while looking up for {key} {value}: invalid port range: {port}"
            ) from None
        ports.update((number, proto or "tcp") for number in range(start, end + 1))
    return ports


def _on_network(c: Container, value: str) -> bool:
    """moby: the container is on a network of that name, or of an ID with that prefix."""
    networks = c.record["NetworkSettings"].get("Networks") or {}
    return value in networks or any(
        (settings or {}).get("NetworkID", "").startswith(value) for settings in networks.values()
    )


def _name_conflict(name: str, holder: str) -> Conflict:
    return Conflict(
        f'Conflict. The container name "/{name}" is already in use by container "{holder}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )


def _status(c: Container) -> str:
    state = c.state
    if state["Paused"]:
        return "paused"
    if state["Restarting"]:
        return "restarting"
    return str(state["Status"])


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
    await _process_exit(shim_pid)
    if live_shim(root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(shim_pid, signals.SIGKILL)
        await _process_exit(shim_pid)
    return True


async def _process_exit(pid: int, timeout: float = 10) -> None:
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


async def _read_message(reader: asyncio.StreamReader) -> dict:
    line = await reader.readline()
    if not line:
        return {"error": "the container's supervisor exited during start-up (see shim.log)"}
    return json.loads(line)  # type: ignore[no-any-return]


def _health_status(c: Container) -> str:
    """For ``ps --filter health=``: starting, healthy, unhealthy, or none without a healthcheck."""
    return (c.state.get("Health") or {}).get("Status") or "none"
