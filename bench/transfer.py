"""Push and pull of the bench image (issue 10): dockyard beside skopeo, same image, same registry.

The bench image is the build bench's: busybox and a 50 MB file. Each sample
goes to a registry of its own (Debian's docker-registry on loopback, fresh
storage), so nothing is there yet and nothing can be mounted.

  push   dockyard push of the image (its gzip layers made by a first push, as a
         pulled image has them), beside skopeo copying the same gzip layers from
         an OCI layout to the registry
  pull   dockyard pull into an empty store (downloaded, verified, unpacked), beside
         skopeo copying the image from the registry into an OCI layout (downloaded,
         verified, not unpacked)
Target: dockyard ≤ skopeo, for both. Figures printed, not a test.

What skopeo does and does not do, here: it fetches the blobs (three at a time),
checks their digests and fsyncs each blob file into the layout; it never
decompresses a layer, computes no DiffID, unpacks nothing and keeps no layer tar.
A dockyard pull writes each layer three times (the compressed blob kept for a
later push, the layer tar, the unpacked files), hashes it twice, and makes all of
it durable before it records the layers; and its CLI is a Python process.

Figures (median of 5, ms, skopeo's in brackets; 2 cores shared with other work, so
they move with the machine's load; before and after measured back to back):
  load    before push    before pull    after push     after pull
  0.5     430 (498)      581 (399)
  ~2.5    374 (480)      663 (324)      413 (320)      215 (294)
  ~2.5    432 (442)      567 (303)      374 (535)      221 (308)
  ~4      380 (481)      526 (324)      463 (689)      431 (365)
  ~4                                    451 (555)      355 (340)
  ~5      835 (774)      995 (416)      622 (814)      592 (370)
  0.3                                   327 (335)      196 (279)   (the quiet machine, 2026-12-04)
So pull is under skopeo's time on a lightly loaded machine and within about 1.1-1.6x
of it when both cores are busy with other work (skopeo's Go process does a third of
the work and suffers less); push is under skopeo's in all but one sample (x1.29),
skopeo's own push time ranging from 320 to 814 ms.
"Before" is d875297: layers one at a time, an in-memory pipe whose reader copied
the rest of its megabyte chunk on each 8 KB read, gzip in 8 KB pieces, tarfile's
stream mode, a syncfs and a transaction per layer. "After": three downloads (five
uploads) at a time, each layer unpacked as its blob arrives (a spool file read
behind the download), zlib and tarfile reading megabytes, one syncfs for all the
layers (their files started to disk as they are written) and one transaction,
uploads read in megabytes (http.client sent 8 KB blocks).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from build import DOCKERFILE
from common import daemon, report

from tests.e2e.helpers import wait_until
from tests.ready import registry_answers

REGISTRY = Path("/usr/bin/docker-registry")
RUNS = 5


@contextmanager
def registry() -> Iterator[str]:
    """A registry with empty storage on a free loopback port; its address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
    with tempfile.TemporaryDirectory(prefix="dy-bench-registry-") as base:
        config = Path(base) / "config.yml"
        config.write_text(
            "version: 0.1\nlog: {level: error}\n"
            f"storage: {{filesystem: {{rootdirectory: {base}/storage}}}}\n"
            f"http: {{addr: '{address}'}}\n"
        )
        proc = subprocess.Popen(
            [str(REGISTRY), "serve", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: registry_answers(address), 10, "docker-registry to answer")
            yield address
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def timed(prepare: Callable[[str], None], action: Callable[[str], None]) -> float:
    """Median ms of ``action(registry)`` over RUNS fresh registries, ``prepare`` untimed."""
    samples = []
    for _ in range(RUNS):
        with registry() as address:
            prepare(address)
            begun = time.perf_counter()
            action(address)
            samples.append((time.perf_counter() - begun) * 1000)
    samples.sort()
    return samples[len(samples) // 2]


def skopeo(*args: str) -> None:
    subprocess.run(["skopeo", "--insecure-policy", *args], check=True, capture_output=True)


def main() -> int:
    if not REGISTRY.exists() or not shutil.which("skopeo"):
        print("-- transfer.py: docker-registry and skopeo are needed (make install)")
        return 0
    with daemon() as d:
        context = d.base / "context"
        context.mkdir()
        (context / "Dockerfile").write_text(DOCKERFILE)
        (context / "big.bin").write_bytes(os.urandom(50 * 1024 * 1024))
        (context / "small.txt").write_text("version 0\n")
        d.cli("build", "-q", "-t", "bench:latest", str(context))
        busybox = d.cli("images", "--format", "{{.ID}}", "busybox").stdout.strip()
        layout = d.base / "layout"
        with registry() as address:  # the gzip layers made once, and an OCI layout of them
            d.cli("tag", "bench:latest", f"{address}/bench:latest")
            d.cli("push", "-q", f"{address}/bench:latest")
            skopeo("copy", "--src-tls-verify=false", f"docker://{address}/bench", f"oci:{layout}:b")
            d.cli("rmi", f"{address}/bench:latest")

        def tag(address: str) -> None:
            d.cli("tag", "bench:latest", f"{address}/bench:latest")

        def push(address: str) -> None:
            d.cli("push", "-q", f"{address}/bench:latest")

        def skopeo_push(address: str) -> None:
            skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:b", f"docker://{address}/b")

        def upload(address: str) -> None:
            """The image in the registry, and in no form in dockyard's store."""
            skopeo_push(address)
            names = d.cli("images", "--format", "{{.ID}}", "--filter", "dangling=false").stdout
            for image in set(names.split()) - {busybox}:
                d.cli("rmi", "-f", image.decode(), check=False)

        def pull(address: str) -> None:
            d.cli("pull", "-q", f"{address}/b:latest")

        def skopeo_pull(address: str) -> None:
            with tempfile.TemporaryDirectory(prefix="dy-bench-pulled-") as into:
                skopeo("copy", "--src-tls-verify=false", f"docker://{address}/b", f"oci:{into}:b")

        ours_push = timed(tag, push)
        theirs_push = timed(lambda _: None, skopeo_push)

        ours_pull = timed(upload, pull)
        theirs_pull = timed(upload, skopeo_pull)
    report("push of the bench image (54 MB)", ours_push, theirs_push, {"skopeo": theirs_push})
    report("pull of the bench image (54 MB)", ours_pull, theirs_pull, {"skopeo": theirs_pull})
    return 1 if ours_push > theirs_push or ours_pull > theirs_pull else 0


if __name__ == "__main__":
    sys.exit(main())
