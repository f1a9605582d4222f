"""What a remote COMMAND runs, decided once for everyone who asks: highlighting, the local
prompt, history file names and the config file's ``[[match]] command`` tables.

``sudo -u postgres psql`` runs psql, ``env LANG=C /usr/bin/python3.11 -q`` runs python3.11
(of the python family), and no COMMAND at all is the login shell. Pure functions.
"""

from __future__ import annotations

import os
import re
import shlex

SHELLS = frozenset(
    {"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "busybox", "yash", "fish", "tcsh", "csh"}
)
# Commands that run another command, and their options that take a separate value.
_WRAPPERS: dict[str, frozenset[str]] = {
    "sudo": frozenset({"-u", "-g", "-U", "-C", "-D", "-p", "-r", "-t", "-T", "-h"}),
    "doas": frozenset({"-u", "-C"}),
    "env": frozenset({"-u", "-C", "-S"}),
    "nice": frozenset({"-n"}),
    "ionice": frozenset({"-c", "-n", "-p"}),
    "exec": frozenset({"-a"}),
    "command": frozenset(),
    "nohup": frozenset(),
    "stdbuf": frozenset(),
    "time": frozenset({"-f", "-o"}),
    "chroot": frozenset(),
    "setsid": frozenset(),
}
_VERSION = re.compile(r"[\d.]+$")


def command_words(command: str | None) -> list[str]:
    """The words of ``command`` as a shell would split them (plain splitting when its
    quotes do not balance)."""
    try:
        return shlex.split(command or "")
    except ValueError:
        return (command or "").split()


def program_of(command: str | None) -> str:
    """The program a command line runs, past ``sudo``/``env``/``VAR=x`` and options of
    those wrappers, without its directory; ``""`` for the login shell."""
    value_options: frozenset[str] = frozenset()
    takes_value = False
    for word in command_words(command):
        if takes_value:
            takes_value = False
            continue
        if "=" in word and not word.startswith(("-", "/")):
            continue  # VAR=value
        base = os.path.basename(word)
        if base in _WRAPPERS:
            value_options = _WRAPPERS[base]
            continue
        if word.startswith("-"):
            takes_value = word in value_options
            continue
        return base
    return ""


def program_family(command: str | None) -> str:
    """The program without its version suffix, in lower case (``python3.11`` ->
    ``python``): what highlighting and shell detection go by."""
    return _VERSION.sub("", program_of(command).lower())


def is_shell(command: str | None) -> bool:
    """True for the login shell and for ``sh``/``bash``/... commands."""
    return command is None or program_family(command) in SHELLS
