"""create/run flags → the ContainerCreateRequest, as docker's opts.go builds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.cli.main import COMMANDS, build_parser
from dockyard.cli.parser import UsageError
from dockyard.cli.runopts import create_body, parse_restart_policy
from dockyard.errors import InvalidArgument


def body(*args: str) -> dict:
    parser = build_parser(COMMANDS["run"])
    ns = parser.parse_command(list(args))
    return create_body(ns, ns.args[0], ns.args[1:])


def test_plain_run_attaches_stdout_and_stderr() -> None:
    created = body("busybox", "echo", "hi")
    assert created["Image"] == "busybox"
    assert created["Cmd"] == ["echo", "hi"]
    assert (created["AttachStdin"], created["AttachStdout"], created["AttachStderr"]) == (
        False,
        True,
        True,
    )
    assert created["HostConfig"]["NetworkMode"] == "default"
    assert created["HostConfig"]["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}


def test_interactive_tty_sets_stdin_once() -> None:
    created = body("-it", "busybox")
    assert created["Tty"] and created["OpenStdin"] and created["StdinOnce"]
    assert created["Cmd"] is None


def test_flags_after_the_image_belong_to_the_command() -> None:
    assert body("busybox", "ls", "-d", "--rm")["Cmd"] == ["ls", "-d", "--rm"]


def test_resources_ports_volumes_env_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_HOST", "h")
    created = body(
        "-m",
        "64m",
        "--cpus",
        "1.5",
        "--pids-limit",
        "20",
        "-p",
        "8080:80",
        "-v",
        "/srv:/srv:ro",
        "-v",
        "/anon",
        "-e",
        "A=1",
        "-e",
        "FROM_HOST",
        "-l",
        "k=v",
        "--restart",
        "on-failure:3",
        "--add-host",
        "db:10.0.0.2",
        "--log-opt",
        "max-size=1m",
        "--init",
        "-w",
        "/tmp",
        "-u",
        "1000:1000",
        "--entrypoint",
        "",
        "--stop-timeout",
        "5",
        "--read-only",
        "busybox",
    )
    host = created["HostConfig"]
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (
        64 * 1024**2,
        1_500_000_000,
        20,
    )
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert created["ExposedPorts"] == {"80/tcp": {}}
    assert host["Binds"] == ["/srv:/srv:ro"] and created["Volumes"] == {"/anon": {}}
    assert created["Env"] == ["A=1", "FROM_HOST=h"] and created["Labels"] == {"k": "v"}
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert host["ExtraHosts"] == ["db:10.0.0.2"]
    assert host["LogConfig"] == {"Type": "", "Config": {"max-size": "1m"}}
    assert host["Init"] is True and host["ReadonlyRootfs"] is True
    assert created["Entrypoint"] == [""] and created["StopTimeout"] == 5
    assert (created["WorkingDir"], created["User"]) == ("/tmp", "1000:1000")


def test_rm_false_and_network() -> None:
    created = body("--rm=false", "--network", "none", "busybox")
    assert created["HostConfig"]["AutoRemove"] is False
    assert created["HostConfig"]["NetworkMode"] == "none"


def test_restart_conflicts_with_rm() -> None:
    with pytest.raises(InvalidArgument, match="cannot specify both --restart and --rm"):
        body("--rm", "--restart", "always", "busybox")


def test_bad_memory_is_a_flag_error() -> None:
    with pytest.raises(UsageError) as caught:
        body("-m", "12q", "busybox")
    assert caught.value.status == 125
    assert caught.value.text.startswith(
        'invalid argument "12q" for "-m, --memory" flag: invalid suffix: \'q\''
    )


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("no", {"Name": "no", "MaximumRetryCount": 0}),
        ("always", {"Name": "always", "MaximumRetryCount": 0}),
        ("unless-stopped", {"Name": "unless-stopped", "MaximumRetryCount": 0}),
        ("on-failure:5", {"Name": "on-failure", "MaximumRetryCount": 5}),
    ],
)
def test_restart_policies(policy: str, expected: dict) -> None:
    assert parse_restart_policy(policy) == expected


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (":3", "no policy provided before colon"),
        ("on-failure:x", "maximum retry count must be an integer"),
    ],
)
def test_bad_restart_policies(policy: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_restart_policy(policy)


def test_only_namespaced_sysctls_are_taken() -> None:
    created = body("--sysctl", "net.core.somaxconn=1024", "--sysctl", "kernel.shmmax=1", "busybox")
    assert created["HostConfig"]["Sysctls"] == {"net.core.somaxconn": "1024", "kernel.shmmax": "1"}
    with pytest.raises(UsageError) as caught:
        body("--sysctl", "kernel.printk_ratelimit_burst=17", "busybox")
    assert caught.value.status == 125
    assert caught.value.text.startswith(
        'invalid argument "kernel.printk_ratelimit_burst=17" for "--sysctl" flag: '
        "sysctl 'kernel.printk_ratelimit_burst=17' is not allowed"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("nofile=100:200", {"Name": "nofile", "Soft": 100, "Hard": 200}),
        ("nproc=50", {"Name": "nproc", "Soft": 50, "Hard": 50}),
        ("core=-1", {"Name": "core", "Soft": -1, "Hard": -1}),
        ("core=10:-1", {"Name": "core", "Soft": 10, "Hard": -1}),
    ],
)
def test_ulimits(value: str, expected: dict) -> None:
    assert body("--ulimit", value, "busybox")["HostConfig"]["Ulimits"] == [expected]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nofile", "invalid ulimit argument: nofile"),
        ("as=1", "invalid ulimit type: as"),
        ("nofile=1:2:3", "too many limit value arguments - 1:2:3, can only have up to two"),
        ("nofile=2:1", "ulimit soft limit must be less than or equal to hard limit: 2 > 1"),
        ("nofile=-1:5", "soft: -1 (unlimited), hard: 5"),
        ("nofile=x", 'strconv.ParseInt: parsing "x": invalid syntax'),
    ],
)
def test_bad_ulimits(value: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        body("--ulimit", value, "busybox")
    assert message in caught.value.text


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--pid", "container:"), "--pid: invalid PID mode"),
        (("--pid", "shared"), "--pid: invalid PID mode"),
        (("--uts", "private"), "--uts: invalid UTS mode"),
        (("--userns", "foo"), "--userns: invalid USER mode"),
        (("--cgroupns", "shared"), "--cgroupns: invalid CGROUP mode"),
    ],
)
def test_namespace_modes_docker_refuses(flags: tuple[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=f"^{message}$"):
        body(*flags, "busybox")


def test_namespace_modes_docker_takes() -> None:
    created = body(
        "--pid", "container:db", "--uts", "host", "--userns", "host", "--cgroupns", "private",
        "--ipc", "shareable", "busybox",
    )  # fmt: skip
    hc = created["HostConfig"]
    assert (hc["PidMode"], hc["UTSMode"], hc["UsernsMode"], hc["CgroupnsMode"], hc["IpcMode"]) == (
        "container:db",
        "host",
        "host",
        "private",
        "shareable",
    )


def test_blkio_realtime_storage_and_isolation_flags() -> None:
    hc = body(
        "--blkio-weight", "300", "--blkio-weight-device", "/dev/sda:200",
        "--device-read-bps", "/dev/sda:1mb", "--device-write-iops", "/dev/sda:30",
        "--cpu-rt-period", "1000", "--cpu-rt-runtime", "500", "--storage-opt", "size=1G",
        "--isolation", "default", "busybox",
    )["HostConfig"]  # fmt: skip
    assert hc["BlkioWeight"] == 300
    assert hc["BlkioWeightDevice"] == [{"Path": "/dev/sda", "Weight": 200}]
    assert hc["BlkioDeviceReadBps"] == [{"Path": "/dev/sda", "Rate": 1 << 20}]
    assert hc["BlkioDeviceWriteIOps"] == [{"Path": "/dev/sda", "Rate": 30}]
    assert (hc["BlkioDeviceWriteBps"], hc["BlkioDeviceReadIOps"]) == ([], [])
    assert (hc["CpuRealtimePeriod"], hc["CpuRealtimeRuntime"]) == (1000, 500)
    assert (hc["StorageOpt"], hc["Isolation"]) == ({"size": "1G"}, "default")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--blkio-weight", "x"), 'strconv.ParseUint: parsing "x": invalid syntax'),
        (("--blkio-weight-device", "sda:300"), "bad format for device path: sda:300"),
        (("--blkio-weight-device", "/dev/sda:5"), "invalid weight for device: /dev/sda:5"),
        (("--device-read-bps", "/dev/sda"), "bad format: /dev/sda"),
        (("--device-read-bps", "/dev/sda:fast"), "invalid rate for device: /dev/sda:fast."),
        (("--device-read-iops", "/dev/sda:1k"), "invalid rate for device: /dev/sda:1k."),
    ],
)
def test_bad_blkio_flags(flags: tuple[str, str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        body(*flags, "busybox")
    assert message in caught.value.text


def test_a_storage_option_needs_a_value() -> None:
    with pytest.raises(InvalidArgument, match="^invalid storage option$"):
        body("--storage-opt", "size", "busybox")


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("/dev/sda", ("/dev/sda", "/dev/sda", "rwm")),
        ("/dev/sda:r", ("/dev/sda", "/dev/sda", "r")),
        ("/dev/sda:/dev/xvdc", ("/dev/sda", "/dev/xvdc", "rwm")),
        ("/dev/sda:/dev/xvdc/../xvdd/", ("/dev/sda", "/dev/xvdd", "rwm")),
        ("/dev/sda:/dev/xvdc:mw", ("/dev/sda", "/dev/xvdc", "mw")),
        ("/dev/snd", ("/dev/snd", "/dev/snd", "rwm")),
    ],
)
def test_devices(flag: str, expected: tuple[str, str, str]) -> None:
    (mapping,) = body("--device", flag, "busybox")["HostConfig"]["Devices"]
    assert (
        mapping["PathOnHost"],
        mapping["PathInContainer"],
        mapping["CgroupPermissions"],
    ) == expected


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("/dev/sda:/dev/xvdc:rwx", "bad mode specified: rwx"),
        ("/dev/sda:/dev/xvdc:rr", "bad mode specified: rr"),
        ("/dev/sda:xvdc", "xvdc is not an absolute path"),
        ("sda:r", "sda is not an absolute path"),
        (":/dev/xvdc", "bad format for path: :/dev/xvdc"),
        ("/dev/sda:/a:/b:r", "bad format for path: /dev/sda:/a:/b:r"),
    ],
)
def test_bad_devices(flag: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        body("--device", flag, "busybox")
    assert caught.value.message == message


def test_device_cgroup_rules() -> None:
    host_config = body("--device-cgroup-rule", "c 42:* rmw", "busybox")["HostConfig"]
    assert host_config["DeviceCgroupRules"] == ["c 42:* rmw"]
    plain = body("busybox")["HostConfig"]
    assert (plain["DeviceCgroupRules"], plain["Devices"]) == (None, [])
    with pytest.raises(UsageError) as caught:
        body("--device-cgroup-rule", "c 42 rmw", "busybox")
    assert caught.value.status == 125
    assert caught.value.text.startswith(
        'invalid argument "c 42 rmw" for "--device-cgroup-rule" flag: '
        "invalid device cgroup format 'c 42 rmw'"
    )


def test_security_opt_sends_a_seccomp_profile_files_json(tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text('{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": []\n}\n')
    created = body(
        "--security-opt", f"seccomp={profile}",
        "--security-opt", "seccomp=unconfined",
        "--security-opt", "no-new-privileges",
        "--security-opt", "label:disable",
        "busybox",
    )  # fmt: skip
    assert created["HostConfig"]["SecurityOpt"] == [
        'seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}',
        "seccomp=unconfined",
        "no-new-privileges",
        "label:disable",
    ]


@pytest.mark.parametrize(
    ("opt", "message"),
    [
        ("apparmor", 'Invalid --security-opt: "apparmor"'),
        ("seccomp=", 'Invalid --security-opt: "seccomp="'),
        (
            "seccomp=/no/such.json",
            "opening seccomp profile (/no/such.json) failed: "
            "open /no/such.json: no such file or directory",
        ),
    ],
)
def test_security_opt_errors_are_the_docker_clis(opt: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        body("--security-opt", opt, "busybox")
    assert caught.value.message == message


def test_security_opt_needs_a_json_profile(tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text("{nope")
    with pytest.raises(InvalidArgument, match=r"^compacting json for seccomp profile \("):
        body("--security-opt", f"seccomp={profile}", "busybox")
