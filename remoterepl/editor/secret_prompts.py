"""Recognising a remote prompt that asks for a secret (password, passphrase, PIN, OTP).

The line typed after such a prompt is read without echo and kept out of history,
recordings and logs. Pure and cheap: it runs on every render of the prompt.
"""

from __future__ import annotations

import re

# "Password:", "[sudo] password for x:", "Enter passphrase for key '/k':", "Password for
# user postgres:", "Enter PEM pass phrase:", "(current) UNIX password:", "Passcode or option
# (1-3):", "Verification code:", "PIN for ...:", "OTP:"... The secret word, then anything,
# then ':' or '?' at the very end of the partial line.
_SECRET_WORDS = (
    r"pass(?:word|phrase|code|wd)|pass[ -]phrase|\bpin\b|\botp\b|one[- ]time (?:password|code)"
    r"|verification code|authenticat(?:ion|or) code|security code|2fa|mfa code|token code"
)
SECRET_PROMPT = re.compile(rf"(?i)(?:{_SECRET_WORDS})[^\n]*[:?][ \t]*$")
_SGR = re.compile(r"\x1b\[[0-9;]*m")
MAX_PROMPT = 300  # a longer "prompt" is output, not a question


class SecretPrompts:
    """Decides whether a prompt text asks for a secret; remembers the last answer."""

    def __init__(self, extra: str | None = None) -> None:
        self.extra = re.compile(extra) if extra else None
        self._last: tuple[str, bool] = ("", False)

    def asks_for_secret(self, prompt: str) -> bool:
        """True when ``prompt`` (the remote's partial line) looks like a password prompt."""
        if prompt == self._last[0]:
            return self._last[1]
        text = _SGR.sub("", prompt)[-MAX_PROMPT:] if "\x1b" in prompt else prompt[-MAX_PROMPT:]
        secret = bool(text.strip()) and (
            SECRET_PROMPT.search(text) is not None
            or (self.extra is not None and self.extra.search(text) is not None)
        )
        self._last = (prompt, secret)
        return secret
