"""Images written by another tool (skopeo) keep their ID and digest through dockyard, and
images dockyard pushes are read by skopeo: both ways against a real registry."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from dockyard.distribution.endpoints import Endpoint
from dockyard.distribution.registry import Registry as Client
from tests.conftest import Daemon
from tests.distribution.conftest import Registry
from tests.distribution.test_registry import Progress, _push

SKOPEO = shutil.which("skopeo")
pytestmark = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed (make install)")


def _skopeo(*args: str) -> str:
    assert SKOPEO is not None
    done = subprocess.run(
        [SKOPEO, "--insecure-policy", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _write_blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = _digest(data)
    (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def _foreign_layout(engine: Any, layout: Path) -> tuple[str, str]:
    """busybox as an OCI layout (tag ``1``) written the way dockyard never writes one: an
    indented config with sorted keys, a gzip layer with a name and a time in its header.
    Returns (config digest, manifest digest)."""
    image = engine.images.resolve("busybox")
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    layer_tar = engine.images.blobs.path(image.config["rootfs"]["diff_ids"][0]).read_bytes()
    packed = io.BytesIO()
    with gzip.GzipFile("layer.tar", "wb", 9, packed, mtime=1234567890) as gz:
        gz.write(layer_tar)
    config = json.dumps({**image.config, "author": "someone else"}, indent=2, sort_keys=True)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **_write_blob(layout, config.encode()),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                **_write_blob(layout, packed.getvalue()),
            }
        ],
        "annotations": {"org.example.made-by": "hand"},
    }
    manifest_bytes = json.dumps(manifest, indent=1).encode()
    entry = {
        "mediaType": manifest["mediaType"],
        **_write_blob(layout, manifest_bytes),
        "annotations": {"org.opencontainers.image.ref.name": "1"},
    }
    index = {"schemaVersion": 2, "manifests": [entry]}
    (layout / "index.json").write_text(json.dumps(index))
    return _digest(config.encode()), _digest(manifest_bytes)


def _tar_of(directory: Path) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for path in sorted(directory.rglob("*")):
            tar.add(path, str(path.relative_to(directory)), recursive=False)
    out.seek(0)
    return out


def test_a_pull_keeps_the_id_and_digest_skopeo_pushed_and_pushes_them_back(
    engine: Any, registry: Registry, tmp_path: Path
) -> None:
    config_digest, _ = _foreign_layout(engine, tmp_path / "layout")
    name = f"{registry.address}/foreign/box"
    _skopeo("copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'layout'}:1", f"docker://{name}:1")
    inspected = json.loads(_skopeo("inspect", "--tls-verify=false", f"docker://{name}:1"))
    digest = inspected["Digest"]

    pulled = Progress()
    image_id = engine.transfers.pull(f"{name}:1", pulled)
    assert image_id == config_digest
    assert f"Digest: {digest}" in pulled.statuses()
    shown = engine.images.inspect(f"{name}:1")
    assert shown["Id"] == config_digest
    assert shown["RepoDigests"] == [f"{name}@{digest}"]
    assert shown["Author"] == "someone else"

    # Pushed elsewhere, the same manifest goes: same digest, layer mounted from where it came.
    other = f"{registry.address}/mine/box"
    engine.images.tag(f"{name}:1", other, "2")
    pushed = Progress()
    engine.transfers.push(other, "2", pushed)
    assert pushed.messages[-1]["aux"]["Digest"] == digest
    assert "Mounted from foreign/box" in pushed.statuses()
    client = Client(Endpoint(f"http://{registry.address}"), ["repository:mine/box:pull"])
    assert client.get_manifest("mine/box", "2").digest == digest
    assert f"{other}@{digest}" in engine.images.inspect(other + ":2")["RepoDigests"]


def test_an_oci_layout_and_docker_archive_by_skopeo_load_with_their_id_and_manifest(
    engine: Any, tmp_path: Path
) -> None:
    config_digest, manifest_digest = _foreign_layout(engine, tmp_path / "layout")
    loaded = engine.images.load(_tar_of(tmp_path / "layout"))
    assert loaded == [config_digest]
    with tarfile.open(fileobj=engine.images.save([config_digest])) as saved:
        index = json.load(saved.extractfile("index.json"))  # type: ignore[arg-type]
    assert [m["digest"] for m in index["manifests"]] == [manifest_digest]
    engine.loop.run_until_complete(engine.images.remove(config_digest))

    archive = tmp_path / "box.tar"
    _skopeo("copy", f"oci:{tmp_path / 'layout'}:1", f"docker-archive:{archive}:foreign/box:1")
    with archive.open("rb") as f:
        assert engine.images.load(f) == ["foreign/box:1"]
    assert engine.images.inspect("foreign/box:1")["Id"] == config_digest


def test_skopeo_reads_what_dockyard_pushes_gzip_and_zstd(
    engine: Any, registry: Registry, tmp_path: Path
) -> None:
    name = f"{registry.address}/ours/box"
    engine.images.tag("busybox", name, "gz")
    gz_digest = _push(engine, f"{name}:gz").messages[-1]["aux"]["Digest"]
    raw = json.loads(_skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{name}:gz"))
    assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert raw["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert {layer["mediaType"] for layer in raw["layers"]} == {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    }
    inspected = json.loads(_skopeo("inspect", "--tls-verify=false", f"docker://{name}:gz"))
    assert inspected["Digest"] == gz_digest
    config = _skopeo("inspect", "--config", "--raw", "--tls-verify=false", f"docker://{name}:gz")
    assert _digest(config.encode()) == engine.images.inspect("busybox")["Id"]  # as it was
    _skopeo("copy", "--src-tls-verify=false", f"docker://{name}:gz", f"oci:{tmp_path / 'gz'}:gz")
    copied = json.loads(_skopeo("inspect", f"oci:{tmp_path / 'gz'}:gz"))
    assert copied["Layers"] == [layer["digest"] for layer in raw["layers"]]  # the blobs we sent

    engine.images.tag("busybox", name, "zst")
    zst = Progress()
    engine.transfers.push(name, "zst", zst, None, "zstd")
    raw = json.loads(_skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{name}:zst"))
    assert raw["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert {layer["mediaType"] for layer in raw["layers"]} == {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    }
    _skopeo("copy", "--src-tls-verify=false", f"docker://{name}:zst", f"oci:{tmp_path / 'z'}:z")
    config = json.loads(_skopeo("inspect", "--config", "--raw", f"oci:{tmp_path / 'z'}:z"))
    assert config["rootfs"] == engine.images.resolve("busybox").config["rootfs"]


def test_the_same_image_pushed_twice_anywhere_has_one_digest(
    engine: Any, registry: Registry
) -> None:
    first, second = f"{registry.address}/a/box", f"{registry.address}/b/box"
    engine.images.tag("busybox", first, None)
    engine.images.tag("busybox", second, None)
    digest = _push(engine, first).messages[-1]["aux"]["Digest"]
    # Its compressed layer forgotten, the image is compressed again: the same bytes.
    engine.images.metadata.db.execute("DELETE FROM layer_blobs")
    assert _push(engine, second).messages[-1]["aux"]["Digest"] == digest


def test_skopeo_pushed_image_pulled_and_run_by_our_cli(
    daemon: Daemon, registry: Registry, tmp_path: Path
) -> None:
    saved = tmp_path / "busybox.tar"
    assert daemon.cli("save", "-o", str(saved), "busybox").returncode == 0
    name = f"{registry.address}/skopeo/box:1"
    _skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{saved}", f"docker://{name}")
    pulled = daemon.cli("pull", name)
    assert pulled.returncode == 0, pulled.stderr
    digest = json.loads(_skopeo("inspect", "--tls-verify=false", f"docker://{name}"))["Digest"]
    listed = daemon.cli("images", "--digests", "--format", "{{.Digest}}", name.rpartition(":")[0])
    assert listed.stdout.split() == [digest]
    ran = daemon.cli("run", "--rm", name, "echo", "from skopeo")
    assert (ran.returncode, ran.stdout) == (0, "from skopeo\n")
