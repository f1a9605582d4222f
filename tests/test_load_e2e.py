"""Load, bounded and on loopback only: many runs of a payload where stderr comes after
stdout's EOF, 50 concurrent 16 MiB sessions, and 200 sequential runs that must leave no
file descriptor, process or temporary file behind.

Marked ``heavy`` (``pytest -m 'not heavy'`` leaves them out): each takes tens of seconds on
two cores. Runs go through thread or task pools of a fixed size; nothing loops unbounded.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import statistics
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from remoterepl import app
from remoterepl.cli import exit_status, parse_args
from remoterepl.environment import Console, Environment
from tests.client import remoterepl_command, run_remoterepl
from tests.client_env import ClientEnv, ClientEnvFactory, Login
from tests.embedded_sshd import EmbeddedFactory

pytestmark = [pytest.mark.heavy, pytest.mark.timeout(300)]


def late_stderr(n: int) -> tuple[str, bytes, bytes]:
    """A remote command that writes stdout, closes it, then writes stderr and exits 3;
    and the stdout and stderr it must give."""
    return (
        f"printf out-{n}; exec 1>&-; printf err-{n} >&2; exit 3",
        f"out-{n}".encode(),
        f"err-{n}".encode(),
    )


# --------------------------------------------------------------------------- stderr after EOF

IN_PROCESS_RUNS = 1000
PROCESS_RUNS = 100


async def _one_run_in_process(config: Path, alias: str, n: int) -> tuple[int, bytes, bytes, str]:
    """app.run with its standard streams on fresh pipes; (status, stdout, stderr, console)."""
    command, _out, _err = late_stderr(n)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    os.close(in_w)
    console = io.StringIO()
    env = Environment(console=Console(console), stdin=in_r, stdout=out_w, stderr=err_w)
    try:
        outcome = await app.run(parse_args(["-F", str(config), alias, command]), env)
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    try:
        # Tiny payloads: each fits in its pipe, read once the run is over.
        return exit_status(outcome), _read_all(out_r), _read_all(err_r), console.getvalue()
    finally:
        os.close(out_r)
        os.close(err_r)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


async def test_stderr_after_stdout_eof_in_process(client_home: ClientEnv) -> None:
    """1000 runs (8 at a time, in this process, against the embedded server in its own):
    stdout, the stderr written after stdout was closed, and the status, every time."""
    pool = asyncio.Semaphore(8)

    async def one(n: int) -> tuple[int, bytes, bytes, str]:
        async with pool:
            return await _one_run_in_process(client_home.config_path, client_home.user_alias, n)

    results = await asyncio.gather(*(one(n) for n in range(IN_PROCESS_RUNS)))
    wrong = [(n, got) for n, got in enumerate(results) if got != (3, *late_stderr(n)[1:], "")]
    assert not wrong, f"{len(wrong)} of {IN_PROCESS_RUNS} runs wrong, e.g. {wrong[:3]}"


def test_stderr_after_stdout_eof_real_sshd(client_env: ClientEnv) -> None:
    """100 runs of the installed client against OpenSSH (4 at a time), the same check."""

    def one(n: int) -> tuple[int, bytes, bytes]:
        command, _out, _err = late_stderr(n)
        proc = run_remoterepl([client_env.user_alias, command], env=client_env.env, timeout=60)
        return proc.returncode, proc.stdout, proc.stderr

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(PROCESS_RUNS)))
    wrong = [(n, got) for n, got in enumerate(results) if got != (3, *late_stderr(n)[1:])]
    assert not wrong, f"{len(wrong)} of {PROCESS_RUNS} runs wrong, e.g. {wrong[:3]}"


# --------------------------------------------------------------------------- concurrent streams

SESSIONS = 50
STREAM = 16 << 20


@pytest.fixture(scope="module")
def stream_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 MiB of random bytes, the input of every concurrent session."""
    path = tmp_path_factory.mktemp("load") / "stream"
    with path.open("wb") as out:
        for _ in range(STREAM >> 20):
            out.write(os.urandom(1 << 20))
    return path


def test_concurrent_sessions_are_byte_exact(login: Login, stream_file: Path) -> None:
    """50 sessions at once, each sending 16 MiB through a remote ``cat`` after a header of
    its own: every one comes back whole (sha256), status 0, nothing of ours on stderr."""
    payload = stream_file.read_bytes()
    procs: list[subprocess.Popen[bytes]] = []
    digests: dict[int, str] = {}
    errors: dict[int, bytes] = {}

    def hash_output(n: int, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        digest = hashlib.sha256()
        while chunk := os.read(proc.stdout.fileno(), 1 << 20):
            digest.update(chunk)
        digests[n] = digest.hexdigest()
        errors[n] = proc.stderr.read()

    readers = []
    try:
        for n in range(SESSIONS):
            with stream_file.open("rb") as stdin:
                proc = subprocess.Popen(
                    remoterepl_command([login.alias, f"echo session-{n}; cat"]),
                    stdin=stdin,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=login.env.env,
                    start_new_session=True,
                )
            procs.append(proc)
            reader = threading.Thread(target=hash_output, args=(n, proc), daemon=True)
            reader.start()
            readers.append(reader)
        for reader in readers:
            reader.join(240)
        statuses = [proc.wait(timeout=30) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert statuses == [0] * SESSIONS, {n: errors.get(n) for n, s in enumerate(statuses) if s}
    # Nothing of ours on stderr. The remote login's own start-up may write there: root's
    # .bashrc on a machine with pyenv rehashes its shims, and 50 logins at once race for
    # its lock ("pyenv: cannot rehash"), which is the remote's stderr, passed on as it is.
    ours = {
        n: err
        for n, err in errors.items()
        if err.startswith(b"remoterepl:") or b"\nremoterepl:" in err
    }
    assert not ours, ours
    wrong = [
        n
        for n in range(SESSIONS)
        if digests.get(n) != hashlib.sha256(f"session-{n}\n".encode() + payload).hexdigest()
    ]
    assert not wrong, f"sessions with a wrong sha256: {wrong}"


# --------------------------------------------------------------------------- no leaks

SEQUENTIAL_RUNS = 200


def _fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _processes_with(marker: str) -> list[int]:
    """pids whose environment holds *marker* (our client HOME): the client and anything it
    started, wherever they were reparented."""
    found = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_sequential_runs_leave_nothing_behind(
    embedded_factory: EmbeddedFactory, embedded_env_factory: ClientEnvFactory, tmp_path: Path
) -> None:
    """200 runs one after another (each waits for a line on stdin, so its own fds are
    counted mid-session): the server's fds and processes, the client's fds, the files in
    the client's TMPDIR and HOME, and processes carrying the client's environment are the
    same after the last run as after the first."""
    server = embedded_factory()
    env = embedded_env_factory(server)
    tmp = tmp_path / "client-tmp"
    tmp.mkdir()
    client_env = {**env.env, "TMPDIR": str(tmp)}
    argv = remoterepl_command([env.user_alias, "echo ready; read line; echo got $line"])

    def one_run() -> int:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=client_env,
            start_new_session=True,
        )
        try:
            assert proc.stdout is not None and proc.stdin is not None
            assert proc.stdout.readline() == b"ready\n"
            fds = _fd_count(proc.pid)
            out, err = proc.communicate(b"x\n", timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        assert (proc.returncode, out, err) == (0, b"got x\n", b"")
        return fds

    first = one_run()
    before = (_fd_count(server.pid), len(server.session_pids()), _tree(tmp), _tree(env.home))
    client_fds = [first] + [one_run() for _ in range(SEQUENTIAL_RUNS - 1)]
    after = (_fd_count(server.pid), len(server.session_pids()), _tree(tmp), _tree(env.home))
    assert after == before
    assert before[2] == set(), before[2]
    assert _processes_with(str(env.home)) == []
    # Mid-session a client holds 12 to 15 fds (a worker thread's or a helper's may be
    # open or not yet when counted); a leak of one fd every few runs would show as growth
    # of dozens from the first runs to the last.
    quarter = len(client_fds) // 4
    assert statistics.median(client_fds[-quarter:]) <= statistics.median(client_fds[:quarter]) + 1
    assert max(client_fds) - min(client_fds) <= 6, client_fds
