"""What a run gets from the process it runs in, passed in rather than read from globals:
the standard file descriptors and whether they are terminals, TERM, NO_COLOR, the window
size, and one stderr :class:`Console` for remoterepl's own lines (honouring ``-q``).

:meth:`Environment.from_process` reads the real ones; tests build their own (pipes, a
StringIO console) and run the app in-process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from dataclasses import dataclass
from typing import TextIO

from remoterepl.background import BackgroundChild
from remoterepl.display import shown

PROG = "remoterepl"
DEFAULT_TERMINAL_SIZE = (80, 24)


class Console:
    """remoterepl's own lines on stderr: errors always, notes and warnings unless quiet."""

    def __init__(self, stream: TextIO | None, *, quiet: bool = False) -> None:
        self.stream = stream  # None: stderr was closed when we started (``2>&-``)
        self.quiet = quiet

    def error(self, message: str) -> None:
        """``remoterepl: MESSAGE``, even with -q (the reason a run failed); one line, its
        control characters escaped whatever names it quotes."""
        self._write(f"{PROG}: {shown(message)}\n")

    def note(self, message: str) -> None:
        """``remoterepl: MESSAGE`` (how the remote ended, a warning of ours), unless -q;
        one line, as :meth:`error`."""
        if not self.quiet:
            self._write(f"{PROG}: {shown(message)}\n")

    def warn(self, text: str) -> None:
        """``text`` as it is (ssh's own wordings: "Warning: ...", a server's banner),
        unless -q; a missing final newline is added."""
        if not self.quiet:
            self._write(text if text.endswith("\n") else text + "\n")

    def _write(self, text: str) -> None:
        if self.stream is None:
            return
        with contextlib.suppress(OSError, ValueError):  # stderr gone: nowhere to say it
            self.stream.write(text)
            self.stream.flush()


def fill_closed_standard_fds() -> None:
    """Open /dev/null on whichever of fds 0-2 is closed (``cmd <&-``, ``>&-``, ``2>&-``), as
    ssh's sanitise_stdfd() does: a closed stdin reads as EOF, output to a closed stdout or
    stderr is discarded. Else the next file opened takes the free number (a socket as
    "stdin", a duplicate of stdout as "stderr": our errors went into the output). Call it
    first thing, before anything else opens a file."""
    null: int | None = None
    for fd in (0, 1, 2):
        try:
            fcntl.fcntl(fd, fcntl.F_GETFD)
        except OSError:
            if null is None:
                null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
    if null is not None and null > 2:
        os.close(null)
    # Python started with the fd closed made that stream None; print() then fell back to
    # another one (`remoterepl -V >&-` printed to stderr).
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is None:
            stream = open(fd, "r" if fd == 0 else "w", closefd=False)  # noqa: SIM115
            setattr(sys, name, stream)


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


@dataclass(frozen=True)
class Environment:
    """The standard streams (fds), the terminal facts and the console of one run."""

    console: Console
    stdin: int = 0
    stdout: int = 1
    stderr: int = 2
    stdin_isatty: bool = False
    stdout_isatty: bool = False
    term: str | None = None  # TERM; None when unset or empty
    no_color: bool = False  # NO_COLOR is set (to anything but "")
    background: BackgroundChild | None = None  # -f: the child that goes to the background

    @property
    def interactive(self) -> bool:
        """The line editor needs a terminal on both sides; anything else is pipe mode."""
        return self.stdin_isatty and self.stdout_isatty

    def window_size(self) -> tuple[int, int]:
        """``(columns, rows)`` of the terminal on stdout (80x24 when there is none)."""
        try:
            size = os.get_terminal_size(self.stdout)
        except OSError:
            return DEFAULT_TERMINAL_SIZE
        return size.columns, size.lines

    @classmethod
    def from_process(cls, *, quiet: bool = False) -> Environment:
        """This process's real environment (for the child of -f, stdin is /dev/null now)."""
        return cls(
            background=BackgroundChild.from_environment(),
            console=Console(sys.stderr, quiet=quiet),
            stdin_isatty=_isatty(0),
            stdout_isatty=_isatty(1),
            term=os.environ.get("TERM") or None,
            no_color=bool(os.environ.get("NO_COLOR")),
        )
