"""The content store: digests verified while writing, nothing half-written ever visible."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument, NotFound
from dockyard.store.blobs import BlobStore

DATA = b"hello, content store\n"
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


def test_put_names_the_blob_by_its_sha256(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    desc = blobs.put(io.BytesIO(DATA))
    assert (desc.digest, desc.size) == (DIGEST, len(DATA))
    assert blobs.path(DIGEST) == tmp_path / "blobs" / "sha256" / DIGEST.removeprefix("sha256:")
    with blobs.open(DIGEST) as f:
        assert f.read() == DATA
    assert blobs.exists(DIGEST) and blobs.size(DIGEST) == len(DATA)


def test_put_of_the_same_content_keeps_one_copy(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    blobs.put_bytes(DATA)
    blobs.put_bytes(DATA, DIGEST)
    assert os.listdir(tmp_path / "blobs" / "sha256") == [DIGEST.removeprefix("sha256:")]
    assert os.listdir(tmp_path / "tmp") == []


def test_a_digest_mismatch_stores_nothing(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    wrong = "sha256:" + "0" * 64
    with pytest.raises(InvalidArgument, match=f"digest mismatch: expected {wrong}, got {DIGEST}"):
        blobs.put(io.BytesIO(DATA), expected=wrong)
    assert os.listdir(tmp_path / "blobs" / "sha256") == []
    assert os.listdir(tmp_path / "tmp") == []


@pytest.mark.parametrize(
    "digest", ["sha256:abc", "md5:" + "0" * 32, "0" * 64, "sha256:" + "A" * 64]
)
def test_malformed_digests_are_refused(tmp_path: Path, digest: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid digest"):
        BlobStore(tmp_path).path(digest)


def test_missing_blobs_are_not_found_and_delete_is_idempotent(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    with pytest.raises(NotFound, match=f"content digest {DIGEST}: not found"):
        blobs.open(DIGEST)
    blobs.put_bytes(DATA)
    blobs.delete(DIGEST)
    blobs.delete(DIGEST)
    assert not blobs.exists(DIGEST)
    with pytest.raises(NotFound):
        blobs.size(DIGEST)
