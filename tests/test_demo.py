"""``remoterepl-demo`` (behind ``scripts/demo``): the real client against a private embedded
server, as a newcomer runs it, also without a HOME directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from remoterepl.arguments import build_parser
from remoterepl.embedded.demo import LONG_VALUE_OPTIONS, split_client_args
from tests.client_env import client_environment

DEMO = Path(sys.executable).parent / "remoterepl-demo"


def run_demo(
    args: list[str], env: dict[str, str], data: bytes
) -> subprocess.CompletedProcess[bytes]:
    """Run the installed remoterepl-demo with ``data`` piped in."""
    return subprocess.run([str(DEMO), *args], input=data, capture_output=True, env=env, timeout=60)


@pytest.fixture
def bc() -> None:
    """The demo's default command is bc."""
    if shutil.which("bc") is None:
        pytest.skip("bc is not installed (scripts/bootstrap installs it)")


def test_demo_pipes_into_remote_bc(bc: None, tmp_path: Path) -> None:
    """``printf '6*7\\n' | scripts/demo bc``: 42, status 0, and the one line the demo says."""
    proc = run_demo(["bc"], client_environment(tmp_path / "home"), b"6*7\n")
    assert (proc.returncode, proc.stdout) == (0, b"42\n"), proc.stderr
    assert proc.stderr.decode().startswith("remoterepl-demo: embedded SSH server on 127.0.0.1:")


def test_demo_without_a_home_directory(bc: None, tmp_path: Path) -> None:
    """HOME names nothing (a fresh container, a service account): the session still runs,
    with sshd's note about it."""
    env = client_environment(tmp_path / "home")
    env["HOME"] = str(tmp_path / "does-not-exist")
    proc = run_demo(["-q", "bc"], env, b"2^10\n")
    assert (proc.returncode, proc.stdout) == (0, b"1024\n"), proc.stderr
    assert b"Could not chdir to home directory" in proc.stderr


def test_demo_passes_the_exit_status_on(tmp_path: Path) -> None:
    """The demo exits with the client's status (here the remote command's)."""
    proc = run_demo(["exit 7"], client_environment(tmp_path / "home"), b"")
    assert proc.returncode == 7, proc.stderr


@pytest.mark.parametrize(
    ("args", "options", "command"),
    [
        (["--raw", "bash", "-l"], ["--raw"], ["bash", "-l"]),
        (["--config", "c.toml", "bc"], ["--config", "c.toml"], ["bc"]),
        (["--lexer=sql", "-T", "psql"], ["--lexer=sql", "-T"], ["psql"]),
        (["-p", "2222", "-tv", "sh"], ["-p", "2222", "-tv"], ["sh"]),
        (["--", "-x"], [], ["-x"]),
    ],
)
def test_demo_splits_options_from_the_command(
    args: list[str], options: list[str], command: list[str]
) -> None:
    """remoterepl's options (long ones included) before COMMAND, as remoterepl reads them."""
    assert split_client_args(args) == (options, command)


def test_demo_knows_which_long_options_take_a_value() -> None:
    """The demo's list of long options with a value is remoterepl's own."""
    parsed = {name for name in build_parser().value_options if name.startswith("--")}
    assert parsed == LONG_VALUE_OPTIONS
