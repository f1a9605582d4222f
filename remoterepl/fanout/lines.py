"""One host's output stream as whole, safe lines: what a labelled line may show.

A labelled line is not a screen: every terminal control goes but colours (SGR), so remote
output can neither act on our terminal (a clipboard write, a title, bracketed paste) nor
move the cursor over another host's label; C1 controls go too. Of a line overwritten with
carriage returns (a progress bar) the last state is kept, as the terminal would show it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# A partial line longer than this is passed on as a line of its own: one host writing
# megabytes without a newline must cost neither quadratic time nor unbounded memory.
MAX_LINE = 64 * 1024
RESET = b"\x1b[0m"
_SGR = rb"\x1b\[[0-9;:]*m"
_UNSAFE = re.compile(
    rb"(" + _SGR + rb")"  # colours stay (group 1)
    rb"|\x1b\[[\x20-\x3f]*[\x40-\x7e]?"  # any other CSI, even cut short
    rb"|\x1b[\]P^_X][^\x07\x1b\x18\x1a]*(?:\x07|\x1b\\)?"  # OSC, DCS, PM, APC, SOS
    rb"|\x1b[\x20-\x2f]*[\x30-\x7e]?"  # other escapes (charsets, keypad modes)
    rb"|[\x00-\x08\x0a-\x1a\x1c-\x1f\x7f\x1b]"  # C0 controls but tab; a lone ESC
    rb"|\xc2[\x80-\x9f]"  # C1 controls, as UTF-8 encodes them
)

_ANY_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]|\xc2[\x80-\x9f]")


def clean(line: bytes) -> bytes:
    """``line`` (no newline) as it may be shown after a label: controls dropped but
    colours, which are reset at its end."""
    line = line.rstrip(b"\r")
    if b"\r" in line:
        line = line.rsplit(b"\r", 1)[1]
    if not _ANY_CONTROL.search(line):
        return line
    cleaned = _UNSAFE.sub(lambda m: m[1] or b"", line)
    return cleaned + RESET if b"\x1b[" in cleaned else cleaned


class LineJoiner:
    """Bytes in, whole clean lines out, for one host's stream; the rest waits.

    After a line was sent to an interactive host, what it had shown of a line (its prompt:
    the editor has shown the line after its own prompt) is dropped, and so is the empty
    line its readline prints for the Enter."""

    def __init__(self) -> None:
        self._partial = bytearray()
        self._after_enter = False

    def feed(self, data: bytes) -> list[bytes]:
        """The complete lines ``data`` finishes (a too long partial counts as one)."""
        if b"\n" not in data:
            self._partial += data
            if len(self._partial) < MAX_LINE:
                return []
            raw = [bytes(self._partial)]
            self._partial = bytearray()
        else:
            head, *middle, tail = data.split(b"\n")
            raw = [bytes(self._partial) + head, *middle]
            self._partial = bytearray(tail)
        lines = [clean(line) for line in raw]
        if self._after_enter:
            self._after_enter = False
            if not lines[0]:
                del lines[0]
        return lines

    def take_partial(self) -> bytes | None:
        """The unfinished line, clean, if any (it is then gone)."""
        text = clean(bytes(self._partial))
        self._partial = bytearray()
        return text or None

    @property
    def partial(self) -> bytes:
        """The unfinished line as it stands, clean (a prompt, often)."""
        return clean(bytes(self._partial)) if self._partial else b""

    def line_sent(self) -> None:
        """A line went to the host: what it showed of a line was its prompt."""
        self._partial = bytearray()
        self._after_enter = True


def common_prompt(joiners: Sequence[LineJoiner]) -> bytes | None:
    """The partial line every one of ``joiners`` shows, when they agree (``>>> ``)."""
    partials = {joiner.partial for joiner in joiners}
    if len(partials) == 1:
        (prompt,) = partials
        return prompt or None
    return None
