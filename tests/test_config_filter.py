"""ssh_config cut down for one host (many hosts read it once each): what stays is what
asyncssh would apply to that host, so the copy resolves to the same configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from remoterepl.settings import Target
from remoterepl.ssh.config_filter import copy_for_host, lines_for_host
from remoterepl.ssh.host_config import load_host_config

CONFIG = """\
# global
ServerAliveInterval 7
Host web1 web2
    User deploy
    Port 2201
Host db*
    User postgres
Host !web1,*
    Compression yes
Match user deploy
    ForwardAgent yes
Host=web2
    IdentityFile ~/.ssh/web2
Host *
    ConnectTimeout 9
"""


def test_lines_for_host_keeps_what_can_apply() -> None:
    """Global lines, Match blocks and the Host blocks that select the host stay."""
    kept = lines_for_host(tuple(CONFIG.splitlines(keepends=True)), "web1")
    assert "User deploy" in kept and "Port 2201" in kept and "ServerAliveInterval 7" in kept
    assert "postgres" not in kept and "Compression" not in kept and "ssh/web2" not in kept
    assert "ForwardAgent yes" in kept and "ConnectTimeout 9" in kept


@pytest.mark.parametrize("host", ["web1", "web2", "db7", "other"])
def test_copy_resolves_as_the_whole_file(tmp_path: Path, host: str) -> None:
    """asyncssh's parser gives the copy and the original the same values for the host."""
    original = tmp_path / "config"
    original.write_text(CONFIG)
    copy = copy_for_host(str(original), host, str(tmp_path))
    assert Path(copy).stat().st_size < original.stat().st_size
    whole = load_host_config(Target(host), [str(original)])
    cut = load_host_config(Target(host), [copy])
    for keyword in (
        "User",
        "Port",
        "Compression",
        "ForwardAgent",
        "IdentityFile",
        "ConnectTimeout",
        "ServerAliveInterval",
    ):
        assert whole.get(keyword) == cut.get(keyword), keyword


def test_dev_null_is_used_as_it_is(tmp_path: Path) -> None:
    """-F /dev/null is not copied."""
    assert copy_for_host("/dev/null", "h", str(tmp_path)) == "/dev/null"
