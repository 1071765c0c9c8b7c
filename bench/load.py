"""The daemon under load (issue 7): many at once, many listed, many cycles.

  50 x run -d at once                       wall time, beside Docker/Podman where installed
  ps -a with 1,000 containers               target ≤ 300 ms, through our CLI and the docker CLI
  100 concurrent API clients                latency p50/p99 (ps, inspect, _ping, version, logs)
  run --rm cycles                           the daemon's RSS every few cycles: a flat curve
  50 logs -f followers of one container     until every follower has every line

Usage: load.py [CYCLES]   (default 100; `make bench LOAD_CYCLES=10000` for the long run)

Measured 2026-12-04, 10,000 cycles on the 2-core machine: daemon RSS 113.8 MB after the
other figures, 103.5 MB at 500 cycles, 101.9-103.7 MB from there to 10,000 (102.0 MB at
the end): -0.2 MB per 1,000 cycles after warm-up, 108-207 ms per cycle.
"""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from common import BIN, BenchDaemon, daemon, median_ms, peer_engines, report, rss_kb

from dockyard.stdcopy import FrameParser

RUNS = 50
LISTED = 1000
CLIENTS = 100
REQUESTS_EACH = 20
FOLLOWERS = 50
FOLLOWED_LINES = 10_000
DEFAULT_CYCLES = 100
SAMPLES = 20  # RSS samples over the cycles


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=120)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _call(
    conn: http.client.HTTPConnection, method: str, url: str, body: dict | None = None
) -> bytes:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, url, json.dumps(body) if body is not None else None, headers)
    response = conn.getresponse()
    data = response.read()
    if response.status >= 300:
        raise RuntimeError(f"{method} {url}: {response.status} {data[:200]!r}")
    return data


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


# ---------------------------------------------------------------------- the workloads
def runs_at_once(cli: list[str]) -> float:
    """Milliseconds until all RUNS `run -d` have returned; the containers are removed after."""
    begun = time.perf_counter()
    with ThreadPoolExecutor(RUNS) as pool:
        done = list(
            pool.map(
                lambda _: subprocess.run(
                    [*cli, "run", "-d", "busybox", "sleep", "600"], capture_output=True
                ),
                range(RUNS),
            )
        )
    took = (time.perf_counter() - begun) * 1000
    failed = [r.stderr.decode().strip() for r in done if r.returncode]
    ids = [r.stdout.decode().strip() for r in done if not r.returncode]
    subprocess.run([*cli, "rm", "-f", *ids], capture_output=True)
    if failed:
        print(f"{'':<48} {len(failed)} of {RUNS} failed, e.g.: {failed[0]}")
    return took


def created(cli: list[str], count: int) -> list[str]:
    """``count`` created (never started) containers, four makers at a time."""
    with ThreadPoolExecutor(4) as pool:
        done = pool.map(
            lambda _: subprocess.run(
                [*cli, "create", "busybox", "true"], capture_output=True, check=True
            ),
            range(count),
        )
        return [r.stdout.decode().strip() for r in done]


def created_over_api(path: str, count: int) -> list[str]:
    """As ``created``, straight over the API (the CLI's start-up would dominate the set-up)."""
    conn = _UnixHTTP(path)
    body = {"Image": "busybox", "Cmd": ["true"]}
    try:
        return [
            json.loads(_call(conn, "POST", "/v1.44/containers/create", body))["Id"]
            for _ in range(count)
        ]
    finally:
        conn.close()


def client_latencies(path: str, cid: str) -> list[float]:
    """CLIENTS threads, each on its own connection, REQUESTS_EACH requests of the mix."""
    mix = [
        "/v1.44/containers/json?all=1",
        f"/v1.44/containers/{cid}/json",
        "/_ping",
        "/v1.44/version",
        f"/v1.44/containers/{cid}/logs?stdout=1&stderr=1",
    ]
    barrier = threading.Barrier(CLIENTS)

    def client(i: int) -> list[float]:
        conn = _UnixHTTP(path)
        samples = []
        try:
            conn.connect()
            barrier.wait()
            for n in range(REQUESTS_EACH):
                begun = time.perf_counter()
                _call(conn, "GET", mix[(i + n) % len(mix)])
                samples.append((time.perf_counter() - begun) * 1000)
        finally:
            conn.close()
        return samples

    with ThreadPoolExecutor(CLIENTS) as pool:
        return [s for samples in pool.map(client, range(CLIENTS)) for s in samples]


def followers_ms(d: BenchDaemon) -> float:
    """From the go signal until each of FOLLOWERS `logs -f` clients has every line."""
    script = (
        "trap 'go=1' USR1; echo ready; until [ -n \"$go\" ]; do sleep 0.1; done; "
        f"seq 1 {FOLLOWED_LINES}"
    )
    cid = d.cli("run", "-d", "busybox", "sh", "-c", script).stdout.decode().strip()
    path = str(d.base / "run" / "d.sock")
    ready = threading.Barrier(FOLLOWERS + 1)
    expected = b"ready\n" + b"".join(b"%d\n" % n for n in range(1, FOLLOWED_LINES + 1))

    def follow(_: int) -> bytes:
        conn = _UnixHTTP(path)
        frames = FrameParser()
        try:
            conn.request("GET", f"/v1.44/containers/{cid}/logs?stdout=1&follow=1")
            response = conn.getresponse()
            got = [data for _, data in frames.feed(response.read1(65536))]  # "ready" at least
            ready.wait()
            while chunk := response.read1(65536):
                got += [data for _, data in frames.feed(chunk)]
            return b"".join(got)
        finally:
            conn.close()

    with ThreadPoolExecutor(FOLLOWERS) as pool:
        outputs = pool.map(follow, range(FOLLOWERS))
        ready.wait()
        begun = time.perf_counter()
        d.cli("kill", "-s", "USR1", cid)
        wrong = sum(output != expected for output in outputs)
        took = (time.perf_counter() - begun) * 1000
    d.cli("rm", "-f", cid)
    if wrong:
        print(f"{'':<48} MISSED: {wrong} of {FOLLOWERS} followers got other than every line once")
    return took


def rss_curve(d: BenchDaemon, cycles: int) -> None:
    """`run --rm busybox true`, ``cycles`` times; the daemon's RSS every cycles/SAMPLES runs.

    The first sample ends the warm-up (the first run imports netlink, fills caches):
    the growth per 1,000 cycles is measured from there.
    """
    every = max(1, cycles // SAMPLES)
    pid = d.process.pid
    first = rss_kb(pid)
    warm: tuple[int, int] | None = None  # (cycle, RSS) at the first sample
    print(f"{'run --rm cycles':>16} {'daemon RSS':>12} {'growth':>10} {'ms/cycle':>10}")
    print(f"{0:>16} {first / 1024:>9.1f} MB {0:>7.1f} MB")
    begun = time.perf_counter()
    for cycle in range(1, cycles + 1):
        d.cli("run", "--rm", "busybox", "true")
        if cycle % every == 0 or cycle == cycles:
            now = rss_kb(pid)
            warm = warm or (cycle, now)
            per_cycle = (time.perf_counter() - begun) * 1000 / every
            print(
                f"{cycle:>16} {now / 1024:>9.1f} MB {(now - first) / 1024:>7.1f} MB {per_cycle:>10.1f}",
                flush=True,
            )
            begun = time.perf_counter()
    if warm is not None and cycles > warm[0]:
        per_1000 = (rss_kb(pid) - warm[1]) / 1024 * 1000 / (cycles - warm[0])
        print(
            f"{'  daemon RSS growth per 1,000 cycles, warm':<48} {per_1000:9.1f} MB   target: flat"
        )


# ---------------------------------------------------------------------- the report
def main() -> None:
    cycles = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CYCLES
    peers = peer_engines()
    with daemon() as d:
        ours = [str(BIN / "dockyard"), "-H", d.host]
        docker_cli = ["docker", "-H", d.host]
        path = str(d.base / "run" / "d.sock")

        report(
            f"{RUNS} x dockyard run -d at once",
            runs_at_once(ours),
            peers={name: runs_at_once(prefix) for name, prefix in peers.items()},
        )

        created_over_api(path, LISTED)
        peer_ps = {}
        for name, prefix in peers.items():
            ids = created(prefix, LISTED)
            peer_ps[name] = median_ms(
                lambda p=prefix: subprocess.run([*p, "ps", "-a"], capture_output=True), runs=5
            )
            subprocess.run([*prefix, "rm", *ids], capture_output=True)
        report(
            f"dockyard ps -a with {LISTED} containers",
            median_ms(lambda: subprocess.run([*ours, "ps", "-a"], capture_output=True), runs=9),
            300,
            peer_ps,
        )
        report(
            f"docker ps -a (CLI 28) with {LISTED} containers",
            median_ms(
                lambda: subprocess.run([*docker_cli, "ps", "-a"], capture_output=True), runs=9
            ),
            300,
        )
        conn = _UnixHTTP(path)
        report(
            f"  GET /containers/json?all=1, {LISTED} containers",
            median_ms(lambda: _call(conn, "GET", "/v1.44/containers/json?all=1"), runs=9),
        )
        conn.close()
        d.cli("container", "prune", "-f")

        talker = d.cli("run", "-d", "busybox", "echo", "hello").stdout.decode().strip()
        d.cli("wait", talker)
        latencies = client_latencies(path, talker)
        report(f"{CLIENTS} concurrent API clients: p50", statistics.median(latencies))
        report(f"{CLIENTS} concurrent API clients: p99", _percentile(latencies, 0.99))
        d.cli("rm", talker)

        report(f"{FOLLOWERS} logs -f followers, {FOLLOWED_LINES} lines", followers_ms(d))
        rss_curve(d, cycles)


if __name__ == "__main__":
    main()
