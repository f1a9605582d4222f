"""One remote process on its SSH session channel, without asyncssh's types or errors.

:class:`ProcessChannel` is what the session layer drives: input with flow control, the
two output streams, signal and break requests, the window size, how the process ended.
asyncssh's errors become :class:`~remoterepl.errors.ChannelClosed` (an OSError).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

import asyncssh

from remoterepl.errors import ChannelClosed
from remoterepl.outcome import RemoteExited, RemoteKilled
from remoterepl.ssh import diagnostics


@dataclass(frozen=True)
class PtyRequest:
    """A remote pseudo-terminal: type, size, and whether the remote should echo input."""

    term_type: str
    columns: int
    rows: int
    echo: bool = True

    def process_options(self) -> dict[str, object]:
        """asyncssh's create_process() arguments for this terminal."""
        return {
            "term_type": self.term_type,
            "term_size": (self.columns, self.rows),
            "term_modes": {asyncssh.PTY_ECHO: int(self.echo)},
        }


@contextlib.contextmanager
def channel_errors() -> Iterator[None]:
    """asyncssh's errors as ChannelClosed; a timeout (asyncssh's own TimeoutError is one
    too) stays an asyncio.TimeoutError, for the caller's timeout case."""
    try:
        yield
    except asyncio.TimeoutError:
        raise
    except asyncssh.Error as exc:
        raise ChannelClosed(exc.reason or type(exc).__name__) from None


class OutputStream:
    """One output stream of the remote process (stdout or stderr)."""

    def __init__(self, reader: asyncssh.SSHReader[bytes]) -> None:
        self._reader = reader

    async def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; b"" at the end of the stream, also when the connection
        was lost (the session's outcome tells which)."""
        try:
            return await self._reader.read(size)
        except (asyncssh.Error, OSError):
            return b""


class ProcessChannel:
    """The remote process of one session channel."""

    def __init__(
        self,
        process: asyncssh.SSHClientProcess[bytes],
        corked: Callable[[], contextlib.AbstractContextManager[None]],
    ) -> None:
        self._process = process
        self._corked = corked
        self.stdout = OutputStream(process.stdout)
        self.stderr = OutputStream(process.stderr)

    # -- input -------------------------------------------------------------------------

    def write(self, data: bytes, *, secret: bool = False) -> None:
        """Queue input; it leaves at once, in as few writes as can be (OSError if closed).
        A ``secret`` (a line typed at a password prompt) is kept out of -vvvv packet dumps."""
        if secret:
            diagnostics.hide_in_packet_dumps(data)
        with self._corked():
            self._process.stdin.write(data)

    async def drain(self) -> None:
        """Wait until the channel's window lets queued input out (back-pressure)."""
        with channel_errors():
            await self._process.stdin.drain()

    def write_eof(self) -> None:
        """Channel EOF (once; later calls do nothing)."""
        if not self._process.stdin.is_closing():
            with channel_errors():
                self._process.stdin.write_eof()

    def queued_input(self) -> int:
        """Bytes of input the channel has not sent yet."""
        return int(self._process.channel.get_write_buffer_size())

    def limit_queued_input(self, high: int) -> None:
        """Pause writers (drain) above ``high`` queued bytes, resume below a quarter."""
        self._process.channel.set_write_buffer_limits(high=high)

    # -- requests ----------------------------------------------------------------------

    def send_signal(self, name: str) -> None:
        """A signal request (``"INT"``); the server may ignore it."""
        with channel_errors():
            self._process.send_signal(name)

    def send_break(self, milliseconds: int) -> None:
        """A break request (sshd turns it into SIGINT on a PTY)."""
        with channel_errors():
            self._process.send_break(milliseconds)

    def resize(self, columns: int, rows: int) -> None:
        """A window-change request for the remote PTY."""
        with channel_errors():
            self._process.change_terminal_size(columns, rows)

    # -- output and end ----------------------------------------------------------------

    async def redirect_output(
        self,
        stdout: IO[bytes],
        stderr: IO[bytes],
        *,
        bufsize: int = 8192,
        close_at_eof: bool = True,
    ) -> None:
        """Let asyncssh copy the output streams into files (with back-pressure); it closes
        them when the process ends, and at the channel's EOF unless ``close_at_eof`` is
        False (OpenSSH may send stderr after that EOF)."""
        await self._process.redirect(
            stdout=stdout, stderr=stderr, bufsize=bufsize, recv_eof=close_at_eof
        )

    @property
    def end(self) -> RemoteExited | RemoteKilled | None:
        """How the process ended, once the server said so (None before, or never)."""
        status = self._process.exit_status
        if status is not None and status >= 0:
            return RemoteExited(status)
        if self._process.exit_signal is not None:
            name, core_dumped, message, _lang = self._process.exit_signal
            return RemoteKilled(name, bool(core_dumped), message or "")
        return None

    async def wait_closed(self) -> None:
        """Wait until the channel has closed and all output was delivered."""
        await self._process.wait_closed()

    def close(self) -> None:
        """Close the channel (the remote sees a hang-up)."""
        self._process.close()
