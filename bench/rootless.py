"""Rootless mode's cost (issue 9): a user's engine, with slirp4netns and with pasta, beside root's.

- `dockyard run --rm busybox true`, end to end (median of 15);
- a published port's throughput: a 64 MiB file busybox's httpd sends through `-p` to a
  client on the host's loopback (root: DNAT; rootless: the daemon's relay of
  the host side's socket), best of 3;
- outbound throughput: 64 MiB a container sends to a listener on the host's
  loopback, which a rootless namespace reaches through its network driver as
  10.0.2.2 (started with DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK=false;
  root's containers may not reach the host's loopback: no figure), best of 3,
  with how many of the 3 were cut short (reset, or stalled for a minute).

The user is made for the run (useradd: a home, subordinate ids) and removed
after it, with /run/user/UID as their runtime directory. Both CLIs are
started the same way (a fork and exec, as that user for the rootless one), so
the figures differ only by the engines.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from common import BIN, REPO, daemon, median_ms, report

TUN = "/dev/net/tun"
MIB = 64
SENDER = f"dd if=/dev/zero bs=1M count={MIB} 2>/dev/null"
DRIVERS = ("slirp4netns", "pasta")
OUTBOUND_TIMEOUT = 60


class RootlessUser:
    def __init__(self) -> None:
        self.name = f"dybench{secrets.token_hex(3)}"
        subprocess.run(["useradd", "--create-home", "--user-group", self.name], check=True)
        entry = pwd.getpwnam(self.name)
        self.uid, self.gid, self.home = entry.pw_uid, entry.pw_gid, Path(entry.pw_dir)
        self.runtime_dir = Path(f"/run/user/{self.uid}")
        self.made_run_user = not self.runtime_dir.parent.exists()
        self.runtime_dir.mkdir(mode=0o700, parents=True)
        os.chown(self.runtime_dir, self.uid, self.gid)
        self.env = {
            "HOME": str(self.home),
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        }

    def cli(
        self, *args: str, stdin: object = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(BIN / "dockyard"), *args],
            stdin=stdin,  # type: ignore[arg-type]
            capture_output=True,
            env=self.env,
            cwd=self.home,
            user=self.uid,
            group=self.gid,
            extra_groups=[],
            check=check,
        )

    def stop_engine(self) -> None:
        pid_file = self.runtime_dir / "dockyard" / "dockyardd.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        deadline = time.monotonic() + 30
        while self._processes() and time.monotonic() < deadline:
            time.sleep(0.1)

    def remove(self) -> None:
        self.stop_engine()
        subprocess.run(["userdel", "--remove", self.name], check=False, capture_output=True)
        shutil.rmtree(self.runtime_dir, ignore_errors=True)
        if self.made_run_user:
            self.runtime_dir.parent.rmdir()

    def _processes(self) -> list[str]:
        found = []
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == self.uid:
                    found.append(entry)
            except FileNotFoundError:
                continue
        return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mib_per_s(nbytes: int, seconds: float) -> float:
    return nbytes / (1 << 20) / seconds


def published_throughput(cli: Callable[..., object]) -> float:
    """MiB/s of a file busybox's httpd sends through `-p PORT:8000` to a client on 127.0.0.1."""
    port = free_port()
    server = f"mkdir /www && {SENDER} of=/www/big && exec httpd -f -p 8000 -h /www"
    cli("run", "-d", "--name", "sender", "-p", f"{port}:8000", "busybox", "sh", "-c", server)
    try:
        samples: list[float] = []
        for _ in range(100):
            received, begun = 0, time.perf_counter()
            with (
                contextlib.suppress(ConnectionError),
                socket.create_connection(("127.0.0.1", port)) as conn,
            ):
                conn.sendall(b"GET /big HTTP/1.0\r\n\r\n")
                while chunk := conn.recv(1 << 20):
                    received += len(chunk)
            if received > MIB << 20:  # the file and the headers
                samples.append(mib_per_s(received, time.perf_counter() - begun))
                if len(samples) == 3:
                    break
            else:  # the server is not ready yet
                time.sleep(0.1)
        return max(samples)
    finally:
        cli("rm", "-f", "sender")


def _receive(listener: socket.socket, samples: list[float]) -> None:
    try:
        conn, _ = listener.accept()
    except TimeoutError:
        return
    with conn:
        conn.settimeout(OUTBOUND_TIMEOUT)
        try:
            received = len(conn.recv(1 << 20))
            begun = time.perf_counter()  # from the first byte: not the container's start
            while chunk := conn.recv(1 << 20):
                received += len(chunk)
        except TimeoutError:
            return
        if received == MIB << 20:
            samples.append(mib_per_s(received, time.perf_counter() - begun))


def outbound_throughput(cli: Callable[..., object]) -> str:
    """MiB/s of a container's 64 MiB to a listener on the host's loopback (10.0.2.2), best
    of 3, and how many of the 3 did not arrive whole within a minute."""
    samples: list[float] = []
    for _ in range(3):
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            listener.settimeout(OUTBOUND_TIMEOUT)
            port = listener.getsockname()[1]
            thread = threading.Thread(target=_receive, args=(listener, samples))
            thread.start()
            script = f"{SENDER} | timeout {OUTBOUND_TIMEOUT} nc 10.0.2.2 {port}"
            cli("run", "--rm", "busybox", "sh", "-c", script, check=False)
            thread.join()
    best = f"{max(samples):9.0f} MiB/s" if samples else f"{'-':>9} MiB/s"
    return f"{best} ({3 - len(samples)} of 3 cut short)"


def main() -> None:
    with daemon() as d:
        root_ms = median_ms(lambda: d.cli("run", "--rm", "busybox", "true"))
        report("dockyard run --rm busybox true (root)", root_ms)
        print(f"{'published port, 64 MiB (root)':<48} {published_throughput(d.cli):9.0f} MiB/s")
    # slirp4netns and pasta open /dev/net/tun as the user: 0666 with Debian's udev, 0600 without.
    tun_mode = stat.S_IMODE(os.stat(TUN).st_mode)
    os.chmod(TUN, tun_mode | 0o666)
    user = RootlessUser()
    try:
        tar = user.home / "busybox.tar"
        subprocess.run([str(REPO / "scripts" / "mkbusybox-rootfs.sh"), str(tar)], check=True)
        os.chown(tar, user.uid, user.gid)
        for driver in DRIVERS:
            user.env["DOCKERD_ROOTLESS_ROOTLESSKIT_NET"] = driver
            user.env["DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK"] = "false"
            with open(tar, "rb") as f:
                user.cli("import", "-", "busybox:latest", stdin=f)
            rootless_ms = median_ms(lambda: user.cli("run", "--rm", "busybox", "true"))
            report(f"dockyard run --rm busybox true (rootless, {driver})", rootless_ms)
            print(f"{'':<48} rootless / root: ×{rootless_ms / root_ms:.2f}")
            published = published_throughput(user.cli)
            print(f"{f'published port, 64 MiB ({driver})':<48} {published:9.0f} MiB/s")
            print(f"{f'outbound, 64 MiB ({driver})':<48} {outbound_throughput(user.cli)}")
            user.stop_engine()
    finally:
        user.remove()
        os.chmod(TUN, tun_mode)


if __name__ == "__main__":
    main()
