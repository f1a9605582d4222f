"""``-f``: going to the background after authentication, as ssh -f does, without forking
a process that runs an event loop and worker threads.

The process the user started (the *parent*) runs nothing itself: it starts remoterepl
again (the *child*) with the same arguments and one inherited pipe, and waits. The child
connects -- asking passwords and host-key questions on the terminal (/dev/tty), as any
run does -- sets up the forwards and then, once ready, writes one byte on the pipe,
leaves the terminal's session (``setsid``) and goes on. The parent exits 0 on that byte;
if the pipe closes without it (the child failed and said why on stderr), the parent exits
with the child's status. As ssh's daemon(1, 1): the child's stdin is /dev/null from the
start, stdout and stderr stay where they were (a command's output still shows); with -N,
which writes nothing there, stdout goes to /dev/null too.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence

#: The variable naming the inherited pipe's fd in the child.
READY_FD_VARIABLE = "REMOTEREPL_READY_FD"
READY = b"R"


def run_parent(argv: Sequence[str]) -> int:
    """Start the background child with ``argv`` and wait until it is ready (0) or has
    failed (its exit status)."""
    import subprocess  # only the parent of -f needs it

    read_end, write_end = os.pipe()
    env = dict(os.environ)
    env[READY_FD_VARIABLE] = str(write_end)
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "remoterepl", *argv], pass_fds=(write_end,), env=env
        )
    finally:
        os.close(write_end)
    try:
        with open(read_end, "rb") as pipe:
            ready = pipe.read(1) == READY
    except KeyboardInterrupt:  # Ctrl-C at a password prompt reached the child too
        ready = False
    if ready:
        return 0  # the child lives on, on its own
    while True:
        try:
            return _status(child.wait())
        except KeyboardInterrupt:
            continue


def _status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def is_child() -> bool:
    """Whether this process is the background child of a -f run."""
    return READY_FD_VARIABLE in os.environ


class BackgroundChild:
    """The child's side: :meth:`ready` tells the parent to return to the shell."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def from_environment(cls) -> BackgroundChild | None:
        """This process is the background child if the variable names an open fd; then
        stdin becomes /dev/null at once (nothing may read the terminal's input)."""
        value = os.environ.pop(READY_FD_VARIABLE, None)
        if value is None or not value.isdigit():
            return None
        fd = int(value)
        try:
            os.set_inheritable(fd, False)  # not passed on to anything we start
        except OSError:
            return None
        _redirect(0, os.O_RDONLY)
        return cls(fd)

    def ready(self, *, quiet_stdout: bool) -> None:
        """Detach from the terminal's session and let the parent exit (once)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):  # already a session leader: nothing to leave
            os.setsid()
        if quiet_stdout:
            _redirect(1, os.O_WRONLY)
        with contextlib.suppress(OSError):  # the parent is gone (Ctrl-C): go on anyway
            os.write(self._fd, READY)
        os.close(self._fd)
        self._fd = None


def _redirect(fd: int, flags: int) -> None:
    null = os.open(os.devnull, flags)
    os.dup2(null, fd)
    os.close(null)
