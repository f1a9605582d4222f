"""Command line -> Settings; runs the app and maps every outcome to an exit status."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from remoterepl import __version__
from remoterepl.errors import EXIT_CONNECTION, EXIT_USAGE, RemoteReplError, UsageError
from remoterepl.settings import (
    ConnectSettings,
    SessionSettings,
    Settings,
    parse_port,
    parse_target,
)

PROG = "remoterepl"
EPILOG = """\
Interactive when stdin and stdout are terminals (line editing, Ctrl-C interrupts the
remote work, Ctrl-D ends its input); otherwise a byte-exact pipe.
Exit status: the remote one; 128+N if it died of signal N; 255 for connection,
authentication and host-key failures; 2 for usage errors."""


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The ssh-compatible option set."""
    parser = _ArgumentParser(
        prog=PROG, usage="%(prog)s [OPTIONS] DESTINATION [COMMAND [ARG...]]",
        description="Drive one long-lived remote REPL or shell over SSH with a local "
                    "line editor.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("-p", dest="port", metavar="PORT", help="port to connect to")
    add("-l", dest="user", metavar="USER", help="user to log in as")
    add("-i", dest="identity_files", metavar="FILE", action="append", default=[],
        help="identity (private key) file; repeatable")
    add("-F", dest="config_file", metavar="FILE",
        help="ssh_config file (default: ~/.ssh/config and /etc/ssh/ssh_config)")
    add("-o", dest="options", metavar="KEY=VALUE", action="append", default=[],
        help="ssh_config option, e.g. -o StrictHostKeyChecking=accept-new; repeatable")
    pty = parser.add_mutually_exclusive_group()
    pty.add_argument("-t", dest="pty", action="store_const", const=True,
                     help="force a remote pseudo-terminal")
    pty.add_argument("-T", dest="pty", action="store_const", const=False,
                     help="disable the remote pseudo-terminal")
    add("-v", dest="verbosity", action="count", default=0,
        help="verbose diagnostics on stderr; repeat for more")
    add("-q", dest="quiet", action="store_true", help="quiet: no warnings")
    add("-V", action=_VersionAction, help="print version information and exit")
    add("destination", metavar="DESTINATION",
        help="[user@]host[:port], [user@][v6addr]:port, ssh://[user@]host[:port] "
             "or a Host alias from ssh_config")
    add("command", metavar="COMMAND", nargs=argparse.REMAINDER,
        help="remote command (default: the login shell); several words are joined "
             "with spaces, as ssh does")
    return parser


class _VersionAction(argparse.Action):
    """-V: versions are looked up only when asked (metadata reads cost start-up time)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help=str(kwargs.get("help", "")))

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> None:
        parts = [f"{PROG} {__version__}"]
        for dist in ("asyncssh", "prompt_toolkit"):
            with contextlib.suppress(PackageNotFoundError):
                parts.append(f"{dist} {version(dist)}")
        parser.exit(0, ", ".join(parts) + "\n")


def _parse_option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:  # ssh also takes "-o 'Key value'"
        key, _, value = text.strip().partition(" ")
    key, value = key.strip(), value.strip()
    if not key or not value:
        raise UsageError(f"bad -o option '{text}': expected KEY=VALUE")
    return key, value


_VALUE_FLAGS = frozenset("pliFoJe")  # short options that take a value


def _options_first(argv: Sequence[str]) -> list[str]:
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
            if len(arg) == 2 and arg[1] in _VALUE_FLAGS and i + 1 < len(argv):
                i += 1
                options.append(argv[i])
        i += 1
    return [*options, *destination, *argv[i:]]


def parse_args(argv: Sequence[str]) -> Settings:
    """Turn argv into Settings (raises UsageError)."""
    args = build_parser().parse_args(_options_first(argv))
    target = parse_target(args.destination)
    if target.user is None and args.user:
        target = type(target)(target.host, args.user, target.port)
    if target.port is None and args.port is not None:
        target = type(target)(target.host, target.user, parse_port(args.port))
    connect = ConnectSettings(
        target=target, config_file=args.config_file,
        identity_files=tuple(args.identity_files),
        options=tuple(_parse_option(o) for o in args.options),
        verbosity=args.verbosity, quiet=args.quiet)
    command = " ".join(args.command) if args.command else None
    return Settings(connect=connect, session=SessionSettings(command=command, pty=args.pty))


def _report(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: the only place that turns outcomes into exit statuses."""
    try:
        settings = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        _report(str(exc))
        print(f"usage: {PROG} [OPTIONS] DESTINATION [COMMAND [ARG...]] "
              f"(see {PROG} --help)", file=sys.stderr)
        return EXIT_USAGE

    from remoterepl import app
    from remoterepl.connection import configure_logging

    configure_logging(settings.connect.verbosity)
    try:
        return asyncio.run(app.run(settings, interactive=app.is_interactive()))
    except RemoteReplError as exc:
        _report(str(exc))
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line, with the details behind -v
        if settings.connect.verbosity:
            raise
        _report(f"internal error: {type(exc).__name__}: {exc} (run with -v for details)")
        return EXIT_CONNECTION
