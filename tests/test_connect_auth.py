"""Passwords and keyboard-interactive authentication, end to end (the embedded server;
real sshds for PAM and for what sshd logs).

Prompts appear on the controlling terminal (a real pty here, rendered with pyte) with echo
off, also in pipe mode; three tries; keyboard-interactive prompts in the server's words;
``--password-file`` and its permission check; without a terminal, one clear line and 255.
The password must never show up on the screen, in -v output or in an error message.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import asyncssh
import pytest

from tests.client import (
    Terminal,
    assert_one_line_error,
    remoterepl_command,
    run_remoterepl,
    shown_times,
    spawn_remoterepl,
)
from tests.client_env import ClientEnv, ClientEnvFactory, client_environment
from tests.sshd import SshdFactory, SshdServer

OK = "echo AUTH-OK"
#: The password alias prefers "password"; -o wins over ssh_config (first value wins).
KBDINT = ["-o", "PreferredAuthentications=keyboard-interactive"]


def password_prompt(env: ClientEnv) -> str:
    """ssh's password prompt for the password alias."""
    return f"{env.users.password_user}@127.0.0.1's password:"


# --------------------------------------------------------------------------- password


def test_password_prompt_on_the_terminal(embedded_env: ClientEnv) -> None:
    """The prompt names user@host; the typed password is not echoed; the session runs."""
    with spawn_remoterepl([embedded_env.password_alias, OK], embedded_env.env) as term:
        term.wait_for_screen(password_prompt(embedded_env))
        term.sendline(embedded_env.password)
        term.wait_for_screen("AUTH-OK")
        assert term.wait_exit() == 0
        assert embedded_env.password not in term.transcript_text()


def test_password_prompt_in_pipe_mode(embedded_env: ClientEnv) -> None:
    """stdin is a pipe (pipe mode), yet the password is asked on the terminal, as ssh does;
    the piped data still reaches the remote program."""
    command = " ".join(remoterepl_command([embedded_env.password_alias, "bc"]))
    argv = ["sh", "-c", f"printf '6*7\\n' | {command}; echo status=$?"]
    with Terminal(argv, env=embedded_env.env) as term:
        term.wait_for_screen(password_prompt(embedded_env))
        term.sendline(embedded_env.password)
        screen = term.wait_for_screen("status=")
        assert "42" in screen and "status=0" in screen, term.describe()
        assert embedded_env.password not in term.transcript_text()


def test_three_wrong_passwords(embedded_env: ClientEnv) -> None:
    """Three tries, "Permission denied, please try again." between them, then 255 and one
    line that does not contain what was typed."""
    with spawn_remoterepl([embedded_env.password_alias, OK], embedded_env.env) as term:
        for attempt in range(3):
            term.wait_for_screen(shown_times("password:", attempt + 1))
            term.sendline(f"wrong-{attempt}")
        status = term.wait_exit(timeout=30)
        screen = term.screen_text()
    assert status == 255, screen
    assert screen.count("Permission denied, please try again.") == 2, screen
    assert "permission denied" in screen.lower().splitlines()[-1], screen
    assert "wrong-" not in term.transcript_text()
    assert "AUTH-OK" not in screen


def test_ctrl_c_at_the_password_prompt(embedded_env: ClientEnv) -> None:
    """Ctrl-C at the prompt ends the run at once (130) and the terminal echoes again."""
    command = " ".join(remoterepl_command([embedded_env.password_alias, OK]))
    # The shell must survive the Ctrl-C that the whole foreground group receives.
    script = f"trap : INT; {command}; echo status=$?; stty -a | tr ' ' '\\n' | grep -x -- '-*echo'"
    with Terminal(["sh", "-c", script], env=embedded_env.env) as term:
        term.wait_for_screen(password_prompt(embedded_env))
        term.sendcontrol("c")
        screen = term.wait_for_screen(lambda s: "status=" in s and "echo" in s.split("status=")[1])
        term.wait_exit()
    after = screen.split("status=", 1)[1].split()
    assert after[0] == "130", screen
    assert after[1] == "echo", f"terminal echo not restored: {after[1]}"


def test_ctrl_d_at_the_password_prompt(embedded_env: ClientEnv) -> None:
    """Ctrl-D (no password) gives up password authentication: 255, permission denied."""
    with spawn_remoterepl([embedded_env.password_alias, OK], embedded_env.env) as term:
        term.wait_for_screen(password_prompt(embedded_env))
        term.sendcontrol("d")
        assert term.wait_exit() == 255
        assert "permission denied" in term.screen_text().lower()


def test_batch_mode_never_asks(embedded_env: ClientEnv) -> None:
    """BatchMode yes: even on a terminal nothing is asked; one line, 255."""
    with spawn_remoterepl(
        ["-o", "BatchMode=yes", embedded_env.password_alias, OK], embedded_env.env
    ) as term:
        assert term.wait_exit() == 255
        screen = term.screen_text()
    assert "password:" not in screen and "permission denied" in screen.lower(), screen


def test_password_needed_but_no_terminal(embedded_env: ClientEnv) -> None:
    """Without a controlling terminal (cron, CI): fail at once, one line, 255."""
    proc = run_remoterepl([embedded_env.password_alias, OK], env=embedded_env.env, timeout=30)
    assert proc.returncode == 255, proc.stderr
    line = assert_one_line_error(proc.stderr)
    assert "permission denied" in line.lower(), line
    assert "terminal" in line and "--password-file" in line, line
    assert proc.stdout == b""


# --------------------------------------------------------------------------- password file


def write_secret(path: Path, text: str, mode: int = 0o600) -> Path:
    """Write *text* + newline to *path* with *mode*."""
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def test_password_file(embedded_env: ClientEnv, tmp_path: Path) -> None:
    """--password-file FILE (mode 0600): no prompt, no terminal needed; even -vvvv output
    never shows the password."""
    secret = write_secret(tmp_path / "pw", embedded_env.password)
    proc = run_remoterepl(
        ["-vvvv", "--password-file", str(secret), embedded_env.password_alias, OK],
        env=embedded_env.env,
        timeout=30,
    )
    assert (proc.returncode, proc.stdout) == (0, b"AUTH-OK\n"), proc.stderr[-3000:]
    assert embedded_env.password.encode() not in proc.stderr
    assert b"password" in proc.stderr  # the diagnostics do talk about it


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_password_file_readable_by_others_is_refused(
    client_env: ClientEnv, sshd: SshdServer, tmp_path: Path, mode: int
) -> None:
    """A password file group/others can access is refused before connecting: exit 2,
    one line naming the file and the fix."""
    secret = write_secret(tmp_path / "pw", client_env.password, mode)
    mark = len(sshd.log_lines)
    proc = run_remoterepl(
        ["--password-file", str(secret), client_env.password_alias, OK],
        env=client_env.env,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    line = assert_one_line_error(proc.stderr)
    assert str(secret) in line and "chmod 600" in line, line
    assert client_env.password not in line
    assert not any("Connection from" in entry for entry in sshd.log_lines[mark:])


def test_password_file_missing(embedded_env: ClientEnv, tmp_path: Path) -> None:
    """A missing password file is a usage error (2), named in one line."""
    missing = tmp_path / "nope"
    proc = run_remoterepl(
        ["--password-file", str(missing), embedded_env.password_alias, OK],
        env=embedded_env.env,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert str(missing) in assert_one_line_error(proc.stderr)


def test_password_file_wrong_password(embedded_env: ClientEnv, tmp_path: Path) -> None:
    """A rejected password from the file: 255, one line saying so, the password not in it."""
    secret = write_secret(tmp_path / "pw", "not-the-password")
    proc = run_remoterepl(
        ["--password-file", str(secret), embedded_env.password_alias, OK],
        env=embedded_env.env,
        timeout=30,
    )
    assert proc.returncode == 255, proc.stderr
    line = assert_one_line_error(proc.stderr)
    assert "--password-file" in line and "not-the-password" not in line, line


# --------------------------------------------------------------------------- keyboard-interactive


@pytest.fixture
def pam_sshd(sshd_factory: SshdFactory) -> SshdServer:
    """An sshd that asks for passwords through PAM keyboard-interactive only."""
    return sshd_factory(
        extra_config=["UsePAM yes", "KbdInteractiveAuthentication yes", "PasswordAuthentication no"]
    )


def test_keyboard_interactive_with_pam(
    pam_sshd: SshdServer, client_env_factory: ClientEnvFactory
) -> None:
    """PAM's own prompt, prefixed with (user@host) as ssh shows it; echo off; success."""
    env = client_env_factory(pam_sshd)
    with spawn_remoterepl([*KBDINT, env.password_alias, OK], env.env) as term:
        term.wait_for_screen(f"({env.users.password_user}@127.0.0.1) Password:")
        term.sendline(env.password)
        term.wait_for_screen("AUTH-OK")
        assert term.wait_exit() == 0
        assert env.password not in term.transcript_text()
    pam_sshd.wait_for_log(r"Accepted keyboard-interactive/pam for rrpass")


def test_keyboard_interactive_with_password_file(
    pam_sshd: SshdServer, client_env_factory: ClientEnvFactory, tmp_path: Path
) -> None:
    """--password-file also answers a single hidden keyboard-interactive prompt."""
    env = client_env_factory(pam_sshd)
    secret = write_secret(tmp_path / "pw", env.password)
    proc = run_remoterepl(
        [*KBDINT, "--password-file", str(secret), env.password_alias, OK], env=env.env, timeout=30
    )
    assert (proc.returncode, proc.stdout) == (0, b"AUTH-OK\n"), proc.stderr


class _TwoStepServer(asyncssh.SSHServer):
    """Keyboard-interactive with the server's own wording: a hidden code, a visible answer."""

    def begin_auth(self, username: str) -> bool:
        return True

    def kbdint_auth_supported(self) -> bool:
        return True

    def get_kbdint_challenge(
        self, username: str, lang: str, submethods: str
    ) -> tuple[str, str, str, list[tuple[str, bool]]]:
        return (
            "Two-step check",
            "Type the code from your token.",
            "",
            [("Verification code: ", False), ("Favourite colour: ", True)],
        )

    def validate_kbdint_response(self, username: str, responses: Sequence[str]) -> bool:
        return list(responses) == ["314159", "teal"]


async def _greet(process: asyncssh.SSHServerProcess[str]) -> None:
    process.stdout.write("AUTH-OK\n")
    process.exit(0)


@pytest.fixture
def two_step_server(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """An asyncssh server in a thread: (port, known_hosts line)."""
    loop = asyncio.new_event_loop()
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    ready = threading.Event()
    box: dict[str, object] = {}

    async def start() -> None:
        server = await asyncssh.listen(
            "127.0.0.1",
            0,
            server_host_keys=[host_key],
            server_factory=_TwoStepServer,
            process_factory=_greet,
        )
        box["server"] = server
        box["port"] = server.sockets[0].getsockname()[1]
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    ready.wait(10)
    port = int(box["port"])  # type: ignore[call-overload]
    line = f"[127.0.0.1]:{port} {host_key.export_public_key().decode().strip()}"
    try:
        yield port, line
    finally:
        server = box["server"]
        loop.call_soon_threadsafe(server.close)  # type: ignore[attr-defined]
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def test_keyboard_interactive_prompts_in_the_servers_words(
    two_step_server: tuple[int, str], tmp_path: Path
) -> None:
    """Name, instructions and each prompt appear as the server words them; the hidden
    answer is not echoed, the visible one is."""
    port, known_line = two_step_server
    home = tmp_path / "home"
    env = client_environment(home)
    (home / ".ssh").mkdir(mode=0o700)
    (home / ".ssh" / "known_hosts").write_text(known_line + "\n")
    args = ["-p", str(port), "-o", "PubkeyAuthentication=no", "alice@127.0.0.1", "x"]
    with spawn_remoterepl(args, env) as term:
        term.wait_for_screen("(alice@127.0.0.1) Verification code:")
        screen = term.screen_text()
        assert "Two-step check" in screen and "Type the code from your token." in screen
        term.sendline("314159")
        term.wait_for_screen("(alice@127.0.0.1) Favourite colour:")
        term.sendline("teal")
        screen = term.wait_for_screen("AUTH-OK")
        assert term.wait_exit() == 0
    assert "teal" in screen
    assert "314159" not in term.transcript_text()
