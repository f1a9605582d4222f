"""Issue 11's key, history and usage points end to end (12, 13, 15, and "control characters
never enter the history" of 2): the installed remoterepl in a real pty, asserting on what
the screen (pyte) shows and on the history file it writes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.client import Terminal, remoterepl_command, shell_prompt_shown, spawn_remoterepl
from tests.client_env import ClientEnv

SECRET_PROMPTS = [
    "[sudo] Passwort für x:",
    "Mot de passe :",
    "Contraseña:",
    "Senha:",
    "Пароль:",
    "パスワード:",
    "密码：",
    "Token:",
    "Enter API token:",
]


def history_text(env: ClientEnv) -> str:
    """Everything in the client's history files."""
    directory = Path(env.env["XDG_STATE_HOME"]) / "remoterepl" / "history"
    return "".join(p.read_text() for p in directory.glob("*") if p.name != "INDEX")


def write_config(env: ClientEnv, text: str) -> None:
    """The default config file of the client HOME."""
    path = Path(env.env["XDG_CONFIG_HOME"]) / "remoterepl" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def last_line(text: str) -> str:
    """The last non-blank screen line."""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def last_line_is(text: str) -> Callable[[str], bool]:
    """A screen predicate: the last non-blank line is ``text``."""
    return lambda screen: last_line(screen) == text


def bash_bytes(text: str) -> str:
    """``text`` as a bash ``$'...'`` word of \\x escapes (ASCII only: what is typed stays
    the same whatever the remote's locale)."""
    return "$'" + "".join(f"\\x{b:02x}" for b in text.encode()) + "'"


def start_shell(env: ClientEnv, *args: str) -> Terminal:
    """The login shell of the embedded server, at its first prompt."""
    term = spawn_remoterepl([*args, env.user_alias], env.env, rows=40, cols=100)
    term.wait_for_screen(shell_prompt_shown, timeout=15)
    return term


# -- 15. usage text -----------------------------------------------------------------------------


def test_no_destination_names_only_destination(embedded_env: ClientEnv) -> None:
    """COMMAND is optional, so the error does not call it required; status 2."""
    with Terminal(remoterepl_command(["-p", "22"]), env=embedded_env.env) as term:
        assert term.wait_exit() == 2
        screen = term.screen_text()
    assert "the following arguments are required: DESTINATION\n" in screen + "\n", screen
    assert "COMMAND are required" not in screen and "DESTINATION, COMMAND" not in screen
    assert "usage: remoterepl [OPTIONS] DESTINATION [COMMAND [ARG...]]" in screen


def test_a_bad_option_value_names_the_option_not_a_temporary_file(
    embedded_env: ClientEnv,
) -> None:
    """``-o ServerAliveInterval=abc``: one line naming the option and the value; status 2."""
    args = ["-o", "ServerAliveInterval=abc", embedded_env.user_alias, "true"]
    with spawn_remoterepl(args, embedded_env.env, cols=200) as term:
        assert term.wait_exit() == 2
        screen = term.screen_text()
    assert screen.strip() == (
        "remoterepl: bad option -o ServerAliveInterval=abc: "
        "invalid ServerAliveInterval integer value: abc"
    ), screen
    assert "/tmp" not in screen and "overrides" not in screen
