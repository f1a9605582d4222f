"""Text from the user (host names, paths, option values) as it may appear in a message:
one helper, used by every message that quotes such text, so that a name holding control
characters can neither split a message into lines nor send live escape sequences to the
terminal (OpenSSH runs its messages through strvis(3) for the same reason)."""

from __future__ import annotations

import unicodedata

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\x1b": "\\e"}
# Control (Cc), format (Cf: bidi overrides, zero-width), line/paragraph separators, and
# lone surrogates (undecodable argv bytes, kept by Python's surrogateescape).
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as surrogateescape keeps it
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: str) -> str:
    """``text`` with every character a terminal would act on written as an escape
    (``\\e``, ``\\n``, ``\\x07``, ``\\u202e``...); everything else, backslashes included,
    unchanged, so showing a shown text again changes nothing."""
    if text.isprintable():  # the common case, fast
        return text
    return "".join(
        _escape(c) if c != " " and unicodedata.category(c) in _ESCAPED_CATEGORIES else c
        for c in text
    )


def format_duration(seconds: float) -> str:
    """``7s``, ``3m05s``, ``2h01m``."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
