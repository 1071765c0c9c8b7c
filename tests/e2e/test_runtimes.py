"""Runtime names as clients see them: the default is "runc" (the built-in runtime, with
runc's behaviour), "dockyard" names it too, and the runc and crun binaries are there
under io.containerd.runc.v2 and crun (docs/compatibility.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

from tests.e2e.helpers import Docker


def _binary_state(daemon: Any, binary: str, cid: str) -> subprocess.CompletedProcess[str]:
    """What the runtime binary knows of the container (its state dir is the daemon's)."""
    path = shutil.which(binary)
    assert path is not None, f"{binary} is one of the Makefile's apt packages"
    root = daemon.roots.exec_root / "runc"
    return subprocess.run(
        [path, "--root", str(root), "state", cid], capture_output=True, text=True, check=False
    )


def test_info_names_runc_the_default(docker_cli: Docker) -> None:
    info = json.loads(docker_cli("info", "--format", "{{json .}}").stdout)
    assert info["DefaultRuntime"] == "runc"
    assert {"runc", "dockyard", "io.containerd.runc.v2", "crun"} <= set(info["Runtimes"])
    text = docker_cli("info").stdout
    assert " Default Runtime: runc\n" in text
    listed = next(line for line in text.splitlines() if line.startswith(" Runtimes: "))
    assert sorted(listed.split()[1:]) == ["crun", "dockyard", "io.containerd.runc.v2", "runc"]
    assert "  Log: json-file local\n" in text  # the log drivers there are


def test_each_name_runs_what_it_names(daemon: Any, docker_cli: Docker) -> None:
    def start(name: str, *runtime: str) -> str:
        ran = docker_cli("run", "-d", "--name", name, *runtime, "busybox", "sleep", "300")
        assert ran.returncode == 0, ran.stderr
        return ran.stdout.strip()

    default = start("plain")
    shown = json.loads(docker_cli("inspect", "plain").stdout)[0]["HostConfig"]["Runtime"]
    assert shown == "runc"  # what Docker's default runtime is called
    assert _binary_state(daemon, "runc", default).returncode != 0  # not the runc binary
    for name in ("runc", "dockyard"):
        cid = start(f"by-{name}", "--runtime", name)
        runtime = json.loads(docker_cli("inspect", cid).stdout)[0]["HostConfig"]["Runtime"]
        assert runtime == name and _binary_state(daemon, "runc", cid).returncode != 0
    cid = start("binary-runc", "--runtime", "io.containerd.runc.v2")
    state = _binary_state(daemon, "runc", cid)
    assert state.returncode == 0 and json.loads(state.stdout)["status"] == "running"
    # crun is chosen by name too (it refuses this host's hybrid cgroups, so not started).
    assert (
        docker_cli("create", "--name", "binary-crun", "--runtime", "crun", "busybox").returncode
        == 0
    )

    unknown = docker_cli("run", "--runtime", "kata", "busybox", "true")
    assert unknown.returncode == 125
    assert unknown.stderr.startswith(
        "docker: Error response from daemon: unknown or invalid runtime name: kata"
    )
