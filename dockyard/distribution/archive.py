"""Image archives: the docker-archive format (``docker save``/``load``) and OCI image layouts.

What ``save`` writes is what Docker 25+ writes, which every reader understands:
an OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/<hex>``)
plus the docker-archive index ``manifest.json`` and the legacy
``repositories`` file, both pointing into ``blobs/``. A build's ``--output``
writes what BuildKit's exporters do (containerd's archive writer): the
``docker`` one the layout and ``manifest.json``, the ``oci`` one the layout
alone (``Layout``). What we read is either
kind: ``manifest.json`` with whatever paths it names (older Docker, Podman,
skopeo), or, when there is none, ``index.json`` of an OCI layout.

This module knows only the formats: the engine gives it blob paths to write
and takes back, per image, the config bytes and the layer files to register.
"""

from __future__ import annotations

import enum
import hashlib
import io
import json
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

from dockyard import platforms
from dockyard.errors import InvalidArgument, NotFound
from dockyard.jsondoc import json_object
from dockyard.platforms import HOST_ARCHITECTURE, Platform

INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_NAME_ANNOTATION = "io.containerd.image.name"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
CREATED_ANNOTATION = "org.opencontainers.image.created"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SavedImage:
    """One image to write: its blobs' digests and the references to record."""

    config_digest: str
    manifest_digest: str
    manifest_media_type: str
    layer_digests: list[str]  # the layer blobs the manifest names, base first
    tags: list[str]  # full references, e.g. docker.io/library/busybox:latest
    manifest: bytes | None = None  # the manifest, when made for the archive (not a blob)
    annotations: dict[str, str] = field(default_factory=dict)  # of its index.json entry


class Layout(enum.Enum):
    """Which index files an archive has beside its OCI layout."""

    SAVE = "save"  # manifest.json and repositories: ``docker save`` (Docker 25+)
    DOCKER = "docker"  # manifest.json: BuildKit's docker exporter
    OCI = "oci"  # none: BuildKit's oci exporter


@dataclass(frozen=True)
class LayerFile:
    """A layer blob of an archive: its file and, when a manifest names it, its descriptor."""

    path: Path
    digest: str = ""
    media_type: str = ""
    size: int = 0


@dataclass(frozen=True)
class LoadedImage:
    """One image read from an archive: its config's bytes and its layer files, base first.

    ``manifest`` is the manifest blob that names them, when the archive has one
    (an OCI layout, Docker 25+'s archives): the image keeps it as it is.
    """

    config: bytes
    layers: list[LayerFile]
    tags: list[str]
    manifest: bytes | None = None


# ---------------------------------------------------------------------------- write


def write(
    images: list[SavedImage],
    blob_path: Callable[[str], Path],
    out: BinaryIO,
    layout: Layout = Layout.SAVE,
) -> None:
    """Write ``images`` as one archive to ``out``; blobs shared by images are written once."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add_dir(tar, "blobs")
        _add_dir(tar, "blobs/sha256")
        written: set[str] = set()
        for image in images:
            for digest in [*image.layer_digests, image.config_digest]:
                if digest not in written:
                    _add_file(tar, _blob_name(digest), blob_path(digest))
                    written.add(digest)
            if image.manifest_digest not in written:
                name = _blob_name(image.manifest_digest)
                if image.manifest is None:
                    _add_file(tar, name, blob_path(image.manifest_digest))
                else:
                    _add_bytes(tar, name, image.manifest, 0o444)
                written.add(image.manifest_digest)
        sizes = {i.manifest_digest: _manifest_size(i, blob_path) for i in images}
        _add_bytes(tar, "oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
        _add_bytes(tar, "index.json", _json(_index(images, sizes)))
        if layout != Layout.OCI:
            _add_bytes(tar, "manifest.json", _json([_manifest_entry(i) for i in images]))
        if layout == Layout.SAVE:
            _add_bytes(tar, "repositories", _json(_repositories(images)))


def _manifest_size(image: SavedImage, blob_path: Callable[[str], Path]) -> int:
    if image.manifest is not None:
        return len(image.manifest)
    return blob_path(image.manifest_digest).stat().st_size


def _index(images: list[SavedImage], sizes: dict[str, int]) -> dict[str, Any]:
    manifests = []
    for image in images:
        descriptor = {
            "mediaType": image.manifest_media_type,
            "digest": image.manifest_digest,
            "size": sizes[image.manifest_digest],
        }
        if not image.tags:
            annotated = {"annotations": image.annotations} if image.annotations else {}
            manifests.append({**descriptor, **annotated})
        for tag in image.tags:
            names = {IMAGE_NAME_ANNOTATION: tag, REF_NAME_ANNOTATION: tag.rpartition(":")[2]}
            manifests.append({**descriptor, "annotations": {**image.annotations, **names}})
    return {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": manifests}


def _manifest_entry(image: SavedImage) -> dict[str, Any]:
    return {
        "Config": _blob_name(image.config_digest),
        "RepoTags": [_familiar(tag) for tag in image.tags] or None,
        "Layers": [_blob_name(d) for d in image.layer_digests],
    }


def _repositories(images: list[SavedImage]) -> dict[str, dict[str, str]]:
    """The legacy file: repository → tag → the image's top layer (by its hex digest)."""
    repos: dict[str, dict[str, str]] = {}
    for image in images:
        top = (image.layer_digests or [image.config_digest])[-1].removeprefix("sha256:")
        for tag in image.tags:
            name, _, tag_name = _familiar(tag).rpartition(":")
            repos.setdefault(name, {})[tag_name] = top
    return repos


def _familiar(reference: str) -> str:
    """``docker.io/library/busybox:latest`` → ``busybox:latest``, as manifest.json has it."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if reference.startswith(prefix):
            return reference.removeprefix(prefix)
    return reference


def _blob_name(digest: str) -> str:
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    tar.addfile(info)


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> None:
    info = tarfile.TarInfo(name)
    info.mode = 0o444
    with path.open("rb") as f:
        info.size = path.stat().st_size
        tar.addfile(info, f)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.mode, info.size = mode, len(data)
    tar.addfile(info, io.BytesIO(data))


# ---------------------------------------------------------------------------- read


def unpack(stream: BinaryIO, into: Path) -> None:
    """Extract an archive's regular files under ``into``, checking every ``blobs/sha256`` digest.

    Symbolic links between files of the archive (older docker-archives link
    repeated layers) are followed by copying; anything else is skipped.
    """
    links: list[tuple[str, str]] = []
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                if member.isdir():
                    continue  # made as its files need it ("." of `tar -C dir -c .` too)
                name = _safe_name(member.name)
                if member.isfile():
                    reader = tar.extractfile(member)
                    assert reader is not None  # a regular file always has contents
                    _write_member(reader, into / name, name)
                elif member.issym() or member.islnk():
                    target = member.linkname if member.islnk() else _link_target(name, member)
                    links.append((name, _safe_name(target)))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise InvalidArgument(f"invalid image archive: {e}") from None
    for name, target in links:
        source = into / target
        if not source.is_file():
            raise InvalidArgument(f"invalid image archive: {name} links to missing {target}")
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        (into / name).hardlink_to(source)


def _link_target(name: str, member: tarfile.TarInfo) -> str:
    return str(PurePosixPath(name).parent / member.linkname)


def _safe_name(name: str) -> str:
    """A member name as a relative path that stays inside the extraction directory."""
    parts: list[str] = []
    for part in PurePosixPath(name).parts:
        if part == "..":
            if not parts:
                raise InvalidArgument(f"invalid image archive: {name!r} leaves the archive")
            parts.pop()
        elif part not in ("/", "."):
            parts.append(part)
    if not parts:
        raise InvalidArgument(f"invalid image archive: bad member name {name!r}")
    return "/".join(parts)


def _write_member(reader: IO[bytes], path: Path, name: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with path.open("wb") as out:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    parent, _, hex_digest = name.rpartition("/")
    if parent.endswith("blobs/sha256") and digest.hexdigest() != hex_digest:
        raise InvalidArgument(f"invalid image archive: {name} does not match its digest")


def images_in(root: Path) -> list[LoadedImage]:
    """The images of an unpacked archive: from manifest.json, or else from an OCI index.json."""
    if (root / "manifest.json").is_file():
        return [_docker_image(root, entry) for entry in _entries(root)]
    if (root / "index.json").is_file():
        index = _read_json(root, "index.json")
        return [_oci_image(root, d) for d in _list(index, "manifests", "index.json")]
    raise InvalidArgument("invalid image archive: it has neither manifest.json nor index.json")


def _entries(root: Path) -> list[dict[str, Any]]:
    entries = _read_json(root, "manifest.json")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InvalidArgument("invalid image archive: manifest.json is not a list of images")
    return entries


def _docker_image(root: Path, entry: dict[str, Any]) -> LoadedImage:
    config = _member(root, str(entry.get("Config") or "")).read_bytes()
    names = [str(name) for name in _list(entry, "Layers", "manifest.json")]
    tags = [str(tag) for tag in entry.get("RepoTags") or []]
    manifest = _manifest_of(root, "sha256:" + hashlib.sha256(config).hexdigest(), len(names))
    if manifest is not None:
        return LoadedImage(config, _layer_files(root, manifest), tags, manifest)
    return LoadedImage(config, [LayerFile(_member(root, name)) for name in names], tags)


def _manifest_of(root: Path, config_digest: str, layers: int) -> bytes | None:
    """The manifest in the archive's index.json of the config ``config_digest``, if any."""
    if not (root / "index.json").is_file():
        return None
    index = _read_json(root, "index.json")
    todo = list(index.get("manifests") or []) if isinstance(index, dict) else []
    while todo:
        descriptor = todo.pop(0)
        if not isinstance(descriptor, dict):
            continue
        path = root / _safe_name(_blob_name(str(descriptor.get("digest"))))
        if not path.is_file():
            continue
        data = path.read_bytes()
        document = _parsed(data, path.name)
        if "manifests" in document:
            todo += document["manifests"] or []
        elif (document.get("config") or {}).get("digest") == config_digest and len(
            document.get("layers") or []
        ) == layers:
            return data
    return None


def _oci_image(root: Path, descriptor: dict[str, Any]) -> LoadedImage:
    name = _blob_name(str(descriptor.get("digest")))
    data = _member(root, name).read_bytes()
    manifest = _parsed(data, name)
    if descriptor.get("mediaType") in (INDEX_MEDIA_TYPE, DOCKER_LIST) or "manifests" in manifest:
        return _oci_image(
            root, {**pick_platform(manifest), "annotations": descriptor.get("annotations")}
        )
    config = _member(root, _blob_name(str(manifest.get("config", {}).get("digest"))))
    annotations = descriptor.get("annotations") or {}
    name = annotations.get(IMAGE_NAME_ANNOTATION) or annotations.get(REF_NAME_ANNOTATION, "")
    # A bare ref.name is only a tag ("latest"), which names no repository: load untagged.
    tags = [name] if ":" in name or "/" in name else []
    return LoadedImage(config.read_bytes(), _layer_files(root, data), tags, data)


def _layer_files(root: Path, manifest: bytes) -> list[LayerFile]:
    files = []
    for layer in _list(_parsed(manifest, "manifest"), "layers", "manifest"):
        digest = str(layer.get("digest"))
        path = _member(root, _blob_name(digest))
        files.append(
            LayerFile(path, digest, str(layer.get("mediaType") or ""), path.stat().st_size)
        )
    return files


def _parsed(data: bytes, name: str) -> dict[str, Any]:
    try:
        return json_object(data)
    except ValueError as e:
        raise InvalidArgument(f"invalid image archive: {name}: {e}") from None


def pick_platform(index: dict[str, Any], wanted: Platform | None = None) -> dict[str, Any]:
    """The descriptor in a manifest list or OCI index for ``wanted`` (this machine's platform).

    An exact match is preferred; else the first entry that runs there (moby's fallback).
    """
    want = wanted or Platform("linux", HOST_ARCHITECTURE)
    entries = [d for d in _list(index, "manifests", "index") if isinstance(d, dict)]
    offered = [
        (
            d,
            platforms.of_image(
                d.get("platform") or {"os": "linux", "architecture": want.architecture}
            ),
        )
        for d in entries
    ]
    for descriptor, platform in offered:
        if platforms.normalize(platform) == platforms.normalize(want):
            return dict(descriptor)
    for descriptor, platform in offered:
        if platforms.matches(want, platform):
            return dict(descriptor)
    raise NotFound(f"no matching manifest for {want} in the manifest list entries")


def _member(root: Path, name: str) -> Path:
    path = root / _safe_name(name) if name else root
    if not path.is_file():
        raise InvalidArgument(f"invalid image archive: {name or 'a config'} is missing")
    return path


def _read_json(root: Path, name: str) -> Any:
    try:
        return json.loads(_member(root, name).read_bytes())
    except ValueError as e:
        raise InvalidArgument(f"invalid image archive: {name}: {e}") from None


def _list(document: Any, key: str, where: str) -> list[Any]:
    value = document.get(key) if isinstance(document, dict) else None
    if not isinstance(value, list):
        raise InvalidArgument(f"invalid image archive: {where} has no {key} list")
    return value
