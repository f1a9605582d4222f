"""Settings -> an authenticated asyncssh connection, through jump hosts, as ssh makes it.

One run: write the -o/-i/-J/-A overrides and remoterepl's defaults as ssh_config files
(:mod:`remoterepl.ssh.config`), plan the route (:mod:`remoterepl.ssh.route`), then open each hop
with its own settings -- known_hosts and StrictHostKeyChecking (:mod:`remoterepl.ssh.hostkeys`),
keys and agent (:mod:`remoterepl.ssh.identities`), passwords and keyboard-interactive
(:mod:`remoterepl.ssh.auth`) -- the next one tunnelled through the previous. Every failure
becomes one :class:`~remoterepl.errors.ConnectError` line naming the host (and the jump
host) it concerns.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import asyncssh

from remoterepl.errors import ConnectError, HostKeyError, SessionLost, UsageError
from remoterepl.settings import ConnectSettings
from remoterepl.ssh import diagnostics
from remoterepl.ssh.auth import Asker, PasswordAuth, read_password_file
from remoterepl.ssh.config import (
    DEFAULTS,
    ConfigFiles,
    HostConfig,
    default_options,
    write_config_files,
)
from remoterepl.ssh.hostkeys import HostKeyVerifier, KnownHosts, Policy, host_label
from remoterepl.ssh.identities import (
    IdentityFile,
    Offer,
    describe_key,
    load_identity_files,
    order_offers,
    unlock_without_public_half,
)
from remoterepl.ssh.route import Route, plan_route
from remoterepl.ssh.transport import coalesce_writes, corked
from remoterepl.ssh.ttyprompt import terminal_available

__all__ = ["DEFAULTS", "Connection", "connect", "where"]

_T = TypeVar("_T")


def where(host: str, port: int) -> str:
    """``host`` or ``host port N``, as ssh's messages name a server."""
    return host if port == 22 else f"{host} port {port}"


@dataclass
class _Hop:
    """Everything needed to open (and explain) one SSH connection of the route."""

    route: Route
    verifier: HostKeyVerifier
    auth: PasswordAuth
    identities: list[IdentityFile]
    quiet: bool
    forward_agent: str | None = None

    @property
    def config(self) -> HostConfig:
        """This hop's ssh_config."""
        return self.route.host

    @property
    def label(self) -> str:
        """``host`` or ``host port N``."""
        return where(self.config.host, self.config.port)

    @property
    def who(self) -> str:
        """Message prefix naming a jump host ("" for the destination)."""
        return f"jump host {self.config.written}: " if self.route.is_hop else ""


class _Client(asyncssh.SSHClient):
    """asyncssh's callbacks for one hop: host key, keys, agent, passwords, -v lines."""

    def __init__(self, hop: _Hop) -> None:
        self.hop = hop
        self.conn: asyncssh.SSHClientConnection | None = None
        self.auth_started = asyncio.Event()
        self.lost = False
        self.lost_reason: Exception | None = None
        self.method = ""
        self.server_methods: list[str] = []
        self._offers: list[Offer] | None = None
        self._agent: asyncssh.SSHAgentClient | None = None

    # -- connection --------------------------------------------------------------------

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self.conn = conn
        coalesce_writes(conn)
        peer = conn.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2 and peer[0]:
            diagnostics.debug(f"connection established to {peer[0]} port {peer[1]}")
        else:
            diagnostics.debug(
                f"connection established to {self.hop.label} (through a jump host or ProxyCommand)"
            )

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.lost_reason = exc
        self.close_agent()

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        return self.hop.verifier.validate(key)

    def auth_banner_received(self, msg: str, lang: str) -> None:
        if not self.hop.quiet:
            text = "".join(c for c in msg if c.isprintable() or c in "\n\t")
            sys.stderr.write(text if text.endswith("\n") else text + "\n")
            sys.stderr.flush()

    def begin_auth(self, username: str) -> None:
        self.auth_started.set()
        if self.conn is not None and diagnostics.enabled():
            diagnostics.debug(self.hop.verifier.describe(self.conn.get_server_host_key()))
            diagnostics.debug(f"authenticating to {self.hop.label} as {username}")

    def auth_completed(self) -> None:
        self.close_agent()
        diagnostics.debug(
            f"authenticated to {self.hop.label} as {self.hop.auth.user} "
            f"using {self.method or 'none'}"
        )

    def _note_methods(self) -> None:
        if self.conn is not None:
            for method in self.conn.get_server_auth_methods():
                if method not in self.server_methods:
                    self.server_methods.append(method)

    # -- public keys -------------------------------------------------------------------

    async def _agent_keys(self) -> list[asyncssh.SSHKeyPair]:
        path = self.hop.config.agent_path
        if path is None:
            diagnostics.debug("no agent (IdentityAgent none, or SSH_AUTH_SOCK unset)")
            return []
        self._agent = asyncssh.SSHAgentClient(path)
        try:
            keys = list(await self._agent.get_keys())
        except (ValueError, OSError, asyncssh.Error) as exc:
            diagnostics.debug(f"agent at {path} not usable: {exc}")
            self.close_agent()
            return []
        diagnostics.debug(f"agent at {path} holds {len(keys)} key(s)")
        return keys

    def close_agent(self) -> None:
        """Close the agent connection used for authentication (forwarding uses its own)."""
        if self._agent is not None:
            self._agent.close()
            self._agent = None

    async def public_key_auth_requested(self) -> list[asyncssh.SSHKeyPair] | None:
        self._note_methods()
        if self._offers is None:
            self._offers = order_offers(
                self.hop.identities,
                await self._agent_keys(),
                identities_only=self.hop.config.identities_only,
            )
        while self._offers:
            offer = self._offers.pop(0)
            if offer.pending is not None:
                pairs = await unlock_without_public_half(offer.pending, self.hop.auth.passphrase)
                self._offers[:0] = [Offer(p, f"{offer.label} {describe_key(p)}") for p in pairs]
                continue
            assert offer.keypair is not None
            diagnostics.debug(f"offering public key: {offer.label}")
            self.method = f"publickey ({offer.label})"
            return [offer.keypair]
        return None

    # -- passwords and keyboard-interactive ---------------------------------------------

    async def password_auth_requested(self) -> str | None:
        self._note_methods()
        self.method = "password"
        return await self.hop.auth.password()

    def kbdint_auth_requested(self) -> str | None:
        self._note_methods()
        self.method = "keyboard-interactive"
        return "" if self.hop.auth.kbdint_wanted() else None

    async def kbdint_challenge_received(
        self, name: str, instructions: str, lang: str, prompts: Sequence[tuple[str, bool]]
    ) -> list[str] | None:
        return await self.hop.auth.challenge(name, instructions, prompts)


class Connection:
    """The open SSH connection to the destination, and the jump-host connections under it."""

    def __init__(
        self,
        conn: asyncssh.SSHClientConnection,
        client: _Client,
        hops: Sequence[tuple[asyncssh.SSHClientConnection, _Client]] = (),
    ) -> None:
        self.conn = conn
        self._client = client
        self._hops = list(hops)

    @property
    def host(self) -> str:
        """The destination's host name as connected (after ssh_config's HostName)."""
        return self._client.hop.config.host

    @property
    def port(self) -> int:
        """The destination's port."""
        return self._client.hop.config.port

    @property
    def label(self) -> str:
        """``host`` or ``host port N``, for messages."""
        return self._client.hop.label

    @property
    def hop_labels(self) -> list[str]:
        """The jump hosts this connection went through, first hop first, as written in
        -J/ProxyJump (e.g. ``entrance``, ``alice@gw:2222``)."""
        return [client.hop.config.written for _conn, client in self._hops]

    def lost_error(self) -> SessionLost:
        """The error to report when the connection dropped under a running session."""
        for _conn, client in self._hops:  # a jump host that went away takes the rest along
            if client.lost:
                return SessionLost(
                    f"connection to jump host {client.hop.config.written} "
                    f"lost{_lost_detail(client)}"
                )
        return SessionLost(f"connection to {self.label} lost{_lost_detail(self._client)}")

    def corked(self) -> contextlib.AbstractContextManager[None]:
        """What the block writes to the destination goes out as one write at its end."""
        return corked(self.conn)

    def close(self) -> None:
        """Close the connection and the jump-host connections under it (idempotent).

        Each goodbye (channel close, disconnect) is sent before the hop carrying it closes:
        queued for the end of the loop turn, it would find the tunnel already gone."""
        for conn in (self.conn, *(conn for conn, _client in reversed(self._hops))):
            with corked(conn):
                conn.close()

    async def wait_closed(self) -> None:
        """Wait until everything is fully closed."""
        await self.conn.wait_closed()
        for conn, _client in reversed(self._hops):
            await conn.wait_closed()


def _lost_detail(client: _Client) -> str:
    reason = client.lost_reason
    if reason is None:
        return ""
    text = str(getattr(reason, "reason", "") or reason)
    if "keepalive" in text.lower():
        config = client.hop.config
        return (
            f": server not responding (no answer to {config.get('ServerAliveCountMax')} "
            f"keepalives sent {config.get('ServerAliveInterval')} s apart)"
        )
    return "" if text.lower() == "connection lost" else f" ({text})"


# --------------------------------------------------------------------------- connecting


async def _blocking(func: Callable[..., _T], *args: object) -> _T:
    """Run blocking ``func(*args)`` in the default executor."""
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)


def _warn(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _prepare_hop(
    route: Route, settings: ConnectSettings, password: str | None, terminal: bool
) -> _Hop:
    """Read this hop's known_hosts and identity files (blocking)."""
    config = route.host
    asker = Asker(allowed=terminal and not config.batch_mode)
    auth = PasswordAuth(config.user, config.host, asker, max(config.password_prompts, 0), password)
    policy = Policy.parse(config.strict_host_key_checking)
    user_files, global_files = config.known_hosts_files()
    name = config.host_key_alias or host_label(config.host, config.port)
    plain = config.host if config.host_key_alias is None and config.port != 22 else None
    known = KnownHosts.load(name, user_files + global_files, plain)
    verifier = HostKeyVerifier(
        known,
        policy,
        user_files,
        can_ask=policy is Policy.ASK and asker.allowed,
        hash_names=config.hash_known_hosts,
        quiet=settings.quiet,
        who=f"jump host {config.written}: " if route.is_hop else "",
    )
    identities: list[IdentityFile] = []
    if config.pubkey_authentication:
        explicit = [os.path.expanduser(f) for f in settings.identity_files]
        identities = load_identity_files(
            config.identity_files,
            config.certificate_files,
            auth.passphrase,
            warn_missing=[] if route.is_hop else explicit,
            warn=lambda message: _warn(settings.quiet, message),
        )
    forward = None if route.is_hop else config.forward_agent
    return _Hop(route, verifier, auth, identities, settings.quiet, forward)


def _connect_kwargs(
    hop: _Hop, client: _Client, tunnel: asyncssh.SSHClientConnection | None
) -> dict[str, object]:
    """asyncssh.connect() arguments: config files do the rest (Host/Match honoured)."""
    config = hop.config
    kwargs: dict[str, object] = {
        "config": list(config.paths),
        "client_factory": lambda: client,
        "client_keys": None,  # keys and agent come from _Client (ssh's order, lazy unlock)
        "known_hosts": hop.verifier.known_hosts_arg(),
        "connect_timeout": None,  # ConnectTimeout is enforced by _open (up to auth only)
        "agent_forwarding": hop.forward_agent or False,
        "tunnel": tunnel,
        "proxy_command": None if tunnel is not None else hop.route.proxy_command,
    }
    if config.remote_command is not None:  # asyncssh's own copy may be expanded too early
        kwargs["command"] = config.remote_command
    if config.get("HostKeyAlgorithms") is None:
        algorithms = hop.verifier.host_key_algorithms()
        if algorithms:
            kwargs["server_host_key_algs"] = algorithms
    return kwargs


async def _with_connect_timeout(
    attempt: Awaitable[_T], client: _Client, timeout: float | None
) -> _T:
    """Run a connection attempt; ConnectTimeout covers reaching the server and the key
    exchange (until authentication starts), as in OpenSSH -- never a password prompt."""
    task = asyncio.ensure_future(attempt)
    if timeout is None:
        return await task
    started = asyncio.ensure_future(client.auth_started.wait())
    try:
        done, _pending = await asyncio.wait(
            {task, started}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    except BaseException:
        task.cancel()
        raise
    finally:
        started.cancel()
    if not done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise asyncio.TimeoutError
    return await task


async def _open(
    hop: _Hop, tunnel: asyncssh.SSHClientConnection | None, previous: _Hop | None
) -> tuple[asyncssh.SSHClientConnection, _Client]:
    """Open and authenticate one hop's connection (a second attempt only after the user
    accepted a new host key on the terminal)."""
    config = hop.config
    via = (
        f" via jump host {previous.config.written}"
        if previous is not None
        else f" via ProxyCommand {hop.route.proxy_command}"
        if hop.route.proxy_command
        else ""
    )
    kind = "jump host " if hop.route.is_hop else ""
    diagnostics.debug(
        f"connecting to {kind}{config.name} ({config.user}@{where(config.host, config.port)}){via}"
    )
    for attempt in range(2):
        client = _Client(hop)
        kwargs = _connect_kwargs(hop, client, tunnel)
        try:
            conn = await _with_connect_timeout(
                asyncssh.connect(config.name, **_target_args(hop), **kwargs),
                client,
                config.connect_timeout,
            )
            return conn, client
        except asyncssh.HostKeyNotVerifiable as exc:
            key = hop.verifier.key_to_confirm
            if attempt == 0 and key is not None and await _confirm_new_key(hop, key):
                continue
            raise hop.verifier.refusal or HostKeyError(
                f"{hop.who}host key for {hop.verifier.name} not verifiable: {exc.reason}"
            ) from None
        except Exception as exc:  # mapped to one line below
            raise _explain(exc, hop, client, previous) from None
        finally:
            client.close_agent()
    raise AssertionError("unreachable")


def _target_args(hop: _Hop) -> dict[str, object]:
    """The user/port the command line or the -J spec gave (ssh_config supplies the rest)."""
    target = hop.config.target
    args: dict[str, object] = {}
    if target.user is not None:
        args["username"] = target.user
    if target.port is not None:
        args["port"] = target.port
    return args


async def _confirm_new_key(hop: _Hop, key: asyncssh.SSHKey) -> bool:
    """Ask on the terminal whether to trust a new host key (ssh's yes/no/fingerprint)."""
    question = hop.verifier.question(key)
    while True:
        reply = await hop.auth.asker.line(question, echo=True)
        verdict = None if reply is None else hop.verifier.answer(key, reply)
        if reply is None or verdict is False:
            hop.verifier.refuse_confirmation(key)
            return False
        if verdict:
            await _blocking(hop.verifier.remember, key)
            return True
        question = "Please type 'yes', 'no' or the fingerprint: "


def _explain(exc: Exception, hop: _Hop, client: _Client, previous: _Hop | None) -> Exception:
    """One clear line for a failed connection attempt."""
    config = hop.config
    who, label = hop.who, hop.label
    if isinstance(exc, (ConnectError, UsageError)):
        return exc
    if isinstance(exc, asyncio.TimeoutError):
        return ConnectError(
            f"{who}connect to host {config.host} port {config.port}: timed "
            f"out after {config.connect_timeout:g} s (ConnectTimeout)"
        )
    if isinstance(exc, asyncssh.PermissionDenied):
        return ConnectError(_permission_denied(hop, client))
    if isinstance(exc, asyncssh.ChannelOpenError) and previous is not None:
        return ConnectError(
            f"jump host {previous.config.written}: cannot connect to "
            f"{config.host} port {config.port}: {exc.reason}"
        )
    if isinstance(exc, asyncssh.DisconnectError):
        reason = exc.reason or type(exc).__name__
        if isinstance(exc, asyncssh.ConnectionLost):
            return ConnectError(
                f"{who}connection to {label} closed before the SSH session was set up ({reason})"
            )
        return ConnectError(f"{who}{label}: disconnected: {reason}")
    if isinstance(exc, asyncssh.Error):
        return ConnectError(f"{who}{label}: {exc.reason or type(exc).__name__}")
    if isinstance(exc, socket.gaierror):
        return ConnectError(f"{who}could not resolve hostname {config.host}: {exc.strerror}")
    if isinstance(exc, OSError):
        # asyncio words errors as "Connect call failed (addr)"; ssh users expect strerror
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        if hop.route.proxy_command and previous is None:
            return ConnectError(f"{who}ProxyCommand for {config.name} failed: {reason}")
        return ConnectError(f"{who}connect to host {config.host} port {config.port}: {reason}")
    if isinstance(exc, ValueError):  # asyncssh's option validation
        return UsageError(f"{who}bad connection settings: {exc}")
    return exc


def _permission_denied(hop: _Hop, client: _Client) -> str:
    methods = ",".join(client.server_methods) or "no method remoterepl can use"
    text = f"{hop.who}{hop.auth.user}@{hop.label}: permission denied ({methods})"
    if hop.auth.file_password_used:
        text += "; the password from --password-file was not accepted"
    elif hop.auth.wanted_terminal:
        text += "; no terminal to ask for a password on" + (
            "" if hop.route.is_hop else " (use --password-file)"
        )
    return text


def _log_configuration(files: ConfigFiles, route: Route) -> None:
    if not diagnostics.enabled():
        return
    for path in files.user:
        diagnostics.debug(f"reading configuration data {path}")
    with open(files.overrides) as overrides:
        for line in overrides:
            diagnostics.debug(f"command-line option: {line.strip()}")
    diagnostics.debug(
        "remoterepl defaults: " + ", ".join(f"{k} {v}" for k, v in default_options().items())
    )
    hops = [r.host.name for r in route.hops()]
    if len(hops) > 1:
        diagnostics.debug("route: " + " -> ".join(hops))


def _plan(settings: ConnectSettings) -> tuple[ConfigFiles, Route, str | None, bool]:
    """Everything decided before the network is touched (blocking)."""
    password = (
        read_password_file(settings.password_file) if settings.password_file is not None else None
    )
    files = write_config_files(settings)
    try:
        route = plan_route(settings.target, files)
        _log_configuration(files, route)
    except BaseException:
        files.remove()
        raise
    return files, route, password, terminal_available()


async def connect(settings: ConnectSettings) -> Connection:
    """Open an authenticated connection; failures raise ConnectError/HostKeyError."""
    files, route, password, terminal = await _blocking(_plan, settings)
    opened: list[tuple[asyncssh.SSHClientConnection, _Client]] = []
    try:
        previous: _Hop | None = None
        tunnel: asyncssh.SSHClientConnection | None = None
        for step in route.hops():
            hop = await _blocking(
                _prepare_hop, step, settings, None if step.is_hop else password, terminal
            )
            conn, client = await _open(hop, tunnel, previous)
            opened.append((conn, client))
            previous, tunnel = hop, conn
    except BaseException:
        for conn, _client in reversed(opened):
            conn.close()
        raise
    finally:
        await _blocking(files.remove)
    conn, client = opened[-1]
    return Connection(conn, client, opened[:-1])
