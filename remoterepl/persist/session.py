"""A persisted session as the front ends see it: a RemoteSession whose channel is the
holder's, whose connection changes after a reconnect, and whose end may be "detached"."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import Callable

from remoterepl.environment import PROG, Console
from remoterepl.errors import Disconnected, SessionLost
from remoterepl.outcome import RemoteExited, RemoteKilled
from remoterepl.persist.channel import PersistentChannel, Reconnect, hello_for
from remoterepl.session.channels import TerminalWatch
from remoterepl.session.process import RemoteSession, SignalReport
from remoterepl.session.signals import PTY_SIGNAL_KEYS
from remoterepl.session.ttywatch import TtyMode
from remoterepl.ssh.channel import PtyRequest
from remoterepl.ssh.connection import Connection


class PersistentSession(RemoteSession):
    """Session NAME through its holder; the link under it may change."""

    def __init__(
        self, channel: PersistentChannel, connection: Connection, pty: bool, typed: str
    ) -> None:
        self._held = channel
        super().__init__(connection, channel, _TERMINAL if pty else None)
        self.name = channel.name
        self._typed = typed  # the destination as the user wrote it, for the hints

    @property
    def outlives_client(self) -> bool:
        """The session goes on without us."""
        return True

    @property
    def _connection(self) -> Connection:
        link = self._held.link
        return link.connection if link is not None else self._first_connection

    @classmethod
    async def attach(
        cls,
        connection: Connection,
        name: str,
        command: str | None,
        pty: PtyRequest | None,
        reconnect: Reconnect,
        reconnect_for: float,
        console: Console,
        typed: str,
    ) -> PersistentSession:
        """Create session ``name`` or reattach to it (a live one keeps its own command)."""
        channel = PersistentChannel(name, hello_for(command, pty), reconnect, reconnect_for)
        label = connection.label
        channel.on_lost = lambda why: console.error(
            f"{why}: reconnecting to session {name} for up to {_duration(reconnect_for)}"
            if reconnect_for
            else f"{why} (session {name} goes on; --reconnect-for 0: not reconnecting)"
        )
        channel.on_back = lambda: console.note(f"reconnected to {label}: session {name} goes on")
        channel.on_gap = lambda stream, lost: console.error(
            f"{lost} bytes of {stream} were lost while the link was down (more than the "
            "session holds)"
        )
        await channel.attach(connection)
        session = cls(channel, connection, bool(channel.welcome.get("pty")), typed)
        if not channel.welcome.get("created"):
            console.note(f"attached to session {name} (its own command runs on)")
        return session

    # -- signals: the holder delivers them itself, to the foreground job ----------------

    def interrupt(self) -> bool:
        """Ctrl-C: the terminal's control character, else SIGINT from the holder."""
        if self.has_pty:
            return super().interrupt()
        self.signal("INT")
        return True

    async def deliver_signal(self, name: str) -> SignalReport:
        """The terminal's key where there is one, else the holder's kill()."""
        if self.has_pty and name in PTY_SIGNAL_KEYS:
            return await super().deliver_signal(name)
        if self._held.link is None:
            return SignalReport(f"could not send SIG{name}: the link is down", False)
        self.signal(name)
        return SignalReport(f"sent SIG{name}")

    def open_tty_watch(self) -> TerminalWatch | None:
        """The holder reports its terminal's mode itself."""
        return _HolderTtyWatch(self._held) if self.has_pty else None

    # -- the end -------------------------------------------------------------------------

    def outcome(self) -> RemoteExited | RemoteKilled:
        """How it ended; Disconnected when the session goes on without us."""
        end = self._held.end
        if end is not None:
            return end
        why = self._held.ended_why
        again = f"{PROG} --persist {self.name} {shlex.quote(self._typed)} reattaches"
        if why == "taken":
            raise Disconnected(f"session {self.name} was taken over by another client")
        if self.left or why == "detached":
            raise Disconnected(f"detached from session {self.name}: it goes on ({again})")
        if self._held.gone or self._held.exit_seen:  # nothing left to reattach to
            raise SessionLost(f"session {self.name}: {why}")
        raise SessionLost(f"session {self.name}: {why or 'the link was lost'} ({again})")

    def close(self) -> None:
        """Our reader went away (``| head``): a pipe session's process gets SIGPIPE, as
        when ssh closes its channel; a terminal session goes on."""
        if not self.has_pty and self._held.end is None:
            with contextlib.suppress(OSError):
                self._held.send_signal("PIPE")
        self._held.close()

    def abandon(self) -> None:
        """Leave at once (a signal to us): the session goes on."""
        self._held.close(detach=False)
        self._connection.close()

    def disconnect(self, escape: str = "~.") -> None:
        """``~.`` detaches: the remote process goes on."""
        self._disconnected = escape
        self._held.close()
        self._connection.close()


class _HolderTtyWatch:
    """The holder's TTY frames as the editor's terminal watch."""

    def __init__(self, channel: PersistentChannel) -> None:
        self._channel = channel
        self._stopped = asyncio.Event()

    async def run(self, report: Callable[[TtyMode | None], None]) -> None:
        """Report each change until the session ends (or close()), then None."""
        self._channel.tty_report = report
        if self._channel.tty_mode is not None:
            report(self._channel.tty_mode)
        waits = [
            asyncio.ensure_future(self._channel.wait_closed()),
            asyncio.ensure_future(self._stopped.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            self._channel.tty_report = None
            report(None)

    def close(self) -> None:
        """Stop reporting."""
        self._stopped.set()


# The holder's terminal, as far as RemoteSession cares (it only asks whether there is one).
_TERMINAL = PtyRequest("xterm", 80, 24)


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole % 3600 == 0 and whole >= 3600:
        return f"{whole // 3600}h"
    if whole % 60 == 0 and whole >= 60:
        return f"{whole // 60}m"
    return f"{whole}s"
