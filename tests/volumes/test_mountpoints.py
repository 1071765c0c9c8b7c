"""Mount specifications parsed and refused as moby's Linux parser does (pure logic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.volumes.mountpoints import (
    parse_bind,
    parse_mount,
    parse_volumes_from,
    tmpfs_data,
    tmpfs_options,
)


def test_host_path_binds_and_named_volumes() -> None:
    bind = parse_bind("/srv/data/:/data:ro")
    assert (bind.type, bind.source, bind.destination, bind.rw, bind.mode, bind.propagation) == (
        "bind",
        "/srv/data",
        "/data",
        False,
        "ro",
        "rprivate",
    )
    volume = parse_bind("todo-db:/etc/todos")
    assert (volume.type, volume.name, volume.destination, volume.rw, volume.anonymous) == (
        "volume",
        "todo-db",
        "/etc/todos",
        True,
        False,
    )
    anonymous = parse_bind("/scratch")
    assert (anonymous.type, anonymous.name, anonymous.anonymous) == ("volume", "", True)
    assert parse_bind("/a:/b:rslave").propagation == "rslave"
    assert parse_bind("cache:/c:nocopy").copy_data is False


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (":/x", "invalid volume specification: ':/x'"),
        ("/a:/b:ro:extra", "invalid volume specification: '/a:/b:ro:extra'"),
        ("/data:rw", "invalid volume specification: '/data:rw'"),
        ("/a:/b:rw,ro", "invalid mode: rw,ro"),
        ("/a:/b:bogus", "invalid mode: bogus"),
        (
            "/a:/",
            "invalid volume specification: '/a:/': invalid mount config for type \"bind\": "
            "invalid specification: destination can't be '/'",
        ),
        (
            "/a:relative",
            "invalid volume specification: '/a:relative': invalid mount config for "
            "type \"bind\": invalid mount path: 'relative' mount path must be absolute",
        ),
    ],
)
def test_bad_binds_are_refused_in_dockers_words(raw: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_bind(raw)
    assert caught.value.message == message


def test_a_bind_host_path_need_not_exist_for_v_but_must_for_mount(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    assert parse_bind(f"{missing}:/x").source == missing
    with pytest.raises(InvalidArgument) as caught:
        parse_mount({"Type": "bind", "Source": missing, "Target": "/x"})
    assert caught.value.message == (
        f'invalid mount config for type "bind": bind source path does not exist: {missing}'
    )
    created = parse_mount(
        {
            "Type": "bind",
            "Source": missing,
            "Target": "/x",
            "BindOptions": {"CreateMountpoint": True},
        }
    )
    assert created.source == missing


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"Type": "volume", "Target": ""}, "field Target must not be empty"),
        ({"Type": "bind", "Target": "/x"}, "field Source must not be empty"),
        (
            {"Type": "bind", "Source": "/", "Target": "/x", "BindOptions": {"Propagation": "up"}},
            "invalid propagation mode: up",
        ),
        (
            {"Type": "volume", "Target": "/x", "BindOptions": {}},
            "field BindOptions must not be specified",
        ),
        (
            {"Type": "volume", "Target": "/x", "ReadOnly": True},
            "must not set ReadOnly mode when using anonymous volumes",
        ),
        (
            {
                "Type": "volume",
                "Source": "v",
                "Target": "/x",
                "VolumeOptions": {"Subpath": "../up"},
            },
            "subpath must be a relative path within the volume",
        ),
        ({"Type": "tmpfs", "Source": "x", "Target": "/x"}, "field Source must not be specified"),
        ({"Type": "npipe", "Target": "/x"}, "mount type unknown"),
    ],
)
def test_bad_mounts_are_refused_in_dockers_words(spec: dict, reason: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_mount(spec)
    assert caught.value.message == f'invalid mount config for type "{spec["Type"]}": {reason}'


def test_tmpfs_options_merge_over_dockers_defaults() -> None:
    assert tmpfs_options("") == ["noexec", "nosuid", "nodev", "rprivate"]
    assert tmpfs_options("exec,size=1m,size=2m") == [
        "nosuid",
        "nodev",
        "rprivate",
        "exec",
        "size=2m",
    ]
    with pytest.raises(InvalidArgument, match='invalid tmpfs option "colour"'):
        tmpfs_options("colour=red")
    assert (
        tmpfs_data({"SizeBytes": 64 << 20, "Mode": 0o1777}, readonly=True)
        == "ro,mode=1777,size=64m"
    )
    assert tmpfs_data({"SizeBytes": 1000}, readonly=False) == "size=1000"


def test_volumes_from_modes() -> None:
    assert parse_volumes_from("data") == ("data", True)
    assert parse_volumes_from("data:ro") == ("data", False)
    for bad in ("data:rshared", "data:nocopy", "data:what"):
        with pytest.raises(InvalidArgument, match="invalid mode"):
            parse_volumes_from(bad)
