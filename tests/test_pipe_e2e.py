"""Pipe mode end to end: the installed remoterepl, stdin not a terminal, against the
embedded server, and a real OpenSSH sshd for what depends on it (its flow control with
64 MiB, the order in which it sends the last output and the exit status, signal requests,
root logins).

Contract (README, "Pipe mode"): local stdin streams to ONE remote process, its stdout and stderr
stream to ours byte-exact, nothing of ours is added on stderr when all goes well, and our
exit status is the remote one (128+N when the remote died of signal N).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from remoterepl.modes.pipe import BUFSIZE
from tests.client import (
    read_line_with_timeout,
    remoterepl_command,
    run_remoterepl,
    start_remoterepl,
)
from tests.client_env import ClientEnv, Login
from tests.system import kill_quietly


def test_bc_over_a_pipe(login: Login) -> None:
    """``printf '2+2\\n3*7\\n' | remoterepl HOST bc`` prints exactly the two results."""
    proc = run_remoterepl([login.alias, "bc"], input=b"2+2\n3*7\n", env=login.env.env)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"4\n21\n", b"")


def _drain(stream: IO[bytes], on_chunk: Callable[[bytes], None]) -> None:
    """Read *stream* to EOF, handing each chunk to *on_chunk*."""
    for chunk in iter(lambda: stream.read(1 << 16), b""):
        on_chunk(chunk)


def test_64_mib_of_random_bytes_through_cat(client_env: ClientEnv) -> None:
    """64 MiB of random bytes come back from remote ``cat`` unchanged (compared by sha256)."""
    total, block = 64 * 1024 * 1024, 1024 * 1024
    sent, received = hashlib.sha256(), hashlib.sha256()
    received_bytes = 0
    errors: list[bytes] = []

    def on_output(chunk: bytes) -> None:
        nonlocal received_bytes
        received.update(chunk)
        received_bytes += len(chunk)

    with start_remoterepl([client_env.user_alias, "cat"], env=client_env.env) as proc:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        stdin = proc.stdin

        def feed() -> None:
            try:
                for _ in range(total // block):
                    data = os.urandom(block)
                    sent.update(data)
                    stdin.write(data)
                stdin.close()
            except BrokenPipeError:
                pass  # the client died: the status/length assertions below report it

        watchdog = threading.Timer(150, proc.kill)
        threads = [
            threading.Thread(target=feed, daemon=True),
            threading.Thread(target=_drain, args=(proc.stderr, errors.append), daemon=True),
        ]
        watchdog.start()
        for thread in threads:
            thread.start()
        _drain(proc.stdout, on_output)
        for thread in threads:
            thread.join(30)
        status = proc.wait(timeout=30)
        watchdog.cancel()
    assert status == 0, b"".join(errors)
    assert received_bytes == total
    assert received.hexdigest() == sent.hexdigest()
    assert b"".join(errors) == b""


def test_stdout_and_stderr_stay_separate(embedded_env: ClientEnv) -> None:
    """Remote stdout goes to our stdout and remote stderr to our stderr, with nothing added."""
    proc = run_remoterepl([embedded_env.user_alias, "echo out; echo err >&2"], env=embedded_env.env)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"out\n", b"err\n")


def test_stderr_is_byte_exact(embedded_env: ClientEnv) -> None:
    """Binary data written to remote stderr arrives unchanged on ours."""
    data = os.urandom(1024 * 1024)
    proc = run_remoterepl([embedded_env.user_alias, "cat >&2"], input=data, env=embedded_env.env)
    assert proc.returncode == 0
    assert proc.stdout == b""
    assert hashlib.sha256(proc.stderr).hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("command", "status"),
    [
        ("exit 0", 0),
        ("exit 7", 7),
        ("exit 255", 255),
        ("kill -TERM $$", 128 + 15),
        ("kill -INT $$", 128 + 2),
    ],
)
def test_exit_status_is_the_remote_one(login: Login, command: str, status: int) -> None:
    """Our status is the remote status, or 128+N when the remote process died of signal N."""
    proc = run_remoterepl([login.alias, command], env=login.env.env)
    assert proc.returncode == status, proc.stderr
    assert b"Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["echo", "a", "b"], b"a b\n"),
        # Joined with single spaces, then split again by the remote shell, exactly like ssh.
        (["echo", "a  b", "c"], b"a b c\n"),
        (["echo", "$((6*7))"], b"42\n"),
        # After DESTINATION everything belongs to the command, options included.
        (["echo", "-l", "-p", "x", "-v"], b"-l -p x -v\n"),
    ],
)
def test_command_words_are_joined_like_ssh(
    embedded_env: ClientEnv, args: list[str], expected: bytes
) -> None:
    """Several COMMAND args are joined with spaces and run by the remote shell."""
    proc = run_remoterepl([embedded_env.user_alias, *args], env=embedded_env.env)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, expected, b"")


def test_last_output_before_exit_is_not_lost(client_env: ClientEnv) -> None:
    """A burst of output right before the remote exits arrives in full, with its status."""
    proc = run_remoterepl([client_env.user_alias, "seq 1 200000; exit 3"], env=client_env.env)
    expected = "".join(f"{i}\n" for i in range(1, 200001)).encode()
    assert proc.returncode == 3, proc.stderr
    assert len(proc.stdout) == len(expected)
    assert proc.stdout == expected


def test_last_stderr_before_exit_is_not_lost(client_env: ClientEnv) -> None:
    """The same for stderr, interleaved with stdout."""
    proc = run_remoterepl(
        [client_env.user_alias, "seq 1 50000 >&2; echo done; seq 50001 100000 >&2; exit 4"],
        env=client_env.env,
    )
    expected = "".join(f"{i}\n" for i in range(1, 100001)).encode()
    assert proc.returncode == 4
    assert proc.stdout == b"done\n"
    assert proc.stderr == expected


def test_eof_is_passed_on(embedded_env: ClientEnv) -> None:
    """End of our stdin reaches the remote program: ``wc -c`` finishes and counts 1000."""
    proc = run_remoterepl(
        [embedded_env.user_alias, "wc -c"], input=b"x" * 1000, env=embedded_env.env, timeout=30
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"1000\n", b"")


@pytest.mark.parametrize("command", ["cat", "wc -c"])
def test_stdin_from_dev_null(embedded_env: ClientEnv, command: str) -> None:
    """With stdin on /dev/null (as under CI or cron) the remote sees an immediate EOF."""
    proc = run_remoterepl(
        [embedded_env.user_alias, command],
        input=None,
        stdin=subprocess.DEVNULL,
        env=embedded_env.env,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (b"" if command == "cat" else b"0\n")


def test_output_streams_before_the_remote_exits(embedded_env: ClientEnv) -> None:
    """Each remote line reaches our stdout as it is written, not when the process ends."""
    script = "echo first; read -r reply; echo got:$reply"
    with start_remoterepl([embedded_env.user_alias, script], env=embedded_env.env) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        assert read_line_with_timeout(proc.stdout, 15) == b"first\n"
        proc.stdin.write(b"hello\n")
        proc.stdin.flush()
        assert read_line_with_timeout(proc.stdout, 15) == b"got:hello\n"
        proc.stdin.close()
        assert proc.wait(timeout=15) == 0


def test_sigterm_reaches_the_remote_process(client_env: ClientEnv) -> None:
    """SIGTERM to remoterepl is delivered to the remote command, whose trap decides the status.

    Non-root login: OpenSSH delivers ``signal`` requests only for non-root sessions.
    """
    script = 'trap "echo got-term; exit 9" TERM; echo ready $$; while :; do sleep 0.1; done'
    remote_pid = 0
    try:
        with start_remoterepl([client_env.user_alias, script], env=client_env.env) as proc:
            assert proc.stdout is not None
            words = read_line_with_timeout(proc.stdout, 15).split()
            assert words[:1] == [b"ready"], words
            remote_pid = int(words[1])
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=15)
    finally:
        if remote_pid:  # the loop outlives a connection that closes without the signal
            kill_quietly([remote_pid])
    assert b"got-term" in out, err
    assert proc.returncode == 9, err
    assert b"Traceback" not in err


def test_reader_leaving_ends_the_session_like_sigpipe(embedded_env: ClientEnv) -> None:
    """``remoterepl host 'seq 1 100000000' | head -2``: stops at once, status 141 (as a
    local program killed by SIGPIPE), nothing on stderr."""
    command = (
        f"{' '.join(remoterepl_command([embedded_env.user_alias, 'seq 1 100000000']))}"
        " | head -2; echo status=${PIPESTATUS[0]}"
    )
    proc = subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        env=embedded_env.env,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout == b"1\n2\nstatus=141\n"
    assert proc.stderr == b""


# --------------------------------------------------------------------------- stdin pump


@dataclass
class MeasuredRun:
    """How a remoterepl run ended, what it printed, and its peak resident memory."""

    status: int
    stdout: bytes
    stderr: bytes
    peak_rss: int  # bytes: the largest VmHWM seen


def _vm_hwm(pid: int) -> int | None:
    """The process's peak resident set size (VmHWM) in bytes; None once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _run_measuring_memory(
    client_env: ClientEnv,
    args: list[str],
    feed: Callable[[IO[bytes]], None],
    timeout: float = 150,
) -> MeasuredRun:
    """Run remoterepl with *feed* writing its stdin (then closing it) from a thread, and
    sample its VmHWM until it exits (and when its output arrives).

    VmHWM belongs to the process's own memory since exec (ru_maxrss from wait4 would also
    count the pytest process it was forked from). The process is reaped only after the
    sampling stops, so its pid cannot be reused meanwhile."""
    proc = subprocess.Popen(
        remoterepl_command(args),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(client_env.env),
        start_new_session=True,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stdin = proc.stdin
    out: list[bytes] = []
    err: list[bytes] = []
    samples: list[int] = []
    stop_sampling = threading.Event()

    def sample() -> None:
        peak = _vm_hwm(proc.pid)
        if peak is not None:
            samples.append(peak)

    def sampler() -> None:
        while not stop_sampling.wait(0.01):
            sample()

    def on_output(chunk: bytes) -> None:
        sample()  # all input is through by now (the remote reads it before it answers)
        out.append(chunk)

    def write_stdin() -> None:
        try:
            feed(stdin)
            stdin.close()
        except BrokenPipeError:
            pass  # the client died: its status and stderr tell why

    threads = [
        threading.Thread(target=write_stdin, daemon=True),
        threading.Thread(target=_drain, args=(proc.stdout, on_output), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, err.append), daemon=True),
    ]
    sampling = threading.Thread(target=sampler, daemon=True)
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        sampling.start()
        for thread in threads:
            thread.start()
        for thread in threads[1:]:
            thread.join(timeout + 10)  # EOF on both: the client has exited (not reaped)
        stop_sampling.set()
        sampling.join(10)
        status = proc.wait(timeout=30)
        threads[0].join(10)
    finally:
        stop_sampling.set()
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()
    assert samples, "the client exited before its memory could be sampled"
    return MeasuredRun(status, b"".join(out), b"".join(err), max(samples))


def _write_blocks(total: int, block: bytes) -> Callable[[IO[bytes]], None]:
    def feed(stdin: IO[bytes]) -> None:
        for _ in range(total // len(block)):
            stdin.write(block)
        stdin.write(block[: total % len(block)])

    return feed


def test_stdin_back_pressure_keeps_memory_flat(embedded_env: ClientEnv) -> None:
    """64 MiB piped into a remote that does not read for 2 s (``sleep 2; wc -c``): every
    byte is counted, and the client does not buffer the input meanwhile: its peak RSS stays
    within 32 MiB of a run that sends 1 KiB (measured: the same; ~65 MiB more when the
    client ignores back-pressure and queues everything for the channel)."""
    total = 64 * 1024 * 1024
    block = os.urandom(1024 * 1024)
    baseline = _run_measuring_memory(
        embedded_env, [embedded_env.user_alias, "wc -c"], _write_blocks(1024, block)
    )
    assert (baseline.status, baseline.stdout, baseline.stderr) == (0, b"1024\n", b"")
    run = _run_measuring_memory(
        embedded_env, [embedded_env.user_alias, "sleep 2; wc -c"], _write_blocks(total, block)
    )
    assert run.status == 0, run.stderr
    assert run.stdout == f"{total}\n".encode()
    assert run.stderr == b""
    mib = 1024 * 1024
    assert run.peak_rss < 150 * mib
    assert run.peak_rss - baseline.peak_rss < 32 * mib, (baseline.peak_rss, run.peak_rss)


@pytest.mark.parametrize("size", [0, 1, 2 * 256 * 1024, 5 * 1024 * 1024 + 12345])
def test_stdin_from_a_regular_file_is_byte_exact(
    embedded_env: ClientEnv, tmp_path: Path, size: int
) -> None:
    """stdin redirected from a regular file (read in a worker thread, as epoll refuses
    regular files) reaches remote ``cat`` byte-exact and is followed by EOF."""
    path = tmp_path / "input.bin"
    data = os.urandom(size)
    path.write_bytes(data)
    with path.open("rb") as stdin:
        proc = run_remoterepl(
            [embedded_env.user_alias, "cat"],
            input=None,
            stdin=stdin.fileno(),
            env=embedded_env.env,
            timeout=60,
        )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    assert len(proc.stdout) == size
    assert proc.stdout == data


def test_stdin_pipe_is_widened(embedded_env: ClientEnv) -> None:
    """When stdin is a pipe, the client raises its capacity to pipe.BUFSIZE with
    F_SETPIPE_SZ, visible on the write end we hold, once the client has read from it."""
    probe_read, probe_write = os.pipe()
    try:
        default = fcntl.fcntl(probe_write, fcntl.F_GETPIPE_SZ)
    finally:
        os.close(probe_read)
        os.close(probe_write)
    if default >= BUFSIZE:
        pytest.skip(f"pipes here hold {default} bytes already: nothing to widen")
    script = "read -r line; echo got:$line; cat >/dev/null; echo done"
    with start_remoterepl([embedded_env.user_alias, script], env=embedded_env.env) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(b"hello\n")
        proc.stdin.flush()
        assert read_line_with_timeout(proc.stdout, 30) == b"got:hello\n"
        assert fcntl.fcntl(proc.stdin.fileno(), fcntl.F_GETPIPE_SZ) >= BUFSIZE
        proc.stdin.write(b"x" * (1024 * 1024))  # still flows through the widened pipe
        proc.stdin.close()
        assert read_line_with_timeout(proc.stdout, 30) == b"done\n"
        assert proc.wait(timeout=30) == 0


def _minor_faults_piping(client_env: ClientEnv, size: int) -> int:
    """Minor page faults of one remoterepl process that pipes ``size`` bytes into ``wc -c``."""
    proc = subprocess.Popen(
        remoterepl_command([client_env.user_alias, "wc -c"]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(client_env.env),
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        feeder = threading.Thread(target=_feed_zeros, args=(proc.stdin, size), daemon=True)
        feeder.start()
        output = proc.stdout.read()
        errors = proc.stderr.read()
        feeder.join(60)
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    assert (proc.returncode, output, errors) == (0, f"{size}\n".encode(), b"")
    return usage.ru_minflt


def _feed_zeros(stdin: IO[bytes], size: int) -> None:
    block = bytes(1024 * 1024)
    with contextlib.suppress(BrokenPipeError), stdin:
        for offset in range(0, size, len(block)):
            stdin.write(block[: size - offset])


def test_piping_does_not_fault_in_fresh_memory_per_chunk(embedded_env: ClientEnv) -> None:
    """The heap is kept for reuse while streaming (remoterepl.tuning): 64 MiB piped costs
    almost no page faults beyond a 1 KiB run's. With glibc's self-adjusting defaults the
    heap top was returned and refaulted all the time: one fault per ~1 KiB sent."""
    if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
        pytest.skip("the heap tuning is for glibc's malloc")
    baseline = _minor_faults_piping(embedded_env, 1024)
    faults = _minor_faults_piping(embedded_env, 64 * 1024 * 1024)
    assert faults - baseline < 8192, (baseline, faults)  # < one fault per 8 KiB sent


def test_output_pipes_keep_their_size(embedded_env: ClientEnv) -> None:
    """Only stdin is widened: widened pipes count against the user's pipe-user-pages-soft
    quota, and the output side gained too little to spend it (see modes/pipe.py, _widen_pipe)."""
    script = "echo out; echo err >&2; read -r line; head -c 3000000 /dev/zero"
    with start_remoterepl([embedded_env.user_alias, script], env=embedded_env.env) as proc:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        before = [fcntl.fcntl(s.fileno(), fcntl.F_GETPIPE_SZ) for s in (proc.stdout, proc.stderr)]
        assert read_line_with_timeout(proc.stdout, 30) == b"out\n"
        assert read_line_with_timeout(proc.stderr, 30) == b"err\n"
        after = [fcntl.fcntl(s.fileno(), fcntl.F_GETPIPE_SZ) for s in (proc.stdout, proc.stderr)]
        assert after == before
        proc.stdin.write(b"go\n")
        proc.stdin.close()
        assert len(proc.stdout.read()) == 3000000
        assert proc.wait(timeout=30) == 0


def test_heap_tuning_yields_to_the_users_own_malloc_settings() -> None:
    """keep_heap_warm() applies on glibc, and changes nothing when the environment already
    tunes malloc (GLIBC_TUNABLES, MALLOC_*_)."""
    if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
        pytest.skip("the heap tuning is for glibc's malloc")
    probe = [
        sys.executable,
        "-c",
        "from remoterepl.tuning import keep_heap_warm; print(keep_heap_warm())",
    ]
    clean = {
        k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES" and not k.startswith("MALLOC_")
    }
    assert subprocess.run(probe, env=clean, capture_output=True, check=True).stdout == b"True\n"
    for name, value in (
        ("MALLOC_TRIM_THRESHOLD_", "1048576"),
        ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1048576"),
    ):
        tuned = subprocess.run(probe, env={**clean, name: value}, capture_output=True, check=True)
        assert tuned.stdout == b"False\n", name
