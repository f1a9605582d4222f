"""Who gets the keys: the local line editor, or the remote program directly.

The editor owns the keys while the remote reads a line: a line editor at its prompt
(readline brackets the line it reads with bracketed-paste on/off), a canonical-mode reader
(``cat``, ``read``, a password prompt), or a known line REPL in front (python3, bc, node,
psql...). Every other reader gets the keys as they are typed, as with ``ssh -t``: programs
on the alternate screen (vi, top) or in keypad-transmit mode (less -X, git log's pager,
man), programs that ask the terminal where the cursor is (IPython, and prompt_toolkit
programs generally: they draw their own input), and any other non-canonical reader
(``read -n1``, a key-driven menu).

Two sources tell: the terminal's own modes and foreground job, reported by a watcher on a
second channel (:mod:`remoterepl.session.ttywatch`), and what the output says (the marks
above), which comes first and is exact about where in the stream a switch happens.
"""

from __future__ import annotations

import re

from remoterepl.command import program_family
from remoterepl.session.ttywatch import TtyMode

# Sequences in the output that change who reads keys: the alternate screen, readline's
# bracketed-paste toggles, keypad transmit (DECCKM ?1), a cursor position request.
MODE_MARK = re.compile(r"\x1b\[\?(1049|1047|47|2004|1)([hl])|\x1b\[6n")
_ALT_SCREENS = frozenset({"1049", "1047", "47"})
# Line REPLs that edit with readline/libedit (or their own line reader) and echo a line
# sent whole: the editor may own the keys while they are in front (by /proc comm family).
LINE_PROGRAMS = frozenset(
    {"python", "bc", "dc", "sqlite", "psql", "mysql", "mariadb", "irb", "node", "lua", "gdb"}
)
LINE_PROGRAMS |= {f"{name}-real" for name in LINE_PROGRAMS}  # wrappers' real binaries


class InputMode:
    """What the remote reader wants, from the output's marks and the tty watcher."""

    def __init__(self, *, shell: bool) -> None:
        self.shell = shell  # the session's own process is a shell (its jobs come and go)
        self.fullscreen = False  # the alternate screen is on
        self.keypad = False  # keypad transmit / application cursor keys are on
        self.reading_line = False  # inside readline's bracketed-paste marks
        self.draws_itself = False  # the program in front asked for the cursor position
        self.tty: TtyMode | None = None  # the watcher's last report (None: unknown)
        # A line editor has just taken its line and handed the terminal on: the last report
        # is its own mode, not the next reader's, until the watcher reports again.
        self.tty_stale = False

    def note_mark(self, mark: re.Match[str]) -> None:
        """Take one :data:`MODE_MARK` found in the output."""
        mode, state = mark.group(1), mark.group(2) == "h"
        if mode is None:
            self.draws_itself = True
        elif mode in _ALT_SCREENS:
            self.fullscreen = state
        elif mode == "2004":
            self.reading_line = state
            self.tty_stale = self.tty_stale or not state
        else:
            self.keypad = state

    def note_tty(self, tty: TtyMode | None) -> None:
        """Take a watcher report; a new program in front starts with a clean slate."""
        if tty is None or self.tty is None or tty.program != self.tty.program:
            self.draws_itself = False
        self.tty = tty
        self.tty_stale = False

    @property
    def keys_to_program(self) -> bool:
        """True when keys must go to the remote as typed, not through the editor."""
        if self.fullscreen or self.keypad or self.draws_itself:
            return True
        if self.reading_line:
            return False
        tty = self.tty
        if tty is None or self.tty_stale or tty.canonical:
            return False
        if tty.leader_in_front and not self.shell:
            return False  # the session's own REPL at its prompt
        return program_family(tty.program) not in LINE_PROGRAMS

    @property
    def line_repl_in_front(self) -> bool:
        """True when a line REPL (python, node, bc...) reads the terminal: the session's
        own non-shell program, or one of :data:`LINE_PROGRAMS` started from the shell."""
        tty = self.tty
        if tty is None:
            return not self.shell
        if tty.leader_in_front:
            return not self.shell
        return program_family(tty.program) in LINE_PROGRAMS

    @property
    def python_in_front(self) -> bool:
        """True when the program in front is of the python family (from the watcher)."""
        tty = self.tty
        return tty is not None and program_family(tty.program) in ("python", "pypy")

    @property
    def shell_at_prompt(self) -> bool:
        """True when the session's shell itself is in front, reading a line."""
        tty = self.tty
        return (
            self.shell
            and self.reading_line
            and tty is not None
            and not self.tty_stale
            and tty.leader_in_front
        )

    @property
    def secret(self) -> bool:
        """True when a canonical reader turned echo off (read -s, getpass, sudo)."""
        tty = self.tty
        if tty is None or self.tty_stale or self.reading_line:
            return False
        return tty.canonical and not tty.echo
