"""Interactive front end: a prompt_toolkit line editor over one remote process.

Remote output is printed above the input line as it arrives; the remote's partial last
line (its prompt, or output without a newline) becomes the local prompt, so it is visible
at once and never printed twice.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import shlex

import asyncssh
from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import ANSI
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.output import Output, create_output
from prompt_toolkit.output.vt100 import Vt100_Output

from remoterepl.keys import make_key_bindings
from remoterepl.remote_text import OutputSplitter, prompt_text
from remoterepl.session import RemoteSession, describe_exit_signal

READ_SIZE = 256 * 1024
STDERR_TINT = "\x1b[31m"
RESET = "\x1b[0m"


def _create_output() -> Output:
    output = create_output()
    if isinstance(output, Vt100_Output):
        # Remote output moves the cursor at any time, so a cursor-position report can be
        # stale on arrival and make the renderer scroll the screen for space it never uses.
        output.enable_cpr = False
    return output


def default_prompt(command: str | None) -> str:
    """Local prompt for remotes that show none (bc): the program name, e.g. ``bc> ``."""
    try:
        words = shlex.split(command or "")
    except ValueError:
        words = (command or "").split()
    return f"{os.path.basename(words[0])}> " if words else "> "


class _RemoteEnded(Exception):
    """Ends the current prompt: the remote process is gone."""


class _Stream:
    """One remote output stream: incremental UTF-8 decoding plus line splitting."""

    def __init__(self, tint: str = "") -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.splitter = OutputSplitter()
        self.tint = tint

    def feed(self, data: bytes, final: bool = False) -> str:
        lines = self.splitter.feed(self.decoder.decode(data, final))
        return f"{self.tint}{lines}{RESET}" if lines and self.tint else lines

    def prompt(self) -> str:
        text = prompt_text(self.splitter.partial)
        return f"{self.tint}{text}{RESET}" if text and self.tint else text


class FrontEnd:
    """Runs the line editor until the remote process ends."""

    def __init__(self, session: RemoteSession, command: str | None, *,
                 output: Output | None = None, color: bool = True) -> None:
        self.session = session
        self.output = output or _create_output()
        self.stdout = _Stream()
        self.stderr = _Stream(STDERR_TINT if color else "")
        self.local_prompt = default_prompt(command)
        self.input_closed = False
        self.remote_done = False
        self._pending: list[str] = []
        self._streams_open = 2
        self._wake = asyncio.Event()
        self._size = (0, 0)
        self.prompt = PromptSession[str](
            message=self._message, history=InMemoryHistory(), output=self.output,
            reserve_space_for_menu=0,
            key_bindings=make_key_bindings(interrupt=session.interrupt,
                                           end_input=self._end_input),
        )
        self.prompt.app.before_render += self._sync_window_size

    async def run(self) -> None:
        """Edit and send lines until the remote process has ended and all output is shown."""
        readers = [asyncio.create_task(self._read(self.session.process.stdout, self.stdout)),
                   asyncio.create_task(self._read(self.session.process.stderr, self.stderr))]
        painter = asyncio.create_task(self._paint())
        # Raw for the whole session, not only while a prompt runs: keys typed between
        # two prompts must neither be echoed by the tty nor turn into signals.
        with self.prompt.app.input.raw_mode():
            await self._edit_until_remote_ends(readers, painter)
        self._show_leftovers()

    async def _edit_until_remote_ends(self, readers: list[asyncio.Task[None]],
                                      painter: asyncio.Task[None]) -> None:
        try:
            while not self.remote_done:
                try:
                    line = await self.prompt.prompt_async(pre_run=self._exit_if_done)
                except _RemoteEnded:
                    break
                self._send_line(line)
            await asyncio.gather(*readers)
            self._wake.set()
            await painter
        finally:
            for task in (*readers, painter):
                task.cancel()

    # -- input ------------------------------------------------------------------------

    def _send_line(self, line: str) -> None:
        self.stdout.splitter.line_sent()
        self.stderr.splitter.line_sent()
        if self.input_closed:
            self._queue("(remote input is closed; waiting for the remote process to end)\n")
            return
        eol = "\r" if self.session.pty else "\n"
        self.session.send((line.replace("\n", eol) + eol).encode())

    def _end_input(self) -> None:
        self.session.send_eof()
        if self.session.pty is None:
            self.input_closed = True

    def _message(self) -> ANSI:
        remote = self.stderr.prompt() + self.stdout.prompt()
        return ANSI(remote or self.local_prompt)

    def _sync_window_size(self, _app: object) -> None:
        size = self.output.get_size()
        if (size.columns, size.rows) != self._size:
            if self._size != (0, 0):
                self.session.resize(size.columns, size.rows)
            self._size = (size.columns, size.rows)

    def _exit_if_done(self) -> None:
        if self.remote_done:
            self._end_prompt()

    def _end_prompt(self) -> None:
        """The remote is gone: take the prompt off the screen and stop editing."""
        app = self.prompt.app
        if app.is_running and not app.is_done:
            app.erase_when_done = True
            app.exit(exception=_RemoteEnded())

    # -- output -----------------------------------------------------------------------

    async def _read(self, reader: asyncssh.SSHReader[bytes], stream: _Stream) -> None:
        try:
            while data := await reader.read(READ_SIZE):
                text = stream.feed(data)
                if text:
                    self._queue(text)
                else:
                    self.prompt.app.invalidate()  # the partial line (prompt) changed
        except (asyncssh.Error, OSError):
            pass  # connection lost: the exit status reports it
        self._streams_open -= 1
        self._queue(stream.feed(b"", final=True))

    def _queue(self, text: str) -> None:
        if text:
            self._pending.append(text)
        self._wake.set()

    async def _paint(self) -> None:
        """Print queued output above the prompt; batches whatever arrived meanwhile."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._pending:
                text, self._pending = "".join(self._pending), []
                self._print_above(text)
            if not self._streams_open:
                self.remote_done = True
                self._end_prompt()
                return

    def _print_above(self, text: str) -> None:
        """Erase the prompt, print, and let the prompt redraw below. Unlike
        run_in_terminal this keeps the terminal raw, so a Ctrl-C typed meanwhile
        stays a key for us instead of becoming a SIGINT that kills the client."""
        app = self.prompt.app
        if app.is_running and not app.is_done:
            app.renderer.erase(leave_alternate_screen=False)
        self.output.write_raw(text)
        self.output.flush()
        app.invalidate()

    def _show_leftovers(self) -> None:
        tail = "".join(s.splitter.take_partial() for s in (self.stderr, self.stdout))
        note = describe_exit_signal(self.session.process)
        text = (tail + "\n" if prompt_text(tail) else "") + (f"[{note}]\n" if note else "")
        if text:
            self.output.write_raw(text)
            self.output.flush()


async def run_repl(session: RemoteSession, command: str | None) -> None:
    """Drive ``session`` interactively from the local terminal."""
    color = "NO_COLOR" not in os.environ
    await FrontEnd(session, command, color=color).run()
