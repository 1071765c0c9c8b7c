"""Answers in Docker's exact shape: keys, null versus empty, per API version."""

from __future__ import annotations

import re

from dockyard.engine import processes
from dockyard.runtime import cgroups
from dockyard.runtime.cgroups import BLKIO_KEYS
from tests.api.conftest import Api
from tests.e2e.helpers import wait_until

RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


def test_version_names_the_build(api: Api) -> None:
    version = api.call("GET", "/v1.44/version").json()
    assert re.fullmatch(r"[0-9a-f]{7,}", version["GitCommit"])
    assert RFC3339_NANO.match(version["BuildTime"])
    details = version["Components"][0]["Details"]
    assert details["GitCommit"] == version["GitCommit"]
    assert details["Experimental"] == "false"
    assert "Experimental" not in version  # Go's omitempty drops a false Experimental


def test_info_has_docker_keys_and_counts_what_images_lists(api: Api) -> None:
    info = api.call("GET", "/v1.44/info").json()
    assert RFC3339_NANO.match(info["SystemTime"])
    for key in ("CPUShares", "CPUSet", "OomKillDisable", "GenericResources", "CDISpecDirs"):
        assert key in info
    assert info["ContainerdCommit"] == {"ID": ""} and info["RuncCommit"] == {"ID": ""}
    assert info["Images"] == len(api.call("GET", "/v1.44/images/json").json())


def test_image_shapes_follow_the_api_version(api: Api) -> None:
    api.call("POST", "/v1.44/images/busybox/tag?repo=second")
    assert api.call("DELETE", "/v1.44/images/second").status == 200
    new = api.call("GET", "/v1.44/images/json").json()
    assert new[0]["Labels"] is None
    assert "VirtualSize" not in new[0]
    old = api.call("GET", "/v1.41/images/json").json()
    assert old[0]["VirtualSize"] == old[0]["Size"]
    inspect_old = api.call("GET", "/v1.43/images/busybox/json").json()
    assert inspect_old["VirtualSize"] == inspect_old["Size"]
    assert "VirtualSize" not in api.call("GET", "/v1.44/images/busybox/json").json()


def test_untagged_images_show_none_before_api_1_43(api: Api) -> None:
    cid = api.create("true")
    committed = api.call("POST", f"/v1.44/commit?container={cid}").json()["Id"]
    old = {i["Id"]: i for i in api.call("GET", "/v1.42/images/json").json()}
    assert old[committed]["RepoTags"] == ["<none>:<none>"]
    assert old[committed]["RepoDigests"] == ["<none>@<none>"]
    new = {i["Id"]: i for i in api.call("GET", "/v1.44/images/json").json()}
    assert new[committed]["RepoTags"] == [] and new[committed]["RepoDigests"] == []


def test_container_env_is_null_when_empty_and_mtab_is_there(api: Api) -> None:
    cid = api.create("readlink", "/etc/mtab", Env=[])
    config = api.call("GET", f"/v1.44/containers/{cid}/json").json()["Config"]
    assert config["Env"] is None  # busybox's image has no Env either
    api.start(cid)
    api.call("POST", f"/v1.44/containers/{cid}/wait")
    logs = api.call("GET", f"/v1.44/containers/{cid}/logs?stdout=1").body
    assert logs.endswith(b"/proc/mounts\n")
    changes = api.call("GET", f"/v1.44/containers/{cid}/changes").json()
    assert changes is None or all(c["Path"] != "/etc/mtab" for c in changes)


def test_stats_of_a_running_then_a_stopped_container(api: Api) -> None:
    cid = api.create("sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; sleep 300")
    api.start(cid)

    def sample() -> dict:
        url = f"/v1.44/containers/{cid}/stats?stream=false&one-shot=true"
        return api.call("GET", url).json()  # type: ignore[no-any-return]

    wait_until(lambda: sample()["cpu_stats"]["cpu_usage"]["usage_in_usermode"] > 0, 20, "CPU use")
    running = sample()
    assert set(running["networks"]) == {"eth0"}  # the container's own interfaces, not lo
    assert running["networks"]["eth0"]["tx_bytes"] >= 0
    assert set(running["blkio_stats"]) == set(BLKIO_KEYS)
    memory = running["memory_stats"]
    assert memory["usage"] > 0 and memory["limit"] > 0
    version = 2 if cgroups.unified() else 1
    assert list(memory["stats"]) == processes.MEMORY_STAT_KEYS[version]
    assert ("max_usage" in memory, "percpu_usage" in running["cpu_stats"]["cpu_usage"]) == (
        version == 1,
        version == 1,
    )
    api.call("POST", f"/v1.44/containers/{cid}/kill")
    stopped = api.call("GET", f"/v1.44/containers/{cid}/stats?stream=false").json()
    assert (stopped["read"], stopped["memory_stats"], stopped["pids_stats"]) == (
        "0001-01-01T00:00:00Z",
        {},
        {},
    )
    assert stopped["blkio_stats"] == dict.fromkeys(BLKIO_KEYS) and "networks" not in stopped
