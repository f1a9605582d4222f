"""compose/: what can be checked without a Docker engine.

* docker-compose.yml: the topology (entrance published on 127.0.0.1 only, internal on an
  internal network only, built from a Debian slim image with openssh-server and bc, no
  baked-in secrets); ``docker compose config`` / ``docker-compose config`` when installed.
* The shell scripts: ``shellcheck`` when installed, and -- the real test -- the container
  entry point run natively: it creates the client key, fresh host keys, and starts an sshd
  that remoterepl then logs in to with the ssh_config that client-config.sh prints.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from tests.client import run_remoterepl
from tests.client_env import TestUsers, client_environment
from tests.sshd import require_sshd
from tests.system import free_port, require_root

COMPOSE = Path(__file__).resolve().parent.parent / "compose"
SCRIPTS = [COMPOSE / "entrypoint.sh", COMPOSE / "client-config.sh"]


@pytest.fixture(scope="module")
def compose() -> dict[str, object]:
    """docker-compose.yml, parsed."""
    loaded = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def service(compose: dict[str, object], name: str) -> dict[str, object]:
    """One service, with the x-sshd anchor merged in."""
    services = compose["services"]
    assert isinstance(services, dict) and name in services, services
    found = services[name]
    assert isinstance(found, dict)
    return found


def test_topology(compose: dict[str, object]) -> None:
    """entrance: published on loopback only, on both networks; internal: no ports, on the
    internal network only; both start after the one-shot key service."""
    entrance, internal = service(compose, "entrance"), service(compose, "internal")
    ports = entrance["ports"]
    assert isinstance(ports, list) and ports
    assert all(str(p).startswith("127.0.0.1:") for p in ports), ports
    assert "ports" not in internal
    networks_of_entrance = entrance["networks"]
    assert isinstance(networks_of_entrance, list)
    assert sorted(networks_of_entrance) == ["inside", "outside"]
    assert internal["networks"] == ["inside"]
    networks = compose["networks"]
    assert isinstance(networks, dict) and networks["inside"] == {"internal": True}
    for server in (entrance, internal):
        assert server["depends_on"] == {"keys": {"condition": "service_completed_successfully"}}
    assert service(compose, "keys")["command"] == ["keys"]


def test_image_is_debian_slim_with_openssh_and_bc() -> None:
    """A maintained Debian slim base; openssh-server and bc installed; no host keys kept."""
    dockerfile = (COMPOSE / "Dockerfile").read_text()
    froms = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert len(froms) == 1 and froms[0].startswith("debian:") and froms[0].endswith("-slim")
    assert "openssh-server" in dockerfile and " bc" in dockerfile
    assert "rm -f /etc/ssh/ssh_host_*" in dockerfile


def test_no_secrets_baked_in() -> None:
    """No password is set anywhere, and no key material is shipped in compose/."""
    for path in [COMPOSE / "Dockerfile", COMPOSE / "docker-compose.yml", *SCRIPTS]:
        text = path.read_text()
        assert "chpasswd" not in text and "PASSWORD=" not in text.upper(), path
        assert "PRIVATE KEY" not in text, path
    shipped = sorted(p.name for p in (COMPOSE / "keys").iterdir())
    assert set(shipped) <= {
        ".gitignore",
        "id_ed25519",
        "id_ed25519.pub",
        "known_hosts",
        "ssh_config",
        "host-entrance.pub",
        "host-internal.pub",
    }


def test_docker_compose_accepts_the_file() -> None:
    """``docker compose config`` (v2 plugin) or ``docker-compose config`` validates it."""
    for argv in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(argv[0]) is None:
            continue
        probe = subprocess.run([*argv, "version"], capture_output=True)
        if probe.returncode != 0:
            continue
        proc = subprocess.run(
            [*argv, "-f", str(COMPOSE / "docker-compose.yml"), "config", "-q"],
            capture_output=True,
            text=True,
            cwd=COMPOSE,
        )
        assert proc.returncode == 0, proc.stderr
        return
    pytest.skip("neither 'docker compose' nor 'docker-compose' is installed")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck(script: Path) -> None:
    """The POSIX sh scripts pass shellcheck (skipped when it is not installed)."""
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    proc = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


# --------------------------------------------------------------------------- run natively


class NativeServer:
    """compose/entrypoint.sh, run on this machine with its paths pointed at a temp dir."""

    def __init__(self, base: Path, name: str, env: dict[str, str]) -> None:
        ssh_dir = base / f"ssh-{name}"
        ssh_dir.mkdir()
        config = ssh_dir / "sshd_config"
        # The image's drop-in, plus what a native run needs: no PAM, and files under /tmp
        # (world-writable, which StrictModes refuses).
        config.write_text((COMPOSE / "sshd_config").read_text() + "UsePAM no\nStrictModes no\n")
        self.port = free_port()
        self.log: list[str] = []
        self.ready = threading.Event()
        self.proc = subprocess.Popen(
            [str(COMPOSE / "entrypoint.sh"), "sshd", name],
            env={
                **env,
                "SSH_DIR": str(ssh_dir),
                "SSHD_CONFIG": str(config),
                "SSHD_PORT": str(self.port),
                "SSHD_LISTEN": "127.0.0.1",
                "AUTHORIZED_KEYS": str(base / f"authorized_keys-{name}"),
            },
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(20):
            self.stop()
            pytest.fail("entrypoint.sh sshd never listened:\n" + "\n".join(self.log))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            self.log.append(line)
            if f"Server listening on 127.0.0.1 port {self.port}" in line:
                self.ready.set()
        self.ready.set()

    def stop(self) -> None:
        """Stop sshd (and its sessions)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def native(test_users: TestUsers) -> Iterator[tuple[Path, dict[str, str], list[NativeServer]]]:
    """A world-readable temp dir (sshd reads authorized_keys as the login user), the
    environment for the scripts, and the servers started (stopped afterwards)."""
    require_sshd()
    require_root("the entry point runs sshd")
    base = Path(tempfile.mkdtemp(prefix="remoterepl-compose-"))
    base.chmod(0o755)
    keys = base / "keys"
    keys.mkdir()
    env = {**os.environ, "KEYS_DIR": str(keys), "LOGIN_USER": test_users.user}
    servers: list[NativeServer] = []
    try:
        yield base, env, servers
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_entrypoint_and_client_config_natively(
    native: tuple[Path, dict[str, str], list[NativeServer]], test_users: TestUsers
) -> None:
    """keys -> sshd (entrance, internal) -> client-config.sh -> remoterepl logs in to the
    entrance with StrictHostKeyChecking yes against the published host key, and bc runs.
    The generated config resolves rr-internal through rr-entrance (checked with ssh -G,
    which connects nowhere)."""
    base, env, servers = native
    keys = Path(env["KEYS_DIR"])
    made = subprocess.run(
        [str(COMPOSE / "entrypoint.sh"), "keys"], env=env, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    assert (keys / "id_ed25519").stat().st_mode & 0o077 == 0
    again = subprocess.run(
        [str(COMPOSE / "entrypoint.sh"), "keys"], env=env, capture_output=True, text=True
    )
    assert "exists" in again.stderr  # the key is made once, not replaced
    servers.append(NativeServer(base, "entrance", env))
    servers.append(NativeServer(base, "internal", env))
    assert {p.name for p in keys.iterdir()} >= {"host-entrance.pub", "host-internal.pub"}

    # The scripts sit in compose/; point client-config.sh at our keys through a copy.
    tools = base / "compose"
    tools.mkdir()
    shutil.copy(COMPOSE / "client-config.sh", tools / "client-config.sh")
    (tools / "keys").symlink_to(keys)
    port = str(servers[0].port)
    config = subprocess.run(
        [str(tools / "client-config.sh")],
        capture_output=True,
        text=True,
        env={**env, "RR_ENTRANCE_PORT": port},
    )
    assert config.returncode == 0, config.stderr
    config_file = base / "ssh_config"
    config_file.write_text(config.stdout)

    client_env = client_environment(base / "home")
    proc = run_remoterepl(
        ["-F", str(config_file), "-l", test_users.user, "rr-entrance", "bc"],
        input=b"6*7\n",
        env=client_env,
        timeout=60,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"42\n", b"")

    resolved = subprocess.run(
        ["ssh", "-G", "-F", str(config_file), "rr-internal"],
        capture_output=True,
        text=True,
        env=client_env,
    )
    assert resolved.returncode == 0, resolved.stderr
    settings = dict(line.split(" ", 1) for line in resolved.stdout.splitlines() if " " in line)
    assert settings["hostname"] == "internal" and settings["proxyjump"] == "rr-entrance"
    assert settings["stricthostkeychecking"] in ("true", "yes")
