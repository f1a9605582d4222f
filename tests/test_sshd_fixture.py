"""Sanity checks of the test infrastructure itself, with OpenSSH's own ``ssh`` as the client.

If these fail, the end-to-end tests of remoterepl say nothing: fix the fixture first.
"""

from __future__ import annotations

import subprocess
import sys

import asyncssh
import pytest

from tests.client import Terminal
from tests.client_env import ClientEnv, ClientEnvFactory
from tests.sshd import SshdFactory, SshdServer
from tests.system import descendants, private_netns_command, process_exists, require_root


def ssh(client_env: ClientEnv, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run OpenSSH ``ssh`` with the client env's config, non-interactively."""
    return subprocess.run(
        client_env.ssh_args(*args),
        env=client_env.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )


def test_ssh_true_as_test_user(client_env: ClientEnv) -> None:
    """``ssh -F cfg user-sshd true`` succeeds with the generated key and known_hosts."""
    proc = ssh(client_env, client_env.user_alias, "true")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


@pytest.mark.parametrize(
    ("alias_attr", "expected"), [("user_alias", "rrtest"), ("root_alias", "root")]
)
def test_whoami(client_env: ClientEnv, alias_attr: str, expected: str) -> None:
    """The aliases log in as the non-root test user and as root."""
    proc = ssh(client_env, getattr(client_env, alias_attr), "whoami")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{expected}\n"


def test_remote_tools_present(client_env: ClientEnv) -> None:
    """Remote programs the e2e tests rely on exist for the test user."""
    proc = ssh(client_env, client_env.user_alias, "command -v bc cat wc seq head sleep")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(proc.stdout.split()) == 6


def test_sshd_logs_are_captured(sshd: SshdServer, client_env: ClientEnv) -> None:
    """Connections show up in the captured sshd log (VERBOSE)."""
    mark = len(sshd.log_lines)
    assert ssh(client_env, client_env.user_alias, "true").returncode == 0
    line = sshd.wait_for_log(r"Accepted publickey for rrtest from 127\.0\.0\.1", since=mark)
    assert "ED25519" in line


def test_listens_on_loopback_only(sshd: SshdServer) -> None:
    """The shared sshd announced 127.0.0.1 and a non-default port."""
    assert sshd.port not in (0, 22)
    assert any(f"Server listening on 127.0.0.1 port {sshd.port}" in line for line in sshd.log_lines)
    assert not any(
        "0.0.0.0" in line or "::" in line for line in sshd.log_lines if "Server listening" in line
    )


def test_bad_key_is_rejected(client_env: ClientEnv) -> None:
    """The badkey alias offers only a key that is not authorized, and fails."""
    proc = ssh(client_env, client_env.badkey_alias, "true")
    assert proc.returncode == 255
    assert "permission denied" in proc.stderr.lower()


def test_unknown_host_key_is_refused(
    sshd: SshdServer, client_env_factory: ClientEnvFactory
) -> None:
    """With an empty known_hosts and no terminal, OpenSSH refuses the host."""
    env = client_env_factory(sshd, known_hosts_lines=[])
    proc = ssh(env, env.user_alias, "true")
    assert proc.returncode == 255
    assert "host key verification failed" in proc.stderr.lower()


async def test_password_user_logs_in(sshd: SshdServer, client_env: ClientEnv) -> None:
    """rrpass logs in with the password (checked with asyncssh directly, no agent, no keys)."""
    async with asyncssh.connect(
        "127.0.0.1",
        sshd.port,
        username=client_env.users.password_user,
        password=client_env.password,
        known_hosts=str(client_env.known_hosts_path),
        client_keys=None,
        agent_path=None,
        config=None,
        preferred_auth="password",
    ) as conn:
        result = await conn.run("whoami", check=True)
    assert result.stdout == "rrpass\n"


async def test_wrong_password_is_rejected(sshd: SshdServer, client_env: ClientEnv) -> None:
    """A wrong password fails, so the password test above can fail too."""
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(
            "127.0.0.1",
            sshd.port,
            username=client_env.users.password_user,
            password=client_env.password + "-wrong",
            known_hosts=str(client_env.known_hosts_path),
            client_keys=None,
            agent_path=None,
            config=None,
            preferred_auth="password",
        )


def test_client_env_is_isolated(client_env: ClientEnv) -> None:
    """HOME/XDG point into the temp HOME and no agent is reachable."""
    env = client_env.env
    assert "SSH_AUTH_SOCK" not in env
    for var in ("HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        assert env[var].startswith(str(client_env.home)), var
    assert client_env.config_path == client_env.home / ".ssh" / "config"
    assert client_env.known_hosts_path.read_text() == client_env.host_key_line + "\n"
    assert client_env.host_key_line.startswith(f"[127.0.0.1]:{client_env.port} ssh-ed25519 ")


def test_dedicated_sshd_stop_kills_sessions(
    sshd_factory: SshdFactory, client_env_factory: ClientEnvFactory
) -> None:
    """A dedicated server has its own port; stop() ends the sessions it spawned."""
    server = sshd_factory()
    env = client_env_factory(server)
    proc = subprocess.Popen(
        env.ssh_args(env.user_alias, "echo started $$; exec sleep 60"),
        env=env.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().split()
        assert first[:1] == [b"started"]
        remote_sleep = int(first[1])
        assert remote_sleep in descendants(server.pid)
        server.stop()
        assert proc.wait(timeout=15) == 255  # ssh sees the connection drop
        assert not process_exists(remote_sleep)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_extra_config_overrides_defaults(
    sshd_factory: SshdFactory, client_env_factory: ClientEnvFactory
) -> None:
    """``extra_config`` lines win over the fixture's defaults (here: no root logins)."""
    server = sshd_factory(extra_config=["PermitRootLogin no"])
    env = client_env_factory(server)
    assert ssh(env, env.user_alias, "true").returncode == 0
    proc = ssh(env, env.root_alias, "true")
    assert proc.returncode == 255
    assert "permission denied" in proc.stderr.lower()


def test_private_netns_has_only_loopback() -> None:
    """The no-network wrapper runs commands where only lo exists and lookups fail locally."""
    require_root("unshare --net")
    proc = subprocess.run(
        private_netns_command(["sh", "-c", "ip -o link show; getent hosts nonexistent.invalid"]),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr  # getent: key not found
    links = proc.stdout.splitlines()
    assert len(links) == 1 and ": lo:" in links[0]


def test_terminal_answers_cursor_position_requests(tmp_path: object) -> None:
    """The pty helper renders output and answers CPR like a real terminal."""
    script = (
        "import sys, tty, os\n"
        "tty.setraw(0)\n"
        "os.write(1, b'\\x1b[5;10Hhello\\x1b[6n')\n"
        "buf = b''\n"
        "while not buf.endswith(b'R'):\n"
        "    buf += os.read(0, 1)\n"
        "os.write(1, b'\\r\\nreply=' + buf[1:] + b'\\r\\n')\n"
    )
    with Terminal([sys.executable, "-c", script], env={"PATH": "/usr/bin:/bin"}) as term:
        text = term.wait_for_screen("reply=", timeout=10)
        assert term.screen_lines()[4].startswith("         hello")
        assert "reply=[5;15R" in text
        assert term.wait_exit(timeout=10) == 0
