"""Failure paths end to end: what a person or a script sees when things go wrong (against
the embedded server, and a real sshd whose per-connection process is killed).

Contract (README, "Exit status"): connection, authentication and host-key failures exit 255 with ONE
clear line on stderr (never a traceback); usage errors exit 2 with a usage message; a remote
process killed by signal N gives 128+N; and whatever the remote wrote before the end is never
lost. Messages are checked for stable key words, not exact wording.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.client import (
    assert_one_line_error,
    read_line_with_timeout,
    run_remoterepl,
    start_remoterepl,
    stderr_lines,
)
from tests.client_env import ClientEnv, ClientEnvFactory, client_environment
from tests.embedded_sshd import EmbeddedSshd
from tests.keys import ClientKeys
from tests.sshd import SshdFactory
from tests.system import free_port, kill_quietly, private_netns_command, require_root

#: A remote command that must never run when the connection is refused by our side.
CANARY = "echo SHOULD-NOT-RUN"


def has_any(text: str, *words: str) -> bool:
    """True if *text* contains any of *words*, case-insensitively."""
    lowered = text.lower()
    return any(word.lower() in lowered for word in words)


@pytest.fixture
def bare_env(tmp_path: Path) -> dict[str, str]:
    """A client environment with an empty HOME (no ssh_config, no known_hosts, no agent)."""
    return client_environment(tmp_path / "home")


# --------------------------------------------------------------------------- connecting


def test_connection_refused(bare_env: dict[str, str]) -> None:
    """Nothing listens on the port: 255 and one line naming host, port and "refused"."""
    port = free_port()
    proc = run_remoterepl(["-p", str(port), "127.0.0.1", CANARY], env=bare_env, timeout=30)
    assert proc.returncode == 255, proc.stderr
    line = assert_one_line_error(proc.stderr)
    assert "127.0.0.1" in line and str(port) in line, line
    assert "refused" in line.lower(), line
    assert proc.stdout == b""


def test_unresolvable_host(bare_env: dict[str, str]) -> None:
    """A name that cannot resolve: 255 and one line naming it.

    Runs in a private network namespace with only loopback, so the lookup fails locally
    and no DNS query leaves the machine (``.invalid`` never resolves anyway).
    """
    require_root("unshare --net keeps the DNS lookup off the network")
    proc = run_remoterepl(
        ["nonexistent.invalid", CANARY],
        env=bare_env,
        timeout=60,
        wrap=private_netns_command,
    )
    assert proc.returncode != 99, "private network namespace was not loopback-only"
    assert proc.returncode == 255, proc.stderr
    line = assert_one_line_error(proc.stderr)
    assert "nonexistent.invalid" in line, line
    assert has_any(line, "resolve", "resolution", "not known", "lookup", "unknown host"), line
    assert proc.stdout == b""


# --------------------------------------------------------------------------- usage


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        ([], ""),
        (["-p", "notaport", "127.0.0.1", CANARY], "notaport"),
        (["-o", "StrictHostKeyChecking", "127.0.0.1", CANARY], "StrictHostKeyChecking"),
        (["--no-such-option", "127.0.0.1", CANARY], "--no-such-option"),
    ],
    ids=["no-destination", "bad-port", "o-without-value", "unknown-option"],
)
def test_usage_errors(bare_env: dict[str, str], args: list[str], mentions: str) -> None:
    """Bad command lines exit 2 with a usage message naming what is wrong; nothing runs."""
    proc = run_remoterepl(args, env=bare_env, timeout=30)
    text = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, text
    assert "usage" in text.lower(), text
    assert mentions in text, text
    assert "Traceback" not in text
    assert proc.stdout == b""


# --------------------------------------------------------------------------- authentication


def test_authentication_failure(embedded_env: ClientEnv) -> None:
    """Only a key the server does not accept (IdentitiesOnly, no password auth): 255."""
    proc = run_remoterepl([embedded_env.badkey_alias, CANARY], env=embedded_env.env, timeout=30)
    assert proc.returncode == 255, proc.stderr
    line = assert_one_line_error(proc.stderr)
    assert has_any(line, "permission denied", "authentication"), line
    assert proc.stdout == b""


# --------------------------------------------------------------------------- host keys


@pytest.mark.parametrize(
    "options",
    [[], ["-o", "StrictHostKeyChecking=yes"], ["-o", "StrictHostKeyChecking=ask"]],
    ids=["default", "strict-yes", "strict-ask"],
)
def test_unknown_host_key(
    embedded_sshd: EmbeddedSshd, embedded_env_factory: ClientEnvFactory, options: list[str]
) -> None:
    """Empty known_hosts and no terminal to ask on: refuse with 255, write nothing."""
    env = embedded_env_factory(embedded_sshd, known_hosts_lines=[])
    proc = run_remoterepl([*options, env.user_alias, CANARY], env=env.env, timeout=30)
    assert proc.returncode == 255, proc.stderr
    line = assert_one_line_error(proc.stderr)
    assert "host key" in line.lower(), line
    assert has_any(
        line, "unknown", "not known", "verif", "authenticity", "cannot be established", "trust"
    ), line
    assert "127.0.0.1" in line, line
    assert proc.stdout == b""
    assert env.known_hosts_path.read_text() == ""


def test_accept_new_records_an_unknown_host(
    embedded_sshd: EmbeddedSshd, embedded_env_factory: ClientEnvFactory
) -> None:
    """``-o StrictHostKeyChecking=accept-new`` connects and records the key, like OpenSSH."""
    env = embedded_env_factory(embedded_sshd, known_hosts_lines=[])
    proc = run_remoterepl(
        ["-o", "StrictHostKeyChecking=accept-new", env.user_alias, "echo ok"],
        env=env.env,
        timeout=30,
    )
    assert (proc.returncode, proc.stdout) == (0, b"ok\n"), proc.stderr
    assert "Traceback" not in proc.stderr.decode("utf-8", "replace")
    blob = env.host_key_line.split()[-1]
    assert blob in env.known_hosts_path.read_text()


def test_user_known_hosts_file_option(
    embedded_sshd: EmbeddedSshd, embedded_env_factory: ClientEnvFactory, tmp_path: Path
) -> None:
    """``-o UserKnownHostsFile=FILE`` overrides the config's file, like OpenSSH."""
    env = embedded_env_factory(embedded_sshd, known_hosts_lines=[])
    trusted = tmp_path / "trusted_hosts"
    trusted.write_text(env.host_key_line + "\n")
    proc = run_remoterepl(
        ["-o", f"UserKnownHostsFile={trusted}", env.user_alias, "echo ok"],
        env=env.env,
        timeout=30,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"ok\n", b"")


@pytest.mark.parametrize(
    "options",
    [[], ["-o", "StrictHostKeyChecking=accept-new"]],
    ids=["default", "accept-new"],
)
def test_changed_host_key(
    embedded_sshd: EmbeddedSshd,
    embedded_env_factory: ClientEnvFactory,
    embedded_keys: ClientKeys,
    options: list[str],
) -> None:
    """known_hosts holds another key for [127.0.0.1]:PORT: refuse loudly, name the file."""
    impostor = f"[127.0.0.1]:{embedded_sshd.port} {embedded_keys.bad_client.public_line}"
    env = embedded_env_factory(embedded_sshd, known_hosts_lines=[impostor])
    proc = run_remoterepl([*options, env.user_alias, CANARY], env=env.env, timeout=30)
    assert proc.returncode == 255, proc.stderr
    line = assert_one_line_error(proc.stderr)
    assert str(env.known_hosts_path) in line, line
    assert has_any(line, "changed", "mismatch", "does not match", "doesn't match"), line
    assert proc.stdout == b""
    assert env.known_hosts_path.read_text() == impostor + "\n"


# --------------------------------------------------------------------------- mid-session


def test_remote_killed_mid_session(embedded_env: ClientEnv) -> None:
    """The remote process dies of SIGKILL: 137, and its earlier output is all there."""
    proc = run_remoterepl(
        [embedded_env.user_alias, "echo before; kill -KILL $$"], env=embedded_env.env, timeout=30
    )
    assert proc.returncode == 128 + 9, proc.stderr
    assert proc.stdout == b"before\n"
    text = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in text
    assert len(stderr_lines(proc.stderr)) <= 1, text


def test_server_gone_mid_session(
    sshd_factory: SshdFactory, client_env_factory: ClientEnvFactory
) -> None:
    """The server side of the connection dies: 255 promptly, one line, earlier output kept.

    The remote prints its own pid and its parent's (the per-connection sshd process that
    speaks the protocol); killing that parent with SIGKILL drops the connection abruptly.
    """
    server = sshd_factory()
    env = client_env_factory(server)
    script = "echo partial; echo pids $$ $PPID; exec sleep 30"
    remote_pid = 0
    try:
        with start_remoterepl([env.user_alias, script], env=env.env) as proc:
            assert proc.stdout is not None
            assert read_line_with_timeout(proc.stdout, 15) == b"partial\n"
            words = read_line_with_timeout(proc.stdout, 15).split()
            assert words[:1] == [b"pids"], words
            remote_pid, session_pid = int(words[1]), int(words[2])
            assert session_pid in server.session_pids(), "not a process of this sshd"
            os.kill(session_pid, signal.SIGKILL)
            try:
                rest, err = proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                pytest.fail("remoterepl still running 15 s after the server side died")
    finally:
        if remote_pid:
            kill_quietly([remote_pid])
    assert proc.returncode == 255, err
    assert rest == b""  # "partial" was read above, before the kill
    line = assert_one_line_error(err)
    assert has_any(line, "connection", "closed", "lost", "disconnect"), line
