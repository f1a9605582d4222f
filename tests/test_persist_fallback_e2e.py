"""--persist on a host without python3: a terminal session under tmux (the host's
multiplexer), reattached after the client died; one clear line where nothing can hold it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client import assert_one_line_error, run_remoterepl, spawn_remoterepl
from tests.client_env import ClientEnv, ClientEnvFactory
from tests.embedded_sshd import EmbeddedFactory

# What a host without python3 still has; tmux is left out where a test wants nothing.
_PROGRAMS = ("sh", "bash", "mkdir", "chmod", "bc", "env", "cat", "sleep", "stty")


def _host_without_python(
    embedded_factory: EmbeddedFactory,
    embedded_env_factory: ClientEnvFactory,
    bin_dir: Path,
    programs: tuple[str, ...],
) -> ClientEnv:
    bin_dir.mkdir()
    for program in programs:
        found = shutil.which(program)
        if found is not None:
            (bin_dir / program).symlink_to(found)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", str(bin_dir))  # the server's sessions get this PATH
        server = embedded_factory()
    return embedded_env_factory(server)


@pytest.fixture
def tmux_host(
    embedded_factory: EmbeddedFactory, embedded_env_factory: ClientEnvFactory, tmp_path: Path
) -> Iterator[ClientEnv]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (scripts/bootstrap installs it)")
    env = _host_without_python(
        embedded_factory, embedded_env_factory, tmp_path / "bin", (*_PROGRAMS, "tmux")
    )
    yield env
    # The tmux server the session left (by design): its socket is in the remote HOME.
    for socket in Path(tmp_path).glob("**/remoterepl/tmux.sock"):
        subprocess.run(["tmux", "-S", str(socket), "kill-server"], capture_output=True)


def test_a_tmux_session_outlives_the_client_and_keeps_its_state(tmux_host: ClientEnv) -> None:
    args = ["--persist", "calc", tmux_host.user_alias, "bc -q"]
    with spawn_remoterepl(args, env=tmux_host.env) as term:
        term.wait_for_screen("runs under tmux")
        term.sendline("x = 6 * 7")
        term.sendline("x + 0")
        term.wait_for_screen("42")
        os.kill(term.child.pid, signal.SIGKILL)
    with spawn_remoterepl(args, env=tmux_host.env) as term:
        term.sendline("x + 1")
        term.wait_for_screen("43")  # the same bc: x survived the client
        term.sendline("quit")
        assert term.wait_exit(20) == 0


def test_pipe_mode_without_python_is_one_clear_line(tmux_host: ClientEnv) -> None:
    result = run_remoterepl(["--persist", "p", tmux_host.user_alias, "cat"], env=tmux_host.env)
    assert result.returncode == 255
    assert "python3" in assert_one_line_error(result.stderr)


def test_no_python_and_no_multiplexer_is_one_clear_line(
    embedded_factory: EmbeddedFactory, embedded_env_factory: ClientEnvFactory, tmp_path: Path
) -> None:
    env = _host_without_python(embedded_factory, embedded_env_factory, tmp_path / "bin", _PROGRAMS)
    with spawn_remoterepl(["--persist", "x", env.user_alias, "bc -q"], env=env.env) as term:
        assert term.wait_exit(20) == 255
        assert "python3" in term.screen_text() and "tmux" in term.screen_text()
