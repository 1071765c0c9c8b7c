"""The rootless namespace's way out: slirp4netns or pasta, chosen as dockerd-rootless.sh does.

Both give the daemon's network namespace a ``tap0`` with 10.0.2.100/24, a
default route through 10.0.2.2 and a DNS forwarder at 10.0.2.3, and turn the
namespace's connections into ordinary sockets of the user on the host. Neither
forwards published ports here: the daemon's own port driver does
(rootless/ports.py), whichever way out there is.

``DOCKERD_ROOTLESS_ROOTLESSKIT_NET`` (dockerd-rootless.sh's variable) picks
the driver; by default slirp4netns where it is installed, else pasta.
``DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK=false`` lets the
namespace reach the host's loopback at 10.0.2.2 (by default it may not, as
rootlesskit has it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Protocol

from dockyard import rootless
from dockyard.errors import SystemError

NET_VARIABLE = "DOCKERD_ROOTLESS_ROOTLESSKIT_NET"
HOST_LOOPBACK_VARIABLE = "DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK"
DRIVERS = ("slirp4netns", "pasta")  # in the order of preference
_PACKAGES = {"slirp4netns": "slirp4netns", "pasta": "passt"}
_NETMASK = 24
_GATEWAY = "10.0.2.2"
_DNS = "10.0.2.3"
_PASTA_PID_FILE = "pasta.pid"  # in the exec root


class WayOut(Protocol):
    """A running network driver of the namespace."""

    def stop(self) -> None: ...


def chosen_driver() -> str:
    """The driver the environment asks for, or the first one installed (SystemError if none)."""
    asked = os.environ.get(NET_VARIABLE, "")
    if asked and asked not in DRIVERS:
        raise SystemError(
            f"{NET_VARIABLE}={asked}: unsupported network driver (slirp4netns or pasta)"
        )
    for driver in [asked] if asked else DRIVERS:
        if shutil.which(driver) is not None:
            return driver
    if asked:
        raise SystemError(
            f"{asked} not found on PATH: {NET_VARIABLE}={asked} needs it "
            f"(apt-get install {_PACKAGES[asked]})"
        )
    raise SystemError(
        "neither slirp4netns nor pasta found on PATH: rootless mode needs one "
        "(apt-get install slirp4netns, or apt-get install passt)"
    )


def host_loopback_disabled() -> bool:
    value = os.environ.get(HOST_LOOPBACK_VARIABLE, "true").lower()
    if value not in ("true", "false", "1", "0"):
        raise SystemError(f"{HOST_LOOPBACK_VARIABLE}={value}: want true or false")
    return value in ("true", "1")


def start(driver: str, pid: int, exec_root: Path) -> WayOut:
    """Connect the network namespace of ``pid`` to the host; return once it is up."""
    disable_host_loopback = host_loopback_disabled()
    if driver == "pasta":
        return _Pasta(pid, exec_root, disable_host_loopback)
    return _Slirp4netns(pid, disable_host_loopback)


class _Slirp4netns:
    """slirp4netns as the host side's child; it exits when the host side closes its exit fd."""

    def __init__(self, pid: int, disable_host_loopback: bool) -> None:
        exit_r, self._exit_w = os.pipe()
        ready_r, ready_w = os.pipe()
        command = ["slirp4netns", "--configure", f"--mtu={rootless.MTU}"]
        if disable_host_loopback:
            # The host's 127.0.0.1 must not be the namespace's 10.0.2.2: a container
            # reaching the host's loopback services is what rootlesskit refuses too.
            command.append("--disable-host-loopback")
        command += [f"--ready-fd={ready_w}", f"--exit-fd={exit_r}", str(pid), rootless.TAP_DEVICE]
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=(ready_w, exit_r),
                start_new_session=True,
            )
        finally:
            os.close(ready_w)
            os.close(exit_r)
        try:
            ready = os.read(ready_r, 1)
        finally:
            os.close(ready_r)
        if ready != b"1":
            self.stop()
            raise SystemError(
                f"slirp4netns exited with status {self._process.returncode} at start-up"
            )

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._exit_w)
        self._process.wait()


class _Pasta:
    """pasta, which goes to the background once the namespace's interface is up; it
    does not notice the namespace's end (it holds it): the host side ends it."""

    def __init__(self, pid: int, exec_root: Path, disable_host_loopback: bool) -> None:
        pid_file = exec_root / _PASTA_PID_FILE
        with contextlib.suppress(FileNotFoundError):
            pid_file.unlink()
        command = [
            "pasta",
            "--quiet",
            "--stderr",
            f"--ns-ifname={rootless.TAP_DEVICE}",
            f"--mtu={rootless.MTU}",
            "--config-net",
            f"--address={rootless.GUEST_ADDRESS}",
            f"--netmask={_NETMASK}",
            f"--gateway={_GATEWAY}",
            f"--dns-forward={_DNS}",
            "--ipv4-only",
            # No port forwarding of pasta's own, either way: published ports are the
            # daemon's (rootless/ports.py), and the namespace's loopback is not the host's.
            "--tcp-ports=none",
            "--udp-ports=none",
            "--tcp-ns=none",
            "--udp-ns=none",
            f"--pid={pid_file}",
        ]
        if disable_host_loopback:
            command.append("--no-map-gw")
        done = subprocess.run(
            [*command, str(pid)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemError(
                f"pasta exited with status {done.returncode} at start-up: "
                f"{done.stderr.strip() or done.stdout.strip()}"
            )
        self._pid = int(pid_file.read_text())
        self._pid_file = pid_file

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGTERM)
        # Gone to the background, it is the host side's (a subreaper's) child now.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self._pid, 0)
        with contextlib.suppress(FileNotFoundError):
            self._pid_file.unlink()
