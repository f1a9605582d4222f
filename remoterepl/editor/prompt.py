"""The input line: a prompt_toolkit PromptSession whose prompt is the remote's own partial
line (or a local one), and what Enter does with the line.

The prompt stays up for the whole session: Enter prints the prompt and the line above it
and sends the line at once, with no teardown and rebuild per line between Enter and the
remote's answer. A line typed at a secret prompt is hidden, and kept out of the history
and the recording.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.application import Application
from prompt_toolkit.auto_suggest import ConditionalAutoSuggest
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import ANSI
from prompt_toolkit.input import create_input
from prompt_toolkit.key_binding import merge_key_bindings
from prompt_toolkit.output import ColorDepth
from prompt_toolkit.shortcuts import CompleteStyle

from remoterepl.command import program_of
from remoterepl.editor.answers import TerminalAnswers, answer_bindings
from remoterepl.editor.completion import FrontEndCompleter, WordBank
from remoterepl.editor.config import DEFAULT_PROMPT, FrontEndConfig
from remoterepl.editor.highlight import lexer_name_for, make_lexer, make_style
from remoterepl.editor.history import (
    HistorySuggest,
    default_state_dir,
    history_filter,
    history_path,
    legacy_history_path,
    open_history,
)
from remoterepl.editor.indent import indents_python, python_indent, with_indent_keys
from remoterepl.editor.keys import (
    EditorActions,
    SecretSafeClipboard,
    make_key_bindings,
    tune_key_timeouts,
)
from remoterepl.editor.painter import RESET, Painter
from remoterepl.editor.recording import Recorder
from remoterepl.editor.remote_text import prompt_text
from remoterepl.editor.sanitize import caret_notation
from remoterepl.editor.secret_prompts import SecretPrompts
from remoterepl.editor.streams import OutputRouter, RemoteStream
from remoterepl.editor.terminal import TerminalOutput
from remoterepl.editor.toolbar import SessionStatus, Toolbar
from remoterepl.session.lookups import RemoteNames
from remoterepl.session.process import Destination, RemoteSession

MENU_ROWS = 8  # rows the completion menu may take below the input line


class PromptInterrupted(Exception):
    """Ends the current prompt: the remote is gone or a full-screen program took over."""


def default_prompt(
    command: str | None, template: str = DEFAULT_PROMPT, destination: Destination | None = None
) -> str:
    """Local prompt for remotes that show none (bc): by default the program name,
    e.g. ``bc> `` (``> `` for the login shell)."""
    where = destination or Destination("", "", 22)
    return template.format(
        command=program_of(command),
        host=where.host,
        user=where.user,
        destination=str(where) if destination else "",
    )


class LineInput:
    """The PromptSession, its history, and the accept logic."""

    def __init__(
        self,
        session: RemoteSession,
        command: str | None,
        config: FrontEndConfig,
        *,
        stdin: TextIO,
        output: TerminalOutput,
        painter: Painter,
        streams: tuple[RemoteStream, RemoteStream],  # stdout, stderr
        router: OutputRouter,
        status: SessionStatus,
        toolbar: Toolbar,
        actions: EditorActions,
        answers: TerminalAnswers,
        words: WordBank | None,
        remote_names: RemoteNames | None,
        recorder: Recorder | None,
    ) -> None:
        self.session = session
        self.painter = painter
        self.stdout, self.stderr = streams
        self.router = router
        self.status = status
        self.toolbar = toolbar
        self.remote_names = remote_names
        self.recorder = recorder
        self.output = output
        self.secrets = SecretPrompts(config.secret_prompt)
        self._input_closed = False  # Ctrl-D without a PTY: lines can no longer be sent
        self._line_is_secret = False  # the line being accepted (read by the history)
        self._history_error_shown = False
        self._size = (0, 0)
        where = session.destination
        self.local_prompt = default_prompt(command, config.prompt, where)
        state = default_state_dir() if config.history else None
        self.history, self.persistent_history = open_history(
            history_path(state, where.user, where.host, where.port, command) if state else None,
            config.history_size,
            keep=history_filter(
                config.history_ignore,
                config.history_ignore_space and not indents_python(command),  # indentation
                lambda: self._line_is_secret,
            ),
            index_line=f"{where.user}@{where.host}:{where.port}\t{command or '(login shell)'}",
            legacy_path=(
                legacy_history_path(state, where.user, where.host, where.port, command)
                if state
                else None
            ),
        )
        self.indent = python_indent(
            command,
            self.remote_prompt,
            lambda: status.busy_since is not None,
            config.escape_char,
            lambda: router.mode.python_in_front,
        )
        self.prompt = self._make_prompt_session(command, config, actions, answers, words, stdin)
        self.prompt.default_buffer.accept_handler = self._accept
        if self.indent is not None:
            self.indent.attach(self.prompt.app, self.prompt.default_buffer)
        self.prompt.app.before_render += self._sync_window_size
        toolbar.secret = self.secret_input
        tune_key_timeouts(self.prompt.app)

    def _make_prompt_session(
        self,
        command: str | None,
        config: FrontEndConfig,
        actions: EditorActions,
        answers: TerminalAnswers,
        words: WordBank | None,
        stdin: TextIO,
    ) -> PromptSession[str]:
        secret = Condition(self.secret_input)
        lexer = make_lexer(config.lexer or lexer_name_for(command)) if config.highlight else None
        completer = None
        if words is not None:
            completer = FrontEndCompleter(
                words, self.history.get_strings, self.remote_names, lambda: not self.secret_input()
            )
        return PromptSession[str](
            message=self._message,
            history=self.history,
            input=create_input(stdin),
            output=self.output,
            key_bindings=with_indent_keys(
                self.indent,
                merge_key_bindings(
                    [
                        make_key_bindings(
                            actions, config.escape_char, keep_line=self.keep_interrupted_line
                        ),
                        answer_bindings(answers),
                    ]
                ),
            ),
            vi_mode=config.edit_mode == "vi",
            is_password=secret,
            clipboard=SecretSafeClipboard(self.secret_input),
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

    # -- the prompt --------------------------------------------------------------------

    def remote_prompt(self) -> str:
        """The remote's partial line as shown in the prompt (no colours)."""
        return prompt_text(self.stderr.splitter.partial) + prompt_text(self.stdout.splitter.partial)

    def secret_input(self) -> bool:
        """True while the remote reads a secret (its tty's echo is off for a line, or its
        prompt asks for a password): no echo, no history."""
        return self.router.mode.secret or self.secrets.asks_for_secret(self.remote_prompt())

    def _prompt_string(self) -> str:
        remote = self.stderr.prompt() + self.stdout.prompt()
        if remote:
            self.router.prompt_seen()
            return remote
        if self.status.busy_since is not None:
            return ""  # a command runs: no prompt until the remote shows one (or answers)
        if self.router.remote_prompts:
            return ""  # it prompts itself: what reads now (bc under the shell) shows none
        return self.local_prompt

    def _message(self) -> ANSI:
        return ANSI(self._prompt_string())

    @property
    def app(self) -> Application[str]:
        """The prompt's application (its input, rendering, invalidation)."""
        return self.prompt.app

    def close_input(self) -> None:
        """The remote's input has ended (Ctrl-D without a PTY): lines are no longer sent."""
        self._input_closed = True

    def show_toolbar(self, visible: bool) -> None:
        """Show or hide the bottom toolbar."""
        self.prompt.bottom_toolbar = self.toolbar if visible else None
        self.prompt.app.invalidate()

    # -- a line --------------------------------------------------------------------------

    def _accept(self, buffer: Buffer) -> bool:
        """Enter: send the line at once (returning False keeps prompt_toolkit editing,
        after it has stored the line in the history and cleared the buffer). On a PTY the
        remote's echo shows the line after its own prompt, where and when the remote reads
        it (type-ahead and pastes included); without one the editor prints it here."""
        self._line_is_secret = self.secret_input()  # read by the history's keep()
        shown = ""
        if not self.session.has_pty:
            echo = "" if self._line_is_secret else caret_notation(buffer.text)
            shown = f"{self._prompt_string()}{echo}{RESET}\n"
            self.stdout.splitter.line_sent()
            self.stderr.splitter.line_sent()
        elif not self.remote_prompt():
            # Our local prompt (bc has none) goes up with the remote's echo of the line.
            self.router.before_next_line(self._prompt_string())
        self._send_line(buffer.text)  # first: painting before it would delay it
        if shown:
            self.painter.queue(shown)
        return False

    def keep_interrupted_line(self, text: str) -> None:
        """Ctrl-C on a half-typed line: it stays on the screen, as in a terminal. After a
        remote prompt it continues that line, which the remote's answer to the interrupt
        ends (bash: ``prompt text^C``); otherwise it is printed above. A secret is not."""
        if self.secret_input():
            return
        stream = self.stdout if self.stdout.prompt() else self.stderr
        *above, last = text.split("\n")
        if not stream.prompt():
            self.painter.queue(f"{self._prompt_string()}{text}{RESET}\n")
        elif above:  # several lines (Meta-Enter): the last one waits for the answer
            head = "\n".join(above)
            self.painter.queue(f"{self._prompt_string()}{head}{RESET}\n")
            stream.splitter.partial = last
        else:
            stream.splitter.partial += text

    def _send_line(self, line: str) -> None:
        secret = self.secret_input()
        if self.remote_names is not None:
            self.remote_names.line_sent()
        if self._input_closed:
            self.painter.notify("(remote input is closed; waiting for the remote process to end)\n")
            return
        if self.session.has_pty and self.status.busy_since is not None:
            self.router.typed_ahead(line)
        if self.session.has_pty:
            self.router.line_sent(line)
        self.status.busy_since = time.monotonic()
        eol = "\r" if self.session.has_pty else "\n"
        if self.recorder is not None and not secret:
            self.recorder.input(line.replace("\n", "\r") + "\r")
        # A line can race the end of the session (~. then Enter): then it goes nowhere,
        # and the end is reported as it comes.
        self.session.try_send((line.replace("\n", eol) + eol).encode(), secret=secret)

    def take_typed(self) -> str:
        """What was typed but not sent when the editor stepped aside (it goes to the program
        as keys); the buffer is emptied."""
        buffer = self.prompt.default_buffer
        typed = buffer.text
        if typed:
            buffer.reset()
        return typed

    # -- running -----------------------------------------------------------------------

    async def edit(self, stop: Callable[[], bool]) -> None:
        """Edit and send lines until :meth:`stop_editing`, at once if ``stop()`` is
        already true when the prompt starts."""
        with contextlib.suppress(PromptInterrupted):
            await self.prompt.prompt_async(pre_run=lambda: self._before_prompt(stop))

    def _before_prompt(self, stop: Callable[[], bool]) -> None:
        self.prompt.app.erase_when_done = False
        if stop():
            self.stop_editing()
        history = self.persistent_history
        if history is not None and history.error and not self._history_error_shown:
            self._history_error_shown = True
            self.painter.notify(f"[{history.error}]\n")

    def stop_editing(self) -> None:
        """Take the prompt off the screen and stop editing (remote gone, full screen)."""
        app = self.prompt.app
        if app.is_running and not app.is_done:
            app.erase_when_done = True
            app.exit(exception=PromptInterrupted())

    def _sync_window_size(self, _app: object) -> None:
        size = self.output.get_size()
        if (size.columns, size.rows) != self._size:
            if self._size != (0, 0):
                self.session.resize(size.columns, size.rows)
                if self.recorder is not None:
                    self.recorder.resize(size.columns, size.rows)
            self._size = (size.columns, size.rows)

    def close(self) -> None:
        """Wait for pending history writes."""
        if self.persistent_history is not None:
            self.persistent_history.close()
