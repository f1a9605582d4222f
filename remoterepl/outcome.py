"""How a run ended, and remoterepl's own exit statuses.

The layers below report *what happened* (:data:`Outcome`, or an exception from
:mod:`remoterepl.errors`); :mod:`remoterepl.cli` alone turns that into the number the
process exits with.
"""

from __future__ import annotations

import contextlib
import enum
import re
import signal
import sys
from dataclasses import dataclass

from remoterepl.display import shown


class ExitStatus(enum.IntEnum):
    """remoterepl's own exit statuses (README, "Exit status"); a remote status passes
    through as it is."""

    SUCCESS = 0
    USAGE = 2  # bad option, destination, file or config file
    SIGNAL_BASE = 128  # 128+N: the remote process died of signal N
    # 128 alone (no signal 0): it died of a signal whose number the server did not tell
    # (OpenSSH names only 13 signals); any other choice would name a signal it was not.
    UNNAMED_SIGNAL = 128
    INTERRUPTED = 130  # 128+SIGINT
    BROKEN_PIPE = 141  # 128+SIGPIPE: the reader of our output went away (pipe mode)
    CONNECTION = 255  # connection, authentication, host key, lost mid-session, ~.


@dataclass(frozen=True)
class RemoteExited:
    """The remote process exited with ``status``."""

    status: int


#: What OpenSSH's sshd sends in exit-signal for every signal but the 13 it names (ABRT ALRM
#: FPE HUP ILL INT KILL PIPE QUIT SEGV TERM USR1 USR2: sig2name() in session.c, 9.2).
OPENSSH_NAMELESS_SIGNAL = "SIG@openssh.com"
_REALTIME = re.compile(r"RT(MIN|MAX)(?:([+-])(\d{1,2}))?")
#: Linux's SIGSTKFLT, which Python's signal module names only from 3.11 on: 16 where that
#: number is no other signal (x86 and ARM number STKFLT 16; MIPS and SPARC give 16 another).
_UNNAMED_BY_PYTHON = (
    {"STKFLT": 16}
    if sys.platform == "linux"
    and not hasattr(signal, "SIGSTKFLT")
    and 16 not in {int(s) for s in signal.Signals}
    else {}
)


def signal_number(name: str) -> int | None:
    """The number here of the signal an SSH server named (``"TERM"``, ``"STKFLT"``, the
    real-time ``"RTMIN+3"``/``"RTMAX-2"`` as ``kill -l`` writes them); None when the name
    tells no number: OpenSSH's placeholder, another system's signal, a name@domain."""
    with contextlib.suppress(KeyError):
        return int(signal.Signals[f"SIG{name}"])
    if name in _UNNAMED_BY_PYTHON:
        return _UNNAMED_BY_PYTHON[name]
    realtime = _REALTIME.fullmatch(name)
    if realtime is None:
        return None
    base = signal.SIGRTMIN if realtime[1] == "MIN" else signal.SIGRTMAX
    offset = int(realtime[3] or 0) * (-1 if realtime[2] == "-" else 1)
    number = int(base) + offset
    return number if signal.SIGRTMIN <= number <= signal.SIGRTMAX else None


@dataclass(frozen=True)
class RemoteKilled:
    """The remote process died of a signal, as the server named it (``"TERM"``)."""

    signal: str
    core_dumped: bool = False
    message: str = ""

    @property
    def number(self) -> int | None:
        """The signal's number here; None when the server's name does not tell it (never
        a guess: the exit status is then :attr:`ExitStatus.UNNAMED_SIGNAL`)."""
        return signal_number(self.signal)

    def describe(self) -> str:
        """``remote process killed by SIGTERM (core dumped): message``."""
        if self.signal == OPENSSH_NAMELESS_SIGNAL:
            text = "remote process killed by a signal the server did not name"
        elif self.number is None:
            text = f"remote process killed by a signal unknown here ({shown(self.signal)})"
        else:
            text = f"remote process killed by SIG{self.signal}"
        if self.core_dumped:
            text += " (core dumped)"
        if self.message:
            text += f": {shown(self.message)}"
        return text


@dataclass(frozen=True)
class ReaderGone:
    """Whoever read our output went away (``| head``): we stopped, as SIGPIPE would."""


@dataclass(frozen=True)
class GaveUp:
    """A second local signal (SIGINT/SIGTERM/SIGHUP) ended the wait for the remote."""

    signal: int

    def describe(self) -> str:
        """``second SIGTERM: closed the session without waiting for the remote process``."""
        name = signal.Signals(self.signal).name
        return f"second {name}: closed the session without waiting for the remote process"


@dataclass(frozen=True)
class Stopped:
    """SIGTERM or SIGHUP sent to remoterepl ended the run (connecting, at a prompt, in the
    editor or ``--raw``): the terminal and the temporary files were restored first."""

    signal: int

    def describe(self) -> str:
        """``stopped by SIGTERM``."""
        return f"stopped by {signal.Signals(self.signal).name}"


def describe_end(end: RemoteExited | RemoteKilled) -> str:
    """``exited with status 3``, ``remote process killed by SIGTERM``."""
    return end.describe() if isinstance(end, RemoteKilled) else f"exited with status {end.status}"


@dataclass(frozen=True)
class HostEnded:
    """How one host of a fleet ended: its remote's own end, or why it has none."""

    label: str
    end: RemoteExited | RemoteKilled | None
    failure: str | None = None  # could not connect, lost, dropped: in words
    stopped_by: int | None = None  # a signal to us stopped it before it had started

    def describe(self) -> str:
        """How it ended, in words (the status table's last column)."""
        if self.end is not None:
            return describe_end(self.end)
        return self.failure or "no exit status"


@dataclass(frozen=True)
class FleetEnded:
    """A many-hosts run is over: each host's end, and what ended the run early, if anything
    did (a signal to us, the reader of our output gone)."""

    hosts: tuple[HostEnded, ...]
    cut_short: ReaderGone | GaveUp | Stopped | None = None


#: The end of a run: the remote's own end, or why we stopped waiting for it.
Outcome = RemoteExited | RemoteKilled | ReaderGone | GaveUp | Stopped | FleetEnded
