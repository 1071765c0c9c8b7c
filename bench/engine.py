"""Daemon idle memory and per-container supervision memory."""

from __future__ import annotations

import json
import time

from common import daemon, rss_kb, smaps_kb

SHIMS = 5


def main() -> None:
    with daemon() as d:
        time.sleep(1)
        print(f"{'daemon idle RSS':<48} {rss_kb(d.process.pid) / 1024:9.1f} MB   target ≤ 60 MB")
        ids = [
            d.cli("run", "-d", "busybox", "sleep", "60").stdout.decode().strip()
            for _ in range(SHIMS)
        ]
        time.sleep(0.5)
        shims = []
        for cid in ids:
            state = json.loads((d.base / "data" / "containers" / cid / "shim.json").read_text())
            shims.append(state["shim_pid"])
        private = [smaps_kb(p, "Private_Dirty") + smaps_kb(p, "Private_Clean") for p in shims]
        pss = [smaps_kb(p, "Pss") for p in shims]
        rss = [rss_kb(p) for p in shims]
        print(
            f"{'per-container shim: private (USS)':<48} {sum(private) / len(private) / 1024:9.1f} MB"
            "   (containerd-shim 12.9 MB RSS, conmon 2.1 MB RSS)"
        )
        print(f"{'per-container shim: PSS':<48} {sum(pss) / len(pss) / 1024:9.1f} MB")
        print(
            f"{'per-container shim: RSS (mostly shared with dockyardd)':<48} {sum(rss) / len(rss) / 1024:9.1f} MB"
        )
        print(
            f"{'daemon RSS with ' + str(SHIMS) + ' containers':<48} {rss_kb(d.process.pid) / 1024:9.1f} MB"
        )


if __name__ == "__main__":
    main()
