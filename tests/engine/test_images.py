"""The image service: import, list, inspect, tag, rmi, history and prune, as Docker shows them."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dockyard.engine.images import ImageService
from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.store.layers import Layer
from tests.store.helpers import Store, entry, make_tar, open_store, state


@dataclass
class Events:
    """Records what the service announces (the EventBus's publish)."""

    seen: list[tuple[str, str, str, dict[str, str]]] = field(default_factory=list)

    def publish(self, type: str, action: str, actor_id: str, attributes: dict[str, str]) -> None:
        self.seen.append((type, action, actor_id, dict(attributes)))

    def actions(self) -> list[str]:
        return [action for _, action, _, _ in self.seen]


@dataclass
class Env:
    store: Store
    images: ImageService
    events: Events
    users: dict[str, list[tuple[str, bool]]]  # image id → containers using it, running or not

    def import_busybox(
        self, tar: Path, ref: str | None = "busybox:latest", changes: list[str] | None = None
    ) -> str:
        with tar.open("rb") as f:
            return self.images.import_tar(
                f, ref, changes if changes is not None else ['CMD ["sh"]']
            )

    def layer(self, name: str, parent: str = "") -> Layer:
        return self.store.layers.register(io.BytesIO(make_tar(entry(name, name.encode()))), parent)

    def image(
        self,
        layers: list[Layer],
        parent: str = "",
        reference: str | None = None,
        created: str = "2024-01-01T00:00:01Z",
        **config: Any,
    ) -> str:
        """An image like a build makes: one history entry per layer, plus an empty one."""
        history = [
            {"created": "2024-01-01T00:00:00Z", "created_by": f"RUN {layer.chain_id[7:15]}"}
            for layer in layers
        ]
        history.append({"created": created, "created_by": "CMD", "empty_layer": True})
        body = {
            "architecture": "amd64",
            "os": "linux",
            "created": created,
            "config": config,
            "history": history,
        }
        return self.images.create_image(body, layers, parent=parent, reference=reference)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    store = open_store(tmp_path / "root")
    users: dict[str, list[tuple[str, bool]]] = {}
    events = Events()
    images = ImageService(
        store.metadata, store.blobs, store.layers, events, lambda i: users.get(i, [])
    )
    yield Env(store, images, events, users)
    store.metadata.close()


# ---------------------------------------------------------------------- import and inspect


def test_import_makes_an_oci_image_with_one_layer(env: Env, busybox_tar: Path) -> None:
    image_id = env.import_busybox(busybox_tar)
    config_bytes = env.store.blobs.path(image_id).read_bytes()
    assert image_id == "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    config = json.loads(config_bytes)
    diff_id = "sha256:" + hashlib.sha256(busybox_tar.read_bytes()).hexdigest()
    assert config["rootfs"] == {"type": "layers", "diff_ids": [diff_id]}
    assert config["history"][0]["comment"] == "Imported from -"
    assert (config["architecture"], config["os"]) == ("amd64", "linux")

    [row] = env.store.metadata.query("SELECT manifest FROM images")
    manifest = json.loads(env.store.blobs.path(row["manifest"]).read_bytes())
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"] == {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": image_id,
        "size": len(config_bytes),
    }
    assert manifest["layers"] == [
        {
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": diff_id,
            "size": busybox_tar.stat().st_size,
        }
    ]
    assert env.events.seen == [
        ("image", "tag", image_id, {"name": "busybox:latest"}),
        ("image", "import", image_id, {"name": "busybox:latest"}),
    ]


def test_inspect_shows_docker_image_inspect(env: Env, busybox_tar: Path) -> None:
    image_id = env.import_busybox(
        busybox_tar, changes=['CMD ["sh"]', "ENV A=b", "WORKDIR /w", "EXPOSE 80", "LABEL k=v"]
    )
    info = env.images.inspect("busybox")
    assert info["Id"] == image_id
    assert info["RepoTags"] == ["busybox:latest"] and info["RepoDigests"] == []
    assert info["Parent"] == "" and info["Comment"] == "Imported from -"
    assert info["Config"]["Cmd"] == ["sh"] and info["Config"]["Env"] == ["A=b"]
    assert info["Config"]["WorkingDir"] == "/w" and info["Config"]["ExposedPorts"] == {"80/tcp": {}}
    assert info["Config"]["Labels"] == {"k": "v"} and info["Config"]["Entrypoint"] is None
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"
    assert info["Size"] == env.images.resolve(image_id).size > 1_000_000
    assert info["RootFS"]["Type"] == "layers" and len(info["RootFS"]["Layers"]) == 1
    assert info["GraphDriver"]["Data"]["UpperDir"] == str(
        env.images.resolve("busybox").lowerdirs[0]
    )
    assert info["Metadata"]["LastTagTime"] != "0001-01-01T00:00:00Z"
    assert info["Created"].endswith("Z")


def test_import_message_and_no_reference(env: Env, busybox_tar: Path) -> None:
    with busybox_tar.open("rb") as f:
        image_id = env.images.import_tar(f, None, [], "from a test")
    info = env.images.inspect(image_id)
    assert info["RepoTags"] == [] and info["Comment"] == "from a test"
    assert info["Config"]["Cmd"] is None
    assert info["Metadata"]["LastTagTime"] == "0001-01-01T00:00:00Z"
    assert env.events.seen == [("image", "import", image_id, {"name": image_id})]


def test_images_with_the_same_rootfs_share_one_layer(env: Env, busybox_tar: Path) -> None:
    first = env.import_busybox(busybox_tar, "a:1", ['CMD ["sh"]'])
    second = env.import_busybox(busybox_tar, "b:1", ['CMD ["ls"]'])
    assert first != second
    assert env.images.resolve(first).lowerdirs == env.images.resolve(second).lowerdirs
    assert [tuple(r) for r in env.store.metadata.query("SELECT refs FROM layers")] == [(2,)]
    assert len(os.listdir(env.store.root / "layers")) == 1


@pytest.mark.parametrize(
    "name",
    ["busybox", "busybox:latest", "docker.io/library/busybox", "library/busybox:latest"],
)
def test_names_resolve_to_the_tagged_image(env: Env, busybox_tar: Path, name: str) -> None:
    image_id = env.import_busybox(busybox_tar)
    assert env.images.resolve(name).id == image_id


def test_ids_and_id_prefixes_resolve(env: Env, busybox_tar: Path) -> None:
    image_id = env.import_busybox(busybox_tar)
    hex_id = image_id.removeprefix("sha256:")
    for name in (image_id, hex_id, hex_id[:12], hex_id[:1], "sha256:" + hex_id[:5]):
        assert env.images.inspect(name)["Id"] == image_id


def test_unknown_and_malformed_names(env: Env, busybox_tar: Path) -> None:
    env.import_busybox(busybox_tar)
    with pytest.raises(NotFound, match="^No such image: nope:latest$"):
        env.images.inspect("nope")
    with pytest.raises(NotFound, match="^No such image: busybox:1$"):
        env.images.resolve("busybox:1")
    with pytest.raises(NotFound, match=f"^No such image: sha256:{'0' * 64}$"):
        env.images.history("0" * 64)
    with pytest.raises(InvalidArgument, match="must be lowercase"):
        env.images.inspect("BusyBox")


def test_an_ambiguous_id_prefix_is_not_found(env: Env) -> None:
    ids = {env.image([env.layer(f"f{i}")], reference=f"i{i}:1") for i in range(40)}
    counts: dict[str, int] = {}
    for image_id in ids:
        counts[image_id[7]] = counts.get(image_id[7], 0) + 1
    shared = next(c for c, n in counts.items() if n > 1)
    with pytest.raises(NotFound, match=f"No such image: {shared}:latest"):
        env.images.resolve(shared)


# ---------------------------------------------------------------------- list


def test_list_shows_image_summaries_newest_first(env: Env, busybox_tar: Path) -> None:
    old = env.image(
        [env.layer("old")],
        reference="old:1",
        created="2024-01-01T00:00:00.9Z",
        Labels={"tier": "base"},
    )
    new = env.import_busybox(busybox_tar)
    summaries = env.images.list()
    assert [s["Id"] for s in summaries] == [new, old]
    assert summaries[1] == {
        "Containers": -1,
        "Created": 1704067200,
        "Id": old,
        "Labels": {"tier": "base"},
        "ParentId": "",
        "RepoDigests": [],
        "RepoTags": ["old:1"],
        "SharedSize": -1,
        "Size": env.images.resolve(old).size,
    }


def test_list_filters(env: Env, busybox_tar: Path) -> None:
    base = env.image([env.layer("base")], reference="app/base:1", Labels={"tier": "base"})
    dangling = env.image(
        [env.layer("dangling")], reference="app/old:1", created="2024-01-02T00:00:00Z"
    )
    env.images.tag(base, "app/old", "1")  # moves the tag: the other image is now dangling
    newest = env.import_busybox(busybox_tar)

    def ids(**filters: list[str]) -> list[str]:
        return [s["Id"] for s in env.images.list(filters=filters)]

    assert ids() == [newest, dangling, base]
    assert ids(dangling=["true"]) == [dangling]
    assert ids(dangling=["false"]) == [newest, base]
    assert ids(reference=["app/*"]) == [base]
    assert ids(reference=["busybox"]) == [newest]
    assert ids(label=["tier"]) == ids(label=["tier=base"]) == [base]
    assert ids(label=["tier=web"]) == []
    assert ids(before=["busybox"]) == [dangling, base]
    assert ids(since=["app/base:1"]) == [newest, dangling]
    assert ids(until=["2024-01-01T12:00:00Z"]) == [base]
    [summary] = env.images.list(filters={"reference": ["app/old*"]})
    assert summary["RepoTags"] == ["app/old:1"]  # only the matching tags are listed
    for bad, message in (
        ({"size": ["1"]}, "invalid filter 'size'"),
        ({"dangling": ["maybe"]}, r"invalid filter 'dangling=\[maybe\]'"),
    ):
        with pytest.raises(InvalidArgument, match=message):
            env.images.list(filters=bad)
    with pytest.raises(NotFound):
        env.images.list(filters={"before": ["nope"]})


def test_intermediate_images_show_only_with_all(env: Env) -> None:
    base = env.layer("base")
    parent = env.image([base])
    child = env.image([base, env.layer("top", base.chain_id)], parent=parent, reference="app:1")
    assert [s["Id"] for s in env.images.list()] == [child]
    listed = env.images.list(all=True)
    assert {s["Id"] for s in listed} == {child, parent}
    assert next(s for s in listed if s["Id"] == child)["ParentId"] == parent
    assert env.images.list(filters={"dangling": ["true"]}) == []


# ---------------------------------------------------------------------- tag


def test_tag_adds_a_name_and_announces_it(env: Env, busybox_tar: Path) -> None:
    image_id = env.import_busybox(busybox_tar)
    env.images.tag("busybox", "localhost:5000/tools/bb", "v1")
    env.images.tag(image_id[7:19], "docker.io/library/box", None)
    assert env.images.inspect(image_id)["RepoTags"] == [
        "box:latest",
        "busybox:latest",
        "localhost:5000/tools/bb:v1",
    ]
    assert env.events.seen[-2:] == [
        ("image", "tag", image_id, {"name": "localhost:5000/tools/bb:v1"}),
        ("image", "tag", image_id, {"name": "box:latest"}),
    ]


def test_bad_tags_are_refused(env: Env, busybox_tar: Path) -> None:
    env.import_busybox(busybox_tar)
    before = state(env.store)
    cases = [
        (("busybox", "Bad", None), InvalidArgument, "must be lowercase"),
        (("busybox", "ok", "-x"), InvalidArgument, "invalid tag format"),
        (("busybox", "sha256", "1"), InvalidArgument, "ambiguous tag using digest algorithm"),
        (
            ("busybox", "a@sha256:" + "1" * 64, None),
            InvalidArgument,
            "cannot import digest reference",
        ),
        (("nope", "new", None), NotFound, "No such image: nope:latest"),
    ]
    for args, error, message in cases:
        with pytest.raises(error, match=message):
            env.images.tag(*args)
    assert state(env.store) == before


# ---------------------------------------------------------------------- remove


def test_rmi_untags_while_other_tags_remain(env: Env, busybox_tar: Path) -> None:
    image_id = env.import_busybox(busybox_tar)
    env.images.tag("busybox", "other", None)
    assert asyncio.run(env.images.remove("other")) == [{"Untagged": "other:latest"}]
    assert env.images.inspect(image_id)["RepoTags"] == ["busybox:latest"]
    # moby names the image, not the tag, in an untag event.
    assert env.events.seen[-1] == ("image", "untag", image_id, {"name": image_id})


def test_rmi_of_the_last_tag_deletes_image_layers_and_blobs(env: Env, busybox_tar: Path) -> None:
    empty = state(env.store)
    image_id = env.import_busybox(busybox_tar)
    chain = env.images.resolve(image_id).chain[0]
    assert asyncio.run(env.images.remove("busybox")) == [
        {"Untagged": "busybox:latest"},
        {"Deleted": image_id},
        {"Deleted": chain},
    ]
    assert state(env.store) == empty
    assert env.events.actions()[-2:] == ["untag", "delete"]
    with pytest.raises(NotFound):
        asyncio.run(env.images.remove("busybox"))


def test_rmi_by_id_refuses_an_image_in_several_repositories_unless_forced(
    env: Env, busybox_tar: Path
) -> None:
    image_id = env.import_busybox(busybox_tar)
    env.images.tag("busybox", "other", "1")
    short = image_id[7:19]
    with pytest.raises(
        Conflict,
        match=rf"^conflict: unable to delete {short} \(must be forced\) - image is referenced in multiple repositories$",
    ):
        asyncio.run(env.images.remove(short))
    records = asyncio.run(env.images.remove(short, force=True))
    assert records[:3] == [
        {"Untagged": "busybox:latest"},
        {"Untagged": "other:1"},
        {"Deleted": image_id},
    ]
    assert env.images.list(all=True) == []


def test_rmi_by_id_of_a_singly_tagged_image_untags_it(env: Env, busybox_tar: Path) -> None:
    image_id = env.import_busybox(busybox_tar)
    assert asyncio.run(env.images.remove(image_id))[:2] == [
        {"Untagged": "busybox:latest"},
        {"Deleted": image_id},
    ]


def test_rmi_refuses_an_image_a_running_container_uses_even_forced(
    env: Env, busybox_tar: Path
) -> None:
    image_id = env.import_busybox(busybox_tar)
    env.users[image_id] = [("c0ffee" * 10 + "abcd", True)]
    before = state(env.store)
    with pytest.raises(
        Conflict,
        match=rf'^conflict: unable to remove repository reference "busybox" \(must force\) - container c0ffeec0ffee is using its referenced image {image_id[7:19]}$',
    ):
        asyncio.run(env.images.remove("busybox"))
    with pytest.raises(
        Conflict,
        match=r"\(cannot be forced\) - image is being used by running container c0ffeec0ffee$",
    ):
        asyncio.run(env.images.remove(image_id, force=True))
    assert state(env.store) == before
    # Forced by name, the tag goes; the image stays for its container, dangling.
    assert asyncio.run(env.images.remove("busybox", force=True)) == [{"Untagged": "busybox:latest"}]
    assert env.images.resolve(image_id).id == image_id
    assert asyncio.run(env.images.prune())["ImagesDeleted"] == []


def test_rmi_of_an_image_a_stopped_container_uses_must_be_forced(
    env: Env, busybox_tar: Path
) -> None:
    image_id = env.import_busybox(busybox_tar)
    env.users[image_id] = [("c0ffee" * 10 + "abcd", False)]
    with pytest.raises(
        Conflict,
        match=rf"^conflict: unable to delete {image_id[7:19]} \(must be forced\) - image is being used by stopped container c0ffeec0ffee$",
    ):
        asyncio.run(env.images.remove(image_id))
    assert asyncio.run(env.images.remove(image_id, force=True))[:2] == [
        {"Untagged": "busybox:latest"},
        {"Deleted": image_id},
    ]
    with pytest.raises(NotFound):
        env.images.resolve(image_id)


def test_rmi_prunes_untagged_parents_unless_told_not_to(env: Env) -> None:
    base = env.layer("base")
    parent = env.image([base])
    top = env.layer("top", base.chain_id)
    child = env.image([base, top], parent=parent, reference="app:1")
    with pytest.raises(Conflict, match=r"\(cannot be forced\) - image has dependent child images"):
        asyncio.run(env.images.remove(parent, force=True))
    assert asyncio.run(env.images.remove("app:1")) == [
        {"Untagged": "app:1"},
        {"Deleted": child},
        {"Deleted": top.chain_id},
        {"Deleted": parent},
        {"Deleted": base.chain_id},
    ]
    assert env.store.metadata.query("SELECT * FROM layers") == []

    parent = env.image([env.layer("base")])
    env.image(
        [env.layer("base"), env.layer("top", base.chain_id)], parent=parent, reference="app:1"
    )
    asyncio.run(env.images.remove("app:1", noprune=True))
    assert [s["Id"] for s in env.images.list(all=True)] == [parent]


def test_rmi_keeps_layers_another_image_still_uses(env: Env) -> None:
    base = env.layer("base")
    env.image([base], reference="a:1")
    top = env.layer("top", base.chain_id)
    doomed = env.image([base, top], reference="b:1")
    assert asyncio.run(env.images.remove("b:1")) == [
        {"Untagged": "b:1"},
        {"Deleted": doomed},
        {"Deleted": top.chain_id},
    ]
    assert (env.images.resolve("a:1").lowerdirs[0] / "base").read_bytes() == b"base"
    assert not env.store.layers.path(top.chain_id).exists()


# ---------------------------------------------------------------------- history


def test_history_of_an_imported_image(env: Env, busybox_tar: Path) -> None:
    image_id = env.import_busybox(busybox_tar)
    [item] = env.images.history("busybox")
    assert item == {
        "Id": image_id,
        "Created": item["Created"],
        "CreatedBy": "",
        "Tags": ["busybox:latest"],
        "Size": env.images.resolve(image_id).size,
        "Comment": "Imported from -",
    }


def test_history_walks_parents_and_marks_the_unknown(env: Env) -> None:
    base = env.layer("base")
    parent = env.image([base])
    top = env.layer("top", base.chain_id)
    child = env.image([base, top], parent=parent, reference="app:1")
    items = env.images.history("app:1")
    assert [i["CreatedBy"] for i in items] == [
        "CMD",
        f"RUN {top.chain_id[7:15]}",
        f"RUN {base.chain_id[7:15]}",
    ]
    assert [i["Id"] for i in items] == [child, parent, "<missing>"]
    assert [i["Size"] for i in items] == [0, top.size, base.size]
    assert [i["Tags"] for i in items] == [["app:1"], [], []]
    assert items[0]["Created"] == 1704067201


# ---------------------------------------------------------------------- prune


def test_prune_deletes_dangling_images_only(env: Env, busybox_tar: Path) -> None:
    tagged = env.import_busybox(busybox_tar)
    layer = env.layer("d")
    dangling = env.image([layer], reference="x:1")
    env.images.tag(tagged, "x", "1")
    report = asyncio.run(env.images.prune())
    assert report == {
        "ImagesDeleted": [{"Deleted": dangling}, {"Deleted": layer.chain_id}],
        "SpaceReclaimed": layer.size,
    }
    assert sorted(s["Id"] for s in env.images.list(all=True)) == [tagged]
    assert env.events.seen[-1] == ("image", "prune", "", {"reclaimed": str(layer.size)})


def test_prune_all_spares_images_in_use(env: Env, busybox_tar: Path) -> None:
    used = env.import_busybox(busybox_tar)
    env.users[used] = [("feed" * 16, False)]
    unused = env.image([env.layer("u")], reference="unused:1", Labels={"keep": "no"})
    kept = env.image([env.layer("k")], reference="kept:1", Labels={"keep": "yes"})
    report = asyncio.run(env.images.prune({"dangling": ["false"], "label!": ["keep=yes"]}))
    assert report["ImagesDeleted"][:2] == [{"Untagged": "unused:1"}, {"Deleted": unused}]
    assert sorted(s["Id"] for s in env.images.list()) == sorted([used, kept])
    assert (
        asyncio.run(env.images.prune({"dangling": ["false"], "until": ["2023-01-01T00:00:00Z"]}))[
            "ImagesDeleted"
        ]
        == []
    )
    with pytest.raises(InvalidArgument, match="invalid filter 'reference'"):
        asyncio.run(env.images.prune({"reference": ["x"]}))


# ---------------------------------------------------------------------- failures change nothing


@pytest.mark.parametrize(
    ("data", "reference", "changes", "error"),
    [
        (b"not a tar at all" * 100, "bad:1", [], "invalid tar archive"),
        (make_tar(entry("../up", b"x")), "bad:1", [], "invalid tar archive"),
        (make_tar(entry("ok", b"x")), "Bad:1", [], "must be lowercase"),
        (
            make_tar(entry("ok", b"x")),
            "bad@sha256:" + "1" * 64,
            [],
            "cannot import digest reference",
        ),
        (make_tar(entry("ok", b"x")), "bad:1", ["RUN true"], "RUN is not a valid change command"),
        (make_tar(entry("ok", b"x")), "bad:1", ["FOO bar"], "unknown instruction: FOO"),
    ],
)
def test_failed_imports_leave_the_store_as_it_was(
    env: Env, busybox_tar: Path, data: bytes, reference: str, changes: list[str], error: str
) -> None:
    env.import_busybox(busybox_tar)
    before, seen = state(env.store), list(env.events.seen)
    with pytest.raises(InvalidArgument, match=error):
        env.images.import_tar(io.BytesIO(data), reference, changes)
    assert state(env.store) == before
    assert env.events.seen == seen


def test_create_image_refuses_layers_that_do_not_stack(env: Env) -> None:
    a, b = env.layer("a"), env.layer("b")
    before = state(env.store)
    with pytest.raises(InvalidArgument, match="must each stand on the one before"):
        env.image([a, b])
    with pytest.raises(InvalidArgument, match="1 non-empty entries for 0 layers"):
        env.images.create_image({"history": [{"created_by": "RUN x"}]}, [])
    with pytest.raises(NotFound, match="No such image: sha256:"):
        env.image([a], parent="sha256:" + "2" * 64)
    assert state(env.store) == before


def test_the_same_image_received_twice_at_once_keeps_its_manifest(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pulls of one image, each seeing no manifest blob before either writes it: the
    second finds the first's row naming that blob, and must leave it."""
    layer = env.layer("a")
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        }
    ).encode()
    manifest = json.dumps({"schemaVersion": 2, "layers": []}).encode()
    image_id = env.images.add_received(config, [layer], manifest)
    digest = env.store.metadata.query("SELECT manifest FROM images")[0]["manifest"]
    exists = env.store.blobs.exists
    monkeypatch.setattr(env.store.blobs, "exists", lambda d: d != digest and exists(d))
    assert env.images.add_received(config, [layer], manifest) == image_id
    monkeypatch.undo()
    assert env.store.blobs.exists(digest)
