"""The --link syntax and the environment variables of a legacy link (moby's daemon/links)."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.network.linkspec import env_vars, parse_link


def test_link_syntax() -> None:
    assert parse_link("db") == ("db", "db")
    assert parse_link("db:database") == ("db", "database")
    assert parse_link("/db:/web/database") == ("db", "database")  # a created container's form
    with pytest.raises(InvalidArgument, match="bad format for links: a:b:c"):
        parse_link("a:b:c")
    with pytest.raises(InvalidArgument, match="empty string specified for links"):
        parse_link("")


def test_variables_of_ports_ranges_and_environment() -> None:
    env = env_vars(
        "/web/my-db",
        "172.17.0.2",
        ["PASSWORD=s3", "PATH=/bin", "HOME=/root", "NOVALUE"],
        ["6379/tcp", "6380/tcp", "53/udp", "80/tcp"],
    )
    assert env == [
        "MY_DB_PORT=tcp://172.17.0.2:80",
        "MY_DB_PORT_80_TCP=tcp://172.17.0.2:80",
        "MY_DB_PORT_80_TCP_ADDR=172.17.0.2",
        "MY_DB_PORT_80_TCP_PORT=80",
        "MY_DB_PORT_80_TCP_PROTO=tcp",
        "MY_DB_PORT_6379_TCP=tcp://172.17.0.2:6379",
        "MY_DB_PORT_6379_TCP_ADDR=172.17.0.2",
        "MY_DB_PORT_6379_TCP_PORT=6379",
        "MY_DB_PORT_6379_TCP_PROTO=tcp",
        "MY_DB_PORT_6380_TCP=tcp://172.17.0.2:6380",
        "MY_DB_PORT_6380_TCP_ADDR=172.17.0.2",
        "MY_DB_PORT_6380_TCP_PORT=6380",
        "MY_DB_PORT_6380_TCP_PROTO=tcp",
        # moby describes a range when the next port breaks it: here, after 53/udp.
        "MY_DB_PORT_53_UDP=udp://172.17.0.2:53",
        "MY_DB_PORT_53_UDP_ADDR=172.17.0.2",
        "MY_DB_PORT_53_UDP_PORT=53",
        "MY_DB_PORT_53_UDP_PROTO=udp",
        "MY_DB_PORT_6379_TCP_START=tcp://172.17.0.2:6379",
        "MY_DB_PORT_6379_TCP_PORT_START=6379",
        "MY_DB_PORT_6379_TCP_END=tcp://172.17.0.2:6380",
        "MY_DB_PORT_6379_TCP_PORT_END=6380",
        "MY_DB_NAME=/web/my-db",
        "MY_DB_ENV_PASSWORD=s3",
    ]


def test_a_link_without_ports_names_the_link() -> None:
    assert env_vars("/web/db", "172.17.0.2", [], []) == ["DB_NAME=/web/db"]
