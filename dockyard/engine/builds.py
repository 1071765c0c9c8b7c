"""Builds, the engine side: the image store, the layer store, the built-in
runtime and the ``build_cache`` table behind ``dockyard.build``'s backend.

``BuildService.build`` takes a context as a tar stream (what the Engine API
receives) or as a directory on this machine (the local CLI's fast path), and
reports progress through ``emit`` as Docker's classic builder does.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import socket
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from dockyard.build.backend import BuildImage, RunProcess, StepMount
from dockyard.build.builder import BuildRequest, build
from dockyard.build.cacheexport import INLINE, CacheOption, CacheRecord
from dockyard.build.context import FileHasher, SourceTree, context_ignore, read_in_context
from dockyard.build.exporters import IMAGE
from dockyard.build.output import BuildOutput, Message
from dockyard.config import Paths
from dockyard.distribution.registry import Credentials, Registry
from dockyard.engine.buildcache import (
    CacheImports,
    CacheSource,
    Connect,
    export_cache,
    inline_cache,
    open_cache,
    registry_credentials,
    with_inline_cache,
)
from dockyard.engine.buildexport import export, export_directory
from dockyard.engine.buildmounts import CacheMounts, memory_dir
from dockyard.engine.buildsessions import BuildSessions
from dockyard.engine.images import ImageService
from dockyard.engine.specgen import cgroup_path
from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound, with_context
from dockyard.network import hosts as etc_hosts
from dockyard.runtime import container as runtime
from dockyard.runtime import execshim
from dockyard.runtime import spec as oci
from dockyard.runtime.execshim import ExecShimConfig, run_build_step
from dockyard.runtime.overlay import OVERLAY2, mount_overlay, unmount
from dockyard.runtime.users import resolve_user
from dockyard.store import reference
from dockyard.store.layers import LayerStore, chain_ids
from dockyard.store.metadata import Metadata
from dockyard.tarfs.extract import Extractor
from dockyard.tarfs.root import Root
from dockyard.timefmt import rfc3339

if TYPE_CHECKING:
    from dockyard.engine.networks import NetworkService

T = TypeVar("T")
# Pushes the local image name:tag with the credentials; returns the pushed digest.
Push = Callable[[str, str, Callable[[Message], None], Credentials | None], str]
# Puts a RUN step's network namespace (a process in it) on its network; returns the undo.
Plug = Callable[[int], Callable[[], None]]
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_READ = 1 << 16
_SIBLINGS = 50  # cache records compared when explaining a miss
_REMEMBERED_CONTEXTS = 8  # local context directories whose file digests are kept


class BuildService:
    def __init__(
        self,
        paths: Paths,
        metadata: Metadata,
        images: ImageService,
        layers: LayerStore,
        networks: NetworkService,
        storage_driver: str = OVERLAY2,
    ) -> None:
        self.paths = paths
        self.storage_driver = storage_driver  # mounts the roots of RUN steps
        self.metadata = metadata
        self.images = images
        self.layers = layers
        # How a RUN step's shim is forked: from this process, or by the daemon's zygote.
        self.spawn_step: Callable[[ExecShimConfig], tuple[int, socket.socket]] = execshim.spawn
        self.networks = networks
        # The engine's event loop, where networks are changed; builds run in worker threads.
        self.loop: asyncio.AbstractEventLoop | None = None
        # The content digests the last build of each local context directory read (the
        # last few directories): a rebuild reads only the files that changed. A tar's
        # files are new every build: its digests go with it.
        self._hashers: OrderedDict[str, FileHasher] = OrderedDict()
        # The images running builds stand on or made, which `rmi` may not delete.
        self._images_in_use: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.cache_mounts = CacheMounts(paths.data_root / "build-mounts")
        self.sessions = BuildSessions(paths.tmp)  # what the next builds get besides a context
        # How a missing base image is pulled (the engine's TransferService.pull).
        self.pull: Callable[[str, Callable[[Message], None]], str] | None = None
        # How a registry cache's registry is reached (TransferService.open_registry).
        self.open_registry: Connect | None = None
        # How --output type=image,push=true pushes (TransferService.push: name, tag, emit,
        # credentials).
        self.push: Push | None = None

    def uses(self, image_id: str) -> bool:
        """Whether a running build uses the image."""
        with self._lock:
            return image_id in self._images_in_use

    def remembered_digests(self) -> int:
        """How many file digests are kept for the next builds."""
        with self._lock:
            return sum(hasher.remembered() for hasher in self._hashers.values())

    def on_loop(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the engine's event loop, which owns the networks' state."""
        if self.loop is None or _running_on(self.loop):
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(_call(fn, *args), self.loop).result()

    def on_loop_await(self, work: Coroutine[Any, Any, T]) -> T:
        """Await ``work`` on the engine's event loop from a worker (as ``docker builder
        prune`` runs), or in a loop of its own when the engine has none."""
        if self.loop is None:
            return asyncio.run(work)
        return asyncio.run_coroutine_threadsafe(work, self.loop).result()

    def build(
        self,
        request: BuildRequest,
        emit: Callable[[Message], None],
        *,
        tar: BinaryIO | None = None,
        directory: Path | None = None,
        dockerfile: bytes | None = None,
    ) -> str:
        """Build from a context tar or directory; returns the image id.

        ``dockerfile`` (local clients only) is the Dockerfile itself, from outside
        the context; otherwise ``request.dockerfile_name`` is read from inside it.
        On failure a quiet build's held-back output is emitted, then the error raised.
        """
        if request.network not in ("default", "host", "none"):
            self.networks.build_network(request.network)  # refused before anything is done
        scratch = self.paths.tmp / f"build-{secrets.token_hex(8)}"
        scratch.mkdir(parents=True)
        output = BuildOutput(emit, request.quiet)
        hasher = self._hasher(directory)
        held: set[str] = set()  # the images the build uses, until it ends
        try:
            with self.images.leases.hold():  # its layers are stored before its images hold them
                root = self._context_root(scratch, tar, directory, hasher)
                request.dockerfile, request.dockerfile_name = _read_dockerfile(
                    root, request.dockerfile_name, dockerfile
                )
                tree = SourceTree(root, context_ignore(root), hasher)
                request, inline = self._inline_caches(request)
                logins, connect = request.registry_logins, self._connect
                sources = [open_cache(o, logins, connect) for o in request.cache_imports]
                imports = CacheImports(self.images, inline + sources)
                backend = _Backend(self, scratch, imports, held)
                return self._build_and_export(request, tree, backend, output, emit)
        except BaseException:
            output.release_held()
            raise
        finally:
            self._release_images(held)
            if directory is not None:
                self._keep_hasher(directory, hasher)
            shutil.rmtree(scratch, ignore_errors=True)

    def _hasher(self, directory: Path | None) -> FileHasher:
        if directory is None:
            return FileHasher()
        with self._lock:
            previous = self._hashers.pop(str(directory), None)
        return previous.carried_over() if previous is not None else FileHasher()

    def _keep_hasher(self, directory: Path, hasher: FileHasher) -> None:
        with self._lock:
            self._hashers[str(directory)] = hasher
            while len(self._hashers) > _REMEMBERED_CONTEXTS:
                self._hashers.popitem(last=False)

    def hold_image(self, image_id: str) -> None:
        with self._lock:
            self._images_in_use[image_id] += 1

    def _release_images(self, image_ids: set[str]) -> None:
        with self._lock:
            self._images_in_use.subtract(image_ids)
            for image_id in image_ids:
                if self._images_in_use[image_id] <= 0:
                    del self._images_in_use[image_id]

    def _build_and_export(
        self,
        request: BuildRequest,
        tree: SourceTree,
        backend: _Backend,
        output: BuildOutput,
        emit: Callable[[Message], None],
    ) -> str:
        """The build, then what it exports: its caches, and an --output but an image."""
        archive = request.output.type != IMAGE
        # An image's names (type=image,name=...) are tags too; another output makes no
        # tags: its names (or the -t ones) are the archive's.
        names = [_archive_name(n) for n in request.output.names or request.tags]
        tags = [] if archive else [*request.tags, *request.output.names]
        result = build(dataclasses.replace(request, tags=tags), tree, backend, output)
        to_client = 0  # the caches sent back so far
        for option in request.cache_exports:
            if option.type == INLINE:
                continue  # in the image already
            steps = result.steps if option.max_mode else result.target_steps
            if option.to_client:
                output.stream("Exporting the build cache to the client\n")
                self._send_cache(option, steps, backend.scratch, to_client, emit)
                to_client += 1
                continue
            output.stream(f"Exporting the build cache to {option.location}\n")
            export_cache(self.images, option, steps, request.registry_logins, self._connect)
        if archive:
            export(
                self.images,
                result.image_id,
                request.output,
                names,
                emit,
                self.storage_driver,
                self.paths.tmp,
            )
        elif request.output.push:
            self._push(list(dict.fromkeys(tags)), request, output)
        return result.image_id

    def _send_cache(
        self,
        option: CacheOption,
        steps: list[CacheRecord],
        scratch: Path,
        index: int,
        emit: Callable[[Message], None],
    ) -> None:
        """A local cache made in ``scratch``, then sent in the response for the client."""
        directory = scratch / f"cache-export-{index}"
        made = dataclasses.replace(option, attrs={**option.attrs, "dest": str(directory)})
        export_cache(self.images, made, steps, {}, self._connect)
        export_directory(directory, index, emit)

    def _push(self, names: list[str], request: BuildRequest, output: BuildOutput) -> None:
        """Push the built image by each of its ``names``, as BuildKit's image exporter does
        with ``push=true`` (none: nothing to push), with the logins the client sent."""
        if self.push is None:
            raise InvalidArgument("pushing from a build needs an engine that reaches registries")

        def progress(message: Message) -> None:
            if "aux" not in message:  # a build's aux carries the image's ID
                output.progress(message)

        for name in names:
            ref = _tag_reference(name)
            credentials = registry_credentials(request.registry_logins, ref)
            try:
                self.push(ref.name, ref.tag, progress, credentials)
            except DockyardError as e:
                raise with_context(e, f"failed to push {name}") from None

    def _connect(self, domain: str, scopes: list[str], credentials: Credentials | None) -> Registry:
        if self.open_registry is None:
            raise InvalidArgument("registry caches need an engine that reaches registries")
        return self.open_registry(domain, scopes, credentials)

    def _inline_caches(self, request: BuildRequest) -> tuple[BuildRequest, list[CacheSource]]:
        """The --cache-from images that carry an inline cache, as caches; the others
        stay the classic builder's sources."""
        classic, inline = [], []
        for name in request.cache_from:
            try:
                config = self.images.resolve(name).config
            except (NotFound, InvalidArgument):
                classic.append(name)  # the builder skips it, as moby does
                continue
            source = inline_cache(config)
            if source is None:
                classic.append(name)
            else:
                inline.append(source)
        return dataclasses.replace(request, cache_from=classic), inline

    def _context_root(
        self, scratch: Path, tar: BinaryIO | None, directory: Path | None, hasher: FileHasher
    ) -> Path:
        if directory is not None:
            if not directory.is_dir():
                raise InvalidArgument(f"the build context {directory} is not a directory")
            return directory
        if tar is None:
            raise InvalidArgument("a build needs a context: a tar body or a local directory")
        root = scratch / "context"
        root.mkdir()
        try:
            with Root(root) as context:
                Extractor(context, keep_owner=False, digests=hasher).extract(tar)
        except InvalidArgument as e:
            raise InvalidArgument(f"failed to read the build context: {e.message}") from None
        return root

    # -- the cache table ------------------------------------------------------

    def cache_get(self, key: str) -> BuildImage | None:
        rows = self.metadata.query("SELECT image_id FROM build_cache WHERE key = ?", key)
        if not rows:
            return None
        try:
            image = self.images.resolve(rows[0]["image_id"])
        except NotFound:  # the image was removed since: the entry is stale
            with self.metadata.transaction() as db:
                db.execute("DELETE FROM build_cache WHERE key = ?", (key,))
            return None
        with self.metadata.transaction() as db:
            db.execute("UPDATE build_cache SET last_used = ? WHERE key = ?", (time.time(), key))
        return BuildImage(image.id, image.config)

    def cache_put(self, key: str, image_id: str, inputs: dict[str, Any]) -> None:
        now = time.time()
        with self.metadata.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO build_cache (key, image_id, inputs, created, last_used)"
                " VALUES (?, ?, ?, ?, ?)",
                (key, image_id, json.dumps(inputs), now, now),
            )

    def cache_siblings(self, parent: str) -> Iterator[dict[str, Any]]:
        rows = self.metadata.query(
            "SELECT inputs FROM build_cache WHERE json_extract(inputs, '$.parent') = ?"
            " ORDER BY last_used DESC LIMIT ?",
            parent,
            _SIBLINGS,
        )
        for row in rows:
            yield json.loads(row["inputs"])

    # -- builder prune and system df ------------------------------------------

    def prune(self) -> dict[str, Any]:
        """Forget every cache entry and remove the intermediate images only the cache kept.

        An image that is tagged, or that other images or containers still use,
        stays (it is no longer a cache entry). Children go before their parents.
        """
        rows = self.metadata.query("SELECT key, image_id FROM build_cache ORDER BY created DESC")
        reclaimed = sum(self._remove_cached_image(row["image_id"]) for row in rows)
        with self.metadata.transaction() as db:
            db.execute("DELETE FROM build_cache")
        mounts, freed = self.cache_mounts.prune()
        deleted = [row["key"] for row in rows] + mounts
        return {"CachesDeleted": deleted, "SpaceReclaimed": reclaimed + freed}

    def _remove_cached_image(self, image_id: str) -> int:
        """Remove one untagged cache image; returns the bytes its own layer held."""
        try:
            if self.images.inspect(image_id)["RepoTags"]:
                return 0
            added = self._added_size(image_id)
            self.on_loop_await(self.images.remove(image_id, noprune=True))
        except (NotFound, Conflict):
            return 0
        return added

    def _added_size(self, image_id: str) -> int:
        """The size of what an image adds over its parent (0 for a metadata step)."""
        image = self.images.resolve(image_id)
        parent = self.images.resolve(image.parent).size if image.parent else 0
        return max(image.size - parent, 0)

    def disk_usage(self) -> list[dict[str, Any]]:
        """The BuildCache entries of ``GET /system/df``: one per cached step."""
        entries = []
        rows = self.metadata.query(
            "SELECT key, image_id, inputs, created, last_used FROM build_cache ORDER BY created"
        )
        for row in rows:
            try:
                size = self._added_size(row["image_id"])
            except NotFound:
                continue
            inputs = json.loads(row["inputs"])
            entries.append(
                {
                    "ID": row["key"][:25],
                    "Parents": [],
                    "Type": "regular",
                    "Description": inputs.get("instruction", ""),
                    "InUse": False,
                    "Shared": False,
                    "Size": size,
                    "CreatedAt": rfc3339(row["created"]),
                    "LastUsedAt": rfc3339(row["last_used"]),
                    "UsageCount": 0,
                }
            )
        for name, size, changed in self.cache_mounts.usage():
            entries.append(
                {
                    "ID": name[:25],
                    "Parents": [],
                    "Type": "exec.cachemount",
                    "Description": "cache mount (RUN --mount=type=cache)",
                    "InUse": False,
                    "Shared": False,
                    "Size": size,
                    "CreatedAt": rfc3339(changed),
                    "LastUsedAt": rfc3339(changed),
                    "UsageCount": 0,
                }
            )
        return entries


class _Backend:
    """``dockyard.build.backend.BuildBackend`` over one engine, for one build."""

    def __init__(
        self, service: BuildService, scratch: Path, imports: CacheImports, held: set[str]
    ) -> None:
        self.service = service
        self.imports = imports
        self.images = service.images
        self.layers = service.layers
        self.scratch = scratch
        self.held = held  # the images this build uses, until it ends

    def resolve(self, name: str) -> BuildImage:
        image = self.images.resolve(name)
        if image.id not in self.held:
            self.held.add(image.id)
            self.service.hold_image(image.id)
            image = self.images.resolve(image.id)  # not removed before it was held
        return BuildImage(image.id, image.config)

    def pull(self, name: str, progress: Callable[[Message], None]) -> BuildImage:
        if self.service.pull is None:
            raise NotFound(f"No such image: {name}")
        return self.resolve(self.service.pull(name, progress))

    def normalize_tag(self, text: str) -> str:
        return str(_tag_reference(text))

    def scratch_dir(self) -> Path:
        return self.scratch

    @contextlib.contextmanager
    def mount(self, image: BuildImage, upper: Path) -> Iterator[Path]:
        lowerdirs = self.images.resolve(image.id).lowerdirs if image.id else []
        work = upper.with_name(upper.name + "-work")
        target = upper.with_name(upper.name + "-root")
        mount_overlay(lowerdirs, upper, work, target, self.service.storage_driver)
        try:
            yield target
        finally:
            unmount(target)

    def run(self, root: Path, process: RunProcess, output: Callable[[bytes], None]) -> int:
        # A spec with secret values in its environment is written to memory only.
        with (
            memory_dir(self.scratch)
            if process.sensitive
            else contextlib.nullcontext(self.scratch) as base
        ):
            return self._run_in(base / f"bundle-{secrets.token_hex(4)}", root, process, output)

    def _run_in(
        self, bundle: Path, root: Path, process: RunProcess, output: Callable[[bytes], None]
    ) -> int:
        bundle.mkdir()
        cid = secrets.token_hex(32)
        spec = oci.docker_default_spec(_spec_options(root, bundle, cid, process))
        (bundle / "config.json").write_text(json.dumps(spec))
        try:
            return run_build_step(
                self.service.spawn_step,
                bundle,
                cid,
                output,
                self._network(process.network, cid, bundle),
            )
        finally:
            runtime.delete(bundle)

    def _network(self, mode: str, cid: str, bundle: Path) -> Plug | None:
        """How the step's namespace joins its network: not at all for none and host."""
        if mode in ("none", "host"):
            return None
        service = self.service

        def plug(pid: int) -> Callable[[], None]:
            step = service.on_loop(
                service.networks.plug_build_step, mode, cid, pid, bundle / "hosts"
            )
            return lambda: service.on_loop(service.networks.unplug_build_step, step)

        return plug

    def commit(
        self, parent: BuildImage, config: dict[str, Any], changes: Path | None
    ) -> BuildImage:
        base = self.images.resolve(parent.id) if parent.id else None
        chain = base.chain if base else []
        layers = [self.layers.get(c) for c in chain]
        if changes is not None:
            layers.append(self.layers.diff(changes, chain[-1] if chain else ""))
        try:
            image_id = self.images.create_image(config, layers, parent=parent.id)
        except BaseException:
            if changes is not None:
                with contextlib.suppress(DockyardError):
                    self.layers.remove(layers[-1].chain_id)
            raise
        return self.resolve(image_id)

    def layer_dir(self, image: BuildImage) -> Path:
        return self.images.resolve(image.id).lowerdirs[0]

    def adopt(self, parent: BuildImage, config: dict[str, Any]) -> BuildImage:
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        layers = [self.layers.get(chain) for chain in chain_ids(diff_ids)]
        return self.resolve(self.images.create_image(config, layers, parent=parent.id))

    def with_inline_cache(self, image: BuildImage, records: list[CacheRecord]) -> BuildImage:
        return self.adopt(image, with_inline_cache(self.images, image.config, records))

    def is_ancestor(self, image_id: str, descendant: str) -> bool:
        parent = self.images.resolve(descendant).parent
        while parent:
            if parent == image_id:
                return True
            parent = self.images.resolve(parent).parent
        return False

    def tag(self, image_id: str, ref: str) -> None:
        self.images.tag(image_id, ref, None)

    def cache_mount(
        self, key: str, sharing: str, init: Callable[[Path], None]
    ) -> contextlib.AbstractContextManager[Path]:
        return self.service.cache_mounts.use(key, sharing, init)

    def memory_dir(self) -> contextlib.AbstractContextManager[Path]:
        return memory_dir(self.scratch)

    def cache_get(self, key: str) -> BuildImage | None:
        """This engine's cache entry; else one from a --cache-from cache, kept here too."""
        hit = self.service.cache_get(key)
        if hit is not None:
            try:
                return self.resolve(hit.id)
            except NotFound:  # removed meanwhile: a miss here
                pass
        found = self.imports.lookup(key)
        if found is None:
            return None
        image, record = found
        self.service.cache_put(key, image.id, record.inputs)
        return self.resolve(image.id)

    def cache_put(self, key: str, image_id: str, inputs: dict[str, Any]) -> None:
        self.service.cache_put(key, image_id, inputs)

    def cache_siblings(self, parent: str) -> Iterator[dict[str, Any]]:
        yield from self.service.cache_siblings(parent)
        yield from self.imports.siblings(parent)


def _tag_reference(text: str) -> reference.Reference:
    """The "repo:tag" a ``-t`` value names."""
    ref = reference.parse(text)
    if ref.digest:
        raise InvalidArgument("build tag cannot contain a digest")
    return ref.with_default_tag()


def _archive_name(text: str) -> str:
    """A name as an archive records it, fully qualified: docker.io/library/x:latest."""
    ref = _tag_reference(text)
    return f"{ref.name}:{ref.tag}"


def _spec_options(root: Path, bundle: Path, cid: str, process: RunProcess) -> oci.SpecOptions:
    uid, gid, groups = resolve_user(root, process.user)
    host_network = process.network == "host"
    hostname = os.uname().nodename if host_network else cid[:12]
    hosts = Path("/etc/hosts").read_text() if host_network else etc_hosts.BASE
    hosts += "".join(
        f"{address}\t{name}\n"
        for name, _, address in (entry.partition(":") for entry in process.extra_hosts)
    )
    etc = {"hostname": hostname + "\n", "hosts": hosts, "resolv.conf": _resolv_conf()}
    for name, text in etc.items():
        (bundle / name).write_text(text)
    env, limits = process.env, process.limits
    if not any(entry.startswith("PATH=") for entry in env):
        env = [DEFAULT_PATH, *env]
    return oci.SpecOptions(
        args=process.args,
        env=env,
        cwd=process.workdir,
        hostname=hostname,
        uid=uid,
        gid=gid,
        additional_gids=groups,
        root_path=str(root),
        network="host" if host_network else "private",
        uts="host" if host_network else "private",
        cgroups_path=cgroup_path(cid),
        mounts=[
            *(oci.bind_mount(str(bundle / name), f"/etc/{name}") for name in etc),
            *(_step_mount(mount) for mount in process.mounts),
        ],
        memory=limits.memory,
        memory_swap=limits.memory_swap,
        cpu_shares=limits.cpu_shares,
        cpu_period=limits.cpu_period,
        cpu_quota=limits.cpu_quota,
        cpuset_cpus=limits.cpuset_cpus,
        cpuset_mems=limits.cpuset_mems,
        shm_size=limits.shm_size or oci.DEFAULT_SHM_SIZE,
    )


def _step_mount(mount: StepMount) -> dict[str, Any]:
    """A RUN --mount in the step's OCI spec: a bind of a host path, or a tmpfs."""
    if mount.source:
        return oci.bind_mount(mount.source, mount.target, mount.readonly)
    options = ["nosuid", "nodev", *(["ro"] if mount.readonly else [])]
    options += [f"size={mount.size}"] if mount.size else []
    return {"destination": mount.target, "type": "tmpfs", "source": "tmpfs", "options": options}


def _resolv_conf() -> str:
    try:
        return Path("/etc/resolv.conf").read_text()
    except FileNotFoundError:
        return ""


def _running_on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


async def _call(fn: Callable[..., T], *args: Any) -> T:
    return fn(*args)


def _read_dockerfile(root: Path, name: str, given: bytes | None) -> tuple[str, str]:
    """The Dockerfile's text and the name to show in messages. Read from inside the
    context only: its name, and any symlink on the way, resolve in the context."""
    shown = name or "Dockerfile"
    if given is None:
        # Docker's fallback spelling when the client named none.
        names = [name] if name else ["Dockerfile", "dockerfile"]
        found = (read_in_context(root, n) for n in names)
        given = next((text for text in found if text is not None), None)
        if given is None:
            raise InvalidArgument(f"Cannot locate specified Dockerfile: {shown}")
    try:
        return given.decode(), shown
    except UnicodeDecodeError:
        raise InvalidArgument(f"the Dockerfile {shown} is not UTF-8 text") from None
