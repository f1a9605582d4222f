"""ssh-style escapes: parsing the escape character and scanning raw keystrokes (pure)."""

from __future__ import annotations

import pytest

from remoterepl.errors import UsageError
from remoterepl.modes.escapes import ESCAPES, EscapeScanner, help_text, printable
from remoterepl.settings import parse_escape_char


def test_parse_escape_char() -> None:
    """A character, ^X notation, or none (as ssh -e)."""
    assert parse_escape_char("~") == "~"
    assert parse_escape_char("^]") == "\x1d"
    assert parse_escape_char("none") is None
    with pytest.raises(UsageError):
        parse_escape_char("ab")


def test_scanner_finds_escapes_only_at_line_start() -> None:
    """``~.`` after Enter is an escape; a ``~`` inside a line is text."""
    scanner = EscapeScanner("~")
    assert scanner.feed(b"a~.b\r") == [b"a~.b\r"]
    assert scanner.feed(b"~.") == [ESCAPES["."]]


def test_scanner_literal_unknown_and_split_input() -> None:
    """``~~`` sends one ``~``; ``~x`` sends both; an escape may arrive in two reads."""
    scanner = EscapeScanner("~")
    assert scanner.feed(b"~~x\r") == [b"~x\r"]
    assert scanner.feed(b"~x\r") == [b"~x\r"]
    assert scanner.feed(b"~") == []
    assert scanner.feed(b"T") == [ESCAPES["T"]]
    assert scanner.feed(b"~?") == [b"~?"]  # no longer at the start of a line


def test_help_lists_every_escape() -> None:
    """~? shows each escape with the configured escape character."""
    text = help_text("^")
    assert all(f"^{printable(key)}" in text for key in ESCAPES)
    assert "^^Z  suspend remoterepl" in text  # ~^Z, as ssh's
