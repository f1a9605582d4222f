"""Where the host has no python3: a terminal session under a multiplexer the host has
(dtach, abduco, tmux, screen, in that order), driven in raw passthrough. The process still
outlives the link and the client, and ``--persist NAME`` reattaches to it; what only the
holder gives is missing: byte counts (the tool redraws instead of replaying), automatic
reconnects, pipe mode, ``--sessions`` and ``--kill-session``."""

from __future__ import annotations

import shlex

from remoterepl.session.helpers import side_command
from remoterepl.ssh.connection import Connection

TOOLS = ("dtach", "abduco", "tmux", "screen")
_FIND = side_command(
    f"for t in {' '.join(TOOLS)}; do command -v $t >/dev/null 2>&1 && "
    "{ echo $t; exit 0; }; done; exit 1"
)
# The tools' sockets go where the holder's do (not XDG_RUNTIME_DIR, which logind removes
# with the last login), in a directory only the user can enter.
_DIR = (
    'd="$HOME/.cache/remoterepl/sessions"; umask 077; '
    'mkdir -p "$d" && chmod 700 "$HOME/.cache/remoterepl" "$d" || exit 1; '
)


async def find_tool(connection: Connection) -> str | None:
    """The first of :data:`TOOLS` the host has; None for none."""
    result = await connection.run(_FIND, timeout=30)
    tool = result.stdout.strip()
    return tool if result.exit_status == 0 and tool in TOOLS else None


def tool_command(tool: str, name: str, command: str | None) -> str:
    """The remote command that attaches to session ``name`` under ``tool`` or creates it
    running ``command`` (None: the login shell)."""
    program = f'"$SHELL" -c {shlex.quote(command)}' if command else '"$SHELL" -l'
    session = shlex.quote(f"remoterepl-{name}")
    if tool == "dtach":  # -E: no detach key (that is ~.), -z: Ctrl-Z is the program's
        run = f'exec dtach -A "$d"/{session}.dtach -E -z -r winch {program}'
    elif tool == "abduco":
        run = f'ABDUCO_SOCKET_DIR="$d" exec abduco -A {session} {program}'
    elif tool == "tmux":
        run = f'exec tmux -S "$d"/tmux.sock new-session -A -s {session} {shlex.quote(program)}'
    else:
        run = f'SCREENDIR="$d"/screen exec screen -D -RR -S {session} {program}'
    return side_command(_DIR + run)
