"""Python's block indentation in the line editor (issue 11, point 8): the installed
remoterepl in a real pty in front of a remote ``python3 -q`` (a readline REPL on a PTY),
assertions on the screen. The editor indents after a line ending in ``:``, keeps the
level inside a block and drops one after ``return``/``pass``/``break``/``continue``/
``raise``, and Tab in the indentation indents; ``... `` prompts stay as Python shows them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client import Terminal, shell_prompt_shown, spawn_remoterepl
from tests.client_env import ClientEnv

ERRORS = ("IndentationError", "SyntaxError", "TabError")
BACKSPACE = "\x7f"


def last_line(text: str) -> str:
    """The last non-blank screen line."""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


@pytest.fixture
def python(embedded_env: ClientEnv) -> Iterator[Terminal]:
    """remoterepl running ``python3 -q``, at its first ``>>> ``."""
    with spawn_remoterepl([embedded_env.user_alias, "python3", "-q"], embedded_env.env) as term:
        term.wait_for_screen(lambda s: last_line(s) == ">>>", timeout=15)
        yield term
        # Whatever statement was left open; Ctrl-D only once python has answered the
        # Ctrl-C (its readline may take both in one wake-up, and drop the end of input).
        interrupts = term.screen_text().count("KeyboardInterrupt")
        term.sendcontrol("c")
        term.wait_for_screen(
            lambda s: s.count("KeyboardInterrupt") > interrupts and last_line(s) == ">>>"
        )
        term.sendcontrol("d")
        assert term.wait_exit() == 0


def enter_line(term: Terminal, keys: str, prompt: str = "...") -> None:
    """Type ``keys`` and Enter, then wait for the remote's next prompt (``prompt``, as the
    last line shows it: the pre-filled indentation is invisible; after several lines at
    once, readline's prompts for each may share the line)."""
    rows = len(term.screen_text().splitlines())
    term.send(keys + "\r")
    term.wait_for_screen(lambda s: len(s.splitlines()) > rows and last_line(s).endswith(prompt))


def assert_no_python_error(term: Terminal) -> None:
    """Nothing Python rejected."""
    screen = term.screen_text()
    for error in ERRORS:
        assert error not in screen, term.describe()


def test_tab_at_the_start_of_a_block_line_indents(python: Terminal) -> None:
    """The issue's own steps: ``def f():``, Enter, Tab, ``return 1`` — no IndentationError;
    an Enter on the (indented, otherwise empty) next line ends the block."""
    enter_line(python, "def f():")
    enter_line(python, "\treturn 1")
    enter_line(python, "", prompt=">>>")
    python.sendline("f() + 41")
    screen = python.wait_for_screen(lambda s: "\n42\n" in s)
    assert_no_python_error(python)
    assert "...         return 1" in screen  # Tab on top of the automatic level: 8 columns


def test_blocks_indent_and_dedent_as_pythons_own_repl(python: Terminal) -> None:
    """Nothing but the code typed (no leading spaces, no Tab): the editor supplies each
    line's indentation, one level less after ``continue``, ``break``, ``pass``; Backspace
    in the indentation drops one level; the ``... `` prompts stay."""
    enter_line(python, "for i in range(5):")
    enter_line(python, "if i == 1:")
    enter_line(python, "continue")  # back to the for body
    enter_line(python, "if i == 3:")
    enter_line(python, "break")
    enter_line(python, "print('item', i)")
    enter_line(python, "", prompt=">>>")
    screen = python.wait_for_screen(lambda s: "item 2" in s)
    assert_no_python_error(python)
    assert "item 0\nitem 2\n>>>" in screen
    for shown in (
        ">>> for i in range(5):",
        "...     if i == 1:",
        "...         continue",
        "...     if i == 3:",
        "...         break",
        "...     print('item', i)",
    ):
        assert shown in screen.splitlines(), screen
    enter_line(python, "for i in range(2):")
    enter_line(python, "if i:")
    enter_line(python, "print('then', i)")
    enter_line(python, BACKSPACE + "print('after', i)")  # one level back: the for body
    enter_line(python, "", prompt=">>>")
    screen = python.wait_for_screen("after 1")
    assert "after 0\nthen 1\nafter 1\n>>>" in screen
    enter_line(python, "class C:")
    enter_line(python, "def m(self):")
    enter_line(python, "pass")  # one level back: the class body
    enter_line(python, "x = 7")
    enter_line(python, "", prompt=">>>")
    python.sendline("print(C.x, C().m())")
    python.wait_for_screen("\n7 None\n")
    assert_no_python_error(python)


def test_indentation_is_taken_back_when_python_ends_the_statement(python: Terminal) -> None:
    """A line ending in ``:`` that Python rejects brings ``>>> ``, not ``... ``: the next line
    starts at the left edge again."""
    python.sendline("if 1 y:")
    python.wait_for_screen(lambda s: "SyntaxError" in s and last_line(s) == ">>>")
    python.sendline("print('after', 6 * 7)")
    screen = python.wait_for_screen("\nafter 42")
    assert "IndentationError" not in screen
    assert ">>> print('after', 6 * 7)" in screen.splitlines()


def test_a_pasted_block_brings_its_own_indentation(python: Terminal) -> None:
    """Pasted at ``>>> ``, and over the indentation the editor put in at ``... ``: sent as it
    was copied, no level added."""
    enter_line(python, "\x1b[200~def g():\n    y = 5\n    return y\x1b[201~")
    enter_line(python, "", prompt=">>>")
    enter_line(python, "if True:")
    enter_line(python, "\x1b[200~    a = 30\n    b = 7\x1b[201~")
    enter_line(python, "", prompt=">>>")
    python.sendline("print(g() + a + b)")
    python.wait_for_screen("\n42\n")
    assert_no_python_error(python)


def test_ctrl_d_and_the_escape_character_on_a_pre_indented_line(
    embedded_env: ClientEnv,
) -> None:
    """A line holding only the indentation the editor put in is empty to the user: Ctrl-D
    is EOF there (which ends the block at ``... ``), ``~.`` is at the start of the line."""
    with spawn_remoterepl([embedded_env.user_alias, "python3", "-q"], embedded_env.env) as term:
        term.wait_for_screen(lambda s: last_line(s) == ">>>", timeout=15)
        enter_line(term, "if True:")
        enter_line(term, "print('in', 'block')")
        term.sendcontrol("d")
        term.wait_for_screen(lambda s: "\nin block\n" in s and last_line(s) == ">>>")
        enter_line(term, "while True:")
        term.send("~.")
        assert term.wait_exit() == 255
        assert "closed (~.)" in term.screen_text()


def test_shells_get_no_indentation(embedded_env: ClientEnv) -> None:
    """In the login shell a compound command's next line starts at the left edge (bash's
    ``> `` continuation), and Tab on an empty line inserts no spaces."""
    with spawn_remoterepl([embedded_env.user_alias], embedded_env.env) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=15)
        term.sendline("for w in in-block; do")
        term.wait_for_screen(lambda s: last_line(s) == ">")
        term.send("\t")
        term.send("echo $w\r")
        term.wait_for_screen(lambda s: "> echo $w" in s.splitlines())
        term.sendline("done")
        screen = term.wait_for_screen("\nin-block")
        assert "> echo $w" in screen.splitlines()
        term.sendline("exit")
        assert term.wait_exit() == 0


def test_indented_lines_are_kept_in_the_history(embedded_env: ClientEnv) -> None:
    """Leading spaces keep a line out of a shell's history (ignorespace); in Python they
    are the indentation, and the block's lines are stored as typed, ready for Up."""
    with spawn_remoterepl([embedded_env.user_alias, "python3", "-q"], embedded_env.env) as term:
        term.wait_for_screen(lambda s: last_line(s) == ">>>", timeout=15)
        enter_line(term, "def h():")
        enter_line(term, "return 'from-history'")
        enter_line(term, "", prompt=">>>")
        term.sendcontrol("d")
        assert term.wait_exit() == 0
    state = Path(embedded_env.env["XDG_STATE_HOME"]) / "remoterepl" / "history"
    stored = "".join(p.read_text() for p in state.glob("*") if p.name != "INDEX")
    assert "def h():" in stored
    assert "    return 'from-history'" in stored
