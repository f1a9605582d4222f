"""RemoteSession: the one long-lived remote process, whatever front end drives it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from dataclasses import dataclass

import asyncssh

from remoterepl.errors import ConnectError, Disconnected
from remoterepl.ssh.connection import Connection

# A PTY's line discipline turns these into signals / end-of-file for the foreground job,
# which works even where the server ignores signal requests (OpenSSH, root logins).
PTY_SIGNAL_KEYS = {"INT": b"\x03", "QUIT": b"\x1c", "TSTP": b"\x1a"}
PTY_INTERRUPT = PTY_SIGNAL_KEYS["INT"]
PTY_EOF = b"\x04"

# Input queued beyond what the channel window lets out: above this, stop taking more from
# the local side until it drains to a quarter of it (asyncssh's flow control).
INPUT_HIGH_WATER = 1024 * 1024

# Fallback for OpenSSH, which ignores signal requests for root logins and sends them to the
# session's shell rather than its foreground job: a second channel on the same connection
# signals its siblings (children of the connection's own sshd process), or, when a sibling
# has a terminal, that terminal's foreground process group — what a local terminal would.
_SIDE_CHANNEL_KILL = (
    'sent=0; for p in $(pgrep -P "$PPID"); do [ "$p" = "$$" ] && continue; '
    "fg=$(ps -o tpgid= -p \"$p\" | tr -d ' '); "
    'if [ "${fg:--1}" -gt 0 ]; then t=$fg; else t=$p; fi; '
    'kill -s SIGNAME -- "-$t" && sent=1; done; [ "$sent" = 1 ]'
)


@dataclass(frozen=True)
class PtyRequest:
    """A remote pseudo-terminal: type, size, and whether the remote should echo input."""

    term_type: str
    columns: int
    rows: int
    echo: bool = False

    @classmethod
    def for_local_terminal(cls, fd: int, *, echo: bool = False) -> PtyRequest:
        """Mirror the local terminal's TERM and size."""
        try:
            size = os.get_terminal_size(fd)
            columns, rows = size.columns, size.lines
        except OSError:
            columns, rows = 80, 24
        return cls(os.environ.get("TERM") or "xterm", columns, rows, echo)


class RemoteSession:
    """Send input, interrupts and EOF to the remote process; report how it ended."""

    def __init__(
        self,
        connection: Connection,
        process: asyncssh.SSHClientProcess[bytes],
        pty: PtyRequest | None,
    ) -> None:
        self.connection = connection
        self.process = process
        self.pty = pty
        self.disconnected = False

    @classmethod
    async def open(
        cls, connection: Connection, command: str | None, pty: PtyRequest | None
    ) -> RemoteSession:
        """Start ``command`` (the login shell when None) on the connection."""
        extra: dict[str, object] = {}
        if pty is not None:
            extra = {
                "term_type": pty.term_type,
                "term_size": (pty.columns, pty.rows),
                "term_modes": {asyncssh.PTY_ECHO: int(pty.echo)},
            }
        try:
            process = await connection.conn.create_process(command, encoding=None, **extra)
        except asyncssh.ChannelOpenError as exc:
            raise ConnectError(f"the server refused to start the session: {exc.reason}") from None
        except (asyncssh.ConnectionLost, asyncssh.DisconnectError):
            raise connection.lost_error() from None
        process.channel.set_write_buffer_limits(high=INPUT_HIGH_WATER)
        return cls(connection, process, pty)

    def send(self, data: bytes) -> None:
        """Queue bytes for the remote stdin (sent at once, in as few writes as can be)."""
        with self.connection.corked():
            self.process.stdin.write(data)

    async def drain(self) -> None:
        """Wait until the remote can take more input (back-pressure)."""
        await self.process.stdin.drain()

    @property
    def input_backlogged(self) -> bool:
        """True while more input is queued than the remote is taking: time to drain."""
        return self.process.channel.get_write_buffer_size() > INPUT_HIGH_WATER

    def interrupt(self) -> None:
        """Interrupt the remote foreground work, as Ctrl-C does in a local terminal."""
        if self.pty is not None:
            self.send(PTY_INTERRUPT)
        else:
            self.signal("INT")

    def signal(self, name: str) -> None:
        """Send a signal request (OpenSSH ignores these for root logins)."""
        with contextlib.suppress(OSError, asyncssh.Error):  # closing: the exit status tells
            self.process.send_signal(name)

    async def deliver_signal(self, name: str) -> str:
        """Make signal ``name`` take effect by the surest route; return what happened,
        in words for the user (never silently nothing).

        On a PTY the target is the terminal's foreground job, as with a local terminal's
        signal keys: its control character where there is one, otherwise a second channel
        (a signal request would reach only the session's shell, which ignores most).
        Without a PTY it is the session's process group, by signal request where the
        server honours those."""
        if self.pty is not None and name in PTY_SIGNAL_KEYS:
            self.send(PTY_SIGNAL_KEYS[name])
            return f"sent SIG{name} through the terminal"
        honoured = signal_requests_honoured(self.connection.conn)
        # Only OpenSSH is known to run one server process per connection, which is what
        # makes "the siblings of my side channel" mean "my session" and nobody else's.
        if honoured is not None and (self.pty is not None or not honoured):
            failure = await self._signal_through_side_channel(name)
            if failure is None:
                return f"sent SIG{name} (through a second channel)"
            if honoured is False:
                return (
                    f"could not deliver SIG{name}: the server ignores signal requests "
                    f"for this login, and the fallback failed ({failure})"
                )
        self.signal(name)
        if honoured:
            return f"sent SIG{name}"
        return f"sent SIG{name} as a signal request (this server may ignore it)"

    async def _signal_through_side_channel(self, name: str) -> str | None:
        """Signal from a second channel; None on success, else what went wrong."""
        try:
            result = await self.connection.conn.run(
                _SIDE_CHANNEL_KILL.replace("SIGNAME", name),
                stdin=asyncssh.DEVNULL,
                stdout=asyncssh.DEVNULL,
                stderr=asyncssh.DEVNULL,
                timeout=10,
            )
        except (OSError, asyncssh.Error, asyncio.TimeoutError) as exc:
            return str(exc) or type(exc).__name__
        return None if result.exit_status == 0 else "no remote process found to signal"

    def send_break(self, milliseconds: int = 500) -> None:
        """Send a BREAK (a serial-line break; sshd turns it into SIGINT on a PTY)."""
        with contextlib.suppress(OSError, asyncssh.Error):
            self.process.send_break(milliseconds)

    def send_eof(self) -> None:
        """End the remote input: VEOF on a PTY (channel EOF alone does not end a PTY
        program), channel EOF otherwise."""
        if self.pty is not None:
            self.send(PTY_EOF)
        elif not self.process.stdin.is_closing():
            self.process.stdin.write_eof()

    def resize(self, columns: int, rows: int) -> None:
        """Tell the remote PTY about a new window size."""
        if self.pty is not None:
            self.process.change_terminal_size(columns, rows)

    @property
    def finished(self) -> bool:
        """True once the remote channel has closed."""
        return self.process.channel.is_closing()

    async def wait(self) -> None:
        """Wait for the remote process to end and its output to be delivered."""
        await self.process.wait_closed()

    def exit_status(self) -> int:
        """The status to exit with: remote status, 128+N for signal N, or raise SessionLost."""
        if self.disconnected:
            raise Disconnected(f"connection to {self.connection.label} closed (~.)")
        if self.process.exit_status is not None and self.process.exit_status >= 0:
            return self.process.exit_status
        if self.process.exit_signal is not None:
            return 128 + signal_number(self.process.exit_signal[0])
        raise self.connection.lost_error()

    def close(self) -> None:
        """Close the channel (the remote sees a hang-up)."""
        self.process.close()

    def disconnect(self) -> None:
        """The user asked to leave (``~.``): drop the connection, as ssh does."""
        self.disconnected = True
        self.connection.close()


def signal_requests_honoured(conn: asyncssh.SSHClientConnection) -> bool | None:
    """Whether the server acts on signal requests: OpenSSH since 7.9 does, except for
    root logins (it needs privilege separation); None for servers we cannot judge."""
    version = str(conn.get_extra_info("server_version") or "")
    found = re.search(r"OpenSSH_(\d+)\.(\d+)", version)
    if found is None:
        return None
    if (int(found[1]), int(found[2])) < (7, 9):
        return False
    return bool(conn.get_extra_info("username") != "root")


def signal_number(name: str) -> int:
    """Number of a signal named as SSH names it ("TERM"); unknown names count as SIGTERM."""
    try:
        return int(signal.Signals[f"SIG{name}"])
    except KeyError:
        return int(signal.SIGTERM)


def describe_exit_signal(process: asyncssh.SSHClientProcess[bytes]) -> str | None:
    """A human line for a remote process killed by a signal, e.g. for the interactive screen."""
    if process.exit_signal is None:
        return None
    name, core_dumped, message, _lang = process.exit_signal
    text = f"remote process killed by SIG{name}"
    if core_dumped:
        text += " (core dumped)"
    if message:
        text += f": {message}"
    return text
