"""The open SSH connection to the destination (and the jump-host connections under it), as
the rest of remoterepl sees it: processes, helper commands, SFTP, keepalive probes, and the
words for a connection that went away. Made by :func:`remoterepl.ssh.connect.connect`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncssh

from remoterepl.environment import Console
from remoterepl.errors import ChannelClosed, ConnectError, SessionLost
from remoterepl.ssh import compat
from remoterepl.ssh.channel import ProcessChannel, PtyRequest, channel_errors
from remoterepl.ssh.client import HopClient
from remoterepl.ssh.explain import lost_detail
from remoterepl.ssh.forwarding import ForwardPlan, Forwards, open_forwards
from remoterepl.ssh.sftp import RemoteFiles
from remoterepl.ssh.transport import corked


@dataclass(frozen=True)
class HelperResult:
    """What a helper command on a second channel printed, and its exit status."""

    exit_status: int | None
    stdout: str


class Connection:
    """The destination's connection; its public methods are all the layers above use."""

    def __init__(
        self,
        conn: asyncssh.SSHClientConnection,
        client: HopClient,
        hops: Sequence[tuple[asyncssh.SSHClientConnection, HopClient]] = (),
        forward_plan: ForwardPlan | None = None,
    ) -> None:
        self._conn = conn
        self._client = client
        self._hops = list(hops)
        self._forward_plan = forward_plan or ForwardPlan(())
        self.forwards = Forwards()  # what listens (start_forwarding); ``~#`` lists it

    # -- who ---------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The destination's host name as connected (after ssh_config's HostName)."""
        return self._client.hop.config.host

    @property
    def port(self) -> int:
        """The destination's port."""
        return self._client.hop.config.port

    @property
    def username(self) -> str:
        """The user name logged in as."""
        return str(self._conn.get_extra_info("username") or "")

    @property
    def server_version(self) -> str:
        """The server's version string (``SSH-2.0-OpenSSH_9.2p1 ...``)."""
        return str(self._conn.get_extra_info("server_version") or "")

    @property
    def label(self) -> str:
        """``host`` or ``host port N``, for messages."""
        return self._client.hop.label

    @property
    def hop_labels(self) -> list[str]:
        """The jump hosts this connection went through, first hop first, as written in
        -J/ProxyJump (e.g. ``entrance``, ``alice@gw:2222``)."""
        return [client.hop.config.written for _conn, client in self._hops]

    @property
    def lost(self) -> bool:
        """True once the connection (or a jump host under it) has gone away."""
        return self._client.lost or any(client.lost for _conn, client in self._hops)

    def lost_error(self) -> SessionLost:
        """The error to report when the connection dropped under a running session."""
        for _conn, client in self._hops:  # a jump host that went away takes the rest along
            if client.lost:
                return SessionLost(
                    f"connection to jump host {client.hop.config.written} lost{lost_detail(client)}"
                )
        return SessionLost(f"connection to {self.label} lost{lost_detail(self._client)}")

    @property
    def no_session(self) -> bool:
        """SessionType none (-N): no remote process, the forwards alone."""
        return self._forward_plan.no_session

    @property
    def fork_in_config(self) -> bool:
        """ForkAfterAuthentication yes for this host (a config file's or -o's)."""
        return self._forward_plan.fork_in_config

    # -- forwarding --------------------------------------------------------------------

    async def start_forwarding(self, console: Console) -> Forwards:
        """Set up the run's -L/-R/-D and LocalForward/RemoteForward/DynamicForward
        forwards; ConnectError if one fails under ExitOnForwardFailure yes."""
        self.forwards = await open_forwards(self._conn, self._forward_plan, console)
        return self.forwards

    async def wait_forwarded_connections(self, poll: float = 0.1) -> None:
        """Once the session is over: return when no forwarded connection (through -L, -R
        or -D) is open any more, or the connection is gone, as ssh's client_loop() waits
        for channel_still_open(). The listeners stay meanwhile, as ssh's do. asyncssh
        tells no channel's end to its connection: polled, only in this last phase."""
        lost = asyncio.ensure_future(self._conn.wait_closed())
        try:
            while not lost.done() and compat.open_forwarded_channels(self._conn):
                await asyncio.wait({lost}, timeout=poll)
        finally:
            lost.cancel()

    async def wait_lost(self) -> None:
        """Return once the connection is gone (what -N waits for)."""
        await self._conn.wait_closed()

    # -- channels ----------------------------------------------------------------------

    async def open_process(self, command: str | None, pty: PtyRequest | None) -> ProcessChannel:
        """Start ``command`` (the login shell when None) on a new session channel."""
        options = pty.process_options() if pty is not None else {}
        try:
            # request_pty given: the decision is made (-t/-T over RequestTTY), asyncssh
            # must not make it again from ssh_config.
            process = await self._conn.create_process(
                command, encoding=None, request_pty="force" if pty else False, **options
            )
        except asyncssh.ChannelOpenError as exc:
            raise ConnectError(f"the server refused to start the session: {exc.reason}") from None
        except (asyncssh.ConnectionLost, asyncssh.DisconnectError):
            raise self.lost_error() from None
        return ProcessChannel(process, self.corked)

    async def run(self, command: str, *, timeout: float) -> HelperResult:
        """Run a helper command on a second channel, stdin empty, stderr dropped.
        Raises ChannelClosed, OSError, or asyncio.TimeoutError after ``timeout`` seconds."""
        with channel_errors():
            result = await self._conn.run(
                command,
                stdin=asyncssh.DEVNULL,
                stderr=asyncssh.DEVNULL,
                timeout=timeout,
                request_pty=False,  # whatever RequestTTY says: a helper's output is data
            )
        return HelperResult(result.exit_status, str(result.stdout or ""))

    async def open_sftp(self) -> RemoteFiles:
        """An SFTP session on this connection (ChannelClosed if the server refuses)."""
        with channel_errors():
            return RemoteFiles(await self._conn.start_sftp_client())

    async def ping(self, timeout: float) -> float | None:
        """Seconds one keepalive request (what ServerAliveInterval sends) takes to be
        answered (None: this asyncssh cannot send one). Raises asyncio.TimeoutError, or
        ChannelClosed once the connection is gone."""
        if self._conn.is_closed():
            raise ChannelClosed("connection closed")
        start = time.monotonic()
        with channel_errors():
            sent = await asyncio.wait_for(compat.keepalive_request(self._conn), timeout)
        return time.monotonic() - start if sent else None

    # -- writing and closing -----------------------------------------------------------

    def corked(self) -> contextlib.AbstractContextManager[None]:
        """What the block writes to the destination goes out as one write at its end."""
        return corked(self._conn)

    def close(self) -> None:
        """Close the connection and the jump-host connections under it (idempotent).

        Each goodbye (channel close, disconnect) is sent before the hop carrying it closes:
        queued for the end of the loop turn, it would find the tunnel already gone."""
        self.forwards.close()
        for conn in (self._conn, *(conn for conn, _client in reversed(self._hops))):
            with corked(conn):
                conn.close()

    async def wait_closed(self) -> None:
        """Wait until everything is fully closed."""
        await self._conn.wait_closed()
        for conn, _client in reversed(self._hops):
            await conn.wait_closed()
