"""The kill loop: dockyardd killed with SIGKILL at random moments of a mixed workload and
started again on the same roots, many times; then everything it lists must still work.

Workers drive the daemon through the docker SDK with every verb that changes the store
or the kernel: create, run (published ports: veths and DNAT rules), start, stop, rm,
build (RUN steps: overlay mounts, cgroups), commit, pull, push, load, volume create and
rm, rmi. At a random moment the daemon is killed; the next one must start, and its
system check must find nothing left to repair. At the end every image is inspected and
run, every container and volume removed, the volumes made at the start still hold
their data, and nothing is left on disk or in the kernel once everything is gone.

Used by tests/crash/test_kill_loop.py (a short loop) and bench/crash.py (≥ 200 kills).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.ready import answers_ping

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent.parent
API_VERSION = "1.44"
DOCKERFILE = b"FROM busybox\nARG N\nRUN echo $N > /n && sleep 0.2\nCOPY f /f\n"
KEPT_VOLUMES = 3  # made before the first kill: their data must survive every one
MAX_CONTAINERS = 12  # the workers make no more: a long loop stays as busy as a short one
# A worker's operation: what it does with the client; the id of the container it made, if any.
Operation = Callable[[Any, random.Random], "str | None"]


@dataclass
class Report:
    kills: int = 0
    operations: int = 0
    restart_seconds: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class KillLoop:
    """One data root and exec root, a daemon started and killed on them again and again."""

    def __init__(
        self,
        base: Path,
        busybox_tar: Path,
        registry: str | None = None,
        seed: int | None = None,
        workers: int = 3,
    ) -> None:
        self.base = base
        self.data_root = base / "data"
        self.exec_root = base / "run"
        self.socket = self.exec_root / "d.sock"
        self.busybox_tar = busybox_tar
        self.registry = registry
        self.random = random.Random(seed)
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None
        self.report = Report()
        self.checksums: dict[str, str] = {}
        self.containers: set[str] = set()  # ids of the containers the workers made
        self.context = base / "context"
        self.saved = base / "saved.tar"
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the daemon
    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> float:
        """Start dockyardd and wait until it answers; the seconds it took."""
        self.exec_root.mkdir(parents=True, exist_ok=True)
        begun = time.monotonic()
        with open(self.base / "daemon.log", "ab") as log:
            self.process = subprocess.Popen(
                [
                    str(BIN / "dockyardd"),
                    "--data-root",
                    str(self.data_root),
                    "--exec-root",
                    str(self.exec_root),
                    "-H",
                    self.host,
                ],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = begun + 30
        while not answers_ping(self.socket):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log_text = (self.base / "daemon.log").read_text(errors="replace")
                raise AssertionError(f"dockyardd did not start again:\n{log_text[-4000:]}")
            time.sleep(0.01)
        return time.monotonic() - begun

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=20)
        self.report.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def client(self) -> Any:
        import docker

        return docker.DockerClient(base_url=self.host, version=API_VERSION, timeout=30)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "dockyard"), "-H", self.host, *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def check(self) -> dict[str, Any]:
        """The daemon's system check, without repairs."""
        from tests.api import wire

        reply = wire.request(str(self.socket), "GET", "/dockyard/check")
        assert reply.status == 200, reply.body
        return reply.json()  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ setting up
    def prepare(self) -> None:
        """busybox, a saved archive to load, a build context, volumes with data, a pushed base."""
        self.start()
        imported = self.cli("import", "--change", 'CMD ["sh"]', str(self.busybox_tar), "busybox")
        assert imported.returncode == 0, imported.stderr
        saved = self.cli("save", "-o", str(self.saved), "busybox")
        assert saved.returncode == 0, saved.stderr
        self.context.mkdir()
        (self.context / "Dockerfile").write_bytes(DOCKERFILE)
        (self.context / "f").write_bytes(os.urandom(4096))
        client = self.client()
        try:
            for index in range(KEPT_VOLUMES):
                name = f"kept{index}"
                client.volumes.create(name)
                client.containers.run(
                    "busybox",
                    [
                        "sh",
                        "-c",
                        "head -c 300000 /dev/urandom > /v/data && mkdir /v/d && date > /v/d/t",
                    ],
                    volumes={name: {"bind": "/v", "mode": "rw"}},
                    remove=True,
                )
                self.checksums[name] = self._volume_checksum(name)
            if self.registry:
                client.images.get("busybox").tag(f"{self.registry}/crash/base", "latest")
                client.images.push(f"{self.registry}/crash/base", "latest")
        finally:
            client.close()

    def _volume_checksum(self, name: str) -> str:
        digest = hashlib.sha256()
        top = self.data_root / "volumes" / name / "_data"
        for directory, dirs, files in sorted(os.walk(top)):
            dirs.sort()
            for entry in sorted(files):
                path = Path(directory) / entry
                digest.update(str(path.relative_to(top)).encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()

    # ------------------------------------------------------------------ the loop
    def run(self, kills: int, max_delay: float = 1.2, check_each: bool = True) -> Report:
        """Kill the running daemon ``kills`` times at random moments of the workload."""
        for _ in range(kills):
            stop = threading.Event()
            threads = [
                threading.Thread(target=self._work, args=(stop, index), daemon=True)
                for index in range(self.workers)
            ]
            for thread in threads:
                thread.start()
            time.sleep(self.random.uniform(0.05, max_delay))
            self.kill()
            stop.set()
            for thread in threads:
                thread.join(60)
                assert not thread.is_alive(), "a worker hangs on a dead daemon"
            self.report.restart_seconds.append(self.start())
            if check_each:
                found = self.check()
                if found["Findings"]:
                    self.report.problems.append(json.dumps(found["Findings"]))
        return self.report

    def _work(self, stop: threading.Event, index: int) -> None:
        client = self.client()
        rng = random.Random(self.random.random())
        operations = self._operations()
        try:
            while not stop.is_set():
                name, operation = rng.choice(operations)
                made = None
                try:
                    made = operation(client, rng)
                except Exception:  # noqa: BLE001 - the daemon dies under us on purpose
                    if self.process is None or self.process.poll() is not None:
                        return
                with self._lock:
                    self.report.operations += 1
                    if made:
                        self.containers.add(made)
        finally:
            client.close()

    def _operations(self) -> list[tuple[str, Operation]]:
        ops: list[tuple[str, Operation]] = [
            ("create", _create),
            ("run", _run),
            ("start", _start),
            ("stop", _stop),
            ("rm", _rm),
            ("rm", _rm),
            ("build", self._build),
            ("commit", _commit),
            ("load", self._load),
            ("volume create", _volume_create),
            ("volume rm", _volume_rm),
            ("rmi", _rmi),
        ]
        if self.registry:
            ops += [("pull", self._pull), ("push", self._push)]
        return ops

    def _build(self, client: Any, rng: random.Random) -> None:
        n = str(rng.randrange(1 << 30))
        stream = client.api.build(
            fileobj=_tar_bytes(self.context),
            custom_context=True,
            tag=f"crash/build:{n}",
            buildargs={"N": n},
            decode=True,
        )
        for _ in stream:
            pass

    def _load(self, client: Any, rng: random.Random) -> None:
        client.images.load(self.saved.read_bytes())

    def _pull(self, client: Any, rng: random.Random) -> None:
        client.images.pull(f"{self.registry}/crash/base", tag="latest")

    def _push(self, client: Any, rng: random.Random) -> None:
        images = [i for i in client.images.list() if i.tags]
        if images:
            image = rng.choice(images)
            tag = f"p{rng.randrange(1000)}"
            image.tag(f"{self.registry}/crash/pushed", tag)
            client.images.push(f"{self.registry}/crash/pushed", tag)

    # ------------------------------------------------------------------ the end
    def verify(self) -> None:
        """Every listed object works and goes; nothing is left behind once all is gone."""
        client = self.client()
        try:
            findings = self.check()["Findings"]
            assert findings == [], f"the check found: {findings}"
            for name, checksum in self.checksums.items():
                assert self._volume_checksum(name) == checksum, f"volume {name} changed"
            for image in client.images.list(all=True):
                client.images.get(image.id)
                out = client.containers.run(image.id, ["echo", "ran"], remove=True)
                assert out == b"ran\n", (image.id, out)
            for container in client.containers.list(all=True):
                self.containers.add(container.id)
                container.remove(force=True)
            for volume in client.volumes.list():
                volume.remove()
            for image in client.images.list(all=True):
                with contextlib.suppress(Exception):  # gone with a child removed before it
                    client.images.remove(image.id, force=True)
            assert client.images.list(all=True) == []
            assert self.check()["Findings"] == []
            rules = _dnat_rules(self.data_root)
            assert rules == [], f"DNAT rules of removed containers: {rules}"
        finally:
            client.close()
        self.stop()
        leftovers = {
            "cgroups": _cgroups_of(self.containers),
            "mounts": _mounts_under(self.base),
            "shims": _shims_of(self.data_root),
            "links": _links_of(self.data_root),
            "blobs": _entries(self.data_root / "blobs" / "sha256"),
            "layers": _entries(self.data_root / "layers"),
            "containers": _entries(self.data_root / "containers"),
            "volumes": _entries(self.data_root / "volumes"),
            "tmp": _entries(self.data_root / "tmp"),
        }
        assert not any(leftovers.values()), leftovers

    def cleanup(self) -> None:
        """Whatever happened: no container of the loop's left running, the daemon stopped."""
        with contextlib.suppress(Exception):
            if self.process is None or self.process.poll() is not None:
                self.start()
            for cid in self.cli("ps", "-aq").stdout.split():
                self.cli("rm", "-f", cid)
        self.stop()
        for target in sorted(_mounts_under(self.base), key=len, reverse=True):
            subprocess.run(["umount", "-l", target], check=False, capture_output=True)


# ---------------------------------------------------------------------- operations
def _create(client: Any, rng: random.Random) -> str | None:
    if len(client.containers.list(all=True)) >= MAX_CONTAINERS:
        return None
    return str(client.containers.create("busybox", ["sleep", "1000"]).id)


def _run(client: Any, rng: random.Random) -> str | None:
    if len(client.containers.list(all=True)) >= MAX_CONTAINERS:
        return None
    container = client.containers.run(
        "busybox", ["sleep", "1000"], detach=True, ports={"80/tcp": None}
    )
    return str(container.id)


def _pick(client: Any, rng: random.Random, **filters: Any) -> Any:
    found = client.containers.list(all=True, filters=filters)
    return rng.choice(found) if found else None


def _start(client: Any, rng: random.Random) -> None:
    container = _pick(client, rng, status="created") or _pick(client, rng, status="exited")
    if container is not None:
        container.start()


def _stop(client: Any, rng: random.Random) -> None:
    container = _pick(client, rng, status="running")
    if container is not None:
        container.stop(timeout=1)


def _rm(client: Any, rng: random.Random) -> None:
    container = _pick(client, rng)
    if container is not None:
        container.remove(force=True, v=True)


def _commit(client: Any, rng: random.Random) -> None:
    container = _pick(client, rng)
    if container is not None:
        container.commit("crash/commit", f"c{rng.randrange(1000)}")


def _volume_create(client: Any, rng: random.Random) -> None:
    client.volumes.create(f"vol{rng.randrange(1000)}")


def _volume_rm(client: Any, rng: random.Random) -> None:
    volumes = [v for v in client.volumes.list() if v.name.startswith("vol")]
    if volumes:
        rng.choice(volumes).remove()


def _rmi(client: Any, rng: random.Random) -> None:
    images = [i for i in client.images.list() if "busybox:latest" not in i.tags]
    if images:
        client.images.remove(rng.choice(images).id, force=True)


# ---------------------------------------------------------------------- helpers
def _tar_bytes(directory: Path) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for entry in sorted(directory.iterdir()):
            tar.add(entry, arcname=entry.name)
    out.seek(0)
    return out


def _mounts_under(base: Path) -> list[str]:
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(str(base))]


def _shims_of(data_root: Path) -> list[int]:
    """Shim processes holding a file under this data root (their shim.log)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if Path(f"/proc/{entry}/comm").read_text().strip() != "dockyard-shim":
                continue
            fds = os.listdir(f"/proc/{entry}/fd")
            if any(os.readlink(f"/proc/{entry}/fd/{fd}").startswith(str(data_root)) for fd in fds):
                found.append(int(entry))
        except OSError:
            continue
    return found


def _cgroups_of(containers: set[str]) -> list[str]:
    """The cgroup directories left of these containers, in any hierarchy."""
    top = Path("/sys/fs/cgroup")
    places = [*top.glob("*/dockyard"), top / "dockyard"]
    return [str(p / cid) for p in places for cid in sorted(containers) if (p / cid).exists()]


def _links_of(data_root: Path) -> list[str]:
    """Veths this engine made (its mark is in their ifalias)."""
    mark = f"dockyard:{data_root}"
    found = []
    for name in os.listdir("/sys/class/net"):
        try:
            marked = Path(f"/sys/class/net/{name}/ifalias").read_text().strip() == mark
        except OSError:
            continue
        if marked and name.startswith("veth"):
            found.append(name)
    return found


def _dnat_rules(data_root: Path) -> list[str]:
    tag = hashlib.sha256(str(data_root).encode()).hexdigest()[:8]
    listing = subprocess.run(
        ["nft", "list", "table", "ip", f"dockyard_{tag}"], capture_output=True, text=True
    ).stdout
    return [line.strip() for line in listing.splitlines() if "dnat to" in line]


def _entries(directory: Path) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except FileNotFoundError:
        return []


def remove_base(base: Path) -> None:
    for target in sorted(_mounts_under(base), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)
    shutil.rmtree(base, ignore_errors=True)
