"""Every OpenSSH client keyword (ssh_config(5), OpenSSH 9.2 to 10.x), and what remoterepl
does with each: the one list that says which keywords remoterepl does *not* implement.

:data:`NOT_IMPLEMENTED` is meant to shrink: a keyword that gets implemented (forwarding,
multiplexing...) moves from it to :data:`IMPLEMENTED`, and its parser type goes to
``config._EXTRA_KEYWORDS`` (unless asyncssh parses it). ``tests/test_keywords.py`` checks
that every OpenSSH keyword is either parsed or listed here, never both. Pure: no asyncssh
import (cli checks ``-o`` before asyncssh is loaded).
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from remoterepl.display import shown
from remoterepl.errors import UsageError
from remoterepl.ssh.keyword_values import value_problem


class Missing(enum.Enum):
    """How much it matters that remoterepl ignores a keyword."""

    # Something asked for would not happen (a forwarding, a restriction, a host-key source):
    # refused in -o; in an ssh_config file, a warning when it applies to the host.
    FEATURE = "feature"
    # Nothing the session depends on (logging, cosmetics, tuning): a warning in -o;
    # silently ignored in a file (which ssh reads too).
    IGNORED = "ignored"


#: OpenSSH keywords remoterepl does not implement (canonical spelling -> what that means).
NOT_IMPLEMENTED: dict[str, Missing] = {
    "AddKeysToAgent": Missing.FEATURE,
    "BindInterface": Missing.FEATURE,
    "ChannelTimeout": Missing.FEATURE,
    "ControlMaster": Missing.FEATURE,
    "ControlPersist": Missing.FEATURE,
    "ForwardX11": Missing.FEATURE,
    "KnownHostsCommand": Missing.FEATURE,
    "LocalCommand": Missing.FEATURE,
    "PubkeyAcceptedAlgorithms": Missing.FEATURE,
    "RefuseConnection": Missing.FEATURE,
    "RequiredRSASize": Missing.FEATURE,
    "RevokedHostKeys": Missing.FEATURE,
    "SecurityKeyProvider": Missing.FEATURE,
    "StdinNull": Missing.FEATURE,
    "Tunnel": Missing.FEATURE,
    "VerifyHostKeyDNS": Missing.FEATURE,
    "CheckHostIP": Missing.IGNORED,
    "ConnectionAttempts": Missing.IGNORED,
    "ControlPath": Missing.IGNORED,
    "EnableEscapeCommandline": Missing.IGNORED,
    "FingerprintHash": Missing.IGNORED,
    "ForwardX11Timeout": Missing.IGNORED,
    "HostbasedAcceptedAlgorithms": Missing.IGNORED,
    "IPQoS": Missing.IGNORED,
    "KbdInteractiveDevices": Missing.IGNORED,
    "LogLevel": Missing.IGNORED,
    "LogVerbose": Missing.IGNORED,
    "NoHostAuthenticationForLocalhost": Missing.IGNORED,
    "ObscureKeystrokeTiming": Missing.IGNORED,
    "PermitLocalCommand": Missing.IGNORED,
    "PermitRemoteOpen": Missing.IGNORED,
    "ProxyUseFdpass": Missing.IGNORED,
    "SyslogFacility": Missing.IGNORED,
    "TunnelDevice": Missing.IGNORED,
    "UpdateHostKeys": Missing.IGNORED,
    "VersionAddendum": Missing.IGNORED,
    "VisualHostKey": Missing.IGNORED,
    "WarnWeakCrypto": Missing.IGNORED,
    "XAuthLocation": Missing.IGNORED,
}

#: Keywords OpenSSH itself accepts and ignores (deprecated or unsupported there too).
OBSOLETE = frozenset(
    {
        "AFSTokenPassing",
        "Cipher",
        "CompressionLevel",
        "FallBackToRsh",
        "GlobalKnownHostsFile2",
        "KerberosAuthentication",
        "KerberosTGTPassing",
        "Protocol",
        "RhostsAuthentication",
        "RhostsRSAAuthentication",
        "RSAAuthentication",
        "UsePrivilegedPort",
        "UserKnownHostsFile2",
        "UseRoaming",
        "UseRsh",
    }
)

#: Keywords that distributions' builds of OpenSSH add and accept (Debian's and Fedora's
#: GSSAPI key-exchange patch, which RHEL's crypto-policies file sets; Debian's old keepalive
#: names; Apple's keychain): the ssh that shares these files reads them, so they must not
#: stop remoterepl. Ignored: quietly in files, with a warning in -o.
VENDOR = frozenset(
    {
        "GSSAPIClientIdentity",
        "GSSAPIKexAlgorithms",
        "GSSAPIRenewalForcesRekey",
        "GSSAPIServerIdentity",
        "GSSAPIStrictAcceptorCheck",
        "GSSAPITrustDns",
        "ProtocolKeepAlives",
        "SetupTimeOut",
        "UseKeychain",
    }
)

#: Old names OpenSSH still reads, and the keyword each means.
ALIASES = {
    "DSAAuthentication": "PubkeyAuthentication",
    "HostbasedKeyTypes": "HostbasedAcceptedAlgorithms",
    "IdentityFile2": "IdentityFile",
    "KeepAlive": "TCPKeepAlive",
    "PubkeyAcceptedKeyTypes": "PubkeyAcceptedAlgorithms",
    "SKeyAuthentication": "KbdInteractiveAuthentication",
    "SmartcardDevice": "PKCS11Provider",
    "TISAuthentication": "KbdInteractiveAuthentication",
}

#: Keywords remoterepl implements (through asyncssh's parser or its own code).
IMPLEMENTED = frozenset(
    {
        "AddressFamily",
        "BatchMode",
        "BindAddress",
        "CanonicalDomains",
        "CanonicalizeFallbackLocal",
        "CanonicalizeHostname",
        "CanonicalizeMaxDots",
        "CanonicalizePermittedCNAMEs",
        "CASignatureAlgorithms",
        "CertificateFile",
        "ChallengeResponseAuthentication",
        "Ciphers",
        "ClearAllForwardings",
        "Compression",
        "ConnectTimeout",
        "DynamicForward",
        "EnableSSHKeysign",
        "EscapeChar",
        "ExitOnForwardFailure",
        "ForkAfterAuthentication",
        "ForwardAgent",
        "ForwardX11Trusted",
        "GatewayPorts",
        "GlobalKnownHostsFile",
        "GSSAPIAuthentication",
        "GSSAPIDelegateCredentials",
        "GSSAPIKeyExchange",
        "HashKnownHosts",
        "Host",
        "HostbasedAuthentication",
        "HostKeyAlgorithms",
        "HostKeyAlias",
        "Hostname",
        "IdentitiesOnly",
        "IdentityAgent",
        "IdentityFile",
        "IgnoreUnknown",
        "Include",
        "KbdInteractiveAuthentication",
        "KexAlgorithms",
        "LocalForward",
        "MACs",
        "Match",
        "NumberOfPasswordPrompts",
        "PasswordAuthentication",
        "PKCS11Provider",
        "Port",
        "PreferredAuthentications",
        "ProxyCommand",
        "ProxyJump",
        "PubkeyAuthentication",
        "RekeyLimit",
        "RemoteCommand",
        "RemoteForward",
        "RequestTTY",
        "SendEnv",
        "ServerAliveCountMax",
        "ServerAliveInterval",
        "SessionType",
        "SetEnv",
        "StreamLocalBindMask",
        "StreamLocalBindUnlink",
        "StrictHostKeyChecking",
        "Tag",
        "TCPKeepAlive",
        "User",
        "UserKnownHostsFile",
    }
)

_CANONICAL = {
    name.lower(): name for name in (*NOT_IMPLEMENTED, *OBSOLETE, *VENDOR, *ALIASES, *IMPLEMENTED)
}
# Values that ask for nothing: a not-implemented keyword set to one of these is harmless.
_OFF_VALUES = frozenset({"no", "none", "false", "off", "default"})


def canonical(keyword: str) -> str | None:
    """The OpenSSH spelling of ``keyword`` (any case), or None if OpenSSH has no such one."""
    return _CANONICAL.get(keyword.lower())


def asks_for_something(value: str) -> bool:
    """False for values that turn a feature off (``no``, ``none``...)."""
    return value.strip().lower() not in _OFF_VALUES


@dataclass(frozen=True)
class Verdict:
    """What to do with one ``keyword value`` line: ``error`` stops the run (exit status
    2); ``warning`` is shown and the line ignored; both None: use it."""

    keyword: str
    error: str | None = None
    warning: str | None = None
    ignored: bool = False  # not passed on (not implemented or obsolete)


def judge(keyword: str, value: str, ignore_unknown: Sequence[str] = ()) -> Verdict:
    """The verdict on ``keyword value`` as remoterepl reads it (-o or a file line);
    ``ignore_unknown`` holds IgnoreUnknown's patterns."""
    name = canonical(keyword)
    if name is None:
        if any(fnmatch.fnmatchcase(keyword.lower(), p.lower()) for p in ignore_unknown):
            return Verdict(keyword, ignored=True)
        return Verdict(keyword, error=f"unknown keyword '{shown(keyword)}'")
    if name in OBSOLETE:
        return Verdict(name, ignored=True)
    if name in VENDOR:
        return Verdict(
            name, warning=f"{name} (a distribution's OpenSSH keyword): ignored", ignored=True
        )
    name = ALIASES.get(name, name)
    missing = NOT_IMPLEMENTED.get(name)
    if missing is Missing.FEATURE:
        if not asks_for_something(value):  # "ForwardX11 no": nothing is missing
            return Verdict(name, ignored=True)
        return Verdict(name, error=f"{name} is not implemented by remoterepl", ignored=True)
    if missing is not None:
        return Verdict(
            name, warning=f"{name} is not implemented by remoterepl: ignored", ignored=True
        )
    problem = value_problem(name, value)
    return Verdict(name, error=None if problem is None else f"{name} {shown(value)}: {problem}")


def _parse_option(text: str, ignore_unknown: list[str]) -> tuple[str, str, str | None]:
    """``-o KEY=VALUE`` -> (keyword as OpenSSH spells it, value, a warning or None);
    UsageError for what ssh would refuse (an unknown keyword, Port 99999), and for a
    keyword remoterepl does not implement whose effect would be missing."""
    key, sep, value = text.partition("=")
    if not sep:  # ssh also takes "-o 'Key value'"
        key, _, value = text.strip().partition(" ")
    key, value = key.strip(), value.strip()
    if not key or not value:
        raise UsageError(f"bad -o option '{shown(text)}': expected KEY=VALUE")
    if not text.isprintable():  # a newline would start another ssh_config line
        raise UsageError(f"bad -o option '{shown(text)}': control characters are not allowed")
    if key.lower() in ("include", "host", "match"):  # as ssh: not on the command line
        raise UsageError(f"bad -o option '{shown(text)}': {key} is for ssh_config files")
    if key.lower() == "ignoreunknown":
        ignore_unknown.extend(p for p in value.split(",") if p)
    verdict = judge(key, value, ignore_unknown)
    if verdict.error is not None:
        raise UsageError(f"bad -o option '{shown(text)}': {verdict.error}")
    warning = f"-o {shown(text)}: {verdict.warning}" if verdict.warning is not None else None
    return verdict.keyword, ("" if verdict.ignored else value), warning


def parse_options(texts: Sequence[str]) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """All ``-o`` options: the ones to use, and the warnings about the ones ignored."""
    ignore_unknown: list[str] = []
    options: list[tuple[str, str]] = []
    warnings: list[str] = []
    for text in texts:
        key, value, warning = _parse_option(text, ignore_unknown)
        if value:
            options.append((key, value))
        if warning is not None:
            warnings.append(warning)
    return tuple(options), tuple(warnings)
