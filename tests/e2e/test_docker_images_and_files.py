"""The docker CLI's image commands and `docker cp` against dockyardd."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.e2e.helpers import Docker


def _image_ids(docker: Docker) -> str:
    return docker("images", "-q", "--no-trunc").stdout


def test_images_lists_busybox(docker_cli: Docker) -> None:
    table = docker_cli("images").stdout.splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert len(table) == 2 and table[1].split()[:2] == ["busybox", "latest"]
    assert re.fullmatch(r"[0-9a-f]{12}", table[1].split()[2]), table[1]
    full_id = docker_cli("image", "inspect", "-f", "{{.Id}}", "busybox").stdout.strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", full_id)
    assert docker_cli("images", "-q").stdout == full_id[7:19] + "\n"
    assert _image_ids(docker_cli) == full_id + "\n"
    assert (
        docker_cli("images", "--format", "{{.Repository}}:{{.Tag}}", "busybox").stdout
        == "busybox:latest\n"
    )


def test_import_with_changes_then_run_it(docker_cli: Docker, busybox_tar: Path) -> None:
    imported = docker_cli(
        "import",
        "--change",
        'CMD ["sh", "-c", "echo $GREETING from $(pwd)"]',
        "--change",
        "ENV GREETING=hi",
        "--change",
        "WORKDIR /tmp",
        str(busybox_tar),
        "mine:1.0",
    )
    assert imported.returncode == 0, imported.stderr
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", imported.stdout), imported.stdout
    assert "mine:1.0" in docker_cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    ran = docker_cli("run", "--rm", "mine:1.0")
    assert (ran.returncode, ran.stdout) == (0, "hi from /tmp\n")


def test_import_of_a_non_tar_fails_and_changes_nothing(docker_cli: Docker, tmp_path: Path) -> None:
    before = _image_ids(docker_cli)
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tar archive\n" * 100)
    result = docker_cli("import", str(junk), "junk:1")
    assert result.returncode == 1
    assert (
        result.stderr.startswith("Error response from daemon: ")
        and len(result.stderr.splitlines()) == 1
    )
    assert _image_ids(docker_cli) == before
    assert docker_cli("image", "inspect", "junk:1").returncode == 1


def test_tag_and_rmi(docker_cli: Docker) -> None:
    image_id = docker_cli("image", "inspect", "-f", "{{.Id}}", "busybox").stdout.strip()
    assert docker_cli("tag", "busybox", "example/app:v1").returncode == 0
    listed = docker_cli(
        "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"
    ).stdout.splitlines()
    assert sorted(listed) == [
        f"busybox:latest {image_id[7:19]}",
        f"example/app:v1 {image_id[7:19]}",
    ]
    assert docker_cli("rmi", "example/app:v1").stdout == "Untagged: example/app:v1\n"
    assert docker_cli("images", "--format", "{{.Repository}}").stdout == "busybox\n"
    unknown = docker_cli("rmi", "example/app:v1")
    assert unknown.returncode == 1 and "No such image: example/app:v1" in unknown.stderr


def test_rmi_refuses_an_image_in_use_unless_forced(docker_cli: Docker) -> None:
    docker_cli("tag", "busybox", "used:1")
    docker_cli("create", "--name", "user", "used:1", "true")
    docker_cli("rmi", "busybox")  # the other tag goes; the image stays for used:1
    refused = docker_cli("rmi", "used:1")
    assert refused.returncode == 1
    assert "conflict: unable to remove repository reference" in refused.stderr
    assert "(must force)" in refused.stderr
    assert docker_cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout == "used:1\n"
    docker_cli("rm", "user")
    removed = docker_cli("rmi", "used:1").stdout.splitlines()
    assert removed[0] == "Untagged: used:1" and removed[1].startswith("Deleted: sha256:")
    assert docker_cli("images", "-q").stdout == ""


def test_cp_both_ways(docker_cli: Docker, tmp_path: Path) -> None:
    docker_cli("run", "-d", "--name", "files", "busybox", "sleep", "300")
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    (source / "note.txt").write_text("to the container\n")
    (source / "sub" / "deep.txt").write_text("nested\n")
    assert docker_cli("cp", str(source / "note.txt"), "files:/tmp/").returncode == 0
    assert docker_cli("cp", str(source), "files:/tmp/dir").returncode == 0
    listing = docker_cli(
        "exec", "files", "sh", "-c", "cat /tmp/note.txt /tmp/dir/sub/deep.txt"
    ).stdout
    assert listing == "to the container\nnested\n"
    docker_cli("exec", "files", "sh", "-c", "mkdir /out && echo from the container > /out/back.txt")
    out = tmp_path / "out"
    out.mkdir()
    assert docker_cli("cp", "files:/out/back.txt", str(out)).returncode == 0
    assert (out / "back.txt").read_text() == "from the container\n"
    assert docker_cli("cp", "files:/out", str(out / "copy")).returncode == 0
    assert (out / "copy" / "back.txt").read_text() == "from the container\n"
    docker_cli("stop", "-t", "0", "files")
    assert docker_cli("cp", "files:/tmp/note.txt", str(out / "after-stop.txt")).returncode == 0
    assert (out / "after-stop.txt").read_text() == "to the container\n"
    missing = docker_cli("cp", "files:/no/such/file", str(out))
    assert missing.returncode == 1
    assert (
        docker_cli.expects(
            "Could not find the file /no/such/file in container files",
            v20_10="Error: No such container:path: files:/no/such/file",
        )
        in missing.stderr
    )


def test_commit_and_diff(docker_cli: Docker) -> None:
    assert (
        docker_cli(
            "run", "--name", "src", "busybox", "sh", "-c", "echo hi > /hello; rm /etc/group"
        ).returncode
        == 0
    )
    diff = docker_cli("diff", "src")
    assert diff.returncode == 0 and set(diff.stdout.splitlines()) == {
        "C /etc",
        "D /etc/group",
        "A /hello",
    }
    commit = docker_cli("commit", "-m", "snap", "-c", "ENV X=1", "src", "snap:v1")
    assert commit.returncode == 0 and commit.stdout.startswith("sha256:")
    ran = docker_cli("run", "--rm", "snap:v1", "sh", "-c", "echo $X; cat /hello")
    assert (ran.returncode, ran.stdout) == (0, "1\nhi\n")
    history = docker_cli("history", "--format", "{{.Comment}}", "snap:v1")
    assert history.stdout.splitlines()[0] == "snap"


def test_rmi_force_deletes_an_image_only_stopped_containers_use(docker_cli: Docker) -> None:
    image_id = docker_cli("image", "inspect", "-f", "{{.Id}}", "busybox").stdout.strip()
    short = image_id[7:19]
    docker_cli("run", "--name", "kept", "busybox", "sh", "-c", "echo made > /made")
    docker_cli("run", "-d", "--name", "up", "busybox", "sleep", "300")
    up = docker_cli("inspect", "-f", "{{.Id}}", "up").stdout.strip()
    running = docker_cli("rmi", "-f", image_id)
    assert running.returncode == 1
    assert running.stderr == (
        f"Error response from daemon: conflict: unable to delete {short} (cannot be forced)"
        f" - image is being used by running container {up[:12]}\n"
    )
    docker_cli("rm", "-f", "up")
    kept = docker_cli("inspect", "-f", "{{.Id}}", "kept").stdout.strip()
    stopped = docker_cli("rmi", image_id)
    assert stopped.stderr == (
        f"Error response from daemon: conflict: unable to delete {short} (must be forced)"
        f" - image is being used by stopped container {kept[:12]}\n"
    )
    forced = docker_cli("rmi", "-f", image_id)
    assert forced.stdout.splitlines()[:2] == ["Untagged: busybox:latest", f"Deleted: {image_id}"]
    assert docker_cli("images", "-aq").stdout == ""
    # The container holds its layers: it still starts, diffs, commits and goes.
    assert docker_cli("ps", "-a", "--format", "{{.Image}}").stdout == f"{short}\n"
    assert docker_cli("start", "-a", "kept").returncode == 0
    assert docker_cli("diff", "kept").stdout == "A /made\n"
    assert docker_cli("commit", "kept", "saved:1").returncode == 0
    ran = docker_cli("run", "--rm", "saved:1", "cat", "/made")
    assert (ran.returncode, ran.stdout) == (0, "made\n")
    assert docker_cli("rm", "kept").returncode == 0
    assert docker_cli("rmi", "saved:1").returncode == 0
    data_root = Path(docker_cli("info", "-f", "{{.DockerRootDir}}").stdout.strip())
    assert list((data_root / "layers").iterdir()) == []  # nothing held any more: all gone


def test_events_filter_an_image_by_its_name_without_tag(docker_cli: Docker) -> None:
    since = time.time()
    docker_cli("tag", "busybox", "other:1")
    docker_cli("rmi", "other:1")
    until = time.time() + 1

    def actions(*filters: str) -> list[str]:
        window = ("--since", f"{since:.3f}", "--until", f"{until:.3f}")
        result = docker_cli("events", *window, *filters, "--format", "{{.Action}}")
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert actions("--filter", "image=other") == ["tag"]
    assert actions("--filter", "image=other:1") == ["tag"]
    # moby names the image by its ID in an untag event
    image_id = docker_cli("image", "inspect", "-f", "{{.Id}}", "busybox").stdout.strip()
    assert actions("--filter", f"image={image_id}") == ["tag", "untag"]
    assert actions("--filter", "image=busybox") == []
