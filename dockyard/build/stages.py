"""The stage graph of a multi-stage Dockerfile: which stages the target needs.

A stage depends on an earlier stage when its FROM names it, or when one of
its ``COPY --from`` or ``RUN --mount=...,from=`` does (by name or by index).
Only the target and what it depends on are built, as with BuildKit.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.build.instructions import Arg, Copy, From, Instruction, Run, parse_instruction
from dockyard.build.parser import Dockerfile, DockerfileError
from dockyard.build.runmount import mount_from
from dockyard.build.shell import expand_word
from dockyard.errors import InvalidArgument


@dataclass(frozen=True)
class Stage:
    index: int
    start: From
    commands: tuple[Instruction, ...]

    @property
    def name(self) -> str:
        return self.start.stage_name


@dataclass(frozen=True)
class Plan:
    meta_args: tuple[Arg, ...]
    stages: tuple[Stage, ...]  # every stage of the file, in order


def plan(dockerfile: Dockerfile, filename: str = "") -> Plan:
    """Type every instruction and split them into stages."""
    meta_args: list[Arg] = []
    stages: list[tuple[From, list[Instruction]]] = []
    for node in dockerfile.nodes:
        instruction = parse_instruction(node, filename)
        if isinstance(instruction, From):
            stages.append((instruction, []))
        elif stages:
            stages[-1][1].append(instruction)
        elif isinstance(instruction, Arg):
            meta_args.append(instruction)
        else:
            raise DockerfileError("no build stage in current context", node.line, filename)
    if not stages:
        raise InvalidArgument("no build stage in Dockerfile: it needs a FROM instruction")
    names = [start.stage_name for start, _ in stages if start.stage_name]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise InvalidArgument(f"duplicate name {duplicate}")
    return Plan(
        tuple(meta_args),
        tuple(Stage(i, start, tuple(cmds)) for i, (start, cmds) in enumerate(stages)),
    )


def target_index(p: Plan, target: str) -> int:
    if not target:
        return len(p.stages) - 1
    for stage in p.stages:
        if stage.name == target.lower():
            return stage.index
    raise InvalidArgument(f'target stage "{target}" could not be found')


def stage_reference(p: Plan, name: str, before: int, by_index: bool = True) -> Stage | None:
    """The stage ``name`` refers to from stage ``before`` (a name, or for ``--from``
    an index), or None when it names an image."""
    lowered = name.lower()
    for stage in p.stages[:before]:
        if stage.name and stage.name == lowered:
            return stage
    if by_index and name.isdigit():
        index = int(name)
        if index >= before:
            raise InvalidArgument(
                f"invalid from flag value {name}: refers to current build stage or a later one"
            )
        return p.stages[index]
    return None


def needed_stages(p: Plan, target: int, meta_env: dict[str, str], escape: str) -> list[Stage]:
    """The target and every stage it depends on, in file order."""
    needed: set[int] = set()
    pending = [target]
    while pending:
        index = pending.pop()
        if index in needed:
            continue
        needed.add(index)
        pending.extend(dep.index for dep in dependencies(p, p.stages[index], meta_env, escape))
    return [s for s in p.stages if s.index in needed]


def dependencies(p: Plan, stage: Stage, meta_env: dict[str, str], escape: str) -> list[Stage]:
    """The earlier stages ``stage`` needs built first."""
    base = stage_reference(p, expand_word(stage.start.base, meta_env, escape), stage.index, False)
    found = [base] if base else []
    for name in _from_names(stage):
        # A --from naming a variable only resolves when the step runs: it may name
        # any earlier stage, so keep them all.
        if "$" in name:
            found.extend(p.stages[: stage.index])
            continue
        dep = stage_reference(p, name, stage.index)
        if dep is not None:
            found.append(dep)
    return found


def _from_names(stage: Stage) -> list[str]:
    """What the stage's ``COPY --from`` and ``RUN --mount=from=`` name."""
    names = [c.from_ for c in stage.commands if isinstance(c, Copy)]
    names += [mount_from(m) for c in stage.commands if isinstance(c, Run) for m in c.mounts]
    return [name for name in names if name]
