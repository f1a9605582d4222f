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
        self.settings = replace(settings, defaults=FLEET_DEFAULTS, config_per_host=True)
        self.command = command
        self.pty = pty  # the window's size as it is now: for hosts that connect later
        self.console = console
        self.output = output
        self._turn = asyncio.Semaphore(fanout)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._settled = asyncio.Event()  # no host is still starting
        self._left: str | None = None  # the escape the user left with (~.)
        self._input_ended = False  # Ctrl-D / stdin's end: a host added again gets it too
        self.watchers: list[Callable[[], None]] = []  # told of every change of state
        self.members = [self._member(host) for host in hosts]
        self._by_label = {m.label: m for m in self.members}

    # -- running -------------------------------------------------------------------------

    def start(self) -> None:
        """Begin connecting every host (``fanout`` at a time, in the order given)."""
        for member in self.members:
            self._launch(member)
        self._check_settled()

    def _member(self, host: FleetHost) -> Member:
        member = Member(
            host, self.settings, self.command, self.pty, self.console, self._changed, self._told
        )
        member.eof_pending = self._input_ended
        return member

    def _told(self) -> None:
        for watcher in self.watchers:
            watcher()

    def _launch(self, member: Member) -> None:
        self._tasks[member.label] = asyncio.create_task(member.run(self._turn, self.output))

    def _changed(self, member: Member) -> None:
        if member.state is State.LIVE:
            self.output.host_started(member.label)
        self._check_settled()
        self._told()

    def _check_settled(self) -> None:
        if not any(m.starting for m in self.members):
            self._settled.set()

    async def wait_started(self) -> None:
        """Until every host is live or has failed."""
        await self._settled.wait()

    async def wait(self) -> None:
        """Until every host's session has ended (hosts added again meanwhile included)."""
        while pending := [t for t in self._tasks.values() if not t.done()]:
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)

    def close_output(self) -> None:
        """Every host has ended: what the output holds is shown (--gather's last groups)."""
        self.output.close()

    def summary(self) -> dict[str, int]:
        """How many hosts are in each state, by the state's name (the toolbar's counts)."""
        return dict(Counter(m.state.value for m in self.members))

    def listing(self) -> list[tuple[str, str]]:
        """Every host's name and state in words (``~h``)."""
        return [(m.label, m.status_text()) for m in self.members]

    def live_labels(self) -> list[str]:
        """The live hosts' names, in the order given."""
        return [m.label for m in self.members if m.live]

    def line_sent(self, live: Sequence[str]) -> None:
        """A line went to the ``live`` hosts: their answers begin (for --gather)."""
        self.output.line_sent(live)

    def prompt(self) -> str | None:
        """The prompt every live host shows, when they agree (``>>> ``)."""
        prompt = self.output.prompt(self.live_labels())
        return None if prompt is None else prompt.decode("utf-8", errors="replace")

    # -- input and signals ---------------------------------------------------------------

    def send(self, data: bytes, *, secret: bool = False) -> None:
        """Send ``data`` to every live host (and to those still connecting, once they are);
        a ``secret`` never shows in packet dumps."""
        for member in self.members:
            member.send(data, secret=secret)

    def send_line(self, line: str, *, secret: bool = False) -> None:
        """A line typed in the editor, ended as a terminal's Enter ends it (CR) when the
        hosts have one."""
        self.send((line + ("\r" if self.pty is not None else "\n")).encode(), secret=secret)

    def send_eof(self) -> None:
        """End every host's input (a host added again later gets its end at once)."""
        self._input_ended = True
        for member in self.members:
            member.send_eof()

    @property
    def input_backlogged(self) -> bool:
        """Some live host has more input queued than it is taking."""
        return any(m.session.input_backlogged for m in self.members if m.live and m.session)

    async def drain(self) -> None:
        """Until every live host can take more input (the slowest one sets the pace)."""
        for member in self.members:
            if member.live and member.session is not None:
                with contextlib.suppress(Exception):  # its end is reported by its own task
                    await member.session.drain()

    def interrupt(self) -> bool:
        """Ctrl-C on every live host, by the route that acts at once where there is one,
        else through a second channel in the background (a note only if that fails); what
        was typed for hosts still connecting is dropped."""
        for member in self.members:
            session = member.session
            if member.starting:
                member.cancel_pending()
            elif member.live and session is not None and not session.interrupt():
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
        failed = [label for label, r in zip(sessions, reports, strict=True) if not r.delivered]
        if not sessions:
            return SignalReport(f"SIG{name}: no live host", False)
        if failed:
            return SignalReport(f"SIG{name} not delivered to {', '.join(failed)}", False)
        count = len(sessions)
        return SignalReport(f"sent SIG{name} to {count} host{'s' * (count > 1)}")

    def stop_starting(self, signum: int) -> int:
        """A signal to remoterepl: hosts not started yet never will (nothing runs there to
        pass it to); return how many were stopped."""
        stopped = 0
        for member in self.members:
            if member.starting:
                member.stopped_by = signum
                self._tasks[member.label].cancel()
                stopped += 1
        return stopped

    def resize(self, columns: int, rows: int) -> None:
        """The local window changed: every live host's terminal follows, and hosts that
        connect later start at the new size."""
        if self.pty is not None:
            self.pty = replace(self.pty, columns=columns, rows=rows)
        for member in self.members:
            if member.live and member.session is not None:
                member.session.resize(columns, rows)
            elif member.starting and member.pty is not None:
                member.pty = self.pty

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

    # -- hosts one by one ----------------------------------------------------------------

    def drop(self, label: str) -> bool:
        """Stop sending to ``label`` and close its session; False if it is not running."""
        member = self._by_label.get(label)
        if member is None or not (member.live or member.starting):
            return False
        starting = member.starting
        member.drop()
        if starting:
            self._tasks[label].cancel()
        return True

    def add_again(self, label: str) -> bool:
        """Connect ``label`` again (it was dropped, failed or done); False if it runs."""
        old = self._by_label.get(label)
        if old is None or old.live or old.starting:
            return False
        self._tasks[label].cancel()  # done by now, or on its way out
        fresh = self._member(old.host)
        self.members[self.members.index(old)] = fresh
        self._by_label[label] = fresh
        self._settled.clear()
        self._launch(fresh)
        self._changed(fresh)
        return True

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
        """Drop every connection without waiting for the remote processes (a lost
        connection is then no failure to report)."""
        for member in self.members:
            member.leaving = True
            if member.session is not None:
                member.session.abandon()
            else:
                self._tasks[member.label].cancel()

    def result(self) -> FleetEnded:
        """Each host's end, in the order given."""
        hosts = []
        for member in self.members:
            failure = None
            if member.error is not None:
                failure = str(member.error)
            elif member.state is State.DROPPED:
                failure = "dropped"
            elif member.stopped_by is not None:
                failure = "stopped before it started"
            elif member.end is None:
                failure = f"left ({self._left})" if self._left else "abandoned"
            hosts.append(HostEnded(member.label, member.end, failure, member.stopped_by))
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
