"""A container's lifecycle: create, start, stop, kill, restart, pause, update, rename,
remove (the verbs that change its state, each under the container's lock where it
must be), as youki's libcontainer splits them from supervision and queries."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
import shutil
import signal as signals
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from dockyard import platforms, treesize
from dockyard.build import imageconfig
from dockyard.config import PRIVATE_DIR_MODE, Paths
from dockyard.engine import hostconfig, logdrivers, specgen
from dockyard.engine import update as container_update
from dockyard.engine.container import (
    Container,
    build_config,
    build_host_config,
    new_state,
    now_rfc3339,
)
from dockyard.engine.containers.store import ContainerStore, name_conflict
from dockyard.engine.containers.supervision import process_exit, stop_shim
from dockyard.engine.events import EventBus
from dockyard.engine.filters import Filters
from dockyard.engine.images import Image
from dockyard.engine.names import new_id, validate_name
from dockyard.engine.runtimes import BUILTIN_RUNTIMES, DEFAULT_RUNTIME
from dockyard.engine.specgen import SpecNetworks
from dockyard.engine.volumes import MountPoints
from dockyard.errors import (
    CommandError,
    Conflict,
    DockyardError,
    InvalidArgument,
    NotFound,
    NotModified,
    with_context,
)
from dockyard.errors import SystemError as EngineSystemError
from dockyard.rootless import limits
from dockyard.runtime import capabilities, cgroups, shim
from dockyard.runtime.overlay import unmount_all
from dockyard.store.layers import Layer

log = logging.getLogger(__name__)

DEFAULT_STOP_TIMEOUT = 10
# How long `kill` waits for the exit after its SIGKILL, then after a second one (moby's).
KILL_WAITS = (10.0, 2.0)
ShimSpawner = Callable[[shim.ShimConfig], tuple[int, socket.socket]]


class Supervision(Protocol):
    """The supervisor as the lifecycle tells it of starts and removals (supervision.py)."""

    def watch(self, cid: str, shim_pid: int) -> None: ...
    def exit_event(self, cid: str) -> asyncio.Event | None: ...
    def state_changed(self, c: Container, started: bool = False) -> None: ...
    def removed(self, c: Container) -> None: ...


class PendingAttaches(Protocol):
    """The clients attached before the start (attach.py)."""

    async def connect_pending(self, cid: str, socket_path: str) -> None: ...
    def abandon_pending(self, cid: str) -> None: ...


class CopyRoots(Protocol):
    """The roots `docker cp` mounted of stopped containers (files.py)."""

    def detach(self, c: Container) -> None: ...


class ImageSource(Protocol):
    """The image service as create needs it (engine/images.py)."""

    def resolve(self, name: str) -> Image: ...


class LayerHolds(Protocol):
    """The layer store as containers hold their layers (store/layers.py)."""

    def retain(self, chains: list[str]) -> None: ...
    def release(self, chains: list[str]) -> list[Layer]: ...
    def purge(self, layers: list[Layer]) -> None: ...


class ContainerNetworking(SpecNetworks, Protocol):
    """The network service as a container's lifecycle needs it (engine/networks.py)."""

    def settings_for_create(
        self, host_config: dict[str, Any], networking_config: dict[str, Any] | None, exposed: dict
    ) -> dict[str, Any]: ...
    def attach(self, c: Container, pid: int) -> None: ...
    def release(self, c: Container) -> None: ...
    def renamed(self, c: Container) -> None: ...


class ContainerVolumes(Protocol):
    """The volume service as a container's lifecycle needs it (engine/volumes.py)."""

    def plan(
        self,
        host_config: dict[str, Any],
        config: dict[str, Any],
        image_config: dict[str, Any],
        containers: Callable[[str], Container],
    ) -> MountPoints: ...
    def attach(self, points: MountPoints) -> list[str]: ...
    async def copy_up(self, points: MountPoints, c: Container, lowerdirs: list[Path]) -> None: ...
    async def discard(self, names: list[str]) -> None: ...
    def activate(self, c: Container) -> None: ...
    def deactivate(self, c: Container) -> None: ...
    async def release(self, c: Container) -> None: ...


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


class Lifecycle:
    def __init__(
        self,
        paths: Paths,
        store: ContainerStore,
        supervisor: Supervision,
        io: PendingAttaches,
        files: CopyRoots,
        events: EventBus,
        images: ImageSource,
        layers: LayerHolds,
        networks: ContainerNetworking,
        volumes: ContainerVolumes,
        runtimes: dict[str, str],
        spawn_shim: ShimSpawner = shim.spawn,
        defaults: specgen.ContainerDefaults | None = None,
    ) -> None:
        """``spawn_shim``: how a shim is forked, straight from this process or by the
        daemon's zygote; ``defaults``: what the daemon's configuration gives a container
        naming none of its own."""
        self.defaults = defaults or specgen.ContainerDefaults()
        self.paths = paths
        self.store = store
        self.supervisor = supervisor
        self.io = io
        self.files = files
        self.events = events
        self.images = images
        self.layers = layers
        self.networks = networks
        self.volumes = volumes
        self.runtimes = runtimes
        self.spawn_shim = spawn_shim
        # Told of each removal: the exec records.
        self.on_removed: list[Callable[[Container], None]] = []

    # ------------------------------------------------------------------ create
    async def create(
        self, body: dict[str, Any], name: str | None, platform: platforms.Platform | None = None
    ) -> dict:
        """``platform``: the one the image must be for (--platform), NotFound otherwise."""
        given = body.get("HostConfig") or {}
        runtime = given.get("Runtime") or self.defaults.runtime or DEFAULT_RUNTIME
        host_config = build_host_config(
            {**given, "Runtime": runtime}, self.defaults.log_driver, self.defaults.log_opts
        )
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
        warnings = hostconfig.verify(host_config, config, self.store)
        logdrivers.check(host_config["LogConfig"])
        self._runtime(host_config.get("Runtime") or "")
        capabilities.validate(host_config.get("CapAdd") or [], host_config.get("CapDrop") or [])
        mounts = self.volumes.plan(
            host_config, config, image.config.get("config") or {}, self.store.get
        )
        cid = new_id()
        log_driver = host_config["LogConfig"]["Type"]
        name = validate_name(name) if name else self.store.unused_name()
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
            "Driver": self.defaults.storage_driver,
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": None,
            "HostConfig": host_config,
            "GraphDriver": {
                "Name": self.defaults.storage_driver,
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
        c = Container(record, root)
        new_volumes: list[str] | None = None
        try:
            # Held until the copy-up is done: a start or rm by name meanwhile waits for it.
            async with self.store.lock(cid):
                with self.store.creating_one(cid):  # its directory comes before its record
                    new_volumes = self._make(c, image, mounts)
                await self.volumes.copy_up(mounts, c, image.lowerdirs)
        except BaseException:
            if new_volumes is not None:  # made, then the copy-up failed: undone
                with contextlib.suppress(DockyardError):  # removed meanwhile by someone else
                    await self.remove(cid, force=True, volumes=True)
                await self.volumes.discard(new_volumes)
            raise
        self.events.publish("container", "create", cid, self.store.event_attributes(record))
        return {"Id": cid, "Warnings": warnings}

    def _make(self, c: Container, image: Image, mounts: MountPoints) -> list[str]:
        """The new container's directory and record, with its holds on layers, links and
        volumes; the names of the volumes it made (their copy-up comes after)."""
        try:
            c.root.mkdir(mode=PRIVATE_DIR_MODE)
            # The container's own layer: overlayfs gives its mode to the container's /.
            (c.root / "upper").mkdir(mode=0o755)
            with self.store.transaction() as tx:
                self.store.insert(tx, c, image.id, image.chain[-1] if image.chain else "")
                if image.chain:
                    # The container's own hold on its layers: it outlives `rmi -f` of its image.
                    self.layers.retain(image.chain)
                self.networks.legacy_links.register(tx, c.id, c.host_config)
                return self.volumes.attach(mounts)
        except BaseException:
            shutil.rmtree(c.root, ignore_errors=True)
            raise

    # ------------------------------------------------------------------ start
    async def start(self, ref: str) -> None:
        c = self.store.get(ref)
        async with self.store.lock(c.id):
            c = self.store.get(c.id)
            if c.running:
                raise NotModified("container already started")
            if c.state["Status"] in ("removing", "dead"):
                raise Conflict(f"container {c.id} is marked for removal and cannot be started")
            try:
                await self.start_locked(c)
                return
            except DockyardError as e:
                if not c.host_config.get("AutoRemove"):
                    raise
                error = e
        # Like Docker, a --rm container that cannot start is removed at once.
        await self.remove(c.id, volumes=True)
        raise error

    async def start_locked(self, c: Container) -> None:
        """Start ``c``, whose lock the caller holds and whose state allows it."""
        runtime = self._runtime(c.host_config.get("Runtime") or "")
        cfg = specgen.shim_config(
            c, self.paths, runtime, self.store, self.networks, self._log_writer(c), self.defaults
        )
        await asyncio.to_thread(self.volumes.activate, c)
        try:
            await self._run_shim(c, cfg)
        except BaseException:
            self.volumes.deactivate(c)
            raise

    async def _run_shim(self, c: Container, cfg: shim.ShimConfig) -> None:
        self.store.stopping(c.id, on_purpose=False)
        shim_pid, sock = self.spawn_shim(cfg)
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        try:
            created = await _read_message(reader)
            if "error" in created:
                raise self._start_failed(c, created)
            self.networks.attach(c, created["created"])
            await self.io.connect_pending(c.id, str(cfg.exec_dir / "attach.sock"))
            writer.write(b'{"start": true}\n')
            await writer.drain()
            started = await _read_message(reader)
            if "error" in started:
                raise self._start_failed(c, started)
        except BaseException:
            writer.close()
            # The shim undoes what it made (cgroup, mounts) once it sees us go: let it
            # finish before the caller may remove the container's files under it.
            await process_exit(shim_pid)
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
        self.store.save(c)
        self.supervisor.watch(c.id, shim_pid)
        self.events.publish("container", "start", c.id, self.store.event_attributes(c.record))
        self.supervisor.state_changed(c, started=True)

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
        self.store.save(c)
        self.io.abandon_pending(c.id)
        if code:
            return CommandError(
                "failed to create task for container: failed to create shim task: "
                f"OCI runtime create failed: {text}: unknown",
                code,
            )
        return EngineSystemError(text)

    # ------------------------------------------------------------------ stop / kill
    async def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        c = self.store.get(ref)
        if not c.running:
            raise NotModified("container already stopped")
        self.store.stopping(c.id)
        sig = parse_signal(signal or c.config.get("StopSignal"), "SIGTERM")
        if timeout is None:
            timeout = c.config.get("StopTimeout", DEFAULT_STOP_TIMEOUT)
        if timeout is None or timeout < 0:
            timeout = None if timeout is not None else DEFAULT_STOP_TIMEOUT
        await self._signal_and_wait(c, sig, timeout)
        self.events.publish("container", "stop", c.id, self.store.event_attributes(c.record))

    async def stop_all(self) -> None:
        """A daemon's shutdown without live restore (a rootless engine's: its namespaces
        end with it): every running container stopped at once, each as `docker stop`
        would (its stop signal, its stop timeout, then SIGKILL), as moby's does."""
        running = [c.id for c in self.store.all() if c.running]
        done = await asyncio.gather(*(self.stop(cid) for cid in running), return_exceptions=True)
        for cid, result in zip(running, done, strict=True):
            if isinstance(result, Exception) and not isinstance(result, NotModified):
                log.warning("stopping container %s at shutdown: %s", cid[:12], result)

    async def _signal_and_wait(self, c: Container, sig: int, timeout: float | None) -> None:
        exited = self.supervisor.exit_event(c.id)
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
        c = self.store.get(ref)
        if not c.running:
            raise Conflict(f"container {c.id} is not running")
        self.store.stopping(c.id)  # like moby: a killed container is not restarted by its policy
        exited = self.supervisor.exit_event(c.id)
        self._send(c, sig)
        self.events.publish(
            "container", "kill", c.id, {**self.store.event_attributes(c.record), "signal": str(sig)}
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
        c = self.store.get(ref)
        # Stop and start under the lock: a concurrent restart or start waits its turn,
        # so there is never a second shim on the same root.
        async with self.store.lock(c.id):
            if self.store.get(c.id).running:
                with contextlib.suppress(NotModified):  # it ended meanwhile
                    await self.stop(c.id, timeout)
            await self.start_locked(self.store.get(c.id))
        self.events.publish("container", "restart", c.id, self.store.event_attributes(c.record))

    # ------------------------------------------------------------------ remove
    async def remove(
        self, ref: str, force: bool = False, volumes: bool = False, link: bool = False
    ) -> None:
        if link:
            self._remove_link(ref)
            return
        c = self.store.get(ref)
        # The check and the removal under the lock: a start in progress ends first, and
        # its container is then seen running (refused, or killed with force).
        async with self.store.lock(c.id):
            c = self.store.get(c.id)
            if c.running and not force:
                reason = (
                    "container is paused and must be unpaused first"
                    if c.state["Paused"]
                    else f"container is {c.state_string}: stop the container before removing or force remove"
                )
                raise Conflict(f'cannot remove container "{ref}": {reason}')
            self.store.stopping(c.id)
            if c.running:
                await self._signal_and_wait(c, signals.SIGKILL, None)
            # A start the daemon did not see to its end (it was killed) may have left a shim.
            await stop_shim(c.root)
            with self.store.transaction() as tx:
                released = self.layers.release(self.store.held_layers(c.id))
                self.store.delete(tx, c.id)
                self.networks.legacy_links.forget(c)
            self.files.detach(c)
            await asyncio.to_thread(self._delete_files, c, released)
        if volumes:
            await self.volumes.release(c)
        self.store.forget_lock(c.id)
        self.store.stopping(c.id, on_purpose=False)
        self.io.abandon_pending(c.id)
        for hook in self.on_removed:
            hook(c)
        self.events.publish("container", "destroy", c.id, self.store.event_attributes(c.record))
        self.supervisor.removed(c)

    def _delete_files(self, c: Container, released: list[Layer]) -> None:
        """A removed container's trees and the layers only it held (blocking: a worker's)."""
        unmount_all(c.root)
        shutil.rmtree(c.root, ignore_errors=True)
        shutil.rmtree(self.paths.exec_root / c.id, ignore_errors=True)
        self.layers.purge(released)

    def _remove_link(self, name: str) -> None:
        """`docker rm --link /parent/alias`: the parent's /etc/hosts loses the entry now,
        its environment at its next start."""
        parent = self.networks.legacy_links.unlink(name)
        if parent.running:
            self.networks.discovery.refresh_hosts(parent)

    async def prune(self, filters: dict[str, list[str]] | None = None) -> dict:
        wanted = Filters(filters or {}, allowed=("until", "label", "label!"))
        deleted, reclaimed = [], 0
        for c in self.store.all():
            if c.running or not wanted.match_labels(c.config.get("Labels") or {}):
                continue
            if not wanted.match_until(c.record["Created"]):
                continue
            reclaimed += await asyncio.to_thread(treesize.tree_size, c.root / "upper")
            await self.remove(c.id)
            deleted.append(c.id)
        self.events.publish("container", "prune", "", {"reclaimed": str(reclaimed)})
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    # ------------------------------------------------------------------ other verbs
    def rename(self, ref: str, new_name: str) -> None:
        if not ref or not new_name:
            raise InvalidArgument("Neither old nor new names may be empty")
        c = self.store.get(ref)
        name = new_name.removeprefix("/")
        if name == c.name:
            raise InvalidArgument("Renaming a container with the same name as its current name")
        try:
            validate_name("/" + name)
        except DockyardError as e:
            raise with_context(e, "Error when allocating new name") from None
        with self.store.transaction() as tx:
            holder = self.store.name_holder(tx, name)
            if holder:
                raise with_context(name_conflict(name, holder), "Error when allocating new name")
            old = c.name
            c.record["Name"] = "/" + name
            self.networks.renamed(c)
            self.store.save(c)
        self.events.publish(
            "container",
            "rename",
            c.id,
            {**self.store.event_attributes(c.record), "oldName": "/" + old},
        )

    async def update(self, ref: str, changes: dict[str, Any]) -> dict:
        """``docker update``: UpdateResponse, with the warnings of the checks (or null)."""
        warnings = hostconfig.verify_update(changes)
        c = self.store.get(ref)
        async with self.store.lock(c.id):
            c = self.store.get(c.id)
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
            self.store.save(c)
        self.events.publish("container", "update", c.id, self.store.event_attributes(c.record))
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
        c = self.store.get_running(ref)
        if c.state["Paused"]:
            raise Conflict(f"Container {c.id} is already paused")
        cgroups.open_cgroup(specgen.container_cgroup_path(c)).freeze()
        c.state.update(Paused=True, Status="paused")
        self.store.save(c)
        self.supervisor.state_changed(c)
        self.events.publish("container", "pause", c.id, self.store.event_attributes(c.record))

    def unpause(self, ref: str) -> None:
        limits.check_cgroup_command("unpause")
        c = self.store.get_running(ref)
        if not c.state["Paused"]:
            raise Conflict(f"Container {c.id} is not paused")
        cgroups.open_cgroup(specgen.container_cgroup_path(c)).thaw()
        c.state.update(Paused=False, Status="running")
        self.store.save(c)
        self.supervisor.state_changed(c)
        self.events.publish("container", "unpause", c.id, self.store.event_attributes(c.record))


async def _read_message(reader: asyncio.StreamReader) -> dict:
    line = await reader.readline()
    if not line:
        return {"error": "the container's supervisor exited during start-up (see shim.log)"}
    return json.loads(line)  # type: ignore[no-any-return]
