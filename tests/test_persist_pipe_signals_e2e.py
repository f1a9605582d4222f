"""A piped --persist client's own end: SIGHUP or SIGTERM leaves the process running (the
session outlives the client), a reader gone (``| head -1``) ends it by SIGPIPE, as ssh's
closed channel would, instead of leaving it paused forever."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.client import remoterepl_command, run_remoterepl
from tests.client_env import ClientEnv


def _sessions(env: ClientEnv) -> str:
    result = run_remoterepl(["--sessions", env.user_alias], env=env.env)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


def _wait_for(condition: str, env: ClientEnv, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while True:
        listing = _sessions(env)
        if condition in listing or time.monotonic() > deadline:
            return listing
        time.sleep(0.1)


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_a_signal_to_the_piped_client_detaches(embedded_env: ClientEnv, signum: int) -> None:
    name = f"sig{signum}"
    argv = remoterepl_command(
        ["--persist", name, embedded_env.user_alias, "echo started; sleep 1000"]
    )
    client = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=embedded_env.env,
        start_new_session=True,
    )
    try:
        assert client.stdout is not None
        assert client.stdout.readline() == b"started\n"
        client.send_signal(signum)
        assert client.wait(20) == 128 + signum
        listing = _wait_for(f"{name}  detached", embedded_env)
        assert f"{name}  detached" in listing, listing  # the process goes on
    finally:
        client.kill()
        client.wait()
        run_remoterepl(["--kill-session", name, embedded_env.user_alias], env=embedded_env.env)


def test_a_reader_gone_ends_a_piped_session_by_sigpipe(embedded_env: ClientEnv) -> None:
    client = remoterepl_command(["--persist", "rg", embedded_env.user_alias, "seq 1 10000000"])
    shell = f"{' '.join(client)} | head -1"
    result = subprocess.run(
        ["bash", "-c", f'{shell}; echo "${{PIPESTATUS[0]}}"'],
        capture_output=True,
        env=embedded_env.env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.stdout.split() == [b"1", b"141"], result
    listing = _wait_for("exited (SIGPIPE)", embedded_env)
    assert "rg" in listing and "exited (SIGPIPE)" in listing, listing
    # The next run of that name collects it (its status, its output held), the one after
    # starts afresh.
    args = ["--persist", "rg", embedded_env.user_alias, "echo new"]
    collected = run_remoterepl(args, env=embedded_env.env)
    assert collected.returncode == 128 + signal.SIGPIPE
    assert collected.stdout and b"new" not in collected.stdout  # the held tail of seq's
    assert "rg" not in _sessions(embedded_env)
    fresh = run_remoterepl(args, env=embedded_env.env)
    assert (fresh.returncode, fresh.stdout) == (0, b"new\n")
