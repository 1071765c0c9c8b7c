"""RUN --mount through the engine in-process: real overlays, real RUN containers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dockyard.errors import InvalidArgument
from tests.build.test_builder import Builder, hits


@pytest.fixture
def builder(engine: Any, roots: Any) -> Builder:
    context = roots.base / "context"
    context.mkdir()
    return Builder(engine, context)


def layer_files(builder: Builder, image: str) -> list[str]:
    """The files the image's top layer holds (directories a step only passed through, and
    the /etc files every RUN container gets, left out)."""
    top = builder.engine.images.resolve(image).lowerdirs[0]
    found = (p for p in top.rglob("*") if not p.is_dir() and p.parent.name != "etc")
    return sorted(str(p.relative_to(top)) for p in found)


CACHE_FILL = (
    "FROM busybox\n"
    "ARG RUN=1\n"
    "RUN --mount=type=cache,target=/var/cache/pkgs "
    "if [ -f /var/cache/pkgs/pkg ]; then echo cache-hit; "
    "else echo cache-miss; echo payload > /var/cache/pkgs/pkg; fi; "
    "cp /var/cache/pkgs/pkg /installed\n"
)


def test_a_cache_mount_outlives_the_build_and_stays_out_of_the_image(builder: Builder) -> None:
    first = builder.build(CACHE_FILL, build_args={"RUN": "1"})
    assert "cache-miss" in builder.output
    assert builder.file(first, "/installed") == "payload\n"
    assert layer_files(builder, first) == ["installed"]  # no cache content
    top = builder.engine.images.resolve(first).lowerdirs[0]
    assert not (top / "var/cache").exists()  # nor the mount point
    builder.build(CACHE_FILL, build_args={"RUN": "2"})  # a new key: the step runs again
    assert "cache-hit" in builder.output
    builder.build(CACHE_FILL, build_args={"RUN": "2"})
    assert hits(builder.output) == 2
    report = builder.service.prune()
    assert report["SpaceReclaimed"] > 0
    builder.build(CACHE_FILL, build_args={"RUN": "3"})
    assert "cache-miss" in builder.output


def test_cache_mount_ids_sharing_and_ownership(builder: Builder) -> None:
    image = builder.build(
        "FROM busybox\n"
        "RUN --mount=type=cache,id=shared,target=/a,uid=1000,gid=100,mode=0750 "
        "echo one > /a/f && stat -c '%u:%g:%a' /a > /owner\n"
        "RUN --mount=type=cache,id=shared,target=/b,uid=1000,gid=100,mode=0750,sharing=locked "
        "cat /b/f > /seen\n"
        "RUN --mount=type=cache,id=shared,target=/c,sharing=private,source=sub "
        "touch /c/x && ls /c > /private\n"
    )
    assert builder.file(image, "/owner") == "1000:100:750\n"
    assert builder.file(image, "/seen") == "one\n"
    assert builder.file(image, "/private") == "x\n"


def test_a_cache_mount_seeded_from_a_stage(builder: Builder) -> None:
    image = builder.build(
        "FROM busybox AS seed\n"
        "RUN mkdir -p /seed && echo seeded > /seed/index\n"
        "FROM busybox\n"
        "RUN --mount=type=cache,target=/c,from=seed,source=/seed cat /c/index > /got\n"
    )
    assert builder.file(image, "/got") == "seeded\n"


def test_the_mount_spec_is_part_of_the_key(builder: Builder) -> None:
    builder.build("FROM busybox\nRUN --mount=type=cache,target=/c echo ran\n")
    builder.build("FROM busybox\nRUN --mount=type=cache,target=/c echo ran\n")
    assert hits(builder.output) == 1
    builder.build("FROM busybox\nRUN --mount=type=cache,target=/d echo ran\n")
    assert hits(builder.output) == 0


def test_bind_mounts_from_the_context_and_a_stage(builder: Builder) -> None:
    builder.write("src/app.txt", "v1\n")
    builder.write("src/skip.log", "ignored\n")
    builder.write(".dockerignore", "src/*.log\n")
    dockerfile = (
        "FROM busybox AS tools\n"
        "RUN mkdir /tools && echo tool > /tools/t\n"
        "FROM busybox\n"
        "RUN --mount=source=src,target=/mnt/src --mount=from=tools,source=/tools,target=/t "
        "cat /mnt/src/app.txt /t/t > /out && ls /mnt/src > /listing && "
        "(touch /mnt/src/new 2>/dev/null && echo writable || echo read-only) > /ro\n"
        "RUN --mount=target=/w,rw echo scratch > /w/src/app.txt && cat /w/src/app.txt > /rw\n"
    )
    image = builder.build(dockerfile)
    assert builder.file(image, "/out") == "v1\ntool\n"
    assert builder.file(image, "/listing") == "app.txt\n"
    assert builder.file(image, "/ro") == "read-only\n"
    assert builder.file(image, "/rw") == "scratch\n"
    assert (builder.context / "src/app.txt").read_text() == "v1\n"  # rw writes are discarded
    top = builder.engine.images.resolve(builder.engine.images.resolve(image).parent).lowerdirs[0]
    assert not (top / "mnt").exists() and not (top / "t").exists()  # mount points removed
    builder.build(dockerfile)
    assert hits(builder.output) == 3
    builder.write("src/app.txt", "v2\n")  # the bound files are part of the key
    builder.build(dockerfile, explain=True)
    assert hits(builder.output) == 1
    assert "file src/app.txt changed" in builder.output


def test_tmpfs_mount(builder: Builder) -> None:
    image = builder.build(
        "FROM busybox\n"
        "RUN --mount=type=tmpfs,target=/scratch,size=1m "
        "echo x > /scratch/x && df -k /scratch | tail -1 | awk '{print $2}' > /size\n"
    )
    assert builder.file(image, "/size") == "1024\n"
    assert layer_files(builder, image) == ["size"]


def test_secrets_are_mounted_and_kept_out_of_the_image(builder: Builder) -> None:
    dockerfile = (
        "FROM busybox\n"
        "RUN --mount=type=secret,id=token --mount=type=secret,id=api,env=API_KEY "
        "--mount=type=secret,id=token,target=/etc/tok,uid=1000,mode=0440 "
        'cat /run/secrets/token > /seen && echo "$API_KEY" >> /seen && '
        "stat -c '%u %a' /etc/tok >> /seen\n"
    )
    secrets = {"token": b"s3cr3t-token", "api": b"s3cr3t-api"}
    image = builder.build(dockerfile, secrets=secrets)
    assert builder.file(image, "/seen") == "s3cr3t-token" + "s3cr3t-api\n1000 440\n"
    assert layer_files(builder, image) == ["seen"]
    config = builder.engine.images.inspect(image)
    history = builder.engine.images.history(image)
    records = builder.engine.metadata.query("SELECT inputs FROM build_cache")
    for text in (str(config), str(history), str(records), builder.output):
        assert "s3cr3t" not in text
    builder.build(dockerfile, secrets={"token": b"other", "api": b"other"})
    assert hits(builder.output) == 1  # values are not part of the key


def test_a_missing_secret(builder: Builder) -> None:
    image = builder.build(
        "FROM busybox\nRUN --mount=type=secret,id=absent ls /run/secrets > /l 2>&1 || true\n"
    )
    assert "No such file" in builder.file(image, "/l")
    with pytest.raises(InvalidArgument, match="secret absent: not found"):
        builder.build("FROM busybox\nRUN --mount=type=secret,id=absent,required true\n")


def test_ssh_mount_forwards_the_agent_socket(builder: Builder, roots: Any) -> None:
    import socket

    path = Path(roots.base) / "agent.sock"
    with socket.socket(socket.AF_UNIX) as agent:
        agent.bind(str(path))
        agent.listen()
        image = builder.build(
            "FROM busybox\nRUN --mount=type=ssh test -S $SSH_AUTH_SOCK && echo $SSH_AUTH_SOCK > /s\n",
            ssh={"default": str(path)},
        )
    assert builder.file(image, "/s") == "/run/buildkit/ssh_agent.0\n"
    with pytest.raises(InvalidArgument, match='no SSH key "default" forwarded from the client'):
        builder.build("FROM busybox\nRUN --mount=type=ssh,required=true true\n")


def filesystem_of(path: Path) -> str:
    """The type of the filesystem ``path`` is on, from the mount table."""
    best, kind = "", ""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, target, fstype, *_ = line.split()
        if (str(path) + "/").startswith(target.rstrip("/") + "/") and len(target) > len(best):
            best, kind = target, fstype
    return kind


def test_a_secret_in_the_environment_never_reaches_a_disk(
    builder: Builder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dockyard.engine import builds

    seen: list[tuple[str, str]] = []

    def run_step(spawn: Any, bundle: Path, cid: str, output: Any, plug: Any) -> int:
        seen.append(((bundle / "config.json").read_text(), filesystem_of(bundle)))
        return 0

    monkeypatch.setattr(builds, "run_build_step", run_step)
    builder.build(
        "FROM busybox\nRUN --mount=type=secret,id=api,env=API_KEY true\nRUN echo plain\n",
        secrets={"api": b"s3cr3t"},
    )
    (secret_spec, secret_fs), (plain_spec, plain_fs) = seen
    assert "API_KEY=s3cr3t" in secret_spec and secret_fs == "tmpfs"
    assert "s3cr3t" not in plain_spec and plain_fs != "tmpfs"
