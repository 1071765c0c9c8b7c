"""Layer snapshots: each layer unpacked once into ``layers/<chain>/diff``, shared by every image.

A layer is named by its chain ID (OCI image spec): the ChainID of the base
layer is its DiffID, and ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).
So the same tar on the same parents is the same directory, however many
images hold it. The directory name is the hex part of the chain ID, since
overlayfs separates lower directories with ``:``.

The ``layers`` table is the truth: a directory with no row is garbage from an
interrupted operation and is replaced when that layer is registered again.
Rows count the images and containers that hold them (``refs``): images are
made and deleted, containers created and removed, through ``retain``/``release``
inside their services' transactions.
"""

from __future__ import annotations

import bz2
import contextlib
import ctypes
import ctypes.util
import hashlib
import lzma
import os
import shutil
import tempfile
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from dockyard.errors import Conflict, InvalidArgument, NotFound, SystemError
from dockyard.store import compression, layertar
from dockyard.store.blobs import (
    CHUNK,
    BlobStore,
    Descriptor,
    HashingWriter,
    Reader,
    fsync_dir,
)
from dockyard.store.metadata import Metadata
from dockyard.writeback import WriteBehind

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_DECODE_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)


@dataclass(frozen=True)
class Layer:
    chain_id: str
    diff_id: str
    size: int  # bytes of the unpacked diff


@dataclass(frozen=True)
class StagedLayer:
    """A layer unpacked under tmp/ and not yet recorded (``LayerStore.stage``)."""

    layer: Layer
    parent: str  # the chain it stands on ('' for none)
    work: Path  # holds diff/, the unpacked layer
    tar: Path  # the layer tar, its blob once committed

    def discard(self) -> None:
        """Delete the staged files (those not moved into place)."""
        _remove_staged(self.work, self.tar)


@dataclass(frozen=True)
class LayerBlob:
    """A compressed layer tar kept in the blob store, as a manifest names it."""

    digest: str
    media_type: str
    size: int
    diff_id: str = ""
    source: str = ""  # "domain/path" of the repository it was pulled from, '' if made here


def chain_id(parent: str, diff_id: str) -> str:
    """The chain ID of the layer ``diff_id`` on top of the chain ``parent`` ('' for none)."""
    if not parent:
        return diff_id
    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


def chain_ids(diff_ids: list[str]) -> list[str]:
    """The chain ID of every layer in a stack of DiffIDs, base first."""
    chains: list[str] = []
    for diff_id in diff_ids:
        chains.append(chain_id(chains[-1] if chains else "", diff_id))
    return chains


class LayerStore:
    """Unpacked layers under ``<root>/layers``, their tars in the blob store, rows in ``layers``."""

    def __init__(self, root: Path, metadata: Metadata, blobs: BlobStore) -> None:
        self.dir = root / "layers"
        self.tmp = root / "tmp"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.metadata = metadata
        self.blobs = blobs
        # Serializes what moves directories and blobs into or out of place.
        self._lock = threading.Lock()

    def path(self, chain: str) -> Path:
        """The layer's directory (its unpacked diff is ``path / "diff"``)."""
        return self.dir / chain.removeprefix("sha256:")

    def get(self, chain: str) -> Layer:
        rows = self.metadata.query(
            "SELECT chain_id, diff_id, size FROM layers WHERE chain_id = ?", chain
        )
        if not rows:
            raise NotFound(f"layer {chain} does not exist")
        return Layer(rows[0]["chain_id"], rows[0]["diff_id"], rows[0]["size"])

    def exists(self, chain: str) -> bool:
        return bool(self.metadata.query("SELECT 1 FROM layers WHERE chain_id = ?", chain))

    def size(self, chain: str) -> int:
        return self.get(chain).size

    def lowerdirs(self, chain: str) -> list[Path]:
        """The diff directories of ``chain`` and all its parents, topmost first."""
        return [self.path(layer) / "diff" for layer in reversed(self.stack(chain))]

    def stack(self, chain: str) -> list[str]:
        """The chain IDs of ``chain``'s layers, base first ('' is no layer at all)."""
        if not chain:
            return []
        rows = self.metadata.query(
            """WITH RECURSIVE stack(chain_id, parent, depth) AS (
                   SELECT chain_id, parent, 0 FROM layers WHERE chain_id = ?
                   UNION ALL
                   SELECT l.chain_id, l.parent, s.depth + 1
                   FROM layers l JOIN stack s ON l.chain_id = s.parent)
               SELECT chain_id, parent FROM stack ORDER BY depth""",
            chain,
        )
        if not rows or rows[-1]["parent"]:
            raise NotFound(f"layer {chain} does not exist")
        return [row["chain_id"] for row in reversed(rows)]

    def register(self, stream: Reader, parent_chain: str = "") -> Layer:
        """Store a layer tar (plain, gzip, zstd, bzip2 or xz) on top of ``parent_chain``.

        One pass: the tar is unpacked as it is read, and written and hashed on
        the way (its digest, the DiffID, is known only at its end). A corrupt
        or non-tar stream raises InvalidArgument and changes nothing.
        """
        if parent_chain:
            self.get(parent_chain)
        return self.commit([self.stage(stream, parent_chain)])[0]

    def stage(self, stream: Reader, parent_chain: str = "") -> StagedLayer:
        """Unpack a layer tar, as ``register`` does, under tmp/ and record nothing yet:
        ``commit`` makes it a layer, with the layers staged above it (``parent_chain``
        may be one of those)."""
        tar = self.blobs.temp_file("layer-")
        work = Path(tempfile.mkdtemp(prefix="layer-", dir=self.tmp))
        try:
            diff = work / "diff"
            diff.mkdir(mode=0o755)
            with tar.open("wb") as out:
                tee = _HashingTee(_DecodeErrors(_decompressed(stream)), out)
                end = layertar.extract(cast(BinaryIO, tee), diff)
                tee.drain()  # what follows the archive's end: hashed, and checked below
            layertar.check_end(tar, end)
            desc = tee.descriptor()
            layer = Layer(
                chain_id(parent_chain, desc.digest), desc.digest, layertar.disk_usage(diff)
            )
            return StagedLayer(layer, parent_chain, work, tar)
        except BaseException as e:
            _remove_staged(work, tar)
            if isinstance(e, OSError):
                raise SystemError(f"store layer: {e}") from e
            raise

    def commit(self, staged: list[StagedLayer]) -> list[Layer]:
        """Make staged layers (base first) layers: one flush of the filesystem for all their
        files, then all moved into place and recorded at once. A layer stored meanwhile
        (by another pull) is that one; the staged files go in any case."""
        if not staged:
            return []
        try:
            _syncfs(self.tmp)  # nothing is recorded before its files are on disk for good
            with self._lock:
                chains = {s.layer.chain_id for s in staged}
                for s in staged:
                    if s.parent and s.parent not in chains:
                        self.get(s.parent)  # still there to stand on
                self._place([s for s in staged if not self.exists(s.layer.chain_id)])
                return [self.get(s.layer.chain_id) for s in staged]
        except OSError as e:
            raise SystemError(f"store layer: {e}") from e
        finally:
            for s in staged:
                s.discard()

    def register_blob(self, blob: Path, desc: LayerBlob, parent_chain: str = "") -> Layer:
        """Store the layer in the verified blob file ``blob`` and keep a compressed blob as it is.

        The file is moved into the blob store when it is compressed (a plain
        tar is the layer's own blob already). A layer already stored is only
        checked, so its compressed form can be kept for a later push.
        """
        with blob.open("rb") as f:
            layer = self.register(f, parent_chain)
        if desc.digest != layer.diff_id:
            self.keep(
                blob, LayerBlob(desc.digest, desc.media_type, desc.size, layer.diff_id, desc.source)
            )
        return layer

    def compressed(self, diff_id: str, algorithm: str) -> LayerBlob:
        """The layer ``diff_id`` compressed with ``algorithm``: kept, or made now and kept."""
        for blob in self._blobs("diff_id = ?", diff_id):
            if compression.algorithm_of(blob.media_type) == algorithm:
                return blob
        tmp = self.blobs.temp_file("compress-")
        try:
            with self.blobs.open(diff_id) as src, tmp.open("wb") as out:
                desc = compression.compress(src, out, algorithm)
            blob = LayerBlob(desc.digest, compression.LAYER_TYPES[algorithm], desc.size, diff_id)
            self.keep(tmp, blob)
            return blob
        finally:
            tmp.unlink(missing_ok=True)

    def kept_blob(self, digest: str) -> LayerBlob | None:
        """What is known of the compressed layer blob ``digest`` (None: not one we keep)."""
        found = self._blobs("digest = ?", digest)
        return found[0] if found and self.blobs.exists(digest) else None

    def _blobs(self, where: str, value: str) -> list[LayerBlob]:
        rows = self.metadata.query(
            f"SELECT digest, media_type, size, diff_id, source FROM layer_blobs WHERE {where}",
            value,
        )
        return [
            LayerBlob(r["digest"], r["media_type"], r["size"], r["diff_id"], r["source"])
            for r in rows
        ]

    def keep(self, path: Path, blob: LayerBlob) -> None:
        """Move the compressed blob file ``path`` into the store, for the layer it unpacks to."""
        self.keep_all([(path, blob)])

    def keep_all(self, kept: list[tuple[Path, LayerBlob]]) -> None:
        """``keep`` each (file, blob): one fsync of the blob directory and one transaction
        for all of them (a pull's layers)."""
        if not kept:
            return
        links: list[tuple[Path, LayerBlob]] = []
        try:
            for path, blob in kept:
                with path.open("rb") as f:
                    os.fsync(f.fileno())
                # A link goes into place, so the file stays where it was (an archive's blob
                # may serve several of its images).
                link = self.blobs.temp_file("keep-")
                link.unlink()
                os.link(path, link)
                links.append((link, blob))
            with self._lock:
                placed = []
                for link, blob in links:
                    if not self.metadata.query(
                        "SELECT 1 FROM layers WHERE diff_id = ?", blob.diff_id
                    ):
                        continue  # removed meanwhile: its compressed forms go with it
                    self.blobs.commit(link, blob.digest, durable=False)
                    placed.append(blob)
                fsync_dir(self.blobs.dir)
                with self.metadata.transaction():
                    for blob in placed:
                        self._record(blob)
        finally:
            for link, _ in links:
                link.unlink(missing_ok=True)

    def _record(self, blob: LayerBlob) -> None:
        """The row of a kept blob; a blob pulled again notes the repository it came from."""
        with self.metadata.transaction() as db:
            db.execute(
                "INSERT INTO layer_blobs (digest, diff_id, media_type, size, source)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(digest) DO UPDATE SET"
                " source = CASE WHEN excluded.source != '' THEN excluded.source ELSE source END",
                (blob.digest, blob.diff_id, blob.media_type, blob.size, blob.source),
            )

    def diff(self, upper_dir: Path, parent_chain: str) -> Layer:
        """Turn an overlay upper directory (a container's changes) into a layer on ``parent_chain``."""
        if parent_chain:
            self.get(parent_chain)
        tar = self.blobs.temp_file("layer-")
        try:
            with tar.open("wb") as out:
                hashing = HashingWriter(out)
                layertar.pack(upper_dir, cast(BinaryIO, hashing))
                out.flush()
                os.fsync(out.fileno())
            return self._install(tar, hashing.descriptor(), parent_chain)
        except OSError as e:
            raise SystemError(f"archive {upper_dir}: {e}") from e
        finally:
            tar.unlink(missing_ok=True)

    def _install(self, tar: Path, desc: Descriptor, parent: str) -> Layer:
        """Unpack the complete layer tar at ``tar`` and make it visible, all or nothing."""
        chain = chain_id(parent, desc.digest)
        if self.exists(chain):
            return self.get(chain)
        work = Path(tempfile.mkdtemp(prefix="layer-", dir=self.tmp))
        try:
            diff = work / "diff"
            diff.mkdir(mode=0o755)
            layertar.unpack(tar, diff)
        except BaseException:
            _remove_staged(work, tar)
            raise
        layer = Layer(chain, desc.digest, layertar.disk_usage(diff))
        return self.commit([StagedLayer(layer, parent, work, tar)])[0]

    def _place(self, staged: list[StagedLayer]) -> None:
        """Move staged layers' directories and tars into place, then record them all in one
        transaction (under the lock); a failure puts back what was moved."""
        moved: list[tuple[StagedLayer, bool]] = []  # and whether its tar became a blob
        try:
            for s in staged:
                target = self.path(s.layer.chain_id)
                if target.exists():
                    shutil.rmtree(target)  # left by an interrupted operation: it has no row
                moved.append((s, self.blobs.commit(s.tar, s.layer.diff_id, durable=False)))
                os.rename(s.work, target)
            fsync_dir(self.blobs.dir)
            fsync_dir(self.dir)
            with self.metadata.transaction() as db:
                for s in staged:
                    db.execute(
                        "INSERT INTO layers (chain_id, diff_id, parent, size, blob, refs)"
                        " VALUES (?, ?, ?, ?, ?, 0)",
                        (
                            s.layer.chain_id,
                            s.layer.diff_id,
                            s.parent,
                            s.layer.size,
                            s.layer.diff_id,
                        ),
                    )
        except BaseException:
            for s, blob_added in reversed(moved):
                with contextlib.suppress(OSError):
                    os.rename(self.path(s.layer.chain_id), s.work)
                if blob_added:
                    self.blobs.delete(s.layer.diff_id)
            raise

    def retain(self, chains: list[str]) -> None:
        """Count one more holder of each of ``chains`` (inside the caller's transaction)."""
        with self.metadata.transaction() as db:
            for chain in chains:
                cur = db.execute("UPDATE layers SET refs = refs + 1 WHERE chain_id = ?", (chain,))
                if cur.rowcount == 0:
                    raise NotFound(f"layer {chain} does not exist")

    def release(self, chains: list[str]) -> list[Layer]:
        """Count one holder fewer of each of ``chains`` and drop the rows no longer used.

        Inside the caller's transaction; the dropped layers' files stay until
        ``purge`` is called with them after the transaction commits.
        """
        with self.metadata.transaction() as db:
            for chain in chains:
                db.execute("UPDATE layers SET refs = refs - 1 WHERE chain_id = ?", (chain,))
            dropped: list[Layer] = []
            for chain in reversed(chains):
                if not self._unused(chain):
                    break  # a layer still in use keeps all the layers below it
                dropped.append(self.get(chain))
                db.execute("DELETE FROM layers WHERE chain_id = ?", (chain,))
            return dropped

    def remove(self, chain: str) -> None:
        """Remove a layer that nothing holds and no other layer stands on."""
        with self.metadata.transaction() as db:
            layer = self.get(chain)
            if not self._unused(chain):
                raise Conflict(f"layer {chain} is in use")
            db.execute("DELETE FROM layers WHERE chain_id = ?", (chain,))
        self.purge([layer])

    def purge(self, layers: list[Layer]) -> None:
        """Delete the files of layers whose rows are gone (``release``, ``remove``)."""
        shutil.rmtree(self.retire(layers), ignore_errors=True)

    def retire(self, layers: list[Layer]) -> Path:
        """Move the directories of layers whose rows are gone into a new directory of
        ``tmp/`` and delete their unused blobs: quick, so that it may run on the event loop.
        The directory returned is the caller's to delete (in a worker); a crash leaves it
        to the system check, which empties ``tmp/``."""
        trash = Path(tempfile.mkdtemp(prefix="removed-", dir=self.tmp))
        try:
            with self._lock:
                for layer in layers:
                    if self.exists(layer.chain_id):
                        continue  # registered again since its row was dropped
                    target = self.path(layer.chain_id)
                    if target.exists():
                        os.rename(target, trash / target.name)
                    if not self.metadata.query(
                        "SELECT 1 FROM layers WHERE blob = ?", layer.diff_id
                    ):
                        self._delete_blobs(layer.diff_id)
        except BaseException:
            shutil.rmtree(trash, ignore_errors=True)
            raise
        return trash

    def _delete_blobs(self, diff_id: str) -> None:
        """Delete the tar of a layer no longer stored, and every compressed form of it."""
        kept = self._blobs("diff_id = ?", diff_id)
        with self.metadata.transaction() as db:
            db.execute("DELETE FROM layer_blobs WHERE diff_id = ?", (diff_id,))
        for blob in kept:
            self.blobs.delete(blob.digest)
        self.blobs.delete(diff_id)

    # -- for the system check (engine/storecheck.py) ---------------------------

    def recorded(self) -> list[dict]:
        """Every layer row: chain_id, parent, blob, refs."""
        rows = self.metadata.query("SELECT chain_id, parent, blob, refs FROM layers")
        return [dict(row) for row in rows]

    def directories(self) -> set[str]:
        """The chain IDs of the layer directories on disk."""
        return {"sha256:" + name for name in os.listdir(self.dir)}

    def discard_unrecorded(self, chain: str) -> None:
        """Remove a layer directory that has no row (an interrupted operation's)."""
        with self._lock:
            if not self.exists(chain):
                shutil.rmtree(self.path(chain), ignore_errors=True)

    def restore(self, chain: str) -> None:
        """Unpack again, from its tar blob, a layer whose directory is gone."""
        rows = self.metadata.query("SELECT blob FROM layers WHERE chain_id = ?", chain)
        if not rows:
            raise NotFound(f"layer {chain} does not exist")
        work = Path(tempfile.mkdtemp(prefix="layer-", dir=self.tmp))
        try:
            diff = work / "diff"
            diff.mkdir(mode=0o755)
            layertar.unpack(self.blobs.path(rows[0]["blob"]), diff)
            _syncfs(work)
            with self._lock:
                if not self.path(chain).exists():
                    os.rename(work, self.path(chain))
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def set_refs(self, chain: str, refs: int) -> None:
        with self.metadata.transaction() as db:
            db.execute("UPDATE layers SET refs = ? WHERE chain_id = ?", (refs, chain))

    def _unused(self, chain: str) -> bool:
        rows = self.metadata.query(
            "SELECT refs, (SELECT COUNT(*) FROM layers c WHERE c.parent = l.chain_id) AS children"
            " FROM layers l WHERE chain_id = ?",
            chain,
        )
        return bool(rows) and rows[0]["refs"] <= 0 and rows[0]["children"] == 0


def _decompressed(stream: Reader) -> Reader:
    """``stream`` itself, or a decompressing reader when its first bytes are a known magic."""
    head = _Prefixed(stream)
    raw = cast(BinaryIO, head)
    if head.peek(2) == b"\x1f\x8b":
        return compression.gzip_reader(head)
    if head.peek(3) == b"BZh":
        return bz2.BZ2File(raw)
    if head.peek(6) == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(raw)
    if head.peek(4) == compression.ZSTD_MAGIC:
        return compression.zstd_reader(raw)
    return head


class _Prefixed:
    """A reader that can look at its first bytes and still return them."""

    def __init__(self, stream: Reader) -> None:
        self._stream = stream
        self._head = b""

    def peek(self, n: int) -> bytes:
        while len(self._head) < n:
            more = self._stream.read(n - len(self._head))
            if not more:
                break
            self._head += more
        return self._head[:n]

    def read(self, n: int = -1) -> bytes:
        if self._head:
            data, self._head = self._head, b""
            if n < 0:
                return data + self._stream.read()
            if len(data) > n:
                data, self._head = data[:n], data[n:]
            return data
        return self._stream.read(n)


class _HashingTee:
    """A reader that writes what is read from it to ``out``, hashing it on the way."""

    def __init__(self, stream: Reader, out: BinaryIO) -> None:
        self._stream = stream
        self._out = HashingWriter(out)
        self._behind = WriteBehind(out.fileno())

    def read(self, n: int = -1, /) -> bytes:
        data = self._stream.read(n)
        self._out.write(data)
        self._behind.wrote(len(data))
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    def descriptor(self) -> Descriptor:
        return self._out.descriptor()


class _DecodeErrors:
    """Reports a broken compressed stream as the user's invalid archive."""

    def __init__(self, stream: Reader) -> None:
        self._stream = stream

    def read(self, n: int = -1) -> bytes:
        try:
            return self._stream.read(n)
        except _DECODE_ERRORS as e:
            raise InvalidArgument(f"invalid tar archive: {e}") from None


def _remove_staged(work: Path, tar: Path) -> None:
    tar.unlink(missing_ok=True)
    shutil.rmtree(work, ignore_errors=True)


def _syncfs(path: Path) -> None:
    """Flush the filesystem holding ``path``, so a committed layer survives a crash whole."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)
