"""The failures that end a run, as one line for the user (cli maps each to its exit status),
and the one error the layers hand each other when a channel went away."""

from __future__ import annotations


class RemoteReplError(Exception):
    """An expected failure: reported to the user as one line, never as a traceback."""


class UsageError(RemoteReplError):
    """The command line (or a setting derived from it) is invalid."""


class ConnectError(RemoteReplError):
    """Connecting, authenticating or verifying the host failed."""


class HostKeyError(ConnectError):
    """The server's host key is unknown or does not match known_hosts."""


class AuthenticationFailed(ConnectError):
    """The server accepted none of the ways we could authenticate."""


class SessionLost(RemoteReplError):
    """The connection went away while the remote process was running."""


class Disconnected(SessionLost):
    """The user left with the ``~.`` escape (exit status 255, as ssh)."""


class ChannelClosed(ConnectionError):
    """An SSH channel, or the connection under it, is gone or was refused: what was asked
    of it cannot happen (how the session ended is reported separately)."""
