"""Where ``save`` and ``export`` write an archive: standard output, or with ``-o`` a file
that is replaced only once the archive is complete (the docker CLI's atomicwriter)."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile

from dockyard.cli.parser import StatusError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

REFUSE_TERMINAL = "cowardly refusing to save to a terminal. Use the -o flag or redirect"
FILE_MODE = 0o600  # the docker CLI's, whatever the umask


class ArchiveOutput:
    """Checked before the request is sent, as docker does: a terminal is refused, and
    so is a path that cannot become a regular file; ``failed`` prefixes those errors."""

    def __init__(self, path: str, failed: str) -> None:
        self.path = path
        if not path:
            if sys.stdout.isatty():
                raise StatusError(1, REFUSE_TERMINAL)
            return
        problem = _destination_problem(path)
        if problem:
            raise StatusError(1, f"{failed}: {problem}")

    def write(self, chunks: Iterable[bytes]) -> None:
        if not self.path:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        target = os.path.abspath(self.path)
        fd, temp = tempfile.mkstemp(
            prefix=".tmp-" + os.path.basename(target), dir=os.path.dirname(target)
        )
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                os.fchmod(out.fileno(), FILE_MODE)
            os.replace(temp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)


def _destination_problem(path: str) -> str:
    """Why ``path`` cannot be written (atomicwriter's validateDestination), or ""."""
    directory = os.path.dirname(path)
    if directory not in ("", ".", ".."):
        try:
            if not stat.S_ISDIR(os.stat(directory).st_mode):
                return f"invalid output path: stat {directory}: not a directory"
        except OSError as err:
            return f"invalid output path: stat {directory}: {_go_error(err)}"
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return ""
    except OSError as err:
        return f"failed to stat output path: lstat {path}: {_go_error(err)}"
    kinds = (
        (stat.S_ISDIR, "cannot write to a directory"),
        (stat.S_ISLNK, "cannot write to a symbolic link directly"),
        (stat.S_ISFIFO, "cannot write to a named pipe (FIFO)"),
        (stat.S_ISSOCK, "cannot write to a socket"),
        (stat.S_ISCHR, "cannot write to a character device file"),
        (stat.S_ISBLK, "cannot write to a block device file"),
    )
    for test, problem in kinds:
        if test(mode):
            return problem
    if mode & stat.S_ISUID:
        return "cannot write to a setuid file"
    if mode & stat.S_ISGID:
        return "cannot write to a setgid file"
    if mode & stat.S_ISVTX:
        return "cannot write to a sticky bit file"
    return ""


def _go_error(err: OSError) -> str:
    """An errno as Go words it: lower case ("no such file or directory")."""
    return (err.strerror or str(err)).lower()
