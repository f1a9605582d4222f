"""The front end's config file: TOML defaults plus per-destination overrides.

``~/.config/remoterepl/config.toml`` (platformdirs' user config dir), or ``--config FILE``::

    edit_mode = "vi"              # or "emacs"
    toolbar = true

    [hosts."db-*"]                # destinations as typed (alias, host or user@host), globs
    lexer = "postgresql"

    [[match]]                     # host and/or command globs; later tables win
    host = "web1"
    command = "bc*"
    prompt = "calc> "

Precedence: command line > ``[[match]]`` tables > ``[hosts.PATTERN]`` tables > top level >
built-in defaults. Any mistake is one :class:`ConfigError` line naming the file, the line
and the key (exit status 2): never a traceback, never a silently ignored typo.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from remoterepl.command import program_of
from remoterepl.environment import Environment
from remoterepl.errors import UsageError
from remoterepl.settings import DEFAULT_ESCAPE_CHAR, Settings, parse_escape_char

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

APP_NAME = "remoterepl"
DEFAULT_PROMPT = "{command}> "


class ConfigError(UsageError):
    """The config file is unreadable, not TOML, or holds a bad key or value (exit 2)."""


@dataclass(frozen=True)
class FrontEndConfig:
    """Everything the line editor can be told, after merging file and command line."""

    edit_mode: str = "emacs"  # "emacs" | "vi"
    history: bool = True  # persistent history (False: this session only)
    history_size: int = 10000  # entries kept in the history file
    history_ignore: str | None = None  # regex: matching lines are not stored
    history_ignore_space: bool = True  # a line starting with a space is not stored
    secret_prompt: str | None = None  # regex: more prompts whose answer is a secret
    auto_suggest: bool = True  # fish-style grey suggestion from history
    completion: bool = True  # Tab completion (words, and remote names in shells)
    remote_completion: bool = True  # file names over SFTP, command names (shells)
    toolbar: bool = False  # bottom toolbar shown at start (F2 toggles)
    color: bool = True  # False, or NO_COLOR in the environment: no colours of ours
    stderr_color: str = "31"  # SGR parameters for remote stderr (without a PTY)
    style: str = "terminal"  # highlighting: the terminal's 16 colours, or a Pygments style
    highlight: bool = True
    lexer: str | None = None  # Pygments lexer name; None: chosen from the command
    prompt: str = DEFAULT_PROMPT  # for remotes without a prompt of their own
    escape_char: str | None = DEFAULT_ESCAPE_CHAR
    strip_escapes: bool = False  # drop OSC/DCS/APC/PM strings from remote output
    record: str | None = None  # asciicast v2 file (command line only)
    source: str | None = None  # the config file read, if any


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("must be a whole number >= 0")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _regex(value: object) -> str | None:
    text = _text(value)
    if not text:
        return None
    try:
        re.compile(text)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression ({exc})") from None
    return text


def _edit_mode(value: object) -> str:
    text = _text(value).lower()
    if text not in ("emacs", "vi"):
        raise ValueError(f'must be "emacs" or "vi", not "{value}"')
    return text


def _sgr(value: object) -> str:
    text = _text(value)
    if not re.fullmatch(r"\d{1,3}(;\d{1,3})*", text):
        raise ValueError('must be SGR parameters such as "31" or "1;35"')
    return text


def _style(value: object) -> str:
    text = _text(value)
    from pygments.styles import get_all_styles

    if text != "terminal" and text not in set(get_all_styles()):
        raise ValueError(f'unknown style "{text}" (terminal, or a Pygments style)')
    return text


def _lexer(value: object) -> str | None:
    text = _text(value)
    return check_lexer_name(text)


def _prompt(value: object) -> str:
    text = _text(value)
    try:
        text.format(command="bc", host="h", user="u", destination="u@h")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"bad placeholder {exc} (use {{command}}, {{host}}, {{user}}, {{destination}})"
        ) from None
    return text


def _escape(value: object) -> str | None:
    try:
        return parse_escape_char(_text(value))
    except UsageError as exc:
        raise ValueError(str(exc)) from None


_KEYS: dict[str, Callable[[object], Any]] = {
    "edit_mode": _edit_mode,
    "history": _bool,
    "history_size": _size,
    "history_ignore": _regex,
    "history_ignore_space": _bool,
    "secret_prompt": _regex,
    "auto_suggest": _bool,
    "completion": _bool,
    "remote_completion": _bool,
    "toolbar": _bool,
    "color": _bool,
    "stderr_color": _sgr,
    "style": _style,
    "highlight": _bool,
    "lexer": _lexer,
    "prompt": _prompt,
    "escape_char": _escape,
    "strip_escapes": _bool,
}
_TABLES = ("hosts", "match")


def check_lexer_name(name: str) -> str | None:
    """A Pygments lexer name as given, or None for "none"; ValueError if unknown."""
    if name.lower() in ("none", "off", "text", ""):
        return None
    from pygments.lexers import find_lexer_class_by_name
    from pygments.util import ClassNotFound

    try:
        find_lexer_class_by_name(name)
    except ClassNotFound:
        raise ValueError(f'unknown Pygments lexer "{name}"') from None
    return name


def default_config_path() -> Path:
    """``$XDG_CONFIG_HOME/remoterepl/config.toml`` (platformdirs' user config dir)."""
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME)) / "config.toml"


def load_frontend_config(settings: Settings, env: Environment) -> FrontEndConfig:
    """The config for this destination and command: file (if any) + command line."""
    options = settings.session.frontend
    path = Path(options.config_file) if options.config_file else default_config_path()
    values: dict[str, Any] = {}
    source = None
    if options.config_file or path.exists():
        source = str(path)
        target = settings.connect.target
        names = [target.host] + ([f"{target.user}@{target.host}"] if target.user else [])
        values = ConfigFile.read(path).values_for(names, settings.session.command)
    config = FrontEndConfig(source=source, **values)
    overrides: dict[str, Any] = {"record": options.record}
    if options.history is not None:
        overrides["history"] = options.history
    if options.strip_escapes is not None:
        overrides["strip_escapes"] = options.strip_escapes
    if options.lexer is not None:
        try:
            overrides["lexer"] = check_lexer_name(options.lexer)
        except ValueError as exc:
            raise UsageError(f"--lexer: {exc}") from None
        overrides["highlight"] = overrides["lexer"] is not None
    if options.escape_char_given or "escape_char" not in values:
        overrides["escape_char"] = settings.session.escape_char
    if env.no_color:
        overrides["color"] = False
    return dataclasses.replace(config, **overrides)


def _globs_match(patterns: str, names: list[str]) -> bool:
    globs = [p.lower() for p in patterns.replace(",", " ").split()]
    return any(fnmatch.fnmatchcase(n.lower(), g) for g in globs for n in names)


class ConfigFile:
    """A parsed, validated config file; :meth:`values_for` merges what applies."""

    def __init__(self, path: Path, text: str, data: Mapping[str, Any]) -> None:
        self.path = path
        self._text = text
        self.defaults: dict[str, Any] = {}
        self.hosts: list[tuple[str, dict[str, Any]]] = []
        self.matches: list[tuple[str | None, str | None, dict[str, Any]]] = []
        self._validate(data)

    @classmethod
    def read(cls, path: Path) -> ConfigFile:
        """Read and validate ``path`` (raises ConfigError)."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"can't read config file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config file {path}: not UTF-8 text") from None
        return cls.parse(path, text)

    @classmethod
    def parse(cls, path: Path, text: str) -> ConfigFile:
        """Parse TOML ``text`` read from ``path`` (raises ConfigError)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
            if found:
                message = message[: found.start()]
                raise ConfigError(
                    f"config file {path} line {found[1]}, column {found[2]}: {message}"
                ) from None
            if message.endswith("(at end of document)"):
                line = len(text.splitlines()) or 1
                raise ConfigError(
                    f"config file {path} line {line}: "
                    f"{message[:-21].rstrip()} at the end of the file"
                ) from None
            raise ConfigError(f"config file {path}: {message}") from None
        return cls(path, text, data)

    def values_for(self, names: list[str], command: str | None) -> dict[str, Any]:
        """Settings for a destination known by ``names`` running ``command``."""
        values = dict(self.defaults)
        for pattern, table in self.hosts:
            if _globs_match(pattern, names):
                values.update(table)
        commands = [command or "", program_of(command)]
        for host, cmd, table in self.matches:
            if (host is None or _globs_match(host, names)) and (
                cmd is None or any(fnmatch.fnmatchcase(c, cmd) for c in commands)
            ):
                values.update(table)
        return values

    # -- validation ------------------------------------------------------------------

    def _validate(self, data: Mapping[str, Any]) -> None:
        for key, value in data.items():
            if key == "hosts":
                if not isinstance(value, dict):
                    self._fail([], key, 'must be tables: [hosts."PATTERN"]')
                for pattern, table in value.items():
                    if not isinstance(table, dict):
                        self._fail(["hosts"], pattern, 'must be a table: [hosts."PATTERN"]')
                    self.hosts.append((pattern, self._settings(table, ["hosts", pattern])))
            elif key == "match":
                if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
                    self._fail([], key, "must be [[match]] tables")
                for index, table in enumerate(value):
                    where = ["match", f"#{index}"]
                    table = dict(table)
                    host = table.pop("host", None)
                    cmd = table.pop("command", None)
                    for name, glob in (("host", host), ("command", cmd)):
                        if glob is not None and not isinstance(glob, str):
                            self._fail(where, name, "must be a string (a glob pattern)")
                    self.matches.append((host, cmd, self._settings(table, where)))
            else:
                self.defaults.update(self._settings({key: value}, []))

    def _settings(self, table: Mapping[str, Any], where: list[str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, value in table.items():
            check = _KEYS.get(key)
            if check is None:
                if isinstance(value, dict) and not where and key not in _TABLES:
                    self._fail(where, key, f"unknown table (known: {', '.join(_TABLES)})")
                known = ", ".join(sorted(_KEYS))
                self._fail(where, key, f"unknown key (known keys: {known})")
            try:
                values[key] = check(value)
            except ValueError as exc:
                self._fail(where, key, str(exc))
        return values

    def _fail(self, where: list[str], key: str, problem: str) -> NoReturn:
        line = _find_line(self._text, where, key)
        dotted = ".".join([*(w for w in where if not w.startswith("#")), key])
        at = f" line {line}" if line else ""
        raise ConfigError(f"config file {self.path}{at}: {dotted}: {problem}")


_HEADER = re.compile(r"^\s*(\[\[?)\s*(.*?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")


def _normalise(header: str) -> list[str]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s"\']+)', header)
    return [next(p for p in groups if p) if any(groups) else "" for groups in parts]


def _find_line(text: str, where: list[str], key: str) -> int | None:
    """1-based line of ``key`` in the table ``where`` (``["match", "#2"]`` is the third
    ``[[match]]``), else of a table header naming it, else of the table; None if not found
    (e.g. dotted keys)."""
    want = [w for w in where if not w.startswith("#")]
    index = int(where[-1][1:]) if where and where[-1].startswith("#") else 0
    current: list[str] = []
    seen: dict[tuple[str, ...], int] = {}
    table_line = header_line = None
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header and not _KEY.match(line):
            current = _normalise(header[2])
            seen[tuple(current)] = seen.get(tuple(current), -1) + 1
            if current == want and seen[tuple(current)] == index:
                table_line = number
            if current == [*want, key] and header_line is None:
                header_line = number
            continue
        found = _KEY.match(line)
        in_table = current == want and seen.get(tuple(want), 0) == index
        if found and in_table and found[1].strip("\"'") == key:
            return number
    return header_line or table_line
