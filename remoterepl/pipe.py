"""Pipe mode: local stdin/stdout/stderr streamed byte-exact to and from the remote process.

The streams are pumped here rather than through asyncssh's ``redirect``: with OpenSSH
servers its writers drop merged stderr (2>&1), and its stdin pipe reader raises when our
EOF arrives after the channel has closed. Each pump is a plain loop with back-pressure.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import select
import signal
import stat
from collections.abc import Iterator
from typing import IO

import asyncssh

from remoterepl.redirect import Outputs
from remoterepl.session import RemoteSession

# Larger chunks mean fewer trips through the event loop per megabyte (DESIGN.md §4).
BUFSIZE = 256 * 1024
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _SignalForwarder:
    """First SIGINT/SIGTERM/SIGHUP goes to the remote process; a second one gives up on it."""

    def __init__(self, session: RemoteSession) -> None:
        self.session = session
        self.abandoned_by: int | None = None
        self._forwarded = False

    def __enter__(self) -> _SignalForwarder:
        loop = asyncio.get_running_loop()
        for signum in FORWARDED_SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)
        return self

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for signum in FORWARDED_SIGNALS:
            loop.remove_signal_handler(signum)

    def _on_signal(self, signum: int) -> None:
        if self._forwarded:
            self.abandoned_by = signum
            self.session.close()
            return
        self._forwarded = True
        self.session.signal(signal.Signals(signum).name.removeprefix("SIG"))


async def run_pipe(session: RemoteSession, stdin: IO[bytes] | None, outputs: Outputs) -> int:
    """Stream until the remote process ends; return the exit status to use.

    ``stdin`` and ``outputs`` are --stdin/--stdout/--stderr files (None: our own streams)."""
    with _fd_flags_kept((0, 1, 2)), _SignalForwarder(session) as forwarder:
        stdout = await _LocalWriter.open(_target_fd(outputs.stdout, outputs, 1))
        stderr = stdout if outputs.merged else \
            await _LocalWriter.open(_target_fd(outputs.stderr, outputs, 2))
        process = session.process
        feeder = asyncio.create_task(_feed(session, stdin))
        try:
            await asyncio.gather(_drain_into(process.stdout, stdout),
                                 _drain_into(process.stderr, stderr))
            await session.wait()
        except _OutputClosed:
            # As a local program in a pipeline would, stop quietly: the remote sees its
            # channel close (SIGPIPE on its next write), we exit as if killed by SIGPIPE.
            session.close()
            return 128 + signal.SIGPIPE
        finally:
            feeder.cancel()
            for writer in {id(w): w for w in (stdout, stderr)}.values():
                await writer.close()
    if forwarder.abandoned_by is not None and session.process.exit_status is None \
            and session.process.exit_signal is None:
        return 128 + forwarder.abandoned_by
    return session.exit_status()


def _target_fd(file: IO[bytes] | None, outputs: Outputs, own_fd: int) -> int:
    """The fd one remote stream goes to: a --stdout/--stderr file, or our own stream
    (after a merge, the stream merged into)."""
    if file is not None:
        return file.fileno()
    if outputs.merged == "stdout-to-stderr":
        return 2
    if outputs.merged == "stderr-to-stdout":
        return 1
    return own_fd


class _OutputClosed(Exception):
    """Whoever reads our output went away (``| head -1``)."""


async def _drain_into(reader: asyncssh.SSHReader[bytes], writer: _LocalWriter) -> None:
    """Copy one remote stream to a local one until its end."""
    while True:
        try:
            data = await reader.read(BUFSIZE)
        except (asyncssh.Error, OSError):
            return  # connection lost: the exit status says so
        if not data:
            return
        try:
            await writer.write(data)
        except (BrokenPipeError, ConnectionResetError):
            raise _OutputClosed from None


async def _feed(session: RemoteSession, stdin: IO[bytes] | None) -> None:
    """Copy stdin to the remote with back-pressure, then end its input (VEOF on a PTY:
    channel EOF does not end PTY programs)."""
    reader = _LocalReader(os.dup(stdin.fileno() if stdin is not None else 0))
    try:
        while chunk := await reader.read(BUFSIZE):
            session.send(chunk)
            await session.drain()
        session.send_eof()
    except (OSError, asyncssh.Error):
        pass  # the remote stopped reading (exited, closed its stdin): nothing to deliver to
    finally:
        reader.close()


class _LocalReader:
    """Reads a local fd without blocking the loop.

    Pollable fds are read when the loop says they are readable (without making them
    non-blocking, which would leak to the other users of the terminal or pipe); regular
    files and fds epoll refuses (/dev/null and other devices) are read in a worker thread."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pollable = _pollable(fd)

    async def read(self, size: int) -> bytes:
        loop = asyncio.get_running_loop()
        if not self.pollable:
            return await loop.run_in_executor(None, os.read, self.fd, size)
        readable: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(self.fd, wake)
        try:
            await readable
        finally:
            loop.remove_reader(self.fd)
        return os.read(self.fd, size)

    def close(self) -> None:
        os.close(self.fd)


class _WriteFlow(asyncio.BaseProtocol):
    """Flow control of one write pipe: paused while the kernel buffer is full; knows when
    the pipe is gone (flushed and closed, or broken)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.broken = False

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.broken = exc is not None
        self.writable.set()
        if not self.closed.done():
            self.closed.set_result(None)


class _LocalWriter:
    """Writes a local fd with back-pressure: an asyncio pipe transport for pipes, sockets
    and terminals; plain writes for regular files (always ready)."""

    def __init__(self, fd: int, pipe: tuple[asyncio.WriteTransport, _WriteFlow] | None) -> None:
        self.fd = fd
        self.pipe = pipe

    @classmethod
    async def open(cls, fd: int) -> _LocalWriter:
        """Wrap a duplicate of ``fd`` (closing ours never closes the original)."""
        fd = os.dup(fd)
        if not _pollable(fd):
            return cls(fd, None)
        loop = asyncio.get_running_loop()
        transport, flow = await loop.connect_write_pipe(
            lambda: _WriteFlow(loop), os.fdopen(fd, "wb", buffering=0))
        return cls(fd, (transport, flow))

    async def write(self, data: bytes) -> None:
        if self.pipe is None:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
            return
        transport, flow = self.pipe
        if flow.closed.done():
            raise BrokenPipeError
        transport.write(data)
        await flow.writable.wait()

    async def close(self) -> None:
        """Flush and close: everything written has left when this returns."""
        if self.pipe is None:
            os.close(self.fd)
            return
        transport, flow = self.pipe
        transport.close()  # asyncio closes a write pipe once its buffer is flushed
        await flow.closed


def _pollable(fd: int) -> bool:
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return False
    with select.epoll() as poller:
        try:
            poller.register(fd, select.EPOLLIN | select.EPOLLOUT)
        except PermissionError:
            return False
    return True


@contextlib.contextmanager
def _fd_flags_kept(fds: tuple[int, ...]) -> Iterator[None]:
    """asyncio makes the pipes it streams non-blocking, which changes them for every
    process sharing them (the shell's terminal too): put the flags back afterwards."""
    saved = {fd: fcntl.fcntl(fd, fcntl.F_GETFL) for fd in fds}
    try:
        yield
    finally:
        for fd, flags in saved.items():
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, fcntl.F_SETFL, flags)
