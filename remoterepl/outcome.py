"""How a run ended, and remoterepl's own exit statuses.

The layers below report *what happened* (:data:`Outcome`, or an exception from
:mod:`remoterepl.errors`); :mod:`remoterepl.cli` alone turns that into the number the
process exits with.
"""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass


class ExitStatus(enum.IntEnum):
    """remoterepl's own exit statuses (README, "Exit status"); a remote status passes
    through as it is."""

    SUCCESS = 0
    USAGE = 2  # bad option, destination, file or config file
    SIGNAL_BASE = 128  # 128+N: the remote process died of signal N
    INTERRUPTED = 130  # 128+SIGINT
    BROKEN_PIPE = 141  # 128+SIGPIPE: the reader of our output went away (pipe mode)
    CONNECTION = 255  # connection, authentication, host key, lost mid-session, ~.


@dataclass(frozen=True)
class RemoteExited:
    """The remote process exited with ``status``."""

    status: int


@dataclass(frozen=True)
class RemoteKilled:
    """The remote process died of a signal, as the server named it (``"TERM"``)."""

    signal: str
    core_dumped: bool = False
    message: str = ""

    @property
    def number(self) -> int:
        """The signal's number here; a name we do not know counts as SIGTERM."""
        try:
            return int(signal.Signals[f"SIG{self.signal}"])
        except KeyError:
            return int(signal.SIGTERM)

    def describe(self) -> str:
        """``remote process killed by SIGTERM (core dumped): message``."""
        text = f"remote process killed by SIG{self.signal}"
        if self.core_dumped:
            text += " (core dumped)"
        if self.message:
            text += f": {self.message}"
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


#: The end of a run: the remote's own end, or why we stopped waiting for it.
Outcome = RemoteExited | RemoteKilled | ReaderGone | GaveUp | Stopped
