"""Running a Dockerfile: stages and steps, each step from the cache or executed.

The order of Docker's classic builder: meta ARGs, then every needed stage
(FROM, its ONBUILD triggers, its instructions), one ``Step i/n`` line each.
A step is looked up by its cache key first; on a miss it runs (RUN in a
container, COPY/ADD into the mounted image, metadata on the config) and its
image is stored under the key. Nothing is tagged until every step succeeded.
"""

from __future__ import annotations

import codecs
import copy
import hashlib
import itertools
import os
import secrets
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dockyard.build.backend import BuildBackend, BuildImage, RunLimits, RunProcess
from dockyard.build.buildargs import BuildArgs
from dockyard.build.cacheexport import INLINE, CacheOption, CacheRecord
from dockyard.build.cachefrom import restored_config, source_step
from dockyard.build.cachekey import StepInputs, explain_miss
from dockyard.build.chmod import Chmod, parse_chmod
from dockyard.build.context import Source, SourceTree, context_ignore
from dockyard.build.copyfiles import (
    ROOT_OWNER,
    CopyOptions,
    Owner,
    copy_sources,
    destination,
    parse_chown,
)
from dockyard.build.copyselect import (
    exclude_matcher,
    excluded,
    kept_digests,
    parents_destination,
)
from dockyard.build.dag import has_parallel_stages, run_graph, stage_graph
from dockyard.build.dockerignore import IgnoreMatcher
from dockyard.build.exporters import Output
from dockyard.build.gitsource import GitRef, clone, parse_git_ref
from dockyard.build.history import check_platform, child_config, nop, nop_file, scratch
from dockyard.build.imageconfig import ConfigState, apply_metadata, resolve_cmdline
from dockyard.build.instructions import (
    Add,
    Arg,
    Copy,
    FileInstruction,
    Instruction,
    Label,
    Maintainer,
    Run,
    parse_instruction,
)
from dockyard.build.output import BuildOutput
from dockyard.build.parser import heredoc_marker, parse
from dockyard.build.remote import fetch, is_url
from dockyard.build.shell import expand_word
from dockyard.build.stageoutput import StageLines
from dockyard.build.stages import Plan, Stage, needed_stages, plan, stage_reference, target_index
from dockyard.build.stepmounts import MountInputs, StepMounts
from dockyard.errors import InvalidArgument, NotFound, SystemError, with_context
from dockyard.runtime.securejoin import secure_join

DOCKER_IMAGE = "docker-image://"


class StepFailed(SystemError):
    """A RUN exited non-zero: the build stops there."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class BuildRequest:
    dockerfile: str = ""
    dockerfile_name: str = ""  # as the client named it; "" for the default
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str | None] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    network: str = "default"
    extra_hosts: list[str] = field(default_factory=list)
    cache_from: list[str] = field(default_factory=list)
    quiet: bool = False
    explain: bool = False
    limits: RunLimits = field(default_factory=RunLimits)
    secrets: dict[str, bytes] = field(default_factory=dict, repr=False)  # --secret, by id
    ssh: dict[str, str] = field(default_factory=dict)  # --ssh: id -> agent socket path
    output: Output = field(default_factory=Output)
    cache_imports: list[CacheOption] = field(default_factory=list)  # --cache-from type=...
    cache_exports: list[CacheOption] = field(default_factory=list)  # --cache-to
    # --build-context: name → "docker-image://REF", or a directory on this machine.
    contexts: dict[str, str] = field(default_factory=dict)
    # X-Registry-Config: registry domain → (username, password), for registry caches.
    registry_logins: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class BuildResult:
    image_id: str
    # Every step of the build with its cache key, the target stage's apart (--cache-to).
    steps: list[CacheRecord] = field(default_factory=list)
    target_steps: list[CacheRecord] = field(default_factory=list)


@dataclass
class _StageState:
    stage: Stage
    image: BuildImage
    config: ConfigState
    args: BuildArgs
    author: str = ""
    rebuilt: bool = False  # the last step ran: what follows has a new parent


def build(
    request: BuildRequest, context: SourceTree, backend: BuildBackend, output: BuildOutput
) -> BuildResult:
    """Build ``request`` from ``context``. Tags only on success."""
    return _Build(request, context, backend, output).run()


class _Build:
    def __init__(
        self,
        request: BuildRequest,
        context: SourceTree,
        backend: BuildBackend,
        output: BuildOutput,
    ) -> None:
        self.request = request
        self.context = context
        self.backend = backend
        self.out = output
        self.scratch = backend.scratch_dir()
        self.dirs = itertools.count()
        self.escape = "\\"
        self.plan = Plan((), ())
        self.results: dict[int, BuildImage] = {}
        self.sources: list[BuildImage] = []  # the --cache-from images there are
        self.steps: dict[int, list[CacheRecord]] = {}  # by stage index
        self.local_contexts: dict[str, SourceTree] = {}  # --build-context directories used

    def run(self) -> BuildResult:
        dockerfile = parse(self.request.dockerfile, self.request.dockerfile_name)
        self.escape = dockerfile.escape
        self.plan = plan(dockerfile, self.request.dockerfile_name)
        tags = list(dict.fromkeys(self.backend.normalize_tag(t) for t in self.request.tags))
        self.sources = self._cache_sources()
        target = target_index(self.plan, self.request.target)
        args = BuildArgs(dict(self.request.build_args))
        for meta in self.plan.meta_args:
            self._declare(args, meta, args.meta_values(), meta_arg=True)
        stages = needed_stages(self.plan, target, args.meta_values(), self.escape)
        labels = self._label_instruction()
        total = len(self.plan.meta_args) + sum(1 + len(s.commands) for s in stages) + bool(labels)
        step = itertools.count(1)
        for meta in self.plan.meta_args:
            self.out.step(next(step), total, meta.original.strip())
        graph = stage_graph(self.plan, stages, args.meta_values(), self.escape)
        if has_parallel_stages(graph):
            self._run_parallel(stages, graph, args, labels, target)
        else:  # one stage at a time: the classic builder's output, steps numbered across
            for stage in stages:
                extra: list[Instruction] = [labels] if labels and stage.index == target else []
                self.results[stage.index] = self._run_stage(stage, args, extra, step, total)
                self.out.aux(self.results[stage.index].id)
        unused = args.unused()
        if unused:
            self.out.stream(
                f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n"
            )
        image = self.results[target]
        if not image.id:
            raise InvalidArgument("No image was generated. Is your Dockerfile empty?")
        if any(option.type == INLINE for option in self.request.cache_exports):
            image = self.backend.with_inline_cache(image, self.steps.get(target, []))
        for tag in tags:
            self.backend.tag(image.id, tag)
        self.out.result(image.id, tags)
        steps = [step for stage in stages for step in self.steps.get(stage.index, [])]
        return BuildResult(image.id, steps, self.steps.get(target, []))

    def _cache_sources(self) -> list[BuildImage]:
        """The --cache-from images; one that is not here is skipped, as moby does."""
        found = []
        for name in self.request.cache_from:
            try:
                found.append(self.backend.resolve(name))
            except (NotFound, InvalidArgument):
                continue
        return found

    def _label_instruction(self) -> Label | None:
        labels = self.request.labels
        if not labels:
            return None
        text = "LABEL " + " ".join(f"\"{k}\"='{labels[k]}'" for k in sorted(labels))
        pairs = tuple((k, labels[k]) for k in sorted(labels))
        return Label(line=0, original=text, pairs=pairs, literal=True)

    def _declare(self, args: BuildArgs, arg: Arg, env: dict[str, str], meta_arg: bool) -> str:
        declared = []
        for key, default in arg.pairs:
            value = None if default is None else expand_word(default, env, self.escape)
            (args.declare_meta if meta_arg else args.declare)(key, value)
            declared.append(key if value is None else f"{key}={value}")
        return "ARG " + " ".join(declared)

    # -- stages ---------------------------------------------------------------

    def _run_parallel(
        self,
        stages: list[Stage],
        graph: dict[int, set[int]],
        args: BuildArgs,
        labels: Label | None,
        target: int,
    ) -> None:
        """Each stage once those it needs are built, at the same time as the others."""
        by_index = {stage.index: stage for stage in stages}
        lines = StageLines(self.out)
        self.out = lines

        def run_stage(index: int) -> None:
            stage = by_index[index]
            extra: list[Instruction] = [labels] if labels and index == target else []
            lines.stage(stage.name or f"stage-{index}", 1 + len(stage.commands) + len(extra))
            try:
                self.results[index] = self._run_stage(stage, args, extra, itertools.count(1), 0)
            finally:
                lines.flush()
            lines.aux(self.results[index].id)

        try:
            run_graph(graph, run_stage)
        finally:
            self.out = lines.parent

    def _run_stage(
        self,
        stage: Stage,
        args: BuildArgs,
        extra: list[Instruction],
        step: itertools.count[int],
        total: int,
    ) -> BuildImage:
        self.out.step(next(step), total, stage.start.original.strip())
        image = self._base_image(stage, args)
        self.out.image(image.id)
        state = _StageState(
            stage, image, ConfigState(image.run_config, self.escape), args.in_stage()
        )
        self._run_triggers(state)
        for instruction in [*stage.commands, *extra]:
            self.out.step(next(step), total, instruction.original.strip())
            self._dispatch(state, instruction)
            self.out.image(state.image.id)
        return state.image

    def _base_image(self, stage: Stage, args: BuildArgs) -> BuildImage:
        base = stage.start.base
        name = expand_word(base, args.meta_values(), self.escape)
        if not name:
            raise InvalidArgument(f"base name ({base}) should not be blank")
        check_platform(expand_word(stage.start.platform, args.meta_values(), self.escape))
        earlier = stage_reference(self.plan, name, stage.index, by_index=False)
        if earlier is not None:
            return self.results[earlier.index]
        if name in self.request.contexts:
            name = self._named_image(name, f"FROM {name}")
        if name == "scratch":
            return scratch()
        try:
            return self.backend.resolve(name)
        except NotFound:
            # As the classic builder: a base image that is not here is pulled.
            return self.backend.pull(name, self.out.progress)

    def _run_triggers(self, state: _StageState) -> None:
        triggers = state.config.config.get("OnBuild") or []
        if not triggers:
            return
        state.config.config["OnBuild"] = None
        plural = "s" if len(triggers) > 1 else ""
        self.out.stream(f"# Executing {len(triggers)} build trigger{plural}\n")
        for trigger in triggers:
            nodes = parse(trigger).nodes
            if len(nodes) != 1:
                raise InvalidArgument("onbuild trigger should be a single expression")
            self._dispatch(state, parse_instruction(nodes[0]))

    # -- steps ----------------------------------------------------------------

    def _dispatch(self, state: _StageState, instruction: Instruction) -> None:
        state.config.build_args = state.args.allowed()
        state.config.used = set()
        if isinstance(instruction, Run):
            self._run(state, instruction)
        elif isinstance(instruction, FileInstruction):
            self._copy(state, instruction)
        elif isinstance(instruction, Arg):
            comment = self._declare(state.args, instruction, state.config.env(), meta_arg=False)
            self._metadata_step(state, state.config, comment)
        elif isinstance(instruction, Maintainer):
            state.author = instruction.maintainer
            self._metadata_step(state, state.config, f"MAINTAINER {instruction.maintainer}")
        else:
            trial = copy.deepcopy(state.config)
            comment = apply_metadata(trial, instruction)
            self._metadata_step(state, trial, comment)
            state.config = trial

    def _args_used(self, state: _StageState, names: set[str]) -> dict[str, str]:
        allowed = state.args.allowed()
        env_keys = _env_keys(state.config.config)
        return {k: allowed[k] for k in sorted(names) if k in allowed and k not in env_keys}

    def _cached(
        self,
        state: _StageState,
        inputs: StepInputs,
        step: tuple[str, dict[str, Any]],
        execute: Callable[[], BuildImage],
    ) -> None:
        """The step from the cache, or executed and cached. ``step``: the created_by of
        its history entry and the run config it leaves, for the --cache-from sources."""
        key = inputs.key()
        record = self.steps.setdefault(state.stage.index, [])
        if not self.request.no_cache:
            hit = self._cache_hit(state.image, key, *step)
            if hit is not None:
                self.out.stream(" ---> Using cache\n")
                record.append(CacheRecord(key, hit.id, inputs.parent, inputs.record()))
                state.image = hit
                state.rebuilt = False
                return
        if self.request.explain:
            self.out.stream(f" ---> Cache miss: {self._miss_reason(state, inputs)}\n")
        image = execute()
        self.backend.cache_put(key, image.id, inputs.record())
        record.append(CacheRecord(key, image.id, inputs.parent, inputs.record()))
        state.image = image
        state.rebuilt = True

    def _cache_hit(
        self, parent: BuildImage, key: str, created_by: str, run_config: dict[str, Any]
    ) -> BuildImage | None:
        """With --cache-from, as the classic builder: a step of this engine's cache counts
        only when a source descends from it; else a source's history may provide it."""
        hit = self.backend.cache_get(key)
        if not self.sources or (
            hit is not None and any(self.backend.is_ancestor(hit.id, s.id) for s in self.sources)
        ):
            return hit
        found = source_step(self.sources, parent, created_by)
        if found is None:
            return None
        source, index = found
        if index == len(source.config.get("history") or []) - 1:
            return source
        self.sources = [source]  # moby: stay with the source that matched
        return self.backend.adopt(parent, restored_config(parent, run_config, source, index))

    def _miss_reason(self, state: _StageState, inputs: StepInputs) -> str:
        if self.request.no_cache:
            return "the cache is off (--no-cache)"
        if state.rebuilt:
            return "its parent image is new: the step before it was rebuilt"
        return explain_miss(inputs, self.backend.cache_siblings(inputs.parent))

    def _metadata_step(self, state: _StageState, config: ConfigState, comment: str) -> None:
        inputs = StepInputs(state.image.id, comment, self._args_used(state, config.used))
        parent = state.image
        created_by = nop(config.shell(), comment)

        def execute() -> BuildImage:
            image_config = child_config(parent, config.config, created_by, True, state.author)
            return self.backend.commit(parent, image_config, None)

        self._cached(state, inputs, (created_by, config.config), execute)

    def _new_dir(self, purpose: str) -> Path:
        path = self.scratch / f"{next(self.dirs)}-{purpose}"
        path.mkdir()
        return path

    # -- RUN ------------------------------------------------------------------

    def _run(self, state: _StageState, instruction: Run) -> None:
        config = state.config
        command, script = self._command(config, instruction)
        env_keys = _env_keys(config.config)
        recorded = state.args.recorded(env_keys)
        prefix = [f"|{len(recorded)}", *(f"{k}={v}" for k, v in sorted(recorded.items()))]
        created_by = " ".join([*(prefix if recorded else []), *command])
        parent = state.image
        environment = list(config.config.get("Env") or [])
        environment += [f"{k}={v}" for k, v in config.build_args.items() if k not in env_keys]
        process = RunProcess(
            args=command,
            env=environment,
            user=config.config.get("User") or "",
            workdir=config.config.get("WorkingDir") or "/",
            network=_step_network(instruction.network, self.request.network),
            extra_hosts=list(self.request.extra_hosts),
            limits=self.request.limits,
        )

        mounts = self._step_mounts(state, instruction, process.workdir)

        def execute() -> BuildImage:
            upper = self._new_dir("run")
            container = secrets.token_hex(32)
            self.out.stream(f" ---> Running in {container[:12]}\n")
            with self.backend.mount(parent, upper) as root:
                if mounts is None:
                    code = self._run_in(root, process, script)
                else:
                    with mounts.mounted(root) as (step_mounts, env):
                        mounted = replace(
                            process,
                            mounts=step_mounts,
                            env=_with_env(process.env, env),
                            sensitive=mounts.sensitive_env,
                        )
                        code = self._run_in(root, mounted, script)
            if code != 0:
                raise StepFailed(
                    f"The command '{' '.join(command)}' returned a non-zero code: {code}", code
                )
            self.out.stream(f" ---> Removed intermediate container {container[:12]}\n")
            image_config = child_config(parent, config.config, created_by, False, state.author)
            return self.backend.commit(parent, image_config, upper)

        if mounts is None:
            inputs = StepInputs(parent.id, created_by, recorded)
        else:
            key_text = f"{created_by} {mounts.key_text()}"
            inputs = StepInputs(parent.id, key_text, recorded, mounts.files(), mounts.sources())
        self._cached(state, inputs, (created_by, config.config), execute)

    def _step_mounts(self, state: _StageState, instruction: Run, workdir: str) -> StepMounts | None:
        if not instruction.mounts:
            return None
        inputs = MountInputs(
            context=self.context,
            secrets=self.request.secrets,
            ssh=self.request.ssh,
            resolve=lambda name: self._from_image(state, name),
            new_dir=self._new_dir,
        )
        expand = state.config.expander()
        return StepMounts(instruction.mounts, expand, workdir, inputs, self.backend)

    def _command(self, config: ConfigState, instruction: Run) -> tuple[list[str], str]:
        """The RUN's argv, and the script to place at argv[0] for a ``#!`` heredoc."""
        cmdline = instruction.cmdline or ()
        if instruction.heredocs:
            if not instruction.shell_form or len(cmdline) != 1:
                raise InvalidArgument(f"parsing produced an invalid run command: {list(cmdline)}")
            first = instruction.heredocs[0]
            if heredoc_marker(cmdline[0].strip()):
                if first.content.startswith("#!"):
                    return [f"/.dockyard-heredoc-{first.name}"], first.content
                cmdline = (first.content,)
            else:
                cmdline = (
                    cmdline[0] + "".join(f"\n{d.content}{d.name}" for d in instruction.heredocs),
                )
        return resolve_cmdline(config, cmdline, instruction.shell_form) or [], ""

    def _run_in(self, root: Path, process: RunProcess, script: str) -> int:
        workdir = Path(secure_join(str(root), process.workdir))
        workdir.mkdir(parents=True, exist_ok=True)
        script_path = Path(secure_join(str(root), process.args[0])) if script else None
        if script_path is not None:
            script_path.write_text(script)
            script_path.chmod(0o755)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            code = self.backend.run(
                root, process, lambda chunk: self.out.stream(decoder.decode(chunk))
            )
        finally:
            if script_path is not None:
                script_path.unlink(missing_ok=True)
        tail = decoder.decode(b"", final=True)
        if tail:
            self.out.stream(tail)
        return code

    # -- COPY and ADD ---------------------------------------------------------

    def _copy(self, state: _StageState, instruction: FileInstruction) -> None:
        config = state.config
        expand = config.expander()
        patterns = [expand(s) for s in instruction.sources]
        dest_text = expand(instruction.dest)
        chown = expand(instruction.chown)
        chmod = parse_chmod(expand(instruction.chmod))
        excludes = [expand(e) for e in instruction.excludes]
        from_name = expand(instruction.from_) if isinstance(instruction, Copy) else ""
        dest = destination(config.config.get("WorkingDir") or "/", dest_text)
        name = "ADD" if isinstance(instruction, Add) else "COPY"
        with ExitStack() as stack:
            tree, other = self._source_tree(state, from_name, stack)
            selection = _Selection(instruction, patterns, dest, exclude_matcher(excludes))
            try:
                placed, files = self._sources(config, tree, selection, other)
            except InvalidArgument as e:
                raise with_context(e, f"{name} failed") from None
            if not placed:
                raise InvalidArgument(f"{name} failed: no source files were specified")
            if len(placed) > 1 and not dest.endswith("/") and not instruction.parents:
                raise InvalidArgument(
                    f"When using {name} with more than one source file, "
                    "the destination must be a directory and end with a /"
                )
            values = [("from", from_name), ("chown", chown), ("chmod", instruction.chmod)]
            values += [("exclude", e) for e in excludes]
            flags = "".join(f"--{flag}={value} " for flag, value in values if value)
            flags += "".join(f"--{f} " for f in ("link", "parents") if getattr(instruction, f))
            markers = [f"<<{d.name}" for d in instruction.inline]
            text = f"{name} {flags}{' '.join([*patterns, *markers])} {dest_text}"
            args_used = self._args_used(state, config.used)
            inputs = StepInputs(state.image.id, text, args_used, files, other)
            digest = hashlib.sha256(repr((sorted(files.items()), sorted(other.items()))).encode())
            sources = [source for source, _, _ in placed]
            kind = "multi" if len(sources) > 1 else "dir" if sources[0].is_dir else "file"
            owner_note = f"--chown={chown} " if chown else ""
            comment = f"{name} {owner_note}{kind}:{digest.hexdigest()} in {dest} "
            options_owner = None if from_name and not chown else ROOT_OWNER
            parent = state.image
            created_by = nop_file(config.shell(), comment)
            link = instruction.link

            def changes() -> Path:
                """The copied files as an overlay upper dir: on the parent, or alone (--link)."""
                upper = self._new_dir("copy")
                with ExitStack() as mounts:
                    root = mounts.enter_context(
                        self.backend.mount(scratch() if link else parent, upper)
                    )
                    owner = options_owner
                    if chown:
                        names = root  # user and group names: the parent's /etc files
                        if link:
                            names = mounts.enter_context(
                                self.backend.mount(parent, self._new_dir("names"))
                            )
                        owner = parse_chown(chown, names)
                    options = _copy_options(instruction, owner, chmod, selection.exclude)
                    for source, target, source_tree in placed:
                        copy_sources(root, source_tree, [source], target, options)
                return upper

            def execute() -> BuildImage:
                image_config = child_config(parent, config.config, created_by, False, state.author)
                if not link:
                    return self.backend.commit(parent, image_config, changes())
                alone = StepInputs("", text, args_used, files, other)
                return self._linked(parent, image_config, alone, changes)

            self._cached(state, inputs, (created_by, config.config), execute)

    def _linked(
        self,
        parent: BuildImage,
        image_config: dict[str, Any],
        inputs: StepInputs,
        changes: Callable[[], Path],
    ) -> BuildImage:
        """``--link``: the layer depends on the files alone, so one built on another
        parent (same inputs but the parent) is put on this one rather than copied again."""
        key = inputs.key()
        earlier = None if self.request.no_cache else self.backend.cache_get(key)
        if earlier is not None:
            return self.backend.commit(parent, image_config, self.backend.layer_dir(earlier))
        image = self.backend.commit(parent, image_config, changes())
        self.backend.cache_put(key, image.id, inputs.record())
        return image

    def _source_tree(
        self, state: _StageState, from_name: str, stack: ExitStack
    ) -> tuple[SourceTree, dict[str, str]]:
        """Where the sources come from: the context, or a stage's or image's filesystem."""
        if not from_name:
            return self.context, {}
        earlier = stage_reference(self.plan, from_name, state.stage.index)
        if earlier is None and from_name in self.request.contexts:
            local = self._local_context(from_name)
            if local is not None:
                return local, {}
        image = self._from_image(state, from_name)
        root = stack.enter_context(self.backend.mount(image, self._new_dir("from")))
        return SourceTree(root), {f"--from={from_name}": image.id or "scratch"}

    def _from_image(self, state: _StageState, name: str) -> BuildImage:
        """What a ``--from`` or a mount's ``from=`` names: an earlier stage, an image a
        ``--build-context`` names, or an image."""
        earlier = stage_reference(self.plan, name, state.stage.index)
        if earlier is not None:
            return self.results[earlier.index]
        if name in self.request.contexts:
            return self.backend.resolve(self._named_image(name, ""))
        return self.backend.resolve(name)

    def _named_image(self, name: str, use: str) -> str:
        """The image a ``--build-context name=docker-image://REF`` names."""
        value = self.request.contexts[name]
        if not value.startswith(DOCKER_IMAGE):
            raise InvalidArgument(
                f"{use}: the build context {name} is a directory: copy from it "
                f"(COPY --from={name}) rather than build on it"
            )
        return value.removeprefix(DOCKER_IMAGE)

    def _local_context(self, name: str) -> SourceTree | None:
        """The tree of a ``--build-context name=DIR``; None for an image's."""
        value = self.request.contexts[name]
        if value.startswith(DOCKER_IMAGE):
            return None
        if name not in self.local_contexts:
            root = Path(value)
            self.local_contexts[name] = SourceTree(
                root, context_ignore(root), hasher=self.context.hasher
            )
        return self.local_contexts[name]

    def _sources(
        self,
        config: ConfigState,
        tree: SourceTree,
        selection: _Selection,
        other: dict[str, str],
    ) -> tuple[list[_Placed], dict[str, str]]:
        """Each source with the destination it goes to, and the context files' digests."""
        instruction, dest = selection.instruction, selection.dest
        placed: list[_Placed] = []
        files: dict[str, str] = {}
        for pattern in selection.patterns:
            if isinstance(instruction, Add) and (git := parse_git_ref(pattern)) is not None:
                placed.append(self._git_source(git, instruction, dest, other, pattern))
                continue
            if is_url(pattern):
                if not isinstance(instruction, Add):
                    raise InvalidArgument("source can't be a URL for COPY")
                path, name, digest = fetch(pattern, self._new_dir("url"), dest.endswith("/"))
                _verify_checksum(instruction, digest)
                placed.append((Source(name, path, False, downloaded=True), dest, tree))
                other[pattern] = digest
                continue
            if isinstance(instruction, Add) and instruction.checksum:
                raise InvalidArgument("checksum can't be specified for non-HTTP(S) sources")
            # Files of a named context are keyed as "NAME:path", the context's as "path".
            named = [f"{n}:" for n, t in self.local_contexts.items() if t is tree]
            prefix = named[0] if named else ""
            for source in tree.sources(pattern):
                if excluded(source, selection.exclude):
                    continue
                target = dest
                if instruction.parents:
                    target = parents_destination(pattern, source, dest)
                placed.append((source, target, tree))
                if tree is self.context or named:
                    digests = kept_digests(tree.digests(source), source, selection.exclude)
                    files.update({prefix + k: v for k, v in digests.items()})
        for doc in instruction.inline:
            directory = self._new_dir("heredoc")
            content = config.expand_raw(doc.content) if doc.expand else doc.content
            path = directory / doc.name
            path.write_text(content)
            os.chmod(path, 0o644)
            placed.append((Source(doc.name, path, False), dest, tree))
            other[f"<<{doc.name}"] = hashlib.sha256(content.encode()).hexdigest()
        return placed, files

    def _git_source(
        self, git: GitRef, instruction: Add, dest: str, other: dict[str, str], pattern: str
    ) -> _Placed:
        checkout, commit = clone(
            git, self._new_dir("git"), instruction.keep_git_dir, self.request.ssh.get("default", "")
        )
        if instruction.checksum and instruction.checksum != commit:
            raise InvalidArgument(
                f"expected checksum to match {instruction.checksum}, got {commit}"
            )
        other[pattern] = commit + (" --keep-git-dir" if instruction.keep_git_dir else "")
        return Source(".", checkout, True), dest, SourceTree(checkout)


# A source, where it goes, and the tree it is read from.
_Placed = tuple[Source, str, SourceTree]


@dataclass(frozen=True)
class _Selection:
    """What a COPY or ADD takes, as its flags and arguments say after expansion."""

    instruction: FileInstruction
    patterns: list[str]
    dest: str
    exclude: IgnoreMatcher | None


def _copy_options(
    instruction: FileInstruction,
    owner: Owner | None,
    chmod: Chmod | None,
    exclude: IgnoreMatcher | None,
) -> CopyOptions:
    if not isinstance(instruction, Add):
        return CopyOptions(owner, chmod, exclude=exclude)
    unpack = instruction.unpack
    return CopyOptions(owner, chmod, unpack is not False, unpack is True, exclude)


def _verify_checksum(instruction: FileInstruction, digest: str) -> None:
    """``ADD --checksum=sha256:<hex>``: the download must be exactly that."""
    if not isinstance(instruction, Add) or not instruction.checksum:
        return
    if instruction.checksum != f"sha256:{digest}":
        raise InvalidArgument(f"digest mismatch {instruction.checksum}: sha256:{digest}")


def _with_env(env: list[str], extra: list[str]) -> list[str]:
    """``env`` with the ``extra`` entries set, replacing those of the same names."""
    names = {entry.partition("=")[0] for entry in extra}
    return [*(e for e in env if e.partition("=")[0] not in names), *extra]


def _step_network(flag: str, build: str) -> str:
    """A RUN step's network: its --network flag; without one, or with ``default``, the build's."""
    return flag if flag not in ("", "default") else build


def _env_keys(config: dict[str, Any]) -> set[str]:
    return {entry.partition("=")[0] for entry in config.get("Env") or []}
