"""Processes of the fleet benchmark: one-shot fleet runs with their peak memory, a long-lived
fan-out session read line by line, and waiting for sshd to be idle between runs."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import tempfile
import threading
import time
from collections.abc import Collection, Mapping, Sequence

from benchmarks.procs import BenchError, Finished, RssSampler, popen, private_kib, reap


def _children(pid: int) -> list[int]:
    """Direct children of *pid* (Linux's /proc/PID/task/TID/children, every thread)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with (
                contextlib.suppress(OSError, ValueError),
                open(f"/proc/{pid}/task/{tid}/children") as file,
            ):
                found += [int(x) for x in file.read().split()]
    return found


def _pss_kib(pid: int) -> int:
    """Proportional set size of *pid* (shared pages divided among their users), KiB."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class TreeSampler:
    """Samples the summed PSS of a process and its direct children (clush and its ``ssh``
    processes) in a thread: peak sum and peak child count. Reading every child's
    smaps_rollup costs CPU, so this runs only in runs that are not timed."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self.peak_children = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="tree-sampler")

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            own = _pss_kib(self.pid)
            if not own:
                return
            children = _children(self.pid)
            self.peak_kib = max(self.peak_kib, own + sum(_pss_kib(c) for c in children))
            self.peak_children = max(self.peak_children, len(children))
            self._stop.wait(self.interval)


def _check(proc: subprocess.Popen[bytes], finished: Finished, err: int, what: str) -> None:
    if finished.returncode != 0:
        os.lseek(err, 0, os.SEEK_SET)
        text = os.read(err, 1 << 20).decode("utf-8", "replace").strip()
        raise BenchError(f"{what}: exit status {finished.returncode}: {text[-600:]}")


def fleet_run(
    argv: Sequence[str], env: Mapping[str, str], *, timeout: float, tree: bool = False
) -> tuple[float, int, int]:
    """Run a one-shot fleet client (stdin /dev/null, stdout discarded, stderr to a file: a
    pipe could fill and stall it); return (seconds, peak RSS KiB, peak tree PSS KiB or 0).

    With *tree*, the process tree's PSS is sampled as well (costly: not for timed runs)."""
    with tempfile.TemporaryFile() as errfile:
        err = errfile.fileno()
        start = time.perf_counter()
        proc = popen(argv, env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        tree_kib = 0
        with RssSampler(proc.pid) as rss:
            if tree:
                with TreeSampler(proc.pid) as sampler:
                    finished = reap(proc, timeout)
                tree_kib = sampler.peak_kib
            else:
                finished = reap(proc, timeout)
        elapsed = time.perf_counter() - start
        _check(proc, finished, err, argv[0])
    return elapsed, rss.peak_kib, tree_kib


class FanOutSession:
    """A fan-out client in pipe mode (``remoterepl --hosts-file F bc``): each line written
    goes to every host; every answer comes back as ``HOST: text``, HOST padded with spaces."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], hosts: Collection[str]):
        self.argv = list(argv)
        self.hosts = frozenset(hosts)
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 -- closed by close()/abort()
        self.proc = popen(
            argv, env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err.fileno()
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.wfd = self.proc.stdin.fileno()
        self.rfd = self.proc.stdout.fileno()
        self.rss = RssSampler(self.proc.pid).__enter__()
        self._buffer = b""

    def answer_all(self, line: bytes, expect: bytes, timeout: float) -> float:
        """Write *line*; seconds until every host has answered *expect* (each exactly once)."""
        start = time.perf_counter()
        deadline = time.monotonic() + timeout
        os.write(self.wfd, line + b"\n")
        seen: set[str] = set()
        while len(seen) < len(self.hosts):
            ready, _, _ = select.select([self.rfd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self.rfd, 65536) if ready else b""
            if not chunk:
                raise BenchError(
                    f"{len(seen)} of {len(self.hosts)} hosts answered {line!r} "
                    f"({'EOF' if ready else f'timeout {timeout:.0f}s'}){self._stderr()}"
                )
            *lines, self._buffer = (self._buffer + chunk).split(b"\n")
            for got in lines:
                host, sep, text = got.decode("utf-8", "replace").partition(": ")
                host = host.rstrip(" ")
                if not sep or host not in self.hosts or host in seen or text != expect.decode():
                    raise BenchError(f"unexpected output line {got!r} after {line!r}")
                seen.add(host)
        return time.perf_counter() - start

    def _stderr(self) -> str:
        self._err.seek(0)
        text = self._err.read().decode("utf-8", "replace").strip()
        return f": {text[-600:]}" if text else ""

    def uss_kib(self) -> int | None:
        """The client's private memory now."""
        return private_kib(self.proc.pid)

    def abort(self) -> None:
        """Kill the client (after a failure) and reap it."""
        if self.proc.returncode is None:  # close() may have reaped it already
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            with contextlib.suppress(BenchError, ChildProcessError):
                reap(self.proc, 10)
        self.rss.__exit__()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._err.close()

    def close(self, timeout: float = 120.0) -> int:
        """EOF to every host (each ``bc`` exits); read to EOF, reap; return peak RSS KiB."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.close()
            deadline = time.monotonic() + timeout
            while select.select([self.rfd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                if not os.read(self.rfd, 65536):
                    break
            finished = reap(self.proc, timeout)
        finally:
            self.rss.__exit__()
            self.proc.stdout.close()
        if finished.returncode != 0:
            raise BenchError(f"fan-out session: exit status {finished.returncode}{self._stderr()}")
        self._err.close()
        return self.rss.peak_kib


def wait_idle(server_pid: int, timeout: float = 60.0) -> None:
    """Wait until the listening sshd has no session processes left (the last run's
    teardown must not be paid by the next contender)."""
    deadline = time.monotonic() + timeout
    while _children(server_pid):
        if time.monotonic() > deadline:
            raise BenchError(
                f"sshd still has {len(_children(server_pid))} sessions after {timeout:.0f}s"
            )
        time.sleep(0.05)
