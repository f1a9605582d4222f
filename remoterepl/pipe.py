"""Pipe mode: local stdin/stdout/stderr streamed byte-exact to and from the remote process."""

from __future__ import annotations

import asyncio
import io
import os
import select
import signal
import stat

from remoterepl.session import RemoteSession

# Larger buffers more than double redirect throughput (DESIGN.md §4).
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


async def run_pipe(session: RemoteSession) -> int:
    """Stream until the remote process ends; return the exit status to use."""
    # asyncssh closes what it is given when the process ends: hand it duplicates,
    # unbuffered, so output reaches even a regular file as it arrives.
    stdout, stderr = (os.fdopen(os.dup(fd), "wb", buffering=0) for fd in (1, 2))
    with _SignalForwarder(session) as forwarder:
        if session.pty is None:
            await session.process.redirect(stdin=_stdin_source(), stdout=stdout, stderr=stderr,
                                           bufsize=BUFSIZE)
            await session.wait()
        else:
            await session.process.redirect(stdout=stdout, stderr=stderr, bufsize=BUFSIZE)
            feeder = asyncio.create_task(_feed_pty(session))
            await session.wait()
            feeder.cancel()
    if forwarder.abandoned_by is not None and session.process.exit_status is None \
            and session.process.exit_signal is None:
        return 128 + forwarder.abandoned_by
    return session.exit_status()


class _ThreadedReader:
    """stdin the event loop cannot watch (/dev/null and other devices epoll refuses),
    read in a worker thread; asyncssh accepts any object with a coroutine ``read``."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    async def read(self, n: int = -1) -> bytes:
        size = BUFSIZE if n < 0 else n
        return await asyncio.get_running_loop().run_in_executor(None, os.read, self.fd, size)

    async def write(self, data: bytes) -> None:
        raise io.UnsupportedOperation("stdin is read-only")

    async def close(self) -> None:
        os.close(self.fd)


def _pollable(fd: int) -> bool:
    with select.epoll() as poller:
        try:
            poller.register(fd, select.EPOLLIN)
        except PermissionError:
            return False
    return True


def _stdin_source() -> int | _ThreadedReader:
    """A duplicate of stdin in the form asyncssh streams best (it closes what it gets)."""
    fd = os.dup(0)
    if stat.S_ISREG(os.fstat(fd).st_mode) or _pollable(fd):
        return fd
    return _ThreadedReader(fd)


async def _feed_pty(session: RemoteSession) -> None:
    """Copy stdin to a remote PTY and end with VEOF: channel EOF does not end PTY programs."""
    reader = _ThreadedReader(os.dup(0))
    try:
        while chunk := await reader.read(BUFSIZE):
            session.send(chunk)
            await session.drain()
        session.send_eof()
    finally:
        await reader.close()
