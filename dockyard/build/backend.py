"""What a build needs from the engine, as a narrow Protocol.

``dockyard.build`` sits below ``dockyard.engine`` and must not import it; the
engine implements this Protocol (``engine/builds.py``) with its image store,
layer store, runtime and the ``build_cache`` table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from dockyard.build.cacheexport import CacheRecord


@dataclass(frozen=True)
class BuildImage:
    """An image as a build sees it."""

    id: str  # "sha256:<hex>", "" for scratch
    config: dict[str, Any]  # the whole OCI image config: "config", "history", "rootfs", "os", ...

    @property
    def run_config(self) -> dict[str, Any]:
        return dict(self.config.get("config") or {})


@dataclass(frozen=True)
class RunLimits:
    """Resource limits of RUN containers (``docker build --memory`` and friends); 0: none."""

    memory: int = 0
    memory_swap: int = 0
    cpu_shares: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    shm_size: int = 0


@dataclass(frozen=True)
class StepMount:
    """A mount of one RUN step (``RUN --mount``), as the container gets it."""

    target: str  # absolute, in the container
    source: str = ""  # a host path to bind; "" for a tmpfs
    readonly: bool = False
    size: int = 0  # of a tmpfs, bytes; 0: the kernel's default


@dataclass(frozen=True)
class RunProcess:
    """One RUN step's process."""

    args: list[str]
    env: list[str]
    user: str = ""
    workdir: str = "/"
    network: str = "default"  # default | none | host
    extra_hosts: list[str] = field(default_factory=list)
    limits: RunLimits = field(default_factory=RunLimits)
    mounts: tuple[StepMount, ...] = ()
    sensitive: bool = False  # env holds secret values: nothing of it may reach a disk


class BuildBackend(Protocol):
    def resolve(self, name: str) -> BuildImage:
        """The local image called ``name`` (a reference or an id); raises NotFound."""
        ...

    def pull(self, name: str, progress: Callable[[dict[str, Any]], None]) -> BuildImage:
        """Pull the base image ``name`` that is not here, reporting as a pull does."""
        ...

    def normalize_tag(self, reference: str) -> str:
        """The full "repo:tag" a ``-t`` value names; raises InvalidArgument."""
        ...

    def scratch_dir(self) -> Path:
        """A new empty directory on the store's filesystem; the build removes it."""
        ...

    def mount(self, image: BuildImage, upper: Path) -> AbstractContextManager[Path]:
        """The image's filesystem with ``upper`` as its writable layer, mounted while in use."""
        ...

    def run(self, root: Path, process: RunProcess, output: Callable[[bytes], None]) -> int:
        """Run ``process`` in a container on the mounted ``root``; returns its exit status."""
        ...

    def commit(
        self, parent: BuildImage, config: dict[str, Any], changes: Path | None
    ) -> BuildImage:
        """Store a new image with the whole image ``config`` (its rootfs lists the
        parent's layers); ``changes``, an overlay upper dir, becomes one more layer."""
        ...

    def layer_dir(self, image: BuildImage) -> Path:
        """The directory of ``image``'s topmost layer: its changes, as an overlay upper dir."""
        ...

    def adopt(self, parent: BuildImage, config: dict[str, Any]) -> BuildImage:
        """Store a new image with the whole image ``config``, all of whose layers
        (its rootfs) are stored already: a step taken from a --cache-from source."""
        ...

    def with_inline_cache(self, image: BuildImage, records: list[CacheRecord]) -> BuildImage:
        """A new image: ``image`` carrying ``records``, the steps that made it, in its
        config (``--cache-to type=inline``)."""
        ...

    def is_ancestor(self, image_id: str, descendant: str) -> bool:
        """Whether ``descendant`` was built or committed on ``image_id``, at any depth."""
        ...

    def tag(self, image_id: str, reference: str) -> None: ...

    def cache_mount(
        self, key: str, sharing: str, init: Callable[[Path], None]
    ) -> AbstractContextManager[Path]:
        """The persistent directory of a ``RUN --mount=type=cache`` while a step uses it,
        shared, private or locked as ``sharing`` says; ``init`` fills one just made."""
        ...

    def memory_dir(self) -> AbstractContextManager[Path]:
        """A new directory on a tmpfs only root reads, gone on exit: where secrets go."""
        ...

    def cache_get(self, key: str) -> BuildImage | None:
        """The image stored under ``key``, if it still exists."""
        ...

    def cache_put(self, key: str, image_id: str, inputs: dict[str, Any]) -> None: ...

    def cache_siblings(self, parent: str) -> Iterator[dict[str, Any]]:
        """Inputs of cache entries built on ``parent``, most recently used first."""
        ...
