"""Memory: peak RSS while streaming, and what one more session or client process costs."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from benchmarks.env import REPO, BenchEnv
from benchmarks.model import RR, SSH, Config, Log, Metric
from benchmarks.procs import BenchError, LinePipe, MiB, download, private_kib, upload


def measure_memory(env: BenchEnv, config: Config, log: Log) -> list[Metric]:
    """Peak RSS (VmHWM) while piping N bytes up into ``wc -c`` and down from ``head -c``;
    RSS sampled meanwhile to show it stays flat."""
    size = config.memory_bytes
    peaks: dict[str, list[float]] = {RR: [], SSH: []}
    extra: dict[str, object] = {}
    down_cmd = f"head -c {size} /dev/zero"
    for who, make in ((RR, env.remoterepl), (SSH, env.ssh)):
        up = upload(make(env.host, "wc -c"), env.env, size, sample_rss=True)
        down = download(make(env.host, down_cmd), env.env, size, sample_rss=True)
        peaks[who] += [up.peak_rss_kib / 1024, down.peak_rss_kib / 1024]
        extra[who] = {
            direction: {
                "peak_mib": t.peak_rss_kib / 1024,
                "mb_per_s": t.mb_per_s,
                "rss_kib_samples": _thin(t.rss_samples),
            }
            for direction, t in (("upload", up), ("download", down))
        }
    gib = size / (1024 * MiB)
    label = f"{gib:g} GiB" if gib >= 1 else f"{size // MiB} MiB"
    log(f"peak RSS piping {label}: {max(peaks[RR]):.1f} vs {max(peaks[SSH]):.1f} MiB")
    return [
        Metric(
            "peak_rss",
            f"peak RSS piping {label} (up, down)",
            "MiB",
            "lower",
            peaks,
            target=80.0,
            stat="max",
            absolute=True,
            note="target: absolute, remoterepl <= 80 MiB",
            extra=extra,
        )
    ]


def _thin(samples: list[tuple[float, int]], keep: int = 40) -> list[tuple[float, int]]:
    step = max(1, len(samples) // keep)
    return [(round(t, 3), kib) for t, kib in samples[::step]]


def measure_sessions(env: BenchEnv, config: Config, log: Log) -> list[Metric]:
    """Memory per extra session. remoterepl: one process opens sessions with remoterepl's
    own connection/session modules (benchmarks/sessions_probe.py), RSS before and after.
    Both: the private memory (USS) of each extra client process holding an idle session."""
    probe = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.sessions_probe",
            "--config",
            str(env.client.config_path),
            "--host",
            env.host,
            "--count",
            str(config.extra_sessions),
        ],
        env=env.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    if probe.returncode != 0:
        raise BenchError(f"sessions probe failed: {probe.stderr.strip()[-800:]}")
    result = json.loads(probe.stdout)
    per_process = _process_uss(env, config.process_sessions)
    log(
        f"per extra session: {result['per_connection_kib']:.0f} KiB (own connection), "
        f"{result['per_channel_kib']:.0f} KiB (shared connection); per process "
        f"{statistics.median(per_process[RR]):.0f} vs {statistics.median(per_process[SSH]):.0f}"
        " KiB USS"
    )
    return [
        Metric(
            "session_kib",
            "per extra session in one process (own connection)",
            "KiB",
            "lower",
            {RR: [result["per_connection_kib"]]},
            target=200.0,
            absolute=True,
            note=f"{config.extra_sessions} sessions opened with remoterepl.ssh.connect/"
            "session; target: absolute",
            extra=result,
        ),
        Metric(
            "channel_kib",
            "per extra session on a shared connection",
            "KiB",
            "lower",
            {RR: [result["per_channel_kib"]]},
            note="not how the CLI works; for scale",
        ),
        Metric(
            "process_uss",
            "per extra client process, private memory (USS)",
            "KiB",
            "lower",
            per_process,
            note="each process holding one idle session",
        ),
    ]


def _process_uss(env: BenchEnv, count: int) -> dict[str, list[float]]:
    """Start *count* clients per contender, each holding an idle remote ``cat``; their USS."""
    result: dict[str, list[float]] = {RR: [], SSH: []}
    for who, make in ((RR, env.remoterepl), (SSH, env.ssh)):
        pipes = [LinePipe(make(env.host, "cat"), env.env) for _ in range(count)]
        try:
            for pipe in pipes:
                pipe.round_trip(b"ready", timeout=30)  # the session is up
            for pipe in pipes:
                uss = private_kib(pipe.proc.pid)
                if uss is not None:
                    result[who].append(float(uss))
        finally:
            for pipe in pipes:
                pipe.close()
    return result
