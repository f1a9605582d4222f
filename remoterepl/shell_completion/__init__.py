"""``remoterepl --completion bash|zsh|fish``: completion scripts generated from the
argparse parser, so an option added to ``arguments.build_parser`` is completed without editing
them. Host names come from ``remoterepl --complete-hosts [-F FILE]`` (one per line,
:mod:`remoterepl.ssh.hostnames`): one implementation for the three shells.

What an option's argument completes to is read from its metavar: a ``FILE`` metavar
completes file names, one that starts with ``HOST`` (or ``[USER@]HOST``) host names (a
comma-separated list: ``-J``), choices
their values; anything else nothing special.
"""

from __future__ import annotations

import argparse
import enum
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

SHELLS = ("bash", "zsh", "fish")
COMPLETE_HOSTS = "--complete-hosts"  # hidden: what the scripts run for host names
CONFIG_OPTION = "-F"  # the ssh_config file whose Host aliases are offered


class Argument(enum.Enum):
    """What an option's argument completes to."""

    NONE = "none"  # the option takes no argument
    FILE = "file"
    HOSTS = "hosts"  # [user@]host[,...]
    CHOICE = "choice"
    WORD = "word"  # anything: nothing to offer


@dataclass(frozen=True)
class Option:
    """One option of the parser, as the completion scripts see it."""

    flags: tuple[str, ...]
    help: str
    argument: Argument
    metavar: str = ""
    choices: tuple[str, ...] = ()
    repeatable: bool = False
    excludes: tuple[str, ...] = ()  # flags of options that cannot go with this one

    @property
    def shorts(self) -> list[str]:
        """The one-letter flags (``-p``)."""
        return [flag for flag in self.flags if not flag.startswith("--")]

    @property
    def longs(self) -> list[str]:
        """The long flags (``--config``)."""
        return [flag for flag in self.flags if flag.startswith("--")]


def _argument(action: argparse.Action) -> tuple[Argument, str]:
    if action.nargs == 0:
        return Argument.NONE, ""
    metavar = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
    if action.choices is not None:
        return Argument.CHOICE, metavar
    if "FILE" in metavar:
        return Argument.FILE, metavar
    if metavar.startswith(("HOST", "[USER@]HOST")):  # -J; not -L's [BIND:]PORT:HOST:...
        return Argument.HOSTS, metavar
    return Argument.WORD, metavar


def options(parser: argparse.ArgumentParser) -> list[Option]:
    """The parser's options in --help order (hidden ones left out)."""
    exclusive: dict[argparse.Action, set[str]] = {}
    for group in parser._mutually_exclusive_groups:
        for action in group._group_actions:
            others = (other for other in group._group_actions if other is not action)
            exclusive.setdefault(action, set()).update(
                flag for other in others for flag in other.option_strings
            )
    found = []
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        argument, metavar = _argument(action)
        repeatable = isinstance(action, argparse._AppendAction | argparse._CountAction)
        excludes = set(exclusive.get(action, ()))
        if isinstance(action, argparse._HelpAction):
            excludes.update(("-", "*"))  # after -h nothing else matters
        found.append(
            Option(
                flags=tuple(action.option_strings),
                help=(action.help or "") % {"prog": parser.prog, "default": action.default},
                argument=argument,
                metavar=metavar,
                choices=tuple(str(choice) for choice in action.choices or ()),
                repeatable=repeatable,
                excludes=tuple(sorted(excludes)),
            )
        )
    return found


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script for ``shell`` (one of :data:`SHELLS`)."""
    from remoterepl.shell_completion import bash, fish, zsh

    generate = {"bash": bash.script, "zsh": zsh.script, "fish": fish.script}[shell]
    return generate(parser.prog, options(parser))


class CompletionAction(argparse.Action):
    """--completion SHELL: the script, generated from the parser it belongs to, then exit."""

    def __call__(
        self, parser: argparse.ArgumentParser, _namespace: object, shell: Any, *_args: object
    ) -> None:
        sys.stdout.write(script(str(shell), parser))  # argparse's exit() writes to stderr
        parser.exit(0)


def add_option(add: Callable[..., argparse.Action]) -> None:
    """Add ``--completion SHELL`` with ``add`` (a parser's add_argument)."""
    add(
        "--completion",
        action=CompletionAction,
        metavar="SHELL",
        choices=SHELLS,
        help="print the completion script for SHELL (bash, zsh or fish) and exit",
    )


def complete_hosts(argv: Sequence[str]) -> int:
    """``--complete-hosts [-F FILE]`` (hidden; what the scripts run): the host names
    DESTINATION completes to, one a line. Never fails: other words are ignored, as a
    half-typed command line may hold anything."""
    config_file = None
    for i, arg in enumerate(argv):
        if arg == CONFIG_OPTION and i + 1 < len(argv):
            config_file = argv[i + 1]
        elif arg.startswith(CONFIG_OPTION) and len(arg) > len(CONFIG_OPTION):
            config_file = arg[len(CONFIG_OPTION) :]
    from remoterepl.ssh import hostnames

    sys.stdout.write(
        "".join(name + "\n" for name in hostnames.completion_hosts(config_file or None))
    )
    return 0


def flags_of(found: list[Option], *kinds: Argument) -> list[str]:
    """The flags of the options whose argument is one of ``kinds``."""
    return [flag for option in found if option.argument in kinds for flag in option.flags]


def value_flags(found: list[Option]) -> list[str]:
    """The flags that take a value word."""
    return [
        flag for option in found if option.argument is not Argument.NONE for flag in option.flags
    ]


def function_name(prog: str) -> str:
    """A shell function name made from the program's name."""
    return "_" + "".join(char if char.isalnum() else "_" for char in prog)
