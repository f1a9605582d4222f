"""The front end's pure parts: config, history files, password prompts, escape stripping,
lexer choice, toolbar, completion helpers, recording format (no network, no terminal)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
import threading
from pathlib import Path

import pytest
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import InMemoryHistory
from typing_extensions import Buffer as ReadableBuffer

from remoterepl.cli import error_status, parse_args
from remoterepl.command import is_shell, program_of
from remoterepl.display import format_duration
from remoterepl.editor.completion import (
    FrontEndCompleter,
    WordBank,
    extract_words,
    in_command_position,
    shell_escape,
    shell_token,
)
from remoterepl.editor.config import ConfigError, ConfigFile, FrontEndConfig, load_frontend_config
from remoterepl.editor.highlight import lexer_name_for, make_lexer
from remoterepl.editor.history import (
    GuardedHistory,
    HistorySuggest,
    PersistentHistory,
    history_path,
    open_history,
    parse_entries,
)
from remoterepl.editor.input_mode import InputMode
from remoterepl.editor.prompt import default_prompt
from remoterepl.editor.recording import Recorder
from remoterepl.editor.sanitize import EscapeStripper
from remoterepl.editor.secret_prompts import SecretPrompts
from remoterepl.editor.streams import OutputRouter, RemoteStream
from remoterepl.editor.terminal import create_output
from remoterepl.editor.toolbar import SessionStatus, Toolbar
from remoterepl.environment import Environment
from remoterepl.errors import UsageError
from remoterepl.session.process import Destination

# -- config ---------------------------------------------------------------------------------


def parse(text: str) -> ConfigFile:
    """Parse config text as if read from ``c.toml``."""
    return ConfigFile.parse(Path("c.toml"), text)


def test_config_defaults_hosts_and_match_tables_merge_in_order() -> None:
    """Top level < [hosts.PATTERN] < [[match]]; globs match alias, host or user@host."""
    config = parse(
        'edit_mode = "vi"\ntoolbar = true\n'
        '[hosts."web*"]\nhistory_size = 50\nprompt = "w> "\n'
        '[hosts."db1 db2"]\nlexer = "sql"\n'
        '[[match]]\nhost = "web1"\ncommand = "bc*"\nprompt = "calc> "\n'
        '[[match]]\ncommand = "python3"\nhighlight = false\n'
    )
    assert config.values_for(["web1"], "bc -q") == {
        "edit_mode": "vi",
        "toolbar": True,
        "history_size": 50,
        "prompt": "calc> ",
    }
    assert config.values_for(["web2"], "bc")["prompt"] == "w> "
    assert config.values_for(["db2"], None) == {"edit_mode": "vi", "toolbar": True, "lexer": "sql"}
    assert config.values_for(["x"], "/usr/bin/python3 -q")["highlight"] is False
    assert config.values_for(["WEB9", "alice@WEB9"], None)["history_size"] == 50


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('edit_mode = "vim"\n', 'c.toml line 1: edit_mode: must be "emacs" or "vi", not "vim"'),
        ("toolbar = 1\n", "line 1: toolbar: must be true or false"),
        ("\n\nhistory_size = -3\n", "line 3: history_size: must be a whole number >= 0"),
        ("colour = true\n", "line 1: colour: unknown key (known keys: auto_suggest,"),
        ('history_ignore = "("\n', "line 1: history_ignore: is not a valid regular expression"),
        ('prompt = "{nope}> "\n', "line 1: prompt: bad placeholder 'nope'"),
        ('lexer = "klingon"\n', 'line 1: lexer: unknown Pygments lexer "klingon"'),
        ('style = "nostyle"\n', 'line 1: style: unknown style "nostyle"'),
        ('escape_char = "ab"\n', "line 1: escape_char: bad escape character 'ab'"),
        ('stderr_color = "red"\n', "line 1: stderr_color: must be SGR parameters"),
        ('[hosts."a"]\ntoolbar = true\n[hosts."b"]\nx = 1\n', "line 4: hosts.b.x: unknown key"),
        ('[[match]]\nprompt = "a"\n[[match]]\nhost = 3\n', "line 4: match.host: must be a string"),
        ("[hosts]\nweb1 = 3\n", "line 2: hosts.web1: must be a table"),
        ("toolbar = true\n[hosts.web\n", "c.toml line 2, column "),
        ("a = [\n", "c.toml line 1: "),
    ],
)
def test_config_mistakes_name_the_line_and_key(text: str, message: str) -> None:
    """Every mistake is one ConfigError line with the file, line number and key."""
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert error_status(caught.value) == 2


def test_command_line_wins_over_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--no-history, --lexer, --strip-escapes and -e beat the file; NO_COLOR beats color."""
    path = tmp_path / "c.toml"
    path.write_text('history = true\nlexer = "python"\nescape_char = "^]"\ncolor = true\n')
    monkeypatch.setenv("NO_COLOR", "1")
    settings = parse_args(
        [
            "--config",
            str(path),
            "--no-history",
            "--lexer",
            "none",
            "--strip-escapes",
            "--record",
            "x.cast",
            "h",
            "bc",
        ]
    )
    config = load_frontend_config(settings, Environment.from_process())
    assert (
        config.history,
        config.lexer,
        config.highlight,
        config.strip_escapes,
        config.record,
        config.color,
    ) == (False, None, False, True, "x.cast", False)
    assert config.escape_char == "\x1d"  # the file's, as -e was not given
    config = load_frontend_config(
        parse_args(["--config", str(path), "-e", "none", "h"]), Environment.from_process()
    )
    assert config.escape_char is None
    with pytest.raises(UsageError, match="--lexer: unknown Pygments lexer"):
        load_frontend_config(
            parse_args(["--config", str(path), "--lexer", "nope", "h"]), Environment.from_process()
        )
    with pytest.raises(ConfigError, match="can't read config file"):
        load_frontend_config(
            parse_args(["--config", str(tmp_path / "missing"), "h"]), Environment.from_process()
        )


def test_default_config_file_is_optional(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --config a missing XDG config file means built-in defaults."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("NO_COLOR", raising=False)
    config = load_frontend_config(parse_args(["h", "bc"]), Environment.from_process())
    assert config == FrontEndConfig(escape_char="~")
    (tmp_path / "remoterepl").mkdir()
    (tmp_path / "remoterepl" / "config.toml").write_text("toolbar = true\n")
    config = load_frontend_config(parse_args(["h", "bc"]), Environment.from_process())
    assert config.toolbar and config.source == str(tmp_path / "remoterepl" / "config.toml")


def test_local_prompt_template() -> None:
    """The local prompt names the program by default; templates take placeholders."""
    assert default_prompt("bc -q") == "bc> "
    assert default_prompt(None) == "> "
    where = Destination("u", "h", 2222)
    assert default_prompt("bc", "{user}@{host} {command}: ", where) == "u@h bc: "
    assert default_prompt("sudo -u postgres psql", "{destination} {command}> ", where) == (
        "u@h:2222 psql> "
    )


# -- history --------------------------------------------------------------------------------


def test_history_path_is_per_destination_and_command_and_readable(tmp_path: Path) -> None:
    """One file per user@host:port x command; the name says what it is."""
    a = history_path(tmp_path, "alice", "web1", 22, "bc")
    assert a == history_path(tmp_path, "alice", "web1", None, "bc")
    assert a.name.startswith("alice@web1_22_bc-")
    assert (
        len(
            {
                a,
                history_path(tmp_path, "alice", "web1", 22, None),
                history_path(tmp_path, "alice", "web1", 2222, "bc"),
                history_path(tmp_path, "bob", "web1", 22, "bc"),
                history_path(tmp_path, "alice", "web1", 22, "bc -q"),
            }
        )
        == 5
    )
    assert "/" not in history_path(tmp_path, "a", "h", 22, "/usr/bin/x y/z").name


def load(history: PersistentHistory) -> list[str]:
    """Entries newest first, as the editor loads them."""

    async def collect() -> list[str]:
        return [item async for item in history.load()]

    return asyncio.run(collect())


def test_history_file_is_private_appended_per_line_and_trimmed(tmp_path: Path) -> None:
    """0700 dir, 0600 file, FileHistory format; loading trims to the limit atomically."""
    path = tmp_path / "state" / "history" / "f"
    history = PersistentHistory(path, limit=3, index_line="u@h:22\tbc")
    assert load(history) == []
    for n in range(5):
        history.append_string(f"line {n}")
    history.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert parse_entries(path.read_bytes()) == [f"line {n}" for n in range(5)]
    assert (path.parent / "INDEX").read_text() == "f\tu@h:22\tbc\n"
    again = PersistentHistory(path, limit=3)
    assert load(again) == ["line 4", "line 3", "line 2"]
    assert parse_entries(path.read_bytes()) == ["line 2", "line 3", "line 4"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["INDEX", "f"]  # no temp left
    again.close()


def test_history_multiline_entries_round_trip(tmp_path: Path) -> None:
    """A pasted block is one entry, lines intact."""
    path = tmp_path / "h"
    history = PersistentHistory(path, limit=10)
    history.append_string("for x in y:\n    print(x)")
    history.close()
    assert load(PersistentHistory(path, limit=10)) == ["for x in y:\n    print(x)"]


def test_two_sessions_writing_and_trimming_lose_nothing(tmp_path: Path) -> None:
    """Concurrent appenders and a trimming loader: every entry written after the trim
    survives, none is torn."""
    path = tmp_path / "h"
    seed = PersistentHistory(path, limit=1000)
    for n in range(300):
        seed.append_string(f"old {n}")
    seed.close()

    writers = [PersistentHistory(path, limit=1000) for _ in range(2)]
    start = threading.Barrier(3)
    # Each writer's last entry comes after the trim, however the threads are scheduled
    # (a loaded machine may let both finish first: the trim alone could keep none of one).
    trimmed = threading.Event()

    def write(history: PersistentHistory, name: str) -> None:
        start.wait()
        for n in range(200):
            if n == 199:
                trimmed.wait(30)
            history._append(f"\n# t\n+{name} {n}\n".encode())

    threads = [threading.Thread(target=write, args=(w, f"w{i}")) for i, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    start.wait()
    trimmer = PersistentHistory(path, limit=100)
    trimmer.load_history_strings()
    trimmed.set()
    for thread in threads:
        thread.join()
    entries = parse_entries(path.read_bytes())
    assert all(e.startswith(("old ", "w0 ", "w1 ")) for e in entries)
    for name in ("w0", "w1"):  # each writer's entries: a contiguous newest run, in order
        mine = [int(e.split()[1]) for e in entries if e.startswith(name)]
        assert mine == list(range(200 - len(mine), 200)) and mine[-1] == 199


def test_guarded_history_refuses_secrets_even_in_memory() -> None:
    """A refused line reaches neither the file nor the session's Up-arrow list."""
    secret = {"on": False}
    history = GuardedHistory(InMemoryHistory(), keep=lambda line: not secret["on"])
    history.append_string("ls")
    secret["on"] = True
    history.append_string("hunter2")
    assert history.get_strings() == ["ls"]
    memory_only, persistent = open_history(None, 10, keep=lambda line: True)
    assert persistent is None
    memory_only.append_string("x")
    assert memory_only.get_strings() == ["x"]


def test_unwritable_history_is_reported_not_raised(tmp_path: Path) -> None:
    """A history file that can't be written gives one error text for the user."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    history = PersistentHistory(blocker / "history" / "h", limit=10)
    history.append_string("x")
    history.close()
    assert history.error is not None and "can't write history file" in history.error


def test_history_suggestion_is_the_newest_match_and_incremental() -> None:
    """Fish-style: the newest line starting with the typed text; lines of multi-line
    entries count; typing on resumes the search, a new history entry restarts it."""
    history = InMemoryHistory()
    for line in ("select 1", "select 22", "for x in y:\n    print(x)", "ls"):
        history.append_string(line)
    buffer = Buffer(history=history)
    suggest = HistorySuggest()

    def rest(text: str) -> str | None:
        found = suggest.get_suggestion(buffer, Document(text))
        return found.text if found else None

    assert rest("sel") == "ect 22"
    assert rest("select 1") == ""
    assert rest("select 1x") is None
    assert rest("    pr") == "int(x)"
    assert rest("") is None and rest("zz") is None and rest("zzz") is None
    history.append_string("zzz top")
    assert rest("zzz") == " top"


# -- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    [
        "Password: ",
        "password:",
        "[sudo] password for alice: ",
        "Enter passphrase for key '/home/a/.ssh/id_ed25519': ",
        "Password for user postgres: ",
        "Enter PEM pass phrase:",
        "(current) UNIX password: ",
        "New password: ",
        "Verification code: ",
        "Enter PIN for 'token': ",
        "Passcode or option (1-3): ",
        "\x1b[1mPassword:\x1b[0m ",
        "Password (again): ",
        "OTP? ",
    ],
)
def test_password_prompts_are_recognised(prompt: str) -> None:
    """Common password, passphrase and one-time-code prompts."""
    assert SecretPrompts().asks_for_secret(prompt)


@pytest.mark.parametrize(
    "prompt",
    [
        "",
        ">>> ",
        "bc> ",
        "user@host:~/passwords$ ",
        "mysql> ",
        "postgres=# ",
        "Password changed.",
        "Enter your name: ",
        "printf 'password: %s'",
    ],
)
def test_other_prompts_are_not_secret(prompt: str) -> None:
    """Ordinary prompts (even ones mentioning passwords) are not."""
    assert not SecretPrompts().asks_for_secret(prompt)


def test_extra_secret_prompt_pattern() -> None:
    """The config's secret_prompt adds prompts of the user's own."""
    assert SecretPrompts(r"^Vault key> $").asks_for_secret("Vault key> ")


# -- escape stripping -------------------------------------------------------------------------


def test_dangerous_sequences_are_stripped_and_colours_kept() -> None:
    """Titles, clipboard writes, DCS/APC/PM, reports and C1 controls go (an 8-bit CSI with
    its parameters); SGR and the alternate screen stay."""
    text = (
        "a\x1b]0;title\x07b\x1b]52;c;ZXZpbA==\x1b\\c\x1bP1$qm\x1b\\d\x1b_apc\x1b\\e"
        "\x1b^pm\x1b\\f\x1b[6n\x1b[c\x1b[>c\x1b[21t\x9b2J"
        "\x1b[1;31mred\x1b[0m\x1b[?1049h\x1b[H"
    )
    assert EscapeStripper().feed(text) == "abcdef\x1b[1;31mred\x1b[0m\x1b[?1049h\x1b[H"


def test_sequences_split_across_chunks_are_still_caught() -> None:
    """An OSC cut in two is held back until complete; plain text passes at once."""
    stripper = EscapeStripper()
    assert stripper.feed("one\x1b]0;ti") == "one"
    assert stripper.feed("tle\x07two") == "two"
    assert stripper.feed("\x1b") == ""
    assert stripper.feed("[32mg") == "\x1b[32mg"
    assert stripper.feed("plain") == "plain"


def test_an_unterminated_string_is_dropped_not_held_forever() -> None:
    """A control string that never ends is discarded once it is too long."""
    stripper = EscapeStripper()
    assert stripper.feed("x\x1b]52;c;" + "A" * 70000) == "x"
    assert stripper.feed("A" * 10) == ""
    assert stripper.feed("B\x07after") == "after"


class _Painter:
    def __init__(self) -> None:
        self.painted: list[str] = []

    def queue(self, text: str) -> None:
        self.painted.append(text)


class _Events:
    def prompt_changed(self) -> None: ...

    def keys_to_program(self) -> None: ...

    def keys_to_editor(self) -> None: ...

    def query_sent(self) -> None: ...


def test_stdout_and_stderr_are_stripped_each_on_its_own() -> None:
    """A sequence left unfinished on one stream neither swallows the other stream's text
    nor is completed by it (interleaved chunks, as the two pumps deliver them)."""
    painter = _Painter()
    router = OutputRouter(
        painter,  # type: ignore[arg-type]
        _Events(),
        SessionStatus("d", "cmd", pty=False),
        mode=InputMode(shell=False),
        words=None,
        remote_names=None,
    )
    out, err = RemoteStream(strip_escapes=True), RemoteStream(strip_escapes=True)

    def route(stream: RemoteStream, text: str) -> str:
        painter.painted.clear()
        router.route(stream, text, False)
        return "".join(painter.painted)

    assert route(out, "out\x1b]0;unfinished tit") == ""  # "out" waits as the partial line
    assert route(err, "error one\n") == "error one\n"  # not taken for the OSC's body
    assert route(out, "le\x07 more\n") == "out more\n"
    assert route(out, "\x1b[3") == ""  # a CSI held back on stdout
    assert route(err, "1mtwo\n") == "1mtwo\n"  # stderr's text does not complete it
    assert route(out, "2mgreen\n") == "\x1b[32mgreen\n"
    assert route(err, "\x1b[6") == ""  # and the other way round: a query held on stderr
    assert route(out, "nplain\n") == "nplain\n"
    assert route(err, "n\x1b[0mthree\n") == "\x1b[0mthree\n"  # the DSR is still dropped


# -- highlighting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "lexer"),
    [
        (None, "bash"),
        ("bash", "bash"),
        ("zsh -i", "bash"),
        ("python3", "python"),
        ("/usr/bin/python3.11 -i", "python"),
        ("ipython", "python"),
        ("psql -U x db", "postgresql"),
        ("sudo -u postgres psql", "postgresql"),
        ("mysql", "mysql"),
        ("sqlite3 a.db", "sql"),
        ("redis-cli -p 6380", "redis"),
        ("env A=1 node", "javascript"),
        ("bc -q", "bc"),
        ("irb", "ruby"),
        ("cat", None),
        ("mystery-repl", None),
    ],
)
def test_lexer_is_chosen_from_the_command(command: str | None, lexer: str | None) -> None:
    """The remote program decides the language; unknown programs get none."""
    assert lexer_name_for(command) == lexer
    if lexer is not None:
        assert make_lexer(lexer) is not None


def test_shell_detection_and_program_name() -> None:
    """Shell sessions get remote file and command completion."""
    assert is_shell(None) and is_shell("bash -l") and is_shell("/bin/sh")
    assert not is_shell("bc") and not is_shell("python3")
    assert program_of("sudo -n -u bob nice -n 5 /opt/bin/tool --x") == "tool"
    assert make_lexer(None) is None and make_lexer("no-such-lexer") is None


# -- toolbar ----------------------------------------------------------------------------------


def test_toolbar_text() -> None:
    """Destination and jumps, command, pty, idle/running, exit status, health."""
    status = SessionStatus("alice@db1", "psql", True, ["jump1", "jump2:2222"])
    toolbar = Toolbar(status, visible=True)
    text = "".join(f[1] for f in toolbar.render(100.0))
    assert text.startswith(" alice@db1 via jump1 → jump2:2222 │ psql │ pty │ idle")
    assert text.endswith("connected │ F2 hides ")
    status.busy_since, status.last_exit, status.rtt = 88.0, 1, 0.0034
    text = "".join(f[1] for f in toolbar.render(100.0))
    assert "running 12s │ exit 1 │ rtt 3 ms" in text
    status.health = "closed"
    assert "closed" in "".join(f[1] for f in toolbar.render(100.0))
    assert [format_duration(s) for s in (7, 185, 7260)] == ["7s", "3m05s", "2h01m"]


# -- completion -------------------------------------------------------------------------------


def test_word_bank_keeps_recent_output_cheaply_and_ranks_recent_words_first() -> None:
    """feed() only stores text; words are extracted on demand; most recent first."""
    bank = WordBank()
    bank.feed("alpha beta\n")
    bank.feed("\x1b[31malphabet\x1b[0m 42 _under x\n")
    bank.add(extract_words(bank.take_recent()))
    assert bank.take_recent() == ""
    assert bank.matching("alph") == ["alphabet", "alpha"]
    assert bank.matching("_u") == ["_under"]
    bank.add(["alpha"])
    assert bank.matching("alph") == ["alpha", "alphabet"]
    for _ in range(WordBank.WINDOW // 1000 + 5):
        bank.feed("y" * 1000)
    assert len(bank.take_recent()) <= WordBank.WINDOW + 1000


def test_shell_word_parsing() -> None:
    """The word under the cursor, command position, escaping."""
    assert shell_token("ls -l /tmp/my\\ fi") == "/tmp/my\\ fi"
    assert shell_token("echo a|gr") == "gr"
    assert shell_token("ls --file=/et") == "/et"
    assert in_command_position("") and in_command_position("ls | ")
    assert in_command_position("sudo ") and in_command_position("a && ")
    assert not in_command_position("ls ") and not in_command_position("git commit -m ")
    assert shell_escape("my file (1).txt") == "my\\ file\\ \\(1\\).txt"


def test_word_completion_from_output_and_history() -> None:
    """Without a shell, Tab offers words seen in output and in typed lines."""
    bank = WordBank()
    bank.feed("result: zebrafish_count = 3\n")
    completer = FrontEndCompleter(bank, lambda: ["print(zebra_total)"], None, lambda: True)

    async def complete(text: str) -> list[str]:
        return [
            c.text
            async for c in completer.get_completions_async(
                Document(text), CompleteEvent(completion_requested=True)
            )
        ]

    assert sorted(asyncio.run(complete("x = zeb"))) == ["zebra_total", "zebrafish_count"]
    assert asyncio.run(complete("obj.zebrafish_c")) == ["zebrafish_count"]  # after the dot
    off = FrontEndCompleter(bank, list, None, lambda: False)
    assert asyncio.run(_collect(off, "zeb")) == []


async def _collect(completer: FrontEndCompleter, text: str) -> list[str]:
    return [
        c.text
        async for c in completer.get_completions_async(
            Document(text), CompleteEvent(completion_requested=True)
        )
    ]


# -- prompts ------------------------------------------------------------------------------


def test_private_m_sequences_are_not_kept_in_the_prompt() -> None:
    """vim's ``CSI > 4 ; m`` (modifyOtherKeys off) left over after it exits is not a colour:
    it must not show up as text in the prompt."""
    from remoterepl.editor.remote_text import prompt_text

    assert prompt_text("\x1b[>4;m\x1b[01;32mu@h\x1b[00m:~$ ") == "\x1b[01;32mu@h\x1b[00m:~$ "


# -- recording ------------------------------------------------------------------------------


def test_recording_format(tmp_path: Path) -> None:
    """asciicast v2: a JSON header line, then [time, code, data] lines; file 0600."""
    path = tmp_path / "r.cast"
    recorder = Recorder.create(str(path), 80, 24, "t")
    recorder.output("hé\x1b[0m")
    recorder.input("1+1\r")
    recorder.resize(100, 30)
    recorder.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert {k: header[k] for k in ("version", "width", "height", "title")} == {
        "version": 2,
        "width": 80,
        "height": 24,
        "title": "t",
    }
    events = [json.loads(line) for line in lines[1:]]
    assert [e[1:] for e in events] == [["o", "hé\x1b[0m"], ["i", "1+1\r"], ["r", "100x30"]]
    assert all(isinstance(e[0], float) for e in events)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(UsageError, match="can't open --record file"):
        Recorder.create(str(tmp_path / "no" / "such" / "dir.cast"), 80, 24, "t")


def test_output_one_write_sends_the_block_as_a_single_write() -> None:
    """Painting above the prompt (erase + text) reaches the terminal in one write: the
    flushes inside the block (prompt_toolkit's erase makes two) are held until its end."""

    class RecordingTerminal(io.RawIOBase):
        def __init__(self, fd: int) -> None:
            self.fd = fd
            self.writes: list[bytes] = []

        def writable(self) -> bool:
            return True

        def fileno(self) -> int:
            return self.fd

        def write(self, data: ReadableBuffer) -> int:
            self.writes.append(bytes(data))
            return os.write(self.fd, data)

    master, slave = os.openpty()
    try:
        raw = RecordingTerminal(slave)
        terminal = io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8")
        output = create_output(terminal, os.environ.get("TERM"))
        with output.one_write():
            output.write_raw("erase")
            output.flush()
            output.write_raw("text")
            output.flush()
            assert raw.writes == []  # nothing reached the terminal yet
        assert raw.writes == [b"erasetext"]
        output.write_raw("after")
        output.flush()  # outside the block: flushes as usual
        assert raw.writes == [b"erasetext", b"after"]
        received = b""
        while len(received) < len(b"erasetextafter"):  # a pty may hand it over in pieces
            received += os.read(master, 100)
        assert received == b"erasetextafter"
    finally:
        os.close(master)
        os.close(slave)


def test_history_is_read_once_and_then_replayed_from_memory(tmp_path: Path) -> None:
    """prompt_toolkit reloads the history after every accepted line: the file is read
    only the first time, and lines accepted since are newest."""
    path = tmp_path / "state" / "history" / "f"
    path.parent.mkdir(parents=True)
    path.write_text("\n# t\n+one\n\n# t\n+two\n")
    history = PersistentHistory(path, limit=10)
    assert load(history) == ["two", "one"]
    path.write_text("")  # a second read would lose both
    history.append_string("three")
    assert load(history) == ["three", "two", "one"]
    assert history.get_strings() == ["one", "two", "three"]
    history.close()
