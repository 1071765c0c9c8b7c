"""Version negotiation and the headers every answer carries."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api

STANDARD = {
    "Api-Version": "1.44",
    "Ostype": "linux",
    "Server": "Dockyard/0.1.0 (linux)",
    "Docker-Experimental": "false",
}


def test_head_ping_is_what_the_docker_cli_negotiates_with(api: Api) -> None:
    reply = api.call("HEAD", "/_ping")
    assert reply.status == 200
    assert reply.body == b""
    assert reply.headers["Content-Length"] == "0"
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert reply.headers["Builder-Version"] == "1"
    assert reply.headers["Swarm"] == "inactive"
    assert reply.headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
    assert reply.headers["Pragma"] == "no-cache"
    for name, value in STANDARD.items():
        assert reply.headers[name] == value


def test_get_ping_says_ok(api: Api) -> None:
    reply = api.call("GET", "/v1.41/_ping")
    assert (reply.status, reply.body) == (200, b"OK")


def test_version_reports_the_api_range(api: Api) -> None:
    version = api.call("GET", "/version").json()
    assert (version["ApiVersion"], version["MinAPIVersion"]) == ("1.44", "1.24")


@pytest.mark.parametrize("prefix", ["", "/v1.24", "/v1.41", "/v1.44"])
def test_supported_versions_reach_the_same_route(api: Api, prefix: str) -> None:
    reply = api.call("GET", prefix + "/containers/json")
    assert (reply.status, reply.json()) == (200, [])


def test_a_version_above_ours_is_refused(api: Api) -> None:
    reply = api.call("GET", "/v1.50/containers/json")
    assert reply.status == 400
    assert reply.json() == {
        "message": "client version 1.50 is too new. Maximum supported API version is 1.44"
    }
    assert reply.headers["Api-Version"] == "1.44"


def test_a_version_below_the_minimum_is_refused(api: Api) -> None:
    reply = api.call("GET", "/v1.12/version")
    assert reply.status == 400
    assert reply.json()["message"] == (
        "client version 1.12 is too old. Minimum supported API version is 1.24, "
        "please upgrade your client to a newer version"
    )


@pytest.mark.parametrize(
    ("method", "url"), [("GET", "/nothing/here"), ("GET", "/v1.44/nothing"), ("PUT", "/_ping")]
)
def test_unknown_routes_are_page_not_found(api: Api, method: str, url: str) -> None:
    reply = api.call(method, url)
    assert (reply.status, reply.json()) == (404, {"message": "page not found"})
    for name, value in STANDARD.items():
        assert reply.headers[name] == value
