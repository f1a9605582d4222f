"""One host of a fleet: its connection and remote process from set-up to end, and its state
for the toolbar, the ``~h`` listing and the final status table."""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable

from remoterepl.environment import Console
from remoterepl.errors import RemoteReplError, SessionLost, UsageError
from remoterepl.fanout.hosts import FleetHost
from remoterepl.fanout.output import HostOutput
from remoterepl.outcome import RemoteExited, RemoteKilled, describe_end
from remoterepl.session.process import RemoteSession
from remoterepl.settings import ConnectSettings
from remoterepl.ssh.channel import PtyRequest
from remoterepl.ssh.connect import connect, planned

READ_SIZE = 64 * 1024


class State(enum.Enum):
    """Where a host is in its life."""

    WAITING = "waiting"  # for its turn to connect (--fanout)
    CONNECTING = "connecting"
    LIVE = "live"
    DONE = "done"  # its remote process ended (whatever its status)
    FAILED = "failed"  # it could not be reached, or the connection was lost
    DROPPED = "dropped"  # the user dropped it (~h): no input, its session closed
    STOPPED = "stopped"  # a signal to remoterepl came before it had started


class HostConsole(Console):
    """The fleet's console, each line naming the host it is about."""

    def __init__(self, console: Console, label: str) -> None:
        super().__init__(console.stream, quiet=console.quiet)
        self.label = label

    def error(self, message: str) -> None:
        """``remoterepl: HOST: MESSAGE``."""
        super().error(f"{self.label}: {message}")

    def note(self, message: str) -> None:
        """``remoterepl: HOST: MESSAGE`` unless -q."""
        super().note(f"{self.label}: {message}")

    def warn(self, text: str) -> None:
        """ssh's wording (a banner, a warning), each line after ``HOST: ``."""
        lines = text.splitlines() or [""]
        super().warn("".join(f"{self.label}: {line}\n" for line in lines))


class Member:
    """One host: connect (when the fleet says so), run COMMAND, pump its output."""

    def __init__(
        self,
        host: FleetHost,
        settings: ConnectSettings,
        command: str | None,
        pty: PtyRequest | None,
        console: Console,
        on_change: Callable[[Member], None],
        on_output: Callable[[], None] = lambda: None,
    ) -> None:
        self.host = host
        self.label = host.label
        self.settings = host.connect_settings(settings)
        self.command = command
        self.pty = pty
        self.console = HostConsole(console, host.label)
        self.on_change = on_change
        self.on_output = on_output  # a prompt may have changed
        self.state = State.WAITING
        self.session: RemoteSession | None = None
        self.end: RemoteExited | RemoteKilled | None = None
        self.error: RemoteReplError | None = None
        self.pending: list[tuple[bytes, bool]] = []  # input (and if secret) while it connects
        self.eof_pending = False
        self.leaving = False  # the fleet drops every connection (~., a second signal)
        self.stopped_by: int | None = None  # the signal that stopped it before it started

    def _set(self, state: State) -> None:
        self.state = state
        self.on_change(self)

    def _now(self) -> State:
        """The state as it is now: it may have changed while we awaited (a drop)."""
        return self.state

    async def run(self, turn: asyncio.Semaphore, output: HostOutput) -> None:
        """The host's whole life; failures are kept (and reported once), never raised."""
        try:
            async with turn:
                if self._now() is not State.WAITING:  # dropped while it waited its turn
                    return
                self._set(State.CONNECTING)
                self.session = await self._open()
            if self._now() is not State.CONNECTING:  # dropped meanwhile: it never starts
                return
            self._set(State.LIVE)
            self._flush_pending()
            await asyncio.gather(
                self._pump(self.session, output, stderr=False),
                self._pump(self.session, output, stderr=True),
            )
            await self.session.wait()
            self.end = self.session.outcome()
            if self.state is State.LIVE:
                self._set(State.DONE)
        except RemoteReplError as exc:
            self._failed(exc)
        except OSError as exc:  # the channel went away under a read or a wait
            self._failed(SessionLost(str(exc) or type(exc).__name__))
        except Exception as exc:  # a bug: this host fails, in one line; the others go on
            self._failed(RemoteReplError(f"internal error: {type(exc).__name__}: {exc}"))
        finally:
            if self.starting:  # cancelled before it was reached
                self.state = State.FAILED if self.stopped_by is None else State.STOPPED
                self.on_change(self)
            output.host_ended(self.label)
            if self.session is not None:
                self.session.close()
                with contextlib.suppress(Exception):
                    self.session.abandon()

    def _failed(self, error: RemoteReplError) -> None:
        """Keep and report ``error``, unless the user dropped the host or the fleet is
        leaving (then a lost connection is what was asked for)."""
        if self.state is State.DROPPED or self.leaving:
            return
        self.error = error
        self.console.error(str(error))
        self._set(State.FAILED)

    async def _open(self) -> RemoteSession:
        async with planned(self.settings) as plan:
            remote_command = plan.destination.session_options().remote_command
            command = self.command
            if remote_command is not None:
                if command is not None:  # ssh's own refusal, word for word
                    raise UsageError("Cannot execute command-line and remote command.")
                command = remote_command
            connection = await connect(plan, self.console)
        try:
            return await RemoteSession.open(connection, command, self.pty)
        except BaseException:
            connection.close()
            raise

    async def _pump(self, session: RemoteSession, output: HostOutput, *, stderr: bool) -> None:
        stream = session.stderr if stderr else session.stdout
        while data := await stream.read(READ_SIZE):
            output.data(self.label, data, stderr=stderr)
            self.on_output()

    def _flush_pending(self) -> None:
        pending, self.pending = self.pending, []
        for data, secret in pending:
            self.send(data, secret=secret)
        if self.eof_pending:
            self.send_eof()

    @property
    def live(self) -> bool:
        """Its remote process runs and takes input."""
        return self.state is State.LIVE

    @property
    def starting(self) -> bool:
        """It has not connected yet (nor failed to)."""
        return self.state in (State.WAITING, State.CONNECTING)

    def send(self, data: bytes, *, secret: bool = False) -> None:
        """Input for it: sent if live, kept until then if it is still starting."""
        if self.starting:
            self.pending.append((data, secret))
        elif self.live and self.session is not None:
            self.session.try_send(data, secret=secret)

    def send_eof(self) -> None:
        """End its input (once it is live)."""
        if self.starting:
            self.eof_pending = True
        elif self.live and self.session is not None:
            self.session.send_eof()

    def cancel_pending(self) -> None:
        """Ctrl-C before it started: what was typed for it is dropped, never run."""
        self.pending = []

    def drop(self) -> None:
        """Stop it: no more input, its session closed (the user asked)."""
        self._set(State.DROPPED)
        if self.session is not None:
            self.session.abandon()

    def status_text(self) -> str:
        """How it ended or where it is, in a few words."""
        if self.error is not None:
            return f"failed: {self.error}"
        if self.end is not None:
            return describe_end(self.end)
        return self.state.value
