"""Metadata.lookup: Docker's order for finding a container or network by what a user typed."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.store.metadata import Metadata


@pytest.fixture
def metadata(tmp_path: Path) -> Metadata:
    db = Metadata(tmp_path / "metadata.db", reserve=0)
    with db.transaction() as tx:
        for nid, name in [
            ("abc123", "web"),
            ("abd456", "abc123"),
            ("ff0000", "db"),
            ("db9999", "cache"),
        ]:
            tx.execute("INSERT INTO networks VALUES (?, ?, '', '{}')", (nid, name))
    return db


def _ids(metadata: Metadata, ref: str) -> list[str]:
    return [row["id"] for row in metadata.lookup("networks", "id", ref, ref)]


def test_a_full_id_wins_over_a_name_that_is_the_same(metadata: Metadata) -> None:
    assert _ids(metadata, "abc123") == ["abc123"]


def test_a_name_wins_over_an_id_prefix(metadata: Metadata) -> None:
    assert _ids(metadata, "db") == ["ff0000"]


def test_a_unique_prefix_finds_its_row_and_an_ambiguous_one_returns_each(
    metadata: Metadata,
) -> None:
    assert _ids(metadata, "FF") == ["ff0000"]
    assert sorted(_ids(metadata, "ab")) == ["abc123", "abd456"]


def test_nothing_matches_an_unknown_or_empty_reference(metadata: Metadata) -> None:
    assert _ids(metadata, "zz") == []
    assert _ids(metadata, "") == []
