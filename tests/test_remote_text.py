"""How remote output is split into printable lines and the prompt line (pure)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from remoterepl.editor.prompt import default_prompt
from remoterepl.editor.remote_text import MAX_PROMPT, OutputSplitter, last_row_end, prompt_text


def test_complete_lines_print_and_the_partial_line_is_kept() -> None:
    """Text up to the last newline prints; the rest waits as the prompt."""
    splitter = OutputSplitter()
    assert splitter.feed("one\r\ntwo\r\n>>> ") == "one\r\ntwo\r\n"
    assert splitter.partial == ">>> "
    assert splitter.feed("more") == ""
    assert splitter.partial == ">>> more"
    assert splitter.feed("\n") == ">>> more\n"
    assert splitter.take_partial() == ""


def test_the_remote_echo_completes_the_prompt_line() -> None:
    """On a PTY the remote echoes the line sent: prompt and echo print as one line, and
    readline's bracketed-paste toggles around it are dropped."""
    splitter = OutputSplitter()
    assert splitter.feed("\x1b[?2004hu@h:~$ ") == ""
    assert splitter.partial == "u@h:~$ "
    assert splitter.feed("echo hi\r\n\x1b[?2004l\rhi\r\n") == "u@h:~$ echo hi\r\n\rhi\r\n"
    assert splitter.feed("\x1b[?2004hu@h:~$ ") == ""
    assert splitter.partial == "u@h:~$ "


def test_line_sent_forgets_the_prompt_without_a_pty() -> None:
    """Without a PTY the editor printed prompt and line itself: the partial line goes."""
    splitter = OutputSplitter()
    splitter.feed(">>> ")
    splitter.line_sent()
    assert splitter.feed("\r\nx\r\n") == "\r\nx\r\n"


def test_a_screen_clear_in_the_partial_line_is_taken_out_to_paint() -> None:
    """``clear`` just before the prompt: the clear is painted at once, the prompt stays."""
    splitter = OutputSplitter()
    splitter.feed("\x1b[H\x1b[2J\x1b[3J\x1b[?2004h$ ")
    assert splitter.take_screen_reset() == "\x1b[H\x1b[2J\x1b[3J"
    assert splitter.partial == "$ "
    assert splitter.take_screen_reset() == ""
    splitter.feed("\x1b[1G\x1b[0J> ")  # node's prompt redraw is not a clear
    assert splitter.take_screen_reset() == ""


def test_prompt_text_keeps_colours_and_drops_other_escapes() -> None:
    """Titles, bracketed-paste toggles and controls go; SGR colours stay."""
    partial = "\x1b[?2004h\x1b]0;u@h: ~\x07\x1b[01;32mu@h\x1b[00m:~$ \x07"
    assert prompt_text(partial) == "\x1b[01;32mu@h\x1b[00m:~$ "
    assert prompt_text("50%\r60%") == "60%"


def test_default_prompt_names_the_program() -> None:
    """Remotes without a prompt of their own get ``NAME> ``."""
    assert default_prompt("bc -q") == "bc> "
    assert default_prompt("/usr/bin/python3 -i") == "python3> "
    assert default_prompt(None) == "> "


# -- long lines (issue 12: a 1 MiB partial line as the prompt froze the client) ----------


def test_a_long_partial_line_is_painted_up_to_its_last_screen_row() -> None:
    splitter = OutputSplitter()
    assert splitter.feed("x" * 100_000) == ""
    head = splitter.take_overlong(80)
    assert head == "x" * (100_000 // 80 * 80) + "\r\n"  # the row break the wrap makes
    assert splitter.partial == "x" * (100_000 % 80)
    assert splitter.take_overlong(80) == ""  # short again: a prompt


def test_a_prompt_of_a_few_rows_stays_whole() -> None:
    splitter = OutputSplitter()
    splitter.feed("\x1b[1m" + "p" * (MAX_PROMPT - 10) + "> ")
    assert splitter.take_overlong(80) == ""


def test_rows_are_counted_in_cells_not_characters() -> None:
    """Wide characters take two cells (one that does not fit wraps early), escapes none,
    a carriage return starts the row again."""
    assert last_row_end("漢" * 41, 80) == (40, 80)
    assert last_row_end("a" + "漢" * 40, 80) == (40, 79)
    assert last_row_end("\x1b[31m" + "x" * 85 + "\ryy", 80) == (85, 80)
    assert last_row_end("x" * 70 + "\r" + "y" * 70, 80) == (0, 0)
    assert last_row_end("abc", 80) == (0, 0)


def test_a_long_line_without_rows_is_painted_whole() -> None:
    """Escapes alone fill no row: the line is painted and nothing is held, and no line
    break is invented (none was made)."""
    splitter = OutputSplitter()
    splitter.feed("\x1b[m" * 5000)
    assert splitter.take_overlong(80) == "\x1b[m" * 5000
    assert splitter.partial == ""


def test_a_progress_bar_redrawn_with_carriage_returns_gets_no_line_breaks() -> None:
    """``dd status=progress``, curl and pip redraw one line with ``\\r``: it is painted up
    to its last carriage return, without a line break, and the last update stays the
    prompt (before, 1000 updates came back as ``...999%\\r\\n``)."""
    splitter = OutputSplitter()
    updates = "".join(f"\r  {n:3d}%" for n in range(1000))
    splitter.feed(updates)
    head = splitter.take_overlong(80)
    assert head == updates.rpartition("\r")[0] + "\r"
    assert splitter.partial == "  999%" and prompt_text(splitter.partial) == "  999%"
    # Text that filled rows before the redraws: still cut at the carriage return.
    splitter = OutputSplitter()
    splitter.feed("x" * 4100 + "\r 50%")
    assert splitter.take_overlong(80) == "x" * 4100 + "\r"
    assert splitter.partial == " 50%"
    # A carriage return before the last full row does not count: the row break is made.
    splitter = OutputSplitter()
    splitter.feed("\r" + "x" * 4100)
    assert splitter.take_overlong(80) == "\r" + "x" * 4080 + "\r\n"
    assert splitter.partial == "x" * 20


def test_a_carriage_return_inside_an_escape_sequence_is_no_cut_point() -> None:
    """Cut inside an OSC, the terminal would take the prompt drawn next for its body."""
    splitter = OutputSplitter()
    text = "\r 1%" * 1100 + "\x1b]0;a\rb\x07 2%"
    splitter.feed(text)
    assert splitter.take_overlong(80) == "\r 1%" * 1099 + "\r"
    assert splitter.partial == " 1%\x1b]0;a\rb\x07 2%"


# Pieces repeated (up to 600 times each): plain lists of pieces are almost never longer
# than MAX_PROMPT, and the property would not reach the cutting at all.
_PIECES = ["x" * 50, "漢字", "\x1b[31m", "\r", "\t", "\x1b]0;t\x07", "é", "\b", "\r  42%"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(_PIECES), st.integers(1, 600)).map(lambda run: run[0] * run[1]),
        min_size=1,
        max_size=12,
    ).map("".join),
    st.integers(min_value=1, max_value=200),
)
def test_cutting_a_long_line_loses_nothing_and_leaves_a_prompt(text: str, columns: int) -> None:
    """Nothing is lost, the prompt left is bounded, a line break is added only at the end
    of a filled row, and what stays without one starts after a carriage return."""
    splitter = OutputSplitter()
    splitter.feed(text)
    head = splitter.take_overlong(columns)
    if len(text) <= MAX_PROMPT:
        assert head == "" and splitter.partial == text
        return
    painted = head.removesuffix("\r\n")
    assert painted + splitter.partial == text
    assert len(splitter.partial) <= MAX_PROMPT
    if painted != head:  # a line break was added: where a row was filled
        assert len(painted) == last_row_end(text, columns)[0]
        assert "\r" not in splitter.partial  # (none inside an escape here)
    elif splitter.partial:  # the rest of a line redrawn in place
        assert head.endswith("\r")
