"""Secrets asked with a prompt no word list knows (issue 12): the program turned the tty's
echo off (``read -s``, python's getpass), so what is typed is hidden, kept out of the
history and the recording, and out of the kill ring, under a login shell and as the
session's own command, on the embedded server and root on a real OpenSSH sshd. The
toolbar says ``input hidden`` once the watcher has reported the tty's modes: the tests wait
for it before typing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.client import Terminal, remoterepl_command
from tests.client_env import ClientEnv, Login

PROMPT = "rr$ "
SHELL = f"env PS1='{PROMPT}' TERM=xterm bash --norc --noprofile -i"
SECRET = "zebra42secret"
READERS = {
    "read-s": "read -s -p 'Token (will be hidden): ' t; echo; echo len=${#t}",
    "getpass": (
        "python3 -c \"import getpass; s = getpass.getpass('Zugang> '); print('len=%d' % len(s))\""
    ),
}
ASKED = {"read-s": "Token (will be hidden):", "getpass": "Zugang>"}


def at_prompt(text: str) -> bool:
    """The last row above the toolbar is the idle shell prompt."""
    rows = [row for row in text.splitlines() if row.strip() and "│" not in row]
    return bool(rows) and rows[-1].rstrip() == PROMPT.rstrip()


def with_toolbar(env: ClientEnv) -> None:
    path = Path(env.env["XDG_CONFIG_HOME"]) / "remoterepl" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("toolbar = true\n")


@contextmanager
def session(login: Login, command: str, record: Path) -> Iterator[Terminal]:
    with_toolbar(login.env)
    argv = remoterepl_command(["--record", str(record), login.alias, command])
    with Terminal(argv, env=dict(login.env.env), cols=100) as term:
        yield term


def nothing_holds_the_secret(login: Login, term: Terminal, record: Path) -> None:
    assert SECRET not in term.transcript_text()
    assert SECRET not in record.read_text()
    for path in login.env.home.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("where", ["login-shell", "own-command"])
def test_a_secret_read_with_echo_off_is_hidden_and_kept_nowhere(
    login: Login, reader: str, where: str, tmp_path: Path
) -> None:
    record = tmp_path / "session.cast"
    command = READERS[reader] if where == "own-command" else SHELL
    with session(login, command, record) as term:
        if where == "login-shell":
            term.wait_for_screen(at_prompt, timeout=20)
            term.sendline(READERS[reader])
        term.wait_for_screen(ASKED[reader], timeout=20)
        term.wait_for_screen("input hidden")  # the watcher's report: echo off
        term.send(SECRET)
        term.wait_for_screen("*" * len(SECRET))
        assert SECRET not in term.screen_text()
        term.sendline("")
        term.wait_for_screen(f"len={len(SECRET)}")
        if where == "login-shell":
            term.wait_for_screen(at_prompt)
            term.send("\x1b[A")  # Up: the last stored line is the command, not the secret
            term.wait_for_screen(READERS[reader][-12:])
            term.sendcontrol("u")
            term.sendline("exit")
        assert term.wait_exit(timeout=20) == 0
    nothing_holds_the_secret(login, term, record)


def test_the_kill_ring_never_takes_a_secret(login: Login, tmp_path: Path) -> None:
    """Ctrl-W and Ctrl-U on a secret line cut nothing into the kill ring: Ctrl-Y at the
    next (ordinary) line yanks what was cut before the secret, never the secret."""
    record = tmp_path / "session.cast"
    with session(login, SHELL, record) as term:
        term.wait_for_screen(at_prompt, timeout=20)
        term.send("kept-word")
        term.wait_for_screen("kept-word")
        term.sendcontrol("u")  # cuts "kept-word" (an ordinary line)
        term.wait_for_screen(at_prompt)
        term.sendline(READERS["read-s"])
        term.wait_for_screen("input hidden")
        term.send(f"{SECRET} {SECRET}")
        term.sendcontrol("w")
        term.sendcontrol("u")
        term.send("x")
        term.sendline("")
        term.wait_for_screen(lambda s: "len=1" in s and at_prompt(s))
        term.send("echo ")
        term.sendcontrol("y")
        term.wait_for_screen("echo kept-word")
        term.sendline("")
        term.wait_for_screen(lambda s: "\nkept-word" in s and at_prompt(s))
        term.sendline("exit")
        assert term.wait_exit(timeout=20) == 0
    nothing_holds_the_secret(login, term, record)
