"""The bottom toolbar: where we are, what runs, whether it is busy, how the link is.

``rrtest@db1:22 via jump1 │ psql │ pty │ running 12s │ exit 0 │ rtt 3 ms │ F2``

"running" counts from the last line sent until the remote shows a prompt (or, for
programs that never prompt, any output) again. The exit status is the one the remote
shell reports through the OSC 133;D shell-integration mark, when it sends one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prompt_toolkit.formatted_text import StyleAndTextTuples

from remoterepl.display import format_duration


@dataclass
class SessionStatus:
    """What the toolbar shows; updated by the front end as things happen."""

    destination: str
    command: str
    pty: bool
    jumps: list[str] = field(default_factory=list)
    busy_since: float | None = None  # monotonic time the last line was sent (or the start)
    remote_spoke: bool = True  # the remote has output something (a PTY session starts False)
    last_exit: int | None = None  # from OSC 133;D, or the remote process at the end
    rtt: float | None = None  # seconds, last keepalive round trip
    health: str = "connected"  # "connected" | "no answer" | "closed"


def remote_ready(status: SessionStatus) -> None:
    """The remote prompts (or answers) again: no longer busy."""
    status.busy_since = None


class Toolbar:
    """Callable formatted text for PromptSession(bottom_toolbar=...); hidden until shown."""

    def __init__(self, status: SessionStatus, *, visible: bool, key_hint: str = "F2") -> None:
        self.status = status
        self.visible = visible
        self.key_hint = key_hint
        self.secret: Callable[[], bool] = lambda: False  # what is typed is a secret

    def toggle(self) -> None:
        """Show or hide the toolbar."""
        self.visible = not self.visible

    def __call__(self) -> StyleAndTextTuples | None:
        """The toolbar's text, or None while hidden (prompt_toolkit then draws nothing)."""
        return self.render(time.monotonic()) if self.visible else None

    def render(self, now: float) -> StyleAndTextTuples:
        """The toolbar's fragments at monotonic time ``now``."""
        status = self.status
        sep = ("class:toolbar.dim", " │ ")
        parts: StyleAndTextTuples = [("class:toolbar.destination", f" {status.destination}")]
        if status.jumps:
            parts.append(("class:toolbar.dim", " via " + " → ".join(status.jumps)))
        if self.secret():  # first: the one thing a long command must not push off
            parts += [sep, ("class:toolbar.busy", "input hidden")]
        parts += [sep, ("", status.command), sep, ("", "pty" if status.pty else "no pty"), sep]
        if status.busy_since is None:
            parts.append(("class:toolbar.idle", "idle"))
        elif not status.remote_spoke:
            parts.append(("class:toolbar.dim", "starting"))
        else:
            parts.append(
                ("class:toolbar.busy", f"running {format_duration(now - status.busy_since)}")
            )
        if status.last_exit is not None:
            style = "class:toolbar.idle" if status.last_exit == 0 else "class:toolbar.bad"
            parts += [sep, (style, f"exit {status.last_exit}")]
        parts.append(sep)
        if status.health != "connected":
            parts.append(("class:toolbar.bad", status.health))
        elif status.rtt is not None:
            parts.append(("", f"rtt {status.rtt * 1000:.0f} ms"))
        else:
            parts.append(("", "connected"))
        parts += [sep, ("class:toolbar.dim", f"{self.key_hint} hides ")]
        return parts
