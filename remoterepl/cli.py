"""Command line -> Settings; runs the app and maps every outcome to an exit status
(:class:`~remoterepl.outcome.ExitStatus`): the only module that does."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from remoterepl import background, forwards, shell_completion, tuning
from remoterepl.arguments import build_parser, options_first
from remoterepl.display import shown
from remoterepl.environment import PROG, Console, Environment, fill_closed_standard_fds
from remoterepl.errors import RemoteReplError, UsageError
from remoterepl.outcome import (
    ExitStatus,
    FleetEnded,
    HostEnded,
    Outcome,
    ReaderGone,
    RemoteExited,
    RemoteKilled,
)
from remoterepl.settings import (
    DEFAULT_ESCAPE_CHAR,
    DEFAULT_FANOUT,
    DEFAULT_RECONNECT_FOR,
    ConnectSettings,
    FleetSettings,
    FrontEndOptions,
    PersistAction,
    PersistSettings,
    Redirection,
    SessionSettings,
    Settings,
    Target,
    check_session_name,
    check_user,
    parse_duration,
    parse_escape_char,
    parse_jump_spec,
    parse_port,
    parse_target,
)
from remoterepl.ssh import keywords


def _check_file_name(option: str, path: str | None) -> None:
    """A file name from the command line that goes into a generated ssh_config line."""
    if path is not None and (not path or not path.isprintable()):
        raise UsageError(f"bad {option} file name '{shown(path)}'")
    if path is not None and path.startswith("~") and os.path.expanduser(path) == path:
        raise UsageError(f"bad {option} file name '{shown(path)}': no such user")


def _flag_options(args: argparse.Namespace) -> list[str]:
    """The ssh_config keywords that ssh's short flags stand for, as ``-o`` texts (they come
    before the -o options: the first value wins)."""
    flags = {
        "AddressFamily": args.family,
        "Compression": "yes" if args.compression else None,
        "GatewayPorts": "yes" if args.gateway_ports else None,
        "ForkAfterAuthentication": "yes" if args.f else None,  # -G prints it, as ssh's
        "BindAddress": args.bind_address,
        "Ciphers": args.ciphers,
        "MACs": args.macs,
        "Tag": args.tag,
        "GSSAPIAuthentication": "yes" if args.gssapi else None,
        "GSSAPIDelegateCredentials": {None: None, True: "yes", False: "no"}[args.gssapi],
    }
    return [f"{key}={value}" for key, value in flags.items() if value is not None]


def _fleet_settings(args: argparse.Namespace) -> FleetSettings | None:
    """--hosts/--hosts-file/--inventory and their companions; None for one DESTINATION."""
    if not (args.hosts or args.hosts_file or args.inventory):
        for flag, given in (("--limit", args.limit), ("--out-dir", args.out_dir)):
            if given is not None:
                raise UsageError(f"{flag} needs --hosts, --hosts-file or --inventory")
        for flag, given in (("--gather", args.gather), ("--fanout", args.fanout)):
            if given:
                raise UsageError(f"{flag} needs --hosts, --hosts-file or --inventory")
        return None
    if args.limit is not None and args.inventory is None:
        raise UsageError("--limit selects from an --inventory: give one")
    if args.gather and args.out_dir is not None:
        raise UsageError("--gather and --out-dir both say where output goes: choose one")
    refused = {
        "-G": args.print_config,
        "-f": args.f,
        "-N": args.N,
        "-L/-R/-D": args.L or args.R or args.D,
        "--raw": args.raw,
        "--record": args.record,
        "--stdout/--stderr (use --out-dir)": args.stdout or args.stderr,
        "--stderr-to-stdout/--stdout-to-stderr": args.stderr_to_stdout or args.stdout_to_stderr,
    }
    for flag, given in refused.items():
        if given:
            raise UsageError(f"{flag} is for one DESTINATION, not with many hosts")
    hosts = []
    for value in args.hosts:
        for host in value.split(","):
            if not host.strip():
                raise UsageError(f"bad --hosts '{shown(value)}': empty host name")
            hosts.append(host.strip())
    for path in args.hosts_file:
        _check_file_name("--hosts-file", path)
    fanout = DEFAULT_FANOUT
    if args.fanout is not None:
        if not args.fanout.isascii() or not args.fanout.isdigit() or int(args.fanout) < 1:
            raise UsageError(f"bad --fanout '{shown(args.fanout)}': a number of at least 1")
        fanout = int(args.fanout)
    return FleetSettings(
        hosts=tuple(hosts),
        hosts_files=tuple(args.hosts_file),
        inventory=args.inventory,
        limit=args.limit,
        gather=args.gather,
        out_dir=args.out_dir,
        fanout=fanout,
    )


def _persist_settings(args: argparse.Namespace, fleet: bool) -> PersistSettings | None:
    """--persist, --sessions, --kill-session and --reconnect-for; None without them."""
    chosen = [
        (flag, action)
        for flag, action, given in (
            ("--persist", PersistAction.ATTACH, args.persist is not None),
            ("--sessions", PersistAction.LIST, args.sessions),
            ("--kill-session", PersistAction.KILL, args.kill_session is not None),
        )
        if given
    ]
    if not chosen:
        if args.reconnect_for is not None:
            raise UsageError("--reconnect-for needs --persist NAME")
        return None
    if len(chosen) > 1:
        raise UsageError(f"{chosen[0][0]} and {chosen[1][0]}: choose one")
    flag, action = chosen[0]
    if fleet:
        raise UsageError(f"{flag} is for one DESTINATION, not with many hosts")
    if action is not PersistAction.ATTACH:
        if args.command:
            raise UsageError(f"{flag} takes no COMMAND")
        if args.reconnect_for is not None:
            raise UsageError("--reconnect-for needs --persist NAME")
    refused = {"-N": args.N, "-f": args.f, "-G": args.print_config}
    for other, given in refused.items():
        if given:
            raise UsageError(f"{other} does not go with {flag}")
    name = args.persist if action is PersistAction.ATTACH else args.kill_session
    reconnect_for = DEFAULT_RECONNECT_FOR
    if args.reconnect_for is not None:
        reconnect_for = parse_duration(args.reconnect_for, "--reconnect-for")
    return PersistSettings(
        action=action,
        name=None if name is None else check_session_name(name, flag),
        reconnect_for=reconnect_for,
    )


def parse_args(argv: Sequence[str]) -> Settings:
    """Turn argv into Settings (raises UsageError)."""
    parser = build_parser()
    args = parser.parse_args(options_first(argv, parser.value_options))
    fleet = _fleet_settings(args)
    persist = _persist_settings(args, fleet is not None)
    if fleet is not None:  # no DESTINATION: each host's target comes later, on this pattern
        args.command = [args.destination, *args.command] if args.destination else []
        target = Target("")
    elif args.destination is None:
        raise UsageError("the following arguments are required: DESTINATION")
    else:
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
    _check_file_name("-E", args.log_file)
    options, warnings = keywords.parse_options([*_flag_options(args), *args.options])
    if args.escape_char is not None:  # as -o EscapeChar, first (it wins), checked as -e
        parse_escape_char(args.escape_char)
        options = (("EscapeChar", args.escape_char), *options)
    connect = ConnectSettings(
        target=target,
        config_file=args.config_file,
        identity_files=tuple(args.identity_files),
        options=options,
        jump_hosts=args.jump_hosts,
        forward_agent=args.forward_agent,
        password_file=args.password_file,
        verbosity=args.verbosity,
        log_file=args.log_file,
        quiet=args.quiet,
        warnings=warnings,
        **forwards.connect_fields(vars(args), options),  # -L -R -D -N -f
    )
    command = " ".join(args.command) if args.command else None
    if args.stdin_null and args.stdin is not None:
        raise UsageError("-n and --stdin both say where remote stdin comes from: choose one")
    redirection = Redirection(
        stdin=os.devnull if args.stdin_null else args.stdin,
        stdout=args.stdout,
        stderr=args.stderr,
        append=args.append,
        stderr_to_stdout=args.stderr_to_stdout,
        stdout_to_stderr=args.stdout_to_stderr,
    )
    escape = connect.option("EscapeChar")  # -e is its first value
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
    return Settings(
        connect=connect,
        session=session,
        print_config=args.print_config,
        fleet=fleet,
        persist=persist,
    )


def exit_status(outcome: Outcome) -> int:
    """The status to exit with after a session that ran (README, "Exit status"); a fleet's
    is the largest of its hosts' (255 for a host never reached or lost)."""
    if isinstance(outcome, FleetEnded):
        if outcome.cut_short is not None:
            return exit_status(outcome.cut_short)
        return max((_host_status(host) for host in outcome.hosts), default=ExitStatus.SUCCESS)
    if isinstance(outcome, RemoteExited):
        return outcome.status
    if isinstance(outcome, RemoteKilled):
        number = outcome.number
        return ExitStatus.UNNAMED_SIGNAL if number is None else ExitStatus.SIGNAL_BASE + number
    if isinstance(outcome, ReaderGone):
        return ExitStatus.BROKEN_PIPE
    return ExitStatus.SIGNAL_BASE + outcome.signal  # GaveUp, Stopped: a signal to us


def _host_status(host: HostEnded) -> int:
    if host.end is not None:
        return exit_status(host.end)
    if host.stopped_by is not None:  # as one host stopped while connecting: 128+N
        return ExitStatus.SIGNAL_BASE + host.stopped_by
    return ExitStatus.CONNECTION


def _report_fleet(outcome: FleetEnded, console: Console) -> None:
    """The per-host status table, on stderr, when some host did not exit 0."""
    from remoterepl.fanout.report import status_table

    rows = [(shown(host.label), _host_status(host), host.describe()) for host in outcome.hosts]
    for line in status_table(rows):
        console.warn(f"{PROG}: {line}" if not line.startswith(" ") else line)


def error_status(error: RemoteReplError) -> ExitStatus:
    """The status to exit with after an expected failure."""
    return ExitStatus.USAGE if isinstance(error, UsageError) else ExitStatus.CONNECTION


def background_main() -> int:
    """The background child of ``-f`` (see :mod:`remoterepl.background`): started with
    Ctrl-C blocked, which it takes first, so that one pressed while it started is a quiet
    130 like any other."""
    try:
        background.take_interrupts()
        return main()
    except KeyboardInterrupt:
        return ExitStatus.INTERRUPTED


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
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == shell_completion.COMPLETE_HOSTS:  # fast: parses nothing else
        return shell_completion.complete_hosts(argv[1:])
    try:
        settings = parse_args(argv)
    except UsageError as exc:
        console = Console(sys.stderr)
        console.error(str(exc))
        console.warn(f"usage: {PROG} [OPTIONS] DESTINATION [COMMAND [ARG...]] (see {PROG} --help)")
        return ExitStatus.USAGE
    if settings.connect.fork_after_auth and not settings.print_config and not background.is_child():
        return background.run_parent(argv)  # -f: the child connects; we wait till it is ready
    env = Environment.from_process(quiet=settings.connect.quiet)
    for warning in settings.connect.warnings:
        env.console.note(warning)
    try:
        with tuning.start_up():
            import asyncio

            from remoterepl import app
            from remoterepl.ssh.diagnostics import configure_logging
        configure_logging(settings.connect.verbosity, settings.connect.log_file)
        if settings.print_config:
            for line in asyncio.run(app.destination_config(settings)):
                print(line)
            return ExitStatus.SUCCESS
        if settings.persist is not None and settings.persist.action is not PersistAction.ATTACH:
            lines, status = asyncio.run(app.sessions_command(settings, env))
            for line in lines:
                print(line)
            return status
        outcome = asyncio.run(app.run(settings, env))
        if isinstance(outcome, FleetEnded) and outcome.cut_short is None:
            _report_fleet(outcome, env.console)
        return exit_status(outcome)
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
