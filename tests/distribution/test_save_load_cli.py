"""save and load through the API: the real docker CLI and our own CLI, both ways."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import DOCKYARD, Daemon
from tests.e2e.helpers import Docker


def _image_id(docker: Docker, name: str) -> str:
    return str(docker("image", "inspect", "-f", "{{.Id}}", name).stdout.strip())


def test_docker_save_rmi_load_keeps_the_image(docker_cli: Docker, tmp_path: Path) -> None:
    image_id = _image_id(docker_cli, "busybox")
    archive = tmp_path / "busybox.tar"
    saved = docker_cli("save", "-o", str(archive), "busybox")
    assert saved.returncode == 0, saved.stderr
    assert docker_cli("rmi", "busybox").returncode == 0
    loaded = docker_cli("load", "-i", str(archive))
    assert (loaded.returncode, loaded.stdout) == (0, "Loaded image: busybox:latest\n"), loaded
    assert _image_id(docker_cli, "busybox") == image_id
    ran = docker_cli("run", "--rm", "busybox", "echo", "back")
    assert (ran.returncode, ran.stdout) == (0, "back\n")


def test_docker_load_of_a_truncated_archive_fails_in_one_line(
    docker_cli: Docker, tmp_path: Path
) -> None:
    archive = tmp_path / "busybox.tar"
    assert docker_cli("save", "-o", str(archive), "busybox").returncode == 0
    archive.write_bytes(archive.read_bytes()[:300_000])
    assert docker_cli("rmi", "busybox").returncode == 0
    result = docker_cli("load", "-i", str(archive))
    assert result.returncode == 1
    assert result.stderr.startswith("Error response from daemon: invalid image archive")
    assert len(result.stderr.splitlines()) == 1
    assert docker_cli("images", "-aq", "--no-trunc").stdout == ""


def test_our_save_to_stdout_and_docker_load(
    daemon: Daemon, docker_cli: Docker, tmp_path: Path
) -> None:
    image_id = _image_id(docker_cli, "busybox")
    archive = tmp_path / "out.tar"
    with archive.open("wb") as out:
        saved = subprocess.run(
            [DOCKYARD, "-H", daemon.host, "save", "busybox"], stdout=out, timeout=60, check=False
        )
    assert saved.returncode == 0
    assert daemon.cli("rmi", "busybox").returncode == 0
    loaded = docker_cli("load", "-i", str(archive))
    assert loaded.stdout == "Loaded image: busybox:latest\n", loaded.stderr
    assert _image_id(docker_cli, "busybox") == image_id


def test_docker_save_to_stdout_and_our_load_from_stdin(
    daemon: Daemon, docker_cli: Docker, tmp_path: Path
) -> None:
    docker_cli("tag", "busybox", "localhost:5000/team/tool:1")
    image_id = _image_id(docker_cli, "busybox")
    archive = tmp_path / "out.tar"
    with archive.open("wb") as out:
        subprocess.run(
            [docker_cli.path, "save", "localhost:5000/team/tool:1"],
            stdout=out,
            env=docker_cli.env,
            timeout=60,
            check=True,
        )
    assert daemon.cli("rmi", "busybox", "localhost:5000/team/tool:1").returncode == 0
    with archive.open("rb") as archive_in:
        loaded = subprocess.run(
            [DOCKYARD, "-H", daemon.host, "load"],
            stdin=archive_in,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert (loaded.returncode, loaded.stdout) == (0, "Loaded image: localhost:5000/team/tool:1\n")
    assert _image_id(docker_cli, "localhost:5000/team/tool:1") == image_id


def test_our_cli_refuses_a_terminal_and_a_missing_file(daemon: Daemon, tmp_path: Path) -> None:
    missing = daemon.cli("load", "-i", str(tmp_path / "nope.tar"))
    assert missing.returncode == 1
    assert "no such file or directory" in missing.stderr
    bad_dir = daemon.cli("save", "-o", str(tmp_path / "no" / "x.tar"), "busybox")
    assert bad_dir.returncode == 1
    assert bad_dir.stderr == (  # docker 28's atomicwriter wording
        f"failed to save image: invalid output path: stat {tmp_path / 'no'}: "
        "no such file or directory\n"
    )
    assert not (tmp_path / "no").exists()
