"""--since/--until values as docker's GetTimestamp reads them."""

from __future__ import annotations

import pytest

from dockyard.cli.timestamps import get_timestamp
from dockyard.errors import InvalidArgument

NOW = 1_700_000_000.0


def test_durations_count_back_from_now() -> None:
    assert get_timestamp("10m", NOW) == str(int(NOW - 600))
    assert get_timestamp("1h30m", NOW) == str(int(NOW - 5400))


def test_rfc3339_times_and_dates() -> None:
    assert get_timestamp("2023-11-14T22:13:20Z", NOW) == "1700000000.000000000"
    assert get_timestamp("2023-11-14T22:13:20.5+00:00", NOW) == "1700000000.500000000"
    assert get_timestamp("2023-11-14Z", NOW) is not None


def test_unix_timestamps_pass_through() -> None:
    assert get_timestamp("1700000000", NOW) == "1700000000"
    assert get_timestamp("1700000000.25", NOW) == "1700000000.25"


def test_garbage_is_refused() -> None:
    with pytest.raises(InvalidArgument, match='failed to parse value as time or duration: "soon"'):
        get_timestamp("soon", NOW)
