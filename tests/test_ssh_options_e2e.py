"""ssh's options and keywords as an ssh user types them: -G, -4/-6, -C, -E, -n, RemoteCommand,
RequestTTY, SendEnv/SetEnv and EscapeChar from ssh_config, and the ssh flags remoterepl
refuses -- run through the installed command, against the embedded server and a real sshd."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.client import assert_one_line_error, run_remoterepl, spawn_remoterepl, stderr_lines
from tests.client_env import ClientEnv, Login

pytestmark = pytest.mark.timeout(120)


def _prepend_config(env: ClientEnv, text: str) -> Path:
    """Put ``text`` in front of the client's ~/.ssh/config (first value wins)."""
    config = env.config_path
    config.write_text(text + config.read_text())
    return config


def _config_map(output: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in output.splitlines():
        keyword, _, value = line.partition(" ")
        values.setdefault(keyword, []).append(value)
    return values


# --------------------------------------------------------------------------- -G


def test_print_config_names_what_the_run_would_use(
    embedded_env: ClientEnv, silent_listener: int
) -> None:
    """-G: one ``keyword value`` line each, lowercase, host/user/hostname/port first, with
    -o and the short flags winning over the file, and nothing connected (the port given is
    a listener that never answers: a connection attempt would hang)."""
    key = embedded_env.home / "extra_key"
    _prepend_config(
        embedded_env,
        f"Host shown\n  HostName 127.0.0.1\n  User alice\n  Port {silent_listener}\n"
        "  ProxyJump gw.example\n  StrictHostKeyChecking accept-new\n"
        f"  UserKnownHostsFile {embedded_env.home}/kh1 {embedded_env.home}/kh2\n"
        f"  IdentityFile {key}\n  RemoteCommand bc -q\n  EscapeChar ^]\n"
        "  SendEnv LC_RRONE\n  SetEnv LC_RRSET=1\n",
    )
    started = time.monotonic()
    proc = run_remoterepl(
        ["-G", "-C", "-4", "-o", "User=bob", "shown"], env=embedded_env.env, timeout=20
    )
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 10
    lines = proc.stdout.decode().splitlines()
    assert lines[:4] == [
        "host shown",
        "user bob",
        "hostname 127.0.0.1",
        f"port {silent_listener}",
    ]
    assert all(re.fullmatch(r"[a-z0-9]+ \S.*", line) for line in lines), lines
    values = _config_map(proc.stdout.decode())
    assert values["proxyjump"] == ["gw.example"]
    assert values["stricthostkeychecking"] == ["accept-new"]
    assert values["userknownhostsfile"] == [f"{embedded_env.home}/kh1 {embedded_env.home}/kh2"]
    assert values["identityfile"] == [str(key)]
    assert values["remotecommand"] == ["bc -q"]
    assert values["escapechar"] == ["^]"]
    assert values["compression"] == ["yes"]
    assert values["addressfamily"] == ["inet"]
    assert "LC_RRONE" in values["sendenv"] and values["setenv"] == ["LC_RRSET=1"]
    assert values["connecttimeout"] == ["30"]  # remoterepl's default, where ssh has none


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs OpenSSH's ssh")
def test_print_config_agrees_with_ssh_g(embedded_env: ClientEnv) -> None:
    """The keywords both print: the same values as OpenSSH's own ``ssh -G`` for the same
    config file and options (file names absolute: ssh expands ``~`` from the password
    database, remoterepl from HOME)."""
    _prepend_config(
        embedded_env,
        "Host agree\n  HostName 127.0.0.2\n  User carol\n  Port 2200\n  ProxyJump hop1,hop2\n"
        "  StrictHostKeyChecking yes\n  RequestTTY force\n  BatchMode yes\n"
        f"  RemoteCommand echo hi\n  UserKnownHostsFile {embedded_env.home}/kh\n",
    )
    args = ["-F", str(embedded_env.config_path), "-G", "-6", "-e", "%", "-o", "Port=2201", "agree"]
    ours = run_remoterepl(args, env=embedded_env.env, timeout=20)
    theirs = subprocess.run(["ssh", *args], env=embedded_env.env, capture_output=True, timeout=20)
    assert ours.returncode == theirs.returncode == 0, (ours.stderr, theirs.stderr)
    mine, ssh = _config_map(ours.stdout.decode()), _config_map(theirs.stdout.decode())
    compared = [
        "host",
        "hostname",
        "user",
        "port",
        "proxyjump",
        "stricthostkeychecking",
        "requesttty",
        "batchmode",
        "remotecommand",
        "escapechar",
        "addressfamily",
        "userknownhostsfile",
    ]
    assert {k: mine.get(k) for k in compared} == {k: ssh.get(k) for k in compared}


def test_print_config_refuses_a_bad_config_like_a_run(embedded_env: ClientEnv) -> None:
    """-G reads the files a run reads: a bad EscapeChar is one line naming file and line."""
    config = _prepend_config(embedded_env, "Host bad-escape\n  EscapeChar xy\n")
    proc = run_remoterepl(["-G", "bad-escape"], env=embedded_env.env, timeout=20)
    assert proc.returncode == 2 and proc.stdout == b""
    line = assert_one_line_error(proc.stderr)
    assert f"{config} line 2: EscapeChar xy: bad escape character" in line, line


# --------------------------------------------------------------------------- RemoteCommand


def test_remote_command_from_the_config_runs(embedded_env: ClientEnv) -> None:
    """RemoteCommand in the host's block runs instead of the login shell (pipe mode)."""
    _prepend_config(embedded_env, f"Host {embedded_env.user_alias}\n  RemoteCommand echo from-%n\n")
    proc = run_remoterepl([embedded_env.user_alias], env=embedded_env.env, timeout=30)
    assert (proc.returncode, proc.stdout) == (0, f"from-{embedded_env.user_alias}\n".encode())


def test_remote_command_and_a_command_line_command_are_refused(embedded_env: ClientEnv) -> None:
    """Both a RemoteCommand and COMMAND: ssh's own refusal, before anything is sent."""
    _prepend_config(embedded_env, f"Host {embedded_env.user_alias}\n  RemoteCommand echo no\n")
    proc = run_remoterepl([embedded_env.user_alias, "echo", "yes"], env=embedded_env.env)
    assert proc.returncode == 2 and proc.stdout == b""
    line = assert_one_line_error(proc.stderr)
    assert line == "remoterepl: Cannot execute command-line and remote command."


def test_remote_command_sets_the_editor_up_for_its_program(embedded_env: ClientEnv) -> None:
    """RemoteCommand bc in a terminal: the editor knows it runs bc (its prompt says so)."""
    _prepend_config(embedded_env, f"Host {embedded_env.user_alias}\n  RemoteCommand bc\n")
    with spawn_remoterepl([embedded_env.user_alias], embedded_env.env) as term:
        term.wait_for_screen("bc>")
        term.sendline("6*7")
        term.wait_for_screen("\n42")
        term.sendcontrol("d")
        assert term.wait_exit() == 0


# --------------------------------------------------------------------------- RequestTTY


@pytest.mark.parametrize(
    ("request_tty", "flags", "want_pty"),
    [("force", [], True), ("yes", [], False), ("force", ["-T"], False), ("no", ["-t"], True)],
    ids=["force", "yes-needs-a-terminal", "T-beats-force", "t-beats-no"],
)
def test_request_tty_in_pipe_mode(
    login: Login, request_tty: str, flags: list[str], want_pty: bool
) -> None:
    """RequestTTY from ssh_config, as ssh reads it in a pipe: ``force`` allocates a PTY,
    ``yes`` only for a terminal; -t/-T on the command line win either way."""
    env = login.env
    _prepend_config(env, f"Host {login.alias}\n  RequestTTY {request_tty}\n")
    proc = run_remoterepl([*flags, login.alias, "tty"], env=env.env, timeout=30)
    out = proc.stdout.decode()
    if want_pty:
        assert proc.returncode == 0 and out.startswith("/dev/"), (out, proc.stderr)
    else:
        assert proc.returncode == 1 and "not a tty" in out, (out, proc.stderr)


# --------------------------------------------------------------------------- SendEnv / SetEnv


def test_send_env_and_set_env_reach_the_remote(login: Login) -> None:
    """SendEnv passes a local variable, SetEnv sets one (the real sshd accepts LC_*, as
    Debian's does), from the config file and from -o alike."""
    env = login.env
    _prepend_config(env, f"Host {login.alias}\n  SendEnv LC_RRSENT\n  SetEnv LC_RRSET=from-file\n")
    run_env = {**env.env, "LC_RRSENT": "sent-value", "LC_RRNOT": "kept-here"}
    script = 'echo "$LC_RRSENT/$LC_RRSET/$LC_RROPT/${LC_RRNOT-unset}"'
    # -F: only this file (the system one may send every LC_* variable, as Debian's does)
    config = ["-F", str(env.config_path)]
    proc = run_remoterepl(
        [*config, "-o", "SetEnv=LC_RROPT=from-o", login.alias, script], env=run_env, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    # SetEnv from -o comes first and wins over the file's SetEnv as a whole, as in ssh.
    assert proc.stdout == b"sent-value//from-o/unset\n"


# --------------------------------------------------------------------------- -4 / -6 / -C


def test_address_family_flags(embedded_env: ClientEnv) -> None:
    """-4 reaches the IPv4 loopback server by name; -6 looks only for IPv6 addresses
    (``127.0.0.1`` has none): one line, 255."""
    _prepend_config(embedded_env, f"Host {embedded_env.user_alias}\n  HostName 127.0.0.1\n")
    ok = run_remoterepl(["-4", embedded_env.user_alias, "echo v4"], env=embedded_env.env)
    assert (ok.returncode, ok.stdout) == (0, b"v4\n"), ok.stderr
    bad = run_remoterepl(["-6", embedded_env.user_alias, "echo v6"], env=embedded_env.env)
    assert bad.returncode == 255 and bad.stdout == b""
    assert_one_line_error(bad.stderr)


def test_compression_is_negotiated(client_env: ClientEnv) -> None:
    """-C: zlib compression is negotiated with the real sshd (-vvv shows the algorithm
    chosen each way; without -C: none), the output byte-exact either way."""
    for flags, expected in ((["-C"], "zlib@openssh.com"), ([], "none")):
        proc = run_remoterepl(
            [*flags, "-vvv", client_env.user_alias, "seq 1 2000"], env=client_env.env, timeout=30
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "".join(f"{i}\n" for i in range(1, 2001)).encode()
        chosen = re.findall(rb"Compression alg: b?'?([\w@.]+)", proc.stderr)
        assert [c.decode() for c in chosen] == [expected, expected], proc.stderr[-2000:]


# --------------------------------------------------------------------------- -E, -n


def test_log_file_takes_the_diagnostics(embedded_env: ClientEnv, tmp_path: Path) -> None:
    """-E FILE -v: the debug lines are appended to FILE; stderr stays clean; the output is
    untouched. An unwritable FILE is a usage error."""
    log = tmp_path / "ssh.log"
    log.write_text("earlier\n")
    proc = run_remoterepl(
        ["-v", "-E", str(log), embedded_env.user_alias, "echo out"], env=embedded_env.env
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"out\n", b"")
    text = log.read_text()
    assert text.startswith("earlier\n") and "debug1: connecting to" in text, text
    bad = run_remoterepl(
        ["-v", "-E", str(tmp_path / "no" / "dir"), embedded_env.user_alias, "true"],
        env=embedded_env.env,
    )
    assert bad.returncode == 2
    assert "can't open log file" in assert_one_line_error(bad.stderr)


def test_n_reads_nothing_from_stdin(embedded_env: ClientEnv) -> None:
    """-n: the remote's stdin is /dev/null (what we were piped is not sent)."""
    proc = run_remoterepl(
        ["-n", embedded_env.user_alias, "wc -c"], env=embedded_env.env, input=b"not sent\n"
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, b"0"), proc.stderr


# --------------------------------------------------------------------------- refused flags


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-X"], "X11 forwarding (-X) is not implemented by remoterepl"),
        (["-y"], "logging to syslog (-y) is not implemented by remoterepl"),
        (["-W", "h:22"], "stdio forwarding (-W) is not implemented by remoterepl"),
        (["-S", "/tmp/sock"], "connection sharing (-S, ControlPath) is not implemented"),
        (["-n", "--stdin", "/dev/null"], "-n and --stdin both say"),
    ],
    ids=["X", "y", "W", "S", "n-and-stdin"],
)
def test_ssh_flags_remoterepl_refuses(
    embedded_env: ClientEnv, args: list[str], expected: str
) -> None:
    """An ssh flag remoterepl does not implement: one line saying so, 2, nothing sent."""
    proc = run_remoterepl([*args, embedded_env.user_alias, "true"], env=embedded_env.env)
    assert proc.returncode == 2 and proc.stdout == b""
    assert expected in stderr_lines(proc.stderr)[0]


# --------------------------------------------------------------------------- EscapeChar


def test_escape_char_from_the_config_file(embedded_env: ClientEnv) -> None:
    """EscapeChar in the host's block: ``^].`` disconnects, ``~.`` is an ordinary line."""
    _prepend_config(embedded_env, f"Host {embedded_env.user_alias}\n  EscapeChar ^]\n")
    with spawn_remoterepl([embedded_env.user_alias, "cat"], embedded_env.env) as term:
        term.wait_for_screen("cat>")
        term.sendline("~.")
        term.wait_for_screen("\n~.")  # cat echoed it back: it was a line, not an escape
        term.send("\x1d.")
        screen = term.wait_for_screen("closed (")
        assert term.wait_exit() == 255
        assert "closed (^].)" in screen, screen


def test_dash_e_wins_over_the_config_file(embedded_env: ClientEnv) -> None:
    """-e on the command line beats the host's EscapeChar (raw mode too: no editor)."""
    _prepend_config(embedded_env, f"Host {embedded_env.user_alias}\n  EscapeChar ^]\n")
    with spawn_remoterepl(
        ["--raw", "-e", "%", embedded_env.user_alias, "cat"], embedded_env.env
    ) as term:
        time.sleep(0.5)
        term.send("\r%.")
        screen = term.wait_for_screen("closed (")
        assert term.wait_exit() == 255
        assert "closed (%.)" in screen, screen
