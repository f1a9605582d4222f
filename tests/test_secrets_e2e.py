"""Secrets leave no trace: after a password login, a passphrase-protected key and a line
typed at a remote ``read -s -p 'Password: '``, none of them is anywhere -- HOME and its
XDG directories (history included), the --record file, the -vvv / -vvvv log, the
/proc/PID/cmdline and environ of the client and its children while it runs. History and
recordings are 0600 in 0700 directories.

And a changed host key under StrictHostKeyChecking no is what OpenSSH makes of it: the
connection goes ahead, but password and keyboard-interactive authentication are refused
(and said to be), so no secret goes to a host that may be an impostor; key authentication
still works. Each against the embedded server and a real sshd.
"""

from __future__ import annotations

import shlex
import shutil
import stat
import subprocess
import uuid
from pathlib import Path

import asyncssh
import pytest

from tests.client import (
    Terminal,
    assert_one_line_error,
    remoterepl_command,
    run_remoterepl,
    shell_prompt_shown,
)
from tests.client_env import ClientEnv
from tests.keys import ClientKeys, generate_key
from tests.sshd import SshAgent
from tests.test_connect_diagnostics import dumped_bytes


@pytest.fixture(params=["embedded", "openssh"])
def server_env(request: pytest.FixtureRequest) -> ClientEnv:
    """A client HOME for the embedded server, then for a real sshd (root only)."""
    env: ClientEnv = request.getfixturevalue(
        "embedded_env" if request.param == "embedded" else "client_env"
    )
    return env


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].rstrip() if lines else ""


def spawn_logged(args: list[str], env: ClientEnv, log: Path) -> Terminal:
    """The installed remoterepl in a pty, its stderr (the -v output) into ``log``."""
    command = " ".join(shlex.quote(a) for a in remoterepl_command(args))
    return Terminal(["sh", "-c", f"exec {command} 2>{shlex.quote(str(log))}"], env=env.env)


def process_tree(pid: int) -> list[int]:
    """``pid`` and every descendant of it now."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def proc_texts(pid: int) -> bytes:
    """cmdline and environ of ``pid`` and its descendants (those still there)."""
    found = b""
    for member in process_tree(pid):
        for name in ("cmdline", "environ"):
            try:
                found += (Path("/proc") / str(member) / name).read_bytes() + b"\n"
            except OSError:
                continue
    return found


def files_under(*roots: Path) -> list[Path]:
    return [
        p for root in roots for p in ([root] if root.is_file() else root.rglob("*")) if p.is_file()
    ]


def assert_nowhere(secrets: list[str], paths: list[Path], extra: bytes = b"") -> None:
    """No secret in the bytes of ``paths`` (nor in ``extra``), as text or in a hex dump."""
    assert paths, "nothing to look in?"
    for path in paths:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{secret!r} found in {path}"
            assert secret.encode() not in dumped_bytes(data), f"{secret!r} dumped in {path}"
    for secret in secrets:
        assert secret.encode() not in extra, f"{secret!r} in /proc cmdline/environ"


def private(path: Path, mode: int) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == mode


def typed_secret_session(term: Terminal, secret: str) -> bytes:
    """At the shell: read a line at ``read -s -p 'Password: '``, type ``secret``; return
    what /proc shows of the client's processes while the session runs; exit."""
    term.wait_for_screen(shell_prompt_shown, timeout=30)
    term.sendline("read -s -p 'Password: ' pw; echo; echo \"got ${#pw} chars\"")
    term.wait_for_screen(lambda s: last_line(s).startswith("Password:"))
    term.send(secret)
    term.wait_for_screen(lambda s: last_line(s) == "Password: " + "*" * len(secret))
    term.sendline()
    term.wait_for_screen(f"got {len(secret)} chars")
    seen = proc_texts(term.child.pid)
    term.sendline("exit")
    assert term.wait_exit(timeout=30) == 0
    return seen


@pytest.mark.parametrize("level", ["-vvv", "-vvvv"])
def test_password_login_and_a_hidden_line_leave_no_trace(
    server_env: ClientEnv, tmp_path: Path, level: str
) -> None:
    """Password typed at ``user@host's password:``, then a secret at a remote read -s:
    neither in HOME (history, XDG dirs), the recording, the log, nor /proc; the log does
    have the packet dumps (-vvvv), with the secret line's "(contents not shown)"."""
    env = server_env
    secret = f"typed-{uuid.uuid4().hex[:12]}"
    records = tmp_path / "records"
    records.mkdir(mode=0o700)
    cast = records / "session.cast"
    cast.write_text("")
    cast.chmod(0o644)  # an existing, readable file: made private
    log = tmp_path / "client.log"
    with spawn_logged([level, "--record", str(cast), env.password_alias], env, log) as term:
        term.wait_for_screen(f"{env.users.password_user}@127.0.0.1's password:", timeout=30)
        seen = proc_texts(term.child.pid)
        term.sendline(env.password)
        seen += typed_secret_session(term, secret)
        assert secret not in term.transcript_text() and env.password not in term.transcript_text()
    assert_nowhere([env.password, secret], [*files_under(env.home, records), log], seen)
    text = log.read_text(errors="replace")
    assert "using password" in text
    if level == "-vvvv":
        assert len(dumped_bytes(log.read_bytes())) > 1000, "no packet dumps at -vvvv?"
        assert "MSG_CHANNEL_DATA (94), " in text and "(contents not shown)" in text
    assert private(cast, 0o600) and "read -s -p" in cast.read_text()
    directory = Path(env.env["XDG_STATE_HOME"]) / "remoterepl" / "history"
    history = [p for p in directory.iterdir() if p.name != "INDEX"]
    assert history, "no history file written?"
    assert private(directory, 0o700)
    for path in directory.iterdir():
        assert private(path, 0o600), path
    assert any("read -s -p" in p.read_text() for p in history)


def test_passphrase_key_leaves_no_trace(server_env: ClientEnv, tmp_path: Path) -> None:
    """The accepted key, passphrase-protected: asked on the terminal, then the session;
    the passphrase (and the secret typed later) in no file, log or /proc."""
    env = server_env
    passphrase = f"phrase-{uuid.uuid4().hex[:12]}"
    secret = f"typed-{uuid.uuid4().hex[:12]}"
    key = tmp_path / "locked_key"
    key.write_bytes(
        asyncssh.read_private_key(env.key_path).export_private_key(passphrase=passphrase)
    )
    key.chmod(0o600)
    log = tmp_path / "client.log"
    with spawn_logged(["-vvvv", "-i", str(key), env.user_alias], env, log) as term:
        term.wait_for_screen("Enter passphrase for key '", timeout=30)  # the path wraps
        assert f"Enter passphrase for key '{key}': ".encode() in term.transcript
        seen = proc_texts(term.child.pid)
        term.sendline(passphrase)
        seen += typed_secret_session(term, secret)
    text = log.read_text(errors="replace")
    assert f"publickey ({key}" in text, text[-3000:]
    assert_nowhere([passphrase, secret], [*files_under(env.home), log], seen)


# -- a changed host key under StrictHostKeyChecking no ------------------------------------


@pytest.fixture(params=["embedded", "openssh"])
def changed(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[ClientEnv, object]:
    """(a client env whose known_hosts has another key for the server, the server)."""
    if request.param == "embedded":
        server = request.getfixturevalue("embedded_sshd")
        factory = request.getfixturevalue("embedded_env_factory")
    else:
        server = request.getfixturevalue("sshd")
        factory = request.getfixturevalue("client_env_factory")
    impostor = generate_key(tmp_path / "impostor")
    name = str(server.host_key_line).split()[0]
    return factory(server, known_hosts_lines=[f"{name} {impostor.public_line}"]), server


NO = ["-o", "StrictHostKeyChecking=no"]


def test_changed_key_with_no_refuses_passwords(
    changed: tuple[ClientEnv, object], tmp_path: Path
) -> None:
    """As OpenSSH: the password is not sent (not even from --password-file), the run
    ends 255 saying why; known_hosts untouched."""
    env, server = changed
    password_file = tmp_path / "pw"
    password_file.write_text(env.password + "\n")
    password_file.chmod(0o600)
    before = env.known_hosts_path.read_text()
    mark = len(getattr(server, "log_lines", []))
    proc = run_remoterepl(
        [*NO, "--password-file", str(password_file), env.password_alias, "echo RAN"],
        env=env.env,
        timeout=60,
    )
    assert proc.returncode == 255, proc.stderr
    text = proc.stderr.decode()
    assert "HAS CHANGED" in text and "man-in-the-middle attack" in text, text
    assert "Password authentication is disabled to avoid man-in-the-middle attacks." in text
    assert "Keyboard-interactive authentication is disabled" in text
    assert text.splitlines()[-1].startswith(f"remoterepl: {env.users.password_user}@"), text
    assert "authentication are disabled (host key not trusted)" in text.splitlines()[-1]
    assert b"RAN" not in proc.stdout and "Traceback" not in text
    assert env.known_hosts_path.read_text() == before
    server_log = "\n".join(getattr(server, "log_lines", [])[mark:])
    assert "Failed password" not in server_log and "Accepted password" not in server_log


def test_changed_key_with_no_still_allows_key_authentication(
    changed: tuple[ClientEnv, object],
) -> None:
    """Key authentication goes ahead (OpenSSH's continue_unsafe), with the warning; the
    other policies refuse in one line."""
    env, _server = changed
    proc = run_remoterepl([*NO, env.user_alias, "echo RAN"], env=env.env, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, b"RAN\n"), proc.stderr
    assert b"HAS CHANGED" in proc.stderr and b"Password authentication is disabled" in proc.stderr
    for policy in ("yes", "accept-new", "ask"):
        proc = run_remoterepl(
            ["-o", f"StrictHostKeyChecking={policy}", env.user_alias, "echo RAN"],
            env=env.env,
            timeout=60,
        )
        assert proc.returncode == 255 and proc.stdout == b"", proc.stderr
        assert "CHANGED" in assert_one_line_error(proc.stderr)


def test_ssh_agrees(changed: tuple[ClientEnv, object]) -> None:
    """OpenSSH's ssh, same files: with no, key authentication connects; password is
    refused ("Password authentication is disabled...")."""
    env, _server = changed
    if shutil.which("ssh") is None:
        pytest.skip("OpenSSH's ssh is missing (package openssh-client)")
    proc = subprocess.run(
        env.ssh_args(*NO, env.user_alias, "echo RAN"),
        env=env.env,
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout == b"RAN\n", proc.stderr
    assert b"Password authentication is disabled" in proc.stderr


def test_changed_key_with_no_cancels_agent_forwarding(
    changed: tuple[ClientEnv, object], tmp_path: Path, embedded_keys: ClientKeys
) -> None:
    """-A towards a host whose key changed (StrictHostKeyChecking no): the agent is not
    forwarded (OpenSSH: "Agent forwarding is disabled..."); the remote's ssh-add finds
    no agent."""
    env, _server = changed
    agent = SshAgent(tmp_path / "agent")
    try:
        agent.add(embedded_keys.client)
        proc = run_remoterepl(
            [*NO, "-A", env.user_alias, "ssh-add -l; echo status=$?"],
            env={**env.env, **agent.env},
            timeout=60,
        )
    finally:
        agent.stop()
    assert proc.returncode == 0, proc.stderr
    assert b"status=2" in proc.stdout, proc.stdout  # 2: no agent to talk to
    assert b"Agent forwarding is disabled to avoid man-in-the-middle attacks." in proc.stderr
