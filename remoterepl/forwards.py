"""Port-forwarding specifications (``-L``, ``-R``, ``-D``, LocalForward, RemoteForward,
DynamicForward) parsed as OpenSSH's ``parse_forward()`` reads them (readconf.c), and
where a listener binds (GatewayPorts). Pure: no asyncssh import, no I/O, so that a bad
``-L`` stops the run (exit status 2) before anything is connected."""

from __future__ import annotations

import enum
import socket
from dataclasses import dataclass
from typing import Any, Protocol

from remoterepl.display import shown
from remoterepl.errors import UsageError
from remoterepl.settings import first_option


class Kind(enum.Enum):
    """Which side listens, and what it forwards to."""

    LOCAL = "local"  # -L: we listen, the server connects
    REMOTE = "remote"  # -R: the server listens, we connect
    DYNAMIC = "dynamic"  # -D: we listen as a SOCKS4/5 proxy, the server connects


#: The option and the ssh_config keyword of each kind.
OPTIONS = {Kind.LOCAL: "-L", Kind.REMOTE: "-R", Kind.DYNAMIC: "-D"}
KEYWORDS = {
    Kind.LOCAL: "LocalForward",
    Kind.REMOTE: "RemoteForward",
    Kind.DYNAMIC: "DynamicForward",
}


@dataclass(frozen=True)
class Endpoint:
    """A TCP ``host:port`` (``host`` None: no bind address given) or a Unix socket path."""

    host: str | None = None
    port: int = 0
    path: str | None = None

    def __str__(self) -> str:
        """``path``, ``port``, ``host:port`` or ``[v6addr]:port``, as ssh writes them."""
        if self.path is not None:
            return self.path
        if self.host is None:
            return str(self.port)
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Forward:
    """One forwarding: where it listens, and where connections go (None: SOCKS)."""

    kind: Kind
    listen: Endpoint
    target: Endpoint | None
    spec: str  # as written, for messages
    origin: str = ""  # where it was written: "" for its option (-L), else the keyword

    @property
    def option(self) -> str:
        """``-L``, ``-R`` or ``-D``."""
        return OPTIONS[self.kind]

    def __str__(self) -> str:
        """``-L 8080:localhost:80`` or ``LocalForward 8080 localhost:80``, for messages."""
        return f"{self.origin or self.option} {self.spec}"

    def same_as(self, other: Forward) -> bool:
        """The same forwarding (ssh drops a repeated one), whatever its spelling."""
        return (self.kind, self.listen, self.target) == (other.kind, other.listen, other.target)


@dataclass(frozen=True)
class _Field:
    text: str
    is_path: bool


def _fields(spec: str) -> list[_Field] | None:
    """Split at ``:`` as parse_fwd_field() does: ``[...]`` is taken literally (IPv6
    addresses, paths with colons), ``\\`` escapes the next character, and a ``/`` makes
    the field a Unix socket path. None for a malformed spec."""
    fields: list[_Field] = []
    rest = spec.lstrip()
    while rest:
        if len(fields) == 4:
            return None  # trailing garbage
        if rest.startswith("["):
            end = rest.find("]")
            if end < 0 or rest[end + 1 : end + 2] not in ("", ":"):
                return None
            text = rest[1:end]
            fields.append(_Field(text, "/" in text))
            rest = rest[end + 2 :]
            continue
        text, is_path, i = "", False, 0
        while i < len(rest) and rest[i] != ":":
            char = rest[i]
            if char == "\\":
                i += 1
                if i == len(rest):
                    return None
                char = rest[i]
            elif char == "/":
                is_path = True
            text += char
            i += 1
        fields.append(_Field(text, is_path))
        rest = rest[i + 1 :]
    return fields


def _port(text: str) -> int | None:
    """0-65535, or a TCP service name from /etc/services (``http``), as OpenSSH's
    a2port() takes them."""
    if text.isascii() and text.isdigit() and len(text) <= 5 and int(text) <= 65535:
        return int(text)
    if not text or not text.isascii() or not text.isprintable():
        return None
    try:
        return socket.getservbyname(text, "tcp")
    except OSError:
        return None


def _endpoint(host: _Field | None, port: _Field) -> Endpoint | None:
    number = _port(port.text)
    if number is None:
        return None
    return Endpoint(None if host is None else host.text, number)


def parse_forward(kind: Kind, spec: str) -> Forward:
    """Parse one ``-L``/``-R``/``-D`` argument (UsageError with ssh's wording)."""
    bad = UsageError(f"Bad {kind.value} forwarding specification '{shown(spec)}'")
    fields = _fields(spec)
    if not fields:
        raise bad
    listen: Endpoint | None
    target: Endpoint | None = None
    n = len(fields)
    dynamic = kind is Kind.DYNAMIC or (kind is Kind.REMOTE and n <= 2 and not fields[-1].is_path)
    if n == 1:
        f = fields[0]
        listen = Endpoint(path=f.text) if f.is_path else _endpoint(None, f)
    elif n == 2:
        a, b = fields
        if a.is_path and b.is_path:
            listen, target = Endpoint(path=a.text), Endpoint(path=b.text)
        elif b.is_path:
            listen, target = _endpoint(None, a), Endpoint(path=b.text)
        else:
            listen = _endpoint(a, b)
    elif n == 3:
        a, b, c = fields
        if a.is_path:
            listen, target = Endpoint(path=a.text), _endpoint(b, c)
        elif c.is_path:
            listen, target = _endpoint(a, b), Endpoint(path=c.text)
        else:
            listen, target = _endpoint(None, a), _endpoint(b, c)
    else:
        a, b, c, d = fields
        listen, target = _endpoint(a, b), _endpoint(c, d)
    if listen is None:
        raise bad
    if dynamic:
        if n > 2 or target is not None:
            raise bad
    elif target is None or (target.path is None and (target.port == 0 or not target.host)):
        raise bad
    if not all(f.text for f in fields if f.is_path):
        raise bad
    if listen.path is None and listen.port == 0 and kind is not Kind.REMOTE:
        raise bad  # only the server can pick a free port (-R 0:...)
    if kind is Kind.DYNAMIC and listen.path is not None:
        raise UsageError(f"{OPTIONS[kind]} {shown(spec)}: SOCKS on a Unix socket is not supported")
    if kind is Kind.REMOTE and dynamic:
        raise UsageError(
            f"-R {shown(spec)}: remote dynamic forwarding (a SOCKS proxy on the server) "
            "is not supported by remoterepl"
        )
    return Forward(Kind.DYNAMIC if dynamic else kind, listen, target, spec)


def parse_config_forward(kind: Kind, words: list[str]) -> Forward:
    """A LocalForward/RemoteForward/DynamicForward line's words: ``LISTEN TARGET`` (the
    two joined with ``:`` as readconf.c does), or ``LISTEN`` alone for DynamicForward and
    a remote SOCKS RemoteForward."""
    keyword = KEYWORDS[kind]
    if not words or len(words) > (1 if kind is Kind.DYNAMIC else 2):
        raise UsageError(f"bad {keyword} '{shown(' '.join(words))}'")
    if kind is Kind.LOCAL and len(words) == 1:
        raise UsageError(f"bad {keyword} '{shown(words[0])}': missing target argument")
    spec = ":".join(words)
    try:
        forward = parse_forward(kind, spec)
        if kind is Kind.REMOTE and len(words) == 1:  # readconf.c: LISTEN alone is SOCKS
            raise UsageError(f"Bad remote forwarding specification '{shown(spec)}'")
    except UsageError as exc:
        raise UsageError(f"{keyword} {shown(' '.join(words))}: {exc}") from None
    return Forward(forward.kind, forward.listen, forward.target, " ".join(words), keyword)


def bind_host(listen: Endpoint, gateway_ports: bool) -> str:
    """The address a *local* listener binds, as ssh's channel_fwd_bind_addr() decides for
    the client: no bind address -> loopback (``localhost``: 127.0.0.1 and ::1), or every
    address with GatewayPorts yes; ``*`` or an empty one -> every address; any other
    explicit address is used as given, whatever GatewayPorts says (ssh(1) -L)."""
    host = listen.host
    if host is None:
        return "" if gateway_ports else "localhost"
    if host in ("", "*"):
        return ""
    return host


def remote_bind_host(listen: Endpoint) -> str:
    """The address a ``-R`` asks the server to bind (channels.c: the server's own
    GatewayPorts decides whether it may bind anything but loopback)."""
    if listen.host is None:
        return "localhost"
    if listen.host in ("", "*"):
        return ""
    return listen.host


def merge(first: tuple[Forward, ...], then: list[Forward]) -> tuple[Forward, ...]:
    """``first`` followed by the ones of ``then`` not already in it (ssh drops repeats)."""
    merged = list(first)
    for forward in then:
        if not any(forward.same_as(f) for f in merged):
            merged.append(forward)
    return tuple(merged)


# -- the command line (remoterepl.cli) ------------------------------------------------------

#: -L/-R/-D: (flag, metavar, help); each repeatable (the argparse dest: the letter).
FORWARD_FLAGS = (
    (
        "-L",
        "[BIND:]PORT:HOST:HOSTPORT",
        "forward a local port or socket to HOST:HOSTPORT as the server reaches it; repeatable",
    ),
    (
        "-R",
        "[BIND:]PORT:HOST:HOSTPORT",
        "forward a port or socket on the server to HOST:HOSTPORT as reached from here; repeatable",
    ),
    ("-D", "[BIND:]PORT", "local SOCKS4/5 proxy whose connections the server makes; repeatable"),
)
#: -N/-f: (flag, help).
SESSION_FLAGS = (
    ("-N", "no remote command: only forward ports (SessionType none)"),
    ("-f", "go to the background after authentication (ForkAfterAuthentication yes)"),
)
#: Options that need a remote process (not with -N): argparse dests.
_SESSION_OPTIONS = ("raw", "record", "stdin", "stdout", "stderr")


class _Adds(Protocol):
    def add_argument(self, *args: Any, **kwargs: Any) -> Any: ...


def add_arguments(group: _Adds) -> None:
    """Add -L -R -D -g -N -f to an argparse group (argparse's dest: the letter; -g's is
    ``gateway_ports``, turned into GatewayPorts by the caller)."""
    for flag, metavar, text in FORWARD_FLAGS:
        group.add_argument(flag, dest=flag[1], metavar=metavar, action="append", help=text)
    group.add_argument(
        "-g",
        dest="gateway_ports",
        action="store_true",
        help="let other hosts connect to local forwarded ports (GatewayPorts yes)",
    )
    for flag, text in SESSION_FLAGS:
        group.add_argument(flag, dest=flag[1], action="store_true", help=text)


def connect_fields(args: dict[str, Any], options: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """ConnectSettings' forwards, no_command and fork_after_auth from argparse's values
    (see :func:`add_arguments`) and the -o options; UsageError as ssh refuses them."""
    given = ((Kind.LOCAL, args["L"]), (Kind.REMOTE, args["R"]), (Kind.DYNAMIC, args["D"]))
    return {
        "forwards": tuple(parse_forward(kind, s) for kind, specs in given for s in specs or ()),
        "no_command": bool(args["N"]),
        "fork_after_auth": check_no_command(args, options),
    }


def check_no_command(args: dict[str, Any], options: tuple[tuple[str, str], ...]) -> bool:
    """Refuse -N with what needs a remote process (COMMAND, --raw, --stdin...); ``args``
    are argparse's values. Return whether to go to the background (-f, or -o
    ForkAfterAuthentication=yes; the app refuses it when there is nothing to run)."""
    session_none = bool(args["N"]) or (first_option(options, "SessionType") or "").lower() == "none"
    if args["N"] and args["command"]:
        raise UsageError("-N runs no remote command: drop COMMAND or -N")
    needing = [f"--{name}" for name in _SESSION_OPTIONS if args.get(name)]
    if session_none and needing:
        raise UsageError(f"-N runs no remote command: not with {', '.join(needing)}")
    fork = (first_option(options, "ForkAfterAuthentication") or "").lower() in ("yes", "true")
    return bool(args["f"]) or fork
