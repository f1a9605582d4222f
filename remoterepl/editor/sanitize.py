"""Dropping dangerous terminal control strings from remote output (--strip-escapes).

A hostile or compromised host can set the window title (and, on terminals that answer a
title query, type it back), write the clipboard (OSC 52), talk to the terminal itself (DCS,
APC, PM, SOS, screen's ``ESC k`` name), ask for reports that land in the input stream, or
hide text behind 8-bit C1 controls. With stripping on, those are removed; colours (SGR),
cursor movement and the alternate screen (full-screen programs) are kept. So are the
mouse and focus reporting modes (``?1000h``, ``?1003h``, ``?1004h``), deliberately: the
program that turned them on wants those reports, and a terminal sends them only on a
click or a focus change. What is stripped is what the terminal would answer into the
input unasked, as if typed.

The output is parsed as a terminal parses it (the DEC/ECMA-48 state machine of vt100.net's
parser diagram, with xterm's rules): a control string ends at its terminator, at any ESC
(which starts the next sequence), at CAN/SUB and at any C1 control, so nothing that follows
an aborted string is lost or mistaken for it. Unlike a terminal, a string also ends at a
newline: under stripping it would only hide the output after it. The state carries across
chunks in bounded memory (a sequence longer than :data:`MAX_SEQUENCE` is dropped whole).
A library parser would not do: the sequences that are kept must pass through verbatim.
"""

from __future__ import annotations

import enum
import re

MAX_SEQUENCE = 512  # longer escape/CSI sequences are dropped (xterm keeps 30 parameters)


class _State(enum.Enum):
    GROUND = enum.auto()
    ESCAPE = enum.auto()  # after ESC (and intermediates): held back until its final
    CSI = enum.auto()  # held back until its final byte
    CSI_IGNORE = enum.auto()  # dropped up to its final byte (too long, or 8-bit CSI)
    STRING = enum.auto()  # OSC/DCS/SOS/PM/APC/ESC k: dropped up to its end


_GROUND_RUN = re.compile(r"[^\x05\x1b\x80-\x9f]+")
# What ends a control string: ST/ESC, CAN, SUB, any C1, a newline (ours), BEL for OSC-likes.
_STRING_BODY_BEL_ENDS = re.compile(r"[^\x07\n\x18\x1a\x1b\x80-\x9f]+")
_STRING_BODY = re.compile(r"[^\n\x18\x1a\x1b\x80-\x9f]+")
_CSI_BODY = re.compile(r"[\x20-\x3f]+")  # parameter and intermediate bytes
_CSI_WELL_FORMED = re.compile(r"[\x30-\x3f]*[\x20-\x2f]*")  # a parameter after an
# intermediate makes a terminal ignore the sequence (vt100.net's csi_ignore)
# Questions to the terminal, whose answers would arrive as typed input: DSR, DA, window
# ops and reports, DECREQTPARM, DECRQM, DECRQPSR, DECRQTSR, DECRQCRA, XTVERSION, the kitty
# keyboard query, XTQMODKEYS, XTSMGRAPHICS, XTREPORTCOLORS (``#R``), DECRQUPSS (``&u``).
_QUERY = re.compile(
    r"[<=>?]?[\d;:]*(?:[nctx]|\$[pwu]|\*y)|>[\d;]*q|\?[\d;]*[umS]|[\d;]*(?:#R|&u)",
)
_DECID = "Z"  # ESC Z: answered like DA
_OSC_LIKE_INTRODUCERS = {"]": True, "k": True, "P": False, "X": False, "^": False, "_": False}
# 8-bit introducers (decoded C1 code points): DCS, SOS, OSC, PM, APC -> BEL ends it?
_C1_STRINGS = {"\x90": False, "\x98": False, "\x9d": True, "\x9e": False, "\x9f": False}
_CSI_8BIT = "\x9b"
_CANCEL = "\x18\x1a"  # CAN, SUB: abort any sequence (and pass on, as terminals execute them)
_ENQ = "\x05"  # answered with the answerback string: a query too


def _is_c1(char: str) -> bool:
    return "\x80" <= char <= "\x9f"


class EscapeStripper:
    """Stateful filter: sequences split across output chunks are still caught, and a
    chunking never changes the result."""

    def __init__(self) -> None:
        self._state = _State.GROUND
        self._held = ""  # the escape or CSI sequence being read (at most MAX_SEQUENCE)
        self._bel_ends = False  # the string being dropped ends at BEL (OSC, ESC k)

    @property
    def held(self) -> int:
        """Characters held back for a sequence not yet complete."""
        return len(self._held)

    def feed(self, text: str) -> str:
        """Return ``text`` without dangerous sequences (may hold back an unfinished one)."""
        if self._state is _State.GROUND and _GROUND_RUN.fullmatch(text):
            return text  # the common case: plain text and C0 controls
        out: list[str] = []
        at, end = 0, len(text)
        while at < end:
            state = self._state
            if state is _State.GROUND:
                run = _GROUND_RUN.match(text, at)
                if run:
                    out.append(run.group())
                    at = run.end()
                    continue
                self._ground_control(text[at])
            elif state is _State.STRING:
                body = (_STRING_BODY_BEL_ENDS if self._bel_ends else _STRING_BODY).match(text, at)
                if body:
                    at = body.end()
                    continue
                self._end_string(text[at], out)
            elif state is _State.ESCAPE:
                self._escape(text[at], out)
            else:
                body = _CSI_BODY.match(text, at)
                if body:
                    self._hold(body.group(), ignore=_State.CSI_IGNORE)
                    at = body.end()
                    continue
                self._csi(text[at], out)
            at += 1
        return "".join(out)

    # -- the states ------------------------------------------------------------------------

    def _hold(self, text: str, ignore: _State) -> None:
        """Add to the held sequence; past the limit drop it and go to ``ignore``."""
        if self._state is _State.CSI_IGNORE:
            return
        if len(self._held) + len(text) > MAX_SEQUENCE:
            self._held = ""
            self._state = ignore
        else:
            self._held += text

    def _ground_control(self, char: str) -> None:
        if char == "\x1b":
            self._state, self._held = _State.ESCAPE, char
        elif _is_c1(char):
            self._c1(char)
        # else ENQ: dropped

    def _c1(self, char: str) -> None:
        """An 8-bit control: strings and CSI are dropped whole, every other C1 alone."""
        self._held = ""
        if char in _C1_STRINGS:
            self._state, self._bel_ends = _State.STRING, _C1_STRINGS[char]
        elif char == _CSI_8BIT:
            self._state = _State.CSI_IGNORE
        else:
            self._state = _State.GROUND  # ST and other C1 controls: dropped

    def _abort(self, char: str, out: list[str]) -> None:
        """A character that ends the held sequence without completing it."""
        self._held = ""
        self._state = _State.GROUND
        if char == "\x1b":
            self._state, self._held = _State.ESCAPE, char
        elif _is_c1(char):
            self._c1(char)
        elif char != _ENQ:
            out.append(char)  # CAN, SUB, a newline ending a string, a printable character

    def _end_string(self, char: str, out: list[str]) -> None:
        if char in "\x07\x9c":  # BEL (OSC-likes), ST
            self._state = _State.GROUND
        else:  # ESC (maybe the start of ST: ESC \ is dropped in _escape), CAN, SUB, C1, \n
            self._abort(char, out)

    def _escape(self, char: str, out: list[str]) -> None:
        if "\x20" <= char <= "\x2f":  # intermediate
            self._hold(char, ignore=_State.GROUND)
        elif self._held == "\x1b" and char == "[":
            self._state, self._held = _State.CSI, "\x1b["
        elif self._held == "\x1b" and char in _OSC_LIKE_INTRODUCERS:
            self._state, self._held = _State.STRING, ""
            self._bel_ends = _OSC_LIKE_INTRODUCERS[char]
        elif "\x30" <= char <= "\x7e":  # final
            # A lone ST ends nothing, DECID is a query: both dropped.
            if self._held != "\x1b" or char not in "\\" + _DECID:
                out.append(self._held + char)
            self._state, self._held = _State.GROUND, ""
        else:
            self._control_inside(char, out)

    def _csi(self, char: str, out: list[str]) -> None:
        if "\x40" <= char <= "\x7e":  # final
            body = self._held[2:] + char
            if (
                self._state is _State.CSI
                and _CSI_WELL_FORMED.fullmatch(body[:-1])
                and not _QUERY.fullmatch(body)
            ):
                out.append(self._held + char)
            self._state, self._held = _State.GROUND, ""
        else:
            self._control_inside(char, out)

    def _control_inside(self, char: str, out: list[str]) -> None:
        """Inside an escape or CSI sequence: C0 controls act at once and the sequence goes
        on, DEL is ignored; ESC, CAN, SUB, C1 and other characters end it unfinished."""
        if char == "\x7f":
            return
        if char < "\x20" and char not in "\x1b" + _CANCEL:
            if char != _ENQ:
                out.append(char)
            return
        self._abort(char, out)


# What the user typed literally (Ctrl-Q ^[): C0 controls but Tab and newline, DEL, C1.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def caret_notation(text: str) -> str:
    """Control characters as the input line shows them (``^[``, ``^?``, ``<9b>``): a
    typed line printed above the prompt never drives the terminal."""

    def caret(found: re.Match[str]) -> str:
        code = ord(found.group())
        return f"<{code:02x}>" if code > 0x7F else f"^{chr(code ^ 0x40)}"

    return CONTROL_CHARACTER.sub(caret, text)
