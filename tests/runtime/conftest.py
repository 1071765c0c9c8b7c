"""Fixtures for the runtime tests: bundles of the busybox rootfs, and leak checks.

Every test gets its own bundle directory and its own cgroup parent
(``dockyard-test-<hex>``, relative, so under this process's cgroups); at the
end the fixtures check that nothing is left: no mounts under the bundle, no
container cgroup, no process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tarfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dockyard.runtime import cgroups, container
from dockyard.runtime.spec import SpecOptions, docker_default_spec

HYBRID_UNIFIED = "/sys/fs/cgroup/unified"
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture
def root() -> None:
    """Skip a test that runs containers, or mounts, where the suite does not run as root.

    Only such tests ask for it (through ``cgroup_parent`` and ``bundle``): the pure
    ones beside them (spec, users, securejoin, ...) run for anyone.
    """
    if os.geteuid() != 0:
        pytest.skip("this test runs containers: it needs root")


@dataclass
class Result:
    status: int  # exit code, or 128+N when killed by signal N
    out: str
    err: str


def exit_status(wait_status: int) -> int:
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.waitstatus_to_exitcode(wait_status)


@dataclass
class Bundle:
    """An OCI bundle: a busybox rootfs and the config.json written before each run."""

    path: Path
    cgroup_parent: str
    name: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"

    @property
    def cgroups_path(self) -> str:
        return f"{self.cgroup_parent}/{self.name}"

    def spec(self, args: list[str], **options: object) -> dict:
        """Docker's config for ``args`` (plus any SpecOptions fields given)."""
        defaults: dict = {"env": [PATH], "hostname": "box", "cgroups_path": self.cgroups_path}
        defaults.update(options)
        return docker_default_spec(SpecOptions(args=args, **defaults))

    def write(self, spec: dict) -> None:
        (self.path / "config.json").write_text(json.dumps(spec, indent=1))

    def create(self, spec: dict, stdio: container.Stdio | None = None) -> container.Init:
        self.write(spec)
        stdio = stdio or container.Stdio(0, 1, 2)
        return container.create(
            self.path,
            stdio,
            terminal=bool(spec["process"].get("terminal")),
            container_id=self.name,
        )

    def run(
        self, args: list[str] | None = None, *, spec: dict | None = None, **options: object
    ) -> Result:
        """Run a container to its end in-process; its output is captured through files."""
        if spec is None:
            assert args is not None
            spec = self.spec(args, **options)
        out_path, err_path = self.path / "out", self.path / "err"
        with (
            open(out_path, "w+b") as out,
            open(err_path, "w+b") as err,
            open(os.devnull, "rb") as null,
        ):
            init = self.create(spec, container.Stdio(null.fileno(), out.fileno(), err.fileno()))
            try:
                init.start()
                _, status = os.waitpid(init.pid, 0)
            finally:
                container.delete(self.path)
        return Result(exit_status(status), out_path.read_text(), err_path.read_text())

    @contextmanager
    def running(self, args: list[str], **options: object) -> Iterator[container.Init]:
        """A started container, killed and deleted on the way out."""
        init = self.create(self.spec(args, **options))
        try:
            init.start()
            yield init
        finally:
            os.kill(init.pid, signal.SIGKILL)
            os.waitpid(init.pid, 0)
            container.delete(self.path)


def _mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if str(path) in line]


@pytest.fixture
def cgroup_parent(root: None) -> Iterator[str]:
    """A cgroup parent for this test; afterwards it must hold no container, and is removed."""
    parent = f"dockyard-test-{uuid.uuid4().hex[:8]}"
    yield parent
    group = cgroups.open_cgroup(parent)
    leaked = sorted(
        {
            entry.name
            for _, directory in group.mount_sources()
            if os.path.isdir(directory)
            for entry in os.scandir(directory)
            if entry.is_dir()
        }
    )
    for name in leaked:
        child = cgroups.open_cgroup(f"{parent}/{name}")
        if child.pids():
            child.kill_all()
        child.destroy()
    group.destroy()
    if not cgroups.unified() and os.path.isdir(HYBRID_UNIFIED):
        # runc joins a hybrid machine's cgroup2 hierarchy too, and leaves the parent there.
        cgroups.CgroupV2(parent, root=HYBRID_UNIFIED).destroy()
    assert leaked == [], f"container cgroups left behind: {leaked}"


@pytest.fixture
def bundle(tmp_path: Path, busybox_tar: Path, cgroup_parent: str) -> Iterator[Bundle]:
    path = tmp_path / "bundle"
    (path / "rootfs").mkdir(parents=True)
    with tarfile.open(busybox_tar) as tar:
        tar.extractall(path / "rootfs", numeric_owner=True)
    yield Bundle(path, cgroup_parent)
    assert _mounts_under(path) == [], "mounts left under the bundle"
    shutil.rmtree(path)
