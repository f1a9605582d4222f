"""Timeouts and liveness: ConnectTimeout against a server that never speaks, keepalives
ending a session whose server was stopped (SIGSTOP), and a password prompt that
ConnectTimeout must not cut short."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.client import (
    assert_one_line_error,
    read_line_with_timeout,
    run_remoterepl,
    spawn_remoterepl,
    start_remoterepl,
)
from tests.client_env import ClientEnv, ClientEnvFactory
from tests.embedded_sshd import EmbeddedFactory
from tests.system import kill_quietly


def test_connect_timeout(embedded_env: ClientEnv, silent_listener: int) -> None:
    """-o ConnectTimeout=2 against a silent server: 255 after ~2 s, "timed out"."""
    started = time.monotonic()
    proc = run_remoterepl(
        ["-o", "ConnectTimeout=2", "-p", str(silent_listener), "127.0.0.1", "true"],
        env=embedded_env.env,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 255, proc.stderr
    line = assert_one_line_error(proc.stderr)
    assert "timed out" in line and str(silent_listener) in line, line
    assert 1.5 <= elapsed < 10, elapsed


def test_connect_timeout_from_ssh_config(embedded_env: ClientEnv, silent_listener: int) -> None:
    """ConnectTimeout set per host in ssh_config applies just the same."""
    with embedded_env.config_path.open("a") as config:
        config.write(
            f"\nHost silent\n    HostName 127.0.0.1\n    Port {silent_listener}\n"
            "    ConnectTimeout 1\n"
        )
    started = time.monotonic()
    proc = run_remoterepl(["silent", "true"], env=embedded_env.env, timeout=60)
    assert proc.returncode == 255 and time.monotonic() - started < 10, proc.stderr
    assert "timed out" in assert_one_line_error(proc.stderr)


def test_connect_timeout_spares_the_password_prompt(embedded_env: ClientEnv) -> None:
    """ConnectTimeout covers reaching the server, not a person typing a password: with
    ConnectTimeout=1, the prompt is still there 2.5 s later, and the login works."""
    args = ["-o", "ConnectTimeout=1", embedded_env.password_alias, "echo LOGGED-IN"]
    with spawn_remoterepl(args, embedded_env.env) as term:
        term.wait_for_screen("password:")
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:  # watching for an (unwanted) early exit
            assert term._pump(deadline - time.monotonic()), term.describe()
        assert term.child.isalive()
        term.sendline(embedded_env.password)
        term.wait_for_screen("LOGGED-IN")
        assert term.wait_exit() == 0


def test_keepalive_ends_a_session_whose_server_stopped(
    embedded_factory: EmbeddedFactory, embedded_env_factory: ClientEnvFactory
) -> None:
    """The session's server process is frozen (SIGSTOP): keepalives go unanswered and,
    with ServerAliveInterval=1 and ServerAliveCountMax=2, the session ends with 255 and
    a clear line within a few seconds instead of hanging."""
    server = embedded_factory()
    env = embedded_env_factory(server)
    args = [
        "-o",
        "ServerAliveInterval=1",
        "-o",
        "ServerAliveCountMax=2",
        env.user_alias,
        "echo pids $$ $PPID; exec sleep 60",
    ]
    stopped: list[int] = []
    remote_pid = 0
    try:
        with start_remoterepl(args, env=env.env) as proc:
            assert proc.stdout is not None
            words = read_line_with_timeout(proc.stdout, 15).split()
            assert words[:1] == [b"pids"], words
            remote_pid, session_pid = int(words[1]), int(words[2])
            assert session_pid == server.pid, "not the server's process"
            os.kill(session_pid, signal.SIGSTOP)
            stopped.append(session_pid)
            started = time.monotonic()
            try:
                _out, err = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                pytest.fail("remoterepl still running 20 s after the server froze")
            elapsed = time.monotonic() - started
    finally:
        kill_quietly([remote_pid, *stopped], signal.SIGKILL)
    assert proc.returncode == 255, err
    line = assert_one_line_error(err)
    assert "not responding" in line and "keepalive" in line, line
    assert elapsed < 10, elapsed


def test_defaults_are_reported_by_v(embedded_env: ClientEnv) -> None:
    """remoterepl's defaults (ServerAliveInterval 15, CountMax 3, ConnectTimeout 30) are
    in force when nothing else sets them (-v lists them)."""
    proc = run_remoterepl(["-v", embedded_env.user_alias, "true"], env=embedded_env.env, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert (
        "ConnectTimeout 30, ServerAliveInterval 15, ServerAliveCountMax 3" in proc.stderr.decode()
    ), proc.stderr
