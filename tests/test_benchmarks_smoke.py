"""The benchmark suite (scripts/bench) runs end to end on tiny sizes, so it cannot rot.

Nothing here looks at timings: only that every measurement ran for both clients and that
the table, the JSON and (with matplotlib installed) the chart were written.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from benchmarks.__main__ import run
from benchmarks.suite import MEASUREMENTS, RR, SSH, Config
from tests.sshd import require_sshd
from tests.system import require_root


def test_every_measurement_runs_on_tiny_sizes(tmp_path: Path) -> None:
    """Config.tiny(): all measurements, both contenders, table + JSON (+ PNG)."""
    require_sshd()
    require_root("the benchmark starts its own sshd and logs in as the test user")
    lines: list[str] = []
    metrics, table = run(Config.tiny(), tmp_path, log=lines.append, compile_first=False)

    assert [line for line in lines if line.startswith("== ")] == [
        f"== {name}" for name in MEASUREMENTS
    ]
    keys = {m.key for m in metrics}
    assert {
        "startup",
        "upload",
        "download",
        "rtt_pipe",
        "rtt_pty",
        "flood",
        "flood_interrupt",
        "peak_rss",
        "session_kib",
        "process_uss",
    } <= keys
    for metric in metrics:
        assert metric.samples.get(RR), f"{metric.key}: no remoterepl samples"
        if metric.key not in ("session_kib", "channel_kib"):  # in-process: remoterepl only
            assert metric.samples.get(SSH), f"{metric.key}: no ssh samples"
        assert metric.value(RR) is not None

    assert table.count("\n") == len(metrics) + 1  # header, rule, one row per figure
    data = json.loads((tmp_path / "latest.json").read_text())
    assert [m["key"] for m in data["metrics"]] == [m.key for m in metrics]
    assert data["meta"]["config"] == "tiny"
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "latest.png").read_bytes().startswith(b"\x89PNG")
