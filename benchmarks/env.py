"""The benchmark's world: one loopback OpenSSH sshd, the non-root test login, a client HOME.

Built from the test suite's helpers (``tests/sshd.py``), so benchmarks and tests run against
the same kind of server. Both clients, ``remoterepl`` and OpenSSH's ``ssh``, use the same
client HOME: its ``~/.ssh/config`` names the alias :attr:`BenchEnv.host`, the key, the port
and a known_hosts file that trusts the server. Nothing but 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.client_env import ClientEnv, make_client_env
from tests.keys import generate_key
from tests.sshd import SSHD, SshdServer, ensure_test_users

REPO = Path(__file__).resolve().parent.parent


class BenchSetupError(RuntimeError):
    """The benchmark cannot run here (not root, OpenSSH missing, remoterepl not installed)."""


def remoterepl_executable() -> Path:
    """The installed console script next to the running interpreter (as users run it)."""
    path = Path(sys.executable).parent / "remoterepl"
    if not path.exists():
        raise BenchSetupError(f"{path} is not installed: run scripts/bootstrap")
    return path


def check_prerequisites() -> None:
    """Fail early, in one line, where the benchmark cannot run."""
    if os.geteuid() != 0:
        raise BenchSetupError("run as root: sshd must run as root (the login is non-root)")
    missing = [p for p in (str(SSHD), "ssh", "ssh-keygen", "useradd", "bc") if not shutil.which(p)]
    if missing:
        raise BenchSetupError(f"missing tools: {', '.join(missing)} (run scripts/bootstrap)")


def raise_open_files_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit, for the harness and everything it starts
    (sshd and the clients): a 500-host fleet holds a socket per host, clush pipes per ssh."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass(frozen=True)
class BenchEnv:
    """A running sshd and the client side both contenders use."""

    server: SshdServer
    client: ClientEnv
    workdir: Path
    remoterepl_exe: Path

    @property
    def host(self) -> str:
        """ssh_config alias of the non-root login (``rrtest``) on the benchmark sshd."""
        return self.client.user_alias

    @property
    def env(self) -> dict[str, str]:
        """Environment for client processes: isolated HOME, no agent, C.UTF-8 locale."""
        env = dict(self.client.env)
        env.setdefault("LANG", "C.UTF-8")
        env.pop("NO_COLOR", None)
        return env

    def remoterepl(self, *args: str) -> list[str]:
        """argv of ``remoterepl -F CONFIG [args]``: put options, HOST and command in args."""
        return [str(self.remoterepl_exe), "-F", str(self.client.config_path), *args]

    def ssh(self, *args: str) -> list[str]:
        """argv of ``ssh -F CONFIG [args]`` (ssh finds ``~`` through passwd, not $HOME,
        so both clients are given the config file explicitly)."""
        return ["ssh", "-F", str(self.client.config_path), *args]


@contextmanager
def bench_env(remoterepl_exe: Path | None = None) -> Iterator[BenchEnv]:
    """Start sshd on a free 127.0.0.1 port and write the client HOME; clean up after.

    *remoterepl_exe* replaces the installed console script (to compare a candidate change)."""
    check_prerequisites()
    exe = remoterepl_exe or remoterepl_executable()
    if not os.access(exe, os.X_OK):
        raise BenchSetupError(f"{exe} is not an executable")
    users = ensure_test_users()
    raise_open_files_limit()
    workdir = Path(tempfile.mkdtemp(prefix="remoterepl-bench-"))
    try:
        keys = workdir / "keys"
        host_key = generate_key(keys / "ssh_host_ed25519_key", "remoterepl-bench-host")
        client_key = generate_key(keys / "id_ed25519", "remoterepl-bench-client")
        bad_key = generate_key(keys / "id_ed25519_bad", "remoterepl-bench-unused")
        server = SshdServer(
            host_key=host_key,
            authorized_keys=[client_key.public.read_text().strip()],
            # MaxSessions: the memory probe opens many sessions on one connection;
            # MaxStartups: the fleet benchmark sets up 64 connections at once (the default
            # 10:30:100 drops them), and holds 500.
            extra_config=["LogLevel INFO", "MaxSessions 100", "MaxStartups 1000:30:1000"],
            name="sshd-bench",
        )
        with server:
            client = make_client_env(
                workdir / "client",
                kind="sshd",
                port=server.port,
                host_key_line=server.host_key_line,
                client_key=client_key,
                bad_key=bad_key,
                users=users,
            )
            yield BenchEnv(server=server, client=client, workdir=workdir, remoterepl_exe=exe)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
