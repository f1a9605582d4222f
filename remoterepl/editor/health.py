"""The editor's clock: once a second the toolbar's "running 12s" and the recording's
flush; while the toolbar shows, a keepalive round trip every :data:`PROBE_EVERY` seconds
for its link health."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from remoterepl.editor.recording import Recorder
from remoterepl.editor.toolbar import SessionStatus, Toolbar
from remoterepl.session.process import RemoteSession

PROBE_EVERY = 15  # seconds between keepalive round trips while the toolbar shows


class HealthClock:
    """Ticks for the toolbar and the recording; measures the link when asked."""

    def __init__(
        self,
        session: RemoteSession,
        status: SessionStatus,
        toolbar: Toolbar,
        recorder: Recorder | None,
        redraw: Callable[[], None],
    ) -> None:
        self.session = session
        self.status = status
        self.toolbar = toolbar
        self.recorder = recorder
        self.redraw = redraw
        self._probes: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Tick once a second until cancelled."""
        seconds = 0
        while True:
            await asyncio.sleep(1)
            seconds += 1
            if self.recorder is not None:
                self.recorder.flush()
            if self.toolbar.visible:
                if seconds % PROBE_EVERY == 0:
                    self.probe()
                if self.status.busy_since is not None:
                    self.redraw()

    def probe(self) -> None:
        """Measure the link's round trip in the background, then redraw the toolbar."""
        task = asyncio.get_running_loop().create_task(self._measure_round_trip())
        self._probes.add(task)
        task.add_done_callback(self._probes.discard)
        task.add_done_callback(lambda _task: self.redraw())

    async def _measure_round_trip(self) -> None:
        """One keepalive request (what ServerAliveInterval sends) timed: the link's RTT."""
        try:
            rtt = await self.session.ping(PROBE_EVERY)
        except asyncio.TimeoutError:
            self.status.health = f"no answer for {PROBE_EVERY}s"
            return
        except OSError:
            self.status.health = "closed"
            return
        if rtt is not None:
            self.status.health = "connected"
            self.status.rtt = rtt
