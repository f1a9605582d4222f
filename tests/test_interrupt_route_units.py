"""Which route Ctrl-C takes (issue 11, point 7), decided from the server's version, the
login and the PTY, and what the user is told: fakes for the session's channel and
connection (the screen-level tests against OpenSSH are in test_interrupt_route_e2e.py)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest

from remoterepl.modes.control import SessionControl
from remoterepl.session.process import RemoteSession, SignalReport
from remoterepl.ssh.channel import PtyRequest

OPENSSH = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"


class _Channel:
    """What RemoteSession asks of its channel, recorded."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.signals: list[str] = []
        self.end: object = None

    def write(self, data: bytes, *, secret: bool = False) -> None:
        self.written.append(data)

    def send_signal(self, name: str) -> None:
        self.signals.append(name)


def _session(server_version: str, user: str, pty: bool) -> tuple[RemoteSession, _Channel]:
    connection = SimpleNamespace(
        username=user, host="h", port=22, hop_labels=[], server_version=server_version
    )
    channel = _Channel()
    request = PtyRequest("xterm", 80, 24) if pty else None
    return RemoteSession(cast(Any, connection), cast(Any, channel), request), channel


@pytest.mark.parametrize(
    ("server", "user", "pty", "at_once", "written", "signals"),
    [
        (OPENSSH, "root", True, True, [b"\x03"], []),  # the terminal: for every login
        (OPENSSH, "alice", True, True, [b"\x03"], []),
        (OPENSSH, "alice", False, True, [], ["INT"]),  # OpenSSH honours signal requests
        (OPENSSH, "root", False, False, [], []),  # ...but not for root: a second channel
        ("SSH-2.0-OpenSSH_7.4", "alice", False, False, [], []),  # nor before 7.9
        ("SSH-2.0-AsyncSSH_2.21.0", "root", False, True, [], ["INT"]),  # unknown: the request
    ],
)
def test_which_route_ctrl_c_takes(
    server: str,
    user: str,
    pty: bool,
    at_once: bool,
    written: list[bytes],
    signals: list[str],
) -> None:
    """interrupt() acts at once where the terminal or a signal request reaches the remote
    work, and says False (sending nothing) where only a second channel would."""
    session, channel = _session(server, user, pty)
    assert session.interrupt() is at_once
    assert channel.written == written
    assert channel.signals == signals


def test_no_second_channel_for_a_session_that_has_ended() -> None:
    """Root's Ctrl-C after the remote exited: nothing to reach, nothing sent, no note."""
    session, channel = _session(OPENSSH, "root", False)
    channel.end = object()
    assert session.interrupt() is True
    assert channel.written == []
    assert channel.signals == []


class _Session:
    """A session whose Ctrl-C needs the second channel, with a chosen result."""

    def __init__(self, report: SignalReport) -> None:
        self.report = report
        self.delivered: list[str] = []

    def interrupt(self) -> bool:
        return False

    async def deliver_signal(self, name: str) -> SignalReport:
        self.delivered.append(name)
        return self.report


@pytest.mark.parametrize("delivered", [True, False])
async def test_ctrl_c_through_the_second_channel_says_only_when_it_fails(delivered: bool) -> None:
    """Ctrl-C is quiet when it works, as in a terminal; one note when it did not."""
    session = _Session(SignalReport("could not deliver SIGINT: the fallback failed", delivered))
    notes: list[str] = []
    control = SessionControl(cast(Any, session), "~", notes.append)
    control.interrupt()
    await asyncio.sleep(0.05)
    assert session.delivered == ["INT"]
    if delivered:
        assert notes == []
    else:
        assert notes == ["[Ctrl-C: could not deliver SIGINT: the fallback failed]\n"]
