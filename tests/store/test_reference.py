"""Reference parsing and normalization, checked against distribution/reference's behaviour."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.store.reference import familiar_match, parse, parse_any, path_match, repo_tag

HEX = "a" * 64


@pytest.mark.parametrize(
    ("text", "name", "familiar"),
    [
        ("busybox", "docker.io/library/busybox", "busybox"),
        ("library/busybox", "docker.io/library/busybox", "busybox"),
        ("docker.io/library/busybox", "docker.io/library/busybox", "busybox"),
        ("index.docker.io/busybox", "docker.io/library/busybox", "busybox"),
        ("docker.io/busybox:1.36", "docker.io/library/busybox", "busybox:1.36"),
        ("foo/bar", "docker.io/foo/bar", "foo/bar"),
        ("docker.io/library/a/b", "docker.io/library/a/b", "library/a/b"),
        ("localhost:5000/a/b:t", "localhost:5000/a/b", "localhost:5000/a/b:t"),
        ("localhost/app", "localhost/app", "localhost/app"),
        ("Registry.example.com/app", "Registry.example.com/app", "Registry.example.com/app"),
        ("[::1]:5000/app:v1", "[::1]:5000/app", "[::1]:5000/app:v1"),
        (f"x@sha256:{HEX}", "docker.io/library/x", f"x@sha256:{HEX}"),
        (f"ubuntu:22.04@sha256:{HEX}", "docker.io/library/ubuntu", f"ubuntu:22.04@sha256:{HEX}"),
    ],
)
def test_references_normalize_like_docker(text: str, name: str, familiar: str) -> None:
    ref = parse(text)
    assert ref.name == name
    assert str(ref) == familiar


def test_a_name_without_tag_or_digest_means_latest() -> None:
    assert str(parse("busybox").with_default_tag()) == "busybox:latest"
    assert str(parse("busybox:1").with_default_tag()) == "busybox:1"
    assert str(parse(f"x@sha256:{HEX}").with_default_tag()) == f"x@sha256:{HEX}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid reference format"),
        (
            "Busybox",
            r"invalid reference format: repository name \(library/Busybox\) must be lowercase",
        ),
        ("example.com/Foo:1", r"repository name \(Foo\) must be lowercase"),
        ("busybox:", "invalid reference format"),
        ("-busybox", "invalid reference format"),
        ("a//b", "invalid reference format"),
        ("busybox:t@g", "invalid reference format"),
        ("busybox:" + "t" * 129, "invalid reference format"),
        (HEX, "cannot specify 64-byte hexadecimal strings"),
        ("x@sha256:abcd" + "0" * 30, "invalid checksum digest length"),
        ("x@foo:" + "0" * 64, "unsupported digest algorithm"),
        ("a/" + "b" * 300, "repository name must not be more than 255 characters"),
    ],
)
def test_invalid_references_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse(text)


def test_parse_any_tells_ids_from_names() -> None:
    assert parse_any(HEX) == f"sha256:{HEX}"
    assert parse_any(f"sha256:{HEX}") == f"sha256:{HEX}"
    # A short "sha256:..." is a name with a tag, which lookups then try as an ID prefix.
    short = parse_any("sha256:abc")
    assert not isinstance(short, str) and str(short) == "sha256:abc"


def test_repo_tag_defaults_the_tag_and_refuses_digests() -> None:
    assert str(repo_tag("busybox")) == "busybox:latest"
    assert str(repo_tag("localhost:5000/a", "v2")) == "localhost:5000/a:v2"
    assert str(repo_tag("busybox:old", "new")) == "busybox:new"
    with pytest.raises(InvalidArgument, match="cannot import digest reference"):
        repo_tag(f"busybox@sha256:{HEX}")
    with pytest.raises(InvalidArgument, match="invalid tag format"):
        repo_tag("busybox", "-bad")
    with pytest.raises(InvalidArgument, match="at least one component"):
        repo_tag("")


@pytest.mark.parametrize(
    ("pattern", "name", "matched"),
    [
        ("busy*", "busybox:latest", True),
        ("*", "a/b", False),
        ("*/*", "a/b", True),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("[a-c]x", "bx", True),
        ("[^a-c]x", "dx", True),
        ("[^a-c]x", "bx", False),
        ("a\\*", "a*", True),
        ("a\\*", "ab", False),
    ],
)
def test_path_match_follows_go(pattern: str, name: str, matched: bool) -> None:
    assert path_match(pattern, name) is matched


@pytest.mark.parametrize("pattern", ["[]a]", "[a", "a\\", "[a-]"])
def test_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidArgument, match="syntax error in pattern"):
        path_match(pattern, "a")


def test_familiar_match_tries_the_whole_reference_then_the_name() -> None:
    assert familiar_match("busybox", parse("busybox:latest"))
    assert familiar_match("busybox:lat*", parse("busybox:latest"))
    assert familiar_match("localhost:5000/*", parse("localhost:5000/app:1"))
    assert not familiar_match("busy", parse("busybox:latest"))
