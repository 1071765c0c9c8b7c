"""The one extractor: never writing outside the root, whatever the archive holds."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from dockyard.build.copyfiles import is_archive
from dockyard.errors import InvalidArgument
from dockyard.tarfs.extract import DigestSink, Extractor
from dockyard.tarfs.root import Root


def tar_of(*members: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    out.seek(0)
    return out


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644):  # type: ignore[no-untyped-def]
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = kind, link, mode, 1_000_000
    return info


def extract_tar(
    stream: io.BytesIO, root: Path, dest: str = "/", digests: DigestSink | None = None
) -> None:
    root.mkdir(exist_ok=True)
    with Root(root) as opened:
        Extractor(opened, dest, keep_owner=False, digests=digests).extract(stream)


class Digests:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def remember(self, st: object, digest: str) -> None:
        self.seen.append(digest)


def test_files_dirs_links_and_digests(tmp_path: Path) -> None:
    digests = Digests()
    archive = tar_of(
        (entry("dir", tarfile.DIRTYPE, mode=0o750), b""),
        (entry("dir/f.txt", mode=0o600), b"hello"),
        (entry("dir/hard", tarfile.LNKTYPE, link="dir/f.txt"), b""),
        (entry("sym", tarfile.SYMTYPE, link="dir/f.txt"), b""),
    )
    extract_tar(archive, tmp_path, digests=digests)
    assert (tmp_path / "dir" / "f.txt").read_text() == "hello"
    assert (tmp_path / "dir").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "dir" / "f.txt").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "dir" / "hard").stat().st_ino == (tmp_path / "dir" / "f.txt").stat().st_ino
    assert (tmp_path / "sym").readlink() == Path("dir/f.txt")
    assert digests.seen == [hashlib.sha256(b"hello").hexdigest()]


def test_an_entry_behind_a_planted_symlink_stays_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    archive = tar_of(
        (entry("evil", tarfile.SYMTYPE, link=str(outside)), b""),
        (entry("evil/owned"), b"x"),
    )
    extract_tar(archive, root)
    assert not (outside / "owned").exists()
    assert (root / str(outside).lstrip("/") / "owned").read_bytes() == b"x"


def test_entries_climbing_out_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="outside the archive"):
        extract_tar(tar_of((entry("../x"), b"x")), tmp_path)


def test_malformed_archives(tmp_path: Path) -> None:
    good = tar_of((entry("f"), b"x" * 2000)).getvalue()
    with pytest.raises(InvalidArgument, match="invalid tar archive"):
        extract_tar(io.BytesIO(good[:1000]), tmp_path)
    with pytest.raises(InvalidArgument, match="invalid tar archive"):
        extract_tar(io.BytesIO(b"this is not a tar archive at all" * 40), tmp_path)


def test_missing_padding_and_end_blocks_are_tolerated(tmp_path: Path) -> None:
    # What the docker CLI sends when it adds a Dockerfile from outside the context.
    complete = tar_of((entry("a"), b"x" * 600), (entry("b"), b"last")).getvalue()
    unpadded = complete[: 512 + 1024 + 512 + len(b"last")]
    extract_tar(io.BytesIO(unpadded), tmp_path)
    assert (tmp_path / "b").read_bytes() == b"last"


def test_compressed_archives(tmp_path: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = entry("z.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"zzz"))
    (tmp_path / "a.tgz").write_bytes(out.getvalue())
    (tmp_path / "plain.txt").write_text("not an archive")
    assert is_archive(tmp_path / "a.tgz")
    assert not is_archive(tmp_path / "plain.txt")
    out.seek(0)
    extract_tar(out, tmp_path / "x")
    assert (tmp_path / "x" / "z.txt").read_bytes() == b"zzz"


def test_a_hard_link_to_a_symlink_links_the_symlink_itself(tmp_path: Path) -> None:
    root, victim = tmp_path / "root", tmp_path / "victim"
    victim.write_text("host file\n")
    victim.chmod(0o600)
    before = victim.stat()
    archive = tar_of(
        (entry("s", tarfile.SYMTYPE, link=str(victim)), b""),
        (entry("h", tarfile.LNKTYPE, link="s", mode=0o6777), b""),
    )
    root.mkdir()
    with Root(root) as opened:
        Extractor(opened).extract(archive)
    after = victim.stat()
    assert (after.st_mode, after.st_nlink, after.st_mtime_ns) == (
        before.st_mode,
        before.st_nlink,
        before.st_mtime_ns,
    )
    assert (root / "h").readlink() == victim
    assert (root / "h").lstat().st_ino == (root / "s").lstat().st_ino


def test_a_directory_and_a_file_do_not_replace_each_other_when_asked(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("file")
    with Root(tmp_path) as root:
        extractor = Extractor(root, no_overwrite_dir_non_dir=True)
        with pytest.raises(InvalidArgument, match="cannot overwrite directory '/d'"):
            extractor.extract(tar_of((entry("d"), b"x")))
        with pytest.raises(InvalidArgument, match="cannot overwrite non-directory '/f'"):
            extractor.extract(tar_of((entry("f", tarfile.DIRTYPE), b"")))
        Extractor(root).extract(tar_of((entry("d"), b"x"), (entry("f", tarfile.DIRTYPE), b"")))
    assert (tmp_path / "d").read_bytes() == b"x" and (tmp_path / "f").is_dir()


def test_the_archive_root_entry_is_the_destination(tmp_path: Path) -> None:
    (tmp_path / "dest").mkdir()
    with Root(tmp_path) as root:
        Extractor(root, "/dest").extract(tar_of((entry("./", tarfile.DIRTYPE, mode=0o711), b"")))
        with pytest.raises(InvalidArgument, match="the archive root is not a directory"):
            Extractor(root, "/dest").extract(tar_of((entry("."), b"x")))
    assert (tmp_path / "dest").stat().st_mode & 0o777 == 0o711
    assert (tmp_path / "dest").stat().st_mtime == 1_000_000
