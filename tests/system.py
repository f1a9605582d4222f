"""Facts and helpers about the machine the tests run on: privileges, loopback ports,
processes, and network namespaces that hold nothing but a loopback interface."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

LOOPBACK = "127.0.0.1"
_Server = TypeVar("_Server", bound="TestServer")


class TestServer:
    """A test server run from its own directory: ``start()``, ``stop()``, ``cleanup()``
    (stop and delete the directory), and a context manager doing both ends."""

    __test__ = False  # not a pytest test class
    dir: Path
    port: int
    proc: subprocess.Popen[bytes] | None

    @property
    def pid(self) -> int:
        """pid of the server process (sessions run below it)."""
        assert self.proc is not None, "server not started"
        return self.proc.pid

    def session_pids(self) -> list[int]:
        """pids of every process below the server (its sessions and their children)."""
        return descendants(self.pid) if self.proc is not None else []

    @property
    def host_key_line(self) -> str:
        """The known_hosts line for this server."""
        raise NotImplementedError

    def start(self: _Server) -> _Server:
        """Start the server; return it once it is ready."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server and what its sessions left running."""
        raise NotImplementedError

    def cleanup(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self: _Server) -> _Server:
        """Start the server."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop the server and remove its files."""
        self.cleanup()


def is_root() -> bool:
    """Return True when the test process runs as root."""
    return os.geteuid() == 0


def require_root(what: str) -> None:
    """Skip the calling test (or fixture) unless running as root; *what* says why root is needed."""
    if not is_root():
        pytest.skip(f"needs root: {what} (run the suite as root, as CI does)")


def require_program(name: str, package: str) -> None:
    """Skip unless program *name* is installed (Debian package *package*)."""
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed (package {package}; scripts/bootstrap installs it)")


def free_port() -> int:
    """Return a loopback TCP port that was free a moment ago (callers must tolerate a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _ppid_map() -> dict[int, int]:
    """Map pid -> parent pid for every process visible in /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: parse after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(pid: int) -> list[int]:
    """Return the pids of every live descendant of *pid* (children first, then theirs)."""
    children: dict[int, list[int]] = {}
    for child, parent in _ppid_map().items():
        children.setdefault(parent, []).append(child)
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


def processes_running(marker: bytes) -> list[int]:
    """Pids of the processes whose command line contains *marker* (a remote command the
    test started: the test servers run on this machine)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if marker in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def process_exists(pid: int) -> bool:
    """Return True while *pid* names a process that is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


def kill_quietly(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    """Send *sig* to each pid, ignoring processes that are already gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def kill_and_wait(pids: Iterable[int], timeout: float = 10.0) -> list[int]:
    """SIGKILL each pid and wait until none is alive (a zombie counts as gone); return
    the pids still alive after *timeout*.

    kill() only queues the signal: a loaded machine may run the process again (to die)
    only later, and until then /proc shows it alive. Callers that promise "killed" must
    wait for it."""
    pending = list(pids)
    kill_quietly(pending)
    deadline = time.monotonic() + timeout
    while pending := [pid for pid in pending if process_exists(pid)]:
        if time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    return pending


def private_netns_command(argv: Sequence[str]) -> list[str]:
    """Wrap *argv* to run in a fresh network namespace holding only a loopback interface.

    Nothing run this way can reach any address but its own loopback: a DNS lookup fails
    locally ("network unreachable") instead of querying the machine's resolver. The wrapper
    exits 99 if the namespace has any interface other than ``lo``. Needs root (``unshare``).
    """
    check = (
        "if [ \"$(ip -o link show | grep -cv ': lo:')\" != 0 ]; then "
        'echo "netns has non-loopback interfaces" >&2; exit 99; fi; '
        'ip link set lo up; exec "$@"'
    )
    return ["unshare", "--net", "--", "sh", "-c", check, "sh", *argv]
