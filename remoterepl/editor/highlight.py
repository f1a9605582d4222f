"""Input highlighting: a Pygments lexer chosen from the remote command, and the style.

``remoterepl web1 psql`` highlights SQL, ``python3`` Python, the login shell Bash; a
program we do not know gets no highlighting. ``--lexer``/``lexer =`` overrides.
Imported only by the interactive front end (Pygments costs start-up time).
"""

from __future__ import annotations

from prompt_toolkit.lexers import Lexer, PygmentsLexer
from prompt_toolkit.styles import (
    BaseStyle,
    Style,
    merge_styles,
    style_from_pygments_cls,
    style_from_pygments_dict,
)
from pygments.lexer import RegexLexer, bygroups
from pygments.token import (
    Comment,
    Error,
    Generic,
    Keyword,
    Name,
    Number,
    Operator,
    String,
    Text,
    Whitespace,
)

from remoterepl.command import SHELLS, program_family, program_of

# program name (version suffix removed, lower case) -> Pygments lexer name
LEXERS: dict[str, str] = {
    **{shell: "bash" for shell in SHELLS},
    "fish": "fish",
    "python": "python",
    "ipython": "python",
    "bpython": "python",
    "ptpython": "python",
    "pypy": "python",
    "psql": "postgresql",
    "pgcli": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mycli": "mysql",
    "sqlite": "sql",
    "duckdb": "sql",
    "clickhouse-client": "sql",
    "clickhouse": "sql",
    "litecli": "sql",
    "sqlcmd": "tsql",
    "node": "javascript",
    "nodejs": "javascript",
    "deno": "javascript",
    "mongosh": "javascript",
    "mongo": "javascript",
    "redis-cli": "redis",
    "valkey-cli": "redis",
    "keydb-cli": "redis",
    "irb": "ruby",
    "ruby": "ruby",
    "pry": "ruby",
    "perl": "perl",
    "lua": "lua",
    "luajit": "lua",
    "r": "r",
    "ghci": "haskell",
    "erl": "erlang",
    "iex": "elixir",
    "julia": "julia",
    "scala": "scala",
    "amm": "scala",
    "clj": "clojure",
    "clojure": "clojure",
    "lein": "clojure",
    "bc": "bc",
    "tclsh": "tcl",
    "sbcl": "common-lisp",
    "clisp": "common-lisp",
    "racket": "racket",
    "guile": "scheme",
    "ocaml": "ocaml",
    "utop": "ocaml",
    "swipl": "prolog",
    "octave": "octave",
    "kotlinc": "kotlin",
    "groovysh": "groovy",
    "pwsh": "powershell",
    "nix": "nix",
    "cypher-shell": "cypher",
}


class RedisLexer(RegexLexer):  # type: ignore[misc]  # Pygments is untyped
    """redis-cli input: the command word, then arguments (quoted strings, numbers)."""

    name = "Redis"
    aliases = ["redis"]  # noqa: RUF012
    tokens = {  # noqa: RUF012 - Pygments' declarative table
        "root": [
            (r"(\s*)([A-Za-z][\w.-]*)", bygroups(Whitespace, Keyword), "args"),
            (r".+", Text),
        ],
        "args": [
            (r"\s+", Whitespace),
            (r'"(?:\\.|[^"\\])*"?', String.Double),
            (r"'(?:\\.|[^'\\])*'?", String.Single),
            (r"-?\d+(?:\.\d+)?\b", Number),
            (r"\S+", Name),
        ],
    }


def lexer_name_for(command: str | None) -> str | None:
    """The Pygments lexer name for a remote command (the login shell: bash), or None."""
    if command is None:
        return "bash"
    return LEXERS.get(program_of(command).lower()) or LEXERS.get(program_family(command))


def make_lexer(name: str | None) -> Lexer | None:
    """A prompt_toolkit lexer for Pygments lexer ``name`` (None: no highlighting)."""
    if name is None:
        return None
    if name == "redis":
        return PygmentsLexer(RedisLexer)
    from pygments.lexers import find_lexer_class_by_name
    from pygments.util import ClassNotFound

    try:
        return PygmentsLexer(find_lexer_class_by_name(name))
    except ClassNotFound:
        return None


UI_STYLE = {
    "bottom-toolbar": "noreverse bg:#262626 #bcbcbc",
    "bottom-toolbar.text": "",
    "toolbar.destination": "bold #ffffff",
    "toolbar.busy": "#ffd75f",
    "toolbar.idle": "#87d787",
    "toolbar.bad": "bold #ff5f5f",
    "toolbar.dim": "#808080",
    "local-prompt": "bold",
    "auto-suggestion": "#808080",
}


# The default highlighting: the terminal's own 16 colours, so it reads on dark and light
# backgrounds alike (Pygments' styles each assume one background).
TERMINAL_STYLE = {
    Comment: "italic ansibrightblack",
    Keyword: "bold ansiblue",
    Keyword.Constant: "ansiblue",
    Keyword.Type: "ansicyan",
    Operator.Word: "bold ansiblue",
    Name.Builtin: "ansicyan",
    Name.Function: "ansibrightblue",
    Name.Class: "bold ansicyan",
    Name.Decorator: "ansicyan",
    Name.Variable: "ansicyan",
    Name.Tag: "ansiblue",
    Name.Attribute: "ansicyan",
    String: "ansigreen",
    String.Escape: "bold ansigreen",
    String.Interpol: "ansicyan",
    Number: "ansimagenta",
    Generic.Error: "ansired",
    Error: "ansired",
}
TERMINAL = "terminal"  # the name of TERMINAL_STYLE in the config's ``style`` key


def make_style(pygments_style: str, *, color: bool) -> BaseStyle:
    """Highlighting colours (``terminal`` or a Pygments style), plus our toolbar classes."""
    ui = Style.from_dict(UI_STYLE if color else {"bottom-toolbar": "reverse"})
    if not color:
        return ui
    if pygments_style == TERMINAL:
        return merge_styles([style_from_pygments_dict(TERMINAL_STYLE), ui])
    from pygments.styles import get_style_by_name

    return merge_styles([style_from_pygments_cls(get_style_by_name(pygments_style)), ui])
