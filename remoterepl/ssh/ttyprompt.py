"""Questions on the controlling terminal (/dev/tty), as ssh asks them, without blocking.

Passwords, passphrases and host-key questions go to /dev/tty, not stdin/stdout, so they work
in pipe mode too. The answer is read by the event loop (``add_reader``), never by a thread
blocked in ``read()``: Ctrl-C during a prompt ends the run at once, and the terminal's echo
setting is always restored.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
from typing import Any

TTY_PATH = "/dev/tty"


class NoTerminal(Exception):
    """There is no controlling terminal to ask on."""


def terminal_available() -> bool:
    """True when this process has a controlling terminal it can open (blocking, but instant)."""
    try:
        fd = os.open(TTY_PATH, os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def _open(echo: bool) -> tuple[int, list[Any] | None]:
    """Open the terminal and switch echo off if asked; return (fd, attributes to restore)."""
    try:
        fd = os.open(TTY_PATH, os.O_RDWR | os.O_NOCTTY)
    except OSError as exc:
        raise NoTerminal(str(exc)) from None
    saved: list[Any] | None = None
    if not echo:
        try:
            saved = termios.tcgetattr(fd)
            quiet = termios.tcgetattr(fd)
            quiet[3] &= ~termios.ECHO
            # TCSAFLUSH drops typeahead, so keys typed earlier never become the secret.
            termios.tcsetattr(fd, termios.TCSAFLUSH, quiet)
        except termios.error:
            saved = None
    return fd, saved


def _write_all(fd: int, text: str) -> None:
    data = text.encode("utf-8", "replace")
    while data:
        data = data[os.write(fd, data) :]


def _close(fd: int, saved: list[Any] | None, echo: bool) -> None:
    try:
        if saved is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        if not echo:
            with contextlib.suppress(OSError):
                _write_all(fd, "\n")  # the Enter the user typed was not echoed
    finally:
        os.close(fd)


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


async def _read_line(fd: int) -> str | None:
    """Read one line (without its newline) as the loop sees data arrive; None at EOF."""
    loop = asyncio.get_running_loop()
    chunks: list[bytes] = []
    while True:
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, _wake, ready)
        try:
            await ready
        finally:
            loop.remove_reader(fd)
        try:
            data = os.read(fd, 1024)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if not data:
            return b"".join(chunks).decode("utf-8", "replace") if chunks else None
        chunks.append(data)
        if b"\n" in data:
            line = b"".join(chunks).split(b"\n", 1)[0]
            return line.decode("utf-8", "replace").rstrip("\r")


async def ask(prompt: str, *, echo: bool) -> str | None:
    """Show ``prompt`` on the terminal and return the line typed (None on Ctrl-D).

    Raises NoTerminal when there is no controlling terminal.
    """
    loop = asyncio.get_running_loop()
    async with _one_question_at_a_time(loop):  # many hosts may ask at once (-o BatchMode=no)
        # On the loop, not in a worker (opening a terminal does not block): a SIGTERM that
        # cancels us while a worker switched echo off would leave it off.
        fd, saved = _open(echo)
        try:
            await loop.run_in_executor(None, _write_all, fd, prompt)
            return await _read_line(fd)
        finally:
            _close(fd, saved, echo)  # at once, even when cancelled (Ctrl-C)


_QUESTION_LOCKS: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}


def _one_question_at_a_time(loop: asyncio.AbstractEventLoop) -> asyncio.Lock:
    """The lock that keeps two questions off the terminal at once (one per loop): each
    saves and restores the terminal's echo, which interleaved would leave it off."""
    if loop not in _QUESTION_LOCKS:
        _QUESTION_LOCKS.clear()  # an earlier run's loop is gone
        _QUESTION_LOCKS[loop] = asyncio.Lock()
    return _QUESTION_LOCKS[loop]


async def tell(message: str) -> None:
    """Write one line to the terminal (silently nothing when there is none)."""

    def write() -> None:
        with contextlib.suppress(NoTerminal, OSError):
            fd, _ = _open(True)
            try:
                _write_all(fd, message + "\n")
            finally:
                os.close(fd)

    await asyncio.get_running_loop().run_in_executor(None, write)
