"""The line editor's comforts end to end: the installed remoterepl in a real pty against a
the embedded SSH server, asserting on the screen (pyte) and on the files it writes (history,
recordings). Each test has its own client HOME (XDG dirs inside), so histories and config
files never leak between tests."""

from __future__ import annotations

import json
import re
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client import (
    Terminal,
    assert_one_line_error,
    run_remoterepl,
    shell_prompt_shown,
    spawn_remoterepl,
)
from tests.client_env import ClientEnv

F2 = "\x1bOQ"
META_ENTER = "\x1b\r"


def write_config(env: ClientEnv, text: str) -> Path:
    """Write the default config file (``$XDG_CONFIG_HOME/remoterepl/config.toml``)."""
    path = Path(env.env["XDG_CONFIG_HOME"]) / "remoterepl" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def history_files(env: ClientEnv) -> list[Path]:
    """The history files written under the client's XDG state dir."""
    directory = Path(env.env["XDG_STATE_HOME"]) / "remoterepl" / "history"
    return sorted(p for p in directory.glob("*") if p.name != "INDEX") if directory.exists() else []


def last_line(text: str) -> str:
    """The last non-blank screen line."""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def interrupt_then_end(term: Terminal) -> None:
    """Ctrl-C, then Ctrl-D once python3 is back at its prompt, and expect it to exit 0.

    Not both at once: python's readline can read the Ctrl-D (end of input) in the same
    wake-up that delivers the SIGINT, and then reports the KeyboardInterrupt and drops the
    end of input (seen on a fresh root: a new prompt, and the session stayed)."""
    shown = term.screen_text().count("KeyboardInterrupt")
    term.sendcontrol("c")
    term.wait_for_screen(lambda s: s.count("KeyboardInterrupt") > shown and last_line(s) == ">>>")
    term.sendcontrol("d")
    assert term.wait_exit() == 0


def quit_bc(term: Terminal) -> None:
    """End a bc session with Ctrl-D and expect status 0."""
    term.sendcontrol("d")
    assert term.wait_exit() == 0


@pytest.fixture
def remote_dir() -> Iterator[str]:
    """A fresh directory name under /tmp for the remote shell to create (and removed)."""
    path = f"/tmp/rrc-{uuid.uuid4().hex[:10]}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


# -- 1. history ----------------------------------------------------------------------------


def test_history_survives_a_restart_is_private_and_recalled_with_up_and_ctrl_r(
    embedded_env: ClientEnv,
) -> None:
    """Lines typed in one session come back in the next (Up, Ctrl-R); the file is 0600 in
    a 0700 directory, under the XDG state dir."""
    with spawn_remoterepl([embedded_env.user_alias, "bc"], embedded_env.env) as term:
        term.wait_for_screen("bc>")
        term.sendline("11+1")
        term.wait_for_screen(lambda s: "\n12" in s)
        term.sendline("22+2")
        term.wait_for_screen(lambda s: "\n24" in s)
        quit_bc(term)
    files = history_files(embedded_env)
    assert len(files) == 1, files
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(files[0].parent.stat().st_mode) == 0o700
    assert "+22+2" in files[0].read_text()
    assert "bc" in (files[0].parent / "INDEX").read_text()

    with spawn_remoterepl([embedded_env.user_alias, "bc"], embedded_env.env) as term:
        term.wait_for_screen("bc>")
        term.send("\x1b[A")  # Up
        term.wait_for_screen(lambda s: last_line(s) == "bc> 22+2")
        term.send("\x1b[A")
        term.wait_for_screen(lambda s: last_line(s) == "bc> 11+1")
        term.sendline()
        term.wait_for_screen(lambda s: "\n12" in s)
        term.sendcontrol("r")
        term.send("22")
        term.wait_for_screen(lambda s: "22+2" in last_line(s) and "search" in last_line(s))
        term.sendline()  # runs the found line, as in readline
        term.wait_for_screen(lambda s: s.count("\n24") == 1 and "bc> 22+2\n24" in s)
        term.sendcontrol("r")
        term.send("11")
        term.wait_for_screen(lambda s: "search" in last_line(s))
        term.sendcontrol("c")  # leaves the search, discards the line
        term.wait_for_screen(lambda s: last_line(s) == "bc>")
        quit_bc(term)


def test_auto_suggestion_from_history(embedded_env: ClientEnv) -> None:
    """A line typed before is suggested (fish-style) and Right arrow takes it."""
    with spawn_remoterepl([embedded_env.user_alias, "bc"], embedded_env.env) as term:
        term.wait_for_screen("bc>")
        term.sendline("123456+1")
        term.wait_for_screen(lambda s: "\n123457" in s)
        term.send("1234")
        term.wait_for_screen(lambda s: last_line(s) == "bc> 123456+1")  # suggestion shown
        term.send("\x1b[C")  # Right: take it
        term.sendline()
        term.wait_for_screen(lambda s: s.count("\n123457") == 2)
        quit_bc(term)


def test_no_history_writes_nothing(embedded_env: ClientEnv) -> None:
    """--no-history: no file is read or written."""
    with spawn_remoterepl(
        ["--no-history", embedded_env.user_alias, "bc"], embedded_env.env
    ) as term:
        term.wait_for_screen("bc>")
        term.sendline("5+5")
        term.wait_for_screen(lambda s: "\n10" in s)
        quit_bc(term)
    assert history_files(embedded_env) == []


def test_history_ignore_pattern_from_config(embedded_env: ClientEnv) -> None:
    """Lines matching the configured ``history_ignore`` regex are not stored."""
    write_config(embedded_env, 'history_ignore = "^7[+]"\n')  # (a leading space is default)
    with spawn_remoterepl([embedded_env.user_alias, "bc"], embedded_env.env) as term:
        term.wait_for_screen("bc>")
        term.sendline("7+7")
        term.wait_for_screen(lambda s: "\n14" in s)
        term.sendline("8+8")
        term.wait_for_screen(lambda s: "\n16" in s)
        quit_bc(term)
    text = history_files(embedded_env)[0].read_text()
    assert "+8+8" in text and "7+7" not in text


# -- 2. secrets ----------------------------------------------------------------------------


def test_password_prompt_reads_a_hidden_line_kept_out_of_history_and_recording(
    embedded_env: ClientEnv, tmp_path: Path
) -> None:
    """``read -s -p 'Password: '``: what is typed shows as stars, reaches the remote, and
    is in neither the history file nor the recording."""
    cast = tmp_path / "session.cast"
    secret = "hunter2-s3cret"
    with spawn_remoterepl(
        ["--record", str(cast), embedded_env.user_alias], embedded_env.env
    ) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=15)
        term.sendline("read -s -p 'Password: ' pw; echo; echo \"got ${#pw} chars\"")
        term.wait_for_screen(lambda s: last_line(s).startswith("Password:"))
        term.send(secret)
        term.wait_for_screen(lambda s: last_line(s) == "Password: " + "*" * len(secret))
        term.sendline()
        term.wait_for_screen(f"got {len(secret)} chars")
        term.sendline("exit")
        assert term.wait_exit() == 0
        assert secret not in term.transcript_text()
    history = history_files(embedded_env)[0].read_text()
    assert "read -s -p" in history and secret not in history
    recording = cast.read_text()
    assert "read -s -p" in recording and secret not in recording


# -- 3. prompts ----------------------------------------------------------------------------


def test_python_interactive_prompt_appears_once(embedded_env: ClientEnv) -> None:
    """``python3 -i``: its ``>>> `` is the editor's prompt, shown once per line."""
    with spawn_remoterepl(
        [embedded_env.user_alias, "python3", "-i", "-q"], embedded_env.env
    ) as term:
        term.wait_for_screen(lambda s: last_line(s) == ">>>", timeout=15)
        term.sendline("print(6*7)")
        screen = term.wait_for_screen(lambda s: "\n42\n>>>" in s)
        assert screen.count(">>>") == 2, screen
        assert screen.count("print(6*7)") == 1
        term.sendcontrol("d")
        assert term.wait_exit() == 0


def test_local_prompt_from_config_per_destination(embedded_env: ClientEnv) -> None:
    """A ``[hosts."ALIAS"]`` table sets the local prompt for programs without one."""
    write_config(
        embedded_env,
        f'prompt = "{{command}}$ "\n[hosts."{embedded_env.user_alias}"]\n'
        'prompt = "calc({command})> "\n',
    )
    with spawn_remoterepl([embedded_env.user_alias, "bc"], embedded_env.env) as term:
        term.wait_for_screen(lambda s: last_line(s) == "calc(bc)>")
        term.sendline("2^10")
        term.wait_for_screen(lambda s: "calc(bc)> 2^10\n1024" in s)
        quit_bc(term)


# -- 4. completion -------------------------------------------------------------------------


def test_tab_completes_a_word_seen_in_remote_output(embedded_env: ClientEnv) -> None:
    """A word the remote printed completes with Tab (python: no remote file lookups)."""
    with spawn_remoterepl([embedded_env.user_alias, "python3", "-q"], embedded_env.env) as term:
        term.wait_for_screen(lambda s: last_line(s) == ">>>", timeout=15)
        term.sendline("print('ZEBRA'.lower() + '_quokka')")  # the word is only in output
        term.wait_for_screen(lambda s: "\nzebra_quokka" in s)
        term.send("zebr\t")
        term.wait_for_screen(lambda s: last_line(s) == ">>> zebra_quokka")
        interrupt_then_end(term)


def test_tab_completes_remote_file_and_command_names_in_a_shell(
    embedded_env: ClientEnv, remote_dir: str
) -> None:
    """In the login shell Tab completes remote paths (SFTP), paths relative to the shell's
    working directory, and command names."""
    with spawn_remoterepl([embedded_env.user_alias], embedded_env.env) as term:
        term.wait_for_screen(shell_prompt_shown, timeout=15)
        term.sendline(
            f"mkdir -p {remote_dir}/subdir && touch {remote_dir}/unique-file-name.txt && echo made"
        )
        term.wait_for_screen("\nmade")
        term.send(f"ls {remote_dir}/uniq\t")
        term.wait_for_screen(
            lambda s: last_line(s).endswith(f"ls {remote_dir}/unique-file-name.txt")
        )
        term.sendline()
        term.wait_for_screen(f"\n{remote_dir}/unique-file-name.txt")
        term.sendline(f"cd {remote_dir}")
        term.wait_for_screen(lambda s: shell_prompt_shown(s) and remote_dir[5:] in last_line(s))
        term.send("cat uniq\t")
        term.wait_for_screen(lambda s: last_line(s).endswith("cat unique-file-name.txt"))
        term.sendcontrol("c")
        term.send("whoam\t")
        term.wait_for_screen(lambda s: last_line(s).endswith("whoami"))
        term.sendline()
        term.wait_for_screen(f"\n{embedded_env.users.user}")
        term.sendline("exit")
        assert term.wait_exit() == 0


# -- 5. highlighting and escapes -----------------------------------------------------------


def _styled_chars(term: Terminal, word: str) -> list[tuple[str, bool]]:
    """(fg colour, bold) of each character of the last occurrence of ``word`` on screen."""
    for y in range(term.screen.lines - 1, -1, -1):
        line = term.screen_lines()[y]
        x = line.rfind(word)
        if x >= 0:
            row = term.screen.buffer[y]
            return [(row[x + i].fg, row[x + i].bold) for i in range(len(word))]
    raise AssertionError(f"{word!r} not on screen")


def test_input_is_highlighted_by_language_and_no_color_turns_it_off(
    embedded_env: ClientEnv,
) -> None:
    """python3 input is highlighted as Python (a keyword is coloured); NO_COLOR: plain."""
    for no_color in (False, True):
        env = dict(embedded_env.env)
        if no_color:
            env["NO_COLOR"] = "1"
        with spawn_remoterepl([embedded_env.user_alias, "python3", "-q"], env) as term:
            term.wait_for_screen(lambda s: last_line(s) == ">>>", timeout=15)
            term.send("import os")
            term.wait_for_screen(lambda s: last_line(s) == ">>> import os")
            styles = _styled_chars(term, "import")
            plain = all(fg == "default" and not bold for fg, bold in styles)
            assert plain == no_color, styles
            interrupt_then_end(term)


def test_strip_escapes_drops_title_and_clipboard_sequences(embedded_env: ClientEnv) -> None:
    """--strip-escapes: OSC title / clipboard strings from the remote never reach the
    terminal; colours and text do."""
    command = (
        "printf '\\033]0;evil-title\\007\\033]52;c;ZXZpbA==\\007\\033[32mgreen-text\\033[0m\\n'"
    )
    for strip in (False, True):
        args = (["--strip-escapes"] if strip else []) + [embedded_env.user_alias]
        with spawn_remoterepl(args, embedded_env.env) as term:
            term.wait_for_screen(shell_prompt_shown, timeout=15)
            term.sendline(command)
            term.wait_for_screen("\ngreen-text")
            term.sendline("exit")
            assert term.wait_exit() == 0
            text = term.transcript_text()
            assert ("\x1b]0;evil-title" in text) != strip
            assert ("\x1b]52;c;ZXZpbA==" in text) != strip
            assert "\x1b[32mgreen-text" in text


# -- 6. toolbar ----------------------------------------------------------------------------


def test_toolbar_shows_destination_and_state_and_f2_toggles_it(embedded_env: ClientEnv) -> None:
    """``toolbar = true``: destination, command, pty and idle/running; F2 hides it."""
    write_config(embedded_env, "toolbar = true\n")
    destination = f"{embedded_env.users.user}@127.0.0.1:{embedded_env.port}"
    with spawn_remoterepl([embedded_env.user_alias, "bc"], embedded_env.env) as term:
        term.wait_for_screen(destination)
        term.wait_for_screen(lambda s: re.search(r"bc\s+│\s+pty\s+│\s+idle", s) is not None)
        term.sendline("for(i=0;i<10^9;i++){}")
        term.wait_for_screen(lambda s: re.search(r"running \ds", s) is not None)
        term.sendcontrol("c")
        term.wait_for_screen("idle", timeout=15)
        term.send(F2)
        term.wait_for_screen(lambda s: destination not in s)
        term.send(F2)
        term.wait_for_screen(destination)
        quit_bc(term)


# -- 7. multi-line and paste ---------------------------------------------------------------


def test_bracketed_paste_sends_a_block_in_order(embedded_env: ClientEnv) -> None:
    """A pasted 3-line block waits in the editor, then goes as three lines, in order."""
    with spawn_remoterepl([embedded_env.user_alias, "bc"], embedded_env.env) as term:
        term.wait_for_screen("bc>")
        term.send("\x1b[200~1+100\n2+200\n3+300\x1b[201~")
        term.wait_for_screen("3+300")
        assert "101" not in term.screen_text().replace("1+100", "")
        term.sendline()
        # Each line as the remote echoes it, right before its own result.
        pattern = r"bc> 1\+100\n101\n2\+200\n202\n3\+300\n303\b"
        screen = term.wait_for_screen(lambda s: re.search(pattern, s) is not None)
        assert screen.count("2+200") == 1
        quit_bc(term)


def test_meta_enter_inserts_a_newline(embedded_env: ClientEnv) -> None:
    """Meta-Enter (Esc Enter) starts a second line in the editor instead of sending."""
    with spawn_remoterepl([embedded_env.user_alias, "bc"], embedded_env.env) as term:
        term.wait_for_screen("bc>")
        term.send("40+4")
        term.send(META_ENTER)
        term.send("50+5")
        term.wait_for_screen("50+5")
        term.sendline()
        term.wait_for_screen(lambda s: re.search(r"40\+4\n44\n50\+5\n55\b", s) is not None)
        quit_bc(term)


def test_ctrl_x_ctrl_e_edits_the_line_in_editor(embedded_env: ClientEnv) -> None:
    """Ctrl-X Ctrl-E runs $EDITOR on the line and sends what it saved."""
    env = dict(embedded_env.env, EDITOR="sed -i s/foo/21/", VISUAL="")
    with spawn_remoterepl([embedded_env.user_alias, "bc"], env) as term:
        term.wait_for_screen("bc>")
        term.send("foo*2")
        term.wait_for_screen("foo*2")
        term.sendcontrol("x")
        term.sendcontrol("e")
        term.wait_for_screen(lambda s: "\n42" in s)
        quit_bc(term)


# -- 8. config -----------------------------------------------------------------------------


def test_vi_mode_from_the_config_file(embedded_env: ClientEnv) -> None:
    """``edit_mode = "vi"``: Esc enters normal mode, ``x`` deletes, ``a`` appends."""
    write_config(embedded_env, 'edit_mode = "vi"\n')
    with spawn_remoterepl([embedded_env.user_alias, "bc"], embedded_env.env) as term:
        term.wait_for_screen("bc>")
        term.send("3+4")
        term.wait_for_screen(lambda s: last_line(s) == "bc> 3+4")
        column = term.cursor[1]
        term.send("\x1b")
        term.wait_for_screen(lambda s: term.cursor[1] == column - 1)  # normal mode
        term.send("x")
        term.wait_for_screen(lambda s: last_line(s) == "bc> 3+")
        term.send("a5")
        term.wait_for_screen(lambda s: last_line(s) == "bc> 3+5")
        term.sendline()
        term.wait_for_screen(lambda s: "\n8" in s)
        quit_bc(term)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('toolbar = true\nedit_mode = "vim"\n', r"line 2: edit_mode: must be \"emacs\" or \"vi\""),
        ("toolbar = true\n[hosts.web\nx=1\n", r"line 2, column \d+: "),
        ("history_sise = 5\n", r"line 1: history_sise: unknown key"),
    ],
)
def test_malformed_config_gives_one_line_and_status_2(
    embedded_env: ClientEnv, text: str, expected: str
) -> None:
    """A bad config file: one line naming the file, line and key; exit status 2."""
    path = write_config(embedded_env, text)
    with spawn_remoterepl([embedded_env.user_alias, "bc"], embedded_env.env) as term:
        assert term.wait_exit() == 2
        output = term.transcript
    line = assert_one_line_error(bytes(output))
    assert line.startswith(f"remoterepl: config file {path} "), line
    assert re.search(expected, line), line


def test_config_file_option(embedded_env: ClientEnv, tmp_path: Path) -> None:
    """--config FILE replaces the default file; [[match]] tables select by command."""
    config = tmp_path / "alt.toml"
    config.write_text('[[match]]\ncommand = "bc*"\nprompt = "alt> "\n')
    with spawn_remoterepl(
        ["--config", str(config), embedded_env.user_alias, "bc"], embedded_env.env
    ) as term:
        term.wait_for_screen(lambda s: last_line(s) == "alt>")
        quit_bc(term)


def test_record_needs_the_line_editor(embedded_env: ClientEnv, tmp_path: Path) -> None:
    """--record in pipe mode is a usage error (one line, status 2), not silently ignored."""
    result = run_remoterepl(
        ["--record", str(tmp_path / "x.cast"), embedded_env.user_alias, "bc"],
        env=embedded_env.env,
        input=b"1+1\n",
    )
    assert result.returncode == 2
    assert "--record records the line editor" in assert_one_line_error(result.stderr)
    assert not (tmp_path / "x.cast").exists()


# -- 9. recording --------------------------------------------------------------------------


def test_recording_is_asciicast_v2_with_output_input_and_resize(
    embedded_env: ClientEnv, tmp_path: Path
) -> None:
    """--record: a header, then [t, "o"|"i"|"r", data] events holding the session."""
    cast = tmp_path / "bc.cast"
    with spawn_remoterepl(
        ["--record", str(cast), embedded_env.user_alias, "bc"], embedded_env.env
    ) as term:
        term.wait_for_screen("bc>")
        term.sendline("6*7")
        term.wait_for_screen(lambda s: "\n42" in s)
        term.resize(30, 100)
        term.sendline("6*8")
        term.wait_for_screen(lambda s: "\n48" in s)
        quit_bc(term)
    assert stat.S_IMODE(cast.stat().st_mode) == 0o600
    lines = cast.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2
    assert (header["width"], header["height"]) == (80, 24)
    events = [json.loads(line) for line in lines[1:]]
    times = [e[0] for e in events]
    assert times == sorted(times)
    assert all(len(e) == 3 and e[1] in ("o", "i", "r") and isinstance(e[2], str) for e in events)
    output = "".join(e[2] for e in events if e[1] == "o")
    assert "42" in output and "48" in output and "bc>" in output
    assert [e[2] for e in events if e[1] == "i"] == ["6*7\r", "6*8\r"]
    assert [e[2] for e in events if e[1] == "r"] == ["100x30"]
