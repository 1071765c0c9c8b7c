"""The system check's part for the store and the volumes (see engine/check.py).

Records that point at nothing: tags, build cache entries and parents of images
that are gone (dropped), images whose blobs or layers are gone and containers
whose image is gone (reported: nothing can bring them back). Volumes: a
directory with no record (removed) and a record with no directory (made again,
empty). Layers and blobs, only while no operation holds a lease: a layer
directory with no row (removed), a row with no directory (unpacked again from
its tar), reference counts that disagree with the images (set right), layers
no image holds and blobs nothing names (removed).

Runs in a worker thread: it reads every image config and lists the stores.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import TYPE_CHECKING

from dockyard.errors import DockyardError
from dockyard.store.layers import chain_ids

if TYPE_CHECKING:
    from dockyard.engine.check import Finding
    from dockyard.engine.engine import Engine


def check(engine: Engine, repair: bool) -> list[Finding]:
    found = _records(engine, repair)
    found += _volumes(engine, repair)
    with engine.images.leases.collecting() as idle:
        if idle:
            chains = _image_chains(engine, found)
            found += _layers(engine, chains, repair)
            found += _blobs(engine, repair)
    return found


def _finding(kind: str, subject: str, problem: str, repairable: bool = True) -> Finding:
    from dockyard.engine.check import Finding  # the check imports this module

    return Finding(kind, subject, problem, repairable)


# ---------------------------------------------------------------------- records
def _records(engine: Engine, repair: bool) -> list[Finding]:
    db = engine.metadata
    images = {row["id"]: row for row in db.query("SELECT id, manifest, parent FROM images")}
    fixes: list[tuple[Finding, str, str]] = []  # (finding, the SQL that repairs it, its argument)
    for row in db.query("SELECT name, image_id FROM refs"):
        if row["image_id"] not in images:
            finding = _finding("tag-dangling", row["name"], "a tag of an image that is gone")
            fixes.append((finding, "DELETE FROM refs WHERE name = ?", row["name"]))
    for row in db.query("SELECT key, image_id FROM build_cache"):
        if row["image_id"] not in images:
            finding = _finding("cache-dangling", row["key"][:25], "a build cache entry of no image")
            fixes.append((finding, "DELETE FROM build_cache WHERE key = ?", row["key"]))
    for image_id, row in images.items():
        if row["parent"] and row["parent"] not in images:
            finding = _finding("image-parent-missing", image_id, "its parent image is gone")
            fixes.append((finding, "UPDATE images SET parent = '' WHERE id = ?", image_id))
    if repair and fixes:
        with db.transaction() as tx:
            for finding, sql, argument in fixes:
                tx.execute(sql, (argument,))
                finding.repaired = True
    found = [finding for finding, _, _ in fixes]
    for image_id, row in images.items():
        for digest in (image_id, row["manifest"]):
            if digest and not engine.blobs.exists(digest):
                problem = f"its blob {digest} is gone"
                found.append(_finding("image-blob-missing", image_id, problem, False))
    for row in db.query("SELECT id, image_id FROM containers"):
        if row["image_id"] not in images:
            found.append(_finding("container-image-missing", row["id"], "its image is gone", False))
    return found


# ---------------------------------------------------------------------- volumes
def _volumes(engine: Engine, repair: bool) -> list[Finding]:
    driver = engine.volumes.driver
    found = []
    # In a transaction: no volume is being made meanwhile (its row and directory come together).
    with engine.metadata.transaction() as db:
        names = {row["name"] for row in db.execute("SELECT name FROM volumes")}
        on_disk = set(os.listdir(driver.root)) if driver.root.is_dir() else set()
        for entry in sorted(on_disk - names):
            found.append(_finding("volume-orphan", entry, "a volume directory with no record"))
            if repair:
                driver.discard(entry)
                found[-1].repaired = True
        for name in sorted(names):
            if not driver.path(name).is_dir():
                found.append(_finding("volume-dir-missing", name, "its directory is gone"))
                if repair:
                    driver.create(name)
                    found[-1].repaired = True
    return found


# ---------------------------------------------------------------------- layers and blobs
def _image_chains(engine: Engine, found: list[Finding]) -> dict[str, list[str]] | None:
    """Each image's chain IDs; None when an image's config cannot be read (counts unknown)."""
    chains = {}
    for row in engine.metadata.query("SELECT id FROM images"):
        try:
            with engine.blobs.open(row["id"]) as f:
                config = json.load(f)
        except (DockyardError, OSError, ValueError):
            return None
        chains[row["id"]] = chain_ids(list((config.get("rootfs") or {}).get("diff_ids") or []))
    return chains


def _layers(engine: Engine, chains: dict[str, list[str]] | None, repair: bool) -> list[Finding]:
    layers = engine.layers
    found = []
    rows = {row["chain_id"]: row for row in layers.recorded()}
    for chain in sorted(layers.directories() - set(rows)):
        found.append(_finding("layer-orphan", chain, "a layer directory with no record"))
        if repair:
            layers.discard_unrecorded(chain)
            found[-1].repaired = True
    for chain, row in rows.items():
        if not engine.blobs.exists(row["blob"]):
            found.append(_finding("layer-blob-missing", chain, "its tar is gone", False))
        elif not (layers.path(chain) / "diff").is_dir():
            found.append(_finding("layer-dir-missing", chain, "its directory is gone"))
            if repair:
                layers.restore(chain)
                found[-1].repaired = True
    if chains is None:
        return found
    held: dict[str, int] = {}
    for image_id, chain_list in chains.items():
        for chain in chain_list:
            held[chain] = held.get(chain, 0) + 1
            if chain not in rows:
                found.append(
                    _finding("image-layer-missing", image_id, f"its layer {chain} is gone", False)
                )
    # A container holds its image's layers too (so it outlives `rmi -f` of its image).
    for hold in engine.metadata.query(
        "SELECT chain_id FROM container_layers WHERE container_id IN (SELECT id FROM containers)"
    ):
        held[hold["chain_id"]] = held.get(hold["chain_id"], 0) + 1
    for chain, row in rows.items():
        if row["refs"] != held.get(chain, 0):
            problem = (
                f"counted {row['refs']} images and containers holding it, {held.get(chain, 0)} do"
            )
            found.append(_finding("layer-refs", chain, problem))
            if repair:
                layers.set_refs(chain, held.get(chain, 0))
                found[-1].repaired = True
    found += _unused_layers(engine, held, rows, repair)
    return found


def _unused_layers(
    engine: Engine, held: dict[str, int], rows: dict[str, dict], repair: bool
) -> list[Finding]:
    """Layers no image holds, top of each stack first (a layer below another is in use)."""
    unused = {chain for chain in rows if not held.get(chain)}
    found = []
    for chain in sorted(unused):
        found.append(_finding("layer-unused", chain, "a layer no image or container holds"))
    if repair:
        parents = {chain: rows[chain]["parent"] for chain in unused}
        while parents:
            tops = [c for c in parents if c not in parents.values()] or list(parents)
            for chain in tops:
                with contextlib.suppress(DockyardError):
                    engine.layers.remove(chain)
                del parents[chain]
        for finding in found:
            finding.repaired = not engine.layers.exists(finding.subject)
    return found


def _blobs(engine: Engine, repair: bool) -> list[Finding]:
    db = engine.metadata
    named = {row["id"] for row in db.query("SELECT id FROM images")}
    named |= {row["manifest"] for row in db.query("SELECT manifest FROM images") if row["manifest"]}
    named |= {row["blob"] for row in db.query("SELECT blob FROM layers")}
    named |= {row["digest"] for row in db.query("SELECT digest FROM layer_blobs")}
    named |= {row["digest"] for row in db.query("SELECT digest FROM image_indexes")}
    found = []
    for digest in sorted(engine.blobs.digests() - named):
        found.append(_finding("blob-orphan", digest, "a blob nothing names"))
        if repair:
            engine.blobs.delete(digest)
            found[-1].repaired = True
    return found
