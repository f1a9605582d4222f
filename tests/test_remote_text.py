"""How remote output is split into printable lines and the prompt line (pure)."""

from __future__ import annotations

from remoterepl.editor.prompt import default_prompt
from remoterepl.editor.remote_text import OutputSplitter, prompt_text


def test_complete_lines_print_and_the_partial_line_is_kept() -> None:
    """Text up to the last newline prints; the rest waits as the prompt."""
    splitter = OutputSplitter()
    assert splitter.feed("one\r\ntwo\r\n>>> ") == "one\r\ntwo\r\n"
    assert splitter.partial == ">>> "
    assert splitter.feed("more") == ""
    assert splitter.partial == ">>> more"
    assert splitter.feed("\n") == ">>> more\n"
    assert splitter.take_partial() == ""


def test_readline_accept_newline_is_swallowed_once() -> None:
    """After a sent line, readline's own \\r\\n (bash, bc with PTY echo off) is dropped."""
    splitter = OutputSplitter()
    splitter.feed("\x1b[?2004h\x1b]0;u@h: ~\x07u@h:~$ ")
    splitter.line_sent()
    assert splitter.feed("\x1b[?2004l\r") == ""  # may arrive in pieces
    assert splitter.feed("\r\nhi\r\n") == "hi\r\n"
    assert splitter.feed("\r\n") == "\r\n"  # a later empty line is real output


def test_no_swallowing_without_readline() -> None:
    """Programs without readline (python's >>> here) keep a leading empty line."""
    splitter = OutputSplitter()
    splitter.feed(">>> ")
    splitter.line_sent()
    assert splitter.feed("\r\nx\r\n") == "\r\nx\r\n"


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
