"""Interactive front end: a prompt_toolkit line editor over one remote process.

Remote output is printed above the input line as it arrives; the remote's partial last
line (its prompt, or output without a newline) becomes the local prompt, so it is visible
at once and never printed twice. Whenever the remote program reads keys rather than a line
(vi, top, less, ``read -n1``: see input_mode.py), the editor steps aside and keys pass
straight through until a line is read again.

:class:`FrontEnd` wires the parts and carries out what the keys ask for; each part has a
module of its own: the terminal output device (terminal.py), output routing (streams.py),
painting above the prompt (painter.py), the input line and Enter (prompt.py), the clock
and link health (health.py), the toolbar, keys, history, completion, highlighting, secret
prompts, the recording and the config.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

from prompt_toolkit.buffer import Buffer

from remoterepl.command import is_shell
from remoterepl.editor.answers import TerminalAnswers
from remoterepl.editor.completion import WordBank
from remoterepl.editor.config import FrontEndConfig
from remoterepl.editor.health import HealthClock
from remoterepl.editor.input_mode import InputMode
from remoterepl.editor.painter import Painter
from remoterepl.editor.prompt import LineInput
from remoterepl.editor.recording import Recorder, RecordingStdout
from remoterepl.editor.remote_text import prompt_text
from remoterepl.editor.streams import OutputRouter, RemoteStream, pump
from remoterepl.editor.terminal import (
    TerminalOutput,
    create_output,
    suspend_beside,
    text_stream,
)
from remoterepl.editor.toolbar import SessionStatus, Toolbar
from remoterepl.environment import Environment
from remoterepl.modes.control import SessionControl
from remoterepl.modes.escapes import Escape, printable
from remoterepl.modes.passthrough import KeyForwarder, following_window_size
from remoterepl.modes.redirect import Outputs
from remoterepl.outcome import RemoteExited, RemoteKilled
from remoterepl.session.process import RemoteSession
from remoterepl.settings import Settings
from remoterepl.stopsignals import ignore_keyboard_signals

EXIT_WAIT = 5.0  # seconds to wait for the exit status after the remote's output ended
STARTUP_QUIET = 1.0  # seconds without output before a silent program gets its local prompt
_STEPPING_ASIDE = "stepping aside"  # the painter's hold while the prompt leaves the screen


class FrontEnd:
    """Runs the line editor until the remote process ends."""

    def __init__(
        self,
        session: RemoteSession,
        settings: Settings,
        env: Environment,
        outputs: Outputs,
        config: FrontEndConfig,
    ) -> None:
        self.session = session
        command = settings.session.command
        where = session.destination
        title = f"remoterepl {where} {command or ''}".strip()
        self.recorder, self.output = self._open_terminal(config, env, title)
        self.painter = Painter(self.output, color=config.color)
        tint = f"\x1b[{config.stderr_color}m" if config.color else ""
        strip = config.strip_escapes
        self.stdout = RemoteStream(
            tint if outputs.merged == "stdout-to-stderr" else "",
            outputs.stdout,
            strip_escapes=strip,
        )
        self.stderr = RemoteStream(
            "" if outputs.merged == "stderr-to-stdout" else tint,
            outputs.stderr,
            strip_escapes=strip,
        )
        self.status = SessionStatus(
            str(where), command or "login shell", session.has_pty, list(where.jumps)
        )
        if session.has_pty:
            # Starting up: no prompt until the remote shows one (or its line editor reads,
            # or it prints, or STARTUP_QUIET passes), and a line typed meanwhile is
            # type-ahead, shown by the remote's echo after its first prompt.
            self.status.busy_since = time.monotonic()
            self.status.remote_spoke = False
        self.toolbar = Toolbar(self.status, visible=config.toolbar)
        words = WordBank() if config.completion else None
        remote = config.completion and config.remote_completion and is_shell(command)
        self.remote_names = session.open_remote_names() if remote else None
        self.tty_watch = session.open_tty_watch()
        self.router = OutputRouter(
            self.painter,
            self,
            self.status,
            mode=InputMode(shell=is_shell(command)),
            words=words,
            remote_names=self.remote_names,
        )
        self.answers = TerminalAnswers(self._answer_remote)
        self.control = SessionControl(
            session, config.escape_char, self.painter.notify, self._suspend_client
        )
        self.forwarder = KeyForwarder(session, self.control, env.stdin)
        self.line = LineInput(
            session,
            command,
            config,
            stdin=text_stream(env.stdin, "r", sys.stdin),
            output=self.output,
            painter=self.painter,
            streams=(self.stdout, self.stderr),
            router=self.router,
            status=self.status,
            toolbar=self.toolbar,
            actions=self,
            answers=self.answers,
            words=words,
            remote_names=self.remote_names,
            recorder=self.recorder,
        )
        self.painter.attach(self.line.app)
        self.clock = HealthClock(
            session, self.status, self.toolbar, self.recorder, self.line.app.invalidate
        )
        self.env = env
        self.remote_done = False
        self._editor_back = asyncio.Event()  # set when the editor may prompt again
        self._editor_back.set()

    @staticmethod
    def _open_terminal(
        config: FrontEndConfig, env: Environment, title: str
    ) -> tuple[Recorder | None, TerminalOutput]:
        """The terminal output device on env's stdout, recording what it shows if --record
        asks."""
        stdout = text_stream(env.stdout, "w", sys.stdout)
        if not config.record:
            return None, create_output(stdout, env.term)
        columns, rows = env.window_size()
        recorder = Recorder.create(config.record, columns, rows, title)
        return recorder, create_output(RecordingStdout(stdout, recorder), env.term)

    # -- running -----------------------------------------------------------------------

    async def run(self) -> None:
        """Edit and send lines until the remote process has ended and all output is shown."""
        try:
            await self._run()
        finally:
            self.line.close()
            if self.remote_names is not None:
                with contextlib.suppress(Exception):
                    self.remote_names.close()
            if self.recorder is not None:
                self.recorder.close()

    async def _run(self) -> None:
        readers = [
            asyncio.create_task(pump(self.session.stdout, self.stdout, self.router, watch=True)),
            asyncio.create_task(pump(self.session.stderr, self.stderr, self.router, watch=False)),
        ]
        painter = asyncio.create_task(self._paint_until_remote_ends())
        clock = asyncio.create_task(self.clock.run())
        quiet = asyncio.create_task(self._local_prompt_if_quiet())
        tasks = [*readers, painter, clock, quiet]
        if self.tty_watch is not None:
            tasks.append(asyncio.create_task(self.tty_watch.run(self.router.tty_changed)))
        # Raw for the whole session, not only while a prompt runs: keys typed between
        # two prompts must neither be echoed by the tty nor turn into signals.
        with self.line.app.input.raw_mode(), following_window_size(self.session, self.env.stdout):
            try:
                await self._edit_until_remote_ends()
                await asyncio.gather(*readers)
                await painter
                # OpenSSH may send the output's EOF before exit-status/exit-signal: wait
                # (briefly, still raw) for the channel to close so the end is reported.
                with contextlib.suppress(asyncio.TimeoutError, OSError):
                    await asyncio.wait_for(asyncio.shield(self.session.wait()), EXIT_WAIT)
            finally:
                self.forwarder.stop()
                for task in tasks:
                    task.cancel()
                if self.session.left:
                    # Nothing is left to interrupt or stop, and nothing can hang (it would
                    # die with 130 instead of reporting ~.'s 255).
                    ignore_keyboard_signals()
        self._show_leftovers()

    async def _edit_until_remote_ends(self) -> None:
        def stop() -> bool:
            return self.remote_done or self.router.keys_to_program

        while not self.remote_done:
            if self.router.keys_to_program:
                # Only now: the prompt's own input reader is gone (one reader per fd).
                self.forwarder.start()
                typed = self.line.take_typed()  # typed ahead of the switch: keys too
                if typed:
                    self.session.try_send(typed.encode())
                self.painter.release(_STEPPING_ASIDE)
                await self._editor_back.wait()
                continue
            await self.line.edit(stop)

    async def _local_prompt_if_quiet(self) -> None:
        """A program that prints nothing at first (cat) gets its local prompt after a
        moment; one with a prompt of its own has shown it by then."""
        start = self.status.busy_since
        await asyncio.sleep(STARTUP_QUIET)
        if start is not None and self.status.busy_since == start:
            self.status.busy_since = None
            self.line.app.invalidate()

    async def _paint_until_remote_ends(self) -> None:
        await self.painter.run()
        self.remote_done = True
        self._editor_back.set()
        self.line.stop_editing()

    def _show_leftovers(self) -> None:
        tail = "".join(s.splitter.take_partial() for s in (self.stderr, self.stdout))
        end = self.session.end
        note = end.describe() if isinstance(end, RemoteKilled) else None
        text = (tail + "\n" if prompt_text(tail) else "") + (f"[{note}]\n" if note else "")
        if text:
            self.painter.write_now(text)

    # -- what the output says (ScreenEvents) ---------------------------------------------

    def prompt_changed(self) -> None:
        """The remote's partial line changed: redraw the prompt."""
        self.line.app.invalidate()

    def keys_to_program(self) -> None:
        """The remote program reads keys: the editor steps aside. Its output waits until
        the prompt is off the screen (else the prompt's erasure would wipe what it drew)."""
        self._editor_back.clear()
        if self.line.app.is_running:
            self.painter.hold(_STEPPING_ASIDE)
        self.line.stop_editing()

    def query_sent(self) -> None:
        """The terminal will answer a remote query on the editor's input."""
        self.answers.query_sent()

    def _answer_remote(self, answer: str) -> None:
        """The terminal's answer goes to the program that asked, if it still runs: once a
        line editor is back at its prompt the asker is gone, and the answer would only
        corrupt the next line (as with ssh -t, where readline takes it for typed keys)."""
        if not self.router.mode.reading_line:
            self.session.try_send(answer.encode())

    def keys_to_editor(self) -> None:
        """It reads a line again: the editor returns."""
        self.forwarder.stop()
        self.painter.release(_STEPPING_ASIDE)
        self._editor_back.set()

    # -- keys (EditorActions) ------------------------------------------------------------

    def interrupt(self) -> None:
        """Ctrl-C."""
        self.control.interrupt()

    def _suspend_client(self) -> None:
        """``~^Z``: stop until ``fg``, the input line off the screen meanwhile."""
        suspend_beside(self.line.app, self.env.stdin)

    def suspend_job(self) -> None:
        """Ctrl-Z: stop the remote foreground job."""
        if not self.session.suspend_job():
            char = self.control.escape_char
            hint = f"; {printable(char)}^Z suspends remoterepl" if char else ""
            self.painter.notify(
                f"[Ctrl-Z: no remote terminal (-T), no job control: nothing stopped{hint}]\n"
            )

    def quit_signal(self) -> None:
        """Ctrl-\\."""
        self.control.send_signal("QUIT")

    def end_input(self) -> None:
        """Ctrl-D on an empty line."""
        self.session.send_eof()
        if not self.session.has_pty:
            self.line.close_input()

    def escape(self, escape: Escape) -> None:
        """An escape typed at the start of a line."""
        self.control.perform(escape)

    def toggle_toolbar(self) -> None:
        """F2."""
        self.toolbar.toggle()
        if self.toolbar.visible:
            self.clock.probe()
        self.line.show_toolbar(self.toolbar.visible)

    def edit_externally(self, buffer: Buffer) -> None:
        """Ctrl-X Ctrl-E: edit in $VISUAL/$EDITOR (remote output waits meanwhile)."""
        self.painter.hold("$EDITOR")
        buffer.open_in_editor(validate_and_handle=True).add_done_callback(
            lambda _task: self.painter.release("$EDITOR")
        )


async def run_editor(
    session: RemoteSession,
    settings: Settings,
    env: Environment,
    outputs: Outputs,
    config: FrontEndConfig,
) -> RemoteExited | RemoteKilled:
    """Drive ``session`` interactively from the local terminal; return how it ended."""
    await FrontEnd(session, settings, env, outputs, config).run()
    await session.wait()
    return session.outcome()
