"""Sending to a session that has ended (issue 11, point 14), below the terminal: a real
session on the embedded server that has exited or was disconnected."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from remoterepl.environment import Console
from remoterepl.modes.control import SessionControl
from remoterepl.modes.escapes import ESCAPES, lookup
from remoterepl.modes.passthrough import KeyForwarder
from remoterepl.session.process import RemoteSession, SignalReport
from remoterepl.settings import ConnectSettings, Target
from remoterepl.ssh.channel import PtyRequest
from remoterepl.ssh.connect import open_connection
from tests.client_env import ClientEnv

pytestmark = pytest.mark.timeout(60)


async def _ended_session(env: ClientEnv, pty: bool, how: str) -> RemoteSession:
    settings = ConnectSettings(
        target=Target(env.user_alias), config_file=str(env.config_path), quiet=True
    )
    connection = await open_connection(settings, Console(None))
    request = PtyRequest("xterm", 80, 24) if pty else None
    session = await RemoteSession.open(connection, "cat", request)
    if how == "exited":
        session.send_eof()
    else:
        session.disconnect()
    await asyncio.wait_for(session.wait(), 30)
    return session


@pytest.fixture(params=[(False, "exited"), (True, "exited"), (False, "~."), (True, "~.")])
async def ended(client_home: ClientEnv, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A session whose remote process has exited, or that was disconnected with ``~.``,
    with and without a PTY."""
    pty, how = request.param
    session = await _ended_session(client_home, pty, how)
    yield session
    session.disconnect()


async def test_an_ended_session_takes_keys_without_raising(ended: RemoteSession) -> None:
    """Every key's way to the channel is quiet once it is closed; send() alone raises
    (pipe mode stops pumping stdin on that)."""
    assert ended.try_send(b"typed\r") is False
    with pytest.raises(OSError):
        ended.send(b"piped data")
    ended.send_eof()
    assert ended.interrupt() is True  # done with at once: no second channel is opened
    ended.resize(100, 30)
    ended.send_break()
    ended.signal("TERM")
    report = await ended.deliver_signal("INT")
    assert isinstance(report, SignalReport)
    if ended.has_pty:
        assert not report.delivered
        assert "ended" in str(report)


async def test_escapes_and_signal_keys_on_an_ended_session(ended: RemoteSession) -> None:
    """Every escape and Ctrl-C / Ctrl-\\ through SessionControl: no exception, in the key
    handler or in the background task; what happened is told in words."""
    notes: list[str] = []
    errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    control = SessionControl(ended, "~", notes.append)
    for key in ESCAPES:
        escape = lookup("~", key)
        assert escape is not None
        control.perform(escape)
    control.interrupt()
    control.send_signal("QUIT")
    await asyncio.sleep(0.5)  # the background deliveries end
    assert errors == []
    assert any("SIGQUIT" in note for note in notes), notes


async def test_keys_forwarded_raw_to_an_ended_session(ended: RemoteSession) -> None:
    """The passthrough forwarder (--raw, full-screen programs) with keys and an escape
    waiting: read, dropped, nothing raised into the event loop."""
    errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    read_end, write_end = os.pipe()
    try:
        forwarder = KeyForwarder(ended, SessionControl(ended, "~", lambda _text: None), read_end)
        os.write(write_end, b"q\r~.x\x03")
        forwarder.start()
        await asyncio.sleep(0.2)
        os.close(write_end)  # and the end of input: send_eof
        write_end = -1
        await asyncio.sleep(0.2)
        forwarder.stop()
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    assert errors == []


@pytest.mark.parametrize("how", ["exited", "~."])
async def test_the_second_channel_route_on_an_ended_session(
    client_env: ClientEnv, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Root on OpenSSH without a PTY: Ctrl-C and the signal escapes need a second channel,
    which an ended session cannot open (~.) or finds nothing to signal through (exited):
    a report saying so, never an exception."""
    for name in list(client_env.env):
        monkeypatch.setenv(name, client_env.env[name])
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    settings = ConnectSettings(
        target=Target(client_env.root_alias), config_file=str(client_env.config_path), quiet=True
    )
    connection = await open_connection(settings, Console(None))
    session = await RemoteSession.open(connection, "cat", None)
    try:
        if how == "exited":
            session.send_eof()
        else:
            session.disconnect()
        await asyncio.wait_for(session.wait(), 30)
        assert session.interrupt() is True  # nothing left to interrupt
        for name in ("INT", "TERM"):
            report = await session.deliver_signal(name)
            assert not report.delivered, report
            assert f"could not deliver SIG{name}" in str(report)
    finally:
        session.disconnect()
