"""The composition root: open the redirection files, connect, start the remote process and
drive it with the front end the run calls for (line editor, raw passthrough, or pipe)."""

from __future__ import annotations

import asyncio
import errno
import signal
from dataclasses import replace
from typing import IO

from remoterepl import tuning
from remoterepl.environment import Console, Environment
from remoterepl.errors import UsageError
from remoterepl.modes.redirect import Outputs, open_outputs, open_stdin
from remoterepl.outcome import GaveUp, Outcome, RemoteExited, RemoteKilled, Stopped
from remoterepl.session.process import RemoteSession
from remoterepl.settings import HostSessionOptions, PersistAction, Settings, parse_escape_char
from remoterepl.ssh import diagnostics
from remoterepl.ssh.channel import PtyRequest
from remoterepl.ssh.connect import connect, planned
from remoterepl.ssh.connection import Connection
from remoterepl.stopsignals import StopSignals


async def run(settings: Settings, env: Environment) -> Outcome:
    """Run the session; return how it ended (failures raise RemoteReplError).

    SIGTERM/SIGHUP end it cleanly (:mod:`remoterepl.stopsignals`) with a :class:`Stopped`."""
    task = asyncio.current_task()
    assert task is not None
    with StopSignals(task) as stops:
        try:
            return await _run(settings, env, stops)
        except (asyncio.CancelledError, Exception) as exc:
            # Also an error while unwinding: after a hang-up, writing to the terminal
            # that is gone (the editor erasing its prompt) fails with EIO. Under nohup no
            # SIGHUP comes at all: that EIO is the only sign the terminal went away.
            if stops.received is None and interactive_hang_up(exc, env):
                stops.received = signal.SIGHUP
            if stops.received is None:
                raise
            if not isinstance(exc, asyncio.CancelledError):  # a slip while unwinding: -v says
                diagnostics.debug(f"while stopping: {type(exc).__name__}: {exc}")
            stopped = Stopped(stops.received)
            env.console.error(stopped.describe())
            return stopped


async def destination_config(settings: Settings) -> list[str]:
    """``-G``: the destination's configuration, one ``keyword value`` line each; nothing
    is sent (UsageError for a bad config file)."""
    from remoterepl.ssh.show_config import config_lines

    async with planned(settings.connect) as plan:
        host = plan.destination
        return list(config_lines(host, plan.forwards))


async def sessions_command(settings: Settings, env: Environment) -> tuple[list[str], int]:
    """--sessions (the table) or --kill-session (0 when it ended, 1 when there was none):
    the lines for stdout and the exit status."""
    from remoterepl.persist.listing import (
        NO_SUCH_SESSION,
        kill_session,
        list_sessions,
        session_table,
    )

    persist = settings.persist
    assert persist is not None
    async with planned(settings.connect) as plan:
        connection = await connect(plan, env.console)
    try:
        if persist.action is PersistAction.LIST:
            sessions = await list_sessions(connection)
            return (session_table(sessions) if sessions else ["no sessions"]), 0
        assert persist.name is not None
        if await kill_session(connection, persist.name):
            return [], 0
        env.console.error(f"no session {persist.name} on {connection.label}")
        return [], NO_SUCH_SESSION
    finally:
        connection.close()


async def _open_session(
    settings: Settings,
    env: Environment,
    connection: Connection,
    pty: PtyRequest | None,
    interactive: bool,
) -> tuple[RemoteSession, bool]:
    """The remote process: a channel of its own, or (--persist) the holder's session; and
    whether it must run in raw passthrough (a multiplexer's session, without python3)."""
    options = settings.session
    persist = settings.persist
    if persist is None:
        return await RemoteSession.open(connection, options.command, pty), False
    from remoterepl.persist.link import HolderError, NoPython
    from remoterepl.persist.session import PersistentSession

    # Under the editor nobody can answer a question while reconnecting: keys or the
    # agent only (the first answer wins in -o).
    again = settings.connect
    if interactive:
        again = replace(again, options=(("BatchMode", "yes"), *again.options))

    async def reconnect() -> Connection:
        async with planned(again) as plan:
            return await connect(plan, env.console)

    name = persist.name
    assert name is not None
    try:
        session = await PersistentSession.attach(
            connection,
            name,
            options.command,
            pty,
            reconnect,
            persist.reconnect_for,
            env.console,
            str(settings.connect.target),
        )
    except NoPython:
        if pty is None:
            raise
    else:
        return session, False
    from remoterepl.persist.fallback import TOOLS, find_tool, tool_command

    tool = await find_tool(connection)
    if tool is None:
        raise HolderError(
            "persistent sessions need python3 on the remote host (or, for a terminal, one "
            f"of {', '.join(TOOLS)}), and it has none"
        )
    env.console.note(
        f"{connection.label} has no python3: session {name} runs under {tool}, in raw "
        "passthrough, and is not reconnected by itself"
    )
    return await RemoteSession.open(
        connection, tool_command(tool, name, options.command), pty
    ), True


async def _hold(connection: Connection, stops: StopSignals) -> Outcome:
    """-N: keep the forwards until a signal (quietly: asked for) or the connection ends."""
    try:
        await connection.wait_lost()
    except asyncio.CancelledError:
        if stops.received is None:
            raise
        return Stopped(stops.received)
    raise connection.lost_error()


def interactive_hang_up(exc: BaseException, env: Environment) -> bool:
    """True for the EIO a terminal gives once it has hung up."""
    return env.interactive and isinstance(exc, OSError) and exc.errno == errno.EIO


async def _run(settings: Settings, env: Environment, stops: StopSignals) -> Outcome:
    options = settings.session
    interactive = env.interactive
    if settings.fleet is not None:
        stdin = open_stdin(options.redirect)
        try:
            return await _run_fleet(settings, env, interactive and stdin is None, stdin, stops)
        finally:
            if stdin is not None:
                stdin.close()
    if options.raw and not interactive:
        raise UsageError("--raw needs a terminal on stdin and stdout")
    if options.raw and options.frontend.strip_escapes:
        # Raw output goes to the terminal untouched: better refused than a silent bypass.
        raise UsageError("--strip-escapes filters the line editor's output: not with --raw")
    if options.frontend.record and (options.raw or not interactive or options.redirect.stdin):
        raise UsageError(
            "--record records the line editor: it needs a terminal on stdin and "
            "stdout, and no --raw or --stdin"
        )
    stdin = open_stdin(options.redirect)
    outputs = open_outputs(options.redirect)
    try:
        # A --stdin file feeds the remote instead of the keyboard: that is pipe mode.
        return await _run_session(
            settings, env, interactive and stdin is None, stdin, outputs, stops
        )
    finally:
        outputs.close()
        if stdin is not None:
            stdin.close()


async def _run_session(
    settings: Settings,
    env: Environment,
    interactive: bool,
    stdin: IO[bytes] | None,
    outputs: Outputs,
    stops: StopSignals,
) -> Outcome:
    async with planned(settings.connect) as plan:
        settings = for_destination(settings, plan.destination.session_options(), interactive)
        options = settings.session
        no_session = plan.forwards.no_session  # -N, SessionType none
        if settings.connect.fork_after_auth and not no_session and options.command is None:
            raise UsageError("Cannot fork into background without a command to execute (use -N)")
        if options.pty and options.redirect.stderr and not options.redirect.stdout_to_stderr:
            env.console.note(
                "warning: a remote PTY merges stderr into stdout; use -T to keep "
                "stderr apart for --stderr"
            )
        frontend = None
        if interactive and not options.raw and not no_session:  # before connecting: no login
            from remoterepl.editor.config import load_frontend_config

            frontend = load_frontend_config(settings, env)
        connection = await connect(plan, env.console)
    session: RemoteSession | None = None
    try:
        await connection.start_forwarding(env.console)
        if env.background is not None:  # -f: the parent returns to the shell now
            _go_to_background(env, settings, no_session)
        elif plan.forwards.fork_in_config:
            env.console.warn(
                "Warning: ForkAfterAuthentication from ssh_config is not honoured "
                "(remoterepl decides before reading it): use -f"
            )
        if no_session:
            return await _hold(connection, stops)
        # The remote echoes as a terminal would, also under the editor: the echo shows each
        # line after its own prompt, and a program's "echo off" marks a secret.
        pty = None
        if options.pty:
            columns, rows = env.window_size()
            pty = PtyRequest(env.term or "xterm", columns, rows)
        session, raw = await _open_session(settings, env, connection, pty, interactive)
        outcome: Outcome
        if frontend is not None and not raw:
            from remoterepl.editor.frontend import run_editor  # prompt_toolkit only now

            tuning.freeze_loaded_modules()
            outcome = await run_editor(session, settings, env, outputs, frontend)
        else:
            if options.raw or raw:
                from remoterepl.modes.passthrough import run_raw

                outcome = await run_raw(session, env, options.escape_char)
            else:
                from remoterepl.modes.pipe import run_pipe

                outcome = await run_pipe(session, env, stdin, outputs, stops)
            # like a shell: a death by SIGPIPE is unremarkable
            if isinstance(outcome, RemoteKilled) and outcome.number != signal.SIGPIPE:
                env.console.note(outcome.describe())
            elif isinstance(outcome, GaveUp):
                env.console.error(outcome.describe())
        if isinstance(outcome, (RemoteExited, RemoteKilled)) and len(connection.forwards):
            # as ssh's client_loop(): the session is over, but a forwarded connection
            # still open (a download through -L) is not cut; Ctrl-C or a signal ends
            # the wait at once
            await connection.wait_forwarded_connections()
        return outcome
    finally:
        if session is not None:
            session.abandon()  # a persisted session goes on without us
        connection.close()
        if session is not None:
            await session.settle()


async def _run_fleet(
    settings: Settings,
    env: Environment,
    interactive: bool,
    stdin: IO[bytes] | None,
    stops: StopSignals,
) -> Outcome:
    """Many hosts: one session each, the editor or the pipe in front of them all."""
    from remoterepl.fanout.fleet import Fleet
    from remoterepl.fanout.gather import fleet_output
    from remoterepl.fanout.hosts import choose_hosts
    from remoterepl.fanout.output import Sink

    fleet_options = settings.fleet
    assert fleet_options is not None
    hosts = await asyncio.get_running_loop().run_in_executor(None, choose_hosts, fleet_options)
    async with planned(hosts[0].connect_settings(settings.connect)):
        pass  # a bad -o or config file: one usage error, not one failure per host
    labels = [host.label for host in hosts]
    options = settings.session
    # Interactive: a terminal per host, as for one host (Ctrl-C reaches the foreground job
    # as ^C, root logins included), its echo off: the editor shows each line once, not once
    # per host. Piped: none unless -t, as clush and pssh.
    pty = None
    if options.pty or (options.pty is None and interactive):
        columns, rows = env.window_size()
        pty = PtyRequest(env.term or "xterm", columns, rows, echo=False)

    def fleet_for(sink: Sink, *, colour: bool, console: Console | None = None) -> Fleet:
        output = fleet_output(
            sink,
            labels,
            gather=fleet_options.gather,
            out_dir=fleet_options.out_dir,
            colour=colour,
            interactive=interactive,
        )
        return Fleet(
            hosts,
            settings.connect,
            options.command,
            pty,
            console or env.console,
            output,
            fleet_options.fanout,
        )

    if interactive:
        from remoterepl.editor.config import load_frontend_config
        from remoterepl.editor.fleet_frontend import run_fleet_editor

        config = load_frontend_config(settings, env)
        tuning.freeze_loaded_modules()
        return await run_fleet_editor(fleet_for, settings, env, config)
    from remoterepl.fanout.pipe import StandardStreams, run_fleet_pipe

    streams = StandardStreams(env)
    colour = env.stdout_isatty and not env.no_color
    return await run_fleet_pipe(fleet_for(streams, colour=colour), env, stdin, streams, stops)


def _go_to_background(env: Environment, settings: Settings, no_session: bool) -> None:
    """-f once ready: as ssh's fork_postauth(), our stdout and stderr end (stderr stays
    for -v logging to it); a remote command's output still goes where it went, but our
    own later lines are dropped, as ssh's are."""
    assert env.background is not None
    keep_stderr = bool(settings.connect.verbosity) and settings.connect.log_file is None
    env.background.ready(quiet_stdout=no_session, quiet_stderr=no_session and not keep_stderr)
    if not keep_stderr:
        env.console.stream = None


def for_destination(settings: Settings, host: HostSessionOptions, interactive: bool) -> Settings:
    """``settings`` with what the destination's ssh_config says where the command line
    left the choice open: RemoteCommand, RequestTTY, EscapeChar. ``pty`` comes out decided."""
    session = settings.session
    command = session.command
    if host.remote_command is not None:
        if command is not None:  # ssh's own refusal, word for word
            raise UsageError("Cannot execute command-line and remote command.")
        command = host.remote_command
    pty = session.pty
    if pty is None:
        # As ssh: "yes" only for a terminal (a pipe stays byte-exact), "force" always.
        wanted = {"yes": interactive, "force": True, "no": False}
        pty = wanted.get((host.request_tty or "auto").lower(), interactive or session.raw)
    escape = session.escape_char
    if not session.frontend.escape_char_given and host.escape_char is not None:
        try:
            escape = parse_escape_char(host.escape_char)
        except UsageError as exc:
            raise UsageError(f"EscapeChar in ssh config: {exc}") from None
    return replace(settings, session=replace(session, command=command, pty=pty, escape_char=escape))
