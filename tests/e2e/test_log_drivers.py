"""Log drivers against dockyardd: json-file, local and none as docker 28 runs them, and
moby's errors for a driver or an option it does not know, at create and at start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from tests.e2e.helpers import Docker

# 3000 numbered lines, ~25 kB: several 10 kB files.
MANY_LINES = "i=0; while [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); done"


def _root(daemon: Any, docker: Docker, name: str) -> Path:
    cid = docker("inspect", "-f", "{{.Id}}", name).stdout.strip()
    return Path(daemon.roots.data_root, "containers", cid)


def _contiguous_tail(text: str) -> list[int]:
    numbers = [int(line.removeprefix("line")) for line in text.splitlines()]
    assert numbers == list(range(numbers[0], 3000)), "lines lost or repeated"
    return numbers


def test_none_keeps_nothing_and_logs_cannot_read_it(
    daemon: Any, docker_cli: Docker, docker_sdk: Any
) -> None:
    ran = docker_cli("run", "--name", "quiet", "--log-driver", "none", "busybox", "echo", "hi")
    assert (ran.returncode, ran.stdout) == (0, "hi\n")  # attached output is not the log
    logs = docker_cli("logs", "quiet")
    assert logs.returncode == 1
    assert logs.stderr == (
        "Error response from daemon: configured logging driver does not support reading\n"
    )
    with pytest.raises(docker.errors.APIError) as refused:
        docker_sdk.containers.get("quiet").logs()
    assert refused.value.status_code == 501
    shown = json.loads(docker_cli("inspect", "quiet").stdout)[0]
    assert shown["LogPath"] == "" and shown["HostConfig"]["LogConfig"]["Type"] == "none"
    container_dir = _root(daemon, docker_cli, "quiet")
    assert (
        not list(container_dir.glob("*-json.log*")) and not (container_dir / "local-logs").exists()
    )


def test_local_rotates_and_compresses(daemon: Any, docker_cli: Docker) -> None:
    ran = docker_cli(
        "run", "-d", "--name", "loc", "--log-driver", "local",
        "--log-opt", "max-size=10k", "--log-opt", "max-file=3", "busybox", "sh", "-c", MANY_LINES,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert docker_cli("wait", "loc").stdout == "0\n"
    kept = _contiguous_tail(docker_cli("logs", "loc").stdout)
    assert kept[0] > 0  # the oldest files went
    files = sorted(p.name for p in (_root(daemon, docker_cli, "loc") / "local-logs").iterdir())
    assert files == ["container.log", "container.log.1.gz", "container.log.2.gz"]
    assert json.loads(docker_cli("inspect", "loc").stdout)[0]["LogPath"] == ""
    assert docker_cli("logs", "--tail", "2", "loc").stdout == "line2998\nline2999\n"


def test_local_with_its_defaults_and_json_file_compressed(daemon: Any, docker_cli: Docker) -> None:
    assert docker_cli("run", "--name", "small", "--log-driver", "local", "busybox",
                      "echo", "kept").returncode == 0  # fmt: skip
    assert docker_cli("logs", "small").stdout == "kept\n"
    local = _root(daemon, docker_cli, "small") / "local-logs" / "container.log"
    assert json.loads(local.read_text())["log"] == "kept\n"

    ran = docker_cli(
        "run", "--name", "packed", "--log-opt", "max-size=10k", "--log-opt", "max-file=2",
        "--log-opt", "compress=true", "busybox", "sh", "-c", MANY_LINES,
    )  # fmt: skip
    assert ran.returncode == 0
    _contiguous_tail(docker_cli("logs", "packed").stdout)
    names = {p.name for p in _root(daemon, docker_cli, "packed").glob("*-json.log*")}
    assert {n.split("-json.log")[1] for n in names} == {"", ".1.gz"}


def test_unknown_drivers_and_options_are_refused_at_create(docker_cli: Docker) -> None:
    cases = [
        (("--log-driver", "foo"), 'error looking up logging plugin foo: plugin "foo" not found'),
        (("--log-driver", "syslog"),
         'error looking up logging plugin syslog: plugin "syslog" not found'),
        (("--log-opt", "x=1"), "unknown log opt 'x' for json-file log driver"),
        (("--log-driver", "local", "--log-opt", "labels=a"),
         "unknown log opt 'labels' for log driver local"),
        (("--log-opt", "mode=fast"), "logger: logging mode not supported: fast"),
        (("--log-opt", "max-buffer-size=1m"),
         "logger: max-buffer-size option is only supported with 'mode=non-blocking'"),
    ]  # fmt: skip
    for flags, message in cases:
        refused = docker_cli("run", *flags, "busybox", "true")
        assert refused.returncode == 125, flags
        assert refused.stderr.startswith(f"docker: Error response from daemon: {message}"), (
            refused.stderr
        )
    assert docker_cli("ps", "-aq").stdout == ""
    fine = ("--log-opt", "mode=non-blocking", "--log-opt", "max-buffer-size=1m")
    assert docker_cli("run", "--rm", *fine, "busybox", "true").returncode == 0


def test_bad_option_values_fail_the_start(docker_cli: Docker) -> None:
    cases = [
        (("--log-opt", "max-file=0"), "max-file cannot be less than 1"),
        (("--log-opt", "max-size=big"), "invalid size: 'big'"),
        (("--log-opt", "compress=true"),
         "compress cannot be true when max-file is less than 2 or max-size is not set"),
        (("--log-driver", "local", "--log-opt", "max-file=1"),
         "compression cannot be enabled when max file count is 1"),
        (("--log-driver", "local", "--log-opt", "compress=maybe"),
         'error reading compress log option: strconv.ParseBool: parsing "maybe": invalid syntax'),
        (("--log-driver", "local", "--log-opt", "max-file=two"),
         'invalid value for max-file: two: strconv.Atoi: parsing "two": invalid syntax'),
        (("--log-driver", "local", "--log-opt", "max-size=big"),
         "invalid value for max-size: big: invalid size: 'big'"),
    ]  # fmt: skip
    for index, (flags, message) in enumerate(cases):
        name = f"bad{index}"
        failed = docker_cli("run", "--name", name, *flags, "busybox", "true")
        text = (
            f"failed to create task for container: failed to initialize logging driver: {message}"
        )
        assert failed.returncode == 125, flags
        # CLI 20.10 ends the line with a dot (and may log a line before it).
        shown = f"docker: Error response from daemon: {text}" + docker_cli.expects("", v20_10=".")
        assert shown in failed.stderr.splitlines(), failed.stderr
        state = json.loads(docker_cli("inspect", name).stdout)[0]["State"]
        assert (state["Status"], state["ExitCode"], state["Error"]) == ("created", 128, text)


def test_json_file_attrs_and_logs_details(daemon: Any, docker_cli: Docker) -> None:
    ran = docker_cli(
        "run", "--name", "tagged", "--label", "team=web", "--label", "other=x", "-e", "MODE=prod",
        "--log-opt", "labels=team", "--log-opt", "env-regex=^MO", "--log-opt",
        "tag={{.Name}}/{{.ID}}", "busybox", "echo", "hi",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    cid = docker_cli("inspect", "-f", "{{.Id}}", "tagged").stdout.strip()
    details = docker_cli("logs", "--details", "tagged")
    assert details.stdout == f"MODE=prod,tag=tagged%2F{cid[:12]},team=web hi\n"
    assert docker_cli("logs", "tagged").stdout == "hi\n"
    line = json.loads((_root(daemon, docker_cli, "tagged") / f"{cid}-json.log").read_text())
    assert line["attrs"] == {"team": "web", "MODE": "prod", "tag": f"tagged/{cid[:12]}"}
    assert docker_cli("run", "--name", "plain-details", "busybox", "echo", "hi").returncode == 0
    assert docker_cli("logs", "--details", "plain-details").stdout == " hi\n"  # as moby
