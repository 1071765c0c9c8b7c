"""/etc/hosts as Docker 28 writes it, rewritten in place."""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.engine.discovery import rewrite
from dockyard.network import hosts


def test_the_file_docker_28_writes() -> None:
    text = hosts.render([hosts.Entry("10.0.0.9", "extra"), hosts.Entry("172.18.0.2", "web")])
    assert text == (
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::\tip6-localnet\n"
        "ff00::\tip6-mcastprefix\n"
        "ff02::1\tip6-allnodes\n"
        "ff02::2\tip6-allrouters\n"
        "10.0.0.9\textra\n"
        "172.18.0.2\tweb\n"
    )


def test_own_names_are_the_fqdn_then_the_bare_name() -> None:
    assert hosts.own_names("web", "") == "web"
    assert hosts.own_names("web", "example.com") == "web.example.com web"
    assert hosts.own_names("web.example.com", "") == "web.example.com web"


def test_a_bind_mounted_file_is_rewritten_in_place(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("a much longer old content\n")
    inode = os.stat(path).st_ino
    rewrite(path, "new\n")
    assert path.read_text() == "new\n"
    assert os.stat(path).st_ino == inode  # a bind mount of the file sees every change


def test_a_missing_file_is_left_alone(tmp_path: Path) -> None:
    rewrite(tmp_path / "gone", "x\n")
    assert not (tmp_path / "gone").exists()
