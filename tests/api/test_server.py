"""The server assembles its routes from the route modules that are there."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from dockyard.api import server


def _paths(app: web.Application) -> set[str]:
    return {route.resource.canonical for route in app.router.routes() if route.resource}


def test_a_missing_route_module_leaves_the_others_served(
    engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "ROUTE_MODULES", ("system", "not_written_yet"))
    paths = _paths(server.make_app(engine))
    assert "/_ping" in paths
    assert "/{api_version}/_ping" in paths
    assert "/containers/json" not in paths
