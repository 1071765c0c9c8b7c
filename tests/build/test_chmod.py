"""--chmod in octal and symbolic form."""

from __future__ import annotations

import pytest

from dockyard.build.chmod import parse_chmod
from dockyard.errors import InvalidArgument


def mode(spec: str, before: int, is_dir: bool = False) -> int:
    chmod = parse_chmod(spec)
    assert chmod is not None
    return chmod.apply(before, is_dir)


@pytest.mark.parametrize(
    ("spec", "before", "is_dir", "after"),
    [
        ("0755", 0o600, False, 0o755),
        ("4755", 0o600, False, 0o4755),
        ("u+x,g=r", 0o600, False, 0o740),
        ("a-w", 0o664, False, 0o444),
        ("go=u", 0o640, False, 0o666),
        ("+x", 0o600, False, 0o711),
        ("u=rw,go=", 0o777, False, 0o600),
        ("a+X", 0o644, True, 0o755),
        ("a+X", 0o644, False, 0o644),
        ("a+X", 0o744, False, 0o755),
        ("u+s,o+t", 0o755, False, 0o5755),
        ("u+rw-x", 0o700, False, 0o600),
    ],
)
def test_modes(spec: str, before: int, is_dir: bool, after: int) -> None:
    assert mode(spec, before, is_dir) == after


@pytest.mark.parametrize("spec", ["rwx", "u+q", "8755", "u+x,,g+r", "z=r", "77777"])
def test_bad_modes(spec: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid chmod parameter"):
        parse_chmod(spec)


def test_none() -> None:
    assert parse_chmod("") is None
