"""ssh-style escape sequences: the escape character (``~``) typed at the start of a line,
followed by a command key. Pure: the front ends decide what each action does."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


class Action(enum.Enum):
    """What an escape asks for."""

    DISCONNECT = "disconnect"
    HELP = "help"
    BREAK = "break"
    SIGNAL = "signal"
    LITERAL = "literal"  # the escape character twice: send it once
    SUSPEND = "suspend"  # stop remoterepl itself (ssh's ~^Z)
    FORWARDS = "forwards"  # list the forwarded ports (ssh's ~#)
    HOSTS = "hosts"  # many hosts: list them, then drop or add one again


@dataclass(frozen=True)
class Escape:
    """One escape: its key, its action and, for SIGNAL, the signal name."""

    key: str
    action: Action
    description: str
    signal: str | None = None


ESCAPES: dict[str, Escape] = {
    e.key: e
    for e in (
        Escape(".", Action.DISCONNECT, "disconnect (exit status 255)"),
        Escape("?", Action.HELP, "this help"),
        Escape("B", Action.BREAK, "send a BREAK to the remote"),
        Escape("#", Action.FORWARDS, "list forwarded ports (-L/-R/-D)"),
        Escape("\x1a", Action.SUSPEND, "suspend remoterepl (fg resumes it)"),
        Escape("I", Action.SIGNAL, "send SIGINT", "INT"),
        Escape("Q", Action.SIGNAL, "send SIGQUIT", "QUIT"),
        Escape("T", Action.SIGNAL, "send SIGTERM", "TERM"),
        Escape("H", Action.SIGNAL, "send SIGHUP", "HUP"),
        Escape("K", Action.SIGNAL, "send SIGKILL", "KILL"),
        Escape("1", Action.SIGNAL, "send SIGUSR1", "USR1"),
        Escape("2", Action.SIGNAL, "send SIGUSR2", "USR2"),
    )
}


#: A many-hosts session's own escapes, on top of :data:`ESCAPES`.
FLEET_ESCAPES: dict[str, Escape] = {
    "h": Escape("h", Action.HOSTS, "list the hosts; then -NAME drops one, +NAME adds it again"),
}


def lookup(escape_char: str, key: str, extra: Mapping[str, Escape] | None = None) -> Escape | None:
    """The escape that ``key`` completes (the escape character itself: LITERAL); ``extra``
    escapes are the front end's own (:data:`FLEET_ESCAPES`)."""
    if key == escape_char:
        return Escape(key, Action.LITERAL, f"send a literal {printable(escape_char)}")
    return ESCAPES.get(key) or (extra or {}).get(key)


def printable(char: str) -> str:
    """``~`` stays ``~``; control characters show as ``^X``."""
    return f"^{chr(ord(char) | 0x40)}" if ord(char) < 0x20 else char


def help_text(escape_char: str, extra: Mapping[str, Escape] | None = None) -> str:
    """The ``~?`` help, one escape per line."""
    shown = printable(escape_char)
    lines = [f"Escapes (typed at the start of a line, after {shown}):"]
    escapes = [*ESCAPES.values(), *(extra or {}).values()]
    lines += [f"  {shown}{printable(e.key)}  {e.description}" for e in escapes]
    lines.append(f"  {shown}{shown}  send a literal {shown}")
    return "\n".join(lines) + "\n"


class EscapeScanner:
    """Finds escapes in raw keystrokes (passthrough mode), as ssh's client does."""

    def __init__(self, escape_char: str) -> None:
        self.escape_char = escape_char.encode()
        self._at_line_start = True
        self._pending_escape = False

    def feed(self, data: bytes) -> list[bytes | Escape]:
        """Split keystrokes into bytes to send and escapes to act on, in order."""
        out: list[bytes | Escape] = []
        plain = bytearray()
        for byte in data:
            char = bytes([byte])
            if self._pending_escape:
                self._pending_escape = False
                escape = lookup(self.escape_char.decode(), char.decode("latin-1"))
                if escape is None:
                    plain += self.escape_char + char
                elif escape.action is Action.LITERAL:
                    plain += self.escape_char
                else:
                    if plain:
                        out.append(bytes(plain))
                        plain.clear()
                    out.append(escape)
                self._at_line_start = char in (b"\r", b"\n")
                continue
            if self._at_line_start and char == self.escape_char:
                self._pending_escape = True
                continue
            plain += char
            self._at_line_start = char in (b"\r", b"\n")
        if plain:
            out.append(bytes(plain))
        return out
