"""Unit tests of issue 11's key, history and usage points (12, 13, 15): the history filter
(secrets, ignorespace, control characters), secret prompts in other languages, the key
bindings driven in-process through a pipe (Ctrl-R Enter, Ctrl-C keeping the line, a control
key as the escape character, vi's Escape), the disconnect message and the usage errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from prompt_toolkit import PromptSession
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.document import Document
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.key_binding.vi_state import InputMode
from prompt_toolkit.output import DummyOutput

from remoterepl.cli import error_status, parse_args
from remoterepl.editor.completion import FrontEndCompleter, WordBank
from remoterepl.editor.config import ConfigFile
from remoterepl.editor.history import GuardedHistory, HistorySuggest, history_filter
from remoterepl.editor.keys import (
    ESCAPE_SEQUENCE_WAIT,
    key_name,
    make_key_bindings,
    tune_key_timeouts,
)
from remoterepl.editor.secret_prompts import SecretPrompts
from remoterepl.errors import Disconnected, UsageError
from remoterepl.modes.control import SessionControl
from remoterepl.modes.escapes import ESCAPES, Action, Escape
from remoterepl.outcome import ExitStatus
from remoterepl.session.process import RemoteSession
from remoterepl.settings import ConnectSettings, Target, parse_escape_char
from remoterepl.ssh.config import write_config_files
from remoterepl.ssh.host_config import load_host_config

# -- history: what is never stored -----------------------------------------------------------


def test_history_filter_refuses_secrets_control_characters_and_leading_spaces() -> None:
    """Secrets, lines with control characters (a literal ^Z, ^[, DEL, a C1 byte) and lines
    starting with a space are not stored; Tab and newlines (a pasted block) are."""
    secret = {"on": False}
    keep = history_filter(None, True, lambda: secret["on"])
    assert keep("echo ok")
    assert keep("if x:\n\treturn 1")
    for line in ("sleep 9\x1a", "echo \x1b[A", "a\x7fb", "a\x9bb", "\x03", "a\rb"):
        assert not keep(line), repr(line)
    assert not keep(" echo private")
    secret["on"] = True
    assert not keep("echo ok")


def test_history_filter_ignore_space_off_and_the_ignore_pattern() -> None:
    """``history_ignore_space = false`` stores a line starting with a space; the
    ``history_ignore`` regex still applies."""
    keep = history_filter("^ls$", False, lambda: False)
    assert keep(" echo spaced")
    assert not keep("ls")


def test_history_ignore_space_config_key() -> None:
    """The key is a boolean, on by default."""
    config = ConfigFile.parse(Path("c.toml"), "history_ignore_space = false\n")
    assert config.values_for(["h"], None) == {"history_ignore_space": False}
    with pytest.raises(UsageError, match="history_ignore_space: must be true or false"):
        ConfigFile.parse(Path("c.toml"), 'history_ignore_space = "no"\n')


def test_a_secret_line_never_reaches_the_suggestion_or_the_completer() -> None:
    """A line accepted at a secret prompt is in no list HistorySuggest or the completer
    reads (the history is all they read of typed lines)."""
    secret = {"on": False}
    history = GuardedHistory(InMemoryHistory(), history_filter(None, True, lambda: secret["on"]))
    history.append_string("zq-visible")
    secret["on"] = True
    history.append_string("zq-s3cret")
    secret["on"] = False
    buffer = Buffer(history=history)
    suggestion = HistorySuggest().get_suggestion(buffer, Document("zq-"))
    assert suggestion is not None and suggestion.text == "visible"
    assert HistorySuggest().get_suggestion(buffer, Document("zq-s")) is None
    completer = FrontEndCompleter(WordBank(), history.get_strings, None, lambda: True)
    assert all("s3cret" not in line for line in completer.history())


# -- secret prompts beyond English ------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    [
        "[sudo] Passwort für x: ",
        "Mot de passe : ",
        "Contraseña: ",
        "Senha: ",
        "Пароль: ",
        "パスワード: ",
        "[sudo] alice のパスワード:",
        "密码：",
        "[sudo] alice 的密码：",
        "Token: ",
        "Enter API token: ",
        "Kennwort: ",
        "Wachtwoord: ",
        "Hasło: ",
        "[sudo] parola di alice: ",
        "Client secret: ",
    ],
)
def test_secret_prompts_in_other_languages(prompt: str) -> None:
    """sudo, passwd and PAM prompts as translated, tokens and API keys."""
    assert SecretPrompts().asks_for_secret(prompt)


@pytest.mark.parametrize(
    "prompt",
    [
        "Reset your password? [y/N]: ",
        "Change the password (yes/no)? ",
        "Passwort ändern? [J/n]: ",
        "Changer le mot de passe ? (o/n) : ",
        "Delete the token y/n? ",
        "Token count is 3.",
    ],
)
def test_questions_with_a_choice_are_not_secret(prompt: str) -> None:
    """A yes/no question about a password wants a visible answer."""
    assert not SecretPrompts().asks_for_secret(prompt)


# -- the keys, in-process ---------------------------------------------------------------------


@dataclass
class FakeActions:
    """EditorActions that record what the keys asked for."""

    calls: list[str] = field(default_factory=list)

    def interrupt(self) -> None:
        self.calls.append("interrupt")

    def quit_signal(self) -> None:
        self.calls.append("quit")

    def suspend_job(self) -> None:
        self.calls.append("suspend")

    def end_input(self) -> None:
        self.calls.append("eof")

    def escape(self, escape: Escape) -> None:
        self.calls.append(f"escape {escape.action.value}")

    def toggle_toolbar(self) -> None:
        self.calls.append("toolbar")

    def edit_externally(self, buffer: Buffer) -> None:
        self.calls.append("edit")


@dataclass
class Editor:
    """A PromptSession with remoterepl's bindings, fed through a pipe."""

    pipe: PipeInput
    session: PromptSession[str]
    actions: FakeActions
    kept: list[str]
    accepted: list[str]

    @property
    def text(self) -> str:
        return self.session.default_buffer.text

    async def type(self, keys: str, until: Callable[[], bool], timeout: float = 3.0) -> float:
        """Send ``keys``; return the seconds until ``until()`` held (fails after timeout)."""
        start = time.monotonic()
        self.pipe.send_text(keys)
        while not until():
            assert time.monotonic() - start < timeout, (keys, self.text, self.actions.calls)
            await asyncio.sleep(0.005)
        return time.monotonic() - start


@asynccontextmanager
async def editor(
    escape_char: str | None = "~", *, vi: bool = False, history: list[str] | None = None
) -> AsyncIterator[Editor]:
    """Run a prompt with the bindings until the block ends."""
    actions = FakeActions()
    kept: list[str] = []
    accepted: list[str] = []
    with create_pipe_input() as pipe:
        session: PromptSession[str] = PromptSession(
            input=pipe,
            output=DummyOutput(),
            key_bindings=make_key_bindings(actions, escape_char, keep_line=kept.append),
            vi_mode=vi,
            history=InMemoryHistory(history or []),
        )

        def accept(buffer: Buffer) -> bool:
            accepted.append(buffer.text)
            return False  # keep editing, as the front end does

        session.default_buffer.accept_handler = accept
        tune_key_timeouts(session.app)
        task = asyncio.create_task(session.prompt_async())
        try:
            while not session.app.is_running:
                await asyncio.sleep(0.005)
            yield Editor(pipe, session, actions, kept, accepted)
        finally:
            session.app.exit(result="")
            await task


async def test_ctrl_r_then_enter_runs_the_line_found() -> None:
    """readline's habit: Ctrl-R, a few letters, Enter sends the line found."""
    async with editor(history=["echo first", "echo second"]) as ed:
        await ed.type("\x12fir", lambda: ed.session.search_buffer.text == "fir")
        await ed.type("\r", lambda: ed.accepted == ["echo first"])
        assert ed.text == ""


async def test_ctrl_r_then_enter_in_vi_insert_mode_runs_the_line() -> None:
    """In vi mode too, from insert mode; the next line starts in insert mode."""
    async with editor(vi=True, history=["echo first"]) as ed:
        await ed.type("\x12fir", lambda: ed.session.search_buffer.text == "fir")
        await ed.type("\r", lambda: ed.accepted == ["echo first"])
        assert ed.session.app.vi_state.input_mode == InputMode.INSERT


async def test_ctrl_c_hands_the_half_typed_line_over_and_interrupts() -> None:
    """Ctrl-C: the line goes to keep_line (to stay on the screen), the buffer is
    emptied, the remote is interrupted; on an empty line nothing is kept."""
    async with editor() as ed:
        await ed.type("half typed", lambda: ed.text == "half typed")
        await ed.type("\x03", lambda: ed.actions.calls == ["interrupt"])
        assert ed.kept == ["half typed"] and ed.text == ""
        await ed.type("\x03", lambda: ed.actions.calls == ["interrupt"] * 2)
        assert ed.kept == ["half typed"]
        assert ed.accepted == []


@pytest.mark.parametrize(("spelling", "typed"), [("^X", "\x18"), ("^]", "\x1d")])
async def test_a_control_key_escape_character_works_in_the_editor(
    spelling: str, typed: str
) -> None:
    """``-e ^X`` / ``EscapeChar=^]``: the key at the start of a line begins an escape
    (shown as ^X until the next key), ``^X.`` disconnects, ``^X^X`` is one literal ^X."""
    escape_char = parse_escape_char(spelling)
    assert escape_char == typed
    async with editor(escape_char) as ed:
        await ed.type(typed, lambda: ed.text == typed)
        await ed.type(".", lambda: ed.actions.calls == ["escape disconnect"])
        assert ed.text == ""
        await ed.type(typed + typed, lambda: ed.text == typed)
        await ed.type(".", lambda: ed.text == typed + ".")
        assert ed.actions.calls == ["escape disconnect"]


async def test_the_escape_character_in_a_search_is_text() -> None:
    """Ctrl-R then ``~.`` searches for "~." (it disconnected before)."""
    async with editor("~", history=["echo ~.x"]) as ed:
        await ed.type("\x12~.", lambda: ed.session.search_buffer.text == "~.")
        await ed.type("\r", lambda: ed.accepted == ["echo ~.x"])
        assert ed.actions.calls == []


def test_key_names_of_control_characters() -> None:
    """Every ^X escape character has a key prompt_toolkit can bind (ESC is "escape")."""
    assert key_name("\x18") == "c-x"
    assert key_name("\x1d") == "c-]"
    assert key_name("\x1b") == "escape"
    assert key_name("~") == "~"
    for code in range(0x20):
        make_key_bindings(FakeActions(), chr(code))  # raises on a name it does not know


async def test_escape_in_vi_mode_takes_effect_at_once() -> None:
    """A lone Escape leaves vi insert mode within a few tens of milliseconds (it waited
    0.5 s + 1 s with prompt_toolkit's defaults); Meta-Enter still inserts a newline."""
    async with editor(vi=True) as ed:
        await ed.type("abc", lambda: ed.text == "abc")
        mode = ed.session.app.vi_state
        took = await ed.type("\x1b", lambda: mode.input_mode == InputMode.NAVIGATION)
        assert took < ESCAPE_SEQUENCE_WAIT + 0.2, took
        await ed.type("a", lambda: mode.input_mode == InputMode.INSERT)
        await ed.type("\x1b\r", lambda: ed.text == "abc\n")
        assert ed.accepted == []


def test_key_timeouts_are_short() -> None:
    """The Application attributes are set (public API)."""
    with create_pipe_input() as pipe:
        session: PromptSession[str] = PromptSession(input=pipe, output=DummyOutput())
        tune_key_timeouts(session.app)
        assert session.app.ttimeoutlen == ESCAPE_SEQUENCE_WAIT
        assert session.app.timeoutlen == 0.5


# -- the disconnect message ------------------------------------------------------------------


def test_disconnect_message_names_the_escape_character() -> None:
    """``^].`` is reported as such, not as ``~.``."""
    connection = SimpleNamespace(
        username="u", host="h", port=22, hop_labels=[], label="u@h", close=lambda: None
    )
    session = RemoteSession(cast(Any, connection), cast(Any, SimpleNamespace()), None)
    control = SessionControl(session, "\x1d", lambda text: None)
    control.perform(ESCAPES["."])
    with pytest.raises(Disconnected, match=r"connection to u@h closed \(\^\]\.\)"):
        session.outcome()
    other = RemoteSession(cast(Any, connection), cast(Any, SimpleNamespace()), None)
    SessionControl(other, "~", lambda text: None).perform(Escape(".", Action.DISCONNECT, ""))
    with pytest.raises(Disconnected, match=r"closed \(~\.\)"):
        other.outcome()


# -- usage errors ------------------------------------------------------------------------------


def test_missing_destination_names_only_destination() -> None:
    """COMMAND is optional: the error names DESTINATION alone; status 2."""
    with pytest.raises(UsageError) as caught:
        parse_args(["-p", "22"])
    message = str(caught.value)
    assert message == "the following arguments are required: DESTINATION"
    assert error_status(caught.value) is ExitStatus.USAGE
    assert int(ExitStatus.USAGE) == 2


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"options": (("Compression", "yes"), ("ServerAliveInterval", "abc"))}, "-o "),
        ({"jump_hosts": "hop", "options": (("Port", "x y"),)}, "-o 'Port=x y'"),
    ],
)
def test_a_bad_option_value_is_named_as_typed(settings: dict[str, Any], named: str) -> None:
    """asyncssh's complaint about the generated file names the option and the value."""
    connect = ConnectSettings(target=Target("dest"), config_file="/dev/null", **settings)
    files = write_config_files(connect)
    try:
        with pytest.raises(UsageError) as caught:
            load_host_config(connect.target, files.for_destination(connect.target.host), files)
    finally:
        files.remove()
    message = str(caught.value)
    assert message.startswith(f"bad option {named}"), message
    assert files.directory not in message
    if "ServerAliveInterval" in message:
        assert message == (
            "bad option -o ServerAliveInterval=abc: invalid ServerAliveInterval integer value: abc"
        )
