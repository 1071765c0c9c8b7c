"""Cache mounts (issue 10): a RUN that "installs" packages, with and without a cache mount.

The package is an 8 MB tarball a loopback HTTP server in this bench hands out
at 2 MB/s, as a package mirror on the network would. The RUN fetches it (with
the mount: only when the cache lacks it), unpacks it into /opt and runs
after a COPY of a requirements file that changes before every build, so
every build runs it. Figure: the median time of such a rebuild, with the
cache mount (the cache filled by an earlier build) and without.
Target: with the mount ≥ 5× faster.
"""

from __future__ import annotations

import http.server
import io
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from itertools import count
from pathlib import Path
from typing import Any

from common import BIN, daemon, median_ms, report

PACKAGE = 8 * 1024 * 1024
RATE = 2 * 1024 * 1024  # bytes per second: a package mirror, not a LAN
RUNS = 5
TARGET_RATIO = 5.0
FETCH = "wget -q -O {to} http://127.0.0.1:{port}/pkg.tar"
WITH_MOUNT = """\
FROM busybox
COPY requirements.txt /app/
RUN --network=host --mount=type=cache,target=/var/cache/pkgs \\
    ( [ -f /var/cache/pkgs/pkg.tar ] || {fetch} ) && \\
    mkdir -p /opt && tar -xf /var/cache/pkgs/pkg.tar -C /opt
"""
WITHOUT_MOUNT = """\
FROM busybox
COPY requirements.txt /app/
RUN --network=host {fetch} && \\
    mkdir -p /opt && tar -xf /tmp/pkg.tar -C /opt && rm /tmp/pkg.tar
"""


class PackageIndex(http.server.BaseHTTPRequestHandler):
    """Serves /pkg.tar at RATE bytes a second."""

    body = b""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        chunk = RATE // 20
        for start in range(0, len(self.body), chunk):
            begun = time.monotonic()
            self.wfile.write(self.body[start : start + chunk])
            time.sleep(max(0.0, 0.05 - (time.monotonic() - begun)))

    def log_message(self, *args: Any) -> None:
        pass


def package() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("pkg/lib.bin")
        info.size = PACKAGE
        tar.addfile(info, io.BytesIO(os.urandom(PACKAGE)))
    return out.getvalue()


def rebuild_ms(d: Any, context: Path, dockerfile: str) -> float:
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text(dockerfile)
    serial = count()
    build = [str(BIN / "dockyard"), "-H", d.host, "build", "-q", str(context)]

    def changed_build() -> None:
        (context / "requirements.txt").write_text(f"pkg=={next(serial)}\n")
        subprocess.run(build, check=True, capture_output=True)

    return median_ms(changed_build, runs=RUNS, warmup=1)


def main() -> int:
    PackageIndex.body = package()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PackageIndex)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        with daemon() as d:
            with_mount = rebuild_ms(
                d,
                d.base / "with",
                WITH_MOUNT.format(fetch=FETCH.format(to="/var/cache/pkgs/pkg.tar", port=port)),
            )
            without = rebuild_ms(
                d,
                d.base / "without",
                WITHOUT_MOUNT.format(fetch=FETCH.format(to="/tmp/pkg.tar", port=port)),
            )
    finally:
        server.shutdown()
        server.server_close()
    report("build rebuild, RUN with a cache mount", with_mount)
    report("build rebuild, the same RUN without the mount", without)
    ratio = without / with_mount
    verdict = "ok" if ratio >= TARGET_RATIO else "MISSED"
    print(f"{'cache mount speed-up':<48} {ratio:9.1f} ×    target ≥ {TARGET_RATIO:g} × {verdict}")
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
