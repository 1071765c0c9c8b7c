"""``--change`` on import and commit: Dockerfile instructions applied to an image config.

Like moby's ``BuildFromConfig``: the changes are parsed as the lines of a
Dockerfile, only instructions that change the config are allowed, and each is
applied in order with the same rules as in a build (``imageconfig``).
"""

from __future__ import annotations

import copy
from typing import Any

from dockyard.build.imageconfig import ConfigState, apply_metadata
from dockyard.build.instructions import INSTRUCTION_NAMES, Instruction, parse_instruction
from dockyard.build.parser import DockerfileError, Node, parse
from dockyard.errors import InvalidArgument

# moby's validCommitCommands, plus SHELL (a metadata instruction like the others).
CHANGE_INSTRUCTIONS = frozenset(
    {
        "CMD",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "HEALTHCHECK",
        "LABEL",
        "ONBUILD",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """A copy of ``config`` (an image config's "config" section) with ``changes`` applied.

    Raises InvalidArgument for an unknown instruction ("dockerfile parse error
    on line 1: unknown instruction: FOO"), one that cannot be a change ("RUN is
    not a valid change command") or a malformed one.
    """
    lines = [c for c in changes if c.strip()]
    if not lines:
        return copy.deepcopy(config)
    dockerfile = parse("\n".join(lines))
    instructions = [_change_instruction(node) for node in dockerfile.nodes]
    state = ConfigState(copy.deepcopy(config), escape=dockerfile.escape)
    for instruction in instructions:
        apply_metadata(state, instruction)
    return state.config


def _change_instruction(node: Node) -> Instruction:
    written = node.original.split(None, 1)[0]
    if node.instruction not in INSTRUCTION_NAMES:
        raise DockerfileError(f"unknown instruction: {written}", node.line)
    if node.instruction not in CHANGE_INSTRUCTIONS:
        raise InvalidArgument(f"{written} is not a valid change command")
    return parse_instruction(node)
