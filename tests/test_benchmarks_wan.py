"""The slow-link rows of the benchmark (benchmarks/wan.py) in quick mode: the proxy really
delays each way, and the figures say what the design promises, with generous bounds.

ssh -t's typed key needs the link's round trip; remoterepl's editor shows it without the
link; a line's answer needs one round trip for both (and not two for remoterepl).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.__main__ import main, run
from benchmarks.model import RR, SSH, Config, Metric
from tests.sshd import require_sshd
from tests.system import require_root

_KEYS = (
    "wan_key",
    "wan_key_p99",
    "wan_pty_line",
    "wan_pty_line_p99",
    "wan_pipe_line",
    "wan_pipe_line_p99",
)


def _median(metrics: dict[str, Metric], key: str, who: str) -> float:
    value = metrics[key].value(who)
    assert value is not None, f"{key}: no {who} samples"
    return value


def test_wan_rows_in_quick_mode(tmp_path: Path) -> None:
    """``--quick --only wan_pty --only wan_pipe``: sane numbers in the table and the JSON."""
    require_sshd()
    require_root("the benchmark starts its own sshd and logs in as the test user")
    config = Config.quick()
    trip = 2 * config.wan_delay_ms  # the link's round trip, ms
    lines: list[str] = []
    found, table = run(
        config, tmp_path, ["wan_pty", "wan_pipe"], log=lines.append, compile_first=False
    )
    metrics = {m.key: m for m in found}
    assert tuple(metrics) == _KEYS, lines
    for metric in found:
        for who in (RR, SSH):
            assert len(metric.samples[who]) >= config.wan_lines, (metric.key, who)
        assert metric.extra["delay_ms_each_way"] == config.wan_delay_ms
        assert f"| {metric.title} |" in table

    # A typed key: ssh -t waits for the remote tty's echo; the local editor does not.
    assert _median(metrics, "wan_key", SSH) >= 0.9 * trip
    assert _median(metrics, "wan_key", RR) < config.wan_delay_ms / 2
    assert metrics["wan_key"].absolute and metrics["wan_key"].target == 15.0
    # A line: one round trip for both, in a pty and in pipes; not a second one for remoterepl.
    for key in ("wan_pty_line", "wan_pipe_line"):
        ssh = _median(metrics, key, SSH)
        ours = _median(metrics, key, RR)
        assert 0.9 * trip <= ssh < 2 * trip, (key, ssh)
        assert 0.9 * trip <= ours < ssh + config.wan_delay_ms, (key, ours, ssh)

    data = json.loads((tmp_path / "latest.json").read_text())
    assert [m["key"] for m in data["metrics"]] == list(_KEYS)
    assert data["metrics"][0]["summary"][SSH]["n"] == 3 * config.wan_lines  # 3 keys a line


def test_wan_delay_option_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    """``--wan-delay`` takes milliseconds from 0 to 10000; anything else is a usage error."""
    for bad in ("-1", "nan", "fast", "10001"):
        with pytest.raises(SystemExit) as exited:
            main(["--wan-delay", bad, "--only", "wan_pipe"])
        assert exited.value.code == 2
        assert "not a delay in ms" in capsys.readouterr().err
