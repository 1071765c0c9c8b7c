"""runc's rules for linux.sysctl: only what the container's own namespaces scope."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import SystemError
from dockyard.runtime import sysctls

from .conftest import Bundle

PRIVATE = [{"type": kind} for kind in ("mount", "network", "uts", "pid", "ipc")]


def _without(kind: str) -> list[dict]:
    return [ns for ns in PRIVATE if ns["type"] != kind]


@pytest.mark.parametrize(
    "name", ["kernel.shm_rmid_forced", "kernel.msgmax", "fs.mqueue.msg_max", "net.core.somaxconn"]
)
def test_namespaced_sysctls_pass(name: str) -> None:
    sysctls.check({name: "1"}, PRIVATE)


@pytest.mark.parametrize(
    ("name", "namespaces", "message"),
    [
        ("kernel.printk", PRIVATE, 'sysctl "kernel.printk" is not in a separate kernel namespace'),
        ("vm.swappiness", PRIVATE, 'sysctl "vm.swappiness" is not in a separate kernel namespace'),
        (
            "kernel.shmmax",
            _without("ipc"),
            'sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace',
        ),
        (
            "net.ipv4.ip_forward",
            _without("network"),
            'sysctl "net.ipv4.ip_forward" not allowed in host network namespace',
        ),
        (
            "net.ipv4.ip_forward",
            [*_without("network"), {"type": "network", "path": "/proc/self/ns/net"}],
            'sysctl "net.ipv4.ip_forward" not allowed in host network namespace',
        ),
        (
            "kernel.hostname",
            PRIVATE,
            'sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field',
        ),
        (
            "kernel.domainname",
            _without("uts"),
            'sysctl "kernel.domainname" is not in a separate kernel namespace',
        ),
        ("kernel/printk", PRIVATE, 'sysctl "kernel.printk" is not in a separate kernel namespace'),
    ],
)
def test_sysctls_outside_the_containers_namespaces_are_refused(
    name: str, namespaces: list[dict], message: str
) -> None:
    with pytest.raises(SystemError) as failure:
        sysctls.check({name: "1"}, namespaces)
    assert failure.value.message == message


def test_the_domainname_is_the_uts_namespaces() -> None:
    sysctls.check({"kernel.domainname": "example.org"}, PRIVATE)


def test_slash_spelling_keeps_dots_in_names() -> None:
    assert (
        sysctls.dotted("net/ipv4/conf/eth0.100/forwarding") == "net.ipv4.conf.eth0/100.forwarding"
    )
    assert sysctls.proc_path("net/ipv4/conf/eth0.100/forwarding") == (
        "/proc/sys/net/ipv4/conf/eth0.100/forwarding"
    )
    assert sysctls.proc_path("net.ipv4.ip_forward") == "/proc/sys/net/ipv4/ip_forward"


def test_the_runtime_refuses_before_creating_anything(bundle: Bundle) -> None:
    host = Path("/proc/sys/kernel/printk_ratelimit_burst")
    before = host.read_text()
    try:
        with pytest.raises(SystemError, match="is not in a separate kernel namespace"):
            bundle.run(["true"], sysctls={"kernel.printk_ratelimit_burst": "17"})
    finally:
        after = host.read_text()
        host.write_text(before)
    assert after == before
