"""What a :class:`~remoterepl.session.process.RemoteSession` drives, as protocols: the
SSH session channel of :mod:`remoterepl.ssh.channel`, or a persisted session's channel
that outlives its links (:mod:`remoterepl.persist`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Protocol

from remoterepl.outcome import RemoteExited, RemoteKilled

if TYPE_CHECKING:
    from remoterepl.session.ttywatch import TtyMode


class OutputSource(Protocol):
    """One output stream of the remote process."""

    async def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; b"" at the end (also when the link was lost)."""


class SessionChannel(Protocol):
    """The remote process's input, output, requests and end."""

    @property
    def stdout(self) -> OutputSource:
        """The remote stdout (with a PTY: the terminal's output, stderr included)."""

    @property
    def stderr(self) -> OutputSource:
        """The remote stderr (empty with a PTY)."""

    def write(self, data: bytes, *, secret: bool = False) -> None:
        """Queue input (OSError once it takes no more)."""

    async def drain(self) -> None:
        """Wait until queued input is moving again (back-pressure)."""

    def write_eof(self) -> None:
        """End the input (once; later calls do nothing)."""

    def queued_input(self) -> int:
        """Bytes of input not yet taken by the remote side."""

    def send_signal(self, name: str) -> None:
        """Signal the remote process (``"INT"``)."""

    def send_break(self, milliseconds: int) -> None:
        """A break (sshd turns it into SIGINT on a PTY)."""

    def resize(self, columns: int, rows: int) -> None:
        """The window size of the remote PTY."""

    async def redirect_output(
        self, stdout: IO[bytes], stderr: IO[bytes], *, bufsize: int, close_at_eof: bool
    ) -> None:
        """Copy the output streams into these files from now on."""

    @property
    def end(self) -> RemoteExited | RemoteKilled | None:
        """How the process ended, once known."""

    async def wait_closed(self) -> None:
        """Wait until the channel is done and all output was delivered."""

    def close(self) -> None:
        """Close the channel."""


class TerminalWatch(Protocol):
    """Reports of the remote terminal's reading mode (see :mod:`.ttywatch`)."""

    async def run(self, report: Callable[[TtyMode | None], None]) -> None:
        """Report each change until the session ends, then None."""

    def close(self) -> None:
        """Stop watching."""
