"""dockyardd's daemon.json: dockerd's keys, its start errors, and what SIGHUP reloads."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api import wire
from tests.conftest import DOCKYARDD, Daemon, Roots, daemon_config, import_busybox
from tests.e2e.helpers import wait_until
from tests.ready import answers_ping


def _start(roots: Roots, *args: str) -> subprocess.CompletedProcess[str]:
    command = [DOCKYARDD, "--data-root", str(roots.data_root), "--exec-root", str(roots.exec_root)]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=30)


def _refusal(roots: Roots, directives: Any, *args: str) -> str:
    """What dockyardd says when ``directives`` (as the file's JSON) stop its start."""
    path = roots.base / "daemon.json"
    path.write_text(json.dumps(directives))
    result = _start(roots, "--config-file", str(path), "-H", roots.host, *args)
    assert result.returncode == 1
    assert not roots.socket.exists()
    prefix = f"dockyardd: unable to configure the Docker daemon with file {path}: "
    line = result.stderr.strip()
    assert line.startswith(prefix), line
    return line.removeprefix(prefix)


def test_a_directive_given_as_flag_and_in_the_file_is_refused(roots: Roots) -> None:
    other = f"unix://{roots.base}/other.sock"
    # In the order of the flags' names, as dockerd lists them.
    assert _refusal(roots, {"hosts": [other], "debug": True}, "-D") == (
        "the following directives are specified both as a flag and in the configuration file: "
        "debug: (from flag: true, from file: true), "
        f"hosts: (from flag: [{roots.host}], from file: [{other}])"
    )


def test_transfer_concurrency_flags_are_the_files_keys(roots: Roots) -> None:
    directives = {"max-concurrent-downloads": 2, "max-concurrent-uploads": 1}
    args = ("--max-concurrent-downloads", "4", "--max-concurrent-uploads", "6")
    assert _refusal(roots, directives, *args) == (
        "the following directives are specified both as a flag and in the configuration file: "
        "max-concurrent-downloads: (from flag: 4, from file: 2), "
        "max-concurrent-uploads: (from flag: 6, from file: 1)"
    )


def test_unknown_and_unsupported_directives_are_refused(roots: Roots) -> None:
    assert _refusal(roots, {"debug": False, "no-such": 1, "other": "x"}) == (
        "the following directives don't match any configuration option: no-such, other"
    )
    assert _refusal(roots, {"userns-remap": "default"}) == (
        "the following directives are not supported by dockyard: userns-remap"
    )


@pytest.mark.parametrize(
    ("directives", "message"),
    [
        (
            {"debug": "yes"},
            "json: cannot unmarshal string into Go struct field Config.debug of type bool",
        ),
        (
            {"registry-mirrors": "http://m"},
            "json: cannot unmarshal string into Go struct field Config.registry-mirrors "
            "of type []string",
        ),
        (
            {"registry-mirrors": ["ftp://mirror.test"]},
            'invalid mirror: unsupported scheme "ftp" in "ftp://mirror.test"',
        ),
        (
            {"insecure-registries": ["tcp://r.test"]},
            "insecure registry tcp://r.test should not contain '://'",
        ),
        ({"labels": ["novalue"]}, "failed to validate labels: bad attribute format: novalue"),
        ({"labels": ["a=1", "a=1", "a=2"]}, "conflict labels for a=2 and a=1"),
        (
            {"log-driver": "syslog"},
            'error looking up logging plugin syslog: plugin "syslog" not found',
        ),
        (
            {"log-opts": {"max-size": "1m", "bogus": "1"}},
            "unknown log opt 'bogus' for json-file log driver",
        ),
        ({"dns": ["8.8.8"]}, "IP address is not correctly formatted: 8.8.8"),
        ({"dns-search": ["a_b.test"]}, "a_b.test is not a valid domain"),
        (
            {"default-ulimits": {"nofile": {"Name": "nofile", "Soft": "many"}}},
            "json: cannot unmarshal string into Go struct field Ulimit.default-ulimits.Soft "
            "of type int64",
        ),
        ({"default-ulimits": {"files": {"Soft": 1, "Hard": 1}}}, "invalid ulimit type: files"),
        ({"default-runtime": "nope"}, "specified default runtime 'nope' does not exist"),
        (
            {"seccomp-profile": "/no/such/profile.json"},
            "opening seccomp profile (/no/such/profile.json) failed: no such file or directory",
        ),
        ({"bip": "10.213.0.0/24"}, "invalid bip 10.213.0.0/24: not a host address of its subnet"),
        (
            {"default-address-pools": [{"base": "10.214.0.0/16", "size": 8}]},
            "invalid pools size: 8 for base pool 10.214.0.0/16",
        ),
        ({"max-concurrent-downloads": -1}, "invalid max concurrent downloads: -1"),
        (
            {"max-concurrent-uploads": "5"},
            "json: cannot unmarshal string into Go struct field Config.max-concurrent-uploads "
            "of type int",
        ),
        ([], "json: cannot unmarshal array into Go value of type map[string]any"),
    ],
)
def test_bad_values_are_refused_at_start(roots: Roots, directives: Any, message: str) -> None:
    assert _refusal(roots, directives) == message


def test_a_config_file_named_but_missing_is_an_error(roots: Roots) -> None:
    missing = roots.base / "missing.json"
    result = _start(roots, "--config-file", str(missing), "-H", roots.host)
    assert (result.returncode, result.stderr.strip()) == (
        1,
        f"dockyardd: unable to configure the Docker daemon with file {missing}: "
        f"open {missing}: no such file or directory",
    )


@contextlib.contextmanager
def _serving(
    roots: Roots, busybox_tar: Path, directives: dict[str, Any], *flags: str
) -> Iterator[Daemon]:
    """A daemon whose data root, socket and ``directives`` come from its daemon.json; and ``flags``."""
    import_busybox(roots.data_root, roots.exec_root, busybox_tar)
    path = daemon_config(
        roots.base,
        {
            "data-root": str(roots.data_root),
            "exec-root": str(roots.exec_root),
            "hosts": [roots.host],
            **directives,
        },
    )
    roots.exec_root.mkdir(parents=True, exist_ok=True)
    log = open(roots.base / "daemon.log", "ab")  # noqa: SIM115 - the daemon's own stderr
    process = subprocess.Popen(
        [DOCKYARDD, "--config-file", str(path), *flags],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    daemon = Daemon(roots, process)
    try:
        wait_until(lambda: answers_ping(roots.socket), timeout=20, what="the daemon to serve")
        yield daemon
    finally:
        for cid in daemon.cli("ps", "-aq").stdout.split():
            daemon.cli("rm", "-f", cid)
        daemon.stop()
        log.close()


@pytest.fixture
def configured(roots: Roots, busybox_tar: Path) -> Iterator[Daemon]:
    """A daemon whose defaults all come from its daemon.json."""
    directives = {
        "labels": ["site=test"],
        "registry-mirrors": ["http://127.0.0.1:1"],
        "insecure-registries": ["r.test:5000", "10.99.0.0/16"],
        "log-driver": "local",
        "log-opts": {"max-size": "2m"},
    }
    with _serving(roots, busybox_tar, directives) as daemon:
        yield daemon


def _info(daemon: Daemon) -> dict[str, Any]:
    return dict(wire.request(str(daemon.roots.socket), "GET", "/v1.44/info").json())


def test_the_file_configures_the_daemon(configured: Daemon) -> None:
    info = _info(configured)
    assert info["DockerRootDir"] == str(configured.roots.data_root)
    assert info["Labels"] == ["site=test"]
    assert info["LoggingDriver"] == "local"
    registries = info["RegistryConfig"]
    assert registries["Mirrors"] == ["http://127.0.0.1:1/"]
    assert registries["IndexConfigs"]["docker.io"]["Mirrors"] == ["http://127.0.0.1:1/"]
    assert registries["IndexConfigs"]["r.test:5000"]["Secure"] is False
    assert registries["InsecureRegistryCIDRs"] == ["::1/128", "127.0.0.0/8", "10.99.0.0/16"]
    # The default log driver and its options, for a container that names none...
    assert configured.cli("create", "--name", "quiet", "busybox").returncode == 0
    log_config = json.loads(
        configured.cli("inspect", "-f", "{{json .HostConfig.LogConfig}}", "quiet").stdout
    )
    assert log_config == {"Type": "local", "Config": {"max-size": "2m"}}
    # ...and not for one that names another driver.
    assert (
        configured.cli("create", "--name", "own", "--log-driver", "json-file", "busybox").returncode
        == 0
    )
    own = json.loads(
        configured.cli("inspect", "-f", "{{json .HostConfig.LogConfig}}", "own").stdout
    )
    assert own == {"Type": "json-file", "Config": {}}


def _logged(daemon: Daemon, text: str) -> bool:
    return text in (daemon.roots.base / "daemon.log").read_text()


def test_sighup_reloads_labels_and_registries(configured: Daemon) -> None:
    path = configured.roots.base / "daemon.json"
    directives = json.loads(path.read_text())
    directives.update(
        {
            "labels": ["site=moved"],
            "registry-mirrors": ["https://mirror.test"],
            "debug": True,
            "default-runtime": "dockyard",
            "max-concurrent-downloads": 2,
        }
    )
    path.write_text(json.dumps(directives))
    configured.process.send_signal(signal.SIGHUP)
    wait_until(lambda: _logged(configured, "Reloaded configuration: "), what="the reload")
    info = _info(configured)
    assert (info["Labels"], info["Debug"]) == (["site=moved"], True)
    assert info["RegistryConfig"]["Mirrors"] == ["https://mirror.test/"]
    assert info["DefaultRuntime"] == "dockyard"
    assert configured.cli("create", "--name", "after", "busybox").returncode == 0
    runtime = configured.cli("inspect", "-f", "{{.HostConfig.Runtime}}", "after").stdout
    assert runtime.strip() == "dockyard"
    # As moby: a daemon event "reload" with what it applied.
    daemon_events = urllib.parse.quote(json.dumps({"type": ["daemon"]}))
    url = f"/v1.44/events?since=0&until={int(time.time()) + 1}&filters={daemon_events}"
    reply = wire.request(str(configured.roots.socket), "GET", url)
    [event] = [json.loads(line) for line in reply.body.splitlines()]
    assert (event["Type"], event["Action"], event["Actor"]["ID"]) == (
        "daemon",
        "reload",
        info["ID"],
    )
    attributes = event["Actor"]["Attributes"]
    assert attributes["labels"] == '["site=moved"]' and attributes["debug"] == "true"
    assert attributes["registry-mirrors"] == '["https://mirror.test/"]'
    assert attributes["default-runtime"] == "dockyard" and attributes["name"] == info["Name"]
    assert (attributes["max-concurrent-downloads"], attributes["max-concurrent-uploads"]) == (
        "2",
        "5",  # the default, not given
    )

    # A file that cannot configure the daemon changes nothing: the daemon keeps serving.
    path.write_text(json.dumps({**directives, "labels": ["gone=yes"], "no-such": True}))
    configured.process.send_signal(signal.SIGHUP)
    wait_until(lambda: _logged(configured, "Error reconfiguring the daemon: "), what="the refusal")
    assert _info(configured)["Labels"] == ["site=moved"]
    assert configured.process.poll() is None


def test_test_daemons_read_their_own_file(daemon: Daemon) -> None:
    """The suite's daemons never read /etc/dockyard/daemon.json, whatever this machine has."""
    cmdline = Path(f"/proc/{daemon.process.pid}/cmdline").read_bytes().split(b"\0")
    given = cmdline[cmdline.index(b"--config-file") + 1].decode()
    assert given == str(daemon.roots.base / "daemon.json")
    assert json.loads(Path(given).read_text()) == {}


def _resolv_conf(daemon: Daemon, *args: str) -> str:
    result = daemon.cli("run", "--rm", *args, "busybox", "cat", "/etc/resolv.conf")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_dns_directives_are_the_default_of_containers(roots: Roots, busybox_tar: Path) -> None:
    # Loopback nameservers: written into resolv.conf, never asked.
    directives = {"dns": ["127.0.0.53"], "dns-search": ["corp.test"], "dns-opts": ["timeout:3"]}
    with _serving(roots, busybox_tar, directives) as daemon:
        lines = _resolv_conf(daemon).splitlines()
        assert "nameserver 127.0.0.53" in lines
        assert "search corp.test" in lines
        assert "options timeout:3" in lines
        # A container's own settings replace the daemon's, each on its own.
        own = _resolv_conf(daemon, "--dns", "127.0.0.54").splitlines()
        assert "nameserver 127.0.0.54" in own
        assert "nameserver 127.0.0.53" not in own
        assert "search corp.test" in own
        # On a user-defined network the embedded server forwards to the daemon's nameservers.
        network = "dnsnet"
        assert daemon.cli("network", "create", network).returncode == 0
        try:
            embedded = _resolv_conf(daemon, "--network", network)
        finally:
            daemon.cli("network", "rm", network)
        assert "nameserver 127.0.0.11" in embedded.splitlines()
        assert "# ExtServers: [127.0.0.53]" in embedded.splitlines()


def test_default_ulimits_apply_to_containers_without_their_own(
    roots: Roots, busybox_tar: Path
) -> None:
    # Below this machine's hard limit: root here cannot raise it (no CAP_SYS_RESOURCE).
    ulimits = {
        "nofile": {"Name": "nofile", "Soft": 4321, "Hard": 8765},
        "nproc": {"Name": "nproc", "Soft": 3000, "Hard": 3000},
    }
    with _serving(roots, busybox_tar, {"default-ulimits": ulimits}) as daemon:
        script = "ulimit -n; ulimit -Hn; ulimit -u"
        ran = daemon.cli("run", "--rm", "busybox", "sh", "-c", script)
        assert ran.stdout.split() == ["4321", "8765", "3000"], ran.stderr
        # A container's own --ulimit replaces the default of that name only.
        own = daemon.cli(
            "run", "--rm", "--ulimit", "nofile=1000:2000", "busybox", "sh", "-c", script
        )
        assert own.stdout.split() == ["1000", "2000", "3000"], own.stderr
        # The defaults are the daemon's, not written into the container's HostConfig.
        assert daemon.cli("create", "--name", "plain", "busybox").returncode == 0
        host_ulimits = daemon.cli("inspect", "-f", "{{json .HostConfig.Ulimits}}", "plain").stdout
        assert "nofile" not in host_ulimits


def test_default_runtime_is_the_runtime_of_containers_naming_none(
    roots: Roots, busybox_tar: Path
) -> None:
    runtime = "io.containerd.runc.v2"  # the runc binary (Makefile's APT_PACKAGES)
    with _serving(roots, busybox_tar, {"default-runtime": runtime}) as daemon:
        assert _info(daemon)["DefaultRuntime"] == runtime
        ran = daemon.cli("run", "--name", "plain", "busybox", "echo", "hi")
        assert ran.stdout == "hi\n", ran.stderr
        assert daemon.cli("create", "--name", "own", "--runtime", "runc", "busybox").returncode == 0
        runtimes = daemon.cli("inspect", "-f", "{{.HostConfig.Runtime}}", "plain", "own")
        assert runtimes.stdout.split() == [runtime, "runc"]


# A profile that lets everything but mkdir through: a container under it cannot make a directory.
NO_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
}


def test_seccomp_profile_is_the_default_of_containers(roots: Roots, busybox_tar: Path) -> None:
    profile = roots.base / "no-mkdir.json"
    profile.write_text(json.dumps(NO_MKDIR))
    with _serving(roots, busybox_tar, {"seccomp-profile": str(profile)}) as daemon:
        info = _info(daemon)
        assert f"name=seccomp,profile={profile}" in info["SecurityOptions"]
        assert info["Warnings"] == ["WARNING: daemon is not using the default seccomp profile"]
        refused = daemon.cli("run", "--rm", "busybox", "mkdir", "/made")
        assert refused.returncode == 1
        assert "Operation not permitted" in refused.stderr
        # A container's own profile replaces the daemon's.
        own = daemon.cli(
            "run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "mkdir", "/made"
        )
        assert own.returncode == 0, own.stderr


def test_seccomp_profile_unconfined(roots: Roots, busybox_tar: Path) -> None:
    with _serving(roots, busybox_tar, {"seccomp-profile": "unconfined"}) as daemon:
        assert "name=seccomp,profile=unconfined" in _info(daemon)["SecurityOptions"]
        status = daemon.cli("run", "--rm", "busybox", "grep", "^Seccomp:", "/proc/self/status")
        assert status.stdout.split() == ["Seccomp:", "0"], status.stderr
        filtered = daemon.cli(
            "run",
            "--rm",
            "--security-opt",
            "seccomp=builtin",
            "busybox",
            "grep",
            "^Seccomp:",
            "/proc/self/status",
        )
        assert filtered.stdout.split() == ["Seccomp:", "2"], filtered.stderr


def _ipam(daemon: Daemon, network: str) -> list[dict[str, str]]:
    shown = daemon.cli("network", "inspect", "-f", "{{json .IPAM.Config}}", network)
    assert shown.returncode == 0, shown.stderr
    return list(json.loads(shown.stdout))


def test_bip_and_default_address_pools(roots: Roots, busybox_tar: Path) -> None:
    # Ranges of this test only.
    directives: dict[str, Any] = {
        "bip": "10.213.0.1/24",
        "default-address-pools": [{"base": "10.214.0.0/16", "size": 24}],
    }
    with _serving(roots, busybox_tar, directives) as daemon:
        assert _ipam(daemon, "bridge") == [{"Subnet": "10.213.0.0/24", "Gateway": "10.213.0.1"}]
        address = daemon.cli("run", "--rm", "busybox", "hostname", "-i")
        assert address.stdout.split() == ["10.213.0.2"], address.stderr
        # User networks given no subnet get theirs from the pools, in order.
        for name in ("pooled1", "pooled2"):
            assert daemon.cli("network", "create", name).returncode == 0
        try:
            assert _ipam(daemon, "pooled1") == [
                {"Subnet": "10.214.0.0/24", "Gateway": "10.214.0.1"}
            ]
            assert _ipam(daemon, "pooled2") == [
                {"Subnet": "10.214.1.0/24", "Gateway": "10.214.1.1"}
            ]
        finally:
            daemon.cli("network", "rm", "pooled1", "pooled2")
    # Started again with another bip, the daemon moves the default bridge there.
    with _serving(roots, busybox_tar, {"bip": "10.213.1.129/25"}) as daemon:
        assert _ipam(daemon, "bridge") == [{"Subnet": "10.213.1.128/25", "Gateway": "10.213.1.129"}]
        address = daemon.cli("run", "--rm", "busybox", "hostname", "-i")
        assert address.stdout.split() == ["10.213.1.130"], address.stderr


# ---------------------------------------------------------------------- the same keys as flags
def test_flags_set_the_defaults_of_containers(roots: Roots, busybox_tar: Path) -> None:
    profile = roots.base / "no-mkdir.json"
    profile.write_text(json.dumps(NO_MKDIR))
    flags = (
        *("--dns", "127.0.0.53", "--dns-search", "corp.test", "--dns-opt", "timeout:3"),
        *("--default-ulimit", "nofile=4321:8765", "--default-ulimit", "nproc=3000"),
        *("--bip", "10.217.0.1/24", "--default-address-pool", "base=10.218.0.0/16,size=24"),
        *("--seccomp-profile", str(profile)),
    )
    with _serving(roots, busybox_tar, {}, *flags) as daemon:
        lines = _resolv_conf(daemon).splitlines()
        assert {"nameserver 127.0.0.53", "search corp.test", "options timeout:3"} <= set(lines)
        ran = daemon.cli("run", "--rm", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn; ulimit -u")
        assert ran.stdout.split() == ["4321", "8765", "3000"], ran.stderr
        assert _ipam(daemon, "bridge") == [{"Subnet": "10.217.0.0/24", "Gateway": "10.217.0.1"}]
        address = daemon.cli("run", "--rm", "busybox", "hostname", "-i")
        assert address.stdout.split() == ["10.217.0.2"], address.stderr
        assert daemon.cli("network", "create", "pooled").returncode == 0
        try:
            assert _ipam(daemon, "pooled") == [{"Subnet": "10.218.0.0/24", "Gateway": "10.218.0.1"}]
        finally:
            daemon.cli("network", "rm", "pooled")
        assert f"name=seccomp,profile={profile}" in _info(daemon)["SecurityOptions"]
        refused = daemon.cli("run", "--rm", "busybox", "mkdir", "/made")
        assert (refused.returncode, "Operation not permitted" in refused.stderr) == (1, True)


def test_flags_set_the_daemons_settings(roots: Roots, busybox_tar: Path) -> None:
    runtime = "io.containerd.runc.v2"  # the runc binary (Makefile's APT_PACKAGES)
    flags = (
        *("--label", "site=flag", "--label", "tier=test"),
        *("--registry-mirror", "http://127.0.0.1:1", "--insecure-registry", "r.test:5000"),
        *("--log-driver", "local", "--log-opt", "max-size=2m", "--log-opt", "max-file=2"),
        *("--default-runtime", runtime),
    )
    with _serving(roots, busybox_tar, {}, *flags) as daemon:
        info = _info(daemon)
        assert info["Labels"] == ["site=flag", "tier=test"]
        assert info["LoggingDriver"] == "local"
        assert info["DefaultRuntime"] == runtime
        assert info["RegistryConfig"]["Mirrors"] == ["http://127.0.0.1:1/"]
        assert info["RegistryConfig"]["IndexConfigs"]["r.test:5000"]["Secure"] is False
        assert daemon.cli("create", "--name", "plain", "busybox").returncode == 0
        shown = daemon.cli(
            "inspect", "-f", "{{json .HostConfig.LogConfig}} {{.HostConfig.Runtime}}", "plain"
        ).stdout.split(" ")
        assert json.loads(shown[0]) == {
            "Type": "local",
            "Config": {"max-size": "2m", "max-file": "2"},
        }
        assert shown[1].strip() == runtime


def test_a_flag_and_the_same_key_in_the_file_are_refused(roots: Roots) -> None:
    directives = {
        "dns": ["127.0.0.53"],
        "log-opts": {"max-size": "1m"},
        "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1048576, "Hard": 1048576}},
        "default-address-pools": [{"base": "10.214.0.0/16", "size": 24}],
        "seccomp-profile": "unconfined",
    }
    flags = (
        *("--seccomp-profile", "builtin", "--dns", "127.0.0.54", "--dns", "127.0.0.55"),
        *("--log-opt", "max-file=2", "--default-ulimit", "nofile=10:20"),
        *("--default-address-pool", "base=10.219.0.0/16,size=24"),
    )
    assert _refusal(roots, directives, *flags) == (
        "the following directives are specified both as a flag and in the configuration file: "
        "default-address-pools: (from flag: 10.219.0.0/16 24, "
        "from file: [map[base:10.214.0.0/16 size:24]]), "
        "default-ulimits: (from flag: [nofile=10:20], "
        "from file: map[nofile:map[Hard:1.048576e+06 Name:nofile Soft:1.048576e+06]]), "
        "dns: (from flag: [127.0.0.54 127.0.0.55], from file: [127.0.0.53]), "
        "log-opts: (from flag: map[max-file:2], from file: map[max-size:1m]), "
        "seccomp-profile: (from flag: builtin, from file: unconfined)"
    )


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (("--dns", "8.8.8"), "IP address is not correctly formatted: 8.8.8"),
        (("--dns-search", "a_b.test"), "a_b.test is not a valid domain"),
        (("--label", "novalue"), "failed to validate labels: bad attribute format: novalue"),
        (
            ("--registry-mirror", "ftp://mirror.test"),
            'invalid mirror: unsupported scheme "ftp" in "ftp://mirror.test"',
        ),
        (
            ("--insecure-registry", "tcp://r.test"),
            "insecure registry tcp://r.test should not contain '://'",
        ),
        (("--default-ulimit", "files=1"), "invalid ulimit type: files"),
        (
            ("--default-ulimit", "nofile=2:1"),
            "ulimit soft limit must be less than or equal to hard limit: 2 > 1",
        ),
        (
            ("--default-address-pool", "base=10.214.0.0/16,size=many"),
            'invalid size value: "base=10.214.0.0/16,size=many" (must be integer): '
            'strconv.Atoi: parsing "many": invalid syntax',
        ),
        (
            ("--default-address-pool", "base=10.214.0.0/16,size=8"),
            "invalid pools size: 8 for base pool 10.214.0.0/16",
        ),
        (("--bip", "10.213.0.0/24"), "invalid bip 10.213.0.0/24: not a host address of its subnet"),
        (
            ("--seccomp-profile", "/no/such/profile.json"),
            "opening seccomp profile (/no/such/profile.json) failed: no such file or directory",
        ),
        (("--default-runtime", "nope"), "specified default runtime 'nope' does not exist"),
        (
            ("--log-driver", "syslog"),
            'error looking up logging plugin syslog: plugin "syslog" not found',
        ),
    ],
)
def test_bad_flag_values_are_refused_as_the_files(
    roots: Roots, flag: tuple[str, str], message: str
) -> None:
    result = _start(roots, "--config-file", str(daemon_config(roots.base)), "-H", roots.host, *flag)
    assert result.returncode == 2
    assert not roots.socket.exists()
    assert result.stderr.splitlines()[-1] == f"dockyardd: error: argument {flag[0]}: {message}"


def test_log_opts_are_checked_against_the_log_driver_of_the_file(roots: Roots) -> None:
    # "tag" is an option of json-file, the default driver, but not of the file's "local".
    assert _refusal(roots, {"log-driver": "local"}, "--log-opt", "tag=x") == (
        "merged configuration validation from file and command line flags failed: "
        "unknown log opt 'tag' for log driver local"
    )


def test_flags_for_what_dockyard_lacks_are_refused(roots: Roots) -> None:
    config = str(daemon_config(roots.base))
    result = _start(roots, "--config-file", config, "-H", roots.host, "--userns-remap", "default")
    assert (result.returncode, result.stderr.strip()) == (
        1,
        "dockyardd: the following flags are not supported by dockyard: --userns-remap",
    )
    assert not roots.socket.exists()


def test_help_lists_dockerds_flags_for_the_files_keys() -> None:
    shown = subprocess.run([DOCKYARDD, "--help"], capture_output=True, text=True, timeout=30)
    flags = set(shown.stdout.replace(",", " ").split())
    assert {
        *("--config-file", "--data-root", "--exec-root", "-H", "--host", "-D", "--debug"),
        *("--dns", "--dns-opt", "--dns-search", "--bip", "--default-address-pool"),
        *("--default-ulimit", "--seccomp-profile", "--default-runtime", "--log-driver"),
        *("--log-opt", "--registry-mirror", "--insecure-registry", "--label"),
        "--userns-remap",
    } <= flags
