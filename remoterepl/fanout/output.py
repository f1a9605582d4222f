"""Where a fleet's output goes: each line labelled with its host as it arrives
(:class:`Prefixed`), or one file pair per host (:class:`OutDir`); ``gather.py`` holds the
grouped form. Lines stay whole: a host's partial line waits for its end (or a quiet moment)
and never runs into another host's line."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Protocol

from remoterepl.display import shown
from remoterepl.errors import UsageError
from remoterepl.fanout.lines import LineJoiner, common_prompt

# Piped, a partial line (progress dots) is shown after this long without more from its host.
PARTIAL_FLUSH = 0.5  # seconds
RESET = b"\x1b[0m"
# One colour per host, round-robin: the six ANSI colours that read on dark and light.
COLOURS = (b"\x1b[32m", b"\x1b[33m", b"\x1b[34m", b"\x1b[35m", b"\x1b[36m", b"\x1b[31m")


class Sink(Protocol):
    """The local end: our stdout and stderr, or the line editor's screen."""

    def write(self, data: bytes, *, stderr: bool) -> None:
        """Show ``data`` (whole lines) on stdout, or on stderr."""


class HostOutput(Protocol):
    """What the fleet tells its output about each host."""

    def host_started(self, label: str) -> None:
        """``label``'s remote process runs: its output may come."""

    def data(self, label: str, data: bytes, *, stderr: bool) -> None:
        """Output from ``label``'s remote process."""

    def host_ended(self, label: str) -> None:
        """``label`` will send no more output (ended, failed, dropped)."""

    def line_sent(self, live: Sequence[str]) -> None:
        """A line went to the ``live`` hosts (interactive): an answer begins."""

    def prompt(self, live: Sequence[str]) -> bytes | None:
        """The prompt every live host shows (``>>> ``), if they agree (interactive)."""

    def close(self) -> None:
        """The run is over: show what is held."""


class Labels:
    """Each host's label, padded to one width and coloured when asked."""

    def __init__(self, labels: Sequence[str], *, colour: bool) -> None:
        names = {label: shown(label) for label in labels}  # control characters escaped
        width = max((len(name) for name in names.values()), default=0)
        self._prefix = {
            label: (COLOURS[i % len(COLOURS)] if colour else b"")
            + names[label].ljust(width).encode(errors="replace")
            + (RESET if colour else b"")
            for i, label in enumerate(labels)
        }

    def line(self, label: str, line: bytes, *, stderr: bool) -> bytes:
        """``HOST: text`` for stdout, ``HOST! text`` for stderr, with a newline."""
        return self._prefix[label] + (b"! " if stderr else b": ") + line + b"\n"


class Prefixed:
    """Every line as ``HOST: text`` the moment it is whole. Piped, a partial line follows
    after :data:`PARTIAL_FLUSH` of quiet from its host; interactive, it is the host's
    prompt, shown as the editor's own while every live host agrees on it."""

    def __init__(self, sink: Sink, labels: Labels, *, interactive: bool = False) -> None:
        self.sink = sink
        self.labels = labels
        self.interactive = interactive
        self._joiners: dict[tuple[str, bool], LineJoiner] = {}
        self._timers: dict[tuple[str, bool], asyncio.TimerHandle] = {}

    def host_started(self, label: str) -> None:
        """Nothing to do: lines carry their host's name."""

    def data(self, label: str, data: bytes, *, stderr: bool) -> None:
        """Pass on the lines ``data`` completes; wait for the rest."""
        key = (label, stderr)
        joiner = self._joiners.setdefault(key, LineJoiner())
        lines = joiner.feed(data)
        if lines:
            self.sink.write(
                b"".join(self.labels.line(label, line, stderr=stderr) for line in lines),
                stderr=stderr,
            )
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if not self.interactive and data and not data.endswith(b"\n"):
            self._timers[key] = asyncio.get_running_loop().call_later(
                PARTIAL_FLUSH, self._flush, key
            )

    def _flush(self, key: tuple[str, bool]) -> None:
        self._timers.pop(key, None)
        partial = self._joiners[key].take_partial()
        if partial is not None:
            label, stderr = key
            self.sink.write(self.labels.line(label, partial, stderr=stderr), stderr=stderr)

    def host_ended(self, label: str) -> None:
        """Show the host's unfinished lines now."""
        for stderr in (True, False):
            if (label, stderr) in self._joiners:
                timer = self._timers.pop((label, stderr), None)
                if timer is not None:
                    timer.cancel()
                self._flush((label, stderr))

    def line_sent(self, live: Sequence[str]) -> None:
        """What the live hosts showed of a line was their prompt, which the editor showed
        when they all agreed on it; when they did not, each is shown, labelled, first."""
        agreed = self.prompt(live) is not None
        for label in live:
            for stderr in (False, True):
                joiner = self._joiners.get((label, stderr))
                if joiner is None:
                    continue
                if not agreed or stderr:
                    self._flush((label, stderr))
                joiner.line_sent()

    def prompt(self, live: Sequence[str]) -> bytes | None:
        """The prompt all live hosts show on stdout, if they agree."""
        return common_prompt([self._joiners.get((label, False)) or LineJoiner() for label in live])

    def close(self) -> None:
        """Show every unfinished line."""
        for label, _stderr in list(self._joiners):
            self.host_ended(label)


def file_name(label: str) -> str:
    """A host label as a file name: ``/`` (and a leading dot) cannot stay."""
    name = label.replace("/", "_").replace("\0", "_")
    return "_" + name[1:] if name.startswith(".") else name


class OutDir:
    """``DIR/HOST.out`` and ``DIR/HOST.err`` per host, as pssh's -o/-e: the bytes as they
    came, nothing prefixed. Both files exist for every host that connected."""

    def __init__(self, directory: str, labels: Sequence[str]) -> None:
        names: dict[str, str] = {}
        for label in labels:
            other = names.setdefault(file_name(label), label)
            if other != label:
                raise UsageError(
                    f"--out-dir: hosts '{shown(other)}' and '{shown(label)}' would write "
                    f"the same files ({shown(file_name(label))}.out)"
                )
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--out-dir {shown(directory)}: {exc.strerror}") from None
        self.directory = directory
        self._files: dict[tuple[str, bool], int] = {}
        self._opened: set[str] = set()  # a host added again (~h) appends to its files

    def host_started(self, label: str) -> None:
        """Create (truncate) the host's two files: it has connected."""
        mode = os.O_APPEND if label in self._opened else os.O_TRUNC
        self._opened.add(label)
        for stderr in (False, True):
            path = os.path.join(self.directory, file_name(label) + (".err" if stderr else ".out"))
            try:
                self._files[(label, stderr)] = os.open(
                    path, os.O_WRONLY | os.O_CREAT | mode | os.O_CLOEXEC | os.O_NOFOLLOW, 0o666
                )
            except OSError as exc:
                raise UsageError(f"--out-dir: {shown(path)}: {exc.strerror}") from None

    def data(self, label: str, data: bytes, *, stderr: bool) -> None:
        """Append to the host's file."""
        fd = self._files.get((label, stderr))
        if fd is None:
            self.host_started(label)
            fd = self._files[(label, stderr)]
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def host_ended(self, label: str) -> None:
        """Close the host's files."""
        for stderr in (False, True):
            fd = self._files.pop((label, stderr), None)
            if fd is not None:
                os.close(fd)

    def line_sent(self, live: Sequence[str]) -> None:
        """Nothing to do: files take everything."""

    def prompt(self, live: Sequence[str]) -> bytes | None:
        """None: the prompts are in the files."""
        return None

    def close(self) -> None:
        """Close every file still open."""
        for label, _stderr in list(self._files):
            self.host_ended(label)
