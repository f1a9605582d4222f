"""Process control end to end (installed remoterepl in a pty): signal escapes and their
routes through a real OpenSSH sshd (root logins: the second-channel fallback), Ctrl-\\,
~., PTY modes and sizes, full-screen programs, --raw, and terminal restoration (those
against the embedded server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.client import (
    Terminal,
    assert_terminal_restored,
    shell_prompt_shown,
    spawn_remoterepl,
    with_stty_record,
)
from tests.client_env import ClientEnv, Login
from tests.system import require_program

USERS = ["user_alias", "root_alias"]  # OpenSSH ignores signal requests for root logins
SIGNALS = {"I": "INT", "T": "TERM", "H": "HUP", "Q": "QUIT", "1": "USR1", "2": "USR2"}
TRAPS = " ".join(f"trap 'echo got-{name}' {name};" for name in SIGNALS.values())
TRAP_LOOP = f'bash -c "{TRAPS} echo ready; while :; do sleep 0.1; done"'


@pytest.mark.parametrize("which", USERS)
@pytest.mark.parametrize("pty_flag", ["-t", "-T"])
def test_every_signal_escape_reaches_the_remote_process(
    client_env: ClientEnv, which: str, pty_flag: str
) -> None:
    """~I ~T ~H ~Q ~1 ~2 each run the remote trap (root: through the fallback), and ~K
    kills it: the user is told, and the exit status is 128+9."""
    args = [pty_flag, client_env.login(which), TRAP_LOOP]
    with spawn_remoterepl(args, client_env.env, rows=40) as term:
        term.wait_for_screen("ready", timeout=15)
        for key, name in SIGNALS.items():
            term.send(f"~{key}")
            term.wait_for_screen(f"got-{name}")
            assert term.child.isalive()
        if which == "root_alias" and pty_flag == "-T":
            assert "second channel" in term.screen_text()
        term.send("~K")
        term.wait_for_screen("killed by SIGKILL")
        assert term.wait_exit() == 128 + 9


def test_ctrl_backslash_sends_quit(login: Login) -> None:
    """Ctrl-\\ is SIGQUIT for the remote foreground job, not for us."""
    command = "bash -c \"trap 'echo got-QUIT' QUIT; echo ready; while :; do sleep 0.1; done\""
    with spawn_remoterepl([login.alias, command], login.env.env) as term:
        term.wait_for_screen("ready", timeout=15)
        term.sendcontrol("\\")
        term.wait_for_screen("got-QUIT")
        assert term.child.isalive()
        term.send("~K")
        assert term.wait_exit() == 137


def test_escape_help_literal_tilde_and_disabled_escapes(embedded_env: ClientEnv) -> None:
    """~? lists the escapes; ~~ sends one tilde; with -e none a line may start with ~."""
    with spawn_remoterepl([embedded_env.user_alias, "cat"], embedded_env.env) as term:
        term.wait_for_screen("cat>")
        term.send("~?")
        term.wait_for_screen("~.  disconnect")
        term.send("~~.x\r")
        term.wait_for_screen(lambda s: "\n~.x" in s)
        term.sendcontrol("d")
        assert term.wait_exit() == 0
    with spawn_remoterepl(["-e", "none", embedded_env.user_alias, "cat"], embedded_env.env) as term:
        term.wait_for_screen("cat>")
        term.send("~?\r")
        term.wait_for_screen(lambda s: "\n~?" in s)
        assert "disconnect" not in term.screen_text()
        term.sendcontrol("d")
        assert term.wait_exit() == 0


@pytest.mark.parametrize("raw", [False, True])
def test_tilde_dot_disconnects_with_255_and_restores_the_terminal(
    embedded_env: ClientEnv, tmp_path: Path, raw: bool
) -> None:
    """``~.`` leaves at once (also in --raw), says so, exits 255, terminal as before."""
    record = tmp_path / "stty"
    args = (["--raw"] if raw else []) + [embedded_env.user_alias]
    with Terminal(with_stty_record(args, record), env=embedded_env.env) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=15)
        term.send("sleep 60\r")
        term.wait_for_screen("sleep 60")
        term.send("~.")
        screen = term.wait_for_screen("RC=", timeout=10)
        assert "RC=255" in screen
        assert "closed (~.)" in screen
        assert "Traceback" not in term.transcript_text()
    assert_terminal_restored(record)


def test_pty_on_and_off(embedded_env: ClientEnv) -> None:
    """Interactive: a PTY by default, none with -T; pipe mode: none by default, one with -t."""
    with spawn_remoterepl([embedded_env.user_alias, "tty"], embedded_env.env) as term:
        term.wait_for_screen("/dev/pts/")
        assert term.wait_exit() == 0
    with spawn_remoterepl(["-T", embedded_env.user_alias, "tty"], embedded_env.env) as term:
        term.wait_for_screen("not a tty")
        assert term.wait_exit() == 1


def test_window_size_at_start_and_after_resize(embedded_env: ClientEnv) -> None:
    """``stty size`` remotely matches the local terminal, also after a resize."""
    with spawn_remoterepl([embedded_env.user_alias], embedded_env.env, rows=33, cols=97) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=15)
        term.send("stty size\r")
        term.wait_for_screen("\n33 97")
        term.resize(40, 120)
        term.send("stty size\r")
        term.wait_for_screen("\n40 120")
        term.send("echo $TERM\r")
        term.wait_for_screen("\nxterm-256color")
        term.send("exit\r")
        assert term.wait_exit() == 0


def test_less_is_usable_and_the_editor_comes_back(embedded_env: ClientEnv) -> None:
    """less takes keys directly (G, q); afterwards the line editor works again."""
    require_program("less", "less")
    with spawn_remoterepl([embedded_env.user_alias], embedded_env.env) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=15)
        term.send("seq 1000 | less\r")
        term.wait_for_screen(lambda s: s.splitlines()[0:1] == ["1"])
        term.send("G")
        term.wait_for_screen("1000")
        term.send("q")
        term.send("echo back-$((40+2))\r")
        term.wait_for_screen("\nback-42")
        term.send("exit\r")
        assert term.wait_exit() == 0


def test_vi_edits_a_file_and_the_session_goes_on(embedded_env: ClientEnv) -> None:
    """vi in the remote shell: insert, Escape, :wq; the file has the text."""
    require_program("vi", "vim-tiny")
    with spawn_remoterepl([embedded_env.user_alias], embedded_env.env) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=15)
        # t_RV= t_u7=: no version or cursor queries; pyte (unlike a terminal) answers them
        # only when the test next reads the screen, possibly after vi has exited
        term.send("f=$(mktemp -u); vi -n --cmd 'set t_RV= t_u7=' $f\r")
        term.wait_for_screen("[New")  # vi owns the screen now ("[New]", vim-tiny: "[New File]")
        term.send("ihello from vi\x1b:wq\r")
        term.wait_for_screen(shell_prompt_shown)
        term.send("cat $f; rm $f\r")
        term.wait_for_screen("\nhello from vi")
        term.send("exit\r")
        assert term.wait_exit() == 0


def test_raw_mode_is_a_plain_terminal_session(embedded_env: ClientEnv, tmp_path: Path) -> None:
    """--raw: the remote PTY echoes and edits; Ctrl-C reaches it; exit status; terminal."""
    record = tmp_path / "stty"
    args = ["--raw", embedded_env.user_alias]
    with Terminal(with_stty_record(args, record), env=embedded_env.env, rows=30, cols=90) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=15)
        term.send("stty size; echo raw-$((1+1))\r")
        term.wait_for_screen("\nraw-2")
        assert "30 90" in term.screen_text()
        assert term.screen_text().count("echo raw-") == 1  # echoed once, by the remote
        term.send("sleep 30; echo done\r")
        term.wait_for_screen("sleep 30; echo done")
        term.sendcontrol("c")
        term.send("exit 3\r")
        screen = term.wait_for_screen("RC=")
        assert "RC=3" in screen
        assert "\ndone" not in screen
    assert_terminal_restored(record)
