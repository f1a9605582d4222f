"""A session held by a holder of another protocol version: refused with one line naming
both versions, never misread; the old session itself is untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from remoterepl.persist import holder
from tests.client import assert_one_line_error, run_remoterepl
from tests.client_env import ClientEnv, ClientEnvFactory
from tests.embedded_sshd import EmbeddedFactory

_SOURCE = Path(holder.__file__).read_text()
_OLD = _SOURCE.replace("\nPROTOCOL = 1\n", "\nPROTOCOL = 0\n")


def _old_holder(home: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """The old holder, run as the remote user (the same HOME as the server's sessions)."""
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "SHELL": "/bin/sh"}
    return subprocess.run(
        [sys.executable, "-c", _OLD, *args], input=stdin, env=env, capture_output=True, timeout=30
    )


def test_an_older_holder_is_refused_and_left_alone(
    embedded_factory: EmbeddedFactory, embedded_env_factory: ClientEnvFactory
) -> None:
    assert _OLD != _SOURCE
    server = embedded_factory()  # its own: the old session lives in this server's HOME
    env: ClientEnv = embedded_env_factory(server)
    hello = {"v": 0, "client": "old", "command": "sleep 1000", "pty": None}
    hello.update({"out": None, "err": None, "buffer": None, "expire": None})
    # the relay ends when its stdin does: the daemon stays, detached
    created = _old_holder(
        server.remote_home,
        "attach",
        "calc",
        stdin=holder.frame(holder.HELLO, json.dumps(hello).encode()),
    )
    assert created.returncode == 0, created.stderr
    try:
        result = run_remoterepl(["--persist", "calc", env.user_alias, "bc"], env=env.env)
        assert result.returncode == 255
        line = assert_one_line_error(result.stderr)
        assert "protocol 0" in line and "protocol 1" in line, line
        assert "--kill-session calc" in line
        listed = _old_holder(server.remote_home, "list")
        assert [json.loads(row)["name"] for row in listed.stdout.splitlines()] == ["calc"]
        # --kill-session works across versions: KILL needs no HELLO
        killed = run_remoterepl(["--kill-session", "calc", env.user_alias], env=env.env)
        assert killed.returncode == 0, killed.stderr
        assert _old_holder(server.remote_home, "list").stdout == b""
    finally:
        _old_holder(server.remote_home, "kill", "calc")
