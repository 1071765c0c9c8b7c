"""The build's progress as Docker classic-builder JSON messages.

``{"stream": "Step 1/9 : FROM busybox\\n"}``, ``{"stream": " ---> Using cache\\n"}``,
``{"aux": {"ID": "sha256:..."}}``. With ``quiet`` the stream lines are held back
(and given out only if the build fails), as the daemon does for ``build -q``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Message = dict[str, Any]


def short_id(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


class BuildOutput:
    def __init__(self, emit: Callable[[Message], None], quiet: bool = False) -> None:
        self._emit = emit
        self.quiet = quiet
        self.held: list[Message] = []

    def stream(self, text: str) -> None:
        message = {"stream": text}
        if self.quiet:
            self.held.append(message)
        else:
            self._emit(message)

    def progress(self, message: Message) -> None:
        """A pull's progress message (a base image pulled), held back as stream lines are."""
        if self.quiet:
            self.held.append(message)
        else:
            self._emit(message)

    def step(self, number: int, total: int, text: str) -> None:
        self.stream(f"Step {number}/{total} : {text}\n")

    def image(self, image_id: str) -> None:
        self.stream(f" ---> {short_id(image_id)}\n")

    def aux(self, image_id: str) -> None:
        self._emit({"aux": {"ID": image_id}})

    def release_held(self) -> None:
        """On failure, a quiet build shows what it held back."""
        for message in self.held:
            self._emit(message)
        self.held = []

    def result(self, image_id: str, tags: list[str]) -> None:
        if self.quiet:
            self._emit({"stream": image_id + "\n"})
            return
        self.stream(f"Successfully built {short_id(image_id)}\n")
        for tag in tags:
            self.stream(f"Successfully tagged {familiar(tag)}\n")


def familiar(reference: str) -> str:
    """Docker's FamiliarString: "docker.io/library/x:latest" → "x:latest"."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if reference.startswith(prefix):
            return reference[len(prefix) :]
    return reference
