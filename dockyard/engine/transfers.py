"""Pull, push and login: the engine's dealings with OCI distribution registries.

Both are synchronous (api/ runs them in a thread) and report progress through
``emit`` with the JSON messages of Docker's pull and push streams.

A pulled image keeps its config and manifest as the registry sent them, and
its layers' compressed blobs beside the unpacked layers, so pushing it again
sends the very same manifest. A local image is pushed with its layers
compressed (gzip, or zstd on request) the same way every time, so its digest
is the same on every push. A pulled layer may be a plain, gzip, zstd, bzip2
or xz tar; each is checked against its digest as it arrives and against the
config's DiffID once unpacked.

Which endpoints a registry is tried at (Docker Hub's mirrors first, then the Hub)
is ``distribution.endpoints``'; a pull falls back to the next endpoint when one
fails before the manifest is in hand, as moby's does.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from dockyard import platforms
from dockyard.daemonconfig import RegistrySettings
from dockyard.distribution import endpoints, progress
from dockyard.distribution.archive import pick_platform
from dockyard.distribution.registry import (
    DOCKER_MANIFEST,
    INDEX_TYPES,
    OCI_MANIFEST,
    Credentials,
    Manifest,
    Registry,
)
from dockyard.distribution.spool import Spool, SpoolClosed
from dockyard.engine.images import ImageService
from dockyard.errors import DockyardError, InvalidArgument, NotFound
from dockyard.jsondoc import json_object
from dockyard.platforms import Platform
from dockyard.store import compression
from dockyard.store.layers import Layer, LayerBlob, StagedLayer, chain_ids
from dockyard.store.reference import Reference
from dockyard.store.reference import parse as parse_reference

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, Any]], None]
T = TypeVar("T")
# Blobs up to this size go up in one PUT; bigger ones in PATCH chunks of this size.
UPLOAD_CHUNK = 16 << 20


def credentials(auth: dict[str, Any]) -> Credentials | None:
    """The credentials of a decoded X-Registry-Auth (username and password), if any."""
    if not auth.get("username"):
        return None
    return Credentials(str(auth["username"]), str(auth.get("password") or ""))


class TransferService:
    def __init__(
        self,
        images: ImageService,
        registries: RegistrySettings,
        max_concurrent_downloads: int = 3,
        max_concurrent_uploads: int = 5,
    ) -> None:
        self.images = images
        self.registries = registries  # replaced when the daemon reloads its configuration
        # dockerd's defaults: how many layers of one pull (push) move at a time.
        self.max_concurrent_downloads = max_concurrent_downloads
        self.max_concurrent_uploads = max_concurrent_uploads

    # ------------------------------------------------------------------ pull

    def pull(
        self,
        reference: str,
        emit: Emit,
        credentials: Credentials | None = None,
        platform: Platform | None = None,
    ) -> str:
        """Pull ``reference`` (a tag, latest by default, or a digest) for ``platform``
        (this machine's by default); the image ID.

        The config and manifest are kept as received, the layers' compressed
        blobs beside the unpacked layers, and ``name@digest`` records the
        digest the registry gave (that of the index, for a multi-platform name).
        """
        ref = parse_reference(reference).with_default_tag()
        registry, top = self._find_manifest(ref, credentials)
        emit({"status": f"Pulling from {ref.path}", "id": ref.digest or ref.tag})
        manifest = top
        if top.media_type in INDEX_TYPES:
            chosen = pick_platform(top.json(), platform)
            manifest = registry.get_manifest(ref.path, str(chosen["digest"]))
        document = manifest.json()
        config_bytes = io.BytesIO()
        registry.download_blob(ref.path, str(document["config"]["digest"]), config_bytes)
        config = _json_object(config_bytes.getvalue(), ref)
        if platform is not None and not platforms.matches(platform, platforms.of_image(config)):
            raise NotFound(
                f"image with reference {ref} was found but its platform "
                f"({platforms.of_image(config)}) does not match the specified platform ({platform})"
            )
        before = self._current(ref)
        with self.images.leases.hold():
            layers = self._pull_layers(registry, ref, config, document.get("layers") or [], emit)
            try:
                image_id = self.images.add_received(
                    config_bytes.getvalue(),
                    layers,
                    manifest.data,
                    reference=None if ref.digest else str(ref),
                )
                self.images.set_digest(image_id, ref.name, top.digest)
                if top is not manifest:
                    self.images.set_index(image_id, top.data, f"{ref.domain}/{ref.path}")
            except BaseException:
                self._discard(layers)
                raise
        self.images.events.publish("image", "pull", image_id, {"name": str(ref)})
        emit({"status": f"Digest: {top.digest}"})
        news = "Image is up to date" if before == image_id else "Downloaded newer image"
        emit({"status": f"Status: {news} for {ref}"})
        return image_id

    def _find_manifest(
        self, ref: Reference, credentials: Credentials | None
    ) -> tuple[Registry, Manifest]:
        """The first endpoint that has the manifest, and the manifest; else the last one's error."""

        def attempt(endpoint: endpoints.Endpoint) -> tuple[Registry, Manifest]:
            registry = Registry(endpoint, [f"repository:{ref.path}:pull"], credentials)
            registry.ping()
            return registry, registry.get_manifest(ref.path, ref.digest or ref.tag)

        return _first_success(endpoints.endpoints(ref.domain, self.registries), attempt)

    def open_registry(
        self, domain: str, scopes: list[str], credentials: Credentials | None
    ) -> Registry:
        """The first endpoint of ``domain`` (never a mirror) that answers ``/v2/``."""

        def attempt(endpoint: endpoints.Endpoint) -> Registry:
            registry = Registry(endpoint, scopes, credentials)
            registry.ping()
            return registry

        choices = [e for e in endpoints.endpoints(domain, self.registries) if not e.mirror]
        return _first_success(choices, attempt)

    def _current(self, ref: Reference) -> str:
        try:
            return self.images.resolve(str(ref)).id
        except NotFound:
            return ""

    def _pull_layers(
        self,
        registry: Registry,
        ref: Reference,
        config: dict[str, Any],
        descriptors: list[dict[str, Any]],
        emit: Emit,
    ) -> list[Layer]:
        """The image's layers, base first: those missing downloaded a few at a time
        (max-concurrent-downloads), each unpacked in order as it arrives, and all
        recorded at once when all are unpacked (one flush of the filesystem for all)."""
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        if len(diff_ids) != len(descriptors):
            raise InvalidArgument(
                f"image config of {ref} has {len(diff_ids)} layers, its manifest {len(descriptors)}"
            )
        emit = _serialized(emit)  # the downloads report from their own threads
        chains = chain_ids(diff_ids)
        wanted = [not self._have(chain, d) for chain, d in zip(chains, descriptors, strict=True)]
        for descriptor, want in zip(descriptors, wanted, strict=True):
            status = "Pulling fs layer" if want else "Already exists"
            emit(progress.message(status, _short(descriptor)))
        downloads: dict[int, _Download] = {}
        staged: dict[int, StagedLayer] = {}
        layers: list[Layer] = []  # once committed
        pool = ThreadPoolExecutor(self.max_concurrent_downloads, thread_name_prefix="download")
        try:
            for i, descriptor in enumerate(descriptors):
                if wanted[i]:
                    if len(downloads) >= self.max_concurrent_downloads:
                        emit(progress.message("Waiting", _short(descriptor)))
                    downloads[i] = self._start_download(pool, registry, ref, descriptor, emit)
            for i, download in downloads.items():
                parent = chains[i - 1] if i else ""
                staged[i] = self._unpack_layer(download, descriptors[i], parent, emit)
                if staged[i].layer.diff_id != diff_ids[i]:
                    raise InvalidArgument(
                        f"layer {_short(descriptors[i])} of {ref} does not match its DiffID"
                    )
                emit(progress.message("Pull complete", _short(descriptors[i])))
            # One flush of the filesystem for every layer, and their rows in one go.
            stored = self.images.layers.commit(list(staged.values()))
            committed = dict(zip(staged, stored, strict=True))
            layers = [committed.get(i) or self.images.layers.get(c) for i, c in enumerate(chains)]
            self.images.layers.keep_all(
                [
                    (download.spool.path, _pulled_blob(ref, descriptors[i], committed[i]))
                    for i, download in downloads.items()
                    if str(descriptors[i]["digest"]) != committed[i].diff_id  # compressed
                ]
            )
        except BaseException:
            for download in downloads.values():
                download.spool.abandon()  # each stops at its next write
            for layer in staged.values():
                layer.discard()
            self._discard(layers)
            raise
        finally:
            pool.shutdown(cancel_futures=True)
            for download in downloads.values():
                download.spool.release()
                download.spool.path.unlink(missing_ok=True)
        return layers

    def _have(self, chain: str, descriptor: dict[str, Any]) -> bool:
        """Whether the layer is stored, with the very blob the manifest names (to push it)."""
        digest = str(descriptor["digest"])
        if not self.images.layers.exists(chain):
            return False
        return digest == self.images.layers.get(chain).diff_id or bool(
            self.images.layers.kept_blob(digest)
        )

    def _start_download(
        self,
        pool: ThreadPoolExecutor,
        registry: Registry,
        ref: Reference,
        descriptor: dict[str, Any],
        emit: Emit,
    ) -> _Download:
        """The layer's blob downloading into a spool, verified before its end is written."""
        digest, short = str(descriptor["digest"]), _short(descriptor)
        size = int(descriptor.get("size") or 0)
        spool = Spool(self.images.blobs.temp_file("pull-"))

        def download() -> None:
            try:
                meter = progress.Meter(emit, "Downloading", short, size)
                registry.download_blob(ref.path, digest, spool, meter)
                emit(progress.message("Verifying Checksum", short))
                emit(progress.message("Download complete", short))
            except BaseException:
                spool.fail()
                raise
            spool.close()

        return _Download(spool, pool.submit(download))

    def _unpack_layer(
        self, download: _Download, descriptor: dict[str, Any], parent: str, emit: Emit
    ) -> StagedLayer:
        """Unpack a layer on the chain ``parent`` as its download arrives (staged: recorded
        with the others)."""
        size = int(descriptor.get("size") or 0)
        try:
            staged = self.images.layers.stage(download.spool, parent)
        except BaseException as e:
            download.spool.abandon()
            if isinstance(e, SpoolClosed):  # the download failed: its own error, once it ends
                raise download.done.exception() or e from None
            raise
        download.done.result()  # no error: the download closed the spool
        emit(progress.message("Extracting", _short(descriptor), size, size))
        return staged

    def _discard(self, layers: list[Layer]) -> None:
        """Remove the layers a failed pull registered (those no image holds)."""
        for layer in reversed(layers):
            with contextlib.suppress(DockyardError):
                self.images.layers.remove(layer.chain_id)

    # ------------------------------------------------------------------ login

    def login(self, server_address: str, username: str, password: str) -> str:
        """Check the credentials with the registry at ``server_address``; moby's POST /auth.

        The answer is the identity token, which plain registries never issue ("").
        """
        address = server_address or "https://index.docker.io/v1/"
        if "://" not in address:
            address = "https://" + address
        domain = urlsplit(address).netloc
        if not domain:
            raise InvalidArgument(f"unable to parse server address: {server_address}")
        given = Credentials(username, password) if username else None
        choices = [e for e in endpoints.endpoints(domain, self.registries) if not e.mirror]
        _first_success(choices, lambda endpoint: Registry(endpoint, [], given).login())
        return ""

    # ------------------------------------------------------------------ push

    def push(
        self,
        name: str,
        tag: str,
        emit: Emit,
        credentials: Credentials | None = None,
        compression_algorithm: str = "",
    ) -> str:
        """Push the local image ``name:tag`` to its registry; the manifest's digest.

        The image goes as its manifest has it when that names compressed
        layers (a pulled image: the same digest as where it came from), and
        ``compression_algorithm`` (gzip by default) is not asked otherwise.
        Else its layers are compressed, the same way each time.
        """
        algorithm = compression.checked(compression_algorithm) if compression_algorithm else ""
        ref = parse_reference(f"{name}:{tag}" if tag else name).with_default_tag()
        try:
            image = self.images.resolve(str(ref))
        except NotFound:
            raise NotFound(f"An image does not exist locally with the tag: {name}") from None
        emit({"status": f"The push refers to repository [{ref.name}]"})
        # Every line about a layer names it by its DiffID, as moby's push does, so that a
        # client's progress view keeps one line per layer.
        diff_ids = (image.config.get("rootfs") or {}).get("diff_ids") or []
        layer_ids = [_short_digest(str(d)) for d in diff_ids]
        for layer_id in reversed(layer_ids):
            emit(progress.message("Preparing", layer_id))
        manifest, blobs = self._manifest_to_push(image.id, algorithm)
        sources = self._mount_sources(image.id, ref, blobs)
        index = self._index_to_push(image.id, ref, manifest)
        paths = set(sources.values()) | ({index[1]} if index else set())
        scopes = [f"repository:{ref.path}:pull,push"]
        scopes += [f"repository:{path}:pull" for path in sorted(paths)]
        registry = self.open_registry(ref.domain, scopes, credentials)
        named = list(reversed(list(zip(blobs, layer_ids, strict=True))))
        self._push_layers(registry, ref.path, named, sources, emit)
        config = LayerBlob(image.id, "", self.images.blobs.size(image.id))
        self._push_blob(registry, ref.path, config, "", sources.get(image.id, ""), None)
        top = manifest
        if index and self._push_platforms(registry, ref.path, index, manifest):
            registry.put_manifest(ref.path, manifest.digest, manifest)
            top = index[0]
        registry.put_manifest(ref.path, ref.tag, top)
        self.images.set_digest(image.id, ref.name, top.digest)
        size = len(top.data)
        emit({"status": f"{ref.tag}: digest: {top.digest} size: {size}"})
        emit({"progressDetail": {}, "aux": {"Tag": ref.tag, "Digest": top.digest, "Size": size}})
        self.images.events.publish("image", "push", image.id, {"name": str(ref)})
        return top.digest

    def _index_to_push(
        self, image_id: str, ref: Reference, manifest: Manifest
    ) -> tuple[Manifest, str] | None:
        """The index the image was pulled through, and the repository it came from, when it
        can go along: from the same registry, and naming the manifest being pushed."""
        kept = self.images.index(image_id)
        if kept is None:
            return None
        data, source = kept
        domain, _, path = source.partition("/")
        index = Manifest(data, "", "sha256:" + hashlib.sha256(data).hexdigest())
        document = index.json()
        entries = [d for d in document.get("manifests") or [] if isinstance(d, dict)]
        if domain != ref.domain or manifest.digest not in {d.get("digest") for d in entries}:
            return None
        media_type = str(document.get("mediaType") or INDEX_TYPES[0])
        return Manifest(data, media_type, index.digest), path

    def _push_platforms(
        self, registry: Registry, repo: str, index: tuple[Manifest, str], ours: Manifest
    ) -> bool:
        """Copy the index's other platforms from its repository (blobs mounted, manifests
        put by digest); False when one of them is not there any more."""
        document, source = index[0].json(), index[1]
        for entry in document.get("manifests") or []:
            digest = str(entry.get("digest"))
            if digest == ours.digest:
                continue
            try:
                other = registry.get_manifest(source, digest)
            except NotFound:
                return False
            described = other.json()
            for blob in [described.get("config") or {}, *(described.get("layers") or [])]:
                blob_digest = str(blob.get("digest"))
                if registry.blob_exists(repo, blob_digest):
                    continue
                if registry.mount_blob(repo, blob_digest, source) is not None:
                    return False  # not in the source repository either
            registry.put_manifest(repo, digest, other)
        return True

    def _manifest_to_push(self, image_id: str, algorithm: str) -> tuple[Manifest, list[LayerBlob]]:
        """The manifest to send and its layer blobs, base first."""
        digest, document = self.images.manifest(image_id)
        descriptors = document.get("layers") or []
        kept = [self.images.layers.kept_blob(str(d["digest"])) for d in descriptors]
        types = {compression.algorithm_of(str(d.get("mediaType"))) for d in descriptors}
        if all(kept) and types <= {algorithm or "gzip", algorithm or "zstd"}:
            with self.images.blobs.open(digest) as f:
                data = f.read()
            media_type = str(document.get("mediaType") or OCI_MANIFEST)
            return Manifest(data, media_type, digest), [b for b in kept if b]
        chosen = algorithm or compression.GZIP
        # Docker's schema 2 for gzip (as Docker pushes, indented as it writes them), OCI's
        # for zstd (which schema 2 has no type for).
        oci = chosen == compression.ZSTD
        data, blobs = self.images.compressed_manifest(image_id, chosen, oci, 3)
        media_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
        return Manifest(data, media_type, "sha256:" + hashlib.sha256(data).hexdigest()), blobs

    def _mount_sources(
        self, image_id: str, ref: Reference, blobs: list[LayerBlob]
    ) -> dict[str, str]:
        """For each blob, another repository of the same registry that has it: where it
        was pulled from, or else one the image is tagged or pushed in."""
        inspected = self.images.inspect(image_id)
        names = [parse_reference(r) for r in inspected["RepoTags"] + inspected["RepoDigests"]]
        siblings = sorted({r.path for r in names if r.domain == ref.domain and r.path != ref.path})
        sources: dict[str, str] = {}
        for blob in [*blobs, LayerBlob(image_id, "", 0)]:
            domain, _, path = blob.source.partition("/")
            if domain == ref.domain and path and path != ref.path:
                sources[blob.digest] = path
            elif siblings:
                sources[blob.digest] = siblings[0]
        return sources

    def _push_layers(
        self,
        registry: Registry,
        repo: str,
        blobs: list[tuple[LayerBlob, str]],
        sources: dict[str, str],
        emit: Emit,
    ) -> None:
        """Make the layer blobs, each with its name in progress messages, present in
        ``repo``, a few at a time (max-concurrent-uploads)."""
        emit = _serialized(emit)  # the uploads report from their own threads

        def push(blob: LayerBlob, layer_id: str) -> None:
            source = sources.get(blob.digest, "")
            emit(self._push_blob(registry, repo, blob, layer_id, source, emit))

        pool = ThreadPoolExecutor(self.max_concurrent_uploads, thread_name_prefix="upload")
        try:
            pushes: list[Future[None]] = []
            for blob, layer_id in blobs:
                if len(pushes) >= self.max_concurrent_uploads:
                    emit(progress.message("Waiting", layer_id))
                pushes.append(pool.submit(push, blob, layer_id))
            for pushed in pushes:
                pushed.result()  # the first layer's error that failed, in order
        finally:
            pool.shutdown(cancel_futures=True)

    def _push_blob(
        self,
        registry: Registry,
        repo: str,
        blob: LayerBlob,
        short: str,
        source: str,
        emit: Emit | None,
    ) -> dict[str, Any]:
        """Make ``blob`` present in ``repo``: already there, mounted, or uploaded (``short``:
        its name in progress messages)."""
        if registry.blob_exists(repo, blob.digest):
            return progress.message("Layer already exists", short)
        if source:
            # A 202 instead of a mount (the blob is not there either) opens an upload anyway.
            location = registry.mount_blob(repo, blob.digest, source)
            if location is None:
                return progress.message(f"Mounted from {source}", short)
        else:
            location = registry.start_upload(repo)
        path: Path = self.images.blobs.path(blob.digest)
        size = path.stat().st_size
        chunk = UPLOAD_CHUNK if size > UPLOAD_CHUNK else 0
        meter = progress.Meter(emit, "Pushing", short, size) if emit else None
        registry.upload_blob(location, blob.digest, path, chunk, meter)
        return progress.message("Pushed", short)


@dataclass(frozen=True)
class _Download:
    spool: Spool  # the blob's file, as it arrives
    done: Future[None]


def _serialized(emit: Emit) -> Emit:
    """``emit`` called by one thread at a time."""
    lock = threading.Lock()

    def locked(message: dict[str, Any]) -> None:
        with lock:
            emit(message)

    return locked


def _pulled_blob(ref: Reference, descriptor: dict[str, Any], layer: Layer) -> LayerBlob:
    """What the store keeps of a layer's compressed blob (for a push, or a mount)."""
    return LayerBlob(
        str(descriptor["digest"]),
        str(descriptor.get("mediaType") or ""),
        int(descriptor.get("size") or 0),
        layer.diff_id,
        f"{ref.domain}/{ref.path}",
    )


def _json_object(data: bytes, ref: Reference) -> dict[str, Any]:
    try:
        return json_object(data)
    except ValueError as e:
        raise InvalidArgument(f"image config of {ref}: {e}") from None


def _first_success(
    choices: list[endpoints.Endpoint], attempt: Callable[[endpoints.Endpoint], T]
) -> T:
    """``attempt`` at each endpoint in turn until one succeeds; the last one's error stands."""
    for endpoint in choices[:-1]:
        try:
            return attempt(endpoint)
        except DockyardError as e:
            log.info("Attempting next endpoint after error at %s: %s", endpoint.url, e.message)
    return attempt(choices[-1])


def _short(descriptor: dict[str, Any]) -> str:
    return _short_digest(str(descriptor["digest"]))


def _short_digest(digest: str) -> str:
    """A layer's name in progress messages: its digest's first 12 hex digits."""
    return digest.removeprefix("sha256:")[:12]
