"""Key pairs on disk for servers and clients: made with OpenSSH's ssh-keygen (for sshd) or
with asyncssh (no OpenSSH needed: the embedded server's tests)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest


@dataclass(frozen=True)
class KeyPair:
    """An OpenSSH key pair on disk, without passphrase."""

    private: Path

    @property
    def public(self) -> Path:
        """Path of the ``.pub`` file."""
        return self.private.with_name(self.private.name + ".pub")

    @property
    def public_line(self) -> str:
        """``TYPE BASE64`` of the public key (no comment)."""
        kind, blob = self.public.read_text().split()[:2]
        return f"{kind} {blob}"


def generate_key(
    path: Path, comment: str = "remoterepl-test", passphrase: str = "", key_type: str = "ed25519"
) -> KeyPair:
    """Generate a key pair at *path* (mode 0600) with ``ssh-keygen``: ed25519 without
    passphrase unless *key_type* / *passphrase* say otherwise."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is missing (package openssh-client; scripts/bootstrap installs it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, path.with_name(path.name + ".pub")):
        stale.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", key_type, "-N", passphrase, "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    return KeyPair(path)


def make_key(path: Path, comment: str = "remoterepl-test") -> KeyPair:
    """An ed25519 key pair at *path* (mode 0600) written by asyncssh, in OpenSSH's formats."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    key.write_private_key(path)
    path.chmod(0o600)
    key.write_public_key(path.with_name(path.name + ".pub"))
    return KeyPair(path)


@dataclass(frozen=True)
class ClientKeys:
    """The accepted client key and one the servers refuse."""

    client: KeyPair
    bad_client: KeyPair


@dataclass(frozen=True)
class SshKeys(ClientKeys):
    """Keys shared by a whole run of sshd tests: the client keys and the servers' host key."""

    host: KeyPair
