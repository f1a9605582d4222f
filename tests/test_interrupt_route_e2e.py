"""Ctrl-C without a PTY (issue 11, point 7): the installed remoterepl in a real pty, ``-T``,
against the embedded server and a real OpenSSH sshd as root, which ignores signal requests
for root logins: Ctrl-C takes the route ``~I`` takes there (a second channel), silently
when it works, as in a terminal."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.client import Terminal, spawn_remoterepl
from tests.client_env import ClientEnv, ClientEnvFactory, Login
from tests.sshd import SshdFactory
from tests.system import descendants, kill_quietly, processes_running

# In the loop's command line: how teardown finds it. The pid keeps a concurrent run's loops
# (scripts/test-pythons in CI: two Pythons at once) out of this run's teardown.
LOOP_MARK = f"rr-trap-loop-{os.getpid()}"
TRAP_LOOP = (
    f"bash -c \": {LOOP_MARK}; trap 'echo got-INT' INT; echo ready; while :; do sleep 0.1; done\""
)


@pytest.fixture(autouse=True)
def no_loop_left() -> Iterator[None]:
    """Without a PTY nothing hangs the remote loop up when the client goes (``~.``, a
    failed test): kill the loops a test started, with their children."""
    before = set(processes_running(LOOP_MARK.encode()))
    yield
    for pid in set(processes_running(LOOP_MARK.encode())) - before:
        kill_quietly([*descendants(pid), pid])


NOTES = ("second channel", "could not", "Ctrl-C:", "signal request")


def assert_no_note(term: Terminal) -> None:
    """Ctrl-C that worked says nothing of how."""
    screen = term.screen_text()
    for note in NOTES:
        assert note not in screen, term.describe()


def test_ctrl_c_without_a_pty_reaches_a_trap_and_the_remote_goes_on(login: Login) -> None:
    """-T: each Ctrl-C runs the remote INT trap (root on OpenSSH: through a second
    channel); the program lives on."""
    with spawn_remoterepl(["-T", login.alias, TRAP_LOOP], login.env.env) as term:
        term.wait_for_screen("ready", timeout=15)
        term.sendcontrol("c")
        term.wait_for_screen("got-INT")
        term.sendcontrol("c")
        term.wait_for_screen(lambda s: s.count("got-INT") == 2)
        assert term.child.isalive()
        assert_no_note(term)
        term.send("~K")
        term.wait_for_screen("killed by SIGKILL")
        assert term.wait_exit() == 128 + 9


def test_ctrl_c_without_a_pty_stops_a_long_command(login: Login) -> None:
    """-T ``sleep 30``: Ctrl-C ends it at once (the screen says so, status 128+2), not
    after 30 s."""
    command = "echo started; exec sleep 30"
    with spawn_remoterepl(["-T", login.alias, command], login.env.env) as term:
        term.wait_for_screen("started", timeout=15)
        term.sendcontrol("c")
        term.wait_for_screen("remote process killed by SIGINT", timeout=10)
        assert term.wait_exit() == 128 + 2
        assert_no_note(term)


def test_ctrl_c_in_a_login_shell_without_a_pty_as_root(client_env: ClientEnv) -> None:
    """-T login shell as root on OpenSSH, a long command running: Ctrl-C reaches the
    session's process group, as a signal request does for other logins: the command and
    the shell without job control both end (DESIGN.md §4), at once."""
    with spawn_remoterepl(["-T", client_env.root_alias], client_env.env) as term:
        term.wait_for_screen(">", timeout=15)
        term.sendline("echo sleeping; sleep 30; echo done")
        term.wait_for_screen("\nsleeping")
        term.sendcontrol("c")
        term.wait_for_screen("remote process killed by SIGINT", timeout=10)
        assert "\ndone" not in term.screen_text()
        assert term.wait_exit() == 128 + 2


def test_ctrl_c_that_cannot_take_the_second_channel_says_why(
    sshd_factory: SshdFactory, client_env_factory: ClientEnvFactory
) -> None:
    """An sshd allowing one session per connection (MaxSessions 1) leaves root's Ctrl-C no
    route: one note per Ctrl-C says why, and the remote goes on."""
    env = client_env_factory(sshd_factory(extra_config=["MaxSessions 1"]))
    with spawn_remoterepl(["-T", env.root_alias, TRAP_LOOP], env.env, cols=200) as term:
        term.wait_for_screen("ready", timeout=15)
        term.sendcontrol("c")
        screen = term.wait_for_screen("[Ctrl-C: could not deliver SIGINT")
        assert "ignores signal requests for this login" in screen
        assert screen.count("could not deliver") == 1
        assert "got-INT" not in screen
        assert term.child.isalive()
        term.sendcontrol("c")
        term.wait_for_screen(lambda s: s.count("could not deliver SIGINT") == 2)
        assert "Traceback" not in term.transcript_text()
        term.send("~.")
        assert term.wait_exit() == 255


def test_ctrl_z_without_a_pty_says_there_is_no_job_control(login: Login) -> None:
    """-T: Ctrl-Z stops nothing (no job control without a terminal: nothing could ever
    continue it, the session would freeze; OpenSSH would drop it for root anyway), says
    so once, and the program goes on."""
    with spawn_remoterepl(["-T", login.alias, TRAP_LOOP], login.env.env, cols=200) as term:
        term.wait_for_screen("ready", timeout=15)
        term.sendcontrol("z")
        term.wait_for_screen("[Ctrl-Z: no remote terminal (-T), no job control: nothing stopped")
        term.sendcontrol("c")
        term.wait_for_screen("got-INT")  # still running, not stopped
        term.send("~K")
        term.wait_for_screen("killed by SIGKILL")
        assert term.wait_exit() == 128 + 9
