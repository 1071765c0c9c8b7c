"""--env-file, --label-file and -e values read like docker's kvfile."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.cli.envfile import read_env, read_labels
from dockyard.errors import InvalidArgument


def test_env_file_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_HOST", "yes")
    monkeypatch.delenv("UNSET_HERE", raising=False)
    env_file = tmp_path / "env"
    env_file.write_bytes(
        b"\xef\xbb\xbf# comment\n  A=1\nB=with spaces and = signs\nFROM_HOST\nUNSET_HERE\n\nC=\n"
    )
    assert read_env([str(env_file)], ["D=4", "FROM_HOST"]) == [
        "A=1",
        "B=with spaces and = signs",
        "FROM_HOST=yes",
        "C=",
        "D=4",
        "FROM_HOST=yes",
    ]


def test_label_file_drops_bare_keys(tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    labels.write_text("a=1\nbare\nb=x=y\n")
    assert read_labels([str(labels)], ["c=3", "a=override"]) == {
        "a": "override",
        "b": "x=y",
        "c": "3",
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"=value\n", "no variable name on line '=value'"),
        (b"MY VAR=1\n", "variable 'MY VAR' contains whitespaces"),
        (b"A=\xff\n", "invalid utf8 bytes at line 1: [65, 61, 255]"),
    ],
)
def test_bad_env_files(tmp_path: Path, content: bytes, message: str) -> None:
    env_file = tmp_path / "env"
    env_file.write_bytes(content)
    with pytest.raises(InvalidArgument) as caught:
        read_env([str(env_file)], [])
    assert caught.value.message == f"invalid env file ({env_file}): {message}"


def test_missing_env_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="no such file or directory"):
        read_env([str(tmp_path / "nope")], [])


def test_empty_variable_name_in_flag() -> None:
    with pytest.raises(InvalidArgument, match="invalid environment variable: =x"):
        read_env([], ["=x"])
