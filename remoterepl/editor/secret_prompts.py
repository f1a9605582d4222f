"""Recognising a remote prompt that asks for a secret (password, passphrase, PIN, OTP).

The line typed after such a prompt is read without echo and kept out of history,
recordings and logs. Pure and cheap: it runs on every render of the prompt.
"""

from __future__ import annotations

import re

# "Password:", "[sudo] password for x:", "Enter passphrase for key '/k':", "Password for
# user postgres:", "Enter PEM pass phrase:", "(current) UNIX password:", "Passcode or option
# (1-3):", "Verification code:", "PIN for ...:", "OTP:", "Enter API token:"... The secret
# word, then anything, then ':' or '?' (or their full-width forms) at the very end of the
# partial line.
_SECRET_WORDS = (
    r"pass(?:word|phrase|code|wd)|pass[ -]phrase|\bpin\b|\botp\b|one[- ]time (?:password|code)"
    r"|verification code|authenticat(?:ion|or) code|security code|2fa|mfa code|\btoken\b"
    r"|\bapi[ _-]?key\b|\bsecret\b"
)
# The same in other languages, as sudo, passwd, su and PAM translate it: German, French,
# Spanish, Catalan, Portuguese, Dutch, the Nordic languages, Polish, Czech, Slovak,
# Slovenian, Croatian and Serbian, Hungarian, Romanian, Turkish, the Baltic languages,
# Russian and its neighbours, Greek, Japanese, Chinese, Korean, Vietnamese, Indonesian and
# Malay, Thai, Hebrew, Arabic, Persian, Hindi.
_SECRET_WORDS_ELSEWHERE = (
    r"passwort|kennwort|mot de passe|phrase (?:de )?passe|contrase[nñ]a|contrasenya|\bclave\b"
    r"|\bsenha\b|palavra-passe|wachtwoord|l[öo]senord|\bpassord\b|adgangskode|salasana"
    r"|lykilor[ðd]|\bhas[łl]o\b|\bheslo\b|\bgeslo\b|lozinka|лозинка|jelsz[óo]|\bparol(?:a|ă|e|i)\b"
    r"|\bparool\b|[şs]ifre|slapta[žz]odis|пароль|парола|κωδικ[όο]ς|συνθηματικό|パスワード"
    r"|密码|密碼|口令|암호|비밀번호|패스워드|m[ậa]t kh[ẩa]u|kata (?:sandi|laluan)|รหัสผ่าน"
    r"|סיסמ[הא]|كلمة (?:المرور|السر)|رمز عبور|گذرواژه|पासवर्ड"
)
_QUESTION_ENDS = ":?：？؟"
SECRET_PROMPT = re.compile(
    rf"(?i)(?:{_SECRET_WORDS}|{_SECRET_WORDS_ELSEWHERE})[^\n]*[{_QUESTION_ENDS}][^\S\n]*$"
)
# A question offering a choice ("Reset your password? [y/N]:", "(yes/no)", "[J/n]") wants
# an answer anyone may see, not a secret.
_WORD = r"[^\S\n]*[^\W\d_]{1,5}[^\S\n]*"  # a short word (letters only), maybe spaced
_CHOICE = re.compile(rf"(?i)[\[(]{_WORD}/{_WORD}[/\])]|\b[yn]/[yn]\b")
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
        asks = text.rstrip()[-1:] in _QUESTION_ENDS  # cheap: most prompts end otherwise
        secret = bool(text.strip()) and (
            (asks and SECRET_PROMPT.search(text) is not None and _CHOICE.search(text) is None)
            or (self.extra is not None and self.extra.search(text) is not None)
        )
        self._last = (prompt, secret)
        return secret
