"""A real OpenSSH ``sshd`` on loopback, its test users, and isolated client environments.

Everything here listens on and connects to 127.0.0.1 only. An :class:`SshdServer` runs
``/usr/sbin/sshd -D -e -f CONFIG`` from its own temporary directory (generated host key,
PidFile, one shared ``AuthorizedKeysFile``) on a free port, and is ready once sshd says
"Server listening" on stderr. A :class:`ClientEnv` is a throwaway HOME (``~/.ssh/config``,
``~/.ssh/known_hosts``, XDG directories) plus the environment that client processes run with,
so that no test depends on the real ``~/.ssh`` or on an agent.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")
LOOPBACK = "127.0.0.1"

#: Non-root login used by most tests (OpenSSH delivers ``signal`` requests only for non-root).
TEST_USER = "rrtest"
#: Login that authenticates with a password (set with ``chpasswd`` once per test session).
PASSWORD_USER = "rrpass"

#: ssh_config aliases written into every :class:`ClientEnv`.
USER_ALIAS = "user-sshd"
ROOT_ALIAS = "root-sshd"
PASSWORD_ALIAS = "pass-sshd"
BADKEY_ALIAS = "badkey-sshd"

_READY_TIMEOUT = 20.0
_BIND_RETRIES = 8


# --------------------------------------------------------------------------- privileges


def is_root() -> bool:
    """Return True when the test process runs as root."""
    return os.geteuid() == 0


def require_root(what: str) -> None:
    """Skip the calling test (or fixture) unless running as root; *what* says why root is needed."""
    if not is_root():
        pytest.skip(f"needs root: {what} (run the suite as root, as CI does)")


def require_sshd() -> None:
    """Skip unless OpenSSH's server and client tools are installed."""
    missing = [p for p in (str(SSHD), "ssh", "ssh-keygen") if shutil.which(p) is None]
    if missing:
        pytest.skip(f"OpenSSH tools missing: {', '.join(missing)} (run scripts/bootstrap as root)")


# --------------------------------------------------------------------------- keys and ports


@dataclass(frozen=True)
class KeyPair:
    """An OpenSSH key pair on disk, without passphrase."""

    private: Path

    @property
    def public(self) -> Path:
        """Path of the ``.pub`` file."""
        return self.private.with_name(self.private.name + ".pub")

    @property
    def public_line(self) -> str:
        """``TYPE BASE64`` of the public key (no comment)."""
        kind, blob = self.public.read_text().split()[:2]
        return f"{kind} {blob}"


def generate_key(
    path: Path, comment: str = "remoterepl-test", passphrase: str = "", key_type: str = "ed25519"
) -> KeyPair:
    """Generate a key pair at *path* (mode 0600) with ``ssh-keygen``: ed25519 without
    passphrase unless *key_type* / *passphrase* say otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, path.with_name(path.name + ".pub")):
        stale.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", key_type, "-N", passphrase, "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    return KeyPair(path)


def free_port() -> int:
    """Return a loopback TCP port that was free a moment ago (callers must tolerate a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- users


@dataclass(frozen=True)
class TestUsers:
    """Login names available on the test sshd, and the password of the password user."""

    __test__ = False  # not a pytest test class

    user: str = TEST_USER
    root: str = "root"
    password_user: str = PASSWORD_USER
    password: str = ""


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
    _ensure_user(TEST_USER)
    subprocess.run(["usermod", "-p", "*", TEST_USER], check=True, capture_output=True)
    _ensure_user(PASSWORD_USER)
    password = _shared_password()
    subprocess.run(
        ["chpasswd"],
        input=f"{PASSWORD_USER}:{password}\n",
        text=True,
        check=True,
        capture_output=True,
    )
    return TestUsers(password=password)


# --------------------------------------------------------------------------- processes


def _ppid_map() -> dict[int, int]:
    """Map pid -> parent pid for every process visible in /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: parse after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(pid: int) -> list[int]:
    """Return the pids of every live descendant of *pid* (children first, then theirs)."""
    children: dict[int, list[int]] = {}
    for child, parent in _ppid_map().items():
        children.setdefault(parent, []).append(child)
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


def process_exists(pid: int) -> bool:
    """Return True while *pid* names a process that is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


def kill_quietly(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    """Send *sig* to each pid, ignoring processes that are already gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


# --------------------------------------------------------------------------- sshd


class SshdStartError(RuntimeError):
    """sshd exited or stayed silent before it was listening."""


class SshdServer:
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
    def pid(self) -> int:
        """pid of the listening sshd."""
        assert self.proc is not None, "sshd not started"
        return self.proc.pid

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

    def session_pids(self) -> list[int]:
        """pids of every process below the listener (per-connection sshd and user processes)."""
        return descendants(self.pid) if self.proc is not None else []

    def stop(self) -> None:
        """Stop the listener and kill every session it spawned; keep the log."""
        if self.proc is None:
            return
        leftovers = self.session_pids()
        if self.proc.poll() is None:
            self.proc.terminate()
        kill_quietly(leftovers)
        self._reap()

    def _reap(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def cleanup(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> SshdServer:
        """Start the server."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop the server and remove its files."""
        self.cleanup()


@dataclass(frozen=True)
class SshKeys:
    """Keys shared by the whole run: the servers' host key and the two client keys."""

    host: KeyPair
    client: KeyPair
    bad_client: KeyPair


#: Every server started in this test process, for failure reports (see conftest.py).
SERVERS: list[SshdServer] = []


# --------------------------------------------------------------------------- client side


@dataclass(frozen=True)
class ClientEnv:
    """An isolated client HOME for one sshd, and the environment to run clients with.

    ``env`` is ``os.environ`` without ``SSH_AUTH_SOCK`` (no agent), with HOME and the XDG
    directories inside ``home``. ``~/.ssh/config`` (= ``config_path``) defines the aliases
    ``user_alias`` (rrtest), ``root_alias`` (root), ``password_alias`` (rrpass, password
    only) and ``badkey_alias`` (rrtest with a key sshd does not accept, no password auth).
    """

    home: Path
    env: dict[str, str]
    config_path: Path
    known_hosts_path: Path
    key_path: Path
    bad_key_path: Path
    port: int
    host_key_line: str
    users: TestUsers
    host: str = LOOPBACK
    user_alias: str = USER_ALIAS
    root_alias: str = ROOT_ALIAS
    password_alias: str = PASSWORD_ALIAS
    badkey_alias: str = BADKEY_ALIAS
    aliases: tuple[str, ...] = field(default=(USER_ALIAS, ROOT_ALIAS, PASSWORD_ALIAS, BADKEY_ALIAS))

    @property
    def password(self) -> str:
        """Password of ``password_alias``'s user."""
        return self.users.password

    def login(self, which: str) -> str:
        """The alias named by attribute *which* (``"user_alias"``, ``"root_alias"``, ...),
        for tests parametrized over logins."""
        return str(getattr(self, which))

    def ssh_args(self, *args: str) -> list[str]:
        """Return an OpenSSH ``ssh`` command line using this config, non-interactively."""
        return ["ssh", "-F", str(self.config_path), "-o", "BatchMode=yes", *args]


def ssh_config_text(
    port: int, key: Path, bad_key: Path, known_hosts: Path, users: TestUsers
) -> str:
    """Return the client ssh_config with the test aliases (absolute paths only)."""
    # IdentityFile accumulates across matching blocks, so each alias names its own key and
    # the shared block has none.
    return f"""\
# Generated by tests/sshd.py for one test: everything points at a loopback sshd.
Host {USER_ALIAS}
    User {users.user}
    IdentityFile {key}

Host {ROOT_ALIAS}
    User {users.root}
    IdentityFile {key}

Host {PASSWORD_ALIAS}
    User {users.password_user}
    PubkeyAuthentication no
    PreferredAuthentications password

Host {BADKEY_ALIAS}
    User {users.user}
    IdentityFile {bad_key}
    PasswordAuthentication no
    KbdInteractiveAuthentication no

Host {USER_ALIAS} {ROOT_ALIAS} {PASSWORD_ALIAS} {BADKEY_ALIAS}
    HostName {LOOPBACK}
    Port {port}
    IdentitiesOnly yes
    UserKnownHostsFile {known_hosts}
"""


def client_environment(home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return *base* (default ``os.environ``) without the agent, with HOME/XDG under *home*."""
    env = dict(os.environ if base is None else base)
    for var in ("SSH_AUTH_SOCK", "SSH_AGENT_PID", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE"):
        env.pop(var, None)
    env["HOME"] = str(home)
    for var, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CACHE_HOME", ".cache"),
    ):
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    return env


def make_client_env(
    root: Path,
    *,
    port: int,
    host_key_line: str,
    client_key: KeyPair,
    bad_key: KeyPair,
    users: TestUsers,
    known_hosts_lines: Sequence[str] | None = None,
) -> ClientEnv:
    """Write a client HOME under *root* for the sshd on *port*.

    ``known_hosts_lines`` replaces the default known_hosts content (the server's own line):
    pass ``[]`` for an unknown host, or another key's line for a changed host key.
    """
    home = root / "home"
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    ssh_dir.chmod(0o700)
    known_hosts = ssh_dir / "known_hosts"
    lines = [host_key_line] if known_hosts_lines is None else list(known_hosts_lines)
    known_hosts.write_text("".join(line + "\n" for line in lines))
    config = ssh_dir / "config"
    config.write_text(
        ssh_config_text(port, client_key.private, bad_key.private, known_hosts, users)
    )
    config.chmod(0o600)
    return ClientEnv(
        home=home,
        env=client_environment(home),
        config_path=config,
        known_hosts_path=known_hosts,
        key_path=client_key.private,
        bad_key_path=bad_key.private,
        port=port,
        host_key_line=host_key_line,
        users=users,
    )


# --------------------------------------------------------------------------- no-network runs


def private_netns_command(argv: Sequence[str]) -> list[str]:
    """Wrap *argv* to run in a fresh network namespace holding only a loopback interface.

    Nothing run this way can reach any address but its own loopback: a DNS lookup fails
    locally ("network unreachable") instead of querying the machine's resolver. The wrapper
    exits 99 if the namespace has any interface other than ``lo``. Needs root (``unshare``).
    """
    check = (
        "if [ \"$(ip -o link show | grep -cv ': lo:')\" != 0 ]; then "
        'echo "netns has non-loopback interfaces" >&2; exit 99; fi; '
        'ip link set lo up; exec "$@"'
    )
    return ["unshare", "--net", "--", "sh", "-c", check, "sh", *argv]


# --------------------------------------------------------------------------- ssh-agent


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
#: ``client_env_factory(server, known_hosts_lines=None) -> ClientEnv`` (fixture in conftest.py).
ClientEnvFactory = Callable[..., ClientEnv]
