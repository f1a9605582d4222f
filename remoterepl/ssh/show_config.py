"""``-G``: the configuration a run would use, one ``keyword value`` per line, as ``ssh -G``
prints it (lowercase keywords; host, user, hostname and port first).

The values are the ones remoterepl acts on: the destination's ssh_config with the
command line's overrides and remoterepl's own defaults (ConnectTimeout 30...), OpenSSH's
defaults for what is not set, and file names expanded as they will be opened.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

from remoterepl.display import shown
from remoterepl.ssh import compat, keywords
from remoterepl.ssh.forwarding import ForwardPlan, config_words
from remoterepl.ssh.host_config import HostConfig
from remoterepl.ssh.hostkeys import Policy

# OpenSSH's defaults for keywords remoterepl implements, where ssh -G prints one.
_DEFAULTS = {
    "AddressFamily": "any",
    "BatchMode": "no",
    "Compression": "no",
    "EscapeChar": "~",
    "ForwardAgent": "no",
    "HashKnownHosts": "no",
    "IdentitiesOnly": "no",
    "KbdInteractiveAuthentication": "yes",
    "NumberOfPasswordPrompts": "3",
    "PasswordAuthentication": "yes",
    "PubkeyAuthentication": "yes",
    "RequestTTY": "auto",
    "StreamLocalBindMask": "0177",
    "StreamLocalBindUnlink": "no",
    "TCPKeepAlive": "yes",
}
# Keywords whose every value is a line of its own (ssh -G: "identityfile" once per file).
_LINE_EACH = frozenset({"IdentityFile", "CertificateFile", "SendEnv", "SetEnv"})
_FAMILIES: dict[int, str] = {
    int(socket.AF_UNSPEC): "any",
    int(socket.AF_INET): "inet",
    int(socket.AF_INET6): "inet6",
}
_FIRST = ("Host", "User", "Hostname", "Port")
# ssh -G's words for StrictHostKeyChecking (the first name of each value in its table).
_POLICY_WORDS = {Policy.YES: "true", Policy.NO: "false"}


def _word(keyword: str, value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if keyword == "AddressFamily" and isinstance(value, int):
        return _FAMILIES.get(value, str(value))
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value)) or "none"
    return str(value)


def _values(host: HostConfig) -> dict[str, list[str]]:
    """Keyword (OpenSSH spelling) -> its value words, one entry per printed line."""
    values: dict[str, list[str]] = {
        "Host": [host.name],
        "User": [host.user],
        "Hostname": [host.host],
        "Port": [str(host.port)],
    }
    for keyword, value in compat.config_keywords_in_order(host.config).items():
        name = keywords.canonical(keyword)
        if name is None or name not in keywords.IMPLEMENTED or name in values:
            continue
        if name in _LINE_EACH and isinstance(value, list):
            values[name] = list(dict.fromkeys(str(v) for v in value))  # files repeat them
        else:
            values[name] = [_word(name, value)]
    for name, default in _DEFAULTS.items():
        values.setdefault(name, [default])
    # What remoterepl will open or run, expanded (%-tokens, ~) as it will use them.
    values["IdentityFile"] = host.identity_files
    if host.certificate_files:
        values["CertificateFile"] = host.certificate_files
    user_files, global_files = host.known_hosts_files()
    values["UserKnownHostsFile"] = [" ".join(user_files) or "none"]
    values["GlobalKnownHostsFile"] = [" ".join(global_files) or "none"]
    policy = Policy.parse(host.strict_host_key_checking)
    values["StrictHostKeyChecking"] = [_POLICY_WORDS.get(policy, policy.value)]
    if host.remote_command is not None:
        values["RemoteCommand"] = [host.remote_command]
    jump, command = host.proxy()
    if jump is not None:
        values["ProxyJump"] = [jump]
    if command is not None:
        values["ProxyCommand"] = [command]
    return values


def config_lines(host: HostConfig, forwards: ForwardPlan | None = None) -> Iterator[str]:
    """The ``keyword value`` lines of ``host``'s configuration, as ssh -G prints them
    (``forwards``: the run's -L/-R/-D and LocalForward... lines, and -N)."""
    values = _values(host)
    if forwards is not None:
        values.update(config_words(forwards))
    order = [*_FIRST, *sorted((k for k in values if k not in _FIRST), key=str.lower)]
    for keyword in order:
        for value in values[keyword]:
            yield f"{keyword.lower()} {shown(value)}"
