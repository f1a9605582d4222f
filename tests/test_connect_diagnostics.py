"""-v: what happened while connecting, one readable line each, on stderr only, never a
secret; stdout stays byte-exact."""

from __future__ import annotations

import re
from pathlib import Path

from tests.client import run_remoterepl
from tests.client_env import ClientEnv


def test_v_tells_the_story_of_a_connection(embedded_env: ClientEnv) -> None:
    """Config files, address, host key fingerprint and where it is trusted, the key offered,
    the method that worked, the channel opening and closing; stdout untouched."""
    proc = run_remoterepl(
        ["-v", embedded_env.user_alias, "echo out"], env=embedded_env.env, timeout=30
    )
    assert (proc.returncode, proc.stdout) == (0, b"out\n"), proc.stderr
    text = proc.stderr.decode()
    lines = text.splitlines()
    assert all(line.startswith(("debug1: ", "debug2: ")) for line in lines), text
    port, user = embedded_env.port, embedded_env.users.user
    for expected in (
        f"reading configuration data {embedded_env.config_path}",
        f"connecting to {embedded_env.user_alias} ({user}@127.0.0.1 port {port})",
        f"connection established to 127.0.0.1 port {port}",
        f"host key for [127.0.0.1]:{port}: ED25519 SHA256:",
        f"(matches {embedded_env.known_hosts_path}:1)",
        f"offering public key: {embedded_env.key_path} ED25519 SHA256:",
        f"authenticated to 127.0.0.1 port {port} as {user} using publickey",
        "Requesting new SSH session",
        "Channel closed",
    ):
        assert expected in text, f"{expected!r} missing from:\n{text}"


_DUMP_LINE = re.compile(r"^\s+[0-9a-f]{8}:((?: [0-9a-f]{2})+)", re.MULTILINE)


def dumped_bytes(stderr: bytes) -> bytes:
    """The bytes shown in asyncssh's packet hex dumps, joined (a password split across
    dump lines is still found)."""
    return b"".join(bytes.fromhex(m.group(1)) for m in _DUMP_LINE.finditer(stderr.decode()))


def test_v_with_a_password_never_shows_it(embedded_env: ClientEnv, tmp_path: Path) -> None:
    """The password method is named; the password itself appears nowhere, at any level."""
    secret = tmp_path / "pw"
    secret.write_text(embedded_env.password + "\n")
    secret.chmod(0o600)
    for level in ("-v", "-vv", "-vvv", "-vvvv"):
        proc = run_remoterepl(
            [level, "--password-file", str(secret), embedded_env.password_alias, "true"],
            env=embedded_env.env,
            timeout=30,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert b"using password" in proc.stderr, level
        assert embedded_env.password.encode() not in proc.stderr + proc.stdout, level
        assert embedded_env.password.encode() not in dumped_bytes(proc.stderr), level
        if level == "-vvvv":
            assert len(dumped_bytes(proc.stderr)) > 1000, "no packet dumps at -vvvv?"


def test_without_v_nothing_is_said(embedded_env: ClientEnv) -> None:
    """No -v: a successful run writes nothing to stderr."""
    proc = run_remoterepl([embedded_env.user_alias, "echo out"], env=embedded_env.env, timeout=30)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"out\n", b"")
