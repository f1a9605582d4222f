"""Python auto-indentation (remoterepl/editor/indent.py, issue 11 point 8) without a
terminal: which commands get it, what Python's prompt looks like, the next line's
indentation, and the pre-filled buffer taken back when the remote answers ``>>> ``."""

from __future__ import annotations

from typing import Any, cast

import pytest
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.utils import Event

from remoterepl.editor.indent import (
    CONTINUATION,
    PRIMARY,
    PythonIndent,
    dedented,
    indents_python,
    next_indent,
    opens_block,
    python_prompt,
)


@pytest.mark.parametrize(
    ("command", "wanted"),
    [
        ("python3", True),
        ("python3.11 -q", True),
        ("/usr/bin/python -i", True),
        ("sudo -u app env PYTHONSTARTUP= python3", True),
        ("pypy3", True),
        (None, False),  # the login shell
        ("bash", False),
        ("ipython", False),  # its own editor indents
        ("bc", False),
    ],
)
def test_only_the_python_family_is_indented(command: str | None, wanted: bool) -> None:
    assert indents_python(command) is wanted


@pytest.mark.parametrize(
    ("prompt", "state"),
    [
        (">>> ", PRIMARY),
        ("... ", CONTINUATION),
        ("\x1b[1;35m>>> \x1b[0m", PRIMARY),  # coloured, as Python 3.13 does
        ("partial output>>> ", PRIMARY),
        ("name? ", None),  # input()
        ("Password: ", None),
        (">>>", None),
        ("", None),
    ],
)
def test_pythons_prompts(prompt: str, state: str | None) -> None:
    assert python_prompt(prompt) == state


@pytest.mark.parametrize(
    ("line", "opens"),
    [
        ("def f():", True),
        ("    for i in range(3):  # loop:", True),
        ("class C(Base):", True),
        ("if x:  ", True),
        ("d = {'a': 1}", False),
        ("x = 1  # note:", False),
        ("s = 'a:'", False),
        ("x[1:", False),  # an open bracket
        ("    b):", True),  # closes one opened on an earlier line (def f(a,)
        ("lambda x:", True),
        ("", False),
    ],
)
def test_a_block_opens_after_a_colon_that_is_code(line: str, opens: bool) -> None:
    assert opens_block(line) is opens


@pytest.mark.parametrize(
    ("text", "continuing", "indent"),
    [
        ("def f():", False, "    "),
        ("    if x:", True, "        "),
        ("    x = 1", True, "    "),  # inside a block: the same level
        ("x = 1", False, ""),  # at >>>: nothing
        ("        return x", True, "    "),
        ("    pass", True, ""),
        ("        break", True, "    "),
        ("        continue", True, "    "),
        ("    raise ValueError(x)", True, ""),
        ("    return_value = 3", True, "    "),  # a name, not the keyword
        ("    passed = True", True, "    "),
        ("   ", True, ""),  # a blank line ends the block
        ("", True, ""),
        ("\tif x:", True, "\t    "),
        ("\t\treturn", True, "\t"),
        ("def g():\n    y = 5\n    return y", False, ""),  # a paste: its last line counts
        ("if a:\n    b = 1", False, "    "),
    ],
)
def test_the_next_lines_indentation(text: str, continuing: bool, indent: str) -> None:
    assert next_indent(text, continuing) == indent


def test_one_level_less() -> None:
    assert dedented("        ") == "    "
    assert dedented("  ") == ""
    assert dedented("\t\t") == "\t"
    assert dedented("") == ""


class _Remote:
    """The remote's partial line, as the input line reads it, and whether a line sent
    has had its answer."""

    def __init__(self, prompt: str) -> None:
        self.prompt = prompt
        self.busy = False

    def __call__(self) -> str:
        return self.prompt

    def sent(self) -> None:
        """A line went: the partial line stays (the prompt it was typed at) till output."""
        self.busy = True

    def shows(self, partial: str, *, busy: bool = False) -> None:
        """Output arrived: its unfinished last line (the front end counts the remote as
        answering once it shows one, its echo of the line included)."""
        self.prompt = partial
        self.busy = busy


class _App:
    """What attach() uses of the application: its redraw event."""

    def __init__(self) -> None:
        self.before_render: Event[object] = Event(self)

    def redraw(self) -> None:
        """A redraw (every remote output makes one)."""
        self.before_render.fire()


def _accepting(remote: _Remote) -> tuple[PythonIndent, Buffer, _App, list[str]]:
    sent: list[str] = []

    def accept(buffer: Buffer) -> bool:
        sent.append(buffer.text)
        remote.sent()
        return False

    indent = PythonIndent(remote, lambda: remote.busy, "~")
    buffer = Buffer(accept_handler=accept)
    app = _App()
    indent.attach(cast(Any, app), buffer)
    return indent, buffer, app, sent


def test_the_indentation_is_put_in_and_kept_when_python_continues() -> None:
    remote = _Remote(PRIMARY)
    indent, buffer, app, sent = _accepting(remote)
    buffer.text = "def f():"
    indent.accept(buffer)
    assert sent == ["def f():"]
    assert buffer.text == "    "
    assert indent.state() == CONTINUATION  # expected, before the remote answers
    app.redraw()  # the prompt the line was typed at is still the partial line: no answer
    assert buffer.text == "    "
    remote.shows(">>> def f():")  # the remote's echo of the line
    app.redraw()
    assert buffer.text == "    "
    remote.shows(CONTINUATION)
    app.redraw()
    assert buffer.text == "    "
    assert indent.untouched()
    remote.shows(PRIMARY)  # long after: Python's answer was taken
    app.redraw()
    assert buffer.text == "    "


def test_the_indentation_is_taken_back_when_python_answers_the_primary_prompt() -> None:
    remote = _Remote(PRIMARY)
    indent, buffer, app, _sent = _accepting(remote)
    buffer.text = "if 1 y:"
    indent.accept(buffer)
    app.redraw()
    assert buffer.text == "    "
    remote.shows(PRIMARY)  # after "SyntaxError: invalid syntax"
    app.redraw()
    assert buffer.text == ""


def test_what_the_user_typed_meanwhile_is_theirs() -> None:
    remote = _Remote(PRIMARY)
    indent, buffer, app, _sent = _accepting(remote)
    buffer.text = "if 1 y:"
    indent.accept(buffer)
    buffer.insert_text("print(1)")
    remote.shows(PRIMARY)
    app.redraw()
    assert buffer.text == "    print(1)"
    assert not indent.untouched()


def test_a_whitespace_only_line_goes_as_an_empty_one_and_ends_the_block() -> None:
    remote = _Remote(CONTINUATION)
    indent, buffer, _app, sent = _accepting(remote)
    buffer.text = "        "
    indent.accept(buffer)
    assert sent == [""]
    assert buffer.text == ""
    assert indent.state() == PRIMARY


def test_other_prompts_get_no_indentation() -> None:
    remote = _Remote("name? ")
    indent, _buffer, _app, _sent = _accepting(remote)
    assert indent.state() is None
