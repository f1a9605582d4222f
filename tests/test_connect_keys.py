"""Keys and the agent, end to end (the embedded server; a real sshd for certificates):
-i, IdentityFile/IdentitiesOnly,
passphrase-protected keys (asked on the terminal, only when the server accepts the key,
three tries), a real ``ssh-agent`` (SSH_AUTH_SOCK, IdentityAgent, none) and -A forwarding
checked with ``ssh-add -l`` on the remote."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client import (
    assert_one_line_error,
    run_remoterepl,
    shown_times,
    spawn_remoterepl,
    stderr_lines,
)
from tests.client_env import ClientEnv, ClientEnvFactory
from tests.embedded_sshd import EmbeddedFactory, EmbeddedSshd
from tests.keys import ClientKeys, KeyPair, generate_key
from tests.sshd import SshAgent, SshdFactory

OK = "echo AUTH-OK"
PASSPHRASE = "correct horse battery"


def add_host(env: ClientEnv, alias: str, *lines: str) -> str:
    """Append a ``Host alias`` block (HostName/Port/User of the test sshd) to the config."""
    block = [
        f"Host {alias}",
        f"    HostName {env.host}",
        f"    Port {env.port}",
        f"    User {env.users.user}",
        f"    UserKnownHostsFile {env.known_hosts_path}",
        "    PasswordAuthentication no",
        "    KbdInteractiveAuthentication no",
        *(f"    {line}" for line in lines),
    ]
    with env.config_path.open("a") as config:
        config.write("\n" + "\n".join(block) + "\n")
    return alias


def direct(env: ClientEnv) -> list[str]:
    """Arguments that reach the test sshd without any ssh_config alias."""
    return [
        "-p",
        str(env.port),
        "-o",
        "PasswordAuthentication=no",
        "-o",
        "KbdInteractiveAuthentication=no",
        f"{env.users.user}@{env.host}",
    ]


@pytest.fixture
def server(embedded_factory: EmbeddedFactory) -> EmbeddedSshd:
    """A dedicated embedded server (it accepts the client key; tests authorize more)."""
    return embedded_factory()


@pytest.fixture
def env(server: EmbeddedSshd, embedded_env_factory: ClientEnvFactory) -> ClientEnv:
    """A client HOME for :func:`server`."""
    return embedded_env_factory(server)


@pytest.fixture
def locked_key(tmp_path: Path) -> KeyPair:
    """A passphrase-protected ed25519 key (new OpenSSH format: public half readable)."""
    return generate_key(tmp_path / "keys" / "id_locked", "locked", PASSPHRASE)


# --------------------------------------------------------------------------- identity files


def test_passphrase_prompt_and_a_second_try(
    server: EmbeddedSshd, env: ClientEnv, locked_key: KeyPair
) -> None:
    """ssh's wording; the first (wrong) passphrase is asked again; the key then works."""
    server.authorize(locked_key.public_line)
    alias = add_host(env, "locked", f"IdentityFile {locked_key.private}", "IdentitiesOnly yes")
    with spawn_remoterepl([alias, OK], env.env, cols=250) as term:
        term.wait_for_screen(f"Enter passphrase for key '{locked_key.private}':")
        term.sendline("not it")
        term.wait_for_screen(f"Bad passphrase, try again for {locked_key.private}:")
        term.sendline(PASSPHRASE)
        term.wait_for_screen("AUTH-OK")
        assert term.wait_exit() == 0
        assert PASSPHRASE not in term.transcript_text()


def test_three_bad_passphrases(server: EmbeddedSshd, env: ClientEnv, locked_key: KeyPair) -> None:
    """After three wrong passphrases the key is given up: 255, permission denied."""
    server.authorize(locked_key.public_line)
    alias = add_host(env, "locked", f"IdentityFile {locked_key.private}", "IdentitiesOnly yes")
    with spawn_remoterepl([alias, OK], env.env, cols=250) as term:
        for attempt in range(3):
            term.wait_for_screen(shown_times(str(locked_key.private), attempt + 1))
            term.sendline(f"bad-{attempt}")
        status = term.wait_exit(timeout=30)
    assert status == 255, term.describe()
    assert "permission denied" in term.screen_text().lower()
    assert "bad-" not in term.transcript_text()


def test_locked_key_without_terminal(
    server: EmbeddedSshd, env: ClientEnv, locked_key: KeyPair
) -> None:
    """No terminal to ask for the passphrase: the key is skipped; one line, 255."""
    server.authorize(locked_key.public_line)
    alias = add_host(env, "locked", f"IdentityFile {locked_key.private}", "IdentitiesOnly yes")
    proc = run_remoterepl([alias, OK], env=env.env, timeout=30)
    assert proc.returncode == 255, proc.stderr
    assert "permission denied" in assert_one_line_error(proc.stderr).lower()


def test_passphrase_asked_only_for_a_key_the_server_accepts(
    env: ClientEnv, locked_key: KeyPair
) -> None:
    """A locked key the server does not accept comes first: ssh offers its public half
    (read from the key file itself: there is no .pub), the server declines, and nobody is
    asked for its passphrase; the next key works."""
    locked_key.public.unlink()
    alias = add_host(
        env,
        "two-keys",
        f"IdentityFile {locked_key.private}",
        f"IdentityFile {env.key_path}",
        "IdentitiesOnly yes",
    )
    with spawn_remoterepl([alias, OK], env.env, cols=250) as term:
        term.wait_for_screen("AUTH-OK")
        assert term.wait_exit() == 0
        assert "passphrase" not in term.transcript_text().lower()


def test_locked_pem_key_without_public_half(
    server: EmbeddedSshd, env: ClientEnv, tmp_path: Path
) -> None:
    """An old-style encrypted PEM key with no .pub: unlocked (asked) before it is offered."""
    key = generate_key(tmp_path / "keys" / "id_rsa_pem", "pem", PASSPHRASE, key_type="rsa")
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-p",
            "-m",
            "PEM",
            "-P",
            PASSPHRASE,
            "-N",
            PASSPHRASE,
            "-f",
            str(key.private),
        ],
        check=True,
        capture_output=True,
    )
    server.authorize(key.public_line)
    key.public.unlink()
    alias = add_host(env, "pem", f"IdentityFile {key.private}", "IdentitiesOnly yes")
    with spawn_remoterepl([alias, OK], env.env, cols=250) as term:
        term.wait_for_screen(f"Enter passphrase for key '{key.private}':")
        term.sendline(PASSPHRASE)
        term.wait_for_screen("AUTH-OK")
        assert term.wait_exit() == 0


def test_repeated_i_options(env: ClientEnv) -> None:
    """-i is repeatable: a rejected key, then the accepted one."""
    proc = run_remoterepl(
        ["-i", str(env.bad_key_path), "-i", str(env.key_path), *direct(env), OK],
        env=env.env,
        timeout=30,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"AUTH-OK\n", b"")


def test_i_only_tries_the_given_keys_with_identities_only(env: ClientEnv) -> None:
    """-i with IdentitiesOnly: only the rejected key is offered, so authentication fails."""
    proc = run_remoterepl(
        ["-i", str(env.bad_key_path), "-o", "IdentitiesOnly=yes", *direct(env), OK],
        env=env.env,
        timeout=30,
    )
    assert proc.returncode == 255, proc.stderr
    assert "permission denied" in assert_one_line_error(proc.stderr).lower()


def test_missing_i_file_warns_and_goes_on(env: ClientEnv, tmp_path: Path) -> None:
    """A -i file that does not exist is reported (as ssh does); the next key still works."""
    missing = tmp_path / "no-such-key"
    proc = run_remoterepl(
        ["-i", str(missing), "-i", str(env.key_path), *direct(env), OK], env=env.env, timeout=30
    )
    assert (proc.returncode, proc.stdout) == (0, b"AUTH-OK\n"), proc.stderr
    lines = stderr_lines(proc.stderr)
    assert len(lines) == 1 and str(missing) in lines[0], lines


def test_key_readable_by_others_is_refused(env: ClientEnv, tmp_path: Path) -> None:
    """A private key others can read is ignored with ssh's warning (and -q hides it)."""
    loose = tmp_path / "loose"
    loose.write_bytes(env.key_path.read_bytes())
    loose.chmod(0o644)
    proc = run_remoterepl(
        ["-i", str(loose), "-o", "IdentitiesOnly=yes", *direct(env), OK], env=env.env, timeout=30
    )
    assert proc.returncode == 255, proc.stderr
    lines = stderr_lines(proc.stderr)
    assert len(lines) == 2 and "UNPROTECTED PRIVATE KEY FILE" in lines[0], lines
    assert str(loose) in lines[0] and "0644" in lines[0], lines
    assert "permission denied" in lines[1].lower(), lines
    loose.chmod(0o600)
    proc = run_remoterepl(
        ["-i", str(loose), "-o", "IdentitiesOnly=yes", *direct(env), OK], env=env.env, timeout=30
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"AUTH-OK\n", b"")


@pytest.mark.parametrize("locked", [False, True], ids=["plain", "passphrase"])
def test_user_certificate(
    sshd_factory: SshdFactory, client_env_factory: ClientEnvFactory, tmp_path: Path, locked: bool
) -> None:
    """A key the server knows only through its certificate (``KEY-cert.pub`` next to it,
    signed by a TrustedUserCAKeys CA) logs in; a locked one after its passphrase."""
    ca = generate_key(tmp_path / "ca", "test-ca")
    server = sshd_factory(extra_config=[f"TrustedUserCAKeys {ca.public}"])
    env = client_env_factory(server)
    key = generate_key(tmp_path / "keys" / "id_cert", "cert", PASSPHRASE if locked else "")
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-s",
            str(ca.private),
            "-I",
            "remoterepl-test",
            "-n",
            env.users.user,
            str(key.public),
        ],
        check=True,
        capture_output=True,
    )
    assert key.private.with_name("id_cert-cert.pub").exists()
    alias = add_host(env, "cert", f"IdentityFile {key.private}", "IdentitiesOnly yes")
    with spawn_remoterepl([alias, OK], env.env, cols=250) as term:
        if locked:
            term.wait_for_screen(f"Enter passphrase for key '{key.private}':")
            term.sendline(PASSPHRASE)
        term.wait_for_screen("AUTH-OK")
        assert term.wait_exit() == 0
    server.wait_for_log(r"Accepted certificate ID \"remoterepl-test\"")


# --------------------------------------------------------------------------- the agent


@pytest.fixture
def agent(tmp_path: Path, embedded_keys: ClientKeys) -> Iterator[SshAgent]:
    """A real ssh-agent holding the accepted client key."""
    running = SshAgent(tmp_path / "agent")
    try:
        running.add(embedded_keys.client)
        yield running
    finally:
        running.stop()


def test_agent_provides_the_key(env: ClientEnv, agent: SshAgent) -> None:
    """No identity file at all: the agent from SSH_AUTH_SOCK signs; -v says so."""
    proc = run_remoterepl(["-v", *direct(env), OK], env={**env.env, **agent.env}, timeout=30)
    assert (proc.returncode, proc.stdout) == (0, b"AUTH-OK\n"), proc.stderr
    text = proc.stderr.decode()
    assert "(agent)" in text and "authenticated to" in text, text


def test_identity_agent_none_disables_the_agent(env: ClientEnv, agent: SshAgent) -> None:
    """-o IdentityAgent=none: the agent is not asked, so there is no key: 255."""
    proc = run_remoterepl(
        ["-o", "IdentityAgent=none", *direct(env), OK], env={**env.env, **agent.env}, timeout=30
    )
    assert proc.returncode == 255, proc.stderr
    assert "permission denied" in assert_one_line_error(proc.stderr).lower()


def test_identity_agent_from_ssh_config(env: ClientEnv, agent: SshAgent) -> None:
    """IdentityAgent in ssh_config names the socket (SSH_AUTH_SOCK unset)."""
    alias = add_host(env, "via-agent", f"IdentityAgent {agent.socket}")
    proc = run_remoterepl([alias, OK], env=env.env, timeout=30)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"AUTH-OK\n", b"")


def test_no_agent_running_is_not_an_error(env: ClientEnv, tmp_path: Path) -> None:
    """SSH_AUTH_SOCK pointing at nothing: not a word about it, the key file works."""
    environ = {**env.env, "SSH_AUTH_SOCK": str(tmp_path / "no-agent.sock")}
    proc = run_remoterepl([env.user_alias, OK], env=environ, timeout=30)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"AUTH-OK\n", b"")


@pytest.mark.parametrize(("identities_only", "status"), [("yes", 255), ("no", 0)])
def test_identities_only_limits_the_agent(
    env: ClientEnv, agent: SshAgent, identities_only: str, status: int
) -> None:
    """IdentityFile names a rejected key: with IdentitiesOnly the agent's (accepted) key is
    not offered; without it, it is."""
    alias = add_host(
        env, "only", f"IdentityFile {env.bad_key_path}", f"IdentitiesOnly {identities_only}"
    )
    proc = run_remoterepl([alias, OK], env={**env.env, **agent.env}, timeout=30)
    assert proc.returncode == status, proc.stderr


def agent_fingerprint(agent: SshAgent) -> str:
    """The SHA256 fingerprint ``ssh-add -l`` shows for the agent's key."""
    listing = subprocess.run(
        ["ssh-add", "-l"],
        env={**agent.env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return listing.split()[1]


@pytest.mark.parametrize("option", [["-A"], ["-o", "ForwardAgent=yes"]], ids=["-A", "config"])
def test_agent_forwarding(env: ClientEnv, agent: SshAgent, option: list[str]) -> None:
    """-A (or ForwardAgent yes): on the remote, ``ssh-add -l`` lists the local agent's key."""
    proc = run_remoterepl(
        [*option, env.user_alias, "ssh-add -l"], env={**env.env, **agent.env}, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    assert agent_fingerprint(agent) in proc.stdout.decode(), proc.stdout


def test_no_agent_forwarding_by_default(env: ClientEnv, agent: SshAgent) -> None:
    """Without -A the remote has no agent (ssh-add exits 2), even when we have one."""
    proc = run_remoterepl([env.user_alias, "ssh-add -l"], env={**env.env, **agent.env}, timeout=30)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert agent_fingerprint(agent) not in proc.stdout.decode()
