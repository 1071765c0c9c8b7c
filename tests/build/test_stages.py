"""The stage graph: only the stages the target needs."""

from __future__ import annotations

import pytest

from dockyard.build.parser import DockerfileError, parse
from dockyard.build.stages import needed_stages, plan, target_index
from dockyard.errors import InvalidArgument

DOCKERFILE = """\
ARG BASE=busybox
FROM $BASE AS base
RUN echo base
FROM base AS tools
RUN echo tools
FROM busybox AS unrelated
RUN echo unrelated
FROM busybox AS docs
COPY --from=1 /x /x
FROM base AS final
COPY --from=tools /t /t
"""


def names(stages) -> list[str]:  # type: ignore[no-untyped-def]
    return [s.name for s in stages]


def test_meta_args_and_stages() -> None:
    p = plan(parse(DOCKERFILE))
    assert [a.original for a in p.meta_args] == ["ARG BASE=busybox"]
    assert names(p.stages) == ["base", "tools", "unrelated", "docs", "final"]


def test_only_needed_stages_are_built() -> None:
    p = plan(parse(DOCKERFILE))
    env = {"BASE": "busybox"}
    assert names(needed_stages(p, target_index(p, ""), env, "\\")) == ["base", "tools", "final"]
    assert names(needed_stages(p, target_index(p, "docs"), env, "\\")) == [
        "base",
        "tools",
        "docs",
    ]
    assert names(needed_stages(p, target_index(p, "UNRELATED"), env, "\\")) == ["unrelated"]


def test_unknown_target() -> None:
    with pytest.raises(InvalidArgument, match='target stage "nope" could not be found'):
        target_index(plan(parse(DOCKERFILE)), "nope")


def test_instruction_before_from() -> None:
    with pytest.raises(DockerfileError, match="on line 1: no build stage in current context"):
        plan(parse("RUN echo\nFROM busybox\n"))


def test_duplicate_stage_names() -> None:
    with pytest.raises(InvalidArgument, match="duplicate name a"):
        plan(parse("FROM busybox AS a\nFROM busybox AS a\n"))


def test_copy_from_a_later_stage_index() -> None:
    p = plan(parse("FROM busybox\nCOPY --from=1 /a /a\nFROM busybox\n"))
    with pytest.raises(InvalidArgument, match="refers to current build stage or a later one"):
        needed_stages(p, 0, {}, "\\")
