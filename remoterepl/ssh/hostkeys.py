"""Host-key trust as OpenSSH does it, on top of asyncssh (which only knows "trusted or not").

known_hosts lines are matched the way ssh (OpenSSH 9) matches them: against ``host`` on
port 22 and ``[host]:port`` otherwise (or HostKeyAlias), hashed entries included. On other
ports a plain ``host`` line still vouches for a key whose type has no ``[host]:port`` line,
but never makes a key "changed". asyncssh is handed the keys that matched, and asks
:class:`HostKeyVerifier` about any other key; StrictHostKeyChecking decides then.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import hashlib
import hmac
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
from asyncssh.pattern import HostPatternList

from remoterepl.errors import HostKeyError, UsageError


class Policy(enum.Enum):
    """What to do with a host key that known_hosts does not vouch for."""

    YES = "yes"  # refuse unknown keys
    ACCEPT_NEW = "accept-new"  # record unknown keys, refuse changed ones
    NO = "no"  # connect anyway, with a warning; changed keys are still refused
    ASK = "ask"  # ask on the terminal; without one, refuse

    @classmethod
    def parse(cls, value: str | None) -> Policy:
        """Parse a StrictHostKeyChecking value as OpenSSH spells it."""
        if value is None:
            return cls.ASK
        aliases = {
            "yes": cls.YES,
            "true": cls.YES,
            "accept-new": cls.ACCEPT_NEW,
            "no": cls.NO,
            "off": cls.NO,
            "false": cls.NO,
            "ask": cls.ASK,
        }
        try:
            return aliases[value.lower()]
        except KeyError:
            raise UsageError(f"bad StrictHostKeyChecking value '{value}'") from None


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
    return bool(HostPatternList(hosts).matches(name, "", None))


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


def _same(a: asyncssh.SSHKey, b: asyncssh.SSHKey) -> bool:
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
        return next((e for e in self.entries if e.marker == "revoked" and _same(e.key, key)), None)

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
        if not any(_same(key, k) for k in self.trusted()):
            return None
        return next((e for e in self.entries if e.marker is None and _same(e.key, key)), None)

    def same_type(self, key: asyncssh.SSHKey) -> KnownHostEntry | None:
        """A line holding a *different* key of ``key``'s type: the host key has changed."""
        return next(
            (
                e
                for e in self.entries
                if e.marker is None
                and not e.fallback
                and not _same(e.key, key)
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


class HostKeyVerifier:
    """Decides about host keys known_hosts does not trust; remembers why it refused."""

    def __init__(
        self,
        known: KnownHosts,
        policy: Policy,
        user_files: list[str],
        *,
        can_ask: bool,
        hash_names: bool = False,
        quiet: bool = False,
        who: str = "",
    ) -> None:
        self.known = known
        self.policy = policy
        self.user_files = user_files  # new keys are recorded in the first one
        self.can_ask = can_ask
        self.hash_names = hash_names
        self.quiet = quiet
        self.who = who  # "jump host NAME: " for hops, "" for the destination
        self.refusal: HostKeyError | None = None
        self.key_to_confirm: asyncssh.SSHKey | None = None
        self.accepted: list[asyncssh.SSHKey] = []  # trusted for this run (accept-new, ask)

    @property
    def name(self) -> str:
        """The known_hosts name of the host."""
        return self.known.name

    def known_hosts_arg(self) -> tuple[list[asyncssh.SSHKey], ...]:
        """asyncssh's ``known_hosts`` argument: pre-matched (trusted, CA, revoked) keys.

        Revoked keys are left to :meth:`validate` so that the refusal names its line.
        """
        return (
            [*self.known.trusted(), *self.accepted],
            self.known.authorities(),
            [],
            [],
            [],
            [],
            [],
        )

    def host_key_algorithms(self) -> list[str]:
        """Known key types first, then asyncssh's defaults (ssh's ordering); [] = default.

        asyncssh alone would offer *only* the known types, so a host that moved to another
        key type would fail key exchange instead of being reported."""
        from asyncssh.public_key import (
            get_default_certificate_algs,
            get_default_public_key_algs,
        )

        known: list[bytes] = []
        if self.known.authorities():
            known.extend(get_default_certificate_algs())
        for key in self.known.trusted():
            known.extend(a for a in key.sig_algorithms if a not in known)
        if not known:
            return []
        rest = [*get_default_certificate_algs(), *get_default_public_key_algs()]
        return [a.decode() for a in [*known, *(a for a in rest if a not in known)]]

    def validate(self, key: asyncssh.SSHKey) -> bool:
        """asyncssh hook: called only for keys that known_hosts does not already trust."""
        if any(_same(key, k) for k in self.accepted):
            return True
        label = self.name
        revoked = self.known.revoked(key)
        if revoked is not None:
            self.refusal = HostKeyError(
                f"{self.who}host key for {label} ({key_type(key)} {fingerprint(key)}) is "
                f"REVOKED in {revoked.where}: refusing to connect"
            )
            return False
        changed = self.known.same_type(key)
        if changed is not None:
            self.refusal = HostKeyError(
                f"{self.who}HOST KEY FOR {label} HAS CHANGED (now {key_type(key)} "
                f"{fingerprint(key)}); it does not match {changed.where}. "
                "Someone could be eavesdropping, or the host key was replaced: "
                "remove that line if the change is expected"
            )
            return False
        if self.policy is Policy.NO:
            self._warn(
                f"Warning: host key for {label} not verified ({key_type(key)} {fingerprint(key)})"
            )
            return True
        if self.policy is Policy.ACCEPT_NEW:
            self.remember(key)
            return True
        if self.policy is Policy.ASK and self.can_ask:
            self.key_to_confirm = key  # asked after this attempt fails
        hint = (
            ""
            if self.policy is Policy.YES
            else (" (use -o StrictHostKeyChecking=accept-new to trust it on first use)")
        )
        self.refusal = HostKeyError(
            f"{self.who}host key for {label} is unknown ({key_type(key)} {fingerprint(key)}) "
            f"and StrictHostKeyChecking is {self.policy.value}{hint}"
        )
        return False

    def question(self, key: asyncssh.SSHKey) -> str:
        """ssh's question about a new host key."""
        others = self.known.other_types(key)
        note = (
            f"Host key types known for this host: {', '.join(others)}.\n"
            if others
            else "This key is not known by any other names.\n"
        )
        return (
            f"The authenticity of host '{self.name}' can't be established.\n"
            f"{key_type(key)} key fingerprint is {fingerprint(key)}.\n{note}"
            "Are you sure you want to continue connecting (yes/no/[fingerprint])? "
        )

    def answer(self, key: asyncssh.SSHKey, reply: str) -> bool | None:
        """Interpret an answer to :meth:`question`: True, False, or None to ask again."""
        text = reply.strip()
        if text.lower() in ("yes", "no"):
            return text.lower() == "yes"
        if text.startswith("SHA256:"):
            return text == fingerprint(key)
        return None

    def refuse_confirmation(self, key: asyncssh.SSHKey) -> None:
        """Record that the user said no."""
        self.refusal = HostKeyError(
            f"{self.who}host key for {self.name} not accepted "
            f"({key_type(key)} {fingerprint(key)}): "
            "host key verification failed"
        )

    def remember(self, key: asyncssh.SSHKey) -> None:
        """Trust ``key`` for this run and append it to the user's known_hosts (blocking)."""
        self.accepted.append(key)
        self.key_to_confirm = None
        if not self.user_files:
            self._warn(f"Warning: no UserKnownHostsFile to record the host key for {self.name} in")
            return
        path = self.user_files[0]
        try:
            append_known_host(path, self.name, key, hashed=self.hash_names)
        except OSError as exc:
            self._warn(
                f"Warning: failed to add the host key for {self.name} to {path}: "
                f"{exc.strerror or exc}"
            )
            return
        self._warn(
            f"Warning: Permanently added '{self.name}' ({key_type(key)}) "
            f"to the list of known hosts."
        )

    def describe(self, key: asyncssh.SSHKey | None) -> str:
        """One -v line about the server's host key and why it is trusted."""
        if key is None:
            return f"{self.name}: no host key (GSS key exchange)"
        entry = self.known.entry_for(key)
        why = (
            f"matches {entry.where}"
            if entry is not None
            else "accepted for this run"
            if any(_same(key, k) for k in self.accepted)
            else "not verified"
        )
        return f"host key for {self.name}: {key_type(key)} {fingerprint(key)} ({why})"

    def _warn(self, message: str) -> None:
        if not self.quiet:
            with contextlib.suppress(OSError):
                print(message, file=sys.stderr, flush=True)
