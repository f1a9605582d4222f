"""Interactive front end: a prompt_toolkit line editor over one remote process.

Remote output is printed above the input line as it arrives; the remote's partial last
line (its prompt, or output without a newline) becomes the local prompt, so it is visible
at once and never printed twice. When a full-screen program (less, vi, top) switches to
the alternate screen, the editor steps aside and keys pass straight through until it
switches back.

The pieces around the editor each live in their own module: history (history.py),
password prompts (passwords.py), completion (completion.py), highlighting and style
(highlight.py), the toolbar (toolbar.py), the recording (recording.py), escape stripping
(sanitize.py), the config (userconfig.py) and the keys (keys.py). FrontEnd wires them to
the remote session.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import re
import shlex
import sys
import termios
import time
from collections.abc import Iterator
from typing import IO, TextIO, cast
from urllib.parse import unquote, urlsplit

import asyncssh
from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import ConditionalAutoSuggest
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import ANSI
from prompt_toolkit.output import ColorDepth
from prompt_toolkit.output.vt100 import Vt100_Output
from prompt_toolkit.shortcuts import CompleteStyle

from remoterepl.editor.completion import FrontEndCompleter, RemoteNames, WordBank
from remoterepl.editor.config import DEFAULT_PROMPT, FrontEndConfig
from remoterepl.editor.highlight import is_shell, lexer_name_for, make_lexer, make_style
from remoterepl.editor.history import HistorySuggest, default_state_dir, history_path, open_history
from remoterepl.editor.keys import make_key_bindings
from remoterepl.editor.recording import Recorder, RecordingStdout
from remoterepl.editor.remote_text import ALT_SCREEN_OFF, ALT_SCREEN_ON, OutputSplitter, prompt_text
from remoterepl.editor.sanitize import EscapeStripper
from remoterepl.editor.secret_prompts import SecretPrompts
from remoterepl.editor.toolbar import SessionStatus, Toolbar
from remoterepl.modes.control import SessionControl
from remoterepl.modes.escapes import Escape
from remoterepl.modes.passthrough import KeyForwarder, following_window_size
from remoterepl.modes.redirect import Outputs
from remoterepl.session.process import RemoteSession, describe_exit_signal
from remoterepl.settings import Settings

READ_SIZE = 256 * 1024
STDERR_TINT = "\x1b[31m"
NOTICE_TINT = "\x1b[2m"
RESET = "\x1b[0m"
EXIT_WAIT = 5.0  # seconds to wait for the exit status after the remote's output ended
MENU_ROWS = 8  # rows the completion menu may take below the input line
HEALTH_PROBE_EVERY = 15  # seconds between keepalive round trips while the toolbar shows
_BARE_NEWLINE = re.compile(r"(?<!\r)\n")
# OSC 7 (the shell's working directory) and OSC 133;D (a command's exit status).
_OSC_REPORT = re.compile(r"\x1b\](7|133);([^\x07\x1b]*)(?:\x07|\x1b\\)")


class _Output(Vt100_Output):
    """Vt100 output without cursor-position reports: remote output moves the cursor at any
    time, so a report can be stale on arrival and make the renderer scroll the screen for
    space it never uses. Declaring "one row below the cursor" instead lets the renderer
    draw the bottom toolbar (it waits for a known height) without ever asking."""

    _flush_held = False

    def get_rows_below_cursor_position(self) -> int:
        """At least the input line's own row (the renderer grows the layout as needed)."""
        return 1

    def flush(self) -> None:
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


def _create_output(stdout: TextIO | RecordingStdout) -> _Output:
    output = cast(_Output, _Output.from_pty(cast(TextIO, stdout), term=os.environ.get("TERM")))
    output.enable_cpr = False
    return output


def default_prompt(
    command: str | None,
    template: str = DEFAULT_PROMPT,
    *,
    host: str = "",
    user: str = "",
    destination: str = "",
) -> str:
    """Local prompt for remotes that show none (bc): by default the program name,
    e.g. ``bc> `` (``> `` for the login shell)."""
    try:
        words = shlex.split(command or "")
    except ValueError:
        words = (command or "").split()
    name = os.path.basename(words[0]) if words else ""
    return template.format(command=name, host=host, user=user, destination=destination)


class _PromptInterrupted(Exception):
    """Ends the current prompt: the remote is gone or a full-screen program took over."""


class _Stream:
    """One remote output stream: to a file as bytes, or to the screen as decoded lines."""

    def __init__(self, tint: str = "", sink: IO[bytes] | None = None) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.splitter = OutputSplitter()
        self.tint = tint
        self.sink = sink

    def decode(self, data: bytes, final: bool = False) -> str:
        return self.decoder.decode(data, final)

    def lines(self, text: str) -> str:
        lines = self.splitter.feed(text)
        return f"{self.tint}{lines}{RESET}" if lines and self.tint else lines

    def prompt(self) -> str:
        text = prompt_text(self.splitter.partial)
        return f"{self.tint}{text}{RESET}" if text and self.tint else text


def _identity(session: RemoteSession) -> tuple[str, str, int]:
    """``(user, host, port)`` of the destination as connected."""
    connection = session.connection
    user = str(connection.conn.get_extra_info("username") or "")
    return user, connection.host, connection.port


class FrontEnd:
    """Runs the line editor until the remote process ends."""

    def __init__(
        self, session: RemoteSession, settings: Settings, outputs: Outputs, config: FrontEndConfig
    ) -> None:
        self.session = session
        self.config = config
        command = settings.session.command
        user, host, port = _identity(session)
        destination = f"{user}@{host}" + (f":{port}" if port != 22 else "")
        self.output = _create_output(sys.stdout)
        self.recorder: Recorder | None = None
        if config.record:
            size = self.output.get_size()
            self.recorder = Recorder.create(
                config.record,
                size.columns,
                size.rows,
                f"remoterepl {destination} {command or ''}".strip(),
            )
            self.output = _create_output(RecordingStdout(sys.stdout, self.recorder))
        tint = f"\x1b[{config.stderr_color}m" if config.color else ""
        self.notice_tint = NOTICE_TINT if config.color else ""
        self.stdout = _Stream(tint if outputs.merged == "stdout-to-stderr" else "", outputs.stdout)
        self.stderr = _Stream("" if outputs.merged == "stderr-to-stdout" else tint, outputs.stderr)
        self.local_prompt = default_prompt(
            command, config.prompt, host=host, user=user, destination=destination
        )
        self.control = SessionControl(session, config.escape_char, self.notify)
        self.forwarder = KeyForwarder(session, self.control)
        self.secrets = SecretPrompts(config.secret_prompt)
        self.status = SessionStatus(
            destination,
            command or "login shell",
            session.pty is not None,
            session.connection.hop_labels,
        )
        self.toolbar = Toolbar(self.status, visible=config.toolbar)
        self.stripper = EscapeStripper() if config.strip_escapes else None
        self.input_closed = False
        self.remote_done = False
        self.fullscreen = False
        self.editing_externally = False  # $EDITOR owns the terminal: hold output
        self.remote_prompts = False  # the remote has shown a prompt of its own
        self._editor_back = asyncio.Event()  # set when the editor may prompt again
        self._editor_back.set()
        self._pending: list[str] = []
        self._streams_open = 2
        self._wake = asyncio.Event()
        self._size = (0, 0)
        self._history_error_shown = False

        ignore = re.compile(config.history_ignore) if config.history_ignore else None
        path = (
            history_path(default_state_dir(), user, host, port, command) if config.history else None
        )
        self._line_is_secret = False
        self.history, self.persistent_history = open_history(
            path,
            config.history_size,
            keep=lambda line: not self._line_is_secret and not (ignore and ignore.search(line)),
            index_line=f"{user}@{host}:{port}\t{command or '(login shell)'}",
        )

        self.words = WordBank() if config.completion else None
        self.remote_names = (
            RemoteNames(session.connection.conn)
            if config.completion and config.remote_completion and is_shell(command)
            else None
        )
        self.prompt = self._make_prompt_session(command)
        self.prompt.default_buffer.accept_handler = self._accept
        self.prompt.app.before_render += self._sync_window_size

    def _make_prompt_session(self, command: str | None) -> PromptSession[str]:
        config = self.config
        secret = Condition(self.secret_input)
        lexer = None
        if config.highlight:
            lexer = make_lexer(config.lexer or lexer_name_for(command))
        completer = None
        if self.words is not None:
            completer = FrontEndCompleter(
                self.words,
                self.history.get_strings,
                self.remote_names,
                lambda: not self.secret_input(),
            )
        return PromptSession[str](
            message=self._message,
            history=self.history,
            output=self.output,
            key_bindings=make_key_bindings(self, config.escape_char),
            vi_mode=config.edit_mode == "vi",
            is_password=secret,
            auto_suggest=(
                ConditionalAutoSuggest(HistorySuggest(), ~secret) if config.auto_suggest else None
            ),
            completer=completer,
            complete_while_typing=False,
            complete_style=CompleteStyle.COLUMN,
            reserve_space_for_menu=MENU_ROWS,
            lexer=lexer,
            style=make_style(config.style, color=config.color),
            include_default_pygments_style=False,
            color_depth=None if config.color else ColorDepth.DEPTH_1_BIT,
            bottom_toolbar=self.toolbar if self.toolbar.visible else None,
            search_ignore_case=True,
        )

    async def run(self) -> None:
        """Edit and send lines until the remote process has ended and all output is shown."""
        try:
            await self._run()
        finally:
            self._close()

    async def _run(self) -> None:
        process = self.session.process
        readers = [
            asyncio.create_task(self._read(process.stdout, self.stdout, watch=True)),
            asyncio.create_task(self._read(process.stderr, self.stderr, watch=False)),
        ]
        painter = asyncio.create_task(self._paint())
        clock = asyncio.create_task(self._tick())
        # Raw for the whole session, not only while a prompt runs: keys typed between
        # two prompts must neither be echoed by the tty nor turn into signals.
        with self.prompt.app.input.raw_mode(), following_window_size(self.session):
            try:
                await self._edit_until_remote_ends()
                await asyncio.gather(*readers)
                self._wake.set()
                await painter
                # OpenSSH may send the output's EOF before exit-status/exit-signal: wait
                # (briefly, still raw) for the channel to close so the end is reported.
                with contextlib.suppress(asyncio.TimeoutError, asyncssh.Error, OSError):
                    await asyncio.wait_for(asyncio.shield(self.session.wait()), EXIT_WAIT)
            finally:
                self.forwarder.stop()
                for task in (*readers, painter, clock):
                    task.cancel()
        self._show_leftovers()

    def _close(self) -> None:
        if self.persistent_history is not None:
            self.persistent_history.close()
        if self.remote_names is not None:
            with contextlib.suppress(Exception):
                self.remote_names.close()
        if self.recorder is not None:
            self.recorder.close()

    async def _edit_until_remote_ends(self) -> None:
        while not self.remote_done:
            if self.fullscreen:
                # Only now: the prompt's own input reader is gone (one reader per fd).
                self.forwarder.start()
                await self._editor_back.wait()
                continue
            try:
                line = await self.prompt.prompt_async(pre_run=self._before_prompt)
            except _PromptInterrupted:
                continue
            self._send_line(line)

    # -- keys (EditorActions) ---------------------------------------------------------

    def interrupt(self) -> None:
        """Ctrl-C."""
        self.session.interrupt()

    def quit_signal(self) -> None:
        """Ctrl-\\."""
        self.control.send_signal("QUIT")

    def end_input(self) -> None:
        """Ctrl-D on an empty line."""
        self.session.send_eof()
        if self.session.pty is None:
            self.input_closed = True

    def escape(self, escape: Escape) -> None:
        """An escape typed at the start of a line."""
        self.control.perform(escape)

    def toggle_toolbar(self) -> None:
        """F2."""
        self.toolbar.toggle()
        self.prompt.bottom_toolbar = self.toolbar if self.toolbar.visible else None
        if self.toolbar.visible:
            self._probe_health()
        self.prompt.app.invalidate()

    def edit_externally(self, buffer: Buffer) -> None:
        """Ctrl-X Ctrl-E: edit in $VISUAL/$EDITOR (remote output waits meanwhile)."""
        self.editing_externally = True

        def done(_task: object) -> None:
            self.editing_externally = False
            self._wake.set()

        buffer.open_in_editor(validate_and_handle=True).add_done_callback(done)

    def notify(self, text: str) -> None:
        """Show a note of ours (escape help, signal reports) above the prompt."""
        self._queue(f"{self.notice_tint}{text}{RESET}" if self.notice_tint else text)

    # -- input ------------------------------------------------------------------------

    def remote_prompt(self) -> str:
        """The remote's partial line as shown in the prompt (no colours)."""
        return prompt_text(self.stderr.splitter.partial) + prompt_text(self.stdout.splitter.partial)

    def secret_input(self) -> bool:
        """True while the remote prompt asks for a password: no echo, no history."""
        return self.secrets.asks_for_secret(self.remote_prompt())

    def _send_line(self, line: str) -> None:
        secret = self.secret_input()
        self.stdout.splitter.line_sent()
        self.stderr.splitter.line_sent()
        if self.remote_names is not None:
            self.remote_names.line_sent()
        if self.input_closed:
            self.notify("(remote input is closed; waiting for the remote process to end)\n")
            return
        self.status.busy_since = time.monotonic()
        eol = "\r" if self.session.pty else "\n"
        if self.recorder is not None and not secret:
            self.recorder.input(line.replace("\n", "\r") + "\r")
        self.session.send((line.replace("\n", eol) + eol).encode())

    def _accept(self, buffer: Buffer) -> bool:
        """Enter: print the prompt and line above the input line and send the line at
        once. The prompt stays up: no teardown and rebuild per line, which would sit
        between Enter and the remote's answer (returning False keeps prompt_toolkit
        editing, after it has stored the line in the history and cleared the buffer)."""
        self._line_is_secret = self.secret_input()  # read by the history's keep()
        echo = "" if self._line_is_secret else buffer.text
        self._queue(f"{self._prompt_string()}{echo}{RESET}\n")
        self._send_line(buffer.text)
        return False

    def _prompt_string(self) -> str:
        remote = self.stderr.prompt() + self.stdout.prompt()
        if remote:
            self.remote_prompts = True
            return remote
        return self.local_prompt

    def _message(self) -> ANSI:
        return ANSI(self._prompt_string())

    def _sync_window_size(self, _app: object) -> None:
        size = self.output.get_size()
        if (size.columns, size.rows) != self._size:
            if self._size != (0, 0):
                self.session.resize(size.columns, size.rows)
                if self.recorder is not None:
                    self.recorder.resize(size.columns, size.rows)
            self._size = (size.columns, size.rows)

    def _before_prompt(self) -> None:
        self.prompt.app.erase_when_done = False
        if self.remote_done or self.fullscreen:
            self._interrupt_prompt()
        history = self.persistent_history
        if history is not None and history.error and not self._history_error_shown:
            self._history_error_shown = True
            self.notify(f"[{history.error}]\n")

    def _interrupt_prompt(self) -> None:
        """Take the prompt off the screen and stop editing (remote gone, full screen)."""
        app = self.prompt.app
        if app.is_running and not app.is_done:
            app.erase_when_done = True
            app.exit(exception=_PromptInterrupted())

    # -- full-screen programs ---------------------------------------------------------

    def _enter_fullscreen(self) -> None:
        self.fullscreen = True
        self._editor_back.clear()
        self._interrupt_prompt()

    def _leave_fullscreen(self) -> None:
        self.fullscreen = False
        self.forwarder.stop()
        self._editor_back.set()

    # -- output -----------------------------------------------------------------------

    async def _read(
        self, reader: asyncssh.SSHReader[bytes], stream: _Stream, *, watch: bool
    ) -> None:
        """Pump one remote stream; ``watch`` it for full-screen switches (PTY output)."""
        try:
            while data := await reader.read(READ_SIZE):
                if stream.sink is not None:
                    stream.sink.write(data)
                else:
                    self._route(stream, stream.decode(data), watch)
        except (asyncssh.Error, OSError):
            pass  # connection lost: the exit status reports it
        self._streams_open -= 1
        if stream.sink is None:
            self._route(stream, stream.decode(b"", final=True), watch)
        self._wake.set()

    def _route(self, stream: _Stream, text: str, watch: bool) -> None:
        """Line-split text for the editor, or pass it raw while a full-screen program runs."""
        if "\x1b]" in text:
            self._note_reports(text)
        if self.stripper is not None:
            text = self.stripper.feed(text)
        if self.words is not None and text:
            self.words.feed(text)
        while text:
            if self.fullscreen:
                switch = ALT_SCREEN_OFF.search(text)
                cut = switch.end() if switch else len(text)
                self._queue(text[:cut])
                if switch:
                    self._leave_fullscreen()
            else:
                switch = ALT_SCREEN_ON.search(text) if watch else None
                cut = switch.start() if switch else len(text)
                lines = stream.lines(text[:cut])
                if self.status.busy_since is not None and (
                    stream.splitter.partial or (lines and not self.remote_prompts)
                ):
                    self.status.busy_since = None  # a prompt again (or output, for bc)
                if lines:
                    self._queue(lines)
                else:
                    self.prompt.app.invalidate()  # the partial line (prompt) changed
                if switch:
                    self._enter_fullscreen()
            text = text[cut:]

    def _note_reports(self, text: str) -> None:
        """Learn from shell-integration marks: OSC 7 (cwd), OSC 133;D (exit status)."""
        for kind, value in _OSC_REPORT.findall(text):
            if kind == "7" and self.remote_names is not None:
                path = unquote(urlsplit(value).path)
                self.remote_names.reported_cwd = path or None
            elif kind == "133" and value.startswith("D;"):
                with contextlib.suppress(ValueError):
                    self.status.last_exit = int(value[2:].split(";")[0])

    def _queue(self, text: str) -> None:
        if text:
            self._pending.append(text)
        self._wake.set()

    async def _paint(self) -> None:
        """Print queued output above the prompt; batches whatever arrived meanwhile."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._pending and not self.editing_externally:
                text, self._pending = "".join(self._pending), []
                self._print_above(text)
            if not self._streams_open and not self.editing_externally:
                self.remote_done = True
                self._editor_back.set()
                self._interrupt_prompt()
                return

    def _print_above(self, text: str) -> None:
        """Erase the prompt, print, and let the prompt redraw below. Unlike
        run_in_terminal this keeps the terminal raw, so a Ctrl-C typed meanwhile
        stays a key for us instead of becoming a SIGINT that kills the client."""
        app = self.prompt.app
        with self.output.one_write():
            if app.is_running and not app.is_done:
                app.renderer.erase(leave_alternate_screen=False)
            self.output.write_raw(with_carriage_returns(text))
        app.invalidate()

    async def _tick(self) -> None:
        """Once a second: the toolbar's "running 12s", its health probe, the recording."""
        seconds = 0
        while True:
            await asyncio.sleep(1)
            seconds += 1
            if self.recorder is not None:
                self.recorder.flush()
            if self.toolbar.visible:
                if seconds % HEALTH_PROBE_EVERY == 0:
                    self._probe_health()
                if self.status.busy_since is not None:
                    self.prompt.app.invalidate()

    def _probe_health(self) -> None:
        task = asyncio.get_running_loop().create_task(self._measure_round_trip())
        task.add_done_callback(lambda _t: self.prompt.app.invalidate())

    async def _measure_round_trip(self) -> None:
        """One keepalive request (what ServerAliveInterval sends) timed: the link's RTT."""
        conn = self.session.connection.conn
        if conn.is_closed():
            self.status.health = "closed"
            return
        request = getattr(conn, "_make_global_request", None)
        if request is None:
            return
        start = time.monotonic()
        try:
            await asyncio.wait_for(request(b"keepalive@openssh.com"), HEALTH_PROBE_EVERY)
        except asyncio.TimeoutError:
            self.status.health = f"no answer for {HEALTH_PROBE_EVERY}s"
            return
        except (asyncssh.Error, OSError):
            self.status.health = "closed"
            return
        self.status.health = "connected"
        self.status.rtt = time.monotonic() - start

    def _show_leftovers(self) -> None:
        tail = "".join(s.splitter.take_partial() for s in (self.stderr, self.stdout))
        note = describe_exit_signal(self.session.process)
        text = (tail + "\n" if prompt_text(tail) else "") + (f"[{note}]\n" if note else "")
        if text:
            with self.output.one_write():
                self.output.write_raw(with_carriage_returns(text))


async def run_repl(
    session: RemoteSession,
    settings: Settings,
    outputs: Outputs,
    config: FrontEndConfig | None = None,
) -> None:
    """Drive ``session`` interactively from the local terminal."""
    if config is None:
        config = FrontEndConfig(
            escape_char=settings.session.escape_char, color=not os.environ.get("NO_COLOR")
        )
    await FrontEnd(session, settings, outputs, config).run()
