""".dockerignore patterns with moby/patternmatcher semantics."""

from __future__ import annotations

import pytest

from dockyard.build.dockerignore import IgnoreMatcher, read_dockerignore
from dockyard.errors import InvalidArgument


def matcher(text: str) -> IgnoreMatcher:
    return IgnoreMatcher(read_dockerignore(text))


def test_reading_normalizes_like_docker() -> None:
    text = "\ufeff# comment\n  *.log  \n\n/build/\n./docs//x\n! keep.log\n"
    assert read_dockerignore(text) == ["*.log", "build", "docs/x", "!keep.log"]


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("debug.log", True),
        ("sub/debug.log", False),  # "*" stays within one path component
        ("keep.log", False),  # re-included by "!"
        ("build", True),
        ("build/out/x.o", True),  # a parent directory matched
        ("node_modules", True),
        ("a/b/node_modules/pkg/index.js", True),  # "**/" at any depth
        ("docs", False),
        ("docs/api/index.html", True),  # "docs/**"
        ("tmp1", True),
        ("tmp12", False),  # "?" is one character
        ("xa", True),
        ("xc", False),  # "[ab]" class
        ("src/main.py", False),
    ],
)
def test_matching(path: str, ignored: bool) -> None:
    m = matcher("*.log\n!keep.log\nbuild\n**/node_modules\ndocs/**\ntmp?\nx[ab]\n")
    assert m.ignored(path) is ignored


def test_last_matching_pattern_wins() -> None:
    m = matcher("data\n!data/keep\ndata/keep/secret\n")
    assert m.ignored("data/other")
    assert not m.ignored("data/keep/file")
    assert m.ignored("data/keep/secret")
    assert m.has_exclusions


def test_the_context_root_is_never_ignored() -> None:
    assert not matcher("*\n").ignored(".")


def test_lone_exclamation_mark_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match="illegal exclusion pattern"):
        IgnoreMatcher(["!"])
