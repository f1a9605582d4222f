"""The ssh-compatible option set: the argparse parser behind ``--help``, the man page's
OPTIONS (scripts/man) and the shell completion scripts, and how options after DESTINATION
are found. Parsing only: :mod:`remoterepl.cli` turns the result into Settings."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence
from typing import Any, NoReturn, Protocol, TypeVar

from remoterepl import __version__, forwards, shell_completion
from remoterepl.environment import PROG
from remoterepl.errors import UsageError


class _Adds(Protocol):
    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action: ...


_Container = TypeVar("_Container", bound=_Adds)
EPILOG = """\
Interactive when stdin and stdout are terminals (line editing, Ctrl-C interrupts the
remote work, Ctrl-D ends its input); otherwise a byte-exact pipe.
Exit status: the remote one; 128+N if it died of signal N; 255 for connection,
authentication and host-key failures; 2 for usage errors."""


class ArgumentParser(argparse.ArgumentParser):
    """Errors raise UsageError; remembers which option strings take a value word."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.value_options: set[str] = set()
        self.remember_value_options(self)

    def remember_value_options(self, container: _Container) -> _Container:
        """Make ``container`` (this parser or one of its groups) note each option added
        to it that takes a value (``-p PORT``), for :func:`_options_first`."""
        add_argument = container.add_argument

        def add(*args: Any, **kwargs: Any) -> argparse.Action:
            action = add_argument(*args, **kwargs)
            if action.nargs != 0:
                self.value_options.update(action.option_strings)
            return action

        container.add_argument = add  # type: ignore[method-assign]
        return container

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> ArgumentParser:
    """The ssh-compatible option set."""
    parser = ArgumentParser(
        prog=PROG,
        usage="%(prog)s [OPTIONS] DESTINATION [COMMAND [ARG...]]\n"
        "       %(prog)s [OPTIONS] --hosts H1,H2,... | --hosts-file FILE | --inventory FILE "
        "[COMMAND [ARG...]]",
        description="Drive one long-lived remote REPL or shell over SSH with a local line editor.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("-p", dest="port", metavar="PORT", help="port to connect to")
    add("-l", dest="user", metavar="USER", help="user to log in as")
    add(
        "-i",
        dest="identity_files",
        metavar="FILE",
        action="append",
        default=[],
        help="identity (private key) file; repeatable",
    )
    add(
        "-F",
        dest="config_file",
        metavar="FILE",
        help="ssh_config file (default: ~/.ssh/config and /etc/ssh/ssh_config)",
    )
    add(
        "-o",
        dest="options",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="ssh_config option, e.g. -o StrictHostKeyChecking=accept-new; repeatable",
    )
    add(
        "-J",
        dest="jump_hosts",
        metavar="[USER@]HOST[:PORT][,...]",
        help="connect through these jump hosts, in order (ProxyJump)",
    )
    remember = parser.remember_value_options
    agent = remember(parser.add_mutually_exclusive_group())
    agent.add_argument(
        "-A",
        dest="forward_agent",
        action="store_const",
        const=True,
        help="forward the SSH agent to the remote (ForwardAgent yes)",
    )
    agent.add_argument(
        "-a",
        dest="forward_agent",
        action="store_const",
        const=False,
        help="do not forward the SSH agent (ForwardAgent no)",
    )
    add(
        "--password-file",
        dest="password_file",
        metavar="FILE",
        help="read the password from the first line of FILE (mode 0600 or stricter)",
    )
    pty = remember(parser.add_mutually_exclusive_group())
    pty.add_argument(
        "-t", dest="pty", action="store_const", const=True, help="force a remote pseudo-terminal"
    )
    pty.add_argument(
        "-T",
        dest="pty",
        action="store_const",
        const=False,
        help="disable the remote pseudo-terminal",
    )
    add(
        "-v",
        dest="verbosity",
        action="count",
        default=0,
        help="verbose diagnostics on stderr; repeat for more",
    )
    add("-q", dest="quiet", action="store_true", help="quiet: no warnings")
    add(
        "-e",
        dest="escape_char",
        metavar="CHAR",
        help="escape character (default ~; ^X for a control character; none disables)",
    )
    add("--raw", action="store_true", help="plain terminal passthrough like ssh -t: no line editor")
    add(
        "-G",
        dest="print_config",
        action="store_true",
        help="print the configuration for DESTINATION, as ssh -G does, and exit",
    )
    family = remember(parser.add_mutually_exclusive_group())
    family.add_argument(
        "-4", dest="family", action="store_const", const="inet", help="IPv4 only (AddressFamily)"
    )
    family.add_argument(
        "-6", dest="family", action="store_const", const="inet6", help="IPv6 only (AddressFamily)"
    )
    add("-C", dest="compression", action="store_true", help="compress all data (Compression yes)")
    add("-b", dest="bind_address", metavar="ADDRESS", help="local source address (BindAddress)")
    add("-c", dest="ciphers", metavar="CIPHERS", help="cipher preference list (Ciphers)")
    add("-m", dest="macs", metavar="MACS", help="MAC preference list (MACs)")
    add("-P", dest="tag", metavar="TAG", help="tag for Match tagged in ssh_config (Tag)")
    add(
        "-n",
        dest="stdin_null",
        action="store_true",
        help="remote stdin from /dev/null (pipe mode, as ssh -n)",
    )
    add("-x", dest="no_x11", action="store_true", help="no X11 forwarding (the default)")
    add(
        "-E",
        dest="log_file",
        metavar="FILE",
        help="append the -v diagnostics to FILE instead of stderr",
    )
    gssapi = remember(parser.add_mutually_exclusive_group())
    gssapi.add_argument(
        "-K",
        dest="gssapi",
        action="store_const",
        const=True,
        help="GSSAPI authentication with credential delegation",
    )
    gssapi.add_argument(
        "-k", dest="gssapi", action="store_const", const=False, help="no GSSAPI delegation"
    )
    forwards.add_arguments(remember(parser.add_argument_group("port forwarding")))
    for flag, (takes_value, _what) in NOT_IMPLEMENTED_FLAGS.items():
        add(flag, action=_RefusedAction, nargs=1 if takes_value else 0, help=argparse.SUPPRESS)
    editor = remember(parser.add_argument_group("line editor (interactive mode)"))
    editor.add_argument(
        "--config",
        metavar="FILE",
        help="front-end config file (default: ~/.config/remoterepl/config.toml)",
    )
    editor.add_argument(
        "--no-history",
        dest="history",
        action="store_const",
        const=False,
        help="neither read nor write the persistent input history",
    )
    editor.add_argument(
        "--record",
        metavar="FILE",
        help="record the session as an asciicast v2 file (asciinema play)",
    )
    editor.add_argument(
        "--lexer",
        metavar="NAME",
        help="Pygments lexer for input highlighting (default: from COMMAND; none disables)",
    )
    editor.add_argument(
        "--strip-escapes",
        action="store_const",
        const=True,
        help="drop terminal control strings (titles, clipboard, DCS) from "
        "remote output: for untrusted hosts",
    )
    redirect = remember(parser.add_argument_group("redirection of the remote process's streams"))
    redirect.add_argument("--stdin", metavar="FILE", help="feed remote stdin from FILE")
    redirect.add_argument("--stdout", metavar="FILE", help="write remote stdout to FILE")
    redirect.add_argument("--stderr", metavar="FILE", help="write remote stderr to FILE")
    redirect.add_argument(
        "--append",
        action="store_true",
        help="append to --stdout/--stderr files instead of truncating",
    )
    merge = remember(redirect.add_mutually_exclusive_group())
    merge.add_argument(
        "--stderr-to-stdout",
        action="store_true",
        help="send remote stderr where stdout goes (2>&1)",
    )
    merge.add_argument(
        "--stdout-to-stderr",
        action="store_true",
        help="send remote stdout where stderr goes (1>&2)",
    )
    _add_persist_arguments(remember(parser.add_argument_group(PERSIST_GROUP)))
    _add_fleet_arguments(remember(parser.add_argument_group(FLEET_GROUP)))
    add("-V", action=_VersionAction, help="print version information and exit")
    shell_completion.add_option(add)
    add(
        "destination",
        metavar="DESTINATION",
        nargs="?",  # none with --hosts/--hosts-file/--inventory: cli.py checks
        help="[user@]host[:port], [user@][v6addr]:port, ssh://[user@]host[:port] "
        "or a Host alias from ssh_config (not with the many-hosts options: every "
        "word is then COMMAND)",
    )
    command = add(
        "command",
        metavar="COMMAND",
        nargs=argparse.REMAINDER,
        help="remote command (default: the login shell); several words are joined "
        "with spaces, as ssh does",
    )
    command.required = False  # argparse counts a REMAINDER as required in its error text
    return parser


PERSIST_GROUP = "persistent sessions (kept on the remote host by a holder)"


def _add_persist_arguments(group: _Adds) -> None:
    group.add_argument(
        "--persist",
        metavar="NAME",
        help="run in session NAME of the remote user, or reattach to it if it lives: it "
        "outlives the link (reconnecting by itself) and this client",
    )
    group.add_argument(
        "--sessions",
        action="store_true",
        help="list the remote user's sessions (name, command, state, idle time) and exit",
    )
    group.add_argument("--kill-session", metavar="NAME", help="end session NAME and exit")
    group.add_argument(
        "--reconnect-for",
        metavar="TIME",
        help="keep reconnecting a lost link this long (default 10m; 0: never)",
    )


FLEET_GROUP = "many hosts (every positional word is then COMMAND)"
# Any of these makes the run a fleet: no DESTINATION word, COMMAND starts at once.
FLEET_CHOOSERS = ("--hosts", "--hosts-file", "--inventory")


def _add_fleet_arguments(group: _Adds) -> None:
    group.add_argument(
        "--hosts",
        metavar="H1,H2,...",
        action="append",
        default=[],
        help="run COMMAND on these destinations (repeatable; each as DESTINATION)",
    )
    group.add_argument(
        "--hosts-file",
        metavar="FILE",
        action="append",
        default=[],
        help="destinations from FILE, one per line (# comments; repeatable)",
    )
    group.add_argument("--inventory", metavar="FILE", help="hosts from an Ansible inventory")
    group.add_argument(
        "--limit", metavar="PATTERN", help="inventory hosts or groups (Ansible patterns)"
    )
    group.add_argument(
        "--gather", action="store_true", help="identical output once, under the hosts' names"
    )
    group.add_argument(
        "--out-dir", metavar="DIR", help="write DIR/HOST.out and DIR/HOST.err, nothing prefixed"
    )
    group.add_argument(
        "--fanout",
        metavar="N",
        help="connection set-ups at once (default 64; the rest wait their turn)",
    )


def is_fleet_option(arg: str) -> bool:
    """Whether option word ``arg`` chooses many hosts (``--hosts=a,b`` too)."""
    return arg.partition("=")[0] in FLEET_CHOOSERS


# ssh's flags that remoterepl does not implement: refused with one line, never "unknown".
NOT_IMPLEMENTED_FLAGS: dict[str, tuple[bool, str]] = {
    "-B": (True, "binding to an interface (-B)"),
    "-M": (False, "connection sharing (-M, ControlMaster)"),
    "-O": (True, "connection sharing (-O, ControlMaster)"),
    "-Q": (True, "algorithm queries (-Q)"),
    "-S": (True, "connection sharing (-S, ControlPath)"),
    "-s": (False, "subsystems (-s)"),
    "-W": (True, "stdio forwarding (-W)"),
    "-w": (True, "tunnel devices (-w)"),
    "-X": (False, "X11 forwarding (-X)"),
    "-Y": (False, "X11 forwarding (-Y)"),
    "-y": (False, "logging to syslog (-y)"),
}


class _RefusedAction(argparse.Action):
    """An ssh flag remoterepl knows but does not implement: a usage error that says so."""

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> None:
        flag = self.option_strings[0]
        raise UsageError(f"{NOT_IMPLEMENTED_FLAGS[flag][1]} is not implemented by remoterepl")


class _VersionAction(argparse.Action):
    """-V: versions are looked up only when asked (metadata reads cost start-up time)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help=str(kwargs.get("help", "")))

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> None:
        import importlib.metadata

        parts = [f"{PROG} {__version__}"]
        for dist in ("asyncssh", "prompt_toolkit"):
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                parts.append(f"{dist} {importlib.metadata.version(dist)}")
        parser.exit(0, ", ".join(parts) + "\n")


def takes_next_word(arg: str, value_options: set[str]) -> bool:
    """Whether option word ``arg`` takes the next word as its value, by getopt's rules: a
    long option unless written ``--name=VALUE``; a cluster of short ones (``-fNL``) when
    the first letter that takes a value is its last (``-fNL 8080:h:80``, not ``-p2222``)."""
    if arg.startswith("--"):
        return arg in value_options
    for pos, letter in enumerate(arg[1:], start=1):
        if f"-{letter}" in value_options:
            return pos == len(arg) - 1
    return False


def options_first(argv: Sequence[str], value_options: set[str]) -> list[str]:
    """Move options that follow DESTINATION in front of it, as ssh accepts
    ``ssh host -p 2222 cmd``; the first other word after DESTINATION starts COMMAND. With
    many hosts there is no DESTINATION: the first word that is no option starts COMMAND."""
    options: list[str] = []
    destination: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--" or arg == "-" or not arg.startswith("-"):
            if destination or arg == "--" or any(map(is_fleet_option, options)):
                break
            destination = [arg]
        else:
            options.append(arg)
            if takes_next_word(arg, value_options) and i + 1 < len(argv):
                i += 1
                options.append(argv[i])
        i += 1
    return [*options, *destination, *argv[i:]]
