"""Jump hosts end to end: an ``internal`` sshd the client cannot reach, behind an
``entrance`` it can (tests/jumpnet.py: a network namespace on its own loopback).

-J and ssh_config ProxyJump (also a hop that has a ProxyJump of its own), each hop with its
own user, key, known_hosts and StrictHostKeyChecking; ProxyCommand; failures that name the
hop; "ask" for a hop's host key on a terminal.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.client import assert_one_line_error, run_remoterepl, spawn_remoterepl
from tests.client_env import TestUsers, client_environment
from tests.jumpnet import JumpNetwork, start_jump_network
from tests.keys import KeyPair, generate_key
from tests.system import LOOPBACK, free_port, require_root

#: Shows where the command ran (network namespace) and as whom.
PROBE = "echo ns=$(readlink /proc/self/ns/net) user=$(id -un)"


@dataclass(frozen=True)
class JumpKeys:
    """Host keys of both sshds and the one client key each accepts."""

    entrance_host: KeyPair
    internal_host: KeyPair
    entrance_client: KeyPair
    internal_client: KeyPair


@pytest.fixture(scope="module")
def jump_keys(tmp_path_factory: pytest.TempPathFactory) -> JumpKeys:
    """Fresh, distinct keys for the topology."""
    base = tmp_path_factory.mktemp("jump-keys")
    return JumpKeys(
        *(
            generate_key(base / name, name)
            for name in ("entrance_host", "internal_host", "entrance_client", "internal_client")
        )
    )


@pytest.fixture(scope="module")
def network(test_users: TestUsers, jump_keys: JumpKeys) -> Iterator[JumpNetwork]:
    """The entrance/internal topology, shared by this module's tests."""
    require_root("ip netns")
    if shutil.which("socat") is None or shutil.which("ip") is None:
        pytest.skip("socat and iproute2 are needed (scripts/bootstrap installs them)")
    net = start_jump_network(
        jump_keys.entrance_host,
        jump_keys.internal_host,
        [jump_keys.entrance_client.public_line],
        [jump_keys.internal_client.public_line],
    )
    try:
        yield net
    finally:
        net.close()


@dataclass(frozen=True)
class JumpClient:
    """A client HOME whose ssh_config describes the topology."""

    env: dict[str, str]
    home: Path
    config: Path
    entrance_known: Path
    internal_known: Path
    inside: str  # ``net:[INODE]`` of the namespace
    outside: str  # ``net:[INODE]`` of the host


def _config_text(
    net: JumpNetwork, keys: JumpKeys, entrance_known: Path, internal_known: Path, config: Path
) -> str:
    common = ["PasswordAuthentication no", "KbdInteractiveAuthentication no", "IdentitiesOnly yes"]
    entrance = [
        f"HostName {LOOPBACK}",
        f"Port {net.entrance_port}",
        "User rrtest",
        f"IdentityFile {keys.entrance_client.private}",
        f"UserKnownHostsFile {entrance_known}",
        "StrictHostKeyChecking yes",
        *common,
    ]
    internal = [
        f"HostName {LOOPBACK}",
        f"Port {net.internal_port}",
        "User root",
        f"IdentityFile {keys.internal_client.private}",
        f"UserKnownHostsFile {internal_known}",
        "StrictHostKeyChecking accept-new",
        *common,
    ]
    blocks = {
        "entrance": entrance,
        "entrance-ask": [
            *entrance[:4],
            f"UserKnownHostsFile {entrance_known}.ask",
            "StrictHostKeyChecking ask",
            *common,
        ],
        "entrance-badkey": [
            *entrance[:3],
            f"IdentityFile {keys.internal_client.private}",
            *entrance[4:],
        ],
        "internal": ["ProxyJump entrance", *internal],
        "internal-direct": internal,
        # rrtest on the internal host, reached through the internal host (as root)
        "internal-again": [
            "ProxyJump internal",
            f"HostName {LOOPBACK}",
            f"Port {net.internal_port}",
            "User rrtest",
            f"IdentityFile {keys.internal_client.private}",
            f"UserKnownHostsFile {internal_known}",
            "StrictHostKeyChecking accept-new",
            *common,
        ],
        "internal-cmd": [
            f"ProxyCommand ssh -F {config} -o BatchMode=yes -W %h:%p entrance",
            *internal,
        ],
        "internal-via-ask": ["ProxyJump entrance-ask", *internal],
    }
    return "".join(
        f"Host {name}\n" + "".join(f"    {line}\n" for line in lines) + "\n"
        for name, lines in blocks.items()
    )


@pytest.fixture
def client(network: JumpNetwork, jump_keys: JumpKeys, tmp_path: Path) -> JumpClient:
    """Per test: known_hosts that trust the entrance only; internal is learnt (accept-new)."""
    home = tmp_path / "home"
    env = client_environment(home)
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    entrance_known = tmp_path / "known_entrance"
    entrance_known.write_text(network.entrance_known_host() + "\n")
    internal_known = tmp_path / "known_internal"
    internal_known.write_text("")
    config = ssh_dir / "config"
    config.write_text(_config_text(network, jump_keys, entrance_known, internal_known, config))
    outside = Path("/proc/self/ns/net").readlink().as_posix()
    return JumpClient(
        env, home, config, entrance_known, internal_known, network.netns.inode(), outside
    )


def probe_output(proc: subprocess.CompletedProcess[bytes]) -> str:
    """The PROBE line, after checking the run succeeded."""
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode().strip()


def accepted(server_log: str, user: str) -> int:
    """How many times sshd logged a successful login of *user*."""
    return sum(f"Accepted publickey for {user} " in line for line in server_log.splitlines())


def test_internal_host_is_unreachable_directly(client: JumpClient) -> None:
    """Without a jump host the internal sshd cannot be reached: refused, 255."""
    proc = run_remoterepl(["internal-direct", PROBE], env=client.env, timeout=30)
    assert proc.returncode == 255
    assert "refused" in assert_one_line_error(proc.stderr).lower()


def test_jump_option(client: JumpClient, network: JumpNetwork) -> None:
    """-J entrance: the command runs inside the namespace, as the internal host's user;
    the internal host key is learnt into ITS known_hosts (accept-new), the entrance's
    file is untouched."""
    mark = len(network.entrance.log_lines)
    proc = run_remoterepl(["-J", "entrance", "internal-direct", PROBE], env=client.env, timeout=60)
    assert probe_output(proc) == f"ns={client.inside} user=root"
    assert client.inside != client.outside
    assert network.internal.host_key.public_line.split()[1] in client.internal_known.read_text()
    assert client.entrance_known.read_text() == network.entrance_known_host() + "\n"
    assert accepted(network.entrance.log_text(mark), "rrtest") == 1


def test_proxyjump_from_ssh_config_with_per_hop_settings(
    client: JumpClient, network: JumpNetwork, jump_keys: JumpKeys
) -> None:
    """ProxyJump in ssh_config: each hop logs in with its own user and key (each sshd
    accepts only its own), checks its own known_hosts with its own policy."""
    marks = len(network.entrance.log_lines), len(network.internal.log_lines)
    proc = run_remoterepl(["internal", PROBE], env=client.env, timeout=60)
    assert probe_output(proc) == f"ns={client.inside} user=root"
    entrance_log = network.entrance.log_text(marks[0])
    internal_log = network.internal.log_text(marks[1])
    assert accepted(entrance_log, "rrtest") == 1 and accepted(internal_log, "root") == 1
    fingerprint = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(jump_keys.entrance_client.public)],
        capture_output=True,
        text=True,
    ).stdout.split()[1]
    assert fingerprint in entrance_log
    assert "Permanently added" in proc.stderr.decode()
    again = run_remoterepl(["internal", PROBE], env=client.env, timeout=60)
    assert (again.returncode, again.stderr) == (0, b""), again.stderr


def test_hop_with_its_own_proxyjump(client: JumpClient, network: JumpNetwork) -> None:
    """internal-again jumps through internal, which jumps through entrance: three hops,
    two logins on the internal sshd (root for the hop, rrtest for the destination)."""
    mark = len(network.internal.log_lines)
    proc = run_remoterepl(["-v", "internal-again", PROBE], env=client.env, timeout=60)
    assert probe_output(proc) == f"ns={client.inside} user=rrtest"
    log = network.internal.log_text(mark)
    assert accepted(log, "root") == 1 and accepted(log, "rrtest") == 1
    assert "route: internal-again -> internal -> entrance" not in proc.stderr.decode()
    assert "route: entrance -> internal -> internal-again" in proc.stderr.decode()


def test_jump_spec_with_user_and_port(
    client: JumpClient, network: JumpNetwork, jump_keys: JumpKeys
) -> None:
    """-J user@host:port with no Host block: the hop uses ssh's defaults (~/.ssh/id_*,
    ~/.ssh/known_hosts); the destination is given on the command line too."""
    ssh_dir = client.home / ".ssh"
    shutil.copy(jump_keys.entrance_client.private, ssh_dir / "id_ed25519")
    (ssh_dir / "known_hosts").write_text(network.entrance_known_host() + "\n")
    args = [
        "-J",
        f"rrtest@{LOOPBACK}:{network.entrance_port}",
        "-i",
        str(jump_keys.internal_client.private),
        "-o",
        f"UserKnownHostsFile={client.internal_known}",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-p",
        str(network.internal_port),
        f"root@{LOOPBACK}",
        PROBE,
    ]
    proc = run_remoterepl(args, env=client.env, timeout=60)
    assert probe_output(proc) == f"ns={client.inside} user=root"


def test_proxy_command(client: JumpClient) -> None:
    """ProxyCommand (here OpenSSH's ``ssh -W`` through the entrance) works too."""
    proc = run_remoterepl(["internal-cmd", PROBE], env=client.env, timeout=60)
    assert probe_output(proc) == f"ns={client.inside} user=root"


def test_proxy_command_from_the_command_line(client: JumpClient) -> None:
    """-o ProxyCommand with %h/%p: expanded with the HostName/Port that ssh_config gives
    the destination later (asyncssh alone would expand them too early)."""
    command = f"ssh -F {client.config} -o BatchMode=yes -W %h:%p entrance"
    proc = run_remoterepl(
        ["-o", f"ProxyCommand={command}", "internal-direct", PROBE], env=client.env, timeout=60
    )
    assert probe_output(proc) == f"ns={client.inside} user=root"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["-J", "entrance-badkey", "internal-direct"],
            ["jump host entrance-badkey", "permission denied"],
        ),
        (
            ["-J", "entrance", "-o", "Port=1", "internal-direct"],
            ["jump host entrance", "cannot connect to 127.0.0.1 port 1", "refused"],
        ),
        (
            ["-J", "rrtest@127.0.0.1:PORT_FREE", "internal-direct"],
            ["jump host rrtest@127.0.0.1:", "refused"],
        ),
    ],
    ids=["hop-auth", "hop-cannot-reach-next", "hop-unreachable"],
)
def test_failures_name_the_hop(client: JumpClient, args: list[str], words: list[str]) -> None:
    """Whatever fails along the route, the one line names the jump host concerned."""
    args = [a.replace("PORT_FREE", str(free_port())) for a in args]
    proc = run_remoterepl([*args, PROBE], env=client.env, timeout=60)
    assert proc.returncode == 255, proc.stderr
    line = assert_one_line_error(proc.stderr)
    for word in words:
        assert word.lower() in line.lower(), line


def test_command_line_options_do_not_apply_to_hops(client: JumpClient) -> None:
    """As in OpenSSH, -o applies to the destination only: StrictHostKeyChecking=no on the
    command line does not make the entrance (known_hosts emptied, policy yes) acceptable."""
    client.entrance_known.write_text("")
    proc = run_remoterepl(
        ["-o", "StrictHostKeyChecking=no", "internal", PROBE], env=client.env, timeout=60
    )
    assert proc.returncode == 255, proc.stderr
    line = assert_one_line_error(proc.stderr)
    assert "jump host entrance" in line and "unknown" in line, line


def test_hop_host_key_asked_on_the_terminal(client: JumpClient, network: JumpNetwork) -> None:
    """A jump host with StrictHostKeyChecking ask: the question is asked on the terminal
    for that hop; "yes" records it in the hop's own known_hosts and the route completes."""
    with spawn_remoterepl(["internal-via-ask", PROBE], client.env, cols=160) as term:
        screen = term.wait_for_screen("Are you sure you want to continue connecting")
        assert f"[127.0.0.1]:{network.entrance_port}" in screen
        term.sendline("yes")
        term.wait_for_screen(f"ns={client.inside} user=root", timeout=30)
        assert term.wait_exit(timeout=30) == 0
    ask_known = Path(f"{client.entrance_known}.ask")
    assert network.entrance.host_key.public_line.split()[1] in ask_known.read_text()


def test_proxyjump_loop_is_a_usage_error(client: JumpClient) -> None:
    """A hop whose ProxyJump leads back to itself: exit 2, one line, nothing connects."""
    with client.config.open("a") as config:
        config.write("Host loop-a\n    ProxyJump loop-b\nHost loop-b\n    ProxyJump loop-a\n")
    proc = run_remoterepl(["loop-a", PROBE], env=client.env, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert "ProxyJump loop" in assert_one_line_error(proc.stderr)
