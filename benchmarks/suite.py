"""The measurements: remoterepl vs OpenSSH's ssh on the same sshd, interleaved A/B.

Each ``measure_*`` function takes the :class:`~benchmarks.env.BenchEnv` and the
:class:`Config` and returns :class:`Metric` records, each holding every sample of both
contenders. Runs alternate between the contenders (A B, B A, A B, ...) so that drift in
machine load hits both alike; round trips alternate line by line between two live sessions.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Sequence

from benchmarks.env import BenchEnv
from benchmarks.fleet import FLEET_MEASUREMENTS, derived_fleet_metrics
from benchmarks.memory import measure_memory, measure_sessions
from benchmarks.model import (
    RR,
    SSH,
    Config,
    Log,
    MeasurementFailed,
    Metric,
    SuiteFailed,
    alternating,
)
from benchmarks.procs import (
    BenchError,
    LinePipe,
    MiB,
    PtyClient,
    download,
    timed_run,
    upload,
    visible,
)
from benchmarks.wan import measure_wan_pipe, measure_wan_pty

# --------------------------------------------------------------------------- start-up


def measure_startup(env: BenchEnv, config: Config, log: Log) -> list[Metric]:
    """Whole-process time of ``CLIENT HOST true`` (stdin /dev/null, default algorithms)."""
    argv = {RR: env.remoterepl(env.host, "true"), SSH: env.ssh(env.host, "true")}
    for who in (RR, SSH):  # warm the page cache and sshd; not counted
        timed_run(argv[who], env.env)
    wall: dict[str, list[float]] = {RR: [], SSH: []}
    cpu: dict[str, list[float]] = {RR: [], SSH: []}
    for order in alternating(config.startup_runs):
        for who in order:
            seconds, finished = timed_run(argv[who], env.env)
            wall[who].append(seconds * 1000)
            cpu[who].append((finished.user_s + finished.sys_s) * 1000)
    log(f"start-up: {statistics.median(wall[RR]):.0f} ms vs {statistics.median(wall[SSH]):.0f} ms")
    return [
        Metric("startup", "start-up: `HOST true`", "ms", "lower", wall, target=1.0),
        Metric(
            "startup_cpu",
            "start-up CPU (user+sys)",
            "ms",
            "lower",
            cpu,
            note="client process only; not a target",
        ),
    ]


# --------------------------------------------------------------------------- throughput


def measure_throughput(env: BenchEnv, config: Config, log: Log) -> list[Metric]:
    """Steady-state MB/s: N bytes into remote ``wc -c``; remote ``head -c N`` read back."""
    size = config.transfer_bytes
    up = {RR: env.remoterepl(env.host, "wc -c"), SSH: env.ssh(env.host, "wc -c")}
    down_cmd = f"head -c {size} /dev/zero"
    down = {RR: env.remoterepl(env.host, down_cmd), SSH: env.ssh(env.host, down_cmd)}
    rates_up: dict[str, list[float]] = {RR: [], SSH: []}
    rates_down: dict[str, list[float]] = {RR: [], SSH: []}
    cpu: dict[str, dict[str, list[float]]] = {
        "upload": {RR: [], SSH: []},
        "download": {RR: [], SSH: []},
    }
    for order in alternating(config.transfer_runs):
        for who in order:
            sent = upload(up[who], env.env, size)
            rates_up[who].append(sent.mb_per_s)
            if sent.cpu_s_per_gib is not None:
                cpu["upload"][who].append(sent.cpu_s_per_gib)
        for who in order:
            got = download(down[who], env.env, size)
            rates_down[who].append(got.mb_per_s)
            if got.cpu_s_per_gib is not None:
                cpu["download"][who].append(got.cpu_s_per_gib)
    cpu_note = {
        direction: {who: round(statistics.median(v), 2) for who, v in per.items() if v}
        for direction, per in cpu.items()
    }
    mib = size // MiB
    log(
        f"upload: {statistics.median(rates_up[RR]):.0f} vs {statistics.median(rates_up[SSH]):.0f}"
        f" MB/s; download: {statistics.median(rates_down[RR]):.0f} vs "
        f"{statistics.median(rates_down[SSH]):.0f} MB/s"
    )
    log(f"client CPU seconds per GiB, steady state (median): {cpu_note}")
    return [
        Metric(
            "upload",
            f"upload {mib} MiB -> `wc -c`",
            "MB/s",
            "higher",
            rates_up,
            target=1.0,
            extra={"client_cpu_s_per_gib": cpu_note["upload"]},
        ),
        Metric(
            "download",
            f"download {mib} MiB `head -c`",
            "MB/s",
            "higher",
            rates_down,
            target=1.0,
            extra={"client_cpu_s_per_gib": cpu_note["download"]},
        ),
    ]


# --------------------------------------------------------------------------- round trips


def _rtt_metrics(key: str, title: str, samples: dict[str, list[float]], note: str) -> list[Metric]:
    return [
        Metric(key, f"{title}: median", "µs", "lower", samples, target=1.2, note=note),
        Metric(f"{key}_p99", f"{title}: p99", "µs", "lower", samples, target=1.5, stat="p99"),
    ]


def measure_pipe_rtt(env: BenchEnv, config: Config, log: Log) -> list[Metric]:
    """``1+1`` -> ``2`` through one long-lived remote ``bc`` in pipe mode, line by line,
    alternating between a remoterepl session and an ssh session that are both open."""
    clients = {
        RR: LinePipe(env.remoterepl(env.host, "bc"), env.env),
        SSH: LinePipe(env.ssh(env.host, "bc"), env.env),
    }
    samples: dict[str, list[float]] = {RR: [], SSH: []}
    try:
        for i in range(config.rtt_warmup + config.rtt_lines):
            for who in (RR, SSH) if i % 2 == 0 else (SSH, RR):
                seconds, reply = clients[who].round_trip(b"1+1")
                if reply != b"2":
                    raise BenchError(f"{who} bc answered {reply!r} to 1+1")
                if i >= config.rtt_warmup:
                    samples[who].append(seconds * 1e6)
    finally:
        for client in clients.values():
            client.close()
    log(
        f"pipe round trip: {statistics.median(samples[RR]):.0f} vs "
        f"{statistics.median(samples[SSH]):.0f} µs"
    )
    return _rtt_metrics(
        "rtt_pipe",
        "round trip, pipe",
        samples,
        f"{config.rtt_lines} lines to one remote bc, each awaiting its reply",
    )


_RESULT = re.compile(rb"(?<![0-9+])2\r*\n")


def _pty_round_trip(client: PtyClient) -> float:
    """Type ``1+1``, wait for it on screen, press Enter; seconds until ``2`` is shown."""
    client.write(b"1+1")
    client.wait_visible(b"1+1")
    start = time.perf_counter()
    client.write(b"\r")
    client.read_until(lambda d: _RESULT.search(visible(d)) is not None)
    return time.perf_counter() - start


def measure_pty_rtt(env: BenchEnv, config: Config, log: Log) -> list[Metric]:
    """Keystroke Enter -> ``2`` on screen, remote ``bc`` in a pty: remoterepl's line editor
    vs ``ssh -t`` (the remote tty echoes there), both in 80x24 ptys, alternating lines."""
    clients = {
        RR: PtyClient(env.remoterepl(env.host, "bc"), env.env),
        SSH: PtyClient(env.ssh("-t", env.host, "bc"), env.env),
    }
    samples: dict[str, list[float]] = {RR: [], SSH: []}
    try:
        clients[RR].wait_visible(b"bc>", timeout=30)
        for client in clients.values():
            _pty_round_trip(client)  # also waits for the session to be ready
            client.drain(0.1)
        for i in range(config.rtt_warmup + config.rtt_lines):
            for who in (RR, SSH) if i % 2 == 0 else (SSH, RR):
                seconds = _pty_round_trip(clients[who])
                if i >= config.rtt_warmup:
                    samples[who].append(seconds * 1e6)
    finally:
        for client in clients.values():
            client.close()
    log(
        f"pty round trip: {statistics.median(samples[RR]):.0f} vs "
        f"{statistics.median(samples[SSH]):.0f} µs"
    )
    return _rtt_metrics(
        "rtt_pty",
        "round trip, interactive pty",
        samples,
        "Enter to result on screen; remoterepl editor vs ssh -t",
    )


# --------------------------------------------------------------------------- output flood


def _shell(env: BenchEnv, who: str) -> PtyClient:
    argv = env.remoterepl(env.host, "sh") if who == RR else env.ssh("-t", env.host, "sh")
    client = PtyClient(argv, env.env)
    client.wait_visible(b"$", timeout=30)
    client.drain(0.2)
    return client


def _type_command(client: PtyClient, command: bytes) -> None:
    client.write(command)
    client.wait_visible(command)


def measure_flood(env: BenchEnv, config: Config, log: Log) -> list[Metric]:
    """``seq 1 N`` in an interactive remote shell: Enter until the last line is shown;
    then an endless ``seq``: a key typed during the flood until it is shown (prompt
    responsiveness), and Ctrl-C until the flood has stopped and the shell prompt is back."""
    clients = {who: _shell(env, who) for who in (RR, SSH)}
    flood: dict[str, list[float]] = {RR: [], SSH: []}
    echo: dict[str, list[float]] = {RR: [], SSH: []}
    stop: dict[str, list[float]] = {RR: [], SSH: []}
    last = re.compile(rb"\n" + str(config.flood_lines).encode() + rb"\r*\n")
    command = f"seq 1 {config.flood_lines}".encode()
    try:
        for order in alternating(config.flood_runs):
            for who in order:
                client = clients[who]
                _type_command(client, command)
                start = time.perf_counter()
                client.write(b"\r")
                data = client.read_until(lambda d: last.search(d) is not None, timeout=120, keep=64)
                flood[who].append(time.perf_counter() - start)
                match = last.search(data)
                assert match is not None
                if b"$" not in visible(data[match.end() :]):
                    client.wait_visible(b"$")  # the shell prompt is back
                client.drain(0.2)
        for order in alternating(config.interrupt_runs):
            for who in order:
                seconds_echo, seconds_stop = _interrupt_flood(clients[who])
                echo[who].append(seconds_echo * 1000)
                stop[who].append(seconds_stop * 1000)
    finally:
        for client in clients.values():
            client.close()
    log(
        f"flood: {statistics.median(flood[RR]):.2f} vs {statistics.median(flood[SSH]):.2f} s; "
        f"Ctrl-C: {max(stop[RR]):.0f} vs {max(stop[SSH]):.0f} ms"
    )
    return [
        Metric(
            "flood",
            f"flood `seq 1 {config.flood_lines}` in a pty",
            "s",
            "lower",
            flood,
            target=1.5,
            note="Enter until the last line is shown; vs ssh -t",
        ),
        Metric(
            "flood_interrupt",
            "Ctrl-C during a flood until it stops (worst)",
            "ms",
            "lower",
            stop,
            target=1000.0,
            stat="max",
            absolute=True,
            note="target: absolute, remoterepl under 1 s",
        ),
        Metric(
            "flood_echo",
            "key typed during a flood until shown",
            "ms",
            "lower",
            echo,
            note="ssh -t: the remote tty echoes behind the queued output",
        ),
    ]


def _interrupt_flood(client: PtyClient) -> tuple[float, float]:
    _type_command(client, b"seq 1 1000000000")
    client.write(b"\r")
    client.read_until(lambda d: len(d) >= 2 * MiB, timeout=30, keep=4 * MiB)
    start = time.perf_counter()
    client.write(b"x")
    client.read_until(lambda d: b"x" in visible(d), timeout=30, keep=4096)
    echoed = time.perf_counter() - start
    start = time.perf_counter()
    client.write(b"\x03")
    client.read_until(lambda d: b"$" in visible(d), timeout=30, keep=4096)
    stopped = time.perf_counter() - start
    client.drain(0.3)
    return echoed, stopped


MEASUREMENTS: dict[str, Callable[[BenchEnv, Config, Log], list[Metric]]] = {
    "startup": measure_startup,
    "throughput": measure_throughput,
    "rtt_pipe": measure_pipe_rtt,
    "rtt_pty": measure_pty_rtt,
    "wan_pty": measure_wan_pty,
    "wan_pipe": measure_wan_pipe,
    "flood": measure_flood,
    "memory": measure_memory,
    "sessions": measure_sessions,
    **FLEET_MEASUREMENTS,
}


def run_all(
    env: BenchEnv, config: Config, only: Sequence[str] = (), log: Log = print
) -> list[Metric]:
    """Run the chosen measurements (all by default), in a fixed order."""
    metrics: list[Metric] = []
    failures: list[str] = []
    for name, measure in MEASUREMENTS.items():
        if only and name not in only:
            continue
        log(f"== {name}")
        started = time.perf_counter()
        try:
            metrics += measure(env, config, log)
        except BenchError as exc:  # report it, keep the other figures
            if isinstance(exc, MeasurementFailed):
                metrics += exc.metrics
            failures.append(f"{name}: {exc}")
            log(f"   FAILED: {exc}")
        log(f"   ({time.perf_counter() - started:.1f} s)")
    metrics += derived_fleet_metrics(metrics)
    if failures:
        raise SuiteFailed(metrics, failures)
    return metrics
