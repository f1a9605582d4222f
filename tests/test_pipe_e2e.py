"""Pipe mode end to end: the installed remoterepl, stdin not a terminal, a real OpenSSH sshd.

Contract (DESIGN.md §1-2): local stdin streams to ONE remote process, its stdout and stderr
stream to ours byte-exact, nothing of ours is added on stderr when all goes well, and our
exit status is the remote one (128+N when the remote died of signal N).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from typing import IO

import pytest

from tests.client import (
    read_line_with_timeout,
    remoterepl_command,
    run_remoterepl,
    start_remoterepl,
)
from tests.sshd import ClientEnv, kill_quietly

USERS = ["user_alias", "root_alias"]



@pytest.mark.parametrize("which", USERS)
def test_bc_over_a_pipe(client_env: ClientEnv, which: str) -> None:
    """``printf '2+2\\n3*7\\n' | remoterepl user-sshd bc`` prints exactly the two results."""
    proc = run_remoterepl([client_env.login(which), "bc"], input=b"2+2\n3*7\n", env=client_env.env)
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


def test_stdout_and_stderr_stay_separate(client_env: ClientEnv) -> None:
    """Remote stdout goes to our stdout and remote stderr to our stderr, with nothing added."""
    proc = run_remoterepl([client_env.user_alias, "echo out; echo err >&2"], env=client_env.env)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"out\n", b"err\n")


def test_stderr_is_byte_exact(client_env: ClientEnv) -> None:
    """Binary data written to remote stderr arrives unchanged on ours."""
    data = os.urandom(1024 * 1024)
    proc = run_remoterepl([client_env.user_alias, "cat >&2"], input=data, env=client_env.env)
    assert proc.returncode == 0
    assert proc.stdout == b""
    assert hashlib.sha256(proc.stderr).hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("which", USERS)
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
def test_exit_status_is_the_remote_one(
    client_env: ClientEnv, which: str, command: str, status: int
) -> None:
    """Our status is the remote status, or 128+N when the remote process died of signal N."""
    proc = run_remoterepl([client_env.login(which), command], env=client_env.env)
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
    client_env: ClientEnv, args: list[str], expected: bytes
) -> None:
    """Several COMMAND args are joined with spaces and run by the remote shell."""
    proc = run_remoterepl([client_env.user_alias, *args], env=client_env.env)
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


def test_eof_is_passed_on(client_env: ClientEnv) -> None:
    """End of our stdin reaches the remote program: ``wc -c`` finishes and counts 1000."""
    proc = run_remoterepl(
        [client_env.user_alias, "wc -c"], input=b"x" * 1000, env=client_env.env, timeout=30
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"1000\n", b"")


@pytest.mark.parametrize("command", ["cat", "wc -c"])
def test_stdin_from_dev_null(client_env: ClientEnv, command: str) -> None:
    """With stdin on /dev/null (as under CI or cron) the remote sees an immediate EOF."""
    proc = run_remoterepl(
        [client_env.user_alias, command],
        input=None,
        stdin=subprocess.DEVNULL,
        env=client_env.env,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (b"" if command == "cat" else b"0\n")


def test_output_streams_before_the_remote_exits(client_env: ClientEnv) -> None:
    """Each remote line reaches our stdout as it is written, not when the process ends."""
    script = "echo first; read -r reply; echo got:$reply"
    with start_remoterepl([client_env.user_alias, script], env=client_env.env) as proc:
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


def test_reader_leaving_ends_the_session_like_sigpipe(client_env: ClientEnv) -> None:
    """``remoterepl host 'seq 1 100000000' | head -2``: stops at once, status 141 (as a
    local program killed by SIGPIPE), nothing on stderr."""
    command = (f"{' '.join(remoterepl_command([client_env.user_alias, 'seq 1 100000000']))}"
               " | head -2; echo status=${PIPESTATUS[0]}")
    proc = subprocess.run(["bash", "-c", command], capture_output=True, env=client_env.env,
                          timeout=30, stdin=subprocess.DEVNULL)
    assert proc.stdout == b"1\n2\nstatus=141\n"
    assert proc.stderr == b""
