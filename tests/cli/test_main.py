"""Bad usage is reported like docker's CLI: wording, usage block and exit status.

These run the real `dockyard` program; none of them needs a daemon.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DOCKYARD = str(Path(sys.executable).parent / "dockyard")
NOWHERE = "unix:///nonexistent/dockyard-cli-test.sock"


def dockyard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DOCKYARD, "-H", NOWHERE, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_unknown_flag_is_125_with_usage() -> None:
    result = dockyard("run", "--foo", "busybox")
    assert result.returncode == 125
    assert result.stderr == (
        "unknown flag: --foo\n\nUsage:  dockyard run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n"
        "Run 'dockyard run --help' for more information\n"
    )


def test_bad_memory_value_is_125() -> None:
    result = dockyard("run", "-m", "12q", "busybox")
    assert result.returncode == 125
    assert result.stderr.startswith(
        'invalid argument "12q" for "-m, --memory" flag: invalid suffix: \'q\'\n'
    )


def test_bad_port_is_125_without_usage() -> None:
    result = dockyard("run", "-p", "12x", "busybox")
    assert result.returncode == 125
    assert result.stderr == (
        "dockyard: invalid containerPort: 12x\n\nRun 'dockyard run --help' for more information\n"
    )


@pytest.mark.parametrize(
    ("args", "first_line"),
    [
        (["run"], "dockyard: 'dockyard run' requires at least 1 argument"),
        (["rename", "a"], "dockyard: 'dockyard rename' requires 2 arguments"),
        (["ps", "x"], "dockyard: 'dockyard ps' accepts no arguments"),
        (["container", "ls", "x"], "dockyard: 'dockyard container ls' accepts no arguments"),
        (
            ["port", "a", "b", "c"],
            "dockyard: 'dockyard port' requires at least 1 and at most 2 arguments",
        ),
    ],
)
def test_wrong_argument_counts_exit_1(args: list[str], first_line: str) -> None:
    result = dockyard(*args)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == first_line


def test_flag_missing_its_value() -> None:
    assert dockyard("run", "--memory").stderr.startswith("flag needs an argument: --memory\n")
    assert dockyard("run", "-m").stderr.startswith("flag needs an argument: 'm' in -m\n")
    assert dockyard("ps", "-z").stderr.startswith("unknown shorthand flag: 'z' in -z\n")


def test_unknown_commands_exit_1() -> None:
    result = dockyard("frobnicate")
    assert (result.returncode, result.stderr.splitlines()[0]) == (
        1,
        "dockyard: unknown command: dockyard frobnicate",
    )
    assert dockyard("image", "frob").returncode == 1


def test_tty_needs_a_terminal_on_stdin() -> None:
    result = dockyard("run", "-it", "busybox")
    assert (result.returncode, result.stderr) == (1, "the input device is not a TTY\n")


def test_no_daemon_is_reported() -> None:
    result = dockyard("ps")
    assert result.returncode == 1
    assert result.stderr == (
        f"Cannot connect to the dockyard daemon at {NOWHERE}. Is the dockyard daemon running?\n"
    )
    run = dockyard("run", "busybox")
    assert run.returncode == 125
    assert run.stderr.startswith(f"dockyard: Cannot connect to the dockyard daemon at {NOWHERE}.")


def test_help_and_version() -> None:
    help_text = dockyard("--help")
    assert help_text.returncode == 0
    assert "Usage:  dockyard [OPTIONS] COMMAND" in help_text.stdout
    assert "  run         Create and run a new container from an image" in help_text.stdout
    assert dockyard("--version").stdout.startswith("Dockyard version ")
    run_help = dockyard("run", "--help")
    assert run_help.returncode == 0 and "--memory" in run_help.stdout
