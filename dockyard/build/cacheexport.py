"""Build cache beyond one daemon: ``--cache-to``/``--cache-from`` with ``type=local``,
``type=registry`` and ``type=inline``, the format and the options (docs/build.md).

A cache is an OCI image manifest (so a registry stores it as any image, and a
directory holds it as an OCI image layout): its config is the *records* blob,
``{"records": [{"key", "image", "parent", "inputs"}]}``, a step's cache key
and the image it made; its "layers" are every blob those images need, their
configs (as stored, so that an image made from one has the same ID, and the
next step's key, which names its parent by ID, matches too) and their layer
tars. Keys stay content keys, so ``--explain`` still says why a step missed.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidArgument

CACHE_ARTIFACT = "application/vnd.dockyard.buildcache.v1+json"
CACHE_REF_NAME = "latest"  # the tag of a cache in an OCI layout's index.json
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
_TYPES = {"local", "registry"}
INLINE = "inline"
# The top-level key of an image config that carries its inline cache:
# {"records": [CacheRecord.json()], "configs": {image id: the config's JSON text}}.
INLINE_KEY = "dockyard.buildcache.v1"
_MODES = ("min", "max")


@dataclass(frozen=True)
class CacheOption:
    """One ``--cache-to``/``--cache-from`` value."""

    type: str
    attrs: dict[str, str] = field(default_factory=dict)
    # A local cache the build sends back for the client to write (a client elsewhere).
    to_client: bool = False

    @property
    def location(self) -> str:
        """The directory (local) or the reference (registry) of the cache."""
        if self.type == "local":
            return self.attrs.get("dest") or self.attrs.get("src") or ""
        return self.attrs.get("ref", "")

    @property
    def max_mode(self) -> bool:
        """``mode=max``: every stage's steps; ``min`` (the default): the target's only."""
        return self.attrs.get("mode") == "max"


def parse_cache_option(text: str, export: bool) -> CacheOption:
    """``type=local,src=DIR``, ``type=local,dest=DIR[,mode=max]``, ``type=registry,ref=R``;
    a bare name is a registry's, as buildx has it."""
    if "=" not in text:
        return CacheOption("registry", {"ref": text})
    fields = next(csv.reader([text]), [])
    attrs: dict[str, str] = {}
    for item in fields:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgument(f"invalid value {item}")
        attrs[key.strip().lower()] = value
    kind = attrs.pop("type", "")
    if kind == INLINE and export:
        if attrs:
            raise InvalidArgument("the inline cache takes no options (it is mode=min)")
        return CacheOption(INLINE)
    if kind not in _TYPES:
        raise InvalidArgument(f"unsupported cache type {kind or text!r}: use local or registry")
    place = ("dest" if export else "src") if kind == "local" else "ref"
    if not attrs.get(place):
        raise InvalidArgument(f"{place} is required for a {kind} cache")
    allowed = {place, "mode"} if export else {place}
    unknown = sorted(set(attrs) - allowed)
    if unknown:
        raise InvalidArgument(f"unknown key {unknown[0]!r} for a {kind} cache")
    if attrs.get("mode", "min") not in _MODES:
        raise InvalidArgument(f"invalid cache mode {attrs['mode']!r}: min or max")
    return CacheOption(kind, attrs)


@dataclass(frozen=True)
class CacheRecord:
    key: str
    image: str  # the image id: its config's digest
    parent: str  # the image it was built on, "" for scratch
    inputs: dict[str, Any]  # StepInputs.record(), for --explain

    def json(self) -> dict[str, Any]:
        return {"key": self.key, "image": self.image, "parent": self.parent, "inputs": self.inputs}


def records_blob(records: list[CacheRecord]) -> bytes:
    return json.dumps({"records": [r.json() for r in records]}, sort_keys=True).encode()


def read_records(data: bytes | dict[str, Any]) -> dict[str, CacheRecord]:
    """The records of a records blob (or inline cache), by key; malformed: InvalidArgument."""
    try:
        value = json.loads(data) if isinstance(data, bytes) else data
        return {
            r["key"]: CacheRecord(str(r["key"]), str(r["image"]), str(r["parent"]), r["inputs"])
            for r in value["records"]
        }
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidArgument(f"invalid build cache: {e}") from None


def descriptor(media_type: str, digest: str, size: int) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size}


def cache_manifest(config: dict[str, Any], blobs: list[dict[str, Any]]) -> bytes:
    """The manifest of a cache: its records blob as config, every other blob as a layer."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": CACHE_ARTIFACT,
        "config": config,
        "layers": blobs,
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def records_digest(manifest: bytes) -> str:
    """The digest of a cache manifest's records blob; not a cache: InvalidArgument."""
    try:
        value = json.loads(manifest)
        config = value["config"]
        if config.get("mediaType") != CACHE_ARTIFACT:
            raise InvalidArgument("not a build cache: its config is not a dockyard cache")
        return str(config["digest"])
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise InvalidArgument(f"invalid build cache manifest: {e}") from None
