"""Layers: chain IDs, unpacking once, whiteouts both ways, and bad tars that change nothing."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard import writeback
from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.runtime import linux
from dockyard.runtime.overlay import mount_overlay, unmount
from dockyard.store.layers import Layer, chain_id, chain_ids
from tests.store.helpers import Store, entry, make_tar, open_store, state, tar_names

A = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
B = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
# printf '%s' "$A $B" | sha256sum
A_B = "sha256:71dec89dc33c1a1cd5f73cd1e0885ec74b73b03fb9d5a98fddb6486563565072"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "root")
    yield s
    s.metadata.close()


def register(store: Store, data: bytes, parent: str = "") -> Layer:
    return store.layers.register(io.BytesIO(data), parent)


def test_chain_ids_follow_the_oci_image_spec() -> None:
    assert chain_id("", A) == A
    assert chain_id(A, B) == A_B
    assert chain_ids([A, B]) == [A, A_B]
    assert chain_ids([]) == []


def test_busybox_rootfs_unpacks_with_owners_modes_and_links(
    store: Store, busybox_tar: Path
) -> None:
    with busybox_tar.open("rb") as f:
        layer = store.layers.register(f)
    digest = "sha256:" + hashlib.sha256(busybox_tar.read_bytes()).hexdigest()
    assert layer.diff_id == layer.chain_id == digest
    [diff] = store.layers.lowerdirs(layer.chain_id)
    assert diff == store.root / "layers" / digest.removeprefix("sha256:") / "diff"
    busybox = os.lstat(diff / "bin" / "busybox")
    assert os.lstat(diff / "bin" / "sh").st_ino == busybox.st_ino  # applets are hard links
    assert stat.S_IMODE(os.lstat(diff / "tmp").st_mode) == 0o1777
    assert stat.S_IMODE(os.lstat(diff / "root").st_mode) == 0o700
    assert os.lstat(diff / "etc").st_mtime == 0  # the script's --mtime=@0, kept
    assert "root:x:0:0:root:/root:/bin/sh" in (diff / "etc" / "passwd").read_text()
    assert layer.size == store.layers.size(layer.chain_id) >= busybox.st_size
    assert store.blobs.path(digest).read_bytes() == busybox_tar.read_bytes()


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
def test_compressed_tars_get_the_diff_id_of_the_plain_tar(
    store: Store, compress: Callable[[bytes], bytes]
) -> None:
    data = make_tar(entry("etc/"), entry("etc/hostname", b"box\n"))
    plain = register(store, data)
    packed = register(store, compress(data))
    assert packed == plain
    assert plain.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_stored_layer_is_not_unpacked_again(store: Store) -> None:
    data = make_tar(entry("f", b"1"))
    layer = register(store, data)
    marker = store.layers.lowerdirs(layer.chain_id)[0] / "marker"
    marker.write_text("still here")
    assert register(store, data) == layer
    assert marker.read_text() == "still here"


def test_layers_stack_by_chain_id_and_list_topmost_first(store: Store) -> None:
    base = register(store, make_tar(entry("a", b"a")))
    top = register(store, make_tar(entry("b", b"b")), base.chain_id)
    assert top.chain_id == chain_id(base.chain_id, top.diff_id)
    assert store.layers.lowerdirs(top.chain_id) == [
        store.layers.path(top.chain_id) / "diff",
        store.layers.path(base.chain_id) / "diff",
    ]
    with pytest.raises(NotFound):
        register(store, make_tar(entry("c", b"c")), "sha256:" + "9" * 64)


def test_every_kind_of_entry_is_kept(store: Store) -> None:
    data = make_tar(
        entry("bin/", mode=0o755, uid=0, gid=0),
        entry("bin/tool", b"#!/bin/sh\n", mode=0o4755, uid=0, gid=0),
        entry("bin/alias", type=tarfile.LNKTYPE, linkname="bin/tool"),
        entry("bin/link", type=tarfile.SYMTYPE, linkname="tool", uid=7, gid=8),
        entry("home/u/", mode=0o750, uid=1000, gid=1001, mtime=1_000),
        entry("home/u/data", b"x" * 10, uid=1000, gid=1001, mtime=2_000),
        entry("dev/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
        entry("dev/pipe", type=tarfile.FIFOTYPE, mode=0o600),
        entry("cap", b"", pax_headers={"SCHILY.xattr.user.note": "hello"}),
        entry("deep/er/file", b"implicit parents"),
    )
    diff = store.layers.lowerdirs(register(store, data).chain_id)[0]
    tool = os.lstat(diff / "bin" / "tool")
    assert stat.S_IMODE(tool.st_mode) == 0o4755
    assert os.lstat(diff / "bin" / "alias").st_ino == tool.st_ino
    link = os.lstat(diff / "bin" / "link")
    assert stat.S_ISLNK(link.st_mode) and os.readlink(diff / "bin" / "link") == "tool"
    assert (link.st_uid, link.st_gid) == (7, 8)
    home = os.lstat(diff / "home" / "u")
    assert (home.st_uid, home.st_gid, stat.S_IMODE(home.st_mode), home.st_mtime) == (
        1000,
        1001,
        0o750,
        1_000,
    )
    assert os.lstat(diff / "home" / "u" / "data").st_mtime == 2_000
    null = os.lstat(diff / "dev" / "null")
    assert (
        stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1 and os.minor(null.st_rdev) == 3
    )
    assert stat.S_ISFIFO(os.lstat(diff / "dev" / "pipe").st_mode)
    assert os.getxattr(diff / "cap", "user.note") == b"hello"
    assert (diff / "deep" / "er" / "file").read_bytes() == b"implicit parents"


def test_oci_whiteouts_become_overlay_whiteouts(store: Store) -> None:
    data = make_tar(
        entry(".wh.gone", b""),
        entry("dir/"),
        entry("dir/.wh..wh..opq", b""),
        entry("dir/kept", b"k"),
        entry("other/.wh..wh.plnk", b""),
    )
    diff = store.layers.lowerdirs(register(store, data).chain_id)[0]
    gone = os.lstat(diff / "gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0
    assert os.getxattr(diff / "dir", "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(diff / "dir")) == ["kept"]
    assert os.listdir(diff / "other") == []


@pytest.fixture
def overlay(store: Store, tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    """(merged view, upper dir, lower chain) of an overlay mount over a small layer."""
    lower = register(
        store,
        make_tar(
            entry("a", b"a"),
            entry("d/"),
            entry("d/x", b"x"),
            entry("o/"),
            entry("o/old", b"old"),
            entry("keep", b"keep"),
        ),
    )
    upper, work, merged = tmp_path / "upper", tmp_path / "work", tmp_path / "merged"
    mount_overlay(store.layers.lowerdirs(lower.chain_id), upper, work, merged)
    try:
        yield merged, upper, lower.chain_id
    finally:
        unmount(merged)


def test_diff_turns_overlay_changes_into_an_oci_layer_and_back(
    store: Store, overlay: tuple[Path, Path, str], tmp_path: Path
) -> None:
    merged, upper, lower = overlay
    (merged / "a").unlink()
    shutil.rmtree(merged / "d")
    shutil.rmtree(merged / "o")
    (merged / "o").mkdir()
    (merged / "o" / "new").write_bytes(b"new")
    (merged / "n").write_bytes(b"n")
    layer = store.layers.diff(upper, lower)
    with store.blobs.open(layer.diff_id) as f:
        names = tar_names(f.read())
    assert names == [".wh.a", ".wh.d", "n", "o", "o/.wh..wh..opq", "o/new"]
    assert store.layers.diff(upper, lower) == layer  # the same changes give the same layer
    assert layer.chain_id == chain_id(lower, layer.diff_id)

    # Registered again from its tar, in another store, the layer has overlay's whiteouts back.
    other = open_store(tmp_path / "other")
    try:
        with store.blobs.open(lower) as f:
            other.layers.register(f)
        with store.blobs.open(layer.diff_id) as f:
            again = other.layers.register(f, lower)
        diff = other.layers.lowerdirs(again.chain_id)[0]
        for name in ("a", "d"):
            st = os.lstat(diff / name)
            assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
        assert os.getxattr(diff / "o", "trusted.overlay.opaque") == b"y"
        assert os.listdir(diff / "o") == ["new"]
    finally:
        other.metadata.close()


def _garbage_after_first_member() -> bytes:
    data = bytearray(make_tar(entry("a", b"a" * 600), entry("b", b"b")))
    data[1536:2048] = b"\x7f" * 512  # the second header
    return bytes(data)


BAD_TARS = {
    "not a tar": b"this is not a tar archive, just text\n" * 40,
    "empty": b"",
    "corrupt header": _garbage_after_first_member(),
    "truncated tar": make_tar(entry("a", b"a" * 5000))[:2048],
    "truncated gzip": gzip.compress(make_tar(entry("a", os.urandom(20000))))[:3000],
    "parent path": make_tar(entry("ok", b"1"), entry("../escape", b"x")),
    "nested parent path": make_tar(entry("a/../../escape", b"x")),
    "absolute path": make_tar(entry("/etc/passwd", b"x")),
    "through a symlink": make_tar(
        entry("link", type=tarfile.SYMTYPE, linkname="/tmp"), entry("link/owned", b"x")
    ),
    "hard link outside": make_tar(entry("h", type=tarfile.LNKTYPE, linkname="../../etc/passwd")),
    "hard link to nothing": make_tar(entry("h", type=tarfile.LNKTYPE, linkname="missing")),
}


@pytest.mark.parametrize("name", BAD_TARS)
def test_bad_tars_are_refused_and_change_nothing(store: Store, name: str) -> None:
    register(store, make_tar(entry("base", b"base")))
    before = state(store)
    with pytest.raises(InvalidArgument, match="^invalid tar archive: "):
        register(store, BAD_TARS[name])
    assert state(store) == before
    assert not Path("/tmp/owned").exists()


def test_remove_drops_an_unused_layer_and_refuses_a_used_one(store: Store) -> None:
    base = register(store, make_tar(entry("a", b"a")))
    top = register(store, make_tar(entry("b", b"b")), base.chain_id)
    with pytest.raises(Conflict, match="in use"):
        store.layers.remove(base.chain_id)  # top stands on it
    store.layers.retain([base.chain_id, top.chain_id])
    with pytest.raises(Conflict, match="in use"):
        store.layers.remove(top.chain_id)
    dropped = store.layers.release([base.chain_id, top.chain_id])
    assert dropped == [top, base]
    store.layers.purge(dropped)
    assert state(store)["files"] == {"blobs": ["sha256"], "layers": [], "tmp": []}
    with pytest.raises(NotFound):
        store.layers.remove(base.chain_id)


def test_layers_with_the_same_tar_share_its_blob(store: Store) -> None:
    data = make_tar(entry("same", b"same"))
    first = register(store, data)
    base = register(store, make_tar(entry("base", b"base")))
    second = register(store, data, base.chain_id)
    assert first.diff_id == second.diff_id and first.chain_id != second.chain_id
    store.layers.remove(first.chain_id)
    assert store.blobs.exists(second.diff_id)
    assert store.layers.lowerdirs(second.chain_id)[0].joinpath("same").read_bytes() == b"same"


def test_the_disk_starts_on_a_big_layer_while_it_unpacks(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The layer tar and the unpacked file are started to disk every few megabytes (the
    one flush at the end then finds little left to write); their bytes are unchanged."""
    started: dict[str, list[tuple[int, int]]] = {}  # file → (offset, length) started

    def sync_file_range(fd: int, offset: int, length: int, flags: int) -> None:
        assert flags == linux.SYNC_FILE_RANGE_WRITE
        started.setdefault(os.readlink(f"/proc/self/fd/{fd}"), []).append((offset, length))

    monkeypatch.setattr(linux, "sync_file_range", sync_file_range)
    big = os.urandom(3 * writeback.STEP)
    layer = register(store, make_tar(entry("big", big)))
    assert (store.layers.path(layer.chain_id) / "diff" / "big").read_bytes() == big
    assert len(started) == 2  # the tar and the file, both staged under tmp/
    for path, ranges in started.items():
        assert path.startswith(str(store.blobs.tmp)), path
        ends = [0] + [offset + length for offset, length in ranges]
        assert [offset for offset, _ in ranges] == ends[:-1]  # in order, from the start
        assert len(ranges) == 3 and all(length >= writeback.STEP for _, length in ranges)
