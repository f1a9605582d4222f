"""--stdin/--stdout/--stderr/--append and stream merges, end to end on the embedded server."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.client import run_remoterepl, spawn_remoterepl
from tests.client_env import ClientEnv

OUT_AND_ERR = "echo out-1; echo err-1 >&2; echo out-2; echo err-2 >&2"


def sha256(path: Path) -> str:
    """Hex digest of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_binary_stdin_and_stdout_files(embedded_env: ClientEnv, tmp_path: Path) -> None:
    """--stdin FILE through remote cat into --stdout FILE: the same bytes (8 MiB random)."""
    source, target = tmp_path / "in.bin", tmp_path / "out.bin"
    source.write_bytes(os.urandom(8 * 1024 * 1024) + bytes(range(256)))
    proc = run_remoterepl(
        ["--stdin", str(source), "--stdout", str(target), embedded_env.user_alias, "cat"],
        env=embedded_env.env,
        input=None,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert sha256(target) == sha256(source)


def test_stdout_and_stderr_files_and_append(embedded_env: ClientEnv, tmp_path: Path) -> None:
    """Each stream to its own file; --append adds instead of truncating."""
    out, err = tmp_path / "out", tmp_path / "err"
    args = ["--stdout", str(out), "--stderr", str(err), embedded_env.user_alias, OUT_AND_ERR]
    assert run_remoterepl(args, env=embedded_env.env).returncode == 0
    assert (out.read_text(), err.read_text()) == ("out-1\nout-2\n", "err-1\nerr-2\n")
    assert run_remoterepl(["--append", *args], env=embedded_env.env).returncode == 0
    assert out.read_text() == "out-1\nout-2\n" * 2
    assert run_remoterepl(args, env=embedded_env.env).returncode == 0
    assert out.read_text() == "out-1\nout-2\n"


def test_stderr_to_stdout_merges_both_streams(embedded_env: ClientEnv) -> None:
    """--stderr-to-stdout (2>&1): everything on our stdout, each stream in its own order.

    (sshd reads the remote's stdout and stderr from two pipes, so how the two interleave
    is decided on the server; within each stream the order is kept.)"""
    proc = run_remoterepl(
        ["--stderr-to-stdout", embedded_env.user_alias, OUT_AND_ERR], env=embedded_env.env
    )
    assert (proc.returncode, proc.stderr) == (0, b"")
    lines = proc.stdout.decode().split()
    assert sorted(lines) == ["err-1", "err-2", "out-1", "out-2"]
    assert lines.index("out-1") < lines.index("out-2")
    assert lines.index("err-1") < lines.index("err-2")


def test_stdout_to_stderr(embedded_env: ClientEnv, tmp_path: Path) -> None:
    """--stdout-to-stderr (1>&2): both streams where stderr goes (here a file)."""
    err = tmp_path / "err"
    proc = run_remoterepl(
        ["--stdout-to-stderr", "--stderr", str(err), embedded_env.user_alias, OUT_AND_ERR],
        env=embedded_env.env,
    )
    assert (proc.returncode, proc.stdout) == (0, b"")
    assert sorted(err.read_text().split()) == ["err-1", "err-2", "out-1", "out-2"]


def test_bad_redirection_file_is_a_clear_error(embedded_env: ClientEnv, tmp_path: Path) -> None:
    """A --stdin file that does not exist: one line naming it, exit 2, nothing run."""
    missing = tmp_path / "missing"
    proc = run_remoterepl(
        ["--stdin", str(missing), embedded_env.user_alias, "cat"], env=embedded_env.env
    )
    assert proc.returncode == 2
    assert str(missing) in proc.stderr.decode()
    assert b"Traceback" not in proc.stderr


def test_interactive_output_to_a_file_keeps_the_prompt(
    embedded_env: ClientEnv, tmp_path: Path
) -> None:
    """Interactive with --stdout FILE: the user types at the prompt, results go to FILE."""
    out = tmp_path / "results"
    args = ["-T", "--stdout", str(out), embedded_env.user_alias, "bc"]
    with spawn_remoterepl(args, embedded_env.env) as term:
        term.wait_for_screen("bc>")
        term.sendline("6*7")
        term.sendline("2^20")
        term.wait_for_screen("2^20")
        term.sendcontrol("d")
        assert term.wait_exit() == 0
        assert "42" not in term.screen_text()
    assert out.read_text() == "42\n1048576\n"
