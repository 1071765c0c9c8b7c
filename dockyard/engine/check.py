"""`dockyard system check`: the records against the disk and the kernel, and the repairs.

The database is the engine's truth. Everything else it makes must agree with it:
container directories, mounts, shims, cgroups, exec directories, endpoints, veths,
the DNAT rules of published ports, volume directories, layer directories and
blobs. A daemon killed at any moment can leave any of them without its record, or
a record without them. The check lists each disagreement as a ``Finding`` and,
asked to repair, removes what no record accounts for and settles the records whose
object is gone, wherever that loses nothing; what it cannot repair it only reports.

Every engine start runs it with repairs, after the one step only a start may take:
emptying ``tmp/`` (``recover_tmp``), where builds, pulls and loads stage their work,
with the processes, cgroups and mounts of the build steps a killed daemon left.
On a running engine it leaves alone what an operation in progress is changing: a
container whose lock is held, everything under ``tmp/``, and the store's garbage
while an operation holds a lease (store/leases.py). The store's part is in
engine/storecheck.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.config import PRIVATE_DIR_MODE, Paths
from dockyard.engine import specgen, storecheck
from dockyard.engine.container import Container
from dockyard.engine.containers.supervision import live_shim, stop_shim
from dockyard.errors import DockyardError
from dockyard.network.links import marked_ports
from dockyard.runtime import cgroups, linux
from dockyard.runtime import container as runtime
from dockyard.runtime.overlay import unmount, unmount_all
from dockyard.runtime.shim import SHM_DIR

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine

log = logging.getLogger(__name__)
_CONTAINER_ID = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class Finding:
    """One disagreement between the records and the disk or the kernel."""

    kind: str  # e.g. "container-orphan": what tests and scripts match on
    subject: str  # the object: an id, a name, a path
    problem: str  # one sentence for people
    repairable: bool = True
    repaired: bool = False

    def view(self) -> dict[str, Any]:
        return {
            "Kind": self.kind,
            "Object": self.subject,
            "Problem": self.problem,
            "Repairable": self.repairable,
            "Repaired": self.repaired,
        }


def recover_tmp(paths: Paths) -> list[Finding]:
    """At start only: empty ``tmp/``. Build steps a killed daemon left running are killed
    with their cgroups, then every mount below is detached and the tree removed."""
    found = []
    for config in sorted(paths.tmp.glob("build-*/bundle-*/config.json")):
        try:
            runtime.delete(config.parent)
        except (OSError, ValueError, DockyardError) as e:
            log.warning("removing the build step %s: %s", config.parent, e)
        found.append(Finding("build-step", config.parent.name, "a build step a crash left"))
    for point in linux.mount_points_under(str(paths.tmp)):
        unmount(Path(point))
    for entry in _entries(paths.tmp):
        _remove(paths.tmp / entry)
        found.append(Finding("tmp-leftover", entry, "staged work a crash left in tmp/"))
    for finding in found:
        finding.repaired = True
    return found


class SystemCheck:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.paths = engine.paths
        self.containers = engine.container_store
        self.supervisor = engine.containers.supervisor
        self.files = engine.containers.files
        self.networks = engine.networks

    async def run(self, repair: bool) -> list[Finding]:
        """Every finding, repaired where it can be when ``repair`` says so."""
        found = await self._containers(repair)
        found += self._mounts(repair)
        found += self._networks(repair)
        found += await asyncio.to_thread(storecheck.check, self.engine, repair)
        return found

    # ------------------------------------------------------------------ containers
    async def _containers(self, repair: bool) -> list[Finding]:
        """Each container directory and record; each read afresh, as repairs wait on shims
        while other operations go on."""
        found: list[Finding] = []
        names = set(_entries(self.paths.containers)) | {c.id for c in self.containers.all()}
        for name in sorted(names):
            if self.containers.busy(name):
                continue
            c = self._record(name)
            if c is None:
                found += await self._orphan(self.paths.containers / name, repair)
            else:
                found += await self._container(c, repair)
        for name in _entries(self.paths.exec_root):
            known = self.containers.busy(name) or self._record(name) is not None
            if _CONTAINER_ID.match(name) and not known:
                found.append(self._stale_exec_dir(name, repair))
        return found

    def _record(self, cid: str) -> Container | None:
        try:
            return self.containers.get(cid)
        except DockyardError:
            return None

    async def _orphan(self, root: Path, repair: bool) -> list[Finding]:
        found = []
        if live_shim(root):
            found.append(
                Finding("shim-orphan", root.name, "a shim runs a container with no record")
            )
        found.append(Finding("container-orphan", root.name, "a container directory with no record"))
        if repair:
            await stop_shim(root)
            _destroy_cgroup_of(root)
            unmount_all(root)
            _remove(root)
            _remove(self.paths.exec_root / root.name)
            for finding in found:
                finding.repaired = True
        return found

    async def _container(self, c: Container, repair: bool) -> list[Finding]:
        found = []
        if not c.root.is_dir():
            found.append(Finding("container-dir-missing", c.id, "its directory is gone"))
            if repair:
                c.root.mkdir(mode=PRIVATE_DIR_MODE)
                (c.root / "upper").mkdir(mode=0o755)
                found[-1].repaired = True
        shim_pid = live_shim(c.root)
        if c.running and not shim_pid:
            found.append(Finding("container-not-running", c.id, "recorded running, has ended"))
            if repair:
                self.supervisor.settle(c.id)
                found[-1].repaired = True
        elif not c.running and shim_pid:
            found.append(Finding("container-running", c.id, "recorded stopped, still runs"))
            if repair:
                await stop_shim(c.root)
                found[-1].repaired = True
        cgroup = cgroups.open_cgroup(specgen.container_cgroup_path(c))
        if c.running and shim_pid and not c.state["Paused"] and cgroup.frozen():
            found.append(Finding("container-frozen", c.id, "frozen, but not paused"))
            if repair:
                cgroup.thaw()
                found[-1].repaired = True
        if not c.running and not shim_pid:
            if cgroup.exists():
                found.append(Finding("cgroup-stale", c.id, "the cgroup of a stopped container"))
                if repair:
                    _destroy(cgroup)
                    found[-1].repaired = True
            if (self.paths.exec_root / c.id).exists():
                found.append(self._stale_exec_dir(c.id, repair))
        return found

    def _stale_exec_dir(self, name: str, repair: bool) -> Finding:
        finding = Finding("exec-dir-stale", name, "the exec directory of no running container")
        if repair:
            _remove(self.paths.exec_root / name)
            finding.repaired = True
        return finding

    # ------------------------------------------------------------------ mounts
    def _mounts(self, repair: bool) -> list[Finding]:
        """Mounts under the data root that nothing running uses: detached (each with those below)."""
        found: list[Finding] = []
        detached: list[str] = []
        for point in reversed(linux.mount_points_under(str(self.paths.data_root))):
            if any(point.startswith(top + "/") for top in detached) or self._expected(point):
                continue
            detached.append(point)
            found.append(Finding("mount-stale", point, "mounted, and used by nothing"))
            if repair:
                unmount(Path(point))
                found[-1].repaired = True
        return found

    def _expected(self, point: str) -> bool:
        relative = Path(point).relative_to(self.paths.data_root).parts
        if not relative or relative[0] == "tmp":
            return True  # the data root itself; tmp/ belongs to operations in progress
        if relative[0] == "containers" and len(relative) >= 2:
            return self._container_mount(relative[1], relative[2:])
        if relative[0] == "volumes" and len(relative) >= 2:
            return self._volume_in_use(relative[1])
        return False

    def _container_mount(self, cid: str, below: tuple[str, ...]) -> bool:
        """Copies mount ``copy/``; a live shim its ``rootfs/`` and ``shm/`` (whatever the
        record says: that disagreement is the container's finding)."""
        if self.containers.busy(cid):
            return True
        if below[:1] == ("copy",):
            return self.files.copying(cid)
        return below[:1] in (("rootfs",), (SHM_DIR,)) and bool(
            live_shim(self.paths.containers / cid)
        )

    def _volume_in_use(self, name: str) -> bool:
        if self.containers.creating():
            return True  # a new container's volumes are mounted for a moment (copy-up)
        for c in self.containers.all():
            uses = any(m.get("Name") == name for m in c.record.get("Mounts") or [])
            if uses and (c.running or self.containers.busy(c.id)):
                return True
        return False

    # ------------------------------------------------------------------ networks
    def _networks(self, repair: bool) -> list[Finding]:
        found: list[Finding] = []
        nets = self.networks
        for row in nets.endpoint_rows():
            cid = row["container_id"]
            if self.containers.busy(cid) or self._running(cid) or nets.is_build_step(cid):
                continue
            found.append(Finding("endpoint-stale", cid, "an endpoint of no running container"))
            if repair:
                self._release(cid)
                found[-1].repaired = True
        if not nets.has_bridges():
            return found  # no bridge: no veth, no table of ours
        known = {json.loads(row["record"])["HostIfName"] for row in nets.endpoint_rows()}
        for veth in marked_ports(nets.owner):
            if veth not in known:
                found.append(Finding("veth-orphan", veth, "a veth of no endpoint"))
                if repair:
                    nets.links.delete(veth)
                    found[-1].repaired = True
        wanted, in_kernel = nets.published_rules()
        if in_kernel is not None and in_kernel != wanted:
            stale = sorted(set(in_kernel) - set(wanted)) or sorted(set(wanted) - set(in_kernel))
            found.append(
                Finding(
                    "nat-rules", nets.table, f"DNAT rules differ from the published ports: {stale}"
                )
            )
            if repair:
                nets.sync_rules(again=True)
                found[-1].repaired = True
        return found

    def _running(self, cid: str) -> bool:
        c = self._record(cid)
        return c is not None and c.running

    def _release(self, cid: str) -> None:
        c = self._record(cid)
        if c is None:
            self.networks.forget(cid)
            return
        self.networks.release(c)
        self.containers.save(c)


def _destroy_cgroup_of(root: Path) -> None:
    """The cgroup of a container directory (named in its OCI config, else the default
    one of its id), its processes killed: a shim that lost its files ends with them."""
    try:
        spec = json.loads((root / "config.json").read_text())
        path = spec["linux"]["cgroupsPath"]
    except (OSError, ValueError, KeyError):
        path = specgen.cgroup_path(root.name)
    cgroup = cgroups.open_cgroup(path)
    if cgroup.exists():
        _destroy(cgroup)


def _destroy(cgroup: cgroups.Cgroup) -> None:
    try:
        if cgroup.pids():
            cgroup.kill_all()
        cgroup.destroy()
    except OSError as e:
        log.warning("removing the cgroup %s: %s", cgroup.path, e)


def _entries(directory: Path) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except FileNotFoundError:
        return []


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
