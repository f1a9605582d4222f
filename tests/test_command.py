"""One answer to "which program does COMMAND run", for everyone who asks: highlighting, the
local prompt, history file names and the config's [[match]] command tables agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from remoterepl.command import is_shell, program_family, program_of
from remoterepl.editor.config import ConfigFile
from remoterepl.editor.highlight import lexer_name_for
from remoterepl.editor.history import PersistentHistory, history_path, legacy_history_path
from remoterepl.editor.prompt import default_prompt

WRAPPED = "sudo -u postgres psql -d app"


@pytest.mark.parametrize(
    ("command", "program"),
    [
        (None, ""),
        ("bc -q", "bc"),
        (WRAPPED, "psql"),
        ("env LANG=C /usr/bin/python3.11 -q", "python3.11"),
        ("nice -n 5 ionice -c 3 redis-cli", "redis-cli"),
        ("FOO=1 exec -a name sh -l", "sh"),
        ("echo 'unbalanced", "echo"),
    ],
)
def test_program_of(command: str | None, program: str) -> None:
    """Past wrappers, their options and VAR=value words; the basename."""
    assert program_of(command) == program


def test_family_and_shells() -> None:
    """Version suffixes drop for the family; the login shell is a shell."""
    assert program_family("/usr/bin/python3.11 -q") == "python"
    assert is_shell(None) and is_shell("sudo bash -l") and is_shell("ksh93")
    assert not is_shell("python3") and not is_shell(WRAPPED)


def test_every_user_of_the_parser_sees_psql(tmp_path: Path) -> None:
    """``sudo -u postgres psql``: SQL highlighting, the prompt ``psql> ``, a history file
    named after psql, and ``[[match]] command = "psql*"`` applies."""
    assert lexer_name_for(WRAPPED) == "postgresql"
    assert default_prompt(WRAPPED) == "psql> "
    assert "_psql-" in history_path(tmp_path, "u", "h", 22, WRAPPED).name
    config = ConfigFile.parse(
        tmp_path / "c.toml", '[[match]]\ncommand = "psql*"\nprompt = "db> "\n'
    )
    assert config.values_for(["h"], WRAPPED) == {"prompt": "db> "}


def test_a_history_file_named_the_old_way_is_taken_over(tmp_path: Path) -> None:
    """remoterepl 0.1 named the file after the first word (``sudo``): its lines come
    back under the new name, and the old name is gone."""
    new = history_path(tmp_path, "u", "h", 22, WRAPPED)
    old = legacy_history_path(tmp_path, "u", "h", 22, WRAPPED)
    assert old is not None and old != new and "_sudo-" in old.name
    assert legacy_history_path(tmp_path, "u", "h", 22, "bc") is None  # same name: nothing to do
    old.parent.mkdir(parents=True)
    old.write_text("\n# 2026-01-01 00:00:00.000000\n+SELECT 1;\n")
    history = PersistentHistory(new, limit=10, index_line="u@h:22\tsudo", legacy_path=old)
    assert list(history.load_history_strings()) == ["SELECT 1;"]
    history.close()
    assert new.exists() and not old.exists()
    assert new.name in (new.parent / "INDEX").read_text()


def test_a_line_stored_before_loading_also_takes_the_old_file_over(tmp_path: Path) -> None:
    """The first line of a session may be stored before the history was read: the old
    file is taken over then, not left behind under its old name."""
    new = history_path(tmp_path, "u", "h", 22, WRAPPED)
    old = legacy_history_path(tmp_path, "u", "h", 22, WRAPPED)
    assert old is not None
    old.parent.mkdir(parents=True)
    old.write_text("\n# 2026-01-01 00:00:00.000000\n+SELECT 1;\n")
    history = PersistentHistory(new, limit=10, legacy_path=old)
    history.store_string("SELECT 2;")
    history.close()
    assert not old.exists()
    assert list(PersistentHistory(new, limit=10).load_history_strings()) == [
        "SELECT 2;",
        "SELECT 1;",
    ]


def test_a_trimmed_copy_left_by_a_dead_session_is_removed(tmp_path: Path) -> None:
    """A session killed while trimming leaves ``.NAME.PID.tmp``: the next load removes it."""
    path = tmp_path / "history" / "f"
    path.parent.mkdir()
    path.write_text("\n# t\n+one\n")
    stale = path.with_name(f".{path.name}.99999.tmp")
    stale.write_text("half")
    assert list(PersistentHistory(path, limit=10).load_history_strings()) == ["one"]
    assert not stale.exists()
