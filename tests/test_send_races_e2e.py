"""Keys that race the end of the session (issue 11, point 14): the installed remoterepl in a
real pty; whatever is typed after ``~.``, or after the remote has gone, must end in the
disconnect message or the remote's exit, never in a traceback, prompt_toolkit's
"Unhandled exception ... Press ENTER to continue", or asyncio's "Exception in callback"."""

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

DISCONNECTED = "closed (~.)"
# What each key reaches on its way to the channel: Enter (the line editor's accept),
# Ctrl-C (interrupt), Ctrl-D (EOF), Ctrl-\ (a signal in the background), Ctrl-Z (the
# job's stop), a pasted block, and escapes (~B: a break request, ~I: a signal through the
# terminal).
AFTERWARDS = {
    "enter": "\r",
    "several-lines": "\r\recho after\r\r",
    "ctrl-c": "\x03",
    "ctrl-d": "\x04",
    "ctrl-backslash": "\x1c",
    "ctrl-z": "\x1a",
    "paste": "\x1b[200~echo a\necho b\x1b[201~\r",
    "escapes": "\r~B\r~I\r",
}


def assert_no_traceback(term: Terminal) -> None:
    """Nothing of a Python error reached the screen."""
    shown = term.transcript_text()
    for sign in ("Traceback", "Unhandled exception", "Press ENTER", "Exception in callback"):
        assert sign not in shown, f"{sign!r} shown\n{term.describe()}"


def assert_disconnected(term: Terminal) -> None:
    """``~.``'s end: its message, status 255, no traceback."""
    status = term.wait_exit(timeout=15)
    assert_no_traceback(term)
    assert DISCONNECTED in term.screen_text(), term.describe()
    assert status == 255, term.describe()


@pytest.mark.parametrize("keys", AFTERWARDS.values(), ids=AFTERWARDS.keys())
def test_keys_right_after_tilde_dot_in_a_shell(embedded_env: ClientEnv, keys: str) -> None:
    """``~.`` then at once (in the same read) Enter, Ctrl-C, Ctrl-D, ...: the disconnect
    message and 255, whatever came after it."""
    with spawn_remoterepl([embedded_env.user_alias], embedded_env.env) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=15)
        term.send("~." + keys)
        assert_disconnected(term)


@pytest.mark.parametrize("flags", [["-T"], ["--raw"]], ids=["no-pty", "raw"])
def test_keys_right_after_tilde_dot_without_the_editor_or_the_pty(
    embedded_env: ClientEnv, flags: list[str]
) -> None:
    """-T (the editor, no PTY: EOF is channel EOF, Ctrl-C a signal request) and --raw (keys
    straight to the channel)."""
    command = "cat" if flags == ["-T"] else "sh"
    with spawn_remoterepl([*flags, embedded_env.user_alias, command], embedded_env.env) as term:
        term.wait_for_screen("cat>" if flags == ["-T"] else shell_prompt_shown, timeout=15)
        term.send("~.\rx\r\x03\x04")
        assert_disconnected(term)


def test_keys_right_after_tilde_dot_in_a_full_screen_program(embedded_env: ClientEnv) -> None:
    """While less has the screen, keys go through the passthrough forwarder: ``~.`` and
    the keys after it."""
    require_program("less", "less")
    with spawn_remoterepl([embedded_env.user_alias], embedded_env.env) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=15)
        term.send("seq 1000 | less\r")
        term.wait_for_screen(lambda s: s.splitlines()[0:1] == ["1"])
        term.send("\r~.G\rq\x03")
        assert_disconnected(term)


def test_a_line_sent_after_the_remote_exited(embedded_env: ClientEnv, tmp_path: Path) -> None:
    """The remote exits while the user is in $EDITOR (Ctrl-X Ctrl-E: the editor is still up,
    its output held): the line saved afterwards has no channel left to go to. The shell's
    own status, no traceback."""
    editor = tmp_path / "slow-editor"
    editor.write_text('#!/bin/sh\nsleep 3\necho "echo too-late" > "$1"\n')
    editor.chmod(0o755)
    env = dict(embedded_env.env, EDITOR=str(editor), VISUAL="")
    with spawn_remoterepl([embedded_env.user_alias], env) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=15)
        term.sendline("sleep 1; exit 7")
        term.wait_for_screen("exit 7")
        term.send("\x18\x05")  # Ctrl-X Ctrl-E
        status = term.wait_exit(timeout=20)
        assert_no_traceback(term)
        assert status == 7, term.describe()


@pytest.mark.parametrize("split", [False, True], ids=["same-read", "next-write"])
@pytest.mark.parametrize(
    "keys",
    [AFTERWARDS[name] for name in ("enter", "ctrl-c", "ctrl-d", "ctrl-z")] + ["echo typed\r"],
    ids=["enter", "ctrl-c", "ctrl-d", "ctrl-z", "typing"],
)
def test_keys_after_tilde_dot_end_in_one_line_and_a_restored_terminal(
    login: Login, keys: str, split: bool, tmp_path: Path
) -> None:
    """Issue 12, defect 10, on both servers: ``~.`` in a shell, then Enter, Ctrl-C, Ctrl-D,
    Ctrl-Z or a typed line (in the same read, or written after it): no key raises, the
    session ends with status 255 and one ``remoterepl:`` line, the terminal as before."""
    record = tmp_path / "stty"
    argv = with_stty_record([login.alias], record)
    # A key written after remoterepl has gone (pexpect waits 50 ms before each write)
    # reaches the shell that ran it, as after ssh: there Ctrl-C must not end the record.
    script = argv[-1].replace("rc=$?;", "rc=$?; trap '' INT TSTP;")
    assert script != argv[-1]
    argv[-1] = f"trap : INT TSTP; {script}"
    with Terminal(argv, env=login.env.env) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=20)
        if split:
            term.send("~.")
            term.send(keys)
        else:
            term.send("~." + keys)
        screen = term.wait_for_screen("RC=", timeout=15)
        assert_no_traceback(term)
        assert "RC=255" in screen, term.describe()
        ours = [row for row in screen.splitlines() if "remoterepl:" in row]
        assert len(ours) == 1 and DISCONNECTED in ours[0], term.describe()
    assert_terminal_restored(record)
