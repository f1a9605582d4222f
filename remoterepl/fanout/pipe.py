"""Pipe mode for a fleet: stdin read once and sent to every host, their output labelled,
gathered or written to --out-dir; signals passed on to every host.

stdin is read only once every host is live or has failed (a host still connecting would
otherwise miss what came before it). From then on the slowest host sets the pace: more is
read only while every live host has less than the session's input high-water mark (1 MiB)
queued, so memory stays bounded whatever the number of hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import IO

from remoterepl.environment import Environment
from remoterepl.fanout.fleet import Fleet
from remoterepl.modes.pipe import SignalForwarder, fd_flags_kept, feed, watching_for_reader_gone
from remoterepl.modes.redirect import write_all
from remoterepl.outcome import FleetEnded, GaveUp, ReaderGone
from remoterepl.session.process import SignalReport
from remoterepl.stopsignals import StopSignals

ABANDON_WAIT = 2.0  # seconds for the hosts' last output after a second signal


class StandardStreams:
    """Our stdout and stderr as a fleet's sink; the reader gone (EPIPE) is noted, not raised."""

    def __init__(self, env: Environment) -> None:
        self.fds = {False: env.stdout, True: env.stderr}
        self.gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.console = env.console

    def write(self, data: bytes, *, stderr: bool) -> None:
        """All of ``data``, blocking while the reader is slow (every host waits with it,
        which is the back-pressure wanted), also when the fd was made non-blocking."""
        if self.gone.done():
            return
        try:
            write_all(self.fds[stderr], data)
        except BrokenPipeError:
            self.gone.set_result(None)
        except OSError as exc:  # a full disk: said once, the hosts' output lost from here on
            self.gone.set_result(None)
            if not stderr:
                self.console.error(f"cannot write the output: {exc.strerror}")


class _StopFirst:
    """Signals for pipe mode: hosts not started yet are stopped (nothing runs there to
    pass the signal to), the live ones get it by their surest route."""

    outlives_client = False  # a fleet's processes end with their connections

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    async def deliver_signal(self, name: str) -> SignalReport:
        stopped = self.fleet.stop_starting(signal.Signals[f"SIG{name}"])
        report = await self.fleet.deliver_signal(name)
        if stopped and not report.delivered and not self.fleet.live_labels():
            return SignalReport(f"stopped {stopped} host{'s' * (stopped > 1)} before they started")
        return report


async def run_fleet_pipe(
    fleet: Fleet,
    env: Environment,
    stdin: IO[bytes] | None,
    streams: StandardStreams,
    stops: StopSignals,
) -> FleetEnded:
    """Run every host until it ends; return each host's end."""
    logging.getLogger("asyncio").setLevel(logging.ERROR)  # as modes/pipe.py: EPIPE is ours
    cut_short: ReaderGone | GaveUp | None = None
    with (
        fd_flags_kept((env.stdin, env.stdout, env.stderr)),
        SignalForwarder(_StopFirst(fleet), stops, env.console) as forwarder,
        watching_for_reader_gone((env.stdout,), streams.gone),
    ):
        fleet.start()
        ended = asyncio.ensure_future(fleet.wait())
        started = asyncio.ensure_future(fleet.wait_started())
        feeder: asyncio.Task[None] | None = None
        try:
            stoppers = (ended, streams.gone, forwarder.abandoned)
            await asyncio.wait((started, *stoppers), return_when=asyncio.FIRST_COMPLETED)
            if started.done() and not ended.done():
                feeder = asyncio.create_task(feed(fleet, stdin, env.stdin))
                await asyncio.wait((ended, *stoppers), return_when=asyncio.FIRST_COMPLETED)
        finally:
            started.cancel()
            if feeder is not None:
                feeder.cancel()
        if forwarder.abandoned.done() and not ended.done():
            fleet.abandon()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(ended), ABANDON_WAIT)
            cut_short = GaveUp(forwarder.abandoned.result())
        elif streams.gone.done() and not ended.done():
            fleet.abandon()  # as one host's pipe mode: stop quietly, as SIGPIPE would
            cut_short = ReaderGone()
        ended.cancel()
    await fleet.close()
    fleet.close_output()
    result = fleet.result()
    return FleetEnded(result.hosts, cut_short)
