"""A real OpenSSH ``sshd`` on loopback, its test users, and a real ``ssh-agent``.

Everything here listens on and connects to 127.0.0.1 only. An :class:`SshdServer` runs
``/usr/sbin/sshd -D -e -f CONFIG`` from its own temporary directory (generated host key,
PidFile, one shared ``AuthorizedKeysFile``) on a free port, and is ready once sshd says
"Server listening" on stderr. It needs root (to switch users and allocate PTYs), as do the
test users; tests that need it skip otherwise.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.client_env import TestUsers
from tests.keys import KeyPair
from tests.system import LOOPBACK, TestServer, free_port, kill_and_wait, require_root

SSHD = Path("/usr/sbin/sshd")

#: Non-root login used by most tests (OpenSSH delivers ``signal`` requests only for non-root).
TEST_USER = "rrtest"
#: A second non-root key login: "another user on the same host" (privacy tests).
OTHER_USER = "rrother"
#: Login that authenticates with a password (set with ``chpasswd`` once per test session).
PASSWORD_USER = "rrpass"

_READY_TIMEOUT = 20.0
_BIND_RETRIES = 8


def require_sshd() -> None:
    """Skip unless OpenSSH's server and client tools are installed."""
    missing = [p for p in (str(SSHD), "ssh", "ssh-keygen") if shutil.which(p) is None]
    if missing:
        pytest.skip(f"OpenSSH tools missing: {', '.join(missing)} (run scripts/bootstrap as root)")


def _user_exists(name: str) -> bool:
    return (
        subprocess.run(["id", "-u", name], capture_output=True, stdin=subprocess.DEVNULL).returncode
        == 0
    )


def _ensure_user(name: str) -> None:
    if not _user_exists(name):
        proc = subprocess.run(
            ["useradd", "-m", "-s", "/bin/bash", name],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        # A concurrent run may have created it in the meantime: only then is failure fine.
        if proc.returncode != 0 and not _user_exists(name):
            raise RuntimeError(f"useradd {name} failed: {proc.stderr.strip()}")


#: Root-only file holding the password user's password, shared by concurrent test runs.
PASSWORD_FILE = Path("/var/lib/remoterepl-tests/rrpass.password")


def _shared_password() -> str:
    """Return the password user's random password, creating it once per machine.

    Concurrent test runs must agree (each one sets it with ``chpasswd``), so it lives in a
    root-only file, created atomically: written to a temp file, then linked into place.
    """
    PASSWORD_FILE.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not PASSWORD_FILE.exists():
        fd, tmp = tempfile.mkstemp(dir=PASSWORD_FILE.parent)
        try:
            os.write(fd, ("rr-" + secrets.token_urlsafe(18)).encode())
            os.close(fd)
            with contextlib.suppress(FileExistsError):
                os.link(tmp, PASSWORD_FILE)
        finally:
            os.unlink(tmp)
    return PASSWORD_FILE.read_text().strip()


def ensure_test_users() -> TestUsers:
    """Create (if missing) and unlock the test logins; (re)set the password user's password.

    Needs root. ``usermod -p '*'`` unlocks a ``useradd`` account for key logins under
    ``UsePAM no`` (sshd refuses accounts whose hash starts with ``!``). The password is random
    per machine (see :data:`PASSWORD_FILE`), never a constant: the account is real.
    """
    require_root("creates the test users with useradd/usermod/chpasswd")
    for name in (TEST_USER, OTHER_USER):
        _ensure_user(name)
        subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True)
    _ensure_user(PASSWORD_USER)
    password = _shared_password()
    subprocess.run(
        ["chpasswd"],
        input=f"{PASSWORD_USER}:{password}\n",
        text=True,
        check=True,
        capture_output=True,
    )
    return TestUsers(
        user=TEST_USER,
        root="root",
        password_user=PASSWORD_USER,
        password=password,
        other=OTHER_USER,
    )


class SshdStartError(RuntimeError):
    """sshd exited or stayed silent before it was listening."""


class SshdServer(TestServer):
    """One ``/usr/sbin/sshd -D -e`` process on 127.0.0.1, with its config, keys and log.

    Use as a context manager or call :meth:`start` / :meth:`stop`. Every started server is
    recorded in :data:`SERVERS` so that test failures can show its log.
    """

    def __init__(
        self,
        host_key: KeyPair,
        authorized_keys: Sequence[str],
        extra_config: Sequence[str] = (),
        name: str = "sshd",
        command_prefix: Sequence[str] = (),
    ) -> None:
        """Prepare a server; nothing runs until :meth:`start`.

        *command_prefix* wraps the sshd command, e.g. ``["ip", "netns", "exec", NS]`` to
        run it inside a network namespace (it must ``exec`` sshd, keeping the pid).
        """
        self.name = name
        self.command_prefix = list(command_prefix)
        self.host_key = host_key
        self.authorized_keys = list(authorized_keys)
        self.extra_config = list(extra_config)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_lines: list[str] = []
        self._log_cond = threading.Condition()
        self._log_closed = False
        # World-traversable so that sshd can read AuthorizedKeysFile as a non-root user.
        self.dir = Path(tempfile.mkdtemp(prefix="remoterepl-sshd-"))
        self.dir.chmod(0o755)

    # -- paths -----------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        """sshd_config of this server."""
        return self.dir / "sshd_config"

    @property
    def pid_file(self) -> Path:
        """PidFile of this server."""
        return self.dir / "sshd.pid"

    @property
    def authorized_keys_path(self) -> Path:
        """The AuthorizedKeysFile shared by every user."""
        return self.dir / "authorized_keys"

    @property
    def host_key_line(self) -> str:
        """The known_hosts line for this server: ``[127.0.0.1]:PORT ssh-ed25519 AAAA...``."""
        return f"[{LOOPBACK}]:{self.port} {self.host_key.public_line}"

    def authorize(self, *public_lines: str) -> None:
        """Accept more client keys (``TYPE BASE64`` lines); sshd reads the file per login."""
        self.authorized_keys.extend(public_lines)
        if self.proc is not None:
            self.authorized_keys_path.write_text("".join(k + "\n" for k in self.authorized_keys))

    # -- config ----------------------------------------------------------------------------

    def config_text(self) -> str:
        """Return the sshd_config for the current port.

        ``extra_config`` comes first: sshd keeps the first value of a keyword, so those lines
        override the defaults below (a ``Match`` block there would swallow them: not supported).
        """
        lines = [
            *self.extra_config,
            f"Port {self.port}",
            f"ListenAddress {LOOPBACK}",
            f"HostKey {self.host_key.private}",
            f"PidFile {self.pid_file}",
            f"AuthorizedKeysFile {self.authorized_keys_path}",
            "UsePAM no",
            "StrictModes no",
            "MaxStartups 100:30:200",
            "PubkeyAuthentication yes",
            "PasswordAuthentication yes",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin yes",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
            "AcceptEnv LANG LC_*",
        ]
        return "\n".join(lines) + "\n"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = _READY_TIMEOUT) -> SshdServer:
        """Start sshd on a free port and return once it logs "Server listening".

        A port taken between choosing and binding makes sshd exit with "Address already in
        use": then another port is tried.
        """
        require_sshd()
        require_root("sshd must run as root to switch users and allocate PTYs")
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege-separation dir
        self.authorized_keys_path.write_text("".join(k + "\n" for k in self.authorized_keys))
        self.authorized_keys_path.chmod(0o644)
        if self not in SERVERS:
            SERVERS.append(self)
        for _attempt in range(_BIND_RETRIES):
            self.port = free_port()
            self.config_path.write_text(self.config_text())
            self._log(f"--- starting {SSHD} -D -e -f {self.config_path} (port {self.port})")
            mark = len(self.log_lines)
            self._spawn()
            outcome = self._wait_ready(mark, timeout)
            if outcome == "ready":
                return self
            self._reap()
            if outcome != "in-use":
                raise SshdStartError(
                    f"sshd did not start ({outcome}):\n" + "\n".join(self.log_lines[mark:])
                )
        raise SshdStartError(f"sshd found no free port in {_BIND_RETRIES} attempts")

    def _spawn(self) -> None:
        self._log_closed = False
        self.proc = subprocess.Popen(
            [*self.command_prefix, str(SSHD), "-D", "-e", "-f", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        threading.Thread(
            target=self._read_log, args=(self.proc,), name=f"{self.name}-log", daemon=True
        ).start()

    def _read_log(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            self._log(raw.decode("utf-8", "replace").rstrip("\r\n"))
        with self._log_cond:
            if proc is self.proc:
                self._log_closed = True
            self._log_cond.notify_all()

    def _log(self, line: str) -> None:
        with self._log_cond:
            self.log_lines.append(line)
            self._log_cond.notify_all()

    def _wait_ready(self, mark: int, timeout: float) -> str:
        ready = f"Server listening on {LOOPBACK} port {self.port}"
        deadline = time.monotonic() + timeout
        with self._log_cond:
            while True:
                recent = self.log_lines[mark:]
                if any(ready in line for line in recent):
                    return "ready"
                if self._log_closed:
                    in_use = any("Address already in use" in line for line in recent)
                    return "in-use" if in_use else "sshd exited"
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return f"no 'Server listening' within {timeout:.0f}s"
                self._log_cond.wait(remaining)

    def wait_for_log(self, pattern: str, timeout: float = 10.0, since: int = 0) -> str:
        """Wait until a log line (from index *since*) matches regex *pattern*; return it."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._log_cond:
            while True:
                for line in self.log_lines[since:]:
                    if regex.search(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"sshd log never matched {pattern!r}:\n{self.log_text()}")
                self._log_cond.wait(remaining)

    def log_text(self, since: int = 0) -> str:
        """The captured sshd log from line *since* on."""
        with self._log_cond:
            return "\n".join(self.log_lines[since:])

    def stop(self) -> None:
        """Stop the listener and kill every session it spawned; keep the log."""
        if self.proc is None:
            return
        leftovers = self.session_pids()
        if self.proc.poll() is None:
            self.proc.terminate()
        kill_and_wait(leftovers)
        self._reap()

    def _reap(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


#: Every server started in this test process, for failure reports (see conftest.py).
SERVERS: list[SshdServer] = []


class SshAgent:
    """A real ``ssh-agent -D`` on a socket in its own temporary directory.

    ``env`` holds ``SSH_AUTH_SOCK`` for clients; :meth:`add` loads keys with ``ssh-add``.
    Ready as soon as it has printed its socket path (it binds before printing).
    """

    def __init__(self, directory: Path) -> None:
        """Start the agent with its socket at ``directory/agent.sock``."""
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        self.socket = directory / "agent.sock"
        self.proc = subprocess.Popen(
            ["ssh-agent", "-D", "-a", str(self.socket)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().decode("utf-8", "replace")
        if "SSH_AUTH_SOCK" not in first:
            self.stop()
            raise RuntimeError(f"ssh-agent did not start: {first!r}")

    @property
    def env(self) -> dict[str, str]:
        """Environment entries that point clients at this agent."""
        return {"SSH_AUTH_SOCK": str(self.socket)}

    def add(self, key: KeyPair) -> None:
        """Load *key* into the agent."""
        subprocess.run(
            ["ssh-add", "-q", str(key.private)],
            env={**os.environ, **self.env},
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        """Stop the agent."""
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


#: ``sshd_factory(extra_config=(), host_key=None) -> SshdServer`` (fixture in conftest.py).
SshdFactory = Callable[..., SshdServer]
