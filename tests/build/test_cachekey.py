"""Cache keys are pure functions of a step's inputs; misses are explained."""

from __future__ import annotations

from dockyard.build.cachekey import StepInputs, explain_miss

BASE = StepInputs(
    parent="sha256:aaa",
    instruction="COPY . /app",
    build_args={"V": "1"},
    files={"a.txt": "d1", "b.txt": "d2"},
    sources={},
)


def changed(**fields: object) -> StepInputs:
    values = {**BASE.__dict__, **fields}
    return StepInputs(**values)  # type: ignore[arg-type]


def test_equal_inputs_equal_keys() -> None:
    same = changed(files={"b.txt": "d2", "a.txt": "d1"}, build_args={"V": "1"})
    assert same.key() == BASE.key()


def test_each_input_changes_the_key() -> None:
    for variant in (
        changed(parent="sha256:bbb"),
        changed(instruction="COPY . /srv"),
        changed(build_args={"V": "2"}),
        changed(files={"a.txt": "d1", "b.txt": "d3"}),
        changed(files={"a.txt": "d1"}),
        changed(sources={"--from=build": "sha256:ccc"}),
    ):
        assert variant.key() != BASE.key()


def test_explain_a_changed_file() -> None:
    now = changed(files={"a.txt": "d1", "b.txt": "d9", "c.txt": "d4"})
    assert explain_miss(now, [BASE.record()]) == "file b.txt changed; file c.txt added"


def test_explain_a_removed_file_and_an_arg() -> None:
    now = changed(files={"a.txt": "d1"}, build_args={"V": "2"})
    assert explain_miss(now, [BASE.record()]) == (
        "build arg V changed: '1' -> '2'; file b.txt removed"
    )


def test_explain_a_changed_instruction() -> None:
    now = changed(instruction="COPY . /srv")
    assert explain_miss(now, [BASE.record()]) == (
        "instruction changed: was 'COPY . /app', now 'COPY . /srv'"
    )


def test_explain_prefers_the_record_with_the_same_instruction() -> None:
    other = changed(instruction="RUN make").record()
    now = changed(files={"a.txt": "d5", "b.txt": "d2"})
    assert explain_miss(now, [other, BASE.record()]) == "file a.txt changed"


def test_explain_with_nothing_built_on_the_parent() -> None:
    assert explain_miss(BASE, []) == "nothing was built on its parent image before"
