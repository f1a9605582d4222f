"""ssh_config as OpenSSH reads it: which files, -o/-i overrides, defaults, one host's values.

asyncssh parses the files (``Host``/``Match``, first value wins); this module decides which
files take part and reads the values remoterepl acts on itself. Everything here is blocking
file I/O or pure: callers run it in an executor.
"""

from __future__ import annotations

import getpass
import os
import shlex
import shutil
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from remoterepl.display import shown
from remoterepl.errors import UsageError
from remoterepl.settings import ConnectSettings, Target
from remoterepl.ssh import compat, keywords
from remoterepl.ssh.config_check import SYSTEM_CONFIG

if TYPE_CHECKING:
    from asyncssh.config import SSHClientConfig

# Defaults that ssh_config and -o may override (first value wins, so these go last).
DEFAULTS = {"ConnectTimeout": "30", "ServerAliveInterval": "15", "ServerAliveCountMax": "3"}
# With AES instructions, AES-GCM costs asyncssh one OpenSSL call per packet where
# chacha20-poly1305 (OpenSSH's first choice) costs four: ~40 % more throughput.
# "^" puts them first and keeps the rest of the default list.
AES_GCM_FIRST = "^aes128-gcm@openssh.com,aes256-gcm@openssh.com"


def default_options() -> dict[str, str]:
    """remoterepl's defaults, the cipher preference depending on this CPU."""
    defaults = dict(DEFAULTS)
    if _cpu_has_aes():
        defaults["Ciphers"] = AES_GCM_FIRST
    return defaults


def _cpu_has_aes() -> bool:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith(("flags", "Features")):  # x86 / ARM
                    return "aes" in line.split(":", 1)[1].split()
    except OSError:
        pass
    return False


USER_CONFIG = "~/.ssh/config"
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

# Keywords asyncssh's parser skips but remoterepl implements, with their value types:
# taught to the parser, so that Host/Match blocks apply to them too.
_EXTRA_KEYWORDS = {
    "StrictHostKeyChecking": "string",
    "EscapeChar": "string",
    "BatchMode": "bool",
    "NumberOfPasswordPrompts": "int",
    "HashKnownHosts": "bool",
}
compat.teach_config_keywords({**_EXTRA_KEYWORDS, **keywords.FORWARDING_TYPES})
# Not implemented, but kept, so that a warning can say when one applies to a host.
_FEATURES = [k for k, m in keywords.NOT_IMPLEMENTED.items() if m is keywords.Missing.FEATURE]
compat.teach_config_keywords(dict.fromkeys(_FEATURES, "words"))
compat.teach_config_aliases(keywords.ALIASES)
# Keywords whose value is the rest of the line, unquoted (as asyncssh parses them).
_RAW_VALUE_KEYWORDS = {"proxycommand", "remotecommand"}


@dataclass(frozen=True)
class ConfigFiles:
    """The ssh_config files of one run, in precedence order.

    ``overrides`` (-o, -i, -J, -A) apply to the destination only, as in OpenSSH, where
    command-line options are not passed on to jump hosts; ``user`` (``-F FILE``, or
    ``~/.ssh/config`` and the system file) and ``defaults`` apply to every host.
    """

    overrides: str
    user: tuple[str, ...]
    defaults: str
    directory: str
    origins: tuple[str, ...] = ()  # the option each line of ``overrides`` came from

    def explain(self, problem: str) -> str:
        """asyncssh's complaint about a file, in the user's terms: a line of the generated
        ``overrides`` file is named as the option it came from (``-o Key=value``)."""
        prefix = f"{self.overrides} line "
        number, _, reason = problem.removeprefix(prefix).partition(": ")
        if problem.startswith(prefix) and number.isdigit():
            index = int(number) - 1
            if 0 <= index < len(self.origins):
                reason = f"{reason[:1].lower()}{reason[1:]}"
                return f"bad option {shown(self.origins[index])}: {shown(reason)}"
        return f"bad ssh config: {shown(problem)}"

    def for_destination(self) -> list[str]:
        """Files for the destination host."""
        return [self.overrides, *self.user, self.defaults]

    def for_hop(self) -> list[str]:
        """Files for a jump host."""
        return [*self.user, self.defaults]

    def remove(self) -> None:
        """Delete the generated files."""
        shutil.rmtree(self.directory, ignore_errors=True)


def _config_line(key: str, value: str) -> str:
    return f"{key} {value if key.lower() in _RAW_VALUE_KEYWORDS else shlex.quote(value)}\n"


def user_config_files(config_file: str | None) -> tuple[str, ...]:
    """``-F FILE`` alone, or the readable ones of ``~/.ssh/config`` and the system file."""
    if config_file is not None:
        try:
            mode = os.stat(config_file).st_mode
        except OSError as exc:
            raise UsageError(
                f"can't open config file '{shown(config_file)}': {exc.strerror}"
            ) from None
        # A FIFO would block the run; /dev/null (a character device) is ssh -F's "no config".
        if not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)) or not os.access(config_file, os.R_OK):
            raise UsageError(f"can't open config file '{shown(config_file)}'")
        return (config_file,)
    candidates = (os.path.expanduser(USER_CONFIG), SYSTEM_CONFIG)
    return tuple(p for p in candidates if os.access(p, os.R_OK))


def override_lines(settings: ConnectSettings) -> list[str]:
    """ssh_config lines for the command line: -J and -A first (they win), then -o, then -i."""
    return [line for line, _origin in _overrides(settings)]


def _overrides(settings: ConnectSettings) -> list[tuple[str, str]]:
    """Each line of :func:`override_lines` with the option it came from (``-o Key=value``)."""
    lines: list[tuple[str, str]] = []
    if settings.jump_hosts is not None:
        jump = settings.jump_hosts
        lines.append((_config_line("ProxyJump", jump), f"-J {shlex.quote(jump)}"))
    if settings.forward_agent is not None:
        agent, flag = ("yes", "-A") if settings.forward_agent else ("no", "-a")
        lines.append((_config_line("ForwardAgent", agent), flag))
    lines.extend((_config_line(k, v), f"-o {shlex.quote(f'{k}={v}')}") for k, v in settings.options)
    lines.extend(
        (_config_line("IdentityFile", f), f"-i {shlex.quote(f)}") for f in settings.identity_files
    )
    return lines


def write_config_files(settings: ConnectSettings) -> ConfigFiles:
    """Write the override and default files into a private temporary directory (two small
    writes: the caller may run it on the event loop). ``config_check.check_user_files``
    reads the user's files, in a worker."""
    user = user_config_files(settings.config_file)
    directory = tempfile.mkdtemp(prefix="remoterepl-")
    overrides = os.path.join(directory, "overrides")
    lines = _overrides(settings)
    with open(overrides, "w") as file:
        file.writelines(line for line, _origin in lines)
    defaults = os.path.join(directory, "defaults")
    with open(defaults, "w") as file:
        file.writelines(_config_line(k, v) for k, v in default_options().items())
    return ConfigFiles(overrides, user, defaults, directory, tuple(o for _l, o in lines))


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

    def not_implemented(self) -> list[str]:
        """The keywords set for this host that remoterepl does not implement (and whose
        value asks for something), as ``Keyword value``."""
        found = []
        for keyword in _FEATURES:
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
