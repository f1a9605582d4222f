"""The embedded SSH server, driven in-process by an asyncssh client on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import pwd
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from remoterepl.embedded import EmbeddedServer, start_server, write_client_files

pytestmark = pytest.mark.timeout(60)

USER = pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def client_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
async def server(client_key: asyncssh.SSHKey) -> AsyncIterator[EmbeddedServer]:
    async with await start_server([client_key]) as srv:
        yield srv


@contextlib.asynccontextmanager
async def connect(
    server: EmbeddedServer, **options: Any
) -> AsyncIterator[asyncssh.SSHClientConnection]:
    """Connect without ~/.ssh, an agent or a config; trust only the server's own key."""
    settings: dict[str, Any] = {
        "username": USER,
        "known_hosts": asyncssh.import_known_hosts(server.known_hosts_line()),
        "agent_path": None,
        "config": None,
        "client_keys": None,
        "password": None,
        "preferred_auth": "publickey,password",
    }
    settings.update(options)
    async with asyncssh.connect(server.host, server.port, **settings) as conn:
        yield conn


def text(output: str | bytes | None) -> str:
    """Output of a str-mode process (asyncssh types it loosely)."""
    assert isinstance(output, str)
    return output


# --- authentication ---------------------------------------------------------------------


async def test_key_auth_runs_command(server: EmbeddedServer, client_key: asyncssh.SSHKey) -> None:
    assert server.host == "127.0.0.1" and server.port > 0
    async with connect(server, client_keys=[client_key]) as conn:
        result = await conn.run("echo hello")
    assert result.stdout == "hello\n"
    assert result.exit_status == 0


async def test_wrong_key_is_refused(server: EmbeddedServer) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(server, client_keys=[stranger]):
            pass


async def test_other_user_is_refused(server: EmbeddedServer, client_key: asyncssh.SSHKey) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(server, username=USER + "-not", client_keys=[client_key]):
            pass


async def test_authorized_keys_file(tmp_path: Path, client_key: asyncssh.SSHKey) -> None:
    line = client_key.export_public_key().decode()
    (tmp_path / "authorized_keys").write_text(f'# test\nfrom="127.0.0.1" {line}')
    async with (
        await start_server(tmp_path / "authorized_keys") as srv,
        connect(srv, client_keys=[client_key]) as conn,
    ):
        assert (await conn.run("echo ok")).stdout == "ok\n"


async def test_password_auth() -> None:
    async with await start_server(password="s3cret") as srv:
        async with connect(srv, password="s3cret") as conn:
            assert (await conn.run("echo ok")).stdout == "ok\n"
        with pytest.raises(asyncssh.PermissionDenied):
            async with connect(srv, password="wrong"):
                pass


async def test_host_key_kept_in_directory(tmp_path: Path, client_key: asyncssh.SSHKey) -> None:
    async with await start_server([client_key], host_key_dir=tmp_path) as first:
        key = first.host_key_openssh
    async with await start_server([client_key], host_key_dir=tmp_path) as second:
        assert second.host_key_openssh == key
    assert (tmp_path / "ssh_host_ed25519_key").stat().st_mode & 0o077 == 0


# --- commands, exit status, streams -------------------------------------------------------


async def test_output_stderr_and_exit_status(
    server: EmbeddedServer, client_key: asyncssh.SSHKey
) -> None:
    async with connect(server, client_keys=[client_key]) as conn:
        result = await conn.run("echo out; echo err >&2; exit 7")
    assert (result.stdout, result.stderr, result.exit_status) == ("out\n", "err\n", 7)


async def test_exit_signal_of_killed_child(
    server: EmbeddedServer, client_key: asyncssh.SSHKey
) -> None:
    async with connect(server, client_keys=[client_key]) as conn:
        result = await conn.run("kill -TERM $$")
    assert result.exit_signal is not None
    assert result.exit_signal[0] == "TERM"
    assert result.returncode == -15


async def test_all_output_arrives_before_exit_status(
    server: EmbeddedServer, client_key: asyncssh.SSHKey
) -> None:
    async with connect(server, client_keys=[client_key]) as conn:
        result = await conn.run("head -c 3000000 /dev/zero; exit 4", encoding=None)
    assert isinstance(result.stdout, bytes)
    assert len(result.stdout) == 3_000_000
    assert result.exit_status == 4


class _OrderRecorder(asyncssh.SSHClientSession[bytes]):
    """Counts stdout bytes and notes how many had arrived when the exit status came."""

    def __init__(self) -> None:
        self.received = 0
        self.at_exit_status: int | None = None

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self.received += len(data)

    def exit_status_received(self, status: int) -> None:
        self.at_exit_status = self.received


@pytest.mark.parametrize("term_type", [None, "dumb"])
async def test_exit_status_comes_after_the_last_byte(
    server: EmbeddedServer, client_key: asyncssh.SSHKey, term_type: str | None
) -> None:
    # A small receive window keeps the server's send buffer non-empty when the child
    # exits, which is when an early exit-status would overtake the last bytes.
    size = 1_000_000
    recorder = _OrderRecorder()
    async with connect(server, client_keys=[client_key]) as conn:
        chan, _ = await conn.create_session(
            lambda: recorder,
            f"head -c {size} /dev/zero; exit 9",
            encoding=None,
            term_type=term_type,
            window=16384,
            max_pktsize=4096,
        )
        await chan.wait_closed()
    assert recorder.at_exit_status == size
    assert chan.get_exit_status() == 9


async def test_binary_round_trip(server: EmbeddedServer, client_key: asyncssh.SSHKey) -> None:
    data = bytes(range(256)) * 1024 + os.urandom(8 * 1024 * 1024)
    async with connect(server, client_keys=[client_key]) as conn:
        proc = await conn.create_process("cat", encoding=None)

        async def feed() -> None:
            proc.stdin.write(data)
            await proc.stdin.drain()
            proc.stdin.write_eof()

        feeder = asyncio.create_task(feed())
        received = await proc.stdout.read()
        await feeder
        result = await proc.wait()
    assert hashlib.sha256(received).digest() == hashlib.sha256(data).digest()
    assert result.exit_status == 0


async def test_env_request_and_no_term_without_pty(
    server: EmbeddedServer, client_key: asyncssh.SSHKey
) -> None:
    async with connect(server, client_keys=[client_key]) as conn:
        result = await conn.run(
            'echo "$FOO ${SSH_CONNECTION%% *}"; printenv TERM || echo no-term', env={"FOO": "bar"}
        )
    assert result.stdout == "bar 127.0.0.1\nno-term\n"


async def test_login_shell_without_command(
    server: EmbeddedServer, client_key: asyncssh.SSHKey
) -> None:
    async with connect(server, client_keys=[client_key]) as conn:
        result = await conn.run(input='echo "shell=$0"\nexit 6\n')
    assert text(result.stdout).splitlines()[-1].startswith("shell=-")  # a login shell
    assert result.exit_status == 6


async def test_unstartable_shell_reports_127(client_key: asyncssh.SSHKey) -> None:
    async with (
        await start_server([client_key], shell="/nonexistent/shell") as srv,
        connect(srv, client_keys=[client_key]) as conn,
    ):
        result = await conn.run("true")
    assert result.exit_status == 127
    assert "cannot run /nonexistent/shell" in text(result.stderr)


# --- pty ----------------------------------------------------------------------------------


async def test_pty_tty_size_and_term(server: EmbeddedServer, client_key: asyncssh.SSHKey) -> None:
    async with connect(server, client_keys=[client_key]) as conn:
        result = await conn.run(
            'tty; stty size; echo "$TERM"', term_type="xterm-256color", term_size=(100, 30)
        )
    tty, size, term = text(result.stdout).split("\r\n")[:3]
    assert tty.startswith("/dev/pts/")
    assert size == "30 100"
    assert term == "xterm-256color"
    assert result.exit_status == 0


async def test_pty_resize(server: EmbeddedServer, client_key: asyncssh.SSHKey) -> None:
    async with connect(server, client_keys=[client_key]) as conn:
        proc = await conn.create_process(
            "read go; stty size",
            term_type="xterm",
            term_size=(80, 24),
            term_modes={asyncssh.PTY_ECHO: 0},
        )
        proc.change_terminal_size(132, 43)
        proc.stdin.write("go\n")  # ordered after the window-change request
        result = await proc.wait()
    assert result.stdout == "43 132\r\n"


@pytest.mark.parametrize(("echo", "expected"), [(0, "abc\r\n"), (1, "abc\r\nabc\r\n")])
async def test_pty_echo_mode(
    server: EmbeddedServer, client_key: asyncssh.SSHKey, echo: int, expected: str
) -> None:
    async with connect(server, client_keys=[client_key]) as conn:
        proc = await conn.create_process(
            "cat", term_type="dumb", term_modes={asyncssh.PTY_ECHO: echo}
        )
        proc.stdin.write("abc\n\x04")  # with a pty, ^D at line start is the EOF
        result = await proc.wait()
    assert result.stdout == expected
    assert result.exit_status == 0


async def test_pty_modes_reach_termios(server: EmbeddedServer, client_key: asyncssh.SSHKey) -> None:
    modes = {asyncssh.PTY_ECHO: 0, asyncssh.PTY_ICANON: 0, asyncssh.PTY_VINTR: 1}
    async with connect(server, client_keys=[client_key]) as conn:
        result = await conn.run("stty -a", term_type="dumb", term_modes=modes)
    words = text(result.stdout).replace(";", " ").split()
    assert "-echo" in words
    assert "-icanon" in words
    assert "intr = ^A" in " ".join(words)


async def test_pty_output_flushed_before_exit(
    server: EmbeddedServer, client_key: asyncssh.SSHKey
) -> None:
    async with connect(server, client_keys=[client_key]) as conn:
        result = await conn.run("head -c 300000 /dev/zero | tr '\\0' x; exit 5", term_type="dumb")
    assert text(result.stdout).count("x") == 300_000
    assert result.exit_status == 5


# --- signals ------------------------------------------------------------------------------

TRAP_SCRIPT = "trap 'echo got; exit 3' USR1; echo ready; read line; echo \"line=$line\""


@pytest.mark.parametrize(
    ("ignore_signals", "expected"), [(False, ("got\n", 3)), (True, ("line=x\n", 0))]
)
async def test_signal_request(
    client_key: asyncssh.SSHKey, ignore_signals: bool, expected: tuple[str, int]
) -> None:
    async with (
        await start_server([client_key], ignore_signals=ignore_signals) as srv,
        connect(srv, client_keys=[client_key]) as conn,
    ):
        proc = await conn.create_process(TRAP_SCRIPT)
        assert await proc.stdout.readline() == "ready\n"
        proc.send_signal("USR1")
        proc.stdin.write("x\n")  # reaches the child after the signal request was handled
        result = await proc.wait()
    assert (result.stdout, result.exit_status) == expected


async def test_signal_reaches_process_group(
    server: EmbeddedServer, client_key: asyncssh.SSHKey
) -> None:
    # "ready" comes from the background job itself, once it runs with default dispositions.
    # The shell dies of USR1; the session can only end once the job, which holds the
    # output pipe, has died too: that needs the signal sent to the whole process group.
    async with connect(server, client_keys=[client_key]) as conn:
        proc = await conn.create_process("sh -c 'echo ready; exec sleep 1000' & wait")
        assert await proc.stdout.readline() == "ready\n"
        proc.send_signal("USR1")
        result = await asyncio.wait_for(proc.wait(), 20)  # a bound, not a synchronisation
    assert result.exit_signal is not None
    assert result.exit_signal[0] == "USR1"
    assert result.stdout == ""


# --- life cycle ---------------------------------------------------------------------------


async def test_close_hangs_up_running_sessions(client_key: asyncssh.SSHKey) -> None:
    srv = await start_server([client_key])
    async with connect(srv, client_keys=[client_key]) as conn:
        proc = await conn.create_process("echo $$; exec sleep 1000")
        pid = int(await proc.stdout.readline())
        srv.close()
        await srv.wait_closed()
        await conn.wait_closed()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_tcp_forwarding_only_when_allowed(client_key: asyncssh.SSHKey) -> None:
    async with (
        await start_server([client_key], allow_tcp_forwarding=True) as jump,
        await start_server([client_key]) as target,
        connect(jump, client_keys=[client_key]) as hop,
        connect(target, client_keys=[client_key], tunnel=hop) as conn,
    ):
        assert (await conn.run("echo via-jump")).stdout == "via-jump\n"
    async with (
        await start_server([client_key]) as closed,
        connect(closed, client_keys=[client_key]) as hop,
    ):
        with pytest.raises(asyncssh.ChannelOpenError):
            await hop.open_connection(closed.host, closed.port)


def test_client_files(tmp_path: Path, client_key: asyncssh.SSHKey) -> None:
    class FakeServer:
        host, port = "127.0.0.1", 2222
        host_key_openssh = "ssh-ed25519 AAAA"

        def known_hosts_line(self) -> str:
            return f"[127.0.0.1]:2222 {self.host_key_openssh}"

    files = write_client_files(tmp_path, FakeServer(), client_key)  # type: ignore[arg-type]
    config = files.config.read_text()
    assert "Host embedded\n" in config
    assert "Port 2222\n" in config
    assert f"IdentityFile {files.identity}\n" in config
    assert files.known_hosts.read_text() == "[127.0.0.1]:2222 ssh-ed25519 AAAA\n"
    assert files.identity.stat().st_mode & 0o077 == 0


# --- what tests and the demo rely on beyond a session -----------------------------------


async def test_sftp_subsystem(server: EmbeddedServer, client_key: asyncssh.SSHKey) -> None:
    """SFTP through the system's sftp-server (skipped where OpenSSH's is not installed)."""
    from remoterepl.embedded.server import _find_sftp_server

    if _find_sftp_server() is None:
        pytest.skip("no OpenSSH sftp-server on this machine")
    async with (
        connect(server, client_keys=[client_key]) as conn,
        conn.start_sftp_client() as sftp,
    ):
        assert await sftp.realpath(".") == os.path.realpath(os.environ["HOME"])
        assert "etc" in await sftp.listdir("/")


async def test_authorized_keys_file_is_read_per_connection(
    tmp_path: Path, client_key: asyncssh.SSHKey
) -> None:
    """A key added to the authorized_keys file works at the next login, as with sshd."""
    other = asyncssh.generate_private_key("ssh-ed25519")
    keys = tmp_path / "authorized_keys"
    keys.write_text(client_key.export_public_key().decode())
    async with await start_server(str(keys)) as srv:
        with pytest.raises(asyncssh.PermissionDenied):
            async with connect(srv, client_keys=[other]):
                pass
        with keys.open("a") as file:
            file.write(other.export_public_key().decode())
        async with connect(srv, client_keys=[other]) as conn:
            assert (await conn.run("echo in", check=True)).stdout == "in\n"


async def test_a_home_that_does_not_exist(
    client_key: asyncssh.SSHKey, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """HOME names no directory: the session still starts, in /, with sshd's note."""
    monkeypatch.setenv("HOME", str(tmp_path / "gone"))
    async with (
        await start_server([client_key]) as srv,
        connect(srv, client_keys=[client_key]) as conn,
    ):
        result = await conn.run("pwd; echo $HOME")
    assert result.exit_status == 0
    assert result.stdout == f"/\n{tmp_path / 'gone'}\n"
    assert f"Could not chdir to home directory {tmp_path / 'gone'}" in text(result.stderr)
