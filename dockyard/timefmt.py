"""Times as Docker writes and reads them: RFC 3339 text and the --since/--until forms.

The engine writes its times in UTC (``rfc3339``, ``rfc3339_nano``) and reads
them back with ``parse_rfc3339``, which honours the zone written in the text
and never the local one (``mktime`` would apply the local daylight saving
time of the date). ``get_timestamp`` is moby's GetTimestamp, shared by the CLI
(``--since``/``--until``) and the engine (the ``until`` filter).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from dockyard.errors import InvalidArgument
from dockyard.units import parse_duration

# A date, then optionally an hour, minutes, seconds with a fraction, then optionally a zone.
_LAYOUT = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)(?:T(\d\d)(?::(\d\d)(?::(\d\d)(?:\.(\d+))?)?)?)?(Z|[+-]\d\d:\d\d)?"
)


def rfc3339(seconds: float) -> str:
    """UTC, whole seconds: how Docker writes most of its times."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def rfc3339_nano(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time with its zone (Go's RFC3339Nano layout).

    Raises ValueError when ``text`` is not one.
    """
    match = _LAYOUT.fullmatch(text)
    if match is None or match[6] is None or match[8] is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    return _whole_seconds(match, _zone_offset(match[8])) + _nanoseconds(match) / 1e9


def get_timestamp(value: str, now: float | None = None) -> str:
    """moby's GetTimestamp: a Go duration before ``now``, an RFC 3339 date or time, or a
    Unix timestamp, as the ``seconds.nanoseconds`` text the Engine API takes.

    A time without a zone is read in the zone in effect at ``now`` (moby's
    ``time.FixedZone(reference.Zone())``).
    """
    reference = time.time() if now is None else now
    if value != "0":
        try:
            return str(int(reference - parse_duration(value)))
        except InvalidArgument:
            pass  # not a duration: a date, a time or a Unix timestamp
    match = _LAYOUT.fullmatch(value)
    # moby's test: a Z, a plus or three dashes mean the text names its zone.
    zoned = any(c in value for c in "zZ+") or value.count("-") == 3
    if match is None or (match[8] is not None) != zoned:
        if "-" in value:
            raise InvalidArgument(f'parsing time "{value}": cannot parse as RFC 3339')
        if not is_unix_timestamp(value):
            raise InvalidArgument(f'failed to parse value as time or duration: "{value}"')
        return value
    offset = _zone_offset(match[8]) if zoned else time.localtime(reference).tm_gmtoff
    try:
        seconds = _whole_seconds(match, offset)
    except ValueError as exc:
        raise InvalidArgument(f'parsing time "{value}": {exc}') from None
    return f"{seconds}.{_nanoseconds(match):09d}"


def parse_timestamp(value: str, now: float | None = None) -> float:
    """What moby's GetTimestamp then ParseTimestamps make of a filter value, in seconds."""
    return float(get_timestamp(value, now))


def is_unix_timestamp(value: str) -> bool:
    seconds, dot, fraction = value.partition(".")
    digits = seconds.lstrip("-")
    return digits.isdigit() and (not dot or fraction.isdigit())


def _zone_offset(zone: str) -> int:
    """``Z`` or ``±hh:mm`` as seconds east of UTC."""
    if zone == "Z":
        return 0
    sign = -1 if zone[0] == "-" else 1
    return sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)


def _whole_seconds(match: re.Match[str], offset: int) -> int:
    """The matched wall-clock time at ``offset`` seconds east of UTC, as Unix time."""
    year, month, day, hour, minute, second = (int(match[n] or 0) for n in range(1, 7))
    wall = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    return int(wall.timestamp()) - offset


def _nanoseconds(match: re.Match[str]) -> int:
    """The fraction of a second, cut to nanoseconds as Go does."""
    return int(match[7][:9].ljust(9, "0")) if match[7] else 0
