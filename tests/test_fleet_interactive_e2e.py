"""Many hosts at once, interactive: the installed remoterepl with --hosts in a real pty, the
screen read as a person reads it (pyte), against a real sshd and the embedded server.

Contract (README, "Many hosts"): the line editor as for one host; each accepted line goes
to every live host and each host's answer comes labelled (or gathered per line); Ctrl-C
interrupts the work on every host and the session goes on; Ctrl-D ends every host's input;
``~h`` lists the hosts and drops or adds one again; the toolbar counts live, done and
failed hosts.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.client import Terminal, client_pid, spawn_remoterepl, with_stty_record
from tests.client_env import ClientEnv
from tests.system import free_port


def _labelled(screen: str, host: str, text: str) -> bool:
    return any(line.rstrip() == f"{host}: {text}" for line in screen.splitlines())


def test_both_hosts_answer_ctrl_c_stops_both_ctrl_d_ends(fleet_env: ClientEnv) -> None:
    """bc on bar and barroot (root: OpenSSH ignores its signal requests, the PTY's ^C
    reaches it all the same): both answer, Ctrl-C stops an endless loop on both and the
    session goes on, Ctrl-D ends it with status 0."""
    with spawn_remoterepl(["--hosts", "bar,barroot", "bc"], env=fleet_env.env) as term:
        term.wait_for_screen("2 live")
        term.sendline("2+2")
        screen = term.wait_for_screen(
            lambda s: _labelled(s, "barroot", "4") and _labelled(s, "bar    ", "4")
        )
        assert "bc> 2+2" in screen
        term.sendline("while (1) { }")
        time.sleep(0.5)  # both loops run
        term.sendcontrol("c")
        term.wait_for_screen(
            lambda s: (
                _labelled(s, "bar    ", "interrupted execution.")
                and _labelled(s, "barroot", "interrupted execution.")
            )
        )
        term.sendline("6*7")
        term.wait_for_screen(
            lambda s: _labelled(s, "barroot", "42") and _labelled(s, "bar    ", "42")
        )
        term.sendcontrol("d")
        assert term.wait_exit() == 0
        assert "did not exit 0" not in term.screen_text()


def test_toolbar_counts_and_failed_host(fleet_env: ClientEnv) -> None:
    """A host that refuses the connection: named once above the prompt, counted as
    failed in the toolbar; the others go on; the end's status is 255 with the table."""
    config = fleet_env.config_path
    config.write_text(
        f"Host dead\n    HostName 127.0.0.1\n    Port {free_port()}\n\n" + config.read_text()
    )
    with spawn_remoterepl(["--hosts", "bar,dead,bar2", "bc"], env=fleet_env.env) as term:
        screen = term.wait_for_screen("2 live │ 0 done │ 1 failed")
        assert sum("remoterepl: dead: " in line for line in screen.splitlines()) == 1, screen
        term.sendline("1+2")
        term.wait_for_screen(lambda s: _labelled(s, "bar ", "3") and _labelled(s, "bar2", "3"))
        term.sendline("quit")
        assert term.wait_exit() == 255
        screen = term.screen_text()
        assert "1 of 3 hosts did not exit 0" in screen, screen


def test_drop_and_add_again(fleet_env: ClientEnv) -> None:
    """``~h`` lists the hosts with their state; ``-bar2`` drops it (it gets no more lines),
    ``+bar2`` connects it again (a fresh bc: its variables are gone)."""
    with spawn_remoterepl(["--hosts", "bar,bar2", "bc"], env=fleet_env.env) as term:
        term.wait_for_screen("2 live")
        term.sendline("x = 5")
        term.send("~h")
        screen = term.wait_for_screen("hosts (-NAME drops")
        assert any(line.split() == ["bar2", "live"] for line in screen.splitlines()), screen
        term.sendline("-bar2")
        term.wait_for_screen("[dropped bar2]")
        term.wait_for_screen("1 live")
        term.sendline("x + 1")
        term.wait_for_screen(lambda s: _labelled(s, "bar ", "6"))
        term.send("~h")
        term.wait_for_screen("hosts (-NAME drops")
        term.sendline("+bar2")
        term.wait_for_screen("2 live")
        term.sendline("x + 2")
        screen = term.wait_for_screen(
            lambda s: _labelled(s, "bar ", "7") and _labelled(s, "bar2", "2")
        )
        assert not _labelled(screen, "bar2", "6"), screen  # the line sent while dropped
        term.sendcontrol("d")
        assert term.wait_exit() == 0


def test_gather_per_line_does_not_wait_for_a_slow_host(fleet_env: ClientEnv) -> None:
    """--gather: the same answer once under both names; a host that takes long does not
    hold the others' answer back: it comes as its own group when it is ready."""
    with spawn_remoterepl(["--hosts", "bar,bar2", "--gather", "sh"], env=fleet_env.env) as term:
        term.wait_for_screen("2 live")
        term.sendline("echo same")
        screen = term.wait_for_screen("bar,bar2 (2)")
        assert [line.rstrip() for line in screen.splitlines()].count("same") == 1, screen
        term.sendline('case "$LC_RRHOST" in bar2) sleep 4;; esac; echo "late $LC_RRHOST"')
        screen = term.wait_for_screen("late bar")
        assert "bar (1)" in screen and "late bar2" not in screen, screen
        screen = term.wait_for_screen("late bar2", timeout=15)
        assert "bar2 (1)" in screen, screen
        term.sendcontrol("d")
        assert term.wait_exit(timeout=20) == 0


def test_escape_help_lists_the_hosts_escape(fleet_env: ClientEnv) -> None:
    """``~?`` lists the escapes, ``~h`` among them; ``~.`` leaves every host: 255."""
    with spawn_remoterepl(["--hosts", "bar,bar2", "bc"], env=fleet_env.env) as term:
        term.wait_for_screen("2 live")
        term.send("~?")
        term.wait_for_screen("~h  list the hosts")
        term.send("~.")
        assert term.wait_exit() == 255


def test_window_size_followed_on_every_host(fleet_env: ClientEnv) -> None:
    """Each host's terminal starts at the window's size and follows when it changes."""
    with spawn_remoterepl(
        ["--hosts", "bar,bar2", "sh"], env=fleet_env.env, rows=30, cols=90
    ) as term:
        term.wait_for_screen("2 live")
        term.sendline("stty size")
        term.wait_for_screen(
            lambda s: _labelled(s, "bar ", "30 90") and _labelled(s, "bar2", "30 90")
        )
        term.resize(40, 100)
        time.sleep(0.3)
        term.sendline("stty size")
        term.wait_for_screen(
            lambda s: _labelled(s, "bar ", "40 100") and _labelled(s, "bar2", "40 100")
        )
        term.sendline("exit")
        assert term.wait_exit() == 0


def test_sigterm_restores_the_terminal(fleet_env: ClientEnv, tmp_path: Path) -> None:
    """``kill -TERM`` of an interactive fleet run: the terminal's modes as before, 143,
    one line, no traceback."""
    record = tmp_path / "stty"
    args = with_stty_record(["--hosts", "bar,bar2", "bc"], record)
    with Terminal(args, env=fleet_env.env) as term:
        pid = client_pid(term)
        term.wait_for_screen("2 live")
        os.kill(pid, signal.SIGTERM)
        screen = term.wait_for_screen("RC=", timeout=20)
        term.wait_exit()
    assert "RC=143" in screen and "remoterepl: stopped by SIGTERM" in screen, screen
    assert "Traceback" not in screen, screen
    before, after = record.read_text().split()
    assert before == after
