"""Fixtures shared by the whole suite.

Every test that touches the engine gets its own data root, exec root and
socket (short paths under /tmp: a Unix socket path has at most 107 bytes),
and the `no_leaks` check runs after every test: no mounts, cgroups or
processes of dockyard's may outlive the test that made them.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from tests.ready import answers_ping

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DOCKYARD = str(VENV_BIN / "dockyard")
DOCKYARDD = str(VENV_BIN / "dockyardd")
CGROUP_ROOT = Path("/sys/fs/cgroup")
T = TypeVar("T")


# ---------------------------------------------------------------------- Docker Hub, never
def _closed_loopback_port() -> socket.socket:
    """A loopback port bound and never listening, held for the whole run: whatever
    connects to it is refused, and nothing else can listen there meanwhile."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s


# No test may ever reach the real Docker Hub: every engine and daemon of the run
# (they inherit the environment) takes this closed port for it. A test that wants a
# Hub of its own sets the variable for its daemon only.
CLOSED_HUB = _closed_loopback_port()
HUB_URL_OVERRIDE = "DOCKYARD_TEST_HUB_URL"
CLOSED_HUB_URL = f"http://127.0.0.1:{CLOSED_HUB.getsockname()[1]}"
os.environ[HUB_URL_OVERRIDE] = CLOSED_HUB_URL


def daemon_config(directory: Path, directives: dict | None = None) -> Path:
    """A daemon.json of the test's own in ``directory``: a test never reads /etc/dockyard's."""
    path = directory / "daemon.json"
    path.write_text(json.dumps(directives or {}))
    return path


# ---------------------------------------------------------------------- leak check
def _dockyard_mounts() -> set[str]:
    with open("/proc/self/mounts") as f:
        return {line.split()[1] for line in f if ROOT_PREFIX in line.split()[1]}


def _dockyard_cgroups() -> set[str]:
    """Container cgroups with no process left in them: those a finished container forgot."""
    found = set()
    for parent in [*CGROUP_ROOT.glob("*/dockyard"), *CGROUP_ROOT.glob("dockyard")]:
        for group in parent.iterdir():
            try:
                if not (group / "cgroup.procs").read_text().strip():
                    found.add(str(group))
            except OSError:  # not a cgroup, or removed meanwhile by its engine
                continue
    return found


# Processes started by this test session carry this mark in their environment, so the
# leak check ignores other engines' shims on the same machine.
RUN_MARK = f"DOCKYARD_TEST_RUN={secrets.token_hex(4)}"
os.environ["DOCKYARD_TEST_RUN"] = RUN_MARK.split("=", 1)[1]
# The engines under test forward names they do not know to a resolver on loopback that
# nobody runs, never to the machine's own: tests send nothing off the machine.
_RESOLV_CONF = Path(f"/tmp/dy-resolv-{RUN_MARK.split('=', 1)[1]}.conf")
_RESOLV_CONF.write_text("nameserver 127.0.0.1\n")
os.environ.setdefault("DOCKYARD_RESOLV_CONF", str(_RESOLV_CONF))
# Every temporary root of this session starts so (short: socket paths are limited).
ROOT_PREFIX = f"/tmp/dy-{RUN_MARK.split('=', 1)[1]}-"


# The processes an engine leaves running for a container: its shims, and the fuse-overlayfs
# that serves its root with that storage driver (a zombie, having ended, carries no mark).
_ENGINE_PROCESSES = ("dockyard-shim", "dockyard-exec", "fuse-overlayfs")


def _shim_processes() -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() not in _ENGINE_PROCESSES:
                    continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                if RUN_MARK.encode() in f.read().split(b"\0"):
                    found.add(int(entry))
        except OSError:
            continue
    return found


# An engine marks the links and nftables tables it makes with its data root
# ("dockyard:<data-root>": a link's ifalias, a table's comment).
_TABLE = re.compile(r"^table (ip6?) (\S+)$", re.MULTILINE)


def _marked_links() -> set[str]:
    mark = f"dockyard:{ROOT_PREFIX}"
    found = set()
    for name in os.listdir("/sys/class/net"):
        try:
            with open(f"/sys/class/net/{name}/ifalias") as f:
                if f.read().startswith(mark):
                    found.add(name)
        except OSError:  # gone meanwhile
            continue
    return found


def _marked_tables() -> set[str]:
    mark = f'comment "dockyard:{ROOT_PREFIX}'
    return {
        f"{family} {name}"
        for family, name in _TABLE.findall(_nft("list tables"))
        if mark in _nft(f"list table {family} {name}")
    }


def _nft(command: str) -> str:
    try:
        return subprocess.run(["nft", command], capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        return ""


def _tmp_roots() -> set[str]:
    return {str(p) for p in Path("/tmp").glob(ROOT_PREFIX.removeprefix("/tmp/") + "*")}


_CHECKS = (
    _dockyard_mounts,
    _dockyard_cgroups,
    _shim_processes,
    _tmp_roots,
    _marked_links,
    _marked_tables,
)


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves mounts, cgroups, shims, temporary roots, links or nft tables."""
    before = [check() for check in _CHECKS]
    yield
    deadline = time.monotonic() + 5
    while True:  # a stopped container's veth goes with its namespace, which the kernel frees lazily
        after = [check() for check in _CHECKS]
        leaked = [sorted(a - b) for a, b in zip(after, before, strict=True)]
        if not any(leaked) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    names = (
        "mounts",
        "cgroups",
        "shim and fuse-overlayfs processes",
        "temporary roots",
        "links",
        "nft tables",
    )
    problems = {name: items for name, items in zip(names, leaked, strict=True) if items}
    assert not problems, f"the test leaked: {problems}"


# ---------------------------------------------------------------------- roots and images
@dataclass
class Roots:
    base: Path
    data_root: Path
    exec_root: Path
    socket: Path

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def dockyardd(self, *args: str) -> list[str]:
        """The command line of a daemon on these roots, with ``args``."""
        return [
            DOCKYARDD,
            "--data-root",
            str(self.data_root),
            "--exec-root",
            str(self.exec_root),
            "-H",
            self.host,
            *args,
        ]


def _cleanup_root(base: Path) -> None:
    """Undo whatever a failed test left mounted under ``base`` before removing it."""
    with open("/proc/self/mounts") as f:
        mounts = [line.split()[1] for line in f if line.split()[1].startswith(str(base))]
    for target in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def roots() -> Iterator[Roots]:
    base = Path(f"{ROOT_PREFIX}{secrets.token_hex(3)}")
    base.mkdir()
    yield Roots(base, base / "data", base / "run", base / "run" / "d.sock")
    _cleanup_root(base)


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("busybox") / "busybox.tar"
    subprocess.run([str(REPO / "scripts" / "mkbusybox-rootfs.sh"), str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def sysprobe() -> Path:
    """A static program that tries syscalls from inside a container (tests/helpers/sysprobe.c)."""
    subprocess.run(["make", "-s", "-C", str(REPO), "tests/helpers/bin/sysprobe"], check=True)
    return REPO / "tests" / "helpers" / "bin" / "sysprobe"


@dataclass
class SessionKey:
    description: str
    payload: str


_SYS_ADD_KEY = {"x86_64": 248, "aarch64": 217}
_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}
_KEY_SPEC_SESSION_KEYRING = -3
_KEYCTL_JOIN_SESSION_KEYRING = 1
_KEYCTL_REVOKE = 3
_KEYCTL_SETPERM = 5
_KEY_POSSESSOR_ALL = 0x3F000000


@pytest.fixture
def host_session_key() -> Iterator[SessionKey]:
    """A secret in this process's session keyring, readable only by who holds that keyring.

    The test process joins a session keyring of its own first: what it starts
    next (a daemon, a container) inherits it, as processes of the host do.
    Request it before the fixtures that start a daemon.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    machine = os.uname().machine

    def check(result: int) -> int:
        assert result >= 0, os.strerror(ctypes.get_errno())
        return result

    check(libc.syscall(_SYS_KEYCTL[machine], _KEYCTL_JOIN_SESSION_KEYRING, None))
    key = SessionKey(f"dockyard-test-secret-{secrets.token_hex(4)}", secrets.token_hex(8))
    serial = check(
        libc.syscall(
            _SYS_ADD_KEY[machine],
            b"user",
            key.description.encode(),
            key.payload.encode(),
            len(key.payload),
            _KEY_SPEC_SESSION_KEYRING,
        )
    )
    check(libc.syscall(_SYS_KEYCTL[machine], _KEYCTL_SETPERM, serial, _KEY_POSSESSOR_ALL))
    yield key
    libc.syscall(_SYS_KEYCTL[machine], _KEYCTL_REVOKE, serial)


def import_busybox(data_root: Path, exec_root: Path, tar: Path) -> str:
    """Import the busybox rootfs as busybox:latest with an in-process engine."""
    from dockyard.config import Paths
    from dockyard.engine.engine import Engine

    engine = Engine(Paths(data_root, exec_root))
    try:
        with open(tar, "rb") as f:
            return engine.images.import_tar(f, "busybox:latest", ['CMD ["sh"]'])
    finally:
        engine.close()


@pytest.fixture
def engine(roots: Roots, busybox_tar: Path) -> Iterator[object]:
    """An in-process engine with busybox:latest, on its own event loop (``engine.loop``)."""
    from dockyard.config import Paths
    from dockyard.engine.engine import Engine

    import_busybox(roots.data_root, roots.exec_root, busybox_tar)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    eng = Engine(Paths(roots.data_root, roots.exec_root))
    eng.loop = loop  # type: ignore[attr-defined]
    loop.run_until_complete(eng.start())
    yield eng
    if not eng.closed:  # a test may close it itself (the daemon going away)
        loop.run_until_complete(_remove_all(eng))
        eng.close()
    loop.close()
    asyncio.set_event_loop(None)


def cgroup_freezer_state(pid: int) -> str:
    """The kernel's word on the freezer of ``pid``'s cgroup: "FROZEN" or "THAWED".

    cgroup v1 says it in the freezer hierarchy's freezer.state; v2 in cgroup.events.
    """
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    paths = {controllers: path for _, controllers, path in (line.split(":", 2) for line in lines)}
    for controllers, path in paths.items():
        if "freezer" in controllers.split(","):
            return (
                (CGROUP_ROOT / controllers / path.lstrip("/") / "freezer.state").read_text().strip()
            )
    events = (CGROUP_ROOT / paths[""].lstrip("/") / "cgroup.events").read_text().splitlines()
    return "FROZEN" if "frozen 1" in events else "THAWED"


def runc_state(exec_root: Path, container_id: str) -> dict:
    """What runc says of a container the engine runs with it (``Runtime: runc``)."""
    result = subprocess.run(
        ["runc", "--root", str(exec_root / "runc"), "state", container_id],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, f"runc does not know {container_id}: {result.stderr}"
    return dict(json.loads(result.stdout))


async def _remove_all(eng: object) -> None:
    for c in eng.containers.all():  # type: ignore[attr-defined]
        await eng.containers.remove(c.id, force=True)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- a real daemon
@dataclass
class Daemon:
    roots: Roots
    process: subprocess.Popen[bytes]
    args: tuple[str, ...] = ()  # more of dockyardd's flags (another -H, --tlsverify...)

    @property
    def host(self) -> str:
        return self.roots.host

    def cli(
        self, *args: str, input: bytes | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run our own CLI against this daemon."""
        return subprocess.run(
            [DOCKYARD, "-H", self.host, *args],
            input=input.decode() if input is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=20)

    def start(self) -> None:
        self.process = _spawn_daemon(self.roots, self.args)


def _spawn_daemon(
    roots: Roots, args: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    roots.exec_root.mkdir(parents=True, exist_ok=True)
    if "--config-file" not in args:
        args = ("--config-file", str(daemon_config(roots.base)), *args)
    log = open(roots.base / "daemon.log", "ab")  # noqa: SIM115 - the daemon's own stderr
    proc = subprocess.Popen(
        roots.dockyardd(*args),
        stdout=log,
        stderr=log,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    deadline = time.monotonic() + 20
    while not answers_ping(roots.socket):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                "dockyardd did not start: " + (roots.base / "daemon.log").read_text()
            )
        time.sleep(0.02)
    return proc


@pytest.fixture
def daemon(roots: Roots, busybox_tar: Path) -> Iterator[Daemon]:
    """A running dockyardd on a temporary socket, with busybox:latest imported."""
    import_busybox(roots.data_root, roots.exec_root, busybox_tar)
    d = Daemon(roots, _spawn_daemon(roots))
    yield d
    if d.process.poll() is None:
        for cid in d.cli("ps", "-aq").stdout.split():
            d.cli("rm", "-f", cid)
    d.stop()


# ---------------------------------------------------------------------- the docker CLI
_DOCKER_VERSION = re.compile(r"^Docker version (\d+)\.(\d+)\.(\d+)")


@functools.cache
def docker_cli_path() -> tuple[str, tuple[int, ...]] | None:
    """The newest docker CLI on PATH and its version; None where PATH has none.

    `make test` installs Debian's docker.io (CLI 20.10) where there is no docker CLI.
    To run the suite with an older CLI beside a newer one, leave the newer's
    directory out of PATH.
    """
    found: dict[str, tuple[tuple[int, ...], str]] = {}
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        path = shutil.which("docker", path=directory) if directory else None
        if path is None or os.path.realpath(path) in found:
            continue
        said = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
        if match := _DOCKER_VERSION.match(said.stdout):
            found[os.path.realpath(path)] = (tuple(int(n) for n in match.groups()), path)
    if not found:
        return None
    version, path = max(found.values())
    return path, version


def pytest_report_header() -> str:
    found = docker_cli_path()
    if found is None:
        return "docker CLI: none on PATH (its tests skip; make test installs one)"
    path, version = found
    return f"docker CLI: {path} ({'.'.join(map(str, version))})"


@dataclass
class DockerCli:
    """The real docker CLI against one daemon: ``docker_cli(*args)`` runs it to its end."""

    path: str
    version: tuple[int, ...]  # (28, 2, 2): for the few expectations that differ by version
    env: dict[str, str]

    def __call__(
        self, *args: str, input: bytes | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.path, *args],
            input=input.decode() if input is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            check=False,
        )

    def expects(self, current: T, v20_10: T) -> T:
        """``current`` (what CLI 28 does), or ``v20_10`` where Debian's CLI 20.10 differs."""
        return v20_10 if self.version < (23,) else current

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """The CLI running in the background, its output read as it comes."""
        return subprocess.Popen(
            [self.path, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )


@pytest.fixture
def docker_cli(daemon: Daemon) -> DockerCli:
    """The real docker CLI against our daemon; skipped, visibly, where it is absent."""
    found = docker_cli_path()
    if found is None:
        pytest.skip("no docker CLI on PATH (make test installs one: Debian's docker.io)")
    env = {
        **os.environ,
        "DOCKER_HOST": daemon.host,
        "DOCKER_CONFIG": str(daemon.roots.base / "docker-config"),
    }
    return DockerCli(*found, env)


@pytest.fixture
def docker_sdk(daemon: Daemon) -> Iterator[object]:
    """The docker SDK for Python (a test dependency) against our daemon."""
    import docker

    client = docker.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    yield client
    client.close()
