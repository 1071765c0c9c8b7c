"""Detach keys: parsed like moby's, found in input split across reads."""

from __future__ import annotations

import pytest

from dockyard.api import detach
from dockyard.errors import InvalidArgument


def test_default_keys_are_ctrl_p_ctrl_q() -> None:
    assert detach.parse(detach.DEFAULT) == b"\x10\x11"


def test_single_characters_and_ctrl_specials() -> None:
    assert detach.parse("a,ctrl-@,ctrl-[,ctrl-_") == b"a\x00\x1b\x1f"


def test_bad_keys_are_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"Invalid detach keys \(ctrl-1\) provided"):
        detach.parse("ctrl-1")


def test_sequence_split_across_reads_detaches_and_is_not_passed_on() -> None:
    watcher = detach.DetachWatcher(b"\x10\x11")
    assert watcher.feed(b"ls\x10") == (b"ls", False)
    assert watcher.feed(b"\x11rest") == (b"", True)


def test_a_partial_sequence_is_released_when_it_does_not_complete() -> None:
    watcher = detach.DetachWatcher(b"\x10\x11")
    assert watcher.feed(b"\x10") == (b"", False)
    assert watcher.feed(b"x\x10\x10") == (b"\x10x\x10", False)
