"""Host-key trust as OpenSSH does it, end to end against the embedded server: hashed and
[host]:port entries,
Global/UserKnownHostsFile, StrictHostKeyChecking from -o and per host from ssh_config,
"ask" answered on a real pty, changed and revoked keys refused naming FILE:LINE.

Where it matters, OpenSSH's own ``ssh``/``ssh-keygen`` check the same files, so both
clients are seen to agree."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.client import assert_one_line_error, run_remoterepl, spawn_remoterepl, stderr_lines
from tests.client_env import ClientEnv, ClientEnvFactory
from tests.embedded_sshd import EmbeddedSshd
from tests.keys import KeyPair, SshKeys, generate_key

OK = "echo HOST-OK"
STRICT = ["-o", "StrictHostKeyChecking=yes"]


def openssh_connects(env: ClientEnv, *options: str) -> bool:
    """Does OpenSSH's ssh (BatchMode, same config and files) accept the host?"""
    if shutil.which("ssh") is None:
        pytest.skip("OpenSSH's ssh is missing (package openssh-client): nothing to compare")
    proc = subprocess.run(
        env.ssh_args(*options, env.user_alias, "true"),
        env=env.env,
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    return proc.returncode == 0


def host_name(env: ClientEnv) -> str:
    """How known_hosts names the test embedded_sshd."""
    return f"[127.0.0.1]:{env.port}"


def found_by_ssh_keygen(env: ClientEnv, path: Path) -> bool:
    """``ssh-keygen -F [127.0.0.1]:PORT -f FILE`` finds the host (hashed or not)."""
    proc = subprocess.run(
        ["ssh-keygen", "-F", host_name(env), "-f", str(path)], capture_output=True, text=True
    )
    return proc.returncode == 0 and host_name(env) in proc.stdout


@pytest.fixture
def empty_env(embedded_sshd: EmbeddedSshd, embedded_env_factory: ClientEnvFactory) -> ClientEnv:
    """A client HOME whose known_hosts is empty."""
    return embedded_env_factory(embedded_sshd, known_hosts_lines=[])


def test_hashed_entry(embedded_env: ClientEnv) -> None:
    """A known_hosts hashed with ``ssh-keygen -H`` still vouches for the host."""
    subprocess.run(
        ["ssh-keygen", "-q", "-H", "-f", str(embedded_env.known_hosts_path)],
        check=True,
        capture_output=True,
    )
    text = embedded_env.known_hosts_path.read_text()
    assert text.startswith("|1|") and "127.0.0.1" not in text
    proc = run_remoterepl([*STRICT, embedded_env.user_alias, OK], env=embedded_env.env, timeout=30)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"HOST-OK\n", b"")


@pytest.mark.parametrize(
    ("lines", "outcome"),
    [
        (["127.0.0.1 KEY"], "ok"),
        (["127.0.0.1 OTHER"], "unknown"),
        (["[127.0.0.1]:PORT OTHER", "127.0.0.1 KEY"], "changed"),
        (["127.0.0.1 KEY", "[127.0.0.1]:PORT OTHER"], "changed"),
        (["[127.0.0.1]:1 KEY"], "unknown"),
    ],
    ids=[
        "plain-host-vouches",
        "plain-host-other-key",
        "port-line-wins",
        "port-line-wins-later",
        "other-port",
    ],
)
def test_port_entries_as_openssh_reads_them(
    embedded_sshd: EmbeddedSshd,
    embedded_env_factory: ClientEnvFactory,
    ssh_keys: SshKeys,
    lines: list[str],
    outcome: str,
) -> None:
    """On a non-standard port ``[host]:port`` lines decide; a plain ``host`` line only
    vouches for a key when no ``[host]:port`` line holds that key type. OpenSSH's ssh,
    given the same files, reaches the same verdict."""
    text = [
        line.replace("KEY", embedded_sshd.host_key.public_line)
        .replace("PORT", str(embedded_sshd.port))
        .replace("OTHER", ssh_keys.bad_client.public_line)
        for line in lines
    ]
    env = embedded_env_factory(embedded_sshd, known_hosts_lines=text)
    proc = run_remoterepl([*STRICT, env.user_alias, OK], env=env.env, timeout=30)
    assert openssh_connects(env, *STRICT) == (outcome == "ok")
    if outcome == "ok":
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"HOST-OK\n", b"")
        return
    assert proc.returncode == 255, proc.stderr
    line = assert_one_line_error(proc.stderr)
    assert host_name(env) in line, line
    assert ("CHANGED" in line) == (outcome == "changed"), line
    assert ("unknown" in line) == (outcome == "unknown"), line


def test_global_known_hosts_file(empty_env: ClientEnv, tmp_path: Path) -> None:
    """GlobalKnownHostsFile is consulted too (user file empty)."""
    global_file = tmp_path / "ssh_known_hosts"
    global_file.write_text(empty_env.host_key_line + "\n")
    args = [*STRICT, "-o", f"GlobalKnownHostsFile={global_file}"]
    proc = run_remoterepl([*args, empty_env.user_alias, OK], env=empty_env.env, timeout=30)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"HOST-OK\n", b"")
    assert empty_env.known_hosts_path.read_text() == ""


def add_block(env: ClientEnv, *lines: str) -> None:
    """Put settings for the user alias in front of the generated config (first wins)."""
    text = env.config_path.read_text()
    block = f"Host {env.user_alias}\n" + "".join(f"    {line}\n" for line in lines) + "\n"
    env.config_path.write_text(block + text)


def test_accept_new_from_ssh_config_records_a_hashed_entry(empty_env: ClientEnv) -> None:
    """StrictHostKeyChecking accept-new set per host in ssh_config; the system config's
    HashKnownHosts yes applies: the new line is hashed, ssh-keygen -F finds it and OpenSSH
    then trusts the host with StrictHostKeyChecking=yes."""
    add_block(empty_env, "StrictHostKeyChecking accept-new", "HashKnownHosts yes")
    proc = run_remoterepl([empty_env.user_alias, OK], env=empty_env.env, timeout=30)
    assert (proc.returncode, proc.stdout) == (0, b"HOST-OK\n"), proc.stderr
    assert "Permanently added" in proc.stderr.decode()
    text = empty_env.known_hosts_path.read_text()
    assert text.startswith("|1|") and len(text.splitlines()) == 1, text
    assert found_by_ssh_keygen(empty_env, empty_env.known_hosts_path)
    assert openssh_connects(empty_env, *STRICT)
    again = run_remoterepl([*STRICT, empty_env.user_alias, OK], env=empty_env.env, timeout=30)
    assert (again.returncode, again.stderr) == (0, b""), again.stderr


def test_accept_new_unhashed(empty_env: ClientEnv) -> None:
    """HashKnownHosts no: the line reads ``[127.0.0.1]:PORT ssh-ed25519 ...``."""
    proc = run_remoterepl(
        [
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            "HashKnownHosts=no",
            empty_env.user_alias,
            OK,
        ],
        env=empty_env.env,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert empty_env.known_hosts_path.read_text().split()[:3] == empty_env.host_key_line.split()[:3]


def test_strict_no_warns_and_connects(empty_env: ClientEnv) -> None:
    """StrictHostKeyChecking=no: a warning with the fingerprint, the session runs, nothing
    is recorded."""
    proc = run_remoterepl(
        ["-o", "StrictHostKeyChecking=no", empty_env.user_alias, OK], env=empty_env.env, timeout=30
    )
    assert (proc.returncode, proc.stdout) == (0, b"HOST-OK\n"), proc.stderr
    lines = stderr_lines(proc.stderr)
    assert len(lines) == 1 and "SHA256:" in lines[0] and "not verified" in lines[0], lines
    assert empty_env.known_hosts_path.read_text() == ""


def test_strict_yes_from_ssh_config_beats_the_default(empty_env: ClientEnv) -> None:
    """A per-host StrictHostKeyChecking yes in ssh_config: unknown host refused, 255."""
    add_block(empty_env, "StrictHostKeyChecking yes")
    proc = run_remoterepl([empty_env.user_alias, OK], env=empty_env.env, timeout=30)
    assert proc.returncode == 255
    assert "StrictHostKeyChecking is yes" in assert_one_line_error(proc.stderr)


@pytest.mark.parametrize("answer", ["yes", "fingerprint"])
def test_ask_accepted_on_the_terminal(
    empty_env: ClientEnv, embedded_sshd: EmbeddedSshd, answer: str
) -> None:
    """ask (the default) on a terminal: ssh's question with the SHA256 fingerprint;
    "yes" (or the fingerprint itself) connects and records the key."""
    fingerprint = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(embedded_sshd.host_key.public)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    with spawn_remoterepl([empty_env.user_alias, OK], empty_env.env, cols=120) as term:
        screen = term.wait_for_screen("Are you sure you want to continue connecting")
        assert f"The authenticity of host '{host_name(empty_env)}' can't be established." in screen
        assert f"ED25519 key fingerprint is {fingerprint}." in screen
        term.sendline("yes" if answer == "yes" else fingerprint)
        term.wait_for_screen("HOST-OK")
        assert term.wait_exit() == 0
    assert found_by_ssh_keygen(empty_env, empty_env.known_hosts_path)


def test_ask_refused_on_the_terminal(empty_env: ClientEnv) -> None:
    """Answering "no" (after one unclear answer): 255, nothing recorded, nothing run."""
    with spawn_remoterepl([empty_env.user_alias, OK], empty_env.env, cols=120) as term:
        term.wait_for_screen("Are you sure you want to continue connecting")
        term.sendline("maybe")
        term.wait_for_screen("Please type 'yes', 'no' or the fingerprint:")
        term.sendline("no")
        status = term.wait_exit()
        screen = term.screen_text()
    assert status == 255
    assert "verification failed" in screen and "HOST-OK" not in screen
    assert empty_env.known_hosts_path.read_text() == ""


def test_changed_key_names_file_and_line(
    embedded_sshd: EmbeddedSshd, embedded_env_factory: ClientEnvFactory, tmp_path: Path
) -> None:
    """A hashed entry with another ED25519 key on line 3: refused, FILE:3 named, even with
    StrictHostKeyChecking=accept-new (with "no", see test_secrets_e2e.py)."""
    impostor = generate_key(tmp_path / "impostor")
    other = generate_key(tmp_path / "other")
    lines = [
        f"[127.0.0.1]:1 {other.public_line}",
        "# a comment",
        f"[127.0.0.1]:{embedded_sshd.port} {impostor.public_line}",
    ]
    env = embedded_env_factory(embedded_sshd, known_hosts_lines=lines)
    subprocess.run(
        ["ssh-keygen", "-q", "-H", "-f", str(env.known_hosts_path)], check=True, capture_output=True
    )
    proc = run_remoterepl(
        ["-o", "StrictHostKeyChecking=accept-new", env.user_alias, OK], env=env.env, timeout=30
    )
    assert proc.returncode == 255, proc.stderr
    line = assert_one_line_error(proc.stderr)
    assert f"{env.known_hosts_path}:3" in line and "CHANGED" in line, line
    assert not openssh_connects(env, *STRICT)


def test_revoked_key(embedded_env: ClientEnv) -> None:
    """An @revoked line for the server's key wins over the line that trusts it."""
    path = embedded_env.known_hosts_path
    revoked = f"@revoked {embedded_env.host_key_line}"
    path.write_text(path.read_text() + revoked + "\n")
    proc = run_remoterepl([embedded_env.user_alias, OK], env=embedded_env.env, timeout=30)
    assert proc.returncode == 255, proc.stderr
    line = assert_one_line_error(proc.stderr)
    assert "REVOKED" in line and f"{path}:2" in line, line


def test_other_key_type_known_is_new_not_changed(
    embedded_sshd: EmbeddedSshd, embedded_env_factory: ClientEnvFactory, tmp_path: Path
) -> None:
    """known_hosts holds only an RSA key for the host, the server offers ED25519: that is a
    new key type (as in OpenSSH), not a changed key; accept-new records it."""
    rsa: KeyPair = generate_key(tmp_path / "rsa", key_type="rsa")
    rsa_line = f"[127.0.0.1]:{embedded_sshd.port} {rsa.public_line}"
    env = embedded_env_factory(embedded_sshd, known_hosts_lines=[rsa_line])
    refused = run_remoterepl([*STRICT, env.user_alias, OK], env=env.env, timeout=30)
    assert refused.returncode == 255
    assert "unknown" in assert_one_line_error(refused.stderr)
    accepted = run_remoterepl(
        ["-o", "StrictHostKeyChecking=accept-new", env.user_alias, OK], env=env.env, timeout=30
    )
    assert (accepted.returncode, accepted.stdout) == (0, b"HOST-OK\n"), accepted.stderr
    assert len(env.known_hosts_path.read_text().splitlines()) == 2


def test_host_key_alias(
    embedded_sshd: EmbeddedSshd, embedded_env_factory: ClientEnvFactory
) -> None:
    """HostKeyAlias names the entry to look for (no port decoration), as in OpenSSH."""
    env = embedded_env_factory(
        embedded_sshd, known_hosts_lines=[f"lab-box {embedded_sshd.host_key.public_line}"]
    )
    proc = run_remoterepl(
        [*STRICT, "-o", "HostKeyAlias=lab-box", env.user_alias, OK], env=env.env, timeout=30
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"HOST-OK\n", b"")
