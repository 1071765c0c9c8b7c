"""The system check: each disagreement a crash (or a hand) can leave between the records
and the disk or the kernel is found, repaired where that is safe, and found no more.

Each test damages the roots of a stopped engine by hand, then opens an engine without
starting it (a start repairs) and asks its check.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
from typing import Any

from dockyard.engine import specgen
from dockyard.runtime import cgroups
from dockyard.runtime.overlay import unmount
from tests.crash.conftest import Store

FAKE_ID = "ab" * 32


def repairs(store: Store, expected: set[str]) -> list[Any]:
    """The check finds exactly ``expected``, repairs every one, then finds nothing."""
    found = store.check()
    assert {f.kind for f in found} == expected, [f.view() for f in found]
    assert all(f.repairable and not f.repaired for f in found)
    repaired = store.check(repair=True)
    assert repaired and all(f.repaired for f in repaired), [f.view() for f in repaired]
    assert {f.kind for f in repaired} <= expected
    assert store.check() == []
    return found


def reports(store: Store, expected: set[str]) -> None:
    """The check finds ``expected``, which it cannot repair, and still finds it after."""
    for repair in (False, True):
        found = store.check(repair)
        assert {f.kind for f in found} == expected, [f.view() for f in found]
        assert not any(f.repairable or f.repaired for f in found)


def mount_tmpfs(path: Any) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(path)], check=True)


def is_mounted(path: Any) -> bool:
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == str(path) for line in f)


def busybox_chain(store: Store) -> str:
    return str(store.engine.images.resolve("busybox").chain[-1])


# ---------------------------------------------------------------------- a clean store
def test_a_store_fresh_from_use_has_nothing_to_repair(store: Store) -> None:
    store.open(start=True)
    cid = store.create("sleep", "1000", HostConfig={"PortBindings": {"80/tcp": [{}]}})
    store.start(cid)
    store.engine.volumes.create("data")
    assert store.check() == []


# ---------------------------------------------------------------------- containers
def test_a_container_directory_with_no_record_and_a_mount_is_removed(store: Store) -> None:
    store.open(start=True)
    store.close()
    orphan = store.data / "containers" / FAKE_ID
    (orphan / "upper").mkdir(parents=True)
    mount_tmpfs(orphan / "rootfs")
    (store.roots.exec_root / FAKE_ID).mkdir()
    store.open()
    repairs(store, {"container-orphan", "mount-stale", "exec-dir-stale"})
    assert not orphan.exists() and not is_mounted(orphan / "rootfs")
    assert not (store.roots.exec_root / FAKE_ID).exists()


def test_a_shim_whose_container_record_is_gone_is_stopped(store: Store) -> None:
    """What a kill between `rm`'s delete and its kill leaves: a container running unknown."""
    store.open(start=True)
    cid = store.create("sleep", "1000", HostConfig={"NetworkMode": "none"})
    store.start(cid)
    shim_pid = json.loads((store.data / "containers" / cid / "shim.json").read_text())["shim_pid"]
    store.close()
    # `rm` deletes the record and gives back its layer holds in one transaction
    store.sql("DELETE FROM containers WHERE id = ?", cid)
    store.sql(
        "UPDATE layers SET refs = refs - 1 WHERE chain_id IN"
        " (SELECT chain_id FROM container_layers WHERE container_id = ?)",
        cid,
    )
    store.sql("DELETE FROM container_layers WHERE container_id = ?", cid)
    store.open()
    repairs(store, {"shim-orphan", "container-orphan", "exec-dir-stale"})
    assert not os.path.exists(f"/proc/{shim_pid}") or _zombie(shim_pid)
    assert not (store.data / "containers" / cid).exists()


def test_a_container_whose_directory_is_gone_gets_an_empty_one(store: Store) -> None:
    store.open(start=True)
    cid = store.create("true")
    store.close()
    subprocess.run(["rm", "-rf", str(store.data / "containers" / cid)], check=True)
    store.open()
    repairs(store, {"container-dir-missing"})
    store.start(cid)  # it can run again


def test_a_container_recorded_running_whose_shim_is_gone_is_settled(store: Store) -> None:
    store.open(start=True)
    cid = store.create("sleep", "1000", HostConfig={"NetworkMode": "none"})
    store.start(cid)
    store.close()
    _kill_container(store, cid)
    store.open()
    repairs(store, {"container-not-running"})
    state = store.engine.containers.get(cid).state
    assert (state["Status"], state["Running"]) == ("exited", False)


def test_a_container_recorded_stopped_that_still_runs_is_stopped(store: Store) -> None:
    """What a kill between the shim's "started" and the record's save leaves."""
    store.open(start=True)
    cid = store.create("sleep", "1000", HostConfig={"NetworkMode": "none"})
    store.start(cid)
    store.close()
    record = store.record(cid)
    record["State"].update(Status="created", Running=False, Pid=0)
    store.set_record(cid, record)
    store.open()
    repairs(store, {"container-running"})
    store.start(cid)  # one shim again, on a free root


def test_a_running_container_left_frozen_by_a_commit_is_thawed(store: Store) -> None:
    store.open(start=True)
    cid = store.create("sleep", "1000", HostConfig={"NetworkMode": "none"})
    store.start(cid)
    cgroup = cgroups.open_cgroup(specgen.container_cgroup_path(store.engine.containers.get(cid)))
    store.close()
    cgroup.freeze()
    store.open()
    repairs(store, {"container-frozen"})
    assert not cgroup.frozen()


def test_the_cgroup_of_a_stopped_container_is_removed(store: Store) -> None:
    store.open(start=True)
    cid = store.create("true")
    cgroup = cgroups.open_cgroup(specgen.container_cgroup_path(store.engine.containers.get(cid)))
    store.close()
    cgroup.create({})
    store.open()
    repairs(store, {"cgroup-stale"})
    assert not cgroup.exists()


def test_exec_directories_of_no_running_container_are_removed(store: Store) -> None:
    store.open(start=True)
    cid = store.create("true")
    store.close()
    for name in (cid, FAKE_ID):
        (store.roots.exec_root / name).mkdir()
    store.open()
    found = repairs(store, {"exec-dir-stale"})
    assert sorted(f.subject for f in found) == sorted([cid, FAKE_ID])


def test_mounts_nothing_uses_are_detached(store: Store) -> None:
    store.open(start=True)
    cid = store.create("true")
    store.close()
    for path in (store.data / "containers" / cid / "rootfs", store.data / "blobs" / "stray"):
        mount_tmpfs(path)
    store.open()
    found = repairs(store, {"mount-stale"})
    assert len(found) == 2
    assert not is_mounted(store.data / "containers" / cid / "rootfs")
    os.rmdir(store.data / "blobs" / "stray")


# ---------------------------------------------------------------------- networks
def test_an_endpoint_of_a_stopped_container_is_released(store: Store) -> None:
    store.open(start=True)
    cid = store.create("true")
    network_id = store.engine.networks.get("bridge").id
    store.close()
    endpoint = {"HostIfName": "vethdeadbee", "Ports": [["tcp", 80, "0.0.0.0", 8080]]}
    store.sql(
        "INSERT INTO endpoints (network_id, container_id, address, record) VALUES (?, ?, ?, ?)",
        network_id,
        cid,
        "10.99.0.2",
        json.dumps(endpoint),
    )
    store.open()
    repairs(store, {"endpoint-stale"})
    assert store.engine.networks.endpoint_rows() == []


def test_a_veth_of_no_endpoint_is_deleted(store: Store) -> None:
    store.open(start=True)
    cid = store.create("sleep", "1000")
    store.start(cid)  # the bridge stays while a container uses it
    owner = store.engine.networks.owner
    store.close()
    stray = f"veth{secrets.token_hex(3)}"
    subprocess.run(
        ["ip", "link", "add", stray, "type", "veth", "peer", "name", stray + "p"], check=True
    )
    subprocess.run(["ip", "link", "set", stray, "alias", owner], check=True)
    store.open()
    repairs(store, {"veth-orphan"})
    assert not os.path.exists(f"/sys/class/net/{stray}")


def test_a_dnat_rule_of_no_published_port_is_dropped(store: Store) -> None:
    store.open(start=True)
    cid = store.create("sleep", "1000", HostConfig={"PortBindings": {"80/tcp": [{}]}})
    store.start(cid)
    table = store.engine.networks.table
    store.close()
    rule = "tcp dport 9 dnat to 10.99.0.9:80"
    subprocess.run(["nft", f"add rule ip {table} publish {rule}"], check=True)
    store.open()
    repairs(store, {"nat-rules"})
    listing = subprocess.run(
        ["nft", "list", "chain", "ip", table, "publish"], capture_output=True, text=True
    ).stdout
    assert rule not in listing and "dnat to" in listing  # the container's own rule stays


# ---------------------------------------------------------------------- volumes
def test_volume_directories_with_no_record_are_removed(store: Store) -> None:
    store.open(start=True)
    store.close()
    for name in ("ghost", ".half.removing"):
        (store.data / "volumes" / name / "_data").mkdir(parents=True)
    store.open()
    repairs(store, {"volume-orphan"})
    assert os.listdir(store.data / "volumes") == []


def test_a_volume_whose_directory_is_gone_gets_an_empty_one(store: Store) -> None:
    store.open(start=True)
    store.engine.volumes.create("data")
    store.close()
    subprocess.run(["rm", "-rf", str(store.data / "volumes" / "data")], check=True)
    store.open()
    repairs(store, {"volume-dir-missing"})
    assert (store.data / "volumes" / "data" / "_data").is_dir()


# ---------------------------------------------------------------------- layers and blobs
def test_a_layer_directory_with_no_record_is_removed(store: Store) -> None:
    store.open(start=True)
    store.close()
    (store.data / "layers" / ("cd" * 32) / "diff").mkdir(parents=True)
    store.open()
    repairs(store, {"layer-orphan"})
    assert not (store.data / "layers" / ("cd" * 32)).exists()


def test_a_layer_whose_directory_is_gone_is_unpacked_again(store: Store) -> None:
    store.open(start=True)
    layer_dir = store.engine.layers.path(busybox_chain(store))
    store.close()
    subprocess.run(["rm", "-rf", str(layer_dir)], check=True)
    store.open()
    repairs(store, {"layer-dir-missing"})
    assert (layer_dir / "diff" / "bin" / "busybox").is_file()


def test_a_layer_whose_tar_is_gone_is_reported(store: Store) -> None:
    store.open(start=True)
    diff_id = store.engine.layers.get(busybox_chain(store)).diff_id
    store.close()
    os.unlink(store.data / "blobs" / "sha256" / diff_id.removeprefix("sha256:"))
    store.open()
    reports(store, {"layer-blob-missing"})
    store.close()
    asyncio.run(
        store.open().images.remove("busybox")
    )  # what cannot be repaired can still be removed


def test_a_wrong_layer_reference_count_is_set_right(store: Store) -> None:
    store.open(start=True)
    chain = busybox_chain(store)
    store.close()
    store.sql("UPDATE layers SET refs = 5 WHERE chain_id = ?", chain)
    store.open()
    repairs(store, {"layer-refs"})
    assert store.sql("SELECT refs FROM layers WHERE chain_id = ?", chain) == [(1,)]


def test_a_layer_no_image_holds_is_removed_with_its_tar(store: Store, busybox_tar: Any) -> None:
    """What a kill between a pull's or a load's layers and its image leaves."""
    engine = store.open(start=True)
    with open(busybox_tar, "rb") as tar:
        layer = engine.layers.register(tar, busybox_chain(store))  # on busybox: a new chain
    store.close()
    store.open()
    repairs(store, {"layer-unused"})
    assert not store.engine.layers.exists(layer.chain_id)
    assert not store.engine.layers.path(layer.chain_id).exists()


def test_a_blob_nothing_names_is_deleted(store: Store) -> None:
    """What a kill between an image's blobs and its row leaves."""
    store.open(start=True)
    digest = store.engine.blobs.put_bytes(b'{"config": "of no image"}').digest
    store.close()
    store.open()
    repairs(store, {"blob-orphan"})
    assert not store.engine.blobs.exists(digest)


def test_blobs_and_layers_of_an_operation_in_progress_are_left_alone(store: Store) -> None:
    engine = store.open(start=True)
    digest = engine.blobs.put_bytes(b"written before its image").digest
    with engine.images.leases.hold():
        assert store.check(repair=True) == []
    assert engine.blobs.exists(digest)
    assert [f.kind for f in store.check(repair=True)] == ["blob-orphan"]


# ---------------------------------------------------------------------- image records
def test_an_image_whose_manifest_is_gone_is_reported(store: Store) -> None:
    store.open(start=True)
    manifest = store.sql("SELECT manifest FROM images")[0][0]
    store.close()
    os.unlink(store.data / "blobs" / "sha256" / manifest.removeprefix("sha256:"))
    store.open()
    reports(store, {"image-blob-missing"})


def test_an_image_whose_layer_record_is_gone_is_reported(store: Store) -> None:
    store.open(start=True)
    chain = busybox_chain(store)
    store.close()
    store.sql("DELETE FROM layers WHERE chain_id = ?", chain)
    store.open()
    found = {f.kind for f in store.check()}
    # The layer's directory and tar are now nobody's: those go, the image stays broken.
    assert found == {"image-layer-missing", "layer-orphan", "blob-orphan"}
    store.check(repair=True)
    reports(store, {"image-layer-missing"})


def test_records_of_images_that_are_gone_are_dropped(store: Store) -> None:
    store.open(start=True)
    image_id = store.engine.images.resolve("busybox").id
    store.close()
    gone = "sha256:" + "ef" * 32
    store.sql("INSERT INTO refs (name, image_id) VALUES ('docker.io/library/ghost:1', ?)", gone)
    store.sql(
        "INSERT INTO build_cache (key, image_id, inputs, created, last_used) VALUES (?, ?, '{}', 0, 0)",
        "01" * 32,
        gone,
    )
    store.sql("UPDATE images SET parent = ? WHERE id = ?", gone, image_id)
    store.open()
    repairs(store, {"tag-dangling", "cache-dangling", "image-parent-missing"})
    assert store.engine.images.resolve("busybox").parent == ""


def test_a_container_whose_image_is_gone_is_reported(store: Store) -> None:
    store.open(start=True)
    cid = store.create("true")
    store.close()
    store.sql("UPDATE containers SET image_id = ? WHERE id = ?", "sha256:" + "ef" * 32, cid)
    store.open()
    reports(store, {"container-image-missing"})


# ---------------------------------------------------------------------- at start
def test_a_start_clears_a_build_step_a_killed_daemon_left(store: Store) -> None:
    """Its process runs on in its cgroup, its root mounted under tmp/: all go at start."""
    store.open(start=True)
    store.close()
    bundle = store.data / "tmp" / "build-0123456789abcdef" / "bundle-01234567"
    root = bundle.parent / "0-run-root"
    mount_tmpfs(root)
    cgroup_path = specgen.cgroup_path(secrets.token_hex(32))
    (bundle / "config.json").parent.mkdir(parents=True)
    (bundle / "config.json").write_text(json.dumps({"linux": {"cgroupsPath": cgroup_path}}))
    cgroup = cgroups.open_cgroup(cgroup_path)
    cgroup.create({})
    step = subprocess.Popen(["sleep", "1000"])
    cgroup.add_process(step.pid)
    store.open(start=True)
    assert step.wait(timeout=10) == -signal.SIGKILL
    assert not cgroup.exists()
    assert not is_mounted(root)
    assert os.listdir(store.data / "tmp") == []


def test_a_start_repairs_what_a_crash_left(store: Store) -> None:
    store.open(start=True)
    store.close()
    (store.data / "containers" / FAKE_ID / "upper").mkdir(parents=True)
    (store.data / "volumes" / "ghost").mkdir()
    store.open(start=True)
    assert store.check() == []
    assert not (store.data / "containers" / FAKE_ID).exists()


# ---------------------------------------------------------------------- helpers
def _kill_container(store: Store, cid: str) -> None:
    """The container and its shim killed, as if the machine had taken them (no exit.json)."""
    info = json.loads((store.data / "containers" / cid / "shim.json").read_text())
    os.kill(info["shim_pid"], signal.SIGKILL)
    os.kill(info["pid"], signal.SIGKILL)
    deadline_ok = _wait_gone(info["shim_pid"]) and _wait_gone(info["pid"])
    assert deadline_ok
    # The shim could not clean up: what it left goes as a stopped container's leftovers.
    unmount(store.data / "containers" / cid / "rootfs")
    spec = json.loads((store.data / "containers" / cid / "config.json").read_text())
    cgroup = cgroups.open_cgroup(spec["linux"]["cgroupsPath"])
    if cgroup.exists():
        cgroup.destroy()
    subprocess.run(["rm", "-rf", str(store.roots.exec_root / cid)], check=True)


def _wait_gone(pid: int) -> bool:
    from tests.e2e.helpers import wait_until

    wait_until(lambda: not os.path.exists(f"/proc/{pid}") or _zombie(pid), what=f"{pid} to end")
    return True


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


# ---------------------------------------------------------------------- the command
def test_system_check_reports_then_repairs(daemon: Any) -> None:
    """`dockyard system check` on a running daemon: exit 1 while anything is left."""
    clean = daemon.cli("system", "check")
    assert (clean.returncode, clean.stdout) == (0, "no problems found\n")
    (daemon.roots.data_root / "volumes" / "ghost" / "_data").mkdir(parents=True)
    found = daemon.cli("system", "check")
    assert found.returncode == 1
    assert found.stdout == (
        "volume-orphan\tghost\ta volume directory with no record (repairable with --repair)\n"
    )
    assert found.stderr == "1 problem found, 1 left\n"
    repaired = daemon.cli("system", "check", "--repair")
    assert repaired.returncode == 0
    assert repaired.stdout == (
        "volume-orphan\tghost\ta volume directory with no record (repaired)\n"
        "1 problem found, all repaired\n"
    )
    assert not (daemon.roots.data_root / "volumes" / "ghost").exists()
    assert daemon.cli("system", "check").stdout == "no problems found\n"
