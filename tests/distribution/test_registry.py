"""Pull and push against a real registry on loopback, through the engine and the CLIs."""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import Any

import pytest

from dockyard import platforms
from dockyard.distribution.endpoints import Endpoint
from dockyard.distribution.registry import Credentials, Manifest
from dockyard.distribution.registry import Registry as Client
from dockyard.engine import transfers
from dockyard.errors import InvalidArgument, NotFound
from tests.conftest import Daemon
from tests.distribution.conftest import TOKEN_SERVICE, Registry, TokenRegistry
from tests.e2e.helpers import Docker

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


class Progress:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def statuses(self) -> list[str]:
        return [m["status"] for m in self.messages if "status" in m]


def _push(engine: Any, name: str, credentials: Credentials | None = None) -> Progress:
    progress = Progress()
    engine.transfers.push(name, "", progress, credentials)
    return progress


def test_push_then_pull_gives_back_the_same_image(engine: Any, registry: Registry) -> None:
    name = f"{registry.address}/busybox"
    image_id = engine.images.inspect("busybox")["Id"]
    engine.images.tag("busybox", name, None)
    pushed = _push(engine, name)
    assert pushed.statuses()[0] == f"The push refers to repository [{name}]"
    assert "Pushed" in pushed.statuses()
    digest = pushed.messages[-1]["aux"]["Digest"]
    assert pushed.statuses()[-1].startswith(f"latest: digest: {digest} size: ")
    again = _push(engine, name)
    assert "Layer already exists" in again.statuses() and "Pushed" not in again.statuses()
    # Every line about a layer names it by its DiffID, as moby's does: one line per layer.
    diff_ids = engine.images.inspect(name)["RootFS"]["Layers"]
    layer_ids = {d.removeprefix("sha256:")[:12] for d in diff_ids}
    for run in (pushed, again):
        named = {m["id"]: m["status"] for m in run.messages if m.get("id")}
        assert set(named) == layer_ids

    engine.loop.run_until_complete(engine.images.remove(name))
    engine.loop.run_until_complete(engine.images.remove("busybox"))
    pulled = Progress()
    assert engine.transfers.pull(name, pulled) == image_id
    assert pulled.statuses()[0] == "Pulling from busybox"
    assert "Pull complete" in pulled.statuses()
    assert pulled.statuses()[-2:] == [
        f"Digest: {digest}",
        f"Status: Downloaded newer image for {name}:latest",
    ]
    assert engine.images.inspect(name)["Id"] == image_id
    up_to_date = Progress()
    engine.transfers.pull(name, up_to_date)
    assert "Already exists" in up_to_date.statuses()
    assert up_to_date.statuses()[-1] == f"Status: Image is up to date for {name}:latest"
    by_digest = Progress()
    assert engine.transfers.pull(f"{name}@{digest}", by_digest) == image_id


def test_chunked_upload_and_cross_repository_mount(
    engine: Any, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunk = 64 << 10
    monkeypatch.setattr(transfers, "UPLOAD_CHUNK", chunk)
    first, second = f"{registry.address}/team/one", f"{registry.address}/team/two"
    engine.images.tag("busybox", first, None)
    assert "Pushed" in _push(engine, first).statuses()
    manifest = Client(
        Endpoint(f"http://{registry.address}"), ["repository:team/one:pull"]
    ).get_manifest("team/one", "latest")
    sizes = [layer["size"] for layer in manifest.json()["layers"]]
    sizes.append(manifest.json()["config"]["size"])
    patches = [(uri, status) for method, uri, status in registry.requests() if method == "PATCH"]
    # Each blob above the chunk size goes up in PATCHes of it; the others in one PUT.
    assert len(patches) == sum(-(-size // chunk) for size in sizes if size > chunk) > 1
    assert all(
        uri.startswith("/v2/team/one/blobs/uploads/") and status == 202 for uri, status in patches
    )
    engine.images.tag("busybox", second, None)
    assert "Mounted from team/one" in _push(engine, second).statuses()
    uploads_to_second = [
        (method, status)
        for method, uri, status in registry.requests()
        if uri.startswith("/v2/team/two/blobs/uploads/")
    ]
    assert uploads_to_second and set(uploads_to_second) == {("POST", 201)}  # mounts, no bytes
    engine.loop.run_until_complete(engine.images.remove(first))
    engine.loop.run_until_complete(engine.images.remove(second))
    image_id = engine.images.inspect("busybox")["Id"]
    engine.loop.run_until_complete(engine.images.remove("busybox"))
    assert engine.transfers.pull(second, Progress()) == image_id


def test_pulls_the_linux_amd64_image_of_an_index(engine: Any, registry: Registry) -> None:
    name = f"{registry.address}/multi"
    engine.images.tag("busybox", name, None)
    digest = _push(engine, name).messages[-1]["aux"]["Digest"]
    client = Client(Endpoint(f"http://{registry.address}"), ["repository:multi:pull,push"])
    single = client.get_manifest("multi", digest)
    entry = {"mediaType": single.media_type, "digest": digest, "size": len(single.data)}
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {**entry, "platform": {"os": "linux", "architecture": "s390x"}},
            {**entry, "platform": {"os": "linux", "architecture": "amd64"}},
        ],
    }
    data = json.dumps(index).encode()
    index_digest = "sha256:" + hashlib.sha256(data).hexdigest()
    client.put_manifest("multi", "all", Manifest(data, index["mediaType"], index_digest))
    progress = Progress()
    image_id = engine.transfers.pull(f"{name}:all", progress)
    assert image_id == engine.images.inspect("busybox")["Id"]
    assert f"Digest: {index_digest}" in progress.statuses()


def test_missing_repository_and_tag(engine: Any, registry: Registry) -> None:
    with pytest.raises(NotFound):
        engine.transfers.pull(f"{registry.address}/nothere", Progress())
    with pytest.raises(NotFound, match="An image does not exist locally with the tag"):
        engine.transfers.push(f"{registry.address}/nothere", "", Progress())


def test_basic_auth(engine: Any, auth_registry: Registry) -> None:
    name = f"{auth_registry.address}/private"
    engine.images.tag("busybox", name, None)
    with pytest.raises(InvalidArgument, match="unauthorized"):
        _push(engine, name)
    with pytest.raises(InvalidArgument, match="unauthorized"):
        _push(engine, name, Credentials("alice", "wrong"))
    assert "Pushed" in _push(engine, name, Credentials("alice", "s3cret")).statuses()
    engine.loop.run_until_complete(engine.images.remove(name))
    with pytest.raises(InvalidArgument, match="unauthorized"):
        engine.transfers.pull(name, Progress())
    assert engine.transfers.pull(name, Progress(), Credentials("alice", "s3cret"))


def test_token_auth(engine: Any, token_registry: TokenRegistry) -> None:
    name = f"{token_registry.address}/private"
    engine.images.tag("busybox", name, None)
    with pytest.raises(InvalidArgument, match="unauthorized"):
        _push(engine, name)
    with pytest.raises(InvalidArgument, match="unauthorized"):
        _push(engine, name, Credentials("alice", "wrong"))
    assert token_registry.issued == []
    assert "Pushed" in _push(engine, name, Credentials("alice", "s3cret")).statuses()
    assert token_registry.issued == [(TOKEN_SERVICE, ["repository:private:pull,push"])]
    image_id = engine.images.inspect(name)["Id"]
    engine.loop.run_until_complete(engine.images.remove(name))
    with pytest.raises(InvalidArgument, match="unauthorized"):
        engine.transfers.pull(name, Progress())
    assert engine.transfers.pull(name, Progress(), Credentials("alice", "s3cret")) == image_id
    assert token_registry.issued[1:] == [(TOKEN_SERVICE, ["repository:private:pull"])]


def test_our_cli_push_rmi_pull_run(daemon: Daemon, registry: Registry) -> None:
    name = f"{registry.address}/busybox"
    assert daemon.cli("tag", "busybox", name).returncode == 0
    pushed = daemon.cli("push", name)
    assert pushed.returncode == 0, pushed.stderr
    lines = pushed.stdout.splitlines()
    assert lines[0] == f"The push refers to repository [{name}]"
    assert lines[-1].startswith("latest: digest: sha256:")
    assert daemon.cli("rmi", name, "busybox").returncode == 0
    pulled = daemon.cli("pull", name)
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.splitlines()[0] == "latest: Pulling from busybox"
    assert pulled.stdout.splitlines()[-1] == f"{name}:latest"
    ran = daemon.cli("run", "--rm", name, "echo", "pulled")
    assert (ran.returncode, ran.stdout) == (0, "pulled\n")


def test_docker_cli_push_rmi_pull_run(docker_cli: Docker, registry: Registry) -> None:
    name = f"{registry.address}/tools/box:1.0"
    image_id = docker_cli("image", "inspect", "-f", "{{.Id}}", "busybox").stdout.strip()
    assert docker_cli("tag", "busybox", name).returncode == 0
    pushed = docker_cli("push", name)
    assert pushed.returncode == 0, pushed.stderr
    assert "1.0: digest: sha256:" in pushed.stdout
    assert docker_cli("rmi", name, "busybox").returncode == 0
    pulled = docker_cli("pull", name)
    assert pulled.returncode == 0, pulled.stderr
    assert f"Status: Downloaded newer image for {name}" in pulled.stdout
    assert docker_cli("image", "inspect", "-f", "{{.Id}}", name).stdout.strip() == image_id
    ran = docker_cli("run", "--rm", name, "echo", "pulled")
    assert (ran.returncode, ran.stdout) == (0, "pulled\n")
    missing = docker_cli("pull", f"{registry.address}/nothere")
    assert missing.returncode == 1
    assert missing.stderr.startswith("Error response from daemon: ")


def test_pull_picks_the_platform_asked_for_from_an_index(engine: Any, registry: Registry) -> None:
    name = f"{registry.address}/multi"
    busybox = engine.images.resolve("busybox")
    config = {k: v for k, v in busybox.config.items() if k != "rootfs"}
    layers = [engine.images.layers.get(chain) for chain in busybox.chain]
    arm_id = engine.images.create_image(
        {**config, "architecture": "arm64", "variant": "v8"}, layers
    )
    engine.images.tag(arm_id, name, "arm")
    engine.images.tag("busybox", name, "amd")
    client = Client(Endpoint(f"http://{registry.address}"), ["repository:multi:pull,push"])
    entries = []
    for tag, platform in (("arm", ("arm64", "v8")), ("amd", ("amd64", ""))):
        digest = _push(engine, f"{name}:{tag}").messages[-1]["aux"]["Digest"]
        single = client.get_manifest("multi", digest)
        wanted = {"os": "linux", "architecture": platform[0]}
        wanted |= {"variant": platform[1]} if platform[1] else {}
        entries.append(
            {
                "mediaType": single.media_type,
                "digest": digest,
                "size": len(single.data),
                "platform": wanted,
            }
        )
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    data = json.dumps(index).encode()
    client.put_manifest(
        "multi", "all", Manifest(data, OCI_INDEX, "sha256:" + hashlib.sha256(data).hexdigest())
    )
    engine.loop.run_until_complete(engine.images.remove(f"{name}:arm"))
    engine.loop.run_until_complete(engine.images.remove(f"{name}:amd"))

    arm = engine.transfers.pull(f"{name}:all", Progress(), None, platforms.parse("linux/arm64"))
    assert arm == arm_id
    shown = engine.images.inspect(f"{name}:all")
    assert (shown["Os"], shown["Architecture"], shown["Variant"]) == ("linux", "arm64", "v8")
    with pytest.raises(NotFound, match="no matching manifest for linux/ppc64le in the manifest"):
        engine.transfers.pull(f"{name}:all", Progress(), None, platforms.parse("linux/ppc64le"))
    assert engine.transfers.pull(f"{name}:all", Progress()) == busybox.id
    assert "Variant" not in engine.images.inspect(f"{name}:all")

    # Pushed to another repository of that registry, the whole index goes, arm64 included.
    index_digest = "sha256:" + hashlib.sha256(data).hexdigest()
    copy = f"{registry.address}/copy"
    engine.images.tag(f"{name}:all", copy, "all")
    pushed = _push(engine, f"{copy}:all")
    assert pushed.messages[-1]["aux"]["Digest"] == index_digest
    reader = Client(Endpoint(f"http://{registry.address}"), ["repository:copy:pull"])
    assert reader.get_manifest("copy", "all").data == data
    for entry in entries:
        assert reader.get_manifest("copy", entry["digest"]).digest == entry["digest"]
    assert f"{copy}@{index_digest}" in engine.images.inspect(f"{copy}:all")["RepoDigests"]


def test_a_layer_that_is_not_a_tar_fails_the_pull_and_leaves_nothing(
    engine: Any, registry: Registry
) -> None:
    client = Client(Endpoint(f"http://{registry.address}"), ["repository:broken:pull,push"])
    garbage = gzip.compress(b"this is not a tar archive" * 1000)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(gzip.decompress(garbage)).hexdigest()],
            },
        }
    ).encode()
    descriptors = []
    for blob in (config, garbage):
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        path = engine.images.blobs.tmp / "upload"
        path.write_bytes(blob)
        client.upload_blob(client.start_upload("broken"), digest, path)
        path.unlink()
        descriptors.append({"digest": digest, "size": len(blob)})
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **descriptors[0]},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **descriptors[1]}],
    }
    data = json.dumps(manifest).encode()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    client.put_manifest("broken", "latest", Manifest(data, manifest["mediaType"], digest))
    blobs_before = set(engine.images.blobs.dir.iterdir())
    layers_before = engine.images.metadata.query("SELECT chain_id FROM layers")
    with pytest.raises(InvalidArgument):
        engine.transfers.pull(f"{registry.address}/broken", Progress())
    assert set(engine.images.blobs.dir.iterdir()) == blobs_before
    assert engine.images.metadata.query("SELECT chain_id FROM layers") == layers_before
    assert list(engine.images.blobs.tmp.iterdir()) == []
