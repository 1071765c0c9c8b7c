"""The log drivers' options as moby reads them at start: defaults and units."""

from __future__ import annotations

from pathlib import Path

from dockyard.engine.logdrivers import WriterSettings, writer_settings

JSON, LOCAL = Path("/c/c-json.log"), Path("/c/local-logs/container.log")  # in /c


def _settings(driver: str, **options: str) -> WriterSettings:
    record = {
        "HostConfig": {"LogConfig": {"Type": driver, "Config": options}},
        "LogPath": str(JSON),
        "Config": {"Labels": {}, "Env": []},
    }
    return writer_settings(record, LOCAL.parent.parent)


def test_local_defaults_are_the_local_drivers() -> None:
    assert _settings("local") == WriterSettings(LOCAL, 20 * 1024 * 1024, 5, True)
    assert _settings("local", compress="false", **{"max-file": "1"}) == WriterSettings(
        LOCAL, 20 * 1024 * 1024, 1, False
    )


def test_json_file_sizes_are_decimal_and_unlimited_by_default() -> None:
    assert _settings("json-file") == WriterSettings(JSON, 0, 1, False)
    assert _settings("json-file", **{"max-size": "10m", "max-file": "3"}) == WriterSettings(
        JSON, 10_000_000, 3, False
    )
    assert _settings("none") == WriterSettings(None)
