"""Python's block indentation for the input line, as Python's own REPL and ptpython do it,
in front of a remote python whose ``>>> `` / ``... `` is the prompt.

Each accepted line goes to the remote at once and its answer (the next prompt) comes a
round trip later, so the indentation is predicted locally: after a line ending in ``:``
the next input line starts with that line's indentation plus four spaces; inside a block
(at ``... ``) it keeps the indentation, one level less after ``return``, ``pass``,
``break``, ``continue`` and ``raise``. When the remote answers ``>>> `` instead (a syntax
error, the block already complete) the untouched indentation is taken back. A
whitespace-only line goes as an empty one, which is what ends a block at ``... `` (Python
takes spaces there as more of the block). Tab with only whitespace before the cursor
indents to the next multiple of four and Backspace there goes back one level. On an
untouched indentation a paste replaces it, and Ctrl-D and the escape character act as on
an empty line.

Only for the python family (``python3``, ``python3.11``, ``pypy3``): the session's command,
or a python started from the login shell (the tty watcher names the program in front).
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Callable

from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import (
    Condition,
    emacs_insert_mode,
    has_completions,
    has_focus,
    has_selection,
    vi_insert_mode,
)
from prompt_toolkit.key_binding import (
    KeyBindings,
    KeyBindingsBase,
    KeyPressEvent,
    merge_key_bindings,
)
from prompt_toolkit.keys import Keys

from remoterepl.command import is_shell, program_family
from remoterepl.editor.keys import key_name

INDENT = "    "
PYTHON_FAMILIES = frozenset({"python", "pypy"})
PRIMARY = ">>> "
CONTINUATION = "... "
_SGR = re.compile(r"\x1b\[[0-9;]*m")
_DEDENTS = re.compile(r"(?:return|pass|break|continue|raise)\b")
_SKIPPED_TOKENS = frozenset(
    {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
)


def indents_python(command: str | None) -> bool:
    """Whether COMMAND runs a Python REPL (the python family), the only programs that get
    auto-indentation."""
    return program_family(command) in PYTHON_FAMILIES


def python_prompt(prompt: str) -> str | None:
    """``PRIMARY`` or ``CONTINUATION`` when ``prompt`` (colours allowed) ends in Python's
    own prompt; None for any other prompt (``input()``, ``getpass``) or none."""
    plain = _SGR.sub("", prompt)
    for known in (PRIMARY, CONTINUATION):
        if plain.endswith(known):
            return known
    return None


def opens_block(line: str) -> bool:
    """True when the line's last token (comments aside) is ``:``."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline))
    except (tokenize.TokenError, SyntaxError):
        # An unclosed bracket (``x[1:``) or string, or the end of a bracket opened on an
        # earlier line (``b):``): judged by the text.
        unclosed = sum(map(line.count, "([{")) > sum(map(line.count, ")]}"))
        return not unclosed and line.rstrip().endswith(":")
    meaningful = [t for t in tokens if t.type not in _SKIPPED_TOKENS and t.string]
    return bool(meaningful) and meaningful[-1].string == ":"


def dedented(indent: str) -> str:
    """One level less of ``indent`` (a tab, or four columns of spaces)."""
    return indent[:-1] if indent.endswith("\t") else indent[: max(0, len(indent) - len(INDENT))]


def next_indent(text: str, continuing: bool) -> str:
    """The indentation the line after ``text`` (one or more lines just accepted) starts
    with; ``continuing`` if the remote was at ``... `` (inside a statement) when it was."""
    last = text.rpartition("\n")[2]
    if not last.strip():
        return ""  # a blank line ends the block
    indent = last[: len(last) - len(last.lstrip())]
    if opens_block(last):
        return indent + INDENT
    if not continuing and "\n" not in text:
        return ""
    return dedented(indent) if _DEDENTS.match(last.lstrip()) else indent


class PythonIndent:
    """Auto-indentation for the input line of a remote Python REPL.

    ``remote_prompt`` returns the remote's partial line as the prompt shows it; ``busy``
    is True from a line sent until the remote prompts again (until then the partial line
    may still be the prompt the line was typed at, or the remote's echo of it)."""

    def __init__(
        self,
        remote_prompt: Callable[[], str],
        busy: Callable[[], bool],
        escape_char: str | None,
        active: Callable[[], bool] = lambda: True,
    ) -> None:
        self._remote_prompt = remote_prompt
        self._busy = busy
        self._active = active  # Python is what reads (always, unless under a shell)
        self._escape_char = escape_char
        self._buffer: Buffer | None = None
        self._prefill: str | None = None  # the indentation we put in the buffer
        self._unanswered = False  # ...and the remote has not answered the line before it
        self._expected: str | None = None  # the prompt the last accepted line should bring

    def state(self) -> str | None:
        """``PRIMARY`` / ``CONTINUATION``: where Python is (the remote's prompt, or, until
        it answers, what the last line should bring); None at any other prompt."""
        if not self._active():
            return None
        if self._busy():
            return self._expected
        return python_prompt(self._remote_prompt())

    def attach(self, app: Application[str], buffer: Buffer) -> None:
        """Watch ``app``'s redraws (every remote output makes one) for the answer to the
        line just sent, in ``buffer``."""
        self._buffer = buffer
        app.before_render += self._settle

    def _settle(self, _app: object) -> None:
        if not self._unanswered:
            return
        if not self.untouched():
            self._unanswered = False  # the user took over
            return
        answer = None if self._busy() else python_prompt(self._remote_prompt())
        if answer is None:
            return  # no answer yet (or not Python's prompt: its echo of the line, say)
        self._unanswered = False
        if answer == PRIMARY and self._buffer is not None:
            self._buffer.text = ""  # not inside a block after all (a syntax error)

    def accept(self, buffer: Buffer) -> None:
        """Enter: send the line (a whitespace-only one as an empty one), then start the
        next with the indentation it calls for."""
        state = self.state()
        if "\n" not in buffer.text and not buffer.text.strip():
            buffer.text = ""
        text = buffer.text
        self._prefill, self._unanswered = None, False
        buffer.validate_and_handle()  # sends; the buffer is empty again
        indent = next_indent(text, continuing=state == CONTINUATION)
        self._expected = CONTINUATION if indent or (text and state == CONTINUATION) else PRIMARY
        if indent and not buffer.text:
            buffer.insert_text(indent)
            self._prefill, self._unanswered = indent, True

    def untouched(self) -> bool:
        """True while the buffer holds only the indentation we put in."""
        return (
            self._prefill is not None
            and self._buffer is not None
            and self._buffer.text == self._prefill
        )

    def key_bindings(self) -> KeyBindings:
        """Enter, Tab, Backspace, and a paste, Ctrl-D or the escape character over an
        untouched indentation; merge them after the others (they take precedence)."""
        bindings = KeyBindings()
        at_python = Condition(lambda: self.state() is not None) & has_focus(DEFAULT_BUFFER)
        inserting = (emacs_insert_mode | vi_insert_mode) & ~has_selection

        @Condition
        def in_indentation() -> bool:
            buffer = self._buffer
            return buffer is not None and not buffer.document.current_line_before_cursor.strip()

        @bindings.add("enter", filter=at_python)
        def _enter(event: KeyPressEvent) -> None:
            self.accept(event.current_buffer)

        @bindings.add("tab", filter=at_python & inserting & in_indentation & ~has_completions)
        def _tab(event: KeyPressEvent) -> None:
            column = event.current_buffer.document.cursor_position_col
            event.current_buffer.insert_text(" " * (len(INDENT) - column % len(INDENT)))

        @Condition
        def after_spaces() -> bool:
            buffer = self._buffer
            before = buffer.document.current_line_before_cursor if buffer else ""
            return bool(before) and not before.strip(" ")

        @bindings.add("backspace", filter=at_python & inserting & after_spaces)
        def _backspace(event: KeyPressEvent) -> None:
            column = event.current_buffer.document.cursor_position_col
            event.current_buffer.delete_before_cursor((column - 1) % len(INDENT) + 1)

        untouched = Condition(self.untouched) & at_python

        @bindings.add(Keys.BracketedPaste, filter=untouched)
        def _paste(event: KeyPressEvent) -> None:
            event.current_buffer.text = ""  # the block brings its own indentation
            self._prefill = None
            event.key_processor.feed(event.key_sequence[0], first=True)  # pasted as ever

        # Keys that mean something on an empty line or at its start: Ctrl-D (EOF, which
        # ends the block at "... "), the escape character (~.).
        line_start_keys = ["c-d"] + ([key_name(self._escape_char)] if self._escape_char else [])
        for key in line_start_keys:

            @bindings.add(key, filter=untouched)
            def _at_line_start(event: KeyPressEvent) -> None:
                event.current_buffer.text = ""  # the line is still empty for the user
                self._prefill = None
                event.key_processor.feed(event.key_sequence[0], first=True)

        return bindings


def python_indent(
    command: str | None,
    remote_prompt: Callable[[], str],
    busy: Callable[[], bool],
    escape_char: str | None,
    python_in_front: Callable[[], bool],
) -> PythonIndent | None:
    """Auto-indentation for COMMAND's input line if it runs Python; under a shell, while
    ``python_in_front`` (a python started from it reads); else None."""
    if indents_python(command):
        return PythonIndent(remote_prompt, busy, escape_char)
    if is_shell(command):
        return PythonIndent(remote_prompt, busy, escape_char, active=python_in_front)
    return None


def with_indent_keys(indent: PythonIndent | None, bindings: KeyBindingsBase) -> KeyBindingsBase:
    """``bindings``, with ``indent``'s keys taking precedence when there is one."""
    return bindings if indent is None else merge_key_bindings([bindings, indent.key_bindings()])
