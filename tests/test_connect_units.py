"""Unit tests of the connection building blocks (no server): ssh_config resolution,
routes through jump hosts, known_hosts matching, key files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import asyncssh
import pytest

from remoterepl.errors import UsageError
from remoterepl.settings import ConnectSettings, Target, parse_jump_spec
from remoterepl.ssh.config import override_lines, write_config_files
from remoterepl.ssh.host_config import load_host_config
from remoterepl.ssh.hostkeys import Policy
from remoterepl.ssh.identities import _openssh_public_blob, loose_permissions
from remoterepl.ssh.known_hosts import KnownHosts, hashed_name
from remoterepl.ssh.route import plan_route


def settings_for(tmp_path: Path, config: str, **kwargs: object) -> ConnectSettings:
    """ConnectSettings reading only *config* (written to a file) as ssh_config."""
    path = tmp_path / "config"
    path.write_text(config)
    target = kwargs.pop("target", Target("dest"))
    return ConnectSettings(target=target, config_file=str(path), **kwargs)  # type: ignore[arg-type]


def route_names(settings: ConnectSettings) -> list[str]:
    """Host names along the planned route, first hop first."""
    files = write_config_files(settings)
    try:
        return [r.host.written for r in plan_route(settings.target, files).hops()]
    finally:
        files.remove()


def test_jump_option_goes_first_and_beats_ssh_config(tmp_path: Path) -> None:
    """-J becomes the destination's ProxyJump, ahead of -o and ssh_config."""
    settings = settings_for(
        tmp_path,
        "Host dest\n    ProxyJump cfg-hop\n",
        jump_hosts="a,u@b:2",
        options=(("ProxyJump", "other"),),
    )
    assert override_lines(settings)[0] == "ProxyJump a,u@b:2\n"
    assert route_names(settings) == ["a", "u@b:2", "dest"]


def test_first_hop_keeps_its_own_proxyjump_later_hops_do_not(tmp_path: Path) -> None:
    """``-J a,b``: b is reached through a (b's own ProxyJump is overridden); a's own
    ProxyJump from ssh_config still applies, as with OpenSSH's ``ssh -J a b -W``."""
    config = "Host a\n    ProxyJump gw\nHost b\n    ProxyJump ignored\n"
    settings = settings_for(tmp_path, config, jump_hosts="a,b")
    assert route_names(settings) == ["gw", "a", "b", "dest"]


def test_proxyjump_none_and_proxycommand_precedence(tmp_path: Path) -> None:
    """Whichever of ProxyJump/ProxyCommand comes first wins; ``none`` ends the chain."""
    config = (
        "Host dest\n    ProxyCommand nc %h %p\n    ProxyJump hop\n"
        "Host other\n    ProxyJump none\n    ProxyCommand nc %h %p\n"
    )
    settings = settings_for(tmp_path, config)
    files = write_config_files(settings)
    try:
        dest = plan_route(Target("dest"), files)
        other = plan_route(Target("other"), files)
    finally:
        files.remove()
    assert dest.via is None and dest.proxy_command == "nc dest 22"
    assert other.via is None and other.proxy_command is None


def test_percent_tokens_expand_with_final_values(tmp_path: Path) -> None:
    """-o values with %h/%p/%r see the HostName/Port/User that ssh_config sets later."""
    settings = settings_for(
        tmp_path,
        "Host dest\n    HostName real.example\n    Port 2200\n    User bob\n",
        options=(("ProxyCommand", "connect %r@%h:%p"), ("IdentityFile", "~/k_%h")),
    )
    files = write_config_files(settings)
    try:
        host = load_host_config(settings.target, files.for_destination(settings.target.host))
    finally:
        files.remove()
    assert host.proxy() == (None, "connect bob@real.example:2200")
    assert host.identity_files[0] == os.path.expanduser("~/k_real.example")


def test_jump_spec_errors() -> None:
    """A bad hop is a usage error naming it."""
    assert [t.host for t in parse_jump_spec("a, ssh://u@b:2,[::1]:3")] == ["a", "b", "::1"]
    with pytest.raises(UsageError, match="bad jump host"):
        parse_jump_spec("a,,b")


def test_policy_values() -> None:
    """StrictHostKeyChecking spellings as OpenSSH accepts them."""
    assert Policy.parse(None) is Policy.ASK
    assert Policy.parse("off") is Policy.NO and Policy.parse("TRUE") is Policy.YES
    with pytest.raises(UsageError):
        Policy.parse("sometimes")


def test_hashed_names_are_what_ssh_keygen_finds(tmp_path: Path) -> None:
    """A line hashed by remoterepl is found by ``ssh-keygen -F`` and by our own matcher."""
    key = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
    line = f"{hashed_name('[h.example]:2222')} {key.export_public_key().decode().strip()}\n"
    known = tmp_path / "known_hosts"
    known.write_text(line)
    found = subprocess.run(
        ["ssh-keygen", "-F", "[h.example]:2222", "-f", str(known)], capture_output=True, text=True
    )
    assert found.returncode == 0 and "[h.example]:2222" in found.stdout
    loaded = KnownHosts.load("[h.example]:2222", [str(known)])
    assert [e.line_no for e in loaded.entries] == [1]
    assert not KnownHosts.load("[h.example]:22", [str(known)]).entries


def test_public_half_inside_an_openssh_key(tmp_path: Path) -> None:
    """The public key of a passphrase-protected key is read without the passphrase."""
    path = tmp_path / "k"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", str(path)], check=True
    )
    blob = _openssh_public_blob(path.read_bytes())
    public = asyncssh.read_public_key(str(path) + ".pub")
    assert blob == public.public_data
    path.chmod(0o640)
    assert loose_permissions(str(path)) == 0o640
    path.chmod(0o600)
    assert loose_permissions(str(path)) is None
