"""Immutable run settings and destination parsing; pure functions, no I/O."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from remoterepl.display import shown
from remoterepl.errors import UsageError

if TYPE_CHECKING:  # forwards.py reads options with first_option() below
    from remoterepl.forwards import Forward

DEFAULT_ESCAPE_CHAR = "~"


@dataclass(frozen=True)
class Target:
    """Where to connect; ``None`` means "not given", so ssh_config may supply it."""

    host: str
    user: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        """As a DESTINATION argument: ``user@host:port``, ``[v6]:port``, ``host``."""
        host = f"[{self.host}]" if ":" in self.host and self.port is not None else self.host
        return (
            (f"{self.user}@" if self.user else "") + host + (f":{self.port}" if self.port else "")
        )


def first_option(options: tuple[tuple[str, str], ...], key: str) -> str | None:
    """The first value for ``key`` among ``(keyword, value)`` options (ssh keywords are
    case-insensitive; the first value wins)."""
    wanted = key.lower()
    return next((v for k, v in options if k.lower() == wanted), None)


@dataclass(frozen=True)
class ConnectSettings:
    """How to reach and authenticate to the server."""

    target: Target
    config_file: str | None = None  # None: ~/.ssh/config when readable
    identity_files: tuple[str, ...] = ()
    options: tuple[tuple[str, str], ...] = ()  # -o KEY=VALUE, in command-line order
    jump_hosts: str | None = None  # -J HOP[,HOP...] (ProxyJump for the destination)
    forward_agent: bool | None = None  # -A (True) / -a (False); None: ssh_config decides
    password_file: str | None = None  # --password-file FILE
    verbosity: int = 0
    log_file: str | None = None  # -E FILE: the -v diagnostics go there, appended
    quiet: bool = False
    warnings: tuple[str, ...] = ()  # about the command line: shown once the run starts
    forwards: tuple[Forward, ...] = ()  # -L/-R/-D in command-line order (ssh_config adds more)
    no_command: bool = False  # -N (SessionType none): no remote process, only the forwards
    fork_after_auth: bool = False  # -f (ForkAfterAuthentication yes): background once ready
    # defaults of this run, before remoterepl's own (ssh_config and -o win): a fleet's
    # BatchMode yes, since 500 hosts cannot each ask a question on one terminal
    defaults: tuple[tuple[str, str], ...] = ()
    config_per_host: bool = False  # many hosts: ssh_config read cut down for each host

    def option(self, key: str) -> str | None:
        """Return the first ``-o`` value for ``key`` (ssh keywords are case-insensitive)."""
        return first_option(self.options, key)


@dataclass(frozen=True)
class HostSessionOptions:
    """The session keywords of the destination's ssh_config, as written (None: not set);
    :func:`remoterepl.app` applies them where the command line left the choice open."""

    remote_command: str | None = None  # RemoteCommand, %-tokens expanded
    request_tty: str | None = None  # RequestTTY: yes, no, force or auto
    escape_char: str | None = None  # EscapeChar


@dataclass(frozen=True)
class SessionSettings:
    """What to run remotely and how to attach to it."""

    command: str | None = None  # None: the login shell
    pty: bool | None = None  # None: decided by mode (interactive: yes, pipe: no)
    escape_char: str | None = DEFAULT_ESCAPE_CHAR  # None: escapes disabled (-e none)
    raw: bool = False  # --raw: plain passthrough, no line editor
    redirect: Redirection = field(default_factory=lambda: Redirection())
    frontend: FrontEndOptions = field(default_factory=lambda: FrontEndOptions())


@dataclass(frozen=True)
class FrontEndOptions:
    """Line-editor options given on the command line; None leaves it to the config file."""

    config_file: str | None = None  # --config FILE (None: the XDG config.toml, if any)
    history: bool | None = None  # --no-history: False
    record: str | None = None  # --record FILE: an asciicast v2 recording
    lexer: str | None = None  # --lexer NAME ("none": no highlighting)
    strip_escapes: bool | None = None  # --strip-escapes: drop OSC/DCS/... from remote output
    escape_char_given: bool = False  # -e or -o EscapeChar: wins over config.toml


@dataclass(frozen=True)
class Redirection:
    """Where the remote process's stdin comes from and its output goes (None: ours)."""

    stdin: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    append: bool = False
    stderr_to_stdout: bool = False  # 2>&1
    stdout_to_stderr: bool = False  # 1>&2


DEFAULT_FANOUT = 64  # concurrent connection set-ups, as clush: sshd's MaxStartups drops bursts


@dataclass(frozen=True)
class FleetSettings:
    """Many hosts at once (--hosts, --hosts-file, --inventory): which, and where output goes."""

    hosts: tuple[str, ...] = ()  # --hosts values, split at commas, in command-line order
    hosts_files: tuple[str, ...] = ()  # --hosts-file FILE...
    inventory: str | None = None  # --inventory FILE (an Ansible inventory)
    limit: str | None = None  # --limit PATTERN (Ansible's host patterns)
    gather: bool = False  # --gather: identical output once per host set
    out_dir: str | None = None  # --out-dir DIR: DIR/HOST.out and DIR/HOST.err
    fanout: int = DEFAULT_FANOUT  # --fanout N: connection set-ups at once


DEFAULT_RECONNECT_FOR = 600.0  # seconds of reconnecting after the link is lost (10 minutes)
SESSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")  # the holder's rule too


class PersistAction(enum.Enum):
    """What a run does with the remote user's persistent sessions."""

    ATTACH = "attach"  # --persist NAME: create NAME or reattach to it
    LIST = "list"  # --sessions
    KILL = "kill"  # --kill-session NAME


@dataclass(frozen=True)
class PersistSettings:
    """--persist, --sessions, --kill-session: a session kept by a holder on the remote host."""

    action: PersistAction
    name: str | None = None  # the session's name (None for --sessions)
    reconnect_for: float = DEFAULT_RECONNECT_FOR  # --reconnect-for: 0 never reconnects


@dataclass(frozen=True)
class Settings:
    """Everything one run needs."""

    connect: ConnectSettings  # for a fleet: what every host shares (its target is a template)
    session: SessionSettings = field(default_factory=SessionSettings)
    print_config: bool = False  # -G: print the destination's configuration and exit
    fleet: FleetSettings | None = None  # None: one DESTINATION
    persist: PersistSettings | None = None  # None: the process ends with the connection


def check_session_name(name: str, option: str) -> str:
    """A session name as the holder takes it (letters, digits, ``._-``; 64 at most)."""
    if not SESSION_NAME.match(name):
        raise UsageError(
            f"bad {option} name '{shown(name)}': letters, digits, '.', '_' and '-' "
            "(not first), at most 64"
        )
    return name


def parse_duration(value: str, option: str) -> float:
    """ssh's time format: ``30``, ``90s``, ``10m``, ``1h30m`` (s, m, h, d, w)."""
    units = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    parts = re.findall(r"(\d+)([smhdw]?)", value.lower())
    if not value or "".join(n + u for n, u in parts) != value.lower():
        raise UsageError(f"bad {option} '{shown(value)}': a time such as 30, 90s, 10m or 1h")
    return float(sum(int(number) * units[unit] for number, unit in parts))


def parse_escape_char(value: str) -> str | None:
    """Parse ``-e`` / EscapeChar as ssh does: a character, ``^X`` for a control
    character, or ``none`` to disable escapes."""
    if value.lower() == "none":
        return None
    if len(value) == 2 and value[0] == "^" and 0x3F <= ord(value[1].upper()) <= 0x5F:
        return chr(ord(value[1].upper()) & 0x1F)
    if len(value) == 1:
        return value
    raise UsageError(f"bad escape character '{shown(value)}': use one character, ^X or none")


def parse_port(text: str) -> int:
    """Parse a TCP port number, raising UsageError for anything else."""
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"bad port '{shown(text)}'")
    return int(text)


# OpenSSH (9.6 and later) refuses these in a host or user name from the command line:
# they end up in %h/%r of a ProxyCommand run by a shell (readconf.c ssh_valid_hostname,
# ssh_valid_ruser). A leading "-" would make the name an option of such a command.
_HOST_FORBIDDEN = frozenset("'`\"$\\;&<>|(){},")
_USER_FORBIDDEN = frozenset("'`\";&<>|(){}")


def host_problem(host: str) -> str | None:
    """Why ``host`` cannot be a host name (OpenSSH's rule), or None if it can."""
    if host.startswith("-"):
        return "a host name may not start with '-'"
    for char in host:
        if char in _HOST_FORBIDDEN or char.isspace() or not char.isprintable():
            return f"a host name may not contain '{shown(char)}'"
    return None


def user_problem(user: str) -> str | None:
    """Why ``user`` cannot be a remote user name (OpenSSH's rule), or None if it can."""
    if user.startswith("-"):
        return "a user name may not start with '-'"
    for i, char in enumerate(user):
        if char in _USER_FORBIDDEN or not char.isprintable():
            return f"a user name may not contain '{shown(char)}'"
        if char.isspace() and user[i + 1 : i + 2] == "-":
            return "a user name may not contain '-' after a space"
    if user.endswith("\\"):
        return "a user name may not end with '\\'"
    return None


def check_user(user: str, what: str) -> str:
    """``user`` if it is a valid remote user name, else UsageError naming ``what``."""
    problem = user_problem(user)
    if problem is not None:
        raise UsageError(f"bad {what} '{shown(user)}': {problem}")
    return user


def parse_target(destination: str) -> Target:
    """Parse ``[user@]host[:port]``, ``[user@][v6addr]:port`` or ``ssh://[user@]host[:port]``;
    host and user must be names OpenSSH accepts (no leading ``-``, no shell metacharacters)."""
    if not destination:
        raise UsageError("bad destination '': empty")
    if destination.lower().startswith("ssh://"):
        target = _parse_url(destination)
    else:
        user, at, hostport = destination.rpartition("@")
        if at and not user:
            raise UsageError(f"bad destination '{shown(destination)}': empty user name")
        host, port = _split_host_port(hostport, destination)
        target = Target(host=host, user=user or None, port=port)
    problem = host_problem(target.host) or (
        user_problem(target.user) if target.user is not None else None
    )
    if problem is not None:
        raise UsageError(f"bad destination '{shown(destination)}': {problem}")
    return target


def _parse_url(destination: str) -> Target:
    bad = f"bad destination '{shown(destination)}'"
    try:
        parts = urlsplit(destination)
        hostname = parts.hostname
    except ValueError as exc:  # "Invalid IPv6 URL": an unclosed "["
        raise UsageError(f"{bad}: {exc}") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment or not hostname:
        raise UsageError(bad)
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"bad port in '{shown(destination)}'") from None
    if port == 0:
        raise UsageError(f"bad port in '{shown(destination)}'")
    user = unquote(parts.username) if parts.username else None
    return Target(host=hostname, user=user, port=port)


def _split_host_port(hostport: str, destination: str) -> tuple[str, int | None]:
    bad = f"bad destination '{shown(destination)}'"
    if hostport.startswith("["):
        host, bracket, rest = hostport[1:].partition("]")
        if not bracket or not host or (rest and not rest.startswith(":")):
            raise UsageError(bad)
        return host, parse_port(rest[1:]) if rest else None
    if hostport.count(":") == 1:  # host:port; several colons are a bare IPv6 address
        host, _, port = hostport.partition(":")
        if not host:
            raise UsageError(bad)
        return host, parse_port(port)
    if not hostport:
        raise UsageError(f"{bad}: no host")
    return hostport, None


def parse_jump_spec(spec: str) -> list[Target]:
    """``[user@]host[:port][,...]`` (or ssh:// URIs) -> targets, first hop first."""
    targets: list[Target] = []
    for part in spec.split(","):
        part = part.strip(" ")  # only spaces: a newline would end the ssh_config line
        try:
            targets.append(parse_target(part))
        except UsageError as exc:
            reason = str(exc).partition("': ")[2]
            raise UsageError(
                f"bad jump host '{shown(part)}' in '{shown(spec)}'"
                + (f": {reason}" if reason else "")
            ) from None
    return targets
