"""The app run in-process with an injected environment (pipes for stdin/stdout/stderr, a
StringIO console) against the in-process embedded server: how a session ends, as the
outcome the cli turns into an exit status, and what the console says."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from remoterepl import app
from remoterepl.cli import exit_status, parse_args
from remoterepl.embedded import EmbeddedServer, start_server, write_client_files
from remoterepl.environment import Console, Environment
from remoterepl.errors import UsageError
from remoterepl.outcome import ReaderGone, RemoteExited, RemoteKilled

pytestmark = pytest.mark.timeout(60)


@dataclass
class Pipes:
    """The far ends of the run's stdin, stdout and stderr, and the environment using them."""

    stdin: int  # we write here
    stdout: int  # and read these
    stderr: int
    env: Environment
    console: io.StringIO
    open_fds: set[int]

    def close(self, fd: int) -> None:
        """Close one of the six pipe ends now (the teardown skips it then: a number closed
        twice may meanwhile belong to someone else)."""
        self.open_fds.discard(fd)
        os.close(fd)

    def read_all(self, fd: int) -> bytes:
        """Everything written to ``fd``'s pipe (the run has ended)."""
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.fixture
def pipes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipes]:
    """An Environment whose standard streams are fresh pipes, not ours."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    console = io.StringIO()
    env = Environment(console=Console(console), stdin=in_r, stdout=out_w, stderr=err_w)
    made = Pipes(in_w, out_r, err_r, env, console, {in_r, in_w, out_r, out_w, err_r, err_w})
    try:
        yield made
    finally:
        for fd in made.open_fds:
            os.close(fd)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedServer, Path]]:
    """An in-process embedded server and the ssh_config that reaches it (alias embedded)."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    async with await start_server([key], shell="/bin/sh") as running:
        files = write_client_files(tmp_path, running, key)
        yield running, files.config


async def test_pipe_mode_streams_and_reports_the_exit(
    pipes: Pipes, server: tuple[EmbeddedServer, Path]
) -> None:
    """stdin reaches the remote, stdout and stderr come back apart, the exit is an outcome."""
    _running, config = server
    settings = parse_args(["-F", str(config), "embedded", "cat; echo err >&2; exit 3"])
    os.write(pipes.stdin, b"through the pipe\n")
    pipes.close(pipes.stdin)
    outcome = await app.run(settings, pipes.env)
    pipes.close(pipes.env.stdout)
    pipes.close(pipes.env.stderr)
    assert outcome == RemoteExited(3)
    assert exit_status(outcome) == 3
    assert pipes.read_all(pipes.stdout) == b"through the pipe\n"
    assert pipes.read_all(pipes.stderr) == b"err\n"
    assert pipes.console.getvalue() == ""


async def test_a_remote_killed_by_a_signal_is_said_on_the_console(
    pipes: Pipes, server: tuple[EmbeddedServer, Path]
) -> None:
    """Killed by SIGTERM: RemoteKilled, 128+15, and one note of ours."""
    _running, config = server
    pipes.close(pipes.stdin)
    outcome = await app.run(parse_args(["-F", str(config), "embedded", "kill -TERM $$"]), pipes.env)
    assert outcome == RemoteKilled("TERM")
    assert exit_status(outcome) == 143
    assert pipes.console.getvalue() == "remoterepl: remote process killed by SIGTERM\n"


async def test_quiet_keeps_notes_off_the_console(
    pipes: Pipes, server: tuple[EmbeddedServer, Path]
) -> None:
    """With -q the same run says nothing (the status still tells)."""
    _running, config = server
    pipes.close(pipes.stdin)
    quiet = Environment(
        console=Console(pipes.console, quiet=True),
        stdin=pipes.env.stdin,
        stdout=pipes.env.stdout,
        stderr=pipes.env.stderr,
    )
    outcome = await app.run(parse_args(["-q", "-F", str(config), "embedded", "kill $$"]), quiet)
    assert exit_status(outcome) == 143
    assert pipes.console.getvalue() == ""


async def test_the_reader_leaving_is_reader_gone(
    pipes: Pipes, server: tuple[EmbeddedServer, Path]
) -> None:
    """Our stdout's reader closes its end mid-stream: ReaderGone, exit status 141."""
    _running, config = server
    pipes.close(pipes.stdout)  # nobody reads our output any more
    settings = parse_args(["-F", str(config), "embedded", "while :; do echo y; done"])
    outcome = await asyncio.wait_for(app.run(settings, pipes.env), 30)
    assert outcome == ReaderGone()
    assert exit_status(outcome) == 141


async def test_raw_needs_a_terminal(pipes: Pipes, server: tuple[EmbeddedServer, Path]) -> None:
    """--raw in an environment without a terminal: a usage error before connecting."""
    _running, config = server
    with pytest.raises(UsageError, match="--raw needs a terminal"):
        await app.run(parse_args(["--raw", "-F", str(config), "embedded"]), pipes.env)
