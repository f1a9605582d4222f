"""Port forwarding on the destination's connection: -L/-R/-D and the LocalForward,
RemoteForward and DynamicForward lines of ssh_config, set up as ssh sets them up
(GatewayPorts, ExitOnForwardFailure, ClearAllForwardings), each failure one line naming
the forward. :class:`Forwards` is what the layers above see: ``~#``'s listing, close."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import socket
from collections.abc import Awaitable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

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
    # local Unix-socket listeners (-L /path:...): the umask they are made with, and
    # whether a file already at the path is removed first (else: refused, as ssh)
    socket_mask: int = 0o177  # StreamLocalBindMask
    socket_unlink: bool = False  # StreamLocalBindUnlink


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
        socket_mask=_bind_mask(config.get("StreamLocalBindMask")),
        socket_unlink=bool(config.get("StreamLocalBindUnlink", False)),
    )


def _bind_mask(value: object) -> int:
    """StreamLocalBindMask: octal, 0 to 0777, as readconf.c reads it (default 0177)."""
    if value is None:
        return 0o177
    text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
    if not text or len(text) > 4 or any(c not in "01234567" for c in text):
        raise UsageError(f"bad StreamLocalBindMask '{shown(text)}': an octal mask is expected")
    return int(text, 8)


@dataclass
class _Open:
    forward: Forward
    listener: asyncssh.SSHListener
    where: str  # what listens: "127.0.0.1:8080", "localhost:8080", a path
    socket_path: str | None = None  # a local Unix socket we made: removed on close...
    socket_id: tuple[int, int] | None = None  # ...if the path is still it (st_dev, st_ino)


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
            if item.socket_path is not None and item.socket_id is not None:
                _remove_socket(item.socket_path, item.socket_id)
        self._open.clear()


def _target_words(target: Endpoint) -> str:
    return target.path if target.path is not None else str(target)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _remove_socket(path: str, ours: tuple[int, int]) -> None:
    """Remove the socket we made, not whatever has taken its path since."""
    if _identity(path) == ours:
        with contextlib.suppress(OSError):
            os.unlink(path)


_T = TypeVar("_T")


class _FirstStepUnderUmask:
    """Await ``awaitable`` with the process's umask set to ``mask`` during its first
    step only: the synchronous run up to its first suspension, in which asyncio's
    create_unix_server() binds and listens (asyncssh awaits nothing before it). The umask
    is process-wide: no other task of ours may run under it, and no connection may be
    accepted before the socket has its mode (a chmod after the bind would leave both)."""

    def __init__(self, mask: int, awaitable: Awaitable[_T]) -> None:
        self._mask = mask
        self._awaitable = awaitable  # asyncssh's forward_*: a coroutine in a wrapper

    def __await__(self) -> Generator[Any, Any, _T]:
        coroutine = self._awaitable.__await__()
        previous = os.umask(self._mask)
        try:
            suspended = coroutine.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        finally:
            os.umask(previous)
        while True:  # the rest, as ``yield from`` would run it
            try:
                sent = yield suspended
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # cancelled: into the coroutine
                try:
                    suspended = coroutine.throw(exc)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
            else:
                try:
                    suspended = coroutine.send(sent)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]


async def _listen_socket(
    conn: asyncssh.SSHClientConnection, forward: Forward, mask: int, unlink: bool
) -> _Open:
    """A local Unix-socket listener as ssh's unix_listener() makes it: a path already
    there is refused (asyncio would silently remove even a live socket), or removed
    first with StreamLocalBindUnlink yes; the socket is made under StreamLocalBindMask."""
    path, target = forward.listen.path, forward.target
    assert path is not None
    if target is None:  # refused by the parser: SOCKS needs a TCP port
        raise OSError(errno.EINVAL, "SOCKS on a Unix socket is not supported")
    if unlink:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    elif os.path.lexists(path):
        raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))
    if target.path is not None:
        opening = conn.forward_local_path(path, target.path)
    else:
        assert target.host is not None
        opening = conn.forward_local_path_to_port(path, target.host, target.port)
    listener: asyncssh.SSHListener = await _FirstStepUnderUmask(mask, opening)
    return _Open(forward, listener, path, socket_path=path, socket_id=_identity(path))


def _shown_host(host: str) -> str:
    return host or "*"


async def _listen(conn: asyncssh.SSHClientConnection, forward: Forward, plan: ForwardPlan) -> _Open:
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
        return await _listen_socket(conn, forward, plan.socket_mask, plan.socket_unlink)
    host = bind_host(listen, plan.gateway_ports)
    if host == "localhost":
        host = await _loopback_name()
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


async def _loopback_name() -> str:
    """What to bind for "loopback only". ssh binds the loopback addresses without a name
    (getaddrinfo(NULL) without AI_PASSIVE), which asyncssh cannot be asked for: so
    ``localhost`` where it names only loopback addresses (both families, as ssh), else
    127.0.0.1 (a new root may have no /etc/hosts at all)."""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(
            "localhost", None, type=socket.SOCK_STREAM
        )
    except OSError:
        return "127.0.0.1"
    addresses = {str(info[4][0]) for info in found}
    if addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses):
        return "localhost"
    return "127.0.0.1"


def _failure(forward: Forward, exc: BaseException) -> str:
    if isinstance(exc, asyncssh.ChannelListenError):
        what = (
            f"path {forward.listen.path}" if forward.listen.path else f"port {forward.listen.port}"
        )
        return f"remote port forwarding failed for listen {what} ({forward}): {exc}"
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        if forward.listen.path is not None:  # ssh's unix_listener() words
            if exc.errno and exc.errno > 0:
                reason = os.strerror(exc.errno)
            reason = f"cannot bind to path {forward.listen.path}: {reason}"
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
            item = await _listen(conn, forward, plan)
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
