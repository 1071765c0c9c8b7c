"""Request bodies are checked like moby's Go decoder checks them."""

from __future__ import annotations

import re

import pytest

from dockyard.api import schema
from dockyard.errors import InvalidArgument


def test_wrong_type_names_the_field_like_docker() -> None:
    body = {"Image": "busybox", "HostConfig": {"Memory": "x"}}
    with pytest.raises(InvalidArgument) as caught:
        schema.check(body, schema.CREATE_REQUEST)
    assert caught.value.message == (
        "invalid JSON: json: cannot unmarshal string into Go struct field "
        "HostConfig.HostConfig.Memory of type int64"
    )


@pytest.mark.parametrize(
    ("body", "field", "go_type"),
    [
        ({"Env": "A=1"}, "CreateRequest.Env", "[]string"),
        ({"Env": [1]}, "CreateRequest.Env", "string"),
        ({"Tty": "yes"}, "CreateRequest.Tty", "bool"),
        ({"HostConfig": {"PidsLimit": 1.5}}, "HostConfig.HostConfig.PidsLimit", "int64"),
        ({"HostConfig": {"BlkioWeight": -1}}, "HostConfig.HostConfig.BlkioWeight", "uint16"),
        (
            {"HostConfig": {"RestartPolicy": {"Name": 3}}},
            "RestartPolicy.HostConfig.RestartPolicy.Name",
            "string",
        ),
        (
            {"HostConfig": {"Mounts": [{"ReadOnly": "no"}]}},
            "Mount.HostConfig.Mounts.ReadOnly",
            "bool",
        ),
        ({"Labels": {"a": 1}}, "CreateRequest.Labels", "string"),
        ({"HostConfig": 5}, "CreateRequest.HostConfig", "HostConfig"),
    ],
)
def test_each_kind_of_field_is_checked(body: dict, field: str, go_type: str) -> None:
    expected = f"Go struct field {field} of type {go_type}"
    with pytest.raises(InvalidArgument, match=re.escape(expected) + "$"):
        schema.check(body, schema.CREATE_REQUEST)


def test_keys_match_case_insensitively_and_come_out_canonical() -> None:
    body = {"image": "busybox", "hostconfig": {"memory": 1024, "autoRemove": True}}
    assert schema.check(body, schema.CREATE_REQUEST) == {
        "Image": "busybox",
        "HostConfig": {"Memory": 1024, "AutoRemove": True},
    }


def test_null_leaves_a_field_unset_and_unknown_keys_pass() -> None:
    body = {"Image": "busybox", "Env": None, "HostConfig": None, "Future": {"x": 1}}
    assert schema.check(body, schema.CREATE_REQUEST) == {"Image": "busybox", "Future": {"x": 1}}


def test_a_string_command_becomes_a_list() -> None:
    assert schema.check({"Cmd": "true"}, schema.EXEC_CONFIG) == {"Cmd": ["true"]}


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="cannot unmarshal array into Go value of type"):
        schema.check([1], schema.EXEC_START_CONFIG)
