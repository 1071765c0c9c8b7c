"""Showing a pull's or push's JSON progress stream the way the docker CLI does (jsonmessage).

On a terminal each layer keeps one line, rewritten in place as its status
and bar change; elsewhere each status is one plain line and the bars are
left out.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from typing import Any, TextIO

from dockyard.client import APIError
from dockyard.distribution.progress import bar

_CLEAR_LINE = "\x1b[2K"
_WIDE = 110  # columns from which the docker CLI draws the bar, not just the numbers


def display(messages: Iterable[dict[str, Any]], out: TextIO) -> None:
    """Write ``messages`` to ``out``; an error message in the stream raises APIError."""
    terminal = out.isatty()
    wide = shutil.get_terminal_size().columns > _WIDE
    lines: dict[str, int] = {}  # layer id → its line, counted from the first layer's
    for message in messages:
        if message.get("error"):
            raise APIError(500, message["error"])
        if "aux" in message:
            continue
        layer = str(message.get("id") or "")
        moved = 0
        if layer and "progressDetail" in message:
            if layer not in lines:
                lines[layer] = len(lines)
                if terminal:
                    out.write("\n")
            moved = len(lines) - lines[layer]
            if terminal:
                out.write(f"\x1b[{moved}A")
        else:
            lines = {}  # a line of its own: the layers above are not rewritten any more
        _line(message, out, terminal, wide)
        if layer and terminal and moved:
            out.write(f"\x1b[{moved}B")
        out.flush()


def drain(messages: Iterable[dict[str, Any]]) -> None:
    """Read the stream to its end showing nothing (``--quiet``); an error raises APIError."""
    for message in messages:
        if message.get("error"):
            raise APIError(500, message["error"])


def _line(message: dict[str, Any], out: TextIO, terminal: bool, wide: bool) -> None:
    """jsonmessage's Display: one message, in place on a terminal."""
    detail = message.get("progressDetail")
    drawn = ""
    if isinstance(detail, dict):
        drawn = bar(int(detail.get("current") or 0), int(detail.get("total") or 0), wide)
    end = "\n"
    if terminal and detail is not None:
        out.write(f"{_CLEAR_LINE}\r")
        end = "\r"
    elif drawn:
        return  # bytes moving: nothing to show without a terminal
    prefix = f"{message['id']}: " if message.get("id") else ""
    status = str(message.get("status") or "")
    out.write(
        f"{prefix}{status} {drawn}{end}"
        if terminal and detail is not None
        else f"{prefix}{status}{end}"
    )
