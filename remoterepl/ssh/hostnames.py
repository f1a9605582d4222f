"""Host names to offer when completing DESTINATION: ssh_config Host aliases and the
unhashed names in known_hosts, read as ssh reads those files.

Used by ``remoterepl --complete-hosts`` behind the bash, zsh and fish completions, so it
runs on every Tab: pure and quick (no asyncssh, nothing beyond the standard library), and
it never fails: a file that is missing, unreadable or malformed just offers fewer names.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator

from remoterepl.settings import host_problem
from remoterepl.ssh.config_check import (
    MAX_INCLUDE_DEPTH,
    SYSTEM_CONFIG,
    SYSTEM_DIRECTORY,
    split_line,
)

SYSTEM_KNOWN_HOSTS = os.path.join(SYSTEM_DIRECTORY, "ssh_known_hosts")
_PATTERN_CHARS = frozenset("*?!")


def user_directory() -> str:
    """~/.ssh, where relative Include paths of a user config point (and -F's)."""
    return os.path.join(os.path.expanduser("~"), ".ssh")


def is_pattern(name: str) -> bool:
    """A Host or known_hosts pattern (``*.example.com``, ``!bad``): not a name to type."""
    return not name or not _PATTERN_CHARS.isdisjoint(name)


def _lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read().splitlines()
    except OSError:  # missing, a directory, unreadable: nothing to offer
        return []


def _words(line: str) -> list[str]:
    """A config line's words as ssh splits them (quotes, ``Key=value``); [] when malformed."""
    try:
        parsed = split_line(line, comments=True)
    except ValueError:
        return []
    return [] if parsed is None else [parsed[0], *parsed[1]]


def config_aliases(path: str, base: str, depth: int = 0) -> Iterator[str]:
    """Host names (not patterns) in the ssh_config file ``path`` and the files it
    Includes; relative Include paths are relative to ``base`` (~/.ssh for a user config,
    /etc/ssh for the system one), as in ssh."""
    if depth > MAX_INCLUDE_DEPTH:  # an Include loop: ssh stops there too
        return
    for line in _lines(path):
        words = _words(line)
        if not words:
            continue
        keyword = words[0].lower()
        if keyword == "host":
            yield from (name for name in words[1:] if not is_pattern(name))
        elif keyword == "include":
            for pattern in words[1:]:
                pattern = os.path.expanduser(pattern)
                if not os.path.isabs(pattern):
                    pattern = os.path.join(base, pattern)
                for included in sorted(glob.glob(pattern)):
                    yield from config_aliases(included, base, depth + 1)


def known_hosts_names(path: str) -> Iterator[str]:
    """The unhashed host names in the known_hosts file ``path``: ``[host]:port`` as host;
    hashed (``|1|``) entries, patterns and ``@revoked`` lines skipped."""
    for line in _lines(path):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if fields[0].startswith("@"):
            if fields[0] != "@cert-authority" or len(fields) < 2:
                continue  # @revoked: a key not to trust, not a host to offer
            fields = fields[1:]
        for name in fields[0].split(","):
            if name.startswith("|"):  # hashed (|1|salt|hash): the name is not recoverable
                continue
            if name.startswith("["):
                name, _, _port = name[1:].partition("]")
            if not is_pattern(name):
                yield name


def _unique(names: Iterable[str]) -> list[str]:
    # A name ssh would refuse as a host name (remoterepl too: "-oProxyCommand=..."): never
    # offered, nor are control characters a hostile known_hosts could hold.
    return list(dict.fromkeys(name for name in names if host_problem(name) is None))


def completion_hosts(config_file: str | None = None) -> list[str]:
    """What DESTINATION completes to, in order, each once: Host aliases of ``config_file``
    (``-F``; else ~/.ssh/config and /etc/ssh/ssh_config, as ssh reads them), then the
    names in ~/.ssh/known_hosts and the system's ssh_known_hosts."""
    user = user_directory()
    if config_file is not None:
        configs = [(os.path.expanduser(config_file), user)]
    else:
        configs = [(os.path.join(user, "config"), user), (SYSTEM_CONFIG, SYSTEM_DIRECTORY)]
    names: list[str] = []
    for path, base in configs:
        names.extend(config_aliases(path, base))
    for path in (os.path.join(user, "known_hosts"), SYSTEM_KNOWN_HOSTS):
        names.extend(known_hosts_names(path))
    return _unique(names)
