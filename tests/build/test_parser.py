"""Dockerfile text to nodes: BuildKit's parser plus directives, heredoc markers, error lines."""

from __future__ import annotations

import pytest

from dockyard.build.parser import DockerfileError, heredoc_marker, parse
from dockyard.errors import InvalidArgument


def test_instructions_continuations_and_comments() -> None:
    df = parse("FROM busybox\n# a comment\nRUN echo a \\\n    && echo b\nrun lower\n")
    assert [n.instruction for n in df.nodes] == ["FROM", "RUN", "RUN"]
    assert df.nodes[1].args == ("echo a     && echo b",)
    assert (df.nodes[1].line, df.nodes[1].end_line) == (3, 4)
    assert df.nodes[2].line == 5


def test_exec_form_and_flags() -> None:
    node = parse('FROM a\nCOPY --from=b --chmod=755 ["x y", "/dst/"]\n').nodes[1]
    assert node.json
    assert node.flags == ("--from=b", "--chmod=755")
    assert node.args == ("x y", "/dst/")


def test_directives() -> None:
    df = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\nRUN echo `\n  hi\n")
    assert df.syntax == "docker/dockerfile:1"
    assert df.escape == "`"
    assert df.nodes[1].args == ("echo   hi",)


def test_directive_only_at_the_top() -> None:
    df = parse("FROM a\n# escape=`\n")
    assert df.escape == "\\"


def test_heredocs_with_markers() -> None:
    text = "FROM a\nRUN <<-EOF cat > /x && cat <<'EOT'\n\tindented $X\nEOF\nraw $X\nEOT\n"
    node = parse(text).nodes[1]
    first, second = node.heredocs
    assert (first.name, first.content, first.expand) == ("EOF", "indented $X\n", True)
    assert (second.name, second.content, second.expand) == ("EOT", "raw $X\n", False)


def test_heredoc_marker() -> None:
    assert heredoc_marker("<<EOF") == "EOF"
    assert heredoc_marker('<<"EOF"') == "EOF"
    assert heredoc_marker("<<-EOT") == "EOT"
    assert heredoc_marker("file.txt") is None
    assert heredoc_marker("3<<EOF") is None


def test_error_names_file_line_and_problem() -> None:
    with pytest.raises(DockerfileError) as caught:
        parse("FROM a\nRUN x\nENV ONLYKEY\n", "build/Dockerfile")
    assert caught.value.line == 3
    assert str(caught.value) == (
        "dockerfile parse error in build/Dockerfile on line 3: ENV must have two arguments"
    )


def test_unterminated_heredoc() -> None:
    with pytest.raises(DockerfileError, match="on line 2: unterminated heredoc"):
        parse("FROM a\nRUN <<EOF\necho\n")


def test_bad_escape_directive() -> None:
    with pytest.raises(DockerfileError, match="invalid escape token"):
        parse("# escape=x\nFROM a\n")


def test_empty_dockerfile() -> None:
    with pytest.raises(InvalidArgument, match="cannot be empty"):
        parse("# only a comment\n\n")
