"""Fleets: N hosts from one client, remoterepl vs parallel-ssh vs clush (fleet_200, fleet_500).

The N hosts are N names of one generated ssh_config (``h001`` ...), each its own ``Host``
block pointing at the benchmark's one sshd (whose config raises MaxStartups), as the test
user with the benchmark key. Per fleet:

- set-up + one-shot ``true`` on every host, whole-process wall time: ``remoterepl
  --hosts-file F -F CFG --fanout 64 true``, parallel-ssh's ParallelSSHClient
  (``benchmarks/pssh_fleet.py``, pool_size 64; it reads no ssh_config) and ``clush -f 64
  -o '-F CFG'`` (one OpenSSH ``ssh`` per host); runs rotate the three contenders' order;
- peak RSS (VmHWM) of each client process in those runs, and clush with its ``ssh``
  children (summed PSS, one more untimed run);
- remoterepl only: one long-lived ``remoterepl --hosts-file F bc`` in pipe mode, time from
  writing ``1+1`` until all N hosts' ``HOST: 2`` lines are read.
"""

from __future__ import annotations

import functools
import importlib.util
import shutil
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.env import REPO, BenchEnv
from benchmarks.fleet_procs import FanOutSession, fleet_run, wait_idle
from benchmarks.model import CLUSH, PSSH, RR, Config, Log, MeasurementFailed, Metric, rotating
from benchmarks.procs import BenchError
from tests.client_env import ClientEnv
from tests.system import LOOPBACK

#: Concurrent connection set-ups, the same for all three (clush's default; remoterepl's too).
FANOUT = 64
CONTENDERS = (RR, PSSH, CLUSH)
RIVALS = (PSSH, CLUSH)
#: remoterepl again, on the same hosts defined by one ``Host h*`` block: what reading a
#: config of N blocks per host costs (parallel-ssh reads none; clush's ssh parses in C).
RR_PATTERN = "remoterepl, one Host h* block"
_WARM_HOSTS = 5


@dataclass(frozen=True)
class Fleet:
    """N host names, the ssh_config that defines them and a hosts file listing them."""

    names: tuple[str, ...]
    config_path: Path
    hosts_file: Path
    pattern_config_path: Path | None = None  # the same hosts as one ``Host h*`` block

    @property
    def nodeset(self) -> str:
        """The names in clush's folded notation: ``h[001-500]``."""
        return f"h[{self.names[0][1:]}-{self.names[-1][1:]}]"


def write_fleet(directory: Path, client: ClientEnv, count: int) -> Fleet:
    """Write an ssh_config of *count* ``Host`` blocks, each *client*'s server, login, key
    and known_hosts, and a hosts file naming them, into *directory*."""
    directory.mkdir(parents=True, exist_ok=True)
    names = tuple(f"h{i:03d}" for i in range(1, count + 1))
    options = (
        f"    HostName {LOOPBACK}\n    Port {client.port}\n"
        f"    User {client.users.user}\n    IdentityFile {client.key_path}\n"
        f"    IdentitiesOnly yes\n    UserKnownHostsFile {client.known_hosts_path}\n"
    )
    header = "# benchmarks/fleet.py: every host is the benchmark's sshd\n\n"
    config = directory / "ssh_config"
    config.write_text(header + "\n".join(f"Host {name}\n{options}" for name in names))
    pattern = directory / "ssh_config_pattern"
    pattern.write_text(f"{header}Host h*\n{options}")
    for path in (config, pattern):
        path.chmod(0o600)
    hosts_file = directory / "hosts"
    hosts_file.write_text("# benchmarks/fleet.py\n" + "".join(f"{n}\n" for n in names))
    return Fleet(names, config, hosts_file, pattern)


def one_shot_argv(env: BenchEnv, fleet: Fleet, who: str, command: str) -> list[str]:
    """The command line that runs *command* once on every host of *fleet* for *who*."""
    if who in (RR, RR_PATTERN):
        config = fleet.pattern_config_path if who == RR_PATTERN else fleet.config_path
        return [
            str(env.remoterepl_exe),
            *("--hosts-file", str(fleet.hosts_file), "-F", str(config)),
            *("--fanout", str(FANOUT), command),
        ]
    if who == PSSH:
        client = env.client
        return [
            sys.executable,
            *("-m", "benchmarks.pssh_fleet", "--host", LOOPBACK, "--port", str(client.port)),
            *("--user", client.users.user, "--key", str(client.key_path)),
            *("--count", str(len(fleet.names)), "--pool-size", str(FANOUT), command),
        ]
    # -S: exit with the largest remote status, so failures show (clush exits 0 otherwise).
    return [
        "clush",
        "-S",
        "-f",
        str(FANOUT),
        "-w",
        fleet.nodeset,
        "-o",
        f"-F {fleet.config_path}",
        command,
    ]


def missing_contenders() -> dict[str, str]:
    """Contenders that cannot run here, with why (scripts/bench installs both)."""
    missing: dict[str, str] = {}
    if importlib.util.find_spec("pssh") is None:
        missing[PSSH] = "parallel-ssh not installed (pip install -e '.[bench]')"
    if shutil.which("clush") is None:
        missing[CLUSH] = "clush not installed (apt-get install clustershell)"
    return missing


def measure_fleet(label: str, env: BenchEnv, config: Config, log: Log) -> list[Metric]:
    """Set-up + ``true``, peak RSS (all three) and line latency (remoterepl) for one fleet."""
    count = config.fleet_small if label == "200" else config.fleet_large
    runs = config.fleet_runs_small if label == "200" else config.fleet_runs_large
    fleet = write_fleet(env.workdir / f"fleet-{count}", env.client, count)
    warm = write_fleet(env.workdir / "fleet-warm", env.client, min(_WARM_HOSTS, count))
    child_env = {**env.env, "PYTHONPATH": str(REPO)}  # benchmarks.pssh_fleet from the checkout
    server_pid = env.server.proc.pid if env.server.proc else 0
    timeout = 60 + count
    skipped = missing_contenders()  # not a failure: the test suite runs without them
    for who, why in skipped.items():
        log(f"   {who}: skipped: {why}")
    failures: dict[str, str] = {}
    runners = (*CONTENDERS, RR_PATTERN)
    active = [w for w in runners if w not in skipped]
    wall: dict[str, list[float]] = {w: [] for w in runners}
    peak: dict[str, list[float]] = {w: [] for w in runners}

    def attempt(who: str, step: Callable[[], None]) -> None:
        try:
            step()
        except BenchError as exc:  # this contender is out; the others go on
            failures[who] = str(exc)
            active.remove(who)
            log(f"   {who} FAILED: {exc}")
        wait_idle(server_pid)

    def warm_up(who: str) -> None:  # page cache, imports and sshd, on a few hosts; not counted
        fleet_run(one_shot_argv(env, warm, who, "true"), child_env, timeout=60)

    def timed(who: str) -> None:
        seconds, peak_kib, _ = fleet_run(
            one_shot_argv(env, fleet, who, "true"), child_env, timeout=timeout
        )
        wall[who].append(seconds)
        peak[who].append(peak_kib / 1024)

    for who in CONTENDERS:
        if who in active:
            attempt(who, functools.partial(warm_up, who))
    for order in rotating(runners, runs):
        for who in order:
            if who in active:
                attempt(who, functools.partial(timed, who))
    tree: dict[str, list[float]] = {CLUSH: []}
    if CLUSH in active:

        def clush_tree() -> None:
            _s, _p, tree_kib = fleet_run(
                one_shot_argv(env, fleet, CLUSH, "true"), child_env, timeout=timeout, tree=True
            )
            tree[CLUSH].append(tree_kib / 1024)

        attempt(CLUSH, clush_tree)
    lines, session = _line_latency(env, fleet, config, child_env, failures, log)
    summary = ", ".join(f"{w} {statistics.median(v):.2f} s" for w, v in wall.items() if v)
    log(f"fleet of {count}: set-up + true: {summary}")
    pattern = {RR: wall.pop(RR_PATTERN)}
    peak.pop(RR_PATTERN)
    metrics = _fleet_metrics(label, count, wall, peak, tree, lines, session)
    metrics.insert(
        1,
        Metric(
            f"fleet_{label}_setup_pattern",
            f"fleet of {count}: the same, hosts as one `Host h*` block",
            "s",
            "lower",
            pattern,
            note="remoterepl only (the rivals: the row above); its cost of an N-block config",
            extra={"hosts": count},
            versus=RIVALS,
            compared=False,
        ),
    )
    metrics[0].extra["skipped"] = skipped
    metrics = [m for m in metrics if any(m.samples.values())]  # no clush: no clush row
    if failures:
        raise MeasurementFailed(metrics, "; ".join(f"{w}: {why}" for w, why in failures.items()))
    return metrics


def _line_latency(
    env: BenchEnv,
    fleet: Fleet,
    config: Config,
    child_env: dict[str, str],
    failures: dict[str, str],
    log: Log,
) -> tuple[list[float], dict[str, object]]:
    """remoterepl's fan-out session: ms until every host answered each ``1+1``."""
    argv = [
        str(env.remoterepl_exe),
        *("--hosts-file", str(fleet.hosts_file), "-F", str(fleet.config_path)),
        *("--fanout", str(FANOUT), "bc"),
    ]
    count = len(fleet.names)
    samples: list[float] = []
    info: dict[str, object] = {}
    session = FanOutSession(argv, child_env, fleet.names)
    try:
        # The first line waits for every session to be set up.
        info["first_line_s"] = session.answer_all(b"1+1", b"2", timeout=120 + count)
        for i in range(config.fleet_warmup + config.fleet_lines):
            seconds = session.answer_all(b"1+1", b"2", timeout=60)
            if i >= config.fleet_warmup:
                samples.append(seconds * 1000)
        info["uss_kib"] = session.uss_kib()
        info["peak_rss_kib"] = session.close()
    except BenchError as exc:
        session.abort()
        failures[f"{RR} bc"] = str(exc)
        log(f"   {RR} bc session FAILED: {exc}")
    if samples:
        log(
            f"fleet of {count}: one line answered by all: median "
            f"{statistics.median(samples):.1f} ms; the first (set-up included) "
            f"{info['first_line_s']:.2f} s"
        )
    return samples, info


def _fleet_metrics(
    label: str,
    count: int,
    wall: dict[str, list[float]],
    peak: dict[str, list[float]],
    tree: dict[str, list[float]],
    lines: list[float],
    session: dict[str, object],
) -> list[Metric]:
    key = f"fleet_{label}"
    hosts: dict[str, object] = {"hosts": count}
    per_host = {w: [v * 1024 / count for v in data] for w, data in peak.items()}
    return [
        Metric(
            f"{key}_setup",
            f"fleet of {count}: set-up + `true` on every host",
            "s",
            "lower",
            wall,
            target=1.0,
            note=f"whole process, fanout {FANOUT}; ratio: to the faster of parallel-ssh and clush",
            extra=hosts,
            versus=RIVALS,
        ),
        Metric(
            f"{key}_line",
            f"fleet of {count}: one line answered by all: median",
            "ms",
            "lower",
            {RR: lines},
            target=1000.0,
            absolute=True,
            note="remoterepl only: `1+1` to every host's bc until all N `HOST: 2` lines are read",
            extra={**hosts, **session},
            versus=RIVALS,
        ),
        Metric(
            f"{key}_line_p99",
            f"fleet of {count}: one line answered by all: p99",
            "ms",
            "lower",
            {RR: lines},
            target=1000.0,
            stat="p99",
            absolute=True,
            extra=hosts,
            versus=RIVALS,
        ),
        Metric(
            f"{key}_rss",
            f"fleet of {count}: client peak RSS",
            "MiB",
            "lower",
            peak,
            stat="max",
            note="VmHWM of the client process (clush: without its ssh processes)",
            extra=hosts,
            versus=RIVALS,
            compared=False,  # clush's SSH state is in its ssh processes
        ),
        Metric(
            f"{key}_rss_per_host",
            f"fleet of {count}: client peak RSS / hosts",
            "KiB",
            "lower",
            per_host,
            stat="max",
            extra=hosts,
            versus=RIVALS,
            compared=False,
        ),
        Metric(
            f"{key}_clush_tree",
            f"fleet of {count}: clush with its ssh processes (peak PSS sum)",
            "MiB",
            "lower",
            tree,
            stat="max",
            note=f"up to {FANOUT} ssh processes at once; sampled in one untimed run",
            extra=hosts,
            versus=RIVALS,
        ),
    ]


def derived_fleet_metrics(metrics: Sequence[Metric]) -> list[Metric]:
    """Peak RSS per extra host between the two fleets, when both were measured."""
    rss = {m.key: m for m in metrics if m.key in ("fleet_200_rss", "fleet_500_rss")}
    small, large = rss.get("fleet_200_rss"), rss.get("fleet_500_rss")
    if small is None or large is None:
        return []
    n_small, n_large = small.extra["hosts"], large.extra["hosts"]
    assert isinstance(n_small, int) and isinstance(n_large, int)
    marginal: dict[str, list[float]] = {}
    for who in CONTENDERS:
        low, high = small.value(who), large.value(who)
        if low is not None and high is not None and n_large > n_small:
            marginal[who] = [(high - low) * 1024 / (n_large - n_small)]
    return [
        Metric(
            "fleet_rss_marginal",
            f"client peak RSS per extra host ({n_small} → {n_large})",
            "KiB",
            "lower",
            marginal,
            note="(peak at the larger fleet - peak at the smaller) / extra hosts",
            extra={"hosts": [n_small, n_large]},
            versus=RIVALS,
            compared=False,
        ),
    ]


FLEET_MEASUREMENTS: dict[str, Callable[[BenchEnv, Config, Log], list[Metric]]] = {
    "fleet_200": functools.partial(measure_fleet, "200"),
    "fleet_500": functools.partial(measure_fleet, "500"),
}
