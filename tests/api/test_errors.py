"""Bad input gets Docker's status code and a one-line {"message"}; nothing changes."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.conftest import CLOSED_HUB_URL


def _message(reply) -> str:  # type: ignore[no-untyped-def]
    return reply.json()["message"]


def test_unknown_container_is_404(api: Api) -> None:
    reply = api.call("GET", "/v1.44/containers/nosuch/json")
    assert (reply.status, _message(reply)) == (404, "No such container: nosuch")


def test_unknown_image_is_404_so_the_cli_tries_a_pull(api: Api) -> None:
    reply = api.call("POST", "/v1.44/containers/create", {"Image": "nosuch"})
    assert (reply.status, _message(reply)) == (404, "No such image: nosuch:latest")
    assert api.call("GET", "/containers/json?all=1").json() == []


def test_a_hub_that_cannot_be_reached_is_named_in_the_error(api: Api) -> None:
    """Docker Hub is asked (here the run's closed stand-in for it), and its failure named."""
    reply = api.call("POST", "/v1.44/images/create?fromImage=nosuch&tag=latest")
    assert reply.status == 500
    address = CLOSED_HUB_URL.removeprefix("http://")
    assert _message(reply) == (
        f'Get "{CLOSED_HUB_URL}/v2/": dial tcp {address}: connect: connection refused'
    )


def test_name_in_use_is_409(api: Api) -> None:
    first = api.create("true", name="taken")
    reply = api.call("POST", "/v1.44/containers/create?name=taken", {"Image": "busybox"})
    assert reply.status == 409
    assert 'The container name "/taken" is already in use' in _message(reply)
    assert [c["Id"] for c in api.call("GET", "/containers/json?all=1").json()] == [first]


def test_malformed_json_is_400(api: Api) -> None:
    reply = api.call(
        "POST",
        "/v1.44/containers/create",
        b'{"Image": "busybox",',
        {"Content-Type": "application/json"},
    )
    assert reply.status == 400
    assert _message(reply).startswith("invalid JSON: ")


def test_a_field_of_the_wrong_type_is_400_naming_it(api: Api) -> None:
    body = {"Image": "busybox", "HostConfig": {"Memory": "x"}}
    reply = api.call("POST", "/v1.44/containers/create", body)
    assert reply.status == 400
    assert _message(reply) == (
        "invalid JSON: json: cannot unmarshal string into Go struct field "
        "HostConfig.HostConfig.Memory of type int64"
    )
    assert api.call("GET", "/containers/json?all=1").json() == []


def test_json_must_be_sent_as_json(api: Api) -> None:
    reply = api.call(
        "POST", "/v1.44/containers/create", b'{"Image":"busybox"}', {"Content-Type": "text/plain"}
    )
    assert reply.status == 400
    assert (
        _message(reply)
        == "unsupported Content-Type header (text/plain): must be 'application/json'"
    )


def test_an_empty_create_is_400(api: Api) -> None:
    reply = api.call("POST", "/v1.44/containers/create")
    assert (reply.status, _message(reply)) == (
        400,
        "invalid JSON: got EOF while reading request body",
    )
    reply = api.call("POST", "/v1.44/containers/create", {"HostConfig": {}})
    assert (reply.status, _message(reply)) == (
        400,
        "config cannot be empty in order to create a container",
    )


def test_starting_a_running_container_is_304_without_a_body(api: Api) -> None:
    container = api.create("sleep", "30")
    api.start(container)
    reply = api.call("POST", f"/v1.44/containers/{container}/start")
    assert (reply.status, reply.body) == (304, b"")


def test_exec_into_a_stopped_container_is_409(api: Api) -> None:
    container = api.create("true")
    reply = api.call("POST", f"/v1.44/containers/{container}/exec", {"Cmd": ["true"]})
    assert (reply.status, _message(reply)) == (409, f"container {container} is not running")


def test_bad_query_values_are_400(api: Api) -> None:
    container = api.create("true")
    cases = {
        f"/v1.44/containers/{container}/resize?h=x&w=80": 'invalid resize height "x": invalid syntax',
        "/v1.44/containers/json?filters=%7Bnope": "invalid filter: ",
        f"/v1.44/containers/{container}/stop?t=soon": 'invalid value for "t": ',
    }
    for url, message in cases.items():
        reply = api.call("POST" if "json" not in url else "GET", url)
        assert reply.status == 400, url
        assert _message(reply).startswith(message), url


def test_logs_need_a_stream(api: Api) -> None:
    container = api.create("true")
    reply = api.call("GET", f"/v1.44/containers/{container}/logs")
    assert (reply.status, _message(reply)) == (
        400,
        "Bad parameters: you must choose at least one stream",
    )


def test_swarm_leave_is_503_as_docker_py_expects(api: Api) -> None:
    reply = api.call("POST", "/v1.44/swarm/leave?force=True")
    assert (reply.status, _message(reply)) == (503, "This node is not part of a swarm")
