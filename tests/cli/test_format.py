"""docker's tables and row fields for ps and images."""

from __future__ import annotations

from dockyard.cli.containers import PS_TABLE
from dockyard.cli.format import (
    CONTAINER_HEADERS,
    IMAGE_HEADERS,
    container_row,
    display_ports,
    image_rows,
    render_rows,
    tabwrite,
)
from dockyard.cli.images import IMAGES_TABLE

NOW = 1_700_000_000.0
SUMMARY = {
    "Id": "4cf871e27181" + "a" * 52,
    "Names": ["/happy_tharp"],
    "Image": "busybox",
    "ImageID": "sha256:" + "b" * 64,
    "Command": "sh -c 'echo out; echo err >&2; exit 3'",
    "Created": int(NOW - 120),
    "Ports": [
        {"IP": "0.0.0.0", "PrivatePort": 3000, "PublicPort": 3000, "Type": "tcp"},
        {"PrivatePort": 53, "Type": "udp"},
    ],
    "Labels": {"b": "2", "a": "1"},
    "State": "exited",
    "Status": "Exited (3) 5 seconds ago",
    "NetworkSettings": {"Networks": {"bridge": {}}},
    "Mounts": [],
}


def test_tabwrite_pads_columns_to_ten_plus_three() -> None:
    assert tabwrite(["A\tLONG NAME HERE\tZ", "bb\tc\td"]) == (
        "A         LONG NAME HERE   Z\nbb        c                d\n"
    )


def test_container_row_fields() -> None:
    row = container_row(SUMMARY, truncate=True, now=NOW)
    assert row["ID"] == "4cf871e27181"
    assert row["Command"] == '"sh -c \'echo out; ec…"'
    assert row["RunningFor"] == "2 minutes ago"
    assert row["Ports"] == "53/udp, 0.0.0.0:3000->3000/tcp"
    assert row["Names"] == "happy_tharp"
    assert row["Labels"] == "a=1,b=2"
    assert row["Size"] == "0B"
    assert row["Networks"] == "bridge"


def test_ps_default_table() -> None:
    out = render_rows([container_row(SUMMARY, True, NOW)], "", PS_TABLE, CONTAINER_HEADERS)
    header, line = out.splitlines()
    assert header.split("   ")[0] == "CONTAINER ID"
    assert header.startswith("CONTAINER ID   IMAGE     COMMAND ")
    assert line.startswith("4cf871e27181   busybox   ")
    assert line.endswith("happy_tharp")


def test_ps_custom_table_json_and_plain_templates() -> None:
    rows = [container_row(SUMMARY, True, NOW)]
    assert render_rows(rows, "table {{.Names}}\t{{.State}}", PS_TABLE, CONTAINER_HEADERS) == (
        "NAMES         STATE\nhappy_tharp   exited\n"
    )
    assert render_rows(rows, "{{.Names}}", PS_TABLE, CONTAINER_HEADERS) == "happy_tharp\n"
    assert render_rows(rows, "json", PS_TABLE, CONTAINER_HEADERS).startswith('{"Command":')


def test_ports_in_ipv6_brackets() -> None:
    port = {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}
    assert display_ports([port]) == "[::]:8080->80/tcp"


def test_consecutive_ports_are_one_range() -> None:
    ports = [{"IP": "0.0.0.0", "PrivatePort": n, "PublicPort": n, "Type": "tcp"} for n in (81, 80)]
    ports.append({"PrivatePort": 9000, "Type": "tcp"})
    assert display_ports(ports) == "0.0.0.0:80-81->80-81/tcp, 9000/tcp"


def test_image_rows_one_per_tag_and_none_for_untagged() -> None:
    image = {
        "Id": "sha256:" + "c" * 64,
        "RepoTags": ["busybox:latest", "mine:1"],
        "RepoDigests": [],
        "Created": int(NOW - 7200),
        "Size": 1_980_000,
    }
    rows = image_rows(image, truncate=True, now=NOW)
    assert [(r["Repository"], r["Tag"]) for r in rows] == [("busybox", "latest"), ("mine", "1")]
    assert rows[0]["ID"] == "c" * 12
    assert rows[0]["Size"] == "1.98MB"
    assert rows[0]["CreatedSince"] == "2 hours ago"
    untagged = image_rows({**image, "RepoTags": []}, truncate=False, now=NOW)
    assert [(r["Repository"], r["Tag"], r["ID"]) for r in untagged] == [
        ("<none>", "<none>", "sha256:" + "c" * 64)
    ]
    table = render_rows(rows, "", IMAGES_TABLE, IMAGE_HEADERS).splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
