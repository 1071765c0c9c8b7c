"""Images under builds and at scale: `rmi` refuses an image a running build stands on,
an image of a thousand steps is removed (rmi and prune), and builds that upload their
context keep no digests of it."""

from __future__ import annotations

import asyncio
import gc
import io
import tarfile
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from dockyard.build.builder import BuildRequest
from dockyard.errors import Conflict

STEPS = 1000
FILES = 1500  # in each uploaded context


def build_in(engine: Any, context: Path, on_output: Any = None) -> str:
    def emit(message: dict[str, Any]) -> None:
        if on_output is not None and "stream" in message:
            on_output(message["stream"])

    # In a worker thread, as the daemon runs builds: a RUN step's network is made on the loop.
    build = asyncio.to_thread(engine.builds.build, BuildRequest(), emit, directory=context)
    return engine.loop.run_until_complete(build)  # type: ignore[no-any-return]


def on_loop(engine: Any, work: Any) -> Any:
    """``work`` awaited on the engine's loop, from the build's worker thread (as the API would)."""
    return asyncio.run_coroutine_threadsafe(work, engine.loop).result()


def context_with(tmp_path: Path, dockerfile: str) -> Path:
    (tmp_path / "Dockerfile").write_text(dockerfile)
    return tmp_path


# ---------------------------------------------------------------------- rmi during a build
def test_rmi_of_the_base_image_during_a_build_is_refused(engine: Any, tmp_path: Path) -> None:
    busybox = engine.images.resolve("busybox").id
    attempts: list[Any] = []

    def remove_while_running(text: str) -> None:
        if "ready" in text and not attempts:
            for name in ("busybox", busybox):
                try:
                    attempts.append(on_loop(engine, engine.images.remove(name)))
                except Conflict as e:
                    attempts.append(e.message)

    context = context_with(tmp_path, "FROM busybox\nRUN echo ready\nRUN echo built > /built\n")
    image = build_in(engine, context, remove_while_running)
    short = busybox.removeprefix("sha256:")[:12]
    assert attempts == [
        f'conflict: unable to remove repository reference "busybox" (must force) - '
        f"a running build is using its referenced image {short}",
        f"conflict: unable to delete {short} (cannot be forced) - "
        "image is being used by a running build",
    ]
    assert engine.images.resolve("busybox").id == busybox
    assert (engine.images.resolve(image).lowerdirs[0] / "built").read_text() == "built\n"


def test_rmi_force_during_a_build_untags_and_the_build_goes_on(engine: Any, tmp_path: Path) -> None:
    """As with a running container: the tag goes, the image stays while it is used."""
    busybox = engine.images.resolve("busybox").id
    removed: list[Any] = []

    def remove_while_running(text: str) -> None:
        if "ready" in text and not removed:
            removed.append(on_loop(engine, engine.images.remove("busybox", force=True)))

    context = context_with(tmp_path, "FROM busybox\nRUN echo ready\nRUN echo built > /built\n")
    image = build_in(engine, context, remove_while_running)
    assert removed == [[{"Untagged": "busybox:latest"}]]
    assert engine.images.resolve(image).parent != ""
    assert engine.images.inspect(busybox)["RepoTags"] == []
    assert engine.builds.uses(busybox) is False  # the build's hold ended with it


# ---------------------------------------------------------------------- a thousand steps
def chain_of(engine: Any, steps: int) -> str:
    """An image with ``steps`` ancestors, each a build step of its parent (no new layer)."""
    base = engine.images.resolve("busybox")
    layers = [engine.layers.get(chain) for chain in base.chain]
    image_id = base.id
    for step in range(steps):
        config = {**base.config, "config": {"Labels": {"step": str(step)}}}
        image_id = engine.images.create_image(config, layers, parent=image_id)
    return image_id  # type: ignore[no-any-return]


@pytest.mark.timeout(300)
def test_an_image_of_a_thousand_steps_is_removed(engine: Any) -> None:
    top = chain_of(engine, STEPS)
    engine.images.tag(top, "tall", "latest")
    deleted = [
        r for r in engine.loop.run_until_complete(engine.images.remove("tall")) if "Deleted" in r
    ]
    assert len(deleted) == STEPS
    assert [i["RepoTags"] for i in engine.images.list(all=True)] == [["busybox:latest"]]


@pytest.mark.timeout(300)
def test_an_untagged_image_of_a_thousand_steps_is_pruned(engine: Any) -> None:
    chain_of(engine, STEPS)
    report = engine.loop.run_until_complete(engine.images.prune())
    assert len([r for r in report["ImagesDeleted"] if "Deleted" in r]) == STEPS
    assert len(engine.images.list(all=True)) == 1


# ---------------------------------------------------------------------- memory
def context_tar(files: int, salt: str) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        dockerfile = b"FROM busybox\n"  # the context is read (and hashed) all the same
        for name, data in [("Dockerfile", dockerfile)] + [
            (f"d{i % 20}/f{i}", f"{salt}{i}".encode()) for i in range(files)
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out.seek(0)
    return out


def test_builds_that_upload_their_context_keep_nothing_of_it(engine: Any) -> None:
    """Each upload is new files: the digests of one build are of no use to the next."""

    def build_once(salt: str) -> None:
        engine.builds.build(BuildRequest(), lambda m: None, tar=context_tar(FILES, salt))

    build_once("warm")
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for salt in ("a", "b"):
            build_once(salt)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # A digest remembered per file takes ~340 bytes: kept, two builds would grow by ~1 MB.
    assert grown < 250_000, f"two builds of {FILES} files kept {grown} bytes"
    assert engine.builds.remembered_digests() == 0


def test_a_directory_context_keeps_only_its_last_builds_digests(
    engine: Any, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY . /ctx\n")
    for round_ in range(3):
        for i in range(50):
            path = tmp_path / f"f{i}"
            path.unlink(missing_ok=True)  # a new inode: the old digest is of no use
            path.write_text(f"{round_}-{i}")
        build_in(engine, tmp_path)
    assert engine.builds.remembered_digests() == 51  # the files and the Dockerfile, once
