"""Errors that end a run, each carrying the exit status documented in README."""

from __future__ import annotations

EXIT_USAGE = 2
EXIT_CONNECTION = 255


class RemoteReplError(Exception):
    """An expected failure: reported to the user as one line, never as a traceback."""

    exit_status = EXIT_CONNECTION


class UsageError(RemoteReplError):
    """The command line (or a setting derived from it) is invalid."""

    exit_status = EXIT_USAGE


class ConnectError(RemoteReplError):
    """Connecting, authenticating or verifying the host failed."""


class HostKeyError(ConnectError):
    """The server's host key is unknown or does not match known_hosts."""


class SessionLost(RemoteReplError):
    """The connection went away while the remote process was running."""


class Disconnected(SessionLost):
    """The user left with the ``~.`` escape (exit status 255, as ssh)."""
