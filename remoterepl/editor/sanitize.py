"""Dropping dangerous terminal control strings from remote output (--strip-escapes).

A hostile or compromised host can set the window title (and, on terminals that answer a
title query, type it back), write the clipboard (OSC 52), talk to the terminal itself (DCS,
APC, PM, SOS), ask for reports that land in the input stream, or hide text behind 8-bit
C1 controls. With stripping on, those are removed; colours (SGR), cursor movement and the
alternate screen (full-screen programs) are kept.
"""

from __future__ import annotations

import re

# Complete dangerous sequences:
# - OSC / DCS / SOS / PM / APC strings up to BEL or ST (ESC \\),
# - CSI reports and window operations: DSR (n), DA (c), window ops (t), DECRQM ($p),
#   and anything with a private final for requests (q: DECRQSS-like, DECSCUSR is harmless
#   but rarely needed here),
# - C1 control characters (U+0080..U+009F), which some terminals obey in UTF-8 mode.
_DANGEROUS = re.compile(
    r"\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)"
    r"|\x1b\[[0-?]*[ -/]*[nct]"
    r"|\x1b\[[0-?]*\$p"
    r"|[\x80-\x9f]"
)
# What the user typed literally (Ctrl-Q ^[): C0 controls but Tab and newline, DEL, C1.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def caret_notation(text: str) -> str:
    """Control characters as the input line shows them (``^[``, ``^?``, ``<9b>``): a
    typed line printed above the prompt never drives the terminal."""

    def caret(found: re.Match[str]) -> str:
        code = ord(found.group())
        return f"<{code:02x}>" if code > 0x7F else f"^{chr(code ^ 0x40)}"

    return CONTROL_CHARACTER.sub(caret, text)


# A dangerous sequence that has started but not ended in this chunk.
_UNFINISHED = re.compile(r"\x1b(?:[\]PX^_][^\x07\x1b]*\x1b?|\[[0-?]*[ -/$]*)?$")
MAX_PENDING = 64 * 1024  # a string never terminated is dropped, not held forever


class EscapeStripper:
    """Stateful filter: sequences split across output chunks are still caught."""

    def __init__(self) -> None:
        self._pending = ""
        self._in_string = False  # inside an over-long control string: drop to its end

    def feed(self, text: str) -> str:
        """Return ``text`` without dangerous sequences (may hold back an unfinished one)."""
        if self._pending:
            text, self._pending = self._pending + text, ""
        if self._in_string:
            end = re.search(r"\x07|\x1b\\", text)
            if end is None:
                return ""
            text = text[end.end() :]
            self._in_string = False
        if "\x1b" not in text and not _has_c1(text):
            return text
        text = _DANGEROUS.sub("", text)
        unfinished = _UNFINISHED.search(text)
        if unfinished:
            tail = text[unfinished.start() :]
            text = text[: unfinished.start()]
            if len(tail) <= MAX_PENDING:
                self._pending = tail
            else:
                self._in_string = tail[1:2] in "]PX^_"
        return text


_C1 = re.compile(r"[\x80-\x9f]")


def _has_c1(text: str) -> bool:
    return not text.isascii() and _C1.search(text) is not None
