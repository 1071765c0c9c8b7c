"""Reading config.json with the C JSON scanner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.errors import SystemError
from dockyard.runtime.configfile import load_config, parse_json


def test_parses_what_json_dumps() -> None:
    value = {"a": [1, 2.5, "é\n", True, None, {"b": -3e2}], "c": ""}
    assert parse_json("  " + json.dumps(value, indent=2) + "\n") == value


@pytest.mark.parametrize("text", ["", "{", '{"a": }', "[1] [2]", "nope"])
def test_invalid_json(text: str) -> None:
    with pytest.raises(ValueError):
        parse_json(text)


def test_load_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"ociVersion": "1.0.2"}')
    assert load_config(tmp_path) == {"ociVersion": "1.0.2"}


def test_load_config_errors(tmp_path: Path) -> None:
    with pytest.raises(
        SystemError, match="cannot read the OCI config .*config.json: .*No such file"
    ):
        load_config(tmp_path)
    (tmp_path / "config.json").write_text("[]")
    with pytest.raises(SystemError, match="not a JSON object"):
        load_config(tmp_path)
