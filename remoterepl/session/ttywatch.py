"""What the remote terminal's reader wants, watched from a second channel.

A PTY's modes and foreground job are not in the SSH protocol, so a small watcher runs on a
second channel of the session's own connection: it finds the session's terminal (the
session leader whose environment has the watcher's own SSH_CONNECTION: same connection,
whatever the server's process tree), then polls the terminal's ICANON/ECHO flags and
foreground process group every 20 ms (:data:`POLL`) and prints one line whenever they
change: nothing crosses the link while nothing changes. It needs
python3 and /proc on the remote (any Linux host); without them there are no reports and
the front end judges from the output alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from remoterepl.errors import RemoteReplError
from remoterepl.session.helpers import WATCHER_NAME, side_command
from remoterepl.ssh.channel import ProcessChannel
from remoterepl.ssh.connection import Connection

# Kept to what python3.5's stdlib has: it runs on whatever python3 the host has.
_WATCHER = r"""
import os, select, sys, termios, time
try:  # our name in ps and /proc/PID/comm: the other helpers leave us out of the session
    import ctypes
    ctypes.CDLL(None).prctl(15, b"WATCHER_NAME", 0, 0, 0)
except Exception:
    pass
me = os.environ.get("SSH_CONNECTION", "").encode()
def stat(pid):
    with open("/proc/%s/stat" % pid) as f:
        return f.read().rpartition(")")[2].split()
def find():
    # The newest such leader: one left from an earlier connection that had the same
    # addresses and ports (the kernel reuses ports) is older than ours.
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                if b"SSH_CONNECTION=" + me not in f.read().split(b"\0"):
                    continue
            fields = stat(pid)
            if fields[3] == pid and fields[4] != "0":
                found.append((int(fields[19]), pid, os.readlink("/proc/%s/fd/0" % pid)))
        except OSError:
            pass
    return max(found)[1:] if found else None
for _ in range(250):
    found = me and find()
    if found:
        break
    time.sleep(0.02)
else:
    sys.exit(3)
leader, tty = found
fd = os.open(tty, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
last = None
while True:
    try:
        lflag = termios.tcgetattr(fd)[3]
        front = stat(leader)[5]
    except (OSError, termios.error):
        break
    try:
        with open("/proc/%s/comm" % front) as f:
            program = f.read().strip()
    except OSError:
        program = ""
    state = "%d %d %d %s" % (
        bool(lflag & termios.ICANON), bool(lflag & termios.ECHO), front == leader, program)
    if state != last:
        sys.stdout.write(state + "\n")
        sys.stdout.flush()
        last = state
    if select.select([0], [], [], POLL)[0] and not os.read(0, 512):
        break  # the client is gone
"""
POLL = 0.02  # seconds between two looks at the terminal (a few syscalls each)
WATCH_COMMAND = side_command(
    "command -v python3 >/dev/null 2>&1 || exit 127; "
    "exec python3 -c "
    + shlex.quote(_WATCHER.replace("POLL", repr(POLL)).replace("WATCHER_NAME", WATCHER_NAME))
)


@dataclass(frozen=True)
class TtyMode:
    """The remote terminal's reading mode and who reads it."""

    canonical: bool  # lines (ICANON): the tty collects a line until Enter
    echo: bool  # the tty echoes what it receives (ECHO)
    leader_in_front: bool  # the session's own process (not a job it started) is in front
    program: str  # the foreground job's command name (/proc/PID/comm)

    @classmethod
    def parse(cls, line: str) -> TtyMode | None:
        """One watcher report: ``"1 1 0 cat"``; None if it is not one."""
        parts = line.split(" ", 3)
        if len(parts) < 3 or any(flag not in ("0", "1") for flag in parts[:3]):
            return None
        canonical, echo, leader = (flag == "1" for flag in parts[:3])
        return cls(canonical, echo, leader, parts[3] if len(parts) > 3 else "")


class TtyWatch:
    """The watcher on its channel: :meth:`run` reports."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._channel: ProcessChannel | None = None

    async def run(self, report: Callable[[TtyMode | None], None]) -> None:
        """Report the remote terminal's mode whenever it changes, until the session ends;
        then (or at once, where the watcher cannot run) report None: unknown."""
        try:
            self._channel = channel = await self._connection.open_process(WATCH_COMMAND, None)
        except (OSError, asyncio.TimeoutError, RemoteReplError):
            report(None)
            return
        pending = b""
        try:
            while data := await channel.stdout.read(4096):
                *lines, pending = (pending + data).split(b"\n")
                for line in lines:
                    mode = TtyMode.parse(line.decode("utf-8", "replace"))
                    if mode is not None:
                        report(mode)
        finally:
            self.close()
            report(None)

    def close(self) -> None:
        """Stop watching."""
        channel, self._channel = self._channel, None
        if channel is not None:
            with contextlib.suppress(OSError):
                channel.close()
