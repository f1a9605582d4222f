"""An embedded asyncssh server that runs sessions as the current user, for demos and tests.

It authenticates clients (keys, optionally a password) and hands each session channel to
a :class:`~remoterepl.embedded.session.ChildSession`, which runs one child process.
"""

from __future__ import annotations

import asyncio
import getpass
import hmac
import ipaddress
import os
import pwd
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import asyncssh

from remoterepl.embedded.child import ServerConfig
from remoterepl.embedded.session import ChildSession, ServerState, reap_sessions

HOST_KEY_NAME = "ssh_host_ed25519_key"

AuthorizedKeys = Sequence[asyncssh.SSHKey] | str | os.PathLike[str]


class EmbeddedServer:
    """A running embedded SSH server; ``close()`` stops it and hangs up its sessions."""

    def __init__(
        self,
        acceptor: asyncssh.SSHAcceptor,
        host: str,
        port: int,
        host_key: asyncssh.SSHKey,
        state: ServerState,
    ) -> None:
        self.host = host
        self.port = port
        self.host_key = host_key
        self._acceptor = acceptor
        self._state = state

    @property
    def host_key_openssh(self) -> str:
        """The host public key as one OpenSSH line: ``ssh-ed25519 AAAA...``."""
        fields = self.host_key.export_public_key("openssh").decode("ascii").split()
        return " ".join(fields[:2])  # drop the comment

    def known_hosts_line(self) -> str:
        """A known_hosts line for this server, ``[host]:port key`` as OpenSSH writes it."""
        pattern = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return f"{pattern} {self.host_key_openssh}"

    def close(self) -> None:
        """Stop listening and close every connection (their children get SIGHUP)."""
        self._acceptor.close()
        for conn in list(self._state.connections):
            conn.close()

    async def wait_closed(self) -> None:
        """Wait until the listener, the connections and the session children are gone."""
        await self._acceptor.wait_closed()
        for conn in list(self._state.connections):
            await conn.wait_closed()
        await reap_sessions(self._state.sessions)

    async def __aenter__(self) -> EmbeddedServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        await self.wait_closed()


async def start_server(
    authorized_keys: AuthorizedKeys = (),
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    host_key_dir: str | os.PathLike[str] | None = None,
    password: str | None = None,
    ignore_signals: bool = False,
    users: Collection[str] | None = None,
    shell: str | None = None,
    env: Mapping[str, str] | None = None,
    allow_tcp_forwarding: bool = False,
    sftp: bool = True,
) -> EmbeddedServer:
    """Start an SSH server on host:port (default 127.0.0.1, ephemeral) running as this user.

    authorized_keys: SSHKey objects (private or public) or an authorized_keys file path
        (read again for every connection, as sshd reads it).
    host_key_dir: keep the ed25519 host key there (reused if present); default in memory.
    password: also accept password authentication with this password.
    ignore_signals: accept "signal" requests but do nothing, as OpenSSH does for root.
    users: login names accepted (default: the current user's); sessions always run as us.
    shell: shell for commands and logins (default $SHELL, the passwd shell, or /bin/sh).
    env: extra environment for session children.
    allow_tcp_forwarding: allow direct-tcpip (ssh -J through this server) to loopback only.
    sftp: serve the SFTP subsystem with the system's OpenSSH sftp-server, if installed.
    """
    keys, authorized_file = await asyncio.to_thread(_load_authorized_keys, authorized_keys)
    if not keys and authorized_file is None and password is None:
        raise ValueError("start_server needs authorized_keys or a password")
    host_key = await asyncio.to_thread(_load_host_key, host_key_dir)
    config = ServerConfig(
        users=frozenset(users) if users is not None else _current_user_names(),
        keys=keys,
        authorized_file=authorized_file,
        password=password,
        ignore_signals=ignore_signals,
        allow_tcp_forwarding=allow_tcp_forwarding,
        shell=shell or _default_shell(),
        env=dict(env or {}),
        sftp_server=_find_sftp_server() if sftp else None,
    )
    state = ServerState()
    acceptor = await asyncssh.create_server(
        lambda: _Gatekeeper(config, state),
        host,
        port,
        server_host_keys=[host_key],
        authorized_client_keys=None,  # we check keys ourselves (validate_public_key)
        encoding=None,  # bytes end to end: binary safe
        line_editor=False,  # the child's pty does the line discipline, not asyncssh
        gss_host=None,  # no Kerberos, and no slow getfqdn()
        x11_forwarding=False,
    )
    bound_port = acceptor.get_port()
    return EmbeddedServer(acceptor, host, bound_port, host_key.convert_to_public(), state)


class _Gatekeeper(asyncssh.SSHServer):
    """Authenticates one connection and hands out child-process sessions."""

    def __init__(self, config: ServerConfig, state: ServerState) -> None:
        self._config = config
        self._state = state
        self._peer_addr = ""
        self._conn: asyncssh.SSHServerConnection | None = None
        self._authorized: asyncssh.SSHAuthorizedKeys | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._state.connections.add(conn)
        peer = conn.get_extra_info("peername")
        self._peer_addr = str(peer[0]) if peer else ""
        self._conn = conn

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._state.connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        path = self._config.authorized_file
        if path is not None:  # read per connection, as sshd does: edits apply at once
            try:
                self._authorized = asyncssh.read_authorized_keys(path)
            except (OSError, ValueError):
                self._authorized = None
        return True  # always require authentication

    def public_key_auth_supported(self) -> bool:
        return bool(self._config.keys) or self._config.authorized_file is not None

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if username not in self._config.users:
            return False
        if key.public_data in self._config.keys:
            return True
        listed = self._authorized
        return listed is not None and listed.validate(key, "", self._peer_addr) is not None

    def password_auth_supported(self) -> bool:
        return self._config.password is not None

    def validate_password(self, username: str, password: str) -> bool:
        expected = self._config.password
        if expected is None or username not in self._config.users:
            return False
        return hmac.compare_digest(password.encode(), expected.encode())

    def session_requested(self) -> ChildSession:
        return ChildSession(self._config, self._state)

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        # Jump-host staging only: never forward anywhere but loopback.
        return self._config.allow_tcp_forwarding and _is_loopback(dest_host)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _load_authorized_keys(spec: AuthorizedKeys) -> tuple[frozenset[bytes], str | None]:
    """Key blobs from SSHKey objects, or an authorized_keys file (checked to parse now,
    read again for each connection)."""
    if isinstance(spec, (str, os.PathLike)):
        path = os.fspath(spec)
        asyncssh.read_authorized_keys(path)
        return frozenset(), path
    return frozenset(key.public_data for key in spec), None


def _load_host_key(directory: str | os.PathLike[str] | None) -> asyncssh.SSHKey:
    """A new in-memory ed25519 host key, or the one kept in directory (created if absent)."""
    if directory is None:
        return asyncssh.generate_private_key("ssh-ed25519")
    path = Path(directory, HOST_KEY_NAME)
    if path.exists():
        return asyncssh.read_private_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(path)
    path.chmod(0o600)
    key.write_public_key(path.with_name(HOST_KEY_NAME + ".pub"))
    return key


def _current_user_names() -> frozenset[str]:
    """Names a client may log in as: the passwd name and what $USER/$LOGNAME claim."""
    return frozenset({pwd.getpwuid(os.getuid()).pw_name, getpass.getuser()})


def _default_shell() -> str:
    return os.environ.get("SHELL") or pwd.getpwuid(os.getuid()).pw_shell or "/bin/sh"


# Where distributions install OpenSSH's sftp-server (Debian, Fedora, Arch, others).
_SFTP_SERVERS = (
    "/usr/lib/openssh/sftp-server",
    "/usr/libexec/openssh/sftp-server",
    "/usr/lib/ssh/sftp-server",
    "/usr/libexec/sftp-server",
)


def _find_sftp_server() -> str | None:
    return next((path for path in _SFTP_SERVERS if os.access(path, os.X_OK)), None)
