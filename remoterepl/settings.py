"""Immutable run settings and destination parsing; pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from remoterepl.errors import UsageError


@dataclass(frozen=True)
class Target:
    """Where to connect; ``None`` means "not given", so ssh_config may supply it."""

    host: str
    user: str | None = None
    port: int | None = None


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
    quiet: bool = False

    def option(self, key: str) -> str | None:
        """Return the first ``-o`` value for ``key`` (ssh keywords are case-insensitive)."""
        wanted = key.lower()
        return next((v for k, v in self.options if k.lower() == wanted), None)


@dataclass(frozen=True)
class SessionSettings:
    """What to run remotely and how to attach to it."""

    command: str | None = None  # None: the login shell
    pty: bool | None = None  # None: decided by mode (interactive: yes, pipe: no)
    escape_char: str | None = "~"  # None: escapes disabled (-e none)
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
    escape_char_given: bool = False  # -e or -o EscapeChar: wins over the config file


@dataclass(frozen=True)
class Redirection:
    """Where the remote process's stdin comes from and its output goes (None: ours)."""

    stdin: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    append: bool = False
    stderr_to_stdout: bool = False  # 2>&1
    stdout_to_stderr: bool = False  # 1>&2


@dataclass(frozen=True)
class Settings:
    """Everything one run needs."""

    connect: ConnectSettings
    session: SessionSettings = field(default_factory=SessionSettings)


def parse_port(text: str) -> int:
    """Parse a TCP port number, raising UsageError for anything else."""
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"bad port '{text}'")
    return int(text)


def parse_target(destination: str) -> Target:
    """Parse ``[user@]host[:port]``, ``[user@][v6addr]:port`` or ``ssh://[user@]host[:port]``."""
    if not destination or destination.startswith("-"):
        raise UsageError(f"bad destination '{destination}'")
    if destination.lower().startswith("ssh://"):
        return _parse_url(destination)

    user, at, hostport = destination.rpartition("@")
    if at and not user:
        raise UsageError(f"bad destination '{destination}': empty user name")
    host, port = _split_host_port(hostport, destination)
    return Target(host=host, user=user or None, port=port)


def _parse_url(destination: str) -> Target:
    parts = urlsplit(destination)
    if parts.path not in ("", "/") or parts.query or parts.fragment or not parts.hostname:
        raise UsageError(f"bad destination '{destination}'")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"bad port in '{destination}'") from None
    user = unquote(parts.username) if parts.username else None
    return Target(host=parts.hostname, user=user, port=port)


def _split_host_port(hostport: str, destination: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        host, bracket, rest = hostport[1:].partition("]")
        if not bracket or not host or (rest and not rest.startswith(":")):
            raise UsageError(f"bad destination '{destination}'")
        return host, parse_port(rest[1:]) if rest else None
    if hostport.count(":") == 1:  # host:port; several colons are a bare IPv6 address
        host, _, port = hostport.partition(":")
        if not host:
            raise UsageError(f"bad destination '{destination}'")
        return host, parse_port(port)
    if not hostport:
        raise UsageError(f"bad destination '{destination}': no host")
    return hostport, None
