"""RemoteSession: the one long-lived remote process, whatever front end drives it."""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass

import asyncssh

from remoterepl.connection import Connection
from remoterepl.errors import ConnectError

# A PTY's line discipline turns these into SIGINT / end-of-file for the foreground job,
# which works even where the server ignores signal requests (OpenSSH, root logins).
PTY_INTERRUPT = b"\x03"
PTY_EOF = b"\x04"


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

    def __init__(self, connection: Connection, process: asyncssh.SSHClientProcess[bytes],
                 pty: PtyRequest | None) -> None:
        self.connection = connection
        self.process = process
        self.pty = pty

    @classmethod
    async def open(cls, connection: Connection, command: str | None,
                   pty: PtyRequest | None) -> RemoteSession:
        """Start ``command`` (the login shell when None) on the connection."""
        extra: dict[str, object] = {}
        if pty is not None:
            extra = {"term_type": pty.term_type, "term_size": (pty.columns, pty.rows),
                     "term_modes": {asyncssh.PTY_ECHO: int(pty.echo)}}
        try:
            process = await connection.conn.create_process(command, encoding=None, **extra)
        except asyncssh.ChannelOpenError as exc:
            raise ConnectError(f"the server refused to start the session: {exc.reason}") from None
        except (asyncssh.ConnectionLost, asyncssh.DisconnectError):
            raise connection.lost_error() from None
        return cls(connection, process, pty)

    def send(self, data: bytes) -> None:
        """Queue bytes for the remote stdin."""
        self.process.stdin.write(data)

    async def drain(self) -> None:
        """Wait until the remote can take more input (back-pressure)."""
        await self.process.stdin.drain()

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
        if self.process.exit_status is not None and self.process.exit_status >= 0:
            return self.process.exit_status
        if self.process.exit_signal is not None:
            return 128 + signal_number(self.process.exit_signal[0])
        raise self.connection.lost_error()

    def close(self) -> None:
        """Close the channel (the remote sees a hang-up)."""
        self.process.close()


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

