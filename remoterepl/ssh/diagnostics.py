"""-v diagnostics on stderr: one readable line per event, never a secret.

``-v``: what remoterepl does -- config files, jump hosts, addresses, host key, the keys and
methods tried and the one that worked, channel open/close (remoterepl's own lines, plus
asyncssh's connection-level events). ``-vv``: asyncssh's debug messages. ``-vvv``: asyncssh's
packet-level messages. ``-vvvv``: with packet dumps, except for authentication packets
(which carry passwords and keyboard-interactive answers) and packets that carry a line
typed at a secret prompt of the remote (:func:`hide_in_packet_dumps`).
"""

from __future__ import annotations

import collections
import logging
import sys

from remoterepl.display import shown
from remoterepl.errors import UsageError
from remoterepl.ssh import compat

LOGGER = logging.getLogger("remoterepl")

# asyncssh packets whose payload may hold a password or a keyboard-interactive answer.
_SECRET_PACKETS = ("MSG_USERAUTH_REQUEST", "MSG_USERAUTH_INFO_RESPONSE")
# Secret lines sent in this run (the last few: a packet holds one line or part of one).
_SECRETS: collections.deque[bytes] = collections.deque(maxlen=16)
_SHORTEST_HIDDEN = 1


def hide_in_packet_dumps(data: bytes) -> None:
    """A packet dump that holds ``data`` (a line typed at a secret prompt, its line end
    dropped) shows no contents; only under -vvvv are packets dumped at all."""
    secret = data.rstrip(b"\r\n")
    if len(secret) >= _SHORTEST_HIDDEN and LOGGER.isEnabledFor(logging.DEBUG):
        _SECRETS.append(secret)


def debug(message: str) -> None:
    """A -v line (no-op unless -v)."""
    LOGGER.debug(message)


def enabled() -> bool:
    """True when -v is in effect."""
    return LOGGER.isEnabledFor(logging.DEBUG)


class _Redact(logging.Filter):
    """Cut the hex dump off packets that may carry a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        first, newline, _dump = text.partition("\n")
        if newline and (any(name in first for name in _SECRET_PACKETS) or _holds_secret(record)):
            record.msg, record.args = f"{first} (contents not shown)", None
        return True


def _holds_secret(record: logging.LogRecord) -> bool:
    packet = compat.logged_packet(record)
    # No packet bytes to look at (asyncssh changed): hide every dump once a secret was sent.
    if packet is None:
        return bool(_SECRETS)
    return any(secret in packet for secret in _SECRETS)


class _Formatter(logging.Formatter):
    """``debug1: ...`` (asyncssh's events: ``debug1: asyncssh: ...``, its debug messages
    ``debug2: asyncssh: ...``), like ssh's numbered debug levels."""

    def format(self, record: logging.LogRecord) -> str:
        # Names in these lines come from the user and the server: escaped, line by line
        # (a packet dump's own lines stay lines).
        text = "\n".join(shown(line) for line in record.getMessage().split("\n"))
        if record.name.startswith("remoterepl"):
            return f"debug1: {text}"
        level = "debug1" if record.levelno >= logging.INFO else "debug2"
        return f"{level}: asyncssh: {text}"


def configure_logging(verbosity: int, log_file: str | None = None) -> None:
    """Route remoterepl's and asyncssh's logging by -v count: to stderr, or appended to
    ``log_file`` (-E; UsageError if it cannot be opened)."""
    if verbosity <= 0:
        return
    import asyncssh

    handler: logging.Handler
    if log_file is None:
        handler = logging.StreamHandler(sys.stderr)
        if sys.stderr.isatty():
            handler.terminator = "\r\n"  # readable even while the terminal is in raw mode
    else:
        try:
            handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            raise UsageError(
                f"can't open log file '{shown(log_file)}': {exc.strerror or exc}"
            ) from None
    handler.setFormatter(_Formatter())
    handler.addFilter(_Redact())
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.DEBUG)
    LOGGER.propagate = False
    ssh_logger = logging.getLogger("asyncssh")
    ssh_logger.addHandler(handler)
    ssh_logger.propagate = False
    asyncssh.set_log_level(logging.INFO if verbosity == 1 else logging.DEBUG)
    if verbosity >= 2:
        asyncssh.set_debug_level(min(verbosity - 1, 3))
