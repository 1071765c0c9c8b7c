"""The fuse-overlayfs storage driver's cost (issue 9): `dockyard run --rm busybox true` with a
daemon started with `--storage-driver fuse-overlayfs` beside one with overlay2, and the
same for a container that writes 64 MB to its root and reads it back, and one that
creates 2,000 files (what fuse costs where the container's files are used, not only
mounted).

Both daemons run at once and take turns, one run each, so that the machine's load
weighs on both alike: the figures differ only by what mounts the container's root,
the kernel's overlay or a fuse-overlayfs process started and ended per container.
"""

from __future__ import annotations

import statistics
import time

from common import BenchDaemon, daemon, report

DRIVERS = ("overlay2", "fuse-overlayfs")
WORKLOADS = {
    "run --rm busybox true": ("true",),
    "run --rm, 64 MB in and out": (
        "sh",
        "-c",
        "dd if=/dev/zero of=/f bs=1M count=64 2>/dev/null && cat /f > /dev/null",
    ),
    "run --rm, 2,000 files created": ("sh", "-c", "mkdir /d && cd /d && seq 2000 | xargs touch"),
}
RUNS = 15


def _run_ms(d: BenchDaemon, command: tuple[str, ...]) -> float:
    begun = time.perf_counter()
    d.cli("run", "--rm", "busybox", *command)
    return (time.perf_counter() - begun) * 1000


def main() -> None:
    with (
        daemon("--storage-driver", DRIVERS[0]) as native,
        daemon("--storage-driver", DRIVERS[1]) as fuse,
    ):
        engines = dict(zip(DRIVERS, (native, fuse), strict=True))
        for name, command in WORKLOADS.items():
            samples: dict[str, list[float]] = {driver: [] for driver in DRIVERS}
            for turn in range(RUNS + 2):  # two warm-up turns
                for driver, d in engines.items():
                    ms = _run_ms(d, command)
                    if turn >= 2:
                        samples[driver].append(ms)
            figures = {driver: statistics.median(ms) for driver, ms in samples.items()}
            for driver in DRIVERS:
                report(f"dockyard {name} ({driver})", figures[driver])
            ratio = figures["fuse-overlayfs"] / figures["overlay2"]
            print(f"{'':<48} fuse-overlayfs / overlay2: ×{ratio:.2f}", flush=True)


if __name__ == "__main__":
    main()
