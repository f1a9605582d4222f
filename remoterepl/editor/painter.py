"""Remote output (and our own notes) printed above the prompt, batched: whatever arrived
while the last batch was painted goes out in one terminal write."""

from __future__ import annotations

import asyncio

from prompt_toolkit.application import Application

from remoterepl.editor.terminal import TerminalOutput, with_carriage_returns

NOTICE_TINT = "\x1b[2m"  # dim: our own notes (escape help, signal reports)
RESET = "\x1b[0m"


class Painter:
    """Queues text for the screen and paints it above the running prompt."""

    def __init__(self, output: TerminalOutput, *, color: bool) -> None:
        self.output = output
        self.app: Application[str] | None = None  # the prompt's, once attached
        self.notice_tint = NOTICE_TINT if color else ""
        self._holds: set[str] = set()  # why output waits: $EDITOR, the editor stepping aside
        self._pending: list[str] = []
        self._wake = asyncio.Event()
        self._streams_open = 2  # remote stdout and stderr

    def attach(self, app: Application[str]) -> None:
        """Paint around this prompt application from now on (it is made after us: it
        needs our notes for its keys)."""
        self.app = app

    def queue(self, text: str) -> None:
        """Paint ``text`` (with its escape sequences) above the prompt, soon."""
        if text:
            self._pending.append(text)
        self._wake.set()

    def notify(self, text: str) -> None:
        """Show a note of ours (escape help, signal reports) above the prompt."""
        self.queue(f"{self.notice_tint}{text}{RESET}" if self.notice_tint else text)

    @property
    def held(self) -> bool:
        """True while output waits (queued, in order) for the terminal to be free."""
        return bool(self._holds)

    def hold(self, reason: str) -> None:
        """Keep output back until :meth:`release` with the same reason: $EDITOR owns the
        terminal, or the prompt is still on the screen while keys go to the program (its
        next output must not land before the prompt is erased)."""
        self._holds.add(reason)

    def release(self, reason: str) -> None:
        """Output may reach the terminal again, once nothing else holds it."""
        self._holds.discard(reason)
        self._wake.set()

    def stream_ended(self) -> None:
        """One of the remote's two output streams has ended."""
        self._streams_open -= 1
        self._wake.set()

    async def run(self) -> None:
        """Paint queued output until both remote streams have ended and all is shown."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._pending and not self.held:
                text, self._pending = "".join(self._pending), []
                self._print_above(text)
            if not self._streams_open and not self.held:
                return

    def _print_above(self, text: str) -> None:
        """Erase the prompt, print, and let the prompt redraw below. Unlike
        run_in_terminal this keeps the terminal raw, so a Ctrl-C typed meanwhile
        stays a key for us instead of becoming a SIGINT that kills the client."""
        app = self.app
        with self.output.one_write():
            if app is not None and app.is_running and not app.is_done:
                app.renderer.erase(leave_alternate_screen=False)
            self.output.write_raw(with_carriage_returns(text))
        if app is not None:
            app.invalidate()

    def write_now(self, text: str) -> None:
        """Write ``text`` at once, with no prompt on the screen (the session's last words)."""
        with self.output.one_write():
            self.output.write_raw(with_carriage_returns(text))
