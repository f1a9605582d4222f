"""Signals sent to remoterepl itself (issue 12: defects 3, 4 and 9, faults of the client).

Pipe mode: the first SIGINT/SIGTERM/SIGHUP reaches the remote process by the surest route
(a second channel for root on OpenSSH, which ignores signal requests for root logins); a
second one ends the session at once with 128+N. Elsewhere (connecting, the password
prompt, the line editor, ``--raw``) SIGTERM/SIGHUP end the run with 128+N after the
terminal and the temporary files were restored. Every case: one line, the status, and
the output the remote had sent already is not lost.
"""

from __future__ import annotations

import fcntl
import os
import select
import shlex
import signal
import subprocess
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from remoterepl.modes.pipe import SAME_SIGNAL_WINDOW
from tests.client import (
    Terminal,
    assert_one_line_error,
    client_pid,
    read_line_with_timeout,
    remoterepl_command,
    start_remoterepl,
    with_stty_record,
)
from tests.client_env import ClientEnv, Login
from tests.system import descendants, kill_quietly

PIPE_SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


def _name(signum: int) -> str:
    return signal.Signals(signum).name


@pytest.fixture
def remote_pids() -> Iterator[list[int]]:
    """Pids of remote shells a test started (the remote is on this machine): they and
    their children are killed afterwards, whatever the test did to them."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        kill_quietly([*descendants(pid), pid])


def _started(proc: subprocess.Popen[bytes], remote_pids: list[int]) -> bytes:
    """Read the remote's first line, ``marker <pid>``; remember the pid for clean-up."""
    assert proc.stdout is not None
    line = read_line_with_timeout(proc.stdout, 20)
    words = line.split()
    assert words[:1] == [b"marker"], line
    remote_pids.append(int(words[1]))
    return line


# --------------------------------------------------------------------------- pipe mode


@pytest.mark.parametrize("signum", PIPE_SIGNALS, ids=_name)
def test_pipe_mode_signal_ends_the_remote_command(
    login: Login, signum: int, remote_pids: list[int]
) -> None:
    """``timeout``'s case: one signal to remoterepl ends a remote ``sleep 30`` at once, also
    as root on OpenSSH (signal requests ignored there: a second channel delivers it); the
    remote's own death is reported and gives 128+N; its output is all there."""
    script = "echo marker $$; sleep 30"
    with start_remoterepl([login.alias, script], env=login.env.env) as proc:
        first = _started(proc, remote_pids)
        started = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
    assert time.monotonic() - started < 15, "waited for the remote sleep"
    assert first + out == first, out  # nothing after the marker, and the marker came
    assert proc.returncode == 128 + signum, err
    line = assert_one_line_error(err)
    assert line == f"remoterepl: remote process killed by {_name(signum)}", line


@pytest.mark.parametrize("signum", PIPE_SIGNALS, ids=_name)
def test_pipe_mode_first_signal_runs_the_remote_trap(
    login: Login, signum: int, remote_pids: list[int]
) -> None:
    """The remote's trap runs and its own status comes back (nothing of ours on stderr:
    bash may report its ``sleep`` terminated, the signal reaching the whole group)."""
    name = _name(signum).removeprefix("SIG")
    script = (
        f"trap 'echo trapped-{name}; exit 7' {name}; echo marker $$; while :; do sleep 0.1; done"
    )
    with start_remoterepl([login.alias, script], env=login.env.env) as proc:
        _started(proc, remote_pids)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
    assert out == f"trapped-{name}\n".encode(), (out, err)
    assert proc.returncode == 7, err
    assert b"remoterepl" not in err, err


@pytest.mark.parametrize("signum", PIPE_SIGNALS, ids=_name)
def test_pipe_mode_second_signal_gives_up_at_once(
    login: Login, signum: int, remote_pids: list[int]
) -> None:
    """A remote that lives on after the signal (its trap only reports it): a second one
    ends the session at once with 128+N and one line; the output already received is on
    stdout. (The same signal again at once is the same request: see the timeout(1) test.)"""
    name = _name(signum).removeprefix("SIG")
    script = f"trap 'echo trapped' {name}; echo marker $$; while :; do sleep 0.1; done"
    with start_remoterepl([login.alias, script], env=login.env.env) as proc:
        _started(proc, remote_pids)
        assert proc.stdout is not None
        proc.send_signal(signum)
        assert read_line_with_timeout(proc.stdout, 20) == b"trapped\n"
        time.sleep(2 * SAME_SIGNAL_WINDOW)  # as a person would: not the same request again
        started = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
    assert time.monotonic() - started < 5, "the second signal did not end the session"
    assert proc.returncode == 128 + signum, err
    assert b"Traceback" not in err and b"Warning" not in err, err
    ours = [line for line in err.decode().splitlines() if line.startswith("remoterepl:")]
    assert ours == [
        f"remoterepl: second {_name(signum)}: closed the session without waiting for the "
        "remote process"
    ], err
    assert out == b""


def test_pipe_mode_the_same_signal_twice_at_once_is_one_request(
    embedded_env: ClientEnv, remote_pids: list[int]
) -> None:
    """SIGTERM twice back to back (as timeout(1) sends it: to the command, then to its
    process group) is forwarded once: the remote's trap runs and the session goes on."""
    script = "trap 'echo trapped' TERM; echo marker $$; while :; do sleep 0.1; done"
    with start_remoterepl([embedded_env.user_alias, script], env=embedded_env.env) as proc:
        _started(proc, remote_pids)
        assert proc.stdout is not None
        os.kill(proc.pid, signal.SIGTERM)
        os.kill(proc.pid, signal.SIGTERM)
        assert read_line_with_timeout(proc.stdout, 20) == b"trapped\n"
        time.sleep(1)
        assert proc.poll() is None, "the repeat was taken for a second signal"
        proc.kill()


def test_timeout_ends_the_session(login: Login) -> None:
    """The issue's case: ``timeout 3 remoterepl root@h 'sleep 30'`` ends after ~3 s (it ran
    30 s: OpenSSH dropped the signal request for root), timeout's own status 124, the
    output before it on stdout."""
    command = shlex.join(remoterepl_command([login.alias, "echo marker; sleep 30"]))
    started = time.monotonic()
    proc = subprocess.run(
        ["timeout", "3", "sh", "-c", f"exec {command}"],
        capture_output=True,
        env=login.env.env,
        timeout=60,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert time.monotonic() - started < 15, "waited for the remote sleep"
    assert proc.returncode == 124, proc.stderr
    assert proc.stdout == b"marker\n"
    assert assert_one_line_error(proc.stderr) == "remoterepl: remote process killed by SIGTERM"


def test_pipe_mode_keeps_an_ignored_sighup_ignored(
    embedded_env: ClientEnv, remote_pids: list[int]
) -> None:
    """``nohup remoterepl ...``: as ssh, a SIGHUP ignored at start stays ignored (it is not
    forwarded); a SIGTERM still is."""
    script = "echo marker $$; sleep 30"
    with subprocess.Popen(
        remoterepl_command([embedded_env.user_alias, script]),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=embedded_env.env,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    ) as proc:
        _started(proc, remote_pids)
        proc.send_signal(signal.SIGHUP)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert assert_one_line_error(err) == "remoterepl: remote process killed by SIGTERM"


def test_pipe_mode_signal_keeps_output_in_flight(embedded_env: ClientEnv) -> None:
    """Output the remote wrote before it died of the forwarded signal is delivered whole:
    100,000 lines, then a signal while it sleeps; every line is on stdout."""
    script = "seq 1 100000; echo marker $$; sleep 30"
    with start_remoterepl([embedded_env.user_alias, script], env=embedded_env.env) as proc:
        assert proc.stdout is not None
        seen = b""
        while b"marker" not in seen:
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, "output ended early"
            seen += chunk
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    lines = (seen + out).split(b"\n")
    assert lines[:100000] == [str(n).encode() for n in range(1, 100001)]
    assert proc.returncode == 143, err


# --------------------------------------------------------------------------- connecting


def _temp_dirs(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith("remoterepl-"))


@pytest.fixture
def private_tmp(tmp_path: Path) -> Path:
    """A TMPDIR of the test's own, to see what the client leaves in it."""
    path = tmp_path / "tmp"
    path.mkdir()
    return path


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=_name)
def test_signal_while_connecting_leaves_no_temp_dir(
    embedded_env: ClientEnv, silent_listener: int, private_tmp: Path, signum: int
) -> None:
    """A connect that hangs (a listener that never speaks), then ``timeout``'s SIGTERM, a
    SIGHUP or a SIGINT: 128+N, one line (none for SIGINT), and no ``remoterepl-*``
    directory left in TMPDIR."""
    env = {**embedded_env.env, "TMPDIR": str(private_tmp)}
    args = ["-p", str(silent_listener), "127.0.0.1", "true"]
    with start_remoterepl(args, env=env) as proc:
        deadline = time.monotonic() + 20
        while not _temp_dirs(private_tmp):  # connecting: its config files exist
            assert time.monotonic() < deadline and proc.poll() is None, proc.poll()
            time.sleep(0.02)
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signum, err
    if signum == signal.SIGINT:  # Ctrl-C's: quiet, as a shell and ssh are
        assert err == b""
    else:
        assert assert_one_line_error(err) == f"remoterepl: stopped by {_name(signum)}"
    assert _temp_dirs(private_tmp) == []


def test_success_and_failure_leave_no_temp_dir(embedded_env: ClientEnv, private_tmp: Path) -> None:
    """A run that works and one that fails leave TMPDIR as they found it."""
    env = {**embedded_env.env, "TMPDIR": str(private_tmp)}
    ok = subprocess.run(
        remoterepl_command([embedded_env.user_alias, "true"]),
        env=env,
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert ok.returncode == 0, ok.stderr
    failed = subprocess.run(
        remoterepl_command([embedded_env.badkey_alias, "true"]),
        env=env,
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert failed.returncode == 255, failed.stderr
    assert _temp_dirs(private_tmp) == []


# --------------------------------------------------------------------------- the terminal


def _rc(screen: str) -> str:
    return screen.split("RC=", 1)[1].split()[0]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=_name)
@pytest.mark.parametrize("where", ["editor", "raw"])
def test_signal_restores_the_terminal(
    embedded_env: ClientEnv, tmp_path: Path, signum: int, where: str
) -> None:
    """``kill -TERM`` / ``kill -HUP`` of the interactive client, in the line editor and in
    ``--raw``: the terminal's modes are as before (``stty -g``), 128+N, one line."""
    record = tmp_path / "stty"
    args = [*(["--raw"] if where == "raw" else []), embedded_env.user_alias]
    with Terminal(with_stty_record(args, record), env=embedded_env.env) as term:
        pid = client_pid(term)
        term.wait_for_screen(lambda s: s.rstrip().endswith(("$", "#")), timeout=20)
        os.kill(pid, signum)
        screen = term.wait_for_screen("RC=", timeout=20)
        term.wait_exit()
    assert _rc(screen) == str(128 + signum), screen
    assert f"remoterepl: stopped by {_name(signum)}" in screen, screen
    assert "Traceback" not in screen and "internal error" not in screen, screen
    before, after = record.read_text().split()
    assert before == after


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=_name)
def test_signal_at_the_password_prompt_restores_echo(
    embedded_env: ClientEnv, tmp_path: Path, private_tmp: Path, signum: int
) -> None:
    """At the password prompt (echo off): the terminal as before, 128+N, one line, and
    no temporary directory left."""
    record = tmp_path / "stty"
    env = {**embedded_env.env, "TMPDIR": str(private_tmp)}
    args = [embedded_env.password_alias, "true"]
    with Terminal(with_stty_record(args, record), env=env) as term:
        pid = client_pid(term)
        term.wait_for_screen("password:", timeout=20)
        os.kill(pid, signum)
        screen = term.wait_for_screen("RC=", timeout=20)
        term.wait_exit()
    assert _rc(screen) == str(128 + signum), screen
    assert f"remoterepl: stopped by {_name(signum)}" in screen, screen
    before, after = record.read_text().split()
    assert before == after
    assert _temp_dirs(private_tmp) == []


def test_ctrl_c_in_the_external_editor_is_the_editors(
    embedded_env: ClientEnv, tmp_path: Path
) -> None:
    """Ctrl-X Ctrl-E hands the terminal to $EDITOR (cooked: Ctrl-C is a SIGINT to the whole
    foreground group): the editor program gets it, the client stays, and what the editor
    saved is sent."""
    ready, seen, done = tmp_path / "ready", tmp_path / "seen", tmp_path / "done"
    editor = tmp_path / "editor.sh"
    editor.write_text(
        "#!/bin/bash\n"
        f"trap 'touch {seen}' INT\n"
        f"touch {ready}\n"
        f"while [ ! -e {done} ]; do sleep 0.05; done\n"
        'echo 6*7 > "$1"\n'
    )
    editor.chmod(0o755)
    env = dict(embedded_env.env, EDITOR=str(editor), VISUAL="")
    with Terminal(remoterepl_command([embedded_env.user_alias, "bc"]), env=env) as term:
        term.wait_for_screen("bc>", timeout=20)
        term.sendcontrol("x")
        term.sendcontrol("e")
        _wait_for(ready.exists)
        term.sendcontrol("c")
        _wait_for(seen.exists)
        done.touch()
        term.wait_for_screen("\n42", timeout=20)
        assert term.child.isalive()
        term.sendline("quit")
        assert term.wait_exit(timeout=20) == 0


def test_kill_int_does_not_end_the_editor(embedded_env: ClientEnv) -> None:
    """``kill -INT`` of the interactive client (Ctrl-C there is a key, not a signal): the
    session goes on; SIGTERM is what ends it."""
    with Terminal(
        remoterepl_command([embedded_env.user_alias, "bc"]), env=embedded_env.env
    ) as term:
        term.wait_for_screen("bc>", timeout=20)
        os.kill(term.child.pid, signal.SIGINT)
        term.sendline("6*7")
        term.wait_for_screen("\n42", timeout=20)
        assert term.child.isalive()
        os.kill(term.child.pid, signal.SIGTERM)
        assert term.wait_exit(timeout=20) == 143


def _wait_for(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _hang_up_run(
    embedded_env: ClientEnv, private_tmp: Path, where: str, preexec: Callable[[], None]
) -> tuple[int, str]:
    """Run bc on a pty of its own, close the pty's master once bc is up: (status, stderr)."""
    master, slave = os.openpty()
    env = {**embedded_env.env, "TMPDIR": str(private_tmp), "TERM": "xterm"}
    args = [*(["--raw"] if where == "raw" else []), embedded_env.user_alias, "bc"]
    errors = private_tmp.parent / "stderr"
    proc = subprocess.Popen(
        remoterepl_command(args),
        stdin=slave,
        stdout=slave,
        stderr=errors.open("wb"),  # to read what it said after its terminal went away
        env=env,
        start_new_session=True,
        preexec_fn=preexec,
    )
    os.close(slave)
    try:
        seen = b""
        deadline = time.monotonic() + 20
        while b"bc" not in seen or (where == "editor" and b">" not in seen):
            assert time.monotonic() < deadline, seen
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                seen += os.read(master, 65536)
        os.close(master)
        status = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return status, errors.read_text()


def _take_the_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.mark.parametrize("where", ["editor", "raw"])
def test_terminal_hang_up_ends_the_client(
    embedded_env: ClientEnv, private_tmp: Path, where: str
) -> None:
    """The terminal itself goes away (its master closed: the kernel's SIGHUP, and every
    read and write then fails): the client ends at once with 129, leaving nothing in TMPDIR
    (restoring the modes of a terminal that is gone must not turn into an internal error)."""
    status, said = _hang_up_run(embedded_env, private_tmp, where, _take_the_terminal)
    assert said == "remoterepl: stopped by SIGHUP\n"
    assert status == 128 + signal.SIGHUP
    assert _temp_dirs(private_tmp) == []


@pytest.mark.parametrize("where", ["editor", "raw"])
def test_terminal_hang_up_under_nohup_still_ends_the_client(
    embedded_env: ClientEnv, private_tmp: Path, where: str
) -> None:
    """Under nohup no SIGHUP comes when the terminal goes away: the client must still end
    (the remote sees the hang-up) instead of waiting on a terminal that is gone."""

    def nohup_with_a_terminal() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        _take_the_terminal()

    status, said = _hang_up_run(embedded_env, private_tmp, where, nohup_with_a_terminal)
    assert said == "remoterepl: stopped by SIGHUP\n"
    assert status == 128 + signal.SIGHUP
    assert _temp_dirs(private_tmp) == []
