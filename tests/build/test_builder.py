"""Builds through the engine in-process: real overlay mounts, real RUN containers."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import stat
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest

from dockyard.build.builder import BuildRequest, StepFailed
from dockyard.config import Paths
from dockyard.engine.builds import BuildService
from dockyard.errors import InvalidArgument, NotFound


class Builder:
    """One engine's BuildService with a context directory to write into."""

    def __init__(self, engine: Any, context: Path) -> None:
        self.engine = engine
        self.service = BuildService(
            engine.paths, engine.metadata, engine.images, engine.layers, engine.networks
        )
        self.context = context
        self.messages: list[dict[str, Any]] = []

    def write(self, name: str, text: str) -> Path:
        path = self.context / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def build(self, dockerfile: str | None = None, **options: Any) -> str:
        if dockerfile is not None:
            self.write("Dockerfile", dockerfile)
        self.messages = []
        request = BuildRequest(**options)
        return self.service.build(request, self.messages.append, directory=self.context)

    @property
    def output(self) -> str:
        return "".join(m.get("stream", "") for m in self.messages)

    def file(self, image: str, path: str) -> str:
        """A file of the image, read from the topmost layer that has it."""
        return self.layer_path(image, path).read_text()

    def layer_path(self, image: str, path: str) -> Path:
        for layer in self.engine.images.resolve(image).lowerdirs:
            if (layer / path.lstrip("/")).exists():
                return layer / path.lstrip("/")
        raise FileNotFoundError(path)

    def store(self) -> tuple[list[str], list[list[str]], int, list[str]]:
        """What a failed build must not change: images, tags, cache entries, leftovers."""
        images = self.engine.images.list(all=True)
        cache = self.engine.metadata.query("SELECT COUNT(*) AS n FROM build_cache")[0]["n"]
        leftovers = sorted(p.name for p in self.engine.paths.tmp.iterdir())
        return (
            sorted(i["Id"] for i in images),
            sorted(i["RepoTags"] for i in images),
            cache,
            leftovers,
        )


@pytest.fixture
def builder(engine: Any, roots: Any) -> Builder:
    context = roots.base / "context"
    context.mkdir()
    return Builder(engine, context)


def hits(output: str) -> int:
    return output.count(" ---> Using cache")


def test_build_sets_config_history_and_files(builder: Builder) -> None:
    builder.write("app/main.sh", "echo main\n")
    image = builder.build(
        "FROM busybox\n"
        "ENV GREETING=hello TARGET=world\n"
        "WORKDIR /srv\n"
        "COPY app/ ./app/\n"
        'RUN echo "$GREETING $TARGET" > greeting.txt\n'
        "EXPOSE 8080/tcp\n"
        'CMD ["sh", "app/main.sh"]\n',
        tags=["demo:1"],
    )
    inspect = builder.engine.images.inspect("demo:1")
    assert inspect["Id"] == image
    config = inspect["Config"]
    assert config["Env"][-2:] == ["GREETING=hello", "TARGET=world"]
    assert config["WorkingDir"] == "/srv"
    assert config["ExposedPorts"] == {"8080/tcp": {}}
    assert config["Cmd"] == ["sh", "app/main.sh"]
    assert builder.file(image, "/srv/greeting.txt") == "hello world\n"
    assert builder.file(image, "/srv/app/main.sh") == "echo main\n"
    created = [h["CreatedBy"] for h in builder.engine.images.history("demo:1")[:6]]
    assert created == [
        '/bin/sh -c #(nop)  CMD ["sh" "app/main.sh"]',
        "/bin/sh -c #(nop)  EXPOSE 8080/tcp",
        '/bin/sh -c echo "$GREETING $TARGET" > greeting.txt',
        created[3],
        "/bin/sh -c #(nop)  WORKDIR /srv",
        "/bin/sh -c #(nop)  ENV GREETING=hello TARGET=world",
    ]
    assert created[3].startswith("/bin/sh -c #(nop) COPY dir:")
    assert created[3].endswith(" in /srv/app/ ")
    assert "Successfully built " + image[7:19] in builder.output
    assert builder.output.endswith("Successfully tagged demo:1\n")
    assert builder.messages[-3] == {"aux": {"ID": image}}


def test_from_scratch(builder: Builder) -> None:
    builder.write("hello", "hi")
    image = builder.build('FROM scratch\nCOPY hello /hello\nCMD ["/hello"]\n')
    assert builder.file(image, "/hello") == "hi"
    assert len(builder.engine.images.inspect(image)["RootFS"]["Layers"]) == 1
    with pytest.raises(StepFailed, match="returned a non-zero code: 127"):
        builder.build("FROM scratch\nRUN true\n")
    with pytest.raises(InvalidArgument, match="No image was generated"):
        builder.build("FROM scratch\n")


def test_unchanged_rebuild_is_all_cache(builder: Builder) -> None:
    dockerfile = "FROM busybox\nCOPY a.txt /a\nRUN cat /a\nENV X=1\n"
    builder.write("a.txt", "a\n")
    first = builder.build(dockerfile)
    second = builder.build(dockerfile)
    assert first == second
    assert hits(builder.output) == 3
    assert "Running in" not in builder.output


def test_a_file_copied_late_reruns_only_from_its_copy(builder: Builder) -> None:
    dockerfile = (
        "FROM busybox\nCOPY big.txt /big\nRUN wc -c /big\nCOPY small.txt /small\n"
        "RUN cat /small\nCMD cat /small\n"
    )
    builder.write("big.txt", "b" * 10000)
    builder.write("small.txt", "one\n")
    builder.build(dockerfile)
    builder.write("small.txt", "two\n")
    image = builder.build(dockerfile, explain=True)
    out = builder.output
    assert hits(out) == 2  # the first COPY and RUN
    assert "Cache miss: file small.txt changed" in out
    assert "two\n" in out
    assert builder.file(image, "/small") == "two\n"


def test_mtime_alone_does_not_miss(builder: Builder) -> None:
    dockerfile = "FROM busybox\nCOPY a.txt /a\n"
    path = builder.write("a.txt", "same\n")
    builder.build(dockerfile)
    path.write_text("same\n")  # new mtime, same content
    builder.build(dockerfile)
    assert hits(builder.output) == 1


def test_explain_names_the_build_arg_and_the_instruction(builder: Builder) -> None:
    builder.build("FROM busybox\nARG V=1\nRUN echo $V\n", build_args={"V": "1"})
    builder.build("FROM busybox\nARG V=1\nRUN echo $V\n", build_args={"V": "2"}, explain=True)
    assert "Cache miss: build arg V changed: '1' -> '2'" in builder.output
    builder.build("FROM busybox\nARG V=1\nRUN echo $V!\n", build_args={"V": "2"}, explain=True)
    assert "Cache miss: instruction changed: was '|1 V=2 /bin/sh -c echo $V'" in builder.output


def test_no_cache_runs_everything(builder: Builder) -> None:
    dockerfile = "FROM busybox\nRUN echo once\nENV A=1\n"
    builder.build(dockerfile)
    builder.build(dockerfile, no_cache=True, explain=True)
    assert hits(builder.output) == 0
    assert builder.output.count("Cache miss: the cache is off (--no-cache)") == 2


def test_deletions_become_whiteouts(builder: Builder) -> None:
    image = builder.build(
        "FROM busybox\nRUN rm /bin/vi && mkdir /d && touch /d/f\nRUN test ! -e /bin/vi\n"
    )
    assert "returned a non-zero code" not in builder.output
    run_layer = builder.engine.images.inspect(image)["RootFS"]["Layers"][1]
    with builder.engine.images.blobs.open(run_layer) as f, tarfile.open(fileobj=f) as tar:
        members = {member.name: member for member in tar}
    # In the layer tar, OCI's whiteout: an empty file .wh.vi beside where vi was.
    assert {"bin/.wh.vi", "d", "d/f"} <= members.keys() and "bin/vi" not in members
    assert members["bin/.wh.vi"].isreg() and members["bin/.wh.vi"].size == 0
    # Unpacked for overlayfs, overlay's: a 0/0 character device in vi's place.
    vi = os.lstat(builder.layer_path(image, "/bin/vi"))
    assert stat.S_ISCHR(vi.st_mode) and vi.st_rdev == 0


def test_dockerignore_keeps_files_out_of_the_image(builder: Builder) -> None:
    builder.write(".dockerignore", "*.secret\n!keep.secret\n")
    builder.write("app.secret", "hidden")
    builder.write("keep.secret", "shown")
    builder.write("main.txt", "main")
    builder.build("FROM busybox\nCOPY . /ctx/\nRUN ls /ctx\n")
    listing = builder.output.split("Running in", 1)[1]
    assert "main.txt" in listing and "keep.secret" in listing
    assert "app.secret" not in listing


def test_multi_stage_builds_only_what_the_target_needs(builder: Builder) -> None:
    image = builder.build(
        "FROM busybox AS build\nRUN echo compiled > /out.bin\n"
        "FROM busybox AS unused\nRUN echo SHOULD-NOT-RUN\n"
        "FROM busybox\nCOPY --from=build /out.bin /app/out.bin\n"
        "COPY --from=busybox /bin/busybox /copied-busybox\n"
    )
    assert "SHOULD-NOT-RUN" not in builder.output
    assert "Step 1/5 : FROM busybox AS build" in builder.output
    assert builder.file(image, "/app/out.bin") == "compiled\n"
    layers = builder.engine.images.resolve(image).lowerdirs
    assert any((layer / "copied-busybox").exists() for layer in layers)


def test_target_stage(builder: Builder) -> None:
    image = builder.build(
        "FROM busybox AS one\nRUN echo 1 > /n\nFROM one AS two\nRUN echo 2 > /n\n", target="one"
    )
    assert builder.file(image, "/n") == "1\n"


def test_heredocs(builder: Builder) -> None:
    image = builder.build(
        "FROM busybox\nARG WHO=you\n"
        "RUN <<EOF\necho first > /first\necho second >> /first\nEOF\n"
        "COPY <<EOF /hello.txt\nhello $WHO\nEOF\n"
        "RUN <<EOF\n#!/bin/sh\necho script > /script-ran\nEOF\n"
    )
    assert builder.file(image, "/first") == "first\nsecond\n"
    assert builder.file(image, "/hello.txt") == "hello you\n"
    assert builder.file(image, "/script-ran") == "script\n"


def test_onbuild_triggers_run_in_the_child(builder: Builder) -> None:
    builder.build("FROM busybox\nONBUILD RUN echo triggered > /trigger\n", tags=["parent:1"])
    child = builder.build("FROM parent:1\n")
    assert "# Executing 1 build trigger" in builder.output
    assert builder.file(child, "/trigger") == "triggered\n"
    assert builder.engine.images.inspect(child)["Config"]["OnBuild"] is None


def test_run_as_user_with_build_args_in_its_environment(builder: Builder) -> None:
    builder.build(
        "FROM busybox\nARG TOKEN\nUSER nobody\nRUN echo $(id -u) $TOKEN\n",
        build_args={"TOKEN": "abc"},
    )
    assert "65534 abc\n" in builder.output


def test_labels_and_quiet(builder: Builder) -> None:
    image = builder.build("FROM busybox\n", labels={"team": "$dollar"}, quiet=True)
    assert builder.engine.images.inspect(image)["Config"]["Labels"] == {"team": "$dollar"}
    assert [m for m in builder.messages if "stream" in m] == [{"stream": image + "\n"}]


def test_add_unpacks_a_tar_and_fetches_a_url(builder: Builder) -> None:
    with tarfile.open(builder.context / "files.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("packed/x.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"inside"))
    digest = "sha256:" + hashlib.sha256(b"from the web\n").hexdigest()
    with serve_files({"/data.txt": b"from the web\n"}) as url:
        image = builder.build(
            "FROM busybox\nADD files.tar.gz /opt/\nADD --unpack=false files.tar.gz /kept/\n"
            f"ADD --checksum={digest} {url}/data.txt /web/\n"
        )
        with pytest.raises(InvalidArgument, match=f"digest mismatch sha256:{'0' * 64}"):
            builder.build(f"FROM busybox\nADD --checksum=sha256:{'0' * 64} {url}/data.txt /\n")
    assert builder.file(image, "/opt/packed/x.txt") == "inside"
    kept = builder.layer_path(image, "/kept/files.tar.gz").read_bytes()
    assert kept == (builder.context / "files.tar.gz").read_bytes()
    assert builder.file(image, "/web/data.txt") == "from the web\n"


def test_cache_survives_a_restart(builder: Builder, roots: Any) -> None:
    from dockyard.engine.engine import Engine

    dockerfile = "FROM busybox\nRUN echo once\nCOPY . /ctx\n"
    first = builder.build(dockerfile)
    again = Engine(Paths(roots.data_root, roots.exec_root))
    try:
        restarted = Builder(again, builder.context)
        assert restarted.build(dockerfile) == first
        assert hits(restarted.output) == 2
    finally:
        again.close()


def test_builder_prune_forgets_the_cache_and_keeps_tagged_images(builder: Builder) -> None:
    kept = builder.build("FROM busybox\nENV KEPT=1\n", tags=["kept:1"])
    dockerfile = "FROM busybox\nRUN echo data > /d\nENV A=1\n"
    cached_only = builder.build(dockerfile)
    report = builder.service.prune()
    assert len(report["CachesDeleted"]) == 3
    assert report["SpaceReclaimed"] > 0
    assert builder.engine.images.inspect("kept:1")["Id"] == kept
    with pytest.raises(NotFound):
        builder.engine.images.inspect(cached_only)
    builder.build(dockerfile)
    assert hits(builder.output) == 0


def test_disk_usage_lists_cache_entries(builder: Builder) -> None:
    builder.build("FROM busybox\nRUN echo data > /d\n")
    [entry] = builder.service.disk_usage()
    assert entry["Description"] == "/bin/sh -c echo data > /d"
    assert entry["Size"] > 0 and entry["Type"] == "regular"


# -- bad input: an error that names the problem, and the store unchanged ----------


def test_failing_run_stops_tags_nothing_and_leaves_no_image(builder: Builder) -> None:
    before = builder.store()
    with pytest.raises(StepFailed) as caught:
        builder.build("FROM busybox\nRUN echo before; exit 3\nRUN echo never\n", tags=["no:1"])
    assert caught.value.exit_code == 3
    assert caught.value.message == (
        "The command '/bin/sh -c echo before; exit 3' returned a non-zero code: 3"
    )
    assert "Step 2/3 : RUN echo before; exit 3" in builder.output
    assert "never" not in builder.output
    assert builder.store() == before


@pytest.mark.parametrize(
    ("dockerfile", "error", "message"),
    [
        ("FROM busybox\nFOO bar\n", InvalidArgument, "on line 2: unknown instruction: FOO"),
        (
            "FROM busybox\nCOPY missing.txt /\n",
            InvalidArgument,
            "stat missing.txt: file does not exist",
        ),
        (
            "FROM busybox\nCOPY ../outside /\n",
            InvalidArgument,
            "forbidden path outside the build context",
        ),
        ("FROM busybox\nCOPY escape /x\n", InvalidArgument, "file not found in build context"),
        ("FROM nosuchimage:1\n", NotFound, "No such image: nosuchimage:1"),
        ("FROM busybox\nCOPY a b c\n", InvalidArgument, "must be a directory and end with a /"),
        (
            "FROM busybox\nADD http://127.0.0.1:{port}/x /x\n",
            InvalidArgument,
            "failed to fetch http://127.0.0.1",
        ),
    ],
)
def test_bad_input(builder: Builder, dockerfile: str, error: type, message: str) -> None:
    (builder.context / "escape").symlink_to("/etc/hostname")
    builder.write("a", "a")
    builder.write("b", "b")
    before = builder.store()
    with pytest.raises(error) as caught:
        builder.build(dockerfile.replace("{port}", str(closed_port())), tags=["bad:1"])
    assert message in caught.value.message
    assert builder.store() == before


def test_undeclared_build_arg_is_a_warning(builder: Builder) -> None:
    builder.build("FROM busybox\nARG USED\n", build_args={"USED": "1", "EXTRA": "2"})
    assert "[Warning] One or more build-args [EXTRA] were not consumed\n" in builder.output


def test_malformed_context_tar(builder: Builder) -> None:
    before = builder.store()
    good = io.BytesIO()
    with tarfile.open(fileobj=good, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = 2000
        tar.addfile(info, io.BytesIO(b"#" * 2000))
    truncated = io.BytesIO(good.getvalue()[:1200])
    with pytest.raises(InvalidArgument, match="failed to read the build context: invalid tar"):
        builder.service.build(BuildRequest(), builder.messages.append, tar=truncated)
    assert builder.store() == before


def test_a_tar_context(builder: Builder) -> None:
    body = io.BytesIO()
    with tarfile.open(fileobj=body, mode="w") as tar:
        for name, data in (("build/Dockerfile", b"FROM busybox\nCOPY f /f\n"), ("f", b"tar!")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    body.seek(0)
    request = BuildRequest(dockerfile_name="build/Dockerfile")
    image = builder.service.build(request, builder.messages.append, tar=body)
    assert builder.file(image, "/f") == "tar!"


# -- helpers ----------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Files(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: Any) -> None:
        pass


class serve_files:  # noqa: N801 - used as a context manager
    """A loopback HTTP server for ADD <url>."""

    def __init__(self, files: dict[str, bytes]) -> None:
        handler = type("Handler", (_Files,), {"files": files})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
