"""Key bindings of the interactive front end.

On top of prompt_toolkit's emacs/vi bindings (history, Ctrl-R search, Right/Ctrl-E taking
an auto-suggestion, Tab completion, bracketed paste): Ctrl-C / Ctrl-\\ signal the remote
work (Ctrl-C leaves a half-typed line on the screen, as a terminal does), Ctrl-D on an
empty line ends its input, ssh-style escapes at line start (also with a control key as the
escape character), Enter in a Ctrl-R search runs the line found (readline's habit),
Meta-Enter (Esc Enter) inserts a newline, Ctrl-X Ctrl-E (vi: ``v``) edits the line in
$EDITOR, F2 shows or hides the toolbar. :func:`tune_key_timeouts` makes a lone Escape take
effect at once in vi mode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from prompt_toolkit.application import Application, get_app
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.clipboard import ClipboardData, InMemoryClipboard
from prompt_toolkit.enums import EditingMode
from prompt_toolkit.filters import (
    Condition,
    emacs_insert_mode,
    is_searching,
    vi_insert_mode,
    vi_navigation_mode,
)
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.key_binding.key_processor import KeyProcessor
from prompt_toolkit.key_binding.vi_state import InputMode
from prompt_toolkit.keys import Keys
from prompt_toolkit.search import accept_search, stop_search

from remoterepl.modes.escapes import ESCAPES, Action, Escape, lookup


class SecretSafeClipboard(InMemoryClipboard):
    """The kill ring (Ctrl-U, Ctrl-W, Ctrl-K, Meta-D; vi's deletes and yanks), which never
    takes text from a secret line: Ctrl-Y would yank it into a line that is shown and
    stored."""

    def __init__(self, secret: Callable[[], bool]) -> None:
        super().__init__()
        self._secret = secret

    def set_data(self, data: ClipboardData) -> None:
        """Keep ``data`` unless it was cut from a secret."""
        if not self._secret():
            super().set_data(data)


class EditorActions(Protocol):
    """What the keys ask the front end to do."""

    def interrupt(self) -> None:
        """Ctrl-C: interrupt the remote foreground work."""

    def quit_signal(self) -> None:
        """Ctrl-\\: SIGQUIT for the remote foreground work."""

    def end_input(self) -> None:
        """Ctrl-D on an empty line: EOF for the remote process."""

    def suspend_job(self) -> None:
        """Ctrl-Z: stop the remote foreground job."""

    def escape(self, escape: Escape) -> None:
        """An escape sequence (``~.``, ``~?``, ...) was typed at the start of a line."""

    def toggle_toolbar(self) -> None:
        """Show or hide the bottom toolbar."""

    def edit_externally(self, buffer: Buffer) -> None:
        """Edit ``buffer`` in $VISUAL/$EDITOR, then send the result."""


TOOLBAR_KEY = "f2"
# prompt_toolkit waits ttimeoutlen after an Escape byte for the rest of a key's sequence
# (a local terminal sends those in one write), then timeoutlen for the next key of a
# binding such as Ctrl-X Ctrl-E (typed by a person). Its defaults, 0.5 s and 1 s, made
# vi mode's Escape take up to 1.5 s.
ESCAPE_SEQUENCE_WAIT = 0.05
NEXT_KEY_WAIT = 0.5


def key_name(char: str) -> str:
    """prompt_toolkit's name for a typed character (control characters as ``c-x``)."""
    if char == "\x1b":
        return "escape"
    return f"c-{chr(ord(char) | 0x40).lower()}" if ord(char) < 0x20 else char


def tune_key_timeouts(app: Application[Any]) -> None:
    """Short key timeouts; in vi mode a lone Escape (nothing followed it within
    ``ESCAPE_SEQUENCE_WAIT``: a key of its own, not Alt-something) acts at once instead of
    waiting for a second key of Meta-Enter."""
    app.ttimeoutlen = ESCAPE_SEQUENCE_WAIT
    app.timeoutlen = NEXT_KEY_WAIT

    def after_key(processor: KeyProcessor) -> None:
        pending = processor.key_buffer
        lone_escape = len(pending) == 1 and pending[0].key == Keys.Escape
        vi_escape = lone_escape and app.editing_mode == EditingMode.VI
        app.timeoutlen = 0.0 if vi_escape else NEXT_KEY_WAIT

    app.key_processor.after_key_press += after_key


def make_key_bindings(
    actions: EditorActions,
    escape_char: str | None,
    toolbar_key: str = TOOLBAR_KEY,
    keep_line: Callable[[str], None] | None = None,
    extra_escapes: Mapping[str, Escape] | None = None,
) -> KeyBindings:
    """Ctrl-C/Ctrl-\\ signal the remote work (not us), Ctrl-C handing a half-typed line
    to ``keep_line`` to stay on the screen; Ctrl-D on an empty line ends its input; the
    escape character at the start of a line begins an ssh-style escape; Enter in a Ctrl-R
    search runs the line found; Meta-Enter inserts a newline; Ctrl-X Ctrl-E edits in
    $EDITOR; F2 toggles the toolbar."""
    bindings = KeyBindings()

    @Condition
    def line_is_empty() -> bool:
        return not get_app().current_buffer.text

    @Condition
    def readline_search() -> bool:
        # Ctrl-R/Ctrl-S (emacs, or vi insert mode); not vi's "/" and "?" from
        # navigation mode, where Enter only finds the line, as in readline's vi mode.
        app = get_app()
        return app.editing_mode == EditingMode.EMACS or app.vi_state.input_mode == InputMode.INSERT

    def new_line_mode(event: KeyPressEvent) -> None:
        if event.app.editing_mode == EditingMode.VI:
            event.app.vi_state.input_mode = InputMode.INSERT  # leaving a search left it

    @bindings.add("c-c")
    def _interrupt(event: KeyPressEvent) -> None:
        if is_searching():
            stop_search()  # leave Ctrl-R search too
        buffer = event.app.current_buffer
        if buffer.text and keep_line is not None:
            keep_line(buffer.text)  # like a terminal: the line stays visible, ...
        buffer.reset()  # ... but it is not sent
        new_line_mode(event)
        actions.interrupt()

    @bindings.add("<sigint>")
    def _sigint(event: KeyPressEvent) -> None:
        """A SIGINT, not the Ctrl-C key (the terminal is raw): it comes from the terminal
        only while $EDITOR has it (cooked), and is that program's; or from ``kill -INT``.
        Neither ends the session (prompt_toolkit's default would, with 130): SIGTERM
        does that."""

    @bindings.add("enter", filter=is_searching & readline_search)
    def _run_found(event: KeyPressEvent) -> None:
        accept_search()
        new_line_mode(event)
        event.app.current_buffer.validate_and_handle()

    @bindings.add("c-\\")
    def _quit(event: KeyPressEvent) -> None:
        event.current_buffer.reset()
        actions.quit_signal()

    @bindings.add("c-z")
    def _suspend(event: KeyPressEvent) -> None:
        actions.suspend_job()  # never typed into the line (nor into the history)

    @bindings.add("c-d", filter=line_is_empty)
    def _end_input(event: KeyPressEvent) -> None:
        actions.end_input()

    @bindings.add("escape", "enter", filter=emacs_insert_mode | vi_insert_mode)
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    @bindings.add(Keys.BracketedPaste)
    def _paste(event: KeyPressEvent) -> None:
        # The block goes into the line editor whole (one remote line per pasted line
        # when accepted); a trailing newline does not send it, as in bash and zsh.
        data = event.data.replace("\r\n", "\n").replace("\r", "\n")
        event.current_buffer.insert_text(data[:-1] if data.endswith("\n") else data)

    @bindings.add("c-x", "c-e", filter=~vi_navigation_mode)
    @bindings.add("v", filter=vi_navigation_mode)
    def _edit(event: KeyPressEvent) -> None:
        actions.edit_externally(event.current_buffer)

    @bindings.add(toolbar_key)
    def _toolbar(event: KeyPressEvent) -> None:
        actions.toggle_toolbar()

    if escape_char is not None:
        _add_escape_bindings(bindings, actions, escape_char, extra_escapes or {})
    return bindings


def _add_escape_bindings(
    bindings: KeyBindings, actions: EditorActions, escape_char: str, extra: Mapping[str, Escape]
) -> None:
    literal = False  # after "~~" the line's leading "~" is plain text

    if ord(escape_char) < 0x20:  # -e ^X: a control key types nothing by itself

        @bindings.add(
            key_name(escape_char),
            filter=Condition(lambda: not get_app().current_buffer.text) & ~is_searching,
            eager=True,  # before prompt_toolkit's bindings that start with this key
        )
        def _begin(event: KeyPressEvent) -> None:
            event.current_buffer.insert_text(escape_char)  # shown as ^X, like "~"

    @Condition
    def escape_pending() -> bool:
        nonlocal literal
        buffer = get_app().current_buffer
        if not buffer.text:
            literal = False
        return buffer.text == escape_char and buffer.cursor_position == 1 and not literal

    def complete(event: KeyPressEvent) -> None:
        nonlocal literal
        escape = lookup(escape_char, event.data, extra)
        if escape is None:
            return
        if escape.action is Action.LITERAL:
            literal = True  # the buffer already holds the one escape character to send
            return
        event.current_buffer.reset()
        actions.escape(escape)

    for key in {*ESCAPES, *extra, escape_char}:  # eager: ^]^] is not the start of Ctrl-] x
        bindings.add(key_name(key), filter=escape_pending & ~is_searching, eager=True)(complete)
