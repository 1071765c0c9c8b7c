"""Fixtures of the network tests: nothing of the kernel's may outlive a test.

The suite-wide ``no_leaks`` check (tests/conftest.py) looks at mounts, cgroups
and processes; here, the network links (bridges, veth host ends) and nftables
tables that an engine of this test session made must be gone when a test ends.
An engine marks what it makes with its data root (``dockyard:<data-root>``: a
link's ifalias, a table's comment), and every data root of this session starts
with ROOT_PREFIX, so engines of other sessions on the machine are not counted.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT_PREFIX

MARK = f"dockyard:{ROOT_PREFIX}"
_TABLE = re.compile(r"^table ip (\S+)$", re.MULTILINE)


def marked_links() -> set[str]:
    found = set()
    for name in os.listdir("/sys/class/net"):
        try:
            with open(f"/sys/class/net/{name}/ifalias") as f:
                if f.read().startswith(MARK):
                    found.add(name)
        except OSError:  # gone meanwhile
            continue
    return found


def marked_tables() -> set[str]:
    found = set()
    for name in _TABLE.findall(_nft("list tables")):
        if f'comment "{MARK}' in _nft(f"list table ip {name}"):
            found.add(name)
    return found


def _nft(command: str) -> str:
    return subprocess.run(["nft", command], capture_output=True, text=True, check=False).stdout


@pytest.fixture(autouse=True)
def no_network_leaks() -> Iterator[None]:
    before = (marked_links(), marked_tables())
    yield
    deadline = time.monotonic() + 5
    while True:  # a stopped container's veth goes with its namespace, which the kernel frees lazily
        after = (marked_links(), marked_tables())
        leaked = [sorted(a - b) for a, b in zip(after, before, strict=True)]
        if not any(leaked) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    problems = {
        kind: items for kind, items in zip(("links", "nft tables"), leaked, strict=True) if items
    }
    assert not problems, f"the test leaked: {problems}"
