"""Raw terminal passthrough: keystrokes go to the remote PTY byte for byte (escapes
excepted) and the window size follows the local terminal. Used for --raw sessions and
while a full-screen program (less, vi, top) runs under the line editor."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import termios
import tty
from collections.abc import Iterator
from typing import Protocol

from remoterepl.environment import Environment
from remoterepl.modes.control import SessionControl
from remoterepl.modes.escapes import Escape, EscapeScanner
from remoterepl.outcome import Outcome
from remoterepl.session.process import RemoteSession
from remoterepl.stopsignals import ignore_keyboard_signals

STDIN = 0
STDOUT = 1


class KeyForwarder:
    """While started, reads the local terminal (``fd``) and sends it to the remote process."""

    def __init__(self, session: RemoteSession, control: SessionControl, fd: int = STDIN) -> None:
        self.session = session
        self.control = control
        self.fd = fd
        self.scanner = EscapeScanner(control.escape_char) if control.escape_char else None
        self._reading = False
        self.hung_up = False  # the terminal went away and no SIGHUP will say so (nohup)

    def start(self) -> None:
        """Begin forwarding keystrokes."""
        if not self._reading:
            asyncio.get_running_loop().add_reader(self.fd, self._on_input)
            self._reading = True

    def stop(self) -> None:
        """Stop forwarding (keys typed afterwards wait in the terminal for the next reader)."""
        if self._reading:
            asyncio.get_running_loop().remove_reader(self.fd)
            self._reading = False

    def _on_input(self) -> None:
        # Keys can race the end of the session: nothing here may raise into the loop.
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: the terminal hung up
            data = b""
        if not data:
            # A raw terminal gives no end of input (Ctrl-D is a key): it hung up. Its
            # SIGHUP ends the run; under nohup none comes, so hang up the remote and end
            # as the editor does when its terminal hung up (app.py: EIO means SIGHUP).
            self.stop()
            if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
                self.hung_up = True
                self.session.close()
            return
        for item in self.scanner.feed(data) if self.scanner else [data]:
            if isinstance(item, Escape):
                self.control.perform(item)
            else:
                self.session.try_send(item)


class Resizable(Protocol):
    """A remote terminal (or a fleet's) to keep at the local window's size."""

    def resize(self, columns: int, rows: int) -> None:
        """The local window is now this size."""


@contextlib.contextmanager
def following_window_size(session: Resizable, fd: int = STDOUT) -> Iterator[None]:
    """Forward local terminal resizes (SIGWINCH) to the remote PTY."""
    loop = asyncio.get_running_loop()

    def resized() -> None:
        with contextlib.suppress(OSError):
            size = os.get_terminal_size(fd)
            session.resize(size.columns, size.lines)

    loop.add_signal_handler(signal.SIGWINCH, resized)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGWINCH)


def suspend_client(fd: int = STDIN) -> None:
    """Stop remoterepl as ssh's ``~^Z`` does: the terminal back to line mode, SIGTSTP to
    our process group, and on ``fg`` the modes we had (the session goes on meanwhile)."""
    try:
        modes = termios.tcgetattr(fd)
    except termios.error:
        modes = None
    if modes is not None:
        cooked = list(modes)
        cooked[0] |= termios.ICRNL | termios.IXON
        cooked[1] |= termios.OPOST | termios.ONLCR
        cooked[3] |= termios.ICANON | termios.ECHO | termios.ISIG | termios.IEXTEN
        termios.tcsetattr(fd, termios.TCSADRAIN, cooked)
    try:
        os.kill(0, signal.SIGTSTP)  # returns once continued
    finally:
        if modes is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(fd, termios.TCSADRAIN, modes)


@contextlib.contextmanager
def raw_terminal(fd: int = STDIN) -> Iterator[None]:
    """Put the terminal in raw mode; restore it exactly, whatever happens."""
    try:
        saved = termios.tcgetattr(fd)
        tty.setraw(fd, termios.TCSANOW)
    except termios.error:  # it hung up already: its SIGHUP ends the run
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(termios.error):  # it hung up: nothing left to restore
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


async def run_raw(session: RemoteSession, env: Environment, escape_char: str | None) -> Outcome:
    """A plain ``ssh -t``-like session: no line editor, the remote PTY does everything."""

    def notify(text: str) -> None:
        os.write(env.stdout, ("\r\n" + text.replace("\n", "\r\n")).encode())

    control = SessionControl(session, escape_char, notify, lambda: suspend_client(env.stdin))
    forwarder = KeyForwarder(session, control, env.stdin)
    await session.redirect_output(
        os.fdopen(os.dup(env.stdout), "wb", 0), os.fdopen(os.dup(env.stderr), "wb", 0)
    )
    with raw_terminal(env.stdin), following_window_size(session, env.stdout):
        forwarder.start()
        try:
            await session.wait()
        finally:
            forwarder.stop()
            if session.left:
                ignore_keyboard_signals()  # as in the editor: ~. must end with its 255
    if forwarder.hung_up:
        raise OSError(errno.EIO, "the terminal hung up")
    return session.outcome()
