"""Settings -> an authenticated SSH connection, through jump hosts, as ssh makes it.

One run: write the -o/-i/-J/-A overrides and remoterepl's defaults as ssh_config files
(:mod:`~remoterepl.ssh.config`), plan the route (:mod:`~remoterepl.ssh.route`), then open
each hop with its own settings -- known_hosts and StrictHostKeyChecking
(:mod:`~remoterepl.ssh.hostkeys`), keys and agent (:mod:`~remoterepl.ssh.identities`),
passwords and keyboard-interactive (:mod:`~remoterepl.ssh.auth`) -- the next one tunnelled
through the previous. Every failure becomes one :class:`~remoterepl.errors.ConnectError`
line naming the host (and the jump host) it concerns (:mod:`~remoterepl.ssh.explain`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncssh

from remoterepl.display import shown
from remoterepl.environment import Console
from remoterepl.errors import HostKeyError
from remoterepl.settings import ConnectSettings
from remoterepl.ssh import compat, diagnostics
from remoterepl.ssh.auth import Asker, PasswordAuth, read_password_file
from remoterepl.ssh.client import Hop, HopClient, where
from remoterepl.ssh.config import ConfigFiles, default_options, write_config_files
from remoterepl.ssh.config_check import check_user_files
from remoterepl.ssh.connection import Connection
from remoterepl.ssh.explain import explain
from remoterepl.ssh.forwarding import ForwardPlan, check_session_type, plan_forwards
from remoterepl.ssh.host_config import HostConfig
from remoterepl.ssh.hostkeys import HostKeyVerifier, Policy
from remoterepl.ssh.identities import IdentityFile, load_identity_files
from remoterepl.ssh.known_hosts import KnownHosts, host_label
from remoterepl.ssh.route import Route, plan_route
from remoterepl.ssh.ttyprompt import terminal_available

_T = TypeVar("_T")


async def _blocking(func: Callable[..., _T], *args: object) -> _T:
    """Run blocking ``func(*args)`` in the default executor."""
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)


def _prepare_hop(
    route: Route,
    settings: ConnectSettings,
    console: Console,
    password: str | None,
    terminal: bool,
) -> Hop:
    """Read this hop's known_hosts and identity files (blocking)."""
    config = route.host
    who = f"jump host {shown(config.written)}: " if route.is_hop else ""
    for setting in config.not_implemented():
        console.warn(f"Warning: {who}{shown(setting)}: not implemented by remoterepl, ignored")
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
        warn=console.warn,
        error=console.error,
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
            warn=console.warn,
        )
    forward = None if route.is_hop else config.forward_agent
    return Hop(route, verifier, auth, identities, console, forward)


def _connect_kwargs(
    hop: Hop, client: HopClient, tunnel: asyncssh.SSHClientConnection | None
) -> dict[str, object]:
    """asyncssh.connect() arguments: config files do the rest (Host/Match honoured)."""
    config = hop.config
    kwargs: dict[str, object] = {
        "config": list(config.paths),
        "client_factory": lambda: client,
        "client_keys": None,  # keys and agent come from HopClient (ssh's order, lazy unlock)
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
    attempt: Awaitable[_T], client: HopClient, timeout: float | None
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
    hop: Hop, tunnel: asyncssh.SSHClientConnection | None, previous: Hop | None
) -> tuple[asyncssh.SSHClientConnection, HopClient]:
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
        client = HopClient(hop)
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
            raise explain(exc, hop, client, previous) from None
        finally:
            client.close_agent()
    raise AssertionError("unreachable")


def _target_args(hop: Hop) -> dict[str, object]:
    """The user/port the command line or the -J spec gave (ssh_config supplies the rest)."""
    target = hop.config.target
    args: dict[str, object] = {}
    if target.user is not None:
        args["username"] = target.user
    if target.port is not None:
        args["port"] = target.port
    return args


async def _confirm_new_key(hop: Hop, key: asyncssh.SSHKey) -> bool:
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


def _plan(settings: ConnectSettings, files: ConfigFiles) -> tuple[Route, ForwardPlan]:
    """Everything decided before the network is touched (blocking)."""
    check_user_files(settings, files.user)
    route = plan_route(settings.target, files)
    check_session_type(route.host)
    forwards = plan_forwards(settings, route.host)  # a bad LocalForward stops us here
    _log_configuration(files, route)
    return route, forwards


@dataclass(frozen=True)
class Plan:
    """A run's route and ssh_config, read before anything is sent: what the destination's
    config says about the session (RemoteCommand...) is known before it is opened."""

    settings: ConnectSettings
    files: ConfigFiles
    route: Route
    forwards: ForwardPlan  # -L/-R/-D, the destination's LocalForward..., -N, -f

    @property
    def destination(self) -> HostConfig:
        """The destination's own ssh_config."""
        return self.route.host


@contextlib.asynccontextmanager
async def planned(settings: ConnectSettings) -> AsyncIterator[Plan]:
    """The plan for ``settings``; connect within the block (its config files go at its end).

    Raises UsageError for a bad config file or route."""
    # Written here, not in a worker thread: once it exists, the finally below owns it
    # (a SIGTERM cancelling us while a worker made it would leave it behind). Two small
    # local files: instant (the user's files are read in the worker, by _plan).
    files = write_config_files(settings)
    try:
        yield Plan(settings, files, *await _blocking(_plan, settings, files))
    finally:
        files.remove()  # synchronous: a second cancellation cannot skip it


def _read_secrets(settings: ConnectSettings) -> tuple[str | None, bool]:
    """The --password-file password, and whether there is a terminal to ask on (blocking)."""
    password = (
        read_password_file(settings.password_file) if settings.password_file is not None else None
    )
    return password, terminal_available()


async def connect(plan: Plan, console: Console) -> Connection:
    """Open an authenticated connection along ``plan``'s route; failures raise
    ConnectError/HostKeyError.

    ``console`` takes ssh's warnings and the servers' banners (none under -q)."""
    compat.window_reopens_only_for_delivered_data()  # memory stays bounded under a slow reader
    compat.packet_log_lines_only_when_logged()  # no per-packet log line unless -vvv
    compat.keepalive_deadline_not_timer()  # no timer re-armed per packet in
    settings = plan.settings
    opened: list[tuple[asyncssh.SSHClientConnection, HopClient]] = []
    try:
        password, terminal = await _blocking(_read_secrets, settings)
        previous: Hop | None = None
        tunnel: asyncssh.SSHClientConnection | None = None
        for step in plan.route.hops():
            hop = await _blocking(
                _prepare_hop, step, settings, console, None if step.is_hop else password, terminal
            )
            conn, client = await _open(hop, tunnel, previous)
            opened.append((conn, client))
            previous, tunnel = hop, conn
    except BaseException:
        for conn, _client in reversed(opened):
            conn.close()
        raise
    conn, client = opened[-1]
    return Connection(conn, client, opened[:-1], plan.forwards)


async def open_connection(settings: ConnectSettings, console: Console) -> Connection:
    """:func:`planned` and :func:`connect` in one, for callers with nothing to decide between."""
    async with planned(settings) as plan:
        return await connect(plan, console)
