"""Destination and command-line parsing (pure: no network, no terminal)."""

from __future__ import annotations

import pytest

from remoterepl.cli import error_status, parse_args
from remoterepl.errors import UsageError
from remoterepl.settings import Target, parse_target


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        ("host", Target("host")),
        ("alice@host", Target("host", "alice")),
        ("alice@host:2222", Target("host", "alice", 2222)),
        ("host:2222", Target("host", port=2222)),
        ("[::1]:2222", Target("::1", port=2222)),
        ("bob@[fe80::1]:22", Target("fe80::1", "bob", 22)),
        ("[::1]", Target("::1")),
        ("::1", Target("::1")),
        ("ssh://carol@example.test:2200", Target("example.test", "carol", 2200)),
        ("ssh://example.test", Target("example.test")),
        ("ssh://dave@[::1]:2222/", Target("::1", "dave", 2222)),
        ("me@corp@host", Target("host", "me@corp")),
        ("web1", Target("web1")),
    ],
)
def test_parse_target(destination: str, expected: Target) -> None:
    """Every DESTINATION form of the CLI contract parses to host, user and port."""
    assert parse_target(destination) == expected


@pytest.mark.parametrize(
    "destination",
    [
        "",
        "@host",
        "host:",
        "host:0",
        "host:70000",
        "host:ssh",
        "[::1",
        "[::1]x",
        "ssh://",
        "ssh://host:99999",
        "ssh://host/path",
        "-oops",
    ],
)
def test_parse_target_rejects(destination: str) -> None:
    """Malformed destinations are usage errors (exit status 2)."""
    with pytest.raises(UsageError) as info:
        parse_target(destination)
    assert error_status(info.value) == 2


def test_command_words_are_joined_with_spaces_like_ssh() -> None:
    """``remoterepl h echo a b`` runs ``echo a b``; options after the host still count."""
    settings = parse_args(["h", "-p", "2222", "-l", "bob", "echo", "a", "-b"])
    assert settings.session.command == "echo a -b"
    assert settings.connect.target == Target("h", "bob", 2222)


def test_destination_user_and_port_win_over_flags() -> None:
    """Explicit ``user@host:port`` beats ``-l``/``-p``."""
    settings = parse_args(["-l", "bob", "-p", "1", "alice@h:2"])
    assert settings.connect.target == Target("h", "alice", 2)


def test_options_pty_and_verbosity() -> None:
    """-o pairs keep their order; -t/-T set the PTY; -v counts; -i repeats."""
    settings = parse_args(
        [
            "-vv",
            "-T",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "Port 22",
            "-i",
            "k1",
            "-i",
            "k2",
            "-F",
            "cfg",
            "h",
        ]
    )
    assert settings.connect.options == (("StrictHostKeyChecking", "no"), ("Port", "22"))
    assert settings.connect.option("stricthostkeychecking") == "no"
    assert settings.connect.identity_files == ("k1", "k2")
    assert settings.connect.config_file == "cfg"
    assert settings.connect.verbosity == 2
    assert settings.session.pty is False
    assert settings.session.command is None


@pytest.mark.parametrize(
    "argv",
    [[], ["-p", "notaport", "h"], ["-o", "NoValue", "h"], ["-t", "-T", "h"], ["--bogus", "h"]],
)
def test_usage_errors(argv: list[str]) -> None:
    """Bad command lines raise UsageError (exit status 2), never argparse's SystemExit."""
    with pytest.raises(UsageError):
        parse_args(argv)


def test_every_option_with_a_value_is_known_to_the_reordering() -> None:
    """The options --help shows with a value (``-p PORT``, ``--config FILE``) are exactly
    the ones the parser skips a word for when options follow DESTINATION."""
    import re

    from remoterepl.arguments import NOT_IMPLEMENTED_FLAGS, build_parser

    parser = build_parser()
    shown = set(re.findall(r"^  (-{1,2}[\w-]+) [^\s,]", parser.format_help(), re.MULTILINE))
    assert {"-p", "-o", "-J", "--config", "--stdout"} <= shown
    # ssh's flags that are refused are not shown, but their value is skipped all the same
    refused = {flag for flag, (takes_value, _what) in NOT_IMPLEMENTED_FLAGS.items() if takes_value}
    assert refused and shown | refused == parser.value_options


@pytest.mark.parametrize(
    ("argv", "port", "forwards", "command"),
    [
        (["-NL", "8080:localhost:80", "-p", "2222", "host"], 2222, ["-L 8080:localhost:80"], None),
        (["host", "-NL", "8080:localhost:80"], None, ["-L 8080:localhost:80"], None),
        (["host", "-vp", "2222", "uptime"], 2222, [], "uptime"),
        (["-p2222", "host", "cmd", "-x"], 2222, [], "cmd -x"),
        (["-fNL8080:h:80", "host"], None, ["-L 8080:h:80"], None),
    ],
    ids=["cluster-then-option", "cluster-after-destination", "vp", "p-attached", "value-attached"],
)
def test_clustered_short_options_take_their_value_as_getopt_does(
    argv: list[str], port: int | None, forwards: list[str], command: str | None
) -> None:
    """``-fNL SPEC``: the last letter takes the next word, as with ssh's getopt, also
    when options follow DESTINATION; ``-p2222`` carries its value inside the word."""
    settings = parse_args(argv)
    assert settings.connect.target.host == "host"
    assert settings.connect.target.port == port
    assert [str(f) for f in settings.connect.forwards] == forwards
    assert settings.session.command == command
