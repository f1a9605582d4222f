"""Client-side files for an embedded server: identity, known_hosts and an ssh_config alias."""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from remoterepl.embedded.server import EmbeddedServer

IDENTITY_NAME = "id_ed25519"
KNOWN_HOSTS_NAME = "known_hosts"
CONFIG_NAME = "ssh_config"


@dataclass(frozen=True)
class ClientFiles:
    """Where a client finds an embedded server: ``ssh -F config alias`` (or remoterepl)."""

    alias: str
    config: Path
    identity: Path
    known_hosts: Path


def write_client_files(
    directory: str | os.PathLike[str],
    server: EmbeddedServer,
    client_key: asyncssh.SSHKey,
    *,
    alias: str = "embedded",
    user: str | None = None,
) -> ClientFiles:
    """Write the client key (0600), a known_hosts with the server key, and an ssh_config."""
    base = Path(directory)
    files = ClientFiles(
        alias=alias,
        config=base / CONFIG_NAME,
        identity=base / IDENTITY_NAME,
        known_hosts=base / KNOWN_HOSTS_NAME,
    )
    client_key.write_private_key(files.identity)
    files.identity.chmod(0o600)  # OpenSSH refuses group/world-readable keys
    files.known_hosts.write_text(server.known_hosts_line() + "\n")
    files.config.write_text(ssh_config_text(server, files, user=user))
    return files


def ssh_config_text(server: EmbeddedServer, files: ClientFiles, *, user: str | None = None) -> str:
    """An ssh_config ``Host`` block that reaches server with files' key and known_hosts."""
    lines = [
        f"Host {files.alias}",
        f"    HostName {server.host}",
        f"    Port {server.port}",
        f"    User {user or pwd.getpwuid(os.getuid()).pw_name}",
        f"    IdentityFile {_quote(files.identity)}",
        "    IdentitiesOnly yes",
        f"    UserKnownHostsFile {_quote(files.known_hosts)}",
        "    StrictHostKeyChecking yes",
    ]
    return "\n".join(lines) + "\n"


def _quote(path: Path) -> str:
    """ssh_config quoting for a path that may contain spaces."""
    text = str(path)
    return f'"{text}"' if any(c.isspace() for c in text) else text
