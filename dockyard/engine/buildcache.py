"""``--cache-from``/``--cache-to`` of ``type=local`` and ``type=registry``: build cache
records and the blobs they need, kept in an OCI image layout directory or a registry.

Import reads each cache's records once, at the start of the build; a step whose
key is in them becomes an image here only when the build reaches it: its config
(exactly the bytes exported, so its ID is the same) and the layers this store
lacks are fetched, the image made on its parent and entered in this engine's
cache. Export writes the records of this build's steps (the target stage's, or
every stage's with ``mode=max``) with their images' configs and layers.
The format is ``dockyard.build.cacheexport``'s (docs/build.md).

A local cache is a directory on the daemon's machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from dockyard.build.backend import BuildImage
from dockyard.build.cacheexport import (
    CACHE_ARTIFACT,
    CACHE_REF_NAME,
    INLINE_KEY,
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    CacheOption,
    CacheRecord,
    cache_manifest,
    descriptor,
    read_records,
    records_blob,
    records_digest,
)
from dockyard.distribution.registry import Credentials, Manifest, Registry
from dockyard.engine.images import ImageService
from dockyard.errors import DockyardError, InvalidArgument, NotFound
from dockyard.store.layers import Layer, chain_ids
from dockyard.store.reference import Reference
from dockyard.store.reference import parse as parse_reference

_CHUNK = 1 << 20
_INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
_REF_NAME = "org.opencontainers.image.ref.name"
UPLOAD_CHUNK = 16 << 20  # blobs beyond this go up in PATCH chunks
Logins = dict[str, tuple[str, str]]  # registry domain → (username, password)
# A registry that answers for a domain, with scopes and credentials (TransferService.open_registry).
Connect = Callable[[str, list[str], Credentials | None], Registry]


class CacheSource(Protocol):
    def records(self) -> dict[str, CacheRecord]: ...

    def copy(self, digest: str, out: BinaryIO) -> None:
        """Write the blob ``digest`` to ``out``, checked against its digest."""
        ...


# ---------------------------------------------------------------------------- import


class CacheImports:
    """The records of the ``--cache-from`` caches, and the images made from them."""

    def __init__(self, images: ImageService, sources: list[CacheSource]) -> None:
        self.images = images
        self.records: dict[str, tuple[CacheRecord, CacheSource]] = {}
        for source in sources:
            for key, record in source.records().items():
                self.records.setdefault(key, (record, source))

    def siblings(self, parent: str) -> list[dict[str, Any]]:
        """The inputs of the records built on ``parent``: what explains a miss here."""
        return [r.inputs for r, _ in self.records.values() if r.parent == parent]

    def lookup(self, key: str) -> tuple[BuildImage, CacheRecord] | None:
        """The image of the step ``key`` from a cache, made here now; None if none has it."""
        found = self.records.get(key)
        if found is None:
            return None
        record, source = found
        with contextlib.suppress(NotFound):
            image = self.images.resolve(record.image)
            return BuildImage(image.id, image.config), record
        config = json.loads(_read(source, record.image))
        layers = self._layers(source, list((config.get("rootfs") or {}).get("diff_ids") or []))
        try:
            image_id = self.images.create_image(config, layers, parent=record.parent)
        except BaseException:
            _discard(self.images, layers)
            raise
        image = self.images.resolve(image_id)
        return BuildImage(image.id, image.config), record

    def _layers(self, source: CacheSource, diff_ids: list[str]) -> list[Layer]:
        layers: list[Layer] = []
        store = self.images.layers
        try:
            for chain, diff_id in zip(chain_ids(diff_ids), diff_ids, strict=True):
                if store.exists(chain):
                    layers.append(store.get(chain))
                    continue
                tmp = self.images.blobs.temp_file("cache-")
                try:
                    with tmp.open("w+b") as f:
                        source.copy(diff_id, f)
                        f.seek(0)
                        layers.append(store.register(f, layers[-1].chain_id if layers else ""))
                finally:
                    tmp.unlink(missing_ok=True)
                if layers[-1].diff_id != diff_id:
                    raise InvalidArgument(f"build cache layer {diff_id} does not match its digest")
        except BaseException:
            _discard(self.images, layers)
            raise
        return layers


def open_cache(option: CacheOption, logins: Logins, connect: Connect) -> CacheSource:
    """The cache of a ``--cache-from type=local|registry``."""
    if option.type == "local":
        return _LocalCache(Path(option.location))
    return _RegistryCache(option.location, logins, connect)


def inline_cache(config: dict[str, Any]) -> CacheSource | None:
    """The cache an image carries in its config (``--cache-to type=inline``), if it does."""
    carried = config.get(INLINE_KEY)
    return _InlineCache(carried) if isinstance(carried, dict) else None


def with_inline_cache(
    images: ImageService, config: dict[str, Any], records: list[CacheRecord]
) -> dict[str, Any]:
    """``config`` carrying ``records`` and their images' configs (all of whose layers
    the image has: the steps of its own stage)."""
    configs = {r.image: images.blobs.path(r.image).read_text() for r in records}
    return {**config, INLINE_KEY: {"records": [r.json() for r in records], "configs": configs}}


def _read(source: CacheSource, digest: str) -> bytes:
    out = io.BytesIO()
    source.copy(digest, out)
    return out.getvalue()


def _discard(images: ImageService, layers: list[Layer]) -> None:
    for layer in reversed(layers):
        with contextlib.suppress(DockyardError):
            images.layers.remove(layer.chain_id)


class _LocalCache:
    """A cache in an OCI image layout directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def records(self) -> dict[str, CacheRecord]:
        index = self.root / "index.json"
        if not index.is_file():
            return {}  # no cache there yet: every step runs, as BuildKit goes on
        try:
            manifests = json.loads(index.read_bytes())["manifests"]
            digest = next(str(m["digest"]) for m in manifests if _is_cache(m))
        except (ValueError, KeyError, TypeError, StopIteration):
            raise InvalidArgument(f"{self.root} holds no build cache") from None
        return read_records(_read(self, records_digest(_read(self, digest))))

    def copy(self, digest: str, out: BinaryIO) -> None:
        path = _blob_path(self.root, digest)
        h = hashlib.sha256()
        try:
            with path.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
        except FileNotFoundError:
            raise InvalidArgument(f"the build cache in {self.root} lacks {digest}") from None
        if "sha256:" + h.hexdigest() != digest:
            raise InvalidArgument(f"the build cache blob {digest} does not match its digest")


class _InlineCache:
    """The cache in an image's config: the step images' configs are in it, and their
    layers are the image's own, here already."""

    def __init__(self, carried: dict[str, Any]) -> None:
        self.carried = carried

    def records(self) -> dict[str, CacheRecord]:
        return read_records(self.carried)

    def copy(self, digest: str, out: BinaryIO) -> None:
        text = (self.carried.get("configs") or {}).get(digest)
        data = text.encode() if isinstance(text, str) else b""
        if _digest(data) != digest:
            raise InvalidArgument(f"the inline build cache lacks {digest}")
        out.write(data)


def _is_cache(entry: dict[str, object]) -> bool:
    annotations = entry.get("annotations")
    return isinstance(annotations, dict) and annotations.get(_REF_NAME) == CACHE_REF_NAME


class _RegistryCache:
    """A cache pushed to a registry as a tag."""

    def __init__(self, text: str, logins: Logins, connect: Connect) -> None:
        self.ref = _cache_reference(text)
        scopes = [f"repository:{self.ref.path}:pull"]
        self.registry = connect(self.ref.domain, scopes, registry_credentials(logins, self.ref))

    def records(self) -> dict[str, CacheRecord]:
        try:
            manifest = self.registry.get_manifest(self.ref.path, self.ref.tag)
        except NotFound:
            return {}  # not pushed yet
        return read_records(_read(self, records_digest(manifest.data)))

    def copy(self, digest: str, out: BinaryIO) -> None:
        self.registry.download_blob(self.ref.path, digest, out)


def registry_credentials(logins: Logins, ref: Reference) -> Credentials | None:
    """The login the client sent (X-Registry-Config) for ``ref``'s registry, if any."""
    login = logins.get(ref.domain)
    return Credentials(*login) if login else None


def _cache_reference(text: str) -> Reference:
    ref = parse_reference(text).with_default_tag()
    if ref.digest:
        raise InvalidArgument(f"a build cache is named by a tag, not a digest: {text}")
    return ref


# ---------------------------------------------------------------------------- export


def export_cache(
    images: ImageService,
    option: CacheOption,
    records: list[CacheRecord],
    logins: Logins,
    connect: Connect,
) -> None:
    """Write ``records`` and every blob their images need to the cache ``option`` names."""
    unique = list({r.key: r for r in records}.values())
    blobs: dict[str, tuple[str, Path]] = {}  # digest → media type, path
    for record in unique:
        blobs.setdefault(record.image, (OCI_CONFIG, images.blobs.path(record.image)))
        for diff_id in images.resolve(record.image).config["rootfs"]["diff_ids"]:
            blobs.setdefault(diff_id, (OCI_LAYER, images.blobs.path(diff_id)))
    data = records_blob(unique)
    config = descriptor(CACHE_ARTIFACT, _digest(data), len(data))
    layers = [descriptor(kind, d, path.stat().st_size) for d, (kind, path) in blobs.items()]
    manifest = cache_manifest(config, layers)
    if option.type == "local":
        _write_local(Path(option.location), data, manifest, blobs)
        return
    spooled = images.blobs.temp_file("cache-")
    try:
        spooled.write_bytes(data)
        blobs[config["digest"]] = (CACHE_ARTIFACT, spooled)
        _push(_cache_reference(option.location), manifest, blobs, logins, connect)
    finally:
        spooled.unlink(missing_ok=True)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob_path(root: Path, digest: str) -> Path:
    algorithm, _, hex_digest = digest.partition(":")
    if algorithm != "sha256" or len(hex_digest) != 64 or not hex_digest.isalnum():
        raise InvalidArgument(f"invalid digest in the build cache: {digest}")
    return root / "blobs" / "sha256" / hex_digest


def _write_local(
    root: Path, data: bytes, manifest: bytes, blobs: dict[str, tuple[str, Path]]
) -> None:
    """An OCI image layout with the cache as its ``latest``; blobs already there stay."""
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    contents: list[tuple[str, Path | bytes]] = [(d, path) for d, (_, path) in blobs.items()]
    contents += [(_digest(data), data), (_digest(manifest), manifest)]
    for digest, content in contents:
        target = _blob_path(root, digest)
        if not target.exists():
            _atomic_write(target, content)
    entry = descriptor(OCI_MANIFEST, _digest(manifest), len(manifest))
    entry["annotations"] = {_REF_NAME: CACHE_REF_NAME}
    index = {"schemaVersion": 2, "mediaType": _INDEX_MEDIA_TYPE, "manifests": [entry]}
    _atomic_write(root / "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
    _atomic_write(root / "index.json", json.dumps(index).encode())


def _atomic_write(target: Path, content: Path | bytes) -> None:
    """``target`` written whole or not at all (a reader never sees half a blob):
    ``content``'s bytes, or a copy of the file it names."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as out:
            if isinstance(content, bytes):
                out.write(content)
            else:
                with content.open("rb") as f:
                    shutil.copyfileobj(f, out, _CHUNK)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def _push(
    ref: Reference,
    manifest: bytes,
    blobs: dict[str, tuple[str, Path]],
    logins: Logins,
    connect: Connect,
) -> None:
    """Every blob the registry lacks, then the manifest under the cache's tag."""
    scopes = [f"repository:{ref.path}:pull,push"]
    registry = connect(ref.domain, scopes, registry_credentials(logins, ref))
    for digest, (_, path) in blobs.items():
        if registry.blob_exists(ref.path, digest):
            continue
        chunk = UPLOAD_CHUNK if path.stat().st_size > UPLOAD_CHUNK else 0
        registry.upload_blob(registry.start_upload(ref.path), digest, path, chunk)
    registry.put_manifest(ref.path, ref.tag, Manifest(manifest, OCI_MANIFEST, _digest(manifest)))
