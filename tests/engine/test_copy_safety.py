"""`docker cp` stays inside the container: planted symlinks, hard links to symlinks,
``..`` links of a stopped root and a container racing the copy never reach the host."""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest

from dockyard.errors import InvalidArgument, NotFound
from tests.e2e.helpers import wait_until

Snapshot = dict[str, tuple[int, int, int, int, bytes]]


def _run(engine: Any, coro: Any) -> Any:
    return engine.loop.run_until_complete(coro)


@pytest.fixture
def host(roots: Any) -> Path:
    """A host directory a container must never reach, with a secret in it."""
    directory = roots.base / "host"
    directory.mkdir()
    secret = directory / "secret.txt"
    secret.write_text(f"host secret {secrets.token_hex(8)}\n")
    secret.chmod(0o640)
    os.utime(secret, (1_000_000, 1_000_000))
    return directory


def snapshot(directory: Path) -> Snapshot:
    """Every entry's mode, owner, mtime and content: what an escape would change."""
    found: Snapshot = {}
    for path in sorted(directory.rglob("*")):
        st = path.lstat()
        content = path.read_bytes() if stat.S_ISREG(st.st_mode) else b""
        found[str(path)] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, content)
    return found


def tar_of(*members: tarfile.TarInfo, data: bytes = b"owned\n") -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info in members:
            if info.isreg():
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    out.seek(0)
    return out


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644) -> Any:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = kind, link, mode, 12345
    info.uid = info.gid = 4242
    return info


def running(engine: Any, script: str) -> str:
    """A container that runs ``script``, then touches /ready and sleeps; once it is ready."""
    cid = engine.loop.run_until_complete(
        engine.containers.create(
            {"Image": "busybox", "Cmd": ["sh", "-c", f"{script}\ntouch /ready\nexec sleep 300"]},
            None,
        )
    )["Id"]
    _run(engine, engine.containers.start(cid))
    wait_until(lambda: _exists(engine, cid, "/ready"), what="the container to be ready")
    return cid


def stopped(engine: Any, script: str) -> str:
    cid = engine.loop.run_until_complete(
        engine.containers.create({"Image": "busybox", "Cmd": ["sh", "-c", script]}, None)
    )["Id"]
    _run(engine, engine.containers.start(cid))
    assert _run(engine, engine.containers.wait(cid))["StatusCode"] == 0
    return cid


def _exists(engine: Any, cid: str, path: str) -> bool:
    try:
        engine.containers.archive_stat(cid, path)
    except NotFound:
        return False
    return True


def read_out(engine: Any, cid: str, path: str) -> list[tuple[tarfile.TarInfo, bytes]]:
    """The members of the tar `docker cp` gives for ``path``, with their data."""
    stream, _ = engine.containers.archive_get(cid, path)
    members = []
    with stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            data = tar.extractfile(member) if member.isreg() else None
            members.append((member, data.read() if data else b""))
    return members


def test_a_planted_absolute_symlink_is_followed_inside_the_running_container(
    engine: Any, host: Path
) -> None:
    before = snapshot(host)
    cid = running(engine, f"mkdir /in && ln -s {host} /in/planted")
    # Through the link, as an entry's parent: what lands there stays in the container.
    engine.containers.archive_put(cid, "/in", tar_of(entry("planted/owned")))
    assert snapshot(host) == before
    assert _exists(engine, cid, f"{host}/owned")
    # The link as a directory entry: docker's CLI forbids replacing a non-directory.
    dir_then_file = tar_of(entry("planted", tarfile.DIRTYPE, mode=0o777), entry("planted/again"))
    with pytest.raises(InvalidArgument, match="cannot overwrite non-directory '/in/planted'"):
        engine.containers.archive_put(cid, "/in", dir_then_file, True)
    # As the destination: it resolves in the container's root.
    engine.containers.archive_put(cid, "/in/planted", tar_of(entry("as-destination")))
    assert _exists(engine, cid, f"{host}/as-destination")
    assert snapshot(host) == before
    # /proc's magic links (a process's root, its open files) are not followed at all.
    for use in (
        lambda: engine.containers.archive_stat(cid, "/proc/1/root/etc/passwd"),
        lambda: read_out(engine, cid, "/proc/1/root/etc/passwd"),
        lambda: engine.containers.archive_put(cid, "/proc/1/root/tmp", tar_of(entry("x"))),
    ):
        with pytest.raises(InvalidArgument, match="Too many levels of symbolic links"):
            use()


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_a_hard_link_to_a_symlink_changes_no_host_file(engine: Any, host: Path, state: str) -> None:
    before = snapshot(host)
    secret = host / "secret.txt"
    cid = running(engine, "mkdir /in") if state == "running" else stopped(engine, "mkdir /in")
    archive = tar_of(
        entry("s", tarfile.SYMTYPE, link=str(secret)),
        entry("h", tarfile.LNKTYPE, link="s", mode=0o6777),
    )
    engine.containers.archive_put(cid, "/in", archive)
    assert snapshot(host) == before
    [(link, _)] = read_out(engine, cid, "/in/h")
    assert link.issym() and link.linkname == str(secret)


def test_dotdot_symlinks_of_a_stopped_container_stay_in_its_root(engine: Any, host: Path) -> None:
    before = snapshot(host)
    up = "../" * 30 + str(host).lstrip("/")
    cid = stopped(engine, f"mkdir /in && ln -s {up} /in/up")
    engine.containers.archive_put(cid, "/in", tar_of(entry("up/owned")))
    assert snapshot(host) == before
    with pytest.raises(NotFound):
        read_out(engine, cid, "/in/up/secret.txt")
    with pytest.raises(NotFound):
        engine.containers.archive_stat(cid, "/in/up/secret.txt")
    assert _exists(engine, cid, f"{host}/owned")
    assert snapshot(host) == before


def test_cp_of_a_symlink_gives_the_link_and_its_target_resolved(engine: Any) -> None:
    cid = stopped(engine, "ln -s /etc /etclink && ln -s etclink /chain")
    [(link, _)] = read_out(engine, cid, "/etclink")
    assert link.name == "etclink" and link.issym() and link.linkname == "/etc"
    info = engine.containers.archive_stat(cid, "/chain")
    assert info["mode"] & (1 << 27) and info["linkTarget"] == "/etc"
    followed = read_out(engine, cid, "/chain/")
    assert followed[0][0].name == "chain" and followed[0][0].isdir()
    assert any(member.name == "chain/passwd" for member, _ in followed)
    with pytest.raises(InvalidArgument, match="not a directory"):
        read_out(engine, cid, "/etc/passwd/")


HOSTILE = {
    "climbs out": (entry("../../../../escape"), "is outside the archive"),
    "hard link out": (
        entry("h", tarfile.LNKTYPE, link="../../../../etc/passwd"),
        "is outside the archive",
    ),
    "hard link to nothing": (entry("h", tarfile.LNKTYPE, link="missing"), "does not exist"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_tar_is_an_invalid_argument(engine: Any, name: str) -> None:
    member, message = HOSTILE[name]
    cid = stopped(engine, "mkdir /in")
    with pytest.raises(InvalidArgument, match=f"^invalid tar archive: .*{message}"):
        engine.containers.archive_put(cid, "/in", tar_of(member))


def test_a_container_swapping_a_dir_for_a_symlink_never_wins(engine: Any, host: Path) -> None:
    """CVE-2018-15664: /w/t keeps switching between a directory and a symlink to the host
    directory while we copy in and out through it, 500 times each."""
    before = snapshot(host)
    secret = (host / "secret.txt").read_bytes()
    cid = running(
        engine,
        f"mkdir -p /w/d {host} && echo decoy > /w/d/secret.txt && "
        f"echo inside > {host}/secret.txt && ln -s {host} /w/l\n"
        "(while :; do mv /w/d /w/t; mv /w/t /w/d; mv /w/l /w/t; mv /w/t /w/l; done) &",
    )
    seen = set()
    for i in range(500):
        with contextlib.suppress(NotFound, InvalidArgument):  # /w/t was between two names
            engine.containers.archive_put(cid, "/w/t", tar_of(entry(f"in-{i}")))
        with contextlib.suppress(NotFound):
            seen.update(data for _, data in read_out(engine, cid, "/w/t/secret.txt"))
    assert secret not in seen
    assert seen <= {b"decoy\n", b"inside\n"}
    assert snapshot(host) == before


def test_cp_out_streams_what_it_reads(engine: Any) -> None:
    """Nothing is staged: the tar is written while it is read, so a file changed after
    the copy began but before the writer reached it is seen changed."""
    cid = stopped(
        engine,
        "mkdir /big && head -c 4194304 /dev/zero > /big/a && echo before > /big/z",
    )
    stream, info = engine.containers.archive_get(cid, "/big")
    with stream:
        assert info["name"] == "big"
        # The writer is blocked on the full pipe, inside /big/a: /big/z is not read yet.
        z = Path(engine.containers.inspect(cid)["GraphDriver"]["Data"]["UpperDir"]) / "big" / "z"
        z.write_text("after!\n")
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            contents = {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]
    assert len(contents["big/a"]) == 4194304
    assert contents["big/z"] == b"after!\n"


def test_cp_into_a_created_container_writes_its_volumes(engine: Any) -> None:
    """As Docker does, a container that is not running gets its volumes mounted for a copy."""
    binds = ["cpvol:/data", "cpro:/ro:ro"]
    cid = engine.loop.run_until_complete(
        engine.containers.create(
            {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Binds": binds}}, None
        )
    )["Id"]
    engine.containers.archive_put(cid, "/data", tar_of(entry("note.txt"), data=b"in the volume"))
    volume = Path(engine.volumes.inspect("cpvol")["Mountpoint"])
    assert (volume / "note.txt").read_bytes() == b"in the volume"
    [(_, data)] = read_out(engine, cid, "/data/note.txt")
    assert data == b"in the volume"
    with pytest.raises(InvalidArgument, match="Read-only file system"):
        engine.containers.archive_put(cid, "/ro", tar_of(entry("refused.txt")))
    assert not (Path(engine.volumes.inspect("cpro")["Mountpoint"]) / "refused.txt").exists()
    _run(engine, engine.containers.remove(cid, force=True))
    for name in ("cpvol", "cpro"):
        engine.loop.run_until_complete(engine.volumes.remove(name))


def test_removing_a_container_during_a_copy_out_spares_its_volume(engine: Any) -> None:
    cid = engine.loop.run_until_complete(
        engine.containers.create(
            {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Binds": ["kept:/data"]}}, None
        )
    )["Id"]
    big = b"x" * 4194304
    engine.containers.archive_put(cid, "/data", tar_of(entry("big"), data=big))
    volume = Path(engine.volumes.inspect("kept")["Mountpoint"])
    stream, _ = engine.containers.archive_get(cid, "/data")
    with stream:
        # Once past the headers, the writer is in /data/big, blocked on the full pipe.
        head = b""
        while len(head) < 8192:
            head += stream.read(8192 - len(head))
        _run(engine, engine.containers.remove(cid, force=True))
        rest = stream.read()
    with tarfile.open(fileobj=io.BytesIO(head + rest)) as tar:
        copied = {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]
    assert copied == {"data/big": big}
    assert (volume / "big").read_bytes() == big
    engine.loop.run_until_complete(engine.volumes.remove("kept"))


def test_a_copy_out_read_no_further_releases_the_root(engine: Any) -> None:
    cid = stopped(engine, "head -c 4194304 /dev/zero > /big")
    copy_root = engine.containers.inspect(cid)["GraphDriver"]["Data"]["MergedDir"]
    copy_root = str(Path(copy_root).parent / "copy")

    def mounted() -> bool:
        with open("/proc/self/mounts") as f:
            return any(line.split()[1] == copy_root for line in f)

    stream, _ = engine.containers.archive_get(cid, "/big")
    assert mounted()
    stream.close()
    wait_until(lambda: not mounted(), what="the copy's root to be unmounted")
