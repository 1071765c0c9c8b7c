"""--change on import and commit: Dockerfile instructions applied to an image config."""

from __future__ import annotations

import pytest

from dockyard.build.changes import apply_changes
from dockyard.errors import InvalidArgument

BASE = {"Env": ["PATH=/usr/bin:/bin", "A=1"], "Cmd": ["sh"]}


def test_no_changes_returns_an_equal_copy() -> None:
    result = apply_changes(BASE, [])
    assert result == BASE
    result["Env"].append("X=1")
    assert BASE["Env"] == ["PATH=/usr/bin:/bin", "A=1"]


def test_env_expands_against_the_config_and_replaces_keys() -> None:
    result = apply_changes(BASE, ['ENV A=2 B=$A C="two words"'])
    # Every pair of one ENV sees the environment from before the line.
    assert result["Env"] == ["PATH=/usr/bin:/bin", "A=2", "B=1", "C=two words"]


def test_cmd_shell_and_exec_forms() -> None:
    assert apply_changes(BASE, ["CMD echo hi"])["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert apply_changes(BASE, ['CMD ["echo", "hi"]'])["Cmd"] == ["echo", "hi"]


def test_shell_form_uses_the_config_shell() -> None:
    result = apply_changes(BASE, ['SHELL ["/bin/bash", "-xc"]', "CMD echo hi"])
    assert result["Shell"] == ["/bin/bash", "-xc"]
    assert result["Cmd"] == ["/bin/bash", "-xc", "echo hi"]


def test_entrypoint_resets_an_inherited_cmd_but_keeps_one_set_with_it() -> None:
    assert apply_changes(BASE, ['ENTRYPOINT ["/e"]'])["Cmd"] is None
    result = apply_changes(BASE, ['CMD ["x"]', 'ENTRYPOINT ["/e"]'])
    assert result["Entrypoint"] == ["/e"] and result["Cmd"] == ["x"]


def test_expose_label_user_volume_workdir_stopsignal() -> None:
    result = apply_changes(
        BASE,
        [
            "EXPOSE 80 53/udp 1000-1001",
            'LABEL "a b"=c d=e',
            "USER ${U:-nobody}",
            "VOLUME /data /logs",
            "WORKDIR /srv",
            "WORKDIR app",
            "STOPSIGNAL SIGQUIT",
        ],
    )
    assert set(result["ExposedPorts"]) == {"80/tcp", "53/udp", "1000/tcp", "1001/tcp"}
    assert result["Labels"] == {"a b": "c", "d": "e"}
    assert result["User"] == "nobody"
    assert set(result["Volumes"]) == {"/data", "/logs"}
    assert result["WorkingDir"] == "/srv/app"
    assert result["StopSignal"] == "SIGQUIT"


def test_healthcheck_and_onbuild() -> None:
    result = apply_changes(
        BASE, ["HEALTHCHECK --interval=5s --retries=3 CMD wget -q localhost", "ONBUILD RUN make"]
    )
    assert result["Healthcheck"] == {
        "Test": ["CMD-SHELL", "wget -q localhost"],
        "Interval": 5_000_000_000,
        "Retries": 3,
    }
    assert result["OnBuild"] == ["RUN make"]
    assert apply_changes(BASE, ["HEALTHCHECK NONE"])["Healthcheck"] == {"Test": ["NONE"]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("FOO bar", "dockerfile parse error on line 1: unknown instruction: FOO"),
        ("RUN make", "RUN is not a valid change command"),
        ("FROM busybox", "FROM is not a valid change command"),
        ("COPY a b", "COPY is not a valid change command"),
        ("STOPSIGNAL NOPE", "Invalid signal: NOPE"),
        ("EXPOSE 80/xyz", "invalid proto: xyz"),
        ("ENV A", "dockerfile parse error on line 1: ENV must have two arguments"),
        ("SHELL /bin/sh", "SHELL requires the arguments to be in JSON form"),
        ("USER ${A", "syntax error: missing '}'"),
    ],
)
def test_bad_changes_are_invalid_arguments(change: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        apply_changes(BASE, [change])
    assert message in str(caught.value)


def test_error_names_the_line_of_the_bad_change() -> None:
    with pytest.raises(InvalidArgument, match="on line 2: unknown instruction: NOPE"):
        apply_changes(BASE, ["ENV A=1", "NOPE x"])
