"""OpenSSH's StrictHostKeyChecking on top of asyncssh (which only knows "trusted or not")."""

from __future__ import annotations

import enum
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncssh

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
        aliases = {"yes": cls.YES, "true": cls.YES, "accept-new": cls.ACCEPT_NEW,
                   "no": cls.NO, "off": cls.NO, "false": cls.NO, "ask": cls.ASK}
        try:
            return aliases[value.lower()]
        except KeyError:
            raise UsageError(f"bad StrictHostKeyChecking value '{value}'") from None


@dataclass(frozen=True)
class KnownHostLine:
    """A known_hosts line that names the host with a different key."""

    path: str
    line_no: int


def host_label(host: str, port: int) -> str:
    """The name known_hosts uses for ``host`` on ``port``."""
    return host if port == 22 else f"[{host}]:{port}"


def fingerprint(key: asyncssh.SSHKey) -> str:
    """SHA256 fingerprint as OpenSSH prints it."""
    return str(key.get_fingerprint("sha256"))


def find_conflicting_line(
    files: list[str], host: str, addr: str, port: int
) -> KnownHostLine | None:
    """Return the first known_hosts line holding another key for this host, if any."""
    for path in files:
        try:
            lines = Path(path).expanduser().read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line_no, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                entry = asyncssh.import_known_hosts(line)
            except (ValueError, asyncssh.KeyImportError):
                continue
            if entry.match(host, addr, port)[0]:
                return KnownHostLine(path, line_no)
    return None


class HostKeyVerifier:
    """Decides about host keys known_hosts does not trust; remembers why it refused."""

    def __init__(self, policy: Policy, user_files: list[str], all_files: list[str], *,
                 can_ask: bool, quiet: bool) -> None:
        self.policy = policy
        self.user_files = user_files  # new keys are recorded in the first one
        self.all_files = all_files
        self.can_ask = can_ask
        self.quiet = quiet
        self.refusal: HostKeyError | None = None
        self.key_to_confirm: tuple[str, int, asyncssh.SSHKey] | None = None

    def validate(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        """asyncssh hook: called only for keys that known_hosts does not already trust."""
        label = host_label(host, port)
        conflict = find_conflicting_line(self.all_files, host, addr, port)
        if conflict is not None:
            self.refusal = HostKeyError(
                f"HOST KEY FOR {label} HAS CHANGED (now {key.get_algorithm()} "
                f"{fingerprint(key)}); it does not match {conflict.path}:{conflict.line_no}. "
                "Someone could be eavesdropping, or the host key was replaced: "
                "remove that line if the change is expected")
            return False
        if self.policy is Policy.NO:
            self._warn(f"Warning: host key for {label} not verified ({fingerprint(key)})")
            return True
        if self.policy is Policy.ACCEPT_NEW:
            self.remember(host, port, key)
            return True
        if self.policy is Policy.ASK and self.can_ask:
            self.key_to_confirm = (host, port, key)  # asked after this attempt fails
        hint = "" if self.policy is Policy.YES else (
            " (use -o StrictHostKeyChecking=accept-new to trust it on first use)")
        self.refusal = HostKeyError(
            f"host key for {label} is unknown ({key.get_algorithm()} {fingerprint(key)}) "
            f"and StrictHostKeyChecking is {self.policy.value}{hint}")
        return False

    def remember(self, host: str, port: int, key: asyncssh.SSHKey) -> None:
        """Append the key to the user's known_hosts file, creating it (0600) if needed."""
        if not self.user_files:
            return
        path = Path(self.user_files[0])
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        entry = f"{host_label(host, port)} {key.export_public_key('openssh').decode().strip()}\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as file:
            file.write(entry)
        self._warn(f"Warning: Permanently added '{host_label(host, port)}' "
                   f"({key.get_algorithm()}) to the list of known hosts ({path}).")

    def _warn(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)
