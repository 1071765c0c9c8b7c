"""An unprivileged user made for the rootless tests, and their CLI driving their own engine.

The user gets a home, subordinate id ranges (useradd's own, from /etc/login.defs)
and /run/user/UID as their runtime directory, as a login session would (a
socket path has at most 107 bytes: a home is too deep for a container's
sockets); everything goes at the end, after their engine has stopped and none
of their processes is left.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import DOCKYARD
from tests.e2e.helpers import wait_until

TUN = "/dev/net/tun"
FUSE = "/dev/fuse"
RUN_USER = Path("/run/user")


@dataclass
class User:
    name: str
    uid: int
    gid: int
    home: Path
    subuid: int  # the first of the user's subordinate uids
    subgid: int
    env: dict[str, str] = field(default_factory=dict)  # for their engine: its network driver

    @property
    def runtime_dir(self) -> Path:
        return Path(f"/run/user/{self.uid}")

    @property
    def data_root(self) -> Path:
        return self.home / ".local" / "share" / "dockyard"

    @property
    def exec_root(self) -> Path:
        return self.runtime_dir / "dockyard"

    def environment(self) -> dict[str, str]:
        # runuser keeps the caller's environment (the test run's mark among it), but these.
        return {
            **os.environ,
            "HOME": str(self.home),
            "USER": self.name,
            "LOGNAME": self.name,
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            **self.env,
        }

    def run(
        self, *args: str, input: bytes | None = None, timeout: float = 120, stdin: object = None
    ) -> subprocess.CompletedProcess[str]:
        """``args`` run as the user, from their home."""
        done = subprocess.run(
            ["runuser", "-u", self.name, "--", *args],
            input=input,
            stdin=stdin,  # type: ignore[arg-type]
            capture_output=True,
            env=self.environment(),
            cwd=self.home,
            timeout=timeout,
            check=False,
        )
        return subprocess.CompletedProcess(
            done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
        )

    def dockyard(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        """Our CLI as the user: it starts the user's rootless engine on first use."""
        return self.run(DOCKYARD, *args, **kwargs)  # type: ignore[arg-type]

    def processes(self) -> list[int]:
        found = []
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == self.uid:
                    found.append(int(entry))
            except FileNotFoundError:
                continue
        return found

    def stop_engine(self) -> None:
        """SIGTERM to the daemon, as its pid file names it; wait until nothing of theirs runs."""
        pid_file = self.exec_root / "dockyardd.pid"
        if pid_file.exists():
            with contextlib.suppress(ValueError, ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
        wait_until(lambda: not self.processes(), timeout=30, what=f"{self.name}'s processes")


def _first_range(path: str, name: str) -> int:
    for line in Path(path).read_text().splitlines():
        owner, start, _count = line.split(":")
        if owner == name:
            return int(start)
    raise AssertionError(f"useradd gave {name} no range in {path}")


@pytest.fixture(scope="session")
def tun_for_users() -> Iterator[None]:
    """slirp4netns opens /dev/net/tun as the user: Debian's udev makes it 0666, this VM
    has no udev and leaves it 0600. Made 0666 for the session, then put back."""
    mode = stat.S_IMODE(os.stat(TUN).st_mode)
    os.chmod(TUN, 0o666)
    yield
    os.chmod(TUN, mode)


@contextlib.contextmanager
def _new_user(*useradd_options: str) -> Iterator[User]:
    name = f"dyrl{secrets.token_hex(4)}"
    subprocess.run(["useradd", "--create-home", "--user-group", *useradd_options, name], check=True)
    entry = pwd.getpwnam(name)
    ranges = not useradd_options
    made = User(
        name,
        entry.pw_uid,
        entry.pw_gid,
        Path(entry.pw_dir),
        _first_range("/etc/subuid", name) if ranges else 0,
        _first_range("/etc/subgid", name) if ranges else 0,
    )
    made_run_user = not RUN_USER.exists()
    made.runtime_dir.mkdir(mode=0o700, parents=True)
    os.chown(made.runtime_dir, made.uid, made.gid)
    try:
        yield made
    finally:
        made.stop_engine()
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)
        shutil.rmtree(made.home, ignore_errors=True)
        shutil.rmtree(made.runtime_dir, ignore_errors=True)
        if made_run_user:
            RUN_USER.rmdir()


@pytest.fixture(scope="session")
def fuse_for_users() -> Iterator[None]:
    """fuse-overlayfs opens /dev/fuse as the user: 0666 with Debian's udev, 0600 on this VM
    without it. Made 0666 for the session, then put back."""
    mode = stat.S_IMODE(os.stat(FUSE).st_mode)
    os.chmod(FUSE, 0o666)
    yield
    os.chmod(FUSE, mode)


@pytest.fixture(scope="session")
def project_for_users() -> Iterator[None]:
    """A user runs the project's own venv: a clone under /root (0700) is out of their
    reach. Each directory above it is made traversable (o+x) for the session, then put back."""
    changed = []
    for directory in Path(__file__).resolve().parents:
        mode = stat.S_IMODE(os.stat(directory).st_mode)
        if not mode & stat.S_IXOTH:
            os.chmod(directory, mode | stat.S_IXOTH)
            changed.append((directory, mode))
    yield
    for directory, mode in reversed(changed):
        os.chmod(directory, mode)


@pytest.fixture(scope="session")
def user_namespaces() -> None:
    """The kernel refuses a user namespace to any process in a chroot (unshare(2): EPERM),
    root's included, and everywhere when user.max_user_namespaces is 0: no rootless engine
    can run there (the fresh-machine check is a chroot)."""
    probe = subprocess.run(["unshare", "--user", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"this machine refuses user namespaces: {probe.stderr.strip()}")


@pytest.fixture(scope="module")
def user(tun_for_users: None, project_for_users: None, user_namespaces: None) -> Iterator[User]:
    with _new_user() as made:
        yield made


@pytest.fixture
def user_without_ranges(project_for_users: None) -> Iterator[User]:
    """A user useradd gave no subordinate ids."""
    with _new_user("-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0") as made:
        yield made


@contextlib.contextmanager
def running_engine(user: User, busybox_tar: Path, **env: str) -> Iterator[User]:
    """The user with busybox:latest in their engine, started with ``env`` (e.g. its network
    driver), which stops at the end."""
    user.env = env
    try:
        with open(busybox_tar, "rb") as tar:
            imported = user.dockyard("import", "-", "busybox:latest", stdin=tar)
        assert imported.returncode == 0, imported.stderr
        yield user
    finally:
        user.stop_engine()
        user.env = {}


@pytest.fixture
def engine_user(user: User, busybox_tar: Path) -> Iterator[User]:
    """The user with busybox:latest in their engine, which stops at the end of the test."""
    with running_engine(user, busybox_tar) as started:
        yield started
