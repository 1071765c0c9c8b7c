"""Images: OCI config and manifest blobs over shared layers, tags, and the Docker views of them.

An image is its OCI image config (the image ID is the sha256 of the config's
bytes), an OCI manifest naming the config and the uncompressed layer tars,
and a row in ``images``. Tags live in ``refs`` in Docker's familiar form
(``busybox:latest``). ``create_image`` is the one way to make an image;
import, build and commit all go through it.

Removal follows moby's daemon/images/image_delete.go: untag first, delete
when nothing refers to the image any more, and refuse with Docker's conflict
messages. Containers and builds are not ours: whether one uses an image is
asked of the ``in_use`` and ``building`` callables the engine provides. As in
Docker, a running container, a running build (or a child image) blocks a
deletion even with force, a stopped container only without: a container holds
its own reference on its image's layers, so it outlives its image.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from dockyard.build.changes import apply_changes
from dockyard.distribution import archive
from dockyard.engine.filters import Filters
from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.jsondoc import json_object
from dockyard.platforms import HOST_ARCHITECTURE
from dockyard.runtime.overlay import OVERLAY2
from dockyard.store import compression
from dockyard.store.blobs import BlobStore, Descriptor
from dockyard.store.layers import Layer, LayerBlob, LayerStore, chain_ids
from dockyard.store.leases import Leases
from dockyard.store.metadata import Metadata
from dockyard.store.reference import Reference, familiar_match, parse_any, repo_tag
from dockyard.store.reference import parse as parse_reference
from dockyard.timefmt import parse_rfc3339, parse_timestamp, rfc3339, rfc3339_nano

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
LIST_FILTERS = ("dangling", "label", "before", "since", "reference", "until")
PRUNE_FILTERS = ("dangling", "label", "label!", "until")
NO_TAG_TIME = "0001-01-01T00:00:00Z"
# The container-config fields Docker always prints in an image's Config (the rest only when set).
CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": False,
    "AttachStdout": False,
    "AttachStderr": False,
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": None,
    "Cmd": None,
    "Image": "",
    "Volumes": None,
    "WorkingDir": "",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": None,
}


class EventPublisher(Protocol):
    def publish(
        self, type: str, action: str, actor_id: str, attributes: dict[str, str]
    ) -> None: ...


# The containers using an image: (container id, whether it runs).
InUse = Callable[[str], list[tuple[str, bool]]]


class _Check(enum.Flag):
    """What may stop an image's deletion (moby's conflictType)."""

    CHILD = enum.auto()
    RUNNING = enum.auto()
    TAGS = enum.auto()
    STOPPED = enum.auto()
    HARD = CHILD | RUNNING  # even with force
    SOFT = TAGS | STOPPED  # only without


@dataclass(frozen=True)
class Image:
    """What containers and builds need of an image."""

    id: str
    config: dict[str, Any]  # the whole OCI image config
    chain: list[str]  # chain IDs, base layer first
    created: str
    size: int
    parent: str
    lowerdirs: list[Path]  # the layers' diff directories, topmost first (overlay lowerdir=)


@dataclass
class _Removal:
    """What one removal did: the response records, and the work left for after its commit."""

    records: list[dict[str, str]] = field(default_factory=list)
    events: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    layers: list[Layer] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _DeleteConflict:
    image_id: str
    hard: bool
    used: bool  # by a container
    reason: str

    def error(self) -> Conflict:
        forced = "cannot be forced" if self.hard else "must be forced"
        return Conflict(
            f"conflict: unable to delete {_short(self.image_id)} ({forced}) - {self.reason}"
        )


class ImageService:
    def __init__(
        self,
        metadata: Metadata,
        blobs: BlobStore,
        layers: LayerStore,
        events: EventPublisher,
        in_use: InUse,
        storage_driver: str = OVERLAY2,
    ) -> None:
        self.metadata = metadata
        self.storage_driver = storage_driver  # the name inspect gives (GraphDriver)
        self.blobs = blobs
        self.layers = layers
        self.events = events
        self.in_use = in_use
        # Whether a running build uses an image (the engine sets it): such an image stays.
        self.building: Callable[[str], bool] = lambda image_id: False
        self.leases = Leases()  # held by what writes blobs and layers before an image holds them

    # ------------------------------------------------------------------ create

    def import_tar(
        self, stream: BinaryIO, reference: str | None, changes: list[str], message: str = ""
    ) -> str:
        """A rootfs tar(.gz) → a one-layer image, tagged ``reference`` when given."""
        ref = repo_tag(reference) if reference else None
        settings = apply_changes({}, changes)
        with self.leases.hold():
            layer = self.layers.register(stream)
            now = rfc3339_nano(time.time_ns())
            config = {
                "architecture": HOST_ARCHITECTURE,
                "os": "linux",
                "created": now,
                "config": settings,
                "history": [
                    {"created": now, "created_by": "", "comment": message or "Imported from -"}
                ],
            }
            try:
                image_id = self.create_image(config, [layer], reference=str(ref) if ref else None)
            except BaseException:
                self._discard_unused(layer)
                raise
        self.events.publish("image", "import", image_id, {"name": str(ref) if ref else image_id})
        return image_id

    def create_image(
        self,
        config: dict[str, Any],
        layers: list[Layer],
        parent: str = "",
        reference: str | None = None,
    ) -> str:
        """Write the config and manifest blobs and the image's rows in one transaction.

        ``config`` is an OCI image config without ``rootfs`` (it is made from
        ``layers``, base first); its history must have one non-empty entry per
        layer. Returns the image ID.
        """
        ref = repo_tag(reference) if reference else None
        if parent and not self._exists(parent):
            raise NotFound(f"No such image: {parent}")
        config = {
            **config,
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        }
        config.setdefault("created", rfc3339_nano(time.time_ns()))
        data = json.dumps(config, separators=(",", ":")).encode()
        return self._store(data, config, None, layers, parent, ref)

    def add_received(
        self,
        config_bytes: bytes,
        layers: list[Layer],
        manifest: bytes | None = None,
        reference: str | None = None,
    ) -> str:
        """An image whose config (and manifest) came from elsewhere, kept byte for byte.

        Its ID is the digest of ``config_bytes`` as received. ``manifest`` is the
        manifest that named it (a registry's, an OCI layout's), whose layer blobs
        the layer store keeps; without one, a manifest of the layer tars is made.
        """
        ref = repo_tag(reference) if reference else None
        try:
            config = json_object(config_bytes)
        except ValueError as e:
            raise InvalidArgument(f"invalid image config: {e}") from None
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        if diff_ids != [layer.diff_id for layer in layers]:
            raise InvalidArgument("image config and layers do not agree on the layers' DiffIDs")
        return self._store(config_bytes, config, manifest, layers, "", ref)

    def _store(
        self,
        config_bytes: bytes,
        config: dict[str, Any],
        manifest: bytes | None,
        layers: list[Layer],
        parent: str,
        ref: Reference | None,
    ) -> str:
        """Write the config and manifest blobs and the image's rows in one transaction."""
        chain = _checked_chain(config, layers)
        received = manifest is not None
        written: list[str] = []
        try:
            config_desc = self._put(config_bytes, written)
            if manifest is None:
                manifest = self._manifest(config_desc.digest, len(config_bytes), layers)
            manifest_digest = self._put(manifest, written).digest
            image_id = config_desc.digest
            with self.metadata.transaction() as db:
                row = db.execute("SELECT manifest FROM images WHERE id = ?", (image_id,)).fetchone()
                if row is None:
                    db.execute(
                        "INSERT INTO images (id, manifest, created, size, parent, loaded_at)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            image_id,
                            manifest_digest,
                            str(config.get("created") or ""),
                            sum(layer.size for layer in layers),
                            parent,
                            time.time(),
                        ),
                    )
                    self.layers.retain(chain)
                    unused = ""
                elif received and row["manifest"] != manifest_digest:
                    # The image as a registry or archive has it: its manifest is the one to push.
                    db.execute(
                        "UPDATE images SET manifest = ? WHERE id = ?", (manifest_digest, image_id)
                    )
                    unused = row["manifest"]
                else:  # the image is here already, with its own manifest
                    # Ours, unless it is the row's: a pull of the same image at the same time
                    # may have written it first and recorded it meanwhile.
                    mine = manifest_digest in written and manifest_digest != row["manifest"]
                    unused = manifest_digest if mine else ""
                if ref:
                    self._set_tag(image_id, ref)
        except BaseException:
            for digest in written:
                self.blobs.delete(digest)
            raise
        if unused:
            self.blobs.delete(unused)
        if ref:
            self._publish("tag", image_id, str(ref))
        return image_id

    def _put(self, data: bytes, written: list[str]) -> Descriptor:
        """Store a blob, noting it in ``written`` when it is new (to undo on failure)."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        existed = self.blobs.exists(digest)
        desc = self.blobs.put_bytes(data, digest)
        if not existed:
            written.append(digest)
        return desc

    def _manifest(self, config_digest: str, config_size: int, layers: list[Layer]) -> bytes:
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": CONFIG_MEDIA_TYPE,
                "digest": config_digest,
                "size": config_size,
            },
            "layers": [
                {
                    "mediaType": LAYER_MEDIA_TYPE,
                    "digest": layer.diff_id,
                    "size": self.blobs.size(layer.diff_id),
                }
                for layer in layers
            ],
        }
        return json.dumps(manifest, separators=(",", ":")).encode()

    def _discard_unused(self, layer: Layer) -> None:
        """Undo a layer registered for an image that was then not made."""
        # Held by another image, or stacked on: then it stays, as it should.
        with contextlib.suppress(DockyardError):
            self.layers.remove(layer.chain_id)

    # ------------------------------------------------------------------ save and load

    def save(self, names: list[str]) -> BinaryIO:
        """``names`` as one docker-archive (also an OCI layout): an unlinked temp file at 0."""
        saved: dict[str, archive.SavedImage] = {}
        for name in names:
            image_id = self._find(name)
            parsed = parse_any(name)
            ref = parsed.with_default_tag() if isinstance(parsed, Reference) else None
            tags = [f"{ref.name}:{ref.tag}"] if ref and ref.tag else []
            if _is_id_prefix(image_id, name) and not self._refs_named(image_id, name):
                tags = []
            known = saved.get(image_id)
            if known:
                tags = known.tags + [t for t in tags if t not in known.tags]
            saved[image_id] = self._saved(image_id, tags)
        return self._archive(list(saved.values()))

    def export(
        self, image_id: str, tags: list[str], layout: archive.Layout, oci_types: bool
    ) -> BinaryIO:
        """One image as BuildKit's docker or oci exporter writes it (a build's ``--output
        type=docker|oci``), named ``tags`` (full references) in the archive only: its layers
        gzip-compressed under a manifest made for the archive, in OCI's media types or
        Docker's, and the time of the export on its index entry."""
        manifest, blobs = self.compressed_manifest(image_id, compression.GZIP, oci_types, 2)
        saved = archive.SavedImage(
            config_digest=image_id,
            manifest_digest="sha256:" + hashlib.sha256(manifest).hexdigest(),
            manifest_media_type=MANIFEST_MEDIA_TYPE if oci_types else DOCKER_MANIFEST_MEDIA_TYPE,
            layer_digests=[blob.digest for blob in blobs],
            tags=tags,
            manifest=manifest,
            annotations={archive.CREATED_ANNOTATION: rfc3339(time.time())},
        )
        return self._archive([saved], layout)

    def compressed_manifest(
        self, image_id: str, algorithm: str, oci: bool, indent: int
    ) -> tuple[bytes, list[LayerBlob]]:
        """A manifest of the image's layers compressed with ``algorithm`` (kept, or made
        now and kept), in OCI's media types or Docker's schema 2 ones, indented by
        ``indent`` as its writer would; its bytes and the layer blobs, base first."""
        diff_ids = self.resolve(image_id).config["rootfs"]["diff_ids"]
        blobs = [self.layers.compressed(str(diff_id), algorithm) for diff_id in diff_ids]
        layer_type = compression.layer_type(algorithm, oci)
        document = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE if oci else DOCKER_MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": CONFIG_MEDIA_TYPE if oci else DOCKER_CONFIG_MEDIA_TYPE,
                "size": self.blobs.size(image_id),
                "digest": image_id,
            },
            "layers": [
                {"mediaType": layer_type, "size": blob.size, "digest": blob.digest}
                for blob in blobs
            ],
        }
        return json.dumps(document, indent=indent).encode(), blobs

    def _archive(
        self, images: list[archive.SavedImage], layout: archive.Layout = archive.Layout.SAVE
    ) -> BinaryIO:
        """An unlinked temp file at 0 holding ``images`` as one archive."""
        path = self.blobs.temp_file("save-")
        try:
            out = path.open("w+b")
            archive.write(images, self.blobs.path, out, layout)
            out.seek(0)
            return out
        finally:
            path.unlink()

    def _refs_named(self, image_id: str, name: str) -> bool:
        return any(r.familiar_name == name or str(r) == name for r in self._refs(image_id))

    def _saved(self, image_id: str, tags: list[str]) -> archive.SavedImage:
        digest, manifest = self.manifest(image_id)
        layers = [str(layer["digest"]) for layer in manifest.get("layers") or []]
        media_type = str(manifest.get("mediaType") or archive.OCI_MANIFEST)
        return archive.SavedImage(image_id, digest, media_type, layers, tags)

    def manifest(self, image_id: str) -> tuple[str, dict[str, Any]]:
        """The digest and document of the image's manifest: as received, or as made here."""
        digest = str(
            self.metadata.query("SELECT manifest FROM images WHERE id = ?", image_id)[0][0]
        )
        with self.blobs.open(digest) as f:
            manifest: dict[str, Any] = json.load(f)
        return digest, manifest

    def set_index(self, image_id: str, index: bytes, source: str) -> None:
        """Keep the multi-platform index ``image_id`` was pulled through from ``source``
        ("domain/path"), so a push to that registry can send the whole index again."""
        digest = self.blobs.put_bytes(index).digest
        with self.metadata.transaction() as db:
            old = db.execute(
                "SELECT digest FROM image_indexes WHERE image_id = ?", (image_id,)
            ).fetchone()
            db.execute(
                "INSERT INTO image_indexes (image_id, digest, source) VALUES (?, ?, ?)"
                " ON CONFLICT(image_id) DO UPDATE SET digest = excluded.digest,"
                " source = excluded.source",
                (image_id, digest, source),
            )
        if old and old[0] != digest:
            self._delete_unused_index(old[0])

    def index(self, image_id: str) -> tuple[bytes, str] | None:
        """The index ``image_id`` was pulled through and the repository it came from."""
        rows = self.metadata.query(
            "SELECT digest, source FROM image_indexes WHERE image_id = ?", image_id
        )
        if not rows:
            return None
        with self.blobs.open(rows[0]["digest"]) as f:
            return f.read(), str(rows[0]["source"])

    def _delete_unused_index(self, digest: str) -> None:
        if not self.metadata.query("SELECT 1 FROM image_indexes WHERE digest = ?", digest):
            self.blobs.delete(digest)

    def set_digest(self, image_id: str, name: str, digest: str) -> None:
        """Record ``name@digest``: the manifest digest a registry knows the image by (RepoDigests)."""
        self._set_tag(image_id, parse_reference(f"{name}@{digest}"))

    def load(self, stream: BinaryIO) -> list[str]:
        """Load a docker-archive or OCI layout; the references loaded (IDs for untagged images).

        A corrupt archive raises InvalidArgument and leaves the store as it was.
        """
        with (
            self.leases.hold(),
            tempfile.TemporaryDirectory(prefix="load-", dir=self.blobs.tmp) as work,
        ):
            archive.unpack(stream, Path(work))
            images = archive.images_in(Path(work))
            for image in images:  # check every tag before loading anything
                for tag in image.tags:
                    repo_tag(tag)
            loaded: list[str] = []
            for image in images:
                loaded.extend(self._load_image(image))
        return loaded

    def _load_image(self, image: archive.LoadedImage) -> list[str]:
        try:
            config = json_object(image.config)
        except ValueError as e:
            raise InvalidArgument(f"invalid image archive: image config: {e}") from None
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        if len(diff_ids) != len(image.layers):
            raise InvalidArgument("invalid image archive: config and layers do not agree")
        layers: list[Layer] = []
        try:
            for file, diff_id in zip(image.layers, diff_ids, strict=True):
                below = layers[-1].chain_id if layers else ""
                if file.digest:
                    blob = LayerBlob(file.digest, file.media_type, file.size)
                    layers.append(self.layers.register_blob(file.path, blob, below))
                else:
                    with file.path.open("rb") as f:
                        layers.append(self.layers.register(f, below))
                if layers[-1].diff_id != diff_id:
                    raise InvalidArgument(
                        f"invalid image archive: layer {diff_id} has the digest {layers[-1].diff_id}"
                    )
            try:
                image_id = self.add_received(image.config, layers, image.manifest)
            except InvalidArgument as e:
                raise InvalidArgument(f"invalid image archive: {e.message}") from None
            for tag in image.tags:
                self._set_tag(image_id, repo_tag(tag))
                self._publish("tag", image_id, str(repo_tag(tag)))
        except BaseException:
            for layer in reversed(layers):
                self._discard_unused(layer)
            raise
        self.events.publish("image", "load", image_id, {"name": image_id})
        return [str(repo_tag(tag)) for tag in image.tags] or [image_id]

    # ------------------------------------------------------------------ resolve

    def resolve(self, name: str) -> Image:
        """The image ``name`` refers to: a tag, a repository (:latest), a full ID or an ID prefix."""
        image_id = self._find(name)
        row = self.metadata.query("SELECT * FROM images WHERE id = ?", image_id)[0]
        config = self._config(image_id)
        chain = chain_ids(list(config.get("rootfs", {}).get("diff_ids") or []))
        return Image(
            id=image_id,
            config=config,
            chain=chain,
            created=row["created"],
            size=row["size"],
            parent=row["parent"],
            lowerdirs=self.layers.lowerdirs(chain[-1]) if chain else [],
        )

    def id_of(self, name: str) -> str:
        """The ID of the image ``name`` refers to (NotFound, InvalidArgument as ``resolve``)."""
        return self._find(name)

    def _find(self, name: str) -> str:
        """The ID of the image ``name`` refers to, looked up the way moby's GetImage does."""
        parsed = parse_any(name)
        if isinstance(parsed, str):
            if self._exists(parsed):
                return parsed
            raise NotFound(f"No such image: {parsed}")
        ref = parsed.with_default_tag()
        rows = self.metadata.query("SELECT image_id FROM refs WHERE name = ?", str(ref))
        if rows:
            return str(rows[0]["image_id"])
        found = self._search_prefix(name)
        if found:
            return found
        raise NotFound(f"No such image: {ref}")

    def _search_prefix(self, name: str) -> str | None:
        """The one image whose ID starts with ``name`` (hex, optionally ``sha256:``-prefixed)."""
        prefix = "sha256:" + name.removeprefix("sha256:")
        if not all(c in "0123456789abcdef" for c in prefix[7:]):
            return None
        rows = self.metadata.query(
            "SELECT id FROM images WHERE substr(id, 1, ?) = ? LIMIT 2", len(prefix), prefix
        )
        return str(rows[0]["id"]) if len(rows) == 1 else None

    def _exists(self, image_id: str) -> bool:
        return bool(self.metadata.query("SELECT 1 FROM images WHERE id = ?", image_id))

    def _config(self, image_id: str) -> dict[str, Any]:
        with self.blobs.open(image_id) as f:
            config: dict[str, Any] = json.load(f)
        return config

    def _refs(self, image_id: str) -> list[Reference]:
        rows = self.metadata.query(
            "SELECT name FROM refs WHERE image_id = ? ORDER BY name", image_id
        )
        return [parse_reference(row["name"]) for row in rows]

    # ------------------------------------------------------------------ views

    def inspect(self, name: str) -> dict[str, Any]:
        """ImageInspect, as API 1.44 shows it."""
        image = self.resolve(name)
        row = self.metadata.query("SELECT last_tagged FROM images WHERE id = ?", image.id)[0]
        refs = self._refs(image.id)
        config = image.config
        history = config.get("history") or []
        result: dict[str, Any] = {
            "Id": image.id,
            "RepoTags": [str(r) for r in refs if r.tag],
            "RepoDigests": [str(r) for r in refs if r.digest],
            "Parent": image.parent,
            "Comment": config.get("comment") or (history[-1].get("comment", "") if history else ""),
            "Created": image.created,
            "Container": config.get("container", ""),
            "ContainerConfig": {**CONFIG_DEFAULTS, **(config.get("container_config") or {})},
            "DockerVersion": config.get("docker_version", ""),
            "Author": config.get("author", ""),
            "Config": {**CONFIG_DEFAULTS, **(config.get("config") or {})},
            "Architecture": config.get("architecture", ""),
            "Os": config.get("os", ""),
            "Size": image.size,
            "GraphDriver": _graph_driver(image.lowerdirs, self.storage_driver),
            "RootFS": {
                "Type": "layers",
                "Layers": list(config.get("rootfs", {}).get("diff_ids") or []),
            },
            "Metadata": {"LastTagTime": row["last_tagged"] or NO_TAG_TIME},
        }
        for key, source in (("Variant", "variant"), ("OsVersion", "os.version")):
            if config.get(source):
                result[key] = config[source]
        return result

    def history(self, name: str) -> list[dict[str, Any]]:
        """HistoryResponseItem for each history entry, newest first."""
        image = self.resolve(name)
        items: list[dict[str, Any]] = []
        layer = 0
        for entry in image.config.get("history") or []:
            size = 0
            if not entry.get("empty_layer") and layer < len(image.chain):
                size = self.layers.size(image.chain[layer])
                layer += 1
            items.insert(0, _history_item(entry, size))
        # Entries take the IDs of the image and then its ancestors, as far as those are known.
        image_id = image.id
        for item in items:
            item["Id"] = image_id
            item["Tags"] = [str(r) for r in self._refs(image_id) if r.tag]
            image_id = self._parent(image_id)
            if not image_id:
                break
        return items

    def _parent(self, image_id: str) -> str:
        rows = self.metadata.query(
            "SELECT p.id FROM images i JOIN images p ON p.id = i.parent WHERE i.id = ?", image_id
        )
        return str(rows[0]["id"]) if rows else ""

    def _time_window(self, wanted: Filters) -> tuple[float, float]:
        """(before, since) from the before/until/since filters, AND-ed like Docker."""
        before = min(
            [_unix(self.resolve(v).created) for v in wanted.get("before")]
            + [parse_timestamp(v) for v in wanted.get("until")],
            default=float("inf"),
        )
        since = max(
            (_unix(self.resolve(v).created) for v in wanted.get("since")), default=float("-inf")
        )
        return before, since

    def _all_refs(self) -> dict[str, list[Reference]]:
        refs: dict[str, list[Reference]] = {}
        for row in self.metadata.query("SELECT name, image_id FROM refs ORDER BY name"):
            refs.setdefault(row["image_id"], []).append(parse_reference(row["name"]))
        return refs

    # ------------------------------------------------------------------ tag

    def tag(self, source: str, repo: str, tag: str | None) -> None:
        """Tag the image ``source`` as ``repo:tag`` (tag defaults to latest)."""
        ref = repo_tag(repo, tag)
        if ref.familiar_name == "sha256":
            raise InvalidArgument(
                "refusing to create an ambiguous tag using digest algorithm as name"
            )
        image_id = self._find(source)
        self._set_tag(image_id, ref)
        self._publish("tag", image_id, str(ref))

    def _set_tag(self, image_id: str, ref: Reference) -> None:
        with self.metadata.transaction() as db:
            db.execute(
                "INSERT INTO refs (name, image_id) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
                (str(ref), image_id),
            )
            db.execute(
                "UPDATE images SET last_tagged = ? WHERE id = ?",
                (rfc3339_nano(time.time_ns()), image_id),
            )

    # ------------------------------------------------------------------ remove

    async def remove(
        self, name: str, force: bool = False, noprune: bool = False
    ) -> list[dict[str, str]]:
        """Untag ``name``, and delete the image when nothing else refers to it (docker rmi).

        The rows go on the event loop, as a ``create`` resolves an image there: none
        can start from an image half deleted. The freed layers' files go in a worker."""
        removal = _Removal()
        with self.metadata.transaction():
            self._remove(name, force, not noprune, removal)
        await self._finish(removal)
        return removal.records

    def _remove(self, name: str, force: bool, prune: bool, removal: _Removal) -> None:
        image_id = self._find(name)
        refs = self._refs(image_id)
        if _is_id_prefix(image_id, name):
            if _single_reference(refs):
                checks = _Check.HARD if force else _Check.HARD | _Check.STOPPED
                conflict = self._conflict(image_id, checks)
                if conflict:
                    raise conflict.error()
                for ref in refs:
                    self._untag(image_id, ref, removal)
            self._delete(image_id, removal, force=force, prune=prune, quiet=False)
            return
        if not force and _single_reference(refs):
            users = self.in_use(image_id)
            if users:
                raise Conflict(
                    f'conflict: unable to remove repository reference "{name}" (must force)'
                    f" - container {users[0][0][:12]} is using its referenced image"
                    f" {_short(image_id)}"
                )
            if self.building(image_id):
                raise Conflict(
                    f'conflict: unable to remove repository reference "{name}" (must force)'
                    f" - a running build is using its referenced image {_short(image_id)}"
                )
        ref = parse_reference(name).with_default_tag()
        self._untag(image_id, ref, removal)
        remaining = self._refs(image_id)
        if not ref.digest and not any(r.name == ref.name and not r.digest for r in remaining):
            # The last tag of a repository takes that repository's digest references with it.
            for other in remaining:
                if other.digest and other.name == ref.name:
                    self._untag(image_id, other, removal)
            remaining = self._refs(image_id)
        if not remaining:
            self._delete(image_id, removal, force=force, prune=prune, quiet=True)

    def _delete(
        self, image_id: str, removal: _Removal, *, force: bool, prune: bool, quiet: bool
    ) -> None:
        """Delete an image and, with ``prune``, its untagged unused ancestors (imageDeleteHelper).

        ``quiet``: a conflict leaves the image in place without an error,
        unless the image is dangling and no container uses it. Ancestors are
        walked in a loop: an image may have thousands of them (one per build step).
        """
        while image_id:
            conflict = self._conflict(image_id, _Check.HARD if force else _Check.HARD | _Check.SOFT)
            if conflict:
                if quiet and (not self._dangling(image_id) or conflict.used):
                    return
                raise conflict.error()
            parent = self._parent(image_id)
            self._delete_one(image_id, removal)
            image_id = parent if prune else ""
            force, quiet = False, True

    def _delete_one(self, image_id: str, removal: _Removal) -> None:
        for ref in self._refs(image_id):
            self._untag(image_id, ref, removal)
        row = self.metadata.query("SELECT manifest FROM images WHERE id = ?", image_id)[0]
        chain = chain_ids(list(self._config(image_id).get("rootfs", {}).get("diff_ids") or []))
        index = self.metadata.query("SELECT digest FROM image_indexes WHERE image_id = ?", image_id)
        with self.metadata.transaction() as db:
            db.execute("DELETE FROM image_indexes WHERE image_id = ?", (image_id,))
            db.execute("DELETE FROM images WHERE id = ?", (image_id,))
            db.execute("DELETE FROM build_cache WHERE image_id = ?", (image_id,))
            dropped = self.layers.release(chain)
        removal.indexes.extend(row["digest"] for row in index)
        removal.records.append({"Deleted": image_id})
        removal.records.extend({"Deleted": layer.chain_id} for layer in dropped)
        removal.events.append(("delete", image_id, {"name": image_id}))
        removal.layers.extend(dropped)
        removal.blobs.extend(d for d in (image_id, row["manifest"]) if d)

    def _conflict(self, image_id: str, checks: _Check) -> _DeleteConflict | None:
        """Why ``image_id`` cannot be deleted, of the reasons in ``checks`` (checkImageDeleteConflict)."""
        if _Check.CHILD in checks and self.metadata.query(
            "SELECT 1 FROM images WHERE parent = ?", image_id
        ):
            return _DeleteConflict(image_id, True, False, "image has dependent child images")
        if self.building(image_id):
            return _DeleteConflict(image_id, True, True, "image is being used by a running build")
        users = self.in_use(image_id)
        running = [cid for cid, up in users if up]
        if _Check.RUNNING in checks and running:
            reason = f"image is being used by running container {running[0][:12]}"
            return _DeleteConflict(image_id, True, True, reason)
        if _Check.TAGS in checks and self._refs(image_id):
            reason = "image is referenced in multiple repositories"
            return _DeleteConflict(image_id, False, False, reason)
        stopped = [cid for cid, up in users if not up]
        if _Check.STOPPED in checks and stopped:
            reason = f"image is being used by stopped container {stopped[0][:12]}"
            return _DeleteConflict(image_id, False, True, reason)
        return None

    def descendants(self, image_id: str) -> set[str]:
        """The image and every image built on it, at any depth (what `ps --filter ancestor` takes)."""
        found: set[str] = set()
        todo = [image_id]
        while todo:
            current = todo.pop()
            if current not in found:
                found.add(current)
                rows = self.metadata.query("SELECT id FROM images WHERE parent = ?", current)
                todo += [row["id"] for row in rows]
        return found

    def _dangling(self, image_id: str) -> bool:
        return not self._refs(image_id) and not self.metadata.query(
            "SELECT 1 FROM images WHERE parent = ?", image_id
        )

    def _untag(self, image_id: str, ref: Reference, removal: _Removal) -> None:
        with self.metadata.transaction() as db:
            db.execute("DELETE FROM refs WHERE name = ?", (str(ref),))
        removal.records.append({"Untagged": str(ref)})
        # moby names the image, not the reference, in an untag event.
        removal.events.append(("untag", image_id, self._event_attributes(image_id, image_id)))

    async def _finish(self, removal: _Removal) -> None:
        """After the removal's transaction: move aside the layer directories it freed,
        delete its blobs and announce it, on the loop; then delete those directories in a
        worker (a layer tree may hold many files)."""
        trash = self.layers.retire(removal.layers)
        for digest in removal.blobs:
            self.blobs.delete(digest)
        for digest in removal.indexes:
            self._delete_unused_index(digest)
        for action, image_id, attributes in removal.events:
            self.events.publish("image", action, image_id, attributes)
        await asyncio.to_thread(shutil.rmtree, trash, True)

    # ------------------------------------------------------------------ prune

    async def prune(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """Delete dangling images (all unused ones with dangling=false); ImagePruneResponse."""
        wanted = Filters(filters or {}, PRUNE_FILTERS)
        dangling_only = wanted.boolean("dangling", default=True)
        for value in wanted.get("until"):
            parse_timestamp(value)  # refuse a bad value before deleting anything
        deleted: list[dict[str, str]] = []
        reclaimed = 0
        for names in self._prune_candidates(wanted, dangling_only):
            for name in names:
                try:
                    removal = _Removal()
                    with self.metadata.transaction():
                        self._remove(name, False, True, removal)
                except (Conflict, NotFound):
                    continue  # in use, or already gone with an image pruned before it
                await self._finish(removal)
                deleted.extend(removal.records)
                reclaimed += sum(layer.size for layer in removal.layers)
        self.events.publish("image", "prune", "", {"reclaimed": str(reclaimed)})
        return {"ImagesDeleted": deleted, "SpaceReclaimed": reclaimed}

    def _prune_candidates(self, wanted: Filters, dangling_only: bool) -> list[list[str]]:
        """For each image the prune may delete, the names to remove it by."""
        rows = self.metadata.query("SELECT id, created, parent FROM images ORDER BY created DESC")
        parents = {row["parent"] for row in rows if row["parent"]}
        refs = self._all_refs()
        candidates: list[list[str]] = []
        for row in rows:
            names = refs.get(row["id"], [])
            if row["id"] in parents and (dangling_only or not names):
                continue  # an intermediate image goes with its child, not alone
            if not _before_until(wanted, row["created"]):
                continue
            if not wanted.match_labels(
                (self._config(row["id"]).get("config") or {}).get("Labels") or {}
            ):
                continue
            if not names:
                candidates.append([row["id"].removeprefix("sha256:")])
            elif not dangling_only or not any(r.tag for r in names):
                candidates.append([str(r) for r in names])
        return candidates

    def _publish(self, action: str, image_id: str, name: str) -> None:
        self.events.publish("image", action, image_id, self._event_attributes(image_id, name))

    def _event_attributes(self, image_id: str, name: str) -> dict[str, str]:
        """An image event's attributes: the image's labels and ``name`` (LogImageEvent)."""
        labels = (self._config(image_id).get("config") or {}).get("Labels") or {}
        return {**labels, "name": name}

    def list(
        self, all: bool = False, filters: dict[str, list[str]] | None = None, digests: bool = False
    ) -> list[dict[str, Any]]:
        """ImageSummary of each image, newest first.

        ``digests`` is the API's query parameter; like Docker, RepoDigests is
        filled whether or not it is set.
        """
        wanted = Filters(filters or {}, LIST_FILTERS)
        before, since = self._time_window(wanted)
        query = _ListQuery(wanted, all, wanted.boolean("dangling", default=False), before, since)
        rows = self.metadata.query("SELECT id, created, size, parent FROM images")
        parents = {row["parent"] for row in rows if row["parent"]}
        refs = self._all_refs()
        listed: list[tuple[float, dict[str, Any]]] = []
        for row in rows:
            created, has_children = _unix(row["created"]), row["id"] in parents
            if not query.in_window(created, has_children):
                continue
            labels = (self._config(row["id"]).get("config") or {}).get("Labels") or {}
            names = query.matching(refs.get(row["id"], []))
            if wanted.match_labels(labels) and query.shows(names, has_children):
                listed.append((created, _summary(row, created, names, labels)))
        listed.sort(key=lambda item: item[0], reverse=True)
        return [summary for _, summary in listed]


@dataclass(frozen=True)
class _ListQuery:
    """Which images ``docker images`` shows, after moby's daemon/images/image_list.go."""

    wanted: Filters
    all: bool
    dangling_only: bool
    before: float
    since: float

    def in_window(self, created: float, has_children: bool) -> bool:
        if self.dangling_only and has_children:
            return False
        return self.before > created > self.since

    def matching(self, names: list[Reference]) -> list[Reference]:
        """The references the ``reference`` filter keeps (all when there is none)."""
        patterns = self.wanted.get("reference")
        if not patterns:
            return names
        return [r for r in names if any(familiar_match(p, r) for p in patterns)]

    def shows(self, names: list[Reference], has_children: bool) -> bool:
        if names:
            return not (self.dangling_only and any(r.tag for r in names))
        if has_children and not self.all:
            return False  # an untagged parent is an intermediate image: only -a shows it
        dangling_false = "dangling" in self.wanted and not self.dangling_only
        return not dangling_false and "reference" not in self.wanted


def _checked_chain(config: dict[str, Any], layers: list[Layer]) -> list[str]:
    """The layers' chain IDs, after checking they stack and match the history."""
    chain = chain_ids([layer.diff_id for layer in layers])
    if chain != [layer.chain_id for layer in layers]:
        raise InvalidArgument("the layers of an image must each stand on the one before")
    history = config.get("history") or []
    non_empty = sum(1 for entry in history if not entry.get("empty_layer"))
    if history and non_empty != len(layers):
        raise InvalidArgument(
            f"image history has {non_empty} non-empty entries for {len(layers)} layers"
        )
    return chain


def _unix(created: str) -> float:
    """Seconds since the epoch of an RFC 3339 time with up to nanoseconds (0 when malformed)."""
    try:
        return parse_rfc3339(created)
    except ValueError:
        return 0.0


def _before_until(wanted: Filters, created: str) -> bool:
    return all(_unix(created) < parse_timestamp(v) for v in wanted.get("until"))


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _is_id_prefix(image_id: str, name: str) -> bool:
    return image_id.startswith(name) or image_id.removeprefix("sha256:").startswith(name)


def _single_reference(refs: list[Reference]) -> bool:
    """All references in one repository, and at most one of them a tag (isSingleReference)."""
    if len(refs) <= 1:
        return len(refs) == 1
    tagged = [r for r in refs if not r.digest]
    if len(tagged) > 1:
        return False
    canonical = {r.name for r in refs if r.digest}
    single = tagged[0] if tagged else refs[0]
    return len(canonical) == 1 and single.name in canonical


def _summary(
    row: sqlite3.Row, created: float, names: list[Reference], labels: dict[str, str]
) -> dict[str, Any]:
    return {
        "Containers": -1,
        "Created": int(created),
        "Id": row["id"],
        "Labels": labels or None,  # moby copies the config's map: null when there is none
        "ParentId": row["parent"],
        "RepoDigests": [str(r) for r in names if r.digest],
        "RepoTags": [str(r) for r in names if r.tag],
        "SharedSize": -1,
        "Size": row["size"],
    }


def _history_item(entry: dict[str, Any], size: int) -> dict[str, Any]:
    return {
        "Id": "<missing>",
        "Created": int(_unix(entry["created"])) if entry.get("created") else 0,
        "CreatedBy": entry.get("created_by", ""),
        "Tags": [],
        "Size": size,
        "Comment": entry.get("comment", ""),
    }


def _graph_driver(lowerdirs: list[Path], name: str) -> dict[str, Any]:
    if not lowerdirs:
        return {"Name": name, "Data": None}
    data = {"UpperDir": str(lowerdirs[0])}
    if len(lowerdirs) > 1:
        data["LowerDir"] = ":".join(str(p) for p in lowerdirs[1:])
    return {"Name": name, "Data": data}
