"""RFC 3339 times and --since/--until values (moby's GetTimestamp), in any local zone."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from dockyard.errors import InvalidArgument
from dockyard.timefmt import get_timestamp, parse_rfc3339, parse_timestamp, rfc3339_nano

NOW = 1_700_000_000.0
# 2024-07-15T12:00:00Z: summer in the north, winter at Lord Howe.
JULY_NOON = 1_721_044_800
# 2024-01-15T12:00:00Z: summer at Lord Howe (+11:00, a half-hour daylight saving shift).
JANUARY_NOON = 1_705_320_000

# Each zone with the UTC offset (seconds) its clocks show in July and in January.
ZONES = {
    "UTC": (0, 0),
    "Europe/Berlin": (7200, 3600),
    "America/New_York": (-4 * 3600, -5 * 3600),
    "Australia/Lord_Howe": (37800, 39600),
}


@pytest.fixture(params=sorted(ZONES))
def zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """The process runs in the zone for the test (TZ and tzset), then in its own again."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        assert time.localtime(JULY_NOON).tm_gmtoff == ZONES[request.param][0]  # the zone is real
        yield request.param
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_rfc3339_times_ignore_the_local_zone(zone: str) -> None:
    assert parse_rfc3339("2024-07-15T12:00:00Z") == JULY_NOON
    assert parse_rfc3339("2024-01-15T12:00:00Z") == JANUARY_NOON
    assert parse_rfc3339("2024-07-15T14:00:00.5+02:00") == JULY_NOON + 0.5
    assert parse_rfc3339("2024-07-15T08:00:00-04:00") == JULY_NOON


def test_what_the_engine_writes_reads_back(zone: str) -> None:
    ns = JULY_NOON * 1_000_000_000 + 123_456_789
    assert rfc3339_nano(ns) == "2024-07-15T12:00:00.123456789Z"
    assert parse_rfc3339(rfc3339_nano(ns)) == pytest.approx(JULY_NOON + 0.123456789)


def test_filter_times_with_a_zone_ignore_the_local_zone(zone: str) -> None:
    assert parse_timestamp("2024-07-15T12:00:00Z") == JULY_NOON
    assert parse_timestamp("2024-01-15T12:00:00Z") == JANUARY_NOON
    assert get_timestamp("2024-07-15T12:00:00.000000001Z") == f"{JULY_NOON}.000000001"
    assert get_timestamp("2024-07-15T22:30+10:30") == f"{JULY_NOON}.000000000"
    assert get_timestamp("2024-07-15Z") == f"{JULY_NOON - 12 * 3600}.000000000"


def test_times_without_a_zone_are_read_at_the_offset_in_effect_now(zone: str) -> None:
    """As moby: time.FixedZone(reference.Zone()), the zone of `now`, not of the date."""
    july, january = ZONES[zone]
    assert parse_timestamp("2024-07-15T12:00:00", JULY_NOON) == JULY_NOON - july
    assert parse_timestamp("2024-07-15T12:00", JULY_NOON) == JULY_NOON - july
    assert parse_timestamp("2024-07-15T12", JULY_NOON) == JULY_NOON - july
    assert parse_timestamp("2024-07-15", JULY_NOON) == JULY_NOON - 12 * 3600 - july
    assert parse_timestamp("2024-01-15T12:00:00.25", JANUARY_NOON) == JANUARY_NOON - january + 0.25


def test_durations_count_back_from_now() -> None:
    assert get_timestamp("10m", NOW) == str(int(NOW - 600))
    assert get_timestamp("1h30m", NOW) == str(int(NOW - 5400))


def test_rfc3339_times_and_dates() -> None:
    assert get_timestamp("2023-11-14T22:13:20Z", NOW) == "1700000000.000000000"
    assert get_timestamp("2023-11-14T22:13:20.5+00:00", NOW) == "1700000000.500000000"
    assert get_timestamp("2023-11-14T22:13:20.999999999Z", NOW) == "1700000000.999999999"


def test_unix_timestamps_pass_through() -> None:
    assert get_timestamp("1700000000", NOW) == "1700000000"
    assert get_timestamp("1700000000.25", NOW) == "1700000000.25"
    assert parse_timestamp("1700000000.25", NOW) == 1700000000.25


def test_garbage_is_refused() -> None:
    with pytest.raises(InvalidArgument, match='failed to parse value as time or duration: "soon"'):
        get_timestamp("soon", NOW)
    with pytest.raises(InvalidArgument, match='parsing time "2024-13-01"'):
        get_timestamp("2024-13-01", NOW)
    with pytest.raises(InvalidArgument, match='parsing time "2024-07-15T12:00:00z"'):
        get_timestamp("2024-07-15T12:00:00z", NOW)
    with pytest.raises(ValueError):
        parse_rfc3339("2024-07-15T12:00:00")  # stored times always name their zone
