"""Sizes and durations read and written like docker's go-units and Go's time package."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.units import (
    binary_size,
    from_human_size,
    human_duration,
    human_size,
    parse_duration,
    ram_in_bytes,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512m", 512 * 1024**2),
        ("1g", 1024**3),
        ("1.5GiB", 1536 * 1024**2),
        ("10", 10),
        ("1 kb", 1024),
        ("64b", 64),
        ("2K", 2048),
    ],
)
def test_ram_in_bytes_reads_binary_units(text: str, expected: int) -> None:
    assert ram_in_bytes(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("12q", "invalid suffix: 'q'"),
        ("abc", "invalid size: 'abc'"),
        ("-1", "invalid size: '-1'"),
        ("5kbb", "invalid suffix: 'kbb'"),
        ("1bk", "invalid suffix: 'bk'"),
    ],
)
def test_ram_in_bytes_errors_read_like_docker(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        ram_in_bytes(text)
    assert caught.value.message == message


def test_from_human_size_is_decimal() -> None:
    assert from_human_size("44kB") == 44_000
    assert from_human_size("17MB") == 17_000_000


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0B"),
        (999, "999B"),
        (1000, "1kB"),
        (4_270_000, "4.27MB"),
        (1_234_567_890, "1.23GB"),
        (999_999, "1e+03kB"),
    ],
)
def test_human_size_keeps_three_significant_digits(size: int, shown: str) -> None:
    assert human_size(size) == shown


def test_binary_size() -> None:
    assert binary_size(1536 * 1024) == "1.5MiB"
    assert binary_size(512) == "512B"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.4, "Less than a second"),
        (1, "1 second"),
        (42, "42 seconds"),
        (61, "About a minute"),
        (600, "10 minutes"),
        (3600, "About an hour"),
        (7200, "2 hours"),
        (3 * 86400, "3 days"),
        (21 * 86400, "3 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration(seconds: float, shown: str) -> None:
    assert human_duration(seconds) == shown


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10m", 600), ("1h30m", 5400), ("300ms", 0.3), ("0", 0), ("-1.5h", -5400), ("2us", 2e-6)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10", 'time: missing unit in duration "10"'),
        ("10x", 'time: unknown unit "x" in duration "10x"'),
        ("abc", 'time: invalid duration "abc"'),
        ("", 'time: invalid duration ""'),
    ],
)
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_duration(text)
    assert caught.value.message == message
