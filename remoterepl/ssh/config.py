"""ssh_config as OpenSSH reads it: which files take part, the -o/-i overrides and
remoterepl's defaults written as files of their own, and the keywords asyncssh's parser is
taught (:mod:`~remoterepl.ssh.host_config` reads one host's values from them). Blocking
file I/O or pure: callers run it in an executor, but for two tiny writes.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from remoterepl.display import shown
from remoterepl.errors import UsageError
from remoterepl.settings import ConnectSettings
from remoterepl.ssh import compat, keywords
from remoterepl.ssh.config_check import SYSTEM_CONFIG

if TYPE_CHECKING:
    pass

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

# Keywords asyncssh's parser skips but remoterepl implements, with their value types:
# taught to the parser, so that Host/Match blocks apply to them too.
_EXTRA_KEYWORDS = {
    "StrictHostKeyChecking": "string",
    "EscapeChar": "words",  # not "string", which reads "none" as not set
    "BatchMode": "bool",
    "NumberOfPasswordPrompts": "int",
    "HashKnownHosts": "bool",
    # forwarding (ssh/forwarding.py); "lines": every line that applies, as ssh adds them up
    **dict.fromkeys(("LocalForward", "RemoteForward", "DynamicForward"), "lines"),
    **dict.fromkeys(
        ("GatewayPorts", "ExitOnForwardFailure", "ClearAllForwardings", "ForkAfterAuthentication"),
        "bool",
    ),
    "SessionType": "string",
    "StreamLocalBindMask": "string",  # octal: checked by forwarding.plan_forwards
    "StreamLocalBindUnlink": "bool",
}
compat.teach_config_keywords(_EXTRA_KEYWORDS)
# Not implemented, but kept, so that a warning can say when one applies to a host.
FEATURES = [k for k, m in keywords.NOT_IMPLEMENTED.items() if m is keywords.Missing.FEATURE]
compat.teach_config_keywords(dict.fromkeys(FEATURES, "words"))
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
    per_host: bool = False  # many hosts: each reads copies of ``user`` cut down for it

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

    def for_destination(self, host: str) -> list[str]:
        """Files for the destination ``host``."""
        return [self.overrides, *self._user_for(host), self.defaults]

    def for_hop(self, host: str) -> list[str]:
        """Files for jump host ``host``."""
        return [*self._user_for(host), self.defaults]

    def _user_for(self, host: str) -> list[str]:
        if not self.per_host:
            return list(self.user)
        from remoterepl.ssh.config_filter import copy_for_host

        return [copy_for_host(path, host, self.directory) for path in self.user]

    def remove(self) -> None:
        """Delete the generated files."""
        shutil.rmtree(self.directory, ignore_errors=True)


def _config_line(key: str, value: str) -> str:
    return f"{key} {value if key.lower() in _RAW_VALUE_KEYWORDS else shlex.quote(value)}\n"


def _option_line(key: str, value: str) -> str:
    """A ``-o KEY=VALUE`` as ssh reads it: VALUE is the rest of a config line, in its words
    and quotes (``-o 'SendEnv=A B'`` is two patterns, ``-o 'LocalForward=8080 h:80'`` a
    listen port and a target). -e, stored as the first EscapeChar, is one character."""
    return _config_line(key, value) if key.lower() == "escapechar" else f"{key} {value}\n"


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
    lines.extend((_option_line(k, v), f"-o {shlex.quote(f'{k}={v}')}") for k, v in settings.options)
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
        # the run's own defaults first: in ssh_config the first value wins
        file.writelines(_config_line(k, v) for k, v in settings.defaults)
        file.writelines(_config_line(k, v) for k, v in default_options().items())
    origins = tuple(o for _l, o in lines)
    return ConfigFiles(overrides, user, defaults, directory, origins, settings.config_per_host)
