"""Typed instructions from nodes, with BuildKit's argument and flag rules."""

from __future__ import annotations

import pytest

from dockyard.build.instructions import (
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    From,
    Healthcheck,
    Onbuild,
    Run,
    parse_go_duration,
    parse_instruction,
)
from dockyard.build.parser import DockerfileError, parse


def one(line: str):  # type: ignore[no-untyped-def]
    return parse_instruction(parse("FROM scratch\n" + line + "\n").nodes[-1])


def test_from_with_stage_and_platform() -> None:
    start = parse_instruction(parse("FROM --platform=linux/amd64 base:1 AS Builder\n").nodes[0])
    assert start == From(
        line=1,
        original="FROM --platform=linux/amd64 base:1 AS Builder",
        base="base:1",
        stage_name="builder",
        platform="linux/amd64",
    )


def test_bad_stage_name() -> None:
    with pytest.raises(DockerfileError, match="invalid name for build stage"):
        parse_instruction(parse("FROM a AS 1st\n").nodes[0])


def test_shell_and_exec_forms() -> None:
    run = one("RUN echo  hi")
    assert isinstance(run, Run) and run.shell_form and run.cmdline == ("echo  hi",)
    cmd = one('CMD ["a", "b"]')
    assert isinstance(cmd, Cmd) and not cmd.shell_form and cmd.cmdline == ("a", "b")
    entrypoint = one("ENTRYPOINT []")
    assert isinstance(entrypoint, Entrypoint) and entrypoint.cmdline is None


def test_copy_and_add_flags() -> None:
    copy = one("COPY --from=build --chown=1:2 --chmod=640 --link a b /dst/")
    assert isinstance(copy, Copy)
    assert (copy.from_, copy.chown, copy.chmod, copy.link) == ("build", "1:2", "640", True)
    assert copy.sources == ("a", "b") and copy.dest == "/dst/"
    add = one("ADD --checksum=sha256:00 http://x/y /y")
    assert isinstance(add, Add) and add.checksum == "sha256:00"


def test_copy_heredoc_source() -> None:
    copy = parse_instruction(parse("FROM a\nCOPY <<EOF /etc/motd\nhello\nEOF\n").nodes[1])
    assert isinstance(copy, Copy)
    assert copy.sources == ()
    assert [d.content for d in copy.inline] == ["hello\n"]


def test_arg_forms() -> None:
    arg = one('ARG A B=2 C="x y"')
    assert isinstance(arg, Arg)
    assert arg.pairs == (("A", None), ("B", "2"), ("C", '"x y"'))


def test_healthcheck() -> None:
    check = one("HEALTHCHECK --interval=1m30s --timeout=500ms --retries=2 CMD wget -q x")
    assert isinstance(check, Healthcheck)
    assert check.test == ("CMD-SHELL", "wget -q x")
    assert (check.interval, check.timeout, check.retries) == (90 * 10**9, 5 * 10**8, 2)


def test_onbuild_keeps_the_trigger_text() -> None:
    onbuild = one("ONBUILD COPY --chown=1 . /src")
    assert isinstance(onbuild, Onbuild) and onbuild.expression == "COPY --chown=1 . /src"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("FOO bar", "unknown instruction: FOO"),
        ("COPY onlyone", "COPY requires at least two arguments"),
        ("COPY --nope=1 a b", "unknown flag: --nope"),
        ("COPY --exclude a b", "missing a value on flag: --exclude"),
        ("COPY --keep-git-dir a b", "unknown flag: --keep-git-dir"),
        ("COPY --from a b", "missing a value on flag: --from"),
        ("COPY --link=maybe a b", "expecting boolean value for flag --link, not: maybe"),
        ("WORKDIR", "WORKDIR requires exactly one argument"),
        ("SHELL /bin/sh -c", "SHELL requires the arguments to be in JSON form"),
        ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
        ("HEALTHCHECK --interval=1ns CMD x", "cannot be less than 1ms"),
        ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative"),
        ("HEALTHCHECK FOO x", 'Unknown type "FOO" in HEALTHCHECK'),
        ("RUN --security=insecure make", "--security option of RUN is not supported"),
        ("RUN --mount=from=$STAGE,target=/x make", "'from' doesn't support variable expansion"),
    ],
)
def test_problems_name_the_line(line: str, problem: str) -> None:
    with pytest.raises(DockerfileError) as caught:
        one(line)
    assert caught.value.line == 2
    assert problem in caught.value.problem


def test_go_durations() -> None:
    assert parse_go_duration("1h2m3s") == 3723 * 10**9
    assert parse_go_duration("1.5s") == 1_500_000_000
    assert parse_go_duration("0") == 0
    with pytest.raises(ValueError):
        parse_go_duration("5")
