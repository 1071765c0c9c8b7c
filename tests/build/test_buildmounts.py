"""Cache mount directories: instances, sharing and prune."""

from __future__ import annotations

from pathlib import Path

from dockyard.engine.buildmounts import CacheMounts


def fill(directory: Path) -> None:
    (directory / "seed").write_text("new")


def test_private_users_get_their_own_instance(tmp_path: Path) -> None:
    caches = CacheMounts(tmp_path / "mounts")
    with caches.use("k", "private", fill) as first, caches.use("k", "private", fill) as second:
        assert first != second
        assert (first / "seed").read_text() == (second / "seed").read_text() == "new"
    with caches.use("k", "private", fill) as again:
        assert again == first  # free again: the first instance is taken


def test_shared_users_share_and_prune_spares_what_is_held(tmp_path: Path) -> None:
    caches = CacheMounts(tmp_path / "mounts")
    with caches.use("a", "shared", fill) as a:
        (a / "data").write_text("x" * 10000)
        with caches.use("a", "shared", fill) as same:
            assert same == a and (same / "data").exists()
    with caches.use("b", "locked", fill):
        removed, freed = caches.prune()
        assert removed == ["a"] and freed >= 10000
    assert [name for name, _, _ in caches.usage()] == ["b"]
    assert caches.prune()[0] == ["b"]
    assert caches.usage() == []
