"""The fuse-overlayfs storage driver's cost (issue 9): `dockyard run --rm busybox true` with a
daemon started with `--storage-driver fuse-overlayfs` beside one with overlay2.

The two daemons run one after the other, each measured the same way, so the figures
differ only by what mounts the container's root: the kernel's overlay, or a
fuse-overlayfs process started, waited for and ended for each container.
"""

from __future__ import annotations

from common import daemon, median_ms, report


def main() -> None:
    figures = {}
    for driver in ("overlay2", "fuse-overlayfs"):
        with daemon("--storage-driver", driver) as d:
            figures[driver] = median_ms(lambda d=d: d.cli("run", "--rm", "busybox", "true"))
        report(f"dockyard run --rm busybox true ({driver})", figures[driver])
    ratio = figures["fuse-overlayfs"] / figures["overlay2"]
    print(f"{'':<48} fuse-overlayfs / overlay2: ×{ratio:.2f}")


if __name__ == "__main__":
    main()
