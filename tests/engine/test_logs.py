"""`docker logs` read back from json-file logs: tail, time window, follow across rotation."""

from __future__ import annotations

import asyncio
import json
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from dockyard.engine.logs import LogReader
from dockyard.runtime.jsonlog import JsonLogWriter
from dockyard.timefmt import rfc3339_nano


def _read(
    reader: LogReader, tail: int | None = None, running: Callable[[], bool] | None = None
) -> list[bytes]:
    async def collect() -> list[bytes]:
        return [data async for _, data in reader.read(tail, running)]

    return asyncio.run(collect())


def _numbers(data: list[bytes]) -> list[int]:
    return [int(line) for line in data]


def test_tail_reads_back_across_rotated_files(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    writer = JsonLogWriter(log, max_size=4096, max_file=50)
    for n in range(2000):
        writer.write("stdout", b"%d\n" % n)
    writer.close()
    assert len(list(tmp_path.iterdir())) > 10
    reader = LogReader(log)
    assert _numbers(_read(reader, tail=3)) == [1997, 1998, 1999]
    assert _numbers(_read(reader, tail=500)) == list(range(1500, 2000))
    assert _numbers(_read(reader, tail=0)) == []
    kept = _numbers(_read(reader))
    assert kept == list(range(kept[0], 2000))
    assert _numbers(_read(reader, tail=10**6)) == kept


def test_tail_holds_only_the_lines_it_returns(tmp_path: Path) -> None:
    """A tail of 1 of a 20 MB log holds kilobytes, not the log."""
    log = tmp_path / "c-json.log"
    writer = JsonLogWriter(log, max_size=8 << 20, max_file=3)
    line = b"a" * 999 + b"\n"
    for _ in range(20_000):
        writer.write("stdout", line)
    writer.write("stderr", b"last\n")
    writer.close()
    tracemalloc.start()
    try:
        assert _read(LogReader(log), tail=1) == [b"last\n"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"tail 1 held {peak} bytes"


def test_the_time_window_filters_while_reading(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    base = 1_721_044_800 * 10**9  # 2024-07-15T12:00:00Z
    with open(log, "w") as f:
        for n in range(10):
            entry = {"log": f"{n}\n", "stream": "stdout", "time": rfc3339_nano(base + n * 10**9)}
            f.write(json.dumps(entry) + "\n")
    window = LogReader(log, since=1_721_044_803, until=1_721_044_805.5)
    assert _numbers(_read(window)) == [3, 4, 5]
    assert _numbers(_read(window, tail=6)) == [4, 5]  # the tail first, then the window


def test_a_follower_reads_every_file_rotation_made_between_two_looks(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    writer = JsonLogWriter(log, max_size=100, max_file=20)  # one entry per file
    writer.write("stdout", b"0\n")

    async def scenario() -> list[bytes]:
        seen: list[bytes] = []
        follower = LogReader(log).read(None, running=lambda: not writer_closed.is_set())
        seen.append((await anext(follower))[1])
        # Between two reads of the follower, the file it reads is rotated eleven times.
        for n in range(1, 12):
            writer.write("stdout", b"%d\n" % n)
        writer.close()
        writer_closed.set()
        seen += [data async for _, data in follower]
        return seen

    writer_closed = threading.Event()
    assert _numbers(asyncio.run(scenario())) == list(range(12))
    assert len(list(tmp_path.iterdir())) == 12  # nothing rotated away


def test_a_slow_follower_gets_every_line_once_in_order(tmp_path: Path) -> None:
    """A writer that never pauses, rotating all the time, and a follower that lags behind."""
    log = tmp_path / "c-json.log"
    total = 20_000
    writer = JsonLogWriter(log, max_size=16 * 1024, max_file=200)
    started = threading.Event()

    def write() -> None:
        for n in range(total):
            writer.write("stdout", b"%d\n" % n)
            if n == 100:
                started.set()
        writer.close()

    async def follow() -> list[bytes]:
        seen = []
        async for _, data in LogReader(log).read(None, running=thread.is_alive):
            seen.append(data)
            if len(seen) % 100 == 0:
                await asyncio.sleep(0.001)  # a slow client
        return seen

    thread = threading.Thread(target=write)
    thread.start()
    try:
        assert started.wait(30)
        seen = asyncio.run(follow())
    finally:
        thread.join()
    assert _numbers(seen) == list(range(total))


def test_a_follower_of_a_log_truncated_in_place_starts_over(tmp_path: Path) -> None:
    """max-file 1: the writer empties its only file instead of renaming it."""
    log = tmp_path / "c-json.log"
    writer = JsonLogWriter(log, max_size=150, max_file=1)
    long = b"a long first line that fills most of the file\n"
    writer.write("stdout", long)
    closed = threading.Event()

    async def scenario() -> list[bytes]:
        follower = LogReader(log).read(None, running=lambda: not closed.is_set())
        seen = [(await anext(follower))[1]]
        writer.write("stdout", b"x\n")  # too big for what is left: the file starts over
        writer.close()
        closed.set()
        return seen + [data async for _, data in follower]

    assert asyncio.run(scenario()) == [long, b"x\n"]
    assert log.read_bytes().count(b"\n") == 1


def test_compressed_rotated_files_are_read_back(tmp_path: Path) -> None:
    log = tmp_path / "container.log"
    writer = JsonLogWriter(log, max_size=4096, max_file=5, compress=True)
    for n in range(1000):
        writer.write("stdout", b"%d\n" % n)
    writer.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["container.log", *(f"container.log.{n}.gz" for n in range(1, 5))]
    kept = _numbers(_read(LogReader(log)))
    assert kept == list(range(kept[0], 1000)) and kept[0] > 0
    assert _numbers(_read(LogReader(log), tail=100)) == list(range(900, 1000))


def test_a_slow_follower_reads_through_compression_once_in_order(tmp_path: Path) -> None:
    """Each rotated file is gzipped (a new file) as the follower may still be reading it."""
    log = tmp_path / "container.log"
    total = 20_000
    writer = JsonLogWriter(log, max_size=16 * 1024, max_file=200, compress=True)
    started = threading.Event()

    def write() -> None:
        for n in range(total):
            writer.write("stdout", b"%d\n" % n)
            if n == 100:
                started.set()
        writer.close()

    async def follow() -> list[bytes]:
        seen = []
        async for _, data in LogReader(log).read(None, running=thread.is_alive):
            seen.append(data)
            if len(seen) % 100 == 0:
                await asyncio.sleep(0.001)  # a slow client
        return seen

    thread = threading.Thread(target=write)
    thread.start()
    try:
        assert started.wait(30)
        seen = asyncio.run(follow())
    finally:
        thread.join()
    assert _numbers(seen) == list(range(total))
    assert any(p.suffix == ".gz" for p in tmp_path.iterdir())
