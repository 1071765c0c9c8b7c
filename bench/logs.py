"""`logs` of a 100 MB json-file log: --tail 1, the whole log, and the daemon's memory meanwhile."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from common import BIN, daemon, median_ms, report, rss_kb

BIG_LOG = "head -c 100000000 /dev/zero | tr '\\0' a | fold -w 999; echo last"


def peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    with daemon() as d:
        d.cli("run", "--name", "big", "busybox", "sh", "-c", BIG_LOG)
        pid = d.process.pid
        logs = [str(BIN / "dockyard"), "-H", d.host, "logs"]

        Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak starts at the present RSS
        before = rss_kb(pid)
        report(
            "logs --tail 1 of a 100 MB log",
            median_ms(
                lambda: subprocess.run(
                    [*logs, "--tail", "1", "big"], check=True, stdout=subprocess.DEVNULL
                )
            ),
        )
        print(
            f"{'  daemon peak RSS growth meanwhile':<48} {(peak_rss_kb(pid) - before) / 1024:9.1f} MB"
        )

        Path(f"/proc/{pid}/clear_refs").write_text("5")
        before = rss_kb(pid)
        begun = time.perf_counter()
        subprocess.run([*logs, "big"], check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - begun
        print(
            f"{'logs of a 100 MB log, whole':<48} {seconds * 1000:9.1f} ms   ({100 / seconds:.0f} MB/s)"
        )
        print(
            f"{'  daemon peak RSS growth meanwhile':<48} {(peak_rss_kb(pid) - before) / 1024:9.1f} MB"
        )


if __name__ == "__main__":
    main()
