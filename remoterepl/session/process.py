"""RemoteSession: the one long-lived remote process, whatever front end drives it."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import IO

from remoterepl.errors import Disconnected
from remoterepl.outcome import RemoteExited, RemoteKilled
from remoterepl.session.channels import OutputSource, SessionChannel, TerminalWatch
from remoterepl.session.helpers import kill_script
from remoterepl.session.lookups import RemoteNames
from remoterepl.session.signals import (
    PTY_EOF,
    PTY_INTERRUPT,
    PTY_SIGNAL_KEYS,
    signal_requests_honoured,
)
from remoterepl.session.ttywatch import TtyWatch
from remoterepl.ssh.channel import PtyRequest
from remoterepl.ssh.connection import Connection

# Input queued beyond what the channel window lets out: above this, stop taking more from
# the local side until it drains to a quarter of it (asyncssh's flow control).
INPUT_HIGH_WATER = 1024 * 1024
SIGNAL_HELPER_TIMEOUT = 10.0  # seconds for the second-channel signal fallback
SETTLE_TIMEOUT = 1.0  # seconds for asyncssh's clean-up after the connection closed


@dataclass(frozen=True)
class Destination:
    """Where the session runs, as connected: for prompts, history names, the toolbar."""

    user: str
    host: str
    port: int
    jumps: tuple[str, ...] = ()  # jump hosts as written in -J/ProxyJump, first hop first

    def __str__(self) -> str:
        """``user@host`` or ``user@host:port``."""
        return f"{self.user}@{self.host}" + (f":{self.port}" if self.port != 22 else "")


@dataclass(frozen=True)
class SignalReport:
    """How a signal was delivered, in words for the user; ``delivered`` False if it was not."""

    text: str
    delivered: bool = True

    def __str__(self) -> str:
        """The words."""
        return self.text


class RemoteSession:
    """Send input, interrupts and EOF to the remote process; report how it ended."""

    def __init__(
        self, connection: Connection, channel: SessionChannel, pty: PtyRequest | None
    ) -> None:
        self._first_connection = connection
        self._channel = channel
        self._pty = pty
        self._disconnected: str | None = None  # the escape the user left with (``~.``)
        self.destination = Destination(
            connection.username, connection.host, connection.port, tuple(connection.hop_labels)
        )

    @classmethod
    async def open(
        cls, connection: Connection, command: str | None, pty: PtyRequest | None
    ) -> RemoteSession:
        """Start ``command`` (the login shell when None) on the connection."""
        channel = await connection.open_process(command, pty)
        channel.limit_queued_input(INPUT_HIGH_WATER)
        return cls(connection, channel, pty)

    @property
    def _connection(self) -> Connection:
        """The connection the session runs on now (a persisted one changes it)."""
        return self._first_connection

    @property
    def outlives_client(self) -> bool:
        """True when the remote process is meant to survive this client (``--persist``)."""
        return False

    def forwards_listing(self) -> str:
        """``~#``: the connection's forwarded ports, one line each."""
        return self._connection.forwards.listing()

    @property
    def has_pty(self) -> bool:
        """Whether the remote process runs on a pseudo-terminal."""
        return self._pty is not None

    # -- input -------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Queue bytes for the remote stdin (sent at once, in as few writes as can be);
        OSError once the channel takes no more input (pipe mode stops pumping on it)."""
        self._channel.write(data)

    def try_send(self, data: bytes, *, secret: bool = False) -> bool:
        """Send what the user typed: False, never an exception, once the channel takes no
        more input. A key can always race the end of the session (``~.``, the remote
        exiting, the connection lost): how it ended is reported by the front end. A
        ``secret`` line never shows in packet dumps (-vvvv)."""
        try:
            self._channel.write(data, secret=secret)
        except OSError:
            return False
        return True

    async def drain(self) -> None:
        """Wait until the remote can take more input (back-pressure)."""
        await self._channel.drain()

    @property
    def input_backlogged(self) -> bool:
        """True while more input is queued than the remote is taking: time to drain."""
        return self._channel.queued_input() > INPUT_HIGH_WATER

    def send_eof(self) -> None:
        """End the remote input: VEOF on a PTY (channel EOF alone does not end a PTY
        program), channel EOF otherwise. Nothing happens (no exception) once the channel
        takes no more input."""
        if self._pty is not None:
            self.try_send(PTY_EOF)
        else:
            with contextlib.suppress(OSError):
                self._channel.write_eof()

    def resize(self, columns: int, rows: int) -> None:
        """Tell the remote PTY about a new window size."""
        if self._pty is not None:
            with contextlib.suppress(OSError):  # closing: nothing left to resize
                self._channel.resize(columns, rows)

    # -- signals -----------------------------------------------------------------------

    def interrupt(self) -> bool:
        """Interrupt the remote foreground work, as Ctrl-C does in a local terminal, by a
        route that acts at once, in order with the input sent before: the PTY's control
        character, or a signal request. False when neither would reach it (OpenSSH
        ignores signal requests for root logins): then only :meth:`deliver_signal`'s
        second channel can, which takes a round trip or two. Never raises."""
        if self._pty is not None:
            self.try_send(PTY_INTERRUPT)
            return True
        connection = self._connection
        if signal_requests_honoured(connection.server_version, connection.username) is False:
            # Ended or left (~.): nothing to reach, no second channel to open.
            return self._channel.end is not None or self._disconnected is not None
        self.signal("INT")
        return True

    def suspend_job(self) -> bool:
        """Stop the remote foreground job, as Ctrl-Z does in a local terminal; False (and
        nothing sent) without a PTY: there is no job control then, and nothing would ever
        continue what stopped (no ``fg``), so the session would freeze. Never raises."""
        if self._pty is None:
            return False
        self.try_send(PTY_SIGNAL_KEYS["TSTP"])
        return True

    def signal(self, name: str) -> None:
        """Send a signal request (OpenSSH ignores these for root logins)."""
        with contextlib.suppress(OSError):  # closing: the exit status tells
            self._channel.send_signal(name)

    def send_break(self, milliseconds: int = 500) -> None:
        """Send a BREAK (a serial-line break; sshd turns it into SIGINT on a PTY)."""
        with contextlib.suppress(OSError):
            self._channel.send_break(milliseconds)

    async def deliver_signal(self, name: str) -> SignalReport:
        """Make signal ``name`` take effect by the surest route; return what happened,
        in words for the user (never silently nothing). Never raises.

        On a PTY the target is the terminal's foreground job, as with a local terminal's
        signal keys: its control character where there is one, otherwise a second channel
        (a signal request would reach only the session's shell, which ignores most).
        Without a PTY it is the session's process group, by signal request where the
        server honours those."""
        if self._pty is not None and name in PTY_SIGNAL_KEYS:
            if self.try_send(PTY_SIGNAL_KEYS[name]):
                return SignalReport(f"sent SIG{name} through the terminal")
            return SignalReport(f"could not send SIG{name}: the session has ended", False)
        connection = self._connection
        honoured = signal_requests_honoured(connection.server_version, connection.username)
        # Only OpenSSH is known to run one server process per connection, which is what
        # makes "the siblings of my side channel" mean "my session" and nobody else's.
        if honoured is not None and (self._pty is not None or not honoured):
            failure = await self._signal_through_side_channel(name)
            if failure is None:
                return SignalReport(f"sent SIG{name} (through a second channel)")
            if honoured is False:
                return SignalReport(
                    f"could not deliver SIG{name}: the server ignores signal requests "
                    f"for this login, and the fallback failed ({failure})",
                    False,
                )
        self.signal(name)
        if honoured:
            return SignalReport(f"sent SIG{name}")
        return SignalReport(f"sent SIG{name} as a signal request (this server may ignore it)")

    async def _signal_through_side_channel(self, name: str) -> str | None:
        """Signal from a second channel; None on success, else what went wrong."""
        try:
            result = await self._connection.run(kill_script(name), timeout=SIGNAL_HELPER_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as exc:
            return str(exc) or type(exc).__name__
        if result.exit_status is None:
            return "the second channel closed before it answered"
        return None if result.exit_status == 0 else "no remote process found to signal"

    # -- output ------------------------------------------------------------------------

    @property
    def stdout(self) -> OutputSource:
        """The remote stdout (with a PTY: the terminal's output, stderr included)."""
        return self._channel.stdout

    @property
    def stderr(self) -> OutputSource:
        """The remote stderr (empty with a PTY)."""
        return self._channel.stderr

    async def redirect_output(
        self,
        stdout: IO[bytes],
        stderr: IO[bytes],
        *,
        bufsize: int = 8192,
        close_at_eof: bool = True,
    ) -> None:
        """Copy the remote output into these files (closed when the process ends)."""
        await self._channel.redirect_output(
            stdout, stderr, bufsize=bufsize, close_at_eof=close_at_eof
        )

    def open_remote_names(self) -> RemoteNames:
        """Look-ups of the remote host's file and command names, for completion (each call
        makes a new one, with an SFTP session of its own once used)."""
        return RemoteNames(lambda: self._connection)

    def open_tty_watch(self) -> TerminalWatch | None:
        """A watcher of the remote terminal's reading mode (see :mod:`.ttywatch`); None
        without a PTY."""
        return TtyWatch(self._connection) if self._pty is not None else None

    async def ping(self, timeout: float) -> float | None:
        """The link's round trip in seconds (see :meth:`Connection.ping`)."""
        return await self._connection.ping(timeout)

    # -- the end -----------------------------------------------------------------------

    async def wait(self) -> None:
        """Wait for the remote process to end and its output to be delivered."""
        await self._channel.wait_closed()

    @property
    def end(self) -> RemoteExited | RemoteKilled | None:
        """How the remote process ended, once the server said so."""
        return self._channel.end

    async def settle(self) -> None:
        """Once the connection is closed: give asyncssh a moment to finish closing what it
        copies output into (bounded, never raises), else Python warns at exit about its
        unfinished clean-up."""
        with contextlib.suppress(asyncio.TimeoutError, OSError):
            await asyncio.wait_for(self.wait(), SETTLE_TIMEOUT)

    def outcome(self) -> RemoteExited | RemoteKilled:
        """How the session ended; raises Disconnected (``~.``) or SessionLost."""
        if self._disconnected is not None:
            raise Disconnected(
                f"connection to {self._connection.label} closed ({self._disconnected})"
            )
        end = self._channel.end
        if end is None:
            raise self._connection.lost_error()
        return end

    def close(self) -> None:
        """Close the channel (the remote sees a hang-up)."""
        self._channel.close()

    def abandon(self) -> None:
        """Drop the connection without waiting for the remote process, as ssh does when
        signalled: a server whose process lives on (or that stopped answering) would keep a
        channel close waiting."""
        self._connection.close()

    @property
    def left(self) -> bool:
        """True once the user left with an escape (``~.``)."""
        return self._disconnected is not None

    def disconnect(self, escape: str = "~.") -> None:
        """The user asked to leave with ``escape`` (``~.``): drop the connection, as ssh
        does."""
        self._disconnected = escape
        self._connection.close()
