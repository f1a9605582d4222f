"""known_hosts as OpenSSH 9 reads and writes it.

Lines are matched against ``host`` on port 22 and ``[host]:port`` otherwise (or
HostKeyAlias), hashed entries included. On other ports a plain ``host`` line still vouches
for a key whose type has no ``[host]:port`` line, but never makes a key "changed".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from remoterepl.ssh import compat


def host_label(host: str, port: int) -> str:
    """The name known_hosts uses for ``host`` on ``port``: ``host`` or ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def fingerprint(key: asyncssh.SSHKey) -> str:
    """SHA256 fingerprint as OpenSSH prints it."""
    return str(key.get_fingerprint("sha256"))


def key_type(key: asyncssh.SSHKey) -> str:
    """The key type as ssh names it in messages (ED25519, RSA, ECDSA)."""
    algorithm = key.get_algorithm()
    for prefix, name in (
        ("ssh-ed25519", "ED25519"),
        ("ssh-ed448", "ED448"),
        ("ssh-rsa", "RSA"),
        ("ecdsa-", "ECDSA"),
        ("ssh-dss", "DSA"),
        ("sk-ssh-ed25519", "ED25519-SK"),
        ("sk-ecdsa", "ECDSA-SK"),
    ):
        if algorithm.startswith(prefix):
            return name
    return algorithm


def hashed_name(name: str, salt: bytes | None = None) -> str:
    """``|1|salt|hash`` for ``name``, as ``ssh-keygen -H`` and HashKnownHosts write it."""
    salt = os.urandom(20) if salt is None else salt
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def _hashed_matches(pattern: str, name: str) -> bool:
    parts = pattern.split("|")
    if len(parts) != 4 or parts[1] != "1":
        return False
    try:
        salt = base64.b64decode(parts[2], validate=True)
        expected = base64.b64decode(parts[3], validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), expected)


def _names_match(hosts: str, name: str) -> bool:
    """Does a known_hosts host field (``a,b``, patterns, ``!neg`` or hashed) name ``name``?"""
    if hosts.startswith("|"):
        return _hashed_matches(hosts, name)
    if not any(c in hosts for c in "*?!"):
        return name in hosts.split(",")
    return compat.host_patterns_match(hosts, name)


@dataclass(frozen=True)
class KnownHostEntry:
    """A known_hosts line naming the host: where it is, its marker and key."""

    path: str
    line_no: int
    marker: str | None  # None, "cert-authority" or "revoked"
    key: asyncssh.SSHKey
    fallback: bool = False  # names plain ``host`` while connecting to another port

    @property
    def where(self) -> str:
        """``FILE:LINE``."""
        return f"{self.path}:{self.line_no}"


def _parse_line(line: str) -> tuple[str | None, str, str] | None:
    """(marker, host field, key text) of a known_hosts line; None for others."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    marker = None
    if text.startswith("@"):
        marker, _, text = text.partition(" ")
        marker = marker[1:]
        if marker not in ("cert-authority", "revoked"):
            return None
        text = text.lstrip()
    hosts, _, key_text = text.partition(" ")
    return (marker, hosts, key_text.strip()) if key_text else None


def same_key(a: asyncssh.SSHKey, b: asyncssh.SSHKey) -> bool:
    """Whether two keys are the same public key."""
    return bool(a.public_data == b.public_data)


@dataclass
class KnownHosts:
    """Every known_hosts entry that names one host, from all the files read."""

    name: str  # "host", "[host]:port" or the HostKeyAlias
    entries: list[KnownHostEntry] = field(default_factory=list)

    @classmethod
    def load(cls, name: str, files: list[str], fallback_name: str | None = None) -> KnownHosts:
        """Read ``files`` (missing ones count as empty, as in OpenSSH). Blocking.

        ``fallback_name`` is the plain host name when ``name`` is ``[host]:port``."""
        known = cls(name)
        for path in files:
            try:
                text = Path(path).read_text(errors="replace")
            except OSError:
                continue
            for line_no, line in enumerate(text.splitlines(), 1):
                parsed = _parse_line(line)
                if parsed is None:
                    continue
                marker, hosts, key_text = parsed
                if _names_match(hosts, name):
                    fallback = False
                elif fallback_name is not None and _names_match(hosts, fallback_name):
                    fallback = True
                else:
                    continue
                try:
                    key = asyncssh.import_public_key(key_text)
                except (asyncssh.KeyImportError, ValueError):
                    continue
                known.entries.append(KnownHostEntry(path, line_no, marker, key, fallback))
        return known

    def _keys(self, marker: str | None, *, fallback: bool) -> list[asyncssh.SSHKey]:
        return [e.key for e in self.entries if e.marker == marker and e.fallback == fallback]

    def revoked(self, key: asyncssh.SSHKey) -> KnownHostEntry | None:
        """The @revoked line for ``key``, if any."""
        return next(
            (e for e in self.entries if e.marker == "revoked" and same_key(e.key, key)), None
        )

    def trusted(self) -> list[asyncssh.SSHKey]:
        """Host keys known_hosts vouches for (never a revoked one)."""
        exact = self._keys(None, fallback=False)
        exact_types = {key_type(k) for k in exact}
        plain = [k for k in self._keys(None, fallback=True) if key_type(k) not in exact_types]
        return [k for k in [*exact, *plain] if self.revoked(k) is None]

    def authorities(self) -> list[asyncssh.SSHKey]:
        """@cert-authority keys for this host."""
        return self._keys("cert-authority", fallback=False)

    def entry_for(self, key: asyncssh.SSHKey) -> KnownHostEntry | None:
        """The line that trusts ``key``, if any."""
        if not any(same_key(key, k) for k in self.trusted()):
            return None
        return next((e for e in self.entries if e.marker is None and same_key(e.key, key)), None)

    def same_type(self, key: asyncssh.SSHKey) -> KnownHostEntry | None:
        """A line holding a *different* key of ``key``'s type: the host key has changed."""
        return next(
            (
                e
                for e in self.entries
                if e.marker is None
                and not e.fallback
                and not same_key(e.key, key)
                and key_type(e.key) == key_type(key)
            ),
            None,
        )

    def other_types(self, key: asyncssh.SSHKey) -> list[str]:
        """Types of the host's other known keys (ssh mentions them for a new key type)."""
        return sorted(
            {
                key_type(e.key)
                for e in self.entries
                if e.marker is None and key_type(e.key) != key_type(key)
            }
        )


def append_known_host(path: str, name: str, key: asyncssh.SSHKey, *, hashed: bool) -> None:
    """Append ``name key`` to known_hosts ``path`` (0600, parent 0700 if created)."""
    target = Path(path)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    host_field = hashed_name(name) if hashed else name
    line = f"{host_field} {key.export_public_key('openssh').decode().strip()}\n"
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as file:
        file.write(line)
