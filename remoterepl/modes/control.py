"""What the user's escapes and signal keys do to the session, for every front end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol

from remoterepl.modes.escapes import Action, Escape, help_text, printable
from remoterepl.session.process import SignalReport


class Controlled(Protocol):
    """What escapes and signal keys act on: one remote session, or a fleet of them."""

    def disconnect(self, escape: str = "~.") -> None:
        """Leave at once (``~.``)."""

    def send_break(self, milliseconds: int = 500) -> None:
        """Send a BREAK."""

    def forwards_listing(self) -> str:
        """The ``~#`` text."""

    def interrupt(self) -> bool:
        """Ctrl-C by the route that acts at once; False when only a second channel can."""

    async def deliver_signal(self, name: str) -> SignalReport:
        """Signal ``name`` by the surest route; say how it went."""


class SessionControl:
    """Carries out escapes (``~.``, ``~?``, ``~B``, signal escapes) and reports back
    through ``notify`` with one short line of text."""

    def __init__(
        self,
        session: Controlled,
        escape_char: str | None,
        notify: Callable[[str], None],
        suspend: Callable[[], None] = lambda: None,
        extra_escapes: Mapping[str, Escape] | None = None,
    ) -> None:
        self.session = session
        self.escape_char = escape_char
        self.notify = notify
        self.suspend = suspend  # stops this client until `fg` (the front end's terminal)
        self.extra_escapes = extra_escapes  # the front end's own, listed by ~?
        self._tasks: set[asyncio.Task[None]] = set()

    def perform(self, escape: Escape) -> None:
        """Act on a completed escape (LITERAL is the caller's business: it is input)."""
        if escape.action is Action.DISCONNECT:
            self.session.disconnect(f"{printable(self.escape_char or '~')}{escape.key}")
        elif escape.action is Action.HELP:
            self.notify(help_text(self.escape_char or "~", self.extra_escapes))
        elif escape.action is Action.BREAK:
            self.session.send_break()
            self.notify("[sent BREAK]\n")
        elif escape.action is Action.FORWARDS:
            self.notify(self.session.forwards_listing())
        elif escape.action is Action.SUSPEND:
            self.suspend()
        elif escape.action is Action.SIGNAL and escape.signal:
            self.send_signal(escape.signal)

    def interrupt(self) -> None:
        """Ctrl-C: at once where the terminal or a signal request reaches the remote work
        (silently, as in a terminal); where neither does (OpenSSH ignores signal requests
        for root logins, and -T has no terminal), SIGINT goes the way ``~I`` takes, through
        a second channel, in the background, with one note only if that fails."""
        if not self.session.interrupt():
            self._background(self._interrupt())

    def send_signal(self, name: str) -> None:
        """Deliver a signal in the background and tell the user how it went."""
        self._background(self._signal(name))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _signal(self, name: str) -> None:
        self.notify(f"[{await self.session.deliver_signal(name)}]\n")

    async def _interrupt(self) -> None:
        report = await self.session.deliver_signal("INT")
        if not report.delivered:
            self.notify(f"[Ctrl-C: {report}]\n")
