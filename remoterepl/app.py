"""One run: connect, start the remote process, drive it interactively or as a pipe."""

from __future__ import annotations

import sys

from remoterepl.connection import connect
from remoterepl.session import PtyRequest, RemoteSession
from remoterepl.settings import Settings


def is_interactive() -> bool:
    """The line editor needs a terminal on both sides; anything else is pipe mode."""
    return sys.stdin.isatty() and sys.stdout.isatty()


async def run(settings: Settings, *, interactive: bool) -> int:
    """Run the session and return the exit status to use."""
    connection = await connect(settings.connect)
    try:
        command = settings.session.command
        want_pty = settings.session.pty if settings.session.pty is not None else interactive
        # Under the local editor the remote must not echo: the editor already shows the line.
        pty = PtyRequest.for_local_terminal(1, echo=not interactive) if want_pty else None
        session = await RemoteSession.open(connection, command, pty)
        if interactive:
            from remoterepl.repl import run_repl  # prompt_toolkit only when it is needed

            await run_repl(session, command)
            await session.wait()
            return session.exit_status()
        from remoterepl.pipe import run_pipe

        return await run_pipe(session)
    finally:
        connection.close()
