"""-v and --mount values converted like docker's opts."""

from __future__ import annotations

import os

import pytest

from dockyard.cli.mounts import parse_mount, parse_volumes
from dockyard.errors import InvalidArgument


def test_binds_named_volumes_and_anonymous_volumes() -> None:
    binds, anonymous = parse_volumes(["/srv:/data:ro", "cache:/cache", "/scratch"])
    assert binds == ["/srv:/data:ro", "cache:/cache"]
    assert anonymous == {"/scratch": {}}


def test_relative_host_path_becomes_absolute() -> None:
    binds, _ = parse_volumes(["./here:/x"])
    assert binds == [os.path.abspath("./here") + ":/x"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [("", "invalid empty volume spec"), ("a:b:c:d", "invalid spec: a:b:c:d: too many colons")],
)
def test_bad_volume_specs(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_volumes([spec])
    assert caught.value.message == message


def test_bind_mount() -> None:
    assert parse_mount("type=bind,source=/srv,target=/data,readonly") == {
        "Type": "bind",
        "Source": "/srv",
        "Target": "/data",
        "ReadOnly": True,
    }


def test_volume_mount_is_the_default_type_with_options() -> None:
    mount = parse_mount("src=data,dst=/d,volume-label=a=b,volume-nocopy")
    assert mount == {
        "Type": "volume",
        "Source": "data",
        "Target": "/d",
        "VolumeOptions": {"Labels": {"a": "b"}, "NoCopy": True},
    }


def test_tmpfs_mount_size_and_mode() -> None:
    mount = parse_mount("type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770")
    assert mount["TmpfsOptions"] == {"SizeBytes": 64 * 1024**2, "Mode": 0o1770}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("type=bind,source=/a", "target is required"),
        ("type=bind,target=/b,bogus=1", "unexpected key 'bogus' in 'bogus=1'"),
        (
            "type=bind,target=/b,volume-nocopy",
            "cannot mix 'volume-*' options with mount type 'bind'",
        ),
        ("target=/b,oops", "invalid field 'oops' must be a key=value pair"),
        ("target=/b,readonly=maybe", "invalid value for readonly: maybe"),
    ],
)
def test_bad_mounts(value: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_mount(value)
    assert caught.value.message == message
