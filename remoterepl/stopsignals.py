"""SIGTERM and SIGHUP sent to remoterepl itself: the run ends cleanly, whatever it was doing.

Python's default for either signal kills the process on the spot: no ``finally`` runs, so
the terminal stays raw (the editor, ``--raw``) or without echo (a password prompt), and the
connect's temporary ssh_config directory stays in /tmp. While :class:`StopSignals` is
active, the first one cancels the run's task instead, so every ``finally`` restores what
it changed, and the run ends with 128+N (:class:`~remoterepl.outcome.Stopped`); ssh
restores the terminal the same way. A front end that gives these signals a meaning of its
own (pipe mode forwards them to the remote) takes them with :meth:`StopSignals.taken_by`.
As ssh does, a signal ignored when remoterepl started (``nohup``) stays ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

#: The signals that stop a run (SIGINT is asyncio's: it cancels the run the same way).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class StopSignals:
    """While entered, SIGTERM/SIGHUP cancel ``task`` (once), unless a handler took them."""

    def __init__(self, task: asyncio.Task[object]) -> None:
        self._task = task
        self.received: int | None = None  # the signal that stopped the run
        self._handlers: list[Callable[[int], None]] = []
        self._watched = [s for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN]

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
        """End the run because of ``signum`` (later signals change nothing)."""
        if self.received is None:
            self.received = signum
            self._task.cancel()

    def _dispatch(self, signum: int) -> None:
        if self._handlers:
            self._handlers[-1](signum)
        else:
            self.stop(signum)
