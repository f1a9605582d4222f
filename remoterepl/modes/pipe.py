"""Pipe mode: local stdin/stdout/stderr streamed byte-exact to and from the remote process.

Output goes through the SSH layer's redirection (its writers pause the channel when our
pipe is full, so memory stays flat), told not to end our streams at the channel's EOF:
OpenSSH can send stderr after it, and a writer closed at EOF would drop that. stdin is
pumped here: asyncssh's pipe reader raises when our EOF arrives after the channel has
closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import select
import signal
import stat
import time
from collections.abc import Iterator
from typing import IO, Protocol

from remoterepl.environment import Console, Environment
from remoterepl.modes.redirect import Outputs
from remoterepl.outcome import GaveUp, Outcome, ReaderGone
from remoterepl.session.process import RemoteSession, SignalReport
from remoterepl.stopsignals import StopSignals

# Larger chunks mean fewer trips through the event loop per megabyte (benchmarks/README.md).
BUFSIZE = 512 * 1024
ABANDON_FLUSH_TIMEOUT = 2.0  # seconds for our writers to pass on output after a second signal
# The same signal again this soon is the same request: GNU timeout(1) sends its signal to
# the command and then to the command's whole process group (kill -- -PGID likewise),
# microseconds apart; a person's second Ctrl-C comes much later.
SAME_SIGNAL_WINDOW = 0.1


class InputTarget(Protocol):
    """Where stdin goes: one remote process, or a fleet of them."""

    def send(self, data: bytes) -> None:
        """Queue ``data``; OSError once no more input is taken."""

    @property
    def input_backlogged(self) -> bool:
        """More is queued than is taken: time to drain."""

    async def drain(self) -> None:
        """Until more input can be taken."""

    def send_eof(self) -> None:
        """End the input."""


class SignalTarget(Protocol):
    """What our signals are passed on to."""

    async def deliver_signal(self, name: str) -> SignalReport:
        """Make signal ``name`` take effect remotely; say how it went."""

    @property
    def outlives_client(self) -> bool:
        """True when the remote process is meant to survive us (``--persist``)."""


class SignalForwarder:
    """The first SIGINT/SIGTERM/SIGHUP goes to the remote process by the surest route
    (:meth:`RemoteSession.deliver_signal`: a second channel where OpenSSH would ignore the
    request, as for root logins), so its traps run and its own status comes back; a
    second one ends the session at once (``abandoned``)."""

    def __init__(self, session: SignalTarget, stops: StopSignals, console: Console) -> None:
        self.session = session
        self.console = console
        self.abandoned: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._stops = stops
        self._delivery: asyncio.Task[None] | None = None
        self._first: tuple[int, float] | None = None  # the first signal and when it came
        self._scope = contextlib.ExitStack()

    def __enter__(self) -> SignalForwarder:
        loop = asyncio.get_running_loop()
        # As ssh: a SIGINT ignored when we started (``cmd &`` in a script) stays ignored.
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            loop.add_signal_handler(signal.SIGINT, self._on_signal, signal.SIGINT)
            self._scope.callback(loop.remove_signal_handler, signal.SIGINT)
        self._scope.enter_context(self._stops.taken_by(self._on_signal))
        return self

    def __exit__(self, *exc: object) -> None:
        self._scope.close()
        if self._delivery is not None:
            self._delivery.cancel()

    def _on_signal(self, signum: int) -> None:
        now = time.monotonic()
        if signum != signal.SIGINT and self.session.outlives_client:
            # A hang-up or TERM ends this client, not a session meant to outlive it.
            if not self.abandoned.done():
                self.abandoned.set_result(signum)
            return
        if self._first is None:
            self._first = (signum, now)
            name = signal.Signals(signum).name.removeprefix("SIG")
            self._delivery = asyncio.create_task(self._deliver(name))
        elif self._first[0] == signum and now - self._first[1] < SAME_SIGNAL_WINDOW:
            return  # the same request delivered twice, not a second one
        elif not self.abandoned.done():
            self.abandoned.set_result(signum)

    async def _deliver(self, name: str) -> None:
        report = await self.session.deliver_signal(name)
        # A second signal meanwhile dropped the connection (the helper's with it): moot.
        if not report.delivered and not self.abandoned.done():
            self.console.error(f"{report}; a second SIG{name} ends the session")


async def run_pipe(
    session: RemoteSession,
    env: Environment,
    stdin: IO[bytes] | None,
    outputs: Outputs,
    stops: StopSignals,
) -> Outcome:
    """Stream until the remote process ends; return how the session ended.

    ``stdin`` and ``outputs`` are --stdin/--stdout/--stderr files (None: ``env``'s own
    streams); ``stops`` hands us SIGTERM/SIGHUP (see :class:`SignalForwarder`)."""
    # A merge is two writers on one file (asyncssh's own STDOUT target loses stderr data
    # with OpenSSH servers).
    to_stderr = outputs.merged == "stdout-to-stderr"
    to_stdout = outputs.merged == "stderr-to-stdout"
    stdout = _writer(outputs.stdout, env.stderr if to_stderr else env.stdout)
    stderr = _writer(outputs.stderr, env.stdout if to_stdout else env.stderr)
    reader_gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    # asyncio warns on stderr about writes into a pipe whose reader left; that case is
    # handled below (SIGPIPE status), so the warnings would only be noise in a pipeline.
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    with (
        fd_flags_kept((env.stdin, env.stdout, env.stderr)),
        SignalForwarder(session, stops, env.console) as forwarder,
        watching_for_reader_gone((stdout.fileno(), stderr.fileno()), reader_gone),
    ):
        await session.redirect_output(stdout, stderr, bufsize=BUFSIZE, close_at_eof=False)
        feeder = asyncio.create_task(feed(session, stdin, env.stdin))
        try:
            ended = asyncio.ensure_future(session.wait())
            await asyncio.wait(
                (ended, reader_gone, forwarder.abandoned), return_when=asyncio.FIRST_COMPLETED
            )
            ended.cancel()
        finally:
            feeder.cancel()
        if forwarder.abandoned.done() and session.end is None:
            # At once, whatever the remote does; what it sent has reached our writers,
            # which get a moment to hand it on to a slow reader.
            session.abandon()
            with contextlib.suppress(asyncio.TimeoutError, OSError):
                await asyncio.wait_for(session.wait(), ABANDON_FLUSH_TIMEOUT)
            return GaveUp(forwarder.abandoned.result())
    if reader_gone.done():
        # Like a local program in a pipeline (``| head -1``): stop quietly, as if killed
        # by SIGPIPE, unless the remote's own status came first; the remote sees its
        # channel close.
        session.close()
        with contextlib.suppress(asyncio.TimeoutError, OSError):
            await asyncio.wait_for(session.wait(), 5)  # lets asyncssh finish its cleanup
        if session.end is None:
            return ReaderGone()
    return session.outcome()


@contextlib.contextmanager
def watching_for_reader_gone(fds: tuple[int, ...], gone: asyncio.Future[None]) -> Iterator[None]:
    """Resolve ``gone`` when whoever reads one of our output pipes closes it: the write
    end of a pipe polls as readable (EPOLLERR) exactly then."""
    loop = asyncio.get_running_loop()
    # Own duplicates: asyncio watches the fds it writes to the same way (one reader per fd).
    watched = [os.dup(fd) for fd in fds if stat.S_ISFIFO(os.fstat(fd).st_mode)]

    def mark_gone() -> None:
        if not gone.done():
            gone.set_result(None)

    for fd in watched:
        loop.add_reader(fd, mark_gone)
    try:
        yield
    finally:
        for fd in watched:
            loop.remove_reader(fd)
            os.close(fd)


def _writer(file: IO[bytes] | None, fd: int) -> IO[bytes]:
    """An unbuffered duplicate (asyncssh closes what it is given when the process ends;
    unbuffered so output reaches even a regular file as it arrives)."""
    return os.fdopen(os.dup(file.fileno() if file is not None else fd), "wb", buffering=0)


async def feed(session: InputTarget, stdin: IO[bytes] | None, stdin_fd: int) -> None:
    """Copy stdin (the --stdin file, else ``stdin_fd``) to the remote with back-pressure,
    then end its input (VEOF on a PTY: channel EOF does not end PTY programs)."""
    fd = os.dup(stdin.fileno() if stdin is not None else stdin_fd)
    try:
        if _pollable(fd):
            _widen_pipe(fd)
            await _StdinPump(session, fd).run()
        else:
            await _feed_in_thread(session, fd)
        session.send_eof()
    except OSError:
        pass  # the remote stopped reading (exited, closed its stdin): nothing to deliver to


class _StdinPump:
    """Copies a pollable fd (pipe, terminal, socket) to the remote until end of file.

    Read when the loop says the fd is readable, without making it non-blocking (that would
    leak to the other users of the terminal or pipe); the fd stays watched between reads and
    is unwatched only while the remote is not taking input fast enough. Owns ``fd``: closed
    when run() ends."""

    def __init__(self, session: InputTarget, fd: int) -> None:
        self.session = session
        self.fd = fd
        self.loop = asyncio.get_running_loop()
        self.finished: asyncio.Future[None] = self.loop.create_future()
        self.draining: asyncio.Task[None] | None = None

    async def run(self) -> None:
        self.loop.add_reader(self.fd, self._on_readable)
        try:
            await self.finished
        finally:
            self.loop.remove_reader(self.fd)
            os.close(self.fd)
            if self.draining is not None:
                self.draining.cancel()
            if self.finished.done() and not self.finished.cancelled():
                self.finished.exception()  # seen here even when we were cancelled first

    def _on_readable(self) -> None:
        if self.finished.done():  # end of file stays readable until run() unwatches it
            return
        try:
            chunk = os.read(self.fd, BUFSIZE)
            if not chunk:
                self.loop.remove_reader(self.fd)
                self.finished.set_result(None)
                return
            self.session.send(chunk)
        except Exception as exc:  # ends run(), which raises it: never a silent hang
            self.finished.set_exception(exc)
            return
        if self.session.input_backlogged:
            self.loop.remove_reader(self.fd)
            self.draining = asyncio.create_task(self._resume_after_drain())

    async def _resume_after_drain(self) -> None:
        try:
            await self.session.drain()
        except Exception as exc:  # asyncssh re-raises whatever ended the connection
            if not self.finished.done():
                self.finished.set_exception(exc)
            return
        if not self.finished.done():
            self.loop.add_reader(self.fd, self._on_readable)


async def _feed_in_thread(session: InputTarget, fd: int) -> None:
    """Regular files and fds epoll refuses (/dev/null and other devices): read in a worker
    thread. Owns ``fd``: closes it once no worker is reading it any more."""
    loop = asyncio.get_running_loop()
    read: asyncio.Future[bytes] | None = None
    try:
        while True:
            read = loop.run_in_executor(None, os.read, fd, BUFSIZE)
            chunk = await asyncio.shield(read)  # cancelled: the worker still reads on
            if not chunk:
                return
            session.send(chunk)
            await session.drain()
    finally:
        if read is not None and not read.done():
            read.add_done_callback(lambda _read: os.close(fd))
        else:
            os.close(fd)


def _widen_pipe(fd: int) -> None:
    """Let the stdin pipe hold BUFSIZE bytes (Linux's default is 64 KiB), so that each
    wake-up reads a full chunk: a fixed cost per read is most of what forwarding costs
    (upload: ~25 % less CPU). Only stdin: the kernel charges widened pipes to the user's
    pipe-user-pages-soft quota (16384 pages by default; this is 128 until the pipeline ends),
    and the output side gained too little to be worth more of it."""
    with contextlib.suppress(OSError, AttributeError):
        if stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) < BUFSIZE:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, BUFSIZE)


def _pollable(fd: int) -> bool:
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return False
    with select.epoll() as poller:
        try:
            poller.register(fd, select.EPOLLIN)
        except PermissionError:
            return False
    return True


@contextlib.contextmanager
def fd_flags_kept(fds: tuple[int, ...]) -> Iterator[None]:
    """asyncio makes the pipes it streams non-blocking, which changes them for every
    process sharing them (the shell's terminal too): put the flags back afterwards."""
    saved = {fd: fcntl.fcntl(fd, fcntl.F_GETFL) for fd in fds}
    try:
        yield
    finally:
        for fd, flags in saved.items():
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, fcntl.F_SETFL, flags)
