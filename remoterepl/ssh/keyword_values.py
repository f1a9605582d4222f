"""The values of ssh_config keywords that remoterepl checks itself, before asyncssh reads
them: the ones asyncssh would take and fail on later (an OverflowError for Port 99999, a
negative timeout), and those of keywords remoterepl implements (EscapeChar, the forwards).
Pure: no asyncssh import."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable

from remoterepl.errors import UsageError
from remoterepl.forwards import Kind, parse_config_forward
from remoterepl.settings import parse_escape_char

# OpenSSH's limit for times and counts (convtime, a2i): asyncssh would take any size and
# fail converting it to a float deep inside.
_INT_MAX = 2**31 - 1


def _whole(value: str) -> bool:
    """Digits only, and few enough for int() (which refuses over 4300 digits)."""
    return value.isascii() and value.isdigit() and len(value) <= 12


def _port(value: str) -> str | None:
    if _whole(value) and 0 < int(value) < 65536:
        return None
    return "bad port (1-65535)"


def _seconds(value: str) -> str | None:
    # OpenSSH also takes "1m30s"; asyncssh only whole seconds, so only those are offered.
    if _whole(value) and int(value) <= _INT_MAX:
        return None
    return f"invalid time value (whole seconds, 0 to {_INT_MAX})"


def _count(value: str) -> str | None:
    if _whole(value) and int(value) <= _INT_MAX:
        return None
    return f"must be a whole number, 0 to {_INT_MAX}"


#: Keywords whose value is checked as the words of a line, quotes and all (a socket path
#: may hold a space): config_check hands them over quoted again (shlex.join).
LINE_VALUE_KEYWORDS = frozenset({"localforward", "remoteforward", "dynamicforward"})


def _forward(kind: Kind) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        try:
            parse_config_forward(kind, shlex.split(value))
        except ValueError as exc:  # unbalanced quotes in -o
            return str(exc)
        except UsageError as exc:
            return str(exc).partition(": ")[2] or str(exc)
        return None

    return check


def _session_type(value: str) -> str | None:
    if value.lower() in ("none", "default", "subsystem"):
        return None
    return "must be none, subsystem or default"


def _escape_char(value: str) -> str | None:
    try:
        parse_escape_char(value)
    except UsageError:
        return "bad escape character (one character, ^X or none)"
    return None


def _request_tty(value: str) -> str | None:
    if value.lower() in ("yes", "no", "force", "auto", "true", "false"):
        return None
    return "expected yes, no, force or auto"


_VALUE_CHECKS: dict[str, Callable[[str], str | None]] = {
    "EscapeChar": _escape_char,
    "RequestTTY": _request_tty,
    "Port": _port,
    "ConnectTimeout": _seconds,
    "ServerAliveInterval": _seconds,
    "ServerAliveCountMax": _count,
    "NumberOfPasswordPrompts": _count,
    "CanonicalizeMaxDots": _count,
    "LocalForward": _forward(Kind.LOCAL),
    "RemoteForward": _forward(Kind.REMOTE),
    "DynamicForward": _forward(Kind.DYNAMIC),
    "SessionType": _session_type,
}


# Keywords whose values are file names ssh expands "~user" in (it stops at an unknown user).
PATH_KEYWORDS = frozenset(
    {
        "IdentityFile",
        "CertificateFile",
        "UserKnownHostsFile",
        "GlobalKnownHostsFile",
        "IdentityAgent",
        "ControlPath",
        "RevokedHostKeys",
    }
)


def _paths(value: str) -> str | None:
    for word in value.split():
        if word.startswith("~") and os.path.expanduser(word) == word:
            return "no such user"
    return None


def value_problem(keyword: str, value: str) -> str | None:
    """What is wrong with ``value`` for ``keyword`` (canonical spelling), or None. Only
    the values asyncssh would take and fail on later (an OverflowError for Port 99999, a
    negative timeout) are checked here; asyncssh's parser checks the rest."""
    check = _paths if keyword in PATH_KEYWORDS else _VALUE_CHECKS.get(keyword)
    return None if check is None else check(value)
