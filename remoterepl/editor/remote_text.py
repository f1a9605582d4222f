"""Remote output as a line editor must see it: complete lines to print, a partial line to
use as the prompt, and the terminal chatter (readline's bracketed-paste toggles, screen
clears) that would otherwise corrupt the local screen or the prompt."""

from __future__ import annotations

import re

from prompt_toolkit.utils import get_cwidth

# A partial line longer than this is output, not a prompt: all but its last screen row is
# painted at once (prompt_toolkit lays a prompt out in time that grows much faster than
# its length: a 1 MiB line froze the client for minutes).
MAX_PROMPT = 4096
_BRACKETED_PASTE = re.compile(r"\x1b\[\?2004[hl]")
# What clears the screen or homes the cursor: painted at once even in an unfinished line
# (`clear` just before the shell's prompt), never kept in the prompt.
SCREEN_RESET = re.compile(r"\x1bc|\x1b\[[23]J|\x1b\[(?:1?;?1?)?H")
# Questions to the terminal (device attributes, status, colours): asked at once, so that
# the answer comes while the program that asked waits for it.
TERMINAL_QUERY = re.compile(
    r"\x1b\[[>=]?0?c|\x1b\[\??[56]n|\x1b\[\??[\d;]*\$p|\x1b\[>0?q|\x1b\[\?u"
    r"|\x1b\][\d;]*;\?(?:\x07|\x1b\\)"
)
_PAINT_AT_ONCE = re.compile(f"{SCREEN_RESET.pattern}|{TERMINAL_QUERY.pattern}")
# Everything a one-line prompt cannot show: OSC strings (titles), non-SGR CSI sequences,
# other escapes and control characters. SGR (colours, `ESC [ ... m`) is kept.
# A partial line in pieces: escape sequences and controls (no width, or moving the cursor)
# and runs of printable text.
_PIECE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]?"
    r"|[\x00-\x1f\x7f]|[^\x00-\x1f\x7f\x1b]+"
)
_NOT_FOR_PROMPT = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b\[[0-?]*[ -/]*[@-ln-~]"
    r"|\x1b\[[<=>?][0-?]*[ -/]*m"  # private "m" sequences (vim's modifyOtherKeys): not SGR
    r"|\x1b(?!\[|\])[ -/]*[0-~]"
    r"|[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]"
)


class OutputSplitter:
    """Splits one remote stream into printable complete lines and the pending partial line.

    With a PTY the remote echoes each line sent (its line editor, or the tty itself), so the
    partial line (its prompt) stays until the echo completes it; without one, the editor
    prints the prompt and line itself and calls :meth:`line_sent`."""

    def __init__(self) -> None:
        self.partial = ""

    def feed(self, text: str) -> str:
        """Take decoded remote output; return the complete lines (ending in \\n) to print."""
        if "\x1b[?2004" in text:
            text = _BRACKETED_PASTE.sub("", text)
        head, newline, self.partial = (self.partial + text).rpartition("\n")
        return head + newline

    def take_screen_reset(self) -> str:
        """The partial line up to its last screen clear (``clear``, ``tput clear``) or
        terminal query, to be painted at once; the rest stays the partial line. "" when
        there is none."""
        if "\x1b" not in self.partial:
            return ""
        ends = [found.end() for found in _PAINT_AT_ONCE.finditer(self.partial)]
        if not ends:
            return ""
        head, self.partial = self.partial[: ends[-1]], self.partial[ends[-1] :]
        return head

    def take_overlong(self, columns: int) -> str:
        """When the partial line is too long to be a prompt, the part of it to paint at
        once; the rest (less than a row) stays the partial line. A line redrawn in place
        (a progress bar's ``\\r  42%``) is cut just after its last carriage return, so the
        cursor is back at the row's start; any other at its last row on a ``columns`` wide
        screen, with the line break the terminal's wrap would make. No line break is
        invented where no row was filled. "" when it is short enough."""
        if len(self.partial) <= MAX_PROMPT:
            return ""
        cut, column = last_row_end(self.partial, max(columns, 1))
        wrap = "\r\n" if column else ""
        if self.partial.find("\r", cut) >= 0:
            carriage = _last_carriage_return(self.partial, cut)
            if carriage >= 0 and len(self.partial) - carriage <= MAX_PROMPT:
                cut, wrap = carriage + 1, ""
        if len(self.partial) - cut > MAX_PROMPT:  # no rows to cut at (escapes, \b)
            cut, wrap = len(self.partial), ""
        head, self.partial = self.partial[:cut], self.partial[cut:]
        return head + wrap

    def line_sent(self) -> None:
        """The user accepted a line and the editor printed it with the partial line as its
        prompt (no remote echo to wait for)."""
        self.partial = ""

    def take_partial(self) -> str:
        """Return and forget the partial line."""
        partial, self.partial = self.partial, ""
        return partial


def last_row_end(text: str, columns: int) -> tuple[int, int]:
    """Where the last screen row that ``text`` fills ends (``text`` starting at column 0;
    escape sequences take no room), and the column there: ``columns`` after a full row, a
    wide character that did not fit wraps early. (0, 0) when no row was filled."""
    cut, cut_column = 0, 0
    column = 0
    for piece in _PIECE.finditer(text):
        run = piece.group()
        if run[0] >= " " and run[0] != "\x7f":
            if run.isascii():
                column %= columns  # a pending wrap is taken by the next character
                filled, column = divmod(column + len(run), columns)
                if filled:
                    cut = piece.end() - column
                    cut_column, column = columns, column or columns
                continue
            for offset, char in enumerate(run):
                width = get_cwidth(char)
                if column + width > columns:
                    if column:
                        cut, cut_column = piece.start() + offset, column
                    column = 0
                column += width
        elif run == "\r":
            column = 0
        elif run == "\b":
            column = max(min(column, columns - 1) - 1, 0)
        elif run == "\t":
            column = min((column // 8 + 1) * 8, columns - 1)
    return cut, cut_column


def _last_carriage_return(text: str, start: int) -> int:
    """Where the last carriage return at or after ``start`` is, not counting one inside an
    escape sequence (cut there, the terminal would take what follows for the sequence);
    -1 when there is none. ``start`` is in printable text or at a piece's start."""
    found = -1
    for piece in _PIECE.finditer(text, start):
        if piece.group() == "\r":
            found = piece.start()
    return found


def prompt_text(partial: str) -> str:
    """What of a partial line can be shown as a prompt: text after the last \\r, SGR kept."""
    return _NOT_FOR_PROMPT.sub("", partial.rpartition("\r")[2])
