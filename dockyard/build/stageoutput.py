"""A build's output while stages run at the same time (``build/dag.py``).

Lines say which stage and step they belong to, as BuildKit's plain progress
does: ``[base 2/3] RUN make``, then ``[base 2/3] <a line the step printed>``.
Each thread builds one stage at a time and says so with ``stage()``; what it
writes then goes out a whole line at a time, so that stages' lines never mix
within a line. A build with one stage at a time keeps the classic output.
"""

from __future__ import annotations

import threading

from dockyard.build.output import BuildOutput, short_id


class _Stage(threading.local):
    name = ""
    steps = 0
    number = 0
    pending = ""


class StageLines(BuildOutput):
    def __init__(self, parent: BuildOutput) -> None:  # no state of its own: the parent's
        self.parent = parent
        self.current = _Stage()

    def stage(self, name: str, steps: int) -> None:
        """The calling thread now builds the stage ``name`` of ``steps`` steps."""
        self.flush()
        self.current.name, self.current.steps, self.current.number = name, steps, 0

    @property
    def label(self) -> str:
        return f"[{self.current.name} {self.current.number}/{self.current.steps}]"

    def stream(self, text: str) -> None:
        if not self.current.name:  # not a stage's thread: the build's own lines
            self.parent.stream(text)
            return
        lines = (self.current.pending + text).split("\n")
        self.current.pending = lines.pop()
        for line in lines:
            self.parent.stream(f"{self.label} {line}\n")

    def flush(self) -> None:
        """The rest of a line a step left unfinished."""
        if self.current.pending:
            self.parent.stream(f"{self.label} {self.current.pending}\n")
            self.current.pending = ""

    def step(self, number: int, total: int, text: str) -> None:
        if not self.current.name:
            self.parent.step(number, total, text)
            return
        self.flush()
        self.current.number += 1
        self.parent.stream(f"{self.label} {text}\n")

    def image(self, image_id: str) -> None:
        self.stream(f"---> {short_id(image_id)}\n")

    def aux(self, image_id: str) -> None:
        self.parent.aux(image_id)
