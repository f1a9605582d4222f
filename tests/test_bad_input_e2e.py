"""Bad input through the installed binary: the wiring of test_bad_input.py's findings --
exit status 2 with ``remoterepl: ...`` and the usage line (or one warning and the run goes
on), never a traceback, nothing run that the input tried to smuggle in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.client import assert_one_line_error, run_remoterepl, stderr_lines
from tests.client_env import ClientEnv

OK = "echo RAN"


def assert_usage(stderr: bytes) -> str:
    """``remoterepl: ...`` then the usage line, nothing else; returns the first line."""
    text = stderr.decode("utf-8", "replace")
    assert "Traceback" not in text and "\x1b" not in text, text
    lines = stderr_lines(stderr)
    assert len(lines) == 2 and lines[1].startswith("usage: remoterepl"), text
    assert lines[0].startswith("remoterepl: "), text
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["ssh://[::1", "true"], "Invalid IPv6 URL"),
        (["-J", "ssh://[::1", "h", "true"], "bad jump host 'ssh://[::1'"),
        (["-J", "", "h", "true"], "bad jump host ''"),
        (["-o", "Port=99999", "h", "true"], "bad port"),
        (["-o", "ConnectTimeout=-5", "h", "true"], "invalid time value"),
        (["-o", "Frobnicate=yes", "h", "true"], "unknown keyword 'Frobnicate'"),
        (["-o", "ForwardX11=yes", "h", "true"], "ForwardX11 is not implemented"),
        (["-o", "LocalForward=1234:h:22", "h", "true"], "missing target argument"),
        (["h\x1b]0;title\x07", "true"], "may not contain '\\e'"),
    ],
)
def test_bad_command_lines(embedded_env: ClientEnv, args: list[str], expected: str) -> None:
    """Each refused before anything is read or connected: status 2, two lines."""
    proc = run_remoterepl(args, env=embedded_env.env, timeout=30)
    assert proc.returncode == 2 and proc.stdout == b"", proc.stderr
    assert expected in assert_usage(proc.stderr)


def test_option_injection_through_the_destination_runs_nothing(
    embedded_env: ClientEnv, tmp_path: Path
) -> None:
    """``remoterepl -- -oProxyCommand=CMD x``, a ``$(CMD)`` host with a ProxyCommand that
    uses %h, and a HostName starting with '-': refused, CMD never runs."""
    marker = tmp_path / "pwned"
    command = f"touch {marker}"
    config = tmp_path / "config"
    config.write_text(
        "Host via-nc\n  ProxyCommand sh -c 'echo %h' \nHost bad-name\n  HostName -oProxyCommand=x\n"
    )
    for args in (
        ["--", f"-oProxyCommand={command}", "x", OK],
        ["-F", str(config), f"$({command})", OK],
        ["-F", str(config), "-J", f"a,`{command}`", "via-nc", OK],
    ):
        proc = run_remoterepl(args, env=embedded_env.env, timeout=30)
        assert proc.returncode == 2, proc.stderr
        assert "may not" in assert_usage(proc.stderr)
    proc = run_remoterepl(["-F", str(config), "bad-name", OK], env=embedded_env.env, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert "bad HostName '-oProxyCommand=x'" in assert_one_line_error(proc.stderr)
    assert not marker.exists()


def test_password_file_fifo_does_not_hang(embedded_env: ClientEnv, tmp_path: Path) -> None:
    """A FIFO as --password-file used to block for good (SIGINT ignored): refused at once."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = run_remoterepl(
        ["--password-file", str(fifo), embedded_env.password_alias, OK],
        env=embedded_env.env,
        timeout=20,
    )
    assert proc.returncode == 2, proc.stderr
    assert "is a FIFO, not a regular file" in assert_one_line_error(proc.stderr)


def test_stdout_to_a_directory(embedded_env: ClientEnv, tmp_path: Path) -> None:
    """--stdout DIR: one line naming it, status 2; the remote command never ran."""
    proc = run_remoterepl(
        ["--stdout", str(tmp_path), embedded_env.user_alias, OK], env=embedded_env.env, timeout=30
    )
    assert proc.returncode == 2 and proc.stdout == b"", proc.stderr
    line = assert_one_line_error(proc.stderr)
    assert f"--stdout file '{tmp_path}'" in line and "Is a directory" in line, line


def test_unusable_identity_files_are_warned_about_and_skipped(
    embedded_env: ClientEnv, tmp_path: Path
) -> None:
    """-i garbage and -i missing: ssh's warning for each, then the configured key logs in."""
    garbage = tmp_path / "garbage_key"
    garbage.write_text("this is not a key\n")
    garbage.chmod(0o600)
    missing = tmp_path / "missing_key"
    proc = run_remoterepl(
        ["-i", str(garbage), "-i", str(missing), embedded_env.user_alias, OK],
        env=embedded_env.env,
        timeout=30,
    )
    assert (proc.returncode, proc.stdout) == (0, b"RAN\n"), proc.stderr
    assert stderr_lines(proc.stderr) == [
        f'Load key "{garbage}": invalid format',
        f"Warning: identity file {missing} not accessible: No such file or directory.",
    ]


def test_broken_known_hosts_lines_are_skipped(embedded_env: ClientEnv) -> None:
    """Garbage lines around the good one: skipped, as ssh skips them; the host is known."""
    path = embedded_env.known_hosts_path
    good = path.read_text()
    path.write_text(
        "garbage\n@revoked\n|1|bad|hash ssh-ed25519 AAAA\n[127.0.0.1 ssh-rsa !!!\n\x00\x01\n"
        + good
        + "127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI\n"
    )
    proc = run_remoterepl(
        ["-o", "StrictHostKeyChecking=yes", embedded_env.user_alias, OK],
        env=embedded_env.env,
        timeout=30,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"RAN\n", b"")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Include ~/.ssh/config\n", "line 1: more than 16 nested Include files"),
        ("Host *\n  Frobnicate yes\n", "line 2: unknown keyword 'Frobnicate'"),
        (
            "IdentityFile ~nosuchuser4711/key\n",
            "line 1: IdentityFile ~nosuchuser4711/key: no such user",
        ),
    ],
    ids=["includes-itself", "unknown-keyword", "unknown-user"],
)
def test_broken_user_config(embedded_env: ClientEnv, text: str, expected: str) -> None:
    """~/.ssh/config that OpenSSH refuses: one line naming it and the line, status 2."""
    config = embedded_env.config_path
    config.write_text(text + config.read_text())
    proc = run_remoterepl([embedded_env.user_alias, OK], env=embedded_env.env, timeout=30)
    assert proc.returncode == 2 and proc.stdout == b"", proc.stderr
    line = assert_one_line_error(proc.stderr)
    assert f"bad ssh config: {config} {expected}" in line, line


def test_unimplemented_feature_in_the_config_is_one_warning(embedded_env: ClientEnv) -> None:
    """ForwardX11 in the host's block: the session runs, with one warning saying it is
    ignored (no X11 forwarding)."""
    config = embedded_env.config_path
    config.write_text(f"Host {embedded_env.user_alias}\n  ForwardX11 yes\n" + config.read_text())
    proc = run_remoterepl([embedded_env.user_alias, OK], env=embedded_env.env, timeout=30)
    assert (proc.returncode, proc.stdout) == (0, b"RAN\n"), proc.stderr
    assert stderr_lines(proc.stderr) == [
        "Warning: ForwardX11 yes: not implemented by remoterepl, ignored"
    ]
