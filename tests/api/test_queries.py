"""Query parameters are read as moby reads them."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from tests.api.conftest import Api


def _names(api: Api, query: str) -> list[str]:
    reply = api.call("GET", f"/v1.44/containers/json?{query}")
    assert reply.status == 200, reply.body
    return sorted(name for c in reply.json() for name in c["Names"])


@pytest.mark.parametrize("form", [{"name": ["alpha"]}, {"name": {"alpha": True}}])
def test_filters_in_both_json_forms(api: Api, form: dict) -> None:
    api.create("true", name="alpha")
    api.create("true", name="beta")
    query = "all=1&filters=" + urllib.parse.quote(json.dumps(form))
    assert _names(api, query) == ["/alpha"]


@pytest.mark.parametrize(
    ("value", "shown"), [("1", True), ("True", True), ("0", False), ("false", False), ("", False)]
)
def test_boolean_parameters(api: Api, value: str, shown: bool) -> None:
    api.create("true", name="created")
    assert _names(api, f"all={value}") == (["/created"] if shown else [])


def test_limit(api: Api) -> None:
    for name in ("one", "two", "three"):
        api.create("true", name=name)
    assert len(_names(api, "all=1&limit=2")) == 2
