"""The benchmark suite (scripts/bench) runs end to end on tiny sizes, so it cannot rot.

Nothing here looks at timings: only that every measurement ran for every client (the fleet's
parallel-ssh and clush where installed: scripts/bench installs them) and that the table, the
JSON and (with matplotlib installed) the chart were written.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from benchmarks.__main__ import run
from benchmarks.fleet import missing_contenders
from benchmarks.model import CLUSH, PSSH, RR, SSH, Config
from benchmarks.suite import MEASUREMENTS
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
        "fleet_200_setup",
        "fleet_200_setup_pattern",
        "fleet_200_line",
        "fleet_500_line_p99",
        "fleet_500_rss",
        "fleet_rss_marginal",
    } <= keys
    missing = missing_contenders()
    for metric in metrics:
        if metric.key != "fleet_200_clush_tree" and metric.key != "fleet_500_clush_tree":
            assert metric.samples.get(RR), f"{metric.key}: no remoterepl samples"
            assert metric.value(RR) is not None
        if metric.key in ("session_kib", "channel_kib"):  # in-process: remoterepl only
            continue
        if metric.versus == (SSH,):
            assert metric.samples.get(SSH), f"{metric.key}: no ssh samples"
        elif "_line" not in metric.key and "_pattern" not in metric.key:  # remoterepl only
            rivals = [w for w in (PSSH, CLUSH) if w not in missing]
            if "clush_tree" in metric.key:
                rivals = [w for w in rivals if w == CLUSH]
            assert all(metric.samples.get(w) for w in rivals), f"{metric.key}: {metric.samples}"
    fleet_rows = [m for m in metrics if m.versus != (SSH,)]
    # Two tables: header, rule, one row per figure; a blank line between them.
    assert table.count("\n") == len(metrics) + 1 + 3 * bool(fleet_rows)
    assert "| remoterepl | parallel-ssh | clush |" in table
    data = json.loads((tmp_path / "latest.json").read_text())
    assert [m["key"] for m in data["metrics"]] == [m.key for m in metrics]
    assert data["meta"]["config"] == "tiny"
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "latest.png").read_bytes().startswith(b"\x89PNG")
