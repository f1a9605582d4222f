"""Results as a Markdown table (printed), JSON (machine-readable) and a PNG chart."""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

from benchmarks.model import RR, Metric


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value:.2f}"
    if abs(value) >= 100 or unit in ("µs", "KiB"):
        return f"{value:,.0f}"
    return f"{value:.1f}"


def _cell(metric: Metric, who: str) -> str:
    data = metric.samples.get(who) or []
    if not data:
        return "—"
    value = _fmt(metric.value(who), metric.unit)
    if len(data) == 1 or metric.stat != "median":
        return value
    return f"{value} ({_fmt(min(data), metric.unit)}–{_fmt(max(data), metric.unit)})"


def _target(metric: Metric) -> str:
    if metric.target is None:
        return ""
    sign = "≤" if metric.better == "lower" else "≥"
    if not metric.absolute:
        return f"{sign} {metric.target:g}x"
    return f"{sign} {metric.target:g} {metric.unit}"


def _verdict(metric: Metric) -> str:
    met = metric.met()
    return "" if met is None else ("yes" if met else "**no**")


def markdown_table(metrics: Sequence[Metric]) -> str:
    """One row per figure: the contenders (median, min–max), ratio, target, met; one table
    per set of rivals (ssh; parallel-ssh and clush), separated by a blank line."""
    groups: dict[tuple[str, ...], list[Metric]] = {}
    for m in metrics:
        groups.setdefault(m.versus, []).append(m)
    tables = []
    for versus, group in groups.items():
        rows = [
            f"| figure | unit | {' | '.join((RR, *versus))} | ratio | target | met |",
            "| --- " * (6 + len(versus)) + "|",
        ]
        for m in group:
            ratio = m.ratio()
            cells = " | ".join(_cell(m, who) for who in (RR, *versus))
            rows.append(
                f"| {m.title} | {m.unit} | {cells} | "
                f"{'' if ratio is None else f'{ratio:.2f}x'} | {_target(m)} | {_verdict(m)} |"
            )
        tables.append("\n".join(rows))
    return "\n\n".join(tables)


def machine_info() -> dict[str, object]:
    """What the figures were measured on."""

    def version(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except OSError:
            return "?"
        return (done.stdout + done.stderr).strip().splitlines()[0] if done else "?"

    cpu = "?"
    aes = False
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name") and cpu == "?":
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    aes = " aes " in f" {line.split(':', 1)[1]} "
    except OSError:
        pass
    import asyncssh  # only for its version

    import remoterepl

    return {
        "python": platform.python_version(),
        "remoterepl": remoterepl.__version__,
        "asyncssh": asyncssh.__version__,
        "openssh": version(["ssh", "-V"]),
        "kernel": platform.release(),
        "cpu": cpu,
        "cpu_aes": aes,
        "cores": _cores(),
    }


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def write_json(path: Path, metrics: Sequence[Metric], meta: dict[str, object]) -> None:
    """Every sample and the summaries."""
    path.write_text(
        json.dumps(
            {"meta": meta, "metrics": [m.as_json() for m in metrics]}, indent=1, ensure_ascii=False
        )
        + "\n"
    )


def _absolute_label(metric: Metric) -> str:
    """The title, remoterepl's value and, for scale, the rival's (ssh -t's typed key)."""
    label = f"{metric.title} ({_fmt(metric.value(RR), metric.unit)} {metric.unit}"
    rival = metric.rival()
    if rival is not None and metric.compared and len(metric.versus) == 1:
        label += f"; {metric.versus[0]}: {_fmt(rival, metric.unit)} {metric.unit}"
    return label + ")"


def write_chart(path: Path, metrics: Sequence[Metric], title: str) -> bool:
    """A PNG: remoterepl relative to ssh per figure (1.0 = same; targets marked), and the
    absolute figures against their limits. False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False

    paired = [
        m for m in metrics if m.ratio() is not None and m.target is not None and not m.absolute
    ]
    absolute = [m for m in metrics if m.absolute and m.target is not None]
    fig, axes = plt.subplots(
        1, 2, figsize=(14, 0.45 * max(len(paired), 4) + 2.2), gridspec_kw={"width_ratios": [3, 2]}
    )
    left, right = axes
    # Left: "times worse than ssh" so that every bar reads the same way (shorter = better).
    names, costs, limits, colors = [], [], [], []
    for m in paired:
        ratio = m.ratio() or 0.0
        assert m.target is not None
        cost = ratio if m.better == "lower" else (1 / ratio if ratio else 0.0)
        limit = m.target if m.better == "lower" else 1 / m.target
        names.append(m.title)
        costs.append(cost)
        limits.append(limit)
        colors.append("tab:green" if m.met() else "tab:red")
    ys = list(range(len(names)))[::-1]
    left.barh(ys, costs, color=colors)
    for y, limit in zip(ys, limits, strict=True):
        left.plot([limit, limit], [y - 0.4, y + 0.4], color="black", linewidth=2)
    left.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    left.set_xscale("log")
    left.set_xlim(0.25, max([*costs, *limits, 1.0]) * 2.5)
    left.set_yticks(ys, names, fontsize=8)
    left.set_xlabel(
        "remoterepl cost relative to ssh (fleet: to the faster of parallel-ssh, clush), "
        "log scale\n"
        "(1 = same as ssh; black tick = target; shorter is better)",
        fontsize=9,
    )
    for y, cost in zip(ys, costs, strict=True):
        left.text(cost, y, f" {cost:.2f}x", va="center", fontsize=8)
    # Right: absolute figures as a fraction of their limit.
    names = [_absolute_label(m) for m in absolute]
    fractions = [(m.value(RR) or 0.0) / (m.target or 1.0) for m in absolute]
    ys = list(range(len(names)))[::-1]
    right.barh(ys, fractions, color=["tab:green" if m.met() else "tab:red" for m in absolute])
    right.axvline(1.0, color="black", linewidth=2)
    right.set_xlim(0, max([*fractions, 1.0]) * 1.15)
    right.set_yticks(ys, names, fontsize=8)
    right.set_xlabel("remoterepl against its absolute limit\n(1 = the limit)", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
