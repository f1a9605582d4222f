"""One run: connect, start the remote process, drive it interactively or as a pipe."""

from __future__ import annotations

import gc
import signal
import sys
from typing import IO

from remoterepl.errors import UsageError
from remoterepl.modes.redirect import Outputs, open_outputs, open_stdin
from remoterepl.session.process import PtyRequest, RemoteSession, describe_exit_signal
from remoterepl.settings import Settings
from remoterepl.ssh.connection import connect


def is_interactive() -> bool:
    """The line editor needs a terminal on both sides; anything else is pipe mode."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def _tell(settings: Settings, message: str) -> None:
    if not settings.connect.quiet:
        print(f"remoterepl: {message}", file=sys.stderr, flush=True)


async def run(settings: Settings, *, interactive: bool) -> int:
    """Run the session and return the exit status to use."""
    options = settings.session
    if options.raw and not interactive:
        raise UsageError("--raw needs a terminal on stdin and stdout")
    if options.frontend.record and (options.raw or not interactive or options.redirect.stdin):
        raise UsageError(
            "--record records the line editor: it needs a terminal on stdin and "
            "stdout, and no --raw or --stdin"
        )
    stdin = open_stdin(options.redirect)
    outputs = open_outputs(options.redirect)
    try:
        # A --stdin file feeds the remote instead of the keyboard: that is pipe mode.
        interactive = interactive and stdin is None
        return await _run_session(settings, interactive, stdin, outputs)
    finally:
        outputs.close()
        if stdin is not None:
            stdin.close()


async def _run_session(
    settings: Settings, interactive: bool, stdin: IO[bytes] | None, outputs: Outputs
) -> int:
    options = settings.session
    editor = interactive and not options.raw  # the line editor drives the session
    want_pty = options.pty if options.pty is not None else (interactive or options.raw)
    if want_pty and options.redirect.stderr and not options.redirect.stdout_to_stderr:
        _tell(
            settings,
            "warning: a remote PTY merges stderr into stdout; use -T to keep "
            "stderr apart for --stderr",
        )
    frontend = None
    if editor:  # read before connecting: a bad config file costs no login
        from remoterepl.editor.config import load_frontend_config

        frontend = load_frontend_config(settings)
    connection = await connect(settings.connect)
    try:
        # Under the local editor the remote must not echo: the editor already shows the line.
        pty = PtyRequest.for_local_terminal(1, echo=not editor) if want_pty else None
        session = await RemoteSession.open(connection, options.command, pty)
        if editor:
            from remoterepl.editor.frontend import run_repl  # prompt_toolkit only when it is needed

            gc.freeze()  # like the modules frozen at start-up (cli.main): no collector walks
            await run_repl(session, settings, outputs, frontend)  # shows how the remote ended
            await session.wait()
            return session.exit_status()
        if options.raw:
            from remoterepl.modes.passthrough import run_raw

            await run_raw(session, options.escape_char)
            status = session.exit_status()
        else:
            from remoterepl.modes.pipe import run_pipe

            status = await run_pipe(session, stdin, outputs)
        note = describe_exit_signal(session.process)
        if note and status != 128 + signal.SIGPIPE:  # like a shell: SIGPIPE is unremarkable
            _tell(settings, note)
        return status
    finally:
        connection.close()
