"""Remote output as a line editor must see it: complete lines to print, a partial line to
use as the prompt, and the terminal chatter (readline's bracketed-paste toggles, screen
clears) that would otherwise corrupt the local screen or the prompt."""

from __future__ import annotations

import re

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

    def line_sent(self) -> None:
        """The user accepted a line and the editor printed it with the partial line as its
        prompt (no remote echo to wait for)."""
        self.partial = ""

    def take_partial(self) -> str:
        """Return and forget the partial line."""
        partial, self.partial = self.partial, ""
        return partial


def prompt_text(partial: str) -> str:
    """What of a partial line can be shown as a prompt: text after the last \\r, SGR kept."""
    return _NOT_FOR_PROMPT.sub("", partial.rpartition("\r")[2])
