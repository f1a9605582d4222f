"""--gather: identical output shown once under the names of the hosts that printed it, as
clush -b does. Piped, the groups come at the end; interactive, after each line sent, as soon
as every live host has answered (or gone quiet), so a dead or slow host never holds up the
others' answers for long. stderr lines are not gathered: they go out labelled at once."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable, Sequence

from remoterepl.fanout.lines import LineJoiner, common_prompt
from remoterepl.fanout.output import HostOutput, Labels, OutDir, Prefixed, Sink

# Interactive: the block is shown this long after the last output once every live host
# has answered, or this long after the last output when some host says nothing at all.
ANSWERED_QUIET = 0.15  # seconds
SILENT_HOST_WAIT = 1.0  # seconds
SEPARATOR = b"-" * 15
_NUMBERED = re.compile(r"(.*?)(\d+)(\D*)")


def fold(labels: Iterable[str]) -> str:
    """Host names in clush's short form: ``web[1-3,5],db01`` (numbered names that share
    their text around the number are folded; the rest stay as they are, in order)."""
    groups: dict[tuple[str, str, int], list[int]] = {}
    order: list[tuple[str, str, int] | str] = []
    for label in labels:
        numbered = _NUMBERED.fullmatch(label)
        if numbered is None:
            order.append(label)
            continue
        prefix, digits, suffix = numbered.groups()
        width = len(digits) if digits.startswith("0") and len(digits) > 1 else 0
        key = (prefix, suffix, width)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(int(digits))
    parts = []
    for item in order:
        if isinstance(item, str):
            parts.append(item)
            continue
        prefix, suffix, width = item
        numbers = sorted(set(groups[item]))
        if len(numbers) == 1:
            parts.append(f"{prefix}{numbers[0]:0{width}d}{suffix}")
            continue
        ranges = []
        start = previous = numbers[0]
        for number in [*numbers[1:], None]:
            if number is not None and number == previous + 1:
                previous = number
                continue
            ranges.append(
                f"{start:0{width}d}"
                if start == previous
                else f"{start:0{width}d}-{previous:0{width}d}"
            )
            if number is not None:
                start = previous = number
        parts.append(f"{prefix}[{','.join(ranges)}]{suffix}")
    return ",".join(parts)


def render_groups(order: Sequence[str], lines: dict[str, list[bytes]]) -> bytes:
    """Hosts with the same lines, once: a header naming them, then the lines."""
    groups: dict[tuple[bytes, ...], list[str]] = {}
    for label in order:
        if lines.get(label):
            groups.setdefault(tuple(lines[label]), []).append(label)
    out = []
    for text, labels in groups.items():
        header = f"{fold(labels)} ({len(labels)})".encode(errors="replace")
        out += [SEPARATOR, header, SEPARATOR, *text]
    return b"".join(line + b"\n" for line in out)


class Gathered:
    """Collects each host's stdout lines; shows them grouped (see the module's doc)."""

    def __init__(self, sink: Sink, labels: Labels, order: Sequence[str], *, progressive: bool):
        self.sink = sink
        self.order = list(order)
        self.progressive = progressive
        self._errors = Prefixed(sink, labels, interactive=progressive)
        self._joiners: dict[str, LineJoiner] = {}
        self._lines: dict[str, list[bytes]] = {}
        self._live: set[str] = set()  # hosts the current line went to, still running
        self._answered: set[str] = set()
        self._last_output = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def host_started(self, label: str) -> None:
        """Nothing to do until it speaks."""

    def data(self, label: str, data: bytes, *, stderr: bool) -> None:
        """Keep stdout lines; pass stderr on at once."""
        if stderr:
            self._errors.data(label, data, stderr=True)
            return
        joiner = self._joiners.setdefault(label, LineJoiner())
        self._lines.setdefault(label, []).extend(joiner.feed(data))
        if self.progressive and data:
            self._answered.add(label)
            self._last_output = time.monotonic()
            self._schedule()

    def host_ended(self, label: str) -> None:
        """Its unfinished line joins its lines; no more is waited for from it."""
        self._errors.host_ended(label)
        joiner = self._joiners.get(label)
        partial = joiner.take_partial() if joiner is not None else None
        if partial is not None:
            self._lines.setdefault(label, []).append(partial)
        self._live.discard(label)
        if self.progressive:
            self._schedule()

    def line_sent(self, live: Sequence[str]) -> None:
        """A new answer begins: what is held from the last one is shown first."""
        if self.progressive:
            agreed = self.prompt(live) is not None  # else each partial is output, kept
            for label in live:
                joiner = self._joiners.get(label)
                if joiner is None:
                    continue
                partial = None if agreed else joiner.take_partial()
                if partial is not None:
                    self._lines.setdefault(label, []).append(partial)
                joiner.line_sent()
            self._show()
            self._errors.line_sent(live)
            self._live = set(live)
            self._answered.clear()
            self._last_output = time.monotonic()
            self._schedule()

    def prompt(self, live: Sequence[str]) -> bytes | None:
        """The prompt all live hosts show, if they agree."""
        return common_prompt([self._joiners.get(label) or LineJoiner() for label in live])

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        waiting = bool(self._live - self._answered)
        delay = SILENT_HOST_WAIT if waiting else ANSWERED_QUIET
        due = self._last_output + delay - time.monotonic()
        self._timer = asyncio.get_running_loop().call_later(max(due, 0.0), self._due)

    def _due(self) -> None:
        self._timer = None
        self._show()

    def _show(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        text = render_groups(self.order, self._lines)
        self._lines = {}
        if text:
            self.sink.write(text, stderr=False)

    def close(self) -> None:
        """Everything held, grouped."""
        for label in list(self._joiners):
            self.host_ended(label)
        self._errors.close()
        self._show()


def fleet_output(
    sink: Sink,
    labels: Sequence[str],
    *,
    gather: bool,
    out_dir: str | None,
    colour: bool,
    interactive: bool,
) -> HostOutput:
    """The output the options ask for: labelled lines, gathered groups or --out-dir files."""
    if out_dir is not None:
        return OutDir(out_dir, labels)
    shown = Labels(labels, colour=colour)
    if gather:
        return Gathered(sink, shown, labels, progressive=interactive)
    return Prefixed(sink, shown, interactive=interactive)
