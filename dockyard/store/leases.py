"""Leases: what keeps an operation's blobs and layers from looking like garbage.

A pull, a load, an import, a build or a commit writes blobs and layers before the
image row that holds them: until that row is committed they are referenced by
nothing. Each such operation holds a lease while it runs, and garbage (a blob or a
layer nothing references) is only collected while no lease is held, with new
leases waiting meanwhile: containerd's leases, reduced to a count.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Leases:
    def __init__(self) -> None:
        self._held = 0
        self._lock = threading.Lock()  # held while garbage is collected

    @contextmanager
    def hold(self) -> Iterator[None]:
        """For the time of an operation that writes before it references."""
        with self._lock:
            self._held += 1
        try:
            yield
        finally:
            with self._lock:
                self._held -= 1

    @contextmanager
    def collecting(self) -> Iterator[bool]:
        """Whether garbage may be collected now (no lease held); no lease starts until the end."""
        with self._lock:
            yield self._held == 0
