"""Pull, push and login: the engine's dealings with OCI distribution registries.

Both are synchronous (api/ runs them in a thread) and report progress through
``emit`` with the JSON messages of Docker's pull and push streams.

A pushed image is its stored manifest as it is: uncompressed layer tars
(``application/vnd.oci.image.layer.v1.tar``), so its digest is the same on
every push. A pulled image's layers may be plain, gzip, bzip2 or xz tars; each is checked against its digest as it arrives and against the
config's DiffID once unpacked.

Which endpoints a registry is tried at (Docker Hub's mirrors first, then the Hub)
is ``distribution.endpoints``'; a pull falls back to the next endpoint when one
fails before the manifest is in hand, as moby's does.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from dockyard.daemonconfig import RegistrySettings
from dockyard.distribution import endpoints
from dockyard.distribution.archive import pick_platform
from dockyard.distribution.registry import INDEX_TYPES, Credentials, Manifest, Registry
from dockyard.engine.images import ImageService
from dockyard.errors import DockyardError, InvalidArgument, NotFound
from dockyard.store.layers import Layer, chain_ids
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
    def __init__(self, images: ImageService, registries: RegistrySettings) -> None:
        self.images = images
        self.registries = registries  # replaced when the daemon reloads its configuration

    # ------------------------------------------------------------------ pull

    def pull(self, reference: str, emit: Emit, credentials: Credentials | None = None) -> str:
        """Pull ``reference`` (a tag, latest by default, or a digest); the image ID."""
        ref = parse_reference(reference).with_default_tag()
        registry, top = self._find_manifest(ref, credentials)
        emit({"status": f"Pulling from {ref.path}", "id": ref.digest or ref.tag})
        manifest = top
        if top.media_type in INDEX_TYPES:
            manifest = registry.get_manifest(ref.path, str(pick_platform(top.json())["digest"]))
        document = manifest.json()
        config_bytes = io.BytesIO()
        registry.download_blob(ref.path, str(document["config"]["digest"]), config_bytes)
        config = json.loads(config_bytes.getvalue())
        before = self._current(ref)
        with self.images.leases.hold():
            layers = self._pull_layers(registry, ref, config, document.get("layers") or [], emit)
            try:
                image_id = self.images.create_image(
                    config, layers, reference=None if ref.digest else str(ref)
                )
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
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        if len(diff_ids) != len(descriptors):
            raise InvalidArgument(
                f"image config of {ref} has {len(diff_ids)} layers, its manifest {len(descriptors)}"
            )
        layers: list[Layer] = []
        try:
            for chain, diff_id, descriptor in zip(
                chain_ids(diff_ids), diff_ids, descriptors, strict=True
            ):
                short = str(descriptor["digest"]).removeprefix("sha256:")[:12]
                if self.images.layers.exists(chain):
                    emit({"status": "Already exists", "progressDetail": {}, "id": short})
                    layers.append(self.images.layers.get(chain))
                    continue
                emit({"status": "Pulling fs layer", "progressDetail": {}, "id": short})
                layer = self._pull_layer(registry, ref.path, str(descriptor["digest"]), layers)
                layers.append(layer)
                if layer.diff_id != diff_id:
                    raise InvalidArgument(f"layer {short} of {ref} does not match its DiffID")
                emit({"status": "Pull complete", "progressDetail": {}, "id": short})
        except BaseException:
            self._discard(layers)
            raise
        return layers

    def _pull_layer(self, registry: Registry, repo: str, digest: str, below: list[Layer]) -> Layer:
        tmp = self.images.blobs.temp_file("pull-")
        try:
            with tmp.open("wb") as out:
                registry.download_blob(repo, digest, out)
            with tmp.open("rb") as f:
                return self.images.layers.register(f, below[-1].chain_id if below else "")
        finally:
            tmp.unlink(missing_ok=True)

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

    def push(self, name: str, tag: str, emit: Emit, credentials: Credentials | None = None) -> str:
        """Push the local image ``name:tag`` to its registry; the manifest's digest."""
        ref = parse_reference(f"{name}:{tag}" if tag else name).with_default_tag()
        try:
            image = self.images.resolve(str(ref))
        except NotFound:
            raise NotFound(f"An image does not exist locally with the tag: {name}") from None
        sources = self._sibling_repos(image.id, ref)
        scopes = [f"repository:{ref.path}:pull,push"]
        scopes += [f"repository:{path}:pull" for path in sources]
        emit({"status": f"The push refers to repository [{ref.name}]"})
        registry = self.open_registry(ref.domain, scopes, credentials)
        manifest = self._stored_manifest(image.id)
        descriptors = manifest.json()["layers"]
        for descriptor in reversed(descriptors):
            emit({"status": "Preparing", "progressDetail": {}, "id": _short(descriptor)})
        for descriptor in reversed(descriptors):
            emit(self._push_blob(registry, ref.path, str(descriptor["digest"]), sources))
        self._push_blob(registry, ref.path, image.id, sources)
        registry.put_manifest(ref.path, ref.tag, manifest)
        size = len(manifest.data)
        emit({"status": f"{ref.tag}: digest: {manifest.digest} size: {size}"})
        emit(
            {
                "progressDetail": {},
                "aux": {"Tag": ref.tag, "Digest": manifest.digest, "Size": size},
            }
        )
        self.images.events.publish("image", "push", image.id, {"name": str(ref)})
        return manifest.digest

    def _sibling_repos(self, image_id: str, ref: Reference) -> list[str]:
        """Other repositories of the same registry that hold this image: blob mount sources."""
        names = [parse_reference(t) for t in self.images.inspect(image_id)["RepoTags"]]
        return sorted({r.path for r in names if r.domain == ref.domain and r.path != ref.path})

    def _stored_manifest(self, image_id: str) -> Manifest:
        rows = self.images.metadata.query("SELECT manifest FROM images WHERE id = ?", image_id)
        digest = str(rows[0]["manifest"])
        with self.images.blobs.open(digest) as f:
            data = f.read()
        return Manifest(data, str(json.loads(data)["mediaType"]), digest)

    def _push_blob(
        self, registry: Registry, repo: str, digest: str, sources: list[str]
    ) -> dict[str, Any]:
        """Make ``digest`` present in ``repo``: already there, mounted, or uploaded."""
        short = digest.removeprefix("sha256:")[:12]
        if registry.blob_exists(repo, digest):
            return {"status": "Layer already exists", "progressDetail": {}, "id": short}
        if sources:
            # A 202 instead of a mount (the blob is not there either) opens an upload anyway.
            location = registry.mount_blob(repo, digest, sources[0])
            if location is None:
                return {"status": f"Mounted from {sources[0]}", "progressDetail": {}, "id": short}
        else:
            location = registry.start_upload(repo)
        path: Path = self.images.blobs.path(digest)
        chunk = UPLOAD_CHUNK if path.stat().st_size > UPLOAD_CHUNK else 0
        registry.upload_blob(location, digest, path, chunk)
        return {"status": "Pushed", "progressDetail": {}, "id": short}


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
    return str(descriptor["digest"]).removeprefix("sha256:")[:12]
