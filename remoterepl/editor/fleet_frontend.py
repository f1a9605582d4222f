"""Interactive front end for many hosts: one line editor, each accepted line sent to every
live host, their output labelled (or gathered) above the prompt.

Ctrl-C interrupts the work on every host, Ctrl-D ends every host's input, the escapes act
on all of them; ``~h`` lists the hosts and their state, and the next line may drop one
(``-NAME``) or add one again (``+NAME``: a fresh session). The toolbar counts the hosts
live, done and failed. Each host's process has a terminal with its echo off (so Ctrl-C is
its ``^C``), and the editor shows each line it sends above the answers, once. A prompt every
live host shows alike (``>>> ``, ``Password:``) is the editor's prompt; a secret typed at a
password prompt is neither shown nor kept in the history.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TextIO, cast

from prompt_toolkit import PromptSession
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import ANSI, StyleAndTextTuples
from prompt_toolkit.input import create_input
from prompt_toolkit.key_binding import merge_key_bindings

from remoterepl.display import shown
from remoterepl.editor.config import FrontEndConfig
from remoterepl.editor.highlight import lexer_name_for, make_lexer, make_style
from remoterepl.editor.history import default_state_dir, history_filter, history_path, open_history
from remoterepl.editor.keys import SecretSafeClipboard, make_key_bindings, tune_key_timeouts
from remoterepl.editor.painter import RESET, Painter
from remoterepl.editor.prompt import PromptInterrupted, default_prompt
from remoterepl.editor.sanitize import caret_notation
from remoterepl.editor.secret_prompts import SecretPrompts
from remoterepl.editor.terminal import create_output, suspend_beside, text_stream
from remoterepl.environment import Console, Environment
from remoterepl.modes.control import Controlled, SessionControl
from remoterepl.modes.escapes import FLEET_ESCAPES, Action, Escape, printable
from remoterepl.modes.passthrough import Resizable
from remoterepl.outcome import FleetEnded
from remoterepl.settings import Settings
from remoterepl.stopsignals import ignore_keyboard_signals

HOSTS_PROMPT = "hosts (-NAME drops, +NAME adds again, Enter: back)> "


class FleetControl(Controlled, Resizable, Protocol):
    """What the editor does to the fleet (:class:`remoterepl.fanout.fleet.Fleet`)."""

    watchers: list[Callable[[], None]]

    def start(self) -> None:
        """Begin connecting."""

    async def wait(self) -> None:
        """Until every host has ended."""

    def summary(self) -> Mapping[str, int]:
        """How many hosts are in each state, by the state's name."""

    def listing(self) -> list[tuple[str, str]]:
        """Every host's name and state, in words."""

    def live_labels(self) -> list[str]:
        """The live hosts."""

    def line_sent(self, live: Sequence[str]) -> None:
        """Tell the output an answer begins (--gather groups per line)."""

    def prompt(self) -> str | None:
        """The prompt all live hosts agree on."""

    def send_line(self, line: str, *, secret: bool = False) -> None:
        """A line for every live host."""

    def send_eof(self) -> None:
        """End every host's input."""

    def drop(self, label: str) -> bool:
        """Stop one host."""

    def add_again(self, label: str) -> bool:
        """Connect one host again."""

    @property
    def left(self) -> bool:
        """The user left (``~.``)."""

    def close_output(self) -> None:
        """Every host has ended: show what the output holds."""

    def result(self) -> FleetEnded:
        """Each host's end."""

    async def close(self) -> None:
        """Close everything."""


class Sink(Protocol):
    """Where the fleet's output is shown (here: above the prompt)."""

    def write(self, data: bytes, *, stderr: bool) -> None:
        """Show whole lines."""


class FleetFactory(Protocol):
    """Makes the fleet once the editor knows where its output goes."""

    def __call__(self, sink: Sink, *, colour: bool, console: Console) -> FleetControl:
        """The fleet, its output to ``sink``, its hosts' notes to ``console``."""


class _PainterSink:
    """Fleet output to the painter: text, remote stderr tinted as for one host."""

    def __init__(self, painter: Painter, tint: str) -> None:
        self.painter = painter
        self.tint = tint

    def write(self, data: bytes, *, stderr: bool) -> None:
        text = data.decode("utf-8", errors="replace")
        self.painter.queue(f"{self.tint}{text}{RESET}" if stderr and self.tint else text)


class _NoteStream:
    """A console's stream that paints above the prompt."""

    def __init__(self, painter: Painter) -> None:
        self.painter = painter

    def write(self, text: str) -> int:
        self.painter.notify(text)
        return len(text)

    def flush(self) -> None:
        """Nothing waits: the painter paints soon."""


class FleetFrontEnd:
    """The editor over a fleet, until every host has ended (or the user left)."""

    def __init__(
        self,
        make_fleet: FleetFactory,
        settings: Settings,
        env: Environment,
        config: FrontEndConfig,
    ) -> None:
        self.env = env
        self.config = config
        command = settings.session.command
        self.output = create_output(text_stream(env.stdout, "w", sys.stdout), env.term)
        self.painter = Painter(self.output, color=config.color)
        tint = f"\x1b[{config.stderr_color}m" if config.color else ""
        # the hosts' failures and warnings go above the prompt too, not across it
        notes = Console(cast(TextIO, _NoteStream(self.painter)), quiet=env.console.quiet)
        self.fleet = make_fleet(
            _PainterSink(self.painter, tint), colour=config.color, console=notes
        )
        self.control = SessionControl(
            self.fleet, config.escape_char, self.painter.notify, self._suspend, FLEET_ESCAPES
        )
        self.local_prompt = default_prompt(command, config.prompt)
        self.command = command or "login shell"
        self.choosing_hosts = False  # after ~h: the next line names a host to drop or add
        self.secrets = SecretPrompts(config.secret_prompt)
        self._line_is_secret = False
        self.input_closed = False
        self.toolbar_visible = True  # the counts are the fleet's state at a glance
        self._size = (0, 0)  # the window's, as the hosts know it
        state = default_state_dir() if config.history else None
        self.history, self.persistent_history = open_history(
            history_path(state, "", "many-hosts", None, command) if state else None,
            config.history_size,
            keep=history_filter(
                config.history_ignore, config.history_ignore_space, lambda: self._line_is_secret
            ),
            index_line=f"(many hosts)\t{command or '(login shell)'}",
        )
        self.prompt = self._make_prompt(config, command)
        self.painter.attach(self.prompt.app)
        self.fleet.watchers.append(self.prompt.app.invalidate)

    def _make_prompt(self, config: FrontEndConfig, command: str | None) -> PromptSession[str]:
        lexer = make_lexer(config.lexer or lexer_name_for(command)) if config.highlight else None
        prompt = PromptSession[str](
            message=lambda: ANSI(self._prompt_text()),
            history=self.history,
            input=create_input(text_stream(self.env.stdin, "r", sys.stdin)),
            output=self.output,
            key_bindings=merge_key_bindings(
                [make_key_bindings(self, config.escape_char, extra_escapes=FLEET_ESCAPES)]
            ),
            vi_mode=config.edit_mode == "vi",
            is_password=Condition(self.secret_input),
            clipboard=SecretSafeClipboard(self.secret_input),
            lexer=lexer,
            style=make_style(config.style, color=config.color),
            include_default_pygments_style=False,
            bottom_toolbar=self._toolbar,
            search_ignore_case=True,
        )
        prompt.default_buffer.accept_handler = self._accept
        # prompt_toolkit owns SIGWINCH; a redraw after it is when the hosts hear of it
        prompt.app.before_render += self._follow_window_size
        tune_key_timeouts(prompt.app)
        return prompt

    def _follow_window_size(self, _app: object) -> None:
        size = self.output.get_size()
        if (size.columns, size.rows) != self._size:
            if self._size != (0, 0):
                self.fleet.resize(size.columns, size.rows)
            self._size = (size.columns, size.rows)

    def secret_input(self) -> bool:
        """The hosts' common prompt asks for a secret (``Password:``): no echo, no history."""
        prompt = self.fleet.prompt()
        return (
            not self.choosing_hosts and prompt is not None and self.secrets.asks_for_secret(prompt)
        )

    def _prompt_text(self) -> str:
        if self.choosing_hosts:
            return HOSTS_PROMPT
        return self.fleet.prompt() or self.local_prompt

    def _toolbar(self) -> StyleAndTextTuples | None:
        if not self.toolbar_visible:
            return None
        counts = self.fleet.summary()
        parts: StyleAndTextTuples = []
        for state, style in (
            ("live", "class:toolbar.idle"),
            ("connecting", "class:toolbar.dim"),
            ("waiting", "class:toolbar.dim"),
            ("done", ""),
            ("failed", "class:toolbar.busy"),
            ("stopped", "class:toolbar.dim"),
            ("dropped", "class:toolbar.dim"),
        ):
            if counts.get(state) or state in ("live", "done", "failed"):
                sep = " │ " if parts else " "
                parts += [("class:toolbar.dim", sep), (style, f"{counts.get(state, 0)} {state}")]
        # the counts first: a long command must not push them off
        parts += [("class:toolbar.dim", " │ "), ("class:toolbar.destination", self.command)]
        parts.append(("class:toolbar.dim", " │ F2 "))
        return parts

    # -- running -------------------------------------------------------------------------

    async def run(self) -> FleetEnded:
        """Edit and send lines until every host has ended; return each host's end."""
        self.fleet.start()
        ended = asyncio.create_task(self._paint_until_fleet_ends())
        painter = asyncio.create_task(self.painter.run())
        try:
            with self.prompt.app.input.raw_mode():
                with contextlib.suppress(PromptInterrupted):
                    await self.prompt.prompt_async(pre_run=self._before_prompt)
                await ended
                await painter
        finally:
            ended.cancel()
            painter.cancel()
            if self.fleet.left:
                ignore_keyboard_signals()
            await self.fleet.close()
            if self.persistent_history is not None:
                self.persistent_history.close()
        return self.fleet.result()

    def _before_prompt(self) -> None:
        self.prompt.app.erase_when_done = False

    async def _paint_until_fleet_ends(self) -> None:
        await self.fleet.wait()
        self.fleet.close_output()  # --gather's last groups, unfinished lines
        for _stream in ("stdout", "stderr"):
            self.painter.stream_ended()
        app = self.prompt.app
        if app.is_running and not app.is_done:
            app.erase_when_done = True
            app.exit(exception=PromptInterrupted())

    # -- a line --------------------------------------------------------------------------

    def _accept(self, buffer: Buffer) -> bool:
        """Enter: the line goes to every live host, shown above the prompt first."""
        line = buffer.text
        prompt = self._prompt_text()
        secret = self._line_is_secret = self.secret_input()  # read by the history's keep()
        shown = "" if secret else caret_notation(line)
        self.painter.queue(f"{prompt}{shown}{RESET}\n")
        if self.choosing_hosts:
            self.choosing_hosts = False
            self._host_command(line.strip())
        elif self.input_closed:
            self.painter.notify("(remote input is closed; waiting for the hosts to end)\n")
        else:
            self.fleet.line_sent(self.fleet.live_labels())
            self.fleet.send_line(line, secret=secret)
        return False

    def _host_command(self, text: str) -> None:
        if not text:
            return
        sign, label = text[0], text[1:].strip()
        if sign == "-" and label:
            done = self.fleet.drop(label)
            self.painter.notify(f"[dropped {label}]\n" if done else f"[{label}: not running]\n")
        elif sign == "+" and label:
            done = self.fleet.add_again(label)
            self.painter.notify(
                f"[connecting {label} again]\n" if done else f"[{label}: unknown or running]\n"
            )
        else:
            self.painter.notify("[-NAME drops a host, +NAME adds it again]\n")

    def _list_hosts(self) -> None:
        rows = [(shown(label), shown(state)) for label, state in self.fleet.listing()]
        width = max(len(label) for label, _state in rows)
        lines = [f"  {label.ljust(width)}  {state}" for label, state in rows]
        self.painter.notify("Hosts:\n" + "\n".join(lines) + "\n")
        self.choosing_hosts = True
        self.prompt.app.invalidate()

    # -- keys (EditorActions) ------------------------------------------------------------

    def interrupt(self) -> None:
        """Ctrl-C: every host's work."""
        if self.choosing_hosts:
            self.choosing_hosts = False
            self.prompt.app.invalidate()
            return
        self.fleet.line_sent(self.fleet.live_labels())  # its readline's newline is no answer
        self.control.interrupt()

    def quit_signal(self) -> None:
        """Ctrl-\\: SIGQUIT to every host."""
        self.control.send_signal("QUIT")

    def end_input(self) -> None:
        """Ctrl-D on an empty line: every host's input ends."""
        self.fleet.line_sent(self.fleet.live_labels())
        self.fleet.send_eof()
        self.input_closed = True

    def suspend_job(self) -> None:
        """Ctrl-Z: not for many hosts (nothing would bring their jobs back one by one)."""
        char = self.control.escape_char
        hint = f"; {printable(char)}^Z suspends remoterepl" if char else ""
        self.painter.notify(f"[Ctrl-Z: no job control over many hosts: nothing stopped{hint}]\n")

    def escape(self, escape: Escape) -> None:
        """An escape at the start of a line, for every host."""
        if escape.action is Action.HOSTS:
            self._list_hosts()
        else:
            self.control.perform(escape)

    def toggle_toolbar(self) -> None:
        """F2."""
        self.toolbar_visible = not self.toolbar_visible
        self.prompt.app.invalidate()

    def edit_externally(self, buffer: Buffer) -> None:
        """Ctrl-X Ctrl-E: edit in $VISUAL/$EDITOR (output waits meanwhile)."""
        self.painter.hold("$EDITOR")
        buffer.open_in_editor(validate_and_handle=True).add_done_callback(
            lambda _task: self.painter.release("$EDITOR")
        )

    def _suspend(self) -> None:
        suspend_beside(self.prompt.app, self.env.stdin)


async def run_fleet_editor(
    make_fleet: FleetFactory,
    settings: Settings,
    env: Environment,
    config: FrontEndConfig,
) -> FleetEnded:
    """Drive a fleet from the local terminal; return each host's end."""
    return await FleetFrontEnd(make_fleet, settings, env, config).run()
