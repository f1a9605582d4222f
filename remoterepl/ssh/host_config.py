"""One host's ssh_config, resolved by asyncssh's parser (``Host``/``Match``, first value
wins) from the files :mod:`~remoterepl.ssh.config` chose, and the values remoterepl acts on
itself read from it. Blocking file I/O: callers run it in an executor.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from remoterepl.display import shown
from remoterepl.errors import UsageError
from remoterepl.settings import HostSessionOptions, Target
from remoterepl.ssh import compat, keywords
from remoterepl.ssh.config import FEATURES, ConfigFiles

if TYPE_CHECKING:
    from asyncssh.config import SSHClientConfig

DEFAULT_PASSWORD_PROMPTS = 3

# OpenSSH's default identities, in the order ssh tries them.
DEFAULT_IDENTITY_FILES = (
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
    "~/.ssh/id_dsa",
)


def _env_value(value: str) -> str | None:
    """``$VAR``/``${VAR}`` as OpenSSH reads IdentityAgent/ForwardAgent values."""
    name = value[2:-1] if value.startswith("${") and value.endswith("}") else value[1:]
    return os.environ.get(name) or None


@dataclass(frozen=True)
class HostConfig:
    """One host's ssh_config, as resolved for one connection."""

    target: Target  # as the user wrote it: alias, name or address, maybe user and port
    config: SSHClientConfig
    paths: tuple[str, ...]

    @property
    def name(self) -> str:
        """The host as written (an alias, a name or an address)."""
        return self.target.host

    @property
    def written(self) -> str:
        """``[user@]host[:port]`` as the command line or ProxyJump wrote it."""
        text = f"{self.target.user}@{self.name}" if self.target.user else self.name
        return f"{text}:{self.target.port}" if self.target.port else text

    def get(self, keyword: str, default: object = None) -> object:
        """Raw asyncssh value of ``keyword`` (%-tokens not expanded)."""
        return self.config.get(keyword, default)

    def expand(self, value: str) -> str:
        """Expand %-tokens (%h %p %r %n %u %d %i %C %L %l %%) and ${VAR} in ``value``."""
        try:
            return compat.expand_config_value(self.config, value)
        except (ValueError, KeyError) as exc:  # ConfigParseError: unknown token or variable
            raise UsageError(f"bad ssh config value '{shown(value)}': {shown(str(exc))}") from None

    def _expanded_list(self, keyword: str) -> list[str] | None:
        value = self.get(keyword)
        if not isinstance(value, list):
            return None
        return [self.expand(str(v)) for v in value]

    @property
    def host(self) -> str:
        """HostName, or the name itself."""
        return str(self.get("Hostname", self.name))

    @property
    def port(self) -> int:
        """Port (default 22)."""
        return int(str(self.get("Port", 22)))

    @property
    def user(self) -> str:
        """User, or the local user name."""
        return str(self.get("User") or getpass.getuser())

    @property
    def strict_host_key_checking(self) -> str | None:
        """StrictHostKeyChecking as written, or None."""
        value = self.get("StrictHostKeyChecking")
        return None if value is None else str(value)

    @property
    def batch_mode(self) -> bool:
        """BatchMode: never ask anything on the terminal."""
        return bool(self.get("BatchMode", False))

    @property
    def hash_known_hosts(self) -> bool:
        """HashKnownHosts: record new hosts hashed."""
        return bool(self.get("HashKnownHosts", False))

    @property
    def password_prompts(self) -> int:
        """NumberOfPasswordPrompts (default 3)."""
        return int(str(self.get("NumberOfPasswordPrompts", DEFAULT_PASSWORD_PROMPTS)))

    @property
    def connect_timeout(self) -> float | None:
        """ConnectTimeout in seconds; None (or 0) means the system's TCP timeout."""
        value = self.get("ConnectTimeout")
        return float(str(value)) if value else None

    @property
    def host_key_alias(self) -> str | None:
        """HostKeyAlias, if set."""
        value = self.get("HostKeyAlias")
        return None if value is None else str(value)

    def known_hosts_files(self) -> tuple[list[str], list[str]]:
        """(user files, global files) as OpenSSH defaults them; "none" means none."""

        def files(keyword: str, default: list[str]) -> list[str]:
            names = self._expanded_list(keyword)
            return [
                os.path.expanduser(n)
                for n in (default if names is None else names)
                if n.lower() != "none"
            ]

        user = files("UserKnownHostsFile", ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"])
        system = files(
            "GlobalKnownHostsFile", ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]
        )
        return user, system

    @property
    def identity_files(self) -> list[str]:
        """IdentityFile entries in order (-i first), or OpenSSH's default files."""
        names = self._expanded_list("IdentityFile")
        if names is None:
            names = list(DEFAULT_IDENTITY_FILES)
        return [os.path.expanduser(n) for n in names]

    @property
    def certificate_files(self) -> list[str]:
        """CertificateFile entries."""
        return [os.path.expanduser(n) for n in self._expanded_list("CertificateFile") or []]

    @property
    def identities_only(self) -> bool:
        """IdentitiesOnly: offer only configured identities, even from the agent."""
        return bool(self.get("IdentitiesOnly", False))

    @property
    def pubkey_authentication(self) -> bool:
        """PubkeyAuthentication (default yes)."""
        return bool(self.get("PubkeyAuthentication", True))

    @property
    def agent_path(self) -> str | None:
        """The agent socket: IdentityAgent (none, SSH_AUTH_SOCK, $VAR, path) or SSH_AUTH_SOCK."""
        marker = object()
        value = self.get("IdentityAgent", marker)
        if value is marker:
            return os.environ.get("SSH_AUTH_SOCK") or None
        if value is None:  # "IdentityAgent none"
            return None
        text = str(value)
        if text == "SSH_AUTH_SOCK":
            return os.environ.get("SSH_AUTH_SOCK") or None
        if text.startswith("$") and not text.startswith("${"):
            return _env_value(text)
        return os.path.expanduser(self.expand(text))

    @property
    def forward_agent(self) -> str | None:
        """The agent socket to forward (ForwardAgent yes|no|path|$VAR), or None."""
        value = self.get("ForwardAgent", False)
        if value is True:
            return self.agent_path
        if not value:
            return None
        text = str(value)
        if text.startswith("$") and not text.startswith("${"):
            return _env_value(text)
        return os.path.expanduser(self.expand(text))

    @property
    def remote_command(self) -> str | None:
        """RemoteCommand, expanded."""
        value = self.get("RemoteCommand")
        return None if value is None else self.expand(str(value))

    def session_options(self) -> HostSessionOptions:
        """RemoteCommand, RequestTTY and EscapeChar as this host's ssh_config sets them."""
        tty = self.get("RequestTTY")
        escape = self.get("EscapeChar")
        return HostSessionOptions(
            remote_command=self.remote_command,
            request_tty=None
            if tty is None
            else "yes"
            if tty is True
            else "no"
            if not tty
            else str(tty),
            # "words": ["none"] was read as [] (a list: "none" as a word is unambiguous)
            escape_char=None if not isinstance(escape, list) else " ".join(escape) or "none",
        )

    def not_implemented(self) -> list[str]:
        """The keywords set for this host that remoterepl does not implement (and whose
        value asks for something), as ``Keyword value``."""
        found = []
        for keyword in FEATURES:
            value = self.get(keyword)
            text = " ".join(map(str, value)) if isinstance(value, list) else value
            if isinstance(text, str) and keywords.asks_for_something(text):
                found.append(f"{keyword} {text}")
        return found

    def proxy(self) -> tuple[str | None, str | None]:
        """(ProxyJump, ProxyCommand): at most one is set; whichever came first wins, as in
        OpenSSH ("none" disables both)."""
        options = compat.config_keywords_in_order(self.config)
        for keyword in options:
            if keyword == "ProxyJump":
                jump = options[keyword]
                return (str(jump) if jump else None), None
            if keyword == "ProxyCommand":
                command = options[keyword]
                return None, (self.expand(str(command)) if command else None)
        return None, None


def load_host_config(
    target: Target, paths: Sequence[str], files: ConfigFiles | None = None
) -> HostConfig:
    """Resolve ``target`` against the config files (blocking); ``files``, when they are
    among ``paths``, name a bad command-line option as the user typed it."""
    try:
        local_user = getpass.getuser()
    except (KeyError, OSError):
        raise UsageError("unknown local user name: set USER") from None
    user: object = target.user if target.user is not None else ()
    port: object = target.port if target.port is not None else ()
    try:
        config = compat.load_client_config(paths, local_user, user, target.host, port)
    except OSError as exc:
        raise UsageError(f"can't read ssh config: {shown(str(exc))}") from None
    except ValueError as exc:  # asyncssh.ConfigParseError and bad values
        text = str(exc)
        raise UsageError(
            files.explain(text) if files else f"bad ssh config: {shown(text)}"
        ) from None
    except (RecursionError, RuntimeError) as exc:  # checked before (config_check): a net
        raise UsageError(f"bad ssh config: {type(exc).__name__}: {shown(str(exc))}") from None
    return HostConfig(target, config, tuple(paths))
