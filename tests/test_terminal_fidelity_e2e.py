"""A login shell under remoterepl used as under ``ssh -t`` (issue 11): single-key programs
outside the alternate screen, job control, full-screen programs suspended and resumed or
killed, screen clears, the remote's echo, pastes and type-ahead, busy prompts, terminal
query answers. The installed remoterepl in a real pty, asserting on the pyte screen, against
the embedded server and a real OpenSSH sshd (root), with the same keys through ``ssh -t``
for the parity test."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from tests.client import Terminal, remoterepl_command
from tests.client_env import ClientEnv, Login
from tests.system import require_program

PROMPT = "rr$ "
SHELL = f"env PS1='{PROMPT}' TERM=xterm bash --norc --noprofile -i"


def at_prompt(text: str) -> bool:
    """The last non-blank row is the idle shell prompt."""
    rows = [row for row in text.splitlines() if row.strip()]
    return bool(rows) and rows[-1].rstrip() == PROMPT.rstrip()


@contextmanager
def shell(argv: Sequence[str], env: dict[str, str], rows: int = 24) -> Iterator[Terminal]:
    with Terminal(argv, env=env, rows=rows, cols=90) as term:
        term.wait_for_screen(at_prompt, timeout=20)
        yield term


def login_shell(login: Login, rows: int = 24) -> AbstractContextManager[Terminal]:
    return shell(remoterepl_command([login.alias, SHELL]), dict(login.env.env), rows)


def run(
    term: Terminal,
    line: str,
    until: str | Callable[[str], bool] | None = None,
    timeout: float = 10.0,
) -> str:
    """Type ``line`` + Enter and wait for ``until`` (default: the prompt again)."""
    term.sendline(line)
    if until is None:
        tail = line[-20:]  # long lines wrap: look for their end
        return term.wait_for_screen(
            lambda s: at_prompt(s) and tail in s.replace("\n", ""), timeout=timeout
        )
    return term.wait_for_screen(until, timeout=timeout)


def lines_file(tmp_path: Path, count: int = 200) -> Path:
    path = tmp_path / "lines.txt"
    path.write_text("".join(f"line {n:03d}\n" for n in range(1, count + 1)))
    path.chmod(0o644)
    tmp_path.chmod(0o755)
    return path


def test_single_key_programs_get_their_keys_at_once(login: Login, tmp_path: Path) -> None:
    """read -n1, less -X and git log's pager (less -FRX) take Space/q/y with no Enter."""
    path = lines_file(tmp_path)
    with login_shell(login) as term:
        term.sendline("read -n1 -p 'Continue? ' a; echo; echo got=$a")
        term.wait_for_screen("Continue?")
        term.send("y")  # no Enter
        term.wait_for_screen("got=y")
        term.sendline(f"less -X {path}")
        term.wait_for_screen("line 023")
        term.send(" ")
        screen = term.wait_for_screen("line 045")
        term.send("q")
        term.wait_for_screen(at_prompt)
        screen = run(term, "echo after-less", until=lambda s: "\nafter-less" in s and at_prompt(s))
        assert "bash: q" not in screen and "command not found" not in screen, screen


def test_git_log_pager_and_top_take_keys(login: Login, tmp_path: Path) -> None:
    """`git log` with pager `less -FRX` pages on Space and quits on q; top quits on q."""
    require_program("git", "git")
    repo = tmp_path / "repo"
    repo.mkdir()
    git = "git -c user.name=t -c user.email=t@t -c init.defaultBranch=main"
    with login_shell(login) as term:
        run(
            term,
            f"cd {repo} && {git} init -q && for i in $(seq 80); do "
            f"{git} commit -q --allow-empty -m commit-$i; done",
            timeout=60,
        )
        term.sendline("GIT_PAGER='less -FRX' git log --format=%s")
        term.wait_for_screen("commit-60")
        term.send(" ")
        term.wait_for_screen("commit-40")
        term.send("q")
        term.wait_for_screen(at_prompt)
        term.sendline("top -d 5")
        term.wait_for_screen("Tasks:")
        term.send("q")
        run(term, "echo after-top", until=lambda s: "\nafter-top" in s and at_prompt(s))


def test_ctrl_z_stops_the_job_and_fg_bg_jobs_work(login: Login) -> None:
    with login_shell(login) as term:
        term.sendline("sleep 30")
        term.wait_for_screen("sleep 30")
        time.sleep(0.5)
        term.sendcontrol("z")
        screen = term.wait_for_screen(lambda s: "Stopped" in s and at_prompt(s))
        assert "^Z" not in screen.split("Stopped")[-1]  # never typed into the line
        screen = run(term, "jobs")
        assert re.search(r"\[1\]\+ +Stopped +sleep 30", screen)
        term.sendline("fg")
        term.wait_for_screen(lambda s: s.rstrip().endswith("sleep 30"))
        time.sleep(0.3)
        term.sendcontrol("c")
        term.wait_for_screen(at_prompt)
        screen = run(term, "jobs; echo jobs-done")
        assert "\njobs-done" in screen and "Stopped" not in screen.split("jobs-done")[-1]


def test_fg_back_into_vi_shows_its_screen(login: Login, tmp_path: Path) -> None:
    """vi suspended with Ctrl-Z and resumed with fg redraws at once (no Ctrl-L needed)."""
    require_program("vi", "vim-tiny")
    target = tmp_path / "note.txt"
    tmp_path.chmod(0o777)
    with login_shell(login) as term:
        term.sendline(f"vi -u NONE {target}")
        term.wait_for_screen("~")
        term.send("ihello from vi\x1b")
        term.wait_for_screen("hello from vi")
        time.sleep(0.3)
        term.sendcontrol("z")
        screen = term.wait_for_screen(lambda s: "Stopped" in s and at_prompt(s))
        term.sendline("fg")
        screen = term.wait_for_screen(lambda s: "hello from vi" in s and "~" in s)
        assert "Stopped" not in screen
        term.send(":wq\r")
        term.wait_for_screen(at_prompt)
        assert target.read_text() == "hello from vi\n"


def test_clear_clears_the_screen(login: Login) -> None:
    with login_shell(login) as term:
        run(term, "echo before-clear")
        term.sendline("clear")
        screen = term.wait_for_screen(lambda s: "before-clear" not in s and at_prompt(s))
        assert term.screen_lines()[0] == PROMPT.rstrip()
        assert term.cursor == (0, len(PROMPT))
        assert "clear" not in screen


def test_every_line_shows_once_whatever_the_remote_echo(login: Login) -> None:
    """After `stty sane` (echo on for good) and `stty -echo; stty echo`: one copy each."""
    with login_shell(login) as term:
        run(term, "stty sane")
        screen = run(term, "echo once-$((6*7))")
        assert screen.count("echo once-$((6*7))") == 1
        assert screen.count("once-42") == 1


def test_node_repl_shows_each_line_once(login: Login) -> None:
    require_program("node", "nodejs")
    with login_shell(login) as term:
        term.sendline("node")
        term.wait_for_screen(lambda s: s.rstrip().endswith(">"), timeout=20)
        term.sendline("6*7")
        screen = term.wait_for_screen("\n42")
        assert screen.count("6*7") == 1
        term.sendline(".exit")
        term.wait_for_screen(at_prompt)


def test_ipython_is_usable_without_flags(login: Login) -> None:
    """IPython draws its own input (it asks for the cursor position): keys pass through,
    its CPR question gets the terminal's answer (no warning), lines show once."""
    if shutil.which("ipython3", path="/usr/bin") is None:
        pytest.skip("needs /usr/bin/ipython3 (Debian ipython3: scripts/bootstrap installs it)")
    with login_shell(login) as term:
        term.sendline("/usr/bin/ipython3 --no-banner --no-confirm-exit --colors=NoColor")
        term.wait_for_screen("In [1]:", timeout=30)
        term.sendline("6*7")
        screen = term.wait_for_screen("Out[1]: 42", timeout=15)
        assert "CPR" not in screen and screen.count("6*7") == 1
        term.sendline("exit")
        term.wait_for_screen(at_prompt, timeout=15)


def test_a_program_dead_on_the_alternate_screen_gives_the_editor_back(login: Login) -> None:
    with login_shell(login) as term:
        term.sendline("sh -c 'printf \"\\033[?1049h\\033[?1h\\033=\"; sleep 0.5; kill -9 $$'")
        term.wait_for_screen("Killed", timeout=10)
        time.sleep(0.5)
        term.send("echo back-again")
        screen = term.wait_for_screen(f"{PROMPT}echo back-again")  # the editor's line
        term.sendline("")
        screen = term.wait_for_screen("\nback-again")
        assert "\x1b" not in screen
        assert "?1049h" not in term.transcript_text().rsplit("back-again", 1)[-1]


def test_pasted_block_and_type_ahead_show_each_line_after_its_prompt(login: Login) -> None:
    with login_shell(login) as term:
        term.sendline("python3 -q")
        term.wait_for_screen(lambda s: s.rstrip().endswith(">>>"), timeout=15)
        # The tty watcher's first report (python3 in front) takes up to a second after
        # login: only then is a line typed ahead known to be echoed again by python.
        time.sleep(1.5)
        term.send("\x1b[200~x = 20\ny = 3\nx + y\n\x1b[201~")
        term.sendline("")
        screen = term.wait_for_screen(lambda s: "\n23" in s)
        for line in (">>> x = 20", ">>> y = 3", ">>> x + y"):
            assert screen.count(line) == 1, screen
        assert ">>> >>>" not in screen
        term.sendline("import time; time.sleep(1.5)")
        term.sendline("6*7")  # typed while python is busy
        screen = term.wait_for_screen("\n42", timeout=10)
        assert ">>> 6*7\n42" in screen, screen
        assert screen.count("6*7") == 1, screen
        term.sendcontrol("d")
        term.wait_for_screen(at_prompt)


def test_no_stale_prompt_while_a_command_runs(login: Login) -> None:
    with login_shell(login) as term:
        term.sendline("sleep 2; echo slept")
        screen = term.wait_for_screen("sleep 2; echo slept")
        time.sleep(0.5)
        screen = term.screen_text()
        rows = [row for row in screen.splitlines() if row.strip()]
        assert rows[-1] == f"{PROMPT}sleep 2; echo slept", screen  # no `> ` below it
        term.wait_for_screen(lambda s: "\nslept" in s and at_prompt(s))


def test_terminal_answers_go_to_the_remote_not_into_the_line(login: Login) -> None:
    with login_shell(login) as term:
        run(term, "printf '\\033[c'; echo asked")
        screen = run(term, "echo clean")
        assert "\nclean" in screen and "?6c" not in screen and "6c" not in screen.split("asked")[-1]
        term.sendline("read -rs -d c -p $'\\033[c' answer; echo \"got:${answer#?}\"")
        screen = term.wait_for_screen("got:", timeout=10)
        term.wait_for_screen(at_prompt)
        assert re.search(r"got:\[\?\d", term.screen_text()), term.screen_text()


def test_ssh_t_parity(client_env: ClientEnv, tmp_path: Path) -> None:
    """One scripted shell session through ``ssh -t`` and through remoterepl: the programs
    get the same keys (no extra Enter) and the command output agrees."""
    require_program("vi", "vim-tiny")
    path = lines_file(tmp_path)
    note = tmp_path / "parity.txt"
    tmp_path.chmod(0o777)
    results: dict[str, list[str]] = {}
    commands = {
        "ssh -t": client_env.ssh_args("-t", client_env.root_alias, SHELL),
        "remoterepl": remoterepl_command([client_env.root_alias, SHELL]),
    }
    for name, argv in commands.items():
        note.unlink(missing_ok=True)
        with shell(argv, dict(client_env.env)) as term:
            term.sendline(f"less -X {path}")
            term.wait_for_screen("line 023")
            term.send(" ")
            term.wait_for_screen("line 045")
            term.send("q")
            term.wait_for_screen(at_prompt)
            term.sendline("read -n1 -p 'Continue? ' a; echo")
            term.wait_for_screen("Continue?")
            term.send("y")
            term.wait_for_screen(at_prompt)
            term.sendline("top -d 5")
            term.wait_for_screen("Tasks:")
            term.send("q")
            term.wait_for_screen(at_prompt)
            term.sendline(f"vi -u NONE {note}")
            term.wait_for_screen("~")
            term.send("iparity\x1b")
            term.wait_for_screen("parity")
            time.sleep(0.3)
            term.sendcontrol("z")
            term.wait_for_screen(lambda s: "Stopped" in s and at_prompt(s))
            term.sendline("fg")
            term.wait_for_screen(lambda s: "parity" in s and "~" in s)
            term.send(":wq\r")
            term.wait_for_screen(at_prompt)
            run(term, "stty sane")
            term.sendline("clear")
            term.wait_for_screen(lambda s: "Continue" not in s and at_prompt(s))
            term.send("\x1b[200~echo p1\x1b[201~")
            term.sendline("")
            term.wait_for_screen(lambda s: "\np1" in s and at_prompt(s))
            term.sendline('echo "a=$a note=$(cat ' + str(note) + ')"')
            term.wait_for_screen(lambda s: "\na=y note=parity" in s and at_prompt(s))
            results[name] = [row for row in term.screen_lines() if row.strip()]
            term.sendline("exit")
    assert results["remoterepl"] == results["ssh -t"]


def test_reset_keeps_lines_shown_once(login: Login) -> None:
    """`reset` turns echo on for good (as stty sane does): still one copy of each line."""
    with login_shell(login) as term:
        term.sendline("reset; echo reset-done")
        term.wait_for_screen(
            lambda s: "reset-done" in s.replace("echo reset-done", "") and at_prompt(s), 15
        )
        screen = run(term, "echo after-$((2*3))")
        assert screen.count("echo after-$((2*3))") == 1 and screen.count("after-6") == 1


def test_a_line_typed_before_the_first_prompt_shows_once(login: Login) -> None:
    """Typed as soon as the editor is up, before python's first ``>>>``: one copy, after
    the prompt. (Keys typed while connecting are echoed by the local terminal, still in
    line mode then, as with ssh.)"""
    argv = remoterepl_command([login.alias, "python3 -q"])
    with Terminal(argv, env=dict(login.env.env), cols=90) as term:
        term.wait_for_output("\x1b[?2004h")  # the editor's first frame: bracketed paste on
        term.sendline("6*7")
        screen = term.wait_for_screen(lambda s: "\n42" in s and s.rstrip().endswith(">>>"), 20)
        assert screen.count("6*7") == 1, screen
        term.sendcontrol("d")
        assert term.wait_exit() == 0


def test_escape_ctrl_z_suspends_remoterepl_and_fg_resumes_it(login: Login) -> None:
    """``~^Z`` stops remoterepl itself (its shell says Stopped); ``fg`` brings the same
    session back."""
    local = dict(login.env.env, PS1="local$ ")
    command = " ".join(remoterepl_command([login.alias, SHELL]))
    with Terminal(["bash", "--norc", "--noprofile", "-i"], env=local, cols=90) as term:
        term.wait_for_screen("local$")
        term.sendline(command)
        term.wait_for_screen(at_prompt, timeout=20)
        run(term, "marker=$((40+2))")
        term.send("~\x1a")
        term.wait_for_screen(lambda s: "Stopped" in s and s.rstrip().endswith("local$"))
        term.sendline("fg")
        term.sendline("echo marker=$marker")
        term.wait_for_screen("\nmarker=42", timeout=10)
        term.sendline("exit")
        term.wait_for_screen(lambda s: s.rstrip().endswith("local$"), timeout=10)
        term.sendline("exit")
        assert term.wait_exit() == 0


def test_man_with_a_pager_outside_the_alternate_screen(login: Login) -> None:
    """``MANPAGER='less -X' man bash``: Space pages, q quits, no Enter needed."""
    require_program("man", "man-db")
    if subprocess.run(["man", "-w", "bash"], capture_output=True).returncode != 0:
        pytest.skip("no bash man page installed here")
    with login_shell(login) as term:
        term.sendline("MANPAGER='less -X' MANWIDTH=80 man bash")
        term.wait_for_screen("GNU Bourne-Again SHell", timeout=20)
        term.send(" ")
        term.wait_for_screen(lambda s: "GNU Bourne-Again SHell" not in s, timeout=10)
        term.send("q")
        term.wait_for_screen(at_prompt)
        term.sendline("echo after-man")
        screen = term.wait_for_screen(lambda s: "\nafter-man" in s and at_prompt(s))
        assert "command not found" not in screen


def test_a_reader_that_turns_echo_off_gets_a_secret_line(login: Login) -> None:
    """``read -s`` with a prompt no word list knows: the tty's echo is off, so the line is
    hidden in the editor and kept out of the history, whatever the prompt says."""
    with login_shell(login) as term:
        term.sendline("read -s -p 'Thing: ' t; echo; echo len=${#t}")
        term.wait_for_screen("Thing:")
        time.sleep(0.3)  # the watcher's report: echo off
        term.send("zebra42")
        time.sleep(0.3)
        assert "zebra42" not in term.screen_text()
        term.sendline("")
        screen = term.wait_for_screen(lambda s: "len=7" in s and at_prompt(s))
        assert "zebra42" not in screen
        term.send("\x1b[A")  # Up: the last stored line is the read command, not the secret
        screen = term.wait_for_screen(lambda s: s.rstrip().endswith("len=${#t}"))
        assert "zebra42" not in screen


def test_lines_typed_to_readers_without_a_prompt_are_shown(login: Login) -> None:
    """`read x` and cat print no prompt and do not echo again: the tty's echo shows the
    line, as under ssh -t (also typed ahead while a command still runs)."""
    with login_shell(login) as term:
        term.sendline("read x; echo got-$x")
        time.sleep(0.3)
        term.sendline("hello")
        screen = term.wait_for_screen(lambda s: "\ngot-hello" in s and at_prompt(s))
        assert "\nhello\ngot-hello" in screen, screen
        term.sendline("sleep 1; read y; echo got-$y")
        time.sleep(0.2)
        term.sendline("ahead")  # typed while sleep runs
        screen = term.wait_for_screen(lambda s: "\ngot-ahead" in s and at_prompt(s), 10)
        assert "ahead\n" in screen.split("read y; echo got-$y")[-1], screen


def test_a_program_without_a_prompt_under_the_shell_gets_none(login: Login) -> None:
    """bc started from the shell: no local prompt (the shell has prompted: bc shows none,
    as under ssh -t), and its lines are not painted over."""
    with login_shell(login) as term:
        term.sendline("bc -q")
        time.sleep(0.5)
        term.sendline("2^10")
        screen = term.wait_for_screen("\n1024")
        assert "\n2^10\n1024" in screen, screen
        assert "bash>" not in screen and "bc>" not in screen
        term.sendline("quit")
        term.wait_for_screen(at_prompt)


def test_python_started_from_the_shell_indents(login: Login) -> None:
    """Tab at the start of a block line indents, and the block runs (python3 in front of
    the login shell, named by the tty watcher)."""
    with login_shell(login) as term:
        term.sendline("python3 -q")
        term.wait_for_screen(lambda s: s.rstrip().endswith(">>>"), timeout=15)
        time.sleep(0.3)  # the watcher names python3 as the program in front
        term.sendline("for i in range(2):")
        term.wait_for_screen(lambda s: s.rstrip().endswith("..."))
        term.send("\t")
        term.send("print('it', i)\r\r")
        screen = term.wait_for_screen(lambda s: "it 1" in s)
        assert "IndentationError" not in screen
        term.sendcontrol("d")
        term.wait_for_screen(at_prompt)


def test_a_query_in_the_prompt_line_is_asked_at_once(login: Login) -> None:
    """`printf '\\e[c'` right before the prompt: the query goes out at once, so its answer
    never waits for (or lands in) the next line, however long the user waits."""
    with login_shell(login) as term:
        run(term, "printf '\\033[c'")
        time.sleep(3)  # longer than the answer window
        screen = run(term, "echo later")
        assert "\nlater" in screen and "?6c" not in screen and "6cecho" not in screen


def test_the_prompt_survives_leaving_a_dead_alternate_screen(login: Login) -> None:
    with login_shell(login) as term:
        term.sendline("sh -c 'printf \"\\033[?1049h\"; sleep 0.5; kill -9 $$'")
        time.sleep(1.5)
        term.sendline("echo still-here")
        screen = term.wait_for_screen(lambda s: "\nstill-here" in s and at_prompt(s))
        assert f"{PROMPT}echo still-here" in screen, screen


def test_relative_completion_follows_the_shell_not_the_tty_watcher(
    login: Login, tmp_path: Path
) -> None:
    """No OSC 7 from this prompt: the shell's working directory comes from /proc, where
    the tty watcher (a process of the session too) must not count."""
    folder = tmp_path / "tabs"
    folder.mkdir()
    (folder / "uniquefilename.txt").write_text("x\n")
    tmp_path.chmod(0o755)
    folder.chmod(0o755)
    with login_shell(login) as term:
        run(term, f"cd {folder}")
        term.send("cat uniq\t")
        # The cwd probe, then an SFTP listing: two helper round trips and an sftp-server
        # start, slow under CI's two concurrent suites (10 s ran out twice there).
        term.wait_for_screen(lambda s: s.rstrip().endswith("cat uniquefilename.txt"), timeout=30)
        term.sendline("")
        term.wait_for_screen(lambda s: "\nx" in s and at_prompt(s))
