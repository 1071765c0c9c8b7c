"""The ``--mount``s of one RUN step: what they add to its cache key, and the host
paths the container gets while it runs.

The key takes each spec as canonical text, the content digests of what a bind
mount takes from the context, and the identity of any stage or image named by
``from=``; never a cache mount's content nor a secret's value. When the step
runs: a cache mount is a directory under the data root that outlives the build
(``builder prune`` removes it); a bind mount shows a context or image path,
read-only unless ``rw``, whose writes are then made to a copy and discarded; a
secret is a file on a tmpfs (and/or an environment variable of this step
only); an ssh mount is the agent socket the client forwarded. Mount points the
runtime had to create in the image are removed afterwards, as BuildKit's stub
cleaner does, so a mount leaves nothing in the layer.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from dockyard.build.backend import BuildBackend, BuildImage, StepMount
from dockyard.build.context import Source, SourceTree
from dockyard.build.copyfiles import CopyOptions, copy_sources
from dockyard.build.runmount import SECRETS_DIR, SSH_AGENT_PREFIX, MountSpec, parse_mount
from dockyard.errors import InvalidArgument
from dockyard.runtime.securejoin import secure_join

_SECRET_MODE = 0o400
_CACHE_MODE = 0o755


@dataclass(frozen=True)
class MountInputs:
    """What a RUN step's mounts may draw on."""

    context: SourceTree
    secrets: Mapping[str, bytes]  # id -> value, held in memory only
    ssh: Mapping[str, str]  # id -> the forwarded agent's socket on this machine
    resolve: Callable[[str], BuildImage]  # a from= value: a stage's result or an image
    new_dir: Callable[[str], Path]  # a new empty scratch directory


class StepMounts:
    """The parsed mounts of one step, their images resolved and context sources digested."""

    def __init__(
        self,
        texts: tuple[str, ...],
        expand: Callable[[str], str],
        workdir: str,
        inputs: MountInputs,
        backend: BuildBackend,
    ) -> None:
        self.specs = [parse_mount(text, expand) for text in texts]
        self.inputs = inputs
        self.backend = backend
        self.targets = [_target(spec, workdir, i) for i, spec in enumerate(self.specs)]
        self.images: dict[int, BuildImage] = {}
        self.context_sources: dict[int, Source] = {}
        for i, spec in enumerate(self.specs):
            if spec.type in ("bind", "cache") and spec.from_:
                self.images[i] = inputs.resolve(spec.from_)
            elif spec.type == "bind":
                self.context_sources[i] = _context_source(inputs.context, spec.source)

    @property
    def sensitive_env(self) -> bool:
        """Whether a secret goes into the step's environment."""
        return any(spec.type == "secret" and spec.env for spec in self.specs)

    def key_text(self) -> str:
        return " ".join(spec.describe() for spec in self.specs)

    def files(self) -> dict[str, str]:
        """Digests of the context files bind mounts show, for the cache key."""
        found: dict[str, str] = {}
        for source in self.context_sources.values():
            found.update(self.inputs.context.digests(source))
        return found

    def sources(self) -> dict[str, str]:
        return {
            f"--mount from={self.specs[i].from_}": image.id or "scratch"
            for i, image in self.images.items()
        }

    @contextmanager
    def mounted(self, root: Path) -> Iterator[tuple[tuple[StepMount, ...], list[str]]]:
        """The step's mounts and the environment they add, ready while in the block;
        ``root`` is the step's mounted filesystem, where mount points are cleaned up."""
        with ExitStack() as stack:
            mounts: list[StepMount] = []
            env: list[str] = []
            memory: Path | None = None
            for i, spec in enumerate(self.specs):
                target = self.targets[i]
                if spec.type == "secret":
                    memory = memory or stack.enter_context(self.backend.memory_dir())
                    mounts += self._secret(spec, target, memory / str(i), env)
                elif spec.type == "ssh":
                    mounts += self._ssh(spec, target, env)
                elif spec.type == "tmpfs":
                    mounts.append(StepMount(target, "", spec.readonly, spec.size))
                else:
                    source = self._host_path(i, spec, stack)
                    mounts.append(StepMount(target, str(source), spec.readonly))
            stubs = [_missing(root, m.target) for m in mounts]
            try:
                yield tuple(mounts), env
            finally:
                for chain in stubs:
                    _remove_stubs(chain)

    def _host_path(self, i: int, spec: MountSpec, stack: ExitStack) -> Path:
        if spec.type == "cache":
            return self._cache(i, spec, stack)
        if i in self.images:
            image_root = stack.enter_context(
                self.backend.mount(self.images[i], self.inputs.new_dir("mount"))
            )
            path = Path(secure_join(str(image_root), spec.source or "/"))
            if not os.path.lexists(path):
                raise InvalidArgument(
                    f"failed to mount {spec.source or '/'} from {spec.from_}: not found"
                )
            return path  # the image's overlay has a scratch upper dir: writes are discarded
        source = self.context_sources[i]
        if spec.readonly and not self.inputs.context.ignore:
            return source.path
        return _copy_of(self.inputs.context, source, self.inputs.new_dir("bind"))

    def _cache(self, i: int, spec: MountSpec, stack: ExitStack) -> Path:
        image = self.images.get(i)
        identity = [spec.id or self.targets[i], image.id if image else "", spec.mode, spec.uid]
        identity += [spec.gid, spec.source if image else ""]
        key = hashlib.sha256(json.dumps(identity).encode()).hexdigest()

        def init(directory: Path) -> None:
            if image is not None:
                self._fill_from(image, spec.source, directory)
            os.chown(directory, spec.uid or 0, spec.gid or 0)
            os.chmod(directory, _CACHE_MODE if spec.mode is None else spec.mode)

        directory = stack.enter_context(self.backend.cache_mount(key, spec.sharing, init))
        if image is not None or not spec.source:
            return directory
        path = Path(secure_join(str(directory), spec.source))
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _fill_from(self, image: BuildImage, source: str, directory: Path) -> None:
        with self.backend.mount(image, self.inputs.new_dir("cache-from")) as image_root:
            path = Path(secure_join(str(image_root), source or "/"))
            if path.is_dir():
                shutil.copytree(path, directory, symlinks=True, dirs_exist_ok=True)

    def _secret(self, spec: MountSpec, target: str, file: Path, env: list[str]) -> list[StepMount]:
        value = self.inputs.secrets.get(spec.secret_id)
        if value is None:
            if spec.required:
                raise InvalidArgument(f"secret {spec.secret_id}: not found")
            return []
        if spec.env:
            env.append(f"{spec.env}={value.decode(errors='replace')}")
            if not spec.target:
                return []
        file.write_bytes(value)
        os.chown(file, spec.uid or 0, spec.gid or 0)
        os.chmod(file, _SECRET_MODE if spec.mode is None else spec.mode)
        return [StepMount(target, str(file), True)]

    def _ssh(self, spec: MountSpec, target: str, env: list[str]) -> list[StepMount]:
        socket = self.inputs.ssh.get(spec.ssh_id)
        if socket is None:
            if spec.required:
                raise InvalidArgument(
                    f'no SSH key "{spec.ssh_id}" forwarded from the client: '
                    f"build with --ssh {spec.ssh_id}[=<socket>]"
                )
            return []
        if not any(entry.startswith("SSH_AUTH_SOCK=") for entry in env):
            env.append(f"SSH_AUTH_SOCK={target}")
        return [StepMount(target, socket, False)]


def _target(spec: MountSpec, workdir: str, index: int) -> str:
    target = spec.target
    if not target and spec.type == "secret":
        target = posixpath.join(SECRETS_DIR, posixpath.basename(spec.secret_id))
    elif not target and spec.type == "ssh":
        target = f"{SSH_AGENT_PREFIX}{index}"
    target = posixpath.normpath(posixpath.join("/", workdir or "/", target))
    if target == "/":
        raise InvalidArgument(f'invalid mount target "{target}"')
    return target


def _context_source(context: SourceTree, source: str) -> Source:
    found = context.sources(source or ".")
    if len(found) != 1:
        raise InvalidArgument(f"mount source {source!r} must name exactly one path")
    return found[0]


def _copy_of(context: SourceTree, source: Source, directory: Path) -> Path:
    """A copy of a context source, what .dockerignore excludes left out."""
    copy_sources(directory, context, [source], "/", CopyOptions(None, None))
    return directory if source.is_dir else directory / posixpath.basename(source.name)


def _missing(root: Path, target: str) -> list[Path]:
    """The path components of ``target`` the image lacks, deepest first: the runtime
    creates them as mount points."""
    path = Path(secure_join(str(root), target))
    missing = []
    while path != root and not os.path.lexists(path):
        missing.append(path)
        path = path.parent
    return missing


def _remove_stubs(chain: list[Path]) -> None:
    """Remove the mount points a step's mounts needed, as long as they are empty."""
    for path in chain:
        try:
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            elif path.is_file() and path.stat().st_size == 0:
                path.unlink()
            else:
                return
        except OSError:
            return
