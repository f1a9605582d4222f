"""Settings -> an authenticated asyncssh connection: ssh_config, -o overrides, host-key policy."""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncssh
from asyncssh.config import SSHClientConfig, SSHConfig

from remoterepl.errors import ConnectError, HostKeyError, SessionLost, UsageError
from remoterepl.hostkeys import HostKeyVerifier, Policy, fingerprint, host_label
from remoterepl.settings import ConnectSettings

# Defaults that ssh_config and -o may override (first value wins, so these go last).
DEFAULTS = {"ConnectTimeout": "30", "ServerAliveInterval": "15", "ServerAliveCountMax": "3"}
SYSTEM_CONFIG = "/etc/ssh/ssh_config"

# ssh_config keywords asyncssh's parser skips but remoterepl implements itself.
_EXTRA_KEYWORDS = ("StrictHostKeyChecking", "EscapeChar")
# Keywords whose value is the rest of the line, unquoted (as asyncssh parses them).
_RAW_VALUE_KEYWORDS = {"proxycommand", "remotecommand"}


def _teach_asyncssh_keywords() -> None:
    """Let asyncssh's ssh_config parser keep the keywords we act on, so Host/Match apply."""
    for keyword in _EXTRA_KEYWORDS:
        SSHClientConfig._handlers.setdefault(keyword.lower(), (keyword, SSHConfig._set_string))


_teach_asyncssh_keywords()


class _Client(asyncssh.SSHClient):
    """asyncssh client callbacks: host-key decisions and the reason a connection ended."""

    def __init__(self, verifier: HostKeyVerifier) -> None:
        self.verifier = verifier
        self.lost_reason: Exception | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        return self.verifier.validate(host, addr, port, key)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_reason = exc


class Connection:
    """An open SSH connection plus what is needed to explain how it ended."""

    def __init__(self, conn: asyncssh.SSHClientConnection, client: _Client, label: str) -> None:
        self.conn = conn
        self._client = client
        self.label = label

    def lost_error(self) -> SessionLost:
        """The error to report when the connection dropped under a running session."""
        reason = self._client.lost_reason
        detail = f" ({reason})" if reason and str(reason).lower() != "connection lost" else ""
        return SessionLost(f"connection to {self.label} lost{detail}")

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self.conn.close()

    async def wait_closed(self) -> None:
        """Wait until the connection is fully closed."""
        await self.conn.wait_closed()


def config_paths(settings: ConnectSettings, overrides: str, defaults: str) -> list[str]:
    """ssh_config files in precedence order: -o/-i, the user's (or -F) file, system, ours."""
    if settings.config_file is not None:
        user_files = [settings.config_file]
    else:
        user_files = [p for p in (str(Path("~/.ssh/config").expanduser()), SYSTEM_CONFIG)
                      if os.access(p, os.R_OK)]
    return [overrides, *user_files, defaults]


def _config_line(key: str, value: str) -> str:
    return f"{key} {value if key.lower() in _RAW_VALUE_KEYWORDS else shlex.quote(value)}\n"


@contextmanager
def _generated_configs(settings: ConnectSettings) -> Iterator[tuple[str, str]]:
    """Write -o/-i overrides and our defaults as ssh_config files, so asyncssh applies
    them with OpenSSH's precedence rules (first value wins, Host/Match honoured)."""
    if settings.config_file is not None and not os.access(settings.config_file, os.R_OK):
        raise UsageError(f"can't open config file '{settings.config_file}'")
    with tempfile.TemporaryDirectory(prefix="remoterepl-") as tmp:
        overrides = os.path.join(tmp, "overrides")
        with open(overrides, "w") as file:
            file.writelines(_config_line(k, v) for k, v in settings.options)
            file.writelines(_config_line("IdentityFile", f) for f in settings.identity_files)
        defaults = os.path.join(tmp, "defaults")
        with open(defaults, "w") as file:
            file.writelines(_config_line(k, v) for k, v in DEFAULTS.items())
        yield overrides, defaults


def _build_options(settings: ConnectSettings) -> asyncssh.SSHClientConnectionOptions:
    """Load keys and config (blocking: run in an executor)."""
    target = settings.target
    with _generated_configs(settings) as (overrides, defaults):
        kwargs: dict[str, object] = {}
        if target.user is not None:
            kwargs["username"] = target.user
        if target.port is not None:
            kwargs["port"] = target.port
        try:
            return asyncssh.SSHClientConnectionOptions(
                host=target.host, config=config_paths(settings, overrides, defaults), **kwargs)
        except asyncssh.ConfigParseError as exc:
            raise UsageError(f"bad ssh config: {exc}") from None
        except (asyncssh.KeyImportError, OSError, ValueError) as exc:
            raise UsageError(f"bad connection settings: {exc}") from None


def known_hosts_files(config: SSHConfig) -> tuple[list[str], list[str]]:
    """(user files, user + global files) as OpenSSH defaults them; "none" means none."""

    def files(keyword: str, default: list[str]) -> list[str]:
        value = config.get(keyword)
        names = [str(v) for v in value] if isinstance(value, list) and value else default
        return [str(Path(n).expanduser()) for n in names if n.lower() != "none"]

    user = files("UserKnownHostsFile", ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"])
    system = files("GlobalKnownHostsFile",
                   ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"])
    return user, user + system


def _readable(paths: list[str]) -> list[str]:
    """asyncssh fails on a missing known_hosts file; OpenSSH treats it as empty."""
    return [p for p in paths if os.access(p, os.R_OK)]


def _can_ask() -> bool:
    try:
        with open("/dev/tty"):
            return True
    except OSError:
        return False


def _ask_yes_no(question: str) -> bool:
    """Ask on the controlling terminal, as ssh does (blocking: run in an executor)."""
    with open("/dev/tty", "r+") as tty:
        tty.write(question)
        tty.flush()
        while True:
            answer = tty.readline().strip().lower()
            if answer in ("yes", "no", ""):
                return answer == "yes"
            tty.write("Please type 'yes' or 'no': ")
            tty.flush()


def configure_logging(verbosity: int) -> None:
    """-v: connection events; -vv and -vvv: asyncssh's packet-level debugging."""
    if verbosity <= 0:
        return
    logging.basicConfig(stream=sys.stderr, format="debug: %(message)s")
    asyncssh.set_log_level(logging.INFO if verbosity == 1 else logging.DEBUG)
    if verbosity > 1:
        asyncssh.set_debug_level(min(verbosity - 1, 3))


async def connect(settings: ConnectSettings) -> Connection:
    """Open an authenticated connection; failures raise ConnectError/HostKeyError."""
    loop = asyncio.get_running_loop()
    options = await loop.run_in_executor(None, _build_options, settings)
    config = options.config
    host = str(config.get("Hostname", settings.target.host))
    port = int(config.get("Port", 22))  # type: ignore[call-overload]
    label = host_label(host, port)
    policy = Policy.parse(config.get("StrictHostKeyChecking"))  # type: ignore[arg-type]
    user_files, all_files = known_hosts_files(config)
    verifier = HostKeyVerifier(policy, user_files, all_files,
                               can_ask=policy is Policy.ASK and _can_ask(),
                               quiet=settings.quiet)

    for attempt in range(2):  # a second attempt only after the user accepted a new host key
        client = _Client(verifier)
        try:
            conn = await asyncssh.connect(settings.target.host, options=options,
                                          known_hosts=_readable(all_files) or b"",
                                          client_factory=lambda c=client: c)
            return Connection(conn, client, label)
        except asyncssh.HostKeyNotVerifiable:
            if attempt == 0 and verifier.key_to_confirm and await _confirm_new_key(verifier):
                continue
            raise verifier.refusal or HostKeyError(f"host key for {label} not verifiable") from None
        except asyncssh.PermissionDenied:
            raise ConnectError(f"{label}: permission denied (authentication failed)") from None
        except asyncssh.DisconnectError as exc:
            raise ConnectError(f"{label}: disconnected: {exc.reason or exc}") from None
        except asyncio.TimeoutError:
            raise ConnectError(f"connect to {label}: timed out") from None
        except socket.gaierror as exc:
            raise ConnectError(f"could not resolve hostname {host}: {exc.strerror}") from None
        except OSError as exc:
            # asyncio words errors as "Connect call failed (addr)"; ssh users expect strerror
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ConnectError(f"connect to host {host} port {port}: {reason}") from None
    raise AssertionError("unreachable")


async def _confirm_new_key(verifier: HostKeyVerifier) -> bool:
    assert verifier.key_to_confirm is not None
    host, port, key = verifier.key_to_confirm
    question = (f"The authenticity of host '{host_label(host, port)}' can't be established.\n"
                f"{key.get_algorithm()} key fingerprint is {fingerprint(key)}.\n"
                "Are you sure you want to continue connecting (yes/no)? ")
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, _ask_yes_no, question):
        verifier.refusal = HostKeyError(f"host key for {host_label(host, port)} not accepted")
        return False
    await loop.run_in_executor(None, verifier.remember, host, port, key)
    verifier.key_to_confirm = None
    return True
