"""Who gets the keys (pure): the output's marks and the tty watcher's reports decide."""

from __future__ import annotations

from typing import cast

import pytest

from remoterepl.editor.answers import TerminalAnswers
from remoterepl.editor.input_mode import MODE_MARK, InputMode
from remoterepl.editor.remote_text import TERMINAL_QUERY as QUERY
from remoterepl.editor.streams import OutputRouter, RemoteStream
from remoterepl.editor.toolbar import SessionStatus
from remoterepl.session.ttywatch import TtyMode

READLINE = TtyMode(canonical=False, echo=False, leader_in_front=True, program="bash")


def marks(mode: InputMode, text: str) -> None:
    for mark in MODE_MARK.finditer(text):
        mode.note_mark(mark)


def test_a_shell_at_its_prompt_reads_a_line() -> None:
    mode = InputMode(shell=True)
    mode.note_tty(READLINE)
    marks(mode, "\x1b[?2004h$ ")
    assert not mode.keys_to_program
    assert not mode.secret


def test_the_report_after_readline_took_its_line_is_stale_until_the_next() -> None:
    """readline's own -icanon mode must not send the next command's keys raw."""
    mode = InputMode(shell=True)
    mode.note_tty(READLINE)
    marks(mode, "\x1b[?2004h$ \x1b[?2004l")
    assert mode.tty_stale and not mode.keys_to_program
    mode.note_tty(TtyMode(False, True, True, "bash"))  # read -n1: -icanon, echo on
    assert mode.keys_to_program


@pytest.mark.parametrize(
    ("tty", "shell", "keys"),
    [
        (TtyMode(True, True, False, "cat"), True, False),
        (TtyMode(False, False, False, "less"), True, True),
        (TtyMode(False, False, False, "python3"), True, False),  # a line REPL in front
        (TtyMode(False, False, True, "python3"), False, False),  # the session's REPL
        (TtyMode(False, False, True, "myrepl"), False, False),
        (TtyMode(False, False, False, "htop"), False, True),
    ],
)
def test_the_tty_mode_decides_outside_readline(tty: TtyMode, shell: bool, keys: bool) -> None:
    mode = InputMode(shell=shell)
    mode.note_tty(tty)
    assert mode.keys_to_program is keys


def test_output_marks_win_the_alternate_screen_keypad_and_cursor_queries() -> None:
    for text in ("\x1b[?1049h", "\x1b[?1h\x1b=", "\x1b[6n"):
        mode = InputMode(shell=True)
        mode.note_tty(TtyMode(True, True, False, "x"))
        marks(mode, text)
        assert mode.keys_to_program, text
    other = InputMode(shell=True)
    marks(other, "\x1b[?1049h\x1b[?1049l")
    assert not other.keys_to_program


def test_a_program_that_draws_itself_is_forgotten_when_another_comes_to_front() -> None:
    mode = InputMode(shell=True)
    mode.note_tty(TtyMode(False, False, False, "ipython3"))
    marks(mode, "\x1b[6n")
    assert mode.keys_to_program
    mode.note_tty(READLINE)
    marks(mode, "\x1b[?2004h")
    assert not mode.keys_to_program


def test_echo_off_in_a_canonical_read_is_a_secret() -> None:
    mode = InputMode(shell=True)
    mode.note_tty(TtyMode(True, False, True, "bash"))  # read -s
    assert mode.secret and not mode.keys_to_program
    mode.note_tty(TtyMode(True, True, True, "bash"))
    assert not mode.secret


def test_shell_at_prompt_needs_the_shell_itself_in_front() -> None:
    mode = InputMode(shell=True)
    mode.note_tty(TtyMode(False, False, False, "vim"))
    marks(mode, "\x1b[?1049h\x1b[?2004h")  # vim asks for bracketed paste too
    assert not mode.shell_at_prompt and mode.keys_to_program
    mode.note_tty(READLINE)
    assert mode.shell_at_prompt


@pytest.mark.parametrize(
    "line",
    ["1 1 0 cat", "0 0 1 bash", "0 1 0 my prog", "1 0 1 "],
)
def test_watcher_reports_parse(line: str) -> None:
    mode = TtyMode.parse(line)
    assert mode is not None
    assert (
        f"{int(mode.canonical)} {int(mode.echo)} {int(mode.leader_in_front)} {mode.program}" == line
    )


@pytest.mark.parametrize("line", ["", "none", "2 1 0 x", "1 1"])
def test_other_lines_are_not_reports(line: str) -> None:
    assert TtyMode.parse(line) is None


@pytest.mark.parametrize(
    "query", ["\x1b[c", "\x1b[>c", "\x1b[0c", "\x1b[6n", "\x1b[5n", "\x1b]11;?\x07", "\x1b[>q"]
)
def test_terminal_queries_are_recognised(query: str) -> None:
    assert QUERY.search(f"x{query}y")


def test_an_answer_is_captured_whole_and_sent() -> None:
    sent: list[str] = []
    answers = TerminalAnswers(sent.append)
    assert not answers.expected()
    answers.query_sent()
    assert answers.expected()
    answers.start("\x1b[")
    assert not answers.expected()
    for char in "?1;2c":
        assert answers.feed(char) is None
    assert sent == ["\x1b[?1;2c"] and not answers.capturing
    answers.start("\x1b]")
    for char in "11;rgb:0/0/0\x1b\\":
        answers.feed(char)
    assert sent[-1] == "\x1b]11;rgb:0/0/0\x1b\\"


class _Painter:
    def __init__(self) -> None:
        self.painted: list[str] = []

    def queue(self, text: str) -> None:
        self.painted.append(text)


class _Events:
    def __init__(self) -> None:
        self.prompt_changes = 0

    def prompt_changed(self) -> None:
        self.prompt_changes += 1

    def keys_to_program(self) -> None: ...

    def keys_to_editor(self) -> None: ...

    def query_sent(self) -> None: ...


def _router(
    events: _Events | None = None, busy_since: float | None = None
) -> tuple[OutputRouter, SessionStatus, RemoteStream]:
    status = SessionStatus("d", "python3", pty=True, busy_since=busy_since)
    router = OutputRouter(
        _Painter(),  # type: ignore[arg-type]
        events or _Events(),
        status,
        mode=InputMode(shell=False),
        words=None,
        remote_names=None,
    )
    return router, status, RemoteStream()


def test_an_echo_arriving_in_pieces_is_not_a_prompt() -> None:
    """``>>> import ti`` (the echo so far) must not end the busy state: only the prompt
    after the answer does (a line typed meanwhile is type-ahead)."""
    router, status, stream = _router()
    router.route(stream, ">>> ", True)
    status.busy_since = 1.0
    router.line_sent("import time")
    router.route(stream, "import ti", True)
    assert status.busy_since is not None
    router.route(stream, "me\r\n", True)
    assert status.busy_since is not None
    router.route(stream, ">>> ", True)
    assert status.busy_since is None


def test_readline_reading_with_no_text_redraws_the_prompt() -> None:
    """``bc -q`` starts with readline's mark alone (its prompt is empty): the remote is no
    longer busy, and the prompt is redrawn so that the local one shows (nothing else
    would: no line to paint, no partial line)."""
    events = _Events()
    router, status, stream = _router(events, busy_since=1.0)  # starting up
    status.remote_spoke = False  # as a PTY session starts
    router.route(stream, "\x1b[?2004h", True)
    assert status.busy_since is None
    assert events.prompt_changes == 1
    router.route(stream, "\x1b[?2004h", True)  # not busy: nothing changed, no redraw
    assert events.prompt_changes == 1
    # Later, after a line was sent (vi started from the shell): no redraw over its screen.
    status.busy_since = 2.0
    router.route(stream, "\x1b[?2004h", True)
    assert events.prompt_changes == 1
    assert cast("float | None", status.busy_since) is None  # (mypy: route() changed it)
