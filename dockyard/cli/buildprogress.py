"""``dockyard build --progress=tty``: a live view of the build, like BuildKit's.

It is made from the daemon's progress lines (the classic builder's ``Step i/n :
INSTRUCTION``, or ``[stage i/n] ...`` when stages run at once): one line per
step with its timer, ``CACHED`` for a step taken from the cache, and the last
lines a running step printed under it. Drawn with ``rich`` on stderr, as buildx
draws its own; imported only for this mode (the CLI's start stays cheap).
"""

from __future__ import annotations

import re
import sys
import time
from collections import deque
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_LABELLED = re.compile(r"^\[([^\]]+ \d+/\d+)\] ?(.*)$")
_CACHED = "---> Using cache"
_INTERNAL = re.compile(r"^ ?---> (Running in|Removed intermediate container|[0-9a-f]{12}$)")
_TAIL = 6  # output lines shown under a running step


@dataclass
class _Step:
    label: str
    text: str
    started: float
    ended: float | None = None
    cached: bool = False
    failed: bool = False  # running when the build failed: its last lines stay shown
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=_TAIL))


class TtyProgress:
    def __init__(self) -> None:
        self.console = Console(file=sys.stderr)
        self.started = time.monotonic()
        self.steps: list[_Step] = []
        self.by_label: dict[str, _Step] = {}
        self.current: _Step | None = None  # where unlabelled lines go
        self.after: list[str] = []  # the build's own closing lines, shown after the view
        self.pending = ""
        self.redraw = False
        self.live = Live(self._render(), console=self.console, refresh_per_second=8)
        self.live.start()

    def write(self, text: str) -> None:
        lines = (self.pending + text).split("\n")
        self.pending = lines.pop()
        self.redraw = False
        for line in lines:
            self._line(line)
        # Drawn now when a step starts or prints its first line (so that even a quick
        # step's output is seen once); otherwise at the view's own pace.
        self.live.update(self._render(), refresh=self.redraw)

    def close(self, success: bool) -> None:
        """The build ended: every step stops its timer, the view stays as it last was."""
        if self.pending:
            self._line(self.pending)
        now = time.monotonic()
        for step in self.steps:
            if step.ended is None:
                step.ended = now
                step.failed = not success
        self.live.update(self._render(final=True))
        self.live.stop()
        for line in self.after:
            self.console.print(line, highlight=False)

    def _line(self, line: str) -> None:
        step_match = _STEP.match(line)
        if step_match:
            number, total, text = step_match.groups()
            self.current = self._start(f"{number}/{total}", text)
            return
        labelled = _LABELLED.match(line)
        if labelled:
            label, rest = labelled.groups()
            if label not in self.by_label:
                self._start(label, rest)
            else:
                self._output(self.by_label[label], rest)
            return
        if self.current is not None and not line.startswith("Successfully"):
            self._output(self.current, line)
        elif line:
            self.after.append(line)

    def _start(self, label: str, text: str) -> _Step:
        now = time.monotonic()
        stage = label.rsplit(" ", 1)[0] if " " in label else ""
        for step in self.steps:  # the stage's (or the build's) step before ends here
            same_stage = (step.label.rsplit(" ", 1)[0] if " " in step.label else "") == stage
            if step.ended is None and same_stage:
                step.ended = now
        step = _Step(label, text, now)
        self.redraw = True
        self.steps.append(step)
        self.by_label[label] = step
        return step

    def _output(self, step: _Step, line: str) -> None:
        if line.strip() == _CACHED:
            step.cached = True
        elif line and not _INTERNAL.match(line):
            self.redraw = self.redraw or not step.tail
            step.tail.append(line)

    def _render(self, final: bool = False) -> Group:
        now = time.monotonic()
        done = sum(1 for s in self.steps if s.ended is not None)
        state = "FINISHED" if final else ""
        header = Text(f"[+] Building {now - self.started:.1f}s ({done}/{len(self.steps)}) {state}")
        lines = [header]
        for step in self.steps:
            seconds = (step.ended or now) - step.started
            line = Text(" => ")
            if step.cached:
                line.append("CACHED ", style="bold blue")
            line.append(f"[{step.label}] {step.text}")
            line.append(f"  {seconds:.1f}s", style="dim")
            lines.append(line)
            if step.ended is None or step.failed:
                lines += [Text(f" => => # {out}", style="dim") for out in step.tail]
        return Group(*lines)
