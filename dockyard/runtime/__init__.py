"""The built-in OCI runtime: an OCI bundle (config.json + rootfs) → an isolated process.

    container    create / Init.start / exec_process / delete: what the shim calls
    spec         docker_default_spec(SpecOptions): the config.json Docker would write
    users        resolve_user: --user against the image's /etc/passwd and /etc/group
    cgroups      one Cgroup interface, cgroup v1 and v2 backends
    devicefilter device rules as the eBPF program cgroup v2 asks
    devices      --device, --privileged and runc's default nodes and rules; mknod in /dev
    mounts       the rootfs inside the new mount namespace, pivot_root
    process      rlimits, user, capabilities, cwd, executable lookup, execve
    linux        the raw syscalls (ctypes)
    configfile   reading a bundle's config.json
    securejoin   resolving image paths without leaving the rootfs
    capabilities capability names and numbers, Docker's default set
    __main__     `python -m dockyard.runtime run`, like `runc run`
    shim         the per-container supervisor that calls `container`
    jsonlog      Docker's json-file log format, written by the shim

The modules on the `run` path import nothing slow (no json, signal, typing,
dataclasses, pathlib): on a small machine each of those costs 5-20 ms of
start-up, and this start-up is part of every container the CLI runs. This
package's own import is empty for the same reason.
"""
