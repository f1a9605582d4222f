"""Find the OpenSSH processes that serve one client TCP connection, to freeze the server side.

Under privilege separation each connection has two: the root monitor ``sshd: USER [priv]``
and its unprivileged child ``sshd: USER@notty`` (or ``@pts/N``), which speaks the protocol;
both hold the connection's socket (measured on OpenSSH 9.2p1). SIGSTOP the child and the
link stays up while nothing answers: the keepalive case. The connection is named by its
client's source port (the sshd's peer port), read from /proc/net/tcp and matched to the
socket inodes in /proc/PID/fd.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_ESTABLISHED = "01"
#: sshd, and sshd-session since OpenSSH 9.8, name per-connection processes this way.
_TITLE = re.compile(r"^sshd(?:-session)?: (?P<user>[^\s@]+)(?P<kind>@\S+| \[priv\])")


@dataclass(frozen=True)
class SshdSession:
    """The sshd processes of one connection: *monitor* (root, ``[priv]``) and *session*
    (``USER@notty``: the one to SIGSTOP); *user* is the login."""

    user: str
    monitor: int | None
    session: int


def _tcp_rows() -> Iterator[tuple[int, int, str, int]]:
    """(local port, remote port, state, inode) of every TCP socket (v4 and v6)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
                yield (
                    int(local.rsplit(":", 1)[1], 16),
                    int(remote.rsplit(":", 1)[1], 16),
                    state,
                    int(inode),
                )


def _socket_inodes(pid: int) -> set[int]:
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    found.add(int(target[8:-1]))
    return found


def _title(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def _pids() -> list[int]:
    return [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit()]


def client_ports(pid: int, server_port: int) -> list[int]:
    """Source ports of *pid*'s established TCP connections to *server_port* (loopback)."""
    mine = _socket_inodes(pid)
    return sorted(
        local
        for local, remote, state, inode in _tcp_rows()
        if state == _ESTABLISHED and remote == server_port and inode in mine
    )


def sshd_session_now(server_port: int, client_port: int) -> SshdSession | None:
    """The sshd processes serving the connection from *client_port* to *server_port*, or
    None while there is no such connection or no per-user child yet (authentication)."""
    inodes = {
        inode
        for local, remote, state, inode in _tcp_rows()
        if state == _ESTABLISHED and local == server_port and remote == client_port and inode
    }
    if not inodes:
        return None
    monitor: int | None = None
    session: int | None = None
    user = ""
    for pid in _pids():
        title = _title(pid)
        found = _TITLE.match(title)
        if found is None or not inodes & _socket_inodes(pid):
            continue
        user = found["user"]
        if found["kind"] == " [priv]":
            monitor = pid
        else:
            session = pid
    return None if session is None else SshdSession(user=user, monitor=monitor, session=session)


def find_sshd_session(server_port: int, client_port: int, timeout: float = 10.0) -> SshdSession:
    """Wait (polling /proc) until :func:`sshd_session_now` finds the connection's processes."""
    deadline = time.monotonic() + timeout
    while (found := sshd_session_now(server_port, client_port)) is None:
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"no sshd session process for 127.0.0.1:{client_port} -> :{server_port}"
            )
        time.sleep(0.02)
    return found


def process_state(pid: int) -> str:
    """The one-letter state of *pid* (``S``, ``R``, ``T`` when stopped...), ``""`` if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat[stat.rindex(")") + 2 :].split()[0]


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """SIGSTOP *pid* (returns once the kernel shows it stopped); SIGCONT it on exit,
    whatever happened."""
    os.kill(pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 10
        while process_state(pid) not in ("T", "t", ""):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"pid {pid} not stopped after SIGSTOP")
            time.sleep(0.01)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
