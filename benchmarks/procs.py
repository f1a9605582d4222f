"""Client processes as the benchmark drives them: timed runs, byte pumps, RSS, and a pty.

Everything reads and writes raw file descriptors (``os.read``/``os.write``), so the harness
adds as little as possible to what it measures.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

MiB = 1024 * 1024
CHUNK = MiB
_ZEROS = bytes(CHUNK)

# Escape sequences a terminal would interpret rather than show (CSI, OSC, charset/keypad).
_ESCAPES = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78DEHM]"
)


def visible(data: bytes) -> bytes:
    """*data* without terminal escape sequences: roughly the characters put on screen."""
    return _ESCAPES.sub(b"", data)


class BenchError(RuntimeError):
    """A client did not behave as the benchmark expects (wrong output, timeout, exit)."""


# --------------------------------------------------------------------------- plain processes


@dataclass
class Finished:
    """A reaped process: exit status, ru_maxrss (KiB) and CPU seconds, from wait4."""

    returncode: int
    maxrss_kib: int
    user_s: float
    sys_s: float


def reap(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> Finished:
    """Wait for *proc* with ``wait4`` to get its resource usage (kills it after *timeout*)."""
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        with contextlib.suppress(ProcessLookupError):
            proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _pid, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if expired.is_set():
        raise BenchError(f"{proc.args!r} still running after {timeout:.0f}s: killed")
    return Finished(proc.returncode, usage.ru_maxrss, usage.ru_utime, usage.ru_stime)


def popen(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    stdin: int | None,
    stdout: int | None,
    stderr: int | None = subprocess.PIPE,
) -> subprocess.Popen[bytes]:
    """Start a client in its own session (no controlling terminal: never prompts)."""
    return subprocess.Popen(
        list(argv),
        env=dict(env),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        bufsize=0,
    )


def _stderr_text(proc: subprocess.Popen[bytes]) -> str:
    if proc.stderr is None:
        return ""
    with contextlib.suppress(OSError, ValueError):
        return proc.stderr.read().decode("utf-8", "replace").strip()[-500:]
    return ""


def check_exit(proc: subprocess.Popen[bytes], finished: Finished, what: str) -> None:
    """Raise BenchError unless the client exited 0."""
    if finished.returncode != 0:
        raise BenchError(f"{what}: exit status {finished.returncode}: {_stderr_text(proc)}")


def timed_run(argv: Sequence[str], env: Mapping[str, str]) -> tuple[float, Finished]:
    """Run *argv* with stdin /dev/null and output discarded; return (seconds, usage)."""
    start = time.perf_counter()
    proc = popen(argv, env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    finished = reap(proc)
    elapsed = time.perf_counter() - start
    check_exit(proc, finished, " ".join(argv))
    if proc.stderr is not None:
        proc.stderr.close()
    return elapsed, finished


class RssSampler:
    """Samples a process's VmRSS (KiB) from /proc every *interval* seconds in a thread,
    and its VmHWM (peak RSS since its exec; ``wait4``'s ru_maxrss would also count the
    pages of the forked harness before the exec)."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")

    def __enter__(self) -> RssSampler:
        self._start = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            fields = _status(self.pid, ("VmRSS", "VmHWM"))
            if len(fields) < 2:
                return
            self.samples.append((time.perf_counter() - self._start, fields["VmRSS"]))
            self.peak_kib = max(self.peak_kib, fields["VmHWM"])
            self._stop.wait(self.interval)


def _status(pid: int | str, keys: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in keys:
                    found[key] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return found


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of *pid* so far (None once it is reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int | str = "self") -> int | None:
    """VmRSS of *pid* in KiB (None once the process is gone)."""
    return _status(pid, ("VmRSS",)).get("VmRSS")


def private_kib(pid: int) -> int | None:
    """Memory only this process uses (USS: private clean + dirty pages), KiB."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            fields = dict(line.split(":", 1) for line in rollup if ":" in line)
    except OSError:
        return None
    return sum(int(fields[k].split()[0]) for k in ("Private_Clean", "Private_Dirty"))


# --------------------------------------------------------------------------- byte pumps


@dataclass
class Transfer:
    """One streamed transfer: total bytes, and the steady-state part of it.

    ``steady_bytes / steady_s`` is throughput once data flows (connection set-up excluded:
    start-up is measured on its own); ``wall_s`` is the whole client process.
    """

    total_bytes: int
    steady_bytes: int
    steady_s: float
    wall_s: float
    finished: Finished
    rss_samples: list[tuple[float, int]] = field(default_factory=list)
    peak_rss_kib: int = 0
    steady_cpu_s: float | None = None

    @property
    def cpu_s_per_gib(self) -> float | None:
        """Client CPU seconds per GiB in the steady state (from /proc, 10 ms ticks)."""
        if self.steady_cpu_s is None or not self.steady_bytes:
            return None
        return self.steady_cpu_s / (self.steady_bytes / (1024 * MiB))

    @property
    def mb_per_s(self) -> float:
        """Steady-state throughput in MB/s (10^6 bytes)."""
        return self.steady_bytes / self.steady_s / 1e6


def upload(
    argv: Sequence[str],
    env: Mapping[str, str],
    size: int,
    *,
    sample_rss: bool = False,
    warmup: int = 2 * MiB,
    timeout: float = 300,
) -> Transfer:
    """Write *size* zero bytes into the client's stdin; the remote command must be
    ``wc -c``, whose answer is checked. The clock starts once *warmup* bytes were taken."""
    start = time.perf_counter()
    proc = popen(argv, env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    marks: dict[str, float] = {}
    failure: list[BaseException] = []

    def feed() -> None:
        assert proc.stdin is not None
        fd = proc.stdin.fileno()
        sent = 0
        try:
            while sent < size:
                view = memoryview(_ZEROS)[: min(CHUNK, size - sent)]
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                    sent += n
                if "first" not in marks and sent >= warmup:
                    marks["first"] = time.perf_counter()
                    marks["first_bytes"] = sent
                    marks["first_cpu"] = cpu_seconds(proc.pid) or 0.0
        except OSError as exc:
            failure.append(exc)
        finally:
            proc.stdin.close()

    feeder = threading.Thread(target=feed, daemon=True, name="upload-feeder")
    with RssSampler(proc.pid) if sample_rss else contextlib.nullcontext() as sampler:
        feeder.start()
        output = _read_all(proc.stdout.fileno(), timeout)
        end = time.perf_counter()
        end_cpu = cpu_seconds(proc.pid)
        feeder.join(timeout)
        finished = reap(proc, timeout)
    wall = time.perf_counter() - start
    check_exit(proc, finished, " ".join(argv))
    if failure:
        raise BenchError(f"upload feeder: {failure[0]}")
    if output.split()[:1] != [str(size).encode()]:
        raise BenchError(f"remote wc -c said {output[:80]!r}, expected {size}")
    first = marks.get("first", start)
    steady = size - int(marks.get("first_bytes", 0))
    cpu = None if end_cpu is None or "first_cpu" not in marks else end_cpu - marks["first_cpu"]
    if isinstance(sampler, RssSampler):
        return Transfer(
            size, steady, end - first, wall, finished, sampler.samples, sampler.peak_kib, cpu
        )
    return Transfer(size, steady, end - first, wall, finished, steady_cpu_s=cpu)


def download(
    argv: Sequence[str],
    env: Mapping[str, str],
    size: int,
    *,
    sample_rss: bool = False,
    warmup: int = 2 * MiB,
    timeout: float = 300,
) -> Transfer:
    """Read the client's stdout to EOF (the remote command writes *size* bytes); the
    clock starts once *warmup* bytes arrived."""
    start = time.perf_counter()
    proc = popen(argv, env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    total = 0
    first = start
    first_bytes = 0
    first_cpu: float | None = None
    deadline = time.monotonic() + timeout
    with RssSampler(proc.pid) if sample_rss else contextlib.nullcontext() as sampler:
        while True:
            chunk = os.read(fd, CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if not first_bytes and total >= warmup:
                first, first_bytes = time.perf_counter(), total
                first_cpu = cpu_seconds(proc.pid)
            if time.monotonic() > deadline:
                proc.kill()
                raise BenchError(f"download: no EOF after {timeout:.0f}s")
        end = time.perf_counter()
        end_cpu = cpu_seconds(proc.pid)
        finished = reap(proc, timeout)
    wall = time.perf_counter() - start
    check_exit(proc, finished, " ".join(argv))
    cpu = None if end_cpu is None or first_cpu is None else end_cpu - first_cpu
    if total != size:
        raise BenchError(f"download: got {total} bytes, expected {size}")
    if isinstance(sampler, RssSampler):
        return Transfer(
            size,
            size - first_bytes,
            end - first,
            wall,
            finished,
            sampler.samples,
            sampler.peak_kib,
            cpu,
        )
    return Transfer(size, size - first_bytes, end - first, wall, finished, steady_cpu_s=cpu)


def _read_all(fd: int, timeout: float) -> bytes:
    data = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise BenchError(f"no EOF on the client's stdout after {timeout:.0f}s")
        chunk = os.read(fd, 65536)
        if not chunk:
            return bytes(data)
        data += chunk


# --------------------------------------------------------------------------- line partners


class LinePipe:
    """A client in pipe mode whose stdin/stdout we hold: write a line, read a line."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str]) -> None:
        self.argv = list(argv)
        self.proc = popen(argv, env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.wfd = self.proc.stdin.fileno()
        self.rfd = self.proc.stdout.fileno()
        self._buffer = b""

    def round_trip(self, line: bytes, timeout: float = 10.0) -> tuple[float, bytes]:
        """Send *line* (with newline), wait for one line back; return (seconds, reply)."""
        start = time.perf_counter()
        os.write(self.wfd, line + b"\n")
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([self.rfd], [], [], timeout)
            chunk = os.read(self.rfd, 65536) if ready else b""
            if not chunk:
                raise BenchError(f"{self.argv!r}: no reply line ({'EOF' if ready else 'timeout'})")
            self._buffer += chunk
        elapsed = time.perf_counter() - start
        reply, _, self._buffer = self._buffer.partition(b"\n")
        return elapsed, reply

    def close(self, timeout: float = 10.0) -> Finished:
        """Close stdin (the remote sees EOF and exits) and reap."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        finished = reap(self.proc, timeout)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return finished


def _take_controlling_tty() -> None:
    """In the child (a new session leader): make its stdin pty the controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyClient:
    """A client in a pseudo-terminal, driven as a person at a terminal would."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        rows: int = 24,
        cols: int = 80,
        term: str = "xterm-256color",
    ) -> None:
        child_env = dict(env)
        child_env["TERM"] = term
        child_env.pop("COLUMNS", None)
        child_env.pop("LINES", None)
        self.argv = list(argv)
        master, slave = os.openpty()
        try:
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            self.proc = subprocess.Popen(
                self.argv,
                env=child_env,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                start_new_session=True,
                preexec_fn=_take_controlling_tty,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self.fd = master

    def write(self, data: bytes) -> None:
        """Type *data*."""
        os.write(self.fd, data)

    def read_until(
        self, found: Callable[[bytes], bool], timeout: float = 10.0, keep: int = 1 << 20
    ) -> bytes:
        """Read until ``found(data)``; return *data*: what this call read, of which only
        the last *keep* bytes before the latest chunk are retained."""
        data = b""
        deadline = time.monotonic() + timeout
        while True:
            if found(data):
                return data
            data = data[-keep:]
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(0.0, remaining))
            if not ready:
                self.transcript_tail = data[-2000:]
                raise BenchError(
                    f"{self.argv!r}: screen never showed what was expected "
                    f"within {timeout:.0f}s; last output {data[-300:]!r}"
                )
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                raise BenchError(f"{self.argv!r}: exited; last output {data[-300:]!r}")
            data += chunk

    def wait_visible(self, text: bytes, timeout: float = 10.0) -> bytes:
        """Read until *text* is on screen (escape sequences ignored)."""
        return self.read_until(lambda d: text in visible(d), timeout)

    def drain(self, quiet: float = 0.15, timeout: float = 10.0) -> None:
        """Read until nothing arrives for *quiet* seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], quiet)
            if not ready:
                return
            try:
                if not os.read(self.fd, 65536):
                    return
            except OSError:
                return

    def close(self) -> None:
        """Kill the client if it still runs and release the pty."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        with contextlib.suppress(OSError):
            os.close(self.fd)
