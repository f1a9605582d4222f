"""remoterepl vs OpenSSH ``ssh``: ``scripts/bench [--quick] [--only NAME ...] [--out DIR]``.

Starts its own sshd on 127.0.0.1 (run as root; the clients log in as the non-root test
user), runs every measurement with both clients interleaved, prints a Markdown table and
writes ``DIR/latest.json`` and ``DIR/latest.png`` (default DIR: benchmarks/results).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.env import REPO, BenchSetupError, bench_env
from benchmarks.model import Config, Metric, SuiteFailed, loadavg
from benchmarks.procs import BenchError
from benchmarks.report import machine_info, markdown_table, write_chart, write_json
from benchmarks.suite import MEASUREMENTS, run_all


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def compile_package() -> None:
    """Byte-compile remoterepl as an installed wheel would be (PYTHONDONTWRITEBYTECODE
    environments would otherwise recompile it on every start)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "remoterepl")], check=True)


def run(
    config: Config,
    out_dir: Path,
    only: Sequence[str] = (),
    log: Callable[[str], None] = _log,
    *,
    compile_first: bool = True,
    remoterepl_exe: Path | None = None,
) -> tuple[list[Metric], str]:
    """Run the suite, write latest.json/latest.png into *out_dir*; return (metrics, table)."""
    if compile_first:
        compile_package()
    out_dir.mkdir(parents=True, exist_ok=True)
    load_before = loadavg()
    started = time.perf_counter()
    failures: list[str] = []
    with bench_env(remoterepl_exe) as env:
        try:
            metrics = run_all(env, config, only, log)
        except SuiteFailed as exc:  # write what was measured, then report the failures
            metrics, failures = exc.metrics, exc.failures
        exe = str(env.remoterepl_exe)
    meta: dict[str, object] = {
        **machine_info(),
        "config": config.name,
        "remoterepl_exe": exe,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "failures": failures,
    }
    table = markdown_table(metrics)
    write_json(out_dir / "latest.json", metrics, meta)
    openssh = str(meta["openssh"]).split(",")[0]
    title = (
        f"remoterepl {meta['remoterepl']} vs {openssh} — {config.name} run, "
        f"{meta['cores']} cores, load {load_before[0]:.2f}"
    )
    if not write_chart(out_dir / "latest.png", metrics, title):
        log("matplotlib missing: no chart (pip install -e '.[bench]')")
    if failures:
        raise SuiteFailed(metrics, failures, table)
    return metrics, table


def _delay_ms(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"not a delay in ms (0 to 10000): {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, ~1 min")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(MEASUREMENTS),
        default=[],
        metavar="NAME",
        help=f"run only these (repeatable): {', '.join(MEASUREMENTS)}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "benchmarks" / "results",
        help="directory for latest.json and latest.png",
    )
    parser.add_argument(
        "--remoterepl",
        type=Path,
        metavar="PATH",
        help="client executable to compare with ssh instead of the installed "
        "remoterepl (e.g. a wrapper running a candidate change)",
    )
    parser.add_argument(
        "--wan-delay",
        type=_delay_ms,
        default=Config.wan_delay_ms,
        metavar="MS",
        help="the slow link of the wan_* rows: delay each way, in ms (default: %(default)g)",
    )
    args = parser.parse_args(argv)
    config = dataclasses.replace(
        Config.quick() if args.quick else Config.full(), wan_delay_ms=args.wan_delay
    )
    try:
        _metrics, table = run(config, args.out, args.only, remoterepl_exe=args.remoterepl)
    except SuiteFailed as exc:
        print(exc.table)
        for failure in exc.failures:
            _log(f"bench: FAILED {failure}")
        return 1
    except (BenchSetupError, BenchError) as exc:
        _log(f"bench: {exc}")
        return 1
    print(table)
    _log(f"wrote {args.out / 'latest.json'} and {args.out / 'latest.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
