"""docker save / docker load in the engine: docker-archive and OCI-layout archives."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from typing import Any

import pytest

from dockyard.errors import InvalidArgument, NotFound


def _save(engine: Any, *names: str) -> bytes:
    with engine.images.save(list(names)) as f:
        data: bytes = f.read()
    return data


def _members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def _tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _state(engine: Any) -> list[tuple[str, list[str]]]:
    return [(i["Id"], i["RepoTags"]) for i in engine.images.list(all=True)]


def test_saved_archive_has_docker_and_oci_indexes(engine: Any) -> None:
    image = engine.images.inspect("busybox")
    files = _members(_save(engine, "busybox"))
    manifest = json.loads(files["manifest.json"])
    assert manifest == [
        {
            "Config": "blobs/sha256/" + image["Id"][7:],
            "RepoTags": ["busybox:latest"],
            "Layers": ["blobs/sha256/" + d[7:] for d in image["RootFS"]["Layers"]],
        }
    ]
    assert hashlib.sha256(files[manifest[0]["Config"]]).hexdigest() == image["Id"][7:]
    index = json.loads(files["index.json"])
    annotations = index["manifests"][0]["annotations"]
    assert annotations["io.containerd.image.name"] == "docker.io/library/busybox:latest"
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    assert list(json.loads(files["repositories"])) == ["busybox"]


def test_round_trip_keeps_the_image_id_and_tags(engine: Any) -> None:
    engine.images.tag("busybox", "mine", "2")
    before = _state(engine)
    archive = _save(engine, "busybox", "mine:2")
    engine.loop.run_until_complete(engine.images.remove("busybox"))
    engine.loop.run_until_complete(engine.images.remove("mine:2"))
    with pytest.raises(NotFound):
        engine.images.inspect("busybox")
    loaded = engine.images.load(io.BytesIO(archive))
    assert loaded == ["busybox:latest", "mine:2"]
    assert _state(engine) == before


def test_saving_by_id_loads_untagged(engine: Any) -> None:
    image_id = engine.images.inspect("busybox")["Id"]
    archive = _save(engine, image_id[7:19])
    engine.loop.run_until_complete(engine.images.remove("busybox"))
    assert engine.images.load(io.BytesIO(archive)) == [image_id]
    assert _state(engine) == [(image_id, [])]


def test_saving_a_missing_image_fails(engine: Any) -> None:
    with pytest.raises(NotFound, match="No such image: nothere:latest"):
        engine.images.save(["busybox", "nothere"])


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],
        lambda data: b"not a tar at all" * 64,
        lambda data: _tar({"hello.txt": b"hi"}),
    ],
    ids=["truncated", "garbage", "no-manifest"],
)
def test_a_damaged_archive_changes_nothing(engine: Any, damage: Any) -> None:
    archive = _save(engine, "busybox")
    engine.loop.run_until_complete(engine.images.remove("busybox"))
    before = _state(engine)
    blobs = sorted(p.name for p in engine.images.blobs.dir.iterdir())
    with pytest.raises(InvalidArgument, match="invalid image archive"):
        engine.images.load(io.BytesIO(damage(archive)))
    assert _state(engine) == before
    assert sorted(p.name for p in engine.images.blobs.dir.iterdir()) == blobs
    assert not list(engine.images.layers.dir.iterdir())


def test_a_blob_that_does_not_match_its_name_is_refused(engine: Any) -> None:
    files = _members(_save(engine, "busybox"))
    layer = json.loads(files["manifest.json"])[0]["Layers"][0]
    files[layer] = b"X" + files[layer][1:]
    engine.loop.run_until_complete(engine.images.remove("busybox"))
    with pytest.raises(InvalidArgument, match="does not match its digest"):
        engine.images.load(io.BytesIO(_tar(files)))
    assert _state(engine) == []


def _oci_layout(files: dict[str, bytes]) -> dict[str, bytes]:
    """An OCI image layout (no manifest.json) of the saved image, its layer gzipped, behind
    a nested index with another platform first."""
    config_name = json.loads(files["manifest.json"])[0]["Config"]
    layer_name = json.loads(files["manifest.json"])[0]["Layers"][0]
    layer = gzip.compress(files[layer_name])
    blobs: dict[str, bytes] = {}

    def put(data: bytes) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        blobs["blobs/sha256/" + digest] = data
        return {"digest": "sha256:" + digest, "size": len(data)}

    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json"}
        | put(files[config_name]),
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"} | put(layer)],
    }
    other = {"os": "linux", "architecture": "s390x"}
    inner = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": manifest["mediaType"], "platform": other, "digest": "sha256:" + "0" * 64},
            {
                "mediaType": manifest["mediaType"],
                "platform": {"os": "linux", "architecture": "amd64"},
            }
            | put(json.dumps(manifest).encode()),
        ],
    }
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": inner["mediaType"],
                "annotations": {"io.containerd.image.name": "example.com/team/app:1.0"},
            }
            | put(json.dumps(inner).encode())
        ],
    }
    return {
        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
        "index.json": json.dumps(index).encode(),
        **blobs,
    }


def test_loads_an_oci_layout_with_compressed_layers(engine: Any) -> None:
    image_id = engine.images.inspect("busybox")["Id"]
    files = _members(_save(engine, "busybox"))
    engine.loop.run_until_complete(engine.images.remove("busybox"))
    loaded = engine.images.load(io.BytesIO(_tar(_oci_layout(files))))
    assert loaded == ["example.com/team/app:1.0"]
    assert _state(engine) == [(image_id, ["example.com/team/app:1.0"])]


def test_a_layer_that_does_not_match_the_config_is_refused(engine: Any) -> None:
    files = _members(_save(engine, "busybox"))
    entry = json.loads(files["manifest.json"])[0]
    config = json.loads(files[entry["Config"]])
    config["rootfs"]["diff_ids"] = ["sha256:" + "1" * 64]
    files["config.json"] = json.dumps(config).encode()
    files["manifest.json"] = json.dumps([{**entry, "Config": "config.json"}]).encode()
    engine.loop.run_until_complete(engine.images.remove("busybox"))
    with pytest.raises(InvalidArgument, match="has the digest"):
        engine.images.load(io.BytesIO(_tar(files)))
    assert _state(engine) == []
    assert not list(engine.images.layers.dir.iterdir())
