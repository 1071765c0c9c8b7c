"""Write-behind: the disk starts on a file's new pages while more are being written.

A pull writes each layer three times (the compressed blob, the layer tar, the
unpacked files) and then flushes the filesystem once, before it records the layers.
Left alone, the kernel writes dirty pages back only much later, so that flush would
write everything while the pull waits; started every few megabytes (with
sync_file_range, which does not wait for the disk), the writing overlaps the
download and the unpacking, and the flush finds little left to do. Durability
still comes from the flush alone.
"""

from __future__ import annotations

import contextlib

from dockyard.runtime import linux

STEP = 8 << 20  # bytes written between two starts


class WriteBehind:
    """Follows the writes to the file ``fd`` from its start, in order."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._started = 0  # the pages before this offset are on their way to the disk
        self._written = 0

    def wrote(self, size: int) -> None:
        self._written += size
        if self._written - self._started >= STEP:
            # Only a head start: a real failure shows at the flush.
            with contextlib.suppress(OSError):
                linux.sync_file_range(
                    self._fd,
                    self._started,
                    self._written - self._started,
                    linux.SYNC_FILE_RANGE_WRITE,
                )
            self._started = self._written
