"""Closed standard streams (issue 12, defect 6): ``remoterepl h cmd <&-``, ``>&-``,
``2>&-`` run the command as ssh does (its sanitise_stdfd() opens /dev/null on a closed fd
0-2): a closed stdin is at EOF, output to a closed stdout or stderr is discarded, and
nothing of ours lands in the wrong stream."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from tests.client import Terminal, remoterepl_command
from tests.client_env import ClientEnv, Login

SCRIPT = "echo out; echo err >&2; cat; echo after-eof:$?; exit 3"


def _run(login: Login, redirect: str, script: str = SCRIPT) -> subprocess.CompletedProcess[bytes]:
    command = shlex.join(remoterepl_command([login.alias, script]))
    return subprocess.run(
        ["bash", "-c", f"{command} {redirect}"],
        capture_output=True,
        env=login.env.env,
        timeout=60,
        start_new_session=True,  # no terminal: nothing may be asked
    )


def test_closed_stdin_is_end_of_input(login: Login) -> None:
    """``<&-``: the remote's stdin is at EOF at once; output and status as usual."""
    proc = _run(login, "<&-")
    assert proc.stdout == b"out\nafter-eof:0\n", proc.stderr
    assert proc.stderr == b"err\n"
    assert proc.returncode == 3


def test_closed_stdout_discards_the_output(login: Login) -> None:
    """``>&-``: the remote runs to its end; stderr still arrives; the status is its own."""
    proc = _run(login, ">&- </dev/null")
    assert proc.stderr == b"err\n"
    assert proc.returncode == 3


def test_closed_stderr_keeps_stdout_clean(login: Login) -> None:
    """``2>&-``: stdout holds the remote's stdout only (our lines went to the closed
    stderr's /dev/null, never into the output), and the status is the remote's."""
    proc = _run(login, "2>&- </dev/null")
    assert proc.stdout == b"out\nafter-eof:0\n"
    assert proc.returncode == 3


def test_closed_stderr_of_a_failing_run(embedded_env: ClientEnv) -> None:
    """``2>&-`` and a login that fails: 255, and the error is not written into stdout."""
    command = shlex.join(remoterepl_command([embedded_env.badkey_alias, "true"]))
    proc = subprocess.run(
        ["bash", "-c", f"{command} 2>&- </dev/null"],
        capture_output=True,
        env=embedded_env.env,
        timeout=60,
        start_new_session=True,
    )
    assert proc.returncode == 255
    assert proc.stdout == b""


@pytest.mark.parametrize("redirect", ["2>&-", "<&-"])
def test_closed_stream_on_a_terminal(embedded_env: ClientEnv, redirect: str) -> None:
    """On a terminal: ``2>&-`` still gives the line editor (the remote's output on the
    screen, its status back); ``<&-`` makes it a pipe at EOF, as ssh."""
    command = shlex.join(remoterepl_command([embedded_env.user_alias, "echo hi-there; exit 4"]))
    with Terminal(["sh", "-c", f"{command} {redirect}; echo RC=$?"], env=embedded_env.env) as term:
        screen = term.wait_for_screen("RC=", timeout=20)
        term.wait_exit()
    assert "hi-there" in screen, screen
    assert screen.split("RC=", 1)[1].split()[0] == "4", screen
    assert "internal error" not in screen and "Traceback" not in screen, screen


def test_help_with_stdout_closed_prints_nothing_on_stderr() -> None:
    """Python starts with ``sys.stdout`` None when fd 1 is closed: ``--help >&-`` printed
    the help to stderr instead (argparse falls back); now it goes to /dev/null."""
    command = shlex.join(remoterepl_command(["--help"]))
    proc = subprocess.run(
        ["bash", "-c", f"{command} >&-"], capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
