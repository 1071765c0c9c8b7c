"""`ps -a` of a thousand containers: every one listed, newest first, by both CLIs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.conftest import Daemon, DockerCli

MAKERS = 4
EACH = 250
FORMAT = "{{.Names}}\t{{.Image}}\t{{.Command}}\t{{.Status}}"


def test_ps_a_lists_a_thousand_created_containers(
    daemon: Daemon, docker_cli: DockerCli, docker_sdk: Any
) -> None:
    def make(maker: int) -> list[str]:
        """The names it gave, in the order it created them."""
        names = [f"many-{maker}-{i:03d}" for i in range(EACH)]
        for name in names:
            docker_sdk.api.create_container("busybox", ["echo", name], name=name)  # type: ignore[attr-defined]
        return names

    with ThreadPoolExecutor(MAKERS) as pool:
        made = list(pool.map(make, range(MAKERS)))
    rows = {name: f'{name}\tbusybox\t"echo {name}"\tCreated' for names in made for name in names}

    for listing in (
        daemon.cli("ps", "-a", "--no-trunc", "--format", FORMAT),
        docker_cli("ps", "-a", "--no-trunc", "--format", FORMAT),
    ):
        assert listing.returncode == 0, listing.stderr
        lines = listing.stdout.splitlines()
        assert sorted(lines) == sorted(rows.values())
        for names in made:  # newest first: each maker's containers in the reverse of its order
            assert [line for line in lines if line.split("\t")[0] in names] == [
                rows[name] for name in reversed(names)
            ]
    # Created containers hold nothing but their files and rows: the daemon stops with them
    # in place, its data root goes with the test (removing a thousand takes longer).
    daemon.stop()
