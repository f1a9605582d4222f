"""Answers of the local terminal to queries the remote made while the editor owns the keys.

A remote ``printf '\\e[c'`` (device attributes), a colour query (``OSC 11 ; ?``) or a
version query reaches the local terminal through the painter, and the terminal answers on
the editor's input, where prompt_toolkit would take the answer for typed keys. The router
tells us when a query went out; for a short while afterwards an answer (``ESC [``,
``ESC ]``, ``ESC P`` ... up to its final byte or string terminator) is captured whole and
sent to the remote, which asked for it, instead of being typed into the line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from prompt_toolkit.filters import Condition
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.keys import Keys

ANSWER_WINDOW = 2.0  # seconds after a query during which an answer is expected
_CSI_FINAL = re.compile(r"[@-~]")
MAX_ANSWER = 512  # longer is not an answer: give it back as typed text


class TerminalAnswers:
    """Captures the terminal's answers and sends them to the remote."""

    def __init__(self, send: Callable[[str], None]) -> None:
        self.send = send
        self._until = 0.0
        self._answer: str | None = None  # being captured

    def query_sent(self) -> None:
        """The remote's output carried a query to the terminal: an answer will come."""
        self._until = time.monotonic() + ANSWER_WINDOW

    def expected(self) -> bool:
        """True while an answer may arrive (and none is being captured)."""
        return self._answer is None and time.monotonic() < self._until

    @property
    def capturing(self) -> bool:
        """True while an answer is being captured."""
        return self._answer is not None

    def start(self, introducer: str) -> None:
        """An answer begins (``ESC [``, ``ESC ]`` or ``ESC P``)."""
        self._answer = introducer

    def feed(self, data: str) -> str | None:
        """The next characters of the answer; returns what to type instead when they turn
        out not to be an answer at all (too long), else None."""
        answer = (self._answer or "") + data
        self._answer = answer
        if answer.startswith("\x1b[") and len(answer) > 2 and _CSI_FINAL.match(answer[-1]):
            return self._finish()
        if answer.endswith(("\x07", "\x1b\\")) and len(answer) > 2:
            return self._finish()
        if len(answer) > MAX_ANSWER:
            self._answer = None
            return answer
        return None

    def _finish(self) -> str | None:
        answer, self._answer = self._answer or "", None
        self.send(answer)
        return None


def answer_bindings(answers: TerminalAnswers) -> KeyBindings:
    """Key bindings that capture answers (merged after the editor's own: they win)."""
    bindings = KeyBindings()
    expected = Condition(answers.expected)
    capturing = Condition(lambda: answers.capturing)

    @bindings.add("escape", "[", filter=expected, eager=True)
    @bindings.add("escape", "]", filter=expected, eager=True)
    @bindings.add("escape", "P", filter=expected, eager=True)
    def _start(event: KeyPressEvent) -> None:
        answers.start("\x1b" + event.key_sequence[-1].data)

    @bindings.add(Keys.Any, filter=capturing, eager=True)
    @bindings.add("escape", filter=capturing, eager=True)
    def _more(event: KeyPressEvent) -> None:
        typed = answers.feed(event.data)
        if typed is not None:
            event.current_buffer.insert_text(typed)

    @bindings.add(Keys.CPRResponse)
    def _cursor_position(event: KeyPressEvent) -> None:
        # The editor never asks (its output has CPR off): the remote did.
        answers.send(event.data)

    return bindings
