"""``dockyard build --secret/--ssh`` values, read as buildx reads them."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from dockyard.cli.buildcontext import cache_tar
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


def test_a_cache_is_uploaded_as_its_index_and_the_blobs_it_lists(tmp_path: Path) -> None:
    """What an import reads, not what older exports left in the directory."""
    blobs = tmp_path / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}"

    config, layer, stale = blob(b"records"), blob(b"layer"), blob(b"an older export's")
    manifest = blob(
        json.dumps({"config": {"digest": config}, "layers": [{"digest": layer}]}).encode()
    )
    (tmp_path / "index.json").write_text(json.dumps({"manifests": [{"digest": manifest}]}))
    (tmp_path / "oci-layout").write_text("{}")
    with cache_tar(str(tmp_path)) as tar, tarfile.open(fileobj=tar) as archive:
        names = {name.removeprefix("./") for name in archive.getnames()}
    wanted = {f"blobs/sha256/{d.removeprefix('sha256:')}" for d in (config, layer, manifest)}
    assert wanted <= names
    assert f"blobs/sha256/{stale.removeprefix('sha256:')}" not in names
    assert {"index.json", "oci-layout"} <= names
    with cache_tar(str(tmp_path / "none")) as tar, tarfile.open(fileobj=tar) as archive:
        assert archive.getnames() == []  # no cache there yet: nothing to send
