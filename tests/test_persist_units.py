"""--persist, --sessions, --kill-session on the command line; the pieces of the client that
need no server: the session table, the multiplexer commands, durations and names."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from remoterepl.cli import parse_args
from remoterepl.errors import UsageError
from remoterepl.persist.fallback import TOOLS, tool_command
from remoterepl.persist.listing import session_table
from remoterepl.settings import (
    DEFAULT_RECONNECT_FOR,
    PersistAction,
    check_session_name,
    parse_duration,
)


def test_persist_takes_a_name_and_a_reconnect_time() -> None:
    settings = parse_args(["--persist", "work", "--reconnect-for", "1h30m", "host", "bc"])
    assert settings.persist is not None
    assert settings.persist.action is PersistAction.ATTACH
    assert settings.persist.name == "work"
    assert settings.persist.reconnect_for == 5400
    assert settings.session.command == "bc"
    assert parse_args(["host"]).persist is None


def test_sessions_and_kill_session() -> None:
    listing = parse_args(["--sessions", "host"]).persist
    assert listing is not None and listing.action is PersistAction.LIST
    assert listing.name is None and listing.reconnect_for == DEFAULT_RECONNECT_FOR
    kill = parse_args(["--kill-session", "work", "host"]).persist
    assert kill is not None and kill.action is PersistAction.KILL and kill.name == "work"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--persist", "a", "--sessions", "h"], "choose one"),
        (["--sessions", "h", "ls"], "takes no COMMAND"),
        (["--kill-session", "a", "--reconnect-for", "5", "h"], "needs --persist"),
        (["--reconnect-for", "5", "h"], "needs --persist"),
        (["--persist", "../x", "h"], "bad --persist name"),
        (["--persist", "", "h"], "bad --persist name"),
        (["--persist", "a", "--reconnect-for", "soon", "h"], "bad --reconnect-for"),
        (["--persist", "a", "-N", "h"], "-N does not go with --persist"),
        (["--persist", "a", "--hosts", "h1,h2"], "not with many hosts"),
    ],
)
def test_refusals(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_args(argv)


@pytest.mark.parametrize(
    ("text", "seconds"), [("0", 0), ("30", 30), ("90s", 90), ("10m", 600), ("1h2m3s", 3723)]
)
def test_durations_as_ssh_writes_them(text: str, seconds: float) -> None:
    assert parse_duration(text, "--x") == seconds


@pytest.mark.parametrize("name", ["-a", ".a", "a/b", "a b", "x" * 65, "é"])
def test_session_names_the_holder_would_refuse(name: str) -> None:
    with pytest.raises(UsageError):
        check_session_name(name, "--persist")
    assert check_session_name("x" * 64, "--persist")


def test_session_table_aligns_and_describes_states() -> None:
    lines = session_table(
        [
            {"name": "a", "state": "attached", "idle": 5, "command": "bc"},
            {"name": "long-name", "state": "exited", "status": 3, "idle": 3700, "command": None},
            {"name": "k", "state": "exited", "signal": "KILL", "idle": 61, "command": "x\x1b]"},
        ]
    )
    assert lines[0].split() == ["NAME", "STATE", "IDLE", "COMMAND"]
    assert lines[1].split() == ["a", "attached", "5s", "bc"]
    assert lines[2].split()[:4] == ["long-name", "exited", "(3)", "1h01m"]
    assert lines[2].endswith("(login shell)")
    assert "exited (SIGKILL)" in lines[3] and "1m01s" in lines[3]
    assert "\x1b" not in lines[3]  # a command's control characters are shown escaped
    assert len({line.index(line.split()[1]) for line in lines}) == 1  # one STATE column


@pytest.mark.parametrize("tool", TOOLS)
def test_multiplexer_commands_are_valid_shell(tool: str) -> None:
    command = tool_command(tool, "work", "bc -q 'a b'")
    check = subprocess.run(["sh", "-n", "-c", command], capture_output=True)
    assert check.returncode == 0, check.stderr
    words = shlex.split(command)
    assert words[:3] == ["exec", "sh", "-c"]
    inner = words[3]
    assert tool in inner and "remoterepl-work" in inner
    assert "chmod 700" in inner  # its socket in a directory only the user can enter
