"""Progress of a transfer as Docker streams it: ``progressDetail`` and the bar drawn from it.

The daemon sends, per layer, ``{"status": "Downloading", "progressDetail":
{"current": N, "total": T}, "progress": "[==>  ] 1.2MB/3.4MB", "id": ...}``
at most every tenth of a second; a CLI draws the bar again from
``progressDetail`` (moby's JSONProgress).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dockyard.units import human_size

Emit = Callable[[dict[str, Any]], None]
_INTERVAL = 0.1  # seconds between two progress messages of one layer, as moby's
_BAR_WIDTH = 50


def bar(current: int, total: int, wide: bool = True) -> str:
    """moby's JSONProgress.String, without the time left: ``[===>   ]  1.2MB/3.4MB``."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current, 4):>8}"
    filled = min(int(current / total * 100) // 2, _BAR_WIDTH)
    box = f"[{'=' * filled}>{' ' * (_BAR_WIDTH - filled)}] " if wide else ""
    numbers = f"{human_size(current, 4):>8}"
    if current <= total:
        numbers += f"/{human_size(total, 4)}"
    return box + numbers


def message(status: str, layer: str, current: int = 0, total: int = 0) -> dict[str, Any]:
    """One progress message; ``progressDetail`` is empty for a status without bytes."""
    detail = {"current": current, "total": total} if current or total else {}
    found: dict[str, Any] = {"status": status, "progressDetail": detail, "id": layer}
    if detail:
        found["progress"] = bar(current, total)
    return found


class Meter:
    """Reports bytes as they move: a message now and then, and always the last one."""

    def __init__(self, emit: Emit, status: str, layer: str, total: int) -> None:
        self.emit, self.status, self.layer, self.total = emit, status, layer, total
        self.current = 0
        self._last = 0.0

    def __call__(self, more: int) -> None:
        self.current += more
        now = time.monotonic()
        if now - self._last >= _INTERVAL or self.current >= self.total:
            self._last = now
            self.emit(message(self.status, self.layer, self.current, self.total))
