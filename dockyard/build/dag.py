"""Stages that do not depend on each other, built at the same time (BuildKit's DAG).

A stage depends on its FROM stage and on the stages its ``COPY --from`` name
(``stages.dependencies``). Each stage starts once all it depends on are built,
in a thread of its own; the first failure stops new stages from starting, the
running ones finish their step, and that failure is the build's.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable

from dockyard.build.stages import Plan, Stage, dependencies


def stage_graph(
    p: Plan, stages: list[Stage], meta_env: dict[str, str], escape: str
) -> dict[int, set[int]]:
    """For each stage of ``stages``, by index, the indexes of the stages it needs."""
    needed = {s.index for s in stages}
    return {
        s.index: {d.index for d in dependencies(p, s, meta_env, escape)} & needed for s in stages
    }


def has_parallel_stages(graph: dict[int, set[int]]) -> bool:
    """Whether two stages could be built at once: neither needs the other, at any depth."""
    reach = {index: _ancestors(graph, index) for index in graph}
    indexes = sorted(graph)
    return any(
        a not in reach[b] and b not in reach[a]
        for i, a in enumerate(indexes)
        for b in indexes[i + 1 :]
    )


def _ancestors(graph: dict[int, set[int]], index: int) -> set[int]:
    found: set[int] = set()
    pending = list(graph[index])
    while pending:
        current = pending.pop()
        if current not in found:
            found.add(current)
            pending.extend(graph[current])
    return found


def run_graph(graph: dict[int, set[int]], run_stage: Callable[[int], None]) -> None:
    """Run ``run_stage(index)`` for every stage, each once all it needs are done."""
    done: set[int] = set()
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(graph)) as pool:
        running: dict[concurrent.futures.Future[None], int] = {}
        failure: BaseException | None = None
        while len(done) < len(graph):
            if failure is None:
                started = set(running.values())
                for index in sorted(graph):
                    if index not in done and index not in started and graph[index] <= done:
                        running[pool.submit(run_stage, index)] = index
            if not running:
                break
            finished, _ = concurrent.futures.wait(
                running, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in finished:
                index = running.pop(future)
                error = future.exception()
                if error is not None:
                    failure = failure or error
                else:
                    done.add(index)
        if failure is not None:
            raise failure
