"""The client's side of attach, exec and logs streams.

- ``OutputWriter`` writes a stream to stdout/stderr, splitting the 8-byte
  multiplexed frames of a stream without a TTY (``dockyard.stdcopy``).
- ``pump`` copies a hijacked connection both ways in one thread with select():
  output to stdout/stderr, the user's stdin to the container with a half-close
  at EOF, signals forwarded, the detach keys (ctrl-p ctrl-q) noticed.
- ``raw_terminal`` puts the user's terminal in raw mode for ``-t``.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from collections.abc import Callable, Iterator

from dockyard.errors import InvalidArgument, SystemError
from dockyard.stdcopy import STDERR, STDOUT, SYSTEMERR, FrameParser

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Protocol

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
READ_SIZE = 65536

# Signals a foreground `docker run` passes on to the container (signals.go forwards
# all but SIGCHLD, SIGPIPE and SIGURG; SIGWINCH means a resize instead).
PROXIED_SIGNALS = ("SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGALRM")


if TYPE_CHECKING:

    class Stream(Protocol):
        def fileno(self) -> int: ...
        def recv(self, size: int = ...) -> bytes: ...
        def sendall(self, data: bytes) -> None: ...
        def close_write(self) -> None: ...
        def pending(self) -> bool: ...


class StreamError(SystemError):
    """A systemerr frame (stream type 3): the daemon failed in the middle of a stream."""


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class OutputWriter:
    """Writes a stream's bytes to the user's stdout and stderr, demultiplexing without a TTY."""

    def __init__(self, tty: bool, stdout: int | None = 1, stderr: int | None = 2) -> None:
        self.frames = None if tty else FrameParser()
        self.targets = {STDOUT: stdout, STDERR: stderr}

    def write(self, data: bytes) -> None:
        if self.frames is None:
            if self.targets[STDOUT] is not None:
                write_all(self.targets[STDOUT], data)
            return
        for kind, payload in self.frames.feed(data):
            if kind == SYSTEMERR:
                raise StreamError(payload.decode("utf-8", "replace").strip())
            fd = self.targets.get(kind)
            if fd is not None:
                write_all(fd, payload)


def parse_detach_keys(spec: str) -> bytes:
    """``ctrl-p,ctrl-q`` → b"\\x10\\x11", as docker's term.ToBytes reads it."""
    keys = bytearray()
    for key in spec.split(","):
        key = key.strip()
        if len(key) == 1:
            keys += key.encode()
        elif key.lower().startswith("ctrl-") and len(key) == 6:
            char = key[5].lower()
            if "a" <= char <= "z":
                keys.append(ord(char) - ord("a") + 1)
            elif char in "@[\\]^_":
                keys.append(ord(char) - ord("@"))
            else:
                raise InvalidArgument(f"Unknown character: '{key}'")
        else:
            raise InvalidArgument(f"Unknown character: '{key}'")
    return bytes(keys)


class EscapeFilter:
    """Holds back a partial detach sequence from the input and notices a complete one."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.matched = 0
        self.detached = False

    def filter(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            if byte == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    self.detached = True
                    return bytes(out)
                continue
            out += self.keys[: self.matched]
            self.matched = 0
            if byte == self.keys[0]:
                self.matched = 1
            else:
                out.append(byte)
        return bytes(out)


class SignalRelay:
    """Catches signals while a stream runs and hands them to the select loop."""

    def __init__(self, signals: list[int]) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)
        self.signals = signals
        self.saved: dict[int, signal.Handlers | Callable[..., object] | int | None] = {}

    def __enter__(self) -> SignalRelay:
        for signum in self.signals:
            self.saved[signum] = signal.signal(signum, _ignore_here)
        self.old_wakeup = signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.set_wakeup_fd(self.old_wakeup)
        for signum, handler in self.saved.items():
            signal.signal(signum, handler)
        os.close(self.read_fd)
        os.close(self.write_fd)

    def pending(self) -> bytes:
        return os.read(self.read_fd, 256)


def _ignore_here(signum: int, frame: object) -> None:
    """The handler only has to exist: the wakeup fd carries the signal to the loop."""


SignalHandlers = dict[int, Callable[[int], None]]


def proxied_signals() -> list[int]:
    return [getattr(signal, name) for name in PROXIED_SIGNALS]


def pump(
    stream: Stream,
    output: OutputWriter,
    stdin: int | None,
    escape: EscapeFilter | None = None,
    handlers: SignalHandlers | None = None,
) -> bool:
    """Copy both ways until the output ends; True when the user detached.

    Without stdin the write side is half-closed at once, as docker does, so the
    daemon knows no input will come. ``handlers`` run in this thread for the
    signals that arrive meanwhile (resize on SIGWINCH, kill for the others).
    """
    if stdin is None:
        stream.close_write()
    handlers = handlers or {}
    with SignalRelay(list(handlers)) as relay:
        sock_fd = stream.fileno()
        while True:
            readers = [sock_fd, relay.read_fd] + ([stdin] if stdin is not None else [])
            # Bytes already received (behind the headers, or decrypted by TLS) wake no select().
            buffered = stream.pending()
            ready, _, _ = select.select(readers, [], [], 0 if buffered else None)
            if buffered and sock_fd not in ready:
                ready.append(sock_fd)
            if relay.read_fd in ready:
                for signum in relay.pending():
                    if signum in handlers:
                        handlers[signum](signum)
            if sock_fd in ready:
                data = stream.recv(READ_SIZE)
                if not data:
                    return False
                output.write(data)
            if stdin is not None and stdin in ready:
                stdin = _forward_input(stream, stdin, escape)
                if escape is not None and escape.detached:
                    return True


def _forward_input(stream: Stream, stdin: int, escape: EscapeFilter | None) -> int | None:
    """Copy what the user typed; at EOF half-close and stop watching stdin."""
    data = os.read(stdin, READ_SIZE)
    if not data:
        stream.close_write()
        return None
    if escape is not None:
        data = escape.filter(data)
    if data:
        try:
            stream.sendall(data)
        except BrokenPipeError:
            return None  # the container closed its stdin; its output still comes
    return stdin


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    """Raw mode on a terminal for ``-t``; the settings come back however we leave."""
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def terminal_size(fd: int) -> tuple[int, int] | None:
    """(rows, columns) of a terminal, or None when fd is not one."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns
