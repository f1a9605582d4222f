"""The fleet: one long-lived remote process per host, all driven together -- input to every
live host, Ctrl-C and signals to each by its surest route, EOF to all -- while at most
``fanout`` connection set-ups run at once (sshd's MaxStartups drops bursts beyond that)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from typing import Any

from remoterepl.environment import Console
from remoterepl.fanout.hosts import FleetHost
from remoterepl.fanout.member import Member, State
from remoterepl.fanout.output import HostOutput
from remoterepl.outcome import FleetEnded, HostEnded
from remoterepl.session.process import SignalReport
from remoterepl.settings import ConnectSettings
from remoterepl.ssh.channel import PtyRequest

# Questions cannot be asked of one terminal for many hosts at once: hosts that would ask
# (a password, a new host key) fail instead, unless ssh_config or -o says otherwise.
FLEET_DEFAULTS = (("BatchMode", "yes"),)


class Fleet:
    """Every host's :class:`Member`, and what the front ends do to all of them."""

    def __init__(
        self,
        hosts: Sequence[FleetHost],
        settings: ConnectSettings,
        command: str | None,
        pty: PtyRequest | None,
        console: Console,
        output: HostOutput,
        fanout: int,
    ) -> None:
        settings = replace(settings, defaults=FLEET_DEFAULTS)
        self.console = console
        self.output = output
        self.members = [self._member(h, settings, command, pty) for h in hosts]
        self._by_label = {m.label: m for m in self.members}
        self._turn = asyncio.Semaphore(fanout)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._settled = asyncio.Event()  # no host is still starting
        self._left: str | None = None  # the escape the user left with (~.)
        self.watchers: list[Callable[[], None]] = []  # told of every change of state

    # -- running -------------------------------------------------------------------------

    def start(self) -> None:
        """Begin connecting every host (``fanout`` at a time, in the order given)."""
        for member in self.members:
            self._launch(member)
        self._check_settled()

    def _member(
        self,
        host: FleetHost,
        settings: ConnectSettings,
        command: str | None,
        pty: PtyRequest | None,
    ) -> Member:
        return Member(host, settings, command, pty, self.console, self._changed, self._output_came)

    def _output_came(self) -> None:
        for watcher in self.watchers:
            watcher()

    def _launch(self, member: Member) -> None:
        self._tasks[member.label] = asyncio.create_task(member.run(self._turn, self.output))

    def _changed(self, member: Member) -> None:
        if member.state is State.LIVE:
            self.output.host_started(member.label)
        self._check_settled()
        for watcher in self.watchers:
            watcher()

    def _check_settled(self) -> None:
        if not any(m.starting for m in self.members):
            self._settled.set()

    async def wait_started(self) -> None:
        """Until every host is live or has failed."""
        await self._settled.wait()

    async def wait(self) -> None:
        """Until every host's session has ended (hosts added again meanwhile included)."""
        while True:
            pending = [t for t in self._tasks.values() if not t.done()]
            if not pending:
                return
            await asyncio.wait(pending)

    @property
    def running(self) -> bool:
        """Some host is still starting or live."""
        return any(m.starting or m.live for m in self.members)

    def counts(self) -> Counter[State]:
        """How many hosts are in each state."""
        return Counter(m.state for m in self.members)

    def summary(self) -> dict[str, int]:
        """How many hosts are in each state, by the state's name (the toolbar's counts)."""
        return {state.value: count for state, count in self.counts().items()}

    def listing(self) -> list[tuple[str, str]]:
        """Every host's name and state in words (``~h``)."""
        return [(m.label, m.status_text()) for m in self.members]

    def line_sent(self, live: Sequence[str]) -> None:
        """A line went to the ``live`` hosts: their answers begin (for --gather)."""
        self.output.line_sent(live)

    def prompt(self) -> str | None:
        """The prompt every live host shows, when they agree (``>>> ``)."""
        prompt = self.output.prompt(self.live_labels())
        return None if prompt is None else prompt.decode("utf-8", errors="replace")

    def live_labels(self) -> list[str]:
        """The live hosts' names, in the order given."""
        return [m.label for m in self.members if m.live]

    # -- input and signals ---------------------------------------------------------------

    def broadcast(self, data: bytes) -> None:
        """Send ``data`` to every live host (and to those still connecting, once they are)."""
        for member in self.members:
            member.send(data)

    def send_eof(self) -> None:
        """End every host's input."""
        for member in self.members:
            member.send_eof()

    @property
    def input_backlogged(self) -> bool:
        """Some live host has more input queued than it is taking."""
        return any(
            m.live and m.session is not None and m.session.input_backlogged for m in self.members
        )

    async def drain(self) -> None:
        """Until every live host can take more input (the slowest one sets the pace)."""
        for member in self.members:
            if member.live and member.session is not None:
                with contextlib.suppress(Exception):  # its end is reported by its own task
                    await member.session.drain()

    def send(self, data: bytes) -> None:
        """As :meth:`broadcast` (the pipe mode's stdin pump calls this)."""
        self.broadcast(data)

    def interrupt(self) -> bool:
        """Ctrl-C on every live host, by the route that acts at once where there is one,
        else through a second channel in the background (a note only if that fails)."""
        for member in self.members:
            session = member.session
            if member.live and session is not None and not session.interrupt():
                self._in_background(self._interrupt_by_channel(member))
        return True

    async def _interrupt_by_channel(self, member: Member) -> None:
        assert member.session is not None
        report = await member.session.deliver_signal("INT")
        if not report.delivered:
            member.console.error(f"Ctrl-C: {report}")

    async def deliver_signal(self, name: str) -> SignalReport:
        """Signal ``name`` to every live host by its surest route; one report for all."""
        sessions = {m.label: m.session for m in self.members if m.live and m.session is not None}
        reports = await asyncio.gather(*(s.deliver_signal(name) for s in sessions.values()))
        targets = list(sessions)
        failed = [label for label, r in zip(targets, reports, strict=True) if not r.delivered]
        if not targets:
            return SignalReport(f"SIG{name}: no live host", False)
        if failed:
            return SignalReport(f"SIG{name} not delivered to {', '.join(failed)}", False)
        return SignalReport(f"sent SIG{name} to {len(targets)} host{'s' * (len(targets) > 1)}")

    def resize(self, columns: int, rows: int) -> None:
        """The local window changed: every live host's terminal follows."""
        for member in self.members:
            if member.live and member.session is not None:
                member.session.resize(columns, rows)

    def send_break(self, milliseconds: int = 500) -> None:
        """A BREAK to every live host."""
        for member in self.members:
            if member.live and member.session is not None:
                member.session.send_break(milliseconds)

    def forwards_listing(self) -> str:
        """``~#``: a fleet forwards no ports."""
        return "[no forwarded ports: -L/-R/-D are for one DESTINATION]\n"

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- the end -------------------------------------------------------------------------

    def disconnect(self, escape: str = "~.") -> None:
        """The user left (``~.``): every connection dropped at once."""
        self._left = escape
        self.abandon()

    @property
    def left(self) -> bool:
        """True once the user left with an escape."""
        return self._left is not None

    def abandon(self) -> None:
        """Drop every connection without waiting for the remote processes."""
        for member in self.members:
            if member.session is not None:
                member.session.abandon()
            elif member.starting:
                self._tasks[member.label].cancel()

    def drop(self, label: str) -> bool:
        """Stop sending to ``label`` and close its session; False if it is not live."""
        member = self._by_label.get(label)
        if member is None or not (member.live or member.starting):
            return False
        member.drop()
        if member.starting:
            self._tasks[label].cancel()
        return True

    def add_again(self, label: str) -> bool:
        """Connect ``label`` again (it was dropped, failed or done); False if it runs."""
        old = self._by_label.get(label)
        if old is None or old.live or old.starting:
            return False
        fresh = self._member(old.host, old.settings, old.command, old.pty)
        self.members[self.members.index(old)] = fresh
        self._by_label[label] = fresh
        self._settled.clear()
        self._launch(fresh)
        self._changed(fresh)
        return True

    def member(self, label: str) -> Member | None:
        """The host called ``label``."""
        return self._by_label.get(label)

    def result(self) -> FleetEnded:
        """Each host's end, in the order given."""
        hosts = []
        for member in self.members:
            failure = None
            if member.error is not None:
                failure = str(member.error)
            elif member.state is State.DROPPED:
                failure = "dropped"
            elif member.end is None:
                failure = f"left ({self._left})" if self._left else "did not finish"
            hosts.append(HostEnded(member.label, member.end, failure))
        return FleetEnded(tuple(hosts))

    async def close(self) -> None:
        """Close every connection; cancel what still runs."""
        for task in self._background:
            task.cancel()
        for member in self.members:
            if member.session is not None:
                member.session.abandon()
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
