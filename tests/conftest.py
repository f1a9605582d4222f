"""Shared fixtures: test servers on loopback (the embedded asyncssh server, and a real
OpenSSH sshd where OpenSSH's own behaviour matters), their users and keys, and isolated
client HOMEs.

The embedded server needs neither root nor OpenSSH's server: most tests use it.

* ``embedded_sshd`` (session) / ``embedded_factory`` (function): embedded servers.
* ``embedded_env`` / ``embedded_env_factory`` (function): client HOMEs for them.
* ``test_users`` (session): rrtest / root / rrpass (+ its password). Skips unless root.
* ``ssh_keys`` (session): host key, accepted client key, rejected ("bad") client key.
* ``sshd`` (session) / ``sshd_factory`` (function): real sshds.
* ``client_env`` / ``client_env_factory`` (function): client HOMEs for the real sshds.
* ``silent_listener`` (function): a loopback port that accepts and never speaks.
* ``login`` (function, parametrized): the embedded server's user, and root on a real sshd
  (OpenSSH ignores signal requests for root logins: the case that needs the other routes).

When a test fails, the sshd log lines written during it are attached to the report.
"""

from __future__ import annotations

import getpass
import secrets
import socket
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path

import pytest

from tests.client_env import ClientEnv, ClientEnvFactory, Login, TestUsers, make_client_env
from tests.embedded_sshd import EmbeddedFactory, EmbeddedSshd
from tests.fleet_hosts import fleet_env_fixture  # noqa: F401 (a fixture, found here)
from tests.keys import ClientKeys, KeyPair, SshKeys, generate_key, make_key
from tests.sshd import SERVERS, SshdFactory, SshdServer, ensure_test_users, require_sshd
from tests.system import TestServer, require_root

_log_marks = pytest.StashKey[dict[int, int]]()

# --------------------------------------------------------------------------- embedded server


@pytest.fixture(scope="session")
def embedded_keys(tmp_path_factory: pytest.TempPathFactory) -> ClientKeys:
    """Client keys for the embedded servers, made with asyncssh (no OpenSSH needed); the
    servers make their own host keys."""
    base = tmp_path_factory.mktemp("embedded-keys")
    return ClientKeys(
        client=make_key(base / "id_ed25519", "remoterepl-test-client"),
        bad_client=make_key(base / "id_ed25519_bad", "remoterepl-test-not-authorized"),
    )


@pytest.fixture(scope="session")
def embedded_users() -> TestUsers:
    """Everyone logs in as the user running the tests (the server runs sessions as them)."""
    me = getpass.getuser()
    return TestUsers(user=me, root=me, password_user=me, password=secrets.token_urlsafe(18))


def _new_embedded(keys: ClientKeys, users: TestUsers) -> EmbeddedSshd:
    return EmbeddedSshd(keys.client, password=users.password)


@pytest.fixture(scope="session")
def embedded_sshd(embedded_keys: ClientKeys, embedded_users: TestUsers) -> Iterator[EmbeddedSshd]:
    """One embedded server shared by the whole run."""
    with _new_embedded(embedded_keys, embedded_users) as server:
        yield server


@pytest.fixture
def embedded_factory(
    embedded_keys: ClientKeys, embedded_users: TestUsers
) -> Iterator[EmbeddedFactory]:
    """Start dedicated embedded servers (for tests that stop or kill them)."""
    started: list[EmbeddedSshd] = []

    def start() -> EmbeddedSshd:
        server = _new_embedded(embedded_keys, embedded_users)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.cleanup()


def _env_factory(base: Path, kind: str, keys: ClientKeys, users: TestUsers) -> ClientEnvFactory:
    """``make(server, known_hosts_lines=None)``: a client HOME under *base* for *server*.

    ``known_hosts_lines=None`` trusts *server*'s host key; ``[]`` leaves known_hosts empty;
    any other list is written as is (e.g. a different key for the same ``[host]:port``).
    """
    count = 0

    def make(server: TestServer, known_hosts_lines: Sequence[str] | None = None) -> ClientEnv:
        nonlocal count
        count += 1
        return make_client_env(
            base / f"{kind}-client{count}",
            kind=kind,
            port=server.port,
            host_key_line=server.host_key_line,
            client_key=keys.client,
            bad_key=keys.bad_client,
            users=users,
            known_hosts_lines=known_hosts_lines,
        )

    return make


@pytest.fixture
def embedded_env_factory(
    tmp_path: Path, embedded_keys: ClientKeys, embedded_users: TestUsers
) -> ClientEnvFactory:
    """Make client HOMEs for embedded servers (see :func:`_env_factory`)."""
    return _env_factory(tmp_path, "embedded", embedded_keys, embedded_users)


@pytest.fixture
def embedded_env(embedded_sshd: EmbeddedSshd, embedded_env_factory: ClientEnvFactory) -> ClientEnv:
    """A fresh client HOME that trusts and reaches the shared embedded server."""
    return embedded_env_factory(embedded_sshd)


# --------------------------------------------------------------------------- OpenSSH sshd


@pytest.fixture(scope="session")
def test_users() -> TestUsers:
    """The test logins (created/unlocked as needed); skips the test unless root."""
    require_sshd()
    require_root("creates test users and runs sshd")
    return ensure_test_users()


@pytest.fixture(scope="session")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> SshKeys:
    """Generate the host key and the accepted and rejected client keys once per run."""
    require_sshd()
    base = tmp_path_factory.mktemp("keys")
    return SshKeys(
        host=generate_key(base / "ssh_host_ed25519_key", "remoterepl-test-host"),
        client=generate_key(base / "id_ed25519", "remoterepl-test-client"),
        bad_client=generate_key(base / "id_ed25519_bad", "remoterepl-test-not-authorized"),
    )


def _new_server(keys: SshKeys, extra_config: Sequence[str], name: str) -> SshdServer:
    return SshdServer(
        host_key=keys.host,
        authorized_keys=[keys.client.public.read_text().strip()],
        extra_config=extra_config,
        name=name,
    )


@pytest.fixture(scope="session")
def sshd(test_users: TestUsers, ssh_keys: SshKeys) -> Iterator[SshdServer]:
    """One real sshd on 127.0.0.1 shared by the whole run."""
    server = _new_server(ssh_keys, (), "sshd-shared")
    with server:
        yield server


@pytest.fixture
def sshd_factory(test_users: TestUsers, ssh_keys: SshKeys) -> Iterator[SshdFactory]:
    """Start dedicated sshds: ``sshd_factory(extra_config=[...], host_key=KeyPair)``.

    Each shares the run's host key unless *host_key* is given; all are stopped (with their
    sessions) after the test.
    """
    started: list[SshdServer] = []

    def start(extra_config: Sequence[str] = (), host_key: KeyPair | None = None) -> SshdServer:
        keys = (
            ssh_keys
            if host_key is None
            else SshKeys(host=host_key, client=ssh_keys.client, bad_client=ssh_keys.bad_client)
        )
        server = _new_server(keys, extra_config, f"sshd-dedicated-{len(started) + 1}")
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.cleanup()


@pytest.fixture
def client_env_factory(
    tmp_path: Path, test_users: TestUsers, ssh_keys: SshKeys
) -> ClientEnvFactory:
    """Make client HOMEs for real sshds (see :func:`_env_factory`)."""
    return _env_factory(tmp_path, "sshd", ssh_keys, test_users)


@pytest.fixture
def client_env(sshd: SshdServer, client_env_factory: ClientEnvFactory) -> ClientEnv:
    """A fresh client HOME that trusts and reaches the shared sshd."""
    return client_env_factory(sshd)


# --------------------------------------------------------------------------- both


@pytest.fixture(params=["embedded", "openssh-root"])
def login(request: pytest.FixtureRequest) -> Login:
    """The embedded server's user, then root on a real sshd (skipped without root)."""
    if request.param == "embedded":
        env: ClientEnv = request.getfixturevalue("embedded_env")
        return Login(env, env.user_alias)
    env = request.getfixturevalue("client_env")
    return Login(env, env.root_alias)


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A loopback port whose listener accepts connections (the kernel completes the
    handshake) but never says a word: no SSH banner ever arrives."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


# --------------------------------------------------------------------------- sshd logs


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Remember where each running server's log stood when the test started."""
    item.stash[_log_marks] = {id(s): len(s.log_lines) for s in SERVERS}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the sshd log lines written during a failed test to its report."""
    report = yield
    if report.failed:
        marks = item.stash.get(_log_marks, {})
        for server in SERVERS:
            lines = server.log_lines[marks.get(id(server), 0) :]
            if lines:
                report.sections.append(
                    (f"{server.name} log (port {server.port})", "\n".join(lines))
                )
    return report


@pytest.fixture
def client_home(embedded_env: ClientEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[ClientEnv]:
    """Run in-process with the client env's HOME/XDG and no agent."""
    for name in list(embedded_env.env):
        monkeypatch.setenv(name, embedded_env.env[name])
    for name in ("SSH_AUTH_SOCK", "SSH_AGENT_PID"):
        monkeypatch.delenv(name, raising=False)
    yield embedded_env
