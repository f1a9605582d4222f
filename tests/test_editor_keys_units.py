"""Unit tests of issue 11's key, history and usage points (12, 13, 15): the history filter
(secrets, ignorespace, control characters), secret prompts in other languages, the key
bindings driven in-process through a pipe (Ctrl-R Enter, Ctrl-C keeping the line, a control
key as the escape character, vi's Escape), the disconnect message and the usage errors."""

from __future__ import annotations

from typing import Any

import pytest

from remoterepl.cli import error_status, parse_args
from remoterepl.errors import UsageError
from remoterepl.outcome import ExitStatus
from remoterepl.settings import ConnectSettings, Target
from remoterepl.ssh.config import load_host_config, write_config_files

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
            load_host_config(connect.target, files.for_destination(), files)
    finally:
        files.remove()
    message = str(caught.value)
    assert message.startswith(f"bad option {named}"), message
    assert files.directory not in message
    if "ServerAliveInterval" in message:
        assert message == (
            "bad option -o ServerAliveInterval=abc: invalid ServerAliveInterval integer value: abc"
        )
