"""``--sessions`` and ``--kill-session``: the remote user's sessions, by their holders."""

from __future__ import annotations

import json
import time
from typing import Any

from remoterepl.display import format_duration, shown
from remoterepl.persist.link import run_holder
from remoterepl.ssh.connection import Connection

KILLED, NO_SUCH_SESSION = 0, 1  # the holder's kill statuses, and ours


async def list_sessions(connection: Connection) -> list[dict[str, Any]]:
    """One dict per live or exited session (the holder's PROBE answers), by name."""
    _status, out = await run_holder(connection, "list")
    sessions = []
    for line in out.splitlines():
        try:
            sessions.append(json.loads(line))
        except ValueError:
            continue
    return sorted(sessions, key=lambda session: str(session.get("name")))


async def kill_session(connection: Connection, name: str) -> bool:
    """End session ``name``; False if there was none."""
    status, _out = await run_holder(connection, "kill", name)
    return status == KILLED


def session_table(sessions: list[dict[str, Any]]) -> list[str]:
    """Aligned lines: a header, then NAME COMMAND STATE IDLE for each session."""
    rows = [("NAME", "STATE", "IDLE", "COMMAND")]
    for session in sessions:
        rows.append(
            (
                shown(str(session.get("name", "?"))),
                _state(session),
                _idle(session.get("idle")),
                shown(session.get("command") or "(login shell)"),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)]
        lines.append("  ".join([*cells, row[3]]))
    return lines


def _state(session: dict[str, Any]) -> str:
    state = str(session.get("state", "?"))
    if state != "exited":
        return state
    if session.get("signal"):
        return f"exited (SIG{session['signal']})"
    return f"exited ({session.get('status')})"


def _idle(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "?"
    if seconds < 86400:
        return format_duration(seconds)
    return time.strftime("%Y-%m-%d", time.localtime(time.time() - seconds))
