"""``-f``: going to the background after authentication, as ssh -f does, without forking
a process that runs an event loop and worker threads.

The process the user started (the *parent*) runs nothing itself: it starts remoterepl
again (the *child*) with the same arguments and one inherited pipe, and waits. The child
connects -- asking passwords and host-key questions on the terminal (/dev/tty), as any
run does -- sets up the forwards and then, once ready, writes one byte on the pipe,
leaves the terminal's session (``setsid``) and goes on. The parent exits 0 on that byte;
if the pipe closes without it (the child failed and said why on stderr), the parent exits
with the child's status.

As ssh's fork_postauth() (daemon(1, 1), then stdin, stdout and stderr to /dev/null; stderr
kept only for -v logging to it): the child's stdin is /dev/null from the start; once
ready its stdout and stderr go to /dev/null, so that ``$(remoterepl -fN ...)`` returns at
once. A remote command's output still reaches the original stdout and stderr (ssh's
session channel writes to duplicates of them, made before the fork); remoterepl's own
later lines (how the command ended, a lost connection) are dropped, as ssh's are.

The child is started with SIGINT blocked: a Ctrl-C while its interpreter starts stays
pending, and :func:`take_interrupts`, the child's first act, unblocks it inside a
``try``: it becomes a quiet exit 130, never Python's "Fatal Python error" (a Ctrl-C the
parent got before the child existed is passed on to it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess

#: The variable naming the inherited pipe's fd in the child.
READY_FD_VARIABLE = "REMOTEREPL_READY_FD"
STARTED = b"S"  # the child takes Ctrl-C from here on
READY = b"R"

#: The child's program. ``python -m`` and ``-c`` put the current directory first on
#: sys.path, where a ``remoterepl/`` would run instead of ours: it is dropped (with
#: PYTHONSAFEPATH, 3.11+, there is none, hence the check), and the directory our own
#: package came from is put first unless already there (a source checkout), so that the
#: child runs exactly the remoterepl the parent runs. ``-I`` would also drop PYTHONPATH.
_CHILD_CODE = """\
import sys
if sys.path[:1] == [""]:
    del sys.path[0]
if {home!r} not in sys.path:
    sys.path.insert(0, {home!r})
from remoterepl.cli import background_main
raise SystemExit(background_main())
"""


def child_argv(argv: Sequence[str]) -> list[str]:
    """The command line of the background child."""
    package = os.path.dirname(os.path.abspath(__file__))  # .../remoterepl
    code = _CHILD_CODE.format(home=os.path.dirname(package))
    return [sys.executable, "-c", code, *argv]


def run_parent(argv: Sequence[str]) -> int:
    """Start the background child with ``argv`` and wait until it is ready (0) or has
    failed (its exit status)."""
    import subprocess  # only the parent of -f needs it

    read_end, write_end = os.pipe()
    env = dict(os.environ)
    env[READY_FD_VARIABLE] = str(write_end)
    # Blocked, not ignored: the child inherits the mask, keeps a Ctrl-C pending until
    # take_interrupts(), and we cannot lose the child's handle to a KeyboardInterrupt.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        child = subprocess.Popen(child_argv(argv), pass_fds=(write_end,), env=env)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    try:
        ready = _wait_ready(read_end, child, mask)
    finally:
        os.close(read_end)
    if ready:
        return 0  # the child lives on, on its own
    while True:
        try:
            return _status(child.wait())
        except KeyboardInterrupt:  # the child has it too and says how it ended
            continue


def _wait_ready(fd: int, child: subprocess.Popen[bytes], mask: set[int | signal.Signals]) -> bool:
    """Read the child's bytes until READY (True) or the end of the pipe (False). A Ctrl-C
    before the child said STARTED is passed on to it (it may have started after the
    terminal's SIGINT went out); after that it had its own."""
    started = forwarded = False
    unblocked = False
    while True:
        try:
            if not unblocked:
                unblocked = True
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending Ctrl-C: here
            byte = os.read(fd, 1)
        except KeyboardInterrupt:
            waiting = _available(fd)
            if READY in waiting:
                return True
            started = started or STARTED in waiting
            if not started and not forwarded:
                forwarded = True
                with contextlib.suppress(OSError):
                    child.send_signal(signal.SIGINT)  # still blocked there: pending
            continue
        if byte == STARTED:
            started = True
        elif byte == READY:
            return True
        elif not byte:
            return False


def _available(fd: int) -> bytes:
    """What the pipe holds now, without waiting."""
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 16)
    except BlockingIOError:
        return b""
    finally:
        os.set_blocking(fd, True)


def take_interrupts() -> None:
    """The child's first act: tell the parent, then let the Ctrl-C in (a pending one
    raises KeyboardInterrupt here, in the caller's ``try``)."""
    value = os.environ.get(READY_FD_VARIABLE, "")
    if value.isdigit():
        with contextlib.suppress(OSError):
            os.write(int(value), STARTED)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


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

    def ready(self, *, quiet_stdout: bool, quiet_stderr: bool) -> None:
        """Detach from the terminal's session and let the parent exit (once); stdout
        and/or stderr go to /dev/null (see the module's notes)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):  # already a session leader: nothing to leave
            os.setsid()
        if quiet_stdout:
            _redirect(1, os.O_WRONLY)
        if quiet_stderr:
            _redirect(2, os.O_WRONLY)
        with contextlib.suppress(OSError):  # the parent is gone (Ctrl-C): go on anyway
            os.write(self._fd, READY)
        os.close(self._fd)
        self._fd = None


def _redirect(fd: int, flags: int) -> None:
    null = os.open(os.devnull, flags)
    os.dup2(null, fd)
    os.close(null)
