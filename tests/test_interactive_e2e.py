"""Interactive mode end to end: the installed remoterepl in a real pty, assertions on what
the screen shows (pyte), as a person at a terminal would see it. Against the embedded
server, and a real OpenSSH sshd where its behaviour matters (root logins, PTY echo)."""

from __future__ import annotations

import os
import re
import signal
import termios
from pathlib import Path

from tests.client import (
    Terminal,
    assert_terminal_restored,
    shell_prompt_shown,
    spawn_remoterepl,
    with_stty_record,
)
from tests.client_env import ClientEnv, ClientEnvFactory, Login
from tests.embedded_sshd import EmbeddedFactory
from tests.system import process_exists


def test_bc_arithmetic_with_local_prompt(embedded_env: ClientEnv) -> None:
    """bc shows no prompt of its own: a local ``bc> `` prompt is shown; results appear."""
    with spawn_remoterepl([embedded_env.user_alias, "bc"], embedded_env.env) as term:
        term.wait_for_screen("bc>")
        term.sendline("2+3")
        term.wait_for_screen(lambda s: "bc> 2+3\n5" in s)
        term.sendline("3*7")
        screen = term.wait_for_screen(lambda s: "bc> 3*7\n21" in s)
        assert screen.count("2+3") == 1, "typed input must appear exactly once"
        term.sendcontrol("d")
        assert term.wait_exit() == 0


def test_bc_quiet_gets_its_local_prompt_before_anything_is_typed(login: Login) -> None:
    """``bc -q`` prints nothing but readline's bracketed-paste mark before it reads: the
    local ``bc>`` prompt shows at once (it used to stay an empty screen until a first line
    was sent), and again after each answer."""
    with spawn_remoterepl([login.alias, "bc", "-q"], login.env.env) as term:
        term.wait_for_screen(lambda s: s.strip() == "bc>")
        term.sendline("2+3")
        term.wait_for_screen(lambda s: s.strip() == "bc> 2+3\n5\nbc>")
        term.sendcontrol("d")
        assert term.wait_exit() == 0


def test_ctrl_c_interrupts_a_bc_loop_and_the_session_goes_on(login: Login) -> None:
    """Ctrl-C stops a loop of 10^9 iterations (minutes of work); the next line answers."""
    with spawn_remoterepl([login.alias, "bc"], login.env.env) as term:
        term.wait_for_screen("bc>")
        term.sendline("1+1")  # bc is up (a Ctrl-C before it catches SIGINT would kill it)
        term.wait_for_screen(lambda s: "\n2" in s)
        term.sendline("for(i=0;i<10^9;i++){}")
        term.wait_for_screen("for(i=0;i<10^9;i++){}")
        term.sendcontrol("c")
        term.sendline("6*7")
        term.wait_for_screen(lambda s: "\n42" in s, timeout=15)
        assert term.child.isalive()
        term.sendline("quit")
        assert term.wait_exit() == 0


def test_ctrl_c_stops_a_shell_command_but_not_the_shell(login: Login) -> None:
    """In the login shell, Ctrl-C kills ``sleep 30`` (no "done"); the shell answers at once."""
    with spawn_remoterepl([login.alias], login.env.env) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=15)
        term.sendline("sleep 30; echo done")
        term.wait_for_screen("sleep 30; echo done")
        term.sendcontrol("c")
        term.sendline("echo al''ive")
        screen = term.wait_for_screen(lambda s: "\nalive" in s, timeout=10)
        assert "done" not in screen.replace("echo done", "")
        term.sendline("exit")
        assert term.wait_exit() == 0


def test_ctrl_c_on_an_idle_prompt_keeps_the_session(embedded_env: ClientEnv) -> None:
    """Ctrl-C with nothing running (and with a half-typed line) does not end the session."""
    with spawn_remoterepl([embedded_env.user_alias, "bc"], embedded_env.env) as term:
        term.wait_for_screen("bc>")
        term.sendcontrol("c")
        term.send("12345")
        term.wait_for_screen("12345")
        term.sendcontrol("c")  # discards the half-typed line, as a terminal does
        term.sendline("1+1")
        screen = term.wait_for_screen(lambda s: "\n2" in s)
        assert "123451+1" not in screen
        assert term.child.isalive()
        term.sendcontrol("d")
        assert term.wait_exit() == 0


def test_partial_lines_and_remote_prompts_are_visible_at_once(embedded_env: ClientEnv) -> None:
    """Output without a newline shows at once, as the prompt line; python's ``>>> `` once."""
    with spawn_remoterepl([embedded_env.user_alias, "python3", "-q"], embedded_env.env) as term:
        term.wait_for_screen(lambda s: s.rstrip().endswith(">>>"), timeout=15)
        term.sendline("print('partial-no-newline', end='', flush=True)")
        # python answers with the text and then its next prompt, both without newline
        screen = term.wait_for_screen("partial-no-newline>>>")
        assert screen.count(">>>") == 2, screen
        term.sendline("print(6*7)")
        screen = term.wait_for_screen(lambda s: "\n42\n>>>" in s)
        assert screen.count("print(6*7)") == 1


def test_partial_output_is_shown_before_any_newline(embedded_env: ClientEnv) -> None:
    """``printf 'waiting...'; sleep 30`` shows its text while the command still runs."""
    with spawn_remoterepl([embedded_env.user_alias], embedded_env.env) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=15)
        term.sendline("printf 'wait''ing...'; sleep 30")
        term.wait_for_screen("waiting...", timeout=10)
        term.sendcontrol("c")
        term.sendline("exit 0")
        assert term.wait_exit() == 0


def test_typed_input_is_not_echoed_twice(client_env: ClientEnv) -> None:
    """OpenSSH's PTY does not echo what the local editor already shows (the PTY is asked
    for with ECHO off)."""
    with spawn_remoterepl([client_env.user_alias], client_env.env) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=15)
        term.sendline("echo once-only")
        screen = term.wait_for_screen(lambda s: "\nonce-only" in s)
        assert screen.count("echo once-only") == 1, screen
        assert screen.count("once-only") == 2, screen  # the command line and its output
        term.sendline("exit")
        assert term.wait_exit() == 0


def test_ctrl_d_ends_the_shell_with_its_exit_status(embedded_env: ClientEnv) -> None:
    """Ctrl-D on an empty line is EOF for the remote shell, which exits with its status."""
    with spawn_remoterepl([embedded_env.user_alias], embedded_env.env) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=15)
        term.sendline("(exit 3)")
        term.wait_for_screen(lambda s: "(exit 3)\n" in s and shell_prompt_shown(s))
        term.sendcontrol("d")
        assert term.wait_exit() == 3


def test_remote_exit_status_and_signal(embedded_env: ClientEnv) -> None:
    """A remote command killed by SIGTERM: its output stays, the user is told, status 143."""
    command = "read line; echo got-$line; kill -TERM $$"
    with spawn_remoterepl([embedded_env.user_alias, command], embedded_env.env) as term:
        term.wait_for_screen(">")
        term.sendline("it")
        screen = term.wait_for_screen("SIGTERM")
        assert "got-it" in screen
        assert "remote process killed by SIGTERM" in screen
        assert term.wait_exit() == 143


def test_stderr_is_shown_distinguishably_without_a_pty(embedded_env: ClientEnv) -> None:
    """With -T the remote keeps stderr apart: it is shown, tinted, next to stdout."""
    command = "sh -c 'while read l; do echo out-$l; echo err-$l >&2; done'"
    with spawn_remoterepl(["-T", embedded_env.user_alias, command], embedded_env.env) as term:
        term.wait_for_screen(">")
        term.sendline("x")
        term.wait_for_screen(lambda s: "out-x" in s and "err-x" in s)
        assert "\x1b[31merr-x" in term.transcript_text()
        assert "\x1b[31mout-x" not in term.transcript_text()
        term.sendcontrol("d")
        assert term.wait_exit() == 0


def test_server_gone_mid_session_restores_terminal(
    embedded_factory: EmbeddedFactory, embedded_env_factory: ClientEnvFactory, tmp_path: Path
) -> None:
    """The server process (the shell's parent) dies: a one-line message, 255, the terminal
    as it was."""
    env = embedded_env_factory(embedded_factory())
    record = tmp_path / "stty"
    with Terminal(with_stty_record([env.user_alias], record), env=env.env) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=15)
        term.sendline("echo before-the-end; echo PID=$PPID; sleep 60")
        screen = term.wait_for_screen(lambda s: re.search(r"PID=\d+", s) is not None)
        pid = int(re.findall(r"PID=(\d+)", screen)[-1])
        assert process_exists(pid)
        os.kill(pid, signal.SIGKILL)
        screen = term.wait_for_screen("RC=", timeout=15)
        assert "RC=255" in screen
        assert "before-the-end" in screen
        assert re.search(r"remoterepl: connection to .* lost", screen), screen
        assert "Traceback" not in term.transcript_text()
    assert_terminal_restored(record)


def test_output_lines_start_at_the_left_edge_with_or_without_a_remote_pty(
    embedded_env: ClientEnv,
) -> None:
    """Output is painted with the terminal's OPOST off (fast floods, as ssh -t): bare
    newlines from a remote without a PTY still start a new line at the left edge, a burst
    of lines arrives whole, and the editor's own lines (the echoed input) are not skewed."""
    command = "sh -c 'while read n; do seq 1 $n | sed s/^/line-/; done'"
    for flags in (["-T"], ["-t"]):
        with spawn_remoterepl([*flags, embedded_env.user_alias, command], embedded_env.env) as term:
            term.wait_for_screen(">")
            term.sendline("300")
            screen = term.wait_for_screen("line-300")
            lines = term.screen_lines()
            shown = [line.rstrip() for line in lines if line.startswith("line-")]
            assert shown[-1] == "line-300", screen
            assert shown == [f"line-{i}" for i in range(301 - len(shown), 301)], screen
            assert not any("line-" in line and not line.startswith("line-") for line in lines)
            term.sendcontrol("d")
            assert term.wait_exit() == 0


def test_terminal_output_processing_is_back_after_a_flood(
    embedded_env: ClientEnv, tmp_path: Path
) -> None:
    """OPOST is switched off only while output is painted: after a flood and the exit,
    the terminal's modes are exactly as before (stty -g), and the shell's own output
    afterwards is not staircased."""
    record = tmp_path / "stty"
    argv = with_stty_record([embedded_env.user_alias, "sh"], record)
    with Terminal(argv, env=embedded_env.env) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=20)
        term.sendline("seq 1 20000")
        term.wait_for_screen(lambda s: "20000" in s and shell_prompt_shown(s), timeout=30)
        # The pty's modes, read through its master side while the editor runs.
        assert termios.tcgetattr(term.child.child_fd)[1] & termios.OPOST
        term.sendline("exit")
        screen = term.wait_for_screen("RC=0", timeout=20)
        assert any(line.startswith("RC=0") for line in term.screen_lines()), screen
    assert_terminal_restored(record)
