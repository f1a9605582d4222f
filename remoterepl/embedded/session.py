"""One session channel of the embedded server, bound to one child process.

The child (``$SHELL -c COMMAND``, or the login shell) runs in a new session and process
group, on a real pty when the client asks for one and on three separate pipes otherwise.
Data flows both ways as bytes, with back-pressure; the exit status (or signal) is sent
only after all of the child's output has left the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

import asyncssh

from remoterepl.embedded._tty import TermSize, set_window_size
from remoterepl.embedded.child import ChildRequest, ServerConfig, channel_environment, spawn_child

_READ_SIZE = 256 * 1024
_CLOSE_GRACE = 5.0  # seconds wait_closed() gives hung-up children before SIGKILL


@dataclass
class ServerState:
    """Live connections and sessions of one server, so close() can end them."""

    connections: set[asyncssh.SSHServerConnection] = field(default_factory=set)
    sessions: set[ChildSession] = field(default_factory=set)


class ChildSession(asyncssh.SSHServerSession[bytes]):
    """One SSH session channel bound to one child process."""

    def __init__(self, config: ServerConfig, state: ServerState) -> None:
        self._config = config
        self._state = state
        self._loop = asyncio.get_running_loop()
        self._chan: asyncssh.SSHServerChannel[bytes] | None = None
        self._command: str | None = None
        self._subsystem: str | None = None
        self._term_type: str | None = None  # set when a pty was requested
        self._term_size: TermSize = (0, 0, 0, 0)
        self._term_modes: Mapping[int, int] = {}
        self._master: int | None = None
        self._stdin: int | None = None  # where client data goes (pipe, or the pty master)
        self._outputs: dict[int, asyncssh.DataType] = {}  # fd -> None (stdout) or stderr
        self._fds: set[int] = set()  # every parent-side fd we own
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._in_buf = bytearray()
        self._in_eof = False
        self._in_dead = False  # the child can take no more input: drop it
        self._writer_added = False
        self._reading_paused = False
        self._output_paused = False
        self._returncode: int | None = None
        self._finishing = False
        self._exit_sent = False
        self._closed = False
        self._pending_signals: list[signal.Signals] = []

    # --- channel set-up -------------------------------------------------------------------

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self._chan = chan

    def pty_requested(
        self, term_type: str, term_size: TermSize, term_modes: Mapping[int, int]
    ) -> bool:
        self._term_type = term_type
        self._term_size = term_size
        self._term_modes = dict(term_modes)
        return True

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        self._term_size = (width, height, pixwidth, pixheight)
        if self._master is not None:
            with contextlib.suppress(OSError):
                set_window_size(self._master, self._term_size)

    def shell_requested(self) -> bool:
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        if subsystem != "sftp" or self._config.sftp_server is None:
            return False
        self._subsystem = self._config.sftp_server  # run like sshd's "Subsystem sftp PATH"
        return True

    def exec_requested(self, command: str) -> bool:
        self._command = command
        return True

    def session_started(self) -> None:
        self._state.sessions.add(self)
        self._task = self._loop.create_task(self._run())
        self._task.add_done_callback(lambda _: self._state.sessions.discard(self))

    def signal_received(self, name: str) -> None:
        signum = _parse_signal(name)
        if self._config.ignore_signals or signum is None:
            return
        if self._proc is None:
            self._pending_signals.append(signum)  # arrived while the child is being spawned
        else:
            self.kill(signum)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._hang_up()
        self._release_fds()

    # --- child process --------------------------------------------------------------------

    async def _run(self) -> None:
        """Spawn the child, wait for it, then finish the channel once output is drained."""
        try:
            proc = await self._spawn()
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            message = f"embedded sshd: cannot run {self._config.shell}: {exc}\n"
            self._send(message.encode(), asyncssh.EXTENDED_DATA_STDERR)
            self._returncode = 127
            self._release_fds()
            self._maybe_finish()
            return
        self._proc = proc
        if self._closed:  # the channel went away while we were spawning
            self._hang_up()
            self._release_fds()
        else:
            self._start_streaming()
        self._returncode = await proc.wait()
        self._child_exited()

    async def _spawn(self) -> asyncio.subprocess.Process:
        """Start the child on a fresh pty or on three pipes; return the process."""
        request = ChildRequest(
            self._command, self._subsystem, self._term_type, self._term_size, self._term_modes
        )
        child = await spawn_child(
            self._config,
            request,
            channel_environment(self._chan) if self._chan is not None else {},
            lambda text: self._send(text.encode(), asyncssh.EXTENDED_DATA_STDERR),
        )
        self._fds.update(child.fds)
        self._master = child.master
        self._stdin = child.stdin
        self._outputs = dict(child.outputs)
        return child.process

    def _start_streaming(self) -> None:
        """Begin pumping output, deliver what arrived during the spawn."""
        if not self._output_paused:
            self._watch_outputs()
        for signum in self._pending_signals:
            self.kill(signum)
        self._pending_signals.clear()
        self._flush_input()

    def kill(self, signum: int) -> None:
        """Send a signal to the child's process group (if the child is still running)."""
        if self._proc is not None and self._returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signum)

    def _hang_up(self) -> None:
        """The client is gone: hang up the child's process group, as a closed terminal would."""
        self.kill(signal.SIGHUP)
        self.kill(signal.SIGCONT)

    def _child_exited(self) -> None:
        """Record the exit; with a pty, take what the child left in it (others may hold it)."""
        master = self._master
        if master is not None and master in self._outputs:
            while data := self._read(master):
                self._send(data, None)
            self._end_output(master)
        self._maybe_finish()

    # --- child -> client ------------------------------------------------------------------

    def _watch_outputs(self) -> None:
        for fd in self._outputs:
            self._loop.add_reader(fd, self._on_readable, fd)

    def _unwatch_outputs(self) -> None:
        for fd in self._outputs:
            self._loop.remove_reader(fd)

    def _on_readable(self, fd: int) -> None:
        data = self._read(fd)
        if data:
            self._send(data, self._outputs[fd])
        elif data is not None:
            self._end_output(fd)
            self._maybe_finish()

    def _read(self, fd: int) -> bytes | None:
        """One non-blocking read: data, b"" at end of output, None if nothing is ready."""
        try:
            return os.read(fd, _READ_SIZE)
        except BlockingIOError:
            return None
        except OSError:
            return b""  # EIO from a pty master: every slave fd is closed

    def _send(self, data: bytes, datatype: asyncssh.DataType) -> None:
        chan = self._chan
        if chan is not None and not chan.is_closing():
            chan.write(data, datatype)

    def _end_output(self, fd: int) -> None:
        self._loop.remove_reader(fd)
        del self._outputs[fd]
        if fd != self._master:  # the master is also our stdin; released at the end
            self._close_fd(fd)

    def pause_writing(self) -> None:
        self._output_paused = True
        self._unwatch_outputs()

    def resume_writing(self) -> None:
        self._output_paused = False
        if self._finishing:
            self._send_exit()
        else:
            self._watch_outputs()

    def _maybe_finish(self) -> None:
        """Once the child exited and its output ended, send the status after the last byte."""
        if self._returncode is None or self._outputs or self._finishing:
            return
        self._finishing = True
        self._release_fds()
        chan = self._chan
        if chan is None or chan.is_closing():
            return
        # asyncssh sends exit-status at once, ahead of queued data: wait for an empty
        # send buffer, which resume_writing() reports once both water marks are 0.
        chan.set_write_buffer_limits(high=0, low=0)
        if chan.get_write_buffer_size() == 0:
            self._send_exit()

    def _send_exit(self) -> None:
        chan = self._chan
        if self._exit_sent or chan is None or chan.is_closing() or self._returncode is None:
            return
        self._exit_sent = True
        chan.write_eof()
        status = self._returncode
        name = _signal_name(-status) if status < 0 else None
        if name is not None:
            chan.exit_with_signal(name)
        else:
            chan.exit(128 - status if status < 0 else status)

    # --- client -> child ------------------------------------------------------------------

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if datatype is not None or self._in_dead:
            return
        self._in_buf += data
        self._flush_input()

    def eof_received(self) -> bool:
        self._in_eof = True
        self._flush_input()
        return True  # keep our side open: output and the exit status are still to come

    def _flush_input(self) -> None:
        """Write buffered client data to the child; pause the channel while it cannot take it."""
        fd = self._stdin
        if fd is None:
            if self._in_buf and not self._in_dead:
                self._pause_input()  # not spawned yet: hold the channel
            return
        while self._in_buf:
            try:
                written = os.write(fd, self._in_buf)
            except BlockingIOError:
                break
            except OSError:  # EPIPE/EIO: nobody reads our input any more
                self._drop_input()
                return
            del self._in_buf[:written]
        if self._in_buf:
            self._pause_input()
            if not self._writer_added:
                self._loop.add_writer(fd, self._flush_input)
                self._writer_added = True
            return
        self._remove_writer()
        if self._in_eof and self._master is None:
            self._drop_input()  # no pty: channel EOF closes the child's stdin
        self._resume_input()

    def _pause_input(self) -> None:
        if not self._reading_paused and self._chan is not None:
            self._reading_paused = True
            self._chan.pause_reading()

    def _resume_input(self) -> None:
        if self._reading_paused and self._chan is not None:
            self._reading_paused = False
            self._chan.resume_reading()  # may re-enter data_received at once

    def _remove_writer(self) -> None:
        if self._writer_added and self._stdin is not None:
            self._loop.remove_writer(self._stdin)
        self._writer_added = False

    def _drop_input(self) -> None:
        """Stop feeding the child: discard pending and future input, close a stdin pipe."""
        self._in_dead = True
        self._in_buf.clear()
        self._remove_writer()
        if self._stdin is not None and self._stdin != self._master:
            self._close_fd(self._stdin)
        self._stdin = None
        self._resume_input()

    # --- clean-up -------------------------------------------------------------------------

    def _close_fd(self, fd: int) -> None:
        if fd in self._fds:
            self._fds.discard(fd)
            self._loop.remove_reader(fd)
            self._loop.remove_writer(fd)
            os.close(fd)

    def _release_fds(self) -> None:
        """Close every fd we hold; further input is dropped."""
        self._in_dead = True
        self._in_buf.clear()
        self._writer_added = False
        for fd in list(self._fds):
            self._close_fd(fd)
        self._outputs.clear()
        self._stdin = self._master = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The task that runs and waits for the child, once the session started."""
        return self._task


async def reap_sessions(sessions: set[ChildSession]) -> None:
    """Wait for hung-up children; SIGKILL the groups of any that outlive the grace period."""
    tasks = {s.task for s in sessions if s.task is not None}
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=_CLOSE_GRACE)
    if pending:
        for session in list(sessions):
            session.kill(signal.SIGKILL)
        await asyncio.gather(*pending, return_exceptions=True)


def _parse_signal(name: str) -> signal.Signals | None:
    """Map an SSH signal name ("INT", also "SIGINT") to a signal, None if unknown."""
    name = name.upper().removeprefix("SIG")
    try:
        return signal.Signals["SIG" + name]
    except KeyError:
        return None


#: Linux's SIGSTKFLT, which Python's signal module names only from 3.11 on: 16 where that
#: number is no other signal (x86 and ARM number STKFLT 16; MIPS and SPARC give 16 another).
_UNNAMED_BY_PYTHON = (
    {16: "STKFLT"}
    if sys.platform == "linux"
    and not hasattr(signal, "SIGSTKFLT")
    and 16 not in {int(s) for s in signal.Signals}
    else {}
)


def _signal_name(signum: int) -> str | None:
    """SSH name of a signal: "TERM", "STKFLT"; the real-time ones as ``kill -l`` names them
    ("RTMIN+3", "RTMAX"), where OpenSSH sends the nameless "SIG@openssh.com": this server
    tells the client the number. None only for a number that is no signal here."""
    with contextlib.suppress(ValueError):
        return signal.Signals(signum).name.removeprefix("SIG")
    if signum in _UNNAMED_BY_PYTHON:
        return _UNNAMED_BY_PYTHON[signum]
    if signal.SIGRTMIN < signum < signal.SIGRTMAX:
        return f"RTMIN+{signum - signal.SIGRTMIN}"
    return None
