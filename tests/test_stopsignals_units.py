"""StopSignals in-process: SIGTERM/SIGHUP cancel the run's task once, a front end can
take them over, and a signal ignored at start (nohup) stays ignored."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import pytest

from remoterepl.stopsignals import FORCE_AFTER, StopSignals


@pytest.fixture(autouse=True)
def default_dispositions() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


async def _run_until_signal(signum: int) -> tuple[bool, int | None]:
    task = asyncio.current_task()
    assert task is not None
    with StopSignals(task) as stops:
        try:
            os.kill(os.getpid(), signum)
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return True, stops.received
    return False, stops.received


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_signal_cancels_the_run(signum: int) -> None:
    assert asyncio.run(_run_until_signal(signum)) == (True, signum)
    assert signal.getsignal(signum) is signal.SIG_DFL  # handed back on exit


def test_a_handler_takes_the_signals_over() -> None:
    async def run() -> list[int]:
        got: list[int] = []
        seen = asyncio.Event()

        def handler(signum: int) -> None:
            got.append(signum)
            seen.set()

        task = asyncio.current_task()
        assert task is not None
        with StopSignals(task) as stops, stops.taken_by(handler):
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(seen.wait(), 10)
            assert stops.received is None
        return got

    assert asyncio.run(run()) == [signal.SIGTERM]


def test_an_ignored_signal_stays_ignored() -> None:
    """``nohup``: SIGHUP was ignored when we started; it neither stops the run nor is
    made un-ignored. (SIGTERM after it does: Linux delivers the lower-numbered SIGHUP
    first, so had it been caught it would be the one received.)"""

    async def run() -> tuple[bool, int | None]:
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        task = asyncio.current_task()
        assert task is not None
        with StopSignals(task) as stops:
            try:
                os.kill(os.getpid(), signal.SIGHUP)
                os.kill(os.getpid(), signal.SIGTERM)
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                return True, stops.received
        return False, stops.received

    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    assert asyncio.run(run()) == (True, signal.SIGTERM)
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN


def test_a_later_signal_ends_a_clean_end_that_hangs() -> None:
    """The first SIGTERM cancels the run; if its clean-up hangs, one sent after
    FORCE_AFTER kills the process with that signal (in a child: it really dies). A repeat
    within FORCE_AFTER (a closed terminal's SIGHUP, then the shell's) changes nothing."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:

            async def hang() -> None:
                task = asyncio.current_task()
                assert task is not None
                with StopSignals(task):
                    try:
                        os.kill(os.getpid(), signal.SIGTERM)
                        await asyncio.sleep(10)
                    except asyncio.CancelledError:
                        os.kill(os.getpid(), signal.SIGTERM)  # a repeat: ignored
                        await asyncio.sleep(FORCE_AFTER + 0.2)
                        os.kill(os.getpid(), signal.SIGTERM)  # forces the end
                        await asyncio.sleep(10)  # the clean-up "hangs"

            asyncio.run(hang())
        finally:
            os._exit(0)
    started = time.monotonic()
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM, status
    assert FORCE_AFTER <= time.monotonic() - started < 8
