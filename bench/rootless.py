"""Rootless mode's cost (issue 9): `dockyard run --rm busybox true` by a user's engine beside root's.

The user is made for the run (useradd: a home, subordinate ids) and removed
after it, with /run/user/UID as their runtime directory. Both CLIs are
started the same way (a fork and exec, as that user for the rootless one), so
the figures differ only by the engines.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

from common import BIN, REPO, daemon, median_ms, report

TUN = "/dev/net/tun"


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

    def cli(self, *args: str, stdin: object = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(BIN / "dockyard"), *args],
            stdin=stdin,  # type: ignore[arg-type]
            capture_output=True,
            env=self.env,
            cwd=self.home,
            user=self.uid,
            group=self.gid,
            extra_groups=[],
            check=True,
        )

    def remove(self) -> None:
        pid_file = self.runtime_dir / "dockyard" / "dockyardd.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        deadline = time.monotonic() + 30
        while self._processes() and time.monotonic() < deadline:
            time.sleep(0.1)
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


def main() -> None:
    with daemon() as d:
        root_ms = median_ms(lambda: d.cli("run", "--rm", "busybox", "true"))
    report("dockyard run --rm busybox true (root)", root_ms)
    # slirp4netns opens /dev/net/tun as the user: 0666 with Debian's udev, 0600 without it.
    tun_mode = stat.S_IMODE(os.stat(TUN).st_mode)
    os.chmod(TUN, tun_mode | 0o666)
    user = RootlessUser()
    try:
        tar = user.home / "busybox.tar"
        subprocess.run([str(REPO / "scripts" / "mkbusybox-rootfs.sh"), str(tar)], check=True)
        os.chown(tar, user.uid, user.gid)
        with open(tar, "rb") as f:
            user.cli("import", "-", "busybox:latest", stdin=f)
        rootless_ms = median_ms(lambda: user.cli("run", "--rm", "busybox", "true"))
        report("dockyard run --rm busybox true (rootless)", rootless_ms)
        print(f"{'':<48} rootless / root: ×{rootless_ms / root_ms:.2f}")
    finally:
        user.remove()
        os.chmod(TUN, tun_mode)


if __name__ == "__main__":
    main()
