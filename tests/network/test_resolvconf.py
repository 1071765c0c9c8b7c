"""resolv.conf made as moby's libnetwork/internal/resolvconf makes it (its golden files' cases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.network import resolvconf
from dockyard.network.resolvconf import Upstream

HEADER = resolvconf.HEADER + "\n"


def made(
    tmp_path: Path,
    host: str,
    dns: list[str] | None = None,
    search: list[str] | None = None,
    options: list[str] | None = None,
) -> resolvconf.ResolvConf:
    path = tmp_path / "resolv.conf"
    path.write_text(host)
    return resolvconf.load(str(path), dns or [], search or [], options or [])


def test_embedded_dns_takes_the_hosts_nameservers_as_upstreams(tmp_path: Path) -> None:
    conf = resolvconf.for_embedded_dns(
        made(tmp_path, "nameserver 10.0.0.1\nnameserver fdb6:b8fe:b528::1\nsearch a.example\n")
    )
    assert conf.upstreams == [Upstream("10.0.0.1", True), Upstream("fdb6:b8fe:b528::1", True)]
    assert conf.render() == HEADER + (
        "nameserver 127.0.0.11\n"
        "search a.example\n"
        "options ndots:0\n"
        "\n"
        f"# Based on host file: '{tmp_path}/resolv.conf' (internal resolver)\n"
        "# ExtServers: [host(10.0.0.1) host(fdb6:b8fe:b528::1)]\n"
        "# Overrides: []\n"
        "# Option ndots from: internal\n"
    )


def test_embedded_dns_keeps_the_hosts_ndots_and_dns_servers_are_asked_from_the_container(
    tmp_path: Path,
) -> None:
    conf = resolvconf.for_embedded_dns(
        made(tmp_path, "nameserver 127.0.0.53\noptions ndots:1\n", dns=["127.0.0.53"])
    )
    assert conf.upstreams == [Upstream("127.0.0.53", False)]
    assert conf.render().endswith(
        "nameserver 127.0.0.11\n"
        "options ndots:1\n"
        "\n"
        f"# Based on host file: '{tmp_path}/resolv.conf' (internal resolver)\n"
        "# ExtServers: [127.0.0.53]\n"
        "# Overrides: [nameservers]\n"
        "# Option ndots from: host\n"
    )


def test_overridden_options_and_no_nameserver_at_all(tmp_path: Path) -> None:
    conf = resolvconf.for_embedded_dns(made(tmp_path, "", options=["ndots:2", "edns0"]))
    assert conf.render() == HEADER + (
        "nameserver 127.0.0.11\n"
        "options ndots:2 edns0\n"
        "\n"
        f"# Based on host file: '{tmp_path}/resolv.conf' (internal resolver)\n"
        "# NO EXTERNAL NAMESERVERS DEFINED\n"
        "# Overrides: [options]\n"
        "# Option ndots from: override\n"
    )


def test_the_default_bridge_drops_loopback_and_ipv6_servers(tmp_path: Path) -> None:
    routable = resolvconf.for_default_bridge(
        made(tmp_path, "nameserver 127.0.0.53\nnameserver 10.0.0.1\nnameserver fd00::1\n")
    )
    assert routable.nameservers == ["10.0.0.1"] and routable.upstreams == []
    fallback = resolvconf.for_default_bridge(made(tmp_path, "nameserver 127.0.0.53\n"))
    assert fallback.render() == HEADER + (
        "nameserver 8.8.8.8\n"
        "nameserver 8.8.4.4\n"
        "\n"
        f"# Based on host file: '{tmp_path}/resolv.conf' (legacy)\n"
        "# Used default nameservers.\n"
        "# Overrides: []\n"
    )
    given = resolvconf.for_default_bridge(made(tmp_path, "", dns=["127.0.0.1"]))
    assert given.nameservers == ["127.0.0.1"]  # the user's choice is kept


def test_unknown_directives_and_bad_nameservers_are_kept_and_reported(tmp_path: Path) -> None:
    conf = made(tmp_path, "nameserver 1.2.3.4.5\nsortlist 10.0.0.0\ndomain old.example\n")
    assert conf.render() == HEADER + (
        "search old.example\n"
        "sortlist 10.0.0.0\n"
        "\n"
        f"# Based on host file: '{tmp_path}/resolv.conf'\n"
        "# Invalid nameservers: [1.2.3.4.5]\n"
        "# Overrides: []\n"
    )


def test_a_bad_dns_server_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="bad nameserver address 1.2.3"):
        made(tmp_path, "", dns=["1.2.3"])


def test_the_variable_names_the_hosts_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(resolvconf.PATH_VARIABLE, "/somewhere/resolv.conf")
    assert resolvconf.host_path() == "/somewhere/resolv.conf"
