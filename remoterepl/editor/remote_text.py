"""Remote output as a line editor must see it: complete lines to print, a partial line to
use as the prompt, and the terminal chatter (readline's bracketed-paste toggles and its
newline after an accepted line) that would otherwise corrupt the local screen."""

from __future__ import annotations

import re

BRACKETED_PASTE_ON = "\x1b[?2004h"
# Full-screen programs (less, vi, top) switch to the alternate screen and back.
ALT_SCREEN_ON = re.compile(r"\x1b\[\?(?:1049|1047|47)h")
ALT_SCREEN_OFF = re.compile(r"\x1b\[\?(?:1049|1047|47)l")
_BRACKETED_PASTE = re.compile(r"\x1b\[\?2004[hl]")
# readline accepting a line without echo: bracketed paste off, then its newline.
_READLINE_ACCEPT = re.compile(r"\x1b\[\?2004l\r*\n")
_READLINE_ACCEPT_CUT = re.compile(r"\x1b\[\?2004l\r*$")
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
    """Splits one remote stream into printable complete lines and the pending partial line."""

    def __init__(self) -> None:
        self.partial = ""
        self._readline_active = False  # readline announced itself: it echoes \r\n on accept
        self._swallow_accept_newline = False

    def feed(self, text: str) -> str:
        """Take decoded remote output; return the complete lines (ending in \\n) to print."""
        if BRACKETED_PASTE_ON in text:
            self._readline_active = True
        cut = False
        if "\x1b[?2004l" in text:
            # readline's newline on accepting each line (it does not echo the line itself,
            # and the editor has already moved on): also when several lines went at once.
            text, found = _READLINE_ACCEPT.subn("", text)
            if found:
                self._swallow_accept_newline = False
            cut = _READLINE_ACCEPT_CUT.search(text) is not None  # newline in the next chunk
        text = _BRACKETED_PASTE.sub("", text)
        if self._swallow_accept_newline:
            rest = text.lstrip("\r")
            if not rest:
                return ""
            text = rest[1:] if rest.startswith("\n") else text
            self._swallow_accept_newline = False
        head, newline, self.partial = (self.partial + text).rpartition("\n")
        if cut:
            self._swallow_accept_newline = True
        return head + newline

    def line_sent(self) -> None:
        """The user accepted a line: the partial line was shown as its prompt."""
        self.partial = ""
        self._swallow_accept_newline = self._readline_active
        self._readline_active = False

    def take_partial(self) -> str:
        """Return and forget the partial line (at the end of the session)."""
        partial, self.partial = self.partial, ""
        return partial


def prompt_text(partial: str) -> str:
    """What of a partial line can be shown as a prompt: text after the last \\r, SGR kept."""
    return _NOT_FOR_PROMPT.sub("", partial.rpartition("\r")[2])
