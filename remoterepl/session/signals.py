"""Which route a signal takes to the remote foreground work, surest first.

- With a PTY, INT/QUIT/TSTP go as the terminal's control characters: the line discipline
  signals the foreground job, for every login (measured with OpenSSH, root included).
- Otherwise a signal request, where the server honours it: OpenSSH since 7.9 does, except
  for root logins (it needs privilege separation), and then it reaches the session's
  shell, not the job in front.
- For OpenSSH servers where the request would miss, a helper on a second channel signals
  the session's processes (:func:`~remoterepl.session.helpers.kill_script`).
"""

from __future__ import annotations

import re

# A PTY's line discipline turns these into signals for the foreground job.
PTY_SIGNAL_KEYS = {"INT": b"\x03", "QUIT": b"\x1c", "TSTP": b"\x1a"}
PTY_INTERRUPT = PTY_SIGNAL_KEYS["INT"]
PTY_EOF = b"\x04"  # VEOF at the start of a line: end of input for the foreground job

_OPENSSH = re.compile(r"OpenSSH_(\d+)\.(\d+)")


def signal_requests_honoured(server_version: str, username: str) -> bool | None:
    """Whether the server acts on signal requests: OpenSSH since 7.9 does, except for
    root logins; None for servers we cannot judge (not OpenSSH)."""
    found = _OPENSSH.search(server_version)
    if found is None:
        return None
    if (int(found[1]), int(found[2])) < (7, 9):
        return False
    return username != "root"
