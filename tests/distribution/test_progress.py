"""Pull and push progress: Docker's progressDetail from the daemon, bars in our CLI."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from typing import Any

from dockyard.distribution.endpoints import Endpoint
from dockyard.distribution.registry import Registry as Client
from tests.conftest import DOCKYARD, Daemon
from tests.distribution.conftest import Registry
from tests.distribution.test_registry import Progress, _push


def test_the_daemon_sends_bytes_in_progress_detail(engine: Any, registry: Registry) -> None:
    name = f"{registry.address}/bytes"
    engine.images.tag("busybox", name, None)
    pushed = _push(engine, name)
    pushing = [m for m in pushed.messages if m.get("status") == "Pushing"]
    assert pushing and pushing[-1]["progressDetail"]["current"] > 0
    total = pushing[-1]["progressDetail"]["total"]
    assert pushing[-1]["progressDetail"]["current"] == total
    assert pushing[-1]["progress"].startswith("[" + "=" * 50 + ">] ")
    engine.loop.run_until_complete(engine.images.remove(name))
    engine.loop.run_until_complete(engine.images.remove("busybox"))
    pulled = Progress()
    engine.transfers.pull(name, pulled)
    layer = [m for m in pulled.messages if m.get("status") == "Pulling fs layer"][0]["id"]
    statuses = [m["status"] for m in pulled.messages if m.get("id") == layer]
    assert statuses[0] == "Pulling fs layer" and statuses[-1] == "Pull complete"
    order = ["Downloading", "Verifying Checksum", "Download complete", "Extracting"]
    assert [s for s in dict.fromkeys(statuses) if s in order] == order
    downloading = [m for m in pulled.messages if m.get("status") == "Downloading"]
    assert downloading[-1]["progressDetail"] == {"current": total, "total": total}


def _on_a_terminal(daemon: Daemon, *args: str) -> tuple[int, str]:
    main, terminal = pty.openpty()
    env = {**os.environ, "COLUMNS": "200"}
    with subprocess.Popen(
        [DOCKYARD, "-H", daemon.host, *args], stdout=terminal, stderr=terminal, env=env
    ) as process:
        os.close(terminal)
        output = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # EIO: the CLI closed its end
                break
            if not chunk:
                break
            output += chunk
        os.close(main)
        return process.wait(timeout=60), output.decode()


def test_our_cli_draws_bars_on_a_terminal_and_plain_lines_elsewhere(
    daemon: Daemon, registry: Registry
) -> None:
    name = f"{registry.address}/shown"
    assert daemon.cli("tag", "busybox", name).returncode == 0
    status, shown = _on_a_terminal(daemon, "push", name)
    assert status == 0, shown
    assert "\x1b[2K\r" in shown and "\x1b[1A" in shown  # each layer's line rewritten in place
    assert "Pushing [" + "=" * 50 + ">] " in shown
    assert "latest: digest: sha256:" in shown

    assert daemon.cli("rmi", name, "busybox").returncode == 0
    plain = daemon.cli("pull", name)
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert any(line.endswith(": Pull complete") for line in lines)
    assert any(line.endswith(": Download complete") for line in lines)
    assert not any("Downloading" in line or "\x1b" in line for line in lines)

    assert daemon.cli("rmi", name).returncode == 0
    status, shown = _on_a_terminal(daemon, "pull", name)
    assert status == 0, shown
    assert "Downloading [" in shown and "Pull complete" in shown
    quiet = daemon.cli("pull", "-q", name)
    assert (quiet.returncode, quiet.stdout) == (0, f"{name}:latest\n")


def test_our_cli_pushes_zstd_on_request(daemon: Daemon, registry: Registry) -> None:
    name = f"{registry.address}/squeezed"
    assert daemon.cli("tag", "busybox", name).returncode == 0
    pushed = daemon.cli("push", "-q", "--compression", "zstd", name)
    assert (pushed.returncode, pushed.stdout) == (0, f"{name}:latest\n"), pushed.stderr
    manifest = Client(
        Endpoint(f"http://{registry.address}"), ["repository:squeezed:pull"]
    ).get_manifest("squeezed", "latest")
    layers = json.loads(manifest.data)["layers"]
    assert {layer["mediaType"] for layer in layers} == {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    }
    refused = daemon.cli("push", "--compression", "lz4", name)
    assert refused.returncode != 0 and "lz4" in refused.stderr
