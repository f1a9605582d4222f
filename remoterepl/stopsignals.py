"""SIGTERM and SIGHUP sent to remoterepl itself: the run ends cleanly, whatever it was doing.

Python's default for either signal kills the process on the spot: no ``finally`` runs, so
the terminal stays raw (the editor, ``--raw``) or without echo (a password prompt), and the
connect's temporary ssh_config directory stays in /tmp. While :class:`StopSignals` is
active, the first one cancels the run's task instead, so every ``finally`` restores what
it changed, and the run ends with 128+N (:class:`~remoterepl.outcome.Stopped`); ssh
restores the terminal the same way. A front end that gives these signals a meaning of its
own (pipe mode forwards them to the remote) takes them with :meth:`StopSignals.taken_by`.
As ssh does, a signal ignored when remoterepl started (``nohup``) stays ignored. If the
clean end itself hangs, a stop signal more than :data:`FORCE_AFTER` seconds later ends
the process at once (the terminal's modes from the start put back first, best effort);
sooner it is the same event twice (a closed terminal's SIGHUP, then the shell's).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import termios
import time
from collections.abc import Callable, Iterator
from typing import Any

#: The signals that stop a run (SIGINT is asyncio's: it cancels the run the same way).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
#: The signals a terminal's keys send (Ctrl-C, Ctrl-\, Ctrl-Z).
KEYBOARD_SIGNALS = (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP)
#: Seconds after the first stop signal from which another one forces the end.
FORCE_AFTER = 1.0


def ignore_keyboard_signals() -> None:
    """For the rest of the process: the session is over (``~.``), so a key typed after it
    that lands once the terminal is cooked again must not kill or stop the client before
    it says how the session ended."""
    for signum in KEYBOARD_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def _terminal_modes(fd: int) -> list[Any] | None:
    try:
        return termios.tcgetattr(fd) if os.isatty(fd) else None
    except termios.error:
        return None


class StopSignals:
    """While entered, SIGTERM/SIGHUP cancel ``task`` (once), unless a handler took them."""

    def __init__(self, task: asyncio.Task[object]) -> None:
        self._task = task
        self.received: int | None = None  # the signal that stopped the run
        self._received_at = 0.0
        self._handlers: list[Callable[[int], None]] = []
        self._watched = [s for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN]
        self._modes = _terminal_modes(0)  # put back if a hung clean end is forced

    def __enter__(self) -> StopSignals:
        loop = asyncio.get_running_loop()
        for signum in self._watched:
            loop.add_signal_handler(signum, self._dispatch, signum)
        return self

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._watched:
            loop.remove_signal_handler(signum)

    @contextlib.contextmanager
    def taken_by(self, handler: Callable[[int], None]) -> Iterator[None]:
        """Within the block ``handler(signum)`` gets SIGTERM/SIGHUP instead; it may call
        :meth:`stop` itself."""
        self._handlers.append(handler)
        try:
            yield
        finally:
            self._handlers.remove(handler)

    def stop(self, signum: int) -> None:
        """End the run because of ``signum``; a later call means the clean end hangs: the
        process dies of ``signum`` at once."""
        if self.received is None:
            self.received = signum
            self._received_at = time.monotonic()
            self._task.cancel()
            return
        if time.monotonic() - self._received_at < FORCE_AFTER:
            return
        if self._modes is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(0, termios.TCSANOW, self._modes)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    def _dispatch(self, signum: int) -> None:
        if self._handlers:
            self._handlers[-1](signum)
        else:
            self.stop(signum)
