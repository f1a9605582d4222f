"""Issue 11's key, history and usage points end to end (12, 13, 15, and "control characters
never enter the history" of 2): the installed remoterepl in a real pty, asserting on what
the screen (pyte) shows and on the history file it writes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.client import Terminal, remoterepl_command, shell_prompt_shown, spawn_remoterepl
from tests.client_env import ClientEnv, Login

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


# -- 12. secrets beyond English; ignorespace -----------------------------------------------------


def test_secret_prompts_in_other_languages_are_hidden_and_never_stored_or_suggested(
    embedded_env: ClientEnv,
) -> None:
    """Each prompt (``read -s -p``) gets stars, the remote gets the secret, the history
    gets none of it, and the auto-suggestion never offers it; ``Reset your password?
    [y/N]:`` is a question, answered visibly."""
    secrets = [f"zq{n}s3cret{n}x" for n in range(len(SECRET_PROMPTS))]
    with start_shell(embedded_env) as term:
        term.sendline("echo zq-visible-line")
        term.wait_for_screen("\nzq-visible-line")
        for n, (prompt, secret) in enumerate(zip(SECRET_PROMPTS, secrets, strict=True)):
            term.sendline(f'read -rs -p {bash_bytes(prompt)} pw; echo; echo "got{n}=${{#pw}}"')
            term.wait_for_screen(last_line_is(prompt))
            term.send(secret)
            term.wait_for_screen(last_line_is(prompt + "*" * len(secret)))
            term.sendline()
            term.wait_for_screen(f"\ngot{n}={len(secret)}\n")
            term.wait_for_screen(shell_prompt_shown)
        term.sendline(f"read -r -p {bash_bytes('Reset your password? [y/N]: ')} a; echo ans=$a")
        term.wait_for_screen(lambda s: last_line(s) == "Reset your password? [y/N]:")
        term.send("y")
        term.wait_for_screen(lambda s: last_line(s) == "Reset your password? [y/N]: y")
        term.sendline()
        term.wait_for_screen("\nans=y")
        # The suggestion: "zq" + Right would take the newest history line starting with
        # it, a secret if one had been stored; it is the visible line.
        term.send("echo zq")
        term.wait_for_screen(lambda s: last_line(s).endswith("echo zq-visible-line"))
        term.sendcontrol("c")
        term.send("zq")
        term.send("\x1b[C")  # Right: take a suggestion, if any
        term.sendline()
        screen = term.wait_for_screen(lambda s: "zq: command not found" in s)
        term.sendline("exit 0")
        assert term.wait_exit() == 0
        transcript = term.transcript_text()
    history = history_text(embedded_env)
    assert "read -rs -p" in history and "echo zq-visible-line" in history
    for secret in secrets:
        assert secret not in history and secret not in transcript and secret not in screen


def test_ctrl_c_at_a_secret_prompt_shows_nothing_of_the_secret(embedded_env: ClientEnv) -> None:
    """Ctrl-C keeps a half-typed line on the screen, but never a half-typed password."""
    with start_shell(embedded_env) as term:
        term.sendline(f"read -rs -p {bash_bytes('Mot de passe : ')} pw; echo done")
        term.wait_for_screen(lambda s: last_line(s) == "Mot de passe :")
        term.send("hunter2half")
        term.wait_for_screen(lambda s: last_line(s).endswith("*" * 11))
        term.sendcontrol("c")
        term.wait_for_screen(lambda s: shell_prompt_shown(s) and "Mot de passe" in s)
        term.sendline("echo after")
        term.wait_for_screen("\nafter")
        assert "hunter2half" not in term.transcript_text()
        term.sendline("exit")
        assert term.wait_exit() == 0


def test_a_line_starting_with_a_space_stays_out_of_the_history(embedded_env: ClientEnv) -> None:
    """bash's ignorespace, by default: the line runs, Up does not bring it back, the file
    does not have it."""
    with start_shell(embedded_env) as term:
        term.sendline("echo kept-$((6*7))")
        term.wait_for_screen("\nkept-42")
        term.sendline(" echo spaced-$((6*7))")
        term.wait_for_screen("\nspaced-42")
        term.send("\x1b[A")  # Up
        term.wait_for_screen(lambda s: last_line(s).endswith("echo kept-$((6*7))"))
        term.sendcontrol("u")
        term.sendline("exit")
        assert term.wait_exit() == 0
    history = history_text(embedded_env)
    assert "echo kept-" in history and "spaced" not in history


def test_history_ignore_space_false_keeps_such_lines(embedded_env: ClientEnv) -> None:
    """``history_ignore_space = false`` in the config: the line is stored and recalled."""
    write_config(embedded_env, "history_ignore_space = false\n")
    with spawn_remoterepl([embedded_env.user_alias, "bc"], embedded_env.env) as term:
        term.wait_for_screen("bc>")
        term.sendline(" 20+1")
        term.wait_for_screen("\n21")
        term.send("\x1b[A")
        term.wait_for_screen(lambda s: last_line(s) == "bc>  20+1")
        term.sendcontrol("u")
        term.sendcontrol("d")
        assert term.wait_exit() == 0
    assert "+ 20+1" in history_text(embedded_env)


# -- 2. control characters never enter the history ----------------------------------------------


def test_a_line_with_control_characters_is_sent_but_never_stored(embedded_env: ClientEnv) -> None:
    """``^A`` and ``^[`` typed literally (Ctrl-Q quotes the next key): the line reaches the
    remote, but neither Up nor the history file brings it back."""
    with spawn_remoterepl([embedded_env.user_alias, "cat"], embedded_env.env) as term:
        term.wait_for_screen("cat>")
        term.sendline("plain-line")
        term.wait_for_screen("\nplain-line")
        term.send("ctl-a")
        term.sendcontrol("q")
        term.sendcontrol("a")
        term.send("-esc")
        term.sendcontrol("q")
        term.send("\x1b")
        term.wait_for_screen(lambda s: last_line(s) == "cat> ctl-a^A-esc^[")
        term.sendline()
        # The line printed above the prompt shows the characters as the input line did
        # (raw, the ESC would have eaten what follows it); cat writes them back raw.
        term.wait_for_screen(lambda s: "cat> ctl-a^A-esc^[\nctl-a" in s)
        term.send("\x1b[A")  # Up: the line before it
        term.wait_for_screen(lambda s: last_line(s).endswith("cat> plain-line"))
        term.sendcontrol("u")
        term.sendcontrol("d")
        assert term.wait_exit() == 0
    history = history_text(embedded_env)
    assert "+plain-line" in history and "ctl-a" not in history


# -- 13. keys -----------------------------------------------------------------------------------


def test_ctrl_r_then_enter_runs_the_line_found(embedded_env: ClientEnv) -> None:
    """One Enter after a Ctrl-R search sends the line found (readline's habit)."""
    with spawn_remoterepl([embedded_env.user_alias, "bc"], embedded_env.env) as term:
        term.wait_for_screen("bc>")
        term.sendline("1234+1")
        term.wait_for_screen("\n1235")
        term.sendline("7*6")
        term.wait_for_screen("\n42")
        term.sendcontrol("r")
        term.send("1234")
        term.wait_for_screen(lambda s: "search" in last_line(s) and "1234+1" in last_line(s))
        term.sendline()
        screen = term.wait_for_screen(lambda s: s.count("\n1235") == 2)
        assert "bc> 1234+1\n1235\nbc> 7*6\n42\nbc> 1234+1\n1235" in screen, screen
        term.sendcontrol("d")
        assert term.wait_exit() == 0


def test_ctrl_c_leaves_the_half_typed_line_visible_with_ctrl_c_mark(login: Login) -> None:
    """bash: ``$ echo half typed^C`` stays on the screen, a fresh prompt follows, the
    line is not run; the next line runs alone."""
    with spawn_remoterepl([login.alias], login.env.env, rows=40) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=15)
        term.send("echo half typed")
        term.wait_for_screen(lambda s: last_line(s).endswith("echo half typed"))
        prompt = last_line(term.screen_text())[: -len("echo half typed")]
        term.sendcontrol("c")
        term.wait_for_screen(lambda s: f"{prompt}echo half typed^C\n" in s)
        term.sendline("echo next-$((6*7))")
        screen = term.wait_for_screen("\nnext-42")
        lines = screen.splitlines()
        index = lines.index(f"{prompt}echo half typed^C")
        assert lines[index + 1] == f"{prompt}echo next-$((6*7))", screen
        assert "\nhalf typed" not in screen
        term.sendline("exit")
        assert term.wait_exit() == 0


def test_ctrl_c_keeps_the_line_in_python_and_bc(embedded_env: ClientEnv) -> None:
    """python3: ``>>> 6*`` stays, then its KeyboardInterrupt; bc (a local prompt): the line
    stays above the remote's answer."""
    with spawn_remoterepl([embedded_env.user_alias, "python3", "-q"], embedded_env.env) as term:
        term.wait_for_screen(lambda s: last_line(s) == ">>>", timeout=15)
        term.send("6*")
        term.wait_for_screen(lambda s: last_line(s) == ">>> 6*")
        term.sendcontrol("c")
        term.wait_for_screen(lambda s: ">>> 6*\nKeyboardInterrupt\n>>>" in s)
        term.sendcontrol("d")
        assert term.wait_exit() == 0
    with spawn_remoterepl([embedded_env.user_alias, "bc"], embedded_env.env) as term:
        term.wait_for_screen("bc>")
        term.send("12345")
        term.wait_for_screen(lambda s: last_line(s) == "bc> 12345")
        term.sendcontrol("c")
        screen = term.wait_for_screen("(interrupt)")
        assert "bc> 12345\n" in screen
        term.sendline("1+1")
        screen = term.wait_for_screen("\n2")
        assert "123451+1" not in screen
        term.sendcontrol("d")
        assert term.wait_exit() == 0


@pytest.mark.parametrize(
    ("option", "key", "shown"),
    [(["-e", "^X"], "\x18", "^X"), (["-o", "EscapeChar=^]"], "\x1d", "^]")],
)
def test_a_control_key_escape_character_works_in_editor_mode(
    embedded_env: ClientEnv, option: list[str], key: str, shown: str
) -> None:
    """``-e ^X`` / ``-o EscapeChar=^]`` in the line editor: the key then ``?`` lists the
    escapes under that name, then ``.`` disconnects, naming the escape (255)."""
    with spawn_remoterepl([*option, embedded_env.user_alias, "cat"], embedded_env.env) as term:
        term.wait_for_screen("cat>")
        term.send(key)
        term.wait_for_screen(lambda s: last_line(s) == f"cat> {shown}")
        term.send("?")
        term.wait_for_screen(f"{shown}.  disconnect")
        term.sendline("still-editing")
        term.wait_for_screen("\nstill-editing")
        term.send(key + ".")
        screen = term.wait_for_screen("closed (")
        assert term.wait_exit() == 255
        assert re.search(rf"connection to .+ closed \({re.escape(shown)}\.\)", screen), screen
        assert "~." not in screen


def test_disconnect_message_names_the_escape_character_in_raw_mode(
    embedded_env: ClientEnv,
) -> None:
    """``--raw -e %``: ``%.`` leaves, and the message says ``%.``."""
    with spawn_remoterepl(["--raw", "-e", "%", embedded_env.user_alias], embedded_env.env) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=15)
        term.send("\r%.")
        screen = term.wait_for_screen("closed (")
        assert term.wait_exit() == 255
        assert "closed (%.)" in screen


def test_escape_in_vi_mode_takes_effect_at_once(embedded_env: ClientEnv) -> None:
    """vi mode: Escape moves to normal mode (the cursor steps back) at once, not after
    prompt_toolkit's 0.5 s + 1 s; Alt-Enter still inserts a newline."""
    write_config(embedded_env, 'edit_mode = "vi"\n')
    with spawn_remoterepl([embedded_env.user_alias, "bc"], embedded_env.env) as term:
        term.wait_for_screen("bc>")
        delays = []
        for _ in range(3):
            term.send("3+4")
            term.wait_for_screen(lambda s: last_line(s) == "bc> 3+4")
            normal_mode_column = term.cursor[1] - 1
            start = time.monotonic()
            term.send("\x1b")
            term.wait_for_screen(lambda s: term.cursor[1] == normal_mode_column)  # noqa: B023
            delays.append(time.monotonic() - start)
            term.send("x")
            term.wait_for_screen(lambda s: last_line(s) == "bc> 3+")
            term.send("S")  # substitute the line: empty, insert mode
            term.wait_for_screen(lambda s: last_line(s) == "bc>")
        assert min(delays) < 0.4, delays
        term.send("1+1\x1b\r2+2")
        term.wait_for_screen(lambda s: "bc> 1+1\n" in s and last_line(s) == "2+2")
        term.sendline()
        term.wait_for_screen(lambda s: "1+1\n2\n2+2\n4" in s)  # each echoed by bc
        term.sendcontrol("d")
        assert term.wait_exit() == 0


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
    """``-o ServerAliveInterval=abc``: one line naming the option and the value, then the
    usage line; status 2."""
    args = ["-o", "ServerAliveInterval=abc", embedded_env.user_alias, "true"]
    with spawn_remoterepl(args, embedded_env.env, cols=200) as term:
        assert term.wait_exit() == 2
        screen = term.screen_text()
    assert screen.strip().splitlines()[0] == (
        "remoterepl: bad -o option 'ServerAliveInterval=abc': "
        "ServerAliveInterval abc: invalid time value (whole seconds, 0 to 2147483647)"
    ), screen
    assert screen.strip().splitlines()[1].startswith("usage: remoterepl "), screen
    assert "/tmp" not in screen and "overrides" not in screen
