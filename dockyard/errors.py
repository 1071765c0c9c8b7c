"""The error hierarchy of dockyard.

Every failure a user can act on is one of these, raised with a one-line message
that names the problem. The API translates them to Engine API status codes in
one place (``dockyard.api.errors``); the CLI prints the message and exits 125
(or the code the error carries).

    DockyardError
    ├── InvalidArgument   bad flag value, malformed spec or body       (400)
    ├── Unauthorized      a registry refused the credentials           (401)
    ├── Forbidden         refused by a rule, e.g. an overlapping subnet (403)
    ├── NotFound          no such image / container / exec / volume    (404)
    ├── NotModified       start of a running container, stop of a stopped one (304)
    ├── Conflict          name in use, image in use, container running (409)
    ├── NotSupported      what the object cannot do (read a "none" log) (501)
    ├── Unavailable       feature this engine does not offer (swarm)   (503)
    ├── SystemError       the engine itself failed                     (500)
    │   └── CommandError  the command could not be started (400 like moby; CLI 126/127)
"""

from __future__ import annotations

import copy


class DockyardError(Exception):
    """Base of every error dockyard reports to a user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def with_context(error: DockyardError, context: str) -> DockyardError:
    """``error`` with ``context: `` before its message, of the same kind (Go's errors.Wrap)."""
    wrapped = copy.copy(error)
    wrapped.message = f"{context}: {error.message}"
    wrapped.args = (wrapped.message,)
    return wrapped


class InvalidArgument(DockyardError):
    pass


class Unauthorized(DockyardError):
    pass


class Forbidden(DockyardError):
    pass


class NotFound(DockyardError):
    pass


class NotModified(DockyardError):
    pass


class Conflict(DockyardError):
    pass


class NotSupported(DockyardError):
    """moby's errdefs.NotImplemented: the object cannot do what is asked."""


class Unavailable(DockyardError):
    pass


class SystemError(DockyardError):  # noqa: A001 - deliberately mirrors Docker's errdefs.System
    pass


class CommandError(SystemError):
    """The container's process could not be executed.

    ``exit_code`` is what ``docker run`` exits with: 127 when the executable is
    missing, 126 when it exists but cannot be invoked.
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
