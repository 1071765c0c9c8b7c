"""``dockyard build --secret/--ssh`` values, read as buildx reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.cli.buildsession import _agent, _secret
from dockyard.errors import InvalidArgument


def test_secret_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tok").write_text("from-file")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VAR", "from-env")
    assert _secret("id=a,src=tok") == ("a", b"from-file")
    assert _secret("id=a,env=VAR") == ("a", b"from-env")
    assert _secret("type=env,id=a,src=VAR") == ("a", b"from-env")
    assert _secret("id=tok") == ("tok", b"from-file")  # no source: the file named by the id
    monkeypatch.setenv("tok", "env-wins")
    assert _secret("id=tok") == ("tok", b"env-wins")  # ... unless a variable has that name


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("src=x", "an id is required"),
        ("id=a,type=ftp", 'unsupported secret type "ftp"'),
        ("id=a,color=red", "unexpected key 'color' in 'color=red'"),
        ("id=a,env=NOT_SET_ANYWHERE", "environment variable NOT_SET_ANYWHERE is not set"),
        ("id=a,src=/nonexistent", "failed to read secret a from /nonexistent"),
    ],
)
def test_secret_errors(spec: str, error: str) -> None:
    with pytest.raises(InvalidArgument, match=error):
        _secret(spec)


def test_ssh_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", "/run/agent.sock")
    assert _agent("default") == ("default", "/run/agent.sock")
    assert _agent("work=/tmp/w.sock") == ("work", "/tmp/w.sock")
    monkeypatch.delenv("SSH_AUTH_SOCK")
    with pytest.raises(InvalidArgument, match="make sure SSH_AUTH_SOCK is set"):
        _agent("default")
