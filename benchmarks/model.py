"""What a benchmark run is made of: its sizes (:class:`Config`), its figures (:class:`Metric`)
and the contenders' names; shared by the single-client suite and the fleet benchmark."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

from benchmarks.procs import BenchError, MiB

RR = "remoterepl"
SSH = "ssh"
#: The fleet benchmark's other contenders (PyPI parallel-ssh; Debian clustershell's clush).
PSSH = "parallel-ssh"
CLUSH = "clush"
Better = Literal["lower", "higher"]


@dataclass(frozen=True)
class Config:
    """Sizes and repetitions of one run."""

    name: str
    startup_runs: int = 15
    transfer_bytes: int = 256 * MiB
    transfer_runs: int = 5
    rtt_lines: int = 2000
    rtt_warmup: int = 50
    flood_lines: int = 1_000_000
    flood_runs: int = 3
    interrupt_runs: int = 3
    memory_bytes: int = 1024 * MiB
    extra_sessions: int = 50
    process_sessions: int = 3
    # The fleet benchmark (benchmarks/fleet.py): fleet_200 and fleet_500 with these host counts.
    fleet_small: int = 200
    fleet_large: int = 500
    fleet_runs_small: int = 5
    fleet_runs_large: int = 3
    fleet_lines: int = 50
    fleet_warmup: int = 5
    # The slow-link rows (benchmarks/wan.py): delay each way (scripts/bench --wan-delay).
    wan_delay_ms: float = 40.0
    wan_lines: int = 200
    wan_warmup: int = 10

    @classmethod
    def full(cls) -> Config:
        """The published figures (a few minutes on 2 cores)."""
        return cls("full")

    @classmethod
    def quick(cls) -> Config:
        """A smoke run: every measurement, small sizes (well under a minute)."""
        return cls(
            "quick",
            startup_runs=3,
            transfer_bytes=16 * MiB,
            transfer_runs=1,
            rtt_lines=100,
            rtt_warmup=10,
            flood_lines=20_000,
            flood_runs=1,
            interrupt_runs=1,
            memory_bytes=32 * MiB,
            extra_sessions=4,
            process_sessions=2,
            fleet_small=5,
            fleet_large=8,
            fleet_runs_small=2,
            fleet_runs_large=2,
            fleet_lines=10,
            fleet_warmup=2,
            wan_lines=20,
            wan_warmup=3,
        )

    @classmethod
    def tiny(cls) -> Config:
        """For the test suite: the machinery only, no meaningful numbers."""
        return cls(
            "tiny",
            startup_runs=1,
            transfer_bytes=3 * MiB,
            transfer_runs=1,
            rtt_lines=5,
            rtt_warmup=2,
            flood_lines=2000,
            flood_runs=1,
            interrupt_runs=1,
            memory_bytes=4 * MiB,
            extra_sessions=2,
            process_sessions=1,
            fleet_small=3,
            fleet_large=4,
            fleet_runs_small=1,
            fleet_runs_large=1,
            fleet_lines=3,
            fleet_warmup=1,
            wan_lines=3,
            wan_warmup=1,
        )


@dataclass
class Metric:
    """One figure: samples per contender, which direction is better, and the target.

    ``target`` is the ratio remoterepl / the best of ``versus`` (ssh, or in the fleet
    benchmark the better of parallel-ssh and clush) to meet (``<=`` when lower is better,
    ``>=`` when higher is), or with ``absolute`` remoterepl's own value (the others are
    shown for scale).
    """

    key: str
    title: str
    unit: str
    better: Better
    samples: dict[str, list[float]]
    target: float | None = None
    stat: Literal["median", "p99", "max"] = "median"
    note: str = ""
    absolute: bool = False
    extra: dict[str, object] = field(default_factory=dict)
    versus: tuple[str, ...] = (SSH,)
    compared: bool = True  # False: the contenders' values differ in kind, no ratio

    def value(self, who: str) -> float | None:
        """The figure for *who*: median (or p99 / max) of its samples."""
        data = self.samples.get(who) or []
        if not data:
            return None
        if self.stat == "p99":
            return percentile(data, 99)
        if self.stat == "max":
            return max(data)
        return statistics.median(data)

    def rival(self) -> float | None:
        """The best value among ``versus`` (None when none of them has samples)."""
        values = [v for v in map(self.value, self.versus) if v is not None]
        if not values:
            return None
        return min(values) if self.better == "lower" else max(values)

    def ratio(self) -> float | None:
        """remoterepl / the best of ``versus``."""
        ours, theirs = self.value(RR), self.rival()
        if not self.compared or ours is None or theirs is None or theirs == 0:
            return None
        return ours / theirs

    def met(self) -> bool | None:
        """Whether the target is met (None without a target)."""
        if self.target is None:
            return None
        measured = self.value(RR) if self.absolute else self.ratio()
        if measured is None:
            return None
        return measured <= self.target if self.better == "lower" else measured >= self.target

    def as_json(self) -> dict[str, object]:
        """Everything, plus the computed summary."""
        summary = {
            who: {
                "value": self.value(who),
                "median": statistics.median(data),
                "p99": percentile(data, 99),
                "min": min(data),
                "max": max(data),
                "n": len(data),
            }
            for who, data in self.samples.items()
            if data
        }
        return {**asdict(self), "summary": summary, "ratio": self.ratio(), "met": self.met()}


def percentile(data: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(data)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def alternating(runs: int) -> Iterator[tuple[str, str]]:
    """A/B, B/A, A/B, ...: the order of the two contenders in each round."""
    for i in range(runs):
        yield (RR, SSH) if i % 2 == 0 else (SSH, RR)


def rotating(contenders: Sequence[str], runs: int) -> Iterator[tuple[str, ...]]:
    """A/B/C, B/C/A, C/A/B, ...: each contender takes each place in turn."""
    for i in range(runs):
        k = i % len(contenders)
        yield tuple(contenders[k:]) + tuple(contenders[:k])


Log = Callable[[str], None]


class MeasurementFailed(BenchError):
    """Part of a measurement failed (one contender); ``metrics`` holds what was measured."""

    def __init__(self, metrics: list[Metric], message: str) -> None:
        super().__init__(message)
        self.metrics = metrics


class SuiteFailed(BenchError):
    """Some measurements failed; ``metrics`` holds the figures of the others."""

    def __init__(self, metrics: list[Metric], failures: list[str], table: str = "") -> None:
        super().__init__("; ".join(failures))
        self.metrics = metrics
        self.failures = failures
        self.table = table


def loadavg() -> tuple[float, float, float]:
    """The 1/5/15-minute load averages (other work on the machine skews timings)."""
    with open("/proc/loadavg") as file:
        one, five, fifteen = (float(x) for x in file.read().split()[:3])
    return one, five, fifteen
