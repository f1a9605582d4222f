"""Host-key trust as OpenSSH does it, on top of asyncssh (which only knows "trusted or not").

asyncssh is handed the keys that known_hosts vouches for (:mod:`~remoterepl.ssh.known_hosts`)
and asks :class:`HostKeyVerifier` about any other key; StrictHostKeyChecking decides then.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import asyncssh

from remoterepl.display import shown
from remoterepl.errors import HostKeyError, UsageError
from remoterepl.ssh import compat
from remoterepl.ssh.known_hosts import (
    KnownHosts,
    append_known_host,
    fingerprint,
    key_type,
    same_key,
)


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
            raise UsageError(f"bad StrictHostKeyChecking value '{shown(value)}'") from None


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
        warn: Callable[[str], None] = lambda _message: None,
        error: Callable[[str], None] | None = None,
        who: str = "",
    ) -> None:
        self.known = known
        self.policy = policy
        self.user_files = user_files  # new keys are recorded in the first one
        self.can_ask = can_ask
        self.hash_names = hash_names
        self._warn = warn  # ssh's "Warning: ..." lines (the console drops them under -q)
        self._error = error or warn  # ssh's error() lines: shown even under -q
        self.who = who  # "jump host NAME: " for hops, "" for the destination
        self.refusal: HostKeyError | None = None
        self.key_to_confirm: asyncssh.SSHKey | None = None
        self.accepted: list[asyncssh.SSHKey] = []  # trusted for this run (accept-new, ask)
        # A changed or revoked key let through by StrictHostKeyChecking no: as in OpenSSH,
        # no secret (password, keyboard-interactive answer, agent) may go to this host.
        self.untrusted: asyncssh.SSHKey | None = None

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
        certificate_algs, public_key_algs = compat.default_host_key_algorithms()
        known: list[bytes] = []
        if self.known.authorities():
            known.extend(certificate_algs)
        for key in self.known.trusted():
            known.extend(a for a in key.sig_algorithms if a not in known)
        if not known:
            return []
        rest = [*certificate_algs, *public_key_algs]
        return [a.decode() for a in [*known, *(a for a in rest if a not in known)]]

    def validate(self, key: asyncssh.SSHKey) -> bool:
        """asyncssh hook: called only for keys that known_hosts does not already trust."""
        if any(same_key(key, k) for k in self.accepted):
            return True
        label = shown(self.name)
        revoked = self.known.revoked(key)
        if revoked is not None and self.policy is Policy.NO:
            return self._continue_unsafe(key, f"is REVOKED in {revoked.where}")
        if revoked is not None:
            self.refusal = HostKeyError(
                f"{self.who}host key for {label} ({key_type(key)} {fingerprint(key)}) is "
                f"REVOKED in {revoked.where}: refusing to connect"
            )
            return False
        changed = self.known.same_type(key)
        if changed is not None and self.policy is Policy.NO:
            return self._continue_unsafe(key, f"HAS CHANGED: it does not match {changed.where}")
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

    def _continue_unsafe(self, key: asyncssh.SSHKey, what: str) -> bool:
        """OpenSSH's ``continue_unsafe`` (sshconnect.c check_host_key): connect, but only
        key authentication is left; the warnings are errors there, shown even with -q."""
        self.untrusted = key
        self._error(
            f"WARNING: {self.who}the host key for {shown(self.name)} ({key_type(key)} "
            f"{fingerprint(key)}) {what}. Someone could be eavesdropping on you right now "
            "(man-in-the-middle attack)! Connecting anyway, as StrictHostKeyChecking is no."
        )
        self._error("Password authentication is disabled to avoid man-in-the-middle attacks.")
        self._error(
            "Keyboard-interactive authentication is disabled to avoid man-in-the-middle attacks."
        )
        return True

    def question(self, key: asyncssh.SSHKey) -> str:
        """ssh's question about a new host key."""
        others = self.known.other_types(key)
        note = (
            f"Host key types known for this host: {', '.join(others)}.\n"
            if others
            else "This key is not known by any other names.\n"
        )
        return (
            f"The authenticity of host '{shown(self.name)}' can't be established.\n"
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
            f"{self.who}host key for {shown(self.name)} not accepted "
            f"({key_type(key)} {fingerprint(key)}): "
            "host key verification failed"
        )

    def remember(self, key: asyncssh.SSHKey) -> None:
        """Trust ``key`` for this run and append it to the user's known_hosts (blocking)."""
        self.accepted.append(key)
        self.key_to_confirm = None
        if not self.user_files:
            self._warn(
                f"Warning: no UserKnownHostsFile to record the host key for {shown(self.name)} in"
            )
            return
        path = self.user_files[0]
        try:
            append_known_host(path, self.name, key, hashed=self.hash_names)
        except OSError as exc:
            self._warn(
                f"Warning: failed to add the host key for {shown(self.name)} to {shown(path)}: "
                f"{exc.strerror or exc}"
            )
            return
        self._warn(
            f"Warning: Permanently added '{shown(self.name)}' ({key_type(key)}) "
            f"to the list of known hosts."
        )

    def describe(self, key: asyncssh.SSHKey | None) -> str:
        """One -v line about the server's host key and why it is trusted."""
        if key is None:
            return f"{shown(self.name)}: no host key (GSS key exchange)"
        entry = self.known.entry_for(key)
        why = (
            f"matches {entry.where}"
            if entry is not None
            else "accepted for this run"
            if any(same_key(key, k) for k in self.accepted)
            else "not verified"
        )
        return f"host key for {shown(self.name)}: {key_type(key)} {fingerprint(key)} ({why})"
