"""Volumes: `docker volume`, and everything a container mounts.

``VolumeService`` is the engine's side of `docker volume` (create, inspect,
list, remove, prune) over the local driver, and of a container's mounts:

- ``plan`` checks a create request's --volumes-from, -v, --mount, --tmpfs and
  the image's VOLUMEs, and says what the container will mount (nothing is
  written: a bad spec is refused before anything is stored);
- ``attach`` creates the volumes the plan names (named volumes on first use,
  anonymous ones) and copies the image's content into new empty ones;
- ``release`` removes a removed container's anonymous volumes (``rm -v``);
- ``oci_mounts`` turns a container's mounts into OCI mounts when it starts.

A volume is in use while a container's record lists it in ``Mounts``. Those
references are read from the containers table, so they cannot drift from the
containers themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import posixpath
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from dockyard.config import Paths
from dockyard.engine import archive
from dockyard.engine.container import Container
from dockyard.engine.events import EventBus
from dockyard.engine.filters import Filters
from dockyard.engine.names import new_id
from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.errors import SystemError as EngineSystemError
from dockyard.runtime import spec as oci
from dockyard.runtime.overlay import OVERLAY2
from dockyard.runtime.securejoin import secure_join
from dockyard.store.metadata import Metadata
from dockyard.volumes import local
from dockyard.volumes.copyup import copy_into_empty
from dockyard.volumes.mountpoints import (
    DEFAULT_PROPAGATION,
    MountPoint,
    check_destination,
    parse_bind,
    parse_mount,
    parse_volumes_from,
    tmpfs_data,
    tmpfs_options,
)

# Docker 23+ labels the volumes it names itself; `volume prune` removes only those by default.
ANONYMOUS_LABEL = "com.docker.volume.anonymous"
# What a bare local volume mount shows as its Mode (moby's setBindModeIfNull).
DEFAULT_VOLUME_MODE = "z"
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")
_REFERENCES = """
SELECT json_extract(m.value, '$.Name') AS volume, c.id AS container
FROM containers AS c, json_each(c.record, '$.Mounts') AS m
WHERE json_extract(m.value, '$.Type') = 'volume'
ORDER BY c.created
"""

# The volumes that running containers mount: a mounted volume stays mounted while one does.
_RUNNING_USERS = """
SELECT DISTINCT json_extract(m.value, '$.Name') AS volume
FROM containers AS c, json_each(c.record, '$.Mounts') AS m
WHERE json_extract(m.value, '$.Type') = 'volume' AND json_extract(c.record, '$.State.Running')
"""

ContainerLookup = Callable[[str], Container]
# Aliases: inside VolumeService, ``list`` names its method.
FilterValues = dict[str, list[str]]
References = dict[str, list[str]]
MountPoints = list[MountPoint]
LayerDirs = list[Path]
Names = list[str]
Views = list[dict]

log = logging.getLogger(__name__)


class VolumeService:
    def __init__(
        self, paths: Paths, metadata: Metadata, events: EventBus, storage_driver: str = OVERLAY2
    ) -> None:
        self.driver = local.LocalDriver(paths.volumes)
        self.storage_driver = storage_driver  # mounts a new container's root for its copy-up
        self.db = metadata
        self.events = events

    # ------------------------------------------------------------------ docker volume
    def create(
        self,
        name: str | None = None,
        driver: str = local.DRIVER,
        driver_opts: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> dict:
        """The volume (Docker's Volume object); an existing one is returned as it is."""
        if not name:
            name = new_id()
            labels = {**(labels or {}), ANONYMOUS_LABEL: ""}
        _check_volume(name, driver, driver_opts)
        if self._row(name) is None:
            with self.db.transaction():
                self._add(name, labels, driver_opts)
            self.events.publish("volume", "create", name, {"driver": local.DRIVER})
        return self.inspect(name)

    def inspect(self, name: str) -> dict:
        row = self._row(name)
        if row is None:
            raise NotFound(f"get {name}: no such volume")
        return self._view(row)

    def list(self, filters: FilterValues | None = None) -> Views:
        """The volumes that pass ``dangling``, ``name``, ``label`` and ``driver``, by name."""
        wanted = Filters(filters or {}, allowed=("dangling", "name", "label", "driver"))
        dangling = _dangling_filter(wanted.get("dangling"))
        used = self.references()
        views = [self._view(row) for row in self.db.query("SELECT * FROM volumes ORDER BY name")]
        return [
            view
            for view in views
            if _listed(view, wanted) and (dangling is None or dangling != (view["Name"] in used))
        ]

    async def remove(self, name: str, force: bool = False) -> None:
        """Delete a volume no container uses; ``force`` ignores one that does not exist."""
        trash = self._retire(name, force)
        if trash is not None:
            await self._purge(name, trash)

    def _retire(self, name: str, force: bool = False) -> Path | None:
        """The volume's row gone and its directory moved aside: where its files wait for
        ``driver.purge`` (None when there are none)."""
        row = self._row(name)
        if row is None:
            if force:
                return None
            raise NotFound(f"get {name}: no such volume")
        users = self.references().get(name)
        if users:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        trash = None
        try:
            self.driver.unmount(name)
            trash = self.driver.retire(name)
        except EngineSystemError:
            if not force:
                raise
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM volumes WHERE name = ?", (name,))
        self.events.publish("volume", "destroy", name, {"driver": row["driver"]})
        return trash

    async def prune(self, filters: FilterValues | None = None) -> dict:
        """Remove unused local volumes: anonymous ones, or all with the ``all`` filter.

        The walks of their trees (sizes, deletion) run in workers; the check that a
        volume is unused and the removal of its row run on the loop, together, so that
        a container created meanwhile either keeps its volume or never sees it.
        """
        wanted = Filters(filters or {}, allowed=("label", "label!", "all"))
        everything = _all_filter(wanted.get("all"))
        used = self.references()
        deleted, reclaimed = [], 0
        for row in self.db.query("SELECT * FROM volumes ORDER BY name"):
            name, labels = row["name"], json.loads(row["labels"]) or {}
            if name in used:
                continue
            if (not everything and ANONYMOUS_LABEL not in labels) or not wanted.match_labels(
                labels
            ):
                continue
            size = await asyncio.to_thread(self.driver.size, name)
            try:
                trash = self._retire(name)
            except DockyardError:
                continue  # taken into use meanwhile, or its files would not go: keep it
            if trash is not None:
                await self._purge(name, trash)
            deleted.append(name)
            reclaimed += size
        self.events.publish("volume", "prune", "", {"reclaimed": str(reclaimed)})
        return {"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}

    def disk_usage(self) -> Views:
        """The volumes of `docker system df`, each with its size and how many containers use it."""
        used = self.references()
        return [
            {
                **self._view(row),
                "UsageData": {
                    "Size": self.driver.size(row["name"]),
                    "RefCount": len(used.get(row["name"], [])),
                },
            }
            for row in self.db.query("SELECT * FROM volumes ORDER BY name")
        ]

    def references(self) -> References:
        """Volume name → ids of the containers that mount it, oldest container first."""
        users: References = {}
        for row in self.db.query(_REFERENCES):
            ids = users.setdefault(row["volume"], [])
            if row["container"] not in ids:
                ids.append(row["container"])
        return users

    # ------------------------------------------------------------------ a container's mounts
    def plan(
        self,
        host_config: dict[str, Any],
        config: dict[str, Any],
        image_config: dict[str, Any],
        containers: ContainerLookup,
    ) -> MountPoints:
        """Every mount of a container to be created, checked; volumes named but not made."""
        tmpfs = _checked_tmpfs(host_config.get("Tmpfs") or {})
        points = _volumes_from(host_config.get("VolumesFrom") or [], containers)
        for point in _explicit_mounts(host_config, tmpfs):
            points[point.destination] = point
        declared = {**(image_config.get("Volumes") or {}), **(config.get("Volumes") or {})}
        for path in declared:
            destination = posixpath.normpath(posixpath.join("/", path))
            check_destination(destination)
            if destination not in points and destination not in tmpfs:
                driver = host_config.get("VolumeDriver") or local.DRIVER
                points[destination] = MountPoint(
                    type="volume", destination=destination, driver=driver, anonymous=True
                )
        for point in points.values():
            if point.type == "volume" and not point.source:
                self._name_volume(point)
        return list(points.values())

    def _name_volume(self, point: MountPoint) -> None:
        options = (point.spec.get("VolumeOptions") or {}).get("DriverConfig") or {}
        if point.anonymous:
            point.name = new_id()
        _check_volume(point.name, point.driver, options.get("Options"))
        point.driver = local.DRIVER
        point.source = str(self.driver.path(point.name))
        if point.spec and not point.mode:
            point.mode = DEFAULT_VOLUME_MODE

    def attach(self, points: MountPoints) -> Names:
        """Create the plan's missing volumes; returns their names (for ``copy_up``).

        Called inside the transaction that stores the container, so that a failure
        here leaves neither the container nor its new volumes behind.
        """
        created: Names = []
        try:
            with self.db.transaction():
                for point in points:
                    if point.type == "volume" and self._row(point.name) is None:
                        created.append(point.name)
                        self._add(point.name, _first_use_labels(point), _first_use_options(point))
        except BaseException:
            for name in created:
                with contextlib.suppress(DockyardError):
                    self.driver.remove(name)
            raise
        for name in created:
            self.events.publish("volume", "create", name, {"driver": local.DRIVER})
        return created

    async def copy_up(self, points: MountPoints, c: Container, lowerdirs: LayerDirs) -> None:
        """After create's commit: copy the image's content into the new empty volumes, in a
        worker (a tree may be large)."""
        await asyncio.to_thread(self._copy_up, points, c, lowerdirs)

    async def discard(self, names: Names) -> None:
        """Remove the volumes a failed create made, but one another container took since."""
        for name in names:
            with contextlib.suppress(DockyardError):
                await self.remove(name, force=True)

    def _copy_up(self, points: MountPoints, c: Container, lowerdirs: LayerDirs) -> None:
        pending = []
        for point in points:
            target = _volume_target(point) if point.type == "volume" else None
            if point.copy_data and target is not None and _empty_dir(target):
                pending.append((point, target))
        if not pending:
            return
        with archive.container_root(c, lowerdirs, self.storage_driver) as root:
            for point, target in pending:
                path = secure_join(str(root), point.destination)
                if os.path.isdir(path):
                    with self._mounted(point.name):
                        if _empty_dir(target):  # not when one new volume is mounted twice
                            copy_into_empty(path, target)
                elif point.anonymous and os.path.lexists(path):
                    raise InvalidArgument(
                        f"cannot mount volume over existing file, file exists {point.destination}"
                    )

    @contextlib.contextmanager
    def _mounted(self, name: str) -> Iterator[None]:
        """The volume's filesystem mounted for a moment (copy-up), as moby's populateVolume."""
        options = self._options(name)
        if not local.needs_mount(options) or self.driver.is_mounted(name):
            yield
            return
        self.driver.mount(name, options)
        try:
            yield
        finally:
            self.driver.unmount(name)

    def activate(self, c: Container) -> None:
        """Mount the filesystems of the container's volumes that have mount options (at start)."""
        for name in _volume_names(c):
            options = self._options(name)
            if local.needs_mount(options):
                self.driver.mount(name, options)

    def deactivate(self, c: Container) -> None:
        """Unmount those no running container mounts any more (after the container stopped)."""
        running = {row["volume"] for row in self.db.query(_RUNNING_USERS)}
        for name in _volume_names(c):
            if name not in running and local.needs_mount(self._options(name)):
                self.driver.unmount(name)

    def _options(self, name: str) -> dict[str, str]:
        row = self._row(name)
        return (json.loads(row["options"]) or {}) if row is not None else {}

    async def release(self, c: Container) -> None:
        """After ``rm -v`` (and --rm): remove the container's anonymous volumes no one else
        uses; their files are deleted in a worker, as prune's."""
        named = _named_destinations(c.host_config)
        for mount in c.record.get("Mounts") or []:
            if mount["Type"] != "volume" or mount["Destination"] in named:
                continue
            row = self._row(mount["Name"])
            if row is None or ANONYMOUS_LABEL not in (json.loads(row["labels"]) or {}):
                continue
            try:
                trash = self._retire(mount["Name"])
            except (Conflict, NotFound):
                continue
            if trash is not None:
                await self._purge(mount["Name"], trash)

    async def _purge(self, name: str, trash: Path) -> None:
        """Delete a retired volume's files in a worker; what fails the system check removes."""
        try:
            await asyncio.to_thread(self.driver.purge, name, trash)
        except EngineSystemError as e:
            log.warning("%s (the system check removes what is left)", e.message)

    # ------------------------------------------------------------------ the table
    def _row(self, name: str) -> sqlite3.Row | None:
        rows = self.db.query("SELECT * FROM volumes WHERE name = ?", name)
        return rows[0] if rows else None

    def _add(
        self, name: str, labels: dict[str, str] | None, options: dict[str, str] | None
    ) -> None:
        """The volume's row and directories (in the caller's transaction)."""
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO volumes (name, driver, created, labels, options) VALUES (?,?,?,?,?)",
                (name, local.DRIVER, _now_rfc3339(), json.dumps(labels), json.dumps(options)),
            )
            self.driver.create(name)

    def _view(self, row: sqlite3.Row) -> dict:
        """Docker's Volume object, fields in the order Go writes them."""
        return {
            "CreatedAt": row["created"],
            "Driver": row["driver"],
            "Labels": json.loads(row["labels"]),
            "Mountpoint": str(self.driver.path(row["name"])),
            "Name": row["name"],
            "Options": json.loads(row["options"]),
            "Scope": local.SCOPE,
        }


# ---------------------------------------------------------------------- mounts at create
def _check_volume(name: str, driver: str, options: dict[str, str] | None) -> None:
    local.check_driver(name, driver)
    local.check_name(name)
    local.check_options(name, options)


def _checked_tmpfs(tmpfs: dict[str, str]) -> dict[str, str]:
    """--tmpfs destinations (cleaned) → mount data, each checked as the runtime will take it."""
    checked = {}
    for destination, data in tmpfs.items():
        check_destination(destination)
        tmpfs_options(data)
        checked[posixpath.normpath(destination)] = data
    return checked


def _explicit_mounts(host_config: dict[str, Any], tmpfs: dict[str, str]) -> list[MountPoint]:
    """-v and --mount, in that order; two of them (or one and a --tmpfs) on one path are refused."""
    taken = set(tmpfs)
    points = []
    driver = host_config.get("VolumeDriver") or ""
    binds = [(parse_bind(raw, driver), None) for raw in host_config.get("Binds") or []]
    mounts = [(parse_mount(spec), spec) for spec in host_config.get("Mounts") or []]
    for point, spec in [*binds, *mounts]:
        if point.destination in taken:
            shown = spec["Target"] if spec else point.destination
            raise InvalidArgument(f"Duplicate mount point: {shown}")
        taken.add(point.destination)
        points.append(point)
    return points


def _volumes_from(specs: list[str], containers: ContainerLookup) -> dict[str, MountPoint]:
    """--volumes-from CONTAINER[:ro|rw]: the other container's mounts, read-only if asked."""
    points: dict[str, MountPoint] = {}
    for spec in specs:
        ref, writable = parse_volumes_from(spec)
        try:
            other = containers(ref)
        except NotFound as err:
            raise InvalidArgument(err.message) from None
        for mount in other.record.get("Mounts") or []:
            points[mount["Destination"]] = MountPoint(
                type=mount["Type"],
                destination=mount["Destination"],
                source=mount["Source"],
                name=mount.get("Name", ""),
                driver=mount.get("Driver", ""),
                rw=mount["RW"] and writable,
                mode=mount["Mode"],
                propagation=mount["Propagation"],
                copy_data=False,
            )
    return points


def _volume_names(c: Container) -> list[str]:
    return [m["Name"] for m in c.record.get("Mounts") or [] if m["Type"] == "volume"]


def _first_use_options(point: MountPoint) -> dict[str, str] | None:
    """--mount volume-opt=...: the driver options a volume made on first use is created with."""
    driver_config = (point.spec.get("VolumeOptions") or {}).get("DriverConfig") or {}
    return driver_config.get("Options") or None


def _first_use_labels(point: MountPoint) -> dict[str, str] | None:
    if point.anonymous:
        return {ANONYMOUS_LABEL: ""}
    return (point.spec.get("VolumeOptions") or {}).get("Labels")


def _volume_target(point: MountPoint) -> str | None:
    """The directory a volume mount shows the container: the volume, or its subpath if it exists."""
    subpath = (point.spec.get("VolumeOptions") or {}).get("Subpath")
    if not subpath:
        return point.source
    target = secure_join(point.source, subpath)
    return target if os.path.isdir(target) else None


def _empty_dir(path: str) -> bool:
    with os.scandir(path) as entries:
        return next(entries, None) is None


def _named_destinations(host_config: dict[str, Any]) -> set[str]:
    """Where this container mounts a volume by its name (never removed with it)."""
    named = set()
    for raw in host_config.get("Binds") or []:
        source, _, rest = raw.partition(":")
        if rest:
            named.add(posixpath.normpath(rest.split(":")[0]))
    for spec in host_config.get("Mounts") or []:
        if spec.get("Source"):
            named.add(posixpath.normpath(spec.get("Target") or ""))
    return named


# ---------------------------------------------------------------------- mounts at start
def oci_mounts(c: Container) -> list[dict]:
    """The container's binds, volumes and tmpfs mounts as OCI mounts (Docker's withMounts)."""
    specs = {
        posixpath.normpath(spec.get("Target") or ""): spec
        for spec in c.host_config.get("Mounts") or []
    }
    mounts = []
    for mount in c.record.get("Mounts") or []:
        spec = specs.get(mount["Destination"], {})
        if mount["Type"] == "tmpfs":
            data = tmpfs_data(spec.get("TmpfsOptions"), not mount["RW"])
            mounts.append(_tmpfs_mount(mount["Destination"], data))
        else:
            mounts.append(_bind_mount(mount, spec))
    for destination, data in (c.host_config.get("Tmpfs") or {}).items():
        mounts.append(_tmpfs_mount(posixpath.normpath(destination), data))
    return mounts


def _tmpfs_mount(destination: str, data: str) -> dict:
    return {
        "destination": destination,
        "type": "tmpfs",
        "source": "tmpfs",
        "options": tmpfs_options(data),
    }


def _bind_mount(mount: dict[str, Any], spec: dict[str, Any]) -> dict:
    source = mount["Source"]
    bind_options = spec.get("BindOptions") or {}
    if mount["Type"] == "volume":
        source = _volume_source(mount, spec)
    elif not os.path.exists(source) and (not spec or bind_options.get("CreateMountpoint")):
        # Like Docker, a -v host directory that does not exist is made at start.
        os.makedirs(source, 0o755, exist_ok=True)
    result = oci.bind_mount(
        source,
        mount["Destination"],
        readonly=not mount["RW"],
        propagation=mount["Propagation"] or DEFAULT_PROPAGATION,
    )
    if bind_options.get("NonRecursive"):
        result["options"][0] = "bind"
    return result


def _volume_source(mount: dict[str, Any], spec: dict[str, Any]) -> str:
    subpath = (spec.get("VolumeOptions") or {}).get("Subpath")
    source = str(mount["Source"])
    if subpath:
        source = secure_join(source, subpath)
    if not os.path.exists(source):
        raise NotFound(f"error while mounting volume '{mount['Name']}': {source} does not exist")
    return source


# ---------------------------------------------------------------------- ps --filter volume=
def mounts_volume(record: dict[str, Any], value: str) -> bool:
    """Whether a container mounts the volume named ``value``, a host path ``value``, or at ``value``."""
    return any(
        value in (mount.get("Name") or mount["Source"], mount["Destination"])
        for mount in record.get("Mounts") or []
    )


# ---------------------------------------------------------------------- filters and times
def _listed(view: dict[str, Any], wanted: Filters) -> bool:
    return (
        wanted.match_any("driver", lambda v: v == view["Driver"])
        and wanted.match_any("name", lambda v: _name_matches(v, view["Name"]))
        and wanted.match_labels(view["Labels"] or {})
    )


def _name_matches(pattern: str, name: str) -> bool:
    """moby's filters.Match: the exact name, or a regular expression found in it."""
    if pattern == name:
        return True
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return False


def _dangling_filter(values: Iterable[str]) -> bool | None:
    present = set(values)
    if not present:
        return None
    is_true = bool(present & {"1", "true"})
    if is_true == bool(present & {"0", "false"}):
        raise InvalidArgument(f"invalid filter 'dangling=[{' '.join(sorted(present))}]'")
    return is_true


def _all_filter(values: list[str]) -> bool:
    if len(set(values)) > 1:
        raise InvalidArgument(
            f"invalid filter 'all=[{' '.join(sorted(set(values)))}]': only one value is expected"
        )
    if not values:
        return False
    if values[0] in _GO_TRUE:
        return True
    if values[0] in _GO_FALSE:
        return False
    raise InvalidArgument(
        f"invalid filter 'all': strconv.ParseBool: parsing \"{values[0]}\": invalid syntax"
    )


def _now_rfc3339() -> str:
    """Go's time.RFC3339 in local time: seconds, and ``Z`` for UTC."""
    text = datetime.now().astimezone().replace(microsecond=0).isoformat()
    return text[: -len("+00:00")] + "Z" if text.endswith("+00:00") else text
