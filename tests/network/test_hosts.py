"""/etc/hosts entries of containers on the same networks, rewritten in place."""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.network import hosts

BASE = "127.0.0.1\tlocalhost\n10.0.0.9\textra\n"


def test_our_part_follows_the_engines_and_is_replaced_in_place(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text(BASE)
    inode = os.stat(path).st_ino
    hosts.update(path, [hosts.Entry("10.1.0.2", ("web",)), hosts.Entry("10.1.0.3", ("db", "d"))])
    assert path.read_text() == BASE + hosts.MARKER + "10.1.0.2\tweb\n10.1.0.3\tdb d\n"
    hosts.update(path, [hosts.Entry("10.1.0.2", ("web",))])
    assert path.read_text() == BASE + hosts.MARKER + "10.1.0.2\tweb\n"
    hosts.update(path, [])
    assert path.read_text() == BASE
    assert os.stat(path).st_ino == inode  # a bind mount of the file sees every change


def test_a_missing_file_is_left_alone(tmp_path: Path) -> None:
    hosts.update(tmp_path / "gone", [hosts.Entry("10.1.0.2", ("web",))])
    assert not (tmp_path / "gone").exists()
