"""`docker exec c true` end to end: the exec runs under its own shim, forked by the zygote."""

from __future__ import annotations

import subprocess

from common import BIN, daemon, median_ms, report


def main() -> None:
    with daemon() as d:
        cid = d.cli("run", "-d", "busybox", "sleep", "600").stdout.decode().strip()
        exec_true = [str(BIN / "dockyard"), "-H", d.host, "exec", cid, "true"]
        report(
            "dockyard exec c true, end to end",
            median_ms(lambda: subprocess.run(exec_true, check=True)),
        )


if __name__ == "__main__":
    main()
