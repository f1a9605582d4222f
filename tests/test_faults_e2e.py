"""Server-side and network faults against a real OpenSSH sshd, piped and in a terminal.

Each case runs a remote that prints numbered rows and then a ``pids $$ $PPID`` marker (the
remote process and the per-session sshd process that speaks the protocol), waits until the
marker arrived, injects the fault and asserts: ONE ``remoterepl:`` line, the documented
status (README "Exit status": 255 for a lost connection, 128+N for a remote killed by
signal N), every row sent before the fault arrived, and for terminal runs ``stty -g``
before == after.

Faults: the session's sshd process killed (-9) mid-transfer and mid-session; frozen
(SIGSTOP, ended by keepalives within ServerAliveInterval x ServerAliveCountMax + slack);
the remote process killed; a hop of a -J chain cut (its namespace's loopback down, its
sshd killed or frozen); and a reader slower than the remote (``| (sleep 5; cat)``).
What exists elsewhere is not repeated: test_errors_e2e.py (pipe, sshd killed while idle),
test_connect_liveness.py (embedded server frozen), test_interactive_e2e.py (embedded
server killed under the editor).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.client import (
    Terminal,
    assert_one_line_error,
    assert_terminal_restored,
    remoterepl_command,
    shell_prompt_shown,
    start_remoterepl,
    with_stty_record,
)
from tests.client_env import ClientEnv, ClientEnvFactory, Login, TestUsers, client_environment
from tests.jumpnet import JumpNetwork, start_jump_network
from tests.keys import generate_key
from tests.sshd import SshdFactory
from tests.system import LOOPBACK, descendants, kill_quietly, require_program

pytestmark = pytest.mark.timeout(120)

ROWS = 300
#: Rows, then the marker naming the remote process and its parent (the session's sshd).
PREAMBLE = f"seq -f row-%g 1 {ROWS}; echo pids $$ $PPID"
MARKER = re.compile(rb"pids (\d+) (\d+)\r?\n")
MARKER_TEXT = re.compile(r"pids (\d+) (\d+)")
RC = re.compile(r"^RC=(\d+)", re.M)
#: Keepalive settings of the freeze cases: the run must end within INTERVAL x COUNT + slack.
INTERVAL, COUNT = 1, 2
KEEPALIVE = ["-o", f"ServerAliveInterval={INTERVAL}", "-o", f"ServerAliveCountMax={COUNT}"]
#: Load on a shared 2-core machine delays a keepalive's timer, never by seconds more.
SLACK = 6.0

Fault = Callable[[int, int], None]  # (remote pid, session sshd pid) -> inject the fault


def rows_text(newline: bytes = b"\n") -> bytes:
    """What the PREAMBLE's rows look like in the output."""
    return b"".join(b"row-%d" % i + newline for i in range(1, ROWS + 1))


@dataclass
class Ended:
    """How a faulted run ended: status, its stderr (pipe) or screen (terminal), all output,
    and the seconds from the fault to the end."""

    status: int
    message: str
    output: bytes
    elapsed: float


@contextlib.contextmanager
def cleanup_pids() -> Iterator[list[int]]:
    """pids to SIGCONT and SIGKILL afterwards, whatever happened (a frozen sshd, a remote)."""
    pids: list[int] = []
    try:
        yield pids
    finally:
        kill_quietly(pids, signal.SIGCONT)
        kill_quietly(pids, signal.SIGKILL)


def run_piped(args: Sequence[str], env: ClientEnv, fault: Fault, flood: int = 0) -> Ended:
    """Pipe mode: read the output until the marker (and *flood* more bytes) arrived, inject
    *fault*, wait for the end (at most 30 s)."""
    with (
        start_remoterepl(args, env=env.env, stdin=subprocess.DEVNULL) as proc,
        cleanup_pids() as pids,
    ):
        assert proc.stdout is not None and proc.stderr is not None
        out = bytearray()
        cond = threading.Condition()
        done = threading.Event()

        def drain() -> None:
            assert proc.stdout is not None
            while chunk := os.read(proc.stdout.fileno(), 1 << 16):
                with cond:
                    out.extend(chunk)
                    cond.notify_all()
            done.set()
            with cond:
                cond.notify_all()

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        with cond:

            def ready() -> bool:
                found = MARKER.search(out)
                return done.is_set() or (found is not None and len(out) - found.end() >= flood)

            assert cond.wait_for(ready, timeout=30), f"no marker within 30 s: {bytes(out[-200:])!r}"
        found = MARKER.search(out)
        assert found is not None, (bytes(out[-300:]), proc.stderr.read())
        remote, session = int(found[1]), int(found[2])
        pids.extend([remote, session])
        fault(remote, session)
        started = time.monotonic()
        try:
            status = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("remoterepl still running 30 s after the fault")
        elapsed = time.monotonic() - started
        reader.join(10)
        err = proc.stderr.read()
    assert_one_line_error(err)
    return Ended(status, err.decode("utf-8", "replace"), bytes(out), elapsed)


def run_in_terminal(
    args: Sequence[str], env: dict[str, str], line: str, fault: Fault, record: Path
) -> Ended:
    """Interactive: remoterepl in a pty (``stty -g`` recorded around it) running the login
    shell; type *line*, wait for the marker on the screen, inject *fault*, wait for ``RC=``."""
    with Terminal(with_stty_record(args, record), env=env) as term, cleanup_pids() as pids:
        term.wait_for_screen(shell_prompt_shown, timeout=20)
        term.sendline(line)
        screen = term.wait_for_screen(lambda s: MARKER_TEXT.search(s) is not None, timeout=20)
        found = MARKER_TEXT.search(screen)
        assert found is not None
        remote, session = int(found[1]), int(found[2])
        pids.extend([remote, session])
        fault(remote, session)
        started = time.monotonic()
        screen = term.wait_for_screen(lambda s: RC.search(s) is not None, timeout=30)
        elapsed = time.monotonic() - started
        status = int(RC.findall(screen)[-1])
        transcript = bytes(term.transcript)
    assert b"Traceback" not in transcript
    # Under the editor, how the remote ended is a note in the output (``[remote process
    # killed by SIGTERM]``); everything else is a ``remoterepl:`` line.
    messages = [
        row for row in screen.splitlines() if row.startswith(("remoterepl:", "[remote process"))
    ]
    assert len(messages) == 1, screen
    assert_terminal_restored(record)
    return Ended(status, messages[0], transcript, elapsed)


def assert_rows_arrived(output: bytes) -> None:
    """Every row the remote printed before the fault is in *output*, once, in order."""
    assert [int(n) for n in re.findall(rb"row-(\d+)", output)] == list(range(1, ROWS + 1))


def freeze(_remote: int, session: int) -> None:
    """SIGSTOP the session's sshd process: the TCP connection stays up, nothing answers."""
    os.kill(session, signal.SIGSTOP)


def kill_session(_remote: int, session: int) -> None:
    """SIGKILL the session's sshd process: the connection drops abruptly."""
    os.kill(session, signal.SIGKILL)


def lost_line(message: str) -> re.Match[str] | None:
    """The connection-lost message: ``remoterepl: connection to HOST lost...``."""
    return re.search(r"remoterepl: connection to (jump host )?\S+.* lost", message)


# --------------------------------------------------------------------------- the session's sshd


@pytest.fixture
def dedicated(sshd_factory: SshdFactory, client_env_factory: ClientEnvFactory) -> ClientEnv:
    """A client HOME for an sshd of this test's own (its processes get killed)."""
    return client_env_factory(sshd_factory())


def test_sshd_killed_mid_transfer_piped(dedicated: ClientEnv) -> None:
    """The session's sshd dies (-9) while a stream flows: 255, one line, and the output is
    the rows, the marker and then nothing but the stream's own bytes."""
    command = f"{PREAMBLE}; exec cat /dev/zero"
    ended = run_piped([dedicated.user_alias, command], dedicated, kill_session, flood=1 << 20)
    assert ended.status == 255, ended.message
    assert lost_line(ended.message), ended.message
    found = MARKER.search(ended.output)
    assert found is not None
    assert ended.output[: found.start()] == rows_text()
    stream = ended.output[found.end() :]
    assert len(stream) >= 1 << 20 and stream.count(0) == len(stream)
    assert ended.elapsed < 10, ended.elapsed


def test_sshd_killed_mid_session_in_a_terminal(dedicated: ClientEnv, tmp_path: Path) -> None:
    """The session's sshd dies (-9) under the line editor: 255, one line, every row shown,
    the terminal as it was."""
    ended = run_in_terminal(
        [dedicated.user_alias],
        dedicated.env,
        f"{PREAMBLE}; exec sleep 60",
        kill_session,
        tmp_path / "stty",
    )
    assert ended.status == 255, ended.message
    assert lost_line(ended.message), ended.message
    assert_rows_arrived(ended.output)
    assert ended.elapsed < 10, ended.elapsed


@pytest.mark.parametrize("mode", ["piped", "terminal"])
def test_sshd_frozen_ends_by_keepalive(dedicated: ClientEnv, tmp_path: Path, mode: str) -> None:
    """The session's sshd is SIGSTOPped (the TCP connection stays up): with
    ServerAliveInterval=1 and ServerAliveCountMax=2, 255 within 2 s + slack, a line saying
    the server stopped answering keepalives, nothing lost."""
    args = [*KEEPALIVE, dedicated.user_alias]
    if mode == "piped":
        ended = run_piped([*args, f"{PREAMBLE}; exec sleep 60"], dedicated, freeze)
        assert ended.output.startswith(rows_text()), ended.output[-200:]
    else:
        line = f"{PREAMBLE}; exec sleep 60"
        ended = run_in_terminal(args, dedicated.env, line, freeze, tmp_path / "stty")
        assert_rows_arrived(ended.output)
    assert ended.status == 255, ended.message
    assert lost_line(ended.message) and "not responding" in ended.message, ended.message
    assert INTERVAL <= ended.elapsed < INTERVAL * COUNT + SLACK, ended.elapsed


# --------------------------------------------------------------------------- the remote process


@pytest.mark.parametrize("mode", ["piped", "terminal"])
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGUSR1])
def test_remote_process_killed(
    client_env: ClientEnv, tmp_path: Path, mode: str, signum: signal.Signals
) -> None:
    """The remote process dies of a signal mid-session: 128+N, one line naming the signal,
    every row before it kept (a non-root login: OpenSSH names the signal in exit-signal)."""

    def kill_remote(remote: int, _session: int) -> None:
        os.kill(remote, signum)

    line = f"{PREAMBLE}; exec sleep 60"
    if mode == "piped":
        ended = run_piped([client_env.user_alias, line], client_env, kill_remote)
        found = MARKER.search(ended.output)
        assert found is not None and ended.output[: found.start()] == rows_text()
        assert ended.output[found.end() :] == b""
    else:
        ended = run_in_terminal(
            [client_env.user_alias], client_env.env, line, kill_remote, tmp_path / "stty"
        )
        assert_rows_arrived(ended.output)
    assert ended.status == 128 + signum, ended.message
    assert f"killed by {signum.name}" in ended.message, ended.message


# --------------------------------------------------------------------------- a jump chain cut


@dataclass
class Chain:
    """A fresh entrance/internal topology and a client HOME whose ``internal`` goes
    through ``entrance`` (-J), keepalives on every hop."""

    net: JumpNetwork
    env: ClientEnv


@pytest.fixture
def chain(test_users: TestUsers, tmp_path: Path) -> Iterator[Chain]:
    """Its own network per test: the cut breaks it."""
    require_program("socat", "socat")
    require_program("ip", "iproute2")
    keys = [generate_key(tmp_path / name, name) for name in ("eh", "ih", "client")]
    net = start_jump_network(keys[0], keys[1], [keys[2].public_line], [keys[2].public_line])
    try:
        home = tmp_path / "home"
        env = client_environment(home)
        known = tmp_path / "known_hosts"
        known.write_text(net.entrance_known_host() + "\n" + net.internal_known_host() + "\n")
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700)
        config = ssh_dir / "config"
        config.write_text(
            f"Host entrance\n    Port {net.entrance_port}\n    User {test_users.user}\n"
            f"Host internal\n    Port {net.internal_port}\n    User {test_users.user}\n"
            f"Host *\n    HostName {LOOPBACK}\n    IdentityFile {keys[2].private}\n"
            f"    IdentitiesOnly yes\n    UserKnownHostsFile {known}\n"
            f"    ServerAliveInterval {INTERVAL}\n    ServerAliveCountMax {COUNT}\n"
        )
        yield Chain(
            net,
            ClientEnv(
                home=home,
                env=env,
                config_path=config,
                known_hosts_path=known,
                key_path=keys[2].private,
                bad_key_path=keys[2].private,
                port=net.internal_port,
                host_key_line=net.internal_known_host(),
                users=test_users,
                kind="jump",
            ),
        )
    finally:
        net.close()


def _hop_cut(chain: Chain, how: str) -> Fault:
    def cut(_remote: int, _session: int) -> None:
        entrance_sessions = descendants(chain.net.entrance.pid)
        assert entrance_sessions, "the entrance serves no session"
        if how == "loopback-down":
            subprocess.run(
                ["ip", "-n", chain.net.netns.name, "link", "set", "lo", "down"], check=True
            )
        elif how == "entrance-killed":
            kill_quietly(entrance_sessions, signal.SIGKILL)
        else:
            kill_quietly(entrance_sessions, signal.SIGSTOP)

    return cut


@pytest.mark.parametrize("mode", ["piped", "terminal"])
@pytest.mark.parametrize("how", ["loopback-down", "entrance-killed", "entrance-stopped"])
def test_jump_chain_cut(chain: Chain, tmp_path: Path, mode: str, how: str) -> None:
    """A session on ``internal`` through ``-J entrance`` loses a hop: the hop's namespace
    loses its loopback (both links freeze), the entrance's session sshd is killed, or it is
    stopped. 255 within the keepalive bound, one line naming what was lost, nothing lost."""
    args = ["-J", "entrance", "internal"]
    line = f"{PREAMBLE}; exec sleep 60"
    cut = _hop_cut(chain, how)
    with cleanup_pids() as pids:
        if mode == "piped":
            ended = run_piped([*args, line], chain.env, cut)
            assert ended.output.startswith(rows_text()), ended.output[-200:]
        else:
            ended = run_in_terminal(args, chain.env.env, line, cut, tmp_path / "stty")
            assert_rows_arrived(ended.output)
        pids.extend(descendants(chain.net.entrance.pid) + descendants(chain.net.internal.pid))
    assert ended.status == 255, ended.message
    found = lost_line(ended.message)
    assert found, ended.message
    if how == "entrance-killed":
        assert "jump host entrance lost" in ended.message, ended.message
        assert ended.elapsed < 10, ended.elapsed
    else:
        assert "not responding" in ended.message, ended.message
        assert ended.elapsed < INTERVAL * COUNT + SLACK, ended.elapsed


# --------------------------------------------------------------------------- a slow reader


def _peak_rss(pid: int) -> int | None:
    """VmHWM of *pid* in bytes (its own peak since exec); None once it is gone."""
    try:
        for row in Path(f"/proc/{pid}/status").read_text().splitlines():
            if row.startswith("VmHWM:"):
                return int(row.split()[1]) * 1024
    except OSError:
        pass
    return None


def test_slow_reader_gets_every_byte(login: Login, tmp_path: Path) -> None:
    """``remoterepl h 'cat FILE' | (sleep 5; cat)``: 256 MiB reach the late reader byte-exact,
    status 0, and the client holds only a window of it, while the reader sleeps and while it
    drains at about the stream's own rate: peak RSS < 100 MiB (measured ~50 MiB; up to
    ~220 MiB and growing with the stream while asyncssh reopened the receive window for
    data it had not delivered yet, see ssh/compat.py)."""
    size = 256 << 20
    payload = tmp_path / "payload"
    digest = hashlib.sha256()
    with payload.open("wb") as sink:
        block = os.urandom(1 << 20)
        for i in range(size >> 20):
            chunk = bytes([i & 0xFF]) + block[1:]
            digest.update(chunk)
            sink.write(chunk)
    argv = " ".join(f"'{a}'" for a in remoterepl_command([login.alias, f"cat {payload}"]))
    # The late reader counts and hashes what it reads, at its own (steady) pace.
    script = f"{argv} | (sleep 5; tee >(wc -c >&2) | sha256sum); echo ${{PIPESTATUS[0]}}"
    shell = subprocess.Popen(
        ["bash", "-c", script],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=login.env.env,
        start_new_session=True,
    )
    peaks: list[int] = []
    try:
        while shell.poll() is None:
            for pid in descendants(shell.pid):
                with contextlib.suppress(OSError):
                    if b"remoterepl" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        peak = _peak_rss(pid)
                        if peak is not None:
                            peaks.append(peak)
            time.sleep(0.05)
        out, err = shell.communicate(timeout=90)
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait(10)
    assert (out, err) == (f"{digest.hexdigest()}  -\n0\n".encode(), f"{size}\n".encode())
    assert peaks, "the client was never seen running"
    assert max(peaks) < 100 << 20, max(peaks)
