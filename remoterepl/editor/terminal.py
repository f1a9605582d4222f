"""The terminal as the editor's output device: prompt_toolkit's VT100 output, without
cursor-position reports, writing output above the prompt in one write with OPOST off."""

from __future__ import annotations

import contextlib
import re
import termios
from collections.abc import Iterator
from typing import TextIO, cast

from prompt_toolkit.application import Application
from prompt_toolkit.output.vt100 import Vt100_Output

from remoterepl.editor.recording import RecordingStdout
from remoterepl.modes.passthrough import suspend_client

_BARE_NEWLINE = re.compile(r"(?<!\r)\n")


class TerminalOutput(Vt100_Output):
    """Vt100 output without cursor-position reports: remote output moves the cursor at any
    time, so a report can be stale on arrival and make the renderer scroll the screen for
    space it never uses. Declaring "one row below the cursor" instead lets the renderer
    draw the bottom toolbar (it waits for a known height) without ever asking."""

    _flush_held = False

    def get_rows_below_cursor_position(self) -> int:
        """At least the input line's own row (the renderer grows the layout as needed)."""
        return 1

    def flush(self) -> None:
        """Write what is buffered, unless a :meth:`one_write` block is collecting it."""
        if not self._flush_held:
            super().flush()

    @contextlib.contextmanager
    def one_write(self) -> Iterator[None]:
        """What the block outputs reaches the terminal in one write (prompt_toolkit's
        erase flushes twice on its own: each write wakes the terminal once more), made
        with the terminal's OPOST off, as ssh -t writes: with it on, the kernel handles
        every newline as a write of its own, which made a flood of short lines half as
        fast as ssh's. Text written in the block must carry its own carriage returns
        (:func:`with_carriage_returns`)."""
        self._flush_held = True
        try:
            yield
        finally:
            self._flush_held = False
            with _output_processing_off(self.fileno()):
                self.flush()


def with_carriage_returns(text: str) -> str:
    """Newlines as a terminal with OPOST and ONLCR would show them."""
    return _BARE_NEWLINE.sub("\r\n", text)


@contextlib.contextmanager
def _output_processing_off(fd: int) -> Iterator[None]:
    """OPOST off for the block (read each time: prompt_toolkit changes the modes too)."""
    try:
        modes = termios.tcgetattr(fd)
    except termios.error:  # not a terminal: nothing to switch
        yield
        return
    if not modes[1] & termios.OPOST:
        yield
        return
    raw = list(modes)
    raw[1] &= ~termios.OPOST
    termios.tcsetattr(fd, termios.TCSANOW, raw)
    try:
        yield
    finally:
        with contextlib.suppress(termios.error):  # the terminal is gone (hang-up)
            termios.tcsetattr(fd, termios.TCSANOW, modes)


def text_stream(fd: int, mode: str, default: TextIO | None) -> TextIO:
    """The terminal on ``fd`` as a text stream: ``default`` (sys.stdin, sys.stdout) when
    it is that fd, else one of its own (left open when dropped)."""
    if default is not None and default.fileno() == fd:
        return default
    return cast(TextIO, open(fd, mode, encoding="utf-8", closefd=False))


def create_output(stdout: TextIO | RecordingStdout, term: str | None) -> TerminalOutput:
    """The output device on ``stdout`` (a terminal, maybe recorded) for TERM ``term``."""
    output = cast(TerminalOutput, TerminalOutput.from_pty(cast(TextIO, stdout), term=term))
    output.enable_cpr = False
    return output


def suspend_beside(app: Application[str], stdin: int) -> None:
    """``~^Z``: stop remoterepl until ``fg``, the input line off the screen meanwhile."""
    if app.is_running and not app.is_done:
        app.renderer.erase(leave_alternate_screen=False)
    suspend_client(stdin)
    app.invalidate()
