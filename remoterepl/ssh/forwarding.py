"""Port forwarding on the destination's connection: -L/-R/-D and the LocalForward,
RemoteForward and DynamicForward lines of ssh_config, set up as ssh sets them up
(GatewayPorts, ExitOnForwardFailure, ClearAllForwardings), each failure one line naming
the forward. :class:`Forwards` is what the layers above see: ``~#``'s listing, close."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass

import asyncssh

from remoterepl.display import shown
from remoterepl.environment import Console
from remoterepl.errors import ConnectError, UsageError
from remoterepl.forwards import (
    KEYWORDS,
    Endpoint,
    Forward,
    Kind,
    bind_host,
    merge,
    parse_config_forward,
    remote_bind_host,
)
from remoterepl.settings import ConnectSettings
from remoterepl.ssh import diagnostics
from remoterepl.ssh.host_config import HostConfig


@dataclass(frozen=True)
class ForwardPlan:
    """The forwards of one run and how to treat them, from the command line and the
    destination's ssh_config."""

    forwards: tuple[Forward, ...]
    gateway_ports: bool = False
    exit_on_failure: bool = False
    no_session: bool = False  # -N or SessionType none: no remote process
    fork_in_config: bool = False  # ForkAfterAuthentication yes (-f, -o or a file)


def session_type(config: HostConfig) -> str:
    """SessionType, lower case: ``default``, ``none`` (-N) or ``subsystem``."""
    marker = object()
    value = config.get("SessionType", marker)
    if value is marker:
        return "default"
    return "none" if value is None else str(value).lower()  # asyncssh reads none as None


def _lines(config: HostConfig, keyword: str) -> list[list[str]]:
    """Every line of ``keyword`` that applies to the host, as its words (a quoted
    ``"/tmp/my sock"`` stays one)."""
    value = config.get(keyword)
    lines = value if isinstance(value, list) else []
    return [[str(word) for word in line] for line in lines]


def plan_forwards(settings: ConnectSettings, config: HostConfig) -> ForwardPlan:
    """-L/-R/-D first, then the config file's lines, repeats dropped (as ssh adds them);
    none at all with ClearAllForwardings. UsageError for a bad config line."""
    from_config = [
        parse_config_forward(kind, words)
        for kind in Kind
        for words in _lines(config, KEYWORDS[kind])
    ]
    clear = bool(config.get("ClearAllForwardings", False))
    return ForwardPlan(
        () if clear else merge(settings.forwards, from_config),
        gateway_ports=bool(config.get("GatewayPorts", False)),
        exit_on_failure=bool(config.get("ExitOnForwardFailure", False)),
        no_session=settings.no_command or session_type(config) == "none",
        fork_in_config=bool(config.get("ForkAfterAuthentication", False)),
    )


@dataclass
class _Open:
    forward: Forward
    listener: asyncssh.SSHListener
    where: str  # what listens: "127.0.0.1:8080", "localhost:8080", a path
    socket_path: str | None = None  # a local Unix socket we made: removed on close


class Forwards:
    """The forwards that are listening; closed with the connection."""

    def __init__(self) -> None:
        self._open: list[_Open] = []

    def __len__(self) -> int:
        return len(self._open)

    def listing(self) -> str:
        """``~#``: one line per listener, as ssh's "The following connections are open"."""
        if not self._open:
            return "No forwarded ports.\n"
        lines = ["The following forwardings are open:"]
        for item in self._open:
            forward = item.forward
            side = "on the server" if forward.kind is Kind.REMOTE else "here"
            to = (
                "SOCKS4/5 proxy"
                if forward.target is None
                else f"to {_target_words(forward.target)}"
                + (" from here" if forward.kind is Kind.REMOTE else " from the server")
            )
            lines.append(shown(f"  {forward}: listening {side} on {item.where}, {to}"))
        return "\n".join(lines) + "\n"

    def add(self, item: _Open) -> None:
        self._open.append(item)

    def close(self) -> None:
        """Stop listening (idempotent); local Unix sockets we made are removed, as ssh does."""
        for item in self._open:
            item.listener.close()
            if item.socket_path is not None:
                _remove_socket(item.socket_path)
        self._open.clear()


def _target_words(target: Endpoint) -> str:
    return target.path if target.path is not None else str(target)


def _remove_socket(path: str) -> None:
    with contextlib.suppress(OSError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)


def _shown_host(host: str) -> str:
    return host or "*"


async def _listen(
    conn: asyncssh.SSHClientConnection, forward: Forward, gateway_ports: bool
) -> _Open:
    """Open one forward's listener (OSError or asyncssh.ChannelListenError)."""
    listen, target = forward.listen, forward.target
    if forward.kind is Kind.REMOTE:
        assert target is not None
        host = remote_bind_host(listen)
        if listen.path is not None:
            if target.path is not None:
                listener = await conn.forward_remote_path(listen.path, target.path)
            else:
                assert target.host is not None
                listener = await conn.forward_remote_path_to_port(
                    listen.path, target.host, target.port
                )
            return _Open(forward, listener, listen.path)
        if target.path is not None:
            listener = await conn.forward_remote_port_to_path(host, listen.port, target.path)
        else:
            assert target.host is not None
            listener = await conn.forward_remote_port(host, listen.port, target.host, target.port)
        return _Open(forward, listener, f"{_shown_host(host)}:{listener.get_port()}")
    if listen.path is not None:
        if target is None:  # refused by the parser: SOCKS needs a TCP port
            raise OSError(errno.EINVAL, "SOCKS on a Unix socket is not supported")
        if target.path is not None:
            listener = await conn.forward_local_path(listen.path, target.path)
        else:
            assert target.host is not None
            listener = await conn.forward_local_path_to_port(listen.path, target.host, target.port)
        return _Open(forward, listener, listen.path, socket_path=listen.path)
    host = bind_host(listen, gateway_ports)
    try:
        if target is None:
            listener = await conn.forward_socks(host, listen.port)
        elif target.path is not None:
            listener = await conn.forward_local_port_to_path(host, listen.port, target.path)
        else:
            assert target.host is not None
            listener = await conn.forward_local_port(host, listen.port, target.host, target.port)
    except OSError as exc:
        # errno's words without asyncssh's "error while attempting to bind on address ...";
        # a name that does not resolve (gaierror: a negative errno) keeps its own words
        reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else exc.strerror or str(exc)
        raise OSError(exc.errno, f"bind [{_shown_host(host)}]:{listen.port}: {reason}") from None
    return _Open(forward, listener, f"{_shown_host(host)}:{listener.get_port()}")


def _failure(forward: Forward, exc: BaseException) -> str:
    if isinstance(exc, asyncssh.ChannelListenError):
        what = (
            f"path {forward.listen.path}" if forward.listen.path else f"port {forward.listen.port}"
        )
        return f"remote port forwarding failed for listen {what} ({forward}): {exc}"
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        if forward.listen.path is not None:
            reason = f"{forward.listen.path}: {reason}"
        return f"{forward.kind.value} forwarding failed ({forward}): {reason}"
    return f"{forward.kind.value} forwarding failed ({forward}): {exc}"


async def open_forwards(
    conn: asyncssh.SSHClientConnection, plan: ForwardPlan, console: Console
) -> Forwards:
    """Set up every forward in order. One that fails is one warning line, or, with
    ExitOnForwardFailure, a ConnectError (exit status 255) after the others are closed."""
    forwards = Forwards()
    for forward in plan.forwards:
        try:
            item = await _listen(conn, forward, plan.gateway_ports)
        except (OSError, asyncssh.ChannelListenError) as exc:
            message = _failure(forward, exc)
            if plan.exit_on_failure:
                forwards.close()
                raise ConnectError(f"{message}; exiting (ExitOnForwardFailure yes)") from None
            console.warn(shown(f"Warning: {message}"))
            continue
        except (asyncssh.ConnectionLost, asyncssh.DisconnectError) as exc:
            forwards.close()
            raise ConnectError(f"connection lost while setting up {forward}: {exc}") from None
        if forward.kind is Kind.REMOTE and forward.listen.path is None and forward.listen.port == 0:
            # ssh's own line: the user has no other way to learn the port
            console.warn(
                shown(
                    f"Allocated port {item.listener.get_port()} for remote forward to "
                    f"{_target_words(forward.target or Endpoint())}"
                )
            )
        diagnostics.debug(f"forwarding {forward}: listening on {item.where}")
        forwards.add(item)
    return forwards


def _dump(endpoint: Endpoint) -> str:
    if endpoint.path is not None:
        return endpoint.path
    return str(endpoint.port) if endpoint.host is None else f"[{endpoint.host}]:{endpoint.port}"


def config_words(plan: ForwardPlan) -> dict[str, list[str]]:
    """``-G``'s lines for the forwards and -N/-f, as ssh -G writes them (readconf.c
    dump_cfg_forwards: ``localforward 8080 [localhost]:80``), keyword -> one value a line."""
    words: dict[str, list[str]] = {keyword: [] for keyword in KEYWORDS.values()}
    for forward in plan.forwards:
        target = "" if forward.target is None else f" {_dump(forward.target)}"
        words[KEYWORDS[forward.kind]].append(f"{_dump(forward.listen)}{target}")
    if plan.no_session:
        words["SessionType"] = ["none"]
    return words


def check_session_type(config: HostConfig) -> None:
    """SessionType subsystem (ssh -s) is not implemented: refused before connecting."""
    if session_type(config) == "subsystem":
        raise UsageError("SessionType subsystem is not implemented by remoterepl")
