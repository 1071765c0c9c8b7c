"""--since/--until values as docker's GetTimestamp turns them into API timestamps.

A Go duration (``10m``, ``1h30m``) counts back from now; an RFC 3339 date or
time (``2024-05-01``, ``2024-05-01T10:00:00Z``, local time without a zone)
becomes ``seconds.nanoseconds``; a Unix timestamp passes through.
"""

from __future__ import annotations

import time

from dockyard.errors import InvalidArgument
from dockyard.units import parse_duration


def get_timestamp(value: str, now: float | None = None) -> str:
    reference = time.time() if now is None else now
    if value != "0":
        try:
            return str(int(reference - parse_duration(value)))
        except InvalidArgument:
            pass  # not a duration: a date, a time or a Unix timestamp
    moment = parse_rfc3339(value)
    if moment is not None:
        seconds = int(moment // 1)
        nanos = round((moment - seconds) * 1e9)
        return f"{seconds}.{nanos:09d}"
    if "-" in value:
        raise InvalidArgument(f'parsing time "{value}": cannot parse as RFC 3339')
    if not is_unix_timestamp(value):
        raise InvalidArgument(f'failed to parse value as time or duration: "{value}"')
    return value


def parse_rfc3339(value: str) -> float | None:
    """Seconds since the epoch of an ISO date/time (local time without a zone), or None."""
    from datetime import datetime

    if "-" not in value:
        return None
    if "T" not in value and len(value) > 10:
        value = f"{value[:10]}T00:00:00{value[10:]}"  # a date with a zone: its midnight
    try:
        return datetime.fromisoformat(value.replace("z", "Z")).timestamp()
    except ValueError:
        return None


def is_unix_timestamp(value: str) -> bool:
    seconds, dot, fraction = value.partition(".")
    digits = seconds.lstrip("-")
    return digits.isdigit() and (not dot or fraction.isdigit())
