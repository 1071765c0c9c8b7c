"""Variable substitution in Dockerfile words (BuildKit's shell lexer rules)."""

from __future__ import annotations

import pytest

from dockyard.build.shell import expand, expand_word, expand_words
from dockyard.errors import InvalidArgument

ENV = {"NAME": "app", "EMPTY": "", "PATH_": "/usr/local/bin:/usr/bin", "FILE": "a.tar.gz"}


@pytest.mark.parametrize(
    ("word", "result"),
    [
        ("$NAME", "app"),
        ("${NAME}-1", "app-1"),
        ("pre$NAME.post", "preapp.post"),
        ("$MISSING", ""),
        ("${MISSING:-default}", "default"),
        ("${EMPTY:-default}", "default"),
        ("${EMPTY-default}", ""),
        ("${NAME:-default}", "app"),
        ("${NAME:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${MISSING+alt}", ""),
        ("${MISSING:-${NAME}}", "app"),
        ("${FILE%.gz}", "a.tar"),
        ("${FILE%%.*}", "a"),
        ("${FILE#*.}", "tar.gz"),
        ("${FILE##*.}", "gz"),
        ("${PATH_/usr/opt}", "/opt/local/bin:/usr/bin"),
        ("${PATH_//usr/opt}", "/opt/local/bin:/opt/bin"),
        ("'$NAME'", "$NAME"),
        ('"$NAME here"', "app here"),
        (r"\$NAME", "$NAME"),
        (r'"a\"b"', 'a"b'),
        ("a\\ b", "a b"),
        ("$", "$"),
        ("100%", "100%"),
    ],
)
def test_expand_word(word: str, result: str) -> None:
    assert expand_word(word, ENV) == result


def test_other_escape_token() -> None:
    assert expand_word("C:`$NAME", ENV, escape="`") == "C:$NAME"
    assert expand_word(r"C:\dir", ENV, escape="`") == r"C:\dir"


def test_words_split_after_expansion_but_not_inside_quotes() -> None:
    env = {"PORTS": "80 443"}
    assert expand_words("$PORTS", env) == ["80", "443"]
    assert expand_words('"$PORTS" 8080', env) == ["80 443", "8080"]


def test_used_and_unset_names_are_reported() -> None:
    result = expand("${NAME}-${NOPE:-x}", ENV)
    assert result.used == {"NAME"}
    assert result.unset == {"NOPE"}


def test_quotes_kept_when_asked() -> None:
    assert expand("echo '$NAME' \"x\"", ENV, quotes=False).text == "echo 'app' \"x\""


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("${NAME", "missing '}'"),
        ("${}", "bad substitution"),
        ("${NAME:?must be set}", None),
        ("${MISSING:?must be set}", "MISSING: must be set"),
        ("${MISSING?}", "MISSING: is not allowed to be unset"),
        ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
        ("'open", "matching single-quote"),
        ('"open', "matching double-quote"),
        ("${NAME:#x}", "unsupported modifier (:#)"),
    ],
)
def test_bad_substitutions(word: str, message: str | None) -> None:
    if message is None:
        assert expand_word(word, ENV) == "app"
        return
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
        expand_word(word, ENV)
