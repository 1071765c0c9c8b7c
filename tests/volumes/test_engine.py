"""Volumes, bind mounts and tmpfs through the in-process engine, with real containers."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dockyard import stdcopy
from dockyard.errors import Conflict, InvalidArgument, NotFound
from tests.conftest import runc_state


def _run(engine: Any, coro: Any) -> Any:
    return engine.loop.run_until_complete(coro)


async def _run_container(
    engine: Any, body: dict[str, Any], while_running: Callable[[str], object] | None = None
) -> tuple[int, str, str, str]:
    """Run to the end; a container that reads its stdin runs until ``while_running`` returns."""
    cid = (await engine.containers.create({"Image": "busybox", **body}, None))["Id"]
    attach = await engine.containers.attach(cid, stdin=body.get("OpenStdin", False))
    waited = engine.containers.wait_begin(cid, "next-exit")
    await engine.containers.start(cid)
    if while_running is not None:
        while_running(cid)
    if body.get("OpenStdin"):
        await attach.close_stdin()
    raw = b""
    while chunk := await attach.read():
        raw += chunk
    code = (await waited)["StatusCode"]
    out = {stdcopy.STDOUT: b"", stdcopy.STDERR: b""}
    for stream, payload in stdcopy.FrameParser().feed(raw):
        out[stream] += payload
    return code, out[stdcopy.STDOUT].decode(), out[stdcopy.STDERR].decode(), cid


def run(engine: Any, script: str, **host_config: Any) -> tuple[int, str, str, str]:
    body = {"Cmd": ["sh", "-c", script], "HostConfig": host_config}
    return _run(engine, _run_container(engine, body))


def remove(engine: Any, cid: str, volumes: bool = False) -> None:
    _run(engine, engine.containers.remove(cid, volumes=volumes))


def volume_names(engine: Any) -> list[str]:
    return [v["Name"] for v in engine.volumes.list()]


# ---------------------------------------------------------------------- docker volume
def test_create_inspect_list_and_remove(engine: Any, roots: Any) -> None:
    created = engine.volumes.create("todo-db", labels={"app": "todo"})
    assert created == engine.volumes.inspect("todo-db")
    assert created["Mountpoint"] == str(roots.data_root / "volumes" / "todo-db" / "_data")
    assert (created["Driver"], created["Scope"], created["Labels"]) == (
        "local",
        "local",
        {"app": "todo"},
    )
    assert Path(created["Mountpoint"]).is_dir()
    assert engine.volumes.create("todo-db") == created  # an existing volume is returned as it is
    anonymous = engine.volumes.create()
    assert len(anonymous["Name"]) == 64 and anonymous["Labels"] == {
        "com.docker.volume.anonymous": ""
    }
    assert volume_names(engine) == sorted([anonymous["Name"], "todo-db"])
    engine.loop.run_until_complete(engine.volumes.remove("todo-db"))
    assert not (roots.data_root / "volumes" / "todo-db").exists()
    with pytest.raises(NotFound, match="^get todo-db: no such volume$"):
        engine.volumes.inspect("todo-db")
    with pytest.raises(NotFound, match="^get todo-db: no such volume$"):
        engine.loop.run_until_complete(engine.volumes.remove("todo-db"))
    engine.loop.run_until_complete(engine.volumes.remove("todo-db", force=True))


@pytest.mark.parametrize(
    ("name", "driver", "options", "error", "message"),
    [
        ("a", "local", None, InvalidArgument, "create a: volume name is too short"),
        (
            "../up",
            "local",
            None,
            InvalidArgument,
            'create ../up: "../up" includes invalid characters',
        ),
        (
            "v",
            "flocker",
            None,
            NotFound,
            'error looking up volume plugin flocker: plugin "flocker" not found',
        ),
        (
            "vol",
            "local",
            {"colour": "red"},
            InvalidArgument,
            'create vol: invalid option: "colour"',
        ),
        ("vol", "local", {"type": "nfs"}, InvalidArgument, 'missing required option: "device"'),
        ("vol", "local", {"o": "size=1m"}, InvalidArgument, 'missing required option: "device"'),
        ("vol", "local", {"size": "1g"}, InvalidArgument, "no quota support"),
    ],
)
def test_bad_volumes_are_refused(
    engine: Any, name: str, driver: str, options: Any, error: type, message: str
) -> None:
    with pytest.raises(error) as caught:
        engine.volumes.create(name, driver=driver, driver_opts=options)
    assert message in caught.value.message
    assert volume_names(engine) == []


def test_list_filters(engine: Any) -> None:
    engine.volumes.create("web-data", labels={"tier": "web"})
    engine.volumes.create("db-data", labels={"tier": "db"})
    engine.volumes.create("db-logs")
    cid = engine.loop.run_until_complete(
        engine.containers.create(
            {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Binds": ["db-data:/d"]}}, None
        )
    )["Id"]

    def names(**filters: list[str]) -> list[str]:
        return [v["Name"] for v in engine.volumes.list(filters)]

    assert names(dangling=["true"]) == ["db-logs", "web-data"]
    assert names(dangling=["false"]) == ["db-data"]
    assert names(name=["^db-"]) == ["db-data", "db-logs"]
    assert names(label=["tier"]) == ["db-data", "web-data"]
    assert names(label=["tier=web"]) == ["web-data"]
    assert names(driver=["local"], name=["logs"]) == ["db-logs"]
    with pytest.raises(InvalidArgument, match="invalid filter 'until'"):
        engine.volumes.list({"until": ["1h"]})
    with pytest.raises(InvalidArgument, match=r"invalid filter 'dangling=\[maybe\]'"):
        engine.volumes.list({"dangling": ["maybe"]})
    remove(engine, cid)


def test_prune_takes_unused_anonymous_volumes_unless_all(engine: Any) -> None:
    keep = engine.volumes.create("keep")["Name"]
    unused = engine.volumes.create()["Name"]
    used = engine.volumes.create()["Name"]
    Path(engine.volumes.inspect(unused)["Mountpoint"], "blob").write_bytes(b"x" * 1000)
    cid = engine.loop.run_until_complete(
        engine.containers.create(
            {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Binds": [f"{used}:/d"]}}, None
        )
    )["Id"]

    def prune(*filters: dict) -> dict:
        return engine.loop.run_until_complete(engine.volumes.prune(*filters))

    assert prune() == {"VolumesDeleted": [unused], "SpaceReclaimed": 1000}
    assert prune({"all": ["true"], "label!": ["nothing"]}) == {
        "VolumesDeleted": [keep],
        "SpaceReclaimed": 0,
    }
    assert volume_names(engine) == [used]
    with pytest.raises(InvalidArgument, match="invalid filter 'all': strconv.ParseBool"):
        prune({"all": ["perhaps"]})
    remove(engine, cid)


# ---------------------------------------------------------------------- containers
def test_named_volume_outlives_its_container_and_is_made_on_first_use(engine: Any) -> None:
    code, _, _, first = run(engine, "echo buy milk > /etc/todos/x", Binds=["todo-db:/etc/todos"])
    assert code == 0 and volume_names(engine) == ["todo-db"]
    mount = engine.containers.inspect(first)["Mounts"]
    assert mount == [
        {
            "Type": "volume",
            "Name": "todo-db",
            "Source": engine.volumes.inspect("todo-db")["Mountpoint"],
            "Destination": "/etc/todos",
            "Driver": "local",
            "Mode": "z",
            "RW": True,
            "Propagation": "",
        }
    ]
    remove(engine, first, volumes=True)  # -v never takes a named volume
    code, out, _, second = run(engine, "cat /etc/todos/x", Binds=["todo-db:/etc/todos"])
    assert (code, out) == (0, "buy milk\n")
    remove(engine, second)


def test_a_volume_in_use_cannot_be_removed(engine: Any) -> None:
    engine.volumes.create("todo-db")
    cid = engine.loop.run_until_complete(
        engine.containers.create(
            {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Binds": ["todo-db:/data"]}}, None
        )
    )["Id"]
    with pytest.raises(Conflict) as caught:
        engine.loop.run_until_complete(engine.volumes.remove("todo-db", force=True))
    assert caught.value.message == f"remove todo-db: volume is in use - [{cid}]"
    assert [c["Id"] for c in engine.containers.list(all=True, filters={"volume": ["todo-db"]})] == [
        cid
    ]
    assert engine.containers.list(all=True, filters={"volume": ["/data"]})[0]["Id"] == cid
    assert engine.containers.list(all=True, filters={"volume": ["other"]}) == []
    remove(engine, cid)
    engine.loop.run_until_complete(engine.volumes.remove("todo-db"))


def test_bind_mount_shares_files_both_ways(engine: Any, roots: Any) -> None:
    host = roots.base / "host-data"
    host.mkdir()
    (host / "from-host").write_text("hello from the host\n")
    code, out, _, cid = run(
        engine, "cat /data/from-host && echo hi > /data/from-container", Binds=[f"{host}:/data"]
    )
    assert (code, out) == (0, "hello from the host\n")
    assert (host / "from-container").read_text() == "hi\n"
    assert engine.containers.inspect(cid)["Mounts"] == [
        {
            "Type": "bind",
            "Source": str(host),
            "Destination": "/data",
            "Mode": "",
            "RW": True,
            "Propagation": "rprivate",
        }
    ]
    remove(engine, cid)


def test_missing_host_directory_of_v_is_made_at_start(engine: Any, roots: Any) -> None:
    host = roots.base / "made" / "here"
    code, _, _, cid = run(engine, "touch /d/file", Binds=[f"{host}:/d"])
    assert code == 0 and (host / "file").exists()
    remove(engine, cid)


def test_read_only_mounts_refuse_writes(engine: Any, roots: Any) -> None:
    host = roots.base / "ro"
    host.mkdir()
    code, _, err, cid = run(
        engine,
        "cat /v/x; echo no > /ro/x || echo no > /v/x",
        Binds=[f"{host}:/ro:ro", "shared:/v:ro"],
    )
    assert code != 0 and "Read-only file system" in err
    assert not (host / "x").exists()
    mounts = {m["Destination"]: m for m in engine.containers.inspect(cid)["Mounts"]}
    assert (mounts["/ro"]["RW"], mounts["/ro"]["Mode"]) == (False, "ro")
    assert (mounts["/v"]["RW"], mounts["/v"]["Mode"]) == (False, "ro")
    remove(engine, cid)


def test_tmpfs_mounts(engine: Any) -> None:
    code, out, _, cid = run(
        engine,
        "grep -E ' /(run|cache) ' /proc/mounts",
        Tmpfs={"/run": "size=1m"},
        Mounts=[{"Type": "tmpfs", "Target": "/cache", "TmpfsOptions": {"SizeBytes": 2 << 20}}],
    )
    lines = {line.split()[1]: line.split() for line in out.splitlines()}
    assert code == 0 and lines["/run"][2] == lines["/cache"][2] == "tmpfs"
    assert "size=1024k" in lines["/run"][3] and "noexec" in lines["/run"][3]
    assert "size=2048k" in lines["/cache"][3]
    # As in Docker, --tmpfs is not a mount point of inspect; --mount type=tmpfs is.
    assert engine.containers.inspect(cid)["Mounts"] == [
        {
            "Type": "tmpfs",
            "Source": "",
            "Destination": "/cache",
            "Mode": "",
            "RW": True,
            "Propagation": "",
        }
    ]
    remove(engine, cid)


def test_mount_type_volume_with_labels_and_subpath(engine: Any) -> None:
    mount = {
        "Type": "volume",
        "Source": "vol",
        "Target": "/d",
        "VolumeOptions": {"Labels": {"k": "1"}},
    }
    code, _, _, first = run(engine, "mkdir /d/sub && echo in-sub > /d/sub/f", Mounts=[mount])
    assert code == 0 and engine.volumes.inspect("vol")["Labels"] == {"k": "1"}
    sub = {"Type": "volume", "Source": "vol", "Target": "/s", "VolumeOptions": {"Subpath": "sub"}}
    code, out, _, second = run(engine, "cat /s/f", Mounts=[sub])
    assert (code, out) == (0, "in-sub\n")
    remove(engine, first)
    remove(engine, second)


def seeded_image(engine: Any, busybox_tar: Path, tmp_path: Path) -> str:
    """busybox plus /srv/app/seed.txt (uid 1000, modes 0750/0640) and VOLUME /srv/app."""
    tar_path = tmp_path / "seeded.tar"
    with tarfile.open(busybox_tar) as base, tarfile.open(tar_path, "w") as out:
        for member in base.getmembers():
            out.addfile(member, base.extractfile(member) if member.isfile() else None)
        for name, mode, owner in (("srv", 0o755, 0), ("srv/app", 0o750, 1000)):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, mode, owner, owner
            out.addfile(info)
        data = b"seeded by the image\n"
        info = tarfile.TarInfo("srv/app/seed.txt")
        info.size, info.mode, info.uid, info.gid = len(data), 0o640, 1000, 1000
        out.addfile(info, io.BytesIO(data))
    with open(tar_path, "rb") as f:
        engine.images.import_tar(f, "seeded:latest", ['CMD ["sh"]', "VOLUME /srv/app"])
    return "seeded:latest"


def test_image_volume_is_anonymous_copied_up_and_removed_with_rm_v(
    engine: Any, busybox_tar: Path, tmp_path: Path
) -> None:
    image = seeded_image(engine, busybox_tar, tmp_path)
    cid = engine.loop.run_until_complete(
        engine.containers.create({"Image": image, "Cmd": ["cat", "/srv/app/seed.txt"]}, None)
    )["Id"]
    (mount,) = engine.containers.inspect(cid)["Mounts"]
    assert (mount["Type"], mount["Destination"], mount["Mode"], len(mount["Name"])) == (
        "volume",
        "/srv/app",
        "",
        64,
    )
    data = Path(mount["Source"])
    st = os.stat(data / "seed.txt")
    assert (data / "seed.txt").read_text() == "seeded by the image\n"
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1000, 1000, 0o640)
    assert (os.stat(data).st_uid, os.stat(data).st_mode & 0o777) == (1000, 0o750)
    assert engine.volumes.inspect(mount["Name"])["Labels"] == {"com.docker.volume.anonymous": ""}
    remove(engine, cid, volumes=True)
    assert volume_names(engine) == []


def test_copy_up_only_into_an_empty_volume(engine: Any, busybox_tar: Path, tmp_path: Path) -> None:
    image = seeded_image(engine, busybox_tar, tmp_path)
    Path(engine.volumes.create("app")["Mountpoint"], "mine").write_text("kept\n")
    body = {"Image": image, "Cmd": ["ls", "/srv/app"], "HostConfig": {"Binds": ["app:/srv/app"]}}
    code, out, _, cid = _run(engine, _run_container(engine, body))
    assert (code, out) == (0, "mine\n")
    nocopy = {
        "Image": image,
        "Cmd": ["ls", "/srv/app"],
        "HostConfig": {"Binds": ["fresh:/srv/app:nocopy"]},
    }
    code, out, _, other = _run(engine, _run_container(engine, nocopy))
    assert (code, out) == (0, "")
    remove(engine, cid)
    remove(engine, other)


def test_auto_remove_takes_anonymous_volumes_along(engine: Any) -> None:
    async def scenario() -> None:
        body = {
            "Image": "busybox",
            "Cmd": ["true"],
            "Volumes": {"/scratch": {}},
            "HostConfig": {"AutoRemove": True, "Binds": ["kept:/k"]},
        }
        cid = (await engine.containers.create(body, None))["Id"]
        removed = engine.containers.wait_begin(cid, "removed")
        await engine.containers.start(cid)
        await asyncio.wait_for(removed, 10)

    _run(engine, scenario())
    assert volume_names(engine) == ["kept"]


def test_volumes_from_shares_the_other_containers_mounts(engine: Any) -> None:
    code, _, _, source = run(engine, "echo shared > /d/f", Binds=["data:/d"])
    code, out, err, reader = run(engine, "cat /d/f; touch /d/g", VolumesFrom=[f"{source}:ro"])
    assert out == "shared\n" and "Read-only file system" in err
    assert engine.containers.inspect(reader)["Mounts"][0]["RW"] is False
    remove(engine, reader)
    remove(engine, source)


@pytest.mark.parametrize(
    ("host_config", "message"),
    [
        ({"Binds": ["/a:/b:bogus"]}, "invalid mode: bogus"),
        ({"Binds": ["bad@name:/d"]}, 'create bad@name: "bad@name" includes invalid characters'),
        (
            {"Mounts": [{"Type": "bind", "Source": "/no/such/dir", "Target": "/x"}]},
            'invalid mount config for type "bind": bind source path does not exist: /no/such/dir',
        ),
        (
            {"Binds": ["v:/d"], "Mounts": [{"Type": "volume", "Source": "w", "Target": "/d"}]},
            "Duplicate mount point: /d",
        ),
        ({"Binds": ["v:/run"], "Tmpfs": {"/run": ""}}, "Duplicate mount point: /run"),
        ({"Tmpfs": {"/run": "colour=red"}}, 'invalid tmpfs option "colour"'),
        ({"Tmpfs": {"run": ""}}, "invalid mount path: 'run' mount path must be absolute"),
        ({"VolumesFrom": ["nobody"]}, "No such container: nobody"),
        ({"Binds": ["v:/d"], "VolumeDriver": "flocker"}, 'plugin "flocker" not found'),
        ({"VolumeDriver": "flocker"}, 'plugin "flocker" not found'),
    ],
)
def test_bad_mount_specs_store_nothing(engine: Any, host_config: dict, message: str) -> None:
    body = {
        "Image": "busybox",
        "Cmd": ["true"],
        "Volumes": {"/scratch": {}},
        "HostConfig": host_config,
    }
    with pytest.raises((InvalidArgument, NotFound)) as caught:
        engine.loop.run_until_complete(engine.containers.create(body, None))
    assert message in caught.value.message
    assert engine.containers.all() == [] and volume_names(engine) == []
    assert list(engine.paths.containers.iterdir()) == []


def test_a_volume_over_an_image_file_is_refused(engine: Any) -> None:
    body = {"Image": "busybox", "Cmd": ["true"], "Volumes": {"/etc/passwd": {}}}
    with pytest.raises(InvalidArgument, match="cannot mount volume over existing file"):
        engine.loop.run_until_complete(engine.containers.create(body, None))
    assert engine.containers.all() == [] and volume_names(engine) == []
    assert not any(engine.paths.volumes.iterdir())


def test_runc_runs_the_same_mounts(engine: Any, roots: Any) -> None:
    if not shutil.which("runc"):
        pytest.skip("runc is not installed")
    host = roots.base / "for-runc"
    host.mkdir()
    script = "echo kept > /v/f; touch /ro/x 2>/dev/null || echo refused; grep -c ' /run tmpfs ' /proc/mounts"
    body = {
        "Cmd": ["sh", "-c", f"{script}; read -r _ || true"],
        "OpenStdin": True,
        "StdinOnce": True,
        "HostConfig": {
            "Runtime": "io.containerd.runc.v2",  # the runc binary ("runc" is the built-in)
            "Binds": ["runc-vol:/v", f"{host}:/ro:ro"],
            "Tmpfs": {"/run": "size=1m"},
        },
    }
    states: list[dict] = []
    code, out, _, cid = _run(
        engine,
        _run_container(
            engine, body, lambda cid: states.append(runc_state(engine.paths.exec_root, cid))
        ),
    )
    assert [state["status"] for state in states] == ["running"]  # runc itself ran it
    assert (code, out) == (0, "refused\n1\n")
    assert Path(engine.volumes.inspect("runc-vol")["Mountpoint"], "f").read_text() == "kept\n"
    remove(engine, cid)
