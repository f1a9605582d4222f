"""Shell snippets remoterepl runs on a second channel of the session's own connection.

OpenSSH runs one server process per connection, and every channel's command is a child of
it: the children of the helper's parent (``$PPID``), other than the helper itself and the
server's own children (an ``internal-sftp`` fork is named ``sshd``, an external
``sftp-server``) and remoterepl's tty watcher, are the processes of the session.
Everything here relies on that, so it is used only with OpenSSH servers (see
:mod:`~remoterepl.session.signals`) or where a wrong answer costs nothing (completion's
working directory).
"""

from __future__ import annotations

import shlex

WATCHER_NAME = "remoterepl-tty"  # the tty watcher's process name (ttywatch.py): not ours
# The one sibling filter: "$p" runs through the session's processes, ending in "; done".
_EACH_SESSION_PROCESS = (
    'for p in $(pgrep -P "$PPID" 2>/dev/null); do [ "$p" = "$$" ] && continue; '
    'case "$(cat "/proc/$p/comm" 2>/dev/null)" in '
    f"sshd*|sftp-server|{WATCHER_NAME}) continue;; esac; "
)


def _for_each_session_process(body: str) -> str:
    return f"{_EACH_SESSION_PROCESS}{body}; done"


def side_command(script: str) -> str:
    """Run ``script`` with sh whatever the login shell is; ``exec`` keeps the process a
    direct child of the server's connection process, which the sibling filter relies on."""
    return f"exec sh -c {shlex.quote(script)}"


def kill_script(signal_name: str) -> str:
    """Signal (``"TERM"``) what a local terminal would: for each session process, the
    foreground process group of its terminal if it has one, else its own group. Exits
    non-zero when nothing was signalled."""
    kill = (
        "fg=$(ps -o tpgid= -p \"$p\" | tr -d ' '); "
        'if [ "${fg:--1}" -gt 0 ]; then t=$fg; else t=$p; fi; '
        f'kill -s {signal_name} -- "-$t" && sent=1'
    )
    return side_command(f'sent=0; {_for_each_session_process(kill)}; [ "$sent" = 1 ]')


#: The working directory of each session process, one per line.
CWD_SCRIPT = side_command(_for_each_session_process('readlink "/proc/$p/cwd"'))

#: Every command name on the remote PATH (bash's ``compgen -c`` where there is bash).
COMMAND_NAMES_SCRIPT = side_command(
    'if command -v bash >/dev/null 2>&1; then exec bash -c "compgen -c"; fi; '
    'IFS=:; for d in $PATH; do ls "$d" 2>/dev/null; done'
)
