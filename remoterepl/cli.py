"""Command line -> Settings; runs the app and maps every outcome to an exit status
(:class:`~remoterepl.outcome.ExitStatus`): the only module that does."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, Protocol, TypeVar

from remoterepl import __version__, background, forwards, tuning
from remoterepl.display import shown
from remoterepl.environment import PROG, Console, Environment, fill_closed_standard_fds
from remoterepl.errors import RemoteReplError, UsageError
from remoterepl.modes.escapes import DEFAULT_ESCAPE_CHAR, parse_escape_char
from remoterepl.outcome import ExitStatus, Outcome, ReaderGone, RemoteExited, RemoteKilled
from remoterepl.settings import (
    ConnectSettings,
    FrontEndOptions,
    Redirection,
    SessionSettings,
    Settings,
    check_user,
    parse_jump_spec,
    parse_port,
    parse_target,
)
from remoterepl.ssh import keywords


class _Adds(Protocol):
    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action: ...


_Container = TypeVar("_Container", bound=_Adds)
EPILOG = """\
Interactive when stdin and stdout are terminals (line editing, Ctrl-C interrupts the
remote work, Ctrl-D ends its input); otherwise a byte-exact pipe.
Exit status: the remote one; 128+N if it died of signal N; 255 for connection,
authentication and host-key failures; 2 for usage errors."""


class _ArgumentParser(argparse.ArgumentParser):
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


def build_parser() -> _ArgumentParser:
    """The ssh-compatible option set."""
    parser = _ArgumentParser(
        prog=PROG,
        usage="%(prog)s [OPTIONS] DESTINATION [COMMAND [ARG...]]",
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
    forwards.add_arguments(remember(parser.add_argument_group("port forwarding")))
    add("--raw", action="store_true", help="plain terminal passthrough like ssh -t: no line editor")
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
    add("-V", action=_VersionAction, help="print version information and exit")
    add(
        "destination",
        metavar="DESTINATION",
        help="[user@]host[:port], [user@][v6addr]:port, ssh://[user@]host[:port] "
        "or a Host alias from ssh_config",
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


def _check_file_name(option: str, path: str | None) -> None:
    """A file name from the command line that goes into a generated ssh_config line."""
    if path is not None and (not path or not path.isprintable()):
        raise UsageError(f"bad {option} file name '{shown(path)}'")
    if path is not None and path.startswith("~") and os.path.expanduser(path) == path:
        raise UsageError(f"bad {option} file name '{shown(path)}': no such user")


def _options_first(argv: Sequence[str], value_options: set[str]) -> list[str]:
    """Move options that follow DESTINATION in front of it, as ssh accepts
    ``ssh host -p 2222 cmd``; the first other word after DESTINATION starts COMMAND."""
    options: list[str] = []
    destination: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--" or arg == "-" or not arg.startswith("-"):
            if destination or arg == "--":
                break
            destination = [arg]
        else:
            options.append(arg)
            if arg in value_options and i + 1 < len(argv):
                i += 1
                options.append(argv[i])
        i += 1
    return [*options, *destination, *argv[i:]]


def parse_args(argv: Sequence[str]) -> Settings:
    """Turn argv into Settings (raises UsageError)."""
    parser = build_parser()
    args = parser.parse_args(_options_first(argv, parser.value_options))
    target = parse_target(args.destination)
    if target.user is None and args.user is not None:
        target = type(target)(target.host, check_user(args.user, "-l user name"), target.port)
    if args.port is not None:  # checked even when the destination names a port
        port = parse_port(args.port)
        if target.port is None:
            target = type(target)(target.host, target.user, port)
    if args.jump_hosts is not None and args.jump_hosts.lower() != "none":
        parse_jump_spec(args.jump_hosts)  # a bad -J stops here, before anything is read
    for path in args.identity_files:
        _check_file_name("-i", path)
    options, warnings = keywords.parse_options(args.options)
    connect = ConnectSettings(
        target=target,
        config_file=args.config_file,
        identity_files=tuple(args.identity_files),
        options=options,
        jump_hosts=args.jump_hosts,
        forward_agent=args.forward_agent,
        password_file=args.password_file,
        verbosity=args.verbosity,
        quiet=args.quiet,
        warnings=warnings,
        **forwards.connect_fields(vars(args), options),  # -L -R -D -N -f
    )
    command = " ".join(args.command) if args.command else None
    redirection = Redirection(
        stdin=args.stdin,
        stdout=args.stdout,
        stderr=args.stderr,
        append=args.append,
        stderr_to_stdout=args.stderr_to_stdout,
        stdout_to_stderr=args.stdout_to_stderr,
    )
    escape = args.escape_char if args.escape_char is not None else connect.option("EscapeChar")
    session = SessionSettings(
        command=command,
        pty=args.pty,
        raw=args.raw,
        redirect=redirection,
        escape_char=parse_escape_char(escape) if escape is not None else DEFAULT_ESCAPE_CHAR,
        frontend=FrontEndOptions(
            config_file=args.config,
            history=args.history,
            record=args.record,
            lexer=args.lexer,
            strip_escapes=args.strip_escapes,
            escape_char_given=escape is not None,
        ),
    )
    return Settings(connect=connect, session=session)


def exit_status(outcome: Outcome) -> int:
    """The status to exit with after a session that ran (README, "Exit status")."""
    if isinstance(outcome, RemoteExited):
        return outcome.status
    if isinstance(outcome, RemoteKilled):
        number = outcome.number
        return ExitStatus.UNNAMED_SIGNAL if number is None else ExitStatus.SIGNAL_BASE + number
    if isinstance(outcome, ReaderGone):
        return ExitStatus.BROKEN_PIPE
    return ExitStatus.SIGNAL_BASE + outcome.signal  # GaveUp, Stopped: a signal to us


def error_status(error: RemoteReplError) -> ExitStatus:
    """The status to exit with after an expected failure."""
    return ExitStatus.USAGE if isinstance(error, UsageError) else ExitStatus.CONNECTION


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: the only place that turns outcomes into exit statuses."""
    try:
        return _main(argv)
    finally:
        _flush_or_drop_stdout()


def _flush_or_drop_stdout() -> None:
    """Flush stdout now; if its terminal hung up (EIO), drop what is left, or the
    interpreter's own last flush prints "Exception ignored in ... stdout" after our line."""
    try:
        sys.stdout.flush()
    except OSError:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
        with contextlib.suppress(OSError):
            sys.stdout.flush()


def _main(argv: Sequence[str] | None) -> int:
    fill_closed_standard_fds()
    try:
        settings = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        console = Console(sys.stderr)
        console.error(str(exc))
        console.warn(f"usage: {PROG} [OPTIONS] DESTINATION [COMMAND [ARG...]] (see {PROG} --help)")
        return ExitStatus.USAGE
    if settings.connect.fork_after_auth and not background.is_child():  # -f: the child
        return background.run_parent(sys.argv[1:] if argv is None else argv)  # connects
    env = Environment.from_process(quiet=settings.connect.quiet)
    for warning in settings.connect.warnings:
        env.console.note(warning)
    try:
        with tuning.start_up():
            import asyncio

            from remoterepl import app
            from remoterepl.ssh.diagnostics import configure_logging
        configure_logging(settings.connect.verbosity)
        return exit_status(asyncio.run(app.run(settings, env)))
    except RemoteReplError as exc:
        env.console.error(str(exc))
        return error_status(exc)
    except KeyboardInterrupt:
        return ExitStatus.INTERRUPTED
    except Exception as exc:  # a bug: still one line, with the details behind -v
        if settings.connect.verbosity:
            raise
        env.console.error(f"internal error: {type(exc).__name__}: {exc} (run with -v for details)")
        return ExitStatus.CONNECTION
