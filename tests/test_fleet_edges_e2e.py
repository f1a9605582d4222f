"""Many hosts at once, the edges: a host still connecting when the user drops it, signals or
Ctrl-C come; leaving with ``~.``; a password prompt common to all hosts; remote output that
tries to act on our terminal; a stdout that is non-blocking; --gather's last answer.

The slow host is an ssh_config alias whose ProxyCommand waits before it connects.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.client import remoterepl_command, run_remoterepl, spawn_remoterepl, stderr_lines
from tests.client_env import ClientEnv
from tests.fleet_hosts import add_host_aliases

SLOW_SECONDS = 3


def _add_slow_host(env: ClientEnv) -> None:
    """``slow``: the key user, reached after SLOW_SECONDS through a ProxyCommand."""
    proxy = f"ProxyCommand sh -c 'sleep {SLOW_SECONDS}; exec socat - TCP:%h:%p'"
    add_host_aliases(env, ["slow"], extra=[proxy, "SetEnv LC_RRHOST=slow"])


def _labelled(screen: str, host: str, text: str) -> bool:
    return any(line.rstrip() == f"{host}: {text}" for line in screen.splitlines())


def test_drop_while_connecting_then_leave(fleet_env: ClientEnv) -> None:
    """``-slow`` while it connects: it never starts (still dropped once it could have
    connected), and ``~.`` leaves at once, with no per-host "lost" lines."""
    _add_slow_host(fleet_env)
    with spawn_remoterepl(["--hosts", "bar,slow", "bc"], env=fleet_env.env) as term:
        term.wait_for_screen("1 live │ 1 connecting")
        term.send("~h")
        term.wait_for_screen("hosts (-NAME drops")
        term.sendline("-slow")
        term.wait_for_screen("1 dropped")
        time.sleep(SLOW_SECONDS + 0.5)
        term.sendline("2+2")
        term.wait_for_screen(lambda s: _labelled(s, "bar ", "4"))
        screen = term.wait_for_screen("1 live │ 0 done │ 0 failed │ 1 dropped")
        assert not _labelled(screen, "slow", "4"), screen
        started = time.monotonic()
        term.send("~.")
        assert term.wait_exit(timeout=10) == 255
        assert time.monotonic() - started < 5
        screen = term.screen_text()
    assert "remoterepl: bar:" not in screen, screen  # leaving is no failure to report


def test_sigterm_while_hosts_connect_piped(fleet_env: ClientEnv) -> None:
    """SIGTERM while a host still connects (piped): it is stopped before it starts, the
    live host's command gets the signal, and the run ends at once with 143."""
    _add_slow_host(fleet_env)
    with subprocess.Popen(
        remoterepl_command(["--hosts", "bar,slow", "sleep", "20"]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=fleet_env.env,
        start_new_session=True,
    ) as proc:
        time.sleep(1.5)  # bar is live, slow still connecting
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - started
    assert proc.returncode == 143, err
    assert elapsed < SLOW_SECONDS + 2, elapsed
    rows = {line.split()[0]: line.split()[1] for line in stderr_lines(err) if line.startswith("  ")}
    assert rows.get("slow") == "143", err


def test_ctrl_c_drops_lines_queued_for_a_host_still_connecting(fleet_env: ClientEnv) -> None:
    """A loop sent while slow connects, then Ctrl-C: bar's loop stops, and slow, once
    connected, never runs the loop (it answers the next line)."""
    _add_slow_host(fleet_env)
    with spawn_remoterepl(["--hosts", "bar,slow", "bc"], env=fleet_env.env) as term:
        term.wait_for_screen("1 live │ 1 connecting")
        term.sendline("while (1) { }")
        time.sleep(0.3)
        term.sendcontrol("c")
        term.wait_for_screen("interrupted execution.")
        term.wait_for_screen("2 live", timeout=SLOW_SECONDS + 10)
        term.sendline("2+3")
        term.wait_for_screen(lambda s: _labelled(s, "slow", "5") and _labelled(s, "bar ", "5"))
        term.sendcontrol("d")
        assert term.wait_exit() == 0


def test_common_password_prompt_is_secret(fleet_env: ClientEnv) -> None:
    """Every host asks ``Password:``: it is the prompt, what is typed is neither shown nor
    kept in the history, and it reaches every host."""
    with spawn_remoterepl(["--hosts", "bar,bar2", "sh"], env=fleet_env.env) as term:
        term.wait_for_screen("2 live")
        term.sendline("printf 'Password: '; read -r pw; echo \"got ${#pw}\"")
        term.wait_for_screen("Password:")
        term.sendline("hunter2secret")
        screen = term.wait_for_screen(
            lambda s: _labelled(s, "bar ", "got 13") and _labelled(s, "bar2", "got 13")
        )
        assert "hunter2secret" not in screen, screen
        term.sendline("exit")
        assert term.wait_exit() == 0
    history = fleet_env.home / ".local" / "state" / "remoterepl" / "history"
    stored = "".join(p.read_text(errors="replace") for p in history.rglob("*") if p.is_file())
    assert "printf" in stored and "hunter2secret" not in stored


def test_remote_output_cannot_act_on_our_terminal(fleet_env: ClientEnv) -> None:
    """A clipboard write (OSC 52, with a C0 control inside), a title, a cursor move and a
    carriage-return overwrite of the label: none reaches our stdout; colours do, reset."""
    script = (
        r"printf 'a\033\002]52;c;aGk=\007b\n\033]0;title\007c\033[2Ad\n"
        r"x\rbar2: fake\n\033[31mred\n'"
    )
    proc = run_remoterepl(["--hosts", "bar", "sh", "-c", f'"{script}"'], env=fleet_env.env)
    assert proc.returncode == 0, proc.stderr
    assert (
        b"\x1b]" not in proc.stdout and b"\x07" not in proc.stdout and b"\x1b[2A" not in proc.stdout
    )
    lines = proc.stdout.split(b"\n")
    assert lines[2] == b"bar: bar2: fake", lines  # what was overwritten is gone, the label stays
    assert lines[3] == b"bar: \x1b[31mred\x1b[0m", lines


def test_nonblocking_stdout_loses_nothing(fleet_env: ClientEnv, tmp_path: Path) -> None:
    """Our stdout a non-blocking pipe read slowly: every line arrives."""
    read_fd, write_fd = os.pipe()
    flags = fcntl.fcntl(write_fd, fcntl.F_GETFL)
    fcntl.fcntl(write_fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    with subprocess.Popen(
        remoterepl_command(["--hosts", "bar", "seq", "1", "100000"]),
        stdin=subprocess.DEVNULL,
        stdout=write_fd,
        stderr=subprocess.PIPE,
        env=fleet_env.env,
        start_new_session=True,
    ) as proc:
        os.close(write_fd)
        chunks = []
        with os.fdopen(read_fd, "rb") as reader:
            time.sleep(1)  # the pipe fills up: writes would block
            while chunk := reader.read(65536):
                chunks.append(chunk)
        proc.wait(timeout=60)
    lines = b"".join(chunks).split(b"\n")
    assert proc.returncode == 0
    assert len(lines) == 100001 and lines[-2] == b"bar: 100000", lines[-3:]


def test_gather_interactive_last_answer_shown(fleet_env: ClientEnv) -> None:
    """--gather, the hosts' last words before they exit: shown, grouped, at the end."""
    with spawn_remoterepl(["--hosts", "bar,bar2", "--gather", "sh"], env=fleet_env.env) as term:
        term.wait_for_screen("2 live")
        term.sendline("echo bye; exit 3")
        assert term.wait_exit() == 3
        screen = term.screen_text()
    assert "bar,bar2 (2)" in screen and "bye" in screen, screen


def test_added_again_after_ctrl_d_gets_its_eof(fleet_env: ClientEnv) -> None:
    """Ctrl-D ended every host's input; ``+bar2`` afterwards (bar still finishing) starts a
    cat that gets its end of input too, so the run ends."""
    command = "'cat; [ \"$LC_RRHOST\" = bar ] && sleep 4; true'"
    with spawn_remoterepl(["--hosts", "bar,bar2", "sh", "-c", command], env=fleet_env.env) as term:
        term.wait_for_screen("2 live")
        term.send("~h")
        term.wait_for_screen("hosts (-NAME drops")
        term.sendline("-bar2")
        term.wait_for_screen("1 dropped")
        term.sendcontrol("d")
        term.send("~h")
        term.wait_for_screen("hosts (-NAME drops")
        term.sendline("+bar2")
        assert term.wait_exit(timeout=20) == 0
