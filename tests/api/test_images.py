"""Image routes: import from the body, tag, history, delete, prune."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

from tests.api.conftest import Api


def _import(api: Api, body: bytes, **params: str) -> tuple[int, bytes]:
    url = "/v1.44/images/create?fromSrc=-&" + urllib.parse.urlencode(params, doseq=True)
    reply = api.call("POST", url, body, {"Content-Type": "application/x-tar"})
    return reply.status, reply.body


def test_import_from_the_body_with_changes_and_message(api: Api, busybox_tar: Path) -> None:
    status, body = _import(
        api,
        busybox_tar.read_bytes(),
        repo="imported",
        tag="v1",
        changes=['CMD ["echo", "hi"]', "ENV A=b"],
        message="from a test",
    )
    assert status == 200
    image_id = json.loads(body)["status"]
    assert body == json.dumps({"status": image_id}).encode() + b"\r\n"
    inspect = api.call("GET", "/v1.44/images/imported:v1/json").json()
    assert inspect["Id"] == image_id
    assert inspect["Config"]["Cmd"] == ["echo", "hi"]
    assert "A=b" in inspect["Config"]["Env"]
    history = api.call("GET", "/v1.44/images/imported:v1/history").json()
    assert history[0]["Comment"] == "from a test"


def test_a_corrupt_import_is_400_and_changes_nothing(api: Api, busybox_tar: Path) -> None:
    before = api.call("GET", "/v1.44/images/json").json()
    truncated = busybox_tar.read_bytes()[:100_000]
    for body in (b"not a tar at all", truncated):
        status, reply = _import(api, body, repo="broken")
        assert status == 400
        assert json.loads(reply)["message"].startswith("invalid tar archive")
    assert api.call("GET", "/v1.44/images/json").json() == before


def test_tag_delete_and_prune(api: Api) -> None:
    assert (
        api.call("POST", "/v1.44/images/busybox/tag?repo=localhost:5000/team/app&tag=2").status
        == 201
    )
    inspect = api.call("GET", "/v1.44/images/localhost:5000/team/app:2/json")
    assert inspect.status == 200
    assert sorted(inspect.json()["RepoTags"]) == ["busybox:latest", "localhost:5000/team/app:2"]
    deleted = api.call("DELETE", "/v1.44/images/localhost:5000/team/app:2")
    assert deleted.json() == [{"Untagged": "localhost:5000/team/app:2"}]
    assert api.call("POST", "/v1.44/images/prune").json()["SpaceReclaimed"] == 0
    missing = api.call("GET", "/v1.44/images/nosuch/json")
    assert (missing.status, missing.json()["message"]) == (404, "No such image: nosuch:latest")
